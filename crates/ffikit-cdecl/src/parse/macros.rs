//! The values of object-like macros: what `#define NAME body` stands for once expanded — an
//! integer constant expression (as [`expr`](super::expr) evaluates it), a floating constant
//! expression, or string literals.

use super::Parser;
use super::expr::Value;
use super::lexer::TokenKind;
use crate::ctype::{Scalar, Type};
use crate::decls::{Constant, MacroValue};
use crate::error::{Error, ErrorKind, Span};

/// An operand of a floating constant expression: integer operands stay integers (so `1 / 2`
/// is 0, as in C) until an operation mixes them with a floating one.
#[derive(Debug, Clone, Copy)]
enum Number {
    Integer(Value),
    Floating(f64, Scalar),
}

impl Number {
    fn as_f64(self) -> f64 {
        match self {
            Number::Integer(v) => v.value as f64,
            Number::Floating(f, _) => f,
        }
    }
}

/// The type of a floating operation: an integer operand takes the other's type, two floating
/// ones the wider (`float` < `double` < `long double`).
fn wider(a: Number, b: Number) -> Scalar {
    let rank = |s: Scalar| match s {
        Scalar::Float => 1,
        Scalar::Double => 2,
        _ => 3,
    };
    match (a, b) {
        (Number::Floating(_, s), Number::Integer(_))
        | (Number::Integer(_), Number::Floating(_, s)) => s,
        (Number::Floating(_, x), Number::Floating(_, y)) => {
            if rank(x) >= rank(y) {
                x
            } else {
                y
            }
        }
        (Number::Integer(_), Number::Integer(_)) => Scalar::Double,
    }
}

/// Rounds to the type's precision (`float` has 24 bits of mantissa).
fn rounded(value: f64, scalar: Scalar) -> f64 {
    if scalar == Scalar::Float {
        f64::from(value as f32)
    } else {
        value
    }
}

impl Parser<'_> {
    /// The whole token list as one macro value.
    pub(crate) fn macro_value(&mut self) -> Result<MacroValue, Error> {
        if self.peek().kind == TokenKind::Str {
            return self.strings();
        }
        let start = self.pos;
        let integer = self
            .constant_expression()
            .and_then(|v| self.at_end().map(|()| v));
        let error = match integer {
            Ok(value) => {
                let ty = self.decls.types.scalar(value.scalar());
                return Ok(MacroValue::Integer(Constant {
                    value: value.value,
                    ty,
                }));
            }
            Err(error) => error,
        };
        let has_float = self.tokens.iter().any(|t| t.kind == TokenKind::Float);
        if !has_float {
            return Err(error);
        }
        self.pos = start;
        let value = self.floating()?;
        self.at_end()?;
        Ok(match value {
            Number::Integer(value) => MacroValue::Integer(Constant {
                value: value.value,
                ty: self.decls.types.scalar(value.scalar()),
            }),
            Number::Floating(value, scalar) => MacroValue::Float {
                value,
                ty: self.decls.types.scalar(scalar),
            },
        })
    }

    fn at_end(&self) -> Result<(), Error> {
        if self.peek().kind == TokenKind::Eof {
            Ok(())
        } else {
            Err(self.unexpected("the end of the constant"))
        }
    }

    /// Adjacent string literals, concatenated, escapes decoded.
    fn strings(&mut self) -> Result<MacroValue, Error> {
        let mut bytes = Vec::new();
        while self.peek().kind == TokenKind::Str {
            let token = self.bump();
            let literal = self.text_of(token);
            let literal = literal.strip_prefix("u8").unwrap_or(literal);
            let Some(inner) = literal
                .strip_prefix('"')
                .and_then(|rest| rest.strip_suffix('"'))
            else {
                return Err(self.error(
                    ErrorKind::Unsupported,
                    "a wide string literal (`L\"..\"`, `u\"..\"`, `U\"..\"`)",
                    token.span,
                ));
            };
            decode_escapes(inner, &mut bytes);
        }
        self.at_end()?;
        Ok(MacroValue::String(bytes))
    }

    fn floating(&mut self) -> Result<Number, Error> {
        self.nested(|p| p.floating_binary(0))
    }

    /// `*` and `/` bind tighter than `+` and `-`; other operators are left to the integer
    /// evaluator (they are not defined for floating operands, or not worth it).
    fn floating_binary(&mut self, min_precedence: u8) -> Result<Number, Error> {
        let mut left = self.floating_unary()?;
        loop {
            let token = self.peek();
            let precedence = match token.kind {
                TokenKind::Punct("+" | "-") => 1,
                TokenKind::Punct("*" | "/") => 2,
                _ => return Ok(left),
            };
            if precedence < min_precedence {
                return Ok(left);
            }
            let TokenKind::Punct(op) = token.kind else {
                return Ok(left);
            };
            self.bump();
            let right = self.nested(|p| p.floating_binary(precedence + 1))?;
            left = self.apply_floating(op, left, right, token.span)?;
        }
    }

    fn apply_floating(&self, op: &str, a: Number, b: Number, span: Span) -> Result<Number, Error> {
        if let (Number::Integer(x), Number::Integer(y)) = (a, b) {
            return self.apply_binary(op, x, y, span).map(Number::Integer);
        }
        let scalar = wider(a, b);
        let (x, y) = (a.as_f64(), b.as_f64());
        let value = match op {
            "+" => x + y,
            "-" => x - y,
            "*" => x * y,
            _ => x / y,
        };
        Ok(Number::Floating(rounded(value, scalar), scalar))
    }

    fn floating_unary(&mut self) -> Result<Number, Error> {
        let token = self.peek();
        match token.kind {
            TokenKind::Punct(op @ ("-" | "+")) => {
                self.bump();
                match self.nested(|p| p.floating_unary())? {
                    Number::Floating(value, scalar) if op == "-" => {
                        Ok(Number::Floating(-value, scalar))
                    }
                    Number::Integer(value) if op == "-" => self
                        .apply_binary("-", Value::zero(), value, token.span)
                        .map(Number::Integer),
                    other => Ok(other),
                }
            }
            TokenKind::Punct("(") if self.starts_type_name(1) => {
                self.bump();
                let ty = self.type_name()?;
                self.expect_punct(")")?;
                let operand = self.nested(|p| p.floating_unary())?;
                match (self.decls.types.get(ty.ty), operand) {
                    (
                        Type::Scalar(s @ (Scalar::Float | Scalar::Double | Scalar::LongDouble)),
                        _,
                    ) => Ok(Number::Floating(rounded(operand.as_f64(), *s), *s)),
                    (_, Number::Integer(value)) => {
                        self.convert(value, ty.ty, token.span).map(Number::Integer)
                    }
                    (_, Number::Floating(value, _)) => {
                        // C converts toward zero; a value out of the type's range is
                        // undefined there, refused here.
                        let truncated = value.trunc();
                        if !truncated.is_finite() || truncated.abs() > 1.7e38 {
                            return Err(self.error(
                                ErrorKind::InvalidConstant,
                                "a floating value out of the integer type's range",
                                token.span,
                            ));
                        }
                        let integer = Value::from_i128(truncated as i128);
                        self.convert(integer, ty.ty, token.span)
                            .map(Number::Integer)
                    }
                }
            }
            TokenKind::Punct("(") => {
                self.bump();
                let value = self.floating()?;
                self.expect_punct(")")?;
                Ok(value)
            }
            TokenKind::Float => {
                self.bump();
                let text = self.text_of(token);
                let (value, scalar) = floating_literal(text).ok_or_else(|| {
                    self.error(
                        ErrorKind::InvalidConstant,
                        format!("`{text}` is not a floating constant ffikit can read"),
                        token.span,
                    )
                })?;
                Ok(Number::Floating(rounded(value, scalar), scalar))
            }
            _ => self.unary().map(Number::Integer),
        }
    }
}

