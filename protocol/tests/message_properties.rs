//! Property tests of the properties string: encode -> parse round trips, and `get`/`parse`
//! against a model of the documented Java rules (protocol.md §5.1) evaluated over UTF-16
//! code units, as Java's `String` indexes them.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rmq_protocol::message::properties::{self, NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR};

/// The §5.1 rules over UTF-16: split on `\u{2}`, skip segments shorter than 3 code units,
/// the name runs to the first `\u{1}`, which must be neither first nor last; later wins.
fn model(properties: &str) -> BTreeMap<String, String> {
    let units: Vec<u16> = properties.encode_utf16().collect();
    let mut map = BTreeMap::new();
    for segment in units.split(|&u| u == 2) {
        if segment.len() < 3 {
            continue;
        }
        if let Some(at) = segment.iter().position(|&u| u == 1) {
            if at > 0 && at < segment.len() - 1 {
                map.insert(
                    String::from_utf16(&segment[..at]).unwrap(),
                    String::from_utf16(&segment[at + 1..]).unwrap(),
                );
            }
        }
    }
    map
}

/// Strings dense in separators, multi-byte and non-BMP characters.
fn tricky() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop::sample::select(vec!['a', 'K', 'é', '\u{1F600}', '\u{1}', '\u{2}', ' ']),
        0..48,
    )
    .prop_map(String::from_iter)
}

proptest! {
    #[test]
    fn encode_then_parse_round_trips(entries in proptest::collection::btree_map("\\PC{1,12}", "\\PC{1,40}", 0..12)) {
        let encoded = properties::encode(entries.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        prop_assert!(encoded.is_empty() || encoded.ends_with(PROPERTY_SEPARATOR));
        let parsed = properties::parse(&encoded);
        let expected: Vec<(String, String)> = entries.clone().into_iter().collect();
        prop_assert_eq!(parsed, expected);
        for (k, v) in &entries {
            prop_assert_eq!(properties::get(&encoded, k), Some(v.as_str()));
        }
        prop_assert_eq!(properties::get(&encoded, "\u{1}"), None);
    }

    #[test]
    fn parse_and_get_follow_the_java_rules(s in tricky()) {
        let expected = model(&s);
        let parsed: BTreeMap<String, String> = properties::parse(&s).into_iter().collect();
        prop_assert_eq!(&parsed, &expected);
        // parse keeps each name once.
        prop_assert_eq!(properties::parse(&s).len(), expected.len());
        for (k, v) in &expected {
            prop_assert_eq!(properties::get(&s, k), Some(v.as_str()));
        }
        for (k, v) in properties::iter(&s) {
            prop_assert!(!k.is_empty() && !v.is_empty() && !k.contains(NAME_VALUE_SEPARATOR));
        }
    }

    #[test]
    fn later_entry_wins(k in "[A-Z_]{1,8}", first in "\\PC{1,10}", second in "\\PC{1,10}") {
        let s = properties::encode([(k.as_str(), first.as_str()), ("OTHER", "x"), (k.as_str(), second.as_str())]);
        prop_assert_eq!(properties::get(&s, &k), Some(second.as_str()));
    }
}
