//! Typed callbacks and typed handles for generated signatures: 0 to 24 parameters mixing
//! integers of every width, floats, doubles and `#[derive(CStruct)]` structs of 1 to 64 bytes
//! (arrays inside), by value as arguments and results. The C side is generated from the same
//! table and compiled by the system compiler: C builds each argument, calls the Rust closure
//! through the typed callback's pointer and returns what it got back; and a C function takes
//! the same arguments through a typed handle and says whether each arrived intact.

mod support;
use support::compile;

use std::ffi::c_void;
use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};

use ffikit_abi::{CStruct, CValue};

/// A C type with a deterministic value per seed, built the same way in C (`make_T(seed)`).
trait Sample: CValue + PartialEq + Debug + Send + Sync + 'static {
    const C: &'static str;
    fn make(seed: i32) -> Self;
}

macro_rules! scalar_samples {
    ($($ty:ty => $c:literal),*) => {$(
        impl Sample for $ty {
            const C: &'static str = $c;
            fn make(seed: i32) -> Self {
                seed as $ty
            }
        }
    )*};
}

scalar_samples! {
    i8 => "signed char", u8 => "unsigned char", i16 => "short", u16 => "unsigned short",
    i32 => "int", u32 => "unsigned int", i64 => "long", u64 => "unsigned long",
    f32 => "float", f64 => "double"
}

impl Sample for () {
    const C: &'static str = "void";
    fn make(_: i32) -> Self {}
}

/// Structs: the Rust mirror, and the C definition with its `make_` and `eq_` functions. Field
/// k is seed + k; element j of an array field k is seed + k + j.
macro_rules! struct_samples {
    ($($name:ident [$c_fields:literal] { $($field:ident: $ty:ty = $init:expr),* })*) => {
        $(
            #[repr(C)]
            #[derive(CStruct, Clone, Copy, Debug, PartialEq)]
            struct $name { $($field: $ty),* }

            impl Sample for $name {
                const C: &'static str = concat!("struct ", stringify!($name));
                #[allow(clippy::redundant_closure_call)]
                fn make(seed: i32) -> Self {
                    let mut k = 0;
                    $(
                        let $field: $ty = ($init)(seed + k);
                        k += 1;
                    )*
                    let _ = k;
                    $name { $($field),* }
                }
            }
        )*

        /// The C definitions of the structs.
        const STRUCTS_C: &str = concat!($(
            "struct ", stringify!($name), " { ", $c_fields, " };\n",
        )*);
    };
}

fn array<T: Copy + Default, const N: usize>(base: i32, f: fn(i32) -> T) -> [T; N] {
    let mut out = [T::default(); N];
    for (j, slot) in out.iter_mut().enumerate() {
        *slot = f(base + j as i32);
    }
    out
}

struct_samples! {
    S1 ["signed char a;"] { a: i8 = |s| s as i8 }
    S3 ["signed char a, b, c;"] { a: i8 = |s| s as i8, b: i8 = |s| s as i8, c: i8 = |s| s as i8 }
    S8 ["int a; float b;"] { a: i32 = |s| s, b: f32 = |s| s as f32 }
    S12 ["float a, b, c;"] { a: f32 = |s| s as f32, b: f32 = |s| s as f32, c: f32 = |s| s as f32 }
    S16 ["double a; int b;"] { a: f64 = |s| s as f64, b: i32 = |s| s }
    S16i ["long a, b;"] { a: i64 = |s| s as i64, b: i64 = |s| s as i64 }
    S24 ["unsigned char a; double b; short c;"] { a: u8 = |s| s as u8, b: f64 = |s| s as f64, c: i16 = |s| s as i16 }
    S32 ["double a, b, c, d;"] { a: f64 = |s| s as f64, b: f64 = |s| s as f64, c: f64 = |s| s as f64, d: f64 = |s| s as f64 }
    S40 ["long a; int b[4]; double c; unsigned char d;"] {
        a: i64 = |s| s as i64, b: [i32; 4] = |s| array(s, |v| v), c: f64 = |s| s as f64, d: u8 = |s| s as u8
    }
    S64 ["long a; double b; int c; float d; short e; signed char f; unsigned char g; double h; long i; double j; unsigned int k; float l;"] {
        a: i64 = |s| s as i64, b: f64 = |s| s as f64, c: i32 = |s| s, d: f32 = |s| s as f32,
        e: i16 = |s| s as i16, f: i8 = |s| s as i8, g: u8 = |s| s as u8, h: f64 = |s| s as f64,
        i: i64 = |s| s as i64, j: f64 = |s| s as f64, k: u32 = |s| s as u32, l: f32 = |s| s as f32
    }
}

