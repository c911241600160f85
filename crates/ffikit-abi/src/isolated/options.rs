//! What an isolated library's worker runs under ([`IsolatedOptions`]) and what can end it
//! during a call ([`WorkerFault`]).

use std::ffi::OsString;
use std::time::Duration;

use crate::library::LoadFlags;

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

pub(super) fn signal_name(number: i32) -> &'static str {
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
    pub(super) timeout: Option<Duration>,
    pub(super) address_space: Option<u64>,
    pub(super) cpu_seconds: Option<u64>,
    pub(super) max_transfer: usize,
    pub(super) command: Option<(OsString, Vec<OsString>)>,
    pub(super) flags: LoadFlags,
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
