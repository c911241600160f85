//! The worker process: loads the library, binds and calls its functions as the parent asks,
//! and forwards its C's callbacks to the parent. Everything here runs in the worker, where
//! C's faults can only end the worker.
//!
//! The channel is used by one thread at a time (an exchange lock, re-entrant for the thread
//! holding it); the thread handling a call lets go of it while C runs, so that a callback
//! from C — on this thread or on one of C's own — can talk to the parent meanwhile.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use super::exchange::ExchangeLock;
use super::lock;
use super::shared::{Message, Shared};
use super::wire::{Decoded, Decoder, Encoder, Malformed, to_parent, to_worker};
use crate::call::Function;
use crate::callback::Callback;
use crate::error::Error;
use crate::library::{Library, LoadFlags};
use crate::value::Value;

/// How long the worker spins for the parent's next message before sleeping on it: calls
/// made back to back stay at shared-memory speed.
const SPIN: Duration = Duration::from_micros(200);
/// How often a sleeping worker looks whether its parent is still there.
const SLICE: Duration = Duration::from_millis(100);

/// What the parent passes in the worker's environment.
#[derive(Debug, Clone, Copy)]
pub(super) struct Setup {
    pub fd: i32,
    pub mapped: usize,
    pub parent: libc::pid_t,
}

impl Setup {
    pub fn encode(&self, entry: &str) -> String {
        format!("{},{},{},{entry}", self.fd, self.mapped, self.parent)
    }

    pub fn decode(text: &str) -> Option<(Setup, &str)> {
        let mut parts = text.splitn(4, ',');
        let setup = Setup {
            fd: parts.next()?.parse().ok()?,
            mapped: parts.next()?.parse().ok()?,
            parent: parts.next()?.parse().ok()?,
        };
        Some((setup, parts.next()?))
    }
}

struct Worker {
    exchange: ExchangeLock,
    shared: Mutex<Shared>,
    parent: libc::pid_t,
    library: OnceLock<&'static Library>,
    functions: Mutex<HashMap<u32, Arc<Function<'static>>>>,
    callbacks: Mutex<HashMap<u32, Callback>>,
    /// A C object of each type passed by value so far: copied for each call's argument
    /// (making one from its type's name parses it).
    prototypes: Mutex<HashMap<String, crate::data::CData>>,
    /// Where messages sent while C runs go: after the latest message received.
    top: AtomicUsize,
    /// Calls in progress (a callback outside every call has no parent listening).
    calls: AtomicUsize,
}

static WORKER: OnceLock<Worker> = OnceLock::new();

/// Runs the worker until the parent says to leave or goes away; never returns.
pub(super) fn serve(setup: Setup) -> ! {
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } != setup.parent {
        // The parent died before PR_SET_PDEATHSIG took effect.
        // SAFETY: _exit has no preconditions.
        unsafe { libc::_exit(0) };
    }
    let shared = match Shared::attach(setup.fd, setup.mapped) {
        Ok(shared) => shared,
        Err(error) => {
            eprintln!("ffikit worker: cannot map the shared memory: {error}");
            // SAFETY: as above.
            unsafe { libc::_exit(101) };
        }
    };
    let worker = WORKER.get_or_init(|| Worker {
        exchange: ExchangeLock::default(),
        shared: Mutex::new(shared),
        parent: setup.parent,
        library: OnceLock::new(),
        functions: Mutex::default(),
        callbacks: Mutex::default(),
        prototypes: Mutex::default(),
        top: AtomicUsize::new(0),
        calls: AtomicUsize::new(0),
    });
    worker.exchange.enter();
    loop {
        let message = worker.wait_for_parent();
        worker.handle(message);
    }
}

impl Worker {
    fn wait_for_parent(&self) -> Message {
        let mut shared = lock(&self.shared);
        loop {
            if let Some(message) = shared.receive(SPIN, SLICE) {
                self.top.store(message.end(), Ordering::Relaxed);
                return message;
            }
            // SAFETY: getppid has no preconditions.
            if unsafe { libc::getppid() } != self.parent {
                // SAFETY: _exit has no preconditions.
                unsafe { libc::_exit(0) };
            }
        }
    }

