//! ffikit for Python: the ffikit engine as a CFFI-style Python module, `ffikit`.
//!
//! ```python
//! import ffikit
//! ffi = ffikit.FFI()
//! ffi.cdef("unsigned long crc32(unsigned long, const unsigned char *, unsigned int);")
//! libz = ffi.dlopen("libz.so.1")
//! assert libz.crc32(0, b"123456789", 9) == 0xCBF43926
//! ```
//!
//! # Organization
//! - [`Ffi`] (`ffikit.FFI`): declarations (`cdef`, `include` for installed headers), libraries
//!   (`dlopen`), C objects (`new`), sizes and offsets, strings, errno, callbacks.
//! - [`Lib`]: a library's functions as builtins called with `METH_FASTCALL` (no argument
//!   tuple), made on first access and kept in the library object's `__dict__`; `#define`d
//!   and enum constants as attributes.
//! - `convert`: Python objects to ffikit `Value`s and back.
//! - `errors`: ffikit's typed errors as Python exceptions (`ffikit.Error` and subclasses that
//!   are also `TypeError`, `OverflowError`, `OSError`, ... where Python users expect those).
//!
//! # Safety model
//! ffikit-abi's promises are made by the Python user the way CFFI's users make them: the
//! declarations given to `cdef` (or read from a header) are true to the library (promise 2),
//! and calling a function with what the declaration allows meets its preconditions (promise
//! 3: an address passed as an int, a buffer's size). Loading a library runs its
//! initializers (promise 1). What ffikit can check it checks, before C runs: arity, types,
//! integer ranges, NULL and NUL inside strings, struct shapes.

use std::ffi::c_void;
use std::sync::Arc;

