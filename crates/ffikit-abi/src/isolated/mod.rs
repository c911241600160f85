//! Isolated libraries: a C library loaded in a worker process of its own, its functions
//! bound and checked from declarations here exactly as in-process, called over shared
//! memory. A segfault, `abort`, `exit` or a call past its time limit in C ends only the
//! worker: the call returns [`Error::WorkerFault`] naming what happened, and the next call
//! starts a new worker.
//!
//! ```
//! use ffikit_abi::{ErrorKind, IsolatedLibrary, Value};
//!
//! // Safe: the library's code runs in the worker, whose faults are errors here.
//! let libc = IsolatedLibrary::open("libc.so.6")?;
//! let strlen = libc.function("size_t strlen(const char *)")?;
//! assert_eq!(strlen.call(&[Value::Str("isolated".into())])?, Value::UInt(8));
//! // Arguments are checked here, before anything is sent: NULL is no string.
//! assert_eq!(strlen.call(&[Value::Null]).unwrap_err().kind(), ErrorKind::NullPointer);
//! // A call that kills its process is an error; the next call gets a new worker.
//! let raise = libc.function("int raise(int)")?;
//! let fault = raise.call(&[Value::Int(11)]).unwrap_err();
//! assert_eq!(fault.kind(), ErrorKind::WorkerFault);
//! assert!(fault.to_string().contains("signal 11 (SIGSEGV)"));
//! assert_eq!(strlen.call(&[Value::Str("again".into())])?, Value::UInt(5));
//! # Ok::<(), ffikit_abi::Error>(())
//! ```
//!
//! # How
//!
//! The worker is this program again (`/proc/self/exe`), started with the channel's details
//! in its environment: a constructor of this crate (`.init_array`) sees them before `main`
//! and serves instead ([`run_worker_if_requested`] for programs that start it another way,
//! such as a Python interpreter). It dies with its parent (`PR_SET_PDEATHSIG`, and a check
//! of its parent while idle), optionally under resource limits.
//!
//! Calls go through one memfd both processes map (`shared`): a message is written into the
//! transfer area and its place posted in a mailbox whose sequence number is a futex word;
//! each side spins briefly, then sleeps on the futex. Strings, byte buffers and C objects
//! passed to pointer parameters are copied into the transfer area once and the worker's C
//! uses them there (and [`IsolatedFunction::call_mut`] copies them back once): no pipe, no
//! second copy. Pointers the worker's C hands out come back as [`Handle`]s, valid for that
//! worker's lifetime.
//!
//! Callbacks of the worker's C run here, in the thread that made the call, with an
//! [`Invocation`] to read the worker's memory and to call its functions meanwhile.
//!
//! # Organization
//!
//! This module: the entry of a worker, the shared state, [`IsolatedLibrary`]'s declarations.
//! `options`: [`IsolatedOptions`], [`WorkerFault`]. `session`: the parent's side of a worker
//! (start, requests and answers, liveness and time limits, callbacks run here, reaping).
//! `calls`: [`IsolatedFunction`], [`IsolatedCallback`], [`Invocation`], reads through
//! handles. `shared`: the memfd and its futex mailboxes (most of the module's `unsafe`: the
//! rest is `worker`'s calls into C, `session`'s `pre_exec`, the constructor). `wire`: message kinds and the bounded value encoding. `worker`:
//! the worker process. `exchange`: the worker's re-entrant exchange lock (loom-checked).
//!
//! # Safety
//!
//! Nothing here is `unsafe` to use: this process never runs the library's code and never
//! reads the worker's memory except through the copies the protocol makes, checked against
//! the shared file's size (sealed against shrinking). A declaration untrue to its symbol, a
//! wrong handle or a wrong length can make the worker fault — which is an error here.

mod calls;
mod exchange;
mod options;
mod session;
mod shared;
mod wire;
mod worker;

pub use calls::{Invocation, IsolatedCallback, IsolatedFunction};
use calls::{read_in, read_string_in, write_in};
use options::signal_name;
pub use options::{IsolatedOptions, WorkerFault};
use session::{current, decode_value, request, too_large};

