//! Every fixture function called through the API-mode bindings (bindgen + static library).
//!
//! Expected values come from outside the fixture library: Rust's own constants and arithmetic
//! (the limits of each type, pi's bits, the fields' sums), Rust's decoders (Latin-1, and
//! encoding_rs for Shift_JIS), the x87 extended format's definition, and libc's errno numbers.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use ffikit::fixtures::sys;

#[test]
fn gcd_of_known_pairs() {
    let cases = [
        (12, 18, 6),
        (1071, 462, 21),
        (17, 5, 1),
        (0, 9, 9),
        (0, 0, 0),
        (-12, 18, 6),
        (i32::MAX, 1, 1),
    ];
    for (x, y, expected) in cases {
        // SAFETY: gcd takes two ints and touches no memory.
        let got = unsafe { sys::gcd(x, y) };
        assert_eq!(got, expected, "gcd({x}, {y})");
    }
}

#[test]
fn get_pi_is_exactly_pi() {
    // SAFETY: no arguments, returns a double.
    let pi = unsafe { sys::get_pi() };
    assert_eq!(pi.to_bits(), std::f64::consts::PI.to_bits());
}

/// Round-trips the minimum, maximum, zero and one of a type through its echo function.
macro_rules! assert_echo_extremes {
    ($($echo:ident: $ty:ty),* $(,)?) => {$(
        for value in [<$ty>::MIN, <$ty>::MAX, 0 as $ty, 1 as $ty] {
            // SAFETY: the echo functions take and return one scalar by value.
            let got = unsafe { sys::$echo(value) };
            assert_eq!(got, value, "{}({value})", stringify!($echo));
        }
    )*};
}

#[test]
fn every_integer_type_round_trips_its_extremes() {
    assert_echo_extremes!(
        echo_schar: i8, echo_uchar: u8, echo_char: c_char, echo_short: i16, echo_ushort: u16,
        echo_int: i32, echo_uint: u32, echo_long: i64, echo_ulong: u64, echo_llong: i64,
        echo_ullong: u64, echo_size_t: usize, echo_ssize_t: isize, echo_int8: i8,
        echo_uint8: u8, echo_int16: i16, echo_uint16: u16, echo_int32: i32, echo_uint32: u32,
        echo_int64: i64, echo_uint64: u64,
    );
}

#[test]
fn limits_h_agrees_with_rust() {
    // SAFETY: every function here takes nothing and returns a scalar constant.
    unsafe {
        assert_eq!(sys::min_schar(), i8::MIN);
        assert_eq!(sys::max_schar(), i8::MAX);
        assert_eq!(sys::max_uchar(), u8::MAX);
        assert_eq!(sys::min_short(), i16::MIN);
        assert_eq!(sys::max_short(), i16::MAX);
        assert_eq!(sys::max_ushort(), u16::MAX);
        assert_eq!(sys::min_int(), i32::MIN);
        assert_eq!(sys::max_int(), i32::MAX);
        assert_eq!(sys::max_uint(), u32::MAX);
        assert_eq!(sys::min_long(), i64::MIN);
        assert_eq!(sys::max_long(), i64::MAX);
        assert_eq!(sys::max_ulong(), u64::MAX);
        assert_eq!(sys::min_llong(), i64::MIN);
        assert_eq!(sys::max_llong(), i64::MAX);
        assert_eq!(sys::max_ullong(), u64::MAX);
        assert_eq!(sys::max_size_t(), usize::MAX);
        assert_eq!(sys::min_ssize_t(), isize::MIN);
        assert_eq!(sys::max_ssize_t(), isize::MAX);
        assert_eq!(sys::max_float().to_bits(), f32::MAX.to_bits());
        assert_eq!(
            sys::min_positive_float().to_bits(),
            f32::MIN_POSITIVE.to_bits()
        );
        assert_eq!(sys::max_double().to_bits(), f64::MAX.to_bits());
        assert_eq!(
            sys::min_positive_double().to_bits(),
            f64::MIN_POSITIVE.to_bits()
        );
    }
}

