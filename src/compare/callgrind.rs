//! Instructions per call, counted under `valgrind --tool=callgrind`: reproducible where time
//! is not (a shared 2-core machine).
//!
//! For each (workload, style) this runs `ffikit compare --count WORKLOAD/STYLE --calls N`
//! under callgrind twice, with a small and a large N, collecting only inside
//! [`counted_batch`] (`--toggle-collect`). The batch's fixed cost (and the loop's first-call
//! effects) cancel in the difference: `(I_large - I_small) / (N_large - N_small)` is the
//! cost of one call, loop and closure dispatch included — the same for every style, so ratios
//! to the direct call compare the bindings themselves.

use std::path::Path;
use std::process::Command;

use super::workloads::{self, Call};
use super::{CompareError, Options, Skipped, Style};

/// One (workload, style) counted.
#[derive(Debug, Clone)]
pub struct Count {
    /// The workload's name.
    pub workload: String,
    /// The binding style.
    pub style: Style,
    /// The two runs' call counts.
    pub calls: (u64, u64),
    /// The two runs' instruction counts (inside the measured batch).
    pub instructions: (u64, u64),
}

impl Count {
    /// Instructions per call: the two runs differenced.
    pub fn per_call(&self) -> f64 {
        (self.instructions.1 as f64 - self.instructions.0 as f64)
            / (self.calls.1 - self.calls.0) as f64
    }
}

/// Everything one counting run found.
#[derive(Debug, Clone, Default)]
pub struct CountReport {
    /// Counted pairs, in workload order.
    pub counts: Vec<Count>,
    /// Pairs not counted, with the reason.
    pub skipped: Vec<Skipped>,
}

impl CountReport {
    /// A count relative to the direct call of the same workload.
    pub fn ratio(&self, count: &Count) -> Option<f64> {
        self.counts
            .iter()
            .find(|c| c.workload == count.workload && c.style == Style::Direct)
            .map(|direct| count.per_call() / direct.per_call().max(f64::MIN_POSITIVE))
    }
}

/// The measured loop: the only code callgrind collects in.
#[inline(never)]
pub fn counted_batch(call: &mut Call<'_>, calls: u64) -> Result<(), std::io::Error> {
    for _ in 0..calls {
        std::hint::black_box(call(false)?);
    }
    Ok(())
}

/// The child's side: bind `workload`, check `style`'s result, then run `calls` calls in
/// [`counted_batch`].
///
/// # Errors
///
/// An unknown workload or style, a wrong result, a failed call.
pub fn run_child(workload: &str, style: &str, calls: u64) -> Result<(), CompareError> {
    let style = Style::from_key(style)
        .ok_or_else(|| CompareError::Callgrind(format!("no style named `{style}`")))?;
    let libs = workloads::Libraries::open()?;
    let bench = workloads::build(workload, &libs)?;
    let (_, call) = bench
        .rows
        .into_iter()
        .find(|(s, _)| *s == style)
        .ok_or_else(|| CompareError::Callgrind(format!("`{workload}` has no style {style:?}")))?;
    let mut call = match super::checked(workload, style, call, bench.expected) {
        Ok(call) => call?,
        Err(super::Unavailable(reason)) => return Err(CompareError::Callgrind(reason)),
    };
    counted_batch(&mut call, calls).map_err(|source| CompareError::CallFailed {
        workload: workload.into(),
        style: style.label(),
        source,
    })
}

