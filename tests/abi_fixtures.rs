//! The fixture suite again, through ABI mode: libffikit_fixtures.so bound from its own
//! manifest (no declarations here), every function called with dynamic Values, and each result
//! compared with the API-mode (bindgen, static) call of the same function with the same
//! arguments — one suite, two backends — and with the independent expectations of
//! api_fixtures.rs.

use std::ffi::{CStr, c_char};
use std::sync::OnceLock;

use ffikit::fixtures::{SHARED_OBJECT, sys};
use ffikit_abi::{ErrorKind, Library, Path, Value, last_errno};

fn fixtures() -> &'static Library {
    static LIBRARY: OnceLock<Library> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        // SAFETY: a system library or the fixtures: initializers sound to run (promise 1).
        unsafe { Library::open_described(SHARED_OBJECT) }.expect("the fixtures load")
    })
}

fn call(name: &str, args: &[Value]) -> Value {
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2); live arguments of the types the function expects (promise 3).
    unsafe {
        fixtures()
            .get(name)
            .unwrap_or_else(|e| panic!("binding {name}: {e}"))
            .call(args)
    }
    .unwrap_or_else(|e| panic!("calling {name}: {e}"))
}

#[test]
fn gcd_and_pi_agree_with_api_mode() {
    for (x, y) in [(12, 18), (1071, 462), (0, 0), (-12, 18), (i32::MAX, 1)] {
        // SAFETY: gcd takes two ints.
        let api = unsafe { sys::gcd(x, y) };
        assert_eq!(call("gcd", &[x.into(), y.into()]), Value::Int(api.into()));
    }
    let Value::Float(pi) = call("get_pi", &[]) else {
        panic!("get_pi returns a double")
    };
    assert_eq!(pi.to_bits(), std::f64::consts::PI.to_bits());
}

/// echo_T(v) through both backends for the extremes of T.
macro_rules! echo_both {
    ($($echo:ident: $ty:ty),* $(,)?) => {$(
        for value in [<$ty>::MIN, <$ty>::MAX, 0 as $ty, 1 as $ty] {
            // SAFETY: the echo functions take and return one scalar.
            let api = unsafe { sys::$echo(value) };
            let abi = call(stringify!($echo), &[Value::from(value as i128 as i64).clone_if_signed(value as i128)]);
            assert_eq!(abi.as_i128(), Some(api as i128), "{}({value})", stringify!($echo));
        }
    )*};
}

trait CloneIfSigned {
    fn clone_if_signed(self, wide: i128) -> Value;
}

impl CloneIfSigned for Value {
    /// Values above i64::MAX travel as unsigned.
    fn clone_if_signed(self, wide: i128) -> Value {
        if wide > i64::MAX as i128 {
            Value::UInt(wide as u64)
        } else {
            self
        }
    }
}

#[test]
fn integer_extremes_agree_with_api_mode() {
    echo_both!(
        echo_schar: i8, echo_uchar: u8, echo_char: c_char, echo_short: i16, echo_ushort: u16,
        echo_int: i32, echo_uint: u32, echo_long: i64, echo_ulong: u64, echo_llong: i64,
        echo_ullong: u64, echo_size_t: usize, echo_ssize_t: isize, echo_int8: i8,
        echo_uint8: u8, echo_int16: i16, echo_uint16: u16, echo_int32: i32, echo_uint32: u32,
        echo_int64: i64, echo_uint64: u64,
    );
    // SAFETY: constants from <limits.h>.
    let api = unsafe {
        [
            sys::min_llong() as i128,
            sys::max_ullong() as i128,
            sys::min_schar() as i128,
        ]
    };
    let abi = ["min_llong", "max_ullong", "min_schar"].map(|f| call(f, &[]).as_i128().unwrap());
    assert_eq!(abi, api);
}

#[test]
fn out_of_range_integers_are_refused_before_the_call() {
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let echo_uchar = unsafe { fixtures().get("echo_uchar") }.unwrap();
    for bad in [
        Value::Int(256),
        Value::Int(-1),
        Value::Float(1.0),
        Value::Str("1".into()),
    ] {
        // SAFETY: live arguments of the types the function expects (promise 3).
        let error = unsafe { echo_uchar.call(std::slice::from_ref(&bad)) }.unwrap_err();
        assert!(
            matches!(
                error.kind(),
                ErrorKind::OutOfRange | ErrorKind::TypeMismatch
            ),
            "{bad:?}: {error}"
        );
    }
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2); live arguments of the types the function expects (promise 3).
    let error = unsafe {
        fixtures()
            .get("echo_int8")
            .unwrap()
            .call(&[Value::Int(-129)])
    }
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "argument 1 (`x`) of `echo_int8`: -129 is out of range for `signed char` (-128..=127)"
    );
}

