//! `ffikit compare`: the same C work done through every way of calling it, side by side.
//!
//! # Organization
//!
//! - [`workloads`]: each workload bound every way (direct static C, bindgen's API mode, the
//!   ABI typed handle, the ABI dynamic call through the fast path and through libffi, raw
//!   `ffi_call` on the same prepared interface, a raw libloading pointer, and a subprocess
//!   for the conversion), each checked against a result Rust computes on its own before it
//!   is measured, so a fast but wrong style cannot win.
//! - this module: the timing (median of batches calibrated to `--sample-ms`, spread, ratio
//!   to the direct call), the report as a table, JSON and an SVG chart;
//! - [`callgrind`]: instructions per call counted under `valgrind --tool=callgrind`, two runs
//!   of different call counts differenced, since time on a shared machine is noisy.

pub mod callgrind;
mod svg;
pub mod workloads;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

pub use workloads::{WORKLOADS, describe};

use crate::fixtures;

/// How to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Batches timed per (workload, style).
    pub samples: usize,
    /// The least time one batch should take.
    pub sample_time: Duration,
    /// Only workloads whose name contains this.
    pub filter: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            samples: 11,
            sample_time: Duration::from_millis(20),
            filter: None,
        }
    }
}

impl Options {
    /// The workloads the filter selects, in report order.
    pub fn workloads(&self) -> Vec<&'static str> {
        WORKLOADS
            .iter()
            .copied()
            .filter(|name| self.filter.as_deref().is_none_or(|f| name.contains(f)))
            .collect()
    }
}

/// A way of calling C.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Style {
    /// The function declared by hand in Rust, the C linked statically: the baseline.
    Direct,
    /// bindgen's bindings, the C linked statically (CFFI's API mode).
    Api,
    /// `Function::typed`: a checked Rust function pointer into the shared object.
    Typed,
    /// `Function::call` with `Value`s, through the classified fast path.
    Dynamic,
    /// `Function::call` with `Value`s, through libffi.
    Libffi,
    /// libffi's `ffi_call` on the same prepared interface, no checks: what the wrapper adds.
    FfiCall,
    /// A raw function pointer from libloading.
    Libloading,
    /// The `iconv` command in a subprocess (the conversion only).
    Subprocess,
}

impl Style {
    /// Every style, in report order.
    pub const ALL: [Style; 8] = [
        Style::Direct,
        Style::Api,
        Style::Typed,
        Style::Dynamic,
        Style::Libffi,
        Style::FfiCall,
        Style::Libloading,
        Style::Subprocess,
    ];

    /// A short, stable name (JSON, `--count`).
    pub fn key(self) -> &'static str {
        match self {
            Style::Direct => "direct",
            Style::Api => "api",
            Style::Typed => "typed",
            Style::Dynamic => "dynamic",
            Style::Libffi => "libffi",
            Style::FfiCall => "ffi_call",
            Style::Libloading => "libloading",
            Style::Subprocess => "subprocess",
        }
    }

    /// The name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Style::Direct => "direct static C",
            Style::Api => "API mode (bindgen)",
            Style::Typed => "ABI typed handle",
            // Without the x86-64 fast path, the default route is libffi with the scalar lanes.
            Style::Dynamic if ffikit_abi::FAST_PATH => "ABI dynamic, fast path",
            Style::Dynamic => "ABI dynamic, default route",
            Style::Libffi => "ABI dynamic, libffi",
            Style::FfiCall => "raw ffi_call, same cif",
            Style::Libloading => "raw libloading pointer",
            Style::Subprocess => "subprocess (iconv)",
        }
    }

    /// The style with this [`key`](Self::key).
    pub fn from_key(key: &str) -> Option<Style> {
        Style::ALL.into_iter().find(|s| s.key() == key)
    }
}

