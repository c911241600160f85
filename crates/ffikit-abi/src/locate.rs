//! Finding a library file from a name, as ctypes' `find_library` does on Linux: the user's
//! `LD_LIBRARY_PATH`, the dynamic loader's cache (`ldconfig -p`), then the standard
//! directories. Every place tried is kept for the error message.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const STANDARD_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
    "/usr/local/lib",
];

/// The file names a library name may have: `m` → `libm.so` and `libm.so.*`; `libz.so.1` as is.
fn matches(name: &str, file_name: &str) -> bool {
    if name.contains(".so") {
        return file_name == name;
    }
    let base = if name.starts_with("lib") {
        name.to_owned()
    } else {
        format!("lib{name}")
    };
    file_name == format!("{base}.so") || file_name.starts_with(&format!("{base}.so."))
}

/// Whether the file is an ELF object (not, say, the linker script `libm.so` is on Debian).
fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| magic == *b"\x7fELF")
}

/// The loader cache's entries for this machine's word size: (file name, path).
fn loader_cache() -> &'static [(String, PathBuf)] {
    static CACHE: OnceLock<Vec<(String, PathBuf)>> = OnceLock::new();
    CACHE.get_or_init(|| {
        let output = ["/sbin/ldconfig", "ldconfig"]
            .iter()
            .find_map(|program| Command::new(program).arg("-p").output().ok())
            .filter(|o| o.status.success());
        let Some(output) = output else {
            return Vec::new();
        };
        let arch = if cfg!(target_arch = "x86_64") {
            "x86-64"
        } else {
            "AArch64"
        };
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| line.contains(arch))
            .filter_map(|line| {
                let (name, rest) = line.trim().split_once(" (")?;
                let (_, path) = rest.split_once("=> ")?;
                Some((name.to_owned(), PathBuf::from(path.trim())))
            })
            .collect()
    })
}

/// Finds the file for `name`, or returns every place tried.
pub(crate) fn find_library(name: &str) -> Result<PathBuf, Vec<String>> {
    let mut tried = Vec::new();
    if name.trim().is_empty() || name.contains('\0') {
        // Not a name: searching would find `lib.so` (or stop at the NUL).
        tried.push("nowhere: an empty name, or one with a NUL byte, names no library".to_owned());
        return Err(tried);
    }
    if name.contains('/') {
        let path = PathBuf::from(name);
        if path.exists() {
            return Ok(path);
        }
        tried.push(name.to_owned());
        return Err(tried);
    }
    let search_dir = |dir: &Path, tried: &mut Vec<String>| -> Option<PathBuf> {
        tried.push(dir.display().to_string());
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(Result::ok)
            .filter(|entry| matches(name, &entry.file_name().to_string_lossy()))
            .map(|entry| entry.path())
            .filter(|path| is_elf(path))
            .collect();
        found.sort();
        found.into_iter().next()
    };
    if let Some(paths) = std::env::var_os("LD_LIBRARY_PATH") {
        for dir in std::env::split_paths(&paths).filter(|d| !d.as_os_str().is_empty()) {
            if let Some(found) = search_dir(&dir, &mut tried) {
                return Ok(found);
            }
        }
    }
    tried.push("the dynamic loader's cache (ldconfig -p)".into());
    if let Some((_, path)) = loader_cache()
        .iter()
        .find(|(file, path)| matches(name, file) && is_elf(path))
    {
        return Ok(path.clone());
    }
    for dir in STANDARD_DIRS {
        if let Some(found) = search_dir(Path::new(dir), &mut tried) {
            return Ok(found);
        }
    }
    Err(tried)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_files_as_the_linker_spells_them() {
        assert!(matches("m", "libm.so.6"));
        assert!(matches("m", "libm.so"));
        assert!(!matches("m", "libmagic.so.1"));
        assert!(matches("libz.so.1", "libz.so.1"));
        assert!(!matches("libz.so.1", "libz.so.1.2.13"));
        assert!(matches("libsqlite3", "libsqlite3.so.0"));
    }

    #[test]
    fn finds_libm_from_the_loader_cache_not_the_linker_script() {
        let path = find_library("m").unwrap();
        assert!(is_elf(&path), "{}", path.display());
        assert!(
            path.to_string_lossy().contains("libm.so."),
            "{}",
            path.display()
        );
    }

    #[test]
    fn a_missing_library_lists_where_it_looked() {
        let tried = find_library("ffikit-no-such-library").unwrap_err();
        assert!(tried.iter().any(|t| t.contains("ldconfig")));
        assert!(tried.iter().any(|t| t == "/usr/lib"));
    }
}
