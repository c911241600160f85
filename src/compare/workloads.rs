//! The workloads: the same C work bound every way, each way checked against a result Rust
//! computes on its own before anything is timed or counted.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::hint::black_box;
use std::io::{Read, Write};
use std::process::{Command, Stdio};

use ffikit_abi::{Function, IsolatedFunction, IsolatedLibrary, IsolatedOptions, Library, Value};

use super::{CompareError, Style};
use crate::fixtures::{self, libc_sys, sys};

/// Whether a call should compute its full fingerprint (the output's bytes too), or only the
/// cheap part (the return value) while it is being timed.
pub type Verify = bool;

/// One call of one workload in one style. It returns a fingerprint of what C computed.
pub type Call<'a> = Box<dyn FnMut(Verify) -> Result<u64, std::io::Error> + 'a>;

/// Every workload, in report order.
pub const WORKLOADS: &[&str] = &[
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
    "blocking64",
    "sort64",
];

/// What each workload does, for the report.
pub fn describe(workload: &str) -> &'static str {
    match workload {
        "gcd" => "gcd(1071, 462): two ints in, one out",
        "get_pi" => "get_pi(): no arguments, a double out",
        "mixed6" => "mixed_six(int8, double, int32, float, int64, double): six registers",
        "spill14" => "spill14(14 x int64): eight of them on the stack",
        "struct16" => {
            "sum_s_int64x2(struct of 16 bytes) by value, in two registers (dynamic rows: a C object, Value::Data)"
        }
        "struct32" => {
            "sum_s_double4(struct of 32 bytes) by value, on the stack (dynamic rows: a C object, Value::Data)"
        }
        "struct16-members" => {
            "struct16 with the dynamic rows' struct given as member values, by position"
        }
        "struct32-members" => {
            "struct32 with the dynamic rows' struct given as member values, by position"
        }
        "strlen" => "libc strlen on a 34-byte C string (dynamic rows: a Value::CString, made once)",
        "strlen-copy" => {
            "libc strlen on a 34-byte runtime string (dynamic rows: a Value::Str, checked and copied per call)"
        }
        "snprintf" => "libc snprintf(buf, 64, \"%d-%s-%.3f\", ...) through varargs",
        "sort" => "libc qsort of 1,000 ints with a comparator callback",
        "utf8-100B" => "Latin-1 to UTF-8 (iconv) of 100 bytes",
        "utf8-10MiB" => "Latin-1 to UTF-8 (iconv) of 10 MiB",
        "blocking64" => "64 calls of libc usleep(10 ms): a C call that blocks",
        "sort64" => "64 arrays of 20,000 ints sorted by the fixtures' sort_ints (CPU-bound C)",
        _ => "",
    }
}

/// Calls for the instruction count's two runs: few enough to stay quick under callgrind,
/// different enough that the difference is many calls.
pub fn counted_calls(workload: &str) -> (u64, u64) {
    match workload {
        "utf8-10MiB" | "blocking64" | "sort64" => (1, 3),
        "sort" => (5, 25),
        "utf8-100B" | "snprintf" => (200, 2_200),
        _ => (1_000, 11_000),
    }
}

/// The "direct static C" style: the fixtures' functions declared by hand, as a C
/// programmer's header would, linked statically like the bindgen ones.
mod direct {
    use super::sys;
    use std::ffi::{c_char, c_int};

    unsafe extern "C" {
        pub fn gcd(x: c_int, y: c_int) -> c_int;
        pub fn get_pi() -> f64;
        pub fn mixed_six(a: i8, b: f64, c: i32, d: f32, e: i64, f: f64) -> f64;
        #[allow(
            clippy::too_many_arguments,
            reason = "the workload is a 14-argument call"
        )]
        pub fn spill14(
            a1: i64,
            a2: i64,
            a3: i64,
            a4: i64,
            a5: i64,
            a6: i64,
            a7: i64,
            a8: i64,
            a9: i64,
            a10: i64,
            a11: i64,
            a12: i64,
            a13: i64,
            a14: i64,
        ) -> i64;
        pub fn sum_s_int64x2(s: sys::s_int64x2) -> f64;
        pub fn sum_s_double4(s: sys::s_double4) -> f64;
        pub fn ffikit_convert_to_utf8(
            from_encoding: *const c_char,
            input: *const c_char,
            in_len: usize,
            out: *mut c_char,
            out_cap: usize,
        ) -> isize;
    }
}

/// The libraries every style needs, opened once.
#[derive(Debug)]
pub struct Libraries {
    fixtures: Library,
    libc: Library,
    raw_fixtures: libloading::Library,
    raw_libc: libloading::Library,
    /// The same two in worker processes (or why not).
    isolated_fixtures: Result<IsolatedLibrary, String>,
    isolated_libc: Result<IsolatedLibrary, String>,
}

/// The libc functions the workloads call, as <string.h>, <stdio.h>, <stdlib.h> and
/// <unistd.h> declare them.
const LIBC_DECLARATIONS: &str = "size_t strlen(const char *s);
     int snprintf(char *buffer, size_t capacity, const char *format, ...);
     void qsort(void *base, size_t count, size_t size,
                int (*compare)(const void *, const void *));
     int usleep(unsigned int microseconds);";

impl Libraries {
    /// Opens the fixtures' shared object and libc, for ABI mode and for libloading.
    ///
    /// # Errors
    ///
    /// A library that cannot be opened or described.
    pub fn open() -> Result<Libraries, CompareError> {
        // ABI mode binds the same fixtures, built as a shared object, from their own manifest.
        // SAFETY: the fixtures run no initializers and their manifest is generated from the
        // same C declarations the fixtures are compiled from; libc is already loaded.
        let fixtures = unsafe { Library::open_described(fixtures::SHARED_OBJECT) }?;
        // SAFETY: libc is already loaded in this process: no initializer runs again.
        let libc = unsafe { Library::open("libc.so.6") }?;
        libc.cdef(LIBC_DECLARATIONS)?;
        let isolated_fixtures =
            IsolatedLibrary::open_described(fixtures::SHARED_OBJECT, IsolatedOptions::new())
                .map_err(|e| e.to_string());
        let isolated_libc = IsolatedLibrary::open("libc.so.6")
            .and_then(|library| library.cdef(LIBC_DECLARATIONS).map(|_| library))
            .map_err(|e| e.to_string());
        // SAFETY: loading runs the libraries' initializers: the fixtures have none, libc is
        // already loaded in this process.
        let raw = |path: &str| unsafe { libloading::Library::new(path) };
        Ok(Libraries {
            fixtures,
            libc,
            raw_fixtures: raw(fixtures::SHARED_OBJECT)?,
            raw_libc: raw("libc.so.6")?,
            isolated_fixtures,
            isolated_libc,
        })
    }
}

/// A workload ready to run: the expected fingerprint and one call (or the reason there is
/// none) per style.
pub struct Bench<'a> {
    /// The fingerprint every style's verifying call must give.
    pub expected: u64,
    /// One call per style, or the reason the style cannot do this workload.
    pub rows: Vec<(Style, Result<Call<'a>, String>)>,
}

impl std::fmt::Debug for Bench<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let styles: Vec<Style> = self.rows.iter().map(|(style, _)| *style).collect();
        f.debug_struct("Bench")
            .field("expected", &self.expected)
            .field("styles", &styles)
            .finish()
    }
}

impl<'a> Bench<'a> {
    fn new(expected: u64) -> Self {
        Bench {
            expected,
            rows: Vec::new(),
        }
    }

    fn row(&mut self, style: Style, call: impl FnMut(Verify) -> u64 + 'a) -> &mut Self {
        let mut call = call;
        self.rows
            .push((style, Ok(Box::new(move |verify| Ok(call(verify))))));
        self
    }

