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
//! # Safety
//!
//! Nothing here is `unsafe` to use: this process never runs the library's code and never
//! reads the worker's memory except through the copies the protocol makes, checked against
//! the shared file's size (sealed against shrinking). A declaration untrue to its symbol, a
//! wrong handle or a wrong length can make the worker fault — which is an error here.

mod exchange;
mod shared;
mod wire;
mod worker;

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::OsString;
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
use crate::library::{Library, LoadFlags};
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

/// What ended a worker process during a call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkerFault {
    /// Killed by a signal (a segfault, `abort`'s SIGABRT, a CPU limit's SIGXCPU...).
    Signal {
        /// The signal's number.
        number: i32,
        /// Its name (`SIGSEGV`).
        name: &'static str,
    },
    /// C called `exit` (or the worker left otherwise).
    Exit {
        /// The exit status.
        status: i32,
    },
    /// The call ran longer than its limit; the worker was killed.
    Timeout {
        /// The limit.
        after: Duration,
    },
    /// The worker sent something that is not a message of ours; it was killed.
    Protocol(String),
}

impl std::fmt::Display for WorkerFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerFault::Signal { number, name } => {
                write!(f, "was killed by signal {number} ({name})")
            }
            WorkerFault::Exit { status } => write!(f, "exited with status {status}"),
            WorkerFault::Timeout { after } => {
                write!(f, "did not answer within {after:?} and was killed")
            }
            WorkerFault::Protocol(what) => write!(f, "broke the protocol ({what}) and was killed"),
        }
    }
}

fn signal_name(number: i32) -> &'static str {
    match number {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGILL => "SIGILL",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGSYS => "SIGSYS",
        libc::SIGHUP => "SIGHUP",
        libc::SIGALRM => "SIGALRM",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        _ => "a signal",
    }
}

/// How to run an isolated library's worker.
#[derive(Debug, Clone)]
pub struct IsolatedOptions {
    timeout: Option<Duration>,
    address_space: Option<u64>,
    cpu_seconds: Option<u64>,
    max_transfer: usize,
    command: Option<(OsString, Vec<OsString>)>,
    flags: LoadFlags,
}

impl Default for IsolatedOptions {
    fn default() -> Self {
        IsolatedOptions {
            timeout: None,
            address_space: None,
            cpu_seconds: None,
            max_transfer: 1 << 30,
            command: None,
            flags: LoadFlags::default(),
        }
    }
}

impl IsolatedOptions {
    /// The defaults: no time limit, no resource limits, up to 1 GiB in flight per call.
    pub fn new() -> Self {
        IsolatedOptions::default()
    }

    /// Each call (each stretch of C between two messages, callbacks apart) may run this
    /// long; then the worker is killed and the call returns [`WorkerFault::Timeout`].
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// The worker's address-space limit (`RLIMIT_AS`), in bytes. The transfer area
    /// ([`max_transfer`](Self::max_transfer)) counts against it.
    pub fn address_space_limit(mut self, bytes: u64) -> Self {
        self.address_space = Some(bytes);
        self
    }

    /// The worker's CPU-time limit (`RLIMIT_CPU`), in seconds: beyond it, SIGXCPU.
    pub fn cpu_time_limit(mut self, seconds: u64) -> Self {
        self.cpu_seconds = Some(seconds);
        self
    }

    /// The most bytes one call's arguments and results may take in the transfer area (its
    /// address space is reserved in both processes; memory is used only as needed).
    pub fn max_transfer(mut self, bytes: usize) -> Self {
        self.max_transfer = bytes.max(1 << 16);
        self
    }

    /// Starts the worker as `program args...` — a program that calls
    /// [`run_worker_if_requested`] first (an interpreter running the binding's module) —
    /// instead of this program again.
    pub fn worker_command(
        mut self,
        program: impl Into<OsString>,
        args: impl IntoIterator<Item = impl Into<OsString>>,
    ) -> Self {
        self.command = Some((program.into(), args.into_iter().map(Into::into).collect()));
        self
    }

