//! `--header`: declarations from a real header, as installed. The C preprocessor runs on it
//! (with `-I`, `-D`, `-U`, `--std`), every declaration keeps its origin, and the header's own
//! declarations (its scope) are what `check` checks, `layout` lists and `constants` shows.

use std::fmt::Write as _;

use ffikit_cdecl::{
    Declarations, Declared, Header, HeaderErrorKind, Included, MacroValue, QualType, Scope,
    TagKind, Type, TypeId,
};

/// How to read `--header`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HeaderOptions {
    /// Add a directory to the preprocessor's search path (`-I DIR`).
    #[arg(short = 'I', value_name = "DIR")]
    pub include_dirs: Vec<std::path::PathBuf>,
    /// Define a macro for the preprocessor (`-D NAME` or `-D NAME=VALUE`).
    #[arg(short = 'D', value_name = "NAME[=VALUE]")]
    pub defines: Vec<String>,
    /// Undefine a macro for the preprocessor (`-U NAME`).
    #[arg(short = 'U', value_name = "NAME")]
    pub undefines: Vec<String>,
    /// The C standard to preprocess for (`c11`, `gnu17`).
    #[arg(long, value_name = "STD")]
    pub std: Option<String>,
    /// Count declarations of this header too as the header's own (`--also zconf.h`).
    #[arg(long, value_name = "HEADER")]
    pub also: Vec<String>,
    /// Count every header in the header's directory (and below) as its own.
    #[arg(long)]
    pub same_dir: bool,
    /// Read `--header` as it is, without the preprocessor (text already preprocessed, or
    /// plain declarations). Automatic for `.i` files and when no C compiler is found.
    #[arg(long)]
    pub no_preprocess: bool,
    /// List what was skipped (inline functions, function-like macros, unsupported types),
    /// not only count it.
    #[arg(long)]
    pub skipped: bool,
}

impl HeaderOptions {
    /// The header request for `name`, with these options.
    pub fn header(&self, name: &str) -> Header {
        let mut header = Header::new(name);
        for dir in &self.include_dirs {
            header = header.include_dir(dir);
        }
        for define in &self.defines {
            header = match define.split_once('=') {
                Some((name, value)) => header.define(name, Some(value)),
                None => header.define(define, None),
            };
        }
        for name in &self.undefines {
            header = header.undefine(name);
        }
        if let Some(std) = &self.std {
            header = header.std(std);
        }
        header
    }

    /// Whether `name` is read without the preprocessor.
    pub fn reads_as_is(&self, name: &str) -> bool {
        self.no_preprocess || name.ends_with(".i")
    }

    fn scope(&self, included: &Included) -> Scope {
        let mut scope = included.scope();
        for name in &self.also {
            scope = scope.also(name);
        }
        if self.same_dir {
            scope = scope.same_directory();
        }
        scope
    }
}

/// Declarations read from `--cdef` and `--header`.
#[derive(Debug)]
pub struct Loaded {
    /// Everything declared.
    pub decls: Declarations,
    /// What the preprocessed header declared and skipped.
    pub included: Option<Included>,
    /// The header's own declarations, when it went through the preprocessor.
    pub scope: Option<Scope>,
    /// The header request (for shims).
    pub header: Option<Header>,
}

impl Loaded {
    /// The one-line summary of what the header declared and skipped, and the list of the
    /// skipped when asked for; empty without a preprocessed header.
    pub fn skipped_report(&self, list: bool) -> String {
        let (Some(included), Some(scope)) = (&self.included, &self.scope) else {
            return String::new();
        };
        let mut text = String::new();
        if list {
            for skipped in included.skipped_in(scope) {
                let _ = writeln!(text, "skipped: {}\n", skipped.reason);
            }
        }
        let _ = writeln!(text, "{}", included.summary_in(scope, Some(&self.decls)));
        if !list && included.skipped_in(scope).next().is_some() {
            let _ = writeln!(text, "(--skipped lists them)");
        }
        text
    }

