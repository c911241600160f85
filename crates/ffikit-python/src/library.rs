//! A library opened by `ffi.dlopen`: its functions as `METH_FASTCALL` builtins, its globals
//! read and written as cdata, its constants.

use std::sync::Arc;

use pyo3::exceptions::{PyAttributeError, PyRuntimeError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use ffikit_abi::cdata::{CKind, CType};
use ffikit_abi::{Library, OwnedFunction, Value};
use ffikit_cdecl::MacroValue;

use crate::cdata::{CDataObject, Keep};
use crate::convert::to_python;
use crate::errors::raise;

/// Every library `dlopen` opened, kept loaded for the life of the process.
pub(crate) static LOADED: std::sync::Mutex<Vec<Arc<Library>>> = std::sync::Mutex::new(Vec::new());

/// A library opened by `dlopen`: its declared functions as attributes.
#[pyclass(module = "ffikit", name = "Lib", frozen, dict, weakref)]
pub(crate) struct Lib {
    pub(crate) library: Arc<Library>,
    /// The `cdef` texts it was opened with (for `check`).
    pub(crate) cdefs: Vec<String>,
    /// Functions declared with `release_gil=True`.
    pub(crate) release_gil: std::collections::HashSet<String>,
    /// Static variables `cdef` declared whose value is not an integer constant: there is
    /// nothing to read in the library (CFFI's ABI mode raises NotImplementedError).
    pub(crate) statics: std::collections::HashSet<String>,
    /// The FFI that opened it, kept alive with it (as CFFI's libraries keep theirs).
    pub(crate) _ffi: Py<crate::ffi::Ffi>,
    /// `ffi.dlclose` was called.
    pub(crate) closed: std::sync::atomic::AtomicBool,
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

    /// A function (bound once, then found in `__dict__` without coming here), a global
    /// variable (read each time: C may change it), or a constant.
    fn __getattr__(slf: &Bound<'_, Self>, name: &str) -> PyResult<PyObject> {
        let py = slf.py();
        let this = slf.get();
        if this.closed.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(closed(&this.library));
        }
        if name.starts_with("__") {
            return Err(PyAttributeError::new_err(name.to_owned()));
        }
        let library = &this.library;
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
        if let Some((ty, address)) = global(library, name)? {
            if ty.is_open_array() {
                // `extern int table[];`: as CFFI, an `int *` to its first element (no length).
                let item = ty.item().expect("an array has an item");
                let pointer = CDataObject::plain(item.pointer_to(), address, Keep::Nothing);
                return Ok(crate::slots::new(py, pointer)?.into_any());
            }
            return crate::cdata::read(py, &ty, address, None);
        }
        // SAFETY: the declaration is the Python user's (the module's safety model, promise 2).
        let function = match unsafe { OwnedFunction::get(library, name) } {
            Ok(function) => function,
            Err(_) if this.statics.contains(name) => {
                return Err(pyo3::exceptions::PyNotImplementedError::new_err(format!(
                    "'{name}' cannot be accessed from a dlopen() library: a static variable \
                     has no symbol (only an integer `static const` with a constant value is \
                     read, as a constant)"
                )));
            }
            Err(error) if error.kind() == ffikit_abi::ErrorKind::DeclarationSyntax => {
                return Err(PyAttributeError::new_err(format!(
                    "`{name}` is not declared (cdef it first): {error}"
                )));
            }
            Err(error) => return Err(raise(error)),
        };
        let signature = library.ctype_of(name).and_then(|ty| ty.signature());
        let (params, variadic) = signature
            .as_ref()
            .map(|(_, params, variadic)| (params.clone(), *variadic))
            .unwrap_or_default();
        let function = explicit_nulls(function, &params);
        let result = signature.map(|(result, _, _)| result).filter(wraps_result);
        let releases = this.release_gil.contains(name);
        let pointer = address_of(this, name).ok();
        let parameters = (params, variadic);
        let builtin = fastcall::builtin(py, name, function, releases, result, parameters, pointer)?;
        // Kept in the instance dict: the next `lib.name` finds it there directly.
        slf.getattr(pyo3::intern!(py, "__dict__"))?
            .downcast::<PyDict>()?
            .set_item(name, &builtin)?;
        Ok(builtin)
    }

    /// Writes a global variable.
    fn __setattr__(slf: &Bound<'_, Self>, name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        if slf.get().closed.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(closed(&slf.get().library));
        }
        match global(&slf.get().library, name)? {
            // `extern int table[];` set from a list: its items written from the start (the
            // length is the declaration's promise, as in C).
            Some((ty, address)) if ty.is_open_array() => {
                crate::cdata::write_array(&ty, value.len()?, address, value, 0)
            }
            Some((ty, address)) => crate::cdata::write(&ty, address, value, 0),
            None => Err(PyAttributeError::new_err(format!(
                "cannot set '{name}': it is not a declared global variable"
            ))),
        }
    }

    fn __dir__(&self) -> Vec<String> {
        let declared = self.library.declared();
        declared
            .functions()
            .map(|f| f.name.clone())
            .chain(declared.variables().map(|v| v.name.clone()))
            .chain(declared.constants().map(|(n, _)| n.to_owned()))
            .chain(declared.macros().map(|(n, _)| n.to_owned()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    }
}

/// CFFI's error for a closed library.
fn closed(library: &Library) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(format!(
        "library '{}' has already been closed",
        library.name()
    ))
}

