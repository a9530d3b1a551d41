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
//!
//! # Layout
//! - `mod.rs`: the thread's state ([`Worker`]), its setup and its loop.
//! - `connection.rs`: one connection's state, and how an accepted socket becomes one.
//! - `pipeline.rs`: one connection's pipeline: read, hand input to `h1`, write the answers out.
//! - `epoll.rs`: readiness events and accepting from `mio` listeners.
//! - `uring.rs`: the io_uring backend: what is armed in the ring, and its completions.
//! - `tag.rs`: `Op`, what each ring operation is for, and its 64-bit tag.
//! - `completions.rs`: messages from application threads (queued answers and the like).
//! - `close.rs`: closing, lingering after a server-side close, the graceful drain.
//! - `deadline.rs`: connection deadlines.
//! - `send_rate.rs`: send-rate windows of clients that output waits for.
//! - `tls.rs`: a TLS connection's layer: records opened for `h1`, answers sealed, tails in pieces.

mod access;
mod close;
mod completions;
mod connection;
mod deadline;
mod epoll;
mod h2;
mod pipeline;
mod receive_rate;
mod send_rate;
mod tag;
mod tasks;
mod tls;
mod uring;

use std::collections::VecDeque;
use std::io;
use std::net::IpAddr;
use std::os::fd::FromRawFd;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use super::outbox::Outbox;
use super::ring::{Done, Ring};
use super::timer::{Entry, Wheel};
use super::{Backend, Shared};
use crate::app::Handler;
use crate::app::queue::OwedWakes;
use crate::app::queued::{Completion, ReturnPath, Wake};
use crate::group::Routes;
use crate::h1::date::DateCache;
use crate::h1::encode::CommonHeaders;
use crate::limits::{Limits, Timeouts};
use crate::stats::WorkerCounters;
use crate::tls::bindings::Bindings;
use connection::Connection;
use pipeline::{Buffers, Context};
use tag::Op;
pub(super) use tasks::Tasks;

/// The waker's token.
pub(super) const WAKER: Token = Token(usize::MAX);

/// Listener `i` has token `LISTENER_BASE + i`; connections have their slab keys, far below.
const LISTENER_BASE: usize = usize::MAX / 2;
/// Size of the per-thread read buffer.
const SCRATCH: usize = 64 * 1024;
/// How long accepting pauses after running out of descriptors or memory.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How often a stopping thread sweeps its connections.
const DRAIN_TICK: Duration = Duration::from_millis(20);
/// How often accepting is retried while the server is at its connection limit.
const FULL_RETRY: Duration = Duration::from_millis(20);

/// A listener's entry in `Worker::listener_addrs`: its port, and its address unless it is a
/// wildcard.
fn listener_addr(addr: std::net::SocketAddr) -> (u16, Option<IpAddr>) {
    (addr.port(), (!addr.ip().is_unspecified()).then_some(addr.ip()))
}

/// Everything a worker is built from.
pub(super) struct Setup<H: ?Sized> {
    pub index: usize,
    pub poll: Poll,
    pub listeners: Vec<std::net::TcpListener>,
    pub handler: Option<Arc<H>>,
    /// The tower service every request goes to (a server without URL groups).
    pub service: Option<crate::server::dispatch::Tower>,
    pub routes: Option<Arc<Routes>>,
    pub waker: Arc<mio::Waker>,
    pub shared: Arc<Shared>,
    pub counters: Arc<[WorkerCounters]>,
    pub limits: Limits,
    pub timeouts: Timeouts,
    pub shutdown_timeout: Duration,
    /// Serve answers owed to a client that half-closed (see `ServerBuilder::half_close`).
    pub half_close: bool,
    /// HTTP/2 is spoken (see `ServerBuilder::http2`).
    pub http2: bool,
    /// Per listener (as `listeners`): it was bound for TLS (`ServerBuilder::bind_tls`).
    pub tls_listeners: Vec<bool>,
    /// The server's certificate bindings.
    pub bindings: Arc<Bindings>,
    /// This thread's side of the access log.
    pub log: crate::access_log::thread::ThreadLog,
    /// The server's response cache.
    pub cache: Arc<crate::cache::Store>,
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
    /// Per listener: its connections speak TLS whatever the routing table says (bound with
    /// `ServerBuilder::bind_tls`). Otherwise a connection does when its port has `https` prefixes.
    tls_listeners: Vec<bool>,
    /// The server's certificate bindings, and the generation of the copy in `context`.
    bindings: Arc<Bindings>,
    bindings_generation: u64,
    conns: Slab<Connection>,
    /// What answering reads (handler, routing table, limits, counters…), lent to each drive.
    context: Context<H>,
    /// The scratch, output and outbox buffers every drive writes into.
    bufs: Buffers,
    routes: Option<Arc<Routes>>,
    /// The generation of the routing table in `context`.
    table_generation: u64,
    completions: mpsc::Receiver<Completion>,
    /// Messages taken in one wakeup (kept to reuse its capacity).
    batch: Vec<Completion>,
    shared: Arc<Shared>,
    timeouts: Timeouts,
    shutdown_timeout: Duration,
    half_close: bool,
    date: DateCache,
    /// When the next second begins on the wall clock: the `Date` text changes then.
    next_date_at: Instant,
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
}

