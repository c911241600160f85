//! Callbacks: Rust closures as C function pointers, built on libffi closures.
//!
//! A [`Callback`] owns its closure code and its Rust state; dropping it frees both. Borrow a
//! [`CallbackPtr`] from it to hand C a function pointer that the borrow checker keeps from
//! outliving the callback. A panic (or an error from a dynamic callback) never unwinds into C:
//! it is caught, C gets a zero result (or the one chosen with [`Callback::on_error`]), and the
//! foreign call that led to it returns [`Error::CallbackFailed`] once C returns.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::convert::{self, Inline, Place, Scratch, WriteOptions};
use crate::error::Error;
use crate::lower::{ClosureCode, Invoke};
use crate::shape::{Shape, Typed};
use crate::typed::{CFunctionPointer, CType, Kind};
use crate::value::Value;

/// What a dynamic callback returns on failure: any error, reported with the callback's name.
pub type CallbackError = Box<dyn std::error::Error + Send + Sync>;

type DynamicBody = dyn Fn(&[Value]) -> Result<Value, CallbackError> + Send + Sync;

/// A failure inside a callback, waiting to be reported by the foreign call around it.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub callback: String,
    pub message: String,
}

thread_local! {
    /// How many ffikit foreign calls this thread is inside.
    static IN_CALL: Cell<u32> = const { Cell::new(0) };
    /// The first callback failure on this thread during the current foreign call.
    static PENDING: RefCell<Option<Failure>> = const { RefCell::new(None) };
}

/// Live callbacks by code address, so a foreign call can find failures of callbacks that C
/// invoked on threads of its own.
fn registry() -> &'static Mutex<HashMap<usize, Weak<State>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<usize, Weak<State>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Marks this thread as inside a foreign call for the guard's life.
pub(crate) struct CallGuard;

impl CallGuard {
    pub(crate) fn enter() -> CallGuard {
        IN_CALL.with(|c| c.set(c.get() + 1));
        CallGuard
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        IN_CALL.with(|c| c.set(c.get() - 1));
    }
}

/// After a foreign call: the failure of a callback it led to, on this thread or (for the
/// callbacks among `args`) on another.
pub(crate) fn take_failure(args: &[Value]) -> Option<Failure> {
    if let Some(failure) = PENDING.with(|p| p.borrow_mut().take()) {
        return Some(failure);
    }
    if LIVE.load(Ordering::Acquire) == 0 {
        return None;
    }
    let registry = registry().lock().unwrap_or_else(|p| p.into_inner());
    args.iter()
        .filter_map(Value::as_address)
        .filter_map(|address| registry.get(&address)?.upgrade())
        .find_map(|state| {
            state
                .failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
        })
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

enum Body {
    Dynamic(Box<DynamicBody>),
    /// Reads its arguments and writes its result itself; returns the panic, if any.
    Typed(Box<dyn Fn(*const *const c_void, *mut c_void) -> Result<(), String> + Send + Sync>),
}

/// A callback's Rust side: what the closure code calls.
struct State {
    name: String,
    params: Vec<Typed>,
    result: Typed,
    body: Body,
    /// Bytes written to C's result slot when the callback fails (zeros unless chosen).
    on_error: Mutex<Vec<u8>>,
    failure: Mutex<Option<Failure>>,
}

impl State {
    fn fail(&self, message: String) {
        let failure = Failure {
            callback: self.name.clone(),
            message,
        };
        if IN_CALL.with(Cell::get) > 0 {
            PENDING.with(|p| {
                p.borrow_mut().get_or_insert(failure);
            });
        } else {
            self.failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert(failure);
        }
    }

    /// Writes the failure result: the chosen bytes, widened to a full register.
    ///
    /// # Safety
    ///
    /// `result` is writable for at least max(result size, 8) bytes.
    unsafe fn write_error_result(&self, result: *mut c_void) {
        let bytes = self.on_error.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: the caller guarantees the room; `bytes` is that size.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), result.cast::<u8>(), bytes.len()) };
    }

    fn result_room(&self) -> usize {
        (self.result.shape.size_align().0 as usize).max(8)
    }
}

