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

use pyo3::exceptions::{PyAttributeError, PyIndexError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PySlice, PyString, PyTuple};

use ffikit_abi::cdata::{CKind, CMemory, CType, Number};
use ffikit_abi::{Callback, Value};

use crate::errors::raise;
pub(crate) use crate::reading::{
    is_wide_char, number_to_python, read, to_python, wide_string, wide_units,
};
pub(crate) use crate::writing::{
    argument, flexible_size, pointer_value, refuse_none_string, scalar_value, write, write_array,
    write_within,
};

/// `object` as a cdata, if it is one (a subclass's instance included): an exact-type
/// pointer comparison first.
#[inline]
pub(crate) fn as_cdata<'a, 'py>(
    object: &'a Bound<'py, PyAny>,
) -> Result<&'a Bound<'py, CDataObject>, ()> {
    let known = crate::slots::cdata_type_ptr();
    // SAFETY: `object` is a live object (borrowed), its type pointer readable under the GIL.
    if !known.is_null() && unsafe { pyo3::ffi::Py_TYPE(object.as_ptr()) } == known {
        // SAFETY: its type is exactly `CData`, the class `CDataObject` defines.
        return Ok(unsafe { object.downcast_unchecked::<CDataObject>() });
    }
    object.downcast::<CDataObject>().map_err(|_| ())
}

