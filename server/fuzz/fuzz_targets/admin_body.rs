#![no_main]
//! Fuzz target `admin_body`: see `herald::fuzzing::admin_body`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| herald::fuzzing::admin_body(data));
