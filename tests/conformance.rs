//! The conformance sample (tests/data/conformance-sample.json, a copy of
//! shared/conformance/sample.json): real calls into libc, libm, libz and libsqlite3 with
//! results computed by CPython's ctypes, run through ABI mode. Its `conventions` section defines
//! the argument and expectation forms interpreted here, and `callback_behaviours` the callbacks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ffikit_abi::{CData, Callback, Error, Library, OwnedFunction, Value, last_errno};
use serde_json::{Value as Json, json};

fn sample() -> Json {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/conformance-sample.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// What an owned object is for, which decides how it is reported after the call.
enum Role {
    Buffer { repr: String },
    Out,
    Array,
    CString,
}

/// Memory the harness owns for a whole case: buffers, out-parameters, arrays, and strings
/// whose address an expectation refers to.
struct Owned {
    data: CData,
    role: Role,
}

/// What the harness's callbacks record (`callback.rows`, `callback.calls`, ...).
#[derive(Default)]
struct Record {
    rows: Vec<Json>,
    calls: u64,
    ran_on_foreign_thread: Option<bool>,
    recorded: Vec<&'static str>,
}

/// Everything a case keeps between its steps.
#[derive(Default)]
struct CaseState {
    objects: Vec<Owned>,
    saved_objects: HashMap<String, usize>,
    saved_values: HashMap<String, Value>,
    callbacks: Vec<Callback>,
    record: Arc<Mutex<Record>>,
    /// The running step's declaration and the case's cdefs.
    current: Option<(String, Option<String>)>,
}

/// The C type of parameter `index` of `declaration`, as text (for `raise_error`, whose
/// signature is "any").
fn parameter_type(declaration: &str, cdefs: Option<&str>, index: usize) -> String {
    let mut decls = ffikit_cdecl::Declarations::new();
    if let Some(cdefs) = cdefs {
        decls.cdef(cdefs).unwrap();
    }
    let report = decls.cdef(&format!("{declaration};")).unwrap();
    let Some(ffikit_cdecl::Declared::Function(name)) = report.declared.last() else {
        panic!("{declaration} declares no function")
    };
    let function = decls.function(name).unwrap();
    let ffikit_cdecl::Type::Function(signature) = decls.types().get(function.ty) else {
        unreachable!()
    };
    decls.types().display(signature.params[index])
}

fn read_int(address: &Value) -> i32 {
    // SAFETY: the comparators' callers pass pointers to ints of the case's array.
    unsafe { *(address.as_address().unwrap() as *const i32) }
}

/// One of the sample's `callback_behaviours`, as a dynamic callback.
fn behaviour(
    library: &Library,
    name: &str,
    signature: &str,
    record: &Arc<Mutex<Record>>,
) -> Result<Callback, Error> {
    let record = Arc::clone(record);
    let order = |x: f64, y: f64| i64::from(x > y) - i64::from(x < y);
    match name {
        "cmp_int_asc" => library.callback(name, signature, move |args| {
            Ok(Value::Int(order(
                read_int(&args[0]).into(),
                read_int(&args[1]).into(),
            )))
        }),
        "cmp_double_desc" => library.callback(name, signature, move |args| {
            // SAFETY: qsort passes pointers to doubles of the case's array.
            let read = |v: &Value| unsafe { *(v.as_address().unwrap() as *const f64) };
            Ok(Value::Int(-order(read(&args[0]), read(&args[1]))))
        }),
        "cmp_int_ctx_sign" => library.callback(name, signature, move |args| {
            let sign = i64::from(read_int(&args[2]));
            Ok(Value::Int(
                sign * order(read_int(&args[0]).into(), read_int(&args[1]).into()),
            ))
        }),
        "sqlite_collect_rows" => library.callback(name, signature, move |args| {
            let count = args[1].as_i128().unwrap() as usize;
            let argv = args[2].as_address().unwrap() as *const usize;
            let row: Vec<Json> = (0..count)
                .map(|k| {
                    // SAFETY: sqlite passes `count` char pointers (NULL for SQL NULL).
                    let p = unsafe { *argv.add(k) };
                    if p == 0 {
                        Json::Null
                    } else {
                        // SAFETY: non-NULL entries are NUL-terminated strings.
                        let bytes = unsafe { ffikit_abi::read_c_string(p) };
                        json!(String::from_utf8_lossy(&bytes))
                    }
                })
                .collect();
            let mut record = record.lock().unwrap();
            record.rows.push(Json::Array(row));
            record.recorded = vec!["rows"];
            Ok(Value::Int(0))
        }),
        "sqlite_abort" => library.callback(name, signature, move |_| {
            let mut record = record.lock().unwrap();
            record.calls += 1;
            record.recorded = vec!["calls"];
            Ok(Value::Int(1))
        }),
        "sqlite_twice" => {
            // SAFETY: libsqlite3 is a system library whose initializers are sound to run
            // (promise 1), and both declarations are sqlite3.h's (promise 2).
            let (value_int, result_int) = unsafe {
                let sqlite = Arc::new(Library::open("libsqlite3.so.0")?);
                sqlite.cdef("typedef struct sqlite3_context sqlite3_context; typedef struct sqlite3_value sqlite3_value;")?;
                (
                    OwnedFunction::new(&sqlite, "int sqlite3_value_int(sqlite3_value *)")?,
                    OwnedFunction::new(&sqlite, "void sqlite3_result_int(sqlite3_context *, int)")?,
                )
            };
            library.callback(name, signature, move |args| {
                record.lock().unwrap().calls += 1;
                record.lock().unwrap().recorded = vec!["calls"];
                // SAFETY: sqlite passes argc value pointers; the function takes one.
                let first = unsafe { *(args[2].as_address().unwrap() as *const usize) };
                // SAFETY: the value and the context are the ones sqlite passed to this
                // function, valid during it (promise 3).
                let n = unsafe { value_int.call(&[Value::Pointer(first)]) }?
                    .as_i128()
                    .unwrap();
                // SAFETY: as above.
                unsafe { result_int.call(&[args[0].clone(), Value::Int((2 * n) as i64)]) }?;
                Ok(Value::Void)
            })
        }
        "thread_double_arg" => {
            let outer = std::thread::current().id();
            library.callback(name, signature, move |args| {
                let mut record = record.lock().unwrap();
                record.ran_on_foreign_thread = Some(std::thread::current().id() != outer);
                record.recorded = vec!["ran_on_foreign_thread"];
                Ok(Value::Pointer(args[0].as_address().unwrap_or(0) * 2))
            })
        }
        "raise_error" => library.callback(name, signature, |_| {
            Err("raise_error: failing on purpose".into())
        }),
        other => panic!("unknown callback behaviour {other}"),
    }
}

fn number(json: &Json) -> Value {
    if let Some(i) = json.as_i64() {
        Value::Int(i)
    } else if let Some(u) = json.as_u64() {
        Value::UInt(u)
    } else {
        Value::Float(json.as_f64().unwrap())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Argument indices whose address an expectation mentions (`pointer_into_arg`).
fn aliased_arguments(expected: &Json, out: &mut Vec<usize>) {
    match expected {
        Json::Object(map) => {
            if let Some(i) = map.get("pointer_into_arg").and_then(Json::as_u64) {
                out.push(i as usize);
            }
            map.values().for_each(|v| aliased_arguments(v, out));
        }
        Json::Array(items) => items.iter().for_each(|v| aliased_arguments(v, out)),
        _ => {}
    }
}

impl CaseState {
    /// The declared signature of a behaviour, or (for "any") the parameter's own type.
    fn signature_of(&self, behaviour: &str, index: usize) -> String {
        let sample = sample();
        let declared = sample["callback_behaviours"][behaviour]["signature"]
            .as_str()
            .unwrap();
        if declared == "any" {
            let (declaration, cdefs) = self.current.clone().expect("a step is running");
            parameter_type(&declaration, cdefs.as_deref(), index)
        } else {
            declared.to_owned()
        }
    }

    fn own(&mut self, data: CData, role: Role, save_as: Option<&Json>) -> usize {
        self.objects.push(Owned { data, role });
        let index = self.objects.len() - 1;
        if let Some(name) = save_as.and_then(Json::as_str) {
            self.saved_objects.insert(name.to_owned(), index);
        }
        index
    }

    /// One JSON argument as a Value; `objects` gets (argument index, owned object index).
    fn argument(
        &mut self,
        library: &Library,
        index: usize,
        arg: &Json,
        aliased: &[usize],
        objects: &mut Vec<(usize, usize)>,
    ) -> Result<Value, Error> {
        let Json::Object(map) = arg else {
            return Ok(match arg {
                Json::Null => Value::Null,
                Json::Bool(b) => Value::Bool(*b),
                Json::Number(_) => number(arg),
                Json::String(s) if aliased.contains(&index) => {
                    let mut data = library.new_value(&format!("char[{}]", s.len() + 1))?;
                    data.set(&Value::Bytes(s.as_bytes().to_vec()))?;
                    let object = self.own(data, Role::CString, None);
                    objects.push((index, object));
                    self.objects[object].data.address()
                }
                Json::String(s) => Value::Str(s.clone()),
                other => panic!("unknown argument form {other}"),
            });
        };
        let save_as = map.get("save_as");
        let (data, role) = if let Some(address) = map.get("address") {
            return Ok(Value::Pointer(address.as_u64().unwrap() as usize));
        } else if let Some(h) = map.get("bytes_hex") {
            return Ok(Value::Bytes(unhex(h.as_str().unwrap())));
        } else if let Some(fields) = map.get("struct") {
            let fields = fields.as_object().unwrap();
            return Ok(Value::Struct(
                fields.iter().map(|(k, v)| (k.clone(), number(v))).collect(),
            ));
        } else if let Some(parts) = map.get("complex") {
            return Ok(Value::Complex(
                parts[0].as_f64().unwrap(),
                parts[1].as_f64().unwrap(),
            ));
        } else if let Some(name) = map.get("callback") {
            let name = name.as_str().unwrap();
            let signature = self.signature_of(name, index);
            let callback = behaviour(library, name, &signature, &self.record)?;
            let address = callback.address();
            self.callbacks.push(callback);
            return Ok(address);
        } else if let Some(name) = map.get("ref") {
            let name = name.as_str().unwrap();
            return Ok(match self.saved_objects.get(name) {
                // A saved out-value is passed by value, a saved buffer by address.
                Some(&object) => match self.objects[object].role {
                    Role::Out => self.objects[object].data.get(),
                    _ => self.objects[object].data.address(),
                },
                None => self.saved_values[name].clone(),
            });
        } else if let Some(size) = map.get("buffer") {
            let repr = map.get("repr").and_then(Json::as_str).unwrap_or("cstring");
            let data = library.new_value(&format!("unsigned char[{size}]"))?;
            (data, Role::Buffer { repr: repr.into() })
        } else if let Some(ty) = map.get("out").or_else(|| map.get("inout")) {
            let mut data = library.new_value(ty.as_str().unwrap())?;
            if let Some(initial) = map.get("value") {
                data.set(&number(initial))?;
            }
            (data, Role::Out)
        } else if let Some(ty) = map.get("array") {
            let values: Vec<Value> = map["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(number)
                .collect();
            let mut data =
                library.new_value(&format!("{}[{}]", ty.as_str().unwrap(), values.len()))?;
            data.set(&Value::Array(values))?;
            (data, Role::Array)
        } else {
            panic!("unknown argument form {arg}")
        };
        let object = self.own(data, role, save_as);
        objects.push((index, object));
        Ok(self.objects[object].data.address())
    }

    /// The record a case with `observe` expects: return, out, buffers, arrays, errno.
    fn observe(&self, result: &Value, objects: &[(usize, usize)], observe: &[Json]) -> Json {
        let mut record = serde_json::Map::new();
        record.insert("return".into(), self.to_json(result, objects));
        for kind in observe.iter().filter_map(Json::as_str) {
            let mut section = serde_json::Map::new();
            for &(arg, object) in objects {
                let owned = &self.objects[object];
                let entry = match (kind, &owned.role) {
                    ("out", Role::Out) => self.to_json(&owned.data.get(), objects),
                    ("buffers", Role::Buffer { repr }) => {
                        let bytes = owned.data.bytes();
                        if repr == "hex" {
                            json!({ "hex": hex(bytes) })
                        } else {
                            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                            json!({ "utf8": String::from_utf8_lossy(&bytes[..end]) })
                        }
                    }
                    ("arrays", Role::Array) => self.to_json(&owned.data.get(), objects),
                    _ => continue,
                };
                section.insert(arg.to_string(), entry);
            }
            if kind == "errno" {
                record.insert("errno".into(), json!(last_errno()));
            } else if kind == "callback" {
                let recorded = self.record.lock().unwrap();
                let mut section = serde_json::Map::new();
                for key in &recorded.recorded {
                    let value = match *key {
                        "rows" => Json::Array(recorded.rows.clone()),
                        "calls" => json!(recorded.calls),
                        _ => json!(recorded.ran_on_foreign_thread),
                    };
                    section.insert((*key).into(), value);
                }
                record.insert("callback".into(), Json::Object(section));
            } else {
                record.insert(kind.into(), Json::Object(section));
            }
        }
        Json::Object(record)
    }

    /// A result in the expectation's terms; pointers into owned arguments become
    /// `{pointer_into_arg, offset}`.
    fn to_json(&self, value: &Value, objects: &[(usize, usize)]) -> Json {
        let into_argument = |address: usize| {
            objects.iter().find_map(|&(arg, object)| {
                let data = &self.objects[object].data;
                let start = data.address().as_address().unwrap();
                (address >= start && address < start + data.size())
                    .then(|| json!({ "pointer_into_arg": arg, "offset": address - start }))
            })
        };
        match value {
            Value::Void | Value::Null => Json::Null,
            Value::Bool(b) => json!(b),
            Value::Int(i) => json!(i),
            Value::UInt(u) => json!(u),
            Value::Float(f) => json!(f),
            Value::Text { address, bytes } => into_argument(*address).unwrap_or_else(|| {
                bytes
                    .as_ref()
                    .map_or(Json::Null, |b| json!(String::from_utf8_lossy(b)))
            }),
            Value::Pointer(address) => into_argument(*address)
                .unwrap_or_else(|| json!({ "address": format!("{address:#x}") })),
            Value::Struct(fields) => Json::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), self.to_json(v, objects)))
                    .collect(),
            ),
            Value::Array(items) => {
                Json::Array(items.iter().map(|v| self.to_json(v, objects)).collect())
            }
            other => json!(other.to_string()),
        }
    }
}

