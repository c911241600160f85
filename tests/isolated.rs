//! Isolated libraries: the fixtures and real libraries (libc, sqlite3) called in a worker
//! process — results checked against the same calls in-process and against Rust, faults
//! (segfault, abort, exit, a busy loop, a leak under limits) turned into errors with the
//! next call working, handles, buffers in and out, callbacks from C (on its own thread too).

use std::time::Duration;

use ffikit::fixtures::{self, sys};
use ffikit_abi::{ErrorKind, IsolatedLibrary, IsolatedOptions, Library, Value, WorkerFault};

fn fixtures_isolated(options: IsolatedOptions) -> IsolatedLibrary {
    // The fixtures describe themselves (their manifest, called in the worker).
    IsolatedLibrary::open_described(fixtures::SHARED_OBJECT, options).unwrap()
}

fn gcd_works(library: &IsolatedLibrary) {
    let gcd = library.function("gcd").unwrap();
    // SAFETY: gcd is defined for every pair of ints.
    let direct = unsafe { sys::gcd(1071, 462) };
    assert_eq!(
        gcd.call(&[1071.into(), 462.into()]).unwrap(),
        Value::Int(direct.into())
    );
}

/// Whether process `pid` still exists (a zombie counts).
fn exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn calls_match_the_in_process_calls_and_checks_come_before_sending() {
    let library = fixtures_isolated(IsolatedOptions::new());
    gcd_works(&library);
    let get_pi = library.function("get_pi").unwrap();
    assert_eq!(
        get_pi.call(&[]).unwrap(),
        // SAFETY: get_pi takes nothing.
        Value::Float(unsafe { sys::get_pi() })
    );
    // A struct by value, as a member list: the same sum as the static call.
    let sum = library.function("sum_s_int64x2").unwrap();
    let members = Value::Struct(vec![
        ("a".into(), Value::Int(40)),
        ("b".into(), Value::Int(2)),
    ]);
    // SAFETY: a struct of two int64s by value, as declared.
    let expected = unsafe { sys::sum_s_int64x2(sys::s_int64x2 { a: 40, b: 2 }) };
    assert_eq!(sum.call(&[members]).unwrap(), Value::Float(expected));

    let (pid, _) = library.worker().unwrap();
    // Every bad argument is refused here, as in-process, and the worker never sees it.
    let arity = gcd_error(&library, &[1.into()]);
    assert_eq!(arity.kind(), ErrorKind::ArityMismatch);
    let range = gcd_error(&library, &[Value::Int(1 << 40), 1.into()]);
    assert_eq!(range.kind(), ErrorKind::OutOfRange);
    assert_eq!(
        range.to_string(),
        in_process_gcd_error(&[Value::Int(1 << 40), 1.into()])
    );
    let libc = IsolatedLibrary::open("libc.so.6").unwrap();
    let strlen = libc.function("size_t strlen(const char *)").unwrap();
    assert_eq!(
        strlen.call(&[Value::Null]).unwrap_err().kind(),
        ErrorKind::NullPointer
    );
    let nul = strlen.call(&[Value::Str("a\0b".into())]).unwrap_err();
    assert_eq!(nul.kind(), ErrorKind::InteriorNul);
    // An address of this process means nothing there.
    let raw = strlen.call(&[Value::Pointer(0x1000)]).unwrap_err();
    assert_eq!(raw.kind(), ErrorKind::TypeMismatch);
    assert!(
        raw.to_string().contains("means nothing in the worker"),
        "{raw}"
    );
    assert_eq!(
        strlen.call(&[Value::Str("isolated".into())]).unwrap(),
        Value::UInt(8)
    );
    // A missing symbol is the worker's finding, with its kind.
    let missing = libc.function("int no_such_function_here(int)").unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::SymbolNotFound);
    assert_eq!(
        library.worker().unwrap().0,
        pid,
        "no error restarted the worker"
    );
}

