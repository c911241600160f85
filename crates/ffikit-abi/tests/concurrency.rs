//! C calls off the caller's thread: futures under two executors, scopes that wait for every
//! call and lend borrowed buffers, detached calls that finish after their future is dropped,
//! errno read on the worker, a dedicated worker's one thread, and a callback called from a C
//! thread delivered to an async stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ffikit_abi::{ErrorKind, Library, OwnedFunction, Pool, Value};

fn libc() -> Arc<Library> {
    // SAFETY: libc's initializers are sound to run (promise 1).
    Arc::new(unsafe { Library::open("libc.so.6") }.unwrap())
}

fn owned(library: &Arc<Library>, declaration: &str) -> Arc<OwnedFunction> {
    // SAFETY: each declaration is the one <stdlib.h>, <unistd.h> or <string.h> gives.
    Arc::new(unsafe { OwnedFunction::new(library, declaration) }.unwrap())
}

#[test]
fn futures_complete_under_two_executors() {
    let libc = libc();
    let labs = owned(&libc, "long labs(long)");
    let pool = Pool::with_threads(3);
    // futures' own executor.
    let values = futures::executor::block_on(async {
        // SAFETY: labs takes any long but LONG_MIN (promise 3).
        let calls: Vec<_> = (0..10)
            .map(|k| unsafe { pool.call(&labs, vec![Value::Int(-k)]) })
            .collect();
        let mut values = Vec::new();
        for call in calls {
            values.push(call.await.unwrap().value);
        }
        values
    });
    assert_eq!(values, (0..10).map(Value::Int).collect::<Vec<_>>());
    // tokio's.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let values = runtime.block_on(async {
        // SAFETY: as above.
        let calls: Vec<_> = (0..10)
            .map(|k| unsafe { pool.call(&labs, vec![Value::Int(-7 * k)]) })
            .collect();
        let mut values = Vec::new();
        for call in calls {
            values.push(call.await.unwrap().value);
        }
        values
    });
    assert_eq!(
        values,
        (0..10).map(|k| Value::Int(7 * k)).collect::<Vec<_>>()
    );
}

#[test]
fn a_scope_of_a_thousand_calls_returns_every_result_and_error() {
    let libc = Library::this();
    // SAFETY: `int abs(int)` is how <stdlib.h> declares abs.
    let abs = unsafe { libc.function("int abs(int)") }.unwrap();
    let pool = Pool::default();
    let results = pool.scope(|scope| {
        let calls: Vec<_> = (0..1000i64)
            .map(|k| {
                // Every seventh argument is out of int's range: refused, not called.
                let argument = if k % 7 == 0 { -(1i64 << 40) } else { -k };
                // SAFETY: abs takes any int but INT_MIN (promise 3).
                unsafe { scope.call(&abs, vec![Value::Int(argument)]) }
            })
            .collect();
        calls
            .into_iter()
            .map(|call| call.join())
            .collect::<Vec<_>>()
    });
    assert_eq!(results.len(), 1000);
    for (k, result) in results.iter().enumerate() {
        match result {
            Err(error) => {
                assert_eq!(k % 7, 0, "{error}");
                assert_eq!(error.kind(), ErrorKind::OutOfRange);
            }
            Ok(called) => assert_eq!(called.value, Value::Int(k as i64)),
        }
    }
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 143);
}

#[test]
fn a_scope_lends_borrowed_buffers_to_its_calls() {
    let libc = Library::this();
    // SAFETY: memset's declaration from <string.h>.
    let memset = unsafe { libc.function("void *memset(void *, int, size_t)") }.unwrap();
    let mut buffers = vec![vec![0u8; 4096]; 8];
    let pool = Pool::with_threads(4);
    pool.scope(|scope| {
        for (k, buffer) in buffers.iter_mut().enumerate() {
            let memset = &memset;
            // The buffer is borrowed for the scope: alive until the call has returned.
            drop(scope.spawn(move || {
                let args = [
                    Value::Pointer(buffer.as_mut_ptr() as usize),
                    Value::Int(k as i64 + 1),
                    Value::UInt(buffer.len() as u64),
                ];
                // SAFETY: the buffer holds len bytes and lives until the scope ends (promise 4).
                unsafe { memset.call(&args) }.unwrap()
            }));
        }
    });
    // The scope returned: every call had finished.
    for (k, buffer) in buffers.iter().enumerate() {
        assert!(buffer.iter().all(|&b| b == k as u8 + 1));
    }
}

