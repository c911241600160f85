//! gcc's own sizeof/alignof/offsetof of every fixture type (exported by the fixture library)
//! compared with the layouts of the bindgen bindings, field by field; bitfields by where a
//! bindgen setter puts the bits.

use std::collections::BTreeSet;
use std::ffi::CStr;
use std::mem::{align_of, offset_of, size_of};

use ffikit::fixtures::sys;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Fact {
    type_name: String,
    field_name: Option<String>,
    size: u64,
    align: u64,
    bit_offset: u64,
    bit_width: u64,
}

fn gcc_facts() -> Vec<Fact> {
    let mut raw: *const sys::ffikit_layout_fact = std::ptr::null();
    // SAFETY: ffikit_layout_facts stores a pointer to a static table and returns its length.
    let count = unsafe { sys::ffikit_layout_facts(&mut raw) };
    // SAFETY: the table has `count` entries and lives for the whole program.
    let table = unsafe { std::slice::from_raw_parts(raw, count) };
    let text = |p: *const std::ffi::c_char| {
        // SAFETY: names in the table are static NUL-terminated strings (or NULL).
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned())
    };
    table
        .iter()
        .map(|f| Fact {
            type_name: text(f.type_name).unwrap(),
            field_name: text(f.field_name),
            size: f.size,
            align: f.align,
            bit_offset: f.bit_offset,
            bit_width: f.bit_width,
        })
        .collect()
}

/// The facts bindgen's types give, in the same shape as gcc's.
macro_rules! rust_facts {
    ($out:ident; $($c_name:literal => $ty:ty { $($field:ident: $field_ty:ty),* $(,)? })*) => {$(
        $out.push(type_fact::<$ty>($c_name));
        $(
            $out.push(field_fact::<$field_ty>($c_name, stringify!($field), offset_of!($ty, $field)));
        )*
    )*};
}

fn type_fact<T>(type_name: &str) -> Fact {
    Fact {
        type_name: type_name.into(),
        field_name: None,
        size: size_of::<T>() as u64,
        align: align_of::<T>() as u64,
        bit_offset: 0,
        bit_width: 8 * size_of::<T>() as u64,
    }
}

/// A field of type `F` at byte `offset`.
fn field_fact<F>(type_name: &str, field: &str, offset: usize) -> Fact {
    Fact {
        field_name: Some(field.into()),
        bit_offset: 8 * offset as u64,
        ..type_fact::<F>(type_name)
    }
}

/// Where a bindgen setter puts an all-ones value: (first bit, width).
fn bitfield_place(set: impl Fn(&mut sys::flags)) -> (u64, u64) {
    let mut probe = sys::flags::default();
    set(&mut probe);
    // SAFETY: flags is plain old data; its bytes are initialized (Default zeroes them).
    let bytes: [u8; size_of::<sys::flags>()] = unsafe { std::mem::transmute(probe) };
    let bits: Vec<u64> = (0..8 * bytes.len() as u64)
        .filter(|&bit| bytes[(bit / 8) as usize] & (1 << (bit % 8)) != 0)
        .collect();
    (bits[0], bits.len() as u64)
}

