//! CFFI's cdata model in the engine: [`CType`], a declared C type with everything a typed
//! view of memory needs — its kind, size, alignment, the type it points to or holds, its
//! members with offsets and bitfields, its enumerators, its function signature — and
//! [`CMemory`], zeroed C memory owned by Rust.
//!
//! A C object, in this model, is a typed view of memory: (type, address, owner). Indexing and
//! member access are arithmetic on the address ([`CType::item`], [`CType::fields`]), so they
//! give views into the same memory and writes land. What only computes (types, layouts,
//! addresses) is safe; reading or writing through an address is `unsafe`, with promise 4 of
//! the [safety model](crate#safety-model): the address holds a value of the type (memory a
//! [`CMemory`] owns, within its size, always does). A Python runtime, or any other embedding,
//! maps its protocols onto these (ffikit for Python does: `crates/ffikit-python`).
//!
//! ```
//! use ffikit_abi::{Library, Value, cdata::CMemory};
//!
//! let this = Library::this();
//! this.cdef("struct point { int x, y; };")?;
//! let point = this.ctype("struct point")?;
//! let y = point.field("y").unwrap();
//! assert_eq!((point.size(), y.offset, y.ty.cname()), (Some(8), 4, "int".to_owned()));
//! let memory = CMemory::zeroed(8, "struct point")?;
//! // SAFETY: the memory holds a `struct point` (ffikit allocated it, 8 bytes).
//! unsafe { y.ty.write(memory.address() + y.offset, &Value::Int(7))? };
//! // SAFETY: as above.
//! assert_eq!(unsafe { y.ty.read(memory.address() + y.offset)? }, Value::Int(7));
//! # Ok::<(), ffikit_abi::Error>(())
//! ```
//!
//! Types are resolved in a snapshot of a library's declarations, so a `struct node { struct
//! node *next; }` resolves lazily, one step at a time, and later declarations never change a
//! type already made.

use std::sync::{Arc, OnceLock};

use ffikit_cdecl::{Declarations, QualType, Qualifiers, RecordKind, Type};

pub use ffikit_cdecl::Scalar;

use crate::convert;
use crate::data::CData;
use crate::error::Error;
use crate::shape::{self, Typed};
use crate::value::Value;

/// What kind of type a [`CType`] is (CFFI's `ctype.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CKind {
    /// `void`.
    Void,
    /// An integer, a character, a float, `_Bool` (CFFI's "primitive").
    Primitive,
    /// A pointer.
    Pointer,
    /// An array, of a known length or open (`int[]`).
    Array,
    /// A struct.
    Struct,
    /// A union.
    Union,
    /// An enum.
    Enum,
    /// A function type.
    Function,
}

impl CKind {
    /// CFFI's name for the kind: `"primitive"`, `"pointer"`, `"struct"`, ...
    pub fn name(self) -> &'static str {
        match self {
            CKind::Void => "void",
            CKind::Primitive => "primitive",
            CKind::Pointer => "pointer",
            CKind::Array => "array",
            CKind::Struct => "struct",
            CKind::Union => "union",
            CKind::Enum => "enum",
            CKind::Function => "function",
        }
    }
}

/// One member of a struct or union.
#[derive(Debug, Clone)]
pub struct CField {
    /// The name (`None` for an anonymous struct or union member).
    pub name: Option<String>,
    /// Its type.
    pub ty: CType,
    /// The byte offset from the start of the record.
    pub offset: usize,
    /// For a bitfield: (bit offset from `offset`, width in bits).
    pub bits: Option<(u32, u32)>,
}

/// [`CType::flat_fields`]'s walk: `base` is the anonymous member's offset, `given` whether
/// its own members may be given values at all. Types nest at most `MAX_TYPE_DEPTH` deep.
fn flatten_into(
    fields: &[CField],
    union: bool,
    base: usize,
    given: bool,
    flat: &mut Vec<(CField, bool)>,
) {
    for (index, field) in fields.iter().enumerate() {
        let own = given && !(union && index > 0);
        match (&field.name, field.ty.cached_fields()) {
            (None, Some(inner)) => flatten_into(
                inner,
                field.ty.kind() == CKind::Union,
                base + field.offset,
                own,
                flat,
            ),
            _ => {
                let mut field = field.clone();
                field.offset += base;
                flat.push((field, own));
            }
        }
    }
}

