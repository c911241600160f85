//! Prepared functions and the dynamic call path: check every argument against the signature,
//! lay the arguments out in a frame (on the stack for the common case), call through the
//! prepared libffi interface, read the result back.

use std::cell::Cell;
use std::ffi::{CStr, c_void};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::sync::Arc;

use crate::convert::{
    self, Inline, Quick, QuickResult, RecordPlan, Scratch, WriteOptions, bytes_of,
};
use crate::error::Error;
use crate::fast::{LANE_WORDS, ScalarLane};
#[cfg(fast_path)]
use crate::fast::{LaneKind, SLOT_WORDS};
use crate::library::Library;
use crate::lower::CallInterface;
use crate::shape::{Pointee, Shape, Typed};
use crate::value::Value;

/// Arguments laid out inline, without a heap allocation, up to this many 8-byte words.
const INLINE_FRAME_WORDS: usize = 64;
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
    /// Each struct argument's member-by-member plan, when it has one.
    records: Vec<Option<RecordPlan>>,
    result_size: usize,
    /// The classified fast path, when the signature allows one.
    fast: Option<crate::fast::FastPlan>,
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

/// [`Prepared::call_gprs`] for a signed integer result.
const SIGNED_RESULT: u8 = 1;
/// [`Prepared::call_gprs`] for a `double` result.
const DOUBLE_RESULT: u8 = 2;
/// [`Prepared::call_gprs`] for any other.
const OTHER_RESULT: u8 = 0;

