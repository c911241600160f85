//! Parsing speed on real headers: the preprocessed text of sqlite3.h and zlib.h (made by
//! `cc -E` in the set-up), in MB/s of preprocessed text. Target: at least 20 MB/s.

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

criterion_group!(benches, parse_headers);
criterion_main!(benches);
