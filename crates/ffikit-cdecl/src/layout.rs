//! Sizes, alignments and member offsets as gcc computes them for x86-64 (and aarch64) Linux:
//! the System V rules, gcc's bitfield placement, `__attribute__((packed))`, `#pragma pack(n)`
//! and `__attribute__((aligned(n)))`.

use crate::ctype::{Field, FieldLayout, RecordKind, RecordLayout, Type, TypeId, TypeTable};

impl TypeTable {
    /// Gives a declared record its members and computes its layout.
    ///
    /// # Errors
    ///
    /// A member of incomplete type (other than a final flexible array), or a bitfield that does
    /// not fit its type.
    pub fn complete_record(
        &mut self,
        id: TypeId,
        fields: Vec<Field>,
        pack: Option<u64>,
        aligned: Option<u64>,
    ) -> Result<(), LayoutError> {
        let kind = self.record_kind(id);
        let layout = layout_record(self, kind, &fields, pack, aligned)?;
        self.set_record_members(id, fields, pack, aligned, layout);
        Ok(())
    }
}

/// Why a layout cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// The type has no size: void, a function, an incomplete struct/union or array.
    #[error("type `{0}` is incomplete: it has no size")]
    Incomplete(String),
    /// A bitfield of a type that is not an integer.
    #[error("bitfield `{field}` has type `{ty}`, which is not an integer type")]
    BitfieldType {
        /// The member.
        field: String,
        /// Its type.
        ty: String,
    },
    /// A bitfield wider than its type.
    #[error("bitfield `{field}` is {width} bits wide, wider than its type ({bits} bits)")]
    BitfieldTooWide {
        /// The member.
        field: String,
        /// Its width.
        width: u32,
        /// The type's width.
        bits: u64,
    },
    /// A zero-width bitfield with a name.
    #[error("bitfield `{0}` has zero width: only unnamed bitfields may")]
    NamedZeroWidth(String),
    /// A flexible array member that is not the last member of a struct.
    #[error("flexible array member `{0}` is not the last member of a struct")]
    FlexibleNotLast(String),
    /// A size past what fits in 64 bits.
    #[error("type `{0}` is too large")]
    TooLarge(String),
}

/// (size, alignment) of a complete type.
///
/// # Errors
///
/// [`LayoutError::Incomplete`] for void, functions, incomplete records and `[]` arrays.
pub fn size_align(table: &TypeTable, ty: TypeId) -> Result<(u64, u64), LayoutError> {
    let incomplete = || LayoutError::Incomplete(table.display(ty));
    match table.get(ty) {
        Type::Void | Type::Function(_) => Err(incomplete()),
        Type::Scalar(s) => Ok(s.size_align()),
        Type::Pointer(_) => Ok((8, 8)),
        Type::VaList => Ok((24, 8)),
        Type::Array { element, len } => {
            let len = len.ok_or_else(incomplete)?;
            let (size, align) = size_align(table, element.ty)?;
            let total = size
                .checked_mul(len)
                .filter(|&total| total < 1 << 60)
                .ok_or_else(|| LayoutError::TooLarge(table.display(ty)))?;
            Ok((total, align))
        }
        Type::Record(r) => table
            .record(*r)
            .layout
            .as_ref()
            .map(|l| (l.size, l.align))
            .ok_or_else(incomplete),
        Type::Enum(e) => Ok(table.enumeration(*e).underlying.size_align()),
    }
}

fn align_up(value: u64, align: u64) -> u64 {
    // Sizes are kept below 2^60 bytes (see `to_bits`), so this cannot overflow.
    value.div_ceil(align) * align
}

/// Bytes to bits, refusing sizes so large that bit offsets would overflow.
fn to_bits(bytes: u64, what: impl FnOnce() -> String) -> Result<u64, LayoutError> {
    if bytes >= 1 << 60 {
        return Err(LayoutError::TooLarge(what()));
    }
    Ok(bytes * 8)
}

