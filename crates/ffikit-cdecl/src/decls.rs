//! [`Declarations`]: what a set of C declarations declares — types, typedefs, functions,
//! variables, constants — and the entry points that parse text into it.

use rustc_hash::FxHashMap as HashMap;

use crate::ctype::RecordLayout;
use crate::ctype::{
    FunctionDecl, QualType, Record, RecordKind, Scalar, Type, TypeId, TypeTable, VariableDecl,
};
use crate::error::{Error, Origin, Span};
use crate::layout::{self, LayoutError};

/// The namespace of a struct, union or enum tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagKind {
    /// `struct tag`.
    Struct,
    /// `union tag`.
    Union,
    /// `enum tag`.
    Enum,
}

impl From<RecordKind> for TagKind {
    fn from(kind: RecordKind) -> TagKind {
        match kind {
            RecordKind::Struct => TagKind::Struct,
            RecordKind::Union => TagKind::Union,
        }
    }
}

/// A named integer constant: an enumerator or an integer `#define`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Constant {
    /// The value.
    pub value: i128,
    /// Its type: the enum for an enumerator, the literal's type for a `#define`.
    pub ty: TypeId,
}

/// One name a [`Declarations::cdef`] call declared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Declared {
    /// A function.
    Function(String),
    /// A global variable.
    Variable(String),
    /// A typedef.
    Typedef(String),
    /// An enumerator or `#define` constant.
    Constant(String),
    /// A struct, union or enum defined or declared by tag.
    Tag(TagKind, String),
}

/// What kind of thing a [`Skipped`] entry left out, for summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SkipKind {
    /// A `static inline` (or plain `inline`) function: no symbol to call, but a compiled
    /// shim can export it ([`Declarations::inline_function`]).
    InlineFunction,
    /// A `static` function or variable: no symbol.
    Static,
    /// A function-like macro (`#define deflateInit(strm, level) ...`).
    FunctionLikeMacro,
    /// An object-like macro whose value is not an integer, floating or string constant.
    Macro,
    /// A declaration using a type the model cannot express (`_Float128`, `_Complex int`).
    Unsupported,
    /// A preprocessor line other than `#define`, `#undef` and `#pragma pack`.
    Directive,
}

impl SkipKind {
    /// A plural noun for summaries: "static inline functions".
    pub fn describe(self) -> &'static str {
        match self {
            SkipKind::InlineFunction => "inline functions",
            SkipKind::Static => "static functions and variables",
            SkipKind::FunctionLikeMacro => "function-like macros",
            SkipKind::Macro => "macros that are not constants",
            SkipKind::Unsupported => "declarations of unsupported types",
            SkipKind::Directive => "preprocessor lines",
        }
    }
}

/// A declaration left out because the model cannot express it (or it has no symbol, such as a
/// `static inline` function): reported, not fatal to the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// What kind of declaration.
    pub kind: SkipKind,
    /// The name it would have declared, for a static variable: a front end can say
    /// "declared, but not in the library" for it.
    pub name: Option<String>,
    /// Why, with the source line and a caret (and the original file and line, see
    /// [`Error::origin`]).
    pub reason: Error,
}

/// The value of an object-like `#define`, as the preprocessor expands it and C evaluates it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MacroValue {
    /// An integer constant expression (casts and other macros included): `Z_OK`,
    /// `SQLITE_IOERR_READ`, `(1U << 31)`.
    Integer(Constant),
    /// A floating constant expression: `M_PI`, `(2.0f * 3)`. A `long double` value is kept
    /// as the nearest `f64`.
    Float {
        /// The value.
        value: f64,
        /// `float`, `double` or `long double`, as C types the expression.
        ty: TypeId,
    },
    /// A string literal, or adjacent ones concatenated, escapes decoded, without the
    /// terminating NUL: `ZLIB_VERSION`, `SQLITE_VERSION`.
    String(Vec<u8>),
}

/// What one [`Declarations::cdef`] call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The names declared, in order.
    pub declared: Vec<Declared>,
    /// The declarations left out, and why.
    pub skipped: Vec<Skipped>,
}

