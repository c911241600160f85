//! Integer constant expressions, as C evaluates them: array sizes, enum values, bitfield
//! widths, `#define`s, `_Static_assert`. Values carry their C type (width and signedness) so
//! that `~0u`, `-1 >> 1` and `(unsigned char)300` come out as gcc computes them.

use super::Parser;
use super::lexer::TokenKind;
use crate::ctype::{Scalar, Type};
use crate::error::{Error, ErrorKind, Span};

/// A value of an integer type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Value {
    pub value: i128,
    signed: bool,
    bits: u32,
}

impl Value {
    /// Whether the value has a signed type.
    pub(crate) fn is_signed(&self) -> bool {
        self.signed
    }

    fn new(value: i128, signed: bool, bits: u32) -> Value {
        let mut v = Value {
            value,
            signed,
            bits,
        };
        v.wrap();
        v
    }

    pub(crate) fn zero() -> Value {
        Value::int(0)
    }

    /// A value of type `__int128`, to be converted by a cast.
    pub(crate) fn from_i128(value: i128) -> Value {
        Value::new(value, true, 128)
    }

    fn int(value: i128) -> Value {
        Value::new(value, true, 32)
    }

    /// Reduces to the type's range, as conversion to it does.
    fn wrap(&mut self) {
        if self.bits >= 128 {
            return;
        }
        let mask = (1i128 << self.bits) - 1;
        let low = self.value & mask;
        self.value = if self.signed && low >> (self.bits - 1) & 1 == 1 {
            low - (1i128 << self.bits)
        } else {
            low
        };
    }

    /// The integer promotions: anything narrower than int becomes int.
    fn promote(self) -> Value {
        if self.bits < 32 {
            Value::new(self.value, true, 32)
        } else {
            self
        }
    }

    /// The C type of the value.
    pub fn scalar(self) -> Scalar {
        match (self.bits, self.signed) {
            (..=32, true) => Scalar::Int,
            (..=32, false) => Scalar::UInt,
            (..=64, true) => Scalar::Long,
            (..=64, false) => Scalar::ULong,
            (_, true) => Scalar::Int128,
            (_, false) => Scalar::UInt128,
        }
    }
}

/// The usual arithmetic conversions: the common type of two operands.
fn common(a: Value, b: Value) -> (bool, u32) {
    let (a, b) = (a.promote(), b.promote());
    if a.signed == b.signed {
        (a.signed, a.bits.max(b.bits))
    } else {
        let (signed, unsigned) = if a.signed { (a, b) } else { (b, a) };
        if unsigned.bits >= signed.bits {
            (false, unsigned.bits)
        } else {
            (true, signed.bits)
        }
    }
}

const BINARY: &[(&str, u8)] = &[
    ("||", 1),
    ("&&", 2),
    ("|", 3),
    ("^", 4),
    ("&", 5),
    ("==", 6),
    ("!=", 6),
    ("<", 7),
    (">", 7),
    ("<=", 7),
    (">=", 7),
    ("<<", 8),
    (">>", 8),
    ("+", 9),
    ("-", 9),
    ("*", 10),
    ("/", 10),
    ("%", 10),
];