/// A lane call's result from rax and xmm0: a signed integer or a double read without a
/// match when the call was monomorphized for it (`RESULT`), any other scalar by its kind.
#[inline(always)]
fn lane_result<const RESULT: u8>(lane: &ScalarLane, rax: u64, xmm0: u64) -> Value {
    match RESULT {
        SIGNED_RESULT => {
            let shift = lane.result_shift;
            Value::Int(((rax << shift) as i64) >> shift)
        }
        DOUBLE_RESULT => Value::Float(f64::from_bits(xmm0)),
        _ => lane.result.of_registers(rax, xmm0),
    }
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
    /// The classified fast path ([`crate::fast::FastPlan`]).
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
            (None, false) => Route::Libffi,
        }
    }

    fn invoke(self, lane: &ScalarLane) -> Invoke {
        let lane = lane.usable.then_some(lane);
        // Monomorphized per argument count, and for the commonest result (a signed integer).
        const ANY: u8 = OTHER_RESULT;
        const INT: u8 = SIGNED_RESULT;
        const DOUBLE: u8 = DOUBLE_RESULT;
        let shape = lane.map(|lane| {
            let result = match lane.result {
                QuickResult::Signed { .. } => INT,
                QuickResult::Double => DOUBLE,
                _ => ANY,
            };
            (lane.sse_count, lane.len, result)
        });
        // One instance per argument count up to `$max`, for a result kind.
        macro_rules! by_count {
            ($len:expr, $method:ident, $result:expr, $otherwise:expr, [$($n:literal)*]) => {
                match $len {
                    $($n => Prepared::$method::<$n, { $result }> as Invoke,)*
                    _ => $otherwise,
                }
            };
        }
        match (self, shape) {
            #[cfg(fast_path)]
            (Route::LaneRegisters, Some((0, len @ 0..=6, INT))) => by_count!(
                len, call_gprs, INT, Prepared::call_lane_registers, [0 1 2 3 4 5 6]
            ),
            #[cfg(fast_path)]
            (Route::LaneRegisters, Some((0, len @ 0..=6, DOUBLE))) => by_count!(
                len, call_gprs, DOUBLE, Prepared::call_lane_registers, [0 1 2 3 4 5 6]
            ),
            #[cfg(fast_path)]
            (Route::LaneRegisters, Some((0, len @ 0..=6, _))) => by_count!(
                len, call_gprs, ANY, Prepared::call_lane_registers, [0 1 2 3 4 5 6]
            ),
            #[cfg(fast_path)]
            (Route::LaneRegisters, Some((_, len, INT))) => by_count!(
                len, call_registers, INT, Prepared::call_lane_registers,
                [1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16]
            ),
            #[cfg(fast_path)]
            (Route::LaneRegisters, Some((_, len, DOUBLE))) => by_count!(
                len, call_registers, DOUBLE, Prepared::call_lane_registers,
                [1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16]
            ),
            #[cfg(fast_path)]
            (Route::LaneRegisters, Some((_, len, _))) => by_count!(
                len, call_registers, ANY, Prepared::call_lane_registers,
                [1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16]
            ),
            (Route::LaneLibffi, Some((_, len, INT))) => by_count!(
                len, call_libffi_words, INT, Prepared::call_lane_libffi,
                [0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16]
            ),
            (Route::LaneLibffi, Some((_, len, DOUBLE))) => by_count!(
                len, call_libffi_words, DOUBLE, Prepared::call_lane_libffi,
                [0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16]
            ),
            (Route::LaneLibffi, Some((_, len, _))) => by_count!(
                len, call_libffi_words, ANY, Prepared::call_lane_libffi,
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
        crate::data::check_by_value(
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
        let records = shapes.iter().map(|s| RecordPlan::for_shape(s)).collect();
        // libffi writes a whole register for integer results narrower than one.
        let result_size = align16((signature.result.shape.size_align().0 as usize).max(8));
        // Variadic arguments checked as a narrower declared type (char, short, float) keep to
        // the general path, which checks them as declared before promoting.
        let narrowed = variadic
            .iter()
            .any(|v| v.declared.shape != v.promoted.shape);
        let (fast, lane) = if narrowed {
            (None, ScalarLane::UNUSABLE)
        } else {
            (
                crate::fast::FastPlan::new(&shapes, &signature.result.shape),
                ScalarLane::new(&shapes, &signature.result.shape).unwrap_or(ScalarLane::UNUSABLE),
            )
        };
        let route = Route::choose(&lane, fast.is_some(), false);
        let invoke = route.invoke(&lane);
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
            records,
            result_size,
            fast,
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
        self.route = Route::choose(lane, self.fast.is_some(), self.force_libffi);
        self.invoke = self.route.invoke(lane);
    }

    /// The call, through the path chosen at binding.
    #[inline(always)]
    fn call(&self, args: &[Value]) -> Result<Value, Error> {
        (self.invoke)(self, args)
    }

    /// A [`ScalarLane`] of `N` INTEGER-class arguments: each converted straight into the
    /// register it goes to. `RESULT` is [`SIGNED_RESULT`] or [`DOUBLE_RESULT`] for those
    /// results (read without a match), else [`OTHER_RESULT`].
    #[cfg(fast_path)]
    fn call_gprs<const N: usize, const RESULT: u8>(&self, args: &[Value]) -> Result<Value, Error> {
        // Chosen only for a usable lane of N INTEGER-class arguments.
        let lane = &self.lane;
        let Ok(values) = <&[Value; N]>::try_from(args) else {
            return self.call_general(args);
        };
        let Some(lane_args) = lane.args.first_chunk::<N>() else {
            return self.call_general(args);
        };
        let mut words = [0u64; 6];
        for k in 0..N {
            let (arg, value) = (&lane_args[k], &values[k]);
            // Integers and pointers inline; anything else converted out of line.
            words[k % 6] = if let Value::Int(i) = *value
                && arg.min <= i
                && i <= arg.max
            {
                i as u64
            } else if let Value::Pointer(p) = *value
                && arg.kind == LaneKind::Address
            {
                p as u64
            } else {
                return self.call_gprs_converting::<N>(args);
            };
        }
        if self.capture_errno || crate::callback::any_live() {
            return self.call_gprs_converting::<N>(args);
        }
        // Nothing to do around the call: no errno to keep, no callback that could fail.
        // SAFETY: the lane was made from the declaration of the function at `code` (which the
        // binder vouched for): N arguments, all INTEGER class, each converted for its
        // parameter.
        let (rax, xmm0) = unsafe { crate::fast::call_gprs::<N>(self.code, &words) };
        Ok(lane_result::<RESULT>(lane, rax, xmm0))
    }

    /// [`call_gprs`](Self::call_gprs) for arguments other than in-range integers and
    /// pointers (each through [`LaneArg::bits`](crate::fast::LaneArg::bits), the general
    /// path when that cannot convert one), or with errno to keep or a callback that could
    /// fail. Out of line, so the common call keeps few registers.
    #[cfg(fast_path)]
    #[inline(never)]
    fn call_gprs_converting<const N: usize>(&self, args: &[Value]) -> Result<Value, Error> {
        let lane = &self.lane;
        let mut words = [0u64; 6];
        for (word, (arg, value)) in words.iter_mut().zip(lane.args().iter().zip(args)) {
            match arg.bits(value) {
                Some(bits) => *word = bits,
                None => return self.call_general(args),
            }
        }
        let around = self.enter();
        // SAFETY: as in `call_gprs`: N INTEGER-class arguments, each converted for its
        // parameter.
        let (rax, xmm0) = unsafe { crate::fast::call_gprs::<N>(self.code, &words) };
        self.leave(around, args)?;
        Ok(lane.result.of_registers(rax, xmm0))
    }

    /// Every argument converted quickly into `words`, at its register slot (`by_slot`) or
    /// at its index; false when one needs the general conversion (which also explains
    /// errors).
    #[inline(always)]
    fn lane_words<const W: usize>(
        lane: &ScalarLane,
        args: &[Value],
        by_slot: bool,
        words: &mut [MaybeUninit<u64>; W],
    ) -> bool {
        for (index, (arg, value)) in lane.args().iter().zip(args).enumerate() {
            let word = if by_slot {
                usize::from(arg.slot)
            } else {
                index
            };
            match arg.bits(value) {
                Some(bits) => words[word % W].write(bits),
                None => return false,
            };
        }
        true
    }

    /// A [`ScalarLane`] of `N` arguments in registers, SSE ones among them (`RESULT` as for
    /// [`call_gprs`](Self::call_gprs)); anything but the common arguments, errno to keep
    /// or a callback that could fail take [`call_lane_registers`](Self::call_lane_registers).
    #[cfg(fast_path)]
    fn call_registers<const N: usize, const RESULT: u8>(
        &self,
        args: &[Value],
    ) -> Result<Value, Error> {
        // Chosen only for a usable lane of N arguments, all in registers.
        let lane = &self.lane;
        let (Ok(values), Some(lane_args)) =
            (<&[Value; N]>::try_from(args), lane.args.first_chunk::<N>())
        else {
            return self.call_general(args);
        };
        let mut words = [const { MaybeUninit::uninit() }; SLOT_WORDS];
        for k in 0..N {
            match lane_args[k].common_bits(&values[k]) {
                Some(bits) => words[usize::from(lane_args[k].slot) % SLOT_WORDS].write(bits),
                None => return self.call_lane_registers(args),
            };
        }
        if self.capture_errno || crate::callback::any_live() {
            return self.call_lane_registers(args);
        }
        // SAFETY: the lane was made from the declaration of the function at `code` (which
        // the binder vouched for) and chose registers only because every argument fits in
        // one; each argument's slot holds its converted bits.
        let (rax, xmm0) = unsafe {
            crate::fast::call_in_registers(self.code, &words, lane.sse_count, lane.stack_words)
        };
        Ok(lane_result::<RESULT>(lane, rax, xmm0))
    }

    /// A [`ScalarLane`] in registers: converted, then called by inline assembly.
    #[cfg(fast_path)]
    fn call_lane_registers(&self, args: &[Value]) -> Result<Value, Error> {
        let Some(lane) = Some(&self.lane).filter(|lane| lane.usable && lane.len == args.len())
        else {
            return self.call_general(args);
        };
        let mut words = [const { MaybeUninit::uninit() }; SLOT_WORDS];
        if !Self::lane_words(lane, args, true, &mut words) {
            return self.call_general(args);
        }
        let around = self.enter();
        // SAFETY: the lane was made from the declaration of the function at `code` (which
        // the binder vouched for) and chose registers only because every argument fits in
        // one; each argument's slot holds its converted bits.
        let (rax, xmm0) = unsafe {
            crate::fast::call_in_registers(self.code, &words, lane.sse_count, lane.stack_words)
        };
        self.leave(around, args)?;
        Ok(lane.result.of_registers(rax, xmm0))
    }

    /// A [`ScalarLane`] through libffi: one word per argument, each converted by
    /// [`LaneArg::bits`](crate::fast::LaneArg::bits) (the general path when that cannot).
    fn call_lane_libffi(&self, args: &[Value]) -> Result<Value, Error> {
        let Some(lane) = Some(&self.lane).filter(|lane| lane.usable && lane.len == args.len())
        else {
            return self.call_general(args);
        };
        let mut words = [const { MaybeUninit::uninit() }; LANE_WORDS];
        if !Self::lane_words(lane, args, false, &mut words) {
            return self.call_general(args);
        }
        let mut pointers = [const { MaybeUninit::<*mut c_void>::uninit() }; LANE_WORDS];
        for (pointer, word) in pointers.iter_mut().zip(words.iter_mut()).take(args.len()) {
            pointer.write(word.as_mut_ptr().cast());
        }
        let mut result = [0u64; 2];
        let around = self.enter();
        // SAFETY: the interface was prepared from the declaration of the function at `code`
        // (which the binder vouched for); each argument is a scalar converted for its
        // parameter into its own word, which libffi reads from the low bytes
        // (little-endian); the 16-byte result buffer covers a scalar result widened to a
        // register.
        unsafe {
            self.interface.call(
                self.code as *const c_void,
                pointers.as_mut_ptr().cast(),
                result.as_mut_ptr().cast(),
            )
        };
        self.leave(around, args)?;
        Ok(lane.result.scalar(result[0]))
    }

    /// A [`ScalarLane`] of `N` arguments through libffi, each converted into its own word
    /// (`RESULT` as for [`call_gprs`](Self::call_gprs)); anything but in-range integers,
    /// doubles and pointers, errno to keep or a callback that could fail take
    /// [`call_lane_libffi`](Self::call_lane_libffi).
    fn call_libffi_words<const N: usize, const RESULT: u8>(
        &self,
        args: &[Value],
    ) -> Result<Value, Error> {
        // Chosen only for a usable lane of N arguments.
        let lane = &self.lane;
        let (Ok(values), Some(lane_args)) =
            (<&[Value; N]>::try_from(args), lane.args.first_chunk::<N>())
        else {
            return self.call_general(args);
        };
        let mut words = [0u64; N];
        for k in 0..N {
            match lane_args[k].common_bits(&values[k]) {
                Some(bits) => words[k] = bits,
                None => return self.call_lane_libffi(args),
            }
        }
        if self.capture_errno || crate::callback::any_live() {
            return self.call_lane_libffi(args);
        }
        let mut pointers: [*mut c_void; N] =
            std::array::from_fn(|k| (&raw mut words[k]).cast::<c_void>());
        let mut result = 0u64;
        // SAFETY: the interface was prepared from the declaration of the function at `code`
        // (which the binder vouched for); each argument is a scalar converted for its
        // parameter into its own word, which libffi reads from the low bytes
        // (little-endian); the 8-byte result covers a scalar result (libffi widens small
        // integers to a whole register).
        unsafe {
            self.interface.call(
                self.code as *const c_void,
                pointers.as_mut_ptr(),
                (&raw mut result).cast(),
            )
        };
        // libffi leaves every scalar result in the one word.
        Ok(lane_result::<RESULT>(lane, result, result))
    }

    /// Every call the lanes do not take: arity checked, then the fast path or libffi.
    #[inline(never)]
    fn call_general(&self, args: &[Value]) -> Result<Value, Error> {
        if args.len() == self.arity() {
            #[cfg(fast_path)]
            if let (Some(fast), false) = (&self.fast, self.force_libffi) {
                return self.call_fast(fast, args);
            }
            return self.call_libffi(args);
        }
        self.call_other_arity(args)
    }

    /// A variadic call without declared variadic types, or the wrong number of arguments.
    #[inline(never)]
    fn call_other_arity(&self, args: &[Value]) -> Result<Value, Error> {
        if self.signature.variadic && self.variadic.is_empty() && args.len() > self.arity() {
            // Variadic arguments without declared types: infer them (ctypes' way), at the
            // cost of preparing an interface for this call.
            let types = infer_variadic_types(&args[self.arity()..])?;
            let specialized = self.specialize(&types)?;
            return specialized.call(args);
        }
        let expected = if self.signature.variadic && self.variadic.is_empty() {
            format!("at least {}", self.arity())
        } else {
            self.arity().to_string()
        };
        Err(Error::ArityMismatch {
            function: self.signature.name.clone(),
            expected,
            given: args.len(),
        })
    }

    /// Through libffi's `ffi_call` on the prepared interface.
    #[inline(never)]
    fn call_libffi(&self, args: &[Value]) -> Result<Value, Error> {
        // Every word libffi reads is written below, so the frame is not zeroed.
        let mut inline_frame = [const { MaybeUninit::<u64>::uninit() }; INLINE_FRAME_WORDS];
        let mut heap_frame;
        let frame: &mut [MaybeUninit<u64>] = if self.frame_words <= INLINE_FRAME_WORDS {
            &mut inline_frame[..self.frame_words]
        } else {
            heap_frame = vec![MaybeUninit::uninit(); self.frame_words];
            &mut heap_frame
        };
        let mut scratch = Scratch::new();
        for (index, value) in args.iter().enumerate() {
            let word = self.offsets[index];
            match self.quick[index].bits(value) {
                // Little-endian: a narrower value sits in the word's low bytes, where libffi
                // reads it.
                Some(bits) => {
                    frame[word].write(bits);
                }
                None => self.write_argument(index, value, &mut frame[word..], &mut scratch)?,
            }
        }

        let mut inline_pointers = [const { MaybeUninit::<*mut c_void>::uninit() }; INLINE_ARGS];
        let mut heap_pointers;
        let pointers: &mut [MaybeUninit<*mut c_void>] = if args.len() <= INLINE_ARGS {
            &mut inline_pointers[..args.len()]
        } else {
            heap_pointers = vec![MaybeUninit::uninit(); args.len()];
            &mut heap_pointers
        };
        for (pointer, &word) in pointers.iter_mut().zip(&self.offsets) {
            pointer.write(frame[word..].as_mut_ptr().cast());
        }

        let mut small_result = [0u64; 2];
        let mut inline_result;
        let mut heap_result;
        let result: &mut [u8] = if self.result_size <= 16 {
            bytes_of(&mut small_result)
        } else if self.result_size <= 64 {
            inline_result = Inline([0u8; 64]);
            &mut inline_result.0[..self.result_size]
        } else {
            heap_result = vec![0u64; self.result_size.div_ceil(8)];
            &mut bytes_of(&mut heap_result)[..self.result_size]
        };

        let around = self.enter();
        // SAFETY: the interface was prepared from the declaration of the function at `code`
        // (the caller of `Library::function` vouches that it is right); every argument was
        // checked and written, in full, at its 16-byte aligned word; the strings and buffers
        // pointed to live in `scratch` until after the call; `result` is 8-byte aligned (the
        // most a by-value result here needs) and at least 8 bytes, covering libffi's
        // widened small-integer results.
        unsafe {
            self.interface.call(
                self.code as *const c_void,
                pointers.as_mut_ptr().cast(),
                result.as_mut_ptr().cast(),
            )
        };
        self.leave(around, args)?;
        let first = u64::from_ne_bytes(result[..8].try_into().expect("8 bytes"));
        // Read before the scratch copies go: a `char *` result may point into one of them.
        let value = match self.quick_result.value(first) {
            Some(value) => value,
            None => read_result(&self.signature.result.shape, result),
        };
        drop(scratch);
        Ok(value)
    }

    /// The fast path: registers filled directly, no libffi.
    #[inline(always)]
    #[cfg(fast_path)]
    fn call_fast(&self, fast: &crate::fast::FastPlan, args: &[Value]) -> Result<Value, Error> {
        let fixed = self.signature.params.len();
        let param = |index: usize| match self.signature.params.get(index) {
            Some(param) => &param.typed,
            None => &self.variadic[index - fixed].promoted,
        };
        let place = |index: usize| convert::Place::Argument {
            index,
            name: self
                .signature
                .params
                .get(index)
                .and_then(|p| p.name.as_deref()),
            function: &self.signature.name,
        };
        let nullable = |index: usize| index >= fixed || self.signature.params[index].nullable;
        let mut scratch = Scratch::new();
        let around = self.enter();
        // SAFETY: the plan was classified from the declaration of the function at `code`,
        // which the binder vouched for.
        unsafe {
            fast.call(
                self.code,
                param,
                &self.signature.result,
                args,
                place,
                nullable,
                |index| self.record(index),
                &mut scratch,
                || self.leave(around, args),
            )
        }
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

    /// The general conversion of argument `index` into the frame words starting at its own:
    /// checked, converted into bytes, then copied in word by word.
    #[inline(never)]
    fn write_argument(
        &self,
        index: usize,
        value: &Value,
        words: &mut [MaybeUninit<u64>],
        scratch: &mut Scratch,
    ) -> Result<(), Error> {
        let typed = match self.signature.params.get(index) {
            Some(param) => &param.typed,
            None => &self.variadic[index - self.signature.params.len()].promoted,
        };
        let size = typed.shape.size_align().0 as usize;
        let mut inline = [0u64; 8];
        let mut heap;
        let staged: &mut [u64] = if size <= 64 {
            &mut inline[..size.div_ceil(8)]
        } else {
            heap = vec![0u64; size.div_ceil(8)];
            &mut heap
        };
        // A planned struct given in order is written member by member; any other value takes
        // the general conversion.
        let planned = self
            .record(index)
            .is_some_and(|plan| plan.write(value, bytes_of(staged)));
        if !planned {
            self.convert_argument(index, value, &mut bytes_of(staged)[..size], scratch)?;
        }
        for (word, staged) in words.iter_mut().zip(staged.iter()) {
            word.write(*staged);
        }
        Ok(())
    }

    fn convert_argument(
        &self,
        index: usize,
        value: &Value,
        dst: &mut [u8],
        scratch: &mut Scratch,
    ) -> Result<(), Error> {
        let fixed = self.signature.params.len();
        let place = convert::Place::Argument {
            index,
            name: self
                .signature
                .params
                .get(index)
                .and_then(|p| p.name.as_deref()),
            function: &self.signature.name,
        };
        if index < fixed {
            let param = &self.signature.params[index];
            let options = WriteOptions {
                nullable_string: param.nullable,
            };
            return convert::write(
                &param.typed.shape,
                &param.typed.c_name,
                value,
                dst,
                &place,
                scratch,
                options,
            );
        }
        // A variadic argument: checked as its declared type, passed promoted.
        let arg = &self.variadic[index - fixed];
        let options = WriteOptions {
            nullable_string: true,
        };
        let mut declared = Inline([0u8; 32]);
        let declared_size = arg.declared.shape.size_align().0 as usize;
        let value = if arg.declared.shape != arg.promoted.shape && declared_size <= 32 {
            convert::write(
                &arg.declared.shape,
                &arg.declared.c_name,
                value,
                &mut declared.0[..declared_size],
                &place,
                scratch,
                options,
            )?;
            &convert::read(&arg.declared.shape, &declared.0)
        } else {
            value
        };
        convert::write(
            &arg.promoted.shape,
            &arg.promoted.c_name,
            value,
            dst,
            &place,
            scratch,
            options,
        )
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
                Value::Null | Value::Pointer(_) | Value::Bytes(_) | Value::Text { .. } => {
                    typed(Shape::Pointer(Pointee::Void), "void *")
                }
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

pub(crate) fn read_result(shape: &Shape, bytes: &[u8]) -> Value {
    match (shape, convert::read(shape, bytes)) {
        (Shape::Pointer(Pointee::Char), Value::Pointer(address)) => {
            // SAFETY: the function's declaration says it returns a `char *`: a non-NULL
            // result points to a NUL-terminated string, as for ctypes' c_char_p results.
            let text = unsafe { CStr::from_ptr(address as *const std::ffi::c_char) };
            Value::Text {
                address,
                bytes: Some(text.to_bytes().to_vec()),
            }
        }
        (_, value) => value,
    }
}

/// A C function bound from a [`Library`], callable with dynamic [`Value`]s. It cannot
/// outlive its library (see [`OwnedFunction`] for one that keeps the library alive).
///
/// Each [`call`](Self::call) is `unsafe`: the caller vouches that the arguments meet the
/// function's own preconditions. Where a function has none beyond what ffikit checks (`cos`,
/// `abs`, `strlen` given strings), [`into_safe`](Self::into_safe) makes that promise once
/// and gives a handle with a safe `call`.
///
/// Functions are `Send + Sync`: any number of threads may call one at once.
#[derive(Debug)]
pub struct Function<'lib> {
    prepared: Prepared,
    _library: PhantomData<&'lib Library>,
}

/// A [`Function`] that holds its library by reference count, for callers who must store
/// both together (libloading's most-asked-for feature). It can only be bound from the
/// library it holds ([`OwnedFunction::new`]), so it cannot outlive the code it calls.
#[derive(Debug)]
pub struct OwnedFunction {
    prepared: Prepared,
    library: Arc<Library>,
}

/// A function whose binder promised that every argument list this handle's safe
/// [`call`](Safe::call) accepts is sound for it ([`Function::into_safe`],
/// [`OwnedFunction::into_safe`]): promise 3 of the [safety model](crate#safety-model), made
/// once instead of at each call, as for a safe function in cxx's `unsafe extern` block.
///
/// The safe call accepts only values whose memory ffikit vouches for: numbers (range
/// checked), strings and bytes (copied for the duration of the call), struct values made of
/// these, and NULL where [`allow_null`](Function::allow_null) said so. A raw address — a
/// [`Value::Pointer`], a `char *` result passed back ([`Value::Text`]), a [`CData`] or
/// callback address — is refused with [`Error::UncheckedPointer`]: only the `unsafe`
/// [`Function::call`] takes those, where the caller vouches for them.
///
/// It dereferences to the function, for its name, address, typed handles and its own
/// `unsafe` call: `unsafe { (*strlen).call(&[buffer.address()]) }`.
///
/// [`CData`]: crate::CData
#[derive(Debug)]
pub struct Safe<F> {
    function: F,
}

/// A [`Function`] whose calls are safe ([`Function::into_safe`]).
pub type SafeFunction<'lib> = Safe<Function<'lib>>;

impl<'lib> Function<'lib> {
    pub(crate) fn new(signature: Signature, code: usize) -> Result<Function<'lib>, Error> {
        Ok(Function {
            prepared: Prepared::new(Arc::new(signature), Vec::new(), code, false)?,
            _library: PhantomData,
        })
    }

    /// Calls the function. Every argument is checked against the declaration first.
    ///
    /// For a variadic function bound without [`variadic`](Self::variadic) types, the
    /// variadic arguments' C types are inferred (int, long long, double, char *, void *).
    ///
    /// # Errors
    ///
    /// [`Error::ArityMismatch`], [`Error::TypeMismatch`], [`Error::OutOfRange`],
    /// [`Error::NullPointer`], [`Error::InteriorNul`]: the function is not called.
    ///
    /// # Safety
    ///
    /// The arguments meet the function's preconditions beyond what ffikit checks (promise 3
    /// of the [safety model](crate#safety-model)): every address passed ([`Value::Pointer`],
    /// [`CData::address`](crate::CData::address), [`Callback::address`](crate::Callback::address),
    /// a [`Value::Text`] result passed on) points to memory valid for what the function does
    /// with it, for as long as it does (a callback C keeps must outlive C's use of it:
    /// [`Callback::leak`](crate::Callback::leak)); sizes and counts match the buffers; the
    /// function's own rules (no double free, a lock held...) are kept. Strings and bytes given
    /// as [`Value::Str`] and [`Value::Bytes`] are copies ffikit owns for the call: C may read
    /// them (and write within them), never keep them.
    #[inline]
    pub unsafe fn call(&self, args: &[Value]) -> Result<Value, Error> {
        self.prepared.call(args)
    }

    /// Promises that the function is sound for every argument list the safe
    /// [`Safe::call`] accepts, so its calls need no `unsafe`.
    ///
    /// ```
    /// # use ffikit_abi::{Library, Value};
    /// let libc = Library::this();
    /// // SAFETY: strlen is declared as in <string.h>; given a string ffikit copies, NUL-terminated,
    /// // it reads only that string.
    /// let strlen = unsafe { libc.function("size_t strlen(const char *)")?.into_safe() };
    /// assert_eq!(strlen.call(&["hello".into()])?, Value::UInt(5));
    /// // A raw address is the caller's promise, which the safe call cannot take.
    /// let error = strlen.call(&[Value::Pointer(16)]).unwrap_err();
    /// assert_eq!(error.kind(), ffikit_abi::ErrorKind::UncheckedPointer);
    /// # Ok::<(), ffikit_abi::Error>(())
    /// ```
    ///
    /// # Safety
    ///
    /// Calling the function is sound with every argument list [`Safe::call`] accepts: any
    /// in-range numbers, any strings and bytes (copies owned by ffikit for the call), NULL
    /// for the parameters marked [`allow_null`](Self::allow_null) (promise 3, made once) —
    /// from any thread, concurrently too (the handle is `Send` and `Sync`: `strtok` or
    /// `setenv` do not qualify).
    /// True of `cos`, `abs`, `strlen(const char *)`, `getenv`; false of `free`, `memcpy`,
    /// `qsort`, `strcpy` (a count or a destination ffikit cannot check), which keep the
    /// `unsafe` [`call`](Self::call).
    pub unsafe fn into_safe(self) -> SafeFunction<'lib> {
        Safe { function: self }
    }

    /// The same variadic function with these C types for its variadic arguments (before
    /// promotion: `float` is passed as `double`, `char` and `short` as `int`), prepared once.
    /// `library` only resolves the type names; the result calls the same code.
    ///
    /// # Errors
    ///
    /// A type that does not parse or cannot be passed, or a function that is not variadic.
    pub fn variadic(
        &self,
        library: &'lib Library,
        types: &[&str],
    ) -> Result<Function<'lib>, Error> {
        let typed = library_types(library, types)?;
        Ok(Function {
            prepared: self.prepared.specialize(&typed)?,
            _library: PhantomData,
        })
    }

    /// Call through libffi even where the fast path applies (it is the reference the fast
    /// path is tested against; this is for comparisons).
    pub fn use_libffi(mut self) -> Self {
        self.prepared.set_force_libffi(true);
        self
    }

    /// Calls take the general conversions even where a scalar lane (one comparison per
    /// argument, monomorphized calls) or a struct's member-by-member plan would apply: the
    /// reference those are tested against, and for comparisons.
    pub fn use_general_path(mut self) -> Self {
        self.prepared.set_general_only(true);
        self
    }

    /// Whether calls skip libffi: a scalar lane in registers, or the classified fast path
    /// (a register file filled directly).
    pub fn is_fast(&self) -> bool {
        matches!(self.prepared.route, Route::LaneRegisters | Route::Fast)
    }

    /// Calls the prepared libffi interface directly: no argument checks, no conversions, no
    /// errno or callback bookkeeping. It is the baseline `ffikit compare` measures the checked
    /// call against ("how much does the wrapper add to `ffi_call`").
    ///
    /// # Safety
    ///
    /// `args` must hold one pointer per parameter (fixed and declared variadic), each to a
    /// valid value of that parameter's C type (after promotion); `result` must be writable
    /// for the result's size rounded up to 8 bytes, and 8-byte aligned.
    pub unsafe fn call_prepared_unchecked(&self, args: &mut [*mut c_void], result: *mut c_void) {
        assert_eq!(
            args.len(),
            self.prepared.arity(),
            "one pointer per parameter"
        );
        // SAFETY: the caller guarantees the argument pointers and the result buffer; the
        // interface was prepared from the function's declaration.
        unsafe {
            self.prepared.interface.call(
                self.prepared.code as *const c_void,
                args.as_mut_ptr(),
                result,
            )
        }
    }

    /// Clear `errno` before each call and save it right after, for [`last_errno`].
    pub fn capture_errno(mut self) -> Self {
        self.prepared.capture_errno = true;
        self
    }

    /// Accept NULL for the pointer parameter at `index` (0-based). [`Function::call`] refuses
    /// NULL only for `char *` parameters, as strings C will read; [`Safe::call`] refuses it
    /// for every pointer parameter not allowed here.
    pub fn allow_null(mut self, index: usize) -> Self {
        self.prepared.allow_null(index);
        self
    }

    /// The declared name.
    pub fn name(&self) -> &str {
        &self.prepared.signature.name
    }

    /// The address of the function's code.
    pub fn address(&self) -> usize {
        self.prepared.code
    }

    /// A typed handle: checks the Rust function-pointer type `F` against the declaration
    /// once, then calls directly (see [`Typed`](crate::TypedFunction)).
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] when `F`'s parameters or result differ from the declaration.
    pub fn typed<F: crate::typed::CFunctionPointer>(
        &self,
    ) -> Result<crate::typed::TypedFunction<'lib, F>, Error> {
        crate::typed::TypedFunction::check(
            &self.prepared.signature.name,
            &self
                .prepared
                .signature
                .params
                .iter()
                .map(|p| &p.typed)
                .collect::<Vec<_>>(),
            &self.prepared.signature.result,
            self.prepared.signature.variadic,
            self.prepared.code,
        )
    }
}

