//! C declarations for ffikit: the type model, gcc-compatible layouts, and a parser for C
//! declaration text — what CFFI's `ffi.cdef` and LuaJIT's `ffi.cdef` read, including the
//! preprocessor's output for real system headers.
//!
//! Pure data: no `unsafe`, no libffi, no dynamic loading. The ABI-mode runtime
//! (`ffikit-abi`) lowers these types to call frames. Headers as installed go through the
//! system C preprocessor ([`Header`], [`Declarations::include`]):
//!
//! ```
//! use ffikit_cdecl::{Declarations, Header, MacroValue};
//!
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("point.h");
//! # std::fs::write(&path, "#define ORIGIN_X (1 << 4)\nstruct point { int x, y; };\nint norm(struct point p);\n").unwrap();
//! let mut decls = Declarations::new();
//! let included = decls.include(&Header::new(path.to_str().unwrap())).unwrap();
//! let origin = decls.origin(&ffikit_cdecl::Declared::Function("norm".into())).unwrap();
//! assert_eq!((origin.file_name(), origin.line), (Some("point.h"), 3));
//! assert!(matches!(decls.macro_value("ORIGIN_X"), Some(MacroValue::Integer(c)) if c.value == 16));
//! assert!(included.scope().contains(origin));
//! ```
//!
//! ```
//! use ffikit_cdecl::Declarations;
//!
//! let mut decls = Declarations::new();
//! decls.cdef("
//!     #define NAME_MAX 16
//!     struct entry { char name[NAME_MAX]; unsigned flags : 3; struct entry *next; };
//!     int visit(struct entry *list, int (*callback)(const struct entry *, void *), void *data);
//! ").unwrap();
//!
//! let entry = decls.struct_tag("entry").unwrap();
//! let (_, layout) = decls.record_layout(entry).unwrap();
//! assert_eq!((layout.size, layout.align), (32, 8));
//! assert_eq!(layout.fields[2].offset(), 24);
//!
//! let visit = decls.function("visit").unwrap();
//! assert_eq!(
//!     decls.types().declaration(visit.ty, "visit"),
//!     "int visit(struct entry *, int (*)(const struct entry *, void *), void *)"
//! );
//!
//! let error = decls.cdef("int (*f)(int x;").unwrap_err();
//! assert_eq!(error.column(), 15); // the `;`
//! ```
//!
//! # Organization
//!
//! - [`ctype`]: the type model — [`TypeTable`] interns every type as a [`TypeId`] (structural
//!   types by structure, structs/unions/enums by identity, created then completed), and prints
//!   types back as C.
//! - [`layout`]: sizes, alignments and member offsets exactly as gcc lays them out on LP64
//!   Linux (bitfields, packing, alignment attributes).
//! - `parse`: the lexer (tokens with spans), the recursive-descent declaration parser, and
//!   integer constant expressions.
//! - [`Declarations`]: what the parsed text declares (functions, variables, typedefs, tags,
//!   constants, macro values, `static inline` functions), each with its [`Origin`];
//!   [`Declarations::cdef`] is transactional.
//! - `header`: real headers as installed — [`Header`] runs the system C preprocessor (the one
//!   place this crate runs a program), [`Declarations::include`] reads its output with
//!   origins and evaluates every object-like `#define` after a second expansion run,
//!   [`Scope`] tells a header's own declarations from what it includes, and
//!   [`Header::compile_shim`] exports `static inline` functions from a compiled shim.
//!
//! Imports go one way: `error` and `ctype` use nothing of the crate; `layout` uses `ctype`
//! (and gives [`TypeTable::complete_record`]); `decls` uses those; `parse` uses `decls` (and
//! gives [`Declarations::cdef`] and [`Declarations::parse_type`]); `header` sits on top.
//! - [`Error`]: the kind, the span, and the source line with a caret under the bad token.

#![forbid(unsafe_code)]

pub mod ctype;
mod decls;
mod error;
mod header;
pub mod layout;
mod parse;

pub use ctype::{
    Enumeration, Field, FieldLayout, FunctionDecl, FunctionType, MAX_TYPE_DEPTH, QualType,
    Qualifiers, Record, RecordKind, RecordLayout, Scalar, Type, TypeId, TypeTable, VariableDecl,
};
pub use decls::{
    Constant, Declarations, Declared, FunctionMacro, MacroValue, Report, SkipKind, Skipped, TagKind,
};
pub use error::{Error, ErrorKind, Origin, Span};
pub use header::{
    Header, HeaderError, HeaderErrorKind, Included, MAX_PREPROCESSED, SHIM_PREFIX, Scope,
};
pub use layout::LayoutError;
pub use parse::MAX_DEPTH;
