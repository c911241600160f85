//! `ffi.typeof(...)`: ffikit-abi's [`CType`] as CFFI's `ctype` objects — `kind`, `cname`,
//! `item`, `length`, `fields`, `elements`, `args`, `result`, `ellipsis` — compared by the
//! type they name.

use pyo3::exceptions::{PyAttributeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use ffikit_abi::cdata::{CKind, CType};

/// Every ctype object made, by type (see [`CTypeObject::wrap`]).
static TYPES: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<String, Py<pyo3::types::PyWeakrefReference>>>,
> = std::sync::LazyLock::new(Default::default);

/// `<ctype 'int *'>`.
#[pyclass(module = "ffikit", name = "CType", frozen, weakref)]
pub(crate) struct CTypeObject {
    pub(crate) ty: CType,
    /// A pointer's or array's item type object, held: `typeof("int **")` keeps
    /// `typeof("int *")` alive, as CFFI's ctypes keep theirs (a type no one holds is freed).
    _item: Option<Py<CTypeObject>>,
}

impl CTypeObject {
    /// The ctype object of a type: one per type for the process (as CFFI's are, so that
    /// `ffi.typeof("int *").item is ffi.typeof("int")`). A struct or union is one type per
    /// name and layout.
    pub(crate) fn wrap(py: Python<'_>, ty: CType) -> PyResult<Py<CTypeObject>> {
        let key = match ty.kind() {
            CKind::Struct | CKind::Union => format!(
                "{}/{:?}/{:?}",
                ty.cname(),
                ty.size(),
                ty.fields().map(|f| f
                    .iter()
                    .map(|f| (f.name.clone(), f.offset))
                    .collect::<Vec<_>>())
            ),
            _ => ty.cname(),
        };
        use pyo3::types::PyWeakrefMethods;
        let known =
            |types: &std::collections::HashMap<String, Py<pyo3::types::PyWeakrefReference>>| {
                types
                    .get(&key)
                    .map(|known| known.bind(py).upgrade_as::<CTypeObject>())
                    .transpose()
                    .map(Option::flatten)
            };
        if let Some(alive) = known(&TYPES.lock().unwrap_or_else(|p| p.into_inner()))? {
            return Ok(alive.unbind());
        }
        // The item first, without the lock (it takes it).
        let item = match ty.kind() {
            CKind::Pointer | CKind::Array => match ty.item() {
                Some(item) => Some(CTypeObject::wrap(py, item)?),
                None => None,
            },
            _ => None,
        };
        let mut types = TYPES.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(alive) = known(&types)? {
            return Ok(alive.unbind());
        }
        let made = Py::new(py, CTypeObject { ty, _item: item })?;
        // Weakly: a type no one uses any more is freed (as CFFI's are).
        let weak = pyo3::types::PyWeakrefReference::new(made.bind(py))?;
        types.insert(key, weak.unbind());
        Ok(made)
    }
}

/// CFFI's spelling of a type's name: `int *`, `int[3]`, `int(*)(int)`.
pub(crate) fn cname(ty: &CType) -> String {
    ty.cname()
}

#[pymethods]
impl CTypeObject {
    /// CFFI's kind; a function pointer type is CFFI's "function" (its ctype has `args`,
    /// `result` and `ellipsis`).
    #[getter]
    fn kind(&self) -> &'static str {
        if self.ty.kind() == CKind::Pointer && self.ty.signature().is_some() {
            return "function";
        }
        self.ty.kind().name()
    }

    #[getter]
    fn cname(&self) -> String {
        cname(&self.ty)
    }

    /// What a pointer points to or an array holds.
    #[getter]
    fn item(&self, py: Python<'_>) -> PyResult<Py<CTypeObject>> {
        match self.ty.item() {
            Some(item) => CTypeObject::wrap(py, item),
            None => Err(PyAttributeError::new_err(format!(
                "ctype '{}' has no attribute 'item'",
                self.cname()
            ))),
        }
    }

    /// An array's length (None for an open array).
    #[getter]
    fn length(&self) -> PyResult<Option<usize>> {
        if self.ty.kind() != CKind::Array {
            return Err(PyAttributeError::new_err(format!(
                "ctype '{}' has no attribute 'length'",
                self.cname()
            )));
        }
        Ok(self.ty.length())
    }

    /// A struct's or union's fields: a list of (name, field) pairs (None while incomplete).
    #[getter]
    fn fields(&self, py: Python<'_>) -> PyResult<PyObject> {
        if !matches!(self.ty.kind(), CKind::Struct | CKind::Union) {
            return Err(PyAttributeError::new_err(format!(
                "ctype '{}' has no attribute 'fields'",
                self.cname()
            )));
        }
        // As CFFI lists them: anonymous members' members in their place, flagged 1 when a
        // list initializer skips them (a union's members after its first).
        let Some(fields) = self.ty.flat_fields() else {
            return Ok(py.None());
        };
        let mut items = Vec::new();
        for (field, given) in fields {
            let info = Py::new(
                py,
                CFieldObject {
                    ty: CTypeObject::wrap(py, field.ty.clone())?,
                    offset: field.offset,
                    bitshift: field.bits.map_or(-1, |(bit, _)| bit as i64),
                    bitsize: field.bits.map_or(-1, |(_, width)| width as i64),
                    flags: i32::from(!given),
                },
            )?;
            items.push(PyTuple::new(
                py,
                [
                    field
                        .name
                        .unwrap_or_default()
                        .into_pyobject(py)?
                        .into_any()
                        .unbind(),
                    info.into_any(),
                ],
            )?);
        }
        Ok(PyList::new(py, items)?.into_any().unbind())
    }

    /// An enum's values by name.
    #[getter]
    fn elements(&self, py: Python<'_>) -> PyResult<PyObject> {
        let values = self.ty.enumerators().ok_or_else(|| {
            PyAttributeError::new_err(format!(
                "ctype '{}' has no attribute 'elements'",
                self.cname()
            ))
        })?;
        let dict = PyDict::new(py);
        for (name, value) in values {
            dict.set_item(value, name)?;
        }
        Ok(dict.into_any().unbind())
    }

    /// An enum's names to values.
    #[getter]
    fn relements(&self, py: Python<'_>) -> PyResult<PyObject> {
        let values = self.ty.enumerators().ok_or_else(|| {
            PyAttributeError::new_err(format!(
                "ctype '{}' has no attribute 'relements'",
                self.cname()
            ))
        })?;
        let dict = PyDict::new(py);
        for (name, value) in values {
            dict.set_item(name, value)?;
        }
        Ok(dict.into_any().unbind())
    }

    /// A function type's parameter types.
    #[getter]
    fn args(&self, py: Python<'_>) -> PyResult<PyObject> {
        let (_, params, _) = self.function()?;
        let items = params
            .into_iter()
            .map(|p| CTypeObject::wrap(py, p))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyTuple::new(py, items)?.into_any().unbind())
    }

    #[getter]
    fn result(&self, py: Python<'_>) -> PyResult<Py<CTypeObject>> {
        let (result, _, _) = self.function()?;
        CTypeObject::wrap(py, result)
    }

    #[getter]
    fn ellipsis(&self) -> PyResult<bool> {
        Ok(self.function()?.2)
    }

    #[getter]
    fn abi(&self) -> PyResult<i32> {
        self.function()?;
        Ok(2)
    }

    fn __repr__(&self) -> String {
        format!("<ctype '{}'>", self.cname())
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .downcast::<CTypeObject>()
            .is_ok_and(|other| other.get().ty == self.ty)
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.cname().hash(&mut hasher);
        hasher.finish()
    }
}

impl CTypeObject {
    fn function(&self) -> PyResult<(CType, Vec<CType>, bool)> {
        if self.ty.signature().is_none() {
            return Err(PyAttributeError::new_err(format!(
                "ctype '{}' is not a function type",
                self.cname()
            )));
        }
        self.ty
            .signature()
            .ok_or_else(|| PyTypeError::new_err("not a function type"))
    }
}

/// One field of a struct or union type (`ctype.fields`).
#[pyclass(module = "ffikit", name = "CField", frozen)]
pub(crate) struct CFieldObject {
    #[pyo3(get, name = "type")]
    ty: Py<CTypeObject>,
    #[pyo3(get)]
    offset: usize,
    #[pyo3(get)]
    bitshift: i64,
    #[pyo3(get)]
    bitsize: i64,
    /// CFFI's flags: 1 when a list initializer skips the field.
    #[pyo3(get)]
    flags: i32,
}
