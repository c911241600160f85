//! ABI mode on the system's libraries, against independent answers: Rust's own math, the
//! process's own pid, zlib's documented CRC, sqlite's version macro.

use std::sync::Arc;

use ffikit_abi::{Library, OwnedFunction, Value};

#[test]
fn libm_agrees_with_rust_bit_for_bit() {
    // SAFETY: a system library or the fixtures: initializers sound to run (promise 1).
    let libm = unsafe { Library::open("m") }.unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let pow = unsafe { libm.function("double pow(double, double)") }.unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let sqrtf = unsafe { libm.function("float sqrtf(float)") }.unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let cabs = unsafe { libm.function("double cabs(double _Complex)") }.unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let frexp = unsafe { libm.function("double frexp(double, int *)") }.unwrap();
    for (x, y) in [(2.5, 5.0), (10.0, -3.0), (0.5, 0.5)] {
        assert_eq!(
            // SAFETY: live arguments of the types the function expects (promise 3).
            unsafe { pow.call(&[x.into(), y.into()]) }.unwrap(),
            Value::Float(f64::powf(x, y))
        );
    }
    assert_eq!(
        // SAFETY: live arguments of the types the function expects (promise 3).
        unsafe { sqrtf.call(&[2.0.into()]) }.unwrap(),
        Value::Float(2f32.sqrt().into())
    );
    assert_eq!(
        // SAFETY: live arguments of the types the function expects (promise 3).
        unsafe { cabs.call(&[Value::Complex(3.0, 4.0)]) }.unwrap(),
        Value::Float(5.0)
    );
    let exponent = libm.new_value("int").unwrap();
    assert_eq!(
        // SAFETY: live arguments of the types the function expects (promise 3).
        unsafe { frexp.call(&[8.0.into(), exponent.address()]) }.unwrap(),
        Value::Float(0.5)
    );
    assert_eq!(exponent.get(), Value::Int(4));
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let sqrtl = unsafe { libm.function("long double sqrtl(long double)") }.unwrap();
    assert_eq!(
        // SAFETY: live arguments of the types the function expects (promise 3).
        unsafe { sqrtl.call(&[Value::Float(2.25)]) }.unwrap(),
        Value::Float(1.5)
    );
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let conj = unsafe { libm.function("double _Complex conj(double _Complex)") }.unwrap();
    assert_eq!(
        // SAFETY: live arguments of the types the function expects (promise 3).
        unsafe { conj.call(&[Value::Complex(1.5, 2.0)]) }.unwrap(),
        Value::Complex(1.5, -2.0)
    );
}

#[test]
fn libc_process_and_errno() {
    // SAFETY: a system library or the fixtures: initializers sound to run (promise 1).
    let libc = unsafe { Library::open("c") }.unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let getpid = unsafe { libc.function("pid_t getpid(void)") }.unwrap();
    assert_eq!(
        // SAFETY: live arguments of the types the function expects (promise 3).
        unsafe { getpid.call(&[]) }.unwrap(),
        Value::Int(std::process::id().into())
    );
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let access = unsafe { libc.function("int access(const char *, int)") }
        .unwrap()
        .capture_errno();
    assert_eq!(
        // SAFETY: live arguments of the types the function expects (promise 3).
        unsafe { access.call(&["/nonexistent-ffikit/x".into(), 0.into()]) }.unwrap(),
        Value::Int(-1)
    );
    assert_eq!(ffikit_abi::last_errno(), libc::ENOENT);
    let this = Library::this();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let abs = unsafe { this.function("int abs(int)") }.unwrap();
    // SAFETY: live arguments of the types the function expects (promise 3).
    assert_eq!(unsafe { abs.call(&[(-9).into()]) }.unwrap(), Value::Int(9));
}

#[test]
fn zlib_and_sqlite() {
    // SAFETY: a system library or the fixtures: initializers sound to run (promise 1).
    let z = unsafe { Library::open("z") }.unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let crc32 = unsafe {
        z.function("unsigned long crc32(unsigned long, const unsigned char *, unsigned int)")
    }
    .unwrap();
    // The CRC-32 of "123456789" is the standard check value 0xCBF43926.
    // SAFETY: live arguments of the types the function expects (promise 3).
    let crc = unsafe { crc32.call(&[0.into(), "123456789".into(), 9.into()]) }.unwrap();
    assert_eq!(crc, Value::UInt(0xCBF4_3926));
    // SAFETY: a system library or the fixtures: initializers sound to run (promise 1).
    let sqlite = unsafe { Library::open("sqlite3") }.unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let version = unsafe { sqlite.function("int sqlite3_libversion_number(void)") }.unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let text = unsafe { sqlite.function("const char *sqlite3_libversion(void)") }.unwrap();
    // SAFETY: live arguments of the types the function expects (promise 3).
    let number = unsafe { version.call(&[]) }.unwrap().as_i128().unwrap();
    // SAFETY: live arguments of the types the function expects (promise 3).
    let dotted = unsafe { text.call(&[]) }.unwrap().as_text().unwrap();
    let parts: Vec<i128> = dotted.split('.').map(|p| p.parse().unwrap()).collect();
    assert_eq!(number, parts[0] * 1_000_000 + parts[1] * 1000 + parts[2]);
}

