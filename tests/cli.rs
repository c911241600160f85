//! The `ffikit` binary as a user runs it. Timings are not asserted (benchmarks measure speed);
//! the shape of the report and the errors are.

use ffikit::compare::Style;
use std::process::Command;

fn ffikit(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ffikit"))
        .args(args)
        .output()
        .expect("the ffikit binary runs")
}

/// A successful run's output and the JSON report it printed.
fn json_report(output: std::process::Output) -> (String, serde_json::Value) {
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = serde_json::from_str(&stdout).unwrap();
    (stdout, report)
}

#[test]
fn compare_measures_every_workload_in_every_style() {
    let svg = tempfile::NamedTempFile::new().unwrap();
    let output = ffikit(&[
        "compare",
        "--samples",
        "1",
        "--sample-ms",
        "1",
        "--json",
        "--svg",
        svg.path().to_str().unwrap(),
    ]);
    let (stdout, report) = json_report(output);
    let measured = report["measurements"].as_array().unwrap();
    let skipped = report["skipped"].as_array().unwrap();
    let row = |workload: &str, style: &str| {
        measured
            .iter()
            .find(|m| m["workload"] == workload && m["style"] == style)
    };
    // The first ten have a raw ffi_call row too.
    let workloads = [
        "gcd",
        "get_pi",
        "mixed6",
        "spill14",
        "struct16",
        "struct32",
        "struct16-members",
        "struct32-members",
        "strlen",
        "strlen-copy",
        "snprintf",
        "sort",
        "utf8-100B",
        "utf8-10MiB",
    ];
    for workload in workloads {
        // Every workload runs directly, through bindgen, both dynamic paths and libloading
        // (each checked against Rust's own result before it was timed).
        for style in ["direct", "api", "dynamic", "libffi", "libloading"] {
            let m = row(workload, style)
                .unwrap_or_else(|| panic!("no {style} row for {workload}:\n{stdout}"));
            assert!(m["median_ns"].as_f64().unwrap() > 0.0);
        }
        assert_eq!(row(workload, "direct").unwrap()["ratio_to_direct"], 1.0);
        // The typed handle runs wherever its types can say the signature, and says why not
        // elsewhere.
        let typed = row(workload, "typed").is_some();
        let typed_skip = skipped
            .iter()
            .any(|s| s["workload"] == workload && s["style"] == "typed");
        assert!(typed != typed_skip, "{workload}: typed row xor reason");
    }
    // Structs by value (derived layouts) and variadics (variadic pointers) have typed rows.
    for workload in ["struct16", "struct32", "snprintf"] {
        assert!(row(workload, "typed").is_some(), "{workload}");
    }
    for workload in &workloads[..10] {
        assert!(row(workload, "ffi_call").is_some(), "{workload}");
    }
    for workload in ["utf8-100B", "utf8-10MiB"] {
        let subprocess = row(workload, "subprocess").is_some()
            || skipped
                .iter()
                .any(|s| s["workload"] == workload && s["style"] == "subprocess");
        assert!(subprocess, "{workload}: subprocess row or reason");
    }
    let chart = std::fs::read_to_string(svg.path()).unwrap();
    assert!(chart.starts_with("<svg") && chart.trim_end().ends_with("</svg>"));
    assert!(
        chart.contains("the whole picture"),
        "the SVG carries the second table"
    );
    // Every ratio comes with its range over the paired rounds.
    for m in measured.iter().filter(|m| m["style"] != "direct") {
        let range = m["ratio_range"].as_array().unwrap();
        let (low, high) = (range[0].as_f64().unwrap(), range[1].as_f64().unwrap());
        let ratio = m["ratio_to_direct"].as_f64().unwrap();
        assert!(low <= ratio && ratio <= high, "{m}");
    }
    // The whole picture: the dynamic styles' checks are found by trying each bad argument.
    let facts = report["facts"].as_array().unwrap();
    let fact = |style: &str| facts.iter().find(|f| f["style"] == style).unwrap();
    for style in ["dynamic", "libffi"] {
        assert_eq!(
            fact(style)["checks"],
            "arity, types, ranges, NULL, struct shapes",
            "{style}"
        );
        assert_eq!(fact(style)["expresses"]["structs by value"], true);
        assert!(fact(style)["binding_ns"].as_f64().unwrap() > 0.0);
    }
    // What a typed handle expresses is what ran in it: structs by value (derived layouts),
    // variadics (variadic pointers), callbacks.
    for feature in ["structs by value", "variadics", "callbacks"] {
        assert_eq!(fact("typed")["expresses"][feature], true, "{feature}");
    }
    assert!(fact("direct")["binding_ns"].is_null());
    for workload in workloads {
        assert!(
            chart.contains(&format!(">{workload}: ")),
            "{workload} in the chart"
        );
    }
}

