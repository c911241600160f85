//! `ffikit call`: call any C function from the shell through ABI mode.
//!
//! Arguments are read by the declared parameter type:
//!
//! | form | meaning |
//! |---|---|
//! | `42`, `-1`, `0x1f`, `2.5` | a number, for integer and floating parameters |
//! | `text` | a string, for `char *` parameters (a NUL-terminated copy) |
//! | `null` | a NULL pointer |
//! | `str:TEXT` | a string even where it looks like another form (`str:null`) |
//! | `out:TYPE` | a zeroed `TYPE`, its address passed, its value reported after the call |
//! | `buf:N` | a zeroed writable buffer of N bytes, reported after the call |
//! | `hex:00ff..` | read-only bytes |
//! | `[1,2,3]` | an array of the pointed-to type, reported after the call |
//! | `{x=1,y=2}` | a struct by value (members by name), or its address for a struct pointer |
//! | `TYPE:VALUE` | a variadic argument of that C type (`int:5`, `double:2.5`, `char*:hi`) |

use std::fmt::Write as _;

use ffikit_abi::{CData, Library, Value};
use ffikit_cdecl::{Declarations, QualType, Scalar, Type};
use serde_json::{Value as Json, json};

/// What `ffikit call` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Library name or path.
    pub library: String,
    /// The function's C declaration.
    pub declaration: String,
    /// The arguments, as typed on the command line.
    pub args: Vec<String>,
    /// Declarations of the types used (`--cdef`, or `--header` read as it is).
    pub cdef: Option<String>,
    /// A header to read through the C preprocessor (`--header`): its functions can be called
    /// by name instead of a declaration, its `static inline` ones through a compiled shim.
    pub header: Option<ffikit_cdecl::Header>,
    /// Report errno.
    pub errno: bool,
}

/// A bad request: what was wrong and where. Exit status 2.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// ABI mode refused (load, declaration, argument check).
    #[error(transparent)]
    Abi(#[from] ffikit_abi::Error),
    /// The declaration is not valid C.
    #[error("invalid declaration:\n{0}")]
    Declaration(ffikit_cdecl::Error),
    /// Not as many arguments as the declaration has parameters.
    #[error("`{function}` {message}")]
    Arity {
        /// The function.
        function: String,
        /// "takes 1 argument, 2 given".
        message: String,
    },
    /// An argument could not be read for its parameter.
    #[error("argument {index} (`{text}`): {reason}")]
    Argument {
        /// 1-based position.
        index: usize,
        /// As typed.
        text: String,
        /// Why it could not be used.
        reason: String,
    },
}

/// What a call produced, for printing.
#[derive(Debug)]
pub struct Outcome {
    /// The result.
    pub value: Value,
    /// Reported objects: (section, argument index, value).
    pub reports: Vec<(&'static str, usize, Json)>,
    /// errno after the call, when asked for.
    pub errno: Option<i32>,
}

#[derive(Debug)]
enum Reported {
    Out(CData),
    Buffer(CData),
    Array(CData),
}

fn bad(index: usize, text: &str, reason: impl Into<String>) -> CallError {
    CallError::Argument {
        index: index + 1,
        // NUL, a byte-order mark and other invisible characters escaped, so the message shows
        // what was typed.
        text: text.escape_debug().to_string(),
        reason: reason.into(),
    }
}

/// A number as typed, for an integer or floating parameter of C type `ty`: integers exactly
/// (out of the 64-bit range is an error, not a rounded float), floating values with their
/// sign (`-0`), and never an infinity the text did not spell (`1e400`).
fn typed_number(text: &str, scalar: Scalar, ty: &str) -> Result<Value, String> {
    if scalar.is_floating() {
        let value = integer(text)
            .map(|v| v.as_f64().unwrap_or_default())
            .filter(|&v| v != 0.0 || !text.starts_with('-'))
            .or_else(|| text.parse::<f64>().ok())
            .ok_or_else(|| format!("not a number, for `{ty}`"))?;
        let spelled_infinite = text
            .trim_start_matches(['-', '+'])
            .to_ascii_lowercase()
            .starts_with("inf");
        // An infinity the text did not spell is a number too large for f64 itself; a value
        // beyond a `float`'s range is refused by the call's own conversion, as for any caller.
        if value.is_infinite() && !spelled_infinite {
            return Err(format!(
                "{text} is out of range for `{ty}` (magnitude at most {:e}; `inf` is spelled out)",
                f64::MAX
            ));
        }
        return Ok(Value::Float(value));
    }
    if let Some(value) = integer(text) {
        return Ok(value);
    }
    let digits = text.trim_start_matches('-');
    let hex = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"));
    let all_digits = match hex {
        Some(h) => !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()),
        None => !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
    };
    if all_digits {
        let (size, _) = scalar.size_align();
        let bits = 8 * size as u32;
        let (min, max) = if scalar.is_signed() {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        } else {
            (0, (1i128 << bits) - 1)
        };
        return Err(format!("{text} is out of range for `{ty}` ({min}..={max})"));
    }
    // A float for an integer parameter: the call's own check explains the mismatch.
    text.parse::<f64>()
        .map(Value::Float)
        .map_err(|_| format!("not a number, for `{ty}`"))
}

