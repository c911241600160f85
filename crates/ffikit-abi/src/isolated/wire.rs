//! What goes through the shared memory: message kinds and a small encoding of [`Value`]s.
//! Decoding never trusts the bytes: every length is checked, every failure is an error.

use crate::error::ErrorKind;
use crate::value::Value;

/// Parent to worker.
pub(super) mod to_worker {
    /// Load the library: its path, then `now` and `global` flags.
    pub const OPEN: u32 = 1;
    /// Declarations to mirror.
    pub const CDEF: u32 = 2;
    /// Bind a function: its id, whether by name, the declaration or name, the variadic
    /// argument types, errno capture.
    pub const BIND: u32 = 3;
    /// Call a bound function: its id and the arguments.
    pub const CALL: u32 = 4;
    /// Make a callback: its id, its name and its function-pointer type.
    pub const CALLBACK: u32 = 5;
    /// Read a C object of a type at an address.
    pub const READ: u32 = 6;
    /// Read the NUL-terminated string at an address.
    pub const READ_STRING: u32 = 7;
    /// The parent's answer to a callback.
    pub const CALLBACK_RETURN: u32 = 8;
    /// Leave.
    pub const EXIT: u32 = 9;
    /// Declare what a header declares: its name, compiler (empty: the default) and flags.
    pub const INCLUDE: u32 = 10;
    /// Write a value of a type at an address.
    pub const WRITE: u32 = 11;
}

/// Worker to parent.
pub(super) mod to_parent {
    /// Done: a value and errno.
    pub const OK: u32 = 100;
    /// Failed: an error kind and its message.
    pub const ERROR: u32 = 101;
    /// A callback is called: its id and its arguments.
    pub const CALLBACK_CALL: u32 = 102;
}

const VOID: u8 = 0;
const BOOL: u8 = 1;
const INT: u8 = 2;
const UINT: u8 = 3;
const FLOAT: u8 = 4;
const COMPLEX: u8 = 5;
const NULL: u8 = 6;
/// An address in the worker (a handle, or a pointer C handed out).
const POINTER: u8 = 7;
/// An offset in the transfer area: the worker makes it its own address.
const AREA: u8 = 8;
const STR: u8 = 9;
const BYTES: u8 = 10;
const STRUCT: u8 = 11;
const ARRAY: u8 = 12;
/// A C object: its type's name and its bytes.
const DATA: u8 = 13;
const TEXT: u8 = 14;

/// Builds a message.
#[derive(Debug, Default)]
pub(super) struct Encoder {
    pub bytes: Vec<u8>,
}

impl Encoder {
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.bytes.push(v);
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn blob(&mut self, v: &[u8]) -> &mut Self {
        self.u64(v.len() as u64);
        self.bytes.extend_from_slice(v);
        self
    }

    pub fn text(&mut self, v: &str) -> &mut Self {
        self.blob(v.as_bytes())
    }

    /// An offset in the transfer area, for the worker to turn into its own address.
    pub fn area(&mut self, offset: usize) -> &mut Self {
        self.u8(AREA).u64(offset as u64)
    }

    /// An address in the worker.
    pub fn pointer(&mut self, address: usize) -> &mut Self {
        self.u8(POINTER).u64(address as u64)
    }

    /// A value as it is (addresses as the worker's own).
    pub fn value(&mut self, value: &Value) -> &mut Self {
        match value {
            Value::Void => self.u8(VOID),
            Value::Bool(b) => self.u8(BOOL).u8(u8::from(*b)),
            Value::Int(i) => self.u8(INT).u64(*i as u64),
            Value::UInt(u) => self.u8(UINT).u64(*u),
            Value::Float(f) => self.u8(FLOAT).u64(f.to_bits()),
            Value::Complex(re, im) => self.u8(COMPLEX).u64(re.to_bits()).u64(im.to_bits()),
            Value::Null | Value::Pointer(0) => self.u8(NULL),
            Value::Pointer(address) => self.pointer(*address),
            Value::Handle(handle) => self.pointer(handle.address()),
            Value::Str(s) => self.u8(STR).text(s),
            Value::CString(s) => self.u8(STR).blob(s.as_bytes()),
            Value::Bytes(b) => self.u8(BYTES).blob(b),
            Value::Struct(members) => {
                self.u8(STRUCT).u64(members.len() as u64);
                for (name, member) in members {
                    self.text(name).value(member);
                }
                self
            }
            Value::Array(items) => {
                self.u8(ARRAY).u64(items.len() as u64);
                for item in items {
                    self.value(item);
                }
                self
            }
            Value::Data(data) => self.u8(DATA).text(data.type_name()).blob(data.bytes()),
            Value::Text { address, bytes } => {
                self.u8(TEXT).u64(*address as u64);
                match bytes {
                    Some(bytes) => self.u8(1).blob(bytes),
                    None => self.u8(0),
                }
            }
        }
    }