#[test]
fn floats_and_bools_round_trip_bit_for_bit() {
    let doubles = [
        0.0,
        -0.0,
        1.5,
        f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        f64::INFINITY,
    ];
    let nan_with_payload = f64::from_bits(0x7ff8_0000_dead_beef);
    for value in doubles.into_iter().chain([nan_with_payload]) {
        // SAFETY: takes and returns a double.
        let got = unsafe { sys::echo_double(value) };
        assert_eq!(got.to_bits(), value.to_bits(), "echo_double({value})");
    }
    for value in [
        0.0f32,
        -0.0,
        1.25,
        f32::MAX,
        f32::MIN_POSITIVE,
        1e-45,
        f32::NEG_INFINITY,
    ] {
        // SAFETY: takes and returns a float.
        let got = unsafe { sys::echo_float(value) };
        assert_eq!(got.to_bits(), value.to_bits(), "echo_float({value})");
    }
    for value in [true, false] {
        // SAFETY: takes and returns a bool.
        assert_eq!(unsafe { sys::echo_bool(value) }, value);
    }
}

/// The x87 80-bit extended encoding of a finite, normal f64, as the Intel SDM defines it
/// (explicit integer bit, 15-bit exponent biased by 16383), in a 16-byte `long double` slot.
#[cfg(target_arch = "x86_64")]
fn x87_from_f64(value: f64) -> [u8; 16] {
    let bits = value.to_bits();
    let sign = (bits >> 63) as u16;
    let exponent = ((bits >> 52) & 0x7ff) as u16;
    let fraction = bits & ((1 << 52) - 1);
    assert!(exponent != 0 && exponent != 0x7ff, "normal numbers only");
    let mantissa = (1u64 << 63) | (fraction << 11);
    let exponent = exponent - 1023 + 16383;
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&mantissa.to_le_bytes());
    out[8..10].copy_from_slice(&((sign << 15) | exponent).to_le_bytes());
    out
}

/// Whether valgrind runs this process (its preload library is mapped).
#[cfg(target_arch = "x86_64")]
fn under_valgrind() -> bool {
    std::fs::read_to_string("/proc/self/maps").is_ok_and(|maps| maps.contains("vgpreload"))
}

/// x87's format is x86-64's `long double` (aarch64 Linux's is binary128, tested in
/// ffikit-abi's `convert::binary128`).
#[cfg(target_arch = "x86_64")]
#[test]
fn long_double_through_memory_is_x87_extended() {
    let mut max = 0u128;
    // SAFETY: writes one long double (16 bytes, u128-aligned here) to `max`.
    unsafe { sys::long_double_max_into(&mut max) };
    let bytes = max.to_le_bytes();
    // LDBL_MAX: largest finite exponent 0x7ffe, every mantissa bit set. Valgrind emulates
    // x87 with 64-bit doubles, where LDBL_MAX becomes infinity: skip the check there.
    if !under_valgrind() {
        assert_eq!(u64::from_le_bytes(bytes[..8].try_into().unwrap()), u64::MAX);
        assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 0x7ffe);
    }

    let a = u128::from_le_bytes(x87_from_f64(1.5));
    let b = u128::from_le_bytes(x87_from_f64(-1024.25));
    let mut sum = 0u128;
    // SAFETY: reads two long doubles and writes one, all valid 16-byte locations.
    unsafe { sys::long_double_add_into(&a, &b, &mut sum) };
    // Only the first 10 bytes are the value; the rest is padding.
    assert_eq!(sum.to_le_bytes()[..10], x87_from_f64(1.5 - 1024.25)[..10]);
}

#[test]
fn mixed_scalars_arrive_in_their_places() {
    let (a, b, c, d, e) = (-7i8, 200u8, -30000i16, 60000u16, -2_000_000_000i32);
    let (f, g, h, i, j) = (4_000_000_000u32, -5i64, 7u64, -9i64, 11u64);
    let (k, l, m) = (0.5f32, 0.25f64, true);
    let expected = a as f64
        + 2.0 * b as f64
        + 3.0 * c as f64
        + 4.0 * d as f64
        + 5.0 * e as f64
        + 6.0 * f as f64
        + 7.0 * g as f64
        + 8.0 * h as f64
        + 9.0 * i as f64
        + 10.0 * j as f64
        + 11.0 * k as f64
        + 12.0 * l
        + 13.0 * m as u8 as f64;
    // SAFETY: thirteen scalars by value.
    let got = unsafe { sys::mix_scalars(a, b, c, d, e, f, g, h, i, j, k, l, m) };
    assert_eq!(got, expected);
}

