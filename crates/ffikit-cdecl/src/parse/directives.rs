//! Directives that survive the preprocessor: `#define`, `#undef`, `#pragma pack`.

use super::*;

impl<'a> Parser<'a> {
    pub(super) fn directive(&mut self, token: Token) -> Result<(), Error> {
        let line = self.text_of(token);
        let body = line[1..].trim_start();
        let body_offset = token.span.start + (line.len() - body.len());
        if body.is_empty() || body.starts_with(|c: char| c.is_ascii_digit()) {
            return Ok(()); // a line marker from the preprocessor
        }
        let name_len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        let (name, rest) = body.split_at(name_len);
        let rest_offset = body_offset + name_len;
        match name {
            "define" => self.define(rest, rest_offset),
            "undef" => {
                let name = rest.trim();
                if let Some(macros) = &mut self.collected_macros {
                    macros.push(MacroDefinition {
                        name: name.to_owned(),
                        origin: Origin::default(),
                        line: String::new(),
                    });
                } else {
                    self.decls.constants.remove(name);
                    self.decls.macros.remove(name);
                }
                Ok(())
            }
            "pragma" => self.pragma(rest, rest_offset),
            _ => {
                self.skip_note(
                    SkipKind::Directive,
                    format!("`#{name}` ignored: run the C preprocessor on headers first"),
                    token.span,
                );
                Ok(())
            }
        }
    }

    /// Runs `f` over the tokens of `text` (a part of a directive) instead of the main ones.
    pub(super) fn with_tokens<T>(
        &mut self,
        text: &str,
        offset: usize,
        f: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let tokens = lexer::tokenize(text, offset, self.text, None, None)?;
        let saved_tokens = std::mem::replace(&mut self.tokens, tokens);
        let saved_pos = std::mem::replace(&mut self.pos, 0);
        let result = f(self);
        self.tokens = saved_tokens;
        self.pos = saved_pos;
        result
    }

    pub(super) fn define(&mut self, rest: &str, offset: usize) -> Result<(), Error> {
        let trimmed = rest.trim_start();
        let offset = offset + (rest.len() - trimmed.len());
        let name_len = trimmed
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(trimmed.len());
        let name = &trimmed[..name_len];
        let name_span = Span::new(offset, offset + name_len);
        if name.is_empty() {
            return Err(self.error(ErrorKind::Syntax, "expected a macro name", name_span));
        }
        let body = &trimmed[name_len..];
        if body.starts_with('(') {
            if let Some(close) = body.find(')') {
                let mut params: Vec<String> = body[1..close]
                    .split(',')
                    .map(|p| p.trim().to_owned())
                    .collect();
                if params.len() == 1 && params[0].is_empty() {
                    params.clear();
                }
                let variadic = params.last().is_some_and(|p| p.ends_with("..."));
                if variadic {
                    params.pop();
                }
                let origin = self.locator.origin(name_span.start);
                self.decls
                    .origins
                    .insert(Declared::Constant(name.to_owned()), origin);
                self.decls.function_macros.insert(
                    name.to_owned(),
                    crate::decls::FunctionMacro {
                        params,
                        variadic,
                        body: body[close + 1..].trim().to_owned(),
                    },
                );
            }
            self.skip_note(
                SkipKind::FunctionLikeMacro,
                format!("function-like macro `{name}` ignored"),
                name_span,
            );
            return Ok(());
        }
        if body.trim().is_empty() {
            return Ok(()); // `#define GUARD`: nothing to declare
        }
        if let Some(macros) = &mut self.collected_macros {
            // Expanded by the preprocessor later, with every macro it refers to.
            let origin = self.locator.origin(name_span.start);
            macros.push(MacroDefinition {
                name: name.to_owned(),
                origin,
                line: format!("#define {name}{body}"),
            });
            return Ok(());
        }
        let body_offset = offset + name_len;
        match self.with_tokens(body, body_offset, |p| p.macro_value()) {
            Ok(value) => self.define_macro(name, value, name_span),
            Err(error) => {
                let message = format!("`#define {name}` is not a constant: {}", error.message());
                self.skip_note(SkipKind::Macro, message, name_span);
                Ok(())
            }
        }
    }

    /// Declares a macro's value; an integer one is a constant too (usable in array sizes and
    /// enumerators that follow), unless an enumerator of that name exists (glibc's
    /// `#define SHUT_RD SHUT_RD`).
    pub(crate) fn define_macro(
        &mut self,
        name: &str,
        value: MacroValue,
        span: Span,
    ) -> Result<(), Error> {
        if let MacroValue::Integer(constant) = value {
            let is_enumerator = self
                .decls
                .constants
                .get(name)
                .is_some_and(|c| matches!(self.decls.types.get(c.ty), Type::Enum(_)));
            if !is_enumerator {
                self.declare_constant(name, constant.value, constant.ty, span)?;
            }
        } else {
            self.declared(Declared::Constant(name.to_owned()), span);
        }
        self.decls.macros.insert(name.to_owned(), value);
        Ok(())
    }

    pub(super) fn pragma(&mut self, rest: &str, offset: usize) -> Result<(), Error> {
        let trimmed = rest.trim_start();
        if !trimmed.starts_with("pack") {
            return Ok(()); // other pragmas do not change declarations
        }
        let offset = offset + (rest.len() - trimmed.len());
        let args = self.with_tokens(&trimmed[4..], offset + 4, |p| {
            p.expect_punct("(")?;
            let mut args: Vec<(Option<String>, Option<u64>, Span)> = Vec::new();
            while !p.is_punct(")") {
                let token = p.bump();
                match token.kind {
                    TokenKind::Ident => {
                        args.push((Some(p.text_of(token).to_owned()), None, token.span))
                    }
                    TokenKind::Int { value, .. } => {
                        args.push((None, Some(value as u64), token.span))
                    }
                    TokenKind::Punct(",") => {}
                    _ => return Err(p.unexpected("`push`, `pop` or an alignment")),
                }
            }
            p.expect_punct(")")?;
            Ok(args)
        })?;
        let number = args.iter().find_map(|a| a.1.map(|n| (n, a.2)));
        if let Some((n, span)) = number {
            if !n.is_power_of_two() || n > 16 {
                return Err(self.error(
                    ErrorKind::InvalidConstant,
                    format!("`#pragma pack({n})`: the alignment must be 1, 2, 4, 8 or 16"),
                    span,
                ));
            }
        }
        let value = number.map(|(n, _)| n);
        match args.first().and_then(|a| a.0.as_deref()) {
            Some("push") => {
                self.pack_stack.push(self.pack);
                if value.is_some() {
                    self.pack = value;
                }
            }
            Some("pop") => self.pack = self.pack_stack.pop().unwrap_or(None),
            _ => self.pack = value,
        }
        Ok(())
    }
}