#[test]
fn floats_long_double_and_bools() {
    for value in [0.0, -0.0, 1.5, f64::MAX, 5e-324, f64::INFINITY] {
        assert_eq!(call("echo_double", &[value.into()]), Value::Float(value));
        // SAFETY: takes and returns a double.
        let api = unsafe { sys::echo_double(value) };
        assert_eq!(api.to_bits(), value.to_bits());
    }
    let Value::Float(f) = call("echo_float", &[Value::Float(0.1)]) else {
        panic!()
    };
    assert_eq!(f, 0.1f32 as f64, "float parameters round to float");
    // long double by value: only ABI mode can (bindgen has no faithful type for it).
    assert_eq!(
        call("echo_long_double", &[Value::Float(-1024.25)]),
        Value::Float(-1024.25)
    );
    assert_eq!(call("max_long_double", &[]), Value::Float(f64::INFINITY)); // beyond f64
    // Through memory, the exact bytes agree with API mode's.
    let abi = fixtures().new_value("long double").unwrap();
    call("long_double_max_into", &[abi.address()]);
    let mut api = 0u128;
    // SAFETY: writes one long double to a 16-byte location.
    unsafe { sys::long_double_max_into(&mut api) };
    assert_eq!(abi.bytes()[..10], api.to_le_bytes()[..10]);
    assert_eq!(call("echo_bool", &[true.into()]), Value::Bool(true));
}

#[test]
fn mixed_and_many_arguments_agree_bit_for_bit() {
    let args: Vec<Value> = vec![
        Value::Int(-7),
        Value::Int(200),
        Value::Int(-30000),
        Value::Int(60000),
        Value::Int(-2_000_000_000),
        Value::UInt(4_000_000_000),
        Value::Int(-5),
        Value::UInt(7),
        Value::Int(-9),
        Value::UInt(11),
        Value::Float(0.5),
        Value::Float(0.25),
        Value::Bool(true),
    ];
    // SAFETY: thirteen scalars by value.
    let api = unsafe {
        sys::mix_scalars(
            -7,
            200,
            -30000,
            60000,
            -2_000_000_000,
            4_000_000_000,
            -5,
            7,
            -9,
            11,
            0.5,
            0.25,
            true,
        )
    };
    assert_eq!(call("mix_scalars", &args), Value::Float(api));

    let mut args = Vec::new();
    for k in 0..8 {
        args.push(Value::Int(if k % 2 == 0 { k + 1 } else { -(k + 1) }));
        args.push(Value::Float(k as f64 + 0.5));
    }
    args.extend([
        Value::Int(-9),
        Value::Float(8.5),
        Value::Int(10),
        Value::Float(0.75),
        Value::Int(-12),
    ]);
    // SAFETY: 21 scalars by value.
    let api = unsafe {
        sys::many_args(
            1, 0.5, -2, 1.5, 3, 2.5, -4, 3.5, 5, 4.5, -6, 5.5, 7, 6.5, -8, 7.5, -9, 8.5, 10, 0.75,
            -12,
        )
    };
    assert_eq!(call("many_args", &args), Value::Float(api));
}

/// make/sum/bump of one struct through ABI mode, compared with API mode's make.
macro_rules! struct_both {
    ($name:ident, $make:ident, [$($field:ident),+]) => {{
        let made = call(stringify!($make), &[Value::Int(5)]);
        // SAFETY: takes an int, returns the struct.
        let api = unsafe { sys::$make(5) };
        $(
            let abi_field = made.field(stringify!($field)).unwrap_or_else(|| panic!("{} lacks {}", stringify!($name), stringify!($field)));
            let api_field = api.$field as f64;
            assert_eq!(abi_field.as_f64(), Some(api_field), "{}.{}", stringify!($name), stringify!($field));
        )+
        let sum_name = concat!("sum_", stringify!($name));
        let bump_name = concat!("bump_", stringify!($name));
        let expected_sum = 0.0 $(+ api.$field as f64)+;
        assert_eq!(call(sum_name, std::slice::from_ref(&made)), Value::Float(expected_sum), "{sum_name}");
        let bumped = call(bump_name, std::slice::from_ref(&made));
        $(
            assert_eq!(
                bumped.field(stringify!($field)).and_then(Value::as_f64),
                Some(api.$field as f64 + 1.0),
                "{bump_name}.{}", stringify!($field)
            );
        )+
    }};
}

