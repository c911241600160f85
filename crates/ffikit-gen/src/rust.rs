//! C types spelled as Rust types of the same ABI.

use ffikit_cdecl::{QualType, Qualifiers, Scalar, Type};

use crate::Generator;

/// Where a type is spelled: some C types read differently there (an array parameter is a
/// pointer, `void` a result is nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Parameter,
    Result,
    Member,
    Typedef,
}

/// x86-64's `__va_list_tag` (the System V ABI's layout), emitted when a `va_list` is used.
pub(crate) const VA_LIST_TAG: &str = "/// x86-64's `va_list` element (System V ABI).\n#[repr(C)]\n#[derive(Debug, Copy, Clone)]\npub struct __va_list_tag {\n    pub gp_offset: ::std::ffi::c_uint,\n    pub fp_offset: ::std::ffi::c_uint,\n    pub overflow_arg_area: *mut ::std::ffi::c_void,\n    pub reg_save_area: *mut ::std::ffi::c_void,\n}\nconst _: () = {\n    assert!(::std::mem::size_of::<__va_list_tag>() == 24);\n    assert!(::std::mem::align_of::<__va_list_tag>() == 8);\n    assert!(::std::mem::offset_of!(__va_list_tag, gp_offset) == 0);\n    assert!(::std::mem::offset_of!(__va_list_tag, fp_offset) == 4);\n    assert!(::std::mem::offset_of!(__va_list_tag, overflow_arg_area) == 8);\n    assert!(::std::mem::offset_of!(__va_list_tag, reg_save_area) == 16);\n};\n\n";

/// `_Complex float` and `_Complex double`: a pair, classified as C classifies the complex
/// type on x86-64 (two SSE eightbytes, or one for two floats).
pub(crate) const COMPLEX: &str = "#[repr(C)]\n#[derive(Debug, Copy, Clone, Default, PartialEq)]\npub struct __ffikit_Complex<T> {\n    pub re: T,\n    pub im: T,\n}\n\n";

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "try",
    "type", "unsafe", "use", "where", "while", "yield", "abstract", "become", "box", "do", "final",
    "macro", "override", "priv", "typeof", "unsized", "virtual", "_",
];

/// A C identifier as a Rust one: keywords get a trailing `_`, as bindgen spells them.
pub(crate) fn identifier(name: &str) -> String {
    if KEYWORDS.contains(&name) {
        format!("{name}_")
    } else {
        name.to_owned()
    }
}

/// bindgen's spelling of the pointer-sized typedefs, for a declaration that used one: the
/// same ABI as the `c_ulong`/`c_long` the model resolves them to, and what Rust code passes.
pub(crate) fn spelled(typedef: Option<&str>, rust: String) -> String {
    match (typedef, rust.as_str()) {
        (Some("size_t" | "uintptr_t"), "::std::ffi::c_ulong") => "usize".into(),
        (Some("ssize_t" | "intptr_t" | "ptrdiff_t"), "::std::ffi::c_long") => "isize".into(),
        _ => rust,
    }
}

/// An arithmetic type's Rust spelling, when it has one of the same ABI.
pub(crate) fn scalar(scalar: Scalar) -> Result<&'static str, String> {
    Ok(match scalar {
        Scalar::Bool => "bool",
        Scalar::Char => "::std::ffi::c_char",
        Scalar::SChar => "::std::ffi::c_schar",
        Scalar::UChar => "::std::ffi::c_uchar",
        Scalar::Short => "::std::ffi::c_short",
        Scalar::UShort => "::std::ffi::c_ushort",
        Scalar::Int => "::std::ffi::c_int",
        Scalar::UInt => "::std::ffi::c_uint",
        Scalar::Long => "::std::ffi::c_long",
        Scalar::ULong => "::std::ffi::c_ulong",
        Scalar::LongLong => "::std::ffi::c_longlong",
        Scalar::ULongLong => "::std::ffi::c_ulonglong",
        Scalar::Int128 => "i128",
        Scalar::UInt128 => "u128",
        Scalar::Float => "f32",
        Scalar::Double => "f64",
        Scalar::WChar => "::std::ffi::c_int",
        Scalar::Char16 => "u16",
        Scalar::Char32 => "u32",
        Scalar::ComplexFloat => "__ffikit_Complex<f32>",
        Scalar::ComplexDouble => "__ffikit_Complex<f64>",
        // Size and alignment right, as bindgen spells it; never passed by value (below).
        Scalar::LongDouble => "u128",
        Scalar::ComplexLongDouble => {
            return Err("`long double _Complex` has no Rust type".into());
        }
        other => return Err(format!("`{}` has no Rust type here", other.c_name())),
    })
}

