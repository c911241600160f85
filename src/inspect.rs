//! `ffikit symbols`, `ffikit layout` and `ffikit check`: what a library exports, how declared
//! types are laid out, and whether declarations agree with the library.

use std::fmt::Write as _;

use ffikit_cdecl::{Declarations, QualType, Type};
use ffikit_inspect::{Binding, ExportedSymbol, SymbolKind};
use serde_json::{Value as Json, json};

/// The library file for a name or path, as ABI mode would find it (it is not loaded).
///
/// # Errors
///
/// The library cannot be found.
pub fn library_path(library: &str) -> Result<std::path::PathBuf, ffikit_abi::Error> {
    ffikit_inspect::find_library(library).map_err(|tried| ffikit_abi::Error::LibraryNotFound {
        name: library.to_owned(),
        tried,
    })
}

fn kind_word(kind: SymbolKind) -> &'static str {
    match kind {
        SymbolKind::Function => "function",
        SymbolKind::Data => "data",
        SymbolKind::ThreadLocal => "tls",
        _ => "other",
    }
}

/// `ffikit symbols`: one line per exported symbol, or JSON.
pub fn symbols_report(symbols: &[ExportedSymbol], as_json: bool) -> String {
    if as_json {
        let items: Vec<Json> = symbols
            .iter()
            .map(|s| {
                json!({
                    "name": s.name,
                    "version": s.version,
                    "default_version": s.default_version,
                    "kind": kind_word(s.kind),
                    "binding": if s.binding == Binding::Weak { "weak" } else { "global" },
                    "address": s.address,
                    "size": s.size,
                })
            })
            .collect();
        return Json::Array(items).to_string();
    }
    let mut text = String::new();
    for s in symbols {
        let binding = if s.binding == Binding::Weak {
            "weak"
        } else {
            "global"
        };
        let _ = writeln!(
            text,
            "{:016x} {:8} {:6} {:>8} {}",
            s.address,
            kind_word(s.kind),
            binding,
            s.size,
            s.versioned_name()
        );
    }
    text
}

/// `ffikit layout`: each type's size, alignment and members, with holes and padding, like
/// pahole. Without type names, every struct, union and enum the declarations define — for a
/// preprocessed header, the header's own and those its declarations use.
///
/// # Errors
///
/// Type names that do not parse.
pub fn layout_report(
    loaded: &mut crate::headers::Loaded,
    type_names: &[String],
) -> Result<String, ffikit_cdecl::Error> {
    let types: Vec<(String, QualType)> = if !type_names.is_empty() {
        type_names
            .iter()
            .map(|name| Ok((name.clone(), loaded.decls.parse_type(name)?)))
            .collect::<Result<_, ffikit_cdecl::Error>>()?
    } else if loaded.scope.is_some() {
        crate::headers::own_types(loaded)
    } else {
        let decls = &loaded.decls;
        let mut tags: Vec<_> = decls
            .tags()
            .filter_map(|(kind, tag, id)| decls.tag_span(kind, tag).map(|span| (span.start, id)))
            .collect();
        tags.sort();
        tags.into_iter()
            .map(|(_, id)| (decls.types().display(id), QualType::plain(id)))
            .collect()
    };
    let mut text = String::new();
    for (name, ty) in types {
        describe(&loaded.decls, &name, ty, &mut text);
    }
    Ok(text)
}

