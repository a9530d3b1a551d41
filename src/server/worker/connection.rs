//! One connection's state, and how an accepted socket becomes one.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mio::net::TcpStream;
use mio::{Interest, Token};

use super::close::LINGER_MAX_BYTES;
use super::h2::Proto;
use super::send_rate::SendWindow;
use super::tag;
use super::tls::TlsLayer;
use super::{Verdict, Worker};
use crate::app::Handler;
use crate::app::response::Tail;
use crate::group::GroupCounters;
use crate::h1::{self, Phase};
use crate::pipe::BodyPipe;
use crate::stats::Owed;

/// Whether a connection is served, or lingers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Requests are read and answered.
    Serving,
    /// The server closed its side after its last answer, and drops what the client still sends
    /// (so the client reads that answer rather than a reset) until the client ends, it sends too
    /// much, or [`LINGER`](super::close::LINGER) passes (the deadline is kept in
    /// `Worker::lingering`). `dropped`: the bytes dropped so far.
    Lingering { dropped: u32 },
}

/// io_uring: what the ring holds for a connection (on epoll, always nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Armed {
    /// The connection's multishot receive.
    pub(super) recv: Recv,
    /// A wait for room to write (`POLLOUT`) is in the ring.
    pub(super) writable: bool,
    /// The wait for the client's hang-up, kept while the connection has no receive in the ring.
    pub(super) hangup: Hangup,
    /// The connection's send in flight, queued in the ring or about to be (at most one).
    pub(super) send: Option<Sending>,
}

/// io_uring: a connection's multishot receive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Recv {
    /// None in the ring.
    #[default]
    Off,
    /// In the ring: its completions bring what the client sends.
    On,
    /// In the ring, and being cancelled (input held back grew past
    /// [`STASH_LIMIT`](super::uring::STASH_LIMIT)); its last completion turns it `Off`.
    Cancelling,
}

/// io_uring: a connection's wait for its client's hang-up (`POLLRDHUP`). A receive sees the
/// client's end-of-file or reset; a connection whose receive was cancelled (input held back past
/// [`STASH_LIMIT`](super::uring::STASH_LIMIT)) has none, and waits for the hang-up instead, so
/// it still learns at once that its client is gone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Hangup {
    /// None in the ring.
    #[default]
    Off,
    /// In the ring (left there when a receive is armed again: it costs nothing until it
    /// completes, and closing cancels it).
    On,
    /// It completed with the client's end-of-file: not armed again (it would complete at once,
    /// for ever); a receive reads the end-of-file in its turn.
    Seen,
}

/// io_uring: a connection's send in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Sending {
    /// The outbox slot holding its bytes.
    pub(super) slot: u32,
    /// It found the client's socket full (the kernel took part of it): its output now waits for
    /// the client, and the client's send rate is judged.
    pub(super) stalled: bool,
    /// The connection's deadline is one set for this send (its phase has none): kept, not moved
    /// later by each drive, so a client cannot postpone it by trickling bytes.
    pub(super) timed: bool,
}

impl Armed {
    /// A receive is in the ring (cancelled or not).
    pub(super) fn receiving(&self) -> bool {
        self.recv != Recv::Off
    }

    /// A send is in flight.
    pub(super) fn sending(&self) -> bool {
        self.send.is_some()
    }

    /// The send in flight waits for the client (see [`Sending::stalled`]).
    pub(super) fn stalled(&self) -> bool {
        self.send.is_some_and(|s| s.stalled)
    }

    /// A send of outbox slot `slot` is now in flight.
    pub(super) fn start_send(&mut self, slot: u32) {
        self.send = Some(Sending { slot, stalled: false, timed: false });
    }

    /// The send in flight (if any) found the client's socket full.
    pub(super) fn stall(&mut self) {
        if let Some(send) = &mut self.send {
            send.stalled = true;
        }
    }
}

/// What a connection holds outside its own state: released by `Drop`, whether the connection is
/// closed, its thread ends or its thread unwinds, so no exit path can forget one (a queued
/// request waiting for ever on a connection that is gone, a group counting it for ever).
#[derive(Debug, Default)]
pub(super) struct Holds {
    /// Shared with this connection's queued requests: set when it goes, so they see
    /// `is_disconnected` and their answers are dropped.
    pub(super) disconnected: Option<Arc<AtomicBool>>,
    /// The body of the queued request streaming now: its reader sees a disconnect.
    pub(super) body_pipe: Option<Arc<BodyPipe>>,
    /// The URL group this connection is counted in: it leaves.
    pub(super) group: Option<Arc<GroupCounters>>,
}

