//! Binding a declaration and calling it: the plan made once per signature ([`Prepared`]:
//! conversions, libffi interface, the route a call takes) and the routes themselves, each in
//! its own module.
//!
//! - this module: the plan, the choice of route ([`Route`]) and the one table of monomorphized
//!   calls it picks from, errno, variadic promotion;
//! - `lanes`: the [`ScalarLane`] classification of all-scalar signatures (portable) and its
//!   route through libffi, one word per argument;
//! - `registers` (x86-64 Linux, `fast-path`): the same lanes called by inline assembly;
//! - `fast` (x86-64 Linux, `fast-path`): the classified register-file path for structs and
//!   mixed signatures;
//! - `general`: libffi with the general conversions — the reference every route is tested
//!   against, and what takes anything a faster route does not accept as is;
//! - `function`: the public handles, [`Function`] and [`Safe`].

#[cfg(fast_path)]
mod fast;
mod function;
mod general;
mod lanes;
#[cfg(fast_path)]
mod registers;

use std::cell::Cell;
use std::sync::Arc;

use crate::convert::{Quick, QuickResult, RecordPlan};
use crate::error::Error;
use crate::lower::CallInterface;
use crate::shape::{Pointee, Shape, Typed};
use crate::value::Value;

pub use function::{Function, Safe, SafeFunction};
use lanes::{DOUBLE_RESULT, OTHER_RESULT, SIGNED_RESULT, ScalarLane, U64_RESULT};

/// Arguments laid out inline, without a heap allocation, up to this many 8-byte words.
const INLINE_FRAME_WORDS: usize = 64;
/// The largest struct passed or returned by value without a heap allocation.
pub const MAX_INLINE_STRUCT: usize = 4096;
/// The frame of a call with larger structs: one of 4 KiB and 16 other arguments of up to
/// 64 bytes (each starting 16-byte aligned).
const LARGE_FRAME_WORDS: usize = MAX_INLINE_STRUCT / 8 + 16 * 8;
/// The result buffer of such a call, in 16-byte units.
const LARGE_RESULT_UNITS: usize = MAX_INLINE_STRUCT / 16;
/// Arguments whose pointer array lives on the stack.
const INLINE_ARGS: usize = 16;

thread_local! {
    static LAST_ERRNO: Cell<i32> = const { Cell::new(0) };
}

/// The `errno` the last call of an errno-capturing function left on this thread (see
/// [`Function::capture_errno`]), like ctypes' `get_errno()`.
pub fn last_errno() -> i32 {
    LAST_ERRNO.with(Cell::get)
}

/// Records `errno` as the last call's on this thread (an isolated call's, read in its worker).
pub(crate) fn set_last_errno(errno: i32) {
    LAST_ERRNO.with(|cell| cell.set(errno));
}

/// This thread's `errno`, where the C library keeps it.
fn errno_location() -> *mut std::ffi::c_int {
    #[cfg(any(target_os = "linux", target_os = "emscripten", target_os = "hurd"))]
    // SAFETY: glibc's and musl's accessor, always valid to call.
    return unsafe { libc::__errno_location() };
    #[cfg(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "dragonfly"
    ))]
    // SAFETY: the BSD libcs' accessor, always valid to call.
    return unsafe { libc::__error() };
    #[cfg(any(target_os = "android", target_os = "netbsd", target_os = "openbsd"))]
    // SAFETY: Bionic's and the other BSDs' accessor, always valid to call.
    return unsafe { libc::__errno() };
}

/// A declared parameter: its name, its type, and whether NULL is accepted for a string.
#[derive(Debug, Clone)]
pub(crate) struct Param {
    name: Option<String>,
    typed: Typed,
    nullable: bool,
}

/// A function's C signature, resolved.
#[derive(Debug, Clone)]
pub(crate) struct Signature {
    name: String,
    result: Typed,
    params: Vec<Param>,
    variadic: bool,
}

