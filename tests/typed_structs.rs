//! Typed handles and typed callbacks with `#[derive(CStruct)]` structs and unions by value:
//! every fixture shape (1 to 64 bytes, nested, arrays inside, a union), called through ABI
//! mode's typed handles and compared member by member with the same C function called through
//! API mode's static bindings; mismatched Rust layouts refused, naming the member.

use std::ffi::c_char;

use ffikit::fixtures::{SHARED_OBJECT, sys};
use ffikit_abi::{CStruct, ErrorKind, Library};

fn fixtures() -> Library {
    // SAFETY: the fixtures' initializers are sound to run (promise 1).
    let library = unsafe { Library::open(SHARED_OBJECT) }.unwrap();
    // SAFETY: ffikit_manifest returns the library's own declarations (promise 2).
    let manifest = unsafe { std::ffi::CStr::from_ptr(sys::ffikit_manifest()) };
    library.cdef(manifest.to_str().unwrap()).unwrap();
    library
}

/// For each fixture struct: a Rust mirror, then make/sum/bump through typed handles against
/// the API-mode calls of the same functions, member by member.
macro_rules! by_value {
    ($($c:ident => $rust:ident { $($field:ident: $ty:ty),* })*) => {$(
        #[repr(C)]
        #[derive(CStruct, Clone, Copy, Debug, PartialEq)]
        struct $rust { $($field: $ty),* }
    )*

    #[test]
    fn every_fixture_struct_by_value_through_typed_handles() {
        let library = fixtures();
        $({
            let name = stringify!($c);
            // SAFETY: the manifest's declarations are the library's own (promise 2).
            let (make, sum, bump) = unsafe {
                (
                    library.get(&format!("make_{name}")).unwrap(),
                    library.get(&format!("sum_{name}")).unwrap(),
                    library.get(&format!("bump_{name}")).unwrap(),
                )
            };
            let make = make.typed::<unsafe extern "C" fn(i32) -> $rust>().unwrap();
            let sum = sum.typed::<unsafe extern "C" fn($rust) -> f64>().unwrap();
            let bump = bump.typed::<unsafe extern "C" fn($rust) -> $rust>().unwrap();
            for seed in [-3, 0, 7, 100] {
                // SAFETY: the functions take any seed and any struct value (promise 3).
                let (mine, theirs) = unsafe { ((*make)(seed), paste_call!(make, $c)(seed)) };
                $(assert_eq!(mine.$field, theirs.$field, "{name}.{} (seed {seed})", stringify!($field));)*
                // SAFETY: as above.
                let (bumped, bumped_api) = unsafe { ((*bump)(mine), paste_call!(bump, $c)(theirs)) };
                $(assert_eq!(bumped.$field, bumped_api.$field, "bump_{name}.{}", stringify!($field));)*
                // SAFETY: as above.
                let (total, total_api) = unsafe { ((*sum)(bumped), paste_call!(sum, $c)(bumped_api)) };
                assert_eq!(total.to_bits(), total_api.to_bits(), "sum_{name}");
            }
        })*
    }
    };
}

/// `sys::make_s_int8` and friends, by name.
macro_rules! paste_call {
    ($prefix:ident, $c:ident) => {
        ffikit_paste!($prefix, $c)
    };
}