#[test]
fn structs_of_1_to_64_bytes_by_value_agree_with_api_mode() {
    struct_both!(s_int8, make_s_int8, [a]);
    struct_both!(s_int16x1_int8, make_s_int16x1_int8, [a, b]);
    struct_both!(s_int8x3, make_s_int8x3, [a, b, c]);
    struct_both!(s_int32x2, make_s_int32x2, [a, b]);
    struct_both!(s_int32x3, make_s_int32x3, [a, b, c]);
    struct_both!(s_int64x2, make_s_int64x2, [a, b]);
    struct_both!(s_int64x3, make_s_int64x3, [a, b, c]);
    struct_both!(s_float1, make_s_float1, [a]);
    struct_both!(s_float3, make_s_float3, [a, b, c]);
    struct_both!(s_double2, make_s_double2, [a, b]);
    struct_both!(s_double4, make_s_double4, [a, b, c, d]);
    struct_both!(s_int_float, make_s_int_float, [a, b]);
    struct_both!(s_double_int, make_s_double_int, [a, b]);
    struct_both!(s_char_double_short, make_s_char_double_short, [a, b, c]);
    struct_both!(s_float_int64, make_s_float_int64, [a, b]);
    struct_both!(
        s_mixed64,
        make_s_mixed64,
        [a, b, c, d, e, f, g, h, i, j, k, l]
    );
}

#[test]
fn nested_structs_arrays_unions_and_enums() {
    let rect = call("make_rect", &[(-3).into(), 4.into(), 10.into(), 7.into()]);
    assert_eq!(
        rect.to_string(),
        "{ top_left = { x = -3, y = 4 }, bottom_right = { x = 7, y = 11 } }"
    );
    assert_eq!(call("rect_area", &[rect]), Value::Int(70));

    let sample = call("make_sample", &[9.into(), Value::Float(1.5)]);
    // SAFETY: scalars in, struct out, struct in.
    let (api_sample, api_total) = unsafe {
        let s = sys::make_sample(9, 1.5);
        (s, sys::sample_total(s))
    };
    assert_eq!(
        sample.field("values"),
        Some(&Value::Array(
            api_sample
                .values
                .iter()
                .map(|&v| Value::Float(v.into()))
                .collect()
        ))
    );
    assert_eq!(call("sample_total", &[sample]), Value::Float(api_total));

    if cfg!(all(target_arch = "x86_64", not(windows))) {
        let number = call("number_from_double", &[Value::Float(2.5)]);
        assert_eq!(number.field("d"), Some(&Value::Float(2.5)));
        assert_eq!(
            number.field("i"),
            Some(&Value::Int(2.5f64.to_bits() as i64))
        );
        assert_eq!(
            call("number_as_double", std::slice::from_ref(&number)),
            Value::Float(2.5)
        );
        let by_int = Value::Struct(vec![("i".into(), Value::Int(i64::MIN))]);
        assert_eq!(call("number_as_int", &[by_int]), Value::Int(i64::MIN));
    } else {
        // Elsewhere unions by value are refused at binding, never passed wrong.
        // SAFETY: the declaration is the library's own (promise 2); the binding is refused.
        let refused = unsafe { fixtures().get("number_from_double") }.unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::UnsupportedType);
    }

    assert_eq!(
        // SAFETY: the declaration is the library's own, as its header declares it (promise 2); live arguments of the types the function expects (promise 3).
        unsafe { fixtures().get("next_color").unwrap().call(&[Value::Int(1)]) }.unwrap(),
        Value::Int(2)
    );
    let red = ffikit_cdecl_constant("COLOR_ULTRAVIOLET");
    assert_eq!(
        call("color_name", &[Value::Int(red)]).as_text().as_deref(),
        Some("ultraviolet")
    );
}

