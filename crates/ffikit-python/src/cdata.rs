//! CFFI's cdata objects: typed views of memory (ffikit-abi's [`CType`] + an address + what
//! keeps the memory alive), with Python's protocols mapped onto them — indexing and member
//! access give views into the same memory (writes land), pointer arithmetic, `int`, `bool`,
//! comparisons, iteration, CFFI's reprs.
//!
//! Values move between Python and C memory in [`read`] (C to Python: numbers, 1-byte
//! `bytes` for `char`, pointers as cdata, records and arrays as views) and [`write`]
//! (Python to C: CFFI's initializers — partial lists and dicts, bytes for char arrays, cdata
//! of a compatible type).

use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyAttributeError, PyIndexError, PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PySlice, PyString, PyTuple};

use ffikit_abi::cdata::{CKind, CMemory, CType, Loaded, Number, Scalar};
use ffikit_abi::{Callback, Value};

use crate::errors::raise;

/// How deep initializers may nest (as deep as a C type may: `MAX_TYPE_DEPTH`); a list that
/// contains itself is refused, not followed.
const MAX_DEPTH: u32 = ffikit_cdecl::MAX_TYPE_DEPTH;

/// What keeps a cdata's memory alive.
pub(crate) enum Keep {
    /// Nothing: an address C owns (a pointer C returned, a cast).
    Nothing,
    /// Memory ffikit allocated for this object (`ffi.new`, a cast to a primitive).
    Owned(Arc<CMemory>),
    /// Another Python object this is a view into (an element, a member, a buffer): held,
    /// never read.
    Object(#[allow(dead_code)] PyObject),
}

/// A C object: `<cdata 'int *' owning 4 bytes>`.
#[pyclass(module = "ffikit", name = "CData", frozen, weakref, subclass)]
pub(crate) struct CDataObject {
    pub(crate) ty: CType,
    /// For a pointer: the address it holds. For anything else: where the object is.
    pub(crate) address: usize,
    pub(crate) keep: Keep,
    /// `ffi.new`'s memory size, for the repr ("owning N bytes").
    pub(crate) owning: Option<usize>,
    /// The length of an open array (`int[]`) made by `new` or `from_buffer`.
    pub(crate) length: Option<usize>,
    /// A callback's code and its Python callable (`ffi.callback`).
    pub(crate) callback: Option<Box<CallbackParts>>,
    /// `ffi.new_handle`'s object.
    pub(crate) handle: Option<Box<Handle>>,
    /// `ffi.gc`'s destructor.
    pub(crate) destructor: Option<Box<Destructor>>,
}

/// `ffi.gc`'s destructor and the object it is called with, once (when its cdata is
/// collected, or by `ffi.release`).
#[derive(Default)]
pub(crate) struct Destructor(pub(crate) Mutex<Option<(PyObject, PyObject)>>);

impl Drop for Destructor {
    fn drop(&mut self) {
        let destructor = self.0.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((destructor, original)) = destructor {
            Python::with_gil(|py| {
                if let Err(error) = destructor.call1(py, (original,)) {
                    error.write_unraisable(py, None);
                }
            });
        }
    }
}

/// `ffi.new_handle`'s object, registered under the handle's address while it lives.
pub(crate) struct Handle {
    pub(crate) object: PyObject,
    pub(crate) address: usize,
}

impl Drop for Handle {
    fn drop(&mut self) {
        crate::ffi::HANDLES
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.address);
    }
}

/// What `ffi.callback` makes.
pub(crate) struct CallbackParts {
    /// The code C calls: held, never read (dropping it frees the code).
    #[allow(dead_code)]
    pub(crate) callback: Callback,
    pub(crate) function: PyObject,
    pub(crate) error: Option<PyObject>,
    pub(crate) onerror: Option<PyObject>,
    pub(crate) exception: Arc<Mutex<Option<PyErr>>>,
}

impl CDataObject {
    pub(crate) fn plain(ty: CType, address: usize, keep: Keep) -> CDataObject {
        CDataObject {
            ty,
            address,
            keep,
            owning: None,
            length: None,
            callback: None,
            handle: None,
            destructor: None,
        }
    }

    /// Zeroed memory of `size` bytes, owned by the object.
    pub(crate) fn owning(ty: CType, size: usize) -> PyResult<CDataObject> {
        // The type's name only for the error (naming it costs a string per allocation).
        let memory = match CMemory::zeroed(size, "object") {
            Ok(memory) => memory,
            Err(_) => CMemory::zeroed(size, &ty.cname()).map_err(raise)?,
        };
        let address = memory.address();
        Ok(CDataObject {
            owning: Some(size),
            ..CDataObject::plain(ty, address, Keep::Owned(Arc::new(memory)))
        })
    }

    /// Where the pointed-to or contained items start: a pointer's value, an array's own
    /// address.
    pub(crate) fn items_address(&self) -> usize {
        self.address
    }

    /// The value passed for this object as a function argument: a pointer's (or array's)
    /// address, a primitive's value, a struct's or union's bytes (by value).
    pub(crate) fn to_value(&self) -> PyResult<Value> {
        match self.kind() {
            CKind::Pointer | CKind::Array | CKind::Function => Ok(if self.address == 0 {
                Value::Null
            } else {
                Value::Pointer(self.address)
            }),
            // SAFETY: the Python user's promise (the module's safety model): the object's
            // memory holds a value of its type.
            CKind::Primitive | CKind::Enum => unsafe { self.ty.read(self.address) }.map_err(raise),
            // SAFETY: as above.
            CKind::Struct | CKind::Union => unsafe { self.ty.copy_to_data(self.address) }
                .map(Value::Data)
                .map_err(raise),
            _ => Err(PyTypeError::new_err(format!(
                "cannot pass cdata '{}' to C",
                self.ty.cname()
            ))),
        }
    }

    /// The type of the memory at `address`: what a pointer points to, else the type itself.
    fn target(&self) -> CType {
        match self.kind() {
            CKind::Pointer => self.ty.item().expect("a pointer has an item"),
            _ => self.ty.clone(),
        }
    }

    fn kind(&self) -> CKind {
        self.ty.kind()
    }

    pub(crate) fn is_pointer_like(&self) -> bool {
        matches!(self.kind(), CKind::Pointer | CKind::Array | CKind::Function)
    }

    /// The address to pass where C takes a pointer: a pointer's value, or where an array,
    /// struct or union is.
    pub(crate) fn as_pointer(&self) -> usize {
        self.address
    }

