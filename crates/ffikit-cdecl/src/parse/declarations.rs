//! Declarations: a declaration at file scope, and declaring what it names.

use super::*;

impl<'a> Parser<'a> {
    pub(super) fn external_declaration(&mut self) -> Result<(), Error> {
        let token = self.peek();
        if token.kind == TokenKind::Directive {
            self.bump();
            return self.directive(token);
        }
        if self.eat_punct(";") {
            return Ok(());
        }
        match self.word() {
            Some("_Static_assert" | "static_assert") => return self.static_assert(),
            Some("__asm__" | "__asm" | "asm") => {
                self.bump();
                self.skip_balanced("(", ")")?;
                self.expect_punct(";")?;
                return Ok(());
            }
            _ => {}
        }

        let specs = self.specifiers()?;
        if self.eat_punct(";") {
            return Ok(());
        }
        loop {
            let declarator = self.declarator(true)?;
            let Some((name, name_span)) = declarator.name().cloned() else {
                return Err(self.error(
                    ErrorKind::Syntax,
                    "expected a name in this declaration",
                    declarator.span,
                ));
            };
            let mut param_names = None;
            let mut ty = self.apply(specs.base, &declarator, &mut param_names)?;
            // `size_t f(...)`: the result spelled by a typedef name, the declarator only the
            // name and its parameter list.
            let spelled = Spelled {
                params: std::mem::take(&mut self.param_typedefs),
                result: specs.typedef.clone().filter(|_| {
                    declarator.pointers.is_empty()
                        && declarator.suffixes.len() == 1
                        && declarator.inner.is_none()
                }),
            };
            let (attributes, asm_name) = self.after_declarator()?;
            let mut all = specs.attributes.clone();
            all.merge(attributes);
            ty = self.apply_mode(ty, &all, name_span)?;
            let is_function = matches!(self.decls.types.get(ty.ty), Type::Function(_));

            if self.is_punct("{") {
                if !is_function {
                    return Err(self.unexpected("`;` or `,`"));
                }
                self.skip_balanced("{", "}")?;
                if specs.storage == Storage::Static
                    || specs.inline && specs.storage != Storage::Extern
                {
                    self.skip_note(
                        SkipKind::InlineFunction,
                        format!(
                            "`{name}` is an inline or static function: it has no symbol to call (a compiled shim can export it)"
                        ),
                        name_span,
                    );
                    self.record_inline(name, name_span, ty, param_names, spelled);
                } else {
                    self.declare_function(name, name_span, ty, param_names, asm_name, spelled)?;
                }
                return Ok(());
            }
            let mut constant = None;
            if self.eat_punct("=") {
                if specs.storage == Storage::Static && !is_function {
                    constant = self.integer_constant_initializer(ty);
                }
                if constant.is_none() {
                    self.skip_initializer()?;
                }
            }
            match specs.storage {
                Storage::Typedef => self.declare_typedef(name, name_span, ty)?,
                _ if is_function => {
                    if specs.storage == Storage::Static {
                        self.skip_note(
                            SkipKind::Static,
                            format!("`{name}` is a static function: it has no symbol to call"),
                            name_span,
                        );
                    } else {
                        self.declare_function(name, name_span, ty, param_names, asm_name, spelled)?;
                    }
                }
                Storage::Static => match constant {
                    // `static const int N = 4;`: a named constant, as CFFI reads it.
                    Some(value) => self.declare_constant(&name, value, ty.ty, name_span)?,
                    None => self.skip_named(
                        SkipKind::Static,
                        Some(&name),
                        format!("`{name}` is a static variable: it has no symbol"),
                        name_span,
                    ),
                },
                _ => self.declare_variable(name, name_span, ty, asm_name)?,
            }
            if self.eat_punct(",") {
                continue;
            }
            self.expect_punct(";")?;
            return Ok(());
        }
    }

    /// Reports a declared name and records where it came from.
    pub(super) fn declared(&mut self, what: Declared, span: Span) {
        let origin = self.locator.origin(span.start);
        self.decls.origins.insert(what.clone(), origin);
        self.report.declared.push(what);
    }