    /// How the worker loads the library (`dlopen`'s flags).
    pub fn load_flags(mut self, flags: LoadFlags) -> Self {
        self.flags = flags;
        self
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

impl Inner {
    fn key(&self) -> usize {
        self as *const Inner as usize
    }

    /// The session, unless this thread holds it already (a callback calling its own
    /// library directly instead of through its [`Invocation`]: that would wait forever).
    fn hold(&self) -> Result<Held<'_>, Error> {
        let key = self.key();
        if HELD.with(|held| held.borrow().contains(&key)) {
            return Err(self.failed(
                "called from inside one of its own callbacks, where the call in progress holds the worker: use the `Invocation` the callback was given",
                None,
            ));
        }
        let guard = lock(&self.session);
        HELD.with(|held| held.borrow_mut().push(key));
        Ok(Held { guard, key })
    }

    fn failed(&self, what: &str, source: Option<std::io::Error>) -> Error {
        Error::WorkerFailed {
            library: self.name.clone(),
            what: what.to_owned(),
            source,
        }
    }

    fn no_worker(&self) -> Error {
        self.failed(
            "no worker process is running (the next call starts one)",
            None,
        )
    }

    /// The running worker, started (and told the declarations) if there is none.
    fn running<'s>(&self, session: &'s mut Session) -> Result<&'s mut Running, Error> {
        if session.worker.is_none() {
            let running = self.start()?;
            let number = running.number;
            session.worker = Some(running);
            let mut encoder = Encoder::default();
            encoder
                .text(&self.name)
                .u8(u8::from(self.options.flags.now))
                .u8(u8::from(self.options.flags.global));
            request(self, session, number, 0, to_worker::OPEN, &encoder)?;
            let declarations = lock(&self.replay).declarations.clone();
            for declaration in declarations {
                let (kind, encoder) = declaration.message();
                request(self, session, number, 0, kind, &encoder)?;
            }
        }
        Ok(session.worker.as_mut().expect("started above"))
    }

    fn start(&self) -> Result<Running, Error> {
        let shared = Shared::create(self.options.max_transfer)
            .map_err(|e| self.failed("cannot make the shared memory", Some(e)))?;
        let setup = worker::Setup {
            fd: shared.raw_fd(),
            mapped: shared.mapped(),
            // SAFETY: getpid has no preconditions.
            parent: unsafe { libc::getpid() },
        };
        let (mut command, entry) = match &self.options.command {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args);
                (command, "explicit")
            }
            None => {
                // This program's file (read from /proc/self/exe: under valgrind, the
                // program's, not valgrind's).
                let program = std::env::current_exe()
                    .unwrap_or_else(|_| std::path::PathBuf::from("/proc/self/exe"));
                let mut command = Command::new(program);
                command.arg0(format!("ffikit-worker: {}", self.name));
                (command, "constructor")
            }
        };
        command
            .env(WORKER_ENV, setup.encode(entry))
            .stdin(Stdio::null());
        let fd = setup.fd;
        let limits = [
            (libc::RLIMIT_AS, self.options.address_space),
            (libc::RLIMIT_CPU, self.options.cpu_seconds),
        ];
        // SAFETY: the closure runs in the child between fork and exec and makes only
        // async-signal-safe system calls (prctl, fcntl, setrlimit), touching no lock or
        // allocation.
        unsafe {
            command.pre_exec(move || {
                // The worker dies with us. (Set here, in the child; the spawning thread is
                // a long-lived one, since the signal follows the thread that forked.)
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The shared memory, inherited across exec (close-on-exec everywhere else).
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                for (resource, limit) in limits {
                    if let Some(limit) = limit {
                        let value = libc::rlimit {
                            rlim_cur: limit as libc::rlim_t,
                            rlim_max: limit as libc::rlim_t,
                        };
                        if libc::setrlimit(resource, &value) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                }
                Ok(())
            })
        };
        let child =
            spawn(command).map_err(|e| self.failed("cannot start the worker process", Some(e)))?;
        Ok(Running {
            child,
            shared,
            number: NEXT_WORKER.fetch_add(1, Ordering::Relaxed),
            bound: HashMap::new(),
            callbacks: HashMap::new(),
        })
    }

    /// Makes sure function `id` is bound in the running worker: the worker's number and
    /// the function's address there.
    /// (`base`: where the request may go — after the messages still in use, inside a
    /// callback.)
    fn bound(&self, session: &mut Session, id: u32, base: usize) -> Result<(u64, usize), Error> {
        let running = self.running(session)?;
        let number = running.number;
        if let Some(&address) = running.bound.get(&id) {
            return Ok((number, address));
        }
        let binding = lock(&self.replay).bindings[id as usize].clone();
        let mut encoder = Encoder::default();
        encoder
            .u32(id)
            .u8(u8::from(binding.by_name))
            .text(&binding.text)
            .u32(binding.variadic.len() as u32);
        for ty in &binding.variadic {
            encoder.text(ty);
        }
        encoder.u8(u8::from(binding.errno));
        let answer = request(self, session, number, base, to_worker::BIND, &encoder)?;
        let address = match decode_value(self, number, &answer)?.0 {
            Value::Handle(handle) => handle.address,
            _ => 0,
        };
        if let Some(running) = session.worker.as_mut() {
            running.bound.insert(id, address);
        }
        Ok((number, address))
    }
}

