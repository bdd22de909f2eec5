#![no_main]
//! Fuzz target `json_body`: see `rmq_protocol::fuzzing`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rmq_protocol::fuzzing::run("json_body", data);
});