/// A set of C declarations, built by [`cdef`](Self::cdef) like CFFI's `ffi.cdef` and LuaJIT's
/// `ffi.cdef`. Starts with the standard typedefs (`size_t`, `int32_t`, `FILE`, ...) declared.
#[derive(Debug, Clone)]
pub struct Declarations {
    pub(crate) types: TypeTable,
    pub(crate) typedefs: HashMap<String, QualType>,
    pub(crate) tags: HashMap<(TagKind, String), TypeId>,
    pub(crate) tag_spans: HashMap<(TagKind, String), Span>,
    pub(crate) functions: HashMap<String, FunctionDecl>,
    pub(crate) function_order: Vec<String>,
    pub(crate) variables: HashMap<String, VariableDecl>,
    pub(crate) constants: HashMap<String, Constant>,
    /// Where each name was declared (the last declaration of it).
    pub(crate) origins: HashMap<Declared, Origin>,
    /// The values of object-like `#define`s.
    pub(crate) macros: HashMap<String, MacroValue>,
    /// `static inline` functions: declared and defined in the text, with no symbol.
    pub(crate) inline_functions: HashMap<String, FunctionDecl>,
    /// Function-like `#define`s, as written.
    pub(crate) function_macros: HashMap<String, FunctionMacro>,
}

/// A function-like `#define` as written: `#define deflateInit(strm, level) deflateInit_(...)`.
/// Not expanded and not typed: a generator infers what it can (ffikit-gen: a call of a
/// declared function whose arguments include each parameter whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionMacro {
    /// The parameters' names (`...` not included).
    pub params: Vec<String>,
    /// Whether the last parameter is `...`.
    pub variadic: bool,
    /// The replacement text.
    pub body: String,
}

impl Default for Declarations {
    fn default() -> Self {
        Declarations::new()
    }
}

/// The typedefs every C program on LP64 Linux gets from the standard headers.
const STANDARD_TYPEDEFS: &[(&str, Scalar)] = &[
    ("size_t", Scalar::ULong),
    ("ssize_t", Scalar::Long),
    ("ptrdiff_t", Scalar::Long),
    ("intptr_t", Scalar::Long),
    ("uintptr_t", Scalar::ULong),
    ("intmax_t", Scalar::Long),
    ("uintmax_t", Scalar::ULong),
    ("int8_t", Scalar::SChar),
    ("uint8_t", Scalar::UChar),
    ("int16_t", Scalar::Short),
    ("uint16_t", Scalar::UShort),
    ("int32_t", Scalar::Int),
    ("uint32_t", Scalar::UInt),
    ("int64_t", Scalar::Long),
    ("uint64_t", Scalar::ULong),
    ("int_least8_t", Scalar::SChar),
    ("uint_least8_t", Scalar::UChar),
    ("int_least16_t", Scalar::Short),
    ("uint_least16_t", Scalar::UShort),
    ("int_least32_t", Scalar::Int),
    ("uint_least32_t", Scalar::UInt),
    ("int_least64_t", Scalar::Long),
    ("uint_least64_t", Scalar::ULong),
    ("int_fast8_t", Scalar::SChar),
    ("uint_fast8_t", Scalar::UChar),
    ("int_fast16_t", Scalar::Long),
    ("uint_fast16_t", Scalar::ULong),
    ("int_fast32_t", Scalar::Long),
    ("uint_fast32_t", Scalar::ULong),
    ("int_fast64_t", Scalar::Long),
    ("uint_fast64_t", Scalar::ULong),
    ("__int128_t", Scalar::Int128),
    ("__uint128_t", Scalar::UInt128),
    ("off_t", Scalar::Long),
    ("off64_t", Scalar::Long),
    ("loff_t", Scalar::Long),
    ("pid_t", Scalar::Int),
    ("uid_t", Scalar::UInt),
    ("gid_t", Scalar::UInt),
    ("mode_t", Scalar::UInt),
    ("dev_t", Scalar::ULong),
    ("ino_t", Scalar::ULong),
    ("nlink_t", Scalar::ULong),
    ("time_t", Scalar::Long),
    ("clock_t", Scalar::Long),
    ("suseconds_t", Scalar::Long),
    ("useconds_t", Scalar::UInt),
    ("socklen_t", Scalar::UInt),
    ("in_addr_t", Scalar::UInt),
    ("in_port_t", Scalar::UShort),
    ("sa_family_t", Scalar::UShort),
    ("sig_atomic_t", Scalar::Int),
    ("wchar_t", Scalar::WChar),
    ("wint_t", Scalar::UInt),
    ("char16_t", Scalar::Char16),
    ("char32_t", Scalar::Char32),
    // `<stdbool.h>`'s spelling (a keyword only from C23).
    ("bool", Scalar::Bool),
    // CFFI's names for the complex types (its type strings and generated code use them).
    ("_cffi_float_complex_t", Scalar::ComplexFloat),
    ("_cffi_double_complex_t", Scalar::ComplexDouble),
];

/// Whether `name` still has its standard meaning (see [`STANDARD_TYPEDEFS`]).
pub(crate) fn is_standard_typedef(types: &TypeTable, name: &str, ty: QualType) -> bool {
    STANDARD_TYPEDEFS.iter().any(|&(standard, scalar)| {
        standard == name && ty.quals.is_empty() && *types.get(ty.ty) == Type::Scalar(scalar)
    })
}