    /// An error: its kind and its text.
    pub fn error(&mut self, kind: ErrorKind, message: &str) -> &mut Self {
        self.u8(kind_code(kind)).text(message)
    }
}

/// A decoding failure: the bytes are not a message of ours.
#[derive(Debug)]
pub(super) struct Malformed(pub &'static str);

/// A value as decoded: [`Value`]s, but for what needs the receiving side to finish it.
#[derive(Debug)]
pub(super) enum Decoded {
    Value(Value),
    /// A transfer-area offset (the worker adds its base).
    Area(usize),
    /// A worker address (the parent makes it a handle).
    Pointer(usize),
    /// A C object to make of this type with these bytes.
    Data(String, Vec<u8>),
    Struct(Vec<(String, Decoded)>),
    Array(Vec<Decoded>),
}

/// Reads a message.
#[derive(Debug)]
pub(super) struct Decoder<'a> {
    bytes: &'a [u8],
}

/// How deep values may nest (structs of arrays of structs...): a bound, so hostile bytes
/// cannot overflow the stack.
const MAX_DEPTH: usize = 64;

impl<'a> Decoder<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Decoder { bytes }
    }

    /// How many bytes are left.
    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.bytes.len() < n {
            return Err(Malformed("a message ends early"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    pub fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32, Malformed> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    pub fn u64(&mut self) -> Result<u64, Malformed> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    pub fn blob(&mut self) -> Result<&'a [u8], Malformed> {
        let len = usize::try_from(self.u64()?).map_err(|_| Malformed("a length too large"))?;
        self.take(len)
    }

    pub fn text(&mut self) -> Result<String, Malformed> {
        String::from_utf8(self.blob()?.to_vec()).map_err(|_| Malformed("text is not UTF-8"))
    }

    /// A count of items, each at least one byte: never more than the bytes left.
    fn count(&mut self) -> Result<usize, Malformed> {
        let n = self.u64()?;
        if n > self.bytes.len() as u64 {
            return Err(Malformed("a count larger than the message"));
        }
        Ok(n as usize)
    }

    pub fn value(&mut self) -> Result<Decoded, Malformed> {
        self.value_at(0)
    }

    fn value_at(&mut self, depth: usize) -> Result<Decoded, Malformed> {
        if depth > MAX_DEPTH {
            return Err(Malformed("values nest too deep"));
        }
        let value = match self.u8()? {
            VOID => Value::Void,
            BOOL => Value::Bool(self.u8()? != 0),
            INT => Value::Int(self.u64()? as i64),
            UINT => Value::UInt(self.u64()?),
            FLOAT => Value::Float(f64::from_bits(self.u64()?)),
            COMPLEX => Value::Complex(f64::from_bits(self.u64()?), f64::from_bits(self.u64()?)),
            NULL => Value::Null,
            POINTER => return Ok(Decoded::Pointer(self.u64()? as usize)),
            AREA => return Ok(Decoded::Area(self.u64()? as usize)),
            STR => Value::Str(self.text()?),
            BYTES => Value::Bytes(self.blob()?.to_vec()),
            STRUCT => {
                let n = self.count()?;
                let mut members = Vec::with_capacity(n);
                for _ in 0..n {
                    members.push((self.text()?, self.value_at(depth + 1)?));
                }
                return Ok(Decoded::Struct(members));
            }
            ARRAY => {
                let n = self.count()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value_at(depth + 1)?);
                }
                return Ok(Decoded::Array(items));
            }
            DATA => return Ok(Decoded::Data(self.text()?, self.blob()?.to_vec())),
            TEXT => {
                let address = self.u64()? as usize;
                let bytes = match self.u8()? {
                    0 => None,
                    _ => Some(self.blob()?.to_vec()),
                };
                Value::Text { address, bytes }
            }
            _ => return Err(Malformed("an unknown value tag")),
        };
        Ok(Decoded::Value(value))
    }

    pub fn error(&mut self) -> Result<(ErrorKind, String), Malformed> {
        let kind = kind_of(self.u8()?);
        Ok((kind, self.text()?))
    }
}

