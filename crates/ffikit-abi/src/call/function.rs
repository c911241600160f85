//! The public handles: [`Function`], a bound declaration whose calls are `unsafe`, and
//! [`Safe`], one whose binder made the per-call promise once.

use std::ffi::c_void;
use std::marker::PhantomData;
use std::sync::Arc;

use super::{Prepared, Route, Signature};
use crate::convert;
use crate::error::Error;
use crate::shape::{Shape, Typed};
use crate::value::Value;

/// A C function bound from a [`Library`](crate::Library), callable with dynamic [`Value`]s. It cannot
/// outlive its library (see [`OwnedFunction`](crate::OwnedFunction) for one that keeps the library alive).
///
/// Each [`call`](Self::call) is `unsafe`: the caller vouches that the arguments meet the
/// function's own preconditions. Where a function has none beyond what ffikit checks (`cos`,
/// `abs`, `strlen` given strings), [`into_safe`](Self::into_safe) makes that promise once
/// and gives a handle with a safe `call`.
///
/// Functions are `Send + Sync`: any number of threads may call one at once.
#[derive(Debug)]
pub struct Function<'lib> {
    prepared: Prepared,
    _library: PhantomData<&'lib ()>,
}

/// A function whose binder promised that every argument list this handle's safe
/// [`call`](Safe::call) accepts is sound for it ([`Function::into_safe`],
/// [`OwnedFunction::into_safe`](crate::OwnedFunction::into_safe)): promise 3 of the [safety model](crate#safety-model), made
/// once instead of at each call, as for a safe function in cxx's `unsafe extern` block.
///
/// The safe call accepts only values whose memory ffikit vouches for: numbers (range
/// checked), strings and bytes (copied for the duration of the call), struct values made of
/// these, and NULL where [`allow_null`](Function::allow_null) said so. A raw address — a
/// [`Value::Pointer`], a `char *` result passed back ([`Value::Text`]), a [`CData`] or
/// callback address — is refused with [`Error::UncheckedPointer`]: only the `unsafe`
/// [`Function::call`] takes those, where the caller vouches for them.
///
/// It dereferences to the function, for its name, address, typed handles and its own
/// `unsafe` call: `unsafe { (*strlen).call(&[buffer.address()]) }`.
///
/// [`CData`]: crate::CData
#[derive(Debug)]
pub struct Safe<F> {
    pub(crate) function: F,
}

/// A [`Function`] whose calls are safe ([`Function::into_safe`]).
pub type SafeFunction<'lib> = Safe<Function<'lib>>;

