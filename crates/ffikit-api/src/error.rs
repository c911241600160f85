use std::path::PathBuf;

/// What went wrong in [`Builder::generate`](crate::Builder::generate), naming the step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Neither sources nor headers were given.
    #[error("nothing to build for `{name}`: no C source and no header given")]
    NothingToBuild {
        /// The library's name.
        name: String,
    },
    /// No output directory: not run from a build script and no `Builder::out_dir`.
    #[error(
        "no output directory: OUT_DIR is not set (not a build script?) and no out_dir was given"
    )]
    NoOutDir,
    /// The compile step failed (cc's own message is the source).
    #[error("compile step failed for `{name}`")]
    Compile {
        /// The library's name.
        name: String,
        /// cc's error.
        #[source]
        source: cc::Error,
    },
    /// Archiving the objects into a static library failed.
    #[error("archive step failed for `lib{name}.a`")]
    Archive {
        /// The library's name.
        name: String,
        /// cc's error.
        #[source]
        source: cc::Error,
    },
    /// Linking the shared object failed.
    #[error("shared-object link step failed for {}: {detail}", path.display())]
    LinkShared {
        /// The shared object that was being linked.
        path: PathBuf,
        /// The linker's output.
        detail: String,
    },
    /// bindgen could not generate the bindings.
    #[error("bindings step failed for `{name}`: bindgen reported an error")]
    Bindgen {
        /// The library's name.
        name: String,
        /// bindgen's error.
        #[source]
        source: bindgen::BindgenError,
    },
    /// libclang is missing and the build needs it (`FFIKIT_API_BLESS=1`).
    #[error("bindings step failed: regenerating the committed bindings needs libclang: {reason}")]
    NoLibclang {
        /// The libclang loader's message.
        reason: String,
    },
    /// Bindings could not be generated and there is no committed file to fall back on.
    #[error("bindings step failed: no committed bindings to fall back on ({reason})")]
    NoCommitted {
        /// Why bindgen could not be used.
        reason: String,
    },
    /// ffikit's own generator could not read a header (the preprocessor's or the parser's
    /// message, with its caret, is the source).
    #[error("bindings step failed for `{name}`: ffikit-gen could not read {}", header.display())]
    Header {
        /// The library's name.
        name: String,
        /// The header.
        header: PathBuf,
        /// Why.
        #[source]
        source: ffikit_cdecl::HeaderError,
    },
    /// An allowlist or blocklist pattern is not a valid regex.
    #[error("bindings step failed for `{name}`")]
    Pattern {
        /// The library's name.
        name: String,
        /// The pattern's error.
        #[source]
        source: ffikit_gen::PatternError,
    },
    /// Reading or writing a file failed.
    #[error("could not read or write {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// The kind of an [`Error`], for matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::NothingToBuild`].
    NothingToBuild,
    /// [`Error::NoOutDir`].
    NoOutDir,
    /// [`Error::Compile`].
    Compile,
    /// [`Error::Archive`].
    Archive,
    /// [`Error::LinkShared`].
    LinkShared,
    /// [`Error::Bindgen`].
    Bindgen,
    /// [`Error::NoLibclang`].
    NoLibclang,
    /// [`Error::NoCommitted`].
    NoCommitted,
    /// [`Error::Header`].
    Header,
    /// [`Error::Pattern`].
    Pattern,
    /// [`Error::Io`].
    Io,
}

impl Error {
    /// The kind of error, for matching.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NothingToBuild { .. } => ErrorKind::NothingToBuild,
            Error::NoOutDir => ErrorKind::NoOutDir,
            Error::Compile { .. } => ErrorKind::Compile,
            Error::Archive { .. } => ErrorKind::Archive,
            Error::LinkShared { .. } => ErrorKind::LinkShared,
            Error::Bindgen { .. } => ErrorKind::Bindgen,
            Error::NoLibclang { .. } => ErrorKind::NoLibclang,
            Error::NoCommitted { .. } => ErrorKind::NoCommitted,
            Error::Header { .. } => ErrorKind::Header,
            Error::Pattern { .. } => ErrorKind::Pattern,
            Error::Io { .. } => ErrorKind::Io,
        }
    }
}