/// `ffi.addressof(lib, name)`: a pointer to a global (its type's pointer type), or a
/// function pointer to a function.
pub(crate) fn address_of(lib: &Lib, name: &str) -> PyResult<(CType, usize)> {
    if let Some((ty, address)) = global(&lib.library, name)? {
        return Ok((ty.pointer_to(), address));
    }
    let ty = lib
        .library
        .ctype_of(name)
        .ok_or_else(|| PyAttributeError::new_err(format!("'{name}' is not declared")))?;
    // SAFETY: the declaration is the Python user's (promise 2).
    let function = unsafe { ffikit_abi::Library::get(&lib.library, name) }.map_err(raise)?;
    Ok((ty.pointer_to(), function.address()))
}

/// CFFI's rule for NULL: an explicit `ffi.NULL` passes where C takes a `char *` (as C allows
/// and C APIs take, `pango_language_from_string(NULL)`), so the engine's NULL check for
/// string parameters is lifted; `None` there is still refused, by the conversion
/// ([`crate::cdata::argument`]): it is what a missing value looks like, and `strlen(NULL)`
/// is undefined behaviour.
fn explicit_nulls(mut function: OwnedFunction, params: &[CType]) -> OwnedFunction {
    for (index, param) in params.iter().enumerate() {
        if is_char_pointer(param) {
            function = function.allow_null(index);
        }
    }
    function
}

/// A `char *` (any qualifiers, any character signedness).
pub(crate) fn is_char_pointer(ty: &CType) -> bool {
    use ffikit_abi::cdata::Scalar;
    ty.kind() == CKind::Pointer
        && ty.item_ref().is_some_and(|item| {
            item.kind() == CKind::Primitive
                && matches!(
                    item.scalar(),
                    Some(Scalar::Char | Scalar::SChar | Scalar::UChar)
                )
        })
}

/// A C result as the Python object a call returns (a struct or union: an owning cdata).
pub(crate) fn result_object(py: Python<'_>, ty: &CType, value: Value) -> PyResult<PyObject> {
    fastcall::typed_result(py, ty, value)
}