/// The C `make_`/`eq_` functions of each struct, from its field list: scalars get seed + k,
/// arrays seed + k + j, as `Sample::make` does.
const STRUCT_HELPERS_C: &str = r#"
#define FIELD(s, f, k) s.f = (__typeof__(s.f))(seed + (k))
#define ARRAY(s, f, k) for (int j = 0; j < (int)(sizeof s.f / sizeof s.f[0]); j++) s.f[j] = seed + (k) + j
static struct S1 make_S1(int seed) { struct S1 s; memset(&s, 0, sizeof s); FIELD(s, a, 0); return s; }
static struct S3 make_S3(int seed) { struct S3 s; memset(&s, 0, sizeof s); FIELD(s, a, 0); FIELD(s, b, 1); FIELD(s, c, 2); return s; }
static struct S8 make_S8(int seed) { struct S8 s; memset(&s, 0, sizeof s); FIELD(s, a, 0); FIELD(s, b, 1); return s; }
static struct S12 make_S12(int seed) { struct S12 s; memset(&s, 0, sizeof s); FIELD(s, a, 0); FIELD(s, b, 1); FIELD(s, c, 2); return s; }
static struct S16 make_S16(int seed) { struct S16 s; memset(&s, 0, sizeof s); FIELD(s, a, 0); FIELD(s, b, 1); return s; }
static struct S16i make_S16i(int seed) { struct S16i s; memset(&s, 0, sizeof s); FIELD(s, a, 0); FIELD(s, b, 1); return s; }
static struct S24 make_S24(int seed) { struct S24 s; memset(&s, 0, sizeof s); FIELD(s, a, 0); FIELD(s, b, 1); FIELD(s, c, 2); return s; }
static struct S32 make_S32(int seed) { struct S32 s; memset(&s, 0, sizeof s); FIELD(s, a, 0); FIELD(s, b, 1); FIELD(s, c, 2); FIELD(s, d, 3); return s; }
static struct S40 make_S40(int seed) { struct S40 s; memset(&s, 0, sizeof s); FIELD(s, a, 0); ARRAY(s, b, 1); FIELD(s, c, 2); FIELD(s, d, 3); return s; }
static struct S64 make_S64(int seed) { struct S64 s; memset(&s, 0, sizeof s); FIELD(s, a, 0); FIELD(s, b, 1); FIELD(s, c, 2); FIELD(s, d, 3); FIELD(s, e, 4); FIELD(s, f, 5); FIELD(s, g, 6); FIELD(s, h, 7); FIELD(s, i, 8); FIELD(s, j, 9); FIELD(s, k, 10); FIELD(s, l, 11); return s; }
// Field by field: padding bytes of a struct passed by value are not part of its value.
static int same_S1(struct S1 x, int seed) { struct S1 y = make_S1(seed); return x.a == y.a; }
static int same_S3(struct S3 x, int seed) { struct S3 y = make_S3(seed); return x.a == y.a && x.b == y.b && x.c == y.c; }
static int same_S8(struct S8 x, int seed) { struct S8 y = make_S8(seed); return x.a == y.a && x.b == y.b; }
static int same_S12(struct S12 x, int seed) { struct S12 y = make_S12(seed); return x.a == y.a && x.b == y.b && x.c == y.c; }
static int same_S16(struct S16 x, int seed) { struct S16 y = make_S16(seed); return x.a == y.a && x.b == y.b; }
static int same_S16i(struct S16i x, int seed) { struct S16i y = make_S16i(seed); return x.a == y.a && x.b == y.b; }
static int same_S24(struct S24 x, int seed) { struct S24 y = make_S24(seed); return x.a == y.a && x.b == y.b && x.c == y.c; }
static int same_S32(struct S32 x, int seed) { struct S32 y = make_S32(seed); return x.a == y.a && x.b == y.b && x.c == y.c && x.d == y.d; }
static int same_S40(struct S40 x, int seed) { struct S40 y = make_S40(seed); return x.a == y.a && memcmp(x.b, y.b, sizeof x.b) == 0 && x.c == y.c && x.d == y.d; }
static int same_S64(struct S64 x, int seed) { struct S64 y = make_S64(seed); return x.a == y.a && x.b == y.b && x.c == y.c && x.d == y.d && x.e == y.e && x.f == y.f && x.g == y.g && x.h == y.h && x.i == y.i && x.j == y.j && x.k == y.k && x.l == y.l; }
"#;

