//! `ffikit compare`: the same C work done through every way of calling it, side by side.
//!
//! # Organization
//!
//! - [`workloads`]: each workload bound every way (direct static C, bindgen's API mode, the
//!   ABI typed handle, the ABI dynamic call through the fast path and through libffi, raw
//!   `ffi_call` on the same prepared interface, a raw libloading pointer, and a subprocess
//!   for the conversion), each checked against a result Rust computes on its own before it
//!   is measured, so a fast but wrong style cannot win.
//! - this module: the timing — the styles of one workload timed in alternation, batch by
//!   batch (A B C A B C ...), each batch calibrated to `--sample-ms`, and every ratio to the
//!   direct call taken round by round and summarized by its median and range, so the
//!   machine's speed drifting during a run cancels out — and the report as a table (with a
//!   legend and the whole picture of each style), JSON and an SVG chart;
//! - [`callgrind`]: instructions per call counted under `valgrind --tool=callgrind`, two runs
//!   of different call counts differenced, since time on a shared machine is noisy.

pub mod callgrind;
mod harness;
pub mod own;
mod own_python;
pub mod python;
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
    /// `Pool::scope`: every call a future on a worker thread, all awaited.
    Async,
    /// `IsolatedLibrary`: the dynamic call made in a worker process over shared memory.
    Isolated,
    /// A command in a subprocess per call (`iconv`, `sleep`): the shell-out way.
    Subprocess,
}

