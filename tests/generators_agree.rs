//! ffikit-gen against bindgen, item by item: every function, static, constant and record
//! bindgen emits for a header (default options, the header's own scope — as ffikit-api runs
//! both) must be emitted by ffikit-gen with the same ABI. Spelling is normalized first: the
//! `c_*` aliases to the Rust integers they are on this target, every pointer (function
//! pointers included) to one pointer, typedef aliases resolved on each side, records
//! compared by their asserted size, alignment and member offsets. Also times both.
//!
//! `cargo test --test generators_agree -- --nocapture` prints the table the README shows.
//! Needs libclang (bindgen's side); without it the test says so and passes, except under
//! `.ci/run`, which installs libclang and sets FFIKIT_EXPECT_GENERATED_BINDINGS.

#[path = "../crates/ffikit-cdecl/tests/support/installed.rs"]
#[allow(
    dead_code,
    reason = "shared with tests/headers.rs, which uses all of it"
)]
mod installed;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ffikit_api::{BindingsOrigin, Builder, Generator};
use regex::Regex;

/// One side's items, normalized.
#[derive(Debug, Default)]
struct Items {
    /// name → "(params) -> result", ABI-normalized.
    functions: BTreeMap<String, String>,
    /// name → type.
    statics: BTreeMap<String, String>,
    /// name → value.
    constants: BTreeMap<String, String>,
    /// name → (size, align, member offsets).
    records: BTreeMap<String, (u64, u64, BTreeMap<String, u64>)>,
}

/// Splits at commas outside brackets.
fn split_top(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '(' | '<' | '[' => depth += 1,
            ')' | '>' | ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(current.trim().to_owned());
                current.clear();
                continue;
            }
            _ => {}
        }
        // `->` is not a closing bracket.
        if c == '>' && current.ends_with('-') {
            depth += 1;
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        parts.push(current.trim().to_owned());
    }
    parts
}

/// The index just past the parenthesis matching the one at `open`.
fn matching(text: &str, open: usize) -> usize {
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return open + i + 1;
                }
            }
            _ => {}
        }
    }
    text.len()
}

fn normalize(ty: &str, aliases: &BTreeMap<String, String>, depth: u32) -> String {
    let ty = ty
        .replace("::std::os::raw::", "")
        .replace("::std::ffi::", "")
        .replace("::std::option::", "")
        .replace("std::os::raw::", "")
        .replace("::core::ffi::", "");
    let ty = ty.trim();
    if ty.starts_with("*mut") || ty.starts_with("*const") || ty.starts_with("Option<") {
        return "ptr".into();
    }
    if let Some(inner) = ty.strip_prefix('[').and_then(|t| t.strip_suffix(']'))
        && let Some((element, len)) = inner.rsplit_once(';')
    {
        return format!(
            "[{}; {}]",
            normalize(element, aliases, depth + 1),
            len.trim().trim_end_matches("usize")
        );
    }
    const SCALARS: &[&str] = &[
        "i8", "u8", "i16", "u16", "i32", "u32", "i64", "u64", "i128", "u128", "f32", "f64", "bool",
        "void",
    ];
    if SCALARS.contains(&ty) {
        return ty.to_owned();
    }
    let scalar = match ty {
        "c_char" | "c_schar" | "i8" => "i8",
        "c_uchar" | "u8" => "u8",
        "c_short" | "i16" => "i16",
        "c_ushort" | "u16" => "u16",
        "c_int" | "i32" => "i32",
        "c_uint" | "u32" => "u32",
        "c_long" | "c_longlong" | "isize" | "i64" => "i64",
        "c_ulong" | "c_ulonglong" | "usize" | "u64" => "u64",
        "c_void" => "void",
        "__BindgenComplex<f32>" | "__ffikit_Complex<f32>" => "complex<f32>",
        "__BindgenComplex<f64>" | "__ffikit_Complex<f64>" => "complex<f64>",
        other => other,
    };
    if scalar != ty {
        return scalar.to_owned();
    }
    match aliases.get(ty) {
        Some(target) if depth < 32 => normalize(target, aliases, depth + 1),
        _ => format!("record {ty}"),
    }
}

