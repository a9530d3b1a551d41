//! Answers in request order: the service's answer filed into the output or, behind a deferred
//! one, into an in-flight slot; deferred answers completed; what is next in order released.

use std::collections::VecDeque;

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::body::DrainRead;
use super::{CONTINUE, Close, Conn, Env, Progress, Reading, Refusal, TailState};
use crate::app::reply::Answer;
use crate::app::response::Tail;
use crate::app::service::{Outcome, Sent, Service};
use crate::app::{Request, Response, Version};
use crate::h1::encode::{self, H1Encoder};

/// An answer slot, kept in request order while any earlier answer is deferred.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) seq: u32,
    pub(super) state: SlotState,
}

/// The answer slots in request order. None exist on the inline fast path, so the deque is boxed
/// and freed whenever it empties: an idle connection carries one null pointer for it.
#[derive(Debug, Default)]
// The box is the point: `Option<Box<_>>` is 8 bytes where an empty `VecDeque` is 32.
#[allow(clippy::box_collection)]
pub(super) struct Slots(Option<Box<VecDeque<Slot>>>);

impl Slots {
    pub(super) const fn new() -> Self {
        Slots(None)
    }

    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    #[inline]
    pub(super) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |q| q.len())
    }

    pub(super) fn front(&self) -> Option<&Slot> {
        self.0.as_ref()?.front()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.0.iter().flat_map(|q| q.iter())
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Slot> {
        self.0.iter_mut().flat_map(|q| q.iter_mut())
    }

    pub(super) fn get_mut(&mut self, pos: usize) -> Option<&mut Slot> {
        self.0.as_mut()?.get_mut(pos)
    }

    pub(super) fn push_back(&mut self, slot: Slot) {
        self.0.get_or_insert_with(|| Box::new(VecDeque::with_capacity(4))).push_back(slot);
    }

    pub(super) fn pop_front(&mut self) -> Option<Slot> {
        let q = self.0.as_mut()?;
        let slot = q.pop_front();
        if q.is_empty() {
            self.0 = None;
        }
        slot
    }

    pub(super) fn clear(&mut self) {
        self.0 = None;
    }
}

#[derive(Debug)]
pub(super) enum SlotState {
    /// Waiting for [`Conn::complete`](super::Conn::complete); what the answer's framing must say.
    Waiting { head_only: bool, close: bool, keep_alive_10: bool, http10: bool },
    /// Encoded, waiting for the answers before it. `close`: the connection ends after it;
    /// `tail`: a body (file or stream) the caller sends after `bytes`.
    Ready { bytes: Vec<u8>, close: bool, tail: Option<Tail> },
}

/// What [`Conn::complete_counted`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Completed {
    /// Answers appended to the output (this one and those it released).
    pub released: u32,
    /// The bytes this answer was encoded into (its own, not those of earlier answers released
    /// with it), for `BytesSent`.
    pub encoded: usize,
    /// This answer, for the access log (a file or shared body counted whole); `None`: the
    /// request was unknown or answered already.
    pub sent: Option<Sent>,
}

impl Conn {
    /// Delivers the deferred answer for request `seq`, encoding it with the framing decided when
    /// the request arrived, and appends to `out` every answer that is now next in order.
    /// Returns the number of answers appended. Unknown or repeated `seq`s are ignored.
    #[cfg(any(test, feature = "internals"))] // the fuzz target's way in; the server uses `complete_counted`
    pub fn complete<A: Answer + ?Sized>(&mut self, seq: u32, reply: &A, env: &Env<'_>, out: &mut Vec<u8>) -> u32 {
        self.complete_counted(seq, reply, env, out).released
    }

    /// [`complete`](Conn::complete), also saying what the answer was (see [`Completed`]).
    pub fn complete_counted<A: Answer + ?Sized>(
        &mut self,
        seq: u32,
        reply: &A,
        env: &Env<'_>,
        out: &mut Vec<u8>,
    ) -> Completed {
        let Some(pos) = self.in_flight.iter().position(|s| s.seq == seq) else { return Completed::default() };
        let mut done = Completed::default();
        done.released = self.complete_at(pos, seq, reply, env, out, &mut done);
        done
    }

