//! Workloads and binding styles behind `ffikit compare`: the same C work done through each way
//! of calling it, timed side by side.
//!
//! Each (workload, style) pair is a closure doing one call. It is calibrated to run in batches
//! long enough for the clock (`--sample-ms`), and the per-call time of each batch is recorded;
//! the table shows the median, the spread (lowest to highest batch, relative to the median) and
//! the ratio to the fastest style of the same workload. Before timing, every style's result is
//! checked against an independent one (Rust's own Latin-1 decoding, Rust's gcd), so a fast but
//! wrong style cannot win.

use std::fmt::Write as _;
use std::hint::black_box;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ffikit_abi::Value;

use crate::fixtures::{self, sys};

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
    /// ABI mode could not bind the fixtures.
    #[error("ABI mode could not bind the fixtures")]
    Abi(#[from] ffikit_abi::Error),
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
    #[error("no workload matches `{0}` (workloads: gcd, get_pi, utf8-100B, utf8-10MiB)")]
    NoWorkload(String),
}

/// One timed (workload, style) pair.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// The workload's name.
    pub workload: String,
    /// The binding style.
    pub style: &'static str,
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

/// A style unavailable on this machine (e.g. no `iconv` command), with the reason.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The workload's name.
    pub workload: String,
    /// The binding style.
    pub style: &'static str,
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

const API: &str = "API mode (bindgen, static)";
const TYPED: &str = "ABI typed handle (.so)";
const DYNAMIC: &str = "ABI dynamic, fast path (.so)";
const LIBFFI: &str = "ABI dynamic, libffi (.so)";
const SUBPROCESS: &str = "subprocess (iconv command)";

type Call<'a> = Box<dyn FnMut() -> Result<(), std::io::Error> + 'a>;

/// Runs every workload in every available style.
///
/// # Errors
///
/// A style that gives a wrong result or fails, or a filter matching nothing.
pub fn run(options: &Options) -> Result<Report, CompareError> {
    let wanted = |name: &str| options.filter.as_deref().is_none_or(|f| name.contains(f));
    let mut report = Report::default();
    // ABI mode binds the same fixtures, built as a shared object, from their own manifest.
    let library = ffikit_abi::Library::open_described(fixtures::SHARED_OBJECT)?;

    if wanted("gcd") {
        let check = gcd_reference(1071, 462);
        // SAFETY: gcd takes two ints and touches no memory.
        let got = unsafe { sys::gcd(1071, 462) };
        expect("gcd", API, got == check, || {
            format!("{got}, expected {check}")
        })?;
        let call: Call = Box::new(|| {
            // SAFETY: as above.
            black_box(unsafe { sys::gcd(black_box(1071), black_box(462)) });
            Ok(())
        });
        report
            .measurements
            .push(measure("gcd", API, call, options)?);

        let dynamic = library.get("gcd")?;
        let typed = dynamic.typed::<unsafe extern "C" fn(i32, i32) -> i32>()?;
        // SAFETY: the typed handle was checked against gcd's declaration.
        let got = unsafe { (*typed)(1071, 462) };
        expect("gcd", TYPED, got == check, || {
            format!("{got}, expected {check}")
        })?;
        let call: Call = Box::new(|| {
            // SAFETY: as above.
            black_box(unsafe { (*typed)(black_box(1071), black_box(462)) });
            Ok(())
        });
        report
            .measurements
            .push(measure("gcd", TYPED, call, options)?);

        let args = [Value::Int(1071), Value::Int(462)];
        let got = dynamic.call(&args)?;
        expect("gcd", DYNAMIC, got == Value::Int(check.into()), || {
            format!("{got}")
        })?;
        let call: Call = Box::new(|| {
            black_box(
                dynamic
                    .call(black_box(&args))
                    .map_err(std::io::Error::other)?,
            );
            Ok(())
        });
        report
            .measurements
            .push(measure("gcd", DYNAMIC, call, options)?);

        let reference = library.get("gcd")?.use_libffi();
        let call: Call = Box::new(|| {
            black_box(
                reference
                    .call(black_box(&args))
                    .map_err(std::io::Error::other)?,
            );
            Ok(())
        });
        report
            .measurements
            .push(measure("gcd", LIBFFI, call, options)?);
    }

    if wanted("get_pi") {
        // SAFETY: get_pi takes nothing and returns a double.
        let got = unsafe { sys::get_pi() };
        let pi = std::f64::consts::PI;
        expect("get_pi", API, got == pi, || format!("{got}, expected {pi}"))?;
        let call: Call = Box::new(|| {
            // SAFETY: as above.
            black_box(unsafe { sys::get_pi() });
            Ok(())
        });
        report
            .measurements
            .push(measure("get_pi", API, call, options)?);

        let dynamic = library.get("get_pi")?;
        let typed = dynamic.typed::<unsafe extern "C" fn() -> f64>()?;
        let call: Call = Box::new(|| {
            // SAFETY: the typed handle was checked against get_pi's declaration.
            black_box(unsafe { (*typed)() });
            Ok(())
        });
        report
            .measurements
            .push(measure("get_pi", TYPED, call, options)?);
        let got = dynamic.call(&[])?;
        expect("get_pi", DYNAMIC, got == Value::Float(pi), || {
            format!("{got}")
        })?;
        let call: Call = Box::new(|| {
            black_box(dynamic.call(&[]).map_err(std::io::Error::other)?);
            Ok(())
        });
        report
            .measurements
            .push(measure("get_pi", DYNAMIC, call, options)?);

        let reference = library.get("get_pi")?.use_libffi();
        let call: Call = Box::new(|| {
            black_box(reference.call(&[]).map_err(std::io::Error::other)?);
            Ok(())
        });
        report
            .measurements
            .push(measure("get_pi", LIBFFI, call, options)?);
    }

    for (name, size) in [("utf8-100B", 100), ("utf8-10MiB", 10 << 20)] {
        if wanted(name) {
            compare_conversion(name, size, &library, options, &mut report)?;
        }
    }

    if report.measurements.is_empty() && report.skipped.is_empty() {
        return Err(CompareError::NoWorkload(
            options.filter.clone().unwrap_or_default(),
        ));
    }
    Ok(report)
}

