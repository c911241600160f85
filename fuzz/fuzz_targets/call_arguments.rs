#![no_main]
//! See `ffikit::fuzzing::call_arguments`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ffikit::fuzzing::call_arguments(data));
