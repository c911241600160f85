//! C calls off the caller's thread: a bounded [`Pool`] of worker threads, calls on it as
//! runtime-agnostic futures, [`Scope`]s that end only when every call they started has
//! returned (so calls may borrow what the scope outlives, as `std::thread::scope` lends), and
//! [`CallbackStream`]s that deliver a callback's invocations from any C thread to async code.
//!
//! A C call cannot be cancelled. Dropping a [`CallFuture`] detaches it: the call runs to its
//! end on the worker, which owns the arguments until C returns, and the result is dropped
//! there. A [`Scope`] waits for its calls even when the code inside it panics.
//!
//! Thread-local state: each call runs on whichever worker is free. A C library that needs
//! its calls on one thread (a GUI toolkit, a non-thread-safe handle) gets a dedicated worker:
//! [`Pool::dedicated`] is a pool of one thread, so every call on it runs on that thread.

use std::collections::VecDeque;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;

use crate::call::{Function, Safe};
use crate::callback::Callback;
use crate::error::Error;
use crate::library::{Library, OwnedFunction};
use crate::value::Value;

/// A lock whose data is a queue or a slot that no panic can leave half-changed.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

type Job = Box<dyn FnOnce() + Send + 'static>;

struct Queue {
    jobs: VecDeque<Job>,
    closing: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
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
/// let pool = Pool::with_threads(4);
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
pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
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
    fn default() -> Pool {
        Pool::with_threads(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

impl Pool {
    /// A pool of `threads` workers (at least one): more than the cores for calls that
    /// block on I/O or sleep.
    pub fn with_threads(threads: usize) -> Pool {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                closing: false,
            }),
            ready: Condvar::new(),
        });
        let workers = (0..threads.max(1))
            .map(|index| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("ffikit-worker-{index}"))
                    .spawn(move || work(&shared))
                    .expect("the operating system refused a worker thread")
            })
            .collect();
        Pool { shared, workers }
    }

    /// A pool of one thread: every call on it runs on that same thread, for C libraries
    /// whose state is thread-local or whose handles are not thread-safe.
    pub fn dedicated() -> Pool {
        Pool::with_threads(1)
    }

    /// How many worker threads.
    pub fn threads(&self) -> usize {
        self.workers.len()
    }

    fn submit(&self, job: Job) {
        lock(&self.shared.queue).jobs.push_back(job);
        self.shared.ready.notify_one();
    }

    /// Calls `function` with `args` on a worker. The arguments move into the call and live
    /// until C returns, whatever happens to the future; errno is read on the worker when the
    /// function captures it ([`Function::capture_errno`]).
    ///
    /// # Safety
    ///
    /// As [`Function::call`]: the arguments meet the function's preconditions (promises 3
    /// to 5), and the function may be called on another thread.
    pub unsafe fn call(&self, function: &Arc<OwnedFunction>, args: Vec<Value>) -> CallFuture {
        let function = Arc::clone(function);
        let (future, completion) = CallFuture::pair();
        self.submit(Box::new(move || {
            // SAFETY: the caller's promise for this call, made when it was submitted.
            let outcome = unsafe { function.call(&args) };
            completion.complete(finish(outcome, function.captures_errno()));
        }));
        future
    }

    /// Runs `job` on a worker — a typed handle's call, a batch of calls, anything that owns
    /// what it uses — as a future ([`ScopedCall`] with no scope to end: it is `'static`).
    pub fn spawn<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> ScopedCall<'static, T> {
        let completion = Completion::new();
        let done = Arc::clone(&completion);
        self.submit(Box::new(move || {
            done.put(catch_unwind(AssertUnwindSafe(job)))
        }));
        ScopedCall {
            completion,
            _scope: PhantomData,
        }
    }

    /// Calls a function promised safe ([`Function::into_safe`]) on a worker: no `unsafe`,
    /// its checks as on the caller's thread.
    pub fn call_safe(&self, function: &Arc<Safe<OwnedFunction>>, args: Vec<Value>) -> CallFuture {
        let function = Arc::clone(function);
        let (future, completion) = CallFuture::pair();
        self.submit(Box::new(move || {
            let outcome = function.call(&args);
            completion.complete(finish(outcome, function.captures_errno()));
        }));
        future
    }

    /// Runs `body` with a [`Scope`] whose calls may borrow anything that outlives it; returns
    /// when `body` has and every call started in the scope has finished — also when `body`
    /// panics (then the panic continues once they have).
    pub fn scope<'env, R>(
        &self,
        body: impl for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    ) -> R {
        let scope = Scope {
            pool: self,
            pending: Arc::new((Mutex::new(0), Condvar::new())),
            _scope: PhantomData,
            _env: PhantomData,
        };
        // Waits in its drop: on return and on unwinding alike.
        struct WaitAll<'a>(&'a (Mutex<usize>, Condvar));
        impl Drop for WaitAll<'_> {
            fn drop(&mut self) {
                let (count, done) = self.0;
                let mut pending = lock(count);
                while *pending > 0 {
                    pending = done.wait(pending).unwrap_or_else(|p| p.into_inner());
                }
            }
        }
        let _wait = WaitAll(&scope.pending);
        body(&scope)
    }
}

