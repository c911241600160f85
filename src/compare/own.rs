//! `ffikit compare LIBRARY DECLARATION ARGS...`: the user's own function, with their
//! arguments, through every binding style that can call it.
//!
//! The arguments are read as `ffikit call` reads them, into C objects of the parameters'
//! types that every style shares. The direct call (a C harness compiled by `cc`) is the
//! reference: each other style is called once from the same starting state (the objects the
//! arguments point to restored between calls) and must give the same result and leave the
//! same bytes in those objects before it is timed. Then all are timed in paired rounds, as
//! the fixture comparison times its workloads.

use std::ffi::{CStr, c_char, c_void};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use ffikit_abi::{CData, Library, Value};
use ffikit_cdecl::{QualType, Scalar, Type};
use serde_json::{Value as Json, json};

use super::harness::{self, RunFn, Signature, Source};
use super::{CompareError, Facts, Options, Report, Skipped, Style};
use crate::call::{self, Arguments};

/// What to compare: the call as `ffikit call` takes it, and what the harnesses need to
/// declare it the same way.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The call: library, declaration or name, arguments, `--cdef`, the header.
    pub call: call::Request,
    /// `--cdef` as given (the harnesses paste it).
    pub cdef: Option<String>,
    /// `--header` as given, with the preprocessor flags for the C harness.
    pub header: Option<(String, Vec<String>)>,
    /// A shell command doing the same work, run once per call (`--command 'gzip -c'`), its
    /// input the bytes of the first string or `hex:` argument.
    pub command: Option<String>,
    /// Also compare from Python: ctypes, CFFI's ABI mode and the ffikit module.
    pub python: bool,
}

/// The result of one call as compared (and as the Python styles report theirs): numbers,
/// booleans and records by value, pointers by NULL-ness (`{"pointer": null}` or
/// `{"pointer": "non-NULL"}`: addresses of fresh allocations differ), a `char *` by its
/// text (`{"string": ...}`), nothing for `void`.
///
/// # Safety
///
/// With `char_result`, a non-NULL address in `value` points to a NUL-terminated string (the
/// declaration says the function returns one: the request's promise 2).
unsafe fn observe(value: &Value, char_result: bool) -> Json {
    match value.as_address() {
        Some(0) => json!({ "pointer": null }),
        Some(address) if char_result => {
            // SAFETY: this function's contract.
            let text = unsafe { CStr::from_ptr(address as *const c_char) };
            json!({ "string": text.to_string_lossy() })
        }
        Some(_) => json!({ "pointer": "non-NULL" }),
        None => call::to_json(value),
    }
}

