//! Callbacks on real libraries: qsort, qsort_r, bsearch, pthread_create, sqlite3_exec and
//! sqlite3_create_function; panics caught; many threads; many create/drop cycles.

use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ffikit_abi::{CallbackPtr, ErrorKind, Library, OwnedFunction, Value};

type Compare = unsafe extern "C" fn(*const c_void, *const c_void) -> i32;
type Qsort<'cb> = unsafe extern "C" fn(*mut c_void, usize, usize, CallbackPtr<'cb, Compare>);

fn libc() -> Library {
    // SAFETY: a system library or the fixtures: initializers sound to run (promise 1).
    unsafe { Library::open("libc.so.6") }.unwrap()
}

const QSORT: &str = "void qsort(void *, size_t, size_t, int (*)(const void *, const void *))";

#[test]
fn typed_comparator_sorts_through_a_typed_qsort() {
    let libc = libc();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let ascending = libc
        .typed_callback::<Compare, _>(
            "ascending",
            "int (*)(const void *, const void *)",
            move |a: *const c_void, b: *const c_void| {
                counter.fetch_add(1, Ordering::Relaxed);
                // SAFETY: qsort passes pointers to two i32 of the array being sorted.
                let (a, b) = unsafe { (*a.cast::<i32>(), *b.cast::<i32>()) };
                a.cmp(&b) as i32
            },
        )
        .unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let qsort = unsafe { libc.function(QSORT) }.unwrap();
    let qsort = qsort.typed::<Qsort<'_>>().unwrap();
    let mut values: Vec<i32> = (0..1000).map(|k| (k * 7919) % 1009 - 500).collect();
    let mut expected = values.clone();
    expected.sort();
    // SAFETY: the array, its length and element size, and a comparator of the right type.
    unsafe { (*qsort)(values.as_mut_ptr().cast(), values.len(), 4, ascending.ptr()) };
    assert_eq!(values, expected);
    assert!(calls.load(Ordering::Relaxed) >= 999);
}

#[test]
fn dynamic_comparator_through_a_dynamic_call_and_qsort_r_with_user_data() {
    let libc = libc();
    let descending = libc
        .callback(
            "descending",
            "int (*)(const void *, const void *)",
            |args| {
                let read = |v: &Value| {
                    // SAFETY: qsort passes pointers to doubles of the array.
                    unsafe { *(v.as_address().unwrap() as *const f64) }
                };
                let (a, b) = (read(&args[0]), read(&args[1]));
                Ok(Value::Int(b.total_cmp(&a) as i64))
            },
        )
        .unwrap();
    let mut array = libc.new_value("double[5]").unwrap();
    array
        .set(&Value::Array(
            [2.5, -1.0, 9.0, 0.0, 3.25].map(Value::Float).to_vec(),
        ))
        .unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let qsort = unsafe {
        libc.function("void qsort(void *, size_t, size_t, int (*)(const void *, const void *))")
    }
    .unwrap();
    // SAFETY: live arguments of the types the function expects (promise 3).
    unsafe { qsort.call(&[array.address(), 5.into(), 8.into(), descending.address()]) }.unwrap();
    assert_eq!(
        array.get(),
        Value::Array([9.0, 3.25, 2.5, 0.0, -1.0].map(Value::Float).to_vec())
    );

    // qsort_r passes user data: the sign of the order.
    let signed = libc
        .callback(
            "signed",
            "int (*)(const void *, const void *, void *)",
            |args| {
                // SAFETY: pointers to two ints and to the int sign this test passes.
                let (a, b, sign) = unsafe {
                    (
                        *(args[0].as_address().unwrap() as *const i32),
                        *(args[1].as_address().unwrap() as *const i32),
                        *(args[2].as_address().unwrap() as *const i32),
                    )
                };
                Ok(Value::Int(i64::from(sign) * a.cmp(&b) as i64))
            },
        )
        .unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let qsort_r = unsafe { libc
        .function("void qsort_r(void *, size_t, size_t, int (*)(const void *, const void *, void *), void *)") }
        .unwrap();
    let mut ints = libc.new_value("int[6]").unwrap();
    ints.set(&Value::Array([5, 3, 9, 1, 7, -2].map(Value::from).to_vec()))
        .unwrap();
    let mut sign = libc.new_value("int").unwrap();
    sign.set(&Value::Int(-1)).unwrap();
    // SAFETY: live arguments of the types the function expects (promise 3).
    unsafe {
        qsort_r.call(&[
            ints.address(),
            6.into(),
            4.into(),
            signed.address(),
            sign.address(),
        ])
    }
    .unwrap();
    assert_eq!(
        ints.get(),
        Value::Array([9, 7, 5, 3, 1, -2].map(Value::from).to_vec())
    );
}