#[test]
fn compare_prints_a_table_with_ratios_to_the_direct_call() {
    let output = ffikit(&[
        "compare",
        "--samples",
        "1",
        "--sample-ms",
        "1",
        "--filter",
        "gcd",
    ]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    let direct = stdout
        .lines()
        .find(|l| l.starts_with("gcd") && l.contains("direct C"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(direct.trim_end().ends_with("1.00x"), "{direct}");
    assert!(stdout.contains(Style::Dynamic.label()), "{stdout}");
    // The legend and the whole picture follow the table.
    assert!(
        stdout.contains("\nlegend:\n") && stdout.contains("ratio range"),
        "{stdout}"
    );
    assert!(stdout.contains("\nthe whole picture:\n"), "{stdout}");
}

/// The callgrind mode's counts: two runs differenced, so the same code counts the same. The
/// direct call and bindgen's binding are the same call: their counts agree within 2%.
#[test]
fn compare_counts_instructions_under_callgrind() {
    if std::process::Command::new("valgrind")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("valgrind is not installed here: the callgrind mode was not run");
        return;
    }
    let output = ffikit(&["compare", "--callgrind", "--filter", "gcd", "--json"]);
    let (stdout, report) = json_report(output);
    let counts = report["counts"].as_array().unwrap();
    let count = |style: &str| {
        counts
            .iter()
            .find(|c| c["style"] == style)
            .unwrap_or_else(|| panic!("no {style} count:\n{stdout}"))["instructions_per_call"]
            .as_f64()
            .unwrap()
    };
    for style in [
        "direct",
        "api",
        "typed",
        "dynamic",
        "libffi",
        "ffi_call",
        "libloading",
    ] {
        assert!(count(style) > 10.0, "{style}: {}", count(style));
    }
    let (direct, api) = (count("direct"), count("api"));
    assert!(
        (api / direct - 1.0).abs() <= 0.02,
        "direct {direct}, api {api}"
    );
    // The wrapper around ffi_call can only add instructions.
    assert!(count("libffi") > count("ffi_call"));
    // The checked scalar lane beats even an unchecked ffi_call, which classifies every
    // argument on every call. (Ratios to the static call need the release build: the
    // README's table; this test runs the unoptimized binary.)
    // Without the fast path the dynamic call is libffi's too: it only adds its checks.
    let dynamic = count("dynamic");
    if ffikit_abi::FAST_PATH {
        assert!(dynamic < count("ffi_call"), "dynamic {dynamic}");
    } else {
        assert!(dynamic > count("ffi_call"), "dynamic {dynamic}");
    }
}

#[test]
fn compare_rejects_an_unknown_workload() {
    let output = ffikit(&["compare", "--filter", "no-such-workload"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("no workload matches `no-such-workload`"),
        "{stderr}"
    );
}

#[test]
fn compare_rejects_zero_samples() {
    let output = ffikit(&["compare", "--samples", "0"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--samples"));
}

fn call_json(args: &[&str]) -> serde_json::Value {
    let mut full = vec!["call"];
    full.extend_from_slice(args);
    full.push("--json");
    let output = ffikit(&full);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn call_reads_arguments_by_parameter_type() {
    let cos = call_json(&["libm.so.6", "double cos(double)", "1"]);
    assert_eq!(
        cos["return"].as_f64().unwrap().to_bits(),
        1f64.cos().to_bits()
    );

    let frexp = call_json(&["m", "double frexp(double, int *)", "8", "out:int"]);
    assert_eq!(frexp, serde_json::json!({"return": 0.5, "out": {"1": 4}}));

    let snprintf = call_json(&[
        "libc.so.6",
        "int snprintf(char *, size_t, const char *, ...)",
        "buf:32",
        "32",
        "%d|%s|%.1f",
        "int:-42",
        "char*:ab",
        "float:2.5",
    ]);
    assert_eq!(snprintf["return"], 10);
    assert_eq!(snprintf["buffers"]["0"]["utf8"], "-42|ab|2.5");

    let strtol = call_json(&[
        "libc.so.6",
        "long strtol(const char *, char **, int)",
        "99999999999999999999",
        "null",
        "10",
        "--errno",
    ]);
    assert_eq!(
        strtol,
        serde_json::json!({"return": i64::MAX, "errno": libc::ERANGE})
    );

    let div = call_json(&[
        "libc.so.6",
        "div_t div(int, int)",
        "17",
        "5",
        "--cdef",
        "typedef struct { int quot; int rem; } div_t;",
    ]);
    assert_eq!(div["return"], serde_json::json!({"quot": 3, "rem": 2}));

    let memcpy = call_json(&[
        "libc.so.6",
        "void *memcpy(void *, const void *, size_t)",
        "buf:4",
        "hex:00ff7f80",
        "4",
    ]);
    assert_eq!(memcpy["buffers"]["0"]["hex"], "00ff7f80");

    let sum = call_json(&[
        "z",
        "unsigned long crc32(unsigned long, const unsigned char *, unsigned int)",
        "0",
        "123456789",
        "9",
    ]);
    assert_eq!(sum["return"], 0xCBF4_3926u64);
}

#[test]
fn call_bad_input_names_the_argument_and_exits_2() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["libc.so.6", "int toupper(unsigned char c)", "300"],
            "argument 1 (`c`) of `toupper`: 300 is out of range",
        ),
        (
            &["libc.so.6", "int abs(int j)", "hello"],
            "argument 1 (`hello`): not a number",
        ),
        (
            &["libc.so.6", "int abs(int j)"],
            "`abs` takes 1 argument, 0 given",
        ),
        (
            &["libc.so.6", "size_t strlen(const char *s)", "null"],
            "NULL passed",
        ),
        (&["libc.so.6", "int (*f)(int x;"], "expected `)`, found `;`"),
        (
            &["libdoesnotexist.so.99", "int abs(int)", "1"],
            "library `libdoesnotexist.so.99` not found",
        ),
        (
            &["libc.so.6", "int no_such_function_xyz(int)", "1"],
            "symbol `no_such_function_xyz` not found",
        ),
        (
            &["libc.so.6", "int printf(const char *, ...)", "%d", "5"],
            "argument 2 (`5`): a variadic argument needs its C type",
        ),
        (
            &["libc.so.6", "double frexp(double, int *)", "8", "4"],
            "a number for pointer parameter `int *`",
        ),
    ];
    for (args, expected) in cases {
        let mut full = vec!["call"];
        full.extend_from_slice(args);
        let output = ffikit(&full);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn symbols_lists_what_nm_lists() {
    let output = ffikit(&["symbols", "libc.so.6"]);
    assert!(output.status.success());
    let ours: std::collections::BTreeSet<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().last().unwrap().to_owned())
        .collect();
    let libc = ffikit::inspect::library_path("libc.so.6").unwrap();
    let nm = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&libc)
        .output()
        .unwrap();
    let theirs: std::collections::BTreeSet<String> = String::from_utf8(nm.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().last().unwrap().to_owned())
        .collect();
    let only_ours: Vec<_> = ours.difference(&theirs).take(5).collect();
    let only_nm: Vec<_> = theirs.difference(&ours).take(5).collect();
    assert!(
        only_ours.is_empty() && only_nm.is_empty(),
        "ours only: {only_ours:?}; nm only: {only_nm:?}"
    );
    assert!(ours.contains("memcpy@@GLIBC_2.14") && ours.contains("memcpy@GLIBC_2.2.5"));

    let json = ffikit(&["symbols", "libc.so.6", "--json"]);
    let symbols: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let stdin = symbols
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "stdin")
        .unwrap();
    assert_eq!(
        (stdin["kind"].as_str(), stdin["size"].as_u64()),
        (Some("data"), Some(8))
    );
}

#[test]
fn layout_shows_offsets_holes_and_padding() {
    let output = ffikit(&[
        "layout",
        "--cdef",
        "struct s { char c; double d; short t; }; struct b { unsigned a : 3; unsigned char tail; };",
    ]);
    let text = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "struct s { /* size 24, align 8 */",
        "/* hole: 7 bytes */",
        "double d;",
        "/* offset 8, size 8 */",
        "/* padding: 6 bytes */",
        "unsigned int a : 3;",
        "/* bit 0, 3 bits */",
        "/* hole: 5 bits */",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from\n{text}");
    }
    let one = ffikit(&["layout", "--cdef", "struct s { char c; };", "struct s"]);
    assert!(
        String::from_utf8(one.stdout)
            .unwrap()
            .starts_with("struct s { /* size 1, align 1 */")
    );
}

#[test]
fn check_reports_mismatches_with_lines_and_exits_1() {
    let wrong = ffikit(&[
        "check",
        ffikit::fixtures::SHARED_OBJECT,
        "--cdef",
        "int gcd(int x, int y);\nfloat get_pi(void);\n",
    ]);
    assert_eq!(wrong.status.code(), Some(1));
    let text = String::from_utf8(wrong.stdout).unwrap();
    assert!(
        text.contains(
            "line 2: `get_pi`: the result is declared `float`, the library's is `double`"
        ),
        "{text}"
    );

    let right = ffikit(&[
        "check",
        ffikit::fixtures::SHARED_OBJECT,
        "--cdef",
        "int gcd(int x, int y);",
        "--json",
    ]);
    assert_eq!(right.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&right.stdout).unwrap();
    assert_eq!(
        (json["ok"].as_bool(), json["types_checked"].as_bool()),
        (Some(true), Some(true))
    );

    let z = ffikit(&[
        "check",
        "libz.so.1",
        "--cdef",
        "const char *zlibVersion(void);",
    ]);
    assert!(
        String::from_utf8(z.stdout)
            .unwrap()
            .contains("only exports were checked")
    );
}
