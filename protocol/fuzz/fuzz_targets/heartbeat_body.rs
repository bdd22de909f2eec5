#![no_main]
//! Fuzz target `heartbeat_body`: see `rmq_protocol::fuzzing`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rmq_protocol::fuzzing::run("heartbeat_body", data);
});
