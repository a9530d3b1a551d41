//! The io_uring backend's ring (feature `io-uring`): one per I/O thread, created on that thread.
//!
//! What goes through the ring: receives (a multishot `IORING_OP_RECV` per connection, into a
//! provided-buffer ring, so a connection waiting for its client holds no buffer), sends of small
//! output (`IORING_OP_SEND` from an outbox slot, see `outbox.rs`; it waits for room itself),
//! waits for a socket to take a file (`POLL_ADD` `POLLOUT`), waits for a client's hang-up while
//! its connection has no receive armed (`POLL_ADD` `POLLRDHUP`), accepts (multishot, unless a
//! connection limit is set: then accepting must be able to stop and leave connections in the
//! backlog), and the readiness of the thread's `epoll` descriptor (a multishot `POLL_ADD`: the
//! waker, and limited listeners, stay with `mio`), and closes of connections (after the entries
//! queued before them, in order). Large sends (a pipelined batch), `sendfile` and `shutdown` are
//! direct calls on the non-blocking socket. So a keep-alive request costs no call of its own,
//! only a share of the `io_uring_enter` that submits the thread's sends and receives and waits
//! for completions.
//!
//! The ring is set up `SINGLE_ISSUER` + `DEFER_TASKRUN` where the kernel has them (6.1): the
//! kernel's completion work runs only inside this thread's `io_uring_enter`, in one batch.

use std::alloc::{self, Layout};
use std::collections::VecDeque;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use io_uring::types::{BufRingEntry, CancelBuilder, SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue, types};

/// Submission queue entries (the completion queue has four times as many; the kernel keeps any
/// overflow on a list of its own and hands it over as room opens).
const SQ_ENTRIES: u32 = 1024;
/// Provided buffers per thread (a power of two) and the size of each: at 1,000 connections a
/// thread can see hundreds of receives complete in one batch, each taking a buffer, and one that
/// finds none ends `ENOBUFS` and is armed again. (Measured against 512 × 4 KiB and 256 × 2 KiB
/// at c1000 and pipeline16: the differences were within run-to-run noise, about ±10%.)
const BUFFERS: u16 = 1024;
const BUFFER_SIZE: usize = 2048;
/// The provided-buffer group's id.
const GROUP: u16 = 0;
/// How long [`Ring::finish`] waits for the kernel to hand back cancelled operations.
const FINISH_WAIT: Duration = Duration::from_secs(1);

/// One completion: the operation's tag, its result (a count or a negated `errno`) and flags.
#[derive(Clone, Copy, Debug)]
pub(super) struct Done {
    pub tag: u64,
    pub result: i32,
    flags: u32,
}

impl Done {
    /// More completions will come for this operation (a multishot one still armed).
    pub fn more(&self) -> bool {
        cqueue::more(self.flags)
    }
}

/// An I/O thread's ring and its provided buffers.
pub(super) struct Ring {
    // Dropped by hand (`Drop for Ring`): the ring first (every operation cancelled), then the
    // buffers those operations could write into — unless operations were still outstanding.
    uring: ManuallyDrop<IoUring>,
    buffers: ManuallyDrop<Buffers>,
    /// Operations queued whose last completion has not been seen.
    outstanding: usize,
    /// Entries that found the submission queue full and could not be submitted at once (the
    /// kernel busy with a completion overflow), in order; queued before the next wait.
    backlog: VecDeque<squeue::Entry>,
    /// `finish` could not see every operation back: the buffers are leaked, not freed.
    leak: bool,
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: each field is dropped once, here, and not used after.
        unsafe {
            ManuallyDrop::drop(&mut self.uring);
            if !self.leak {
                ManuallyDrop::drop(&mut self.buffers);
            }
        }
    }
}

/// Whether this kernel's receives can be multishot (6.0; buffer rings alone came in 5.19).
fn kernel_has_multishot_recv() -> bool {
    // SAFETY: `uname` fills the zeroed struct it is given.
    let mut name: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: a valid, exclusive pointer.
    if unsafe { libc::uname(&mut name) } != 0 {
        return false;
    }
    let release: String = name.release.iter().take_while(|&&c| c != 0).map(|&c| char::from(c as u8)).collect();
    let mut parts = release.split(|c: char| !c.is_ascii_digit()).map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (6, 0)
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring").field("outstanding", &self.outstanding).finish_non_exhaustive()
    }
}

