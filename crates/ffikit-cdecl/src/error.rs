//! Declaration errors: what went wrong, and where, with the source line and a caret.

use std::fmt;

/// A byte range in the declaration text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
}

/// What kind of mistake a declaration made, for matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not C: an unexpected token, an unterminated comment or string.
    Syntax,
    /// A name used as a type that no typedef declares.
    UnknownType,
    /// `void` among other parameters, or a `void` parameter with a name.
    VoidParameter,
    /// A name declared again with a different type, or a struct/union/enum defined twice
    /// differently.
    Redefinition,
    /// A type with no size where one is needed (a member, an array element, `sizeof`).
    Incomplete,
    /// A valid declaration the model cannot express.
    Unsupported,
    /// A constant expression that cannot be evaluated (division by zero, overflow, unknown
    /// name).
    InvalidConstant,
    /// A bitfield or member the layout rules reject.
    InvalidLayout,
    /// Declarators or expressions nested deeper than the parser allows.
    TooDeep,
}

/// A declaration error: the kind, a message, and where in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    span: Span,
    line: usize,
    column: usize,
    source_line: String,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>, span: Span, text: &str) -> Self {
        let start = floor_char_boundary(text, span.start.min(text.len()));
        let span = Span::new(start, span.end.max(start));
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line = text[..start].matches('\n').count() + 1;
        let column = text[line_start..start].chars().count() + 1;
        Error {
            kind,
            message: message.into(),
            span,
            line,
            column,
            source_line: text[line_start..line_end].to_owned(),
        }
    }

    /// The kind of error, for matching.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What went wrong, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The bytes of the text the error points at.
    pub fn span(&self) -> Span {
        self.span
    }

    /// 1-based line of the error.
    pub fn line(&self) -> usize {
        self.line
    }

    /// 1-based column (in characters) of the error.
    pub fn column(&self) -> usize {
        self.column
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.message)?;
        writeln!(f, " --> line {}, column {}", self.line, self.column)?;
        let gutter = self.line.to_string();
        let pad = " ".repeat(gutter.len());
        writeln!(f, "{pad} |")?;
        // Tabs would misplace the caret: show them as single spaces.
        let shown: String = self
            .source_line
            .chars()
            .map(|c| if c == '\t' { ' ' } else { c })
            .collect();
        writeln!(f, "{gutter} | {shown}")?;
        let width = self.source_line[..]
            .char_indices()
            .skip(self.column - 1)
            .take_while(|(i, _)| {
                let line_start = self.span.start - self.column_bytes();
                line_start + i < self.span.end
            })
            .count()
            .max(1);
        write!(
            f,
            "{pad} | {}{}",
            " ".repeat(self.column - 1),
            "^".repeat(width)
        )
    }
}

impl Error {
    /// Bytes between the start of the line and the error.
    fn column_bytes(&self) -> usize {
        self.source_line
            .char_indices()
            .nth(self.column - 1)
            .map_or(self.source_line.len(), |(i, _)| i)
    }
}

impl std::error::Error for Error {}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}