/// Whether `got` satisfies `expected` (floats bit for bit; special forms as the conventions
/// define them).
fn matches(expected: &Json, got: &Json) -> bool {
    match expected {
        Json::Object(map) if map.contains_key("dynamic") => match map["dynamic"].as_str() {
            Some("calling_process_pid") => got.as_u64() == Some(u64::from(std::process::id())),
            Some("non_null_handle") => got.is_object() || got.as_u64().is_some_and(|a| a != 0),
            other => panic!("unknown dynamic expectation {other:?}"),
        },
        Json::Object(map) if map.contains_key("special") => {
            let f = got.as_f64().unwrap_or(0.0);
            match map["special"].as_str() {
                Some("nan") => f.is_nan(),
                Some("inf") => f == f64::INFINITY,
                Some("-inf") => f == f64::NEG_INFINITY,
                _ => false,
            }
        }
        Json::Object(map) if map.contains_key("sign") => {
            got.as_i64().map(i64::signum) == map["sign"].as_i64()
        }
        Json::Object(map) if map.contains_key("nonzero") => got.as_i64().is_some_and(|v| v != 0),
        Json::Object(map) if map.contains_key("non_null") => !got.is_null(),
        Json::Object(map) => {
            let Json::Object(got) = got else { return false };
            map.iter()
                .all(|(k, v)| got.get(k).is_some_and(|g| matches(v, g)))
        }
        Json::Array(items) => got.as_array().is_some_and(|g| {
            g.len() == items.len() && items.iter().zip(g).all(|(e, g)| matches(e, g))
        }),
        Json::Number(n) if n.is_f64() => {
            got.as_f64().map(f64::to_bits) == n.as_f64().map(f64::to_bits)
        }
        other => {
            other == got
                || (other.as_f64().is_some() && other.as_f64() == got.as_f64() && got.is_f64())
        }
    }
}

