//! Hostile and malformed input to the `ffikit` command: every row of issue 13's table gets
//! its answer — a clear error and exit status 2, or the right value — never a panic, an abort,
//! a stack overflow or a read that never ends. (How fast the parser answers is measured by
//! `cargo bench -p ffikit-cdecl`, not here.)

use std::process::{Command, Output};

fn ffikit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ffikit"))
        .args(args)
        .output()
        .expect("the ffikit binary runs")
}

/// Exit status 2 and a message containing `expected`.
#[track_caller]
fn refused(args: &[&str], expected: &str) {
    let output = ffikit(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
}

/// Exit status 0 and the printed result.
#[track_caller]
fn returns(args: &[&str]) -> String {
    let output = ffikit(args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn argument_counts_are_checked_before_anything_is_read() {
    refused(
        &["call", "libm.so.6", "double cos(double)", "1", "2"],
        "`cos` takes 1 argument, 2 given",
    );
    refused(
        &["call", "libc.so.6", "int rand(void)", "5"],
        "`rand` takes 0 arguments, 1 given",
    );
    refused(
        &["call", "libc.so.6", "int abs()", "5"],
        "`abs` takes 0 arguments, 1 given",
    );
    refused(
        &["call", "libc.so.6", "int printf(const char *, ...)"],
        "takes at least 1 argument, 0 given",
    );
}

#[test]
fn huge_values_are_refused_by_size_not_by_crashing() {
    refused(
        &[
            "call",
            "libc.so.6",
            "--cdef",
            "struct big { char b[524288]; };",
            "int abs(struct big)",
            "{b=1}",
        ],
        "passes by value at most 65536 bytes",
    );
    refused(
        &["call", "libc.so.6", "int abs(int *)", "buf:99999999999"],
        "argument 1 (`buf:99999999999`)",
    );
    refused(
        &[
            "call",
            "libc.so.6",
            "int abs(int *)",
            "out:int[100000000000]",
        ],
        "allocates at most 1073741824 bytes",
    );
}

#[test]
fn deep_declarations_are_a_depth_error() {
    let stars = format!("int {}abs(int)", "*".repeat(50_000));
    refused(
        &["call", "libc.so.6", &stars, "1"],
        "nested more than 128 levels deep",
    );
    let dims = format!("int x{};", "[1]".repeat(16_000));
    refused(
        &["layout", "--cdef", &dims],
        "nested more than 128 levels deep",
    );
    // Through typedefs, one level each.
    let chain: String = (1..200)
        .map(|k| format!("typedef p{} *p{k};\n", k - 1))
        .collect();
    refused(
        &["layout", "--cdef", &format!("typedef int *p0;\n{chain}")],
        "nested more than 128",
    );
}

#[test]
fn only_regular_files_are_read() {
    refused(&["layout", "--header", "/dev/zero"], "not a regular file");
    refused(
        &["check", "libc.so.6", "--header", "/dev/zero"],
        "not a regular file",
    );
    refused(
        &[
            "call",
            "libc.so.6",
            "int abs(int)",
            "--header",
            "/dev/zero",
            "1",
        ],
        "not a regular file",
    );
    refused(&["symbols", "/dev/zero"], "not a regular file");
    refused(&["layout", "--header", "/"], "not a regular file");
}

#[test]
fn many_skipped_declarations_are_reported_in_one_pass() {
    // 40,000 `static inline` functions, one line each and all on one line: each is skipped
    // with a note (these took 10 s, and 24 GB for the one-line form).
    let dir = tempfile::tempdir().unwrap();
    let lines: String = (0..40_000)
        .map(|k| format!("static inline int f{k}(int x) {{ return x + {k}; }}\n"))
        .collect();
    for (name, text) in [
        ("lines.h", lines.clone()),
        ("one-line.h", lines.replace('\n', " ")),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{text}\nstruct s {{ int x; }};")).unwrap();
        let out = returns(&["layout", "--header", path.to_str().unwrap()]);
        assert!(out.contains("struct s { /* size 4, align 4 */"), "{out}");
    }
}

#[test]
fn numbers_keep_their_sign_and_range() {
    // copysign takes the sign of its second argument: IEEE 754's -0 has one.
    let out = returns(&[
        "call",
        "libm.so.6",
        "double copysign(double, double)",
        "1",
        "-0",
    ]);
    assert_eq!(out, "return: -1.0\n");
    let out = returns(&[
        "call",
        "libm.so.6",
        "double copysign(double, double)",
        "0",
        "-1",
    ]);
    assert_eq!(out, "return: -0.0\n");
    refused(
        &[
            "call",
            "libm.so.6",
            "double copysign(double, double)",
            "1",
            "1e400",
        ],
        "1e400 is out of range for `double`",
    );
    // Infinity spelled out is a value, not a mistake.
    let out = returns(&["call", "libm.so.6", "double fabs(double)", "--", "-inf"]);
    assert_eq!(out, "return: inf\n");
    refused(
        &[
            "call",
            "libc.so.6",
            "int snprintf(char *, size_t, const char *, ...)",
            "buf:8",
            "8",
            "%f",
            "float:1e300",
        ],
        "1e300 is out of range for `float`",
    );
    refused(
        &[
            "call",
            "libc.so.6",
            "long labs(long)",
            "99999999999999999999",
        ],
        "99999999999999999999 is out of range for `long` (-9223372036854775808..=9223372036854775807)",
    );
    refused(
        &[
            "call",
            "libc.so.6",
            "unsigned long strtoul(const char *, char **, int)",
            "1",
            "null",
            "18446744073709551616",
        ],
        "18446744073709551616 is out of range for `int`",
    );
    // 2^64 - 1 is exact, not a rounded float.
    let out = returns(&[
        "call",
        "libc.so.6",
        "unsigned long labs(unsigned long)",
        "18446744073709551615",
    ]);
    assert_eq!(out, "return: 1\n"); // labs(-1) == 1, the bits of 2^64 - 1 as a long
}

#[test]
fn struct_literals_give_each_member_once() {
    refused(
        &[
            "call",
            "libc.so.6",
            "--cdef",
            "struct in_addr { unsigned s_addr; };",
            "char *inet_ntoa(struct in_addr)",
            "{s_addr=1,s_addr=2}",
        ],
        "`s_addr` given twice",
    );
}

#[test]
fn enumerations_overflow_as_gcc_says() {
    let text = "enum e { A = 9223372036854775807, B };";
    let gcc = Command::new("cc")
        .args(["-fsyntax-only", "-x", "c", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(!gcc.status.success(), "gcc accepts it?");
    assert!(String::from_utf8_lossy(&gcc.stderr).contains("overflow in enumeration values"));
    refused(
        &["layout", "--cdef", text],
        "overflow in enumeration values",
    );
    // Unsigned values go on to 2^64 - 1, as in gcc.
    returns(&[
        "layout",
        "--cdef",
        "enum f { C = 18446744073709551614U, D };",
    ]);
}

#[test]
fn an_empty_library_name_names_nothing() {
    refused(&["call", "", "int abs(int)", "1"], "an empty name");
    refused(&["symbols", ""], "an empty name");
}

#[test]
fn line_markers_are_read_wherever_gcc_puts_them() {
    let text = "enum e {\n# 12 \"x.h\"\n A,\n# 13 \"x.h\" 2\n B };\nstruct s { int\n# 5 \"y.h\"\n x; char c; };\n";
    let out = returns(&["layout", "--cdef", text]);
    assert!(out.contains("A = 0,") && out.contains("B = 1,"), "{out}");
    assert!(
        out.contains("char c;") && out.contains("/* offset 4, size 1 */"),
        "{out}"
    );
}

#[test]
fn every_subcommand_exits_2_on_bad_input_and_check_1_on_mismatches() {
    refused(&["layout", "--cdef", "struct {"], "expected `}`");
    refused(&["check", "libc.so.6", "--cdef", "int abs(int"], "expected");
    refused(&["symbols", "ffikit-no-such-library"], "not found");
    let mismatch = ffikit(&[
        "check",
        "libc.so.6",
        "--cdef",
        "int ffikit_no_such_function(void);",
    ]);
    assert_eq!(mismatch.status.code(), Some(1));
}

#[test]
fn messages_name_the_argument_and_show_what_was_typed() {
    refused(
        &["call", "libc.so.6", "size_t strlen(const char *)", "hex:zz"],
        "only the hex digits",
    );
    refused(
        &[
            "call",
            "libc.so.6",
            "size_t strlen(const char *)",
            "hex:abc",
        ],
        "an even number of hex digits",
    );
    // An array element out of range names the argument and the element type.
    refused(
        &[
            "call",
            "libc.so.6",
            "size_t strlen(const char *)",
            "[1,99999999999999]",
        ],
        "argument 1 (`[1,99999999999999]`)",
    );
    refused(
        &[
            "call",
            "libc.so.6",
            "size_t strlen(const char *)",
            "[1,99999999999999]",
        ],
        "out of range for `char`",
    );
    // A byte-order mark and a control character are shown escaped.
    refused(
        &["call", "libc.so.6", "int abs(int)", "\u{feff}1"],
        "\\u{feff}1",
    );
    refused(&["call", "libc.so.6", "int abs(int)", "1\u{7}"], "1\\u{7}");
}
