//! Callbacks: Rust closures as C function pointers — pre-compiled slot functions where the
//! signature allows (typed callbacks; dynamic ones whose arguments all arrive in registers,
//! on x86-64 System V), libffi closures otherwise.
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
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use arrayvec::ArrayVec;

#[cfg(fast_path)]
use crate::convert::Quick;
use crate::convert::{self, Inline, Place, QuickResult, Scratch, WriteOptions};
use crate::error::Error;
use crate::lower::{ClosureCode, Invoke};
use crate::shape::{Shape, Typed};
use crate::value::Value;

#[cfg(fast_path)]
mod registers;
mod typed;

pub use typed::{CValue, CallbackPtr, TypedBody, TypedCallback};

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
    /// How many ffikit foreign calls this thread is inside, times two, plus one while
    /// `PENDING` holds a failure: the common call reads and writes this one cell only.
    static IN_CALL: Cell<u32> = const { Cell::new(0) };
    /// The first callback failure on this thread during the current foreign call.
    static PENDING: RefCell<Option<Failure>> = const { RefCell::new(None) };
}

/// Live callbacks by code address, so a foreign call can find failures of callbacks that C
/// invoked on threads of its own.
fn registry() -> &'static Mutex<HashMap<usize, Weak<Shared>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<usize, Weak<Shared>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Failures kept in callbacks' own slots (made on threads not inside a call) and not yet
/// taken: while there are none, a call need not search the registry for them.
static UNREPORTED: AtomicUsize = AtomicUsize::new(0);

/// Marks this thread as inside a foreign call, when any callback is live: with none live,
/// no callback can fail during the call (one made during it, on another thread, keeps its
/// failure for [`Callback::take_failure`]), so the common call pays one load.
pub(crate) struct CallGuard {
    /// This thread's `IN_CALL`, while a callback is live: found once when the call starts
    /// (a thread-local lookup is a function call in a shared object), used again when it
    /// ends. A raw pointer, so the guard stays on its thread (neither `Send` nor `Sync`).
    in_call: Option<*const Cell<u32>>,
}

/// Whether any callback is live (none: a foreign call cannot lead to a callback failure).
#[inline(always)]
pub(crate) fn any_live() -> bool {
    LIVE.load(Ordering::Acquire) != 0
}

impl CallGuard {
    #[inline(always)]
    pub(crate) fn enter() -> CallGuard {
        let in_call = any_live().then(|| {
            IN_CALL.with(|c| {
                c.set(c.get() + 2);
                std::ptr::from_ref(c)
            })
        });
        CallGuard { in_call }
    }

    /// After the foreign call: the failure of a callback it led to, on this thread or (for
    /// the callbacks among `args`) on another.
    #[inline(always)]
    pub(crate) fn finish(self, args: &[Value]) -> Option<Failure> {
        let in_call = self.in_call?;
        // SAFETY: the guard's thread's own `IN_CALL` (the guard cannot leave its thread),
        // which lives as long as the thread; a `Cell`, only ever used from that thread.
        let in_call = unsafe { &*in_call };
        let left = in_call.get() - 2;
        in_call.set(left & !1);
        if left & 1 != 0 || UNREPORTED.load(Ordering::Acquire) != 0 {
            take_failure_of_live(args)
        } else {
            None
        }
    }
}

