//! What could not be read, and why.

use std::path::PathBuf;

/// A library file that could not be read or understood. Never a crash: a truncated, corrupt
/// or hostile file is one of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read: missing, not a regular file, larger than
    /// [`MAX_FILE_SIZE`](crate::MAX_FILE_SIZE).
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a 64-bit ELF object.
    #[error("{} is not a 64-bit ELF file: {reason}", path.display())]
    NotElf {
        /// The file.
        path: PathBuf,
        /// What did not parse.
        reason: String,
    },
    /// Part of the file is damaged: it points outside itself, or a table is cut short.
    #[error("{}: {what}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What could not be read.
        what: String,
    },
}

/// [`Error`]'s kind, for matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::Read`].
    Read,
    /// [`Error::NotElf`].
    NotElf,
    /// [`Error::Malformed`].
    Malformed,
}

impl Error {
    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Read { .. } => ErrorKind::Read,
            Error::NotElf { .. } => ErrorKind::NotElf,
            Error::Malformed { .. } => ErrorKind::Malformed,
        }
    }
}
