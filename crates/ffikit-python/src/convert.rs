//! Python objects to ffikit `Value`s and back, as CFFI converts them: ints (range-checked by
//! the call against the C type), floats, `bytes` for `char *` (passed as they are: CPython
//! keeps them NUL-terminated; binary data may hold NULs), `str` (UTF-8, copied, a NUL inside
//! refused: it is text), `None` for
//! NULL, lists and tuples for arrays and structs by position, dicts for structs by name, C
//! objects, callbacks.

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use ffikit_abi::Value;

/// How deep lists, tuples and dicts may nest in a value: as deep as a C type may
/// (`MAX_TYPE_DEPTH`). A deeper value — a list that contains itself, 10^6 nested lists — fits
/// no C type, so it is refused before it can exhaust the stack.
const MAX_VALUE_DEPTH: u32 = ffikit_cdecl::MAX_TYPE_DEPTH;

/// A Python object as the `Value` a call checks against its parameter.
pub(crate) fn to_value(object: &Bound<'_, PyAny>) -> PyResult<Value> {
    to_value_within(object, 0)
}

fn to_value_within(object: &Bound<'_, PyAny>, depth: u32) -> PyResult<Value> {
    // The commonest first: exact ints and floats.
    if let Ok(int) = object.downcast_exact::<PyInt>() {
        return int_value(int);
    }
    if let Ok(float) = object.downcast_exact::<PyFloat>() {
        return Ok(Value::Float(float.value()));
    }
    if let Ok(bytes) = object.downcast::<PyBytes>() {
        // As CFFI passes bytes: where they are (CPython keeps a NUL after a bytes object's
        // data, and the object outlives the call: it is one of its arguments). They may be
        // binary data with a length beside them, so a NUL inside is not refused; a `str` is
        // a string, and is (see below).
        return Ok(Value::Pointer(bytes.as_bytes().as_ptr() as usize));
    }
    if object.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(boolean) = object.downcast::<PyBool>() {
        return Ok(Value::Bool(boolean.is_true()));
    }
    if let Ok(int) = object.downcast::<PyInt>() {
        return int_value(int);
    }
    if let Ok(float) = object.downcast::<PyFloat>() {
        return Ok(Value::Float(float.value()));
    }
    if let Ok(text) = object.downcast::<PyString>() {
        return Ok(Value::Str(text.to_str()?.to_owned()));
    }
    if let Ok(complex) = object.downcast::<pyo3::types::PyComplex>() {
        return Ok(Value::Complex(complex.real(), complex.imag()));
    }
    if let Ok(data) = crate::cdata::as_cdata(object) {
        return data.get().to_value();
    }
    let nested = object.downcast::<PyDict>().is_ok()
        || object.downcast::<PyList>().is_ok()
        || object.downcast::<PyTuple>().is_ok();
    if nested && depth >= MAX_VALUE_DEPTH {
        return Err(PyValueError::new_err(format!(
            "the value nests lists, tuples or dicts more than {MAX_VALUE_DEPTH} deep (or \
             contains itself): no C type is that deep"
        )));
    }
    if let Ok(dict) = object.downcast::<PyDict>() {
        let members = dict
            .iter()
            .map(|(name, value)| {
                Ok((
                    name.extract::<String>()?,
                    to_value_within(&value, depth + 1)?,
                ))
            })
            .collect::<PyResult<_>>()?;
        return Ok(Value::Struct(members));
    }
    if nested {
        let items = object
            .try_iter()?
            .map(|item| to_value_within(&item?, depth + 1))
            .collect::<PyResult<_>>()?;
        return Ok(Value::Array(items));
    }
    Err(PyTypeError::new_err(format!(
        "ffikit cannot pass a {} to C",
        object.get_type().name()?
    )))
}

/// An int as a signed value, or an unsigned one past `i64::MAX`; beyond 64 bits, an
/// OverflowError (no C integer holds it).
fn int_value(int: &Bound<'_, PyInt>) -> PyResult<Value> {
    let mut overflow = 0;
    // SAFETY: `int` is a live int object; the call only reads it (with the GIL held).
    let signed = unsafe { pyo3::ffi::PyLong_AsLongLongAndOverflow(int.as_ptr(), &mut overflow) };
    if overflow == 0 && !(signed == -1 && PyErr::occurred(int.py())) {
        return Ok(Value::Int(signed));
    }
    match int.extract::<u64>() {
        Ok(unsigned) => Ok(Value::UInt(unsigned)),
        Err(_) => Err(PyOverflowError::new_err(format!(
            "{int} does not fit any C integer type"
        ))),
    }
}

/// A result (or a callback's argument) as a Python object: ints, floats, bools, `None` for
/// void and NULL, an int for an address, `bytes` for a `char *` string, a dict for a struct,
/// a list for an array, a C object as itself.
pub(crate) fn to_python(py: Python<'_>, value: Value) -> PyResult<PyObject> {
    Ok(match value {
        // SAFETY: a new reference to an int, or NULL with an exception set.
        Value::Int(i) => unsafe {
            PyObject::from_owned_ptr_or_err(py, pyo3::ffi::PyLong_FromLongLong(i))?
        },
        Value::UInt(u) => u.into_pyobject(py)?.into_any().unbind(),
        Value::Float(f) => f.into_pyobject(py)?.into_any().unbind(),
        Value::Bool(b) => PyBool::new(py, b).to_owned().into_any().unbind(),
        Value::Void | Value::Null => py.None(),
        Value::Pointer(address) => address.into_pyobject(py)?.into_any().unbind(),
        Value::Text { bytes, .. } => match bytes {
            Some(bytes) => PyBytes::new(py, &bytes).into_any().unbind(),
            None => py.None(),
        },
        Value::Str(text) => PyString::new(py, &text).into_any().unbind(),
        Value::CString(text) => PyBytes::new(py, text.as_bytes()).into_any().unbind(),
        Value::Bytes(bytes) => PyBytes::new(py, &bytes).into_any().unbind(),
        Value::Struct(members) => {
            let dict = PyDict::new(py);
            for (name, member) in members {
                dict.set_item(name, to_python(py, member)?)?;
            }
            dict.into_any().unbind()
        }
        Value::Array(items) => {
            let items = items
                .into_iter()
                .map(|item| to_python(py, item))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any().unbind()
        }
        Value::Complex(re, im) => pyo3::types::PyComplex::from_doubles(py, re, im)
            .into_any()
            .unbind(),
        Value::Data(data) => {
            let bytes = data.bytes();
            PyBytes::new(py, bytes).into_any().unbind()
        }
        other => return Err(PyTypeError::new_err(format!("no Python value for {other}"))),
    })
}
