//! Making C objects: `ffi.new` (open arrays sized by their initializer, flexible array
//! members), `ffi.cast` (C's conversions between numbers, characters, enums and pointers;
//! an array type over a pointer), and the walks `offsetof` and `addressof` take along
//! member names and indexes.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

use ffikit_abi::Value;
use ffikit_abi::cdata::{CKind, CType};

use crate::cdata::{CDataObject, Keep, read};
use crate::errors::raise;
use crate::ffi::ffi_error;

/// The size of an array made by `new` from its initializer (`int[]` with a list, an int,
/// bytes).
fn open_length(item: &CType, init: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
    let Some(init) = init else {
        return Err(PyTypeError::new_err(format!(
            "ffi.new of an open array '{}[]' needs a length or an initializer",
            item.cname()
        )));
    };
    if let Ok(n) = init.extract::<isize>() {
        if crate::cdata::as_cdata(init).is_err() {
            if n < 0 {
                return Err(PyValueError::new_err("negative array length"));
            }
            return Ok(n as usize);
        }
    }
    if let Ok(bytes) = init.downcast::<PyBytes>() {
        return Ok(bytes.as_bytes().len() + 1);
    }
    if let Ok(text) = init.downcast::<PyString>() {
        return Ok(crate::cdata::wide_units(text, item.size().unwrap_or(4))?.len() + 1);
    }
    if let Ok(data) = crate::cdata::as_cdata(init) {
        let data = data.get();
        if data.ty.kind() == CKind::Array {
            return Ok(data.ty.length().unwrap_or(0));
        }
    }
    init.len()
}

/// `ffi.new` of a type.
pub(crate) fn new_of(ty: &CType, init: Option<&Bound<'_, PyAny>>) -> PyResult<CDataObject> {
    match ty.kind() {
        CKind::Pointer => {
            let item = ty.item().expect("pointer");
            let size = item.size().ok_or_else(|| {
                ffi_error(format!(
                    "cannot instantiate ctype '{}' of unknown size",
                    item.cname()
                ))
            })?;
            if item.kind() == CKind::Void || item.kind() == CKind::Function {
                return Err(PyTypeError::new_err(format!(
                    "cannot instantiate ctype '{}'",
                    item.cname()
                )));
            }
            let init = init.filter(|i| !i.is_none());
            let size = match init {
                Some(init) if matches!(item.kind(), CKind::Struct | CKind::Union) => {
                    crate::cdata::flexible_size(&item, init, 0)?
                }
                _ => size,
            };
            let made = CDataObject::owning(ty.clone(), size)?;
            if let Some(init) = init {
                crate::cdata::write_within(&item, made.address, init, 0, made.address + size)?;
            }
            Ok(made)
        }
        CKind::Array => {
            let item = ty.item().expect("array");
            let item_size = item.size().ok_or_else(|| {
                PyTypeError::new_err(format!(
                    "cannot instantiate ctype '{}' of unknown size",
                    item.cname()
                ))
            })?;
            // `new("int[]", 5)`: 5 is the length, not an initializer.
            let length_only = ty.length().is_none()
                && init.is_some_and(|i| i.downcast::<pyo3::types::PyInt>().is_ok());
            let len = match ty.length() {
                Some(len) => len,
                None => open_length(&item, init)?,
            };
            let size = len.checked_mul(item_size).ok_or_else(|| {
                pyo3::exceptions::PyOverflowError::new_err("array size would overflow a ssize_t")
            })?;
            let mut made = CDataObject::owning(ty.clone(), size)?;
            if ty.length().is_none() {
                made.length = Some(len);
            }
            if let Some(init) = init.filter(|i| !i.is_none() && !length_only) {
                crate::cdata::write_array(ty, len, made.address, init, 0)?;
            }
            Ok(made)
        }
        _ => Err(PyTypeError::new_err(format!(
            "expected a pointer or array ctype, got '{}'",
            ty.cname()
        ))),
    }
}