fn library_types(library: &Library, types: &[&str]) -> Result<Vec<Typed>, Error> {
    types
        .iter()
        .map(|text| library.resolve_type(text))
        .collect()
}

impl OwnedFunction {
    /// Binds `declaration` from a shared library handle, which the function keeps alive.
    ///
    /// # Errors
    ///
    /// As [`Library::function`].
    ///
    /// # Safety
    ///
    /// As [`Library::function`]: the declaration is true to the symbol.
    pub unsafe fn new(library: &Arc<Library>, declaration: &str) -> Result<OwnedFunction, Error> {
        // SAFETY: the caller's promise, passed on. The function is bound from `library` and
        // keeps it, so the code stays loaded as long as the function exists.
        let function = unsafe { library.function(declaration) }?;
        Ok(OwnedFunction {
            prepared: function.prepared,
            library: Arc::clone(library),
        })
    }

    /// As [`Function::call`].
    ///
    /// # Errors
    ///
    /// As [`Function::call`].
    ///
    /// # Safety
    ///
    /// As [`Function::call`].
    #[inline]
    pub unsafe fn call(&self, args: &[Value]) -> Result<Value, Error> {
        self.prepared.call(args)
    }

    /// As [`Function::into_safe`].
    ///
    /// # Safety
    ///
    /// As [`Function::into_safe`].
    pub unsafe fn into_safe(self) -> Safe<OwnedFunction> {
        Safe { function: self }
    }

