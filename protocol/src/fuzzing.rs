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

use crate::command::{binary, json, RemotingCommand};
use crate::frame::{self, FrameStatus};

/// Names of the fuzz targets, in the order the replay test runs them; each has a corpus folder
/// `protocol/fuzz/corpus/<name>/`.
pub const TARGETS: &[&str] = &["frame", "header_json", "header_binary"];

/// Run the named target on `data`. Returns `false` for an unknown target name.
pub fn run(target: &str, data: &[u8]) -> bool {
    match target {
        "frame" => frame_stream(data),
        "header_json" => header_json(data),
        "header_binary" => header_binary(data),
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
    if let Ok(cmd) = json::decode_header(data) {
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
