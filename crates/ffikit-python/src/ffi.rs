//! `ffikit.FFI`: declarations (`cdef`, `include`), libraries (`dlopen`), and CFFI's cdata
//! operations — `new`, `cast`, `typeof`, `sizeof`, `alignof`, `offsetof`, `addressof`,
//! `string`, `unpack`, `buffer`, `from_buffer`, `gc`, `new_handle`/`from_handle`,
//! `callback`, `getctype`, `init_once`, `new_allocator`, `errno` — on ffikit-abi's cdata
//! model.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use ffikit_abi::Library;
use ffikit_abi::cdata::{CKind, CType};

use crate::allocator::{Allocator, CallbackDecorator};
use crate::cdata::{CDataObject, Keep, read};
use crate::ctype::CTypeObject;
use crate::errors::raise;
use crate::library::{LOADED, Lib};
use crate::making::{cast_to, new_of, walk};

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// `ffikit.FFI()`: declarations and what is made from them.
#[pyclass(module = "ffikit", name = "FFI", frozen, subclass, dict, weakref)]
pub(crate) struct Ffi {
    /// The process itself: where types are resolved and the declarations live.
    pub(crate) this: Arc<Library>,
    /// Every `cdef` text (with its options), applied to each library `dlopen` opens.
    pub(crate) cdefs: Mutex<Vec<String>>,
    /// Every header `include`d, likewise.
    headers: Mutex<Vec<String>>,
    /// Functions whose calls release the GIL (declared with `release_gil=True`).
    pub(crate) release_gil: Mutex<std::collections::HashSet<String>>,
    /// Types by the text that named them, resolved once (a comparator casts on every call).
    /// Type strings already parsed (FxHash: the keys are short and this is on every
    /// `cast`/`new`; SipHash cost more than the rest of a cast's lookup).
    types: Mutex<rustc_hash::FxHashMap<String, CType>>,
    /// `init_once` results by tag.
    /// `init_once`'s state per tag: the result once known, else the lock its first caller
    /// holds while running the function (the others wait on it, the GIL released).
    once: Mutex<HashMap<String, Once>>,
}

impl Ffi {
    /// The type a Python object names: a string (parsed once), or a ctype object.
    pub(crate) fn resolve(&self, named: &Bound<'_, PyAny>) -> PyResult<CType> {
        if let Ok(ty) = named.downcast::<CTypeObject>() {
            return Ok(ty.get().ty.clone());
        }
        let text: String = named.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "expected a C type (a string or a ctype), not {}",
                named
                    .get_type()
                    .name()
                    .map_or_else(|_| "?".into(), |n| n.to_string())
            ))
        })?;
        self.parse(&text)
    }

    pub(crate) fn parse(&self, text: &str) -> PyResult<CType> {
        if let Some(ty) = lock(&self.types).get(text) {
            return Ok(ty.clone());
        }
        let ty = self
            .this
            .ctype(text)
            .map_err(crate::errors::raise_type_string)?;
        if ty.kind() == CKind::Enum && ty.enumerators().is_none() {
            // An enum only declared (`enum foo;`): gcc's choice for it, said as CFFI says it.
            Python::with_gil(|py| {
                let message = format!(
                    "'{}' has no values explicitly defined; guessing that it is equivalent to 'unsigned int'",
                    ty.cname()
                );
                let category = py.get_type::<pyo3::exceptions::PyUserWarning>();
                PyErr::warn(py, &category, &std::ffi::CString::new(message)?, 1)
            })?;
        }
        lock(&self.types).insert(text.to_owned(), ty.clone());
        Ok(ty)
    }

    fn apply_cdef(&self, text: &str, release_gil: bool) -> PyResult<()> {
        let text = &opaque_typedefs(text);
        let report = self.this.cdef(text).map_err(raise)?;
        lock(&self.types).clear();
        if release_gil {
            let mut names = lock(&self.release_gil);
            for declared in &report.declared {
                if let ffikit_cdecl::Declared::Function(name) = declared {
                    names.insert(name.clone());
                }
            }
        }
        lock(&self.cdefs).push(text.to_string());
        Ok(())
    }
}

/// CFFI's `typedef ... name;` (a type known only by name, used through pointers) as C says
/// it: `typedef struct name name;`, an opaque struct.
fn opaque_typedefs(text: &str) -> std::borrow::Cow<'_, str> {
    static OPAQUE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"typedef\s+\.\.\.\s+([A-Za-z_][A-Za-z_0-9]*)\s*;")
            .expect("a valid pattern")
    });
    OPAQUE.replace_all(text, "typedef struct $1 $1;")
}

