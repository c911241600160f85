//! Plain C declarations of chosen functions and every struct, union and enum they reach,
//! typedefs resolved: what CFFI's `cdef` and ffikit-abi's `Library::cdef` read without a
//! preprocessor (the dynamic-loading form embeds them; `ffikit compare --python` feeds them
//! to CFFI).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use ffikit_cdecl::{Declarations, QualType, RecordKind, Type, TypeId};

/// The declarations of `functions` (by name; those not declared are left out) and of what
/// their types reach.
///
/// # Errors
///
/// A type with no C spelling on its own (an anonymous record outside a typedef), or a record
/// whose packing or alignment attributes `cdef` cannot carry.
pub fn c_declarations(decls: &Declarations, functions: &[&str]) -> Result<String, String> {
    let mut seen = BTreeSet::new();
    let mut text = String::new();
    let mut prototypes = String::new();
    for name in functions {
        let Some(function) = decls.function(name) else {
            continue;
        };
        define(decls, function.ty, &mut seen, &mut text)?;
        let label = function
            .asm_name
            .as_ref()
            .map(|symbol| format!(" __asm__(\"{symbol}\")"))
            .unwrap_or_default();
        let _ = writeln!(
            prototypes,
            "{}{label};",
            decls.types().declaration(function.ty, name)
        );
    }
    text.push_str(&prototypes);
    Ok(text)
}

/// The declaration of one function of type `ty` named `name`, and what its types reach.
///
/// # Errors
///
/// As [`c_declarations`].
pub fn c_declaration_of(decls: &Declarations, ty: TypeId, name: &str) -> Result<String, String> {
    let mut seen = BTreeSet::new();
    let mut text = String::new();
    define(decls, ty, &mut seen, &mut text)?;
    let _ = writeln!(text, "{};", decls.types().declaration(ty, name));
    Ok(text)
}

/// Defines the records and enums `id` reaches, members first.
fn define(
    decls: &Declarations,
    id: TypeId,
    seen: &mut BTreeSet<TypeId>,
    text: &mut String,
) -> Result<(), String> {
    if !seen.insert(id) {
        return Ok(());
    }
    let types = decls.types();
    match types.get(id) {
        Type::Pointer(p) => define(decls, p.ty, seen, text),
        Type::Array { element, .. } => define(decls, element.ty, seen, text),
        Type::Function(f) => {
            for ty in f.params.iter().chain([&f.result]) {
                define(decls, ty.ty, seen, text)?;
            }
            Ok(())
        }
        Type::Record(r) => {
            let record = types.record(*r);
            let name = types.display(QualType::plain(id));
            let keyword = match record.kind {
                RecordKind::Struct => "struct",
                RecordKind::Union => "union",
            };
            let Some(fields) = &record.fields else {
                if name.starts_with(keyword) {
                    let _ = writeln!(text, "{name};");
                } else {
                    let _ = writeln!(text, "typedef {keyword} {name} {name};");
                }
                return Ok(());
            };
            for field in fields {
                define(decls, field.ty.ty, seen, text)?;
            }
            let mut body = String::new();
            for field in fields {
                let member = field.name.as_deref().unwrap_or("");
                let _ = write!(body, "    {}", types.declaration(field.ty, member));
                if let Some(width) = field.bit_width {
                    let _ = write!(body, " : {width}");
                }
                body.push_str(";\n");
            }
            if record.pack.is_some() || record.aligned.is_some() {
                return Err(format!(
                    "`{name}` is packed or aligned: a cdef cannot say so per type"
                ));
            }
            if name.starts_with(keyword) {
                let _ = writeln!(text, "{name} {{\n{body}}};");
            } else if name.contains('<') {
                return Err(format!("`{name}` is anonymous: no name to declare it by"));
            } else {
                let _ = writeln!(text, "typedef {keyword} {{\n{body}}} {name};");
            }
            Ok(())
        }
        Type::Enum(e) => {
            let enumeration = types.enumeration(*e);
            let name = types.display(QualType::plain(id));
            let values = enumeration.values.as_deref().unwrap_or_default();
            let list: Vec<String> = values.iter().map(|(n, v)| format!("{n} = {v}")).collect();
            if name.starts_with("enum") {
                let _ = writeln!(text, "{name} {{ {} }};", list.join(", "));
            } else {
                let _ = writeln!(text, "typedef enum {{ {} }} {name};", list.join(", "));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
