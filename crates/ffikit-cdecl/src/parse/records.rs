//! Structs, unions and enums: their specifiers and bodies, bitfields, enumerators.

use super::*;

impl<'a> Parser<'a> {
    /// Returns the record's type and whether it was defined here without a tag.
    pub(super) fn record_specifier(&mut self, kind: RecordKind) -> Result<(TypeId, bool), Error> {
        self.bump();
        let mut attributes = Attributes::default();
        while self.word().is_some_and(is_attribute_keyword) {
            self.attributes(&mut attributes)?;
        }
        let tag = match self.word() {
            Some(word) if !is_type_keyword(word) && !is_qualifier_or_storage(word) => {
                let token = self.bump();
                Some((word.to_owned(), token.span))
            }
            _ => None,
        };
        while self.word().is_some_and(is_attribute_keyword) {
            self.attributes(&mut attributes)?;
        }
        let tag_kind = TagKind::from(kind);
        if !self.is_punct("{") {
            let Some((tag, tag_span)) = tag else {
                return Err(self.unexpected(&format!("a tag or `{{` after `{}`", kind.keyword())));
            };
            let key = (tag_kind, tag.clone());
            if let Some(&id) = self.decls.tags.get(&key) {
                return Ok((id, false));
            }
            let id = self.decls.types.declare_record(kind, Some(tag.clone()));
            self.decls.tags.insert(key, id);
            self.declared(Declared::Tag(tag_kind, tag), tag_span);
            return Ok((id, false));
        }

        let open = self.peek().span;
        let fields = self.nested(|p| p.record_body(kind))?;
        while self.word().is_some_and(is_attribute_keyword) {
            self.attributes(&mut attributes)?;
        }
        let pack = if attributes.packed {
            Some(1)
        } else {
            self.pack
        };
        let span = tag.as_ref().map_or(open, |t| t.1);
        let complete = |parser: &mut Self, id: TypeId, fields: Vec<Field>| {
            let deepest = fields
                .iter()
                .map(|f| parser.decls.types.depth(f.ty.ty))
                .max();
            if deepest.unwrap_or(0) >= MAX_TYPE_DEPTH {
                return Err(parser.too_deep(span));
            }
            parser
                .decls
                .types
                .complete_record(id, fields, pack, attributes.aligned)
                .map_err(|e| layout_error(e, span, &parser.locator))
        };
        let Some((tag, tag_span)) = tag else {
            let id = self.decls.types.declare_record(kind, None);
            complete(self, id, fields)?;
            return Ok((id, true));
        };
        let key = (tag_kind, tag.clone());
        match self.decls.tags.get(&key).copied() {
            Some(id) if self.decls.types.is_complete(id) => {
                // Defined before: fine only if this definition is the same.
                let candidate = self.decls.types.declare_record(kind, Some(tag.clone()));
                complete(self, candidate, fields)?;
                if !self.same_record(id, candidate) {
                    return Err(self.error(
                        ErrorKind::Redefinition,
                        format!(
                            "`{} {tag}` redefined with different members",
                            kind.keyword()
                        ),
                        tag_span,
                    ));
                }
                Ok((id, false))
            }
            Some(id) => {
                complete(self, id, fields)?;
                self.decls
                    .tag_spans
                    .insert((tag_kind, tag.clone()), tag_span);
                self.declared(Declared::Tag(tag_kind, tag), tag_span);
                Ok((id, false))
            }
            None => {
                let id = self.decls.types.declare_record(kind, Some(tag.clone()));
                self.decls.tags.insert(key, id);
                complete(self, id, fields)?;
                self.decls
                    .tag_spans
                    .insert((tag_kind, tag.clone()), tag_span);
                self.declared(Declared::Tag(tag_kind, tag), tag_span);
                Ok((id, false))
            }
        }
    }

    /// Two definitions agree: same members (names, types as C text, bit widths) and layout.
    pub(super) fn same_record(&self, a: TypeId, b: TypeId) -> bool {
        self.same_type(a, b, 0)
    }