#[test]
fn many_arguments_spill_onto_the_stack_in_order() {
    let ints: [i32; 8] = [1, -2, 3, -4, 5, -6, 7, -8];
    let doubles: [f64; 9] = [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5];
    let (a9, c, f, s) = (-9i64, 10 as c_char, 0.75f32, -12i16);
    let mut expected = 0.0;
    for k in 0..8 {
        expected += (2 * k + 1) as f64 * ints[k] as f64 + (2 * k + 2) as f64 * doubles[k];
    }
    expected += 17.0 * a9 as f64 + 18.0 * doubles[8] + 19.0 * c as f64 + 20.0 * f as f64;
    expected += 21.0 * s as f64;
    // SAFETY: 21 scalars by value.
    let got = unsafe {
        sys::many_args(
            ints[0], doubles[0], ints[1], doubles[1], ints[2], doubles[2], ints[3], doubles[3],
            ints[4], doubles[4], ints[5], doubles[5], ints[6], doubles[6], ints[7], doubles[7], a9,
            doubles[8], c, f, s,
        )
    };
    assert_eq!(got, expected);
}

/// For a struct S with fields f0..fn: make_S(seed) sets field k to seed + k, sum_S adds them,
/// bump_S adds one to each; checked against Rust's arithmetic on the same fields, plus the
/// struct's size (the comment in the header, which the layout facts check against gcc).
macro_rules! struct_by_value_case {
    ($name:ident, $make:ident, $sum:ident, $bump:ident, $size:expr, [$($field:ident: $ty:ty),+]) => {{
        let seed = 5;
        // SAFETY: takes an int, returns the struct by value.
        let made: sys::$name = unsafe { sys::$make(seed) };
        let mut k = 0;
        $(
            assert_eq!(made.$field, (seed + k) as $ty, "{}.{}", stringify!($name), stringify!($field));
            k += 1;
        )+
        let _ = k;
        let expected_sum = 0.0 $(+ made.$field as f64)+;
        // SAFETY: takes the struct by value, returns a double.
        assert_eq!(unsafe { sys::$sum(made) }, expected_sum, "sum of {}", stringify!($name));
        // SAFETY: takes and returns the struct by value.
        let bumped = unsafe { sys::$bump(made) };
        $(
            assert_eq!(bumped.$field, made.$field + 1 as $ty, "bumped {}.{}", stringify!($name), stringify!($field));
        )+
        assert_eq!(std::mem::size_of::<sys::$name>(), $size, "size of {}", stringify!($name));
    }};
}

#[test]
fn structs_of_1_to_64_bytes_pass_and_return_by_value() {
    struct_by_value_case!(s_int8, make_s_int8, sum_s_int8, bump_s_int8, 1, [a: i8]);
    struct_by_value_case!(s_int16x1_int8, make_s_int16x1_int8, sum_s_int16x1_int8,
        bump_s_int16x1_int8, 4, [a: i16, b: i8]);
    struct_by_value_case!(s_int8x3, make_s_int8x3, sum_s_int8x3, bump_s_int8x3, 3,
        [a: i8, b: i8, c: i8]);
    struct_by_value_case!(s_int32x2, make_s_int32x2, sum_s_int32x2, bump_s_int32x2, 8,
        [a: i32, b: i32]);
    struct_by_value_case!(s_int32x3, make_s_int32x3, sum_s_int32x3, bump_s_int32x3, 12,
        [a: i32, b: i32, c: i32]);
    struct_by_value_case!(s_int64x2, make_s_int64x2, sum_s_int64x2, bump_s_int64x2, 16,
        [a: i64, b: i64]);
    struct_by_value_case!(s_int64x3, make_s_int64x3, sum_s_int64x3, bump_s_int64x3, 24,
        [a: i64, b: i64, c: i64]);
    struct_by_value_case!(s_float1, make_s_float1, sum_s_float1, bump_s_float1, 4, [a: f32]);
    struct_by_value_case!(s_float3, make_s_float3, sum_s_float3, bump_s_float3, 12,
        [a: f32, b: f32, c: f32]);
    struct_by_value_case!(s_double2, make_s_double2, sum_s_double2, bump_s_double2, 16,
        [a: f64, b: f64]);
    struct_by_value_case!(s_double4, make_s_double4, sum_s_double4, bump_s_double4, 32,
        [a: f64, b: f64, c: f64, d: f64]);
    struct_by_value_case!(s_int_float, make_s_int_float, sum_s_int_float, bump_s_int_float, 8,
        [a: i32, b: f32]);
    struct_by_value_case!(s_double_int, make_s_double_int, sum_s_double_int, bump_s_double_int,
        16, [a: f64, b: i32]);
    struct_by_value_case!(s_char_double_short, make_s_char_double_short,
        sum_s_char_double_short, bump_s_char_double_short, 24, [a: c_char, b: f64, c: i16]);
    struct_by_value_case!(s_float_int64, make_s_float_int64, sum_s_float_int64,
        bump_s_float_int64, 16, [a: f32, b: i64]);
    struct_by_value_case!(s_mixed64, make_s_mixed64, sum_s_mixed64, bump_s_mixed64, 64,
        [a: i64, b: f64, c: i32, d: f32, e: i16, f: i8, g: u8, h: f64, i: i64, j: f64, k: u32,
         l: f32]);
}

