//! A library's own C types, read from its DWARF debug information: functions, globals,
//! structs, unions and enums, reduced to what matters for calling them ([`Canon`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use gimli::{AttributeValue, EndianSlice, RunTimeEndian, UnitOffset, constants as dw};
use object::{Object, ObjectSection};

/// A C type as far as calling and layout care: typedefs resolved, qualifiers dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Canon {
    Void,
    Bool,
    Int {
        size: u64,
        signed: bool,
    },
    Float(u64),
    Complex(u64),
    Pointer(Box<Canon>),
    Record {
        union: bool,
        tag: Option<String>,
        size: u64,
    },
    Enum {
        tag: Option<String>,
        size: u64,
    },
    Array(Box<Canon>, Option<u64>),
    Function,
    Unknown,
}

impl Canon {
    /// Whether values of the two types are passed the same way and mean the same: equal, or
    /// pointers where one side is `void *`.
    pub fn compatible(&self, other: &Canon) -> bool {
        match (self, other) {
            (Canon::Pointer(a), Canon::Pointer(b)) => {
                **a == Canon::Void || **b == Canon::Void || a.compatible(b)
            }
            (Canon::Enum { size: a, .. }, Canon::Int { size: b, .. })
            | (Canon::Int { size: b, .. }, Canon::Enum { size: a, .. }) => a == b,
            (Canon::Array(a, n), Canon::Array(b, m)) => n == m && a.compatible(b),
            // An incomplete declaration (size 0) of a tagged struct matches its definition.
            (
                Canon::Record {
                    union: u1,
                    tag: Some(t1),
                    size: s1,
                },
                Canon::Record {
                    union: u2,
                    tag: Some(t2),
                    size: s2,
                },
            ) => u1 == u2 && t1 == t2 && (s1 == s2 || *s1 == 0 || *s2 == 0),
            _ => self == other,
        }
    }
}

impl fmt::Display for Canon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Canon::Void => f.write_str("void"),
            Canon::Bool => f.write_str("_Bool"),
            Canon::Int { size, signed } => {
                let name = match size {
                    1 => "char",
                    2 => "short",
                    4 => "int",
                    8 => "long",
                    _ => "__int128",
                };
                if *signed {
                    f.write_str(name)
                } else {
                    write!(f, "unsigned {name}")
                }
            }
            Canon::Float(4) => f.write_str("float"),
            Canon::Float(8) => f.write_str("double"),
            Canon::Float(_) => f.write_str("long double"),
            Canon::Complex(size) => write!(f, "{} _Complex", Canon::Float(size / 2)),
            Canon::Pointer(to) => write!(f, "{to} *"),
            Canon::Record { union, tag, size } => {
                let keyword = if *union { "union" } else { "struct" };
                match tag {
                    Some(tag) => write!(f, "{keyword} {tag}"),
                    None => write!(f, "{keyword} <anonymous, {size} bytes>"),
                }
            }
            Canon::Enum { tag: Some(tag), .. } => write!(f, "enum {tag}"),
            Canon::Enum { tag: None, .. } => f.write_str("enum <anonymous>"),
            Canon::Array(of, Some(n)) => write!(f, "{of}[{n}]"),
            Canon::Array(of, None) => write!(f, "{of}[]"),
            Canon::Function => f.write_str("a function"),
            Canon::Unknown => f.write_str("<unknown>"),
        }
    }
}

/// A function as the library's debug information describes it.
#[derive(Debug, Clone)]
pub(crate) struct DebugFunction {
    pub params: Vec<Canon>,
    pub result: Canon,
    pub variadic: bool,
}

/// A struct or union member.
#[derive(Debug, Clone)]
pub(crate) struct DebugMember {
    pub name: String,
    pub bit_offset: u64,
    pub bit_size: Option<u64>,
    pub ty: Canon,
}

/// A struct or union.
#[derive(Debug, Clone)]
pub(crate) struct DebugRecord {
    pub size: u64,
    pub members: Vec<DebugMember>,
}

/// Everything read from the DWARF.
#[derive(Debug, Default)]
pub(crate) struct DebugInfo {
    pub functions: HashMap<String, DebugFunction>,
    pub variables: HashMap<String, Canon>,
    pub records: HashMap<(bool, String), DebugRecord>,
    pub enums: HashMap<String, Vec<(String, i64)>>,
}

type Reader<'a> = EndianSlice<'a, RunTimeEndian>;
type Unit<'a> = gimli::Unit<Reader<'a>>;
type Dwarf<'a> = gimli::Dwarf<Reader<'a>>;

