//! A table of declarations, laid out by ffikit-cdecl and by gcc: sizes, alignments and every
//! member's bit offset and width must agree. The test writes a C program that prints gcc's
//! own `sizeof`, `_Alignof`, `offsetof` (and, for bitfields, where the bits of an all-ones
//! value land), compiles it with the system compiler and runs it.

use std::fmt::Write as _;
use std::process::Command;

use ffikit_cdecl::{Declarations, Type};

/// (declarations, types to measure).
const CASES: &[(&str, &[&str])] = &[
    (
        "struct scalars { char c; short s; int i; long l; long long ll; float f; double d;
                          long double ld; _Bool b; void *p; unsigned char uc; };",
        &["struct scalars"],
    ),
    (
        "struct complexes { char c; float _Complex fc; double _Complex dc;
                            long double _Complex ldc; };
         struct wide { char c; __int128 i; unsigned __int128 u; };",
        &["struct complexes", "struct wide", "long double", "__int128"],
    ),
    (
        // Wide characters are their own scalar kinds in the model, laid out as C's.
        "struct chars { char c; wchar_t w; char h; char16_t h16; char t; char32_t u32;
                        wchar_t ws[3]; char16_t hs[3]; };",
        &["struct chars", "wchar_t", "char16_t", "char32_t"],
    ),
    (
        "struct inner { char a; double b; };
         struct outer { char tag; struct inner in; int values[3]; short grid[2][3]; char end; };",
        &["struct inner", "struct outer"],
    ),
    (
        "union mixed { char c; double d; int i[3]; struct { char x; long y; } s; };",
        &["union mixed"],
    ),
    (
        "struct __attribute__((packed)) packed1 { char a; int b; short c; double d; };
         struct packed2 { char a; int b; } __attribute__((packed));
         struct packed_member { char a; int b __attribute__((packed)); short c; };
         struct packed_aligned { char a; int b __attribute__((aligned(8))); } __attribute__((packed));",
        &["struct packed1", "struct packed2", "struct packed_member", "struct packed_aligned"],
    ),
    (
        "#pragma pack(push, 1)
         struct pragma1 { char a; int b; double c; };
         #pragma pack(2)
         struct pragma2 { char a; int b; double c; char d; };
         #pragma pack(push, 4)
         struct pragma4 { char a; double b; long double c; };
         #pragma pack(pop)
         struct pragma2_again { char a; long b; };
         #pragma pack(pop)
         struct natural_again { char a; long b; };",
        &[
            "struct pragma1",
            "struct pragma2",
            "struct pragma4",
            "struct pragma2_again",
            "struct natural_again",
        ],
    ),
    (
        "struct over16 { int x; } __attribute__((aligned(16)));
         struct over_member { char a; int b __attribute__((aligned(32))); char c; };
         struct holds_over { char a; struct over16 o; };
         struct alignas_member { char a; _Alignas(8) char b; };",
        &[
            "struct over16",
            "struct over_member",
            "struct holds_over",
            "struct alignas_member",
        ],
    ),
    (
        "struct bits1 { unsigned a : 1, b : 3; int c : 5; unsigned d : 12; char e; };
         struct straddle { int a : 30; int b : 4; };
         struct char_bits { char a : 3; char b : 6; char c : 7; };
         struct long_bits { long long a : 40; int b : 30; short c : 9; };
         struct zero_width { int a : 3; int : 0; int b : 2; char c; };
         struct unnamed_bits { char a; int : 4; char b; };
         struct short_bits { short a : 9; short b : 9; short c : 9; };
         struct bool_bits { _Bool a : 1; _Bool b : 1; unsigned char c : 4; };
         struct mixed_bits { char a; unsigned b : 7; unsigned c : 26; long d : 3; };",
        &[
            "struct bits1",
            "struct straddle",
            "struct char_bits",
            "struct long_bits",
            "struct zero_width",
            "struct unnamed_bits",
            "struct short_bits",
            "struct bool_bits",
            "struct mixed_bits",
        ],
    ),
    (
        "struct __attribute__((packed)) packed_bits { char a; int b : 3; int c : 31; char d; };
         union bit_union { int a : 3; long b : 40; char c; };
         #pragma pack(push, 1)
         struct pragma_bits { char a; int b : 9; int c : 30; };
         #pragma pack(2)
         struct pragma2_bits { char a; int b : 9; int c : 30; short d : 3; };
         #pragma pack(pop)",
        &[
            "struct packed_bits",
            "union bit_union",
            "struct pragma_bits",
            "struct pragma2_bits",
        ],
    ),
    (
        "struct flexible { short n; double d; char tail[]; };
         struct flexible_int { char n; int items[]; };
         struct empty { };",
        &["struct flexible", "struct flexible_int", "struct empty"],
    ),
    (
        "enum small { SMALL_A, SMALL_B };
         enum negative { NEG_A = -5, NEG_B = 7 };
         enum big { BIG_A = 0x100000000 };
         enum big_negative { BIG_NEG = -0x100000000 };
         enum __attribute__((packed)) tiny { TINY_A = 3 };
         enum __attribute__((packed)) tiny_signed { TINY_S = -1, TINY_T = 200 };
         struct with_enums { char c; enum small s; enum big b; enum tiny t; };",
        &[
            "enum small",
            "enum negative",
            "enum big",
            "enum big_negative",
            "enum tiny",
            "enum tiny_signed",
            "struct with_enums",
        ],
    ),
    (
        "struct anonymous { char a; union { int i; double d; }; struct { char x, y; }; short z; };
         struct node { int value; struct node *next; struct node *children[4]; };
         struct with_va { char c; __builtin_va_list args; };
         typedef struct { char c; int (*callback)(const void *, const void *); } handler_t;",
        &[
            "struct anonymous",
            "struct node",
            "struct with_va",
            "handler_t",
        ],
    ),
    (
        "#define N 4
         enum { COUNT = N * 2 + 1 };
         struct sized { char by_define[N]; int by_enum[COUNT]; char by_sizeof[sizeof(long double) + 1];
                        short by_expr[(1 << 3) | 1]; char by_cast[(unsigned char)258]; };",
        &["struct sized"],
    ),
];

