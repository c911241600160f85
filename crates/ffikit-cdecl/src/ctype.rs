//! The type model: every C type as an interned [`TypeId`] in a [`TypeTable`].
//!
//! Structural types (scalars, pointers, arrays, functions) are interned: building the same type
//! twice gives the same id, so ids compare by structure. Structs, unions and enums are nominal:
//! each definition is its own id, compared by identity, created incomplete and completed later
//! (two phases, so `struct node { struct node *next; }` works).

use rustc_hash::FxHashMap as HashMap;
use std::fmt;

/// A type in a [`TypeTable`]. Cheap to copy and compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeId(pub(crate) u32);

/// const / volatile / restrict, as a small bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Qualifiers(u8);

impl Qualifiers {
    /// No qualifier.
    pub const NONE: Qualifiers = Qualifiers(0);
    /// `const`.
    pub const CONST: Qualifiers = Qualifiers(1);
    /// `volatile`.
    pub const VOLATILE: Qualifiers = Qualifiers(2);
    /// `restrict`.
    pub const RESTRICT: Qualifiers = Qualifiers(4);

    /// Both sets.
    pub fn union(self, other: Qualifiers) -> Qualifiers {
        Qualifiers(self.0 | other.0)
    }

    /// Whether every qualifier of `other` is in `self`.
    pub fn contains(self, other: Qualifiers) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether there is none.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn words(self) -> impl Iterator<Item = &'static str> {
        [
            (Qualifiers::CONST, "const"),
            (Qualifiers::VOLATILE, "volatile"),
            (Qualifiers::RESTRICT, "restrict"),
        ]
        .into_iter()
        .filter(move |(q, _)| self.contains(*q))
        .map(|(_, word)| word)
    }
}

/// A type with its qualifiers, as it appears in a declaration (`const char`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QualType {
    /// The unqualified type.
    pub ty: TypeId,
    /// Its qualifiers.
    pub quals: Qualifiers,
}

impl QualType {
    /// The type without qualifiers.
    pub fn plain(ty: TypeId) -> QualType {
        QualType {
            ty,
            quals: Qualifiers::NONE,
        }
    }
}

impl From<TypeId> for QualType {
    fn from(ty: TypeId) -> QualType {
        QualType::plain(ty)
    }
}

/// The arithmetic types of C, with their LP64 (x86-64 and aarch64 Linux) sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Scalar {
    /// `_Bool` / `bool`.
    Bool,
    /// Plain `char` (signed on x86-64 Linux, unsigned on aarch64 Linux).
    Char,
    /// `signed char`.
    SChar,
    /// `unsigned char`.
    UChar,
    /// `short`.
    Short,
    /// `unsigned short`.
    UShort,
    /// `int`.
    Int,
    /// `unsigned int`.
    UInt,
    /// `long`.
    Long,
    /// `unsigned long`.
    ULong,
    /// `long long`.
    LongLong,
    /// `unsigned long long`.
    ULongLong,
    /// `__int128`.
    Int128,
    /// `unsigned __int128`.
    UInt128,
    /// `float`.
    Float,
    /// `double`.
    Double,
    /// `long double` (x87 80-bit extended in 16 bytes on x86-64).
    LongDouble,
    /// `float _Complex`.
    ComplexFloat,
    /// `double _Complex`.
    ComplexDouble,
    /// `long double _Complex`.
    ComplexLongDouble,
    /// `wchar_t`: an `int` in layout and value (unsigned on aarch64 Linux), kept apart as
    /// a character type, as CFFI and LuaJIT keep it (its values are characters).
    WChar,
    /// `char16_t`: an `unsigned short` (`uint_least16_t`) holding UTF-16 code units.
    Char16,
    /// `char32_t`: an `unsigned int` (`uint_least32_t`) holding code points.
    Char32,
}

