//! What several test files share: C source compiled by the system compiler into a shared
//! object and opened.

use std::process::Command;

use ffikit_abi::Library;

/// `source` compiled by the C compiler into a shared object, opened (with the directory
/// holding it, kept as long as the caller needs the file). `$CC` when set (a cross compiler,
/// when the tests run on another target), else `cc`.
pub fn compile(source: &str) -> (tempfile::TempDir, Library) {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("generated.c");
    let so = dir.path().join("libgenerated.so");
    std::fs::write(&c, source).unwrap();
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let output = Command::new(compiler)
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&so)
        .arg(&c)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // SAFETY: the generated code has no initializers (promise 1).
    let library = unsafe { Library::open(so.to_str().unwrap()) }.unwrap();
    (dir, library)
}
