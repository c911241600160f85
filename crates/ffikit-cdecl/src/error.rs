//! Declaration errors: what went wrong, and where, with the source line and a caret.

use std::fmt;
use std::sync::Arc;

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

/// Where a declaration, constant or error came from: a line of an original header, as the
/// preprocessor's line markers tell (`zlib.h:1234`), or — for text without markers, such as
/// a plain `cdef` — a line of the text itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Origin {
    /// The file, as the preprocessor named it (`/usr/include/zlib.h`, `<command-line>`);
    /// `None` for a line of the declaration text itself.
    pub file: Option<Arc<str>>,
    /// 1-based line in that file.
    pub line: usize,
}

impl Origin {
    /// The file's name without its directories (`zlib.h`), or `None`.
    pub fn file_name(&self) -> Option<&str> {
        self.file
            .as_deref()
            .map(|file| file.rsplit('/').next().unwrap_or(file))
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{file}:{}", self.line),
            None => write!(f, "line {}", self.line),
        }
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
    /// The source line as shown: at most [`SHOWN_LINE`] characters around the error, tabs as
    /// spaces, invisible characters made visible.
    shown: String,
    /// Where the caret goes in `shown`, in characters, and how wide.
    caret: (usize, usize),
    /// The original file and line, where line markers tell (boxed: errors stay small).
    origin: Option<Box<Origin>>,
}

/// The most characters of a source line an error keeps and shows: a minified header can put
/// megabytes on one line, and a report of thousands of skipped declarations keeps one line
/// each.
const SHOWN_LINE: usize = 160;

/// Turns byte offsets of one text into lines and columns. Errors made in increasing order of
/// position (as a parser makes them) cost time linear in the text overall, not per error.
#[derive(Debug)]
pub(crate) struct Locator<'t> {
    text: &'t str,
    /// The preprocessor's line markers, in order of position.
    markers: Vec<LineMarker>,
    line_starts: std::cell::OnceCell<Vec<usize>>,
    /// The last position located: (offset, its line's start, its column).
    last: std::cell::Cell<(usize, usize, usize)>,
}

