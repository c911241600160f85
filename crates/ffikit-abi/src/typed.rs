//! Typed handles: a Rust function-pointer type checked against the C declaration once, then
//! called directly, with no per-call checks or conversions.

use std::marker::PhantomData;
use std::ops::Deref;

use crate::error::Error;
use crate::shape::{Shape, Typed};

/// The C kind a Rust type stands for in a typed signature.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Void,
    Bool,
    Int {
        size: u8,
        signed: bool,
    },
    Float,
    Double,
    Pointer,
    /// A `#[repr(C)]` struct or union, as `#[derive(CStruct)]` describes it.
    Record(&'static CLayout),
    /// `[T; N]`, as a member of a struct.
    Array {
        element: &'static Kind,
        len: usize,
    },
}

/// The C layout of a `#[repr(C)]` Rust struct or union, recorded at compile time by
/// `#[derive(CStruct)]`: checked against the C declaration when a typed handle or typed
/// callback is made.
#[derive(Debug, PartialEq, Eq)]
pub struct CLayout {
    /// The Rust type's name.
    pub name: &'static str,
    /// A union, not a struct.
    pub union: bool,
    /// `size_of`.
    pub size: usize,
    /// `align_of`.
    pub align: usize,
    /// The fields, in declaration order.
    pub members: &'static [CMember],
}

/// One field of a [`CLayout`].
#[derive(Debug, PartialEq, Eq)]
pub struct CMember {
    /// The field's name.
    pub name: &'static str,
    /// `offset_of`.
    pub offset: usize,
    /// The field type's C kind.
    pub kind: Kind,
}

impl Kind {
    /// Whether a value of this kind is what C passes as `shape`; why not, with the member
    /// path (`member \`inner.y\``), when it is not.
    fn check(self, shape: &Shape, path: &str) -> Result<(), String> {
        let plain = match (self, shape) {
            (Kind::Void, Shape::Void) | (Kind::Bool, Shape::Bool) => true,
            (Kind::Float, Shape::Float) | (Kind::Double, Shape::Double) => true,
            (Kind::Pointer, Shape::Pointer(_)) => true,
            (Kind::Int { size, signed }, Shape::Int { size: s, signed: g }) => {
                size == *s && signed == *g
            }
            (Kind::Record(layout), Shape::Record { .. }) => {
                return layout.check(shape, path);
            }
            (Kind::Array { element, len }, Shape::Array { element: e, len: l }) => {
                if len as u64 != *l {
                    return Err(format!("{path}is an array of {len} in Rust, of {l} in C"));
                }
                return element.check(e, path);
            }
            _ => false,
        };
        if plain {
            Ok(())
        } else {
            Err(format!(
                "{path}is {} in Rust, `{}` in C",
                self.rust_name(),
                describe_shape(shape)
            ))
        }
    }

    fn rust_name(self) -> String {
        match self {
            Kind::Void => "()".into(),
            Kind::Bool => "bool".into(),
            Kind::Int { size, signed } => format!("{}{}", if signed { "i" } else { "u" }, size * 8),
            Kind::Float => "f32".into(),
            Kind::Double => "f64".into(),
            Kind::Pointer => "a raw pointer".into(),
            Kind::Record(layout) => format!("`{}`", layout.name),
            Kind::Array { element, len } => format!("[{}; {len}]", element.rust_name()),
        }
    }
}

