//! The dynamic call path allocates nothing for calls of up to 16 arguments: scalars, pointers,
//! short strings, structs by value (in member order and not). Counted by a global allocator
//! that counts this thread's allocations while a flag is set.

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

/// How many allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> usize {
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