#[test]
fn nested_structs_and_arrays_inside_structs() {
    // SAFETY: scalars in, struct by value out; then that struct by value in.
    let (rect, area) = unsafe {
        let rect = sys::make_rect(-3, 4, 10, 7);
        (rect, sys::rect_area(rect))
    };
    assert_eq!((rect.top_left.x, rect.top_left.y), (-3, 4));
    assert_eq!((rect.bottom_right.x, rect.bottom_right.y), (7, 11));
    assert_eq!(area, 70);

    // SAFETY: as above, with a 24-byte struct holding arrays.
    let (sample, total) = unsafe {
        let sample = sys::make_sample(9, 1.5);
        (sample, sys::sample_total(sample))
    };
    assert_eq!(sample.id, 9);
    assert_eq!(sample.values, [1.5, 3.0, 4.5]);
    let label: Vec<u8> = sample.label.iter().map(|&c| c as u8).collect();
    assert_eq!(&label, b"fixt\0\0");
    let label_sum: f64 = b"fixt".iter().map(|&b| b as f64).sum();
    assert_eq!(total, 9.0 + 1.5 + 3.0 + 4.5 + label_sum);
}

#[test]
fn unions_by_value_share_their_bytes() {
    // SAFETY: unions by value in and out; reading `d`/`i` of a union written by C as that field.
    unsafe {
        let n = sys::number_from_double(2.5);
        assert_eq!(n.d, 2.5);
        assert_eq!(n.bytes, 2.5f64.to_le_bytes());
        assert_eq!(sys::number_as_double(n), 2.5);
        assert_eq!(sys::number_as_int(n), 2.5f64.to_bits() as i64);
        let m = sys::number_from_int(-42);
        assert_eq!(m.i, -42);
        assert_eq!(sys::number_as_int(sys::number { i: i64::MIN }), i64::MIN);
    }
}

#[test]
fn enums_keep_their_explicit_values() {
    assert_eq!(
        (
            sys::color_COLOR_RED,
            sys::color_COLOR_GREEN,
            sys::color_COLOR_BLUE,
            sys::color_COLOR_NONE,
            sys::color_COLOR_ULTRAVIOLET
        ),
        (1, 2, 4, -1, 100000)
    );
    let name = |c| {
        // SAFETY: color_name returns a static string for every value.
        unsafe { CStr::from_ptr(sys::color_name(c)) }
            .to_str()
            .unwrap()
            .to_owned()
    };
    // SAFETY: enums pass as ints.
    let next = |c| unsafe { sys::next_color(c) };
    assert_eq!(next(sys::color_COLOR_RED), sys::color_COLOR_GREEN);
    assert_eq!(next(sys::color_COLOR_BLUE), sys::color_COLOR_ULTRAVIOLET);
    assert_eq!(next(12345), sys::color_COLOR_NONE);
    assert_eq!(name(sys::color_COLOR_ULTRAVIOLET), "ultraviolet");
    assert_eq!(name(sys::color_COLOR_NONE), "none");
    assert_eq!(name(3), "unknown");
}

