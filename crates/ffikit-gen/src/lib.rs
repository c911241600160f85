//! Rust bindings from ffikit-cdecl's model of C declarations: what bindgen emits, without
//! libclang. The model already has gcc-exact layouts, each declaration's origin (so a
//! header's own scope) and `#define` values; this turns it into Rust source.
//!
//! ```
//! use ffikit_cdecl::Declarations;
//!
//! let mut decls = Declarations::new();
//! decls.cdef("
//!     #define LIMIT 16u
//!     struct entry { char name[LIMIT]; unsigned flags : 3; struct entry *next; };
//!     typedef int (*visitor)(const struct entry *, void *);
//!     int visit(struct entry *list, visitor callback, void *data);
//! ").unwrap();
//! let bindings = ffikit_gen::generate(&decls, None, &ffikit_gen::Options::default());
//! let source = bindings.source();
//! assert!(source.contains("pub const LIMIT: ::std::ffi::c_uint = 16;"));
//! assert!(source.contains("pub struct entry {"));
//! assert!(source.contains("pub fn flags(&self) -> ::std::ffi::c_uint"));
//! assert!(source.contains("pub type visitor = ::std::option::Option<unsafe extern \"C\" fn("));
//! // Types are spelled as C resolves them: the typedef is an alias of the same type.
//! assert!(source.contains("pub fn visit(list: *mut entry, callback: ::std::option::Option<"));
//! ```
//!
//! # Organization
//!
//! - [`Options`]: allow and block lists (regexes over names), layout tests, enum style.
//! - [`generate`]: picks the roots (the scope's own functions, variables, typedefs, tags and
//!   constants that the lists let through), then emits them and every struct, union and enum
//!   they reach, once each, in [`Bindings`].
//! - `rust`: C types spelled as Rust types of the same ABI; `records`: `#[repr(C)]` structs
//!   and unions laid out member by member against the C layout (explicit padding, bitfield
//!   storage units with accessors, `packed`/`align`), or an opaque blob of the right size and
//!   alignment when Rust cannot mirror them, with compile-time layout assertions.
//!
//! What has no faithful Rust type is treated as bindgen treats it or left out with a comment
//! saying why ([`Bindings::omitted`]): `long double` members are `u128` (size and alignment
//! right), functions taking or returning `long double` by value are omitted (no Rust type
//! travels on the x87 stack); `_Complex float`/`double` are a `#[repr(C)]` pair (the same
//! classification on x86-64); `__int128` is `i128`.
//!
//! Types are spelled as C resolves them (`uLong` is `c_ulong`), as the model keeps them; a
//! function parameter or result declared `size_t`, `uintptr_t` (`usize`), `ssize_t`,
//! `intptr_t` or `ptrdiff_t` (`isize`) keeps bindgen's spelling, so code written against
//! bindgen's output compiles against this one.

#![forbid(unsafe_code)]

mod cdecl_text;
mod dynamic;
mod records;
mod rust;
mod shims;

pub use cdecl_text::{c_declaration_of, c_declarations};
pub use shims::SHIM_PREFIX;

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use ffikit_cdecl::{Declarations, Declared, MacroValue, Scope, TagKind, Type, TypeId};
use regex::Regex;

/// A pattern that is not a valid regex.
#[derive(Debug, thiserror::Error)]
#[error("invalid pattern `{pattern}`")]
pub struct PatternError {
    pattern: String,
    #[source]
    source: regex::Error,
}

/// How enums are emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EnumStyle {
    /// bindgen's default: `pub type E = c_uint;` and `pub const E_A: E = 0;`.
    #[default]
    Consts,
    /// `#[repr(transparent)] pub struct E(pub c_uint);` with associated constants.
    Newtype,
    /// A Rust `enum` (`#[repr(u32)] pub enum E { A = 0, ... }`), bindgen's "rustified" form;
    /// an enumerator repeating an earlier value is an associated constant. As with bindgen's,
    /// a value C hands over that no enumerator names is undefined behaviour in Rust: use it
    /// only for enums whose values are all listed.
    Rust,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    allow: Vec<Regex>,
    block: Vec<Regex>,
    layout_tests: bool,
    enums: EnumStyle,
    derives: Vec<String>,
    shims: bool,
    dynamic: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            allow: Vec::new(),
            block: Vec::new(),
            layout_tests: true,
            enums: EnumStyle::Consts,
            derives: Vec::new(),
            shims: false,
            dynamic: None,
        }
    }
}

