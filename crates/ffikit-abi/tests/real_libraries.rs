//! ABI mode on the system's libraries, against independent answers: Rust's own math, the
//! process's own pid, zlib's documented CRC, sqlite's version macro.

use std::sync::Arc;

use ffikit_abi::{Library, OwnedFunction, Value};

#[test]
fn libm_agrees_with_rust_bit_for_bit() {
    let libm = Library::open("m").unwrap();
    let pow = libm.function("double pow(double, double)").unwrap();
    let sqrtf = libm.function("float sqrtf(float)").unwrap();
    let cabs = libm.function("double cabs(double _Complex)").unwrap();
    let frexp = libm.function("double frexp(double, int *)").unwrap();
    for (x, y) in [(2.5, 5.0), (10.0, -3.0), (0.5, 0.5)] {
        assert_eq!(
            pow.call(&[x.into(), y.into()]).unwrap(),
            Value::Float(f64::powf(x, y))
        );
    }
    assert_eq!(
        sqrtf.call(&[2.0.into()]).unwrap(),
        Value::Float(2f32.sqrt().into())
    );
    assert_eq!(
        cabs.call(&[Value::Complex(3.0, 4.0)]).unwrap(),
        Value::Float(5.0)
    );
    let exponent = libm.new_value("int").unwrap();
    assert_eq!(
        frexp.call(&[8.0.into(), exponent.address()]).unwrap(),
        Value::Float(0.5)
    );
    assert_eq!(exponent.get(), Value::Int(4));
    let sqrtl = libm.function("long double sqrtl(long double)").unwrap();
    assert_eq!(
        sqrtl.call(&[Value::Float(2.25)]).unwrap(),
        Value::Float(1.5)
    );
    let conj = libm
        .function("double _Complex conj(double _Complex)")
        .unwrap();
    assert_eq!(
        conj.call(&[Value::Complex(1.5, 2.0)]).unwrap(),
        Value::Complex(1.5, -2.0)
    );
}

#[test]
fn libc_process_and_errno() {
    let libc = Library::open("c").unwrap();
    let getpid = libc.function("pid_t getpid(void)").unwrap();
    assert_eq!(
        getpid.call(&[]).unwrap(),
        Value::Int(std::process::id().into())
    );
    let access = libc
        .function("int access(const char *, int)")
        .unwrap()
        .capture_errno();
    assert_eq!(
        access
            .call(&["/nonexistent-ffikit/x".into(), 0.into()])
            .unwrap(),
        Value::Int(-1)
    );
    assert_eq!(ffikit_abi::last_errno(), libc::ENOENT);
    let this = Library::this();
    let abs = this.function("int abs(int)").unwrap();
    assert_eq!(abs.call(&[(-9).into()]).unwrap(), Value::Int(9));
}

#[test]
fn zlib_and_sqlite() {
    let z = Library::open("z").unwrap();
    let crc32 = z
        .function("unsigned long crc32(unsigned long, const unsigned char *, unsigned int)")
        .unwrap();
    // The CRC-32 of "123456789" is the standard check value 0xCBF43926.
    let crc = crc32
        .call(&[0.into(), "123456789".into(), 9.into()])
        .unwrap();
    assert_eq!(crc, Value::UInt(0xCBF4_3926));
    let sqlite = Library::open("sqlite3").unwrap();
    let version = sqlite
        .function("int sqlite3_libversion_number(void)")
        .unwrap();
    let text = sqlite
        .function("const char *sqlite3_libversion(void)")
        .unwrap();
    let number = version.call(&[]).unwrap().as_i128().unwrap();
    let dotted = text.call(&[]).unwrap().as_text().unwrap();
    let parts: Vec<i128> = dotted.split('.').map(|p| p.parse().unwrap()).collect();
    assert_eq!(number, parts[0] * 1_000_000 + parts[1] * 1000 + parts[2]);
}

#[test]
fn functions_are_shared_by_threads() {
    let libm = Arc::new(Library::open("m").unwrap());
    let pow = Arc::new(OwnedFunction::new(&libm, "double pow(double, double)").unwrap());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let pow = Arc::clone(&pow);
            std::thread::spawn(move || {
                for k in 0..2000 {
                    let x = 1.0 + (t * 2000 + k) as f64 / 1000.0;
                    assert_eq!(
                        pow.call(&[x.into(), 1.5.into()]).unwrap(),
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
        pow.call(&[4.0.into(), 0.5.into()]).unwrap(),
        Value::Float(2.0)
    );
}

#[test]
fn snprintf_with_promoted_variadic_arguments() {
    let libc = Library::open("libc.so.6").unwrap();
    let snprintf = libc
        .function("int snprintf(char *, size_t, const char *, ...)")
        .unwrap();
    let typed = snprintf
        .variadic(&libc, &["float", "char", "long long", "char *"])
        .unwrap();
    let buffer = libc.new_value("char[64]").unwrap();
    let written = typed
        .call(&[
            buffer.address(),
            64.into(),
            "%.1f %c %lld %s".into(),
            2.5.into(),
            Value::Int(b'x'.into()),
            Value::Int(-(1 << 40)),
            "end".into(),
        ])
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
    let libc = Library::open("libc.so.6").unwrap();
    let strdup = libc
        .signature("strdup")
        .param("const char *")
        .returns("char *")
        .bind()
        .unwrap();
    let copy = strdup.call(&["dup me".into()]).unwrap();
    assert_eq!(copy.as_text().as_deref(), Some("dup me"));
    let owned = libc.adopt(&copy, "void free(void *)").unwrap();
    let strlen = libc
        .signature("strlen")
        .param("const char *")
        .returns("size_t")
        .bind()
        .unwrap();
    assert_eq!(strlen.call(&[owned.address()]).unwrap(), Value::UInt(6));
    drop(owned); // free()d: valgrind's leak check sees it
    let printf = libc
        .signature("printf")
        .param("const char *")
        .variadic()
        .returns("int")
        .bind()
        .unwrap();
    assert_eq!(
        printf.call(&["%s".into(), "".into()]).unwrap(),
        Value::Int(0)
    );
    assert!(
        libc.signature("abs")
            .param("no_such_type")
            .returns("int")
            .bind()
            .is_err()
    );
}
