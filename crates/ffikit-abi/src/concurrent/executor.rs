//! The executor under the pool: a queue of jobs, worker threads, completions, and scopes.
//! It knows nothing of C calls (`concurrent/mod.rs` builds those on it), so it can be
//! model-checked on its own: built with `--cfg ffikit_loom`, [`sync`](super::sync) hands it loom's
//! threads and locks and the `model` tests below explore every interleaving.
//!
//! # Who drops what, when (the scope's safety argument)
//!
//! A scoped job borrows `'scope` data: its closure, and the value `T` it returns (which may
//! borrow too and may read what it borrows in its `Drop`). `Pool::scope` must not return —
//! nor unwind past the borrowed data — while any of that can still run. So, as
//! `std::thread::scope` does with its `Packet`s:
//!
//! 1. `Scope::spawn` counts the job in the scope's `pending` before queueing it.
//! 2. The job's closure is consumed when the job runs (on a worker, or on a worker helping
//!    while it waits for a scope of its own); its result goes into the job's [`Completion`],
//!    shared by the job and the [`ScopedCall`] handle.
//! 3. Whichever of the two drops the completion last runs `Completion::drop`, which first
//!    drops the result if nobody took it (the value's destructor runs here, while `'scope`
//!    data is alive), and only then takes the job out of `pending`.
//! 4. `Pool::scope` waits until `pending` is zero. So every `'scope` closure and value has
//!    been consumed, handed back through `join`/`poll` to code inside the scope, or dropped.
//!
//! Leaking a `ScopedCall` (`mem::forget`) leaks its completion, so the scope waits for ever:
//! a hang, never a use after free — as with std's scoped threads.
//!
//! A job's panic travels in its completion; one that nobody takes (the handle dropped, or
//! never joined) is kept by the scope and resumed when the scope ends, after every job has
//! finished, as `std::thread::scope` does (the body's own panic takes precedence).

use std::any::Any;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::sync::{Arc, AtomicUsize, Condvar, Mutex, Ordering, lock, thread, wait};
use crate::error::Error;

type Job = Box<dyn FnOnce() + Send + 'static>;
type Panic = Box<dyn Any + Send + 'static>;

struct Queue {
    jobs: VecDeque<Job>,
    closing: bool,
    /// The workers' thread ids: a scope waiting on one of them helps run the queue.
    workers: Vec<thread::ThreadId>,
    /// Threads waiting for a scope or a job of the pool (woken on each new job, each
    /// finished job, each emptied scope).
    waiting: usize,
}

struct Shared {
    queue: Mutex<Queue>,
    /// A job was queued, or the pool is closing: for idle workers.
    ready: Condvar,
    /// A job was queued or finished, or a scope emptied: for threads waiting in scopes or
    /// for jobs.
    progress: Condvar,
}

impl Shared {
    fn submit(&self, job: Job) {
        let wake_waiters = {
            let mut queue = lock(&self.queue);
            queue.jobs.push_back(job);
            queue.waiting > 0
        };
        self.ready.notify_one();
        if wake_waiters {
            self.progress.notify_all();
        }
    }

    /// Whether this thread is one of the pool's workers (which help while they wait).
    fn is_worker_here(&self) -> bool {
        lock(&self.queue).workers.contains(&thread::current().id())
    }

    /// Something a waiter may be waiting for happened (a job finished, a scope emptied).
    /// Taking the lock orders this after the waiter's check: it either sees the change or
    /// is already waiting, and is woken.
    fn progressed(&self) {
        if lock(&self.queue).waiting > 0 {
            self.progress.notify_all();
        }
    }

    /// Blocks until `finished()`; a worker of this pool (`helping`) runs queued jobs
    /// meanwhile, so that a job waiting for another job of its own pool — a scope inside a
    /// job, a `join` there — cannot starve for workers.
    fn wait_until(&self, helping: bool, mut finished: impl FnMut() -> bool) {
        let mut queue = lock(&self.queue);
        loop {
            if finished() {
                return;
            }
            if helping {
                if let Some(job) = queue.jobs.pop_front() {
                    drop(queue);
                    run(job);
                    queue = lock(&self.queue);
                    continue;
                }
            }
            queue.waiting += 1;
            queue = wait(&self.progress, queue);
            queue.waiting -= 1;
        }
    }
}