fn ffikit_cdecl_constant(name: &str) -> i64 {
    let mut decls = ffikit_cdecl::Declarations::new();
    // SAFETY: the manifest is a static string.
    let manifest = unsafe { CStr::from_ptr(sys::ffikit_manifest()) }
        .to_str()
        .unwrap();
    decls.cdef(manifest).unwrap();
    decls.constant(name).unwrap().value as i64
}

#[test]
fn structs_libffi_cannot_describe_are_refused_not_guessed() {
    for (function, args) in [
        (
            "make_packed_record",
            vec![Value::Int(1), Value::Int(2), Value::Int(3)],
        ),
        (
            "make_flags_value",
            vec![Value::Int(1), Value::Int(2), Value::Int(3), Value::Int(4)],
        ),
    ] {
        // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
        let error = unsafe { fixtures().get(function) }.unwrap_err();
        assert_eq!(
            error.kind(),
            ErrorKind::UnsupportedType,
            "{function}: {error}"
        );
        assert!(error.to_string().contains("by value"), "{error}");
        let _ = args;
    }
    // By pointer they work, bitfields included, with signed bitfields sign-extended.
    let mut flags = fixtures().new_value("struct flags").unwrap();
    call(
        "set_flags",
        &[
            flags.address(),
            1.into(),
            5.into(),
            (-9).into(),
            4000.into(),
        ],
    );
    assert_eq!(
        flags.get_at(&[Path::Field("level")]).unwrap(),
        Value::Int(-9)
    );
    assert_eq!(
        flags.get_at(&[Path::Field("count")]).unwrap(),
        Value::UInt(4000)
    );
    flags
        .set_at(&[Path::Field("level")], &Value::Int(15))
        .unwrap();
    flags
        .set_at(&[Path::Field("ready")], &Value::Int(0))
        .unwrap();
    let mut api = sys::flags::default();
    // SAFETY: writes a struct flags through a valid pointer.
    unsafe { sys::set_flags(&mut api, 0, 5, 15, 4000) };
    // SAFETY: as above.
    let expected = unsafe { sys::flags_checksum(&api) };
    assert_eq!(
        call("flags_checksum", &[flags.address()]),
        Value::Int(expected)
    );
    assert_eq!(
        flags
            .set_at(&[Path::Field("mode")], &Value::Int(8))
            .unwrap_err()
            .kind(),
        ErrorKind::OutOfRange
    );

    let mut record = fixtures().new_value("struct pack2_record").unwrap();
    record
        .set(&Value::Struct(vec![
            ("tag".into(), 1.into()),
            ("value".into(), Value::Int(1 << 40)),
            ("tail".into(), 2.into()),
        ]))
        .unwrap();
    assert_eq!(
        call("pack2_record_sum", &[record.address()]),
        Value::UInt((1 << 40) + 3)
    );
}

#[test]
fn pointers_out_parameters_and_arrays() {
    let quotient = fixtures().new_value("int").unwrap();
    let remainder = fixtures().new_value("int").unwrap();
    call(
        "divmod",
        &[
            (-17).into(),
            5.into(),
            quotient.address(),
            remainder.address(),
        ],
    );
    assert_eq!(
        (quotient.get(), remainder.get()),
        (Value::Int(-17 / 5), Value::Int(-17 % 5))
    );

    let mut values = fixtures().new_value("int32_t[250]").unwrap();
    values
        .set(&Value::Array((-50..200).map(Value::Int).collect()))
        .unwrap();
    assert_eq!(
        call("sum_int32_array", &[values.address(), 250.into()]),
        Value::Int((-50..200).sum())
    );

    let out = fixtures().new_value("int32_t[10]").unwrap();
    call(
        "fill_sequence",
        &[out.address(), 10.into(), 100.into(), (-7).into()],
    );
    assert_eq!(
        out.get(),
        Value::Array((0..10).map(|k| Value::Int(100 - 7 * k)).collect())
    );

    let mut point = fixtures().new_value("struct point").unwrap();
    point
        .set(&Value::Struct(vec![
            ("x".into(), 3.into()),
            ("y".into(), (-4).into()),
        ]))
        .unwrap();
    call("point_scale", &[point.address(), (-3).into()]);
    assert_eq!(point.get_at(&[Path::Field("y")]).unwrap(), Value::Int(12));

    assert_eq!(call("is_null", &[Value::Null]), Value::Bool(true));
    assert_eq!(call("is_null", &[point.address()]), Value::Bool(false));
    // Numbers are not pointers.
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2); live arguments of the types the function expects (promise 3).
    let error = unsafe { fixtures().get("is_null").unwrap().call(&[Value::Int(0)]) }.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TypeMismatch);
}