use std::cell::RefCell;
use std::collections::HashMap;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, mpsc};
use std::time::{Duration, Instant};

use shared::{Message, Shared};
use wire::{Decoded, Decoder, Encoder, to_parent, to_worker};

use crate::call::{Function, PointerParam, Signature};
use crate::callback::CallbackError;
use crate::data::CData;
use crate::error::Error;
use crate::library::Library;
use crate::shape::{Pointee, Shape, Typed};
use crate::value::{Handle, Value};

/// The environment variable that makes a process an isolated library's worker.
const WORKER_ENV: &str = "FFIKIT_ISOLATED_WORKER";
/// How long the parent spins for an answer before sleeping on it.
const PARENT_SPIN: Duration = Duration::from_micros(50);
/// How often a waiting parent looks whether the worker is still alive.
const LIVENESS_SLICE: Duration = Duration::from_millis(20);
/// How long a new worker has to answer its first message.
const STARTUP: Duration = Duration::from_secs(30);

// The worker's entry: a constructor of every program linking this crate, which serves
// only when the environment says this process was started as a worker. (A constructor,
// so that any program — a test binary too — can be its own worker without a `main` of its
// own for it; `IsolatedLibrary::open_with` names this static, so the linker keeps it.)
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static WORKER_CONSTRUCTOR: extern "C" fn() = {
    extern "C" fn start_worker_if_asked() {
        serve_if_asked("constructor");
    }
    start_worker_if_asked
};

/// If this process was started as an isolated library's worker by a
/// [`worker_command`](IsolatedOptions::worker_command), serves as one and never returns;
/// otherwise returns at once. (Programs started as `/proc/self/exe`, the default, need not
/// call it: a constructor does.)
pub fn run_worker_if_requested() {
    serve_if_asked("explicit");
}

fn serve_if_asked(entry: &str) {
    let Some(text) = std::env::var_os(WORKER_ENV) else {
        return;
    };
    let Some((setup, asked)) = text.to_str().and_then(worker::Setup::decode) else {
        return;
    };
    if asked != entry {
        return;
    }
    // SAFETY: the worker is single-threaded here (before `main`, or at the start of the
    // program that was told to serve); its own children must not serve.
    unsafe { std::env::remove_var(WORKER_ENV) };
    worker::serve(setup);
}

/// What the parent makes of any bytes a worker sends (an answer's value, an error, a
/// callback's call), as it reads them: every input gets an answer. For the fuzz target
/// `worker_messages`.
#[doc(hidden)]
pub fn read_worker_message(bytes: &[u8]) {
    let mut finish = |part: Decoded| -> Result<Value, ()> {
        match part {
            Decoded::Pointer(address) => Ok(Value::Handle(Handle { worker: 1, address })),
            _ => Err(()),
        }
    };
    if let Ok(decoded) = Decoder::new(bytes).value() {
        let _ = decoded.finish(&mut finish);
    }
    let _ = Decoder::new(bytes).error();
    let mut decoder = Decoder::new(bytes);
    if let (Ok(_id), Ok(count)) = (decoder.u32(), decoder.u32()) {
        for _ in 0..count {
            match decoder.value() {
                Ok(decoded) => drop(decoded.finish(&mut finish)),
                Err(_) => break,
            }
        }
    }
}

/// A C library loaded in a worker process; see the [module](self).
#[derive(Debug, Clone)]
pub struct IsolatedLibrary {
    inner: Arc<Inner>,
}

/// What a new worker is told, in order: the declarations, then each function as it is
/// first called there, each callback as it is first needed.
#[derive(Default)]
struct Replay {
    declarations: Vec<Declaration>,
    bindings: Vec<BindRequest>,
    callbacks: HashMap<u32, CallbackEntry>,
}

/// Declarations, in the order they were made.
#[derive(Debug, Clone)]
enum Declaration {
    Cdef(String),
    Include(ffikit_cdecl::Header),
}

