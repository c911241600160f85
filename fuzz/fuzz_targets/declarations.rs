#![no_main]
//! See `ffikit::fuzzing::declarations`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ffikit::fuzzing::declarations(data));