impl CLayout {
    /// Size, alignment, and every member's name, offset and type, against the C record.
    fn check(&'static self, shape: &Shape, path: &str) -> Result<(), String> {
        let Shape::Record {
            union,
            size,
            align,
            members,
            ..
        } = shape
        else {
            return Err(format!("{path}is `{}` in Rust, not a C struct", self.name));
        };
        let layouts = || {
            format!(
                "\n  Rust: {}\n  C:    {}",
                self.describe(),
                describe_shape(shape)
            )
        };
        let word = |union: bool| if union { "a union" } else { "a struct" };
        if self.union != *union {
            return Err(format!(
                "{path}`{}` is {} in Rust, {} in C{}",
                self.name,
                word(self.union),
                word(*union),
                layouts()
            ));
        }
        if self.size as u64 != *size || self.align as u64 != *align {
            return Err(format!(
                "{path}`{}` is {} bytes (align {}) in Rust, {size} bytes (align {align}) in C{}",
                self.name,
                self.size,
                self.align,
                layouts()
            ));
        }
        if self.members.len() != members.len() {
            return Err(format!(
                "{path}`{}` has {} members in Rust, {} in C{}",
                self.name,
                self.members.len(),
                members.len(),
                layouts()
            ));
        }
        for (mine, theirs) in self.members.iter().zip(members) {
            let inner = format!("{path}member `{}` ", mine.name);
            if theirs.bits.is_some() {
                return Err(format!(
                    "{inner}faces a C bitfield, which a Rust struct cannot mirror{}",
                    layouts()
                ));
            }
            if let Some(name) = &theirs.name {
                if name != mine.name {
                    return Err(format!(
                        "{path}member `{}` of `{}` is `{name}` in C (members in C's order){}",
                        mine.name,
                        self.name,
                        layouts()
                    ));
                }
            }
            if mine.offset as u64 != theirs.offset {
                return Err(format!(
                    "{inner}is at offset {} in Rust, {} in C{}",
                    mine.offset,
                    theirs.offset,
                    layouts()
                ));
            }
            mine.kind.check(&theirs.shape, &inner).map_err(|why| {
                format!(
                    "{why}{}",
                    if why.contains("\n  Rust:") {
                        String::new()
                    } else {
                        layouts()
                    }
                )
            })?;
        }
        Ok(())
    }

    /// `Point { x: i32 @0, y: i32 @4 } (8 bytes)`.
    fn describe(&self) -> String {
        let members: Vec<String> = self
            .members
            .iter()
            .map(|m| {
                format!(
                    "{}: {} @{}",
                    m.name,
                    m.kind.rust_name().trim_matches('`'),
                    m.offset
                )
            })
            .collect();
        format!(
            "{} {{ {} }} ({} bytes)",
            self.name,
            members.join(", "),
            self.size
        )
    }
}

/// A C shape as a short text: `int32`, `struct { x: int32 @0, y: int32 @4 } (8 bytes)`.
fn describe_shape(shape: &Shape) -> String {
    match shape {
        Shape::Record {
            union,
            size,
            members,
            ..
        } => {
            let members: Vec<String> = members
                .iter()
                .map(|m| {
                    format!(
                        "{}: {} @{}",
                        m.name.as_deref().unwrap_or("(anonymous)"),
                        describe_shape(&m.shape),
                        m.offset
                    )
                })
                .collect();
            format!(
                "{} {{ {} }} ({size} bytes)",
                if *union { "union" } else { "struct" },
                members.join(", ")
            )
        }
        Shape::Int { size, signed } => format!("{}{}", if *signed { "i" } else { "u" }, size * 8),
        Shape::Float => "f32".into(),
        Shape::Double => "f64".into(),
        Shape::Bool => "bool".into(),
        Shape::Void => "void".into(),
        Shape::Pointer(_) => "pointer".into(),
        Shape::Array { element, len } => format!("[{}; {len}]", describe_shape(element)),
        Shape::LongDouble => "long double".into(),
        Shape::Complex { part } => format!("complex of {}-byte parts", part),
        Shape::Opaque { size, .. } => format!("opaque ({size} bytes)"),
    }
}

/// A Rust type with a C counterpart: integers, floats, `bool`, raw pointers, `()` (results).
///
/// # Safety
///
/// `KIND` is the C kind the type is passed and returned as (its size, signedness and ABI
/// class): the typed-handle and typed-callback checks rely on it.
pub unsafe trait CType {
    #[doc(hidden)]
    const KIND: Kind;
}

/// Keeps traits whose implementations ffikit relies on to its own types.
pub(crate) mod sealed {
    /// Only `unsafe extern "C" fn` pointer types.
    pub trait FunctionPointer {}
    /// Only closures of the matching signature.
    pub trait Body<F> {}
}

macro_rules! c_types {
    ($($ty:ty => $kind:expr),* $(,)?) => {$(
        // SAFETY: the kind is the type's own (size, signedness, class).
        unsafe impl CType for $ty {
            const KIND: Kind = $kind;
        }
    )*};
}

