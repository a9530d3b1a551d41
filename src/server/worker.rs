//! One I/O thread: an event loop that owns its listeners, connections, buffers and counters.
//!
//! Readiness rules (edge-triggered, as mio registers): on a readable event a connection is read
//! until `WouldBlock`, or until a read returns less than the buffer (the socket is then empty and
//! a later arrival raises a new edge), unless the peer's half-close was signalled, in which case
//! reading goes on to the end-of-file. `Interrupted` is retried. Spurious events and events for
//! connections already gone are ignored. Listeners are drained with `accept` until `WouldBlock`;
//! out of descriptors or memory, accepting pauses for [`ACCEPT_BACKOFF`] instead of spinning.
//!
//! Buffers: every read lands in one per-thread scratch buffer and every answer in one per-thread
//! output buffer, written with a single `write` per wakeup. A connection keeps bytes of its own
//! only for a partial request or for output the kernel did not take, so an idle keep-alive
//! connection holds no buffer.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use super::dispatch::{Dispatch, Services};
use super::listener;
use super::outbox::Outbox;
use super::ring::{Done, Ring};
use super::timer::{self, Entry, Wheel};
use super::{Backend, Shared};
use crate::app::Handler;
use crate::app::queue::OwedWakes;
use crate::app::queued::{Completion, Message, ReturnPath, Wake};
use crate::app::response::Tail;
use crate::group::{GroupCounters, Routes, UrlGroups};
use crate::h1::conn::OUT_HIGH_WATER;
use crate::h1::date::DateCache;
use crate::h1::encode::CommonHeaders;
use crate::h1::{self, Env, Phase};
use crate::limits::{Limits, Timeouts};
use crate::pipe::BodyPipe;
use crate::stats::WorkerCounters;

/// The waker's token.
pub(super) const WAKER: Token = Token(usize::MAX);
/// Ring operation tags: the kind in the top two bits, then a connection's serial (low 32 bits)
/// and its slab key (below [`TAG_KEYS`]), so a completion for a connection gone (its key reused)
/// is told apart.
const TAG_RECV: u64 = 1 << 62;
const TAG_WRITABLE: u64 = 2 << 62;
/// The thread's `epoll` descriptor became readable (the waker, listeners not in the ring).
const TAG_EPOLL: u64 = 3 << 62;
/// Listener `i` accepted a connection: `TAG_ACCEPT | i`.
const TAG_ACCEPT: u64 = (3 << 62) | (1 << 32);
/// The send in outbox slot `s` completed: `TAG_SEND | s`.
const TAG_SEND: u64 = (3 << 62) | (2 << 32);
/// A cancel's own completion.
const TAG_CANCEL: u64 = 0;
const TAG_KEYS: usize = 1 << 30;

/// A listener's entry in `Worker::listener_addrs`: its port, and its address unless it is a
/// wildcard.
fn listener_addr(addr: std::net::SocketAddr) -> (u16, Option<IpAddr>) {
    (addr.port(), (!addr.ip().is_unspecified()).then_some(addr.ip()))
}

/// The key-and-serial part of a connection's ring tags.
fn conn_tag(key: usize, serial: u64) -> u64 {
    (u64::from(serial as u32) << 30) | (key & (TAG_KEYS - 1)) as u64
}

/// The connection a ring tag names: its key and the low 32 bits of its serial.
fn tag_conn(tag: u64) -> (usize, u32) {
    ((tag as usize) & (TAG_KEYS - 1), (tag >> 30) as u32)
}
/// `Connection::armed` bits: a receive, a wait for room to write, is in the ring.
const ARMED_RECV: u8 = 1;
const ARMED_WRITABLE: u8 = 2;
/// The receive is being cancelled (input held back grew past [`STASH_LIMIT`]).
const ARMED_CANCELLING: u8 = 4;
/// A send is in flight (outbox slot `Connection::send_slot`), queued in the ring or about to be.
const ARMED_SEND: u8 = 8;
/// The send in flight found the client's socket full (the kernel took part of it): its output
/// now waits for the client, and the client's send rate is judged.
const ARMED_STALLED: u8 = 16;
/// The connection's deadline is one set for its send in flight (its phase has none): kept, not
/// moved later by each drive, so a client cannot postpone it by trickling bytes.
const ARMED_SEND_TIMED: u8 = 32;
/// io_uring: output of at least this many bytes (a pipelined batch: 16 of the sample's answers
/// are 10 KiB) is sent at once with a `send` call from the thread's output buffer, still in cache,
/// the call's cost shared by many answers; smaller output (a keep-alive answer) goes through the
/// ring, which saves the call. (Measured at pipeline16, every send through the ring cost 3–9%
/// more CPU per request than direct sends in two of three runs; the differences are near the
/// run-to-run noise.)
const DIRECT_SEND_MIN: usize = 4 * 1024;
/// io_uring: input a connection holds back (its output waits, its body reader is full…) beyond
/// which its multishot receive is cancelled, to be armed again once it wants input.
const STASH_LIMIT: usize = 64 * 1024;
/// Listener `i` has token `LISTENER_BASE + i`; connections have their slab keys, far below.
const LISTENER_BASE: usize = usize::MAX / 2;
/// Size of the per-thread read buffer.
const SCRATCH: usize = 64 * 1024;
/// How long accepting pauses after running out of descriptors or memory.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How long a connection closed by the server keeps reading (and dropping) what the client still
/// sends, so the client reads the last answer instead of a reset.
const LINGER: Duration = Duration::from_secs(2);
/// Bytes dropped while lingering before giving up on the client.
const LINGER_MAX_BYTES: usize = 1024 * 1024;
/// During a graceful stop, how long a connection that has not sent a request yet may take to.
const FRESH_GRACE: Duration = Duration::from_secs(1);
/// How often a stopping thread sweeps its connections.
const DRAIN_TICK: Duration = Duration::from_millis(20);
/// How often accepting is retried while the server is at its connection limit.
const FULL_RETRY: Duration = Duration::from_millis(20);
/// How often a connection whose output waits for its client is checked: it hands the socket what
/// room has opened (writability is signalled only once a third of the send buffer is free, which
/// even a steady reader may take longer than a window to free), then its send rate is judged.
const SEND_RATE_CHECK: Duration = Duration::from_secs(1);
/// The shortest span a waiting client's send rate is judged over: a client that took fewer than
/// `min_send_rate` × window bytes over the last window is closed. The window slides in tenths
/// ([`WINDOW_SLOTS`]), and the first judgement comes one whole window after the output began to
/// wait, so the window is also the grace period, and what the kernels' buffers absorbed at first
/// counts for one window only (an average since the stall began credited a slow reader with
/// megabytes, that is hours).
///
/// A steady reader takes bytes in bursts: its kernel reopens the receive window only once a
/// segment or more is free, so the server cannot see finer progress. A connection's window is
/// therefore the longer of this floor and the time [`WINDOW_SEGMENTS`] of its segments take at
/// the minimum rate ([`window_period`]). The floor keeps a check (1 s) a tenth of the window and
/// bounds how long the kernels' early absorption is credited; a longer one would let a client
/// that reads nothing hold its connection and its unsent output that much longer.
const SEND_RATE_WINDOW: Duration = Duration::from_secs(10);
/// The window spans at least this many segments (`TCP_MAXSEG`, which Linux bounds by half the
/// peer's largest window) at the minimum rate. A reader's kernel reopens its window up to two
/// segments at a time (measured over loopback with a default client: bursts of 95,232 B, its
/// whole window, for a `TCP_MAXSEG` of 47,616 B), so a client reading at twice the minimum takes
/// at least three bursts, 1.5 times what it owes, in every window (below twice, it may not be:
/// measured over loopback at a minimum of 1,500 B/s, a 130 s window, a client reading 3,000 B/s
/// was kept for 420 s, one reading 2,250 B/s dropped after 169 s, 1,000 B/s after 130 s). With a
/// window of one burst (two segments), a client reading at twice the default 150 B/s over
/// loopback was dropped after 640 s (a window held one burst, just short of what it owed).
/// So, at the default 150 B/s: 40 s over Ethernet (1,448 B), 1,270 s over loopback; at
/// 10,000 B/s: 20 s over loopback, 10 s (the floor) for a client with a 4 KiB receive buffer
/// (2,048 B segments) or over Ethernet. A reader whose kernel reopens larger steps (Linux waits
/// for a sixteenth of a large receive buffer) must read proportionally faster to be safe.
const WINDOW_SEGMENTS: u64 = 4;
/// Slots of a [`SendWindow`]: the window slides by this fraction of itself (by one check at the
/// shortest window).
const WINDOW_SLOTS: usize = (SEND_RATE_WINDOW.as_millis() / SEND_RATE_CHECK.as_millis()) as usize;
/// Wheel ticks between two checks.
const CHECK_TICKS: u32 = (SEND_RATE_CHECK.as_millis() / timer::TICK.as_millis()) as u32;

