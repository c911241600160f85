//! Declarators: pointers, arrays, parameter lists, and the types they build.

use super::*;

impl<'a> Parser<'a> {
    /// A declarator, named or abstract (`allow_name: false` in type names).
    pub(super) fn declarator(&mut self, allow_name: bool) -> Result<Declarator, Error> {
        self.nested(|p| p.declarator_inner(allow_name))
    }

    pub(super) fn declarator_inner(&mut self, allow_name: bool) -> Result<Declarator, Error> {
        let start = self.peek().span.start;
        let mut declarator = Declarator::default();
        // `(__attribute__((alloc_size(1))) *f)`: attributes before the pointers too.
        while self.word().is_some_and(is_attribute_keyword) {
            let mut ignored = Attributes::default();
            self.attributes(&mut ignored)?;
        }
        while self.is_punct("*") || self.is_punct("^") {
            let star = self.bump();
            if self.text_of(star) == "^" {
                return Err(self.error(
                    ErrorKind::Unsupported,
                    "block pointers (`^`) are not supported",
                    star.span,
                ));
            }
            let mut quals = Qualifiers::NONE;
            loop {
                match self.word() {
                    Some("const" | "__const" | "__const__") => {
                        quals = quals.union(Qualifiers::CONST)
                    }
                    Some("volatile" | "__volatile" | "__volatile__") => {
                        quals = quals.union(Qualifiers::VOLATILE)
                    }
                    Some("restrict" | "__restrict" | "__restrict__") => {
                        quals = quals.union(Qualifiers::RESTRICT)
                    }
                    Some(
                        "_Nonnull" | "_Nullable" | "_Null_unspecified" | "__extension__"
                        | "__stdcall" | "__cdecl",
                    ) => {}
                    Some(w) if is_attribute_keyword(w) => {
                        let mut ignored = Attributes::default();
                        self.attributes(&mut ignored)?;
                        continue;
                    }
                    _ => break,
                }
                self.bump();
            }
            declarator.pointers.push(quals);
        }
        while self.word().is_some_and(is_attribute_keyword) {
            let mut ignored = Attributes::default();
            self.attributes(&mut ignored)?;
        }
        if self.is_punct("(") && self.paren_opens_declarator(allow_name) {
            self.bump();
            declarator.inner = Some(Box::new(self.declarator(allow_name)?));
            self.expect_punct(")")?;
        } else if let Some(word) = self.word() {
            if allow_name && !is_type_keyword(word) && !is_qualifier_or_storage(word) {
                let token = self.bump();
                declarator.name = Some((word.to_owned(), token.span));
            }
        }
        loop {
            if self.is_punct("[") {
                let suffix = self.array_suffix()?;
                declarator.suffixes.push(suffix);
            } else if self.is_punct("(") {
                let open = self.peek().span;
                let (params, typedefs, variadic) = self.nested(|p| p.parameters())?;
                let close = self.tokens[self.pos - 1].span;
                declarator.suffixes.push(Suffix::Function {
                    params,
                    typedefs,
                    variadic,
                    span: Span::new(open.start, close.end),
                });
            } else {
                break;
            }
        }
        // An empty (abstract) declarator is a zero-width span where it would be.
        let end = if self.pos > 0 && self.tokens[self.pos - 1].span.end > start {
            self.tokens[self.pos - 1].span.end
        } else {
            start
        };
        declarator.span = Span::new(start, end);
        Ok(declarator)
    }

    /// After `(` in a declarator: a nested declarator `(*f)` rather than a parameter list?
    pub(super) fn paren_opens_declarator(&self, allow_name: bool) -> bool {
        let mut ahead = 1;
        // Skip attributes: `(__attribute__((x)) *p)`.
        while self.word_at(ahead).is_some_and(is_attribute_keyword) {
            ahead += 1;
            let mut depth = 0;
            loop {
                let token = self.peek_at(ahead);
                match token.kind {
                    TokenKind::Punct("(") => depth += 1,
                    TokenKind::Punct(")") => depth -= 1,
                    TokenKind::Eof => return false,
                    _ => {}
                }
                ahead += 1;
                if depth == 0 {
                    break;
                }
            }
        }
        if self.is_punct_at(ahead, "*")
            || self.is_punct_at(ahead, "^")
            || self.is_punct_at(ahead, "(")
            || self.is_punct_at(ahead, "[")
        {
            return true;
        }
        match self.word_at(ahead) {
            Some(word) => {
                allow_name
                    && !is_type_keyword(word)
                    && !is_qualifier_or_storage(word)
                    && !self.is_typedef_name(word)
            }
            None => false,
        }
    }

    pub(super) fn array_suffix(&mut self) -> Result<Suffix, Error> {
        let open = self.bump();
        while matches!(
            self.word(),
            Some("static" | "const" | "volatile" | "restrict" | "__restrict" | "__restrict__")
        ) {
            self.bump();
        }
        let len = if self.is_punct("]") || (self.is_punct("*") && self.is_punct_at(1, "]")) {
            self.eat_punct("*");
            None
        } else {
            let expr_start = self.peek().span;
            let value = self.constant_expression()?;
            let len = u64::try_from(value.value).map_err(|_| {
                self.error(
                    ErrorKind::InvalidConstant,
                    format!("array size {} is negative", value.value),
                    expr_start,
                )
            })?;
            Some(len)
        };
        let close = self.expect_punct("]")?;
        Ok(Suffix::Array(
            len,
            Span::new(open.span.start, close.span.end),
        ))
    }