    pub(super) fn skip_note(&mut self, kind: SkipKind, message: String, span: Span) {
        self.skip_named(kind, None, message, span);
    }

    /// [`skip_note`](Self::skip_note) for a declaration of `name`, when it has one.
    pub(super) fn skip_named(
        &mut self,
        kind: SkipKind,
        name: Option<&str>,
        message: String,
        span: Span,
    ) {
        let reason = self.error(ErrorKind::Unsupported, message, span);
        self.report.skipped.push(Skipped {
            kind,
            name: name.map(str::to_owned),
            reason,
        });
    }

    /// Keeps a `static inline` function's declaration, for a shim to export.
    pub(super) fn record_inline(
        &mut self,
        name: String,
        span: Span,
        ty: QualType,
        param_names: Option<Vec<Option<String>>>,
        spelled: Spelled,
    ) {
        let Type::Function(function) = self.decls.types.get(ty.ty) else {
            return;
        };
        let param_names = param_names.unwrap_or_else(|| vec![None; function.params.len()]);
        let param_typedefs = spelled.params_for(function.params.len());
        let origin = self.locator.origin(span.start);
        self.decls
            .origins
            .insert(Declared::Function(name.clone()), origin);
        self.decls.inline_functions.insert(
            name.clone(),
            FunctionDecl {
                name,
                ty: ty.ty,
                param_names,
                param_typedefs,
                result_typedef: spelled.result,
                asm_name: None,
                span,
            },
        );
    }

    pub(super) fn declare_typedef(
        &mut self,
        name: String,
        span: Span,
        ty: QualType,
    ) -> Result<(), Error> {
        if let Some(&existing) = self.decls.typedefs.get(&name) {
            // The standard typedefs are a convenience, not the user's declarations: the
            // user's own `typedef int bool;` replaces them, as in CFFI.
            if crate::decls::is_standard_typedef(&self.decls.types, &name, existing) {
                self.decls.typedefs.insert(name.clone(), ty);
                self.declared(Declared::Typedef(name), span);
                return Ok(());
            }
            if existing.quals == ty.quals && self.same_type(existing.ty, ty.ty, 0) {
                // The same declaration again (a header included twice): the first stays.
                self.declared(Declared::Typedef(name), span);
                return Ok(());
            }
            if existing != ty {
                let message = format!(
                    "typedef `{name}` redefined as `{}`; it was `{}`",
                    self.decls.types.display(ty),
                    self.decls.types.display(existing)
                );
                return Err(self.error(ErrorKind::Redefinition, message, span));
            }
        }
        if ty.quals.is_empty() {
            self.decls.types.name_by_typedef(ty.ty, &name);
        }
        self.decls.typedefs.insert(name.clone(), ty);
        self.declared(Declared::Typedef(name), span);
        Ok(())
    }

    pub(super) fn declare_function(
        &mut self,
        name: String,
        span: Span,
        ty: QualType,
        param_names: Option<Vec<Option<String>>>,
        asm_name: Option<String>,
        spelled: Spelled,
    ) -> Result<(), Error> {
        if let Some(existing) = self.decls.functions.get(&name) {
            if existing.ty != ty.ty {
                let message = format!(
                    "function `{name}` redeclared as `{}`; it was `{}`",
                    self.decls.types.declaration(ty, &name),
                    self.decls.types.declaration(existing.ty, &name)
                );
                return Err(self.error(ErrorKind::Redefinition, message, span));
            }
        }
        let Type::Function(function) = self.decls.types.get(ty.ty) else {
            unreachable!("declare_function takes function types")
        };
        let param_names = param_names.unwrap_or_else(|| vec![None; function.params.len()]);
        let param_typedefs = spelled.params_for(function.params.len());
        self.decls.record_function(FunctionDecl {
            name: name.clone(),
            ty: ty.ty,
            param_names,
            param_typedefs,
            result_typedef: spelled.result,
            asm_name,
            span,
        });
        self.declared(Declared::Function(name), span);
        Ok(())
    }

