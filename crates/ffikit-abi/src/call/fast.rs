//! The fast call path on x86-64 System V: a signature is classified once, when it is bound
//! (which register or stack word each argument goes to, where the result comes back), and
//! each call fills a register file that one small assembly routine loads before calling —
//! LuaJIT's call-state idea. Scalars, pointers and structs libffi would pass in registers or
//! on the stack are covered; everything else (`long double`, over-aligned structs, ...) goes
//! through libffi, which stays the reference the differential tests compare against.
//! All-scalar signatures take the lighter lanes instead (`lanes`, `registers`).
//!
//! At ~650 lines this is over the ~600 a file keeps to: it is one ABI's whole path — the
//! eightbyte classification, the register file and its assembly routine, the argument
//! staging and the result reading — which only make sense together, and which no other
//! target compiles.

use std::mem::MaybeUninit;

use crate::convert::{
    self, Place, Quick, QuickResult, RecordPlan, Scratch, WriteOptions, bytes_of,
};
use crate::error::Error;
use crate::shape::{Pointee, Shape, Typed};
use crate::value::Value;

use super::Prepared;
use super::lanes::{FIRST_SSE_SLOT, REGISTER_SLOTS};

/// What the assembly routine loads and stores. Field offsets are fixed by the routine.
#[repr(C)]
struct RegisterFile {
    /// rdi, rsi, rdx, rcx, r8, r9, then xmm0-xmm7: slots 0-13 of a plan. Registers no
    /// argument uses are loaded uninitialized: the callee does not read them.
    registers: [MaybeUninit<u64>; REGISTER_SLOTS],
    stack: *const u64,
    stack_words: u64,
    function: usize,
    sse_count: u64,
    rax: u64,
    rdx: u64,
    xmm0: u64,
    xmm1: u64,
}

/// Stack words kept inline (beyond, on the heap).
const INLINE_STACK_WORDS: usize = 16;

const _: () = {
    assert!(std::mem::offset_of!(RegisterFile, stack) == 112);
    assert!(std::mem::offset_of!(RegisterFile, stack_words) == 120);
    assert!(std::mem::offset_of!(RegisterFile, function) == 128);
    assert!(std::mem::offset_of!(RegisterFile, sse_count) == 136);
    assert!(std::mem::offset_of!(RegisterFile, rax) == 144);
    assert!(std::mem::offset_of!(RegisterFile, xmm1) == 168);
};

// Loads the argument registers and stack words from a RegisterFile, calls its function, and
// stores the result registers back. The SSE registers are loaded only when the call uses one
// (the count is also what al must hold for a variadic callee), the stack words only when
// there are some. rbx (callee-saved) keeps the file across the call; the
// stack stays 16-byte aligned at the call.
std::arch::global_asm!(
    ".globl ffikit_fast_call",
    ".hidden ffikit_fast_call",
    ".type ffikit_fast_call,@function",
    "ffikit_fast_call:",
    "push rbp",
    "mov rbp, rsp",
    "push rbx",
    "push r12",
    "mov rbx, rdi",
    "mov rcx, [rbx + 120]",
    "lea rax, [rcx*8 + 15]",
    "and rax, -16",
    "sub rsp, rax",
    "mov rsi, [rbx + 112]",
    "xor edx, edx",
    "test rcx, rcx",
    "jz 3f",
    "2:",
    "cmp rdx, rcx",
    "jae 3f",
    "mov rax, [rsi + rdx*8]",
    "mov [rsp + rdx*8], rax",
    "inc rdx",
    "jmp 2b",
    "3:",
    "cmp qword ptr [rbx + 136], 0",
    "je 4f",
    "movq xmm0, [rbx + 48]",
    "movq xmm1, [rbx + 56]",
    "movq xmm2, [rbx + 64]",
    "movq xmm3, [rbx + 72]",
    "movq xmm4, [rbx + 80]",
    "movq xmm5, [rbx + 88]",
    "movq xmm6, [rbx + 96]",
    "movq xmm7, [rbx + 104]",
    "4:",
    "mov rdi, [rbx + 0]",
    "mov rsi, [rbx + 8]",
    "mov rdx, [rbx + 16]",
    "mov rcx, [rbx + 24]",
    "mov r8, [rbx + 32]",
    "mov r9, [rbx + 40]",
    "mov r11, [rbx + 128]",
    "mov rax, [rbx + 136]",
    "call r11",
    "mov [rbx + 144], rax",
    "mov [rbx + 152], rdx",
    "movq [rbx + 160], xmm0",
    "movq [rbx + 168], xmm1",
    "lea rsp, [rbp - 16]",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
    ".size ffikit_fast_call, .-ffikit_fast_call",
);