/// A member (possibly inside anonymous members) by C name, with its bit offset and width.
struct Member {
    name: String,
    bit_offset: u64,
    bit_width: u64,
    bitfield: bool,
    /// A flexible array member: gcc has no sizeof for it.
    flexible: bool,
}

fn members(decls: &Declarations, ty: ffikit_cdecl::TypeId, base: u64, out: &mut Vec<Member>) {
    let Some((record, layout)) = decls.record_layout(ty) else {
        return;
    };
    for (field, place) in record.fields.iter().flatten().zip(&layout.fields) {
        let offset = base + place.bit_offset;
        match (&field.name, place.bit_width) {
            (None, Some(_)) => {} // unnamed bitfield: nothing to name
            (None, None) => members(decls, field.ty.ty, offset, out),
            (Some(name), Some(width)) => out.push(Member {
                name: name.clone(),
                bit_offset: offset,
                bit_width: u64::from(width),
                bitfield: true,
                flexible: false,
            }),
            (Some(name), None) => {
                let flexible = matches!(
                    decls.types().get(field.ty.ty),
                    Type::Array { len: None, .. }
                );
                let size = if flexible {
                    0
                } else {
                    decls.size_align(field.ty.ty).unwrap().0
                };
                out.push(Member {
                    name: name.clone(),
                    bit_offset: offset,
                    bit_width: 8 * size,
                    bitfield: false,
                    flexible,
                })
            }
        }
    }
}

