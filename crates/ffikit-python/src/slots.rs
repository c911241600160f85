//! The `CData` type Python sees: a subclass of PyO3's class for [`CDataObject`] whose
//! `[]` and `.` (read and write) are C slot functions of its own.
//!
//! Indexing and member access are what users run in loops (`a[i]` in a sum, `p.x` in a
//! comparator). Through PyO3's `#[pymethods]` each costs a trampoline (the GIL count, the
//! reference pool, a lazy type lookup and check on `self`: ~110 instructions, a third of
//! CFFI's whole `a[i]`). The slots here go straight to the same code: CPython calls them
//! only on instances of this type, holding the GIL, so `self` needs no check.
//!
//! Every cdata is made by [`new`] as an instance of this type (PyO3's `Py::new` would make
//! one of the base, which works but takes the slow slots); `ffi.CData` and `ffikit.CData`
//! are this type, and `isinstance` with it holds for every cdata.

use std::ffi::{c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicPtr, Ordering};

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::ffi;
use pyo3::impl_::pyclass_init::PyObjectInit;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};

use crate::cdata::CDataObject;

/// The type, made once when the module loads (the module keeps it alive).
static CDATA_TYPE: AtomicPtr<ffi::PyTypeObject> = AtomicPtr::new(std::ptr::null_mut());

/// Makes the type (a subclass of PyO3's `CDataObject` class) and adds it to `module` as
/// `CData`. Called first in the module's initialization: every cdata is made after it.
pub(crate) fn init(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let base = py.get_type::<CDataObject>();
    let mut slots = [
        slot(ffi::Py_mp_subscript, subscript as *mut c_void),
        slot(ffi::Py_mp_ass_subscript, assign_subscript as *mut c_void),
        slot(ffi::Py_tp_getattro, get_attribute as *mut c_void),
        slot(ffi::Py_tp_setattro, set_attribute as *mut c_void),
        slot(0, std::ptr::null_mut()),
    ];
    let mut spec = ffi::PyType_Spec {
        name: c"ffikit.CData".as_ptr(),
        // The base's layout, inherited: this type adds no storage.
        basicsize: 0,
        itemsize: 0,
        flags: (ffi::Py_TPFLAGS_DEFAULT | ffi::Py_TPFLAGS_BASETYPE | ffi::Py_TPFLAGS_IMMUTABLETYPE)
            as _,
        slots: slots.as_mut_ptr(),
    };
    let bases = pyo3::types::PyTuple::new(py, [base])?;
    // SAFETY: the spec and its slots are complete (zero-terminated) and read during the call
    // only (CPython copies what it keeps; the name is 'static); `bases` is a live tuple.
    let made = unsafe { ffi::PyType_FromSpecWithBases(&mut spec, bases.as_ptr()) };
    // SAFETY: a new reference, or NULL with an exception set.
    let made = unsafe { Bound::from_owned_ptr_or_err(py, made) }?.downcast_into::<PyType>()?;
    CDATA_TYPE.store(made.as_type_ptr(), Ordering::Release);
    module.add("CData", &made)
}

fn slot(slot: c_int, pfunc: *mut c_void) -> ffi::PyType_Slot {
    ffi::PyType_Slot { slot, pfunc }
}