/// Counts every selected (workload, style) with `exe` (this program) under callgrind.
///
/// # Errors
///
/// valgrind missing or failing, a filter matching nothing, a workload that cannot be bound.
pub fn run(options: &Options, exe: &Path) -> Result<CountReport, CompareError> {
    let names = options.workloads();
    if names.is_empty() {
        return Err(CompareError::NoWorkload(
            options.filter.clone().unwrap_or_default(),
        ));
    }
    let version = Command::new("valgrind").arg("--version").output();
    if !version.is_ok_and(|out| out.status.success()) {
        return Err(CompareError::Callgrind(
            "valgrind is not installed (apt-get install valgrind)".into(),
        ));
    }
    let libs = workloads::Libraries::open()?;
    let mut report = CountReport::default();
    let mut jobs = Vec::new();
    for name in names {
        for (style, call) in workloads::build(name, &libs)?.rows {
            let reason = match (style, call) {
                (_, Err(reason)) => reason,
                (Style::Subprocess | Style::Isolated, _) => {
                    "runs in another process; callgrind counts this one".into()
                }
                (Style::Async, _) => {
                    "runs on worker threads, which callgrind serializes: timing tells".into()
                }
                _ => {
                    jobs.push((name, style));
                    continue;
                }
            };
            report.skipped.push(Skipped {
                workload: name.into(),
                style,
                reason,
            });
        }
    }
    let dir = tempfile::tempdir()
        .map_err(|e| CompareError::Callgrind(format!("no temporary directory: {e}")))?;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&(workload, style)) = jobs.get(k) else {
                        break;
                    };
                    let result = count(exe, dir.path(), k, workload, style);
                    results.lock().expect("no panics").push((k, result));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("no panics");
    results.sort_by_key(|(k, _)| *k);
    for (_, result) in results {
        report.counts.push(result?);
    }
    Ok(report)
}

fn count(
    exe: &Path,
    dir: &Path,
    job: usize,
    workload: &str,
    style: Style,
) -> Result<Count, CompareError> {
    let (small, large) = workloads::counted_calls(workload);
    let mut instructions = [0u64; 2];
    for (slot, calls) in [small, large].into_iter().enumerate() {
        let out = dir.join(format!("callgrind.{job}.{slot}"));
        let output = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg("--toggle-collect=*counted_batch*")
            .arg(exe)
            .args(["compare", "--count", &format!("{workload}/{}", style.key())])
            .args(["--calls", &calls.to_string()])
            .output()
            .map_err(|e| CompareError::Callgrind(format!("cannot run valgrind: {e}")))?;
        if !output.status.success() {
            return Err(CompareError::Callgrind(format!(
                "{workload}/{}: {}",
                style.key(),
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        instructions[slot] = summary(&out)?;
    }
    Ok(Count {
        workload: workload.into(),
        style,
        calls: (small, large),
        instructions: (instructions[0], instructions[1]),
    })
}

/// The total of callgrind's output (its `summary:` or `totals:` line).
fn summary(path: &Path) -> Result<u64, CompareError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CompareError::Callgrind(format!("{}: {e}", path.display())))?;
    text.lines()
        .find_map(|line| {
            line.strip_prefix("summary:")
                .or_else(|| line.strip_prefix("totals:"))
        })
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| CompareError::Callgrind(format!("no total in {}", path.display())))
}

/// The counts as a table, ratio to the direct call.
pub fn render_table(report: &CountReport) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{:<11} {:<24} {:>16} {:>10}",
        "workload", "style", "instructions", "vs direct"
    );
    let mut last = "";
    for c in &report.counts {
        if c.workload != last {
            last = &c.workload;
            for s in report.skipped.iter().filter(|s| s.workload == c.workload) {
                let _ = writeln!(
                    text,
                    "{:<11} {:<24} {:>16}  not counted: {}",
                    s.workload,
                    s.style.label(),
                    "-",
                    s.reason
                );
            }
        }
        let ratio = report
            .ratio(c)
            .map_or_else(|| "-".into(), |r| format!("{r:.2}x"));
        let _ = writeln!(
            text,
            "{:<11} {:<24} {:>16.1} {:>10}",
            c.workload,
            c.style.label(),
            c.per_call(),
            ratio
        );
    }
    text
}

/// The counts as JSON.
pub fn render_json(report: &CountReport) -> serde_json::Value {
    let counts: Vec<serde_json::Value> = report
        .counts
        .iter()
        .map(|c| {
            serde_json::json!({
                "workload": c.workload,
                "style": c.style.key(),
                "label": c.style.label(),
                "instructions_per_call": c.per_call(),
                "ratio_to_direct": report.ratio(c),
                "calls": [c.calls.0, c.calls.1],
                "instructions": [c.instructions.0, c.instructions.1],
            })
        })
        .collect();
    serde_json::json!({ "counts": counts, "skipped": super::skipped_json(&report.skipped) })
}
