//! The builder end to end on small C libraries in temporary directories: compile, archive,
//! shared object, bindings generated or taken from the committed file, and each failing step.

use std::path::Path;
use std::process::Command;

use ffikit_api::{BindingsOrigin, Builder, ErrorKind};

const HEADER: &str = "int triple(int x);\nstruct pair { char tag; double value; };\n";
const SOURCE: &str = "#include \"triple.h\"\nint triple(int x) { return 3 * x; }\n";

fn project(dir: &Path) -> Builder {
    std::fs::write(dir.join("triple.h"), HEADER).unwrap();
    std::fs::write(dir.join("triple.c"), SOURCE).unwrap();
    Builder::new("triple")
        .header(dir.join("triple.h"))
        .source(dir.join("triple.c"))
        .out_dir(dir.join("out"))
        .cargo_metadata(false)
}

/// Whether bindgen can run here, as the builder itself finds out.
fn libclang_present() -> bool {
    let dir = tempfile::tempdir().unwrap();
    project(dir.path())
        .generate()
        .map(|g| *g.origin() == BindingsOrigin::Generated)
        .unwrap_or(false)
}

#[test]
fn builds_static_and_shared_libraries_from_the_same_objects() {
    let dir = tempfile::tempdir().unwrap();
    let committed = dir.path().join("committed.rs");
    std::fs::write(&committed, "// committed\n").unwrap();
    let generated = project(dir.path())
        .shared_library(true)
        .committed_bindings(&committed)
        .generate()
        .unwrap();
    assert_eq!(generated.objects().len(), 1);
    let archive = std::fs::read(generated.static_library().unwrap()).unwrap();
    assert!(archive.starts_with(b"!<arch>\n"), "not an ar archive");

    // The shared object exports the function, as the dynamic linker sees it.
    let shared = generated.shared_library().unwrap();
    let nm = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(shared)
        .output()
        .unwrap();
    let symbols = String::from_utf8(nm.stdout).unwrap();
    assert!(
        symbols.lines().any(|l| l.ends_with(" T triple")),
        "{symbols}"
    );
}

#[test]
fn generates_bindings_with_layout_checks_when_libclang_is_present() {
    if !libclang_present() {
        eprintln!("libclang missing: generation not tested here (CI installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let generated = project(dir.path()).generate().unwrap();
    assert_eq!(*generated.origin(), BindingsOrigin::Generated);
    let text = std::fs::read_to_string(generated.bindings()).unwrap();
    assert!(text.contains("pub fn triple(x: ::std::os::raw::c_int) -> ::std::os::raw::c_int;"));
    assert!(text.contains("pub struct pair"));
    // bindgen's layout assertions, with gcc's offset of `value`.
    assert!(
        text.contains("::std::mem::offset_of!(pair, value) - 8usize"),
        "{text}"
    );
}

#[test]
fn falls_back_to_committed_bindings_without_libclang() {
    let dir = tempfile::tempdir().unwrap();
    let committed = dir.path().join("committed.rs");
    std::fs::write(&committed, "// the committed bindings\n").unwrap();
    let generated = project(dir.path())
        .committed_bindings(&committed)
        .use_libclang(false)
        .generate()
        .unwrap();
    assert!(matches!(
        generated.origin(),
        BindingsOrigin::Committed { .. }
    ));
    let text = std::fs::read_to_string(generated.bindings()).unwrap();
    assert_eq!(text, "// the committed bindings\n");
}

#[test]
fn each_failing_step_is_named() {
    let dir = tempfile::tempdir().unwrap();

    let nothing = Builder::new("empty")
        .out_dir(dir.path())
        .cargo_metadata(false)
        .generate()
        .unwrap_err();
    assert_eq!(nothing.kind(), ErrorKind::NothingToBuild);

    std::fs::write(dir.path().join("broken.c"), "int broken( { return; }\n").unwrap();
    let compile = Builder::new("broken")
        .source(dir.path().join("broken.c"))
        .out_dir(dir.path().join("out"))
        .cargo_metadata(false)
        .generate()
        .unwrap_err();
    assert_eq!(compile.kind(), ErrorKind::Compile);
    assert!(
        compile
            .to_string()
            .contains("compile step failed for `broken`")
    );

    let no_fallback = project(dir.path())
        .use_libclang(false)
        .generate()
        .unwrap_err();
    assert_eq!(no_fallback.kind(), ErrorKind::NoCommitted);

    let missing_fallback = project(dir.path())
        .use_libclang(false)
        .committed_bindings(dir.path().join("nowhere.rs"))
        .generate()
        .unwrap_err();
    assert_eq!(missing_fallback.kind(), ErrorKind::Io);
    assert!(missing_fallback.to_string().contains("nowhere.rs"));

    let unresolved = project(dir.path())
        .shared_library(true)
        .link("ffikit_no_such_library")
        .use_libclang(false)
        .committed_bindings(dir.path().join("triple.h"))
        .generate()
        .unwrap_err();
    assert_eq!(unresolved.kind(), ErrorKind::LinkShared);
    assert!(
        unresolved.to_string().contains("ffikit_no_such_library"),
        "{unresolved}"
    );
}

#[test]
fn bindgen_errors_are_reported_not_panicked() {
    if !libclang_present() {
        eprintln!("libclang missing: bindgen's diagnostics not tested here (CI installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.h"), "int f(undeclared_type x);\n").unwrap();
    let error = Builder::new("bad")
        .header(dir.path().join("bad.h"))
        .out_dir(dir.path().join("out"))
        .cargo_metadata(false)
        .generate()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Bindgen);
    let source = std::error::Error::source(&error).unwrap().to_string();
    assert!(source.contains("undeclared_type"), "{source}");
}