    fn fallible(
        &mut self,
        style: Style,
        call: impl FnMut(Verify) -> Result<u64, std::io::Error> + 'a,
    ) -> &mut Self {
        self.rows.push((style, Ok(Box::new(call))));
        self
    }
    /// The isolated row, or why there is none (no worker could start).
    fn isolated(
        &mut self,
        call: Result<impl FnMut(Verify) -> Result<u64, std::io::Error> + 'a, String>,
    ) -> &mut Self {
        self.rows
            .push((Style::Isolated, call.map(|call| Box::new(call) as Call<'a>)));
        self
    }
}

/// `name` of an isolated library (by its declaration there).
fn isolated_function(
    library: &Result<IsolatedLibrary, String>,
    name: &str,
) -> Result<IsolatedFunction, String> {
    let library = library.as_ref().map_err(Clone::clone)?;
    library.function(name).map_err(|e| e.to_string())
}

/// The isolated row of a workload whose dynamic rows call `name` with `args`.
fn isolated_call<'a>(
    library: &Result<IsolatedLibrary, String>,
    name: &str,
    args: Vec<Value>,
) -> Result<impl FnMut(Verify) -> Result<u64, std::io::Error> + 'a, String> {
    let function = isolated_function(library, name)?;
    Ok(move |_| {
        function
            .call(black_box(&args))
            .map(fingerprint)
            .map_err(std::io::Error::other)
    })
}

/// A dynamic result's bits, taken as a caller consuming its result would. A scalar is
/// forgotten rather than dropped: it owns nothing, and `Value`'s drop glue (out of line, as
/// it handles every variant) would save registers before finding that out.
fn fingerprint(value: Value) -> u64 {
    let bits = match value {
        Value::Int(i) => i as u64,
        Value::UInt(u) => u,
        Value::Float(f) => f.to_bits(),
        other => return not_a_number(other),
    };
    std::mem::forget(value);
    bits
}

/// Any other result (the workloads return none): dropped here.
#[inline(never)]
fn not_a_number(value: Value) -> u64 {
    drop(value);
    u64::MAX
}

/// A row calling `function` with `args` through the dynamic route.
///
/// # Safety
///
/// `args` meet the function's preconditions for as long as the row lives (the workloads
/// pass numbers, strings and structs of numbers).
unsafe fn dynamic<'a>(
    function: Function<'a>,
    args: Vec<Value>,
) -> impl FnMut(Verify) -> Result<u64, std::io::Error> + 'a {
    move |_| {
        // SAFETY: this function's contract.
        unsafe { function.call(black_box(&args)) }
            .map(fingerprint)
            .map_err(std::io::Error::other)
    }
}

/// A function of `library` declared earlier, by name.
fn declared<'a>(library: &'a Library, name: &str) -> Result<Function<'a>, CompareError> {
    // SAFETY: the libraries `Libraries::open` opens are declared from the fixtures' own
    // manifest and from libc's declarations above, copied from its headers.
    Ok(unsafe { library.get(name) }?)
}

/// FNV-1a: a cheap, stable hash of an output buffer.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn symbol<'lib, T: Copy>(
    library: &'lib libloading::Library,
    name: &str,
) -> Result<libloading::Symbol<'lib, T>, CompareError> {
    // SAFETY: each caller names T as the symbol's C signature, from the same header.
    Ok(unsafe { library.get::<T>(name.as_bytes()) }?)
}

/// `name` bound three times: for the fast path, for libffi, and as the raw `ffi_call`
/// reference (the same libffi interface, called without the wrapper).
fn bind_three<'a>(
    library: &'a Library,
    name: &str,
) -> Result<(Function<'a>, Function<'a>, Function<'a>), CompareError> {
    Ok((
        declared(library, name)?,
        declared(library, name)?.use_libffi(),
        declared(library, name)?.use_libffi(),
    ))
}

/// The libffi interface of `function`, called with raw argument pointers.
fn ffi_call<const N: usize>(function: &Function<'_>, mut args: [*mut c_void; N]) -> u64 {
    let mut result = [0u64; 4];
    // SAFETY: every caller passes pointers to values of the declared parameter types; the
    // result buffer is 32 bytes, 8-byte aligned.
    unsafe { function.call_prepared_unchecked(&mut args, result.as_mut_ptr().cast()) };
    result[0]
}

fn ptr<T>(value: &mut T) -> *mut c_void {
    (value as *mut T).cast()
}

/// Builds the workload `name`.
/// # Errors
///
/// An unknown workload, or a function that cannot be bound.
pub fn build<'a>(name: &str, libs: &'a Libraries) -> Result<Bench<'a>, CompareError> {
    let mut bench = build_unordered(name, libs)?;
    // Rows in the styles' report order, whatever order a workload made them in.
    bench
        .rows
        .sort_by_key(|(style, _)| Style::ALL.iter().position(|s| s == style));
    Ok(bench)
}

fn build_unordered<'a>(name: &str, libs: &'a Libraries) -> Result<Bench<'a>, CompareError> {
    match name {
        "gcd" => gcd(libs),
        "get_pi" => get_pi(libs),
        "mixed6" => mixed6(libs),
        "spill14" => spill14(libs),
        "struct16" => struct16(libs, false),
        "struct32" => struct32(libs, false),
        "struct16-members" => struct16(libs, true),
        "struct32-members" => struct32(libs, true),
        "strlen" => strlen(libs, false),
        "strlen-copy" => strlen(libs, true),
        "snprintf" => snprintf(libs),
        "sort" => sort(libs),
        "utf8-100B" => utf8(libs, 100),
        "utf8-10MiB" => utf8(libs, 10 << 20),
        "blocking64" => blocking64(libs),
        "sort64" => sort64(libs),
        other => Err(CompareError::NoWorkload(other.to_owned())),
    }
}

fn gcd(libs: &Libraries) -> Result<Bench<'_>, CompareError> {
    let (x, y): (c_int, c_int) = (1071, 462);
    let mut expected = (x, y);
    while expected.1 != 0 {
        expected = (expected.1, expected.0 % expected.1);
    }
    let mut bench = Bench::new(expected.0 as u64);
    type Gcd = unsafe extern "C" fn(c_int, c_int) -> c_int;
    let (function, libffi, reference) = bind_three(&libs.fixtures, "gcd")?;
    let typed = function.typed::<Gcd>()?;
    let raw = symbol::<Gcd>(&libs.raw_fixtures, "gcd")?;
    let args = vec![Value::Int(x.into()), Value::Int(y.into())];
    // The safety note for every unsafe block here: gcd takes two ints and touches no memory; the typed
    // and raw pointers were checked against (or declared from) the same header.
    bench
        // SAFETY: the call matches the declaration, as the workload's safety note says.
        .row(Style::Direct, move |_| unsafe {
            direct::gcd(black_box(x), black_box(y)) as u64
        })
        // SAFETY: the call matches the declaration, as the workload's safety note says.
        .row(Style::Api, move |_| unsafe {
            sys::gcd(black_box(x), black_box(y)) as u64
        })
        // SAFETY: the call matches the declaration, as the workload's safety note says.
        .row(Style::Typed, move |_| unsafe {
            (*typed)(black_box(x), black_box(y)) as u64
        })
        // SAFETY: the call matches the declaration, as the workload\'s safety note says.
        .fallible(Style::Dynamic, unsafe { dynamic(function, args.clone()) })
        .isolated(isolated_call(&libs.isolated_fixtures, "gcd", args.clone()))
        // SAFETY: the call matches the declaration, as the workload\'s safety note says.
        .fallible(Style::Libffi, unsafe { dynamic(libffi, args) })
        .row(Style::FfiCall, move |_| {
            let (mut a, mut b) = (black_box(x), black_box(y));
            ffi_call(&reference, [ptr(&mut a), ptr(&mut b)]) as i32 as u64
        })
        // SAFETY: the call matches the declaration, as the workload's safety note says.
        .row(Style::Libloading, move |_| unsafe {
            raw(black_box(x), black_box(y)) as u64
        });
    Ok(bench)
}