impl<'lib> Function<'lib> {
    pub(crate) fn new(signature: Signature, code: usize) -> Result<Function<'lib>, Error> {
        Ok(Function {
            prepared: Prepared::new(Arc::new(signature), Vec::new(), code, false)?,
            _library: PhantomData,
        })
    }

    /// Calls the function. Every argument is checked against the declaration first.
    ///
    /// For a variadic function bound without [`variadic`](Self::variadic) types, the
    /// variadic arguments' C types are inferred (int, long long, double, char *, void *).
    ///
    /// # Errors
    ///
    /// [`Error::ArityMismatch`], [`Error::TypeMismatch`], [`Error::OutOfRange`],
    /// [`Error::NullPointer`], [`Error::InteriorNul`]: the function is not called.
    ///
    /// # Safety
    ///
    /// The arguments meet the function's preconditions beyond what ffikit checks (promise 3
    /// of the [safety model](crate#safety-model)): every address passed ([`Value::Pointer`],
    /// [`CData::address`](crate::CData::address), [`Callback::address`](crate::Callback::address),
    /// a [`Value::Text`] result passed on) points to memory valid for what the function does
    /// with it, for as long as it does (a callback C keeps must outlive C's use of it:
    /// [`Callback::leak`](crate::Callback::leak)); sizes and counts match the buffers; the
    /// function's own rules (no double free, a lock held...) are kept. Strings and bytes given
    /// as [`Value::Str`] and [`Value::Bytes`] are copies ffikit owns for the call: C may read
    /// them (and write within them), never keep them. A [`Value::CString`] is passed to a
    /// `const char *` as it is (C reads it, as the declaration says), to a writable one as a
    /// copy.
    #[inline]
    pub unsafe fn call(&self, args: &[Value]) -> Result<Value, Error> {
        self.prepared.call(args)
    }

    /// [`call`](Self::call), with the result read into `result`: a struct, union or array
    /// result into a [`Value::Data`] of its type already there, in place — its memory
    /// reused, so a call with structs of up to 4 KiB by value and such a result allocates
    /// nothing — any other value replaced by the result as `call` returns it. (Through
    /// libffi; to read a result by value in a loop without allocating.)
    ///
    /// ```
    /// use ffikit_abi::{Library, Value};
    /// let libc = Library::this();
    /// libc.cdef("typedef struct { int quot; int rem; } div_t;")?;
    /// // SAFETY: div is declared as in <stdlib.h>.
    /// let div = unsafe { libc.function("div_t div(int, int)")? };
    /// let mut quotient = Value::Data(libc.new_value("div_t")?);
    /// for n in 10..20 {
    ///     // SAFETY: two ints, any value but a zero divisor.
    ///     unsafe { div.call_into(&[n.into(), 3.into()], &mut quotient)? };
    ///     let Value::Data(object) = &quotient else { unreachable!() };
    ///     assert_eq!(object.get().field("rem"), Some(&Value::Int(n % 3)));
    /// }
    /// # Ok::<(), ffikit_abi::Error>(())
    /// ```
    ///
    /// # Safety
    ///
    /// As [`call`](Self::call).
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    #[inline]
    pub unsafe fn call_into(&self, args: &[Value], result: &mut Value) -> Result<(), Error> {
        self.prepared.call_into(args, result)
    }

    /// Promises that the function is sound for every argument list the safe
    /// [`Safe::call`] accepts, so its calls need no `unsafe`.
    ///
    /// ```
    /// # use ffikit_abi::{Library, Value};
    /// let libc = Library::this();
    /// // SAFETY: strlen is declared as in <string.h>; given a string ffikit copies, NUL-terminated,
    /// // it reads only that string.
    /// let strlen = unsafe { libc.function("size_t strlen(const char *)")?.into_safe() };
    /// assert_eq!(strlen.call(&["hello".into()])?, Value::UInt(5));
    /// // A raw address is the caller's promise, which the safe call cannot take.
    /// let error = strlen.call(&[Value::Pointer(16)]).unwrap_err();
    /// assert_eq!(error.kind(), ffikit_abi::ErrorKind::UncheckedPointer);
    /// # Ok::<(), ffikit_abi::Error>(())
    /// ```
    ///
    /// # Safety
    ///
    /// Calling the function is sound with every argument list [`Safe::call`] accepts: any
    /// in-range numbers, any strings and bytes (copies owned by ffikit for the call), NULL
    /// for the parameters marked [`allow_null`](Self::allow_null) (promise 3, made once) —
    /// from any thread, concurrently too (the handle is `Send` and `Sync`: `strtok` or
    /// `setenv` do not qualify).
    /// True of `cos`, `abs`, `strlen(const char *)`, `getenv`; false of `free`, `memcpy`,
    /// `qsort`, `strcpy` (a count or a destination ffikit cannot check), which keep the
    /// `unsafe` [`call`](Self::call).
    pub unsafe fn into_safe(self) -> SafeFunction<'lib> {
        Safe { function: self }
    }

    /// The call of a [`Safe`] handle: raw addresses (and NULL where not allowed) refused,
    /// the rest called.
    ///
    /// # Safety
    ///
    /// [`into_safe`](Self::into_safe)'s promise was made for this function.
    #[inline]
    pub(crate) unsafe fn call_refusing_raw(&self, args: &[Value]) -> Result<Value, Error> {
        self.prepared.refuse_unchecked(args)?;
        // SAFETY: the caller's promise covers every argument list the refusal lets by.
        unsafe { self.call(args) }
    }

    /// The same function, no longer tied to its library's borrow.
    ///
    /// # Safety
    ///
    /// The library the function came from stays loaded for as long as the result is used
    /// (an [`OwnedFunction`](crate::OwnedFunction)(crate::OwnedFunction) keeps it beside the function).
    pub(crate) unsafe fn detach(self) -> Function<'static> {
        Function {
            prepared: self.prepared,
            _library: PhantomData,
        }
    }

    /// Checks `args` as a call would, without calling: pointer arguments go to `pointer`
    /// (an isolated call's conversion of its own).
    pub(crate) fn check_isolated(
        &self,
        args: &[Value],
        pointer: &mut dyn FnMut(usize, super::PointerParam<'_>, &Value) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.prepared.check(args, pointer)
    }

    /// The same function prepared with these types for its variadic arguments.
    pub(crate) fn with_variadic_types(&self, types: &[Typed]) -> Result<Function<'lib>, Error> {
        Ok(Function {
            prepared: self.prepared.specialize(types)?,
            _library: PhantomData,
        })
    }

    /// Call through libffi even where the fast path applies (it is the reference the fast
    /// path is tested against; this is for comparisons).
    pub fn use_libffi(mut self) -> Self {
        self.prepared.set_force_libffi(true);
        self
    }

    /// Calls take the general conversions even where a scalar lane (one comparison per
    /// argument, monomorphized calls) or a struct's member-by-member plan would apply: the
    /// reference those are tested against, and for comparisons.
    pub fn use_general_path(mut self) -> Self {
        self.prepared.set_general_only(true);
        self
    }

    /// Whether calls skip libffi: a scalar lane in registers, or the classified fast path
    /// (a register file filled directly).
    pub fn is_fast(&self) -> bool {
        matches!(self.prepared.route, Route::LaneRegisters | Route::Fast)
    }

    /// Calls the prepared libffi interface directly: no argument checks, no conversions, no
    /// errno or callback bookkeeping. It is the baseline `ffikit compare` measures the checked
    /// call against ("how much does the wrapper add to `ffi_call`").
    ///
    /// # Safety
    ///
    /// `args` must hold one pointer per parameter (fixed and declared variadic), each to a
    /// valid value of that parameter's C type (after promotion); `result` must be writable
    /// for the result's size rounded up to 8 bytes, and 8-byte aligned.
    pub unsafe fn call_prepared_unchecked(&self, args: &mut [*mut c_void], result: *mut c_void) {
        assert_eq!(
            args.len(),
            self.prepared.arity(),
            "one pointer per parameter"
        );
        // SAFETY: the caller guarantees the argument pointers and the result buffer; the
        // interface was prepared from the function's declaration.
        unsafe {
            self.prepared.interface.call(
                self.prepared.code as *const c_void,
                args.as_mut_ptr(),
                result,
            )
        }
    }

    /// Clear `errno` before each call and save it right after, for [`last_errno`](crate::last_errno).
    pub fn capture_errno(mut self) -> Self {
        self.prepared.capture_errno = true;
        self.prepared.choose_route();
        self
    }

    /// Whether calls save errno ([`capture_errno`](Self::capture_errno)).
    pub fn captures_errno(&self) -> bool {
        self.prepared.capture_errno
    }

    /// Accept NULL for the pointer parameter at `index` (0-based). [`Function::call`] refuses
    /// NULL only for `char *` parameters, as strings C will read; [`Safe::call`] refuses it
    /// for every pointer parameter not allowed here.
    pub fn allow_null(mut self, index: usize) -> Self {
        self.prepared.allow_null(index);
        self
    }

    /// The declared name.
    pub fn name(&self) -> &str {
        &self.prepared.signature.name
    }

    /// Whether fixed parameter `index` is a function pointer (a callback goes there).
    pub fn takes_callback(&self, index: usize) -> bool {
        let params = &self.prepared.signature.params;
        params.get(index).is_some_and(|p| {
            matches!(
                p.typed.shape,
                crate::shape::Shape::Pointer(crate::shape::Pointee::Function)
            )
        })
    }

    /// Whether fixed parameter `index` is a struct or union by value.
    pub fn takes_record(&self, index: usize) -> bool {
        let params = &self.prepared.signature.params;
        params
            .get(index)
            .is_some_and(|p| matches!(p.typed.shape, crate::shape::Shape::Record { .. }))
    }

    /// Whether fixed parameter `index` is a pointer (a language binding passes its C objects
    /// by address there, by value elsewhere).
    pub fn takes_pointer(&self, index: usize) -> bool {
        let params = &self.prepared.signature.params;
        params
            .get(index)
            .is_some_and(|p| matches!(p.typed.shape, crate::shape::Shape::Pointer(_)))
    }

    /// The address of the function's code.
    pub fn address(&self) -> usize {
        self.prepared.code
    }

    /// A typed handle: checks the Rust function-pointer type `F` against the declaration
    /// once, then calls directly (see [`Typed`](crate::TypedFunction)).
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] when `F`'s parameters or result differ from the declaration.
    pub fn typed<F: crate::typed::CFunctionPointer>(
        &self,
    ) -> Result<crate::typed::TypedFunction<'lib, F>, Error> {
        crate::typed::TypedFunction::check(
            &self.prepared.signature.name,
            &self
                .prepared
                .signature
                .params
                .iter()
                .map(|p| &p.typed)
                .collect::<Vec<_>>(),
            &self.prepared.signature.result,
            self.prepared.signature.variadic,
            self.prepared.code,
        )
    }
}

