//! [`Library`]: a loaded shared object, its declarations, and symbol lookup (with the ELF
//! dynamic symbol table telling functions from data).

use std::collections::HashMap;
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use ffikit_cdecl::{Declarations, Declared, Report, Type};

use crate::call::{Function, Safe, Signature};
use crate::callback::{Callback, CallbackError, TypedCallback};
use crate::data::{CData, Global};
use crate::error::Error;
use crate::shape;
use crate::value::Value;

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
        let text = unsafe {
            library
                .function("const char *ffikit_manifest(void)")?
                .call(&[])?
        }
        .as_text()
        .ok_or_else(|| Error::NotDeclared("ffikit_manifest() returned NULL".into()))?;
        library.cdef(&text)?;
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

    fn declarations(&self) -> std::sync::MutexGuard<'_, Declarations> {
        // A panic while holding the lock cannot leave the declarations half-changed (cdef is
        // transactional), so a poisoned lock is still usable.
        self.decls
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Binds a function from its C declaration, e.g. `"double cos(double)"`. The types it
    /// uses may be declared in the same text or by [`cdef`](Self::cdef) before.
    ///
    /// # Errors
    ///
    /// A declaration error, a missing symbol, a data symbol, or a type ABI mode cannot call.
    ///
    /// # Safety
    ///
    /// The declaration is true to the symbol (promise 2 of the
    /// [safety model](crate#safety-model)): the symbol is a function with exactly these
    /// parameter and result types and this calling convention, and a `char *` result is NULL
    /// or a NUL-terminated string (ffikit reads it; declare `void *` otherwise). ffikit checks
    /// what the library file says where it can ([`refuse_mismatches`](Self::refuse_mismatches)),
    /// but a file without debug information says nothing about types.
    pub unsafe fn function(&self, declaration: &str) -> Result<Function<'_>, Error> {
        let mut scratch = self.declarations().clone();
        let report = scratch.cdef(&terminated(declaration))?;
        let name = declared_function(&report, declaration)?;
        self.bind(&scratch, &name)
    }

    /// Starts describing a function by its parts instead of its C text (the builder style):
    ///
    /// ```
    /// let libm = ffikit_abi::Library::this();
    /// // SAFETY: `double ldexp(double, int)` is how <math.h> declares ldexp, which is defined
    /// // for every double and int.
    /// let ldexp = unsafe {
    ///     libm.signature("ldexp").param("double").param("int").returns("double").bind().unwrap().into_safe()
    /// };
    /// assert_eq!(ldexp.call(&[0.75.into(), 3.into()]).unwrap(), ffikit_abi::Value::Float(6.0));
    /// ```
    pub fn signature(&self, name: &str) -> SignatureBuilder<'_> {
        SignatureBuilder {
            library: self,
            name: name.to_owned(),
            params: Vec::new(),
            result: "void".to_owned(),
            variadic: false,
        }
    }

    /// Takes ownership of memory C allocated: `free_declaration` (such as
    /// `"void free(void *)"` or the library's own release function) is called on it when the
    /// returned handle drops.
    ///
    /// # Errors
    ///
    /// As [`function`](Self::function) for the release function, which must take one pointer.
    ///
    /// # Safety
    ///
    /// `pointer` is memory the caller owns and nothing else will release or use after the
    /// handle drops, and `free_declaration` is true to the symbol and releases exactly such
    /// memory (promises 2 and 6 of the [safety model](crate#safety-model)).
    pub unsafe fn adopt(
        &self,
        pointer: &Value,
        free_declaration: &str,
    ) -> Result<Adopted<'_>, Error> {
        let address = pointer.as_address().ok_or_else(|| Error::TypeMismatch {
            place: "the pointer to adopt".into(),
            expected: "a pointer".into(),
            given: pointer.describe(),
        })?;
        // SAFETY: the caller vouches for the release function's declaration.
        let free = unsafe { self.function(free_declaration) }?;
        Ok(Adopted { address, free })
    }

    /// Binds a function declared earlier with [`cdef`](Self::cdef) (or by the library's
    /// manifest), by name.
    ///
    /// # Errors
    ///
    /// [`Error::NotDeclared`] if no such function was declared, else as
    /// [`function`](Self::function).
    ///
    /// # Safety
    ///
    /// As [`function`](Self::function): the declaration of `name` made earlier is true to
    /// the symbol.
    pub unsafe fn get(&self, name: &str) -> Result<Function<'_>, Error> {
        // Bound under the lock: binding reads the declarations, it does not change them
        // (cloning them per call cost 50 µs with the fixtures' 200 declarations).
        let decls = self.declarations();
        self.bind(&decls, name)
    }

    /// Like [`function`](Self::function), but `Ok(None)` when the library lacks the symbol:
    /// for optional features of a library version.
    ///
    /// # Errors
    ///
    /// As [`function`](Self::function), except for a missing symbol.
    ///
    /// # Safety
    ///
    /// As [`function`](Self::function).
    pub unsafe fn optional(&self, declaration: &str) -> Result<Option<Function<'_>>, Error> {
        // SAFETY: the caller's promise, passed on.
        match unsafe { self.function(declaration) } {
            Err(Error::SymbolNotFound { .. }) => Ok(None),
            other => other.map(Some),
        }
    }

    fn bind(&self, decls: &Declarations, name: &str) -> Result<Function<'_>, Error> {
        let decl = decls
            .function(name)
            .ok_or_else(|| Error::NotDeclared(format!("no function `{name}` is declared")))?;
        let Type::Function(function) = decls.types().get(decl.ty) else {
            unreachable!("function declarations have function types")
        };
        let symbol = decl.asm_name.clone().unwrap_or_else(|| name.to_owned());
        let params = function
            .params
            .iter()
            .zip(&decl.param_names)
            .map(|(ty, name)| Ok((name.clone(), shape::resolve(decls, *ty)?)))
            .collect::<Result<Vec<_>, Error>>()?;
        let result = shape::resolve(decls, function.result)?;
        let address = self.symbol_address(&symbol, SymbolKind::Function)?;
        if self
            .refuse_mismatches
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            let findings = self.file().verify_function(decls, name);
            if !findings.is_ok() {
                let messages: Vec<String> = findings
                    .findings
                    .iter()
                    .map(|f| f.message.clone())
                    .collect();
                return Err(Error::DeclarationMismatch {
                    name: name.to_owned(),
                    library: self.name.clone(),
                    findings: messages.join("; "),
                });
            }
        }
        let signature = Signature::new(name.to_owned(), result, params, function.variadic);
        Function::new(signature, address)
    }

    /// A global variable from its declaration (`"extern int counter"`, or just a declared
    /// name), to read and write.
    ///
    /// # Errors
    ///
    /// A declaration error, a missing symbol, or a function symbol.
    ///
    /// # Safety
    ///
    /// The declaration is true to the symbol (promise 2): a variable of this type, at
    /// least this large, readable for as long as the library is loaded. Writing it is a
    /// separate promise ([`Global::set`]).
    pub unsafe fn global(&self, declaration: &str) -> Result<Global<'_>, Error> {
        let mut scratch = self.declarations().clone();
        let name = if scratch.variable(declaration.trim()).is_some() {
            declaration.trim().to_owned()
        } else {
            let report = scratch.cdef(&terminated(&format!("extern {declaration}")))?;
            report
                .declared
                .iter()
                .find_map(|d| match d {
                    Declared::Variable(name) => Some(name.clone()),
                    _ => None,
                })
                .ok_or_else(|| {
                    Error::NotDeclared(format!("`{declaration}` declares no variable"))
                })?
        };
        let variable = scratch.variable(&name).expect("just declared");
        let symbol = variable.asm_name.clone().unwrap_or_else(|| name.clone());
        let typed = shape::resolve(&scratch, variable.ty)?;
        let address = self.symbol_address(&symbol, SymbolKind::Data)?;
        Ok(Global::new(name, typed, address))
    }

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
    fn callback_signature(
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

/// A [`Function`] that holds its library by reference count, for callers who must store
/// both together (libloading's most-asked-for feature). It can only be bound from the
/// library it holds ([`OwnedFunction::new`]), so it cannot outlive the code it calls.
#[derive(Debug)]
pub struct OwnedFunction {
    // Field order: the function is dropped before the library it points into.
    /// `'static` because `library`, kept alive here, outlives it; never handed out as such.
    function: Function<'static>,
    library: Arc<Library>,
}

impl OwnedFunction {
    /// Binds `declaration` from a shared library handle, which the function keeps alive.
    ///
    /// # Errors
    ///
    /// As [`Library::function`].
    ///
    /// # Safety
    ///
    /// As [`Library::function`]: the declaration is true to the symbol.
    pub unsafe fn new(library: &Arc<Library>, declaration: &str) -> Result<OwnedFunction, Error> {
        // SAFETY: the caller's promise, passed on.
        let function = unsafe { library.function(declaration) }?;
        // SAFETY: the Arc is kept beside the function and dropped after it (field order), so
        // the library outlives every use of the detached function.
        let function: Function<'static> = unsafe { function.detach() };
        Ok(OwnedFunction {
            function,
            library: Arc::clone(library),
        })
    }

    /// As [`Function::call`].
    ///
    /// # Errors
    ///
    /// As [`Function::call`].
    ///
    /// # Safety
    ///
    /// As [`Function::call`].
    #[inline]
    pub unsafe fn call(&self, args: &[Value]) -> Result<Value, Error> {
        // SAFETY: the caller's promise, passed on.
        unsafe { self.function.call(args) }
    }

    /// As [`Function::into_safe`].
    ///
    /// # Safety
    ///
    /// As [`Function::into_safe`].
    pub unsafe fn into_safe(self) -> Safe<OwnedFunction> {
        Safe { function: self }
    }

    /// As [`Function::allow_null`].
    pub fn allow_null(mut self, index: usize) -> Self {
        self.function = self.function.allow_null(index);
        self
    }

    /// The library this function keeps alive.
    pub fn library(&self) -> &Arc<Library> {
        &self.library
    }
}

impl Safe<OwnedFunction> {
    /// As [`Safe::<Function>::call`](Safe::call).
    ///
    /// # Errors
    ///
    /// As [`Safe::<Function>::call`](Safe::call).
    #[inline]
    pub fn call(&self, args: &[Value]) -> Result<Value, Error> {
        // SAFETY: `OwnedFunction::into_safe` made promise 3 for this function.
        unsafe { self.function.function.call_refusing_raw(args) }
    }
}

impl<'lib> Function<'lib> {
    /// The same variadic function with these C types for its variadic arguments (before
    /// promotion: `float` is passed as `double`, `char` and `short` as `int`), prepared once.
    /// `library` only resolves the type names; the result calls the same code.
    ///
    /// # Errors
    ///
    /// A type that does not parse or cannot be passed, or a function that is not variadic.
    pub fn variadic(
        &self,
        library: &'lib Library,
        types: &[&str],
    ) -> Result<Function<'lib>, Error> {
        let typed = types
            .iter()
            .map(|text| library.resolve_type(text))
            .collect::<Result<Vec<_>, _>>()?;
        self.with_variadic_types(&typed)
    }
}

