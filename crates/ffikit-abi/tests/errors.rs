//! Every kind of bad input gets its own typed error, before any call, on real libraries.

mod support;

use ffikit_abi::{Error, ErrorKind, Library, Value};

fn libc() -> Library {
    // SAFETY: libc is already loaded in this process: no initializer runs again.
    unsafe { Library::open("libc.so.6") }.unwrap()
}

fn open(name: &str) -> Result<Library, Error> {
    // SAFETY: these tests open missing files and a non-ELF file: the loader refuses them
    // before any code could run.
    unsafe { Library::open(name) }
}

#[test]
fn a_missing_library_lists_every_place_tried() {
    let error = open("ffikit-no-such-library").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::LibraryNotFound);
    let message = error.to_string();
    assert!(
        message.contains("ldconfig") && message.contains("/usr/lib"),
        "{message}"
    );
    let error = open("/nonexistent/libx.so").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::LibraryNotFound);
}

#[test]
fn a_file_the_loader_refuses_keeps_dlerror_as_the_source() {
    let dir = std::env::temp_dir().join(format!("ffikit-abi-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("libnotelf.so");
    std::fs::write(&path, "this is not an ELF file").unwrap();
    let error = open(path.to_str().unwrap()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::LibraryLoadError);
    let mut chain = String::new();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    assert!(chain.contains("libnotelf.so"), "{chain}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn symbols_must_exist_and_be_what_they_are_declared_as() {
    let libc = libc();
    // SAFETY: every binding below fails or is `abs` as <stdlib.h> declares it; none is called.
    unsafe {
        let missing = libc
            .function("int ffikit_no_such_symbol(void)")
            .unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::SymbolNotFound);
        // stdin is data in libc's ELF symbol table; printf is a function.
        let data = libc.function("int stdin(void)").unwrap_err();
        assert_eq!(data.kind(), ErrorKind::NotAFunction, "{data}");
        let function = libc.global("int printf").unwrap_err();
        assert_eq!(function.kind(), ErrorKind::NotAFunction, "{function}");
        assert!(
            libc.optional("int ffikit_no_such_symbol(void)")
                .unwrap()
                .is_none()
        );
        assert!(libc.optional("int abs(int)").unwrap().is_some());
    }
}

#[test]
fn malformed_declarations_point_at_the_problem() {
    let libc = libc();
    // SAFETY: none of these declarations parses, so nothing is bound.
    unsafe {
        let error = libc.function("int (").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::DeclarationSyntax);
        let Error::Declaration(inner) = &error else {
            panic!("{error:?}")
        };
        assert_eq!(inner.column(), 6);
        let variable = libc.function("int errno_like").unwrap_err();
        assert_eq!(variable.kind(), ErrorKind::DeclarationSyntax);
        let unknown = libc.function("mystery_t abs(int)").unwrap_err();
        assert_eq!(unknown.kind(), ErrorKind::DeclarationSyntax);
        assert!(
            std::error::Error::source(&unknown)
                .unwrap()
                .to_string()
                .contains("^^^^^^^^^")
        );
    }
}

#[test]
fn arguments_are_checked_before_the_call() {
    let libc = libc();
    // SAFETY: abs, toupper, strlen and strerror as their headers declare them; each is
    // defined for every value a safe call passes (in-range integers, strings copied for the
    // call; toupper for every unsigned char; strerror returns a string for every int).
    let (abs, toupper, strlen, strerror) = unsafe {
        (
            libc.function("int abs(int j)").unwrap().into_safe(),
            libc.function("int toupper(unsigned char c)")
                .unwrap()
                .into_safe(),
            libc.function("size_t strlen(const char *s)")
                .unwrap()
                .into_safe(),
            libc.function("char *strerror(int)").unwrap().into_safe(),
        )
    };
    let kind = |args: &[Value]| abs.call(args).unwrap_err().kind();
    assert_eq!(kind(&[]), ErrorKind::ArityMismatch);
    assert_eq!(kind(&[1.into(), 2.into()]), ErrorKind::ArityMismatch);
    assert_eq!(kind(&["hello".into()]), ErrorKind::TypeMismatch);
    assert_eq!(kind(&[Value::Float(1.5)]), ErrorKind::TypeMismatch);
    assert_eq!(kind(&[Value::Int(1 << 31)]), ErrorKind::OutOfRange);
    assert_eq!(kind(&[Value::UInt(u64::MAX)]), ErrorKind::OutOfRange);
    assert_eq!(
        abs.call(&[Value::Int(-(1 << 31))]).unwrap(),
        Value::Int(-(1 << 31))
    );

    let error = toupper.call(&[300.into()]).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::OutOfRange);
    assert_eq!(
        toupper.call(&[Value::Int(b'q'.into())]).unwrap(),
        Value::Int(b'Q'.into())
    );

    assert_eq!(
        strlen.call(&[Value::Null]).unwrap_err().kind(),
        ErrorKind::NullPointer
    );
    assert_eq!(
        strlen.call(&["a\0b".into()]).unwrap_err().kind(),
        ErrorKind::InteriorNul
    );
    assert_eq!(
        strlen.call(&[Value::Int(0)]).unwrap_err().kind(),
        ErrorKind::TypeMismatch
    );
    assert_eq!(strlen.call(&["four".into()]).unwrap(), Value::UInt(4));
    // A raw address is for the unsafe call only.
    assert_eq!(
        strlen.call(&[Value::Pointer(16)]).unwrap_err().kind(),
        ErrorKind::UncheckedPointer
    );
    assert!(
        strerror
            .call(&[2.into()])
            .unwrap()
            .as_text()
            .unwrap()
            .contains("No such file")
    );
}

