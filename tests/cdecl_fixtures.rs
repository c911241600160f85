//! ffikit-cdecl on the fixture library's own description: `ffikit_manifest()` parses, declares
//! every function the library has, and lays out every fixture type exactly as gcc did when it
//! compiled the library (`ffikit_layout_facts()`).

use std::ffi::CStr;

use ffikit::fixtures::sys;
use ffikit_cdecl::{Declarations, Type};

fn manifest() -> &'static str {
    // SAFETY: ffikit_manifest returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(sys::ffikit_manifest()) }
        .to_str()
        .unwrap()
}

fn declarations() -> Declarations {
    let mut decls = Declarations::new();
    let report = decls.cdef(manifest()).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    decls
}

#[test]
fn manifest_layouts_match_gcc_facts() {
    let decls = declarations();
    let mut raw: *const sys::ffikit_layout_fact = std::ptr::null();
    // SAFETY: stores a pointer to a static table and returns its length.
    let count = unsafe { sys::ffikit_layout_facts(&mut raw) };
    // SAFETY: the table has `count` entries and lives for the whole program.
    let facts = unsafe { std::slice::from_raw_parts(raw, count) };
    let mut checked = 0;
    for fact in facts {
        // SAFETY: the names are static NUL-terminated strings, field_name possibly NULL.
        let type_name = unsafe { CStr::from_ptr(fact.type_name) }.to_str().unwrap();
        let ty = {
            let mut scratch = decls.clone();
            scratch.parse_type(type_name).unwrap().ty
        };
        if fact.field_name.is_null() {
            let (size, align) = decls.size_align(ty).unwrap();
            assert_eq!((size, align), (fact.size, fact.align), "{type_name}");
        } else {
            // SAFETY: as above.
            let field = unsafe { CStr::from_ptr(fact.field_name) }.to_str().unwrap();
            let (record, layout) = decls.record_layout(ty).unwrap();
            let index = record
                .fields
                .as_ref()
                .unwrap()
                .iter()
                .position(|f| f.name.as_deref() == Some(field))
                .unwrap_or_else(|| panic!("{type_name} has no member {field}"));
            let place = layout.fields[index];
            let width = match place.bit_width {
                Some(bits) => u64::from(bits),
                None => fact.bit_width, // checked by size below
            };
            assert_eq!(
                (place.bit_offset, width),
                (fact.bit_offset, fact.bit_width),
                "{type_name}.{field}"
            );
            if place.bit_width.is_none() && fact.size > 0 {
                let member = &record.fields.as_ref().unwrap()[index];
                let (size, align) = decls.size_align(member.ty.ty).unwrap();
                assert_eq!(
                    (size, align),
                    (fact.size, fact.align),
                    "{type_name}.{field}"
                );
            }
        }
        checked += 1;
    }
    assert_eq!(checked, facts.len());
    assert!(checked > 100);
}

#[test]
fn manifest_declares_every_function_with_its_bindgen_arity() {
    let decls = declarations();
    let gcd = decls.function("gcd").unwrap();
    assert_eq!(
        decls.types().declaration(gcd.ty, "gcd"),
        "int gcd(int, int)"
    );
    assert_eq!(gcd.param_names, vec![Some("x".into()), Some("y".into())]);

    // Every function the API-mode generator (bindgen, or ffikit-gen) found is declared, with
    // as many parameters: the parameter list read to its matching parenthesis, split at its
    // top-level commas (a function-pointer parameter has a list of its own).
    let bindings = std::fs::read_to_string(ffikit::fixtures::BINDINGS_PATH).unwrap();
    let extern_block = &bindings[bindings.find("extern \"C\" {").unwrap()..];
    let mut functions = 0;
    for item in extern_block.split("pub fn ").skip(1) {
        let name = item.split('(').next().unwrap();
        let open = item.find('(').unwrap();
        let mut depth = 0;
        let mut close = open;
        for (i, c) in item[open..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let params = &item[open + 1..close];
        let mut top_level = Vec::new();
        let (mut depth, mut start) = (0, 0);
        for (i, c) in params.char_indices() {
            match c {
                '(' | '<' | '[' => depth += 1,
                ')' | ']' => depth -= 1,
                '>' if !params[..i].ends_with('-') => depth -= 1,
                ',' if depth == 0 => {
                    top_level.push(&params[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        top_level.push(&params[start..]);
        let bindgen_arity = top_level.iter().filter(|p| p.contains(':')).count();
        let function = decls
            .function(name)
            .unwrap_or_else(|| panic!("{name} is not in the manifest"));
        let Type::Function(signature) = decls.types().get(function.ty) else {
            panic!("{name} is not a function");
        };
        assert_eq!(signature.params.len(), bindgen_arity, "{name}");
        assert_eq!(signature.variadic, params.contains("..."), "{name}");
        functions += 1;
    }
    assert!(functions > 140);
    // The two long double functions bindgen could not bind are declared too.
    assert!(decls.function("echo_long_double").is_some());
    assert_eq!(decls.constant("FFIKIT_NAME_MAX").unwrap().value, 32);
    assert!(decls.variable("fixture_origin").is_some());
}