impl Ring {
    /// A ring with its buffer group registered, or why the kernel refused one (`ENOSYS` before
    /// 5.1 or under seccomp, `EPERM` with `io_uring_disabled`, `Unsupported` before 6.0's
    /// multishot receives).
    pub fn new() -> io::Result<Ring> {
        if !kernel_has_multishot_recv() {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "io_uring multishot receives need Linux 6.0"));
        }
        let uring = IoUring::builder()
            .setup_cqsize(SQ_ENTRIES * 4)
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build(SQ_ENTRIES)
            .or_else(|_| IoUring::builder().setup_cqsize(SQ_ENTRIES * 4).setup_coop_taskrun().build(SQ_ENTRIES))
            .or_else(|_| IoUring::builder().setup_cqsize(SQ_ENTRIES * 4).build(SQ_ENTRIES))?;
        if !uring.params().is_feature_nodrop() || !uring.params().is_feature_ext_arg() {
            // Completions could be lost on overflow, or waits could not time out (before 5.11).
            return Err(io::ErrorKind::Unsupported.into());
        }
        let buffers = Buffers::new()?;
        // SAFETY: the entries are valid and live as long as the ring: `buffers` is dropped after
        // `uring` (field order), which unregisters the group when the ring closes.
        unsafe {
            uring.submitter().register_buf_ring_with_flags(buffers.ring.as_ptr() as u64, BUFFERS, GROUP, 0)?;
        }
        Ok(Ring {
            uring: ManuallyDrop::new(uring),
            buffers: ManuallyDrop::new(buffers),
            outstanding: 0,
            backlog: VecDeque::new(),
            leak: false,
        })
    }

    /// Hands the queued entries to the kernel now.
    fn submit(&mut self) {
        self.buffers.publish();
        let _ = self.uring.submit();
    }

    /// Queues `entry`; a full submission queue is submitted first, and an entry that still
    /// finds no room waits in the backlog.
    fn push(&mut self, entry: &squeue::Entry) {
        self.outstanding += 1;
        if self.backlog.is_empty() && self.try_push(entry) {
            return;
        }
        self.backlog.push_back(entry.clone());
        self.flush_backlog();
    }

    fn try_push(&mut self, entry: &squeue::Entry) -> bool {
        // SAFETY: every entry points at memory that outlives the operation: a receive at the
        // provided buffers (owned by the ring), a send at bytes its caller keeps (`send`'s
        // contract), a poll, an accept or a cancel at nothing.
        if unsafe { self.uring.submission().push(entry) }.is_ok() {
            return true;
        }
        // The submission queue is full: hand it to the kernel (with every buffer given back
        // so far, so the receives it holds find them), then try again.
        self.submit();
        // SAFETY: as above.
        unsafe { self.uring.submission().push(entry) }.is_ok()
    }

    /// Moves backlogged entries into the submission queue while it has room.
    fn flush_backlog(&mut self) {
        while let Some(entry) = self.backlog.pop_front() {
            if !self.try_push(&entry) {
                self.backlog.push_front(entry);
                break;
            }
        }
    }

    /// Receives from `fd` into provided buffers, one completion per arrival, until cancelled or
    /// ended (end-of-file, an error, no buffer free: a completion without `more`).
    pub fn recv(&mut self, fd: RawFd, tag: u64) {
        let entry = opcode::RecvMulti::new(types::Fd(fd), GROUP).build().user_data(tag);
        self.push(&entry);
    }

    /// Accepts connections on listener `fd`, one completion (a new descriptor, non-blocking)
    /// each, until cancelled or ended (an error: a completion without `more`).
    pub fn accept_multishot(&mut self, fd: RawFd, tag: u64) {
        let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        let entry = opcode::AcceptMulti::new(types::Fd(fd)).flags(flags).build().user_data(tag);
        self.push(&entry);
    }

    /// Sends `len` bytes at `ptr` on `fd`: completes with the count the kernel took (perhaps
    /// fewer, once it took some and found no room for the rest), waiting for room if there is
    /// none, or with an error.
    ///
    /// # Safety
    /// The `len` bytes at `ptr` stay valid and unchanged until the send's completion is taken
    /// (or [`finish`](Ring::finish) reports it [`leaked`](Ring::leaked)).
    pub unsafe fn send(&mut self, fd: RawFd, ptr: *const u8, len: usize, tag: u64) {
        let len = u32::try_from(len).unwrap_or(1 << 30);
        let entry = opcode::Send::new(types::Fd(fd), ptr, len).flags(libc::MSG_NOSIGNAL).build().user_data(tag);
        self.push(&entry);
    }

    /// Closes `fd` (which the caller gives up) once the entries queued before have been taken.
    pub fn close(&mut self, fd: RawFd, tag: u64) {
        let entry = opcode::Close::new(types::Fd(fd)).build().user_data(tag);
        self.push(&entry);
    }

    /// Completes once `fd` can take output (or has failed).
    pub fn writable(&mut self, fd: RawFd, tag: u64) {
        let entry = opcode::PollAdd::new(types::Fd(fd), libc::POLLOUT as u32).build().user_data(tag);
        self.push(&entry);
    }

    /// Completes once the peer of socket `fd` has ended its sending (`POLLRDHUP`: its FIN came)
    /// or the socket failed or hung up (`POLLERR`, `POLLHUP`: a reset), with those events as the
    /// result. Unlike a receive it takes no bytes, and unlike a `POLLIN` wait it does not
    /// complete for input the socket already holds.
    pub fn hangup(&mut self, fd: RawFd, tag: u64) {
        let entry = opcode::PollAdd::new(types::Fd(fd), libc::POLLRDHUP as u32).build().user_data(tag);
        self.push(&entry);
    }

    /// Completes every time `fd` becomes readable, until cancelled.
    pub fn readable_multishot(&mut self, fd: RawFd, tag: u64) {
        let entry = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32).multi(true).build().user_data(tag);
        self.push(&entry);
    }

    /// Cancels the operation tagged `target`; the cancel itself completes with tag `tag`.
    pub fn cancel(&mut self, target: u64, tag: u64) {
        let entry = opcode::AsyncCancel::new(target).build().user_data(tag);
        self.push(&entry);
    }

    /// Submits what was queued and waits for one completion at least, or `timeout`.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.flush_backlog();
        // With entries still backlogged, only look at what completed (reaping makes room).
        let timeout = if self.backlog.is_empty() { timeout } else { Some(Duration::ZERO) };
        self.buffers.publish();
        let result = match timeout {
            Some(t) => {
                let ts = Timespec::from(t);
                let args = SubmitArgs::new().timespec(&ts);
                self.uring.submitter().submit_with_args(1, &args)
            }
            None => self.uring.submit_and_wait(1),
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)) => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Moves every completion available into `into`.
    pub fn take(&mut self, into: &mut Vec<Done>) {
        for cqe in self.uring.completion() {
            let done = Done { tag: cqe.user_data(), result: cqe.result(), flags: cqe.flags() };
            if !done.more() {
                self.outstanding = self.outstanding.saturating_sub(1);
            }
            into.push(done);
        }
    }

    /// The bytes a receive completion brought (empty for none), and its buffer's id to give back
    /// with [`give_back`](Ring::give_back).
    pub fn received(&self, done: &Done) -> (&[u8], Option<u16>) {
        let Some(bid) = cqueue::buffer_select(done.flags) else { return (&[], None) };
        let len = usize::try_from(done.result).unwrap_or(0).min(BUFFER_SIZE);
        (self.buffers.get(bid, len), Some(bid))
    }

    /// Returns a buffer to the kernel (published at the next [`wait`](Ring::wait)).
    pub fn give_back(&mut self, bid: u16) {
        self.buffers.give_back(bid);
    }

    /// Cancels every operation and waits (a bounded time) until the kernel has handed them all
    /// back, so no receive can still write into the buffers when they are freed; what completes
    /// meanwhile goes to `completed` (an accept may still hand over a descriptor).
    pub fn finish(&mut self, mut completed: impl FnMut(&Done)) {
        let entry = opcode::AsyncCancel2::new(CancelBuilder::any().all()).build().user_data(0);
        self.push(&entry);
        let deadline = Instant::now() + FINISH_WAIT;
        let mut sink = Vec::new();
        while self.outstanding > 0 {
            let now = Instant::now();
            if now >= deadline || self.wait(Some(deadline - now)).is_err() {
                break;
            }
            self.take(&mut sink);
            sink.drain(..).for_each(|d| completed(&d));
        }
        // Operations the kernel has not handed back could still use the buffers.
        self.leak = self.outstanding > 0;
    }

    /// [`finish`](Ring::finish) could not see every operation back: memory they use must not
    /// be freed.
    pub fn leaked(&self) -> bool {
        self.leak
    }
}