/// Where two hex dumps first differ, briefly (buffers can be megabytes).
fn difference(got: &str, want: &str) -> String {
    if got.len() != want.len() {
        return format!(
            "{} bytes long, the direct call's {}",
            got.len() / 2,
            want.len() / 2
        );
    }
    let at = (0..got.len())
        .step_by(2)
        .find(|&i| got[i..i + 2] != want[i..i + 2])
        .unwrap_or(0);
    let end = |text: &str| text.len().min(at + 16);
    format!(
        "differ from the direct call's first at byte {}: {}..., not {}...",
        at / 2,
        &got[at..end(got)],
        &want[at..end(want)]
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The C objects the arguments point to, restorable to their state before the first call.
struct Objects {
    initial: Vec<Vec<u8>>,
}

impl Objects {
    fn snapshot(arguments: &mut Arguments) -> Objects {
        Objects {
            initial: arguments
                .objects_mut()
                .map(|(_, data)| data.bytes().to_vec())
                .collect(),
        }
    }

    fn restore(&self, arguments: &mut Arguments) {
        for ((_, data), bytes) in arguments.objects_mut().zip(&self.initial) {
            // SAFETY: `bytes` is a copy of this object's own bytes: its size, of its type.
            unsafe { data.copy_from(bytes.as_ptr() as usize) };
        }
    }

    /// Each object's bytes now, with its argument's index.
    fn state(arguments: &mut Arguments) -> Vec<(usize, String)> {
        arguments
            .objects_mut()
            .map(|(index, data)| (index, hex(data.bytes())))
            .collect()
    }
}

/// One style's way of calling: `n` calls; with `verify`, the last result observed.
type Runner<'a> = Box<dyn FnMut(u64, bool) -> Result<Option<Json>, std::io::Error> + 'a>;

/// A result buffer any C result fits (libffi writes whole registers), 16-byte aligned.
struct ResultBuffer {
    words: Vec<u128>,
}

impl ResultBuffer {
    fn new(size: usize) -> Self {
        ResultBuffer {
            words: vec![0; size.div_ceil(16) + 1],
        }
    }

    fn pointer(&mut self) -> *mut c_void {
        self.words.as_mut_ptr().cast()
    }
}

/// Decodes a raw result into its observation, through a C object of the result type.
struct Decoder {
    data: Option<CData>,
    char_result: bool,
}

impl Decoder {
    fn try_clone(&self) -> Result<Decoder, CompareError> {
        Ok(Decoder {
            data: self.data.as_ref().map(CData::try_clone).transpose()?,
            char_result: self.char_result,
        })
    }

    /// The result in `buffer` as compared.
    ///
    /// # Safety
    ///
    /// `buffer` holds a result of the function (a harness or `ffi_call` wrote it), and the
    /// function's promise about it holds ([`observe`]'s).
    unsafe fn observe(&mut self, buffer: &ResultBuffer) -> Json {
        match &mut self.data {
            None => Json::Null,
            Some(data) => {
                assert!(
                    buffer.words.len() * 16 >= data.size(),
                    "the buffer fits the result"
                );
                // SAFETY: the buffer has at least the result's size (checked), and holds a
                // value of the result type (this function's contract).
                unsafe { data.copy_from(buffer.words.as_ptr() as usize) };
                // SAFETY: this function's contract.
                unsafe { observe(&data.get(), self.char_result) }
            }
        }
    }
}

fn unavailable(style: Style, reason: impl Into<String>) -> Skipped {
    Skipped {
        workload: String::new(),
        style,
        reason: reason.into(),
    }
}

/// A harness's loop as a style's runner: the argument pointers are this comparison's,
/// shared by every style; `run` calls the function `n` times and writes the last result.
fn harness_runner<'a>(
    mut run: impl FnMut(*const *mut c_void, u64, *mut c_void) + 'a,
    args: &'a [*mut c_void],
    mut decoder: Decoder,
    size: usize,
) -> Runner<'a> {
    let mut result = ResultBuffer::new(size);
    Box::new(move |n, verify| {
        let out = result.pointer();
        run(args.as_ptr(), n, out);
        // SAFETY: `run` wrote the function's result to the buffer; what it points to is the
        // request's promise.
        Ok(verify.then(|| unsafe { decoder.observe(&result) }))
    })
}

/// A generated harness's `run`: its contract, once.
///
/// # Safety
///
/// The harness was generated from this declaration: it reads each argument as its
/// parameter's type from `args` (objects of those types, alive for the comparison) and
/// writes a result of the result type to `out`; the call itself is the request's promise.
unsafe fn harness_call(run: RunFn) -> impl FnMut(*const *mut c_void, u64, *mut c_void) {
    // SAFETY: this function's contract.
    move |args, n, out| unsafe { run(args, n, out) }
}

