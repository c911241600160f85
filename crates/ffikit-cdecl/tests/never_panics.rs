//! No input makes the parser panic: random text and random sequences of C tokens either parse
//! or give an error.

use ffikit_cdecl::Declarations;
use proptest::prelude::*;

const VOCABULARY: &[&str] = &[
    "int",
    "char",
    "void",
    "long",
    "unsigned",
    "signed",
    "short",
    "double",
    "float",
    "_Bool",
    "struct",
    "union",
    "enum",
    "typedef",
    "extern",
    "static",
    "inline",
    "const",
    "volatile",
    "restrict",
    "__attribute__",
    "((",
    "))",
    "packed",
    "aligned",
    "__asm__",
    "sizeof",
    "_Static_assert",
    "...",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "*",
    ",",
    ";",
    ":",
    "=",
    "-",
    "+",
    "<<",
    ">>",
    "?",
    "~",
    "!",
    "/",
    "%",
    "0",
    "1",
    "7",
    "0x10",
    "2147483648",
    "'a'",
    "\"s\"",
    "x",
    "y",
    "s",
    "t",
    "size_t",
    "FILE",
    "\n#define N 3\n",
    "\n#pragma pack(push, 2)\n",
    "\n#pragma pack(pop)\n",
    "\n# 1 \"file.h\"\n",
    "__extension__",
    "_Complex",
    "__int128",
];

fn parse(text: &str) {
    let mut decls = Declarations::new();
    let _ = decls.cdef(text);
    let _ = decls.parse_type(text);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn token_soup_never_panics(tokens in prop::collection::vec(prop::sample::select(VOCABULARY), 0..60)) {
        parse(&tokens.join(" "));
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,120}") {
        parse(&text);
    }

    #[test]
    fn c_like_text_never_panics(text in "[a-z_ ()\\[\\]{}*,;:=0-9<>+\\-#\n\"'.\\\\]{0,150}") {
        parse(&text);
    }
}