c_types! {
    () => Kind::Void,
    bool => Kind::Bool,
    i8 => Kind::Int { size: 1, signed: true },
    u8 => Kind::Int { size: 1, signed: false },
    i16 => Kind::Int { size: 2, signed: true },
    u16 => Kind::Int { size: 2, signed: false },
    i32 => Kind::Int { size: 4, signed: true },
    u32 => Kind::Int { size: 4, signed: false },
    i64 => Kind::Int { size: 8, signed: true },
    u64 => Kind::Int { size: 8, signed: false },
    isize => Kind::Int { size: 8, signed: true },
    usize => Kind::Int { size: 8, signed: false },
    f32 => Kind::Float,
    f64 => Kind::Double,
}

// SAFETY: an array is laid out as C's: `N` elements of `T`, no padding between them.
unsafe impl<T: CType, const N: usize> CType for [T; N] {
    const KIND: Kind = Kind::Array {
        element: &T::KIND,
        len: N,
    };
}

// SAFETY: raw pointers are passed as C pointers.
unsafe impl<T> CType for *const T {
    const KIND: Kind = Kind::Pointer;
}

// SAFETY: as above.
unsafe impl<T> CType for *mut T {
    const KIND: Kind = Kind::Pointer;
}

// SAFETY: `Option` of a function-pointer type is a nullable C function pointer: Rust
// guarantees the null-pointer optimization for it (the pointer's size and ABI, `None` as
// NULL), as bindgen's `Option<unsafe extern "C" fn ...>` parameters rely on.
unsafe impl<F: CFunctionPointer> CType for Option<F> {
    const KIND: Kind = Kind::Pointer;
}

/// `unsafe extern "C" fn(A, B, ...) -> R` for C-compatible `A, B, ..., R` (sealed: calling
/// one stays `unsafe`, the per-call promise of the [safety model](crate#safety-model)).
pub trait CFunctionPointer: Copy + sealed::FunctionPointer {
    #[doc(hidden)]
    /// Whether the pointer type ends with `...`.
    const VARIADIC: bool = false;
    #[doc(hidden)]
    fn params() -> Vec<Kind>;
    #[doc(hidden)]
    fn result() -> Kind;
    /// # Safety
    ///
    /// `address` must be the code of a function with exactly this signature.
    #[doc(hidden)]
    unsafe fn from_address(address: usize) -> Self;
}

/// The `CFunctionPointer` implementation of one function-pointer type: `$($dots)?` is
/// `...` for a variadic one, whose fixed parameters are checked (Rust itself refuses variadic
/// arguments C's default promotions would change: `f32`, `i8`, `i16`, `bool`).
macro_rules! function_pointer {
    ($variadic:literal; $($arg:ident),*; $($dots:tt)?) => {
        impl<R: CType, $($arg: CType),*> sealed::FunctionPointer for unsafe extern "C" fn($($arg,)* $($dots)?) -> R {}

        impl<R: CType, $($arg: CType),*> CFunctionPointer for unsafe extern "C" fn($($arg,)* $($dots)?) -> R {
            const VARIADIC: bool = $variadic;
            fn params() -> Vec<Kind> {
                vec![$($arg::KIND),*]
            }
            fn result() -> Kind {
                R::KIND
            }
            unsafe fn from_address(address: usize) -> Self {
                // SAFETY: function pointers are address-sized; the caller guarantees the
                // code at `address` has this signature.
                unsafe { std::mem::transmute::<usize, Self>(address) }
            }
        }
    };
}

macro_rules! function_pointers {
    ($( ($($arg:ident),*) )*) => {$( function_pointer!(false; $($arg),*;); )*};
}

macro_rules! variadic_function_pointers {
    ($( ($($arg:ident),+) )*) => {$( function_pointer!(true; $($arg),+; ...); )*};
}