impl Drop for Pool {
    /// Runs the calls already submitted (detached ones included), then stops the workers.
    fn drop(&mut self) {
        lock(&self.shared.queue).closing = true;
        self.shared.ready.notify_all();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// A worker: runs jobs until the pool closes and the queue is empty.
fn work(shared: &Shared) {
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
                queue = shared.ready.wait(queue).unwrap_or_else(|p| p.into_inner());
            }
        };
        // A job reports its own panic through its completion; the worker lives on.
        let _ = catch_unwind(AssertUnwindSafe(job));
    }
}

/// What a call on a worker returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Called {
    /// The result.
    pub value: Value,
    /// errno right after the call, read on the worker, when the function captures it.
    pub errno: Option<i32>,
}

fn finish(outcome: Result<Value, Error>, captures_errno: bool) -> Result<Called, Error> {
    outcome.map(|value| Called {
        value,
        errno: captures_errno.then(crate::call::last_errno),
    })
}

/// Where a worker puts a result and a waiting task or thread finds it.
struct Completion<T> {
    slot: Mutex<(Option<std::thread::Result<T>>, Option<Waker>)>,
    done: Condvar,
}

impl<T> Completion<T> {
    fn new() -> Arc<Completion<T>> {
        Arc::new(Completion {
            slot: Mutex::new((None, None)),
            done: Condvar::new(),
        })
    }