fn get_pi(libs: &Libraries) -> Result<Bench<'_>, CompareError> {
    let mut bench = Bench::new(std::f64::consts::PI.to_bits());
    type GetPi = unsafe extern "C" fn() -> f64;
    let (function, libffi, reference) = bind_three(&libs.fixtures, "get_pi")?;
    let typed = function.typed::<GetPi>()?;
    let raw = symbol::<GetPi>(&libs.raw_fixtures, "get_pi")?;
    // The safety note for every unsafe block here: get_pi takes nothing and returns a double.
    bench
        // SAFETY: the call matches the declaration, as the workload's safety note says.
        .row(Style::Direct, |_| unsafe { direct::get_pi() }.to_bits())
        // SAFETY: the call matches the declaration, as the workload's safety note says.
        .row(Style::Api, |_| unsafe { sys::get_pi() }.to_bits())
        // SAFETY: the call matches the declaration, as the workload's safety note says.
        .row(Style::Typed, move |_| unsafe { (*typed)() }.to_bits())
        // SAFETY: the call matches the declaration, as the workload\'s safety note says.
        .fallible(Style::Dynamic, unsafe { dynamic(function, Vec::new()) })
        .isolated(isolated_call(&libs.isolated_fixtures, "get_pi", Vec::new()))
        // SAFETY: the call matches the declaration, as the workload\'s safety note says.
        .fallible(Style::Libffi, unsafe { dynamic(libffi, Vec::new()) })
        .row(Style::FfiCall, move |_| ffi_call(&reference, []))
        // SAFETY: the call matches the declaration, as the workload's safety note says.
        .row(Style::Libloading, move |_| unsafe { raw() }.to_bits());
    Ok(bench)
}

fn mixed6(libs: &Libraries) -> Result<Bench<'_>, CompareError> {
    let (a, b, c, d, e, f) = (-3i8, 1.5f64, 100_000i32, 0.25f32, -(1i64 << 40), 2.5f64);
    let expected = 1.0 * f64::from(a)
        + 2.0 * b
        + 3.0 * f64::from(c)
        + 4.0 * f64::from(d)
        + 5.0 * e as f64
        + 6.0 * f;
    let mut bench = Bench::new(expected.to_bits());
    type Mixed = unsafe extern "C" fn(i8, f64, i32, f32, i64, f64) -> f64;
    let (function, libffi, reference) = bind_three(&libs.fixtures, "mixed_six")?;
    let typed = function.typed::<Mixed>()?;
    let raw = symbol::<Mixed>(&libs.raw_fixtures, "mixed_six")?;
    let args = vec![
        Value::Int(a.into()),
        Value::Float(b),
        Value::Int(c.into()),
        Value::Float(d.into()),
        Value::Int(e),
        Value::Float(f),
    ];
    use std::hint::black_box as bb;
    // The safety note for every unsafe block here: mixed_six takes these six scalars, touches no memory.
    bench
        .row(Style::Direct, move |_| {
            // SAFETY: the call matches the declaration, as the workload's safety note says.
            unsafe { direct::mixed_six(bb(a), bb(b), bb(c), bb(d), bb(e), bb(f)) }.to_bits()
        })
        .row(Style::Api, move |_| {
            // SAFETY: the call matches the declaration, as the workload's safety note says.
            unsafe { sys::mixed_six(bb(a), bb(b), bb(c), bb(d), bb(e), bb(f)) }.to_bits()
        })
        .row(Style::Typed, move |_| {
            // SAFETY: the call matches the declaration, as the workload's safety note says.
            unsafe { (*typed)(bb(a), bb(b), bb(c), bb(d), bb(e), bb(f)) }.to_bits()
        })
        // SAFETY: the call matches the declaration, as the workload\'s safety note says.
        .fallible(Style::Dynamic, unsafe { dynamic(function, args.clone()) })
        .isolated(isolated_call(
            &libs.isolated_fixtures,
            "mixed_six",
            args.clone(),
        ))
        // SAFETY: the call matches the declaration, as the workload\'s safety note says.
        .fallible(Style::Libffi, unsafe { dynamic(libffi, args) })
        .row(Style::FfiCall, move |_| {
            let (mut a, mut b, mut c, mut d, mut e, mut f) =
                (bb(a), bb(b), bb(c), bb(d), bb(e), bb(f));
            let pointers = [ptr(&mut a), ptr(&mut b), ptr(&mut c)];
            let more = [ptr(&mut d), ptr(&mut e), ptr(&mut f)];
            let all = [
                pointers[0],
                pointers[1],
                pointers[2],
                more[0],
                more[1],
                more[2],
            ];
            ffi_call(&reference, all)
        })
        .row(Style::Libloading, move |_| {
            // SAFETY: the call matches the declaration, as the workload's safety note says.
            unsafe { raw(bb(a), bb(b), bb(c), bb(d), bb(e), bb(f)) }.to_bits()
        });
    Ok(bench)
}

fn spill14(libs: &Libraries) -> Result<Bench<'_>, CompareError> {
    let a: [i64; 14] = std::array::from_fn(|k| 1000 * (k as i64 + 1) - 7);
    let expected: i64 = a.iter().enumerate().map(|(k, v)| (k as i64 + 1) * v).sum();
    let mut bench = Bench::new(expected as u64);
    type Spill = unsafe extern "C" fn(
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
    ) -> i64;
    let (function, libffi, reference) = bind_three(&libs.fixtures, "spill14")?;
    let typed = function.typed::<Spill>()?;
    let raw = symbol::<Spill>(&libs.raw_fixtures, "spill14")?;
    let args: Vec<Value> = a.iter().map(|&v| Value::Int(v)).collect();
    // Calls `f` with the 14 arguments, each through black_box.
    macro_rules! spill {
        ($f:expr) => {{
            let v = black_box(a);
            $f(
                v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12],
                v[13],
            ) as u64
        }};
    }
    // The safety note for every unsafe block here: spill14 takes 14 int64s and touches no memory.
    bench
        // SAFETY: the call matches the declaration, as the workload's safety note says.
        .row(Style::Direct, move |_| unsafe { spill!(direct::spill14) })
        // SAFETY: the call matches the declaration, as the workload's safety note says.
        .row(Style::Api, move |_| unsafe { spill!(sys::spill14) })
        // SAFETY: the call matches the declaration, as the workload's safety note says.
        .row(Style::Typed, move |_| unsafe { spill!(*typed) })
        // SAFETY: the call matches the declaration, as the workload\'s safety note says.
        .fallible(Style::Dynamic, unsafe { dynamic(function, args.clone()) })
        .isolated(isolated_call(
            &libs.isolated_fixtures,
            "spill14",
            args.clone(),
        ))
        // SAFETY: the call matches the declaration, as the workload\'s safety note says.
        .fallible(Style::Libffi, unsafe { dynamic(libffi, args) })
        .row(Style::FfiCall, move |_| {
            let mut v = black_box(a);
            let pointers: [*mut c_void; 14] = std::array::from_fn(|k| v[k..].as_mut_ptr().cast());
            ffi_call(&reference, pointers)
        })
        // SAFETY: the call matches the declaration, as the workload's safety note says.
        .row(Style::Libloading, move |_| unsafe { spill!(*raw) });
    Ok(bench)
}

