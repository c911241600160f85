//! `ffikit compare LIBRARY DECLARATION ARGS...`: the user's own function through every style,
//! its result checked against a value computed here, on its own (a CRC-32 written below,
//! Rust's `cos`, the fixtures' documented arithmetic, `ffikit call`'s answer).

#[path = "../crates/ffikit-cdecl/tests/support/installed.rs"]
#[allow(
    dead_code,
    reason = "shared with tests/headers.rs, which uses all of it"
)]
mod installed;

use std::collections::BTreeSet;
use std::process::{Command, Output};

use serde_json::Value as Json;

fn ffikit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ffikit"))
        .args(args)
        .output()
        .expect("the ffikit command runs")
}

/// `compare ... --quick --json`, which must succeed.
fn compare(args: &[&str]) -> Json {
    let mut all = vec!["compare"];
    all.extend(args);
    all.extend(["--quick", "--json"]);
    let output = ffikit(&all);
    assert!(
        output.status.success(),
        "ffikit {}: {}",
        all.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

fn styles(report: &Json) -> BTreeSet<String> {
    report["measurements"]
        .as_array()
        .expect("measurements")
        .iter()
        .map(|m| m["style"].as_str().expect("style").to_owned())
        .collect()
}

fn result(report: &Json) -> &str {
    report["result"].as_str().expect("a result")
}

/// Every style that can call a plain C function from Rust.
const EVERY_STYLE: [&str; 6] = ["direct", "api", "typed", "dynamic", "libffi", "ffi_call"];

fn assert_every_style(report: &Json) {
    let ran = styles(report);
    for style in EVERY_STYLE {
        assert!(
            ran.contains(style),
            "{style} did not run: {}",
            report["skipped"]
        );
    }
    for m in report["measurements"].as_array().unwrap() {
        let ratio = m["ratio_to_direct"]
            .as_f64()
            .expect("a ratio to the direct call");
        assert!(ratio > 0.0, "{m}");
    }
}

/// CRC-32 (zlib's: reflected, polynomial 0xEDB88320), bit by bit.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn zlib_crc32_by_name_from_its_header_runs_in_every_style() {
    if !installed::installed("zlib.h", "zlib1g-dev") {
        return;
    }
    let report = compare(&[
        "libz.so.1",
        "--header",
        "zlib.h",
        "crc32",
        "0",
        "buf:4096",
        "4096",
    ]);
    assert_every_style(&report);
    // The worker reads the header too: the isolated row binds crc32 by name there.
    assert!(styles(&report).contains("isolated"), "{report}");
    assert_eq!(result(&report), crc32(&[0; 4096]).to_string());
    assert!(
        report["subject"]
            .as_str()
            .unwrap()
            .starts_with("crc32(0, buf:4096, 4096) in ")
    );
    // The whole picture: what each style needs, and ABI mode's binding cost.
    let facts = report["facts"].as_array().unwrap();
    let dynamic = facts.iter().find(|f| f["style"] == "dynamic").unwrap();
    assert!(dynamic["binding_ns"].as_f64().unwrap() > 0.0);
}

#[test]
fn libm_cos_from_a_declaration_runs_in_every_style() {
    let report = compare(&["libm.so.6", "double cos(double)", "1.5"]);
    assert_every_style(&report);
    // And in a worker process, its result checked against the direct call's like the others.
    assert!(styles(&report).contains("isolated"), "{report}");
    let got: f64 = result(&report).parse().unwrap();
    assert_eq!(got, 1.5f64.cos());
}

#[test]
fn sqlite3_libversion_number_agrees_with_ffikit_call() {
    if !installed::installed("sqlite3.h", "libsqlite3-dev") {
        return;
    }
    let args = [
        "libsqlite3.so.0",
        "--header",
        "sqlite3.h",
        "sqlite3_libversion_number",
    ];
    let report = compare(&args);
    assert_every_style(&report);
    let mut call = vec!["call"];
    call.extend(args);
    call.push("--json");
    let called: Json = serde_json::from_slice(&ffikit(&call).stdout).unwrap();
    assert_eq!(result(&report), called["return"].to_string());
    assert!(called["return"].as_i64().unwrap() >= 3_000_000);
}

#[test]
fn structs_by_value_in_and_out_through_the_fixtures_header() {
    let fixtures = ffikit::fixtures::SHARED_OBJECT;
    let header = concat!(env!("CARGO_MANIFEST_DIR"), "/c-fixtures/ffikit_fixtures.h");
    // bump_* adds one to every member (c-fixtures/structs.c).
    let report = compare(&[
        fixtures,
        "--header",
        header,
        "bump_s_int64x2",
        "{a=10,b=-3}",
    ]);
    assert_every_style(&report);
    let bumped: Json = serde_json::from_str(result(&report)).unwrap();
    assert_eq!(bumped, serde_json::json!({"a": 11, "b": -2}));
    // 32 bytes of doubles: passed on the stack.
    let report = compare(&[
        fixtures,
        "--header",
        header,
        "sum_s_double4",
        "{a=1,b=2,c=3,d=4.5}",
    ]);
    assert_every_style(&report);
    assert_eq!(result(&report).parse::<f64>().unwrap(), 10.5);
}

#[test]
fn a_variadic_call_writing_a_buffer_is_checked_byte_for_byte() {
    let report = compare(&[
        "libc.so.6",
        "int snprintf(char *, size_t, const char *, ...)",
        "buf:64",
        "64",
        "n=%d %s",
        "int:42",
        "char*:hi",
    ]);
    assert_every_style(&report);
    // The buffer written in the worker and copied back: its bytes checked like the others'.
    assert!(styles(&report).contains("isolated"), "{report}");
    assert_eq!(result(&report), "n=42 hi".len().to_string());
}

#[test]
fn a_type_rust_has_no_equivalent_for_skips_the_rust_styles_with_the_reason() {
    let report = compare(&["libm.so.6", "long double sqrtl(long double)", "2"]);
    let ran = styles(&report);
    for style in ["direct", "dynamic", "libffi", "ffi_call"] {
        assert!(ran.contains(style), "{style}: {report}");
    }
    let skipped = report["skipped"].as_array().unwrap();
    for style in ["api", "typed"] {
        let reason = skipped
            .iter()
            .find(|s| s["style"] == style)
            .unwrap_or_else(|| panic!("{style} not skipped: {report}"))["reason"]
            .as_str()
            .unwrap();
        assert!(reason.contains("long double"), "{reason}");
    }
}

#[test]
fn a_command_doing_the_same_work_gets_a_subprocess_row() {
    if !installed::installed("zlib.h", "zlib1g-dev") {
        return;
    }
    let report = compare(&[
        "libz.so.1",
        "--header",
        "zlib.h",
        "crc32",
        "0",
        "str:hello",
        "5",
        "--command",
        "cksum",
    ]);
    assert!(styles(&report).contains("subprocess"), "{report}");
    assert_eq!(result(&report), crc32(b"hello").to_string());
}

#[test]
fn a_second_run_reuses_the_cached_harnesses() {
    let args = [
        "compare",
        "libm.so.6",
        "double tan(double)",
        "0.5",
        "--quick",
    ];
    let first = ffikit(&args);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = ffikit(&args);
    assert!(second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!stderr.contains("building"), "rebuilt: {stderr}");
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(stdout.contains("harnesses cached in"), "{stdout}");
}

#[test]
fn a_result_that_changes_from_call_to_call_is_refused_not_timed() {
    // rand's sequence moves on with each call: the styles cannot agree with the direct one.
    let output = ffikit(&["compare", "libc.so.6", "int rand(void)", "--quick"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("gave a wrong result"), "{stderr}");
    assert!(stderr.contains("cannot be checked"), "{stderr}");
}

#[test]
fn without_a_c_compiler_the_error_names_what_is_missing() {
    let output = Command::new(env!("CARGO_BIN_EXE_ffikit"))
        .args(["compare", "libm.so.6", "double sin(double)", "1", "--quick"])
        .env("CC", "/nonexistent/cc")
        .env(
            "FFIKIT_CACHE_DIR",
            std::env::temp_dir().join("ffikit-compare-no-cc"),
        )
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("needs a C compiler"), "{stderr}");
    assert!(stderr.contains("/nonexistent/cc"), "{stderr}");
}

#[test]
fn bad_calls_get_the_same_errors_as_ffikit_call() {
    for (args, message) in [
        (
            &["libm.so.6", "double cos(double)"][..],
            "takes 1 argument, 0 given",
        ),
        (
            &["libm.so.6", "double cos(double"][..],
            "invalid declaration",
        ),
        (
            &["libm.so.6", "int cos(int)", "99999999999"][..],
            "out of range",
        ),
        (
            &["no-such-library-xyz", "int f(void)"][..],
            "no-such-library-xyz",
        ),
    ] {
        let mut all = vec!["compare"];
        all.extend(args);
        let output = ffikit(&all);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
