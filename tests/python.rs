//! ffikit for Python, through the README's one test command: builds the `ffikit` module
//! (crates/ffikit-python) with maturin into a virtual environment kept under the target
//! directory, then runs its pytest suite on the fixture library, and `ffikit compare
//! --python` in it. What it needs it installs into that environment itself (maturin, pytest,
//! hypothesis for the conversion fuzzing, and cffi for the comparison), from PyPI.

use std::path::{Path, PathBuf};
use std::process::Command;

use ffikit::fixtures::SHARED_OBJECT;

/// Runs `program` with `args` in `dir`, failing the test with its output if it fails.
fn run(program: &Path, args: &[&str], dir: &Path, envs: &[(&str, &str)]) {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(envs.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    assert!(
        output.status.success(),
        "{} {}:\n{}\n{}",
        program.display(),
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The CFFI release whose test suite judges the module (issue 27).
const CFFI_VERSION: &str = "2.1.1";
/// How many of its tests must pass (of 406 collected; CFFI itself passes them all): the
/// floor rises as the module gains ground, so a regression fails the run.
const CFFI_SUITE_FLOOR: usize = 370;

#[test]
fn the_python_module_passes_its_pytest_suite() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ffikit-python-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        run(
            Path::new("python3"),
            &["-m", "venv", venv.to_str().unwrap()],
            root,
            &[],
        );
    }
    run(
        &python,
        &[
            "-m",
            "pip",
            "install",
            "-q",
            "maturin>=1.5,<2",
            "pytest",
            "cffi==2.1.1", // CFFI_VERSION: its test suite runs against the same release
            "hypothesis",
            "pytest-xdist",
        ],
        root,
        &[],
    );
    let crate_dir = root.join("crates/ffikit-python");
    let venv_text = venv.to_str().unwrap();
    run(
        &venv.join("bin/maturin"),
        &["develop", "--quiet"],
        &crate_dir,
        &[("VIRTUAL_ENV", venv_text)],
    );
    run(
        &python,
        &["-m", "pytest", "-q", "crates/ffikit-python/tests"],
        root,
        &[("FFIKIT_FIXTURES", SHARED_OBJECT)],
    );
    // CFFI's own ABI-mode test suite, through the shim (crates/ffikit-python/tests/
    // cffi_suite): its source distribution fetched from PyPI once, kept beside the venv.
    let sdist_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cffi-sdist");
    let sdist = sdist_dir.join(format!("cffi-{CFFI_VERSION}"));
    if !sdist.join("testing").exists() {
        std::fs::create_dir_all(&sdist_dir).unwrap();
        run(
            &python,
            &[
                "-m",
                "pip",
                "download",
                "-q",
                "--no-binary",
                ":all:",
                "--no-deps",
                "-d",
                sdist_dir.to_str().unwrap(),
                &format!("cffi=={CFFI_VERSION}"),
            ],
            root,
            &[],
        );
        run(
            Path::new("tar"),
            &["xzf", &format!("cffi-{CFFI_VERSION}.tar.gz")],
            &sdist_dir,
            &[],
        );
    }
    let suite_out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cffi-suite");
    let floor = CFFI_SUITE_FLOOR.to_string();
    run(
        &python,
        &[
            "crates/ffikit-python/tests/cffi_suite/run.py",
            sdist.to_str().unwrap(),
            suite_out.to_str().unwrap(),
            "--json",
            suite_out.with_extension("json").to_str().unwrap(),
            "--at-least",
            &floor,
        ],
        root,
        &[],
    );
    // The comparison runs in the same environment: every style, checked before timing.
    let output = Command::new(env!("CARGO_BIN_EXE_ffikit"))
        .args([
            "compare", "--python", "--quick", "--json", "--filter", "gcd",
        ])
        .env("FFIKIT_PYTHON", &python)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let styles: Vec<&str> = report["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["style"].as_str().unwrap())
        .collect();
    assert_eq!(styles, ["ctypes", "cffi-abi", "cffi-api", "ffikit"]);
    for m in report["measurements"].as_array().unwrap() {
        assert!(m["median_ns"].as_f64().unwrap() > 0.0, "{m}");
    }
    // The user's own function from Python: ctypes, CFFI and the module, each checked against
    // the direct C call (result, and the bytes left in the arguments' memory) before timing.
    let header = root.join("c-fixtures/ffikit_fixtures.h");
    let own_calls: [&[&str]; 3] = [
        &["libm.so.6", "double cos(double)", "1.5"],
        &[
            "libc.so.6",
            "int snprintf(char *, size_t, const char *, ...)",
            "buf:64",
            "64",
            "n=%d %s",
            "int:42",
            "char*:hi",
        ],
        &[
            SHARED_OBJECT,
            "--header",
            header.to_str().unwrap(),
            "bump_s_int64x2",
            "{a=10,b=-3}",
        ],
    ];
    for call in own_calls {
        let mut args = vec!["compare"];
        args.extend(call);
        args.extend(["--python", "--quick", "--json"]);
        let output = Command::new(env!("CARGO_BIN_EXE_ffikit"))
            .args(&args)
            .env("FFIKIT_PYTHON", &python)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let styles: Vec<&str> = report["python"]["measurements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["style"].as_str().unwrap())
            .collect();
        assert_eq!(styles, ["ctypes", "cffi-abi", "ffikit"], "{args:?}");
    }
}
