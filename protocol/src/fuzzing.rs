//! Entry points shared by the coverage-guided fuzz targets (`protocol/fuzz/`) and the corpus
//! replay test (`protocol/tests/fuzz_corpus.rs`), so CI exercises exactly what the fuzzer does.
//!
//! Each function takes arbitrary bytes, must never panic or hang, and checks an invariant of
//! the decoder beyond "did not crash" where one exists (for example: whatever decodes must
//! re-encode and decode to the same value).
//!
//! # Panics
//! Every function here panics when the invariant it checks is broken: that is how the fuzzer
//! and the replay test report a bug.
#![allow(clippy::missing_panics_doc)]

use bytes::{Bytes, BytesMut};

use crate::body::{
    lenient_json, HeartbeatData, JsonBody, JsonStyle, RouteJsonStyle, TopicRouteData,
};
use crate::command::{binary, json, RemotingCommand};
use crate::frame::{self, FrameStatus};
use crate::message::{batch, id, record};

/// Names of the fuzz targets, in the order the replay test runs them; each has a corpus folder
/// `protocol/fuzz/corpus/<name>/`.
pub const TARGETS: &[&str] = &[
    "frame",
    "header_json",
    "header_binary",
    "batch_body",
    "stored_records",
    "offset_msg_id",
];

/// Run the named target on `data`. Returns `false` for an unknown target name.
pub fn run(target: &str, data: &[u8]) -> bool {
    match target {
        "frame" => frame_stream(data),
        "header_json" => header_json(data),
        "header_binary" => header_binary(data),
        "batch_body" => batch_body(data),
        "stored_records" => stored_records(data),
        "offset_msg_id" => offset_msg_id(data),
        "heartbeat_body" => heartbeat_body(data),
        "route_json" => route_json(data),
        "json_body" => json_body(data),
        _ => return false,
    }
    true
}

/// Treat `data` as a TCP stream: split frames off it as the connection loop does, decode each,
/// and check that a decoded command survives an encode/decode round trip.
pub fn frame_stream(data: &[u8]) {
    let mut stream = BytesMut::from(data);
    // Each successful iteration consumes at least one preamble, so this terminates.
    loop {
        match frame::check(&stream) {
            Err(_) | Ok(FrameStatus::Partial { .. }) => return,
            Ok(FrameStatus::Complete(h)) => {
                assert!(h.frame_len <= crate::limits::FRAME_SIZE_BYTES_MAX);
                assert!(h.frame_len >= crate::limits::FRAME_PREAMBLE_BYTES);
                let frame = stream.split_to(h.frame_len).freeze();
                if let Ok(cmd) = RemotingCommand::decode(frame) {
                    assert_reencodes(&cmd);
                }
            }
        }
    }
}

/// A JSON header on its own.
pub fn header_json(data: &[u8]) {
    let decoded = json::decode_header(data);
    // The fast path must agree with the serde path (it falls back when unsure).
    match (&decoded, json::decode_header_slow(data)) {
        (Ok(fast), Ok(slow)) => {
            assert_eq!(fast, &slow, "fast and serde header decoders differ");
            assert_eq!(fast.has_ext_fields, slow.has_ext_fields);
        }
        (Err(_), Err(_)) => {}
        (fast, slow) => panic!("decoders disagree: {fast:?} vs {slow:?}"),
    }
    if let Ok(cmd) = decoded {
        assert_reencodes(&cmd);
    }
}

/// A binary header on its own.
pub fn header_binary(data: &[u8]) {
    if let Ok(cmd) = binary::decode_header(data) {
        assert_reencodes(&cmd);
    }
}

/// Whatever decoded must encode into a frame that decodes to the same command.
fn assert_reencodes(cmd: &RemotingCommand) {
    let Ok(bytes) = cmd.encode_to_bytes() else {
        // Only a header grown past the limit by re-escaping may fail to encode.
        return;
    };
    let again =
        RemotingCommand::decode(Bytes::clone(&bytes)).expect("our own encoding must decode");
    assert_eq!(&again, cmd, "round trip changed the command");
}

