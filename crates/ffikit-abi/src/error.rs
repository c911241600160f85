//! The one error type of ABI mode.

use std::path::PathBuf;

/// What went wrong loading, declaring or calling. Match on [`Error::kind`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No file for the library was found.
    #[error("library `{name}` not found; looked in: {}", tried.join(", "))]
    LibraryNotFound {
        /// The name asked for.
        name: String,
        /// Every place tried, in order.
        tried: Vec<String>,
    },
    /// The file exists but the dynamic loader refused it.
    #[error("failed to load library `{}`", path.display())]
    LibraryLoad {
        /// The file.
        path: PathBuf,
        /// `dlerror`'s text.
        #[source]
        source: libloading::Error,
    },
    /// The library has no such symbol.
    #[error("symbol `{symbol}` not found in `{library}`")]
    SymbolNotFound {
        /// The symbol.
        symbol: String,
        /// The library.
        library: String,
        /// `dlerror`'s text.
        #[source]
        source: libloading::Error,
    },
    /// A data symbol declared as a function, or a function declared as data.
    #[error("`{symbol}` in `{library}` is {actual}, but was declared as {declared}")]
    NotAFunction {
        /// The symbol.
        symbol: String,
        /// The library.
        library: String,
        /// What the ELF symbol table says it is.
        actual: &'static str,
        /// What the declaration says.
        declared: &'static str,
    },
    /// The declaration text is not valid C (the source has the span and a caret).
    #[error("invalid declaration")]
    Declaration(#[source] ffikit_cdecl::Error),
    /// The declaration is valid but declares something else than asked for.
    #[error("{0}")]
    NotDeclared(String),
    /// Wrong number of arguments.
    #[error("`{function}` takes {expected} argument{}, {given} given", if expected == "1" { "" } else { "s" })]
    ArityMismatch {
        /// The function.
        function: String,
        /// How many it takes (the fixed ones, for a variadic function: "at least").
        expected: String,
        /// How many were passed.
        given: usize,
    },
    /// An argument or value of the wrong kind for its C type.
    #[error("{place}: expected {expected}, got {given}")]
    TypeMismatch {
        /// Which argument or field.
        place: String,
        /// The C type.
        expected: String,
        /// What was given.
        given: String,
    },
    /// An integer that does not fit its C type.
    #[error("{place}: {value} is out of range for `{ty}` ({min}..={max})")]
    OutOfRange {
        /// Which argument or field.
        place: String,
        /// The value.
        value: String,
        /// The C type.
        ty: String,
        /// The smallest value the type holds.
        min: String,
        /// The largest.
        max: String,
    },
    /// NULL for a parameter that does not accept it: a `char *` string, or any pointer in a
    /// [`Safe`](crate::Safe) call unless [`allow_null`](crate::Function::allow_null) said so.
    #[error(
        "{place}: NULL passed for a `{ty}` parameter that does not accept NULL (see `allow_null`)"
    )]
    NullPointer {
        /// Which argument.
        place: String,
        /// The C type.
        ty: String,
    },
    /// A raw address given to a safe call ([`Safe`](crate::Safe)), which takes only values
    /// whose memory ffikit vouches for: raw addresses go through the `unsafe`
    /// [`Function::call`](crate::Function::call), where the caller vouches for them.
    #[error(
        "{place}: {given} is a raw address, which a safe call cannot check; pass it through the unsafe `Function::call`"
    )]
    UncheckedPointer {
        /// Which argument.
        place: String,
        /// What was given.
        given: String,
    },
    /// A value larger than ffikit allocates ([`MAX_OBJECT_SIZE`](crate::MAX_OBJECT_SIZE)) or
    /// passes by value ([`MAX_BY_VALUE`](crate::MAX_BY_VALUE)).
    #[error("{what} takes {size} bytes; ffikit {limit_what} at most {limit} bytes")]
    TooLarge {
        /// What was too large (a type, a signature).
        what: String,
        /// Its size.
        size: u64,
        /// "allocates", "passes by value".
        limit_what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// A string with a NUL byte inside, for a C string parameter.
    #[error("{place}: the string has a NUL byte at offset {offset}, so C would see it cut short")]
    InteriorNul {
        /// Which argument.
        place: String,
        /// Where the NUL is.
        offset: usize,
    },
    /// A type ABI mode cannot pass or return.
    #[error("unsupported type `{ty}`: {reason}")]
    UnsupportedType {
        /// The C type.
        ty: String,
        /// Why.
        reason: String,
    },
    /// The library's own debug information contradicts the declaration (see
    /// [`Library::refuse_mismatches`](crate::Library::refuse_mismatches)).
    #[error("`{name}` does not match `{library}`'s own declaration: {findings}")]
    DeclarationMismatch {
        /// The function.
        name: String,
        /// The library.
        library: String,
        /// What differs.
        findings: String,
    },
    /// A callback panicked or returned an error during the call; C got its error result.
    #[error("callback `{callback}` failed: {message}")]
    CallbackFailed {
        /// The callback's name.
        callback: String,
        /// The panic message or the error's text.
        message: String,
    },
    /// libffi refused the call interface.
    #[error("libffi could not prepare the call interface for `{0}`")]
    Prepare(String),
    /// Reading a header (the C preprocessor, its declarations) or compiling a shim for its
    /// `static inline` functions failed.
    #[error(transparent)]
    Header(#[from] ffikit_cdecl::HeaderError),
    /// The allocator refused memory for a C object whose size the caller chose (a
    /// `char[1000000000]` under an address-space limit): an error, never an abort.
    #[error("out of memory: {what} needs {bytes} bytes, which the allocator refused")]
    OutOfMemory {
        /// What was being made.
        what: String,
        /// How many bytes were asked for.
        bytes: usize,
    },
    /// The operating system refused a thread (a [`Pool`](crate::Pool)'s worker); the
    /// threads already started were stopped and joined.
    #[error("the operating system refused worker thread {started} of {requested}")]
    ThreadSpawn {
        /// How many workers were asked for.
        requested: usize,
        /// How many had started (and were stopped again).
        started: usize,
        /// The OS's error.
        #[source]
        source: std::io::Error,
    },
    /// An isolated library's worker process ended during a call — killed by a signal,
    /// exited, or stopped after the call's time limit — or broke the protocol. Its state
    /// (handles, memory, callbacks) is lost; the next call starts a new worker.
    #[error(
        "the worker process of `{library}` {fault}; its state (handles, C memory, callbacks) is lost, and the next call starts a new worker"
    )]
    WorkerFault {
        /// The library.
        library: String,
        /// What happened.
        fault: crate::isolated::WorkerFault,
    },
    /// A [`Handle`](crate::Handle) of a worker process that has ended, given to its
    /// library's new worker: the memory it pointed to is gone.
    #[error(
        "{place}: {handle} is from a worker process that has ended (the current one is #{current}); its memory is gone"
    )]
    StaleHandle {
        /// Which argument.
        place: String,
        /// The handle.
        handle: crate::value::Handle,
        /// The current worker's number.
        current: u64,
    },
    /// A worker process could not be started or spoken to (the system refused a process or
    /// shared memory), or an isolated call was made where it would wait for itself (from a
    /// callback of the same library, outside the [`Invocation`](crate::Invocation) it got).
    #[error("isolated library `{library}`: {what}")]
    WorkerFailed {
        /// The library.
        library: String,
        /// What failed.
        what: String,
        /// The OS's error, if any.
        #[source]
        source: Option<std::io::Error>,
    },
    /// An error the worker process reported, with its kind (binding a symbol it does not
    /// have, a check only the worker could make, a callback that failed there).
    #[error("{message}")]
    Remote {
        /// The error's kind in the worker.
        kind: ErrorKind,
        /// Its text.
        message: String,
    },
}