impl Generator<'_> {
    /// `ty` as Rust spells it at `place`; `context` names anonymous records met on the way.
    pub(crate) fn rust_type(
        &mut self,
        ty: QualType,
        place: Place,
        context: &str,
    ) -> Result<String, String> {
        let types = self.decls.types();
        match types.get(ty.ty).clone() {
            Type::Void if place == Place::Result => Ok(String::new()),
            Type::Void => Ok("::std::ffi::c_void".into()),
            Type::Scalar(Scalar::LongDouble) if matches!(place, Place::Parameter | Place::Result) => {
                Err("`long double` by value: no Rust type travels on the x87 stack (bindgen's u128 would pass it in integer registers)".into())
            }
            Type::Scalar(s) => scalar(s).map(str::to_owned),
            Type::Enum(_) => {
                self.queue(ty.ty);
                Ok(self.type_name(ty.ty, context))
            }
            Type::Record(_) => {
                self.queue(ty.ty);
                Ok(self.type_name(ty.ty, context))
            }
            Type::Pointer(pointee) => {
                if let Type::Function(_) = types.get(pointee.ty) {
                    return self.function_pointer(pointee, context);
                }
                let inner = self.rust_type(pointee, Place::Member, context)?;
                let mutability = if pointee.quals.contains(Qualifiers::CONST) {
                    "const"
                } else {
                    "mut"
                };
                Ok(format!("*{mutability} {inner}"))
            }
            Type::Array { element, len } => {
                if place == Place::Parameter {
                    let inner = self.rust_type(element, Place::Member, context)?;
                    let mutability = if element.quals.contains(Qualifiers::CONST) {
                        "const"
                    } else {
                        "mut"
                    };
                    return Ok(format!("*{mutability} {inner}"));
                }
                let inner = self.rust_type(element, Place::Member, context)?;
                Ok(format!("[{inner}; {}]", len.unwrap_or(0)))
            }
            Type::Function(_) if place == Place::Typedef || place == Place::Parameter => {
                self.function_pointer(ty, context)
            }
            Type::Function(_) => Err("a function type as a value".into()),
            // x86-64's `va_list` is an array of one `__va_list_tag`: a parameter is a pointer
            // to it, as bindgen spells it.
            Type::VaList if place == Place::Parameter => {
                self.va_list = true;
                Ok("*mut __va_list_tag".into())
            }
            Type::VaList => {
                self.va_list = true;
                Ok("[__va_list_tag; 1]".into())
            }
            _ => Err(format!("`{}` has no Rust type here", types.display(ty))),
        }
    }

    /// `Option<unsafe extern "C" fn(...) -> R>`: a C function pointer, NULL as `None`.
    fn function_pointer(&mut self, function: QualType, context: &str) -> Result<String, String> {
        let types = self.decls.types();
        let Type::Function(signature) = types.get(function.ty).clone() else {
            unreachable!("called with a function type")
        };
        let mut params = Vec::new();
        for (index, param) in signature.params.iter().enumerate() {
            params.push(format!(
                "arg{}: {}",
                index + 1,
                self.rust_type(*param, Place::Parameter, context)?
            ));
        }
        if signature.variadic {
            params.push("...".into());
        }
        let result = self.rust_type(signature.result, Place::Result, context)?;
        let arrow = if result.is_empty() {
            String::new()
        } else {
            format!(" -> {result}")
        };
        Ok(format!(
            "::std::option::Option<unsafe extern \"C\" fn({}){arrow}>",
            params.join(", ")
        ))
    }
}