/// The seed of argument `index` of case `case`: small enough for every type.
fn seed(case: usize, index: usize) -> i32 {
    ((case * 7 + index * 3) % 90 + 1) as i32
}

/// The C name of a `make_` function for a type: structs have one each, scalars a cast.
fn make_c(c_type: &str, seed: i32) -> String {
    match c_type.strip_prefix("struct ") {
        Some(name) => format!("make_{name}({seed})"),
        None => format!("(({c_type})({seed}))"),
    }
}

/// Equality in C: structs member by member against `make_` (`same_`), scalars with `==`.
fn eq_c(c_type: &str, value: &str, seed: i32) -> String {
    match c_type.strip_prefix("struct ") {
        Some(name) => format!("same_{name}({value}, {seed})"),
        None => format!("({value} == {})", make_c(c_type, seed)),
    }
}

/// What the Rust closures saw differ from what C built.
static MISMATCHES: AtomicUsize = AtomicUsize::new(0);

fn check<T: Sample>(value: T, case: usize, index: usize) {
    if value != T::make(seed(case, index)) {
        MISMATCHES.fetch_add(1, Ordering::Relaxed);
        eprintln!("case {case}, argument {index}: {value:?}");
    }
}

/// One generated case: C's `invoke_N` and `direct_N`.
fn case_c(case: usize, params: &[&str], result: &str) -> String {
    let list = if params.is_empty() {
        "void".to_owned()
    } else {
        params.join(", ")
    };
    let args: Vec<String> = params
        .iter()
        .enumerate()
        .map(|(i, t)| make_c(t, seed(case, i)))
        .collect();
    let named: Vec<String> = params
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{t} a{i}"))
        .collect();
    let checks: Vec<String> = params
        .iter()
        .enumerate()
        .map(|(i, t)| eq_c(t, &format!("a{i}"), seed(case, i)))
        .collect();
    let verdict = if checks.is_empty() {
        "1".to_owned()
    } else {
        checks.join(" && ")
    };
    let (back, good, bad) = if result == "void" {
        (
            "".to_owned(),
            "return;".to_owned(),
            "direct_failures++; return;".to_owned(),
        )
    } else {
        (
            "return ".to_owned(),
            format!("return {};", make_c(result, 77)),
            format!("direct_failures++; return {};", make_c(result, 1)),
        )
    };
    format!(
        "{result} invoke_{case}({result} (*f)({list})) {{ {back}f({args}); }}\n\
         {result} direct_{case}({named}) {{ if ({verdict}) {{ {good} }} {bad} }}\n",
        args = args.join(", "),
        named = if named.is_empty() {
            "void".to_owned()
        } else {
            named.join(", ")
        },
    )
}