impl Declarations {
    /// Declarations holding only the standard typedefs.
    pub fn new() -> Self {
        let mut decls = Declarations {
            types: TypeTable::new(),
            typedefs: HashMap::default(),
            tags: HashMap::default(),
            tag_spans: HashMap::default(),
            functions: HashMap::default(),
            function_order: Vec::new(),
            variables: HashMap::default(),
            constants: HashMap::default(),
            origins: HashMap::default(),
            macros: HashMap::default(),
            inline_functions: HashMap::default(),
            function_macros: HashMap::default(),
        };
        for &(name, scalar) in STANDARD_TYPEDEFS {
            let ty = decls.types.scalar(scalar);
            decls.typedefs.insert(name.into(), ty.into());
        }
        let va_list = decls.types.intern(Type::VaList);
        decls.typedefs.insert("va_list".into(), va_list.into());
        // glibc's FILE is an incomplete struct _IO_FILE to its users.
        let file = decls
            .types
            .declare_record(RecordKind::Struct, Some("_IO_FILE".into()));
        decls
            .tags
            .insert((TagKind::Struct, "_IO_FILE".into()), file);
        decls.typedefs.insert("FILE".into(), file.into());
        decls
    }

    /// The type table.
    pub fn types(&self) -> &TypeTable {
        &self.types
    }

    /// Mutable access to the type table, to build types by hand (the builder style).
    pub fn types_mut(&mut self) -> &mut TypeTable {
        &mut self.types
    }

    /// A declared function.
    pub fn function(&self, name: &str) -> Option<&FunctionDecl> {
        self.functions.get(name)
    }

    /// Every declared function, in declaration order.
    pub fn functions(&self) -> impl Iterator<Item = &FunctionDecl> {
        self.function_order.iter().map(|name| &self.functions[name])
    }

    /// A declared global variable.
    pub fn variable(&self, name: &str) -> Option<&VariableDecl> {
        self.variables.get(name)
    }

    /// Every declared global variable (in no particular order).
    pub fn variables(&self) -> impl Iterator<Item = &VariableDecl> {
        self.variables.values()
    }

    /// The names the program declared, each list sorted: typedefs, struct tags, union tags
    /// (the standard typedefs and `FILE` left out unless redeclared), as CFFI's
    /// `ffi.list_types()` lists them.
    ///
    /// ```
    /// let mut decls = ffikit_cdecl::Declarations::new();
    /// decls.cdef("typedef struct { int a; } foo_t; union u { int a; };").unwrap();
    /// assert_eq!(decls.user_types(), (vec!["foo_t".into()], vec![], vec!["u".into()]));
    /// ```
    pub fn user_types(&self) -> (Vec<String>, Vec<String>, Vec<String>) {
        let standard = Declarations::new();
        let mut typedefs: Vec<String> = self
            .typedefs
            .iter()
            .filter(|(name, ty)| standard.typedefs.get(*name) != Some(ty))
            .map(|(name, _)| name.clone())
            .collect();
        let mut structs = Vec::new();
        let mut unions = Vec::new();
        for ((kind, tag), id) in &self.tags {
            if standard.tags.get(&(*kind, tag.clone())) == Some(id) {
                continue;
            }
            match kind {
                TagKind::Struct => structs.push(tag.clone()),
                TagKind::Union => unions.push(tag.clone()),
                TagKind::Enum => {}
            }
        }
        typedefs.sort();
        structs.sort();
        unions.sort();
        (typedefs, structs, unions)
    }

    /// The type a typedef names.
    pub fn typedef(&self, name: &str) -> Option<QualType> {
        self.typedefs.get(name).copied()
    }

    /// Every typedef (the standard ones included), in no particular order.
    pub fn typedefs(&self) -> impl Iterator<Item = (&str, QualType)> {
        self.typedefs.iter().map(|(name, ty)| (name.as_str(), *ty))
    }

    /// Every enumerator and integer `#define`, in no particular order.
    pub fn constants(&self) -> impl Iterator<Item = (&str, Constant)> {
        self.constants.iter().map(|(name, c)| (name.as_str(), *c))
    }

    /// An enumerator or integer `#define`.
    pub fn constant(&self, name: &str) -> Option<Constant> {
        self.constants.get(name).copied()
    }

    /// The value of an object-like `#define`: an integer, floating or string constant.
    /// Integer ones are also [`constant`](Self::constant)s, usable in later declarations.
    ///
    /// ```
    /// use ffikit_cdecl::{Declarations, MacroValue};
    ///
    /// let mut decls = Declarations::new();
    /// decls.cdef("#define VERSION \"1.2\" \"-rc\"\n#define SCALE (2.5 * 2)").unwrap();
    /// assert_eq!(decls.macro_value("VERSION"), Some(&MacroValue::String(b"1.2-rc".to_vec())));
    /// assert!(matches!(decls.macro_value("SCALE"), Some(MacroValue::Float { value: 5.0, .. })));
    /// ```
    pub fn macro_value(&self, name: &str) -> Option<&MacroValue> {
        self.macros.get(name)
    }

