//! The round trip of an isolated call (`gcd` in a worker process, through
//! `IsolatedLibrary`), beside the floor any two-process design pays: a bare ping-pong of one
//! shared word between two processes, once with both sides sleeping on a futex between
//! turns (a wake-up each way, what a call costs when its worker sleeps) and once with both
//! sides spinning (the cache line going back and forth, what it costs at best).

use std::hint::black_box;
use std::sync::atomic::{AtomicU32, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use ffikit::fixtures::{SHARED_OBJECT, sys};
use ffikit_abi::{IsolatedLibrary, IsolatedOptions, Value};

fn futex(word: &AtomicU32, op: i32, value: u32) {
    // SAFETY: FUTEX_WAIT/FUTEX_WAKE on a word of a shared mapping both processes keep.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            op,
            value,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0,
        )
    };
}

/// A turn: wait until the word is `expected` (spinning, or sleeping on the futex).
fn await_turn(word: &AtomicU32, expected: u32, sleep: bool) {
    loop {
        let now = word.load(Ordering::Acquire);
        if now == expected {
            return;
        }
        if sleep {
            futex(word, libc::FUTEX_WAIT, now);
        } else {
            std::hint::spin_loop();
        }
    }
}

fn pass(word: &AtomicU32, value: u32, sleep: bool) {
    word.store(value, Ordering::Release);
    if sleep {
        futex(word, libc::FUTEX_WAKE, 1);
    }
}

/// Measures `iters` round trips against a forked child that answers each turn.
fn ping_pong(iters: u64, sleep: bool) -> std::time::Duration {
    // SAFETY: a new shared anonymous mapping of one page.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(page, libc::MAP_FAILED);
    // SAFETY: the page is zeroed, aligned, and lives until unmapped below.
    let word = unsafe { &*page.cast::<AtomicU32>() };
    let rounds = iters as u32;
    // SAFETY: the child only runs the loop below (atomics and futex calls, no allocation,
    // no lock) and leaves with _exit.
    let child = unsafe { libc::fork() };
    if child == 0 {
        for k in 0..rounds {
            await_turn(word, 2 * k + 1, sleep);
            pass(word, 2 * k + 2, sleep);
        }
        // SAFETY: _exit has no preconditions.
        unsafe { libc::_exit(0) };
    }
    let start = std::time::Instant::now();
    for k in 0..rounds {
        pass(word, 2 * k + 1, sleep);
        await_turn(word, 2 * k + 2, sleep);
    }
    let elapsed = start.elapsed();
    // SAFETY: waiting for our own child, then unmapping our own page.
    unsafe {
        libc::waitpid(child, std::ptr::null_mut(), 0);
        libc::munmap(page, 4096);
    }
    elapsed
}

fn isolated(c: &mut Criterion) {
    let library = IsolatedLibrary::open_described(SHARED_OBJECT, IsolatedOptions::new()).unwrap();
    let gcd = library.function("gcd").unwrap();
    let args = [Value::Int(1071), Value::Int(462)];
    // SAFETY: gcd is defined for every pair of ints.
    let expected = Value::Int(unsafe { sys::gcd(1071, 462) }.into());
    assert_eq!(gcd.call(&args).unwrap(), expected);
    let mut group = c.benchmark_group("isolated");
    group.bench_function("gcd round trip", |b| {
        b.iter(|| gcd.call(black_box(&args)).unwrap())
    });
    group.bench_function("bare ping-pong, futex wake each way", |b| {
        b.iter_custom(|iters| ping_pong(iters, true))
    });
    group.bench_function("bare ping-pong, both spinning", |b| {
        b.iter_custom(|iters| ping_pong(iters, false))
    });
    group.finish();
}

criterion_group!(benches, isolated);
criterion_main!(benches);
