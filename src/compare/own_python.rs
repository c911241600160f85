//! The user's function from Python (`compare LIBRARY DECLARATION ARGS... --python`): ctypes,
//! CFFI's ABI mode and the ffikit module, each given declarations generated from the same C
//! model (a cdef for CFFI and ffikit, `argtypes`/`Structure`s for ctypes) and the same
//! arguments, each checked against the direct call's result and the bytes it left in the
//! objects the arguments point to, then timed in paired rounds in one Python process
//! (crates/ffikit-python/compare.py, `--own PLAN`).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use ffikit_cdecl::{Declarations, QualType, RecordKind, Scalar, Type, TypeId};
use serde_json::{Value as Json, json};

use super::harness::Signature;

/// The declarations CFFI's `cdef` (and ffikit's) needs for the call: every struct, union and
/// enum the signature reaches (through pointers too), then the function, all spelled with
/// typedefs resolved.
pub fn cdef(decls: &Declarations, signature: &Signature) -> Result<String, String> {
    let types = decls.types();
    let mut seen = BTreeSet::new();
    let mut text = String::new();
    for ty in signature.arguments().chain([signature.result]) {
        define(decls, ty.ty, &mut seen, &mut text)?;
    }
    let params: Vec<String> = signature.params.iter().map(|p| types.display(*p)).collect();
    let mut params = params.join(", ");
    if signature.is_variadic {
        params.push_str(", ...");
    } else if params.is_empty() {
        params.push_str("void");
    }
    let _ = writeln!(
        text,
        "{};",
        types.declaration(signature.result, &format!("{}({params})", signature.name))
    );
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
            let Some(fields) = &record.fields else {
                let _ = writeln!(text, "{name};");
                return Ok(());
            };
            for field in fields {
                define(decls, field.ty.ty, seen, text)?;
            }
            let keyword = match record.kind {
                RecordKind::Struct => "struct",
                RecordKind::Union => "union",
            };
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
                    "`{name}` is packed or aligned: CFFI's cdef cannot say so per type"
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

/// A C type as ctypes spells it: a type name (`c_ulong`), or a record as
/// `{"struct"|"union": [[name, spec, bits?], ...], "pack": N}`, or `{"array": [spec, N]}`.
pub fn ctypes(decls: &Declarations, ty: QualType) -> Result<Json, String> {
    let types = decls.types();
    let scalar = |s: Scalar| -> Result<Json, String> {
        let name = match s {
            Scalar::Bool => "c_bool",
            Scalar::Char | Scalar::SChar => "c_byte",
            Scalar::UChar => "c_ubyte",
            Scalar::Short => "c_short",
            Scalar::UShort | Scalar::Char16 => "c_ushort",
            Scalar::Int | Scalar::WChar => "c_int",
            Scalar::UInt | Scalar::Char32 => "c_uint",
            Scalar::Long => "c_long",
            Scalar::ULong => "c_ulong",
            Scalar::LongLong => "c_longlong",
            Scalar::ULongLong => "c_ulonglong",
            Scalar::Float => "c_float",
            Scalar::Double => "c_double",
            Scalar::LongDouble => "c_longdouble",
            other => return Err(format!("ctypes has no `{}`", other.c_name())),
        };
        Ok(json!(name))
    };
    match types.get(ty.ty) {
        Type::Void => Ok(Json::Null),
        Type::Scalar(s) => scalar(*s),
        Type::Enum(e) => scalar(types.enumeration(*e).underlying),
        Type::Pointer(p) => Ok(json!(if matches!(
            types.get(p.ty),
            Type::Scalar(Scalar::Char | Scalar::SChar | Scalar::UChar)
        ) {
            "c_char_p"
        } else {
            "c_void_p"
        })),
        Type::Array {
            element,
            len: Some(n),
        } => Ok(json!({ "array": [ctypes(decls, *element)?, n] })),
        Type::Record(r) => {
            let record = types.record(*r);
            let fields = record
                .fields
                .as_ref()
                .ok_or_else(|| format!("`{}` is incomplete", types.display(ty)))?;
            let members = fields
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let name = f.name.clone().unwrap_or_else(|| format!("_anonymous{i}"));
                    let spec = ctypes(decls, f.ty)?;
                    Ok(match f.bit_width {
                        Some(bits) => json!([name, spec, bits]),
                        None => json!([name, spec]),
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            let kind = match record.kind {
                RecordKind::Struct => "struct",
                RecordKind::Union => "union",
            };
            let mut spec = serde_json::Map::new();
            spec.insert(kind.into(), json!(members));
            if let Some(pack) = record.pack {
                spec.insert("pack".into(), json!(pack));
            }
            Ok(Json::Object(spec))
        }
        _ => Err(format!("ctypes cannot pass `{}` here", types.display(ty))),
    }
}

/// The plan compare.py runs: the library, the declarations, each argument (how to make it)
/// and what the direct call gave.
#[allow(
    clippy::too_many_arguments,
    reason = "one plan, built from the comparison's parts"
)]
pub fn plan(
    library: &str,
    decls: &Declarations,
    signature: &Signature,
    arguments: Vec<Json>,
    expected_result: &Json,
    expected_objects: &[(usize, String)],
    result_kind: &str,
    options: &super::Options,
) -> Json {
    let types = decls.types();
    let cdef = cdef(decls, signature);
    let ctypes_specs: Result<Vec<Json>, String> =
        signature.arguments().map(|ty| ctypes(decls, ty)).collect();
    let ctypes_result = ctypes(decls, signature.result);
    let ctypes_plan = match (ctypes_specs, ctypes_result) {
        (Ok(args), Ok(result)) => json!({ "argtypes": args, "restype": result }),
        (Err(why), _) | (_, Err(why)) => json!({ "unavailable": why }),
    };
    json!({
        "library": library,
        "function": signature.name,
        "cdef": cdef.as_ref().ok(),
        "cdef_unavailable": cdef.as_ref().err(),
        "ctypes": ctypes_plan,
        "fixed": signature.params.len(),
        "types": signature.arguments().map(|t| types.display(t)).collect::<Vec<_>>(),
        "arguments": arguments,
        "result": { "type": types.display(signature.result), "kind": result_kind },
        "expected": expected_result,
        "objects": expected_objects.iter().map(|(i, hex)| json!([i, hex])).collect::<Vec<_>>(),
        "samples": options.samples,
        "sample_ms": options.sample_time.as_secs_f64() * 1e3,
    })
}