    /// Whether a declaration is the header's own (everything is, without a header scope).
    pub fn in_scope(&self, declared: &Declared) -> bool {
        match &self.scope {
            Some(scope) => self
                .decls
                .origin(declared)
                .is_some_and(|origin| scope.contains(origin)),
            None => true,
        }
    }
}

/// Reads `--header` (through the preprocessor unless told or unable) and then `--cdef`.
///
/// # Errors
///
/// The header cannot be read or preprocessed, or a declaration is refused.
pub fn load(
    cdef: Option<&str>,
    header: Option<&str>,
    options: &HeaderOptions,
) -> Result<Loaded, Box<dyn std::error::Error>> {
    let mut loaded = Loaded {
        decls: Declarations::new(),
        included: None,
        scope: None,
        header: None,
    };
    if let Some(name) = header {
        let request = options.header(name);
        let as_is = options.reads_as_is(name);
        let included = if as_is {
            None
        } else {
            match loaded.decls.include(&request) {
                Ok(included) => Some(included),
                Err(error)
                    if error.kind() == HeaderErrorKind::NoCompiler
                        && std::path::Path::new(name).is_file() =>
                {
                    eprintln!(
                        "note: {error}\nnote: reading {name} as it is, without the preprocessor"
                    );
                    None
                }
                Err(error) => return Err(error.into()),
            }
        };
        match included {
            Some(included) => {
                loaded.scope = Some(options.scope(&included));
                loaded.included = Some(included);
            }
            None => {
                let text = crate::inspect::read_text(std::path::Path::new(name))?;
                loaded
                    .decls
                    .cdef(&text)
                    .map_err(|error| as_is_hint(error, as_is))?;
            }
        }
        loaded.header = Some(request);
    }
    if let Some(cdef) = cdef {
        loaded.decls.cdef(cdef)?;
    }
    Ok(loaded)
}

/// An error in a header read without the preprocessor, with the likely reason.
fn as_is_hint(error: ffikit_cdecl::Error, as_is: bool) -> Box<dyn std::error::Error> {
    if error.kind() == ffikit_cdecl::ErrorKind::UnknownType {
        let how = if as_is {
            "drop --no-preprocess to let the C preprocessor resolve its #includes and macros"
        } else {
            "install a C compiler (or set $CC) so ffikit can run the preprocessor on it"
        };
        return format!("{error}\n(the header was read without the C preprocessor: {how})").into();
    }
    error.into()
}

/// The types `layout` shows for a header without type names: the structs, unions and enums
/// the header itself defines, and those its own declarations use (through pointers, arrays,
/// members and typedefs: `stat()` brings `struct stat`), in order of origin.
pub fn own_types(loaded: &Loaded) -> Vec<(String, QualType)> {
    let decls = &loaded.decls;
    let types = decls.types();
    let mut roots: Vec<TypeId> = Vec::new();
    let mut named: std::collections::HashMap<TypeId, String> = Default::default();
    for function in decls.functions() {
        if loaded.in_scope(&Declared::Function(function.name.clone())) {
            roots.push(function.ty);
        }
    }
    for variable in decls.variables() {
        if loaded.in_scope(&Declared::Variable(variable.name.clone())) {
            roots.push(variable.ty.ty);
        }
    }
    for (name, ty) in decls.typedefs() {
        if loaded.in_scope(&Declared::Typedef(name.to_owned())) {
            roots.push(ty.ty);
            named.entry(ty.ty).or_insert_with(|| name.to_owned());
        }
    }
    for (kind, tag, id) in decls.tags() {
        if loaded.in_scope(&Declared::Tag(kind, tag.to_owned())) {
            roots.push(id);
        }
    }
    // Every record and enum reachable, each once (a visited set bounds the walk).
    let mut seen = std::collections::HashSet::new();
    let mut found = Vec::new();
    while let Some(id) = roots.pop() {
        if !seen.insert(id) {
            continue;
        }
        match types.get(id) {
            Type::Pointer(to) => roots.push(to.ty),
            Type::Array { element, .. } => roots.push(element.ty),
            Type::Function(function) => {
                roots.push(function.result.ty);
                roots.extend(function.params.iter().map(|p| p.ty));
            }
            Type::Record(record) => {
                found.push(id);
                let record = types.record(*record);
                roots.extend(record.fields.iter().flatten().map(|f| f.ty.ty));
            }
            Type::Enum(_) => found.push(id),
            _ => {}
        }
    }
    let mut shown: Vec<(ffikit_cdecl::Origin, String, QualType)> = found
        .into_iter()
        .filter_map(|id| {
            let (declared, name) = match types.get(id) {
                Type::Record(r) => {
                    let record = types.record(*r);
                    let kind = TagKind::from(record.kind);
                    match &record.tag {
                        Some(tag) => (
                            Some(Declared::Tag(kind, tag.clone())),
                            types.display(QualType::plain(id)),
                        ),
                        None => (
                            named.get(&id).map(|n| Declared::Typedef(n.clone())),
                            named.get(&id)?.clone(),
                        ),
                    }
                }
                Type::Enum(e) => match &types.enumeration(*e).tag {
                    Some(tag) => (
                        Some(Declared::Tag(TagKind::Enum, tag.clone())),
                        types.display(QualType::plain(id)),
                    ),
                    None => (
                        named.get(&id).map(|n| Declared::Typedef(n.clone())),
                        named.get(&id)?.clone(),
                    ),
                },
                _ => return None,
            };
            let origin = declared
                .and_then(|d| decls.origin(&d).cloned())
                .unwrap_or_default();
            Some((origin, name, QualType::plain(id)))
        })
        .collect();
    shown.sort_by(|a, b| (&a.0.file, a.0.line, &a.1).cmp(&(&b.0.file, b.0.line, &b.1)));
    shown.into_iter().map(|(_, name, ty)| (name, ty)).collect()
}