/// What can stop a comparison.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompareError {
    /// A style's result differs from the reference result.
    #[error("workload `{workload}`: style `{style}` gave a wrong result: {detail}")]
    WrongResult {
        /// The workload.
        workload: String,
        /// The style.
        style: &'static str,
        /// What differed.
        detail: String,
    },
    /// ABI mode could not bind a workload's function.
    #[error("ABI mode could not bind a workload's function")]
    Abi(#[from] ffikit_abi::Error),
    /// libloading could not open a library or find a symbol.
    #[error("libloading could not bind a workload's function")]
    Libloading(#[from] libloading::Error),
    /// A C call failed.
    #[error("workload `{workload}`: style `{style}` failed")]
    CallFailed {
        /// The workload.
        workload: String,
        /// The style.
        style: &'static str,
        /// The OS error (errno) or process error.
        #[source]
        source: std::io::Error,
    },
    /// The filter matched no workload.
    #[error("no workload matches `{0}` (workloads: {list})", list = WORKLOADS.join(", "))]
    NoWorkload(String),
    /// Counting instructions failed (valgrind missing, or its run failed).
    #[error("counting instructions: {0}")]
    Callgrind(String),
}

/// One timed (workload, style) pair.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// The workload's name.
    pub workload: String,
    /// The binding style.
    pub style: Style,
    /// Calls per timed batch.
    pub calls_per_batch: u64,
    /// Per-call time of each batch in nanoseconds (fractional: a call can take less than
    /// one), sorted.
    pub per_call_ns: Vec<f64>,
}

impl Measurement {
    /// The median per-call time, in nanoseconds.
    pub fn median_ns(&self) -> f64 {
        self.per_call_ns[self.per_call_ns.len() / 2]
    }

    /// (highest - lowest) / median.
    pub fn spread(&self) -> f64 {
        let (low, high) = (
            self.per_call_ns[0],
            self.per_call_ns[self.per_call_ns.len() - 1],
        );
        (high - low) / self.median_ns().max(f64::MIN_POSITIVE)
    }
}

/// A style unavailable for a workload, with the reason.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The workload's name.
    pub workload: String,
    /// The binding style.
    pub style: Style,
    /// Why it was not measured.
    pub reason: String,
}

/// Everything one run of `ffikit compare` measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Measured pairs, in workload order.
    pub measurements: Vec<Measurement>,
    /// Pairs that could not run here.
    pub skipped: Vec<Skipped>,
}

impl Report {
    /// The direct call's median for `workload`, the ratios' denominator.
    pub fn baseline_ns(&self, workload: &str) -> Option<f64> {
        self.measurements
            .iter()
            .find(|m| m.workload == workload && m.style == Style::Direct)
            .map(Measurement::median_ns)
    }

    /// A measurement's median relative to the direct call of the same workload.
    pub fn ratio(&self, measurement: &Measurement) -> Option<f64> {
        self.baseline_ns(&measurement.workload)
            .map(|base| measurement.median_ns() / base.max(f64::MIN_POSITIVE))
    }

    fn workloads(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for m in &self.measurements {
            if !names.contains(&m.workload.as_str()) {
                names.push(&m.workload);
            }
        }
        names
    }
}

/// Runs every selected workload in every available style.
///
/// # Errors
///
/// A style that gives a wrong result or fails, or a filter matching nothing.
pub fn run(options: &Options) -> Result<Report, CompareError> {
    let names = options.workloads();
    if names.is_empty() {
        return Err(CompareError::NoWorkload(
            options.filter.clone().unwrap_or_default(),
        ));
    }
    let libs = workloads::Libraries::open()?;
    let mut report = Report::default();
    for name in names {
        let bench = workloads::build(name, &libs)?;
        for (style, call) in bench.rows {
            let mut call = match checked(name, style, call, bench.expected) {
                Ok(call) => call,
                Err(Unavailable(reason)) => {
                    report.skipped.push(Skipped {
                        workload: name.into(),
                        style,
                        reason,
                    });
                    continue;
                }
            }?;
            report
                .measurements
                .push(measure(name, style, &mut call, options)?);
        }
    }
    Ok(report)
}

/// Why a style does not run for a workload (not an error: the report says so).
struct Unavailable(String);

/// Runs one verifying call and compares its fingerprint with the expected one.
fn checked<'a>(
    workload: &str,
    style: Style,
    call: Result<workloads::Call<'a>, String>,
    expected: u64,
) -> Result<Result<workloads::Call<'a>, CompareError>, Unavailable> {
    let mut call = call.map_err(Unavailable)?;
    match call(true) {
        Ok(got) if got == expected => Ok(Ok(call)),
        Ok(got) => Ok(Err(CompareError::WrongResult {
            workload: workload.into(),
            style: style.label(),
            detail: format!("fingerprint {got:#x}, expected {expected:#x}"),
        })),
        // The iconv command may be missing: the only style that may be absent.
        Err(error) if style == Style::Subprocess => Err(Unavailable(error.to_string())),
        Err(source) => Ok(Err(CompareError::CallFailed {
            workload: workload.into(),
            style: style.label(),
            source,
        })),
    }
}