    fn complete_at<A: Answer + ?Sized>(
        &mut self,
        pos: usize,
        seq: u32,
        reply: &A,
        env: &Env<'_>,
        out: &mut Vec<u8>,
        done: &mut Completed,
    ) -> u32 {
        let Some(slot) = self.in_flight.get_mut(pos) else { return 0 };
        let SlotState::Waiting { head_only, mut close, keep_alive_10, http10 } = slot.state else { return 0 };
        // Answered while its body is still being read: the rest is drained — or, for a streamed
        // answer, read on beside it (full duplex; see `answered_beside_body`). The connection
        // ends after it when the client still waits for `100 Continue` (it may never send the
        // body at all) or it was to end after this request anyway.
        let body_open = matches!(&self.reading, Reading::Body(b) if b.seq == seq);
        if let Reading::Body(b) = &self.reading
            && body_open
            && (b.awaiting_continue || b.close_after)
        {
            close = true;
        }
        // Next in order: encoded straight into `out` (its slot, released first below, is empty).
        // Otherwise into the slot, sized once for the answer.
        let next_out = pos == 0 && !self.tail_pending();
        // Requests behind it were handed on already (queued, say): if this answer closes, they
        // are still answered, and the close goes with the last of them.
        let behind = self.in_flight.len() > pos + 1;
        let mut bytes = if next_out { Vec::new() } else { Vec::with_capacity(reply.size_hint()) };
        let target = if next_out { &mut *out } else { &mut bytes };
        let start = target.len();
        let mut enc = H1Encoder::new(target, env.common, keep_alive_10, http10).holding_close(behind);
        let mut res = Response::new(&mut enc, head_only, close || env.draining);
        reply.write_to(&mut res);
        done.encoded = res.written();
        let close = res.closes();
        let tail = res.take_tail();
        let status = res.status_code();
        let held = enc.close_held();
        if body_open {
            let streams = matches!(tail, Some(Tail::Stream(_)));
            if streams {
                if self.answered_beside_body() {
                    // The client waited for `100 Continue`: it goes before the answer's head.
                    let target = if next_out { &mut *out } else { &mut bytes };
                    target.splice(start..start, CONTINUE.iter().copied());
                    done.encoded += CONTINUE.len();
                }
            } else if close {
                self.reading = Reading::Closed { linger: true };
            } else if let Reading::Body(b) = std::mem::replace(&mut self.reading, Reading::Closed { linger: false }) {
                self.reading =
                    Reading::Drain(Box::new(DrainRead { decoder: b.decoder, budget: env.limits.max_drain_bytes }));
            }
        }
        if close {
            self.stop_reading();
        }
        let last = self.in_flight.len().saturating_sub(1);
        if held {
            // The last answer owed closes, with `Connection: close`: written when it is encoded,
            // or put into its head if it was encoded already (its application answered first).
            match self.in_flight.get_mut(last).map(|s| &mut s.state) {
                Some(SlotState::Waiting { close: last_closes, .. }) => *last_closes = true,
                Some(SlotState::Ready { bytes, close: last_closes, .. }) => {
                    encode::mark_close(bytes);
                    *last_closes = true;
                }
                None => {}
            }
        }
        let bytes_sent = done.encoded as u64 + tail.as_ref().map_or(0, Tail::known_len);
        done.sent = Some(Sent { status, bytes: bytes_sent });
        let Some(slot) = self.in_flight.get_mut(pos) else { return 0 };
        // A held close is no close here: the connection ends after the last answer owed.
        slot.state = SlotState::Ready { bytes, close: close && !held, tail };
        self.release(out)
    }

    /// The answer to the request whose body is being read streams: that body is read on beside
    /// it (full duplex) instead of drained, so an application that streams its answer from the
    /// body it reads (an echo) gets all of it. Returns whether the client waited for
    /// `100 Continue`, which the caller must then send before the answer's head (the answer
    /// invites the body; the connection still ends after it, as decided at the head).
    fn answered_beside_body(&mut self) -> bool {
        let Reading::Body(b) = &mut self.reading else { return false };
        b.beside_answer = true;
        std::mem::take(&mut b.awaiting_continue)
    }

    /// An answer that closes was encoded: no further request is read (one whose body is being
    /// read ends with it), so none is handed on behind it.
    fn stop_reading(&mut self) {
        match &mut self.reading {
            Reading::Body(b) => b.close_after = true,
            Reading::Closed { .. } => {}
            _ => self.reading = Reading::Closed { linger: true },
        }
    }