/// A text file of declarations: a regular file of at most `MAX_FILE_SIZE` bytes
/// (`/dev/zero` would be read forever), in UTF-8.
///
/// # Errors
///
/// The file cannot be read or is not UTF-8.
pub fn read_text(path: &std::path::Path) -> Result<String, String> {
    let bytes = ffikit_inspect::read_file(path).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "cannot read {}: not UTF-8 text (byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

fn describe(decls: &Declarations, name: &str, ty: QualType, text: &mut String) {
    let types = decls.types();
    let Ok((size, align)) = decls.size_align(ty.ty) else {
        let _ = writeln!(text, "{name}: incomplete (no size)\n");
        return;
    };
    match types.get(ty.ty) {
        Type::Enum(e) => {
            let enumeration = types.enumeration(*e);
            let _ = writeln!(
                text,
                "{name} {{ /* size {size}, align {align}, underlying {} */",
                enumeration.underlying.c_name()
            );
            for (enumerator, value) in enumeration.values.iter().flatten() {
                let _ = writeln!(text, "    {enumerator} = {value},");
            }
            let _ = writeln!(text, "}};\n");
        }
        Type::Record(_) => {
            let (record, layout) = decls
                .record_layout(ty.ty)
                .expect("complete records have layouts");
            let union = record.kind == ffikit_cdecl::RecordKind::Union;
            let _ = writeln!(text, "{name} {{ /* size {size}, align {align} */");
            let mut end_bits = 0u64;
            let mut used_bits = 0u64;
            for (field, place) in record.fields.iter().flatten().zip(&layout.fields) {
                let field_bits = match place.bit_width {
                    Some(width) => u64::from(width),
                    None => decls.size_align(field.ty.ty).map_or(0, |(s, _)| s * 8),
                };
                if !union && place.bit_offset > end_bits {
                    let _ = writeln!(
                        text,
                        "    /* hole: {} */",
                        bits_text(place.bit_offset - end_bits)
                    );
                }
                let declaration = types.declaration(field.ty, field.name.as_deref().unwrap_or(""));
                let member = match place.bit_width {
                    Some(width) => format!("{declaration} : {width};"),
                    None => format!("{declaration};"),
                };
                let position = if place.bit_width.is_some() {
                    format!(
                        "bit {}, {} bit{}",
                        place.bit_offset,
                        field_bits,
                        if field_bits == 1 { "" } else { "s" }
                    )
                } else {
                    format!("offset {}, size {}", place.bit_offset / 8, field_bits / 8)
                };
                let _ = writeln!(text, "    {member:<40} /* {position} */");
                end_bits = end_bits.max(place.bit_offset + field_bits);
                used_bits = used_bits.max(place.bit_offset + field_bits);
            }
            let total_bits = size * 8;
            if total_bits > used_bits {
                let _ = writeln!(
                    text,
                    "    /* padding: {} */",
                    bits_text(total_bits - used_bits)
                );
            }
            let _ = writeln!(text, "}};\n");
        }
        _ => {
            let _ = writeln!(text, "{name}: size {size}, align {align}\n");
        }
    }
}

fn bits_text(bits: u64) -> String {
    match (bits / 8, bits % 8) {
        (bytes, 0) => format!("{bytes} byte{}", if bytes == 1 { "" } else { "s" }),
        (0, rest) => format!("{rest} bit{}", if rest == 1 { "" } else { "s" }),
        (bytes, rest) => format!(
            "{bytes} byte{} {rest} bit{}",
            if bytes == 1 { "" } else { "s" },
            if rest == 1 { "" } else { "s" }
        ),
    }
}

/// `ffikit check`'s JSON form.
pub fn check_json(report: &ffikit_inspect::Verification) -> Json {
    json!({
        "ok": report.is_ok(),
        "types_checked": report.types_checked,
        "debug_file": report.debug_file.as_ref().map(|p| p.display().to_string()),
        "checked": { "functions": report.checked.0, "globals": report.checked.1, "types": report.checked.2 },
        "findings": report.findings.iter().map(|f| json!({
            "file": f.file,
            "line": f.line,
            "name": f.name,
            "kind": format!("{:?}", f.kind),
            "message": f.message,
        })).collect::<Vec<_>>(),
        "absent": report.absent.iter().map(|f| json!({
            "file": f.file,
            "line": f.line,
            "name": f.name,
        })).collect::<Vec<_>>(),
    })
}

/// Whether `input` names a library (an ELF file, or a name like `libz.so.1` the loader's
/// search finds) rather than a header.
pub fn is_library(input: &str) -> bool {
    let path = std::path::Path::new(input);
    if path.is_file() {
        return std::fs::File::open(path)
            .and_then(|mut f| {
                let mut magic = [0u8; 4];
                std::io::Read::read_exact(&mut f, &mut magic).map(|()| magic)
            })
            .is_ok_and(|magic| magic == *b"\x7fELF");
    }
    (input.ends_with(".so") || input.contains(".so.")) && library_path(input).is_ok()
}

/// Declarations read from a library's debug information, and what could not be declared
/// (name, why).
pub type FromDebugInfo = (ffikit_cdecl::Declarations, Vec<(String, String)>);

/// Declarations of a library without a header, from its DWARF (or its separate debug file,
/// found by build-id), parsed and checked against the same DWARF (sizes, member offsets):
/// the declarations, and what could not be declared with why.
///
/// # Errors
///
/// No such library, no debug information, or declarations the DWARF contradicts once laid
/// out (each named).
pub fn declarations_from_library(
    library: &str,
) -> Result<FromDebugInfo, Box<dyn std::error::Error>> {
    let path = library_path(library)?;
    let file = ffikit_inspect::LibraryFile::read(&path)?;
    let declared = file.declarations_from_debug_info().ok_or_else(|| {
        format!(
            "{} has no debug information (and no separate debug file found by build-id): \
             build it with -g, install its -dbg package, or give its header",
            path.display()
        )
    })?;
    let mut decls = ffikit_cdecl::Declarations::new();
    decls.cdef(&declared.text).map_err(|e| {
        format!("the declarations written from the debug information do not parse (a bug):\n{e}")
    })?;
    let report = file.verify_declarations(&decls, None);
    if !report.is_ok() {
        return Err(format!(
            "the declarations written from the debug information disagree with it once laid \
             out:\n{report}"
        )
        .into());
    }
    Ok((decls, declared.omitted))
}