/// Starts processes from one long-lived thread: `PR_SET_PDEATHSIG` fires when the thread
/// that forked ends, not the process, and callers' threads come and go.
fn spawn(mut command: Command) -> std::io::Result<Child> {
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Option<Mutex<mpsc::Sender<Job>>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (send, receive) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("ffikit-spawner".into())
            .spawn(move || {
                for (mut command, reply) in receive {
                    let _ = reply.send(command.spawn());
                }
            })
            .ok()
            .map(|_| Mutex::new(send))
    });
    // Without a thread of its own (the system refused one), from this thread.
    let Some(spawner) = spawner else {
        return command.spawn();
    };
    let (reply, answer) = mpsc::channel();
    lock(spawner)
        .send((command, reply))
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
    answer
        .recv()
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?
}

/// The worker ended or is made to end: reaped, and the session forgets it.
fn fault(inner: &Inner, session: &mut Session, fault: Option<WorkerFault>) -> Error {
    let Some(mut running) = session.worker.take() else {
        return inner.no_worker();
    };
    let fault = match fault {
        Some(fault) => {
            let _ = running.child.kill();
            let _ = running.child.wait();
            fault
        }
        None => match running.child.wait() {
            Ok(status) => match (status.signal(), status.code()) {
                (Some(number), _) => WorkerFault::Signal {
                    number,
                    name: signal_name(number),
                },
                (None, Some(status)) => WorkerFault::Exit { status },
                (None, None) => WorkerFault::Protocol("no exit status".into()),
            },
            Err(error) => WorkerFault::Protocol(error.to_string()),
        },
    };
    Error::WorkerFault {
        library: inner.name.clone(),
        fault,
    }
}

/// Waits for the worker's next message, watching that it lives and keeps its time limit.
fn receive(inner: &Inner, session: &mut Session, startup: bool) -> Result<Message, Error> {
    let limit = match startup {
        true => Some(inner.options.timeout.map_or(STARTUP, |t| t.max(STARTUP))),
        false => inner.options.timeout,
    };
    let start = Instant::now();
    loop {
        let running = session.worker.as_mut().ok_or_else(|| inner.no_worker())?;
        let slice = match limit {
            Some(limit) => limit.saturating_sub(start.elapsed()).min(LIVENESS_SLICE),
            None => LIVENESS_SLICE,
        };
        if let Some(message) = running.shared.receive(PARENT_SPIN, slice) {
            return Ok(message);
        }
        if let Ok(Some(_)) = running.child.try_wait() {
            return Err(fault(inner, session, None));
        }
        if let Some(limit) = limit
            && start.elapsed() >= limit
        {
            return Err(fault(
                inner,
                session,
                Some(WorkerFault::Timeout { after: limit }),
            ));
        }
    }
}

/// Sends a request written by `encoder` at `base` and waits for its answer, running the
/// worker's callbacks meanwhile. Returns the answer's bytes (an OK message's).
fn request(
    inner: &Inner,
    session: &mut Session,
    number: u64,
    base: usize,
    kind: u32,
    encoder: &Encoder,
) -> Result<Vec<u8>, Error> {
    let at = base.next_multiple_of(16);
    send(inner, session, number, at, kind, &encoder.bytes)?;
    wait_answer(inner, session, number, kind == to_worker::OPEN)
}