#[test]
fn bsearch_finds_with_a_rust_comparator() {
    let libc = libc();
    let compare = libc
        .typed_callback::<Compare, _>(
            "key",
            "int (*)(const void *, const void *)",
            |key: *const c_void, item: *const c_void| {
                // SAFETY: bsearch passes the key and an array element, both i64.
                let (key, item) = unsafe { (*key.cast::<i64>(), *item.cast::<i64>()) };
                key.cmp(&item) as i32
            },
        )
        .unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let bsearch = unsafe { libc
        .function("void *bsearch(const void *, const void *, size_t, size_t, int (*)(const void *, const void *))") }
        .unwrap();
    let sorted: Vec<i64> = (0..100).map(|k| k * 3).collect();
    for (key, expected) in [
        (42i64, Some(14usize)),
        (43, None),
        (297, Some(99)),
        (-1, None),
    ] {
        // SAFETY: live arguments of the types the function expects (promise 3).
        let found = unsafe {
            bsearch.call(&[
                Value::Pointer(&key as *const i64 as usize),
                Value::Pointer(sorted.as_ptr() as usize),
                100.into(),
                8.into(),
                compare.callback().address(),
            ])
        }
        .unwrap();
        let index = found
            .as_address()
            .filter(|&a| a != 0)
            .map(|a| (a - sorted.as_ptr() as usize) / 8);
        assert_eq!(index, expected, "key {key}");
    }
}

#[test]
fn pthread_create_runs_a_rust_closure_on_its_thread() {
    let libc = libc();
    let seen = Arc::new(Mutex::new(None));
    let record = Arc::clone(&seen);
    type Start = unsafe extern "C" fn(*mut c_void) -> *mut c_void;
    let start = libc
        .typed_callback::<Start, _>("start", "void *(*)(void *)", move |arg: *mut c_void| {
            *record.lock().unwrap() = Some(std::thread::current().id());
            (arg as usize * 2) as *mut c_void
        })
        .unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let create = unsafe {
        libc.function(
            "int pthread_create(unsigned long *, const void *, void *(*)(void *), void *)",
        )
    }
    .unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let join = unsafe { libc.function("int pthread_join(unsigned long, void **)") }.unwrap();
    let thread = libc.new_value("unsigned long").unwrap();
    let result = libc.new_value("void *").unwrap();
    // SAFETY: live arguments of the types the function expects (promise 3).
    let status = unsafe {
        create.call(&[
            thread.address(),
            Value::Null,
            start.callback().address(),
            Value::Pointer(21),
        ])
    }
    .unwrap();
    assert_eq!(status, Value::Int(0));
    assert_eq!(
        // SAFETY: live arguments of the types the function expects (promise 3).
        unsafe { join.call(&[thread.get(), result.address()]) }.unwrap(),
        Value::Int(0)
    );
    assert_eq!(result.get(), Value::Pointer(42));
    let ran_on = seen.lock().unwrap().expect("the closure ran");
    assert_ne!(ran_on, std::thread::current().id());
}

fn sqlite() -> Library {
    // SAFETY: a system library or the fixtures: initializers sound to run (promise 1).
    let sqlite = unsafe { Library::open("sqlite3") }.unwrap();
    sqlite
        .cdef("typedef struct sqlite3 sqlite3; typedef struct sqlite3_context sqlite3_context; typedef struct sqlite3_value sqlite3_value;")
        .unwrap();
    sqlite
}

