//! [`Library`]: a loaded shared object, its declarations, and symbol lookup (with the
//! library file's dynamic symbols, read by ffikit-inspect, telling functions from data).
//! Binding declarations is in `bind`, making C objects and callbacks in `make`.

use std::collections::HashMap;
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ffikit_cdecl::{Declarations, Report};

use crate::error::Error;

mod bind;
mod header;
mod make;

pub use bind::{Adopted, OwnedFunction, SignatureBuilder};
pub(crate) use bind::{declare_function, declared_signature};

/// How to load a library (`dlopen`'s flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadFlags {
    /// Resolve every symbol at load time (`RTLD_NOW`) rather than at first use (`RTLD_LAZY`).
    pub now: bool,
    /// Make the library's symbols available to libraries loaded later (`RTLD_GLOBAL`).
    pub global: bool,
    /// Never unload the library, even after the last handle closes (`RTLD_NODELETE`).
    pub no_delete: bool,
}

impl Default for LoadFlags {
    fn default() -> Self {
        LoadFlags {
            now: true,
            global: false,
            no_delete: false,
        }
    }
}

impl LoadFlags {
    fn bits(self) -> std::ffi::c_int {
        use libloading::os::unix::{RTLD_GLOBAL, RTLD_LAZY, RTLD_LOCAL, RTLD_NOW};
        let mut bits = if self.now { RTLD_NOW } else { RTLD_LAZY };
        bits |= if self.global { RTLD_GLOBAL } else { RTLD_LOCAL };
        if self.no_delete {
            bits |= libc::RTLD_NODELETE;
        }
        bits
    }
}

use ffikit_inspect::{LibraryFile, SymbolKind};

/// The function a library that describes itself exports.
pub(crate) const MANIFEST: &str = "const char *ffikit_manifest(void)";

/// The declarations a manifest function returned.
pub(crate) fn manifest_text(returned: &crate::Value) -> Result<String, Error> {
    returned
        .as_text()
        .ok_or_else(|| Error::NotDeclared("ffikit_manifest() returned NULL".into()))
}

/// A loaded shared object and the C declarations made for it.
///
/// ```
/// use ffikit_abi::Library;
/// // SAFETY: libm's initializers are sound to run; `double cos(double)` is how <math.h>
/// // declares cos, which is defined for every double.
/// let (libm, cos);
/// unsafe {
///     libm = Library::open("m")?;
///     cos = libm.function("double cos(double)")?.into_safe();
/// }
/// assert_eq!(cos.call(&[0.0.into()])?.as_f64(), Some(1.0));
/// # Ok::<(), ffikit_abi::Error>(())
/// ```
#[derive(Debug)]
pub struct Library {
    handle: libloading::os::unix::Library,
    name: String,
    path: Option<PathBuf>,
    decls: Mutex<Declarations>,
    /// The file, read (not loaded) once, for exports and debug information.
    file: OnceLock<LibraryFile>,
    refuse_mismatches: std::sync::atomic::AtomicBool,
    /// Compiled shims exporting a header's `static inline` functions, loaded for as long as
    /// the library (functions bound from them borrow the library).
    shims: Mutex<Vec<libloading::os::unix::Library>>,
    /// The addresses of the inline functions the shims export, by name.
    inline_addresses: Mutex<HashMap<String, usize>>,
}

impl Library {
    /// Opens a library by path (`/usr/lib/x86_64-linux-gnu/libz.so.1`, `./libfoo.so`) or by
    /// name (`libm.so.6`, `m`, `z`, `sqlite3`), found as ctypes' `find_library` would.
    ///
    /// # Errors
    ///
    /// [`Error::LibraryNotFound`] listing every place tried, or [`Error::LibraryLoad`] with
    /// `dlerror`'s text as the source.
    ///
    /// # Safety
    ///
    /// Loading runs the library's initializers (and those of the libraries it depends on),
    /// and unloading runs its finalizers when the last handle drops: the caller vouches that
    /// this code is sound to run here, now (promise 1 of the crate's
    /// [safety model](crate#safety-model)), as for libloading's `Library::new`.
    pub unsafe fn open(name: &str) -> Result<Library, Error> {
        // SAFETY: the caller's promise, passed on.
        unsafe { Library::open_with(name, LoadFlags::default()) }
    }

    /// [`open`](Self::open) with explicit load flags.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    ///
    /// # Safety
    ///
    /// As [`open`](Self::open).
    pub unsafe fn open_with(name: &str, flags: LoadFlags) -> Result<Library, Error> {
        let path = ffikit_inspect::find_library(name).map_err(|tried| Error::LibraryNotFound {
            name: name.to_owned(),
            tried,
        })?;
        // SAFETY: loading runs the library's initializers: the caller vouched for them
        // (promise 1, this function's contract).
        let handle = unsafe { libloading::os::unix::Library::open(Some(&path), flags.bits()) }
            .map_err(|source| Error::LibraryLoad {
                path: path.clone(),
                source,
            })?;
        Ok(Library {
            handle,
            name: name.to_owned(),
            path: Some(path),
            decls: Mutex::new(Declarations::new()),
            file: OnceLock::new(),
            refuse_mismatches: Default::default(),
            shims: Mutex::default(),
            inline_addresses: Mutex::default(),
        })
    }