    /// Whether two types are the same structurally: identical, or anonymous structs, unions
    /// and enums with the same members — what a header included twice declares again
    /// (`typedef struct { int __val[2]; } __fsid_t;` from both zlib.h and expat.h).
    pub(super) fn same_type(&self, a: TypeId, b: TypeId, depth: usize) -> bool {
        if a == b {
            return true;
        }
        if depth > MAX_TYPE_DEPTH as usize {
            return false;
        }
        let types = &self.decls.types;
        let same =
            |x: QualType, y: QualType| x.quals == y.quals && self.same_type(x.ty, y.ty, depth + 1);
        match (types.get(a), types.get(b)) {
            (Type::Pointer(x), Type::Pointer(y)) => same(*x, *y),
            (
                Type::Array {
                    element: x,
                    len: lx,
                },
                Type::Array {
                    element: y,
                    len: ly,
                },
            ) => lx == ly && same(*x, *y),
            (Type::Function(x), Type::Function(y)) => {
                x.variadic == y.variadic
                    && x.params.len() == y.params.len()
                    && same(x.result, y.result)
                    && x.params.iter().zip(&y.params).all(|(p, q)| same(*p, *q))
            }
            (Type::Record(x), Type::Record(y)) => {
                let (x, y) = (types.record(*x), types.record(*y));
                let (Some(fx), Some(fy)) = (&x.fields, &y.fields) else {
                    return false;
                };
                x.kind == y.kind
                    && x.tag == y.tag
                    && x.layout == y.layout
                    && fx.len() == fy.len()
                    && fx.iter().zip(fy).all(|(f, g)| {
                        f.name == g.name && f.bit_width == g.bit_width && same(f.ty, g.ty)
                    })
            }
            (Type::Enum(x), Type::Enum(y)) => {
                let (x, y) = (types.enumeration(*x), types.enumeration(*y));
                x.tag == y.tag && x.values == y.values && x.underlying == y.underlying
            }
            _ => false,
        }
    }

    pub(super) fn record_body(&mut self, kind: RecordKind) -> Result<Vec<Field>, Error> {
        self.expect_punct("{")?;
        let mut fields: Vec<Field> = Vec::new();
        let mut names: Vec<(String, Span)> = Vec::new();
        while !self.is_punct("}") {
            let token = self.peek();
            if token.kind == TokenKind::Eof {
                return Err(self.unexpected("`}`"));
            }
            if token.kind == TokenKind::Directive {
                self.bump();
                self.directive(token)?;
                continue;
            }
            if self.eat_punct(";") {
                continue;
            }
            if matches!(self.word(), Some("_Static_assert" | "static_assert")) {
                self.static_assert()?;
                continue;
            }
            let specs = self.specifiers()?;
            if self.eat_punct(";") {
                if specs.anonymous_record {
                    fields.push(Field {
                        name: None,
                        ty: specs.base,
                        bit_width: None,
                        aligned: specs.attributes.aligned,
                        packed: specs.attributes.packed,
                    });
                }
                continue;
            }
            loop {
                let (name, ty, span) = if self.is_punct(":") {
                    (None, specs.base, self.peek().span)
                } else {
                    let declarator = self.declarator(true)?;
                    let mut unused = None;
                    let ty = self.apply(specs.base, &declarator, &mut unused)?;
                    let name = declarator.name().cloned();
                    (name, ty, declarator.span)
                };
                let mut attributes = specs.attributes.clone();
                attributes.merge(self.after_declarator()?.0);
                let bit_width = if self.eat_punct(":") {
                    let value = self.constant_expression()?;
                    let width = u32::try_from(value.value).map_err(|_| {
                        self.error(
                            ErrorKind::InvalidLayout,
                            format!("bitfield width {} is negative or too large", value.value),
                            span,
                        )
                    })?;
                    Some(width)
                } else {
                    None
                };
                let (more, _) = self.after_declarator()?;
                attributes.merge(more);
                let ty = self.apply_mode(ty, &attributes, span)?;
                if name.is_none() && bit_width.is_none() {
                    return Err(self.error(ErrorKind::Syntax, "expected a member name", span));
                }
                if matches!(self.decls.types.get(ty.ty), Type::Function(_)) {
                    return Err(self.error(
                        ErrorKind::Syntax,
                        "a member cannot have a function type (did you mean a pointer?)",
                        span,
                    ));
                }
                let flexible = matches!(self.decls.types.get(ty.ty), Type::Array { len: None, .. });
                if !flexible && !self.decls.types.is_complete(ty.ty) {
                    return Err(self.error(
                        ErrorKind::Incomplete,
                        format!(
                            "member `{}` has incomplete type `{}`",
                            name.as_ref().map_or("<unnamed>", |n| n.0.as_str()),
                            self.decls.types.display(ty)
                        ),
                        span,
                    ));
                }
                if let Some(width) = bit_width {
                    self.check_bitfield(name.as_ref(), ty, width, span)?;
                }
                if let Some((name, name_span)) = &name {
                    if names.iter().any(|(n, _)| n == name) {
                        return Err(self.error(
                            ErrorKind::Redefinition,
                            format!("duplicate member `{name}` in {}", kind.keyword()),
                            *name_span,
                        ));
                    }
                    names.push((name.clone(), *name_span));
                }
                fields.push(Field {
                    name: name.map(|n| n.0),
                    ty,
                    bit_width,
                    aligned: attributes.aligned,
                    packed: attributes.packed,
                });
                if self.eat_punct(",") {
                    continue;
                }
                self.expect_punct(";")?;
                break;
            }
        }
        self.expect_punct("}")?;
        Ok(fields)
    }