#[test]
fn packed_and_over_aligned_structs() {
    // SAFETY: packed struct by value out and in; the others by pointer to live Rust values.
    unsafe {
        let record = sys::make_packed_record(0xAB, 0xDEAD_BEEF, 0x1234);
        assert_eq!(std::mem::size_of::<sys::packed_record>(), 7);
        assert_eq!({ record.tag }, 0xAB);
        assert_eq!({ record.value }, 0xDEAD_BEEF);
        assert_eq!({ record.extra }, 0x1234);
        assert_eq!(sys::packed_record_sum(record), 0xAB + 0xDEAD_BEEF + 0x1234);

        let pack2 = sys::pack2_record {
            tag: 1,
            value: 1 << 40,
            tail: 2,
        };
        assert_eq!(std::mem::size_of::<sys::pack2_record>(), 12);
        assert_eq!(sys::pack2_record_sum(&pack2), (1 << 40) + 3);

        let block = sys::aligned_block { id: -77 };
        assert_eq!(std::mem::align_of::<sys::aligned_block>(), 16);
        assert_eq!(sys::aligned_block_id(&block), -77);
    }
}

#[test]
fn flexible_array_member_reads_past_the_header() {
    // A byte_string header followed by its bytes, in u32-aligned storage.
    let bytes = [10u8, 20, 30, 40, 250];
    let mut storage = [0u32; 4];
    storage[0] = bytes.len() as u32;
    let tail: &mut [u8] = bytemuck_free_bytes(&mut storage[1..]);
    tail[..bytes.len()].copy_from_slice(&bytes);
    // SAFETY: storage holds a byte_string of `length` 5 with its 5 bytes after the header.
    let sum = unsafe { sys::byte_string_sum(storage.as_ptr().cast()) };
    assert_eq!(sum, bytes.iter().map(|&b| b as u32).sum::<u32>());
}

/// The bytes of a u32 slice, without a crate for it.
fn bytemuck_free_bytes(words: &mut [u32]) -> &mut [u8] {
    let len = std::mem::size_of_val(words);
    // SAFETY: u8 has no alignment or validity requirements; the length covers the same memory.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast(), len) }
}

#[test]
fn bitfields_written_by_c_read_by_bindgen_and_back() {
    let mut flags = sys::flags::default();
    // SAFETY: set_flags writes a struct flags through a valid pointer.
    unsafe { sys::set_flags(&mut flags, 1, 5, -9, 4000) };
    assert_eq!(flags.ready(), 1);
    assert_eq!(flags.mode(), 5);
    // bindgen's getter does not sign-extend signed bitfields (rust-bindgen#1160, open): the
    // five bits are right, the i32 is not. ffikit-gen's does; ABI mode must too.
    match ffikit::fixtures::BINDINGS_ORIGIN {
        "bindgen" => assert_eq!(flags.level(), -9 & 0x1F),
        _ => assert_eq!(flags.level(), -9),
    }
    assert_eq!(sign_extend(flags.level(), 5), -9);
    assert_eq!(flags.count(), 4000);
    assert_eq!(flags.tail, 0xAB);

    let mut ours = sys::flags::default();
    ours.set_ready(0);
    ours.set_mode(7);
    ours.set_level(15);
    ours.set_count(4095);
    ours.tail = 3;
    // SAFETY: reads a struct flags through a valid pointer.
    let checksum = unsafe { sys::flags_checksum(&ours) };
    assert_eq!(checksum, 10 * 7 + 100 * 15 + 1000 * 4095 + 10_000_000 * 3);

    // SAFETY: returns a bitfield struct by value (4 bytes, one INTEGER eightbyte).
    let value = unsafe { sys::make_flags_value(1, 2, -16, 1) };
    let level = sign_extend(value.level(), 5);
    assert_eq!(
        (value.ready(), value.mode(), level, value.count()),
        (1, 2, -16, 1)
    );
}

/// Two's-complement sign extension of the low `bits` bits.
fn sign_extend(value: i32, bits: u32) -> i32 {
    (value << (32 - bits)) >> (32 - bits)
}

