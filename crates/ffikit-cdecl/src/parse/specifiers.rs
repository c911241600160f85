//! Declaration specifiers: type keywords, typedef names, qualifiers, storage classes, attributes.

use super::*;

impl<'a> Parser<'a> {
    pub(super) fn specifiers(&mut self) -> Result<Specifiers, Error> {
        let start = self.peek().span;
        let mut storage = Storage::None;
        let mut inline = false;
        let mut quals = Qualifiers::NONE;
        let mut attributes = Attributes::default();
        let mut named: Option<QualType> = None;
        let mut typedef: Option<String> = None;
        let mut anonymous_record = false;
        // Counts of the arithmetic keywords.
        let mut counts = Counts::default();
        let mut float_alias: Option<Scalar> = None;
        let mut any_type = false;

        loop {
            let token = self.peek();
            if token.kind != TokenKind::Ident {
                break;
            }
            let word = self.text_of(token);
            match word {
                "typedef" => storage = Storage::Typedef,
                "extern" => storage = Storage::Extern,
                "static" => storage = Storage::Static,
                "auto" | "register" | "_Thread_local" | "__thread" => {
                    if storage == Storage::None {
                        storage = Storage::Other;
                    }
                }
                "inline" | "__inline" | "__inline__" | "_Noreturn" => inline |= word != "_Noreturn",
                // Windows calling conventions: one convention on x86-64, as CFFI ignores them.
                "__extension__" | "_Nonnull" | "_Nullable" | "_Null_unspecified" | "__stdcall"
                | "__cdecl" => {}
                "const" | "__const" | "__const__" => quals = quals.union(Qualifiers::CONST),
                "volatile" | "__volatile" | "__volatile__" => {
                    quals = quals.union(Qualifiers::VOLATILE)
                }
                "restrict" | "__restrict" | "__restrict__" => {
                    quals = quals.union(Qualifiers::RESTRICT)
                }
                "_Atomic" => {
                    return Err(self.error(
                        ErrorKind::Unsupported,
                        "`_Atomic` types are not supported",
                        token.span,
                    ));
                }
                "__attribute__" | "__attribute" => {
                    self.attributes(&mut attributes)?;
                    continue;
                }
                "_Alignas" => {
                    self.bump();
                    self.expect_punct("(")?;
                    let align = if self.starts_type_name(0) {
                        let ty = self.type_name()?;
                        self.size_align_at(ty.ty, token.span)?.1
                    } else {
                        let value = self.constant_expression()?.value;
                        self.alignment(value, token.span)?
                    };
                    self.expect_punct(")")?;
                    attributes.aligned = attributes.aligned.max(Some(align));
                    continue;
                }
                "void" => counts.void += 1,
                "char" => counts.char_ += 1,
                "short" => counts.short += 1,
                "int" => counts.int += 1,
                "long" => counts.long += 1,
                "signed" | "__signed" | "__signed__" => counts.signed += 1,
                "unsigned" => counts.unsigned += 1,
                "float" => counts.float += 1,
                "double" => counts.double += 1,
                "_Bool" => counts.bool_ += 1,
                "_Complex" | "__complex__" => counts.complex += 1,
                "__int128" => counts.int128 += 1,
                "_Float32" => float_alias = Some(Scalar::Float),
                "_Float64" | "_Float32x" => float_alias = Some(Scalar::Double),
                "_Float64x" => float_alias = Some(Scalar::LongDouble),
                "_Float128" | "__float128" | "_Float16" | "__bf16" | "_Decimal32"
                | "_Decimal64" | "_Decimal128" => {
                    return Err(self.error(
                        ErrorKind::Unsupported,
                        format!("`{word}` has no supported representation"),
                        token.span,
                    ));
                }
                "typeof" | "__typeof__" | "__typeof" => {
                    return Err(self.error(
                        ErrorKind::Unsupported,
                        "`typeof` is not supported",
                        token.span,
                    ));
                }
                "__builtin_va_list" => {
                    named = Some(self.decls.types.intern(Type::VaList).into());
                }
                "struct" | "union" => {
                    let kind = if word == "struct" {
                        RecordKind::Struct
                    } else {
                        RecordKind::Union
                    };
                    let (ty, anonymous) = self.record_specifier(kind)?;
                    named = Some(ty.into());
                    anonymous_record = anonymous;
                    any_type = true;
                    continue;
                }
                "enum" => {
                    named = Some(self.enum_specifier()?.into());
                    any_type = true;
                    continue;
                }
                _ => {
                    let typed_already = any_type || named.is_some();
                    if !typed_already {
                        if let Some(&ty) = self.decls.typedefs.get(word) {
                            named = Some(ty);
                            typedef = Some(word.to_owned());
                            any_type = true;
                            self.bump();
                            continue;
                        }
                    }
                    break;
                }
            }
            // Storage classes and qualifiers are not type specifiers (`_Atomic` and
            // `_Alignas` returned or continued above).
            if !is_qualifier_or_storage(word) {
                any_type = true;
            }
            self.bump();
        }

        let end = self.tokens[self.pos.saturating_sub(1)]
            .span
            .end
            .max(start.start);
        let span = Span::new(start.start, end);
        let arithmetic = counts.total() + usize::from(float_alias.is_some());
        let base: QualType = match named {
            Some(ty) => {
                if arithmetic > 0 {
                    return Err(self.error(
                        ErrorKind::Syntax,
                        "a type name combined with other type specifiers",
                        span,
                    ));
                }
                QualType {
                    ty: ty.ty,
                    quals: ty.quals.union(quals),
                }
            }
            None if arithmetic == 0 => {
                let token = self.peek();
                return Err(if token.kind == TokenKind::Ident {
                    self.error(
                        ErrorKind::UnknownType,
                        format!("unknown type name `{}`", self.text_of(token)),
                        token.span,
                    )
                } else {
                    self.unexpected("a type")
                });
            }
            None => {
                let ty = match float_alias {
                    Some(alias) if arithmetic == 1 => self.decls.types.scalar(alias),
                    Some(_) => return Err(self.invalid_combination(span)),
                    None => match counts.resolve() {
                        Some(None) => self.decls.types.void(),
                        Some(Some(scalar)) => self.decls.types.scalar(scalar),
                        None => return Err(self.invalid_combination(span)),
                    },
                };
                QualType { ty, quals }
            }
        };
        Ok(Specifiers {
            base,
            storage,
            inline,
            attributes,
            anonymous_record,
            typedef,
            span,
        })
    }