impl Scalar {
    /// (size, alignment) in bytes on LP64 Linux.
    pub fn size_align(self) -> (u64, u64) {
        use Scalar::*;
        match self {
            Bool | Char | SChar | UChar => (1, 1),
            Short | UShort | Char16 => (2, 2),
            Int | UInt | Float | WChar | Char32 => (4, 4),
            Long | ULong | LongLong | ULongLong | Double => (8, 8),
            Int128 | UInt128 | LongDouble => (16, 16),
            ComplexFloat => (8, 4),
            ComplexDouble => (16, 8),
            ComplexLongDouble => (32, 16),
        }
    }

    /// Whether this is an integer type (bool and char included).
    pub fn is_integer(self) -> bool {
        !self.is_floating()
    }

    /// Whether this is a real or complex floating type.
    pub fn is_floating(self) -> bool {
        use Scalar::*;
        matches!(
            self,
            Float | Double | LongDouble | ComplexFloat | ComplexDouble | ComplexLongDouble
        )
    }

    /// Whether this is a wide character type (`wchar_t`, `char16_t`, `char32_t`).
    pub fn is_wide_char(self) -> bool {
        matches!(self, Scalar::WChar | Scalar::Char16 | Scalar::Char32)
    }

    /// The integer type this one is laid out and passed as (a wide character's, itself
    /// otherwise).
    pub fn as_integer(self) -> Scalar {
        match self {
            Scalar::WChar if Scalar::WChar.is_signed() => Scalar::Int,
            Scalar::WChar | Scalar::Char32 => Scalar::UInt,
            Scalar::Char16 => Scalar::UShort,
            other => other,
        }
    }

    /// Whether values of this integer type can be negative. Plain `char` follows the target
    /// (signed on x86-64).
    pub fn is_signed(self) -> bool {
        use Scalar::*;
        match self {
            Char | WChar => cfg!(not(any(target_arch = "aarch64", target_arch = "arm"))),
            SChar | Short | Int | Long | LongLong | Int128 => true,
            _ => self.is_floating(),
        }
    }

    /// The C spelling.
    pub fn c_name(self) -> &'static str {
        use Scalar::*;
        match self {
            Bool => "_Bool",
            Char => "char",
            SChar => "signed char",
            UChar => "unsigned char",
            Short => "short",
            UShort => "unsigned short",
            Int => "int",
            UInt => "unsigned int",
            Long => "long",
            ULong => "unsigned long",
            LongLong => "long long",
            ULongLong => "unsigned long long",
            Int128 => "__int128",
            UInt128 => "unsigned __int128",
            Float => "float",
            Double => "double",
            LongDouble => "long double",
            ComplexFloat => "float _Complex",
            ComplexDouble => "double _Complex",
            ComplexLongDouble => "long double _Complex",
            WChar => "wchar_t",
            Char16 => "char16_t",
            Char32 => "char32_t",
        }
    }
}

/// A function type. Parameter names are not part of the type (see [`FunctionDecl`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunctionType {
    /// The return type.
    pub result: QualType,
    /// The parameter types, after C's adjustments (arrays and functions become pointers).
    pub params: Vec<QualType>,
    /// Whether the parameter list ends with `...`.
    pub variadic: bool,
}

/// What a [`TypeId`] stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Type {
    /// `void`.
    Void,
    /// An arithmetic type.
    Scalar(Scalar),
    /// A pointer.
    Pointer(QualType),
    /// An array; `len` is `None` for `[]` (incomplete, or a flexible array member).
    Array {
        /// The element type.
        element: QualType,
        /// The number of elements.
        len: Option<u64>,
    },
    /// A function type.
    Function(FunctionType),
    /// A struct or union, by identity: see [`TypeTable::record`].
    Record(RecordId),
    /// An enum, by identity: see [`TypeTable::enumeration`].
    Enum(EnumId),
    /// `__builtin_va_list` (x86-64: an array of one 24-byte `__va_list_tag`).
    VaList,
}

/// Index of a struct or union definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId(pub(crate) u32);

/// Index of an enum definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnumId(pub(crate) u32);

/// `struct` or `union`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// `struct`.
    Struct,
    /// `union`.
    Union,
}

