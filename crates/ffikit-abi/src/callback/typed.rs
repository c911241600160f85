//! Typed callbacks: a Rust closure of a checked C signature `F` (0 to 24 parameters: integers,
//! floats, pointers, `#[derive(CStruct)]` structs and unions by value), called on its arguments
//! as they are — through one of 64 pre-compiled slot functions per signature while one is free
//! (no libffi on the way in; the compiler generates them for each signature used, so they need
//! no writable code), else a libffi closure.

use std::any::Any;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use super::{Callback, Code, Shared, panic_message};
use crate::error::Error;
use crate::lower::Invoke;
use crate::shape::Typed;
use crate::typed::{CFunctionPointer, CType, Kind};

/// A typed callback's Rust side: the closure, called on the arguments as they are.
struct TypedState<F, B> {
    shared: Arc<Shared>,
    body: B,
    _signature: PhantomData<fn() -> F>,
}

impl<F, B: TypedBody<F>> Invoke for TypedState<F, B> {
    unsafe fn invoke(&self, args: *const *const c_void, result: *mut c_void) {
        // SAFETY: libffi's arguments and result for signature F, which the declaration was
        // checked to match.
        let outcome = catch_unwind(AssertUnwindSafe(|| unsafe {
            self.body.invoke(args, result)
        }));
        if let Err(panic) = outcome {
            let message = format!("panicked: {}", panic_message(&*panic));
            // SAFETY: as above.
            unsafe { self.shared.failed(message, result) };
        }
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

// SAFETY: `repr(transparent)` over a function pointer, passed as a C pointer.
unsafe impl<F> CType for CallbackPtr<'_, F> {
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

    /// Keeps the callback alive until the process exits ([`Callback::leak`]): the pointer
    /// may be kept by C for good.
    pub fn leak(self) -> CallbackPtr<'static, F> {
        let kept = self.callback.leak();
        CallbackPtr {
            // SAFETY: the closure code has the signature `F` was checked against.
            function: unsafe { F::from_address(kept.code.code()) },
            _callback: PhantomData,
        }
    }
}

/// A closure that can be the body of a callback of type `F` (sealed: implemented for closures
/// of the matching signature).
pub trait TypedBody<F>: Send + Sync + Sized + 'static + crate::typed::sealed::Body<F> {
    #[doc(hidden)]
    /// # Safety
    ///
    /// `args` and `result` are libffi's for a closure of signature `F`.
    unsafe fn invoke(&self, args: *const *const c_void, result: *mut c_void);

    #[doc(hidden)]
    /// The 64 slot functions of signature `F`, by slot index.
    fn slot_functions() -> [usize; crate::slots::SLOT_COUNT];

    #[doc(hidden)]
    /// The function a slot calls with its `SlotState<Self>` and the arguments.
    fn slot_call() -> *const ();
}

/// What a slot points at for a typed callback.
struct SlotState<B> {
    shared: Arc<Shared>,
    body: B,
}

impl<B> SlotState<B> {
    /// Reports a panic and gives C the error result.
    #[cold]
    fn failed<R: CValue>(&self, panic: Box<dyn Any + Send>) -> R {
        self.shared
            .fail(format!("panicked: {}", panic_message(&*panic)));
        let bytes = self
            .shared
            .on_error
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // SAFETY: the error result holds max(size of R, 8) bytes written for R.
        unsafe { R::read(bytes.as_ptr().cast()) }
    }
}

