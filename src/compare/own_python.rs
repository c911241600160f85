//! The user's function from Python (`compare LIBRARY DECLARATION ARGS... --python`): ctypes,
//! CFFI's ABI mode and the ffikit module, each given declarations generated from the same C
//! model (a cdef for CFFI and ffikit, `argtypes`/`Structure`s for ctypes) and the same
//! arguments, each checked against the direct call's result and the bytes it left in the
//! objects the arguments point to, then timed in paired rounds in one Python process
//! (crates/ffikit-python/compare.py, `--own PLAN`).

use ffikit_cdecl::{Declarations, QualType, RecordKind, Scalar, Type};
use serde_json::{Value as Json, json};

use super::harness::Signature;

/// The declarations CFFI's `cdef` (and ffikit's) needs for the call: the function as the
/// comparison calls it and every struct, union and enum it reaches, typedefs resolved.
pub fn cdef(decls: &Declarations, signature: &Signature) -> Result<String, String> {
    let function = decls
        .function(&signature.name)
        .ok_or_else(|| format!("`{}` is not declared", signature.name))?;
    ffikit_gen::c_declaration_of(decls, function.ty, &signature.name)
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
