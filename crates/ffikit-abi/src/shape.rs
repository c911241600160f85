//! [`Shape`]: a declared C type resolved into what conversions and lowering need — sizes,
//! signedness, member offsets — so a bound function no longer needs the declarations.

use ffikit_cdecl::{Declarations, QualType, RecordKind, Scalar, Type};

use crate::error::Error;

/// What a pointer points to, as far as conversions care.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Pointee {
    /// `char`, `signed char`, `unsigned char`: strings and byte buffers C may write.
    Char,
    /// The same, `const`: strings C only reads (a [`Value::CString`](crate::Value::CString)
    /// goes in as it is, without a copy).
    ConstChar,
    /// `void`.
    Void,
    /// A function: a callback.
    Function,
    /// Anything else.
    Other,
}

impl Pointee {
    /// Characters, const or not: what strings are passed to.
    pub(crate) fn is_char(&self) -> bool {
        matches!(self, Pointee::Char | Pointee::ConstChar)
    }
}

/// One member of a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Member {
    pub name: Option<String>,
    pub offset: u64,
    pub shape: Shape,
    /// (bit offset from `offset`, width) for bitfields.
    pub bits: Option<(u32, u32)>,
}

/// A resolved C type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Shape {
    Void,
    Bool,
    Int {
        size: u8,
        signed: bool,
    },
    Float,
    Double,
    LongDouble,
    Complex {
        /// The size of one part: 4, 8 or 16.
        part: u8,
    },
    Pointer(Pointee),
    Record {
        union: bool,
        size: u64,
        align: u64,
        members: Vec<Member>,
        /// Why it cannot be passed by value, if it cannot (bitfields, misaligned packing).
        not_by_value: Option<String>,
    },
    Array {
        element: Box<Shape>,
        len: u64,
    },
    /// `__builtin_va_list` and other types only usable behind a pointer.
    Opaque {
        size: u64,
        align: u64,
    },
}

impl Shape {
    /// A 64-bit digest of the type, for telling a C object's type from a parameter's with
    /// one comparison (equal types have equal digests; the general conversions compare the
    /// types themselves).
    pub(crate) fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        self.hash(&mut hasher);
        hasher.finish()
    }

    /// Whether a pointer is anywhere in it (a C object holding one carries raw addresses).
    pub(crate) fn holds_pointers(&self) -> bool {
        match self {
            Shape::Pointer(_) => true,
            Shape::Record { members, .. } => members.iter().any(|m| m.shape.holds_pointers()),
            Shape::Array { element, .. } => element.holds_pointers(),
            _ => false,
        }
    }

    /// (size, alignment) in bytes.
    pub fn size_align(&self) -> (u64, u64) {
        match self {
            Shape::Void => (0, 1),
            Shape::Bool => (1, 1),
            Shape::Int { size, .. } => (u64::from(*size), u64::from(*size)),
            Shape::Float => (4, 4),
            Shape::Double => (8, 8),
            Shape::LongDouble => (16, 16),
            Shape::Complex { part } => (2 * u64::from(*part), u64::from(*part)),
            Shape::Pointer(_) => (8, 8),
            Shape::Record { size, align, .. } | Shape::Opaque { size, align } => (*size, *align),
            Shape::Array { element, len } => {
                let (size, align) = element.size_align();
                (size * len, align)
            }
        }
    }
}

/// A type with its C spelling, for messages.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Typed {
    pub shape: Shape,
    pub c_name: String,
}

/// Resolves a declared type.
pub(crate) fn resolve(decls: &Declarations, ty: QualType) -> Result<Typed, Error> {
    Ok(Typed {
        shape: shape_of(decls, ty, 0)?,
        c_name: decls.types().display(ty),
    })
}

fn unsupported(decls: &Declarations, ty: QualType, reason: &str) -> Error {
    Error::UnsupportedType {
        ty: decls.types().display(ty),
        reason: reason.into(),
    }
}

