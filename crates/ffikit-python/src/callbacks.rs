//! `ffi.callback`: a Python callable as a C function pointer, a cdata of the function
//! pointer type (callable from Python too). Arguments reach the callable as CFFI gives them
//! (pointers as cdata, `char` as bytes); its result is converted to the declared result
//! type.
//!
//! A callable that raises: with `onerror=`, CFFI's rule — `onerror(type, value, traceback)`
//! is called and its result (if not None) returned to C, else `error`. Without it, ffikit's
//! rule (stricter than CFFI's print-and-continue): C gets `error` (or zero) and the foreign
//! call raises the callable's own exception once C returns.

use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyNotImplementedError;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use ffikit_abi::cdata::{CKind, CType};
use ffikit_abi::{Library, Value};

use crate::cdata::{CDataObject, CallbackParts, Keep, pointer_value, read, scalar_value};
use crate::errors::raise;

thread_local! {
    /// The first exception a callback raised on this thread, for the foreign call that led
    /// to it to raise once C returns.
    pub(crate) static CALLBACK_EXCEPTION: std::cell::RefCell<Option<PyErr>> =
        const { std::cell::RefCell::new(None) };
}

/// A Python value for a callback argument of type `ty`.
fn argument(py: Python<'_>, ty: &CType, value: Value) -> PyResult<PyObject> {
    match ty.kind() {
        CKind::Pointer => {
            let address = match value {
                Value::Pointer(address) => address,
                Value::Text { address, .. } => address,
                _ => 0,
            };
            Ok(
                crate::slots::new(py, CDataObject::plain(ty.clone(), address, Keep::Nothing))?
                    .into_any(),
            )
        }
        CKind::Struct | CKind::Union => {
            let object = CDataObject::owning(ty.clone(), ty.size().unwrap_or(0))?;
            // SAFETY: memory just allocated for this type.
            unsafe { ty.write(object.address, &value) }.map_err(raise)?;
            Ok(crate::slots::new(py, object)?.into_any())
        }
        _ => crate::cdata::to_python(py, value, ty),
    }
}

/// The C value of a callable's result, for the result type.
fn result_value(ty: &CType, object: &Bound<'_, PyAny>) -> PyResult<Value> {
    match ty.kind() {
        CKind::Void => {
            if !object.is_none() {
                // As CFFI: reported, not raised (C expects nothing back).
                PyTypeError::new_err(format!(
                    "callback with a void result returned {} instead of None",
                    object.repr()?
                ))
                .print(object.py());
            }
            Ok(Value::Void)
        }
        CKind::Pointer => {
            let address = pointer_value(ty, object)?;
            Ok(if address == 0 {
                Value::Null
            } else {
                Value::Pointer(address)
            })
        }
        CKind::Struct | CKind::Union => {
            let made = CDataObject::owning(ty.clone(), ty.size().unwrap_or(0))?;
            crate::cdata::write(ty, made.address, object, 0)?;
            // SAFETY: memory just written for this type.
            Ok(Value::Data(
                unsafe { ty.copy_to_data(made.address) }.map_err(raise)?,
            ))
        }
        _ => scalar_value(ty, object),
    }
}

/// The function pointer type of a signature: `int(*)(int)`, or a function type made a
/// pointer.
pub(crate) fn function_pointer(ty: CType) -> PyResult<CType> {
    match ty.kind() {
        CKind::Function => Ok(ty.pointer_to()),
        CKind::Pointer if ty.item().is_some_and(|i| i.kind() == CKind::Function) => Ok(ty),
        _ => Err(PyTypeError::new_err(format!(
            "expected a function or function pointer type, not '{}'",
            ty.cname()
        ))),
    }
}