unsafe extern "C" {
    /// # Safety
    ///
    /// `file.function` must take exactly the arguments the file's registers and stack words
    /// hold, as the System V ABI passes them; `file.stack` must point to `stack_words` words.
    fn ffikit_fast_call(file: *mut RegisterFile);
}

/// Where one eightbyte goes or comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Location {
    Gpr(u8),
    Sse(u8),
    Stack(u16),
}

impl Location {
    /// The flat slot: a register of the file, or a stack word after them.
    fn slot(self) -> u16 {
        match self {
            Location::Gpr(r) => u16::from(r),
            Location::Sse(r) => FIRST_SSE_SLOT + u16::from(r),
            Location::Stack(w) => REGISTER_SLOTS as u16 + w,
        }
    }
}

/// How one argument is passed.
#[derive(Debug, Clone)]
enum ArgPlan {
    /// A scalar or pointer in one slot, converted by `quick` when it can.
    Scalar { quick: Quick, slot: u16 },
    /// A struct or complex value: its bytes, eightbyte by eightbyte, in these slots.
    Eightbytes(Vec<u16>),
}

/// How the result comes back.
#[derive(Debug, Clone)]
enum ResultPlan {
    Void,
    /// A scalar in rax (integers, bool, pointers), converted straight from the register.
    Rax(QuickResult),
    /// A float or double in xmm0.
    Xmm0(QuickResult),
    /// In these registers, eightbyte by eightbyte (rax/rdx for INTEGER, xmm0/xmm1 for SSE).
    Registers(Vec<Location>),
    /// In memory the caller provides (its address passed in rdi, returned in rax), this
    /// many words.
    Memory(usize),
}

/// A signature classified for the fast path.
#[derive(Debug, Clone)]
pub(crate) struct FastPlan {
    args: Vec<ArgPlan>,
    result: ResultPlan,
    /// Words of a result returned in memory (0 for one in registers).
    memory_words: usize,
    stack_words: usize,
    sse_count: u64,
    /// Buffers past the small ones (structs by value or results over 64 bytes): the call
    /// takes the out-of-line instance with 4 KiB ones.
    large: bool,
}

/// The small instance's buffers: stack words, result-in-memory words, a struct's words.
const SMALL: (usize, usize, usize) = (INLINE_STACK_WORDS, 8, 8);
/// The large instance's: structs of up to 4 KiB by value and as results, no allocation.
const LARGE_STACK_WORDS: usize = super::MAX_INLINE_STRUCT / 8 + 16 * 8;
const LARGE_WORDS: usize = super::MAX_INLINE_STRUCT / 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Integer,
    Sse,
}

/// The classes of a value's eightbytes, or None when the fast path does not handle it.
fn eightbyte_classes(shape: &Shape) -> Option<Vec<Class>> {
    match shape {
        Shape::Bool | Shape::Int { .. } | Shape::Pointer(_) => Some(vec![Class::Integer]),
        Shape::Float | Shape::Double => Some(vec![Class::Sse]),
        Shape::Complex { part: 4 } => Some(vec![Class::Sse]),
        Shape::Complex { part: 8 } => Some(vec![Class::Sse, Class::Sse]),
        Shape::Record {
            size,
            align,
            members,
            not_by_value: None,
            ..
        } if *size <= 16 && *align <= 8 && *size > 0 => {
            let mut classes: Vec<Option<Class>> = vec![None; size.div_ceil(8) as usize];
            for member in members {
                mark(&member.shape, member.offset, &mut classes)?;
            }
            // Padding-only eightbytes cannot occur in a natural layout of 16 bytes or less,
            // but be safe: treat them as INTEGER, as gcc does for the merged class NO_CLASS.
            Some(
                classes
                    .into_iter()
                    .map(|c| c.unwrap_or(Class::Integer))
                    .collect(),
            )
        }
        _ => None,
    }
}

