//! The per-connection pipeline: read, hand input to `h1`, write the answers out.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

use super::connection::Connection;
use super::h2::Proto;
use super::tasks::Tasks;
use super::{Verdict, Worker};
use crate::app::Handler;
use crate::app::queue::OwedWakes;
use crate::app::queued::ReturnPath;
use crate::app::response::Tail;
use crate::group::UrlGroups;
use crate::h1::conn::OUT_HIGH_WATER;
use crate::h1::encode::CommonHeaders;
use crate::h1::{self, Env};
use crate::limits::Limits;
use crate::server::dispatch::{Dispatch, Services, Tower};
use crate::server::outbox::Outbox;
use crate::stats::WorkerCounters;
use crate::tls::bindings::BindingTable;

/// io_uring: output of at least this many bytes (a pipelined batch: 16 of the sample's answers
/// are 10 KiB) is sent at once with a `send` call from the thread's output buffer, still in cache,
/// the call's cost shared by many answers; smaller output (a keep-alive answer) goes through the
/// ring, which saves the call. (Measured at pipeline16, every send through the ring cost 3–9%
/// more CPU per request than direct sends in two of three runs; the differences are near the
/// run-to-run noise.)
pub(super) const DIRECT_SEND_MIN: usize = 4 * 1024;

/// What answering requests reads on one thread, the same for every connection (owned by the
/// [`Worker`]; each drive borrows it as a [`DriveCtx`]).
pub(super) struct Context<H: ?Sized> {
    /// The handler of a server built without URL groups.
    pub(super) handler: Option<Arc<H>>,
    /// The tower service of a server built without URL groups.
    pub(super) service: Option<Tower>,
    /// This thread's copy of the routing table (a server built with URL groups).
    pub(super) table: Option<Arc<UrlGroups>>,
    /// Shared by every queued request's handle (one reference count per request, not three).
    pub(super) return_path: Arc<ReturnPath>,
    /// Receivers to wake for requests queued in this pass (fired at its end).
    pub(super) wakes: OwedWakes,
    /// The `Server` and `Date` lines, the latter refreshed once a second by the loop.
    pub(super) common: CommonHeaders,
    pub(super) limits: Limits,
    /// Every thread's counters, and this thread's index among them.
    pub(super) counters: Arc<[WorkerCounters]>,
    pub(super) index: usize,
    /// This thread's copy of the certificate bindings (taken again when they change).
    pub(super) tls_table: Arc<BindingTable>,
    /// The futures of tower services this thread runs.
    pub(super) tasks: Tasks,
    /// This thread's access-log buffers, and whether a log is written at all.
    pub(super) log: std::cell::RefCell<crate::access_log::thread::ThreadLog>,
    pub(super) log_on: bool,
    /// HTTP/2 is spoken (h2c by its preface, `h2` by ALPN).
    pub(super) http2: bool,
    /// This thread's view of the response cache.
    pub(super) cache: crate::cache::Reader,
    /// This thread's last routing decision (cleared when `table` is replaced).
    pub(super) memo: crate::server::route_memo::RouteMemo,
}

impl<H: ?Sized> Context<H> {
    /// This thread's counters.
    pub(super) fn counters(&self) -> &WorkerCounters {
        &self.counters[self.index]
    }

    /// What a drive in the pass that began at `now` reads (`draining`: the server is stopping).
    pub(super) fn drive_ctx(&self, draining: bool, now: Instant) -> DriveCtx<'_, H> {
        DriveCtx {
            env: Env { common: &self.common, limits: &self.limits, draining },
            services: Services {
                handler: self.handler.as_deref(),
                service: self.service.as_ref(),
                table: self.table.as_deref(),
                path: &self.return_path,
                wakes: &self.wakes,
                tasks: &self.tasks,
                worker: self.index,
                now,
                log: self.log_on.then_some(&self.log),
                cache: &self.cache,
                memo: &self.memo,
            },
            counters: self.counters(),
            tls_table: &self.tls_table,
            http2: self.http2,
        }
    }
}