    /// The layout rules for a bitfield, checked where the member's span is known.
    pub(super) fn check_bitfield(
        &self,
        name: Option<&(String, Span)>,
        ty: QualType,
        width: u32,
        span: Span,
    ) -> Result<(), Error> {
        let span = name.map_or(span, |n| n.1);
        let label = name.map_or("<unnamed>", |n| n.0.as_str());
        let scalar = match self.decls.types.get(ty.ty) {
            Type::Scalar(s) if s.is_integer() => *s,
            Type::Enum(e) => self.decls.types.enumeration(*e).underlying,
            _ => {
                let message = format!(
                    "bitfield `{label}` has type `{}`, which is not an integer type",
                    self.decls.types.display(ty)
                );
                return Err(self.error(ErrorKind::InvalidLayout, message, span));
            }
        };
        let bits = scalar.size_align().0 * 8;
        if u64::from(width) > bits {
            let message = format!(
                "bitfield `{label}` is {width} bits wide, wider than its type ({bits} bits)"
            );
            return Err(self.error(ErrorKind::InvalidLayout, message, span));
        }
        if width == 0 && name.is_some() {
            let message = format!("bitfield `{label}` has zero width: only unnamed bitfields may");
            return Err(self.error(ErrorKind::InvalidLayout, message, span));
        }
        Ok(())
    }