impl Style {
    /// Every style, in report order.
    pub const ALL: [Style; 10] = [
        Style::Direct,
        Style::Api,
        Style::Typed,
        Style::Dynamic,
        Style::Libffi,
        Style::FfiCall,
        Style::Libloading,
        Style::Async,
        Style::Isolated,
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
            Style::Async => "async",
            Style::Isolated => "isolated",
            Style::Subprocess => "subprocess",
        }
    }

    /// The name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Style::Direct => "direct C",
            Style::Api => "API mode (static Rust)",
            Style::Typed => "ABI typed handle",
            // Without the x86-64 fast path, the default route is libffi with the scalar lanes.
            Style::Dynamic if ffikit_abi::FAST_PATH => "ABI dynamic, fast path",
            Style::Dynamic => "ABI dynamic, default route",
            Style::Libffi => "ABI dynamic, libffi",
            Style::FfiCall => "raw ffi_call, same cif",
            Style::Libloading => "raw libloading pointer",
            Style::Async => "ABI futures, one scope",
            Style::Isolated => "isolated worker process",
            Style::Subprocess => "subprocess per call",
        }
    }

    /// What the style is, for the legend.
    pub fn description(self) -> &'static str {
        match self {
            Style::Direct => {
                "the function declared by hand in Rust, the C linked into the program: the baseline"
            }
            Style::Api => "bindgen's declarations of the same static C (CFFI's API mode)",
            Style::Typed => {
                "Function::typed: a Rust function pointer into the .so, its type checked once"
            }
            Style::Dynamic => {
                "Function::call with Values, every argument checked, by the default route"
            }
            Style::Libffi => "Function::call with Values, every argument checked, through libffi",
            Style::FfiCall => {
                "libffi's ffi_call on the same prepared interface, unchecked: what checks add"
            }
            Style::Libloading => "a function pointer from libloading, its type the caller's word",
            Style::Async => {
                "Pool::scope: the dynamic calls as futures on worker threads (64 for blocking calls, one per core for CPU work), all awaited"
            }
            Style::Isolated => {
                "IsolatedLibrary: the dynamic call, checked here, made by a worker process over shared memory (a crash, exit or hang in C is an error); buffers copied in and out once"
            }
            Style::Subprocess => "a command (iconv, sleep) run once per call (the shell-out way)",
        }
    }

    /// What the style is when comparing the user's own function, for the legend.
    pub fn own_description(self) -> &'static str {
        match self {
            Style::Direct => {
                "a C harness generated from the declaration and compiled by cc, calling the function in a loop (its address loaded once): the floor"
            }
            Style::Api => {
                "static Rust bindings generated from the declaration (an extern block, #[repr(C)] records), built by cargo, linked to the library (CFFI's API mode)"
            }
            Style::Typed => {
                "Function::typed in the same Rust harness: ffikit-abi binds the declaration at run time, checks the Rust fn type once"
            }
            Style::Subprocess => "the --command run once per call, the call's input on its stdin",
            other => other.description(),
        }
    }

    /// What the style needs when comparing the user's own function.
    pub fn own_needs(self) -> (&'static str, &'static str) {
        match self {
            Style::Direct => ("a C compiler, the header", "the .so"),
            Style::Api => ("a Rust toolchain (or bindgen's output)", "the .so"),
            Style::Typed => ("nothing but the Rust fn type", "the .so"),
            Style::Subprocess => ("nothing", "the command"),
            other => other.needs(),
        }
    }

    /// What the style needs at build time and at run time.
    pub fn needs(self) -> (&'static str, &'static str) {
        match self {
            Style::Direct => ("a C compiler", "nothing (linked in)"),
            Style::Api => (
                "a C compiler, libclang (or ffikit-gen without it)",
                "nothing (linked in)",
            ),
            Style::Typed | Style::Dynamic | Style::Libffi | Style::FfiCall => {
                ("nothing", "the .so (and libffi, built in)")
            }
            Style::Libloading => ("nothing", "the .so"),
            Style::Async => ("nothing", "the .so (and libffi, built in), worker threads"),
            Style::Isolated => ("nothing", "the .so, a worker process (this program again)"),
            Style::Subprocess => ("nothing", "the command (iconv, sleep)"),
        }
    }

    /// What the style checks before a call, when it is not found by trying (the dynamic
    /// styles' checks are probed: [`Facts::checks`]).
    fn static_checks(self) -> &'static str {
        match self {
            Style::Direct | Style::Api | Style::Typed | Style::Libloading => {
                "arity and types at compile time (Rust's; ranges by the types themselves)"
            }
            Style::FfiCall => "none (raw argument pointers)",
            Style::Subprocess => "none (text)",
            Style::Async => "the dynamic call's, on the worker",
            Style::Isolated => "the dynamic call's, in this process before sending",
            Style::Dynamic | Style::Libffi => "",
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
    /// The call as `ffikit call` reads it was refused (declaration, arguments).
    #[error(transparent)]
    Call(Box<crate::call::CallError>),
    /// An argument could not be stored as its parameter's C type.
    #[error("argument {index}")]
    Argument {
        /// 1-based position.
        index: usize,
        /// Why.
        #[source]
        source: Box<ffikit_abi::Error>,
    },
    /// What the comparison cannot do for this function, and why.
    #[error("cannot compare: {0}")]
    Unsupported(String),
    /// The direct call's C harness could not be built (no compiler, or it does not compile).
    #[error("{0}")]
    Harness(String),
    /// The Python comparison could not run, or a Python style gave a wrong result.
    #[error("{0}")]
    Python(String),
}

impl From<crate::call::CallError> for CompareError {
    fn from(error: crate::call::CallError) -> Self {
        CompareError::Call(Box::new(error))
    }
}

/// A timed batch: `n` calls of one style.
pub(crate) type Batch<'a> = Box<dyn FnMut(u64) -> Result<(), std::io::Error> + 'a>;

/// A ratio's range wider than this share of its median cannot be concluded from: the table
/// says so.
pub const INCONCLUSIVE_SPREAD: f64 = 0.25;

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
    /// This style's time over the direct call's in the same round, one per round, sorted
    /// (empty when the workload has no direct call).
    pub ratios: Vec<f64>,
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

/// The whole picture of one style, beside its speed: what it needs, what binding costs,
/// what it checks, what it can express.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The style.
    pub style: Style,
    /// What it needs at build time and at run time.
    pub needs: (&'static str, &'static str),
    /// Opening the .so and binding one function, in nanoseconds (None: linked at build time,
    /// or a process per call).
    pub binding_ns: Option<f64>,
    /// What is refused before C runs: probed for the dynamic styles, else by construction.
    pub checks: String,
    /// Features and whether this run measured the style doing them (None: not run here).
    pub expresses: Vec<(&'static str, Option<bool>)>,
}