impl<H: ?Sized> Drop for Worker<H> {
    /// Ends the ring before anything it may still use is freed (also when the loop unwinds):
    /// every operation is cancelled and waited for (bounded), and if some did not come back, the
    /// bytes of sends in flight are leaked rather than freed under the kernel.
    fn drop(&mut self) {
        // The thread takes nothing more: listeners handed to it are closed (its own close as the
        // worker drops, so the kernel stops sending it connections).
        self.shared.close_adoption(self.context.index);
        let open = self.conns.len() as u64;
        self.context.counters().current_connections.sub(open);
        if self.context.limits.max_connections.is_some() {
            for _ in 0..open {
                self.shared.release_place();
            }
        }
        // The connections' `Holds` let go of their queued requests, body readers and groups as
        // the slab drops, after the ring (below) gave back every operation on their sockets.
        if let Some(ring) = &mut self.ring {
            // A connection an accept still handed over is closed (its client sees the close).
            ring.finish(|d| {
                if let Some(Op::Accept(_)) = Op::decode(d.tag)
                    && d.result >= 0
                {
                    // SAFETY: the kernel just created this descriptor for us; nothing else owns it.
                    drop(unsafe { std::os::fd::OwnedFd::from_raw_fd(d.result) });
                }
            });
            if ring.leaked() {
                self.bufs.outbox.leak();
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
        let (bindings_generation, tls_table) = setup.bindings.snapshot();
        let mut tls_listeners = setup.tls_listeners;
        tls_listeners.resize(listeners.len(), false);
        Ok(Worker {
            poll: setup.poll,
            listeners,
            listener_addrs,
            tls_listeners,
            bindings: setup.bindings,
            bindings_generation,
            conns: Slab::with_capacity(1024),
            context: Context {
                handler: setup.handler,
                service: setup.service,
                table,
                tasks: tasks::Tasks::new(Arc::clone(&setup.waker) as Arc<dyn Wake>),
                return_path: Arc::new(ReturnPath {
                    tx,
                    waker: setup.waker,
                    wake_pending: Arc::default(),
                    cache: setup
                        .cache
                        .is_on()
                        .then(|| Arc::clone(&setup.cache) as Arc<dyn crate::app::cache::CacheSink>),
                }),
                cache: {
                    let mut reader = crate::cache::Reader::new(setup.cache, setup.index);
                    reader.routes_generation = table_generation;
                    reader
                },
                wakes: OwedWakes::default(),
                common,
                limits: setup.limits,
                counters: setup.counters,
                index: setup.index,
                tls_table,
                log_on: setup.log.is_on(),
                log: std::cell::RefCell::new(setup.log),
                http2: setup.http2,
                memo: Default::default(),
            },
            bufs: Buffers {
                scratch: vec![0u8; SCRATCH].into_boxed_slice(),
                out: Vec::with_capacity(SCRATCH),
                outbox: Outbox::default(),
                plain: Vec::new(),
                spare: Vec::new(),
                work: Vec::new(),
            },
            routes: setup.routes,
            table_generation,
            completions,
            batch: Vec::new(),
            shared: setup.shared,
            timeouts: setup.timeouts,
            shutdown_timeout: setup.shutdown_timeout,
            half_close: setup.half_close,
            date,
            next_date_at: Instant::now(),
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
        })
    }

    /// Takes the listeners bound for this thread while serving (a prefix on a new port): on
    /// `epoll`, or in the ring as the others are. Dropped (closed) once the server stops.
    fn adopt_listeners(&mut self) {
        // In the ring as the listeners of `start_backend` are, else with `mio`.
        let in_ring = self.ring.is_some() && self.context.limits.max_connections.is_none();
        for l in self.shared.take_adopted(self.context.index) {
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
            self.tls_listeners.push(false);
            if in_ring {
                self.accept_armed.push(false);
            }
        }
        self.arm_accepts();
    }

    /// Runs until a graceful stop completes.
    pub(super) fn run(mut self, backend: Backend, ready: mpsc::Sender<io::Result<Backend>>) {
        let thread = self.context.index;
        match self.start_backend(backend) {
            Ok(b) => {
                tracing::debug!(thread, backend = %b, listeners = self.listeners.len(), "I/O thread started");
                let _ = ready.send(Ok(b));
            }
            Err(e) => {
                tracing::debug!(thread, error = %e, "I/O thread could not start");
                let _ = ready.send(Err(e));
                return;
            }
        }
        drop(ready);
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self.next_timeout(Instant::now());
            if let Some(ring) = &mut self.ring {
                if let Err(e) = ring.wait(timeout) {
                    tracing::error!(thread, error = %e, "io_uring wait failed: the I/O thread ends");
                    break;
                }
            } else if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // The event queue itself failed: nothing more can be served by this thread.
                tracing::error!(thread, error = %e, "epoll wait failed: the I/O thread ends");
                break;
            }
            #[cfg(test)]
            if self.shared.fault.swap(false, std::sync::atomic::Ordering::AcqRel) {
                panic!("a fault injected by a test");
            }
            self.context.tasks.wake_up();
            let now = Instant::now();
            if now >= self.next_date_at {
                // The wall clock is read once a second, at its turn, not on every wakeup.
                let wall = SystemTime::now();
                self.date.update(wall);
                self.context.log.get_mut().set_wall(now, wall);
                self.context.common.set_date(self.date.as_bytes());
                let into_second = wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
                self.next_date_at = now + Duration::from_nanos(1_000_000_000 - u64::from(into_second));
            }
            self.now_tick = self.wheel.tick_of(now);
            let generation = self.routes.as_ref().map(|r| r.generation());
            if let Some(generation) = generation
                && generation != self.table_generation
            {
                self.table_generation = generation;
                self.context.cache.routes_generation = generation;
                // Listeners first: the table loaded after them has the prefixes they serve.
                self.adopt_listeners();
                self.context.table = self.routes.as_ref().map(|r| r.load());
                self.context.memo.clear();
            }
            self.context.cache.refresh();
            if self.bindings.generation() != self.bindings_generation {
                // Bindings changed: new handshakes use the new ones; sessions made are kept.
                (self.bindings_generation, self.context.tls_table) = self.bindings.snapshot();
            }
            // Before this pass's events: a request that arrived with the stop's wakeup is answered
            // as the stop says (`Connection: close`), not as if the server went on.
            if self.draining.is_none() && self.shared.is_stopping() {
                self.begin_drain(now);
            }
            if self.ring.is_some() {
                self.on_ring(&mut events, now);
            } else {
                self.on_events(&events, now);
            }
            self.run_tasks(now);
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
            self.context.wakes.fire();
            // Access-log lines that have waited long enough go to the writer.
            self.context.log.get_mut().pass_end(now);
            self.context.cache.store().maintain(now);
            if let Some(d) = self.draining {
                self.sweep_draining(d, now);
                // (An accept still in the ring may yet hand over a connection to serve.)
                if self.conns.is_empty() && !self.accepting_in_ring() {
                    break;
                }
                if now >= d.deadline {
                    let open = self.conns.len();
                    tracing::warn!(thread, open, "graceful stop timed out: connections left are closed");
                    break;
                }
            }
        }
        tracing::debug!(thread, "I/O thread ended");
        // (`Drop for Worker` lets go of the connections left and ends the ring.)
    }

