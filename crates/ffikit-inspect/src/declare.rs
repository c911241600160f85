//! C declarations written from a library's own DWARF: what a header would have said about its
//! exported functions and globals and the types they use — for a library that comes without
//! one (`ffikit bindings libfoo.so`). Parsed back by ffikit-cdecl, and checked against the
//! same DWARF (sizes and member offsets) by the caller.
//!
//! What DWARF does not say precisely enough to declare is left out, each with the reason: a
//! function pointer's signature is not kept (a member or parameter of that type is declared
//! `void *`, the same ABI); a record with an anonymous struct or union member is declared
//! incomplete (functions taking it by value are left out).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::SymbolKind;
use crate::debuginfo::{Canon, DebugInfo, DebugRecord};

/// The declarations, and what was left out with why.
#[derive(Debug, Default)]
pub struct DeclaredFromDwarf {
    /// C declaration text for ffikit-cdecl.
    pub text: String,
    /// (name, why) for what could not be declared.
    pub omitted: Vec<(String, String)>,
}

/// `canon` declaring `name` (`""` for an abstract declarator).
fn declare(canon: &Canon, name: &str) -> Result<String, String> {
    Ok(match canon {
        Canon::Pointer(inner) => match &**inner {
            // The signature of a function pointer is not kept: the same ABI as `void *`.
            Canon::Function => format!("void *{name}"),
            Canon::Array(..) => declare(inner, &format!("(*{name})"))?,
            _ => declare(inner, &format!("*{name}"))?,
        },
        Canon::Array(of, Some(n)) => declare(of, &format!("{name}[{n}]"))?,
        Canon::Array(of, None) => declare(of, &format!("{name}[]"))?,
        Canon::Record { tag: None, .. } | Canon::Enum { tag: None, .. } => {
            return Err("an anonymous struct, union or enum".into());
        }
        Canon::Function => return Err("a function type".into()),
        Canon::Unknown => return Err("a type DWARF does not describe".into()),
        Canon::Int {
            size: 1,
            signed: true,
        } => format!("signed char {name}"),
        other => format!("{other} {name}"),
    }
    .trim_end()
    .to_owned())
}

/// What became of one record.
enum Defined {
    /// Its definition, laid out as the DWARF says.
    Text(String),
    /// Nothing to define (size 0: DWARF's own declaration).
    Skip,
    /// It uses a record not defined yet.
    Later(String),
    /// It cannot be declared, and why.
    Incomplete(String),
}

/// Defines one record in `scratch`, trying the packings and alignments that could give the
/// DWARF's layout.
fn define_record(
    union: bool,
    tag: &str,
    record: &DebugRecord,
    scratch: &mut ffikit_cdecl::Declarations,
    serial: usize,
) -> Defined {
    if record.size == 0 {
        return Defined::Skip;
    }
    let keyword = if union { "union" } else { "struct" };
    let mut body = String::new();
    for member in &record.members {
        match declare(&member.ty, &member.name) {
            Ok(text) => {
                let _ = write!(body, "    {text}");
                if let Some(bits) = member.bit_size {
                    let _ = write!(body, " : {bits}");
                }
                body.push_str(";\n");
            }
            Err(why) => return Defined::Incomplete(format!("member `{}` is {why}", member.name)),
        }
    }
    let candidates = |tag: &str| {
        let plain = format!("{keyword} {tag} {{\n{body}}}");
        let mut all = vec![
            format!("{plain};\n"),
            format!("{plain} __attribute__((packed));\n"),
        ];
        for pack in [1, 2, 4, 8] {
            all.push(format!(
                "#pragma pack(push, {pack})\n{plain};\n#pragma pack(pop)\n"
            ));
        }
        for align in [8, 16, 32, 64, 128, 256, 4096] {
            all.push(format!("{plain} __attribute__((aligned({align})));\n"));
        }
        all
    };
    // Each candidate is laid out under a probe tag first (a failed `cdef` declares nothing,
    // a probe only adds a tag nobody uses): linear, no copy of the declarations.
    let probe = format!("__ffikit_probe_{serial}_{tag}");
    let mut last_error = String::new();
    for index in 0..candidates(tag).len() {
        let probe = format!("{probe}_{index}");
        let candidate = candidates(&probe).swap_remove(index);
        if let Err(error) = scratch.cdef(&candidate) {
            last_error = error.message().to_owned();
            if error.kind() == ffikit_cdecl::ErrorKind::Incomplete {
                return Defined::Later(last_error);
            }
            continue;
        }
        let id = if union {
            scratch.union_tag(&probe)
        } else {
            scratch.struct_tag(&probe)
        };
        let Some((_, layout)) = id.and_then(|id| scratch.record_layout(id)) else {
            continue;
        };
        let offsets_agree = layout.fields.len() == record.members.len()
            && layout
                .fields
                .iter()
                .zip(&record.members)
                .all(|(ours, theirs)| ours.bit_offset == theirs.bit_offset);
        if layout.size == record.size && offsets_agree {
            let real = candidates(tag).swap_remove(index);
            return match scratch.cdef(&real) {
                Ok(_) => Defined::Text(real),
                Err(error) => Defined::Incomplete(error.message().to_owned()),
            };
        }
    }
    Defined::Incomplete(if last_error.is_empty() {
        "no packing or alignment gives the debug information's layout".into()
    } else {
        last_error
    })
}

