//! Declarations that must fail: the kind of error and exactly where it points; failed blocks
//! declare nothing; hostile nesting is refused, not a stack overflow.

use ffikit_cdecl::{Declarations, ErrorKind};

/// (declarations, expected kind, the text the caret must underline, and its column).
const MUST_FAIL: &[(&str, ErrorKind, &str, usize)] = &[
    ("int (*f)(int x;", ErrorKind::Syntax, ";", 15),
    ("int f(int, void);", ErrorKind::VoidParameter, "void", 12),
    ("int f(void x);", ErrorKind::VoidParameter, "void x", 7),
    ("int f(void, ...);", ErrorKind::VoidParameter, "void", 7),
    ("foo_t make(void);", ErrorKind::UnknownType, "foo_t", 1),
    ("int f(foo_t x);", ErrorKind::UnknownType, "foo_t", 7),
    (
        "struct s { unknown_t a; };",
        ErrorKind::UnknownType,
        "unknown_t",
        12,
    ),
    (
        "struct s { int a; }; struct s { long a; };",
        ErrorKind::Redefinition,
        "s",
        29,
    ),
    (
        "typedef int t; typedef long t;",
        ErrorKind::Redefinition,
        "t",
        29,
    ),
    ("int f(int); long f(int);", ErrorKind::Redefinition, "f", 18),
    (
        "enum e { A }; enum e { B };",
        ErrorKind::Redefinition,
        "e",
        20,
    ),
    (
        "enum { A = 1 }; enum { A = 2 };",
        ErrorKind::Redefinition,
        "A",
        24,
    ),
    (
        "struct s { int a; int a; };",
        ErrorKind::Redefinition,
        "a",
        23,
    ),
    (
        "struct s; struct t { struct s inner; };",
        ErrorKind::Incomplete,
        "inner",
        31,
    ),
    (
        "struct s; struct s array[3];",
        ErrorKind::Incomplete,
        "[3]",
        25,
    ),
    ("void v;", ErrorKind::Incomplete, "v", 6),
    ("int a[1 / 0];", ErrorKind::InvalidConstant, "/", 9),
    ("int a[-1];", ErrorKind::InvalidConstant, "-", 7),
    ("int a[UNKNOWN];", ErrorKind::InvalidConstant, "UNKNOWN", 7),
    ("int a[1 << 40];", ErrorKind::InvalidConstant, "<<", 9),
    (
        "enum { A = ~((__int128)1 << 127), B };",
        ErrorKind::InvalidConstant,
        "B",
        35,
    ),
    (
        "struct s { int a : 33; };",
        ErrorKind::InvalidLayout,
        "a",
        16,
    ),
    (
        "struct s { double d : 3; };",
        ErrorKind::InvalidLayout,
        "d",
        19,
    ),
    ("struct s { int : 0 x; };", ErrorKind::Syntax, "x", 20),
    ("long char c;", ErrorKind::Syntax, "long char", 1),
    (
        "unsigned double d;",
        ErrorKind::Syntax,
        "unsigned double",
        1,
    ),
    ("int f(int) (int);", ErrorKind::Syntax, "(int)", 6),
    ("int f(int)[3];", ErrorKind::Syntax, "(int)", 6),
    ("int x", ErrorKind::Syntax, "", 6),
    ("int x /* never closed", ErrorKind::Syntax, "/*", 7),
    (
        "char *s = \"never closed;",
        ErrorKind::Syntax,
        "\"never closed;",
        11,
    ),
    ("int @;", ErrorKind::Syntax, "@", 5),
    (
        "_Static_assert(sizeof(int) == 8, \"int\");",
        ErrorKind::InvalidConstant,
        "_Static_assert(sizeof(int) == 8, \"int\")",
        1,
    ),
    (
        "#pragma pack(3)\nstruct s { int a; };",
        ErrorKind::InvalidConstant,
        "3",
        14,
    ),
    (
        "struct s { int a; } __attribute__((aligned(3)));",
        ErrorKind::InvalidConstant,
        "aligned",
        36,
    ),
];