macro_rules! cases {
    ($($case:literal: ($($arg:ident $index:literal: $ty:ty),*) -> $result:ty;)*) => {
        fn source() -> String {
            let mut text = String::from("#include <string.h>\n");
            text.push_str(STRUCTS_C);
            text.push_str(STRUCT_HELPERS_C);
            text.push_str("int direct_failures;\n");
            $(text.push_str(&case_c($case, &[$(<$ty as Sample>::C),*], <$result as Sample>::C));)*
            text
        }

        #[test]
        fn generated_signatures_through_typed_callbacks_and_typed_handles() {
            let (_dir, library) = compile(&source());
            library.cdef(STRUCTS_C).unwrap();
            let mut cases = 0;
            $({
                cases += 1;
                type Signature = unsafe extern "C" fn($($ty),*) -> $result;
                let declaration = format!(
                    "{} invoke_{}({} (*)({}))",
                    <$result as Sample>::C, $case, <$result as Sample>::C,
                    <[&str]>::join(&[$(<$ty as Sample>::C),*], ", ")
                );
                let callback_type = format!(
                    "{} (*)({})",
                    <$result as Sample>::C,
                    {
                        let list: Vec<&str> = vec![$(<$ty as Sample>::C),*];
                        if list.is_empty() { "void".to_owned() } else { list.join(", ") }
                    }
                );
                let callback = library
                    .typed_callback::<Signature, _>(
                        &format!("case_{}", $case),
                        &callback_type,
                        #[allow(unused_variables)]
                        move |$($arg: $ty),*| -> $result {
                            $(check($arg, $case, $index);)*
                            <$result as Sample>::make(77)
                        },
                    )
                    .unwrap_or_else(|e| panic!("case {}: {e}", $case));
                // SAFETY: the generated function is declared as compiled (promise 2); it
                // calls the callback once, while it lives (promises 3 and 5).
                let back = unsafe {
                    let invoke = library.function(&declaration).unwrap();
                    let invoke = invoke
                        .typed::<unsafe extern "C" fn(*const c_void) -> $result>()
                        .unwrap();
                    (*invoke)(callback.callback().address().as_address().unwrap() as *const c_void)
                };
                assert_eq!(back, <$result as Sample>::make(77), "case {} through C", $case);

                let direct = format!(
                    "{} direct_{}({})",
                    <$result as Sample>::C, $case,
                    {
                        let list: Vec<&str> = vec![$(<$ty as Sample>::C),*];
                        if list.is_empty() { "void".to_owned() } else { list.join(", ") }
                    }
                );
                // SAFETY: as above; the function only compares its arguments.
                let got = unsafe {
                    let direct = library.function(&direct).unwrap();
                    let direct = direct.typed::<Signature>().unwrap();
                    (*direct)($(<$ty as Sample>::make(seed($case, $index))),*)
                };
                assert_eq!(got, <$result as Sample>::make(77), "case {} through a typed handle", $case);
            })*
            assert_eq!(MISMATCHES.load(Ordering::Relaxed), 0, "arguments the closures saw wrong");
            // SAFETY: a global the generated library defines as int.
            let failures = unsafe { library.global("int direct_failures") }.unwrap().get();
            assert_eq!(failures, ffikit_abi::Value::Int(0), "arguments C saw wrong");
            assert!(cases >= 40);
        }
    };
}

