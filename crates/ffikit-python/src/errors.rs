//! ffikit's typed errors as Python exceptions: `ffikit.Error`, and subclasses that are also
//! the built-in exception a Python user expects for the kind — a wrong type is a `TypeError`,
//! an out-of-range integer an `OverflowError`, a library that does not load an `OSError`,
//! an undeclared name an `AttributeError`, a malformed declaration a `ValueError` (with the
//! caret under the bad token, as ffikit prints it). Each carries ffikit's kind as `kind`.

use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::PyType;

use ffikit_abi::{Error, ErrorKind};

/// The exception classes, made when the module loads.
static CLASSES: GILOnceCell<Classes> = GILOnceCell::new();

struct Classes {
    error: Py<PyType>,
    cdef: Py<PyType>,
    type_error: Py<PyType>,
    overflow: Py<PyType>,
    library: Py<PyType>,
    symbol: Py<PyType>,
    callback: Py<PyType>,
    memory: Py<PyType>,
    conflict: Py<PyType>,
    type_string: Py<PyType>,
    worker: Py<PyType>,
}

/// Python source of the classes: multiple inheritance from `Error` and a built-in.
const DEFINITIONS: &std::ffi::CStr = c"
class Error(Exception):
    'Every ffikit error.'
class CDefError(Error, ValueError):
    'A declaration that does not parse or cannot be represented.'
class ArgumentTypeError(Error, TypeError):
    'A value of the wrong type, arity or shape for a C parameter.'
class ArgumentOverflowError(Error, OverflowError):
    'An integer or float out of the range of its C type.'
class LibraryError(Error, OSError):
    'A library that is not found or does not load.'
class SymbolError(Error, AttributeError):
    'A symbol the library does not export.'
class CallbackError(Error, RuntimeError):
    'A callback that failed where its Python exception could not be kept (C called it on a thread of its own).'
class FFIError(Error, TypeError):
    'The generic FFI error (ffi.error).'
class VerificationError(Error):
    'For API mode only (verify): not raised by ffikit.'
class VerificationMissing(Error):
    'For API mode only (verify): not raised by ffikit.'
class DeclarationConflictError(CDefError, FFIError):
    'A declaration that contradicts an earlier one (CFFI raises FFIError for these).'
class TypeStringError(CDefError, FFIError):
    'A type string (ffi.new, cast, typeof, ...) that does not parse: CFFI raises ffi.error, CDefError in its older API.'
class WorkerError(Error, OSError):
    'The worker process of an isolated library ended during a call (a signal, exit, its time limit), a handle of an ended worker, or a worker that could not start.'
class OutOfMemoryError(Error, MemoryError):
    'An allocation whose size the program chose, refused by the allocator.'
";

/// Adds the classes to the module.
pub(crate) fn add(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let namespace = pyo3::types::PyDict::new(py);
    namespace.set_item("__name__", "ffikit")?;
    py.run(DEFINITIONS, Some(&namespace), None)?;
    let class = |name: &str| -> PyResult<Py<PyType>> {
        let class = namespace
            .get_item(name)?
            .expect("defined above")
            .downcast_into::<PyType>()?;
        module.add(name, &class)?;
        Ok(class.unbind())
    };
    let classes = Classes {
        error: class("Error")?,
        cdef: class("CDefError")?,
        type_error: class("ArgumentTypeError")?,
        overflow: class("ArgumentOverflowError")?,
        library: class("LibraryError")?,
        symbol: class("SymbolError")?,
        callback: class("CallbackError")?,
        memory: class("OutOfMemoryError")?,
        conflict: class("DeclarationConflictError")?,
        type_string: class("TypeStringError")?,
        worker: class("WorkerError")?,
    };
    for name in ["FFIError", "VerificationError", "VerificationMissing"] {
        class(name)?;
    }
    let _ = CLASSES.set(py, classes);
    Ok(())
}

