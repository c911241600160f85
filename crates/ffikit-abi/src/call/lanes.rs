//! All-scalar signatures (up to 16 arguments, every one a scalar or a pointer, the result a
//! scalar or void) get a [`ScalarLane`] at binding: each argument accepted as is by a
//! comparison or two into its word (anything else sends the whole call to the general
//! conversions). This module classifies them — portable — and calls them through libffi, one
//! word per argument; `registers` calls the same lanes by inline assembly where it can.

use std::ffi::c_void;
use std::mem::MaybeUninit;

use super::Prepared;
use crate::convert::{Quick, QuickResult};
use crate::error::Error;
use crate::shape::Shape;
use crate::value::Value;

/// Slots 0-5 are the integer registers, 6-13 the SSE ones, 14 on the stack words (System V's
/// order; the register route reads them, libffi uses the argument index instead).
pub(super) const REGISTER_SLOTS: usize = 14;
pub(super) const FIRST_SSE_SLOT: u16 = 6;

/// [`Prepared::call_gprs`] for an `int` result (the commonest).
pub(super) const SIGNED_RESULT: u8 = 1;
/// [`Prepared::call_gprs`] for a `double` result.
pub(super) const DOUBLE_RESULT: u8 = 2;
/// [`Prepared::call_gprs`] for a 64-bit unsigned result (`size_t`, `unsigned long`).
pub(super) const U64_RESULT: u8 = 3;
/// [`Prepared::call_gprs`] for any other.
pub(super) const OTHER_RESULT: u8 = 0;

/// A lane call's result from rax and xmm0: an `int`, a double or a 64-bit unsigned integer
/// read without a match when the call was monomorphized for it (`RESULT`), any other scalar
/// by its kind.
#[inline(always)]
pub(super) fn lane_result<const RESULT: u8>(lane: &ScalarLane, rax: u64, xmm0: u64) -> Value {
    match RESULT {
        SIGNED_RESULT => Value::Int(i64::from(rax as i32)),
        DOUBLE_RESULT => Value::Float(f64::from_bits(xmm0)),
        U64_RESULT => Value::UInt(rax),
        _ => lane.result.of_registers(rax, xmm0),
    }
}

/// Arguments of a [`ScalarLane`] at most, and its words for libffi (one per argument); a
/// power of two so an index masked to it needs no bounds check.
pub(crate) const LANE_WORDS: usize = 16;

/// What a [`LaneArg`] is, for the conversions its range does not decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum LaneKind {
    /// Any integer type, `_Bool` included: a [`Value::Int`] in `min..=max`, a
    /// [`Value::UInt`] up to `umax`.
    Integer,
    /// `_Bool`: also a [`Value::Bool`].
    Bool,
    Float,
    Double,
    /// A pointer that is not a string.
    Address,
    /// `char *`: a [`Value::Str`] goes in as a NUL-terminated copy in the call's
    /// [`TextStash`], a [`Value::Pointer`] as is.
    Text,
    /// `const char *`: as [`Text`](LaneKind::Text), and a [`Value::CString`] as it is (C
    /// only reads it).
    ConstText,
    /// A struct of scalar members by value (its `RecordPlan` writes it): `words` eightbytes,
    /// in registers of their class (`slot`, then `slot2`) or in consecutive stack words
    /// from `slot` — as System V passes it. Only on the register route.
    Record,
}

/// Room on the calling function's stack for the NUL-terminated copies of a lane call's
/// string arguments: no heap allocation for short strings. A string that does not fit (or
/// holds a NUL) leaves the call to the general conversions, which copy it or explain.
pub(crate) struct TextStash {
    bytes: [MaybeUninit<u8>; TextStash::ROOM],
    used: usize,
}

impl TextStash {
    /// Bytes for all of one call's strings, terminators included.
    const ROOM: usize = 256;

    #[inline(always)]
    pub(crate) fn new() -> TextStash {
        TextStash {
            bytes: [const { MaybeUninit::uninit() }; TextStash::ROOM],
            used: 0,
        }
    }

    /// The address of a NUL-terminated copy of `text`, valid while the stash is; None when
    /// `text` holds a NUL or does not fit.
    #[inline(always)]
    pub(crate) fn put(&mut self, text: &str) -> Option<u64> {
        let bytes = text.as_bytes();
        let end = self.used + bytes.len();
        if end >= TextStash::ROOM {
            return None;
        }
        // SAFETY: memchr reads the `bytes.len()` bytes of the slice. The C library's (vector
        // instructions) rather than core's word-at-a-time one: this check is most of the
        // cost of passing a short string.
        let nul = unsafe { libc::memchr(bytes.as_ptr().cast(), 0, bytes.len()) };
        if !nul.is_null() {
            return None;
        }
        let room = &mut self.bytes[self.used..=end];
        // SAFETY: `room` holds bytes.len() + 1 bytes: the text, then its terminator.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                room.as_mut_ptr().cast::<u8>(),
                bytes.len(),
            );
        }
        room[bytes.len()].write(0);
        let address = room.as_ptr() as u64;
        self.used = end + 1;
        Some(address)
    }
}

