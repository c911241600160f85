//! Conversions between [`Value`]s and C memory, in both directions, by [`Shape`]. Everything
//! here works on byte slices: the only addresses it makes are those of the scratch copies of
//! strings, which live until the call returns.

use crate::error::Error;
use crate::shape::{Pointee, Shape};
use crate::value::Value;

/// Where a call's temporary copies of strings and byte buffers go: inline for the common
/// small case, on the heap beyond it. Addresses handed out stay valid while it lives, unmoved.
pub(crate) struct Scratch {
    /// Written only where a copy goes (C reads the copies; Rust never reads this back).
    inline: [std::mem::MaybeUninit<u8>; 256],
    used: usize,
    overflow: Vec<Vec<u8>>,
}

/// The bytes of a word buffer (8-byte aligned, as by-value results and arguments need here).
pub(crate) fn bytes_of(words: &mut [u64]) -> &mut [u8] {
    let len = std::mem::size_of_val(words);
    // SAFETY: u64s are initialized bytes with no invalid values; the slice covers exactly
    // their memory and borrows it for as long.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), len) }
}

/// A 16-byte aligned byte buffer.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
pub(crate) struct Inline<const N: usize>(pub [u8; N]);

impl Scratch {
    pub fn new() -> Self {
        Scratch {
            // A const block: the repeat form let LLVM merge the "uninitialized" bytes into a
            // zeroing memset of the whole buffer on every call.
            inline: [const { std::mem::MaybeUninit::uninit() }; 256],
            used: 0,
            overflow: Vec::new(),
        }
    }

    /// Whether nothing was copied (no pointer into this scratch was handed out).
    pub fn is_empty(&self) -> bool {
        self.used == 0 && self.overflow.is_empty()
    }

    /// Copies `bytes` (plus a NUL when asked) and returns the copy's address.
    fn stash(&mut self, bytes: &[u8], nul: bool) -> usize {
        let needed = bytes.len() + usize::from(nul);
        if self.used + needed <= 256 {
            let at = self.used;
            let copy = &mut self.inline[at..at + needed];
            for (slot, byte) in copy.iter_mut().zip(bytes) {
                slot.write(*byte);
            }
            if nul {
                copy[bytes.len()].write(0);
            }
            self.used += needed.max(1);
            return self.inline[at..].as_ptr() as usize;
        }
        let mut copy = Vec::with_capacity(needed.max(1));
        copy.extend_from_slice(bytes);
        if nul {
            copy.push(0);
        }
        let address = copy.as_ptr() as usize;
        self.overflow.push(copy); // moving the Vec does not move its heap buffer
        address
    }
}