impl Signature {
    pub(crate) fn new(
        name: String,
        result: Typed,
        params: Vec<(Option<String>, Typed)>,
        variadic: bool,
    ) -> Signature {
        Signature {
            name,
            result,
            params: params
                .into_iter()
                .map(|(name, typed)| Param {
                    name,
                    typed,
                    nullable: false,
                })
                .collect(),
            variadic,
        }
    }
}

/// What a variadic argument is declared as, and what C's default promotions make of it.
#[derive(Debug, Clone)]
struct VariadicArg {
    declared: Typed,
    promoted: Typed,
}

/// Everything a call needs, prepared once when the function is bound.
#[derive(Debug)]
struct Prepared {
    signature: Arc<Signature>,
    variadic: Vec<VariadicArg>,
    interface: CallInterface,
    code: usize,
    capture_errno: bool,
    /// Where each argument goes in the frame, in words (each starts 16-byte aligned).
    offsets: Vec<usize>,
    frame_words: usize,
    /// Each argument's conversion, chosen at binding.
    quick: Vec<Quick>,
    quick_result: QuickResult,
    /// [`Shape::fingerprint`] of the result type (for [`call_into`](Self::call_into)).
    result_fingerprint: u64,
    /// Each struct argument's member-by-member plan, when it has one.
    records: Vec<Option<RecordPlan>>,
    result_size: usize,
    /// The classified fast path, when the signature allows one.
    #[cfg(fast_path)]
    fast: Option<fast::FastPlan>,
    /// A lane with structs by value: their members placed into register slots.
    #[cfg(fast_path)]
    record_lane: Option<registers::RecordLane>,
    /// Use libffi even when a fast path exists (the reference, for comparisons).
    force_libffi: bool,
    /// Use the general conversions even when a lane exists (the reference, for comparisons).
    general_only: bool,
    /// The lean paths for all-scalar signatures.
    /// (Not [`ScalarLane::usable`] for other signatures, and then never used.)
    lane: ScalarLane,
    /// Which path a call of the declared arity takes.
    route: Route,
    /// The call itself, chosen with the route.
    invoke: Invoke,
}

/// A call of a prepared function, chosen at binding for its signature (each checks the
/// arity itself).
type Invoke = fn(&Prepared, &[Value]) -> Result<Value, Error>;

/// The path a call with the declared number of arguments takes, chosen at binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// A [`ScalarLane`] in registers, called by inline assembly.
    LaneRegisters,
    /// A [`ScalarLane`] through libffi.
    LaneLibffi,
    /// The classified fast path (`fast::FastPlan`).
    Fast,
    /// libffi with the general conversions.
    Libffi,
}

impl Route {
    fn choose(lane: &ScalarLane, fast: bool, force_libffi: bool) -> Route {
        let lane = lane.usable.then_some(lane);
        match (lane, fast && !force_libffi) {
            (Some(lane), true) if lane.inline_call => Route::LaneRegisters,
            (_, true) => Route::Fast,
            (Some(_), false) => Route::LaneLibffi,
            (_, false) => Route::Libffi,
        }
    }