impl RecordKind {
    /// The keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            RecordKind::Struct => "struct",
            RecordKind::Union => "union",
        }
    }
}

/// One member of a struct or union.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    /// The name; `None` for an anonymous struct/union member or an unnamed bitfield.
    pub name: Option<String>,
    /// The type.
    pub ty: QualType,
    /// The width in bits, for a bitfield.
    pub bit_width: Option<u32>,
    /// `__attribute__((aligned(n)))` (or `_Alignas(n)`) on the member.
    pub aligned: Option<u64>,
    /// `__attribute__((packed))` on the member: alignment 1 unless `aligned` raises it.
    pub packed: bool,
}

/// A struct or union definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `struct` or `union`.
    pub kind: RecordKind,
    /// The tag; `None` for an anonymous record.
    pub tag: Option<String>,
    /// The members; `None` while the record is only declared (incomplete).
    pub fields: Option<Vec<Field>>,
    /// `__attribute__((packed))` (1) or the `#pragma pack(n)` in force at the definition.
    pub pack: Option<u64>,
    /// `__attribute__((aligned(n)))` on the record.
    pub aligned: Option<u64>,
    /// The layout, computed when the record is completed.
    pub layout: Option<RecordLayout>,
}

/// An enum definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enumeration {
    /// The tag; `None` for an anonymous enum.
    pub tag: Option<String>,
    /// The enumerators and their values, in order; `None` while only declared.
    pub values: Option<Vec<(String, i128)>>,
    /// The integer type gcc gives it: `unsigned int` when no value is negative and all fit,
    /// `int` when all fit, else `long`/`unsigned long`.
    pub underlying: Scalar,
}

/// A declared function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionDecl {
    /// The name it was declared with.
    pub name: String,
    /// Its type (a [`Type::Function`]).
    pub ty: TypeId,
    /// Parameter names, where given.
    pub param_names: Vec<Option<String>>,
    /// The typedef name each parameter's type was spelled with, where the parameter is
    /// declared as that name alone (`size_t n`): a generator can keep the spelling
    /// (`size_t` as `usize`, as bindgen does).
    pub param_typedefs: Vec<Option<String>>,
    /// The typedef name the result type was spelled with (`size_t strlen(...)`).
    pub result_typedef: Option<String>,
    /// The symbol, when an `__asm__("label")` renames it (glibc's `__isoc99_fscanf`).
    pub asm_name: Option<String>,
    /// Where the name is in the text of the `cdef` call that declared it.
    pub span: crate::Span,
}

/// A declared global variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableDecl {
    /// The name.
    pub name: String,
    /// Its type.
    pub ty: QualType,
    /// The symbol, when an `__asm__("label")` renames it.
    pub asm_name: Option<String>,
    /// Where the name is in the text of the `cdef` call that declared it.
    pub span: crate::Span,
}

/// How deeply a type may nest — pointers, arrays, function types and struct members, counted
/// through typedefs — when it comes from parsed text. Every walk over a type (printing,
/// layout, lowering, conversions) recurses at most this deep, so hostile declarations cannot
/// overflow the stack. Real headers nest a few levels.
pub const MAX_TYPE_DEPTH: u32 = 128;

/// Every type, interned. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct TypeTable {
    types: Vec<Type>,
    /// Per type: 1 + the deepest type it contains ([`TypeTable::depth`]).
    depths: Vec<u32>,
    interned: HashMap<Type, TypeId>,
    records: Vec<Record>,
    enums: Vec<Enumeration>,
    /// The first typedef naming an anonymous struct, union or enum (`typedef struct { .. }
    /// point_t;`): how the type is printed, as C programmers and CFFI name it.
    typedef_names: HashMap<TypeId, String>,
}

impl Default for TypeTable {
    fn default() -> Self {
        TypeTable::new()
    }
}