fn items(source: &str) -> Items {
    let flat: String = source.split_whitespace().collect::<Vec<_>>().join(" ");
    let flat = flat
        .replace("( ", "(")
        .replace(" )", ")")
        .replace("< ", "<")
        .replace(" >", ">");
    let mut aliases = BTreeMap::new();
    let alias = Regex::new(r"pub type (\w+) = ([^;]+);").unwrap();
    for c in alias.captures_iter(&flat) {
        aliases.insert(c[1].to_owned(), c[2].trim().to_owned());
    }
    let mut found = Items::default();
    let function = Regex::new(r"pub fn (\w+)\(").unwrap();
    // Functions live in extern blocks; bitfield accessors (in impl blocks) take `&self`.
    for m in function.captures_iter(&flat) {
        let whole = m.get(0).unwrap();
        let open = whole.end() - 1;
        let close = matching(&flat, open);
        let params = &flat[open + 1..close - 1];
        if params.contains("self") {
            continue;
        }
        let rest = &flat[close..];
        // The result type ends at `;` (a declaration) or `{` (a Rust function with a body:
        // helpers, accessors), outside brackets: `[u8; 3]` is inside one.
        let mut depth = 0i32;
        let mut stop = (rest.len(), ';');
        for (i, c) in rest.char_indices() {
            match c {
                '[' | '(' | '<' => depth += 1,
                ']' | ')' => depth -= 1,
                '>' if !rest[..i].ends_with('-') => depth -= 1,
                ';' | '{' if depth == 0 => {
                    stop = (i, c);
                    break;
                }
                _ => {}
            }
        }
        let (end, terminator) = stop;
        if terminator == '{' {
            continue;
        }
        let result = rest[..end]
            .trim()
            .strip_prefix("->")
            .map(str::trim)
            .unwrap_or("");
        let params: Vec<String> = split_top(params)
            .iter()
            .map(|p| match p.split_once(':') {
                Some((_, ty)) => normalize(ty, &aliases, 0),
                None => p.clone(), // `...`
            })
            .collect();
        let result = if result.is_empty() {
            "()".to_owned()
        } else {
            normalize(result, &aliases, 0)
        };
        found.functions.insert(
            m[1].to_owned(),
            format!("({}) -> {result}", params.join(", ")),
        );
    }
    let statics = Regex::new(r"pub static (?:mut )?(\w+): ([^;]+);").unwrap();
    for c in statics.captures_iter(&flat) {
        found
            .statics
            .insert(c[1].to_owned(), normalize(&c[2], &aliases, 0));
    }
    let constants = Regex::new(r"pub const (\w+): ([^=]+) = ([^;]+);").unwrap();
    for c in constants.captures_iter(&flat) {
        let value = c[3].trim().replace("\\x00", "\\0");
        let value = value.as_str();
        let value = value
            .trim_end_matches("usize")
            .trim_end_matches("isize")
            .trim_end_matches("u32")
            .trim_end_matches("i32")
            .trim_end_matches("u64")
            .trim_end_matches("i64")
            .trim_end_matches("_f64")
            .trim_end_matches("f64")
            .trim_end_matches("f32")
            .replace('_', "");
        let value = value
            .parse::<i128>()
            .map(|v| v.to_string())
            .or_else(|_| value.parse::<f64>().map(|v| v.to_string()))
            .unwrap_or(value);
        found.constants.insert(c[1].to_owned(), value);
    }
    // Layouts: bindgen's `["Size of X"][size_of::<X>() - N]` and ffikit-gen's
    // `assert!(size_of::<X>() == N)`.
    let size = Regex::new(r"size_of::<(\w+)>\(\) (?:-|==) (\d+)").unwrap();
    let align = Regex::new(r"align_of::<(\w+)>\(\) (?:-|==) (\d+)").unwrap();
    let offset = Regex::new(r"offset_of!\((\w+), (\w+)\) (?:-|==) (\d+)").unwrap();
    for c in size.captures_iter(&flat) {
        found.records.entry(c[1].to_owned()).or_default().0 = c[2].parse().unwrap();
    }
    for c in align.captures_iter(&flat) {
        found.records.entry(c[1].to_owned()).or_default().1 = c[2].parse().unwrap();
    }
    for c in offset.captures_iter(&flat) {
        found
            .records
            .entry(c[1].to_owned())
            .or_default()
            .2
            .insert(c[2].to_owned(), c[3].parse().unwrap());
    }
    found
}

/// The header's path as the preprocessor finds it.
fn header_path(header: &str) -> Option<PathBuf> {
    if Path::new(header).is_absolute() {
        return Some(header.into());
    }
    [
        "/usr/include",
        "/usr/include/x86_64-linux-gnu",
        "/usr/local/include",
    ]
    .iter()
    .map(|dir| Path::new(dir).join(header))
    .find(|p| p.exists())
}