/// Everything a worker is built from.
pub(super) struct Setup<H: ?Sized> {
    pub index: usize,
    pub poll: Poll,
    pub listeners: Vec<std::net::TcpListener>,
    pub handler: Option<Arc<H>>,
    pub routes: Option<Arc<Routes>>,
    pub waker: Arc<mio::Waker>,
    pub shared: Arc<Shared>,
    pub counters: Arc<[WorkerCounters]>,
    pub limits: Limits,
    pub timeouts: Timeouts,
    pub shutdown_timeout: Duration,
    /// Serve answers owed to a client that half-closed (see `ServerBuilder::half_close`).
    pub half_close: bool,
}

/// A graceful stop in progress.
#[derive(Clone, Copy, Debug)]
struct Draining {
    started: Instant,
    deadline: Instant,
}

/// One I/O thread's state.
pub(super) struct Worker<H: ?Sized> {
    poll: Poll,
    listeners: Vec<TcpListener>,
    /// Per listener: its port, and its address when specific (then it is every connection's
    /// local address, no `getsockname` needed).
    listener_addrs: Vec<(u16, Option<IpAddr>)>,
    conns: Slab<Connection>,
    handler: Option<Arc<H>>,
    routes: Option<Arc<Routes>>,
    /// This thread's copy of the routing table and its generation.
    table: Option<Arc<UrlGroups>>,
    table_generation: u64,
    completions: mpsc::Receiver<Completion>,
    /// Messages taken in one wakeup (kept to reuse its capacity).
    batch: Vec<Completion>,
    /// Shared by every queued request's handle (one reference count per request, not three).
    return_path: Arc<ReturnPath>,
    /// Receivers to wake for requests queued in this pass (fired at its end).
    wakes: OwedWakes,
    shared: Arc<Shared>,
    counters: Arc<[WorkerCounters]>,
    index: usize,
    limits: Limits,
    timeouts: Timeouts,
    shutdown_timeout: Duration,
    half_close: bool,
    date: DateCache,
    /// When the next second begins on the wall clock: the `Date` text changes then.
    next_date_at: Instant,
    common: CommonHeaders,
    scratch: Box<[u8]>,
    out: Vec<u8>,
    accept_paused_until: Option<Instant>,
    /// Connections lingering after a server-side close, oldest first, with their serial numbers
    /// (a slab key may be reused by then).
    lingering: VecDeque<(usize, u64, Instant)>,
    draining: Option<Draining>,
    next_serial: u64,
    /// Connection deadlines, and the entries found due in one pass (kept to reuse its capacity).
    wheel: Wheel,
    due: Vec<Entry>,
    /// The wheel tick of the current loop iteration.
    now_tick: u32,
    /// The io_uring backend's ring; `None`: epoll.
    ring: Option<Ring>,
    /// Completions taken in one pass (kept to reuse its capacity).
    done: Vec<Done>,
    /// io_uring without a connection limit: which listeners have a multishot accept armed.
    accept_armed: Vec<bool>,
    /// io_uring: the output of sends in flight.
    outbox: Outbox,
}

impl<H: ?Sized> Drop for Worker<H> {
    /// Ends the ring before anything it may still use is freed (also when the loop unwinds):
    /// every operation is cancelled and waited for (bounded), and if some did not come back, the
    /// bytes of sends in flight are leaked rather than freed under the kernel.
    fn drop(&mut self) {
        if let Some(ring) = &mut self.ring {
            // A connection an accept still handed over is closed (its client sees the close).
            ring.finish(|d| {
                if d.tag & (TAG_ACCEPT | TAG_SEND) == TAG_ACCEPT && d.result >= 0 {
                    // SAFETY: the kernel just created this descriptor for us; nothing else owns it.
                    drop(unsafe { std::os::fd::OwnedFd::from_raw_fd(d.result) });
                }
            });
            if ring.leaked() {
                self.outbox.leak();
            }
        }
    }
}

/// What to do with a connection after driving it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Keep,
    Close,
    Linger,
}

/// One connection: its socket, protocol state, and the bytes it could not hand on yet.
struct Connection {
    stream: TcpStream,
    h1: h1::Conn,
    /// Input not consumed yet: a partial request, or requests held back while output drains.
    inbuf: Vec<u8>,
    /// `inbuf` may hold complete requests (processing stopped at the output high-water mark).
    inbuf_ready: bool,
    /// Output the kernel has not taken yet, from `out_pos`.
    outbuf: Vec<u8>,
    out_pos: usize,
    /// Responses encoded but not yet fully handed to the kernel.
    unsent: u32,
    /// The peer has finished sending.
    eof: bool,
    /// Answers owed when the peer's end-of-file arrives are still sent (`ServerBuilder::half_close`).
    half_close: bool,
    /// `Some(deadline)` once the server has closed its side and only drops reads.
    linger_until: Option<Instant>,
    lingered_bytes: u32,
    serial: u64,
    key: usize,
    /// The listener's port and the connection's local address (found lazily on wildcard listeners).
    port: u16,
    local_ip: Option<IpAddr>,
    /// Shared with this connection's queued requests; set when it closes.
    disconnected: Option<Arc<AtomicBool>>,
    /// The body of the queued request streaming now.
    body_pipe: Option<Arc<BodyPipe>>,
    /// The URL group this connection is counted in.
    group: Option<Arc<GroupCounters>>,
    /// An answer's body being sent after `outbuf` and before anything else: a file (with
    /// `sendfile`) or a stream an application thread writes.
    tail: Option<Tail>,
    /// Timer state (wheel ticks; 0: none): the current deadline and the tick of the live wheel
    /// entry; the phase last seen, since when, and at which request.
    deadline: u32,
    armed_at: u32,
    phase: Phase,
    phase_since: u32,
    phase_served: u32,
    /// While output waits for the client (and there is a `min_send_rate`): what it took, per
    /// check. Boxed: only a connection that also holds unsent output (or a file tail) has one.
    stall: Option<Box<SendWindow>>,
    /// io_uring: the operations in the ring for this connection (`ARMED_*`).
    armed: u8,
    /// io_uring: the outbox slot of the send in flight (with `ARMED_SEND`).
    send_slot: u32,
}

/// What a client took from a connection whose output waits for it: bytes per slot, over its
/// last window (a ring of [`WINDOW_SLOTS`] slots).
#[derive(Debug)]
struct SendWindow {
    /// The wheel tick the wait began; checks are due every [`CHECK_TICKS`] from it.
    since: u32,
    /// The tick of the next check (set by the last one, so an event on a check's tick does not
    /// skip it).
    next: u32,
    /// Ticks per slot (a whole number of checks): the window over [`WINDOW_SLOTS`].
    period: u32,
    /// Slots ended (recorded in `slots`) so far.
    ended: u32,
    /// Bytes taken in the slot in progress.
    current: u32,
    /// Bytes taken in each of the last ended slots, slot `p` at `p % WINDOW_SLOTS` (saturating:
    /// 4 GiB per slot is more than any minimum rate asks of one).
    slots: [u32; WINDOW_SLOTS],
}

/// Ticks per slot of the send-rate window of a connection whose segments are `mss` bytes, at
/// `rate` bytes per second: the window is [`SEND_RATE_WINDOW`], or the time [`WINDOW_SEGMENTS`]
/// take at `rate` when that is longer, rounded up to whole checks per slot.
fn window_period(mss: u32, rate: u64) -> u32 {
    let tick_ms = timer::TICK.as_millis() as u64;
    let segments_ms = (u64::from(mss) * WINDOW_SEGMENTS * 1000).div_ceil(rate.max(1));
    let window_ms = segments_ms.max(SEND_RATE_WINDOW.as_millis() as u64);
    let checks = window_ms.div_ceil(WINDOW_SLOTS as u64 * u64::from(CHECK_TICKS) * tick_ms);
    u32::try_from(checks).unwrap_or(u32::MAX).saturating_mul(CHECK_TICKS)
}

impl SendWindow {
    fn new(since: u32, period: u32) -> Self {
        let next = since.saturating_add(CHECK_TICKS);
        SendWindow { since, next, period: period.max(1), ended: 0, current: 0, slots: [0; WINDOW_SLOTS] }
    }

    /// The client took `n` more bytes.
    fn took(&mut self, n: usize) {
        self.current = self.current.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
    }

    /// The window's length.
    fn length(&self) -> Duration {
        timer::TICK.saturating_mul(self.period.saturating_mul(WINDOW_SLOTS as u32))
    }

    /// A check at `now_tick`: schedules the next one, and ends every slot over by now (the bytes
    /// taken so far count to the latest one); once a whole window has ended, the bytes taken
    /// during the last one.
    fn roll(&mut self, now_tick: u32) -> Option<u64> {
        let checks = now_tick.saturating_sub(self.since) / CHECK_TICKS;
        self.next = self.since.saturating_add(checks.saturating_add(1).saturating_mul(CHECK_TICKS));
        let over = now_tick.saturating_sub(self.since) / self.period;
        if over > self.ended {
            // A late check (a busy loop) ends several slots at once: the earlier ones took
            // nothing (only the last window's are kept), the latest all that came.
            let current = std::mem::take(&mut self.current);
            for p in self.ended.max(over.saturating_sub(WINDOW_SLOTS as u32))..over {
                if let Some(slot) = self.slots.get_mut(p as usize % WINDOW_SLOTS) {
                    *slot = if p + 1 == over { current } else { 0 };
                }
            }
            self.ended = over;
        }
        (self.ended as usize >= WINDOW_SLOTS).then(|| self.slots.iter().copied().map(u64::from).sum())
    }
}