impl TypeTable {
    /// A table holding only the built-in types.
    pub fn new() -> Self {
        TypeTable {
            types: Vec::new(),
            depths: Vec::new(),
            interned: HashMap::default(),
            records: Vec::new(),
            enums: Vec::new(),
            typedef_names: HashMap::default(),
        }
    }

    /// Records that the typedef `name` names `id`: an anonymous struct, union or enum is
    /// printed by its first typedef name from then on (others are left alone).
    pub fn name_by_typedef(&mut self, id: TypeId, name: &str) {
        let anonymous = match self.get(id) {
            Type::Record(r) => self.record(*r).tag.is_none(),
            Type::Enum(e) => self.enumeration(*e).tag.is_none(),
            _ => false,
        };
        if anonymous {
            self.typedef_names
                .entry(id)
                .or_insert_with(|| name.to_owned());
        }
    }

    /// The id of a structural type, adding it if new.
    pub fn intern(&mut self, ty: Type) -> TypeId {
        if let Some(&id) = self.interned.get(&ty) {
            return id;
        }
        let id = TypeId(u32::try_from(self.types.len()).expect("fewer than 2^32 types"));
        let depth = match &ty {
            Type::Pointer(inner) | Type::Array { element: inner, .. } => self.depth(inner.ty),
            Type::Function(f) => f
                .params
                .iter()
                .map(|p| self.depth(p.ty))
                .fold(self.depth(f.result.ty), u32::max),
            _ => 0,
        };
        self.depths.push(depth.saturating_add(1));
        self.types.push(ty.clone());
        self.interned.insert(ty, id);
        id
    }

    /// How deeply the type nests: 1 for a scalar, an enum or an incomplete record; 1 + the
    /// deepest member for a complete record; 1 + what it is made of for a pointer, an array or
    /// a function. A pointer counts its pointee as it was when the pointer was made (a pointer
    /// to a record is never walked into, which is what makes `struct node *next` finite).
    /// The parser refuses types deeper than [`MAX_TYPE_DEPTH`].
    pub fn depth(&self, id: TypeId) -> u32 {
        self.depths[id.0 as usize]
    }

    /// What `id` stands for.
    pub fn get(&self, id: TypeId) -> &Type {
        &self.types[id.0 as usize]
    }

    /// `void`.
    pub fn void(&mut self) -> TypeId {
        self.intern(Type::Void)
    }

    /// A scalar type.
    pub fn scalar(&mut self, scalar: Scalar) -> TypeId {
        self.intern(Type::Scalar(scalar))
    }

    /// The id `ty` already has, if it was interned: derived types found without a copy of
    /// the table.
    pub fn interned(&self, ty: &Type) -> Option<TypeId> {
        self.interned.get(ty).copied()
    }

    /// A pointer to `pointee`.
    pub fn pointer(&mut self, pointee: impl Into<QualType>) -> TypeId {
        self.intern(Type::Pointer(pointee.into()))
    }

    /// An array of `len` elements (`None`: `[]`).
    pub fn array(&mut self, element: impl Into<QualType>, len: Option<u64>) -> TypeId {
        self.intern(Type::Array {
            element: element.into(),
            len,
        })
    }

    /// A function type.
    pub fn function(&mut self, function: FunctionType) -> TypeId {
        self.intern(Type::Function(function))
    }

    /// A new, incomplete struct or union (`struct tag;`). Complete it with
    /// [`complete_record`](Self::complete_record).
    pub fn declare_record(&mut self, kind: RecordKind, tag: Option<String>) -> TypeId {
        let record = RecordId(u32::try_from(self.records.len()).expect("fewer than 2^32 records"));
        self.records.push(Record {
            kind,
            tag,
            fields: None,
            pack: None,
            aligned: None,
            layout: None,
        });
        self.intern(Type::Record(record))
    }