/// What a drive reads: the protocol's environment, the services requests are dispatched to, and
/// the thread's counters.
pub(super) struct DriveCtx<'a, H: ?Sized> {
    pub(super) env: Env<'a>,
    pub(super) services: Services<'a, H>,
    pub(super) counters: &'a WorkerCounters,
    /// The certificate bindings a new TLS connection's session is made from.
    pub(super) tls_table: &'a BindingTable,
    /// HTTP/2 is spoken.
    pub(super) http2: bool,
}

/// The thread's buffers a drive writes into (one set per thread, reused by every connection).
pub(super) struct Buffers {
    /// Every read lands here ([`SCRATCH`](super::SCRATCH) bytes).
    pub(super) scratch: Box<[u8]>,
    /// Every answer is encoded here, then written with one call per wakeup.
    pub(super) out: Vec<u8>,
    /// io_uring: the output of sends in flight.
    pub(super) outbox: Outbox,
    /// TLS: what a read opens to (the plaintext `h1` reads).
    pub(super) plain: Vec<u8>,
    /// TLS: records are sealed here from `out`, and the two swap.
    pub(super) spare: Vec<u8>,
    /// TLS: where records are opened in place.
    pub(super) work: Vec<u8>,
}

/// Where a drive takes new input from.
#[derive(Clone, Copy, Debug)]
pub(super) enum Input<'a> {
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
    pub(super) fn nothing_new(ring: bool) -> Input<'static> {
        if ring { Input::Ring(None) } else { Input::Socket }
    }
}

