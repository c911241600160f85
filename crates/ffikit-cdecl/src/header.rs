//! Real headers, as installed: the system C preprocessor runs on them, the parser reads its
//! output (line markers tell where each declaration came from), and a second run expands every
//! object-like macro so that `Z_OK` and `SQLITE_VERSION` have values.
//!
//! This is the one module that runs a program: `$CC` (or `cc`), with `-E` to preprocess and,
//! for `static inline` functions, to compile a small shim library
//! ([`Header::compile_shim`]). Nothing is loaded here.

use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::decls::{Declarations, Declared, Report, SkipKind, Skipped};
use crate::error::{Error, ErrorKind, Origin, Span};
use crate::parse::Parser;

/// The most bytes of preprocessor output read: real headers expand to a few MiB (all of
/// openssl with libc: 4 MiB); a header that expands without bound is refused, not read.
pub const MAX_PREPROCESSED: usize = 256 << 20;

/// How long one run of the compiler may take (preprocessing openssl/ssl.h takes 0.25 s;
/// compiling a shim, a second).
pub const TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The symbol prefix of a shim's exported pointers: `ffikit_inline_NAME` holds the address
/// of the header's `static inline` function `NAME`.
pub const SHIM_PREFIX: &str = "ffikit_inline_";

/// A header to read through the C preprocessor, and how: `zlib.h` (found the way
/// `#include <zlib.h>` finds it) or a path, with `-I`, `-D`, `-U` and `-std=` as for the
/// compiler.
///
/// ```no_run
/// use ffikit_cdecl::{Declarations, Header, MacroValue};
///
/// let mut decls = Declarations::new();
/// let included = decls.include(&Header::new("zlib.h"))?;
/// let crc32 = decls.function("crc32").unwrap();
/// let origin = decls.origin(&ffikit_cdecl::Declared::Function("crc32".into())).unwrap();
/// assert_eq!(origin.file_name(), Some("zlib.h"));
/// assert!(matches!(decls.macro_value("Z_OK"), Some(MacroValue::Integer(c)) if c.value == 0));
/// println!("{}", included.summary());
/// # Ok::<(), ffikit_cdecl::HeaderError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Header {
    name: String,
    compiler: Option<String>,
    flags: Vec<String>,
}

/// What went wrong reading a header, for matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderErrorKind {
    /// The C compiler could not be run (none installed, `$CC` wrong).
    NoCompiler,
    /// The preprocessor failed: the header was not found, or it has an `#error`.
    Preprocessor,
    /// The preprocessed text has a declaration the parser refuses.
    Declaration,
    /// Compiling a shim for `static inline` functions failed.
    Shim,
    /// The shim cache could not be written.
    Io,
    /// The preprocessor's output was larger than [`MAX_PREPROCESSED`], or it ran longer than
    /// [`TIME_LIMIT`].
    TooLarge,
    /// A function asked of a shim is not a `static inline` function of the header.
    NotInline,
    /// The header's path names something that is not a regular file (`/dev/zero`, a
    /// directory).
    NotAFile,
}

