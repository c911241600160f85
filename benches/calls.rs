//! Every `ffikit compare` workload in every style, under criterion, plus what binding costs:
//! opening a library, and parsing and binding 100 declarations.
//!
//! `cargo bench --bench calls` (all), `cargo bench --bench calls -- gcd` (one workload),
//! `cargo bench --bench calls -- binding` (binding cost). Each style's result is checked
//! against the expected one before it is timed, as `ffikit compare` does.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ffikit::compare::workloads::{self, Libraries};
use ffikit::fixtures::SHARED_OBJECT;
use ffikit_abi::Library;

fn calls(c: &mut Criterion) {
    let libs = Libraries::open().expect("the fixtures and libc open");
    for &workload in workloads::WORKLOADS {
        let bench = workloads::build(workload, &libs).expect("the workload binds");
        let mut group = c.benchmark_group(workload);
        if workload.contains("10MiB") || workload == "sort" {
            group.sample_size(10);
        }
        for (style, call) in bench.rows {
            let Ok(mut call) = call else { continue };
            match call(true) {
                Ok(got) => assert_eq!(got, bench.expected, "{workload} / {style:?}"),
                // Only the iconv command may be missing.
                Err(error) => {
                    eprintln!("{workload} / {style:?} not run: {error}");
                    continue;
                }
            }
            group.bench_function(style.key(), |b| {
                b.iter(|| black_box(call(false).expect("the call succeeds")))
            });
        }
        group.finish();
    }
}

/// `n` declarations from the fixtures' own description (functions only).
fn declarations(library: &Library, n: usize) -> (String, Vec<String>) {
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2); live arguments of the types the function expects (promise 3).
    let manifest = unsafe {
        library
            .function("const char *ffikit_manifest(void)")
            .unwrap()
            .call(&[])
    }
    .unwrap()
    .as_text()
    .unwrap();
    let mut parsed = ffikit_cdecl::Declarations::new();
    parsed.cdef(&manifest).unwrap();
    let names: Vec<String> = parsed
        .functions()
        .map(|f| f.name.clone())
        .filter(|name| !name.contains("long_double"))
        .take(n)
        .collect();
    assert_eq!(
        names.len(),
        n,
        "the manifest declares at least {n} functions"
    );
    (manifest, names)
}

fn binding(c: &mut Criterion) {
    let mut group = c.benchmark_group("binding");
    group.bench_function("open libz (ffikit)", |b| {
        // SAFETY: a system library or the fixtures: initializers sound to run (promise 1).
        b.iter(|| black_box(unsafe { Library::open("libz.so.1") }.unwrap()))
    });
    group.bench_function("open libz (libloading)", |b| {
        // SAFETY: libz's initializers are safe to run (and run once; later opens are counted).
        b.iter(|| black_box(unsafe { libloading::Library::new("libz.so.1") }.unwrap()))
    });
    // SAFETY: a system library or the fixtures: initializers sound to run (promise 1).
    let described = unsafe { Library::open_described(SHARED_OBJECT) }.unwrap();
    let (manifest, names) = declarations(&described, 100);
    group.bench_function("parse and bind 100 declarations", |b| {
        b.iter(|| {
            // SAFETY: a system library or the fixtures: initializers sound to run (promise 1).
            let library = unsafe { Library::open(SHARED_OBJECT) }.unwrap();
            library.cdef(&manifest).unwrap();
            for name in &names {
                // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
                black_box(unsafe { library.get(name) }.unwrap());
            }
        })
    });
    group.bench_function("bind 100 declarations (parsed)", |b| {
        b.iter(|| {
            for name in &names {
                // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
                black_box(unsafe { described.get(name) }.unwrap());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, calls, binding);
criterion_main!(benches);
