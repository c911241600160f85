//! What a library's ELF file says about itself: its exported symbols (kind, binding, size,
//! version) and its debug information's location (in the file, or a separate file found by
//! build-id).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use object::elf::FileHeader64;
use object::read::elf::{ElfFile64, FileHeader};
use object::{Endianness, Object, ObjectSection, ObjectSymbol, SymbolKind as Kind};

use crate::error::Error;

/// What an exported symbol is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolKind {
    /// Code (`STT_FUNC`, and `STT_GNU_IFUNC` resolvers).
    Function,
    /// A data object (`STT_OBJECT`, `STT_COMMON`).
    Data,
    /// Thread-local data (`STT_TLS`).
    ThreadLocal,
    /// Anything else (version definitions, absolute symbols).
    Other,
}

/// `STB_GLOBAL` or `STB_WEAK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// Global.
    Global,
    /// Weak.
    Weak,
}

/// One defined symbol of a library's dynamic symbol table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedSymbol {
    /// The name, without version.
    pub name: String,
    /// The symbol version (`GLIBC_2.14`), if versioned.
    pub version: Option<String>,
    /// Whether the version is the default one (`name@@VERSION`) rather than an old one kept
    /// for compatibility (`name@VERSION`).
    pub default_version: bool,
    /// The kind.
    pub kind: SymbolKind,
    /// Global or weak.
    pub binding: Binding,
    /// The address relative to the library's load address.
    pub address: u64,
    /// The size in bytes (0 when unknown).
    pub size: u64,
}

impl ExportedSymbol {
    /// `name@@VERSION`, `name@VERSION` or `name`, as `nm -D` prints it.
    pub fn versioned_name(&self) -> String {
        match &self.version {
            Some(version) if version != &self.name => {
                let at = if self.default_version { "@@" } else { "@" };
                format!("{}{at}{version}", self.name)
            }
            _ => self.name.clone(),
        }
    }
}

/// The defined symbols of a shared object's dynamic symbol table, as the dynamic loader sees
/// them: found through the dynamic segment (`PT_DYNAMIC`: `DT_SYMTAB`, `DT_STRTAB`,
/// `DT_GNU_HASH`/`DT_HASH` for their number, `DT_VERSYM`/`DT_VERDEF` for versions), so a file
/// whose section headers are missing or damaged still lists what it exports. Files without a
/// dynamic segment fall back to the section headers (`.dynsym`).
///
/// # Errors
///
/// The file cannot be read, is not a 64-bit ELF object, or its tables point outside it.
pub fn exported_symbols(path: &Path) -> Result<Vec<ExportedSymbol>, Error> {
    let data = read_file(path)?;
    let not_elf = |reason: String| Error::NotElf {
        path: path.to_owned(),
        reason,
    };
    let header = FileHeader64::<Endianness>::parse(&*data).map_err(|e| not_elf(e.to_string()))?;
    let endian = header.endian().map_err(|e| not_elf(e.to_string()))?;
    match crate::dynamic::exported_symbols(header, endian, &data) {
        Ok(Some(symbols)) => Ok(symbols),
        Ok(None) => from_sections(&data).map_err(|what| Error::Malformed {
            path: path.to_owned(),
            what,
        }),
        Err(what) => Err(Error::Malformed {
            path: path.to_owned(),
            what,
        }),
    }
}

/// The defined symbols of `.dynsym`, through the section headers.
pub(crate) fn from_sections(data: &[u8]) -> Result<Vec<ExportedSymbol>, String> {
    let file = ElfFile64::<Endianness>::parse(data).map_err(|e| e.to_string())?;
    let endian = file.endian();
    let versions = file
        .elf_section_table()
        .versions(endian, file.data())
        .map_err(|e| format!("bad version table: {e}"))?;
    let mut symbols = Vec::new();
    for symbol in file.dynamic_symbols() {
        if symbol.is_undefined() || symbol.name().is_ok_and(str::is_empty) {
            continue;
        }
        let kind = match symbol.kind() {
            Kind::Text => SymbolKind::Function,
            Kind::Data => SymbolKind::Data,
            Kind::Tls => SymbolKind::ThreadLocal,
            _ => SymbolKind::Other,
        };
        let binding = if symbol.is_weak() {
            Binding::Weak
        } else {
            Binding::Global
        };
        let (version, default_version) = match &versions {
            Some(table) => {
                let index = table.version_index(endian, symbol.index());
                let name = table
                    .version(index)
                    .ok()
                    .flatten()
                    .map(|v| String::from_utf8_lossy(v.name()).into_owned());
                (name, !index.is_hidden())
            }
            None => (None, true),
        };
        symbols.push(ExportedSymbol {
            name: symbol.name().unwrap_or_default().to_owned(),
            version,
            default_version,
            kind,
            binding,
            address: symbol.address(),
            size: symbol.size(),
        });
    }
    Ok(symbols)
}

