//! The tag hash code that the `ConsumeQueue` stores and consumers filter on (protocol.md §5.6).
//!
//! Invariant: the value equals Java's `String.hashCode` of the same text — `h = 31*h + c` over
//! the UTF-16 code units with int32 wrap-around — because consumers compute their `codeSet`
//! in Java (or a port of it) and compare it with what the broker stored.

/// Java's `String.hashCode` of `s`: iterates UTF-16 code units (a non-BMP character counts as
/// its two surrogates), wrapping on overflow. `"TagA"` gives `2598919`.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// The `ConsumeQueue` tags code of a message: 0 when it has no tag or an empty one, else the
/// Java hash of the tag widened to i64 (sign-extended, as Java's `long` assignment does).
pub fn tags_code(tags: Option<&str>) -> i64 {
    match tags {
        None | Some("") => 0,
        Some(t) => i64::from(java_string_hash(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_a_matches_java() {
        assert_eq!(java_string_hash("TagA"), 2_598_919);
        assert_eq!(tags_code(Some("TagA")), 2_598_919);
    }

    #[test]
    fn empty_and_missing_tags_are_zero() {
        assert_eq!(tags_code(None), 0);
        assert_eq!(tags_code(Some("")), 0);
        assert_eq!(java_string_hash(""), 0);
    }

    #[test]
    fn non_ascii_bmp_tag_hashes_its_utf16_unit() {
        // "é" is U+00E9 = 233, one UTF-16 unit (two UTF-8 bytes): hash = 233.
        assert_eq!(java_string_hash("é"), 233);
        // "aé": 97 * 31 + 233 = 3240.
        assert_eq!(java_string_hash("aé"), 3240);
    }

    #[test]
    fn non_bmp_tag_hashes_both_surrogates() {
        // U+1F600 is the surrogate pair D83D DE00 in UTF-16:
        // 0xD83D * 31 + 0xDE00 = 55357 * 31 + 56832 = 1772899.
        assert_eq!(java_string_hash("\u{1F600}"), 1_772_899);
    }

    #[test]
    fn long_tag_wraps_like_java_int() {
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE in Java (a well-known example).
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        assert_eq!(tags_code(Some("polygenelubricants")), i64::from(i32::MIN));
    }
}