/// Whether `canon` is a record or enum passed by value that was not declared in full.
fn by_value_unknown(canon: &Canon, incomplete: &[String]) -> Option<String> {
    match canon {
        Canon::Record { tag: Some(tag), .. } if incomplete.contains(tag) => Some(tag.clone()),
        _ => None,
    }
}

/// The record a member of type `ty` holds by value (itself, or as an array's items).
fn held_record(ty: &Canon) -> Option<(bool, String)> {
    match ty {
        Canon::Record {
            union,
            tag: Some(tag),
            ..
        } => Some((*union, tag.clone())),
        Canon::Array(item, _) => held_record(item),
        _ => None,
    }
}

/// The records, each after those it holds by value (a depth-first walk with its own stack:
/// linear, and no recursion however deep the chain; a cycle, which only hostile DWARF has,
/// is cut where it closes).
fn dependency_order<'a>(
    info: &'a DebugInfo,
    records: &BTreeMap<&'a (bool, String), &'a DebugRecord>,
) -> Vec<(&'a (bool, String), &'a DebugRecord)> {
    let mut seen = std::collections::HashSet::new();
    let mut order = Vec::with_capacity(records.len());
    for (&key, &record) in records {
        if !seen.insert(key) {
            continue;
        }
        let mut stack = vec![(key, record, 0usize)];
        while let Some((key, record, next)) = stack.last_mut() {
            let Some(member) = record.members.get(*next) else {
                order.push((*key, *record));
                stack.pop();
                continue;
            };
            *next += 1;
            let held = held_record(&member.ty).and_then(|held| info.records.get_key_value(&held));
            if let Some((held_key, held_record)) = held
                && seen.insert(held_key)
            {
                stack.push((held_key, held_record, 0));
            }
        }
    }
    order
}

