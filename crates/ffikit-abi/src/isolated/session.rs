//! The parent's side of a worker: starting it (from a long-lived spawner thread), telling it
//! the declarations, sending requests and waiting for answers while watching that it lives
//! and keeps its time limit, running the worker's callbacks meanwhile, and reaping it when it
//! ends.

use super::*;

impl Inner {
    pub(super) fn key(&self) -> usize {
        self as *const Inner as usize
    }

    /// The session, unless this thread holds it already (a callback calling its own
    /// library directly instead of through its [`Invocation`]: that would wait forever).
    pub(super) fn hold(&self) -> Result<Held<'_>, Error> {
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

    pub(super) fn failed(&self, what: &str, source: Option<std::io::Error>) -> Error {
        Error::WorkerFailed {
            library: self.name.clone(),
            what: what.to_owned(),
            source,
        }
    }

    pub(super) fn no_worker(&self) -> Error {
        self.failed(
            "no worker process is running (the next call starts one)",
            None,
        )
    }

    /// The running worker, started (and told the declarations) if there is none.
    pub(super) fn running<'s>(&self, session: &'s mut Session) -> Result<&'s mut Running, Error> {
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

    pub(super) fn start(&self) -> Result<Running, Error> {
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
    pub(super) fn bound(
        &self,
        session: &mut Session,
        id: u32,
        base: usize,
    ) -> Result<(u64, usize), Error> {
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
pub(super) fn spawn(mut command: Command) -> std::io::Result<Child> {
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
pub(super) fn fault(inner: &Inner, session: &mut Session, fault: Option<WorkerFault>) -> Error {
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
pub(super) fn receive(
    inner: &Inner,
    session: &mut Session,
    startup: bool,
) -> Result<Message, Error> {
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
pub(super) fn request(
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

pub(super) fn send(
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

pub(super) fn too_large(inner: &Inner, size: usize, error: std::io::Error) -> Error {
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
pub(super) fn current<'s>(
    inner: &Inner,
    session: &'s mut Session,
    number: u64,
) -> Result<&'s mut Running, Error> {
    match session.worker.as_mut() {
        Some(running) if running.number == number => Ok(running),
        _ => Err(inner.no_worker()),
    }
}

pub(super) fn wait_answer(
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
pub(super) fn finish(inner: &Inner, number: u64, decoded: Decoded) -> Result<Value, Error> {
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

pub(super) fn decode_value(
    inner: &Inner,
    number: u64,
    bytes: &[u8],
) -> Result<(Value, usize), Error> {
    let mut decoder = Decoder::new(bytes);
    let decoded = decoder
        .value()
        .map_err(|e| inner.failed(&format!("a malformed answer: {}", e.0), None))?;
    let used = bytes.len() - decoder.remaining();
    Ok((finish(inner, number, decoded)?, used))
}

/// Runs a callback the worker's C called, and answers it.
pub(super) fn run_callback(
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