/// The type (after [`init`]).
pub(crate) fn cdata_type(py: Python<'_>) -> Bound<'_, PyType> {
    let ty = CDATA_TYPE.load(Ordering::Acquire);
    assert!(!ty.is_null(), "the module initializes the CData type first");
    // SAFETY: a type object the module keeps alive; borrowed, then a new reference.
    unsafe { Bound::from_borrowed_ptr(py, ty.cast()).downcast_into_unchecked() }
}

/// The type object's address, for an exact-type check (null before [`init`]).
pub(crate) fn cdata_type_ptr() -> *mut ffi::PyTypeObject {
    CDATA_TYPE.load(Ordering::Acquire)
}

/// `value` as a new cdata object (an instance of this type).
pub(crate) fn new(py: Python<'_>, value: CDataObject) -> PyResult<Py<CDataObject>> {
    let ty = CDATA_TYPE.load(Ordering::Acquire);
    if ty.is_null() {
        // Not yet initialized (cannot happen once the module is loaded): the base.
        return Py::new(py, value);
    }
    // SAFETY: `ty` is a subclass of `CDataObject`'s type with its layout (it adds none).
    let made = unsafe { pyo3::PyClassInitializer::from(value).into_new_object(py, ty) }?;
    // SAFETY: a new reference to an object of a subclass of `CDataObject`'s type.
    Ok(unsafe { Bound::from_owned_ptr(py, made).downcast_into_unchecked() }.unbind())
}

/// Runs a slot's body: a panic becomes a `RuntimeError`, an error is raised and `failed`
/// returned.
///
/// # Safety
///
/// The GIL is held (CPython calls slots with it).
unsafe fn enter<R>(failed: R, body: impl FnOnce(Python<'_>) -> PyResult<R>) -> R {
    // SAFETY: the caller's promise.
    let py = unsafe { Python::assume_gil_acquired() };
    match catch_unwind(AssertUnwindSafe(|| body(py))) {
        Ok(Ok(value)) => value,
        Ok(Err(error)) => {
            error.restore(py);
            failed
        }
        Err(_) => {
            PyRuntimeError::new_err("ffikit: a panic in a cdata operation").restore(py);
            failed
        }
    }
}

/// `a[key]`.
///
/// # Safety
///
/// Called by CPython as this type's slot: the GIL held, `slf` an instance of this type, the
/// other objects live (a NULL `value` meaning deletion), all borrowed for the call.
unsafe extern "C" fn subscript(
    slf: *mut ffi::PyObject,
    key: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let body = |py: Python<'_>| {
        // SAFETY: CPython calls the slot with live objects, borrowed for the call: `slf` an
        // instance of this type.
        let (slf, key) = unsafe { (Borrowed::from_ptr(py, slf), Borrowed::from_ptr(py, key)) };
        // SAFETY: every instance of this type is a `CDataObject`.
        let slf = unsafe { slf.downcast_unchecked::<CDataObject>() };
        CDataObject::get_item(slf, &key).map(PyObject::into_ptr)
    };
    // SAFETY: the GIL is held (this function's promise).
    unsafe { enter(std::ptr::null_mut(), body) }
}

/// `a[key] = value`, and `del a[key]` (value NULL).
///
/// # Safety
///
/// Called by CPython as this type's slot: the GIL held, `slf` an instance of this type, the
/// other objects live (a NULL `value` meaning deletion), all borrowed for the call.
unsafe extern "C" fn assign_subscript(
    slf: *mut ffi::PyObject,
    key: *mut ffi::PyObject,
    value: *mut ffi::PyObject,
) -> c_int {
    let body = |py: Python<'_>| {
        if value.is_null() {
            return Err(PyTypeError::new_err("cdata does not support item deletion"));
        }
        // SAFETY: as in `subscript`; `value` is live too.
        let (slf, key, value) = unsafe {
            (
                Borrowed::from_ptr(py, slf),
                Borrowed::from_ptr(py, key),
                Borrowed::from_ptr(py, value),
            )
        };
        // SAFETY: as above.
        let slf = unsafe { slf.downcast_unchecked::<CDataObject>() };
        CDataObject::set_item(slf, &key, &value).map(|()| 0)
    };
    // SAFETY: the GIL is held (this function's promise).
    unsafe { enter(-1, body) }
}

/// `a.name`.
///
/// # Safety
///
/// Called by CPython as this type's slot: the GIL held, `slf` an instance of this type, the
/// other objects live (a NULL `value` meaning deletion), all borrowed for the call.
unsafe extern "C" fn get_attribute(
    slf: *mut ffi::PyObject,
    name: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let body = |py: Python<'_>| {
        // SAFETY: as in `subscript`.
        let (slf, name) = unsafe { (Borrowed::from_ptr(py, slf), Borrowed::from_ptr(py, name)) };
        // SAFETY: every instance of this type is a `CDataObject`.
        let slf = unsafe { slf.downcast_unchecked::<CDataObject>() };
        // `getattr` checks the name is a string; `CData.__getattribute__(a, 1)` does not.
        let name = name.downcast::<PyString>()?;
        CDataObject::get_attribute(slf, name).map(PyObject::into_ptr)
    };
    // SAFETY: the GIL is held (this function's promise).
    unsafe { enter(std::ptr::null_mut(), body) }
}

/// `a.name = value`, and `del a.name` (value NULL).
///
/// # Safety
///
/// Called by CPython as this type's slot: the GIL held, `slf` an instance of this type, the
/// other objects live (a NULL `value` meaning deletion), all borrowed for the call.
unsafe extern "C" fn set_attribute(
    slf: *mut ffi::PyObject,
    name: *mut ffi::PyObject,
    value: *mut ffi::PyObject,
) -> c_int {
    let body = |py: Python<'_>| {
        // SAFETY: as in `subscript`.
        let (slf, name) = unsafe { (Borrowed::from_ptr(py, slf), Borrowed::from_ptr(py, name)) };
        // SAFETY: every instance of this type is a `CDataObject`.
        let slf = unsafe { slf.downcast_unchecked::<CDataObject>() };
        let name = name.downcast::<PyString>()?;
        if value.is_null() {
            return Err(pyo3::exceptions::PyAttributeError::new_err(format!(
                "cannot delete attribute '{}' of a cdata",
                name.to_str()?
            )));
        }
        // SAFETY: as above.
        let value = unsafe { Borrowed::from_ptr(py, value) };
        CDataObject::set_attribute(slf, name.to_str()?, &value).map(|()| 0)
    };
    // SAFETY: the GIL is held (this function's promise).
    unsafe { enter(-1, body) }
}
