#![no_main]
//! Fuzz target `webhook_payload`: see `herald::fuzzing::webhook_payload`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| herald::fuzzing::webhook_payload(data));
