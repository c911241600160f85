//! `ffikit bindings`: Rust bindings generated from real headers without libclang, checked
//! three ways — every record's size, alignment and member offsets against the C compiler's
//! own `sizeof`/`_Alignof`/`offsetof` (a C program printing them), the generated crate
//! compiling (its own layout assertions included), and functions of each library called
//! through it with results known independently (CRC-32's check value, the headers' version
//! macros).

#[path = "../crates/ffikit-cdecl/tests/support/installed.rs"]
#[allow(
    dead_code,
    reason = "shared with tests/headers.rs, which uses all of it"
)]
mod installed;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A header, the library it declares, and a Rust program fragment calling it.
struct Case {
    header: &'static str,
    package: &'static str,
    module: &'static str,
    link: &'static str,
    calls: &'static str,
}

const CASES: &[Case] = &[
    Case {
        header: "zlib.h",
        package: "zlib1g-dev",
        module: "zlib",
        link: "z",
        calls: r#"
        // CRC-32's check value: the CRC of "123456789" is 0xCBF43926.
        let data = b"123456789";
        assert_eq!(unsafe { zlib::crc32(0, data.as_ptr(), 9) }, 0xCBF4_3926);
        let version = unsafe { std::ffi::CStr::from_ptr(zlib::zlibVersion()) };
        assert_eq!(version.to_bytes_with_nul(), &zlib::ZLIB_VERSION[..]);
        // A z_stream through deflate: the struct the header defines, laid out as C lays it.
        let mut stream: zlib::z_stream = unsafe { std::mem::zeroed() };
        let mut out = [0u8; 64];
        let input = b"hello hello hello hello";
        stream.next_in = input.as_ptr() as *mut u8;
        stream.avail_in = input.len() as u32;
        stream.next_out = out.as_mut_ptr();
        stream.avail_out = out.len() as u32;
        let size = std::mem::size_of::<zlib::z_stream>() as i32;
        assert_eq!(unsafe { zlib::deflateInit_(&mut stream, zlib::Z_DEFAULT_COMPRESSION, zlib::ZLIB_VERSION.as_ptr().cast(), size) }, zlib::Z_OK);
        assert_eq!(unsafe { zlib::deflate(&mut stream, zlib::Z_FINISH) }, zlib::Z_STREAM_END);
        assert_eq!(stream.total_in, input.len() as _);
        assert!(stream.total_out > 0 && stream.total_out < input.len() as _);
        assert_eq!(unsafe { zlib::deflateEnd(&mut stream) }, zlib::Z_OK);
        // The same through zlib's function-like macros `deflateInit` and `inflateInit`,
        // called through their C wrappers: compressed, then inflated back to the input.
        let compressed = {
            let mut stream: zlib::z_stream = unsafe { std::mem::zeroed() };
            stream.next_in = input.as_ptr() as *mut u8;
            stream.avail_in = input.len() as u32;
            stream.next_out = out.as_mut_ptr();
            stream.avail_out = out.len() as u32;
            assert_eq!(unsafe { zlib::deflateInit(&mut stream, 9) }, zlib::Z_OK);
            assert_eq!(unsafe { zlib::deflate(&mut stream, zlib::Z_FINISH) }, zlib::Z_STREAM_END);
            let n = stream.total_out as usize;
            assert_eq!(unsafe { zlib::deflateEnd(&mut stream) }, zlib::Z_OK);
            out[..n].to_vec()
        };
        let mut back = [0u8; 64];
        let mut stream: zlib::z_stream = unsafe { std::mem::zeroed() };
        stream.next_in = compressed.as_ptr() as *mut u8;
        stream.avail_in = compressed.len() as u32;
        stream.next_out = back.as_mut_ptr();
        stream.avail_out = back.len() as u32;
        assert_eq!(unsafe { zlib::inflateInit(&mut stream) }, zlib::Z_OK);
        assert_eq!(unsafe { zlib::inflate(&mut stream, zlib::Z_FINISH) }, zlib::Z_STREAM_END);
        assert_eq!(&back[..stream.total_out as usize], &input[..]);
        assert_eq!(unsafe { zlib::inflateEnd(&mut stream) }, zlib::Z_OK);
"#,
    },
    Case {
        header: "sqlite3.h",
        package: "libsqlite3-dev",
        module: "sqlite3",
        link: "sqlite3",
        calls: r#"
        assert_eq!(unsafe { sqlite3::sqlite3_libversion_number() }, sqlite3::SQLITE_VERSION_NUMBER);
        let version = unsafe { std::ffi::CStr::from_ptr(sqlite3::sqlite3_libversion()) };
        assert_eq!(version.to_bytes_with_nul(), &sqlite3::SQLITE_VERSION[..]);
"#,
    },
    Case {
        header: "bzlib.h",
        package: "libbz2-dev",
        module: "bzlib",
        link: "bz2",
        calls: r#"
        let version = unsafe { std::ffi::CStr::from_ptr(bzlib::BZ2_bzlibVersion()) };
        assert!(version.to_str().unwrap().starts_with("1.0."), "{version:?}");
"#,
    },
    Case {
        header: "expat.h",
        package: "libexpat1-dev",
        module: "expat",
        link: "expat",
        calls: r#"
        let version = unsafe { expat::XML_ExpatVersionInfo() };
        assert_eq!(
            (version.major, version.minor, version.micro),
            (expat::XML_MAJOR_VERSION, expat::XML_MINOR_VERSION, expat::XML_MICRO_VERSION)
        );
"#,
    },
    Case {
        header: "openssl/ssl.h",
        package: "libssl-dev",
        module: "ssl",
        link: "ssl\");\n    println!(\"cargo:rustc-link-lib=crypto",
        calls: r#"
        // SSL_get_error's results, as OpenSSL documents them.
        assert_eq!((ssl::SSL_ERROR_NONE, ssl::SSL_ERROR_SSL, ssl::SSL_ERROR_WANT_READ), (0, 1, 2));
        let context = unsafe { ssl::SSL_CTX_new(ssl::TLS_method()) };
        assert!(!context.is_null());
        assert!(unsafe { ssl::SSL_CTX_get_timeout(context) } > 0);
        unsafe { ssl::SSL_CTX_free(context) };
"#,
    },
    Case {
        header: "openssl/err.h",
        package: "libssl-dev",
        module: "err",
        link: "crypto",
        calls: r#"
        // `static inline` functions, through their C wrappers: an error code packs the
        // library in bits 23..30 and the reason in bits 0..22 (OpenSSL 3's err.h).
        let code: std::ffi::c_ulong = (20 << 23) | 0x10B;
        assert_eq!(unsafe { err::ERR_GET_LIB(code) }, 20);
        assert_eq!(unsafe { err::ERR_GET_REASON(code) }, 0x10B);
        assert_eq!(unsafe { err::ERR_FATAL_ERROR(code) }, 0);
"#,
    },
    Case {
        header: "stdio.h",
        package: "libc6-dev",
        module: "stdio",
        link: "c",
        calls: r#"
        let mut buffer = [0 as std::ffi::c_char; 32];
        let n = unsafe { stdio::snprintf(buffer.as_mut_ptr(), 32, c"%d-%s".as_ptr(), 42 as std::ffi::c_int, c"x".as_ptr()) };
        assert_eq!(n, 4);
        assert_eq!(unsafe { std::ffi::CStr::from_ptr(buffer.as_ptr()) }, c"42-x");
        assert_eq!(stdio::EOF, -1);
"#,
    },
];