#[pymethods]
impl Ffi {
    #[new]
    #[classmethod]
    #[pyo3(signature = (*args, **_kwargs))]
    fn new(
        cls: &Bound<'_, pyo3::types::PyType>,
        args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<Ffi> {
        // `FFI()` takes no arguments; a subclass's own `__init__` may take some.
        if !args.is_empty() && cls.is(cls.py().get_type::<Ffi>()) {
            return Err(PyTypeError::new_err("FFI() takes no positional arguments"));
        }
        Ok(Ffi {
            this: Arc::new(Library::this()),
            cdefs: Mutex::new(Vec::new()),
            headers: Mutex::new(Vec::new()),
            release_gil: Mutex::new(Default::default()),
            types: Mutex::new(Default::default()),
            once: Mutex::new(Default::default()),
        })
    }

    /// Declares C functions, types, globals and `#define` constants. `packed=True` packs
    /// the structs declared (as `#pragma pack(1)`), `pack=N` to N bytes. The functions of a
    /// block declared with `release_gil=True` release the GIL around each call.
    #[pyo3(signature = (text, override_ = false, packed = None, pack = None, release_gil = false))]
    fn cdef(
        &self,
        text: &str,
        override_: bool,
        packed: Option<&Bound<'_, PyAny>>,
        pack: Option<u32>,
        release_gil: bool,
    ) -> PyResult<()> {
        let _ = override_;
        // CFFI's rules: `packed` is a bool, `pack` a power of two, and not both.
        let packed = match packed {
            None => false,
            Some(flag) if flag.is_instance_of::<pyo3::types::PyBool>() => flag.is_truthy()?,
            Some(flag) if flag.extract::<i64>().is_ok_and(|v| v == 0 || v == 1) => {
                flag.is_truthy()?
            }
            Some(_) => return Err(PyValueError::new_err("'packed' should be False or True")),
        };
        if let Some(pack) = pack {
            if packed || !pack.is_power_of_two() {
                return Err(PyValueError::new_err(
                    "'pack' must be a power of two, and not given with 'packed'",
                ));
            }
        }
        let pack = match (packed, pack) {
            (true, _) => Some(1),
            (false, Some(n)) if n > 0 => Some(n),
            _ => None,
        };
        match pack {
            Some(n) => self.apply_cdef(
                &format!("#pragma pack(push, {n})\n{text}\n#pragma pack(pop)\n"),
                release_gil,
            ),
            None => self.apply_cdef(text, release_gil),
        }
    }

    /// Declares what an installed header declares (`"zlib.h"`), or everything another
    /// `FFI` declared (CFFI's `ffi.include(other_ffi)`).
    fn include(&self, header: &Bound<'_, PyAny>) -> PyResult<()> {
        if let Ok(other) = header.downcast::<Ffi>() {
            if std::ptr::eq(other.get(), self) {
                return Err(PyValueError::new_err("an FFI cannot include itself"));
            }
            let texts = lock(&other.get().cdefs).clone();
            let headers = lock(&other.get().headers).clone();
            for header in headers {
                self.this
                    .include(&ffikit_cdecl::Header::new(header.as_str()))
                    .map_err(raise)?;
                lock(&self.headers).push(header);
            }
            for text in texts {
                self.apply_cdef(&text, false)?;
            }
            return Ok(());
        }
        let header: String = header.extract()?;
        self.this
            .include(&ffikit_cdecl::Header::new(header.as_str()))
            .map_err(raise)?;
        lock(&self.types).clear();
        lock(&self.headers).push(header);
        Ok(())
    }

    /// Opens a shared library (a path, a file name, a name as `find_library` takes it, or
    /// None for the process itself), with this FFI's declarations. It stays loaded for the
    /// life of the process (as with ctypes and CFFI).
    ///
    /// `isolated=True` loads it in a worker process instead (`timeout`: seconds a call may
    /// run): a crash, `exit` or hang in C raises `ffikit.WorkerError` rather than ending
    /// Python, and the next call starts a new worker.
    #[pyo3(signature = (name = None, flags = 0, isolated = false, timeout = None))]
    fn dlopen(
        slf: &Bound<'_, Self>,
        name: Option<&Bound<'_, PyAny>>,
        flags: i32,
        isolated: bool,
        timeout: Option<f64>,
    ) -> PyResult<PyObject> {
        let _ = flags;
        let py = slf.py();
        let this = slf.get();
        if isolated {
            let name: String = match name {
                None => String::new(),
                Some(name) => match name.extract() {
                    Ok(name) => name,
                    Err(_) => name.call_method0("__fspath__")?.extract()?,
                },
            };
            let cdefs = lock(&this.cdefs).clone();
            let headers = lock(&this.headers).clone();
            let library = crate::isolated::open(py, &name, &headers, &cdefs, timeout)?;
            return Ok(Py::new(py, library)?.into_any());
        }
        let library = match name {
            None => Library::this(),
            Some(name) => {
                let name: String = match name.extract() {
                    Ok(name) => name,
                    Err(_) => name.call_method0("__fspath__")?.extract()?,
                };
                // SAFETY: the Python user's promise (the module's safety model, promise 1).
                unsafe { Library::open(&name) }.map_err(raise)?
            }
        };
        for header in lock(&this.headers).iter() {
            library
                .include(&ffikit_cdecl::Header::new(header.as_str()))
                .map_err(raise)?;
        }
        let cdefs = lock(&this.cdefs).clone();
        let mut statics = std::collections::HashSet::new();
        for text in &cdefs {
            let report = library.cdef(text).map_err(raise)?;
            statics.extend(
                report
                    .skipped
                    .into_iter()
                    .filter(|skipped| skipped.kind == ffikit_cdecl::SkipKind::Static)
                    .filter_map(|skipped| skipped.name),
            );
        }
        let library = Arc::new(library);
        lock(&LOADED).push(Arc::clone(&library));
        Ok(Py::new(
            py,
            Lib {
                library,
                cdefs,
                release_gil: lock(&this.release_gil).clone(),
                statics,
                _ffi: slf.clone().unbind(),
                closed: std::sync::atomic::AtomicBool::new(false),
            },
        )?
        .into_any())
    }

    /// Closes a library opened by `dlopen`: its attributes are refused afterwards (the code
    /// stays mapped, as C state may outlive it).
    fn dlclose(&self, lib: &Bound<'_, Lib>) {
        lib.get()
            .closed
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// A C object owned by Python: `new("int *")` (an int, pointed to), `new("int[10]")`,
    /// `new("int[]", [1, 2, 3])`, `new("struct point *", {"x": 1})`.
    #[pyo3(name = "new", signature = (cdecl, init = None))]
    fn new_object(
        &self,
        py: Python<'_>,
        cdecl: &Bound<'_, PyAny>,
        init: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<CDataObject>> {
        let made = (|| -> PyResult<CDataObject> {
            let ty = self.resolve(cdecl)?;
            new_of(&ty, init)
        })()?;
        crate::slots::new(py, made)
    }

    /// A value converted to another C type, as C casts: `cast("int", 3.9)` is 3,
    /// `cast("unsigned char", 300)` 44, `cast("int *", address)` a pointer there,
    /// `cast("intptr_t", p)` a pointer's address.
    fn cast(
        &self,
        py: Python<'_>,
        cdecl: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<Py<CDataObject>> {
        let made = (|| -> PyResult<CDataObject> {
            let ty = self.resolve(cdecl)?;
            cast_to(py, &ty, value)
        })()?;
        crate::slots::new(py, made)
    }

    /// The ctype of a type name or of a cdata.
    #[pyo3(name = "typeof")]
    fn type_of(&self, py: Python<'_>, of: &Bound<'_, PyAny>) -> PyResult<Py<CTypeObject>> {
        if let Ok(data) = crate::cdata::as_cdata(of) {
            return CTypeObject::wrap(py, data.get().ty.clone());
        }
        if let Some((ty, _)) = crate::library::function_pointer(of) {
            return CTypeObject::wrap(py, ty);
        }
        if of.downcast::<PyString>().is_err() && of.downcast::<CTypeObject>().is_err() {
            return Err(PyTypeError::new_err(format!(
                "expected a C type string or a cdata, not {}",
                of.get_type().name()?
            )));
        }
        CTypeObject::wrap(py, self.resolve(of)?)
    }

    /// The size in bytes of a type or of a cdata (an array's whole size).
    fn sizeof(&self, of: &Bound<'_, PyAny>) -> PyResult<usize> {
        if let Ok(data) = crate::cdata::as_cdata(of) {
            let data = data.get();
            if let Some(size) = data.owning.filter(|_| data.ty.kind() != CKind::Pointer) {
                return Ok(size);
            }
            if let (Some(len), Some(item)) = (data.length, data.ty.item()) {
                return Ok(len * item.size().unwrap_or(0));
            }
            return data.ty.size().ok_or_else(|| {
                PyTypeError::new_err(format!("ctype '{}' has no size", data.ty.cname()))
            });
        }
        let ty = self.resolve(of)?;
        ty.size()
            .ok_or_else(|| ffi_error(format!("ctype '{}' is of unknown size", ty.cname())))
    }

    /// The alignment of a type.
    fn alignof(&self, of: &Bound<'_, PyAny>) -> PyResult<usize> {
        let ty = match crate::cdata::as_cdata(of) {
            Ok(data) => data.get().ty.clone(),
            Err(_) => self.resolve(of)?,
        };
        ty.align()
            .ok_or_else(|| ffi_error(format!("ctype '{}' is of unknown alignment", ty.cname())))
    }

    /// The offset of a member (or an element: an int) in a type, along a path:
    /// `offsetof("struct s", "a", "b")`, `offsetof("int[5]", 2)`.
    #[pyo3(signature = (cdecl, *path))]
    fn offsetof(&self, cdecl: &Bound<'_, PyAny>, path: &Bound<'_, PyTuple>) -> PyResult<usize> {
        let ty = self.resolve(cdecl)?;
        if path.is_empty() {
            return Err(PyTypeError::new_err("offsetof() needs at least one field"));
        }
        let (_, offset) = walk(&ty, path, true)?;
        Ok(offset as usize)
    }

    /// A pointer to a cdata or to a member along a path: `addressof(s)`, `addressof(s, "a")`,
    /// `addressof(array, 3)`.
    #[pyo3(signature = (cdata, *path))]
    fn addressof(
        &self,
        py: Python<'_>,
        cdata: &Bound<'_, PyAny>,
        path: &Bound<'_, PyTuple>,
    ) -> PyResult<Py<CDataObject>> {
        let made = (|| -> PyResult<CDataObject> {
            // `addressof(lib, "name")`: a global's or a function's address, typed.
            if let Ok(lib) = cdata.downcast::<Lib>() {
                let name: String = path
                    .get_item(0)
                    .map_err(|_| PyTypeError::new_err("addressof(lib, name) needs a name"))?
                    .extract()?;
                let (ty, address) = crate::library::address_of(lib.get(), &name)?;
                return Ok(CDataObject::plain(
                    ty,
                    address,
                    Keep::Object(cdata.clone().unbind()),
                ));
            }
            let data = cdata
                .downcast::<CDataObject>()
                .map_err(|_| PyTypeError::new_err("expected a cdata struct/union/array object"))?;
            let this = data.get();
            let (base_ty, base) = match this.ty.kind() {
                CKind::Struct | CKind::Union | CKind::Array => (this.ty.clone(), this.address),
                CKind::Pointer if !path.is_empty() => (this.ty.clone(), this.address),
                _ => {
                    return Err(PyTypeError::new_err(format!(
                        "expected a cdata struct/union/array object, got cdata '{}'",
                        this.ty.cname()
                    )));
                }
            };
            let (ty, offset) = walk(&base_ty, path, false)?;
            let address = (base as i128 + offset) as usize;
            let _ = py;
            Ok(CDataObject::plain(
                ty.pointer_to(),
                address,
                Keep::Object(cdata.clone().unbind()),
            ))
        })()?;
        crate::slots::new(py, made)
    }

    /// The bytes of a C string (a `char` pointer or array, up to its NUL or `maxlen`), a
    /// wide string as `str`, an enum's name, a number's text.
    #[pyo3(signature = (cdata, maxlen = -1))]
    fn string(
        &self,
        py: Python<'_>,
        cdata: &Bound<'_, PyAny>,
        maxlen: isize,
    ) -> PyResult<PyObject> {
        let data = crate::cdata::as_cdata(cdata).map_err(|_| {
            PyTypeError::new_err(format!(
                "string() argument must be a cdata, not {}",
                cdata
                    .get_type()
                    .name()
                    .map_or_else(|_| "?".into(), |n| n.to_string())
            ))
        })?;
        let this = data.get();
        match this.ty.kind() {
            CKind::Pointer | CKind::Array => {
                let item = this.ty.item().expect("has an item");
                if this.address == 0 {
                    return Err(PyRuntimeError::new_err(
                        "cannot use string() on <cdata NULL>",
                    ));
                }
                let mut limit = if maxlen < 0 {
                    usize::MAX
                } else {
                    maxlen as usize
                };
                if this.ty.kind() == CKind::Array {
                    limit = limit.min(this.array_len());
                }
                let size = item.size().unwrap_or(1);
                let wide = crate::cdata::is_wide_char(&item);
                if size == 1 && item.kind() == CKind::Primitive {
                    let mut bytes = Vec::new();
                    while bytes.len() < limit {
                        // SAFETY: the Python user's promise: a C string there (the array's
                        // bound or `maxlen` stops earlier).
                        let byte = unsafe { *((this.address + bytes.len()) as *const u8) };
                        if byte == 0 {
                            break;
                        }
                        bytes.push(byte);
                    }
                    return Ok(PyBytes::new(py, &bytes).into_any().unbind());
                }
                if wide {
                    let mut units = Vec::new();
                    while units.len() < limit {
                        // SAFETY: as above.
                        let value = unsafe { item.read(this.address + units.len() * size) }
                            .map_err(raise)?;
                        let code = value.as_i128().unwrap_or(0) as u32;
                        if code == 0 {
                            break;
                        }
                        units.push(code);
                    }
                    return crate::cdata::wide_string(py, &units, size);
                }
                Err(PyTypeError::new_err(format!(
                    "string() argument must be a cdata pointer or array of characters, not '{}'",
                    this.ty.cname()
                )))
            }
            CKind::Primitive | CKind::Enum => {
                let value = read(py, &this.ty, this.address, None)?;
                if let Some(values) = this.ty.enumerators() {
                    let number: i128 = value.bind(py).extract()?;
                    return Ok(match values.iter().find(|(_, v)| *v == number) {
                        Some((name, _)) => PyString::new(py, name).into_any().unbind(),
                        None => PyString::new(py, &number.to_string()).into_any().unbind(),
                    });
                }
                if value.bind(py).downcast::<PyBytes>().is_ok()
                    || crate::cdata::is_wide_char(&this.ty)
                {
                    return Ok(value);
                }
                Err(PyTypeError::new_err(format!(
                    "string() argument must be a cdata pointer, array, char or enum, not '{}'",
                    this.ty.cname()
                )))
            }
            _ => Err(PyTypeError::new_err(format!(
                "string() argument must be a cdata pointer or array, not '{}'",
                this.ty.cname()
            ))),
        }
    }

    /// `length` items of a pointer or array: bytes for `char`, str for wide characters, a
    /// list otherwise.
    fn unpack(
        &self,
        py: Python<'_>,
        cdata: &Bound<'_, CDataObject>,
        length: isize,
    ) -> PyResult<PyObject> {
        let this = cdata.get();
        if length < 0 {
            return Err(PyValueError::new_err("negative array length"));
        }
        let item = this.ty.item().ok_or_else(|| {
            PyTypeError::new_err(format!(
                "expected a pointer or array, got '{}'",
                this.ty.cname()
            ))
        })?;
        let size = item
            .size()
            .ok_or_else(|| PyTypeError::new_err("items of unknown size"))?;
        if this.ty.kind() == CKind::Pointer && this.address == 0 {
            return Err(PyRuntimeError::new_err(
                "cannot use unpack() on <cdata NULL>",
            ));
        }
        if item.cname() == "char" {
            // SAFETY: the Python user's promise: `length` bytes there.
            let bytes =
                unsafe { std::slice::from_raw_parts(this.address as *const u8, length as usize) };
            return Ok(PyBytes::new(py, bytes).into_any().unbind());
        }
        let items = (0..length as usize)
            .map(|k| {
                let value = read(py, &item, this.address + k * size, Some(cdata.as_any()))?;
                Ok(value)
            })
            .collect::<PyResult<Vec<_>>>()?;
        if matches!(item.cname().as_str(), "wchar_t" | "char16_t" | "char32_t") {
            let text: String = items
                .iter()
                .map(|s| s.bind(py).extract::<String>())
                .collect::<PyResult<String>>()?;
            return Ok(PyString::new(py, &text).into_any().unbind());
        }
        Ok(PyList::new(py, items)?.into_any().unbind())
    }

    /// `ffi.buffer(cdata, size=-1)`: the bytes of a cdata as a buffer, without a copy
    /// (the class itself, as CFFI's `ffi.buffer` is).
    #[classattr]
    fn buffer(py: Python<'_>) -> PyObject {
        py.get_type::<crate::buffer::BufferObject>()
            .into_any()
            .unbind()
    }

    /// Copies `n` bytes from `src` to `dest` (cdata pointers or arrays, or Python buffers),
    /// as C's memmove: the regions may overlap.
    fn memmove(&self, dest: &Bound<'_, PyAny>, src: &Bound<'_, PyAny>, n: isize) -> PyResult<()> {
        if n < 0 {
            return Err(PyValueError::new_err("negative size"));
        }
        let to = crate::buffer::address_of(dest, true)?;
        let from = crate::buffer::address_of(src, false)?;
        // SAFETY: the Python user's promise (the module's safety model): `n` bytes at each
        // address (checked against the size of a Python buffer or a sized cdata).
        unsafe { std::ptr::copy(from.0 as *const u8, to.0 as *mut u8, n as usize) };
        if to.1.is_some_and(|len| len < n as usize) || from.1.is_some_and(|len| len < n as usize) {
            return Err(PyValueError::new_err(
                "memmove() would go past the end of a buffer",
            ));
        }
        Ok(())
    }

    /// A cdata over a Python buffer (bytearray, memoryview, array.array, ...), without a
    /// copy, keeping the buffer alive: `from_buffer("char[]", bytearray(10))`.
    #[pyo3(signature = (cdecl, python_buffer = None, require_writable = false))]
    #[allow(clippy::wrong_self_convention)]
    fn from_buffer(
        &self,
        py: Python<'_>,
        cdecl: &Bound<'_, PyAny>,
        python_buffer: Option<&Bound<'_, PyAny>>,
        require_writable: bool,
    ) -> PyResult<Py<CDataObject>> {
        let made = (|| -> PyResult<CDataObject> {
            let (ty, buffer) = match python_buffer {
                Some(buffer) => (self.resolve(cdecl)?, buffer.clone()),
                None => (self.parse("char[]")?, cdecl.clone()),
            };
            if ty.kind() != CKind::Array && ty.kind() != CKind::Pointer {
                return Err(PyTypeError::new_err(format!(
                    "expected an array ctype, got '{}'",
                    ty.cname()
                )));
            }
            if buffer.downcast::<PyString>().is_ok()
                || (buffer.downcast::<PyBytes>().is_ok() && require_writable)
            {
                return Err(PyTypeError::new_err(
                    "from_buffer() cannot take a str, or bytes when writable memory is required",
                ));
            }
            let view = pyo3::buffer::PyBuffer::<u8>::get(
                &buffer.call_method0("__buffer__").unwrap_or(buffer.clone()),
            )
            .or_else(|_| {
                let memory = py
                    .import("builtins")?
                    .getattr("memoryview")?
                    .call1((&buffer,))?;
                let memory = memory.call_method1("cast", ("B",))?;
                pyo3::buffer::PyBuffer::<u8>::get(&memory)
            })?;
            if require_writable && view.readonly() {
                return Err(PyTypeError::new_err(
                    "from_buffer() requires a writable buffer",
                ));
            }
            let address = view.buf_ptr() as usize;
            let len = view.len_bytes();
            let item = ty.item().expect("array");
            let size = item.size().unwrap_or(1).max(1);
            let open = ty.kind() == CKind::Array && ty.is_open_array();
            drop(view);
            let mut made = CDataObject::plain(ty, address, Keep::Object(buffer.unbind()));
            if open {
                made.length = Some(len / size);
            }
            Ok(made)
        })()?;
        crate::slots::new(py, made)
    }

    /// A cdata equal to `cdata` that calls `destructor(cdata)` when it is collected (or on
    /// `ffi.release`); `destructor=None` removes a destructor.
    #[pyo3(signature = (cdata, destructor, size = 0))]
    fn gc(
        &self,
        py: Python<'_>,
        cdata: &Bound<'_, CDataObject>,
        destructor: Option<PyObject>,
        size: isize,
    ) -> PyResult<PyObject> {
        let _ = size;
        let this = cdata.get();
        let Some(destructor) = destructor else {
            // `gc(p, None)`: removes the destructor `gc` gave `p`.
            let removed = this.destructor.as_ref().and_then(|d| lock(&d.0).take());
            return match removed {
                Some(_) => Ok(py.None()),
                None => Err(PyTypeError::new_err(
                    "ffi.gc(p, None): p has no destructor to remove",
                )),
            };
        };
        let made = CDataObject {
            destructor: Some(Box::new(crate::cdata::Destructor(Mutex::new(Some((
                destructor,
                cdata.clone().into_any().unbind(),
            )))))),
            ..CDataObject::plain(
                this.ty.clone(),
                this.address,
                Keep::Object(cdata.clone().into_any().unbind()),
            )
        };
        Ok(crate::slots::new(py, made)?.into_any())
    }

    /// Runs a `gc` destructor now (or frees `new`'s memory early, as far as Python can).
    fn release(&self, py: Python<'_>, cdata: &Bound<'_, CDataObject>) -> PyResult<()> {
        let pending = cdata
            .get()
            .destructor
            .as_ref()
            .and_then(|d| lock(&d.0).take());
        if let Some((destructor, original)) = pending {
            destructor.call1(py, (original,))?;
        }
        Ok(())
    }

    /// A `void *` handle to a Python object, for C to carry and hand back
    /// (`from_handle`): valid while the handle cdata lives.
    fn new_handle(&self, py: Python<'_>, object: PyObject) -> PyResult<Py<CDataObject>> {
        let made = (|| -> PyResult<CDataObject> {
            let ty = self.parse("void *")?;
            let mut made = CDataObject::owning(ty, 1)?;
            made.address = match &made.keep {
                Keep::Owned(memory) => memory.address(),
                _ => unreachable!(),
            };
            made.owning = None;
            lock(&HANDLES).insert(made.address, object.clone_ref(py));
            let _ = py;
            made.handle = Some(Box::new(crate::cdata::Handle {
                object,
                address: made.address,
            }));
            Ok(made)
        })()?;
        crate::slots::new(py, made)
    }

    /// The object a `new_handle` handle stands for.
    #[allow(clippy::wrong_self_convention)]
    fn from_handle(&self, py: Python<'_>, handle: &Bound<'_, CDataObject>) -> PyResult<PyObject> {
        let address = handle.get().address;
        if address == 0 {
            return Err(PyRuntimeError::new_err(
                "cannot use from_handle() on NULL pointer",
            ));
        }
        lock(&HANDLES)
            .get(&address)
            .map(|object| object.clone_ref(py))
            .ok_or_else(|| PyRuntimeError::new_err("from_handle(): not a live handle"))
    }

    /// CFFI's `set_source`: with `source=None` (its out-of-line ABI mode, as build scripts
    /// write it) accepted and nothing more — this FFI is already usable in-line; with C
    /// source (API mode, which compiles C) refused: ffikit's API mode is the Rust
    /// build-script helper (crates/ffikit-api).
    #[pyo3(signature = (module_name, source, **_options))]
    fn set_source(
        &self,
        module_name: &str,
        source: Option<&Bound<'_, PyAny>>,
        _options: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<()> {
        match source {
            None => Ok(()),
            Some(_) => Err(pyo3::exceptions::PyNotImplementedError::new_err(format!(
                "set_source({module_name:?}, <C source>): CFFI's API mode compiles C, which \
                 ffikit for Python does not; declare with cdef() and dlopen() the library \
                 (ABI mode)"
            ))),
        }
    }

    /// The names declared so far: `(typedefs, structs, unions)`, each sorted.
    fn list_types(&self) -> (Vec<String>, Vec<String>, Vec<String>) {
        self.this.declared().user_types()
    }

    /// C's spelling of a type, optionally declaring `replace_with`: `getctype("int[5]",
    /// "a")` is `int a[5]`.
    #[pyo3(signature = (cdecl, replace_with = ""))]
    fn getctype(&self, cdecl: &Bound<'_, PyAny>, replace_with: &str) -> PyResult<String> {
        let ty = self.resolve(cdecl)?;
        let name = replace_with.trim();
        if name.is_empty() {
            return Ok(ty.cname());
        }
        let name = if name.starts_with('*') && ty.kind() == CKind::Array {
            format!("({name})")
        } else {
            name.to_owned()
        };
        Ok(ty.declaration(&name))
    }

    /// Runs `function()` once per `tag` for this FFI, and returns its result every time.
    fn init_once(&self, py: Python<'_>, function: PyObject, tag: &str) -> PyResult<PyObject> {
        let gate = match lock(&self.once).get(tag) {
            Some(Once::Done(result)) => return Ok(result.clone_ref(py)),
            Some(Once::Running(gate)) => Some(gate.clone_ref(py)),
            None => None,
        };
        let gate = match gate {
            Some(gate) => gate,
            None => {
                let made = py
                    .import("_thread")?
                    .call_method0("allocate_lock")?
                    .unbind();
                let mut states = lock(&self.once);
                match states.get(tag) {
                    Some(Once::Done(result)) => return Ok(result.clone_ref(py)),
                    Some(Once::Running(gate)) => gate.clone_ref(py),
                    None => {
                        states.insert(tag.to_owned(), Once::Running(made.clone_ref(py)));
                        made
                    }
                }
            }
        };
        // One caller at a time runs the function (a failure lets the next one try); the
        // others find its result. Acquiring a Python lock releases the GIL while it waits.
        let gate = gate.bind(py);
        gate.call_method0("acquire")?;
        let outcome = (|| {
            if let Some(Once::Done(result)) = lock(&self.once).get(tag) {
                return Ok(result.clone_ref(py));
            }
            let result = function.call0(py)?;
            lock(&self.once).insert(tag.to_owned(), Once::Done(result.clone_ref(py)));
            Ok(result)
        })();
        gate.call_method0("release")?;
        outcome
    }

    /// An allocator like `ffi.new` (CFFI's `new_allocator`; with the default allocator, the
    /// memory is ffikit's).
    #[pyo3(signature = (alloc = None, free = None, should_clear_after_alloc = true))]
    fn new_allocator(
        slf: &Bound<'_, Self>,
        alloc: Option<PyObject>,
        free: Option<PyObject>,
        should_clear_after_alloc: bool,
    ) -> PyResult<Allocator> {
        if alloc.is_none() && free.is_some() {
            return Err(PyTypeError::new_err("cannot pass 'free' without 'alloc'"));
        }
        Ok(Allocator {
            ffi: slf.clone().unbind(),
            alloc,
            free,
            clear: should_clear_after_alloc,
        })
    }

    /// A Python callable as a C function pointer of a declared type: `callback("int(*)(int)",
    /// f)`, or as a decorator, `@ffi.callback("int(int)")`. Keep the result alive while C
    /// may call it.
    #[pyo3(name = "callback", signature = (cdecl, python_callable = None, error = None, onerror = None))]
    fn callback_or_decorator(
        slf: &Bound<'_, Self>,
        cdecl: &Bound<'_, PyAny>,
        python_callable: Option<PyObject>,
        error: Option<PyObject>,
        onerror: Option<PyObject>,
    ) -> PyResult<PyObject> {
        let py = slf.py();
        let ty = crate::callbacks::function_pointer(slf.get().resolve(cdecl)?)?;
        match python_callable {
            Some(function) => {
                let made =
                    crate::callbacks::make(py, &slf.get().this, ty, function, error, onerror)?;
                Ok(crate::slots::new(py, made)?.into_any())
            }
            None => Ok(Py::new(
                py,
                CallbackDecorator {
                    ffi: slf.clone().unbind(),
                    ty,
                    error,
                    onerror,
                },
            )?
            .into_any()),
        }
    }

    /// errno as the last call of a library function on this thread left it.
    #[getter]
    fn errno(&self) -> i32 {
        crate::library::LAST_ERRNO.with(std::cell::Cell::get)
    }

    #[setter(errno)]
    fn set_errno(&self, value: i32) {
        // SAFETY: writing this thread's errno, always valid.
        unsafe { *libc::__errno_location() = value };
        crate::library::LAST_ERRNO.with(|last| last.set(value));
    }

    /// `ffi.NULL`.
    #[classattr]
    #[allow(non_snake_case)]
    fn NULL(py: Python<'_>) -> PyResult<Py<CDataObject>> {
        NULL.get_or_try_init(py, || {
            let ty = Library::this().ctype("void *").map_err(raise)?;
            crate::slots::new(py, CDataObject::plain(ty, 0, Keep::Nothing))
        })
        .map(|null| null.clone_ref(py))
    }

    #[classattr]
    #[allow(non_snake_case)]
    fn CData(py: Python<'_>) -> PyObject {
        crate::slots::cdata_type(py).into_any().unbind()
    }

    #[classattr]
    #[allow(non_snake_case)]
    fn CType(py: Python<'_>) -> PyObject {
        py.get_type::<CTypeObject>().into_any().unbind()
    }

    #[getter]
    fn error(&self, py: Python<'_>) -> PyResult<PyObject> {
        Ok(py.import("ffikit")?.getattr("FFIError")?.unbind())
    }

    #[classattr]
    const RTLD_LAZY: i32 = libc::RTLD_LAZY;
    #[classattr]
    const RTLD_NOW: i32 = libc::RTLD_NOW;
    #[classattr]
    const RTLD_GLOBAL: i32 = libc::RTLD_GLOBAL;
    #[classattr]
    const RTLD_LOCAL: i32 = libc::RTLD_LOCAL;
    #[classattr]
    const RTLD_NODELETE: i32 = libc::RTLD_NODELETE;
    #[classattr]
    const RTLD_NOLOAD: i32 = libc::RTLD_NOLOAD;
    #[classattr]
    const RTLD_DEEPBIND: i32 = libc::RTLD_DEEPBIND;
}

static NULL: pyo3::sync::GILOnceCell<Py<CDataObject>> = pyo3::sync::GILOnceCell::new();

/// Live `new_handle` handles: their address to their object.
pub(crate) static HANDLES: std::sync::LazyLock<Mutex<HashMap<usize, PyObject>>> =
    std::sync::LazyLock::new(Default::default);

/// `init_once`'s state for one tag.
enum Once {
    Running(PyObject),
    Done(PyObject),
}

/// CFFI's `ffi.error` (ffikit's `FFIError`) with `message`.
pub(crate) fn ffi_error(message: String) -> PyErr {
    Python::with_gil(
        |py| match py.import("ffikit").and_then(|m| m.getattr("FFIError")) {
            Ok(class) => match class.call1((message.clone(),)) {
                Ok(instance) => PyErr::from_value(instance),
                Err(error) => error,
            },
            Err(_) => PyValueError::new_err(message),
        },
    )
}