/// Runs the comparison.
///
/// # Errors
///
/// A library, declaration or argument refused (as `ffikit call` refuses them), no C compiler
/// or a C harness that does not compile (the direct call is the reference), or a style
/// whose result differs from the direct call's.
///
/// # Safety
///
/// As `ffikit call`: loading the library is sound, the declaration is true to it, and the
/// arguments meet the function's preconditions — for as many calls as the timing makes.
pub unsafe fn run(request: &Request, options: &Options) -> Result<Report, CompareError> {
    let call = &request.call;
    // SAFETY: the request's promise 1.
    let library = unsafe { Library::open(&call.library) }?;
    if let Some(header) = &call.header {
        library.include(header)?;
    }
    let mut arguments = call::read_arguments(call, &library)?;
    let mut decls = library.declared();
    let name = arguments.function.clone();
    if !arguments.by_name {
        // The declaration, as `read_arguments` read it into its own copy.
        decls
            .cdef(&format!(
                "{};",
                call.declaration.trim().trim_end_matches(';')
            ))
            .map_err(crate::call::CallError::Declaration)?;
    }
    let Some(decl) = decls.function(&name).cloned() else {
        return Err(CompareError::Unsupported(format!(
            "`{name}` is a static inline function: it has no symbol for the other styles to bind"
        )));
    };
    let Type::Function(function_type) = decls.types().get(decl.ty).clone() else {
        unreachable!("a function declaration has a function type")
    };
    let variadic = arguments
        .variadic_types
        .iter()
        .map(|text| decls.parse_type(text))
        .collect::<Result<Vec<QualType>, _>>()
        .map_err(|e| CompareError::Unsupported(e.message().to_owned()))?;
    let signature = Signature {
        name: name.clone(),
        result: function_type.result,
        params: function_type.params.clone(),
        variadic,
    };
    let types = decls.types();
    let path = crate::inspect::library_path(&call.library)?;
    let source = Source {
        library: std::fs::canonicalize(&path).unwrap_or(path),
        cdef: request.cdef.clone(),
        header: request.header.clone(),
        declaration: (!arguments.by_name)
            .then(|| call.declaration.trim().trim_end_matches(';').to_owned()),
    };

    // Every argument in a C object of its parameter's type: what the harnesses and raw
    // ffi_call read. Strings and bytes get a NUL-terminated copy made once.
    let mut texts: Vec<Box<[u8]>> = Vec::new();
    let mut storage: Vec<CData> = Vec::new();
    for (index, (ty, value)) in signature.arguments().zip(&arguments.values).enumerate() {
        let in_argument = |e: ffikit_abi::Error| CompareError::Argument {
            index: index + 1,
            source: Box::new(e),
        };
        let mut data = library.new_value(&types.display(ty)).map_err(in_argument)?;
        let value = match value {
            Value::Str(text) => {
                let mut bytes = text.clone().into_bytes();
                if bytes.contains(&0) {
                    return Err(CompareError::Unsupported(format!(
                        "argument {}: a string with a NUL inside",
                        index + 1
                    )));
                }
                bytes.push(0);
                texts.push(bytes.into_boxed_slice());
                Value::Pointer(texts.last().expect("pushed").as_ptr() as usize)
            }
            Value::Bytes(bytes) => {
                texts.push(bytes.clone().into_boxed_slice());
                Value::Pointer(texts.last().expect("pushed").as_ptr() as usize)
            }
            other => other.clone(),
        };
        data.set(&value).map_err(in_argument)?;
        storage.push(data);
    }
    let args: Vec<*mut c_void> = storage
        .iter()
        .map(|d| d.address().as_address().unwrap_or_default() as *mut c_void)
        .collect();
    let char_result = matches!(types.get(signature.result.ty), Type::Pointer(p)
        if matches!(types.get(p.ty), Type::Scalar(Scalar::Char | Scalar::SChar | Scalar::UChar)));
    let (decoder, result_size) = match types.get(signature.result.ty) {
        Type::Void => (
            Decoder {
                data: None,
                char_result,
            },
            0,
        ),
        _ => {
            let data = library.new_value(&types.display(signature.result))?;
            let size = data.size();
            (
                Decoder {
                    data: Some(data),
                    char_result,
                },
                size,
            )
        }
    };
    let objects = Objects::snapshot(&mut arguments);
    let mut report = Report {
        subject: Some(format!(
            "{name}({}) in {}",
            call.args.join(", "),
            source.library.display()
        )),
        ..Report::default()
    };
    let mut runners: Vec<(Style, Runner<'_>)> = Vec::new();

    // The direct call: the reference; without it nothing is compared.
    let c_text =
        harness::c_source(&source, &decls, &signature).map_err(CompareError::Unsupported)?;
    let c_path = harness::build_c(&source, &c_text).map_err(CompareError::Harness)?;
    // SAFETY: the harness holds only the generated code, which calls the user's function
    // (the request's promise); it runs no initializer of its own.
    let c_harness = unsafe { libloading::Library::new(&c_path) }?;
    // SAFETY: the generated harness defines `ffikit_direct_run` with this signature.
    let direct: RunFn = *unsafe { c_harness.get::<RunFn>(b"ffikit_direct_run") }?;
    // SAFETY: the harness is generated from this declaration (`harness_call`'s contract);
    // the runners are dropped before the harness is unloaded (declared after it).
    let direct = unsafe { harness_call(direct) };
    runners.push((
        Style::Direct,
        harness_runner(direct, &args, decoder.try_clone()?, result_size),
    ));

    // API mode and the typed handle: the Rust harness.
    let rust = harness::rust_source(&source, &decls, &signature)
        .and_then(|text| harness::build_rust(&source, &text));
    let rust_harness = match rust {
        // SAFETY: as for the C harness: generated code calling the user's function (and
        // ffikit-abi, whose initializers are sound).
        Ok(path) => Some(unsafe { libloading::Library::new(&path) }?),
        Err(reason) => {
            report.skipped.push(unavailable(Style::Api, reason.clone()));
            report.skipped.push(unavailable(Style::Typed, reason));
            None
        }
    };
    if let Some(rust_harness) = &rust_harness {
        // SAFETY: the generated harness defines these with these signatures.
        let api: RunFn = *unsafe { rust_harness.get::<RunFn>(b"ffikit_api_run") }?;
        // SAFETY: as for the direct call.
        let api = unsafe { harness_call(api) };
        runners.push((
            Style::Api,
            harness_runner(api, &args, decoder.try_clone()?, result_size),
        ));
        type Bind = unsafe extern "C" fn(*mut u8, usize) -> *const c_void;
        type TypedRun = unsafe extern "C" fn(*const c_void, *const *mut c_void, u64, *mut c_void);
        // SAFETY: as above.
        let bind: Bind = *unsafe { rust_harness.get::<Bind>(b"ffikit_typed_bind") }?;
        // SAFETY: as above.
        let typed_run: TypedRun = *unsafe { rust_harness.get::<TypedRun>(b"ffikit_typed_run") }?;
        let mut message = vec![0u8; 4096];
        // SAFETY: `message` has the capacity passed; the harness writes a NUL-terminated
        // message within it.
        let handle = unsafe { bind(message.as_mut_ptr(), message.len()) };
        if handle.is_null() {
            let text = CStr::from_bytes_until_nul(&message)
                .map(|c| c.to_string_lossy().into_owned())
                .unwrap_or_default();
            report.skipped.push(unavailable(
                Style::Typed,
                format!("the typed handle was refused: {text}"),
            ));
        } else {
            // SAFETY: as for the direct call; `handle` is the typed handle the harness bound,
            // leaked by it, so valid while the harness is loaded.
            let typed = move |args, n, out| unsafe { typed_run(handle, args, n, out) };
            runners.push((
                Style::Typed,
                harness_runner(typed, &args, decoder.try_clone()?, result_size),
            ));
        }
    }

    // The dynamic styles, in this process.
    // SAFETY: the request's promise 2.
    let dynamic = unsafe { call::bind(call, &library, &arguments) }?;
    // SAFETY: as above.
    let through_libffi = unsafe { call::bind(call, &library, &arguments) }?.use_libffi();
    // SAFETY: as above.
    let reference = unsafe { call::bind(call, &library, &arguments) }?.use_libffi();
    for (style, function) in [(Style::Dynamic, dynamic), (Style::Libffi, through_libffi)] {
        let values = arguments.values.clone();
        runners.push((
            style,
            Box::new(move |n, verify| {
                let mut last = Value::Void;
                for _ in 0..n {
                    // SAFETY: the request's promises 3 and 4; the objects the values point to
                    // live as long as the comparison.
                    last = unsafe { function.call(std::hint::black_box(&values)) }
                        .map_err(std::io::Error::other)?;
                }
                Ok(verify.then(|| match &last {
                    Value::Void => Json::Null,
                    // SAFETY: the function's result, as declared: the request's promise.
                    value => unsafe { observe(value, char_result) },
                }))
            }),
        ));
    }
    {
        let mut decoder = decoder.try_clone()?;
        let mut result = ResultBuffer::new(result_size);
        let mut pointers = args.clone();
        runners.push((
            Style::FfiCall,
            Box::new(move |n, verify| {
                let out = result.pointer();
                for _ in 0..n {
                    // SAFETY: each pointer points to a value of its parameter's type (the
                    // objects above); the result buffer fits any result; the call is the
                    // request's promise.
                    unsafe { reference.call_prepared_unchecked(&mut pointers, out) };
                }
                // SAFETY: ffi_call wrote the function's result to the buffer; what it points
                // to is the request's promise.
                Ok(verify.then(|| unsafe { decoder.observe(&result) }))
            }),
        ));
    }

    // The isolated style: the same call in a worker process, the objects the arguments point
    // to copied there and back around each call.
    let kept: Vec<(usize, usize, usize)> = arguments
        .objects_mut()
        .map(|(index, data)| (index, data.bytes().as_ptr() as usize, data.size()))
        .collect();
    match isolated_runner(request, &arguments, kept, char_result) {
        Ok(runner) => runners.push((Style::Isolated, runner)),
        Err(reason) => report.skipped.push(unavailable(Style::Isolated, reason)),
    }

    if let Some(command) = &request.command {
        let input: Vec<u8> = arguments
            .values
            .iter()
            .find_map(|v| match v {
                Value::Str(text) => Some(text.clone().into_bytes()),
                Value::Bytes(bytes) => Some(bytes.clone()),
                _ => None,
            })
            .unwrap_or_default();
        let command = command.clone();
        runners.push((
            Style::Subprocess,
            Box::new(move |n, verify| {
                for _ in 0..n {
                    run_command(&command, &input)?;
                }
                // Another program: its output is not the function's, only its success is
                // checked.
                Ok(verify.then_some(Json::Null))
            }),
        ));
    }

    // Check every style against the direct call, each from the same starting state.
    let mut expected: Option<(Json, Vec<(usize, String)>)> = None;
    let mut checked: Vec<(Style, Runner<'_>)> = Vec::new();
    for (style, mut runner) in runners {
        objects.restore(&mut arguments);
        let result = match runner(1, true) {
            Ok(result) => result.unwrap_or_default(),
            Err(error) if style == Style::Subprocess => {
                report.skipped.push(unavailable(style, error.to_string()));
                continue;
            }
            Err(source) => {
                return Err(CompareError::CallFailed {
                    workload: name.clone(),
                    style: style.label(),
                    source,
                });
            }
        };
        let state = Objects::state(&mut arguments);
        match &expected {
            None => expected = Some((result, state)),
            Some(_) if style == Style::Subprocess => {}
            Some((want, want_state)) => {
                if *want != result {
                    return Err(CompareError::WrongResult {
                        workload: name.clone(),
                        style: style.label(),
                        detail: format!(
                            "returned {result}, the direct call {want} (each style is called once \
                             from the same state: a function whose result changes from call to \
                             call, like rand or time, cannot be checked)"
                        ),
                    });
                }
                if let Some(((index, got), (_, want))) =
                    state.iter().zip(want_state).find(|(a, b)| a != b)
                {
                    return Err(CompareError::WrongResult {
                        workload: name.clone(),
                        style: style.label(),
                        detail: format!(
                            "left argument {}'s bytes {}",
                            index + 1,
                            difference(got, want)
                        ),
                    });
                }
            }
        }
        checked.push((style, runner));
    }
    report.result = expected.as_ref().map(|(result, _)| result.to_string());
    let python_plan = match (&expected, request.python) {
        (Some((result, state)), true) => {
            let kept: Vec<(usize, String)> = objects
                .initial
                .iter()
                .zip(Objects::state(&mut arguments))
                .map(|(initial, (index, _))| (index, hex(initial)))
                .collect();
            let described = arguments
                .values
                .iter()
                .zip(&storage)
                .enumerate()
                .map(|(index, (value, data))| python_argument(index, value, data, &kept))
                .collect();
            let kind = match types.get(signature.result.ty) {
                Type::Void => "void",
                _ if char_result => "string",
                Type::Pointer(_) => "pointer",
                _ => "value",
            };
            Some(super::own_python::plan(
                &source.library.display().to_string(),
                &decls,
                &signature,
                described,
                result,
                state,
                kind,
                options,
            ))
        }
        _ => None,
    };
    objects.restore(&mut arguments);
    let mut batches: Vec<(Style, super::Batch<'_>)> = checked
        .into_iter()
        .map(|(style, mut runner)| {
            let batch: super::Batch<'_> = Box::new(move |n| runner(n, false).map(drop));
            (style, batch)
        })
        .collect();
    report
        .measurements
        .extend(super::measure_together(&name, &mut batches, options)?);
    for skipped in &mut report.skipped {
        skipped.workload.clone_from(&name);
    }
    report.facts = facts(&report, binding_cost(request));
    if let Some(plan) = python_plan {
        report.python = Some(super::python::run_own(&plan).map_err(CompareError::Python)?);
    }
    drop(batches);
    drop(storage);
    drop(texts);
    Ok(report)
}

/// How compare.py makes argument `index`: the objects `buf:`, `out:`, arrays and structs
/// by address point to as memory with its initial bytes, structs by value as their bytes,
/// the rest as Python values.
fn python_argument(index: usize, value: &Value, data: &CData, kept: &[(usize, String)]) -> Json {
    if let Some((_, initial)) = kept.iter().find(|(i, _)| *i == index) {
        return json!({ "memory": initial });
    }
    match value {
        Value::Int(i) => json!({ "number": i }),
        Value::UInt(u) => json!({ "number": u }),
        Value::Float(f) if f.is_finite() => json!({ "number": f }),
        Value::Float(f) => json!({ "float": f.to_string() }),
        Value::Bool(b) => json!({ "bool": b }),
        Value::Str(text) => json!({ "string": text }),
        Value::Bytes(bytes) => json!({ "bytes": hex(bytes) }),
        Value::Null => json!({ "null": true }),
        Value::Struct(_) => json!({ "record": hex(data.bytes()) }),
        other => json!({ "unsupported": format!("{} arguments", other.describe()) }),
    }
}

/// The isolated style's runner: the request's function bound in a worker process; each
/// object an argument points to (`kept`: argument index, address, size) copied into the call
/// and C's writes copied back to it, so its state compares with the other styles'.
fn isolated_runner<'a>(
    request: &Request,
    arguments: &call::Arguments,
    kept: Vec<(usize, usize, usize)>,
    char_result: bool,
) -> Result<Runner<'a>, String> {
    let call = &request.call;
    let failed = |e: ffikit_abi::Error| e.to_string();
    let library = ffikit_abi::IsolatedLibrary::open(&call.library).map_err(failed)?;
    if let Some(header) = &call.header {
        library.include(header).map_err(failed)?;
    }
    if let Some(cdef) = &call.cdef {
        library.cdef(cdef).map_err(failed)?;
    }
    let function = call::bind_isolated(call, &library, arguments).map_err(failed)?;
    let mut values = arguments.values.clone();
    Ok(Box::new(move |n, verify| {
        let _library = &library;
        let mut last = Value::Void;
        for _ in 0..n {
            for &(index, address, size) in &kept {
                // SAFETY: the object the argument points to, `size` bytes, lives as long as
                // the comparison (owned by the request's arguments).
                let bytes = unsafe { std::slice::from_raw_parts(address as *const u8, size) };
                values[index] = Value::Bytes(bytes.to_vec());
            }
            last = function
                .call_mut(std::hint::black_box(&mut values))
                .map_err(std::io::Error::other)?;
            for &(index, address, size) in &kept {
                if let Value::Bytes(bytes) = &values[index] {
                    // SAFETY: as above; C's writes go back where the other styles' C writes.
                    unsafe {
                        std::ptr::copy_nonoverlapping(bytes.as_ptr(), address as *mut u8, size)
                    };
                }
            }
        }
        Ok(verify.then(|| match &last {
            Value::Void => Json::Null,
            // An address in the worker: compared by NULL-ness, as every pointer is.
            Value::Handle(_) => json!({ "pointer": "non-NULL" }),
            Value::Text {
                bytes: Some(bytes), ..
            } if char_result => {
                json!({ "string": String::from_utf8_lossy(bytes) })
            }
            // SAFETY: not a pointer or a string (those were handled above): nothing is read.
            value => unsafe { observe(value, false) },
        }))
    }))
}

fn run_command(command: &str, input: &[u8]) -> Result<(), std::io::Error> {
    let mut child = std::process::Command::new("sh")
        .args(["-c", command])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that stops reading early is its own business; its status says.
        let _ = stdin.write_all(input);
    }
    let status = child.wait()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "`{command}` failed ({status})"
        )))
    }
}

