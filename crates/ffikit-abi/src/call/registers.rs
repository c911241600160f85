//! The x86-64 System V scalar lanes called by inline assembly: the words go straight into
//! rdi..r9 and xmm0-xmm7 (and stack words past them), no register file, no trampoline — as
//! LuaJIT's compiled calls do. Compiled only with `fast_path` (the `fast-path` feature on
//! x86-64 Linux).

use std::mem::MaybeUninit;

use super::Prepared;
use super::lanes::{LaneArg, LaneKind, ScalarLane, lane_result};
use crate::convert::{PlacedMember, RecordPlan, same_name};
use crate::error::Error;
use crate::value::Value;

/// The tail of both [`call_in_registers`] routines: the argument registers loaded from
/// `{words}` (xmm0-xmm7 only when `al` > 0), then the call of `{function}`.
macro_rules! load_registers_and_call {
    () => {
        concat!(
            "test al, al\n",
            "jz 5f\n",
            "movq xmm0, [{words} + 48]\n",
            "movq xmm1, [{words} + 56]\n",
            "movq xmm2, [{words} + 64]\n",
            "movq xmm3, [{words} + 72]\n",
            "movq xmm4, [{words} + 80]\n",
            "movq xmm5, [{words} + 88]\n",
            "movq xmm6, [{words} + 96]\n",
            "movq xmm7, [{words} + 104]\n",
            "5:\n",
            "mov rdi, [{words}]\n",
            "mov rsi, [{words} + 8]\n",
            "mov rdx, [{words} + 16]\n",
            "mov rcx, [{words} + 24]\n",
            "mov r8, [{words} + 32]\n",
            "mov r9, [{words} + 40]\n",
            "call {function}",
        )
    };
}

/// Calls `function` with `words` in the argument registers (slots 0-5 in rdi, rsi, rdx,
/// rcx, r8, r9; slots 6-13 in xmm0-xmm7, loaded only when `sse_count` > 0), `stack_words`
/// words from slot 14 on the stack, and `al` = `sse_count`; returns rax and xmm0's low 64
/// bits.
///
/// # Safety
///
/// `function` must be a System V function taking exactly the arguments these registers and
/// stack words hold (a [`ScalarLane`](super::lanes::ScalarLane) made from its declaration, the slot of each argument
/// written with its converted bits; register slots no argument uses are copied into their
/// registers as they are, and the callee does not read them), returning at most a scalar.
#[inline(always)]
pub(crate) unsafe fn call_in_registers(
    function: usize,
    words: &[MaybeUninit<u64>; SLOT_WORDS],
    sse_count: u8,
    stack_words: u8,
) -> (u64, u64) {
    let rax: u64;
    let xmm0: f64;
    if stack_words == 0 {
        // SAFETY: as below, without stack words (nor the register keeping the stack pointer).
        unsafe {
            std::arch::asm!(
                load_registers_and_call!(),
                words = in(reg) words.as_ptr(),
                function = in(reg) function,
                out("rdi") _,
                out("rsi") _,
                out("rdx") _,
                out("rcx") _,
                out("r8") _,
                out("r9") _,
                inout("rax") u64::from(sse_count) => rax,
                lateout("xmm0") xmm0,
                clobber_abi("C"),
            );
        }
        return (rax, xmm0.to_bits());
    }
    // SAFETY: the caller vouches for the function and its arguments, and `stack_words` is
    // at most 16, so the copy (in pairs, up to words 14..30) reads inside `words`; xmm0 is
    // free until the argument registers are loaded. The argument registers are early
    // outputs, so neither input is allocated to one of them, and the copy loop may use rdi
    // and rsi before they are loaded. Rust aligns the stack for a call at the start of an asm
    // block without `nostack`; the stack words take a multiple of 16 bytes below it, and r12
    // (callee-saved, declared clobbered) restores it. `clobber_abi("C")` names every other
    // register the callee may change.
    unsafe {
        std::arch::asm!(
            "mov r12, rsp",
            "test rcx, rcx",
            "jz 3f",
            "lea rdi, [rcx*8 + 15]",
            "and rdi, -16",
            "sub rsp, rdi",
            "xor edi, edi",
            // Two words at a time (the area is rounded up to 16 bytes; a word past the
            // last is copied into that padding from inside `words`).
            "2:",
            "movups xmm0, [{words} + rdi*8 + 112]",
            "movups [rsp + rdi*8], xmm0",
            "add rdi, 2",
            "cmp rdi, rcx",
            "jb 2b",
            "3:",
            load_registers_and_call!(),
            "mov rsp, r12",
            words = in(reg) words.as_ptr(),
            function = in(reg) function,
            out("rdi") _,
            out("rsi") _,
            out("rdx") _,
            inout("rcx") u64::from(stack_words.min(16)) => _,
            out("r8") _,
            out("r9") _,
            out("r12") _,
            inout("rax") u64::from(sse_count) => rax,
            lateout("xmm0") xmm0,
            clobber_abi("C"),
        );
    }
    (rax, xmm0.to_bits())
}

