#![no_main]
//! Fuzz target `names`: see `herald::fuzzing::names`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| herald::fuzzing::names(data));