    /// The item type and address of element `index` (bounds-checked for arrays).
    fn element(&self, index: isize) -> PyResult<(&CType, usize)> {
        let item = self.ty.item_ref().ok_or_else(|| {
            PyTypeError::new_err(format!(
                "cdata of type '{}' cannot be indexed",
                self.ty.cname()
            ))
        })?;
        if self.kind() == CKind::Array {
            let len = self.array_len();
            if index < 0 || index as usize >= len {
                return Err(PyIndexError::new_err(format!(
                    "index too large for cdata '{}' (expected {} < {})",
                    self.ty.cname(),
                    index,
                    len
                )));
            }
        } else if self.address == 0 {
            return Err(PyRuntimeError::new_err(format!(
                "cannot dereference null pointer from cdata '{}'",
                self.ty.cname()
            )));
        } else if self.owning.is_some()
            && index != 0
            && matches!(item.kind(), CKind::Struct | CKind::Union)
        {
            // `new("struct foo *")` owns one struct: as in CFFI, only `p[0]` is in it.
            return Err(PyIndexError::new_err(format!(
                "index {index} out of the one '{}' this cdata owns",
                item.cname()
            )));
        }
        let size = item.size().ok_or_else(|| {
            PyTypeError::new_err(format!(
                "cdata of type '{}' cannot be indexed (the item type has no size)",
                self.ty.cname()
            ))
        })?;
        let offset = (index as i128) * (size as i128);
        let at = (self.items_address() as i128 + offset) as usize;
        Ok((item, at))
    }

    /// An array's length (an open array made by `new` knows it from its memory).
    pub(crate) fn array_len(&self) -> usize {
        self.length.or(self.ty.length()).unwrap_or_default()
    }

    /// The member `name` of this struct or union (or of what this pointer points to).
    fn member(&self, name: &str) -> PyResult<(ffikit_abi::cdata::CField, usize)> {
        let (record, base) = match self.kind() {
            CKind::Struct | CKind::Union => (self.ty.clone(), self.address),
            CKind::Pointer => {
                let item = self.ty.item().expect("a pointer has an item");
                if !matches!(item.kind(), CKind::Struct | CKind::Union) {
                    return Err(PyAttributeError::new_err(format!(
                        "cdata '{}' has no attribute '{name}'",
                        self.ty.cname()
                    )));
                }
                if self.address == 0 {
                    return Err(PyRuntimeError::new_err(format!(
                        "cannot dereference null pointer from cdata '{}'",
                        self.ty.cname()
                    )));
                }
                (item, self.address)
            }
            _ => {
                return Err(PyAttributeError::new_err(format!(
                    "cdata '{}' has no attribute '{name}'",
                    self.ty.cname()
                )));
            }
        };
        if !record.is_complete() {
            return Err(PyAttributeError::new_err(format!(
                "cdata '{}' points to an opaque type: cannot read fields",
                self.ty.cname()
            )));
        }
        match record.field(name) {
            Some(field) => {
                let at = base + field.offset;
                Ok((field, at))
            }
            None => Err(PyAttributeError::new_err(format!(
                "cdata '{}' has no field '{name}'",
                record.cname()
            ))),
        }
    }

    /// The value of a primitive cdata, as Python reads it.
    fn primitive_value(&self, py: Python<'_>) -> PyResult<PyObject> {
        read(py, &self.ty, self.address, None)
    }
}

use pyo3::exceptions::PyRuntimeError;

#[pymethods]
impl CDataObject {
    fn __getitem__(slf: &Bound<'_, Self>, index: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        let py = slf.py();
        let this = slf.get();
        if let Ok(slice) = index.downcast::<PySlice>() {
            return this.slice(py, slf, slice);
        }
        let index: isize = index.extract()?;
        let (item, at) = this.element(index)?;
        read(py, item, at, Some(slf.as_any()))
    }

