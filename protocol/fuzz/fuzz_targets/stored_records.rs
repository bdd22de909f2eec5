#![no_main]
//! Fuzz target `stored_records`: see `rmq_protocol::fuzzing`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rmq_protocol::fuzzing::run("stored_records", data);
});
