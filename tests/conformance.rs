//! The conformance sample (tests/data/conformance-sample.json, a copy of
//! shared/conformance/sample.json): real calls into libc, libm and libz with results computed by
//! CPython's ctypes, run through ABI mode. Its `conventions` section defines the argument and
//! expectation forms interpreted here. Callback cases wait for callbacks (a later issue).

use std::collections::HashMap;

use ffikit_abi::{CData, Error, Library, Value, last_errno};
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

/// Everything a case keeps between its steps.
#[derive(Default)]
struct CaseState {
    objects: Vec<Owned>,
    saved_objects: HashMap<String, usize>,
    saved_values: HashMap<String, Value>,
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
    let mut function = library.function(declaration)?;
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
    let result = function.call(&args)?;
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
    let library = Library::open(case["library"].as_str().unwrap())?;
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

fn uses_callbacks(case: &Json) -> bool {
    case.to_string().contains("\"callback\"")
}

#[test]
fn every_non_callback_case_passes() {
    let sample = sample();
    let cases = sample["cases"].as_array().unwrap();
    let mut failures = Vec::new();
    let mut passed = 0;
    for case in cases.iter().filter(|c| !uses_callbacks(c)) {
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
    assert!(passed >= 26, "only {passed} cases ran");
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