/// A C type resolved in a snapshot of declarations (CFFI's `ctype`).
#[derive(Clone)]
pub struct CType {
    /// One allocation: a view into memory clones its type on every access.
    inner: Arc<Inner>,
}

struct Inner {
    decls: Arc<Declarations>,
    ty: QualType,
    /// What is computed about the type, once: views into memory ask on every access.
    cache: Cache,
}

#[derive(Default)]
struct Cache {
    /// The conversions' view of the type, made on first read or write.
    typed: OnceLock<Result<(Arc<Typed>, u64), String>>,
    item: OnceLock<Option<CType>>,
    kind: OnceLock<CKind>,
    fields: OnceLock<Option<Vec<CField>>>,
    size: OnceLock<Option<usize>>,
    number: OnceLock<Option<Number>>,
    /// `T *`, which pointer arithmetic on a `T[]` and `&` ask for on every use.
    pointer: OnceLock<CType>,
}

impl std::fmt::Debug for CType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CType({})", self.cname())
    }
}

/// Two types are the same when C spells them the same (qualifiers aside, as CFFI compares).
impl PartialEq for CType {
    fn eq(&self, other: &CType) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
            || (Arc::ptr_eq(&self.inner.decls, &other.inner.decls)
                && self.inner.ty.ty == other.inner.ty.ty)
            || self.cname() == other.cname()
    }
}

impl CType {
    pub(crate) fn new(decls: Arc<Declarations>, ty: QualType) -> CType {
        CType {
            inner: Arc::new(Inner {
                decls,
                ty,
                cache: Cache::default(),
            }),
        }
    }

    /// Parses `text` as a type name in `decls` (a copy is made if the text needs new types).
    ///
    /// # Errors
    ///
    /// [`Error::Declaration`] with the caret under the bad token.
    pub fn parse(decls: &Arc<Declarations>, text: &str) -> Result<CType, Error> {
        let mut scratch = Declarations::clone(decls);
        let ty = scratch.parse_type(text)?;
        Ok(CType::new(Arc::new(scratch), ty))
    }

    fn get(&self) -> &Type {
        self.inner.decls.types().get(self.inner.ty.ty)
    }

    fn sibling(&self, ty: QualType) -> CType {
        CType::new(Arc::clone(&self.inner.decls), ty)
    }

    /// The type's kind.
    pub fn kind(&self) -> CKind {
        *self.inner.cache.kind.get_or_init(|| self.kind_uncached())
    }

    fn kind_uncached(&self) -> CKind {
        match self.get() {
            Type::Void => CKind::Void,
            Type::Scalar(_) => CKind::Primitive,
            Type::Pointer(_) => CKind::Pointer,
            Type::Array { .. } | Type::VaList => CKind::Array,
            Type::Function(_) => CKind::Function,
            Type::Record(id) => match self.inner.decls.types().record(*id).kind {
                RecordKind::Struct => CKind::Struct,
                RecordKind::Union => CKind::Union,
            },
            Type::Enum(_) => CKind::Enum,
            _ => CKind::Void,
        }
    }

    /// The type's name as CFFI spells it (qualifiers dropped): `int`, `int *`, `int * *`,
    /// `int[3]`, `int(*)[3]`, `int(*)(int, long * *, ...)`, `struct foo`.
    pub fn cname(&self) -> String {
        self.marked().replace('&', "")
    }

