//! The `ffikit` binary as a user runs it. Timings are not asserted (benchmarks measure speed);
//! the shape of the report and the errors are.

use std::process::Command;

fn ffikit(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ffikit"))
        .args(args)
        .output()
        .expect("the ffikit binary runs")
}

#[test]
fn compare_prints_a_row_per_workload_and_style() {
    let output = ffikit(&["compare", "--samples", "1", "--sample-ms", "1"]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .skip(2)
        .map(|l| {
            l.split("  ")
                .filter(|c| !c.trim().is_empty())
                .map(str::trim)
                .collect()
        })
        .collect();
    let has = |workload: &str, style: &str| {
        rows.iter()
            .any(|r| r.first() == Some(&workload) && r.get(1).is_some_and(|s| s.starts_with(style)))
    };
    for workload in ["gcd", "get_pi", "utf8-100B", "utf8-10MiB"] {
        assert!(
            has(workload, "API mode"),
            "no API row for {workload}:\n{stdout}"
        );
    }
    for workload in ["utf8-100B", "utf8-10MiB"] {
        assert!(
            has(workload, "subprocess"),
            "no subprocess row for {workload}:\n{stdout}"
        );
    }
    // Each workload's fastest style is its 1.00x row.
    for workload in ["gcd", "utf8-100B"] {
        assert!(
            rows.iter()
                .any(|r| r.first() == Some(&workload) && r.last() == Some(&"1.00x")),
            "{stdout}"
        );
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
