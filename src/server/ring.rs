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
///
/// INVARIANT: the buffers (the provided-buffer ring registered with `uring`, and the memory its
/// entries point into) are freed only when no operation that could use them is outstanding:
/// `Drop for Ring` drops `uring` first, then frees `buffers` if `outstanding` is 0 and leaks
/// them otherwise (`Buffers` has no `Drop`: nothing else frees them). This holds whatever the
/// caller did before: [`finish`](Ring::finish) only makes the leak unlikely.
pub(super) struct Ring {
    /// Dropped by hand, first (`Drop for Ring`).
    uring: ManuallyDrop<IoUring>,
    buffers: Buffers,
    /// Operations queued whose last completion has not been seen (queued in the submission
    /// queue, or backlogged, or in the kernel).
    outstanding: usize,
    /// Entries that found the submission queue full and could not be submitted at once (the
    /// kernel busy with a completion overflow), in order, with the descriptor of a close;
    /// queued before the next wait.
    backlog: VecDeque<(squeue::Entry, Option<RawFd>)>,
    /// Entries put into the submission queue so far; those the kernel has not consumed are the
    /// last `submission().len()` of them.
    queued: u64,
    /// Closes put into the submission queue, oldest first: the count `queued` had before each,
    /// and its descriptor. Dropped from here once the kernel has consumed them (a close it takes
    /// is done); those it never took are closed with `close(2)` when the ring drops.
    closes: VecDeque<(u64, RawFd)>,
}

impl Drop for Ring {
    fn drop(&mut self) {
        // Closes the kernel never took (the ring failed, or the thread ended before it entered
        // the kernel again) would leave their descriptors open for ever. No entry queued before
        // them can act on their numbers now: nothing more is submitted (without `SQPOLL` the
        // kernel consumes entries only inside this thread's `io_uring_enter`).
        let unclosed: Vec<RawFd> = self.unsubmitted_closes().collect();
        let free = self.outstanding == 0;
        // SAFETY: `uring` is dropped once, here, and not used after.
        unsafe { ManuallyDrop::drop(&mut self.uring) };
        if free {
            // SAFETY: no operation is outstanding, so none can use the buffers (the INVARIANT),
            // and the ring they were registered with is gone; they are not used after.
            unsafe { self.buffers.free() };
        }
        for fd in unclosed {
            // SAFETY: the caller of `close` gave the descriptor up to the ring, and the kernel
            // never consumed that close: it is still open, and nothing else owns it.
            unsafe { libc::close(fd) };
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
        let mut buffers = Buffers::new()?;
        // SAFETY: the entries (and the memory they point into) stay valid as long as an
        // operation of this ring can use them: once registered they are owned by the `Ring`
        // made below, which frees them only when no operation is outstanding (its INVARIANT).
        let registered =
            unsafe { uring.submitter().register_buf_ring_with_flags(buffers.ring.as_ptr() as u64, BUFFERS, GROUP, 0) };
        if let Err(e) = registered {
            // SAFETY: not registered: the kernel knows nothing of them, and they are not used after.
            unsafe { buffers.free() };
            return Err(e);
        }
        Ok(Ring {
            uring: ManuallyDrop::new(uring),
            buffers,
            outstanding: 0,
            backlog: VecDeque::new(),
            queued: 0,
            closes: VecDeque::new(),
        })
    }

    /// Hands the queued entries to the kernel now.
    fn submit(&mut self) {
        self.buffers.publish();
        let _ = self.uring.submit();
        self.forget_taken_closes();
    }

    /// The closes the kernel has consumed are done: they are no longer tracked.
    fn forget_taken_closes(&mut self) {
        let taken = self.taken();
        while self.closes.front().is_some_and(|&(at, _)| at < taken) {
            self.closes.pop_front();
        }
    }

    /// How many of the entries queued so far the kernel has consumed.
    fn taken(&mut self) -> u64 {
        self.queued - self.uring.submission().len() as u64
    }

    /// The descriptors of the closes queued that the kernel has not consumed.
    fn unsubmitted_closes(&mut self) -> impl Iterator<Item = RawFd> + '_ {
        let taken = self.taken();
        let queued = self.closes.iter().filter(move |&&(at, _)| at >= taken).map(|&(_, fd)| fd);
        queued.chain(self.backlog.iter().filter_map(|&(_, fd)| fd))
    }

