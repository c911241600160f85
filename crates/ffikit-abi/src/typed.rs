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
    Int { size: u8, signed: bool },
    Float,
    Double,
    Pointer,
}

impl Kind {
    fn matches(self, shape: &Shape) -> bool {
        match (self, shape) {
            (Kind::Void, Shape::Void) | (Kind::Bool, Shape::Bool) => true,
            (Kind::Float, Shape::Float) | (Kind::Double, Shape::Double) => true,
            (Kind::Pointer, Shape::Pointer(_)) => true,
            (Kind::Int { size, signed }, Shape::Int { size: s, signed: g }) => {
                size == *s && signed == *g
            }
            _ => false,
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
        }
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

// SAFETY: raw pointers are passed as C pointers.
unsafe impl<T> CType for *const T {
    const KIND: Kind = Kind::Pointer;
}

// SAFETY: as above.
unsafe impl<T> CType for *mut T {
    const KIND: Kind = Kind::Pointer;
}

/// `unsafe extern "C" fn(A, B, ...) -> R` for C-compatible `A, B, ..., R` (sealed: calling
/// one stays `unsafe`, the per-call promise of the [safety model](crate#safety-model)).
pub trait CFunctionPointer: Copy + sealed::FunctionPointer {
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

macro_rules! function_pointers {
    ($( ($($arg:ident),*) )*) => {$(
        impl<R: CType, $($arg: CType),*> sealed::FunctionPointer for unsafe extern "C" fn($($arg),*) -> R {}

        impl<R: CType, $($arg: CType),*> CFunctionPointer for unsafe extern "C" fn($($arg),*) -> R {
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
    )*};
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
    let mismatch = |place: String, expected: &Typed, given: Kind| Error::TypeMismatch {
        place: format!("{place} of `{name}`"),
        expected: format!("the Rust type of `{}`", expected.c_name),
        given: given.rust_name(),
    };
    if variadic {
        return Err(Error::UnsupportedType {
            ty: name.to_owned(),
            reason: "a typed signature cannot be variadic; use dynamic Values".into(),
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
    for (index, (kind, param)) in kinds.iter().zip(params).enumerate() {
        if !kind.matches(&param.shape) {
            return Err(mismatch(format!("parameter {}", index + 1), param, *kind));
        }
    }
    if !F::result().matches(&result.shape) {
        return Err(mismatch("the result".into(), result, F::result()));
    }
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