/// Opening the library and binding the function from its declaration, in ABI mode: the
/// mean of a few rounds (the library stays loaded elsewhere, as in a program that binds
/// late), in nanoseconds.
fn binding_cost(request: &Request) -> Option<f64> {
    // Up to 20 rounds, or a quarter of a second (a header is preprocessed each time).
    let start = Instant::now();
    let mut rounds = 0u32;
    while rounds < 20 && (rounds == 0 || start.elapsed().as_millis() < 250) {
        rounds += 1;
        // SAFETY: the request's promises 1 and 2, already relied on by `run`.
        let library = unsafe { Library::open(&request.call.library) }.ok()?;
        if let Some(header) = &request.call.header {
            library.include(header).ok()?;
        }
        let arguments = call::read_arguments(&request.call, &library).ok()?;
        // SAFETY: as above.
        let function = unsafe { call::bind(&request.call, &library, &arguments) }.ok()?;
        std::hint::black_box(&function);
    }
    Some(start.elapsed().as_secs_f64() * 1e9 / f64::from(rounds))
}

fn facts(report: &Report, binding_ns: Option<f64>) -> Vec<Facts> {
    let ran = |style: Style| {
        report.measurements.iter().any(|m| m.style == style)
            || report.skipped.iter().any(|s| s.style == style)
    };
    Style::ALL
        .into_iter()
        .filter(|style| ran(*style))
        .map(|style| Facts {
            style,
            needs: style.own_needs(),
            binding_ns: match style {
                Style::Dynamic | Style::Libffi | Style::FfiCall => binding_ns,
                _ => None,
            },
            checks: match style {
                Style::Dynamic | Style::Libffi => {
                    "arity, types, integer ranges, NULL and NUL in strings, struct shapes".into()
                }
                other => other.static_checks().to_owned(),
            },
            expresses: Vec::new(),
        })
        .collect()
}