/// `cargo run` of a generated crate in `dir`, offline, in its own target directory, without
/// this test's own cargo settings (the memcheck runner, flags).
fn cargo_run(dir: &Path) -> std::process::Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(cargo)
        .args(["run", "--quiet", "--offline", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(dir.join("target"))
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER")
        .output()
        .unwrap()
}

fn ffikit(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ffikit"))
        .args(args)
        .output()
        .expect("the ffikit command runs")
}

/// `(C spelling, Rust name, size, align, [(member, offset)])` of every record the bindings
/// lay out, read back from their doc comments and layout assertions.
type RecordFacts = (String, String, u64, u64, Vec<(String, u64)>);

fn records(source: &str) -> Vec<RecordFacts> {
    let mut found = Vec::new();
    let mut c_name = None;
    let mut current: Option<RecordFacts> = None;
    for line in source.lines() {
        if let Some(rest) = line.strip_prefix("/// `")
            && let Some(name) = rest.strip_suffix('`')
        {
            c_name = Some(name.to_owned());
        }
        let number = |text: &str| {
            text.trim_end_matches([')', ';'])
                .trim()
                .parse::<u64>()
                .unwrap()
        };
        if let Some(rest) = line.strip_prefix("    assert!(::std::mem::size_of::<") {
            let (name, size) = rest.split_once(">() == ").unwrap();
            found.extend(current.take());
            // A record with no C spelling (x86-64's `__va_list_tag`) is not checked here.
            current = c_name
                .take()
                .map(|c_name| (c_name, name.to_owned(), number(size), 0, Vec::new()));
        } else if let Some(record) = &mut current {
            if let Some(rest) = line.strip_prefix("    assert!(::std::mem::align_of::<") {
                let (_, align) = rest.split_once(">() == ").unwrap();
                record.3 = number(align);
            } else if let Some(rest) = line.strip_prefix("    assert!(::std::mem::offset_of!(") {
                let (member, offset) = rest.split_once(") == ").unwrap();
                let member = member.split_once(", ").unwrap().1;
                // Members C does not name (bitfield storage, anonymous members) are Rust's own.
                if !member.starts_with("_bitfield_") && !member.starts_with("__anonymous_member_") {
                    let member = member
                        .strip_suffix('_')
                        .filter(|m| is_keyword(m))
                        .unwrap_or(member);
                    record.4.push((member.to_owned(), number(offset)));
                }
            }
        }
    }
    found.extend(current);
    found
}

fn is_keyword(name: &str) -> bool {
    matches!(
        name,
        "type" | "ref" | "match" | "fn" | "mod" | "impl" | "in" | "box" | "use"
    )
}

/// The C compiler's own sizes, alignments and offsets for those records, compared.
fn check_layouts_with_cc(header: &str, source: &str, dir: &Path) -> usize {
    let facts = records(source);
    let mut program = format!(
        "#include <stdio.h>\n#include <stddef.h>\n#include <{header}>\nint main(void) {{\n"
    );
    for (c_name, _, _, _, members) in &facts {
        if c_name.contains('<') {
            continue;
        }
        program.push_str(&format!(
            "    printf(\"%zu %zu\\n\", sizeof({c_name}), _Alignof({c_name}));\n"
        ));
        for (member, _) in members {
            program.push_str(&format!(
                "    printf(\"%zu\\n\", offsetof({c_name}, {member}));\n"
            ));
        }
    }
    program.push_str("    return 0;\n}\n");
    let c_file = dir.join("layouts.c");
    std::fs::write(&c_file, &program).unwrap();
    let exe = dir.join("layouts");
    let status = Command::new("cc")
        .arg(&c_file)
        .arg("-o")
        .arg(&exe)
        .status()
        .unwrap();
    assert!(status.success(), "the layout program compiles:\n{program}");
    let output = Command::new(&exe).output().unwrap();
    let printed = String::from_utf8(output.stdout).unwrap();
    let mut lines = printed.lines();
    let mut checked = 0;
    for (c_name, rust, size, align, members) in &facts {
        if c_name.contains('<') {
            continue;
        }
        assert_eq!(
            lines.next().unwrap(),
            format!("{size} {align}"),
            "{header}: size and alignment of {c_name} (Rust {rust})"
        );
        for (member, offset) in members {
            assert_eq!(
                lines.next().unwrap(),
                offset.to_string(),
                "{header}: offset of {c_name}.{member}"
            );
        }
        checked += 1;
    }
    checked
}

#[test]
fn bindings_of_real_headers_match_the_c_compiler_compile_and_call_their_libraries() {
    let cases: Vec<&Case> = CASES
        .iter()
        .filter(|case| installed::installed(case.header, case.package))
        .collect();
    if cases.is_empty() {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("generated-bindings");
    let _ = std::fs::remove_dir_all(dir.join("src"));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let mut main = String::from(
        "#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case, dead_code, clippy::all)]\n",
    );
    let mut body = String::new();
    // The shims (C wrappers of inline functions and macros), compiled into one archive.
    let mut build = String::from(
        "fn main() {\n    let out = std::env::var(\"OUT_DIR\").unwrap();\n    let mut objects = Vec::new();\n    for entry in std::fs::read_dir(\"src\").unwrap() {\n        let path = entry.unwrap().path();\n        if path.to_string_lossy().ends_with(\"_shims.c\") {\n            let object = format!(\"{out}/{}.o\", path.file_stem().unwrap().to_string_lossy());\n            assert!(std::process::Command::new(\"cc\").args([\"-c\", \"-O2\", \"-fPIC\", \"-w\", \"-o\", &object]).arg(&path).status().unwrap().success());\n            objects.push(object);\n        }\n    }\n    let archive = format!(\"{out}/libffikit_shims.a\");\n    assert!(std::process::Command::new(\"ar\").arg(\"rcs\").arg(&archive).args(&objects).status().unwrap().success());\n    println!(\"cargo:rustc-link-search=native={out}\");\n    println!(\"cargo:rustc-link-lib=static=ffikit_shims\");\n",
    );
    for case in &cases {
        let shims = dir.join("src").join(format!("{}_shims.c", case.module));
        let output = ffikit(&["bindings", case.header, "--shims", shims.to_str().unwrap()]);
        assert!(
            output.status.success(),
            "{}: {}",
            case.header,
            String::from_utf8_lossy(&output.stderr)
        );
        let source = String::from_utf8(output.stdout).unwrap();
        let checked = check_layouts_with_cc(case.header, &source, &dir);
        eprintln!("{}: {checked} records checked against cc", case.header);
        std::fs::write(dir.join("src").join(format!("{}.rs", case.module)), &source).unwrap();
        main.push_str(&format!(
            "mod {} {{ include!(\"{}.rs\"); }}\n",
            case.module, case.module
        ));
        body.push_str(case.calls);
        build.push_str(&format!(
            "    println!(\"cargo:rustc-link-lib={}\");\n",
            case.link
        ));
    }
    build.push_str("}\n");
    main.push_str(&format!(
        "fn main() {{{body}    println!(\"all called\");\n}}\n"
    ));
    std::fs::write(dir.join("src/main.rs"), main).unwrap();
    std::fs::write(dir.join("build.rs"), build).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"generated-bindings\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n[workspace]\n",
    )
    .unwrap();
    let output = cargo_run(&dir);
    assert!(
        output.status.success(),
        "the generated crate builds and its calls pass:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "all called");
}

#[test]
fn bitfields_packed_aligned_and_anonymous_members_match_gcc() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("generated-records");
    std::fs::create_dir_all(&dir).unwrap();
    let header = dir.join("records.h");
    std::fs::write(
        &header,
        "#include <stdint.h>\n\
         struct flags { unsigned a : 3; signed b : 5; unsigned : 0; _Bool c : 1; uint64_t d : 40; char tail; };\n\
         #pragma pack(push, 2)\n\
         struct packed2 { char c; int i; short s; double d; };\n\
         #pragma pack(pop)\n\
         struct __attribute__((packed)) packed1 { char c; int i; };\n\
         struct aligned { char c; int i __attribute__((aligned(16))); } __attribute__((aligned(32)));\n\
         struct outer { int kind; union { int i; double d; }; struct { char x, y; } pair; };\n\
         struct flexible { int n; double items[]; };\n\
         union wide { char bytes[3]; long double ld; };\n\
         typedef struct { int x; } anonymous_typedef;\n\
         enum color { RED, GREEN = 5, LIME = 5, BLUE = -1 };\n\
         int use_all(struct flags *, struct packed2 *, struct packed1 *, struct aligned *, struct outer *, struct flexible *, union wide *, anonymous_typedef *);\n",
    )
    .unwrap();
    let output = ffikit(&["bindings", header.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let source = String::from_utf8(output.stdout).unwrap();
    let checked = check_layouts_with_cc(header.to_str().unwrap(), &source, &dir);
    assert!(checked >= 8, "{checked} records checked:\n{source}");
    assert!(
        !source.contains("Opaque"),
        "every record mirrored:\n{source}"
    );
    // The bitfields through their accessors, against C's own reading of the same bytes.
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/records.rs"), &source).unwrap();
    // The enums as Rust enums too (bindgen's "rustified" form).
    let rust_enums = ffikit(&["bindings", header.to_str().unwrap(), "--rust-enums"]);
    assert!(rust_enums.status.success());
    std::fs::write(dir.join("src/rust_enums.rs"), &rust_enums.stdout).unwrap();
    std::fs::write(
        dir.join("src/main.rs"),
        "#![allow(non_camel_case_types, non_upper_case_globals, dead_code)]\nmod records { include!(\"records.rs\"); }\n\
         mod rust_enums { include!(\"rust_enums.rs\"); }\n\
         fn main() {\n\
             let mut f: records::flags = unsafe { std::mem::zeroed() };\n\
             f.set_a(5); f.set_b(-7); f.set_c(true); f.set_d(0xAB_CDEF_0123); f.tail = 9;\n\
             assert_eq!((f.a(), f.b(), f.c(), f.d(), f.tail), (5, -7, true, 0xAB_CDEF_0123, 9));\n\
             assert_eq!((records::color_GREEN, records::color_LIME, records::color_BLUE), (5, 5, -1));\n\
             assert_eq!((rust_enums::color::GREEN as i32, rust_enums::color::BLUE as i32), (5, -1));\n\
             assert_eq!(rust_enums::color::LIME, rust_enums::color::GREEN);\n\
             assert_eq!(std::mem::size_of::<rust_enums::color>(), 4);\n\
             let bytes: [u8; std::mem::size_of::<records::flags>()] = unsafe { std::mem::transmute(f) };\n\
             println!(\"{:?}\", bytes);\n\
         }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"generated-records\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n[workspace]\n",
    )
    .unwrap();
    let rust = cargo_run(&dir);
    assert!(
        rust.status.success(),
        "{}",
        String::from_utf8_lossy(&rust.stderr)
    );
    // The same values set by C, printed as bytes the same way.
    let c_file = dir.join("flags.c");
    std::fs::write(
        &c_file,
        format!(
            "#include <stdio.h>\n#include <string.h>\n#include \"{}\"\n\
             int main(void) {{ struct flags f; memset(&f, 0, sizeof f);\n\
             f.a = 5; f.b = -7; f.c = 1; f.d = 0xABCDEF0123ull; f.tail = 9;\n\
             unsigned char *p = (unsigned char *)&f; printf(\"[\");\n\
             for (size_t i = 0; i < sizeof f; i++) printf(i ? \", %u\" : \"%u\", p[i]);\n\
             printf(\"]\\n\"); return 0; }}\n",
            header.display()
        ),
    )
    .unwrap();
    let exe = dir.join("flags");
    assert!(
        Command::new("cc")
            .arg(&c_file)
            .arg("-o")
            .arg(&exe)
            .status()
            .unwrap()
            .success()
    );
    let c = Command::new(&exe).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&rust.stdout),
        String::from_utf8_lossy(&c.stdout)
    );
}

#[test]
fn the_dynamic_loading_form_binds_and_checks_every_function_when_made() {
    if !installed::installed("zlib.h", "zlib1g-dev") {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("generated-dynamic");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let zlib = ffikit(&["bindings", "zlib.h", "--dynamic", "Zlib"]);
    assert!(
        zlib.status.success(),
        "{}",
        String::from_utf8_lossy(&zlib.stderr)
    );
    std::fs::write(dir.join("src/zlib.rs"), &zlib.stdout).unwrap();
    // A header declaring a function libz does not export: binding it must fail when the
    // struct is made, naming it.
    let header = dir.join("missing.h");
    std::fs::write(
        &header,
        "unsigned long crc32(unsigned long, const unsigned char *, unsigned int);\n\
         int zlib_has_no_such_function(int);\n",
    )
    .unwrap();
    let missing = ffikit(&["bindings", header.to_str().unwrap(), "--dynamic", "Missing"]);
    assert!(missing.status.success());
    std::fs::write(dir.join("src/missing.rs"), &missing.stdout).unwrap();
    std::fs::write(
        dir.join("src/main.rs"),
        "#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case, dead_code)]\n\
         mod zlib { include!(\"zlib.rs\"); }\n\
         mod missing { include!(\"missing.rs\"); }\n\
         fn main() {\n\
             // SAFETY: libz's initializers are sound; the declarations are its header's.\n\
             let z = unsafe { zlib::Zlib::new(\"libz.so.1\") }.expect(\"every zlib function binds\");\n\
             let data = b\"123456789\";\n\
             assert_eq!(unsafe { z.crc32(0, data.as_ptr(), 9) }, 0xCBF4_3926);\n\
             let version = unsafe { std::ffi::CStr::from_ptr(z.zlibVersion()) };\n\
             assert_eq!(version.to_bytes_with_nul(), &zlib::ZLIB_VERSION[..]);\n\
             // SAFETY: as above; binding fails before anything is called.\n\
             let error = unsafe { missing::Missing::new(\"libz.so.1\") }.unwrap_err();\n\
             assert!(error.to_string().contains(\"zlib_has_no_such_function\"), \"{error}\");\n\
             println!(\"bound\");\n\
         }\n",
    )
    .unwrap();
    let abi = concat!(env!("CARGO_MANIFEST_DIR"), "/crates/ffikit-abi");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"generated-dynamic\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n\
             [dependencies]\nffikit-abi = {{ path = {abi:?} }}\n\n[workspace]\n"
        ),
    )
    .unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"),
        dir.join("Cargo.lock"),
    )
    .unwrap();
    let run = cargo_run(&dir);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "bound");
}

#[test]
fn a_library_without_debug_information_or_header_is_a_clear_error() {
    // libz as installed has neither DWARF nor a separate debug file here, unless its -dbg
    // package is installed.
    let Ok(path) = ffikit::inspect::library_path("libz.so.1") else {
        return;
    };
    let file = ffikit_inspect::LibraryFile::read(&path).unwrap();
    if file.debug_file().is_some() {
        eprintln!("libz has debug information here: nothing to refuse");
        return;
    }
    let output = ffikit(&["bindings", "libz.so.1"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("has no debug information"), "{stderr}");
    assert!(stderr.contains("give its header"), "{stderr}");
}