impl Invoke for State {
    unsafe fn invoke(&self, args: *const *const c_void, result: *mut c_void) {
        let outcome: Result<(), String> = match &self.body {
            Body::Typed(body) => body(args, result),
            Body::Dynamic(body) => {
                let values: Vec<Value> = self
                    .params
                    .iter()
                    .enumerate()
                    .map(|(index, param)| {
                        let size = param.shape.size_align().0 as usize;
                        // SAFETY: libffi passes one pointer per parameter, to a value of the
                        // parameter's type (size bytes).
                        let bytes = unsafe {
                            std::slice::from_raw_parts((*args.add(index)).cast::<u8>(), size)
                        };
                        convert::read(&param.shape, bytes)
                    })
                    .collect();
                match catch_unwind(AssertUnwindSafe(|| body(&values))) {
                    Ok(Ok(value)) => {
                        let room = self.result_room();
                        let mut staged = Inline([0u8; 64]);
                        let mut heap;
                        let buffer: &mut [u8] = if room <= 64 {
                            &mut staged.0[..room]
                        } else {
                            heap = vec![0u8; room];
                            &mut heap
                        };
                        match write_result(&self.result, &value, buffer, &self.name) {
                            Ok(()) => {
                                // SAFETY: libffi's result slot holds `room` bytes.
                                unsafe {
                                    std::ptr::copy_nonoverlapping(
                                        buffer.as_ptr(),
                                        result.cast::<u8>(),
                                        room,
                                    )
                                };
                                Ok(())
                            }
                            Err(error) => Err(error.to_string()),
                        }
                    }
                    Ok(Err(error)) => Err(error.to_string()),
                    Err(panic) => Err(format!("panicked: {}", panic_message(&*panic))),
                }
            }
        };
        if let Err(message) = outcome {
            self.fail(message);
            // SAFETY: libffi's result slot holds at least max(size, 8) bytes.
            unsafe { self.write_error_result(result) };
        }
    }
}

/// Writes a dynamic callback's result, widening small integers to a full register as libffi
/// expects of closure results.
fn write_result(result: &Typed, value: &Value, buffer: &mut [u8], name: &str) -> Result<(), Error> {
    if matches!(result.shape, Shape::Void) {
        return Ok(());
    }
    let place = Place::Text(name);
    let mut scratch = Scratch::new();
    let options = WriteOptions {
        nullable_string: true,
    };
    let size = result.shape.size_align().0 as usize;
    convert::write(
        &result.shape,
        &result.c_name,
        value,
        &mut buffer[..size],
        &place,
        &mut scratch,
        options,
    )?;
    if !scratch.is_empty() {
        return Err(Error::TypeMismatch {
            place: format!("the result of callback `{name}`"),
            expected: "a value that outlives the callback (not a temporary string)".into(),
            given: value.describe(),
        });
    }
    if let Shape::Int { size, signed } = result.shape {
        // Sign- or zero-extend into the 8-byte ffi_arg libffi returns from.
        let value = convert::read(&result.shape, buffer);
        let wide = match value {
            Value::Int(i) if signed => i.to_ne_bytes(),
            Value::UInt(u) => u.to_ne_bytes(),
            other => unreachable!("an integer reads back as one: {other:?} ({size} bytes)"),
        };
        buffer[..8].copy_from_slice(&wide);
    } else if let Shape::Bool = result.shape {
        buffer[1..8].fill(0);
    }
    Ok(())
}

