//! The dynamic call path allocates nothing for calls of up to 16 arguments: scalars, pointers,
//! short strings, structs by value (in member order and not, by position, as C objects, up
//! to 4 KiB) and struct results read into C objects (`Function::call_into`). Counted by a
//! global allocator that counts this thread's allocations while a flag is set.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use ffikit::fixtures::SHARED_OBJECT;
use ffikit_abi::{Library, Value};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: delegates every operation to the system allocator unchanged; it only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        }
        // SAFETY: the caller's layout is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the pointer came from System.alloc with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One counted region at a time: the count is global, so two tests counting at once (the
/// harness runs them on parallel threads) could see each other's allocations.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// How many allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    let _alone = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

#[test]
fn calls_of_up_to_16_arguments_do_not_allocate() {
    // SAFETY: a system library or the fixtures: initializers sound to run (promise 1).
    let library = unsafe { Library::open_described(SHARED_OBJECT) }.unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let gcd = unsafe { library.get("gcd") }.unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let mix = unsafe { library.get("mix_scalars") }.unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let length = unsafe { library.get("string_length") }.unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let sum_struct = unsafe { library.get("sum_s_mixed64") }.unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let errno = unsafe { library.get("fail_with_errno") }
        .unwrap()
        .capture_errno();
    // The scalar lanes: in registers with SSE arguments, and through libffi.
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let six = unsafe { library.get("mixed_six") }.unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let gcd_libffi = unsafe { library.get("gcd") }.unwrap().use_libffi();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let mix_libffi = unsafe { library.get("mix_scalars") }.unwrap().use_libffi();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2); live arguments of the types the function expects (promise 3).
    let mixed64 = unsafe { library.get("make_s_mixed64").unwrap().call(&[1.into()]) }.unwrap();

    let gcd_args = [Value::Int(1071), Value::Int(462)];
    let mix_args: Vec<Value> = (0..13)
        .map(|k| match k {
            10 | 11 => Value::Float(0.5),
            12 => Value::Bool(true),
            _ => Value::Int(k),
        })
        .collect();
    let length_args = [Value::Str("a short string".into())];
    // The same struct with its members reversed: no plan takes it, the general conversion does.
    let reversed_args = [match &mixed64 {
        Value::Struct(fields) => Value::Struct(fields.iter().rev().cloned().collect()),
        other => panic!("a struct: {other:?}"),
    }];
    let struct_args = [mixed64];
    // SAFETY: live arguments of the types the function expects (promise 3).
    let struct_sum = unsafe { sum_struct.call(&struct_args) }.unwrap();
    let errno_args = [Value::Int(libc::EDOM.into())];
    let six_args = [
        Value::Int(-3),
        Value::Float(0.5),
        Value::Int(40_000),
        Value::Float(2.25),
        Value::Int(1 << 40),
        Value::Float(-1.0),
    ];

    let count = allocations(|| {
        for _ in 0..1000 {
            assert_eq!(
                // SAFETY: live arguments of the types the function expects (promise 3).
                unsafe { sum_struct.call(&reversed_args) }.unwrap(),
                struct_sum
            );
            // SAFETY: live arguments of the types the function expects (promise 3).
            assert_eq!(unsafe { gcd.call(&gcd_args) }.unwrap(), Value::Int(21));
            // SAFETY: live arguments of the types the function expects (promise 3).
            unsafe { mix.call(&mix_args) }.unwrap();
            assert_eq!(
                // SAFETY: live arguments of the types the function expects (promise 3).
                unsafe { length.call(&length_args) }.unwrap(),
                Value::UInt(14)
            );
            // SAFETY: live arguments of the types the function expects (promise 3).
            unsafe { sum_struct.call(&struct_args) }.unwrap();
            // SAFETY: live arguments of the types the function expects (promise 3).
            unsafe { errno.call(&errno_args) }.unwrap();
            // SAFETY: live arguments of the types the function expects (promise 3).
            unsafe { six.call(&six_args) }.unwrap();
            assert_eq!(
                // SAFETY: live arguments of the types the function expects (promise 3).
                unsafe { gcd_libffi.call(&gcd_args) }.unwrap(),
                Value::Int(21)
            );
            // SAFETY: live arguments of the types the function expects (promise 3).
            unsafe { mix_libffi.call(&mix_args) }.unwrap();
        }
    });
    assert_eq!(
        count, 0,
        "the call path allocated {count} times in 8000 calls"
    );
    // The counter does count: building a Value does allocate.
    assert!(allocations(|| drop(Value::Str("x".into()))) > 0);
}

/// C source for the large-struct test: structs of 128 bytes and 4 KiB, by value both ways.
const LARGE_STRUCTS_C: &str = r#"
#include <stdint.h>
struct s128 { int64_t v[16]; };
struct s4k { int64_t v[511]; double d; };
int64_t sum128(struct s128 s, int64_t k) {
    int64_t t = 0;
    for (int i = 0; i < 16; i++) t += (i + 1) * s.v[i];
    return t * k;
}
double sum4k(int32_t a, struct s4k s, double b) {
    double t = a + b + s.d;
    for (int i = 0; i < 511; i++) t += (i % 7) * (double)s.v[i];
    return t;
}
struct s128 make128(int64_t seed) {
    struct s128 r;
    for (int i = 0; i < 16; i++) r.v[i] = seed * (i + 1);
    return r;
}
struct s4k bump4k(struct s4k s, int64_t by) {
    for (int i = 0; i < 511; i++) s.v[i] += by * i;
    s.d += 0.5;
    return s;
}
"#;