/// Calls `function` with the first `N` of `words` in rdi, rsi, rdx, rcx, r8, r9 and `al` =
/// 0 (no SSE registers); returns rax and xmm0's low 64 bits. Monomorphized per argument
/// count, so the compiler keeps the words in registers and loads only those the function
/// takes.
///
/// # Safety
///
/// `function` must be a System V function taking exactly `N` INTEGER-class arguments (a
/// [`ScalarLane`](super::lanes::ScalarLane) without SSE arguments made from its declaration, each word converted for
/// its parameter), returning at most a scalar.
#[inline(always)]
pub(crate) unsafe fn call_gprs<const N: usize>(function: usize, words: &[u64; 6]) -> (u64, u64) {
    macro_rules! call {
        ($($register:tt = $word:expr),*) => {{
            let rax: u64;
            let xmm0: f64;
            // SAFETY: the caller vouches for the function and its arguments. Rust aligns
            // the stack for a call at the start of an asm block without `nostack`, and
            // keeps nothing in the red zone; `clobber_abi("C")` names every register the
            // callee may change.
            unsafe {
                std::arch::asm!(
                    "call {function}",
                    function = in(reg) function,
                    $(in($register) $word,)*
                    inout("rax") 0u64 => rax,
                    lateout("xmm0") xmm0,
                    clobber_abi("C"),
                );
            }
            (rax, xmm0.to_bits())
        }};
    }
    match N {
        0 => call!(),
        1 => call!("rdi" = words[0]),
        2 => call!("rdi" = words[0], "rsi" = words[1]),
        3 => call!("rdi" = words[0], "rsi" = words[1], "rdx" = words[2]),
        4 => call!(
            "rdi" = words[0],
            "rsi" = words[1],
            "rdx" = words[2],
            "rcx" = words[3]
        ),
        5 => call!(
            "rdi" = words[0],
            "rsi" = words[1],
            "rdx" = words[2],
            "rcx" = words[3],
            "r8" = words[4]
        ),
        _ => call!(
            "rdi" = words[0],
            "rsi" = words[1],
            "rdx" = words[2],
            "rcx" = words[3],
            "r8" = words[4],
            "r9" = words[5]
        ),
    }
}

/// Words of the inline-assembly call: register slots 0-5 (rdi..r9), 6-13 (xmm0..xmm7), then
/// up to 16 stack words; a power of two, as above.
const SLOT_WORDS: usize = 32;

impl Prepared {
    /// A [`ScalarLane`](super::lanes::ScalarLane) of `N` INTEGER-class arguments: each converted straight into the
    /// register it goes to. `RESULT` is [`SIGNED_RESULT`](super::lanes::SIGNED_RESULT) or [`DOUBLE_RESULT`](super::lanes::DOUBLE_RESULT) for those
    /// results (read without a match), else [`OTHER_RESULT`](super::lanes::OTHER_RESULT).
    #[cfg(fast_path)]
    pub(super) fn call_gprs<const N: usize, const RESULT: u8>(
        &self,
        args: &[Value],
    ) -> Result<Value, Error> {
        self.gprs::<N, RESULT, false>(args)
    }