/// The C function pointer (type and address) a library function's Python object stands
/// for: `lib.f` is a builtin whose `self` knows it.
pub(crate) fn function_pointer(object: &pyo3::Bound<'_, PyAny>) -> Option<(CType, usize)> {
    if !object.is_instance_of::<pyo3::types::PyCFunction>() {
        return None;
    }
    let this = object
        .getattr(pyo3::intern!(object.py(), "__self__"))
        .ok()?;
    let bound = this.downcast::<fastcall::Bound>().ok()?;
    bound.get().pointer.clone()
}

/// A declared global variable's type and address.
fn global(library: &Library, name: &str) -> PyResult<Option<(CType, usize)>> {
    let declared = library.declared();
    if declared.variable(name).is_none() {
        return Ok(None);
    }
    let Some(ty) = library.ctype_of(name) else {
        return Ok(None);
    };
    // SAFETY: the declaration is the Python user's (promise 2).
    let global = unsafe { library.global(name) }.map_err(raise)?;
    let address = global.address().as_address().unwrap_or(0);
    Ok(Some((ty, address)))
}

/// Results converted by their C type rather than as plain numbers: pointers (a cdata),
/// structs and unions (an owning cdata), `char` (bytes), wide characters, enums.
fn wraps_result(ty: &CType) -> bool {
    match ty.kind() {
        CKind::Pointer | CKind::Struct | CKind::Union | CKind::Array => true,
        CKind::Primitive => matches!(
            ty.cname().as_str(),
            "char" | "wchar_t" | "char16_t" | "char32_t"
        ),
        _ => false,
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
        /// Declared with `release_gil=True`: the GIL is released around every call.
        releases_gil: bool,
        /// The result's C type, when the result is converted by it (a pointer is a cdata).
        result: Option<CType>,
        /// The fixed parameters' C types (a variadic call's others have none).
        params: Vec<CType>,
        /// Variadic: the arguments past `params` must be cdata, whose types say how C takes
        /// them (CFFI's rule: a Python int has no C type to pass as).
        variadic: bool,
        /// Per parameter, the value a struct or union argument was last copied into, reused
        /// by the next call (a struct passed by value call after call allocates once).
        /// Under the GIL, which every take and give-back holds (no atomic per call); a value
        /// is out of its cell for the call, so a call made meanwhile makes its own.
        scratch: Vec<pyo3::sync::GILProtected<std::cell::Cell<Option<ffikit_abi::CData>>>>,
        /// The function as a C function pointer: its type and address (`ffi.typeof(lib.f)`,
        /// `ffi.cast("void *", lib.f)`, passing `lib.f` where C takes a function pointer).
        pub(super) pointer: Option<(CType, usize)>,
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
        result: Option<CType>,
        (params, variadic): (Vec<CType>, bool),
        pointer: Option<(CType, usize)>,
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
                result,
                scratch: params
                    .iter()
                    .map(|_| pyo3::sync::GILProtected::new(std::cell::Cell::new(None)))
                    .collect(),
                params,
                variadic,
                releases_gil: releases_gil || (0..64).any(|i| function.takes_callback(i)),
                function,
                pointer,
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
        // The commonest calls — ints, floats and bytes only — read straight into their
        // values (nothing to drop), or, at the first other argument, the general loop below.
        if args.len() <= INLINE && (!bound.variadic || args.len() <= bound.params.len()) {
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
                return finish(py, bound, call_c(py, function, values, releases), args);
            }
        }
        // Any argument: an int, float or bytes through the C API, else as its Python object
        // converts (a cdata where C takes a pointer: its address; a struct cdata by value:
        // its bytes, copied into the parameter's scratch value when it is free).
        let mut temporaries = Vec::new();
        let mut values = arrayvec::ArrayVec::<Value, INLINE>::new();
        let mut spilled = Vec::new();
        for (index, &arg) in args.iter().enumerate() {
            if bound.variadic && index >= bound.params.len() {
                // SAFETY: a borrowed, live argument of this call; the GIL is held.
                let arg = unsafe { pyo3::Borrowed::from_ptr(py, arg) };
                if crate::cdata::as_cdata(&arg).is_err() {
                    return Err(PyTypeError::new_err(format!(
                        "argument {} passed in the variadic part needs to be a cdata object \
                         (got {})",
                        index + 1,
                        arg.get_type().name()?
                    )));
                }
            }
            // SAFETY: a borrowed, live argument of this call; the GIL is held.
            let value = match unsafe { plain_value(arg) } {
                Some(value) => value,
                None => {
                    // SAFETY: as above (borrowed: no reference count touched).
                    let arg = unsafe { pyo3::Borrowed::from_ptr(py, arg) };
                    let arg: &pyo3::Bound<'_, PyAny> = &arg;
                    match by_value(bound, index, arg) {
                        Some(value) => value,
                        None => {
                            let param = bound.params.get(index);
                            crate::cdata::refuse_none_string(param, arg, || {
                                format!(
                                    "argument {} of `{}`",
                                    index + 1,
                                    bound._name.to_string_lossy()
                                )
                            })?;
                            crate::cdata::argument(param, arg, &mut temporaries)?
                        }
                    }
                }
            };
            if let Err(full) = values.try_push(value) {
                spilled.push(full.element());
            }
        }
        let result = if spilled.is_empty() {
            call_c(py, function, &values, releases)
        } else {
            let all: Vec<Value> = values.drain(..).chain(spilled.drain(..)).collect();
            let result = call_c(py, function, &all, releases);
            values.extend(all.into_iter().take(INLINE));
            result
        };
        // Drained in place (moving the ArrayVec out would copy all its slots).
        for (index, value) in values.drain(..).enumerate() {
            match value {
                Value::Data(data) if index < bound.scratch.len() => {
                    let slot = bound.scratch[index].get(py);
                    let previous = slot.replace(Some(data));
                    if previous.is_some() {
                        // A call made during this one gave its own back first: keep one.
                        slot.set(previous);
                    }
                }
                other => dispose(other),
            }
        }
        drop(temporaries);
        finish(py, bound, result, args)
    }

    /// A struct or union cdata passed by value to a parameter of its type, copied into the
    /// parameter's scratch value (None when the argument is anything else, the scratch is in
    /// use — a callback calling the same function — or of another layout).
    fn by_value(bound: &Bound, index: usize, arg: &pyo3::Bound<'_, PyAny>) -> Option<Value> {
        let param = bound.params.get(index)?;
        if !matches!(param.kind(), CKind::Struct | CKind::Union) {
            return None;
        }
        let data = crate::cdata::as_cdata(arg).ok()?.get();
        if !matches!(data.ty.kind(), CKind::Struct | CKind::Union) {
            return None;
        }
        let mut scratch = bound.scratch[index].get(arg.py()).take()?;
        // SAFETY: the Python user's promise (the module's safety model): the cdata's memory
        // holds a value of its type; the scratch value is this builtin's own, never lent.
        match unsafe { data.ty.copy_into(data.address, &mut scratch) } {
            Ok(true) => Some(Value::Data(scratch)),
            _ => None,
        }
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
        let on_this_thread =
            crate::callbacks::CALLBACK_EXCEPTION.with(|slot| slot.borrow_mut().take());
        let mut from_arguments = None;
        for &arg in args {
            // SAFETY: a borrowed, live argument of this call; the GIL is held.
            let arg = unsafe { pyo3::Bound::from_borrowed_ptr(py, arg) };
            if let Ok(callback) = crate::cdata::as_cdata(&arg) {
                if let Some(parts) = &callback.get().callback {
                    let kept = parts
                        .exception
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .take();
                    from_arguments = from_arguments.or(kept);
                }
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
        bound: &Bound,
        result: Result<Value, ffikit_abi::Error>,
        args: &[*mut ffi::PyObject],
    ) -> PyResult<PyObject> {
        let value = match result {
            Ok(value) => value,
            Err(error) => return Err(call_error(py, error, args)),
        };
        if let Some(ty) = &bound.result {
            return typed_result(py, ty, value);
        }
        if let Value::Int(i) = value {
            // An int owns nothing: forgotten, not run through the drop glue.
            std::mem::forget(value);
            // SAFETY: a new reference to an int, or NULL with an exception set.
            return unsafe { PyObject::from_owned_ptr_or_err(py, ffi::PyLong_FromLongLong(i)) };
        }
        if let Value::Float(x) = value {
            std::mem::forget(value);
            // SAFETY: a new reference to a float, or NULL with an exception set.
            return unsafe { PyObject::from_owned_ptr_or_err(py, ffi::PyFloat_FromDouble(x)) };
        }
        to_python(py, value)
    }

    /// A result converted by its C type: a pointer as a cdata of its type, a struct as an
    /// owning cdata, a `char` as bytes.
    #[cold]
    pub(super) fn typed_result(py: Python<'_>, ty: &CType, value: Value) -> PyResult<PyObject> {
        match ty.kind() {
            CKind::Pointer => {
                let address = match value {
                    Value::Pointer(address) | Value::Text { address, .. } => address,
                    _ => 0,
                };
                Ok(
                    crate::slots::new(py, CDataObject::plain(ty.clone(), address, Keep::Nothing))?
                        .into_any(),
                )
            }
            CKind::Struct | CKind::Union => {
                let made = CDataObject::owning(ty.clone(), ty.size().unwrap_or(0))?;
                match value {
                    Value::Data(data) => {
                        let bytes = data.bytes();
                        // SAFETY: `made` owns `ty.size()` bytes, the size of `data`.
                        unsafe {
                            std::ptr::copy_nonoverlapping(
                                bytes.as_ptr(),
                                made.address as *mut u8,
                                bytes.len().min(made.owning.unwrap_or(0)),
                            )
                        };
                    }
                    // SAFETY: memory just allocated for this type.
                    other => unsafe { ty.write(made.address, &other) }.map_err(raise)?,
                }
                Ok(crate::slots::new(
                    py,
                    CDataObject {
                        owning: None,
                        ..made
                    },
                )?
                .into_any())
            }
            _ => crate::cdata::to_python(py, value, ty),
        }
    }
}

thread_local! {
    /// errno as the last call through the module on this thread left it (`ffi.errno`).
    pub(crate) static LAST_ERRNO: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
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

/// Calls the function a function pointer cdata points to (its type is the signature), with
/// arguments converted as for a library function.
pub(crate) fn call_pointer(
    py: Python<'_>,
    ty: &CType,
    address: usize,
    args: &Bound<'_, pyo3::types::PyTuple>,
) -> PyResult<PyObject> {
    static PROCESS: std::sync::LazyLock<Arc<Library>> =
        std::sync::LazyLock::new(|| Arc::new(Library::this()));
    // SAFETY: the Python user's promise (the module's safety model, promise 2): the pointer
    // is to a function of its declared type.
    let function = unsafe { OwnedFunction::at(&PROCESS, ty, address) }.map_err(raise)?;
    let (result_ty, params, _) = ty.signature().expect("a function pointer");
    let function = explicit_nulls(function, &params);
    let mut temporaries = Vec::new();
    let values = args
        .iter()
        .enumerate()
        .map(|(index, arg)| {
            crate::cdata::refuse_none_string(params.get(index), &arg, || {
                format!("argument {} of `{}`", index + 1, ty.cname())
            })?;
            crate::cdata::argument(params.get(index), &arg, &mut temporaries)
        })
        .collect::<PyResult<Vec<Value>>>()?;
    // SAFETY: as above, for the arguments (promise 3).
    let result = unsafe { function.call(&values) };
    drop(temporaries);
    let value = result.map_err(raise)?;
    if wraps_result(&result_ty) {
        return fastcall::typed_result(py, &result_ty, value);
    }
    to_python(py, value)
}
