//! The dynamic symbol table as the dynamic loader finds it: through the dynamic segment
//! (`PT_DYNAMIC`), not the section headers, which the loader never reads (a file may have
//! none, or damaged ones, and still load). Every address is mapped through the `PT_LOAD`
//! segments into the file, and every table is bounds-checked: a damaged file is an error
//! naming the table, never a read outside the bytes.

use object::elf::{self, FileHeader64, Sym64};
use object::read::elf::{FileHeader, GnuHashTable, HashTable, ProgramHeader, Sym};
use object::{Endianness, pod};

use crate::elf::{Binding, ExportedSymbol, SymbolKind};

/// What the dynamic section says, by tag (addresses are virtual).
#[derive(Debug, Default)]
struct Tags {
    symtab: Option<u64>,
    strtab: Option<u64>,
    strsz: Option<u64>,
    gnu_hash: Option<u64>,
    hash: Option<u64>,
    versym: Option<u64>,
    verdef: Option<u64>,
    verdefnum: Option<u64>,
}

/// The exported symbols read through the dynamic segment; `Ok(None)` when the file has no
/// dynamic segment (or no symbol table in it), for the section headers to answer instead.
pub(crate) fn exported_symbols(
    header: &FileHeader64<Endianness>,
    endian: Endianness,
    data: &[u8],
) -> Result<Option<Vec<ExportedSymbol>>, String> {
    let segments = header
        .program_headers(endian, data)
        .map_err(|e| format!("the program headers: {e}"))?;
    let Some(dynamic) = segments
        .iter()
        .find(|s| s.p_type(endian) == elf::PT_DYNAMIC)
    else {
        return Ok(None);
    };
    let entries = dynamic
        .dynamic(endian, data)
        .map_err(|e| format!("the dynamic segment: {e}"))?
        .unwrap_or_default();
    let mut tags = Tags::default();
    for entry in entries {
        let value = entry.d_val.get(endian);
        let slot = match entry.d_tag.get(endian) as u32 {
            elf::DT_NULL => break,
            elf::DT_SYMTAB => &mut tags.symtab,
            elf::DT_STRTAB => &mut tags.strtab,
            elf::DT_STRSZ => &mut tags.strsz,
            elf::DT_GNU_HASH => &mut tags.gnu_hash,
            elf::DT_HASH => &mut tags.hash,
            elf::DT_VERSYM => &mut tags.versym,
            elf::DT_VERDEF => &mut tags.verdef,
            elf::DT_VERDEFNUM => &mut tags.verdefnum,
            _ => continue,
        };
        *slot = Some(value);
    }
    let Some(symtab) = tags.symtab else {
        return Ok(None);
    };
    // Virtual address → the file's bytes from there on, through the PT_LOAD segments.
    let at = |address: u64, what: &str| -> Result<&[u8], String> {
        segments
            .iter()
            .filter(|s| s.p_type(endian) == elf::PT_LOAD)
            .find_map(|s| {
                let start = s.p_vaddr(endian);
                let offset = address.checked_sub(start)?;
                (offset < s.p_filesz(endian)).then(|| {
                    let file_offset = s.p_offset(endian).checked_add(offset)?;
                    let end = s.p_offset(endian).checked_add(s.p_filesz(endian))?;
                    data.get(usize::try_from(file_offset).ok()?..usize::try_from(end).ok()?)
                })?
            })
            .ok_or_else(|| format!("{what} at {address:#x} is outside the file's loaded segments"))
    };
    let count = symbol_count(&tags, endian, &at)?;
    let table = at(symtab, "the symbol table (DT_SYMTAB)")?;
    let (symbols, _) = pod::slice_from_bytes::<Sym64<Endianness>>(table, count)
        .map_err(|()| format!("the symbol table is cut short: {count} symbols do not fit"))?;
    let strings = match (tags.strtab, tags.strsz) {
        (Some(address), Some(size)) => {
            let bytes = at(address, "the string table (DT_STRTAB)")?;
            bytes
                .get(..usize::try_from(size).unwrap_or(usize::MAX))
                .ok_or("the string table is cut short")?
        }
        _ => return Err("the dynamic segment has a symbol table but no string table".into()),
    };
    let versions = versions(&tags, endian, count, strings, &at)?;

    let mut exported = Vec::new();
    for (index, symbol) in symbols.iter().enumerate() {
        if symbol.st_shndx(endian) == elf::SHN_UNDEF {
            continue;
        }
        let name = string(strings, symbol.st_name(endian))
            .ok_or_else(|| format!("symbol {index}'s name is outside the string table"))?;
        if name.is_empty() {
            continue;
        }
        let kind = match symbol.st_type() {
            elf::STT_FUNC | elf::STT_GNU_IFUNC => SymbolKind::Function,
            elf::STT_OBJECT | elf::STT_COMMON => SymbolKind::Data,
            elf::STT_TLS => SymbolKind::ThreadLocal,
            _ => SymbolKind::Other,
        };
        let binding = if symbol.st_bind() == elf::STB_WEAK {
            Binding::Weak
        } else {
            Binding::Global
        };
        let (version, default_version) = match &versions {
            Some((indices, names)) => {
                let raw = indices.get(index).copied().unwrap_or(0);
                // Indices 0 and 1 are "local" and "global": no version (1's definition is
                // the library's own name, the base, which nm does not print either).
                let version = names
                    .iter()
                    .find(|(ndx, _)| *ndx == raw & elf::VERSYM_VERSION && *ndx > 1)
                    .map(|(_, name)| name.clone());
                (version, raw & elf::VERSYM_HIDDEN == 0)
            }
            None => (None, true),
        };
        exported.push(ExportedSymbol {
            name: String::from_utf8_lossy(name).into_owned(),
            version,
            default_version,
            kind,
            binding,
            address: symbol.st_value(endian),
            size: symbol.st_size(endian),
        });
    }
    Ok(Some(exported))
}