/// An integer, decimal or hexadecimal, if the text is one that fits 64 bits.
fn integer(text: &str) -> Option<Value> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let parsed = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        u64::from_str_radix(hex, 16).ok()
    } else {
        digits.parse::<u64>().ok()
    };
    match parsed? {
        magnitude if negative => i64::try_from(magnitude)
            .ok()
            .map(|m| Value::Int(-m))
            .or_else(|| (magnitude == 1 << 63).then_some(Value::Int(i64::MIN))),
        magnitude => Some(i64::try_from(magnitude).map_or(Value::UInt(magnitude), Value::Int)),
    }
}

/// A number whatever the parameter's type: an integer if it is one, else a float.
fn number(text: &str) -> Option<Value> {
    integer(text).or_else(|| text.parse::<f64>().ok().map(Value::Float))
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A request's arguments, read for their parameters: the values to pass and the C objects
/// (`out:`, `buf:`, arrays, structs by address) they point to, owned here.
#[derive(Debug)]
pub struct Arguments {
    /// The declared function's name.
    pub function: String,
    /// Whether the request named a function the declarations already declare (bound by
    /// name, not from a declaration of its own).
    pub by_name: bool,
    /// The C types of the variadic arguments (`TYPE:` prefixes), in order.
    pub variadic_types: Vec<String>,
    /// One value per argument.
    pub values: Vec<Value>,
    kept: Vec<(usize, Reported)>,
}

impl Arguments {
    /// The variadic arguments' C types, as `Function::variadic` takes them.
    pub fn variadic_type_names(&self) -> Vec<&str> {
        self.variadic_types.iter().map(String::as_str).collect()
    }

    /// The C objects the arguments point to (`out:`, `buf:`, arrays, structs by address),
    /// with the index of the argument that points to each.
    pub fn objects_mut(&mut self) -> impl Iterator<Item = (usize, &mut CData)> {
        self.kept
            .iter_mut()
            .map(|(index, reported)| match reported {
                Reported::Out(data) | Reported::Buffer(data) | Reported::Array(data) => {
                    (*index, data)
                }
            })
    }
}

/// Reads the request's declaration and arguments against `library` (whose declarations get
/// the request's `cdef`). Binds nothing and calls nothing: every input gets an answer here,
/// which the fuzz target `call_arguments` checks.
///
/// # Errors
///
/// [`CallError`] naming the argument or the declaration's problem.
pub fn read_arguments(request: &Request, library: &Library) -> Result<Arguments, CallError> {
    if let Some(cdef) = &request.cdef {
        library.cdef(cdef)?;
    }
    let mut decls = library.declared();
    let declaration = request.declaration.trim().trim_end_matches(';');
    fn known<'d>(decls: &'d Declarations, name: &str) -> Option<&'d ffikit_cdecl::FunctionDecl> {
        decls.function(name).or_else(|| decls.inline_function(name))
    }
    let by_name = known(&decls, declaration).is_some();
    let name = if by_name {
        declaration.to_owned()
    } else {
        if is_identifier(declaration) {
            return Err(ffikit_abi::Error::NotDeclared(format!(
                "no function `{declaration}` is declared{}; give its C declaration (`int {declaration}(int)`)",
                if request.header.is_some() { " by the header" } else { "" }
            ))
            .into());
        }
        let report = decls
            .cdef(&format!("{declaration};"))
            .map_err(CallError::Declaration)?;
        report
            .declared
            .iter()
            .find_map(|d| match d {
                ffikit_cdecl::Declared::Function(name) => Some(name.clone()),
                _ => None,
            })
            .ok_or_else(|| {
                ffikit_abi::Error::NotDeclared(format!("`{declaration}` declares no function"))
            })?
    };
    let decl = known(&decls, &name).expect("declared").clone();
    let Type::Function(signature) = decls.types().get(decl.ty).clone() else {
        unreachable!("a function")
    };
    let fixed = signature.params.len();
    let given = request.args.len();
    if given < fixed || (given > fixed && !signature.variadic) {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let expected = if signature.variadic {
            format!("at least {fixed}")
        } else {
            fixed.to_string()
        };
        return Err(CallError::Arity {
            function: name.clone(),
            message: format!("takes {expected} argument{}, {given} given", plural(fixed)),
        });
    }
    let mut variadic_types = Vec::new();
    let mut variadic_texts = Vec::new();
    for (index, text) in request.args.iter().enumerate().skip(fixed) {
        let (ty, value) = text
            .split_once(':')
            .filter(|(ty, _)| !matches!(*ty, "str" | "out" | "buf" | "hex"))
            .ok_or_else(|| bad(index, text, "a variadic argument needs its C type: TYPE:VALUE (int:5, double:2.5, char*:text)"))?;
        variadic_types.push(ty.replace('*', " *"));
        variadic_texts.push(value.to_owned());
    }
    let mut kept: Vec<(usize, Reported)> = Vec::new();
    let mut values = Vec::new();
    for (index, text) in request.args.iter().enumerate() {
        let value = if index < fixed {
            argument(
                library,
                &decls,
                signature.params[index],
                index,
                text,
                &mut kept,
            )?
        } else {
            let ty = decls_type(&mut decls, &variadic_types[index - fixed], index, text)?;
            argument(
                library,
                &decls,
                ty,
                index,
                &variadic_texts[index - fixed],
                &mut kept,
            )?
        };
        values.push(value);
    }
    Ok(Arguments {
        function: name,
        by_name,
        variadic_types,
        values,
        kept,
    })
}

