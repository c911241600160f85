//! What the model accepts and how it names types, for the front ends that take type strings
//! from users (ffikit for Python follows CFFI's spellings): names inside a type string,
//! a program's own `bool`, typedef names for anonymous types, wide characters as their own
//! kinds, the program's own type names.

use ffikit_cdecl::{Declarations, Scalar, Type};

#[test]
fn a_type_string_may_name_what_it_declares() {
    let mut decls = Declarations::new();
    let named = decls.parse_type("char cb(char, char)").unwrap();
    let anonymous = decls.parse_type("char (char, char)").unwrap();
    assert_eq!(named, anonymous);
    let pointer = decls
        .parse_type("int (*compare)(const void *a, const void *b)")
        .unwrap();
    assert_eq!(
        decls.types().display(pointer),
        decls.types().display(
            decls
                .clone()
                .parse_type("int (*)(const void *, const void *)")
                .unwrap()
        )
    );
    // Still one declarator: a second name is an error with its place.
    let error = decls.parse_type("int a b").unwrap_err();
    assert!(error.to_string().contains("line 1, column 7"), "{error}");
}

#[test]
fn a_program_may_declare_its_own_bool() {
    let mut decls = Declarations::new();
    let standard = decls.parse_type("bool").unwrap();
    assert_eq!(*decls.types().get(standard.ty), Type::Scalar(Scalar::Bool));
    decls.cdef("typedef int bool;").unwrap();
    let own = decls.parse_type("bool").unwrap();
    assert_eq!(*decls.types().get(own.ty), Type::Scalar(Scalar::Int));
    // Once the program's own, a conflicting redefinition is an error again.
    assert!(decls.cdef("typedef long bool;").is_err());
    // `_Bool` stays the keyword.
    let keyword = decls.parse_type("_Bool").unwrap();
    assert_eq!(*decls.types().get(keyword.ty), Type::Scalar(Scalar::Bool));
}

#[test]
fn windows_calling_conventions_are_ignored() {
    let mut decls = Declarations::new();
    decls
        .cdef("double __stdcall sin(double x); int __cdecl f(int);")
        .unwrap();
    let sin = decls.function("sin").unwrap();
    assert_eq!(decls.types().display(sin.ty), "double (double)");
}

#[test]
fn anonymous_types_are_printed_by_their_first_typedef_name() {
    let mut decls = Declarations::new();
    decls
        .cdef("typedef enum { V0 } e, *pe; typedef enum { V1 = 1 } e1; typedef struct { int a; } s_t, s2_t;")
        .unwrap();
    for (text, shown) in [
        ("e *", "e *"),
        ("pe", "e *"),
        ("e1 *", "e1 *"),
        ("s2_t", "s_t"),
    ] {
        let ty = decls.parse_type(text).unwrap();
        assert_eq!(decls.types().display(ty), shown, "{text}");
    }
    // A tagged type keeps its tag.
    decls
        .cdef("typedef struct tagged { int a; } tagged_t;")
        .unwrap();
    let ty = decls.parse_type("tagged_t").unwrap();
    assert_eq!(decls.types().display(ty), "struct tagged");
}

#[test]
fn wide_characters_are_their_own_kinds_with_cs_layout() {
    let mut decls = Declarations::new();
    for (name, scalar, size, signed) in [
        ("wchar_t", Scalar::WChar, 4, cfg!(target_arch = "x86_64")),
        ("char16_t", Scalar::Char16, 2, false),
        ("char32_t", Scalar::Char32, 4, false),
    ] {
        let ty = decls.parse_type(name).unwrap();
        assert_eq!(*decls.types().get(ty.ty), Type::Scalar(scalar), "{name}");
        assert_eq!(scalar.size_align(), (size, size), "{name}");
        assert_eq!(scalar.is_signed(), signed, "{name}");
        assert!(scalar.is_wide_char() && scalar.is_integer());
        assert_eq!(scalar.as_integer().size_align(), scalar.size_align());
        assert_eq!(decls.types().display(ty), name);
    }
    // A header's own `typedef int wchar_t;` (stddef.h) replaces the standard one.
    decls.cdef("typedef int wchar_t;").unwrap();
    let ty = decls.parse_type("wchar_t").unwrap();
    assert_eq!(*decls.types().get(ty.ty), Type::Scalar(Scalar::Int));
}

#[test]
fn user_types_lists_what_the_program_declared() {
    let mut decls = Declarations::new();
    assert_eq!(decls.user_types(), (vec![], vec![], vec![]));
    decls
        .cdef("union b_u { int a; }; typedef struct z_s { int a; } a_t; struct m_s; typedef int bool;")
        .unwrap();
    assert_eq!(
        decls.user_types(),
        (
            vec!["a_t".to_owned(), "bool".to_owned()],
            vec!["m_s".to_owned(), "z_s".to_owned()],
            vec!["b_u".to_owned()]
        )
    );
}