/// `struct s_int64x2` for typed handles: its layout recorded by the derive, checked against
/// the declaration when the handle is made.
#[repr(C)]
#[derive(ffikit_abi::CStruct, Clone, Copy)]
struct Int64x2 {
    a: i64,
    b: i64,
}

/// `struct s_double4`, likewise.
#[repr(C)]
#[derive(ffikit_abi::CStruct, Clone, Copy)]
struct Double4 {
    a: f64,
    b: f64,
    c: f64,
    d: f64,
}

/// `members`: the dynamic rows give the struct as its member values (by position), each
/// converted per call; else as a C object of its type, made once (as ctypes' `Structure` and
/// CFFI's cdata are passed).
fn struct16(libs: &Libraries, members: bool) -> Result<Bench<'_>, CompareError> {
    let value = sys::s_int64x2 { a: 1 << 40, b: -5 };
    let typed = Int64x2 {
        a: value.a,
        b: value.b,
    };
    let fields = [("a", Value::Int(value.a)), ("b", Value::Int(value.b))];
    let expected = 0.0 + value.a as f64 + value.b as f64;
    let (direct, api) = (direct::sum_s_int64x2, sys::sum_s_int64x2);
    struct_sum(
        libs,
        members,
        "sum_s_int64x2",
        (value, typed),
        fields,
        expected,
        (direct, api),
    )
}

/// As [`struct16`], for a struct passed on the stack.
fn struct32(libs: &Libraries, members: bool) -> Result<Bench<'_>, CompareError> {
    let value = sys::s_double4 {
        a: 1.5,
        b: 2.25,
        c: -3.0,
        d: 4.125,
    };
    let fields = [
        ("a", Value::Float(value.a)),
        ("b", Value::Float(value.b)),
        ("c", Value::Float(value.c)),
        ("d", Value::Float(value.d)),
    ];
    let typed = Double4 {
        a: value.a,
        b: value.b,
        c: value.c,
        d: value.d,
    };
    let expected = 0.0 + value.a + value.b + value.c + value.d;
    let (direct, api) = (direct::sum_s_double4, sys::sum_s_double4);
    struct_sum(
        libs,
        members,
        "sum_s_double4",
        (value, typed),
        fields,
        expected,
        (direct, api),
    )
}

/// A `double sum_S(struct S)` fixture in every style: `direct` and `api` are its hand-written
/// and bindgen declarations, `fields` the struct as a dynamic value.
fn struct_sum<'a, S: Copy + 'static, T: ffikit_abi::CType + Copy + 'static, const N: usize>(
    libs: &'a Libraries,
    members: bool,
    name: &str,
    (value, typed_value): (S, T),
    fields: [(&str, Value); N],
    expected: f64,
    (direct, api): (
        unsafe extern "C" fn(S) -> f64,
        unsafe extern "C" fn(S) -> f64,
    ),
) -> Result<Bench<'a>, CompareError> {
    let mut bench = Bench::new(expected.to_bits());
    let (function, libffi, reference) = bind_three(&libs.fixtures, name)?;
    let raw = symbol::<unsafe extern "C" fn(S) -> f64>(&libs.raw_fixtures, name)?;
    let typed = function.typed::<unsafe extern "C" fn(T) -> f64>()?;
    let positional = Value::Array(fields.map(|(_, v)| v).into());
    let args = vec![match members {
        true => positional,
        // The struct as ctypes and CFFI pass one: a C object of its type, laid out once.
        false => {
            let mut object = libs.fixtures.new_value(&format!("struct {}", &name[4..]))?;
            object.set(&positional)?;
            Value::Data(object)
        }
    }];
    // The safety note for every unsafe block here: sum_S reads the struct it is passed; each
    // pointer is declared from (or is) the header's declaration.
    bench
        .row(Style::Direct, move |_| {
            // SAFETY: the call matches the declaration, as the workload's safety note says.
            unsafe { direct(black_box(value)) }.to_bits()
        })
        .row(Style::Api, move |_| {
            // SAFETY: the call matches the declaration, as the workload's safety note says.
            unsafe { api(black_box(value)) }.to_bits()
        })
        .row(Style::Typed, move |_| {
            // SAFETY: the call matches the declaration, as the workload's safety note says.
            unsafe { (*typed)(black_box(typed_value)) }.to_bits()
        })
        // SAFETY: the call matches the declaration, as the workload\'s safety note says.
        .fallible(Style::Dynamic, unsafe { dynamic(function, args.clone()) })
        .isolated(isolated_call(&libs.isolated_fixtures, name, args.clone()))
        // SAFETY: the call matches the declaration, as the workload\'s safety note says.
        .fallible(Style::Libffi, unsafe { dynamic(libffi, args) })
        .row(Style::FfiCall, move |_| {
            let mut s = black_box(value);
            ffi_call(&reference, [ptr(&mut s)])
        })
        .row(Style::Libloading, move |_| {
            // SAFETY: the call matches the declaration, as the workload's safety note says.
            unsafe { raw(black_box(value)) }.to_bits()
        });
    Ok(bench)
}

const STRLEN_TEXT: &CStr = c"ffikit calls strlen on this string";

/// strlen of a C string; `copied`: the dynamic rows pass a runtime's string, converted
/// (checked for NUL, copied, terminated) on every call, as ctypes does for a str; else a
/// C string made once, as ctypes' `c_char_p` or CFFI's `char[]` (as the static rows do).
fn strlen(libs: &Libraries, copied: bool) -> Result<Bench<'_>, CompareError> {
    let text = STRLEN_TEXT;
    let mut bench = Bench::new(text.to_bytes().len() as u64);
    type Strlen = unsafe extern "C" fn(*const c_char) -> usize;
    let (function, libffi, reference) = bind_three(&libs.libc, "strlen")?;
    let typed = function.typed::<Strlen>()?;
    let raw = symbol::<Strlen>(&libs.raw_libc, "strlen")?;
    let args = vec![match copied {
        true => Value::Str(text.to_str().expect("ASCII").to_owned()),
        false => Value::CString(text.to_owned()),
    }];
    // The safety note for every unsafe block here: the text is NUL-terminated and static.
    bench
        // SAFETY: the call matches the declaration, as the workload's safety note says.
        .row(Style::Direct, move |_| unsafe {
            libc::strlen(black_box(text.as_ptr())) as u64
        })
        // SAFETY: the call matches the declaration, as the workload's safety note says.
        .row(Style::Api, move |_| unsafe {
            libc_sys::strlen(black_box(text.as_ptr())) as u64
        })
        // SAFETY: the call matches the declaration, as the workload's safety note says.
        .row(Style::Typed, move |_| unsafe {
            (*typed)(black_box(text.as_ptr())) as u64
        })
        // SAFETY: the call matches the declaration, as the workload\'s safety note says.
        .fallible(Style::Dynamic, unsafe { dynamic(function, args.clone()) })
        .isolated(isolated_call(&libs.isolated_libc, "strlen", args.clone()))
        // SAFETY: the call matches the declaration, as the workload\'s safety note says.
        .fallible(Style::Libffi, unsafe { dynamic(libffi, args) })
        .row(Style::FfiCall, move |_| {
            let mut pointer = black_box(text.as_ptr());
            ffi_call(&reference, [ptr(&mut pointer)])
        })
        // SAFETY: the call matches the declaration, as the workload's safety note says.
        .row(Style::Libloading, move |_| unsafe {
            raw(black_box(text.as_ptr())) as u64
        });
    Ok(bench)
}