/// Where a value goes, for error messages; formatted only when there is an error, so the call
/// path allocates nothing for it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Place<'a> {
    Text(&'a str),
    Argument {
        index: usize,
        name: Option<&'a str>,
        function: &'a str,
    },
    Member(&'a Place<'a>, &'a str),
    Element(&'a Place<'a>, usize),
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Text(text) => f.write_str(text),
            Place::Argument {
                index,
                name: Some(name),
                function,
            } => write!(f, "argument {} (`{name}`) of `{function}`", index + 1),
            Place::Argument {
                index, function, ..
            } => write!(f, "argument {} of `{function}`", index + 1),
            Place::Member(parent, name) => write!(f, "{parent}.{name}"),
            Place::Element(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

fn mismatch(place: &Place<'_>, expected: &str, value: &Value) -> Error {
    Error::TypeMismatch {
        place: place.to_string(),
        expected: expected.to_owned(),
        given: value.describe(),
    }
}

/// The integer range of a C integer type.
pub(crate) fn int_range(size: u8, signed: bool) -> (i128, i128) {
    let bits = u32::from(size) * 8;
    if signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    }
}

fn checked_int(
    value: &Value,
    min: i128,
    max: i128,
    place: &Place<'_>,
    c_name: &dyn std::fmt::Display,
) -> Result<i128, Error> {
    let Some(v) = value.as_i128() else {
        return Err(mismatch(
            place,
            &format!("an integer for `{c_name}`"),
            value,
        ));
    };
    if v < min || v > max {
        return Err(Error::OutOfRange {
            place: place.to_string(),
            value: v.to_string(),
            ty: c_name.to_string(),
            min: min.to_string(),
            max: max.to_string(),
        });
    }
    Ok(v)
}

/// The `float` nearest `v`, or None when a finite `v` lies beyond `float`'s range (it would
/// silently become infinity). Infinities and NaN stay what they are.
#[inline(always)]
pub(crate) fn narrow_f32(v: f64) -> Option<f32> {
    let f = v as f32;
    (f.is_finite() || !v.is_finite()).then_some(f)
}

fn float_out_of_range(place: &Place<'_>, value: f64, c_name: &dyn std::fmt::Display) -> Error {
    Error::OutOfRange {
        place: place.to_string(),
        value: format!("{value:e}"),
        ty: c_name.to_string(),
        min: format!("{:e}", f32::MIN),
        max: format!("{:e}", f32::MAX),
    }
}

/// A parameter's conversion, chosen once when the function is bound. The common cases (an
/// integer that fits, a double, an address) become register bits with one match and one range
/// check; everything else, and every error, goes through [`write`], which explains itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quick {
    /// An integer type other than `unsigned long long`: the value must lie in `min..=max`.
    Int {
        min: i64,
        max: i64,
    },
    /// A 64-bit unsigned integer.
    U64,
    Bool,
    Float,
    Double,
    /// A pointer that is not a string: `void *`, `T *`, a function pointer.
    Address,
    /// Anything else: the general conversion.
    General,
}

impl Quick {
    pub(crate) fn for_shape(shape: &Shape) -> Quick {
        match *shape {
            Shape::Int {
                size: 8,
                signed: false,
            } => Quick::U64,
            Shape::Int { size, signed } => {
                let (min, max) = int_range(size, signed);
                Quick::Int {
                    min: min as i64,
                    max: max as i64,
                }
            }
            Shape::Bool => Quick::Bool,
            Shape::Float => Quick::Float,
            Shape::Double => Quick::Double,
            Shape::Pointer(Pointee::Void | Pointee::Other | Pointee::Function) => Quick::Address,
            _ => Quick::General,
        }
    }

    /// The value as one register's bits (integers sign- or zero-extended to 64 bits, floats
    /// in the low bits), or None when the general conversion must decide (or refuse).
    #[inline(always)]
    pub(crate) fn bits(self, value: &Value) -> Option<u64> {
        match (self, value) {
            (Quick::Int { min, max }, Value::Int(i)) if min <= *i && *i <= max => Some(*i as u64),
            (Quick::Int { max, .. }, Value::UInt(u)) if *u <= max as u64 => Some(*u),
            (Quick::U64, Value::UInt(u)) => Some(*u),
            (Quick::U64, Value::Int(i)) if *i >= 0 => Some(*i as u64),
            (Quick::Bool, Value::Bool(b)) => Some(u64::from(*b)),
            (Quick::Double, Value::Float(f)) => Some(f.to_bits()),
            (Quick::Float, Value::Float(f)) => narrow_f32(*f).map(|f| u64::from(f.to_bits())),
            // As the general conversion does: integers are numbers too.
            (Quick::Double, Value::Int(i)) => Some((*i as f64).to_bits()),
            (Quick::Float, Value::Int(i)) => Some(u64::from((*i as f64 as f32).to_bits())),
            (Quick::Address, Value::Pointer(p)) => Some(*p as u64),
            (Quick::Address, Value::Null) => Some(0),
            _ => None,
        }
    }
}

/// A result's conversion, chosen once: scalars come straight out of the result register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QuickResult {
    Void,
    /// A signed integer in the low bits: shifted up by `shift`, then arithmetically down.
    Signed {
        shift: u8,
    },
    /// An unsigned integer in the low bits: shifted up by `shift`, then logically down.
    Unsigned {
        shift: u8,
    },
    Bool,
    Float,
    Double,
    Address,
    /// Anything else (`char *` text, structs, ...): the general reading.
    General,
}

impl QuickResult {
    pub(crate) fn for_shape(shape: &Shape) -> QuickResult {
        match *shape {
            Shape::Void => QuickResult::Void,
            Shape::Int { size, signed } => {
                let shift = 64 - 8 * size;
                match signed {
                    true => QuickResult::Signed { shift },
                    false => QuickResult::Unsigned { shift },
                }
            }
            Shape::Bool => QuickResult::Bool,
            Shape::Float => QuickResult::Float,
            Shape::Double => QuickResult::Double,
            Shape::Pointer(Pointee::Void | Pointee::Other | Pointee::Function) => {
                QuickResult::Address
            }
            _ => QuickResult::General,
        }
    }

    /// [`value`](Self::value) for a plan that is not [`QuickResult::General`] (which gives
    /// `Void` here).
    #[inline(always)]
    pub(crate) fn scalar(self, word: u64) -> Value {
        match self.value(word) {
            Some(value) => value,
            None => Value::Void,
        }
    }

    /// The value a call left in rax (integers, pointers) or xmm0 (floating), for a plan
    /// that is not [`QuickResult::General`].
    #[inline(always)]
    pub(crate) fn of_registers(self, rax: u64, xmm0: u64) -> Value {
        match self {
            QuickResult::Float | QuickResult::Double => self.scalar(xmm0),
            _ => self.scalar(rax),
        }
    }