fn open_memory(sqlite: &Library) -> Value {
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let open = unsafe { sqlite.function("int sqlite3_open(const char *, sqlite3 **)") }.unwrap();
    let db = sqlite.new_value("sqlite3 *").unwrap();
    assert_eq!(
        // SAFETY: live arguments of the types the function expects (promise 3).
        unsafe { open.call(&[":memory:".into(), db.address()]) }.unwrap(),
        Value::Int(0)
    );
    db.get()
}

/// The strings of a `char **` row of `count` entries (NULL entries as None).
fn row(argv: &Value, count: usize) -> Vec<Option<String>> {
    let base = argv.as_address().unwrap() as *const usize;
    (0..count)
        .map(|k| {
            // SAFETY: sqlite passes `count` valid char pointers (or NULL) for the row.
            let p = unsafe { *base.add(k) };
            // SAFETY: non-NULL entries are NUL-terminated strings.
            (p != 0).then(|| String::from_utf8(unsafe { ffikit_abi::read_c_string(p) }).unwrap())
        })
        .collect()
}

const EXEC: &str = "int sqlite3_exec(sqlite3 *, const char *, int (*)(void *, int, char **, char **), void *, char **)";

#[test]
fn sqlite3_exec_collects_rows_and_can_be_aborted() {
    let sqlite = sqlite();
    let db = open_memory(&sqlite);
    let rows = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&rows);
    let collect = sqlite
        .callback(
            "collect",
            "int (*)(void *, int, char **, char **)",
            move |args| {
                let count = args[1].as_i128().unwrap() as usize;
                sink.lock().unwrap().push(row(&args[2], count));
                Ok(Value::Int(0))
            },
        )
        .unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let exec = unsafe { sqlite.function(EXEC) }.unwrap();
    let errmsg = sqlite.new_value("char *").unwrap();
    let sql = "SELECT 1+1, 'x', NULL UNION ALL SELECT 3, 'y', 'z'";
    // SAFETY: live arguments of the types the function expects (promise 3).
    let status = unsafe {
        exec.call(&[
            db.clone(),
            sql.into(),
            collect.address(),
            Value::Null,
            errmsg.address(),
        ])
    }
    .unwrap();
    assert_eq!(status, Value::Int(0));
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        *rows.lock().unwrap(),
        vec![
            vec![some("2"), some("x"), None],
            vec![some("3"), some("y"), some("z")]
        ]
    );

    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let abort = sqlite
        .callback(
            "abort",
            "int (*)(void *, int, char **, char **)",
            move |_| {
                counter.fetch_add(1, Ordering::Relaxed);
                Ok(Value::Int(1))
            },
        )
        .unwrap();
    // SAFETY: live arguments of the types the function expects (promise 3).
    let status = unsafe {
        exec.call(&[
            db.clone(),
            sql.into(),
            abort.address(),
            Value::Null,
            errmsg.address(),
        ])
    }
    .unwrap();
    assert_eq!(status, Value::Int(4)); // SQLITE_ABORT
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    let message = errmsg.get().as_address().unwrap();
    // SAFETY: sqlite3_exec set *errmsg to a string from sqlite3_malloc.
    let text = unsafe { ffikit_abi::read_c_string(message) };
    assert_eq!(text, b"query aborted");
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2); live arguments of the types the function expects (promise 3).
    unsafe {
        sqlite
            .function("void sqlite3_free(void *)")
            .unwrap()
            .call(&[Value::Pointer(message)])
    }
    .unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2); live arguments of the types the function expects (promise 3).
    unsafe {
        sqlite
            .function("int sqlite3_close(sqlite3 *)")
            .unwrap()
            .call(&[db])
    }
    .unwrap();
}