/// A function described by its parts; see [`Library::signature`].
#[derive(Debug)]
#[must_use = "a SignatureBuilder binds nothing until `bind` is called"]
pub struct SignatureBuilder<'lib> {
    library: &'lib Library,
    name: String,
    params: Vec<String>,
    result: String,
    variadic: bool,
}

impl<'lib> SignatureBuilder<'lib> {
    /// The next parameter's C type (`"const char *"`, `"struct point"`).
    pub fn param(mut self, c_type: &str) -> Self {
        self.params.push(c_type.to_owned());
        self
    }

    /// The result's C type (`void` if never called).
    pub fn returns(mut self, c_type: &str) -> Self {
        self.result = c_type.to_owned();
        self
    }

    /// The function takes `...` after the parameters.
    pub fn variadic(mut self) -> Self {
        self.variadic = true;
        self
    }

    /// Builds the type from the parts (each parsed as a C type name), then binds it as
    /// [`Library::function`] does.
    ///
    /// # Errors
    ///
    /// A part that is not a C type, or as [`Library::function`].
    ///
    /// # Safety
    ///
    /// As [`Library::function`]: the signature described is true to the symbol.
    pub unsafe fn bind(self) -> Result<Function<'lib>, Error> {
        let mut scratch = self.library.declarations().clone();
        let result = scratch.parse_type(&self.result)?;
        let params = self
            .params
            .iter()
            .map(|p| scratch.parse_type(p))
            .collect::<Result<Vec<_>, _>>()?;
        let ty = scratch.types_mut().function(ffikit_cdecl::FunctionType {
            result,
            params,
            variadic: self.variadic,
        });
        let declaration = scratch.types().declaration(ty, &self.name);
        // SAFETY: the caller's promise for the described signature, passed on.
        unsafe { self.library.function(&declaration) }
    }
}

