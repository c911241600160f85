//! Tokens with their spans. Preprocessor lines become one `Directive` token each, for the
//! parser to interpret (`#define`, `#pragma pack`) or skip (line markers, `#include`).

use std::sync::Arc;

use crate::error::{Error, ErrorKind, LineMarker, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Ident,
    /// An integer literal: its value and whether a `u` suffix or the size made it unsigned,
    /// and how many `l`s.
    Int {
        value: u128,
        unsigned: bool,
        longs: u8,
        decimal: bool,
    },
    Float,
    /// A character constant's value.
    Char(i128),
    Str,
    Punct(&'static str),
    Directive,
    Eof,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

const PUNCTUATORS: &[&str] = &[
    "...", "<<=", ">>=", "->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "*=",
    "/=", "%=", "+=", "-=", "&=", "^=", "|=", "##", "(", ")", "[", "]", "{", "}", ",", ";", ":",
    "=", "*", "&", "+", "-", "~", "!", "/", "%", "<", ">", "^", "|", "?", ".", "#",
];

/// How many of PUNCTUATORS (at its end) are one character long.
const SINGLE: usize = {
    let mut first_single = 0;
    while PUNCTUATORS[first_single].len() > 1 {
        first_single += 1;
    }
    PUNCTUATORS.len() - first_single
};
/// The first bytes of the multi-character punctuators.
const MULTI_STARTS: &[u8] = b".<>-+=!&|*/%^#";

/// Splits `text` into tokens, from byte `base` of the whole source (so that spans of a
/// `#define`'s body point into the original text). Line markers are not tokens; when
/// `markers` is given, they are collected there (file names shared between markers). When
/// `diverted` is given, `#define` and `#undef` lines go there instead of among the tokens:
/// the preprocessor's `-dD` output puts them between any two tokens (inside enum bodies).
pub(crate) fn tokenize(
    text: &str,
    base: usize,
    source: &str,
    mut markers: Option<&mut Vec<LineMarker>>,
    mut diverted: Option<&mut Vec<Token>>,
) -> Result<Vec<Token>, Error> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::with_capacity(text.len() / 5);
    let mut i = 0;
    let mut line_start = true; // only whitespace since the last newline
    let error = |kind, message: &str, start: usize, end: usize| {
        Error::new(kind, message, Span::new(base + start, base + end), source)
    };
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\n' {
            line_start = true;
            i += 1;
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'\\' && bytes.get(i + 1) == Some(&b'\n') {
            i += 2;
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            let end = text[i + 2..]
                .find("*/")
                .ok_or_else(|| error(ErrorKind::Syntax, "unterminated comment", i, i + 2))?;
            i += 2 + end + 2;
            continue;
        }
        let start = i;
        if c == b'#' && line_start {
            // The whole logical line, continuations included.
            while i < bytes.len() && bytes[i] != b'\n' {
                if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                i += 1;
            }
            // A line marker (`# 123 "file.h" 2`, `#line 123`) is position information, which
            // the preprocessor puts between any two tokens (inside an enum or a struct body
            // too): it is not a token.
            if is_line_marker(&text[start + 1..i]) {
                if let Some(markers) = markers.as_deref_mut() {
                    record_marker(markers, &text[start + 1..i], base + i + 1);
                }
                continue;
            }
            let token = Token {
                kind: TokenKind::Directive,
                span: Span::new(base + start, base + i),
            };
            match diverted.as_deref_mut() {
                Some(diverted) if is_macro_line(&text[start + 1..i]) => diverted.push(token),
                _ => tokens.push(token),
            }
            continue;
        }
        line_start = false;
        let kind = if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'$')
            {
                i += 1;
            }
            // L"..", u8"..", U'.': a prefixed literal.
            let prefix = &text[start..i];
            if matches!(prefix, "L" | "u" | "U" | "u8")
                && matches!(bytes.get(i), Some(b'"' | b'\''))
            {
                let quote = bytes[i];
                i = quoted_end(bytes, i).ok_or_else(|| {
                    error(
                        ErrorKind::Syntax,
                        "unterminated literal",
                        start,
                        bytes.len(),
                    )
                })?;
                if quote == b'"' {
                    TokenKind::Str
                } else {
                    TokenKind::Char(char_value(&text[start + prefix.len()..i]))
                }
            } else {
                TokenKind::Ident
            }
        } else if c.is_ascii_digit()
            || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let (kind, end) =
                number(text, i).map_err(|m| error(ErrorKind::Syntax, m, start, i + 1))?;
            i = end;
            kind
        } else if c == b'"' || c == b'\'' {
            i = quoted_end(bytes, i).ok_or_else(|| {
                let what = if c == b'"' {
                    "string"
                } else {
                    "character constant"
                };
                error(
                    ErrorKind::Syntax,
                    &format!("unterminated {what}"),
                    start,
                    bytes.len(),
                )
            })?;
            if c == b'"' {
                TokenKind::Str
            } else {
                TokenKind::Char(char_value(&text[start..i]))
            }
        } else {
            let rest = &text[i..];
            // Longest match first; most punctuation is one character, so check that last.
            let single = PUNCTUATORS[PUNCTUATORS.len() - SINGLE..]
                .iter()
                .find(|p| p.as_bytes()[0] == c);
            let found = if rest.len() > 1 && MULTI_STARTS.contains(&c) {
                PUNCTUATORS[..PUNCTUATORS.len() - SINGLE]
                    .iter()
                    .find(|p| rest.starts_with(**p))
                    .or(single)
            } else {
                single
            };
            match found {
                Some(p) => {
                    i += p.len();
                    TokenKind::Punct(p)
                }
                None => {
                    let ch = rest.chars().next().expect("not at the end");
                    return Err(error(
                        ErrorKind::Syntax,
                        &format!("unexpected character `{ch}`"),
                        start,
                        start + ch.len_utf8(),
                    ));
                }
            }
        };
        tokens.push(Token {
            kind,
            span: Span::new(base + start, base + i),
        });
    }
    tokens.push(Token {
        kind: TokenKind::Eof,
        span: Span::new(base + bytes.len(), base + bytes.len()),
    });
    Ok(tokens)
}