fn compare_conversion(
    name: &str,
    size: usize,
    library: &ffikit_abi::Library,
    options: &Options,
    report: &mut Report,
) -> Result<(), CompareError> {
    // Latin-1 text with every byte value, so about half the input needs two UTF-8 bytes.
    let input: Vec<u8> = (0..size).map(|k| (k * 7 % 256) as u8).collect();
    let expected: String = input.iter().map(|&b| char::from(b)).collect();
    let mut out = vec![0u8; 2 * size];

    let written =
        convert_in_process(&input, &mut out).map_err(|source| CompareError::CallFailed {
            workload: name.into(),
            style: API,
            source,
        })?;
    expect(name, API, &out[..written] == expected.as_bytes(), || {
        "output differs from Rust's Latin-1 decoding".into()
    })?;
    let call: Call = Box::new(|| convert_in_process(black_box(&input), &mut out).map(drop));
    report.measurements.push(measure(name, API, call, options)?);

    // ABI mode: the same buffers, passed by address (no copies).
    let convert = library.get("ffikit_convert_to_utf8")?.capture_errno();
    let mut abi_out = vec![0u8; 2 * size];
    let args = [
        Value::Str("LATIN1".into()),
        Value::Pointer(input.as_ptr() as usize),
        Value::UInt(input.len() as u64),
        Value::Pointer(abi_out.as_mut_ptr() as usize),
        Value::UInt(abi_out.len() as u64),
    ];
    let abi_call = || match convert.call(&args) {
        Ok(Value::Int(written)) if written >= 0 => Ok(written as usize),
        Ok(_) => Err(std::io::Error::from_raw_os_error(ffikit_abi::last_errno())),
        Err(error) => Err(std::io::Error::other(error)),
    };
    let written = abi_call().map_err(|source| CompareError::CallFailed {
        workload: name.into(),
        style: DYNAMIC,
        source,
    })?;
    expect(
        name,
        DYNAMIC,
        abi_out[..written] == *expected.as_bytes(),
        || "output differs from Rust's Latin-1 decoding".into(),
    )?;
    let call: Call = Box::new(|| abi_call().map(drop));
    report
        .measurements
        .push(measure(name, DYNAMIC, call, options)?);

    match convert_in_subprocess(&input) {
        Ok(output) => {
            expect(name, SUBPROCESS, output == expected.as_bytes(), || {
                "output differs from Rust's Latin-1 decoding".into()
            })?;
            let call: Call = Box::new(|| convert_in_subprocess(black_box(&input)).map(drop));
            report
                .measurements
                .push(measure(name, SUBPROCESS, call, options)?);
        }
        Err(error) => report.skipped.push(Skipped {
            workload: name.into(),
            style: SUBPROCESS,
            reason: error.to_string(),
        }),
    }
    Ok(())
}

