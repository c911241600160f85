//! The C declaration parser: recursive descent over the tokens of [`lexer`], declaring into a
//! [`Declarations`].
//!
//! It reads what headers hold after the preprocessor: declarations, typedefs, struct/union/enum
//! definitions, GNU extensions (`__attribute__`, `__extension__`, `__asm__` labels,
//! `__restrict`, `__inline`), `static inline` bodies (skipped), line markers, and the
//! directives that survive preprocessing (`#pragma pack`), plus integer `#define`s for
//! hand-written declarations. Nesting is capped at [`MAX_DEPTH`] so hostile input cannot
//! overflow the stack.

mod expr;
pub(crate) mod lexer;
mod macros;

pub(crate) use lexer::LineMarker;

use crate::ctype::{
    Field, FunctionDecl, FunctionType, MAX_TYPE_DEPTH, QualType, Qualifiers, RecordKind, Scalar,
    Type, TypeId, VariableDecl,
};
use crate::decls::{
    Constant, Declarations, Declared, MacroValue, Report, SkipKind, Skipped, TagKind, layout_error,
};
use crate::error::{Error, ErrorKind, Locator, Origin, Span};
use lexer::{Token, TokenKind};

/// How deeply declarators, parameter lists, struct bodies and expressions may nest.
pub const MAX_DEPTH: usize = 64;

/// What `__attribute__((...))` and friends said about a declaration.
#[derive(Debug, Clone, Default)]
struct Attributes {
    packed: bool,
    aligned: Option<u64>,
    /// `mode(QI)` and friends: the size in bytes, and whether it is a floating mode.
    mode: Option<(u64, bool)>,
}

impl Attributes {
    fn merge(&mut self, other: Attributes) {
        self.packed |= other.packed;
        self.aligned = self.aligned.max(other.aligned);
        self.mode = other.mode.or(self.mode);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Storage {
    None,
    Typedef,
    Extern,
    Static,
    Other,
}

/// The declaration specifiers: `static const unsigned long`, `struct point`, ...
#[derive(Debug, Clone)]
struct Specifiers {
    base: QualType,
    storage: Storage,
    inline: bool,
    attributes: Attributes,
    /// The struct/union defined without a tag in these specifiers (an anonymous member).
    anonymous_record: bool,
    /// The typedef name the type was spelled with (`size_t`), if it was.
    typedef: Option<String>,
    span: Span,
}

/// The typedef names a function's declaration spelled its parameter and result types with.
#[derive(Debug, Default)]
struct Spelled {
    params: Vec<Option<String>>,
    result: Option<String>,
}

impl Spelled {
    /// One entry per parameter (none where the declaration had no parameter list).
    fn params_for(&self, count: usize) -> Vec<Option<String>> {
        if self.params.len() == count {
            self.params.clone()
        } else {
            vec![None; count]
        }
    }
}

#[derive(Debug, Clone)]
enum Suffix {
    Array(Option<u64>, Span),
    Function {
        params: Vec<(Option<String>, QualType)>,
        /// The typedef name each parameter was spelled with, where it is its whole type.
        typedefs: Vec<Option<String>>,
        variadic: bool,
        span: Span,
    },
}

/// A declarator before it is applied to its base type (C declarators read inside out).
#[derive(Debug, Clone, Default)]
struct Declarator {
    name: Option<(String, Span)>,
    pointers: Vec<Qualifiers>,
    suffixes: Vec<Suffix>,
    inner: Option<Box<Declarator>>,
    span: Span,
}

impl Declarator {
    fn name(&self) -> Option<&(String, Span)> {
        self.name
            .as_ref()
            .or_else(|| self.inner.as_ref().and_then(|d| d.name()))
    }

    fn is_abstract_plain(&self) -> bool {
        self.pointers.is_empty() && self.suffixes.is_empty() && self.inner.is_none()
    }
}

pub(crate) struct Parser<'a> {
    text: &'a str,
    /// Lines and columns for errors, in linear time over all of them.
    locator: Locator<'a>,
    tokens: Vec<Token>,
    pos: usize,
    decls: &'a mut Declarations,
    report: Report,
    pack: Option<u64>,
    pack_stack: Vec<Option<u64>>,
    depth: usize,
    /// Header mode (the preprocessor's `-dD` output): object-like `#define`s are collected
    /// here for the preprocessor to expand, not evaluated from their unexpanded text.
    collected_macros: Option<Vec<MacroDefinition>>,
    /// Header mode: the `#define` and `#undef` lines, apart from the tokens.
    macro_lines: Vec<Token>,
    /// The typedef spellings of the parameters of the last function suffix applied (beside
    /// `param_names`): the declared function's own.
    param_typedefs: Vec<Option<String>>,
}

/// An object-like `#define` seen in header mode.
#[derive(Debug, Clone)]
pub(crate) struct MacroDefinition {
    pub name: String,
    pub origin: Origin,
    /// The definition as written (`#define Z_OK 0`), to show when it is skipped.
    pub line: String,
}

fn is_type_keyword(word: &str) -> bool {
    matches!(
        word,
        "void"
            | "char"
            | "short"
            | "int"
            | "long"
            | "signed"
            | "__signed"
            | "__signed__"
            | "unsigned"
            | "float"
            | "double"
            | "_Bool"
            | "_Complex"
            | "__complex__"
            | "__int128"
            | "_Float32"
            | "_Float64"
            | "_Float32x"
            | "_Float64x"
            | "_Float128"
            | "__float128"
            | "_Float16"
            | "__bf16"
            | "__builtin_va_list"
            | "struct"
            | "union"
            | "enum"
            | "typeof"
            | "__typeof__"
            | "__typeof"
    )
}

fn is_qualifier_or_storage(word: &str) -> bool {
    matches!(
        word,
        "const"
            | "__const"
            | "__const__"
            | "volatile"
            | "__volatile"
            | "__volatile__"
            | "restrict"
            | "__restrict"
            | "__restrict__"
            | "_Atomic"
            | "typedef"
            | "extern"
            | "static"
            | "auto"
            | "register"
            | "_Thread_local"
            | "__thread"
            | "inline"
            | "__inline"
            | "__inline__"
            | "_Noreturn"
            | "__extension__"
            | "_Alignas"
            | "_Nonnull"
            | "_Nullable"
            | "_Null_unspecified"
            | "__stdcall"
            | "__cdecl"
    )
}

fn is_attribute_keyword(word: &str) -> bool {
    matches!(word, "__attribute__" | "__attribute")
}

impl<'a> Parser<'a> {
    pub(crate) fn new(text: &'a str, decls: &'a mut Declarations) -> Result<Self, Error> {
        Parser::with_macro_lines(text, decls, None)
    }

    /// Header mode: the preprocessor's `-dD` output. Object-like `#define`s are collected for
    /// the preprocessor to expand ([`header_declarations`](Self::header_declarations)).
    pub(crate) fn for_header(text: &'a str, decls: &'a mut Declarations) -> Result<Self, Error> {
        let mut macro_lines = Vec::new();
        let mut parser = Parser::with_macro_lines(text, decls, Some(&mut macro_lines))?;
        parser.macro_lines = macro_lines;
        parser.collected_macros = Some(Vec::new());
        Ok(parser)
    }

    fn with_macro_lines(
        text: &'a str,
        decls: &'a mut Declarations,
        macro_lines: Option<&mut Vec<Token>>,
    ) -> Result<Self, Error> {
        let mut markers = Vec::new();
        let tokens = match lexer::tokenize(text, 0, text, Some(&mut markers), macro_lines) {
            Ok(tokens) => tokens,
            Err(error) => {
                // Located again with the markers read so far: the original file and line.
                let locator = Locator::with_markers(text, markers);
                return Err(Error::located(
                    error.kind(),
                    error.message(),
                    error.span(),
                    &locator,
                ));
            }
        };
        Ok(Parser {
            text,
            locator: Locator::with_markers(text, markers),
            tokens,
            pos: 0,
            decls,
            report: Report::default(),
            pack: None,
            pack_stack: Vec::new(),
            depth: 0,
            collected_macros: None,
            macro_lines: Vec::new(),
            param_typedefs: Vec::new(),
        })
    }

    // ---- token helpers ----------------------------------------------------------------------

    fn peek(&self) -> Token {
        self.tokens[self.pos]
    }

    fn peek_at(&self, ahead: usize) -> Token {
        self.tokens[(self.pos + ahead).min(self.tokens.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let token = self.tokens[self.pos];
        if token.kind != TokenKind::Eof {
            self.pos += 1;
        }
        token
    }

    fn text_of(&self, token: Token) -> &'a str {
        &self.text[token.span.start..token.span.end]
    }

    fn word(&self) -> Option<&'a str> {
        let token = self.peek();
        (token.kind == TokenKind::Ident).then(|| self.text_of(token))
    }

    fn word_at(&self, ahead: usize) -> Option<&'a str> {
        let token = self.peek_at(ahead);
        (token.kind == TokenKind::Ident).then(|| self.text_of(token))
    }

    fn is_punct(&self, punct: &str) -> bool {
        matches!(self.peek().kind, TokenKind::Punct(p) if p == punct)
    }

    fn is_punct_at(&self, ahead: usize, punct: &str) -> bool {
        matches!(self.peek_at(ahead).kind, TokenKind::Punct(p) if p == punct)
    }