    /// The name with CFFI's marker `&` where a declarator goes (`int *&`, `int&[3]`,
    /// `int(*&)(int)`).
    fn marked(&self) -> String {
        let types = self.inner.decls.types();
        match self.get() {
            Type::Void => "void&".to_owned(),
            Type::Scalar(scalar) => format!("{}&", scalar.c_name()),
            Type::Pointer(pointee) => {
                let item = self.sibling(*pointee);
                match types.get(pointee.ty) {
                    Type::Function(function) => {
                        let args = self.arguments(function);
                        self.sibling(function.result)
                            .marked()
                            .replace('&', &format!("(*&)({args})"))
                    }
                    Type::Array { .. } => item.marked().replace('&', "(*&)"),
                    _ => item.marked().replace('&', " *&"),
                }
            }
            Type::Array { element, len } => {
                let brackets = match len {
                    Some(len) => format!("&[{len}]"),
                    None => "&[]".to_owned(),
                };
                self.sibling(*element).marked().replace('&', &brackets)
            }
            Type::Function(function) => {
                let args = self.arguments(function);
                self.sibling(function.result)
                    .marked()
                    .replace('&', &format!("(&)({args})"))
            }
            _ => format!("{}&", types.display(QualType::plain(self.inner.ty.ty))),
        }
    }

    fn arguments(&self, function: &ffikit_cdecl::FunctionType) -> String {
        let mut args: Vec<String> = function
            .params
            .iter()
            .map(|p| self.sibling(*p).cname())
            .collect();
        if function.variadic {
            args.push("...".to_owned());
        }
        args.join(", ")
    }

    /// The type declaring `name`, as CFFI's `getctype` writes it: `int * x`, `int x[5]`,
    /// `int(*x)(int)`; `*x` around an array gets parentheses (`int(*x)[5]`).
    pub fn declaration(&self, name: &str) -> String {
        let marked = self.marked();
        let name = if name.starts_with('*') && marked.contains("&[") {
            format!("({name})")
        } else if !name.is_empty() && !name.starts_with(['[', '(']) {
            format!(" {name}")
        } else {
            name.to_owned()
        };
        marked.replace('&', &name).trim().to_owned()
    }

    /// Whether this is `char` itself (not `signed char`, `unsigned char`): CFFI's
    /// one-byte `bytes`.
    pub fn is_char(&self) -> bool {
        matches!(self.get(), Type::Scalar(Scalar::Char))
    }

    /// Whether the type is `const`-qualified (at the top).
    pub fn is_const(&self) -> bool {
        self.inner.ty.quals.contains(Qualifiers::CONST)
    }

    /// The arithmetic type of a primitive (the underlying integer of an enum).
    pub fn scalar(&self) -> Option<Scalar> {
        match self.get() {
            Type::Scalar(scalar) => Some(*scalar),
            Type::Enum(id) => Some(self.inner.decls.types().enumeration(*id).underlying),
            _ => None,
        }
    }

    /// How a number of this type (an integer, character, float, `_Bool` or enum) sits in
    /// memory, for reads one element at a time without the general conversion (`None` for
    /// every other type, and for `long double`, `__int128` and complex numbers).
    pub fn number(&self) -> Option<Number> {
        *self.inner.cache.number.get_or_init(|| {
            let scalar = self.scalar()?;
            let size = self.size()?;
            let signed = scalar.is_signed();
            Some(match scalar {
                Scalar::Bool => Number::Bool,
                Scalar::Char if self.kind() == CKind::Primitive => Number::Char { signed },
                // Read as characters by the front ends, through the general read.
                _ if scalar.is_wide_char() => return None,
                Scalar::Float => Number::F32,
                Scalar::Double => Number::F64,
                _ if scalar.is_floating() || !scalar.is_integer() => return None,
                _ => match (size, signed) {
                    (1, true) => Number::I8,
                    (1, false) => Number::U8,
                    (2, true) => Number::I16,
                    (2, false) => Number::U16,
                    (4, true) => Number::I32,
                    (4, false) => Number::U32,
                    (8, true) => Number::I64,
                    (8, false) => Number::U64,
                    _ => return None,
                },
            })
        })
    }

    /// `sizeof`, for complete types (`None` for `void`, functions, open arrays, incomplete
    /// structs).
    pub fn size(&self) -> Option<usize> {
        *self.inner.cache.size.get_or_init(|| {
            if matches!(self.get(), Type::Void | Type::Function(_)) {
                return None;
            }
            let (size, _) = self.inner.decls.size_align(self.inner.ty.ty).ok()?;
            usize::try_from(size).ok()
        })
    }