/// `ffi.cast` of a value to `ty`.
pub(crate) fn cast_to(
    py: Python<'_>,
    ty: &CType,
    value: &Bound<'_, PyAny>,
) -> PyResult<CDataObject> {
    match ty.kind() {
        CKind::Function => Err(crate::errors::type_string_error(format!(
            "cannot cast to the function type '{}' (cast to a pointer to it)",
            ty.cname()
        ))),
        CKind::Pointer => {
            let ty = ty.clone();
            let address = if let Ok(data) = crate::cdata::as_cdata(value) {
                let data = data.get();
                match data.ty.kind() {
                    CKind::Primitive | CKind::Enum => integer_of(py, value)? as usize,
                    _ => data.as_pointer(),
                }
            } else if value.is_none() {
                0
            } else if let Some((_, address)) = crate::library::function_pointer(value) {
                address
            } else if let Ok(bytes) = value.downcast::<PyBytes>() {
                if bytes.as_bytes().len() != 1 {
                    return Err(PyTypeError::new_err(
                        "cannot cast bytes of length != 1 to a pointer",
                    ));
                }
                bytes.as_bytes()[0] as usize
            } else {
                if value.downcast::<pyo3::types::PyFloat>().is_ok() {
                    return Err(PyTypeError::new_err(format!(
                        "cannot cast float to '{}'",
                        ty.cname()
                    )));
                }
                integer_of(py, value)? as usize
            };
            let keep = match crate::cdata::as_cdata(value) {
                Ok(data) => match &data.get().callback {
                    Some(_) => Keep::Object(value.clone().unbind()),
                    None => Keep::Nothing,
                },
                Err(_) => Keep::Nothing,
            };
            Ok(CDataObject::plain(ty, address, keep))
        }
        CKind::Primitive | CKind::Enum => {
            let size = ty.size().unwrap_or(0);
            let made = CDataObject::owning(ty.clone(), size)?;
            let scalar = ty.scalar().expect("primitive");
            let number: Value = if scalar.is_floating() {
                let float = match crate::cdata::as_cdata(value) {
                    Ok(data) if matches!(data.get().ty.kind(), CKind::Primitive | CKind::Enum) => {
                        let inner = read(py, &data.get().ty, data.get().address, None)?;
                        let inner = inner.bind(py);
                        match inner.downcast::<PyBytes>() {
                            Ok(b) => f64::from(b.as_bytes()[0]),
                            Err(_) => inner.extract::<f64>()?,
                        }
                    }
                    Ok(_) => {
                        return Err(PyTypeError::new_err(format!(
                            "cannot cast cdata pointer to '{}'",
                            ty.cname()
                        )));
                    }
                    Err(_) => match value.downcast::<PyBytes>() {
                        Ok(b) if b.as_bytes().len() == 1 => f64::from(b.as_bytes()[0]),
                        _ => value.extract::<f64>().map_err(|_| {
                            PyTypeError::new_err(format!(
                                "cannot cast {} to '{}'",
                                value
                                    .get_type()
                                    .name()
                                    .map_or_else(|_| "?".into(), |n| n.to_string()),
                                ty.cname()
                            ))
                        })?,
                    },
                };
                Value::Float(float)
            } else if scalar == ffikit_abi::cdata::Scalar::Bool {
                let truth = match value.downcast::<pyo3::types::PyFloat>() {
                    Ok(f) => f.value() != 0.0,
                    Err(_) => integer_of(py, value)? != 0,
                };
                Value::Bool(truth)
            } else {
                let raw = match value.downcast::<pyo3::types::PyFloat>() {
                    Ok(f) => {
                        let v = f.value();
                        if !v.is_finite() {
                            return Err(PyValueError::new_err(
                                "cannot cast a non-finite float to an integer",
                            ));
                        }
                        v.trunc() as i128
                    }
                    Err(_) => integer_of(py, value)?,
                };
                // C's conversion: keep the low bits, read back with the type's sign.
                let bits = 8 * size as u32;
                let mask = if bits >= 128 {
                    u128::MAX
                } else {
                    (1u128 << bits) - 1
                };
                let low = (raw as u128) & mask;
                if scalar.is_signed() {
                    let shift = 128 - bits;
                    Value::Int((((low << shift) as i128) >> shift) as i64)
                } else {
                    Value::UInt(low as u64)
                }
            };
            // SAFETY: memory just allocated for this type.
            unsafe { ty.write(made.address, &number) }.map_err(raise)?;
            Ok(CDataObject {
                owning: None,
                ..made
            })
        }
        // As CFFI: an array type over the memory a pointer or array points to (a view; the
        // source is kept alive).
        CKind::Array if ty.length().is_some() => match crate::cdata::as_cdata(value) {
            Ok(data) if data.get().is_pointer_like() => Ok(CDataObject::plain(
                ty.clone(),
                data.get().as_pointer(),
                Keep::Object(value.clone().unbind()),
            )),
            _ => Err(PyTypeError::new_err(format!(
                "cannot cast {} to ctype '{}': only a cdata pointer or array can be",
                value
                    .get_type()
                    .name()
                    .map_or_else(|_| "?".into(), |n| n.to_string()),
                ty.cname()
            ))),
        },
        _ => Err(PyTypeError::new_err(format!(
            "cannot cast to ctype '{}'",
            ty.cname()
        ))),
    }
}