#[test]
fn each_bad_declaration_is_reported_where_it_is_wrong() {
    for &(text, kind, underlined, column) in MUST_FAIL {
        let mut decls = Declarations::new();
        let error = decls
            .cdef(text)
            .expect_err(&format!("{text:?} should fail"));
        assert_eq!(error.kind(), kind, "{text:?}: {error}");
        let span = error.span();
        assert_eq!(
            &text[span.start..span.end.min(text.len())],
            underlined,
            "{text:?}: {error}"
        );
        assert_eq!(error.column(), column, "{text:?}: {error}");
    }
}

#[test]
fn the_caret_sits_under_the_bad_token() {
    let mut decls = Declarations::new();
    let error = decls.cdef("int ok(void);\nint (*f)(int x;\n").unwrap_err();
    let shown = error.to_string();
    assert_eq!(
        shown,
        "expected `)`, found `;`\n --> line 2, column 15\n  |\n2 | int (*f)(int x;\n  |               ^"
    );
    let unknown = decls
        .cdef("size_t ok(void);\nmystery_t f(void);")
        .unwrap_err();
    assert!(
        unknown
            .to_string()
            .ends_with("2 | mystery_t f(void);\n  | ^^^^^^^^^"),
        "{unknown}"
    );
}

#[test]
fn a_failed_block_declares_nothing() {
    let mut decls = Declarations::new();
    decls.cdef("int before(void);").unwrap();
    let error = decls
        .cdef("struct partial { int a; }; typedef int partial_t; int half(int); #define HALF 2\nint broken(;")
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Syntax);
    assert!(decls.struct_tag("partial").is_none());
    assert!(decls.typedef("partial_t").is_none());
    assert!(decls.function("half").is_none());
    assert!(decls.constant("HALF").is_none());
    assert!(decls.function("before").is_some());
    // The same names can then be declared for real.
    decls
        .cdef("struct partial { long b; }; typedef long partial_t;")
        .unwrap();
    assert_eq!(
        decls
            .size_align(decls.struct_tag("partial").unwrap())
            .unwrap(),
        (8, 8)
    );
}

#[test]
fn identical_redefinitions_are_accepted() {
    let mut decls = Declarations::new();
    let text = "struct p { int x, y; }; typedef struct p p_t; enum e { A = 1 }; int f(p_t);
                typedef unsigned long size_t;";
    decls.cdef(text).unwrap();
    decls.cdef(text).unwrap();
}

#[test]
fn hostile_nesting_is_an_error_not_a_crash() {
    let deep_declarator = format!("int {}x{};", "(".repeat(100_000), ")".repeat(100_000));
    let deep_pointer_function =
        format!("int {}f{};", "(*".repeat(50_000), ")(void)".repeat(50_000));
    let deep_expression = format!("int a[{}1{}];", "(".repeat(100_000), ")".repeat(100_000));
    let deep_unary = format!("int a[{}1];", "- ".repeat(100_000));
    let deep_struct = format!(
        "{} int x; {}",
        "struct { ".repeat(10_000),
        "} y; ".repeat(10_000)
    );
    for text in [
        deep_declarator,
        deep_pointer_function,
        deep_expression,
        deep_unary,
        deep_struct,
    ] {
        let mut decls = Declarations::new();
        let error = decls.cdef(&text).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::TooDeep, "{}", &text[..40]);
    }
    // Nesting within the limit is fine.
    let mut decls = Declarations::new();
    let fine = format!("int {}x{};", "(".repeat(30), ")".repeat(30));
    decls.cdef(&fine).unwrap();
}

#[test]
fn unsupported_declarations_are_reported_and_the_rest_declared() {
    let mut decls = Declarations::new();
    let report = decls
        .cdef(
            "int first(void);
             _Atomic int counter;
             typedef float v4 __attribute__((vector_size(16)));
             static inline int helper(int x) { return x * 2; }
             #define GREETING \"hello\"
             #define SQUARE(x) ((x) * (x))
             __float128 quad(void);
             int last(int);",
        )
        .unwrap();
    assert!(decls.function("first").is_some());
    assert!(decls.function("last").is_some());
    assert!(decls.variable("counter").is_none());
    assert!(decls.typedef("v4").is_none());
    assert!(decls.function("helper").is_none());
    assert!(decls.function("quad").is_none());
    let reasons: Vec<String> = report
        .skipped
        .iter()
        .map(|s| s.reason.message().to_owned())
        .collect();
    assert_eq!(reasons.len(), 5, "{reasons:#?}");
    assert!(reasons[0].contains("_Atomic"));
    assert!(reasons[1].contains("vector"));
    assert!(reasons[2].contains("helper"));
    assert!(reasons[3].contains("SQUARE"));
    assert!(reasons[4].contains("__float128"));
    // A string #define is a constant now, not skipped; the inline function is kept for a
    // shim.
    assert_eq!(
        decls.macro_value("GREETING"),
        Some(&ffikit_cdecl::MacroValue::String(b"hello".to_vec()))
    );
    assert!(decls.inline_function("helper").is_some());
}