    fn __setitem__(
        slf: &Bound<'_, Self>,
        index: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let this = slf.get();
        if let Ok(slice) = index.downcast::<PySlice>() {
            let (start, len) = this.slice_bounds(slice)?;
            let item = this.ty.item().expect("sliced");
            let size = item.size().unwrap_or(0);
            let values: Vec<Bound<'_, PyAny>> = if let Ok(bytes) = value.downcast::<PyBytes>() {
                bytes
                    .as_bytes()
                    .iter()
                    .map(|b| PyBytes::new(slf.py(), &[*b]).into_any())
                    .collect()
            } else {
                value.try_iter()?.collect::<PyResult<_>>()?
            };
            if values.len() != len {
                return Err(PyValueError::new_err(format!(
                    "need a list of length {len}, got {}",
                    values.len()
                )));
            }
            for (k, v) in values.iter().enumerate() {
                write(&item, this.items_address() + (start + k) * size, v, 0)?;
            }
            return Ok(());
        }
        let index: isize = index.extract()?;
        let (item, at) = this.element(index)?;
        write(item, at, value, 0)
    }

    fn __delitem__(&self, _index: &Bound<'_, PyAny>) -> PyResult<()> {
        Err(PyTypeError::new_err("cdata does not support item deletion"))
    }

    /// Members first (a struct's, or a struct pointer's), without the failed type-dict
    /// lookup and its AttributeError a `__getattr__` would cost on every read; then the
    /// object's methods and attributes.
    fn __getattribute__(slf: &Bound<'_, Self>, name: &Bound<'_, PyString>) -> PyResult<PyObject> {
        let this = slf.get();
        let record = match this.kind() {
            CKind::Struct | CKind::Union => Some(&this.ty),
            CKind::Pointer => this
                .ty
                .item_ref()
                .filter(|item| matches!(item.kind(), CKind::Struct | CKind::Union)),
            _ => None,
        };
        if let Some(record) = record {
            let text = name.to_str()?;
            if let Some((field, offset)) = record.field_ref(text) {
                if this.address == 0 {
                    return Err(PyRuntimeError::new_err(format!(
                        "cannot dereference null pointer from cdata '{}'",
                        this.ty.cname()
                    )));
                }
                let at = this.address + offset;
                let py = slf.py();
                return match field.bits {
                    // SAFETY: the Python user's promise (the module's safety model): the
                    // memory holds this struct (it does when ffikit allocated it).
                    Some((bit, width)) => {
                        // SAFETY: as above.
                        let bits = unsafe { field.ty.read_bits(at, bit, width) };
                        to_python(py, bits, &field.ty)
                    }
                    None => this.field_value(slf, &field.ty, at),
                };
            }
        }
        // SAFETY: both are live objects; a new reference or NULL with an exception set.
        unsafe {
            Bound::from_owned_ptr_or_err(
                slf.py(),
                pyo3::ffi::PyObject_GenericGetAttr(slf.as_ptr(), name.as_ptr()),
            )
        }
        .map(Bound::unbind)
    }

    fn __getattr__(slf: &Bound<'_, Self>, name: &str) -> PyResult<PyObject> {
        CDataObject::member_value(slf, name)
    }

    fn __setattr__(slf: &Bound<'_, Self>, name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let this = slf.get();
        let (field, at) = this.member(name)?;
        match field.bits {
            Some((bit, width)) => {
                let value = scalar_value(&field.ty, value)?;
                // SAFETY: as in `__getattr__`.
                unsafe { field.ty.write_bits(at, bit, width, &value) }.map_err(raise)
            }
            None => write(&field.ty, at, value, 0),
        }
    }

    fn __dir__(&self) -> Vec<String> {
        let record = match self.kind() {
            CKind::Pointer => self.ty.item(),
            _ => Some(self.ty.clone()),
        };
        record
            .and_then(|r| r.fields())
            .map(|fields| fields.into_iter().filter_map(|f| f.name).collect())
            .unwrap_or_default()
    }

    fn __len__(&self) -> PyResult<usize> {
        match self.kind() {
            CKind::Array => Ok(self.array_len()),
            _ => Err(PyTypeError::new_err(format!(
                "cdata of type '{}' has no len()",
                self.ty.cname()
            ))),
        }
    }

    fn __iter__(slf: &Bound<'_, Self>) -> PyResult<PyObject> {
        let this = slf.get();
        if this.kind() != CKind::Array {
            return Err(PyTypeError::new_err(format!(
                "cdata '{}' does not support iteration",
                this.ty.cname()
            )));
        }
        let py = slf.py();
        let items = (0..this.array_len())
            .map(|i| {
                let (item, at) = this.element(i as isize)?;
                read(py, item, at, Some(slf.as_any()))
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyList::new(py, items)?
            .as_any()
            .try_iter()?
            .into_any()
            .unbind())
    }

    fn __int__(&self, py: Python<'_>) -> PyResult<PyObject> {
        match self.kind() {
            CKind::Primitive | CKind::Enum => {
                let value = self.primitive_value(py)?;
                let value = value.bind(py);
                if let Ok(bytes) = value.downcast::<PyBytes>() {
                    return Ok(bytes.as_bytes()[0].into_pyobject(py)?.into_any().unbind());
                }
                if is_wide_char(&self.ty) {
                    // SAFETY: a primitive cdata's own memory.
                    let value = unsafe { self.ty.read(self.address) }.map_err(raise)?;
                    return crate::convert::to_python(py, value);
                }
                Ok(value.call_method0("__int__")?.unbind())
            }
            // As CFFI, a pointer has no int(): its address is `int(ffi.cast("intptr_t", p))`.
            _ => Err(PyTypeError::new_err(format!(
                "int() not supported on cdata '{}'",
                self.ty.cname()
            ))),
        }
    }

    fn __index__(&self, py: Python<'_>) -> PyResult<PyObject> {
        match self.ty.scalar() {
            Some(scalar) if scalar.is_integer() => self.__int__(py),
            _ => Err(PyTypeError::new_err(format!(
                "cdata of type '{}' cannot be interpreted as an integer",
                self.ty.cname()
            ))),
        }
    }

    fn __float__(&self, py: Python<'_>) -> PyResult<f64> {
        match self.kind() {
            CKind::Primitive | CKind::Enum => {
                let value = self.__int_or_float(py)?;
                value.bind(py).extract::<f64>()
            }
            _ => Err(PyTypeError::new_err(format!(
                "float() not supported on cdata '{}'",
                self.ty.cname()
            ))),
        }
    }

    fn __bool__(&self, py: Python<'_>) -> PyResult<bool> {
        match self.kind() {
            CKind::Pointer | CKind::Function => Ok(self.address != 0),
            CKind::Primitive | CKind::Enum => {
                let value = self.__int_or_float(py)?;
                value.bind(py).is_truthy()
            }
            _ => Ok(true),
        }
    }

    fn __richcmp__(
        &self,
        py: Python<'_>,
        other: &Bound<'_, PyAny>,
        op: pyo3::basic::CompareOp,
    ) -> PyResult<PyObject> {
        let mine = self.comparable(py)?;
        let function = crate::library::function_pointer(other).filter(|_| self.is_pointer_like());
        let theirs = match other.downcast::<CDataObject>() {
            Ok(other) => other.get().comparable(py)?,
            Err(_) if function.is_some() => {
                let (_, address) = function.expect("just checked");
                address.into_pyobject(py)?.into_any().unbind()
            }
            Err(_) => {
                // A pointer compares with cdata only; a primitive with numbers too.
                if self.is_pointer_like() || matches!(self.kind(), CKind::Struct | CKind::Union) {
                    return Ok(match op {
                        pyo3::basic::CompareOp::Eq => {
                            false.into_pyobject(py)?.to_owned().into_any().unbind()
                        }
                        pyo3::basic::CompareOp::Ne => {
                            true.into_pyobject(py)?.to_owned().into_any().unbind()
                        }
                        _ => py.NotImplemented(),
                    });
                }
                other.clone().unbind()
            }
        };
        Ok(mine.bind(py).rich_compare(theirs.bind(py), op)?.unbind())
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        self.comparable(py)?.bind(py).hash()
    }

    fn __add__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        let offset: isize = match other.extract() {
            Ok(offset) => offset,
            Err(_) => return Ok(py.NotImplemented()),
        };
        self.moved(py, offset)
    }

    fn __radd__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        self.__add__(py, other)
    }

    fn __sub__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        if let Ok(other) = other.downcast::<CDataObject>() {
            let other = other.get();
            let (Some(mine), Some(theirs)) = (self.ty.item(), other.ty.item()) else {
                return Err(PyTypeError::new_err("cannot subtract these cdata"));
            };
            if mine != theirs {
                return Err(PyTypeError::new_err(format!(
                    "cannot subtract cdata '{}' and cdata '{}'",
                    self.ty.cname(),
                    other.ty.cname()
                )));
            }
            let size = mine.size().unwrap_or(1).max(1) as isize;
            let diff =
                (self.as_pointer() as isize).wrapping_sub(other.as_pointer() as isize) / size;
            return Ok(diff.into_pyobject(py)?.into_any().unbind());
        }
        let offset: isize = match other.extract() {
            Ok(offset) => offset,
            Err(_) => return Ok(py.NotImplemented()),
        };
        self.moved(py, -offset)
    }

    #[pyo3(signature = (*args))]
    fn __call__(&self, py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<PyObject> {
        if let Some(parts) = &self.callback {
            return crate::callbacks::call_from_python(py, &self.ty, parts, args);
        }
        if !matches!(self.kind(), CKind::Pointer | CKind::Function) || self.ty.signature().is_none()
        {
            return Err(PyTypeError::new_err(format!(
                "cdata '{}' is not callable",
                self.ty.cname()
            )));
        }
        if self.address == 0 {
            return Err(PyRuntimeError::new_err(format!(
                "cannot call null function pointer from cdata '{}'",
                self.ty.cname()
            )));
        }
        crate::library::call_pointer(py, &self.ty, self.address, args)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let name = self.ty.cname();
        Ok(match self.kind() {
            CKind::Primitive | CKind::Enum => {
                let value = self.primitive_value(py)?;
                let shown = match self.ty.enumerators() {
                    Some(values) => {
                        let number: i128 = value.bind(py).extract()?;
                        match values.iter().find(|(_, v)| *v == number) {
                            Some((n, v)) => format!("{v}: {n}"),
                            None => number.to_string(),
                        }
                    }
                    None => value.bind(py).repr()?.to_string(),
                };
                format!("<cdata '{name}' {shown}>")
            }
            _ => match (self.owning, &self.callback, &self.handle) {
                (_, Some(parts), _) => format!(
                    "<cdata '{name}' calling {}>",
                    parts.function.bind(py).repr()?
                ),
                (_, _, Some(handle)) => {
                    format!(
                        "<cdata '{name}' handle to {}>",
                        handle.object.bind(py).repr()?
                    )
                }
                (Some(size), _, _) => format!("<cdata '{name}' owning {size} bytes>"),
                (None, _, _) if self.length.is_some() && self.ty.is_open_array() => {
                    format!("<cdata '{name}' sliced length {}>", self.array_len())
                }
                (None, _, _) if self.kind() == CKind::Pointer && self.address == 0 => {
                    format!("<cdata '{name}' NULL>")
                }
                (None, _, _) if matches!(self.kind(), CKind::Struct | CKind::Union) => {
                    format!("<cdata '{name} &' {:#x}>", self.address)
                }
                (None, _, _) => format!("<cdata '{name}' {:#x}>", self.address),
            },
        })
    }

    /// The buffer protocol: the object's bytes, writable, where they are (an array, struct
    /// or union; a pointer made by `new`: what it owns).
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut pyo3::ffi::Py_buffer,
        flags: std::ffi::c_int,
    ) -> PyResult<()> {
        let this = slf.get();
        let len = match (this.owning, this.kind()) {
            (Some(size), _) => size,
            (None, CKind::Array | CKind::Struct | CKind::Union) => this.ty.size().unwrap_or(0),
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "cdata '{}' has no buffer (use ffi.buffer(p, size))",
                    this.ty.cname()
                )));
            }
        };
        // SAFETY: `view` is CPython's to fill; the bytes are the object's memory, which the
        // view keeps alive by holding the object.
        let filled = unsafe {
            pyo3::ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                this.address as *mut std::ffi::c_void,
                len as pyo3::ffi::Py_ssize_t,
                0,
                flags,
            )
        };
        match filled {
            -1 => Err(PyErr::fetch(slf.py())),
            _ => Ok(()),
        }
    }

    /// The whole value as Python values (a dict for a struct, a list for an array): the
    /// module's own convenience, beside CFFI's API.
    /// (Of a pointer: of what it points to.)
    fn value(slf: &Bound<'_, Self>) -> PyResult<PyObject> {
        let py = slf.py();
        let this = slf.get();
        let ty = this.target();
        // SAFETY: the Python user's promise (the module's safety model).
        let value = unsafe { ty.read(this.address) }.map_err(raise)?;
        crate::convert::to_python(py, value)
    }

    /// Sets the whole value (as an initializer of `ffi.new`; of a pointer: what it points
    /// to).
    fn set(slf: &Bound<'_, Self>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let this = slf.get();
        write(&this.target(), this.address, value, 0)
    }

    /// Where the object is (an array, struct, union) or what it points to (a pointer).
    #[getter]
    fn address(&self) -> usize {
        self.address
    }
}

