//! Printing a type as C and parsing the text back gives the very same (interned) type: for a
//! table of tricky declarators and for every function and variable of real headers.

use ffikit_cdecl::{Declarations, QualType};

fn assert_round_trips(decls: &mut Declarations, ty: QualType) {
    let printed = decls.types().display(ty);
    if printed.contains("<anonymous") {
        return; // anonymous structs have no name to print
    }
    let reparsed = decls
        .parse_type(&printed)
        .unwrap_or_else(|e| panic!("`{printed}` does not parse back:\n{e}"));
    assert_eq!(
        reparsed,
        ty,
        "`{printed}` parsed back as `{}`",
        decls.types().display(reparsed)
    );
}

#[test]
fn tricky_declarators_print_and_parse_back() {
    let mut decls = Declarations::new();
    decls
        .cdef("struct node { struct node *next; }; union u { int i; }; enum e { E1 };")
        .unwrap();
    let cases = [
        ("int", "int"),
        ("const char *", "const char *"),
        ("char *const", "char *const"),
        (
            "const volatile unsigned long long *restrict *",
            "const volatile unsigned long long *restrict *",
        ),
        (
            "int (*)(const void *, const void *)",
            "int (*)(const void *, const void *)",
        ),
        (
            "void (*(*)(int, void (*)(int)))(int)",
            "void (*(*)(int, void (*)(int)))(int)",
        ),
        ("int (*)[3]", "int (*)[3]"),
        ("int *[3]", "int *[3]"),
        ("char [2][3]", "char[2][3]"),
        ("double (*[4])(void)", "double (*[4])(void)"),
        ("int (*(*)[2])[5]", "int (*(*)[2])[5]"),
        ("struct node *", "struct node *"),
        ("union u", "union u"),
        ("enum e *", "enum e *"),
        ("int (...)", "int (...)"),
        ("int (int, ...)", "int (int, ...)"),
        ("long double _Complex", "long double _Complex"),
        ("unsigned", "unsigned int"),
        ("signed char", "signed char"),
        ("short int unsigned", "unsigned short"),
        ("size_t", "unsigned long"),
        ("int (int [])", "int (int *)"),
        ("int (int (void))", "int (int (*)(void))"),
        ("__builtin_va_list", "__builtin_va_list"),
    ];
    for (text, expected) in cases {
        let ty = decls
            .parse_type(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(decls.types().display(ty), expected, "{text}");
        assert_round_trips(&mut decls, ty);
    }
}

#[test]
fn named_declarations_print_as_c() {
    let mut decls = Declarations::new();
    decls
        .cdef("void (*signal(int sig, void (*handler)(int)))(int); int qsort_r_like(void *base, int (*compar)(const void *, const void *, void *), void *arg);")
        .unwrap();
    let signal = decls.function("signal").unwrap();
    assert_eq!(
        decls.types().declaration(signal.ty, "signal"),
        "void (*signal(int, void (*)(int)))(int)"
    );
    assert_eq!(
        signal.param_names,
        vec![Some("sig".into()), Some("handler".into())]
    );
    let ty = decls.types().display(signal.ty);
    assert_eq!(ty, "void (*(int, void (*)(int)))(int)");
}

#[test]
fn every_declaration_of_real_headers_round_trips() {
    for header in ["stdio.h", "sqlite3.h", "zlib.h", "expat.h", "math.h"] {
        let text = std::process::Command::new("sh")
            .args(["-c", &format!("echo '#include <{header}>' | cc -E -x c -")])
            .output()
            .unwrap()
            .stdout;
        let mut decls = Declarations::new();
        decls.cdef(std::str::from_utf8(&text).unwrap()).unwrap();
        let types: Vec<QualType> = decls
            .functions()
            .map(|f| f.ty.into())
            .chain(decls.variables().map(|v| v.ty))
            .collect();
        assert!(types.len() > 20, "{header}");
        for ty in types {
            assert_round_trips(&mut decls, ty);
        }
    }
}