fn mark(shape: &Shape, offset: u64, classes: &mut [Option<Class>]) -> Option<()> {
    match shape {
        Shape::Record { members, .. } => {
            for member in members {
                mark(&member.shape, offset + member.offset, classes)?;
            }
        }
        Shape::Array { element, len } => {
            let (size, _) = element.size_align();
            for k in 0..*len {
                mark(element, offset + k * size, classes)?;
            }
        }
        Shape::Float | Shape::Double => {
            let slot = &mut classes[(offset / 8) as usize];
            if *slot != Some(Class::Integer) {
                *slot = Some(Class::Sse);
            }
        }
        Shape::Complex { part: 4 } => mark_sse(offset, classes),
        Shape::Complex { part: 8 } => {
            mark_sse(offset, classes);
            mark_sse(offset + 8, classes);
        }
        Shape::Bool | Shape::Int { .. } | Shape::Pointer(_) => {
            classes[(offset / 8) as usize] = Some(Class::Integer);
        }
        _ => return None,
    }
    Some(())
}

fn mark_sse(offset: u64, classes: &mut [Option<Class>]) {
    let slot = &mut classes[(offset / 8) as usize];
    if *slot != Some(Class::Integer) {
        *slot = Some(Class::Sse);
    }
}

impl FastPlan {
    /// Classifies a signature (parameters already promoted for variadic ones), or None when
    /// some part of it needs libffi.
    pub(crate) fn new(params: &[&Shape], result: &Shape) -> Option<FastPlan> {
        if !cfg!(fast_path) {
            return None;
        }
        let (mut gpr, mut sse, mut stack) = (0u8, 0u8, 0u16);
        let result_plan = match result {
            Shape::Void => ResultPlan::Void,
            Shape::Record {
                size,
                align,
                not_by_value: None,
                ..
            } if *size > 16 && *align <= 8 => {
                gpr = 1; // the hidden pointer to the result takes rdi
                ResultPlan::Memory(size.div_ceil(8) as usize)
            }
            other => {
                let classes = eightbyte_classes(other)?;
                // Results come back in rax, rdx and xmm0, xmm1, counted on their own.
                match QuickResult::for_shape(other) {
                    QuickResult::General => ResultPlan::Registers(assign(&classes, &mut 0, &mut 0)),
                    quick @ (QuickResult::Float | QuickResult::Double) => ResultPlan::Xmm0(quick),
                    quick => ResultPlan::Rax(quick),
                }
            }
        };
        let mut args = Vec::with_capacity(params.len());
        for shape in params {
            let stack_words = |shape: &Shape| shape.size_align().0.div_ceil(8) as u16;
            let plan = match eightbyte_classes(shape) {
                Some(classes) => {
                    let ints = classes.iter().filter(|c| **c == Class::Integer).count() as u8;
                    let sses = classes.len() as u8 - ints;
                    let locations = if gpr + ints <= 6 && sse + sses <= 8 {
                        assign(&classes, &mut gpr, &mut sse)
                    } else {
                        // Not enough registers left: the whole value goes on the stack.
                        let words = stack_words(shape);
                        let start = stack;
                        stack += words;
                        (start..start + words).map(Location::Stack).collect()
                    };
                    if matches!(shape, Shape::Record { .. } | Shape::Complex { .. }) {
                        ArgPlan::Eightbytes(locations.iter().map(|l| l.slot()).collect())
                    } else {
                        ArgPlan::Scalar {
                            quick: Quick::for_shape(shape),
                            slot: locations[0].slot(),
                        }
                    }
                }
                None => match shape {
                    // Larger structs go on the stack, copied word by word.
                    Shape::Record {
                        size,
                        align,
                        not_by_value: None,
                        ..
                    } if *size > 16 && *align <= 8 => {
                        let words = stack_words(shape);
                        let start = stack;
                        stack += words;
                        ArgPlan::Eightbytes(
                            (start..start + words)
                                .map(|w| Location::Stack(w).slot())
                                .collect(),
                        )
                    }
                    _ => return None,
                },
            };
            args.push(plan);
        }
        let memory_words = match result_plan {
            ResultPlan::Memory(words) => words,
            _ => 0,
        };
        let staged_words = args.iter().map(|plan| match plan {
            ArgPlan::Eightbytes(slots) => slots.len(),
            ArgPlan::Scalar { .. } => 0,
        });
        let large = usize::from(stack) > SMALL.0
            || memory_words > SMALL.1
            || staged_words.max().unwrap_or(0) > SMALL.2;
        Some(FastPlan {
            args,
            memory_words,
            result: result_plan,
            stack_words: usize::from(stack),
            sse_count: u64::from(sse),
            large,
        })
    }

