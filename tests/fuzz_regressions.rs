//! Every input the fuzz targets found (and the seeds that shaped them), kept in
//! `fuzz/regressions/<target>/`, replayed on stable: a panic, an abort or a broken round trip
//! that once happened fails here. See fuzz/README.md for running the targets themselves.

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no inputs in {}", dir.display());
    for input in inputs {
        let data = std::fs::read(&input).unwrap();
        eprintln!("{target}: {}", input.display());
        check(&data);
    }
}

#[test]
fn declarations() {
    replay("declarations", ffikit::fuzzing::declarations);
}

#[test]
fn call_arguments() {
    replay("call_arguments", ffikit::fuzzing::call_arguments);
}

#[test]
fn values() {
    replay("values", ffikit::fuzzing::values);
}

#[test]
fn worker_messages() {
    replay("worker_messages", ffikit::fuzzing::worker_messages);
}