fn snprintf(libs: &Libraries) -> Result<Bench<'_>, CompareError> {
    const CAPACITY: usize = 64;
    let format = c"%d-%s-%.3f";
    let word = c"abc";
    let expected_text = format!("{}-{}-{:.3}", 42, "abc", 2.5);
    let mut bench = Bench::new(fnv(expected_text.as_bytes()));
    // The fingerprint: the text written (when verifying), else its length.
    fn written(buffer: &[u8], length: c_int, verify: Verify) -> u64 {
        let length = usize::try_from(length).unwrap_or(0).min(buffer.len());
        if verify {
            fnv(&buffer[..length])
        } else {
            length as u64
        }
    }
    type Snprintf = unsafe extern "C" fn(*mut c_char, usize, *const c_char, ...) -> c_int;
    let raw = symbol::<Snprintf>(&libs.raw_libc, "snprintf")?;
    // The typed handle of a variadic function is a variadic pointer: Rust passes the
    // arguments with C's promotions, as a direct call does.
    let typed = declared(&libs.libc, "snprintf")?.typed::<Snprintf>()?;
    let variadic = ["int", "const char *", "double"];
    let function = declared(&libs.libc, "snprintf")?.variadic(&libs.libc, &variadic)?;
    let libffi = declared(&libs.libc, "snprintf")?
        .variadic(&libs.libc, &variadic)?
        .use_libffi();
    let args = |buffer: &mut [u8; CAPACITY]| {
        vec![
            Value::Pointer(buffer.as_mut_ptr() as usize),
            Value::UInt(CAPACITY as u64),
            Value::Str(format.to_str().expect("ASCII").to_owned()),
            Value::Int(42),
            Value::Str("abc".into()),
            Value::Float(2.5),
        ]
    };
    // Boxed: the dynamic rows' arguments hold the buffers' addresses.
    let mut b_dynamic = Box::new([0u8; CAPACITY]);
    let mut b_libffi = Box::new([0u8; CAPACITY]);
    let dynamic_args = args(&mut b_dynamic);
    let libffi_args = args(&mut b_libffi);
    let (mut b_direct, mut b_api, mut b_typed, mut b_raw) = (
        [0u8; CAPACITY],
        [0u8; CAPACITY],
        [0u8; CAPACITY],
        [0u8; CAPACITY],
    );
    // The safety note for every unsafe block here: the buffer holds CAPACITY bytes; the format's
    // conversions match the int, string and double that follow.
    bench
        .row(Style::Direct, move |verify| {
            // SAFETY: the call matches the declaration, as the workload's safety note says.
            let n = unsafe {
                libc::snprintf(
                    b_direct.as_mut_ptr().cast(),
                    CAPACITY,
                    black_box(format.as_ptr()),
                    black_box(42 as c_int),
                    black_box(word.as_ptr()),
                    black_box(2.5f64),
                )
            };
            written(&b_direct, n, verify)
        })
        .row(Style::Api, move |verify| {
            // SAFETY: the call matches the declaration, as the workload's safety note says.
            let n = unsafe {
                libc_sys::snprintf(
                    b_api.as_mut_ptr().cast(),
                    CAPACITY as _,
                    black_box(format.as_ptr()),
                    black_box(42 as c_int),
                    black_box(word.as_ptr()),
                    black_box(2.5f64),
                )
            };
            written(&b_api, n, verify)
        })
        .row(Style::Typed, move |verify| {
            // SAFETY: the call matches the declaration, as the workload's safety note says.
            let n = unsafe {
                (*typed)(
                    b_typed.as_mut_ptr().cast(),
                    CAPACITY,
                    black_box(format.as_ptr()),
                    black_box(42 as c_int),
                    black_box(word.as_ptr()),
                    black_box(2.5f64),
                )
            };
            written(&b_typed, n, verify)
        })
        .fallible(Style::Dynamic, move |verify| {
            // SAFETY: the call matches the declaration, as the workload\'s safety note says.
            let n = unsafe { function.call(black_box(&dynamic_args)) }
                .map_err(std::io::Error::other)?;
            Ok(written(&b_dynamic[..], fingerprint(n) as c_int, verify))
        })
        .fallible(Style::Libffi, move |verify| {
            // SAFETY: the call matches the declaration, as the workload\'s safety note says.
            let n =
                unsafe { libffi.call(black_box(&libffi_args)) }.map_err(std::io::Error::other)?;
            Ok(written(&b_libffi[..], fingerprint(n) as c_int, verify))
        })
        .isolated(
            isolated_function(&libs.isolated_libc, "snprintf").and_then(|function| {
                let function = function.variadic(&variadic).map_err(|e| e.to_string())?;
                let mut args = vec![
                    Value::Bytes(vec![0; CAPACITY]),
                    Value::UInt(CAPACITY as u64),
                    Value::Str(format.to_str().expect("ASCII").to_owned()),
                    Value::Int(42),
                    Value::Str("abc".into()),
                    Value::Float(2.5),
                ];
                Ok(move |verify| {
                    let n = function
                        .call_mut(black_box(&mut args))
                        .map_err(std::io::Error::other)?;
                    let Value::Bytes(buffer) = &args[0] else {
                        unreachable!("the buffer stays bytes")
                    };
                    Ok(written(buffer, fingerprint(n) as c_int, verify))
                })
            }),
        )
        .row(Style::Libloading, move |verify| {
            // SAFETY: the call matches the declaration, as the workload's safety note says.
            let n = unsafe {
                raw(
                    b_raw.as_mut_ptr().cast(),
                    CAPACITY,
                    black_box(format.as_ptr()),
                    black_box(42 as c_int),
                    black_box(word.as_ptr()),
                    black_box(2.5f64),
                )
            };
            written(&b_raw, n, verify)
        });
    Ok(bench)
}

/// The comparator every static style passes to qsort.
extern "C" fn compare_ints(a: *const c_void, b: *const c_void) -> c_int {
    // SAFETY: qsort passes pointers to two elements of the int array being sorted.
    let (a, b) = unsafe { (*a.cast::<i32>(), *b.cast::<i32>()) };
    a.cmp(&b) as c_int
}

const SORTED: usize = 1000;

/// The sort's fingerprint: a position-weighted checksum when verifying, else one element.
fn sorted(values: &[i32], verify: Verify) -> u64 {
    if verify {
        values.iter().enumerate().fold(0u64, |sum, (k, &v)| {
            sum.wrapping_add((k as u64 + 1).wrapping_mul(v as u64))
        })
    } else {
        values[SORTED / 2] as u64
    }
}