    /// [`call_gprs`](Self::call_gprs) for a lane with `char *` parameters: short strings
    /// copied, NUL-terminated, onto this function's stack (lanes without strings keep the
    /// plainer instance).
    #[cfg(fast_path)]
    pub(super) fn call_gprs_text<const N: usize, const RESULT: u8>(
        &self,
        args: &[Value],
    ) -> Result<Value, Error> {
        self.gprs::<N, RESULT, true>(args)
    }

    #[cfg(fast_path)]
    #[inline(always)]
    fn gprs<const N: usize, const RESULT: u8, const TEXT: bool>(
        &self,
        args: &[Value],
    ) -> Result<Value, Error> {
        // Chosen only for a usable lane of N INTEGER-class arguments.
        let lane = &self.lane;
        let Ok(values) = <&[Value; N]>::try_from(args) else {
            return self.call_general(args);
        };
        let Some(lane_args) = lane.args.first_chunk::<N>() else {
            return self.call_general(args);
        };
        let mut words = [0u64; 6];
        let mut stash = super::lanes::TextStash::new();
        for k in 0..N {
            let (arg, value) = (&lane_args[k], &values[k]);
            // Integers, pointers and short strings inline; anything else converted out of
            // line.
            words[k % 6] = if let Value::Int(i) = *value
                && arg.min <= i
                && i <= arg.max
            {
                i as u64
            } else if let Value::Pointer(p) = *value
                && (arg.kind == LaneKind::Address || TEXT && arg.is_text() && p != 0)
            {
                // An address (for a `char *`, a string C already holds: not NULL).
                p as u64
            } else if TEXT
                && let Value::CString(text) = value
                && arg.kind == LaneKind::ConstText
            {
                // Already NUL-terminated and checked, and C only reads it.
                text.as_ptr() as u64
            } else if TEXT
                && let Value::Str(text) = value
                && arg.is_text()
                && let Some(address) = stash.put(text)
            {
                address
            } else {
                return self.call_gprs_converting::<N>(args);
            };
        }
        // Errno is kept on the guarded route (chosen at binding), so only a callback that
        // could fail needs the guard: out of line, the common call keeps few registers.
        if crate::callback::any_live() {
            return self.gprs_guarded::<N, RESULT>(args, &words);
        }
        // Nothing to do around the call: no errno to keep, no callback that could fail.
        // SAFETY: the lane was made from the declaration of the function at `code` (which the
        // binder vouched for): N arguments, all INTEGER class, each converted for its
        // parameter; the strings' copies in `stash` live until after the call.
        let (rax, xmm0) = unsafe { call_gprs::<N>(self.code, &words) };
        Ok(lane_result::<RESULT>(lane, rax, xmm0))
    }

    /// [`gprs`](Self::gprs) while a callback is live: the same converted words, the call
    /// marked so that a callback's failure during it is reported by it. (The strings'
    /// copies, if any, were made in the caller's stash, which outlives this call.)
    #[cfg(fast_path)]
    #[inline(never)]
    fn gprs_guarded<const N: usize, const RESULT: u8>(
        &self,
        args: &[Value],
        words: &[u64; 6],
    ) -> Result<Value, Error> {
        let around = self.enter();
        // SAFETY: as in `gprs`: the words were converted for this lane's parameters.
        let (rax, xmm0) = unsafe { call_gprs::<N>(self.code, words) };
        self.leave(around, args)?;
        Ok(lane_result::<RESULT>(&self.lane, rax, xmm0))
    }