fn send(
    inner: &Inner,
    session: &mut Session,
    number: u64,
    at: usize,
    kind: u32,
    bytes: &[u8],
) -> Result<(), Error> {
    let running = current(inner, session, number)?;
    running
        .shared
        .write(at, bytes)
        .map_err(|e| too_large(inner, at + bytes.len(), e))?;
    running.shared.post(kind, at, bytes.len());
    Ok(())
}

fn too_large(inner: &Inner, size: usize, error: std::io::Error) -> Error {
    if error.raw_os_error() == Some(libc::EFBIG) {
        return Error::TooLarge {
            what: "an isolated call's arguments".into(),
            size: size as u64,
            limit_what: "transfers to a worker (IsolatedOptions::max_transfer)",
            limit: inner.options.max_transfer as u64,
        };
    }
    inner.failed("cannot grow the shared memory", Some(error))
}

/// The running worker, if it is still the one numbered `number`.
fn current<'s>(
    inner: &Inner,
    session: &'s mut Session,
    number: u64,
) -> Result<&'s mut Running, Error> {
    match session.worker.as_mut() {
        Some(running) if running.number == number => Ok(running),
        _ => Err(inner.no_worker()),
    }
}

fn wait_answer(
    inner: &Inner,
    session: &mut Session,
    number: u64,
    startup: bool,
) -> Result<Vec<u8>, Error> {
    loop {
        let message = receive(inner, session, startup)?;
        let running = current(inner, session, number)?;
        let bytes = match running.shared.read(message.offset, message.len) {
            Ok(bytes) => bytes,
            Err(error) => {
                return Err(fault(
                    inner,
                    session,
                    Some(WorkerFault::Protocol(error.to_string())),
                ));
            }
        };
        match message.kind {
            to_parent::OK => return Ok(bytes),
            to_parent::ERROR => {
                let (kind, text) = Decoder::new(&bytes)
                    .error()
                    .map_err(|e| fault(inner, session, Some(WorkerFault::Protocol(e.0.into()))))?;
                return Err(Error::Remote {
                    kind,
                    message: text,
                });
            }
            to_parent::CALLBACK_CALL => run_callback(inner, session, number, message, &bytes)?,
            other => {
                return Err(fault(
                    inner,
                    session,
                    Some(WorkerFault::Protocol(format!("message kind {other}"))),
                ));
            }
        }
    }
}

/// Makes the worker's decoded value ours: its addresses handles of worker `number`.
fn finish(inner: &Inner, number: u64, decoded: Decoded) -> Result<Value, Error> {
    decoded.finish(&mut |part| match part {
        Decoded::Pointer(address) => Ok(Value::Handle(Handle {
            worker: number,
            address,
        })),
        Decoded::Data(type_name, bytes) => {
            let mut data = inner.model.new_value(&type_name)?;
            if data.size() != bytes.len() {
                return Err(inner.failed("the worker sent an object of the wrong size", None));
            }
            data.storage_bytes_mut()[..bytes.len()].copy_from_slice(&bytes);
            Ok(Value::Data(data))
        }
        _ => Err(inner.failed("the worker sent a transfer-area reference", None)),
    })
}

fn decode_value(inner: &Inner, number: u64, bytes: &[u8]) -> Result<(Value, usize), Error> {
    let mut decoder = Decoder::new(bytes);
    let decoded = decoder
        .value()
        .map_err(|e| inner.failed(&format!("a malformed answer: {}", e.0), None))?;
    let used = bytes.len() - decoder.remaining();
    Ok((finish(inner, number, decoded)?, used))
}

