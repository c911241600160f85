//! `#[derive(CStruct)]`: describes a `#[repr(C)]` Rust struct or union's C layout — size,
//! alignment, and each field's name, offset and C kind — at compile time, so that ffikit-abi
//! can check it once against a C declaration before a typed handle or typed callback passes
//! it by value. Re-exported as `ffikit_abi::CStruct`; see its documentation for an example.
//!
//! # Organization
//!
//! One derive: [`CStruct`]. It implements `ffikit_abi::CType` (the layout, as
//! `Kind::Record`) and `ffikit_abi::CValue` (moving the value in and out of libffi's
//! buffers), both `unsafe` traits: the derive is what makes their promise true — it refuses
//! any type without `#[repr(C)]`, with generics, or with a field whose type is not itself a
//! `CType` (that is a compile error at the field).

use proc_macro::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, parse_macro_input};

/// Records a `#[repr(C)]` struct's or union's C layout for ffikit's typed calls.
///
/// Every field's type must itself be a C type: integers, `f32`/`f64`, `bool`, raw pointers,
/// arrays of those, or another `#[derive(CStruct)]` type.
#[proc_macro_derive(CStruct)]
pub fn derive_c_struct(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

fn expand(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let name = &input.ident;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "#[derive(CStruct)] takes no generic parameters: a C struct has one layout",
        ));
    }
    // `#[repr(C)]`, possibly with `packed` or `align(N)` beside it.
    let mut repr_c = false;
    for attr in input
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("repr"))
    {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("C") {
                repr_c = true;
            } else if meta.path.is_ident("packed") || meta.path.is_ident("align") {
                // `packed`, `packed(N)`, `align(N)`: the compiler's layout functions below
                // already honour them; the argument is read so that nothing is left over.
                if meta.input.peek(syn::token::Paren) {
                    let argument;
                    syn::parenthesized!(argument in meta.input);
                    argument.parse::<syn::LitInt>()?;
                }
            } else {
                return Err(meta.error(
                    "#[derive(CStruct)] takes #[repr(C)] with `packed`, `packed(N)` or `align(N)` beside it",
                ));
            }
            Ok(())
        })?;
    }
    if !repr_c {
        return Err(syn::Error::new_spanned(
            name,
            "#[derive(CStruct)] needs #[repr(C)]: without it Rust may reorder the fields",
        ));
    }
    let (union, fields) = match &input.data {
        Data::Struct(data) => (false, &data.fields),
        Data::Union(data) => {
            return members(name, true, data.fields.named.iter().collect());
        }
        Data::Enum(_) => {
            return Err(syn::Error::new_spanned(
                name,
                "#[derive(CStruct)] is for structs and unions; a C enum is an integer (use the integer type)",
            ));
        }
    };
    let Fields::Named(named) = fields else {
        return Err(syn::Error::new_spanned(
            fields,
            "#[derive(CStruct)] needs named fields: they are checked against the C members' names",
        ));
    };
    members(name, union, named.named.iter().collect())
}

fn members(
    name: &syn::Ident,
    union: bool,
    fields: Vec<&syn::Field>,
) -> syn::Result<proc_macro2::TokenStream> {
    let rows = fields.iter().map(|field| {
        let ident = field.ident.as_ref().expect("named fields");
        let ty = &field.ty;
        // A field name may be a raw identifier (`r#type`); C knows it as `type`.
        let text = ident.to_string();
        let text = text.trim_start_matches("r#");
        quote! {
            ::ffikit_abi::CMember {
                name: #text,
                offset: ::core::mem::offset_of!(#name, #ident),
                kind: <#ty as ::ffikit_abi::CType>::KIND,
            }
        }
    });
    let text = name.to_string();
    Ok(quote! {
        // SAFETY: the layout is the compiler's own (size_of, align_of, offset_of of a
        // #[repr(C)] type), and every field's kind is its type's CType kind.
        unsafe impl ::ffikit_abi::CType for #name {
            const KIND: ::ffikit_abi::Kind = ::ffikit_abi::Kind::Record(&::ffikit_abi::CLayout {
                name: #text,
                union: #union,
                size: ::core::mem::size_of::<#name>(),
                align: ::core::mem::align_of::<#name>(),
                members: &[#(#rows),*],
            });
        }

        // SAFETY: moves exactly one value of the type (its bytes, as C lays them out).
        unsafe impl ::ffikit_abi::CValue for #name {
            unsafe fn read(from: *const ::core::ffi::c_void) -> Self {
                // SAFETY: the caller guarantees a valid value there (maybe unaligned).
                unsafe { from.cast::<Self>().read_unaligned() }
            }
            unsafe fn write_widened(self, to: *mut ::core::ffi::c_void) {
                // SAFETY: the caller guarantees room for the value.
                unsafe { to.cast::<Self>().write_unaligned(self) }
            }
        }
    })
}