/// A bounded pool of worker threads for C calls.
///
/// ```
/// use ffikit_abi::{Library, Pool, Value};
/// use std::sync::Arc;
///
/// let libc = Arc::new(Library::this());
/// // SAFETY: `int usleep(unsigned int)` is how <unistd.h> declares usleep.
/// let usleep = Arc::new(unsafe { ffikit_abi::OwnedFunction::new(&libc, "int usleep(unsigned int)") }?);
/// let pool = Pool::try_with_threads(4)?;
/// // Four 10 ms sleeps at once, as futures; any executor (or `wait`) drives them.
/// let started = std::time::Instant::now();
/// let calls: Vec<_> = (0..4)
///     // SAFETY: usleep takes any count of microseconds (promise 3).
///     .map(|_| unsafe { pool.call(&usleep, vec![Value::UInt(10_000)]) })
///     .collect();
/// for call in calls {
///     assert_eq!(call.wait()?.value, Value::Int(0));
/// }
/// assert!(started.elapsed() >= std::time::Duration::from_millis(10));
/// # Ok::<(), ffikit_abi::Error>(())
/// ```
///
/// Dropping the pool runs the jobs already queued, then stops and joins the workers — all
/// but the current thread, when the last handle to the pool is dropped inside one of its own
/// jobs (that worker ends by itself once the queue is empty).
pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("threads", &self.workers.len())
            .finish()
    }
}

impl Default for Pool {
    /// As many threads as the machine has cores: for CPU-bound C work.
    ///
    /// # Panics
    ///
    /// As [`with_threads`](Self::with_threads).
    fn default() -> Pool {
        Pool::with_threads(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

impl Pool {
    /// A pool of `threads` workers (at least one): more than the cores for calls that
    /// block on I/O or sleep.
    ///
    /// # Errors
    ///
    /// [`Error::ThreadSpawn`] when the operating system refuses a thread; the workers
    /// already started are stopped and joined first, so none is left behind.
    pub fn try_with_threads(threads: usize) -> Result<Pool, Error> {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                closing: false,
                workers: Vec::new(),
                waiting: 0,
            }),
            ready: Condvar::new(),
            progress: Condvar::new(),
        });
        let mut pool = Pool {
            shared,
            workers: Vec::new(),
        };
        for index in 0..threads {
            let shared = Arc::clone(&pool.shared);
            let spawned = thread::Builder::new()
                .name(format!("ffikit-worker-{index}"))
                .spawn(move || work(&shared));
            match spawned {
                Ok(worker) => pool.workers.push(worker),
                // Dropping `pool` closes it and joins the workers started so far.
                Err(source) => {
                    return Err(Error::ThreadSpawn {
                        requested: threads,
                        started: index,
                        source,
                    });
                }
            }
        }
        Ok(pool)
    }

    /// A pool of `threads` workers (at least one).
    ///
    /// # Panics
    ///
    /// When the operating system refuses a thread (after stopping the ones started);
    /// [`try_with_threads`](Self::try_with_threads) returns that as an error instead.
    pub fn with_threads(threads: usize) -> Pool {
        Pool::try_with_threads(threads).unwrap_or_else(|error| panic!("{error}"))
    }

    /// A pool of one thread: every call on it runs on that same thread, for C libraries
    /// whose state is thread-local or whose handles are not thread-safe.
    ///
    /// # Panics
    ///
    /// As [`with_threads`](Self::with_threads).
    pub fn dedicated() -> Pool {
        Pool::with_threads(1)
    }

    /// How many worker threads.
    pub fn threads(&self) -> usize {
        self.workers.len()
    }

    pub(super) fn submit(&self, job: Job) {
        self.shared.submit(job);
    }

    /// Runs `job` on a worker — a typed handle's call, a batch of calls, anything that owns
    /// what it uses — as a future ([`ScopedCall`] with no scope to end: it is `'static`).
    /// A panic in it is resumed by `join` or the future; dropped with the handle otherwise.
    pub fn spawn<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> ScopedCall<'static, T> {
        let completion = self.completion();
        let done = Arc::clone(&completion);
        self.submit(Box::new(move || {
            done.put(catch_unwind(AssertUnwindSafe(job)));
        }));
        ScopedCall {
            completion,
            _scope: PhantomData,
        }
    }

    /// Runs `body` with a [`Scope`] whose jobs may borrow anything that outlives it. Returns
    /// once `body` has and every job started in the scope has finished and its result has
    /// been taken or dropped — also when `body` panics (then the panic continues once they
    /// have). A job's panic that nobody took with `join` is resumed here, as
    /// `std::thread::scope` does.
    ///
    /// A scope may be opened inside a job of the same pool, even when no other worker is
    /// free (a [`dedicated`](Self::dedicated) pool): a worker waiting for its scope runs
    /// queued jobs itself meanwhile. (A thread outside the pool only waits: the pool's
    /// jobs run on its workers, as `dedicated` promises.)
    pub fn scope<'env, R>(
        &self,
        body: impl for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    ) -> R {
        let scope = Scope {
            pool: self,
            data: Arc::new(ScopeData {
                pending: AtomicUsize::new(0),
                panic: Mutex::new(None),
                shared: Arc::clone(&self.shared),
            }),
            _scope: PhantomData,
            _env: PhantomData,
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| body(&scope)));
        self.wait_for(&scope.data);
        let unjoined = lock(&scope.data.panic).take();
        match (outcome, unjoined) {
            (Err(panic), _) | (Ok(_), Some(panic)) => resume_unwind(panic),
            (Ok(result), None) => result,
        }
    }

    /// Blocks until the scope's jobs are all finished (a worker of this pool helping).
    fn wait_for(&self, scope: &ScopeData) {
        let helping = self.shared.is_worker_here();
        self.shared
            .wait_until(helping, || scope.pending.load(Ordering::Acquire) == 0);
    }

    /// A completion for a job of this pool.
    pub(super) fn completion<T>(&self) -> Arc<Completion<T>> {
        Completion::new(Arc::clone(&self.shared), None)
    }
}