/// Runs a callback the worker's C called, and answers it.
fn run_callback(
    inner: &Inner,
    session: &mut Session,
    number: u64,
    message: Message,
    bytes: &[u8],
) -> Result<(), Error> {
    let mut decoder = Decoder::new(bytes);
    let protocol = |e: wire::Malformed| WorkerFault::Protocol(e.0.into());
    let parsed = (|| {
        let id = decoder.u32()?;
        let count = decoder.u32()?;
        let mut args = Vec::new();
        for _ in 0..count {
            args.push(decoder.value()?);
        }
        Ok((id, args))
    })();
    let (id, decoded) = parsed.map_err(|e| fault(inner, session, Some(protocol(e))))?;
    let entry = lock(&inner.replay).callbacks.get(&id).cloned();
    let outcome: Result<Value, String> = match entry {
        None => Err(format!("callback #{id} no longer exists")),
        Some(entry) => {
            let args: Result<Vec<Value>, Error> = decoded
                .into_iter()
                .map(|d| finish(inner, number, d))
                .collect();
            match args {
                Err(error) => Err(error.to_string()),
                Ok(args) => {
                    let invocation = Invocation {
                        inner,
                        session: RefCell::new(session),
                        number,
                        base: message.end(),
                    };
                    let result =
                        catch_unwind(AssertUnwindSafe(|| (entry.body)(&invocation, &args)));
                    match result {
                        Ok(Ok(value)) => Ok(value),
                        Ok(Err(error)) => Err(format!("{}: {error}", entry.name)),
                        Err(panic) => Err(format!(
                            "{} panicked: {}",
                            entry.name,
                            crate::callback::panic_message(&*panic)
                        )),
                    }
                }
            }
        }
    };
    let mut encoder = Encoder::default();
    match &outcome {
        Ok(value) => encoder.u8(1).value(value),
        Err(text) => encoder.u8(0).text(text),
    };
    send(
        inner,
        session,
        number,
        message.end(),
        to_worker::CALLBACK_RETURN,
        &encoder.bytes,
    )
}

/// Inside a callback: the worker's memory and functions, while the call that led to the
/// callback waits.
pub struct Invocation<'a> {
    inner: &'a Inner,
    session: RefCell<&'a mut Session>,
    number: u64,
    /// Where this side's requests go: after the callback's message.
    base: usize,
}

impl std::fmt::Debug for Invocation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invocation")
            .field("library", &self.inner.name)
            .field("worker", &self.number)
            .finish_non_exhaustive()
    }
}

impl Invocation<'_> {
    /// As [`IsolatedLibrary::read`].
    ///
    /// # Errors
    ///
    /// As [`IsolatedLibrary::read`].
    pub fn read(&self, handle: &Value, type_name: &str) -> Result<Value, Error> {
        let mut session = self.session.borrow_mut();
        read_in(self.inner, &mut session, self.base, handle, type_name)
    }

    /// As [`IsolatedLibrary::read_string`].
    ///
    /// # Errors
    ///
    /// As [`IsolatedLibrary::read_string`].
    pub fn read_string(&self, handle: &Value) -> Result<Vec<u8>, Error> {
        let mut session = self.session.borrow_mut();
        read_string_in(self.inner, &mut session, self.base, handle)
    }

    /// Calls a function of the same library from inside the callback.
    ///
    /// # Errors
    ///
    /// As [`IsolatedFunction::call`]; a function of another library is refused.
    pub fn call(&self, function: &IsolatedFunction, args: &[Value]) -> Result<Value, Error> {
        if !std::ptr::eq(Arc::as_ptr(&function.library.inner), self.inner) {
            return Err(self.inner.failed(
                "an Invocation calls functions of its own library only",
                None,
            ));
        }
        let mut session = self.session.borrow_mut();
        function.call_in(&mut session, self.base, args, None)
    }
}

fn handle_address(
    session: &Session,
    inner: &Inner,
    place: &str,
    handle: &Value,
) -> Result<(u64, usize), Error> {
    let running = session.worker.as_ref().ok_or_else(|| inner.no_worker())?;
    match handle {
        Value::Handle(h) if h.worker == running.number => Ok((running.number, h.address)),
        Value::Handle(h) => Err(Error::StaleHandle {
            place: place.to_owned(),
            handle: *h,
            current: running.number,
        }),
        Value::Text { address, .. } => Ok((running.number, *address)),
        other => Err(Error::TypeMismatch {
            place: place.to_owned(),
            expected: "a handle of the worker".into(),
            given: other.describe(),
        }),
    }
}

