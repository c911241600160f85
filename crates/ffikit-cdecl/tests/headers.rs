//! Real headers through the C preprocessor: origins, scope, macro values and errors, each
//! checked against the C compiler itself (a program it compiles and runs prints the truth).

#[path = "support/installed.rs"]
mod installed;

use std::path::Path;
use std::process::Command;

use ffikit_cdecl::{
    Declarations, Declared, Header, HeaderErrorKind, MacroValue, SkipKind, TagKind,
};
use installed::real_headers_installed;

/// Compiles `program` with cc (`-I dir` when given) and runs it: its standard output.
fn c_prints(program: &str, include: Option<&Path>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("truth.c");
    let exe = dir.path().join("truth");
    std::fs::write(&source, program).unwrap();
    let mut cc = Command::new("cc");
    if let Some(include) = include {
        cc.arg("-I").arg(include);
    }
    let built = cc.arg(&source).arg("-o").arg(&exe).output().unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    assert!(run.status.success());
    String::from_utf8(run.stdout).unwrap()
}

/// The 1-based line of `path` that contains `needle` (counted here, not by the parser).
fn line_of(path: &Path, needle: &str) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

const MINE: &str = r#"#ifndef MINE_H
#define MINE_H
#include <stddef.h>
#include "mine_types.h"

#define MINE_VERSION "2." "5"
#define MINE_FLAGS (MINE_BASE | (1u << 4))
#define MINE_SCALE (1.5f * 2)
#define MINE_HALF (1 / 2)
#define MINE_LIMIT ((size_t)-1)
#define MINE_MAX(a, b) ((a) > (b) ? (a) : (b))
#define MINE_ALIAS mine_open
#define MINE_EMPTY

enum mine_mode { MINE_READ = 1, MINE_WRITE = MINE_READ << 1 };

struct mine_handle;
struct mine_handle *mine_open(const char *path, struct mine_options *options);
int mine_close(struct mine_handle *handle);

static inline int mine_twice(int x) { return 2 * x; }
#endif
"#;

const MINE_TYPES: &str = r#"#define MINE_BASE 0x100
struct mine_options { int flags; double ratio; size_t limit; };
int mine_types_helper(void);
"#;

fn write_headers(dir: &Path) -> std::path::PathBuf {
    std::fs::write(dir.join("mine.h"), MINE).unwrap();
    std::fs::write(dir.join("mine_types.h"), MINE_TYPES).unwrap();
    dir.join("mine.h")
}