    /// The call for this route. Calls that keep errno take the guarded lane calls, so the
    /// monomorphized ones need not look.
    fn invoke(self, lane: &ScalarLane, capture_errno: bool) -> Invoke {
        let lane = lane.usable.then_some(lane);
        match self {
            #[cfg(fast_path)]
            Route::LaneRegisters if capture_errno => return Prepared::call_lane_registers,
            #[cfg(not(fast_path))]
            Route::LaneRegisters if capture_errno => return Prepared::call_lane_libffi,
            Route::LaneLibffi if capture_errno => return Prepared::call_lane_libffi,
            _ => {}
        }
        // Monomorphized per argument count, and for the commonest results (`int`, `double`,
        // a 64-bit unsigned integer such as `size_t`).
        const ANY: u8 = OTHER_RESULT;
        const INT: u8 = SIGNED_RESULT;
        const DOUBLE: u8 = DOUBLE_RESULT;
        const U64: u8 = U64_RESULT;
        let shape = lane.map(|lane| {
            let result = match lane.result {
                QuickResult::Signed { shift: 32 } => INT,
                QuickResult::Double => DOUBLE,
                QuickResult::Unsigned { shift: 0 } => U64,
                _ => ANY,
            };
            (lane.sse_count, lane.len, result, lane.has_text())
        });
        // One instance per argument count up to the last listed, for the result kind.
        macro_rules! by_count {
            ($len:expr, $result:expr, $method:ident, $otherwise:expr, $counts:tt) => {
                match $result {
                    INT => by_count!(@ $len, $method, INT, $otherwise, $counts),
                    DOUBLE => by_count!(@ $len, $method, DOUBLE, $otherwise, $counts),
                    U64 => by_count!(@ $len, $method, U64, $otherwise, $counts),
                    _ => by_count!(@ $len, $method, ANY, $otherwise, $counts),
                }
            };
            (@ $len:expr, $method:ident, $result:ident, $otherwise:expr, [$($n:literal)*]) => {
                match $len {
                    $($n => Prepared::$method::<$n, $result> as Invoke,)*
                    _ => $otherwise,
                }
            };
        }
        match (self, shape) {
            // Structs by value: their members placed into registers at binding.
            #[cfg(fast_path)]
            (Route::LaneRegisters, Some((0, _, result, _)))
                if lane.is_some_and(|lane| lane.has_records() && lane.stack_words == 0) =>
            {
                match result {
                    INT => Prepared::call_record_gprs::<INT>,
                    DOUBLE => Prepared::call_record_gprs::<DOUBLE>,
                    U64 => Prepared::call_record_gprs::<U64>,
                    _ => Prepared::call_record_gprs::<ANY>,
                }
            }
            #[cfg(fast_path)]
            (Route::LaneRegisters, Some((_, _, result, _)))
                if lane.is_some_and(ScalarLane::has_records) =>
            {
                match result {
                    INT => Prepared::call_record_lane::<INT>,
                    DOUBLE => Prepared::call_record_lane::<DOUBLE>,
                    U64 => Prepared::call_record_lane::<U64>,
                    _ => Prepared::call_record_lane::<ANY>,
                }
            }
            #[cfg(fast_path)]
            (Route::LaneRegisters, Some((0, len @ 0..=6, result, true))) => by_count!(
                len, result, call_gprs_text, Prepared::call_lane_registers, [0 1 2 3 4 5 6]
            ),
            #[cfg(fast_path)]
            (Route::LaneRegisters, Some((0, len @ 0..=6, result, false))) => by_count!(
                len, result, call_gprs, Prepared::call_lane_registers, [0 1 2 3 4 5 6]
            ),
            #[cfg(fast_path)]
            (Route::LaneRegisters, Some((_, len, result, _))) => by_count!(
                len, result, call_registers, Prepared::call_lane_registers,
                [1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16]
            ),
            (Route::LaneLibffi, Some((_, _, result, _)))
                if lane.is_some_and(ScalarLane::has_records) =>
            {
                match result {
                    INT => Prepared::call_record_libffi::<INT>,
                    DOUBLE => Prepared::call_record_libffi::<DOUBLE>,
                    U64 => Prepared::call_record_libffi::<U64>,
                    _ => Prepared::call_record_libffi::<ANY>,
                }
            }
            (Route::LaneLibffi, Some((_, len, result, _))) => by_count!(
                len, result, call_libffi_words, Prepared::call_lane_libffi,
                [0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16]
            ),
            #[cfg(fast_path)]
            (Route::LaneRegisters, _) => Prepared::call_lane_registers,
            // Never chosen without the fast path (no lane is `inline_call`).
            #[cfg(not(fast_path))]
            (Route::LaneRegisters, _) => Prepared::call_lane_libffi,
            (Route::LaneLibffi, _) => Prepared::call_lane_libffi,
            (Route::Fast | Route::Libffi, _) => Prepared::call_general,
        }
    }
}

fn align16(n: usize) -> usize {
    n.div_ceil(16) * 16
}