    pub(super) fn invalid_combination(&self, span: Span) -> Error {
        self.error(
            ErrorKind::Syntax,
            format!(
                "`{}` is not a valid combination of type specifiers",
                &self.text[span.start..span.end]
            ),
            span,
        )
    }

    /// `__attribute__((a, b(args), ...))`, recording the ones that change layout.
    pub(super) fn attributes(&mut self, attributes: &mut Attributes) -> Result<(), Error> {
        self.bump();
        self.expect_punct("(")?;
        self.expect_punct("(")?;
        while !self.is_punct(")") {
            if self.eat_punct(",") {
                continue;
            }
            let token = self.peek();
            if token.kind != TokenKind::Ident {
                return Err(self.unexpected("an attribute name"));
            }
            self.bump();
            let raw = self.text_of(token);
            let name = raw.trim_start_matches("__").trim_end_matches("__");
            match name {
                "packed" => attributes.packed = true,
                "aligned" => {
                    let align = if self.eat_punct("(") {
                        let value = self.constant_expression()?;
                        self.expect_punct(")")?;
                        self.alignment(value.value, token.span)?
                    } else {
                        16 // the largest alignment of any type on x86-64
                    };
                    attributes.aligned = attributes.aligned.max(Some(align));
                }
                "mode" => {
                    self.expect_punct("(")?;
                    let mode_token = self.bump();
                    let mode = self
                        .text_of(mode_token)
                        .trim_start_matches("__")
                        .trim_end_matches("__");
                    attributes.mode = Some(match mode {
                        "QI" | "byte" => (1, false),
                        "HI" => (2, false),
                        "SI" => (4, false),
                        "DI" | "word" | "pointer" => (8, false),
                        "TI" => (16, false),
                        "SF" => (4, true),
                        "DF" => (8, true),
                        "XF" => (12, true),
                        _ => (0, false),
                    });
                    self.expect_punct(")")?;
                }
                "vector_size" | "ext_vector_type" => {
                    return Err(self.error(
                        ErrorKind::Unsupported,
                        "vector types are not supported",
                        token.span,
                    ));
                }
                _ => {
                    if self.is_punct("(") {
                        self.skip_balanced("(", ")")?;
                    }
                }
            }
        }
        self.expect_punct(")")?;
        self.expect_punct(")")?;
        Ok(())
    }

    /// An alignment from an attribute: a power of two gcc accepts (at most 2^28).
    pub(super) fn alignment(&self, value: i128, span: Span) -> Result<u64, Error> {
        u64::try_from(value)
            .ok()
            .filter(|a| a.is_power_of_two() && *a <= 1 << 28)
            .ok_or_else(|| {
                self.error(
                    ErrorKind::InvalidConstant,
                    format!("alignment {value} is not a power of two up to 2^28"),
                    span,
                )
            })
    }

    pub(super) fn size_align_at(&self, ty: TypeId, span: Span) -> Result<(u64, u64), Error> {
        self.decls
            .size_align(ty)
            .map_err(|e| layout_error(e, span, &self.locator))
    }

    // ---- struct, union, enum ----------------------------------------------------------------
}