/// Reads and answers what a connection sent, writes the answers, and says what becomes of it.
pub(super) fn drive<H: Handler + ?Sized>(
    c: &mut Connection,
    input: Input<'_>,
    ctx: &DriveCtx<'_, H>,
    bufs: &mut Buffers,
) -> Verdict {
    let counters = ctx.counters;
    let (from_socket, mut fresh) = match input {
        Input::Socket => (true, None),
        Input::Ring(bytes) => (false, bytes),
    };
    if let Some(bytes) = fresh
        && c.tls.is_some()
    {
        // TLS: what the ring brought is records; from here on, it is their plaintext.
        if open_tls(c, bytes, ctx, &mut bufs.plain, &mut bufs.work).is_err() {
            return Verdict::Close;
        }
        // (Records with no application data in them, a handshake's, bring `h1` nothing.)
        fresh = (!bufs.plain.is_empty()).then_some(&bufs.plain[..]);
    }
    if let Some(bytes) = fresh
        && !(c.inbuf.is_empty() && c.wants_input())
    {
        // Bytes a receive brought while earlier input or output is held back wait behind it.
        c.arrived(bytes.len());
        c.inbuf.extend_from_slice(bytes);
        c.inbuf_ready = true;
        fresh = None;
    }
    // Output the kernel refused earlier goes first, then a file or stream body being sent; nothing new is read
    // until both are gone.
    // With the ring, output goes to the outbox (`ring`), sent when the thread next enters the kernel.
    let mut ring = (!from_socket).then_some(&mut bufs.outbox);
    let tail_sent = if c.tls.is_some() {
        super::tls::send_tail(c, &mut bufs.out, &mut bufs.spare, ctx, ring.as_deref_mut())
    } else {
        flush_outbuf(c, counters, ring.as_deref_mut())
            .and_then(|done| if done { send_tail(c, &mut bufs.out, ctx, ring.as_deref_mut()) } else { Ok(false) })
    };
    match tail_sent {
        Ok(true) => {}
        // Full duplex: the body of the request whose answer is going out is still read.
        Ok(false) if c.proto.reads_beside_answer() => {}
        Ok(false) => {
            // Answers a finished tail released (TLS: its last records still unsent) wait behind.
            return match seal_out(c, &mut bufs.out, &mut bufs.spare)
                .and_then(|()| write_out(c, &mut bufs.out, counters, ring.as_deref_mut()))
            {
                Ok(_) => Verdict::Keep,
                Err(_) => Verdict::Close,
            };
        }
        Err(_) => return Verdict::Close,
    }
    let mut peer_done = false;
    if (ctx.services.table.is_some() || ctx.services.log.is_some()) && c.local_ip.is_none() {
        // A wildcard listener: the IP-literal class routes by the connection's local address
        // (and the access log's `s-ip` is it).
        c.local_ip = Some(c.stream.local_addr().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip()));
    }
    loop {
        if !c.reads() {
            break;
        }
        let mut read = 0;
        if c.inbuf_ready {
            process_inbuf(c, ctx, &mut bufs.out);
        } else {
            let input: &[u8] = if from_socket {
                // (`fresh` is the ring's; this ends its hold on `plain`, which a read opens into.)
                fresh = None;
                let n = match c.stream.read(&mut bufs.scratch) {
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
                read = n;
                let cipher = bufs.scratch.get(..n).unwrap_or_default();
                if c.tls.is_some() {
                    if open_tls(c, cipher, ctx, &mut bufs.plain, &mut bufs.work).is_err() {
                        return Verdict::Close;
                    }
                    &bufs.plain
                } else {
                    cipher
                }
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
            c.arrived(n);
            if n == 0 {
                // TLS: the records read held no application data (a handshake, a ticket).
            } else if c.inbuf.is_empty() {
                let p = feed(c, Some(input), ctx, &mut bufs.out);
                account(c, p, counters, ctx.services.now);
                if p.refusal.is_some() {
                    super::access::refused(c, &p, Some(input), ctx);
                }
                if let Some(rest) = input.get(p.consumed..)
                    && !rest.is_empty()
                {
                    c.inbuf.extend_from_slice(rest);
                    c.inbuf_ready = bufs.out.len() >= OUT_HIGH_WATER || !c.reads();
                }
            } else {
                c.inbuf.extend_from_slice(input);
                process_inbuf(c, ctx, &mut bufs.out);
            }
            if from_socket && read < bufs.scratch.len() && !c.eof && !c.inbuf_ready {
                break;
            }
        }
        if bufs.out.len() >= OUT_HIGH_WATER {
            match seal_out(c, &mut bufs.out, &mut bufs.spare)
                .and_then(|()| write_out(c, &mut bufs.out, counters, ring.as_deref_mut()))
            {
                Ok(true) => {}
                Ok(false) => return Verdict::Keep,
                Err(_) => return Verdict::Close,
            }
        }
    }
    if c.proto.is_h2() {
        // HTTP/2: what waits for window, or was added to streamed answers, goes out now.
        let n = c.proto.pump(&mut bufs.out);
        released(c, n, counters, ctx.services.now);
        if let Proto::H2(h2) = &mut c.proto {
            if ctx.env.draining {
                // A graceful stop: GOAWAY with the last stream id; the open streams finish.
                h2.conn.go_away(&mut bufs.out);
            }
            h2.count(counters);
        }
    }
    match seal_out(c, &mut bufs.out, &mut bufs.spare)
        .and_then(|()| write_out(c, &mut bufs.out, counters, ring.as_deref_mut()))
    {
        Ok(true) => {}
        Ok(false) => return Verdict::Keep,
        Err(_) => return Verdict::Close,
    }
    if c.tail.is_none()
        && let Some(tail) = c.proto.take_tail()
    {
        // A file or stream answer's head is out: its body next, then whatever waited behind it.
        c.tail = Some(tail);
        let input = Input::nothing_new(!from_socket);
        return drive(c, input, ctx, bufs);
    }
    if peer_done {
        c.eof = true;
    }
    if c.tls.as_ref().is_some_and(|t| t.peer_closed()) {
        // TLS: the client's `close_notify` ends its input, as a FIN would (and the connection takes
        // no more: a send completing then drives it to its end).
        peer_done = true;
        c.eof = true;
    }
    // (Not while answers are still owed to a client that half-closed: they go first.)
    let half_closed = peer_done && c.half_close && c.inbuf.is_empty() && c.proto.owes_only_answers();
    if (c.proto.is_finished() || (peer_done && !half_closed))
        && let Some(tls) = c.tls.as_deref_mut()
        && tls.close_notify(&mut bufs.out)
    {
        // TLS: the server's last word is `close_notify`, before its FIN (RFC 8446 §6.1), also
        // when the client ended first.
        match write_out(c, &mut bufs.out, counters, ring.as_deref_mut()) {
            Ok(true) => {}
            Ok(false) => return Verdict::Keep,
            Err(_) => return Verdict::Close,
        }
    }
    if c.proto.is_finished() {
        // A stopping server closed a connection its client did not ask to close: the client's
        // next request may be on its way, so the close lingers too.
        if (c.proto.wants_linger() || ctx.env.draining) && !c.eof { Verdict::Linger } else { Verdict::Close }
    } else if half_closed {
        // The client finished sending (a half-close, as `printf … | nc -N` does, or it is gone
        // altogether: a FIN cannot tell). No further request is read, and the answers still owed
        // are sent; a write that fails closes the connection then.
        c.proto.close(&mut bufs.out);
        // (HTTP/2 says so with a GOAWAY: written now, never left in the thread's buffer.)
        match seal_out(c, &mut bufs.out, &mut bufs.spare).and_then(|()| write_out(c, &mut bufs.out, counters, ring)) {
            Ok(_) => Verdict::Keep,
            Err(_) => Verdict::Close,
        }
    } else if peer_done {
        // The client went away in the middle of a request (or with nothing owed): close; a
        // queued request sees `is_disconnected` and a body being read ends `Gone`.
        Verdict::Close
    } else if c.eof && c.closes_at_held_eof() {
        // Its end-of-file is known (epoll's hang-up event, or the ring's receive brought it)
        // but input before it is held back: the client is gone all the same.
        Verdict::Close
    } else {
        Verdict::Keep
    }
}

/// TLS: opens `cipher`, just read for `c`, into `plain` (cleared first). `Err`: the connection
/// failed, and is counted and sent its alert (if it gets one): close it.
fn open_tls<H: ?Sized>(
    c: &mut Connection,
    cipher: &[u8],
    ctx: &DriveCtx<'_, H>,
    plain: &mut Vec<u8>,
    work: &mut Vec<u8>,
) -> Result<(), ()> {
    let Some(tls) = c.tls.as_deref_mut() else { return Ok(()) };
    plain.clear();
    let (stream, port, local_ip) = (&c.stream, c.port, c.local_ip);
    let local = || match local_ip {
        Some(ip) => SocketAddr::new(ip, port),
        // A wildcard listener: the binding may be for the connection's own address.
        None => stream.local_addr().unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)),
    };
    let Err(reason) = tls.open(cipher, local, ctx.tls_table, plain, work, ctx.counters) else {
        return Ok(());
    };
    tracing::debug!(?reason, "TLS connection failed: closed");
    ctx.counters.tls_failed(reason);
    let mut alert = Vec::new();
    tls.failure_alert(reason, &mut alert);
    if !alert.is_empty() {
        // Written at once, also with the ring (the connection closes next); what the socket does
        // not take is lost with it.
        let _ = write_until_full(&mut c.stream, &alert);
    }
    Err(())
}

