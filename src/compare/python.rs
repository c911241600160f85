//! `ffikit compare --python`: the comparison in one Python process, through ctypes, CFFI's ABI
//! and API modes (the API-mode extension compiled by the comparison itself) and the ffikit
//! module, plus the `iconv` subprocess — Spang's "Subprocess to FFI", reproduced. The timing
//! runs in Python (crates/ffikit-python/compare.py, embedded here); this runs it with the
//! fixture library's path.

use std::path::Path;
use std::process::Command;

use super::Options;

/// The comparison script, as shipped in crates/ffikit-python.
const SCRIPT: &str = include_str!("../../crates/ffikit-python/compare.py");

/// Whether `python` can import the ffikit module and cffi.
fn importable(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import ffikit, cffi"])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Runs one setup step, failing with its output.
fn step(program: &Path, args: &[&str], dir: &Path, envs: &[(&str, &Path)]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_os_str())))
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{} {} failed:\n{}{}",
        program.display(),
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

/// The Python that runs it: `$FFIKIT_PYTHON`; else `python3` when it has the ffikit module
/// and cffi; else a virtual environment under `target/` that this builds once (the module
/// with maturin, cffi from PyPI) — Debian's Python refuses installs outside one, and the
/// one command must work on a fresh machine.
fn python() -> Result<std::path::PathBuf, String> {
    if let Some(python) = std::env::var_os("FFIKIT_PYTHON") {
        return Ok(python.into());
    }
    let system = Path::new("python3");
    if importable(system) {
        return Ok(system.to_owned());
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join("target/ffikit-python-venv");
    let python = venv.join("bin/python");
    if python.exists() && importable(&python) {
        return Ok(python);
    }
    eprintln!(
        "compare --python: building the ffikit module into {} (once; a few minutes)",
        venv.display()
    );
    if !python.exists() {
        step(system, &["-m", "venv", &venv.to_string_lossy()], root, &[])?;
    }
    step(
        &python,
        &[
            "-m",
            "pip",
            "install",
            "-q",
            "maturin>=1.5,<2",
            "cffi==2.1.1",
        ],
        root,
        &[],
    )?;
    step(
        &venv.join("bin/maturin"),
        &["develop", "--profile", "python", "--quiet"],
        &root.join("crates/ffikit-python"),
        &[("VIRTUAL_ENV", &venv)],
    )?;
    Ok(python)
}

/// Runs the user's-function comparison from Python: compare.py `--own PLAN` (the plan made
/// by `own_python::plan`), returning its JSON report.
///
/// # Errors
///
/// No usable Python (as for [`run`]), or a failed run — a Python style giving a wrong
/// result among them, with compare.py's message.
pub fn run_own(plan: &serde_json::Value) -> Result<serde_json::Value, String> {
    let python = python()?;
    let dir = std::env::temp_dir().join(format!("ffikit-compare-own-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let script = dir.join("compare.py");
    let plan_file = dir.join("plan.json");
    let written =
        std::fs::write(&script, SCRIPT).and_then(|()| std::fs::write(&plan_file, plan.to_string()));
    let output = written.map_err(|e| e.to_string()).and_then(|()| {
        Command::new(&python)
            .arg(&script)
            .arg("--own")
            .arg(&plan_file)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))
    });
    let _ = std::fs::remove_dir_all(&dir);
    let output = output?;
    if !output.status.success() {
        return Err(format!(
            "the Python comparison failed:\n{}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("the Python comparison printed no report: {e}"))
}

/// Runs the comparison and returns what it printed (a table, or the JSON report).
///
/// # Errors
///
/// A Python where the ffikit module and cffi cannot be made importable (with what failed),
/// or a failed run.
pub fn run(
    options: &Options,
    json: bool,
    svg: Option<&Path>,
    callgrind: bool,
) -> Result<String, String> {
    let python = python()?;
    let probe = Command::new(&python)
        .args(["-c", "import ffikit, cffi"])
        .output()
        .map_err(|e| {
            format!(
                "cannot run {}: {e} (set FFIKIT_PYTHON to a Python 3.11+)",
                python.display()
            )
        })?;
    if !probe.status.success() {
        return Err(format!(
            "{} cannot import the ffikit module and cffi: \
             pip install ./crates/ffikit-python cffi (or set FFIKIT_PYTHON)\n{}",
            python.display(),
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
    }
    let dir = std::env::temp_dir().join(format!("ffikit-compare-py-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let script = dir.join("compare.py");
    std::fs::write(&script, SCRIPT).map_err(|e| e.to_string())?;
    let mut command = Command::new(&python);
    command
        .arg(&script)
        .args(["--fixtures", crate::fixtures::SHARED_OBJECT])
        .args(["--samples", &options.samples.to_string()])
        .args(["--sample-ms", &options.sample_time.as_millis().to_string()]);
    if let Some(filter) = &options.filter {
        command.args(["--filter", filter]);
    }
    if json {
        command.arg("--json");
    }
    if callgrind {
        command.arg("--callgrind");
    }
    if let Some(svg) = svg {
        command.arg("--svg").arg(svg);
    }
    let output = command.output().map_err(|e| e.to_string());
    let _ = std::fs::remove_dir_all(&dir);
    let output = output?;
    if !output.status.success() {
        return Err(format!(
            "the Python comparison failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
