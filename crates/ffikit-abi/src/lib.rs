//! ABI mode for ffikit: open a shared object at run time, describe C functions from
//! declaration text, and call them through call frames built by libffi — what Python's ctypes
//! and CFFI's ABI mode do, with every argument checked before the call.
//!
//! ```
//! use ffikit_abi::{Library, Value};
//!
//! // SAFETY: libm's initializers are sound to run; pow and toupper are declared as <math.h>
//! // and <ctype.h> declare them, and are defined for every argument of those types.
//! let (libm, pow, toupper);
//! unsafe {
//!     libm = Library::open("libm.so.6")?;
//!     pow = libm.function("double pow(double x, double y)")?.into_safe();
//!     toupper = libm.function("int toupper(unsigned char c)")?.into_safe();
//! }
//! assert_eq!(pow.call(&[Value::Float(2.5), Value::Float(5.0)])?, Value::Float(97.65625));
//! // 300 does not fit an unsigned char: an error, not a silent toupper(44).
//! let error = toupper.call(&[Value::Int(300)]).unwrap_err();
//! assert_eq!(error.kind(), ffikit_abi::ErrorKind::OutOfRange);
//! # Ok::<(), ffikit_abi::Error>(())
//! ```
//!
//! # Organization
//!
//! In layers, each importing only from those below it (no circles):
//!
//! - [`Library`] (`library`): loading by path or name (found by ffikit-inspect's
//!   [`find_library`]), symbols told apart as functions or data by the library file's own
//!   exports, declarations kept per library. `library::bind` is where declarations meet
//!   symbols (promise 2): [`Library::function`], [`Library::get`], [`SignatureBuilder`],
//!   [`OwnedFunction`], [`Library::global`], [`Library::adopt`]; `library::make` makes C
//!   objects ([`CData`]) and callbacks from declarations.
//! - `call`: a function's plan, made once at binding (its conversions, its libffi interface,
//!   and the route its calls take, chosen from one table of monomorphized calls), and the
//!   routes, a module each: `lanes` (all-scalar signatures, each argument one comparison into
//!   its word, called through libffi — portable), `registers` and `fast` (x86-64 Linux with
//!   the `fast-path` feature: the lanes by inline assembly, and the classified register-file
//!   path for structs; [`FAST_PATH`] says whether this build has them), `general` (libffi
//!   with the general conversions: the reference the others are tested against, and what
//!   takes any argument they do not accept as is, explaining every error). `call::function`
//!   holds the handles, [`Function`] and [`Safe`].
//! - [`Callback`] (`callback`, `slots`): Rust closures as C function pointers — typed ones
//!   (`callback::typed`) on pre-compiled slot functions, dynamic ones whose arguments all
//!   arrive in registers on pre-compiled register-file slots (`callback::registers`, x86-64
//!   System V), the rest (and any once the 64 slots are taken) on libffi closures; panics are caught at the boundary and
//!   reported by the foreign call around them as [`Error::CallbackFailed`].
//! - [`cdata`]: CFFI's cdata model — [`cdata::CType`] (a declared type's kind, size,
//!   alignment, item, length, members, enumerators, signature, CFFI's name) and
//!   [`cdata::CMemory`]; a C object is a type, an address and an owner, and reading or
//!   writing through the address is `unsafe` (promise 4). ffikit for Python is built on it.
//! - [`TypedFunction`] (`typed`): a Rust function-pointer type checked once, then called
//!   directly. [`CData`] and [`Global`] (`data`): C objects owned by Rust, a library's globals.
//!   Struct and union types get their C layout from `#[derive(CStruct)]` (the
//!   `ffikit-derive` crate, re-exported as [`CStruct`]): [`CLayout`], checked member by member.
//! - [`Pool`] (`concurrent`): C calls off the caller's thread — a bounded pool of workers,
//!   calls as runtime-agnostic futures ([`CallFuture`], detached when dropped), [`Scope`]s
//!   that end only when all their calls have (lending borrowed data, as
//!   `std::thread::scope` does), dedicated single-thread pools, and [`CallbackStream`]s
//!   delivering a callback's invocations from C threads to async code.
//! - [`IsolatedLibrary`] (`isolated`): a library loaded in a worker process of its own (this
//!   program again, entered by a constructor), its functions checked here and called there
//!   over a sealed memfd with futex wake-ups (`isolated::shared`, `isolated::wire`,
//!   `isolated::worker`): a segfault, `abort`, `exit` or hang in C is an
//!   [`Error::WorkerFault`], pointers it hands out are [`Handle`]s, its callbacks run here.
//! - `convert`: [`Value`]s to C memory and back, by shape; `convert::quick`: the conversions
//!   chosen at binding (one match and a range check per argument, struct members in order).
//! - `lower`: the only module that knows libffi: types, prepared call interfaces, `ffi_call`,
//!   closures.
//! - `shape`: declared types (from ffikit-cdecl) resolved into sizes, offsets and kinds;
//!   `long_double`: the target's `long double` format (x87, binary128, or refused).
//! - What a library file says about itself — its exported symbols ([`exported_symbols`]),
//!   its DWARF types, declarations checked against them ([`LibraryFile`]) — comes from the
//!   ffikit-inspect crate, which reads the file and never loads it.
//!
//! # Typed handles with structs by value
//!
//! `#[derive(CStruct)]` records a `#[repr(C)]` struct's layout; a typed handle or typed
//! callback using it is checked against the C declaration once (size, alignment, every
//! member's name, offset and type), then is a plain function pointer:
//!
//! ```
//! use ffikit_abi::{CStruct, Library};
//!
//! #[repr(C)]
//! #[derive(CStruct, Clone, Copy, Debug, PartialEq)]
//! struct Div { quot: i32, rem: i32 }
//!
//! let libc = Library::this();
//! libc.cdef("typedef struct { int quot; int rem; } div_t;")?;
//! // SAFETY: `div_t div(int, int)` is how <stdlib.h> declares div.
//! let div = unsafe { libc.function("div_t div(int, int)") }?;
//! let typed = div.typed::<unsafe extern "C" fn(i32, i32) -> Div>()?;
//! // SAFETY: div is defined for a non-zero divisor.
//! assert_eq!(unsafe { (*typed)(17, 5) }, Div { quot: 3, rem: 2 });
//!
//! #[repr(C)]
//! #[derive(CStruct, Clone, Copy)]
//! struct Swapped { rem: i32, quot: i32 }
//! let refused = div.typed::<unsafe extern "C" fn(i32, i32) -> Swapped>().unwrap_err();
//! assert!(refused.to_string().contains("member `rem` of `Swapped` is `quot` in C"));
//!
//! // A typed callback of a struct signature: a function pointer C can call.
//! type DivFn = unsafe extern "C" fn(Div) -> Div;
//! let swap = libc.typed_callback::<DivFn, _>("swap", "div_t (*)(div_t)", |d: Div| Div {
//!     quot: d.rem,
//!     rem: d.quot,
//! })?;
//! // SAFETY: the pointer is called while the callback lives.
//! let swapped = unsafe { (swap.ptr().get())(Div { quot: 3, rem: 2 }) };
//! assert_eq!(swapped, Div { quot: 2, rem: 3 });
//! # Ok::<(), ffikit_abi::Error>(())
//! ```
//!
//! # Callbacks and executable memory
//!
//! Callback code is a pre-compiled slot function where one serves (no code is made at run
//! time), else comes from libffi's closure allocator. Where the system forbids pages both
//! writable and executable (SELinux `deny_execmem`, PaX), libffi maps the same memory twice,
//! once writable and once executable, through a temporary file; where even that is refused
//! (no writable temporary directory, `noexec` everywhere), making a callback fails with an
//! [`Error::UnsupportedType`] saying libffi could not allocate executable memory — never a
//! crash.
//!
//! # Safety model
//!
//! No safe function of this crate can cause undefined behaviour, whatever its arguments.
//! What ffikit cannot check, the caller promises, each promise in exactly one kind of
//! place, an `unsafe fn` whose `# Safety` section states it (as libloading's
//! `Library::new`/`get`, libffi-rs's `Cif::call` and cxx's `unsafe extern` blocks do):
//!
//! | # | the caller promises | made at |
//! |---|---|---|
//! | 1 | loading the library runs sound code (its initializers, and finalizers at unload) | [`Library::open`], [`Library::open_with`], [`Library::open_described`], [`Library::compile_inline`] (the shim) |
//! | 2 | a declaration is true to the symbol: its types, its calling convention, a `char *` result is NULL or a string, a `const char *` parameter is only read (a [`Value::CString`] is passed to it without a copy) | [`Library::function`], [`Library::get`] (a declaration made by `cdef` or a header's by [`Library::include`]), [`Library::optional`], [`SignatureBuilder::bind`], [`Library::global`], [`OwnedFunction::new`], the manifest of [`Library::open_described`], [`Library::compile_inline`] |
//! | 3 | the arguments meet the function's preconditions (addresses valid for what it does, counts matching buffers, its own rules) | each [`Function::call`] / [`OwnedFunction::call`] (on a worker: [`Pool::call`], [`Scope::call`]); or once, for every argument list a safe call accepts, with [`Function::into_safe`]; typed handles: each call of the `unsafe extern "C" fn`; [`Function::call_prepared_unchecked`] |
//! | 4 | an address (an integer) points where the C type says, as long as C uses it | passing a [`Value::Pointer`] (or a [`Value::Text`] result) through the `unsafe` call of promise 3; [`Global::set`]; [`read_c_string`]; [`CData::copy_from`] |
//! | 5 | C calls a callback only while it lives | passing [`Callback::address`] through the `unsafe` call; [`Callback::leak`] / [`TypedCallback::leak`] make it true for good; [`CallbackPtr`] borrows it for typed calls |
//! | 6 | C memory handed over is the caller's to release, once, with the named function | [`Library::adopt`] |
//!
//! Everything else is safe because nothing in it can go wrong: an [`IsolatedLibrary`] runs
//! the library's code in another process, so none of the promises is asked of its caller
//! (the worst a wrong declaration can do is end the worker: an error); [`Library::this`] loads
//! nothing; [`Library::cdef`] and [`Library::verify`] read text and the library file;
//! [`CData`] is memory Rust owns; making a callback runs nothing until C calls it, which only
//! a promise-5 call arranges; [`Function::typed`] only checks a type, its calls are `unsafe`;
//! [`Global::get`] reads what promise 2 vouched for. A [`Safe`] call refuses what its
//! promise does not cover — any raw address ([`Error::UncheckedPointer`]), also as the
//! pointer members of a [`Value::Data`], and NULL not allowed — so the promise is one a reviewer can check against the C function's manual.
//! Symbols cannot outlive their library: [`Function`], [`Global`] and [`TypedFunction`]
//! borrow it (compile-fail tests prove it), and an [`OwnedFunction`] can only be bound from
//! the library it keeps alive. `docs/safety.md` audits every public function that reaches C.
//!
//! Calling `cos` takes one `unsafe` block:
//!
//! ```
//! # use ffikit_abi::{Library, Value};
//! // SAFETY: libm's initializers are sound to run; cos is declared as in <math.h> and is
//! // defined for every double.
//! let one = unsafe { Library::open("m")?.function("double cos(double)")?.call(&[0.0.into()])? };
//! assert_eq!(one, Value::Float(1.0));
//! # Ok::<(), ffikit_abi::Error>(())
//! ```
//!
//! Within the promises, ffikit checks everything it can know: argument counts, kinds,
//! integer ranges, NULL and interior NUL for strings, struct shapes, and that a symbol is a
//! function (and, where the library has debug information, its declared types:
//! [`Library::refuse_mismatches`]). NULL: an explicit [`Value::Null`] is the caller's
//! intent, passed for any pointer parameter except a `char *` (a string, refused unless
//! [`Function::allow_null`]); a [`Safe`] call refuses it for every pointer not allowed.