/// TLS: `out`'s plaintext sealed into records, after the records the session owes (which go
/// alone when `out` is empty). A cleartext connection's `out` is left as it is. `Err`: the
/// session failed; close.
pub(super) fn seal_out(c: &mut Connection, out: &mut Vec<u8>, spare: &mut Vec<u8>) -> io::Result<()> {
    match c.tls.as_deref_mut() {
        None => Ok(()),
        Some(tls) => tls.seal_out(out, spare).map_err(|_| io::ErrorKind::InvalidData.into()),
    }
}

/// Answers requests held in the connection's own input buffer.
pub(super) fn process_inbuf<H: Handler + ?Sized>(c: &mut Connection, ctx: &DriveCtx<'_, H>, out: &mut Vec<u8>) {
    let p = feed(c, None, ctx, out);
    account(c, p, ctx.counters, ctx.services.now);
    if p.refusal.is_some() {
        super::access::refused(c, &p, None, ctx);
    }
    c.inbuf.drain(..p.consumed.min(c.inbuf.len()));
    c.inbuf_ready = !c.inbuf.is_empty() && (out.len() >= OUT_HIGH_WATER || !c.reads());
    if c.inbuf.is_empty() && c.inbuf.capacity() > 0 {
        // An idle connection holds no buffer.
        c.inbuf = Vec::new();
    }
}