/// Reads a typed argument and writes a typed result, widened as libffi wants.
///
/// # Safety
///
/// `read` and `write_widened` move exactly a value of the type's C kind ([`CType`]).
pub unsafe trait CValue: CType + Copy {
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
        // SAFETY: reads and writes exactly this type, widened to a full register.
        unsafe impl CValue for $ty {
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

// SAFETY: reads and writes exactly this type.
unsafe impl CValue for bool {
    unsafe fn read(from: *const c_void) -> Self {
        // SAFETY: the caller guarantees a valid C _Bool (0 or 1) there.
        unsafe { from.cast::<u8>().read() != 0 }
    }
    unsafe fn write_widened(self, to: *mut c_void) {
        // SAFETY: the caller guarantees the room.
        unsafe { to.cast::<u64>().write_unaligned(u64::from(self)) }
    }
}

// SAFETY: reads and writes exactly this type.
unsafe impl CValue for () {
    unsafe fn read(_: *const c_void) -> Self {}
    unsafe fn write_widened(self, _: *mut c_void) {}
}

// SAFETY: reads and writes exactly a pointer.
unsafe impl<T> CValue for *const T {
    unsafe fn read(from: *const c_void) -> Self {
        // SAFETY: the caller guarantees a pointer value there.
        unsafe { from.cast::<*const T>().read_unaligned() }
    }
    unsafe fn write_widened(self, to: *mut c_void) {
        // SAFETY: the caller guarantees the room.
        unsafe { to.cast::<*const T>().write_unaligned(self) }
    }
}

// SAFETY: reads and writes exactly a pointer.
unsafe impl<T> CValue for *mut T {
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
    ($( $slot:ident $call:ident ($($arg:ident $value:ident $index:tt),*) )*) => {$(
        /// Slot function: finds its closure in slot `I` and calls it.
        #[allow(clippy::too_many_arguments)]
        unsafe extern "C" fn $slot<const I: usize, R: CValue, $($arg: CValue),*>($($value: $arg),*) -> R {
            let (data, call) = crate::slots::slot(I);
            // SAFETY: the slot was set to a state and the call function of exactly this
            // signature when it was claimed, and is cleared only after C can no longer call
            // this callback (its owner dropped).
            let call = unsafe { std::mem::transmute::<*const (), unsafe fn(*const () $(, $arg)*) -> R>(call) };
            // SAFETY: as above: `data` is the state `call` expects.
            unsafe { call(data $(, $value)*) }
        }

        /// Calls a typed closure from its slot, catching panics.
        ///
        /// # Safety
        ///
        /// `data` points to a live `SlotState<C>`.
        #[allow(unused_unsafe, clippy::too_many_arguments)]
        unsafe fn $call<C, R: CValue, $($arg: CValue),*>(data: *const () $(, $value: $arg)*) -> R
        where
            C: Fn($($arg),*) -> R,
        {
            // SAFETY: the caller's guarantee.
            let state = unsafe { &*data.cast::<SlotState<C>>() };
            match catch_unwind(AssertUnwindSafe(|| (state.body)($($value),*))) {
                Ok(value) => value,
                Err(panic) => state.failed(panic),
            }
        }

        impl<C, R: CValue, $($arg: CValue),*> crate::typed::sealed::Body<unsafe extern "C" fn($($arg),*) -> R> for C
        where
            C: Fn($($arg),*) -> R + Send + Sync + 'static,
        {}

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

            fn slot_functions() -> [usize; crate::slots::SLOT_COUNT] {
                crate::slots::slot_table!($slot, R $(, $arg)*)
            }

            fn slot_call() -> *const () {
                $call::<C, R $(, $arg)*> as *const ()
            }
        }
    )*};
}

typed_bodies! {
    slot0 call0 ()
    slot1 call1 (A a 0)
    slot2 call2 (A a 0, B b 1)
    slot3 call3 (A a 0, B b 1, C2 c 2)
    slot4 call4 (A a 0, B b 1, C2 c 2, D d 3)
    slot5 call5 (A a 0, B b 1, C2 c 2, D d 3, E e 4)
    slot6 call6 (A a 0, B b 1, C2 c 2, D d 3, E e 4, F f 5)
    slot7 call7 (A a 0, B b 1, C2 c 2, D d 3, E e 4, F f 5, G g 6)
    slot8 call8 (A a 0, B b 1, C2 c 2, D d 3, E e 4, F f 5, G g 6, H h 7)
    slot9 call9 (A a 0, B b 1, C2 c 2, D d 3, E e 4, F f 5, G g 6, H h 7, I2 i 8)
    slot10 call10 (A a 0, B b 1, C2 c 2, D d 3, E e 4, F f 5, G g 6, H h 7, I2 i 8, J j 9)
    slot11 call11 (A a 0, B b 1, C2 c 2, D d 3, E e 4, F f 5, G g 6, H h 7, I2 i 8, J j 9, K k 10)
    slot12 call12 (A a 0, B b 1, C2 c 2, D d 3, E e 4, F f 5, G g 6, H h 7, I2 i 8, J j 9, K k 10, L l 11)
    slot13 call13 (A a 0, B b 1, C2 c 2, D d 3, E e 4, F f 5, G g 6, H h 7, I2 i 8, J j 9, K k 10, L l 11, M m 12)
    slot14 call14 (A a 0, B b 1, C2 c 2, D d 3, E e 4, F f 5, G g 6, H h 7, I2 i 8, J j 9, K k 10, L l 11, M m 12, N n 13)
    slot15 call15 (A a 0, B b 1, C2 c 2, D d 3, E e 4, F f 5, G g 6, H h 7, I2 i 8, J j 9, K k 10, L l 11, M m 12, N n 13, O o 14)
    slot16 call16 (A a 0, B b 1, C2 c 2, D d 3, E e 4, F f 5, G g 6, H h 7, I2 i 8, J j 9, K k 10, L l 11, M m 12, N n 13, O o 14, P p 15)
    slot17 call17 (A a 0, B b 1, C2 c 2, D d 3, E e 4, F f 5, G g 6, H h 7, I2 i 8, J j 9, K k 10, L l 11, M m 12, N n 13, O o 14, P p 15, Q q 16)
    slot18 call18 (A a 0, B b 1, C2 c 2, D d 3, E e 4, F f 5, G g 6, H h 7, I2 i 8, J j 9, K k 10, L l 11, M m 12, N n 13, O o 14, P p 15, Q q 16, S s 17)
    slot19 call19 (A a 0, B b 1, C2 c 2, D d 3, E e 4, F f 5, G g 6, H h 7, I2 i 8, J j 9, K k 10, L l 11, M m 12, N n 13, O o 14, P p 15, Q q 16, S s 17, T t 18)
    slot20 call20 (A a 0, B b 1, C2 c 2, D d 3, E e 4, F f 5, G g 6, H h 7, I2 i 8, J j 9, K k 10, L l 11, M m 12, N n 13, O o 14, P p 15, Q q 16, S s 17, T t 18, U u 19)
    slot21 call21 (A a 0, B b 1, C2 c 2, D d 3, E e 4, F f 5, G g 6, H h 7, I2 i 8, J j 9, K k 10, L l 11, M m 12, N n 13, O o 14, P p 15, Q q 16, S s 17, T t 18, U u 19, V v 20)
    slot22 call22 (A a 0, B b 1, C2 c 2, D d 3, E e 4, F f 5, G g 6, H h 7, I2 i 8, J j 9, K k 10, L l 11, M m 12, N n 13, O o 14, P p 15, Q q 16, S s 17, T t 18, U u 19, V v 20, W w 21)
    slot23 call23 (A a 0, B b 1, C2 c 2, D d 3, E e 4, F f 5, G g 6, H h 7, I2 i 8, J j 9, K k 10, L l 11, M m 12, N n 13, O o 14, P p 15, Q q 16, S s 17, T t 18, U u 19, V v 20, W w 21, X x 22)
    slot24 call24 (A a 0, B b 1, C2 c 2, D d 3, E e 4, F f 5, G g 6, H h 7, I2 i 8, J j 9, K k 10, L l 11, M m 12, N n 13, O o 14, P p 15, Q q 16, S s 17, T t 18, U u 19, V v 20, W w 21, X x 22, Y y 23)
}

impl<F: CFunctionPointer + 'static> TypedCallback<F> {
    pub(crate) fn new<B: TypedBody<F>>(
        name: String,
        params: Vec<Typed>,
        result: Typed,
        variadic: bool,
        body: B,
    ) -> Result<TypedCallback<F>, Error> {
        Callback::refuse_variadic(&name, variadic)?;
        crate::typed::check_signature::<F>(
            &name,
            &params.iter().collect::<Vec<_>>(),
            &result,
            variadic,
        )?;
        let shared = Callback::shared(&name, &result);
        // The fast way: a pre-compiled slot function, when one is free and every type of the
        // signature is one the slot functions pass as C does (all CValue types are).
        let state = Box::new(SlotState {
            shared: Arc::clone(&shared),
            body,
        });
        let data = (&*state as *const SlotState<B>).cast::<()>();
        if let Some(guard) = crate::slots::SlotGuard::claim(data, B::slot_call()) {
            let address = B::slot_functions()[guard.index()];
            let callback = Callback::finish(
                Code::Slot {
                    _guard: guard,
                    address,
                },
                state,
                shared,
                result,
            )?;
            return Ok(TypedCallback {
                callback,
                _signature: PhantomData,
            });
        }
        // Every slot taken: a libffi closure.
        let SlotState { shared, body } = *state;
        let state = Box::new(TypedState::<F, B> {
            shared: Arc::clone(&shared),
            body,
            _signature: PhantomData,
        });
        let callback = Callback::build(&name, &params, result, shared, state)?;
        Ok(TypedCallback {
            callback,
            _signature: PhantomData,
        })
    }
}