impl Drop for Pool {
    /// Runs the jobs already queued (detached ones included), then stops the workers.
    fn drop(&mut self) {
        lock(&self.shared.queue).closing = true;
        self.shared.ready.notify_all();
        let me = thread::current().id();
        for worker in self.workers.drain(..) {
            // Dropped inside one of its own jobs: that worker cannot join itself; it ends by
            // itself once the queue is empty (its handle is dropped: detached).
            if worker.thread().id() != me {
                let _ = worker.join();
            }
        }
    }
}

/// A worker: runs jobs until the pool closes and the queue is empty.
fn work(shared: &Shared) {
    lock(&shared.queue).workers.push(thread::current().id());
    loop {
        let job = {
            let mut queue = lock(&shared.queue);
            loop {
                if let Some(job) = queue.jobs.pop_front() {
                    break job;
                }
                if queue.closing {
                    return;
                }
                queue = wait(&shared.ready, queue);
            }
        };
        run(job);
    }
}

/// A job reports its own panic through its completion; the thread running it lives on.
fn run(job: Job) {
    let _ = catch_unwind(AssertUnwindSafe(job));
}

/// What a scope counts and keeps.
struct ScopeData {
    /// Jobs whose completion has not yet been dropped.
    pending: AtomicUsize,
    /// The first panic of a job that nobody took.
    panic: Mutex<Option<Panic>>,
    shared: Arc<Shared>,
}

impl ScopeData {
    /// One job's completion is gone; the scope's last wakes the thread waiting in it.
    fn finished(&self, unjoined: Option<Panic>) {
        if let Some(panic) = unjoined {
            lock(&self.panic).get_or_insert(panic);
        }
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.progressed();
        }
    }
}