/// `ffi.callback(type, function, error, onerror)`.
pub(crate) fn make(
    py: Python<'_>,
    this: &Library,
    ty: CType,
    function: PyObject,
    error: Option<PyObject>,
    onerror: Option<PyObject>,
) -> PyResult<CDataObject> {
    let ty = function_pointer(ty)?;
    if !function.bind(py).is_callable() {
        return Err(PyTypeError::new_err(format!(
            "expected a callable object, not {}",
            function.bind(py).get_type().name()?
        )));
    }
    if let Some(onerror) = &onerror {
        if !onerror.bind(py).is_callable() {
            return Err(PyTypeError::new_err("onerror must be callable"));
        }
    }
    let (result, params, _) = ty.signature().expect("a function pointer");
    let error_value = match &error {
        Some(error) if result.kind() != CKind::Void => Some(result_value(&result, error.bind(py))?),
        _ => None,
    };
    let exception = Arc::new(Mutex::new(None));
    let kept = Arc::clone(&exception);
    let (body, on_error, result_ty) = (
        function.clone_ref(py),
        onerror.as_ref().map(|o| o.clone_ref(py)),
        result.clone(),
    );
    let error_for_body = error_value.clone();
    let callback = this
        .callback("python callback", &ty.cname(), move |args| {
            // Called from C, on whatever thread: the GIL taken for the Python callable.
            Python::with_gil(|py| {
                let run = || -> PyResult<Value> {
                    let args = args
                        .iter()
                        .zip(&params)
                        .map(|(value, ty)| argument(py, ty, value.clone()))
                        .collect::<PyResult<Vec<_>>>()?;
                    let tuple = PyTuple::new(py, args)?;
                    result_value(&result_ty, &body.bind(py).call1(tuple)?)
                };
                match run() {
                    Ok(value) => Ok(value),
                    Err(error) => {
                        if let Some(on_error) = &on_error {
                            let traceback = error.traceback(py).map(|t| t.into_any().unbind());
                            let handled = on_error.bind(py).call1((
                                error.get_type(py),
                                error.value(py),
                                traceback,
                            ));
                            return match handled {
                                Ok(value) if !value.is_none() => {
                                    Ok(result_value(&result_ty, &value).unwrap_or(Value::Void))
                                }
                                Ok(_) => Ok(error_for_body.clone().unwrap_or(zero(&result_ty))),
                                Err(failure) => {
                                    failure.print(py);
                                    Ok(error_for_body.clone().unwrap_or(zero(&result_ty)))
                                }
                            };
                        }
                        let text = error.to_string();
                        *kept.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.clone_ref(py));
                        CALLBACK_EXCEPTION.with(|slot| {
                            slot.borrow_mut().get_or_insert(error);
                        });
                        Err(text.into())
                    }
                }
            })
        })
        .map_err(|error| match error.kind() {
            // CFFI's answer for a signature libffi cannot build a closure for (a struct
            // with bitfields by value, a variadic callback).
            ffikit_abi::ErrorKind::UnsupportedType => PyNotImplementedError::new_err(format!(
                "{}: callback with unsupported argument or return type or with '...'",
                ty.cname()
            )),
            _ => raise(error),
        })?;
    let callback = match &error_value {
        Some(value) => callback.on_error(value).map_err(raise)?,
        None => callback,
    };
    let address = callback.address().as_address().unwrap_or(0);
    Ok(CDataObject {
        callback: Some(Box::new(CallbackParts {
            callback,
            function,
            error,
            onerror,
            exception,
        })),
        ..CDataObject::plain(ty, address, Keep::Nothing)
    })
}

/// The zero of a result type (what C gets from a failed callback without `error`).
fn zero(ty: &CType) -> Value {
    match ty.kind() {
        CKind::Void => Value::Void,
        CKind::Pointer => Value::Null,
        _ => match ty.scalar() {
            Some(s) if s.is_floating() => Value::Float(0.0),
            _ => Value::Int(0),
        },
    }
}