fn generate(header: &Path, generator: Generator, out: &Path) -> (String, f64) {
    let start = Instant::now();
    let generated = Builder::new("compared")
        .header(header)
        .out_dir(out)
        .cargo_metadata(false)
        .generator(generator)
        .generate()
        .unwrap_or_else(|e| panic!("{generator:?} on {}: {e}", header.display()));
    let seconds = start.elapsed().as_secs_f64();
    match (generator, generated.origin()) {
        (Generator::Bindgen, BindingsOrigin::Generated) => {}
        (Generator::Ffikit, BindingsOrigin::FfikitGen { .. }) => {}
        (g, origin) => panic!("{g:?} gave {origin:?}"),
    }
    (
        std::fs::read_to_string(generated.bindings()).unwrap(),
        seconds,
    )
}

/// Differences that are choices, each with its reason: bindgen's bugs or artifacts.
const EXPLAINED: &[(&str, &str)] = &[
    (
        "function `echo_long_double`: missing",
        "`long double` by value: bindgen's `u128` travels in integer registers, C's on the x87 stack (a wrong call); ffikit-gen leaves the function out with a comment",
    ),
    ("function `max_long_double`: missing", "as echo_long_double"),
    (
        "scanf1`: missing",
        "bindgen binds glibc's `__asm__`-renamed redeclaration twice (`fscanf` and `fscanf1`, one symbol); ffikit-gen once, with its link_name",
    ),
    (
        "-> record !, ffikit-gen",
        "noreturn: bindgen spells the result `!`, ffikit-gen `()` (the model does not keep the attribute); the same call",
    ),
];

/// What differs between the two sides, one line each; counts.
fn diff(bindgen: &Items, ours: &Items) -> (usize, usize, Vec<String>) {
    let mut total = 0;
    let mut same = 0;
    let mut problems = Vec::new();
    let mut check = |kind: &str, name: &str, theirs: String, mine: Option<String>| {
        total += 1;
        match mine {
            Some(mine) if mine == theirs => same += 1,
            Some(mine) => problems.push(format!(
                "{kind} `{name}`: bindgen {theirs}, ffikit-gen {mine}"
            )),
            None => problems.push(format!("{kind} `{name}`: missing (bindgen {theirs})")),
        }
    };
    for (name, sig) in &bindgen.functions {
        check(
            "function",
            name,
            sig.clone(),
            ours.functions.get(name).cloned(),
        );
    }
    for (name, ty) in &bindgen.statics {
        check("static", name, ty.clone(), ours.statics.get(name).cloned());
    }
    for (name, value) in &bindgen.constants {
        check(
            "constant",
            name,
            value.clone(),
            ours.constants.get(name).cloned(),
        );
    }
    for (name, (size, align, offsets)) in &bindgen.records {
        let describe = |s: u64, a: u64, o: &BTreeMap<String, u64>| {
            // bindgen names bitfield units and anonymous members its own way: named members.
            let named: Vec<String> = o
                .iter()
                .filter(|(m, _)| {
                    !m.starts_with("_bitfield")
                        && !m.starts_with("__bindgen_anon")
                        && !m.starts_with("__anonymous_member")
                })
                .map(|(m, v)| format!("{m}@{v}"))
                .collect();
            format!("{s} bytes, align {a}, {}", named.join(" "))
        };
        let theirs = describe(*size, *align, offsets);
        let mine = ours.records.get(name).map(|(s, a, o)| {
            // An opaque record asserts no offsets: compare what bindgen's names of it are.
            if o.is_empty() && !offsets.is_empty() {
                describe(*s, *a, offsets)
            } else {
                describe(*s, *a, o)
            }
        });
        if name.starts_with("_bindgen_ty_") || name.contains("__bindgen_ty_") {
            continue; // anonymous: named differently on each side, checked through its parent
        }
        // bindgen names a struct declared inside another `Outer_Inner` (C++'s scoping); C's
        // tag, and ffikit-gen's name, is `Inner`.
        let mine = mine.or_else(|| {
            ours.records
                .iter()
                .find(|(n, _)| name.ends_with(&format!("_{n}")))
                .map(|(_, (s, a, o))| describe(*s, *a, o))
        });
        check("record", name, theirs, mine);
    }
    (total, same, problems)
}

