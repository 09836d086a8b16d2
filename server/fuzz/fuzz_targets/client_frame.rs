#![no_main]
//! Fuzz target `client_frame`: see `herald::fuzzing::client_frame`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| herald::fuzzing::client_frame(data));
