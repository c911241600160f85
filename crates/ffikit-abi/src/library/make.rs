//! What a library's declarations make without binding a symbol: C objects owned by Rust
//! ([`CData`]) and callbacks, dynamic and typed.

use ffikit_cdecl::Type;

use super::Library;
use crate::callback::{Callback, CallbackError, TypedCallback};
use crate::data::CData;
use crate::error::Error;
use crate::shape;
use crate::value::Value;

impl Library {
    /// Zeroed C memory for a value of the named type (`"struct point"`, `"int[16]"`), owned
    /// by Rust, like CFFI's `ffi.new`.
    ///
    /// # Errors
    ///
    /// A type that does not parse, is incomplete, or cannot be represented.
    pub fn new_value(&self, type_name: &str) -> Result<CData, Error> {
        let mut scratch = self.declarations().clone();
        let ty = scratch.parse_type(type_name)?;
        CData::new(shape::resolve(&scratch, ty)?)
    }

    /// A type name resolved in this library's declarations.
    pub(crate) fn resolve_type(&self, text: &str) -> Result<shape::Typed, Error> {
        let mut scratch = self.declarations().clone();
        let ty = scratch.parse_type(text)?;
        shape::resolve(&scratch, ty)
    }

    /// The parameter and result types of a function-pointer type (`int (*)(const void *,
    /// const void *)`, a function type, or a typedef of either), resolved here.
    pub(crate) fn callback_signature(
        &self,
        signature: &str,
    ) -> Result<(Vec<shape::Typed>, shape::Typed, bool), Error> {
        let mut scratch = self.declarations().clone();
        let ty = scratch.parse_type(signature)?;
        let function = match scratch.types().get(ty.ty) {
            Type::Pointer(pointee) => scratch.types().get(pointee.ty).clone(),
            other => other.clone(),
        };
        let Type::Function(function) = function else {
            return Err(Error::NotDeclared(format!(
                "`{signature}` is not a function or function-pointer type"
            )));
        };
        let params = function
            .params
            .iter()
            .map(|p| shape::resolve(&scratch, *p))
            .collect::<Result<Vec<_>, _>>()?;
        let result = shape::resolve(&scratch, function.result)?;
        Ok((params, result, function.variadic))
    }

    /// A Rust closure as a C function pointer of the given type, with arguments and result as
    /// [`Value`]s (for language runtimes). `name` identifies it in
    /// [`Error::CallbackFailed`].
    ///
    /// ```
    /// use ffikit_abi::{Library, Value};
    /// let libc = Library::this();
    /// let descending = libc.callback("descending", "int (*)(const void *, const void *)", |args| {
    ///     let (a, b) = (args[0].as_address().unwrap(), args[1].as_address().unwrap());
    ///     // SAFETY: qsort passes pointers to two ints of the array.
    ///     let (a, b) = unsafe { (*(a as *const i32), *(b as *const i32)) };
    ///     Ok(Value::Int(b.cmp(&a) as i64))
    /// })?;
    /// let mut values = libc.new_value("int[4]")?;
    /// values.set(&Value::Array(vec![3.into(), 1.into(), 4.into(), 2.into()]))?;
    /// // SAFETY: qsort's declaration is <stdlib.h>'s; `values` holds 4 ints of 4 bytes, and
    /// // the comparator, alive during the call, compares two of them (promises 2 and 3).
    /// unsafe {
    ///     let qsort = libc.function("void qsort(void *, size_t, size_t, int (*)(const void *, const void *))")?;
    ///     qsort.call(&[values.address(), 4.into(), 4.into(), descending.address()])?;
    /// }
    /// assert_eq!(values.get(), Value::Array(vec![4.into(), 3.into(), 2.into(), 1.into()]));
    /// # Ok::<(), ffikit_abi::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A type that is not a function pointer, a variadic one, or one libffi cannot describe.
    pub fn callback<B>(&self, name: &str, signature: &str, body: B) -> Result<Callback, Error>
    where
        B: Fn(&[Value]) -> Result<Value, CallbackError> + Send + Sync + 'static,
    {
        let (params, result, variadic) = self.callback_signature(signature)?;
        Callback::dynamic(name.to_owned(), params, result, variadic, Box::new(body))
    }

    /// A Rust closure as a C function pointer of type `F`, checked against the declared
    /// `signature` once; calls run the closure directly on the typed arguments.
    ///
    /// # Errors
    ///
    /// As [`callback`](Self::callback), or a Rust type that does not match the declaration.
    pub fn typed_callback<F, B>(
        &self,
        name: &str,
        signature: &str,
        body: B,
    ) -> Result<TypedCallback<F>, Error>
    where
        F: crate::typed::CFunctionPointer + 'static,
        B: crate::callback::TypedBody<F>,
    {
        let (params, result, variadic) = self.callback_signature(signature)?;
        TypedCallback::new(name.to_owned(), params, result, variadic, body)
    }
}