/// Runs one step: declare, convert arguments, call, report.
fn run_step(
    state: &mut CaseState,
    library: &Library,
    step: &Json,
    case: &Json,
    aliased: &[usize],
) -> Result<Json, Error> {
    if let Some(cdefs) = case.get("cdefs").and_then(Json::as_str) {
        let _ = library.cdef(cdefs);
    }
    let declaration = step["declaration"].as_str().unwrap();
    let cdefs = case.get("cdefs").and_then(Json::as_str).map(str::to_owned);
    state.current = Some((declaration.to_owned(), cdefs));
    // SAFETY: the declaration is the library's own, as its header declares it (promise 2).
    let mut function = unsafe { library.function(declaration) }?;
    if let Some(types) = case.get("vararg_types").and_then(Json::as_array) {
        let types: Vec<&str> = types.iter().map(|t| t.as_str().unwrap()).collect();
        function = function.variadic(library, &types)?;
    }
    let observe: Vec<Json> = step
        .get("observe")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    if observe.iter().any(|o| o == "errno") {
        function = function.capture_errno();
    }
    let mut objects = Vec::new();
    let mut args = Vec::new();
    for (index, arg) in step["args"].as_array().unwrap().iter().enumerate() {
        args.push(state.argument(library, index, arg, aliased, &mut objects)?);
    }
    // SAFETY: live arguments of the types the function expects (promise 3).
    let result = unsafe { function.call(&args) }?;
    if let Some(name) = step.get("save_return_as").and_then(Json::as_str) {
        state.saved_values.insert(name.into(), result.clone());
    }
    Ok(if observe.is_empty() {
        state.to_json(&result, &objects)
    } else {
        state.observe(&result, &objects, &observe)
    })
}