impl Safe<Function<'_>> {
    /// Calls the function, as [`Function::call`] does, after refusing raw addresses (see
    /// [`Safe`]).
    ///
    /// # Errors
    ///
    /// [`Error::UncheckedPointer`] for a raw address, [`Error::NullPointer`] for a NULL not
    /// allowed, else as [`Function::call`]: the function is not called.
    #[inline]
    pub fn call(&self, args: &[Value]) -> Result<Value, Error> {
        // SAFETY: `into_safe` made promise 3 for every argument list this refusal lets by.
        unsafe { self.function.call_refusing_raw(args) }
    }
}

impl<F> Safe<F> {
    /// The function, whose `call` is `unsafe` again (for raw addresses).
    pub fn into_inner(self) -> F {
        self.function
    }
}

impl<F> std::ops::Deref for Safe<F> {
    type Target = F;

    fn deref(&self) -> &F {
        &self.function
    }
}

impl Prepared {
    fn allow_null(&mut self, index: usize) {
        let mut signature = (*self.signature).clone();
        if let Some(param) = signature.params.get_mut(index) {
            param.nullable = true;
        }
        self.signature = Arc::new(signature);
    }

    /// What a safe call refuses: any raw address, anywhere in the arguments, and NULL except
    /// for top-level parameters allowed to be NULL.
    fn refuse_unchecked(&self, args: &[Value]) -> Result<(), Error> {
        for (index, value) in args.iter().enumerate() {
            let param = self.signature.params.get(index);
            // NULL for a parameter that is not a pointer is left to the conversions' own
            // type error.
            let nullable =
                param.is_some_and(|p| p.nullable || !matches!(p.typed.shape, Shape::Pointer(_)));
            let place = || {
                convert::Place::Argument {
                    index,
                    name: param.and_then(|p| p.name.as_deref()),
                    function: &self.signature.name,
                }
                .to_string()
            };
            let ty = param.map_or("variadic argument", |p| p.typed.c_name.as_str());
            refuse_unchecked_value(value, nullable, ty, &place, 0)?;
        }
        Ok(())
    }
}