    /// Polls the tasks woken (tower services' futures), then sends the answers they gave: a
    /// few rounds, as sending an answer can wake its task again (a streamed body's writer).
    fn run_tasks(&mut self, now: Instant) {
        for _ in 0..4 {
            if self.context.tasks.is_empty() {
                return;
            }
            // Answers the tasks send are taken below, in this pass: no wake of the thread itself.
            self.context.return_path.wake_pending.store(true, std::sync::atomic::Ordering::Release);
            let polled = self.context.tasks.run();
            self.on_completions(now);
            if polled == 0 {
                return;
            }
        }
    }

    fn next_timeout(&self, now: Instant) -> Option<Duration> {
        if self.context.tasks.sleep() {
            // Woken tasks wait for the next pass.
            return Some(Duration::ZERO);
        }
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
        if let Some(t) = self.context.log.borrow().due() {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        next.map(|t| t.saturating_duration_since(now))
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
    use super::send_rate::SendWindow;
    use super::*;

    #[test]
    fn connection_state_stays_small() {
        // ARCHITECTURE.md ("Idle connections hold no buffer") states this size (288 since the
        // request duration histogram's `Owed`, 8 bytes).
        let size = std::mem::size_of::<Connection>();
        assert!(size <= 288, "worker::Connection grew to {size} bytes");
        assert_eq!(std::mem::size_of::<Option<Box<SendWindow>>>(), 8);
    }
}