#[test]
fn structs_must_have_the_right_shape() {
    let libc = libc();
    libc.cdef("struct in_addr { in_addr_t s_addr; };").unwrap();
    // SAFETY: inet_ntoa as <arpa/inet.h> declares it, defined for every address; it returns
    // a string in a static buffer.
    let ntoa = unsafe {
        libc.function("char *inet_ntoa(struct in_addr in)")
            .unwrap()
            .into_safe()
    };
    let ok = Value::Struct(vec![("s_addr".into(), Value::UInt(0x0100_007f))]);
    assert_eq!(
        ntoa.call(&[ok]).unwrap().as_text().as_deref(),
        Some("127.0.0.1")
    );
    for bad in [
        Value::Struct(vec![]),
        Value::Struct(vec![
            ("s_addr".into(), 1.into()),
            ("extra".into(), 2.into()),
        ]),
        Value::Struct(vec![("address".into(), 1.into())]),
        Value::Int(1),
    ] {
        assert_eq!(
            ntoa.call(std::slice::from_ref(&bad)).unwrap_err().kind(),
            ErrorKind::TypeMismatch,
            "{bad:?}"
        );
    }
}

#[test]
fn types_abi_mode_cannot_call_are_refused() {
    let libc = libc();
    // SAFETY: the declarations are refused, or are abs as declared in <stdlib.h> (not called).
    unsafe {
        for declaration in [
            "__int128 abs(__int128 x)",
            "_Atomic int abs(int x)",
            "int abs(__builtin_va_list x)",
        ] {
            let error = libc.function(declaration).unwrap_err();
            assert_eq!(
                error.kind(),
                ErrorKind::UnsupportedType,
                "{declaration}: {error}"
            );
        }
        let typed = libc.function("int abs(int)").unwrap();
        assert!(
            typed
                .typed::<unsafe extern "C" fn(i32, i32) -> i32>()
                .is_err()
        );
        assert!(typed.typed::<unsafe extern "C" fn(u32) -> i32>().is_err());
        assert!(typed.typed::<unsafe extern "C" fn(i32) -> i32>().is_ok());
    }
}

#[test]
fn union_members_given_together_must_agree() {
    let libc = libc();
    libc.cdef("union word { unsigned int u; int i; float f; };")
        .unwrap();
    let mut word = libc.new_value("union word").unwrap();
    word.set(&Value::Struct(vec![
        ("u".into(), Value::UInt(1)),
        ("i".into(), Value::Int(1)),
    ]))
    .unwrap();
    let error = word
        .set(&Value::Struct(vec![
            ("u".into(), Value::UInt(1)),
            ("i".into(), Value::Int(2)),
        ]))
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TypeMismatch);
}

#[test]
fn values_beyond_a_float_are_out_of_range_on_every_route() {
    // SAFETY: libm's initializers are sound to run (promise 1); fabsf as <math.h> declares
    // it, defined for every float (promises 2 and 3).
    let libm = unsafe { Library::open("libm.so.6") }.unwrap();
    // SAFETY: as above.
    let (lane, general) = unsafe {
        (
            libm.function("float fabsf(float)").unwrap().into_safe(),
            libm.function("float fabsf(float)")
                .unwrap()
                .use_general_path()
                .into_safe(),
        )
    };
    for fabsf in [&lane, &general] {
        for too_large in [1e300, -3.5e38] {
            let error = fabsf.call(&[Value::Float(too_large)]).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::OutOfRange, "{too_large}");
        }
        // The largest float, infinity and NaN are values.
        assert_eq!(
            fabsf.call(&[Value::Float(-f64::from(f32::MAX))]).unwrap(),
            Value::Float(f64::from(f32::MAX))
        );
        assert_eq!(
            fabsf.call(&[Value::Float(f64::NEG_INFINITY)]).unwrap(),
            Value::Float(f64::INFINITY)
        );
        assert!(
            fabsf
                .call(&[Value::Float(f64::NAN)])
                .unwrap()
                .as_f64()
                .unwrap()
                .is_nan()
        );
    }
}