#[test]
fn ffikit_gen_emits_every_item_bindgen_emits_with_the_same_abi() {
    let probe = tempfile::tempdir().unwrap();
    std::fs::write(probe.path().join("probe.h"), "int probe(void);\n").unwrap();
    let libclang = Builder::new("probe")
        .header(probe.path().join("probe.h"))
        .out_dir(probe.path())
        .cargo_metadata(false)
        .generator(Generator::Bindgen)
        .generate()
        .is_ok();
    if !libclang {
        assert!(
            std::env::var_os("FFIKIT_EXPECT_GENERATED_BINDINGS").is_none(),
            "libclang is expected here (.ci/run installs it)"
        );
        eprintln!("libclang missing: bindgen's side cannot be generated; not compared");
        return;
    }
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/c-fixtures/ffikit_fixtures.h");
    let headers: Vec<(&str, &str)> = vec![
        (fixtures, "-"),
        ("zlib.h", "zlib1g-dev"),
        ("sqlite3.h", "libsqlite3-dev"),
        ("expat.h", "libexpat1-dev"),
        ("bzlib.h", "libbz2-dev"),
        ("openssl/ssl.h", "libssl-dev"),
        ("openssl/evp.h", "libssl-dev"),
        ("stdio.h", "libc6-dev"),
        ("png.h", "libpng-dev"),
        ("curl/curl.h", "libcurl4-openssl-dev"),
    ];
    let mut table = vec![
        "| header | bindgen's items | same ABI in ffikit-gen | differences | bindgen | ffikit-gen |".to_owned(),
        "|---|---:|---:|---:|---:|---:|".to_owned(),
    ];
    let mut all_problems = Vec::new();
    for (header, package) in headers {
        let Some(path) = header_path(header) else {
            // The ones .ci/run installs must be there; the others are extra.
            let required = matches!(
                package,
                "zlib1g-dev"
                    | "libsqlite3-dev"
                    | "libexpat1-dev"
                    | "libbz2-dev"
                    | "libssl-dev"
                    | "libc6-dev"
            );
            if required {
                assert!(installed::installed(header, package));
            }
            eprintln!("{header}: not installed ({package}); skipped");
            continue;
        };
        let out = tempfile::tempdir().unwrap();
        let (theirs, bindgen_s) = generate(&path, Generator::Bindgen, &out.path().join("bindgen"));
        let (mine, ours_s) = generate(&path, Generator::Ffikit, &out.path().join("ffikit"));
        let (total, same, problems) = diff(&items(&theirs), &items(&mine));
        let name = Path::new(header).file_name().unwrap().to_string_lossy();
        let shown = if header == fixtures {
            "ffikit_fixtures.h".to_string()
        } else {
            header.to_owned()
        };
        table.push(format!(
            "| {shown} | {total} | {same} | {} | {:.0} ms | {:.0} ms |",
            problems.len(),
            bindgen_s * 1e3,
            ours_s * 1e3
        ));
        all_problems.extend(problems.into_iter().map(|p| format!("{name}: {p}")));
    }
    println!("{}", table.join("\n"));
    let mut unexplained = Vec::new();
    for problem in &all_problems {
        match EXPLAINED
            .iter()
            .find(|(pattern, _)| problem.contains(pattern))
        {
            Some((_, reason)) => println!("  {problem}\n      explained: {reason}"),
            None => {
                println!("  {problem}");
                unexplained.push(problem.clone());
            }
        }
    }
    assert!(
        unexplained.is_empty(),
        "{} unexplained differences:\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
}

/// Bindings written from a library's DWARF (no header) against those from its header: every
/// function the header declares and the library exports, the same ABI; every record, the
/// same layout.
#[test]
fn bindings_from_debug_information_agree_with_the_header() {
    let fixtures = ffikit::fixtures::SHARED_OBJECT;
    let header = concat!(env!("CARGO_MANIFEST_DIR"), "/c-fixtures/ffikit_fixtures.h");
    let run = |input: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_ffikit"))
            .args(["bindings", input])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{input}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let from_header = items(&run(header));
    let from_dwarf = items(&run(fixtures));
    let (total, same, problems) = diff(&from_header, &from_dwarf);
    println!("fixtures: {same} of {total} header items agree with the DWARF's");
    // Allowed: `#define` constants (DWARF keeps macros only with -g3), and what the model
    // leaves out either way (`long double` by value).
    let unexplained: Vec<&String> = problems
        .iter()
        .filter(|p| !p.contains("long_double") && !p.starts_with("constant "))
        .collect();
    assert!(unexplained.is_empty(), "{unexplained:#?}");
    assert!(same >= 150, "{same} of {total}");
}
