//! The memory both processes map: one sealed memfd holding a control page (a mailbox each
//! way, whose sequence numbers are futex words) and, behind it, the transfer area where
//! messages and bulk data go. Nothing is copied through a pipe.
//!
//! A mailbox is posted by writing the message into the transfer area, then its place and
//! kind into the mailbox, then bumping the sequence number; the receiver spins on the
//! sequence number for a while (a call that returns in microseconds costs no system call),
//! then sleeps on it with `FUTEX_WAIT`. The poster only wakes a receiver that said it sleeps.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The control page, before the transfer area.
pub(super) const CONTROL: usize = 4096;
/// The transfer area's size when a worker starts (it grows as messages need).
const INITIAL_AREA: usize = 1 << 20;

/// One direction's mailbox, on a cache line of its own.
#[repr(C, align(64))]
pub(super) struct Mailbox {
    /// Bumped once per message: the futex word.
    seq: AtomicU32,
    /// Non-zero while the receiver sleeps on `seq` (the poster then wakes it).
    sleeping: AtomicU32,
    kind: AtomicU32,
    offset: AtomicU64,
    len: AtomicU64,
}

#[repr(C)]
struct Control {
    to_worker: Mailbox,
    to_parent: Mailbox,
}

/// A message as it arrived: its kind and where its bytes are in the transfer area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Message {
    pub kind: u32,
    pub offset: usize,
    pub len: usize,
}

impl Message {
    /// Where the receiver's own messages go while it handles this one: after it, so that
    /// whatever this message carries (the buffers C is using) stays as it is.
    pub fn end(&self) -> usize {
        (self.offset + self.len).next_multiple_of(16)
    }
}

/// Which side of the channel this process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Parent,
    Worker,
}

/// The mapped memfd.
#[derive(Debug)]
pub(super) struct Shared {
    fd: OwnedFd,
    base: *mut u8,
    /// The whole mapping: the control page and the largest transfer area allowed. Beyond
    /// the file's length it is only address space, never touched.
    mapped: usize,
    /// The file's length as this side last saw it (it only grows: the memfd is sealed
    /// against shrinking).
    file_len: usize,
    side: Side,
    /// The last sequence number received from the other side.
    received: u32,
}

// SAFETY: the mapping is plain shared memory, owned by this value; the parent keeps it
// behind a mutex, the worker behind its channel lock.
unsafe impl Send for Shared {}
// SAFETY: as above: shared references only read the control page's atomics and the base
// address; writes go through `&mut self`.
unsafe impl Sync for Shared {}

fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

impl Shared {
    /// The parent's side: a new memfd (close-on-exec; the worker inherits it through
    /// `inherit` in the child only), sealed against shrinking, mapped.
    pub fn create(max_transfer: usize) -> io::Result<Shared> {
        // SAFETY: a valid NUL-terminated name and flags.
        let fd = check(unsafe {
            libc::memfd_create(
                c"ffikit-isolated".as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        })?;
        // SAFETY: memfd_create returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let file_len = CONTROL + INITIAL_AREA.min(max_transfer);
        // SAFETY: plain system calls on our own descriptor.
        unsafe {
            check(libc::ftruncate(fd.as_raw_fd(), file_len as libc::off_t))?;
            // The worker may grow the file, never shrink it under the parent's reads.
            check(libc::fcntl(
                fd.as_raw_fd(),
                libc::F_ADD_SEALS,
                libc::F_SEAL_SHRINK,
            ))?;
        }
        Shared::map(fd, CONTROL + max_transfer, file_len, Side::Parent)
    }

    /// The worker's side: the inherited memfd, mapped the same size.
    pub fn attach(fd: RawFd, mapped: usize) -> io::Result<Shared> {
        // SAFETY: the parent passed this descriptor for us to own (its number in our
        // environment); it is closed on exec from here on.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: a plain system call on our own descriptor.
        unsafe { check(libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC))? };
        let file_len = file_size(&fd)?;
        Shared::map(fd, mapped, file_len, Side::Worker)
    }