cases! {
    0: () -> S3;
    1: (a 0: S16i) -> S16i;
    2: (a 0: f64, b 1: S12) -> u64;
    3: (a 0: S16, b 1: i8, c 2: S12) -> f32;
    4: (a 0: u64, b 1: u64, c 2: i8, d 3: f64) -> f64;
    5: (a 0: S1, b 1: i32, c 2: S64, d 3: f64, e 4: i8) -> u64;
    6: (a 0: S64, b 1: f32, c 2: i8, d 3: i32, e 4: S64, f 5: i8) -> S16;
    7: (a 0: S16, b 1: S64, c 2: f64, d 3: u64, e 4: f64, f 5: S3, g 6: f32) -> S12;
    8: (a 0: i16, b 1: S3, c 2: S16i, d 3: S12, e 4: S24, f 5: u32, g 6: S40, h 7: f64) -> S40;
    9: (a 0: u8, b 1: f64, c 2: i16, d 3: i8, e 4: S24, f 5: S3, g 6: u64, h 7: S16i, i 8: i32) -> f64;
    10: (a 0: f64, b 1: S1, c 2: S16, d 3: S16, e 4: i16, f 5: u32, g 6: S16i, h 7: i8, i 8: S16, j 9: S16i) -> i8;
    11: (a 0: S16i, b 1: u16, c 2: S16, d 3: S64, e 4: i16, f 5: S16i, g 6: i8, h 7: i32, i 8: u64, j 9: S8, k 10: S3) -> u8;
    12: (a 0: S32, b 1: u8, c 2: S8, d 3: S64, e 4: S1, f 5: S16i, g 6: S24, h 7: i16, i 8: u64, j 9: S1, k 10: u16, l 11: i16) -> S32;
    13: (a 0: u16, b 1: u64, c 2: i8, d 3: S8, e 4: u8, f 5: u16, g 6: u8, h 7: S8, i 8: i32, j 9: f32, k 10: u64, l 11: u32, m 12: S40) -> i8;
    14: (a 0: u64, b 1: S24, c 2: u64, d 3: u16, e 4: u16, f 5: i32, g 6: f32, h 7: S8, i 8: S12, j 9: u8, k 10: S8, l 11: S16, m 12: S16, n 13: S16) -> f32;
    15: (a 0: u8, b 1: u8, c 2: i8, d 3: i64, e 4: S12, f 5: f32, g 6: S24, h 7: S8, i 8: u16, j 9: i64, k 10: u16, l 11: S12, m 12: u16, n 13: f64, o 14: u16) -> S16;
    16: (a 0: S12, b 1: i32, c 2: S8, d 3: u64, e 4: i32, f 5: i32, g 6: S8, h 7: S12, i 8: S24, j 9: u64, k 10: S8, l 11: u32, m 12: S3, n 13: S16i, o 14: u32, p 15: S12) -> i64;
    17: (a 0: S12, b 1: i8, c 2: S16i, d 3: f64, e 4: S40, f 5: f64, g 6: u16, h 7: i16, i 8: f64, j 9: S16i, k 10: u64, l 11: S32, m 12: S16i, n 13: i64, o 14: S40, p 15: S16, q 16: S24) -> i32;
    18: (a 0: S16i, b 1: S32, c 2: i16, d 3: u16, e 4: S1, f 5: u8, g 6: S16, h 7: i16, i 8: S16i, j 9: u8, k 10: S24, l 11: S1, m 12: S32, n 13: u32, o 14: u16, p 15: S3, q 16: S8, r 17: f64) -> S8;
    19: (a 0: i16, b 1: u64, c 2: i64, d 3: S16, e 4: i64, f 5: i8, g 6: i8, h 7: u64, i 8: S1, j 9: S8, k 10: S64, l 11: S64, m 12: i64, n 13: u8, o 14: f32, p 15: i8, q 16: S8, r 17: u8, s 18: i32) -> S32;
    20: (a 0: u64, b 1: i64, c 2: S24, d 3: S32, e 4: f32, f 5: S24, g 6: i8, h 7: S64, i 8: S64, j 9: S24, k 10: i64, l 11: S16i, m 12: S40, n 13: S16i, o 14: S3, p 15: i32, q 16: S16, r 17: u32, s 18: u16, t 19: i64) -> i8;
    21: (a 0: i16, b 1: S3, c 2: f64, d 3: u16, e 4: i32, f 5: u8, g 6: u32, h 7: S64, i 8: u16, j 9: u64, k 10: S3, l 11: i64, m 12: S40, n 13: S12, o 14: i16, p 15: u32, q 16: i16, r 17: S16, s 18: i16, t 19: u8, u 20: S40) -> i32;
    22: (a 0: i32, b 1: u32, c 2: i64, d 3: S12, e 4: u8, f 5: S3, g 6: u16, h 7: S8, i 8: S12, j 9: f32, k 10: u16, l 11: S64, m 12: S8, n 13: S64, o 14: i64, p 15: S3, q 16: S16, r 17: S3, s 18: S12, t 19: i8, u 20: S3, v 21: i64) -> i16;
    23: (a 0: i64, b 1: S8, c 2: S12, d 3: u8, e 4: S40, f 5: i64, g 6: S12, h 7: S32, i 8: S1, j 9: u8, k 10: S24, l 11: S8, m 12: S3, n 13: i8, o 14: i32, p 15: S12, q 16: u64, r 17: S1, s 18: u32, t 19: S8, u 20: u8, v 21: S8, w 22: u8) -> S8;
    24: (a 0: S16, b 1: u8, c 2: i32, d 3: i8, e 4: u32, f 5: i64, g 6: S40, h 7: f64, i 8: S64, j 9: S40, k 10: S12, l 11: i8, m 12: u8, n 13: u16, o 14: S24, p 15: S32, q 16: i8, r 17: i32, s 18: S1, t 19: S64, u 20: S64, v 21: i16, w 22: S40, x 23: S32) -> f64;
    25: (a 0: S16, b 1: i32, c 2: S64) -> S12;
    26: (a 0: f64, b 1: S40, c 2: S64, d 3: S12, e 4: S32) -> i16;
    27: (a 0: i32, b 1: S64, c 2: u8, d 3: f64, e 4: f32, f 5: f64, g 6: S16) -> S1;
    28: (a 0: i16, b 1: f32, c 2: S8, d 3: f64, e 4: S40, f 5: S16i, g 6: i8, h 7: u16, i 8: u16) -> S1;
    29: (a 0: S8, b 1: f32, c 2: S16, d 3: f64, e 4: i64, f 5: f32, g 6: i8, h 7: S16i, i 8: i8, j 9: i64, k 10: i16, l 11: S12) -> i32;
    30: (a 0: S40, b 1: u64, c 2: S1, d 3: S12, e 4: S40, f 5: u16, g 6: f32, h 7: i8, i 8: S1, j 9: u32, k 10: S3, l 11: S12, m 12: S40, n 13: f64, o 14: S3, p 15: i64) -> u32;
    31: (a 0: i64, b 1: S24, c 2: u8, d 3: S32, e 4: i16, f 5: f32, g 6: i8, h 7: i8, i 8: S32, j 9: u16, k 10: f32, l 11: i64, m 12: u16, n 13: u16, o 14: S16i, p 15: S16i, q 16: S3, r 17: i8, s 18: i8, t 19: i16) -> f32;
    32: (a 0: S12, b 1: u16, c 2: S1, d 3: S12, e 4: S64, f 5: S16i, g 6: S8, h 7: u64, i 8: S64, j 9: i64, k 10: f64, l 11: u32, m 12: u64, n 13: u32, o 14: u32, p 15: S8, q 16: S3, r 17: i16, s 18: i32, t 19: i8, u 20: i64, v 21: i32, w 22: S12, x 23: i16) -> f32;
    33: (a 0: f64, b 1: S12) -> S1;
    34: (a 0: S1) -> S8;
    35: (a 0: S1, b 1: u16, c 2: S1) -> S1;
    36: (a 0: S3, b 1: u32, c 2: S3) -> S3;
    37: (a 0: S8, b 1: u16, c 2: S8) -> S8;
    38: (a 0: S12, b 1: u64, c 2: S12) -> S12;
    39: (a 0: S16, b 1: i8, c 2: S16) -> S16;
    40: (a 0: S16i, b 1: f32, c 2: S16i) -> S16i;
    41: (a 0: S24, b 1: i8, c 2: S24) -> S24;
    42: (a 0: S32, b 1: u32, c 2: S32) -> S32;
    43: (a 0: S40, b 1: i8, c 2: S40) -> S40;
    44: (a 0: S64, b 1: u64, c 2: S64) -> S64;
}
