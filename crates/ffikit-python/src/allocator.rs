//! `@ffi.callback(...)` as a decorator, and `ffi.new_allocator`'s allocators (a user's
//! `alloc`/`free`, CFFI's uncleared mode for them).

use std::sync::Mutex;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use ffikit_abi::cdata::CType;

use crate::cdata::{CDataObject, Keep};
use crate::ffi::Ffi;
use crate::making::new_of;

/// `@ffi.callback(signature)`: makes the callback of the function it decorates.
#[pyclass(module = "ffikit", name = "CallbackDecorator", frozen)]
pub(crate) struct CallbackDecorator {
    pub(crate) ffi: Py<Ffi>,
    pub(crate) ty: CType,
    pub(crate) error: Option<PyObject>,
    pub(crate) onerror: Option<PyObject>,
}

#[pymethods]
impl CallbackDecorator {
    fn __call__(&self, py: Python<'_>, function: PyObject) -> PyResult<Py<CDataObject>> {
        let error = self.error.as_ref().map(|e| e.clone_ref(py));
        let onerror = self.onerror.as_ref().map(|e| e.clone_ref(py));
        let made = crate::callbacks::make(
            py,
            &self.ffi.get().this,
            self.ty.clone(),
            function,
            error,
            onerror,
        )?;
        crate::slots::new(py, made)
    }
}

/// `ffi.new_allocator(...)`'s result: `allocator(cdecl, init=None)`.
#[pyclass(module = "ffikit", name = "Allocator", frozen)]
pub(crate) struct Allocator {
    pub(crate) ffi: Py<Ffi>,
    pub(crate) alloc: Option<PyObject>,
    pub(crate) free: Option<PyObject>,
    /// `should_clear_after_alloc`.
    pub(crate) clear: bool,
}

#[pymethods]
impl Allocator {
    #[pyo3(signature = (cdecl, init = None))]
    fn __call__(
        &self,
        py: Python<'_>,
        cdecl: &Bound<'_, PyAny>,
        init: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyObject> {
        let ffi = self.ffi.get();
        let ty = ffi.resolve(cdecl)?;
        let Some(alloc) = &self.alloc else {
            return Ok(crate::slots::new(py, new_of(&ty, init)?)?.into_any());
        };
        // A user allocator: its memory, sized as `new` would size it.
        let made = new_of(&ty, init)?;
        let size = made.owning.unwrap_or(0);
        let raw = alloc.call1(py, (size,))?;
        let raw = raw.bind(py);
        let address = match crate::cdata::as_cdata(raw) {
            Ok(data) if data.get().is_pointer_like() => data.get().as_pointer(),
            Ok(data) => {
                return Err(PyTypeError::new_err(format!(
                    "alloc() must return a cdata pointer, not '{}'",
                    data.get().ty.cname()
                )));
            }
            Err(_) => {
                return Err(PyTypeError::new_err(format!(
                    "alloc() must return a cdata object (got {})",
                    raw.get_type().name()?
                )));
            }
        };
        if address == 0 {
            return Err(pyo3::exceptions::PyMemoryError::new_err(
                "alloc() returned NULL",
            ));
        }
        // `alloc("int[]", 10)`: 10 is a length, not an initializer.
        let length_only =
            ty.is_open_array() && init.is_some_and(|i| i.downcast::<pyo3::types::PyInt>().is_ok());
        if !self.clear && (init.is_none() || length_only) {
            // Uncleared: left as alloc() made it.
        } else {
            // SAFETY: the user's allocator returned `size` writable bytes (their promise).
            unsafe {
                std::ptr::copy_nonoverlapping(made.address as *const u8, address as *mut u8, size)
            };
        }
        let mut result = CDataObject {
            owning: Some(size),
            length: made.length,
            ..CDataObject::plain(made.ty.clone(), address, Keep::Object(raw.clone().unbind()))
        };
        if let Some(free) = &self.free {
            result.destructor = Some(Box::new(crate::cdata::Destructor(Mutex::new(Some((
                free.clone_ref(py),
                raw.clone().unbind(),
            ))))));
        }
        Ok(crate::slots::new(py, result)?.into_any())
    }
}