/// The index after the closing quote of the literal opening at `open`.
fn quoted_end(bytes: &[u8], open: usize) -> Option<usize> {
    let quote = bytes[open];
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' => return None,
            b if b == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The value of a character constant such as `'a'`, `'\n'`, `'\x41'`, `'\0'`.
fn char_value(literal: &str) -> i128 {
    let inner = literal
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .unwrap_or("");
    let mut chars = inner.chars();
    match chars.next() {
        Some('\\') => match chars.next() {
            Some('n') => 10,
            Some('t') => 9,
            Some('r') => 13,
            Some('a') => 7,
            Some('b') => 8,
            Some('f') => 12,
            Some('v') => 11,
            Some('e') => 27,
            Some('x') => i128::from_str_radix(chars.as_str(), 16).unwrap_or(0),
            Some(d @ '0'..='7') => {
                let digits: String = std::iter::once(d).chain(chars.take(2)).collect();
                i128::from_str_radix(&digits, 8).unwrap_or(0)
            }
            Some(other) => other as i128,
            None => 0,
        },
        // Plain char is signed on x86-64: a byte above 127 is negative.
        Some(c) if (c as u32) < 256 => (c as u32 as u8) as i8 as i128,
        Some(c) => c as i128,
        None => 0,
    }
}

/// Lexes a number starting at `start`: (token kind, end index).
fn number(text: &str, start: usize) -> Result<(TokenKind, usize), &'static str> {
    let bytes = text.as_bytes();
    let mut i = start;
    // Take the whole pp-number, then decide what it is.
    while i < bytes.len() {
        let b = bytes[i];
        // A pp-number, as C defines it: `e+`, `E-`, `p+`... continue it.
        let exponent_sign =
            matches!(b, b'+' | b'-') && matches!(bytes[i - 1], b'e' | b'E' | b'p' | b'P');
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || exponent_sign {
            i += 1;
        } else {
            break;
        }
    }
    let literal = &text[start..i];
    let lower = literal.to_ascii_lowercase();
    let is_hex = lower.starts_with("0x");
    let is_float =
        lower.contains('.') || (!is_hex && lower.contains('e')) || (is_hex && lower.contains('p'));
    if is_float {
        return Ok((TokenKind::Float, i));
    }
    let digits_end = lower.find(['u', 'l']).unwrap_or(lower.len());
    let (digits, suffix) = lower.split_at(digits_end);
    let unsigned = suffix.contains('u');
    let longs = suffix.matches('l').count() as u8;
    if !matches!(suffix, "" | "u" | "l" | "ul" | "lu" | "ll" | "ull" | "llu") {
        return Err("invalid integer suffix");
    }
    let decimal = !(digits.starts_with('0') && digits.len() > 1);
    let value = if let Some(hex) = digits.strip_prefix("0x") {
        u128::from_str_radix(hex, 16)
    } else if let Some(bin) = digits.strip_prefix("0b") {
        u128::from_str_radix(bin, 2)
    } else if digits.len() > 1 && digits.starts_with('0') {
        u128::from_str_radix(&digits[1..], 8)
    } else {
        digits.parse::<u128>()
    }
    .map_err(|_| "invalid integer literal")?;
    if value > u64::MAX as u128 {
        return Err("integer literal too large for any integer type");
    }
    Ok((
        TokenKind::Int {
            value,
            unsigned,
            longs,
            decimal,
        },
        i,
    ))
}