mod call;
mod callback;
pub mod cdata;
mod concurrent;
mod convert;
mod data;
mod error;
mod isolated;
mod library;
mod long_double;
mod lower;
mod shape;
mod slots;
mod typed;
mod value;

pub use call::{Function, Safe, SafeFunction, last_errno};
pub use callback::{CValue, Callback, CallbackError, CallbackPtr, TypedBody, TypedCallback};
pub use concurrent::{CallFuture, CallbackStream, Called, NextInvocation, Pool, Scope, ScopedCall};
pub use data::{CData, Global, MAX_OBJECT_SIZE, Path};
pub use shape::MAX_BY_VALUE;
// What a library file says about itself, read without loading it (ffikit-inspect).
pub use error::{Error, ErrorKind};
/// `#[derive(CStruct)]` on a `#[repr(C)]` struct or union (with `Clone, Copy`): its C
/// layout for typed handles and typed callbacks, checked against the C declaration.
pub use ffikit_derive::CStruct;
pub use ffikit_inspect::{
    Binding, ExportedSymbol, Finding, FindingKind, LibraryFile, SymbolKind, Verification,
    exported_symbols, find_library, read_file,
};
#[doc(hidden)]
pub use isolated::read_worker_message;
pub use isolated::{
    Invocation, IsolatedCallback, IsolatedFunction, IsolatedLibrary, IsolatedOptions, WorkerFault,
    run_worker_if_requested,
};
pub use library::{Adopted, Library, LoadFlags, OwnedFunction, SignatureBuilder};
pub use typed::{CFunctionPointer, CLayout, CMember, CType, Kind, TypedFunction};
pub use value::{Handle, Value};

/// Whether this build has the x86-64 System V fast path and scalar lanes (the `fast-path`
/// feature, on x86-64 Linux). Without it every call goes through libffi.
pub const FAST_PATH: bool = cfg!(fast_path);

/// The bytes of the NUL-terminated C string at `address` (without the NUL).
///
/// # Safety
///
/// `address` must point to a readable NUL-terminated string that stays valid during the call
/// (promise 4 of the [safety model](crate#safety-model)).
pub unsafe fn read_c_string(address: usize) -> Vec<u8> {
    // SAFETY: the caller guarantees a valid NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(address as *const std::ffi::c_char) }
        .to_bytes()
        .to_vec()
}