fn sort(libs: &Libraries) -> Result<Bench<'_>, CompareError> {
    let mut state = 0x2545_f491u32;
    let input: Vec<i32> = (0..SORTED)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as i32
        })
        .collect();
    let mut expected = input.clone();
    expected.sort();
    let mut bench = Bench::new(sorted(&expected, true));
    type Compare = unsafe extern "C" fn(*const c_void, *const c_void) -> c_int;
    type Qsort = unsafe extern "C" fn(*mut c_void, usize, usize, Option<Compare>);
    type TypedQsort = unsafe extern "C" fn(*mut c_void, usize, usize, *const c_void);
    let function = declared(&libs.libc, "qsort")?;
    let typed = function.typed::<TypedQsort>()?;
    let raw = symbol::<Qsort>(&libs.raw_libc, "qsort")?;
    let libffi = declared(&libs.libc, "qsort")?.use_libffi();
    let signature = "int (*)(const void *, const void *)";
    let typed_compare = libs.libc.typed_callback::<Compare, _>(
        "compare",
        signature,
        |a: *const c_void, b: *const c_void| compare_ints(a, b),
    )?;
    // The dynamic styles' comparator is a dynamic callback, as ctypes' CFUNCTYPE is.
    let dynamic_compare = libs.libc.callback("compare", signature, |args| {
        let read = |value: &Value| {
            let address = value.as_address().unwrap_or(0) as *const i32;
            // SAFETY: qsort passes pointers to two elements of the int array being sorted.
            unsafe { *address }
        };
        Ok(Value::Int(read(&args[0]).cmp(&read(&args[1])) as i64))
    })?;
    let callback_address = dynamic_compare.address();
    let mut buffers = vec![input.clone(); 6];
    let [b_direct, b_api, b_typed, b_dynamic, b_libffi, b_raw]: [Vec<i32>; 6] =
        std::array::from_fn(|_| buffers.pop().expect("six buffers"));
    // Each call sorts a fresh copy of the input.
    fn refill(buffer: &mut [i32], input: &[i32]) -> *mut c_void {
        buffer.copy_from_slice(input);
        buffer.as_mut_ptr().cast()
    }
    let input_isolated = input.clone();
    let input: std::rc::Rc<[i32]> = input.into();
    let dynamic_compare = std::rc::Rc::new(dynamic_compare);
    let (i_direct, i_api, i_typed, i_dynamic, i_libffi, i_raw) = (
        input.clone(),
        input.clone(),
        input.clone(),
        input.clone(),
        input.clone(),
        input,
    );
    let keep_dynamic = dynamic_compare.clone();
    let dynamic_args = |buffer: &mut Vec<i32>| {
        vec![
            Value::Pointer(buffer.as_mut_ptr() as usize),
            Value::UInt(SORTED as u64),
            Value::UInt(4),
            callback_address.clone(),
        ]
    };
    let (mut b_direct, mut b_api, mut b_typed, mut b_raw) = (b_direct, b_api, b_typed, b_raw);
    let (mut b_dynamic, mut b_libffi) = (b_dynamic, b_libffi);
    let dynamic_call = dynamic_args(&mut b_dynamic);
    let libffi_call = dynamic_args(&mut b_libffi);
    // The safety note for every unsafe block here: qsort sorts SORTED ints of 4 bytes with a comparator
    // of the right type; the callbacks live until the rows are dropped (they are moved in).
    bench
        .row(Style::Direct, move |verify| {
            let base = refill(&mut b_direct, &i_direct);
            // SAFETY: the call matches the declaration, as the workload's safety note says.
            unsafe { libc::qsort(base, SORTED, 4, Some(compare_ints)) };
            sorted(&b_direct, verify)
        })
        .row(Style::Api, move |verify| {
            let base = refill(&mut b_api, &i_api);
            // SAFETY: the call matches the declaration, as the workload's safety note says.
            unsafe { libc_sys::qsort(base, SORTED, 4, Some(compare_ints)) };
            sorted(&b_api, verify)
        })
        .row(Style::Typed, move |verify| {
            let base = refill(&mut b_typed, &i_typed);
            let compare = typed_compare.ptr().get() as *const c_void;
            // SAFETY: the call matches the declaration, as the workload's safety note says.
            unsafe { (*typed)(base, SORTED, 4, compare) };
            sorted(&b_typed, verify)
        })
        .fallible(Style::Dynamic, move |verify| {
            let _keep = &dynamic_compare;
            refill(&mut b_dynamic, &i_dynamic);
            // SAFETY: the call matches the declaration, as the workload\'s safety note says.
            unsafe { function.call(black_box(&dynamic_call)) }.map_err(std::io::Error::other)?;
            Ok(sorted(&b_dynamic, verify))
        })
        .fallible(Style::Libffi, move |verify| {
            let _keep = &keep_dynamic;
            refill(&mut b_libffi, &i_libffi);
            // SAFETY: the call matches the declaration, as the workload\'s safety note says.
            unsafe { libffi.call(black_box(&libffi_call)) }.map_err(std::io::Error::other)?;
            Ok(sorted(&b_libffi, verify))
        })
        .isolated(isolated_sort(libs, &input_isolated))
        .row(Style::Libloading, move |verify| {
            let base = refill(&mut b_raw, &i_raw);
            // SAFETY: the call matches the declaration, as the workload's safety note says.
            unsafe { raw(base, SORTED, 4, Some(compare_ints)) };
            sorted(&b_raw, verify)
        });
    Ok(bench)
}

/// The isolated sort: the array copied in and out, the comparator a callback run here
/// that reads the two ints from the worker (as a CFFI callback reads its pointers).
fn isolated_sort<'a>(
    libs: &Libraries,
    input: &[i32],
) -> Result<impl FnMut(Verify) -> Result<u64, std::io::Error> + 'a, String> {
    let library = libs.isolated_libc.as_ref().map_err(Clone::clone)?;
    let qsort = library.function("qsort").map_err(|e| e.to_string())?;
    let compare = library
        .callback(
            "compare",
            "int (*)(const void *, const void *)",
            |invocation, args| {
                let a = invocation.read(&args[0], "int")?;
                let b = invocation.read(&args[1], "int")?;
                Ok(Value::Int(a.as_i128().cmp(&b.as_i128()) as i64))
            },
        )
        .map_err(|e| e.to_string())?;
    let handle = compare.handle().map_err(|e| e.to_string())?;
    let bytes = bytes_of_ints(input).to_vec();
    let mut args = vec![
        Value::Bytes(bytes.clone()),
        Value::UInt(SORTED as u64),
        Value::UInt(4),
        handle,
    ];
    Ok(move |verify| {
        let _keep = &compare;
        args[0] = Value::Bytes(bytes.clone());
        qsort
            .call_mut(black_box(&mut args))
            .map_err(std::io::Error::other)?;
        let Value::Bytes(out) = &args[0] else {
            unreachable!("the array stays bytes")
        };
        let values: Vec<i32> = out
            .chunks_exact(4)
            .map(|c| i32::from_ne_bytes(c.try_into().expect("4 bytes")))
            .collect();
        Ok(sorted(&values, verify))
    })
}