/// The provided-buffer ring: [`BUFFERS`] entries (page-aligned, shared with the kernel) and the
/// memory they point into.
struct Buffers {
    ring: NonNull<BufRingEntry>,
    memory: NonNull<u8>,
    /// The tail as this thread advanced it; published to the kernel by [`Buffers::publish`].
    tail: u16,
}

// SAFETY: the buffers are owned by their ring alone, and a ring is used by one thread (the
// worker moves to its thread before the ring is made); the pointers are only an allocation.
unsafe impl Send for Buffers {}

fn ring_layout() -> Layout {
    // A page-aligned array of `BUFFERS` entries (16 bytes each).
    Layout::from_size_align(usize::from(BUFFERS) * std::mem::size_of::<BufRingEntry>(), 4096)
        .unwrap_or_else(|_| Layout::new::<BufRingEntry>())
}

fn memory_layout() -> Layout {
    Layout::from_size_align(usize::from(BUFFERS) * BUFFER_SIZE, 4096).unwrap_or_else(|_| Layout::new::<u8>())
}

impl Buffers {
    fn new() -> io::Result<Buffers> {
        // SAFETY: both layouts have a non-zero size.
        let ring = NonNull::new(unsafe { alloc::alloc_zeroed(ring_layout()) }.cast::<BufRingEntry>());
        // SAFETY: as above.
        let memory = NonNull::new(unsafe { alloc::alloc(memory_layout()) });
        let (Some(ring), Some(memory)) = (ring, memory) else {
            return Err(io::ErrorKind::OutOfMemory.into());
        };
        let mut buffers = Buffers { ring, memory, tail: 0 };
        for bid in 0..BUFFERS {
            buffers.give_back(bid);
        }
        buffers.publish();
        Ok(buffers)
    }