fn shape_of(decls: &Declarations, ty: QualType, depth: usize) -> Result<Shape, Error> {
    if depth > 64 {
        return Err(unsupported(decls, ty, "nested too deeply"));
    }
    let types = decls.types();
    Ok(match types.get(ty.ty) {
        Type::Void => Shape::Void,
        Type::Scalar(scalar) => scalar_shape(*scalar)
            .ok_or_else(|| unsupported(decls, ty, "128-bit integers have no libffi type"))?,
        Type::Enum(e) => {
            let underlying = types.enumeration(*e).underlying;
            scalar_shape(underlying).expect("enums have ordinary integer types")
        }
        Type::Pointer(pointee) => Shape::Pointer(match types.get(pointee.ty) {
            Type::Scalar(Scalar::Char | Scalar::SChar | Scalar::UChar)
                if pointee.quals.contains(ffikit_cdecl::Qualifiers::CONST) =>
            {
                Pointee::ConstChar
            }
            Type::Scalar(Scalar::Char | Scalar::SChar | Scalar::UChar) => Pointee::Char,
            Type::Void => Pointee::Void,
            Type::Function(_) => Pointee::Function,
            _ => Pointee::Other,
        }),
        Type::Array { element, len } => {
            let len = len.ok_or_else(|| unsupported(decls, ty, "an array without a size"))?;
            Shape::Array {
                element: Box::new(shape_of(decls, *element, depth + 1)?),
                len,
            }
        }
        Type::Function(_) => {
            return Err(unsupported(
                decls,
                ty,
                "a function type is not a value (use a pointer)",
            ));
        }
        Type::VaList => Shape::Opaque { size: 24, align: 8 },
        Type::Record(_) => {
            let Some((record, layout)) = decls.record_layout(ty.ty) else {
                return Err(unsupported(decls, ty, "the struct or union is incomplete"));
            };
            let mut members = Vec::new();
            let mut not_by_value = None;
            for (field, place) in record.fields.iter().flatten().zip(&layout.fields) {
                let flexible = matches!(types.get(field.ty.ty), Type::Array { len: None, .. });
                if flexible {
                    not_by_value = Some("it ends with a flexible array member".to_owned());
                    continue;
                }
                let shape = shape_of(decls, field.ty, depth + 1)?;
                let (_, natural_align) = shape.size_align();
                let bits = place
                    .bit_width
                    .map(|width| ((place.bit_offset % 8) as u32, width));
                if bits.is_some() {
                    not_by_value = Some(
                        "it has bitfields, whose by-value passing libffi cannot describe; pass it by pointer".to_owned(),
                    );
                } else if place.offset() % natural_align != 0 {
                    not_by_value = Some(
                        "it is packed with misaligned members (passed in memory by gcc, which libffi cannot describe); pass it by pointer".to_owned(),
                    );
                }
                if bits.is_some() && place.bit_width == Some(0) {
                    continue;
                }
                members.push(Member {
                    name: field.name.clone(),
                    offset: place.offset(),
                    shape,
                    bits,
                });
            }
            if not_by_value.is_none() && record.kind == RecordKind::Struct {
                // Over-alignment or padding gcc adds that libffi would not: compare with the
                // layout libffi computes from the members alone.
                let mut offset = 0u64;
                let mut align = 1u64;
                let mut natural = true;
                for member in &members {
                    let (size, member_align) = member.shape.size_align();
                    offset = offset.div_ceil(member_align) * member_align;
                    natural &= offset == member.offset;
                    offset += size;
                    align = align.max(member_align);
                }
                let size = offset.div_ceil(align) * align;
                if !natural || size != layout.size || align != layout.align {
                    not_by_value = Some(
                        "its alignment attributes give it a layout libffi cannot describe; pass it by pointer".to_owned(),
                    );
                }
            }
            Shape::Record {
                union: record.kind == RecordKind::Union,
                size: layout.size,
                align: layout.align,
                members,
                not_by_value,
            }
        }
        _ => return Err(unsupported(decls, ty, "not supported by ABI mode")),
    })
}

fn scalar_shape(scalar: Scalar) -> Option<Shape> {
    use Scalar::*;
    Some(match scalar {
        Bool => Shape::Bool,
        Float => Shape::Float,
        Double => Shape::Double,
        // Only where ffikit knows this target's `long double` format (x87, binary128).
        LongDouble if crate::long_double::SUPPORTED => Shape::LongDouble,
        ComplexFloat => Shape::Complex { part: 4 },
        ComplexDouble => Shape::Complex { part: 8 },
        ComplexLongDouble if crate::long_double::SUPPORTED => Shape::Complex { part: 16 },
        LongDouble | ComplexLongDouble | Int128 | UInt128 => return None,
        other => Shape::Int {
            size: other.size_align().0 as u8,
            signed: other.is_signed(),
        },
    })
}

/// The most bytes a call passes by value — all its arguments together, or its result — and a
/// callback receives: 64 KiB. Values passed by value are copied onto the C stack, so a
/// hostile declaration (`struct big { char b[1 << 30]; }` by value) would overflow it; no
/// real interface comes near.
pub const MAX_BY_VALUE: u64 = 64 << 10;

/// Refuses a signature passing more than [`MAX_BY_VALUE`] bytes by value.
pub(crate) fn check_by_value<'s>(
    name: &str,
    params: impl IntoIterator<Item = &'s Shape>,
    result: &Shape,
) -> Result<(), Error> {
    let arguments: u64 = params
        .into_iter()
        .map(|shape| shape.size_align().0.next_multiple_of(8))
        .fold(0, u64::saturating_add);
    for (size, what) in [
        (arguments, "its arguments"),
        (result.size_align().0, "its result"),
    ] {
        if size > MAX_BY_VALUE {
            return Err(Error::TooLarge {
                what: format!("`{name}`: {what} by value"),
                size,
                limit_what: "passes by value",
                limit: MAX_BY_VALUE,
            });
        }
    }
    Ok(())
}