/// An exact `int` index that fits `isize`, read without PyO3's extraction; None for anything
/// else (the general path converts it, or raises its error).
#[inline]
fn exact_index(index: &Bound<'_, PyAny>) -> Option<isize> {
    // SAFETY: a live object, borrowed; its type only compared, then read as an int.
    unsafe {
        if pyo3::ffi::Py_TYPE(index.as_ptr()) != &raw mut pyo3::ffi::PyLong_Type {
            return None;
        }
        let value = pyo3::ffi::PyLong_AsSsize_t(index.as_ptr());
        if value == -1 && !pyo3::ffi::PyErr_Occurred().is_null() {
            pyo3::ffi::PyErr_Clear();
            return None;
        }
        Some(value)
    }
}

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
#[pyclass(module = "ffikit", name = "CDataBase", frozen, weakref, subclass)]
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
    /// For a pointer to a struct or union: the view `p[0]` gave, given again (`lib.f(p[0])`
    /// in a loop makes no object per call). It keeps what this object keeps, not this
    /// object, so the two make no cycle.
    pub(crate) first: std::sync::OnceLock<Py<CDataObject>>,
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
            first: std::sync::OnceLock::new(),
        }
    }

    /// Whether `p[0]`'s view is kept for the next `p[0]`: for a pointer to a struct or
    /// union whose lifetime is all in `keep` (not one with a `gc` destructor, a handle or a
    /// callback, which the view must keep alive itself).
    fn caches_first(&self, item: &CType) -> bool {
        self.kind() == CKind::Pointer
            && matches!(item.kind(), CKind::Struct | CKind::Union)
            && self.destructor.is_none()
            && self.handle.is_none()
            && self.callback.is_none()
    }

    /// What keeps this object's memory alive, for a view that outlives nothing else of it.
    fn keep_again(&self, py: Python<'_>) -> Keep {
        match &self.keep {
            Keep::Nothing => Keep::Nothing,
            Keep::Owned(memory) => Keep::Owned(Arc::clone(memory)),
            Keep::Object(object) => Keep::Object(object.clone_ref(py)),
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

    pub(crate) fn kind(&self) -> CKind {
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

    /// The number type and address of element `index` of an array (in bounds) or non-null
    /// pointer of numbers; None for anything else, which [`element`](Self::element) answers.
    #[inline]
    fn number_element(&self, index: isize) -> Option<(Number, usize)> {
        let number = self.ty.item_ref()?.number()?;
        match self.kind() {
            CKind::Array if index >= 0 && (index as usize) < self.array_len() => {}
            CKind::Pointer if self.address != 0 => {}
            _ => return None,
        }
        let offset = index.checked_mul(number.size() as isize)?;
        Some((number, self.items_address().checked_add_signed(offset)?))
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

/// Python's protocols on cdata, called by the `CData` type's slots (`slots`) and by the
/// dunder methods below.
impl CDataObject {
    /// `a[index]` and `a[start:stop]`.
    pub(crate) fn get_item(slf: &Bound<'_, Self>, index: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        let py = slf.py();
        let this = slf.get();
        // The loop cases first: an int index of an array or pointer of numbers, `p[0]` of a
        // struct pointer.
        if let Some(index) = exact_index(index) {
            if index == 0 {
                if let Some(first) = this.first.get() {
                    return Ok(first.clone_ref(py).into_any());
                }
            }
            if let Some((number, at)) = this.number_element(index) {
                // SAFETY: the Python user's promise (the module's safety model): the memory
                // holds the array (always so for memory ffikit allocated; bounds checked).
                let value = unsafe { number.load(at) };
                return number_to_python(py, number, value);
            }
        }
        if let Ok(slice) = index.downcast::<PySlice>() {
            return this.slice(py, slf, slice);
        }
        let index: isize = index.extract()?;
        if index == 0 {
            if let Some(first) = this.first.get() {
                return Ok(first.clone_ref(py).into_any());
            }
        }
        let (item, at) = this.element(index)?;
        if index == 0 && this.caches_first(item) {
            let view = CDataObject::plain(item.clone(), at, this.keep_again(py));
            let view = crate::slots::new(py, view)?;
            // Another thread may have set it meanwhile: either view is as good.
            let _ = this.first.set(view.clone_ref(py));
            return Ok(view.into_any());
        }
        read(py, item, at, Some(slf.as_any()))
    }

    /// `a[index] = value` and `a[start:stop] = values`.
    pub(crate) fn set_item(
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

    /// Members first (a struct's, or a struct pointer's), without the failed type-dict
    /// lookup and its AttributeError a `__getattr__` would cost on every read; then the
    /// object's methods and attributes.
    pub(crate) fn get_attribute(
        slf: &Bound<'_, Self>,
        name: &Bound<'_, PyString>,
    ) -> PyResult<PyObject> {
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
                if let (None, Some(number)) = (field.bits, field.ty.number()) {
                    // SAFETY: the Python user's promise (the module's safety model): the
                    // memory holds this struct (it does when ffikit allocated it).
                    let value = unsafe { number.load(at) };
                    return number_to_python(py, number, value);
                }
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
        let generic = unsafe {
            Bound::from_owned_ptr_or_err(
                slf.py(),
                pyo3::ffi::PyObject_GenericGetAttr(slf.as_ptr(), name.as_ptr()),
            )
        };
        match generic {
            Ok(found) => Ok(found.unbind()),
            // Not a member nor an attribute: the member walk's own message (an opaque
            // type, a null pointer, no such member).
            Err(error) if error.is_instance_of::<PyAttributeError>(slf.py()) => {
                CDataObject::member_value(slf, name.to_str()?)
            }
            Err(error) => Err(error),
        }
    }

    /// `a.name = value`: a member's (bitfields included).
    pub(crate) fn set_attribute(
        slf: &Bound<'_, Self>,
        name: &str,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
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
}

#[pymethods]
impl CDataObject {
    fn __getitem__(slf: &Bound<'_, Self>, index: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        CDataObject::get_item(slf, index)
    }

    fn __setitem__(
        slf: &Bound<'_, Self>,
        index: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        CDataObject::set_item(slf, index, value)
    }

    fn __delitem__(&self, _index: &Bound<'_, PyAny>) -> PyResult<()> {
        Err(PyTypeError::new_err("cdata does not support item deletion"))
    }

    fn __getattribute__(slf: &Bound<'_, Self>, name: &Bound<'_, PyString>) -> PyResult<PyObject> {
        CDataObject::get_attribute(slf, name)
    }

    fn __getattr__(slf: &Bound<'_, Self>, name: &str) -> PyResult<PyObject> {
        CDataObject::member_value(slf, name)
    }

    fn __setattr__(slf: &Bound<'_, Self>, name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        CDataObject::set_attribute(slf, name, value)
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
        let theirs = match crate::cdata::as_cdata(other) {
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
        if let Ok(other) = crate::cdata::as_cdata(other) {
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
            return Ok(crate::slots::new(py, view)?.into_any());
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
        Ok(
            crate::slots::new(py, CDataObject::plain(pointer_type, address, Keep::Nothing))?
                .into_any(),
        )
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
        Ok(crate::slots::new(py, view)?.into_any())
    }
}