function_pointers! {
    ()
    (A)
    (A, B)
    (A, B, C)
    (A, B, C, D)
    (A, B, C, D, E)
    (A, B, C, D, E, F)
    (A, B, C, D, E, F, G)
    (A, B, C, D, E, F, G, H)
    (A, B, C, D, E, F, G, H, I)
    (A, B, C, D, E, F, G, H, I, J)
    (A, B, C, D, E, F, G, H, I, J, K)
    (A, B, C, D, E, F, G, H, I, J, K, L)
    (A, B, C, D, E, F, G, H, I, J, K, L, M)
    (A, B, C, D, E, F, G, H, I, J, K, L, M, N)
    (A, B, C, D, E, F, G, H, I, J, K, L, M, N, O)
    (A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P)
    (A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q)
    (A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q, S)
    (A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q, S, T)
    (A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q, S, T, U)
    (A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q, S, T, U, V)
    (A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q, S, T, U, V, W)
    (A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q, S, T, U, V, W, X)
    (A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q, S, T, U, V, W, X, Y)
}

variadic_function_pointers! {
    (A)
    (A, B)
    (A, B, C)
    (A, B, C, D)
    (A, B, C, D, E)
    (A, B, C, D, E, F)
}

/// A function pointer of Rust type `F`, checked against its C declaration, tied to its
/// library's lifetime like libloading's `Symbol`. Dereference it to call.
///
/// ```
/// let libc = ffikit_abi::Library::this();
/// // SAFETY: `int abs(int)` is how <stdlib.h> declares abs.
/// let abs = unsafe { libc.function("int abs(int)") }.unwrap();
/// let typed = abs.typed::<unsafe extern "C" fn(i32) -> i32>().unwrap();
/// // SAFETY: abs is defined for every int but INT_MIN.
/// assert_eq!(unsafe { (*typed)(-3) }, 3);
/// assert!(abs.typed::<unsafe extern "C" fn(i64) -> i32>().is_err());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TypedFunction<'lib, F> {
    function: F,
    _library: PhantomData<&'lib ()>,
}

/// Checks a Rust function-pointer type against a declared signature.
pub(crate) fn check_signature<F: CFunctionPointer>(
    name: &str,
    params: &[&Typed],
    result: &Typed,
    variadic: bool,
) -> Result<(), Error> {
    let mismatch = |place: String, expected: &Typed, why: String| Error::TypeMismatch {
        place: format!("{place} of `{name}`"),
        expected: format!("the Rust type of `{}`", expected.c_name),
        given: why,
    };
    if variadic && !F::VARIADIC {
        return Err(Error::UnsupportedType {
            ty: name.to_owned(),
            reason: "the function is variadic: its typed handle is a variadic function pointer \
                     (`unsafe extern \"C\" fn(A, ...) -> R`), called with promoted arguments"
                .into(),
        });
    }
    if F::VARIADIC && !variadic {
        return Err(Error::TypeMismatch {
            place: format!("`{name}`"),
            expected: "a function pointer with fixed parameters (C's has no `...`)".into(),
            given: "a variadic function pointer".into(),
        });
    }
    let kinds = F::params();
    if kinds.len() != params.len() {
        return Err(Error::ArityMismatch {
            function: name.to_owned(),
            expected: params.len().to_string(),
            given: kinds.len(),
        });
    }
    let by_value = |typed: &Typed| match &typed.shape {
        Shape::Record {
            not_by_value: Some(why),
            ..
        } => Err(why.clone()),
        _ => Ok(()),
    };
    for (index, (kind, param)) in kinds.iter().zip(params).enumerate() {
        let place = format!("parameter {}", index + 1);
        by_value(param).map_err(|why| mismatch(place.clone(), param, why))?;
        kind.check(&param.shape, "")
            .map_err(|why| mismatch(place, param, why))?;
    }
    by_value(result).map_err(|why| mismatch("the result".into(), result, why))?;
    F::result()
        .check(&result.shape, "")
        .map_err(|why| mismatch("the result".into(), result, why))?;
    Ok(())
}

impl<'lib, F: CFunctionPointer> TypedFunction<'lib, F> {
    pub(crate) fn check(
        name: &str,
        params: &[&Typed],
        result: &Typed,
        variadic: bool,
        address: usize,
    ) -> Result<Self, Error> {
        check_signature::<F>(name, params, result, variadic)?;
        Ok(TypedFunction {
            // SAFETY: the declaration (which the binder vouched for) has exactly these
            // parameter and result types.
            function: unsafe { F::from_address(address) },
            _library: PhantomData,
        })
    }
}

impl<F> Deref for TypedFunction<'_, F> {
    type Target = F;

    fn deref(&self) -> &F {
        &self.function
    }
}
