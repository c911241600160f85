//! `ffi.dlopen(name, isolated=True)`: the library in a worker process (ffikit-abi's
//! `IsolatedLibrary`), its functions called with the same Python values as in-process. A
//! crash, `exit` or hang in C raises `ffikit.WorkerError`; the next call starts a new worker.
//!
//! The worker is this Python again, running `ffikit.run_worker()`. Buffers and objects a
//! cdata points to (`ffi.new("int *")`, `ffi.new("char[]", 64)`) are copied to the worker
//! for the call and C's writes copied back; `bytes` go in as read-only copies. Pointers C
//! returns come back as `ffikit.Handle`s, valid for that worker's lifetime.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyAttributeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use ffikit_abi::cdata::CKind;
use ffikit_abi::{
    Invocation, IsolatedCallback, IsolatedFunction, IsolatedLibrary, IsolatedOptions, Value,
};

use crate::errors::raise;

/// Serves as an isolated library's worker if this process was started as one (the worker
/// command `ffi.dlopen(..., isolated=True)` uses); returns otherwise.
#[pyfunction]
pub(crate) fn run_worker() {
    ffikit_abi::run_worker_if_requested();
}

/// Opens `name` in a worker process started as `python -c "import ffikit; ..."`.
pub(crate) fn open(
    py: Python<'_>,
    name: &str,
    headers: &[String],
    cdefs: &[String],
    timeout: Option<f64>,
) -> PyResult<IsolatedLib> {
    let executable: String = py.import("sys")?.getattr("executable")?.extract()?;
    let mut options = IsolatedOptions::new()
        .worker_command(executable, ["-c", "import ffikit; ffikit.run_worker()"]);
    if let Some(seconds) = timeout {
        options = options.timeout(std::time::Duration::from_secs_f64(seconds.max(0.0)));
    }
    let library = py
        .allow_threads(|| IsolatedLibrary::open_with(name, options))
        .map_err(raise)?;
    for header in headers {
        library
            .include(&ffikit_cdecl::Header::new(header.as_str()))
            .map_err(raise)?;
    }
    for text in cdefs {
        library.cdef(text).map_err(raise)?;
    }
    Ok(IsolatedLib {
        library,
        functions: Mutex::default(),
        callbacks: Arc::default(),
    })
}

/// The callbacks made in a library's workers for `ffi.callback` objects, by the object's
/// address here (kept as long as the library: C may hold the pointer).
type Callbacks = Arc<Mutex<HashMap<usize, IsolatedCallback>>>;