/// A Rust closure callable from C as a function pointer of a declared type. Dropping it frees
/// the closure code and the Rust state; C must not call the pointer afterwards (borrow a
/// [`CallbackPtr`] to have the compiler check that for calls made from Rust).
#[derive(Debug)]
pub struct Callback {
    // Field order matters: the code (which points at the state) drops first.
    code: ClosureCode,
    state: Arc<State>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Callback {
    fn build(
        name: String,
        params: Vec<Typed>,
        result: Typed,
        variadic: bool,
        body: Body,
    ) -> Result<Callback, Error> {
        if variadic {
            return Err(Error::UnsupportedType {
                ty: name,
                reason: "a callback cannot be variadic (libffi closures have fixed arguments)"
                    .into(),
            });
        }
        let room = (result.shape.size_align().0 as usize).max(8);
        let state = Arc::new(State {
            name: name.clone(),
            params,
            result,
            body,
            on_error: Mutex::new(vec![0; room]),
            failure: Mutex::new(None),
        });
        let shapes: Vec<&Shape> = state.params.iter().map(|p| &p.shape).collect();
        // SAFETY: the state is in an Arc this Callback holds until after the code is freed
        // (field order), and its invoke reads exactly these parameter and result types.
        let code =
            unsafe { ClosureCode::new(&name, &shapes, &state.result.shape, Arc::as_ptr(&state))? };
        registry()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(code.code(), Arc::downgrade(&state));
        LIVE.fetch_add(1, Ordering::AcqRel);
        Ok(Callback { code, state })
    }

    pub(crate) fn dynamic(
        name: String,
        params: Vec<Typed>,
        result: Typed,
        variadic: bool,
        body: Box<DynamicBody>,
    ) -> Result<Callback, Error> {
        Callback::build(name, params, result, variadic, Body::Dynamic(body))
    }

    /// The function pointer's address, for dynamic calls. Keep the callback alive while C may
    /// call it.
    pub fn address(&self) -> Value {
        Value::Pointer(self.code.code())
    }

    /// The name given when the callback was made (used in [`Error::CallbackFailed`]).
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// What C gets from a failed call instead of zero.
    ///
    /// # Errors
    ///
    /// A value that does not fit the callback's result type.
    pub fn on_error(self, value: &Value) -> Result<Self, Error> {
        let room = self.state.result_room();
        let mut bytes = vec![0u8; room];
        write_result(&self.state.result, value, &mut bytes, &self.state.name)?;
        *self
            .state
            .on_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = bytes;
        Ok(self)
    }

    /// A failure of this callback not yet reported by a foreign call (one that happened while
    /// no ffikit call was running on its thread, such as a call through a typed handle).
    pub fn take_failure(&self) -> Option<(String, String)> {
        self.state
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .map(|f| (f.callback, f.message))
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        registry()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.code.code());
        LIVE.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A callback whose Rust signature `F` was checked against its C declaration.
#[derive(Debug)]
pub struct TypedCallback<F> {
    callback: Callback,
    _signature: PhantomData<F>,
}

/// A function pointer to a callback, borrowed from it: the callback cannot be dropped while
/// this is alive. It has the ABI of `F` (`repr(transparent)`), so typed handles can take it as
/// a parameter directly.
#[repr(transparent)]
#[derive(Debug)]
pub struct CallbackPtr<'cb, F> {
    function: F,
    _callback: PhantomData<&'cb Callback>,
}

impl<F: Copy> CallbackPtr<'_, F> {
    /// The function pointer itself. It no longer keeps the callback borrowed: prefer passing
    /// the `CallbackPtr`.
    pub fn get(&self) -> F {
        self.function
    }
}

impl<F> CType for CallbackPtr<'_, F> {
    const KIND: Kind = Kind::Pointer;
}

impl<F: CFunctionPointer> TypedCallback<F> {
    /// Borrows a function pointer of type `F` to the callback.
    pub fn ptr(&self) -> CallbackPtr<'_, F> {
        CallbackPtr {
            // SAFETY: the closure code has the signature `F` was checked against.
            function: unsafe { F::from_address(self.callback.code.code()) },
            _callback: PhantomData,
        }
    }

    /// The untyped callback (address, failures, error result).
    pub fn callback(&self) -> &Callback {
        &self.callback
    }
}

/// A closure that can be the body of a callback of type `F`.
pub trait TypedBody<F>: Send + Sync + 'static {
    #[doc(hidden)]
    /// # Safety
    ///
    /// `args` and `result` are libffi's for a closure of signature `F`.
    unsafe fn invoke(&self, args: *const *const c_void, result: *mut c_void);
}

/// Reads a typed argument and writes a typed result, widened as libffi wants.
pub trait CValue: CType + Copy {
    #[doc(hidden)]
    /// # Safety
    ///
    /// `from` points to a valid value of this type.
    unsafe fn read(from: *const c_void) -> Self;
    #[doc(hidden)]
    /// # Safety
    ///
    /// `to` is writable for max(size, 8) bytes.
    unsafe fn write_widened(self, to: *mut c_void);
}