    /// [`call_gprs`](Self::call_gprs) for arguments other than in-range integers and
    /// pointers (each through [`LaneArg::bits`](super::lanes::LaneArg::bits), the general
    /// path when that cannot convert one), or with errno to keep or a callback that could
    /// fail. Out of line, so the common call keeps few registers.
    #[cfg(fast_path)]
    #[inline(never)]
    pub(super) fn call_gprs_converting<const N: usize>(
        &self,
        args: &[Value],
    ) -> Result<Value, Error> {
        let lane = &self.lane;
        let mut words = [0u64; 6];
        let mut stash = super::lanes::TextStash::new();
        for (word, (arg, value)) in words.iter_mut().zip(lane.args().iter().zip(args)) {
            match arg.bits_stashing(value, &mut stash) {
                Some(bits) => *word = bits,
                None => return self.call_general(args),
            }
        }
        let around = self.enter();
        // SAFETY: as in `call_gprs`: N INTEGER-class arguments, each converted for its
        // parameter.
        let (rax, xmm0) = unsafe { call_gprs::<N>(self.code, &words) };
        self.leave(around, args)?;
        Ok(lane.result.of_registers(rax, xmm0))
    }

    /// A [`ScalarLane`](super::lanes::ScalarLane) of `N` arguments in registers, SSE ones among them (`RESULT` as for
    /// [`call_gprs`](Self::call_gprs)); anything but the common arguments, errno to keep
    /// or a callback that could fail take [`call_lane_registers`](Self::call_lane_registers).
    #[cfg(fast_path)]
    pub(super) fn call_registers<const N: usize, const RESULT: u8>(
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
        // Errno is kept on the guarded route, chosen at binding.
        if crate::callback::any_live() {
            return self.call_lane_registers(args);
        }
        // SAFETY: the lane was made from the declaration of the function at `code` (which
        // the binder vouched for) and chose registers only because every argument fits in
        // one; each argument's slot holds its converted bits.
        let (rax, xmm0) =
            unsafe { call_in_registers(self.code, &words, lane.sse_count, lane.stack_words) };
        Ok(lane_result::<RESULT>(lane, rax, xmm0))
    }

    /// A [`ScalarLane`](super::lanes::ScalarLane) in registers: converted, then called by inline assembly.
    #[cfg(fast_path)]
    pub(super) fn call_lane_registers(&self, args: &[Value]) -> Result<Value, Error> {
        let Some(lane) = Some(&self.lane).filter(|lane| lane.usable && lane.len == args.len())
        else {
            return self.call_general(args);
        };
        let mut words = [const { MaybeUninit::uninit() }; SLOT_WORDS];
        let mut stash = super::lanes::TextStash::new();
        if !self.lane_words(lane, args, true, &mut words, &mut stash) {
            return self.call_general(args);
        }
        // Guarded only when there is something to do around the call: errno to keep, or a
        // callback that could fail.
        let around = (self.capture_errno || crate::callback::any_live()).then(|| self.enter());
        // SAFETY: the lane was made from the declaration of the function at `code` (which
        // the binder vouched for) and chose registers only because every argument fits in
        // one; each argument's slot holds its converted bits (strings in `stash`).
        let (rax, xmm0) =
            unsafe { call_in_registers(self.code, &words, lane.sse_count, lane.stack_words) };
        if let Some(around) = around {
            self.leave(around, args)?;
        }
        Ok(lane.result.of_registers(rax, xmm0))
    }
}

/// A lane with structs by value, their members placed at binding: each member's conversion,
/// mask, shift and register slot (or stack word), so a call writes each member straight into
/// its slot.
#[derive(Debug)]
pub(super) struct RecordLane {
    /// The scalar arguments: index and conversion.
    scalars: Box<[(usize, LaneArg)]>,
    records: Box<[PlacedRecord]>,
}

/// One struct argument: its index, the slots of its eightbytes, its members' range.
#[derive(Debug)]
struct PlacedRecord {
    index: usize,
    /// [`Shape::fingerprint`](crate::shape::Shape::fingerprint) of its type.
    fingerprint: u64,
    slots: [u8; 8],
    words: usize,
    members: Box<[PlacedMember]>,
}

