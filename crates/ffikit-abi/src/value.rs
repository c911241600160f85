//! [`Value`]: a C value as a language runtime sees it — checked against the declared C type
//! before any call.

use std::fmt;

/// A dynamic C value: an argument to pass, a result, a field.
///
/// Arguments are checked against the declared parameter type before the call: an integer must
/// fit (300 for `unsigned char` is an error, not 44), a string parameter rejects NULL and
/// interior NUL bytes, a struct must give every field.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
// An explicit one-byte tag: telling variants apart is one comparison, where the niche the
// layout would otherwise hide the tag in costs several per match (and per drop).
#[repr(u8)]
pub enum Value {
    /// No value: the result of a `void` function.
    Void,
    /// `_Bool`.
    Bool(bool),
    /// A signed integer (any integer type accepts it when it fits).
    Int(i64),
    /// An unsigned integer (any integer type accepts it when it fits).
    UInt(u64),
    /// A real floating value (`float`, `double`, `long double`). Integers are accepted for
    /// floating parameters too.
    Float(f64),
    /// A `_Complex` value: real and imaginary parts.
    Complex(f64, f64),
    /// A NULL pointer.
    Null,
    /// A pointer, as an address.
    Pointer(usize),
    /// For a `char *` parameter: a NUL-terminated copy made for the duration of the call.
    Str(String),
    /// A C string made once (no NUL inside, its terminator kept): a `const char *`
    /// parameter gets its address as it is, without a copy or a check per call (as ctypes'
    /// `c_char_p` and CFFI's `char[]` cdata are passed); a writable `char *` gets a copy,
    /// as for [`Str`](Value::Str).
    ///
    /// ```
    /// use ffikit_abi::{Library, Value};
    /// let libc = Library::this();
    /// // SAFETY: strlen is declared as in <string.h>.
    /// let strlen = unsafe { libc.function("unsigned long strlen(const char *)")? };
    /// let text = Value::CString(std::ffi::CString::new("made once").unwrap());
    /// // SAFETY: the argument is a NUL-terminated string, as strlen requires.
    /// assert_eq!(unsafe { strlen.call(&[text])? }, Value::UInt(9));
    /// # Ok::<(), ffikit_abi::Error>(())
    /// ```
    CString(std::ffi::CString),
    /// A C object as a value: a struct, union or array laid out as C lays it out, passed to
    /// a parameter of its type (as C names it, or a `typedef` of it) by copying its bytes,
    /// no member converted — as ctypes passes a `Structure` instance and CFFI a struct
    /// cdata. Made once with [`Library::new_value`](crate::Library::new_value) and
    /// [`CData::set`](crate::CData::set).
    ///
    /// ```
    /// use ffikit_abi::{Library, Value};
    /// let libc = Library::this();
    /// libc.cdef("struct in_addr { unsigned int s_addr; };")?;
    /// // SAFETY: inet_ntoa is declared as in <arpa/inet.h>.
    /// let inet_ntoa = unsafe { libc.function("char *inet_ntoa(struct in_addr)")? };
    /// let mut address = libc.new_value("struct in_addr")?;
    /// address.set(&Value::Array(vec![Value::UInt(0x0100_007f)]))?; // 127.0.0.1, big-endian
    /// // SAFETY: the argument is a value of the declared type.
    /// let text = unsafe { inet_ntoa.call(&[Value::Data(address)])? };
    /// assert_eq!(text.as_text().as_deref(), Some("127.0.0.1"));
    /// # Ok::<(), ffikit_abi::Error>(())
    /// ```
    Data(crate::CData),
    /// For a pointer parameter: a read-only copy of these bytes for the duration of the call
    /// (no terminator added).
    Bytes(Vec<u8>),
    /// A struct or union by value: its members by name (every member for a struct; one for
    /// a union).
    Struct(Vec<(String, Value)>),
    /// An array member of a struct.
    Array(Vec<Value>),
    /// An address in an isolated library's worker process
    /// ([`IsolatedLibrary`](crate::IsolatedLibrary)): a pointer its C handed out (a
    /// `sqlite3 *`, a `z_stream *`), valid across calls of that worker and refused once the
    /// worker has ended. Meaningless in this process: an in-process call refuses it.
    Handle(Handle),
    /// A `char *` result: its address, and the bytes up to the NUL (`None` for NULL).
    Text {
        /// The pointer C returned.
        address: usize,
        /// The bytes it points to, up to the first NUL.
        bytes: Option<Vec<u8>>,
    },
}

/// An address in an isolated library's worker process, and which worker it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handle {
    pub(crate) worker: u64,
    pub(crate) address: usize,
}

impl Handle {
    /// The worker it belongs to (each worker process started gets a new number).
    pub fn worker(&self) -> u64 {
        self.worker
    }