use pyo3::exceptions::{PyAttributeError, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use pyo3::{PyTypeInfo, ffi};

use ffikit_abi::{CData, Callback, Library, OwnedFunction, Path, Value};
use ffikit_cdecl::MacroValue;

mod convert;
mod errors;

use convert::{to_python, to_value};
use errors::raise;

/// `ffikit.FFI()`: declarations and what is made from them.
#[pyclass(module = "ffikit", name = "FFI", frozen)]
struct Ffi {
    /// The process itself (libc and what is loaded): where types are resolved and the
    /// declarations live.
    this: Arc<Library>,
    /// Every `cdef` text, applied to each library `dlopen` opens.
    cdefs: std::sync::Mutex<Vec<String>>,
    /// Every header `include`d, likewise.
    headers: std::sync::Mutex<Vec<String>>,
    /// Functions whose calls release the GIL (declared with `release_gil=True`).
    release_gil: std::sync::Mutex<std::collections::HashSet<String>>,
    /// `cast` element types by name, resolved once (a comparator casts on every call).
    casts: std::sync::Mutex<std::collections::HashMap<String, Option<CData>>>,
}

#[pymethods]
impl Ffi {
    #[new]
    fn new() -> Ffi {
        Ffi {
            this: Arc::new(Library::this()),
            cdefs: std::sync::Mutex::new(Vec::new()),
            headers: std::sync::Mutex::new(Vec::new()),
            release_gil: std::sync::Mutex::new(Default::default()),
            casts: std::sync::Mutex::new(Default::default()),
        }
    }

    /// Declares C functions, types, globals and `#define` constants. The functions of a
    /// block declared with `release_gil=True` release the GIL around each call (for calls
    /// that block or run long); by default the GIL is kept, which is faster for short calls,
    /// and released only when a callback is passed.
    #[pyo3(signature = (text, release_gil = false))]
    fn cdef(&self, text: &str, release_gil: bool) -> PyResult<()> {
        let report = self.this.cdef(text).map_err(raise)?;
        // New declarations may complete a type a cast resolved as incomplete.
        self.casts.lock().unwrap_or_else(|p| p.into_inner()).clear();
        if release_gil {
            let mut names = self.release_gil.lock().unwrap_or_else(|p| p.into_inner());
            for declared in &report.declared {
                if let ffikit_cdecl::Declared::Function(name) = declared {
                    names.insert(name.clone());
                }
            }
        }
        self.cdefs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(text.to_owned());
        Ok(())
    }

    /// Declares what an installed header declares (`"zlib.h"`, or a path), read through the
    /// C preprocessor: its functions, types and `#define` constants.
    fn include(&self, header: &str) -> PyResult<()> {
        self.this
            .include(&ffikit_cdecl::Header::new(header))
            .map_err(raise)?;
        self.headers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(header.to_owned());
        Ok(())
    }

    /// A pointer of a C type to C memory, as CFFI's `cast("int *", address)`: index it to read
    /// the values there (the address is the Python user's promise, as in CFFI).
    fn cast(&self, c_type: &str, value: &Bound<'_, PyAny>) -> PyResult<CPointer> {
        let Some(pointee) = c_type.trim_end().strip_suffix('*') else {
            return Err(PyTypeError::new_err(format!(
                "ffikit casts to pointer types only, not `{c_type}`"
            )));
        };
        let address = match value.downcast::<CObject>() {
            Ok(object) => object
                .try_borrow()?
                .data()
                .address()
                .as_address()
                .unwrap_or(0),
            Err(_) => match value.downcast::<CPointer>() {
                Ok(pointer) => pointer.get().address,
                Err(_) => value.extract::<usize>()?,
            },
        };
        // The element's type, resolved once per name (a `void *` has none to read).
        let mut casts = self.casts.lock().unwrap_or_else(|p| p.into_inner());
        let element = match casts.get(pointee) {
            Some(element) => element.clone(),
            None => {
                // `void` and incomplete types have nothing to read (a plain address); a type
                // that does not parse, or is too large, is the user's error, with its caret.
                let element = match self.this.new_value(pointee.trim_end()) {
                    Ok(element) => Some(element),
                    Err(error) if error.kind() == ffikit_abi::ErrorKind::UnsupportedType => None,
                    Err(error) => return Err(raise(error)),
                };
                casts.insert(pointee.to_owned(), element.clone());
                element
            }
        };
        Ok(CPointer { address, element })
    }

    /// Opens a shared library (a path, a file name, or a name as `find_library` would take
    /// it: `"z"`, `"m"`), with this FFI's declarations. Loading runs the library's
    /// initializers: the caller's promise that they are sound. It stays loaded for the life
    /// of the process (as with ctypes and CFFI).
    fn dlopen(&self, py: Python<'_>, name: &str) -> PyResult<Py<Lib>> {
        // SAFETY: the Python user's promise (the module's safety model, promise 1).
        let library = unsafe { Library::open(name) }.map_err(raise)?;
        for header in self
            .headers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            library
                .include(&ffikit_cdecl::Header::new(header.as_str()))
                .map_err(raise)?;
        }
        let cdefs = self.cdefs.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for text in &cdefs {
            library.cdef(text).map_err(raise)?;
        }
        let library = Arc::new(library);
        // Never unloaded, as ctypes and CFFI never unload what they open: C state a library
        // made (a database handle, a registered callback) may outlive the Python object.
        LOADED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::clone(&library));
        Py::new(
            py,
            Lib {
                library,
                cdefs,
                release_gil: self
                    .release_gil
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone(),
            },
        )
    }

    /// A zero-initialized C object: `new("int[10]")`, `new("struct point *", [1, 2])` (the
    /// object a pointer type points to, as CFFI's `new`), optionally initialized.
    #[pyo3(name = "new", signature = (c_type, init = None))]
    fn new_object(&self, c_type: &str, init: Option<&Bound<'_, PyAny>>) -> PyResult<CObject> {
        let pointee = c_type.trim_end();
        let pointee = pointee.strip_suffix('*').unwrap_or(pointee);
        let mut data = self.this.new_value(pointee).map_err(raise)?;
        if let Some(init) = init {
            data.set(&to_value(init)?).map_err(raise)?;
        }
        Ok(CObject::new(data))
    }

    /// The size in bytes of a C type (by name) or of a C object.
    fn sizeof(&self, of: &Bound<'_, PyAny>) -> PyResult<usize> {
        if let Ok(object) = of.downcast::<CObject>() {
            return Ok(object.try_borrow()?.data().size());
        }
        let name: String = of.extract()?;
        Ok(self.this.new_value(&name).map_err(raise)?.size())
    }

    /// A member's offset in a struct type, in bytes.
    fn offsetof(&self, c_type: &str, member: &str) -> PyResult<usize> {
        let object = self.this.new_value(c_type).map_err(raise)?;
        object.offset_at(&[Path::Field(member)]).map_err(raise)
    }

    /// The bytes of a C string: a `char` array object (up to its first NUL), a `char *`
    /// result already read as bytes, or a `cast` `char *` (the string at its address).
    fn string<'py>(
        &self,
        py: Python<'py>,
        of: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        if let Ok(bytes) = of.downcast::<PyBytes>() {
            return Ok(bytes.clone());
        }
        // A `char *` to C memory (`ffi.cast("char *", address)`): the string there.
        if let Ok(pointer) = of.downcast::<CPointer>() {
            let address = pointer.get().address;
            if address == 0 {
                return Err(PyTypeError::new_err("ffi.string of a NULL pointer"));
            }
            // SAFETY: the Python user's promise (the module's safety model): the pointer was
            // cast from the address of a NUL-terminated string.
            let text = unsafe { ffikit_abi::read_c_string(address) };
            return Ok(PyBytes::new(py, &text));
        }
        let object = of.downcast::<CObject>()?.try_borrow()?;
        let bytes = object.data().bytes();
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        Ok(PyBytes::new(py, &bytes[..end]))
    }

    /// The bytes of a C object as a buffer, without a copy (a writable `memoryview` of its
    /// first `size` bytes, all of them by default), as CFFI's `ffi.buffer`.
    #[pyo3(signature = (of, size = None))]
    fn buffer<'py>(
        &self,
        of: &pyo3::Bound<'py, CObject>,
        size: Option<usize>,
    ) -> PyResult<pyo3::Bound<'py, PyAny>> {
        let py = of.py();
        let whole = of.try_borrow()?.data().size();
        if let Some(size) = size {
            if size > whole {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "ffi.buffer of {size} bytes: the object has {whole}"
                )));
            }
        }
        // SAFETY: `of` is a live object with the buffer protocol; a new reference or NULL.
        let view = unsafe {
            pyo3::Bound::from_owned_ptr_or_err(py, ffi::PyMemoryView_FromObject(of.as_ptr()))?
        };
        match size {
            // SAFETY: as above, for the view's first `size` bytes (at most the object's, so
            // at most `Py_ssize_t::MAX`).
            Some(size) => unsafe {
                pyo3::Bound::from_owned_ptr_or_err(
                    py,
                    ffi::PySequence_GetSlice(view.as_ptr(), 0, size as ffi::Py_ssize_t),
                )
            },
            None => Ok(view),
        }
    }

    /// The `errno` the last call of a library function on this thread left (saved right
    /// after each call, as CFFI does).
    #[getter]
    fn errno(&self) -> i32 {
        LAST_ERRNO.with(std::cell::Cell::get)
    }

    /// Sets errno (C's, and the saved one), as before a call whose errno is then read.
    #[setter(errno)]
    fn set_errno(&self, value: i32) {
        // SAFETY: writing this thread's errno, always valid.
        unsafe { *libc::__errno_location() = value };
        LAST_ERRNO.with(|last| last.set(value));
    }

    /// A Python callable as a C function pointer of a declared type:
    /// `ffi.callback("int (*)(const void *, const void *)", compare)`, or as a decorator,
    /// `@ffi.callback("int (*)(int)")`. Keep the returned object alive while C may call it.
    /// An exception in the callable is raised by the foreign call that led to it, after C
    /// returns (C gets zero, or `error`).
    #[pyo3(name = "callback", signature = (signature, function = None, error = None))]
    fn callback_or_decorator(
        slf: &pyo3::Bound<'_, Self>,
        signature: &str,
        function: Option<Py<PyAny>>,
        error: Option<PyObject>,
    ) -> PyResult<PyObject> {
        let py = slf.py();
        match function {
            Some(function) => {
                let error = error.as_ref().map(|e| e.bind(py));
                let made = slf.get().callback(signature, function, error)?;
                Ok(Py::new(py, made)?.into_any())
            }
            None => Ok(Py::new(
                py,
                CallbackDecorator {
                    ffi: slf.clone().unbind(),
                    signature: signature.to_owned(),
                    error,
                },
            )?
            .into_any()),
        }
    }
}