/// Declarations of the exported functions and globals `info` describes, and of every
/// struct, union and enum it knows by tag.
pub(crate) fn declarations(
    info: &DebugInfo,
    exports: &std::collections::HashMap<String, SymbolKind>,
) -> DeclaredFromDwarf {
    let mut out = DeclaredFromDwarf::default();
    // Every tag first, incomplete, so definitions may refer to each other in any order.
    let records: BTreeMap<&(bool, String), _> = info.records.iter().collect();
    for (union, tag) in records.keys() {
        let keyword = if *union { "union" } else { "struct" };
        let _ = writeln!(out.text, "{keyword} {tag};");
    }
    for (tag, values) in info.enums.iter().collect::<BTreeMap<_, _>>() {
        let list: Vec<String> = values.iter().map(|(n, v)| format!("{n} = {v}")).collect();
        let _ = writeln!(out.text, "enum {tag} {{ {} }};", list.join(", "));
    }
    // Each record: its members as declared, laid out by ffikit-cdecl and compared with the
    // DWARF's size and member offsets; where they differ, the packing or alignment that makes
    // them agree (`packed`, `#pragma pack(N)`, `aligned(N)`), or declared incomplete.
    let mut incomplete = Vec::new();
    let mut scratch = ffikit_cdecl::Declarations::new();
    if let Err(error) = scratch.cdef(&out.text) {
        out.omitted
            .push(("(tags)".into(), error.message().to_owned()));
        return out;
    }
    // In dependency order, one pass defines them all: a record that still cannot be (it holds
    // an incomplete one by value, or a hostile cycle) is declared incomplete.
    for (serial, ((union, tag), record)) in dependency_order(info, &records).into_iter().enumerate()
    {
        let why = match define_record(*union, tag, record, &mut scratch, serial) {
            Defined::Text(text) => {
                out.text.push_str(&text);
                continue;
            }
            Defined::Skip => continue,
            Defined::Later(why) | Defined::Incomplete(why) => why,
        };
        let keyword = if *union { "union" } else { "struct" };
        out.omitted.push((
            format!("{keyword} {tag}"),
            format!("{why}: declared incomplete"),
        ));
        incomplete.push(tag.clone());
    }
    let mut functions: Vec<(&String, _)> = info
        .functions
        .iter()
        .filter(|(name, _)| exports.get(*name) == Some(&SymbolKind::Function))
        .collect();
    functions.sort_by_key(|(name, _)| *name);
    for (name, function) in functions {
        let by_value = function
            .params
            .iter()
            .chain([&function.result])
            .find_map(|p| by_value_unknown(p, &incomplete));
        if let Some(tag) = by_value {
            out.omitted.push((
                name.clone(),
                format!("takes or returns `{tag}` by value, declared incomplete"),
            ));
            continue;
        }
        let params: Result<Vec<String>, String> =
            function.params.iter().map(|p| declare(p, "")).collect();
        let params = match params {
            Ok(params) => params,
            Err(why) => {
                out.omitted
                    .push((name.clone(), format!("a parameter is {why}")));
                continue;
            }
        };
        let mut list = params.join(", ");
        if function.variadic {
            list.push_str(if list.is_empty() { "..." } else { ", ..." });
        } else if list.is_empty() {
            list.push_str("void");
        }
        let head = match &function.result {
            Canon::Pointer(inner) if matches!(**inner, Canon::Function) => {
                format!("void *{name}({list})")
            }
            result => match declare(result, &format!("{name}({list})")) {
                Ok(text) => text,
                Err(why) => {
                    out.omitted
                        .push((name.clone(), format!("the result is {why}")));
                    continue;
                }
            },
        };
        let _ = writeln!(out.text, "{head};");
    }
    let mut variables: Vec<(&String, &Canon)> = info
        .variables
        .iter()
        .filter(|(name, _)| exports.get(*name) == Some(&SymbolKind::Data))
        .collect();
    variables.sort_by_key(|(name, _)| *name);
    for (name, ty) in variables {
        match declare(ty, name) {
            Ok(text) => {
                let _ = writeln!(out.text, "extern {text};");
            }
            Err(why) => out
                .omitted
                .push((name.clone(), format!("its type is {why}"))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debuginfo::DebugMember;

    fn int() -> Canon {
        Canon::Int {
            size: 4,
            signed: true,
        }
    }

    fn record_holding(held: Option<&str>) -> DebugRecord {
        let mut members = vec![DebugMember {
            name: "value".into(),
            bit_offset: 0,
            bit_size: None,
            ty: int(),
        }];
        if let Some(tag) = held {
            members.push(DebugMember {
                name: "inner".into(),
                bit_offset: 32,
                bit_size: None,
                ty: Canon::Record {
                    union: false,
                    tag: Some(tag.into()),
                    size: 0,
                },
            });
        }
        DebugRecord { size: 0, members }
    }

    /// A chain of records each holding the next by value, in the order that made the old
    /// until-no-progress loop define one per pass (quadratic): one pass now. Records nested
    /// deeper than ffikit-cdecl's type depth are declared incomplete with the reason; every
    /// shallower one is defined with the size its members give.
    #[test]
    fn a_long_chain_of_records_by_value_is_declared_in_one_pass() {
        const N: usize = 400;
        let mut info = DebugInfo::default();
        for k in 0..N {
            let held = (k + 1 < N).then(|| format!("s{:05}", k + 1));
            let mut record = record_holding(held.as_deref());
            // The DWARF's sizes: the innermost is one int; each outer one int more.
            record.size = 4 * (N - k) as u64;
            info.records.insert((false, format!("s{k:05}")), record);
        }
        let declared = declarations(&info, &Default::default());
        let (first, why) = &declared.omitted[0];
        assert!(why.contains("nested more than"), "{first}: {why}");
        let mut check = ffikit_cdecl::Declarations::new();
        check.cdef(&declared.text).unwrap();
        let defined = (0..N)
            .filter(|k| {
                check
                    .struct_tag(&format!("s{k:05}"))
                    .and_then(|id| check.record_layout(id))
                    .is_some_and(|(_, layout)| layout.size == 4 * (N - k) as u64)
            })
            .count();
        assert_eq!(defined + declared.omitted.len(), N);
        assert!(defined >= 100, "{defined}");
    }

    /// Records holding each other by value (only hostile DWARF can say so): both declared
    /// incomplete, with the reason, and the walk ends.
    #[test]
    fn a_cycle_of_records_by_value_is_declared_incomplete() {
        let mut info = DebugInfo::default();
        for (tag, held) in [("a", "b"), ("b", "a")] {
            let mut record = record_holding(Some(held));
            record.size = 8;
            info.records.insert((false, tag.into()), record);
        }
        let declared = declarations(&info, &Default::default());
        let omitted: Vec<&str> = declared.omitted.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(omitted, ["struct b", "struct a"]);
    }
}