    /// Calls `function` with `args` (already arity-checked), converting each as its
    /// parameter type; `after` runs right after the foreign call (errno, callback failures)
    /// and may turn the call into an error before the result is read.
    ///
    /// # Safety
    ///
    /// `function` must have the signature this plan was made from.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(crate) unsafe fn call<'a, const STACK: usize, const MEMORY: usize, const STAGED: usize>(
        &self,
        function: usize,
        param: impl Fn(usize) -> &'a Typed,
        result: &Typed,
        args: &[Value],
        place: impl Fn(usize) -> Place<'a>,
        nullable: impl Fn(usize) -> bool,
        record: impl Fn(usize) -> Option<&'a RecordPlan>,
        scratch: &mut Scratch,
        after: impl FnOnce() -> Result<(), Error>,
    ) -> Result<Value, Error> {
        let mut file = RegisterFile {
            registers: [const { MaybeUninit::uninit() }; REGISTER_SLOTS],
            stack: std::ptr::null(),
            stack_words: self.stack_words as u64,
            function,
            sse_count: self.sse_count,
            rax: 0,
            rdx: 0,
            xmm0: 0,
            xmm1: 0,
        };
        // Every stack word is written by the argument it belongs to before the call, so the
        // buffer is not zeroed.
        let mut inline_stack = [const { MaybeUninit::<u64>::uninit() }; STACK];
        let mut heap_stack;
        let stack: &mut [MaybeUninit<u64>] = if self.stack_words <= STACK {
            &mut inline_stack[..self.stack_words]
        } else {
            heap_stack = vec![MaybeUninit::uninit(); self.stack_words];
            &mut heap_stack
        };
        // A result returned in memory: a zeroed buffer, its address in rdi.
        let mut inline_memory = [const { MaybeUninit::<u64>::uninit() }; MEMORY];
        let mut heap_memory: Vec<u64>;
        let memory: &mut [u64] = if self.memory_words == 0 {
            &mut []
        } else {
            let memory: &mut [u64] = if self.memory_words <= MEMORY {
                let words = &mut inline_memory[..self.memory_words];
                for word in words.iter_mut() {
                    word.write(0);
                }
                // SAFETY: every word was just initialized.
                unsafe {
                    std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u64>(), words.len())
                }
            } else {
                heap_memory = vec![0; self.memory_words];
                &mut heap_memory
            };
            file.registers[0].write(memory.as_mut_ptr() as u64);
            memory
        };

        for (index, (plan, value)) in self.args.iter().zip(args).enumerate() {
            match plan {
                ArgPlan::Scalar { quick, slot } => {
                    let bits = match quick.bits(value) {
                        Some(bits) => bits,
                        None => {
                            let typed = param(index);
                            scalar_bits(
                                &typed.shape,
                                &typed.c_name,
                                value,
                                index,
                                &place,
                                &nullable,
                                scratch,
                            )?
                        }
                    };
                    store(&mut file.registers, stack, *slot, bits);
                }
                ArgPlan::Eightbytes(slots) => {
                    let typed = param(index);
                    let options = WriteOptions {
                        nullable_string: nullable(index),
                    };
                    let mut staged = [const { MaybeUninit::<u64>::uninit() }; STAGED];
                    let mut heap;
                    let words: &mut [u64] = if slots.len() <= STAGED {
                        let words = &mut staged[..slots.len()];
                        for word in words.iter_mut() {
                            word.write(0);
                        }
                        // SAFETY: every word was just initialized.
                        unsafe {
                            std::slice::from_raw_parts_mut(
                                words.as_mut_ptr().cast::<u64>(),
                                words.len(),
                            )
                        }
                    } else {
                        heap = vec![0u64; slots.len()];
                        &mut heap
                    };
                    // A planned struct given in order is written member by member; any other
                    // value takes the general conversion.
                    if !record(index).is_some_and(|plan| plan.write(value, bytes_of(words))) {
                        stage_eightbytes(typed, value, &place(index), scratch, options, words)?;
                    }
                    for (word, slot) in words.iter().zip(slots) {
                        store(&mut file.registers, stack, *slot, *word);
                    }
                }
            }
        }
        file.stack = stack.as_ptr().cast();
        // SAFETY: the plan was made from the function's declared signature, every argument
        // was checked and placed where the System V ABI expects it (every stack word
        // written), the stack words and the memory result buffer live until after the call,
        // and the caller guarantees `function`.
        unsafe { ffikit_fast_call(&mut file) };

        after()?;
        Ok(match &self.result {
            ResultPlan::Rax(quick) => quick.scalar(file.rax),
            ResultPlan::Xmm0(quick) => quick.scalar(file.xmm0),
            ResultPlan::Void => Value::Void,
            ResultPlan::Memory(_) => read_memory(&result.shape, memory),
            ResultPlan::Registers(locations) => read_registers(&result.shape, locations, &file),
        })
    }
}