    fn eat_punct(&mut self, punct: &str) -> bool {
        if self.is_punct(punct) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect_punct(&mut self, punct: &str) -> Result<Token, Error> {
        if self.is_punct(punct) {
            Ok(self.bump())
        } else {
            Err(self.unexpected(&format!("`{punct}`")))
        }
    }

    fn describe(&self, token: Token) -> String {
        match token.kind {
            TokenKind::Eof => "the end of the input".into(),
            TokenKind::Directive => "a preprocessor line".into(),
            _ => format!("`{}`", self.text_of(token)),
        }
    }

    fn unexpected(&self, expected: &str) -> Error {
        let token = self.peek();
        self.error(
            ErrorKind::Syntax,
            format!("expected {expected}, found {}", self.describe(token)),
            token.span,
        )
    }

    fn error(&self, kind: ErrorKind, message: impl Into<String>, span: Span) -> Error {
        Error::located(kind, message, span, &self.locator)
    }

    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, Error>) -> Result<T, Error> {
        if self.depth >= MAX_DEPTH {
            let span = self.peek().span;
            return Err(self.error(
                ErrorKind::TooDeep,
                format!("declaration nested more than {MAX_DEPTH} levels deep"),
                span,
            ));
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    /// Refuses a type nested deeper than [`MAX_TYPE_DEPTH`], before anything walks it.
    fn bounded(&self, ty: QualType, span: Span) -> Result<(), Error> {
        if self.decls.types.depth(ty.ty) > MAX_TYPE_DEPTH {
            return Err(self.too_deep(span));
        }
        Ok(())
    }

    fn too_deep(&self, span: Span) -> Error {
        self.error(
            ErrorKind::TooDeep,
            format!(
                "type nested more than {MAX_TYPE_DEPTH} levels deep (pointers, arrays, functions and members, through typedefs)"
            ),
            span,
        )
    }

    fn is_typedef_name(&self, word: &str) -> bool {
        self.decls.typedefs.contains_key(word)
    }

    /// Whether the next tokens start a type name (for casts and `sizeof`).
    fn starts_type_name(&self, ahead: usize) -> bool {
        match self.word_at(ahead) {
            Some(word) => {
                is_type_keyword(word)
                    || is_qualifier_or_storage(word)
                    || is_attribute_keyword(word)
                    || self.is_typedef_name(word)
            }
            None => false,
        }
    }

    // ---- entry points -----------------------------------------------------------------------

    pub(crate) fn declarations(mut self) -> Result<Report, Error> {
        self.run()?;
        Ok(self.report)
    }

    /// Header mode: the declarations, and the object-like macros (those `#undef`ed by the
    /// end left out) for the preprocessor to expand.
    pub(crate) fn header_declarations(mut self) -> Result<(Report, Vec<MacroDefinition>), Error> {
        self.run()?;
        for line in std::mem::take(&mut self.macro_lines) {
            self.directive(line)?;
        }
        let macros = self.collected_macros.take().unwrap_or_default();
        // The last definition of each name, in order of definition; `#undef` left a marker
        // with an empty line.
        let mut last = rustc_hash::FxHashMap::default();
        for (index, definition) in macros.iter().enumerate() {
            last.insert(definition.name.as_str(), index);
        }
        let kept = macros
            .iter()
            .enumerate()
            .filter(|(index, d)| last[d.name.as_str()] == *index && !d.line.is_empty())
            .map(|(_, d)| d.clone())
            .collect();
        Ok((self.report, kept))
    }

    fn run(&mut self) -> Result<(), Error> {
        while self.peek().kind != TokenKind::Eof {
            let start = self.pos;
            match self.external_declaration() {
                Ok(()) => {}
                Err(error) if error.kind() == ErrorKind::Unsupported => {
                    self.pos = start;
                    self.skip_declaration();
                    self.report.skipped.push(Skipped {
                        kind: SkipKind::Unsupported,
                        name: None,
                        reason: error,
                    });
                }
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    pub(crate) fn type_name_only(mut self) -> Result<QualType, Error> {
        // A name is allowed and ignored, as in a parameter (`char cb(char, char)`): the
        // spelling CFFI's type strings accept.
        let specs = self.specifiers()?;
        if specs.storage != Storage::None {
            return Err(self.error(
                ErrorKind::Syntax,
                "a storage class in a type name",
                specs.span,
            ));
        }
        let declarator = self.declarator(true)?;
        let mut unused = None;
        let ty = self.apply(specs.base, &declarator, &mut unused)?;
        if self.peek().kind != TokenKind::Eof {
            return Err(self.unexpected("the end of the type"));
        }
        Ok(ty)
    }

    // ---- declarations -----------------------------------------------------------------------

    fn external_declaration(&mut self) -> Result<(), Error> {
        let token = self.peek();
        if token.kind == TokenKind::Directive {
            self.bump();
            return self.directive(token);
        }
        if self.eat_punct(";") {
            return Ok(());
        }
        match self.word() {
            Some("_Static_assert" | "static_assert") => return self.static_assert(),
            Some("__asm__" | "__asm" | "asm") => {
                self.bump();
                self.skip_balanced("(", ")")?;
                self.expect_punct(";")?;
                return Ok(());
            }
            _ => {}
        }

        let specs = self.specifiers()?;
        if self.eat_punct(";") {
            return Ok(());
        }
        loop {
            let declarator = self.declarator(true)?;
            let Some((name, name_span)) = declarator.name().cloned() else {
                return Err(self.error(
                    ErrorKind::Syntax,
                    "expected a name in this declaration",
                    declarator.span,
                ));
            };
            let mut param_names = None;
            let mut ty = self.apply(specs.base, &declarator, &mut param_names)?;
            // `size_t f(...)`: the result spelled by a typedef name, the declarator only the
            // name and its parameter list.
            let spelled = Spelled {
                params: std::mem::take(&mut self.param_typedefs),
                result: specs.typedef.clone().filter(|_| {
                    declarator.pointers.is_empty()
                        && declarator.suffixes.len() == 1
                        && declarator.inner.is_none()
                }),
            };
            let (attributes, asm_name) = self.after_declarator()?;
            let mut all = specs.attributes.clone();
            all.merge(attributes);
            ty = self.apply_mode(ty, &all, name_span)?;
            let is_function = matches!(self.decls.types.get(ty.ty), Type::Function(_));

            if self.is_punct("{") {
                if !is_function {
                    return Err(self.unexpected("`;` or `,`"));
                }
                self.skip_balanced("{", "}")?;
                if specs.storage == Storage::Static
                    || specs.inline && specs.storage != Storage::Extern
                {
                    self.skip_note(
                        SkipKind::InlineFunction,
                        format!(
                            "`{name}` is an inline or static function: it has no symbol to call (a compiled shim can export it)"
                        ),
                        name_span,
                    );
                    self.record_inline(name, name_span, ty, param_names, spelled);
                } else {
                    self.declare_function(name, name_span, ty, param_names, asm_name, spelled)?;
                }
                return Ok(());
            }
            let mut constant = None;
            if self.eat_punct("=") {
                if specs.storage == Storage::Static && !is_function {
                    constant = self.integer_constant_initializer(ty);
                }
                if constant.is_none() {
                    self.skip_initializer()?;
                }
            }
            match specs.storage {
                Storage::Typedef => self.declare_typedef(name, name_span, ty)?,
                _ if is_function => {
                    if specs.storage == Storage::Static {
                        self.skip_note(
                            SkipKind::Static,
                            format!("`{name}` is a static function: it has no symbol to call"),
                            name_span,
                        );
                    } else {
                        self.declare_function(name, name_span, ty, param_names, asm_name, spelled)?;
                    }
                }
                Storage::Static => match constant {
                    // `static const int N = 4;`: a named constant, as CFFI reads it.
                    Some(value) => self.declare_constant(&name, value, ty.ty, name_span)?,
                    None => self.skip_named(
                        SkipKind::Static,
                        Some(&name),
                        format!("`{name}` is a static variable: it has no symbol"),
                        name_span,
                    ),
                },
                _ => self.declare_variable(name, name_span, ty, asm_name)?,
            }
            if self.eat_punct(",") {
                continue;
            }
            self.expect_punct(";")?;
            return Ok(());
        }
    }

    /// Reports a declared name and records where it came from.
    fn declared(&mut self, what: Declared, span: Span) {
        let origin = self.locator.origin(span.start);
        self.decls.origins.insert(what.clone(), origin);
        self.report.declared.push(what);
    }

    fn skip_note(&mut self, kind: SkipKind, message: String, span: Span) {
        self.skip_named(kind, None, message, span);
    }

    /// [`skip_note`](Self::skip_note) for a declaration of `name`, when it has one.
    fn skip_named(&mut self, kind: SkipKind, name: Option<&str>, message: String, span: Span) {
        let reason = self.error(ErrorKind::Unsupported, message, span);
        self.report.skipped.push(Skipped {
            kind,
            name: name.map(str::to_owned),
            reason,
        });
    }

    /// Keeps a `static inline` function's declaration, for a shim to export.
    fn record_inline(
        &mut self,
        name: String,
        span: Span,
        ty: QualType,
        param_names: Option<Vec<Option<String>>>,
        spelled: Spelled,
    ) {
        let Type::Function(function) = self.decls.types.get(ty.ty) else {
            return;
        };
        let param_names = param_names.unwrap_or_else(|| vec![None; function.params.len()]);
        let param_typedefs = spelled.params_for(function.params.len());
        let origin = self.locator.origin(span.start);
        self.decls
            .origins
            .insert(Declared::Function(name.clone()), origin);
        self.decls.inline_functions.insert(
            name.clone(),
            FunctionDecl {
                name,
                ty: ty.ty,
                param_names,
                param_typedefs,
                result_typedef: spelled.result,
                asm_name: None,
                span,
            },
        );
    }

    fn declare_typedef(&mut self, name: String, span: Span, ty: QualType) -> Result<(), Error> {
        if let Some(&existing) = self.decls.typedefs.get(&name) {
            // The standard typedefs are a convenience, not the user's declarations: the
            // user's own `typedef int bool;` replaces them, as in CFFI.
            if crate::decls::is_standard_typedef(&self.decls.types, &name, existing) {
                self.decls.typedefs.insert(name.clone(), ty);
                self.declared(Declared::Typedef(name), span);
                return Ok(());
            }
            if existing.quals == ty.quals && self.same_type(existing.ty, ty.ty, 0) {
                // The same declaration again (a header included twice): the first stays.
                self.declared(Declared::Typedef(name), span);
                return Ok(());
            }
            if existing != ty {
                let message = format!(
                    "typedef `{name}` redefined as `{}`; it was `{}`",
                    self.decls.types.display(ty),
                    self.decls.types.display(existing)
                );
                return Err(self.error(ErrorKind::Redefinition, message, span));
            }
        }
        if ty.quals.is_empty() {
            self.decls.types.name_by_typedef(ty.ty, &name);
        }
        self.decls.typedefs.insert(name.clone(), ty);
        self.declared(Declared::Typedef(name), span);
        Ok(())
    }

    fn declare_function(
        &mut self,
        name: String,
        span: Span,
        ty: QualType,
        param_names: Option<Vec<Option<String>>>,
        asm_name: Option<String>,
        spelled: Spelled,
    ) -> Result<(), Error> {
        if let Some(existing) = self.decls.functions.get(&name) {
            if existing.ty != ty.ty {
                let message = format!(
                    "function `{name}` redeclared as `{}`; it was `{}`",
                    self.decls.types.declaration(ty, &name),
                    self.decls.types.declaration(existing.ty, &name)
                );
                return Err(self.error(ErrorKind::Redefinition, message, span));
            }
        }
        let Type::Function(function) = self.decls.types.get(ty.ty) else {
            unreachable!("declare_function takes function types")
        };
        let param_names = param_names.unwrap_or_else(|| vec![None; function.params.len()]);
        let param_typedefs = spelled.params_for(function.params.len());
        self.decls.record_function(FunctionDecl {
            name: name.clone(),
            ty: ty.ty,
            param_names,
            param_typedefs,
            result_typedef: spelled.result,
            asm_name,
            span,
        });
        self.declared(Declared::Function(name), span);
        Ok(())
    }

    fn declare_variable(
        &mut self,
        name: String,
        span: Span,
        ty: QualType,
        asm_name: Option<String>,
    ) -> Result<(), Error> {
        if matches!(self.decls.types.get(ty.ty), Type::Void) {
            return Err(self.error(
                ErrorKind::Incomplete,
                format!("variable `{name}` has type void"),
                span,
            ));
        }
        if let Some(existing) = self.decls.variables.get(&name) {
            if existing.ty != ty {
                let message = format!(
                    "variable `{name}` redeclared as `{}`; it was `{}`",
                    self.decls.types.display(ty),
                    self.decls.types.display(existing.ty)
                );
                return Err(self.error(ErrorKind::Redefinition, message, span));
            }
        }
        self.decls.variables.insert(
            name.clone(),
            VariableDecl {
                name: name.clone(),
                ty,
                asm_name,
                span,
            },
        );
        self.declared(Declared::Variable(name), span);
        Ok(())
    }

    /// Attributes and an `__asm__("symbol")` label after a declarator.
    fn after_declarator(&mut self) -> Result<(Attributes, Option<String>), Error> {
        let mut attributes = Attributes::default();
        let mut asm_name = None;
        loop {
            match self.word() {
                Some(w) if is_attribute_keyword(w) => self.attributes(&mut attributes)?,
                Some("__asm__" | "__asm" | "asm") => {
                    self.bump();
                    self.expect_punct("(")?;
                    let mut label = String::new();
                    while self.peek().kind == TokenKind::Str {
                        let token = self.bump();
                        let literal = self.text_of(token);
                        label.push_str(&literal[1..literal.len() - 1]);
                    }
                    self.expect_punct(")")?;
                    asm_name = Some(label);
                }
                _ => return Ok((attributes, asm_name)),
            }
        }
    }

    fn apply_mode(
        &mut self,
        ty: QualType,
        attributes: &Attributes,
        span: Span,
    ) -> Result<QualType, Error> {
        let Some((bytes, floating)) = attributes.mode else {
            return Ok(ty);
        };
        let Type::Scalar(scalar) = *self.decls.types.get(ty.ty) else {
            return Ok(ty);
        };
        let signed = scalar.is_signed();
        let new = match (bytes, floating) {
            (1, false) if signed => Scalar::SChar,
            (1, false) => Scalar::UChar,
            (2, false) if signed => Scalar::Short,
            (2, false) => Scalar::UShort,
            (4, false) if signed => Scalar::Int,
            (4, false) => Scalar::UInt,
            (8, false) if signed => Scalar::Long,
            (8, false) => Scalar::ULong,
            (16, false) if signed => Scalar::Int128,
            (16, false) => Scalar::UInt128,
            (4, true) => Scalar::Float,
            (8, true) => Scalar::Double,
            (12, true) => Scalar::LongDouble,
            _ => {
                return Err(self.error(
                    ErrorKind::Unsupported,
                    format!("`__attribute__((mode))` of {bytes} bytes is not supported"),
                    span,
                ));
            }
        };
        Ok(QualType {
            ty: self.decls.types.scalar(new),
            quals: ty.quals,
        })
    }

    fn static_assert(&mut self) -> Result<(), Error> {
        let keyword = self.bump();
        self.expect_punct("(")?;
        let value = self.constant_expression()?;
        if self.eat_punct(",") {
            while self.peek().kind == TokenKind::Str {
                self.bump();
            }
        }
        let close = self.expect_punct(")")?;
        self.expect_punct(";")?;
        if value.value == 0 {
            return Err(self.error(
                ErrorKind::InvalidConstant,
                "static assertion failed",
                Span::new(keyword.span.start, close.span.end),
            ));
        }
        Ok(())
    }

    // ---- specifiers -------------------------------------------------------------------------

    fn specifiers(&mut self) -> Result<Specifiers, Error> {
        let start = self.peek().span;
        let mut storage = Storage::None;
        let mut inline = false;
        let mut quals = Qualifiers::NONE;
        let mut attributes = Attributes::default();
        let mut named: Option<QualType> = None;
        let mut typedef: Option<String> = None;
        let mut anonymous_record = false;
        // Counts of the arithmetic keywords.
        let mut counts = Counts::default();
        let mut float_alias: Option<Scalar> = None;
        let mut any_type = false;

        loop {
            let token = self.peek();
            if token.kind != TokenKind::Ident {
                break;
            }
            let word = self.text_of(token);
            match word {
                "typedef" => storage = Storage::Typedef,
                "extern" => storage = Storage::Extern,
                "static" => storage = Storage::Static,
                "auto" | "register" | "_Thread_local" | "__thread" => {
                    if storage == Storage::None {
                        storage = Storage::Other;
                    }
                }
                "inline" | "__inline" | "__inline__" | "_Noreturn" => inline |= word != "_Noreturn",
                // Windows calling conventions: one convention on x86-64, as CFFI ignores them.
                "__extension__" | "_Nonnull" | "_Nullable" | "_Null_unspecified" | "__stdcall"
                | "__cdecl" => {}
                "const" | "__const" | "__const__" => quals = quals.union(Qualifiers::CONST),
                "volatile" | "__volatile" | "__volatile__" => {
                    quals = quals.union(Qualifiers::VOLATILE)
                }
                "restrict" | "__restrict" | "__restrict__" => {
                    quals = quals.union(Qualifiers::RESTRICT)
                }
                "_Atomic" => {
                    return Err(self.error(
                        ErrorKind::Unsupported,
                        "`_Atomic` types are not supported",
                        token.span,
                    ));
                }
                "__attribute__" | "__attribute" => {
                    self.attributes(&mut attributes)?;
                    continue;
                }
                "_Alignas" => {
                    self.bump();
                    self.expect_punct("(")?;
                    let align = if self.starts_type_name(0) {
                        let ty = self.type_name()?;
                        self.size_align_at(ty.ty, token.span)?.1
                    } else {
                        let value = self.constant_expression()?.value;
                        self.alignment(value, token.span)?
                    };
                    self.expect_punct(")")?;
                    attributes.aligned = attributes.aligned.max(Some(align));
                    continue;
                }
                "void" => counts.void += 1,
                "char" => counts.char_ += 1,
                "short" => counts.short += 1,
                "int" => counts.int += 1,
                "long" => counts.long += 1,
                "signed" | "__signed" | "__signed__" => counts.signed += 1,
                "unsigned" => counts.unsigned += 1,
                "float" => counts.float += 1,
                "double" => counts.double += 1,
                "_Bool" => counts.bool_ += 1,
                "_Complex" | "__complex__" => counts.complex += 1,
                "__int128" => counts.int128 += 1,
                "_Float32" => float_alias = Some(Scalar::Float),
                "_Float64" | "_Float32x" => float_alias = Some(Scalar::Double),
                "_Float64x" => float_alias = Some(Scalar::LongDouble),
                "_Float128" | "__float128" | "_Float16" | "__bf16" | "_Decimal32"
                | "_Decimal64" | "_Decimal128" => {
                    return Err(self.error(
                        ErrorKind::Unsupported,
                        format!("`{word}` has no supported representation"),
                        token.span,
                    ));
                }
                "typeof" | "__typeof__" | "__typeof" => {
                    return Err(self.error(
                        ErrorKind::Unsupported,
                        "`typeof` is not supported",
                        token.span,
                    ));
                }
                "__builtin_va_list" => {
                    named = Some(self.decls.types.intern(Type::VaList).into());
                }
                "struct" | "union" => {
                    let kind = if word == "struct" {
                        RecordKind::Struct
                    } else {
                        RecordKind::Union
                    };
                    let (ty, anonymous) = self.record_specifier(kind)?;
                    named = Some(ty.into());
                    anonymous_record = anonymous;
                    any_type = true;
                    continue;
                }
                "enum" => {
                    named = Some(self.enum_specifier()?.into());
                    any_type = true;
                    continue;
                }
                _ => {
                    let typed_already = any_type || named.is_some();
                    if !typed_already {
                        if let Some(&ty) = self.decls.typedefs.get(word) {
                            named = Some(ty);
                            typedef = Some(word.to_owned());
                            any_type = true;
                            self.bump();
                            continue;
                        }
                    }
                    break;
                }
            }
            // Storage classes and qualifiers are not type specifiers (`_Atomic` and
            // `_Alignas` returned or continued above).
            if !is_qualifier_or_storage(word) {
                any_type = true;
            }
            self.bump();
        }

        let end = self.tokens[self.pos.saturating_sub(1)]
            .span
            .end
            .max(start.start);
        let span = Span::new(start.start, end);
        let arithmetic = counts.total() + usize::from(float_alias.is_some());
        let base: QualType = match named {
            Some(ty) => {
                if arithmetic > 0 {
                    return Err(self.error(
                        ErrorKind::Syntax,
                        "a type name combined with other type specifiers",
                        span,
                    ));
                }
                QualType {
                    ty: ty.ty,
                    quals: ty.quals.union(quals),
                }
            }
            None if arithmetic == 0 => {
                let token = self.peek();
                return Err(if token.kind == TokenKind::Ident {
                    self.error(
                        ErrorKind::UnknownType,
                        format!("unknown type name `{}`", self.text_of(token)),
                        token.span,
                    )
                } else {
                    self.unexpected("a type")
                });
            }
            None => {
                let ty = match float_alias {
                    Some(alias) if arithmetic == 1 => self.decls.types.scalar(alias),
                    Some(_) => return Err(self.invalid_combination(span)),
                    None => match counts.resolve() {
                        Some(None) => self.decls.types.void(),
                        Some(Some(scalar)) => self.decls.types.scalar(scalar),
                        None => return Err(self.invalid_combination(span)),
                    },
                };
                QualType { ty, quals }
            }
        };
        Ok(Specifiers {
            base,
            storage,
            inline,
            attributes,
            anonymous_record,
            typedef,
            span,
        })
    }

    fn invalid_combination(&self, span: Span) -> Error {
        self.error(
            ErrorKind::Syntax,
            format!(
                "`{}` is not a valid combination of type specifiers",
                &self.text[span.start..span.end]
            ),
            span,
        )
    }

    /// `__attribute__((a, b(args), ...))`, recording the ones that change layout.
    fn attributes(&mut self, attributes: &mut Attributes) -> Result<(), Error> {
        self.bump();
        self.expect_punct("(")?;
        self.expect_punct("(")?;
        while !self.is_punct(")") {
            if self.eat_punct(",") {
                continue;
            }
            let token = self.peek();
            if token.kind != TokenKind::Ident {
                return Err(self.unexpected("an attribute name"));
            }
            self.bump();
            let raw = self.text_of(token);
            let name = raw.trim_start_matches("__").trim_end_matches("__");
            match name {
                "packed" => attributes.packed = true,
                "aligned" => {
                    let align = if self.eat_punct("(") {
                        let value = self.constant_expression()?;
                        self.expect_punct(")")?;
                        self.alignment(value.value, token.span)?
                    } else {
                        16 // the largest alignment of any type on x86-64
                    };
                    attributes.aligned = attributes.aligned.max(Some(align));
                }
                "mode" => {
                    self.expect_punct("(")?;
                    let mode_token = self.bump();
                    let mode = self
                        .text_of(mode_token)
                        .trim_start_matches("__")
                        .trim_end_matches("__");
                    attributes.mode = Some(match mode {
                        "QI" | "byte" => (1, false),
                        "HI" => (2, false),
                        "SI" => (4, false),
                        "DI" | "word" | "pointer" => (8, false),
                        "TI" => (16, false),
                        "SF" => (4, true),
                        "DF" => (8, true),
                        "XF" => (12, true),
                        _ => (0, false),
                    });
                    self.expect_punct(")")?;
                }
                "vector_size" | "ext_vector_type" => {
                    return Err(self.error(
                        ErrorKind::Unsupported,
                        "vector types are not supported",
                        token.span,
                    ));
                }
                _ => {
                    if self.is_punct("(") {
                        self.skip_balanced("(", ")")?;
                    }
                }
            }
        }
        self.expect_punct(")")?;
        self.expect_punct(")")?;
        Ok(())
    }

    /// An alignment from an attribute: a power of two gcc accepts (at most 2^28).
    fn alignment(&self, value: i128, span: Span) -> Result<u64, Error> {
        u64::try_from(value)
            .ok()
            .filter(|a| a.is_power_of_two() && *a <= 1 << 28)
            .ok_or_else(|| {
                self.error(
                    ErrorKind::InvalidConstant,
                    format!("alignment {value} is not a power of two up to 2^28"),
                    span,
                )
            })
    }

    fn size_align_at(&self, ty: TypeId, span: Span) -> Result<(u64, u64), Error> {
        self.decls
            .size_align(ty)
            .map_err(|e| layout_error(e, span, &self.locator))
    }

    // ---- struct, union, enum ----------------------------------------------------------------

    /// Returns the record's type and whether it was defined here without a tag.
    fn record_specifier(&mut self, kind: RecordKind) -> Result<(TypeId, bool), Error> {
        self.bump();
        let mut attributes = Attributes::default();
        while self.word().is_some_and(is_attribute_keyword) {
            self.attributes(&mut attributes)?;
        }
        let tag = match self.word() {
            Some(word) if !is_type_keyword(word) && !is_qualifier_or_storage(word) => {
                let token = self.bump();
                Some((word.to_owned(), token.span))
            }
            _ => None,
        };
        while self.word().is_some_and(is_attribute_keyword) {
            self.attributes(&mut attributes)?;
        }
        let tag_kind = TagKind::from(kind);
        if !self.is_punct("{") {
            let Some((tag, tag_span)) = tag else {
                return Err(self.unexpected(&format!("a tag or `{{` after `{}`", kind.keyword())));
            };
            let key = (tag_kind, tag.clone());
            if let Some(&id) = self.decls.tags.get(&key) {
                return Ok((id, false));
            }
            let id = self.decls.types.declare_record(kind, Some(tag.clone()));
            self.decls.tags.insert(key, id);
            self.declared(Declared::Tag(tag_kind, tag), tag_span);
            return Ok((id, false));
        }

        let open = self.peek().span;
        let fields = self.nested(|p| p.record_body(kind))?;
        while self.word().is_some_and(is_attribute_keyword) {
            self.attributes(&mut attributes)?;
        }
        let pack = if attributes.packed {
            Some(1)
        } else {
            self.pack
        };
        let span = tag.as_ref().map_or(open, |t| t.1);
        let complete = |parser: &mut Self, id: TypeId, fields: Vec<Field>| {
            let deepest = fields
                .iter()
                .map(|f| parser.decls.types.depth(f.ty.ty))
                .max();
            if deepest.unwrap_or(0) >= MAX_TYPE_DEPTH {
                return Err(parser.too_deep(span));
            }
            parser
                .decls
                .types
                .complete_record(id, fields, pack, attributes.aligned)
                .map_err(|e| layout_error(e, span, &parser.locator))
        };
        let Some((tag, tag_span)) = tag else {
            let id = self.decls.types.declare_record(kind, None);
            complete(self, id, fields)?;
            return Ok((id, true));
        };
        let key = (tag_kind, tag.clone());
        match self.decls.tags.get(&key).copied() {
            Some(id) if self.decls.types.is_complete(id) => {
                // Defined before: fine only if this definition is the same.
                let candidate = self.decls.types.declare_record(kind, Some(tag.clone()));
                complete(self, candidate, fields)?;
                if !self.same_record(id, candidate) {
                    return Err(self.error(
                        ErrorKind::Redefinition,
                        format!(
                            "`{} {tag}` redefined with different members",
                            kind.keyword()
                        ),
                        tag_span,
                    ));
                }
                Ok((id, false))
            }
            Some(id) => {
                complete(self, id, fields)?;
                self.decls
                    .tag_spans
                    .insert((tag_kind, tag.clone()), tag_span);
                self.declared(Declared::Tag(tag_kind, tag), tag_span);
                Ok((id, false))
            }
            None => {
                let id = self.decls.types.declare_record(kind, Some(tag.clone()));
                self.decls.tags.insert(key, id);
                complete(self, id, fields)?;
                self.decls
                    .tag_spans
                    .insert((tag_kind, tag.clone()), tag_span);
                self.declared(Declared::Tag(tag_kind, tag), tag_span);
                Ok((id, false))
            }
        }
    }

    /// Two definitions agree: same members (names, types as C text, bit widths) and layout.
    fn same_record(&self, a: TypeId, b: TypeId) -> bool {
        self.same_type(a, b, 0)
    }

    /// Whether two types are the same structurally: identical, or anonymous structs, unions
    /// and enums with the same members — what a header included twice declares again
    /// (`typedef struct { int __val[2]; } __fsid_t;` from both zlib.h and expat.h).
    fn same_type(&self, a: TypeId, b: TypeId, depth: usize) -> bool {
        if a == b {
            return true;
        }
        if depth > MAX_TYPE_DEPTH as usize {
            return false;
        }
        let types = &self.decls.types;
        let same =
            |x: QualType, y: QualType| x.quals == y.quals && self.same_type(x.ty, y.ty, depth + 1);
        match (types.get(a), types.get(b)) {
            (Type::Pointer(x), Type::Pointer(y)) => same(*x, *y),
            (
                Type::Array {
                    element: x,
                    len: lx,
                },
                Type::Array {
                    element: y,
                    len: ly,
                },
            ) => lx == ly && same(*x, *y),
            (Type::Function(x), Type::Function(y)) => {
                x.variadic == y.variadic
                    && x.params.len() == y.params.len()
                    && same(x.result, y.result)
                    && x.params.iter().zip(&y.params).all(|(p, q)| same(*p, *q))
            }
            (Type::Record(x), Type::Record(y)) => {
                let (x, y) = (types.record(*x), types.record(*y));
                let (Some(fx), Some(fy)) = (&x.fields, &y.fields) else {
                    return false;
                };
                x.kind == y.kind
                    && x.tag == y.tag
                    && x.layout == y.layout
                    && fx.len() == fy.len()
                    && fx.iter().zip(fy).all(|(f, g)| {
                        f.name == g.name && f.bit_width == g.bit_width && same(f.ty, g.ty)
                    })
            }
            (Type::Enum(x), Type::Enum(y)) => {
                let (x, y) = (types.enumeration(*x), types.enumeration(*y));
                x.tag == y.tag && x.values == y.values && x.underlying == y.underlying
            }
            _ => false,
        }
    }

    fn record_body(&mut self, kind: RecordKind) -> Result<Vec<Field>, Error> {
        self.expect_punct("{")?;
        let mut fields: Vec<Field> = Vec::new();
        let mut names: Vec<(String, Span)> = Vec::new();
        while !self.is_punct("}") {
            let token = self.peek();
            if token.kind == TokenKind::Eof {
                return Err(self.unexpected("`}`"));
            }
            if token.kind == TokenKind::Directive {
                self.bump();
                self.directive(token)?;
                continue;
            }
            if self.eat_punct(";") {
                continue;
            }
            if matches!(self.word(), Some("_Static_assert" | "static_assert")) {
                self.static_assert()?;
                continue;
            }
            let specs = self.specifiers()?;
            if self.eat_punct(";") {
                if specs.anonymous_record {
                    fields.push(Field {
                        name: None,
                        ty: specs.base,
                        bit_width: None,
                        aligned: specs.attributes.aligned,
                        packed: specs.attributes.packed,
                    });
                }
                continue;
            }
            loop {
                let (name, ty, span) = if self.is_punct(":") {
                    (None, specs.base, self.peek().span)
                } else {
                    let declarator = self.declarator(true)?;
                    let mut unused = None;
                    let ty = self.apply(specs.base, &declarator, &mut unused)?;
                    let name = declarator.name().cloned();
                    (name, ty, declarator.span)
                };
                let mut attributes = specs.attributes.clone();
                attributes.merge(self.after_declarator()?.0);
                let bit_width = if self.eat_punct(":") {
                    let value = self.constant_expression()?;
                    let width = u32::try_from(value.value).map_err(|_| {
                        self.error(
                            ErrorKind::InvalidLayout,
                            format!("bitfield width {} is negative or too large", value.value),
                            span,
                        )
                    })?;
                    Some(width)
                } else {
                    None
                };
                let (more, _) = self.after_declarator()?;
                attributes.merge(more);
                let ty = self.apply_mode(ty, &attributes, span)?;
                if name.is_none() && bit_width.is_none() {
                    return Err(self.error(ErrorKind::Syntax, "expected a member name", span));
                }
                if matches!(self.decls.types.get(ty.ty), Type::Function(_)) {
                    return Err(self.error(
                        ErrorKind::Syntax,
                        "a member cannot have a function type (did you mean a pointer?)",
                        span,
                    ));
                }
                let flexible = matches!(self.decls.types.get(ty.ty), Type::Array { len: None, .. });
                if !flexible && !self.decls.types.is_complete(ty.ty) {
                    return Err(self.error(
                        ErrorKind::Incomplete,
                        format!(
                            "member `{}` has incomplete type `{}`",
                            name.as_ref().map_or("<unnamed>", |n| n.0.as_str()),
                            self.decls.types.display(ty)
                        ),
                        span,
                    ));
                }
                if let Some(width) = bit_width {
                    self.check_bitfield(name.as_ref(), ty, width, span)?;
                }
                if let Some((name, name_span)) = &name {
                    if names.iter().any(|(n, _)| n == name) {
                        return Err(self.error(
                            ErrorKind::Redefinition,
                            format!("duplicate member `{name}` in {}", kind.keyword()),
                            *name_span,
                        ));
                    }
                    names.push((name.clone(), *name_span));
                }
                fields.push(Field {
                    name: name.map(|n| n.0),
                    ty,
                    bit_width,
                    aligned: attributes.aligned,
                    packed: attributes.packed,
                });
                if self.eat_punct(",") {
                    continue;
                }
                self.expect_punct(";")?;
                break;
            }
        }
        self.expect_punct("}")?;
        Ok(fields)
    }

    /// The layout rules for a bitfield, checked where the member's span is known.
    fn check_bitfield(
        &self,
        name: Option<&(String, Span)>,
        ty: QualType,
        width: u32,
        span: Span,
    ) -> Result<(), Error> {
        let span = name.map_or(span, |n| n.1);
        let label = name.map_or("<unnamed>", |n| n.0.as_str());
        let scalar = match self.decls.types.get(ty.ty) {
            Type::Scalar(s) if s.is_integer() => *s,
            Type::Enum(e) => self.decls.types.enumeration(*e).underlying,
            _ => {
                let message = format!(
                    "bitfield `{label}` has type `{}`, which is not an integer type",
                    self.decls.types.display(ty)
                );
                return Err(self.error(ErrorKind::InvalidLayout, message, span));
            }
        };
        let bits = scalar.size_align().0 * 8;
        if u64::from(width) > bits {
            let message = format!(
                "bitfield `{label}` is {width} bits wide, wider than its type ({bits} bits)"
            );
            return Err(self.error(ErrorKind::InvalidLayout, message, span));
        }
        if width == 0 && name.is_some() {
            let message = format!("bitfield `{label}` has zero width: only unnamed bitfields may");
            return Err(self.error(ErrorKind::InvalidLayout, message, span));
        }
        Ok(())
    }

    fn enum_specifier(&mut self) -> Result<TypeId, Error> {
        self.bump();
        let mut attributes = Attributes::default();
        while self.word().is_some_and(is_attribute_keyword) {
            self.attributes(&mut attributes)?;
        }
        let tag = match self.word() {
            Some(word) if !is_type_keyword(word) => {
                let token = self.bump();
                Some((word.to_owned(), token.span))
            }
            _ => None,
        };
        while self.word().is_some_and(is_attribute_keyword) {
            self.attributes(&mut attributes)?;
        }
        let existing = tag
            .as_ref()
            .and_then(|(t, _)| self.decls.tags.get(&(TagKind::Enum, t.clone())).copied());
        if !self.is_punct("{") {
            let Some((tag, tag_span)) = tag else {
                return Err(self.unexpected("a tag or `{` after `enum`"));
            };
            if let Some(id) = existing {
                return Ok(id);
            }
            let id = self.decls.types.declare_enum(Some(tag.clone()));
            self.decls.tags.insert((TagKind::Enum, tag.clone()), id);
            self.declared(Declared::Tag(TagKind::Enum, tag), tag_span);
            return Ok(id);
        }

        let redefining = existing.filter(|&id| self.decls.types.is_complete(id));
        let id = match existing {
            Some(id) if redefining.is_none() => id,
            _ => self
                .decls
                .types
                .declare_enum(tag.as_ref().map(|t| t.0.clone())),
        };
        self.bump(); // {
        let mut values: Vec<(String, i128)> = Vec::new();
        // The next implicit value, if it fits: gcc computes it in the previous value's type,
        // so past LONG_MAX only when that was unsigned, and never past ULONG_MAX.
        let mut next = Some(0i128);
        while !self.is_punct("}") {
            let token = self.peek();
            if token.kind != TokenKind::Ident {
                return Err(self.unexpected("an enumerator name"));
            }
            self.bump();
            let name = self.text_of(token).to_owned();
            let mut ignored = Attributes::default();
            while self.word().is_some_and(is_attribute_keyword) {
                self.attributes(&mut ignored)?;
            }
            let (value, unsigned) = if self.eat_punct("=") {
                let constant = self.constant_expression()?;
                (constant.value, !constant.is_signed())
            } else {
                let value = next.ok_or_else(|| {
                    self.error(
                        ErrorKind::InvalidConstant,
                        format!("overflow in enumeration values: `{name}` is past the largest value an enum can hold"),
                        token.span,
                    )
                })?;
                (value, value > i64::MAX as i128)
            };
            let limit = if unsigned {
                u64::MAX as i128
            } else {
                i64::MAX as i128
            };
            next = value.checked_add(1).filter(|&n| n <= limit);
            if redefining.is_none() {
                self.declare_constant(&name, value, id, token.span)?;
            }
            values.push((name, value));
            if !self.eat_punct(",") {
                break;
            }
        }
        self.expect_punct("}")?;
        while self.word().is_some_and(is_attribute_keyword) {
            self.attributes(&mut attributes)?;
        }
        if let Some(old) = redefining {
            let Type::Enum(e) = *self.decls.types.get(old) else {
                unreachable!()
            };
            if self.decls.types.enumeration(e).values.as_ref() != Some(&values) {
                let (tag, span) = tag.expect("only tagged enums are redefined");
                return Err(self.error(
                    ErrorKind::Redefinition,
                    format!("`enum {tag}` redefined with different enumerators"),
                    span,
                ));
            }
            return Ok(old);
        }
        self.decls
            .types
            .complete_enum(id, values, attributes.packed);
        if let Some((tag, span)) = tag {
            if existing.is_none() {
                self.decls.tags.insert((TagKind::Enum, tag.clone()), id);
            }
            self.decls
                .tag_spans
                .insert((TagKind::Enum, tag.clone()), span);
            self.declared(Declared::Tag(TagKind::Enum, tag), span);
        }
        Ok(id)
    }

    fn declare_constant(
        &mut self,
        name: &str,
        value: i128,
        ty: TypeId,
        span: Span,
    ) -> Result<(), Error> {
        if let Some(existing) = self.decls.constants.get(name) {
            if existing.value != value {
                return Err(self.error(
                    ErrorKind::Redefinition,
                    format!(
                        "constant `{name}` redefined as {value}; it was {}",
                        existing.value
                    ),
                    span,
                ));
            }
        }
        self.decls
            .constants
            .insert(name.to_owned(), Constant { value, ty });
        self.declared(Declared::Constant(name.to_owned()), span);
        Ok(())
    }

    // ---- declarators ------------------------------------------------------------------------

    /// A declarator, named or abstract (`allow_name: false` in type names).
    fn declarator(&mut self, allow_name: bool) -> Result<Declarator, Error> {
        self.nested(|p| p.declarator_inner(allow_name))
    }

    fn declarator_inner(&mut self, allow_name: bool) -> Result<Declarator, Error> {
        let start = self.peek().span.start;
        let mut declarator = Declarator::default();
        // `(__attribute__((alloc_size(1))) *f)`: attributes before the pointers too.
        while self.word().is_some_and(is_attribute_keyword) {
            let mut ignored = Attributes::default();
            self.attributes(&mut ignored)?;
        }
        while self.is_punct("*") || self.is_punct("^") {
            let star = self.bump();
            if self.text_of(star) == "^" {
                return Err(self.error(
                    ErrorKind::Unsupported,
                    "block pointers (`^`) are not supported",
                    star.span,
                ));
            }
            let mut quals = Qualifiers::NONE;
            loop {
                match self.word() {
                    Some("const" | "__const" | "__const__") => {
                        quals = quals.union(Qualifiers::CONST)
                    }
                    Some("volatile" | "__volatile" | "__volatile__") => {
                        quals = quals.union(Qualifiers::VOLATILE)
                    }
                    Some("restrict" | "__restrict" | "__restrict__") => {
                        quals = quals.union(Qualifiers::RESTRICT)
                    }
                    Some(
                        "_Nonnull" | "_Nullable" | "_Null_unspecified" | "__extension__"
                        | "__stdcall" | "__cdecl",
                    ) => {}
                    Some(w) if is_attribute_keyword(w) => {
                        let mut ignored = Attributes::default();
                        self.attributes(&mut ignored)?;
                        continue;
                    }
                    _ => break,
                }
                self.bump();
            }
            declarator.pointers.push(quals);
        }
        while self.word().is_some_and(is_attribute_keyword) {
            let mut ignored = Attributes::default();
            self.attributes(&mut ignored)?;
        }
        if self.is_punct("(") && self.paren_opens_declarator(allow_name) {
            self.bump();
            declarator.inner = Some(Box::new(self.declarator(allow_name)?));
            self.expect_punct(")")?;
        } else if let Some(word) = self.word() {
            if allow_name && !is_type_keyword(word) && !is_qualifier_or_storage(word) {
                let token = self.bump();
                declarator.name = Some((word.to_owned(), token.span));
            }
        }
        loop {
            if self.is_punct("[") {
                let suffix = self.array_suffix()?;
                declarator.suffixes.push(suffix);
            } else if self.is_punct("(") {
                let open = self.peek().span;
                let (params, typedefs, variadic) = self.nested(|p| p.parameters())?;
                let close = self.tokens[self.pos - 1].span;
                declarator.suffixes.push(Suffix::Function {
                    params,
                    typedefs,
                    variadic,
                    span: Span::new(open.start, close.end),
                });
            } else {
                break;
            }
        }
        // An empty (abstract) declarator is a zero-width span where it would be.
        let end = if self.pos > 0 && self.tokens[self.pos - 1].span.end > start {
            self.tokens[self.pos - 1].span.end
        } else {
            start
        };
        declarator.span = Span::new(start, end);
        Ok(declarator)
    }

    /// After `(` in a declarator: a nested declarator `(*f)` rather than a parameter list?
    fn paren_opens_declarator(&self, allow_name: bool) -> bool {
        let mut ahead = 1;
        // Skip attributes: `(__attribute__((x)) *p)`.
        while self.word_at(ahead).is_some_and(is_attribute_keyword) {
            ahead += 1;
            let mut depth = 0;
            loop {
                let token = self.peek_at(ahead);
                match token.kind {
                    TokenKind::Punct("(") => depth += 1,
                    TokenKind::Punct(")") => depth -= 1,
                    TokenKind::Eof => return false,
                    _ => {}
                }
                ahead += 1;
                if depth == 0 {
                    break;
                }
            }
        }
        if self.is_punct_at(ahead, "*")
            || self.is_punct_at(ahead, "^")
            || self.is_punct_at(ahead, "(")
            || self.is_punct_at(ahead, "[")
        {
            return true;
        }
        match self.word_at(ahead) {
            Some(word) => {
                allow_name
                    && !is_type_keyword(word)
                    && !is_qualifier_or_storage(word)
                    && !self.is_typedef_name(word)
            }
            None => false,
        }
    }

    fn array_suffix(&mut self) -> Result<Suffix, Error> {
        let open = self.bump();
        while matches!(
            self.word(),
            Some("static" | "const" | "volatile" | "restrict" | "__restrict" | "__restrict__")
        ) {
            self.bump();
        }
        let len = if self.is_punct("]") || (self.is_punct("*") && self.is_punct_at(1, "]")) {
            self.eat_punct("*");
            None
        } else {
            let expr_start = self.peek().span;
            let value = self.constant_expression()?;
            let len = u64::try_from(value.value).map_err(|_| {
                self.error(
                    ErrorKind::InvalidConstant,
                    format!("array size {} is negative", value.value),
                    expr_start,
                )
            })?;
            Some(len)
        };
        let close = self.expect_punct("]")?;
        Ok(Suffix::Array(
            len,
            Span::new(open.span.start, close.span.end),
        ))
    }

    /// `( parameter-list )`: the parameters (name, adjusted type) and whether it ends in `...`.
    #[allow(clippy::type_complexity)]
    #[allow(
        clippy::type_complexity,
        reason = "names and types, typedef spellings, `...`"
    )]
    fn parameters(
        &mut self,
    ) -> Result<(Vec<(Option<String>, QualType)>, Vec<Option<String>>, bool), Error> {
        self.expect_punct("(")?;
        let mut params: Vec<(Option<String>, QualType, Span, bool)> = Vec::new();
        let mut typedefs = Vec::new();
        let mut variadic = false;
        if !self.eat_punct(")") {
            loop {
                if self.eat_punct("...") {
                    variadic = true;
                    self.expect_punct(")")?;
                    break;
                }
                let specs = self.specifiers()?;
                let declarator = self.declarator(true)?;
                let mut unused = None;
                let ty = self.apply(specs.base, &declarator, &mut unused)?;
                let (attributes, _) = self.after_declarator()?;
                let span = Span::new(specs.span.start, declarator.span.end.max(specs.span.end));
                let ty = self.apply_mode(ty, &attributes, span)?;
                let plain = declarator.is_abstract_plain();
                let underived = declarator.pointers.is_empty()
                    && declarator.suffixes.is_empty()
                    && declarator
                        .inner
                        .as_ref()
                        .is_none_or(|inner| inner.is_abstract_plain());
                typedefs.push(specs.typedef.filter(|_| underived));
                params.push((declarator.name().map(|n| n.0.clone()), ty, span, plain));
                if self.eat_punct(",") {
                    continue;
                }
                self.expect_punct(")")?;
                break;
            }
        }
        // `(void)`: no parameters. `void` anywhere else is an error.
        let is_void = |p: &Self, ty: QualType| matches!(p.decls.types.get(ty.ty), Type::Void);
        if params.len() == 1
            && !variadic
            && is_void(self, params[0].1)
            && params[0].3
            && params[0].0.is_none()
        {
            return Ok((Vec::new(), Vec::new(), false));
        }
        let mut adjusted = Vec::with_capacity(params.len());
        for (name, ty, span, _) in params {
            if is_void(self, ty) {
                let message = match &name {
                    Some(name) => format!("parameter `{name}` has type void"),
                    None => "`void` must be the only parameter".to_owned(),
                };
                return Err(self.error(ErrorKind::VoidParameter, message, span));
            }
            adjusted.push((name, self.adjust_parameter(ty)));
        }
        Ok((adjusted, typedefs, variadic))
    }

    /// Arrays and functions as parameters are pointers.
    fn adjust_parameter(&mut self, ty: QualType) -> QualType {
        match self.decls.types.get(ty.ty).clone() {
            Type::Array { element, .. } => self.decls.types.pointer(element).into(),
            Type::Function(_) => self.decls.types.pointer(ty).into(),
            _ => ty,
        }
    }

    /// Builds the declared type: pointers bind to the base first, then suffixes right to left,
    /// then the parenthesized inner declarator. `param_names` gets the names of the last
    /// function suffix applied: the declared function's own parameters.
    fn apply(
        &mut self,
        base: QualType,
        declarator: &Declarator,
        param_names: &mut Option<Vec<Option<String>>>,
    ) -> Result<QualType, Error> {
        let mut ty = base;
        for &quals in &declarator.pointers {
            ty = QualType {
                ty: self.decls.types.pointer(ty),
                quals,
            };
            self.bounded(ty, declarator.span)?;
        }
        for suffix in declarator.suffixes.iter().rev() {
            match suffix {
                Suffix::Array(len, span) => {
                    match self.decls.types.get(ty.ty) {
                        Type::Function(_) => {
                            return Err(self.error(ErrorKind::Syntax, "array of functions", *span));
                        }
                        _ if !self.decls.types.is_complete(ty.ty) => {
                            let message = format!(
                                "array of incomplete type `{}`",
                                self.decls.types.display(ty)
                            );
                            return Err(self.error(ErrorKind::Incomplete, message, *span));
                        }
                        _ => {}
                    }
                    ty = self.decls.types.array(ty, *len).into();
                    self.bounded(ty, *span)?;
                    if len.is_some() {
                        self.size_align_at(ty.ty, *span)?; // too large?
                    }
                }
                Suffix::Function {
                    params,
                    typedefs,
                    variadic,
                    span,
                } => {
                    if matches!(
                        self.decls.types.get(ty.ty),
                        Type::Function(_) | Type::Array { .. }
                    ) {
                        return Err(self.error(
                            ErrorKind::Syntax,
                            "a function cannot return a function or an array",
                            *span,
                        ));
                    }
                    let function = FunctionType {
                        result: ty,
                        params: params.iter().map(|p| p.1).collect(),
                        variadic: *variadic,
                    };
                    *param_names = Some(params.iter().map(|p| p.0.clone()).collect());
                    self.param_typedefs.clone_from(typedefs);
                    ty = self.decls.types.function(function).into();
                    self.bounded(ty, *span)?;
                }
            }
        }
        if let Some(inner) = &declarator.inner {
            ty = self.apply(ty, inner, param_names)?;
        }
        Ok(ty)
    }

    /// A type name: specifiers and an abstract declarator (`const char *`, `int (*)(void)`).
    fn type_name(&mut self) -> Result<QualType, Error> {
        let specs = self.specifiers()?;
        if specs.storage != Storage::None {
            return Err(self.error(
                ErrorKind::Syntax,
                "a storage class in a type name",
                specs.span,
            ));
        }
        let declarator = self.declarator(false)?;
        let mut unused = None;
        self.apply(specs.base, &declarator, &mut unused)
    }

    // ---- skipping ---------------------------------------------------------------------------

    /// From an opening token, past its matching close.
    fn skip_balanced(&mut self, open: &str, close: &str) -> Result<(), Error> {
        let start = self.expect_punct(open)?;
        let mut depth = 1usize;
        while depth > 0 {
            let token = self.bump();
            match token.kind {
                TokenKind::Punct(p) if p == open => depth += 1,
                TokenKind::Punct(p) if p == close => depth -= 1,
                TokenKind::Eof => {
                    return Err(self.error(
                        ErrorKind::Syntax,
                        format!("`{open}` is never closed"),
                        start.span,
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The value of a `const` integer (or enum) variable's initializer when it is a constant
    /// expression (converted to the type), the initializer consumed; None, with nothing
    /// consumed, for anything else.
    fn integer_constant_initializer(&mut self, ty: QualType) -> Option<i128> {
        if !ty.quals.contains(Qualifiers::CONST) {
            return None;
        }
        let (signed, size) = match self.decls.types.get(ty.ty) {
            Type::Scalar(scalar) if scalar.is_integer() => {
                (scalar.is_signed(), scalar.size_align().0)
            }
            Type::Enum(_) => (true, 4),
            _ => return None,
        };
        if size >= 16 {
            // `__int128`: beyond what a constant holds here.
            return None;
        }
        let start = self.pos;
        let value = self.constant_expression().ok().map(|v| v.value);
        let ends = matches!(self.peek().kind, TokenKind::Punct("," | ";"));
        match value {
            // Converted to the type as C converts (modulo its width; gcc's rule for signed
            // types too): `static const unsigned char c = 300;` is 44.
            Some(value) if ends => {
                let bits = 8 * size as u32;
                let wrapped = value.rem_euclid(1i128 << bits);
                let top = 1i128 << (bits - 1);
                Some(if signed && wrapped >= top {
                    wrapped - (1i128 << bits)
                } else {
                    wrapped
                })
            }
            _ => {
                self.pos = start;
                None
            }
        }
    }

    /// An initializer, up to the `,` or `;` that ends it.
    fn skip_initializer(&mut self) -> Result<(), Error> {
        let mut depth = 0usize;
        loop {
            let token = self.peek();
            match token.kind {
                TokenKind::Punct("(" | "[" | "{") => depth += 1,
                TokenKind::Punct(")" | "]" | "}") => {
                    if depth == 0 {
                        return Err(self.unexpected("`;`"));
                    }
                    depth -= 1;
                }
                TokenKind::Punct("," | ";") if depth == 0 => return Ok(()),
                TokenKind::Eof => return Err(self.unexpected("`;`")),
                _ => {}
            }
            self.bump();
        }
    }

    /// Past the end of the declaration starting here: its `;` at depth 0, or the `}` of a
    /// function body.
    fn skip_declaration(&mut self) {
        let mut depth = 0usize;
        let mut previous: Option<&str> = None;
        let mut in_body = false;
        loop {
            let token = self.bump();
            match token.kind {
                TokenKind::Eof => return,
                TokenKind::Punct("{") => {
                    if depth == 0 && previous == Some(")") {
                        in_body = true;
                    }
                    depth += 1;
                }
                TokenKind::Punct("(" | "[") => depth += 1,
                TokenKind::Punct(")" | "]") => depth = depth.saturating_sub(1),
                TokenKind::Punct("}") => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 && in_body {
                        return;
                    }
                }
                TokenKind::Punct(";") if depth == 0 => return,
                _ => {}
            }
            previous = match token.kind {
                TokenKind::Punct(p) => Some(p),
                _ => None,
            };
        }
    }

    // ---- preprocessor lines -----------------------------------------------------------------

    fn directive(&mut self, token: Token) -> Result<(), Error> {
        let line = self.text_of(token);
        let body = line[1..].trim_start();
        let body_offset = token.span.start + (line.len() - body.len());
        if body.is_empty() || body.starts_with(|c: char| c.is_ascii_digit()) {
            return Ok(()); // a line marker from the preprocessor
        }
        let name_len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        let (name, rest) = body.split_at(name_len);
        let rest_offset = body_offset + name_len;
        match name {
            "define" => self.define(rest, rest_offset),
            "undef" => {
                let name = rest.trim();
                if let Some(macros) = &mut self.collected_macros {
                    macros.push(MacroDefinition {
                        name: name.to_owned(),
                        origin: Origin::default(),
                        line: String::new(),
                    });
                } else {
                    self.decls.constants.remove(name);
                    self.decls.macros.remove(name);
                }
                Ok(())
            }
            "pragma" => self.pragma(rest, rest_offset),
            _ => {
                self.skip_note(
                    SkipKind::Directive,
                    format!("`#{name}` ignored: run the C preprocessor on headers first"),
                    token.span,
                );
                Ok(())
            }
        }
    }

    /// Runs `f` over the tokens of `text` (a part of a directive) instead of the main ones.
    fn with_tokens<T>(
        &mut self,
        text: &str,
        offset: usize,
        f: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let tokens = lexer::tokenize(text, offset, self.text, None, None)?;
        let saved_tokens = std::mem::replace(&mut self.tokens, tokens);
        let saved_pos = std::mem::replace(&mut self.pos, 0);
        let result = f(self);
        self.tokens = saved_tokens;
        self.pos = saved_pos;
        result
    }

    fn define(&mut self, rest: &str, offset: usize) -> Result<(), Error> {
        let trimmed = rest.trim_start();
        let offset = offset + (rest.len() - trimmed.len());
        let name_len = trimmed
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(trimmed.len());
        let name = &trimmed[..name_len];
        let name_span = Span::new(offset, offset + name_len);
        if name.is_empty() {
            return Err(self.error(ErrorKind::Syntax, "expected a macro name", name_span));
        }
        let body = &trimmed[name_len..];
        if body.starts_with('(') {
            if let Some(close) = body.find(')') {
                let mut params: Vec<String> = body[1..close]
                    .split(',')
                    .map(|p| p.trim().to_owned())
                    .collect();
                if params.len() == 1 && params[0].is_empty() {
                    params.clear();
                }
                let variadic = params.last().is_some_and(|p| p.ends_with("..."));
                if variadic {
                    params.pop();
                }
                let origin = self.locator.origin(name_span.start);
                self.decls
                    .origins
                    .insert(Declared::Constant(name.to_owned()), origin);
                self.decls.function_macros.insert(
                    name.to_owned(),
                    crate::decls::FunctionMacro {
                        params,
                        variadic,
                        body: body[close + 1..].trim().to_owned(),
                    },
                );
            }
            self.skip_note(
                SkipKind::FunctionLikeMacro,
                format!("function-like macro `{name}` ignored"),
                name_span,
            );
            return Ok(());
        }
        if body.trim().is_empty() {
            return Ok(()); // `#define GUARD`: nothing to declare
        }
        if let Some(macros) = &mut self.collected_macros {
            // Expanded by the preprocessor later, with every macro it refers to.
            let origin = self.locator.origin(name_span.start);
            macros.push(MacroDefinition {
                name: name.to_owned(),
                origin,
                line: format!("#define {name}{body}"),
            });
            return Ok(());
        }
        let body_offset = offset + name_len;
        match self.with_tokens(body, body_offset, |p| p.macro_value()) {
            Ok(value) => self.define_macro(name, value, name_span),
            Err(error) => {
                let message = format!("`#define {name}` is not a constant: {}", error.message());
                self.skip_note(SkipKind::Macro, message, name_span);
                Ok(())
            }
        }
    }

    /// Declares a macro's value; an integer one is a constant too (usable in array sizes and
    /// enumerators that follow), unless an enumerator of that name exists (glibc's
    /// `#define SHUT_RD SHUT_RD`).
    pub(crate) fn define_macro(
        &mut self,
        name: &str,
        value: MacroValue,
        span: Span,
    ) -> Result<(), Error> {
        if let MacroValue::Integer(constant) = value {
            let is_enumerator = self
                .decls
                .constants
                .get(name)
                .is_some_and(|c| matches!(self.decls.types.get(c.ty), Type::Enum(_)));
            if !is_enumerator {
                self.declare_constant(name, constant.value, constant.ty, span)?;
            }
        } else {
            self.declared(Declared::Constant(name.to_owned()), span);
        }
        self.decls.macros.insert(name.to_owned(), value);
        Ok(())
    }

    fn pragma(&mut self, rest: &str, offset: usize) -> Result<(), Error> {
        let trimmed = rest.trim_start();
        if !trimmed.starts_with("pack") {
            return Ok(()); // other pragmas do not change declarations
        }
        let offset = offset + (rest.len() - trimmed.len());
        let args = self.with_tokens(&trimmed[4..], offset + 4, |p| {
            p.expect_punct("(")?;
            let mut args: Vec<(Option<String>, Option<u64>, Span)> = Vec::new();
            while !p.is_punct(")") {
                let token = p.bump();
                match token.kind {
                    TokenKind::Ident => {
                        args.push((Some(p.text_of(token).to_owned()), None, token.span))
                    }
                    TokenKind::Int { value, .. } => {
                        args.push((None, Some(value as u64), token.span))
                    }
                    TokenKind::Punct(",") => {}
                    _ => return Err(p.unexpected("`push`, `pop` or an alignment")),
                }
            }
            p.expect_punct(")")?;
            Ok(args)
        })?;
        let number = args.iter().find_map(|a| a.1.map(|n| (n, a.2)));
        if let Some((n, span)) = number {
            if !n.is_power_of_two() || n > 16 {
                return Err(self.error(
                    ErrorKind::InvalidConstant,
                    format!("`#pragma pack({n})`: the alignment must be 1, 2, 4, 8 or 16"),
                    span,
                ));
            }
        }
        let value = number.map(|(n, _)| n);
        match args.first().and_then(|a| a.0.as_deref()) {
            Some("push") => {
                self.pack_stack.push(self.pack);
                if value.is_some() {
                    self.pack = value;
                }
            }
            Some("pop") => self.pack = self.pack_stack.pop().unwrap_or(None),
            _ => self.pack = value,
        }
        Ok(())
    }
}

/// The arithmetic keywords seen in one set of specifiers.
#[derive(Default)]
struct Counts {
    signed: usize,
    unsigned: usize,
    short: usize,
    long: usize,
    char_: usize,
    int: usize,
    float: usize,
    double: usize,
    bool_: usize,
    void: usize,
    complex: usize,
    int128: usize,
}

impl Counts {
    fn total(&self) -> usize {
        self.signed
            + self.unsigned
            + self.short
            + self.long
            + self.char_
            + self.int
            + self.float
            + self.double
            + self.bool_
            + self.void
            + self.complex
            + self.int128
    }

    /// `Some(None)` for void, `Some(Some(scalar))`, or `None` for an invalid combination.
    fn resolve(&self) -> Option<Option<Scalar>> {
        let Counts {
            signed,
            unsigned,
            short,
            long,
            char_,
            int,
            float,
            double,
            bool_,
            void,
            complex,
            int128,
        } = *self;
        let sign = signed + unsigned;
        if sign > 1 || int > 1 || char_ > 1 || short > 1 || long > 2 || complex > 1 {
            return None;
        }
        if void == 1 {
            return (signed
                + unsigned
                + short
                + long
                + char_
                + int
                + float
                + double
                + bool_
                + complex
                + int128
                == 0)
                .then_some(None);
        }
        if void > 1 {
            return None;
        }
        let floating = float + double;
        if floating > 0 || complex > 0 {
            if sign + short + char_ + int + bool_ + int128 > 0 || floating > 1 {
                return None;
            }
            let scalar = match (float, double, long, complex) {
                (1, 0, 0, 0) => Scalar::Float,
                (0, 1, 0, 0) => Scalar::Double,
                (0, 1, 1, 0) => Scalar::LongDouble,
                (1, 0, 0, 1) => Scalar::ComplexFloat,
                (0, 1, 0, 1) | (0, 0, 0, 1) => Scalar::ComplexDouble,
                (0, 1, 1, 1) => Scalar::ComplexLongDouble,
                _ => return None,
            };
            return Some(Some(scalar));
        }
        if bool_ > 0 {
            return (bool_ == 1 && sign + short + long + char_ + int + int128 == 0)
                .then_some(Some(Scalar::Bool));
        }
        if int128 > 0 {
            if int128 > 1 || short + long + char_ + int > 0 {
                return None;
            }
            return Some(Some(if unsigned == 1 {
                Scalar::UInt128
            } else {
                Scalar::Int128
            }));
        }
        if char_ == 1 {
            if short + long + int > 0 {
                return None;
            }
            return Some(Some(match (signed, unsigned) {
                (1, _) => Scalar::SChar,
                (_, 1) => Scalar::UChar,
                _ => Scalar::Char,
            }));
        }
        let scalar = match (short, long, unsigned == 1) {
            (1, 0, false) => Scalar::Short,
            (1, 0, true) => Scalar::UShort,
            (0, 0, false) => Scalar::Int,
            (0, 0, true) => Scalar::UInt,
            (0, 1, false) => Scalar::Long,
            (0, 1, true) => Scalar::ULong,
            (0, 2, false) => Scalar::LongLong,
            (0, 2, true) => Scalar::ULongLong,
            _ => return None,
        };
        if sign + short + long + int == 0 {
            return None;
        }
        Some(Some(scalar))
    }
}
