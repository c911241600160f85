//! C memory owned by Rust ([`CData`], like CFFI's `ffi.new`) and global variables of a
//! library ([`Global`]).

use std::marker::PhantomData;

use crate::convert::{self, Scratch, WriteOptions};
use crate::error::Error;
use crate::shape::{Shape, Typed};
use crate::value::Value;

/// A zero-initialized C object of a declared type, owned by Rust: pass its
/// [`address`](Self::address) as a pointer argument (an out-parameter, a buffer, a struct
/// C fills in), then read what C wrote.
///
/// As a [`Value::Data`] it is also a struct (union, array) *value*: passed by value to a
/// parameter of its type by copying its bytes, with no member converted — as ctypes passes a
/// `Structure` instance and CFFI a struct cdata.
#[derive(Debug, Clone)]
pub struct CData {
    /// Shared: a [`Value::Data`] stays as small as the other values.
    typed: std::sync::Arc<Typed>,
    /// [`Shape::fingerprint`] of the type.
    fingerprint: u64,
    /// 16-byte units, so the object is aligned for any C type.
    storage: Box<[u128]>,
    /// The type's size, known when made (a copy by value asks on every call).
    size: usize,
}

/// Same type (as C spells it) and same bytes.
impl PartialEq for CData {
    fn eq(&self, other: &CData) -> bool {
        self.typed == other.typed && self.bytes() == other.bytes()
    }
}

/// One step into a C object: a member by name or an element by index.
#[derive(Debug, Clone, Copy)]
pub enum Path<'a> {
    /// A struct or union member.
    Field(&'a str),
    /// An array element.
    Index(usize),
}

/// The largest C object ffikit allocates ([`Library::new_value`](crate::Library::new_value),
/// buffers of `ffikit call`): 1 GiB. Larger requests are an [`Error::TooLarge`], not an
/// allocation failure that aborts the process.
pub const MAX_OBJECT_SIZE: u64 = 1 << 30;

impl CData {
    pub(crate) fn new(typed: Typed) -> Result<CData, Error> {
        CData::new_shared(std::sync::Arc::new(typed))
    }

    /// As [`new`](Self::new), for a type already shared.
    pub(crate) fn new_shared(typed: std::sync::Arc<Typed>) -> Result<CData, Error> {
        let fingerprint = typed.shape.fingerprint();
        CData::new_fingerprinted(typed, fingerprint)
    }

    /// As [`new_shared`](Self::new_shared), with the shape's fingerprint computed once by
    /// the caller (a hash of the whole shape: a view's type computes it once, not per copy).
    pub(crate) fn new_fingerprinted(
        typed: std::sync::Arc<Typed>,
        fingerprint: u64,
    ) -> Result<CData, Error> {
        let (size, align) = typed.shape.size_align();
        if size > MAX_OBJECT_SIZE {
            return Err(Error::TooLarge {
                what: format!("`{}`", typed.c_name),
                size,
                limit_what: "allocates",
                limit: MAX_OBJECT_SIZE,
            });
        }
        if matches!(typed.shape, Shape::Void) || align > 16 {
            return Err(Error::UnsupportedType {
                ty: typed.c_name.clone(),
                reason: "cannot allocate a value of it".into(),
            });
        }
        let units = (size as usize).div_ceil(16).max(1);
        Ok(CData {
            storage: zeroed_storage(units, &typed.c_name)?,
            fingerprint,
            typed,
            size: size as usize,
        })
    }

    /// A copy of the object (same type, same bytes), or [`Error::OutOfMemory`] when the
    /// allocator refuses it (`clone` aborts then, as `Vec`'s does).
    ///
    /// # Errors
    ///
    /// [`Error::OutOfMemory`].
    pub fn try_clone(&self) -> Result<CData, Error> {
        let mut storage = zeroed_storage(self.storage.len(), &self.typed.c_name)?;
        storage.copy_from_slice(&self.storage);
        Ok(CData {
            typed: std::sync::Arc::clone(&self.typed),
            fingerprint: self.fingerprint,
            storage,
            size: self.size,
        })
    }