/// A callback cdata called from Python: the arguments converted as C would see them, the
/// callable run with the same error rules as a call from C (its exception propagates when
/// there is no `onerror`/`error`).
pub(crate) fn call_from_python(
    py: Python<'_>,
    ty: &CType,
    parts: &CallbackParts,
    args: &Bound<'_, PyTuple>,
) -> PyResult<PyObject> {
    let (result, params, variadic) = ty.signature().expect("a function pointer");
    if args.len() != params.len() && !(variadic && args.len() >= params.len()) {
        return Err(PyTypeError::new_err(format!(
            "'{}' expects {} arguments, got {}",
            ty.cname(),
            params.len(),
            args.len()
        )));
    }
    let mut converted = Vec::with_capacity(args.len());
    let mut temporaries = Vec::new();
    for (arg, param) in args.iter().zip(&params) {
        // As C would see it: a pointer from what a call accepts (lists as temporary arrays,
        // bytes for `char *`), anything else written to memory of the parameter's type and
        // read back.
        let value = match param.kind() {
            // By value: the callable gets its own copy, as C's callee does.
            CKind::Struct | CKind::Union => {
                let made = CDataObject::owning(param.clone(), param.size().unwrap_or(0))?;
                crate::cdata::write(param, made.address, &arg, 0)?;
                crate::slots::new(py, made)?.into_any()
            }
            CKind::Pointer => {
                let address = match crate::cdata::argument(Some(param), &arg, &mut temporaries)? {
                    Value::Pointer(address) => address,
                    _ => 0,
                };
                crate::slots::new(
                    py,
                    CDataObject::plain(param.clone(), address, Keep::Nothing),
                )?
                .into_any()
            }
            _ => {
                let made = CDataObject::owning(param.clone(), param.size().unwrap_or(0))?;
                crate::cdata::write(param, made.address, &arg, 0)?;
                let keep = crate::slots::new(py, made)?;
                let address = keep.get().address;
                read(py, param, address, Some(keep.bind(py).as_any()))?
            }
        };
        converted.push(value);
    }
    let tuple = PyTuple::new(py, converted)?;
    // The callable, then its result as the result type (range-checked as C would store
    // it): a failure of either is the callback's failure (C would get `error`).
    let outcome = parts
        .function
        .bind(py)
        .call1(tuple)
        .and_then(|value| result_value(&result, &value))
        .and_then(|value| stored(&result, value));
    drop(temporaries);
    match outcome {
        Ok(value) => returned(py, &result, value),
        Err(error) => {
            if let Some(onerror) = &parts.onerror {
                let traceback = error.traceback(py).map(|t| t.into_any().unbind());
                let handled =
                    onerror
                        .bind(py)
                        .call1((error.get_type(py), error.value(py), traceback))?;
                if !handled.is_none() {
                    return returned(py, &result, result_value(&result, &handled)?);
                }
            } else if parts.error.is_none() {
                let _ = &parts.exception;
                return Err(error);
            } else {
                error.print(py);
            }
            match &parts.error {
                Some(error) => returned(py, &result, result_value(&result, error.bind(py))?),
                None => returned(py, &result, zero(&result)),
            }
        }
    }
}

/// A number as C stores it in the result type: out of range is an error.
fn stored(ty: &CType, value: Value) -> PyResult<Value> {
    if !matches!(ty.kind(), CKind::Primitive | CKind::Enum) {
        return Ok(value);
    }
    let made = CDataObject::owning(ty.clone(), ty.size().unwrap_or(0))?;
    // SAFETY: memory just allocated for this type.
    unsafe { ty.write(made.address, &value) }.map_err(raise)?;
    // SAFETY: as above, just written.
    unsafe { ty.read(made.address) }.map_err(raise)
}

/// A callback's result as Python sees it: a pointer as a cdata, a number as a number.
fn returned(py: Python<'_>, ty: &CType, value: Value) -> PyResult<PyObject> {
    match ty.kind() {
        CKind::Pointer => {
            let address = match value {
                Value::Pointer(address) => address,
                _ => 0,
            };
            Ok(
                crate::slots::new(py, CDataObject::plain(ty.clone(), address, Keep::Nothing))?
                    .into_any(),
            )
        }
        CKind::Void => Ok(py.None()),
        CKind::Struct | CKind::Union => crate::library::result_object(py, ty, value),
        _ => crate::cdata::to_python(py, value, ty),
    }
}
