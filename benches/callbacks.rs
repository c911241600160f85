//! The cost of one C→Rust callback invocation: qsort of 100,000 ints through the fixtures'
//! `sort_ints` with a C comparator, a typed Rust callback and a dynamic Rust callback. The
//! difference to the C comparator, divided by the comparisons qsort makes (printed at the
//! start), is the cost per callback invocation.

use std::ffi::c_void;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ffikit::fixtures::{SHARED_OBJECT, sys};
use ffikit_abi::{Library, Value};

type Compare = unsafe extern "C" fn(*const c_void, *const c_void) -> i32;

const COUNT: usize = 100_000;

fn data() -> Vec<i32> {
    // A fixed pseudo-random permutation-like sequence (xorshift).
    let mut state = 0x2545_f491u32;
    (0..COUNT)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as i32
        })
        .collect()
}

fn sort(values: &mut [i32], compare: Compare) {
    // SAFETY: sort_ints qsorts `len` ints with a comparator of this type.
    unsafe { sys::sort_ints(values.as_mut_ptr(), values.len(), Some(compare)) };
}

fn callbacks(c: &mut Criterion) {
    // SAFETY: a system library or the fixtures: initializers sound to run (promise 1).
    let library = unsafe { Library::open_described(SHARED_OBJECT) }.unwrap();
    let input = data();

    static COMPARISONS: AtomicUsize = AtomicUsize::new(0);
    let counting = library
        .typed_callback::<Compare, _>(
            "counting",
            "compare_fn",
            |a: *const c_void, b: *const c_void| {
                COMPARISONS.fetch_add(1, Ordering::Relaxed);
                // SAFETY: qsort passes pointers to two ints.
                let (a, b) = unsafe { (*a.cast::<i32>(), *b.cast::<i32>()) };
                a.cmp(&b) as i32
            },
        )
        .unwrap();
    let mut check = input.clone();
    sort(&mut check, counting.ptr().get());
    assert!(check.is_sorted());
    eprintln!(
        "comparisons per sort of {COUNT} ints: {}",
        COMPARISONS.load(Ordering::Relaxed)
    );

    let typed = library
        .typed_callback::<Compare, _>(
            "typed",
            "compare_fn",
            |a: *const c_void, b: *const c_void| {
                // SAFETY: qsort passes pointers to two ints.
                let (a, b) = unsafe { (*a.cast::<i32>(), *b.cast::<i32>()) };
                a.cmp(&b) as i32
            },
        )
        .unwrap();
    let dynamic = library
        .callback("dynamic", "compare_fn", |args| {
            // SAFETY: qsort passes pointers to two ints.
            let read = |v: &Value| unsafe { *(v.as_address().unwrap() as *const i32) };
            Ok(Value::Int(read(&args[0]).cmp(&read(&args[1])) as i64))
        })
        .unwrap();
    // SAFETY: the dynamic callback's code has the signature of compare_fn.
    let dynamic_fn: Compare =
        unsafe { std::mem::transmute::<usize, Compare>(dynamic.address().as_address().unwrap()) };

    let mut group = c.benchmark_group("qsort_100k");
    group.sample_size(20);
    let styles: [(&str, Compare); 3] = [
        ("c_comparator", sys::compare_ints_ascending as Compare),
        ("typed_callback", typed.ptr().get()),
        ("dynamic_callback", dynamic_fn),
    ];
    for (name, compare) in styles {
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || input.clone(),
                |values| sort(black_box(values), compare),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, callbacks);
criterion_main!(benches);