fn read_in(
    inner: &Inner,
    session: &mut Session,
    base: usize,
    handle: &Value,
    type_name: &str,
) -> Result<Value, Error> {
    // Checked here first: an unknown type is this side's error.
    if !lock(&inner.read_types).contains(type_name) {
        inner.model.new_value(type_name)?;
        lock(&inner.read_types).insert(type_name.to_owned());
    }
    let (number, address) = handle_address(session, inner, "read", handle)?;
    let mut encoder = Encoder::default();
    encoder.u64(address as u64).text(type_name);
    let bytes = request(inner, session, number, base, to_worker::READ, &encoder)?;
    Ok(decode_value(inner, number, &bytes)?.0)
}

fn read_string_in(
    inner: &Inner,
    session: &mut Session,
    base: usize,
    handle: &Value,
) -> Result<Vec<u8>, Error> {
    let (number, address) = handle_address(session, inner, "read_string", handle)?;
    let mut encoder = Encoder::default();
    encoder.u64(address as u64);
    let bytes = request(
        inner,
        session,
        number,
        base,
        to_worker::READ_STRING,
        &encoder,
    )?;
    match decode_value(inner, number, &bytes)?.0 {
        Value::Bytes(bytes) => Ok(bytes),
        _ => Err(inner.failed("the worker sent something else than a string", None)),
    }
}

/// A callback made with [`IsolatedLibrary::callback`].
#[derive(Debug)]
pub struct IsolatedCallback {
    library: IsolatedLibrary,
    id: u32,
}

impl IsolatedCallback {
    /// Its function pointer in the current worker, to pass to a function-pointer
    /// parameter (made there first if the worker is new).
    ///
    /// # Errors
    ///
    /// The worker's error making it, or starting a worker.
    pub fn handle(&self) -> Result<Value, Error> {
        let inner = &self.library.inner;
        let mut held = inner.hold()?;
        let running = inner.running(&mut held.guard)?;
        let number = running.number;
        if let Some(&address) = running.callbacks.get(&self.id) {
            return Ok(Value::Handle(Handle {
                worker: number,
                address,
            }));
        }
        let entry = lock(&inner.replay).callbacks[&self.id].clone();
        let mut encoder = Encoder::default();
        encoder
            .u32(self.id)
            .text(&entry.name)
            .text(&entry.signature);
        let bytes = request(
            inner,
            &mut held.guard,
            number,
            0,
            to_worker::CALLBACK,
            &encoder,
        )?;
        let value = decode_value(inner, number, &bytes)?.0;
        let Value::Handle(handle) = value else {
            return Err(inner.failed("the worker made no callback address", None));
        };
        if let Some(running) = held.guard.worker.as_mut() {
            running.callbacks.insert(self.id, handle.address);
        }
        Ok(value)
    }
}

impl Drop for IsolatedCallback {
    fn drop(&mut self) {
        // The worker keeps its side until it ends (C may hold the pointer); calls reaching
        // it from now on fail.
        lock(&self.library.inner.replay).callbacks.remove(&self.id);
    }
}

/// A function of an [`IsolatedLibrary`]. `Send` and `Sync`: calls from several threads take
/// turns on the one worker.
#[derive(Debug)]
pub struct IsolatedFunction {
    library: IsolatedLibrary,
    id: u32,
    /// The declaration bound here at address 0: its checks, never its call.
    checker: Function<'static>,
    /// What the checker was made from, to make it again with other variadic types.
    signature: Signature,
    variadic: Vec<Typed>,
}

/// A pointer argument's transfer: where its copy went, to copy it back.
struct Transfer {
    index: usize,
    offset: usize,
    len: usize,
}

impl IsolatedFunction {
    /// Calls the function in the worker. Arguments are checked here first, exactly as
    /// [`Function::call`] checks them; strings and bytes for pointer parameters are copied
    /// to the worker for the call (C's writes into them are not copied back: use
    /// [`call_mut`](Self::call_mut)); pointer parameters also take the [`Handle`]s the
    /// worker's C returned, and [`IsolatedCallback::handle`]s.
    ///
    /// # Errors
    ///
    /// As [`Function::call`], and [`Error::WorkerFault`] if the worker ended during the
    /// call, [`Error::StaleHandle`] for a handle of an earlier worker.
    pub fn call(&self, args: &[Value]) -> Result<Value, Error> {
        let mut held = self.library.inner.hold()?;
        self.call_in(&mut held.guard, 0, args, None)
    }