/// Refuses raw addresses (and NULL unless `nullable`) in `value` and everything inside it.
fn refuse_unchecked_value(
    value: &Value,
    nullable: bool,
    ty: &str,
    place: &dyn Fn() -> String,
    depth: u32,
) -> Result<(), Error> {
    // No C type nests deeper than this, so the conversions never reach a value below it (and
    // refuse the value): the walk stops there instead of following a hostile nesting down.
    if depth > ffikit_cdecl::MAX_TYPE_DEPTH {
        return Ok(());
    }
    match value {
        Value::Null | Value::Pointer(0) if nullable => Ok(()),
        Value::Null | Value::Pointer(0) => Err(Error::NullPointer {
            place: place(),
            ty: ty.to_owned(),
        }),
        Value::Pointer(_) | Value::Text { .. } => Err(Error::UncheckedPointer {
            place: place(),
            given: value.describe(),
        }),
        // Its pointer members could hold any address.
        Value::Data(data) if data.shape().holds_pointers() => Err(Error::UncheckedPointer {
            place: place(),
            given: format!(
                "{} (its pointer members are raw addresses)",
                value.describe()
            ),
        }),
        Value::Struct(members) => members.iter().try_for_each(|(_, member)| {
            refuse_unchecked_value(member, false, ty, place, depth + 1)
        }),
        Value::Array(items) => items
            .iter()
            .try_for_each(|item| refuse_unchecked_value(item, false, ty, place, depth + 1)),
        _ => Ok(()),
    }
}