/// Everything one run of `ffikit compare` measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Measured pairs, in workload order.
    pub measurements: Vec<Measurement>,
    /// Pairs that could not run here.
    pub skipped: Vec<Skipped>,
    /// Each style's whole picture.
    pub facts: Vec<Facts>,
    /// What was compared, when not the fixtures: the user's call.
    pub subject: Option<String>,
    /// What the user's call returned (the direct call's result, every style's too).
    pub result: Option<String>,
    /// The user's call from Python (`--python`): compare.py's report.
    pub python: Option<serde_json::Value>,
}

impl Report {
    /// The direct call's median for `workload`, the ratios' denominator.
    pub fn baseline_ns(&self, workload: &str) -> Option<f64> {
        self.measurements
            .iter()
            .find(|m| m.workload == workload && m.style == Style::Direct)
            .map(Measurement::median_ns)
    }

    /// A measurement relative to the direct call of the same workload: the median of the
    /// ratios taken round by round (both measured back to back in each round).
    pub fn ratio(&self, measurement: &Measurement) -> Option<f64> {
        let ratios = &measurement.ratios;
        (!ratios.is_empty()).then(|| ratios[ratios.len() / 2])
    }

    /// The lowest and highest of those per-round ratios.
    pub fn ratio_range(&self, measurement: &Measurement) -> Option<(f64, f64)> {
        let ratios = &measurement.ratios;
        Some((*ratios.first()?, *ratios.last()?))
    }

    /// Whether the per-round ratios spread too widely to conclude from (more than
    /// [`INCONCLUSIVE_SPREAD`] of their median).
    pub fn inconclusive(&self, measurement: &Measurement) -> bool {
        match (self.ratio(measurement), self.ratio_range(measurement)) {
            (Some(median), Some((low, high))) => (high - low) / median > INCONCLUSIVE_SPREAD,
            _ => false,
        }
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
        let mut calls: Vec<(Style, Batch<'_>)> = Vec::new();
        for (style, call) in bench.rows {
            match checked(name, style, call, bench.expected) {
                Ok(call) => {
                    let mut call = call?;
                    let batch: Batch<'_> = Box::new(move |n| {
                        for _ in 0..n {
                            std::hint::black_box(call(false)?);
                        }
                        Ok(())
                    });
                    calls.push((style, batch));
                }
                Err(Unavailable(reason)) => report.skipped.push(Skipped {
                    workload: name.into(),
                    style,
                    reason,
                }),
            }
        }
        report
            .measurements
            .extend(measure_together(name, &mut calls, options)?);
    }
    report.facts = facts(&report, &workloads::probe_checks(&libs)?);
    Ok(report)
}

/// Features, each shown by a workload: a style can express it when that workload ran in it.
const FEATURES: [(&str, &str); 4] = [
    ("structs by value", "struct16"),
    ("variadics", "snprintf"),
    ("callbacks", "sort"),
    ("strings", "strlen"),
];