fn bindgen_facts() -> Vec<Fact> {
    let mut facts = Vec::new();
    rust_facts! { facts;
        "struct s_int8" => sys::s_int8 { a: i8 }
        "struct s_int16x1_int8" => sys::s_int16x1_int8 { a: i16, b: i8 }
        "struct s_int8x3" => sys::s_int8x3 { a: i8, b: i8, c: i8 }
        "struct s_int32x2" => sys::s_int32x2 { a: i32, b: i32 }
        "struct s_int32x3" => sys::s_int32x3 { a: i32, b: i32, c: i32 }
        "struct s_int64x2" => sys::s_int64x2 { a: i64, b: i64 }
        "struct s_int64x3" => sys::s_int64x3 { a: i64, b: i64, c: i64 }
        "struct s_float1" => sys::s_float1 { a: f32 }
        "struct s_float3" => sys::s_float3 { a: f32, b: f32, c: f32 }
        "struct s_double2" => sys::s_double2 { a: f64, b: f64 }
        "struct s_double4" => sys::s_double4 { a: f64, b: f64, c: f64, d: f64 }
        "struct s_int_float" => sys::s_int_float { a: i32, b: f32 }
        "struct s_double_int" => sys::s_double_int { a: f64, b: i32 }
        "struct s_char_double_short" => sys::s_char_double_short { a: i8, b: f64, c: i16 }
        "struct s_float_int64" => sys::s_float_int64 { a: f32, b: i64 }
        "struct s_mixed64" => sys::s_mixed64 {
            a: i64, b: f64, c: i32, d: f32, e: i16, f: i8, g: u8, h: f64, i: i64, j: f64,
            k: u32, l: f32,
        }
        "struct point" => sys::point { x: i32, y: i32 }
        "struct rect" => sys::rect { top_left: sys::point, bottom_right: sys::point }
        "struct sample" => sys::sample { id: u16, values: [f32; 3], label: [i8; 6] }
        "union number" => sys::number { i: i64, d: f64, f: f32, bytes: [u8; 8] }
        "enum color" => sys::color {}
        "struct pack2_record" => sys::pack2_record { tag: u8, value: u64, tail: u8 }
        "struct aligned_block" => sys::aligned_block { id: i32 }
        "struct ffikit_layout_fact" => sys::ffikit_layout_fact {
            type_name: *const i8, field_name: *const i8, size: u64, align: u64,
            bit_offset: u64, bit_width: u64,
        }
    }
    // Packed: bindgen's fields are unaligned, so offset_of! is all it can say; the table
    // records the alignment of each field's type, which packing does not change.
    facts.push(type_fact::<sys::packed_record>("struct packed_record"));
    let packed = "struct packed_record";
    facts.push(field_fact::<u8>(
        packed,
        "tag",
        offset_of!(sys::packed_record, tag),
    ));
    facts.push(field_fact::<u32>(
        packed,
        "value",
        offset_of!(sys::packed_record, value),
    ));
    facts.push(field_fact::<u16>(
        packed,
        "extra",
        offset_of!(sys::packed_record, extra),
    ));

    // A flexible array member: no size, the element's alignment, its offset.
    let flexible = "struct byte_string";
    facts.push(type_fact::<sys::byte_string>(flexible));
    facts.push(field_fact::<u32>(
        flexible,
        "length",
        offset_of!(sys::byte_string, length),
    ));
    facts.push(Fact {
        size: 0,
        bit_width: 0,
        ..field_fact::<u8>(flexible, "bytes", offset_of!(sys::byte_string, bytes))
    });

    // Bitfields: where bindgen's setters put the bits.
    facts.push(type_fact::<sys::flags>("struct flags"));
    let places = [
        ("ready", bitfield_place(|f| f.set_ready(1))),
        ("mode", bitfield_place(|f| f.set_mode(7))),
        ("level", bitfield_place(|f| f.set_level(-1))),
        ("count", bitfield_place(|f| f.set_count(4095))),
    ];
    for (name, (bit_offset, bit_width)) in places {
        facts.push(Fact {
            type_name: "struct flags".into(),
            field_name: Some(name.into()),
            size: 0,
            align: 0,
            bit_offset,
            bit_width,
        });
    }
    facts.push(field_fact::<u8>(
        "struct flags",
        "tail",
        offset_of!(sys::flags, tail),
    ));
    facts
}

#[test]
fn bindgen_layouts_match_gcc_for_every_fixture_type() {
    let gcc: BTreeSet<Fact> = gcc_facts().into_iter().collect();
    let rust: BTreeSet<Fact> = bindgen_facts().into_iter().collect();
    let only_gcc: Vec<_> = gcc.difference(&rust).collect();
    let only_rust: Vec<_> = rust.difference(&gcc).collect();
    assert!(
        only_gcc.is_empty() && only_rust.is_empty(),
        "layouts differ\n  gcc says: {only_gcc:#?}\n  bindgen says: {only_rust:#?}"
    );
    assert!(gcc.len() > 100, "only {} facts", gcc.len());
}

#[test]
fn gcc_facts_describe_the_header_sizes() {
    // The sizes the header's comments promise, as gcc lays them out.
    let facts = gcc_facts();
    let size = |name: &str| {
        facts
            .iter()
            .find(|f| f.type_name == name && f.field_name.is_none())
            .unwrap_or_else(|| panic!("no fact for {name}"))
            .size
    };
    assert_eq!(size("struct s_int8"), 1);
    assert_eq!(size("struct s_int8x3"), 3);
    assert_eq!(size("struct s_mixed64"), 64);
    assert_eq!(size("struct sample"), 24);
    assert_eq!(size("struct packed_record"), 7);
    assert_eq!(size("struct pack2_record"), 12);
    assert_eq!(size("struct aligned_block"), 16);
}