    /// `( parameter-list )`: the parameters (name, adjusted type) and whether it ends in `...`.
    #[allow(clippy::type_complexity)]
    #[allow(
        clippy::type_complexity,
        reason = "names and types, typedef spellings, `...`"
    )]
    pub(super) fn parameters(
        &mut self,
    ) -> Result<(Vec<(Option<String>, QualType)>, Vec<Option<String>>, bool), Error> {
        self.expect_punct("(")?;
        let mut params: Vec<(Option<String>, QualType, Span, bool)> = Vec::new();
        let mut typedefs = Vec::new();
        let mut variadic = false;
        if !self.eat_punct(")") {
            loop {
                if self.eat_punct("...") {
                    variadic = true;
                    self.expect_punct(")")?;
                    break;
                }
                let specs = self.specifiers()?;
                let declarator = self.declarator(true)?;
                let mut unused = None;
                let ty = self.apply(specs.base, &declarator, &mut unused)?;
                let (attributes, _) = self.after_declarator()?;
                let span = Span::new(specs.span.start, declarator.span.end.max(specs.span.end));
                let ty = self.apply_mode(ty, &attributes, span)?;
                let plain = declarator.is_abstract_plain();
                let underived = declarator.pointers.is_empty()
                    && declarator.suffixes.is_empty()
                    && declarator
                        .inner
                        .as_ref()
                        .is_none_or(|inner| inner.is_abstract_plain());
                typedefs.push(specs.typedef.filter(|_| underived));
                params.push((declarator.name().map(|n| n.0.clone()), ty, span, plain));
                if self.eat_punct(",") {
                    continue;
                }
                self.expect_punct(")")?;
                break;
            }
        }
        // `(void)`: no parameters. `void` anywhere else is an error.
        let is_void = |p: &Self, ty: QualType| matches!(p.decls.types.get(ty.ty), Type::Void);
        if params.len() == 1
            && !variadic
            && is_void(self, params[0].1)
            && params[0].3
            && params[0].0.is_none()
        {
            return Ok((Vec::new(), Vec::new(), false));
        }
        let mut adjusted = Vec::with_capacity(params.len());
        for (name, ty, span, _) in params {
            if is_void(self, ty) {
                let message = match &name {
                    Some(name) => format!("parameter `{name}` has type void"),
                    None => "`void` must be the only parameter".to_owned(),
                };
                return Err(self.error(ErrorKind::VoidParameter, message, span));
            }
            adjusted.push((name, self.adjust_parameter(ty)));
        }
        Ok((adjusted, typedefs, variadic))
    }

    /// Arrays and functions as parameters are pointers.
    pub(super) fn adjust_parameter(&mut self, ty: QualType) -> QualType {
        match self.decls.types.get(ty.ty).clone() {
            Type::Array { element, .. } => self.decls.types.pointer(element).into(),
            Type::Function(_) => self.decls.types.pointer(ty).into(),
            _ => ty,
        }
    }

    /// Builds the declared type: pointers bind to the base first, then suffixes right to left,
    /// then the parenthesized inner declarator. `param_names` gets the names of the last
    /// function suffix applied: the declared function's own parameters.
    pub(super) fn apply(
        &mut self,
        base: QualType,
        declarator: &Declarator,
        param_names: &mut Option<Vec<Option<String>>>,
    ) -> Result<QualType, Error> {
        let mut ty = base;
        for &quals in &declarator.pointers {
            ty = QualType {
                ty: self.decls.types.pointer(ty),
                quals,
            };
            self.bounded(ty, declarator.span)?;
        }
        for suffix in declarator.suffixes.iter().rev() {
            match suffix {
                Suffix::Array(len, span) => {
                    match self.decls.types.get(ty.ty) {
                        Type::Function(_) => {
                            return Err(self.error(ErrorKind::Syntax, "array of functions", *span));
                        }
                        _ if !self.decls.types.is_complete(ty.ty) => {
                            let message = format!(
                                "array of incomplete type `{}`",
                                self.decls.types.display(ty)
                            );
                            return Err(self.error(ErrorKind::Incomplete, message, *span));
                        }
                        _ => {}
                    }
                    ty = self.decls.types.array(ty, *len).into();
                    self.bounded(ty, *span)?;
                    if len.is_some() {
                        self.size_align_at(ty.ty, *span)?; // too large?
                    }
                }
                Suffix::Function {
                    params,
                    typedefs,
                    variadic,
                    span,
                } => {
                    if matches!(
                        self.decls.types.get(ty.ty),
                        Type::Function(_) | Type::Array { .. }
                    ) {
                        return Err(self.error(
                            ErrorKind::Syntax,
                            "a function cannot return a function or an array",
                            *span,
                        ));
                    }
                    let function = FunctionType {
                        result: ty,
                        params: params.iter().map(|p| p.1).collect(),
                        variadic: *variadic,
                    };
                    *param_names = Some(params.iter().map(|p| p.0.clone()).collect());
                    self.param_typedefs.clone_from(typedefs);
                    ty = self.decls.types.function(function).into();
                    self.bounded(ty, *span)?;
                }
            }
        }
        if let Some(inner) = &declarator.inner {
            ty = self.apply(ty, inner, param_names)?;
        }
        Ok(ty)
    }

    /// A type name: specifiers and an abstract declarator (`const char *`, `int (*)(void)`).
    pub(super) fn type_name(&mut self) -> Result<QualType, Error> {
        let specs = self.specifiers()?;
        if specs.storage != Storage::None {
            return Err(self.error(
                ErrorKind::Syntax,
                "a storage class in a type name",
                specs.span,
            ));
        }
        let declarator = self.declarator(false)?;
        let mut unused = None;
        self.apply(specs.base, &declarator, &mut unused)
    }

    // ---- skipping ---------------------------------------------------------------------------
}