#[cold]
#[inline(never)]
fn take_failure_of_live(args: &[Value]) -> Option<Failure> {
    if let Some(failure) = PENDING.with(|p| p.borrow_mut().take()) {
        return Some(failure);
    }
    if UNREPORTED.load(Ordering::Acquire) == 0 {
        return None;
    }
    let registry = registry().lock().unwrap_or_else(|p| p.into_inner());
    args.iter()
        .filter_map(Value::as_address)
        .filter_map(|address| registry.get(&address)?.upgrade())
        .find_map(|state| state.take_failure())
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// What every callback shares with the registry: its name, its failure slot, its error
/// result.
struct Shared {
    name: String,
    /// Bytes written to C's result slot when the callback fails (zeros unless chosen).
    on_error: Mutex<Vec<u8>>,
    failure: Mutex<Option<Failure>>,
}

impl Shared {
    fn fail(&self, message: String) {
        let failure = Failure {
            callback: self.name.clone(),
            message,
        };
        if IN_CALL.with(Cell::get) >= 2 {
            PENDING.with(|p| {
                p.borrow_mut().get_or_insert(failure);
            });
            IN_CALL.with(|c| c.set(c.get() | 1));
        } else {
            let mut slot = self.failure.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(failure);
                UNREPORTED.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// The failure kept in this callback's slot, taken.
    fn take_failure(&self) -> Option<Failure> {
        let taken = self
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if taken.is_some() {
            UNREPORTED.fetch_sub(1, Ordering::AcqRel);
        }
        taken
    }

    /// Reports the failure and gives C the error result.
    ///
    /// # Safety
    ///
    /// `result` is writable for at least max(result size, 8) bytes.
    unsafe fn failed(&self, message: String, result: *mut c_void) {
        self.fail(message);
        let bytes = self.on_error.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: the caller guarantees the room; `bytes` is that size.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), result.cast::<u8>(), bytes.len()) };
    }
}

/// A dynamic callback's Rust side: arguments and result as Values.
struct DynamicState {
    shared: Arc<Shared>,
    params: Vec<Typed>,
    /// Each parameter's size and, for a scalar, its conversion straight from its bytes.
    readers: Vec<(usize, QuickResult)>,
    result: Typed,
    /// The result's conversion to register bits for the common values.
    #[cfg(fast_path)]
    result_quick: Quick,
    body: Box<DynamicBody>,
    /// The registers each parameter arrives in, for a register-file slot.
    #[cfg(fast_path)]
    registers: ArrayVec<registers::RegisterArg, { registers::MOST_ARGS }>,
}

/// Arguments of dynamic callbacks are gathered on the stack up to this many.
const INLINE_VALUES: usize = 8;

impl DynamicState {
    /// # Safety
    ///
    /// As [`Invoke::invoke`].
    unsafe fn read_argument(&self, args: *const *const c_void, index: usize) -> Value {
        let (size, reader) = self.readers[index];
        // SAFETY: libffi passes one pointer per parameter, to a value of the parameter's type
        // (size bytes).
        let bytes = unsafe { std::slice::from_raw_parts((*args.add(index)).cast::<u8>(), size) };
        if reader != QuickResult::General && size <= 8 {
            // A scalar: its bytes are the low bytes of a register word (little-endian).
            let mut word = [0u8; 8];
            word[..size].copy_from_slice(bytes);
            return reader.scalar(u64::from_le_bytes(word));
        }
        convert::read(&self.params[index].shape, bytes)
    }

    fn run(&self, values: &[Value], result: *mut c_void) -> Result<(), String> {
        match catch_unwind(AssertUnwindSafe(|| (self.body)(values))) {
            Ok(Ok(value)) => {
                // SAFETY: libffi's result slot holds max(size, 8) bytes.
                let written =
                    unsafe { write_result(&self.result, &value, result, &self.shared.name) }
                        .map_err(|error| error.to_string());
                value.dispose();
                written
            }
            Ok(Err(error)) => Err(error.to_string()),
            Err(panic) => Err(format!("panicked: {}", panic_message(&*panic))),
        }
    }

    /// [`run`](Self::run) for a scalar result: the body run, its result as the word a
    /// register returns it in (integers widened to 8 bytes, floats in the low bits).
    #[cfg(fast_path)]
    #[inline(always)]
    fn run_for_word(&self, values: &[Value]) -> Result<u64, String> {
        match catch_unwind(AssertUnwindSafe(|| (self.body)(values))) {
            Ok(Ok(value)) => {
                let word = match self.result_quick.bits(&value) {
                    Some(word) => Ok(word),
                    None => {
                        let mut out = [0u64; 2];
                        // SAFETY: `out` holds 16 bytes, at least max(result size, 8).
                        unsafe {
                            write_result(
                                &self.result,
                                &value,
                                out.as_mut_ptr().cast(),
                                &self.shared.name,
                            )
                        }
                        .map(|()| out[0])
                        .map_err(|error| error.to_string())
                    }
                };
                value.dispose();
                word
            }
            Ok(Err(error)) => Err(error.to_string()),
            Err(panic) => Err(format!("panicked: {}", panic_message(&*panic))),
        }
    }
}