    /// Queues `entry`; a full submission queue is submitted first, and an entry that still
    /// finds no room waits in the backlog.
    /// (`close`: the descriptor `entry` closes.)
    fn push(&mut self, entry: &squeue::Entry, close: Option<RawFd>) {
        self.outstanding += 1;
        if self.backlog.is_empty() && self.try_push(entry, close) {
            return;
        }
        self.backlog.push_back((entry.clone(), close));
        self.flush_backlog();
    }

    fn try_push(&mut self, entry: &squeue::Entry, close: Option<RawFd>) -> bool {
        // SAFETY: every entry points at memory that outlives the operation: a receive at the
        // provided buffers (freed only once no operation is outstanding: the INVARIANT), a send
        // at bytes its caller keeps (`send`'s contract), a poll, an accept, a close or a cancel
        // at nothing.
        let mut pushed = unsafe { self.uring.submission().push(entry) }.is_ok();
        if !pushed {
            // The submission queue is full: hand it to the kernel (with every buffer given back
            // so far, so the receives it holds find them), then try again.
            self.submit();
            // SAFETY: as above.
            pushed = unsafe { self.uring.submission().push(entry) }.is_ok();
        }
        if pushed {
            if let Some(fd) = close {
                self.closes.push_back((self.queued, fd));
            }
            self.queued += 1;
        }
        pushed
    }

    /// Moves backlogged entries into the submission queue while it has room.
    fn flush_backlog(&mut self) {
        while let Some((entry, close)) = self.backlog.pop_front() {
            if !self.try_push(&entry, close) {
                self.backlog.push_front((entry, close));
                break;
            }
        }
    }

    /// Receives from `fd` into provided buffers, one completion per arrival, until cancelled or
    /// ended (end-of-file, an error, no buffer free: a completion without `more`).
    pub fn recv(&mut self, fd: RawFd, tag: u64) {
        let entry = opcode::RecvMulti::new(types::Fd(fd), GROUP).build().user_data(tag);
        self.push(&entry, None);
    }

    /// Accepts connections on listener `fd`, one completion (a new descriptor, non-blocking)
    /// each, until cancelled or ended (an error: a completion without `more`).
    pub fn accept_multishot(&mut self, fd: RawFd, tag: u64) {
        let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        let entry = opcode::AcceptMulti::new(types::Fd(fd)).flags(flags).build().user_data(tag);
        self.push(&entry, None);
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
        self.push(&entry, None);
    }

    /// Closes `fd` (which the caller gives up) once the entries queued before have been taken;
    /// if the kernel never takes it (the ring failed), when the ring drops.
    pub fn close(&mut self, fd: RawFd, tag: u64) {
        let entry = opcode::Close::new(types::Fd(fd)).build().user_data(tag);
        self.push(&entry, Some(fd));
    }

    /// Completes once `fd` can take output (or has failed).
    pub fn writable(&mut self, fd: RawFd, tag: u64) {
        let entry = opcode::PollAdd::new(types::Fd(fd), libc::POLLOUT as u32).build().user_data(tag);
        self.push(&entry, None);
    }

    /// Completes once the peer of socket `fd` has ended its sending (`POLLRDHUP`: its FIN came)
    /// or the socket failed or hung up (`POLLERR`, `POLLHUP`: a reset), with those events as the
    /// result. Unlike a receive it takes no bytes, and unlike a `POLLIN` wait it does not
    /// complete for input the socket already holds.
    pub fn hangup(&mut self, fd: RawFd, tag: u64) {
        let entry = opcode::PollAdd::new(types::Fd(fd), libc::POLLRDHUP as u32).build().user_data(tag);
        self.push(&entry, None);
    }

