//! Physical offsets and file names.
//!
//! A physical offset is `shard_id << 48 | local_offset`: bits 0..48 address bytes in one
//! shard's CommitLog (256 TiB), bits 48..=62 hold the shard id, bit 63 is clear. Offsets are
//! therefore unique across the shards of one broker, and the offset message id
//! (store host + physical offset) resolves to exactly one record for VIEW_MESSAGE_BY_ID.
//! CommitLog segment files are named by their *global* start offset (20 zero-padded decimal
//! digits, as upstream), so names stay unique even if two shards shared a directory.

use crate::limits::SHARD_OFFSET_BITS;

/// Mask of the local part of a physical offset.
pub const LOCAL_OFFSET_MASK: u64 = (1 << SHARD_OFFSET_BITS) - 1;

/// The global physical offset of `local` in shard `shard_id`.
pub fn to_global(shard_id: u16, local: u64) -> i64 {
    assert!(
        local <= LOCAL_OFFSET_MASK,
        "local offset {local} overflows 48 bits"
    );
    ((u64::from(shard_id) << SHARD_OFFSET_BITS) | local) as i64
}

/// Split a global physical offset into (shard id, local offset); `None` if negative.
pub fn split_global(global: i64) -> Option<(u16, u64)> {
    let g = u64::try_from(global).ok()?;
    Some(((g >> SHARD_OFFSET_BITS) as u16, g & LOCAL_OFFSET_MASK))
}

/// A file name of 20 zero-padded decimal digits.
pub fn file_name(offset: u64) -> String {
    format!("{offset:020}")
}

/// Parse a 20-digit file name; `None` for anything else (temporary or foreign files).
pub fn parse_file_name(name: &str) -> Option<u64> {
    if name.len() != 20 || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_is_encoded_in_high_bits_and_round_trips() {
        let g = to_global(3, 1234);
        assert_eq!(g, (3i64 << 48) | 1234);
        assert_eq!(split_global(g), Some((3, 1234)));
        assert!(to_global(crate::limits::SHARD_ID_MAX, LOCAL_OFFSET_MASK) > 0);
        assert_eq!(split_global(-1), None);
    }

    #[test]
    fn file_names_are_twenty_digits() {
        assert_eq!(file_name(1_073_741_824), "00000000001073741824");
        assert_eq!(parse_file_name("00000000001073741824"), Some(1_073_741_824));
        assert_eq!(parse_file_name("0000000000107374182"), None);
        assert_eq!(parse_file_name("0000000000107374182x"), None);
    }
}