macro_rules! ffikit_paste {
    (make, s_int8) => {
        sys::make_s_int8
    };
    (sum, s_int8) => {
        sys::sum_s_int8
    };
    (bump, s_int8) => {
        sys::bump_s_int8
    };
    (make, s_int16x1_int8) => {
        sys::make_s_int16x1_int8
    };
    (sum, s_int16x1_int8) => {
        sys::sum_s_int16x1_int8
    };
    (bump, s_int16x1_int8) => {
        sys::bump_s_int16x1_int8
    };
    (make, s_int8x3) => {
        sys::make_s_int8x3
    };
    (sum, s_int8x3) => {
        sys::sum_s_int8x3
    };
    (bump, s_int8x3) => {
        sys::bump_s_int8x3
    };
    (make, s_int32x2) => {
        sys::make_s_int32x2
    };
    (sum, s_int32x2) => {
        sys::sum_s_int32x2
    };
    (bump, s_int32x2) => {
        sys::bump_s_int32x2
    };
    (make, s_int32x3) => {
        sys::make_s_int32x3
    };
    (sum, s_int32x3) => {
        sys::sum_s_int32x3
    };
    (bump, s_int32x3) => {
        sys::bump_s_int32x3
    };
    (make, s_int64x2) => {
        sys::make_s_int64x2
    };
    (sum, s_int64x2) => {
        sys::sum_s_int64x2
    };
    (bump, s_int64x2) => {
        sys::bump_s_int64x2
    };
    (make, s_int64x3) => {
        sys::make_s_int64x3
    };
    (sum, s_int64x3) => {
        sys::sum_s_int64x3
    };
    (bump, s_int64x3) => {
        sys::bump_s_int64x3
    };
    (make, s_float1) => {
        sys::make_s_float1
    };
    (sum, s_float1) => {
        sys::sum_s_float1
    };
    (bump, s_float1) => {
        sys::bump_s_float1
    };
    (make, s_float3) => {
        sys::make_s_float3
    };
    (sum, s_float3) => {
        sys::sum_s_float3
    };
    (bump, s_float3) => {
        sys::bump_s_float3
    };
    (make, s_double2) => {
        sys::make_s_double2
    };
    (sum, s_double2) => {
        sys::sum_s_double2
    };
    (bump, s_double2) => {
        sys::bump_s_double2
    };
    (make, s_double4) => {
        sys::make_s_double4
    };
    (sum, s_double4) => {
        sys::sum_s_double4
    };
    (bump, s_double4) => {
        sys::bump_s_double4
    };
    (make, s_int_float) => {
        sys::make_s_int_float
    };
    (sum, s_int_float) => {
        sys::sum_s_int_float
    };
    (bump, s_int_float) => {
        sys::bump_s_int_float
    };
    (make, s_double_int) => {
        sys::make_s_double_int
    };
    (sum, s_double_int) => {
        sys::sum_s_double_int
    };
    (bump, s_double_int) => {
        sys::bump_s_double_int
    };
    (make, s_char_double_short) => {
        sys::make_s_char_double_short
    };
    (sum, s_char_double_short) => {
        sys::sum_s_char_double_short
    };
    (bump, s_char_double_short) => {
        sys::bump_s_char_double_short
    };
    (make, s_float_int64) => {
        sys::make_s_float_int64
    };
    (sum, s_float_int64) => {
        sys::sum_s_float_int64
    };
    (bump, s_float_int64) => {
        sys::bump_s_float_int64
    };
    (make, s_mixed64) => {
        sys::make_s_mixed64
    };
    (sum, s_mixed64) => {
        sys::sum_s_mixed64
    };
    (bump, s_mixed64) => {
        sys::bump_s_mixed64
    };
}

by_value! {
    s_int8 => SInt8 { a: i8 }
    s_int16x1_int8 => SInt16x1Int8 { a: i16, b: i8 }
    s_int8x3 => SInt8x3 { a: i8, b: i8, c: i8 }
    s_int32x2 => SInt32x2 { a: i32, b: i32 }
    s_int32x3 => SInt32x3 { a: i32, b: i32, c: i32 }
    s_int64x2 => SInt64x2 { a: i64, b: i64 }
    s_int64x3 => SInt64x3 { a: i64, b: i64, c: i64 }
    s_float1 => SFloat1 { a: f32 }
    s_float3 => SFloat3 { a: f32, b: f32, c: f32 }
    s_double2 => SDouble2 { a: f64, b: f64 }
    s_double4 => SDouble4 { a: f64, b: f64, c: f64, d: f64 }
    s_int_float => SIntFloat { a: i32, b: f32 }
    s_double_int => SDoubleInt { a: f64, b: i32 }
    s_char_double_short => SCharDoubleShort { a: c_char, b: f64, c: i16 }
    s_float_int64 => SFloatInt64 { a: f32, b: i64 }
    s_mixed64 => SMixed64 {
        a: i64, b: f64, c: i32, d: f32, e: i16, f: i8, g: u8, h: f64, i: i64, j: f64, k: u32, l: f32
    }
}

#[repr(C)]
#[derive(CStruct, Clone, Copy, Debug, PartialEq)]
struct Point {
    x: i32,
    y: i32,
}

#[repr(C)]
#[derive(CStruct, Clone, Copy, Debug, PartialEq)]
struct Rect {
    top_left: Point,
    bottom_right: Point,
}

