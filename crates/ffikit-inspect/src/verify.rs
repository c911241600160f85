//! Checking declarations against the library itself: is each function and global exported,
//! as a function or as data, and — where the library carries DWARF — do the parameter and
//! result types, variadic-ness, struct layouts and enum values agree with its own?

use std::collections::HashMap;
use std::fmt;

use ffikit_cdecl::{Declarations, QualType, RecordKind, Scalar, TagKind, Type};

use crate::debuginfo::{Canon, DebugInfo};
use crate::elf::SymbolKind;

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FindingKind {
    /// The library does not export the symbol.
    Missing,
    /// Declared as a function, exported as data (or the reverse).
    WrongKind,
    /// Parameter count, types, result type or variadic-ness differ from the library's.
    Signature,
    /// A global's type differs.
    VariableType,
    /// A struct or union's size or members differ.
    Layout,
    /// An enum's values differ.
    EnumValue,
}

/// One disagreement between a declaration and the library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The declaration's line in the checked text (1-based).
    pub line: usize,
    /// The declared name (function, global, or `struct tag`).
    pub name: String,
    /// What kind of disagreement.
    pub kind: FindingKind,
    /// What differs, with the library's own type.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: `{}`: {}", self.line, self.name, self.message)
    }
}

/// The outcome of [`LibraryFile::verify`](crate::LibraryFile::verify) (and of ffikit-abi's
/// `Library::verify`).
#[derive(Debug, Clone, Default)]
pub struct Verification {
    /// Every disagreement found.
    pub findings: Vec<Finding>,
    /// Whether the library had debug information, so that types were compared (otherwise
    /// only exports were checked).
    pub types_checked: bool,
    /// How many functions, globals and tagged types were checked.
    pub checked: (usize, usize, usize),
    /// The file the debug information came from (the library, or a separate debug file).
    pub debug_file: Option<std::path::PathBuf>,
}

impl Verification {
    /// Whether everything agreed.
    pub fn is_ok(&self) -> bool {
        self.findings.is_empty()
    }
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        let (functions, globals, types) = self.checked;
        write!(
            f,
            "{} problem{} in {functions} functions, {globals} globals, {types} types",
            self.findings.len(),
            if self.findings.len() == 1 { "" } else { "s" }
        )?;
        if let (true, Some(file)) = (self.types_checked, &self.debug_file) {
            write!(
                f,
                "\ntypes checked against the debug information in {}",
                file.display()
            )?;
        }
        if !self.types_checked {
            write!(
                f,
                "\nthe library has no debug information (nor a separate debug file): only \
                 exports were checked, types were not"
            )?;
        }
        Ok(())
    }
}

/// The canonical form of a declared type, to compare with the library's.
pub(crate) fn canon(decls: &Declarations, ty: QualType) -> Canon {
    canon_at(decls, ty, 0)
}

fn canon_at(decls: &Declarations, ty: QualType, depth: usize) -> Canon {
    if depth > 32 {
        return Canon::Unknown;
    }
    let types = decls.types();
    match types.get(ty.ty) {
        Type::Void => Canon::Void,
        Type::Scalar(Scalar::Bool) => Canon::Bool,
        Type::Scalar(s @ (Scalar::Float | Scalar::Double | Scalar::LongDouble)) => {
            Canon::Float(s.size_align().0)
        }
        Type::Scalar(
            s @ (Scalar::ComplexFloat | Scalar::ComplexDouble | Scalar::ComplexLongDouble),
        ) => Canon::Complex(s.size_align().0),
        Type::Scalar(s) => Canon::Int {
            size: s.size_align().0,
            signed: s.is_signed(),
        },
        Type::Pointer(to) => Canon::Pointer(Box::new(canon_at(decls, *to, depth + 1))),
        Type::Array { element, len } => {
            Canon::Array(Box::new(canon_at(decls, *element, depth + 1)), *len)
        }
        Type::Function(_) => Canon::Function,
        Type::Record(r) => {
            let record = types.record(*r);
            Canon::Record {
                union: record.kind == RecordKind::Union,
                tag: record.tag.clone(),
                size: record.layout.as_ref().map_or(0, |l| l.size),
            }
        }
        Type::Enum(e) => {
            let enumeration = types.enumeration(*e);
            Canon::Enum {
                tag: enumeration.tag.clone(),
                size: enumeration.underlying.size_align().0,
            }
        }
        _ => Canon::Unknown,
    }
}