impl CDataObject {
    /// The member `name`'s value (a view for a struct, union or array member).
    fn member_value(slf: &Bound<'_, Self>, name: &str) -> PyResult<PyObject> {
        let this = slf.get();
        let (field, at) = this.member(name)?;
        let py = slf.py();
        match field.bits {
            // SAFETY: the Python user's promise (the module's safety model): the memory
            // holds this struct (it does when ffikit allocated it).
            Some((bit, width)) => {
                // SAFETY: as above.
                let bits = unsafe { field.ty.read_bits(at, bit, width) };
                to_python(py, bits, &field.ty)
            }
            None => this.field_value(slf, &field.ty, at),
        }
    }

    /// A member (not a bitfield) at `at` of this struct or struct pointer. A flexible array
    /// member (`int a[]`, or GNU's `a[0]`) is, as in CFFI, an `int[]` of the items this
    /// object's allocation holds when ffikit allocated it, else an `int *` to its first.
    fn field_value(&self, slf: &Bound<'_, Self>, ty: &CType, at: usize) -> PyResult<PyObject> {
        let py = slf.py();
        if ty.kind() == CKind::Array && matches!(ty.length(), None | Some(0)) {
            let item = ty.item().expect("an array has an item");
            let keep = Keep::Object(slf.clone().into_any().unbind());
            let items_held = match (ty.length(), self.owning, item.size()) {
                (None, Some(total), Some(size)) if size > 0 => {
                    Some(total.saturating_sub(at - self.address) / size)
                }
                _ => None,
            };
            let view = match items_held {
                Some(len) => CDataObject {
                    length: Some(len),
                    ..CDataObject::plain(ty.clone(), at, keep)
                },
                None => CDataObject::plain(item.pointer_to(), at, keep),
            };
            return Ok(Py::new(py, view)?.into_any());
        }
        read(py, ty, at, Some(slf.as_any()))
    }

    fn __int_or_float(&self, py: Python<'_>) -> PyResult<PyObject> {
        if is_wide_char(&self.ty) {
            return self.__int__(py);
        }
        let value = self.primitive_value(py)?;
        let bound = value.bind(py);
        if let Ok(bytes) = bound.downcast::<PyBytes>() {
            return Ok(bytes.as_bytes()[0].into_pyobject(py)?.into_any().unbind());
        }
        Ok(value)
    }

    /// What `==` and `hash` compare: a pointer's address, a primitive's value.
    fn comparable(&self, py: Python<'_>) -> PyResult<PyObject> {
        match self.kind() {
            CKind::Primitive | CKind::Enum => self.__int_or_float(py),
            _ => Ok(self.as_pointer().into_pyobject(py)?.into_any().unbind()),
        }
    }

    /// `p + n`: a pointer `n` items further.
    fn moved(&self, py: Python<'_>, offset: isize) -> PyResult<PyObject> {
        let item = self.ty.item().ok_or_else(|| {
            PyTypeError::new_err(format!(
                "cannot add an integer to cdata '{}'",
                self.ty.cname()
            ))
        })?;
        let size = item.size().ok_or_else(|| {
            PyTypeError::new_err(format!(
                "ctype '{}' points to items of unknown size",
                self.ty.cname()
            ))
        })? as isize;
        let pointer_type = match self.kind() {
            CKind::Array => item.pointer_to(),
            _ => self.ty.clone(),
        };
        let address = (self.as_pointer() as isize).wrapping_add(offset.wrapping_mul(size)) as usize;
        Ok(Py::new(py, CDataObject::plain(pointer_type, address, Keep::Nothing))?.into_any())
    }

