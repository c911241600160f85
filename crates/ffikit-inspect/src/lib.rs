//! What a library file says about itself, read from the file and never loaded: none of its
//! code runs (no constructors, as `nm` runs none), and a truncated, corrupt or hostile file is
//! a typed [`Error`], never a signal.
//!
//! ```
//! use ffikit_inspect::{LibraryFile, SymbolKind};
//!
//! let path = std::path::Path::new("/usr/lib/x86_64-linux-gnu/libz.so.1");
//! # if !path.exists() { return Ok(()); }
//! let libz = LibraryFile::read(path)?;
//! assert_eq!(libz.exports().get("zlibVersion"), Some(&SymbolKind::Function));
//! let report = libz.verify("const char *zlibVersion(void); int no_such_function(int);").unwrap();
//! assert_eq!(report.findings.len(), 1); // no_such_function is not exported
//! # Ok::<(), ffikit_inspect::Error>(())
//! ```
//!
//! # Organization
//!
//! - `elf`: exported symbols ([`exported_symbols`]) with kinds, bindings, sizes and versions,
//!   and where the debug information is (the file, or a separate file found by build-id or
//!   `.gnu_debuglink`); [`read_file`], the one way files are read (regular files of at most
//!   [`MAX_FILE_SIZE`], copied into memory so a file changing underneath is harmless).
//! - `dynamic`: the dynamic symbol table through the dynamic segment (`PT_DYNAMIC`), as the
//!   loader finds it; section headers are only the fallback.
//! - `debuginfo`: functions, variables, records and enums from the DWARF (gimli).
//! - `verify`: declarations (ffikit-cdecl) compared with the exports and the DWARF.
//! - `declare`: C declarations written from the DWARF, for a library without a header.
//! - `locate`: [`find_library`], the file a name stands for, as ctypes' `find_library` finds it
//!   (Linux: `LD_LIBRARY_PATH`, `ldconfig -p`, the standard directories; macOS: `.dylib`
//!   names, frameworks, the dyld shared cache).
//! - [`LibraryFile`]: the three together, for one file.
//!
//! `#![forbid(unsafe_code)]`; no libffi, no libloading, no libc: `object` and `gimli` read.

#![forbid(unsafe_code)]

mod debuginfo;
mod declare;
mod dynamic;
mod elf;
mod error;
mod locate;
mod verify;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ffikit_cdecl::Declarations;

pub use declare::DeclaredFromDwarf;
pub use elf::{Binding, ExportedSymbol, MAX_FILE_SIZE, SymbolKind, exported_symbols, read_file};
pub use error::{Error, ErrorKind};
pub use locate::find_library;
pub use verify::{Finding, FindingKind, Verification};

/// A library file's exports, read once, and its debug information, read when first needed.
#[derive(Debug)]
pub struct LibraryFile {
    path: PathBuf,
    exports: HashMap<String, SymbolKind>,
    debug: OnceLock<Option<(PathBuf, debuginfo::DebugInfo)>>,
}

impl LibraryFile {
    /// Reads the file's exported symbols (its debug information waits until a check needs it).
    ///
    /// # Errors
    ///
    /// As [`exported_symbols`].
    pub fn read(path: &Path) -> Result<LibraryFile, Error> {
        Ok(LibraryFile {
            path: path.to_owned(),
            exports: elf::export_kinds(exported_symbols(path)?),
            debug: OnceLock::new(),
        })
    }

    /// A file whose symbols could not be read: no exports, no debug information (checks then
    /// find nothing exported).
    pub fn unreadable(path: &Path) -> LibraryFile {
        LibraryFile {
            path: path.to_owned(),
            exports: HashMap::new(),
            debug: OnceLock::new(),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Each exported name's kind (the default version's, where there are several).
    pub fn exports(&self) -> &HashMap<String, SymbolKind> {
        &self.exports
    }

    /// The file the debug information comes from, if there is any.
    pub fn debug_file(&self) -> Option<&Path> {
        self.debug().map(|(path, _)| path.as_path())
    }

    fn debug(&self) -> Option<&(PathBuf, debuginfo::DebugInfo)> {
        self.debug
            .get_or_init(|| {
                let path = elf::debug_file(&self.path)?;
                let info = debuginfo::read(&path).ok().flatten()?;
                Some((path, info))
            })
            .as_ref()
    }

    /// Checks declarations against the file: does it export each function and global, as a
    /// function or as data? Where it has debug information, do parameter and result types,
    /// variadic-ness, struct and union sizes and member offsets, and enum values agree?
    ///
    /// # Errors
    ///
    /// Declarations that do not parse.
    pub fn verify(&self, declarations: &str) -> Result<Verification, ffikit_cdecl::Error> {
        let mut decls = Declarations::new();
        decls.cdef(declarations)?;
        Ok(self.verify_declarations(&decls, None))
    }

    /// Checks declared things against the library: those whose origin is in `scope` (a
    /// header's own declarations, not libc's it includes), or all of them. Findings name
    /// the original header's file and line where the declarations came from the
    /// preprocessor.
    pub fn verify_declarations(
        &self,
        decls: &Declarations,
        scope: Option<&ffikit_cdecl::Scope>,
    ) -> Verification {
        let mut report = verify::verify(
            decls,
            scope,
            &self.exports,
            self.debug().map(|(_, info)| info),
            None,
        );
        report.debug_file = self.debug_file().map(Path::to_path_buf);
        report
    }

    /// C declarations of the exported functions and globals, and of the structs, unions and
    /// enums, as the file's own debug information (or its separate debug file) describes
    /// them: what a header would say, for a library that comes without one. `None` without
    /// debug information. Check them with [`verify_declarations`](Self::verify_declarations)
    /// once parsed: DWARF gives every member's offset, a declaration only implies it.
    pub fn declarations_from_debug_info(&self) -> Option<DeclaredFromDwarf> {
        let (_, info) = self.debug()?;
        Some(declare::declarations(info, &self.exports))
    }

    /// The findings about one declared function (for refusing a contradicted declaration
    /// when it is bound).
    pub fn verify_function(&self, decls: &Declarations, name: &str) -> Verification {
        verify::verify(
            decls,
            None,
            &self.exports,
            self.debug().map(|(_, info)| info),
            Some(name),
        )
    }
}