    fn send(&self, at: usize, kind: u32, encoder: &Encoder) {
        let mut shared = lock(&self.shared);
        if let Err(error) = shared.write(at, &encoder.bytes) {
            // The reply does not fit the transfer area: say so instead.
            let mut small = Encoder::default();
            small.error(
                crate::error::ErrorKind::TooLarge,
                &format!(
                    "the worker's answer takes {} bytes, more than the transfer area allows: {error}",
                    encoder.bytes.len()
                ),
            );
            // Not even that fits (the stack of messages reached the end): an empty error,
            // which the parent reports as a broken protocol and ends this worker for.
            let len = match shared.write(at, &small.bytes) {
                Ok(()) => small.bytes.len(),
                Err(_) => 0,
            };
            shared.post(to_parent::ERROR, at.min(shared.capacity()), len);
            return;
        }
        shared.post(kind, at, encoder.bytes.len());
    }

    fn reply(&self, message: Message, outcome: Result<Encoder, Error>) {
        match outcome {
            Ok(encoder) => self.send(message.end(), to_parent::OK, &encoder),
            Err(error) => {
                let mut encoder = Encoder::default();
                encoder.error(error.kind(), &error.to_string());
                self.send(message.end(), to_parent::ERROR, &encoder);
            }
        }
    }

    /// Handles one request (the exchange lock held) and replies.
    fn handle(&self, message: Message) {
        let bytes = match lock(&self.shared).read(message.offset, message.len) {
            Ok(bytes) => bytes,
            Err(error) => return self.reply(message, Err(protocol(error.to_string()))),
        };
        let mut decoder = Decoder::new(&bytes);
        let outcome = match message.kind {
            to_worker::OPEN => self.open(&mut decoder),
            to_worker::CDEF => self.cdef(&mut decoder),
            to_worker::INCLUDE => self.include(&mut decoder),
            to_worker::BIND => self.bind(&mut decoder),
            to_worker::CALL => self.call(&mut decoder),
            to_worker::CALLBACK => self.make_callback(&mut decoder),
            to_worker::READ => self.read(&mut decoder),
            to_worker::READ_STRING => self.read_string(&mut decoder),
            to_worker::WRITE => self.write(&mut decoder),
            // SAFETY: _exit has no preconditions; the parent asked us to leave.
            to_worker::EXIT => unsafe { libc::_exit(0) },
            other => Err(protocol(format!("unexpected message kind {other}"))),
        };
        self.reply(message, outcome);
    }

