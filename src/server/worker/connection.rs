//! One connection's state, and how an accepted socket becomes one.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Interest, Token};

use super::close::LINGER_MAX_BYTES;
use super::send_rate::SendWindow;
use super::tag;
use super::{Verdict, Worker};
use crate::body::BodyPipe;
use crate::group::GroupCounters;
use crate::h1::response::Tail;
use crate::h1::{self, Handler, Phase};

/// `Connection::armed` bits: a receive, a wait for room to write, is in the ring.
pub(super) const ARMED_RECV: u8 = 1;
pub(super) const ARMED_WRITABLE: u8 = 2;
/// The receive is being cancelled (input held back grew past [`STASH_LIMIT`]).
pub(super) const ARMED_CANCELLING: u8 = 4;
/// A send is in flight (outbox slot `Connection::send_slot`), queued in the ring or about to be.
pub(super) const ARMED_SEND: u8 = 8;
/// The send in flight found the client's socket full (the kernel took part of it): its output
/// now waits for the client, and the client's send rate is judged.
pub(super) const ARMED_STALLED: u8 = 16;
/// The connection's deadline is one set for its send in flight (its phase has none): kept, not
/// moved later by each drive, so a client cannot postpone it by trickling bytes.
pub(super) const ARMED_SEND_TIMED: u8 = 32;

/// One connection: its socket, protocol state, and the bytes it could not hand on yet.
pub(super) struct Connection {
    pub(super) stream: TcpStream,
    pub(super) h1: h1::Conn,
    /// Input not consumed yet: a partial request, or requests held back while output drains.
    pub(super) inbuf: Vec<u8>,
    /// `inbuf` may hold complete requests (processing stopped at the output high-water mark).
    pub(super) inbuf_ready: bool,
    /// Output the kernel has not taken yet, from `out_pos`.
    pub(super) outbuf: Vec<u8>,
    pub(super) out_pos: usize,
    /// Responses encoded but not yet fully handed to the kernel.
    pub(super) unsent: u32,
    /// The peer has finished sending.
    pub(super) eof: bool,
    /// Answers owed when the peer's end-of-file arrives are still sent (`ServerBuilder::half_close`).
    pub(super) half_close: bool,
    /// `Some(deadline)` once the server has closed its side and only drops reads.
    pub(super) linger_until: Option<Instant>,
    pub(super) lingered_bytes: u32,
    pub(super) serial: u64,
    pub(super) key: usize,
    /// The listener's port and the connection's local address (found lazily on wildcard listeners).
    pub(super) port: u16,
    pub(super) local_ip: Option<IpAddr>,
    /// Shared with this connection's queued requests; set when it closes.
    pub(super) disconnected: Option<Arc<AtomicBool>>,
    /// The body of the queued request streaming now.
    pub(super) body_pipe: Option<Arc<BodyPipe>>,
    /// The URL group this connection is counted in.
    pub(super) group: Option<Arc<GroupCounters>>,
    /// An answer's body being sent after `outbuf` and before anything else: a file (with
    /// `sendfile`) or a stream an application thread writes.
    pub(super) tail: Option<Tail>,
    /// Timer state (wheel ticks; 0: none): the current deadline and the tick of the live wheel
    /// entry; the phase last seen, since when, and at which request.
    pub(super) deadline: u32,
    pub(super) armed_at: u32,
    pub(super) phase: Phase,
    pub(super) phase_since: u32,
    pub(super) phase_served: u32,
    /// While output waits for the client (and there is a `min_send_rate`): what it took, per
    /// check. Boxed: only a connection that also holds unsent output (or a file tail) has one.
    pub(super) stall: Option<Box<SendWindow>>,
    /// io_uring: the operations in the ring for this connection (`ARMED_*`).
    pub(super) armed: u8,
    /// io_uring: the outbox slot of the send in flight (with `ARMED_SEND`).
    pub(super) send_slot: u32,
}

impl Connection {
    pub(super) fn is_idle(&self) -> bool {
        self.inbuf.is_empty()
            && self.outbuf.is_empty()
            && self.armed & ARMED_SEND == 0
            && self.h1.is_between_requests()
            && !self.h1.has_in_flight()
    }
}

impl Connection {
    /// Output is waiting for the client to take it (not for an application still writing).
    pub(super) fn waits_for_client(&self) -> bool {
        // (With the ring, `outbuf` behind a send in flight waits for that send, not the client.)
        (!self.outbuf.is_empty() && self.armed & ARMED_SEND == 0)
            || self.armed & ARMED_STALLED != 0
            || matches!(self.tail, Some(Tail::File(_)))
    }

    pub(super) fn eof_hint(&mut self) {
        self.eof = true;
    }

    /// A lingering connection dropped `n` more bytes: `Close` once they are too many.
    pub(super) fn lingered(&mut self, n: usize) -> Verdict {
        self.lingered_bytes = self.lingered_bytes.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
        if self.lingered_bytes as usize > LINGER_MAX_BYTES { Verdict::Close } else { Verdict::Keep }
    }
}
impl<H: Handler + ?Sized> Worker<H> {
    pub(super) fn add_connection(&mut self, mut stream: TcpStream, port: u16, local_ip: Option<IpAddr>) {
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
        let c = self.context.counters();
        c.connections_accepted.add(1);
        c.current_connections.add(1);
        // The first request may already be waiting; registration reports it as an event anyway.
        // Until then the connection is idle: a client that connects and says nothing is closed
        // after `idle_connection`.
        self.rearm(key);
    }
}