    /// Every object-like `#define` with a value, in no particular order.
    pub fn macros(&self) -> impl Iterator<Item = (&str, &MacroValue)> {
        self.macros
            .iter()
            .map(|(name, value)| (name.as_str(), value))
    }

    /// A `static inline` function the text defined: its declaration, for a shim to export
    /// (see [`Header::compile_shim`](crate::Header::compile_shim)). It has no symbol of its
    /// own.
    pub fn inline_function(&self, name: &str) -> Option<&FunctionDecl> {
        self.inline_functions.get(name)
    }

    /// Every `static inline` function the text defined.
    pub fn inline_functions(&self) -> impl Iterator<Item = &FunctionDecl> {
        self.inline_functions.values()
    }

    /// Every function-like `#define` (its origin under [`Declared::Constant`]).
    pub fn function_macros(&self) -> impl Iterator<Item = (&str, &FunctionMacro)> {
        self.function_macros
            .iter()
            .map(|(name, value)| (name.as_str(), value))
    }

    /// `struct tag`.
    pub fn struct_tag(&self, tag: &str) -> Option<TypeId> {
        self.tags.get(&(TagKind::Struct, tag.to_owned())).copied()
    }

    /// `union tag`.
    pub fn union_tag(&self, tag: &str) -> Option<TypeId> {
        self.tags.get(&(TagKind::Union, tag.to_owned())).copied()
    }

    /// `enum tag`.
    pub fn enum_tag(&self, tag: &str) -> Option<TypeId> {
        self.tags.get(&(TagKind::Enum, tag.to_owned())).copied()
    }

    /// Where a struct, union or enum was defined (its tag), in the text of the `cdef` call
    /// that defined it.
    pub fn tag_span(&self, kind: TagKind, tag: &str) -> Option<Span> {
        self.tag_spans.get(&(kind, tag.to_owned())).copied()
    }

    /// Every tagged struct, union and enum, with its kind.
    pub fn tags(&self) -> impl Iterator<Item = (TagKind, &str, TypeId)> {
        self.tags
            .iter()
            .map(|((kind, tag), id)| (*kind, tag.as_str(), *id))
    }

    /// Where a name was declared: the original header's file and line when the text came
    /// from the preprocessor (its line markers), else the line of the `cdef` text. `None` for
    /// the standard typedefs and names never declared.
    ///
    /// ```
    /// use ffikit_cdecl::{Declarations, Declared};
    ///
    /// let mut decls = Declarations::new();
    /// decls.cdef("# 40 \"/usr/include/zlib.h\"\nint deflateEnd(void *strm);").unwrap();
    /// let origin = decls.origin(&Declared::Function("deflateEnd".into())).unwrap();
    /// assert_eq!((origin.file_name(), origin.line), (Some("zlib.h"), 40));
    /// ```
    pub fn origin(&self, declared: &Declared) -> Option<&Origin> {
        self.origins.get(declared)
    }

    /// `sizeof` and `_Alignof` of a complete type.
    ///
    /// # Errors
    ///
    /// [`LayoutError::Incomplete`] for void, functions, incomplete records and `[]` arrays.
    pub fn size_align(&self, ty: TypeId) -> Result<(u64, u64), LayoutError> {
        layout::size_align(&self.types, ty)
    }

    /// The member offsets of a complete struct or union (`None` for other types).
    pub fn record_layout(&self, ty: TypeId) -> Option<(&Record, &RecordLayout)> {
        match self.types.get(ty) {
            Type::Record(r) => {
                let record = self.types.record(*r);
                record.layout.as_ref().map(|layout| (record, layout))
            }
            _ => None,
        }
    }

    pub(crate) fn record_function(&mut self, decl: FunctionDecl) {
        if !self.functions.contains_key(&decl.name) {
            self.function_order.push(decl.name.clone());
        }
        self.functions.insert(decl.name.clone(), decl);
    }
}

/// Used by the parser to report a layout problem at a span.
pub(crate) fn layout_error(
    error: LayoutError,
    span: Span,
    locator: &crate::error::Locator<'_>,
) -> Error {
    let kind = match error {
        LayoutError::Incomplete(_) => crate::ErrorKind::Incomplete,
        _ => crate::ErrorKind::InvalidLayout,
    };
    Error::located(kind, error.to_string(), span, locator)
}