    pub(super) fn enum_specifier(&mut self) -> Result<TypeId, Error> {
        self.bump();
        let mut attributes = Attributes::default();
        while self.word().is_some_and(is_attribute_keyword) {
            self.attributes(&mut attributes)?;
        }
        let tag = match self.word() {
            Some(word) if !is_type_keyword(word) => {
                let token = self.bump();
                Some((word.to_owned(), token.span))
            }
            _ => None,
        };
        while self.word().is_some_and(is_attribute_keyword) {
            self.attributes(&mut attributes)?;
        }
        let existing = tag
            .as_ref()
            .and_then(|(t, _)| self.decls.tags.get(&(TagKind::Enum, t.clone())).copied());
        if !self.is_punct("{") {
            let Some((tag, tag_span)) = tag else {
                return Err(self.unexpected("a tag or `{` after `enum`"));
            };
            if let Some(id) = existing {
                return Ok(id);
            }
            let id = self.decls.types.declare_enum(Some(tag.clone()));
            self.decls.tags.insert((TagKind::Enum, tag.clone()), id);
            self.declared(Declared::Tag(TagKind::Enum, tag), tag_span);
            return Ok(id);
        }

        let redefining = existing.filter(|&id| self.decls.types.is_complete(id));
        let id = match existing {
            Some(id) if redefining.is_none() => id,
            _ => self
                .decls
                .types
                .declare_enum(tag.as_ref().map(|t| t.0.clone())),
        };
        self.bump(); // {
        let mut values: Vec<(String, i128)> = Vec::new();
        // The next implicit value, if it fits: gcc computes it in the previous value's type,
        // so past LONG_MAX only when that was unsigned, and never past ULONG_MAX.
        let mut next = Some(0i128);
        while !self.is_punct("}") {
            let token = self.peek();
            if token.kind != TokenKind::Ident {
                return Err(self.unexpected("an enumerator name"));
            }
            self.bump();
            let name = self.text_of(token).to_owned();
            let mut ignored = Attributes::default();
            while self.word().is_some_and(is_attribute_keyword) {
                self.attributes(&mut ignored)?;
            }
            let (value, unsigned) = if self.eat_punct("=") {
                let constant = self.constant_expression()?;
                (constant.value, !constant.is_signed())
            } else {
                let value = next.ok_or_else(|| {
                    self.error(
                        ErrorKind::InvalidConstant,
                        format!("overflow in enumeration values: `{name}` is past the largest value an enum can hold"),
                        token.span,
                    )
                })?;
                (value, value > i64::MAX as i128)
            };
            let limit = if unsigned {
                u64::MAX as i128
            } else {
                i64::MAX as i128
            };
            next = value.checked_add(1).filter(|&n| n <= limit);
            if redefining.is_none() {
                self.declare_constant(&name, value, id, token.span)?;
            }
            values.push((name, value));
            if !self.eat_punct(",") {
                break;
            }
        }
        self.expect_punct("}")?;
        while self.word().is_some_and(is_attribute_keyword) {
            self.attributes(&mut attributes)?;
        }
        if let Some(old) = redefining {
            let Type::Enum(e) = *self.decls.types.get(old) else {
                unreachable!()
            };
            if self.decls.types.enumeration(e).values.as_ref() != Some(&values) {
                let (tag, span) = tag.expect("only tagged enums are redefined");
                return Err(self.error(
                    ErrorKind::Redefinition,
                    format!("`enum {tag}` redefined with different enumerators"),
                    span,
                ));
            }
            return Ok(old);
        }
        self.decls
            .types
            .complete_enum(id, values, attributes.packed);
        if let Some((tag, span)) = tag {
            if existing.is_none() {
                self.decls.tags.insert((TagKind::Enum, tag.clone()), id);
            }
            self.decls
                .tag_spans
                .insert((TagKind::Enum, tag.clone()), span);
            self.declared(Declared::Tag(TagKind::Enum, tag), span);
        }
        Ok(id)
    }

    pub(super) fn declare_constant(
        &mut self,
        name: &str,
        value: i128,
        ty: TypeId,
        span: Span,
    ) -> Result<(), Error> {
        if let Some(existing) = self.decls.constants.get(name) {
            if existing.value != value {
                return Err(self.error(
                    ErrorKind::Redefinition,
                    format!(
                        "constant `{name}` redefined as {value}; it was {}",
                        existing.value
                    ),
                    span,
                ));
            }
        }
        self.decls
            .constants
            .insert(name.to_owned(), Constant { value, ty });
        self.declared(Declared::Constant(name.to_owned()), span);
        Ok(())
    }

    // ---- declarators ------------------------------------------------------------------------
}