#[repr(C)]
#[derive(CStruct, Clone, Copy, Debug)]
struct Sample {
    id: u16,
    values: [f32; 3],
    label: [c_char; 6],
}

#[repr(C)]
#[derive(CStruct, Clone, Copy)]
union Number {
    i: i64,
    d: f64,
    f: f32,
    bytes: [u8; 8],
}

#[test]
fn nested_structs_arrays_inside_and_unions_by_value() {
    let library = fixtures();
    // SAFETY: the manifest's declarations are the library's own (promise 2); the functions
    // take any values of their types (promise 3).
    unsafe {
        let make_rect = library.get("make_rect").unwrap();
        let make_rect = make_rect
            .typed::<unsafe extern "C" fn(i32, i32, i32, i32) -> Rect>()
            .unwrap();
        let area = library.get("rect_area").unwrap();
        let area = area.typed::<unsafe extern "C" fn(Rect) -> i64>().unwrap();
        let rect = (*make_rect)(1, 2, 30, 40);
        let api = sys::make_rect(1, 2, 30, 40);
        assert_eq!(rect.bottom_right.x, api.bottom_right.x);
        assert_eq!(rect.bottom_right.y, api.bottom_right.y);
        assert_eq!((*area)(rect), sys::rect_area(api));

        let make_sample = library.get("make_sample").unwrap();
        let make_sample = make_sample
            .typed::<unsafe extern "C" fn(u16, f32) -> Sample>()
            .unwrap();
        let total = library.get("sample_total").unwrap();
        let total = total
            .typed::<unsafe extern "C" fn(Sample) -> f64>()
            .unwrap();
        let sample = (*make_sample)(9, 1.25);
        let api = sys::make_sample(9, 1.25);
        assert_eq!(sample.values, api.values);
        assert_eq!(sample.label, api.label);
        assert_eq!((*total)(sample).to_bits(), sys::sample_total(api).to_bits());

        let from_double = library.get("number_from_double").unwrap();
        let from_double = from_double
            .typed::<unsafe extern "C" fn(f64) -> Number>()
            .unwrap();
        let as_int = library.get("number_as_int").unwrap();
        let as_int = as_int
            .typed::<unsafe extern "C" fn(Number) -> i64>()
            .unwrap();
        let number = (*from_double)(-2.5);
        assert_eq!(number.d, sys::number_from_double(-2.5).d);
        assert_eq!(
            (*as_int)(number),
            sys::number_as_int(sys::number_from_double(-2.5))
        );
    }
}

#[repr(C)]
#[derive(CStruct, Clone, Copy)]
struct Swapped {
    y: i32,
    x: i32,
}

#[repr(C)]
#[derive(CStruct, Clone, Copy)]
struct Wider {
    x: i64,
    y: i32,
}

#[repr(C)]
#[derive(CStruct, Clone, Copy)]
struct WrongType {
    x: i32,
    y: f32,
}

#[repr(C)]
#[derive(CStruct, Clone, Copy)]
struct InnerWrong {
    top_left: Point,
    bottom_right: Swapped,
}

#[test]
fn a_mismatched_rust_struct_is_refused_naming_the_member() {
    let library = fixtures();
    // SAFETY: the manifest's declaration is the library's own (promise 2).
    let scale = unsafe { library.get("transform_point") }.unwrap();
    let refused = |error: ffikit_abi::Error, words: &[&str]| {
        assert_eq!(error.kind(), ErrorKind::TypeMismatch, "{error}");
        let text = error.to_string();
        for word in words {
            assert!(text.contains(word), "{word:?} in {text}");
        }
    };
    type Transform<P> = unsafe extern "C" fn(P, *const ()) -> P;
    refused(
        scale.typed::<Transform<Swapped>>().unwrap_err(),
        &[
            "member `y` of `Swapped` is `x` in C",
            "Rust: Swapped { y: i32 @0, x: i32 @4 }",
            "C:    struct { x: i32 @0, y: i32 @4 }",
        ],
    );
    refused(
        scale.typed::<Transform<Wider>>().unwrap_err(),
        &["`Wider` is 16 bytes (align 8) in Rust, 8 bytes (align 4) in C"],
    );
    refused(
        scale.typed::<Transform<WrongType>>().unwrap_err(),
        &["member `y` is f32 in Rust, `i32` in C"],
    );
    // SAFETY: as above.
    let area = unsafe { library.get("rect_area") }.unwrap();
    refused(
        area.typed::<unsafe extern "C" fn(InnerWrong) -> i64>()
            .unwrap_err(),
        &["member `bottom_right` member `y` of `Swapped` is `x` in C"],
    );
    // A bitfield struct cannot be mirrored; a packed one cannot be passed by value... but
    // the right one binds.
    assert!(scale.typed::<Transform<Point>>().is_ok());
}

