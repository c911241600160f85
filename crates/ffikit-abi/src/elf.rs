//! What a library's ELF file says about itself: its exported symbols (kind, binding, size,
//! version) and its debug information's location (in the file, or a separate file found by
//! build-id).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use object::read::elf::ElfFile64;
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind as Kind};

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

/// The defined symbols of a shared object's dynamic symbol table.
///
/// # Errors
///
/// The file cannot be read or is not a 64-bit ELF object.
pub fn exported_symbols(path: &Path) -> Result<Vec<ExportedSymbol>, String> {
    let data = read_file(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file = ElfFile64::<object::Endianness>::parse(&*data)
        .map_err(|e| format!("{} is not a 64-bit ELF file: {e}", path.display()))?;
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
pub(crate) fn export_kinds(path: &Path) -> HashMap<String, SymbolKind> {
    let mut kinds = HashMap::new();
    for symbol in exported_symbols(path).unwrap_or_default() {
        if symbol.default_version || !kinds.contains_key(&symbol.name) {
            kinds.insert(symbol.name, symbol.kind);
        }
    }
    kinds
}

/// The file holding `path`'s DWARF: the file itself when it has `.debug_info`, else a
/// separate debug file found by build-id under /usr/lib/debug.
pub(crate) fn debug_file(path: &Path) -> Option<PathBuf> {
    let data = read_file(path).ok()?;
    let file = object::File::parse(&*data).ok()?;
    if file
        .section_by_name(".debug_info")
        .is_some_and(|s| s.size() > 0)
    {
        return Some(path.to_path_buf());
    }
    let id = file.build_id().ok()??;
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let separate = PathBuf::from(format!(
        "/usr/lib/debug/.build-id/{}/{}.debug",
        &hex[..2],
        &hex[2..]
    ));
    separate.exists().then_some(separate)
}

/// Reads a whole file that is a regular file of at most [`MAX_OBJECT_SIZE`] bytes: a device
/// (`/dev/zero`), a FIFO or a directory given as a library or a header is refused instead of
/// read forever.
///
/// [`MAX_OBJECT_SIZE`]: crate::MAX_OBJECT_SIZE
///
/// # Errors
///
/// The file cannot be read, is not a regular file, or is larger than the limit.
pub fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let limit = crate::MAX_OBJECT_SIZE;
    let file = std::fs::File::open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let too_large = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("larger than {limit} bytes, the most ffikit reads"),
        )
    };
    if metadata.len() > limit {
        return Err(too_large());
    }
    let mut data = Vec::with_capacity(metadata.len() as usize);
    // Bounded even if the file grows while it is read.
    file.take(limit + 1).read_to_end(&mut data)?;
    if data.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(data)
}