/// `# 123 "file"` (gcc's form) or `#line 123 "file"` (the standard's).
/// Reads `# 42 "file" flags` or `#line 42 "file"` (the `#` already gone) into a marker for
/// the text from byte `at`. A marker without a file name keeps the previous file.
fn record_marker(markers: &mut Vec<LineMarker>, directive: &str, at: usize) {
    let body = directive.trim_start_matches([' ', '\t']);
    let body = body.strip_prefix("line").unwrap_or(body);
    let body = body.trim_start_matches([' ', '\t']);
    let digits = body.len() - body.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let Ok(line) = body[..digits].parse::<usize>() else {
        return; // a line number beyond usize: not a position worth keeping
    };
    let previous = markers.last().and_then(|m| m.file.clone());
    let file = match quoted_name(&body[digits..]) {
        Some(name) if previous.as_deref() == Some(name.as_str()) => previous,
        Some(name) => Some(Arc::from(name)),
        None => previous,
    };
    markers.push(LineMarker { at, file, line });
}

/// The file name of a line marker: the first string literal, its escapes (`\\`, `\"`)
/// undone.
fn quoted_name(rest: &str) -> Option<String> {
    let rest = rest.trim_start_matches([' ', '\t']).strip_prefix('"')?;
    let mut name = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(name),
            '\\' => name.push(chars.next()?),
            c => name.push(c),
        }
    }
    None
}

/// `define NAME ...` or `undef NAME` (the `#` already gone).
fn is_macro_line(directive: &str) -> bool {
    let body = directive.trim_start_matches([' ', '\t']);
    ["define", "undef"].iter().any(|word| {
        body.strip_prefix(word)
            .is_some_and(|rest| rest.starts_with([' ', '\t']))
    })
}

fn is_line_marker(directive: &str) -> bool {
    let body = directive.trim_start_matches([' ', '\t']);
    let body = body
        .strip_prefix("line")
        .filter(|rest| rest.starts_with([' ', '\t']))
        .map_or(body, |rest| rest.trim_start_matches([' ', '\t']));
    body.starts_with(|c: char| c.is_ascii_digit())
}
