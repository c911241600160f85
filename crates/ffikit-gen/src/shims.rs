//! What has no symbol made callable: `static inline` functions and function-like macros get
//! C wrappers (compiled by the caller with `cc`, as bindgen's `wrap_static_fns` does for
//! inline functions), and Rust declarations of the wrappers under the C names.
//!
//! A function-like macro is wrapped when its types can be inferred from what it expands to:
//! its replacement text is one call of a declared function (parentheses around the whole
//! allowed), and each of its parameters is, alone (or parenthesized), one whole argument of
//! that call — `#define deflateInit(strm, level) deflateInit_((strm), (level),
//! ZLIB_VERSION, (int)sizeof(z_stream))`. Each parameter takes that argument's type, the
//! wrapper the callee's result. Every other form (operators, several statements, a parameter
//! inside a larger expression, `...`) is left out with a note saying why.

use std::fmt::Write as _;

use ffikit_cdecl::{FunctionDecl, FunctionMacro, QualType, Type};

use crate::Generator;
use crate::rust::{self, Place};

/// The prefix of the C wrappers' names.
pub const SHIM_PREFIX: &str = "ffikit_shim_";

/// Strips parentheses that enclose the whole text.
fn unparenthesize(mut text: &str) -> &str {
    loop {
        let trimmed = text.trim();
        if trimmed.starts_with('(') && closing(trimmed, 0) == Some(trimmed.len() - 1) {
            text = &trimmed[1..trimmed.len() - 1];
        } else {
            return trimmed;
        }
    }
}

/// The index of the parenthesis closing the one at `open`.
fn closing(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote = None;
    let bytes = text.as_bytes();
    let mut i = open;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(_) if c == b'\\' => i += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                b'"' | b'\'' => quote = Some(c),
                b'(' => depth += 1,
                b')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// Splits a call's arguments at top-level commas.
fn arguments(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if !text[start..].trim().is_empty() || !parts.is_empty() {
        parts.push(text[start..].trim());
    }
    parts
}

fn is_identifier(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `word` occurs in `text` as a whole identifier.
fn mentions(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        boundary(before) && boundary(after)
    })
}

impl Generator<'_> {
    /// A wrapper for `static inline` function `function`.
    pub(crate) fn inline_shim(&mut self, function: &FunctionDecl) {
        let types = self.decls.types();
        let Type::Function(signature) = types.get(function.ty).clone() else {
            return;
        };
        if signature.variadic {
            return self.omit(
                &function.name,
                "a variadic inline function: a wrapper cannot forward `...`",
            );
        }
        let names: Vec<String> = (0..signature.params.len())
            .map(|i| format!("a{i}"))
            .collect();
        let spelled = function.param_typedefs.clone();
        self.shim(
            &function.name,
            &signature.params,
            &names,
            &spelled,
            signature.result,
            function.result_typedef.as_deref(),
        );
    }

    /// A wrapper for function-like macro `name`, when its types can be inferred.
    pub(crate) fn macro_shim(&mut self, name: &str, definition: &FunctionMacro) {
        if let Err(why) = self.try_macro_shim(name, definition) {
            self.omit(name, format!("function-like macro: {why}"));
        }
    }

    fn try_macro_shim(&mut self, name: &str, definition: &FunctionMacro) -> Result<(), String> {
        if definition.variadic {
            return Err("takes `...`".into());
        }
        let body = unparenthesize(&definition.body);
        let open = body.find('(').ok_or("not a call")?;
        let callee = body[..open].trim();
        if !is_identifier(callee) || closing(body, open) != Some(body.len() - 1) {
            return Err("not a single call of a function".into());
        }
        let decl = self
            .decls
            .function(callee)
            .or_else(|| self.decls.inline_function(callee))
            .ok_or_else(|| format!("calls `{callee}`, which is not a declared function"))?
            .clone();
        let Type::Function(signature) = self.decls.types().get(decl.ty).clone() else {
            return Err("calls a non-function".into());
        };
        let args = arguments(&body[open + 1..body.len() - 1]);
        let mut params = Vec::new();
        let mut spelled = Vec::new();
        for param in &definition.params {
            let at = args
                .iter()
                .position(|arg| unparenthesize(arg) == param)
                .ok_or_else(|| {
                    format!("parameter `{param}` is not a whole argument of `{callee}`")
                })?;
            let uses = args.iter().filter(|arg| mentions(arg, param)).count();
            if uses != 1 {
                return Err(format!("parameter `{param}` is used more than once"));
            }
            let ty = signature
                .params
                .get(at)
                .ok_or_else(|| format!("`{callee}` is variadic at parameter `{param}`"))?;
            params.push(*ty);
            spelled.push(decl.param_typedefs.get(at).cloned().flatten());
        }
        self.shim(
            name,
            &params,
            &definition.params,
            &spelled,
            signature.result,
            decl.result_typedef.as_deref(),
        );
        Ok(())
    }

    /// The C wrapper `ffikit_shim_NAME` and its Rust declaration under `NAME`.
    fn shim(
        &mut self,
        name: &str,
        params: &[QualType],
        names: &[String],
        spelled: &[Option<String>],
        result: QualType,
        result_spelled: Option<&str>,
    ) {
        let types = self.decls.types();
        let c_params: Vec<String> = params
            .iter()
            .zip(names)
            .map(|(ty, n)| types.declaration(*ty, n))
            .collect();
        if c_params.iter().any(|p| p.contains('<')) || types.display(result).contains('<') {
            return self.omit(name, "a type with no C spelling (anonymous)");
        }
        let mut rust_params = Vec::new();
        for (i, (ty, n)) in params.iter().zip(names).enumerate() {
            match self.rust_type(*ty, Place::Parameter, "") {
                Ok(r) => rust_params.push(format!(
                    "{}: {}",
                    rust::identifier(n),
                    rust::spelled(spelled.get(i).cloned().flatten().as_deref(), r)
                )),
                Err(why) => return self.omit(name, format!("parameter {}: {why}", i + 1)),
            }
        }
        let rust_result = match self.rust_type(result, Place::Result, "") {
            Ok(r) => rust::spelled(result_spelled, r),
            Err(why) => return self.omit(name, format!("result: {why}")),
        };
        let is_void = matches!(types.get(result.ty), Type::Void);
        let call = format!("{name}({})", names.join(", "));
        let declaration = types.declaration(
            result,
            &format!(
                "{SHIM_PREFIX}{name}({})",
                if c_params.is_empty() {
                    "void".to_owned()
                } else {
                    c_params.join(", ")
                }
            ),
        );
        let _ = writeln!(
            self.shims_out,
            "{declaration} {{ {}{call}; }}",
            if is_void { "" } else { "return " }
        );
        let arrow = if rust_result.is_empty() {
            String::new()
        } else {
            format!(" -> {rust_result}")
        };
        let _ = writeln!(
            self.functions_out,
            "    /// `{name}`, through its C wrapper (no symbol of its own).\n    #[link_name = \"{SHIM_PREFIX}{name}\"]\n    pub fn {}({}){arrow};",
            rust::identifier(name),
            rust_params.join(", ")
        );
        self.count("shims");
    }
}