/// A struct returned in memory, from the words the callee wrote.
#[inline(never)]
fn read_memory(shape: &Shape, words: &mut [u64]) -> Value {
    let size = shape.size_align().0 as usize;
    convert::read(shape, &bytes_of(words)[..size])
}

/// A struct or complex argument converted into its eightbytes (`words`, zeroed, covers it).
#[inline(never)]
fn stage_eightbytes(
    typed: &Typed,
    value: &Value,
    place: &Place<'_>,
    scratch: &mut Scratch,
    options: WriteOptions,
    words: &mut [u64],
) -> Result<(), Error> {
    let size = typed.shape.size_align().0 as usize;
    let bytes = &mut bytes_of(words)[..size];
    convert::write(
        &typed.shape,
        &typed.c_name,
        value,
        bytes,
        place,
        scratch,
        options,
    )
}

/// A result other than a plain scalar, from rax/rdx and xmm0/xmm1 in its eightbytes' order.
#[inline(never)]
fn read_registers(shape: &Shape, locations: &[Location], file: &RegisterFile) -> Value {
    let mut bytes = [0u8; 16];
    let (mut ints, mut sses) = (0, 0);
    for (k, location) in locations.iter().enumerate() {
        let word = match location {
            Location::Gpr(_) => {
                ints += 1;
                if ints == 1 { file.rax } else { file.rdx }
            }
            _ => {
                sses += 1;
                if sses == 1 { file.xmm0 } else { file.xmm1 }
            }
        };
        bytes[8 * k..8 * k + 8].copy_from_slice(&word.to_ne_bytes());
    }
    read_result(shape, &bytes)
}

/// The next registers for these eightbyte classes: INTEGER ones from `gpr`, SSE ones from
/// `sse`, both counters advanced.
fn assign(classes: &[Class], gpr: &mut u8, sse: &mut u8) -> Vec<Location> {
    classes
        .iter()
        .map(|class| {
            let (counter, location): (&mut u8, fn(u8) -> Location) = match class {
                Class::Integer => (gpr, Location::Gpr),
                Class::Sse => (sse, Location::Sse),
            };
            *counter += 1;
            location(*counter - 1)
        })
        .collect()
}

