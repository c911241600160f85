//! The one module that knows libffi exists: [`Shape`]s become libffi types, signatures become
//! prepared call interfaces, and calls go through `ffi_call`.

use std::ffi::c_void;

use libffi::middle::{Cif, Type};

use crate::error::Error;
use crate::shape::{Member, Shape};

/// A prepared libffi call interface. It owns the libffi types the raw `ffi_cif` points into
/// (libffi-rs's `Cif` keeps them beside it).
#[derive(Debug)]
pub(crate) struct CallInterface {
    cif: Cif,
}

// SAFETY: after preparation libffi only reads the cif and its types (ffi_call never writes
// them), so sharing and sending it between threads is sound.
unsafe impl Send for CallInterface {}
// SAFETY: as above: shared use is read-only.
unsafe impl Sync for CallInterface {}

impl CallInterface {
    /// Prepares a call interface. `fixed` is the number of fixed parameters of a variadic
    /// function (its variadic arguments, already promoted, follow in `params`).
    pub fn new(
        function: &str,
        params: &[&Shape],
        result: &Shape,
        fixed: Option<usize>,
    ) -> Result<Self, Error> {
        let args = params
            .iter()
            .map(|shape| ffi_type(shape))
            .collect::<Result<Vec<_>, _>>()?;
        let result = match result {
            Shape::Void => Type::void(),
            other => ffi_type(other)?,
        };
        let cif = match fixed {
            Some(fixed) => Cif::try_new_variadic(args, fixed, result),
            None => Cif::try_new(args, result),
        }
        .map_err(|_| Error::Prepare(function.to_owned()))?;
        Ok(CallInterface { cif })
    }

    /// Calls `code` with the arguments `args` points to, writing the result to `result`.
    ///
    /// # Safety
    ///
    /// `code` must be a function with the signature this interface was prepared for;
    /// `args` must point to one pointer per parameter, each to a valid value of that
    /// parameter's type; `result` must be writable for the result's size rounded up to 8
    /// bytes (libffi writes a whole register for small integers) and aligned for it.
    pub unsafe fn call(&self, code: *const c_void, args: *mut *mut c_void, result: *mut c_void) {
        // SAFETY: CodePtr only wraps the address; the caller guarantees it is such a function.
        let code = libffi::middle::CodePtr(code.cast_mut());
        // SAFETY: the caller guarantees the arguments and the result buffer; the cif outlives
        // the call and is only read.
        unsafe {
            libffi::raw::ffi_call(
                self.cif.as_raw_ptr(),
                Some(*code.as_safe_fun()),
                result,
                args,
            )
        };
    }
}

fn ffi_type(shape: &Shape) -> Result<Type, Error> {
    Ok(match shape {
        Shape::Void => {
            return Err(Error::UnsupportedType {
                ty: "void".into(),
                reason: "void is not a value".into(),
            });
        }
        Shape::Bool => Type::u8(),
        Shape::Int { size, signed } => match (size, signed) {
            (1, true) => Type::i8(),
            (1, false) => Type::u8(),
            (2, true) => Type::i16(),
            (2, false) => Type::u16(),
            (4, true) => Type::i32(),
            (4, false) => Type::u32(),
            (_, true) => Type::i64(),
            (_, false) => Type::u64(),
        },
        Shape::Float => Type::f32(),
        Shape::Double => Type::f64(),
        Shape::LongDouble => Type::longdouble(),
        Shape::Complex { part: 4 } => Type::c32(),
        Shape::Complex { part: 8 } => Type::c64(),
        Shape::Complex { .. } => Type::complex_longdouble(),
        Shape::Pointer(_) => Type::pointer(),
        Shape::Record {
            union: false,
            members,
            not_by_value: None,
            ..
        } => Type::structure(struct_fields(members)?),
        Shape::Record {
            union: true,
            size,
            members,
            not_by_value: None,
            ..
        } => union_type(*size, members)?,
        Shape::Record {
            not_by_value: Some(reason),
            ..
        } => {
            return Err(Error::UnsupportedType {
                ty: "struct".into(),
                reason: format!("cannot pass this struct by value: {reason}"),
            });
        }
        Shape::Array { .. } | Shape::Opaque { .. } => {
            return Err(Error::UnsupportedType {
                ty: "array".into(),
                reason: "arrays and opaque types cannot be passed by value".into(),
            });
        }
    })
}

/// A struct's members in order; arrays become their elements repeated (libffi has no arrays).
fn struct_fields(members: &[Member]) -> Result<Vec<Type>, Error> {
    let mut fields = Vec::new();
    for member in members {
        push_flattened(&member.shape, &mut fields)?;
    }
    Ok(fields)
}

fn push_flattened(shape: &Shape, fields: &mut Vec<Type>) -> Result<(), Error> {
    match shape {
        Shape::Array { element, len } => {
            for _ in 0..*len {
                push_flattened(element, fields)?;
            }
        }
        other => fields.push(ffi_type(other)?),
    }
    Ok(())
}

/// A union by value on targets whose ABI ffikit cannot yet describe to libffi (which has no
/// unions): refused, never passed wrong.
#[cfg(not(all(target_arch = "x86_64", not(windows))))]
fn union_type(_size: u64, _members: &[Member]) -> Result<Type, Error> {
    Err(Error::UnsupportedType {
        ty: "union".into(),
        reason: "unions by value are supported on x86-64 System V only (libffi has no unions; \
                 ffikit describes one by its eightbyte classes there)"
            .into(),
    })
}

/// The System V class of one eightbyte.
#[cfg(all(target_arch = "x86_64", not(windows)))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    None,
    Integer,
    Sse,
}

