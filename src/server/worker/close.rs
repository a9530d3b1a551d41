//! The end of a connection: close, linger after a server-side close, and the graceful drain.

use std::io::{self, Read};
use std::net::Shutdown;
use std::os::fd::IntoRawFd;
use std::time::{Duration, Instant};

use super::connection::{Connection, Hangup, Mode};
use super::pipeline::Input;
use super::tag::Op;
use super::{Draining, Verdict, Worker};
use crate::app::Handler;

/// How long a connection closed by the server keeps reading (and dropping) what the client still
/// sends, so the client reads the last answer instead of a reset.
pub(super) const LINGER: Duration = Duration::from_secs(2);
/// Bytes dropped while lingering before giving up on the client.
pub(super) const LINGER_MAX_BYTES: usize = 1024 * 1024;
/// During a graceful stop, how long a connection that has not sent a request yet may take to.
pub(super) const FRESH_GRACE: Duration = Duration::from_secs(1);
/// During a graceful stop, how long an idle keep-alive connection may take to send its next
/// request (answered with `Connection: close`) before it is closed: counted from the stop, as its
/// client may be sending right then. A client in a request loop sends its next request within a
/// round trip of the last answer (under 300 ms on any terrestrial path, microseconds on a LAN)
/// plus its own scheduling delay; 500 ms covers both with room, and keeps a stop that waits on
/// idle connections under the [`FRESH_GRACE`] it already grants a new one.
pub(super) const IDLE_GRACE: Duration = Duration::from_millis(500);