#[test]
fn a_member_given_twice_is_refused() {
    let libc = libc();
    libc.cdef("struct in_addr { in_addr_t s_addr; };").unwrap();
    // SAFETY: inet_ntoa as <arpa/inet.h> declares it; it is never called here (promise 2).
    let ntoa = unsafe { libc.function("char *inet_ntoa(struct in_addr in)") }.unwrap();
    let twice = Value::Struct(vec![
        ("s_addr".into(), Value::UInt(1)),
        ("s_addr".into(), Value::UInt(2)),
    ]);
    let mut data = libc.new_value("struct in_addr").unwrap();
    assert_eq!(
        data.set(&twice).unwrap_err().kind(),
        ErrorKind::TypeMismatch
    );
    // SAFETY: the call is refused before C runs.
    let error = unsafe { ntoa.call(&[twice]) }.unwrap_err();
    assert!(
        error.to_string().contains("`s_addr` given twice"),
        "{error}"
    );
}

#[test]
fn sizes_past_the_limits_are_refused_before_any_allocation_or_call() {
    let libc = libc();
    let error = libc.new_value("char[2147483648]").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TooLarge);
    assert!(libc.new_value("char[1048576]").is_ok());
    libc.cdef("struct big { char b[70000]; };").unwrap();
    // SAFETY: the binding is refused (the struct is larger than ffikit passes by value).
    let error = unsafe { libc.function("int abs(struct big)") }.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TooLarge);
    let error = libc
        .callback("big", "void (*)(struct big)", |_| Ok(Value::Void))
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TooLarge);
}

#[test]
fn members_of_a_large_struct_are_checked_by_name_too() {
    let libc = libc();
    let names: Vec<String> = (0..40).map(|k| format!("m{k}")).collect();
    let body: String = names.iter().map(|n| format!("int {n}; ")).collect();
    libc.cdef(&format!("struct wide {{ {body}}};")).unwrap();
    let mut wide = libc.new_value("struct wide").unwrap();
    let all: Vec<(String, Value)> = names
        .iter()
        .enumerate()
        .map(|(k, n)| (n.clone(), Value::Int(k as i64)))
        .collect();
    wide.set(&Value::Struct(all.iter().rev().cloned().collect()))
        .unwrap();
    assert_eq!(wide.get(), Value::Struct(all.clone()));
    let mut twice = all.clone();
    twice.push(("m3".into(), Value::Int(9)));
    let error = wide.set(&Value::Struct(twice)).unwrap_err();
    assert!(error.to_string().contains("`m3` given twice"), "{error}");
    let mut unknown = all;
    unknown[5].0 = "nope".into();
    let error = wide.set(&Value::Struct(unknown)).unwrap_err();
    assert!(
        error.to_string().contains("no member named `nope`"),
        "{error}"
    );
}

#[test]
fn structs_by_position_are_checked_member_by_member() {
    let (_dir, library) = support::compile(
        "struct pair { int a; double b; };\n\
         struct outer { struct pair p; int v[2]; };\n\
         double weigh(struct outer o) { return o.p.a * 1000.0 + o.p.b + o.v[0] * 10 + o.v[1]; }\n",
    );
    library
        .cdef("struct pair { int a; double b; }; struct outer { struct pair p; int v[2]; };")
        .unwrap();
    // SAFETY: the declaration matches the definition compiled above.
    let weigh = unsafe { library.function("double weigh(struct outer)") }.unwrap();
    let outer = |p: Vec<Value>, v: Vec<Value>| Value::Array(vec![Value::Array(p), Value::Array(v)]);
    // By position, nested, as C's initializer `{{3, 0.5}, {4, 5}}`: what C computes.
    // SAFETY: as above.
    let weight =
        unsafe { weigh.call(&[outer(vec![3.into(), 0.5.into()], vec![4.into(), 5.into()])]) };
    assert_eq!(weight.unwrap(), Value::Float(3000.5 + 45.0));
    let error = |value: Value| {
        // SAFETY: refused before C runs.
        unsafe { weigh.call(&[value]) }.unwrap_err().to_string()
    };
    assert_eq!(
        error(Value::Array(vec![Value::Array(vec![1.into(), 2.5.into()])])),
        "argument 1 of `weigh`: expected 2 member values of `struct outer`, in order, got 1 values"
    );
    let wrong = error(outer(vec![1.into(), "x".into()], vec![1.into(), 2.into()]));
    assert!(wrong.starts_with("argument 1 of `weigh`.p.b:"), "{wrong}");
    let range = error(outer(
        vec![(1i64 << 40).into(), 2.5.into()],
        vec![1.into(), 2.into()],
    ));
    assert!(
        range.starts_with("argument 1 of `weigh`.p.a: 1099511627776 is out of range"),
        "{range}"
    );
}