impl RecordLane {
    /// The placement for a lane with structs, when every struct has a plan whose members
    /// each lie within one eightbyte.
    pub(super) fn new(lane: &ScalarLane, records: &[Option<RecordPlan>]) -> Option<RecordLane> {
        if !lane.usable || !lane.has_records() {
            return None;
        }
        let (mut scalars, mut placed) = (Vec::new(), Vec::new());
        for (index, arg) in lane.args().iter().enumerate() {
            if arg.kind != LaneKind::Record {
                scalars.push((index, *arg));
                continue;
            }
            let plan = records.get(index)?.as_ref()?;
            let slot_of = |word: usize| match (word, arg.slot2) {
                (1, second) if second != u8::MAX => second,
                _ => arg.slot + word as u8,
            };
            let members = plan.placed(slot_of)?.into();
            let words = usize::from(arg.words).min(8);
            let mut slots = [0u8; 8];
            for (word, slot) in slots.iter_mut().enumerate().take(words) {
                *slot = slot_of(word);
            }
            placed.push(PlacedRecord {
                index,
                fingerprint: arg.fingerprint,
                slots,
                words,
                members,
            });
        }
        Some(RecordLane {
            scalars: scalars.into(),
            records: placed.into(),
        })
    }
}

/// The words of a register call, as a record lane fills them: all six integer registers
/// (zeroed first), or every slot (written before it is read).
trait LaneWords {
    /// Zero for an eightbyte members are or-ed into (unless the words start zeroed).
    fn clear(&mut self, slot: u8);
    fn set(&mut self, slot: u8, bits: u64);
    /// Ors `bits` into a slot cleared or set before.
    fn or(&mut self, slot: u8, bits: u64);
}

/// The six integer registers, zeroed when made (eight words: a slot is masked, not divided).
impl LaneWords for [u64; 8] {
    #[inline(always)]
    fn clear(&mut self, _: u8) {}
    #[inline(always)]
    fn set(&mut self, slot: u8, bits: u64) {
        self[usize::from(slot) % 8] = bits;
    }
    #[inline(always)]
    fn or(&mut self, slot: u8, bits: u64) {
        self[usize::from(slot) % 8] |= bits;
    }
}

impl LaneWords for [MaybeUninit<u64>; SLOT_WORDS] {
    #[inline(always)]
    fn clear(&mut self, slot: u8) {
        self.set(slot, 0);
    }
    #[inline(always)]
    fn set(&mut self, slot: u8, bits: u64) {
        self[usize::from(slot) % SLOT_WORDS].write(bits);
    }
    #[inline(always)]
    fn or(&mut self, slot: u8, bits: u64) {
        let word = &mut self[usize::from(slot) % SLOT_WORDS];
        // SAFETY: `or` is only called on a slot `clear` or `set` wrote first (a struct's
        // eightbytes are cleared before its members are or-ed in).
        unsafe { *word.assume_init_mut() |= bits };
    }
}

/// Ors each member's bits into its slot; false at the first value a member's quick
/// conversion does not take.
#[inline(always)]
fn place_members<'v>(
    members: &[PlacedMember],
    values: impl Iterator<Item = &'v Value>,
    words: &mut impl LaneWords,
) -> bool {
    for (member, value) in members.iter().zip(values) {
        let Some(bits) = member.bits(value) else {
            return false;
        };
        words.or(member.slot, bits);
    }
    true
}

impl RecordLane {
    /// Every argument into `words`: scalars converted into their slots, each struct's
    /// members — given in order, by name or by position — into theirs, a C object of the
    /// struct's type as its eightbytes. False for anything else (the general lane call then
    /// converts it or explains).
    #[inline(always)]
    fn place(&self, args: &[Value], words: &mut impl LaneWords) -> bool {
        for (index, arg) in &self.scalars {
            match arg.common_bits(&args[*index]) {
                Some(bits) => words.set(arg.slot, bits),
                None => return false,
            };
        }
        for record in &self.records {
            let slots = &record.slots[..record.words];
            let members = &record.members[..];
            let placed = match &args[record.index] {
                // A C object of the type: its eightbytes as they are.
                Value::Data(data) if data.fingerprint() == record.fingerprint => {
                    for (&slot, &eightbyte) in slots.iter().zip(data.eightbytes()) {
                        words.set(slot, eightbyte);
                    }
                    true
                }
                // Its eightbytes cleared (padding included), then each member or-ed in.
                Value::Array(items) if items.len() == members.len() => {
                    slots.iter().for_each(|&slot| words.clear(slot));
                    place_members(members, items.iter(), words)
                }
                Value::Struct(given)
                    if given.len() == members.len()
                        && members
                            .iter()
                            .zip(given)
                            .all(|(m, (name, _))| same_name(name, &m.name)) =>
                {
                    slots.iter().for_each(|&slot| words.clear(slot));
                    place_members(members, given.iter().map(|(_, v)| v), words)
                }
                _ => false,
            };
            if !placed {
                return false;
            }
        }
        true
    }
}

