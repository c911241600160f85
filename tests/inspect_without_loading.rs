//! `ffikit symbols` and `ffikit check` read a library's file and never load it: a library's
//! constructor does not run (as with `nm`), and damaged files give an answer or exit 2, never
//! a signal. Loading the same library does run its constructor: that is promise 1 of the
//! safety model, which inspecting does not need.

use std::path::Path;
use std::process::{Command, Output};

fn ffikit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ffikit"))
        .args(args)
        .output()
        .expect("the ffikit binary runs")
}

/// A library whose constructor creates `marker`.
fn constructor_library(dir: &Path, marker: &Path) -> std::path::PathBuf {
    let source = dir.join("ctor.c");
    let library = dir.join("libctor.so");
    std::fs::write(
        &source,
        format!(
            "#include <stdio.h>\n\
             __attribute__((constructor)) static void touch(void) {{\n\
                 FILE *f = fopen(\"{}\", \"w\"); if (f) fclose(f);\n\
             }}\n\
             int answer(int x) {{ return x + 42; }}\n\
             int counter = 7;\n",
            marker.display()
        ),
    )
    .unwrap();
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&library)
        .arg(&source)
        .status()
        .unwrap();
    assert!(status.success());
    library
}

#[test]
fn inspecting_runs_none_of_the_library_s_code() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("constructor-ran");
    let library = constructor_library(dir.path(), &marker);
    let library = library.to_str().unwrap();

    let symbols = ffikit(&["symbols", library]);
    assert!(symbols.status.success());
    let listed = String::from_utf8_lossy(&symbols.stdout);
    assert!(
        listed.contains(" answer") && listed.contains(" counter"),
        "{listed}"
    );
    let check = ffikit(&[
        "check",
        library,
        "--cdef",
        "int answer(int); extern int counter;",
    ]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(!marker.exists(), "symbols or check ran the constructor");

    // Loading it does run the constructor (promise 1).
    let call = ffikit(&["call", library, "int answer(int)", "1"]);
    assert_eq!(String::from_utf8_lossy(&call.stdout), "return: 43\n");
    assert!(marker.exists(), "loading runs the constructor");
}

#[test]
fn damaged_copies_of_a_library_are_answered_not_crashed_on() {
    let libz = ffikit_inspect::find_library("libz.so.1").expect("libz is installed");
    let bytes = std::fs::read(&libz).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("libz-copy.so");
    let copy_name = copy.to_str().unwrap();
    let check_args = [
        "check",
        copy_name,
        "--cdef",
        "const char *zlibVersion(void);",
    ];

    // Truncated (dlopen died with SIGBUS on these).
    for length in [0, 64, 1000, bytes.len() / 3, bytes.len() / 2] {
        std::fs::write(&copy, &bytes[..length]).unwrap();
        for args in [&["symbols", copy_name][..], &check_args[..]] {
            let output = ffikit(args);
            let code = output.status.code();
            assert!(
                matches!(code, Some(0..=2)),
                "{args:?} at {length} bytes: {:?}",
                output.status
            );
        }
    }
    // The dynamic symbols overwritten with garbage (dlopen died with SIGSEGV).
    let mut garbage = bytes.clone();
    for (k, byte) in garbage.iter_mut().enumerate().skip(0x300).take(0x2000) {
        *byte = (k * 131 % 251) as u8;
    }
    std::fs::write(&copy, &garbage).unwrap();
    for args in [&["symbols", copy_name][..], &check_args[..]] {
        let output = ffikit(args);
        assert!(
            matches!(output.status.code(), Some(0..=2)),
            "{args:?}: {:?}",
            output.status
        );
    }
    // Without section headers, check still finds the exports (it said "does not export
    // zlibVersion" before).
    let mut no_sections = bytes.clone();
    no_sections[0x28..0x30].copy_from_slice(&(bytes.len() as u64 + 4096).to_le_bytes());
    std::fs::write(&copy, &no_sections).unwrap();
    let output = ffikit(&check_args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}