/// The kind of each exported name (the default version's, where several).
pub(crate) fn export_kinds(symbols: Vec<ExportedSymbol>) -> HashMap<String, SymbolKind> {
    let mut kinds = HashMap::new();
    for symbol in symbols {
        if symbol.default_version || !kinds.contains_key(&symbol.name) {
            kinds.insert(symbol.name, symbol.kind);
        }
    }
    kinds
}

/// The file holding `path`'s DWARF: the file itself when it has `.debug_info`, else a
/// separate debug file found by build-id (`/usr/lib/debug/.build-id/xx/yyyy.debug`) or by
/// `.gnu_debuglink` (beside the file, in its `.debug/`, or under `/usr/lib/debug`).
pub(crate) fn debug_file(path: &Path) -> Option<PathBuf> {
    let data = read_file(path).ok()?;
    let file = object::File::parse(&*data).ok()?;
    if file
        .section_by_name(".debug_info")
        .is_some_and(|s| s.size() > 0)
    {
        return Some(path.to_path_buf());
    }
    if let Ok(Some(id)) = file.build_id() {
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        if hex.len() > 2 {
            let separate = PathBuf::from(format!(
                "/usr/lib/debug/.build-id/{}/{}.debug",
                &hex[..2],
                &hex[2..]
            ));
            if separate.is_file() {
                return Some(separate);
            }
        }
    }
    let (name, _crc) = file.gnu_debuglink().ok()??;
    let name = Path::new(std::str::from_utf8(name).ok()?);
    // Only a file name: a debuglink naming `../../etc/x` is not followed.
    if name.components().count() != 1 {
        return None;
    }
    let dir = path.parent()?;
    let absolute = std::fs::canonicalize(dir).ok()?;
    [
        dir.join(name),
        dir.join(".debug").join(name),
        Path::new("/usr/lib/debug")
            .join(absolute.strip_prefix("/").ok()?)
            .join(name),
    ]
    .into_iter()
    .find(|candidate| candidate.is_file() && candidate != path)
}

/// The largest file ffikit reads (a library, its debug file, a header): 1 GiB.
pub const MAX_FILE_SIZE: u64 = 1 << 30;

/// Reads a whole file that is a regular file of at most [`MAX_FILE_SIZE`] bytes: a device
/// (`/dev/zero`), a FIFO or a directory given as a library or a header is refused instead of
/// read forever, and the bytes are ffikit's own copy, so the file changing while it is
/// inspected cannot change what was read.
///
/// # Errors
///
/// [`Error::Read`]: the file cannot be read, is not a regular file, or is larger than the
/// limit.
pub fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let error = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    let invalid = |message: String| {
        error(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            message,
        ))
    };
    let file = std::fs::File::open(path).map_err(error)?;
    let metadata = file.metadata().map_err(error)?;
    if !metadata.is_file() {
        return Err(invalid("not a regular file".into()));
    }
    let too_large = || {
        invalid(format!(
            "larger than {MAX_FILE_SIZE} bytes, the most ffikit reads"
        ))
    };
    if metadata.len() > MAX_FILE_SIZE {
        return Err(too_large());
    }
    let mut data = Vec::with_capacity(metadata.len() as usize);
    // Bounded even if the file grows while it is read.
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut data)
        .map_err(error)?;
    if data.len() as u64 > MAX_FILE_SIZE {
        return Err(too_large());
    }
    Ok(data)
}