    fn slice_bounds(&self, slice: &Bound<'_, PySlice>) -> PyResult<(usize, usize)> {
        let start: Option<isize> = slice.getattr("start")?.extract()?;
        let stop: Option<isize> = slice.getattr("stop")?.extract()?;
        let step: Option<isize> = slice.getattr("step")?.extract()?;
        if step.is_some() {
            return Err(PyValueError::new_err(
                "cannot use a step with a cdata slice",
            ));
        }
        let Some(start) = start else {
            return Err(PyIndexError::new_err("slice start must be specified"));
        };
        let Some(stop) = stop else {
            return Err(PyIndexError::new_err("slice stop must be specified"));
        };
        if start > stop {
            return Err(PyIndexError::new_err("slice start > stop"));
        }
        if self.kind() == CKind::Array {
            if start < 0 {
                return Err(PyIndexError::new_err("negative index"));
            }
            if stop as usize > self.array_len() {
                return Err(PyIndexError::new_err(format!(
                    "index too large (expected {stop} <= {})",
                    self.array_len()
                )));
            }
        } else if self.kind() != CKind::Pointer {
            return Err(PyTypeError::new_err("cdata cannot be sliced"));
        }
        Ok((start as usize, (stop - start) as usize))
    }

    fn slice(
        &self,
        py: Python<'_>,
        slf: &Bound<'_, Self>,
        slice: &Bound<'_, PySlice>,
    ) -> PyResult<PyObject> {
        let (start, len) = self.slice_bounds(slice)?;
        let item = self.ty.item().expect("checked");
        let size = item.size().unwrap_or(0);
        let mut view = CDataObject::plain(
            item.array_of(None),
            self.items_address() + start * size,
            Keep::Object(slf.clone().into_any().unbind()),
        );
        view.length = Some(len);
        Ok(Py::new(py, view)?.into_any())
    }
}

/// A Python value for the C value of `ty` at `address`: numbers, `bytes` of one for
/// `char`, a cdata for a pointer (the address read), a view for a struct, union or array
/// (`keep` keeps the memory alive).
pub(crate) fn read(
    py: Python<'_>,
    ty: &CType,
    address: usize,
    keep: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyObject> {
    if let Some(number) = ty.number() {
        // SAFETY: the Python user's promise (the module's safety model): `address` holds a
        // value of the type (always so for memory ffikit allocated).
        let value = unsafe { number.load(address) };
        return number_to_python(py, number, value);
    }
    match ty.kind() {
        CKind::Primitive | CKind::Enum => {
            // SAFETY: as above.
            let value = unsafe { ty.read(address) }.map_err(raise)?;
            to_python(py, value, ty)
        }
        CKind::Pointer => {
            // SAFETY: as above.
            let value = unsafe { ty.read(address) }.map_err(raise)?;
            let pointer = match value {
                Value::Pointer(p) => p,
                _ => 0,
            };
            Ok(Py::new(py, CDataObject::plain(ty.clone(), pointer, Keep::Nothing))?.into_any())
        }
        CKind::Struct | CKind::Union | CKind::Array => {
            let keep = keep.map_or(Keep::Nothing, |k| Keep::Object(k.clone().unbind()));
            Ok(Py::new(py, CDataObject::plain(ty.clone(), address, keep))?.into_any())
        }
        CKind::Void | CKind::Function => Err(PyTypeError::new_err(format!(
            "cannot read a value of type '{}'",
            ty.cname()
        ))),
        _ => Err(PyTypeError::new_err("unsupported type")),
    }
}

/// A number [`Number::read`] gave, as Python reads it: `char` as `bytes` of one, `_Bool` as
/// `bool`.
fn number_to_python(py: Python<'_>, number: Number, value: Loaded) -> PyResult<PyObject> {
    // SAFETY: each C API call gives a new reference, or NULL with an exception set (taken
    // as such by `from_owned_ptr_or_err`); the GIL is held (`py`).
    unsafe {
        let made = match (number, value) {
            (Number::Char { .. }, Loaded::Int(i)) => {
                return Ok(PyBytes::new(py, &[i as u8]).into_any().unbind());
            }
            (Number::Char { .. }, Loaded::UInt(u)) => {
                return Ok(PyBytes::new(py, &[u as u8]).into_any().unbind());
            }
            (_, Loaded::Int(i)) => pyo3::ffi::PyLong_FromLongLong(i),
            (_, Loaded::UInt(u)) => pyo3::ffi::PyLong_FromUnsignedLongLong(u),
            (_, Loaded::Float(f)) => pyo3::ffi::PyFloat_FromDouble(f),
            (_, Loaded::Bool(b)) => return Ok(PyBool::new(py, b).to_owned().into_any().unbind()),
        };
        PyObject::from_owned_ptr_or_err(py, made)
    }
}

/// A number read from C as Python sees it for `ty`: `char` as `bytes` of one, `_Bool` as
/// `bool`, wide characters as `str`.
pub(crate) fn to_python(py: Python<'_>, value: Value, ty: &CType) -> PyResult<PyObject> {
    let scalar = ty.scalar();
    let wide = is_wide_char(ty);
    Ok(match (value, scalar) {
        (Value::Int(i), Some(Scalar::Char)) | (Value::Int(i), Some(Scalar::SChar))
            if ty.kind() != CKind::Enum && is_char_name(ty) =>
        {
            PyBytes::new(py, &[i as u8]).into_any().unbind()
        }
        (Value::UInt(u), Some(Scalar::Char | Scalar::UChar)) if is_char_name(ty) => {
            PyBytes::new(py, &[u as u8]).into_any().unbind()
        }
        (Value::Int(i), _) if wide => char_string(py, i as u32)?,
        (Value::UInt(u), _) if wide => char_string(py, u as u32)?,
        (value, _) => crate::convert::to_python(py, value)?,
    })
}

fn char_string(py: Python<'_>, code: u32) -> PyResult<PyObject> {
    wide_string(py, &[code], 4)
}

/// The `str` of wide characters of `size` bytes each: UTF-16 code units for 2 (surrogate
/// pairs joined), code points for 4. Lone surrogates stay (Python's `str` holds them, as
/// CFFI gives them); a value beyond Unicode is a `ValueError`.
pub(crate) fn wide_string(py: Python<'_>, units: &[u32], size: usize) -> PyResult<PyObject> {
    let mut points = Vec::with_capacity(units.len());
    let mut k = 0;
    while k < units.len() {
        let unit = units[k];
        let next = units.get(k + 1).copied();
        match next {
            Some(low)
                if size == 2
                    && (0xD800..0xDC00).contains(&unit)
                    && (0xDC00..0xE000).contains(&low) =>
            {
                points.push(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00));
                k += 2;
            }
            _ => {
                if unit > 0x10FFFF {
                    return Err(PyValueError::new_err(format!(
                        "character {unit:#x} is beyond Unicode"
                    )));
                }
                points.push(unit);
                k += 1;
            }
        }
    }
    let bytes: Vec<u8> = points.iter().flat_map(|p| p.to_le_bytes()).collect();
    Ok(PyBytes::new(py, &bytes)
        .call_method1(pyo3::intern!(py, "decode"), ("utf-32-le", "surrogatepass"))?
        .unbind())
}

