//! The C declaration parser: recursive descent over the tokens of [`lexer`], declaring into a
//! [`Declarations`].
//!
//! It reads what headers hold after the preprocessor: declarations, typedefs, struct/union/enum
//! definitions, GNU extensions (`__attribute__`, `__extension__`, `__asm__` labels,
//! `__restrict`, `__inline`), `static inline` bodies (skipped), line markers, and the
//! directives that survive preprocessing (`#pragma pack`), plus integer `#define`s for
//! hand-written declarations. Nesting is capped at [`MAX_DEPTH`] so hostile input cannot
//! overflow the stack.
//!
//! One `Parser`, its methods by grammar area: this module has the parser's state, the token
//! helpers and the entry points; `declarations` a declaration at file scope and declaring
//! what it names; `specifiers` type keywords, typedef names, qualifiers and attributes;
//! `records` structs, unions, enums and bitfields; `declarators` pointers, arrays, parameter
//! lists and the types they build; `initializers` what is skipped or evaluated after `=`;
//! `directives` `#define`, `#undef` and `#pragma pack`; `expr` constant expressions;
//! `lexer` the tokens; `macros` the `#define`s a header's preprocessor run expands.

mod declarations;
mod declarators;
mod directives;
mod expr;
mod initializers;
pub(crate) mod lexer;
mod macros;
mod records;
mod specifiers;

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

/// The entry points that parse text into [`Declarations`]: here, so that the declarations
/// model does not depend on the parser.
impl Declarations {
    /// Parses and declares C declarations: functions, global variables, typedefs,
    /// struct/union/enum definitions and forward declarations, integer `#define`s. The text
    /// may be the preprocessor's output for real headers (GNU extensions, line markers,
    /// `static inline` bodies): what the model cannot express is reported in
    /// [`Report::skipped`], not fatal.
    ///
    /// Transactional: when it fails, nothing of `text` is declared.
    ///
    /// ```
    /// let mut decls = ffikit_cdecl::Declarations::new();
    /// decls.cdef("struct point { int x, y; }; double cos(double);").unwrap();
    /// let cos = decls.function("cos").unwrap();
    /// assert_eq!(decls.types().display(cos.ty), "double (double)");
    /// let point = decls.struct_tag("point").unwrap();
    /// assert_eq!(decls.size_align(point).unwrap(), (8, 4));
    /// ```
    ///
    /// # Errors
    ///
    /// The first syntax error, unknown type, conflicting redefinition and so on, with its
    /// location (see [`Error`]).
    pub fn cdef(&mut self, text: &str) -> Result<Report, Error> {
        let mut scratch = self.clone();
        let report = Parser::new(text, &mut scratch)?.declarations()?;
        *self = scratch;
        Ok(report)
    }

    /// Parses a type name, such as `int (*)(const void *, const void *)` or `struct point *`,
    /// in the context of these declarations.
    ///
    /// # Errors
    ///
    /// As [`cdef`](Self::cdef). A struct defined inside the type name is not kept on error.
    pub fn parse_type(&mut self, text: &str) -> Result<QualType, Error> {
        let mut scratch = self.clone();
        let ty = Parser::new(text, &mut scratch)?.type_name_only()?;
        *self = scratch;
        Ok(ty)
    }
}