    /// [`call`](Self::call), with C's writes into the buffers passed to pointer parameters
    /// — [`Value::Bytes`], and C objects ([`Value::Data`], such as an `int` out-parameter
    /// or a `sqlite3 *` for a `sqlite3 **`) — copied back into `args` after the call.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub fn call_mut(&self, args: &mut [Value]) -> Result<Value, Error> {
        let mut held = self.library.inner.hold()?;
        let mut transfers = Vec::new();
        let value = self.call_in(&mut held.guard, 0, args, Some(&mut transfers))?;
        let running = held
            .guard
            .worker
            .as_mut()
            .ok_or_else(|| self.library.inner.no_worker())?;
        for transfer in transfers {
            let bytes: &mut [u8] = match &mut args[transfer.index] {
                Value::Bytes(bytes) => bytes,
                Value::Data(data) => &mut data.storage_bytes_mut()[..transfer.len],
                _ => continue,
            };
            running
                .shared
                .read_into(transfer.offset, &mut bytes[..transfer.len])
                .map_err(|e| self.library.inner.failed("cannot copy back", Some(e)))?;
        }
        Ok(value)
    }

    /// The function's name.
    pub fn name(&self) -> &str {
        self.checker.name()
    }

    /// Its code address in the current worker, as a handle: to pass it to a
    /// function-pointer parameter there (a C comparator of the library to its sort).
    ///
    /// # Errors
    ///
    /// Starting a worker or binding the function there failed.
    pub fn handle(&self) -> Result<Value, Error> {
        let mut held = self.library.inner.hold()?;
        let (worker, address) = self.library.inner.bound(&mut held.guard, self.id, 0)?;
        Ok(Value::Handle(Handle { worker, address }))
    }

    /// Whether errno is read after each call ([`capture_errno`](Self::capture_errno)).
    pub fn captures_errno(&self) -> bool {
        lock(&self.library.inner.replay).bindings[self.id as usize].errno
    }

    /// The library it belongs to.
    pub fn library(&self) -> &IsolatedLibrary {
        &self.library
    }

    /// The same function, with errno read in the worker right after each call and kept as
    /// [`last_errno`](crate::last_errno) on the calling thread.
    ///
    /// # Errors
    ///
    /// Binding it again in the worker failed.
    pub fn capture_errno(&self) -> Result<IsolatedFunction, Error> {
        let mut binding = lock(&self.library.inner.replay).bindings[self.id as usize].clone();
        binding.errno = true;
        self.library
            .bind(self.signature.clone(), self.variadic.clone(), binding)
    }

    /// The same variadic function with these C types for its variadic arguments.
    ///
    /// # Errors
    ///
    /// As [`Function::variadic`].
    pub fn variadic(&self, types: &[&str]) -> Result<IsolatedFunction, Error> {
        let model = &self.library.inner.model;
        let typed = types
            .iter()
            .map(|text| model.resolve_type(text))
            .collect::<Result<Vec<_>, _>>()?;
        let mut binding = lock(&self.library.inner.replay).bindings[self.id as usize].clone();
        binding.variadic = types.iter().map(|t| (*t).to_owned()).collect();
        self.library.bind(self.signature.clone(), typed, binding)
    }

    fn call_in(
        &self,
        session: &mut Session,
        base: usize,
        args: &[Value],
        mut transfers: Option<&mut Vec<Transfer>>,
    ) -> Result<Value, Error> {
        let inner = &*self.library.inner;
        let (number, _) = inner.bound(session, self.id, base)?;
        // Checked as an in-process call checks them, before anything is sent.
        let mut pointers = Vec::new();
        let copy_back = transfers.is_some();
        self.checker
            .check_isolated(args, &mut |index, param, value| {
                check_pointer(number, &param, value, copy_back)?;
                pointers.push(index);
                Ok(())
            })?;
        // Pointer arguments' bytes first, then the message naming them.
        let mut offset = base.next_multiple_of(16);
        let mut message = Encoder::default();
        message.u32(self.id).u32(args.len() as u32);
        let running = current(inner, session, number)?;
        for (index, value) in args.iter().enumerate() {
            if !pointers.contains(&index) {
                message.value(value);
                continue;
            }
            let (bytes, nul): (&[u8], bool) = match value {
                Value::Str(s) => (s.as_bytes(), true),
                Value::CString(s) => (s.as_bytes(), true),
                Value::Text {
                    bytes: Some(bytes), ..
                } => (bytes, true),
                Value::Bytes(bytes) => (bytes, false),
                Value::Data(data) => (data.bytes(), false),
                Value::Handle(handle) => {
                    message.pointer(handle.address);
                    continue;
                }
                _ => {
                    message.value(&Value::Null);
                    continue;
                }
            };
            let len = bytes.len() + usize::from(nul);
            running
                .shared
                .write(offset, bytes)
                .and_then(|()| match nul {
                    true => running.shared.write(offset + bytes.len(), &[0]),
                    false => Ok(()),
                })
                .map_err(|e| too_large(inner, offset + len, e))?;
            message.area(offset);
            if let (Some(transfers), Value::Bytes(_) | Value::Data(_)) = (transfers.as_mut(), value)
            {
                transfers.push(Transfer {
                    index,
                    offset,
                    len: bytes.len(),
                });
            }
            offset = (offset + len).next_multiple_of(16);
        }
        let answer = request(inner, session, number, offset, to_worker::CALL, &message)?;
        let (value, used) = decode_value(inner, number, &answer)?;
        let mut rest = Decoder::new(&answer[used..]);
        if let (Ok(1), Ok(errno)) = (rest.u8(), rest.u32()) {
            crate::call::set_last_errno(errno as i32);
        }
        Ok(value)
    }
}