impl Declaration {
    fn message(&self) -> (u32, Encoder) {
        let mut encoder = Encoder::default();
        match self {
            Declaration::Cdef(text) => {
                encoder.text(text);
                (to_worker::CDEF, encoder)
            }
            Declaration::Include(header) => {
                let (name, compiler, flags) = header.parts();
                encoder
                    .text(name)
                    .text(compiler.unwrap_or(""))
                    .u32(flags.len() as u32);
                for flag in flags {
                    encoder.text(flag);
                }
                (to_worker::INCLUDE, encoder)
            }
        }
    }
}

#[derive(Debug, Clone)]
struct BindRequest {
    by_name: bool,
    text: String,
    variadic: Vec<String>,
    errno: bool,
}

type Body = dyn Fn(&Invocation<'_>, &[Value]) -> Result<Value, CallbackError> + Send + Sync;

#[derive(Clone)]
struct CallbackEntry {
    name: String,
    signature: String,
    body: Arc<Body>,
}

struct Inner {
    name: String,
    options: IsolatedOptions,
    /// The declarations, for checks and C objects (it loads nothing).
    model: Library,
    replay: Mutex<Replay>,
    session: Mutex<Session>,
    next_callback: AtomicU32,
    /// Type names `read` has checked (checking one parses it).
    read_types: Mutex<std::collections::HashSet<String>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IsolatedLibrary")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Session {
    worker: Option<Running>,
}

/// A live worker.
struct Running {
    child: Child,
    shared: Shared,
    number: u64,
    /// The functions bound there, by id: their code addresses.
    bound: HashMap<u32, usize>,
    /// The callbacks made there: their addresses, by id.
    callbacks: HashMap<u32, usize>,
}

/// Every worker started gets a new number ([`Handle::worker`]).
static NEXT_WORKER: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The libraries whose session this thread holds (their `Inner`'s address): calling one
    /// of them again from a callback would wait for itself.
    static HELD: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// The session, held by this thread until dropped.
struct Held<'a> {
    guard: MutexGuard<'a, Session>,
    key: usize,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        HELD.with(|held| held.borrow_mut().retain(|k| *k != self.key));
    }
}

impl IsolatedLibrary {
    /// Loads `name` (a path or a name, found as [`Library::open`] finds it) in a new
    /// worker process, with the default [`IsolatedOptions`].
    ///
    /// # Errors
    ///
    /// [`Error::WorkerFailed`] if no worker could be started; the worker's
    /// [`ErrorKind::LibraryNotFound`](crate::ErrorKind::LibraryNotFound) or
    /// load error if the library does not load there.
    pub fn open(name: &str) -> Result<IsolatedLibrary, Error> {
        IsolatedLibrary::open_with(name, IsolatedOptions::default())
    }