/// One argument of a [`ScalarLane`]: what it accepts as is, and the word it goes to.
/// Anything else (an integer out of range, a string for a pointer, ...) sends the whole call
/// to the general path, which converts what it can and explains what it cannot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LaneArg {
    /// The range a [`Value::Int`] passes in (an empty one for floating and pointer types).
    pub min: i64,
    pub max: i64,
    /// The largest [`Value::UInt`] that passes (0 and an empty `min..=max`: none).
    pub umax: u64,
    pub kind: LaneKind,
    /// The register slot (0-5 rdi..r9, 6-13 xmm0..xmm7) or stack word (14 on) of the inline
    /// call; libffi uses the index instead.
    pub slot: u8,
    /// A [`LaneKind::Record`]'s eightbytes, and the register of its second one when it is
    /// passed in registers (the first is `slot`).
    pub words: u8,
    pub slot2: u8,
    /// A [`LaneKind::Record`]'s [`Shape::fingerprint`]: a [`Value::Data`] of it passes as
    /// its bytes.
    pub fingerprint: u64,
}

impl LaneArg {
    const UNUSED: LaneArg = LaneArg {
        min: 1,
        max: 0,
        umax: 0,
        kind: LaneKind::Address,
        slot: 0,
        words: 1,
        slot2: 0,
        fingerprint: 0,
    };

    /// The bits of the commonest arguments — an in-range integer, a double or float (the
    /// float nearest it, as the general conversion does), a pointer — or None for any other
    /// (see [`bits`](Self::bits)). Inlined into the monomorphized calls.
    #[inline(always)]
    pub(crate) fn common_bits(&self, value: &Value) -> Option<u64> {
        match (value, self.kind) {
            (&Value::Int(i), _) if self.min <= i && i <= self.max => Some(i as u64),
            (&Value::Float(f), LaneKind::Double) => Some(f.to_bits()),
            (&Value::Float(f), LaneKind::Float) => {
                crate::convert::narrow_f32(f).map(|f| u64::from(f.to_bits()))
            }
            (&Value::Pointer(p), LaneKind::Address) => Some(p as u64),
            _ => None,
        }
    }

    /// The argument's register bits, or None when the general conversion must decide.
    #[inline(always)]
    pub(crate) fn bits(&self, value: &Value) -> Option<u64> {
        self.common_bits(value).or_else(|| self.other_bits(value))
    }

    /// [`bits`](Self::bits), and a string for a `char *` copied into `stash`.
    #[inline(always)]
    pub(crate) fn bits_stashing(&self, value: &Value, stash: &mut TextStash) -> Option<u64> {
        match (value, self.kind) {
            (Value::Str(text), LaneKind::Text | LaneKind::ConstText) => stash.put(text),
            _ => self.bits(value),
        }
    }

    /// A `char *`, const or not.
    pub(crate) fn is_text(&self) -> bool {
        matches!(self.kind, LaneKind::Text | LaneKind::ConstText)
    }

    /// [`bits`](Self::bits) past [`common_bits`](Self::common_bits).
    #[inline(never)]
    fn other_bits(&self, value: &Value) -> Option<u64> {
        match *value {
            // Checked and terminated when made, and C only reads it.
            Value::CString(ref text) if self.kind == LaneKind::ConstText => {
                Some(text.as_ptr() as u64)
            }
            Value::UInt(u) if self.kind == LaneKind::Integer && u <= self.umax => Some(u),
            Value::Null if self.kind == LaneKind::Address => Some(0),
            Value::Pointer(p) if self.is_text() && p != 0 => Some(p as u64),
            Value::Bool(b) if self.kind == LaneKind::Bool => Some(u64::from(b)),
            // As the general conversion does: integers are numbers too.
            Value::Int(i) if self.kind == LaneKind::Double => Some((i as f64).to_bits()),
            Value::Int(i) if self.kind == LaneKind::Float => {
                Some(u64::from((i as f64 as f32).to_bits()))
            }
            _ => None,
        }
    }
}