impl Connection {
    fn is_idle(&self) -> bool {
        self.inbuf.is_empty()
            && self.outbuf.is_empty()
            && self.armed & ARMED_SEND == 0
            && self.h1.is_between_requests()
            && !self.h1.has_in_flight()
    }
}

impl<H: Handler + ?Sized> Worker<H> {
    pub(super) fn new(setup: Setup<H>) -> io::Result<Self> {
        let mut listeners = Vec::new();
        let mut listener_addrs = Vec::new();
        for (i, l) in setup.listeners.into_iter().enumerate() {
            let addr = l.local_addr()?;
            listener_addrs.push(listener_addr(addr));
            let mut l = TcpListener::from_std(l);
            setup.poll.registry().register(&mut l, Token(LISTENER_BASE + i), Interest::READABLE)?;
            listeners.push(l);
        }
        let date = DateCache::new(SystemTime::now());
        let common = CommonHeaders::new(date.as_bytes());
        let (tx, completions) = mpsc::channel();
        let table = setup.routes.as_ref().map(|r| r.load());
        let table_generation = setup.routes.as_ref().map_or(0, |r| r.generation());
        Ok(Worker {
            poll: setup.poll,
            listeners,
            listener_addrs,
            conns: Slab::with_capacity(1024),
            handler: setup.handler,
            routes: setup.routes,
            table,
            table_generation,
            completions,
            batch: Vec::new(),
            return_path: Arc::new(ReturnPath { tx, waker: setup.waker, wake_pending: Arc::default() }),
            wakes: OwedWakes::default(),
            shared: setup.shared,
            counters: setup.counters,
            index: setup.index,
            limits: setup.limits,
            timeouts: setup.timeouts,
            shutdown_timeout: setup.shutdown_timeout,
            half_close: setup.half_close,
            date,
            next_date_at: Instant::now(),
            common,
            scratch: vec![0u8; SCRATCH].into_boxed_slice(),
            out: Vec::with_capacity(SCRATCH),
            accept_paused_until: None,
            lingering: VecDeque::new(),
            draining: None,
            next_serial: 0,
            wheel: Wheel::new(Instant::now()),
            due: Vec::new(),
            now_tick: 1,
            ring: None,
            done: Vec::new(),
            accept_armed: Vec::new(),
            outbox: Outbox::default(),
        })
    }

    fn counters(&self) -> &WorkerCounters {
        &self.counters[self.index]
    }

    /// Sets up `backend` on this thread (the one that will submit to a ring) and tells `ready`
    /// which it got.
    fn start_backend(&mut self, backend: Backend) -> io::Result<Backend> {
        let ring = match backend {
            Backend::Epoll => return Ok(Backend::Epoll),
            Backend::IoUring => Ring::new()?,
            Backend::Auto => match Ring::new() {
                Ok(ring) => ring,
                Err(_) => return Ok(Backend::Epoll),
            },
        };
        let ring = self.ring.insert(ring);
        // The waker stays registered with `mio`; the ring reports when its epoll descriptor has
        // events.
        ring.readable_multishot(self.poll.as_raw_fd(), TAG_EPOLL);
        if self.limits.max_connections.is_none() {
            // Without a connection limit accepting never has to stop: the listeners accept
            // through the ring (no `epoll_wait` and `accept4` per connection).
            for l in &mut self.listeners {
                let _ = self.poll.registry().deregister(l);
            }
            self.accept_armed = vec![false; self.listeners.len()];
            self.arm_accepts();
        }
        Ok(Backend::IoUring)
    }

    /// io_uring: arms a multishot accept on every listener that has none (not while accepting
    /// is paused or the server stops).
    fn arm_accepts(&mut self) {
        // With a connection limit, listeners stay with `mio` (see `start_backend`).
        if self.limits.max_connections.is_some() || self.accept_paused_until.is_some() || self.draining.is_some() {
            return;
        }
        let Some(ring) = &mut self.ring else { return };
        for (i, (l, armed)) in self.listeners.iter().zip(&mut self.accept_armed).enumerate() {
            if !*armed {
                ring.accept_multishot(l.as_raw_fd(), TAG_ACCEPT | i as u64);
                *armed = true;
            }
        }
    }

    /// Takes the listeners bound for this thread while serving (a prefix on a new port): on
    /// `epoll`, or in the ring as the others are. Dropped (closed) once the server stops.
    fn adopt_listeners(&mut self) {
        // In the ring as the listeners of `start_backend` are, else with `mio`.
        let in_ring = self.ring.is_some() && self.limits.max_connections.is_none();
        for l in self.shared.take_adopted(self.index) {
            if self.draining.is_some() {
                continue;
            }
            let Ok(addr) = l.local_addr() else { continue };
            let i = self.listeners.len();
            let mut l = TcpListener::from_std(l);
            if !in_ring && self.poll.registry().register(&mut l, Token(LISTENER_BASE + i), Interest::READABLE).is_err()
            {
                continue;
            }
            self.listeners.push(l);
            self.listener_addrs.push(listener_addr(addr));
            if in_ring {
                self.accept_armed.push(false);
            }
        }
        self.arm_accepts();
    }

    /// Listener `i` accepted a connection through the ring (or failed to).
    fn on_accept(&mut self, i: usize, d: &Done, now: Instant) {
        if !d.more()
            && let Some(armed) = self.accept_armed.get_mut(i)
        {
            *armed = false;
        }
        if d.result >= 0 {
            // SAFETY: the kernel just created this descriptor for us; nothing else owns it.
            let stream = unsafe { TcpStream::from_raw_fd(d.result) };
            if self.draining.is_some() && self.listeners.is_empty() {
                return; // accepted as the listeners closed: dropped (closed) at once
            }
            let (port, ip) = self.listener_addrs.get(i).copied().unwrap_or((0, None));
            self.add_connection(stream, port, ip);
        } else if !matches!(-d.result, libc::ECANCELED | libc::EINTR | libc::EAGAIN)
            && !listener::is_transient(&io::Error::from_raw_os_error(-d.result))
        {
            // Out of descriptors or memory (or an unknown failure): back off, never spin.
            self.accept_paused_until = Some(now + ACCEPT_BACKOFF);
        }
        if !d.more() {
            self.arm_accepts();
        }
    }