    /// `_Alignof`, for complete types (an open array's is its element's).
    pub fn align(&self) -> Option<usize> {
        if let Type::Array { len: None, .. } = self.get() {
            return self.item()?.align();
        }
        if matches!(self.get(), Type::Void | Type::Function(_)) {
            return None;
        }
        let (_, align) = self.inner.decls.size_align(self.inner.ty.ty).ok()?;
        usize::try_from(align).ok()
    }

    /// What a pointer points to, or an array holds.
    pub fn item(&self) -> Option<CType> {
        self.item_ref().cloned()
    }

    /// [`item`](Self::item), borrowed (no reference count touched).
    pub fn item_ref(&self) -> Option<&CType> {
        self.inner
            .cache
            .item
            .get_or_init(|| match self.get() {
                Type::Pointer(pointee) => Some(self.sibling(*pointee)),
                Type::Array { element, .. } => Some(self.sibling(*element)),
                _ => None,
            })
            .as_ref()
    }

    /// The member `name` (looking into anonymous members), borrowed, with its offset from
    /// the start of this record.
    pub fn field_ref(&self, name: &str) -> Option<(&CField, usize)> {
        for field in self.cached_fields()? {
            match &field.name {
                Some(own) if own == name => return Some((field, field.offset)),
                None => {
                    if let Some((inner, offset)) = field.ty.field_ref(name) {
                        return Some((inner, field.offset + offset));
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// Whether a struct or union has a member `name` (looking into anonymous members).
    pub fn has_field(&self, name: &str) -> bool {
        self.cached_fields().is_some_and(|fields| {
            fields.iter().any(|field| match &field.name {
                Some(own) => own == name,
                None => field.ty.has_field(name),
            })
        })
    }

    /// An array's length (`None` for an open array `T[]` and for other types).
    pub fn length(&self) -> Option<usize> {
        match self.get() {
            Type::Array { len, .. } => len.and_then(|len| usize::try_from(len).ok()),
            _ => None,
        }
    }

    /// Whether this is an array without a length (`int[]`).
    pub fn is_open_array(&self) -> bool {
        matches!(self.get(), Type::Array { len: None, .. })
    }

    /// Whether a struct or union is complete (declared with its members).
    pub fn is_complete(&self) -> bool {
        self.inner.decls.types().is_complete(self.inner.ty.ty)
    }

    /// A struct's or union's members, in order (anonymous members as they are: their
    /// members are found through them); `None` for other or incomplete types.
    pub fn fields(&self) -> Option<Vec<CField>> {
        self.cached_fields().map(<[CField]>::to_vec)
    }

    fn cached_fields(&self) -> Option<&[CField]> {
        self.inner
            .cache
            .fields
            .get_or_init(|| self.make_fields())
            .as_deref()
    }

    fn make_fields(&self) -> Option<Vec<CField>> {
        let (record, layout) = self.inner.decls.record_layout(self.inner.ty.ty)?;
        let fields = record.fields.as_ref()?;
        Some(
            fields
                .iter()
                .zip(&layout.fields)
                .filter(|(field, place)| !(field.name.is_none() && place.bit_width.is_some()))
                .map(|(field, place)| CField {
                    name: field.name.clone(),
                    ty: self.sibling(field.ty),
                    offset: place.offset() as usize,
                    bits: place
                        .bit_width
                        .map(|width| ((place.bit_offset % 8) as u32, width)),
                })
                .collect(),
        )
    }

    /// The members as an initializer list sees them (C's and CFFI's order): an anonymous
    /// struct's or union's members in its place, offsets from this record's start, each
    /// with whether a list initializer gives it a value — in a union only its first
    /// member does (and, inside it, as its own kind says). `None` for other or incomplete
    /// types.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let mut decls = ffikit_cdecl::Declarations::new();
    /// decls.cdef("struct s { int a; union { int b; int c; }; int e; };").unwrap();
    /// let ty = ffikit_abi::cdata::CType::parse(&Arc::new(decls), "struct s").unwrap();
    /// let flat: Vec<(String, usize, bool)> = ty
    ///     .flat_fields()
    ///     .unwrap()
    ///     .into_iter()
    ///     .map(|(f, given)| (f.name.unwrap(), f.offset, given))
    ///     .collect();
    /// assert_eq!(
    ///     flat,
    ///     [("a".into(), 0, true), ("b".into(), 4, true), ("c".into(), 4, false), ("e".into(), 8, true)]
    /// );
    /// ```
    pub fn flat_fields(&self) -> Option<Vec<(CField, bool)>> {
        let mut flat = Vec::new();
        flatten_into(
            self.cached_fields()?,
            self.kind() == CKind::Union,
            0,
            true,
            &mut flat,
        );
        Some(flat)
    }

    /// The member `name`, looking into anonymous members, with its offset from the start of
    /// this record.
    pub fn field(&self, name: &str) -> Option<CField> {
        for field in self.cached_fields()? {
            match &field.name {
                Some(own) if own == name => return Some(field.clone()),
                None => {
                    if let Some(mut inner) = field.ty.field(name) {
                        inner.offset += field.offset;
                        return Some(inner);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// An enum's enumerators and values, in order.
    pub fn enumerators(&self) -> Option<Vec<(String, i128)>> {
        match self.get() {
            Type::Enum(id) => self.inner.decls.types().enumeration(*id).values.clone(),
            _ => None,
        }
    }

    /// A function type's (or a function pointer's) result, parameters and whether it is
    /// variadic.
    pub fn signature(&self) -> Option<(CType, Vec<CType>, bool)> {
        let function = match self.get() {
            Type::Function(function) => function,
            Type::Pointer(pointee) => match self.inner.decls.types().get(pointee.ty) {
                Type::Function(function) => function,
                _ => return None,
            },
            _ => return None,
        };
        Some((
            self.sibling(function.result),
            function.params.iter().map(|p| self.sibling(*p)).collect(),
            function.variadic,
        ))
    }

    /// A function (pointer) type's parts, for binding it: the declarations they live in,
    /// the result, the parameters, whether it is variadic.
    pub(crate) fn function_parts(&self) -> Option<(&Declarations, QualType, Vec<QualType>, bool)> {
        let function = match self.get() {
            Type::Function(function) => function,
            Type::Pointer(pointee) => match self.inner.decls.types().get(pointee.ty) {
                Type::Function(function) => function,
                _ => return None,
            },
            _ => return None,
        };
        Some((
            &self.inner.decls,
            function.result,
            function.params.clone(),
            function.variadic,
        ))
    }

    /// The pointer type to this type (`T *`).
    pub fn pointer_to(&self) -> CType {
        self.inner
            .cache
            .pointer
            .get_or_init(|| self.derived(Type::Pointer(self.inner.ty)))
            .clone()
    }

    /// The array type of `len` of this type (`T[len]`; `None`: `T[]`).
    pub fn array_of(&self, len: Option<usize>) -> CType {
        self.derived(Type::Array {
            element: self.inner.ty,
            len: len.map(|n| n as u64),
        })
    }

    /// A type made from this one: in the same declarations when they have it already (the
    /// pointer arithmetic and casts of a loop ask for the same few), else in a copy.
    fn derived(&self, ty: Type) -> CType {
        if let Some(id) = self.inner.decls.types().interned(&ty) {
            return CType::new(Arc::clone(&self.inner.decls), QualType::plain(id));
        }
        let mut scratch = Declarations::clone(&self.inner.decls);
        let id = scratch.types_mut().intern(ty);
        CType::new(Arc::new(scratch), QualType::plain(id))
    }

    /// The conversions' view of the type.
    fn typed(&self) -> Result<&Arc<Typed>, Error> {
        self.typed_and_fingerprint().map(|(typed, _)| typed)
    }

    #[inline]
    fn typed_and_fingerprint(&self) -> Result<&(Arc<Typed>, u64), Error> {
        // Once made, straight from the cache (a struct copied by value asks on every call).
        if let Some(Ok(made)) = self.inner.cache.typed.get() {
            return Ok(made);
        }
        self.typed_and_fingerprint_cold()
    }

    #[cold]
    fn typed_and_fingerprint_cold(&self) -> Result<&(Arc<Typed>, u64), Error> {
        self.inner
            .cache
            .typed
            .get_or_init(|| {
                shape::resolve(&self.inner.decls, self.inner.ty)
                    .map(|typed| {
                        let fingerprint = typed.shape.fingerprint();
                        (Arc::new(typed), fingerprint)
                    })
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|reason| Error::UnsupportedType {
                ty: self.cname(),
                reason: reason.clone(),
            })
    }

    /// Reads the value of this type at `address`: numbers as [`Value::Int`], `UInt`,
    /// `Float`, `Bool`, `Complex`; pointers as [`Value::Pointer`] or [`Value::Null`];
    /// records and arrays member by member.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedType`] for a type without a value (void, a function, an open
    /// array).
    ///
    /// # Safety
    ///
    /// `address` holds a value of this type, readable for [`size`](Self::size) bytes
    /// (promise 4).
    pub unsafe fn read(&self, address: usize) -> Result<Value, Error> {
        let typed = self.typed()?;
        let size = typed.shape.size_align().0 as usize;
        // SAFETY: the caller's promise: `size` readable bytes at `address`.
        let bytes = unsafe { std::slice::from_raw_parts(address as *const u8, size) };
        Ok(convert::read(&typed.shape, bytes))
    }

    /// Writes `value` as this type at `address` (range-checked; a struct from its members by
    /// name or in order, an array from its elements).
    ///
    /// # Errors
    ///
    /// A value that does not fit the type; nothing is written then.
    ///
    /// # Safety
    ///
    /// `address` is writable for [`size`](Self::size) bytes and C may see a value of this
    /// type there (promise 4).
    pub unsafe fn write(&self, address: usize, value: &Value) -> Result<(), Error> {
        let typed = self.typed()?;
        // Numbers and pointers (the common writes, one element at a time): checked and
        // written through a small buffer on the stack, without allocating.
        if let shape::Shape::Int { .. }
        | shape::Shape::Float
        | shape::Shape::Double
        | shape::Shape::Bool
        | shape::Shape::Pointer(_) = typed.shape
        {
            let mut small = [0u8; 8];
            let size = typed.shape.size_align().0 as usize;
            let mut scratch = convert::Scratch::new();
            convert::write(
                &typed.shape,
                &typed.c_name,
                value,
                &mut small[..size],
                &convert::Place::Text(&typed.c_name),
                &mut scratch,
                convert::WriteOptions {
                    nullable_string: true,
                },
            )?;
            if scratch.is_empty() {
                // SAFETY: the caller's promise: `size` writable bytes at `address`.
                unsafe { std::ptr::copy_nonoverlapping(small.as_ptr(), address as *mut u8, size) };
                return Ok(());
            }
        }
        let staged = crate::data::stage(&typed.shape, &typed.c_name, value, &typed.c_name)?;
        // SAFETY: the caller's promise: `staged.len()` (the type's size) writable bytes.
        unsafe { std::ptr::copy_nonoverlapping(staged.as_ptr(), address as *mut u8, staged.len()) };
        Ok(())
    }

    /// Reads a bitfield of this (integer) type: `width` bits from bit `bit` of the bytes at
    /// `address`, sign-extended for a signed type.
    ///
    /// # Safety
    ///
    /// `(bit + width).div_ceil(8)` bytes at `address` are readable (promise 4).
    pub unsafe fn read_bits(&self, address: usize, bit: u32, width: u32) -> Value {
        let bytes = (bit + width).div_ceil(8) as usize;
        // SAFETY: the caller's promise.
        let src = unsafe { std::slice::from_raw_parts(address as *const u8, bytes) };
        let mut word = 0u128;
        for (k, byte) in src.iter().enumerate() {
            word |= u128::from(*byte) << (8 * k);
        }
        let raw = (word >> bit) & ((1u128 << width) - 1);
        match self.scalar() {
            Some(Scalar::Bool) => Value::Bool(raw != 0),
            Some(scalar) if scalar.is_signed() => {
                let shift = 128 - width;
                Value::Int((((raw << shift) as i128) >> shift) as i64)
            }
            _ => Value::UInt(raw as u64),
        }
    }

    /// Writes a bitfield (see [`read_bits`](Self::read_bits)), range-checked against its
    /// width.
    ///
    /// # Errors
    ///
    /// A value that is not an integer or does not fit in `width` bits.
    ///
    /// # Safety
    ///
    /// `(bit + width).div_ceil(8)` bytes at `address` are writable (promise 4).
    pub unsafe fn write_bits(
        &self,
        address: usize,
        bit: u32,
        width: u32,
        value: &Value,
    ) -> Result<(), Error> {
        let typed = self.typed()?;
        let bytes = (bit + width).div_ceil(8) as usize;
        // SAFETY: the caller's promise.
        let dst = unsafe { std::slice::from_raw_parts_mut(address as *mut u8, bytes) };
        let place = convert::Place::Text(&typed.c_name);
        convert::write_bits(&typed.shape, value, dst, 0, bit, width, &place)
    }

    /// A C object holding a copy of the value of this type at `address` (to pass a struct
    /// that lives elsewhere by value).
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedType`] for a type without a value; [`Error::OutOfMemory`].
    ///
    /// # Safety
    ///
    /// As [`read`](Self::read).
    pub unsafe fn copy_to_data(&self, address: usize) -> Result<CData, Error> {
        let (typed, fingerprint) = self.typed_and_fingerprint()?;
        let mut data = CData::new_fingerprinted(Arc::clone(typed), *fingerprint)?;
        // SAFETY: the caller's promise.
        unsafe { data.copy_from(address) };
        Ok(data)
    }

    /// Copies the value of this type at `address` into `data`, a value made earlier for a
    /// type of the same layout (by [`copy_to_data`](Self::copy_to_data)): what passes a
    /// struct by value call after call without allocating. `false`, nothing copied, when
    /// `data` has another layout.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedType`] for a type ffikit cannot lay out.
    ///
    /// # Safety
    ///
    /// As [`read`](Self::read), and the bytes at `address` are not `data`'s own.
    pub unsafe fn copy_into(&self, address: usize, data: &mut CData) -> Result<bool, Error> {
        let (_, fingerprint) = self.typed_and_fingerprint()?;
        if data.fingerprint() != *fingerprint {
            return Ok(false);
        }
        // SAFETY: the caller's promises; `data` has this type's layout, so its size.
        unsafe { data.copy_from(address) };
        Ok(true)
    }
}

/// Zeroed C memory owned by Rust, aligned for any C type (16 bytes): what `ffi.new` hands
/// out. Its address is stable for its life; dropping it frees it.
#[derive(Debug)]
pub struct CMemory {
    storage: Box<[u128]>,
    size: usize,
}

impl CMemory {
    /// `size` zeroed bytes (at least one unit is allocated, so the address is never shared
    /// with another object).
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] past [`MAX_OBJECT_SIZE`](crate::MAX_OBJECT_SIZE),
    /// [`Error::OutOfMemory`] when the allocator refuses.
    pub fn zeroed(size: usize, what: &str) -> Result<CMemory, Error> {
        if size as u64 > crate::MAX_OBJECT_SIZE {
            return Err(Error::TooLarge {
                what: format!("a `{what}`"),
                size: size as u64,
                limit_what: "allocates",
                limit: crate::MAX_OBJECT_SIZE,
            });
        }
        let units = size.div_ceil(16).max(1);
        Ok(CMemory {
            storage: crate::data::zeroed_storage(units, what)?,
            size,
        })
    }

    /// Where the memory starts.
    pub fn address(&self) -> usize {
        self.storage.as_ptr() as usize
    }

    /// How many bytes were asked for.
    pub fn size(&self) -> usize {
        self.size
    }
}

/// How a number sits in memory ([`CType::number`]): reads of one element, as fast as a load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Number {
    /// `_Bool`.
    Bool,
    /// Plain `char` (its sign is the platform's), which CFFI reads as one byte.
    Char {
        /// Whether `char` is signed here.
        signed: bool,
    },
    /// A signed 8-bit integer (`signed char`, `int8_t`).
    I8,
    /// An unsigned 8-bit integer.
    U8,
    /// A signed 16-bit integer.
    I16,
    /// An unsigned 16-bit integer.
    U16,
    /// A signed 32-bit integer (an enum with `int` underneath).
    I32,
    /// An unsigned 32-bit integer.
    U32,
    /// A signed 64-bit integer.
    I64,
    /// An unsigned 64-bit integer.
    U64,
    /// `float`.
    F32,
    /// `double`.
    F64,
}

impl Number {
    /// Its size in bytes.
    pub fn size(self) -> usize {
        match self {
            Number::Bool | Number::Char { .. } | Number::I8 | Number::U8 => 1,
            Number::I16 | Number::U16 => 2,
            Number::I32 | Number::U32 | Number::F32 => 4,
            Number::I64 | Number::U64 | Number::F64 => 8,
        }
    }

    /// The number at `address`, as [`CType::read`] gives it (`Int`, `UInt`, `Float` or
    /// `Bool`; a `_Bool` byte other than 0 is true).
    ///
    /// # Safety
    ///
    /// `address` is readable for [`size`](Self::size) bytes (promise 4; any alignment).
    pub unsafe fn read(self, address: usize) -> Value {
        // SAFETY: the caller's promise, passed on.
        match unsafe { self.load(address) } {
            Loaded::Int(i) => Value::Int(i),
            Loaded::UInt(u) => Value::UInt(u),
            Loaded::Float(f) => Value::Float(f),
            Loaded::Bool(b) => Value::Bool(b),
        }
    }

    /// As [`read`](Self::read), as a plain `Copy` value (nothing to drop): for front ends
    /// that turn numbers into their own objects in loops.
    ///
    /// # Safety
    ///
    /// As [`read`](Self::read).
    #[inline]
    pub unsafe fn load(self, address: usize) -> Loaded {
        // SAFETY: the caller's promise: `size` readable bytes at `address` (for each load
        // below); unaligned loads, as C memory from a packed struct may be unaligned, and
        // every bit pattern is a valid integer or float.
        unsafe {
            match self {
                Number::Bool => Loaded::Bool(std::ptr::read(address as *const u8) != 0),
                Number::Char { signed: true } | Number::I8 => {
                    Loaded::Int(i64::from(std::ptr::read(address as *const i8)))
                }
                Number::Char { signed: false } | Number::U8 => {
                    Loaded::UInt(u64::from(std::ptr::read(address as *const u8)))
                }
                Number::I16 => Loaded::Int(i64::from(load::<i16>(address))),
                Number::U16 => Loaded::UInt(u64::from(load::<u16>(address))),
                Number::I32 => Loaded::Int(i64::from(load::<i32>(address))),
                Number::U32 => Loaded::UInt(u64::from(load::<u32>(address))),
                Number::I64 => Loaded::Int(load::<i64>(address)),
                Number::U64 => Loaded::UInt(load::<u64>(address)),
                Number::F32 => Loaded::Float(f64::from(load::<f32>(address))),
                Number::F64 => Loaded::Float(load::<f64>(address)),
            }
        }
    }
}

/// A number [`Number::load`] read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loaded {
    /// A signed integer (or signed `char`).
    Int(i64),
    /// An unsigned integer (or unsigned `char`).
    UInt(u64),
    /// A `float` (widened) or `double`.
    Float(f64),
    /// A `_Bool` (any byte other than 0 is true).
    Bool(bool),
}

/// # Safety
///
/// `address` is readable for `size_of::<T>()` bytes, which hold a valid `T`.
unsafe fn load<T: Copy>(address: usize) -> T {
    // SAFETY: the caller's promise; unaligned, as packed records place members anywhere.
    unsafe { std::ptr::read_unaligned(address as *const T) }
}

impl crate::library::Library {
    /// A type name resolved in this library's declarations, as a [`CType`].
    ///
    /// # Errors
    ///
    /// [`Error::Declaration`] for text that is not a type name (with the caret).
    pub fn ctype(&self, text: &str) -> Result<CType, Error> {
        CType::parse(&Arc::new(self.declared()), text)
    }

    /// The declared type of a function (a [`CKind::Function`]) or a variable of this
    /// library, by name.
    pub fn ctype_of(&self, name: &str) -> Option<CType> {
        let decls = self.declared();
        let ty = match decls.function(name) {
            Some(function) => QualType::plain(function.ty),
            None => decls.variable(name)?.ty,
        };
        Some(CType::new(Arc::new(decls), ty))
    }
}
