//! `ffi.buffer`: the bytes of a cdata as a Python buffer, without a copy — indexed and
//! sliced as `bytes` (`buf[:]`, `buf[2] == b"c"`), written through (`buf[0:3] = b"abc"`),
//! compared as bytes, and exported through the buffer protocol (`memoryview(buf)`).

use pyo3::exceptions::{PyIndexError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PySlice};

use ffikit_abi::cdata::CKind;

use crate::cdata::CDataObject;

/// `<_cffi_backend.buffer>`'s counterpart.
#[pyclass(module = "ffikit", name = "buffer", frozen, weakref)]
pub(crate) struct BufferObject {
    address: usize,
    len: usize,
    /// The cdata whose memory this is: held, so the memory lives as long as the buffer.
    #[allow(dead_code)]
    keep: PyObject,
}

/// The address (and size, when known) of a cdata pointer or array, or of a Python buffer.
pub(crate) fn address_of(
    object: &Bound<'_, PyAny>,
    writable: bool,
) -> PyResult<(usize, Option<usize>)> {
    if let Ok(data) = crate::cdata::as_cdata(object) {
        let data = data.get();
        return match data.ty.kind() {
            CKind::Pointer | CKind::Array => Ok((data.address, None)),
            _ => Err(PyTypeError::new_err(format!(
                "expected a pointer or array cdata, got cdata '{}'",
                data.ty.cname()
            ))),
        };
    }
    let bytes = match pyo3::buffer::PyBuffer::<u8>::get(object) {
        Ok(view) => Ok(view),
        // Any other format (array('i'), ...): its bytes, through a memoryview cast.
        Err(_) => object
            .py()
            .import("builtins")?
            .getattr("memoryview")?
            .call1((object,))
            .and_then(|view| view.call_method1("cast", ("B",)))
            .and_then(|view| pyo3::buffer::PyBuffer::<u8>::get(&view)),
    };
    let view = bytes.map_err(|_| {
        PyTypeError::new_err("expected a cdata pointer or array, or a Python buffer")
    })?;
    if writable && view.readonly() {
        return Err(PyTypeError::new_err("the destination buffer is read-only"));
    }
    Ok((view.buf_ptr() as usize, Some(view.len_bytes())))
}

impl BufferObject {
    fn bytes(&self) -> &[u8] {
        // SAFETY: the buffer covers `len` bytes of the cdata it keeps alive (its size, or
        // the size the Python user gave for a pointer: their promise).
        unsafe { std::slice::from_raw_parts(self.address as *const u8, self.len) }
    }

    #[allow(clippy::mut_from_ref)]
    fn bytes_mut(&self) -> &mut [u8] {
        // SAFETY: as in `bytes`; C memory, written as C would (no Rust reference to it is
        // kept across calls).
        unsafe { std::slice::from_raw_parts_mut(self.address as *mut u8, self.len) }
    }

    fn range(&self, slice: &Bound<'_, PySlice>) -> PyResult<(usize, usize)> {
        let indices = slice.indices(self.len as isize)?;
        if indices.step != 1 {
            return Err(PyValueError::new_err("buffer slices take no step"));
        }
        let start = indices.start.max(0) as usize;
        let stop = (indices.stop.max(indices.start)) as usize;
        Ok((start, stop))
    }
}