fn anchored(pattern: &str) -> Result<Regex, PatternError> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|source| PatternError {
        pattern: pattern.to_owned(),
        source,
    })
}

impl Options {
    /// Only names matching `pattern` (a whole-name regex, as bindgen's `--allowlist-item`)
    /// are roots; what they use is emitted too.
    ///
    /// # Errors
    ///
    /// An invalid regex.
    pub fn allow(mut self, pattern: &str) -> Result<Self, PatternError> {
        self.allow.push(anchored(pattern)?);
        Ok(self)
    }

    /// Names matching `pattern` are not roots (a type they name is still emitted where a
    /// root uses it).
    ///
    /// # Errors
    ///
    /// An invalid regex.
    pub fn block(mut self, pattern: &str) -> Result<Self, PatternError> {
        self.block.push(anchored(pattern)?);
        Ok(self)
    }

    /// Whether to emit compile-time layout assertions (size, alignment, member offsets);
    /// on by default.
    #[must_use]
    pub fn layout_tests(mut self, on: bool) -> Self {
        self.layout_tests = on;
        self
    }

    /// How enums are emitted.
    #[must_use]
    pub fn enums(mut self, style: EnumStyle) -> Self {
        self.enums = style;
        self
    }

    /// Whether to wrap `static inline` functions and the function-like macros whose types
    /// can be inferred in C shims ([`Bindings::shim_source`], to compile with the header),
    /// declared in Rust under their C names. Off: they are listed as omitted.
    #[must_use]
    pub fn shims(mut self, on: bool) -> Self {
        self.shims = on;
        self
    }

    /// The dynamic-loading form: instead of an `extern "C"` block linked at build time, a
    /// struct `name` holding the library opened at run time and a typed pointer to each
    /// function, all bound and checked through ffikit-abi by `name::new(library)` (records
    /// derive `ffikit_abi::CStruct` for the check). The generated code needs ffikit-abi;
    /// globals and shims have no place in it and are listed as omitted.
    #[must_use]
    pub fn dynamic(mut self, name: &str) -> Self {
        self.dynamic = Some(name.to_owned());
        self.derives.push("::ffikit_abi::CStruct".into());
        self
    }

    /// One more derive for every struct and union laid out member by member
    /// (`ffikit_abi::CStruct`, `PartialEq`), as bindgen's `--with-derive-custom`.
    #[must_use]
    pub fn derive(mut self, path: &str) -> Self {
        self.derives.push(path.to_owned());
        self
    }

    fn admits(&self, name: &str) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|r| r.is_match(name)))
            && !self.block.iter().any(|r| r.is_match(name))
    }
}

/// A declaration left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Omitted {
    /// Its name.
    pub name: String,
    /// Why it has no binding.
    pub reason: String,
}

/// Generated Rust source.
#[derive(Debug, Clone)]
pub struct Bindings {
    source: String,
    shim_source: String,
    omitted: Vec<Omitted>,
    counts: BTreeMap<&'static str, usize>,
    function_types: BTreeMap<String, FunctionSignature>,
}

/// An emitted function's Rust types, in the bindings' own spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSignature {
    /// The parameters' types.
    pub params: Vec<String>,
    /// The result type (`()` for `void`).
    pub result: String,
    /// Whether it takes `...`.
    pub variadic: bool,
}

impl FunctionSignature {
    /// As a function-pointer type: `unsafe extern "C" fn(A, B, ...) -> R`, what a typed
    /// handle to the function is declared as.
    pub fn pointer_type(&self) -> String {
        let mut params = self.params.clone();
        if self.variadic {
            params.push("...".into());
        }
        format!(
            "unsafe extern \"C\" fn({}) -> {}",
            params.join(", "),
            self.result
        )
    }
}

