//! The message properties string (protocol.md §5.1): `name\u{1}value\u{2}` repeated.
//!
//! Parsing follows Java's `MessageDecoder.string2messageProperties` exactly: split on
//! `\u{2}`; in each segment the name runs to the first `\u{1}`, which must be neither the
//! segment's first nor its last character (so names and values are never empty; Java's
//! "segment shorter than 3 chars" rule follows from that); other segments are skipped. A value
//! may contain `\u{1}`. When a name repeats, the later value wins — the 4.9.8 batch encoder
//! relies on this (batch-level properties are appended after each inner message's own).
//!
//! Parsing never fails: malformed segments are skipped, as in Java.

use std::ops::Range;

/// Separates a name from its value.
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// Ends every entry.
pub const PROPERTY_SEPARATOR: char = '\u{2}';

/// The byte ranges of the segments between property separators, empty ones included (the
/// last segment needs no trailing separator). A byte-level scan: `str::split(char)` costs a
/// `CharSearcher` per segment, which showed in the store's per-record profile (~3%).
/// Separators are ASCII, so every range boundary is a char boundary.
fn segments(bytes: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let end = bytes[start..]
            .iter()
            .position(|&b| b == PROPERTY_SEPARATOR as u8)
            .map_or(bytes.len(), |i| start + i);
        let segment = start..end;
        start = end + 1;
        Some(segment)
    })
}

/// Every well-formed `(name, value)` entry in order, duplicates included; allocation-free.
/// When a name repeats, the later entry is the effective one (see [`get`]).
pub fn iter(properties: &str) -> impl Iterator<Item = (&str, &str)> + '_ {
    let bytes = properties.as_bytes();
    segments(bytes).filter_map(move |segment| {
        let at = bytes[segment.clone()]
            .iter()
            .position(|&b| b == NAME_VALUE_SEPARATOR as u8)?;
        // A name and a non-empty value.
        if at == 0 || segment.start + at + 1 >= segment.end {
            return None;
        }
        let name_end = segment.start + at;
        Some((
            &properties[segment.start..name_end],
            &properties[name_end + 1..segment.end],
        ))
    })
}

/// The effective value of `key` (its last occurrence), without allocating.
///
/// One byte-level pass (the broker and the store look up several properties of every
/// message): a segment matches when it starts with `key` followed by the name separator,
/// which is the same as [`iter`]'s first-separator rule because `key` holds no separator.
pub fn get<'a>(properties: &'a str, key: &str) -> Option<&'a str> {
    if key.is_empty() || key.contains(NAME_VALUE_SEPARATOR) {
        // Never a property name by the rules above; keep the general path for exactness.
        return iter(properties)
            .filter(|(name, _)| *name == key)
            .last()
            .map(|(_, value)| value);
    }
    let bytes = properties.as_bytes();
    let key = key.as_bytes();
    let mut found = None;
    for segment in segments(bytes) {
        let text = &bytes[segment.clone()];
        // Name, separator, and a non-empty value.
        if text.len() > key.len() + 1
            && text.starts_with(key)
            && text[key.len()] == NAME_VALUE_SEPARATOR as u8
        {
            found = Some(&properties[segment.start + key.len() + 1..segment.end]);
        }
    }
    found
}

/// The effective values of several keys in one pass: `[get(properties, keys[0]), ...]`.
/// (The store reads TAGS, UNIQ_KEY and KEYS of every record.)
pub fn get_each<'a, const N: usize>(properties: &'a str, keys: [&str; N]) -> [Option<&'a str>; N] {
    let mut found = [None; N];
    for (name, value) in iter(properties) {
        for (slot, key) in found.iter_mut().zip(keys) {
            if name == key {
                *slot = Some(value);
            }
        }
    }
    found
}