    /// The value in the low bits of `word` (the first result register), or None for
    /// [`QuickResult::General`].
    #[inline(always)]
    pub(crate) fn value(self, word: u64) -> Option<Value> {
        Some(match self {
            QuickResult::Void => Value::Void,
            QuickResult::Signed { shift } => Value::Int(((word << shift) as i64) >> shift),
            QuickResult::Unsigned { shift } => Value::UInt((word << shift) >> shift),
            QuickResult::Bool => Value::Bool(word as u8 != 0),
            QuickResult::Float => Value::Float(f32::from_bits(word as u32).into()),
            QuickResult::Double => Value::Float(f64::from_bits(word)),
            QuickResult::Address => match word {
                0 => Value::Null,
                address => Value::Pointer(address as usize),
            },
            QuickResult::General => return None,
        })
    }
}

/// A struct passed by value whose members are all scalars, planned once at binding: each
/// member's name, offset, size and conversion, so a call writes a [`Value::Struct`] given
/// in declaration order without looking members up by name or walking shapes.
#[derive(Debug, Clone)]
pub(crate) struct RecordPlan {
    members: Box<[PlannedMember]>,
}

#[derive(Debug, Clone)]
struct PlannedMember {
    name: String,
    offset: usize,
    size: usize,
    quick: Quick,
}

impl RecordPlan {
    /// The plan for a struct (not a union) of named scalar members without bitfields.
    pub(crate) fn for_shape(shape: &Shape) -> Option<RecordPlan> {
        let Shape::Record {
            union: false,
            members,
            ..
        } = shape
        else {
            return None;
        };
        let members = members
            .iter()
            .map(|member| {
                let quick = Quick::for_shape(&member.shape);
                let size = member.shape.size_align().0 as usize;
                (member.bits.is_none() && quick != Quick::General && size <= 8).then(|| {
                    Some(PlannedMember {
                        name: member.name.clone()?,
                        offset: member.offset as usize,
                        size,
                        quick,
                    })
                })?
            })
            .collect::<Option<Box<[PlannedMember]>>>()?;
        Some(RecordPlan { members })
    }

    /// Writes `value` into `dst` (the struct's bytes, zeroed) when it is a struct value
    /// giving every member in order, each one a [`Quick`] converts; false otherwise, and the
    /// general write then decides (and explains).
    #[inline]
    pub(crate) fn write(&self, value: &Value, dst: &mut [u8]) -> bool {
        let Value::Struct(given) = value else {
            return false;
        };
        if given.len() != self.members.len() {
            return false;
        }
        for (member, (name, value)) in self.members.iter().zip(given) {
            if *name != member.name {
                return false;
            }
            let Some(bits) = member.quick.bits(value) else {
                return false;
            };
            match dst.get_mut(member.offset..member.offset + member.size) {
                // Little-endian: the member's bytes are the low bytes of its register bits.
                Some(slot) => slot.copy_from_slice(&bits.to_le_bytes()[..member.size]),
                None => return false,
            }
        }
        true
    }
}

/// Options for writing a value: whether NULL is accepted for a `char *`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WriteOptions {
    pub nullable_string: bool,
}

