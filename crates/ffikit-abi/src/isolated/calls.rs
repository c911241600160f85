//! Calls: [`IsolatedFunction`] (arguments checked here, pointer arguments' bytes into the
//! transfer area, C's writes copied back), [`IsolatedCallback`] and the [`Invocation`] a
//! callback gets, reads of the worker's memory through handles.

use super::*;

/// Inside a callback: the worker's memory and functions, while the call that led to the
/// callback waits.
pub struct Invocation<'a> {
    pub(super) inner: &'a Inner,
    pub(super) session: RefCell<&'a mut Session>,
    pub(super) number: u64,
    /// Where this side's requests go: after the callback's message.
    pub(super) base: usize,
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

    /// As [`IsolatedLibrary::write`].
    ///
    /// # Errors
    ///
    /// As [`IsolatedLibrary::write`].
    pub fn write(&self, handle: &Value, type_name: &str, value: &Value) -> Result<(), Error> {
        let mut session = self.session.borrow_mut();
        write_in(
            self.inner,
            &mut session,
            self.base,
            handle,
            type_name,
            value,
        )
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

    /// Whether this invocation is one of `library`'s callbacks (a binding that keeps the
    /// invocation for code the callback calls can tell which library it serves).
    pub fn belongs_to(&self, library: &IsolatedLibrary) -> bool {
        std::ptr::eq(Arc::as_ptr(&library.inner), self.inner)
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

pub(super) fn handle_address(
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

pub(super) fn read_in(
    inner: &Inner,
    session: &mut Session,
    base: usize,
    handle: &Value,
    type_name: &str,
) -> Result<Value, Error> {
    check_type(inner, type_name)?;
    let (number, address) = handle_address(session, inner, "read", handle)?;
    let mut encoder = Encoder::default();
    encoder.u64(address as u64).text(type_name);
    let bytes = request(inner, session, number, base, to_worker::READ, &encoder)?;
    Ok(decode_value(inner, number, &bytes)?.0)
}

pub(super) fn write_in(
    inner: &Inner,
    session: &mut Session,
    base: usize,
    handle: &Value,
    type_name: &str,
    value: &Value,
) -> Result<(), Error> {
    check_type(inner, type_name)?;
    let (number, address) = handle_address(session, inner, "write", handle)?;
    if let Some(stale) = stale_handle(value, number) {
        return Err(Error::StaleHandle {
            place: "write".into(),
            handle: stale,
            current: number,
        });
    }
    let mut encoder = Encoder::default();
    encoder.u64(address as u64).text(type_name).value(value);
    request(inner, session, number, base, to_worker::WRITE, &encoder)?;
    Ok(())
}

/// A handle in `value` (a member, an element) of another worker than `number`.
fn stale_handle(value: &Value, number: u64) -> Option<Handle> {
    match value {
        Value::Handle(handle) if handle.worker != number => Some(*handle),
        Value::Struct(members) => members.iter().find_map(|(_, v)| stale_handle(v, number)),
        Value::Array(items) => items.iter().find_map(|v| stale_handle(v, number)),
        _ => None,
    }
}

/// An unknown type is this side's error, found before anything is sent (checked once per
/// name: checking one parses it).
fn check_type(inner: &Inner, type_name: &str) -> Result<(), Error> {
    if !lock(&inner.read_types).contains(type_name) {
        inner.model.new_value(type_name)?;
        lock(&inner.read_types).insert(type_name.to_owned());
    }
    Ok(())
}

pub(super) fn read_string_in(
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
    pub(super) library: IsolatedLibrary,
    pub(super) id: u32,
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
    pub(super) library: IsolatedLibrary,
    pub(super) id: u32,
    /// The declaration bound here at address 0: its checks, never its call.
    pub(super) checker: Function<'static>,
    /// What the checker was made from, to make it again with other variadic types.
    pub(super) signature: Signature,
    pub(super) variadic: Vec<Typed>,
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
pub(super) fn check_pointer(
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
