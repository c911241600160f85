//! Conversions chosen once, when a function is bound: [`Quick`] turns the commonest argument
//! values into register bits with one match and a range check, [`QuickResult`] reads a
//! scalar result from its register, [`RecordPlan`] writes a struct member by member. Anything
//! they do not take goes to the general conversions in the parent module, which convert it or
//! explain why not.

use super::{int_range, narrow_f32};
use crate::shape::{Pointee, Shape};
use crate::value::Value;

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
    /// Whether every member lies within one eightbyte (no packing split one), so
    /// [`write_words`](Self::write_words) can place it with a shift.
    aligned: bool,
}

#[derive(Debug, Clone)]
struct PlannedMember {
    name: String,
    offset: usize,
    size: usize,
    quick: Quick,
    /// For [`RecordPlan::write_words`]: the member's eightbyte, the shift into it, and the
    /// mask of its bytes.
    word: usize,
    shift: u32,
    mask: u64,
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
                        word: member.offset as usize / 8 % 8,
                        shift: 8 * (member.offset % 8) as u32,
                        mask: match size {
                            8 => u64::MAX,
                            size => (1u64 << (8 * size)) - 1,
                        },
                    })
                })?
            })
            .collect::<Option<Box<[PlannedMember]>>>()?;
        let aligned = members
            .iter()
            .all(|m| m.offset / 8 == (m.offset + m.size - 1) / 8);
        Some(RecordPlan { members, aligned })
    }

    /// Hands `put` each member's plan and converted bits when `value` is a struct value
    /// giving every member in order — by name, or by position (a [`Value::Array`], as C's
    /// initializer) — each one a [`Quick`] converts; false at the first that is not (or that
    /// `put` refuses), and the general write then decides (and explains).
    #[inline(always)]
    fn each_member(&self, value: &Value, mut put: impl FnMut(&PlannedMember, u64) -> bool) -> bool {
        let mut one = |member: &PlannedMember, value: &Value| match member.quick.bits(value) {
            Some(bits) => put(member, bits),
            None => false,
        };
        match value {
            Value::Array(items) if items.len() == self.members.len() => self
                .members
                .iter()
                .zip(items)
                .all(|(member, value)| one(member, value)),
            Value::Struct(given) if given.len() == self.members.len() => self
                .members
                .iter()
                .zip(given)
                .all(|(member, (name, value))| same_name(name, &member.name) && one(member, value)),
            _ => false,
        }
    }

    /// As [`write`](Self::write), into the struct's eightbytes as little-endian words
    /// (zeroed by the caller, at least as many as the struct has): each member shifted into
    /// its word, no byte copies. False also for a plan whose members straddle eightbytes.
    #[inline]
    pub(crate) fn write_words(&self, value: &Value, words: &mut [u64; 8]) -> bool {
        self.aligned
            && self.each_member(value, |member, bits| {
                words[member.word % 8] |= (bits & member.mask) << (member.shift % 64);
                true
            })
    }

    /// Writes `value` into `dst` (the struct's bytes, zeroed), as
    /// [`each_member`](Self::each_member) accepts it.
    #[inline]
    pub(crate) fn write(&self, value: &Value, dst: &mut [u8]) -> bool {
        self.each_member(value, |member, bits| {
            match dst.get_mut(member.offset..member.offset + member.size) {
                // Little-endian: the member's bytes are the low bytes of its register bits.
                Some(slot) => {
                    slot.copy_from_slice(&bits.to_le_bytes()[..member.size]);
                    true
                }
                None => false,
            }
        })
    }
}

/// A struct member placed at binding into the register slot (or stack word) its eightbyte
/// goes to: converted by `quick`, masked, shifted into `slot`.
#[cfg(fast_path)]
#[derive(Debug, Clone)]
pub(crate) struct PlacedMember {
    pub name: Box<str>,
    pub quick: Quick,
    /// The range a [`Value::Int`] passes in as is (empty for a floating or pointer member).
    min: i64,
    max: i64,
    /// A `double` member: a [`Value::Float`] passes as is.
    double: bool,
    pub slot: u8,
    pub shift: u8,
    pub mask: u64,
}

#[cfg(fast_path)]
impl PlacedMember {
    /// The member's bits in its slot, or None when `value` is not one a [`Quick`] takes.
    /// The commonest (an integer in range, a double) with one comparison of the value's tag.
    #[inline(always)]
    pub(crate) fn bits(&self, value: &Value) -> Option<u64> {
        let bits = match *value {
            Value::Int(i) if self.min <= i && i <= self.max => i as u64,
            Value::Float(f) if self.double => f.to_bits(),
            _ => self.quick.bits(value)?,
        };
        Some((bits & self.mask) << (self.shift % 64))
    }
}

#[cfg(fast_path)]
impl RecordPlan {
    /// The members placed into slots: eightbyte k of the struct goes to `slot_of(k)`. None
    /// when a member straddles two eightbytes.
    pub(crate) fn placed(&self, slot_of: impl Fn(usize) -> u8) -> Option<Vec<PlacedMember>> {
        if !self.aligned {
            return None;
        }
        Some(
            self.members
                .iter()
                .map(|m| {
                    let (min, max) = match m.quick {
                        Quick::Int { min, max } => (min, max),
                        Quick::U64 => (0, i64::MAX),
                        _ => (1, 0),
                    };
                    PlacedMember {
                        name: m.name.as_str().into(),
                        quick: m.quick,
                        min,
                        max,
                        double: m.quick == Quick::Double,
                        slot: slot_of(m.word),
                        shift: m.shift as u8,
                        mask: m.mask,
                    }
                })
                .collect(),
        )
    }
}

/// Whether two member names are equal: short ones (most are) byte by byte inline, without a
/// call to `memcmp`.
#[inline(always)]
pub(crate) fn same_name(given: &str, declared: &str) -> bool {
    let (given, declared) = (given.as_bytes(), declared.as_bytes());
    if given.len() != declared.len() {
        return false;
    }
    if given.len() > 8 {
        return given == declared;
    }
    let mut differ = 0;
    for k in 0..given.len() {
        differ |= given[k] ^ declared[k];
    }
    differ == 0
}
