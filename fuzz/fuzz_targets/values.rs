#![no_main]
//! See `ffikit::fuzzing::values`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ffikit::fuzzing::values(data));
