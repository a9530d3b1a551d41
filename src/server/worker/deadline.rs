//! Connection deadlines: setting them from what a connection waits for, and acting when they pass.

use std::time::Instant;

use super::pipeline::{Input, account, drive, seal_out, write_out};
use super::receive_rate;
use super::send_rate::{CHECK_TICKS, SendWindow, window_period};
use super::{Verdict, Worker};
use crate::app::Handler;
use crate::h1::Phase;
use crate::server::timer::{Entry, Wheel, trim};
use crate::tls::TlsFailure;

impl<H: Handler + ?Sized> Worker<H> {
    /// Sets a kept connection's deadline from what it waits for now; arms the wheel only when the
    /// deadline moved earlier than its live entry (a later one is found when that entry fires).
    pub(super) fn rearm(&mut self, key: usize) {
        self.arm(key);
        let now_tick = self.now_tick;
        let Some(c) = self.conns.get_mut(key) else { return };
        if c.is_lingering() {
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
            // A TLS handshake, from accept, is timed as a request head is (`header_wait`).
            let phase = if c.tls.as_ref().is_some_and(|t| t.is_handshaking()) { Phase::Head } else { c.proto.phase() };
            let served = c.proto.served();
            // (A body's deadline restarts with each arrival, but not while a send is in flight:
            // what arrives then is only held back, not read.)
            if phase != c.phase || served != c.phase_served || (phase == Phase::Body && !c.armed.sending()) {
                if phase == Phase::Body && (c.phase != phase || served != c.phase_served) {
                    // A body is waited for, anew: its rate is judged from here.
                    (c.body_since, c.body_bytes) = (now_tick, 0);
                }
                c.phase = phase;
                c.phase_since = now_tick;
                c.phase_served = served;
            }
            let since = c.phase_since;
            match phase {
                Phase::Idle => Wheel::after(since, t.idle_connection),
                Phase::Head => Wheel::after(since, t.header_wait),
                Phase::Body => {
                    let idle = Wheel::after(since, t.entity_body);
                    let slow = t.min_receive_rate.and_then(|r| receive_rate::deadline(c.body_since, c.body_bytes, &r));
                    slow.map_or(idle, |slow| if idle == 0 { slow } else { idle.min(slow) })
                }
                Phase::Drain => Wheel::after(since, t.drain_entity_body),
                Phase::App | Phase::Closed => 0,
            }
        };
        // A send in the ring that has not completed when the connection's deadline comes is
        // stuck on its client: from then on it is judged as unsent output (`on_deadline`). A
        // phase without a deadline gets one a check after the send was queued.
        let deadline = match (deadline, &mut c.armed.send) {
            (0, Some(send)) => {
                if send.timed && c.deadline != 0 {
                    c.deadline
                } else {
                    send.timed = true;
                    now_tick.saturating_add(CHECK_TICKS)
                }
            }
            (d, _) => d,
        };
        c.deadline = deadline;
        // (Compared as filed: a past deadline files at the next tick, which the live entry may
        // already have; a second entry there would be a second live one.)
        if deadline != 0 && (c.armed_at == 0 || self.wheel.filed(deadline) < c.armed_at) {
            if c.armed_at != 0 {
                self.wheel.forget(); // the entry it had is stale now
            }
            c.armed_at = self.wheel.insert(key, c.serial, deadline);
        }
    }

    /// Acts on every connection whose deadline has come.
    pub(super) fn expire_timers(&mut self, now: Instant) {
        let mut due = std::mem::take(&mut self.due);
        let conns = &self.conns;
        // Live: the connection's own entry (a stale one's connection re-armed earlier, or is
        // gone, or is another one on the same key).
        let live =
            |e: &Entry| conns.get(e.key as usize).is_some_and(|c| c.serial as u32 == e.serial && c.armed_at == e.at);
        self.wheel.expire(self.now_tick, &mut due, live);
        for e in due.drain(..) {
            let key = e.key as usize;
            let Some(c) = self.conns.get_mut(key) else { continue };
            if c.serial as u32 != e.serial || c.armed_at != e.at {
                continue; // (live when taken out; each connection acts on its own entry only)
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
        // (A burst of deadlines does not keep its buffer.)
        trim(&mut due);
        self.due = due;
    }

    /// A connection's deadline passed: a client too slow to read is dropped; a partial request
    /// gets `408`; an idle or draining connection is closed.
    pub(super) fn on_deadline(&mut self, key: usize, now: Instant) {
        let now_tick = self.now_tick;
        let Some(c) = self.conns.get_mut(key) else { return };
        if c.armed.sending() && !c.armed.stalled() {
            // Its answer is still in the ring when the connection's deadline came: the client is
            // not taking it. It is judged by its send rate from now on, not timed out as idle.
            c.armed.stall();
            self.rearm(key);
            return;
        }
        let ctx = self.context.drive_ctx(self.draining.is_some(), now);
        if c.tls.as_ref().is_some_and(|t| t.is_handshaking()) && !c.waits_for_client() {
            // The handshake did not finish within `header_wait`: closed, with nothing to say.
            tracing::debug!(reason = "tls handshake timeout", "connection dropped");
            ctx.counters.tls_failed(TlsFailure::Timeout);
            ctx.counters.timed_out.add(1);
            self.apply(key, Verdict::Close, now);
            return;
        }
        if c.waits_for_client() {
            // First hand the socket the room the client made since the last writable edge (as a
            // spurious event would: drive only writes what fits), then judge what it took.
            let input = Input::nothing_new(self.ring.is_some());
            let mut verdict = drive(c, input, &ctx, &mut self.bufs);
            if verdict == Verdict::Keep
                && c.waits_for_client()
                && let Some(window) = &mut c.stall
                && let Some(taken) = window.roll(now_tick)
                && u128::from(taken) * 1000 < u128::from(self.timeouts.min_send_rate) * window.length().as_millis()
            {
                tracing::debug!(reason = "client reads below min_send_rate", "connection dropped");
                ctx.counters.timed_out.add(1);
                verdict = Verdict::Close;
            }
            self.apply(key, verdict, now);
            return;
        }
        if c.proto.phase() == Phase::Body
            && let Some(pipe) = c.holds.body_pipe.take()
        {
            pipe.finish(Some(408));
        }
        let phase = c.proto.phase();
        let refused = c.proto.time_out(&ctx.env, &mut self.bufs.out);
        let answered = refused.responses > 0;
        tracing::debug!(reason = "timeout", ?phase, answered_408 = answered, "connection timed out");
        account(c, refused, ctx.counters, now);
        super::access::refused(c, &refused, None, &ctx);
        ctx.counters.timed_out.add(1);
        let verdict = if c.proto.has_in_flight() && !c.proto.is_h2() {
            // The `408` waits behind answers still owed; the connection ends after them.
            Verdict::Keep
        } else {
            // Everything the client sent was read already, so closing sends the `408` and a FIN,
            // not a reset; a client this slow is not lingered for.
            // The `408` is written at once, also with the ring, so the close follows it now (no
            // send is in flight here: a connection with one was judged above).
            match seal_out(c, &mut self.bufs.out, &mut self.bufs.spare)
                .and_then(|()| write_out(c, &mut self.bufs.out, ctx.counters, None))
            {
                Ok(false) if answered => Verdict::Linger,
                _ => Verdict::Close,
            }
        };
        self.apply(key, verdict, now);
    }
}