/// Writes `value` as a C value of `shape` into `dst` (exactly the shape's size).
pub(crate) fn write(
    shape: &Shape,
    c_name: &str,
    value: &Value,
    dst: &mut [u8],
    place: &Place<'_>,
    scratch: &mut Scratch,
    options: WriteOptions,
) -> Result<(), Error> {
    match shape {
        Shape::Void | Shape::Opaque { .. } => {
            return Err(Error::UnsupportedType {
                ty: c_name.to_string(),
                reason: "has no value to pass".into(),
            });
        }
        Shape::Bool => {
            let v = match value {
                Value::Bool(b) => *b,
                other => checked_int(other, 0, 1, place, &c_name)? == 1,
            };
            dst[0] = u8::from(v);
        }
        Shape::Int { size, signed } => {
            let (min, max) = int_range(*size, *signed);
            let v = checked_int(value, min, max, place, &c_name)?;
            let bytes = (v as i64).to_ne_bytes();
            dst.copy_from_slice(&bytes[..usize::from(*size)]);
        }
        Shape::Float => {
            let v = value
                .as_f64()
                .ok_or_else(|| mismatch(place, "a number for `float`", value))?;
            let f = narrow_f32(v).ok_or_else(|| float_out_of_range(place, v, &c_name))?;
            dst.copy_from_slice(&f.to_ne_bytes());
        }
        Shape::Double => {
            let v = value
                .as_f64()
                .ok_or_else(|| mismatch(place, "a number for `double`", value))?;
            dst.copy_from_slice(&v.to_ne_bytes());
        }
        Shape::LongDouble => {
            let v = value
                .as_f64()
                .ok_or_else(|| mismatch(place, "a number for `long double`", value))?;
            long_double::write(v, dst);
        }
        Shape::Complex { part } => {
            let Value::Complex(re, im) = *value else {
                return Err(mismatch(
                    place,
                    &format!("a complex number for `{c_name}`"),
                    value,
                ));
            };
            let part = usize::from(*part);
            let (re_dst, im_dst) = dst.split_at_mut(part);
            for (x, slot) in [(re, re_dst), (im, im_dst)] {
                match part {
                    4 => {
                        let f =
                            narrow_f32(x).ok_or_else(|| float_out_of_range(place, x, &c_name))?;
                        slot.copy_from_slice(&f.to_ne_bytes());
                    }
                    8 => slot.copy_from_slice(&x.to_ne_bytes()),
                    _ => long_double::write(x, slot),
                }
            }
        }
        Shape::Pointer(pointee) => {
            let address = match value {
                Value::Null | Value::Pointer(0)
                    if *pointee == Pointee::Char && !options.nullable_string =>
                {
                    return Err(Error::NullPointer {
                        place: place.to_string(),
                        ty: c_name.to_owned(),
                    });
                }
                Value::Null => 0,
                Value::Pointer(p) => *p,
                Value::Text { address, .. } => *address,
                Value::Str(s) if matches!(pointee, Pointee::Char | Pointee::Void) => {
                    // `contains` on bytes is a word-at-a-time memchr; the position only for
                    // the error.
                    if s.as_bytes().contains(&0) {
                        return Err(Error::InteriorNul {
                            place: place.to_string(),
                            offset: s.bytes().position(|b| b == 0).unwrap_or_default(),
                        });
                    }
                    scratch.stash(s.as_bytes(), true)
                }
                Value::Bytes(bytes) => scratch.stash(bytes, false),
                other => {
                    let expected = match pointee {
                        Pointee::Char => {
                            format!("a string, bytes, a pointer or null for `{c_name}`")
                        }
                        _ => format!("a pointer, bytes or null for `{c_name}`"),
                    };
                    return Err(mismatch(place, &expected, other));
                }
            };
            dst.copy_from_slice(&address.to_ne_bytes());
        }
        Shape::Record { union, members, .. } => {
            let Value::Struct(given) = value else {
                return Err(mismatch(
                    place,
                    &format!("a struct value for `{c_name}`"),
                    value,
                ));
            };
            dst.fill(0);
            let mut seen = std::collections::HashSet::with_capacity(given.len());
            for (name, _) in given {
                if !seen.insert(name.as_str()) {
                    return Err(mismatch(
                        &Place::Member(place, name),
                        &format!("each member of `{c_name}` once"),
                        &Value::Void,
                    )
                    .with_given(format!("`{name}` given twice")));
                }
                if !members
                    .iter()
                    .any(|m| m.name.as_deref() == Some(name.as_str()))
                {
                    return Err(mismatch(
                        &Place::Member(place, name),
                        &format!("a member of `{c_name}`"),
                        &Value::Void,
                    )
                    .with_given(format!("no member named `{name}`")));
                }
            }
            if *union && given.is_empty() {
                return Err(mismatch(place, &format!("a member of `{c_name}`"), value));
            }
            for member in members {
                let Some(name) = &member.name else { continue };
                let member_value = given.iter().find(|(n, _)| n == name).map(|(_, v)| v);
                let Some(member_value) = member_value else {
                    if *union {
                        continue;
                    }
                    return Err(Error::TypeMismatch {
                        place: place.to_string(),
                        expected: format!("every member of `{c_name}`"),
                        given: format!("no value for `{name}`"),
                    });
                };
                let member_place = Place::Member(place, name);
                let (size, _) = member.shape.size_align();
                let start = member.offset as usize;
                match member.bits {
                    Some((bit, width)) => write_bits(
                        &member.shape,
                        member_value,
                        dst,
                        start,
                        bit,
                        width,
                        &member_place,
                    )?,
                    None => write(
                        &member.shape,
                        name,
                        member_value,
                        &mut dst[start..start + size as usize],
                        &member_place,
                        scratch,
                        options,
                    )?,
                }
            }
            if *union && given.len() > 1 {
                // Several members of a union (a value read back from C has them all): they
                // must describe the same bytes.
                let written = read(shape, dst);
                for (name, given_value) in given {
                    let same = match (written.field(name), given_value) {
                        (Some(Value::Float(a)), Value::Float(b)) => a.to_bits() == b.to_bits(),
                        (Some(a), b) => {
                            a == b || (a.as_i128().is_some() && a.as_i128() == b.as_i128())
                        }
                        (None, _) => false,
                    };
                    if !same {
                        return Err(mismatch(
                            &Place::Member(place, name),
                            &format!("members of `{c_name}` that agree (they share their bytes)"),
                            given_value,
                        ));
                    }
                }
            }
        }
        Shape::Array { element, len } => {
            let (size, _) = element.size_align();
            dst.fill(0);
            match value {
                Value::Array(items) if items.len() as u64 <= *len => {
                    let element_name = element_name(c_name);
                    for (k, item) in items.iter().enumerate() {
                        let start = k * size as usize;
                        write(
                            element,
                            &element_name,
                            item,
                            &mut dst[start..start + size as usize],
                            &Place::Element(place, k),
                            scratch,
                            options,
                        )?;
                    }
                }
                Value::Str(s) if size == 1 && s.len() as u64 <= *len => {
                    dst[..s.len()].copy_from_slice(s.as_bytes());
                }
                Value::Bytes(b) if size == 1 && b.len() as u64 <= *len => {
                    dst[..b.len()].copy_from_slice(b);
                }
                other => {
                    return Err(mismatch(
                        place,
                        &format!("at most {len} elements for `{c_name}`"),
                        other,
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The element type's name from an array type's (`int[2][3]` → `int[3]`); other names as
/// they are.
fn element_name(array: &str) -> String {
    match (array.find('['), array.ends_with(']')) {
        (Some(open), true) => match array[open..].find(']') {
            Some(close) => format!("{}{}", &array[..open], &array[open + close + 1..]),
            None => array.to_owned(),
        },
        _ => array.to_owned(),
    }
}

trait WithGiven {
    fn with_given(self, given: String) -> Self;
}

impl WithGiven for Error {
    fn with_given(self, new: String) -> Self {
        match self {
            Error::TypeMismatch {
                place, expected, ..
            } => Error::TypeMismatch {
                place,
                expected,
                given: new,
            },
            other => other,
        }
    }
}

pub(crate) fn write_bits(
    shape: &Shape,
    value: &Value,
    dst: &mut [u8],
    start: usize,
    bit: u32,
    width: u32,
    place: &Place<'_>,
) -> Result<(), Error> {
    let signed = matches!(shape, Shape::Int { signed: true, .. });
    let (min, max) = if signed {
        (-(1i128 << (width - 1)), (1i128 << (width - 1)) - 1)
    } else {
        (0, (1i128 << width) - 1)
    };
    struct Bitfield(u32);
    impl std::fmt::Display for Bitfield {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}-bit bitfield", self.0)
        }
    }
    let v = checked_int(value, min, max, place, &Bitfield(width))?;
    let bytes = (bit + width).div_ceil(8) as usize;
    let mut word = 0u128;
    for k in 0..bytes {
        word |= u128::from(dst[start + k]) << (8 * k);
    }
    let mask = ((1u128 << width) - 1) << bit;
    word = (word & !mask) | (((v as u128) << bit) & mask);
    for k in 0..bytes {
        dst[start + k] = (word >> (8 * k)) as u8;
    }
    Ok(())
}

/// Reads a C value of `shape` from `src`. Pointers come back as addresses (`char *` results
/// are read as text by the caller, which knows the memory is valid).
pub(crate) fn read(shape: &Shape, src: &[u8]) -> Value {
    match shape {
        Shape::Void | Shape::Opaque { .. } => Value::Void,
        Shape::Bool => Value::Bool(src[0] != 0),
        Shape::Int { size, signed } => {
            let mut bytes = [0u8; 8];
            let size = usize::from(*size);
            bytes[..size].copy_from_slice(&src[..size]);
            let raw = u64::from_ne_bytes(bytes);
            if *signed {
                let shift = 64 - 8 * size as u32;
                Value::Int(((raw << shift) as i64) >> shift)
            } else {
                Value::UInt(raw)
            }
        }
        Shape::Float => {
            Value::Float(f32::from_ne_bytes(src[..4].try_into().expect("4 bytes")).into())
        }
        Shape::Double => Value::Float(f64::from_ne_bytes(src[..8].try_into().expect("8 bytes"))),
        Shape::LongDouble => Value::Float(long_double::read(src)),
        Shape::Complex { part } => {
            let part = usize::from(*part);
            let one = |bytes: &[u8]| match part {
                4 => f32::from_ne_bytes(bytes[..4].try_into().expect("4 bytes")).into(),
                8 => f64::from_ne_bytes(bytes[..8].try_into().expect("8 bytes")),
                _ => long_double::read(bytes),
            };
            Value::Complex(one(&src[..part]), one(&src[part..]))
        }
        Shape::Pointer(_) => match usize::from_ne_bytes(src[..8].try_into().expect("8 bytes")) {
            0 => Value::Null,
            address => Value::Pointer(address),
        },
        Shape::Record { members, .. } => {
            let mut fields = Vec::with_capacity(members.len());
            read_members(members, src, &mut fields);
            Value::Struct(fields)
        }
        Shape::Array { element, len } => {
            let (size, _) = element.size_align();
            Value::Array(
                (0..*len as usize)
                    .map(|k| read(element, &src[k * size as usize..]))
                    .collect(),
            )
        }
    }
}

fn read_members(members: &[crate::shape::Member], src: &[u8], out: &mut Vec<(String, Value)>) {
    for member in members {
        let start = member.offset as usize;
        let value = match member.bits {
            Some((bit, width)) => {
                let bytes = (bit + width).div_ceil(8) as usize;
                let mut word = 0u128;
                for k in 0..bytes {
                    word |= u128::from(src[start + k]) << (8 * k);
                }
                let raw = (word >> bit) & ((1u128 << width) - 1);
                match member.shape {
                    // Signed bitfields sign-extend (bindgen's getters do not: rust-bindgen#1160).
                    Shape::Int { signed: true, .. } => {
                        let shift = 128 - width;
                        Value::Int((((raw << shift) as i128) >> shift) as i64)
                    }
                    Shape::Bool => Value::Bool(raw != 0),
                    _ => Value::UInt(raw as u64),
                }
            }
            None => read(&member.shape, &src[start..]),
        };
        match (&member.name, value) {
            (Some(name), value) => out.push((name.clone(), value)),
            // Anonymous struct/union members: their members are the outer one's.
            (None, Value::Struct(inner)) => out.extend(inner),
            (None, _) => {}
        }
    }
}

/// `long double` in C memory (16 bytes on the LP64 Linux layouts ffikit-cdecl computes), in
/// this target's format: x87's 80-bit extended on x86-64, IEEE binary128 on aarch64 and
/// riscv64 Linux. Elsewhere `long double` is refused when a type is resolved
/// ([`SUPPORTED`](long_double::SUPPORTED)), so these are never reached there.
pub(crate) mod long_double {
    /// Whether this target's `long double` format is known.
    pub const SUPPORTED: bool = cfg!(any(target_arch = "x86_64", binary128_long_double));

    /// Writes `value` into the 16 bytes of `dst`.
    pub fn write(value: f64, dst: &mut [u8]) {
        dst.fill(0);
        #[cfg(target_arch = "x86_64")]
        dst[..10].copy_from_slice(&super::x87::from_f64(value));
        #[cfg(binary128_long_double)]
        dst[..16].copy_from_slice(&super::binary128::from_f64(value).to_ne_bytes());
        #[cfg(not(any(target_arch = "x86_64", binary128_long_double)))]
        let _ = value;
    }

    /// Reads the `long double` in the first 16 bytes of `src`, rounded to the nearest f64.
    pub fn read(src: &[u8]) -> f64 {
        #[cfg(target_arch = "x86_64")]
        return super::x87::to_f64(src[..10].try_into().expect("10 bytes"));
        #[cfg(binary128_long_double)]
        return super::binary128::to_f64(u128::from_ne_bytes(
            src[..16].try_into().expect("16 bytes"),
        ));
        #[cfg(not(any(target_arch = "x86_64", binary128_long_double)))]
        {
            let _ = src;
            f64::NAN
        }
    }
}

/// `value >> shift`, rounded to nearest, ties to even: narrowing a wider significand to f64's
/// (x87's and binary128's alike).
#[cfg_attr(
    not(any(test, target_arch = "x86_64", binary128_long_double)),
    allow(dead_code)
)]
fn round_shift(value: u128, shift: u32) -> u128 {
    if shift == 0 {
        return value;
    }
    if shift >= 128 {
        return 0;
    }
    let kept = value >> shift;
    let rest = value & ((1u128 << shift) - 1);
    let half = 1u128 << (shift - 1);
    if rest > half || (rest == half && kept & 1 == 1) {
        kept + 1
    } else {
        kept
    }
}

/// IEEE 754 binary128 (`long double` on aarch64 and riscv64 Linux), to and from f64. Compiled
/// there, and for its tests everywhere.
#[cfg(any(test, binary128_long_double))]
pub(crate) mod binary128 {
    const FRACTION_BITS: u32 = 112;
    const EXPONENT_MASK: u128 = 0x7fff;

    /// Encodes exactly: every f64 is representable.
    pub fn from_f64(value: f64) -> u128 {
        let bits = value.to_bits();
        let sign = u128::from(bits >> 63) << 127;
        let exponent = ((bits >> 52) & 0x7ff) as i32;
        let fraction = u128::from(bits & ((1 << 52) - 1));
        let (exponent, fraction) = match exponent {
            0 if fraction == 0 => (0u128, 0u128),
            0 => {
                // Subnormal f64: normal in binary128's wider exponent range.
                let shift = fraction.leading_zeros() - (128 - 53); // top bit to bit 52
                let fraction = (fraction << shift) & ((1 << 52) - 1);
                ((1 - 1023 - shift as i32 + 16383) as u128, fraction << 60)
            }
            0x7ff => (EXPONENT_MASK, fraction << 60),
            e => ((e - 1023 + 16383) as u128, fraction << 60),
        };
        sign | exponent << FRACTION_BITS | fraction
    }

    /// Decodes, rounding to the nearest f64 (ties to even).
    pub fn to_f64(bits: u128) -> f64 {
        let sign = ((bits >> 127) as u64) << 63;
        let exponent = ((bits >> FRACTION_BITS) & EXPONENT_MASK) as i32;
        let fraction = bits & ((1 << FRACTION_BITS) - 1);
        let infinity = f64::from_bits(sign | 0x7ff0_0000_0000_0000);
        if exponent == EXPONENT_MASK as i32 {
            return if fraction == 0 { infinity } else { f64::NAN };
        }
        if exponent == 0 && fraction == 0 {
            return f64::from_bits(sign);
        }
        // value = significand / 2^112 * 2^(exponent - 16383), with the hidden bit for
        // normal numbers (binary128 subnormals use exponent 1).
        let significand = if exponent == 0 {
            fraction
        } else {
            fraction | 1 << FRACTION_BITS
        };
        let leading = significand.leading_zeros() - (127 - FRACTION_BITS);
        let unbiased = exponent.max(1) - 16383 - leading as i32;
        let biased = unbiased + 1023;
        if biased >= 0x7ff {
            return infinity;
        }
        let normalized = significand << leading; // the top bit at bit 112
        if biased >= 1 {
            let mut kept = super::round_shift(normalized, FRACTION_BITS - 52);
            let mut biased = biased as u64;
            if kept >> 53 != 0 {
                kept >>= 1;
                biased += 1;
                if biased >= 0x7ff {
                    return infinity;
                }
            }
            return f64::from_bits(sign | biased << 52 | (kept as u64 & ((1 << 52) - 1)));
        }
        let shift = FRACTION_BITS - 52 + (1 - biased) as u32;
        f64::from_bits(sign | super::round_shift(normalized, shift) as u64)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn every_kind_of_f64_round_trips() {
            for value in [
                0.0,
                -0.0,
                1.0,
                -2.5,
                std::f64::consts::PI,
                f64::MAX,
                f64::MIN_POSITIVE,
                5e-324,
                -1.5e-310,
                f64::INFINITY,
                f64::NEG_INFINITY,
                123456789.125,
            ] {
                assert_eq!(
                    to_f64(from_f64(value)).to_bits(),
                    value.to_bits(),
                    "{value}"
                );
            }
            assert!(to_f64(from_f64(f64::NAN)).is_nan());
        }

        #[test]
        fn known_encodings_from_the_standard() {
            // IEEE 754-2008 binary128: 1.0 is 0x3fff_0000..., -2.0 is 0xc000_0000...
            assert_eq!(from_f64(1.0), 0x3fff_u128 << 112);
            assert_eq!(from_f64(-2.0), 0xc000_u128 << 112);
            assert_eq!(from_f64(0.5), 0x3ffe_u128 << 112);
            // The smallest binary128 subnormal is far below f64: it rounds to zero.
            assert_eq!(to_f64(1).to_bits(), 0);
            // 1 + 2^-53 exactly between two f64s rounds to even (1.0); a hair more rounds up.
            let one = 0x3fff_u128 << 112;
            assert_eq!(to_f64(one | 1 << 59), 1.0);
            assert_eq!(to_f64(one | 1 << 59 | 1), 1.0 + f64::EPSILON);
            // The largest binary128 is past f64: infinity.
            assert_eq!(
                to_f64((0x7ffe_u128 << 112) | ((1 << 112) - 1)),
                f64::INFINITY
            );
        }
    }
}

/// The x87 80-bit extended format (`long double` on x86-64), to and from f64.
#[cfg(target_arch = "x86_64")]
pub(crate) mod x87 {
    /// Encodes exactly: every f64 is representable.
    pub fn from_f64(value: f64) -> [u8; 10] {
        let bits = value.to_bits();
        let sign = ((bits >> 63) as u16) << 15;
        let exponent = ((bits >> 52) & 0x7ff) as i32;
        let fraction = bits & ((1 << 52) - 1);
        let (exponent, mantissa) = match exponent {
            0 if fraction == 0 => (0u16, 0u64),
            0 => {
                // Subnormal f64: normal in x87's wider exponent range.
                let shift = fraction.leading_zeros() - 11; // bring the top bit to bit 52
                let mantissa = (fraction << shift) << 11;
                ((1 - 1023 - shift as i32 + 16383) as u16, mantissa)
            }
            0x7ff => (0x7fff, (1 << 63) | (fraction << 11)),
            e => ((e - 1023 + 16383) as u16, (1 << 63) | (fraction << 11)),
        };
        let mut out = [0u8; 10];
        out[..8].copy_from_slice(&mantissa.to_le_bytes());
        out[8..].copy_from_slice(&(sign | exponent).to_le_bytes());
        out
    }

    /// Decodes, rounding to the nearest f64 (ties to even).
    pub fn to_f64(bytes: [u8; 10]) -> f64 {
        let mantissa = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
        let sign_exponent = u16::from_le_bytes([bytes[8], bytes[9]]);
        let sign = u64::from(sign_exponent >> 15) << 63;
        let exponent = i32::from(sign_exponent & 0x7fff);
        if exponent == 0x7fff {
            return if mantissa << 1 == 0 {
                f64::from_bits(sign | 0x7ff0_0000_0000_0000)
            } else {
                f64::NAN
            };
        }
        if mantissa == 0 {
            return f64::from_bits(sign);
        }
        // value = mantissa / 2^63 * 2^(exponent - 16383); x87 denormals use exponent 1.
        let leading = mantissa.leading_zeros();
        let normalized = mantissa << leading;
        let unbiased = exponent.max(1) - 16383 - leading as i32;
        let biased = unbiased + 1023;
        if biased >= 0x7ff {
            return f64::from_bits(sign | 0x7ff0_0000_0000_0000);
        }
        if biased >= 1 {
            // 53 significant bits.
            let mut kept = super::round_shift(u128::from(normalized), 11) as u64;
            let mut biased = biased as u64;
            if kept >> 53 != 0 {
                kept >>= 1; // rounding carried into a new bit
                biased += 1;
                if biased >= 0x7ff {
                    return f64::from_bits(sign | 0x7ff0_0000_0000_0000);
                }
            }
            return f64::from_bits(sign | biased << 52 | (kept & ((1 << 52) - 1)));
        }
        // Subnormal result: fewer significant bits. A carry into bit 52 makes the smallest
        // normal, which the same bits encode.
        let shift = 11 + (1 - biased) as u32;
        f64::from_bits(sign | super::round_shift(u128::from(normalized), shift) as u64)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn every_kind_of_f64_round_trips() {
            let values = [
                0.0,
                -0.0,
                1.0,
                -2.5,
                std::f64::consts::PI,
                f64::MAX,
                f64::MIN_POSITIVE,
                5e-324,
                -1.5e-310,
                f64::INFINITY,
                f64::NEG_INFINITY,
                123456789.125,
            ];
            for value in values {
                assert_eq!(
                    to_f64(from_f64(value)).to_bits(),
                    value.to_bits(),
                    "{value}"
                );
            }
            assert!(to_f64(from_f64(f64::NAN)).is_nan());
        }

        #[test]
        fn encodes_as_the_intel_manual_says() {
            // 1.0: exponent 16383, integer bit set.
            assert_eq!(from_f64(1.0), [0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f]);
            // -2.0: sign set, exponent 16384.
            assert_eq!(from_f64(-2.0), [0, 0, 0, 0, 0, 0, 0, 0x80, 0x00, 0xc0]);
        }

        #[test]
        fn rounds_extended_precision_to_nearest() {
            // 1 + 2^-60 rounds to 1; 1 + 2^-52 + 2^-53 (a tie) rounds to even 1 + 2^-51.
            let mut bytes = from_f64(1.0);
            bytes[0] = 0b1000; // 2^-60 in the 64-bit mantissa
            assert_eq!(to_f64(bytes), 1.0);
            let tie = (1u64 << 63) | (1 << 11) | (1 << 10);
            let mut bytes = from_f64(1.0);
            bytes[..8].copy_from_slice(&tie.to_le_bytes());
            assert_eq!(to_f64(bytes), 1.0 + 2f64.powi(-51));
            // LDBL_MAX is beyond f64: infinity.
            let mut max = [0xffu8; 10];
            max[8] = 0xfe;
            max[9] = 0x7f;
            assert_eq!(to_f64(max), f64::INFINITY);
        }
    }
}
