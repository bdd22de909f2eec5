#![no_main]
//! Fuzz target `offset_msg_id`: see `rmq_protocol::fuzzing`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rmq_protocol::fuzzing::run("offset_msg_id", data);
});