    /// The object's address, to pass as a pointer argument.
    pub fn address(&self) -> Value {
        Value::Pointer(self.storage.as_ptr() as usize)
    }

    /// How many elements, for an array (without reading them); `None` for other types.
    pub fn array_len(&self) -> Option<usize> {
        match self.shape() {
            Shape::Array { len, .. } => usize::try_from(*len).ok(),
            _ => None,
        }
    }

    /// The C type's size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The C type, as C.
    pub fn type_name(&self) -> &str {
        &self.typed.c_name
    }

    /// Whether the object is of `shape` (by digest).
    #[inline(always)]
    pub(crate) fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    pub(crate) fn shape(&self) -> &Shape {
        &self.typed.shape
    }

    /// The object's eightbytes (as many as its storage holds, zero past its end), as
    /// System V passes them in registers or stack words.
    #[inline(always)]
    pub(crate) fn eightbytes(&self) -> &[u64] {
        // SAFETY: the storage is initialized u128s, each two u64s (in memory order), and a
        // u64 needs no more alignment than a u128.
        unsafe {
            std::slice::from_raw_parts(self.storage.as_ptr().cast::<u64>(), 2 * self.storage.len())
        }
    }

    /// The object's bytes.
    pub fn bytes(&self) -> &[u8] {
        let size = self.size();
        // SAFETY: the storage is `size` bytes or more of initialized u128s; u8 has no
        // alignment or validity requirements.
        unsafe { std::slice::from_raw_parts(self.storage.as_ptr().cast::<u8>(), size) }
    }

    /// The whole storage: the object's bytes, then zeros up to a multiple of 16.
    pub(crate) fn storage_bytes_mut(&mut self) -> &mut [u8] {
        let len = 16 * self.storage.len();
        // SAFETY: as in `bytes`, for all of the storage, and `&mut self` makes the access
        // exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.storage.as_mut_ptr().cast::<u8>(), len) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        let size = self.size();
        // SAFETY: as in `bytes`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.storage.as_mut_ptr().cast::<u8>(), size) }
    }

    /// The whole value.
    pub fn get(&self) -> Value {
        convert::read(&self.typed.shape, self.bytes())
    }

    /// Overwrites the whole value (a struct needs every member).
    ///
    /// # Errors
    ///
    /// A value that does not fit the type. Strings and bytes for pointer members are refused:
    /// their temporary copies would dangle once this call returns.
    pub fn set(&mut self, value: &Value) -> Result<(), Error> {
        let staged = stage(
            &self.typed.shape,
            &self.typed.c_name,
            value,
            &self.typed.c_name,
        )?;
        self.bytes_mut().copy_from_slice(&staged);
        Ok(())
    }

    /// Copies the object's bytes from C memory at `address` (a value of its type there: as
    /// ctypes' `from_address` reads and CFFI's `cast` pointers index).
    ///
    /// # Safety
    ///
    /// `address` points to at least [`size`](Self::size) readable bytes holding a value of
    /// the object's type (promise 4 of the [safety model](crate#safety-model)).
    pub unsafe fn copy_from(&mut self, address: usize) {
        let bytes = self.bytes_mut();
        // SAFETY: the caller's promise: `bytes.len()` readable bytes at `address`, which
        // cannot overlap this object's own storage (a fresh allocation ffikit owns).
        unsafe {
            std::ptr::copy_nonoverlapping(address as *const u8, bytes.as_mut_ptr(), bytes.len())
        };
    }