/// An error reading a header or compiling a shim.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The compiler could not be run.
    #[error(
        "cannot run the C compiler `{compiler}` to preprocess `{header}`: {source}\n\
         (set $CC to a C compiler, or run `cc -E` on the header yourself and read its output as \
         declarations)"
    )]
    NoCompiler {
        /// The compiler tried.
        compiler: String,
        /// The header.
        header: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The preprocessor failed.
    #[error("the C preprocessor failed on `{header}`:\n{stderr}")]
    Preprocessor {
        /// The header.
        header: String,
        /// What it printed.
        stderr: String,
    },
    /// A declaration of the header the parser refuses.
    #[error("in `{header}`: {source}")]
    Declaration {
        /// The header.
        header: String,
        /// The parser's error, located in the original file.
        #[source]
        source: Box<Error>,
    },
    /// The shim did not compile.
    #[error("compiling a shim for {functions} of `{header}` failed:\n{stderr}")]
    Shim {
        /// The header.
        header: String,
        /// The functions asked for.
        functions: String,
        /// What the compiler printed.
        stderr: String,
    },
    /// The shim cache could not be written.
    #[error("cannot write the shim library {}: {source}", path.display())]
    Io {
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The output was too large.
    #[error("the C preprocessor's output for `{header}` is larger than {} MiB", MAX_PREPROCESSED >> 20)]
    TooLarge {
        /// The header.
        header: String,
    },
    /// The compiler ran longer than [`TIME_LIMIT`].
    #[error("the C preprocessor ran longer than {} s on `{header}`", TIME_LIMIT.as_secs())]
    TimedOut {
        /// The header.
        header: String,
    },
    /// The path is not a regular file.
    #[error("cannot read {}: not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// Not an inline function of the header.
    #[error("`{name}` is not a `static inline` function of `{header}`")]
    NotInline {
        /// The name asked for.
        name: String,
        /// The header.
        header: String,
    },
}

impl HeaderError {
    /// The kind of error, for matching.
    pub fn kind(&self) -> HeaderErrorKind {
        match self {
            HeaderError::NoCompiler { .. } => HeaderErrorKind::NoCompiler,
            HeaderError::Preprocessor { .. } => HeaderErrorKind::Preprocessor,
            HeaderError::Declaration { .. } => HeaderErrorKind::Declaration,
            HeaderError::Shim { .. } => HeaderErrorKind::Shim,
            HeaderError::Io { .. } => HeaderErrorKind::Io,
            HeaderError::TooLarge { .. } | HeaderError::TimedOut { .. } => {
                HeaderErrorKind::TooLarge
            }
            HeaderError::NotInline { .. } => HeaderErrorKind::NotInline,
            HeaderError::NotAFile { .. } => HeaderErrorKind::NotAFile,
        }
    }
}

impl Header {
    /// A header by name (`zlib.h`, `openssl/ssl.h`: searched like `#include <...>`) or by
    /// path (`./mylib.h`, `/opt/include/x.h`: anything with a `/` that exists as a file).
    pub fn new(name: impl Into<String>) -> Header {
        Header {
            name: name.into(),
            compiler: None,
            flags: Vec::new(),
        }
    }

    /// The header as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What makes the header: its name, the compiler given, and its flags (`-I`, `-D`, `-U`,
    /// `-std=`), to make the same header elsewhere with [`from_parts`](Self::from_parts) (an
    /// isolated library's worker reads the header as its parent did).
    pub fn parts(&self) -> (&str, Option<&str>, &[String]) {
        (&self.name, self.compiler.as_deref(), &self.flags)
    }

    /// The header [`parts`](Self::parts) described, or None if a flag is not one the
    /// builder makes (`-I`, `-D`, `-U`, `-std=`).
    pub fn from_parts(name: &str, compiler: Option<&str>, flags: &[String]) -> Option<Header> {
        let known = |flag: &String| {
            ["-I", "-D", "-U", "-std="]
                .iter()
                .any(|prefix| flag.starts_with(prefix))
        };
        flags.iter().all(known).then(|| Header {
            name: name.to_owned(),
            compiler: compiler.map(str::to_owned),
            flags: flags.to_vec(),
        })
    }

    /// The compiler to run instead of `$CC` or `cc` (a command, possibly with arguments:
    /// `"ccache gcc"`).
    #[must_use]
    pub fn compiler(mut self, compiler: impl Into<String>) -> Header {
        self.compiler = Some(compiler.into());
        self
    }

    /// `-I DIR`: another directory to search.
    #[must_use]
    pub fn include_dir(mut self, dir: impl AsRef<Path>) -> Header {
        self.flags
            .push(format!("-I{}", dir.as_ref().to_string_lossy()));
        self
    }

    /// `-D NAME` or `-D NAME=VALUE`.
    #[must_use]
    pub fn define(mut self, name: &str, value: Option<&str>) -> Header {
        self.flags.push(match value {
            Some(value) => format!("-D{name}={value}"),
            None => format!("-D{name}"),
        });
        self
    }

    /// `-U NAME`.
    #[must_use]
    pub fn undefine(mut self, name: &str) -> Header {
        self.flags.push(format!("-U{name}"));
        self
    }

    /// `-std=STD` (`c11`, `gnu17`).
    #[must_use]
    pub fn std(mut self, std: &str) -> Header {
        self.flags.push(format!("-std={std}"));
        self
    }

    /// The compiler command: the one given, else `$CC`, else `cc`.
    fn command_words(&self) -> Vec<String> {
        let chosen = self
            .compiler
            .clone()
            .or_else(|| std::env::var("CC").ok().filter(|cc| !cc.trim().is_empty()))
            .unwrap_or_else(|| "cc".to_owned());
        let words: Vec<String> = chosen.split_whitespace().map(str::to_owned).collect();
        if words.is_empty() {
            vec!["cc".to_owned()]
        } else {
            words
        }
    }

    /// The compiler as a display string.
    pub fn compiler_command(&self) -> String {
        self.command_words().join(" ")
    }

    /// The `#include` line for this header.
    fn include_line(&self) -> String {
        let path = Path::new(&self.name);
        if self.name.contains('/') && path.is_file() {
            let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
            format!("#include \"{}\"\n", escape_c(&absolute.to_string_lossy()))
        } else {
            format!("#include <{}>\n", self.name)
        }
    }

    /// Runs the compiler on `source` (C given on stdin) with `args`; its stdout.
    fn run(&self, args: &[&str], source: &str) -> Result<String, HeaderError> {
        let words = self.command_words();
        // Looked up first, so "no compiler" is the same answer however the process is
        // started (under valgrind a failed exec shows as a child exiting with 127).
        if !program_exists(&words[0]) {
            return Err(HeaderError::NoCompiler {
                compiler: words.join(" "),
                header: self.name.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such program"),
            });
        }
        let mut command = Command::new(&words[0]);
        command
            .args(&words[1..])
            .args(&self.flags)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| HeaderError::NoCompiler {
            compiler: words.join(" "),
            header: self.name.clone(),
            source,
        })?;
        let mut stdin = child.stdin.take().expect("stdin was piped");
        let input = source.to_owned();
        // Input, output and errors each on a thread of their own: a compiler that fills one
        // pipe while we wait on another would otherwise wait for us forever.
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let stdout_pipe = child.stdout.take().expect("stdout was piped");
        let reader = std::thread::spawn(move || {
            // At most one byte past the limit; dropping the pipe then stops the compiler.
            let mut output = Vec::new();
            let read = stdout_pipe
                .take(MAX_PREPROCESSED as u64 + 1)
                .read_to_end(&mut output);
            (output, read.is_ok())
        });
        let stderr_pipe = child.stderr.take().expect("stderr was piped");
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr_pipe.take(1 << 20).read_to_string(&mut text);
            text
        });
        let compiler_error = |source| HeaderError::NoCompiler {
            compiler: words.join(" "),
            header: self.name.clone(),
            source,
        };
        // A header that makes the preprocessor read forever (`#include "/dev/zero"`) is
        // stopped at the time limit.
        let deadline = std::time::Instant::now() + TIME_LIMIT;
        let mut pause = std::time::Duration::from_micros(200);
        let status = loop {
            if let Some(status) = child.try_wait().map_err(compiler_error)? {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HeaderError::TimedOut {
                    header: self.name.clone(),
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(std::time::Duration::from_millis(20));
        };
        let _ = writer.join();
        let (stdout, read) = reader.join().unwrap_or_default();
        let stderr = errors.join().unwrap_or_default();
        if stdout.len() > MAX_PREPROCESSED {
            return Err(HeaderError::TooLarge {
                header: self.name.clone(),
            });
        }
        if !read || !status.success() {
            return Err(HeaderError::Preprocessor {
                header: self.name.clone(),
                stderr: stderr.trim_end().to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&stdout).into_owned())
    }

    /// Whether the compiler finds and preprocesses the header (a -dev package installed, the
    /// `-I` directories right).
    pub fn is_found(&self) -> bool {
        self.run(&["-E", "-P", "-x", "c", "-"], &self.include_line())
            .is_ok()
    }

    /// The preprocessor's output for the header, with line markers and every `#define`
    /// kept in place (`-E -dD`).
    ///
    /// # Errors
    ///
    /// The compiler cannot be run, or fails (the header is not found, an `#error`).
    pub fn preprocess(&self) -> Result<String, HeaderError> {
        // A device or a directory would be read forever, or fail obscurely.
        let path = Path::new(&self.name);
        if path.exists() && !path.is_file() {
            return Err(HeaderError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        self.run(&["-E", "-dD", "-x", "c", "-"], &self.include_line())
    }

    /// What each of `names` (object-like macros) expands to after the header: one run of
    /// the preprocessor for all of them. `None` where the expansion could not be found.
    fn expand(&self, names: &[&str]) -> Result<Vec<Option<String>>, HeaderError> {
        let mut source = self.include_line();
        for (index, name) in names.iter().enumerate() {
            source.push_str(&format!("\n__ffikit_macro_{index} {name}\n"));
        }
        let output = self.run(&["-E", "-P", "-x", "c", "-"], &source)?;
        let mut expansions = vec![None; names.len()];
        for line in output.lines() {
            let Some(rest) = line.strip_prefix("__ffikit_macro_") else {
                continue;
            };
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if let Some(slot) = rest[..digits]
                .parse::<usize>()
                .ok()
                .and_then(|i| expansions.get_mut(i))
            {
                *slot = Some(rest[digits..].trim().to_owned());
            }
        }
        Ok(expansions)
    }

    /// Compiles (or finds in the cache) a shared library that exports, for each of the
    /// header's `static inline` functions `functions`, a constant pointer to it named
    /// `ffikit_inline_NAME` ([`SHIM_PREFIX`]) — the compiler emits the function itself. The
    /// shim links against `link` (the library the functions call into), when given. Cached
    /// under `$XDG_CACHE_HOME/ffikit` (or `~/.cache/ffikit`, or the temporary directory) by a
    /// hash of the preprocessed shim, the compiler, its flags and `link`.
    ///
    /// # Errors
    ///
    /// No compiler, a compile error (the message is the compiler's), or the cache cannot be
    /// written.
    pub fn compile_shim(
        &self,
        functions: &[&str],
        link: Option<&Path>,
    ) -> Result<PathBuf, HeaderError> {
        let mut source = self.include_line();
        for name in functions {
            if !is_identifier(name) {
                return Err(HeaderError::NotInline {
                    name: (*name).to_owned(),
                    header: self.name.clone(),
                });
            }
            source.push_str(&format!(
                "__typeof__(&{name}) const {SHIM_PREFIX}{name} = &{name};\n"
            ));
        }
        // The content hash: the shim as the preprocessor sees it (so an edited header is a
        // new shim), the compiler and flags, and the library linked.
        let expanded = self.run(&["-E", "-P", "-x", "c", "-"], &source)?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (expanded, self.command_words(), &self.flags, link).hash(&mut hasher);
        let dir = cache_dir();
        std::fs::create_dir_all(&dir).map_err(|source| HeaderError::Io {
            path: dir.clone(),
            source,
        })?;
        let extension = if cfg!(target_os = "macos") {
            "dylib"
        } else {
            "so"
        };
        let path = dir.join(format!("shim-{:016x}.{extension}", hasher.finish()));
        if path.is_file() {
            return Ok(path);
        }
        let partial = dir.join(format!(
            "shim-{:016x}.{}.partial",
            hasher.finish(),
            std::process::id()
        ));
        let output = partial.to_string_lossy().into_owned();
        let mut args = vec![
            "-shared", "-fPIC", "-O2", "-x", "c", "-", "-x", "none", "-o", &output,
        ];
        let link_text = link.map(|l| l.to_string_lossy().into_owned());
        if let Some(link) = &link_text {
            args.push(link);
        }
        self.run(&args, &source).map_err(|error| match error {
            HeaderError::Preprocessor { header, stderr } => HeaderError::Shim {
                header,
                functions: functions.join(", "),
                stderr,
            },
            other => other,
        })?;
        std::fs::rename(&partial, &path).map_err(|source| HeaderError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

/// Whether `program` names an existing file: a path, or a name found on `$PATH`.
fn program_exists(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Where shims are cached.
fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")));
    match base {
        Some(base) => base.join("ffikit"),
        None => std::env::temp_dir().join("ffikit-cache"),
    }
}

fn is_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A path inside a C string literal.
fn escape_c(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Which files' declarations count as a header's own: the header itself, and on request the
/// headers named with [`also`](Self::also) or every header under the same directory.
/// Types from other files stay available for resolving; scope decides what is checked,
/// listed and reported.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    files: Vec<String>,
    names: Vec<String>,
    dirs: Vec<PathBuf>,
}

impl Scope {
    /// Only `file` (a path as the preprocessor names it).
    pub fn file(file: &str) -> Scope {
        Scope {
            files: vec![file.to_owned()],
            ..Scope::default()
        }
    }

    /// Also headers with this name or path ending (`zconf.h`, `openssl/ssl.h`).
    #[must_use]
    pub fn also(mut self, name: &str) -> Scope {
        self.names.push(name.trim_start_matches("./").to_owned());
        self
    }

    /// Also every header in the directory of the scope's first file, or below it.
    #[must_use]
    pub fn same_directory(mut self) -> Scope {
        if let Some(dir) = self.files.first().and_then(|f| Path::new(f).parent()) {
            self.dirs.push(dir.to_path_buf());
        }
        self
    }

    /// Whether a declaration from `origin` is in scope.
    pub fn contains(&self, origin: &Origin) -> bool {
        let Some(file) = origin.file.as_deref() else {
            return false;
        };
        self.files.iter().any(|f| f == file)
            || self
                .names
                .iter()
                .any(|name| file == name || file.ends_with(&format!("/{name}")))
            || self.dirs.iter().any(|dir| Path::new(file).starts_with(dir))
    }
}

/// What [`Declarations::include`] read.
#[derive(Debug, Clone)]
pub struct Included {
    /// The header's own file, as the preprocessor found it (`/usr/include/zlib.h`).
    pub file: String,
    /// The names declared and the declarations skipped, from every file the header
    /// includes; [`Scope`] picks the header's own.
    pub report: Report,
    /// Bytes of preprocessed text read.
    pub preprocessed_bytes: usize,
}

impl Included {
    /// The header's own file as a scope (widen it with [`Scope::also`] and
    /// [`Scope::same_directory`]).
    pub fn scope(&self) -> Scope {
        Scope::file(&self.file)
    }

    /// The skipped declarations in `scope`.
    pub fn skipped_in<'a>(&'a self, scope: &'a Scope) -> impl Iterator<Item = &'a Skipped> {
        self.report
            .skipped
            .iter()
            .filter(|s| s.reason.origin().is_some_and(|o| scope.contains(o)))
    }

    /// One line: what the header itself declared, and what was skipped by kind (`zlib.h:
    /// 91 functions, ...; skipped 24 function-like macros`).
    pub fn summary(&self) -> String {
        self.summary_in(&self.scope(), None)
    }

    /// [`summary`](Self::summary) for a wider scope; with `decls`, names whose origin is in
    /// scope are counted by kind.
    pub fn summary_in(&self, scope: &Scope, decls: Option<&Declarations>) -> String {
        let name = self.file.rsplit('/').next().unwrap_or(&self.file);
        let mut text = format!("{name}:");
        if let Some(decls) = decls {
            let mut counts = [0usize; 5];
            for declared in &self.report.declared {
                if !decls.origin(declared).is_some_and(|o| scope.contains(o)) {
                    continue;
                }
                let slot = match declared {
                    Declared::Function(_) => 0,
                    Declared::Variable(_) => 1,
                    Declared::Typedef(_) => 2,
                    Declared::Tag(..) => 3,
                    _ => 4,
                };
                counts[slot] += 1;
            }
            let words = ["functions", "variables", "typedefs", "tags", "constants"];
            let parts: Vec<String> = counts
                .iter()
                .zip(words)
                .map(|(count, word)| format!("{count} {word}"))
                .collect();
            text.push(' ');
            text.push_str(&parts.join(", "));
            text.push(';');
        }
        let mut by_kind: Vec<(SkipKind, usize)> = Vec::new();
        for skipped in self.skipped_in(scope) {
            match by_kind.iter_mut().find(|(kind, _)| *kind == skipped.kind) {
                Some((_, count)) => *count += 1,
                None => by_kind.push((skipped.kind, 1)),
            }
        }
        by_kind.sort();
        if by_kind.is_empty() {
            text.push_str(" nothing skipped");
        } else {
            let parts: Vec<String> = by_kind
                .iter()
                .map(|(kind, count)| format!("{count} {}", kind.describe()))
                .collect();
            text.push_str(" skipped ");
            text.push_str(&parts.join(", "));
        }
        text
    }
}

/// The file the stub's `#include` entered: the first file entered (flag 1) from `<stdin>`.
fn main_file(preprocessed: &str) -> Option<String> {
    let mut current: Option<String> = None;
    for line in preprocessed.lines() {
        let Some(rest) = line.strip_prefix("# ") else {
            continue;
        };
        let Some(quoted) = rest.split_once(' ').map(|(_, q)| q) else {
            continue;
        };
        let Some(name) = quoted.strip_prefix('"').and_then(|q| q.rsplit_once('"')) else {
            continue;
        };
        let (file, flags) = name;
        let entering = flags.split_whitespace().any(|f| f == "1");
        if entering && current.as_deref() == Some("<stdin>") {
            return Some(file.replace("\\\\", "\\").replace("\\\"", "\""));
        }
        current = Some(file.to_owned());
    }
    None
}

impl Declarations {
    /// Reads a header as installed: runs the C preprocessor on it, declares everything it
    /// (and what it includes) declares — each with its origin, the original file and line
    /// ([`origin`](Self::origin)) — keeps `static inline` functions for shims
    /// ([`inline_function`](Self::inline_function)), and gives every object-like `#define`
    /// its value where it is an integer, floating or string constant, after the
    /// preprocessor expanded it (casts and other macros included; see
    /// [`macro_value`](Self::macro_value)). What cannot be evaluated, function-like macros
    /// and unsupported declarations are reported as skipped, each with its origin.
    ///
    /// Transactional, as [`cdef`](Self::cdef).
    ///
    /// # Errors
    ///
    /// The compiler cannot be run or fails, or a declaration is refused (the error names the
    /// header's file and line).
    pub fn include(&mut self, header: &Header) -> Result<Included, HeaderError> {
        let text = header.preprocess()?;
        let file = main_file(&text).unwrap_or_else(|| header.name.clone());
        let mut scratch = self.clone();
        let declaration_error = |source: Error| HeaderError::Declaration {
            header: header.name.clone(),
            source: Box::new(source.with_original_line()),
        };
        let (mut report, macros) = Parser::for_header(&text, &mut scratch)
            .and_then(Parser::header_declarations)
            .map_err(declaration_error)?;
        // The compiler's own macros (`__GNUC__`, `__x86_64__`) are not the header's.
        let macros: Vec<_> = macros
            .into_iter()
            .filter(|m| {
                !matches!(
                    m.origin.file.as_deref(),
                    Some("<built-in>" | "<command-line>") | None
                )
            })
            .collect();
        let names: Vec<&str> = macros.iter().map(|m| m.name.as_str()).collect();
        let expansions = header.expand(&names)?;
        for (definition, expansion) in macros.iter().zip(expansions) {
            let skip = |message: String| Skipped {
                kind: SkipKind::Macro,
                name: None,
                reason: Error::new(
                    ErrorKind::Unsupported,
                    message,
                    Span::new(8, 8 + definition.name.len()),
                    &definition.line,
                )
                .with_origin(definition.origin.clone()),
            };
            let Some(expansion) = expansion else {
                report.skipped.push(skip(format!(
                    "`{}`: the preprocessor gave no expansion",
                    definition.name
                )));
                continue;
            };
            let evaluated = Parser::new(&expansion, &mut scratch).and_then(|mut parser| {
                let value = parser.macro_value()?;
                parser.define_macro(&definition.name, value, Span::new(0, 0))
            });
            match evaluated {
                Ok(()) => {
                    let declared = Declared::Constant(definition.name.clone());
                    scratch
                        .origins
                        .insert(declared.clone(), definition.origin.clone());
                    report.declared.push(declared);
                }
                Err(error) => report.skipped.push(skip(format!(
                    "`{}` is not a constant: {} (it expands to `{}`)",
                    definition.name,
                    error.message(),
                    shortened(&expansion)
                ))),
            }
        }
        *self = scratch;
        Ok(Included {
            file,
            report,
            preprocessed_bytes: text.len(),
        })
    }
}

/// An expansion as quoted in a message: at most 80 characters.
fn shortened(expansion: &str) -> String {
    let mut chars = expansion.chars();
    let short: String = chars.by_ref().take(80).collect();
    if chars.next().is_some() {
        format!("{short}…")
    } else {
        short
    }
}
