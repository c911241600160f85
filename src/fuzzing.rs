//! What the fuzz targets in `fuzz/` check, kept here so that an ordinary `cargo test` replays
//! every input they found (`tests/fuzz_regressions.rs`) on the stable toolchain.
//!
//! Each check takes any bytes and must return: a panic (or an abort, a stack overflow, an
//! allocation failure) is a finding. Where there is a property to hold — a printed
//! declaration parses back to the same type, a value written to C memory reads back as
//! itself — a broken property panics too.

use ffikit_abi::{Library, Value};
use ffikit_cdecl::{Declarations, Declared};

/// Target `declarations`: parse any text as C declarations; print every function back as C
/// and parse the printed text again (the same type must come back); lay out every record, as
/// `ffikit layout` does; generate Rust bindings for all of it, as `ffikit bindings` does.
pub fn declarations(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut decls = Declarations::new();
    let report = match decls.cdef(&text) {
        Ok(report) => report,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    for declared in &report.declared {
        match declared {
            Declared::Function(name) => {
                let Some(function) = decls.function(name) else {
                    continue;
                };
                let printed = decls.types().declaration(function.ty, name);
                if printed.contains("<anonymous") {
                    continue; // an anonymous struct has no name to print back
                }
                let mut again = decls.clone();
                let reparsed = again.cdef(&format!("{printed};")).unwrap_or_else(|e| {
                    panic!("`{printed}` (printed from `{name}`) does not parse back:\n{e}")
                });
                let _ = reparsed;
                let back = again.function(name).expect("declared again");
                assert_eq!(
                    again.types().declaration(back.ty, name),
                    printed,
                    "`{name}` printed and parsed back differs"
                );
            }
            Declared::Tag(..) | Declared::Typedef(_) => {}
            _ => {}
        }
    }
    let options = ffikit_gen::Options::default().shims(true);
    let bindings = ffikit_gen::generate(&decls, None, &options);
    let _ = bindings.shim_source().len();
    let _ = bindings.source().len();
    if let Ok(mut loaded) =
        crate::headers::load(Some(&text), None, &crate::headers::HeaderOptions::default())
    {
        let _ = crate::inspect::layout_report(&mut loaded, &[]);
    }
}

/// The signatures [`call_arguments`] reads arguments for.
const SIGNATURES: &[&str] = &[
    "int abs(int)",
    "double copysign(double, double)",
    "int snprintf(char *, size_t, const char *, ...)",
    "size_t strlen(const char *)",
    "char *inet_ntoa(struct in_addr)",
    "void qsort(void *, size_t, size_t, void *)",
    "double frexp(double, int *)",
    "int all(struct point *, struct point, union word, enum color, _Bool, float _Complex, long double, unsigned char, signed char, unsigned long)",
    "int printf(const char *, ...)",
    "void fill(struct point *, int[4], char *)",
];

const TYPES: &str = "struct point { int x; double y; };
    union word { unsigned u; float f; };
    enum color { RED, GREEN = 5 };
    struct in_addr { unsigned s_addr; };
    struct bits { unsigned a : 3; int b : 5; unsigned long c : 40; };
    struct nested { struct point p[2]; char tag; };";

/// Target `call_arguments`: the `ffikit call` argument grammar. The first byte picks a
/// signature; the rest, split at NUL bytes, are the arguments as typed. They are read for their
/// parameters (objects allocated, values checked), never passed to C.
pub fn call_arguments(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let declaration = SIGNATURES[usize::from(pick) % SIGNATURES.len()];
    let text = String::from_utf8_lossy(rest);
    let args: Vec<String> = if text.is_empty() {
        Vec::new()
    } else {
        text.split('\0').take(24).map(str::to_owned).collect()
    };
    let request = crate::call::Request {
        library: String::new(),
        declaration: declaration.to_owned(),
        args,
        cdef: Some(TYPES.to_owned()),
        header: None,
        errno: false,
    };
    match crate::call::read_arguments(&request, &Library::this()) {
        Ok(arguments) => assert_eq!(arguments.values.len(), request.args.len()),
        Err(error) => {
            let _ = error.to_string();
        }
    }
}

/// The types [`values`] writes and reads.
const VALUE_TYPES: &[&str] = &[
    "int",
    "unsigned char",
    "long long",
    "unsigned long",
    "double",
    "float",
    "long double",
    "_Bool",
    "char *",
    "int[4]",
    "char[8]",
    "struct point",
    "union word",
    "float _Complex",
    "double _Complex",
    "struct bits",
    "struct nested",
    "enum color",
];

const MEMBER_NAMES: &[&str] = &["x", "y", "u", "f", "a", "b", "c", "p", "tag", "z"];

/// Bytes read one at a time, then zeros.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        *first
    }

    fn word(&mut self) -> u64 {
        u64::from_le_bytes(std::array::from_fn(|_| self.byte()))
    }

    fn text(&mut self) -> String {
        let len = usize::from(self.byte() % 16);
        (0..len).map(|_| char::from(self.byte())).collect()
    }

    /// A value of any shape, nested at most `depth` deep (C objects of `library`'s types).
    fn value(&mut self, depth: u8, library: &Library) -> Value {
        let tag = self.byte();
        match tag % 14 {
            0 => Value::Int(self.word() as i64),
            1 => Value::UInt(self.word()),
            2 => Value::Int(i64::from(self.byte() as i8)),
            3 => Value::Float(f64::from_bits(self.word())),
            4 => Value::Float(f64::from(self.byte() as i8) / 4.0),
            5 => Value::Bool(self.byte() & 1 == 1),
            6 => Value::Null,
            7 => Value::Str(self.text()),
            8 => Value::Complex(f64::from_bits(self.word()), f64::from(self.byte())),
            9 if depth > 0 => {
                let count = usize::from(self.byte() % 5);
                Value::Array((0..count).map(|_| self.value(depth - 1, library)).collect())
            }
            10 if depth > 0 => {
                let count = usize::from(self.byte() % 4);
                Value::Struct(
                    (0..count)
                        .map(|_| {
                            let name = MEMBER_NAMES[usize::from(self.byte()) % MEMBER_NAMES.len()];
                            (name.to_owned(), self.value(depth - 1, library))
                        })
                        .collect(),
                )
            }
            11 => {
                let text: Vec<u8> = self.text().bytes().filter(|&b| b != 0).collect();
                Value::CString(std::ffi::CString::new(text).expect("no NUL inside"))
            }
            12 if depth > 0 => {
                let type_name = VALUE_TYPES[usize::from(self.byte()) % VALUE_TYPES.len()];
                let Ok(mut object) = library.new_value(type_name) else {
                    return Value::Null;
                };
                let _ = object.set(&self.value(depth - 1, library));
                Value::Data(object)
            }
            _ => Value::Bytes((0..self.byte() % 9).map(|_| self.byte()).collect()),
        }
    }
}

