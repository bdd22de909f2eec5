#![no_main]
//! Fuzz target `route_json`: see `rmq_protocol::fuzzing`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rmq_protocol::fuzzing::run("route_json", data);
});