/// Runs the call.
///
/// # Errors
///
/// [`CallError`] naming the argument or the step that failed.
///
/// # Safety
///
/// The request is the caller's promise, as a command line is its user's: loading the library
/// is sound, the declaration (and `cdef`) is true to it, and the arguments meet the
/// function's preconditions (promises 1 to 4 of ffikit-abi's safety model). Buffers and
/// out-parameters made from `buf:`/`out:` arguments are owned here and outlive the call.
pub unsafe fn run(request: &Request) -> Result<Outcome, CallError> {
    // SAFETY: promise 1, this function's contract.
    let library = unsafe { Library::open(&request.library) }?;
    if let Some(header) = &request.header {
        library.include(header)?;
    }
    let arguments = read_arguments(request, &library)?;
    // SAFETY: promises 1 and 2, this function's contract.
    let function = unsafe { bind(request, &library, &arguments) }?;
    // SAFETY: promises 3 and 4, this function's contract; the objects the values point to
    // are kept alive in `arguments` until after the call.
    let value = unsafe { function.call(&arguments.values) }?;
    let errno = request.errno.then(ffikit_abi::last_errno);
    Ok(outcome(&arguments, value, errno))
}

/// What the call returned, wrote into its out-parameters and buffers, and errno.
fn outcome(arguments: &Arguments, value: Value, errno: Option<i32>) -> Outcome {
    let reports = arguments
        .kept
        .iter()
        .map(|(index, reported)| match reported {
            Reported::Out(data) => ("out", *index, to_json(&data.get())),
            Reported::Array(data) => ("arrays", *index, to_json(&data.get())),
            Reported::Buffer(data) => {
                let bytes = data.bytes();
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                let text = String::from_utf8_lossy(&bytes[..end]);
                ("buffers", *index, json!({ "utf8": text, "hex": hex }))
            }
        })
        .collect();
    Outcome {
        value,
        reports,
        errno,
    }
}