/// The wide characters of `text` for an item of `size` bytes: code points (4), or UTF-16
/// code units (2: a character beyond the BMP takes a surrogate pair).
pub(crate) fn wide_units(text: &Bound<'_, PyString>, size: usize) -> PyResult<Vec<u32>> {
    let py = text.py();
    let encoded = text.call_method1(pyo3::intern!(py, "encode"), ("utf-32-le", "surrogatepass"))?;
    let bytes = encoded.downcast::<PyBytes>()?.as_bytes();
    let mut units = Vec::with_capacity(bytes.len() / 4);
    for chunk in bytes.chunks_exact(4) {
        let point = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        if size == 2 && point > 0xFFFF {
            let offset = point - 0x10000;
            units.push(0xD800 + (offset >> 10));
            units.push(0xDC00 + (offset & 0x3FF));
        } else {
            units.push(point);
        }
    }
    Ok(units)
}

/// `char` itself (not `signed char`/`unsigned char`/`int8_t`): read as `bytes`.
fn is_char_name(ty: &CType) -> bool {
    ty.is_char() && ty.kind() == CKind::Primitive
}

/// Wide characters (`wchar_t`, `char16_t`, `char32_t`) read as one-character `str`, as in
/// CFFI.
pub(crate) fn is_wide_char(ty: &CType) -> bool {
    ty.kind() == CKind::Primitive && ty.scalar().is_some_and(Scalar::is_wide_char)
}

/// The value of a Python object for a primitive `ty` (ints range-checked by the write).
pub(crate) fn scalar_value(ty: &CType, object: &Bound<'_, PyAny>) -> PyResult<Value> {
    // The commonest: an exact int for an integer type, an exact float for a float type.
    if let Some(scalar) = ty.scalar() {
        if scalar.is_floating() {
            if let Ok(float) = object.downcast_exact::<PyFloat>() {
                return Ok(Value::Float(narrowed(ty, float.value())));
            }
        } else if scalar != Scalar::Bool
            && !scalar.is_wide_char()
            && !is_char_name(ty)
            && ty.kind() != CKind::Enum
            && object.is_exact_instance_of::<PyInt>()
        {
            return crate::convert::to_value(object);
        }
    }
    if let Ok(data) = object.downcast::<CDataObject>() {
        let data = data.get();
        if matches!(data.kind(), CKind::Primitive | CKind::Enum) {
            // SAFETY: a primitive cdata's own memory.
            return unsafe { data.ty.read(data.address) }.map_err(raise);
        }
        return Err(type_error(ty, object));
    }
    if is_char_name(ty) || (ty.size() == Some(1) && object.downcast::<PyBytes>().is_ok()) {
        if let Ok(bytes) = object.downcast::<PyBytes>() {
            let bytes = bytes.as_bytes();
            if bytes.len() != 1 {
                return Err(PyTypeError::new_err(format!(
                    "initializer for ctype 'char' must be a bytes of length 1, not bytes of length {}",
                    bytes.len()
                )));
            }
            return Ok(Value::Int(i64::from(bytes[0] as i8)));
        }
        if is_char_name(ty) {
            return Err(type_error(ty, object));
        }
    }
    if is_wide_char(ty) {
        let size = ty.size().unwrap_or(4);
        let units = match object.downcast::<PyString>() {
            Ok(text) => wide_units(text, size)?,
            Err(_) => Vec::new(),
        };
        return match units.as_slice() {
            [unit] => Ok(Value::UInt(u64::from(*unit))),
            _ => Err(PyTypeError::new_err(format!(
                "initializer for ctype '{}' must be a str of length 1, not {}",
                ty.cname(),
                object
                    .get_type()
                    .name()
                    .map_or_else(|_| "object".to_owned(), |n| n.to_string())
            ))),
        };
    }
    let scalar = ty.scalar();
    match scalar {
        Some(s) if s.is_floating() => {
            if let Ok(f) = object.downcast::<PyFloat>() {
                return Ok(Value::Float(narrowed(ty, f.value())));
            }
            if object.downcast::<PyInt>().is_ok() {
                return Ok(Value::Float(narrowed(ty, object.extract::<f64>()?)));
            }
            if object.hasattr("__float__")?
                && !object.is_instance_of::<PyBytes>()
                && !object.is_instance_of::<PyString>()
            {
                return Ok(Value::Float(object.call_method0("__float__")?.extract()?));
            }
            Err(type_error(ty, object))
        }
        Some(Scalar::Bool) => {
            let value: i64 = match object.extract() {
                Ok(v) => v,
                Err(_) => return Err(type_error(ty, object)),
            };
            if value != 0 && value != 1 {
                return Err(pyo3::exceptions::PyOverflowError::new_err(format!(
                    "value {value} outside the range allowed by the conversion to '_Bool'"
                )));
            }
            Ok(Value::Bool(value == 1))
        }
        Some(_) => {
            if object.downcast::<PyFloat>().is_ok()
                || object.is_instance_of::<PyBytes>()
                || object.is_instance_of::<PyString>()
            {
                return Err(type_error(ty, object));
            }
            let int = object
                .call_method0("__index__")
                .map_err(|_| type_error(ty, object))?;
            crate::convert::to_value(&int)
        }
        None => Err(type_error(ty, object)),
    }
}

/// A double for a `float` as C converts it: out of range becomes infinity (as in CFFI),
/// not an error.
fn narrowed(ty: &CType, value: f64) -> f64 {
    if ty.size() == Some(4) {
        f64::from(value as f32)
    } else {
        value
    }
}

fn type_error(ty: &CType, object: &Bound<'_, PyAny>) -> PyErr {
    let given = match object.downcast::<CDataObject>() {
        Ok(data) => format!("cdata '{}'", data.get().ty.cname()),
        Err(_) => object
            .get_type()
            .name()
            .map_or_else(|_| "object".to_owned(), |n| n.to_string()),
    };
    PyTypeError::new_err(format!(
        "initializer for ctype '{}' must be {}, not {given}",
        ty.cname(),
        expected_of(ty)
    ))
}

fn expected_of(ty: &CType) -> &'static str {
    match ty.kind() {
        CKind::Pointer => "a cdata pointer",
        CKind::Array => "a list or tuple",
        CKind::Struct | CKind::Union => "a list or dict",
        _ if is_char_name(ty) => "a bytes of length 1",
        _ => match ty.scalar() {
            Some(s) if s.is_floating() => "a float",
            _ => "an integer",
        },
    }
}

/// Writes a Python object as the C value of `ty` at `address`, as CFFI initializes: numbers
/// range-checked, a pointer from a cdata pointer or array of a compatible type (or None for
/// NULL), an array from a list or tuple of at most its length (bytes for a char array), a
/// struct from a list (in order) or a dict (by name), partially; a cdata of the same type is
/// copied.
pub(crate) fn write(
    ty: &CType,
    address: usize,
    object: &Bound<'_, PyAny>,
    depth: u32,
) -> PyResult<()> {
    write_within(ty, address, object, depth, 0)
}