#[test]
fn layouts_match_gcc() {
    let mut decls = Declarations::new();
    let mut program = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include <string.h>\n#include <uchar.h>\n\n\
         static void bits(const char *what, const unsigned char *p, size_t n) {\n\
             long first = -1, count = 0;\n\
             for (size_t i = 0; i < 8 * n; i++) if (p[i / 8] >> (i % 8) & 1) { if (first < 0) first = (long)i; count++; }\n\
             printf(\"%s %ld %ld\\n\", what, first, count);\n\
         }\n",
    );
    let mut ours = String::new();
    for (declarations, _) in CASES {
        decls.cdef(declarations).unwrap_or_else(|e| panic!("{e}"));
        program.push_str(declarations);
        program.push('\n');
    }
    program.push_str("\nint main(void) {\n");
    for (_, types) in CASES {
        for type_name in *types {
            let ty = decls.parse_type(type_name).unwrap().ty;
            let (size, align) = decls.size_align(ty).unwrap();
            writeln!(
                program,
                "    printf(\"{type_name} size %zu align %zu\\n\", sizeof({type_name}), _Alignof({type_name}));"
            )
            .unwrap();
            writeln!(ours, "{type_name} size {size} align {align}").unwrap();
            if !matches!(decls.types().get(ty), Type::Record(_)) {
                continue;
            }
            let mut list = Vec::new();
            members(&decls, ty, 0, &mut list);
            for member in list {
                let what = format!("{type_name}.{}", member.name);
                if member.bitfield {
                    writeln!(
                        program,
                        "    {{ {type_name} v; memset(&v, 0, sizeof v); v.{} = -1; bits(\"{what}\", (const unsigned char *)&v, sizeof v); }}",
                        member.name
                    )
                    .unwrap();
                } else {
                    let width = if member.flexible {
                        "(size_t)0".to_owned()
                    } else {
                        format!("8 * sizeof((({type_name} *)0)->{})", member.name)
                    };
                    writeln!(
                        program,
                        "    printf(\"{what} %zu %zu\\n\", 8 * offsetof({type_name}, {}), {width});",
                        member.name
                    )
                    .unwrap();
                }
                writeln!(ours, "{what} {} {}", member.bit_offset, member.bit_width).unwrap();
            }
        }
    }
    program.push_str("    return 0;\n}\n");

    let gcc = gcc_prints(&program);

    let mismatches: Vec<String> = gcc
        .lines()
        .zip(ours.lines())
        .filter(|(g, o)| g != o)
        .map(|(g, o)| format!("gcc: {g}\n ours: {o}"))
        .collect();
    assert_eq!(gcc.lines().count(), ours.lines().count());
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert!(
        ours.lines().count() > 150,
        "only {} facts",
        ours.lines().count()
    );
}

/// `static const` integers are named constants (as CFFI's `cdef` reads them), with the value
/// gcc gives them — the initializer's constant expression converted to the declared type —
/// and anything else stays a skipped static variable.
#[test]
fn static_const_integers_have_gccs_values() {
    let declarations = "enum color { RED, GREEN = 5 };
        static const int answer = 6 * 7, negative = -(1 << 20);
        static const unsigned char wraps = 300;
        static const signed char narrows = 200;
        static const unsigned long top = ~0UL;
        static const long shifted = 1L << 40 | 3;
        static const short from_sizeof = sizeof(long double) + sizeof(struct { char c; int i; });
        static const enum color chosen = GREEN + 1;
        static const long long big = 0x7fffffffffffffffLL;";
    let names = [
        "answer",
        "negative",
        "wraps",
        "narrows",
        "top",
        "shifted",
        "from_sizeof",
        "chosen",
        "big",
    ];
    let mut decls = Declarations::new();
    let report = decls.cdef(declarations).unwrap();
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    let mut program = format!("#include <stdio.h>\n{declarations}\nint main(void) {{\n");
    let mut ours = String::new();
    for name in names {
        writeln!(
            program,
            "    printf(\"{name} %lld\\n\", (long long){name});"
        )
        .unwrap();
        let value = decls
            .constant(name)
            .unwrap_or_else(|| panic!("{name}"))
            .value;
        // As gcc's printf of the value cast to long long shows it.
        writeln!(ours, "{name} {}", value as i64).unwrap();
    }
    program.push_str("    return 0;\n}\n");
    assert_eq!(gcc_prints(&program), ours);

    // Not constants: a non-const or non-integer static, an initializer that is not a
    // constant expression. Skipped with their names, nothing declared.
    let mut decls = Declarations::new();
    let report = decls
        .cdef(
            "static const float f = 1.5; static int counter = 3; static const int *p = 0;
               static const int from_call = strlen(\"x\");",
        )
        .unwrap();
    let skipped: Vec<_> = report.skipped.iter().map(|s| s.name.as_deref()).collect();
    assert_eq!(
        skipped,
        [Some("f"), Some("counter"), Some("p"), Some("from_call")]
    );
    for name in ["f", "counter", "p", "from_call"] {
        assert!(decls.constant(name).is_none(), "{name}");
    }
}

/// What `program`, compiled by the system's C compiler and run, prints.
fn gcc_prints(program: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("program.c");
    let binary = dir.path().join("program");
    std::fs::write(&source, program).unwrap();
    let compile = Command::new("cc")
        .args(["-std=gnu11", "-w", "-o"])
        .arg(&binary)
        .arg(&source)
        .output()
        .expect("the C compiler runs");
    assert!(
        compile.status.success(),
        "gcc rejected the program:\n{}\n{program}",
        String::from_utf8_lossy(&compile.stderr)
    );
    String::from_utf8(Command::new(&binary).output().unwrap().stdout).unwrap()
}