fn gcd_error(library: &IsolatedLibrary, args: &[Value]) -> ffikit_abi::Error {
    library.function("gcd").unwrap().call(args).unwrap_err()
}

fn in_process_gcd_error(args: &[Value]) -> String {
    // SAFETY: the fixtures run no initializers; the manifest is their header's text.
    let library = unsafe { Library::open_described(fixtures::SHARED_OBJECT) }.unwrap();
    // SAFETY: the call is refused before C runs.
    unsafe { library.get("gcd").unwrap().call(args) }
        .unwrap_err()
        .to_string()
}

#[test]
fn each_fault_is_an_error_naming_it_and_the_next_call_gets_a_new_worker() {
    let library = fixtures_isolated(IsolatedOptions::new().timeout(Duration::from_millis(500)));
    let cases: [(&str, Vec<Value>, WorkerFault); 4] = [
        (
            "ffikit_fault_segfault",
            vec![],
            WorkerFault::Signal {
                number: 11,
                name: "SIGSEGV",
            },
        ),
        (
            "ffikit_fault_abort",
            vec![],
            WorkerFault::Signal {
                number: 6,
                name: "SIGABRT",
            },
        ),
        (
            "ffikit_fault_exit",
            vec![7.into()],
            WorkerFault::Exit { status: 7 },
        ),
        (
            "ffikit_fault_spin",
            vec![],
            WorkerFault::Timeout {
                after: Duration::from_millis(500),
            },
        ),
    ];
    for (name, args, expected) in cases {
        let (pid, number) = library.worker().unwrap();
        let function = library.function(name).unwrap();
        let error = function.call(&args).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::WorkerFault, "{name}: {error}");
        let ffikit_abi::Error::WorkerFault { fault, .. } = &error else {
            unreachable!()
        };
        assert_eq!(*fault, expected, "{name}");
        assert!(
            error.to_string().contains("state"),
            "the error says state is lost: {error}"
        );
        // Reaped: no zombie.
        assert!(!exists(pid), "{name}: worker {pid} still exists");
        assert_eq!(library.worker(), None);
        gcd_works(&library);
        let (new_pid, new_number) = library.worker().unwrap();
        assert_ne!(new_pid, pid);
        assert!(new_number > number);
    }
}

#[test]
fn resource_limits_end_the_worker_with_the_signal_that_enforced_them() {
    let library = fixtures_isolated(IsolatedOptions::new().cpu_time_limit(1));
    let error = library
        .function("ffikit_fault_spin")
        .unwrap()
        .call(&[])
        .unwrap_err();
    let ffikit_abi::Error::WorkerFault { fault, .. } = &error else {
        panic!("{error}")
    };
    // SIGXCPU at the soft limit (or SIGKILL at the hard one).
    assert!(
        matches!(
            fault,
            WorkerFault::Signal {
                name: "SIGXCPU" | "SIGKILL",
                ..
            }
        ),
        "{fault:?}"
    );
    gcd_works(&library);

    let library = fixtures_isolated(
        IsolatedOptions::new()
            .address_space_limit(1 << 30)
            .max_transfer(16 << 20),
    );
    let leak = library.function("ffikit_fault_leak").unwrap();
    let mut leaked = 0u64;
    let error = loop {
        match leak.call(&[Value::UInt(64 << 20)]) {
            Ok(Value::Handle(_)) => leaked += 64 << 20,
            Ok(other) => panic!("{other:?}"),
            Err(error) => break error,
        }
        assert!(leaked < 2 << 30, "the limit never took effect");
    };
    let ffikit_abi::Error::WorkerFault { fault, .. } = &error else {
        panic!("{error}")
    };
    assert_eq!(
        *fault,
        WorkerFault::Signal {
            number: 6,
            name: "SIGABRT"
        }
    );
    assert!(leaked > 0);
    gcd_works(&library);
}