/// An integer from a Python int, a `char`'s byte, or a cdata (a pointer's address, a
/// primitive's value).
pub(crate) fn integer_of(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<i128> {
    // The commonest: a plain int (a cast in a comparator's loop).
    if let Ok(int) = value.downcast_exact::<pyo3::types::PyInt>() {
        if let Ok(small) = int.extract::<i128>() {
            return Ok(small);
        }
    }
    if let Ok(data) = crate::cdata::as_cdata(value) {
        let data = data.get();
        return match data.ty.kind() {
            CKind::Primitive | CKind::Enum => {
                // The number itself (a character's code, unsigned `char` as CFFI reads it).
                // SAFETY: a primitive cdata's own memory.
                let value = unsafe { data.ty.read(data.address) }.map_err(raise)?;
                Ok(match value {
                    Value::Int(i) if data.ty.is_char() => i128::from(i as u8),
                    Value::Float(f) => f.trunc() as i128,
                    Value::Bool(b) => i128::from(b),
                    other => other.as_i128().unwrap_or(0),
                })
            }
            _ => Ok(data.as_pointer() as i128),
        };
    }
    if let Ok(bytes) = value.downcast::<PyBytes>() {
        if bytes.as_bytes().len() == 1 {
            return Ok(i128::from(bytes.as_bytes()[0]));
        }
    }
    if let Ok(text) = value.downcast::<PyString>() {
        let text = text.to_str()?;
        let mut chars = text.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            return Ok(c as i128);
        }
    }
    let index = value
        .call_method0("__index__")
        .or_else(|_| value.call_method0("__int__"))
        .map_err(|_| {
            PyTypeError::new_err(format!(
                "cannot cast {} to an integer",
                value
                    .get_type()
                    .name()
                    .map_or_else(|_| "?".into(), |n| n.to_string())
            ))
        })?;
    if let Ok(small) = index.extract::<i128>() {
        return Ok(small);
    }
    // Wider than 128 bits: C keeps the low bits.
    let mask = u128::MAX.into_pyobject(py)?;
    let masked = index.call_method1("__and__", (mask,))?;
    Ok(masked.extract::<u128>()? as i128)
}

/// Follows a path of member names and indexes from `ty`: the type reached and its offset.
pub(crate) fn walk(
    ty: &CType,
    path: &Bound<'_, PyTuple>,
    _offsetof: bool,
) -> PyResult<(CType, i128)> {
    let mut current = ty.clone();
    let mut offset = 0i128;
    for (k, step) in path.iter().enumerate() {
        if let Ok(name) = step.extract::<String>() {
            let record = match current.kind() {
                CKind::Struct | CKind::Union => current.clone(),
                CKind::Pointer if k == 0 => current.item().expect("pointer"),
                _ => {
                    return Err(PyTypeError::new_err(format!(
                        "expected a struct or union ctype, got '{}'",
                        current.cname()
                    )));
                }
            };
            let field = record
                .field(&name)
                .ok_or_else(|| PyKeyError_new(&record, &name))?;
            if field.bits.is_some() {
                return Err(PyTypeError::new_err(format!(
                    "not supported for bitfield '{name}'"
                )));
            }
            offset += field.offset as i128;
            current = field.ty;
        } else {
            let index: isize = step.extract()?;
            let item = current.item().ok_or_else(|| {
                PyTypeError::new_err(format!(
                    "expected an array or pointer ctype, got '{}'",
                    current.cname()
                ))
            })?;
            if let Some(len) = current.length() {
                if index < 0 || index as usize > len {
                    return Err(pyo3::exceptions::PyIndexError::new_err(
                        "index out of range",
                    ));
                }
            }
            offset += index as i128 * item.size().unwrap_or(0) as i128;
            current = item;
        }
    }
    Ok((current, offset))
}

#[allow(non_snake_case)]
fn PyKeyError_new(record: &CType, name: &str) -> PyErr {
    pyo3::exceptions::PyKeyError::new_err(format!("'{}' has no field '{name}'", record.cname()))
}
