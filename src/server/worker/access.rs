//! The loop's side of the access log: the lines of requests the codec refused (a malformed or
//! over-long head, `408`, a streamed body that failed) and of deferred answers. (Inline answers
//! are logged by the dispatch, which sees the request: `Dispatch::called`.)

use std::net::IpAddr;

use super::connection::Connection;
use super::pipeline::DriveCtx;
use crate::access_log::line::{self, Facts};
use crate::h1::{Completed, Progress};

/// The client's address, asked of the socket once per connection (`None`: it is gone).
fn client(c: &mut Connection) -> Option<IpAddr> {
    if c.peer.is_none() {
        c.peer = c.stream.peer_addr().ok().map(Box::new);
    }
    c.peer.as_deref().map(|a| a.ip())
}

/// The server's address of `c` (a wildcard listener's connection asks its socket, once).
fn server(c: &mut Connection) -> Option<IpAddr> {
    if c.local_ip.is_none() {
        c.local_ip = c.stream.local_addr().ok().map(|a| a.ip());
    }
    c.local_ip
}

/// The line of the request the codec refused in `p`, if it did: one handed to the service
/// (a streamed body that failed) completes the line its head began; one it never saw is read
/// from `input` (`None`: the connection's own `inbuf`) as far as its first line allows, and
/// logged in the server's log.
#[cold]
pub(super) fn refused<H: ?Sized>(c: &mut Connection, p: &Progress, input: Option<&[u8]>, ctx: &DriveCtx<'_, H>) {
    let (Some(r), Some(cell)) = (p.refusal, ctx.services.log) else { return };
    let now = ctx.services.now;
    if let Some(seq) = r.seq {
        cell.borrow_mut().answered(c.key, c.serial, seq, r.status, r.bytes, now);
        return;
    }
    let Some(needs) = cell.borrow().needs(None) else { return };
    let client = if needs.client { client(c) } else { None };
    let server = if needs.server { server(c) } else { None };
    let taken = input.is_none().then(|| std::mem::take(&mut c.inbuf));
    let input = input.or(taken.as_deref()).unwrap_or_default();
    let request = input.get(r.at..).unwrap_or_default();
    let (method, target, version) = line::request_line(request);
    let facts = Facts {
        method,
        target,
        version,
        status: r.status,
        sent: r.bytes,
        received: request.len() as u64,
        client,
        server,
        port: c.port,
        ..Facts::default()
    };
    cell.borrow_mut().line(None, &facts, now);
    if let Some(inbuf) = taken {
        c.inbuf = inbuf;
    }
}

/// The line of deferred request `seq` of `c`, whose answer was just made (`done`); none when it
/// was not (an HTTP/2 stream reset meanwhile), and what was kept for it goes.
#[inline]
pub(super) fn completed<H: ?Sized>(c: &Connection, seq: u32, done: &Completed, ctx: &DriveCtx<'_, H>) {
    let Some(cell) = ctx.services.log else { return };
    match done.sent {
        Some(sent) => cell.borrow_mut().answered(c.key, c.serial, seq, sent.status, sent.bytes, ctx.services.now),
        None => cell.borrow_mut().unanswered(c.key, seq),
    }
}