/// Lays out a struct or union's members (gcc, System V psABI).
pub(crate) fn layout_record(
    table: &TypeTable,
    kind: RecordKind,
    fields: &[Field],
    pack: Option<u64>,
    aligned: Option<u64>,
) -> Result<RecordLayout, LayoutError> {
    let mut bit_cursor = 0u64; // struct: next free bit
    let mut union_size_bits = 0u64;
    let mut align = 1u64;
    let mut layouts = Vec::with_capacity(fields.len());
    let name_of = |f: &Field| f.name.clone().unwrap_or_else(|| "<anonymous>".into());

    for (index, field) in fields.iter().enumerate() {
        let is_last = index + 1 == fields.len();
        let flexible = matches!(table.get(field.ty.ty), Type::Array { len: None, .. });
        let (size, natural_align) = if flexible && kind == RecordKind::Struct {
            if !is_last {
                return Err(LayoutError::FlexibleNotLast(name_of(field)));
            }
            let Type::Array { element, .. } = table.get(field.ty.ty) else {
                unreachable!()
            };
            (0, size_align(table, element.ty)?.1)
        } else {
            size_align(table, field.ty.ty)?
        };
        let size_bits = to_bits(size, || name_of(field))?;
        // Alignment after packing: pack caps it, a member's own aligned(n) raises it again.
        let mut field_align = match pack {
            _ if field.packed => 1,
            Some(p) => natural_align.min(p),
            None => natural_align,
        };
        if let Some(a) = field.aligned {
            field_align = field_align.max(a);
        }

        if let Some(width) = field.bit_width {
            let is_integer = match table.get(field.ty.ty) {
                Type::Scalar(s) => s.is_integer(),
                Type::Enum(_) => true,
                _ => false,
            };
            if !is_integer {
                return Err(LayoutError::BitfieldType {
                    field: name_of(field),
                    ty: table.display(field.ty),
                });
            }
            if u64::from(width) > size_bits {
                return Err(LayoutError::BitfieldTooWide {
                    field: name_of(field),
                    width,
                    bits: size_bits,
                });
            }
            if width == 0 {
                if field.name.is_some() {
                    return Err(LayoutError::NamedZeroWidth(name_of(field)));
                }
                // `int : 0` closes the current unit: the next member starts at the next
                // boundary of its type's alignment. It does not align the record.
                if kind == RecordKind::Struct {
                    bit_cursor = align_up(bit_cursor, natural_align * 8);
                }
                layouts.push(FieldLayout {
                    bit_offset: bit_cursor,
                    bit_width: Some(0),
                });
                continue;
            }
            let width = u64::from(width);
            let offset = match kind {
                RecordKind::Union => 0,
                // Packed (by attribute or by any #pragma pack): bit after bit, straddling.
                RecordKind::Struct
                    if (pack.is_some() || field.packed) && field.aligned.is_none() =>
                {
                    bit_cursor
                }
                RecordKind::Struct => {
                    // A bitfield may not straddle a boundary of its type's alignment unit; if
                    // it would, it starts at the next one.
                    let unit = field_align * 8;
                    let start = bit_cursor - bit_cursor % unit;
                    if bit_cursor + width > start + size_bits.max(unit) {
                        align_up(bit_cursor, unit)
                    } else {
                        bit_cursor
                    }
                }
            };
            if field.name.is_some() {
                align = align.max(field_align);
            }
            bit_cursor = offset + width;
            union_size_bits = union_size_bits.max(width);
            layouts.push(FieldLayout {
                bit_offset: offset,
                bit_width: Some(width as u32),
            });
            continue;
        }

        align = align.max(field_align);
        let offset = match kind {
            RecordKind::Union => 0,
            RecordKind::Struct => align_up(bit_cursor, field_align * 8),
        };
        bit_cursor = offset + size_bits;
        to_bits(bit_cursor / 8, || name_of(field))?;
        union_size_bits = union_size_bits.max(size_bits);
        layouts.push(FieldLayout {
            bit_offset: offset,
            bit_width: None,
        });
    }

    if let Some(a) = aligned {
        align = align.max(a);
    }
    let used_bits = match kind {
        RecordKind::Struct => bit_cursor,
        RecordKind::Union => union_size_bits,
    };
    let size = align_up(used_bits.div_ceil(8), align);
    Ok(RecordLayout {
        size,
        align,
        fields: layouts,
    })
}