/// A floating literal's value and type: decimal (`2.5e-3`, `1.f`) or hexadecimal
/// (`0x1.8p3`), with its suffix (`f`: float, `l`: long double, none: double).
fn floating_literal(text: &str) -> Option<(f64, Scalar)> {
    let lower = text.to_ascii_lowercase();
    let hex = lower.starts_with("0x");
    let (body, scalar) = if let Some(body) = lower.strip_suffix('f').filter(|_| !hex) {
        (body, Scalar::Float)
    } else if let Some(body) = lower.strip_suffix('l') {
        (body, Scalar::LongDouble)
    } else if hex && lower.ends_with('f') && !lower.contains('p') {
        return None;
    } else if let Some(body) = lower
        .strip_suffix('f')
        .filter(|_| hex && lower.contains('p'))
    {
        (body, Scalar::Float)
    } else {
        (lower.as_str(), Scalar::Double)
    };
    if !hex {
        return body.parse::<f64>().ok().map(|v| (v, scalar));
    }
    // 0x<hex digits>[.<hex digits>]p<exponent>
    let digits = &body[2..];
    let (mantissa, exponent) = digits.split_once('p')?;
    let exponent: i32 = exponent.parse().ok()?;
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let mut value = 0f64;
    for c in whole.chars() {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in fraction.chars() {
        value += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some((value * 2f64.powi(exponent), scalar))
}

/// Appends the bytes a narrow string literal's text (between the quotes) stands for.
fn decode_escapes(inner: &str, bytes: &mut Vec<u8>) {
    let raw = inner.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != b'\\' || i + 1 == raw.len() {
            bytes.push(raw[i]);
            i += 1;
            continue;
        }
        i += 1;
        let escape = raw[i];
        i += 1;
        let byte = match escape {
            b'n' => b'\n',
            b't' => b'\t',
            b'r' => b'\r',
            b'a' => 7,
            b'b' => 8,
            b'f' => 12,
            b'v' => 11,
            b'e' => 27,
            b'x' => {
                let mut value = 0u32;
                while i < raw.len() && raw[i].is_ascii_hexdigit() {
                    value = (value << 4 | char::from(raw[i]).to_digit(16).unwrap_or(0)) & 0xff;
                    i += 1;
                }
                value as u8
            }
            b'0'..=b'7' => {
                let mut value = u32::from(escape - b'0');
                let mut taken = 1;
                while taken < 3 && i < raw.len() && (b'0'..=b'7').contains(&raw[i]) {
                    value = value * 8 + u32::from(raw[i] - b'0');
                    i += 1;
                    taken += 1;
                }
                value as u8
            }
            other => other, // \\ \" \' \?
        };
        bytes.push(byte);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floating_literals_read_as_c_reads_them() {
        assert_eq!(floating_literal("2.5"), Some((2.5, Scalar::Double)));
        assert_eq!(floating_literal("1.5f"), Some((1.5, Scalar::Float)));
        assert_eq!(floating_literal("1e3L"), Some((1000.0, Scalar::LongDouble)));
        assert_eq!(floating_literal("0x1.8p3"), Some((12.0, Scalar::Double)));
        assert_eq!(floating_literal("0x1p-2f"), Some((0.25, Scalar::Float)));
        assert_eq!(floating_literal("0x1.8"), None);
    }

    #[test]
    fn escapes_decode_to_their_bytes() {
        let mut bytes = Vec::new();
        decode_escapes(r#"a\n\x41\101\0\"é"#, &mut bytes);
        assert_eq!(bytes, b"a\nAA\0\"\xc3\xa9");
    }
}