    /// Runs until a graceful stop completes.
    pub(super) fn run(mut self, backend: Backend, ready: mpsc::Sender<io::Result<Backend>>) {
        match self.start_backend(backend) {
            Ok(b) => {
                let _ = ready.send(Ok(b));
            }
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        }
        drop(ready);
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self.next_timeout(Instant::now());
            if let Some(ring) = &mut self.ring {
                if ring.wait(timeout).is_err() {
                    break;
                }
            } else if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // The event queue itself failed: nothing more can be served by this thread.
                break;
            }
            let now = Instant::now();
            if now >= self.next_date_at {
                // The wall clock is read once a second, at its turn, not on every wakeup.
                let wall = SystemTime::now();
                self.date.update(wall);
                self.common.set_date(self.date.as_bytes());
                let into_second = wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
                self.next_date_at = now + Duration::from_nanos(1_000_000_000 - u64::from(into_second));
            }
            self.now_tick = self.wheel.tick_of(now);
            let generation = self.routes.as_ref().map(|r| r.generation());
            if let Some(generation) = generation
                && generation != self.table_generation
            {
                self.table_generation = generation;
                // Listeners first: the table loaded after them has the prefixes they serve.
                self.adopt_listeners();
                self.table = self.routes.as_ref().map(|r| r.load());
            }
            if self.ring.is_some() {
                self.on_ring(&mut events, now);
            } else {
                self.on_events(&events, now);
            }
            if self.accept_paused_until.is_some_and(|t| now >= t) {
                self.accept_paused_until = None;
                for i in 0..self.listeners.len() {
                    self.accept(i, now);
                }
                self.arm_accepts();
            }
            self.expire_lingering(now);
            self.expire_timers(now);
            // The pass has queued all it read: now the receivers are woken, once per burst.
            self.wakes.fire();
            if self.draining.is_none() && self.shared.is_stopping() {
                self.begin_drain(now);
            }
            if let Some(d) = self.draining {
                self.sweep_draining(d, now);
                if self.conns.is_empty() || now >= d.deadline {
                    break;
                }
            }
        }
        self.shared.close_adoption(self.index);
        let open = self.conns.len() as u64;
        self.counters().current_connections.sub(open);
        for (_, c) in &self.conns {
            if let Some(group) = &c.group {
                group.leave();
            }
        }
        if self.limits.max_connections.is_some() {
            for _ in 0..open {
                self.shared.release_place();
            }
        }
        // (`Drop for Worker` ends the ring.)
    }

    /// What `epoll` reported.
    fn on_events(&mut self, events: &Events, now: Instant) {
        for event in events.iter() {
            match event.token() {
                WAKER => self.on_completions(now),
                Token(t) if t >= LISTENER_BASE => self.accept(t - LISTENER_BASE, now),
                Token(key) => self.on_conn_event(key, event.is_read_closed(), now),
            }
        }
    }

    /// What the ring completed, in order.
    fn on_ring(&mut self, events: &mut Events, now: Instant) {
        let mut done = std::mem::take(&mut self.done);
        if let Some(ring) = &mut self.ring {
            ring.take(&mut done);
        }
        for d in &done {
            match d.tag & (3 << 62) {
                TAG_RECV => self.on_recv(d, now),
                TAG_WRITABLE => self.on_writable(d, now),
                TAG_EPOLL if d.tag & TAG_SEND == TAG_SEND => self.on_send((d.tag & 0xFFFF_FFFF) as u32, d, now),
                TAG_EPOLL if d.tag & TAG_ACCEPT == TAG_ACCEPT => self.on_accept((d.tag & 0xFFFF_FFFF) as usize, d, now),
                TAG_EPOLL => {
                    if !d.more()
                        && let Some(ring) = &mut self.ring
                    {
                        // The multishot poll ended (an overflow, say): arm it again.
                        ring.readable_multishot(self.poll.as_raw_fd(), TAG_EPOLL);
                    }
                    // Every event that is there: edge-triggered registrations report each once.
                    loop {
                        match self.poll.poll(events, Some(Duration::ZERO)) {
                            Ok(()) => {}
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(_) => break,
                        }
                        self.on_events(events, now);
                        if events.iter().count() < events.capacity() {
                            break;
                        }
                    }
                }
                _ => {} // a cancel's own completion
            }
        }
        done.clear();
        self.done = done;
    }

    /// A receive completed: the bytes go to the connection (or are dropped, lingering), and the
    /// buffer back to the ring.
    fn on_recv(&mut self, d: &Done, now: Instant) {
        let (key, serial) = tag_conn(d.tag);
        let Some(ring) = &self.ring else { return };
        let (bytes, bid) = ring.received(d);
        let verdict = match self.conns.get_mut(key) {
            Some(c) if c.serial as u32 == serial && c.armed & ARMED_RECV != 0 => {
                if !d.more() {
                    c.armed &= !(ARMED_RECV | ARMED_CANCELLING);
                }
                Some(if d.result < 0 {
                    match -d.result {
                        // No buffer was free, a signal, or our cancel: receive again when wanted.
                        libc::ENOBUFS | libc::EINTR | libc::EAGAIN | libc::ECANCELED => Verdict::Keep,
                        _ => Verdict::Close,
                    }
                } else if c.linger_until.is_some() {
                    if bytes.is_empty() { Verdict::Close } else { c.lingered(bytes.len()) }
                } else {
                    if bytes.is_empty() {
                        c.eof = true;
                    }
                    let env = Env { common: &self.common, limits: &self.limits, draining: self.draining.is_some() };
                    let services =
                        services(&self.handler, &self.table, &self.return_path, &self.wakes, self.index, now);
                    let counters = &self.counters[self.index];
                    let input = Input::Ring((!bytes.is_empty()).then_some(bytes));
                    drive(c, input, &mut self.scratch, &mut self.out, &mut self.outbox, &env, &services, counters)
                })
            }
            _ => None, // stale: the connection is gone
        };
        if let (Some(bid), Some(ring)) = (bid, &mut self.ring) {
            ring.give_back(bid);
        }
        if let Some(verdict) = verdict {
            self.apply(key, verdict, now);
        }
    }

    /// A connection's socket has room for its output again (or failed).
    fn on_writable(&mut self, d: &Done, now: Instant) {
        let (key, serial) = tag_conn(d.tag);
        let verdict = match self.conns.get_mut(key) {
            Some(c) if c.serial as u32 == serial && c.armed & ARMED_WRITABLE != 0 => {
                c.armed &= !ARMED_WRITABLE;
                if c.linger_until.is_some() {
                    return;
                }
                self.drive_key(key, Input::Ring(None), now)
            }
            _ => return,
        };
        self.apply(key, verdict, now);
    }

    /// A send completed: the kernel took its bytes (or part of them, or failed). All taken, the
    /// connection goes on with what waited behind it; part, the rest is sent as room opens.
    fn on_send(&mut self, slot: u32, d: &Done, now: Instant) {
        let Some((key, serial)) = self.outbox.owner(slot) else { return };
        let Some(c) =
            self.conns.get_mut(key).filter(|c| c.serial == serial && c.armed & ARMED_SEND != 0 && c.send_slot == slot)
        else {
            // Its connection is gone (the send was cancelled, or completed first).
            self.outbox.release(slot);
            return;
        };
        if d.result < 0 && matches!(-d.result, libc::EINTR | libc::EAGAIN) {
            self.outbox.requeue(slot);
            self.arm(key);
            return;
        }
        let Ok(n @ 1..) = usize::try_from(d.result) else {
            // The client is gone (reset, broken pipe…) or took nothing: the answers cannot be
            // sent. The send is over: its slot is freed here, not by `close`.
            self.outbox.release(slot);
            c.armed &= !(ARMED_SEND | ARMED_STALLED | ARMED_SEND_TIMED);
            self.close(key);
            return;
        };
        if let Some(window) = &mut c.stall {
            window.took(n);
        }
        if self.outbox.took(slot, n) {
            // The client's socket is full: the rest goes as room opens, and from now on the
            // client is judged by the rate it reads at.
            c.armed |= ARMED_STALLED;
            self.rearm(key);
            return;
        }
        self.outbox.release(slot);
        // Stalled, its send-rate window ends; timed, its deadline was the send's: both need a rearm.
        let rearm = c.armed & (ARMED_STALLED | ARMED_SEND_TIMED) != 0;
        c.armed &= !(ARMED_SEND | ARMED_STALLED | ARMED_SEND_TIMED);
        if c.outbuf.is_empty() {
            self.counters[self.index].responses_sent.add(u64::from(c.unsent));
            c.unsent = 0;
            if !rearm
                && c.tail.is_none()
                && !c.inbuf_ready
                && !c.eof
                && c.armed & ARMED_RECV != 0
                && c.h1.wants_input()
                && !c.h1.is_finished()
                && !c.h1.tail_pending()
            {
                // The common case, a keep-alive answer sent: nothing waited behind it, and the
                // connection's receive and deadline (its phase's) are as they were.
                return;
            }
        }
        let verdict = self.drive_key(key, Input::Ring(None), now);
        self.apply(key, verdict, now);
    }

    /// Drives connection `key` (there) with `input`, which brings no bytes of its own.
    fn drive_key(&mut self, key: usize, input: Input<'static>, now: Instant) -> Verdict {
        let Some(c) = self.conns.get_mut(key) else { return Verdict::Close };
        let env = Env { common: &self.common, limits: &self.limits, draining: self.draining.is_some() };
        let services = services(&self.handler, &self.table, &self.return_path, &self.wakes, self.index, now);
        let counters = &self.counters[self.index];
        drive(c, input, &mut self.scratch, &mut self.out, &mut self.outbox, &env, &services, counters)
    }

    /// io_uring: puts in the ring what a kept connection waits for — a receive while it wants
    /// input (or lingers), a wait for room while its output waits for the client.
    fn arm(&mut self, key: usize) {
        let Some(ring) = &mut self.ring else { return };
        let Some(c) = self.conns.get_mut(key) else { return };
        let fd = c.stream.as_raw_fd();
        let tag = conn_tag(key, c.serial);
        let lingering = c.linger_until.is_some();
        let wants_input = !c.eof
            && !c.inbuf_ready
            && c.outbuf.is_empty()
            && c.armed & ARMED_SEND == 0
            && c.tail.is_none()
            && c.h1.wants_input()
            && !c.h1.is_finished();
        if (lingering || wants_input) && c.armed & ARMED_RECV == 0 {
            ring.recv(fd, TAG_RECV | tag);
            c.armed |= ARMED_RECV;
        } else if !lingering
            && !wants_input
            && c.armed & (ARMED_RECV | ARMED_CANCELLING) == ARMED_RECV
            && c.inbuf.len() >= STASH_LIMIT
        {
            // Bounded buffering: stop receiving what cannot be used yet.
            ring.cancel(TAG_RECV | tag, TAG_CANCEL);
            c.armed |= ARMED_CANCELLING;
        }
        if c.armed & ARMED_SEND != 0 {
            if let Some((ptr, len)) = self.outbox.next_send(c.send_slot) {
                // SAFETY: the bytes stay in their outbox slot, untouched, until the send's
                // completion releases it (or the ring reports them leaked).
                unsafe { ring.send(fd, ptr, len, TAG_SEND | u64::from(c.send_slot)) };
            }
        } else if !lingering && c.waits_for_client() && c.armed & ARMED_WRITABLE == 0 {
            // (A send in the ring waits for room itself.)
            ring.writable(fd, TAG_WRITABLE | tag);
            c.armed |= ARMED_WRITABLE;
        }
    }

    fn next_timeout(&self, now: Instant) -> Option<Duration> {
        let mut next: Option<Instant> = self.accept_paused_until;
        if let Some(&(_, _, t)) = self.lingering.front() {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        if self.draining.is_some() {
            let t = now + DRAIN_TICK;
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        if let Some(t) = self.wheel.next_wake() {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        next.map(|t| t.saturating_duration_since(now))
    }

    fn accept(&mut self, i: usize, now: Instant) {
        if self.accept_paused_until.is_some() {
            return;
        }
        loop {
            let Some(listener) = self.listeners.get(i) else { return };
            let limited = self.limits.max_connections;
            if let Some(max) = limited
                && !self.shared.take_place(max)
            {
                // Full: new connections wait in the kernel's backlog; retry shortly (another
                // thread's connection closing frees a place without waking this one).
                self.accept_paused_until = Some(now + FULL_RETRY);
                return;
            }
            let accepted = listener.accept();
            if limited.is_some() && accepted.is_err() {
                self.shared.release_place();
            }
            match accepted {
                Ok((stream, _)) => {
                    let (port, ip) = self.listener_addrs.get(i).copied().unwrap_or((0, None));
                    self.add_connection(stream, port, ip)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if listener::is_transient(&e) => continue,
                Err(_) => {
                    // Out of descriptors or memory (or an unknown failure): back off, never spin.
                    self.accept_paused_until = Some(now + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    fn add_connection(&mut self, mut stream: TcpStream, port: u16, local_ip: Option<IpAddr>) {
        // TCP_NODELAY came from the listener (see `listener::bind`).
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        let registered = if self.ring.is_some() {
            // The ring's operations carry the key in 30 bits.
            key < TAG_KEYS
        } else {
            self.poll.registry().register(&mut stream, Token(key), Interest::READABLE | Interest::WRITABLE).is_ok()
        };
        if !registered {
            if self.limits.max_connections.is_some() {
                self.shared.release_place();
            }
            return;
        }
        self.next_serial += 1;
        entry.insert(Connection {
            stream,
            h1: h1::Conn::new(),
            inbuf: Vec::new(),
            inbuf_ready: false,
            outbuf: Vec::new(),
            out_pos: 0,
            unsent: 0,
            eof: false,
            half_close: self.half_close,
            linger_until: None,
            lingered_bytes: 0,
            serial: self.next_serial,
            key,
            port,
            local_ip,
            disconnected: None,
            body_pipe: None,
            group: None,
            tail: None,
            deadline: 0,
            armed_at: 0,
            phase: Phase::Idle,
            phase_since: self.now_tick,
            phase_served: 0,
            stall: None,
            armed: 0,
            send_slot: 0,
        });
        let c = self.counters();
        c.connections_accepted.add(1);
        c.current_connections.add(1);
        // The first request may already be waiting; registration reports it as an event anyway.
        // Until then the connection is idle: a client that connects and says nothing is closed
        // after `idle_connection`.
        self.rearm(key);
    }

    fn on_conn_event(&mut self, key: usize, read_closed: bool, now: Instant) {
        let verdict = match self.conns.get_mut(key) {
            None => return,
            Some(conn) if conn.linger_until.is_some() => linger_read(conn, &mut self.scratch),
            Some(conn) => {
                if read_closed {
                    conn.eof_hint();
                }
                self.drive_key(key, Input::Socket, now)
            }
        };
        self.apply(key, verdict, now);
    }

    /// Messages from application threads (answers, `Continue`, `Resume`, stream data), taken in
    /// one batch and grouped by connection, so each connection is driven, and written, once.
    fn on_completions(&mut self, now: Instant) {
        // Cleared before draining: a message sent from here on wakes the thread again, and any
        // sent before is drained below.
        self.return_path.wake_pending.swap(false, Ordering::AcqRel);
        let mut batch = std::mem::take(&mut self.batch);
        batch.extend(self.completions.try_iter());
        // One connection's messages keep their order: sorted by connection, then arrival (an
        // unstable sort on that pair allocates nothing, where a stable sort takes a scratch buffer).
        for (i, d) in batch.iter_mut().enumerate() {
            d.order = u32::try_from(i).unwrap_or(u32::MAX);
        }
        batch.sort_unstable_by_key(|d| (d.key, d.order));
        let mut start = 0;
        while let Some(first) = batch.get(start) {
            let key = first.key;
            let end = batch.iter().skip(start).position(|d| d.key != key).map_or(batch.len(), |n| start + n);
            let run = batch.get(start..end).unwrap_or_default();
            start = end;
            let verdict = match self.conns.get_mut(key) {
                Some(conn) if conn.linger_until.is_none() && run.iter().any(|d| d.serial == conn.serial) => {
                    let env = Env { common: &self.common, limits: &self.limits, draining: self.draining.is_some() };
                    for done in run.iter().filter(|d| d.serial == conn.serial) {
                        match &done.what {
                            Message::Reply(reply) => {
                                let (released, encoded) =
                                    conn.h1.complete_counted(done.seq, reply, &env, &mut self.out);
                                conn.unsent += released;
                                // `BytesSent` of this queued answer (inline answers released with
                                // it were counted when encoded), to the connection's group.
                                if let Some(group) = &conn.group {
                                    group.sent(self.index, encoded);
                                }
                            }
                            Message::Continue => {
                                conn.h1.send_continue(done.seq, &mut self.out);
                            }
                            Message::Resume => conn.h1.resume_body(),
                            // `drive` below takes what the writer added.
                            Message::Stream => {}
                        }
                    }
                    // Input held back (no room for a body, too many answers owed) may go on now.
                    conn.inbuf_ready = !conn.inbuf.is_empty();
                    if !conn.outbuf.is_empty() || conn.armed & ARMED_SEND != 0 {
                        // Earlier output is still queued: keep the order.
                        conn.outbuf.extend_from_slice(&self.out);
                        self.out.clear();
                    }
                    let services =
                        services(&self.handler, &self.table, &self.return_path, &self.wakes, self.index, now);
                    let counters = &self.counters[self.index];
                    let input = Input::nothing_new(self.ring.is_some());
                    drive(conn, input, &mut self.scratch, &mut self.out, &mut self.outbox, &env, &services, counters)
                }
                _ => continue,
            };
            self.apply(key, verdict, now);
        }
        batch.clear();
        self.batch = batch;
    }

    fn apply(&mut self, key: usize, verdict: Verdict, now: Instant) {
        match verdict {
            Verdict::Keep => self.rearm(key),
            Verdict::Close => self.close(key),
            Verdict::Linger => {
                let Some(conn) = self.conns.get_mut(key) else { return };
                if conn.armed & ARMED_SEND != 0 {
                    // (No drive lingers with a send in flight.) Were the last answer still in the
                    // ring, lingering (a `shutdown`) would wait until it is sent: its completion
                    // drives the connection here again.
                    self.rearm(key);
                    return;
                }
                if conn.linger_until.is_none() {
                    let _ = conn.stream.shutdown(Shutdown::Write);
                    let until = now + LINGER;
                    conn.linger_until = Some(until);
                    self.lingering.push_back((key, conn.serial, until));
                    // Whatever the client sent meanwhile is read (and dropped) now (with a receive
                    // in the ring too: these bytes are dropped, so their order does not matter).
                    if linger_read(conn, &mut self.scratch) == Verdict::Close {
                        self.close(key);
                    } else {
                        self.arm(key);
                    }
                }
            }
        }
    }

    fn close(&mut self, key: usize) {
        if let Some(conn) = self.conns.try_remove(key) {
            let mut stream = Some(conn.stream);
            if let Some(ring) = &mut self.ring {
                // A receive, poll or send in the ring holds the socket open: cancel them, and
                // the socket closes when the kernel lets go of it.
                let tag = conn_tag(key, conn.serial);
                let send = TAG_SEND | u64::from(conn.send_slot);
                let send_queued = conn.armed & ARMED_SEND != 0 && self.outbox.is_queued(conn.send_slot);
                if conn.armed & ARMED_RECV != 0 {
                    ring.cancel(TAG_RECV | tag, TAG_CANCEL);
                }
                if conn.armed & ARMED_WRITABLE != 0 {
                    ring.cancel(TAG_WRITABLE | tag, TAG_CANCEL);
                }
                if send_queued {
                    // The slot is freed at the send's completion (cancelled, or done after all).
                    ring.cancel(send, TAG_CANCEL);
                } else if conn.armed & ARMED_SEND != 0 {
                    self.outbox.release(conn.send_slot);
                }
                // The descriptor is closed in the ring too, after the entries above: the kernel
                // takes them in order, so none queued before can act on its number once another
                // file reuses it, and the close costs no call of its own.
                if let Some(s) = stream.take() {
                    ring.close(s.into_raw_fd(), TAG_CANCEL);
                }
            }
            if let Some(flag) = &conn.disconnected {
                flag.store(true, Ordering::Release);
            }
            if let Some(pipe) = &conn.body_pipe {
                pipe.disconnect();
            }
            if let Some(group) = &conn.group {
                group.leave();
            }
            if self.limits.max_connections.is_some() {
                self.shared.release_place();
            }
            // Without the ring, dropping the stream closes the socket; on Linux that also removes
            // it from the epoll set (we never duplicate connection descriptors), so no deregister
            // call is spent.
            drop(stream);
            self.counters().current_connections.sub(1);
        }
    }

    fn expire_lingering(&mut self, now: Instant) {
        while let Some(&(key, serial, until)) = self.lingering.front() {
            if until > now {
                break;
            }
            self.lingering.pop_front();
            if self.conns.get(key).is_some_and(|c| c.serial == serial) {
                self.close(key);
            }
        }
    }

    /// Sets a kept connection's deadline from what it waits for now; arms the wheel only when the
    /// deadline moved earlier than its live entry (a later one is found when that entry fires).
    fn rearm(&mut self, key: usize) {
        self.arm(key);
        let now_tick = self.now_tick;
        let Some(c) = self.conns.get_mut(key) else { return };
        if c.linger_until.is_some() {
            c.deadline = 0;
            return;
        }
        let t = &self.timeouts;
        let deadline = if c.waits_for_client() {
            if t.min_send_rate == 0 {
                0
            } else {
                let stream = &c.stream;
                let window = c.stall.get_or_insert_with(|| {
                    // No segment size (cannot happen on a connected socket): the shortest window.
                    let mss = socket2::SockRef::from(stream).tcp_mss().unwrap_or(0);
                    Box::new(SendWindow::new(now_tick, window_period(mss, t.min_send_rate)))
                });
                // Checks keep to their schedule: writes in between do not move them.
                window.next
            }
        } else {
            c.stall = None;
            let phase = c.h1.phase();
            let served = c.h1.served();
            // (A body's deadline restarts with each arrival, but not while a send is in flight:
            // what arrives then is only held back, not read.)
            if phase != c.phase || served != c.phase_served || (phase == Phase::Body && c.armed & ARMED_SEND == 0) {
                c.phase = phase;
                c.phase_since = now_tick;
                c.phase_served = served;
            }
            let since = c.phase_since;
            match phase {
                Phase::Idle => Wheel::after(since, t.idle_connection),
                Phase::Head => Wheel::after(since, t.header_wait),
                Phase::Body => Wheel::after(since, t.entity_body),
                Phase::Drain => Wheel::after(since, t.drain_entity_body),
                Phase::App | Phase::Closed => 0,
            }
        };
        // A send in the ring that has not completed when the connection's deadline comes is
        // stuck on its client: from then on it is judged as unsent output (`on_deadline`). A
        // phase without a deadline gets one a check after the send was queued.
        let deadline = match deadline {
            0 if c.armed & ARMED_SEND != 0 => {
                if c.armed & ARMED_SEND_TIMED != 0 && c.deadline != 0 {
                    c.deadline
                } else {
                    c.armed |= ARMED_SEND_TIMED;
                    now_tick.saturating_add(CHECK_TICKS)
                }
            }
            d => d,
        };
        c.deadline = deadline;
        if deadline != 0 && (c.armed_at == 0 || deadline < c.armed_at) {
            c.armed_at = self.wheel.insert(key, c.serial, deadline);
        }
    }

    /// Acts on every connection whose deadline has come.
    fn expire_timers(&mut self, now: Instant) {
        let mut due = std::mem::take(&mut self.due);
        self.wheel.expire(self.now_tick, &mut due);
        for e in due.drain(..) {
            let key = e.key as usize;
            let Some(c) = self.conns.get_mut(key) else { continue };
            if c.serial as u32 != e.serial || c.armed_at != e.at {
                continue; // stale: the connection re-armed earlier, or is another one
            }
            c.armed_at = 0;
            if c.deadline == 0 {
                continue;
            }
            if c.deadline > self.now_tick {
                c.armed_at = self.wheel.insert(key, c.serial, c.deadline);
                continue;
            }
            self.on_deadline(key, now);
        }
        self.due = due;
    }

    /// A connection's deadline passed: a client too slow to read is dropped; a partial request
    /// gets `408`; an idle or draining connection is closed.
    fn on_deadline(&mut self, key: usize, now: Instant) {
        let now_tick = self.now_tick;
        let Some(c) = self.conns.get_mut(key) else { return };
        if c.armed & (ARMED_SEND | ARMED_STALLED) == ARMED_SEND {
            // Its answer is still in the ring when the connection's deadline came: the client is
            // not taking it. It is judged by its send rate from now on, not timed out as idle.
            c.armed |= ARMED_STALLED;
            self.rearm(key);
            return;
        }
        let env = Env { common: &self.common, limits: &self.limits, draining: self.draining.is_some() };
        if c.waits_for_client() {
            // First hand the socket the room the client made since the last writable edge (as a
            // spurious event would: drive only writes what fits), then judge what it took.
            let services = services(&self.handler, &self.table, &self.return_path, &self.wakes, self.index, now);
            let counters = &self.counters[self.index];
            let input = Input::nothing_new(self.ring.is_some());
            let mut verdict =
                drive(c, input, &mut self.scratch, &mut self.out, &mut self.outbox, &env, &services, counters);
            if verdict == Verdict::Keep
                && c.waits_for_client()
                && let Some(window) = &mut c.stall
                && let Some(taken) = window.roll(now_tick)
                && u128::from(taken) * 1000 < u128::from(self.timeouts.min_send_rate) * window.length().as_millis()
            {
                counters.timed_out.add(1);
                verdict = Verdict::Close;
            }
            self.apply(key, verdict, now);
            return;
        }
        if c.h1.phase() == Phase::Body
            && let Some(pipe) = c.body_pipe.take()
        {
            pipe.finish(Some(408));
        }
        let answered = c.h1.time_out(&env, &mut self.out);
        c.unsent += u32::from(answered);
        self.counters[self.index].timed_out.add(1);
        let verdict = if c.h1.has_in_flight() {
            // The `408` waits behind answers still owed; the connection ends after them.
            Verdict::Keep
        } else {
            // Everything the client sent was read already, so closing sends the `408` and a FIN,
            // not a reset; a client this slow is not lingered for.
            // The `408` is written at once, also with the ring, so the close follows it now (no
            // send is in flight here: a connection with one was judged above).
            match write_out(c, &mut self.out, &self.counters[self.index], None) {
                Ok(false) if answered => Verdict::Linger,
                _ => Verdict::Close,
            }
        };
        self.apply(key, verdict, now);
    }

    fn begin_drain(&mut self, now: Instant) {
        self.draining = Some(Draining { started: now, deadline: now + self.shutdown_timeout });
        // Connections already in the backlog were accepted by the kernel: serve them too.
        for i in 0..self.listeners.len() {
            self.accept_paused_until = None;
            self.accept(i, now);
        }
        if let Some(ring) = &mut self.ring {
            // An accept in the ring holds its listener open: cancel it (a connection it still
            // hands over is closed at once, as one arriving after the close would be refused).
            for (i, armed) in self.accept_armed.iter_mut().enumerate() {
                if std::mem::take(armed) {
                    ring.cancel(TAG_ACCEPT | i as u64, TAG_CANCEL);
                }
            }
        }
        for mut l in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut l);
        }
    }

    /// Closes every connection that has nothing in flight; a connection that has not sent its
    /// first request yet gets [`FRESH_GRACE`] to do so.
    fn sweep_draining(&mut self, d: Draining, now: Instant) {
        let fresh_expired = now >= d.started + FRESH_GRACE;
        let idle: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.linger_until.is_none() && c.is_idle() && (c.h1.served() > 0 || fresh_expired))
            .map(|(k, _)| k)
            .collect();
        for key in idle {
            self.close(key);
        }
    }
}

impl Connection {
    /// Output is waiting for the client to take it (not for an application still writing).
    fn waits_for_client(&self) -> bool {
        // (With the ring, `outbuf` behind a send in flight waits for that send, not the client.)
        (!self.outbuf.is_empty() && self.armed & ARMED_SEND == 0)
            || self.armed & ARMED_STALLED != 0
            || matches!(self.tail, Some(Tail::File(_)))
    }

    fn eof_hint(&mut self) {
        self.eof = true;
    }

    /// A lingering connection dropped `n` more bytes: `Close` once they are too many.
    fn lingered(&mut self, n: usize) -> Verdict {
        self.lingered_bytes = self.lingered_bytes.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
        if self.lingered_bytes as usize > LINGER_MAX_BYTES { Verdict::Close } else { Verdict::Keep }
    }
}

/// Where a drive takes new input from.
#[derive(Clone, Copy, Debug)]
enum Input<'a> {
    /// epoll: the socket, read until it is empty.
    Socket,
    /// io_uring: the bytes a receive brought, if any (the socket is never read directly: a
    /// receive in the ring could take bytes that come before); the end of input is
    /// `Connection::eof`.
    Ring(Option<&'a [u8]>),
}

impl Input<'_> {
    /// A drive that brings no bytes of its own (an answer came, a deadline, room to write): the
    /// socket may be read (epoll), or not (ring).
    fn nothing_new(ring: bool) -> Input<'static> {
        if ring { Input::Ring(None) } else { Input::Socket }
    }
}

/// Reads and answers what a connection sent, writes the answers, and says what becomes of it.
#[allow(clippy::too_many_arguments)]
fn drive<H: Handler + ?Sized>(
    c: &mut Connection,
    input: Input<'_>,
    scratch: &mut [u8],
    out: &mut Vec<u8>,
    outbox: &mut Outbox,
    env: &Env<'_>,
    services: &Services<'_, H>,
    counters: &WorkerCounters,
) -> Verdict {
    let (from_socket, mut fresh) = match input {
        Input::Socket => (true, None),
        Input::Ring(bytes) => (false, bytes),
    };
    if let Some(bytes) = fresh
        && (!c.inbuf.is_empty()
            || !c.outbuf.is_empty()
            || c.armed & ARMED_SEND != 0
            || c.tail.is_some()
            || !c.h1.wants_input())
    {
        // Bytes a receive brought while earlier input or output is held back wait behind it.
        c.inbuf.extend_from_slice(bytes);
        c.inbuf_ready = true;
        fresh = None;
    }
    // Output the kernel refused earlier goes first, then a file or stream body being sent; nothing new is read
    // until both are gone.
    // With the ring, output goes to the outbox (`ring`), sent when the thread next enters the kernel.
    let mut ring = (!from_socket).then_some(&mut *outbox);
    match flush_outbuf(c, counters, ring.as_deref_mut()).and_then(|done| {
        if done { send_tail(c, out, counters, services.worker, ring.as_deref_mut()) } else { Ok(false) }
    }) {
        Ok(true) => {}
        Ok(false) => return Verdict::Keep,
        Err(_) => return Verdict::Close,
    }
    let mut peer_done = false;
    if services.table.is_some() && c.local_ip.is_none() {
        // A wildcard listener: the IP-literal class routes by the connection's local address.
        c.local_ip = Some(c.stream.local_addr().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip()));
    }
    loop {
        if !c.h1.wants_input() {
            break;
        }
        if c.inbuf_ready {
            process_inbuf(c, env, services, out, counters);
        } else {
            let input: &[u8] = if from_socket {
                let n = match c.stream.read(scratch) {
                    Ok(0) => {
                        peer_done = true;
                        0
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return Verdict::Close,
                };
                if n == 0 {
                    break;
                }
                scratch.get(..n).unwrap_or_default()
            } else {
                match fresh.take() {
                    Some(bytes) => bytes,
                    None => {
                        peer_done = c.eof;
                        break;
                    }
                }
            };
            let n = input.len();
            if c.inbuf.is_empty() {
                let p = feed(c, Some(input), env, services, out);
                account(c, p, counters);
                if let Some(rest) = input.get(p.consumed..)
                    && !rest.is_empty()
                {
                    c.inbuf.extend_from_slice(rest);
                    c.inbuf_ready = out.len() >= OUT_HIGH_WATER || !c.h1.wants_input();
                }
            } else {
                c.inbuf.extend_from_slice(input);
                process_inbuf(c, env, services, out, counters);
            }
            if from_socket && n < scratch.len() && !c.eof && !c.inbuf_ready {
                break;
            }
        }
        if out.len() >= OUT_HIGH_WATER {
            match write_out(c, out, counters, ring.as_deref_mut()) {
                Ok(true) => {}
                Ok(false) => return Verdict::Keep,
                Err(_) => return Verdict::Close,
            }
        }
    }
    match write_out(c, out, counters, ring) {
        Ok(true) => {}
        Ok(false) => return Verdict::Keep,
        Err(_) => return Verdict::Close,
    }
    if c.tail.is_none()
        && let Some(tail) = c.h1.take_tail()
    {
        // A file or stream answer's head is out: its body next, then whatever waited behind it.
        c.tail = Some(tail);
        let input = Input::nothing_new(!from_socket);
        return drive(c, input, scratch, out, outbox, env, services, counters);
    }
    if peer_done {
        c.eof = true;
    }
    if c.h1.is_finished() {
        if c.h1.wants_linger() && !c.eof { Verdict::Linger } else { Verdict::Close }
    } else if peer_done && c.half_close && c.inbuf.is_empty() && c.h1.owes_only_answers() {
        // The client finished sending (a half-close, as `printf … | nc -N` does, or it is gone
        // altogether: a FIN cannot tell). No further request is read, and the answers still owed
        // are sent; a write that fails closes the connection then.
        c.h1.close();
        Verdict::Keep
    } else if peer_done {
        // The client went away in the middle of a request (or with nothing owed): close; a
        // queued request sees `is_disconnected` and a body being read ends `Gone`.
        Verdict::Close
    } else {
        Verdict::Keep
    }
}

/// Answers requests held in the connection's own input buffer.
fn process_inbuf<H: Handler + ?Sized>(
    c: &mut Connection,
    env: &Env<'_>,
    services: &Services<'_, H>,
    out: &mut Vec<u8>,
    counters: &WorkerCounters,
) {
    let p = feed(c, None, env, services, out);
    account(c, p, counters);
    c.inbuf.drain(..p.consumed.min(c.inbuf.len()));
    c.inbuf_ready = !c.inbuf.is_empty() && (out.len() >= OUT_HIGH_WATER || !c.h1.wants_input());
    if c.inbuf.is_empty() && c.inbuf.capacity() > 0 {
        // An idle connection holds no buffer.
        c.inbuf = Vec::new();
    }
}

/// The services of one thread, borrowed for one call.
fn services<'a, H: ?Sized>(
    handler: &'a Option<Arc<H>>,
    table: &'a Option<Arc<UrlGroups>>,
    path: &'a Arc<ReturnPath>,
    wakes: &'a OwedWakes,
    worker: usize,
    now: Instant,
) -> Services<'a, H> {
    Services { handler: handler.as_deref(), table: table.as_deref(), path, wakes, worker, now }
}

/// Hands input to the connection's protocol state: `input`, or the connection's own `inbuf`.
fn feed<H: Handler + ?Sized>(
    c: &mut Connection,
    input: Option<&[u8]>,
    env: &Env<'_>,
    services: &Services<'_, H>,
    out: &mut Vec<u8>,
) -> h1::Progress {
    let mut dispatch = Dispatch {
        services,
        port: c.port,
        local_ip: c.local_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        key: c.key,
        serial: c.serial,
        disconnected: &mut c.disconnected,
        body_pipe: &mut c.body_pipe,
        group: &mut c.group,
    };
    let input = input.unwrap_or(&c.inbuf);
    c.h1.handle_input(input, env, &mut dispatch, out)
}

fn account(c: &mut Connection, p: h1::Progress, counters: &WorkerCounters) {
    if p.requests > 0 {
        counters.requests_received.add(u64::from(p.requests));
    }
    if p.too_large > 0 {
        counters.too_large.add(u64::from(p.too_large));
    }
    c.unsent += p.responses;
}

/// Writes the thread's output buffer; what the kernel does not take moves to the connection.
/// `Ok(true)`: everything was written.
///
/// With the ring (`outbox`), small output becomes the connection's send (in an outbox slot), or
/// waits in `outbuf` behind the send in flight: `Ok(false)`, and the send's completion drives
/// the connection on.
fn write_out(
    c: &mut Connection,
    out: &mut Vec<u8>,
    counters: &WorkerCounters,
    mut outbox: Option<&mut Outbox>,
) -> io::Result<bool> {
    if out.is_empty() {
        return Ok(true);
    }
    if let Some(outbox) = outbox.as_deref_mut() {
        if c.armed & ARMED_SEND != 0 || !c.outbuf.is_empty() {
            c.outbuf.extend_from_slice(out);
            out.clear();
            return Ok(false);
        }
        if out.len() < DIRECT_SEND_MIN && outbox.has_room() {
            // Copied (a few hundred bytes) into a buffer of its size: the thread's output buffer
            // stays the one, in cache, and what is kept for sends is small (and bounded: with
            // many sends in flight, the rest go out directly).
            let mut buf = outbox.spare(out.len());
            buf.extend_from_slice(out);
            out.clear();
            c.send_slot = outbox.put(buf, c.key, c.serial);
            c.armed |= ARMED_SEND;
            return Ok(false);
        }
        // A large output (a pipelined batch) is sent at once from the thread's buffer, still
        // in cache; what the kernel does not take becomes the connection's send.
    }
    let mut written = 0;
    while written < out.len() {
        match c.stream.write(out.get(written..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                out.clear();
                return Err(e);
            }
        }
    }
    if written == out.len() {
        out.clear();
        counters.responses_sent.add(u64::from(c.unsent));
        c.unsent = 0;
        return Ok(true);
    }
    c.outbuf.extend_from_slice(out.get(written..).unwrap_or_default());
    out.clear();
    if outbox.is_some() {
        // The rest goes through the ring; the client's socket is full, so its send rate is
        // watched from now on.
        flush_outbuf(c, counters, outbox)?;
        c.armed |= ARMED_STALLED;
    }
    Ok(false)
}

/// Writes what the connection holds back. `Ok(true)`: nothing is left.
///
/// With the ring (`outbox`): `Ok(false)` while a send is in flight; what waits in `outbuf` becomes
/// the next send.
fn flush_outbuf(c: &mut Connection, counters: &WorkerCounters, outbox: Option<&mut Outbox>) -> io::Result<bool> {
    if let Some(outbox) = outbox {
        if c.armed & ARMED_SEND != 0 {
            return Ok(false);
        }
        if c.outbuf.is_empty() {
            return Ok(true);
        }
        c.send_slot = outbox.put(std::mem::take(&mut c.outbuf), c.key, c.serial);
        c.out_pos = 0;
        c.armed |= ARMED_SEND;
        return Ok(false);
    }
    while c.out_pos < c.outbuf.len() {
        match c.stream.write(c.outbuf.get(c.out_pos..).unwrap_or_default()) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                c.out_pos += n;
                if let Some(window) = &mut c.stall {
                    window.took(n);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    if !c.outbuf.is_empty() {
        c.outbuf = Vec::new();
        c.out_pos = 0;
        counters.responses_sent.add(u64::from(c.unsent));
        c.unsent = 0;
    }
    Ok(true)
}

/// Sends what follows the last answer's head: a file with `sendfile(2)`, or what a stream's
/// writer has added. When it is all out, releases the answers that waited behind it into `out`.
/// `Ok(true)`: nothing is left to send.
/// File and stream body bytes count to the connection's group (`BytesSent`) as the kernel takes
/// them.
fn send_tail(
    c: &mut Connection,
    out: &mut Vec<u8>,
    counters: &WorkerCounters,
    worker: usize,
    mut outbox: Option<&mut Outbox>,
) -> io::Result<bool> {
    match &mut c.tail {
        None => return Ok(true),
        Some(Tail::Stream(source)) => {
            let pipe = Arc::clone(source.pipe());
            loop {
                let taken = pipe.take(std::mem::take(&mut c.outbuf));
                c.outbuf = taken.bytes;
                c.out_pos = 0;
                let empty = c.outbuf.is_empty();
                if let Some(group) = &c.group {
                    group.sent(worker, c.outbuf.len());
                }
                if !flush_outbuf(c, counters, outbox.as_deref_mut())? {
                    return Ok(false);
                }
                if taken.aborted {
                    // The writer gave up: the answer cannot be completed.
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                if taken.finished && empty {
                    break;
                }
                if empty {
                    return Ok(false); // the writer wakes us with `Message::Stream`
                }
            }
        }
        Some(Tail::File(f)) => {
            while f.len > 0 {
                let count = usize::try_from(f.len.min(1 << 30)).unwrap_or(1 << 30);
                let mut offset =
                    libc::off_t::try_from(f.offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
                // SAFETY: both descriptors are open for the duration of the call (the stream and the
                // `Arc<File>` are borrowed), and `offset` is a valid, exclusive pointer.
                let n = unsafe { libc::sendfile(c.stream.as_raw_fd(), f.file.as_raw_fd(), &mut offset, count) };
                if n < 0 {
                    let e = io::Error::last_os_error();
                    match e.kind() {
                        io::ErrorKind::WouldBlock => return Ok(false),
                        io::ErrorKind::Interrupted => continue,
                        _ => return Err(e),
                    }
                }
                if n == 0 {
                    // The file shrank below its announced length: the framing cannot be kept.
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                if let Some(group) = &c.group {
                    group.sent(worker, n as usize);
                }
                if let Some(window) = &mut c.stall {
                    window.took(n as usize);
                }
                let n = n as u64;
                f.offset += n;
                f.len -= n;
            }
        }
    }
    c.tail = None;
    c.unsent += c.h1.tail_sent(out);
    Ok(true)
}

/// Drops what a lingering connection sends; `Close` at its end-of-file, an error, or too much.
fn linger_read(c: &mut Connection, scratch: &mut [u8]) -> Verdict {
    loop {
        match c.stream.read(scratch) {
            Ok(0) => return Verdict::Close,
            Ok(n) => {
                if c.lingered(n) == Verdict::Close {
                    return Verdict::Close;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Verdict::Keep,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Verdict::Close,
        }
    }
}

/// Queued answers wake their I/O thread through its `mio` waker (an `eventfd` write).
impl Wake for mio::Waker {
    fn wake(&self) {
        // A failed wake only delays the messages to the thread's next wakeup.
        let _ = mio::Waker::wake(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOTS: u32 = WINDOW_SLOTS as u32;

    /// Ends the slots up to slot `k` (ticks since the wait began: `k × period`).
    fn roll_at(w: &mut SendWindow, k: u32) -> Option<u64> {
        w.roll(w.since + k * w.period)
    }

    #[test]
    fn the_send_rate_window_spans_four_segments_at_the_minimum_rate() {
        let secs = |period: u32| f64::from(period * SLOTS) * timer::TICK.as_secs_f64();
        // Ethernet: at the default 150 B/s four segments take 38.6 s (40 s in whole checks per
        // slot); at 10,000 B/s the floor.
        assert_eq!(secs(window_period(1448, 150)), 40.0);
        assert_eq!(secs(window_period(1448, 10_000)), 10.0);
        // Loopback, a default client: 1,270 s at 150 B/s, 19 s at 10,000 B/s (20 s); a client
        // with a 4 KiB receive buffer has 2 KiB segments.
        assert_eq!(secs(window_period(47_616, 150)), 1270.0);
        assert_eq!(secs(window_period(47_616, 10_000)), 20.0);
        assert_eq!(secs(window_period(2048, 10_000)), 10.0);
        assert_eq!(secs(window_period(65483, 1 << 30)), 10.0);
        assert_eq!(secs(window_period(0, 150)), 10.0);
        assert!(window_period(u32::MAX, 1) > 0);
        assert_eq!(SendWindow::new(1, window_period(1448, 150)).length(), Duration::from_secs(40));
    }

    #[test]
    fn the_send_rate_is_judged_only_over_a_whole_window_and_it_slides() {
        let mut w = SendWindow::new(7, CHECK_TICKS);
        assert_eq!(w.next, 7 + CHECK_TICKS);
        // What the kernels' buffers absorb at first counts for one window only.
        w.took(5_000_000);
        for k in 1..SLOTS {
            assert_eq!(roll_at(&mut w, k), None, "judged before a whole window, at slot {k}");
            w.took(100);
        }
        assert_eq!(roll_at(&mut w, SLOTS), Some(5_000_000 + 900));
        // Checks keep to their schedule, even when one runs late.
        assert_eq!(w.next, 7 + (SLOTS + 1) * CHECK_TICKS);
        assert_eq!(w.roll(7 + SLOTS * CHECK_TICKS + 3), Some(5_000_000 + 900));
        assert_eq!(w.next, 7 + (SLOTS + 1) * CHECK_TICKS);
        w.took(100);
        assert_eq!(roll_at(&mut w, SLOTS + 1), Some(1_000), "the first slot slid out");
        // Between two slot ends, nothing ends.
        w.took(1);
        assert_eq!(w.roll(w.since + (SLOTS + 1) * CHECK_TICKS + 3), Some(1_000));
    }

    #[test]
    fn a_long_window_is_checked_every_second_and_judged_every_slot() {
        let period = window_period(47_616, 150);
        let mut w = SendWindow::new(1, period);
        assert_eq!(w.next, 1 + CHECK_TICKS);
        for check in 1..period / CHECK_TICKS {
            w.took(10);
            assert_eq!(w.roll(1 + check * CHECK_TICKS), None);
            assert_eq!(w.next, 1 + (check + 1) * CHECK_TICKS);
        }
        w.took(10);
        assert_eq!(w.roll(1 + period), None, "one slot of ten");
        assert_eq!(w.slots[0], 10 * (period / CHECK_TICKS));
    }

    #[test]
    fn a_late_check_ends_the_slots_it_missed_as_empty() {
        let mut w = SendWindow::new(1, CHECK_TICKS);
        for k in 1..=SLOTS {
            w.took(10);
            roll_at(&mut w, k);
        }
        w.took(10);
        // Three slots late: the bytes count to the latest, the two missed took nothing.
        assert_eq!(roll_at(&mut w, SLOTS + 3), Some(10 * u64::from(SLOTS - 3) + 10));
        // Later than a whole window: only what came since.
        w.took(4);
        assert_eq!(roll_at(&mut w, 5 * SLOTS), Some(4));
    }

    #[test]
    fn counts_saturate_instead_of_wrapping() {
        let mut w = SendWindow::new(1, CHECK_TICKS);
        w.took(usize::MAX);
        w.took(1 << 31);
        assert_eq!(roll_at(&mut w, SLOTS), Some(u64::from(u32::MAX)));
    }

    #[test]
    fn connection_state_stays_small() {
        // ARCHITECTURE.md ("Idle connections hold no buffer") states this size.
        let size = std::mem::size_of::<Connection>();
        eprintln!("worker::Connection: {size} bytes");
        assert!(size <= 280, "worker::Connection grew to {size} bytes");
        assert_eq!(std::mem::size_of::<Option<Box<SendWindow>>>(), 8);
    }
}