macro_rules! c_values {
    ($($ty:ty => $wide:ty),* $(,)?) => {$(
        impl CValue for $ty {
            unsafe fn read(from: *const c_void) -> Self {
                // SAFETY: the caller guarantees a valid value there (maybe unaligned).
                unsafe { from.cast::<$ty>().read_unaligned() }
            }
            unsafe fn write_widened(self, to: *mut c_void) {
                // SAFETY: the caller guarantees the room.
                unsafe { to.cast::<$wide>().write_unaligned(self as $wide) }
            }
        }
    )*};
}

c_values! {
    i8 => i64, u8 => u64, i16 => i64, u16 => u64, i32 => i64, u32 => u64, i64 => i64,
    u64 => u64, isize => i64, usize => u64, f32 => f32, f64 => f64,
}

impl CValue for bool {
    unsafe fn read(from: *const c_void) -> Self {
        // SAFETY: the caller guarantees a valid C _Bool (0 or 1) there.
        unsafe { from.cast::<u8>().read() != 0 }
    }
    unsafe fn write_widened(self, to: *mut c_void) {
        // SAFETY: the caller guarantees the room.
        unsafe { to.cast::<u64>().write_unaligned(u64::from(self)) }
    }
}

impl CValue for () {
    unsafe fn read(_: *const c_void) -> Self {}
    unsafe fn write_widened(self, _: *mut c_void) {}
}

impl<T> CValue for *const T {
    unsafe fn read(from: *const c_void) -> Self {
        // SAFETY: the caller guarantees a pointer value there.
        unsafe { from.cast::<*const T>().read_unaligned() }
    }
    unsafe fn write_widened(self, to: *mut c_void) {
        // SAFETY: the caller guarantees the room.
        unsafe { to.cast::<*const T>().write_unaligned(self) }
    }
}

impl<T> CValue for *mut T {
    unsafe fn read(from: *const c_void) -> Self {
        // SAFETY: the caller guarantees a pointer value there.
        unsafe { from.cast::<*mut T>().read_unaligned() }
    }
    unsafe fn write_widened(self, to: *mut c_void) {
        // SAFETY: the caller guarantees the room.
        unsafe { to.cast::<*mut T>().write_unaligned(self) }
    }
}

macro_rules! typed_bodies {
    ($( ($($arg:ident $index:tt),*) )*) => {$(
        impl<C, R: CValue, $($arg: CValue),*> TypedBody<unsafe extern "C" fn($($arg),*) -> R> for C
        where
            C: Fn($($arg),*) -> R + Send + Sync + 'static,
        {
            #[allow(unused_variables, unused_unsafe)]
            unsafe fn invoke(&self, args: *const *const c_void, result: *mut c_void) {
                // SAFETY: libffi passes one pointer per parameter of this signature.
                let value = unsafe { self($($arg::read(*args.add($index))),*) };
                // SAFETY: libffi's result slot holds max(size, 8) bytes.
                unsafe { value.write_widened(result) };
            }
        }
    )*};
}

typed_bodies! {
    ()
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C2 2)
    (A 0, B 1, C2 2, D 3)
    (A 0, B 1, C2 2, D 3, E 4)
    (A 0, B 1, C2 2, D 3, E 4, F 5)
}

impl<F: CFunctionPointer> TypedCallback<F> {
    pub(crate) fn new<B: TypedBody<F>>(
        name: String,
        params: Vec<Typed>,
        result: Typed,
        variadic: bool,
        body: B,
    ) -> Result<TypedCallback<F>, Error> {
        crate::typed::check_signature::<F>(
            &name,
            &params.iter().collect::<Vec<_>>(),
            &result,
            variadic,
        )?;
        let invoke = move |args: *const *const c_void, result: *mut c_void| {
            // SAFETY: libffi's arguments and result for signature F, which the declaration
            // was checked to match.
            catch_unwind(AssertUnwindSafe(|| unsafe { body.invoke(args, result) }))
                .map_err(|panic| format!("panicked: {}", panic_message(&*panic)))
        };
        let callback = Callback::build(
            name,
            params,
            result,
            variadic,
            Body::Typed(Box::new(invoke)),
        )?;
        Ok(TypedCallback {
            callback,
            _signature: PhantomData,
        })
    }
}
