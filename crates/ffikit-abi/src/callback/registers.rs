//! Dynamic callbacks entered through pre-compiled register-file slots (x86-64 System V).
//!
//! libffi's closure entry classifies every argument on every call (most of a dynamic
//! callback's cost). A signature whose parameters are all scalars passed in registers — at
//! most 6 INTEGER-class (integers, pointers) and 8 SSE-class (`float`, `double`) — is
//! classified once, when the callback is made: which register each parameter arrives in and
//! how its bits read as a [`Value`]. Its code is then one of 64 ordinary `extern "C"`
//! functions that take all six integer and all eight SSE argument registers as parameters
//! (System V assigns each class's registers in argument order, so a function declared with
//! every register receives any such signature's arguments where the plan looks for them) and
//! return rax and xmm0 together. As with typed slots, no code is made at run time. Signatures
//! that do not fit (structs, strings, stack arguments, `long double`) keep libffi closures.

use std::mem::MaybeUninit;

use arrayvec::ArrayVec;

use super::DynamicState;
use crate::convert::QuickResult;
use crate::shape::{Shape, Typed};
use crate::value::Value;

/// rax and xmm0, returned together: System V returns a 16-byte struct of an INTEGER and an
/// SSE eightbyte in exactly those two registers, so one return type serves every scalar
/// result (a caller reads the one its result type is in).
#[repr(C)]
pub(super) struct Registers {
    rax: u64,
    xmm0: f64,
}

/// Where one parameter arrives, and how its bits read as a value.
#[derive(Debug, Clone, Copy)]
pub(super) struct RegisterArg {
    /// The register: 0-5 rdi..r9, 6-13 xmm0-xmm7.
    word: u8,
    reader: QuickResult,
}

/// Parameters a register-file slot can take (6 integer and 8 SSE registers).
pub(super) const MOST_ARGS: usize = 14;

/// The registers each parameter arrives in, or None when the signature does not fit a
/// register-file slot: a parameter that is not a scalar of at most 8 bytes, more than 6
/// integer or 8 SSE parameters (the rest would be on the stack), or a result that is not
/// returned in rax or xmm0.
pub(super) fn plan(params: &[Typed], result: &Typed) -> Option<ArrayVec<RegisterArg, MOST_ARGS>> {
    let in_register = |shape: &Shape| match shape {
        Shape::Int { size, .. } => *size <= 8,
        Shape::Bool | Shape::Float | Shape::Double | Shape::Pointer(_) => true,
        _ => false,
    };
    if !(matches!(result.shape, Shape::Void) || in_register(&result.shape)) {
        return None;
    }
    let mut plan = ArrayVec::new();
    let (mut gprs, mut sses) = (0u8, 0u8);
    for param in params {
        let reader = QuickResult::for_shape(&param.shape);
        if reader == QuickResult::General || !in_register(&param.shape) {
            return None;
        }
        let sse = matches!(param.shape, Shape::Float | Shape::Double);
        let counter = if sse { &mut sses } else { &mut gprs };
        let register = *counter;
        *counter += 1;
        if gprs > 6 || sses > 8 {
            return None;
        }
        let word = if sse { 6 + register } else { register };
        plan.try_push(RegisterArg { word, reader }).ok()?;
    }
    Some(plan)
}

impl DynamicState {
    /// A call through a register-file slot: the arguments read from the registers they
    /// arrived in (`words`: rdi..r9, then xmm0-xmm7), the body run, the result (or the
    /// error result) returned in rax and xmm0.
    #[inline(always)]
    fn enter_registers(&self, words: &[u64; MOST_ARGS]) -> Registers {
        // Made in place, never dropped: scalars own nothing.
        let mut values = [const { MaybeUninit::<Value>::uninit() }; MOST_ARGS];
        for (value, arg) in values.iter_mut().zip(&self.registers) {
            value.write(arg.reader.scalar(words[usize::from(arg.word) % MOST_ARGS]));
        }
        let count = self.registers.len();
        // SAFETY: the loop initialized the first `count` (the plan has one entry per
        // parameter, at most MOST_ARGS).
        let values = unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<Value>(), count) };
        let word = match self.run_for_word(values) {
            Ok(word) => word,
            Err(message) => {
                let mut out = [0u64; 2];
                // SAFETY: `out` holds 16 bytes, at least max(result size, 8).
                unsafe { self.shared.failed(message, out.as_mut_ptr().cast()) };
                out[0]
            }
        };
        // A floating result is in the low bits of the word, an integer one widened to 8
        // bytes: the same word serves the caller's rax and xmm0.
        Registers {
            rax: word,
            xmm0: f64::from_bits(word),
        }
    }
}

/// Slot function `I`: every argument register in, the callback of slot `I` run on them.
///
/// Reading a register the caller did not set gives an arbitrary (never invalid) `u64` or
/// `f64`, which the plan ignores.
#[allow(clippy::too_many_arguments)]
extern "C" fn slot<const I: usize>(
    rdi: u64,
    rsi: u64,
    rdx: u64,
    rcx: u64,
    r8: u64,
    r9: u64,
    xmm0: f64,
    xmm1: f64,
    xmm2: f64,
    xmm3: f64,
    xmm4: f64,
    xmm5: f64,
    xmm6: f64,
    xmm7: f64,
) -> Registers {
    // A callback dropped during the invocation is freed when it returns.
    let _running = crate::callback::Running::enter();
    let data = crate::slots::data(I);
    // SAFETY: slot I was pointed at this callback's boxed `DynamicState` when it was claimed
    // for this function, and is cleared only when the callback drops, after which C may no
    // longer call it (the caller's promise when it passed the pointer).
    let state = unsafe { &*data.cast::<DynamicState>() };
    state.enter_registers(&[
        rdi,
        rsi,
        rdx,
        rcx,
        r8,
        r9,
        xmm0.to_bits(),
        xmm1.to_bits(),
        xmm2.to_bits(),
        xmm3.to_bits(),
        xmm4.to_bits(),
        xmm5.to_bits(),
        xmm6.to_bits(),
        xmm7.to_bits(),
    ])
}

/// The 64 slot functions, by slot index.
pub(super) fn slot_functions() -> [usize; crate::slots::SLOT_COUNT] {
    crate::slots::slot_table!(slot,)
}