/// A SEND_BATCH_MESSAGE body: whatever decodes must re-encode and decode to the same entries.
pub fn batch_body(data: &[u8]) {
    let Ok(entries) = batch::decode_batch(data) else {
        return;
    };
    let mut again = Vec::new();
    batch::encode_batch(entries.iter().copied(), &mut again).expect("decoded entries re-encode");
    let back = batch::decode_batch(&again).expect("our own encoding must decode");
    assert_eq!(back, entries);
}

/// A run of stored records (a PULL body or a CommitLog tail): every view that parses must
/// describe bytes inside the input, agree with `peek_head`, and re-encode field by field into a
/// record that parses to the same values.
pub fn stored_records(data: &[u8]) {
    let mut consumed = 0usize;
    for view in record::records(data) {
        let Ok(view) = view else { return };
        assert!(view.total_size() <= data.len() - consumed);
        match record::peek_head(view.bytes()) {
            Ok(Some(record::RecordHead::Message { total_size })) => {
                assert_eq!(total_size, view.total_size());
            }
            other => panic!("peek_head disagrees with parse: {other:?}"),
        }
        consumed += view.total_size();
        let fields = record::RecordFields {
            queue_id: view.queue_id(),
            flag: view.flag(),
            queue_offset: view.queue_offset(),
            physical_offset: view.physical_offset(),
            sys_flag: view.sys_flag(),
            born_timestamp: view.born_timestamp(),
            born_host: view.born_host(),
            store_timestamp: view.store_timestamp(),
            store_host: view.store_host(),
            reconsume_times: view.reconsume_times(),
            prepared_transaction_offset: view.prepared_transaction_offset(),
            body: view.body(),
            topic: view.topic(),
            properties: view.properties(),
        };
        let encoded = fields.encode_to_vec().expect("a parsed record re-encodes");
        let again = record::RecordView::parse(&encoded).expect("our own encoding must parse");
        assert_eq!(
            (again.body(), again.topic(), again.properties()),
            (view.body(), view.topic(), view.properties())
        );
        assert_eq!(
            (again.queue_offset(), again.physical_offset()),
            (view.queue_offset(), view.physical_offset())
        );
        assert!(again.crc_matches());
    }
}

/// An offset message id: whatever decodes must encode back to the same id (ignoring case).
pub fn offset_msg_id(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok((host, offset)) = id::decode_offset_msg_id(text) {
        let again = id::encode_offset_msg_id(host, offset);
        assert!(
            again.eq_ignore_ascii_case(text),
            "{text} re-encoded as {again}"
        );
    }
}

/// A HEART_BEAT body, in any client's dialect: whatever decodes must survive encode/decode.
pub fn heartbeat_body(data: &[u8]) {
    if let Ok(heartbeat) = HeartbeatData::decode(data) {
        let again =
            HeartbeatData::decode(&heartbeat.encode()).expect("our own encoding must decode");
        assert_eq!(again, heartbeat);
    }
}

/// A route body (what a NameServer sends, in either key style): whatever decodes must survive
/// encode/decode in both styles.
pub fn route_json(data: &[u8]) {
    if let Ok(route) = TopicRouteData::decode(data) {
        for style in [RouteJsonStyle::Fastjson, RouteJsonStyle::Standard] {
            let again = TopicRouteData::decode(&route.encode_route(style))
                .expect("our own encoding must decode");
            assert_eq!(again, route);
        }
    }
}

/// Any body through the fastjson-dialect parser: whatever parses must write and parse back equal
/// in every style.
pub fn json_body(data: &[u8]) {
    if let Ok(value) = lenient_json::parse(data) {
        for style in [
            JsonStyle::FASTJSON,
            JsonStyle::STANDARD,
            JsonStyle::FASTJSON_PRETTY,
        ] {
            let mut w = crate::body::JsonWriter::new(style);
            w.value(&value);
            let again = lenient_json::parse(&w.into_bytes()).expect("our own writing must parse");
            assert_eq!(again, value);
        }
    }
}
