//! Python values to C memory and call arguments, as CFFI converts them: numbers range-checked,
//! CFFI's initializers (partial lists and dicts, anonymous members flattened, bytes and `str`
//! for character arrays, flexible array members sized by their items), pointers from
//! compatible cdata ([`write`], [`argument`]).

use pyo3::exceptions::{PyIndexError, PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use ffikit_abi::Value;
use ffikit_abi::cdata::{CKind, CType, Scalar};

use crate::errors::raise;
use crate::reading::{is_char_name, is_wide_char, wide_units};

/// How deep initializers may nest (as deep as a C type may: `MAX_TYPE_DEPTH`); a list that
/// contains itself is refused, not followed.
const MAX_DEPTH: u32 = ffikit_cdecl::MAX_TYPE_DEPTH;

/// The value of a Python object for a primitive `ty` (ints range-checked by the write).
pub(crate) fn scalar_value(ty: &CType, object: &Bound<'_, PyAny>) -> PyResult<Value> {
    // The commonest: an exact int for an integer type, an exact float for a float type.
    if let Some(scalar) = ty.scalar() {
        if scalar.is_floating() {
            if let Ok(float) = object.downcast_exact::<PyFloat>() {
                return Ok(Value::Float(narrowed(ty, float.value())));
            }
        } else if scalar != Scalar::Bool
            && !scalar.is_wide_char()
            && !is_char_name(ty)
            && ty.kind() != CKind::Enum
            && object.is_exact_instance_of::<PyInt>()
        {
            return crate::convert::to_value(object);
        }
    }
    if let Ok(data) = crate::cdata::as_cdata(object) {
        let data = data.get();
        if matches!(data.kind(), CKind::Primitive | CKind::Enum) {
            // SAFETY: a primitive cdata's own memory.
            return unsafe { data.ty.read(data.address) }.map_err(raise);
        }
        return Err(type_error(ty, object));
    }
    if is_char_name(ty) || (ty.size() == Some(1) && object.downcast::<PyBytes>().is_ok()) {
        if let Ok(bytes) = object.downcast::<PyBytes>() {
            let bytes = bytes.as_bytes();
            if bytes.len() != 1 {
                return Err(PyTypeError::new_err(format!(
                    "initializer for ctype 'char' must be a bytes of length 1, not bytes of length {}",
                    bytes.len()
                )));
            }
            return Ok(Value::Int(i64::from(bytes[0] as i8)));
        }
        if is_char_name(ty) {
            return Err(type_error(ty, object));
        }
    }
    if is_wide_char(ty) {
        let size = ty.size().unwrap_or(4);
        let units = match object.downcast::<PyString>() {
            Ok(text) => wide_units(text, size)?,
            Err(_) => Vec::new(),
        };
        return match units.as_slice() {
            [unit] => Ok(Value::UInt(u64::from(*unit))),
            _ => Err(PyTypeError::new_err(format!(
                "initializer for ctype '{}' must be a str of length 1, not {}",
                ty.cname(),
                object
                    .get_type()
                    .name()
                    .map_or_else(|_| "object".to_owned(), |n| n.to_string())
            ))),
        };
    }
    let scalar = ty.scalar();
    match scalar {
        Some(s) if s.is_floating() => {
            if let Ok(f) = object.downcast::<PyFloat>() {
                return Ok(Value::Float(narrowed(ty, f.value())));
            }
            if object.downcast::<PyInt>().is_ok() {
                return Ok(Value::Float(narrowed(ty, object.extract::<f64>()?)));
            }
            if object.hasattr("__float__")?
                && !object.is_instance_of::<PyBytes>()
                && !object.is_instance_of::<PyString>()
            {
                return Ok(Value::Float(object.call_method0("__float__")?.extract()?));
            }
            Err(type_error(ty, object))
        }
        Some(Scalar::Bool) => {
            let value: i64 = match object.extract() {
                Ok(v) => v,
                Err(_) => return Err(type_error(ty, object)),
            };
            if value != 0 && value != 1 {
                return Err(pyo3::exceptions::PyOverflowError::new_err(format!(
                    "value {value} outside the range allowed by the conversion to '_Bool'"
                )));
            }
            Ok(Value::Bool(value == 1))
        }
        Some(_) => {
            if object.downcast::<PyFloat>().is_ok()
                || object.is_instance_of::<PyBytes>()
                || object.is_instance_of::<PyString>()
            {
                return Err(type_error(ty, object));
            }
            let int = object
                .call_method0("__index__")
                .map_err(|_| type_error(ty, object))?;
            crate::convert::to_value(&int)
        }
        None => Err(type_error(ty, object)),
    }
}

/// A double for a `float` as C converts it: out of range becomes infinity (as in CFFI),
/// not an error.
fn narrowed(ty: &CType, value: f64) -> f64 {
    if ty.size() == Some(4) {
        f64::from(value as f32)
    } else {
        value
    }
}

fn type_error(ty: &CType, object: &Bound<'_, PyAny>) -> PyErr {
    let given = match crate::cdata::as_cdata(object) {
        Ok(data) => format!("cdata '{}'", data.get().ty.cname()),
        Err(_) => object
            .get_type()
            .name()
            .map_or_else(|_| "object".to_owned(), |n| n.to_string()),
    };
    PyTypeError::new_err(format!(
        "initializer for ctype '{}' must be {}, not {given}",
        ty.cname(),
        expected_of(ty)
    ))
}

fn expected_of(ty: &CType) -> &'static str {
    match ty.kind() {
        CKind::Pointer => "a cdata pointer",
        CKind::Array => "a list or tuple",
        CKind::Struct | CKind::Union => "a list or dict",
        _ if is_char_name(ty) => "a bytes of length 1",
        _ => match ty.scalar() {
            Some(s) if s.is_floating() => "a float",
            _ => "an integer",
        },
    }
}