#[test]
fn buffers_go_in_and_out_once() {
    let library = fixtures_isolated(IsolatedOptions::new());
    let convert = library.function("ffikit_convert_to_utf8").unwrap();
    let input: Vec<u8> = (0..=255u8).collect();
    let expected: String = input.iter().map(|&b| char::from(b)).collect();
    let mut args = [
        Value::Str("LATIN1".into()),
        Value::Bytes(input.clone()),
        Value::UInt(input.len() as u64),
        Value::Bytes(vec![0; 600]),
        Value::UInt(600),
    ];
    let written = convert.call_mut(&mut args).unwrap();
    assert_eq!(written, Value::Int(expected.len() as i64));
    let Value::Bytes(out) = &args[3] else {
        unreachable!()
    };
    assert_eq!(&out[..expected.len()], expected.as_bytes());
    // `call` copies in only: the caller's bytes stay as they were.
    let mut fresh = args.clone();
    fresh[3] = Value::Bytes(vec![0; 600]);
    assert_eq!(convert.call(&fresh).unwrap(), written);
    assert_eq!(fresh[3], Value::Bytes(vec![0; 600]));
    // A C object as an out-parameter: copied back.
    let libc = IsolatedLibrary::open("libc.so.6").unwrap();
    let mut seconds = libc.new_value("long").unwrap();
    seconds.set(&Value::Int(0)).unwrap();
    let time = libc.function("long time(long *)").unwrap();
    let mut args = [Value::Data(seconds)];
    let returned = time.call_mut(&mut args).unwrap();
    let Value::Data(seconds) = &args[0] else {
        unreachable!()
    };
    assert_eq!(seconds.get(), returned);
    // `call` refuses it rather than lose C's writes.
    let refused = time.call(&args).unwrap_err();
    assert!(refused.to_string().contains("call_mut"), "{refused}");
    // Larger than the transfer area allows: an error, not a crash.
    let small =
        IsolatedLibrary::open_with("libc.so.6", IsolatedOptions::new().max_transfer(1 << 16))
            .unwrap();
    let strlen = small.function("size_t strlen(const char *)").unwrap();
    let too_large = strlen.call(&[Value::Str("x".repeat(1 << 17))]).unwrap_err();
    assert_eq!(too_large.kind(), ErrorKind::TooLarge);
}

#[test]
fn errno_is_read_in_the_worker_and_kept_on_the_calling_thread() {
    let libc = IsolatedLibrary::open("libc.so.6").unwrap();
    let close = libc
        .function("int close(int)")
        .unwrap()
        .capture_errno()
        .unwrap();
    assert_eq!(close.call(&[Value::Int(-1)]).unwrap(), Value::Int(-1));
    assert_eq!(ffikit_abi::last_errno(), libc::EBADF);
}