/// How many symbols the table holds: the dynamic segment does not say directly, the hash
/// tables do (DT_HASH's chain count, or the end of DT_GNU_HASH's last chain).
fn symbol_count<'d>(
    tags: &Tags,
    endian: Endianness,
    at: &impl Fn(u64, &str) -> Result<&'d [u8], String>,
) -> Result<usize, String> {
    if let Some(address) = tags.gnu_hash {
        let bytes = at(address, "the GNU hash table (DT_GNU_HASH)")?;
        let table = GnuHashTable::<FileHeader64<Endianness>>::parse(endian, bytes)
            .map_err(|e| format!("the GNU hash table: {e}"))?;
        return table
            .symbol_table_length(endian)
            .map(|n| n as usize)
            .ok_or_else(|| "the GNU hash table's chains are cut short".into());
    }
    if let Some(address) = tags.hash {
        let bytes = at(address, "the hash table (DT_HASH)")?;
        let table = HashTable::<FileHeader64<Endianness>>::parse(endian, bytes)
            .map_err(|e| format!("the hash table: {e}"))?;
        return Ok(table.symbol_table_length() as usize);
    }
    Err("the dynamic segment has no hash table to count the symbols by".into())
}

/// Each symbol's version index (DT_VERSYM) and the version names by index (DT_VERDEF), when
/// the library defines versions.
type Versions = (Vec<u16>, Vec<(u16, String)>);

fn versions<'d>(
    tags: &Tags,
    endian: Endianness,
    count: usize,
    strings: &[u8],
    at: &impl Fn(u64, &str) -> Result<&'d [u8], String>,
) -> Result<Option<Versions>, String> {
    let (Some(versym), Some(verdef)) = (tags.versym, tags.verdef) else {
        return Ok(None);
    };
    let bytes = at(versym, "the version indices (DT_VERSYM)")?;
    let (indices, _) = pod::slice_from_bytes::<object::U16<Endianness>>(bytes, count)
        .map_err(|()| "the version indices are cut short".to_owned())?;
    let indices = indices.iter().map(|i| i.get(endian)).collect();
    let mut names = Vec::new();
    let mut entry = at(verdef, "the version definitions (DT_VERDEF)")?;
    // At most DT_VERDEFNUM entries, and never more than the bytes could hold: a cycle of
    // `vd_next` cannot run forever.
    let limit = tags.verdefnum.unwrap_or(u64::MAX).min(entry.len() as u64);
    for _ in 0..limit {
        let (definition, _) = pod::from_bytes::<elf::Verdef<Endianness>>(entry)
            .map_err(|()| "a version definition is cut short".to_owned())?;
        let aux = entry
            .get(definition.vd_aux.get(endian) as usize..)
            .and_then(|bytes| pod::from_bytes::<elf::Verdaux<Endianness>>(bytes).ok())
            .ok_or("a version definition's name is outside the file")?
            .0;
        let name = string(strings, aux.vda_name.get(endian))
            .ok_or("a version name is outside the string table")?;
        names.push((
            definition.vd_ndx.get(endian),
            String::from_utf8_lossy(name).into_owned(),
        ));
        match definition.vd_next.get(endian) {
            0 => break,
            next => {
                entry = entry
                    .get(next as usize..)
                    .ok_or("the next version definition is outside the file")?;
            }
        }
    }
    Ok(Some((indices, names)))
}

/// The NUL-terminated string at `offset` of a string table.
fn string(table: &[u8], offset: u32) -> Option<&[u8]> {
    let rest = table.get(offset as usize..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    Some(&rest[..end])
}