impl Ffi {
    fn callback(
        &self,
        signature: &str,
        function: Py<PyAny>,
        error: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CallbackObject> {
        let exception = Arc::new(std::sync::Mutex::new(None));
        let kept = Arc::clone(&exception);
        let callback = self
            .this
            .callback("python callback", signature, move |args| {
                // Called from C, on whatever thread: the GIL taken for the Python callable.
                Python::with_gil(|py| {
                    let run = || -> PyResult<Value> {
                        let args: Vec<PyObject> = args
                            .iter()
                            .map(|value| to_python(py, value.clone()))
                            .collect::<PyResult<_>>()?;
                        let tuple = pyo3::types::PyTuple::new(py, args)?;
                        to_value(&function.bind(py).call1(tuple)?)
                    };
                    run().map_err(|error| {
                        // The exception itself is raised by the foreign call once C
                        // returns (the engine carries its text): kept for this thread's
                        // call, and by the callback for a call on another thread.
                        let text = error.to_string();
                        *kept.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.clone_ref(py));
                        CALLBACK_EXCEPTION.with(|slot| {
                            slot.borrow_mut().get_or_insert(error);
                        });
                        text.into()
                    })
                })
            })
            .map_err(raise)?;
        let callback = match error {
            Some(error) => callback.on_error(&to_value(error)?).map_err(raise)?,
            None => callback,
        };
        Ok(CallbackObject {
            callback,
            exception,
        })
    }
}

/// `@ffi.callback(signature)`: makes the callback of the function it decorates.
#[pyclass(module = "ffikit", name = "CallbackDecorator", frozen)]
struct CallbackDecorator {
    ffi: Py<Ffi>,
    signature: String,
    error: Option<PyObject>,
}

#[pymethods]
impl CallbackDecorator {
    fn __call__(&self, py: Python<'_>, function: Py<PyAny>) -> PyResult<CallbackObject> {
        let error = self.error.as_ref().map(|e| e.bind(py));
        self.ffi.get().callback(&self.signature, function, error)
    }
}

/// Every library `dlopen` opened, kept loaded for the life of the process.
static LOADED: std::sync::Mutex<Vec<Arc<Library>>> = std::sync::Mutex::new(Vec::new());

/// A library opened by `dlopen`: its declared functions as attributes.
#[pyclass(module = "ffikit", name = "Lib", frozen, dict)]
struct Lib {
    library: Arc<Library>,
    /// The `cdef` texts it was opened with (for `check`).
    cdefs: Vec<String>,
    /// Functions declared with `release_gil=True`.
    release_gil: std::collections::HashSet<String>,
}

#[pymethods]
impl Lib {
    /// The declarations checked against the library file (its exports and, where it has
    /// them, its DWARF types), without running anything: each disagreement as a line,
    /// none when they agree.
    fn check(&self) -> PyResult<Vec<String>> {
        let verification = self.library.verify(&self.cdefs.join("\n")).map_err(raise)?;
        Ok(verification
            .findings
            .iter()
            .map(ToString::to_string)
            .collect())
    }