#[test]
fn handles_live_as_long_as_their_worker_and_callbacks_run_here() {
    let sqlite = IsolatedLibrary::open("sqlite3").unwrap();
    sqlite
        .cdef(
            "typedef struct sqlite3 sqlite3;
             int sqlite3_open(const char *filename, sqlite3 **db);
             int sqlite3_exec(sqlite3 *db, const char *sql,
                              int (*callback)(void *, int, char **, char **),
                              void *argument, char **error);
             int sqlite3_close(sqlite3 *db);",
        )
        .unwrap();
    let open = sqlite.function("sqlite3_open").unwrap();
    let mut args = [
        Value::Str(":memory:".into()),
        Value::Data(sqlite.new_value("sqlite3 *").unwrap()),
    ];
    assert_eq!(open.call_mut(&mut args).unwrap(), Value::Int(0));
    let Value::Data(slot) = &args[1] else {
        unreachable!()
    };
    let db = sqlite.handle_in(slot).unwrap();
    assert!(matches!(db, Value::Handle(_)));

    let rows = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = rows.clone();
    let collect = sqlite
        .callback(
            "collect",
            "int (*)(void *, int, char **, char **)",
            move |invocation, args| {
                let count = args[1].as_i128().unwrap() as usize;
                let values = invocation.read(&args[2], &format!("char *[{count}]"))?;
                let Value::Array(values) = values else {
                    unreachable!()
                };
                let row: Vec<String> = values
                    .iter()
                    .map(|v| String::from_utf8(invocation.read_string(v).unwrap()).unwrap())
                    .collect();
                seen.lock().unwrap().push(row);
                Ok(Value::Int(0))
            },
        )
        .unwrap();
    let exec = sqlite.function("sqlite3_exec").unwrap();
    let sql = "create table t(a, b); insert into t values (1, 'one'), (2, 'two');
               select a, b from t order by a;";
    let status = exec
        .call(&[
            db.clone(),
            Value::Str(sql.into()),
            collect.handle().unwrap(),
            Value::Null,
            Value::Null,
        ])
        .unwrap();
    assert_eq!(status, Value::Int(0));
    assert_eq!(
        *rows.lock().unwrap(),
        vec![
            vec!["1".to_owned(), "one".to_owned()],
            vec!["2".to_owned(), "two".to_owned()]
        ]
    );
    // A panicking callback: the call fails with CallbackFailed, C got 0 (no abort).
    let panicking = sqlite
        .callback(
            "panicking",
            "int (*)(void *, int, char **, char **)",
            |_, _| panic!("boom"),
        )
        .unwrap();
    let failed = exec
        .call(&[
            db.clone(),
            Value::Str("select 1;".into()),
            panicking.handle().unwrap(),
            Value::Null,
            Value::Null,
        ])
        .unwrap_err();
    assert_eq!(failed.kind(), ErrorKind::CallbackFailed, "{failed}");
    assert!(failed.to_string().contains("boom"), "{failed}");
    // Calling the library directly from its own callback would wait for itself: refused.
    let inner_exec = sqlite.function("sqlite3_exec").unwrap();
    let db_inside = db.clone();
    let reentrant = sqlite
        .callback(
            "reentrant",
            "int (*)(void *, int, char **, char **)",
            move |invocation, _| {
                let direct = inner_exec.call(&[
                    db_inside.clone(),
                    Value::Str("select 2;".into()),
                    Value::Null,
                    Value::Null,
                    Value::Null,
                ]);
                assert_eq!(direct.unwrap_err().kind(), ErrorKind::WorkerFailed);
                // Through the invocation, the same call works (nested in the worker).
                let nested = invocation.call(
                    &inner_exec,
                    &[
                        db_inside.clone(),
                        Value::Str("select 2;".into()),
                        Value::Null,
                        Value::Null,
                        Value::Null,
                    ],
                )?;
                assert_eq!(nested, Value::Int(0));
                Ok(Value::Int(0))
            },
        )
        .unwrap();
    let status = exec
        .call(&[
            db.clone(),
            Value::Str("select 1;".into()),
            reentrant.handle().unwrap(),
            Value::Null,
            Value::Null,
        ])
        .unwrap();
    assert_eq!(status, Value::Int(0));

    // After the worker ends, its handles are refused, not reused.
    sqlite.restart().unwrap();
    let close = sqlite.function("sqlite3_close").unwrap();
    let stale = close.call(&[db]).unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::StaleHandle, "{stale}");
}