/// Drops what a lingering connection sends; `Close` at its end-of-file, an error, or too much.
pub(super) fn linger_read(c: &mut Connection, scratch: &mut [u8]) -> Verdict {
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

impl<H: Handler + ?Sized> Worker<H> {
    /// Does what a drive decided for connection `key`: keep it (and rearm), close it, or linger.
    pub(super) fn apply(&mut self, key: usize, verdict: Verdict, now: Instant) {
        match verdict {
            Verdict::Keep => self.rearm(key),
            Verdict::Close => self.close(key),
            Verdict::Linger => {
                let Some(conn) = self.conns.get_mut(key) else { return };
                if conn.armed.sending() {
                    // (No drive lingers with a send in flight.) Were the last answer still in the
                    // ring, lingering (a `shutdown`) would wait until it is sent: its completion
                    // drives the connection here again.
                    self.rearm(key);
                    return;
                }
                if !conn.is_lingering() {
                    let _ = conn.stream.shutdown(Shutdown::Write);
                    let until = now + LINGER;
                    conn.mode = Mode::Lingering { dropped: 0 };
                    self.lingering.push_back((key, conn.serial, until));
                    // Whatever the client sent meanwhile is read (and dropped) now (with a receive
                    // in the ring too: these bytes are dropped, so their order does not matter).
                    if linger_read(conn, &mut self.bufs.scratch) == Verdict::Close {
                        self.close(key);
                    } else {
                        self.arm(key);
                    }
                }
            }
        }
    }

    /// Closes connection `key` (if there) and releases what it holds: its ring operations, its
    /// send's slot, its queued requests, its group and its connection place.
    pub(super) fn close(&mut self, key: usize) {
        let mut closed = None;
        if let Some(conn) = self.conns.try_remove(key) {
            closed = Some(conn.serial);
            self.context.log.get_mut().forget(key);
            if conn.armed_at != 0 {
                self.wheel.forget(); // its timer entry is stale: counted, dropped in bulk later
            }
            let mut stream = Some(conn.stream);
            if let Some(ring) = &mut self.ring {
                // A receive, poll or send in the ring holds the socket open: cancel them, and
                // the socket closes when the kernel lets go of it.
                let cancel = Op::Cancel.encode();
                if conn.armed.receiving() {
                    ring.cancel(Op::recv(key, conn.serial).encode(), cancel);
                }
                if conn.armed.writable {
                    ring.cancel(Op::writable(key, conn.serial).encode(), cancel);
                }
                if conn.armed.hangup == Hangup::On {
                    ring.cancel(Op::hangup(key, conn.serial).encode(), cancel);
                }
                if let Some(send) = conn.armed.send {
                    if self.bufs.outbox.is_queued(send.slot) {
                        // The slot is freed at the send's completion (cancelled, or done after all).
                        ring.cancel(Op::Send(send.slot).encode(), cancel);
                    } else {
                        self.bufs.outbox.release(send.slot);
                    }
                }
                // The descriptor is closed in the ring too, after the entries above: the kernel
                // takes them in order, so none queued before can act on its number once another
                // file reuses it, and the close costs no call of its own.
                if let Some(s) = stream.take() {
                    ring.close(s.into_raw_fd(), cancel);
                }
            }
            // (Its queued requests, body reader and group are let go by `Holds` as it drops.)
            if self.context.limits.max_connections.is_some() {
                self.shared.release_place();
            }
            // Without the ring, dropping the stream closes the socket; on Linux that also removes
            // it from the epoll set (we never duplicate connection descriptors), so no deregister
            // call is spent.
            drop(stream);
            self.context.counters().current_connections.sub(1);
        }
        if let Some(serial) = closed
            && !self.context.tasks.is_empty()
        {
            // The futures of its requests go too (their answers could not be sent).
            self.context.tasks.cancel(key, serial);
        }
    }

    /// Closes the lingering connections whose time is up.
    pub(super) fn expire_lingering(&mut self, now: Instant) {
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

    /// Starts a graceful stop: accepts what the backlog holds, then closes the listeners (once
    /// the ring has given back its accepts on them, see [`Worker::accepts_ended`]).
    pub(super) fn begin_drain(&mut self, now: Instant) {
        self.draining = Some(Draining { started: now, deadline: now + self.shutdown_timeout });
        // Connections already in the backlog were accepted by the kernel: serve them too.
        self.accept_backlogs(now);
        if let Some(ring) = &mut self.ring {
            // An accept in the ring holds its listener open: cancel it (a connection it still
            // hands over is served, as those in the backlog are: the socket may live on in a
            // restart's new process, whose client must not meet a reset). It stays marked armed
            // until its last completion.
            for (i, armed) in self.accept_armed.iter().enumerate() {
                if *armed {
                    ring.cancel(Op::Accept(i).encode(), Op::Cancel.encode());
                }
            }
        }
        if !self.accepting_in_ring() {
            self.close_listeners();
        }
    }

    /// Whether an accept of this thread's is still in the ring (armed, or cancelled and not yet
    /// given back).
    pub(super) fn accepting_in_ring(&self) -> bool {
        self.accept_armed.contains(&true)
    }

    /// During a graceful stop, the ring has given back the last of its accepts: what the backlog
    /// holds now is accepted and served, and the listeners close.
    ///
    /// The ring's accepts wait on a listener as exclusive waiters (`EPOLLEXCLUSIVE`): the
    /// kernel wakes one of them per connection. One being cancelled can take that wakeup and
    /// accept nothing, and the connection then waits in the backlog, unseen by the other
    /// waiters (a restart's new process) until another connection comes. Each thread accepts
    /// once more after its own accepts are gone, so no connection is left waiting that way.
    pub(super) fn accepts_ended(&mut self, now: Instant) {
        self.accept_backlogs(now);
        self.close_listeners();
    }

    /// During a graceful stop: accepts all that every listener's backlog holds (a pause after a
    /// failed accept does not hold this back).
    fn accept_backlogs(&mut self, now: Instant) {
        for i in 0..self.listeners.len() {
            self.accept_paused_until = None;
            self.accept(i, now);
        }
    }

    fn close_listeners(&mut self) {
        for mut l in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut l);
        }
    }

    /// Closes, lingering, every connection that has nothing in flight and has had its grace
    /// since the stop began: [`IDLE_GRACE`] to send its next request, [`FRESH_GRACE`] for one
    /// that has not sent its first yet. What arrived meanwhile is read first: a request is
    /// answered (with `Connection: close`) rather than dropped.
    pub(super) fn sweep_draining(&mut self, d: Draining, now: Instant) {
        if now < d.started + IDLE_GRACE {
            return;
        }
        let fresh_expired = now >= d.started + FRESH_GRACE;
        let idle: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.is_lingering() && c.is_idle() && (c.proto.served() > 0 || fresh_expired))
            .map(|(k, _)| k)
            .collect();
        for key in idle {
            self.close_idle(key, now);
        }
    }

    /// Ends idle connection `key` during a graceful stop, unless a request has arrived: the
    /// socket is looked at (not read: with the ring, a receive may hold earlier bytes) and if
    /// something waits, epoll drives the connection now and the ring's receive brings it next.
    /// Otherwise the close lingers, so a request crossing it meets a FIN, not a reset.
    fn close_idle(&mut self, key: usize, now: Instant) {
        let Some(c) = self.conns.get_mut(key) else { return };
        let verdict = match c.stream.peek(&mut [0u8; 1]) {
            Ok(0) => Verdict::Close,
            Ok(_) if self.ring.is_some() => return,
            Ok(_) => self.drive_key(key, Input::Socket, now),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if c.proto.is_h2() {
                    // HTTP/2 is told: GOAWAY (written at once, also with the ring: the close follows).
                    c.proto.close(&mut self.bufs.out);
                    let counters = self.context.counters();
                    let sent = super::pipeline::seal_out(c, &mut self.bufs.out, &mut self.bufs.spare)
                        .and_then(|()| super::pipeline::write_out(c, &mut self.bufs.out, counters, None));
                    self.bufs.out.clear();
                    if sent.is_err() {
                        self.apply(key, Verdict::Close, now);
                        return;
                    }
                }
                Verdict::Linger
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return, // the next sweep looks again
            Err(_) => Verdict::Close,
        };
        self.apply(key, verdict, now);
    }
}