impl Bindings {
    /// The Rust source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The C wrappers the bindings' shims link to (`ffikit_shim_NAME`), empty when there are
    /// none: compile it after `#include`-ing the header, into the library the bindings link.
    pub fn shim_source(&self) -> &str {
        &self.shim_source
    }

    /// What was left out, with the reasons (also in the source, as comments).
    pub fn omitted(&self) -> &[Omitted] {
        &self.omitted
    }

    /// How many items of each kind were emitted: `functions`, `variables`, `types`
    /// (structs, unions, enums), `typedefs`, `constants`.
    pub fn counts(&self) -> &BTreeMap<&'static str, usize> {
        &self.counts
    }

    /// An emitted function's Rust types, in the source's own spelling.
    pub fn function(&self, name: &str) -> Option<&FunctionSignature> {
        self.function_types.get(name)
    }
}

/// One C type as the bindings spell it (records and enums by the names [`generate`] gives
/// them), or why it has no Rust spelling.
///
/// # Errors
///
/// A type with no Rust type of the same ABI (`long double _Complex`, a bare function type).
pub fn rust_type(decls: &Declarations, ty: ffikit_cdecl::QualType) -> Result<String, String> {
    let options = Options::default();
    let mut generator = Generator::new(decls, &options);
    generator.name_types();
    generator.rust_type(ty, rust::Place::Parameter, "")
}

/// The generator's state: what is emitted, what is waiting.
struct Generator<'a> {
    decls: &'a Declarations,
    options: &'a Options,
    /// Rust names given to records and enums.
    names: BTreeMap<TypeId, String>,
    /// Records and enums emitted or queued.
    queued: HashSet<TypeId>,
    pending: Vec<TypeId>,
    /// Names of the typedefs that name an anonymous record or enum (emitted as that type).
    typedef_named: HashSet<String>,
    types_out: String,
    items_out: String,
    functions_out: String,
    omitted: Vec<Omitted>,
    counts: BTreeMap<&'static str, usize>,
    anonymous: usize,
    /// Whether a `va_list` was spelled (its element type is emitted once).
    va_list: bool,
    /// Each emitted function's Rust types.
    function_types: BTreeMap<String, FunctionSignature>,
    /// The C wrappers of inline functions and macros.
    shims_out: String,
    /// The functions of the dynamic-loading struct.
    dynamic: Vec<dynamic::DynamicFunction>,
}

