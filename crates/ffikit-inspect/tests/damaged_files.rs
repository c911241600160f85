//! Reading library files that may be damaged: what the dynamic segment lists is what `nm -D`
//! lists; a file without section headers still shows its exports; truncated and byte-flipped
//! copies of a real library give an answer or a typed error, never a crash.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use ffikit_inspect::{ErrorKind, LibraryFile, SymbolKind, exported_symbols};

fn system_library(name: &str) -> Option<PathBuf> {
    ffikit_inspect::find_library(name).ok()
}

/// `nm -D --defined-only`'s names, as `name@@VERSION` / `name@VERSION` / `name`.
fn nm(path: &Path) -> BTreeSet<String> {
    let output = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(path)
        .output()
        .expect("nm runs");
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().nth(2).map(str::to_owned))
        // nm lists version definitions as absolute symbols named like the version.
        .filter(|name| !name.contains('@') || name.split('@').next() != name.split('@').next_back())
        .collect()
}

#[test]
fn the_dynamic_segment_lists_what_nm_lists() {
    for name in ["libc.so.6", "libz.so.1", "libm.so.6", "libsqlite3.so.0"] {
        let Some(path) = system_library(name) else {
            continue;
        };
        let ours: BTreeSet<String> = exported_symbols(&path)
            .unwrap()
            .iter()
            .map(|s| s.versioned_name())
            .collect();
        let theirs = nm(&path);
        let missing: Vec<_> = theirs.difference(&ours).take(5).collect();
        let extra: Vec<_> = ours.difference(&theirs).take(5).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{name}: nm has {missing:?} we lack; we have {extra:?} nm lacks"
        );
    }
}

/// A copy of libz whose section header table offset points past the end of the file: the
/// loader does not care (it uses the dynamic segment), and neither do we.
#[test]
fn a_library_without_section_headers_still_shows_its_exports() {
    let libz = system_library("libz.so.1").expect("libz is installed");
    let mut bytes = std::fs::read(&libz).unwrap();
    let past_the_end = (bytes.len() as u64 + 4096).to_le_bytes();
    bytes[0x28..0x30].copy_from_slice(&past_the_end); // e_shoff
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("libz-no-sections.so");
    std::fs::write(&copy, &bytes).unwrap();

    let original = exported_symbols(&libz).unwrap();
    let damaged = exported_symbols(&copy).unwrap();
    assert_eq!(original, damaged);
    let file = LibraryFile::read(&copy).unwrap();
    assert_eq!(
        file.exports().get("zlibVersion"),
        Some(&SymbolKind::Function)
    );
    let report = file.verify("const char *zlibVersion(void);").unwrap();
    assert!(report.is_ok(), "{report}");
}

/// A deterministic xorshift, for reproducible damage.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn inspect_all_ways(path: &Path) {
    // Each may fail, with a typed error; none may crash, hang or allocate without bound.
    let _ = exported_symbols(path).map_err(|e| e.kind());
    if let Ok(file) = LibraryFile::read(path) {
        let _ = file.verify("int deflate(void *, int); struct s { int x; };");
    }
}

#[test]
fn truncated_copies_give_an_answer_or_a_typed_error() {
    let libz = system_library("libz.so.1").expect("libz is installed");
    let bytes = std::fs::read(&libz).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("libz-truncated.so");
    let mut lengths = vec![0, 1, 4, 16, 63, 64, 65, 200, 4096];
    lengths.extend((1..40).map(|k| bytes.len() * k / 40));
    lengths.push(bytes.len() - 1);
    for length in lengths {
        std::fs::write(&copy, &bytes[..length]).unwrap();
        inspect_all_ways(&copy);
    }
    std::fs::write(&copy, &bytes[..10]).unwrap();
    assert_eq!(
        exported_symbols(&copy).unwrap_err().kind(),
        ErrorKind::NotElf
    );
}

#[test]
fn byte_flipped_copies_give_an_answer_or_a_typed_error() {
    let libz = system_library("libz.so.1").expect("libz is installed");
    let bytes = std::fs::read(&libz).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("libz-flipped.so");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Flips in the headers and tables the reader follows first (the first 16 KiB, where the
    // ELF header, program headers, dynamic symbols and strings are), and anywhere.
    for round in 0..400 {
        let mut damaged = bytes.clone();
        for _ in 0..1 + rng.next() % 8 {
            let range = if round % 2 == 0 {
                16384.min(bytes.len())
            } else {
                bytes.len()
            };
            let at = (rng.next() % range as u64) as usize;
            damaged[at] ^= 1 << (rng.next() % 8);
        }
        std::fs::write(&copy, &damaged).unwrap();
        inspect_all_ways(&copy);
    }
}

#[test]
fn devices_and_directories_are_not_read() {
    for path in ["/dev/zero", "/", "/dev/null"] {
        assert_eq!(
            exported_symbols(Path::new(path)).unwrap_err().kind(),
            ErrorKind::Read,
            "{path}"
        );
    }
}