    pub(super) fn declare_variable(
        &mut self,
        name: String,
        span: Span,
        ty: QualType,
        asm_name: Option<String>,
    ) -> Result<(), Error> {
        if matches!(self.decls.types.get(ty.ty), Type::Void) {
            return Err(self.error(
                ErrorKind::Incomplete,
                format!("variable `{name}` has type void"),
                span,
            ));
        }
        if let Some(existing) = self.decls.variables.get(&name) {
            if existing.ty != ty {
                let message = format!(
                    "variable `{name}` redeclared as `{}`; it was `{}`",
                    self.decls.types.display(ty),
                    self.decls.types.display(existing.ty)
                );
                return Err(self.error(ErrorKind::Redefinition, message, span));
            }
        }
        self.decls.variables.insert(
            name.clone(),
            VariableDecl {
                name: name.clone(),
                ty,
                asm_name,
                span,
            },
        );
        self.declared(Declared::Variable(name), span);
        Ok(())
    }

    /// Attributes and an `__asm__("symbol")` label after a declarator.
    pub(super) fn after_declarator(&mut self) -> Result<(Attributes, Option<String>), Error> {
        let mut attributes = Attributes::default();
        let mut asm_name = None;
        loop {
            match self.word() {
                Some(w) if is_attribute_keyword(w) => self.attributes(&mut attributes)?,
                Some("__asm__" | "__asm" | "asm") => {
                    self.bump();
                    self.expect_punct("(")?;
                    let mut label = String::new();
                    while self.peek().kind == TokenKind::Str {
                        let token = self.bump();
                        let literal = self.text_of(token);
                        label.push_str(&literal[1..literal.len() - 1]);
                    }
                    self.expect_punct(")")?;
                    asm_name = Some(label);
                }
                _ => return Ok((attributes, asm_name)),
            }
        }
    }

    pub(super) fn apply_mode(
        &mut self,
        ty: QualType,
        attributes: &Attributes,
        span: Span,
    ) -> Result<QualType, Error> {
        let Some((bytes, floating)) = attributes.mode else {
            return Ok(ty);
        };
        let Type::Scalar(scalar) = *self.decls.types.get(ty.ty) else {
            return Ok(ty);
        };
        let signed = scalar.is_signed();
        let new = match (bytes, floating) {
            (1, false) if signed => Scalar::SChar,
            (1, false) => Scalar::UChar,
            (2, false) if signed => Scalar::Short,
            (2, false) => Scalar::UShort,
            (4, false) if signed => Scalar::Int,
            (4, false) => Scalar::UInt,
            (8, false) if signed => Scalar::Long,
            (8, false) => Scalar::ULong,
            (16, false) if signed => Scalar::Int128,
            (16, false) => Scalar::UInt128,
            (4, true) => Scalar::Float,
            (8, true) => Scalar::Double,
            (12, true) => Scalar::LongDouble,
            _ => {
                return Err(self.error(
                    ErrorKind::Unsupported,
                    format!("`__attribute__((mode))` of {bytes} bytes is not supported"),
                    span,
                ));
            }
        };
        Ok(QualType {
            ty: self.decls.types.scalar(new),
            quals: ty.quals,
        })
    }

    pub(super) fn static_assert(&mut self) -> Result<(), Error> {
        let keyword = self.bump();
        self.expect_punct("(")?;
        let value = self.constant_expression()?;
        if self.eat_punct(",") {
            while self.peek().kind == TokenKind::Str {
                self.bump();
            }
        }
        let close = self.expect_punct(")")?;
        self.expect_punct(";")?;
        if value.value == 0 {
            return Err(self.error(
                ErrorKind::InvalidConstant,
                "static assertion failed",
                Span::new(keyword.span.start, close.span.end),
            ));
        }
        Ok(())
    }

    // ---- specifiers -------------------------------------------------------------------------
}