/// Hands input to the connection's protocol state: `input`, or the connection's own `inbuf`.
pub(super) fn feed<H: Handler + ?Sized>(
    c: &mut Connection,
    input: Option<&[u8]>,
    ctx: &DriveCtx<'_, H>,
    out: &mut Vec<u8>,
) -> h1::Progress {
    let mut dispatch = Dispatch {
        services: &ctx.services,
        port: c.port,
        local_ip: c.local_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        key: c.key,
        serial: c.serial,
        disconnected: &mut c.holds.disconnected,
        body_pipe: &mut c.holds.body_pipe,
        group: &mut c.holds.group,
        plan_panicked: false,
        tls: c.tls.as_deref().and_then(|t| t.info()),
        socket: &c.stream,
        peer: &mut c.peer,
        routed: None,
    };
    let input = input.unwrap_or(&c.inbuf);
    if let Proto::H1(h1) = &c.proto
        && ctx.http2
        && h1.served() == 0
        && h1.is_between_requests()
    {
        // A connection's protocol is chosen by its first bytes (the h2c preface) or, over TLS,
        // by what ALPN agreed.
        let h2 = match dispatch.tls {
            Some(tls) => Some(tls.alpn.as_deref() == Some(b"h2")),
            None => super::h2::is_h2c_preface(input),
        };
        match h2 {
            Some(true) => {
                c.proto = Proto::H2(Box::default());
                if let Some(n) = ctx.counters.h2.first() {
                    n.add(1);
                }
            }
            Some(false) => {}
            None => return h1::Progress::default(),
        }
    }
    match &mut c.proto {
        Proto::H1(h1) => h1.handle_input(input, &ctx.env, &mut dispatch, out),
        Proto::H2(h2) => h2.feed(input, &ctx.env, &mut dispatch, out, ctx.services.now),
    }
}

/// Counts what a call into `h1` made of the input (in the pass that began at `now`): requests,
/// refusals, answers (timed into the duration histogram).
pub(super) fn account(c: &mut Connection, p: h1::Progress, counters: &WorkerCounters, now: Instant) {
    if p.requests > 0 {
        counters.requests_received.add(u64::from(p.requests));
    }
    if p.too_large > 0 {
        counters.too_large.add(u64::from(p.too_large));
    }
    c.unsent += p.responses;
    c.owed.step(p.requests, p.responses, now, &counters.request_duration);
}

/// Counts `released` answers encoded after their request's pass (deferred answers, answers that
/// waited behind a body's tail), timed into the duration histogram.
#[inline]
pub(super) fn released(c: &mut Connection, released: u32, counters: &WorkerCounters, now: Instant) {
    c.unsent += released;
    c.owed.step(0, released, now, &counters.request_duration);
}

/// Writes the thread's output buffer; what the kernel does not take moves to the connection.
/// `Ok(true)`: everything was written.
///
/// With the ring (`outbox`), small output becomes the connection's send (in an outbox slot), or
/// waits in `outbuf` behind the send in flight: `Ok(false)`, and the send's completion drives
/// the connection on.
pub(super) fn write_out(
    c: &mut Connection,
    out: &mut Vec<u8>,
    counters: &WorkerCounters,
    mut outbox: Option<&mut Outbox>,
) -> io::Result<bool> {
    if out.is_empty() {
        return Ok(true);
    }
    if outbox.is_none() && !c.outbuf.is_empty() {
        // Output held back goes first (full duplex: TLS records made while a stream body goes
        // out; answers a finished TLS tail released behind its last records).
        c.outbuf.extend_from_slice(out);
        out.clear();
        return flush_outbuf(c, counters, None);
    }
    if let Some(outbox) = outbox.as_deref_mut() {
        if c.armed.sending() || !c.outbuf.is_empty() {
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
            c.armed.start_send(outbox.put(buf, c.key, c.serial));
            return Ok(false);
        }
        // A large output (a pipelined batch) is sent at once from the thread's buffer, still
        // in cache; what the kernel does not take becomes the connection's send.
    }
    let written = match write_until_full(&mut c.stream, out) {
        Ok(n) => n,
        Err(e) => {
            out.clear();
            return Err(e);
        }
    };
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
        c.armed.stall();
    }
    Ok(false)
}

