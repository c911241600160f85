//! C values to Python values: a number, `char` as one byte, a wide character as `str`, a
//! pointer as a cdata, a record or array as a view into the same memory ([`read`]).

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyString};

use ffikit_abi::Value;
use ffikit_abi::cdata::{CKind, CType, Loaded, Number, Scalar};

use crate::cdata::{CDataObject, Keep};
use crate::errors::raise;

/// A Python value for the C value of `ty` at `address`: numbers, `bytes` of one for
/// `char`, a cdata for a pointer (the address read), a view for a struct, union or array
/// (`keep` keeps the memory alive).
pub(crate) fn read(
    py: Python<'_>,
    ty: &CType,
    address: usize,
    keep: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyObject> {
    if let Some(number) = ty.number() {
        // SAFETY: the Python user's promise (the module's safety model): `address` holds a
        // value of the type (always so for memory ffikit allocated).
        let value = unsafe { number.load(address) };
        return number_to_python(py, number, value);
    }
    match ty.kind() {
        CKind::Primitive | CKind::Enum => {
            // SAFETY: as above.
            let value = unsafe { ty.read(address) }.map_err(raise)?;
            to_python(py, value, ty)
        }
        CKind::Pointer => {
            // SAFETY: as above.
            let value = unsafe { ty.read(address) }.map_err(raise)?;
            let pointer = match value {
                Value::Pointer(p) => p,
                _ => 0,
            };
            Ok(
                crate::slots::new(py, CDataObject::plain(ty.clone(), pointer, Keep::Nothing))?
                    .into_any(),
            )
        }
        CKind::Struct | CKind::Union | CKind::Array => {
            let keep = keep.map_or(Keep::Nothing, |k| Keep::Object(k.clone().unbind()));
            Ok(crate::slots::new(py, CDataObject::plain(ty.clone(), address, keep))?.into_any())
        }
        CKind::Void | CKind::Function => Err(PyTypeError::new_err(format!(
            "cannot read a value of type '{}'",
            ty.cname()
        ))),
        _ => Err(PyTypeError::new_err("unsupported type")),
    }
}

/// A number [`Number::read`] gave, as Python reads it: `char` as `bytes` of one, `_Bool` as
/// `bool`.
pub(crate) fn number_to_python(
    py: Python<'_>,
    number: Number,
    value: Loaded,
) -> PyResult<PyObject> {
    // SAFETY: each C API call gives a new reference, or NULL with an exception set (taken
    // as such by `from_owned_ptr_or_err`); the GIL is held (`py`).
    unsafe {
        let made = match (number, value) {
            (Number::Char { .. }, Loaded::Int(i)) => {
                return Ok(PyBytes::new(py, &[i as u8]).into_any().unbind());
            }
            (Number::Char { .. }, Loaded::UInt(u)) => {
                return Ok(PyBytes::new(py, &[u as u8]).into_any().unbind());
            }
            (_, Loaded::Int(i)) => pyo3::ffi::PyLong_FromLongLong(i),
            (_, Loaded::UInt(u)) => pyo3::ffi::PyLong_FromUnsignedLongLong(u),
            (_, Loaded::Float(f)) => pyo3::ffi::PyFloat_FromDouble(f),
            (_, Loaded::Bool(b)) => return Ok(PyBool::new(py, b).to_owned().into_any().unbind()),
        };
        PyObject::from_owned_ptr_or_err(py, made)
    }
}

/// A number read from C as Python sees it for `ty`: `char` as `bytes` of one, `_Bool` as
/// `bool`, wide characters as `str`.
pub(crate) fn to_python(py: Python<'_>, value: Value, ty: &CType) -> PyResult<PyObject> {
    let scalar = ty.scalar();
    let wide = is_wide_char(ty);
    Ok(match (value, scalar) {
        (Value::Int(i), Some(Scalar::Char)) | (Value::Int(i), Some(Scalar::SChar))
            if ty.kind() != CKind::Enum && is_char_name(ty) =>
        {
            PyBytes::new(py, &[i as u8]).into_any().unbind()
        }
        (Value::UInt(u), Some(Scalar::Char | Scalar::UChar)) if is_char_name(ty) => {
            PyBytes::new(py, &[u as u8]).into_any().unbind()
        }
        (Value::Int(i), _) if wide => char_string(py, i as u32)?,
        (Value::UInt(u), _) if wide => char_string(py, u as u32)?,
        (value, _) => crate::convert::to_python(py, value)?,
    })
}

fn char_string(py: Python<'_>, code: u32) -> PyResult<PyObject> {
    wide_string(py, &[code], 4)
}

/// The `str` of wide characters of `size` bytes each: UTF-16 code units for 2 (surrogate
/// pairs joined), code points for 4. Lone surrogates stay (Python's `str` holds them, as
/// CFFI gives them); a value beyond Unicode is a `ValueError`.
pub(crate) fn wide_string(py: Python<'_>, units: &[u32], size: usize) -> PyResult<PyObject> {
    let mut points = Vec::with_capacity(units.len());
    let mut k = 0;
    while k < units.len() {
        let unit = units[k];
        let next = units.get(k + 1).copied();
        match next {
            Some(low)
                if size == 2
                    && (0xD800..0xDC00).contains(&unit)
                    && (0xDC00..0xE000).contains(&low) =>
            {
                points.push(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00));
                k += 2;
            }
            _ => {
                if unit > 0x10FFFF {
                    return Err(PyValueError::new_err(format!(
                        "character {unit:#x} is beyond Unicode"
                    )));
                }
                points.push(unit);
                k += 1;
            }
        }
    }
    let bytes: Vec<u8> = points.iter().flat_map(|p| p.to_le_bytes()).collect();
    Ok(PyBytes::new(py, &bytes)
        .call_method1(pyo3::intern!(py, "decode"), ("utf-32-le", "surrogatepass"))?
        .unbind())
}

/// The wide characters of `text` for an item of `size` bytes: code points (4), or UTF-16
/// code units (2: a character beyond the BMP takes a surrogate pair).
pub(crate) fn wide_units(text: &Bound<'_, PyString>, size: usize) -> PyResult<Vec<u32>> {
    let py = text.py();
    let encoded = text.call_method1(pyo3::intern!(py, "encode"), ("utf-32-le", "surrogatepass"))?;
    let bytes = encoded.downcast::<PyBytes>()?.as_bytes();
    let mut units = Vec::with_capacity(bytes.len() / 4);
    for chunk in bytes.chunks_exact(4) {
        let point = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        if size == 2 && point > 0xFFFF {
            let offset = point - 0x10000;
            units.push(0xD800 + (offset >> 10));
            units.push(0xDC00 + (offset & 0x3FF));
        } else {
            units.push(point);
        }
    }
    Ok(units)
}

/// `char` itself (not `signed char`/`unsigned char`/`int8_t`): read as `bytes`.
pub(crate) fn is_char_name(ty: &CType) -> bool {
    ty.is_char() && ty.kind() == CKind::Primitive
}

/// Wide characters (`wchar_t`, `char16_t`, `char32_t`) read as one-character `str`, as in
/// CFFI.
pub(crate) fn is_wide_char(ty: &CType) -> bool {
    ty.kind() == CKind::Primitive && ty.scalar().is_some_and(Scalar::is_wide_char)
}