#[test]
fn a_dropped_future_detaches_the_call_which_finishes_with_its_arguments() {
    let libc = libc();
    let comparisons = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&comparisons);
    // A slow comparator: bsearch is still reading its key and array (owned by the call on the
    // worker) well after the future was dropped.
    let compare = libc
        .callback(
            "slow_compare",
            "int (*)(const void *, const void *)",
            move |args| {
                std::thread::sleep(std::time::Duration::from_millis(5));
                counter.fetch_add(1, Ordering::SeqCst);
                let read = |value: &Value| {
                    let address = value.as_address().unwrap();
                    // SAFETY: bsearch passes pointers to the 4-byte key and array elements.
                    unsafe { (address as *const i32).read_unaligned() }
                };
                Ok(Value::Int(i64::from(
                    read(&args[0]).cmp(&read(&args[1])) as i32
                )))
            },
        )
        .unwrap();
    let bsearch = owned(
        &libc,
        "void *bsearch(const void *, const void *, size_t, size_t, int (*)(const void *, const void *))",
    );
    let array: Vec<u8> = (0..64i32).flat_map(|v| v.to_ne_bytes()).collect();
    let pool = Pool::with_threads(2);
    for key in [3i32, 40, 63] {
        let args = vec![
            Value::Bytes(key.to_ne_bytes().to_vec()),
            Value::Bytes(array.clone()),
            Value::UInt(64),
            Value::UInt(4),
            compare.address(),
        ];
        // SAFETY: the key and array are copies the call owns; the comparator lives past the
        // pool (promises 3 to 5).
        drop(unsafe { pool.call(&bsearch, args) });
    }
    // The futures are gone; the pool's drop waits for the detached calls.
    assert!(comparisons.load(Ordering::SeqCst) < 3 * 6);
    drop(pool);
    // Each search compared about log2(64) + 1 times, all after its future was dropped.
    let done = comparisons.load(Ordering::SeqCst);
    assert!((3 * 5..=3 * 7).contains(&done), "{done} comparisons");
}

#[test]
fn errno_is_read_on_the_worker() {
    let libc = libc();
    // SAFETY: `int close(int)` is how <unistd.h> declares close.
    let close = Arc::new(
        unsafe { OwnedFunction::new(&libc, "int close(int)") }
            .unwrap()
            .capture_errno(),
    );
    let pool = Pool::with_threads(2);
    // SAFETY: closing -1 touches no descriptor; it fails with EBADF (promise 3).
    let called = unsafe { pool.call(&close, vec![Value::Int(-1)]) }
        .wait()
        .unwrap();
    assert_eq!(called.value, Value::Int(-1));
    assert_eq!(called.errno, Some(libc::EBADF));
}

#[test]
fn a_dedicated_worker_runs_every_call_on_one_thread() {
    let libc = libc();
    let pthread_self = owned(&libc, "unsigned long pthread_self(void)");
    let worker = Pool::dedicated();
    let ids: Vec<Value> = (0..20)
        .map(|_| {
            // SAFETY: pthread_self has no preconditions (promise 3).
            unsafe { worker.call(&pthread_self, vec![]) }
                .wait()
                .unwrap()
                .value
        })
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    // SAFETY: as above, on this thread.
    let here = unsafe { pthread_self.call(&[]) }.unwrap();
    assert_ne!(ids[0], here);
    // A pool of several threads spreads 200 calls over more than one of them.
    let pool = Pool::with_threads(4);
    let barrier_calls: Vec<_> = (0..200)
        // SAFETY: as above.
        .map(|_| unsafe { pool.call(&pthread_self, vec![]) })
        .collect();
    let mut seen: Vec<Value> = barrier_calls
        .into_iter()
        .map(|c| c.wait().unwrap().value)
        .collect();
    seen.sort_by_key(|v| v.as_i128());
    seen.dedup();
    assert!(!seen.is_empty() && seen.len() <= 4);
}

#[test]
fn a_callback_from_a_c_thread_arrives_on_the_async_stream() {
    let libc = libc();
    let (callback, mut stream) = libc
        .callback_stream("progress", "void *(*)(void *)", Value::Null)
        .unwrap();
    let create = owned(
        &libc,
        "int pthread_create(unsigned long *, const void *, void *(*)(void *), void *)",
    );
    let join = owned(&libc, "int pthread_join(unsigned long, void **)");
    let mut thread = 0u64;
    // SAFETY: pthread_create writes the thread id into `thread` and runs the callback once
    // on a new thread, with argument 42 (promises 3 to 5: the callback outlives the join).
    let created = unsafe {
        create.call(&[
            Value::Pointer(&raw mut thread as usize),
            Value::Null,
            callback.address(),
            Value::Pointer(42),
        ])
    }
    .unwrap();
    assert_eq!(created, Value::Int(0));
    let arrived = futures::executor::block_on(stream.recv()).unwrap();
    assert_eq!(arrived, vec![Value::Pointer(42)]);
    // SAFETY: the thread exists and is joined once; no result pointer is asked for.
    unsafe { join.call(&[Value::UInt(thread), Value::Null]) }.unwrap();
    drop(callback);
    assert_eq!(
        stream.blocking_recv(),
        None,
        "closed once the callback is gone"
    );
}

#[test]
fn typed_handles_run_on_workers_too() {
    let libc = Library::this();
    // SAFETY: `int abs(int)` is how <stdlib.h> declares abs.
    let abs = unsafe { libc.function("int abs(int)") }.unwrap();
    let typed = abs.typed::<unsafe extern "C" fn(i32) -> i32>().unwrap();
    let pool = Pool::with_threads(2);
    let sums = pool.scope(|scope| {
        let jobs: Vec<_> = (0..4)
            .map(|k| {
                scope.spawn(move || {
                    let abs = |v: i32| {
                        // SAFETY: abs takes any int but INT_MIN (promise 3).
                        unsafe { (*typed)(v) }
                    };
                    (0..1000).map(|v| abs(-(v * k)) as i64).sum::<i64>()
                })
            })
            .collect();
        jobs.into_iter().map(|job| job.join()).collect::<Vec<_>>()
    });
    assert_eq!(sums, (0..4).map(|k| k * 499_500).collect::<Vec<i64>>());
    // A 'static job on the pool itself, awaited.
    let total = futures::executor::block_on(pool.spawn(|| (1..=10).sum::<i32>()));
    assert_eq!(total, 55);
}