#[test]
fn functions_are_shared_by_threads() {
    // SAFETY: a system library or the fixtures: initializers sound to run (promise 1).
    let libm = Arc::new(unsafe { Library::open("m") }.unwrap());
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let pow = Arc::new(unsafe { OwnedFunction::new(&libm, "double pow(double, double)") }.unwrap());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let pow = Arc::clone(&pow);
            std::thread::spawn(move || {
                for k in 0..2000 {
                    let x = 1.0 + (t * 2000 + k) as f64 / 1000.0;
                    assert_eq!(
                        // SAFETY: live arguments of the types the function expects (promise 3).
                        unsafe { pow.call(&[x.into(), 1.5.into()]) }.unwrap(),
                        Value::Float(x.powf(1.5))
                    );
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    drop(libm); // the functions still hold the library
    assert_eq!(
        // SAFETY: live arguments of the types the function expects (promise 3).
        unsafe { pow.call(&[4.0.into(), 0.5.into()]) }.unwrap(),
        Value::Float(2.0)
    );
}

#[test]
fn snprintf_with_promoted_variadic_arguments() {
    // SAFETY: a system library or the fixtures: initializers sound to run (promise 1).
    let libc = unsafe { Library::open("libc.so.6") }.unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let snprintf =
        unsafe { libc.function("int snprintf(char *, size_t, const char *, ...)") }.unwrap();
    let typed = snprintf
        .variadic(&libc, &["float", "char", "long long", "char *"])
        .unwrap();
    let buffer = libc.new_value("char[64]").unwrap();
    // SAFETY: live arguments of the types the function expects (promise 3).
    let written = unsafe {
        typed.call(&[
            buffer.address(),
            64.into(),
            "%.1f %c %lld %s".into(),
            2.5.into(),
            Value::Int(b'x'.into()),
            Value::Int(-(1 << 40)),
            "end".into(),
        ])
    }
    .unwrap();
    let text = String::from_utf8(
        buffer
            .bytes()
            .iter()
            .take_while(|&&b| b != 0)
            .copied()
            .collect(),
    )
    .unwrap();
    assert_eq!(text, format!("2.5 x {} end", -(1i64 << 40)));
    assert_eq!(written, Value::Int(text.len() as i64));
}

#[test]
fn builder_and_adopted_memory() {
    // SAFETY: a system library or the fixtures: initializers sound to run (promise 1).
    let libc = unsafe { Library::open("libc.so.6") }.unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let strdup = unsafe {
        libc.signature("strdup")
            .param("const char *")
            .returns("char *")
            .bind()
    }
    .unwrap();
    // SAFETY: live arguments of the types the function expects (promise 3).
    let copy = unsafe { strdup.call(&["dup me".into()]) }.unwrap();
    assert_eq!(copy.as_text().as_deref(), Some("dup me"));
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let owned = unsafe { libc.adopt(&copy, "void free(void *)") }.unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let strlen = unsafe {
        libc.signature("strlen")
            .param("const char *")
            .returns("size_t")
            .bind()
    }
    .unwrap();
    assert_eq!(
        // SAFETY: live arguments of the types the function expects (promise 3).
        unsafe { strlen.call(&[owned.address()]) }.unwrap(),
        Value::UInt(6)
    );
    drop(owned); // free()d: valgrind's leak check sees it
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let printf = unsafe {
        libc.signature("printf")
            .param("const char *")
            .variadic()
            .returns("int")
            .bind()
    }
    .unwrap();
    assert_eq!(
        // SAFETY: live arguments of the types the function expects (promise 3).
        unsafe { printf.call(&["%s".into(), "".into()]) }.unwrap(),
        Value::Int(0)
    );
    assert!(
        // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
        unsafe {
            libc.signature("abs")
                .param("no_such_type")
                .returns("int")
                .bind()
        }
        .is_err()
    );
}
