//! Declarations checked against the libraries themselves: the fixtures (built with -g) and the
//! system's libc (no debug information).

use std::ffi::CStr;

use ffikit::fixtures::{SHARED_OBJECT, sys};
use ffikit_abi::{ErrorKind, FindingKind, Library};

fn manifest() -> &'static str {
    // SAFETY: ffikit_manifest returns a static string.
    unsafe { CStr::from_ptr(sys::ffikit_manifest()) }
        .to_str()
        .unwrap()
}

#[test]
fn the_fixtures_own_declarations_pass() {
    // SAFETY: a system library or the fixtures: initializers sound to run (promise 1).
    let library = unsafe { Library::open(SHARED_OBJECT) }.unwrap();
    let report = library.verify(manifest()).unwrap();
    assert!(report.types_checked);
    assert!(report.is_ok(), "{report}");
    let (functions, globals, types) = report.checked;
    assert!(
        functions > 140 && globals == 3 && types > 20,
        "{:?}",
        report.checked
    );
}

/// (wrong declaration, the finding's kind, words the message must contain).
const WRONG: &[(&str, FindingKind, &str)] = &[
    (
        "int echo_long(int x);",
        FindingKind::Signature,
        "parameter 1 is declared `int`, the library's is `long`",
    ),
    (
        "int gcd(int x);",
        FindingKind::Signature,
        "declared with 1 parameter, the library's has 2",
    ),
    (
        "float get_pi(void);",
        FindingKind::Signature,
        "the result is declared `float`, the library's is `double`",
    ),
    (
        "struct point { int32_t y; int32_t x; };",
        FindingKind::Layout,
        "member `y` is declared at byte 0, the library's is at byte 4",
    ),
    (
        "enum color { COLOR_RED = 1, COLOR_GREEN = 3 };",
        FindingKind::EnumValue,
        "`COLOR_GREEN` is declared 3, the library's is 2",
    ),
    (
        "int sum_ints(int count, int a, int b);",
        FindingKind::Signature,
        "declared with fixed parameters, the library's is variadic",
    ),
    (
        "int no_such_fixture(void);",
        FindingKind::Missing,
        "does not export `no_such_fixture`",
    ),
    (
        "extern int gcd;",
        FindingKind::WrongKind,
        "exports it as a function",
    ),
    (
        "int fixture_counter(void);",
        FindingKind::WrongKind,
        "exports it as data",
    ),
    (
        "extern double fixture_counter;",
        FindingKind::VariableType,
        "declared `double`, the library's is `int`",
    ),
    (
        "struct flags { unsigned int ready : 2; };",
        FindingKind::Layout,
        "member `ready` is declared 2 bits wide, the library's is 1 bits wide",
    ),
];

#[test]
fn each_wrong_declaration_is_reported_precisely() {
    // SAFETY: a system library or the fixtures: initializers sound to run (promise 1).
    let library = unsafe { Library::open(SHARED_OBJECT) }.unwrap();
    for (declaration, kind, words) in WRONG {
        // The wrong declaration on line 3, after two correct ones.
        let text =
            format!("int echo_int(int x);\nsize_t string_length(const char *s);\n{declaration}\n");
        let report = library.verify(&text).unwrap();
        let finding = report
            .findings
            .iter()
            .find(|f| f.message.contains(words))
            .unwrap_or_else(|| panic!("{declaration}: no finding with {words:?} in\n{report}"));
        assert_eq!(finding.kind, *kind, "{declaration}");
        assert_eq!(finding.line, 3, "{declaration}");
        // Nothing is reported against the two correct declarations.
        assert!(report.findings.iter().all(|f| f.line == 3), "{report}");
    }
}

#[test]
fn binding_can_refuse_contradicted_declarations() {
    // SAFETY: a system library or the fixtures: initializers sound to run (promise 1).
    let library = unsafe { Library::open(SHARED_OBJECT) }.unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    assert!(unsafe { library.function("float get_pi(void)") }.is_ok()); // not checked by default
    library.refuse_mismatches(true);
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let error = unsafe { library.function("float get_pi(void)") }.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::DeclarationMismatch);
    assert!(
        error.to_string().contains("the result is declared `float`"),
        "{error}"
    );
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    assert!(unsafe { library.function("double get_pi(void)") }.is_ok());
}

#[test]
fn libc_gets_export_checks_and_type_checks_only_with_debug_information() {
    // SAFETY: a system library or the fixtures: initializers sound to run (promise 1).
    let libc = unsafe { Library::open("libc.so.6") }.unwrap();
    let report = libc
        .verify("int printf(const char *, ...);\nextern FILE *stdin;\nint stdout(void);\nint no_such_libc_function(int);\n")
        .unwrap();
    let kinds: Vec<(usize, FindingKind)> =
        report.findings.iter().map(|f| (f.line, f.kind)).collect();
    assert_eq!(
        kinds,
        vec![(3, FindingKind::WrongKind), (4, FindingKind::Missing)],
        "{report}"
    );
    // libc.so.6 itself carries no DWARF; Debian's libc6-dbg (which valgrind pulls in) adds a
    // separate debug file found by build-id. Say which applied.
    let separate =
        std::path::Path::new("/usr/lib/debug/.build-id").exists() && report.debug_file.is_some();
    if separate {
        assert!(report.types_checked, "{report}");
        // A wrong signature is caught through the separate debug file.
        let wrong = libc.verify("long abs(long j);\n").unwrap();
        assert!(
            wrong
                .findings
                .iter()
                .any(|f| f.kind == FindingKind::Signature),
            "{wrong}"
        );
    } else {
        assert!(!report.types_checked);
        assert!(report.to_string().contains("only exports were checked"));
    }
}

#[test]
fn a_library_without_any_debug_information_gets_export_checks_only() {
    // SAFETY: a system library or the fixtures: initializers sound to run (promise 1).
    let z = unsafe { Library::open("libz.so.1") }.unwrap();
    let report = z
        .verify("const char *zlibVersion(void);\nlong zlibVersion2(void);\nextern int z_errmsg;\n")
        .unwrap();
    assert!(!report.types_checked);
    assert!(
        report.to_string().contains("only exports were checked"),
        "{report}"
    );
    let kinds: Vec<(usize, FindingKind)> =
        report.findings.iter().map(|f| (f.line, f.kind)).collect();
    assert_eq!(
        kinds,
        vec![(2, FindingKind::Missing), (3, FindingKind::Missing)],
        "{report}"
    );
}