/// Generates bindings for the declarations `scope` contains (every declaration the text made
/// when `None`) that `options` admit, and for every type they use.
pub fn generate(decls: &Declarations, scope: Option<&Scope>, options: &Options) -> Bindings {
    let mut generator = Generator::new(decls, options);
    // Without a scope, what the text declared (not the standard typedefs every
    // `Declarations` starts with, which have no origin).
    let in_scope = |declared: &Declared| match (scope, decls.origin(declared)) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(scope), Some(origin)) => scope.contains(origin),
    };
    generator.name_types();

    // Roots, sorted by name for a stable output.
    let mut tags: Vec<(TagKind, &str, TypeId)> = decls
        .tags()
        .filter(|(kind, tag, _)| in_scope(&Declared::Tag(*kind, (*tag).to_owned())))
        .filter(|(_, tag, _)| options.admits(tag))
        .collect();
    tags.sort_by_key(|(_, tag, _)| *tag);
    for (_, _, id) in tags {
        generator.queue(id);
    }
    let mut typedefs: Vec<(&str, ffikit_cdecl::QualType)> = decls
        .typedefs()
        .filter(|(name, _)| in_scope(&Declared::Typedef((*name).to_owned())))
        .filter(|(name, _)| options.admits(name))
        .collect();
    typedefs.sort_by_key(|(name, _)| *name);
    for (name, ty) in typedefs {
        generator.typedef(name, ty);
    }
    let mut functions: Vec<&ffikit_cdecl::FunctionDecl> = decls
        .functions()
        .filter(|f| in_scope(&Declared::Function(f.name.clone())))
        .filter(|f| options.admits(&f.name))
        .collect();
    functions.sort_by(|a, b| a.name.cmp(&b.name));
    for function in functions {
        generator.function(function);
    }
    let mut variables: Vec<&ffikit_cdecl::VariableDecl> = decls
        .variables()
        .filter(|v| in_scope(&Declared::Variable(v.name.clone())))
        .filter(|v| options.admits(&v.name))
        .collect();
    variables.sort_by(|a, b| a.name.cmp(&b.name));
    for variable in variables {
        generator.variable(variable);
    }
    // Enumerators in scope: their enum is emitted even when nothing names it (`enum { A, B };`).
    let mut enumerators: Vec<(&str, TypeId)> = decls
        .constants()
        .filter(|(_, c)| matches!(decls.types().get(c.ty), Type::Enum(_)))
        .filter(|(name, _)| in_scope(&Declared::Constant((*name).to_owned())))
        .filter(|(name, _)| options.admits(name))
        .map(|(name, c)| (name, c.ty))
        .collect();
    enumerators.sort_by_key(|(name, _)| *name);
    for (_, ty) in enumerators {
        generator.queue(ty);
    }
    // What has no symbol: inline functions and function-like macros, through C wrappers.
    let mut inline: Vec<&ffikit_cdecl::FunctionDecl> = decls
        .inline_functions()
        .filter(|f| in_scope(&Declared::Function(f.name.clone())))
        .filter(|f| options.admits(&f.name))
        .collect();
    inline.sort_by(|a, b| a.name.cmp(&b.name));
    let mut function_macros: Vec<(&str, &ffikit_cdecl::FunctionMacro)> = decls
        .function_macros()
        .filter(|(name, _)| decls.function(name).is_none() && decls.inline_function(name).is_none())
        .filter(|(name, _)| in_scope(&Declared::Constant((*name).to_owned())))
        .filter(|(name, _)| options.admits(name))
        .collect();
    function_macros.sort_by_key(|(name, _)| *name);
    for function in inline {
        if options.shims && options.dynamic.is_none() {
            generator.inline_shim(function);
        } else {
            generator.omit(
                &function.name,
                "a static inline function: no symbol (generate shims to call it)",
            );
        }
    }
    for (name, definition) in function_macros {
        if options.shims && options.dynamic.is_none() {
            generator.macro_shim(name, definition);
        } else {
            generator.omit(
                name,
                "a function-like macro: no symbol (generate shims to call it)",
            );
        }
    }
    let mut macros: Vec<(&str, &MacroValue)> = decls
        .macros()
        .filter(|(name, _)| in_scope(&Declared::Constant((*name).to_owned())))
        .filter(|(name, _)| options.admits(name))
        .collect();
    macros.sort_by_key(|(name, _)| *name);
    for (name, value) in macros {
        generator.constant(name, value);
    }
    generator.drain();
    generator.finish()
}

impl<'a> Generator<'a> {
    fn new(decls: &'a Declarations, options: &'a Options) -> Self {
        Generator {
            decls,
            options,
            names: BTreeMap::new(),
            queued: HashSet::new(),
            pending: Vec::new(),
            typedef_named: HashSet::new(),
            types_out: String::new(),
            items_out: String::new(),
            functions_out: String::new(),
            omitted: Vec::new(),
            counts: BTreeMap::new(),
            anonymous: 0,
            va_list: false,
            function_types: BTreeMap::new(),
            shims_out: String::new(),
            dynamic: Vec::new(),
        }
    }
}