impl<'t> Locator<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        Locator::with_markers(text, Vec::new())
    }

    pub(crate) fn with_markers(text: &'t str, markers: Vec<LineMarker>) -> Self {
        Locator {
            text,
            markers,
            line_starts: std::cell::OnceCell::new(),
            last: std::cell::Cell::new((0, 0, 1)),
        }
    }

    fn line_starts(&self) -> &[usize] {
        self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(self.text.match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        })
    }

    /// The 1-based line of the text that byte `offset` is on.
    fn text_line(&self, offset: usize) -> usize {
        self.line_starts().partition_point(|&s| s <= offset)
    }

    /// Where byte `offset` came from: the original file and line when a line marker precedes
    /// it, else the text's own line.
    pub(crate) fn origin(&self, offset: usize) -> Origin {
        let text_line = self.text_line(offset);
        let index = self.markers.partition_point(|m| m.at <= offset);
        match index.checked_sub(1).map(|i| &self.markers[i]) {
            Some(marker) => Origin {
                file: marker.file.clone(),
                // A marker may name any line number (`# 18446744073709551615 "f"`).
                line: marker
                    .line
                    .saturating_add(text_line.saturating_sub(self.text_line(marker.at))),
            },
            None => Origin {
                file: None,
                line: text_line,
            },
        }
    }

    /// The 1-based line, the line's first byte, and the 1-based column (in characters).
    fn locate(&self, offset: usize) -> (usize, usize, usize) {
        let starts = self.line_starts();
        let line = starts.partition_point(|&s| s <= offset);
        let line_start = starts[line - 1];
        let (last_offset, last_line_start, last_column) = self.last.get();
        let column = if last_line_start == line_start && last_offset <= offset {
            last_column + self.text[last_offset..offset].chars().count()
        } else {
            self.text[line_start..offset].chars().count() + 1
        };
        self.last.set((offset, line_start, column));
        (line, line_start, column)
    }
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>, span: Span, text: &str) -> Self {
        Error::located(kind, message, span, &Locator::new(text))
    }

    pub(crate) fn located(
        kind: ErrorKind,
        message: impl Into<String>,
        span: Span,
        locator: &Locator<'_>,
    ) -> Self {
        let text = locator.text;
        let start = floor_char_boundary(text, span.start.min(text.len()));
        let span = Span::new(start, span.end.max(start));
        let (line, line_start, column) = locator.locate(start);
        // Only as far as the window can reach (4 bytes a character at most): a line can be
        // the whole text.
        let reach = floor_char_boundary(text, (start + 4 * SHOWN_LINE).min(text.len()));
        let line_end = text[start..reach].find('\n').map_or(reach, |i| start + i);
        // A window of the line around the error, on character boundaries.
        let from = floor_char_boundary(text, start.saturating_sub(SHOWN_LINE / 2).max(line_start));
        let mut to = from;
        for (count, (i, c)) in text[from..line_end].char_indices().enumerate() {
            if count == SHOWN_LINE {
                break;
            }
            to = from + i + c.len_utf8();
        }
        let mut shown = String::new();
        if from > line_start {
            shown.push('…');
        }
        let caret_at = shown.chars().count() + text[from..start].chars().count();
        shown.extend(text[from..to].chars().map(visible));
        if to < line_end || (to == reach && reach < text.len() && !text[reach..].starts_with('\n'))
        {
            shown.push('…');
        }
        let end = floor_char_boundary(text, span.end.min(to.max(start)).min(text.len()));
        let width = text[start..end.max(start)].chars().count().max(1);
        let origin = (!locator.markers.is_empty()).then(|| locator.origin(start));
        Error {
            kind,
            message: message.into(),
            span,
            line,
            column,
            shown,
            caret: (caret_at, width),
            origin: origin.filter(|o| o.file.is_some()).map(Box::new),
        }
    }

    /// The original file and line of the error, when the text carried the preprocessor's
    /// line markers (`zlib.h:1234`).
    pub fn origin(&self) -> Option<&Origin> {
        self.origin.as_deref()
    }

    /// The error, located at `origin` (a line of text made up from the original, such as a
    /// macro's definition).
    pub(crate) fn with_origin(mut self, origin: Origin) -> Error {
        self.origin = Some(Box::new(origin));
        self
    }

    /// The same error shown on the original header's own line, when the origin file can be
    /// read and the bad token appears on that line (the preprocessor may have expanded a
    /// macro there; then the preprocessed line stays).
    #[must_use]
    pub fn with_original_line(mut self) -> Error {
        let Some(origin) = &self.origin else {
            return self;
        };
        let Some(file) = origin.file.as_deref() else {
            return self;
        };
        let Ok(contents) = std::fs::read(file) else {
            return self;
        };
        // Line 0 (`# 0 "file"`) is no line of the file.
        let Some(line) = origin
            .line
            .checked_sub(1)
            .and_then(|index| contents.split(|&b| b == b'\n').nth(index))
        else {
            return self;
        };
        let Ok(line) = std::str::from_utf8(line) else {
            return self;
        };
        let (at, width) = self.caret;
        let token: String = self.shown.chars().skip(at).take(width).collect();
        let found: Vec<usize> = line.match_indices(token.as_str()).map(|(i, _)| i).collect();
        if token.trim().is_empty() || found.len() != 1 || line.chars().count() > SHOWN_LINE {
            return self;
        }
        self.caret = (line[..found[0]].chars().count(), width);
        self.shown = line.chars().map(visible).collect();
        self
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

/// One character as shown under a caret: tabs as a space (they would misplace the caret),
/// control and invisible format characters (NUL, a byte-order mark) as a visible stand-in of
/// the same width.
fn visible(c: char) -> char {
    match c {
        '\t' => ' ',
        '\0'..='\x1f' => char::from_u32(0x2400 + c as u32).unwrap_or('?'),
        '\x7f' => '\u{2421}',
        '\u{feff}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' => '\u{fffd}',
        c => c,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.message)?;
        let gutter = match &self.origin {
            Some(origin) => {
                writeln!(f, " --> {origin}")?;
                origin.line.to_string()
            }
            None => {
                writeln!(f, " --> line {}, column {}", self.line, self.column)?;
                self.line.to_string()
            }
        };
        let pad = " ".repeat(gutter.len());
        writeln!(f, "{pad} |")?;
        writeln!(f, "{gutter} | {}", self.shown)?;
        let (at, width) = self.caret;
        write!(f, "{pad} | {}{}", " ".repeat(at), "^".repeat(width))
    }
}

impl std::error::Error for Error {}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// A line marker of the preprocessor's output (`# 42 "zlib.h"`, `#line 42`): the text from
/// byte `at` (the start of the next line) on is line `line` of `file`.
#[derive(Debug, Clone)]
pub(crate) struct LineMarker {
    pub at: usize,
    pub file: Option<Arc<str>>,
    pub line: usize,
}
