//! The safety model at run time: issue 12's three programs written with their promises run
//! cleanly, and a safe call refuses everything its promise does not cover.
//!
//! (That the same programs without `unsafe` do not compile is shown by the compile-fail tests
//! in `tests/compile_fail/`.)

use std::ffi::{c_char, c_int};
use std::sync::Arc;

use ffikit_abi::{ErrorKind, Library, OwnedFunction, Value};

fn libc() -> Library {
    // SAFETY: libc is already loaded in this process: no initializer runs again (promise 1).
    unsafe { Library::open("libc.so.6") }.unwrap()
}

/// Program 1: an owned function keeps the library it was bound from, so dropping every other
/// handle leaves it callable. Checked against the same function called through libloading.
#[test]
fn an_owned_function_keeps_its_own_library_loaded() {
    // SAFETY: libz's initializers are sound to run (promise 1); zlibVersion is declared as in
    // zlib.h (promise 2).
    let version = unsafe {
        let libz = Arc::new(Library::open("libz.so.1").unwrap());
        OwnedFunction::new(&libz, "const char *zlibVersion(void)").unwrap()
    };
    // The only handle left is the function's own.
    assert_eq!(Arc::strong_count(version.library()), 1);
    // SAFETY: zlibVersion takes no arguments (promise 3).
    let text = unsafe { version.call(&[]) }.unwrap().as_text().unwrap();

    // SAFETY: as above, through libloading: the same library, the same declaration.
    let expected = unsafe {
        let raw = libloading::Library::new("libz.so.1").unwrap();
        let f = raw
            .get::<unsafe extern "C" fn() -> *const c_char>(b"zlibVersion")
            .unwrap();
        std::ffi::CStr::from_ptr(f()).to_str().unwrap().to_owned()
    };
    assert_eq!(text, expected);
}

/// Program 2: a raw address is the caller's promise. A safe call refuses it wherever it
/// appears — as an argument, a `char *` result passed on, a `CData` or callback address, a
/// member of a struct — and refuses NULL unless the binder allowed it.
#[test]
fn a_safe_call_refuses_what_its_promise_does_not_cover() {
    let libc = libc();
    // SAFETY: strlen, strerror and strtol as <string.h> and <stdlib.h> declare them; given
    // strings ffikit copies (and NULL for strtol's end pointer, allowed below), each only reads
    // them (promises 2 and 3).
    let (strlen, strerror, strtol) = unsafe {
        (
            libc.function("size_t strlen(const void *)")
                .unwrap()
                .into_safe(),
            libc.function("char *strerror(int)").unwrap().into_safe(),
            libc.function("long strtol(const char *, char **, int)")
                .unwrap()
                .allow_null(1)
                .into_safe(),
        )
    };
    let refused = |args: &[Value]| strlen.call(args).unwrap_err().kind();
    assert_eq!(refused(&[Value::Pointer(16)]), ErrorKind::UncheckedPointer);
    let text = strerror.call(&[Value::Int(2)]).unwrap();
    assert!(matches!(text, Value::Text { .. }));
    assert_eq!(refused(&[text]), ErrorKind::UncheckedPointer);
    let data = libc.new_value("char[8]").unwrap();
    assert_eq!(refused(&[data.address()]), ErrorKind::UncheckedPointer);
    let callback = libc
        .callback("noop", "void (*)(void)", |_| Ok(Value::Void))
        .unwrap();
    assert_eq!(refused(&[callback.address()]), ErrorKind::UncheckedPointer);
    assert_eq!(refused(&[Value::Null]), ErrorKind::NullPointer);
    // The message names the argument and the way out.
    let message = strlen.call(&[Value::Pointer(16)]).unwrap_err().to_string();
    assert!(
        message.contains("argument 1") && message.contains("unsafe `Function::call`"),
        "{message}"
    );
    // What the promise covers is called, and agrees with Rust's own answer.
    for text in ["", "hello", "ffikit ✓"] {
        assert_eq!(
            strlen.call(&[text.into()]).unwrap(),
            Value::UInt(text.len() as u64)
        );
    }
    assert_eq!(
        strlen.call(&[Value::Bytes(b"abc\0def".to_vec())]).unwrap(),
        Value::UInt(3)
    );
    assert_eq!(
        strtol
            .call(&["-1234".into(), Value::Null, 10.into()])
            .unwrap(),
        Value::Int(-1234)
    );
    // The function's own, unsafe call (through `Deref`) still takes raw addresses, on the
    // caller's word: a live, NUL-terminated buffer here.
    let mut buffer = libc.new_value("char[8]").unwrap();
    let bytes = b"abc\0".iter().map(|&b| Value::Int(b.into())).collect();
    buffer.set(&Value::Array(bytes)).unwrap();
    // SAFETY: `buffer` is alive during the call and holds a NUL-terminated string (promise 4).
    let length = unsafe { (*strlen).call(&[buffer.address()]) }.unwrap();
    assert_eq!(length, Value::UInt(3));
}