    /// Hands a request to the service with a `Response` over this connection's encoder, and
    /// files the answer: into `out`, into a slot behind an earlier deferred one, or a slot left
    /// waiting for [`complete`](Conn::complete). Returns what the service did and whether the
    /// connection closes after it.
    #[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
    pub(super) fn call<S: Service + ?Sized>(
        &mut self,
        service: &mut S,
        request: &Request<'_>,
        seq: u32,
        close: Close,
        env: &Env<'_>,
        out: &mut Vec<u8>,
        progress: &mut Progress,
    ) -> (Outcome, bool) {
        let http10 = request.version == Version::Http10;
        // While an earlier answer is deferred, later ones wait in order in their own buffer.
        let mut side = Vec::new();
        let queued_behind = !self.in_flight.is_empty();
        let target = if queued_behind { &mut side } else { &mut *out };
        let mut enc = H1Encoder::new(target, env.common, http10 && !close.answered(), http10);
        let mut res = Response::new(&mut enc, request.is_head(), close.answered());
        let outcome = match catch_unwind(AssertUnwindSafe(|| service.call(request, &mut res, seq))) {
            Ok(Outcome::Answered) => {
                if !res.is_done() {
                    res.finish();
                }
                Outcome::Answered
            }
            Ok(Outcome::Deferred) => Outcome::Deferred,
            Err(_) => {
                res.replace_with_error(500);
                Outcome::Answered
            }
        };
        let closing = match outcome {
            Outcome::Answered => res.closes(),
            Outcome::Deferred => close.requested(),
        };
        let tail = res.take_tail();
        let sent = (outcome == Outcome::Answered).then(|| Sent {
            status: res.status_code(),
            bytes: res.written() as u64 + tail.as_ref().map_or(0, Tail::known_len),
        });
        drop(res);
        service.called(request, seq, sent);
        match outcome {
            Outcome::Answered if queued_behind => {
                self.in_flight.push_back(Slot { seq, state: SlotState::Ready { bytes: side, close: closing, tail } });
            }
            Outcome::Answered => {
                progress.responses += 1;
                // Its body follows the head on the wire: nothing more until the caller sent it.
                self.tail = TailState::of(tail);
            }
            Outcome::Deferred => {
                let head_only = request.is_head();
                let close = close.requested();
                let keep_alive_10 = http10 && !close;
                self.in_flight
                    .push_back(Slot { seq, state: SlotState::Waiting { head_only, close, keep_alive_10, http10 } });
            }
        }
        (outcome, closing)
    }

    /// Appends every encoded answer that is next in order to `out`; the number appended.
    pub(super) fn release(&mut self, out: &mut Vec<u8>) -> u32 {
        let mut released = 0;
        while let Some(Slot { state: SlotState::Ready { .. }, .. }) = self.in_flight.front() {
            if self.tail_pending() {
                break;
            }
            let Some(Slot { seq, state: SlotState::Ready { bytes, close, tail } }) = self.in_flight.pop_front() else {
                break;
            };
            out.extend_from_slice(&bytes);
            released += 1;
            self.tail = TailState::of(tail);
            if close {
                // (A body read beside this answer goes on; the connection ends after it.)
                if !matches!(&self.reading, Reading::Body(b) if b.beside_answer && b.seq == seq) {
                    self.reading = Reading::Closed { linger: true };
                }
                self.in_flight.clear();
                break;
            }
        }
        released
    }

    /// Answers deferred request `seq` at once with error `status` (the application's answer, if
    /// it comes, is dropped), closes, and releases what is next in order: counted in `progress`
    /// (the answers appended, and the refusal).
    pub(super) fn answer_error(
        &mut self,
        seq: u32,
        status: u16,
        env: &Env<'_>,
        out: &mut Vec<u8>,
        progress: &mut Progress,
    ) {
        self.reading = Reading::Closed { linger: true };
        let Some(slot) = self.in_flight.iter_mut().find(|s| s.seq == seq) else { return };
        let head_only = matches!(slot.state, SlotState::Waiting { head_only: true, .. });
        let mut bytes = Vec::new();
        encode::write_error(&mut bytes, env.common, status, head_only);
        let sent = bytes.len() as u64;
        slot.state = SlotState::Ready { bytes, close: true, tail: None };
        progress.responses += self.release(out);
        progress.refusal = Some(Refusal { status, seq: Some(seq), at: 0, bytes: sent });
    }
}