/// All entries as Java's map would hold them: each name once, with its last value, in the
/// order of its first appearance.
pub fn parse(properties: &str) -> Vec<(String, String)> {
    let mut position_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut entries: Vec<(&str, &str)> = Vec::new();
    for (name, value) in iter(properties) {
        if let Some(&at) = position_of.get(name) {
            entries[at].1 = value;
        } else {
            position_of.insert(name, entries.len());
            entries.push((name, value));
        }
    }
    entries
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// Serialize entries as Java's `messageProperties2String` does: `name\u{1}value\u{2}` each,
/// in the given order. Callers must not put the separator characters into names or values
/// (Java does not check either); an empty name or value is written but will not parse back.
pub fn encode<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (name, value) in entries {
        out.push_str(name);
        out.push(NAME_VALUE_SEPARATOR);
        out.push_str(value);
        out.push(PROPERTY_SEPARATOR);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_in_order_with_trailing_separator() {
        let s = encode([("KEYS", "k1 k2"), ("WAIT", "true")]);
        assert_eq!(s, "KEYS\u{1}k1 k2\u{2}WAIT\u{1}true\u{2}");
        assert_eq!(encode(std::iter::empty()), "");
    }

    #[test]
    fn get_finds_values_and_later_wins() {
        let s = "UNIQ_KEY\u{1}A\u{2}WAIT\u{1}true\u{2}UNIQ_KEY\u{1}B\u{2}";
        assert_eq!(get(s, "UNIQ_KEY"), Some("B"));
        assert_eq!(get(s, "WAIT"), Some("true"));
        assert_eq!(get(s, "TAGS"), None);
        assert_eq!(
            parse(s),
            vec![
                ("UNIQ_KEY".to_owned(), "B".to_owned()),
                ("WAIT".to_owned(), "true".to_owned())
            ]
        );
    }

    #[test]
    fn skips_segments_java_skips() {
        // empty name, empty value, no separator, too short, empty segments
        let s = "\u{1}v\u{2}k\u{1}\u{2}novalue\u{2}ab\u{2}\u{2}\u{2}ok\u{1}1\u{2}";
        assert_eq!(iter(s).collect::<Vec<_>>(), vec![("ok", "1")]);
    }

    #[test]
    fn last_segment_needs_no_trailing_separator_and_value_may_hold_name_separator() {
        let s = "a\u{1}x\u{1}y\u{2}b\u{1}z";
        assert_eq!(get(s, "a"), Some("x\u{1}y"));
        assert_eq!(get(s, "b"), Some("z"));
    }

    #[test]
    fn get_agrees_with_the_iterator_definition() {
        let s = "\u{1}v\u{2}k\u{1}\u{2}k\u{1}x\u{1}y\u{2}kk\u{1}z\u{2}k\u{2}\u{2}ab\u{1}c";
        for key in ["k", "kk", "ab", "a", "", "\u{1}", "k\u{1}x", "zz"] {
            let by_iter = iter(s).filter(|(n, _)| *n == key).last().map(|(_, v)| v);
            assert_eq!(get(s, key), by_iter, "{key:?}");
        }
    }

    #[test]
    fn get_each_matches_get_for_every_key() {
        let s = "A\u{1}1\u{2}B\u{1}2\u{2}A\u{1}3\u{2}\u{1}x\u{2}C\u{1}\u{2}";
        let keys = ["A", "B", "C", "D", ""];
        let each = get_each(s, keys);
        for (key, got) in keys.iter().zip(each) {
            assert_eq!(got, get(s, key), "{key:?}");
        }
    }

    #[test]
    fn non_ascii_names_and_values() {
        let s = encode([("é", "\u{1F600}")]);
        assert_eq!(get(&s, "é"), Some("\u{1F600}"));
    }

    proptest::proptest! {
        /// The byte-level scan keeps the definition it replaced: split on the property
        /// separator, cut each segment at its first name separator, skip empty names and
        /// values.
        #[test]
        fn iter_matches_the_split_definition(
            s in proptest::string::string_regex("[ab\u{1}\u{2}é]{0,40}").unwrap()
        ) {
            let by_split: Vec<(&str, &str)> = s
                .split(PROPERTY_SEPARATOR)
                .filter_map(|segment| {
                    let at = segment.find(NAME_VALUE_SEPARATOR)?;
                    if at == 0 || at + 1 >= segment.len() {
                        return None;
                    }
                    Some((&segment[..at], &segment[at + 1..]))
                })
                .collect();
            proptest::prop_assert_eq!(iter(&s).collect::<Vec<_>>(), by_split);
        }
    }
}