/// Memory C allocated, released with its matching function when dropped.
#[derive(Debug)]
pub struct Adopted<'lib> {
    address: usize,
    free: Function<'lib>,
}

impl Adopted<'_> {
    /// The address, to pass on.
    pub fn address(&self) -> Value {
        Value::Pointer(self.address)
    }
}

impl Drop for Adopted<'_> {
    fn drop(&mut self) {
        // A release function that refuses its argument (a wrong declaration) leaks rather
        // than panicking in drop.
        // SAFETY: `Library::adopt`'s caller promised that this memory is theirs to release,
        // once, with this function (promise 6); the handle is dropped once.
        let _ = unsafe { self.free.call(&[Value::Pointer(self.address)]) };
    }
}

/// A single declaration may omit its final `;`.
fn terminated(declaration: &str) -> String {
    let trimmed = declaration.trim_end();
    if trimmed.ends_with(';') || trimmed.ends_with('}') {
        trimmed.to_owned()
    } else {
        format!("{trimmed};")
    }
}

fn declared_function(report: &Report, declaration: &str) -> Result<String, Error> {
    if let Some(skipped) = report.skipped.first() {
        return Err(Error::Declaration(skipped.reason.clone()));
    }
    let functions: Vec<&String> = report
        .declared
        .iter()
        .filter_map(|d| match d {
            Declared::Function(name) => Some(name),
            _ => None,
        })
        .collect();
    match functions.as_slice() {
        [name] => Ok((*name).clone()),
        [] => Err(Error::NotDeclared(format!(
            "`{declaration}` declares no function"
        ))),
        _ => Err(Error::NotDeclared(format!(
            "`{declaration}` declares several functions; bind them one at a time"
        ))),
    }
}