/// Where a job puts its result and a waiting task or thread finds it.
pub(super) struct Completion<T> {
    slot: Mutex<(Option<std::thread::Result<T>>, Option<Waker>)>,
    done: Condvar,
    /// The pool the job runs on: told when the job finishes (a worker may be waiting for it,
    /// helping), and run by a worker waiting here.
    pool: Arc<Shared>,
    /// The scope that counts this job, told when the completion (and so the result) is gone.
    scope: Option<Arc<ScopeData>>,
}

impl<T> Completion<T> {
    fn new(pool: Arc<Shared>, scope: Option<Arc<ScopeData>>) -> Arc<Completion<T>> {
        Arc::new(Completion {
            slot: Mutex::new((None, None)),
            done: Condvar::new(),
            pool,
            scope,
        })
    }

    pub(super) fn put(&self, result: std::thread::Result<T>) {
        let waker = {
            let mut slot = lock(&self.slot);
            slot.0 = Some(result);
            slot.1.take()
        };
        self.done.notify_all();
        self.pool.progressed();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    pub(super) fn poll(&self, cx: &mut Context<'_>) -> Poll<std::thread::Result<T>> {
        let mut slot = lock(&self.slot);
        match slot.0.take() {
            Some(result) => Poll::Ready(result),
            None => {
                slot.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    pub(super) fn wait(&self) -> std::thread::Result<T> {
        if self.pool.is_worker_here() {
            // A job waiting for another job of its pool: run the queue meanwhile.
            let mut result = None;
            self.pool
                .wait_until(true, || result.insert(lock(&self.slot).0.take()).is_some());
            if let Some(result) = result.flatten() {
                return result;
            }
        }
        let mut slot = lock(&self.slot);
        loop {
            if let Some(result) = slot.0.take() {
                return result;
            }
            slot = wait(&self.done, slot);
        }
    }
}

impl<T> Drop for Completion<T> {
    fn drop(&mut self) {
        // The result nobody took is dropped first — its destructor may read what it borrows
        // from the scope's environment — and only then is the scope told (step 3 above).
        let result = lock(&self.slot).0.take();
        let unjoined = match result {
            Some(Err(panic)) => Some(panic),
            Some(Ok(value)) => catch_unwind(AssertUnwindSafe(move || drop(value))).err(),
            None => None,
        };
        match &self.scope {
            Some(scope) => scope.finished(unjoined),
            // Unscoped: nobody to hand the panic to (as a detached thread's).
            None => drop(unjoined),
        }
    }
}

/// Jobs started by [`Pool::scope`], which ends only when all of them have finished. Like
/// `std::thread::scope`'s, its jobs may borrow anything that outlives the scope (`'env`).
pub struct Scope<'scope, 'env: 'scope> {
    pool: &'scope Pool,
    data: Arc<ScopeData>,
    _scope: PhantomData<&'scope mut &'scope ()>,
    _env: PhantomData<&'env mut &'env ()>,
}

impl std::fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope").finish_non_exhaustive()
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Runs `job` on a worker. It may borrow what the scope outlives: a buffer lent to a C
    /// call made inside it is alive until that call has returned, and so is anything the
    /// job's result borrows until the result is taken or dropped.
    pub fn spawn<T: Send + 'scope>(
        &'scope self,
        job: impl FnOnce() -> T + Send + 'scope,
    ) -> ScopedCall<'scope, T> {
        self.data.pending.fetch_add(1, Ordering::Relaxed);
        let completion =
            Completion::new(Arc::clone(&self.pool.shared), Some(Arc::clone(&self.data)));
        let done = Arc::clone(&completion);
        let job: Box<dyn FnOnce() + Send + 'scope> = Box::new(move || {
            let result = catch_unwind(AssertUnwindSafe(job));
            done.put(result);
            // The job's closure is consumed; its completion goes last (it may be the last
            // handle: then the result is dropped and the scope told, in that order).
            drop(done);
        });
        // SAFETY: the job borrows only what lives for 'scope, and `Pool::scope` does not
        // return (nor unwind past the borrowed data) before `pending` is back to zero, which
        // happens only when this job's completion is dropped: after the job's closure was
        // consumed and its result taken or dropped (the module's safety argument). The pool
        // runs every queued job (workers drain the queue before they stop, and the pool
        // outlives the scope).
        let job: Job =
            unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + 'scope>, Job>(job) };
        self.pool.submit(job);
        ScopedCall {
            completion,
            _scope: PhantomData,
        }
    }
}

