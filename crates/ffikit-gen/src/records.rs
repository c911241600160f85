//! Structs and unions as `#[repr(C)]` Rust types, member by member against the C layout.
//!
//! The members are placed as rustc will place them, simulated here: where C puts a member
//! further on than Rust would (an alignment attribute, `#pragma pack` holes), explicit
//! padding bytes go before it; a run of bitfields becomes one byte array covering exactly
//! the bytes C gives it, read and written through accessors; the record's own alignment is
//! an `align(N)` where its members do not reach it. What Rust cannot mirror (a member C
//! places before Rust could, `packed` with a stronger alignment, bitfields in a union)
//! becomes an opaque blob of the right size and alignment, with a comment. Every record
//! gets compile-time assertions of its size, alignment and member offsets.

use std::fmt::Write as _;

use ffikit_cdecl::{RecordKind, Scalar, Type, TypeId};

use crate::Generator;
use crate::rust::{self, Place};

/// Bit access for bitfield storage, emitted once when a record has bitfields: little-endian
/// bit order, as gcc allocates bitfields on x86-64 and aarch64 Linux.
pub(crate) const BIT_HELPERS: &str = "#[doc(hidden)]
pub mod __ffikit_bits {
    /// `width` bits of `bytes` from bit `offset`, lowest first.
    #[inline]
    pub fn get(bytes: &[u8], offset: usize, width: usize) -> u64 {
        let mut value = 0u64;
        for i in 0..width {
            let bit = offset + i;
            if (bytes[bit / 8] >> (bit % 8)) & 1 == 1 {
                value |= 1 << i;
            }
        }
        value
    }

    /// Stores the low `width` bits of `value` at bit `offset`.
    #[inline]
    pub fn set(bytes: &mut [u8], offset: usize, width: usize, value: u64) {
        for i in 0..width {
            let bit = offset + i;
            let mask = 1u8 << (bit % 8);
            if (value >> i) & 1 == 1 {
                bytes[bit / 8] |= mask;
            } else {
                bytes[bit / 8] &= !mask;
            }
        }
    }
}

";

/// A zero value of a generated Rust type: NULL for pointers, element by element for arrays
/// (any length), `Default` for the rest (numbers, `Option`s, generated records).
fn zero(rust: &str) -> String {
    if rust.starts_with("*mut ") {
        "::std::ptr::null_mut()".into()
    } else if rust.starts_with("*const ") {
        "::std::ptr::null()".into()
    } else if let Some(inner) = rust.strip_prefix('[').and_then(|r| r.strip_suffix(']'))
        && let Some((element, len)) = inner.rsplit_once("; ")
    {
        format!("[{}; {len}]", zero(element))
    } else {
        "::std::default::Default::default()".into()
    }
}

fn round_up(value: u64, align: u64) -> u64 {
    value.div_ceil(align.max(1)) * align.max(1)
}

/// A member of the Rust record: its name, Rust type, and (for a C member) the C offset to
/// assert.
struct Member {
    name: String,
    rust: String,
    assert_offset: Option<u64>,
}

/// A bitfield's accessors: which storage member, where in it, how wide, of what type.
struct Accessor {
    name: String,
    storage: String,
    bit: u64,
    width: u32,
    rust: String,
    signed: bool,
    boolean: bool,
}