/// Writes a Python object as the C value of `ty` at `address`, as CFFI initializes: numbers
/// range-checked, a pointer from a cdata pointer or array of a compatible type (or None for
/// NULL), an array from a list or tuple of at most its length (bytes for a char array), a
/// struct from a list (in order) or a dict (by name), partially; a cdata of the same type is
/// copied.
pub(crate) fn write(
    ty: &CType,
    address: usize,
    object: &Bound<'_, PyAny>,
    depth: u32,
) -> PyResult<()> {
    write_within(ty, address, object, depth, 0)
}

/// [`write`], where the memory up to the address `room` (0: none) belongs to the object
/// too: a flexible array member (`int a[]` last in a struct) takes the items its
/// initializer gives, up to there ([`flexible_size`] sized the allocation).
pub(crate) fn write_within(
    ty: &CType,
    address: usize,
    object: &Bound<'_, PyAny>,
    depth: u32,
    room: usize,
) -> PyResult<()> {
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err(format!(
            "the value nests lists, tuples or dicts more than {MAX_DEPTH} deep (or contains itself): no C type is that deep"
        )));
    }
    // SAFETY (for every write below): the Python user's promise (the module's safety
    // model): `address` holds room for a value of `ty` (always so for memory ffikit
    // allocated and the views into it).
    match ty.kind() {
        CKind::Primitive | CKind::Enum => {
            let value = scalar_value(ty, object)?;
            // SAFETY: see above.
            unsafe { ty.write(address, &value) }.map_err(raise)
        }
        CKind::Pointer => {
            let pointer = pointer_value(ty, object)?;
            let value = if pointer == 0 {
                Value::Null
            } else {
                Value::Pointer(pointer)
            };
            // SAFETY: see above.
            unsafe { ty.write(address, &value) }.map_err(raise)
        }
        CKind::Array => {
            let len = match ty.length() {
                Some(len) => len,
                None => {
                    let item = ty.item_ref().and_then(CType::size).unwrap_or(0);
                    room.saturating_sub(address).checked_div(item).unwrap_or(0)
                }
            };
            write_array(ty, len, address, object, depth)
        }
        CKind::Struct | CKind::Union => write_record(ty, address, object, depth, room),
        _ => Err(PyTypeError::new_err(format!(
            "cannot initialize a value of type '{}'",
            ty.cname()
        ))),
    }
}