#[test]
fn callbacks_from_qsort_and_from_a_thread_of_c() {
    let library = fixtures_isolated(IsolatedOptions::new());
    // Bound, then the worker restarted: the first call of gcd in the new worker binds it
    // there from inside the comparator, while qsort's array is in use in the shared memory.
    let gcd = library.function("gcd").unwrap();
    library.restart().unwrap();
    let ascending = library
        .callback(
            "ascending",
            "int (*)(const void *, const void *)",
            move |invocation, args| {
                assert_eq!(
                    invocation.call(&gcd, &[12.into(), 18.into()])?,
                    Value::Int(6)
                );
                let a = invocation.read(&args[0], "int")?.as_i128().unwrap();
                let b = invocation.read(&args[1], "int")?.as_i128().unwrap();
                Ok(Value::Int(a.cmp(&b) as i64))
            },
        )
        .unwrap();
    let numbers: Vec<i64> = vec![5, -3, 9, 0, 2, 2, -8, 7];
    let mut array = library.new_value("int[8]").unwrap();
    array
        .set(&Value::Array(
            numbers.iter().map(|&n| Value::Int(n)).collect(),
        ))
        .unwrap();
    let sort = library.function("sort_ints").unwrap();
    let mut args = [
        Value::Data(array),
        Value::UInt(8),
        ascending.handle().unwrap(),
    ];
    sort.call_mut(&mut args).unwrap();
    let mut expected = numbers.clone();
    expected.sort();
    let Value::Data(sorted) = &args[0] else {
        unreachable!()
    };
    assert_eq!(
        sorted.get(),
        Value::Array(expected.into_iter().map(Value::Int).collect())
    );

    let on_thread = library
        .callback("on_thread", "thread_fn", |_, args| {
            Ok(Value::Int(args[0].as_i128().unwrap() as i64 * 3))
        })
        .unwrap();
    let call_on_new_thread = library.function("call_on_new_thread").unwrap();
    let result = call_on_new_thread
        .call(&[on_thread.handle().unwrap(), 14.into(), Value::Null])
        .unwrap();
    assert_eq!(result, Value::Int(42));
}

#[test]
fn restarts_leak_no_descriptor_mapping_or_process() {
    fn count(path: &str) -> usize {
        match path {
            "/proc/self/maps" => std::fs::read_to_string(path).unwrap().lines().count(),
            _ => std::fs::read_dir(path).unwrap().count(),
        }
    }
    let library = fixtures_isolated(IsolatedOptions::new());
    let abort = library.function("ffikit_fault_abort").unwrap();
    gcd_works(&library);
    let (fds, maps) = (count("/proc/self/fd"), count("/proc/self/maps"));
    let mut pids = Vec::new();
    for _ in 0..10 {
        pids.push(library.worker().unwrap().0);
        assert_eq!(abort.call(&[]).unwrap_err().kind(), ErrorKind::WorkerFault);
        gcd_works(&library);
    }
    // Other tests run beside this one: allow their few, never one per restart.
    assert!(count("/proc/self/fd") < fds + 5, "descriptors leak");
    assert!(count("/proc/self/maps") < maps + 5, "mappings leak");
    assert!(pids.iter().all(|pid| !exists(*pid)), "zombies");
    let last = library.worker().unwrap().0;
    drop((abort, library));
    assert!(!exists(last), "the last worker outlived its library");
}

#[test]
fn ffikit_call_isolated_reports_a_crash_or_hang_with_exit_status_2() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ffikit"))
            .arg("call")
            .args(args)
            .output()
            .unwrap()
    };
    let so = fixtures::SHARED_OBJECT;
    let ok = run(&["--isolated", so, "int gcd(int, int)", "1071", "462"]);
    assert!(ok.status.success());
    // SAFETY: gcd is defined for every pair of ints.
    let direct = unsafe { sys::gcd(1071, 462) };
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).trim(),
        format!("return: {direct}")
    );
    let crash = run(&["--isolated", so, "int ffikit_fault_segfault(void)"]);
    assert_eq!(crash.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&crash.stderr).contains("signal 11 (SIGSEGV)"));
    let hang = run(&[
        "--isolated",
        "--timeout-ms",
        "200",
        so,
        "int ffikit_fault_spin(void)",
    ]);
    assert_eq!(hang.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&hang.stderr).contains("did not answer within 200ms"));
    // Out-parameters come back from the worker as in-process.
    let buffer = run(&[
        "--isolated",
        "--json",
        "libc.so.6",
        "int snprintf(char *, size_t, const char *, ...)",
        "buf:16",
        "16",
        "%d-%s",
        "int:5",
        "char*:x",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&buffer.stdout).unwrap();
    assert_eq!(json["return"], 3);
    assert_eq!(json["buffers"]["0"]["utf8"], "5-x");
}