/// Reads the DWARF of `path` (`None` if it has none).
pub(crate) fn read(path: &Path) -> Result<Option<DebugInfo>, String> {
    let data = crate::elf::read_file(path).map_err(|e| e.to_string())?;
    let file = object::File::parse(&*data).map_err(|e| e.to_string())?;
    if file.section_by_name(".debug_info").is_none() {
        return Ok(None);
    }
    let endian = if file.is_little_endian() {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    };
    let sections = gimli::DwarfSections::load(|id| -> Result<Cow<'_, [u8]>, gimli::Error> {
        Ok(file
            .section_by_name(id.name())
            .and_then(|s| s.uncompressed_data().ok())
            .unwrap_or(Cow::Borrowed(&[])))
    })
    .map_err(|e| e.to_string())?;
    let dwarf = sections.borrow(|section| EndianSlice::new(section, endian));
    let mut info = DebugInfo::default();
    let mut units = dwarf.units();
    while let Some(header) = units.next().map_err(|e| e.to_string())? {
        let unit = dwarf.unit(header).map_err(|e| e.to_string())?;
        read_unit(&dwarf, &unit, &mut info).map_err(|e| e.to_string())?;
    }
    Ok(Some(info))
}

fn name(
    dwarf: &Dwarf<'_>,
    unit: &Unit<'_>,
    entry: &gimli::DebuggingInformationEntry<Reader<'_>>,
) -> Option<String> {
    let value = entry.attr_value(dw::DW_AT_name)?;
    let text = dwarf.attr_string(unit, value).ok()?;
    Some(text.to_string_lossy().into_owned())
}

fn flag(entry: &gimli::DebuggingInformationEntry<Reader<'_>>, at: gimli::DwAt) -> bool {
    matches!(entry.attr_value(at), Some(AttributeValue::Flag(true)))
}

fn type_of(entry: &gimli::DebuggingInformationEntry<Reader<'_>>) -> Option<UnitOffset> {
    match entry.attr_value(dw::DW_AT_type)? {
        AttributeValue::UnitRef(offset) => Some(offset),
        _ => None,
    }
}

fn udata(entry: &gimli::DebuggingInformationEntry<Reader<'_>>, at: gimli::DwAt) -> Option<u64> {
    entry.attr_value(at)?.udata_value()
}

fn read_unit(dwarf: &Dwarf<'_>, unit: &Unit<'_>, info: &mut DebugInfo) -> gimli::Result<()> {
    let mut tree = unit.entries_tree(None)?;
    let root = tree.root()?;
    let mut children = root.children();
    while let Some(node) = children.next()? {
        let entry = node.entry().clone();
        let tag = entry.tag();
        let entry_name = name(dwarf, unit, &entry);
        match tag {
            dw::DW_TAG_subprogram if flag(&entry, dw::DW_AT_external) => {
                let Some(function_name) = entry_name else {
                    continue;
                };
                let result = type_of(&entry).map_or(Canon::Void, |t| canon(dwarf, unit, t, 0));
                let mut params = Vec::new();
                let mut variadic = false;
                let mut parts = node.children();
                while let Some(part) = parts.next()? {
                    match part.entry().tag() {
                        dw::DW_TAG_formal_parameter => {
                            params.push(
                                type_of(part.entry())
                                    .map_or(Canon::Unknown, |t| canon(dwarf, unit, t, 0)),
                            );
                        }
                        dw::DW_TAG_unspecified_parameters => variadic = true,
                        _ => {}
                    }
                }
                info.functions
                    .entry(function_name)
                    .or_insert(DebugFunction {
                        params,
                        result,
                        variadic,
                    });
            }
            dw::DW_TAG_variable if flag(&entry, dw::DW_AT_external) => {
                let Some(variable) = entry_name else { continue };
                let ty = type_of(&entry).map_or(Canon::Unknown, |t| canon(dwarf, unit, t, 0));
                info.variables.entry(variable).or_insert(ty);
            }
            dw::DW_TAG_structure_type | dw::DW_TAG_union_type
                if !flag(&entry, dw::DW_AT_declaration) =>
            {
                let Some(record_tag) = entry_name else {
                    continue;
                };
                let size = udata(&entry, dw::DW_AT_byte_size).unwrap_or(0);
                let mut members = Vec::new();
                let mut parts = node.children();
                while let Some(part) = parts.next()? {
                    let member = part.entry();
                    if member.tag() != dw::DW_TAG_member {
                        continue;
                    }
                    let Some(member_name) = name(dwarf, unit, member) else {
                        continue;
                    };
                    let byte = udata(member, dw::DW_AT_data_member_location).unwrap_or(0);
                    let bit_size = udata(member, dw::DW_AT_bit_size);
                    let bit_offset = match (
                        udata(member, dw::DW_AT_data_bit_offset),
                        udata(member, dw::DW_AT_bit_offset),
                    ) {
                        (Some(bits), _) => bits,
                        // DWARF 2-4 bitfields count from the storage unit's most significant
                        // bit: convert to little-endian bit numbering.
                        (None, Some(from_msb)) => {
                            let unit_bits = udata(member, dw::DW_AT_byte_size).unwrap_or(4) * 8;
                            byte * 8 + unit_bits - from_msb - bit_size.unwrap_or(0)
                        }
                        (None, None) => byte * 8,
                    };
                    members.push(DebugMember {
                        name: member_name,
                        bit_offset,
                        bit_size,
                        ty: type_of(member).map_or(Canon::Unknown, |t| canon(dwarf, unit, t, 0)),
                    });
                }
                let union = tag == dw::DW_TAG_union_type;
                info.records
                    .entry((union, record_tag))
                    .or_insert(DebugRecord { size, members });
            }
            dw::DW_TAG_enumeration_type if !flag(&entry, dw::DW_AT_declaration) => {
                let Some(enum_tag) = entry_name else { continue };
                let mut values = Vec::new();
                let mut parts = node.children();
                while let Some(part) = parts.next()? {
                    let enumerator = part.entry();
                    if enumerator.tag() != dw::DW_TAG_enumerator {
                        continue;
                    }
                    let value = enumerator.attr_value(dw::DW_AT_const_value);
                    let value = value.and_then(|v| {
                        v.sdata_value()
                            .or_else(|| v.udata_value().map(|u| u as i64))
                    });
                    if let (Some(enumerator_name), Some(value)) =
                        (name(dwarf, unit, enumerator), value)
                    {
                        values.push((enumerator_name, value));
                    }
                }
                info.enums.entry(enum_tag).or_insert(values);
            }
            _ => {}
        }
    }
    Ok(())
}