/// Latin-1 → UTF-8 through the fixture's iconv wrapper, statically linked.
fn convert_in_process(input: &[u8], out: &mut [u8]) -> Result<usize, std::io::Error> {
    static LATIN1: &std::ffi::CStr = c"LATIN1";
    // SAFETY: the encoding is NUL-terminated; input and out are live buffers of these lengths.
    let written = unsafe {
        sys::ffikit_convert_to_utf8(
            LATIN1.as_ptr(),
            input.as_ptr().cast(),
            input.len(),
            out.as_mut_ptr().cast(),
            out.len(),
        )
    };
    usize::try_from(written).map_err(|_| std::io::Error::last_os_error())
}

/// Latin-1 → UTF-8 by the system's `iconv` command: the "shell out" way.
fn convert_in_subprocess(input: &[u8]) -> Result<Vec<u8>, std::io::Error> {
    let mut child = Command::new("iconv")
        .args(["-f", "LATIN1", "-t", "UTF-8"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = child.stdout.take().expect("piped stdout");
    // Write and read at once: a large input would fill both pipes and deadlock otherwise.
    let output = std::thread::scope(|scope| {
        let writer = scope.spawn(move || stdin.write_all(input));
        let mut output = Vec::with_capacity(input.len() * 2);
        let read = stdout.read_to_end(&mut output);
        let written = writer.join().expect("the writer thread does not panic");
        read.and(written).map(|()| output)
    })?;
    let status = child.wait()?;
    if !status.success() {
        return Err(std::io::Error::other(format!("iconv exited with {status}")));
    }
    Ok(output)
}

fn gcd_reference(mut a: i32, mut b: i32) -> i32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.abs()
}

fn expect(
    workload: &str,
    style: &'static str,
    ok: bool,
    detail: impl FnOnce() -> String,
) -> Result<(), CompareError> {
    if ok {
        Ok(())
    } else {
        Err(CompareError::WrongResult {
            workload: workload.into(),
            style,
            detail: detail(),
        })
    }
}

fn measure(
    workload: &str,
    style: &'static str,
    mut call: Call,
    options: &Options,
) -> Result<Measurement, CompareError> {
    let failed = |source| CompareError::CallFailed {
        workload: workload.into(),
        style,
        source,
    };
    let mut batch = |calls: u64| -> Result<Duration, CompareError> {
        let start = Instant::now();
        for _ in 0..calls {
            call().map_err(failed)?;
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

/// The report as a table: one row per (workload, style), ratio to the workload's fastest.
pub fn render_table(report: &Report) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{:<12} {:<28} {:>12} {:>8} {:>11}",
        "workload", "style", "per call", "spread", "vs fastest"
    );
    let mut workloads: Vec<&str> = Vec::new();
    for m in &report.measurements {
        if !workloads.contains(&m.workload.as_str()) {
            workloads.push(&m.workload);
        }
    }
    for workload in workloads {
        let rows: Vec<&Measurement> = report
            .measurements
            .iter()
            .filter(|m| m.workload == workload)
            .collect();
        let fastest = rows
            .iter()
            .map(|m| m.median_ns())
            .fold(f64::INFINITY, f64::min);
        for m in rows {
            let ratio = m.median_ns() / fastest.max(f64::MIN_POSITIVE);
            let _ = writeln!(
                text,
                "{:<12} {:<28} {:>12} {:>7.0}% {:>10.2}x",
                m.workload,
                m.style,
                format_ns(m.median_ns()),
                100.0 * m.spread(),
                ratio
            );
        }
    }
    for s in &report.skipped {
        let _ = writeln!(
            text,
            "{:<12} {:<28} {:>12}  skipped: {}",
            s.workload, s.style, "-", s.reason
        );
    }
    text
}

fn format_ns(ns: f64) -> String {
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