/// Raw addresses and NULL inside struct and array values are refused too, before the values
/// are even matched against the parameter's type.
#[test]
fn a_safe_call_looks_inside_struct_and_array_values() {
    let libc = libc();
    // SAFETY: strlen as <string.h> declares it; it only reads the string it is given
    // (promises 2 and 3).
    let strlen = unsafe {
        libc.function("size_t strlen(const char *)")
            .unwrap()
            .into_safe()
    };
    let refused = |value: Value| strlen.call(&[value]).unwrap_err().kind();
    let member = |value: Value| Value::Struct(vec![("a".into(), 1.into()), ("p".into(), value)]);
    assert_eq!(
        refused(member(Value::Pointer(16))),
        ErrorKind::UncheckedPointer
    );
    assert_eq!(refused(member(Value::Null)), ErrorKind::NullPointer);
    let nested = Value::Array(vec![1.into(), member(Value::Pointer(32))]);
    assert_eq!(refused(nested), ErrorKind::UncheckedPointer);
    // Without raw addresses the value reaches the type check, which refuses a struct for a
    // string.
    assert_eq!(refused(member(2.into())), ErrorKind::TypeMismatch);
}

#[test]
fn a_safe_call_refuses_c_objects_holding_pointers_and_passes_plain_ones() {
    let libc = libc();
    libc.cdef("struct in_addr { unsigned int s_addr; }; struct holder { int n; char *p; };")
        .unwrap();
    // SAFETY: inet_ntoa as <arpa/inet.h> declares it: it reads the value it is given and
    // returns its own static buffer (promises 2 and 3).
    let inet_ntoa = unsafe {
        libc.function("char *inet_ntoa(struct in_addr)")
            .unwrap()
            .into_safe()
    };
    let mut address = libc.new_value("struct in_addr").unwrap();
    address
        .set(&Value::Array(vec![Value::UInt(0x0401_a8c0)]))
        .unwrap();
    let text = inet_ntoa.call(&[Value::Data(address)]).unwrap();
    assert_eq!(text.as_text().as_deref(), Some("192.168.1.4"));
    // A C object with a pointer member carries a raw address: not for a safe call.
    let mut holder = libc.new_value("struct holder").unwrap();
    holder
        .set(&Value::Array(vec![1.into(), Value::Pointer(16)]))
        .unwrap();
    let refused = inet_ntoa.call(&[Value::Data(holder)]).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::UncheckedPointer, "{refused}");
    // One of another type is refused by the type check.
    let wrong = libc.new_value("int[1]").unwrap();
    let refused = inet_ntoa.call(&[Value::Data(wrong)]).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::TypeMismatch, "{refused}");
}

/// Program 3: a callback C keeps must outlive C's use of it. Leaked on purpose, it is called
/// at exit, after everything else is gone. Run in a child process, which reports what the
/// callback saw.
#[test]
fn a_leaked_callback_is_called_at_exit() {
    if std::env::var_os("FFIKIT_SAFETY_CHILD").is_some() {
        let libc = libc();
        let bye = libc
            .callback("bye", "void (*)(int, void *)", |args| {
                let status = args[0].as_i128().unwrap();
                let line = format!("bye {status}\n");
                // SAFETY: writing a live buffer to stderr.
                unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
                Ok(Value::Void)
            })
            .unwrap()
            .leak();
        // SAFETY: on_exit as <stdlib.h> declares it (promise 2); the callback is leaked, so it
        // lives until the process ends (promise 5); its argument is NULL, which it ignores.
        unsafe {
            let on_exit = libc
                .function("int on_exit(void (*)(int, void *), void *)")
                .unwrap();
            assert_eq!(
                on_exit.call(&[bye.address(), Value::Null]).unwrap(),
                Value::Int(0)
            );
        }
        drop(libc);
        std::process::exit(7);
    }
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_leaked_callback_is_called_at_exit",
            "--nocapture",
        ])
        .env("FFIKIT_SAFETY_CHILD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert_eq!(child.status.code(), Some(7), "{stderr}");
    assert!(stderr.contains("bye 7"), "{stderr}");
}

/// A typed callback leaked for good gives a pointer that stays callable.
#[test]
fn a_leaked_typed_callback_stays_callable() {
    let libc = libc();
    let triple = libc
        .typed_callback::<unsafe extern "C" fn(c_int) -> c_int, _>(
            "triple",
            "int (*)(int)",
            |x: c_int| 3 * x,
        )
        .unwrap()
        .leak();
    let pointer = triple.get();
    for x in [-5, 0, 14] {
        // SAFETY: the callback takes and returns an int and lives until the process ends.
        assert_eq!(unsafe { pointer(x) }, 3 * x);
    }
}

/// A value nested deeper than any C type is refused by the conversions; the safe call's walk
/// looking for raw addresses stops at the deepest type there can be.
#[test]
fn a_value_nested_deeper_than_any_type_is_refused() {
    let libc = libc();
    // SAFETY: strlen as <string.h> declares it; it only reads the string it is given
    // (promises 2 and 3).
    let strlen = unsafe {
        libc.function("size_t strlen(const char *)")
            .unwrap()
            .into_safe()
    };
    let mut value = Value::Pointer(16);
    for _ in 0..1000 {
        value = Value::Array(vec![value]);
    }
    assert_eq!(
        strlen.call(&[value]).unwrap_err().kind(),
        ErrorKind::TypeMismatch
    );
}