/// Runs the call in a worker process (`--isolated`): the same reading of the request here,
/// the call there, so that a crash, `exit` or hang in C is an error (exit status 2) instead
/// of this process's end. Out-parameters and buffers are copied to the worker and back.
///
/// # Errors
///
/// [`CallError`] as [`run`]; [`ffikit_abi::Error::WorkerFault`] when the worker ended.
pub fn run_isolated(
    request: &Request,
    options: ffikit_abi::IsolatedOptions,
) -> Result<Outcome, CallError> {
    // The request is read against a model of the declarations (it loads nothing).
    let model = Library::this();
    let library = ffikit_abi::IsolatedLibrary::open_with(&request.library, options)?;
    if let Some(header) = &request.header {
        model.include(header)?;
        library.include(header)?;
    }
    let mut arguments = read_arguments(request, &model)?;
    if let Some(cdef) = &request.cdef {
        library.cdef(cdef)?;
    }
    let mut function = bind_isolated(request, &library, &arguments)?;
    if request.errno {
        function = function.capture_errno()?;
    }
    // The objects the arguments point to travel as C objects, copied back after the call.
    let mut values = arguments.values.clone();
    for (index, data) in arguments.objects_mut() {
        values[index] = Value::Data(data.try_clone()?);
    }
    let value = function.call_mut(&mut values)?;
    for (index, data) in arguments.objects_mut() {
        if let Value::Data(written) = &values[index] {
            *data = written.try_clone()?;
        }
    }
    let errno = request.errno.then(ffikit_abi::last_errno);
    Ok(outcome(&arguments, value, errno))
}

/// Binds the function `arguments` were read for in an isolated library: by name, or from
/// the request's declaration, with the variadic arguments' types.
///
/// # Errors
///
/// The worker's error binding it.
pub fn bind_isolated(
    request: &Request,
    library: &ffikit_abi::IsolatedLibrary,
    arguments: &Arguments,
) -> Result<ffikit_abi::IsolatedFunction, ffikit_abi::Error> {
    let declaration = request.declaration.trim().trim_end_matches(';');
    let function = library.function(match arguments.by_name {
        true => &arguments.function,
        false => declaration,
    })?;
    match arguments.variadic_types.is_empty() {
        true => Ok(function),
        false => function.variadic(&arguments.variadic_type_names()),
    }
}

/// Binds the function `arguments` were read for: by name (a `static inline` one of the
/// header through a compiled shim) or from the request's declaration, with the variadic
/// arguments' types and errno capture as asked.
///
/// # Errors
///
/// [`CallError`] from binding.
///
/// # Safety
///
/// As [`run`]'s promises 1 and 2: the header or declaration is true to the library.
pub unsafe fn bind<'lib>(
    request: &Request,
    library: &'lib Library,
    arguments: &Arguments,
) -> Result<ffikit_abi::Function<'lib>, CallError> {
    let declaration = request.declaration.trim().trim_end_matches(';');
    let mut function = if arguments.by_name {
        let name = arguments.function.as_str();
        let inline = {
            let decls = library.declared();
            decls.function(name).is_none() && decls.inline_function(name).is_some()
        };
        if let (true, Some(header)) = (inline, &request.header) {
            // SAFETY: promises 1 and 2, this function's contract: the header is true to the
            // library, and the shim holds only the header's own code.
            unsafe { library.compile_inline(header, &[name]) }?;
        }
        // SAFETY: promise 2, this function's contract (the header's declaration).
        unsafe { library.get(name) }?
    } else {
        // SAFETY: promise 2, this function's contract.
        unsafe { library.function(declaration) }?
    };
    if !arguments.variadic_types.is_empty() {
        function = function.variadic(library, &arguments.variadic_type_names())?;
    }
    if request.errno {
        function = function.capture_errno();
    }
    Ok(function)
}