    /// The byte offset of the member or element at `path` in the object (`offsetof`).
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] for a member that does not exist or an index out of bounds.
    pub fn offset_at(&self, path: &[Path<'_>]) -> Result<usize, Error> {
        Ok(locate(&self.typed, path)?.1)
    }

    /// The member or element at `path` (`[Path::Field("tl"), Path::Field("x")]`).
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] for a member that does not exist or an index out of bounds.
    pub fn get_at(&self, path: &[Path<'_>]) -> Result<Value, Error> {
        let (shape, offset, bits) = locate(&self.typed, path)?;
        let bytes = &self.bytes()[offset..];
        Ok(match bits {
            None => convert::read(shape, bytes),
            Some(_) => {
                // A bitfield: read through a one-member view of it.
                let member = crate::shape::Member {
                    name: Some("v".into()),
                    offset: 0,
                    shape: shape.clone(),
                    bits,
                };
                let view = Shape::Record {
                    union: false,
                    size: 0,
                    align: 1,
                    members: vec![member],
                    not_by_value: None,
                };
                convert::read(&view, bytes)
                    .field("v")
                    .cloned()
                    .unwrap_or(Value::Void)
            }
        })
    }

    /// Writes the member or element at `path`.
    ///
    /// # Errors
    ///
    /// As [`get_at`](Self::get_at), or a value that does not fit.
    pub fn set_at(&mut self, path: &[Path<'_>], value: &Value) -> Result<(), Error> {
        let place = describe_path(&self.typed.c_name, path);
        let (shape, offset, bits) = locate(&self.typed, path)?;
        match bits {
            None => {
                let staged = stage(shape, &place, value, &place)?;
                let end = offset + staged.len();
                self.bytes_mut()[offset..end].copy_from_slice(&staged);
                Ok(())
            }
            Some((bit, width)) => {
                let shape = shape.clone();
                let place = convert::Place::Text(&place);
                convert::write_bits(&shape, value, self.bytes_mut(), offset, bit, width, &place)
            }
        }
    }
}

/// `units` zeroed 16-byte units, or [`Error::OutOfMemory`]: the size is the caller's choice
/// (up to [`MAX_OBJECT_SIZE`]), so a refusal is an error, not an abort. Zeroed by the
/// allocator (calloc: untouched pages cost nothing until written).
pub(crate) fn zeroed_storage(units: usize, what: &str) -> Result<Box<[u128]>, Error> {
    let refused = || Error::OutOfMemory {
        what: format!("a `{what}`"),
        bytes: units.saturating_mul(16),
    };
    let layout = std::alloc::Layout::array::<u128>(units.max(1)).map_err(|_| refused())?;
    // SAFETY: the layout's size is not zero (at least one unit).
    let start = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<u128>();
    if start.is_null() {
        return Err(refused());
    }
    // SAFETY: `start` was allocated by the global allocator with the layout of
    // `[u128; units.max(1)]` (what `Box<[u128]>` frees it with), and zero bytes are valid
    // u128s.
    Ok(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(start, units.max(1))) })
}

/// The bytes of `value` as a `shape`, refusing values that point into temporary copies.
pub(crate) fn stage(
    shape: &Shape,
    c_name: &str,
    value: &Value,
    place: &str,
) -> Result<Vec<u8>, Error> {
    let place = &convert::Place::Text(place);
    let size = shape.size_align().0 as usize;
    let mut staged = Vec::new();
    staged
        .try_reserve_exact(size)
        .map_err(|_| Error::OutOfMemory {
            what: format!("a `{c_name}` value"),
            bytes: size,
        })?;
    staged.resize(size, 0);
    let mut scratch = Scratch::new();
    convert::write(
        shape,
        c_name,
        value,
        &mut staged,
        place,
        &mut scratch,
        WriteOptions {
            nullable_string: true,
        },
    )?;
    if !scratch.is_empty() {
        return Err(Error::TypeMismatch {
            place: place.to_string(),
            expected: "pointers to memory that outlives this call (not a temporary string copy)"
                .into(),
            given: value.describe(),
        });
    }
    Ok(staged)
}