impl Prepared {
    /// [`call_record_lane`](Self::call_record_lane) for a lane entirely in the six integer
    /// registers (no SSE argument, nothing on the stack): the words start zeroed, members
    /// and scalars are or-ed into them, and the call loads just those registers.
    #[cfg(fast_path)]
    pub(super) fn call_record_gprs<const RESULT: u8>(
        &self,
        args: &[Value],
    ) -> Result<Value, Error> {
        let lane = &self.lane;
        let Some(placement) = &self.record_lane else {
            return self.call_lane_registers(args);
        };
        let mut words = [0u64; 8];
        if args.len() != lane.len || !placement.place(args, &mut words) {
            return self.call_lane_registers(args);
        }
        let words = words.first_chunk::<6>().expect("six of eight");
        if crate::callback::any_live() {
            return self.record_gprs_guarded::<RESULT>(args, words);
        }
        // SAFETY: the lane was made from the declaration of the function at `code` (which
        // the binder vouched for): every argument, and every eightbyte of each struct, is
        // INTEGER class in one of the six registers, each word holding its converted bits
        // (zero where no argument or member is).
        let (rax, xmm0) = unsafe { call_gprs::<6>(self.code, words) };
        Ok(lane_result::<RESULT>(lane, rax, xmm0))
    }

    /// [`call_record_gprs`](Self::call_record_gprs) while a callback is live: the same
    /// placed words, the call marked so that a callback's failure during it is reported.
    #[cfg(fast_path)]
    #[inline(never)]
    fn record_gprs_guarded<const RESULT: u8>(
        &self,
        args: &[Value],
        words: &[u64; 6],
    ) -> Result<Value, Error> {
        let around = self.enter();
        // SAFETY: as in `call_record_gprs`: the words were placed for this lane.
        let (rax, xmm0) = unsafe { call_gprs::<6>(self.code, words) };
        self.leave(around, args)?;
        Ok(lane_result::<RESULT>(&self.lane, rax, xmm0))
    }

    /// A lane with structs by value (a [`RecordLane`]): every argument placed into its
    /// register or stack word ([`RecordLane::place`]), then called by inline assembly
    /// (`RESULT` as for [`call_gprs`](Self::call_gprs)). Anything else takes
    /// [`call_lane_registers`](Self::call_lane_registers), which converts or explains.
    #[cfg(fast_path)]
    pub(super) fn call_record_lane<const RESULT: u8>(
        &self,
        args: &[Value],
    ) -> Result<Value, Error> {
        let lane = &self.lane;
        let Some(placement) = &self.record_lane else {
            return self.call_lane_registers(args);
        };
        let mut words = [const { MaybeUninit::uninit() }; SLOT_WORDS];
        if args.len() != lane.len || !placement.place(args, &mut words) {
            return self.call_lane_registers(args);
        }
        // Marked as in a call only while a callback could fail during it.
        let around = crate::callback::any_live().then(|| self.enter());
        // SAFETY: the lane was made from the declaration of the function at `code` (which
        // the binder vouched for) and placed each argument, and each struct member, in the
        // register or stack word System V passes it in.
        let (rax, xmm0) =
            unsafe { call_in_registers(self.code, &words, lane.sse_count, lane.stack_words) };
        if let Some(around) = around {
            self.leave(around, args)?;
        }
        Ok(lane_result::<RESULT>(lane, rax, xmm0))
    }
}