#[test]
fn strings_in_place_and_malloced() {
    assert_eq!(
        call("string_length", &["Hello, ffikit! äöü".into()]),
        Value::UInt("Hello, ffikit! äöü".len() as u64)
    );
    let mut buffer = fixtures().new_value("char[32]").unwrap();
    buffer
        .set(&Value::Bytes(b"mixed Case 123".to_vec()))
        .unwrap();
    call("string_to_upper", &[buffer.address()]);
    assert_eq!(&buffer.bytes()[..14], b"MIXED CASE 123");

    let repeated = call("string_repeat", &["ab-".into(), 4.into()]);
    assert_eq!(repeated.as_text().as_deref(), Some("ab-ab-ab-ab-"));
    call(
        "string_free",
        &[Value::Pointer(repeated.as_address().unwrap())],
    );

    assert_eq!(
        call("string_or_null", &[true.into()]).as_text().as_deref(),
        Some("here")
    );
    assert_eq!(call("string_or_null", &[false.into()]), Value::Null);

    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let length = unsafe { fixtures().get("string_length") }.unwrap();
    assert_eq!(
        // SAFETY: live arguments of the types the function expects (promise 3).
        unsafe { length.call(&[Value::Null]) }.unwrap_err().kind(),
        ErrorKind::NullPointer
    );
    assert_eq!(
        // SAFETY: live arguments of the types the function expects (promise 3).
        unsafe { length.call(&["a\0b".into()]) }.unwrap_err().kind(),
        ErrorKind::InteriorNul
    );
}