/// The outcome of a case: the results (per step for multi-step cases) or the error.
fn run_case(case: &Json) -> Result<Json, Error> {
    // SAFETY: a system library or the fixtures: initializers sound to run (promise 1).
    let library = unsafe { Library::open(case["library"].as_str().unwrap()) }?;
    let mut aliased = Vec::new();
    aliased_arguments(&case["expected"], &mut aliased);
    let mut state = CaseState::default();
    match case.get("steps").and_then(Json::as_array) {
        Some(steps) => {
            let mut results = Vec::new();
            let primary = case.get("primary_step").and_then(Json::as_u64).unwrap_or(0) as usize;
            for (index, step) in steps.iter().enumerate() {
                let aliased: &[usize] = if index == primary { &aliased } else { &[] };
                results.push(run_step(&mut state, &library, step, case, aliased)?);
            }
            Ok(json!({ "steps": results }))
        }
        None => run_step(&mut state, &library, case, case, &aliased),
    }
}

#[test]
fn every_case_passes() {
    let sample = sample();
    let cases = sample["cases"].as_array().unwrap();
    let mut failures = Vec::new();
    let mut passed = 0;
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let expected = &case["expected"];
        let outcome = run_case(case);
        let ok = match (expected.get("error"), &outcome) {
            (Some(kind), Err(error)) => format!("{:?}", error.kind()) == kind.as_str().unwrap(),
            (Some(_), Ok(_)) => false,
            (None, Ok(got)) => matches(expected, got),
            (None, Err(_)) => false,
        };
        if ok {
            passed += 1;
        } else {
            let got = match outcome {
                Ok(got) => got.to_string(),
                Err(error) => format!("error {:?}: {error}", error.kind()),
            };
            failures.push(format!("{id}: expected {expected}, got {got}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(passed, cases.len());
}

#[test]
fn bad_input_errors_name_what_was_wrong() {
    let sample = sample();
    let case = |id: &str| {
        sample["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()
            .clone()
    };
    let message = |id: &str| run_case(&case(id)).unwrap_err().to_string();
    assert!(message("bad.load.nonexistent_library").contains("libdoesnotexist.so.99"));
    assert!(message("bad.symbol.missing").contains("no_such_function_xyz"));
    assert!(
        message("bad.range.300_for_unsigned_char")
            .contains("300 is out of range for `unsigned char`")
    );
    assert!(message("bad.arity.too_few").contains("`abs` takes 1 argument, 0 given"));
    let load = run_case(&case("bad.load.nonexistent_library")).unwrap_err();
    assert_eq!(load.kind(), ffikit_abi::ErrorKind::LibraryNotFound);
    // dlerror's text is in the source chain of a symbol error.
    let symbol = run_case(&case("bad.symbol.missing")).unwrap_err();
    let mut chain = Vec::new();
    let mut source = std::error::Error::source(&symbol);
    while let Some(cause) = source {
        chain.push(cause.to_string());
        source = cause.source();
    }
    assert!(
        chain
            .iter()
            .any(|c| c.contains("undefined symbol: no_such_function_xyz")),
        "{chain:?}"
    );
}