#[test]
fn a_sqlite_function_calls_back_into_sqlite() {
    let sqlite = Arc::new(sqlite());
    let db = open_memory(&sqlite);
    let inner = Arc::clone(&sqlite);
    // The callback keeps the functions it calls, and they keep their library.
    // SAFETY: both declarations are sqlite3.h's (promise 2).
    let (value_int, result_int) = unsafe {
        (
            OwnedFunction::new(&inner, "int sqlite3_value_int(sqlite3_value *)").unwrap(),
            OwnedFunction::new(&inner, "void sqlite3_result_int(sqlite3_context *, int)").unwrap(),
        )
    };
    let twice = sqlite
        .callback(
            "twice",
            "void (*)(sqlite3_context *, int, sqlite3_value **)",
            move |args| {
                let argv = args[2].as_address().unwrap() as *const usize;
                // SAFETY: sqlite passes argc (1) value pointers.
                let first = unsafe { *argv };
                // SAFETY: the value and the context are the ones sqlite passed to this
                // function, valid during it (promise 3).
                let n = unsafe { value_int.call(&[Value::Pointer(first)]) }?
                    .as_i128()
                    .unwrap();
                // SAFETY: as above.
                unsafe { result_int.call(&[args[0].clone(), Value::Int((2 * n) as i64)]) }?;
                Ok(Value::Void)
            },
        )
        .unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let create = unsafe { sqlite
        .function("int sqlite3_create_function(sqlite3 *, const char *, int, int, void *, void (*)(sqlite3_context *, int, sqlite3_value **), void (*)(sqlite3_context *, int, sqlite3_value **), void (*)(sqlite3_context *))") }
        .unwrap();
    // SAFETY: live arguments of the types the function expects (promise 3).
    let status = unsafe {
        create.call(&[
            db.clone(),
            "twice".into(),
            1.into(),
            1.into(),
            Value::Null,
            twice.address(),
            Value::Null,
            Value::Null,
        ])
    }
    .unwrap();
    assert_eq!(status, Value::Int(0));
    let rows = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&rows);
    let collect = sqlite
        .callback(
            "collect",
            "int (*)(void *, int, char **, char **)",
            move |args| {
                sink.lock().unwrap().push(row(&args[2], 1));
                Ok(Value::Int(0))
            },
        )
        .unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let exec = unsafe { sqlite.function(EXEC) }.unwrap();
    // SAFETY: live arguments of the types the function expects (promise 3).
    unsafe {
        exec.call(&[
            db.clone(),
            "SELECT twice(21)".into(),
            collect.address(),
            Value::Null,
            Value::Null,
        ])
    }
    .unwrap();
    assert_eq!(*rows.lock().unwrap(), vec![vec![Some("42".to_owned())]]);
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2); live arguments of the types the function expects (promise 3).
    unsafe {
        sqlite
            .function("int sqlite3_close(sqlite3 *)")
            .unwrap()
            .call(&[db])
    }
    .unwrap();
}

#[test]
fn a_panicking_comparator_fails_the_call_not_the_process() {
    let libc = libc();
    let boom = libc
        .callback("boom", "int (*)(const void *, const void *)", |_| {
            panic!("comparator exploded")
        })
        .unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let qsort = unsafe { libc.function(QSORT) }.unwrap();
    let mut values = libc.new_value("int[5]").unwrap();
    values
        .set(&Value::Array([5, 3, 9, 1, 7].map(Value::from).to_vec()))
        .unwrap();
    // SAFETY: live arguments of the types the function expects (promise 3).
    let error =
        unsafe { qsort.call(&[values.address(), 5.into(), 4.into(), boom.address()]) }.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::CallbackFailed);
    assert_eq!(
        error.to_string(),
        "callback `boom` failed: panicked: comparator exploded"
    );
    // An error from a dynamic callback is reported the same way, and the process goes on.
    let refuse = libc
        .callback("refuse", "int (*)(const void *, const void *)", |_| {
            Err("no comparisons today".into())
        })
        .unwrap();
    // SAFETY: live arguments of the types the function expects (promise 3).
    let error = unsafe { qsort.call(&[values.address(), 5.into(), 4.into(), refuse.address()]) }
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "callback `refuse` failed: no comparisons today"
    );
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let abs = unsafe { libc.function("int abs(int)") }.unwrap();
    // SAFETY: live arguments of the types the function expects (promise 3).
    assert_eq!(unsafe { abs.call(&[(-3).into()]) }.unwrap(), Value::Int(3));
    // A wrong result type is a failure too, with C given the error result.
    let wrong = libc
        .callback("wrong", "int (*)(const void *, const void *)", |_| {
            Ok(Value::Str("no".into()))
        })
        .unwrap();
    // SAFETY: live arguments of the types the function expects (promise 3).
    let error = unsafe { qsort.call(&[values.address(), 5.into(), 4.into(), wrong.address()]) }
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::CallbackFailed);
}

