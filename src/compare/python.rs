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

/// The Python that runs it: `$FFIKIT_PYTHON`, else `python3`.
fn python() -> String {
    std::env::var("FFIKIT_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Runs the comparison and returns what it printed (a table, or the JSON report).
///
/// # Errors
///
/// A Python without the `ffikit` module or `cffi` (with how to install them), or a failed run.
pub fn run(options: &Options, json: bool, svg: Option<&Path>) -> Result<String, String> {
    let python = python();
    let probe = Command::new(&python)
        .args(["-c", "import ffikit, cffi"])
        .output()
        .map_err(|e| format!("cannot run {python}: {e} (set FFIKIT_PYTHON to a Python 3.11+)"))?;
    if !probe.status.success() {
        return Err(format!(
            "{python} cannot import the ffikit module and cffi: \
             pip install ./crates/ffikit-python cffi (or set FFIKIT_PYTHON)\n{}",
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
