//! The io_uring backend's dispatch: setting up the ring, arming operations, completions.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::time::{Duration, Instant};

use mio::Events;
use mio::net::TcpStream;

use super::connection::{Hangup, Recv};
use super::pipeline::{Input, drive};
use super::tag::Op;
use super::{ACCEPT_BACKOFF, Verdict, Worker};
use crate::app::Handler;
use crate::server::Backend;
use crate::server::listener;
use crate::server::ring::{Done, Ring};

/// io_uring: input a connection holds back (its output waits, its body reader is full…) beyond
/// which its multishot receive is cancelled, to be armed again once it wants input.
pub(super) const STASH_LIMIT: usize = 64 * 1024;

impl<H: Handler + ?Sized> Worker<H> {
    /// Sets up `backend` on this thread (the one that will submit to a ring) and tells `ready`
    /// which it got.
    pub(super) fn start_backend(&mut self, backend: Backend) -> io::Result<Backend> {
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
        ring.readable_multishot(self.poll.as_raw_fd(), Op::Epoll.encode());
        if self.context.limits.max_connections.is_none() {
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
    pub(super) fn arm_accepts(&mut self) {
        // With a connection limit, listeners stay with `mio` (see `start_backend`).
        if self.context.limits.max_connections.is_some()
            || self.accept_paused_until.is_some()
            || self.draining.is_some()
        {
            return;
        }
        let Some(ring) = &mut self.ring else { return };
        for (i, (l, armed)) in self.listeners.iter().zip(&mut self.accept_armed).enumerate() {
            if !*armed {
                ring.accept_multishot(l.as_raw_fd(), Op::Accept(i).encode());
                *armed = true;
            }
        }
    }

    /// Listener `i` accepted a connection through the ring (or failed to).
    pub(super) fn on_accept(&mut self, i: usize, d: &Done, now: Instant) {
        if !d.more()
            && let Some(armed) = self.accept_armed.get_mut(i)
        {
            *armed = false;
        }
        if d.result >= 0 {
            // SAFETY: the kernel just created this descriptor for us; nothing else owns it.
            let stream = unsafe { TcpStream::from_raw_fd(d.result) };
            // One accepted as the stop cancelled the accepts is served like those the stop took
            // from the backlog (its answer says `Connection: close`): closing it would reset a
            // client that another process holding the socket (a restart's) would have served.
            let (port, ip) = self.listener_addrs.get(i).copied().unwrap_or((0, None));
            let tls = self.speaks_tls(i, port);
            self.add_connection(stream, port, ip, tls, None);
        } else if !matches!(-d.result, libc::ECANCELED | libc::EINTR | libc::EAGAIN)
            && !listener::is_transient(&io::Error::from_raw_os_error(-d.result))
        {
            // Out of descriptors or memory (or an unknown failure): back off, never spin.
            let e = io::Error::from_raw_os_error(-d.result);
            tracing::warn!(error = %e, "accept failed: accepting pauses for 100 ms");
            self.accept_paused_until = Some(now + ACCEPT_BACKOFF);
        }
        if !d.more() {
            if self.draining.is_none() {
                self.arm_accepts();
            } else if !self.accepting_in_ring() {
                self.accepts_ended(now);
            }
        }
    }

    /// What the ring completed, in order.
    pub(super) fn on_ring(&mut self, events: &mut Events, now: Instant) {
        let mut done = std::mem::take(&mut self.done);
        if let Some(ring) = &mut self.ring {
            ring.take(&mut done);
        }
        for d in &done {
            match Op::decode(d.tag) {
                Some(Op::Recv { key, serial }) => self.on_recv(key, serial, d, now),
                Some(Op::Writable { key, serial }) => self.on_writable(key, serial, now),
                Some(Op::Hangup { key, serial }) => self.on_hangup(key, serial, d, now),
                Some(Op::Send(slot)) => self.on_send(slot, d, now),
                Some(Op::Accept(i)) => self.on_accept(i, d, now),
                Some(Op::Epoll) => {
                    if !d.more()
                        && let Some(ring) = &mut self.ring
                    {
                        // The multishot poll ended (an overflow, say): arm it again.
                        ring.readable_multishot(self.poll.as_raw_fd(), Op::Epoll.encode());
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
                Some(Op::Cancel) | None => {} // a cancel's own completion (`None`: never made)
            }
        }
        done.clear();
        self.done = done;
    }

    /// A receive completed: the bytes go to the connection (or are dropped, lingering), and the
    /// buffer back to the ring.
    pub(super) fn on_recv(&mut self, key: usize, serial: u32, d: &Done, now: Instant) {
        let Some(ring) = &self.ring else { return };
        let (bytes, bid) = ring.received(d);
        let verdict = match self.conns.get_mut(key) {
            Some(c) if c.serial as u32 == serial && c.armed.receiving() => {
                if !d.more() {
                    c.armed.recv = Recv::Off;
                }
                Some(if d.result < 0 {
                    match -d.result {
                        // No buffer was free, a signal, or our cancel: receive again when wanted.
                        libc::ENOBUFS | libc::EINTR | libc::EAGAIN | libc::ECANCELED => Verdict::Keep,
                        _ => Verdict::Close,
                    }
                } else if c.is_lingering() {
                    if bytes.is_empty() { Verdict::Close } else { c.lingered(bytes.len()) }
                } else {
                    if bytes.is_empty() {
                        c.eof = true;
                    }
                    let ctx = self.context.drive_ctx(self.draining.is_some(), now);
                    let input = Input::Ring((!bytes.is_empty()).then_some(bytes));
                    drive(c, input, &ctx, &mut self.bufs)
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
    pub(super) fn on_writable(&mut self, key: usize, serial: u32, now: Instant) {
        let verdict = match self.conns.get_mut(key) {
            Some(c) if c.serial as u32 == serial && c.armed.writable => {
                c.armed.writable = false;
                if c.is_lingering() {
                    return;
                }
                self.drive_key(key, Input::Ring(None), now)
            }
            _ => return,
        };
        self.apply(key, verdict, now);
    }

    /// A connection's wait for its client's hang-up completed: a reset closes it, an
    /// end-of-file does if [`closes_at_held_eof`](super::connection::Connection::closes_at_held_eof);
    /// a receive armed again meanwhile reads either itself.
    pub(super) fn on_hangup(&mut self, key: usize, serial: u32, d: &Done, now: Instant) {
        let Some(c) = self.conns.get_mut(key) else { return };
        if c.serial as u32 != serial || c.armed.hangup != Hangup::On {
            return;
        }
        // Never armed again: the end-of-file stays (it would complete at once), and a failed
        // wait could fail again.
        c.armed.hangup = Hangup::Seen;
        let Ok(events) = i16::try_from(d.result) else { return };
        if c.armed.receiving() || events <= 0 {
            return;
        }
        if events & (libc::POLLERR | libc::POLLHUP) != 0 || c.closes_at_held_eof() {
            // (Unlike a receive's end-of-file, this one does not set `eof`: input sent before it
            // may still be in the socket, to be received when the connection takes input again.)
            self.apply(key, Verdict::Close, now);
        }
    }

    /// A send completed: the kernel took its bytes (or part of them, or failed). All taken, the
    /// connection goes on with what waited behind it; part, the rest is sent as room opens.
    pub(super) fn on_send(&mut self, slot: u32, d: &Done, now: Instant) {
        let Some((key, serial)) = self.bufs.outbox.owner(slot) else { return };
        let Some(c) =
            self.conns.get_mut(key).filter(|c| c.serial == serial && c.armed.send.is_some_and(|s| s.slot == slot))
        else {
            // Its connection is gone (the send was cancelled, or completed first).
            self.bufs.outbox.release(slot);
            return;
        };
        if d.result < 0 && matches!(-d.result, libc::EINTR | libc::EAGAIN) {
            self.bufs.outbox.requeue(slot);
            self.arm(key);
            return;
        }
        let Ok(n @ 1..) = usize::try_from(d.result) else {
            // The client is gone (reset, broken pipe…) or took nothing: the answers cannot be
            // sent. The send is over: its slot is freed here, not by `close`.
            self.bufs.outbox.release(slot);
            c.armed.send = None;
            self.close(key);
            return;
        };
        if let Some(window) = &mut c.stall {
            window.took(n);
        }
        if self.bufs.outbox.took(slot, n) {
            // The client's socket is full: the rest goes as room opens, and from now on the
            // client is judged by the rate it reads at.
            c.armed.stall();
            self.rearm(key);
            return;
        }
        self.bufs.outbox.release(slot);
        // Stalled, its send-rate window ends; timed, its deadline was the send's: both need a rearm.
        let rearm = c.armed.send.take().is_some_and(|s| s.stalled || s.timed);
        if c.outbuf.is_empty() {
            self.context.counters().responses_sent.add(u64::from(c.unsent));
            c.unsent = 0;
            if !rearm && c.armed.receiving() && c.wants_input() && c.tail.is_none() {
                // The common case, a keep-alive answer sent: nothing waited behind it, and the
                // connection's receive and deadline (its phase's) are as they were. (A stream
                // body going out while its request's body is read takes input too, but its next
                // piece must be sent: driven.)
                return;
            }
        }
        let verdict = self.drive_key(key, Input::Ring(None), now);
        self.apply(key, verdict, now);
    }

    /// io_uring: puts in the ring what a kept connection waits for — a receive while it wants
    /// input (or lingers), a wait for room while its output waits for the client.
    pub(super) fn arm(&mut self, key: usize) {
        let Some(ring) = &mut self.ring else { return };
        let Some(c) = self.conns.get_mut(key) else { return };
        let fd = c.stream.as_raw_fd();
        let (recv, writable) = (Op::recv(key, c.serial), Op::writable(key, c.serial));
        let lingering = c.is_lingering();
        let wants_input = c.wants_input();
        if (lingering || wants_input) && !c.armed.receiving() {
            ring.recv(fd, recv.encode());
            c.armed.recv = Recv::On;
        } else if !lingering && !wants_input && c.armed.recv == Recv::On && c.inbuf.len() >= STASH_LIMIT {
            // Bounded buffering: stop receiving what cannot be used yet.
            ring.cancel(recv.encode(), Op::Cancel.encode());
            c.armed.recv = Recv::Cancelling;
        }
        if !lingering && !c.armed.receiving() && !c.eof && c.armed.hangup == Hangup::Off {
            // No receive to see the client end or reset (input is held back): wait for that.
            ring.hangup(fd, Op::hangup(key, c.serial).encode());
            c.armed.hangup = Hangup::On;
        }
        if let Some(send) = c.armed.send {
            if let Some((ptr, len)) = self.bufs.outbox.next_send(send.slot) {
                // SAFETY: the bytes stay in their outbox slot, untouched, until the send's
                // completion releases it (or the ring reports them leaked).
                unsafe { ring.send(fd, ptr, len, Op::Send(send.slot).encode()) };
            }
        } else if !lingering && c.waits_for_client() && !c.armed.writable {
            // (A send in the ring waits for room itself.)
            ring.writable(fd, writable.encode());
            c.armed.writable = true;
        }
    }
}