/// The Python exception for an error parsing a type string: a `TypeStringError` (both
/// `CDefError` and `FFIError`) for a declaration error, else as [`raise`].
pub(crate) fn raise_type_string(error: Error) -> PyErr {
    let syntax = error.kind() == ErrorKind::DeclarationSyntax;
    raise_as(
        error,
        syntax.then_some(|classes: &Classes| &classes.type_string),
    )
}

/// The Python exception for an ffikit error, with ffikit's message.
pub(crate) fn raise(error: Error) -> PyErr {
    raise_as(error, None)
}

fn raise_as(error: Error, chosen: Option<fn(&Classes) -> &Py<PyType>>) -> PyErr {
    Python::with_gil(|py| {
        let Some(classes) = CLASSES.get(py) else {
            return pyo3::exceptions::PyRuntimeError::new_err(error.to_string());
        };
        let class = match error.kind() {
            _ if chosen.is_some() => chosen.expect("just checked")(classes),
            ErrorKind::DeclarationSyntax if is_conflict(&error) => &classes.conflict,
            ErrorKind::DeclarationSyntax | ErrorKind::UnsupportedType | ErrorKind::Header => {
                &classes.cdef
            }
            ErrorKind::ArityMismatch
            | ErrorKind::TypeMismatch
            | ErrorKind::NullPointer
            | ErrorKind::InteriorNul
            | ErrorKind::UncheckedPointer => &classes.type_error,
            ErrorKind::OutOfRange | ErrorKind::TooLarge => &classes.overflow,
            ErrorKind::LibraryNotFound | ErrorKind::LibraryLoadError => &classes.library,
            ErrorKind::SymbolNotFound | ErrorKind::NotAFunction => &classes.symbol,
            ErrorKind::CallbackFailed => &classes.callback,
            ErrorKind::OutOfMemory => &classes.memory,
            ErrorKind::WorkerFault | ErrorKind::StaleHandle | ErrorKind::WorkerFailed => {
                &classes.worker
            }
            _ => &classes.error,
        };
        // The whole chain, as the Rust side prints it: a declaration's error has the line,
        // the caret under the bad token and the reason in its source.
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        // The instance, with the kind as ffikit names it (`error.kind == "OutOfRange"`).
        let made = class.bind(py).call1((message,)).and_then(|instance| {
            instance.setattr("kind", format!("{:?}", error.kind()))?;
            Ok(instance)
        });
        match made {
            Ok(instance) => PyErr::from_value(instance),
            Err(failure) => failure,
        }
    })
}

/// A `TypeStringError` (both `CDefError` and `ffi.error`) with `message`: a type string
/// that parses but names a type the operation cannot take.
pub(crate) fn type_string_error(message: String) -> PyErr {
    Python::with_gil(|py| {
        let Some(classes) = CLASSES.get(py) else {
            return pyo3::exceptions::PyValueError::new_err(message);
        };
        match classes.type_string.bind(py).call1((message,)) {
            Ok(instance) => PyErr::from_value(instance),
            Err(failure) => failure,
        }
    })
}

/// Whether a declaration error is a redefinition that contradicts the first one.
fn is_conflict(error: &Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(cdecl) = cause.downcast_ref::<ffikit_cdecl::Error>() {
            return cdecl.kind() == ffikit_cdecl::ErrorKind::Redefinition;
        }
        source = cause.source();
    }
    false
}

/// A wrong argument for a C parameter, as ffikit raises it (`ArgumentTypeError`, a
/// `TypeError`, of kind `TypeMismatch`).
pub(crate) fn argument_type_error(message: String) -> PyErr {
    Python::with_gil(|py| {
        let Some(classes) = CLASSES.get(py) else {
            return pyo3::exceptions::PyTypeError::new_err(message);
        };
        let made = classes
            .type_error
            .bind(py)
            .call1((message,))
            .and_then(|instance| {
                instance.setattr("kind", "TypeMismatch")?;
                Ok(instance)
            });
        match made {
            Ok(instance) => PyErr::from_value(instance),
            Err(failure) => failure,
        }
    })
}