fn is_identifier(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn decls_type(
    decls: &mut Declarations,
    text: &str,
    index: usize,
    arg: &str,
) -> Result<QualType, CallError> {
    decls.parse_type(text).map_err(|e| {
        bad(
            index,
            arg,
            format!("`{text}` is not a C type: {}", e.message()),
        )
    })
}

/// Reads one command-line argument for a parameter of type `ty`.
fn argument(
    library: &Library,
    decls: &Declarations,
    ty: QualType,
    index: usize,
    text: &str,
    kept: &mut Vec<(usize, Reported)>,
) -> Result<Value, CallError> {
    let types = decls.types();
    if let Some(string) = text.strip_prefix("str:") {
        return Ok(Value::Str(string.to_owned()));
    }
    if text == "null" {
        return Ok(Value::Null);
    }
    if let Some(hex) = text.strip_prefix("hex:") {
        return unhex(hex).map(Value::Bytes).ok_or_else(|| {
            let reason = if hex.len() % 2 != 0 {
                "hex:BYTES needs an even number of hex digits (two per byte)"
            } else {
                "hex:BYTES takes only the hex digits 0-9, a-f, A-F"
            };
            bad(index, text, reason)
        });
    }
    if let Some(size) = text.strip_prefix("buf:") {
        let size: usize = size
            .parse()
            .map_err(|_| bad(index, text, "buf:N needs a byte count"))?;
        let data = library
            .new_value(&format!("unsigned char[{}]", size.max(1)))
            .map_err(|e| bad(index, text, e.to_string()))?;
        let address = data.address();
        kept.push((index, Reported::Buffer(data)));
        return Ok(address);
    }
    if let Some(type_name) = text.strip_prefix("out:") {
        let data = library
            .new_value(type_name)
            .map_err(|e| bad(index, text, e.to_string()))?;
        let address = data.address();
        kept.push((index, Reported::Out(data)));
        return Ok(address);
    }
    match types.get(ty.ty) {
        Type::Pointer(pointee) => {
            let pointee_name = types.display(QualType::plain(pointee.ty));
            if text.starts_with('[') {
                let items = split_list(text, '[', ']')
                    .ok_or_else(|| bad(index, text, "an array is [v1,v2,...]"))?;
                let values = items
                    .iter()
                    .map(|item| {
                        number(item)
                            .ok_or_else(|| bad(index, text, format!("`{item}` is not a number")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                // For `void *`, the elements' type follows the values: int, or double.
                let element = match types.get(pointee.ty) {
                    Type::Void if values.iter().any(|v| matches!(v, Value::Float(_))) => {
                        "double".to_owned()
                    }
                    Type::Void => "int".to_owned(),
                    _ => pointee_name.clone(),
                };
                let in_argument = |e: ffikit_abi::Error| bad(index, text, e.to_string());
                let mut data = library
                    .new_value(&format!("{element}[{}]", values.len().max(1)))
                    .map_err(in_argument)?;
                data.set(&Value::Array(values)).map_err(in_argument)?;
                let address = data.address();
                kept.push((index, Reported::Array(data)));
                return Ok(address);
            }
            if text.starts_with('{') {
                let value = struct_value(decls, pointee.ty, index, text)?;
                let in_argument = |e: ffikit_abi::Error| bad(index, text, e.to_string());
                let mut data = library.new_value(&pointee_name).map_err(in_argument)?;
                data.set(&value).map_err(in_argument)?;
                let address = data.address();
                kept.push((index, Reported::Out(data)));
                return Ok(address);
            }
            let is_string = matches!(
                types.get(pointee.ty),
                Type::Scalar(Scalar::Char | Scalar::SChar | Scalar::UChar)
            );
            if !is_string && number(text).is_some() {
                return Err(bad(
                    index,
                    text,
                    format!(
                        "a number for pointer parameter `{}` (pointers are null, out:, buf:, hex:, [..] or {{..}})",
                        types.display(ty)
                    ),
                ));
            }
            Ok(Value::Str(text.to_owned()))
        }
        Type::Record(_) => struct_value(decls, ty.ty, index, text),
        Type::Scalar(Scalar::ComplexFloat | Scalar::ComplexDouble | Scalar::ComplexLongDouble) => {
            let parts = split_list(text, '(', ')')
                .ok_or_else(|| bad(index, text, "a complex number is (re,im)"))?;
            match parts.as_slice() {
                [re, im] => Ok(Value::Complex(
                    re.parse().map_err(|_| bad(index, text, "not a number"))?,
                    im.parse().map_err(|_| bad(index, text, "not a number"))?,
                )),
                _ => Err(bad(index, text, "a complex number is (re,im)")),
            }
        }
        Type::Scalar(Scalar::Bool) if matches!(text, "true" | "false") => {
            Ok(Value::Bool(text == "true"))
        }
        Type::Scalar(scalar) => typed_number(text, *scalar, &types.display(ty))
            .map_err(|reason| bad(index, text, reason)),
        Type::Enum(e) => {
            let scalar = types.enumeration(*e).underlying;
            typed_number(text, scalar, &types.display(ty))
                .map_err(|reason| bad(index, text, reason))
        }
        _ => number(text).ok_or_else(|| {
            bad(
                index,
                text,
                format!("not a number, for `{}`", types.display(ty)),
            )
        }),
    }
}

fn split_list(text: &str, open: char, close: char) -> Option<Vec<String>> {
    let inner = text.strip_prefix(open)?.strip_suffix(close)?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    Some(inner.split(',').map(|s| s.trim().to_owned()).collect())
}

/// `{x=1,y=2.5}` for the struct type `ty`.
fn struct_value(
    decls: &Declarations,
    ty: ffikit_cdecl::TypeId,
    index: usize,
    text: &str,
) -> Result<Value, CallError> {
    let items = split_list(text, '{', '}')
        .ok_or_else(|| bad(index, text, "a struct is {member=value,...}"))?;
    if decls.record_layout(ty).is_none() {
        return Err(bad(
            index,
            text,
            "the struct's members are not declared (use --cdef)",
        ));
    }
    let types = decls.types();
    let member_type = |name: &str| match types.get(ty) {
        Type::Record(r) => types.record(*r).fields.as_ref().and_then(|fields| {
            fields
                .iter()
                .find(|f| f.name.as_deref() == Some(name))
                .map(|f| f.ty)
        }),
        _ => None,
    };
    let fields = items
        .iter()
        .map(|item| {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| bad(index, text, format!("`{item}` is not member=value")))?;
            let (name, value) = (name.trim(), value.trim());
            let scalar = member_type(name).and_then(|t| match types.get(t.ty) {
                Type::Scalar(s) => Some((*s, types.display(t))),
                Type::Enum(e) => Some((types.enumeration(*e).underlying, types.display(t))),
                _ => None,
            });
            let value = match scalar {
                Some((scalar, c_name)) => typed_number(value, scalar, &c_name)
                    .map_err(|reason| bad(index, text, format!("member `{name}`: {reason}")))?,
                None => number(value)
                    .ok_or_else(|| bad(index, text, format!("`{value}` is not a number")))?,
            };
            Ok((name.to_owned(), value))
        })
        .collect::<Result<Vec<_>, CallError>>()?;
    Ok(Value::Struct(fields))
}

/// A value as JSON.
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::Void | Value::Null => Json::Null,
        Value::Bool(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::UInt(u) => json!(u),
        Value::Float(f) if f.is_finite() => json!(f),
        Value::Float(f) => json!(f.to_string()),
        Value::Complex(re, im) => json!([re, im]),
        Value::Pointer(address) => json!(format!("{address:#x}")),
        Value::Text {
            bytes: Some(bytes), ..
        } => json!(String::from_utf8_lossy(bytes)),
        Value::Text { bytes: None, .. } => Json::Null,
        Value::Struct(fields) => Json::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect(),
        ),
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        other => json!(other.to_string()),
    }
}

impl Outcome {
    /// `{"return": ..., "out": {...}, "buffers": {...}, "arrays": {...}, "errno": N}`.
    pub fn to_json(&self) -> Json {
        let mut object = serde_json::Map::new();
        object.insert("return".into(), to_json(&self.value));
        for section in ["out", "buffers", "arrays"] {
            let entries: serde_json::Map<String, Json> = self
                .reports
                .iter()
                .filter(|(s, _, _)| *s == section)
                .map(|(_, index, value)| (index.to_string(), value.clone()))
                .collect();
            if !entries.is_empty() {
                object.insert(section.into(), Json::Object(entries));
            }
        }
        if let Some(errno) = self.errno {
            object.insert("errno".into(), json!(errno));
        }
        Json::Object(object)
    }

    /// Lines for a person.
    pub fn to_text(&self) -> String {
        let mut text = format!("return: {}\n", self.value);
        for (section, index, value) in &self.reports {
            let _ = writeln!(text, "{section} (argument {}): {value}", index + 1);
        }
        if let Some(errno) = self.errno {
            let _ = writeln!(
                text,
                "errno: {errno} ({})",
                std::io::Error::from_raw_os_error(errno)
            );
        }
        text
    }
}