    /// A function (bound once, then found in `__dict__` without coming here) or a constant.
    fn __getattr__(slf: &Bound<'_, Self>, name: &str) -> PyResult<PyObject> {
        let py = slf.py();
        let library = &slf.get().library;
        // A constant (looked up once: then found in `__dict__`, as functions are).
        let constant = match library.macro_value(name) {
            Some(MacroValue::Float { value, .. }) => Some(value.into_pyobject(py)?.into_any()),
            Some(MacroValue::String(bytes)) => Some(PyBytes::new(py, &bytes).into_any()),
            _ => match library.constant(name) {
                Some(constant) => Some(constant.value.into_pyobject(py)?.into_any()),
                None => None,
            },
        };
        if let Some(constant) = constant {
            slf.getattr(pyo3::intern!(py, "__dict__"))?
                .downcast::<PyDict>()?
                .set_item(name, &constant)?;
            return Ok(constant.unbind());
        }
        // SAFETY: the declaration is the Python user's (the module's safety model, promise 2).
        let function = match unsafe { OwnedFunction::get(library, name) } {
            Ok(function) => function,
            Err(error) if error.kind() == ffikit_abi::ErrorKind::DeclarationSyntax => {
                return Err(PyAttributeError::new_err(format!(
                    "`{name}` is not declared (cdef it first): {error}"
                )));
            }
            Err(error) => return Err(raise(error)),
        };
        let releases = slf.get().release_gil.contains(name);
        let builtin = fastcall::builtin(py, name, function, releases)?;
        // Kept in the instance dict: the next `lib.name` finds it there directly.
        slf.getattr(pyo3::intern!(py, "__dict__"))?
            .downcast::<PyDict>()?
            .set_item(name, &builtin)?;
        Ok(builtin)
    }
}

/// A C object owned by Python (`ffi.new`): members by attribute, elements by index.
#[pyclass(module = "ffikit", name = "CData")]
pub(crate) struct CObject {
    /// Always a [`Value::Data`] while Python can reach it: a call passing the object by
    /// value lends the value to the call (the object mutably borrowed meanwhile) and puts it
    /// back, so no copy is made per call.
    pub(crate) value: Value,
}

impl CObject {
    pub(crate) fn new(data: CData) -> CObject {
        CObject {
            value: Value::Data(data),
        }
    }

    pub(crate) fn data(&self) -> &CData {
        match &self.value {
            Value::Data(data) => data,
            _ => unreachable!("a C object's value is lent only while it is mutably borrowed"),
        }
    }

    /// A copy of the object's value (its bytes), or `MemoryError` when they do not fit.
    pub(crate) fn copy_value(&self) -> PyResult<Value> {
        Ok(Value::Data(self.data().try_clone().map_err(raise)?))
    }

    fn data_mut(&mut self) -> &mut CData {
        match &mut self.value {
            Value::Data(data) => data,
            _ => unreachable!("a C object's value is lent only while it is mutably borrowed"),
        }
    }
}

#[pymethods]
impl CObject {
    fn __getattr__(&self, py: Python<'_>, name: &str) -> PyResult<PyObject> {
        let value = self.data().get_at(&[Path::Field(name)]).map_err(|error| {
            PyAttributeError::new_err(format!("{}: {error}", self.data().type_name()))
        })?;
        to_python(py, value)
    }

    fn __setattr__(&mut self, name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = to_value(value)?;
        self.data_mut()
            .set_at(&[Path::Field(name)], &value)
            .map_err(raise)
    }

    /// Element `index` of an array; `[0]` of any other object is its value (as CFFI's `p[0]`
    /// of what `new("T *")` made).
    fn __getitem__(&self, py: Python<'_>, index: usize) -> PyResult<PyObject> {
        let value = match self.data().get_at(&[Path::Index(index)]) {
            Ok(value) => value,
            Err(_) if index == 0 && !matches!(self.data().get(), Value::Array(_)) => {
                self.data().get()
            }
            Err(error) => return Err(raise(error)),
        };
        to_python(py, value)
    }

    fn __setitem__(&mut self, index: usize, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = to_value(value)?;
        self.data_mut()
            .set_at(&[Path::Index(index)], &value)
            .map_err(raise)
    }

    /// An array's length, from its type (no element is read); 1 for other objects.
    fn __len__(&self) -> usize {
        self.data().array_len().unwrap_or(1)
    }

    /// The object's address (to pass where C takes a pointer to it).
    #[getter]
    fn address(&self) -> usize {
        self.data().address().as_address().unwrap_or(0)
    }

    /// The whole value, as Python values (a dict for a struct, a list for an array).
    fn value(&self, py: Python<'_>) -> PyResult<PyObject> {
        to_python(py, self.data().get())
    }

    /// Sets the whole value (a struct needs every member).
    fn set(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = to_value(value)?;
        self.data_mut().set(&value).map_err(raise)
    }