    fn library(&self) -> Result<&'static Library, Error> {
        self.library
            .get()
            .copied()
            .ok_or_else(|| protocol("no library loaded yet".into()))
    }

    fn open(&self, decoder: &mut Decoder<'_>) -> Result<Encoder, Error> {
        let name = decoder.text().map_err(malformed)?;
        let flags = LoadFlags {
            now: decoder.u8().map_err(malformed)? != 0,
            global: decoder.u8().map_err(malformed)? != 0,
            no_delete: false,
        };
        let library = if name.is_empty() {
            Library::this()
        } else {
            // SAFETY: loading the library in this process is what the worker is for: its
            // initializers can only harm this process, whose faults the parent reports.
            unsafe { Library::open_with(&name, flags) }?
        };
        // The worker lives as long as the library: leaked, so bound functions borrow it
        // for the rest of the process.
        let library: &'static Library = Box::leak(Box::new(library));
        self.library
            .set(library)
            .map_err(|_| protocol("the library is already loaded".into()))?;
        Ok(Encoder::default())
    }

    fn cdef(&self, decoder: &mut Decoder<'_>) -> Result<Encoder, Error> {
        let text = decoder.text().map_err(malformed)?;
        self.library()?.cdef(&text)?;
        Ok(Encoder::default())
    }

    fn include(&self, decoder: &mut Decoder<'_>) -> Result<Encoder, Error> {
        let name = decoder.text().map_err(malformed)?;
        let compiler = decoder.text().map_err(malformed)?;
        let count = decoder.u32().map_err(malformed)?;
        let mut flags = Vec::new();
        for _ in 0..count {
            flags.push(decoder.text().map_err(malformed)?);
        }
        let compiler = (!compiler.is_empty()).then_some(compiler.as_str());
        let header = ffikit_cdecl::Header::from_parts(&name, compiler, &flags)
            .ok_or_else(|| protocol("a header flag the builder does not make".into()))?;
        self.library()?.include(&header)?;
        Ok(Encoder::default())
    }

    fn bind(&self, decoder: &mut Decoder<'_>) -> Result<Encoder, Error> {
        let id = decoder.u32().map_err(malformed)?;
        let by_name = decoder.u8().map_err(malformed)? != 0;
        let text = decoder.text().map_err(malformed)?;
        let count = decoder.u32().map_err(malformed)?;
        let mut types = Vec::new();
        for _ in 0..count {
            types.push(decoder.text().map_err(malformed)?);
        }
        let errno = decoder.u8().map_err(malformed)? != 0;
        let library = self.library()?;
        // SAFETY: the worker binds what the parent declared; a declaration untrue to the
        // symbol can only make this process fault, which the parent reports.
        let mut function = unsafe {
            if by_name {
                library.get(&text)
            } else {
                library.function(&text)
            }
        }?;
        if !types.is_empty() {
            let types: Vec<&str> = types.iter().map(String::as_str).collect();
            function = function.variadic(library, &types)?;
        }
        if errno {
            function = function.capture_errno();
        }
        let mut encoder = Encoder::default();
        encoder.pointer(function.address());
        lock(&self.functions).insert(id, Arc::new(function));
        Ok(encoder)
    }

    /// Makes the decoded values this process's: transfer-area offsets become addresses in
    /// this mapping, C objects are made of their declared type.
    fn finish(&self, decoded: Decoded) -> Result<Value, Error> {
        let base = lock(&self.shared).address_of(0);
        decoded.finish(&mut |part| match part {
            Decoded::Area(offset) => Ok(Value::Pointer(base + offset)),
            Decoded::Pointer(address) => Ok(Value::Pointer(address)),
            Decoded::Data(type_name, bytes) => {
                let mut data = self.object(&type_name)?;
                if data.size() != bytes.len() {
                    return Err(protocol(format!(
                        "a `{type_name}` of {} bytes",
                        bytes.len()
                    )));
                }
                data.storage_bytes_mut()[..bytes.len()].copy_from_slice(&bytes);
                Ok(Value::Data(data))
            }
            _ => unreachable!("finish hands over the parts only"),
        })
    }

    /// A new C object of `type_name`, copied from a prototype made once per type.
    fn object(&self, type_name: &str) -> Result<crate::data::CData, Error> {
        let mut prototypes = lock(&self.prototypes);
        if let Some(prototype) = prototypes.get(type_name) {
            return prototype.try_clone();
        }
        let prototype = self.library()?.new_value(type_name)?;
        let data = prototype.try_clone()?;
        prototypes.insert(type_name.to_owned(), prototype);
        Ok(data)
    }

    fn call(&self, decoder: &mut Decoder<'_>) -> Result<Encoder, Error> {
        let id = decoder.u32().map_err(malformed)?;
        let count = decoder.u32().map_err(malformed)?;
        let mut args = Vec::with_capacity(count.min(64) as usize);
        for _ in 0..count {
            let decoded = decoder.value().map_err(malformed)?;
            args.push(self.finish(decoded)?);
        }
        let function = lock(&self.functions)
            .get(&id)
            .cloned()
            .ok_or_else(|| protocol(format!("no function #{id} is bound")))?;
        // C runs without the exchange lock: its callbacks, on any thread, take it.
        self.calls.fetch_add(1, Ordering::SeqCst);
        let depth = self.exchange.release();
        // SAFETY: calling the library's C is what the worker is for: whatever the
        // arguments, a fault ends only this process, and the parent reports it.
        let result = unsafe { function.call(&args) };
        let errno = function.captures_errno().then(crate::call::last_errno);
        self.exchange.enter_times(depth);
        self.calls.fetch_sub(1, Ordering::SeqCst);
        let value = result?;
        let mut encoder = Encoder::default();
        encoder.value(&value);
        match errno {
            Some(errno) => encoder.u8(1).u32(errno as u32),
            None => encoder.u8(0),
        };
        Ok(encoder)
    }

    fn make_callback(&self, decoder: &mut Decoder<'_>) -> Result<Encoder, Error> {
        let id = decoder.u32().map_err(malformed)?;
        let name = decoder.text().map_err(malformed)?;
        let signature = decoder.text().map_err(malformed)?;
        let callback = self
            .library()?
            .callback(&name, &signature, move |args| forward(id, args))?;
        let address = callback.address().as_address().unwrap_or_default();
        lock(&self.callbacks).insert(id, callback);
        let mut encoder = Encoder::default();
        encoder.pointer(address);
        Ok(encoder)
    }

    fn read(&self, decoder: &mut Decoder<'_>) -> Result<Encoder, Error> {
        let address = decoder.u64().map_err(malformed)? as usize;
        let type_name = decoder.text().map_err(malformed)?;
        let mut data = self.object(&type_name)?;
        // SAFETY: the parent asked to read a `type_name` at this address of ours; a wrong
        // address can only make this process fault, which the parent reports.
        unsafe { data.copy_from(address) };
        let mut encoder = Encoder::default();
        encoder.value(&data.get());
        Ok(encoder)
    }

    fn write(&self, decoder: &mut Decoder<'_>) -> Result<Encoder, Error> {
        let address = decoder.u64().map_err(malformed)? as usize;
        let type_name = decoder.text().map_err(malformed)?;
        let value = decoder.value().map_err(malformed)?;
        let value = self.finish(value)?;
        let mut data = self.object(&type_name)?;
        data.set(&value)?;
        let bytes = data.bytes();
        // SAFETY: the parent asked to write a `type_name` at this address of ours; a wrong
        // address can only make this process fault, which the parent reports.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), address as *mut u8, bytes.len()) };
        Ok(Encoder::default())
    }

    fn read_string(&self, decoder: &mut Decoder<'_>) -> Result<Encoder, Error> {
        let address = decoder.u64().map_err(malformed)? as usize;
        // SAFETY: as for `read`: only this process can fault.
        let bytes = unsafe { crate::read_c_string(address) };
        let mut encoder = Encoder::default();
        encoder.value(&Value::Bytes(bytes));
        Ok(encoder)
    }
}