    fn give_back(&mut self, bid: u16) {
        if bid >= BUFFERS {
            return;
        }
        let slot = usize::from(self.tail & (BUFFERS - 1));
        // SAFETY: `bid < BUFFERS`, so the offset stays inside the buffers' allocation.
        let addr = unsafe { self.memory.as_ptr().add(usize::from(bid) * BUFFER_SIZE) };
        // SAFETY: `slot < BUFFERS`, inside the ring's allocation; the kernel reads only entries
        // between its head and the published tail, and this one is past the published tail.
        // The fields are written through raw pointers at their `struct io_uring_buf` offsets
        // (addr u64 at 0, len u32 at 8, bid u16 at 12), never through a reference to the whole
        // entry: entry 0's last field is the tail, which the kernel reads concurrently.
        unsafe {
            let entry = self.ring.as_ptr().add(slot).cast::<u8>();
            entry.cast::<u64>().write(addr as u64);
            entry.add(8).cast::<u32>().write(BUFFER_SIZE as u32);
            entry.add(12).cast::<u16>().write(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the ring's first entry is initialised and its `resv` field is the ring's tail,
        // which the kernel reads; it is written only here, atomically, with release ordering so
        // the entries written before are visible first.
        unsafe {
            let tail = BufRingEntry::tail(self.ring.as_ptr()).cast_mut();
            AtomicU16::from_ptr(tail).store(self.tail, Ordering::Release);
        }
    }

    fn get(&self, bid: u16, len: usize) -> &[u8] {
        if bid >= BUFFERS {
            return &[];
        }
        // SAFETY: buffer `bid` was handed to this thread by a completion and is not given back
        // to the kernel while the returned slice lives (`give_back` takes `&mut self`); `len`
        // is at most its size.
        unsafe {
            std::slice::from_raw_parts(self.memory.as_ptr().add(usize::from(bid) * BUFFER_SIZE), len.min(BUFFER_SIZE))
        }
    }
}

impl Drop for Buffers {
    fn drop(&mut self) {
        // SAFETY: allocated in `Buffers::new` with these layouts; the ring (and with it every
        // operation that could use them) is gone: `Ring::uring` is dropped first.
        unsafe {
            alloc::dealloc(self.ring.as_ptr().cast(), ring_layout());
            alloc::dealloc(self.memory.as_ptr(), memory_layout());
        }
    }
}