/// Writes an array of `len` items of `ty`'s item type (an open array's length is the
/// object's).
pub(crate) fn write_array(
    ty: &CType,
    len: usize,
    address: usize,
    object: &Bound<'_, PyAny>,
    depth: u32,
) -> PyResult<()> {
    {
        {
            let item = ty.item().expect("an array has an item");
            let size = item.size().unwrap_or(0);
            if let Ok(data) = crate::cdata::as_cdata(object) {
                let data = data.get();
                if data.kind() == CKind::Array
                    && data.ty.item().as_ref() == Some(&item)
                    && data.array_len() == len
                {
                    let bytes = data.array_len().min(len) * size;
                    // SAFETY: both hold at least `bytes` bytes of this array type.
                    unsafe { std::ptr::copy(data.address as *const u8, address as *mut u8, bytes) };
                    return Ok(());
                }
                return Err(type_error(ty, object));
            }
            if let Ok(bytes) = object.downcast::<PyBytes>() {
                if item.size() == Some(1) && item.kind() == CKind::Primitive {
                    let bytes = bytes.as_bytes();
                    if bytes.len() > len {
                        return Err(PyIndexError::new_err(format!(
                            "initializer bytes is too long for '{}' (got {} characters)",
                            ty.cname(),
                            bytes.len()
                        )));
                    }
                    // SAFETY: the array holds `len` >= `bytes.len()` bytes.
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            bytes.as_ptr(),
                            address as *mut u8,
                            bytes.len(),
                        )
                    };
                    if bytes.len() < len {
                        // SAFETY: as above: the byte after them is in the array.
                        unsafe { *((address + bytes.len()) as *mut u8) = 0 };
                    }
                    return Ok(());
                }
            }
            if let Ok(text) = object.downcast::<PyString>() {
                if is_wide_char(&item) {
                    let chars = wide_units(text, size)?;
                    if chars.len() > len {
                        return Err(PyIndexError::new_err(format!(
                            "initializer string is too long for '{}' (got {} characters)",
                            ty.cname(),
                            chars.len()
                        )));
                    }
                    for (k, c) in chars.iter().enumerate() {
                        // SAFETY: see above: element `k` < `len` of the array.
                        unsafe { item.write(address + k * size, &Value::UInt(u64::from(*c))) }
                            .map_err(raise)?;
                    }
                    if chars.len() < len {
                        // SAFETY: as above.
                        unsafe { item.write(address + chars.len() * size, &Value::UInt(0)) }
                            .map_err(raise)?;
                    }
                    return Ok(());
                }
            }
            if object.downcast::<PyList>().is_ok() || object.downcast::<PyTuple>().is_ok() {
                let items: Vec<Bound<'_, PyAny>> = object.try_iter()?.collect::<PyResult<_>>()?;
                if items.len() > len {
                    return Err(PyIndexError::new_err(format!(
                        "too many initializers for '{}' (got {})",
                        ty.cname(),
                        items.len()
                    )));
                }
                for (k, value) in items.iter().enumerate() {
                    write(&item, address + k * size, value, depth + 1)?;
                }
                return Ok(());
            }
            Err(type_error(ty, object))
        }
    }
}

fn write_record(
    ty: &CType,
    address: usize,
    object: &Bound<'_, PyAny>,
    depth: u32,
    room: usize,
) -> PyResult<()> {
    {
        {
            if let Ok(data) = crate::cdata::as_cdata(object) {
                let data = data.get();
                let (source, from) = match data.kind() {
                    CKind::Struct | CKind::Union => (data.ty.clone(), data.address),
                    _ => return Err(type_error(ty, object)),
                };
                if source != *ty {
                    return Err(type_error(ty, object));
                }
                let size = ty.size().unwrap_or(0);
                // SAFETY: both hold a value of this struct type.
                unsafe { std::ptr::copy(from as *const u8, address as *mut u8, size) };
                return Ok(());
            }
            if !ty.is_complete() {
                return Err(PyTypeError::new_err(format!(
                    "'{}' is opaque or incomplete: it cannot be initialized",
                    ty.cname()
                )));
            }
            if let Ok(dict) = object.downcast::<PyDict>() {
                for (name, value) in dict.iter() {
                    let name: String = name.extract()?;
                    let Some(field) = ty.field(&name) else {
                        return Err(PyKeyError::new_err(format!(
                            "'{}' has no field '{name}'",
                            ty.cname()
                        )));
                    };
                    write_field(&field, address, &value, depth, room)?;
                }
                return Ok(());
            }
            if object.downcast::<PyList>().is_ok() || object.downcast::<PyTuple>().is_ok() {
                let items: Vec<Bound<'_, PyAny>> = object.try_iter()?.collect::<PyResult<_>>()?;
                // As CFFI: an anonymous struct or union member's own members take
                // positions; in a union only the first member does.
                let positions = initialized_fields(ty);
                if items.len() > positions.len() {
                    return Err(PyValueError::new_err(format!(
                        "too many initializers for '{}' (got {})",
                        ty.cname(),
                        items.len()
                    )));
                }
                for (field, value) in positions.iter().zip(&items) {
                    write_field(field, address, value, depth, room)?;
                }
                return Ok(());
            }
            Err(type_error(ty, object))
        }
    }
}

