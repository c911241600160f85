//! ffikit-abi's cdata model (issue 27) against the C compiler: every fixture struct's size,
//! alignment and member offsets as `cdata::CType` reports them, checked with gcc's own
//! sizeof/alignof/offsetof (exported by the fixture library); values written through a
//! `CType` into `CMemory` read back by C (an API-mode call of the same fixture); CFFI's type
//! names.

use std::ffi::{CStr, c_char};

use ffikit::fixtures::{SHARED_OBJECT, sys};
use ffikit_abi::cdata::{CKind, CMemory};
use ffikit_abi::{Library, Value};

fn fixtures() -> Library {
    // SAFETY: the fixtures' initializers are sound to run (promise 1).
    let library = unsafe { Library::open(SHARED_OBJECT) }.unwrap();
    // SAFETY: ffikit_manifest returns the library's own declarations (promise 2).
    let manifest = unsafe { CStr::from_ptr(sys::ffikit_manifest()) };
    library.cdef(manifest.to_str().unwrap()).unwrap();
    library
}

/// gcc's facts: (type, member) -> (size, align, bit offset).
fn gcc_facts() -> Vec<(String, Option<String>, u64, u64, u64)> {
    let mut raw: *const sys::ffikit_layout_fact = std::ptr::null();
    // SAFETY: ffikit_layout_facts stores a pointer to a static table and returns its length.
    let count = unsafe { sys::ffikit_layout_facts(&mut raw) };
    // SAFETY: the table has `count` entries and lives for the whole program.
    let table = unsafe { std::slice::from_raw_parts(raw, count) };
    let text = |p: *const c_char| {
        (!p.is_null()).then(|| {
            // SAFETY: names in the table are static NUL-terminated strings (or NULL).
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        })
    };
    table
        .iter()
        .map(|f| {
            (
                text(f.type_name).unwrap(),
                text(f.field_name),
                f.size,
                f.align,
                f.bit_offset,
            )
        })
        .collect()
}

#[test]
fn every_fixture_layout_is_gccs() {
    let library = fixtures();
    let mut checked = 0;
    for (type_name, member, size, align, bit_offset) in gcc_facts() {
        let Ok(ty) = library.ctype(&type_name) else {
            continue;
        };
        match member {
            None => {
                assert_eq!(ty.size(), Some(size as usize), "sizeof({type_name})");
                assert_eq!(ty.align(), Some(align as usize), "alignof({type_name})");
            }
            Some(member) => {
                let field = ty
                    .field(&member)
                    .unwrap_or_else(|| panic!("{type_name}.{member}"));
                let bit = field.offset as u64 * 8 + field.bits.map_or(0, |(b, _)| u64::from(b));
                assert_eq!(bit, bit_offset, "offsetof({type_name}, {member}) in bits");
            }
        }
        checked += 1;
    }
    assert!(checked > 50, "only {checked} facts checked");
}

#[test]
fn a_struct_written_through_its_type_is_what_c_reads() {
    let library = fixtures();
    let ty = library.ctype("struct s_int64x2").unwrap();
    let memory = CMemory::zeroed(ty.size().unwrap(), "struct s_int64x2").unwrap();
    let a = ty.field("a").unwrap();
    let b = ty.field("b").unwrap();
    // SAFETY: `memory` holds a `struct s_int64x2` (promise 4: ffikit allocated it).
    unsafe {
        a.ty.write(memory.address() + a.offset, &Value::Int(1 << 40))
            .unwrap();
        b.ty.write(memory.address() + b.offset, &Value::Int(-5))
            .unwrap();
    }
    // C reads it: the API-mode call of the fixture, given those bytes.
    // SAFETY: the memory holds a complete, initialized struct of that type.
    let value = unsafe { std::ptr::read(memory.address() as *const sys::s_int64x2) };
    // SAFETY: sum_s_int64x2 takes any struct value.
    let sum = unsafe { sys::sum_s_int64x2(value) };
    assert_eq!(sum, ((1i64 << 40) - 5) as f64);
    // And reads back through the model, range-checked on the way in.
    // SAFETY: as above.
    unsafe {
        assert_eq!(
            b.ty.read(memory.address() + b.offset).unwrap(),
            Value::Int(-5)
        );
        let small = library.ctype("unsigned char").unwrap();
        assert!(small.write(memory.address(), &Value::Int(300)).is_err());
    }
}

