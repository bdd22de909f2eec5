//! Offset headers: consumer offsets (QUERY/`UPDATE_CONSUMER_OFFSET`, 14/15), queue offsets
//! (`GET_MAX_OFFSET` 30, `GET_MIN_OFFSET` 31, `SEARCH_OFFSET_BY_TIMESTAMP` 29,
//! `GET_EARLIEST_MSG_STORETIME` 32) and the reset by timestamp (`INVOKE_BROKER_TO_RESET_OFFSET`
//! 222, `RESET_CONSUMER_CLIENT_OFFSET` 220). protocol.md §2.7, §2.8.
//!
//! Java `@CFNotNull` fields are `required` even when they are primitives: every Java sender
//! writes a primitive, so only a broken sender omits it.

use super::value::BoundaryType;

command_header! {
    /// `QueryConsumerOffsetRequestHeader`.
    pub struct QueryConsumerOffsetRequestHeader {
        /// Consumer group.
        required consumer_group: String = "consumerGroup";
        /// Topic.
        required topic: String = "topic";
        /// Queue.
        required queue_id: i32 = "queueId";
        /// 5.x: with `false`, a missing offset is `QUERY_NOT_FOUND` instead of 0.
        optional set_zero_if_not_found: bool = "setZeroIfNotFound";
    }
}

command_header! {
    /// `QueryConsumerOffsetResponseHeader`.
    pub struct QueryConsumerOffsetResponseHeader {
        /// The committed offset.
        required offset: i64 = "offset";
    }
}

command_header! {
    /// `UpdateConsumerOffsetRequestHeader` (the response header is empty).
    pub struct UpdateConsumerOffsetRequestHeader {
        /// Consumer group.
        required consumer_group: String = "consumerGroup";
        /// Topic.
        required topic: String = "topic";
        /// Queue.
        required queue_id: i32 = "queueId";
        /// Offset to commit.
        required commit_offset: i64 = "commitOffset";
    }
}

command_header! {
    /// `GetMaxOffsetRequestHeader`.
    pub struct GetMaxOffsetRequestHeader {
        /// Topic.
        required topic: String = "topic";
        /// Queue.
        required queue_id: i32 = "queueId";
        /// 5.x: only count committed entries (Java `boolean committed = true`).
        defaulted(true) committed: bool = "committed";
    }
}

command_header! {
    /// `GetMaxOffsetResponseHeader`.
    pub struct GetMaxOffsetResponseHeader {
        /// Consume-queue max offset (entry count).
        required offset: i64 = "offset";
    }
}

command_header! {
    /// `GetMinOffsetRequestHeader`.
    pub struct GetMinOffsetRequestHeader {
        /// Topic.
        required topic: String = "topic";
        /// Queue.
        required queue_id: i32 = "queueId";
    }
}

command_header! {
    /// `GetMinOffsetResponseHeader`.
    pub struct GetMinOffsetResponseHeader {
        /// Consume-queue min offset.
        required offset: i64 = "offset";
    }
}

command_header! {
    /// `SearchOffsetRequestHeader` (`SEARCH_OFFSET_BY_TIMESTAMP`).
    pub struct SearchOffsetRequestHeader {
        /// Topic.
        required topic: String = "topic";
        /// Queue.
        required queue_id: i32 = "queueId";
        /// Store timestamp, ms.
        required timestamp: i64 = "timestamp";
        /// 5.x: which side of the timestamp; absent means lower.
        optional boundary_type: BoundaryType = "boundaryType";
    }
}

command_header! {
    /// `SearchOffsetResponseHeader`.
    pub struct SearchOffsetResponseHeader {
        /// The offset found.
        required offset: i64 = "offset";
    }
}

command_header! {
    /// `GetEarliestMsgStoretimeRequestHeader`.
    pub struct GetEarliestMsgStoretimeRequestHeader {
        /// Topic.
        required topic: String = "topic";
        /// Queue.
        required queue_id: i32 = "queueId";
    }
}

command_header! {
    /// `GetEarliestMsgStoretimeResponseHeader`.
    pub struct GetEarliestMsgStoretimeResponseHeader {
        /// Store time of the earliest message, ms.
        required timestamp: i64 = "timestamp";
    }
}

command_header! {
    /// `ResetOffsetRequestHeader`: reset a group's offsets to a timestamp (admin → broker, 222;
    /// broker → client, 220).
    pub struct ResetOffsetRequestHeader {
        /// Consumer group.
        required group: String = "group";
        /// Topic.
        required topic: String = "topic";
        /// 5.x: one queue, or -1 (Java `int queueId = -1`) for all.
        defaulted(-1) queue_id: i32 = "queueId";
        /// 5.x: reset to this offset instead of by timestamp.
        optional offset: i64 = "offset";
        /// Target store time, ms.
        required timestamp: i64 = "timestamp";
        /// Also move offsets forward (Java field `isForce`).
        required is_force: bool = "isForce";
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::ExtFields;
    use crate::header::CommandHeader;

    #[test]
    fn max_offset_committed_defaults_to_true_and_is_always_written() {
        let ext: ExtFields = [("topic", "T"), ("queueId", "0")].into_iter().collect();
        let h = GetMaxOffsetRequestHeader::read_from(&ext).unwrap();
        assert!(h.committed);
        let mut out = ExtFields::new();
        h.write_to(&mut out);
        assert_eq!(out.get("committed"), Some("true"));
    }

    #[test]
    fn search_boundary_is_written_as_the_enum_name() {
        let h = SearchOffsetRequestHeader {
            topic: "T".into(),
            queue_id: 1,
            timestamp: 5,
            boundary_type: Some(BoundaryType::Upper),
        };
        let mut out = ExtFields::new();
        h.write_to(&mut out);
        assert_eq!(out.get("boundaryType"), Some("UPPER"));
        assert_eq!(SearchOffsetRequestHeader::read_from(&out), Ok(h));
    }
}