#[test]
fn absurd_sizes_are_errors_not_overflows() {
    for text in [
        "struct s { char a[0xFFFFFFFFFFFFFFFF]; };",
        "struct s { char a[0x1000000000000000]; char b; };",
        "struct s { char a[0x0FFFFFFFFFFFFFFF]; char b[0x0FFFFFFFFFFFFFFF]; };",
        "typedef char big[0x100000000]; struct s { big a[0x100000000]; };",
        "int a[0x7FFFFFFFFFFFFFFF][0x7FFFFFFFFFFFFFFF];",
        "struct s { char a __attribute__((aligned(0x8000000000000000))); };",
        "struct s { _Alignas(0x4000000000000000) char a; };",
    ] {
        let mut decls = Declarations::new();
        let error = decls.cdef(text).expect_err(text);
        let expected = [
            ErrorKind::InvalidLayout,
            ErrorKind::Incomplete,
            ErrorKind::InvalidConstant,
        ];
        assert!(expected.contains(&error.kind()), "{text}: {error}");
    }
}

#[test]
fn types_nest_at_most_max_type_depth_however_they_are_built() {
    use ffikit_cdecl::{ErrorKind, MAX_TYPE_DEPTH};
    let depth = MAX_TYPE_DEPTH as usize;
    let deep = |text: String| {
        Declarations::new()
            .cdef(&text)
            .map(|_| ())
            .map_err(|e| e.kind())
    };
    // One declarator: pointers, array dimensions, function types.
    assert_eq!(deep(format!("int {}p;", "*".repeat(depth - 1))), Ok(()));
    assert_eq!(
        deep(format!("int {}p;", "*".repeat(50_000))),
        Err(ErrorKind::TooDeep)
    );
    assert_eq!(
        deep(format!("int x{};", "[1]".repeat(16_000))),
        Err(ErrorKind::TooDeep)
    );
    // Through typedefs, and through struct members, one level at a time.
    let typedefs: String = (1..=depth)
        .map(|k| format!("typedef t{} *t{k};\n", k - 1))
        .collect();
    assert_eq!(
        deep(format!("typedef int t0;\n{typedefs}")),
        Err(ErrorKind::TooDeep)
    );
    let structs: String = (1..=depth)
        .map(|k| format!("struct s{k} {{ struct s{} inner; }};\n", k - 1))
        .collect();
    assert_eq!(
        deep(format!("struct s0 {{ int x; }};\n{structs}")),
        Err(ErrorKind::TooDeep)
    );
    // A recursive struct is finite: its pointer to itself is not walked into.
    assert_eq!(
        deep("struct node { struct node *next; int v; };".into()),
        Ok(())
    );
}

#[test]
fn an_error_on_a_huge_line_shows_a_window_of_it() {
    let mut text = "int a; ".repeat(200_000);
    text.push_str("int @;");
    let error = Declarations::new().cdef(&text).unwrap_err();
    assert_eq!(error.line(), 1);
    assert_eq!(error.column(), 7 * 200_000 + 5);
    let shown = error.to_string();
    assert!(shown.len() < 1000, "{} bytes", shown.len());
    // The caret is under the `@`.
    let lines: Vec<&str> = shown.lines().collect();
    let source = lines[lines.len() - 2];
    let caret = lines[lines.len() - 1];
    let at = caret.find('^').unwrap();
    assert_eq!(source.chars().nth(at), Some('@'), "{shown}");
}

#[test]
fn invisible_characters_are_shown_under_the_caret() {
    let error = Declarations::new().cdef("int x\u{0};").unwrap_err();
    assert!(error.to_string().contains('\u{2400}'), "{error}");
    let error = Declarations::new().cdef("int \u{feff}x;").unwrap_err();
    assert!(error.to_string().contains('\u{fffd}'), "{error}");
}