fn facts(report: &Report, probed: &[(&'static str, bool)]) -> Vec<Facts> {
    Style::ALL
        .into_iter()
        .filter(|style| *style != Style::Subprocess)
        .map(|style| {
            let checks = match style {
                Style::Dynamic | Style::Libffi => probed
                    .iter()
                    .filter(|(_, refused)| *refused)
                    .map(|(check, _)| *check)
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.static_checks().to_owned(),
            };
            let expresses = FEATURES
                .iter()
                .map(|(feature, workload)| {
                    let ran = report
                        .measurements
                        .iter()
                        .any(|m| m.workload == *workload && m.style == style);
                    let skipped = report
                        .skipped
                        .iter()
                        .any(|s| s.workload == *workload && s.style == style);
                    (*feature, (ran || skipped).then_some(ran))
                })
                .collect();
            Facts {
                style,
                needs: style.needs(),
                binding_ns: workloads::binding_cost(style),
                checks,
                expresses,
            }
        })
        .collect()
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

/// Times every style of one workload in alternation: each style's batch is calibrated on its
/// own, then each round times one batch of every style, starting with a different style each
/// round, and each style's ratio to the direct call is taken within the round.
fn measure_together(
    workload: &str,
    calls: &mut [(Style, Batch<'_>)],
    options: &Options,
) -> Result<Vec<Measurement>, CompareError> {
    let batch = |style: Style, call: &mut Batch<'_>, n: u64| {
        let start = Instant::now();
        call(n).map_err(|source| CompareError::CallFailed {
            workload: workload.into(),
            style: style.label(),
            source,
        })?;
        Ok::<_, CompareError>(start.elapsed())
    };
    // Calibrate: double each style's batch until it takes long enough to time.
    let mut sizes = Vec::with_capacity(calls.len());
    for (style, call) in calls.iter_mut() {
        let mut n = 1u64;
        while batch(*style, call, n)? < options.sample_time && n < 1 << 40 {
            n *= 2;
        }
        sizes.push(n);
    }
    let rounds = options.samples.max(1);
    let mut times = vec![Vec::with_capacity(rounds); calls.len()];
    for round in 0..rounds {
        for k in 0..calls.len() {
            let index = (k + round) % calls.len();
            let (style, call) = &mut calls[index];
            let elapsed = batch(*style, call, sizes[index])?;
            times[index].push(elapsed.as_secs_f64() * 1e9 / sizes[index] as f64);
        }
    }
    let direct = calls.iter().position(|(style, _)| *style == Style::Direct);
    Ok(calls
        .iter()
        .zip(sizes)
        .zip(&times)
        .map(|(((style, _), calls_per_batch), per_round)| {
            let mut ratios: Vec<f64> = match direct {
                Some(d) => per_round
                    .iter()
                    .zip(&times[d])
                    .map(|(t, base)| t / base.max(f64::MIN_POSITIVE))
                    .collect(),
                None => Vec::new(),
            };
            ratios.sort_by(f64::total_cmp);
            let mut per_call_ns = per_round.clone();
            per_call_ns.sort_by(f64::total_cmp);
            Measurement {
                workload: workload.into(),
                style: *style,
                calls_per_batch,
                per_call_ns,
                ratios,
            }
        })
        .collect())
}

/// The report as a table: one row per (workload, style), ratio to the direct call.
pub fn render_table(report: &Report) -> String {
    let mut text = String::new();
    let width = report
        .workloads()
        .iter()
        .map(|w| w.len())
        .max()
        .unwrap_or(0)
        .max(11);
    let _ = writeln!(
        text,
        "{:<width$} {:<24} {:>11} {:>7} {:>10}  ratio range",
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
            let range = match report.ratio_range(m) {
                Some((low, high)) if m.style != Style::Direct => {
                    let warning = if report.inconclusive(m) {
                        "  (too spread to conclude)"
                    } else {
                        ""
                    };
                    format!("{low:.2}-{high:.2}x{warning}")
                }
                _ => String::new(),
            };
            let _ = writeln!(
                text,
                "{:<width$} {:<24} {:>11} {:>6.0}% {:>10}  {}",
                m.workload,
                m.style.label(),
                format_ns(m.median_ns()),
                100.0 * m.spread(),
                ratio,
                range
            );
        }
        for s in report.skipped.iter().filter(|s| s.workload == workload) {
            let _ = writeln!(
                text,
                "{:<width$} {:<24} {:>11}  not run: {}",
                s.workload,
                s.style.label(),
                "-",
                s.reason
            );
        }
    }
    text
}

/// What the columns mean, for the text output.
pub fn render_legend(report: &Report, options: &Options) -> String {
    let mut text = String::from("\nlegend:\n");
    for style in Style::ALL {
        let description = match report.subject {
            Some(_) if !report.facts.iter().any(|f| f.style == style) => continue,
            Some(_) => style.own_description(),
            None => style.description(),
        };
        let _ = writeln!(text, "  {:<24} {description}", style.label());
    }
    let rows = [
        (
            "median",
            format!(
                "the median time per call over {} batches (each calibrated to take at least {} ms)",
                options.samples,
                options.sample_time.as_millis()
            ),
        ),
        (
            "spread",
            "(slowest batch - fastest) / median, for the style alone".to_owned(),
        ),
        (
            "vs direct",
            format!(
                "the style's time over the direct call's, taken round by round: the styles of a \
                 workload are timed in alternation, so the machine speeding up or slowing down \
                 during the run moves both; the median of the {} rounds' ratios",
                options.samples
            ),
        ),
        (
            "ratio range",
            format!(
                "the lowest and highest of those ratios; wider than {:.0}% of the median is too \
                 spread to conclude (rerun, or count instructions: --callgrind)",
                100.0 * INCONCLUSIVE_SPREAD
            ),
        ),
    ];
    for (column, meaning) in rows {
        let _ = writeln!(text, "  {column:<24} {meaning}");
    }
    text
}

/// The whole picture as a table: needs, binding cost, checks, what each style expresses.
pub fn render_facts(report: &Report) -> String {
    let mut text = String::from("\nthe whole picture:\n");
    let _ = writeln!(
        text,
        "{:<24} {:<48} {:<34} {:>10}",
        "style", "needs at build time", "needs at run time", "binding"
    );
    for facts in &report.facts {
        let (build, run) = facts.needs;
        let binding = facts.binding_ns.map_or_else(|| "-".to_owned(), format_ns);
        let _ = writeln!(
            text,
            "{:<24} {:<48} {:<34} {:>10}",
            facts.style.label(),
            build,
            run,
            binding
        );
    }
    let _ = writeln!(
        text,
        "\n{:<24} checked before the call / expresses",
        "style"
    );
    for facts in &report.facts {
        let expresses: Vec<String> = facts
            .expresses
            .iter()
            .map(|(feature, can)| match can {
                Some(true) => format!("{feature}: yes"),
                Some(false) => format!("{feature}: no"),
                None => format!("{feature}: not run"),
            })
            .collect();
        let _ = writeln!(
            text,
            "{:<24} {}\n{:<24} {}",
            facts.style.label(),
            facts.checks,
            "",
            expresses.join(", ")
        );
    }
    let note = match &report.subject {
        Some(_) => {
            "(binding: opening the .so and binding the function from its declaration, measured; \
             the dynamic styles' checks as ABI mode documents them)"
        }
        None => {
            "(binding: opening the .so and binding `int gcd(int, int)`, measured; checks of the \
             dynamic styles found by calling with one bad argument each)"
        }
    };
    let _ = writeln!(text, "{note}");
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
                "ratio_range": report.ratio_range(m).map(|(low, high)| [low, high]),
                "inconclusive": report.inconclusive(m),
                "calls_per_batch": m.calls_per_batch,
                "per_call_ns": m.per_call_ns,
            })
        })
        .collect();
    let facts: Vec<serde_json::Value> = report
        .facts
        .iter()
        .map(|f| {
            let (build, run) = f.needs;
            serde_json::json!({
                "style": f.style.key(),
                "needs_at_build_time": build,
                "needs_at_run_time": run,
                "binding_ns": f.binding_ns,
                "checks": f.checks,
                "expresses": f.expresses.iter().map(|(feature, can)| (feature.to_string(), serde_json::json!(can))).collect::<serde_json::Map<_, _>>(),
            })
        })
        .collect();
    serde_json::json!({
        "fixtures": report.subject.is_none().then(describe_fixtures),
        "subject": report.subject,
        "result": report.result,
        "python": report.python,
        "measurements": measurements,
        "skipped": skipped_json(&report.skipped),
        "facts": facts,
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
                    text: match (report.ratio(m), report.ratio_range(m)) {
                        (Some(r), Some((low, high))) if m.style != Style::Direct => format!(
                            "{} ({r:.2}x, {low:.2}-{high:.2}x)",
                            format_ns(m.median_ns())
                        ),
                        _ => format_ns(m.median_ns()),
                    },
                    baseline: m.style == Style::Direct,
                })
                .collect(),
        })
        .collect();
    svg::chart(
        "ffikit compare: median time per call (log scale; ratio to the direct C call, its median and range over paired rounds)",
        &groups,
        &render_facts(report)
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>(),
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
        "bindgen" => "generated by bindgen in this build",
        _ => "generated by ffikit-gen in this build (no libclang)",
    };
    format!(
        "fixtures: API-mode bindings {bindings}; shared object for ABI mode: {}",
        fixtures::SHARED_OBJECT
    )
}