fn utf8(libs: &Libraries, size: usize) -> Result<Bench<'_>, CompareError> {
    // Latin-1 text with every byte value, so about half the input needs two UTF-8 bytes.
    let input: std::rc::Rc<[u8]> = (0..size).map(|k| (k * 7 % 256) as u8).collect();
    let expected: String = input.iter().map(|&b| char::from(b)).collect();
    let mut bench = Bench::new(fnv(expected.as_bytes()));
    // The fingerprint: the output's hash when verifying, else its length.
    fn converted(out: &[u8], written: isize, verify: Verify) -> Result<u64, std::io::Error> {
        let written = usize::try_from(written).map_err(|_| std::io::Error::last_os_error())?;
        Ok(if verify {
            fnv(&out[..written])
        } else {
            written as u64
        })
    }
    const LATIN1: &CStr = c"LATIN1";
    type Convert =
        unsafe extern "C" fn(*const c_char, *const c_char, usize, *mut c_char, usize) -> isize;
    let name = "ffikit_convert_to_utf8";
    let function = declared(&libs.fixtures, name)?.capture_errno();
    let typed = function.typed::<Convert>()?;
    let raw = symbol::<Convert>(&libs.raw_fixtures, name)?;
    let libffi = declared(&libs.fixtures, name)?.capture_errno().use_libffi();
    let buffer = || vec![0u8; 2 * size];
    let (mut b_direct, mut b_api, mut b_typed, mut b_raw) =
        (buffer(), buffer(), buffer(), buffer());
    let (mut b_dynamic, mut b_libffi) = (buffer(), buffer());
    // ABI mode passes the same buffers by address (no copies).
    let args = |out: &mut Vec<u8>| {
        vec![
            Value::Str("LATIN1".into()),
            Value::Pointer(input.as_ptr() as usize),
            Value::UInt(input.len() as u64),
            Value::Pointer(out.as_mut_ptr() as usize),
            Value::UInt(out.len() as u64),
        ]
    };
    let (dynamic_args, libffi_args) = (args(&mut b_dynamic), args(&mut b_libffi));
    let dynamic_result = |value: Value| match value {
        Value::Int(written) => Ok(written as isize),
        other => Err(std::io::Error::other(format!("unexpected result {other}"))),
    };
    let inputs: [std::rc::Rc<[u8]>; 6] = std::array::from_fn(|_| input.clone());
    let [i_direct, i_api, i_typed, i_raw, i_dynamic, i_libffi] = inputs;
    // The safety note for every unsafe block here: the encoding name is NUL-terminated; input and output
    // are live buffers of the lengths passed.
    bench
        .fallible(Style::Direct, move |verify| {
            // SAFETY: the call matches the declaration, as the workload's safety note says.
            let n = unsafe {
                direct::ffikit_convert_to_utf8(
                    LATIN1.as_ptr(),
                    black_box(i_direct.as_ptr().cast()),
                    i_direct.len(),
                    b_direct.as_mut_ptr().cast(),
                    b_direct.len(),
                )
            };
            converted(&b_direct, n, verify)
        })
        .fallible(Style::Api, move |verify| {
            // SAFETY: the call matches the declaration, as the workload's safety note says.
            let n = unsafe {
                sys::ffikit_convert_to_utf8(
                    LATIN1.as_ptr(),
                    black_box(i_api.as_ptr().cast()),
                    i_api.len(),
                    b_api.as_mut_ptr().cast(),
                    b_api.len(),
                )
            };
            converted(&b_api, n, verify)
        })
        .fallible(Style::Typed, move |verify| {
            // SAFETY: the call matches the declaration, as the workload's safety note says.
            let n = unsafe {
                (*typed)(
                    LATIN1.as_ptr(),
                    black_box(i_typed.as_ptr().cast()),
                    i_typed.len(),
                    b_typed.as_mut_ptr().cast(),
                    b_typed.len(),
                )
            };
            converted(&b_typed, n, verify)
        })
        .fallible(Style::Dynamic, move |verify| {
            let _input = &i_dynamic;
            // SAFETY: the call matches the declaration, as the workload\'s safety note says.
            let value = unsafe { function.call(black_box(&dynamic_args)) }
                .map_err(std::io::Error::other)?;
            converted(&b_dynamic, dynamic_result(value)?, verify)
        })
        .fallible(Style::Libffi, move |verify| {
            let _input = &i_libffi;
            // SAFETY: the call matches the declaration, as the workload\'s safety note says.
            let value =
                unsafe { libffi.call(black_box(&libffi_args)) }.map_err(std::io::Error::other)?;
            converted(&b_libffi, dynamic_result(value)?, verify)
        })
        .fallible(Style::Libloading, move |verify| {
            // SAFETY: the call matches the declaration, as the workload's safety note says.
            let n = unsafe {
                raw(
                    LATIN1.as_ptr(),
                    black_box(i_raw.as_ptr().cast()),
                    i_raw.len(),
                    b_raw.as_mut_ptr().cast(),
                    b_raw.len(),
                )
            };
            converted(&b_raw, n, verify)
        })
        .isolated(
            isolated_function(&libs.isolated_fixtures, name)
                .and_then(|f| f.capture_errno().map_err(|e| e.to_string()))
                .map(|function| {
                    // The input copied in, the output buffer in and out: once each per call.
                    let mut args = vec![
                        Value::Str("LATIN1".into()),
                        Value::Bytes(input.to_vec()),
                        Value::UInt(input.len() as u64),
                        Value::Bytes(vec![0; 2 * size]),
                        Value::UInt(2 * size as u64),
                    ];
                    move |verify| {
                        let value = function
                            .call_mut(black_box(&mut args))
                            .map_err(std::io::Error::other)?;
                        let Value::Bytes(out) = &args[3] else {
                            unreachable!("the buffer stays bytes")
                        };
                        converted(out, dynamic_result(value)?, verify)
                    }
                }),
        )
        .fallible(Style::Subprocess, move |verify| {
            let output = convert_in_subprocess(black_box(&input))?;
            Ok(if verify {
                fnv(&output)
            } else {
                output.len() as u64
            })
        });
    Ok(bench)
}

/// Latin-1 to UTF-8 by the system's `iconv` command: the "shell out" way.
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

/// What ABI mode's dynamic call refuses before C runs, found by trying: each probe is a call
/// with one bad argument, and the check counts when the call comes back with the error for it
/// (every probe is harmless even if it were not refused).
pub fn probe_checks(libs: &Libraries) -> Result<Vec<(&'static str, bool)>, CompareError> {
    use ffikit_abi::ErrorKind;
    let gcd = declared(&libs.fixtures, "gcd")?;
    let pair = declared(&libs.fixtures, "sum_s_int64x2")?;
    // SAFETY: strnlen as <string.h> declares it; with a length of 0 it reads nothing.
    let strnlen = unsafe { libs.libc.function("size_t strnlen(const char *, size_t)") }?;
    let refused = |function: &Function<'_>, args: &[Value], kind: ErrorKind| {
        // SAFETY: each probe is harmless even if called: gcd with integers, a struct of two
        // integers, strnlen of length 0 (which reads nothing).
        matches!(unsafe { function.call(args) }, Err(e) if e.kind() == kind)
    };
    Ok(vec![
        (
            "arity",
            refused(&gcd, &[Value::Int(1)], ErrorKind::ArityMismatch),
        ),
        (
            "types",
            refused(
                &gcd,
                &[Value::Float(0.5), Value::Int(1)],
                ErrorKind::TypeMismatch,
            ),
        ),
        (
            "ranges",
            refused(
                &gcd,
                &[Value::Int(1 << 40), Value::Int(1)],
                ErrorKind::OutOfRange,
            ),
        ),
        (
            "NULL",
            refused(
                &strnlen,
                &[Value::Null, Value::Int(0)],
                ErrorKind::NullPointer,
            ),
        ),
        (
            "struct shapes",
            refused(
                &pair,
                &[Value::Struct(vec![("nope".into(), Value::Int(1))])],
                ErrorKind::TypeMismatch,
            ),
        ),
    ])
}

/// What binding one function costs at run time for `style`, in nanoseconds: opening the
/// shared object and binding `int gcd(int, int)` (and checking the typed handle's type, or
/// looking the symbol up with libloading); None for the styles linked at build time or run as
/// a process per call.
pub fn binding_cost(style: Style) -> Option<f64> {
    type Gcd = unsafe extern "C" fn(c_int, c_int) -> c_int;
    let bind = || -> bool {
        match style {
            Style::Dynamic | Style::Libffi | Style::FfiCall | Style::Typed => {
                // SAFETY: the fixtures run no initializers; gcd is declared as in their header.
                let Ok(library) = (unsafe { Library::open(fixtures::SHARED_OBJECT) }) else {
                    return false;
                };
                // SAFETY: as above.
                let Ok(function) = (unsafe { library.function("int gcd(int, int)") }) else {
                    return false;
                };
                style != Style::Typed || function.typed::<Gcd>().is_ok()
            }
            Style::Libloading => {
                // SAFETY: as above; the symbol's type is the header's.
                unsafe {
                    libloading::Library::new(fixtures::SHARED_OBJECT)
                        .and_then(|library| library.get::<Gcd>(b"gcd").map(|_| ()))
                        .is_ok()
                }
            }
            _ => false,
        }
    };
    if !matches!(
        style,
        Style::Dynamic | Style::Libffi | Style::FfiCall | Style::Typed | Style::Libloading
    ) || !bind()
    {
        return None;
    }
    let mut batches: Vec<f64> = (0..5)
        .map(|_| {
            let start = std::time::Instant::now();
            for _ in 0..50 {
                black_box(bind());
            }
            start.elapsed().as_secs_f64() * 1e9 / 50.0
        })
        .collect();
    batches.sort_by(f64::total_cmp);
    Some(batches[2])
}