    /// The buffer protocol: the object's bytes, writable, where they are (they never move
    /// while the object lives, which the view keeps alive).
    unsafe fn __getbuffer__(
        slf: pyo3::Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: std::ffi::c_int,
    ) -> PyResult<()> {
        let (start, len) = {
            let object = slf.try_borrow()?;
            let bytes = object.data().bytes();
            (bytes.as_ptr(), bytes.len())
        };
        // SAFETY: `view` is CPython's to fill; the bytes are the object's storage, which stays
        // at its address for the object's life, and the view holds a reference to the object.
        let filled = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                start.cast_mut().cast(),
                len as ffi::Py_ssize_t,
                0,
                flags,
            )
        };
        match filled {
            -1 => Err(PyErr::fetch(slf.py())),
            _ => Ok(()),
        }
    }

    /// As CFFI's: the type and the size, never the contents (which may be huge).
    fn __repr__(&self) -> String {
        format!(
            "<cdata '{}' owning {} bytes>",
            self.data().type_name(),
            self.data().size()
        )
    }
}

/// A typed pointer to C memory (`ffi.cast`): `pointer[i]` reads element `i`.
#[pyclass(module = "ffikit", name = "Pointer", frozen)]
pub(crate) struct CPointer {
    pub(crate) address: usize,
    /// A zeroed object of the element type, copied for each read (None for `void *` and
    /// incomplete types: nothing to read).
    element: Option<CData>,
}

#[pymethods]
impl CPointer {
    fn __getitem__(&self, py: Python<'_>, index: usize) -> PyResult<PyObject> {
        let Some(element) = &self.element else {
            return Err(PyTypeError::new_err("a `void *` has no elements to read"));
        };
        let mut object = element.clone();
        let at = index
            .checked_mul(object.size())
            .and_then(|offset| self.address.checked_add(offset))
            .ok_or_else(|| {
                pyo3::exceptions::PyOverflowError::new_err(format!(
                    "element {index} is past the end of the address space"
                ))
            })?;
        // SAFETY: the Python user's promise (the module's safety model): the pointer was cast
        // from an address holding values of this type, and `index` is within them.
        unsafe { object.copy_from(at) };
        to_python(py, object.get())
    }

    fn __int__(&self) -> usize {
        self.address
    }

    fn __repr__(&self) -> String {
        format!(
            "<ffikit.Pointer '{} *' {:#x}>",
            self.element.as_ref().map_or("void", CData::type_name),
            self.address
        )
    }
}

/// A callback made by `ffi.callback`: pass it where C takes the function pointer.
#[pyclass(module = "ffikit", name = "Callback", frozen)]
pub(crate) struct CallbackObject {
    pub(crate) callback: Callback,
    /// The latest exception the callable raised, for a foreign call on another thread than
    /// the callback's (C calling back from a thread of its own) to raise.
    exception: Arc<std::sync::Mutex<Option<PyErr>>>,
}