impl Drop for Holds {
    fn drop(&mut self) {
        if let Some(flag) = &self.disconnected {
            flag.store(true, Ordering::Release);
        }
        if let Some(pipe) = &self.body_pipe {
            pipe.disconnect();
        }
        if let Some(group) = &self.group {
            group.leave();
        }
    }
}

/// One connection: its socket, protocol state, and the bytes it could not hand on yet.
pub(super) struct Connection {
    pub(super) stream: TcpStream,
    /// HTTP/1 or HTTP/2 (chosen at the connection's start).
    pub(super) proto: Proto,
    /// Input not consumed yet: a partial request, or requests held back while output drains.
    pub(super) inbuf: Vec<u8>,
    /// `inbuf` may hold complete requests (processing stopped at the output high-water mark).
    pub(super) inbuf_ready: bool,
    /// Output the kernel has not taken yet, from `out_pos`.
    pub(super) outbuf: Vec<u8>,
    pub(super) out_pos: usize,
    /// Responses encoded but not yet fully handed to the kernel.
    pub(super) unsent: u32,
    /// Requests owed an answer, and since when (the request duration histogram).
    pub(super) owed: Owed,
    /// The peer has finished sending.
    pub(super) eof: bool,
    /// Answers owed when the peer's end-of-file arrives are still sent (`ServerBuilder::half_close`).
    pub(super) half_close: bool,
    /// Served, or lingering after the server closed its side.
    pub(super) mode: Mode,
    pub(super) serial: u64,
    pub(super) key: usize,
    /// The listener's port and the connection's local address (found lazily on wildcard listeners).
    pub(super) port: u16,
    pub(super) local_ip: Option<IpAddr>,
    /// What the connection holds outside its own state, released when it is dropped.
    pub(super) holds: Holds,
    /// An answer's body being sent after `outbuf` and before anything else: a file (with
    /// `sendfile`), a prepared answer's shared body, or a stream an application thread writes.
    pub(super) tail: Option<Tail>,
    /// Timer state (wheel ticks; 0: none): the current deadline and the tick of the live wheel
    /// entry; the phase last seen, since when, and at which request.
    pub(super) deadline: u32,
    pub(super) armed_at: u32,
    pub(super) phase: Phase,
    pub(super) phase_since: u32,
    pub(super) phase_served: u32,
    /// Tick at which the request body being read began to be waited for (the phase's start
    /// does not move with arrivals): what `min_receive_rate` is judged from.
    pub(super) body_since: u32,
    /// Bytes the client sent since `body_since` (saturating).
    pub(super) body_bytes: u32,
    /// While output waits for the client (and there is a `min_send_rate`): what it took, per
    /// check. Boxed: only a connection that also holds unsent output (or a file tail) has one.
    pub(super) stall: Option<Box<SendWindow>>,
    /// io_uring: the operations in the ring for this connection.
    pub(super) armed: Armed,
    /// The TLS layer of a connection on a TLS port (boxed: a cleartext connection pays a word).
    pub(super) tls: Option<Box<TlsLayer>>,
    /// The client's address, once a request asked for it (a tower service's `RequestInfo`, the
    /// access log), or as `accept4` said it when an access log is written (epoll).
    pub(super) peer: Option<Box<std::net::SocketAddr>>,
}

impl Connection {
    /// Nothing is owed either way: no input held, no output waiting, between requests, no
    /// answer in flight (a stopping server closes such a connection).
    pub(super) fn is_idle(&self) -> bool {
        self.inbuf.is_empty()
            && self.outbuf.is_empty()
            && !self.armed.sending()
            && self.proto.is_between_requests()
            && !self.proto.has_in_flight()
    }

    /// Output is waiting for the client to take it (not for an application still writing).
    pub(super) fn waits_for_client(&self) -> bool {
        // (With the ring, `outbuf` behind a send in flight waits for that send, not the client.)
        (!self.outbuf.is_empty() && !self.armed.sending())
            || self.armed.stalled()
            || matches!(self.tail, Some(Tail::File(_) | Tail::Shared(_)))
    }

    /// Whether the connection takes new input now: the client may still send, no request waits
    /// in `inbuf` to be answered, and it [`reads`](Connection::reads). The one definition: the
    /// ring keeps a receive armed while this holds (or the connection lingers), a send's
    /// completion skips the drive when it still holds (and no tail is going out), and a
    /// receive's bytes go straight to `h1` only while it holds and `inbuf` is empty.
    pub(super) fn wants_input(&self) -> bool {
        !self.eof && !self.inbuf_ready && self.reads()
    }