/// Compares declared things with the library. `text` is the declarations' source (for line
/// numbers); `only` limits the check to one function (binding-time checks).
pub(crate) fn verify(
    decls: &Declarations,
    text: &str,
    exports: &HashMap<String, SymbolKind>,
    debug: Option<&DebugInfo>,
    only: Option<&str>,
) -> Verification {
    // Line numbers by binary search over the line starts: many findings cost no more than
    // one pass over the text.
    let line_starts: Vec<usize> = text.match_indices('\n').map(|(i, _)| i + 1).collect();
    let line = |offset: usize| line_starts.partition_point(|&start| start <= offset) + 1;
    let mut report = Verification {
        types_checked: debug.is_some(),
        ..Verification::default()
    };
    let finding = report_push;
    let mut findings = Vec::new();
    let (mut functions, mut globals, mut types) = (0, 0, 0);

    for function in decls.functions() {
        if only.is_some_and(|o| o != function.name) {
            continue;
        }
        functions += 1;
        let at = line(function.span.start);
        let symbol = function.asm_name.as_deref().unwrap_or(&function.name);
        match exports.get(symbol) {
            None => findings.push(finding(
                at,
                &function.name,
                FindingKind::Missing,
                format!("the library does not export `{symbol}`"),
            )),
            Some(SymbolKind::Data | SymbolKind::ThreadLocal) => findings.push(finding(
                at,
                &function.name,
                FindingKind::WrongKind,
                "declared as a function, but the library exports it as data".into(),
            )),
            _ => {}
        }
        let (Some(debug), Type::Function(declared)) = (debug, decls.types().get(function.ty))
        else {
            continue;
        };
        let Some(actual) = debug.functions.get(symbol) else {
            continue;
        };
        let mut problems = Vec::new();
        if declared.params.len() != actual.params.len() {
            problems.push(format!(
                "declared with {} parameter{}, the library's has {}",
                declared.params.len(),
                if declared.params.len() == 1 { "" } else { "s" },
                actual.params.len()
            ));
        }
        for (index, (mine, theirs)) in declared.params.iter().zip(&actual.params).enumerate() {
            let mine = canon(decls, *mine);
            if !mine.compatible(theirs) {
                problems.push(format!(
                    "parameter {} is declared `{mine}`, the library's is `{theirs}`",
                    index + 1
                ));
            }
        }
        let result = canon(decls, declared.result);
        if !result.compatible(&actual.result) {
            problems.push(format!(
                "the result is declared `{result}`, the library's is `{}`",
                actual.result
            ));
        }
        if declared.variadic != actual.variadic {
            problems.push(if actual.variadic {
                "declared with fixed parameters, the library's is variadic (`...`)".to_owned()
            } else {
                "declared variadic, the library's has fixed parameters".to_owned()
            });
        }
        for problem in problems {
            findings.push(finding(at, &function.name, FindingKind::Signature, problem));
        }
    }

    if only.is_none() {
        for variable in decls.variables() {
            globals += 1;
            let at = line(variable.span.start);
            let symbol = variable.asm_name.as_deref().unwrap_or(&variable.name);
            match exports.get(symbol) {
                None => findings.push(finding(
                    at,
                    &variable.name,
                    FindingKind::Missing,
                    format!("the library does not export `{symbol}`"),
                )),
                Some(SymbolKind::Function) => findings.push(finding(
                    at,
                    &variable.name,
                    FindingKind::WrongKind,
                    "declared as a variable, but the library exports it as a function".into(),
                )),
                _ => {}
            }
            if let Some(theirs) = debug.and_then(|d| d.variables.get(symbol)) {
                let mine = canon(decls, variable.ty);
                if !mine.compatible(theirs) {
                    findings.push(finding(
                        at,
                        &variable.name,
                        FindingKind::VariableType,
                        format!("declared `{mine}`, the library's is `{theirs}`"),
                    ));
                }
            }
        }
        if let Some(debug) = debug {
            let mut tags: Vec<_> = decls.tags().collect();
            tags.sort_by_key(|(kind, tag, _)| decls.tag_span(*kind, tag).map(|s| s.start));
            for (kind, tag, id) in tags {
                let Some(span) = decls.tag_span(kind, tag) else {
                    continue;
                };
                let at = line(span.start);
                match kind {
                    TagKind::Enum => {
                        let Some(theirs) = debug.enums.get(tag) else {
                            continue;
                        };
                        types += 1;
                        let Type::Enum(e) = decls.types().get(id) else {
                            continue;
                        };
                        for (name, value) in decls.types().enumeration(*e).values.iter().flatten() {
                            match theirs.iter().find(|(n, _)| n == name) {
                                Some((_, v)) if i128::from(*v) == *value => {}
                                Some((_, v)) => findings.push(finding(
                                    at,
                                    &format!("enum {tag}"),
                                    FindingKind::EnumValue,
                                    format!("`{name}` is declared {value}, the library's is {v}"),
                                )),
                                None => findings.push(finding(
                                    at,
                                    &format!("enum {tag}"),
                                    FindingKind::EnumValue,
                                    format!("the library's enum has no `{name}`"),
                                )),
                            }
                        }
                    }
                    TagKind::Struct | TagKind::Union => {
                        let union = kind == TagKind::Union;
                        let Some(theirs) = debug.records.get(&(union, tag.to_owned())) else {
                            continue;
                        };
                        types += 1;
                        let label = format!("{} {tag}", if union { "union" } else { "struct" });
                        let Some((record, layout)) = decls.record_layout(id) else {
                            continue;
                        };
                        if layout.size != theirs.size {
                            findings.push(finding(
                                at,
                                &label,
                                FindingKind::Layout,
                                format!(
                                    "declared size {} bytes, the library's is {}",
                                    layout.size, theirs.size
                                ),
                            ));
                        }
                        for (field, place) in record.fields.iter().flatten().zip(&layout.fields) {
                            let Some(name) = &field.name else { continue };
                            let Some(member) = theirs.members.iter().find(|m| &m.name == name)
                            else {
                                findings.push(finding(
                                    at,
                                    &label,
                                    FindingKind::Layout,
                                    format!("the library's has no member `{name}`"),
                                ));
                                continue;
                            };
                            if member.bit_offset != place.bit_offset {
                                findings.push(finding(
                                    at,
                                    &label,
                                    FindingKind::Layout,
                                    format!(
                                        "member `{name}` is declared at {}, the library's is at {}",
                                        describe_offset(place.bit_offset),
                                        describe_offset(member.bit_offset)
                                    ),
                                ));
                            }
                            let width = place.bit_width.map(u64::from);
                            if width != member.bit_size {
                                let describe = |w: Option<u64>| {
                                    w.map_or("not a bitfield".to_owned(), |w| {
                                        format!("{w} bits wide")
                                    })
                                };
                                findings.push(finding(
                                    at,
                                    &label,
                                    FindingKind::Layout,
                                    format!(
                                        "member `{name}` is declared {}, the library's is {}",
                                        describe(width),
                                        describe(member.bit_size)
                                    ),
                                ));
                            }
                            let mine = canon(decls, field.ty);
                            if !mine.compatible(&member.ty) {
                                findings.push(finding(at, &label, FindingKind::Layout, format!("member `{name}` is declared `{mine}`, the library's is `{}`", member.ty)));
                            }
                        }
                        for member in &theirs.members {
                            let declared = record
                                .fields
                                .iter()
                                .flatten()
                                .any(|f| f.name.as_deref() == Some(member.name.as_str()));
                            if !declared {
                                findings.push(finding(
                                    at,
                                    &label,
                                    FindingKind::Layout,
                                    format!(
                                        "the library's has member `{}` the declaration lacks",
                                        member.name
                                    ),
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    report.findings = findings;
    report.checked = (functions, globals, types);
    report
}

fn report_push(line: usize, name: &str, kind: FindingKind, message: String) -> Finding {
    Finding {
        line,
        name: name.to_owned(),
        kind,
        message,
    }
}

fn describe_offset(bits: u64) -> String {
    if bits % 8 == 0 {
        format!("byte {}", bits / 8)
    } else {
        format!("bit {bits}")
    }
}