    /// The address in that worker.
    pub fn address(&self) -> usize {
        self.address
    }

    /// The handle `bytes` further on in the same worker (a member of the object it points
    /// to, at the member's `offsetof`): only a number here, checked by nothing until the
    /// worker uses it.
    #[must_use]
    pub fn offset(&self, bytes: isize) -> Handle {
        Handle {
            worker: self.worker,
            address: self.address.wrapping_add_signed(bytes),
        }
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "handle {:#x} of worker #{}", self.address, self.worker)
    }
}

impl Value {
    /// A short description for error messages: `integer 300`, `string "abc"`.
    pub fn describe(&self) -> String {
        match self {
            Value::Void => "void".into(),
            Value::Bool(b) => format!("bool {b}"),
            Value::Int(i) => format!("integer {i}"),
            Value::UInt(u) => format!("integer {u}"),
            Value::Float(f) => format!("number {f}"),
            Value::Complex(re, im) => format!("complex {re}{im:+}i"),
            Value::Null => "null".into(),
            Value::Pointer(p) => format!("pointer {p:#x}"),
            Value::Str(s) if s.chars().count() > 20 => {
                format!("string {:?}...", s.chars().take(20).collect::<String>())
            }
            Value::Str(s) => format!("string {s:?}"),
            Value::CString(s) => match s.to_str() {
                Ok(text) => Value::Str(text.to_owned()).describe(),
                Err(_) => format!("C string of {} bytes", s.as_bytes().len()),
            },
            Value::Data(data) => format!("a `{}` value", data.type_name()),
            Value::Bytes(b) => format!("{} bytes", b.len()),
            Value::Struct(_) => "struct".into(),
            Value::Array(items) => format!("array of {}", items.len()),
            Value::Text { address, .. } => format!("string at {address:#x}"),
            Value::Handle(handle) => format!("{handle}"),
        }
    }

    /// The integer, if this is one (a `Bool` counts as 0 or 1).
    pub fn as_i128(&self) -> Option<i128> {
        match *self {
            Value::Int(i) => Some(i.into()),
            Value::UInt(u) => Some(u.into()),
            Value::Bool(b) => Some(b.into()),
            _ => None,
        }
    }

    /// The number as f64 (integers converted), if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Float(f) => Some(f),
            Value::Int(i) => Some(i as f64),
            Value::UInt(u) => Some(u as f64),
            _ => None,
        }
    }

    /// Drops the value; one that owns nothing is forgotten inline instead of going through
    /// the drop glue's out-of-line dispatch (which saves every register it might need first).
    #[inline(always)]
    pub(crate) fn dispose(self) {
        match self {
            Value::Void
            | Value::Bool(_)
            | Value::Int(_)
            | Value::UInt(_)
            | Value::Float(_)
            | Value::Complex(..)
            | Value::Null
            | Value::Pointer(_) => std::mem::forget(self),
            other => drop(other),
        }
    }

    /// The address, for pointers, NULL and `Text` results.
    pub fn as_address(&self) -> Option<usize> {
        match *self {
            Value::Pointer(p) => Some(p),
            Value::Null => Some(0),
            Value::Text { address, .. } => Some(address),
            _ => None,
        }
    }

    /// The text of a `char *` result, as UTF-8 (lossy).
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::Text {
                bytes: Some(bytes), ..
            } => Some(String::from_utf8_lossy(bytes).into_owned()),
            Value::Str(s) => Some(s.clone()),
            _ => None,
        }
    }

    /// A member of a `Struct` value.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Void => f.write_str("void"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::UInt(u) => write!(f, "{u}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Complex(re, im) => write!(f, "{re:?}{im:+?}i"),
            Value::Null => f.write_str("NULL"),
            Value::Pointer(p) => write!(f, "{p:#x}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::CString(s) => write!(f, "{s:?}"),
            Value::Data(data) => write!(f, "{}", data.get()),
            Value::Bytes(b) => {
                for byte in b {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
            Value::Struct(fields) => {
                f.write_str("{ ")?;
                for (k, (name, value)) in fields.iter().enumerate() {
                    if k > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{name} = {value}")?;
                }
                f.write_str(" }")
            }
            Value::Array(items) => {
                f.write_str("[")?;
                for (k, item) in items.iter().enumerate() {
                    if k > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Text { bytes: None, .. } => f.write_str("NULL"),
            Value::Text {
                bytes: Some(bytes), ..
            } => write!(f, "{:?}", String::from_utf8_lossy(bytes)),
            Value::Handle(handle) => write!(f, "{handle}"),
        }
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(v.into())
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::UInt(v)
    }
}

impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::UInt(v as u64)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_owned())
    }
}
