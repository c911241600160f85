//! A dynamic callback whose own body drops the last handle to it (as a Python callable that
//! frees the object holding its callback does — cairocffi's surfaces do): the code and state
//! its invocation still runs on are freed when the invocation returns, not under its feet.
//! Both routes: a libffi closure (a signature with more parameters than registers) and a
//! register-file slot. `.ci/run` runs it under memcheck, which sees any use after free.

use std::sync::{Arc, Mutex};

use ffikit_abi::{Callback, Library, Value};

fn libc() -> Library {
    // SAFETY: libc's initializers are sound to run (promise 1).
    unsafe { Library::open("libc.so.6") }.unwrap()
}

#[test]
fn a_callback_dropped_by_its_own_body_finishes_its_invocation() {
    let libc = libc();
    // SAFETY: how <stdlib.h> declares qsort.
    let qsort = unsafe {
        libc.function("void qsort(void *, size_t, size_t, int (*)(const void *, const void *))")
    }
    .unwrap();
    let holder: Arc<Mutex<Option<Callback>>> = Arc::new(Mutex::new(None));
    let inside = Arc::clone(&holder);
    let callback = libc
        .callback(
            "drops itself",
            "int (*)(const void *, const void *)",
            move |args| {
                // The last handle goes, from inside the invocation.
                drop(inside.lock().unwrap().take());
                let read = |v: &Value| match v {
                    // SAFETY: qsort passes pointers into the array below.
                    Value::Pointer(p) => unsafe { *(*p as *const i32) },
                    _ => 0,
                };
                Ok(Value::Int(i64::from(read(&args[0]) - read(&args[1]))))
            },
        )
        .unwrap();
    let address = callback.address();
    *holder.lock().unwrap() = Some(callback);
    let mut values = [2i32, 1];
    // SAFETY: a valid array of 2 ints, and the callback lives until its first invocation
    // returns (its own body drops it; the call after that is never made: 2 elements need
    // one comparison).
    unsafe {
        qsort
            .call(&[
                Value::Pointer(values.as_mut_ptr() as usize),
                Value::UInt(2),
                Value::UInt(4),
                address,
            ])
            .unwrap();
    }
    assert_eq!(values, [1, 2]);
    assert!(holder.lock().unwrap().is_none());
}

#[test]
fn a_libffi_closure_dropped_by_its_own_body_finishes_too() {
    let libc = libc();
    // Nine integer parameters: more than the six integer registers, so a libffi closure.
    let holder: Arc<Mutex<Option<Callback>>> = Arc::new(Mutex::new(None));
    let inside = Arc::clone(&holder);
    let callback = libc
        .callback(
            "nine",
            "long (*)(long, long, long, long, long, long, long, long, long)",
            move |args| {
                drop(inside.lock().unwrap().take());
                Ok(Value::Int(
                    args.iter().filter_map(Value::as_i128).sum::<i128>() as i64,
                ))
            },
        )
        .unwrap();
    let address = callback.address().as_address().unwrap();
    *holder.lock().unwrap() = Some(callback);
    type Nine = unsafe extern "C" fn(i64, i64, i64, i64, i64, i64, i64, i64, i64) -> i64;
    // SAFETY: the address is a callback of exactly this signature, alive until its body
    // drops it during this one call.
    let nine = unsafe { std::mem::transmute::<usize, Nine>(address) };
    // SAFETY: as above.
    assert_eq!(unsafe { nine(1, 2, 3, 4, 5, 6, 7, 8, 9) }, 45);
    assert!(holder.lock().unwrap().is_none());
}