/// A job of a [`Scope`] (or of [`Pool::spawn`]): a future, or [`join`](Self::join) to wait
/// for it. Dropping it detaches the job; a scope still waits for it.
#[must_use = "the job runs anyway; the scope waits for it"]
pub struct ScopedCall<'scope, T> {
    completion: Arc<Completion<T>>,
    _scope: PhantomData<&'scope ()>,
}

impl<T> std::fmt::Debug for ScopedCall<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScopedCall")
    }
}

impl<T> ScopedCall<'_, T> {
    /// Blocks until the job has finished; a panic in it continues here.
    pub fn join(self) -> T {
        match self.completion.wait() {
            Ok(value) => value,
            Err(panic) => resume_unwind(panic),
        }
    }
}

impl<T> std::future::Future for ScopedCall<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.completion.poll(cx) {
            Poll::Ready(Ok(value)) => Poll::Ready(value),
            Poll::Ready(Err(panic)) => resume_unwind(panic),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The executor's synchronization, model-checked by loom: every interleaving of the
/// workers, the scope's waiter and the completions' drops, for the cases the issue tracker
/// found broken. Run with
/// `RUSTFLAGS="--cfg ffikit_loom" cargo test -p ffikit-abi --lib --release loom`.
#[cfg(all(test, ffikit_loom))]
mod model {
    use super::*;
    use loom::sync::atomic::AtomicBool;

    /// A result whose destructor records that it ran while the scope was still open.
    struct Borrows<'a>(&'a AtomicBool);

    impl Drop for Borrows<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn loom_a_detached_result_is_dropped_before_the_scope_returns() {
        loom::model(|| {
            let pool = Pool::with_threads(1);
            let dropped = AtomicBool::new(false);
            pool.scope(|scope| {
                drop(scope.spawn(|| Borrows(&dropped)));
            });
            assert!(dropped.load(Ordering::SeqCst));
        });
    }

    #[test]
    fn loom_a_joined_result_is_handed_back() {
        loom::model(|| {
            let pool = Pool::with_threads(1);
            let value = 7;
            let got = pool.scope(|scope| scope.spawn(|| value + 1).join());
            assert_eq!(got, 8);
        });
    }

    #[test]
    fn loom_a_scope_inside_a_job_of_a_dedicated_pool_completes() {
        loom::model(|| {
            let pool = Arc::new(Pool::with_threads(1));
            let inner = Arc::clone(&pool);
            let got = pool
                .spawn(move || inner.scope(|scope| scope.spawn(|| 20).join() + 1))
                .join();
            assert_eq!(got, 21);
        });
    }

    #[test]
    fn loom_the_last_pool_handle_dropped_in_its_own_job() {
        loom::model(|| {
            let pool = Arc::new(Pool::with_threads(1));
            let inside = Arc::clone(&pool);
            let job = pool.spawn(move || drop(inside));
            drop(pool);
            job.join();
        });
    }

    #[test]
    fn loom_an_unjoined_panic_is_resumed_when_the_scope_ends() {
        loom::model(|| {
            let pool = Pool::with_threads(1);
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                pool.scope(|scope| {
                    drop(scope.spawn(|| std::panic::panic_any(5_u8)));
                })
            }));
            let panic = outcome.expect_err("the job's panic is resumed");
            assert_eq!(panic.downcast_ref::<u8>(), Some(&5));
        });
    }

    #[test]
    fn loom_a_completion_is_seen_by_a_waiting_thread() {
        loom::model(|| {
            let pool = Pool::with_threads(1);
            let completion = pool.completion::<u32>();
            let worker = Arc::clone(&completion);
            let thread = thread::spawn(move || worker.put(Ok(3)));
            assert_eq!(completion.wait().ok(), Some(3));
            thread.join().unwrap();
        });
    }
}
