#![no_main]
//! See `ffikit::fuzzing::worker_messages`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ffikit::fuzzing::worker_messages(data));