impl Prepared {
    /// Whether the signature has a classified fast path.
    fn has_fast(&self) -> bool {
        #[cfg(fast_path)]
        return self.fast.is_some();
        #[cfg(not(fast_path))]
        return false;
    }

    fn new(
        signature: Arc<Signature>,
        variadic: Vec<VariadicArg>,
        code: usize,
        capture_errno: bool,
    ) -> Result<Prepared, Error> {
        let shapes: Vec<&Shape> = signature
            .params
            .iter()
            .map(|p| &p.typed.shape)
            .chain(variadic.iter().map(|v| &v.promoted.shape))
            .collect();
        for param in &signature.params {
            if matches!(param.typed.shape, Shape::Void) {
                return Err(Error::UnsupportedType {
                    ty: "void".into(),
                    reason: "a parameter cannot be void".into(),
                });
            }
        }
        crate::shape::check_by_value(
            &signature.name,
            shapes.iter().copied(),
            &signature.result.shape,
        )?;
        let fixed = signature.variadic.then_some(signature.params.len());
        let interface =
            CallInterface::new(&signature.name, &shapes, &signature.result.shape, fixed)?;
        let mut offsets = Vec::with_capacity(shapes.len());
        let mut frame_size = 0;
        for shape in &shapes {
            offsets.push(frame_size / 8);
            frame_size += align16(shape.size_align().0 as usize);
        }
        // Variadic arguments checked as a narrower declared type take the general path.
        let quick = signature
            .params
            .iter()
            .map(|p| Quick::for_shape(&p.typed.shape))
            .chain(variadic.iter().map(|v| {
                if v.declared.shape == v.promoted.shape {
                    Quick::for_shape(&v.promoted.shape)
                } else {
                    Quick::General
                }
            }))
            .collect();
        let quick_result = QuickResult::for_shape(&signature.result.shape);
        let result_fingerprint = signature.result.shape.fingerprint();
        let records: Vec<Option<RecordPlan>> =
            shapes.iter().map(|s| RecordPlan::for_shape(s)).collect();
        // libffi writes a whole register for integer results narrower than one.
        let result_size = align16((signature.result.shape.size_align().0 as usize).max(8));
        // Variadic arguments checked as a narrower declared type (char, short, float) keep to
        // the general path, which checks them as declared before promoting.
        let narrowed = variadic
            .iter()
            .any(|v| v.declared.shape != v.promoted.shape);
        let lane = match narrowed {
            true => ScalarLane::UNUSABLE,
            false => {
                ScalarLane::new(&shapes, &signature.result.shape).unwrap_or(ScalarLane::UNUSABLE)
            }
        };
        #[cfg(fast_path)]
        let fast = match narrowed {
            true => None,
            false => fast::FastPlan::new(&shapes, &signature.result.shape),
        };
        #[cfg(fast_path)]
        let has_fast = fast.is_some();
        #[cfg(not(fast_path))]
        let has_fast = false;
        #[cfg(fast_path)]
        let record_lane = registers::RecordLane::new(&lane, &records);
        let route = Route::choose(&lane, has_fast, false);
        let invoke = route.invoke(&lane, capture_errno);
        Ok(Prepared {
            signature,
            variadic,
            interface,
            code,
            capture_errno,
            offsets,
            frame_words: frame_size / 8,
            quick,
            quick_result,
            result_fingerprint,
            records,
            result_size,
            #[cfg(fast_path)]
            fast,
            #[cfg(fast_path)]
            record_lane,
            force_libffi: false,
            general_only: false,
            lane,
            route,
            invoke,
        })
    }

    /// Fixed and declared variadic parameters: one conversion each.
    #[inline(always)]
    fn arity(&self) -> usize {
        self.quick.len()
    }

    /// Uses libffi (or not) from now on.
    fn set_force_libffi(&mut self, force: bool) {
        self.force_libffi = force;
        self.choose_route();
    }