    /// As [`Function::allow_null`].
    pub fn allow_null(mut self, index: usize) -> Self {
        self.prepared.allow_null(index);
        self
    }

    /// The library this function keeps alive.
    pub fn library(&self) -> &Arc<Library> {
        &self.library
    }
}

impl Safe<Function<'_>> {
    /// Calls the function, as [`Function::call`] does, after refusing raw addresses (see
    /// [`Safe`]).
    ///
    /// # Errors
    ///
    /// [`Error::UncheckedPointer`] for a raw address, [`Error::NullPointer`] for a NULL not
    /// allowed, else as [`Function::call`]: the function is not called.
    #[inline]
    pub fn call(&self, args: &[Value]) -> Result<Value, Error> {
        self.function.prepared.refuse_unchecked(args)?;
        // SAFETY: every argument left is one the binder promised to be sound for this
        // function (`into_safe`'s contract, promise 3).
        unsafe { self.function.call(args) }
    }
}

impl Safe<OwnedFunction> {
    /// As [`Safe::<Function>::call`](Safe::call).
    ///
    /// # Errors
    ///
    /// As [`Safe::<Function>::call`](Safe::call).
    #[inline]
    pub fn call(&self, args: &[Value]) -> Result<Value, Error> {
        self.function.prepared.refuse_unchecked(args)?;
        // SAFETY: as for `Safe<Function>`: `into_safe`'s contract.
        unsafe { self.function.call(args) }
    }
}