/// The common C signature: every argument a scalar or pointer, at most 16 of them, the
/// result a scalar or void. Such calls skip the general machinery: each argument is one
/// match into one word, and — when every argument fits in a register — the call itself is
/// inline assembly with the words already in the argument registers (no register file, no
/// trampoline), as LuaJIT's compiled calls do.
#[derive(Debug, Clone)]
pub(crate) struct ScalarLane {
    /// The first `len` are the arguments (inline: no pointer to follow per call).
    pub args: [LaneArg; LANE_WORDS],
    pub len: usize,
    pub result: QuickResult,
    /// The inline-assembly call can take it (x86-64 System V: every lane; arguments past the
    /// registers go in stack words it writes).
    pub inline_call: bool,
    /// Arguments passed on the stack.
    #[cfg_attr(not(fast_path), allow(dead_code))]
    pub stack_words: u8,
    /// SSE registers used (what `al` must hold for a variadic callee).
    pub sse_count: u8,
    /// False for the stand-in of a signature without a lane.
    pub usable: bool,
}

impl ScalarLane {
    /// The stand-in for a signature without a lane.
    pub(crate) const UNUSABLE: ScalarLane = ScalarLane {
        args: [LaneArg::UNUSED; LANE_WORDS],
        len: 0,
        result: QuickResult::General,
        inline_call: false,
        sse_count: 0,
        stack_words: 0,
        usable: false,
    };

    /// The lane for a signature (parameters already promoted), or None when some argument
    /// or the result needs more than a scalar conversion.
    pub(crate) fn new(params: &[&Shape], result: &Shape) -> Option<ScalarLane> {
        let result = QuickResult::for_shape(result);
        // libffi reads a lane's scalar from the low bytes of its word: little-endian only.
        if result == QuickResult::General
            || params.len() > LANE_WORDS
            || cfg!(target_endian = "big")
        {
            return None;
        }
        let mut args = [LaneArg::UNUSED; LANE_WORDS];
        let (mut gpr, mut sse, mut stack) = (0u8, 0u8, 0u8);
        for (arg, shape) in args.iter_mut().zip(params) {
            // The next register of a class, or — once its registers are taken — the next
            // stack word, in argument order as System V passes them.
            let mut next = |counter: &mut u8, first: u8, registers: u8| {
                *counter += 1;
                if *counter <= registers {
                    first + *counter - 1
                } else {
                    stack += 1;
                    REGISTER_SLOTS as u8 + stack - 1
                }
            };
            // A struct of scalars by value: its eightbytes in registers of their class when
            // both fit, else (or past 16 bytes) in stack words. Only the register route
            // takes them.
            if let Shape::Record { .. } = shape {
                let (size, _) = shape.size_align();
                if size == 0 || size > 64 || crate::convert::RecordPlan::for_shape(shape).is_none()
                {
                    return None;
                }
                let words = size.div_ceil(8) as u8;
                let classes = eightbyte_classes(shape);
                let (need_gpr, need_sse) = (
                    classes.iter().filter(|&&sse| !sse).count() as u8,
                    classes.iter().filter(|&&sse| sse).count() as u8,
                );
                *arg = if size <= 16 && gpr + need_gpr <= 6 && sse + need_sse <= 8 {
                    let mut slots = classes.iter().map(|&is_sse| {
                        if is_sse {
                            sse += 1;
                            FIRST_SSE_SLOT as u8 + sse - 1
                        } else {
                            gpr += 1;
                            gpr - 1
                        }
                    });
                    let slot = slots.next().unwrap_or(0);
                    let slot2 = slots.next().unwrap_or(0);
                    LaneArg {
                        kind: LaneKind::Record,
                        slot,
                        slot2,
                        words,
                        fingerprint: shape.fingerprint(),
                        ..LaneArg::UNUSED
                    }
                } else {
                    stack += words;
                    LaneArg {
                        kind: LaneKind::Record,
                        slot: REGISTER_SLOTS as u8 + stack - words,
                        slot2: u8::MAX,
                        words,
                        fingerprint: shape.fingerprint(),
                        ..LaneArg::UNUSED
                    }
                };
                if stack > 16 {
                    return None;
                }
                continue;
            }
            // `char *`: strings by a copy on the stack, addresses as they are.
            if let Shape::Pointer(pointee) = shape
                && pointee.is_char()
            {
                *arg = LaneArg {
                    kind: match pointee {
                        crate::shape::Pointee::ConstChar => LaneKind::ConstText,
                        _ => LaneKind::Text,
                    },
                    slot: next(&mut gpr, 0, 6),
                    ..LaneArg::UNUSED
                };
                continue;
            }
            *arg = match Quick::for_shape(shape) {
                Quick::Int { min, max } => LaneArg {
                    min,
                    max,
                    umax: max as u64,
                    kind: LaneKind::Integer,
                    slot: next(&mut gpr, 0, 6),
                    ..LaneArg::UNUSED
                },
                Quick::U64 => LaneArg {
                    min: 0,
                    max: i64::MAX,
                    umax: u64::MAX,
                    kind: LaneKind::Integer,
                    slot: next(&mut gpr, 0, 6),
                    ..LaneArg::UNUSED
                },
                Quick::Bool => LaneArg {
                    min: 0,
                    max: 1,
                    umax: 1,
                    kind: LaneKind::Bool,
                    slot: next(&mut gpr, 0, 6),
                    ..LaneArg::UNUSED
                },
                Quick::Address => LaneArg {
                    slot: next(&mut gpr, 0, 6),
                    ..LaneArg::UNUSED
                },
                Quick::Float => LaneArg {
                    kind: LaneKind::Float,
                    slot: next(&mut sse, FIRST_SSE_SLOT as u8, 8),
                    ..LaneArg::UNUSED
                },
                Quick::Double => LaneArg {
                    kind: LaneKind::Double,
                    slot: next(&mut sse, FIRST_SSE_SLOT as u8, 8),
                    ..LaneArg::UNUSED
                },
                Quick::General => return None,
            };
        }
        // The register call copies at most 16 stack words.
        if stack > 16 {
            return None;
        }
        Some(ScalarLane {
            args,
            len: params.len(),
            result,
            inline_call: cfg!(fast_path),
            sse_count: sse.min(8),
            stack_words: stack,
            usable: true,
        })
    }