impl Invoke for DynamicState {
    unsafe fn invoke(&self, args: *const *const c_void, result: *mut c_void) {
        let count = self.params.len();
        let outcome = if count <= INLINE_VALUES {
            // Only the arguments there are are made (and dropped).
            let mut values = ArrayVec::<Value, INLINE_VALUES>::new();
            for index in 0..count {
                // SAFETY: the caller's guarantee, passed on.
                values.push(unsafe { self.read_argument(args, index) });
            }
            self.run(&values, result)
        } else {
            // SAFETY: as above.
            let values: Vec<Value> = (0..count)
                .map(|i| unsafe { self.read_argument(args, i) })
                .collect();
            self.run(&values, result)
        };
        if let Err(message) = outcome {
            // SAFETY: libffi's result slot holds at least max(size, 8) bytes.
            unsafe { self.shared.failed(message, result) };
        }
    }
}

/// Writes a callback's result into libffi's result slot, widening small integers to the
/// full register libffi returns closure results from.
///
/// # Safety
///
/// `out` is writable for max(result size, 8) bytes.
unsafe fn write_result(
    result: &Typed,
    value: &Value,
    out: *mut c_void,
    name: &str,
) -> Result<(), Error> {
    let place = Place::Text(name);
    // The common scalar results directly, without staging.
    match (&result.shape, value) {
        (Shape::Void, _) => return Ok(()),
        (Shape::Int { size, signed }, Value::Int(_) | Value::UInt(_) | Value::Bool(_)) => {
            let (min, max) = convert::int_range(*size, *signed);
            let v = value.as_i128().expect("an integer");
            if v < min || v > max {
                return Err(Error::OutOfRange {
                    place: place.to_string(),
                    value: v.to_string(),
                    ty: result.c_name.clone(),
                    min: min.to_string(),
                    max: max.to_string(),
                });
            }
            // SAFETY: the caller guarantees 8 bytes.
            unsafe { out.cast::<i64>().write_unaligned(v as i64) };
            return Ok(());
        }
        (Shape::Double, Value::Float(f)) => {
            // SAFETY: the caller guarantees 8 bytes.
            unsafe { out.cast::<f64>().write_unaligned(*f) };
            return Ok(());
        }
        _ => {}
    }
    let room = (result.shape.size_align().0 as usize).max(8);
    let mut staged = Inline([0u8; 64]);
    let mut heap;
    let buffer: &mut [u8] = if room <= 64 {
        &mut staged.0[..room]
    } else {
        heap = vec![0u8; room];
        &mut heap
    };
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
    if let Shape::Int { signed, .. } = result.shape {
        // Sign- or zero-extend into the 8-byte ffi_arg.
        let wide = match convert::read(&result.shape, buffer) {
            Value::Int(i) if signed => i.to_ne_bytes(),
            Value::UInt(u) => u.to_ne_bytes(),
            other => unreachable!("an integer reads back as one: {other:?}"),
        };
        buffer[..8].copy_from_slice(&wide);
    }
    // SAFETY: the caller guarantees `room` bytes.
    unsafe { std::ptr::copy_nonoverlapping(buffer.as_ptr(), out.cast::<u8>(), room) };
    Ok(())
}

/// A Rust closure callable from C as a function pointer of a declared type. Dropping it frees
/// the closure code and the Rust state; C must not call the pointer afterwards (borrow a
/// [`CallbackPtr`] to have the compiler check that for calls made from Rust).
pub struct Callback {
    // Dropped by hand, code first (it points at the state): at once, or — when the callback
    // is dropped from inside a callback's own invocation — once that invocation has
    // returned (`Running`).
    code: ManuallyDrop<Code>,
    _state: ManuallyDrop<Box<dyn Any + Send + Sync>>,
    shared: Arc<Shared>,
    result: Typed,
}

/// Where a callback's code comes from.
#[derive(Debug)]
enum Code {
    /// A libffi closure.
    Closure(ClosureCode),
    /// A pre-compiled slot function (typed callbacks); the guard frees the slot.
    Slot {
        _guard: crate::slots::SlotGuard,
        address: usize,
    },
}