/// The canonical form of the type at `offset`.
fn canon(dwarf: &Dwarf<'_>, unit: &Unit<'_>, offset: UnitOffset, depth: usize) -> Canon {
    if depth > 32 {
        return Canon::Unknown;
    }
    let Ok(entry) = unit.entry(offset) else {
        return Canon::Unknown;
    };
    let inner = |entry: &gimli::DebuggingInformationEntry<Reader<'_>>| {
        type_of(entry).map_or(Canon::Void, |t| canon(dwarf, unit, t, depth + 1))
    };
    let size = udata(&entry, dw::DW_AT_byte_size).unwrap_or(0);
    match entry.tag() {
        dw::DW_TAG_base_type => match entry.attr_value(dw::DW_AT_encoding) {
            Some(AttributeValue::Encoding(dw::DW_ATE_boolean)) => Canon::Bool,
            Some(AttributeValue::Encoding(dw::DW_ATE_float)) => Canon::Float(size),
            Some(AttributeValue::Encoding(dw::DW_ATE_complex_float)) => Canon::Complex(size),
            Some(AttributeValue::Encoding(dw::DW_ATE_signed | dw::DW_ATE_signed_char)) => {
                Canon::Int { size, signed: true }
            }
            Some(AttributeValue::Encoding(dw::DW_ATE_unsigned | dw::DW_ATE_unsigned_char)) => {
                Canon::Int {
                    size,
                    signed: false,
                }
            }
            _ => Canon::Unknown,
        },
        dw::DW_TAG_pointer_type => Canon::Pointer(Box::new(inner(&entry))),
        dw::DW_TAG_const_type
        | dw::DW_TAG_volatile_type
        | dw::DW_TAG_restrict_type
        | dw::DW_TAG_atomic_type
        | dw::DW_TAG_typedef => inner(&entry),
        dw::DW_TAG_structure_type | dw::DW_TAG_union_type => Canon::Record {
            union: entry.tag() == dw::DW_TAG_union_type,
            tag: name(dwarf, unit, &entry),
            size,
        },
        dw::DW_TAG_enumeration_type => Canon::Enum {
            tag: name(dwarf, unit, &entry),
            size,
        },
        dw::DW_TAG_subroutine_type => Canon::Function,
        dw::DW_TAG_array_type => {
            let element = inner(&entry);
            let count = unit.entries_tree(Some(offset)).ok().and_then(|mut tree| {
                let root = tree.root().ok()?;
                let mut children = root.children();
                let subrange = children.next().ok()??;
                let entry = subrange.entry();
                udata(entry, dw::DW_AT_count)
                    .or_else(|| udata(entry, dw::DW_AT_upper_bound).map(|u| u + 1))
            });
            Canon::Array(Box::new(element), count)
        }
        _ => Canon::Unknown,
    }
}