/// libffi has no unions: describe one by a struct that the System V classifier treats the
/// same, eightbyte by eightbyte (INTEGER wins over SSE, as the psABI merges classes).
#[cfg(all(target_arch = "x86_64", not(windows)))]
fn union_type(size: u64, members: &[Member]) -> Result<Type, Error> {
    let eightbytes = size.div_ceil(8) as usize;
    let mut classes = vec![Class::None; eightbytes];
    for member in members {
        classify(&member.shape, member.offset, &mut classes)?;
    }
    let mut fields = Vec::new();
    for (index, class) in classes.iter().enumerate() {
        let width = (size - 8 * index as u64).min(8);
        match (class, width) {
            (Class::Sse, 5..=8) => fields.push(Type::f64()),
            (Class::Sse, _) => fields.push(Type::f32()),
            (_, 8) => fields.push(Type::u64()),
            (_, width) => fields.extend((0..width).map(|_| Type::u8())),
        }
    }
    Ok(Type::structure(fields))
}

#[cfg(all(target_arch = "x86_64", not(windows)))]
fn classify(shape: &Shape, offset: u64, classes: &mut [Class]) -> Result<(), Error> {
    let mut mark = |class: Class, at: u64| {
        let slot = &mut classes[(at / 8) as usize];
        if *slot != Class::Integer {
            *slot = class;
        }
    };
    match shape {
        Shape::Float | Shape::Double => mark(Class::Sse, offset),
        Shape::Complex { part: 4 } => mark(Class::Sse, offset),
        Shape::Complex { part: 8 } => {
            mark(Class::Sse, offset);
            mark(Class::Sse, offset + 8);
        }
        Shape::LongDouble | Shape::Complex { .. } => {
            return Err(Error::UnsupportedType {
                ty: "union".into(),
                reason: "a union holding a long double cannot be passed by value".into(),
            });
        }
        Shape::Record { members, .. } => {
            for member in members {
                classify(&member.shape, offset + member.offset, classes)?;
            }
        }
        Shape::Array { element, len } => {
            let (size, _) = element.size_align();
            for k in 0..*len {
                classify(element, offset + k * size, classes)?;
            }
        }
        Shape::Void => {}
        _ => {
            let (size, _) = shape.size_align();
            mark(Class::Integer, offset);
            if size > 0 {
                mark(Class::Integer, offset + size - 1);
            }
        }
    }
    Ok(())
}

/// What a closure does when C calls it: read the arguments libffi collected, write the result.
pub(crate) trait Invoke {
    /// # Safety
    ///
    /// `args` holds one pointer per parameter of the closure's signature, each to a valid
    /// value of that type; `result` is writable for the result's size, at least 8 bytes.
    unsafe fn invoke(&self, args: *const *const c_void, result: *mut c_void);
}

/// Executable code made by libffi's closure allocator that calls `T::invoke`. libffi
/// allocates closures writable and executable through two mappings of the same memory where
/// the system forbids pages that are both (its trampoline allocator): see the crate docs.
#[derive(Debug)]
pub(crate) struct ClosureCode {
    closure: *mut libffi::low::ffi_closure,
    code: usize,
    /// The closure's prepared interface; libffi reads it on every invocation.
    _interface: Box<CallInterface>,
}

// SAFETY: the closure and its interface are only read after preparation; libffi's closures
// may be invoked from any thread.
unsafe impl Send for ClosureCode {}
// SAFETY: as above.
unsafe impl Sync for ClosureCode {}

unsafe extern "C" fn trampoline<T: Invoke>(
    _cif: &libffi::low::ffi_cif,
    result: &mut c_void,
    args: *const *const c_void,
    state: &T,
) {
    // A callback dropped during the invocation is freed when it returns.
    let _running = crate::callback::Running::enter();
    // SAFETY: libffi passes the arguments and result buffer of the signature the closure was
    // prepared with, which is the one `state` was built for.
    unsafe { state.invoke(args, result) };
}

impl ClosureCode {
    /// A closure of this signature calling `state.invoke`.
    ///
    /// # Safety
    ///
    /// `state` must stay valid, at the same address, until the returned code is dropped, and
    /// must read arguments and write results of exactly this signature.
    pub unsafe fn new<T: Invoke>(
        name: &str,
        params: &[&Shape],
        result: &Shape,
        state: *const T,
    ) -> Result<ClosureCode, Error> {
        let interface = Box::new(CallInterface::new(name, params, result, None)?);
        let (closure, code) =
            libffi::low::try_closure_alloc().ok_or_else(|| Error::UnsupportedType {
                ty: name.to_owned(),
                reason: "libffi could not allocate executable memory for a closure".into(),
            })?;
        // SAFETY: the closure was just allocated; the cif lives in `interface`, boxed beside
        // the closure for its whole life; the caller guarantees `state`.
        let prepared = unsafe {
            libffi::low::prep_closure(
                closure,
                interface.cif.as_raw_ptr(),
                trampoline::<T>,
                state,
                code,
            )
        };
        if prepared.is_err() {
            // SAFETY: allocated above, never handed out.
            unsafe { libffi::low::closure_free(closure) };
            return Err(Error::Prepare(name.to_owned()));
        }
        Ok(ClosureCode {
            closure,
            code: code.as_ptr() as usize,
            _interface: interface,
        })
    }

    /// The address C calls.
    pub fn code(&self) -> usize {
        self.code
    }
}

impl Drop for ClosureCode {
    fn drop(&mut self) {
        // SAFETY: allocated by try_closure_alloc in `new` and freed only here.
        unsafe { libffi::low::closure_free(self.closure) };
    }
}