fn describe_path(c_name: &str, path: &[Path<'_>]) -> String {
    let mut text = c_name.to_owned();
    for step in path {
        match step {
            Path::Field(name) => text.push_str(&format!(".{name}")),
            Path::Index(index) => text.push_str(&format!("[{index}]")),
        }
    }
    text
}

/// A bitfield's (bit offset, width), for bitfield members.
type Bits = Option<(u32, u32)>;

/// The shape, byte offset and bitfield place of the member at `path`.
fn locate<'t>(typed: &'t Typed, path: &[Path<'_>]) -> Result<(&'t Shape, usize, Bits), Error> {
    let mut shape = &typed.shape;
    let mut offset = 0usize;
    let mut bits = None;
    for (depth, step) in path.iter().enumerate() {
        let missing = |what: String| Error::TypeMismatch {
            place: describe_path(&typed.c_name, &path[..=depth]),
            expected: what,
            given: "nothing there".into(),
        };
        match (step, shape) {
            (Path::Field(name), Shape::Record { members, .. }) => {
                let member = find_member(members, name)
                    .ok_or_else(|| missing(format!("a member named `{name}`")))?;
                offset += member.0;
                shape = member.1;
                bits = member.2;
            }
            (Path::Index(index), Shape::Array { element, len }) => {
                if *index as u64 >= *len {
                    return Err(missing(format!("an index below {len}")));
                }
                offset += index * element.size_align().0 as usize;
                shape = element;
            }
            _ => return Err(missing("a struct member or array element".into())),
        }
    }
    Ok((shape, offset, bits))
}

/// A member by name, looking inside anonymous members: (offset, shape, bits).
fn find_member<'s>(
    members: &'s [crate::shape::Member],
    name: &str,
) -> Option<(usize, &'s Shape, Bits)> {
    for member in members {
        match &member.name {
            Some(n) if n == name => {
                return Some((member.offset as usize, &member.shape, member.bits));
            }
            None => {
                if let Shape::Record { members: inner, .. } = &member.shape {
                    if let Some((offset, shape, bits)) = find_member(inner, name) {
                        return Some((member.offset as usize + offset, shape, bits));
                    }
                }
            }
            _ => {}
        }
    }
    None
}

/// A global variable of a library, read and written through its declaration.
#[derive(Debug)]
pub struct Global<'lib> {
    name: String,
    typed: Typed,
    address: usize,
    _library: PhantomData<&'lib ()>,
}

impl Global<'_> {
    pub(crate) fn new(name: String, typed: Typed, address: usize) -> Self {
        Global {
            name,
            typed,
            address,
            _library: PhantomData,
        }
    }

    /// The variable's address.
    pub fn address(&self) -> Value {
        Value::Pointer(self.address)
    }

    /// Reads the variable.
    ///
    /// For a `char *` variable the pointer is returned, not the text (the variable may
    /// point anywhere).
    pub fn get(&self) -> Value {
        let size = self.typed.shape.size_align().0 as usize;
        // SAFETY: the symbol is a data object of the library declared with this type, and
        // the library is alive for 'lib. Reading may race with C code writing it, as any
        // unsynchronized global access in C does.
        let bytes = unsafe { std::slice::from_raw_parts(self.address as *const u8, size) };
        convert::read(&self.typed.shape, bytes)
    }

    /// Writes the variable.
    ///
    /// # Errors
    ///
    /// A value that does not fit the type, or a temporary string (it would dangle).
    ///
    /// # Safety
    ///
    /// The variable is writable (not `const`, not in read-only memory), no other thread
    /// reads or writes it meanwhile, and the value keeps the library's own invariants: an
    /// address stored must stay valid for as long as C may use it, a count or size must
    /// match what it describes (promise 4 of the [safety model](crate#safety-model)).
    pub unsafe fn set(&self, value: &Value) -> Result<(), Error> {
        let staged = stage(&self.typed.shape, &self.typed.c_name, value, &self.name)?;
        let size = staged.len();
        // SAFETY: a live data object of this size (as in `get`), writable and unshared during
        // the write, and the value keeps the library's invariants: this function's contract.
        let target = unsafe { std::slice::from_raw_parts_mut(self.address as *mut u8, size) };
        target.copy_from_slice(&staged);
        Ok(())
    }
}