    /// Stores a record's members and their layout (computed by
    /// [`complete_record`](Self::complete_record), which the layout module defines, so that
    /// the type model does not depend on the layout rules).
    pub(crate) fn set_record_members(
        &mut self,
        id: TypeId,
        fields: Vec<Field>,
        pack: Option<u64>,
        aligned: Option<u64>,
        layout: RecordLayout,
    ) {
        let Type::Record(record) = *self.get(id) else {
            panic!("set_record_members on a non-record type");
        };
        let deepest = fields
            .iter()
            .map(|f| self.depth(f.ty.ty))
            .max()
            .unwrap_or(0);
        self.depths[id.0 as usize] = deepest.saturating_add(1);
        let slot = &mut self.records[record.0 as usize];
        slot.fields = Some(fields);
        slot.pack = pack;
        slot.aligned = aligned;
        slot.layout = Some(layout);
    }

    /// The kind of a declared record.
    pub(crate) fn record_kind(&self, id: TypeId) -> RecordKind {
        let Type::Record(record) = *self.get(id) else {
            panic!("record_kind on a non-record type");
        };
        self.records[record.0 as usize].kind
    }

    /// The struct or union behind a [`Type::Record`].
    pub fn record(&self, id: RecordId) -> &Record {
        &self.records[id.0 as usize]
    }

    /// A new enum; `values: None` declares it without enumerators.
    pub fn declare_enum(&mut self, tag: Option<String>) -> TypeId {
        let id = EnumId(u32::try_from(self.enums.len()).expect("fewer than 2^32 enums"));
        self.enums.push(Enumeration {
            tag,
            values: None,
            underlying: Scalar::UInt,
        });
        self.intern(Type::Enum(id))
    }

    /// Gives a declared enum its enumerators, choosing its underlying type as gcc does.
    pub fn complete_enum(&mut self, id: TypeId, values: Vec<(String, i128)>, packed: bool) {
        let Type::Enum(e) = *self.get(id) else {
            panic!("complete_enum on a non-enum type");
        };
        let min = values.iter().map(|v| v.1).min().unwrap_or(0);
        let max = values.iter().map(|v| v.1).max().unwrap_or(0);
        let underlying = if packed {
            smallest_enum_type(min, max)
        } else if min >= 0 && max <= u32::MAX as i128 {
            Scalar::UInt
        } else if min >= i32::MIN as i128 && max <= i32::MAX as i128 {
            Scalar::Int
        } else if min >= 0 {
            Scalar::ULong
        } else {
            Scalar::Long
        };
        let slot = &mut self.enums[e.0 as usize];
        slot.values = Some(values);
        slot.underlying = underlying;
    }

    /// The enum behind a [`Type::Enum`].
    pub fn enumeration(&self, id: EnumId) -> &Enumeration {
        &self.enums[id.0 as usize]
    }

    /// Whether the type has a known size (not void, not an incomplete record or `[]` array,
    /// not a function).
    pub fn is_complete(&self, id: TypeId) -> bool {
        match self.get(id) {
            Type::Void | Type::Function(_) => false,
            Type::Array { element, len } => len.is_some() && self.is_complete(element.ty),
            Type::Record(r) => self.record(*r).fields.is_some(),
            Type::Enum(e) => self.enumeration(*e).values.is_some(),
            Type::Scalar(_) | Type::Pointer(_) | Type::VaList => true,
        }
    }

    /// Prints a type as C, as an abstract declarator: `int (*)(const void *, const void *)`.
    pub fn display(&self, ty: impl Into<QualType>) -> String {
        self.declaration(ty, "")
    }

    /// Prints a declaration of `name` with this type: `int (*compare)(const void *, ...)`.
    pub fn declaration(&self, ty: impl Into<QualType>, name: &str) -> String {
        let ty = ty.into();
        let (base, declarator) = self.split_declarator(ty, name.to_owned());
        if declarator.is_empty() {
            base
        } else if declarator.starts_with('[') {
            format!("{base}{declarator}")
        } else {
            format!("{base} {declarator}")
        }
    }

