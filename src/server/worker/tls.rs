//! A connection's TLS layer in the loop: what the socket brings is opened into plaintext for
//! `h1`, and what `h1` writes is sealed into records on its way out. The protocol work is
//! `crate::tls` (sans-I/O); this file only holds the per-connection state and counts.

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::connection::Connection;
use super::pipeline::{DriveCtx, flush_outbuf};
use crate::app::TlsInfo;
use crate::app::response::Tail;
use crate::server::outbox::Outbox;
use crate::stats::WorkerCounters;
use crate::tls::TlsFailure;
use crate::tls::bindings::BindingTable;
use crate::tls::hello::{self, Peek};
use crate::tls::session::TlsConn;

/// The alert a connection gets when no certificate binding matches it (no session exists to
/// make one): a fatal `handshake_failure` (40) in a plaintext alert record.
pub(super) const NO_CERTIFICATE_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 40];

/// A TLS connection's layer, boxed in its `Connection` (a cleartext one has none).
// The box holds the largest variant either way: a hello becomes a session in place.
#[allow(clippy::large_enum_variant)]
pub(super) enum TlsLayer {
    /// The ClientHello is still arriving: the bytes so far (none kept when a read brings it
    /// whole). Its server name chooses the certificate binding, and with it the session.
    Hello(Vec<u8>),
    /// A session: handshaking, then open.
    Session(Session),
}

/// A session and what the loop has done with it.
pub(super) struct Session {
    conn: TlsConn,
    /// What the handshake negotiated, once it has finished (and was counted).
    info: Option<Arc<TlsInfo>>,
    /// `close_notify` was queued.
    notified: bool,
}

impl TlsLayer {
    /// A new connection's layer: waiting for its ClientHello.
    pub(super) fn new() -> Box<TlsLayer> {
        Box::new(TlsLayer::Hello(Vec::new()))
    }

    /// The handshake has not finished: the connection is timed by `header_wait`, and `h1` has
    /// nothing to read yet.
    pub(super) fn is_handshaking(&self) -> bool {
        match self {
            TlsLayer::Hello(_) => true,
            TlsLayer::Session(s) => s.conn.is_handshaking(),
        }
    }

    /// The client sent `close_notify`: it sends nothing more (as if it had half-closed).
    pub(super) fn peer_closed(&self) -> bool {
        matches!(self, TlsLayer::Session(s) if s.conn.peer_closed())
    }

    /// What the connection negotiated, once the handshake is over.
    pub(super) fn info(&self) -> Option<&Arc<TlsInfo>> {
        match self {
            TlsLayer::Session(s) => s.info.as_ref(),
            TlsLayer::Hello(_) => None,
        }
    }

    /// Opens `cipher`, just read from the socket: plaintext to `plain` (appended), records owed to
    /// the client kept for [`seal_out`](Self::seal_out). The first bytes are peeked for the
    /// ClientHello, and the session made from the binding `table` resolves for `local` and the
    /// hello's server name (`local` is asked for only then: it may cost a `getsockname`).
    pub(super) fn open(
        &mut self,
        cipher: &[u8],
        local: impl FnOnce() -> SocketAddr,
        table: &BindingTable,
        plain: &mut Vec<u8>,
        work: &mut Vec<u8>,
        counters: &WorkerCounters,
    ) -> Result<(), TlsFailure> {
        let session = match self {
            TlsLayer::Session(s) => s,
            TlsLayer::Hello(held) => {
                if !held.is_empty() {
                    held.extend_from_slice(cipher);
                }
                let bytes: &[u8] = if held.is_empty() { cipher } else { held };
                let conn = match hello::peek(bytes) {
                    Peek::NeedMore => {
                        if held.is_empty() {
                            held.extend_from_slice(cipher);
                        }
                        return Ok(());
                    }
                    Peek::NotTls => return Err(TlsFailure::NotTls),
                    Peek::TooLarge => return Err(TlsFailure::TooLarge),
                    Peek::Malformed => return Err(TlsFailure::Protocol),
                    Peek::Hello { server_name } => {
                        let name = server_name.as_deref();
                        let config = table.resolve(local(), name).ok_or(TlsFailure::NoCertificate)?;
                        TlsConn::new(Arc::clone(config), name)?
                    }
                };
                let hello = std::mem::take(held);
                *self = TlsLayer::Session(Session { conn, info: None, notified: false });
                let TlsLayer::Session(s) = self else { unreachable!("just set") };
                let first: &[u8] = if hello.is_empty() { cipher } else { &hello };
                let opened = s.conn.open(first, plain, work);
                s.count(counters);
                return opened;
            }
        };
        let opened = session.conn.open(cipher, plain, work);
        session.count(counters);
        opened
    }