fn measure(
    workload: &str,
    style: Style,
    call: &mut workloads::Call<'_>,
    options: &Options,
) -> Result<Measurement, CompareError> {
    let failed = |source| CompareError::CallFailed {
        workload: workload.into(),
        style: style.label(),
        source,
    };
    let mut batch = |calls: u64| -> Result<Duration, CompareError> {
        let start = Instant::now();
        for _ in 0..calls {
            std::hint::black_box(call(false).map_err(failed)?);
        }
        Ok(start.elapsed())
    };
    // Calibrate: double the batch until it takes long enough to time.
    let mut calls = 1u64;
    loop {
        let elapsed = batch(calls)?;
        if elapsed >= options.sample_time || calls >= 1 << 40 {
            break;
        }
        calls *= 2;
    }
    let mut per_call_ns = Vec::with_capacity(options.samples);
    for _ in 0..options.samples.max(1) {
        per_call_ns.push(batch(calls)?.as_secs_f64() * 1e9 / calls as f64);
    }
    per_call_ns.sort_by(f64::total_cmp);
    Ok(Measurement {
        workload: workload.into(),
        style,
        calls_per_batch: calls,
        per_call_ns,
    })
}

/// The report as a table: one row per (workload, style), ratio to the direct call.
pub fn render_table(report: &Report) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{:<11} {:<24} {:>11} {:>7} {:>10}",
        "workload", "style", "median", "spread", "vs direct"
    );
    for workload in report.workloads() {
        for m in report
            .measurements
            .iter()
            .filter(|m| m.workload == workload)
        {
            let ratio = report
                .ratio(m)
                .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x"));
            let _ = writeln!(
                text,
                "{:<11} {:<24} {:>11} {:>6.0}% {:>10}",
                m.workload,
                m.style.label(),
                format_ns(m.median_ns()),
                100.0 * m.spread(),
                ratio
            );
        }
        for s in report.skipped.iter().filter(|s| s.workload == workload) {
            let _ = writeln!(
                text,
                "{:<11} {:<24} {:>11}  not run: {}",
                s.workload,
                s.style.label(),
                "-",
                s.reason
            );
        }
    }
    text
}

/// The report as JSON: one object per measurement (times in nanoseconds) and per skip.
pub fn render_json(report: &Report) -> serde_json::Value {
    let measurements: Vec<serde_json::Value> = report
        .measurements
        .iter()
        .map(|m| {
            serde_json::json!({
                "workload": m.workload,
                "style": m.style.key(),
                "label": m.style.label(),
                "median_ns": m.median_ns(),
                "spread": m.spread(),
                "ratio_to_direct": report.ratio(m),
                "calls_per_batch": m.calls_per_batch,
                "per_call_ns": m.per_call_ns,
            })
        })
        .collect();
    serde_json::json!({
        "fixtures": describe_fixtures(),
        "measurements": measurements,
        "skipped": skipped_json(&report.skipped),
    })
}

/// Skipped pairs as JSON, for both reports.
fn skipped_json(skipped: &[Skipped]) -> Vec<serde_json::Value> {
    skipped
        .iter()
        .map(|s| serde_json::json!({"workload": s.workload, "style": s.style.key(), "reason": s.reason}))
        .collect()
}

/// The report as an SVG bar chart (log scale), one group of bars per workload.
pub fn render_svg(report: &Report) -> String {
    let groups: Vec<svg::Group> = report
        .workloads()
        .into_iter()
        .map(|workload| svg::Group {
            title: format!("{workload}: {}", describe(workload)),
            bars: report
                .measurements
                .iter()
                .filter(|m| m.workload == workload)
                .map(|m| svg::Bar {
                    label: m.style.label(),
                    value: m.median_ns(),
                    text: match report.ratio(m) {
                        Some(r) => format!("{} ({r:.2}x)", format_ns(m.median_ns())),
                        None => format_ns(m.median_ns()),
                    },
                    baseline: m.style == Style::Direct,
                })
                .collect(),
        })
        .collect();
    svg::chart(
        "ffikit compare: median time per call (log scale; ratio to direct static C)",
        &groups,
    )
}

pub(crate) fn format_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// Where the fixtures came from, for the report's first line.
pub fn describe_fixtures() -> String {
    let bindings = match fixtures::BINDINGS_ORIGIN {
        "generated" => "generated by bindgen in this build",
        _ => "copied from c-fixtures/bindings.rs (no libclang)",
    };
    format!(
        "fixtures: API-mode bindings {bindings}; shared object for ABI mode: {}",
        fixtures::SHARED_OBJECT
    )
}