#[test]
fn a_header_declares_with_origins_and_its_macros_have_the_compilers_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_headers(dir.path());
    let mut decls = Declarations::new();
    let included = decls
        .include(&Header::new("mine.h").include_dir(dir.path()))
        .unwrap();
    let canonical = std::fs::canonicalize(&path).unwrap();
    assert_eq!(Path::new(&included.file), canonical);

    // Origins: the original file and the line written there.
    let origin = |declared: Declared| decls.origin(&declared).unwrap().clone();
    let open = origin(Declared::Function("mine_open".into()));
    assert_eq!(open.file_name(), Some("mine.h"));
    assert_eq!(open.line, line_of(&path, "*mine_open("));
    let options = origin(Declared::Tag(TagKind::Struct, "mine_options".into()));
    assert_eq!(options.file_name(), Some("mine_types.h"));
    assert_eq!(
        options.line,
        line_of(&dir.path().join("mine_types.h"), "struct mine_options")
    );
    let version = origin(Declared::Constant("MINE_VERSION".into()));
    assert_eq!(version.line, line_of(&path, "define MINE_VERSION"));

    // Scope: the header's own file; the header it includes on request.
    let scope = included.scope();
    assert!(scope.contains(&open));
    assert!(!scope.contains(&options));
    assert!(scope.clone().also("mine_types.h").contains(&options));
    assert!(scope.clone().same_directory().contains(&options));

    // The values, as the C compiler computes them.
    let truth = c_prints(
        r#"#include <stdio.h>
#include "mine.h"
int main(void) {
    printf("%s\n%u\n%.17g\n%d\n%zu\n%d\n", MINE_VERSION, (unsigned)MINE_FLAGS,
           (double)MINE_SCALE, MINE_HALF, MINE_LIMIT, MINE_WRITE);
    return 0;
}"#,
        Some(dir.path()),
    );
    let lines: Vec<&str> = truth.lines().collect();
    assert_eq!(
        decls.macro_value("MINE_VERSION"),
        Some(&MacroValue::String(lines[0].as_bytes().to_vec()))
    );
    let integer = |name: &str| match decls.macro_value(name) {
        Some(MacroValue::Integer(c)) => c.value,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(integer("MINE_FLAGS").to_string(), lines[1]);
    match decls.macro_value("MINE_SCALE") {
        Some(MacroValue::Float { value, ty }) => {
            assert_eq!(*value, lines[2].parse::<f64>().unwrap());
            assert_eq!(decls.types().display(*ty), "float");
        }
        other => panic!("MINE_SCALE: {other:?}"),
    }
    assert_eq!(integer("MINE_HALF").to_string(), lines[3]);
    assert_eq!(integer("MINE_LIMIT").to_string(), lines[4]);
    assert_eq!(
        decls.constant("MINE_WRITE").unwrap().value.to_string(),
        lines[5]
    );
    // An integer macro is a constant for later declarations too.
    decls.cdef("char flags_buffer[MINE_BASE];").unwrap();

    // The skipped, each with its origin and kind.
    let skipped: Vec<_> = included.skipped_in(&scope).collect();
    let kinds = |kind| skipped.iter().filter(|s| s.kind == kind).count();
    assert_eq!(kinds(SkipKind::FunctionLikeMacro), 1);
    assert_eq!(kinds(SkipKind::InlineFunction), 1);
    let alias = skipped
        .iter()
        .find(|s| s.reason.message().contains("MINE_ALIAS"))
        .expect("MINE_ALIAS is reported");
    assert_eq!(alias.kind, SkipKind::Macro);
    assert_eq!(
        alias.reason.origin().unwrap().line,
        line_of(&path, "MINE_ALIAS")
    );
    assert!(
        alias.reason.to_string().contains("mine.h:"),
        "{}",
        alias.reason
    );
    // An empty macro is a marker, not a constant: neither declared nor reported.
    assert!(decls.macro_value("MINE_EMPTY").is_none());
    assert!(
        !skipped
            .iter()
            .any(|s| s.reason.message().contains("MINE_EMPTY"))
    );
    // The inline function is kept for a shim.
    assert!(decls.function("mine_twice").is_none());
    let twice = decls.inline_function("mine_twice").unwrap();
    assert_eq!(
        decls.types().declaration(twice.ty, "mine_twice"),
        "int mine_twice(int)"
    );
    assert!(
        included.summary().starts_with("mine.h:"),
        "{}",
        included.summary()
    );
}

#[test]
fn errors_name_the_original_file_and_line_with_the_original_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.h");
    std::fs::write(
        &path,
        "#define COUNT 3\nint fine(int);\nint broken(int x, ) ;\n",
    )
    .unwrap();
    let error = Declarations::new()
        .include(&Header::new(path.to_str().unwrap()))
        .unwrap_err();
    assert_eq!(error.kind(), HeaderErrorKind::Declaration);
    let shown = error.to_string();
    assert!(shown.contains("broken.h:3"), "{shown}");
    assert!(shown.contains("3 | int broken(int x, ) ;"), "{shown}");
    assert!(shown.contains("^"), "{shown}");
}

#[test]
fn preprocessor_failures_are_typed_with_the_compilers_words() {
    let missing = Declarations::new()
        .include(&Header::new("ffikit_no_such_header.h"))
        .unwrap_err();
    assert_eq!(missing.kind(), HeaderErrorKind::Preprocessor);
    assert!(
        missing.to_string().contains("ffikit_no_such_header.h"),
        "{missing}"
    );

    let no_compiler = Declarations::new()
        .include(&Header::new("zlib.h").compiler("/nonexistent/ffikit-cc"))
        .unwrap_err();
    assert_eq!(no_compiler.kind(), HeaderErrorKind::NoCompiler);
    assert!(no_compiler.to_string().contains("$CC"), "{no_compiler}");

    let device = Declarations::new()
        .include(&Header::new("/dev/zero"))
        .unwrap_err();
    assert_eq!(device.kind(), HeaderErrorKind::NotAFile);

    // -D reaches the preprocessor: an #error the header raises unless told otherwise.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guarded.h");
    std::fs::write(
        &path,
        "#ifndef READY\n#error define READY first\n#endif\nint ok(void);\n",
    )
    .unwrap();
    let path = path.to_str().unwrap();
    let refused = Declarations::new().include(&Header::new(path)).unwrap_err();
    assert!(
        refused.to_string().contains("define READY first"),
        "{refused}"
    );
    let mut decls = Declarations::new();
    decls
        .include(&Header::new(path).define("READY", Some("1")))
        .unwrap();
    assert!(decls.function("ok").is_some());
}