    /// Makes `out` ready for the socket: its plaintext sealed into records, after the records
    /// the session owes (handshake flights, tickets, alerts), which go alone when `out` is empty.
    /// `spare` is the thread's second output buffer: the records are written there and the two
    /// swap, so neither is reallocated.
    pub(super) fn seal_out(&mut self, out: &mut Vec<u8>, spare: &mut Vec<u8>) -> Result<(), TlsFailure> {
        let TlsLayer::Session(s) = self else {
            // (Nothing is answered before the handshake; `out` is empty.)
            return Ok(());
        };
        if out.is_empty() {
            if s.conn.has_pending() {
                s.conn.take_pending(out);
            }
            return Ok(());
        }
        spare.clear();
        s.conn.seal(out, spare)?;
        std::mem::swap(out, spare);
        spare.clear();
        Ok(())
    }

    /// Seals `plain` (a piece of a body sent after its head) to the end of `out`.
    pub(super) fn seal(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<(), TlsFailure> {
        match self {
            TlsLayer::Session(s) => s.conn.seal(plain, out),
            TlsLayer::Hello(_) => Err(TlsFailure::Protocol),
        }
    }

    /// Queues `close_notify` to `out` the first time; `false` when it was already queued (or
    /// there is no session to end).
    pub(super) fn close_notify(&mut self, out: &mut Vec<u8>) -> bool {
        match self {
            TlsLayer::Session(s) if !s.notified && !s.conn.is_handshaking() => {
                s.notified = true;
                s.conn.close_notify(out);
                true
            }
            _ => false,
        }
    }

    /// The records a failed connection owes its client (an alert), to `out`.
    pub(super) fn failure_alert(&mut self, reason: TlsFailure, out: &mut Vec<u8>) {
        match self {
            TlsLayer::Session(s) => s.conn.take_pending(out),
            TlsLayer::Hello(_) if reason == TlsFailure::NoCertificate => out.extend_from_slice(&NO_CERTIFICATE_ALERT),
            // Not TLS at all, or a hello too large or broken to answer: closed unanswered.
            TlsLayer::Hello(_) => {}
        }
    }
}

impl Session {
    /// Counts the handshake once it has finished, once.
    fn count(&mut self, counters: &WorkerCounters) {
        // (A failed handshake has no info: it is counted as a failure, by the caller.)
        if self.info.is_none()
            && let Some(info) = self.conn.info()
        {
            counters.tls_handshakes.add(1);
            if info.resumed {
                counters.tls_resumed.add(1);
            }
            self.info = Some(info);
        }
    }
}

/// How much of a body sent after its head (a file, a shared body) is sealed at a time: a TLS
/// connection holds at most this much of it, as records, beyond what the socket took (four
/// full records; `sendfile` cannot send records, so a file is read and sealed piece by piece).
pub(super) const TAIL_PIECE: usize = 64 * 1024;

/// [`send_tail`](super::pipeline::send_tail) for a TLS connection: the tail's next piece is
/// sealed into `outbuf` once the last one is out, so the memory it takes stays bounded.
pub(super) fn send_tail<H: ?Sized>(
    c: &mut Connection,
    out: &mut Vec<u8>,
    spare: &mut Vec<u8>,
    ctx: &DriveCtx<'_, H>,
    mut outbox: Option<&mut Outbox>,
) -> io::Result<bool> {
    let (counters, worker) = (ctx.counters, ctx.services.worker);
    loop {
        if !flush_outbuf(c, counters, outbox.as_deref_mut())? {
            return Ok(false);
        }
        let (Some(tail), Some(tls)) = (&mut c.tail, c.tls.as_deref_mut()) else {
            return Ok(c.tail.is_none());
        };
        spare.clear();
        let mut sealed = std::mem::take(&mut c.outbuf);
        let (plain_len, finished) = match tail {
            Tail::Stream(source) => {
                let taken = source.pipe().take(std::mem::take(spare));
                *spare = taken.bytes;
                if taken.aborted {
                    // The writer gave up: the answer cannot be completed.
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                if spare.is_empty() && !taken.finished {
                    return Ok(false); // the writer wakes us with `Message::Stream`
                }
                tls.seal(spare, &mut sealed).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
                (spare.len(), taken.finished)
            }
            Tail::Shared(shared) => {
                let rest = shared.body.get(shared.offset..).unwrap_or_default();
                let piece = rest.get(..TAIL_PIECE.min(rest.len())).unwrap_or_default();
                tls.seal(piece, &mut sealed).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
                shared.offset += piece.len();
                (piece.len(), shared.offset >= shared.body.len())
            }
            Tail::File(f) => {
                let want = usize::try_from(f.len).unwrap_or(usize::MAX).min(TAIL_PIECE);
                spare.resize(want, 0);
                let n = loop {
                    match f.file.read_at(spare, f.offset) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                };
                if n == 0 && want > 0 {
                    // The file shrank below its announced length: the framing cannot be kept.
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                let piece = spare.get(..n).unwrap_or_default();
                tls.seal(piece, &mut sealed).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
                f.offset += n as u64;
                f.len -= n as u64;
                (n, f.len == 0)
            }
        };
        c.outbuf = sealed;
        c.out_pos = 0;
        spare.clear();
        if let Some(group) = &c.holds.group {
            group.sent(worker, plain_len);
        }
        if finished {
            c.tail = None;
            let n = c.proto.tail_sent(out);
            super::pipeline::released(c, n, ctx.counters, ctx.services.now);
        }
    }
}
