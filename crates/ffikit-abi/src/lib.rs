//! ABI mode for ffikit: open a shared object at run time, describe C functions from
//! declaration text, and call them through call frames built by libffi — what Python's ctypes
//! and CFFI's ABI mode do, with every argument checked before the call.
//!
//! ```
//! use ffikit_abi::{Library, Value};
//!
//! let libm = Library::open("libm.so.6")?;
//! let pow = libm.function("double pow(double x, double y)")?;
//! assert_eq!(pow.call(&[Value::Float(2.5), Value::Float(5.0)])?, Value::Float(97.65625));
//!
//! let libc = Library::open("libc.so.6")?;
//! let toupper = libc.function("int toupper(unsigned char c)")?;
//! // 300 does not fit an unsigned char: an error, not a silent toupper(44).
//! let error = toupper.call(&[Value::Int(300)]).unwrap_err();
//! assert_eq!(error.kind(), ffikit_abi::ErrorKind::OutOfRange);
//! # Ok::<(), ffikit_abi::Error>(())
//! ```
//!
//! # Organization
//!
//! - [`Library`] (`library`, `locate`): loading by path or name (LD_LIBRARY_PATH, the loader
//!   cache, the standard directories), symbols checked against the ELF dynamic symbol table
//!   (function or data), declarations kept per library.
//! - `shape`: declared types (from `ffikit-cdecl`) resolved into sizes, offsets and kinds.
//! - `lower`: the only module that knows libffi: types, prepared call interfaces, `ffi_call`,
//!   closures.
//! - `fast`: the x86-64 System V fast path: signatures classified once at binding, arguments
//!   written straight into a register file that one assembly routine loads before the call.
//!   All-scalar signatures (up to 16 arguments) get a *scalar lane* instead: each argument
//!   accepted by one or two comparisons into its register or stack word, the call made by
//!   inline assembly. Signatures neither
//!   covers (`long double`, over-aligned structs, variadic arguments declared narrower than
//!   `int`) go through libffi, the reference both are tested against.
//! - [`Function`] (`call`): prepared once per signature, which chooses the call's route:
//!   a lane call monomorphized for the argument count (and for `int`/`double` results), the
//!   classified fast path, or libffi (with a lane's one-word-per-argument frame, or the
//!   general conversions). Each call checks arity, types and ranges — anything a lane does
//!   not accept as is goes to the general conversions, which convert it or explain why not —
//!   lays the arguments out on the stack (no heap allocation for up to 16 arguments), calls,
//!   reads the result. Variadic specializations, errno capture.
//! - `convert`: [`Value`]s to C memory and back, by shape (x87 `long double` included).
//! - [`CData`] and [`Global`] (`data`): C objects owned by Rust, and a library's globals.
//! - `elf`, `debuginfo`, `verify`: what a library says about itself — its exported symbols
//!   ([`exported_symbols`]) and its DWARF types — and [`Library::verify`], which checks
//!   declarations against them.
//! - [`TypedFunction`] (`typed`): a Rust function-pointer type checked once, then called
//!   directly.
//! - [`Callback`] (`callback`, `slots`): Rust closures as C function pointers — dynamic ones
//!   on libffi closures, typed ones on pre-compiled slot functions (libffi closures once the
//!   64 slots are taken); panics are caught at the boundary and reported by the foreign call
//!   around them as [`Error::CallbackFailed`].
//!
//! # Callbacks and executable memory
//!
//! Callback code comes from libffi's closure allocator. Where the system forbids pages both
//! writable and executable (SELinux `deny_execmem`, PaX), libffi maps the same memory twice,
//! once writable and once executable, through a temporary file; where even that is refused
//! (no writable temporary directory, `noexec` everywhere), making a callback fails with an
//! [`Error::UnsupportedType`] saying libffi could not allocate executable memory — never a
//! crash.
//!
//! # Safety
//!
//! Loading a library runs its initializers, and calling a function through a wrong
//! declaration is undefined behaviour no check can catch: the declarations are the caller's
//! word. Within that, ffikit checks everything it can know: argument counts, kinds, integer
//! ranges, NULL and interior NUL for strings, struct shapes, and that a symbol is a function.

mod call;
mod callback;
mod convert;
mod data;
mod debuginfo;
mod elf;
mod error;
mod fast;
mod library;
mod locate;
mod lower;
mod shape;
mod slots;
mod typed;
mod value;
mod verify;

pub use call::{Function, OwnedFunction, last_errno};
pub use callback::{CValue, Callback, CallbackError, CallbackPtr, TypedBody, TypedCallback};
pub use data::{CData, Global, Path};
pub use elf::{Binding, ExportedSymbol, SymbolKind, exported_symbols};
pub use error::{Error, ErrorKind};
pub use library::{Library, LoadFlags};
pub use typed::{CFunctionPointer, CType, TypedFunction};
pub use value::Value;
pub use verify::{Finding, FindingKind, Verification};

/// The bytes of the NUL-terminated C string at `address` (without the NUL).
///
/// # Safety
///
/// `address` must point to a readable NUL-terminated string that stays valid during the call.
pub unsafe fn read_c_string(address: usize) -> Vec<u8> {
    // SAFETY: the caller guarantees a valid NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(address as *const std::ffi::c_char) }
        .to_bytes()
        .to_vec()
}