/// [`write`], where the memory up to the address `room` (0: none) belongs to the object
/// too: a flexible array member (`int a[]` last in a struct) takes the items its
/// initializer gives, up to there ([`flexible_size`] sized the allocation).
pub(crate) fn write_within(
    ty: &CType,
    address: usize,
    object: &Bound<'_, PyAny>,
    depth: u32,
    room: usize,
) -> PyResult<()> {
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err(format!(
            "the value nests lists, tuples or dicts more than {MAX_DEPTH} deep (or contains itself): no C type is that deep"
        )));
    }
    // SAFETY (for every write below): the Python user's promise (the module's safety
    // model): `address` holds room for a value of `ty` (always so for memory ffikit
    // allocated and the views into it).
    match ty.kind() {
        CKind::Primitive | CKind::Enum => {
            let value = scalar_value(ty, object)?;
            // SAFETY: see above.
            unsafe { ty.write(address, &value) }.map_err(raise)
        }
        CKind::Pointer => {
            let pointer = pointer_value(ty, object)?;
            let value = if pointer == 0 {
                Value::Null
            } else {
                Value::Pointer(pointer)
            };
            // SAFETY: see above.
            unsafe { ty.write(address, &value) }.map_err(raise)
        }
        CKind::Array => {
            let len = match ty.length() {
                Some(len) => len,
                None => {
                    let item = ty.item_ref().and_then(CType::size).unwrap_or(0);
                    room.saturating_sub(address).checked_div(item).unwrap_or(0)
                }
            };
            write_array(ty, len, address, object, depth)
        }
        CKind::Struct | CKind::Union => write_record(ty, address, object, depth, room),
        _ => Err(PyTypeError::new_err(format!(
            "cannot initialize a value of type '{}'",
            ty.cname()
        ))),
    }
}

/// Writes an array of `len` items of `ty`'s item type (an open array's length is the
/// object's).
pub(crate) fn write_array(
    ty: &CType,
    len: usize,
    address: usize,
    object: &Bound<'_, PyAny>,
    depth: u32,
) -> PyResult<()> {
    {
        {
            let item = ty.item().expect("an array has an item");
            let size = item.size().unwrap_or(0);
            if let Ok(data) = object.downcast::<CDataObject>() {
                let data = data.get();
                if data.kind() == CKind::Array
                    && data.ty.item().as_ref() == Some(&item)
                    && data.array_len() == len
                {
                    let bytes = data.array_len().min(len) * size;
                    // SAFETY: both hold at least `bytes` bytes of this array type.
                    unsafe { std::ptr::copy(data.address as *const u8, address as *mut u8, bytes) };
                    return Ok(());
                }
                return Err(type_error(ty, object));
            }
            if let Ok(bytes) = object.downcast::<PyBytes>() {
                if item.size() == Some(1) && item.kind() == CKind::Primitive {
                    let bytes = bytes.as_bytes();
                    if bytes.len() > len {
                        return Err(PyIndexError::new_err(format!(
                            "initializer bytes is too long for '{}' (got {} characters)",
                            ty.cname(),
                            bytes.len()
                        )));
                    }
                    // SAFETY: the array holds `len` >= `bytes.len()` bytes.
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            bytes.as_ptr(),
                            address as *mut u8,
                            bytes.len(),
                        )
                    };
                    if bytes.len() < len {
                        // SAFETY: as above: the byte after them is in the array.
                        unsafe { *((address + bytes.len()) as *mut u8) = 0 };
                    }
                    return Ok(());
                }
            }
            if let Ok(text) = object.downcast::<PyString>() {
                if is_wide_char(&item) {
                    let chars = wide_units(text, size)?;
                    if chars.len() > len {
                        return Err(PyIndexError::new_err(format!(
                            "initializer string is too long for '{}' (got {} characters)",
                            ty.cname(),
                            chars.len()
                        )));
                    }
                    for (k, c) in chars.iter().enumerate() {
                        // SAFETY: see above: element `k` < `len` of the array.
                        unsafe { item.write(address + k * size, &Value::UInt(u64::from(*c))) }
                            .map_err(raise)?;
                    }
                    if chars.len() < len {
                        // SAFETY: as above.
                        unsafe { item.write(address + chars.len() * size, &Value::UInt(0)) }
                            .map_err(raise)?;
                    }
                    return Ok(());
                }
            }
            if object.downcast::<PyList>().is_ok() || object.downcast::<PyTuple>().is_ok() {
                let items: Vec<Bound<'_, PyAny>> = object.try_iter()?.collect::<PyResult<_>>()?;
                if items.len() > len {
                    return Err(PyIndexError::new_err(format!(
                        "too many initializers for '{}' (got {})",
                        ty.cname(),
                        items.len()
                    )));
                }
                for (k, value) in items.iter().enumerate() {
                    write(&item, address + k * size, value, depth + 1)?;
                }
                return Ok(());
            }
            Err(type_error(ty, object))
        }
    }
}

fn write_record(
    ty: &CType,
    address: usize,
    object: &Bound<'_, PyAny>,
    depth: u32,
    room: usize,
) -> PyResult<()> {
    {
        {
            if let Ok(data) = object.downcast::<CDataObject>() {
                let data = data.get();
                let (source, from) = match data.kind() {
                    CKind::Struct | CKind::Union => (data.ty.clone(), data.address),
                    _ => return Err(type_error(ty, object)),
                };
                if source != *ty {
                    return Err(type_error(ty, object));
                }
                let size = ty.size().unwrap_or(0);
                // SAFETY: both hold a value of this struct type.
                unsafe { std::ptr::copy(from as *const u8, address as *mut u8, size) };
                return Ok(());
            }
            if !ty.is_complete() {
                return Err(PyTypeError::new_err(format!(
                    "'{}' is opaque or incomplete: it cannot be initialized",
                    ty.cname()
                )));
            }
            if let Ok(dict) = object.downcast::<PyDict>() {
                for (name, value) in dict.iter() {
                    let name: String = name.extract()?;
                    let Some(field) = ty.field(&name) else {
                        return Err(PyKeyError::new_err(format!(
                            "'{}' has no field '{name}'",
                            ty.cname()
                        )));
                    };
                    write_field(&field, address, &value, depth, room)?;
                }
                return Ok(());
            }
            if object.downcast::<PyList>().is_ok() || object.downcast::<PyTuple>().is_ok() {
                let items: Vec<Bound<'_, PyAny>> = object.try_iter()?.collect::<PyResult<_>>()?;
                // As CFFI: an anonymous struct or union member's own members take
                // positions; in a union only the first member does.
                let positions = initialized_fields(ty);
                if items.len() > positions.len() {
                    return Err(PyValueError::new_err(format!(
                        "too many initializers for '{}' (got {})",
                        ty.cname(),
                        items.len()
                    )));
                }
                for (field, value) in positions.iter().zip(&items) {
                    write_field(field, address, value, depth, room)?;
                }
                return Ok(());
            }
            Err(type_error(ty, object))
        }
    }
}