/// Writes `bytes` to `stream` until they are all taken or the socket is full (`WouldBlock`, or a
/// write that takes nothing); the number taken. Retries `Interrupted`.
fn write_until_full(stream: &mut impl Write, bytes: &[u8]) -> io::Result<usize> {
    let mut written = 0;
    while written < bytes.len() {
        match stream.write(bytes.get(written..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

/// Writes what the connection holds back. `Ok(true)`: nothing is left.
///
/// With the ring (`outbox`): `Ok(false)` while a send is in flight; what waits in `outbuf` becomes
/// the next send.
pub(super) fn flush_outbuf(
    c: &mut Connection,
    counters: &WorkerCounters,
    outbox: Option<&mut Outbox>,
) -> io::Result<bool> {
    if let Some(outbox) = outbox {
        if c.armed.sending() {
            return Ok(false);
        }
        if c.outbuf.is_empty() {
            return Ok(true);
        }
        c.armed.start_send(outbox.put(std::mem::take(&mut c.outbuf), c.key, c.serial));
        c.out_pos = 0;
        return Ok(false);
    }
    let n = write_until_full(&mut c.stream, c.outbuf.get(c.out_pos..).unwrap_or_default())?;
    c.out_pos += n;
    if let Some(window) = &mut c.stall {
        window.took(n);
    }
    if c.out_pos < c.outbuf.len() {
        return Ok(false);
    }
    if !c.outbuf.is_empty() {
        c.outbuf = Vec::new();
        c.out_pos = 0;
        counters.responses_sent.add(u64::from(c.unsent));
        c.unsent = 0;
    }
    Ok(true)
}

/// Sends what follows the last answer's head: a file with `sendfile(2)`, a shared body with
/// `write(2)` from its shared bytes, or what a stream's writer has added. When it is all out,
/// releases the answers that waited behind it into `out`. `Ok(true)`: nothing is left to send.
/// File, shared and stream body bytes count to the connection's group (`BytesSent`) as the
/// kernel takes them.
pub(super) fn send_tail<H: ?Sized>(
    c: &mut Connection,
    out: &mut Vec<u8>,
    ctx: &DriveCtx<'_, H>,
    mut outbox: Option<&mut Outbox>,
) -> io::Result<bool> {
    let (counters, worker) = (ctx.counters, ctx.services.worker);
    match &mut c.tail {
        None => return Ok(true),
        Some(Tail::Stream(source)) => {
            let pipe = Arc::clone(source.pipe());
            loop {
                let taken = pipe.take(std::mem::take(&mut c.outbuf));
                c.outbuf = taken.bytes;
                c.out_pos = 0;
                let empty = c.outbuf.is_empty();
                if let Some(group) = &c.holds.group {
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
        Some(Tail::Shared(shared)) => {
            // Written straight from the shared bytes (with the ring too: a direct `send`, as
            // large output is); what the socket does not take stays there, `offset` marking it.
            let rest = shared.body.get(shared.offset..).unwrap_or_default();
            let n = write_until_full(&mut c.stream, rest)?;
            shared.offset += n;
            if let Some(group) = &c.holds.group {
                group.sent(worker, n);
            }
            if let Some(window) = &mut c.stall {
                window.took(n);
            }
            if n < rest.len() {
                return Ok(false);
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
                if let Some(group) = &c.holds.group {
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
    let n = c.proto.tail_sent(out);
    released(c, n, ctx.counters, ctx.services.now);
    Ok(true)
}

impl<H: Handler + ?Sized> Worker<H> {
    /// Drives connection `key` (there) with `input`, which brings no bytes of its own.
    pub(super) fn drive_key(&mut self, key: usize, input: Input<'static>, now: Instant) -> Verdict {
        let Some(c) = self.conns.get_mut(key) else { return Verdict::Close };
        let ctx = self.context.drive_ctx(self.draining.is_some(), now);
        drive(c, input, &ctx, &mut self.bufs)
    }
}
