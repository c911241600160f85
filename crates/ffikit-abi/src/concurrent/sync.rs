//! The pool's threads, locks and atomics: std's, or loom's when the crate is built with
//! `--cfg ffikit_loom` to model-check the executor (`executor::model`). Nothing else in the
//! executor names std's synchronization directly, so the model checks the code that runs.

#[cfg(ffikit_loom)]
pub(crate) use loom::{
    sync::atomic::{AtomicUsize, Ordering},
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread,
};
#[cfg(not(ffikit_loom))]
pub(crate) use std::{
    sync::atomic::{AtomicUsize, Ordering},
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread,
};

/// A lock whose data is a queue, a slot or a count that no panic can leave half-changed:
/// poisoning carries no information here.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Waits on `condvar`, poisoning ignored as in [`lock`].
pub(crate) fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    condvar
        .wait(guard)
        .unwrap_or_else(|poison| poison.into_inner())
}
