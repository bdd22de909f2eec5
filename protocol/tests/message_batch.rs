//! `SEND_BATCH_MESSAGE` body tests: encode -> decode round trips, totality of the decoder on
//! arbitrary and mutated input, and a body shaped like the C++ client's (real-clients.md Q4).

use proptest::prelude::*;
use rmq_protocol::message::batch::{batch_entries, decode_batch, encode_batch, BatchEntry};
use rmq_protocol::message::properties;

fn entries() -> impl Strategy<Value = Vec<(i32, Vec<u8>, String)>> {
    proptest::collection::vec(
        (
            any::<i32>(),
            proptest::collection::vec(any::<u8>(), 0..300),
            "\\PC{0,120}",
        ),
        0..12,
    )
}

fn borrow(owned: &[(i32, Vec<u8>, String)]) -> Vec<BatchEntry<'_>> {
    owned
        .iter()
        .map(|(flag, body, props)| BatchEntry {
            flag: *flag,
            body,
            properties: props,
        })
        .collect()
}

/// Two messages laid out as the C++ 1.x client sends them: magic and CRC zero, the first with
/// TOTALSIZE 0x75 ("\0\0\0u") and PROPERTIESLEN 0x52 ("\0R"), the lengths in the Q4 capture.
/// Only the start of the capture's properties is recorded in real-clients.md
/// (`KEYS\1key-0\2TAGS\1TagA\2UNIQ_KEY\1...`); the rest is filled to the recorded length.
#[test]
fn cpp_style_batch_body() {
    let props0 = "KEYS\u{1}key-0\u{2}TAGS\u{1}TagA\u{2}UNIQ_KEY\u{1}0100007F000000000000000000000000\u{2}WAIT\u{1}true\u{2}PAD\u{1}xxxx\u{2}";
    assert_eq!(props0.len(), 0x52);
    let body0 = b"Hello batch 0";
    let mut wire = Vec::new();
    for (props, body) in [
        (props0, &body0[..]),
        ("KEYS\u{1}key-1\u{2}TAGS\u{1}TagA\u{2}", b"Hello batch 1"),
    ] {
        let total = 4 + 4 + 4 + 4 + 4 + body.len() + 2 + props.len();
        wire.extend_from_slice(&(total as i32).to_be_bytes());
        wire.extend_from_slice(&[0; 12]); // magic, CRC, flag
        wire.extend_from_slice(&(body.len() as i32).to_be_bytes());
        wire.extend_from_slice(body);
        wire.extend_from_slice(&(props.len() as i16).to_be_bytes());
        wire.extend_from_slice(props.as_bytes());
    }
    assert_eq!(&wire[..5], b"\0\0\0u\0");
    assert_eq!(&wire[20 + 13..20 + 15], b"\0R");
    let decoded = decode_batch(&wire).unwrap();
    assert_eq!(decoded.len(), 2);
    assert_eq!(decoded[0].body, body0);
    assert_eq!(decoded[0].flag, 0);
    assert_eq!(
        properties::get(decoded[0].properties, "KEYS"),
        Some("key-0")
    );
    assert_eq!(properties::get(decoded[0].properties, "TAGS"), Some("TagA"));
    assert_eq!(
        properties::get(decoded[1].properties, "KEYS"),
        Some("key-1")
    );
    // Our encoder produces the same bytes.
    let mut ours = Vec::new();
    encode_batch(decoded.iter().copied(), &mut ours).unwrap();
    assert_eq!(ours, wire);
}

proptest! {
    #[test]
    fn encode_then_decode_round_trips(owned in entries(), prefix in proptest::collection::vec(any::<u8>(), 0..4)) {
        let input = borrow(&owned);
        let mut out = prefix.clone();
        encode_batch(input.iter().copied(), &mut out).unwrap();
        prop_assert_eq!(&out[..prefix.len()], &prefix[..]);
        let decoded = decode_batch(&out[prefix.len()..]).unwrap();
        prop_assert_eq!(decoded, input);
    }

    #[test]
    fn decoder_is_total_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(decoded) = decode_batch(&bytes) {
            let consumed: usize = decoded.iter().map(|e| e.encoded_len().unwrap()).sum();
            prop_assert_eq!(consumed, bytes.len());
        }
    }

    /// A corrupted batch decodes to an error or to entries that still account for every byte.
    #[test]
    fn decoder_is_total_on_mutated_batches(
        owned in entries(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut out = Vec::new();
        encode_batch(borrow(&owned), &mut out).unwrap();
        if out.is_empty() {
            return Ok(());
        }
        for (at, value) in edits {
            let i = at.index(out.len());
            out[i] = value;
        }
        let mut consumed = 0;
        let mut failed = false;
        for item in batch_entries(&out) {
            match item {
                Ok(e) => consumed += e.encoded_len().unwrap(),
                Err(_) => failed = true,
            }
        }
        prop_assert!(failed || consumed == out.len());
    }
}