#[test]
fn variadic_calls_with_declared_and_inferred_types() {
    let library = fixtures();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let sum_ints = unsafe { library.get("sum_ints") }.unwrap();
    // Inferred: five ints.
    let args: Vec<Value> = [5, 1, -2, 3, -4, i32::MAX]
        .into_iter()
        .map(Value::from)
        .collect();
    // SAFETY: count matches the ints passed.
    let api = unsafe { sys::sum_ints(5, 1, -2, 3, -4, i32::MAX) };
    assert_eq!(
        // SAFETY: live arguments of the types the function expects (promise 3).
        unsafe { sum_ints.call(&args) }.unwrap(),
        Value::Int(api.into())
    );
    // Declared as char and short: promoted to int.
    let typed = sum_ints.variadic(library, &["char", "short"]).unwrap();
    assert_eq!(
        // SAFETY: live arguments of the types the function expects (promise 3).
        unsafe { typed.call(&[2.into(), 100.into(), (-300).into()]) }.unwrap(),
        Value::Int(-200)
    );
    assert_eq!(
        // SAFETY: live arguments of the types the function expects (promise 3).
        // One past `char`'s range: 128 where char is signed (x86-64), 256 where it is
        // unsigned (aarch64).
        unsafe {
            typed.call(&[
                2.into(),
                (i64::from(std::ffi::c_char::MAX) + 1).into(),
                1.into(),
            ])
        }
        .unwrap_err()
        .kind(),
        ErrorKind::OutOfRange
    );

    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let sum_doubles = unsafe { library.get("sum_doubles") }
        .unwrap()
        .variadic(library, &["float", "double"])
        .unwrap();
    assert_eq!(
        // SAFETY: live arguments of the types the function expects (promise 3).
        unsafe { sum_doubles.call(&[2.into(), Value::Float(0.5), Value::Float(0.25)]) }.unwrap(),
        Value::Float(0.75)
    );

    let buffer = library.new_value("char[64]").unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let format = unsafe { library.get("format_into") }
        .unwrap()
        .variadic(library, &["int", "char *", "double"])
        .unwrap();
    // SAFETY: live arguments of the types the function expects (promise 3).
    let written = unsafe {
        format.call(&[
            buffer.address(),
            64.into(),
            "%d|%s|%.3f".into(),
            (-42).into(),
            "word".into(),
            Value::Float(9.87654),
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
    assert_eq!(text, "-42|word|9.877");
    assert_eq!(written, Value::Int(text.len() as i64));
}

#[test]
fn errno_and_the_converter() {
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let fail = unsafe { fixtures().get("fail_with_errno") }
        .unwrap()
        .capture_errno();
    assert_eq!(
        // SAFETY: live arguments of the types the function expects (promise 3).
        unsafe { fail.call(&[Value::Int(libc::EDOM.into())]) }.unwrap(),
        Value::Int(-1)
    );
    assert_eq!(last_errno(), libc::EDOM);

    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let convert = unsafe { fixtures().get("ffikit_convert_to_utf8") }
        .unwrap()
        .capture_errno();
    let input: Vec<u8> = (0..=255u8).collect();
    let out = fixtures().new_value("char[1024]").unwrap();
    // SAFETY: live arguments of the types the function expects (promise 3).
    let written = unsafe {
        convert.call(&[
            "LATIN1".into(),
            Value::Bytes(input.clone()),
            256.into(),
            out.address(),
            1024.into(),
        ])
    }
    .unwrap();
    let expected: String = input.iter().map(|&b| char::from(b)).collect();
    assert_eq!(written, Value::Int(expected.len() as i64));
    assert_eq!(&out.bytes()[..expected.len()], expected.as_bytes());
    for (encoding, input, capacity, errno) in [
        ("NO-SUCH-ENCODING", b"abc".to_vec(), 16, libc::EINVAL),
        ("UTF-8", vec![b'a', 0xC3, 0x28], 16, libc::EILSEQ),
        ("LATIN1", vec![0xE9; 3], 5, libc::E2BIG),
    ] {
        // SAFETY: live arguments of the types the function expects (promise 3).
        let result = unsafe {
            convert.call(&[
                encoding.into(),
                Value::Bytes(input),
                3.into(),
                out.address(),
                capacity.into(),
            ])
        }
        .unwrap();
        assert_eq!(
            (result, last_errno()),
            (Value::Int(-1), errno),
            "{encoding}"
        );
    }
}

#[test]
fn globals_read_and_written() {
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let counter = unsafe { fixtures().global("int fixture_counter") }.unwrap();
    // SAFETY: the variable is writable and nothing else uses it meanwhile (promise 4).
    unsafe { counter.set(&Value::Int(41)) }.unwrap();
    assert_eq!(call("bump_counter", &[]), Value::Int(42));
    assert_eq!(counter.get(), Value::Int(42));
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let version = unsafe { fixtures().global("fixture_version") }.unwrap();
    let address = version.get().as_address().unwrap();
    // SAFETY: fixture_version points to a static string literal.
    let text = unsafe { ffikit_abi::read_c_string(address) };
    assert_eq!(text, b"ffikit-fixtures 1.0");
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let origin = unsafe { fixtures().global("fixture_origin") }.unwrap();
    assert_eq!(origin.get().to_string(), "{ x = 3, y = -4 }");
    assert_eq!(
        // SAFETY: the variable is writable and nothing else uses it meanwhile (promise 4).
        unsafe { counter.set(&Value::Int(1 << 40)) }
            .unwrap_err()
            .kind(),
        ErrorKind::OutOfRange
    );
}

#[test]
fn an_array_of_unknown_length_is_bound_at_its_address() {
    let library = fixtures();
    // SAFETY: the declarations are true to c-fixtures/state.c (promise 2).
    let primes = unsafe { library.global("int fixture_primes[]") }.unwrap();
    // SAFETY: as above; it takes no arguments.
    let where_c_says = unsafe {
        library
            .function("int *fixture_primes_address(void)")
            .unwrap()
            .call(&[])
    };
    let address = primes.address().as_address().unwrap();
    assert_eq!(Value::Pointer(address), where_c_says.unwrap());
    // No length is known: the whole value is an empty array; the items are at the address.
    assert_eq!(primes.get().to_string(), "[]");
    // SAFETY: state.c defines five ints there.
    let items: Vec<i32> = (0..5)
        .map(|k| unsafe { *(address as *const i32).add(k) })
        .collect();
    assert_eq!(items, [2, 3, 5, 7, 11]);
}

#[test]
fn functions_and_data_are_told_apart() {
    let library = fixtures();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let error = unsafe { library.function("int fixture_counter(void)") }.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotAFunction, "{error}");
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let error = unsafe { library.global("int gcd") }.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotAFunction, "{error}");
}

#[test]
fn callbacks_map_sort_and_transform_like_api_mode() {
    use std::ffi::c_void;
    let library = fixtures();
    // map_ints with a dynamic callback, compared with API mode and a C-free Rust map.
    let square_plus_one = library
        .callback("square_plus_one", "int_map_fn", |args| {
            let v = args[0].as_i128().unwrap();
            Ok(Value::Int((v * v + 1) as i64))
        })
        .unwrap();
    let input = [3, -1, 4, 1, -5, 9, 2, 6];
    let mut values = library.new_value("int[8]").unwrap();
    values
        .set(&Value::Array(input.map(Value::from).to_vec()))
        .unwrap();
    call(
        "map_ints",
        &[values.address(), 8.into(), square_plus_one.address()],
    );
    let expected: Vec<Value> = input.iter().map(|v| Value::Int(v * v + 1)).collect();
    assert_eq!(values.get(), Value::Array(expected));

    // sort_ints with a typed comparator.
    type Compare = unsafe extern "C" fn(*const c_void, *const c_void) -> i32;
    let descending = library
        .typed_callback::<Compare, _>(
            "descending",
            "compare_fn",
            |a: *const c_void, b: *const c_void| {
                // SAFETY: qsort passes pointers to two ints of the array.
                let (a, b) = unsafe { (*a.cast::<i32>(), *b.cast::<i32>()) };
                b.cmp(&a) as i32
            },
        )
        .unwrap();
    call(
        "sort_ints",
        &[values.address(), 8.into(), descending.callback().address()],
    );
    let mut sorted: Vec<i64> = input.iter().map(|v| v * v + 1).collect();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(
        values.get(),
        Value::Array(sorted.into_iter().map(Value::Int).collect())
    );

    // A struct by value in and out of a callback.
    let swap = library
        .callback("swap", "point_fn", |args| {
            let p = &args[0];
            Ok(Value::Struct(vec![
                ("x".into(), p.field("y").unwrap().clone()),
                ("y".into(), p.field("x").unwrap().clone()),
            ]))
        })
        .unwrap();
    let point = Value::Struct(vec![("x".into(), 10.into()), ("y".into(), (-20).into())]);
    let out = call("transform_point", &[point, swap.address()]);
    // SAFETY: transform_point with a C-compatible Rust callback, as api_fixtures does.
    unsafe extern "C" fn swap_api(p: sys::point) -> sys::point {
        sys::point { x: p.y, y: p.x }
    }
    // SAFETY: the callback matches point_fn.
    let api = unsafe { sys::transform_point(sys::point { x: 10, y: -20 }, Some(swap_api)) };
    assert_eq!(
        out.to_string(),
        format!("{{ x = {}, y = {} }}", api.x, api.y)
    );
}

#[test]
fn callbacks_on_a_thread_the_library_started() {
    let library = fixtures();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let record = std::sync::Arc::clone(&seen);
    let triple = library
        .callback("triple", "thread_fn", move |args| {
            *record.lock().unwrap() = Some(std::thread::current().id());
            Ok(Value::Int(args[0].as_i128().unwrap() as i64 * 3))
        })
        .unwrap();
    assert_eq!(
        call(
            "call_on_new_thread",
            &[triple.address(), 14.into(), Value::Null]
        ),
        Value::Int(42)
    );
    assert_ne!(seen.lock().unwrap().unwrap(), std::thread::current().id());

    // A panic on C's thread: C gets the error result, the outer call reports it.
    let explode = library
        .callback("explode", "thread_fn", |_| {
            panic!("exploded on a foreign thread")
        })
        .unwrap()
        .on_error(&Value::Int(-7))
        .unwrap();
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2); live arguments of the types the function expects (promise 3).
    let error = unsafe {
        library
            .get("call_on_new_thread")
            .unwrap()
            .call(&[explode.address(), 1.into(), Value::Null])
    }
    .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::CallbackFailed);
    assert!(
        error.to_string().contains("`explode`")
            && error.to_string().contains("exploded on a foreign thread")
    );
    // Later calls are unaffected.
    assert_eq!(
        call(
            "call_on_new_thread",
            &[triple.address(), 2.into(), Value::Null]
        ),
        Value::Int(6)
    );
}