#[test]
fn a_typed_callback_takes_and_returns_a_struct() {
    let library = fixtures();
    type PointFn = unsafe extern "C" fn(Point) -> Point;
    let callback = library
        .typed_callback::<PointFn, _>("point_fn", "point_fn", |p: Point| Point {
            x: p.x * 10,
            y: p.y - 1,
        })
        .unwrap();
    // SAFETY: the manifest's declaration is the library's own (promise 2).
    let transform = unsafe { library.get("transform_point") }.unwrap();
    let moved = transform_with(&transform, Point { x: 4, y: 5 }, callback.ptr());
    // SAFETY: the same call through API mode, with the typed callback's pointer.
    let api = unsafe {
        let pointer: sys::point_fn = std::mem::transmute(callback.ptr().get());
        sys::transform_point(sys::point { x: 4, y: 5 }, pointer)
    };
    assert_eq!((moved.x, moved.y), (api.x, api.y));
    // transform_point returns f(p) moved by (1, 1): the closure's (40, 4) came back.
    assert_eq!(moved, Point { x: 41, y: 5 });
}

/// transform_point through a typed handle whose callback parameter borrows `'cb`.
fn transform_with<'cb>(
    transform: &ffikit_abi::Function<'_>,
    point: Point,
    callback: ffikit_abi::CallbackPtr<'cb, unsafe extern "C" fn(Point) -> Point>,
) -> Point {
    let typed = transform
        .typed::<unsafe extern "C" fn(
            Point,
            ffikit_abi::CallbackPtr<'cb, unsafe extern "C" fn(Point) -> Point>,
        ) -> Point>()
        .unwrap();
    // SAFETY: transform_point calls the callback once, while it lives (promises 3 and 5).
    unsafe { (*typed)(point, callback) }
}

#[test]
fn a_variadic_function_gets_a_variadic_typed_handle() {
    let library = fixtures();
    // SAFETY: the manifest's declaration is the library's own (promise 2).
    let format = unsafe { library.get("format_into") }.unwrap();
    let typed = format
        .typed::<unsafe extern "C" fn(*mut c_char, usize, *const c_char, ...) -> i32>()
        .unwrap();
    let mut buffer = [0 as c_char; 32];
    // SAFETY: 32 writable bytes; the format's conversions match the arguments (promise 3).
    let written = unsafe {
        (*typed)(
            buffer.as_mut_ptr(),
            32,
            c"%d-%.2f-%s".as_ptr(),
            42i32,
            2.5f64,
            c"x".as_ptr(),
        )
    };
    let mut expected = [0 as c_char; 32];
    // SAFETY: the same call through API mode.
    let api = unsafe {
        sys::format_into(
            expected.as_mut_ptr(),
            32,
            c"%d-%.2f-%s".as_ptr(),
            42i32,
            2.5f64,
            c"x".as_ptr(),
        )
    };
    assert_eq!(written, api);
    assert_eq!(buffer, expected);
    // A fixed-parameter pointer type is refused for a variadic function, and the reverse.
    let error = format
        .typed::<unsafe extern "C" fn(*mut c_char, usize, *const c_char) -> i32>()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnsupportedType, "{error}");
    // SAFETY: the manifest's declaration is the library's own (promise 2).
    let gcd = unsafe { library.get("gcd") }.unwrap();
    assert!(
        gcd.typed::<unsafe extern "C" fn(i32, ...) -> i32>()
            .is_err()
    );
}

#[repr(C, packed)]
#[derive(CStruct, Clone, Copy)]
struct PackedRecord {
    tag: u8,
    value: u32,
    extra: u16,
}