thread_local! {
    /// The invocations of isolated callbacks running on this thread, innermost last: while a
    /// callback's Python function runs, `lib.read`, `write` and `string` of its library go
    /// through it (the call in progress holds the worker).
    static INVOCATIONS: RefCell<Vec<*const ()>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with the invocation a callback of `library` is running in on this thread, if
/// any.
fn with_invocation<R>(
    library: &IsolatedLibrary,
    f: impl FnOnce(Option<&Invocation<'_>>) -> R,
) -> R {
    let innermost = INVOCATIONS.with(|stack| stack.borrow().last().copied());
    // SAFETY: the pointer was pushed by `run_callback` for an invocation that outlives the
    // push (it is popped before the invocation's borrow ends), on this thread.
    let invocation = innermost.map(|pointer| unsafe { &*pointer.cast::<Invocation<'_>>() });
    f(invocation.filter(|invocation| invocation.belongs_to(library)))
}

/// A Python function as the body of an isolated callback: its arguments as Python values
/// (pointers as `Handle`s), its result converted back; while it runs, reads and writes of
/// its library go through `invocation`.
fn run_callback(
    function: &PyObject,
    invocation: &Invocation<'_>,
    args: &[Value],
) -> Result<Value, ffikit_abi::CallbackError> {
    struct Popped;
    impl Drop for Popped {
        fn drop(&mut self) {
            INVOCATIONS.with(|stack| stack.borrow_mut().pop());
        }
    }
    Python::with_gil(|py| {
        let values = args
            .iter()
            .cloned()
            .map(|value| result_to_python(py, value))
            .collect::<PyResult<Vec<_>>>()?;
        let pointer = (invocation as *const Invocation<'_>).cast::<()>();
        INVOCATIONS.with(|stack| stack.borrow_mut().push(pointer));
        let _popped = Popped;
        let returned = function.call1(py, PyTuple::new(py, values)?)?;
        argument(returned.bind(py), 0, &mut Vec::new(), None)
    })
    .map_err(|error: PyErr| error.to_string().into())
}

/// A library opened with `ffi.dlopen(name, isolated=True)`.
#[pyclass(module = "ffikit", name = "IsolatedLib", frozen)]
pub(crate) struct IsolatedLib {
    library: IsolatedLibrary,
    functions: Mutex<HashMap<String, Py<IsolatedCall>>>,
    callbacks: Callbacks,
}

#[pymethods]
impl IsolatedLib {
    /// A declared function, called in the worker.
    fn __getattr__(&self, py: Python<'_>, name: &str) -> PyResult<Py<IsolatedCall>> {
        if name.starts_with("__") {
            return Err(PyAttributeError::new_err(name.to_owned()));
        }
        let mut functions = self.functions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(function) = functions.get(name) {
            return Ok(function.clone_ref(py));
        }
        let function =
            py.allow_threads(|| self.library.function(name))
                .map_err(|error| match error.kind() {
                    ffikit_abi::ErrorKind::DeclarationSyntax => PyAttributeError::new_err(format!(
                        "`{name}` is not declared (cdef it first): {error}"
                    )),
                    _ => raise(error),
                })?;
        let call = Py::new(
            py,
            IsolatedCall {
                function: Arc::new(function),
                callbacks: Arc::clone(&self.callbacks),
            },
        )?;
        functions.insert(name.to_owned(), call.clone_ref(py));
        Ok(call)
    }

    /// The worker's process id, or None between a fault and the next call.
    fn worker_pid(&self) -> Option<u32> {
        self.library.worker().map(|(pid, _)| pid)
    }

    /// The NUL-terminated string a handle points to in the worker.
    fn string(&self, py: Python<'_>, handle: &Bound<'_, Handle>) -> PyResult<PyObject> {
        let value = Value::Handle(handle.get().handle);
        let bytes = with_invocation(&self.library, |invocation| match invocation {
            Some(invocation) => invocation.read_string(&value),
            None => py.allow_threads(|| self.library.read_string(&value)),
        })
        .map_err(raise)?;
        Ok(PyBytes::new(py, &bytes).into_any().unbind())
    }

    /// The C object of type `cdecl` a handle points to in the worker, as a Python value
    /// (`lib.read(p, "int")`, `lib.read(p, "struct tm")`).
    fn read(&self, py: Python<'_>, handle: &Bound<'_, Handle>, cdecl: &str) -> PyResult<PyObject> {
        let value = Value::Handle(handle.get().handle);
        let read = with_invocation(&self.library, |invocation| match invocation {
            Some(invocation) => invocation.read(&value, cdecl),
            None => py.allow_threads(|| self.library.read(&value, cdecl)),
        })
        .map_err(raise)?;
        result_to_python(py, read)
    }

    /// Writes `value` as a C object of type `cdecl` where a handle points in the worker.
    fn write(
        &self,
        py: Python<'_>,
        handle: &Bound<'_, Handle>,
        cdecl: &str,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let target = Value::Handle(handle.get().handle);
        let value = argument(value, 0, &mut Vec::new(), None)?;
        with_invocation(&self.library, |invocation| match invocation {
            Some(invocation) => invocation.write(&target, cdecl, &value),
            None => py.allow_threads(|| self.library.write(&target, cdecl, &value)),
        })
        .map_err(raise)
    }
}

/// An address in an isolated library's worker: pass it back to that library's functions.
#[pyclass(module = "ffikit", name = "Handle", frozen)]
pub(crate) struct Handle {
    handle: ffikit_abi::Handle,
}

#[pymethods]
impl Handle {
    fn __repr__(&self) -> String {
        format!("<ffikit.Handle {}>", self.handle)
    }

    /// The address in the worker.
    #[getter]
    fn address(&self) -> usize {
        self.handle.address()
    }
}

/// One function of an isolated library.
#[pyclass(module = "ffikit", name = "IsolatedFunction", frozen)]
pub(crate) struct IsolatedCall {
    function: Arc<IsolatedFunction>,
    callbacks: Callbacks,
}

/// Where C's writes into an argument go back to: a cdata's memory.
struct CopyBack {
    index: usize,
    address: usize,
    len: usize,
}

#[pymethods]
impl IsolatedCall {
    #[pyo3(signature = (*args))]
    fn __call__(&self, py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<PyObject> {
        let mut values = Vec::with_capacity(args.len());
        let mut copy_back = Vec::new();
        let maker = CallbackMaker {
            library: self.function.library(),
            callbacks: &self.callbacks,
        };
        for (index, arg) in args.iter().enumerate() {
            values.push(argument(&arg, index, &mut copy_back, Some(&maker))?);
        }
        let function = &self.function;
        let result = py
            .allow_threads(|| function.call_mut(&mut values))
            .map_err(raise)?;
        for back in copy_back {
            if let Value::Bytes(bytes) = &values[back.index] {
                // SAFETY: the cdata's own memory, `len` bytes at its address, as measured
                // when the argument was made (a `new` object's size, an array's extent);
                // the object is one of the call's arguments, alive here.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        bytes.as_ptr(),
                        back.address as *mut u8,
                        back.len.min(bytes.len()),
                    )
                };
            }
        }
        result_to_python(py, result)
    }

    fn __repr__(&self) -> String {
        format!("<ffikit isolated function {}>", self.function.name())
    }
}

/// Makes `ffi.callback` objects callbacks of a library's worker.
struct CallbackMaker<'a> {
    library: &'a IsolatedLibrary,
    callbacks: &'a Callbacks,
}

impl CallbackMaker<'_> {
    /// The worker's function pointer for the callback object at `address` here (made on
    /// first use).
    fn handle(
        &self,
        py: Python<'_>,
        address: usize,
        signature: &str,
        function: &PyObject,
    ) -> PyResult<Value> {
        let function = function.clone_ref(py);
        // Without the GIL: another thread's call may hold the worker, and its callbacks need
        // the GIL to finish.
        py.allow_threads(|| {
            let mut callbacks = self.callbacks.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(callback) = callbacks.get(&address) {
                return callback.handle();
            }
            let callback =
                self.library
                    .callback("python callback", signature, move |invocation, args| {
                        run_callback(&function, invocation, args)
                    })?;
            let handle = callback.handle()?;
            callbacks.insert(address, callback);
            Ok(handle)
        })
        .map_err(raise)
    }
}

/// A Python argument as the isolated call takes it.
fn argument(
    arg: &Bound<'_, PyAny>,
    index: usize,
    copy_back: &mut Vec<CopyBack>,
    callbacks: Option<&CallbackMaker<'_>>,
) -> PyResult<Value> {
    if let Ok(handle) = arg.downcast::<Handle>() {
        return Ok(Value::Handle(handle.get().handle));
    }
    if let Ok(bytes) = arg.downcast::<PyBytes>() {
        // A read-only copy (in-process, CFFI passes bytes where they are).
        return Ok(Value::Bytes(bytes.as_bytes().to_vec()));
    }
    if let Ok(data) = crate::cdata::as_cdata(arg) {
        let data = data.get();
        if let (Some(parts), Some(maker)) = (&data.callback, callbacks) {
            // An `ffi.callback`: made again in the worker, its Python function run here.
            return maker.handle(arg.py(), data.address, &data.ty.cname(), &parts.function);
        }
        if matches!(data.kind(), CKind::Pointer | CKind::Array) {
            if data.address == 0 {
                return Ok(Value::Null);
            }
            // The memory it points to: a `new` object's, an array's, else one item.
            let item_size = data.ty.item().and_then(|item| item.size());
            let len = data
                .owning
                .or_else(|| match data.kind() {
                    CKind::Array => item_size.map(|size| size * data.array_len()),
                    _ => None,
                })
                .or(item_size)
                .ok_or_else(|| {
                    PyTypeError::new_err(format!(
                        "argument {}: cannot copy what a '{}' points to to the worker (its size is unknown)",
                        index + 1,
                        data.ty.cname()
                    ))
                })?;
            // SAFETY: the Python user's promise (the module's safety model, promise 4): the
            // cdata's address holds `len` bytes (its own memory for a `new` object).
            let bytes =
                unsafe { std::slice::from_raw_parts(data.address as *const u8, len) }.to_vec();
            copy_back.push(CopyBack {
                index,
                address: data.address,
                len,
            });
            return Ok(Value::Bytes(bytes));
        }
    }
    crate::convert::to_value(arg)
}

fn result_to_python(py: Python<'_>, value: Value) -> PyResult<PyObject> {
    match value {
        Value::Handle(handle) => Ok(Py::new(py, Handle { handle })?.into_any()),
        other => crate::convert::to_python(py, other),
    }
}