    /// The running program itself (and the libraries it loaded), like `dlopen(NULL)`. Safe:
    /// nothing new is loaded, so no code runs.
    pub fn this() -> Library {
        Library {
            handle: libloading::os::unix::Library::this(),
            name: "<this process>".into(),
            path: None,
            decls: Mutex::new(Declarations::new()),
            file: OnceLock::new(),
            refuse_mismatches: Default::default(),
            shims: Mutex::default(),
            inline_addresses: Mutex::default(),
        }
    }

    /// Opens a library that describes itself: it exports `const char *ffikit_manifest(void)`
    /// returning its C declarations, which are declared here, so its functions can be bound
    /// by name with no declarations from the caller.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), or if the manifest is missing or does not parse.
    ///
    /// # Safety
    ///
    /// As [`open`](Self::open) (promise 1), and the library's manifest is true to it: it is
    /// the declaration promise (promise 2) for every function it declares, made by the
    /// library's author and vouched for by the caller. `ffikit_manifest`, if exported, must
    /// be `const char *ffikit_manifest(void)` returning NULL or a string.
    pub unsafe fn open_described(name: &str) -> Result<Library, Error> {
        // SAFETY: promise 1, the caller's.
        let library = unsafe { Library::open(name) }?;
        // SAFETY: the caller vouches for the manifest function's declaration (this function's
        // contract); it takes no arguments, so the call has no further precondition.
        let manifest = unsafe { library.function(MANIFEST)?.call(&[])? };
        library.cdef(&manifest_text(&manifest)?)?;
        Ok(library)
    }

    /// The name the library was opened with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file loaded (`None` for [`Library::this`]).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Declares C types, functions and variables for this library (transactional: on error
    /// nothing is declared).
    ///
    /// # Errors
    ///
    /// [`Error::Declaration`] with the location of the problem.
    pub fn cdef(&self, text: &str) -> Result<Report, Error> {
        Ok(self.declarations().cdef(text)?)
    }

    /// A copy of everything declared so far (by [`cdef`](Self::cdef),
    /// [`include`](Self::include) or the manifest), to inspect types and origins.
    pub fn declared(&self) -> Declarations {
        self.declarations().clone()
    }

    fn declarations(&self) -> std::sync::MutexGuard<'_, Declarations> {
        // A panic while holding the lock cannot leave the declarations half-changed (cdef is
        // transactional), so a poisoned lock is still usable.
        self.decls
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Whether the library (or one it depends on) has this symbol.
    pub fn has_symbol(&self, symbol: &str) -> bool {
        // SAFETY: looking a symbol up runs no code; the pointer is not used.
        unsafe { self.handle.get::<*mut c_void>(symbol.as_bytes()) }.is_ok()
    }

    fn symbol_address(&self, symbol: &str, expected: SymbolKind) -> Result<usize, Error> {
        // SAFETY: looking a symbol up runs no code. The address is only used through a
        // declaration the caller vouched for, and only while `self` lives (the lifetime of
        // Function<'_> and Global<'_>).
        let found =
            unsafe { self.handle.get::<*mut c_void>(symbol.as_bytes()) }.map_err(|source| {
                Error::SymbolNotFound {
                    symbol: symbol.to_owned(),
                    library: self.name.clone(),
                    source,
                }
            })?;
        let address = *found as usize;
        if let Some(&actual) = self.exports().get(symbol) {
            let is_function = |kind| kind == SymbolKind::Function;
            let known = actual != SymbolKind::Other;
            if known && is_function(actual) != is_function(expected) {
                let word = |kind| match kind {
                    SymbolKind::Function => "a function",
                    _ => "data (a variable)",
                };
                return Err(Error::NotAFunction {
                    symbol: symbol.to_owned(),
                    library: self.name.clone(),
                    actual: word(actual),
                    declared: word(expected),
                });
            }
        }
        Ok(address)
    }

    /// The library's file, read once (never loaded again): its exported symbols and kinds,
    /// and its debug information when a check needs it. For [`Library::this`], or a file that
    /// cannot be read, nothing.
    fn file(&self) -> &LibraryFile {
        self.file.get_or_init(|| match self.path.as_deref() {
            Some(path) => LibraryFile::read(path).unwrap_or_else(|_| LibraryFile::unreadable(path)),
            None => LibraryFile::unreadable(Path::new("")),
        })
    }

    /// The library's own exported symbols and their kinds.
    fn exports(&self) -> &HashMap<String, SymbolKind> {
        self.file().exports()
    }

    /// Checks declarations against the library: does it export each function and global, as
    /// a function or as data? Where it carries debug information (or a separate debug file
    /// is found by build-id), do parameter and result types, variadic-ness, struct and union
    /// sizes and member offsets, and enum values agree with its own?
    ///
    /// # Errors
    ///
    /// Declarations that do not parse.
    pub fn verify(&self, declarations: &str) -> Result<ffikit_inspect::Verification, Error> {
        Ok(self.file().verify(declarations)?)
    }

    /// From now on, refuse to bind a function whose declaration the library's debug
    /// information contradicts ([`Error::DeclarationMismatch`]).
    pub fn refuse_mismatches(&self, refuse: bool) -> &Self {
        self.refuse_mismatches
            .store(refuse, std::sync::atomic::Ordering::Relaxed);
        self
    }
}