/// How many calls the concurrency workloads make, and how long each blocking one sleeps.
const CONCURRENT_CALLS: usize = 64;
const SLEEP_US: u32 = 10_000;

/// 64 blocking C calls (`usleep(10 ms)`): one after another, as futures in one scope on 64
/// worker threads, and as 64 `sleep` subprocesses.
fn blocking64(libs: &Libraries) -> Result<Bench<'_>, CompareError> {
    let mut bench = Bench::new(CONCURRENT_CALLS as u64);
    let (sequential, function) = (
        declared(&libs.libc, "usleep")?,
        declared(&libs.libc, "usleep")?,
    );
    let pool = ffikit_abi::Pool::with_threads(CONCURRENT_CALLS);
    let args = [Value::UInt(u64::from(SLEEP_US))];
    let succeeded = |value: &Value| u64::from(matches!(value, Value::Int(0)));
    // The safety note for every unsafe block here: usleep takes any count of microseconds.
    bench
        .row(Style::Direct, move |_| {
            (0..CONCURRENT_CALLS)
                // SAFETY: the call matches the declaration, as the workload's safety note says.
                .map(|_| u64::from(unsafe { libc::usleep(black_box(SLEEP_US)) } == 0))
                .sum()
        })
        .fallible(Style::Dynamic, {
            let args = args.clone();
            move |_| {
                let mut ok = 0;
                for _ in 0..CONCURRENT_CALLS {
                    // SAFETY: the call matches the declaration, as the workload\'s safety note says.
                    let value = unsafe { sequential.call(black_box(&args)) }
                        .map_err(std::io::Error::other)?;
                    ok += succeeded(&value);
                }
                Ok(ok)
            }
        })
        .isolated(
            isolated_function(&libs.isolated_libc, "usleep").map(|usleep| {
                let args = args.clone();
                move |_| {
                    let mut ok = 0;
                    for _ in 0..CONCURRENT_CALLS {
                        let value = usleep
                            .call(black_box(&args))
                            .map_err(std::io::Error::other)?;
                        ok += succeeded(&value);
                    }
                    Ok(ok)
                }
            }),
        )
        .fallible(Style::Async, move |_| {
            pool.scope(|scope| {
                let calls: Vec<_> = (0..CONCURRENT_CALLS)
                    // SAFETY: the call matches the declaration, as the workload\'s safety note says.
                    .map(|_| unsafe { scope.call(&function, args.to_vec()) })
                    .collect();
                let mut ok = 0;
                for call in calls {
                    ok += succeeded(&call.join().map_err(std::io::Error::other)?.value);
                }
                Ok(ok)
            })
        })
        .fallible(Style::Subprocess, move |_| {
            let mut ok = 0;
            for _ in 0..CONCURRENT_CALLS {
                let status = Command::new("sleep")
                    .arg(format!("{}", f64::from(SLEEP_US) / 1e6))
                    .status()?;
                ok += u64::from(status.success());
            }
            Ok(ok)
        });
    Ok(bench)
}

/// CPU-bound C: 64 arrays sorted by the fixtures' `sort_ints` with their C comparator, one
/// after another and as futures in one scope on one worker per core.
fn sort64(libs: &Libraries) -> Result<Bench<'_>, CompareError> {
    const LEN: usize = 20_000;
    let unsorted: Vec<i32> = (0..LEN as i32)
        .map(|k| k.wrapping_mul(7919) % 10_007)
        .collect();
    let mut sorted_copy = unsorted.clone();
    sorted_copy.sort_unstable();
    let expected = (CONCURRENT_CALLS as u64).wrapping_mul(fnv(bytes_of_ints(&sorted_copy)));
    let mut bench = Bench::new(expected);
    let (sequential, function) = (
        declared(&libs.fixtures, "sort_ints")?,
        declared(&libs.fixtures, "sort_ints")?,
    );
    let comparator = sys::compare_ints_ascending as *const () as usize;
    let pool = ffikit_abi::Pool::default();
    let fresh = move || vec![unsorted.clone(); CONCURRENT_CALLS];
    let total = |arrays: &[Vec<i32>]| {
        arrays
            .iter()
            .fold(0u64, |sum, a| sum.wrapping_add(fnv(bytes_of_ints(a))))
    };
    // The safety note for every unsafe block here: each array holds LEN ints, and the
    // comparator is the fixtures' own C function comparing two ints.
    let fresh_direct = fresh.clone();
    let fresh_dynamic = fresh.clone();
    bench
        .row(Style::Direct, move |_| {
            let mut arrays = fresh_direct();
            for array in &mut arrays {
                // SAFETY: the call matches the declaration, as the workload's safety note says.
                unsafe {
                    sys::sort_ints(array.as_mut_ptr(), LEN, Some(sys::compare_ints_ascending))
                };
            }
            total(&arrays)
        })
        .fallible(Style::Dynamic, {
            move |_| {
                let mut arrays = fresh_dynamic();
                for array in &mut arrays {
                    let args = [
                        Value::Pointer(array.as_mut_ptr() as usize),
                        Value::UInt(LEN as u64),
                        Value::Pointer(comparator),
                    ];
                    // SAFETY: the call matches the declaration, as the workload\'s safety note says.
                    unsafe { sequential.call(&args) }.map_err(std::io::Error::other)?;
                }
                Ok(total(&arrays))
            }
        })
        .isolated(isolated_sort64(libs, fresh.clone(), total))
        .fallible(Style::Async, move |_| {
            let mut arrays = fresh();
            pool.scope(|scope| {
                let calls: Vec<_> = arrays
                    .iter_mut()
                    .map(|array| {
                        let args = vec![
                            Value::Pointer(array.as_mut_ptr() as usize),
                            Value::UInt(LEN as u64),
                            Value::Pointer(comparator),
                        ];
                        // SAFETY: the call matches the declaration, as the workload\'s safety
                        // note says; the scope outlives each array's borrow.
                        unsafe { scope.call(&function, args) }
                    })
                    .collect();
                for call in calls {
                    call.join().map_err(std::io::Error::other)?;
                }
                Ok::<(), std::io::Error>(())
            })?;
            Ok(total(&arrays))
        });
    Ok(bench)
}

/// sort64 in a worker: each array copied in and out, the comparator the worker's own C
/// function (its address there).
fn isolated_sort64<'a>(
    libs: &Libraries,
    fresh: impl Fn() -> Vec<Vec<i32>> + 'a,
    total: impl Fn(&[Vec<i32>]) -> u64 + 'a,
) -> Result<impl FnMut(Verify) -> Result<u64, std::io::Error> + 'a, String> {
    let sort = isolated_function(&libs.isolated_fixtures, "sort_ints")?;
    let comparator = isolated_function(&libs.isolated_fixtures, "compare_ints_ascending")?
        .handle()
        .map_err(|e| e.to_string())?;
    Ok(move |_| {
        let mut arrays = fresh();
        for array in &mut arrays {
            let mut args = [
                Value::Bytes(bytes_of_ints(array).to_vec()),
                Value::UInt(array.len() as u64),
                comparator.clone(),
            ];
            sort.call_mut(&mut args).map_err(std::io::Error::other)?;
            let Value::Bytes(out) = &args[0] else {
                unreachable!("the array stays bytes")
            };
            for (value, bytes) in array.iter_mut().zip(out.chunks_exact(4)) {
                *value = i32::from_ne_bytes(bytes.try_into().expect("4 bytes"));
            }
        }
        Ok(total(&arrays))
    })
}

fn bytes_of_ints(values: &[i32]) -> &[u8] {
    // SAFETY: any i32 is four initialized bytes; the slice covers exactly the values.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast(), std::mem::size_of_val(values)) }
}