    /// Argument `index`'s struct plan, unless the general conversions are asked for.
    fn record(&self, index: usize) -> Option<&RecordPlan> {
        match self.general_only {
            true => None,
            false => self.records[index].as_ref(),
        }
    }

    /// Uses the general conversions (or not) from now on.
    fn set_general_only(&mut self, general: bool) {
        self.general_only = general;
        self.choose_route();
    }

    fn choose_route(&mut self) {
        let lane = match self.general_only {
            true => &ScalarLane::UNUSABLE,
            false => &self.lane,
        };
        self.route = Route::choose(lane, self.has_fast(), self.force_libffi);
        self.invoke = self.route.invoke(lane, self.capture_errno);
    }

    /// The call, through the path chosen at binding.
    #[inline(always)]
    fn call(&self, args: &[Value]) -> Result<Value, Error> {
        (self.invoke)(self, args)
    }

    /// The call with its result read into `result`: a struct, union or array result into a
    /// [`Value::Data`] of its type through libffi, into the object's own memory; any other
    /// way, `result` is replaced by what [`call`](Self::call) returns.
    fn call_into(&self, args: &[Value], result: &mut Value) -> Result<(), Error> {
        let shape = &self.signature.result.shape;
        if let Value::Data(data) = result
            && matches!(shape, Shape::Record { .. } | Shape::Array { .. })
            && args.len() == self.arity()
            && data.fingerprint() == self.result_fingerprint
        {
            let bytes = data.storage_bytes_mut();
            // libffi writes the result's size rounded up to 16 bytes, which a C object of
            // the type has; checked, not assumed.
            if bytes.len() >= self.result_size {
                return self.call_libffi_into(args, bytes);
            }
        }
        *result = self.call(args)?;
        Ok(())
    }

    /// Just before the foreign call: clear errno if captured, mark the thread as in a call
    /// (for callback failures).
    #[inline(always)]
    fn enter(&self) -> crate::callback::CallGuard {
        if self.capture_errno {
            // SAFETY: the location is this thread's errno, always valid to write.
            unsafe { *errno_location() = 0 };
        }
        crate::callback::CallGuard::enter()
    }

    /// Right after it: save errno if captured, report a callback's failure.
    #[inline(always)]
    fn leave(&self, guard: crate::callback::CallGuard, args: &[Value]) -> Result<(), Error> {
        if self.capture_errno {
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            LAST_ERRNO.with(|cell| cell.set(errno));
        }
        match guard.finish(args) {
            Some(failure) => Err(Error::CallbackFailed {
                callback: failure.callback,
                message: failure.message,
            }),
            None => Ok(()),
        }
    }