/// `LARGE_STRUCTS_C` compiled by the system compiler into a temporary directory.
fn large_structs() -> (std::path::PathBuf, Library) {
    let dir = std::env::temp_dir().join(format!("ffikit-no-alloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (c, so) = (dir.join("large.c"), dir.join("liblarge.so"));
    std::fs::write(&c, LARGE_STRUCTS_C).unwrap();
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = std::process::Command::new(compiler)
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&so)
        .arg(&c)
        .status()
        .unwrap();
    assert!(status.success());
    // SAFETY: the generated code has no initializers (promise 1).
    let library = unsafe { Library::open(so.to_str().unwrap()) }.unwrap();
    library
        .cdef(
            "struct s128 { int64_t v[16]; }; struct s4k { int64_t v[511]; double d; };
             int64_t sum128(struct s128, int64_t); double sum4k(int32_t, struct s4k, double);
             struct s128 make128(int64_t); struct s4k bump4k(struct s4k, int64_t);",
        )
        .unwrap();
    (dir, library)
}

#[test]
fn structs_of_up_to_4_kib_by_value_and_read_into_objects_do_not_allocate() {
    let (dir, library) = large_structs();
    let bind = |name: &str| {
        // SAFETY: the declarations above are the generated functions' own (promise 2).
        let function = unsafe { library.get(name) }.unwrap();
        // SAFETY: as above.
        let libffi = unsafe { library.get(name) }.unwrap().use_libffi();
        [function, libffi]
    };
    let (sum128, sum4k, make128, bump4k) = (
        bind("sum128"),
        bind("sum4k"),
        bind("make128"),
        bind("bump4k"),
    );
    // The arguments: C objects, and a struct given by position (its one array member).
    let mut s128 = library.new_value("struct s128").unwrap();
    let v128: Vec<Value> = (1..=16).map(Value::Int).collect();
    s128.set(&Value::Array(vec![Value::Array(v128.clone())]))
        .unwrap();
    let mut s4k = library.new_value("struct s4k").unwrap();
    let v4k: Vec<Value> = (0..511).map(|i| Value::Int(i * 3 - 700)).collect();
    s4k.set(&Value::Array(vec![
        Value::Array(v4k.clone()),
        Value::Float(0.25),
    ]))
    .unwrap();
    let sum128_args = [Value::Data(s128), Value::Int(3)];
    let sum128_positional = [Value::Array(vec![Value::Array(v128)]), Value::Int(3)];
    let sum4k_args = [Value::Int(5), Value::Data(s4k.clone()), Value::Float(1.5)];
    let sum4k_positional = [
        Value::Int(5),
        Value::Array(vec![Value::Array(v4k), Value::Float(0.25)]),
        Value::Float(1.5),
    ];
    let bump_args = [Value::Data(s4k), Value::Int(2)];
    // What C computes, by the same formulas.
    let expected128 = Value::Int((1..=16).map(|i| i * i).sum::<i64>() * 3);
    let expected4k = Value::Float(
        5.0 + 1.5
            + 0.25
            + (0..511i64)
                .map(|i| ((i % 7) * (i * 3 - 700)) as f64)
                .sum::<f64>(),
    );
    // Results read into objects already there.
    let mut made = Value::Data(library.new_value("struct s128").unwrap());
    let mut bumped = Value::Data(library.new_value("struct s4k").unwrap());

    let count = allocations(|| {
        for round in 0..100 {
            for route in 0..2 {
                // SAFETY: live arguments of the types the functions expect (promise 3).
                unsafe {
                    assert_eq!(sum128[route].call(&sum128_args).unwrap(), expected128);
                    assert_eq!(sum128[route].call(&sum128_positional).unwrap(), expected128);
                    assert_eq!(sum4k[route].call(&sum4k_args).unwrap(), expected4k);
                    assert_eq!(sum4k[route].call(&sum4k_positional).unwrap(), expected4k);
                    make128[route]
                        .call_into(&[Value::Int(round)], &mut made)
                        .unwrap();
                    bump4k[route].call_into(&bump_args, &mut bumped).unwrap();
                }
            }
        }
    });
    assert_eq!(count, 0, "{count} allocations in 1,200 calls");
    // What was read into the objects is what C returned.
    let Value::Data(made) = &made else {
        unreachable!()
    };
    assert_eq!(
        made.get(),
        Value::Struct(vec![(
            "v".into(),
            Value::Array((1..=16).map(|i| Value::Int(99 * i)).collect())
        )])
    );
    let Value::Data(bumped) = &bumped else {
        unreachable!()
    };
    let Value::Struct(members) = bumped.get() else {
        unreachable!()
    };
    assert_eq!(members[1], ("d".into(), Value::Float(0.75)));
    let Value::Array(v) = &members[0].1 else {
        unreachable!()
    };
    assert_eq!(v[10], Value::Int(10 * 3 - 700 + 2 * 10));
    std::fs::remove_dir_all(dir).unwrap();
}
