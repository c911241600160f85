//! 100,000 callbacks — half typed (slots), half dynamic (libffi closures) — created, called
//! and dropped: memory does not grow (alone in its test binary, so no other test's
//! allocations blur the measurement; CI also runs it under valgrind, whose leak check sees
//! every closure and state freed).

use std::ffi::c_void;

use ffikit_abi::Library;

type Compare = unsafe extern "C" fn(*const c_void, *const c_void) -> i32;

fn libc() -> Library {
    // SAFETY: a system library or the fixtures: initializers sound to run (promise 1).
    unsafe { Library::open("libc.so.6") }.unwrap()
}

#[test]
fn a_hundred_thousand_callbacks_created_and_dropped() {
    let libc = libc();
    let under_valgrind =
        std::fs::read_to_string("/proc/self/maps").is_ok_and(|m| m.contains("vgpreload"));
    let cycles = 100_000;
    let rss = || {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        statm
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<usize>()
            .unwrap()
            * 4096
    };
    let before = rss();
    for k in 0..cycles {
        // Heap state the closure owns, freed with it (the leak check would see it otherwise).
        let captured: Vec<i32> = std::iter::repeat_n(k, 4).collect();
        if k % 2 == 0 {
            // A typed callback (a pre-compiled slot).
            let cb = libc
                .typed_callback::<Compare, _>(
                    "cycle",
                    "int (*)(const void *, const void *)",
                    move |_: *const c_void, _: *const c_void| captured[0],
                )
                .unwrap();
            // SAFETY: the comparator ignores its arguments.
            let got = unsafe { (cb.ptr().get())(std::ptr::null(), std::ptr::null()) };
            assert_eq!(got, k);
        } else {
            // A dynamic callback (a libffi closure).
            let cb = libc
                .callback("cycle", "int (*)(const void *, const void *)", move |_| {
                    Ok(ffikit_abi::Value::Int(captured[0].into()))
                })
                .unwrap();
            let address = cb.address().as_address().unwrap();
            // SAFETY: the closure code has the comparator's signature and ignores its
            // arguments.
            let compare = unsafe { std::mem::transmute::<usize, Compare>(address) };
            // SAFETY: as above.
            let got = unsafe { compare(std::ptr::null(), std::ptr::null()) };
            assert_eq!(got, k);
        }
    }
    // Memcheck keeps freed blocks in quarantine and maps shadow memory, so resident memory
    // says nothing there: its leak check is the measure instead.
    if !under_valgrind {
        let grown = rss().saturating_sub(before);
        assert!(
            grown < 16 << 20,
            "resident memory grew by {grown} bytes over {cycles} callbacks"
        );
    }
}