impl CallbackObject {
    fn take_exception(&self) -> Option<PyErr> {
        self.exception
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

#[pymethods]
impl CallbackObject {
    #[getter]
    fn address(&self) -> usize {
        self.callback.address().as_address().unwrap_or(0)
    }
}

/// Builtins called with `METH_FASTCALL`: the arguments arrive as a C array of object
/// pointers, converted straight into `Value`s on the stack — no argument tuple, no keyword
/// dict, no `__call__` lookup (PyO3's `#[pyclass]` `__call__` would build both).
mod fastcall {
    use super::*;

    /// A builtin's `self`: the function, and the method definition CPython reads for as long
    /// as the builtin lives (the builtin keeps its `self`; Python objects do not move).
    #[pyclass(frozen)]
    pub(super) struct Bound {
        definition: MethodDefinition,
        function: OwnedFunction,
        /// Bit i: parameter i is a pointer (a C object goes by address there).
        pointers: u64,
        /// Some parameter is a struct by value: C objects are lent to calls.
        records: bool,
        /// Declared with `release_gil=True`: the GIL is released around every call.
        releases_gil: bool,
        _name: std::ffi::CString,
    }

    /// CPython's method definition: raw pointers to the name (owned by the same `Bound`) and
    /// to `call`, read only by CPython, under the GIL.
    struct MethodDefinition(ffi::PyMethodDef);

    // SAFETY: the definition is written once, before CPython can see it, and only read
    // afterwards; its pointers are to a `'static` function and to the `Bound`'s own name.
    unsafe impl Send for MethodDefinition {}
    // SAFETY: as above: shared reads only.
    unsafe impl Sync for MethodDefinition {}

    /// The builtin calling `function`.
    pub(super) fn builtin(
        py: Python<'_>,
        name: &str,
        function: OwnedFunction,
        releases_gil: bool,
    ) -> PyResult<PyObject> {
        let name = std::ffi::CString::new(name).map_err(|e| PyTypeError::new_err(e.to_string()))?;
        let bound = Py::new(
            py,
            Bound {
                definition: MethodDefinition(ffi::PyMethodDef {
                    ml_name: name.as_ptr(),
                    ml_meth: ffi::PyMethodDefPointer {
                        PyCFunctionFast: call,
                    },
                    ml_flags: ffi::METH_FASTCALL,
                    ml_doc: std::ptr::null(),
                }),
                pointers: (0..64)
                    .filter(|&i| function.takes_pointer(i))
                    .fold(0, |m, i| m | 1 << i),
                records: (0..64).any(|i| function.takes_record(i)),
                releases_gil: releases_gil || (0..64).any(|i| function.takes_callback(i)),
                function,
                // The CString's bytes are on the heap: moving it into `Bound` keeps
                // `ml_name` valid.
                _name: name,
            },
        )?;
        let definition = std::ptr::from_ref(&bound.get().definition.0).cast_mut();
        // SAFETY: the definition lives in `bound`, which the builtin keeps as its `self` for
        // as long as it lives (CPython only reads it); `bound` is a live object.
        let builtin =
            unsafe { ffi::PyCFunction_NewEx(definition, bound.as_ptr(), std::ptr::null_mut()) };
        // SAFETY: a new reference, or NULL with an exception set.
        unsafe { PyObject::from_owned_ptr_or_err(py, builtin) }
    }

    /// The call: arguments converted, the function called (the GIL kept: see the README),
    /// the result converted; any error raised as its Python exception.
    unsafe extern "C" fn call(
        this: *mut ffi::PyObject,
        args: *mut *mut ffi::PyObject,
        count: ffi::Py_ssize_t,
    ) -> *mut ffi::PyObject {
        let outcome = std::panic::catch_unwind(|| {
            // SAFETY: CPython calls a builtin holding the GIL.
            let py = unsafe { Python::assume_gil_acquired() };
            // SAFETY: `this` is this builtin's `self`, a `Bound` made in `builtin`, borrowed
            // for the call.
            let this = unsafe { pyo3::Borrowed::from_ptr(py, this) };
            // SAFETY: as above: of exactly this class.
            let bound = unsafe { this.downcast_unchecked::<Bound>() }.get();
            // SAFETY: CPython passes `count` argument pointers, borrowed for the call.
            let args = unsafe { std::slice::from_raw_parts(args, count as usize) };
            match call_function(py, bound, args) {
                Ok(result) => result.into_ptr(),
                Err(error) => {
                    error.restore(py);
                    std::ptr::null_mut()
                }
            }
        });
        outcome.unwrap_or_else(|_| {
            // SAFETY: CPython calls a builtin holding the GIL.
            let py = unsafe { Python::assume_gil_acquired() };
            PyRuntimeError::new_err("ffikit: a panic in the call").restore(py);
            std::ptr::null_mut()
        })
    }

    /// An int (of 64 bits), float or bytes argument as its value, read through the C API; None
    /// for anything else.
    ///
    /// # Safety
    ///
    /// `arg` is a live object, borrowed for the call, and the GIL is held.
    #[inline(always)]
    unsafe fn plain_value(arg: *mut ffi::PyObject) -> Option<Value> {
        // SAFETY: the caller's promise; each object is only read, and a bytes object's data
        // lives as long as it does (an argument of the call).
        unsafe {
            let ty = ffi::Py_TYPE(arg);
            if ty == &raw mut ffi::PyLong_Type {
                let mut overflow = 0;
                let int = ffi::PyLong_AsLongLongAndOverflow(arg, &mut overflow);
                (overflow == 0 && int != -1).then_some(Value::Int(int))
            } else if ty == &raw mut ffi::PyFloat_Type {
                Some(Value::Float(ffi::PyFloat_AsDouble(arg)))
            } else if ty == &raw mut ffi::PyBytes_Type {
                Some(Value::Pointer(ffi::PyBytes_AsString(arg) as usize))
            } else {
                None
            }
        }
    }

    /// The foreign call, the GIL released around it or not, errno saved right after.
    fn call_c(
        py: Python<'_>,
        function: &OwnedFunction,
        values: &[Value],
        release: bool,
    ) -> Result<Value, ffikit_abi::Error> {
        let call = || {
            // SAFETY: the Python user's declaration and arguments (promise 3).
            let result = unsafe { function.call(values) };
            // SAFETY: reading this thread's errno, always valid.
            let errno = unsafe { *libc::__errno_location() };
            (result, errno)
        };
        let (result, errno) = if release {
            py.allow_threads(call)
        } else {
            call()
        };
        LAST_ERRNO.with(|last| last.set(errno));
        result
    }

    /// Up to this many arguments are converted on the stack.
    const INLINE: usize = 8;

    fn call_function(
        py: Python<'_>,
        bound: &Bound,
        args: &[*mut ffi::PyObject],
    ) -> PyResult<PyObject> {
        let function = &bound.function;
        // The GIL is released around the call when the function was declared so, or when it
        // takes a callback: C may call it from another thread, which must be able to take
        // the GIL (the calling thread, waiting for C, would otherwise hold it).
        let releases = bound.releases_gil;
        // Any argument: an int, float or bytes through the C API, else as its Python object
        // converts (a C object where C takes a pointer: its address).
        let convert = |index: usize, &arg: &*mut ffi::PyObject| {
            // SAFETY: a borrowed, live argument of this call; the GIL is held.
            if let Some(value) = unsafe { plain_value(arg) } {
                return Ok(value);
            }
            // SAFETY: as above.
            let arg = unsafe { pyo3::Bound::from_borrowed_ptr(py, arg) };
            // A C object where C takes a pointer: its address (it lives as long as the
            // call's arguments do, and C may write into it, as CFFI's cdata).
            if index < 64 && bound.pointers & (1 << index) != 0 {
                if let Ok(object) = arg.downcast::<CObject>() {
                    // (Refused if the same object is also passed by value in this call.)
                    return Ok(object.try_borrow()?.data().address());
                }
            }
            to_value(&arg)
        };
        // The commonest calls — ints, floats and bytes only — read straight into their
        // values (nothing to lend, nothing to drop), or, at the first other argument, the
        // general loop below.
        if args.len() <= INLINE && !bound.records {
            let mut values = [const { std::mem::MaybeUninit::<Value>::uninit() }; INLINE];
            let mut plain = true;
            for (value, &arg) in values.iter_mut().zip(args) {
                // SAFETY: a borrowed, live argument of this call; the GIL is held.
                match unsafe { plain_value(arg) } {
                    Some(read) => {
                        value.write(read);
                    }
                    None => {
                        plain = false;
                        break;
                    }
                }
            }
            if plain {
                // SAFETY: every value was written (numbers and addresses: nothing to drop).
                let values = unsafe {
                    std::slice::from_raw_parts(values.as_ptr().cast::<Value>(), args.len())
                };
                return finish(py, call_c(py, function, values, releases), args);
            }
        }
        // A function taking a struct by value: the same, and C objects lent to the call.
        if args.len() <= INLINE && bound.records {
            let mut values = [const { std::mem::MaybeUninit::<Value>::uninit() }; INLINE];
            // C objects passed by value, lent to the call: put back afterwards.
            let mut lent = arrayvec::ArrayVec::<(usize, PyRefMut<'_, CObject>), INLINE>::new();
            let mut plain = true;
            for (index, (value, &arg)) in values.iter_mut().zip(args).enumerate() {
                // SAFETY: a borrowed, live argument of this call; the GIL is held.
                let (read, ty) = unsafe { (plain_value(arg), ffi::Py_TYPE(arg)) };
                if let Some(read) = read {
                    value.write(read);
                    continue;
                }
                // A C object for a struct parameter: lent to the call.
                let by_value = index >= 64 || bound.pointers & (1 << index) == 0;
                if bound.records && by_value && ty == CObject::type_object_raw(py) {
                    // SAFETY: a borrowed, live argument of this call, of the C object class.
                    let object = unsafe { pyo3::Bound::from_borrowed_ptr(py, arg) };
                    // SAFETY: its type was just compared with the class's.
                    let object = unsafe { object.downcast_into_unchecked::<CObject>() };
                    if let Ok(mut borrowed) = object.try_borrow_mut() {
                        value.write(std::mem::replace(&mut borrowed.value, Value::Void));
                        lent.push((index, borrowed));
                        continue;
                    }
                }
                plain = false;
                break;
            }
            if plain {
                // SAFETY: every value was written (numbers, addresses and lent C objects).
                let made = unsafe {
                    std::slice::from_raw_parts(values.as_ptr().cast::<Value>(), args.len())
                };
                let result = call_c(py, function, made, releases);
                if !lent.is_empty() {
                    for (index, mut object) in lent {
                        // SAFETY: written above; read once, here, back into its object.
                        object.value = unsafe { values[index].assume_init_read() };
                    }
                }
                return finish(py, result, args);
            }
            // Not all plain: the objects lent so far go back before the general loop.
            if !lent.is_empty() {
                for (index, mut object) in lent {
                    // SAFETY: as above.
                    object.value = unsafe { values[index].assume_init_read() };
                }
            }
        }
        let result = if args.len() <= INLINE {
            // Made in place; only those made are read and dropped.
            let mut values = [const { std::mem::MaybeUninit::<Value>::uninit() }; INLINE];
            // C objects passed by value, lent to the call: put back afterwards.
            // (Only those lent are held: nothing to drop for a call that lends none.)
            let mut lent = arrayvec::ArrayVec::<(usize, PyRefMut<'_, CObject>), INLINE>::new();
            let mut lent_mask = 0u8;
            let mut made = 0;
            let mut failed = None;
            for (index, &arg) in args.iter().enumerate() {
                // A C object for a struct parameter (only functions taking one lend).
                let by_value = index >= 64 || bound.pointers & (1 << index) == 0;
                // SAFETY: a borrowed, live argument of this call; the GIL is held.
                let ty = unsafe { ffi::Py_TYPE(arg) };
                if bound.records && by_value && ty == CObject::type_object_raw(py) {
                    // SAFETY: as above, of the C object class (its type just compared).
                    let object = unsafe {
                        pyo3::Bound::from_borrowed_ptr(py, arg).downcast_into_unchecked::<CObject>()
                    };
                    if let Ok(mut borrowed) = object.try_borrow_mut() {
                        values[index].write(std::mem::replace(&mut borrowed.value, Value::Void));
                        lent.push((index, borrowed));
                        lent_mask |= 1 << index;
                        made += 1;
                        continue;
                    }
                    // Already lent to this call (the same object twice by value, legal in
                    // C): this argument gets a copy of its bytes.
                    let earlier = lent
                        .iter()
                        .find(|(_, lent_object)| lent_object.as_ptr() == arg)
                        .map(|&(earlier, _)| earlier);
                    if let Some(earlier) = earlier {
                        // SAFETY: a lent value, written when it was lent, not yet read back.
                        let copy = match unsafe { values[earlier].assume_init_ref() } {
                            Value::Data(data) => data.try_clone().map(Value::Data),
                            other => Ok(other.clone()),
                        };
                        match copy {
                            Ok(copy) => {
                                values[index].write(copy);
                                made += 1;
                                continue;
                            }
                            Err(error) => {
                                failed = Some(raise(error));
                                break;
                            }
                        }
                    }
                }
                match convert(index, &arg) {
                    Ok(value) => {
                        values[index].write(value);
                        made += 1;
                    }
                    Err(error) => {
                        failed = Some(error);
                        break;
                    }
                }
            }
            // SAFETY: the first `made` values were written just above.
            let made_values =
                unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<Value>(), made) };
            let result = match failed {
                Some(error) => Err(error),
                None => Ok(call_c(py, function, made_values, releases)),
            };
            // Each value made is read once: back into its C object if lent, else dropped.
            for (index, value) in values[..made].iter().enumerate() {
                if lent_mask & (1 << index) == 0 {
                    // SAFETY: each of the first `made` was written, and is read once, here.
                    dispose(unsafe { value.assume_init_read() });
                }
            }
            if !lent.is_empty() {
                for (index, mut object) in lent {
                    // SAFETY: as above (a lent value, not read in the loop above).
                    object.value = unsafe { values[index].assume_init_read() };
                }
            }
            result?
        } else {
            let values: Vec<Value> = args
                .iter()
                .enumerate()
                .map(|(index, arg)| convert(index, arg))
                .collect::<PyResult<_>>()?;
            call_c(py, function, &values, releases)
        };
        finish(py, result, args)
    }

    /// A failed call's exception: for a callback that raised, the Python exception itself
    /// (its type, its traceback; a `KeyboardInterrupt` stays one) — kept by the callback on
    /// this thread, or, when C called it on a thread of its own, by a callback passed to
    /// this call; otherwise ffikit's error as its Python exception.
    #[cold]
    fn call_error(py: Python<'_>, error: ffikit_abi::Error, args: &[*mut ffi::PyObject]) -> PyErr {
        if error.kind() != ffikit_abi::ErrorKind::CallbackFailed {
            return raise(error);
        }
        let on_this_thread = CALLBACK_EXCEPTION.with(|slot| slot.borrow_mut().take());
        let mut from_arguments = None;
        for &arg in args {
            // SAFETY: a borrowed, live argument of this call; the GIL is held.
            let arg = unsafe { pyo3::Bound::from_borrowed_ptr(py, arg) };
            if let Ok(callback) = arg.downcast::<CallbackObject>() {
                let kept = callback.get().take_exception();
                from_arguments = from_arguments.or(kept);
            }
        }
        on_this_thread
            .or(from_arguments)
            .unwrap_or_else(|| raise(error))
    }

    /// The call's result as a Python object, or its error as a Python exception.
    #[inline(always)]
    fn finish(
        py: Python<'_>,
        result: Result<Value, ffikit_abi::Error>,
        args: &[*mut ffi::PyObject],
    ) -> PyResult<PyObject> {
        let value = match result {
            Ok(value) => value,
            Err(error) => return Err(call_error(py, error, args)),
        };
        if let Value::Int(i) = value {
            // An int owns nothing: forgotten, not run through the drop glue.
            std::mem::forget(value);
            // SAFETY: a new reference to an int, or NULL with an exception set.
            return unsafe { PyObject::from_owned_ptr_or_err(py, ffi::PyLong_FromLongLong(i)) };
        }
        to_python(py, value)
    }
}

thread_local! {
    /// errno as the last call through the module on this thread left it (`ffi.errno`).
    static LAST_ERRNO: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
    /// The first exception a callback raised on this thread, for the foreign call that led
    /// to it to raise once C returns.
    static CALLBACK_EXCEPTION: std::cell::RefCell<Option<PyErr>> =
        const { std::cell::RefCell::new(None) };
}

/// Drops a value; one that owns nothing is forgotten inline, without the drop glue's
/// out-of-line dispatch (most arguments are numbers).
#[inline(always)]
fn dispose(value: Value) {
    match value {
        Value::Void
        | Value::Int(_)
        | Value::UInt(_)
        | Value::Float(_)
        | Value::Null
        | Value::Pointer(_)
        | Value::Bool(_) => std::mem::forget(value),
        other => drop(other),
    }
}

/// The `ffikit` module.
#[pymodule]
#[pyo3(name = "ffikit")]
fn ffikit_python(module: &pyo3::Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Ffi>()?;
    module.add_class::<Lib>()?;
    module.add_class::<CObject>()?;
    module.add_class::<CallbackObject>()?;
    module.add_class::<CPointer>()?;
    errors::add(module)?;
    module.add("__doc__", "Call C the way CFFI and ctypes do, on ffikit.")?;
    let _ = (
        PyString::type_object(module.py()),
        std::ptr::null::<c_void>(),
    );
    Ok(())
}