impl Parser<'_> {
    pub(crate) fn constant_expression(&mut self) -> Result<Value, Error> {
        self.nested(|p| p.conditional())
    }

    fn conditional(&mut self) -> Result<Value, Error> {
        let condition = self.binary(1)?;
        if !self.eat_punct("?") {
            return Ok(condition);
        }
        let then = self.constant_expression()?;
        self.expect_punct(":")?;
        let otherwise = self.constant_expression()?;
        let (signed, bits) = common(then, otherwise);
        let chosen = if condition.value != 0 {
            then
        } else {
            otherwise
        };
        Ok(Value::new(chosen.value, signed, bits))
    }

    fn binary(&mut self, min_precedence: u8) -> Result<Value, Error> {
        let mut left = self.unary()?;
        loop {
            let token = self.peek();
            let TokenKind::Punct(op) = token.kind else {
                return Ok(left);
            };
            let Some(&(_, precedence)) = BINARY.iter().find(|(o, _)| *o == op) else {
                return Ok(left);
            };
            if precedence < min_precedence {
                return Ok(left);
            }
            self.bump();
            let right = self.binary(precedence + 1)?;
            left = self.apply_binary(op, left, right, token.span)?;
        }
    }

    pub(super) fn apply_binary(
        &self,
        op: &str,
        a: Value,
        b: Value,
        span: Span,
    ) -> Result<Value, Error> {
        let invalid = |message: &str| self.error(ErrorKind::InvalidConstant, message, span);
        let truth = |t: bool| Value::int(i128::from(t));
        let (signed, bits) = common(a, b);
        // Operands converted to the common type, as C compares and computes them.
        let (x, y) = (
            Value::new(a.value, signed, bits).value,
            Value::new(b.value, signed, bits).value,
        );
        Ok(match op {
            "||" => truth(a.value != 0 || b.value != 0),
            "&&" => truth(a.value != 0 && b.value != 0),
            "==" => truth(x == y),
            "!=" => truth(x != y),
            "<" => truth(x < y),
            ">" => truth(x > y),
            "<=" => truth(x <= y),
            ">=" => truth(x >= y),
            "<<" | ">>" => {
                let left = a.promote();
                if b.value < 0 || b.value >= i128::from(left.bits) {
                    return Err(invalid("shift count is negative or too large"));
                }
                let value = if op == "<<" {
                    left.value << b.value
                } else {
                    left.value >> b.value
                };
                Value::new(value, left.signed, left.bits)
            }
            "/" | "%" => {
                if y == 0 {
                    return Err(invalid("division by zero in a constant expression"));
                }
                let value = if op == "/" { x / y } else { x % y };
                Value::new(value, signed, bits)
            }
            "+" => Value::new(x.wrapping_add(y), signed, bits),
            "-" => Value::new(x.wrapping_sub(y), signed, bits),
            "*" => Value::new(x.wrapping_mul(y), signed, bits),
            "&" => Value::new(x & y, signed, bits),
            "|" => Value::new(x | y, signed, bits),
            "^" => Value::new(x ^ y, signed, bits),
            _ => unreachable!("every operator in BINARY is handled"),
        })
    }

    pub(super) fn unary(&mut self) -> Result<Value, Error> {
        self.nested(|p| p.unary_inner())
    }

    fn unary_inner(&mut self) -> Result<Value, Error> {
        let token = self.peek();
        match token.kind {
            TokenKind::Punct(op @ ("-" | "+" | "~" | "!")) => {
                self.bump();
                let operand = self.unary()?.promote();
                Ok(match op {
                    "-" => Value::new(operand.value.wrapping_neg(), operand.signed, operand.bits),
                    "+" => operand,
                    "~" => Value::new(!operand.value, operand.signed, operand.bits),
                    _ => Value::int(i128::from(operand.value == 0)),
                })
            }
            TokenKind::Punct("(") if self.starts_type_name(1) => {
                self.bump();
                let ty = self.type_name()?;
                self.expect_punct(")")?;
                let operand = self.unary()?;
                self.convert(operand, ty.ty, token.span)
            }
            TokenKind::Punct("(") => {
                self.bump();
                let value = self.constant_expression()?;
                self.expect_punct(")")?;
                Ok(value)
            }
            TokenKind::Ident => {
                let word = self.text_of(token);
                match word {
                    "sizeof" | "_Alignof" | "alignof" | "__alignof__" | "__alignof" => {
                        self.bump();
                        if !(self.is_punct("(") && self.starts_type_name(1)) {
                            return Err(self.error(
                                ErrorKind::Unsupported,
                                format!(
                                    "`{word}` of an expression: only `{word}(type)` is supported"
                                ),
                                token.span,
                            ));
                        }
                        self.bump();
                        let ty = self.type_name()?;
                        let close = self.expect_punct(")")?;
                        let (size, align) =
                            self.size_align_at(ty.ty, Span::new(token.span.start, close.span.end))?;
                        let value = if word == "sizeof" { size } else { align };
                        Ok(Value::new(i128::from(value), false, 64))
                    }
                    _ => {
                        self.bump();
                        let Some(constant) = self.decls.constants.get(word).copied() else {
                            return Err(self.error(
                                ErrorKind::InvalidConstant,
                                format!("`{word}` is not a known constant"),
                                token.span,
                            ));
                        };
                        let scalar = match self.decls.types.get(constant.ty) {
                            Type::Scalar(s) => *s,
                            Type::Enum(_) => Scalar::Int,
                            _ => Scalar::Long,
                        };
                        let (size, _) = scalar.size_align();
                        Ok(Value::new(
                            constant.value,
                            scalar.is_signed(),
                            size as u32 * 8,
                        ))
                    }
                }
            }
            TokenKind::Int {
                value,
                unsigned,
                longs,
                decimal,
            } => {
                self.bump();
                let value = value as i128;
                // C's rule: the first type of the list that holds the value.
                let candidates: &[(bool, u32)] = match (unsigned, longs > 0, decimal) {
                    (false, false, true) => &[(true, 32), (true, 64)],
                    (false, false, false) => &[(true, 32), (false, 32), (true, 64), (false, 64)],
                    (false, true, true) => &[(true, 64)],
                    (false, true, false) => &[(true, 64), (false, 64)],
                    (true, false, _) => &[(false, 32), (false, 64)],
                    (true, true, _) => &[(false, 64)],
                };
                let fits = |&&(signed, bits): &&(bool, u32)| {
                    let max = if signed {
                        (1i128 << (bits - 1)) - 1
                    } else {
                        (1i128 << bits) - 1
                    };
                    value <= max
                };
                let &(signed, bits) = candidates.iter().find(fits).unwrap_or(&(false, 64));
                Ok(Value::new(value, signed, bits))
            }
            TokenKind::Char(value) => {
                self.bump();
                Ok(Value::int(value))
            }
            TokenKind::Float => Err(self.error(
                ErrorKind::InvalidConstant,
                "a floating constant in an integer constant expression",
                token.span,
            )),
            _ => Err(self.unexpected("a constant expression")),
        }
    }

    /// A cast: the value converted to an integer (or pointer) type.
    pub(super) fn convert(
        &self,
        value: Value,
        ty: crate::ctype::TypeId,
        span: Span,
    ) -> Result<Value, Error> {
        match self.decls.types.get(ty) {
            Type::Scalar(Scalar::Bool) => Ok(Value::int(i128::from(value.value != 0))),
            Type::Scalar(s) if s.is_integer() => {
                let bits = s.size_align().0 as u32 * 8;
                Ok(Value::new(value.value, s.is_signed(), bits))
            }
            Type::Enum(e) => {
                let s = self.decls.types.enumeration(*e).underlying;
                Ok(Value::new(
                    value.value,
                    s.is_signed(),
                    s.size_align().0 as u32 * 8,
                ))
            }
            Type::Pointer(_) => Ok(Value::new(value.value, false, 64)),
            _ => Err(self.error(
                ErrorKind::InvalidConstant,
                format!(
                    "a cast to `{}` in an integer constant expression",
                    self.decls.types.display(ty)
                ),
                span,
            )),
        }
    }
}