#[test]
fn isolated_calls_as_futures_on_a_pool() {
    let library = fixtures_isolated(IsolatedOptions::new());
    let gcd = std::sync::Arc::new(library.function("gcd").unwrap());
    let crash = std::sync::Arc::new(library.function("ffikit_fault_abort").unwrap());
    let pool = ffikit_abi::Pool::with_threads(4);
    let futures: Vec<_> = (1..=16)
        .map(|k| pool.call_isolated(&gcd, vec![Value::Int(6 * k), Value::Int(4 * k)]))
        .collect();
    let results: Vec<Value> = futures
        .into_iter()
        .map(|f| f.wait().unwrap().value)
        .collect();
    assert_eq!(
        results,
        (1..=16).map(|k| Value::Int(2 * k)).collect::<Vec<_>>()
    );
    let fault = pool.call_isolated(&crash, vec![]).wait().unwrap_err();
    assert_eq!(fault.kind(), ErrorKind::WorkerFault);
    assert_eq!(
        pool.call_isolated(&gcd, vec![9.into(), 6.into()])
            .wait()
            .unwrap()
            .value,
        Value::Int(3)
    );
}

#[test]
fn a_header_declares_for_the_worker_too() {
    let zlib = IsolatedLibrary::open("libz.so.1").unwrap();
    zlib.include(&ffikit_cdecl::Header::new("zlib.h")).unwrap();
    // By name, as the header declares them, in the worker.
    let crc32 = zlib.function("crc32").unwrap();
    let check = crc32
        .call(&[0.into(), Value::Bytes(b"123456789".to_vec()), 9.into()])
        .unwrap();
    assert_eq!(check.as_i128(), Some(0xCBF4_3926)); // CRC-32's check value
    let version = zlib.function("zlibVersion").unwrap().call(&[]).unwrap();
    let model = Library::this();
    model.include(&ffikit_cdecl::Header::new("zlib.h")).unwrap();
    let Some(ffikit_cdecl::MacroValue::String(expected)) = model.macro_value("ZLIB_VERSION") else {
        panic!("zlib.h defines ZLIB_VERSION")
    };
    assert_eq!(version.as_text().unwrap().as_bytes(), &expected[..]);
    // A new worker is told the header again.
    zlib.restart().unwrap();
    assert_eq!(
        crc32
            .call(&[0.into(), Value::Bytes(b"123456789".to_vec()), 9.into()])
            .unwrap(),
        check
    );
}