/// The bytes a value of the record `ty` initialized from `object` needs: its size, or more
/// when the initializer gives items to a flexible array member (`int a[]`), also inside a
/// nested record, as CFFI sizes `ffi.new("struct foo *", [1, [2, 3, 4]])`.
pub(crate) fn flexible_size(ty: &CType, object: &Bound<'_, PyAny>, depth: u32) -> PyResult<usize> {
    let own = ty.size().unwrap_or(0);
    if depth > MAX_DEPTH || crate::cdata::as_cdata(object).is_ok() {
        return Ok(own);
    }
    if !ty.is_complete() {
        return Ok(own);
    }
    let mut given: Vec<(ffikit_abi::cdata::CField, Bound<'_, PyAny>)> = Vec::new();
    if let Ok(dict) = object.downcast::<PyDict>() {
        for (name, value) in dict.iter() {
            if let Some(field) = name.extract::<String>().ok().and_then(|n| ty.field(&n)) {
                given.push((field, value));
            }
        }
    } else if object.downcast::<PyList>().is_ok() || object.downcast::<PyTuple>().is_ok() {
        let items: Vec<Bound<'_, PyAny>> = object.try_iter()?.collect::<PyResult<_>>()?;
        given.extend(initialized_fields(ty).into_iter().zip(items));
    }
    let mut needed = own;
    for (field, value) in given {
        let end = match field.ty.kind() {
            CKind::Array if field.ty.length().is_none() => {
                let item = field.ty.item_ref().and_then(CType::size).unwrap_or(0);
                let count = if let Ok(n) = value.extract::<usize>() {
                    n
                } else if let Ok(bytes) = value.downcast::<PyBytes>() {
                    bytes.as_bytes().len() + 1
                } else {
                    value.len().unwrap_or(0)
                };
                count
                    .checked_mul(item)
                    .and_then(|bytes| bytes.checked_add(field.offset))
                    .ok_or_else(|| {
                        pyo3::exceptions::PyOverflowError::new_err(
                            "array size would overflow a ssize_t",
                        )
                    })?
            }
            CKind::Struct | CKind::Union => {
                field.offset + flexible_size(&field.ty, &value, depth + 1)?
            }
            _ => 0,
        };
        needed = needed.max(end);
    }
    Ok(needed)
}

/// The fields that take positions in a list initializer, in order (the engine's
/// [`CType::flat_fields`] that an initializer gives values).
fn initialized_fields(ty: &CType) -> Vec<ffikit_abi::cdata::CField> {
    ty.flat_fields()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(field, given)| given.then_some(field))
        .collect()
}

fn write_field(
    field: &ffikit_abi::cdata::CField,
    base: usize,
    value: &Bound<'_, PyAny>,
    depth: u32,
    room: usize,
) -> PyResult<()> {
    let at = base + field.offset;
    match field.bits {
        Some((bit, width)) => {
            let value = scalar_value(&field.ty, value)?;
            // SAFETY: as in `write`.
            unsafe { field.ty.write_bits(at, bit, width, &value) }.map_err(raise)
        }
        None => write_within(&field.ty, at, value, depth + 1, room),
    }
}

