//! Pre-compiled callback slots for typed callbacks: 64 ordinary `extern "C"` functions per
//! signature, each reading its closure from a global slot table and calling it directly. No
//! executable memory is made at run time and no argument is classified per call, which makes a
//! typed callback cost a few nanoseconds instead of libffi's closure entry. When every slot is
//! taken, typed callbacks fall back to libffi closures: there is no limit on callbacks, only
//! on fast ones (LuaJIT's fixed slot count, without its hard limit).

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// Slots per signature (and in all: the table is shared by every signature).
pub(crate) const SLOT_COUNT: usize = 64;

/// One slot: the closure's state and the function that calls it, type-erased.
struct Slot {
    data: AtomicPtr<()>,
    call: AtomicPtr<()>,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    data: AtomicPtr::new(std::ptr::null_mut()),
    call: AtomicPtr::new(std::ptr::null_mut()),
};

static SLOTS: [Slot; SLOT_COUNT] = [EMPTY; SLOT_COUNT];
/// Bit i set: slot i is taken.
static TAKEN: AtomicU64 = AtomicU64::new(0);

/// A claimed slot, released (and cleared) on drop.
#[derive(Debug)]
pub(crate) struct SlotGuard {
    index: usize,
}

impl SlotGuard {
    /// Claims a free slot and points it at `data`, called through `call` (a function pointer
    /// of the signature's `call` type, erased).
    pub(crate) fn claim(data: *const (), call: *const ()) -> Option<SlotGuard> {
        let mut taken = TAKEN.load(Ordering::Relaxed);
        loop {
            let free = (!taken).trailing_zeros() as usize;
            if free >= SLOT_COUNT {
                return None;
            }
            match TAKEN.compare_exchange_weak(
                taken,
                taken | 1 << free,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    SLOTS[free].data.store(data.cast_mut(), Ordering::Release);
                    SLOTS[free].call.store(call.cast_mut(), Ordering::Release);
                    return Some(SlotGuard { index: free });
                }
                Err(now) => taken = now,
            }
        }
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        SLOTS[self.index]
            .call
            .store(std::ptr::null_mut(), Ordering::Release);
        SLOTS[self.index]
            .data
            .store(std::ptr::null_mut(), Ordering::Release);
        TAKEN.fetch_and(!(1 << self.index), Ordering::AcqRel);
    }
}

/// The slot's state and call function.
#[inline(always)]
pub(crate) fn slot(index: usize) -> (*const (), *const ()) {
    (
        SLOTS[index].data.load(Ordering::Acquire),
        SLOTS[index].call.load(Ordering::Acquire),
    )
}

/// The slot's state alone (for slot functions that know what to call).
#[cfg(fast_path)]
#[inline(always)]
pub(crate) fn data(index: usize) -> *const () {
    SLOTS[index].data.load(Ordering::Acquire)
}

/// `[f::<0>, f::<1>, ..., f::<63>]` as addresses, for a slot function generic over its index.
macro_rules! slot_table {
    ($f:ident, $($generic:ty),*) => {
        $crate::slots::slot_table!(@ $f, [$($generic),*], 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63)
    };
    (@ $f:ident, $generics:tt, $($i:literal)*) => {
        [$($crate::slots::slot_table!(@one $f, $i, $generics)),*]
    };
    (@one $f:ident, $i:literal, [$($generic:ty),*]) => {
        ($f::<$i, $($generic),*> as *const ()) as usize
    };
}

pub(crate) use slot_table;