#[test]
fn installed_headers_give_the_compilers_constants_and_layouts() {
    if !real_headers_installed() {
        return;
    }
    let mut decls = Declarations::new();
    for header in ["zlib.h", "sqlite3.h", "expat.h", "bzlib.h", "sys/stat.h"] {
        decls.include(&Header::new(header)).unwrap();
    }
    let truth = c_prints(
        r#"#include <stdio.h>
#include <zlib.h>
#include <sqlite3.h>
#include <expat.h>
#include <bzlib.h>
#include <sys/stat.h>
int main(void) {
    printf("%d %d %s\n%s %d %d\n%d %d\n%zu\n", Z_OK, Z_STREAM_ERROR, ZLIB_VERSION,
           SQLITE_VERSION, SQLITE_OK, SQLITE_IOERR_READ, XML_MAJOR_VERSION, BZ_CONFIG_ERROR,
           sizeof(struct stat));
    return 0;
}"#,
        None,
    );
    let mut words = truth.split_whitespace();
    let mut next = || words.next().unwrap().to_owned();
    let integer = |decls: &Declarations, name: &str| match decls.macro_value(name) {
        Some(MacroValue::Integer(c)) => c.value.to_string(),
        other => panic!("{name}: {other:?}"),
    };
    let string = |decls: &Declarations, name: &str| match decls.macro_value(name) {
        Some(MacroValue::String(bytes)) => String::from_utf8(bytes.clone()).unwrap(),
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(integer(&decls, "Z_OK"), next());
    assert_eq!(integer(&decls, "Z_STREAM_ERROR"), next());
    assert_eq!(string(&decls, "ZLIB_VERSION"), next());
    assert_eq!(string(&decls, "SQLITE_VERSION"), next());
    assert_eq!(integer(&decls, "SQLITE_OK"), next());
    assert_eq!(integer(&decls, "SQLITE_IOERR_READ"), next());
    assert_eq!(integer(&decls, "XML_MAJOR_VERSION"), next());
    assert_eq!(integer(&decls, "BZ_CONFIG_ERROR"), next());
    let stat = decls.struct_tag("stat").unwrap();
    assert_eq!(decls.size_align(stat).unwrap().0.to_string(), next());
    let origin = decls.origin(&Declared::Function("crc32".into())).unwrap();
    assert_eq!(origin.file_name(), Some("zlib.h"));
}

#[test]
fn a_shim_is_compiled_once_and_found_in_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_headers(dir.path());
    let header = Header::new(path.to_str().unwrap());
    let first = header.compile_shim(&["mine_twice"], None).unwrap();
    let modified = std::fs::metadata(&first).unwrap().modified().unwrap();
    let second = header.compile_shim(&["mine_twice"], None).unwrap();
    assert_eq!(first, second);
    assert_eq!(
        std::fs::metadata(&second).unwrap().modified().unwrap(),
        modified
    );
    // The shim exports the pointer under the documented name (nm reads the file).
    let nm = Command::new("nm")
        .arg("-D")
        .arg("--defined-only")
        .arg(&first)
        .output()
        .unwrap();
    let symbols = String::from_utf8_lossy(&nm.stdout);
    assert!(
        symbols.contains(&format!("{}mine_twice", ffikit_cdecl::SHIM_PREFIX)),
        "{symbols}"
    );
    // A name that is not a C identifier never reaches the compiler.
    let refused = header.compile_shim(&["x; int y"], None).unwrap_err();
    assert_eq!(refused.kind(), HeaderErrorKind::NotInline);
    // A compile error is the compiler's message.
    let failed = header
        .compile_shim(&["not_declared_anywhere"], None)
        .unwrap_err();
    assert_eq!(failed.kind(), HeaderErrorKind::Shim);
    assert!(
        failed.to_string().contains("not_declared_anywhere"),
        "{failed}"
    );
}

#[test]
fn line_markers_at_the_extremes_are_located_without_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zero.h");
    std::fs::write(&path, "int (;\n").unwrap();
    // Line 0 names no line of the file: the preprocessed line stays.
    let text = format!("# 0 \"{}\"\nint (;\n", path.display());
    let error = Declarations::new().cdef(&text).unwrap_err();
    assert_eq!(error.origin().unwrap().line, 0);
    let shown = error.with_original_line().to_string();
    assert!(shown.contains("int (;"), "{shown}");
    // The largest line number a marker can name saturates instead of overflowing.
    let error = Declarations::new()
        .cdef("# 18446744073709551615 \"huge.h\"\nint x;\n\nint (;\n")
        .unwrap_err();
    assert_eq!(error.origin().unwrap().line, usize::MAX);
}