impl Generator<'_> {
    /// Whether `#[derive(Debug)]` works for the record: unions and records holding one by
    /// value do not implement `Debug`.
    fn debuggable(&self, id: TypeId, depth: u32) -> bool {
        let types = self.decls.types();
        match types.get(id) {
            Type::Record(r) => {
                let record = types.record(*r);
                record.kind == RecordKind::Struct
                    && depth < ffikit_cdecl::MAX_TYPE_DEPTH
                    && record
                        .fields
                        .iter()
                        .flatten()
                        .all(|f| self.debuggable(f.ty.ty, depth + 1))
            }
            Type::Array { element, .. } => self.debuggable(element.ty, depth + 1),
            _ => true,
        }
    }

    pub(crate) fn record(&mut self, id: TypeId) {
        let name = self.type_name(id, "");
        let c_name = self
            .decls
            .types()
            .display(ffikit_cdecl::QualType::plain(id));
        let Some((record, layout)) = self.decls.record_layout(id) else {
            let _ = writeln!(
                self.types_out,
                "/// `{c_name}`: declared, not defined (opaque).\n#[repr(C)]\n#[derive(Debug, Copy, Clone)]\npub struct {name} {{\n    _unused: [u8; 0],\n}}\n"
            );
            self.count("types");
            return;
        };
        let (record, layout) = (record.clone(), layout.clone());
        let laid_out = match record.kind {
            RecordKind::Struct => self.struct_members(&name, &record, &layout),
            RecordKind::Union => self.union_members(&name, &record, &layout),
        };
        let keyword = match record.kind {
            RecordKind::Struct => "struct",
            RecordKind::Union => "union",
        };
        let mut text = format!("/// `{c_name}`\n");
        let accessors = match laid_out {
            Ok((members, repr, accessors)) => {
                let mut derive = if self.debuggable(id, 0) {
                    "Debug, Copy, Clone".to_owned()
                } else {
                    "Copy, Clone".to_owned()
                };
                for extra in &self.options.derives {
                    derive.push_str(", ");
                    derive.push_str(extra);
                }
                let _ = writeln!(
                    text,
                    "#[repr({repr})]\n#[derive({derive})]\npub {keyword} {name} {{"
                );
                for member in &members {
                    let _ = writeln!(text, "    pub {}: {},", member.name, member.rust);
                }
                text.push_str("}\n");
                // Default: every member zero (NULL pointers), as bindgen's `derive_default`
                // gives; a union's first member.
                let zeroed: Vec<String> = members
                    .iter()
                    .take(if keyword == "union" { 1 } else { members.len() })
                    .map(|m| format!("{}: {}", m.name, zero(&m.rust)))
                    .collect();
                let _ = writeln!(
                    text,
                    "impl ::std::default::Default for {name} {{\n    fn default() -> Self {{\n        {name} {{ {} }}\n    }}\n}}",
                    zeroed.join(", ")
                );
                if self.options.layout_tests {
                    let _ = writeln!(
                        text,
                        "const _: () = {{\n    assert!(::std::mem::size_of::<{name}>() == {});\n    assert!(::std::mem::align_of::<{name}>() == {});",
                        layout.size, layout.align
                    );
                    for member in &members {
                        if let Some(offset) = member.assert_offset {
                            let _ = writeln!(
                                text,
                                "    assert!(::std::mem::offset_of!({name}, {}) == {offset});",
                                member.name
                            );
                        }
                    }
                    text.push_str("};\n");
                }
                accessors
            }
            Err(why) => {
                let _ = writeln!(
                    text,
                    "/// Opaque: {why}.\n#[repr(C, align({}))]\n#[derive(Debug, Copy, Clone)]\npub struct {name} {{\n    _opaque: [u8; {}],\n}}\nimpl ::std::default::Default for {name} {{\n    fn default() -> Self {{\n        {name} {{ _opaque: [0; {}] }}\n    }}\n}}",
                    layout.align, layout.size, layout.size
                );
                if self.options.layout_tests {
                    let _ = writeln!(
                        text,
                        "const _: () = assert!(::std::mem::size_of::<{name}>() == {} && ::std::mem::align_of::<{name}>() == {});",
                        layout.size, layout.align
                    );
                }
                Vec::new()
            }
        };
        if !accessors.is_empty() {
            let _ = writeln!(text, "impl {name} {{");
            for a in &accessors {
                let convert = if a.boolean {
                    "raw != 0".to_owned()
                } else if a.signed {
                    format!(
                        "(((raw << {shift}) as i64) >> {shift}) as {}",
                        a.rust,
                        shift = 64 - a.width
                    )
                } else {
                    format!("raw as {}", a.rust)
                };
                let _ = writeln!(
                    text,
                    "    /// The bitfield `{field}` ({width} bits).\n    #[inline]\n    pub fn {field}(&self) -> {ty} {{\n        let raw = __ffikit_bits::get(&self.{storage}, {bit}, {width});\n        {convert}\n    }}\n    /// Stores the bitfield `{field}` (its low {width} bits).\n    #[inline]\n    pub fn set_{plain}(&mut self, value: {ty}) {{\n        __ffikit_bits::set(&mut self.{storage}, {bit}, {width}, value as u64);\n    }}",
                    field = a.name,
                    plain = a.name.trim_end_matches('_'),
                    ty = a.rust,
                    storage = a.storage,
                    bit = a.bit,
                    width = a.width,
                );
            }
            text.push_str("}\n");
        }
        text.push('\n');
        self.types_out.push_str(&text);
        self.count("types");
    }

    /// The C size and alignment of a member's type.
    fn size_align(&self, ty: TypeId) -> Result<(u64, u64), String> {
        // A flexible array member takes no room; it is aligned as its elements.
        if let Type::Array { element, len: None } = self.decls.types().get(ty) {
            return Ok((0, self.size_align(element.ty)?.1));
        }
        self.decls.size_align(ty).map_err(|e| e.to_string())
    }

    fn member_name(field: &ffikit_cdecl::Field, index: usize) -> String {
        field
            .name
            .as_deref()
            .map_or_else(|| format!("__anonymous_member_{index}"), rust::identifier)
    }

    #[allow(
        clippy::type_complexity,
        reason = "members, repr and accessors, built together"
    )]
    fn struct_members(
        &mut self,
        name: &str,
        record: &ffikit_cdecl::Record,
        layout: &ffikit_cdecl::RecordLayout,
    ) -> Result<(Vec<Member>, String, Vec<Accessor>), String> {
        let fields = record.fields.clone().unwrap_or_default();
        let pack = record.pack;
        let effective = |align: u64| pack.map_or(align, |p| align.min(p));
        let mut members = Vec::new();
        let mut accessors = Vec::new();
        let mut cursor = 0u64;
        let mut natural = 1u64;
        let mut paddings = 0;
        let mut pad_to = |members: &mut Vec<Member>, cursor: &mut u64, target: u64| {
            if target > *cursor {
                paddings += 1;
                members.push(Member {
                    name: format!("_padding_{paddings}"),
                    rust: format!("[u8; {}]", target - *cursor),
                    assert_offset: None,
                });
                *cursor = target;
            }
        };
        let mut index = 0;
        let mut storages = 0;
        while index < fields.len() {
            let field = &fields[index];
            let at = layout.fields[index];
            if field.bit_width.is_some() {
                // A run of bitfields: one storage array over the bytes they occupy.
                let run_end = (index..fields.len())
                    .find(|&i| fields[i].bit_width.is_none())
                    .unwrap_or(fields.len());
                let bits: Vec<(u64, u32)> = (index..run_end)
                    .map(|i| {
                        (
                            layout.fields[i].bit_offset,
                            fields[i].bit_width.unwrap_or(0),
                        )
                    })
                    .filter(|(_, width)| *width > 0)
                    .collect();
                if let (Some(first), Some(last)) = (
                    bits.first(),
                    bits.iter().map(|(o, w)| o + u64::from(*w)).max(),
                ) {
                    let start = first.0 / 8;
                    let end = last.div_ceil(8);
                    if start < cursor {
                        return Err("a bitfield shares a byte with the member before it".into());
                    }
                    pad_to(&mut members, &mut cursor, start);
                    storages += 1;
                    let storage = format!("_bitfield_{storages}");
                    members.push(Member {
                        name: storage.clone(),
                        rust: format!("[u8; {}]", end - start),
                        assert_offset: Some(start),
                    });
                    cursor = end;
                    for (bitfield, at) in fields[index..run_end]
                        .iter()
                        .zip(&layout.fields[index..run_end])
                    {
                        let (Some(member), Some(width)) = (&bitfield.name, bitfield.bit_width)
                        else {
                            continue;
                        };
                        if width == 0 {
                            continue;
                        }
                        let types = self.decls.types();
                        let (signed, boolean) = match types.get(bitfield.ty.ty) {
                            Type::Scalar(Scalar::Bool) => (false, true),
                            Type::Scalar(s) => (s.is_signed(), false),
                            Type::Enum(e) => (types.enumeration(*e).underlying.is_signed(), false),
                            _ => return Err(format!("bitfield `{member}` has a non-integer type")),
                        };
                        let rust = self.rust_type(bitfield.ty, Place::Member, name)?;
                        accessors.push(Accessor {
                            name: rust::identifier(member),
                            storage: storage.clone(),
                            bit: at.bit_offset - start * 8,
                            width,
                            rust,
                            signed,
                            boolean,
                        });
                    }
                }
                index = run_end;
                continue;
            }
            let offset = at.bit_offset / 8;
            let (size, align) = self.size_align(field.ty.ty)?;
            let align = if field.packed { 1 } else { effective(align) };
            if field.packed && pack != Some(1) && align < self.size_align(field.ty.ty)?.1 {
                return Err("a member is packed inside a record that is not".into());
            }
            let rust_type = self.rust_type(field.ty, Place::Member, name)?;
            if round_up(cursor, align) < offset {
                pad_to(&mut members, &mut cursor, offset);
            }
            if round_up(cursor, align) != offset {
                return Err(format!(
                    "member `{}` is at offset {offset} in C, where Rust cannot place it",
                    Self::member_name(field, index)
                ));
            }
            members.push(Member {
                name: Self::member_name(field, index),
                rust: rust_type,
                assert_offset: Some(offset),
            });
            cursor = offset + size;
            natural = natural.max(align);
            index += 1;
        }
        self.close(members, accessors, cursor, natural, pack, layout, false)
    }

    #[allow(
        clippy::type_complexity,
        reason = "members, repr and accessors, built together"
    )]
    fn union_members(
        &mut self,
        name: &str,
        record: &ffikit_cdecl::Record,
        layout: &ffikit_cdecl::RecordLayout,
    ) -> Result<(Vec<Member>, String, Vec<Accessor>), String> {
        let pack = record.pack;
        let mut members = Vec::new();
        let mut cursor = 0u64;
        let mut natural = 1u64;
        for (index, field) in record.fields.iter().flatten().enumerate() {
            if field.bit_width.is_some() {
                return Err("a union with bitfields".into());
            }
            let (size, align) = self.size_align(field.ty.ty)?;
            let align = pack.map_or(align, |p| align.min(p));
            members.push(Member {
                name: Self::member_name(field, index),
                rust: self.rust_type(field.ty, Place::Member, name)?,
                assert_offset: Some(0),
            });
            cursor = cursor.max(size);
            natural = natural.max(align);
        }
        self.close(members, Vec::new(), cursor, natural, pack, layout, true)
    }

    /// The record's repr, and trailing padding where C's size is larger than Rust's would be.
    #[allow(
        clippy::too_many_arguments,
        clippy::type_complexity,
        reason = "the record's parts"
    )]
    fn close(
        &self,
        mut members: Vec<Member>,
        accessors: Vec<Accessor>,
        cursor: u64,
        natural: u64,
        pack: Option<u64>,
        layout: &ffikit_cdecl::RecordLayout,
        union: bool,
    ) -> Result<(Vec<Member>, String, Vec<Accessor>), String> {
        let mut repr = String::from("C");
        if let Some(p) = pack {
            let _ = write!(repr, ", packed({p})");
        }
        let mut align = natural;
        if layout.align > natural {
            if pack.is_some() {
                return Err("packed, yet aligned beyond its members (Rust cannot say both)".into());
            }
            let _ = write!(repr, ", align({})", layout.align);
            align = layout.align;
        }
        if round_up(cursor, align) < layout.size {
            // A union's members all start at 0: its padding member spans the whole size.
            let from = if union { 0 } else { cursor };
            members.push(Member {
                name: "_padding_end".into(),
                rust: format!("[u8; {}]", layout.size - from),
                assert_offset: None,
            });
        }
        let end = if round_up(cursor, align) < layout.size {
            layout.size
        } else {
            round_up(cursor, align)
        };
        if end != layout.size || layout.align < natural {
            return Err(format!(
                "Rust would make it {end} bytes aligned to {align}, C {} aligned to {}",
                layout.size, layout.align
            ));
        }
        Ok((members, repr, accessors))
    }
}