impl Generator<'_> {
    fn count(&mut self, kind: &'static str) {
        *self.counts.entry(kind).or_default() += 1;
    }

    fn omit(&mut self, name: &str, reason: impl Into<String>) {
        self.omitted.push(Omitted {
            name: name.to_owned(),
            reason: reason.into(),
        });
    }

    /// Names every record and enum: by tag, else by the typedef that names it.
    fn name_types(&mut self) {
        for (_, tag, id) in self.decls.tags() {
            self.names.insert(id, rust::identifier(tag));
        }
        let types = self.decls.types();
        for (name, ty) in self.decls.typedefs() {
            if matches!(types.get(ty.ty), Type::Record(_) | Type::Enum(_))
                && !self.names.contains_key(&ty.ty)
                && ty.quals.is_empty()
            {
                self.names.insert(ty.ty, rust::identifier(name));
                self.typedef_named.insert(name.to_owned());
            }
        }
    }

    /// The Rust name of a record or enum, naming an anonymous one on first use.
    fn type_name(&mut self, id: TypeId, context: &str) -> String {
        if let Some(name) = self.names.get(&id) {
            return name.clone();
        }
        self.anonymous += 1;
        let name = if context.is_empty() {
            format!("__anonymous_{}", self.anonymous)
        } else {
            format!("{context}__anonymous_{}", self.anonymous)
        };
        self.names.insert(id, name.clone());
        name
    }

    fn queue(&mut self, id: TypeId) {
        if self.queued.insert(id) {
            self.pending.push(id);
        }
    }

    fn drain(&mut self) {
        while let Some(id) = self.pending.pop() {
            let types = self.decls.types();
            match types.get(id) {
                Type::Record(_) => self.record(id),
                Type::Enum(_) => self.enumeration(id),
                _ => {}
            }
        }
    }

    fn typedef(&mut self, name: &str, ty: ffikit_cdecl::QualType) {
        if self.typedef_named.contains(name) {
            // The anonymous record or enum it names is emitted under this name.
            self.queue(ty.ty);
            return;
        }
        match self.rust_type(ty, rust::Place::Typedef, name) {
            Ok(rust) if rust == rust::identifier(name) => {}
            Ok(rust) => {
                let _ = writeln!(
                    self.items_out,
                    "pub type {} = {rust};",
                    rust::identifier(name)
                );
                self.count("typedefs");
            }
            Err(why) => self.omit(name, why),
        }
    }

    fn function(&mut self, function: &ffikit_cdecl::FunctionDecl) {
        let types = self.decls.types();
        let Type::Function(signature) = types.get(function.ty).clone() else {
            return;
        };
        if self.options.dynamic.is_some()
            && signature
                .params
                .iter()
                .any(|p| matches!(types.get(p.ty), Type::VaList))
        {
            return self.omit(
                &function.name,
                "a `va_list` parameter: ffikit-abi does not bind one at run time",
            );
        }
        let mut params = Vec::new();
        let mut used = HashSet::new();
        for (index, ty) in signature.params.iter().enumerate() {
            let rust = match self.rust_type(*ty, rust::Place::Parameter, "") {
                Ok(rust) => rust::spelled(
                    function
                        .param_typedefs
                        .get(index)
                        .cloned()
                        .flatten()
                        .as_deref(),
                    rust,
                ),
                Err(why) => {
                    return self.omit(&function.name, format!("parameter {}: {why}", index + 1));
                }
            };
            let name = function
                .param_names
                .get(index)
                .cloned()
                .flatten()
                .map(|n| rust::identifier(&n))
                .filter(|n| used.insert(n.clone()))
                .unwrap_or_else(|| format!("arg{}", index + 1));
            params.push(format!("{name}: {rust}"));
        }
        if signature.variadic {
            params.push("...".into());
        }
        let result = match self.rust_type(signature.result, rust::Place::Result, "") {
            Ok(rust) => rust::spelled(function.result_typedef.as_deref(), rust),
            Err(why) => return self.omit(&function.name, format!("result: {why}")),
        };
        let arrow = if result.is_empty() {
            String::new()
        } else {
            format!(" -> {result}")
        };
        if self.options.dynamic.is_some() {
            let fixed = params.iter().filter(|p| *p != "...").cloned().collect();
            self.dynamic.push(dynamic::DynamicFunction {
                name: function.name.clone(),
                params: fixed,
                arrow: arrow.clone(),
                variadic: signature.variadic,
            });
        } else {
            self.link_name(function.asm_name.as_deref());
            let _ = writeln!(
                self.functions_out,
                "    pub fn {}({}){arrow};",
                rust::identifier(&function.name),
                params.join(", ")
            );
        }
        let types: Vec<String> = params
            .iter()
            .filter_map(|p| p.split_once(": ").map(|(_, ty)| ty.to_owned()))
            .collect();
        self.function_types.insert(
            function.name.clone(),
            FunctionSignature {
                params: types,
                result: if result.is_empty() {
                    "()".into()
                } else {
                    result.clone()
                },
                variadic: signature.variadic,
            },
        );
        self.count("functions");
    }

    /// `#[link_name]` for a symbol an `__asm__` label renames.
    fn link_name(&mut self, symbol: Option<&str>) {
        if let Some(symbol) = symbol {
            let _ = writeln!(
                self.functions_out,
                "    #[link_name = \"{}\"]",
                symbol.escape_default()
            );
        }
    }

    fn variable(&mut self, variable: &ffikit_cdecl::VariableDecl) {
        if self.options.dynamic.is_some() {
            return self.omit(
                &variable.name,
                "a global in the dynamic-loading form: read it with `Library::global`",
            );
        }
        let rust = match self.rust_type(variable.ty, rust::Place::Member, "") {
            Ok(rust) => rust,
            Err(why) => return self.omit(&variable.name, why),
        };
        let mutable = if variable.ty.quals.contains(ffikit_cdecl::Qualifiers::CONST) {
            ""
        } else {
            "mut "
        };
        self.link_name(variable.asm_name.as_deref());
        let _ = writeln!(
            self.functions_out,
            "    pub static {mutable}{}: {rust};",
            rust::identifier(&variable.name)
        );
        self.count("variables");
    }

    fn constant(&mut self, name: &str, value: &MacroValue) {
        let line = match value {
            MacroValue::Integer(constant) => {
                let ty = ffikit_cdecl::QualType::plain(constant.ty);
                match self.rust_type(ty, rust::Place::Member, "") {
                    Ok(rust) if matches!(self.decls.types().get(constant.ty), Type::Enum(_)) => {
                        format!(
                            "pub const {}: {rust} = {};",
                            rust::identifier(name),
                            constant.value
                        )
                    }
                    Ok(rust) => format!(
                        "pub const {}: {rust} = {};",
                        rust::identifier(name),
                        constant.value
                    ),
                    Err(why) => return self.omit(name, why),
                }
            }
            MacroValue::Float { value, ty } => {
                let rust = match self.decls.types().get(*ty) {
                    Type::Scalar(ffikit_cdecl::Scalar::Float) => "f32",
                    _ => "f64",
                };
                if !value.is_finite() {
                    return self.omit(name, "not a finite number");
                }
                format!("pub const {}: {rust} = {value:?};", rust::identifier(name))
            }
            MacroValue::String(bytes) => {
                let mut text = String::from("b\"");
                for &b in bytes.iter().chain([&0]) {
                    text.extend(std::ascii::escape_default(b).map(char::from));
                }
                text.push('"');
                format!(
                    "pub const {}: &[u8; {}] = {text};",
                    rust::identifier(name),
                    bytes.len() + 1
                )
            }
            _ => return self.omit(name, "not a constant Rust can hold"),
        };
        let _ = writeln!(self.items_out, "{line}");
        self.count("constants");
    }

    fn enumeration(&mut self, id: TypeId) {
        let types = self.decls.types();
        let Type::Enum(e) = types.get(id) else { return };
        let enumeration = types.enumeration(*e);
        let name = self.type_name(id, "");
        let underlying = rust::scalar(enumeration.underlying).expect("enums have integer types");
        let values = enumeration.values.clone().unwrap_or_default();
        let prefix = if name.starts_with("__anonymous") {
            String::new()
        } else {
            format!("{name}_")
        };
        match self.options.enums {
            EnumStyle::Consts => {
                let _ = writeln!(self.types_out, "pub type {name} = {underlying};");
                for (variant, value) in &values {
                    let _ = writeln!(
                        self.types_out,
                        "pub const {prefix}{}: {name} = {value};",
                        rust::identifier(variant)
                    );
                }
            }
            EnumStyle::Rust if !values.is_empty() => {
                let repr = match enumeration.underlying {
                    ffikit_cdecl::Scalar::UInt => "u32",
                    ffikit_cdecl::Scalar::Int => "i32",
                    ffikit_cdecl::Scalar::ULong | ffikit_cdecl::Scalar::ULongLong => "u64",
                    ffikit_cdecl::Scalar::Long | ffikit_cdecl::Scalar::LongLong => "i64",
                    ffikit_cdecl::Scalar::UChar => "u8",
                    ffikit_cdecl::Scalar::SChar | ffikit_cdecl::Scalar::Char => "i8",
                    ffikit_cdecl::Scalar::UShort => "u16",
                    ffikit_cdecl::Scalar::Short => "i16",
                    _ => "i32",
                };
                let mut seen: Vec<(i128, String)> = Vec::new();
                let mut aliases = Vec::new();
                let mut body = String::new();
                for (variant, value) in &values {
                    let variant = rust::identifier(variant);
                    match seen.iter().find(|(v, _)| v == value) {
                        Some((_, first)) => aliases.push((variant, first.clone())),
                        None => {
                            let _ = writeln!(body, "    {variant} = {value},");
                            seen.push((*value, variant));
                        }
                    }
                }
                let _ = writeln!(
                    self.types_out,
                    "#[repr({repr})]\n#[derive(Debug, Copy, Clone, PartialEq, Eq, Hash)]\npub enum {name} {{\n{body}}}"
                );
                if !aliases.is_empty() {
                    let _ = writeln!(self.types_out, "impl {name} {{");
                    for (alias, first) in aliases {
                        let _ = writeln!(
                            self.types_out,
                            "    pub const {alias}: {name} = {name}::{first};"
                        );
                    }
                    self.types_out.push_str("}\n");
                }
            }
            EnumStyle::Rust => {
                let _ = writeln!(self.types_out, "pub type {name} = {underlying};");
            }
            EnumStyle::Newtype => {
                let _ = writeln!(
                    self.types_out,
                    "#[repr(transparent)]\n#[derive(Debug, Copy, Clone, PartialEq, Eq, Hash)]\npub struct {name}(pub {underlying});\nimpl {name} {{"
                );
                for (variant, value) in &values {
                    let _ = writeln!(
                        self.types_out,
                        "    pub const {}: {name} = {name}({value});",
                        rust::identifier(variant)
                    );
                }
                self.types_out.push_str("}\n");
            }
        }
        self.types_out.push('\n');
        self.count("types");
    }

    fn finish(mut self) -> Bindings {
        let mut source = String::from(
            "/* Generated by ffikit-gen from ffikit-cdecl's model of the declarations. */\n\n",
        );
        if self.types_out.contains("__ffikit_bits::") {
            source.push_str(records::BIT_HELPERS);
        }
        if self.va_list && cfg!(target_arch = "x86_64") {
            source.push_str(rust::VA_LIST_TAG);
        }
        if self.types_out.contains("__ffikit_Complex")
            || self.items_out.contains("__ffikit_Complex")
            || self.functions_out.contains("__ffikit_Complex")
        {
            source.push_str(rust::COMPLEX);
        }
        source.push_str(&self.items_out);
        source.push('\n');
        source.push_str(&self.types_out);
        if let Some(name) = self.options.dynamic.clone() {
            let text = self.dynamic_struct(&name);
            source.push_str(&text);
        }
        if !self.functions_out.is_empty() {
            let _ = write!(source, "unsafe extern \"C\" {{\n{}}}\n", self.functions_out);
        }
        self.omitted.sort_by(|a, b| a.name.cmp(&b.name));
        self.omitted.dedup();
        if !self.omitted.is_empty() {
            source.push('\n');
            for omitted in &self.omitted {
                let _ = writeln!(source, "// omitted `{}`: {}", omitted.name, omitted.reason);
            }
        }
        Bindings {
            source,
            shim_source: self.shims_out,
            omitted: self.omitted,
            counts: self.counts,
            function_types: self.function_types,
        }
    }
}
