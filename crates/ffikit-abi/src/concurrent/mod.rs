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

//!
//! # Organization
//! - `executor`: the queue, the workers, completions and scopes, knowing nothing of C; its
//!   safety argument (who drops what, when) is written there, and its synchronization is
//!   model-checked with loom (`--cfg ffikit_loom`, through `sync`).
//! - this module: C calls as jobs ([`CallFuture`], [`Pool::call`], [`Scope::call`]) and
//!   [`CallbackStream`].

mod executor;
pub(crate) mod sync;

use std::collections::VecDeque;
use std::future::Future;
use std::panic::resume_unwind;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

pub use executor::{Pool, Scope, ScopedCall};

use crate::call::{Function, Safe};
use crate::callback::Callback;
use crate::error::Error;
use crate::library::{Library, OwnedFunction};
use crate::value::Value;
use executor::Completion;
use sync as executor_sync;

/// A lock whose data is a queue or a slot that no panic can leave half-changed.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

impl Pool {
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
        let (future, completion) = CallFuture::pair(self);
        self.submit(Box::new(move || {
            // SAFETY: the caller's promise for this call, made when it was submitted.
            let outcome = unsafe { function.call(&args) };
            completion.complete(finish(outcome, function.captures_errno()));
        }));
        future
    }

    /// Calls a function promised safe ([`Function::into_safe`]) on a worker: no `unsafe`,
    /// its checks as on the caller's thread.
    pub fn call_safe(&self, function: &Arc<Safe<OwnedFunction>>, args: Vec<Value>) -> CallFuture {
        self.submit_call(
            function,
            args,
            |f, args| f.call(args),
            |f| f.captures_errno(),
        )
    }

    /// A call of `function` on a worker, errno read there after it when `errno` says so.
    fn submit_call<F: Send + Sync + 'static>(
        &self,
        function: &Arc<F>,
        args: Vec<Value>,
        call: fn(&F, &[Value]) -> Result<Value, Error>,
        errno: fn(&F) -> bool,
    ) -> CallFuture {
        let function = Arc::clone(function);
        let (future, completion) = CallFuture::pair(self);
        self.submit(Box::new(move || {
            let outcome = call(&function, &args);
            completion.complete(finish(outcome, errno(&function)));
        }));
        future
    }
}

impl Pool {
    /// Calls an isolated library's function ([`IsolatedFunction`](crate::IsolatedFunction))
    /// on a pool thread, as a future: safe, since the C runs in the library's worker process
    /// (calls to one worker take turns; a fault is the future's
    /// [`Error::WorkerFault`]). errno comes back when the function captures it.
    pub fn call_isolated(
        &self,
        function: &Arc<crate::IsolatedFunction>,
        args: Vec<Value>,
    ) -> CallFuture {
        self.submit_call(
            function,
            args,
            |f, args| f.call(args),
            |f| f.captures_errno(),
        )
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

/// The worker's end of a [`CallFuture`].
struct Completer(executor_sync::Arc<Completion<Result<Called, Error>>>);

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
    completion: executor_sync::Arc<Completion<Result<Called, Error>>>,
}

impl std::fmt::Debug for CallFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallFuture")
    }
}

impl CallFuture {
    fn pair(pool: &Pool) -> (CallFuture, Completer) {
        let completion = pool.completion();
        (
            CallFuture {
                completion: executor_sync::Arc::clone(&completion),
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

impl<'scope> Scope<'scope, '_> {
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