    fn specialize(&self, types: &[Typed]) -> Result<Prepared, Error> {
        if !self.signature.variadic {
            return Err(Error::NotDeclared(format!(
                "`{}` is not variadic",
                self.signature.name
            )));
        }
        let variadic = types
            .iter()
            .map(|declared| {
                Ok(VariadicArg {
                    declared: declared.clone(),
                    promoted: promote(declared)?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let mut prepared = Prepared::new(
            Arc::clone(&self.signature),
            variadic,
            self.code,
            self.capture_errno,
        )?;
        prepared.set_force_libffi(self.force_libffi);
        prepared.set_general_only(self.general_only);
        Ok(prepared)
    }
}

/// C's default argument promotions for a variadic argument.
fn promote(declared: &Typed) -> Result<Typed, Error> {
    let promoted = |shape, c_name: &str| Typed {
        shape,
        c_name: c_name.to_owned(),
    };
    Ok(match declared.shape {
        Shape::Float => promoted(Shape::Double, "double"),
        Shape::Bool | Shape::Int { size: 1 | 2, .. } => promoted(
            Shape::Int {
                size: 4,
                signed: true,
            },
            "int",
        ),
        Shape::Void | Shape::Array { .. } | Shape::Opaque { .. } => {
            return Err(Error::UnsupportedType {
                ty: declared.c_name.clone(),
                reason: "cannot be a variadic argument".into(),
            });
        }
        _ => declared.clone(),
    })
}

/// A pointer argument of an isolated call: what the parameter is, for the isolated
/// module's own conversion (its memory goes to another process).
#[derive(Debug)]
pub(crate) struct PointerParam<'a> {
    pub pointee: &'a Pointee,
    pub c_name: &'a str,
    /// NULL accepted for a `char *` ([`Function::allow_null`]).
    pub nullable: bool,
    pub place: crate::convert::Place<'a>,
}

impl Prepared {
    /// Checks `args` as a call would — arity, kinds, ranges, strings, struct shapes —
    /// without calling anything or copying anything: each pointer argument goes to
    /// `pointer` instead, with its index (an isolated call carries those over itself).
    pub(crate) fn check(
        &self,
        args: &[Value],
        pointer: &mut dyn FnMut(usize, PointerParam<'_>, &Value) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let fixed = self.signature.params.len();
        if args.len() != self.arity() {
            if self.signature.variadic && self.variadic.is_empty() && args.len() > fixed {
                let types = infer_variadic_types(&args[fixed..])?;
                return self.specialize(&types)?.check(args, pointer);
            }
            let expected = if self.signature.variadic && self.variadic.is_empty() {
                format!("at least {fixed}")
            } else {
                self.arity().to_string()
            };
            return Err(Error::ArityMismatch {
                function: self.signature.name.clone(),
                expected,
                given: args.len(),
            });
        }
        let mut small = [0u8; 64];
        for (index, value) in args.iter().enumerate() {
            let (typed, nullable) = match self.signature.params.get(index) {
                Some(param) => (&param.typed, param.nullable),
                None => (&self.variadic[index - fixed].promoted, false),
            };
            if let Shape::Pointer(pointee) = &typed.shape {
                let name = self
                    .signature
                    .params
                    .get(index)
                    .and_then(|p| p.name.as_deref());
                let place = crate::convert::Place::Argument {
                    index,
                    name,
                    function: &self.signature.name,
                };
                let param = PointerParam {
                    pointee,
                    c_name: &typed.c_name,
                    nullable,
                    place,
                };
                pointer(index, param, value)?;
                continue;
            }
            let size = typed.shape.size_align().0 as usize;
            let mut large;
            let dst = if size <= small.len() {
                &mut small[..size]
            } else {
                large = vec![0u8; size];
                &mut large[..]
            };
            self.convert_argument(index, value, dst, &mut crate::convert::Scratch::dry())?;
        }
        Ok(())
    }
}

fn infer_variadic_types(values: &[Value]) -> Result<Vec<Typed>, Error> {
    let typed = |shape, c_name: &str| Typed {
        shape,
        c_name: c_name.to_owned(),
    };
    let int = |size, signed, c_name| typed(Shape::Int { size, signed }, c_name);
    values
        .iter()
        .map(|value| {
            Ok(match value {
                Value::Int(i) if i32::try_from(*i).is_ok() => int(4, true, "int"),
                Value::Int(_) => int(8, true, "long long"),
                Value::UInt(u) if u32::try_from(*u).is_ok() => int(4, false, "unsigned int"),
                Value::UInt(_) => int(8, false, "unsigned long long"),
                Value::Bool(_) => int(4, true, "int"),
                Value::Float(_) => typed(Shape::Double, "double"),
                Value::Str(_) => typed(Shape::Pointer(Pointee::Char), "char *"),
                Value::CString(_) => typed(Shape::Pointer(Pointee::ConstChar), "const char *"),
                Value::Null
                | Value::Pointer(_)
                | Value::Handle(_)
                | Value::Bytes(_)
                | Value::Text { .. } => typed(Shape::Pointer(Pointee::Void), "void *"),
                other => {
                    return Err(Error::TypeMismatch {
                        place: "variadic argument".into(),
                        expected:
                            "a value whose C type can be inferred (declare the variadic types)"
                                .into(),
                        given: other.describe(),
                    });
                }
            })
        })
        .collect()
}