    /// Whether input can be handed to `h1` now: its protocol state reads
    /// (`h1::Conn::wants_input`: not once it is closed, nor while a body reader is full or too
    /// many answers are owed), and no output waits (in `outbuf`, in a send in flight, or as a file
    /// or stream body) — unless `h1` reads a request's body beside that request's own streamed
    /// answer (`h1::Conn::reads_beside_answer`, full duplex): those bytes make no output, so they
    /// are read while the answer goes out (a service echoing its body would otherwise wait for
    /// bytes never read once its body pipe is full).
    pub(super) fn reads(&self) -> bool {
        self.proto.wants_input() && (!self.output_held() || self.proto.reads_beside_answer())
    }

    /// Output waits to go out: unsent bytes in `outbuf`, a send in flight, or a file or stream
    /// body after them.
    pub(super) fn output_held(&self) -> bool {
        !self.outbuf.is_empty() || self.armed.sending() || self.tail.is_some()
    }

    /// `n` bytes arrived: counted toward the body being waited for, if that is what the
    /// connection waited for when they came (`min_receive_rate`).
    #[inline]
    pub(super) fn arrived(&mut self, n: usize) {
        if self.phase == Phase::Body {
            self.body_bytes = self.body_bytes.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
        }
    }

    /// The client's end-of-file closes this connection even though input before it is still
    /// held back unread: answers are owed to queued requests (which must see `is_disconnected`
    /// now, not once the held input is worked through) and the client's end-of-file is not a
    /// half-close to serve (`ServerBuilder::half_close` is off). The close drops what is held,
    /// as it drops the answers not yet sent.
    pub(super) fn closes_at_held_eof(&self) -> bool {
        !self.half_close && self.proto.has_in_flight()
    }

    pub(super) fn eof_hint(&mut self) {
        self.eof = true;
    }

    /// A lingering connection dropped `n` more bytes: `Close` once they are too many.
    pub(super) fn lingered(&mut self, n: usize) -> Verdict {
        if let Mode::Lingering { dropped } = &mut self.mode {
            *dropped = dropped.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
            if *dropped as usize > LINGER_MAX_BYTES {
                return Verdict::Close;
            }
        }
        Verdict::Keep
    }

    /// The server closed its side: the connection only drops what the client still sends.
    pub(super) fn is_lingering(&self) -> bool {
        matches!(self.mode, Mode::Lingering { .. })
    }
}

impl<H: Handler + ?Sized> Worker<H> {
    /// Whether the connections listener `i` (on `port`) accepts speak TLS: it was bound for TLS,
    /// or its port has `https` prefixes.
    pub(super) fn speaks_tls(&self, i: usize, port: u16) -> bool {
        self.tls_listeners.get(i).copied().unwrap_or(false)
            || self.context.table.as_ref().is_some_and(|t| t.is_tls_port(port))
    }

    /// Serves a connection accepted from a listener on `port` (`local_ip`: the listener's, unless a
    /// wildcard); `peer`, the client's address when the accept said it (kept for the access log).
    pub(super) fn add_connection(
        &mut self,
        mut stream: TcpStream,
        port: u16,
        local_ip: Option<IpAddr>,
        tls: bool,
        peer: Option<std::net::SocketAddr>,
    ) {
        // TCP_NODELAY came from the listener (see `listener::bind`).
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        let registered = if self.ring.is_some() {
            // The ring's operations carry the key in 30 bits.
            key < tag::KEYS
        } else {
            self.poll.registry().register(&mut stream, Token(key), Interest::READABLE | Interest::WRITABLE).is_ok()
        };
        if !registered {
            if self.context.limits.max_connections.is_some() {
                self.shared.release_place();
            }
            return;
        }
        self.next_serial += 1;
        entry.insert(Connection {
            stream,
            proto: Proto::H1(h1::Conn::new()),
            inbuf: Vec::new(),
            inbuf_ready: false,
            outbuf: Vec::new(),
            out_pos: 0,
            unsent: 0,
            owed: Owed::default(),
            eof: false,
            half_close: self.half_close,
            mode: Mode::Serving,
            serial: self.next_serial,
            key,
            port,
            local_ip,
            holds: Holds::default(),
            tail: None,
            deadline: 0,
            armed_at: 0,
            phase: Phase::Idle,
            phase_since: self.now_tick,
            phase_served: 0,
            body_since: 0,
            body_bytes: 0,
            stall: None,
            armed: Armed::default(),
            tls: tls.then(TlsLayer::new),
            peer: peer.filter(|_| self.context.log_on).map(Box::new),
        });
        self.context.counters().connection_opened();
        // The first request may already be waiting; registration reports it as an event anyway.
        // Until then the connection is idle: a client that connects and says nothing is closed
        // after `idle_connection`.
        self.rearm(key);
    }
}