    /// The type specifier part and the declarator part, built inside out.
    fn split_declarator(&self, ty: QualType, inner: String) -> (String, String) {
        match self.get(ty.ty) {
            Type::Pointer(pointee) => {
                let mut declarator = String::from("*");
                for word in ty.quals.words() {
                    declarator.push_str(word);
                    declarator.push(' ');
                }
                if ty.quals.is_empty() {
                    declarator.push_str(&inner);
                } else {
                    declarator = declarator.trim_end().to_owned();
                    if !inner.is_empty() {
                        declarator.push(' ');
                        declarator.push_str(&inner);
                    }
                }
                let wrapped =
                    matches!(self.get(pointee.ty), Type::Array { .. } | Type::Function(_));
                let declarator = if wrapped {
                    format!("({declarator})")
                } else {
                    declarator
                };
                self.split_declarator(*pointee, declarator)
            }
            Type::Array { element, len } => {
                let declarator = match len {
                    Some(n) => format!("{inner}[{n}]"),
                    None => format!("{inner}[]"),
                };
                self.split_declarator(*element, declarator)
            }
            Type::Function(f) => {
                let mut params: Vec<String> = f.params.iter().map(|p| self.display(*p)).collect();
                if f.variadic {
                    params.push("...".into());
                }
                if params.is_empty() {
                    params.push("void".into());
                }
                let declarator = format!("{inner}({})", params.join(", "));
                self.split_declarator(f.result, declarator)
            }
            _ => {
                let mut base = String::new();
                for word in ty.quals.words() {
                    base.push_str(word);
                    base.push(' ');
                }
                base.push_str(&self.base_name(ty.ty));
                (base, inner)
            }
        }
    }

    fn base_name(&self, id: TypeId) -> String {
        match self.get(id) {
            Type::Void => "void".into(),
            Type::Scalar(s) => s.c_name().into(),
            Type::VaList => "__builtin_va_list".into(),
            Type::Record(_) | Type::Enum(_) if self.typedef_names.contains_key(&id) => {
                self.typedef_names[&id].clone()
            }
            Type::Record(r) => {
                let record = self.record(*r);
                match &record.tag {
                    Some(tag) => format!("{} {tag}", record.kind.keyword()),
                    None => format!("{} <anonymous#{}>", record.kind.keyword(), r.0),
                }
            }
            Type::Enum(e) => match &self.enumeration(*e).tag {
                Some(tag) => format!("enum {tag}"),
                None => format!("enum <anonymous#{}>", e.0),
            },
            Type::Pointer(_) | Type::Array { .. } | Type::Function(_) => {
                unreachable!("derived types are printed as declarators")
            }
        }
    }
}

fn smallest_enum_type(min: i128, max: i128) -> Scalar {
    let candidates = [
        (Scalar::UChar, 0, u8::MAX as i128),
        (Scalar::SChar, i8::MIN as i128, i8::MAX as i128),
        (Scalar::UShort, 0, u16::MAX as i128),
        (Scalar::Short, i16::MIN as i128, i16::MAX as i128),
        (Scalar::UInt, 0, u32::MAX as i128),
        (Scalar::Int, i32::MIN as i128, i32::MAX as i128),
        (Scalar::ULong, 0, u64::MAX as i128),
    ];
    candidates
        .into_iter()
        .find(|&(_, lo, hi)| min >= lo && max <= hi)
        .map_or(Scalar::Long, |(s, _, _)| s)
}

impl fmt::Display for Qualifiers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<&str> = self.words().collect();
        f.write_str(&words.join(" "))
    }
}

/// Where a record's members are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordLayout {
    /// `sizeof`.
    pub size: u64,
    /// `_Alignof`.
    pub align: u64,
    /// One entry per member, in declaration order.
    pub fields: Vec<FieldLayout>,
}

/// Where one member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldLayout {
    /// Offset from the start of the record, in bits (a multiple of 8 except for bitfields).
    pub bit_offset: u64,
    /// The bitfield's width, for bitfields.
    pub bit_width: Option<u32>,
}

impl FieldLayout {
    /// The byte offset (of the byte holding the first bit, for bitfields).
    pub fn offset(&self) -> u64 {
        self.bit_offset / 8
    }
}