/// `ffikit constants`: each constant of the header (object-like `#define`s with a value, and
/// enumerators), its value, C type and origin; `names` picks some.
///
/// # Errors
///
/// A name asked for that is not a constant.
pub fn constants_report(loaded: &Loaded, names: &[String]) -> Result<String, String> {
    let decls = &loaded.decls;
    let mut rows: Vec<(ffikit_cdecl::Origin, String, String)> = Vec::new();
    let row = |name: &str| -> Option<(ffikit_cdecl::Origin, String, String)> {
        let value = match decls.macro_value(name) {
            Some(MacroValue::Integer(c)) => {
                format!(
                    "{} ({})",
                    c.value,
                    decls.types().display(QualType::plain(c.ty))
                )
            }
            Some(MacroValue::Float { value, ty }) => {
                format!(
                    "{value:?} ({})",
                    decls.types().display(QualType::plain(*ty))
                )
            }
            Some(MacroValue::String(bytes)) => {
                format!("{:?} (string)", String::from_utf8_lossy(bytes))
            }
            Some(_) => return None,
            None => {
                let c = decls.constant(name)?;
                format!(
                    "{} ({})",
                    c.value,
                    decls.types().display(QualType::plain(c.ty))
                )
            }
        };
        let origin = decls
            .origin(&Declared::Constant(name.to_owned()))
            .cloned()
            .unwrap_or_default();
        Some((origin, name.to_owned(), value))
    };
    if names.is_empty() {
        let mut all: Vec<&str> = decls.macros().map(|(name, _)| name).collect();
        all.extend(decls.constants().map(|(name, _)| name));
        all.sort_unstable();
        all.dedup();
        for name in all {
            if loaded.in_scope(&Declared::Constant(name.to_owned())) {
                rows.extend(row(name));
            }
        }
        rows.sort_by(|a, b| (&a.0.file, a.0.line, &a.1).cmp(&(&b.0.file, b.0.line, &b.1)));
    } else {
        for name in names {
            rows.push(row(name).ok_or_else(|| {
                format!("`{name}` is not a constant of the header (an integer, floating or string #define, or an enumerator)")
            })?);
        }
    }
    let width = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    let mut text = String::new();
    for (origin, name, value) in rows {
        let _ = writeln!(text, "{name:<width$} = {value}  // {origin}");
    }
    Ok(text)
}