#[test]
fn a_z_stream_lives_in_the_worker_across_calls() {
    let zlib = IsolatedLibrary::open("libz.so.1").unwrap();
    zlib.include(&ffikit_cdecl::Header::new("zlib.h")).unwrap();
    let calloc = zlib.function("void *calloc(size_t, size_t)").unwrap();
    let alloc = |bytes: usize| match calloc.call(&[1.into(), bytes.into()]).unwrap() {
        Value::Handle(handle) => handle,
        other => panic!("calloc returned {other}"),
    };
    let layout = zlib.new_value("z_stream").unwrap();
    let at = |member: &str| -> isize {
        layout
            .offset_at(&[ffikit_abi::Path::Field(member)])
            .unwrap() as isize
    };
    let input = b"isolated zlib, ".repeat(300);
    let (stream, source, target) = (alloc(layout.size()), alloc(input.len()), alloc(8192));
    let bytes = Value::Array(input.iter().map(|&b| Value::UInt(b.into())).collect());
    let array = |n: usize| format!("unsigned char[{n}]");
    zlib.write(&Value::Handle(source), &array(input.len()), &bytes)
        .unwrap();
    // deflateInit(strm, 9) is a macro for deflateInit_(strm, 9, ZLIB_VERSION, sizeof(z_stream)).
    let version = zlib.function("zlibVersion").unwrap().call(&[]).unwrap();
    let init = zlib.function("deflateInit_").unwrap();
    let stream_size = Value::Int(layout.size() as i64);
    let args = [
        Value::Handle(stream),
        9.into(),
        Value::Str(version.as_text().unwrap()),
        stream_size,
    ];
    assert_eq!(init.call(&args).unwrap(), Value::Int(0)); // Z_OK
    // The stream's fields set in the worker, through handles to its members.
    let set = |member: &str, ty: &str, value: Value| {
        zlib.write(&Value::Handle(stream.offset(at(member))), ty, &value)
            .unwrap();
    };
    set("next_in", "unsigned char *", Value::Handle(source));
    set("avail_in", "unsigned int", Value::UInt(input.len() as u64));
    set("next_out", "unsigned char *", Value::Handle(target));
    set("avail_out", "unsigned int", Value::UInt(8192));
    let deflate = zlib.function("deflate").unwrap();
    assert_eq!(
        deflate.call(&[Value::Handle(stream), 4.into()]).unwrap(),
        Value::Int(1)
    ); // Z_FINISH → Z_STREAM_END
    let total = zlib
        .read(
            &Value::Handle(stream.offset(at("total_out"))),
            "unsigned long",
        )
        .unwrap()
        .as_i128()
        .unwrap() as usize;
    let Value::Array(out) = zlib.read(&Value::Handle(target), &array(total)).unwrap() else {
        panic!("an array")
    };
    let compressed: Vec<u8> = out.iter().map(|v| v.as_i128().unwrap() as u8).collect();
    assert_eq!(
        zlib.function("deflateEnd")
            .unwrap()
            .call(&[Value::Handle(stream)])
            .unwrap(),
        Value::Int(0)
    );
    // The same bytes compress2 makes at level 9 in this process (deflate with the defaults).
    // SAFETY: libz is a system library; compress2 is declared as zlib.h declares it and
    // gets buffers of the lengths it is told.
    let expected = unsafe {
        let libz = Library::open("libz.so.1").unwrap();
        let compress2 = libz
            .function("int compress2(unsigned char *, unsigned long *, const unsigned char *, unsigned long, int)")
            .unwrap();
        let mut out = vec![0u8; 8192];
        let mut length = 8192u64;
        let status = compress2
            .call(&[
                Value::Pointer(out.as_mut_ptr() as usize),
                Value::Pointer(&mut length as *mut u64 as usize),
                Value::Bytes(input.clone()),
                Value::UInt(input.len() as u64),
                9.into(),
            ])
            .unwrap();
        assert_eq!(status, Value::Int(0));
        out.truncate(length as usize);
        out
    };
    assert_eq!(compressed, expected);
    assert!(compressed.len() < input.len() / 10);
}

#[test]
fn an_answer_larger_than_the_transfer_area_is_an_error() {
    let libc =
        IsolatedLibrary::open_with("libc.so.6", IsolatedOptions::new().max_transfer(1 << 20))
            .unwrap();
    let calloc = libc.function("void *calloc(size_t, size_t)").unwrap();
    let block = calloc.call(&[1.into(), Value::UInt(1 << 20)]).unwrap();
    // A million chars read back as values: far more than 1 MiB on the way back.
    let error = libc.read(&block, "char[1048576]").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TooLarge, "{error}");
    // The worker lives on.
    let strlen = libc.function("size_t strlen(const char *)").unwrap();
    assert_eq!(
        strlen.call(&[Value::Str("still here".into())]).unwrap(),
        Value::UInt(10)
    );
}
