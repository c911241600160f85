//! Finding a library file from a name, as ctypes' `find_library` does: on Linux the user's
//! `LD_LIBRARY_PATH`, the dynamic loader's cache (`ldconfig -p`), then the standard
//! directories (`libm.so.6`, `libm.so`); on macOS `DYLD_LIBRARY_PATH`, the standard
//! directories and the frameworks (`libz.dylib`, `libz.1.dylib`, `Foo.framework/Foo`), then
//! `/usr/lib`'s name for the dyld shared cache, which holds the system's libraries without
//! files. Every place tried is kept for the error message.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

#[cfg(not(target_vendor = "apple"))]
const STANDARD_DIRS: &[&str] = &[
    #[cfg(target_arch = "x86_64")]
    "/lib/x86_64-linux-gnu",
    #[cfg(target_arch = "x86_64")]
    "/usr/lib/x86_64-linux-gnu",
    #[cfg(target_arch = "aarch64")]
    "/lib/aarch64-linux-gnu",
    #[cfg(target_arch = "aarch64")]
    "/usr/lib/aarch64-linux-gnu",
    #[cfg(target_arch = "riscv64")]
    "/usr/lib/riscv64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
    "/usr/local/lib",
];

#[cfg(target_vendor = "apple")]
const STANDARD_DIRS: &[&str] = &[
    "/usr/local/lib",
    "/opt/homebrew/lib",
    "/opt/local/lib",
    "/usr/lib",
    "/Library/Frameworks",
    "/System/Library/Frameworks",
];

/// The variable the loader searches first.
const SEARCH_PATH_VARIABLE: &str = if cfg!(target_vendor = "apple") {
    "DYLD_LIBRARY_PATH"
} else {
    "LD_LIBRARY_PATH"
};

/// The file names a library name may have: on Linux `m` → `libm.so` and `libm.so.*`,
/// `libz.so.1` as is; on macOS `z` → `libz.dylib`, `libz.*.dylib`, and `Foo` →
/// `Foo.framework` (its binary inside).
fn matches(name: &str, file_name: &str) -> bool {
    let suffix = if cfg!(target_vendor = "apple") {
        ".dylib"
    } else {
        ".so"
    };
    if name.contains(suffix) {
        return file_name == name;
    }
    let base = if name.starts_with("lib") {
        name.to_owned()
    } else {
        format!("lib{name}")
    };
    if cfg!(target_vendor = "apple") {
        file_name == format!("{base}.dylib")
            || (file_name.starts_with(&format!("{base}.")) && file_name.ends_with(".dylib"))
            || file_name == format!("{name}.framework")
    } else {
        file_name == format!("{base}.so") || file_name.starts_with(&format!("{base}.so."))
    }
}

/// Whether the file is a loadable object of this platform's format: ELF (not, say, the linker
/// script `libm.so` is on Debian), or Mach-O (thin or universal) on macOS.
fn is_loadable(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic));
    if read.is_err() {
        return false;
    }
    if cfg!(target_vendor = "apple") {
        matches!(
            u32::from_be_bytes(magic),
            0xfeed_facf | 0xcffa_edfe | 0xcafe_babe | 0xbeba_feca
        )
    } else {
        magic == *b"\x7fELF"
    }
}

/// A framework's binary (`Foo.framework/Foo`), or the path itself.
fn framework_binary(path: PathBuf) -> PathBuf {
    match path
        .file_name()
        .and_then(|f| f.to_str())
        .and_then(|f| f.strip_suffix(".framework"))
    {
        Some(name) => path.join(name),
        None => path,
    }
}

/// The loader cache's entries for this machine's word size: (file name, path).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
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
        // ldconfig marks each entry with its ABI: this machine's word size and architecture.
        let arch = match std::env::consts::ARCH {
            "x86_64" => "x86-64",
            "aarch64" => "AArch64",
            "riscv64" => "RISC-V",
            _ => "",
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

/// The file a library name (`m`, `libz.so.1`, `sqlite3`) or path stands for, found as
/// ctypes' `find_library` would, without loading it; or every place tried.
///
/// # Errors
///
/// Every place tried, for the message.
pub fn find_library(name: &str) -> Result<PathBuf, Vec<String>> {
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
            .map(|entry| framework_binary(entry.path()))
            .filter(|path| is_loadable(path))
            .collect();
        found.sort();
        found.into_iter().next()
    };
    if let Some(paths) = std::env::var_os(SEARCH_PATH_VARIABLE) {
        for dir in std::env::split_paths(&paths).filter(|d| !d.as_os_str().is_empty()) {
            if let Some(found) = search_dir(&dir, &mut tried) {
                return Ok(found);
            }
        }
    }
    if cfg!(target_os = "linux") {
        tried.push("the dynamic loader's cache (ldconfig -p)".into());
        if let Some((_, path)) = loader_cache()
            .iter()
            .find(|(file, path)| matches(name, file) && is_loadable(path))
        {
            return Ok(path.clone());
        }
    }
    for dir in STANDARD_DIRS {
        if let Some(found) = search_dir(Path::new(dir), &mut tried) {
            return Ok(found);
        }
    }
    if cfg!(target_vendor = "apple") {
        // The system's libraries live in the dyld shared cache, with no file on disk: dlopen
        // finds them by their /usr/lib path (and says so if it cannot).
        let base = name.strip_prefix("lib").unwrap_or(name);
        let cached = if name.ends_with(".dylib") {
            format!("/usr/lib/{name}")
        } else {
            format!("/usr/lib/lib{base}.dylib")
        };
        return Ok(PathBuf::from(cached));
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
        assert!(is_loadable(&path), "{}", path.display());
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
