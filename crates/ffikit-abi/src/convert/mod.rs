//! Conversions between [`Value`]s and C memory, in both directions, by [`Shape`]. Everything
//! here works on byte slices: the only addresses it makes are those of the scratch copies of
//! strings, which live until the call returns.

mod quick;

#[cfg(fast_path)]
pub(crate) use quick::{PlacedMember, same_name};
pub(crate) use quick::{Quick, QuickResult, RecordPlan};

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
    /// Only checking (an isolated call's arguments, before they are sent): nothing is
    /// copied, and the addresses handed out are never used.
    dry: bool,
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
            dry: false,
        }
    }

    /// A scratch for checking values without making their copies.
    pub fn dry() -> Self {
        Scratch {
            dry: true,
            ..Scratch::new()
        }
    }

    /// Whether nothing was copied (no pointer into this scratch was handed out).
    pub fn is_empty(&self) -> bool {
        self.used == 0 && self.overflow.is_empty()
    }

    /// Copies `bytes` (plus a NUL when asked) and returns the copy's address.
    fn stash(&mut self, bytes: &[u8], nul: bool) -> usize {
        if self.dry {
            return usize::MAX;
        }
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
    // A C object of this very type: its bytes, as they are. (Of another type, or for a
    // scalar or pointer: refused below, as any other value of the wrong kind is.)
    if let Value::Data(data) = value
        && matches!(shape, Shape::Record { .. } | Shape::Array { .. })
    {
        if data.shape() != shape {
            return Err(mismatch(place, &format!("a `{c_name}` value"), value));
        }
        dst.copy_from_slice(data.bytes());
        return Ok(());
    }
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
            crate::long_double::write(v, dst);
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
                    _ => crate::long_double::write(x, slot),
                }
            }
        }
        Shape::Pointer(pointee) => {
            let address = match value {
                Value::Null | Value::Pointer(0)
                    if pointee.is_char() && !options.nullable_string =>
                {
                    return Err(Error::NullPointer {
                        place: place.to_string(),
                        ty: c_name.to_owned(),
                    });
                }
                Value::Null => 0,
                Value::Pointer(p) => *p,
                Value::Text { address, .. } => *address,
                // A C string already: C only reads it, so it goes in as it is; else a copy.
                Value::CString(s) if *pointee == Pointee::ConstChar => s.as_ptr() as usize,
                Value::CString(s) if pointee.is_char() || *pointee == Pointee::Void => {
                    scratch.stash(s.as_bytes(), true)
                }
                Value::Str(s) if pointee.is_char() || *pointee == Pointee::Void => {
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
                        Pointee::Char | Pointee::ConstChar => {
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
            // One member's value into its bytes (or bits).
            let mut write_member = |member: &crate::shape::Member,
                                    name: &str,
                                    member_value: &Value,
                                    dst: &mut [u8]|
             -> Result<(), Error> {
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
                    ),
                    None => write(
                        &member.shape,
                        name,
                        member_value,
                        &mut dst[start..start + size as usize],
                        &member_place,
                        scratch,
                        options,
                    ),
                }
            };
            // By position, as C's initializer `{1, 2}` and CFFI's list: every named member,
            // in order (a union's members share their bytes, so it takes them by name).
            if let Value::Array(items) = value
                && !*union
            {
                let named = members.iter().filter(|m| m.name.is_some()).count();
                if items.len() != named {
                    return Err(Error::TypeMismatch {
                        place: place.to_string(),
                        expected: format!("{named} member values of `{c_name}`, in order"),
                        given: format!("{} values", items.len()),
                    });
                }
                dst.fill(0);
                let in_order = members.iter().filter_map(|m| Some((m, m.name.as_deref()?)));
                for ((member, name), item) in in_order.zip(items) {
                    write_member(member, name, item, dst)?;
                }
                return Ok(());
            }
            let Value::Struct(given) = value else {
                let expected = match union {
                    true => format!("a union value for `{c_name}` (members by name)"),
                    false => format!("a struct value for `{c_name}` (members by name or in order)"),
                };
                return Err(mismatch(place, &expected, value));
            };
            dst.fill(0);
            let given_members = GivenMembers::check(given, members, place, c_name)?;
            if *union && given.is_empty() {
                return Err(mismatch(place, &format!("a member of `{c_name}`"), value));
            }
            for member in members {
                let Some(name) = &member.name else { continue };
                let Some(member_value) = given_members.get(name) else {
                    if *union {
                        continue;
                    }
                    return Err(Error::TypeMismatch {
                        place: place.to_string(),
                        expected: format!("every member of `{c_name}`"),
                        given: format!("no value for `{name}`"),
                    });
                };
                write_member(member, name, member_value, dst)?;
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

/// A struct value's members, looked up by name, each checked once: a member of the record,
/// given once. Scans for the common small structs — no allocation on the call path — and a
/// map past [`GivenMembers::FEW`], so a struct of thousands of members is not quadratic.
enum GivenMembers<'v> {
    Few(&'v [(String, Value)]),
    Many(std::collections::HashMap<&'v str, &'v Value>),
}

impl<'v> GivenMembers<'v> {
    const FEW: usize = 16;

    fn check(
        given: &'v [(String, Value)],
        members: &[crate::shape::Member],
        place: &Place<'_>,
        c_name: &str,
    ) -> Result<GivenMembers<'v>, Error> {
        let twice = |name: &str| {
            mismatch(
                &Place::Member(place, name),
                &format!("each member of `{c_name}` once"),
                &Value::Void,
            )
            .with_given(format!("`{name}` given twice"))
        };
        let unknown = |name: &str| {
            mismatch(
                &Place::Member(place, name),
                &format!("a member of `{c_name}`"),
                &Value::Void,
            )
            .with_given(format!("no member named `{name}`"))
        };
        if given.len() <= Self::FEW && members.len() <= Self::FEW {
            for (index, (name, _)) in given.iter().enumerate() {
                if given[..index].iter().any(|(earlier, _)| earlier == name) {
                    return Err(twice(name));
                }
                if !members.iter().any(|m| m.name.as_deref() == Some(name)) {
                    return Err(unknown(name));
                }
            }
            return Ok(GivenMembers::Few(given));
        }
        let names: std::collections::HashSet<&str> =
            members.iter().filter_map(|m| m.name.as_deref()).collect();
        let mut by_name = std::collections::HashMap::with_capacity(given.len());
        for (name, value) in given {
            if by_name.insert(name.as_str(), value).is_some() {
                return Err(twice(name));
            }
            if !names.contains(name.as_str()) {
                return Err(unknown(name));
            }
        }
        Ok(GivenMembers::Many(by_name))
    }

    fn get(&self, name: &str) -> Option<&'v Value> {
        match self {
            GivenMembers::Few(given) => given.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            GivenMembers::Many(by_name) => by_name.get(name).copied(),
        }
    }
}

/// The element type's name from an array type's (`int[2][3]` → `int[3]`); other names as
/// they are.
/// The element type's name, for messages: `int` of `int[4]`, `int[3]` of `int[2][3]`
/// (borrowed where it can be: no allocation on the call path).
fn element_name(array: &str) -> std::borrow::Cow<'_, str> {
    match (array.find('['), array.ends_with(']')) {
        (Some(open), true) => match array[open..].find(']') {
            Some(close) if open + close + 1 == array.len() => array[..open].into(),
            Some(close) => format!("{}{}", &array[..open], &array[open + close + 1..]).into(),
            None => array.into(),
        },
        _ => array.into(),
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
        Shape::LongDouble => Value::Float(crate::long_double::read(src)),
        Shape::Complex { part } => {
            let part = usize::from(*part);
            let one = |bytes: &[u8]| match part {
                4 => f32::from_ne_bytes(bytes[..4].try_into().expect("4 bytes")).into(),
                8 => f64::from_ne_bytes(bytes[..8].try_into().expect("8 bytes")),
                _ => crate::long_double::read(bytes),
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

/// A result as the call returns it: a `char *` is read as the string it points to (as
/// ctypes' `c_char_p` results are), anything else as [`read`] reads it.
pub(crate) fn read_result(shape: &Shape, bytes: &[u8]) -> Value {
    match (shape, read(shape, bytes)) {
        (Shape::Pointer(Pointee::Char | Pointee::ConstChar), Value::Pointer(address)) => {
            // SAFETY: the function's declaration says it returns a `char *`: a non-NULL
            // result points to a NUL-terminated string, as for ctypes' c_char_p results.
            let text = unsafe { std::ffi::CStr::from_ptr(address as *const std::ffi::c_char) };
            Value::Text {
                address,
                bytes: Some(text.to_bytes().to_vec()),
            }
        }
        (_, value) => value,
    }
}
