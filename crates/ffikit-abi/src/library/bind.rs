//! Binding declarations to the library's symbols — the one place promise 2 (a declaration is
//! true to the symbol) is made: functions by text, by name, by parts ([`SignatureBuilder`]),
//! owned ([`OwnedFunction`]), globals, adopted memory.

use std::sync::Arc;

use ffikit_cdecl::{Declarations, Declared, Report, Type};
use ffikit_inspect::SymbolKind;

use super::Library;
use crate::call::{Function, Safe, Signature};
use crate::data::Global;
use crate::error::Error;
use crate::shape;
use crate::value::Value;

impl Library {
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
        let name = declare_function(&mut scratch, declaration)?;
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
        let (signature, decl, inline) = declared_signature(decls, name)?;
        let symbol = decl.asm_name.clone().unwrap_or_else(|| name.to_owned());
        let address = if inline {
            self.inline_address(name)?
        } else {
            self.symbol_address(&symbol, SymbolKind::Function)?
        };
        if !inline
            && self
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
        let mut ty = variable.ty;
        // `extern int table[];`: C's declaration of an array defined elsewhere, its length
        // unknown here. Bound as the array's first element onwards with no elements known
        // (reads of the whole array see none; a front end indexes from its address).
        if let Type::Array { element, len: None } = scratch.types().get(ty.ty).clone() {
            ty = scratch.types_mut().array(element, Some(0)).into();
        }
        let typed = shape::resolve(&scratch, ty)?;
        let address = self.symbol_address(&symbol, SymbolKind::Data)?;
        Ok(Global::new(name, typed, address))
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
    /// As [`Function::capture_errno`]: errno saved after each call (on the thread that
    /// made it, a pool's worker included).
    pub fn capture_errno(mut self) -> Self {
        self.function = self.function.capture_errno();
        self
    }

    /// Whether calls save errno ([`Function::capture_errno`]).
    pub fn captures_errno(&self) -> bool {
        self.function.captures_errno()
    }

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

    /// A function pointer's target as a function: `ty` is a function pointer (or function)
    /// type, `address` the code it points to; `library` is kept alive beside it (the code
    /// usually lives there). A variadic type is called with its fixed parameters only.
    ///
    /// # Errors
    ///
    /// A type that is not a function pointer, or one ABI mode cannot call.
    ///
    /// # Safety
    ///
    /// `address` is a function of exactly this type (promise 2), callable for as long as
    /// the returned function lives.
    pub unsafe fn at(
        library: &Arc<Library>,
        ty: &crate::cdata::CType,
        address: usize,
    ) -> Result<OwnedFunction, Error> {
        let (decls, result, params, variadic) = ty.function_parts().ok_or_else(|| {
            Error::NotDeclared(format!("`{}` is not a function pointer type", ty.cname()))
        })?;
        let params = params
            .iter()
            .map(|p| Ok((None, shape::resolve(decls, *p)?)))
            .collect::<Result<Vec<_>, Error>>()?;
        let result = shape::resolve(decls, result)?;
        let signature = Signature::new(ty.cname(), result, params, variadic);
        let function: Function<'static> = Function::new(signature, address)?;
        Ok(OwnedFunction {
            function,
            library: Arc::clone(library),
        })
    }

    /// As [`Function::takes_callback`].
    pub fn takes_callback(&self, index: usize) -> bool {
        self.function.takes_callback(index)
    }

    /// As [`Function::takes_record`].
    pub fn takes_record(&self, index: usize) -> bool {
        self.function.takes_record(index)
    }

    /// As [`Function::takes_pointer`].
    pub fn takes_pointer(&self, index: usize) -> bool {
        self.function.takes_pointer(index)
    }

    /// Binds the function `name` declared earlier (by `cdef` or a header), which the
    /// function keeps its library alive: [`Library::get`], owned.
    ///
    /// # Errors
    ///
    /// As [`Library::get`].
    ///
    /// # Safety
    ///
    /// As [`Library::get`]: the declaration is true to the symbol.
    pub unsafe fn get(library: &Arc<Library>, name: &str) -> Result<OwnedFunction, Error> {
        // SAFETY: the caller's promise, passed on.
        let function = unsafe { library.get(name) }?;
        // SAFETY: as in `new`: the Arc is kept beside the function and dropped after it.
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
/// The signature `name` is declared with (a function, or a header's `static inline` one:
/// then `true`), and its declaration.
pub(crate) fn declared_signature<'d>(
    decls: &'d Declarations,
    name: &str,
) -> Result<(Signature, &'d ffikit_cdecl::FunctionDecl, bool), Error> {
    // A `static inline` function of a header has no symbol: its address comes from a
    // compiled shim (`compile_inline`).
    let (decl, inline) = match (decls.function(name), decls.inline_function(name)) {
        (Some(decl), _) => (decl, false),
        (None, Some(decl)) => (decl, true),
        (None, None) => {
            return Err(Error::NotDeclared(format!(
                "no function `{name}` is declared"
            )));
        }
    };
    let Type::Function(function) = decls.types().get(decl.ty) else {
        unreachable!("function declarations have function types")
    };
    let params = function
        .params
        .iter()
        .zip(&decl.param_names)
        .map(|(ty, name)| Ok((name.clone(), shape::resolve(decls, *ty)?)))
        .collect::<Result<Vec<_>, Error>>()?;
    let result = shape::resolve(decls, function.result)?;
    let signature = Signature::new(name.to_owned(), result, params, function.variadic);
    Ok((signature, decl, inline))
}

/// The name of the function `declaration` declares in `decls` (declared there if it is a
/// declaration rather than a name): what [`Library::function`] binds.
pub(crate) fn declare_function(
    decls: &mut Declarations,
    declaration: &str,
) -> Result<String, Error> {
    let report = decls.cdef(&terminated(declaration))?;
    declared_function(&report, declaration)
}

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