    /// The arguments.
    pub(crate) fn args(&self) -> &[LaneArg] {
        &self.args[..self.len]
    }

    /// Whether some parameter is a struct by value (the register route only).
    pub(crate) fn has_records(&self) -> bool {
        self.args().iter().any(|arg| arg.kind == LaneKind::Record)
    }

    /// Whether some parameter is a `char *` (a string may need a copy).
    pub(crate) fn has_text(&self) -> bool {
        self.args().iter().any(LaneArg::is_text)
    }
}

impl Prepared {
    /// Every argument converted quickly into `words`, at its register slot (`by_slot`) or
    /// at its index; false when one needs the general conversion (which also explains
    /// errors).
    #[inline(always)]
    pub(super) fn lane_words<const W: usize>(
        &self,
        lane: &ScalarLane,
        args: &[Value],
        by_slot: bool,
        words: &mut [MaybeUninit<u64>; W],
        stash: &mut TextStash,
    ) -> bool {
        for (index, (arg, value)) in lane.args().iter().zip(args).enumerate() {
            let word = if by_slot {
                usize::from(arg.slot)
            } else {
                index
            };
            if arg.kind == LaneKind::Record {
                // Written by its plan into zeroed bytes (padding included), then word by
                // word into its registers or stack words.
                let Some(plan) = self.records.get(index).and_then(Option::as_ref) else {
                    return false;
                };
                let mut eightbytes = [0u64; 8];
                if !by_slot {
                    return false;
                }
                match value {
                    // A C object of the type: its bytes as they are.
                    Value::Data(data) if data.fingerprint() == arg.fingerprint => {
                        for (eightbyte, &word) in eightbytes.iter_mut().zip(data.eightbytes()) {
                            *eightbyte = word;
                        }
                    }
                    _ if !plan.write_words(value, &mut eightbytes) => return false,
                    _ => {}
                }
                for (k, &eightbyte) in eightbytes.iter().enumerate().take(usize::from(arg.words)) {
                    let slot = match (k, arg.slot2) {
                        (1, second) if second != u8::MAX => usize::from(second),
                        _ => word + k,
                    };
                    words[slot % W].write(eightbyte);
                }
                continue;
            }
            match arg.bits_stashing(value, stash) {
                Some(bits) => words[word % W].write(bits),
                None => return false,
            };
        }
        true
    }