    fn put(&self, result: std::thread::Result<T>) {
        let waker = {
            let mut slot = lock(&self.slot);
            slot.0 = Some(result);
            slot.1.take()
        };
        self.done.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn poll(&self, cx: &mut Context<'_>) -> Poll<std::thread::Result<T>> {
        let mut slot = lock(&self.slot);
        match slot.0.take() {
            Some(result) => Poll::Ready(result),
            None => {
                slot.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn wait(&self) -> std::thread::Result<T> {
        let mut slot = lock(&self.slot);
        loop {
            if let Some(result) = slot.0.take() {
                return result;
            }
            slot = self.done.wait(slot).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// The worker's end of a [`CallFuture`].
struct Completer(Arc<Completion<Result<Called, Error>>>);

impl Completer {
    fn complete(self, result: Result<Called, Error>) {
        self.0.put(Ok(result));
    }
}

/// A C call running on a worker, as a future (any executor can drive it: it needs no
/// runtime) or to [`wait`](Self::wait) for. Dropping it detaches the call: it still runs to
/// its end, and its result is dropped on the worker.
#[must_use = "the call runs anyway; drop the future only to discard its result"]
pub struct CallFuture {
    completion: Arc<Completion<Result<Called, Error>>>,
}

impl std::fmt::Debug for CallFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallFuture")
    }
}

impl CallFuture {
    fn pair() -> (CallFuture, Completer) {
        let completion = Completion::new();
        (
            CallFuture {
                completion: Arc::clone(&completion),
            },
            Completer(completion),
        )
    }

    /// Blocks this thread until the call returns.
    ///
    /// # Errors
    ///
    /// The call's own error.
    pub fn wait(self) -> Result<Called, Error> {
        match self.completion.wait() {
            Ok(result) => result,
            Err(panic) => resume_unwind(panic),
        }
    }
}

impl Future for CallFuture {
    type Output = Result<Called, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.completion.poll(cx) {
            Poll::Ready(Ok(result)) => Poll::Ready(result),
            Poll::Ready(Err(panic)) => resume_unwind(panic),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Calls started by [`Pool::scope`], which ends only when all of them have finished. Like
/// `std::thread::scope`'s, its jobs may borrow anything that outlives the scope (`'env`).
pub struct Scope<'scope, 'env: 'scope> {
    pool: &'scope Pool,
    pending: Arc<(Mutex<usize>, Condvar)>,
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
    /// call made inside it is alive until that call has returned.
    pub fn spawn<T: Send + 'scope>(
        &'scope self,
        job: impl FnOnce() -> T + Send + 'scope,
    ) -> ScopedCall<'scope, T> {
        let completion = Completion::new();
        let done = Arc::clone(&completion);
        let pending = Arc::clone(&self.pending);
        *lock(&pending.0) += 1;
        let job: Box<dyn FnOnce() + Send + 'scope> = Box::new(move || {
            done.put(catch_unwind(AssertUnwindSafe(job)));
            let (count, finished) = &*pending;
            *lock(count) -= 1;
            finished.notify_all();
        });
        // SAFETY: the job borrows only what lives for 'scope, and `Pool::scope` does not
        // return (nor unwind past the borrowed data) before the pending count, decremented
        // after the job's last use of anything borrowed, is back to zero.
        let job: Job =
            unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + 'scope>, Job>(job) };
        self.pool.submit(job);
        ScopedCall {
            completion,
            _scope: PhantomData,
        }
    }

    /// Calls `function` with `args` on a worker, inside the scope.
    ///
    /// # Safety
    ///
    /// As [`Function::call`] (promises 3 to 5), and the function may be called on another
    /// thread. Addresses in `args` may point into data the scope outlives.
    pub unsafe fn call(
        &'scope self,
        function: &'scope Function<'_>,
        args: Vec<Value>,
    ) -> ScopedCall<'scope, Result<Called, Error>> {
        self.spawn(move || {
            // SAFETY: the caller's promise for this call.
            let outcome = unsafe { function.call(&args) };
            finish(outcome, function.captures_errno())
        })
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

impl<T> Future for ScopedCall<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.completion.poll(cx) {
            Poll::Ready(Ok(value)) => Poll::Ready(value),
            Poll::Ready(Err(panic)) => resume_unwind(panic),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The invocations of a thread-safe callback ([`Library::callback_stream`]), in order, as
/// they arrive from whatever thread C calls it on.
#[derive(Debug)]
pub struct CallbackStream {
    channel: Arc<Channel>,
}

#[derive(Debug, Default)]
struct Channel {
    state: Mutex<ChannelState>,
    arrived: Condvar,
}

#[derive(Debug, Default)]
struct ChannelState {
    items: VecDeque<Vec<Value>>,
    closed: bool,
    waker: Option<Waker>,
}

/// The callback's end: closes the stream when the callback is dropped.
struct Sender(Arc<Channel>);

impl Sender {
    /// Changes the stream's state, then wakes whoever waits for it (a task or a thread).
    fn update(&self, change: impl FnOnce(&mut ChannelState)) {
        let waker = {
            let mut state = lock(&self.0.state);
            change(&mut state);
            state.waker.take()
        };
        self.0.arrived.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn send(&self, item: Vec<Value>) {
        self.update(|state| state.items.push_back(item));
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.update(|state| state.closed = true);
    }
}

impl CallbackStream {
    /// The next invocation's arguments; `None` once the callback is dropped and every
    /// invocation was taken.
    pub fn recv(&mut self) -> NextInvocation<'_> {
        NextInvocation { stream: self }
    }

    /// The next invocation's arguments, blocking this thread until one arrives.
    pub fn blocking_recv(&mut self) -> Option<Vec<Value>> {
        let mut state = lock(&self.channel.state);
        loop {
            if let Some(item) = state.items.pop_front() {
                return Some(item);
            }
            if state.closed {
                return None;
            }
            state = self
                .channel
                .arrived
                .wait(state)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// The future of [`CallbackStream::recv`].
#[derive(Debug)]
pub struct NextInvocation<'a> {
    stream: &'a mut CallbackStream,
}

impl Future for NextInvocation<'_> {
    type Output = Option<Vec<Value>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = lock(&self.stream.channel.state);
        if let Some(item) = state.items.pop_front() {
            return Poll::Ready(Some(item));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Library {
    /// A thread-safe callback whose invocations are delivered to a [`CallbackStream`]
    /// (Deno's `UnsafeCallback.threadSafe`): C may call it from any thread; each call queues
    /// its arguments and returns `result` to C at once.
    ///
    /// # Errors
    ///
    /// As [`callback`](Self::callback); `result` must fit the declared result type.
    pub fn callback_stream(
        &self,
        name: &str,
        signature: &str,
        result: Value,
    ) -> Result<(Callback, CallbackStream), Error> {
        let channel = Arc::new(Channel::default());
        let sender = Sender(Arc::clone(&channel));
        let callback = self.callback(name, signature, move |args| {
            sender.send(args.to_vec());
            Ok(result.clone())
        })?;
        Ok((callback, CallbackStream { channel }))
    }
}
