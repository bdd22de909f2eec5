//! sysFlag bits: the message sysFlag (`MessageSysFlag`, protocol.md §5.4) carried in SEND
//! headers and stored records, and the pull sysFlag (`PullSysFlag`, §2.3) of PULL requests.
//!
//! Values are fixed by the wire format. Helpers are `const fn` over plain `i32`s so callers can
//! keep the raw value they received and still ask questions about it.

/// Message sysFlag bits.
pub mod message {
    /// Bit 0: the body is compressed (the type is in [`COMPRESSION_TYPE_MASK`]; 0 there means zlib).
    pub const COMPRESSED: i32 = 0x1;
    /// Bit 1: set by the broker when the topic's filter type is `MULTI_TAG`.
    pub const MULTI_TAGS: i32 = 0x2;
    /// Bits 2–3: the transaction type.
    pub const TRANSACTION_TYPE_MASK: i32 = 0xC;
    /// Not a transaction message.
    pub const TRANSACTION_NOT_TYPE: i32 = 0x0;
    /// Half (prepared) message.
    pub const TRANSACTION_PREPARED_TYPE: i32 = 0x4;
    /// Commit record.
    pub const TRANSACTION_COMMIT_TYPE: i32 = 0x8;
    /// Rollback record.
    pub const TRANSACTION_ROLLBACK_TYPE: i32 = 0xC;
    /// Bit 4: the born host is IPv6 (16 + 4 bytes in the stored record).
    pub const BORNHOST_V6: i32 = 0x10;
    /// Bit 5: the store host is IPv6 (16 + 4 bytes in the stored record).
    pub const STOREHOSTADDRESS_V6: i32 = 0x20;
    /// Bit 6: 5.x inner batch that needs unwrapping.
    pub const NEED_UNWRAP: i32 = 0x40;
    /// Bit 7: 5.x inner batch.
    pub const INNER_BATCH: i32 = 0x80;
    /// Bits 8–10: compression type.
    pub const COMPRESSION_TYPE_MASK: i32 = 0x700;
    /// Compression type LZ4 (already shifted into place).
    pub const COMPRESSION_LZ4: i32 = 0x100;
    /// Compression type ZSTD (already shifted into place).
    pub const COMPRESSION_ZSTD: i32 = 0x200;
    /// Compression type ZLIB (already shifted into place).
    pub const COMPRESSION_ZLIB: i32 = 0x300;

    /// The transaction type bits (`getTransactionValue`): one of the `TRANSACTION_*_TYPE`.
    pub const fn transaction_value(flag: i32) -> i32 {
        flag & TRANSACTION_TYPE_MASK
    }

    /// `flag` with its transaction type replaced by `transaction_type` (`resetTransactionValue`).
    pub const fn reset_transaction_value(flag: i32, transaction_type: i32) -> i32 {
        (flag & !TRANSACTION_TYPE_MASK) | (transaction_type & TRANSACTION_TYPE_MASK)
    }

    /// Whether the body is compressed.
    pub const fn is_compressed(flag: i32) -> bool {
        flag & COMPRESSED != 0
    }

    /// The compression type code `(flag >> 8) & 7`: 0 = zlib (legacy, 4.x clients), 1 = LZ4,
    /// 2 = ZSTD, 3 = ZLIB. Meaningful only when [`is_compressed`].
    pub const fn compression_type(flag: i32) -> i32 {
        (flag & COMPRESSION_TYPE_MASK) >> 8
    }

    /// Whether the born host is stored as IPv6.
    pub const fn born_host_is_v6(flag: i32) -> bool {
        flag & BORNHOST_V6 != 0
    }

    /// Whether the store host is stored as IPv6.
    pub const fn store_host_is_v6(flag: i32) -> bool {
        flag & STOREHOSTADDRESS_V6 != 0
    }

    /// Whether the `MULTI_TAGS` bit is set.
    pub const fn is_multi_tags(flag: i32) -> bool {
        flag & MULTI_TAGS != 0
    }

    /// Whether the 5.x inner-batch bit is set.
    pub const fn is_inner_batch(flag: i32) -> bool {
        flag & INNER_BATCH != 0
    }

    /// Whether the 5.x need-unwrap bit is set.
    pub const fn needs_unwrap(flag: i32) -> bool {
        flag & NEED_UNWRAP != 0
    }
}