impl Code {
    fn code(&self) -> usize {
        match self {
            Code::Closure(closure) => closure.code(),
            Code::Slot { address, .. } => *address,
        }
    }
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callback")
            .field("name", &self.shared.name)
            .field("address", &self.code.code())
            .finish_non_exhaustive()
    }
}

impl Callback {
    fn shared(name: &str, result: &Typed) -> Arc<Shared> {
        let room = (result.shape.size_align().0 as usize).max(8);
        Arc::new(Shared {
            name: name.to_owned(),
            on_error: Mutex::new(vec![0; room]),
            failure: Mutex::new(None),
        })
    }

    /// Makes the closure code for `state`, which `Callback` then owns.
    fn build<S: Invoke + Send + Sync + 'static>(
        name: &str,
        params: &[Typed],
        result: Typed,
        shared: Arc<Shared>,
        state: Box<S>,
    ) -> Result<Callback, Error> {
        let shapes: Vec<&Shape> = params.iter().map(|p| &p.shape).collect();
        crate::shape::check_by_value(name, shapes.iter().copied(), &result.shape)?;
        // SAFETY: the state is boxed (a stable address) and owned by the Callback, which
        // frees the code before it (field order); it reads exactly these types.
        let code = Code::Closure(unsafe {
            ClosureCode::new(name, &shapes, &result.shape, &*state as *const S)?
        });
        Callback::finish(code, state, shared, result)
    }

    /// Registers the callback and assembles it.
    fn finish(
        code: Code,
        state: Box<dyn Any + Send + Sync>,
        shared: Arc<Shared>,
        result: Typed,
    ) -> Result<Callback, Error> {
        registry()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(code.code(), Arc::downgrade(&shared));
        LIVE.fetch_add(1, Ordering::AcqRel);
        Ok(Callback {
            code: ManuallyDrop::new(code),
            _state: ManuallyDrop::new(state),
            shared,
            result,
        })
    }

    fn refuse_variadic(name: &str, variadic: bool) -> Result<(), Error> {
        if variadic {
            return Err(Error::UnsupportedType {
                ty: name.to_owned(),
                reason: "a callback cannot be variadic (libffi closures have fixed arguments)"
                    .into(),
            });
        }
        Ok(())
    }

    pub(crate) fn dynamic(
        name: String,
        params: Vec<Typed>,
        result: Typed,
        variadic: bool,
        body: Box<DynamicBody>,
    ) -> Result<Callback, Error> {
        Callback::refuse_variadic(&name, variadic)?;
        let shared = Callback::shared(&name, &result);
        #[cfg(fast_path)]
        let registers = registers::plan(&params, &result);
        let state = Box::new(DynamicState {
            shared: Arc::clone(&shared),
            readers: params
                .iter()
                .map(|p| {
                    (
                        p.shape.size_align().0 as usize,
                        QuickResult::for_shape(&p.shape),
                    )
                })
                .collect(),
            params: params.clone(),
            #[cfg(fast_path)]
            result_quick: Quick::for_shape(&result.shape),
            result: result.clone(),
            body,
            #[cfg(fast_path)]
            registers: registers.clone().unwrap_or_default(),
        });
        // The fast way: a register-file slot, when the signature fits one and one is free.
        #[cfg(fast_path)]
        if registers.is_some() {
            let data = (&*state as *const DynamicState).cast::<()>();
            if let Some(guard) = crate::slots::SlotGuard::claim(data, std::ptr::null()) {
                let address = registers::slot_functions()[guard.index()];
                let code = Code::Slot {
                    _guard: guard,
                    address,
                };
                return Callback::finish(code, state, shared, result);
            }
        }
        Callback::build(&name, &params, result, shared, state)
    }

    /// The function pointer's address, for dynamic calls. Passing it is the caller's promise
    /// (the `unsafe` [`Function::call`](crate::Function::call)) that C stops calling it before
    /// the callback drops: keep the callback alive for as long as C may call it, or
    /// [`leak`](Self::leak) it.
    pub fn address(&self) -> Value {
        Value::Pointer(self.code.code())
    }

    /// Keeps the callback alive until the process exits, for C that keeps the pointer past
    /// any call (`on_exit`, `atexit`, `signal`, `sqlite3_create_function`, an event loop's
    /// handlers): what ctypes users do by keeping a reference forever, made explicit. Its
    /// code and state stay reachable (no leak report), and are never freed.
    ///
    /// ```
    /// use ffikit_abi::{Library, Value};
    /// let libc = Library::this();
    /// let bye = libc.callback("bye", "void (*)(int, void *)", |_| Ok(Value::Void))?.leak();
    /// // SAFETY: on_exit is declared as in <stdlib.h>; the callback lives as long as the
    /// // process, so C may call it at exit (promise 5).
    /// let on_exit = unsafe { libc.function("int on_exit(void (*)(int, void *), void *)")? };
    /// // SAFETY: as above; the argument given back to the callback is NULL, which it ignores.
    /// unsafe { on_exit.call(&[bye.address(), Value::Null])? };
    /// # Ok::<(), ffikit_abi::Error>(())
    /// ```
    pub fn leak(self) -> &'static Callback {
        let kept: &'static Callback = Box::leak(Box::new(self));
        // Kept in a list so that leak checkers see it as reachable, not lost.
        KEPT.lock().unwrap_or_else(|p| p.into_inner()).push(kept);
        kept
    }

    /// The name given when the callback was made (used in [`Error::CallbackFailed`]).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// What C gets from a failed call instead of zero.
    ///
    /// # Errors
    ///
    /// A value that does not fit the callback's result type.
    pub fn on_error(self, value: &Value) -> Result<Self, Error> {
        let room = (self.result.shape.size_align().0 as usize).max(8);
        let mut bytes = vec![0u8; room];
        // SAFETY: `bytes` holds max(size, 8) bytes.
        unsafe {
            write_result(
                &self.result,
                value,
                bytes.as_mut_ptr().cast(),
                &self.shared.name,
            )?
        };
        *self
            .shared
            .on_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = bytes;
        Ok(self)
    }

    /// A failure of this callback not yet reported by a foreign call (one that happened while
    /// no ffikit call was running on its thread, such as a call through a typed handle).
    pub fn take_failure(&self) -> Option<(String, String)> {
        self.shared.take_failure().map(|f| (f.callback, f.message))
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        // A failure nobody took goes with the callback.
        let _ = self.shared.take_failure();
        registry()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.code.code());
        LIVE.fetch_sub(1, Ordering::AcqRel);
        // SAFETY: each field is taken once, here, and not used again (`self` is being
        // dropped).
        let parts = unsafe {
            (
                ManuallyDrop::take(&mut self.code),
                ManuallyDrop::take(&mut self._state),
            )
        };
        // Dropped from inside a callback's invocation on this thread (its body dropped the
        // last handle, as a Python callable freeing the object that holds its own callback
        // does): the code and the state that invocation is still running on are freed once
        // it returns, not under its feet.
        if RUNNING.with(Cell::get) > 0 {
            DEFERRED.with(|deferred| deferred.borrow_mut().push(parts));
        } else {
            drop(parts);
        }
    }
}