#[test]
fn type_names_are_cffis() {
    let library = Library::this();
    for (text, cname, kind) in [
        ("int", "int", CKind::Primitive),
        ("int **", "int * *", CKind::Pointer),
        ("int[5]", "int[5]", CKind::Array),
        ("int *[2][3]", "int *[2][3]", CKind::Array),
        ("int (*)[5]", "int(*)[5]", CKind::Pointer),
        (
            "long (*)(long, long **, ...)",
            "long(*)(long, long * *, ...)",
            CKind::Pointer,
        ),
        ("unsigned short int", "unsigned short", CKind::Primitive),
    ] {
        let ty = library.ctype(text).unwrap();
        assert_eq!((ty.cname(), ty.kind()), (cname.to_owned(), kind), "{text}");
    }
    let array = library.ctype("int[5]").unwrap();
    assert_eq!(array.declaration("x"), "int x[5]");
    assert_eq!(array.declaration("*x"), "int(*x)[5]");
    assert_eq!(library.ctype("int *").unwrap().declaration("x"), "int * x");
    // A malformed type is the parser's error, with the caret.
    let error = library.ctype("int int garbage").unwrap_err();
    let shown = std::error::Error::source(&error).unwrap().to_string();
    assert!(shown.contains('^'), "{shown}");
}

/// `CType::number` reads what the general `CType::read` reads, for every number type and
/// bit patterns at both ends of each (0, 1, all ones, the sign bit alone), at odd addresses
/// too (packed members are unaligned).
#[test]
fn number_reads_agree_with_general_reads() {
    let this = Library::this();
    let types = [
        "_Bool",
        "char",
        "signed char",
        "unsigned char",
        "short",
        "unsigned short",
        "int",
        "unsigned int",
        "long",
        "unsigned long",
        "long long",
        "unsigned long long",
        "float",
        "double",
        "int8_t",
        "uint64_t",
    ];
    let memory = CMemory::zeroed(32, "bytes").unwrap();
    let mut checked = 0;
    for name in types {
        let ty = this.ctype(name).unwrap();
        let number = ty.number().unwrap_or_else(|| panic!("{name} is a number"));
        assert_eq!(Some(number.size()), ty.size(), "{name}");
        let size = number.size();
        for pattern in [0u8, 1, 0xff, 0x80] {
            for offset in [0, 1, 3] {
                let at = memory.address() + offset;
                let bytes: Vec<u8> = (0..size)
                    .map(|i| match pattern {
                        0x80 if i + 1 == size => 0x80,
                        0x80 => 0,
                        1 if i > 0 => 0,
                        p => p,
                    })
                    .collect();
                // SAFETY: 32 bytes owned by `memory`; offset + size <= 11.
                unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), at as *mut u8, size) };
                // SAFETY: as above; every bit pattern is a value of these types (but _Bool,
                // whose non-0/1 bytes both reads treat as true).
                let (fast, general) = unsafe { (number.read(at), ty.read(at).unwrap()) };
                match (&fast, &general) {
                    (Value::Float(a), Value::Float(b)) if a.is_nan() => assert!(b.is_nan()),
                    _ => assert_eq!(fast, general, "{name} {bytes:?}"),
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, types.len() * 12);
    for not_number in [
        "long double",
        "__int128",
        "double _Complex",
        "int *",
        "int[2]",
    ] {
        assert_eq!(
            this.ctype(not_number).unwrap().number(),
            None,
            "{not_number}"
        );
    }
}