/// A callback's body: the arguments to the parent, its answer back to C. Requests the
/// parent makes meanwhile (reads, nested calls) are handled here, on this thread.
fn forward(id: u32, args: &[Value]) -> Result<Value, crate::CallbackError> {
    let worker = WORKER.get().ok_or("no worker")?;
    if worker.calls.load(Ordering::SeqCst) == 0 {
        return Err(
            "called when no call of the parent is in progress: an isolated library's callbacks run only during its calls"
                .into(),
        );
    }
    worker.exchange.enter();
    let at = worker.top.load(Ordering::Relaxed);
    let mut encoder = Encoder::default();
    encoder.u32(id).u32(args.len() as u32);
    for arg in args {
        encoder.value(arg);
    }
    worker.send(at, to_parent::CALLBACK_CALL, &encoder);
    let outcome = loop {
        let message = worker.wait_for_parent();
        if message.kind != to_worker::CALLBACK_RETURN {
            worker.handle(message);
            continue;
        }
        let bytes = match lock(&worker.shared).read(message.offset, message.len) {
            Ok(bytes) => bytes,
            Err(error) => break Err(error.to_string().into()),
        };
        let mut decoder = Decoder::new(&bytes);
        break match decoder.u8() {
            Ok(1) => decoder
                .value()
                .map_err(|e| malformed(e).into())
                .and_then(|decoded| worker.finish(decoded).map_err(Into::into)),
            Ok(_) => Err(decoder
                .text()
                .unwrap_or_else(|_| "the parent's callback failed".into())
                .into()),
            Err(e) => Err(malformed(e).into()),
        };
    };
    worker.exchange.exit();
    outcome
}

fn protocol(what: String) -> Error {
    Error::WorkerFailed {
        library: String::new(),
        what,
        source: None,
    }
}

fn malformed(error: Malformed) -> Error {
    protocol(format!("a malformed message: {}", error.0))
}
