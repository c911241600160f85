//! Parsing speed on real headers: the preprocessed text of sqlite3.h and zlib.h (made by
//! `cc -E` in the set-up), in MB/s of preprocessed text. Target: at least 20 MB/s.
//!
//! And on hostile text, which must take time linear in its size: 40,000 `static inline`
//! functions (each skipped with a note), one per line and all on one line, and a type nested
//! 16,000 levels (refused at the depth limit).

use std::hint::black_box;
use std::process::Command;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ffikit_cdecl::Declarations;

fn preprocessed(header: &str) -> String {
    let output = Command::new("sh")
        .args(["-c", &format!("echo '#include <{header}>' | cc -E -x c -")])
        .output()
        .expect("cc runs");
    assert!(output.status.success(), "cc -E {header} failed");
    String::from_utf8(output.stdout).expect("headers are UTF-8")
}

fn parse_headers(c: &mut Criterion) {
    let mut group = c.benchmark_group("cdef");
    for header in ["sqlite3.h", "zlib.h"] {
        let text = preprocessed(header);
        // Check once that it parses, so the benchmark measures real work.
        Declarations::new().cdef(&text).expect("the header parses");
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(header, |b| {
            b.iter(|| {
                let mut decls = Declarations::new();
                black_box(decls.cdef(black_box(&text)).expect("parses"));
            })
        });
    }
    group.finish();
}

fn parse_hostile(c: &mut Criterion) {
    let mut group = c.benchmark_group("hostile");
    group.sample_size(20);
    let lines: String = (0..40_000)
        .map(|k| format!("static inline int f{k}(int x) {{ return x + {k}; }}\n"))
        .collect();
    let one_line = lines.replace('\n', " ");
    for (name, text) in [
        ("static-inline-lines", lines),
        ("static-inline-one-line", one_line),
    ] {
        let report = Declarations::new().cdef(&text).expect("parses");
        assert_eq!(report.skipped.len(), 40_000);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| black_box(Declarations::new().cdef(black_box(&text)).is_ok()))
        });
    }
    let dims = format!("int x{};", "[1]".repeat(16_000));
    group.throughput(Throughput::Bytes(dims.len() as u64));
    group.bench_function("array-16000-dimensions", |b| {
        b.iter(|| black_box(Declarations::new().cdef(black_box(&dims)).is_err()))
    });
    group.finish();
}

criterion_group!(benches, parse_headers, parse_hostile);
criterion_main!(benches);