#[test]
fn pointers_and_out_parameters() {
    let (mut quotient, mut remainder) = (0, 0);
    // SAFETY: two valid out-pointers.
    unsafe { sys::divmod(-17, 5, &mut quotient, &mut remainder) };
    // C division truncates toward zero, as Rust's does.
    assert_eq!((quotient, remainder), (-17 / 5, -17 % 5));

    let values: Vec<i32> = (-50..200).collect();
    // SAFETY: pointer and length of a live slice.
    let total = unsafe { sys::sum_int32_array(values.as_ptr(), values.len()) };
    assert_eq!(total, values.iter().map(|&v| v as i64).sum::<i64>());

    let mut out = vec![0i32; 10];
    // SAFETY: out has room for 10 ints.
    unsafe { sys::fill_sequence(out.as_mut_ptr(), out.len(), 100, -7) };
    assert_eq!(out, (0..10).map(|k| 100 - 7 * k).collect::<Vec<_>>());

    let (mut a, mut b) = (1, 2);
    // SAFETY: two distinct valid pointers.
    unsafe { sys::swap_int32(&mut a, &mut b) };
    assert_eq!((a, b), (2, 1));

    let mut point = sys::point { x: 3, y: -4 };
    // SAFETY: a valid pointer to a point.
    unsafe { sys::point_scale(&mut point, -3) };
    assert_eq!((point.x, point.y), (-9, 12));

    // SAFETY: is_null only compares the pointer.
    unsafe {
        assert!(sys::is_null(std::ptr::null()));
        assert!(!sys::is_null((&a as *const i32).cast()));
    }
}

#[test]
fn strings_in_place_and_malloced() {
    let text = CString::new("Hello, ffikit! äöü").unwrap();
    // SAFETY: a NUL-terminated string.
    let length = unsafe { sys::string_length(text.as_ptr()) };
    assert_eq!(length, text.as_bytes().len());

    let mut buffer = b"mixed Case 123\0".to_vec();
    // SAFETY: a writable NUL-terminated buffer.
    unsafe { sys::string_to_upper(buffer.as_mut_ptr().cast()) };
    assert_eq!(
        &buffer[..buffer.len() - 1],
        b"mixed Case 123".to_ascii_uppercase()
    );

    let unit = CString::new("ab-").unwrap();
    // SAFETY: string_repeat returns a malloc'd string (or NULL), freed by string_free.
    let repeated = unsafe {
        let raw = sys::string_repeat(unit.as_ptr(), 4);
        assert!(!raw.is_null());
        let owned = CStr::from_ptr(raw).to_str().unwrap().to_owned();
        sys::string_free(raw);
        owned
    };
    assert_eq!(repeated, "ab-".repeat(4));
    // SAFETY: negative counts return NULL without allocating.
    assert!(unsafe { sys::string_repeat(unit.as_ptr(), -1) }.is_null());

    // SAFETY: returns a static string or NULL.
    unsafe {
        assert_eq!(
            CStr::from_ptr(sys::string_or_null(true)).to_bytes(),
            b"here"
        );
        assert!(sys::string_or_null(false).is_null());
    }
}

#[test]
fn variadic_functions_get_promoted_arguments() {
    // SAFETY: count matches the number of variadic ints/doubles passed.
    unsafe {
        assert_eq!(sys::sum_ints(0), 0);
        assert_eq!(
            sys::sum_ints(5, 1, -2, 3, -4, i32::MAX),
            1 - 2 + 3 - 4 + i32::MAX
        );
        assert_eq!(
            sys::sum_doubles(3, 0.5f64, 0.25f64, -4.0f64),
            0.5 + 0.25 - 4.0
        );
        let many: f64 = (1..=10).map(|k| k as f64 / 8.0).sum();
        let got = sys::sum_doubles(
            10, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 1.125, 1.25,
        );
        assert_eq!(got, many);
    }

    let mut buffer = [0 as c_char; 64];
    let format = CString::new("%d|%s|%.3f|%5.1e|%c").unwrap();
    let word = CString::new("word").unwrap();
    // SAFETY: the format's conversions match the arguments; buffer holds 64 bytes.
    let written = unsafe {
        sys::format_into(
            buffer.as_mut_ptr(),
            buffer.len(),
            format.as_ptr(),
            -42 as c_int,
            word.as_ptr(),
            9.87654f64,
            12345.0f64,
            'Z' as c_int,
        )
    };
    let expected = format!("{}|{}|{:.3}|{}|{}", -42, "word", 9.87654, "1.2e+04", 'Z');
    // SAFETY: vsnprintf NUL-terminates within the capacity.
    let text = unsafe { CStr::from_ptr(buffer.as_ptr()) }.to_str().unwrap();
    assert_eq!(text, expected);
    assert_eq!(written as usize, expected.len());
}