/// The preprocessor flags of `--header`'s options, for the C harness.
pub fn header_flags(options: &crate::headers::HeaderOptions) -> Vec<String> {
    let mut flags: Vec<String> = options
        .include_dirs
        .iter()
        .map(|dir| format!("-I{}", dir.display()))
        .collect();
    flags.extend(options.defines.iter().map(|d| format!("-D{d}")));
    flags.extend(options.undefines.iter().map(|u| format!("-U{u}")));
    if let Some(std) = &options.std {
        flags.push(format!("-std={std}"));
    }
    flags
}

/// The Python rows, as a table (empty without `--python`): median per call and the
/// median of per-round ratios to ctypes, timed in one Python process.
pub fn render_python(report: &Report) -> String {
    let Some(python) = &report.python else {
        return String::new();
    };
    let mut text = format!(
        "\nfrom Python {} (one process, paired rounds; ratios to ctypes):\n{:<10} {:>11} {:>10}  ratio range\n",
        python["python"].as_str().unwrap_or("?"),
        "style",
        "median",
        "vs ctypes"
    );
    for m in python["measurements"].as_array().into_iter().flatten() {
        let median = m["median_ns"].as_f64().unwrap_or_default();
        let ratio = m["ratio_to_ctypes"].as_f64().unwrap_or_default();
        let range = &m["ratio_range"];
        let _ = writeln!(
            text,
            "{:<10} {:>11} {:>9.2}x  {:.2}-{:.2}x",
            m["style"].as_str().unwrap_or("?"),
            super::format_ns(median),
            ratio,
            range[0].as_f64().unwrap_or_default(),
            range[1].as_f64().unwrap_or_default(),
        );
    }
    for s in python["skipped"].as_array().into_iter().flatten() {
        let _ = writeln!(
            text,
            "{:<10} {:>11}  not run: {}",
            s["style"].as_str().unwrap_or("?"),
            "-",
            s["reason"].as_str().unwrap_or("?")
        );
    }
    text
}

/// Where the harnesses are, for the report.
pub fn cache_dir() -> PathBuf {
    harness::cache_dir()
}
