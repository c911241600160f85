//! Real headers, as installed, through the command and the library: checks against the
//! libraries themselves, calls by name, layouts and constants, and `static inline` functions
//! through a compiled shim — each compared with what the C compiler itself says.

#[path = "../crates/ffikit-cdecl/tests/support/installed.rs"]
mod installed;

use std::path::Path;
use std::process::{Command, Output};

use ffikit::fixtures::SHARED_OBJECT;
use ffikit_abi::{Library, Value};
use ffikit_cdecl::Header;
use installed::{installed, real_headers_installed};

fn ffikit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ffikit"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Compiles `program` with cc (linked with `libs`) and runs it: its standard output.
fn c_prints(program: &str, libs: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("truth.c");
    let exe = dir.path().join("truth");
    std::fs::write(&source, program).unwrap();
    let built = Command::new("cc")
        .arg(&source)
        .arg("-o")
        .arg(&exe)
        .args(libs)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    assert!(run.status.success());
    String::from_utf8(run.stdout).unwrap()
}

#[test]
fn installed_headers_agree_with_their_libraries() {
    if !real_headers_installed() {
        return;
    }
    for (library, header) in [
        ("libz.so.1", "zlib.h"),
        ("libsqlite3.so.0", "sqlite3.h"),
        ("libexpat.so.1", "expat.h"),
        ("libbz2.so.1.0", "bzlib.h"),
    ] {
        let output = ffikit(&["check", library, "--header", header]);
        let text = stdout(&output);
        assert_eq!(output.status.code(), Some(0), "{header}: {text}");
        assert!(
            text.lines().any(|l| l.starts_with("0 problems in")),
            "{header}: {text}"
        );
        // The header's own functions were checked, not libc's that it includes.
        let functions: usize = text
            .split(" problems in ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert!(functions >= 20, "{header}: {text}");
        assert!(
            text.contains(&format!("{header}:")),
            "{header}: the summary line: {text}"
        );
    }
    // With --strict, sqlite3.h's functions this build leaves out are problems.
    let strict = ffikit(&[
        "check",
        "libsqlite3.so.0",
        "--header",
        "sqlite3.h",
        "--strict",
    ]);
    let text = stdout(&strict);
    if text.contains("sqlite3_snapshot_get") {
        assert_eq!(strict.status.code(), Some(1), "{text}");
        assert!(text.contains("/usr/include/sqlite3.h:"), "{text}");
    }
}

#[test]
fn a_wrong_declaration_in_a_users_header_names_its_file_and_line() {
    // The fixtures' own header passes (the library carries DWARF: types are compared)...
    let header = Path::new(env!("CARGO_MANIFEST_DIR")).join("c-fixtures/ffikit_fixtures.h");
    let output = ffikit(&["check", SHARED_OBJECT, "--header", header.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("types checked"),
        "{}",
        stdout(&output)
    );
    // ...and a copy with gcd's parameter made a double does not.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("mine.h");
    let text = std::fs::read_to_string(&header).unwrap();
    assert!(text.contains("int gcd(int x, int y);"));
    std::fs::write(
        &copy,
        text.replace("int gcd(int x, int y);", "int gcd(double x, int y);"),
    )
    .unwrap();
    let line = text.lines().position(|l| l.contains("int gcd(")).unwrap() + 1;
    let output = ffikit(&["check", SHARED_OBJECT, "--header", copy.to_str().unwrap()]);
    let report = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    let expected = format!(
        "{}:{line}: `gcd`: parameter 1 is declared `double`",
        copy.display()
    );
    assert!(report.contains(&expected), "{expected}\n{report}");
}

#[test]
fn a_function_is_called_by_name_from_its_header() {
    if !installed("zlib.h", "zlib1g-dev") {
        return;
    }
    let output = ffikit(&[
        "call",
        "libz.so.1",
        "--header",
        "zlib.h",
        "crc32",
        "0",
        "str:123456789",
        "9",
    ]);
    // CRC-32's check value, the CRC of "123456789".
    assert_eq!(stdout(&output), "return: 3421780262\n", "{output:?}");

    let unknown = ffikit(&["call", "libz.so.1", "--header", "zlib.h", "crc33", "0"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no function `crc33`"));

    // The same through the library.
    // SAFETY: libz's initializers are sound to run (promise 1); zlib.h is its own header
    // (promise 2); crc32 reads 9 bytes of the 9-byte string (promise 3).
    let crc = unsafe {
        let libz = Library::open("libz.so.1").unwrap();
        let included = libz.include(&Header::new("zlib.h")).unwrap();
        assert!(included.file.ends_with("/zlib.h"));
        assert!(matches!(
            libz.macro_value("Z_OK"),
            Some(ffikit_cdecl::MacroValue::Integer(c)) if c.value == 0
        ));
        libz.get("crc32")
            .unwrap()
            .call(&[0.into(), Value::Str("123456789".into()), 9.into()])
            .unwrap()
    };
    assert_eq!(crc.as_i128(), Some(0xCBF4_3926));
}

#[test]
fn layout_shows_a_headers_types_without_hand_preprocessing() {
    let size = c_prints(
        "#include <stdio.h>\n#include <sys/stat.h>\nint main(void) { printf(\"%zu\", sizeof(struct stat)); return 0; }",
        &[],
    );
    let all = stdout(&ffikit(&["layout", "--header", "sys/stat.h"]));
    assert!(
        all.contains(&format!("struct stat {{ /* size {size}, align 8 */")),
        "{all}"
    );
    let one = ffikit(&["layout", "--header", "sys/stat.h", "struct stat"]);
    assert_eq!(one.status.code(), Some(0));
    assert!(stdout(&one).starts_with(&format!("struct stat {{ /* size {size},")));
}

#[test]
fn constants_come_back_with_the_compilers_values_and_their_origins() {
    if !real_headers_installed() {
        return;
    }
    let truth = c_prints(
        "#include <stdio.h>\n#include <zlib.h>\n#include <sqlite3.h>\n#include <expat.h>\n\
         int main(void) { printf(\"%d %s %d\", Z_OK, SQLITE_VERSION, XML_MAJOR_VERSION); return 0; }",
        &[],
    );
    let mut words = truth.split(' ');
    for (header, name) in [
        ("zlib.h", "Z_OK"),
        ("sqlite3.h", "SQLITE_VERSION"),
        ("expat.h", "XML_MAJOR_VERSION"),
    ] {
        let output = ffikit(&["constants", "--header", header, name]);
        let text = stdout(&output);
        let value = words.next().unwrap();
        let shown = if name == "SQLITE_VERSION" {
            format!("= \"{value}\" (string)")
        } else {
            format!("= {value} (int)")
        };
        assert!(
            text.starts_with(name) && text.contains(&shown),
            "{shown}: {text}"
        );
        assert!(text.contains(&format!("/usr/include/{header}:")), "{text}");
    }
    let missing = ffikit(&["constants", "--header", "zlib.h", "Z_NOT_THERE"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn static_inline_functions_are_called_through_a_compiled_shim() {
    if !installed("openssl/err.h", "libssl-dev") {
        return;
    }
    // ERR_GET_LIB and ERR_GET_REASON are static inline in OpenSSL 3's err.h.
    let code = "0x0A00010F";
    let truth = c_prints(
        &format!(
            "#include <stdio.h>\n#include <openssl/err.h>\n\
             int main(void) {{ printf(\"%d %d\", ERR_GET_LIB({code}UL), ERR_GET_REASON({code}UL)); return 0; }}"
        ),
        &["-lcrypto"],
    );
    let (lib, reason) = truth.split_once(' ').unwrap();
    let call = |name: &str| {
        stdout(&ffikit(&[
            "call",
            "libcrypto.so.3",
            "--header",
            "openssl/err.h",
            name,
            code,
        ]))
    };
    assert_eq!(call("ERR_GET_LIB"), format!("return: {lib}\n"));
    assert_eq!(call("ERR_GET_REASON"), format!("return: {reason}\n"));

    // Through the library: bound by name once the shim is compiled, refused before.
    // SAFETY: libcrypto's initializers are sound (promise 1); err.h is its own header
    // (promise 2); ERR_GET_LIB takes any unsigned long (promise 3).
    unsafe {
        let crypto = Library::open("libcrypto.so.3").unwrap();
        let header = Header::new("openssl/err.h");
        crypto.include(&header).unwrap();
        let before = crypto.get("ERR_GET_LIB").unwrap_err();
        assert!(before.to_string().contains("static inline"), "{before}");
        crypto.compile_inline(&header, &["ERR_GET_LIB"]).unwrap();
        let value = crypto
            .get("ERR_GET_LIB")
            .unwrap()
            .call(&[Value::from(0x0A00_010Fu64)])
            .unwrap();
        assert_eq!(value.as_i128().map(|v| v.to_string()).as_deref(), Some(lib));
        let not_inline = crypto
            .compile_inline(&header, &["ERR_get_error"])
            .unwrap_err();
        assert!(
            not_inline.to_string().contains("not a `static inline`"),
            "{not_inline}"
        );
    }
}

#[test]
fn the_skipped_are_counted_and_listed_on_request() {
    if !installed("openssl/ssl.h", "libssl-dev") {
        return;
    }
    let summary = stdout(&ffikit(&["layout", "--header", "openssl/ssl.h"]));
    let last = summary
        .lines()
        .rev()
        .find(|l| l.starts_with("ssl.h:"))
        .unwrap_or_default();
    assert!(
        last.contains("inline functions") && last.contains("function-like macros"),
        "{last}"
    );
    let listed = stdout(&ffikit(&[
        "layout",
        "--header",
        "openssl/err.h",
        "--skipped",
    ]));
    assert!(
        listed.contains("skipped: `ERR_GET_LIB` is an inline or static function"),
        "{listed}"
    );
    assert!(listed.contains("/usr/include/openssl/err.h:"), "{listed}");
}

#[test]
fn without_a_compiler_the_error_says_so() {
    let output = Command::new(env!("CARGO_BIN_EXE_ffikit"))
        .args(["layout", "--header", "zlib.h"])
        .env("CC", "/nonexistent/ffikit-cc")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("cannot run the C compiler `/nonexistent/ffikit-cc`"),
        "{message}"
    );
    // A header file is then read as it is, with a note, and an unknown type gets the hint.
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.h");
    std::fs::write(&plain, "struct pair { int a, b; };\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ffikit"))
        .args(["layout", "--header", plain.to_str().unwrap()])
        .env("CC", "/nonexistent/ffikit-cc")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("struct pair { /* size 8, align 4 */"));
    assert!(String::from_utf8_lossy(&output.stderr).contains("without the preprocessor"));
    let raw = ffikit(&[
        "layout",
        "--no-preprocess",
        "--header",
        "/usr/include/x86_64-linux-gnu/sys/stat.h",
    ]);
    assert_eq!(raw.status.code(), Some(2));
    let message = String::from_utf8_lossy(&raw.stderr);
    assert!(message.contains("without the C preprocessor"), "{message}");
}