#[test]
fn errno_is_set_by_the_failing_function() {
    for code in [libc::EDOM, libc::ERANGE, libc::EILSEQ] {
        // SAFETY: sets errno and returns.
        let result = unsafe { sys::fail_with_errno(code) };
        let errno = std::io::Error::last_os_error().raw_os_error();
        assert_eq!((result, errno), (-1, Some(code)));
    }
}

#[test]
fn globals_are_shared_with_c() {
    // SAFETY: only this test touches fixture_counter; the other globals are only read.
    unsafe {
        let before = std::ptr::addr_of!(sys::fixture_counter).read();
        assert_eq!(sys::bump_counter(), before + 1);
        std::ptr::addr_of_mut!(sys::fixture_counter).write(1000);
        assert_eq!(sys::bump_counter(), 1001);

        let version = CStr::from_ptr(std::ptr::addr_of!(sys::fixture_version).read());
        assert_eq!(version.to_str().unwrap(), "ffikit-fixtures 1.0");
        let origin = std::ptr::addr_of!(sys::fixture_origin).read();
        assert_eq!((origin.x, origin.y), (3, -4));
    }
}

static MAP_CALLS: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn square_plus_one(value: c_int) -> c_int {
    MAP_CALLS.fetch_add(1, Ordering::SeqCst);
    value * value + 1
}

unsafe extern "C" fn descending(a: *const c_void, b: *const c_void) -> c_int {
    // SAFETY: qsort passes pointers to two ints of the array being sorted.
    let (a, b) = unsafe { (*a.cast::<c_int>(), *b.cast::<c_int>()) };
    b.cmp(&a) as c_int
}

#[test]
fn callbacks_map_and_sort() {
    let mut values = vec![3, -1, 4, 1, -5, 9, 2, 6];
    let expected: Vec<c_int> = values.iter().map(|v| v * v + 1).collect();
    let before = MAP_CALLS.load(Ordering::SeqCst);
    // SAFETY: values is a live array of `len` ints; the callback matches int_map_fn.
    unsafe { sys::map_ints(values.as_mut_ptr(), values.len(), Some(square_plus_one)) };
    assert_eq!(values, expected);
    assert_eq!(MAP_CALLS.load(Ordering::SeqCst) - before, values.len());

    let mut rust_sorted = values.clone();
    rust_sorted.sort_by(|a, b| b.cmp(a));
    // SAFETY: as above, with a comparator matching compare_fn.
    unsafe { sys::sort_ints(values.as_mut_ptr(), values.len(), Some(descending)) };
    assert_eq!(values, rust_sorted);
}

struct ThreadObservation {
    thread: Mutex<Option<std::thread::ThreadId>>,
}

unsafe extern "C" fn record_thread(value: c_int, user_data: *mut c_void) -> c_int {
    // SAFETY: the test passes a pointer to a ThreadObservation that outlives the call.
    let observation = unsafe { &*user_data.cast::<ThreadObservation>() };
    *observation.thread.lock().unwrap() = Some(std::thread::current().id());
    value * 3
}

#[test]
fn callback_runs_on_a_thread_the_library_started() {
    let observation = ThreadObservation {
        thread: Mutex::new(None),
    };
    let user_data = (&observation as *const ThreadObservation).cast_mut().cast();
    // SAFETY: the callback matches thread_fn and user_data lives until the thread is joined.
    let result = unsafe { sys::call_on_new_thread(Some(record_thread), 14, user_data) };
    assert_eq!(result, 42);
    let seen = observation
        .thread
        .lock()
        .unwrap()
        .expect("the callback ran");
    assert_ne!(seen, std::thread::current().id());
}

unsafe extern "C" fn swap_coordinates(p: sys::point) -> sys::point {
    sys::point { x: p.y, y: p.x }
}

#[test]
fn callback_takes_and_returns_a_struct_by_value() {
    // SAFETY: the callback matches point_fn.
    let out = unsafe { sys::transform_point(sys::point { x: 10, y: -20 }, Some(swap_coordinates)) };
    // Swapped by Rust, then shifted by one by C.
    assert_eq!((out.x, out.y), (-19, 11));
}