    fn map(fd: OwnedFd, mapped: usize, file_len: usize, side: Side) -> io::Result<Shared> {
        // SAFETY: a new shared mapping of our memfd, at an address the kernel picks.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mapped,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // Both sequence numbers start at 0 in a new memfd: a message the parent posts before
        // the worker maps it is still news to the worker.
        Ok(Shared {
            fd,
            base: base.cast(),
            mapped,
            file_len,
            side,
            received: 0,
        })
    }

    /// The descriptor, for the worker to inherit.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The size each side maps.
    pub fn mapped(&self) -> usize {
        self.mapped
    }

    fn control(&self) -> &Control {
        // SAFETY: the first page is the control page, mapped for as long as `self`; its
        // fields are atomics (any bit pattern is valid, shared access is what they are for).
        unsafe { &*self.base.cast::<Control>() }
    }

    fn inbox(&self) -> &Mailbox {
        match self.side {
            Side::Parent => &self.control().to_parent,
            Side::Worker => &self.control().to_worker,
        }
    }

    fn outbox(&self) -> &Mailbox {
        match self.side {
            Side::Parent => &self.control().to_worker,
            Side::Worker => &self.control().to_parent,
        }
    }

    /// The transfer area's largest size.
    pub fn capacity(&self) -> usize {
        self.mapped - CONTROL
    }

    /// Makes the file cover the transfer area up to `end`.
    ///
    /// # Errors
    ///
    /// `end` beyond the largest transfer area (`FileTooLarge`), or the kernel's refusal.
    pub fn reserve(&mut self, end: usize) -> io::Result<()> {
        if end > self.capacity() {
            return Err(io::Error::from_raw_os_error(libc::EFBIG));
        }
        if CONTROL + end <= self.file_len {
            return Ok(());
        }
        // The other side may have grown it already.
        self.file_len = file_size(&self.fd)?;
        if CONTROL + end <= self.file_len {
            return Ok(());
        }
        let wanted = (CONTROL + end).next_power_of_two().min(self.mapped);
        // SAFETY: a plain system call on our own descriptor.
        unsafe { check(libc::ftruncate(self.fd.as_raw_fd(), wanted as libc::off_t))? };
        self.file_len = wanted;
        Ok(())
    }

    /// Copies `bytes` into the transfer area at `offset`.
    pub fn write(&mut self, offset: usize, bytes: &[u8]) -> io::Result<()> {
        self.reserve(offset + bytes.len())?;
        // SAFETY: the range lies within the file (just reserved) and the mapping; the
        // other process does not touch it while this side holds the turn (the protocol).
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.base.add(CONTROL + offset),
                bytes.len(),
            );
        }
        Ok(())
    }

    /// A copy of `len` bytes of the transfer area at `offset` — only within the file, so a
    /// misbehaving worker's lengths cannot make the parent read beyond it.
    pub fn read(&mut self, offset: usize, len: usize) -> io::Result<Vec<u8>> {
        let mut out = vec![0u8; len];
        self.read_into(offset, &mut out)?;
        Ok(out)
    }

    /// [`read`](Self::read) into a buffer of the caller's.
    pub fn read_into(&mut self, offset: usize, out: &mut [u8]) -> io::Result<()> {
        let end = offset
            .checked_add(out.len())
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
        if CONTROL + end > self.file_len {
            self.file_len = file_size(&self.fd)?;
            if CONTROL + end > self.file_len || end > self.capacity() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a message claims bytes {offset}..{end} beyond the shared area"),
                ));
            }
        }
        // SAFETY: the range lies within the file, which cannot shrink (sealed), and the
        // mapping; the bytes are copied out before anyone looks at them.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.base.add(CONTROL + offset),
                out.as_mut_ptr(),
                out.len(),
            );
        }
        Ok(())
    }

    /// The address of `offset` in this process's mapping (the worker hands it to C).
    pub fn address_of(&self, offset: usize) -> usize {
        self.base as usize + CONTROL + offset
    }

    /// Posts a message of `kind` whose bytes were written at `offset..offset + len`.
    pub fn post(&self, kind: u32, offset: usize, len: usize) {
        let mailbox = self.outbox();
        mailbox.kind.store(kind, Ordering::Relaxed);
        mailbox.offset.store(offset as u64, Ordering::Relaxed);
        mailbox.len.store(len as u64, Ordering::Relaxed);
        // SeqCst, paired with the receiver's store to `sleeping` then load of `seq`: either
        // it sees the new number, or we see it sleeping and wake it (no lost wake-up).
        mailbox.seq.fetch_add(1, Ordering::SeqCst);
        if mailbox.sleeping.load(Ordering::SeqCst) != 0 {
            futex_wake(&mailbox.seq);
        }
    }

    /// Waits for the next message: spins for `spin`, then sleeps in slices of at most
    /// `slice`, returning `None` after each slice without a message so that the caller can
    /// look at the other process and at its deadline.
    pub fn receive(&mut self, spin: Duration, slice: Duration) -> Option<Message> {
        let last = self.received;
        let mailbox = self.inbox();
        let arrived = |mailbox: &Mailbox| {
            let seq = mailbox.seq.load(Ordering::Acquire);
            (seq != last).then(|| {
                (
                    seq,
                    Message {
                        kind: mailbox.kind.load(Ordering::Relaxed),
                        offset: mailbox.offset.load(Ordering::Relaxed) as usize,
                        len: mailbox.len.load(Ordering::Relaxed) as usize,
                    },
                )
            })
        };
        let start = Instant::now();
        let mut spins = 0u32;
        let found = loop {
            if let Some(found) = arrived(mailbox) {
                break Some(found);
            }
            std::hint::spin_loop();
            spins += 1;
            if spins % 64 == 0 && start.elapsed() >= spin {
                mailbox.sleeping.store(1, Ordering::SeqCst);
                let found = match mailbox.seq.load(Ordering::SeqCst) {
                    seq if seq != last => arrived(mailbox),
                    _ => {
                        futex_wait(&mailbox.seq, last, slice);
                        arrived(mailbox)
                    }
                };
                mailbox.sleeping.store(0, Ordering::SeqCst);
                break found;
            }
        };
        let (seq, message) = found?;
        self.received = seq;
        Some(message)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once; nothing borrows it past `self`.
        unsafe { libc::munmap(self.base.cast(), self.mapped) };
    }
}