    /// [`open`](Self::open) with options. An empty `name` is the worker program itself
    /// and what it loaded (libc), as [`Library::this`].
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub fn open_with(name: &str, options: IsolatedOptions) -> Result<IsolatedLibrary, Error> {
        #[cfg(target_os = "linux")]
        std::hint::black_box(&WORKER_CONSTRUCTOR);
        let library = IsolatedLibrary {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                options,
                model: Library::this(),
                replay: Mutex::default(),
                session: Mutex::default(),
                next_callback: AtomicU32::new(0),
                read_types: Mutex::default(),
            }),
        };
        let mut held = library.inner.hold()?;
        library.inner.running(&mut held.guard)?;
        drop(held);
        Ok(library)
    }

    /// [`open_with`](Self::open_with) a library that describes itself, as
    /// [`Library::open_described`]: its `const char *ffikit_manifest(void)`, called in the
    /// worker, declares its functions here.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), or if the manifest is missing or does not parse.
    pub fn open_described(name: &str, options: IsolatedOptions) -> Result<IsolatedLibrary, Error> {
        let library = IsolatedLibrary::open_with(name, options)?;
        let manifest = library.function(crate::library::MANIFEST)?.call(&[])?;
        library.cdef(&crate::library::manifest_text(&manifest)?)?;
        Ok(library)
    }

    /// The name the library was opened with.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The current worker's process id and number, if one runs.
    pub fn worker(&self) -> Option<(u32, u64)> {
        let session = lock(&self.inner.session);
        session
            .worker
            .as_ref()
            .map(|running| (running.child.id(), running.number))
    }

    /// Declares C types, functions and variables (here, and in every worker).
    ///
    /// # Errors
    ///
    /// [`Error::Declaration`] with the location of the problem.
    pub fn cdef(&self, text: &str) -> Result<ffikit_cdecl::Report, Error> {
        let report = self.inner.model.cdef(text)?;
        self.declare(Declaration::Cdef(text.to_owned()))?;
        Ok(report)
    }

    /// Declares what a header declares, as [`Library::include`] does (the C preprocessor
    /// runs here, and in every worker), so its functions can be bound by name.
    ///
    /// # Errors
    ///
    /// As [`Library::include`].
    pub fn include(&self, header: &ffikit_cdecl::Header) -> Result<ffikit_cdecl::Included, Error> {
        let included = self.inner.model.include(header)?;
        self.declare(Declaration::Include(header.clone()))?;
        Ok(included)
    }

    /// Declarations made here: kept for every new worker, told to the running one.
    fn declare(&self, declaration: Declaration) -> Result<(), Error> {
        let (kind, encoder) = declaration.message();
        lock(&self.inner.replay).declarations.push(declaration);
        let mut held = self.inner.hold()?;
        if let Some(number) = held.guard.worker.as_ref().map(|running| running.number) {
            request(&self.inner, &mut held.guard, number, 0, kind, &encoder)?;
        }
        Ok(())
    }

    /// A function from its declaration (`"int gcd(int, int)"`), or the name of one
    /// declared by [`cdef`](Self::cdef): checked here, bound in the worker.
    ///
    /// # Errors
    ///
    /// A declaration error here; the worker's error for a missing symbol, a data symbol, or
    /// a type it cannot call.
    pub fn function(&self, declaration: &str) -> Result<IsolatedFunction, Error> {
        let mut decls = self.inner.model.declared();
        let trimmed = declaration.trim().trim_end_matches(';');
        let by_name = decls.function(trimmed).is_some();
        let name = if by_name {
            trimmed.to_owned()
        } else {
            crate::library::declare_function(&mut decls, declaration)?
        };
        let (signature, _, _) = crate::library::declared_signature(&decls, &name)?;
        self.bind(
            signature,
            Vec::new(),
            BindRequest {
                by_name,
                text: if by_name {
                    name
                } else {
                    declaration.to_owned()
                },
                variadic: Vec::new(),
                errno: false,
            },
        )
    }

    fn bind(
        &self,
        signature: Signature,
        variadic: Vec<Typed>,
        request_text: BindRequest,
    ) -> Result<IsolatedFunction, Error> {
        // Never called: only its checks are used (code address 0).
        let mut checker = Function::new(signature.clone(), 0)?;
        if !variadic.is_empty() {
            checker = checker.with_variadic_types(&variadic)?;
        }
        let id = {
            let mut replay = lock(&self.inner.replay);
            replay.bindings.push(request_text);
            (replay.bindings.len() - 1) as u32
        };
        let mut held = self.inner.hold()?;
        self.inner.bound(&mut held.guard, id, 0)?;
        Ok(IsolatedFunction {
            library: self.clone(),
            id,
            checker,
            signature,
            variadic,
        })
    }

    /// A C object of a declared type, in this process: to pass by value, or to a pointer
    /// parameter through [`IsolatedFunction::call_mut`] (copied in, and C's writes copied
    /// back).
    ///
    /// # Errors
    ///
    /// As [`Library::new_value`].
    pub fn new_value(&self, type_name: &str) -> Result<CData, Error> {
        self.inner.model.new_value(type_name)
    }

    /// The pointer held in `object` (a `T *` out-parameter filled by the worker's C, such
    /// as `sqlite3_open`'s `sqlite3 **`) as a handle of the current worker.
    ///
    /// # Errors
    ///
    /// [`Error::TypeMismatch`] for an object that is not a pointer; [`Error::WorkerFailed`]
    /// when no worker runs.
    pub fn handle_in(&self, object: &CData) -> Result<Value, Error> {
        if !matches!(object.shape(), Shape::Pointer(_)) {
            return Err(Error::TypeMismatch {
                place: "handle_in".into(),
                expected: "a pointer object".into(),
                given: format!("a `{}`", object.type_name()),
            });
        }
        let address = usize::from_ne_bytes(object.bytes()[..8].try_into().expect("8 bytes"));
        let session = lock(&self.inner.session);
        let running = session
            .worker
            .as_ref()
            .ok_or_else(|| self.inner.no_worker())?;
        Ok(match address {
            0 => Value::Null,
            address => Value::Handle(Handle {
                worker: running.number,
                address,
            }),
        })
    }

    /// Reads a C object of `type_name` at `handle` in the worker (`"int"`, `"struct tm"`,
    /// `"char *[4]"`): its value, pointers in it as handles.
    ///
    /// # Errors
    ///
    /// A stale handle, an unknown type, or the worker's fault (a wrong address).
    pub fn read(&self, handle: &Value, type_name: &str) -> Result<Value, Error> {
        let mut held = self.inner.hold()?;
        read_in(&self.inner, &mut held.guard, 0, handle, type_name)
    }

    /// Writes `value` as a C object of `type_name` at `handle` in the worker (a member of a
    /// `z_stream` the worker allocated: `handle.offset(...)` to it): handles in `value` are
    /// the worker's addresses.
    ///
    /// # Errors
    ///
    /// A stale handle, an unknown type, a value of the wrong shape (the worker's check), or
    /// the worker's fault (a wrong address).
    pub fn write(&self, handle: &Value, type_name: &str, value: &Value) -> Result<(), Error> {
        let mut held = self.inner.hold()?;
        write_in(&self.inner, &mut held.guard, 0, handle, type_name, value)
    }

    /// The NUL-terminated string at `handle` in the worker.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    pub fn read_string(&self, handle: &Value) -> Result<Vec<u8>, Error> {
        let mut held = self.inner.hold()?;
        read_string_in(&self.inner, &mut held.guard, 0, handle)
    }

    /// A Rust closure as a C function pointer of the worker's: when the worker's C calls
    /// it (during a call of this library, on any of C's threads), `body` runs here, on the
    /// calling thread, with an [`Invocation`] to read the worker's memory and call its
    /// functions. An error or panic in `body` gives C a zero result and fails the call with
    /// [`ErrorKind::CallbackFailed`](crate::ErrorKind::CallbackFailed).
    ///
    /// # Errors
    ///
    /// A type that is not a function pointer, or one the worker cannot make.
    pub fn callback<B>(
        &self,
        name: &str,
        signature: &str,
        body: B,
    ) -> Result<IsolatedCallback, Error>
    where
        B: Fn(&Invocation<'_>, &[Value]) -> Result<Value, CallbackError> + Send + Sync + 'static,
    {
        self.inner.model.callback_signature(signature)?;
        let id = self.inner.next_callback.fetch_add(1, Ordering::Relaxed);
        lock(&self.inner.replay).callbacks.insert(
            id,
            CallbackEntry {
                name: name.to_owned(),
                signature: signature.to_owned(),
                body: Arc::new(body),
            },
        );
        let callback = IsolatedCallback {
            library: self.clone(),
            id,
        };
        callback.handle()?;
        Ok(callback)
    }

    /// Ends the worker now (the next call starts a new one): for tests, and to drop the
    /// state a library keeps.
    pub fn restart(&self) -> Result<(), Error> {
        let mut held = self.inner.hold()?;
        if let Some(running) = held.guard.worker.take() {
            stop(running);
        }
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let session = self
            .session
            .get_mut()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(running) = session.worker.take() {
            stop(running);
        }
    }
}

/// Asks the worker to leave, then makes sure: no zombie, no stray process.
fn stop(mut running: Running) {
    running.shared.post(to_worker::EXIT, 0, 0);
    let deadline = Instant::now() + Duration::from_millis(200);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = running.child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = running.child.kill();
    let _ = running.child.wait();
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}
