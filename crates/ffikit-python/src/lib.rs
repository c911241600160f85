//! ffikit for Python: the ffikit engine as a CFFI-style Python module, `ffikit`.
//!
//! ```python
//! import ffikit
//! ffi = ffikit.FFI()
//! ffi.cdef("unsigned long crc32(unsigned long, const unsigned char *, unsigned int);")
//! libz = ffi.dlopen("libz.so.1")
//! assert libz.crc32(0, b"123456789", 9) == 0xCBF43926
//! ```
//!
//! # Organization
//! - `ffi` (`ffikit.FFI`): declarations (`cdef`, `include`, `list_types`), libraries
//!   (`dlopen`), and CFFI's operations on C objects (`new`, `cast`, `typeof`, `sizeof`,
//!   `offsetof`, `addressof`, `string`, `unpack`, `from_buffer`, `gc`, handles, `callback`,
//!   `init_once`, ...); `making`: what `new` and `cast` make (open arrays and flexible array
//!   members sized by their initializer, C's conversions) and the member/index walks of
//!   `offsetof`/`addressof`; `allocator`: `new_allocator`'s allocators and the `callback`
//!   decorator.
//! - `library` (`Lib`): a library's functions as builtins called with `METH_FASTCALL` (no
//!   argument tuple), made on first access and kept in its `__dict__`; globals read and
//!   written as cdata; constants.
//! - `cdata`: C objects as typed views of memory (ffikit-abi's `cdata::CType` + address +
//!   owner) with Python's protocols; `reading` and `writing`: values between Python and C
//!   memory (`read`: numbers, characters, views; `write`: CFFI's initializers, call
//!   arguments); `ctype`: types as CFFI's ctype objects; `buffer`: `ffi.buffer`.
//! - `slots`: the `CData` type Python sees, a subclass of `cdata`'s PyO3 class whose `[]`
//!   and `.` are its own C slots (no PyO3 trampoline on the operations users loop over);
//!   every cdata is made by `slots::new` as an instance of it.
//! - `callbacks`: Python callables as C function pointers (`ffi.callback`).
//! - `isolated`: `ffi.dlopen(name, isolated=True)`: the library in a worker process
//!   (ffikit-abi's `IsolatedLibrary`), its faults `ffikit.WorkerError`s.
//! - `convert`: Python objects to ffikit `Value`s and back, for calls.
//! - `errors`: ffikit's typed errors as Python exceptions (`ffikit.Error` and subclasses that
//!   are also `TypeError`, `OverflowError`, `OSError`, `MemoryError`, ... where Python users
//!   expect those), CFFI's `FFIError`.
//!
//! `ffi` and `cdata` are the two files over ~600 lines: each is one `#[pymethods]` block
//! (PyO3 takes one per class without its `multiple-pymethods` feature and the `inventory`
//! registry it needs), whose methods delegate to the modules above.
//!
//! # Safety model
//! ffikit-abi's promises are made by the Python user the way CFFI's users make them: the
//! declarations given to `cdef` (or read from a header) are true to the library (promise 2),
//! and calling a function with what the declaration allows meets its preconditions (promise
//! 3: an address passed as an int, a buffer's size). Loading a library runs its
//! initializers (promise 1). Reading or writing a cdata reads or writes its address (promise
//! 4): memory `new` allocated always qualifies; a pointer cast from an int, or one C
//! returned, is the user's word. What ffikit can check it checks, before C runs: arity,
//! types, integer ranges, NULL and NUL inside strings, struct shapes, array bounds.

mod allocator;
mod buffer;
mod callbacks;
mod cdata;
mod convert;
mod ctype;
mod errors;
mod ffi;
mod isolated;
mod library;
mod making;
mod reading;
mod slots;
mod writing;

use pyo3::prelude::*;

/// The `ffikit` module.
#[pymodule]
#[pyo3(name = "ffikit")]
fn ffikit_python(module: &pyo3::Bound<'_, PyModule>) -> PyResult<()> {
    // First: every cdata is an instance of this type, `ffi.CData` included.
    slots::init(module)?;
    module.add_class::<ffi::Ffi>()?;
    module.add_class::<library::Lib>()?;
    module.add_class::<ctype::CTypeObject>()?;
    module.add_class::<buffer::BufferObject>()?;
    module.add_class::<isolated::IsolatedLib>()?;
    module.add_class::<isolated::Handle>()?;
    module.add_function(wrap_pyfunction!(isolated::run_worker, module)?)?;
    errors::add(module)?;
    module.add("__doc__", "Call C the way CFFI and ctypes do, on ffikit.")?;
    Ok(())
}
