//! Checking declarations against the library itself: is each function and global exported,
//! as a function or as data, and — where the library carries DWARF — do the parameter and
//! result types, variadic-ness, struct layouts and enum values agree with its own?

use std::collections::HashMap;
use std::fmt;

use ffikit_cdecl::{
    Declarations, Declared, Origin, QualType, RecordKind, Scalar, Scope, TagKind, Type,
};

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
    /// The declaration's line (1-based): in its original header when the text came from
    /// the preprocessor (see `file`), else in the checked text.
    pub line: usize,
    /// The original header the declaration came from, when the preprocessor's line markers
    /// tell (`/usr/include/zlib.h`).
    pub file: Option<String>,
    /// The declared name (function, global, or `struct tag`).
    pub name: String,
    /// What kind of disagreement.
    pub kind: FindingKind,
    /// What differs, with the library's own type.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{file}:{}: `{}`: {}", self.line, self.name, self.message),
            None => write!(f, "line {}: `{}`: {}", self.line, self.name, self.message),
        }
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
    /// Names declared but not exported, set apart by
    /// [`missing_as_absent`](Self::missing_as_absent): not problems.
    pub absent: Vec<Finding>,
}

impl Verification {
    /// Whether everything agreed.
    pub fn is_ok(&self) -> bool {
        self.findings.is_empty()
    }

    /// Sets the declared-but-not-exported findings apart as absent, not problems: for a
    /// library's own installed header, which declares every optional feature
    /// (`sqlite3_snapshot_get` needs `SQLITE_ENABLE_SNAPSHOT`, `sqlite3_win32_*` Windows)
    /// while a build exports those it was compiled with. Binding one is a clear
    /// `SymbolNotFound` (or `None` from ffikit-abi's `Library::optional`), never a wrong call.
    #[must_use]
    pub fn missing_as_absent(mut self) -> Verification {
        let (absent, findings) = self
            .findings
            .into_iter()
            .partition(|f| f.kind == FindingKind::Missing);
        self.findings = findings;
        self.absent = absent;
        self
    }
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        if !self.absent.is_empty() {
            writeln!(
                f,
                "{} declared name{} not exported by this build of the library (optional \
                 features compiled out; not counted as problems):",
                self.absent.len(),
                if self.absent.len() == 1 {
                    " is"
                } else {
                    "s are"
                }
            )?;
            for finding in &self.absent {
                writeln!(f, "    {finding}")?;
            }
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

/// Compares declared things with the library: those whose origin is in `scope` (all when
/// `None`); `only` limits the check to one function (binding-time checks).
pub(crate) fn verify(
    decls: &Declarations,
    scope: Option<&Scope>,
    exports: &HashMap<String, SymbolKind>,
    debug: Option<&DebugInfo>,
    only: Option<&str>,
) -> Verification {
    let origin_of = |declared: Declared| decls.origin(&declared).cloned().unwrap_or_default();
    let in_scope = |origin: &Origin| scope.is_none_or(|scope| scope.contains(origin));
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
        let at = origin_of(Declared::Function(function.name.clone()));
        if !in_scope(&at) {
            continue;
        }
        functions += 1;
        let symbol = function.asm_name.as_deref().unwrap_or(&function.name);
        match exports.get(symbol) {
            None => findings.push(finding(
                &at,
                &function.name,
                FindingKind::Missing,
                format!("the library does not export `{symbol}`"),
            )),
            Some(SymbolKind::Data | SymbolKind::ThreadLocal) => findings.push(finding(
                &at,
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
            findings.push(finding(
                &at,
                &function.name,
                FindingKind::Signature,
                problem,
            ));
        }
    }

    if only.is_none() {
        let mut variables: Vec<_> = decls.variables().collect();
        variables.sort_by(|a, b| a.name.cmp(&b.name));
        for variable in variables {
            let at = origin_of(Declared::Variable(variable.name.clone()));
            if !in_scope(&at) {
                continue;
            }
            globals += 1;
            let symbol = variable.asm_name.as_deref().unwrap_or(&variable.name);
            match exports.get(symbol) {
                None => findings.push(finding(
                    &at,
                    &variable.name,
                    FindingKind::Missing,
                    format!("the library does not export `{symbol}`"),
                )),
                Some(SymbolKind::Function) => findings.push(finding(
                    &at,
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
                        &at,
                        &variable.name,
                        FindingKind::VariableType,
                        format!("declared `{mine}`, the library's is `{theirs}`"),
                    ));
                }
            }
        }
        if let Some(debug) = debug {
            let mut tags: Vec<_> = decls
                .tags()
                .filter(|(kind, tag, _)| decls.tag_span(*kind, tag).is_some())
                .map(|(kind, tag, id)| {
                    (
                        origin_of(Declared::Tag(kind, tag.to_owned())),
                        kind,
                        tag,
                        id,
                    )
                })
                .filter(|(origin, ..)| in_scope(origin))
                .collect();
            tags.sort_by(|a, b| (&a.0.file, a.0.line, a.2).cmp(&(&b.0.file, b.0.line, b.2)));
            for (at, kind, tag, id) in tags {
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
                                    &at,
                                    &format!("enum {tag}"),
                                    FindingKind::EnumValue,
                                    format!("`{name}` is declared {value}, the library's is {v}"),
                                )),
                                None => findings.push(finding(
                                    &at,
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
                                &at,
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
                                    &at,
                                    &label,
                                    FindingKind::Layout,
                                    format!("the library's has no member `{name}`"),
                                ));
                                continue;
                            };
                            if member.bit_offset != place.bit_offset {
                                findings.push(finding(
                                    &at,
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
                                    &at,
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
                                findings.push(finding(&at, &label, FindingKind::Layout, format!("member `{name}` is declared `{mine}`, the library's is `{}`", member.ty)));
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
                                    &at,
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

fn report_push(at: &Origin, name: &str, kind: FindingKind, message: String) -> Finding {
    Finding {
        line: at.line,
        file: at.file.as_deref().map(str::to_owned),
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
