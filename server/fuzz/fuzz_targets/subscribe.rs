#![no_main]
//! Fuzz target `subscribe`: see `herald::fuzzing::subscribe`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| herald::fuzzing::subscribe(data));