/// The bytes a value of the record `ty` initialized from `object` needs: its size, or more
/// when the initializer gives items to a flexible array member (`int a[]`), also inside a
/// nested record, as CFFI sizes `ffi.new("struct foo *", [1, [2, 3, 4]])`.
pub(crate) fn flexible_size(ty: &CType, object: &Bound<'_, PyAny>, depth: u32) -> PyResult<usize> {
    let own = ty.size().unwrap_or(0);
    if depth > MAX_DEPTH || object.downcast::<CDataObject>().is_ok() {
        return Ok(own);
    }
    if !ty.is_complete() {
        return Ok(own);
    }
    let mut given: Vec<(ffikit_abi::cdata::CField, Bound<'_, PyAny>)> = Vec::new();
    if let Ok(dict) = object.downcast::<PyDict>() {
        for (name, value) in dict.iter() {
            if let Some(field) = name.extract::<String>().ok().and_then(|n| ty.field(&n)) {
                given.push((field, value));
            }
        }
    } else if object.downcast::<PyList>().is_ok() || object.downcast::<PyTuple>().is_ok() {
        let items: Vec<Bound<'_, PyAny>> = object.try_iter()?.collect::<PyResult<_>>()?;
        given.extend(initialized_fields(ty).into_iter().zip(items));
    }
    let mut needed = own;
    for (field, value) in given {
        let end = match field.ty.kind() {
            CKind::Array if field.ty.length().is_none() => {
                let item = field.ty.item_ref().and_then(CType::size).unwrap_or(0);
                let count = if let Ok(n) = value.extract::<usize>() {
                    n
                } else if let Ok(bytes) = value.downcast::<PyBytes>() {
                    bytes.as_bytes().len() + 1
                } else {
                    value.len().unwrap_or(0)
                };
                count
                    .checked_mul(item)
                    .and_then(|bytes| bytes.checked_add(field.offset))
                    .ok_or_else(|| {
                        pyo3::exceptions::PyOverflowError::new_err(
                            "array size would overflow a ssize_t",
                        )
                    })?
            }
            CKind::Struct | CKind::Union => {
                field.offset + flexible_size(&field.ty, &value, depth + 1)?
            }
            _ => 0,
        };
        needed = needed.max(end);
    }
    Ok(needed)
}

/// The fields that take positions in a list initializer, in order (the engine's
/// [`CType::flat_fields`] that an initializer gives values).
fn initialized_fields(ty: &CType) -> Vec<ffikit_abi::cdata::CField> {
    ty.flat_fields()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(field, given)| given.then_some(field))
        .collect()
}

fn write_field(
    field: &ffikit_abi::cdata::CField,
    base: usize,
    value: &Bound<'_, PyAny>,
    depth: u32,
    room: usize,
) -> PyResult<()> {
    let at = base + field.offset;
    match field.bits {
        Some((bit, width)) => {
            let value = scalar_value(&field.ty, value)?;
            // SAFETY: as in `write`.
            unsafe { field.ty.write_bits(at, bit, width, &value) }.map_err(raise)
        }
        None => write_within(&field.ty, at, value, depth + 1, room),
    }
}

/// The address a Python object gives a pointer of type `ty`: a cdata pointer or array whose
/// items are compatible (the same type, or either side `void *`), a callback for a function
/// pointer (`ffi.NULL` for NULL: None is refused, as CFFI refuses it).
pub(crate) fn pointer_value(ty: &CType, object: &Bound<'_, PyAny>) -> PyResult<usize> {
    if let Some((theirs, address)) = crate::library::function_pointer(object) {
        if theirs == *ty || ty.item_ref().is_some_and(|t| t.kind() == CKind::Void) {
            return Ok(address);
        }
        return Err(type_error(ty, object));
    }
    let Ok(data) = object.downcast::<CDataObject>() else {
        return Err(type_error(ty, object));
    };
    let data = data.get();
    let target = ty.item().expect("a pointer has an item");
    let compatible = match data.kind() {
        CKind::Pointer | CKind::Array => {
            let theirs = data.ty.item().expect("has an item");
            theirs == target
                || target.kind() == CKind::Void
                || theirs.kind() == CKind::Void
                || (target.kind() == CKind::Primitive
                    && theirs.kind() == CKind::Primitive
                    && target.size() == Some(1)
                    && theirs.size() == Some(1))
        }
        CKind::Function => true,
        _ => false,
    };
    if !compatible {
        return Err(type_error(ty, object));
    }
    Ok(data.as_pointer())
}

/// The value a Python object passes for a parameter of type `param`, as CFFI converts call
/// arguments: a cdata pointer or array by address, a struct cdata by value, a list or tuple
/// for a pointer as a temporary array (kept in `temporaries` until the call returns), None
/// for NULL, numbers and bytes as the engine converts them.
/// `None` where C takes a `char *`: a missing value, refused with the engine's NullPointer
/// error naming the argument (an explicit `ffi.NULL` passes, as in CFFI).
pub(crate) fn refuse_none_string(
    param: Option<&CType>,
    object: &Bound<'_, PyAny>,
    place: impl FnOnce() -> String,
) -> PyResult<()> {
    match param {
        Some(param) if object.is_none() && crate::library::is_char_pointer(param) => {
            Err(raise(ffikit_abi::Error::NullPointer {
                place: place(),
                ty: param.cname(),
            }))
        }
        _ => Ok(()),
    }
}

pub(crate) fn argument(
    param: Option<&CType>,
    object: &Bound<'_, PyAny>,
    temporaries: &mut Vec<PyObject>,
) -> PyResult<Value> {
    let pointer_param = param.is_some_and(|p| p.kind() == CKind::Pointer);
    if let Ok(data) = object.downcast::<CDataObject>() {
        let data = data.get();
        if pointer_param || (param.is_none() && data.is_pointer_like()) {
            let address = data.as_pointer();
            return Ok(if address == 0 {
                Value::Null
            } else {
                Value::Pointer(address)
            });
        }
        if data.is_pointer_like() {
            return Err(crate::errors::argument_type_error(format!(
                "expected a value of type '{}', got cdata '{}'",
                param.map_or_else(|| "?".to_owned(), CType::cname),
                data.ty.cname()
            )));
        }
        return data.to_value();
    }
    if let Some((_, address)) = crate::library::function_pointer(object) {
        if pointer_param || param.is_none() {
            return Ok(Value::Pointer(address));
        }
    }
    if let Some(param) = param.filter(|p| is_char_name(p) || is_wide_char(p)) {
        // As the value would be written to memory of the parameter's type: `b'A'` for a
        // `char`, a one-character `str` for a wide character.
        return scalar_value(param, object);
    }
    if let Some(param) = param.filter(|_| pointer_param) {
        let wide_text =
            object.downcast::<PyString>().is_ok() && param.item_ref().is_some_and(is_wide_char);
        if wide_text || object.downcast::<PyList>().is_ok() || object.downcast::<PyTuple>().is_ok()
        {
            let item = param.item().expect("a pointer has an item");
            let array = crate::ffi::new_of(&item.array_of(None), Some(object))?;
            let address = array.address;
            temporaries.push(Py::new(object.py(), array)?.into_any());
            return Ok(Value::Pointer(address));
        }
    }
    crate::convert::to_value(object)
}