#[test]
fn callbacks_from_eight_threads_at_once() {
    let libc = Arc::new(libc());
    let compare = Arc::new(
        libc.typed_callback::<Compare, _>(
            "shared",
            "int (*)(const void *, const void *)",
            |a: *const c_void, b: *const c_void| {
                // SAFETY: pointers to two u32 of the caller's array.
                let (a, b) = unsafe { (*a.cast::<u32>(), *b.cast::<u32>()) };
                a.cmp(&b) as i32
            },
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let libc = Arc::clone(&libc);
            let compare = Arc::clone(&compare);
            std::thread::spawn(move || {
                // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
                let qsort = unsafe { libc.function(QSORT) }.unwrap();
                let qsort = qsort.typed::<Qsort<'_>>().unwrap();
                for round in 0..50u32 {
                    let mut values: Vec<u32> =
                        (0..200).map(|k| (k * 7 + t * 13 + round) % 97).collect();
                    let mut expected = values.clone();
                    expected.sort();
                    // SAFETY: array, length, element size and comparator agree.
                    unsafe { (*qsort)(values.as_mut_ptr().cast(), values.len(), 4, compare.ptr()) };
                    assert_eq!(values, expected);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn variadic_and_mismatched_callbacks_are_refused() {
    let libc = libc();
    let error = libc
        .callback("v", "int (*)(int, ...)", |_| Ok(Value::Int(0)))
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnsupportedType);
    let error = libc
        .typed_callback::<unsafe extern "C" fn(i64) -> i32, _>("t", "int (*)(int)", |x: i64| {
            x as i32
        })
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TypeMismatch);
    let error = libc
        .callback("n", "int", |_| Ok(Value::Int(0)))
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::DeclarationSyntax);
}

#[test]
fn more_typed_callbacks_than_slots_fall_back_to_libffi_closures() {
    let libc = libc();
    // 64 pre-compiled slots are shared by all signatures: 100 live callbacks overflow them.
    let callbacks: Vec<_> = (0..100)
        .map(|k: i32| {
            libc.typed_callback::<unsafe extern "C" fn(i32) -> i32, _>(
                "plus",
                "int (*)(int)",
                move |x: i32| x + k,
            )
            .unwrap()
        })
        .collect();
    for (k, callback) in callbacks.iter().enumerate() {
        // SAFETY: each callback takes and returns an int.
        let got = unsafe { (callback.ptr().get())(1000) };
        assert_eq!(got, 1000 + k as i32);
    }
    drop(callbacks);
    // Freed slots are reused.
    let again = libc
        .typed_callback::<unsafe extern "C" fn(i32) -> i32, _>("again", "int (*)(int)", |x: i32| -x)
        .unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { (again.ptr().get())(5) }, -5);
}

#[test]
fn a_panicking_typed_callback_fails_the_outer_call() {
    let libc = libc();
    let boom = libc
        .typed_callback::<Compare, _>(
            "typed_boom",
            "int (*)(const void *, const void *)",
            |_: *const c_void, _: *const c_void| -> i32 { panic!("typed comparator exploded") },
        )
        .unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let qsort = unsafe { libc.function(QSORT) }.unwrap();
    let mut values = libc.new_value("int[3]").unwrap();
    values
        .set(&Value::Array([3, 1, 2].map(Value::from).to_vec()))
        .unwrap();
    // SAFETY: live arguments of the types the function expects (promise 3).
    let error = unsafe {
        qsort.call(&[
            values.address(),
            3.into(),
            4.into(),
            boom.callback().address(),
        ])
    }
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "callback `typed_boom` failed: panicked: typed comparator exploded"
    );
    // Called directly (no ffikit call around it), the failure waits on the callback.
    // SAFETY: the comparator ignores its arguments.
    let result = unsafe { (boom.ptr().get())(std::ptr::null(), std::ptr::null()) };
    assert_eq!(result, 0);
    let (name, message) = boom.callback().take_failure().unwrap();
    assert_eq!(
        (name.as_str(), message.contains("exploded")),
        ("typed_boom", true)
    );
}