fn file_size(fd: &OwnedFd) -> io::Result<usize> {
    // SAFETY: fstat writes a `stat` for our own descriptor.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { check(libc::fstat(fd.as_raw_fd(), &mut stat))? };
    Ok(stat.st_size as usize)
}

/// Sleeps while `word` holds `expected`, at most `timeout` (a shared futex: the word is in
/// memory both processes map).
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let timeout = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: FUTEX_WAIT reads the word's 4 bytes (an AtomicU32 we borrow) and the timeout;
    // an early return (EAGAIN, EINTR, ETIMEDOUT) is handled by the caller looking again.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &timeout as *const libc::timespec,
            std::ptr::null::<u32>(),
            0,
        );
    }
}

fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE only uses the word's address.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_goes_both_ways_through_one_mapping() {
        let mut parent = Shared::create(1 << 24).unwrap();
        // The worker's side, in this process: a second mapping of a duplicate descriptor.
        // SAFETY: dup of our own descriptor.
        let dup = unsafe { libc::dup(parent.raw_fd()) };
        let mut worker = Shared::attach(dup, parent.mapped()).unwrap();
        parent.write(0, b"ping").unwrap();
        parent.post(7, 0, 4);
        let message = worker
            .receive(Duration::ZERO, Duration::from_millis(10))
            .unwrap();
        assert_eq!(
            message,
            Message {
                kind: 7,
                offset: 0,
                len: 4
            }
        );
        assert_eq!(worker.read(0, 4).unwrap(), b"ping");
        // The worker grows the file for a large reply; the parent reads it.
        let big = vec![0xa5u8; 3 << 20];
        worker.write(message.end(), &big).unwrap();
        worker.post(8, message.end(), big.len());
        let reply = parent
            .receive(Duration::ZERO, Duration::from_millis(10))
            .unwrap();
        assert_eq!(parent.read(reply.offset, reply.len).unwrap(), big);
        // Nothing more: a slice passes and says so.
        assert_eq!(
            parent.receive(Duration::ZERO, Duration::from_millis(1)),
            None
        );
        // Lengths beyond the file are refused, not read.
        assert!(parent.read(0, 1 << 23).is_err());
        assert!(parent.write(1 << 24, b"x").is_err());
    }
}