thread_local! {
    /// How many callback invocations are running on this thread (nested ones count).
    static RUNNING: Cell<u32> = const { Cell::new(0) };
    /// Callbacks dropped during an invocation: freed when the outermost one returns.
    #[allow(clippy::type_complexity)]
    static DEFERRED: RefCell<Vec<(Code, Box<dyn Any + Send + Sync>)>> =
        const { RefCell::new(Vec::new()) };
}

/// Held for the whole of a callback invocation, by every entry point C calls (libffi's
/// closures, the register-file slots): a callback dropped meanwhile on this thread is freed
/// when the last invocation returns.
pub(crate) struct Running(());

impl Running {
    pub(crate) fn enter() -> Running {
        RUNNING.with(|running| running.set(running.get() + 1));
        Running(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let depth = RUNNING.with(|running| {
            let depth = running.get() - 1;
            running.set(depth);
            depth
        });
        if depth == 0 {
            let dead = DEFERRED.with(|deferred| std::mem::take(&mut *deferred.borrow_mut()));
            // Only the entry point's own frame is left to run, which touches none of them.
            drop(dead);
        }
    }
}

/// Callbacks kept for the life of the process ([`Callback::leak`]).
static KEPT: Mutex<Vec<&'static Callback>> = Mutex::new(Vec::new());
