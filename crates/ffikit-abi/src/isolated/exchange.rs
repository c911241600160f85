//! The worker's exchange lock: one thread at a time talks to the parent. The thread holding
//! it may take it again (a callback of C running a nested call whose C calls back on the same
//! thread), and lets go of it entirely while C runs (so that C's callbacks, on any of its
//! threads, can take it), taking it back as deep as it was afterwards.
//!
//! Built on the pool's `sync` (std's locks, or loom's with `--cfg ffikit_loom`: the model at
//! the end checks mutual exclusion across re-entry and release).

use crate::concurrent::sync::{Condvar, Mutex, lock, thread, wait};

/// Which thread holds the lock, and how many times.
#[derive(Debug, Default)]
pub(super) struct ExchangeLock {
    held: Mutex<Option<(thread::ThreadId, usize)>>,
    free: Condvar,
}

impl ExchangeLock {
    /// Takes the lock (again, if this thread holds it).
    pub fn enter(&self) {
        self.enter_times(1);
    }

    /// Takes the lock `times` deep: after [`release`](Self::release), as deep as it was.
    pub fn enter_times(&self, times: usize) {
        let me = thread::current().id();
        let mut held = lock(&self.held);
        loop {
            match &mut *held {
                None => {
                    *held = Some((me, times));
                    return;
                }
                Some((owner, depth)) if *owner == me => {
                    *depth += times;
                    return;
                }
                Some(_) => held = wait(&self.free, held),
            }
        }
    }

    /// Lets go once.
    pub fn exit(&self) {
        let mut held = lock(&self.held);
        if let Some((_, depth)) = &mut *held {
            *depth -= 1;
            if *depth == 0 {
                *held = None;
                self.free.notify_one();
            }
        }
    }

    /// Lets go entirely, for as long as C runs; returns how deep it was held.
    pub fn release(&self) -> usize {
        let mut held = lock(&self.held);
        let depth = held.take().map_or(0, |(_, depth)| depth);
        self.free.notify_one();
        depth
    }
}

/// `RUSTFLAGS="--cfg ffikit_loom" cargo test -p ffikit-abi --lib --release loom`.
#[cfg(all(test, ffikit_loom))]
mod model {
    use super::ExchangeLock;
    use crate::concurrent::sync::{Arc, AtomicUsize, Ordering, thread};

    /// Whoever is inside counts itself in; two at once is the failure.
    fn inside(count: &AtomicUsize) {
        assert_eq!(
            count.fetch_add(1, Ordering::SeqCst),
            0,
            "two threads inside"
        );
        count.fetch_sub(1, Ordering::SeqCst);
    }

    #[test]
    fn loom_the_exchange_lock_admits_one_thread_across_reentry_and_release() {
        loom::model(|| {
            let exchange = Arc::new(ExchangeLock::default());
            let count = Arc::new(AtomicUsize::new(0));
            let (theirs, their_count) = (Arc::clone(&exchange), Arc::clone(&count));
            // A callback on a thread of C's: in and out once.
            let callback = thread::spawn(move || {
                theirs.enter();
                inside(&their_count);
                theirs.exit();
            });
            // The worker's thread: in twice (a nested request), out entirely while C runs,
            // back as deep, out.
            exchange.enter();
            exchange.enter();
            inside(&count);
            let depth = exchange.release();
            assert_eq!(depth, 2);
            exchange.enter_times(depth);
            inside(&count);
            exchange.exit();
            inside(&count);
            exchange.exit();
            callback.join().unwrap();
        });
    }
}