/// The kind of an [`Error`], for matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::LibraryNotFound`].
    LibraryNotFound,
    /// [`Error::LibraryLoad`].
    LibraryLoadError,
    /// [`Error::SymbolNotFound`].
    SymbolNotFound,
    /// [`Error::NotAFunction`].
    NotAFunction,
    /// [`Error::Declaration`] (but for unsupported types) and [`Error::NotDeclared`].
    DeclarationSyntax,
    /// [`Error::ArityMismatch`].
    ArityMismatch,
    /// [`Error::TypeMismatch`].
    TypeMismatch,
    /// [`Error::OutOfRange`].
    OutOfRange,
    /// [`Error::NullPointer`].
    NullPointer,
    /// [`Error::InteriorNul`].
    InteriorNul,
    /// [`Error::UncheckedPointer`].
    UncheckedPointer,
    /// [`Error::TooLarge`].
    TooLarge,
    /// [`Error::CallbackFailed`].
    CallbackFailed,
    /// [`Error::DeclarationMismatch`].
    DeclarationMismatch,
    /// [`Error::UnsupportedType`], [`Error::Prepare`], and declarations of types the model
    /// cannot express.
    UnsupportedType,
    /// [`Error::Header`].
    Header,
    /// [`Error::OutOfMemory`].
    OutOfMemory,
    /// [`Error::ThreadSpawn`].
    ThreadSpawn,
    /// [`Error::WorkerFault`].
    WorkerFault,
    /// [`Error::StaleHandle`].
    StaleHandle,
    /// [`Error::WorkerFailed`].
    WorkerFailed,
}

impl Error {
    /// The kind of error, for matching.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::LibraryNotFound { .. } => ErrorKind::LibraryNotFound,
            Error::LibraryLoad { .. } => ErrorKind::LibraryLoadError,
            Error::SymbolNotFound { .. } => ErrorKind::SymbolNotFound,
            Error::NotAFunction { .. } => ErrorKind::NotAFunction,
            Error::Declaration(e) if e.kind() == ffikit_cdecl::ErrorKind::Unsupported => {
                ErrorKind::UnsupportedType
            }
            Error::Declaration(_) | Error::NotDeclared(_) => ErrorKind::DeclarationSyntax,
            Error::ArityMismatch { .. } => ErrorKind::ArityMismatch,
            Error::TypeMismatch { .. } => ErrorKind::TypeMismatch,
            Error::OutOfRange { .. } => ErrorKind::OutOfRange,
            Error::NullPointer { .. } => ErrorKind::NullPointer,
            Error::InteriorNul { .. } => ErrorKind::InteriorNul,
            Error::UncheckedPointer { .. } => ErrorKind::UncheckedPointer,
            Error::TooLarge { .. } => ErrorKind::TooLarge,
            Error::CallbackFailed { .. } => ErrorKind::CallbackFailed,
            Error::DeclarationMismatch { .. } => ErrorKind::DeclarationMismatch,
            Error::UnsupportedType { .. } | Error::Prepare(_) => ErrorKind::UnsupportedType,
            Error::Header(_) => ErrorKind::Header,
            Error::OutOfMemory { .. } => ErrorKind::OutOfMemory,
            Error::ThreadSpawn { .. } => ErrorKind::ThreadSpawn,
            Error::WorkerFault { .. } => ErrorKind::WorkerFault,
            Error::StaleHandle { .. } => ErrorKind::StaleHandle,
            Error::WorkerFailed { .. } => ErrorKind::WorkerFailed,
            Error::Remote { kind, .. } => *kind,
        }
    }
}

impl From<ffikit_cdecl::Error> for Error {
    fn from(error: ffikit_cdecl::Error) -> Self {
        Error::Declaration(error)
    }
}
