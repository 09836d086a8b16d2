#![no_main]
//! Fuzz target `http_request`: see `herald::fuzzing::http_request`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| herald::fuzzing::http_request(data));