/// Target `values`: build a value for a C type, write it to C memory and read it back. What
/// was accepted must read back as something that writes the same bytes again.
pub fn values(data: &[u8]) {
    let mut bytes = Bytes(data);
    let library = Library::this();
    library.cdef(TYPES).expect("the fixed types declare");
    let pick = bytes.byte();
    // Mostly a known type; sometimes a type name made of the input, for `new_value`'s parser.
    let type_name = if pick >= 240 {
        bytes.text()
    } else {
        VALUE_TYPES[usize::from(pick) % VALUE_TYPES.len()].to_owned()
    };
    let Ok(mut data) = library.new_value(&type_name) else {
        return;
    };
    let value = bytes.value(3, &library);
    if data.set(&value).is_err() {
        return;
    }
    let written = data.bytes().to_vec();
    let read = data.get();
    data.set(&read).unwrap_or_else(|e| {
        panic!("`{type_name}`: {value:?} read back as {read:?}, which does not write: {e}")
    });
    if !has_nan(&read) {
        assert_eq!(
            data.bytes(),
            &written[..],
            "`{type_name}`: {value:?} read back as {read:?}, which writes other bytes"
        );
    }
}

/// NaN payloads need not survive a float round trip (f64 → f32 → f64).
fn has_nan(value: &Value) -> bool {
    match value {
        Value::Float(f) => f.is_nan(),
        Value::Complex(re, im) => re.is_nan() || im.is_nan(),
        Value::Struct(members) => members.iter().any(|(_, v)| has_nan(v)),
        Value::Array(items) => items.iter().any(has_nan),
        _ => false,
    }
}

/// Target `worker_messages`: any bytes as an isolated library's worker could send them (the
/// worker runs untrusted C, which may scribble on the shared memory), read as the parent
/// reads an answer, an error and a callback's call.
pub fn worker_messages(data: &[u8]) {
    ffikit_abi::read_worker_message(data);
}