/// Calls the converter, returning the UTF-8 text or the errno it failed with.
fn convert(encoding: &str, input: &[u8], capacity: usize) -> Result<Vec<u8>, i32> {
    let encoding = CString::new(encoding).unwrap();
    let mut out = vec![0u8; capacity];
    // SAFETY: input and out are live buffers of the lengths given.
    let written = unsafe {
        sys::ffikit_convert_to_utf8(
            encoding.as_ptr(),
            input.as_ptr().cast(),
            input.len(),
            out.as_mut_ptr().cast(),
            out.len(),
        )
    };
    if written < 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap());
    }
    out.truncate(written as usize);
    Ok(out)
}

#[test]
fn converts_every_latin1_byte_like_rust_does() {
    let input: Vec<u8> = (0..=255u8).collect();
    let expected: String = input.iter().map(|&b| char::from(b)).collect();
    let got = convert("LATIN1", &input, 1024).unwrap();
    assert_eq!(String::from_utf8(got).unwrap(), expected);
}

#[test]
fn converts_shift_jis_like_encoding_rs_does() {
    // No backslash or tilde: JIS X 0201 maps 0x5C and 0x7E to yen and overline in glibc.
    let text = "日本語のテキスト、カタカナとひらがな。ＡＢＣ１２３ (ascii too)";
    let (encoded, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    assert!(!unmappable);
    let got = convert("SHIFT_JIS", &encoded, 1024).unwrap();
    let (decoded, malformed) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(&encoded);
    assert!(!malformed);
    assert_eq!(String::from_utf8(got).unwrap(), decoded);
    assert_eq!(decoded, text);
}

#[test]
fn converter_failures_set_errno() {
    assert_eq!(convert("NO-SUCH-ENCODING-X", b"abc", 16), Err(libc::EINVAL));
    // 0xC3 0x28 is not UTF-8; a lone lead byte at the end is truncated input.
    assert_eq!(convert("UTF-8", &[b'a', 0xC3, 0x28], 16), Err(libc::EILSEQ));
    assert_eq!(convert("SHIFT_JIS", &[b'a', 0x82], 16), Err(libc::EILSEQ));
    // "é" is two bytes in UTF-8: three of them need six.
    assert_eq!(convert("LATIN1", &[0xE9; 3], 5), Err(libc::E2BIG));
    assert_eq!(
        convert("LATIN1", &[0xE9; 3], 6),
        Ok("ééé".as_bytes().to_vec())
    );
    assert_eq!(convert("LATIN1", b"", 0), Ok(Vec::new()));
}

#[test]
fn manifest_declares_every_bound_function() {
    // SAFETY: returns a static string.
    let manifest = unsafe { CStr::from_ptr(sys::ffikit_manifest()) }
        .to_str()
        .unwrap();
    assert!(manifest.contains("int gcd(int x, int y);"));
    assert!(!manifest.contains("#include"));
    let header = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/c-fixtures/ffikit_fixtures.h"
    ))
    .unwrap();
    // Every line of the header that is not preprocessor plumbing is in the manifest, in order.
    let mut rest = manifest;
    for line in header.lines().filter(|l| {
        !l.starts_with("#include")
            && !l.starts_with("#ifndef FFIKIT_FIXTURES_H")
            && !l.starts_with("#define FFIKIT_FIXTURES_H")
            && !l.starts_with("#endif")
    }) {
        let at = rest
            .find(line)
            .unwrap_or_else(|| panic!("manifest lacks {line:?}"));
        rest = &rest[at + line.len()..];
    }
    // Every function bindgen found in the header (its one merged extern block) is declared.
    let bindings = std::fs::read_to_string(ffikit::fixtures::BINDINGS_PATH).unwrap();
    let extern_block = &bindings[bindings.find("extern \"C\" {").expect("an extern block")..];
    let mut functions = 0;
    for name in extern_block
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub fn "))
        .filter_map(|l| l.split('(').next())
    {
        functions += 1;
        assert!(
            manifest.contains(&format!(" {name}(")) || manifest.contains(&format!("*{name}(")),
            "manifest lacks {name}"
        );
    }
    assert!(functions > 100, "found only {functions} functions");
}
