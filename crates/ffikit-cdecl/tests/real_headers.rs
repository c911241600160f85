//! The preprocessor's output for real system headers parses, and what it declares matches the
//! libraries' documented C signatures.

use std::process::Command;

use ffikit_cdecl::{Declarations, Report};

/// `cc -E` of `#include <header>`.
fn preprocess(header: &str) -> String {
    let output = Command::new("cc")
        .args(["-E", "-x", "c", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("#include <{header}>\n").as_bytes())?;
            child.wait_with_output()
        })
        .expect("cc runs");
    assert!(output.status.success(), "cc -E failed for {header}");
    String::from_utf8(output.stdout).unwrap()
}

fn parse(header: &str) -> (Declarations, Report) {
    let text = preprocess(header);
    let mut decls = Declarations::new();
    let report = decls
        .cdef(&text)
        .unwrap_or_else(|e| panic!("{header} does not parse:\n{e}"));
    (decls, report)
}

fn signature(decls: &Declarations, name: &str) -> String {
    let function = decls
        .function(name)
        .unwrap_or_else(|| panic!("{name} is not declared"));
    decls.types().declaration(function.ty, name)
}

#[test]
fn stdio_h() {
    let (decls, report) = parse("stdio.h");
    assert_eq!(
        signature(&decls, "printf"),
        "int printf(const char *restrict, ...)"
    );
    assert_eq!(
        signature(&decls, "fopen"),
        "struct _IO_FILE *fopen(const char *restrict, const char *restrict)"
    );
    assert_eq!(
        signature(&decls, "snprintf"),
        "int snprintf(char *restrict, unsigned long, const char *restrict, ...)"
    );
    // glibc renames the C99 scanf family with asm labels.
    let fscanf = decls.function("fscanf").unwrap();
    assert_eq!(fscanf.asm_name.as_deref(), Some("__isoc99_fscanf"));
    let stdin = decls.variable("stdin").unwrap();
    assert_eq!(decls.types().display(stdin.ty), "struct _IO_FILE *");
    assert!(decls.functions().count() > 80);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
}

#[test]
fn math_h() {
    let (decls, _) = parse("math.h");
    assert_eq!(signature(&decls, "cos"), "double cos(double)");
    assert_eq!(signature(&decls, "frexp"), "double frexp(double, int *)");
    assert_eq!(
        signature(&decls, "lgammaf_r"),
        "float lgammaf_r(float, int *)"
    );
    assert_eq!(signature(&decls, "sqrtl"), "long double sqrtl(long double)");
}

#[test]
fn zlib_h() {
    let (decls, _) = parse("zlib.h");
    assert_eq!(
        signature(&decls, "compress2"),
        "int compress2(unsigned char *, unsigned long *, const unsigned char *, unsigned long, int)"
    );
    let stream = decls.struct_tag("z_stream_s").unwrap();
    // gcc: sizeof(z_stream) is 112 on LP64.
    assert_eq!(decls.size_align(stream).unwrap(), (112, 8));
    assert_eq!(
        decls.function("deflateInit2_").unwrap().param_names.len(),
        8
    );
}

#[test]
fn sqlite3_h() {
    let (decls, _) = parse("sqlite3.h");
    assert_eq!(
        signature(&decls, "sqlite3_open"),
        "int sqlite3_open(const char *, struct sqlite3 **)"
    );
    assert_eq!(
        signature(&decls, "sqlite3_exec"),
        "int sqlite3_exec(struct sqlite3 *, const char *, int (*)(void *, int, char **, char **), void *, char **)"
    );
    assert!(decls.functions().count() > 250);
}

#[test]
fn expat_h() {
    let (decls, _) = parse("expat.h");
    assert_eq!(
        signature(&decls, "XML_ParserCreate"),
        "struct XML_ParserStruct *XML_ParserCreate(const char *)"
    );
    let status = decls.constant("XML_STATUS_SUSPENDED").unwrap();
    assert_eq!(status.value, 2);
}

#[test]
fn only_inline_bodies_and_quad_floats_are_skipped() {
    for header in [
        "stdio.h",
        "math.h",
        "zlib.h",
        "sqlite3.h",
        "expat.h",
        "stdlib.h",
        "string.h",
    ] {
        let (_, report) = parse(header);
        for skipped in &report.skipped {
            let message = skipped.reason.message();
            let expected = message.contains("inline or static") || message.contains("_Float128");
            assert!(expected, "{header}: {}", skipped.reason);
        }
    }
}

/// A translation unit of every installed header of a broad set, preprocessed together as a
/// real program would include them (gcc's line markers land inside enum and struct bodies:
/// signal.h, lzma.h, xcb/xcb.h and libxml/parser.h failed on them), parses as one text.
#[test]
fn a_translation_unit_of_many_system_headers() {
    const HEADERS: &[&str] = &[
        "stdio.h",
        "stdlib.h",
        "string.h",
        "signal.h",
        "pthread.h",
        "time.h",
        "unistd.h",
        "fcntl.h",
        "dirent.h",
        "locale.h",
        "wchar.h",
        "math.h",
        "complex.h",
        "sys/stat.h",
        "sys/socket.h",
        "sys/mman.h",
        "netinet/in.h",
        "arpa/inet.h",
        "netdb.h",
        "zlib.h",
        "sqlite3.h",
        "expat.h",
        "lzma.h",
        "xcb/xcb.h",
        "libxml/parser.h",
        "openssl/ssl.h",
        "ffi.h",
        "bzlib.h",
        "curl/curl.h",
    ];
    let unit: String = HEADERS
        .iter()
        .map(|h| {
            format!(
                "#if __has_include(<{h}>)\n#include <{h}>\nint ffikit_has_{}(void);\n#endif\n",
                h.replace(['/', '.'], "_")
            )
        })
        .collect();
    let output = Command::new("cc")
        .args(["-E", "-x", "c", "-I/usr/include/libxml2", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(unit.as_bytes())?;
            child.wait_with_output()
        })
        .expect("cc runs");
    assert!(output.status.success(), "cc -E failed");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.lines().filter(|l| l.starts_with("# ")).count() > 100,
        "the preprocessor's output carries line markers"
    );
    let mut decls = Declarations::new();
    decls
        .cdef(&text)
        .unwrap_or_else(|e| panic!("the translation unit does not parse:\n{e}"));
    // The marker functions say which headers were there; the C library's always are.
    let present: Vec<&str> = HEADERS
        .iter()
        .copied()
        .filter(|h| {
            decls
                .function(&format!("ffikit_has_{}", h.replace(['/', '.'], "_")))
                .is_some()
        })
        .collect();
    for always in ["stdio.h", "signal.h", "pthread.h", "sys/socket.h", "zlib.h"] {
        assert!(
            present.contains(&always),
            "{always} missing from {present:?}"
        );
    }
    // And what they declare is there, as the headers say.
    assert_eq!(
        signature(&decls, "sigaction"),
        "int sigaction(int, const struct sigaction *restrict, struct sigaction *restrict)"
    );
    assert!(decls.function("deflate").is_some());
    eprintln!("parsed {} headers together: {present:?}", present.len());
}