/// Pull request sysFlag bits.
pub mod pull {
    /// Bit 0: the broker should store the request's `commitOffset`.
    pub const COMMIT_OFFSET: i32 = 0x1;
    /// Bit 1: long polling is allowed.
    pub const SUSPEND: i32 = 0x2;
    /// Bit 2: build the subscription from the request's `subscription` field.
    pub const SUBSCRIPTION: i32 = 0x4;
    /// Bit 3: legacy class filter.
    pub const CLASS_FILTER: i32 = 0x8;
    /// Bit 4: the client used `LITE_PULL_MESSAGE` (361).
    pub const LITE_PULL: i32 = 0x10;

    /// The flag a client builds (`PullSysFlag.buildSysFlag`); the parameters follow Java's
    /// order so call sites can be checked against the clients.
    #[allow(clippy::fn_params_excessive_bools)]
    pub const fn build(
        commit_offset: bool,
        suspend: bool,
        subscription: bool,
        class_filter: bool,
        lite_pull: bool,
    ) -> i32 {
        let mut flag = 0;
        if commit_offset {
            flag |= COMMIT_OFFSET;
        }
        if suspend {
            flag |= SUSPEND;
        }
        if subscription {
            flag |= SUBSCRIPTION;
        }
        if class_filter {
            flag |= CLASS_FILTER;
        }
        if lite_pull {
            flag |= LITE_PULL;
        }
        flag
    }

    /// `flag` without the commit-offset bit (what a client sends when pulling from a slave).
    pub const fn clear_commit_offset(flag: i32) -> i32 {
        flag & !COMMIT_OFFSET
    }

    /// Whether the broker should store `commitOffset`.
    pub const fn has_commit_offset(flag: i32) -> bool {
        flag & COMMIT_OFFSET != 0
    }

    /// Whether long polling is allowed.
    pub const fn has_suspend(flag: i32) -> bool {
        flag & SUSPEND != 0
    }

    /// Whether the subscription comes with the request.
    pub const fn has_subscription(flag: i32) -> bool {
        flag & SUBSCRIPTION != 0
    }

    /// Whether the legacy class-filter bit is set.
    pub const fn has_class_filter(flag: i32) -> bool {
        flag & CLASS_FILTER != 0
    }

    /// Whether the request is a lite pull.
    pub const fn is_lite_pull(flag: i32) -> bool {
        flag & LITE_PULL != 0
    }
}

#[cfg(test)]
mod tests {
    use super::{message, pull};

    #[test]
    fn transaction_values() {
        let f = message::COMPRESSED | message::TRANSACTION_PREPARED_TYPE | message::BORNHOST_V6;
        assert_eq!(
            message::transaction_value(f),
            message::TRANSACTION_PREPARED_TYPE
        );
        let committed = message::reset_transaction_value(f, message::TRANSACTION_COMMIT_TYPE);
        assert_eq!(
            message::transaction_value(committed),
            message::TRANSACTION_COMMIT_TYPE
        );
        assert!(message::is_compressed(committed) && message::born_host_is_v6(committed));
        assert_eq!(
            message::transaction_value(message::reset_transaction_value(
                committed,
                message::TRANSACTION_NOT_TYPE
            )),
            message::TRANSACTION_NOT_TYPE
        );
    }

    #[test]
    fn compression_types() {
        assert_eq!(message::compression_type(message::COMPRESSED), 0);
        assert_eq!(
            message::compression_type(message::COMPRESSED | message::COMPRESSION_LZ4),
            1
        );
        assert_eq!(message::compression_type(message::COMPRESSION_ZSTD), 2);
        assert_eq!(message::compression_type(message::COMPRESSION_ZLIB), 3);
    }

    #[test]
    fn pull_flags() {
        // The lite pull consumer: buildSysFlag(false, block, true, false, true).
        let lite = pull::build(false, true, true, false, true);
        assert_eq!(lite, 0x2 | 0x4 | 0x10);
        assert!(pull::is_lite_pull(lite) && pull::has_subscription(lite));
        assert!(!pull::has_commit_offset(lite) && !pull::has_class_filter(lite));
        let push = pull::build(true, true, false, false, false);
        assert_eq!(push, 0x3);
        assert!(pull::has_suspend(push));
        assert_eq!(pull::clear_commit_offset(push), pull::SUSPEND);
        assert_eq!(
            pull::build(false, false, false, true, false),
            pull::CLASS_FILTER
        );
    }
}