impl<F> Safe<F> {
    /// The function, whose `call` is `unsafe` again (for raw addresses).
    pub fn into_inner(self) -> F {
        self.function
    }
}

impl<F> std::ops::Deref for Safe<F> {
    type Target = F;

    fn deref(&self) -> &F {
        &self.function
    }
}

impl Prepared {
    fn allow_null(&mut self, index: usize) {
        let mut signature = (*self.signature).clone();
        if let Some(param) = signature.params.get_mut(index) {
            param.nullable = true;
        }
        self.signature = Arc::new(signature);
    }

    /// What a safe call refuses: any raw address, anywhere in the arguments, and NULL except
    /// for top-level parameters allowed to be NULL.
    fn refuse_unchecked(&self, args: &[Value]) -> Result<(), Error> {
        for (index, value) in args.iter().enumerate() {
            let param = self.signature.params.get(index);
            // NULL for a parameter that is not a pointer is left to the conversions' own
            // type error.
            let nullable =
                param.is_some_and(|p| p.nullable || !matches!(p.typed.shape, Shape::Pointer(_)));
            let place = || {
                convert::Place::Argument {
                    index,
                    name: param.and_then(|p| p.name.as_deref()),
                    function: &self.signature.name,
                }
                .to_string()
            };
            let ty = param.map_or("variadic argument", |p| p.typed.c_name.as_str());
            refuse_unchecked_value(value, nullable, ty, &place)?;
        }
        Ok(())
    }
}

/// Refuses raw addresses (and NULL unless `nullable`) in `value` and everything inside it.
fn refuse_unchecked_value(
    value: &Value,
    nullable: bool,
    ty: &str,
    place: &dyn Fn() -> String,
) -> Result<(), Error> {
    match value {
        Value::Null | Value::Pointer(0) if nullable => Ok(()),
        Value::Null | Value::Pointer(0) => Err(Error::NullPointer {
            place: place(),
            ty: ty.to_owned(),
        }),
        Value::Pointer(_) | Value::Text { .. } => Err(Error::UncheckedPointer {
            place: place(),
            given: value.describe(),
        }),
        Value::Struct(members) => members
            .iter()
            .try_for_each(|(_, member)| refuse_unchecked_value(member, false, ty, place)),
        Value::Array(items) => items
            .iter()
            .try_for_each(|item| refuse_unchecked_value(item, false, ty, place)),
        _ => Ok(()),
    }
}