/// The address a Python object gives a pointer of type `ty`: a cdata pointer or array whose
/// items are compatible (the same type, or either side `void *`), a callback for a function
/// pointer (`ffi.NULL` for NULL: None is refused, as CFFI refuses it).
pub(crate) fn pointer_value(ty: &CType, object: &Bound<'_, PyAny>) -> PyResult<usize> {
    if let Some((theirs, address)) = crate::library::function_pointer(object) {
        if theirs == *ty || ty.item_ref().is_some_and(|t| t.kind() == CKind::Void) {
            return Ok(address);
        }
        return Err(type_error(ty, object));
    }
    let Ok(data) = crate::cdata::as_cdata(object) else {
        return Err(type_error(ty, object));
    };
    let data = data.get();
    let target = ty.item().expect("a pointer has an item");
    let compatible = match data.kind() {
        CKind::Pointer | CKind::Array => {
            let theirs = data.ty.item().expect("has an item");
            theirs == target
                || target.kind() == CKind::Void
                || theirs.kind() == CKind::Void
                || (target.kind() == CKind::Primitive
                    && theirs.kind() == CKind::Primitive
                    && target.size() == Some(1)
                    && theirs.size() == Some(1))
        }
        CKind::Function => true,
        _ => false,
    };
    if !compatible {
        return Err(type_error(ty, object));
    }
    Ok(data.as_pointer())
}

/// The value a Python object passes for a parameter of type `param`, as CFFI converts call
/// arguments: a cdata pointer or array by address, a struct cdata by value, a list or tuple
/// for a pointer as a temporary array (kept in `temporaries` until the call returns), None
/// for NULL, numbers and bytes as the engine converts them.
/// `None` where C takes a `char *`: a missing value, refused with the engine's NullPointer
/// error naming the argument (an explicit `ffi.NULL` passes, as in CFFI).
pub(crate) fn refuse_none_string(
    param: Option<&CType>,
    object: &Bound<'_, PyAny>,
    place: impl FnOnce() -> String,
) -> PyResult<()> {
    match param {
        Some(param) if object.is_none() && crate::library::is_char_pointer(param) => {
            Err(raise(ffikit_abi::Error::NullPointer {
                place: place(),
                ty: param.cname(),
            }))
        }
        _ => Ok(()),
    }
}

pub(crate) fn argument(
    param: Option<&CType>,
    object: &Bound<'_, PyAny>,
    temporaries: &mut Vec<PyObject>,
) -> PyResult<Value> {
    let pointer_param = param.is_some_and(|p| p.kind() == CKind::Pointer);
    if let Ok(data) = crate::cdata::as_cdata(object) {
        let data = data.get();
        if pointer_param || (param.is_none() && data.is_pointer_like()) {
            let address = data.as_pointer();
            return Ok(if address == 0 {
                Value::Null
            } else {
                Value::Pointer(address)
            });
        }
        if data.is_pointer_like() {
            return Err(crate::errors::argument_type_error(format!(
                "expected a value of type '{}', got cdata '{}'",
                param.map_or_else(|| "?".to_owned(), CType::cname),
                data.ty.cname()
            )));
        }
        return data.to_value();
    }
    if let Some((_, address)) = crate::library::function_pointer(object) {
        if pointer_param || param.is_none() {
            return Ok(Value::Pointer(address));
        }
    }
    if let Some(param) = param.filter(|p| is_char_name(p) || is_wide_char(p)) {
        // As the value would be written to memory of the parameter's type: `b'A'` for a
        // `char`, a one-character `str` for a wide character.
        return scalar_value(param, object);
    }
    if let Some(param) = param.filter(|_| pointer_param) {
        let wide_text =
            object.downcast::<PyString>().is_ok() && param.item_ref().is_some_and(is_wide_char);
        if wide_text || object.downcast::<PyList>().is_ok() || object.downcast::<PyTuple>().is_ok()
        {
            let item = param.item().expect("a pointer has an item");
            let array = crate::making::new_of(&item.array_of(None), Some(object))?;
            let address = array.address;
            temporaries.push(crate::slots::new(object.py(), array)?.into_any());
            return Ok(Value::Pointer(address));
        }
    }
    crate::convert::to_value(object)
}
