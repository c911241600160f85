//! Initializers and what is skipped: balanced groups, `static const` values.

use super::*;

impl<'a> Parser<'a> {
    /// From an opening token, past its matching close.
    pub(super) fn skip_balanced(&mut self, open: &str, close: &str) -> Result<(), Error> {
        let start = self.expect_punct(open)?;
        let mut depth = 1usize;
        while depth > 0 {
            let token = self.bump();
            match token.kind {
                TokenKind::Punct(p) if p == open => depth += 1,
                TokenKind::Punct(p) if p == close => depth -= 1,
                TokenKind::Eof => {
                    return Err(self.error(
                        ErrorKind::Syntax,
                        format!("`{open}` is never closed"),
                        start.span,
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The value of a `const` integer (or enum) variable's initializer when it is a constant
    /// expression (converted to the type), the initializer consumed; None, with nothing
    /// consumed, for anything else.
    pub(super) fn integer_constant_initializer(&mut self, ty: QualType) -> Option<i128> {
        if !ty.quals.contains(Qualifiers::CONST) {
            return None;
        }
        let (signed, size) = match self.decls.types.get(ty.ty) {
            Type::Scalar(scalar) if scalar.is_integer() => {
                (scalar.is_signed(), scalar.size_align().0)
            }
            Type::Enum(_) => (true, 4),
            _ => return None,
        };
        if size >= 16 {
            // `__int128`: beyond what a constant holds here.
            return None;
        }
        let start = self.pos;
        let value = self.constant_expression().ok().map(|v| v.value);
        let ends = matches!(self.peek().kind, TokenKind::Punct("," | ";"));
        match value {
            // Converted to the type as C converts (modulo its width; gcc's rule for signed
            // types too): `static const unsigned char c = 300;` is 44.
            Some(value) if ends => {
                let bits = 8 * size as u32;
                let wrapped = value.rem_euclid(1i128 << bits);
                let top = 1i128 << (bits - 1);
                Some(if signed && wrapped >= top {
                    wrapped - (1i128 << bits)
                } else {
                    wrapped
                })
            }
            _ => {
                self.pos = start;
                None
            }
        }
    }

    /// An initializer, up to the `,` or `;` that ends it.
    pub(super) fn skip_initializer(&mut self) -> Result<(), Error> {
        let mut depth = 0usize;
        loop {
            let token = self.peek();
            match token.kind {
                TokenKind::Punct("(" | "[" | "{") => depth += 1,
                TokenKind::Punct(")" | "]" | "}") => {
                    if depth == 0 {
                        return Err(self.unexpected("`;`"));
                    }
                    depth -= 1;
                }
                TokenKind::Punct("," | ";") if depth == 0 => return Ok(()),
                TokenKind::Eof => return Err(self.unexpected("`;`")),
                _ => {}
            }
            self.bump();
        }
    }

    /// Past the end of the declaration starting here: its `;` at depth 0, or the `}` of a
    /// function body.
    pub(super) fn skip_declaration(&mut self) {
        let mut depth = 0usize;
        let mut previous: Option<&str> = None;
        let mut in_body = false;
        loop {
            let token = self.bump();
            match token.kind {
                TokenKind::Eof => return,
                TokenKind::Punct("{") => {
                    if depth == 0 && previous == Some(")") {
                        in_body = true;
                    }
                    depth += 1;
                }
                TokenKind::Punct("(" | "[") => depth += 1,
                TokenKind::Punct(")" | "]") => depth = depth.saturating_sub(1),
                TokenKind::Punct("}") => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 && in_body {
                        return;
                    }
                }
                TokenKind::Punct(";") if depth == 0 => return,
                _ => {}
            }
            previous = match token.kind {
                TokenKind::Punct(p) => Some(p),
                _ => None,
            };
        }
    }

    // ---- preprocessor lines -----------------------------------------------------------------
}