    /// A [`ScalarLane`] through libffi: one word per argument, each converted by
    /// [`LaneArg::bits`](super::lanes::LaneArg::bits) (the general path when that cannot).
    pub(super) fn call_lane_libffi(&self, args: &[Value]) -> Result<Value, Error> {
        let Some(lane) = Some(&self.lane).filter(|lane| lane.usable && lane.len == args.len())
        else {
            return self.call_general(args);
        };
        let mut words = [const { MaybeUninit::uninit() }; LANE_WORDS];
        let mut stash = TextStash::new();
        if !self.lane_words(lane, args, false, &mut words, &mut stash) {
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

    /// A [`ScalarLane`] with structs by value through libffi: scalars each in their own
    /// word, a struct's members written by its plan into a block of its own, and a
    /// [`Value::Data`] of the struct's type read by libffi where it is (libffi only reads
    /// arguments). Anything else takes the general path, which converts or explains.
    pub(super) fn call_record_libffi<const RESULT: u8>(
        &self,
        args: &[Value],
    ) -> Result<Value, Error> {
        let Some(lane) = Some(&self.lane).filter(|lane| lane.usable && lane.len == args.len())
        else {
            return self.call_general(args);
        };
        let mut words = [const { MaybeUninit::<u64>::uninit() }; LANE_WORDS];
        let mut blocks = [const { MaybeUninit::<[u64; 8]>::uninit() }; LANE_WORDS];
        let mut pointers = [const { MaybeUninit::<*mut c_void>::uninit() }; LANE_WORDS];
        let mut stash = TextStash::new();
        let slots = words
            .iter_mut()
            .zip(blocks.iter_mut())
            .zip(pointers.iter_mut());
        for (index, (((word, block), pointer), (arg, value))) in
            slots.zip(lane.args().iter().zip(args)).enumerate()
        {
            if arg.kind != LaneKind::Record {
                match arg.bits_stashing(value, &mut stash) {
                    Some(bits) => pointer.write(word.write(bits) as *mut u64 as *mut c_void),
                    None => return self.call_general(args),
                };
                continue;
            }
            match value {
                Value::Data(data) if data.fingerprint() == arg.fingerprint => {
                    pointer.write(data.eightbytes().as_ptr().cast_mut().cast());
                }
                _ => {
                    let block = block.write([0; 8]);
                    let planned = self.records.get(index).and_then(Option::as_ref);
                    if !planned.is_some_and(|plan| plan.write_words(value, block)) {
                        return self.call_general(args);
                    }
                    pointer.write(block.as_mut_ptr().cast());
                }
            }
        }
        let mut result = [0u64; 2];
        // Errno is kept on the guarded route (chosen at binding): only a callback that could
        // fail needs the guard.
        let around = crate::callback::any_live().then(|| self.enter());
        // SAFETY: the interface was prepared from the declaration of the function at `code`
        // (which the binder vouched for); each scalar argument is converted for its
        // parameter into its own word (read from its low bytes, little-endian), each struct
        // is its type's bytes (a block of 64, or a C object of the type, which libffi only
        // reads); the 16-byte result buffer covers a scalar result widened to a register.
        unsafe {
            self.interface.call(
                self.code as *const c_void,
                pointers.as_mut_ptr().cast(),
                result.as_mut_ptr().cast(),
            )
        };
        if let Some(around) = around {
            self.leave(around, args)?;
        }
        // libffi leaves every scalar result in the one word.
        Ok(lane_result::<RESULT>(lane, result[0], result[0]))
    }

    /// A [`ScalarLane`] of `N` arguments through libffi, each converted into its own word
    /// (`RESULT` as for [`call_gprs`](Self::call_gprs)); anything but in-range integers,
    /// doubles and pointers, errno to keep or a callback that could fail take
    /// [`call_lane_libffi`](Self::call_lane_libffi).
    pub(super) fn call_libffi_words<const N: usize, const RESULT: u8>(
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
            let bits = lane_args[k].common_bits(&values[k]).or_else(|| {
                match (&values[k], lane_args[k].kind) {
                    // Checked and terminated when made, and C only reads it.
                    (Value::CString(text), LaneKind::ConstText) => Some(text.as_ptr() as u64),
                    _ => None,
                }
            });
            match bits {
                Some(bits) => words[k] = bits,
                None => return self.call_lane_libffi(args),
            }
        }
        // (Errno is kept on the guarded route, chosen at binding.)
        if crate::callback::any_live() {
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
}

/// For each eightbyte of a struct of scalar members: whether it is SSE class (only float
/// and double members in it) rather than INTEGER, as System V classifies it.
fn eightbyte_classes(shape: &Shape) -> Vec<bool> {
    let Shape::Record { members, .. } = shape else {
        return Vec::new();
    };
    let words = shape.size_align().0.div_ceil(8) as usize;
    (0..words)
        .map(|k| {
            let (start, end) = (8 * k as u64, 8 * k as u64 + 8);
            members
                .iter()
                .filter(|m| m.offset < end && m.offset + m.shape.size_align().0 > start)
                .all(|m| matches!(m.shape, Shape::Float | Shape::Double))
        })
        .collect()
}
