//! The epoll backend's dispatch: readiness events, accepting from `mio` listeners.

use std::io;
use std::time::Instant;

use mio::{Events, Token};

use super::close::linger_read;
use super::pipeline::Input;
use super::{ACCEPT_BACKOFF, FULL_RETRY, LISTENER_BASE, WAKER, Worker};
use crate::app::Handler;
use crate::server::listener;

impl<H: Handler + ?Sized> Worker<H> {
    /// What `epoll` reported.
    pub(super) fn on_events(&mut self, events: &Events, now: Instant) {
        for event in events.iter() {
            match event.token() {
                WAKER => self.on_completions(now),
                Token(t) if t >= LISTENER_BASE => self.accept(t - LISTENER_BASE, now),
                Token(key) => self.on_conn_event(key, event.is_read_closed(), now),
            }
        }
    }

    /// Accepts from listener `i` (through `mio`) until `WouldBlock`, the connection limit, or an
    /// error that pauses accepting.
    pub(super) fn accept(&mut self, i: usize, now: Instant) {
        if self.accept_paused_until.is_some() {
            return;
        }
        loop {
            let Some(listener) = self.listeners.get(i) else { return };
            let limited = self.context.limits.max_connections;
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
                Ok((stream, peer)) => {
                    let (port, ip) = self.listener_addrs.get(i).copied().unwrap_or((0, None));
                    let tls = self.speaks_tls(i, port);
                    // (`accept4` said who the client is: the access log need not ask, `getpeername`.)
                    self.add_connection(stream, port, ip, tls, Some(peer))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if listener::is_transient(&e) => {
                    tracing::debug!(error = %e, "a connection failed before accept: skipped");
                    continue;
                }
                Err(e) => {
                    // Out of descriptors or memory (or an unknown failure): back off, never spin.
                    tracing::warn!(error = %e, "accept failed: accepting pauses for 100 ms");
                    self.accept_paused_until = Some(now + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    /// Connection `key` is readable or writable (or its peer half-closed): drive it, or drop what
    /// it sends if it lingers.
    pub(super) fn on_conn_event(&mut self, key: usize, read_closed: bool, now: Instant) {
        let verdict = match self.conns.get_mut(key) {
            None => return,
            Some(conn) if conn.is_lingering() => linger_read(conn, &mut self.bufs.scratch),
            Some(conn) => {
                if read_closed {
                    conn.eof_hint();
                }
                self.drive_key(key, Input::Socket, now)
            }
        };
        self.apply(key, verdict, now);
    }
}