#[test]
fn a_packed_struct_by_value_is_refused_with_the_reason() {
    let library = fixtures();
    // The derive describes `repr(C, packed)` (the layout is checked member by member)...
    let ffikit_abi::Kind::Record(layout) = <PackedRecord as ffikit_abi::CType>::KIND else {
        panic!("a record");
    };
    assert_eq!((layout.size, layout.members[1].offset), (7, 1));
    // ...but gcc passes a packed struct with misaligned members in memory, which no call
    // route describes: binding refuses, so no typed handle is made.
    // SAFETY: the manifest's declaration is the library's own (promise 2).
    let error = unsafe { library.get("packed_record_sum") }.unwrap_err();
    assert!(error.to_string().contains("packed"), "{error}");
}

#[test]
fn typed_struct_callbacks_past_the_slots_go_through_libffi() {
    let library = fixtures();
    type PointFn = unsafe extern "C" fn(Point) -> Point;
    // More callbacks alive than there are slots: the last ones are libffi closures.
    let callbacks: Vec<_> = (0..70)
        .map(|k| {
            library
                .typed_callback::<PointFn, _>("shift", "point_fn", move |p: Point| Point {
                    x: p.x + k,
                    y: p.y - k,
                })
                .unwrap()
        })
        .collect();
    // SAFETY: the manifest's declaration is the library's own (promise 2).
    let transform = unsafe { library.get("transform_point") }.unwrap();
    for (k, callback) in callbacks.iter().enumerate() {
        let k = k as i32;
        let moved = transform_with(&transform, Point { x: 10, y: 20 }, callback.ptr());
        assert_eq!(
            moved,
            Point {
                x: 10 + k + 1,
                y: 20 - k + 1
            },
            "callback {k}"
        );
    }
}

/// `#[repr(C, packed)]` (above), `packed(2)` and `align(16)` beside `C` (issue 26, row
/// 14): the derive accepts them, and its layout is gcc's for the same C types (the fixture library
/// exports gcc's own sizeof/alignof/offsetof of each).
#[repr(C, packed(2))]
#[derive(CStruct, Clone, Copy)]
struct Pack2Record {
    tag: u8,
    value: u64,
    tail: u8,
}

#[repr(C, align(16))]
#[derive(CStruct, Clone, Copy)]
struct AlignedBlock {
    id: i32,
}

/// gcc's (size, align) of a type and offsets of its members, from the fixture library.
fn gcc_layout(type_name: &str) -> ((u64, u64), Vec<(String, u64)>) {
    let mut raw: *const sys::ffikit_layout_fact = std::ptr::null();
    // SAFETY: ffikit_layout_facts stores a pointer to a static table and returns its length.
    let count = unsafe { sys::ffikit_layout_facts(&mut raw) };
    // SAFETY: the table has `count` entries and lives for the whole program.
    let table = unsafe { std::slice::from_raw_parts(raw, count) };
    let text = |p: *const c_char| {
        (!p.is_null()).then(|| {
            // SAFETY: names in the table are static NUL-terminated strings (or NULL).
            unsafe { std::ffi::CStr::from_ptr(p) }
                .to_string_lossy()
                .into_owned()
        })
    };
    let mut whole = None;
    let mut members = Vec::new();
    for fact in table
        .iter()
        .filter(|f| text(f.type_name).as_deref() == Some(type_name))
    {
        match text(fact.field_name) {
            None => whole = Some((fact.size, fact.align)),
            Some(field) => members.push((field, fact.bit_offset / 8)),
        }
    }
    (whole.expect("gcc's facts name the type"), members)
}

fn derived_layout<T: ffikit_abi::CType>() -> ((u64, u64), Vec<(String, u64)>) {
    let ffikit_abi::Kind::Record(layout) = T::KIND else {
        panic!("a derived struct is a record")
    };
    (
        (layout.size as u64, layout.align as u64),
        layout
            .members
            .iter()
            .map(|m| (m.name.to_owned(), m.offset as u64))
            .collect(),
    )
}

#[test]
fn packed_and_aligned_reprs_derive_gccs_layout() {
    assert_eq!(
        derived_layout::<PackedRecord>(),
        gcc_layout("struct packed_record")
    );
    assert_eq!(
        derived_layout::<Pack2Record>(),
        gcc_layout("struct pack2_record")
    );
    assert_eq!(
        derived_layout::<AlignedBlock>(),
        gcc_layout("struct aligned_block")
    );
}