#[inline(always)]
fn store(
    registers: &mut [MaybeUninit<u64>; REGISTER_SLOTS],
    stack: &mut [MaybeUninit<u64>],
    slot: u16,
    bits: u64,
) {
    match registers.get_mut(usize::from(slot)) {
        Some(register) => {
            register.write(bits);
        }
        None => {
            stack[usize::from(slot) - REGISTER_SLOTS].write(bits);
        }
    }
}

/// A scalar argument's register bits: integers sign- or zero-extended to 64 bits (callers
/// extend, as gcc and clang expect), floats in the low bits. Out of line: the common cases
/// were taken by [`Quick::bits`]; this one converts the rest and explains errors.
#[cold]
#[inline(never)]
fn scalar_bits<'a>(
    shape: &Shape,
    c_name: &str,
    value: &Value,
    index: usize,
    place: &impl Fn(usize) -> Place<'a>,
    nullable: &impl Fn(usize) -> bool,
    scratch: &mut Scratch,
) -> Result<u64, Error> {
    match (shape, value) {
        (Shape::Int { size, signed }, Value::Int(_) | Value::UInt(_) | Value::Bool(_)) => {
            let v = value.as_i128().expect("an integer");
            let (min, max) = convert::int_range(*size, *signed);
            if v < min || v > max {
                return Err(Error::OutOfRange {
                    place: place(index).to_string(),
                    value: v.to_string(),
                    ty: c_name.to_owned(),
                    min: min.to_string(),
                    max: max.to_string(),
                });
            }
            Ok(v as i64 as u64)
        }
        (Shape::Double, Value::Float(f)) => Ok(f.to_bits()),
        (Shape::Pointer(Pointee::Void | Pointee::Other | Pointee::Function), Value::Pointer(p)) => {
            Ok(*p as u64)
        }
        _ => {
            // Everything else through the general conversion (strings, bytes, bools, ...).
            let mut bytes = [0u8; 8];
            let size = shape.size_align().0 as usize;
            let options = WriteOptions {
                nullable_string: nullable(index),
            };
            convert::write(
                shape,
                c_name,
                value,
                &mut bytes[..size],
                &place(index),
                scratch,
                options,
            )?;
            Ok(match shape {
                Shape::Int { signed: true, .. } => match convert::read(shape, &bytes) {
                    Value::Int(i) => i as u64,
                    _ => unreachable!("a signed integer reads back as one"),
                },
                _ => u64::from_ne_bytes(bytes),
            })
        }
    }
}

fn read_result(shape: &Shape, bytes: &[u8]) -> Value {
    convert::read_result(shape, bytes)
}

impl Prepared {
    /// The fast path: registers filled directly, no libffi; structs or results over 64
    /// bytes through the out-of-line instance with 4 KiB buffers.
    #[inline(always)]
    pub(super) fn call_fast(&self, fast: &FastPlan, args: &[Value]) -> Result<Value, Error> {
        match fast.large {
            false => self.call_fast_in::<{ SMALL.0 }, { SMALL.1 }, { SMALL.2 }>(fast, args),
            true => self.call_fast_large(fast, args),
        }
    }

    /// The fast path with stack buffers for structs of up to 4 KiB, out of line so that
    /// smaller calls do not probe the stack for them.
    #[inline(never)]
    fn call_fast_large(&self, fast: &FastPlan, args: &[Value]) -> Result<Value, Error> {
        self.call_fast_in::<LARGE_STACK_WORDS, LARGE_WORDS, LARGE_WORDS>(fast, args)
    }

    #[inline(always)]
    fn call_fast_in<const STACK: usize, const MEMORY: usize, const STAGED: usize>(
        &self,
        fast: &FastPlan,
        args: &[Value],
    ) -> Result<Value, Error> {
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
            fast.call::<STACK, MEMORY, STAGED>(
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
}