impl Decoded {
    /// The value, with each part the receiver must finish finished by `finish`.
    pub fn finish<E>(
        self,
        finish: &mut dyn FnMut(Decoded) -> Result<Value, E>,
    ) -> Result<Value, E> {
        match self {
            Decoded::Value(value) => Ok(value),
            Decoded::Struct(members) => Ok(Value::Struct(
                members
                    .into_iter()
                    .map(|(name, member)| Ok((name, member.finish(finish)?)))
                    .collect::<Result<_, E>>()?,
            )),
            Decoded::Array(items) => Ok(Value::Array(
                items
                    .into_iter()
                    .map(|item| item.finish(finish))
                    .collect::<Result<_, E>>()?,
            )),
            other => finish(other),
        }
    }
}

/// Every error kind, by its code on the wire.
const KINDS: &[ErrorKind] = &[
    ErrorKind::LibraryNotFound,
    ErrorKind::LibraryLoadError,
    ErrorKind::SymbolNotFound,
    ErrorKind::NotAFunction,
    ErrorKind::DeclarationSyntax,
    ErrorKind::ArityMismatch,
    ErrorKind::TypeMismatch,
    ErrorKind::OutOfRange,
    ErrorKind::NullPointer,
    ErrorKind::InteriorNul,
    ErrorKind::UncheckedPointer,
    ErrorKind::TooLarge,
    ErrorKind::CallbackFailed,
    ErrorKind::DeclarationMismatch,
    ErrorKind::UnsupportedType,
    ErrorKind::Header,
    ErrorKind::OutOfMemory,
    ErrorKind::ThreadSpawn,
    ErrorKind::WorkerFault,
    ErrorKind::StaleHandle,
    ErrorKind::WorkerFailed,
];

fn kind_code(kind: ErrorKind) -> u8 {
    KINDS.iter().position(|k| *k == kind).unwrap_or(KINDS.len()) as u8
}

fn kind_of(code: u8) -> ErrorKind {
    KINDS
        .get(usize::from(code))
        .copied()
        .unwrap_or(ErrorKind::WorkerFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_hostile_bytes_are_errors() {
        let value = Value::Struct(vec![
            ("a".into(), Value::Int(-5)),
            (
                "b".into(),
                Value::Array(vec![Value::Float(2.5), Value::Null]),
            ),
            ("c".into(), Value::Str("text".into())),
            (
                "d".into(),
                Value::Text {
                    address: 16,
                    bytes: Some(b"hi".to_vec()),
                },
            ),
        ]);
        let mut encoder = Encoder::default();
        encoder.value(&value).pointer(0x1000).area(64);
        let mut decoder = Decoder::new(&encoder.bytes);
        let back = decoder.value().unwrap();
        let back = back.finish::<()>(&mut |_| unreachable!()).unwrap();
        assert_eq!(back, value);
        assert!(matches!(decoder.value().unwrap(), Decoded::Pointer(0x1000)));
        assert!(matches!(decoder.value().unwrap(), Decoded::Area(64)));
        // Every prefix of a message fails cleanly; so do absurd counts and deep nesting.
        for end in 0..encoder.bytes.len() - 18 {
            assert!(Decoder::new(&encoder.bytes[..end]).value().is_err());
        }
        let mut absurd = vec![STRUCT];
        absurd.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(Decoder::new(&absurd).value().is_err());
        let deep: Vec<u8> = std::iter::repeat_n([ARRAY, 1, 0, 0, 0, 0, 0, 0, 0], 10_000)
            .flatten()
            .collect();
        assert!(Decoder::new(&deep).value().is_err());
        for kind in KINDS {
            assert_eq!(kind_of(kind_code(*kind)), *kind);
        }
    }
}