    /// Completes every time `fd` becomes readable, until cancelled.
    pub fn readable_multishot(&mut self, fd: RawFd, tag: u64) {
        let entry = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32).multi(true).build().user_data(tag);
        self.push(&entry, None);
    }

    /// Cancels the operation tagged `target`; the cancel itself completes with tag `tag`.
    pub fn cancel(&mut self, target: u64, tag: u64) {
        let entry = opcode::AsyncCancel::new(target).build().user_data(tag);
        self.push(&entry, None);
    }

    /// Submits what was queued and waits for one completion at least, or `timeout`.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.flush_backlog();
        // With entries still backlogged, only look at what completed (reaping makes room).
        let timeout = if self.backlog.is_empty() { timeout } else { Some(Duration::ZERO) };
        self.buffers.publish();
        let result = self.enter(timeout);
        self.forget_taken_closes();
        result
    }

    /// Submits what was queued and waits for one completion at least, or `timeout`.
    fn enter(&mut self, timeout: Option<Duration>) -> io::Result<()> {
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
            if let Some(bid) = cqueue::buffer_select(done.flags) {
                // The kernel hands this buffer over until it is given back.
                self.buffers.lend(bid);
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
    /// back, so the buffers can be freed when the ring drops (and the bytes of sends, see
    /// [`leaked`](Ring::leaked)); what completes meanwhile goes to `completed` (an accept may
    /// still hand over a descriptor).
    pub fn finish(&mut self, mut completed: impl FnMut(&Done)) {
        let entry = opcode::AsyncCancel2::new(CancelBuilder::any().all()).build().user_data(0);
        self.push(&entry, None);
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
    }

    /// Operations are outstanding (after [`finish`](Ring::finish): it could not see every one
    /// back): memory they use must not be freed. The ring's own buffers are then leaked as it
    /// drops; the caller leaks what its sends use.
    pub fn leaked(&self) -> bool {
        self.outstanding > 0
    }
}

/// The provided-buffer ring: [`BUFFERS`] entries (page-aligned, shared with the kernel) and the
/// memory they point into. No `Drop`: freed only by [`Buffers::free`] (see `Ring`'s INVARIANT).
///
/// INVARIANT: a buffer is either provided (in the ring, the kernel's to fill) or lent (handed
/// over by a completion, this thread's to read), never both: `lent` marks the lent ones; only a
/// lent buffer is read ([`get`](Buffers::get)) or provided again ([`give_back`](Buffers::give_back)),
/// and giving it back clears its mark. So at most [`BUFFERS`] are in the ring at once.
struct Buffers {
    ring: NonNull<BufRingEntry>,
    memory: NonNull<u8>,
    /// The tail as this thread advanced it; published to the kernel by [`Buffers::publish`].
    tail: u16,
    /// One bit per buffer: lent to this thread.
    lent: [u64; BUFFERS as usize / 64],
}

// SAFETY: `Buffers` owns its two allocations exclusively, as a `Box` does: no other value in the
// process points into them (the kernel does, through the ring that registered them, which moves
// with them in `Ring`), and nothing in it is tied to the thread that made it.
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
        // Every buffer starts lent, and is provided below.
        let mut buffers = Buffers { ring, memory, tail: 0, lent: [u64::MAX; BUFFERS as usize / 64] };
        for bid in 0..BUFFERS {
            buffers.give_back(bid);
        }
        buffers.publish();
        Ok(buffers)
    }

    /// Frees both allocations.
    ///
    /// # Safety
    /// No operation can use the buffers any more (they were never registered, or the ring they
    /// were registered with has nothing outstanding and is gone), and they are not used after.
    unsafe fn free(&mut self) {
        // SAFETY: allocated in `Buffers::new` with these layouts, freed once (the caller's
        // contract), and no operation writes into them any more.
        unsafe {
            alloc::dealloc(self.ring.as_ptr().cast(), ring_layout());
            alloc::dealloc(self.memory.as_ptr(), memory_layout());
        }
    }

    /// The mask of buffer `bid` in its word of `lent`.
    fn mark(&mut self, bid: u16) -> Option<(&mut u64, u64)> {
        let word = self.lent.get_mut(usize::from(bid / 64))?;
        (bid < BUFFERS).then_some((word, 1 << (bid % 64)))
    }

    /// A completion handed buffer `bid` over.
    fn lend(&mut self, bid: u16) {
        if let Some((word, bit)) = self.mark(bid) {
            *word |= bit;
        }
    }

    fn is_lent(&self, bid: u16) -> bool {
        bid < BUFFERS && self.lent.get(usize::from(bid / 64)).is_some_and(|w| w & (1 << (bid % 64)) != 0)
    }

    /// Provides buffer `bid` to the kernel again (published at the next [`publish`](Buffers::publish));
    /// nothing for a buffer not lent (given back already, or never handed over).
    fn give_back(&mut self, bid: u16) {
        let Some((word, bit)) = self.mark(bid) else { return };
        if *word & bit == 0 {
            return;
        }
        *word &= !bit;
        let slot = usize::from(self.tail & (BUFFERS - 1));
        // SAFETY: `bid < BUFFERS` (`mark`), so the offset stays inside the buffers' allocation.
        let addr = unsafe { self.memory.as_ptr().add(usize::from(bid) * BUFFER_SIZE) };
        // SAFETY: `slot < BUFFERS`, inside the ring's allocation. The kernel reads only entries
        // from its head up to the published tail; `bid` was lent, so fewer than `BUFFERS` are
        // provided (the INVARIANT) and the entry at `tail` is none of those.
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

    /// Buffer `bid`'s first `len` bytes, if it is lent (else nothing).
    fn get(&self, bid: u16, len: usize) -> &[u8] {
        if !self.is_lent(bid) {
            return &[];
        }
        // SAFETY: buffer `bid` (below `BUFFERS`) is lent: the kernel handed it over and does not
        // write into it until it is provided again, which only `give_back` does, taking
        // `&mut self`, so not while the returned slice lives; `len` is at most its size.
        unsafe {
            std::slice::from_raw_parts(self.memory.as_ptr().add(usize::from(bid) * BUFFER_SIZE), len.min(BUFFER_SIZE))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A non-blocking pipe: (read end, write end).
    fn pipe() -> (RawFd, RawFd) {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) }, 0);
        (fds[0], fds[1])
    }

    /// Whether every write end of the pipe read at `r` is closed (a read sees end-of-file, not
    /// "nothing yet"), whatever other threads do with descriptor numbers meanwhile.
    fn writer_closed(r: RawFd) -> bool {
        let mut byte = 0u8;
        // SAFETY: one byte into a valid buffer.
        let n = unsafe { libc::read(r, (&raw mut byte).cast(), 1) };
        assert!(n == 0 || io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock);
        n == 0
    }

    fn close(fd: RawFd) {
        // SAFETY: the test owns `fd`.
        unsafe { libc::close(fd) };
    }

    #[test]
    fn closes_the_kernel_never_took_are_closed_when_the_ring_drops() {
        let Ok(mut ring) = Ring::new() else { return }; // (no io_uring here)
        let (r1, w1) = pipe();
        let (r2, w2) = pipe();
        // One close the kernel takes, one still in the submission queue as the ring ends (as
        // when its last wait fails).
        ring.close(w1, 0);
        ring.wait(Some(Duration::ZERO)).unwrap();
        ring.close(w2, 0);
        assert!(!writer_closed(r2), "not submitted yet");
        // A descriptor that may reuse the number the kernel closed: not closed again.
        let (r3, w3) = pipe();
        drop(ring);
        assert!(writer_closed(r1));
        assert!(writer_closed(r2), "the close never submitted is done at the drop");
        assert!(!writer_closed(r3), "a close the kernel took is not made again (w1 {w1}, w3 {w3})");
        for fd in [r1, r2, r3, w3] {
            close(fd);
        }
    }

    #[test]
    fn a_buffer_is_read_and_given_back_only_while_lent() {
        let mut b = Buffers::new().unwrap();
        let provided = b.tail;
        assert_eq!(provided, BUFFERS, "every buffer provided once");
        assert!(b.get(3, 10).is_empty(), "a provided buffer is the kernel's");
        b.give_back(3);
        assert_eq!(b.tail, provided, "nor provided twice");
        b.lend(3);
        assert_eq!(b.get(3, 10).len(), 10);
        b.give_back(3);
        b.give_back(3);
        assert_eq!(b.tail, provided.wrapping_add(1), "given back once");
        assert!(b.get(3, 10).is_empty());
        b.lend(BUFFERS);
        assert!(b.get(BUFFERS, 10).is_empty(), "no such buffer");
        // SAFETY: never registered with a ring.
        unsafe { b.free() };
    }
}