#[pymethods]
impl BufferObject {
    #[new]
    #[pyo3(signature = (cdata, size = None))]
    fn new(
        cdata: &Bound<'_, CDataObject>,
        size: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<BufferObject> {
        let this = cdata.get();
        let whole = match (this.owning, this.ty.kind()) {
            (Some(n), _) => Some(n),
            (None, CKind::Pointer) => this.ty.item().and_then(|i| i.size()),
            (None, CKind::Array) => {
                Some(this.array_len() * this.ty.item().and_then(|i| i.size()).unwrap_or(0))
            }
            _ => this.ty.size(),
        };
        // -1 (or None): all of it; beyond 64 bits: an OverflowError.
        let size = match size {
            None => None,
            Some(size) if size.extract::<i128>().is_ok_and(|s| s < 0) => None,
            Some(size) => Some(size.extract::<u64>()?.min(isize::MAX as u64) as usize),
        };
        let len = match (size, whole) {
            (None, Some(whole)) => whole,
            (None, None) => {
                return Err(PyTypeError::new_err(format!(
                    "don't know the size pointed to by '{}'",
                    this.ty.cname()
                )));
            }
            (Some(size), Some(whole)) if size > whole && this.ty.kind() != CKind::Pointer => {
                return Err(PyValueError::new_err(format!(
                    "ffi.buffer of {size} bytes: the object has {whole}"
                )));
            }
            (Some(size), Some(whole)) if size > whole && this.owning.is_some() => {
                return Err(PyValueError::new_err(format!(
                    "ffi.buffer of {size} bytes: the object has {whole}"
                )));
            }
            (Some(size), _) => size,
        };
        Ok(BufferObject {
            address: this.address,
            len,
            keep: cdata.clone().into_any().unbind(),
        })
    }

    fn __len__(&self) -> usize {
        self.len
    }

    fn __getitem__(&self, py: Python<'_>, index: &Bound<'_, PyAny>) -> PyResult<PyObject> {
        if let Ok(slice) = index.downcast::<PySlice>() {
            let (start, stop) = self.range(slice)?;
            return Ok(PyBytes::new(py, &self.bytes()[start..stop])
                .into_any()
                .unbind());
        }
        let index: isize = index.extract()?;
        let at = if index < 0 {
            index + self.len as isize
        } else {
            index
        };
        if at < 0 || at as usize >= self.len {
            return Err(PyIndexError::new_err("buffer index out of range"));
        }
        Ok(PyBytes::new(py, &[self.bytes()[at as usize]])
            .into_any()
            .unbind())
    }

    fn __delitem__(&self, _index: &Bound<'_, PyAny>) -> PyResult<()> {
        Err(PyTypeError::new_err("a buffer's items cannot be deleted"))
    }

    fn __setitem__(&self, index: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let data: Vec<u8> = match value.downcast::<PyBytes>() {
            Ok(bytes) => bytes.as_bytes().to_vec(),
            Err(_) => pyo3::buffer::PyBuffer::<u8>::get(value)?.to_vec(value.py())?,
        };
        if let Ok(slice) = index.downcast::<PySlice>() {
            let (start, stop) = self.range(slice)?;
            if data.len() != stop - start {
                return Err(PyValueError::new_err(
                    "buffer slice assignment of the wrong length",
                ));
            }
            self.bytes_mut()[start..stop].copy_from_slice(&data);
            return Ok(());
        }
        let index: isize = index.extract()?;
        let at = if index < 0 {
            index + self.len as isize
        } else {
            index
        };
        if at < 0 || at as usize >= self.len {
            return Err(PyIndexError::new_err("buffer index out of range"));
        }
        if data.len() != 1 {
            return Err(PyTypeError::new_err("a buffer item is a bytes of length 1"));
        }
        self.bytes_mut()[at as usize] = data[0];
        Ok(())
    }

    fn __richcmp__(
        &self,
        py: Python<'_>,
        other: &Bound<'_, PyAny>,
        op: pyo3::basic::CompareOp,
    ) -> PyResult<PyObject> {
        let theirs: Vec<u8> = match other.downcast::<BufferObject>() {
            Ok(other) => other.get().bytes().to_vec(),
            Err(_) => match other.downcast::<PyBytes>() {
                Ok(bytes) => bytes.as_bytes().to_vec(),
                Err(_) => return Ok(py.NotImplemented()),
            },
        };
        let mine = PyBytes::new(py, self.bytes());
        Ok(mine.rich_compare(PyBytes::new(py, &theirs), op)?.unbind())
    }

    fn __repr__(&self) -> String {
        format!(
            "<ffikit.buffer of {} bytes at {:#x}>",
            self.len, self.address
        )
    }

    /// The buffer protocol: the bytes where they are, writable.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut pyo3::ffi::Py_buffer,
        flags: std::ffi::c_int,
    ) -> PyResult<()> {
        let this = slf.get();
        // SAFETY: `view` is CPython's to fill; the view holds this object, which holds the
        // memory's owner.
        let filled = unsafe {
            pyo3::ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                this.address as *mut std::ffi::c_void,
                this.len as pyo3::ffi::Py_ssize_t,
                0,
                flags,
            )
        };
        match filled {
            -1 => Err(PyErr::fetch(slf.py())),
            _ => Ok(()),
        }
    }

    unsafe fn __releasebuffer__(&self, _view: *mut pyo3::ffi::Py_buffer) {}
}