/// A pointer argument, checked as [`convert::write`](crate::convert) checks it, for a
/// worker: no address of this process, handles of the current worker only.
fn check_pointer(
    number: u64,
    param: &PointerParam<'_>,
    value: &Value,
    copy_back: bool,
) -> Result<(), Error> {
    let place = || param.place.to_string();
    let is_char = param.pointee.is_char();
    let stringy = is_char || *param.pointee == Pointee::Void;
    let mismatch = |expected: String| Error::TypeMismatch {
        place: place(),
        expected,
        given: value.describe(),
    };
    match value {
        Value::Null | Value::Pointer(0) | Value::Text { bytes: None, .. }
            if is_char && !param.nullable =>
        {
            Err(Error::NullPointer {
                place: place(),
                ty: param.c_name.to_owned(),
            })
        }
        Value::Null | Value::Pointer(0) | Value::Text { bytes: None, .. } => Ok(()),
        Value::Handle(handle) if handle.worker == number => Ok(()),
        Value::Handle(handle) => Err(Error::StaleHandle {
            place: place(),
            handle: *handle,
            current: number,
        }),
        Value::Str(s) if stringy => match s.bytes().position(|b| b == 0) {
            Some(offset) => Err(Error::InteriorNul {
                place: place(),
                offset,
            }),
            None => Ok(()),
        },
        Value::CString(_) | Value::Text { .. } if stringy => Ok(()),
        Value::Bytes(_) => Ok(()),
        Value::Data(_) if copy_back => Ok(()),
        Value::Data(_) => Err(mismatch(format!(
            "bytes, a string, a handle or null for `{}` (pass C objects to pointer parameters through `call_mut`, which copies C's writes back)",
            param.c_name
        ))),
        Value::Pointer(_) => Err(mismatch(format!(
            "a handle of the worker, bytes, a string or null for `{}` (an address in this process means nothing in the worker)",
            param.c_name
        ))),
        _ => Err(mismatch(match is_char {
            true => format!("a string, bytes, a handle or null for `{}`", param.c_name),
            false => format!("a handle, bytes or null for `{}`", param.c_name),
        })),
    }
}

impl crate::library::Library {
    /// [`IsolatedLibrary::open`]: `name` loaded in a worker process of its own, so that
    /// its faults are errors here.
    ///
    /// # Errors
    ///
    /// As [`IsolatedLibrary::open`].
    pub fn open_isolated(name: &str) -> Result<IsolatedLibrary, Error> {
        IsolatedLibrary::open(name)
    }
}
