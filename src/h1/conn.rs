//! The HTTP/1 connection state machine: bytes in, handler calls and response bytes out.
//!
//! [`Conn::handle_input`] takes the bytes the caller has buffered for this connection, answers
//! every complete request in them (pipelining) by calling the handler inline, appends the
//! answers to the caller's output buffer, and says how many input bytes it consumed. The caller
//! keeps the rest (a partial request) and calls again when more bytes arrive. Nothing here does
//! I/O, reads a clock or allocates: header slots live on the stack, the request is a view into
//! the input, and responses are written into the caller's buffer.

use std::collections::VecDeque;
use std::mem::MaybeUninit;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::decode::{BodyDecoder, Decoded};
use super::encode::CommonHeaders;
use super::encode::{self, H1Encoder};
use super::framing::{self, BodyKind};
use super::parse;
use crate::app::reply::Answer;
use crate::app::response::Tail;
use crate::app::service::{BodyMode, BodyPlan, INLINE_BODY_CAP, Outcome, Service};
use crate::app::{Request, Response, Version};
use crate::limits::{Limits, MAX_HEADERS_CAP};

/// Output past which no further pipelined request is answered until the caller has written it out:
/// a client pipelining faster than it reads cannot make hsys buffer without bound.
pub const OUT_HIGH_WATER: usize = 256 * 1024;

/// What the caller provides for one call: the shared read-only context of its thread.
#[derive(Debug)]
pub struct Env<'a> {
    /// `Server` and `Date` lines, refreshed by the caller once a second.
    pub common: &'a CommonHeaders,
    /// The limits to enforce.
    pub limits: &'a Limits,
    /// The server is stopping: every answer carries `Connection: close` and the connection ends.
    pub draining: bool,
}

/// What [`Conn`] sends when a client waiting on `Expect: 100-continue` should send its body.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Deferred answers a connection may wait for at once; past it, no further pipelined request is
/// read until the oldest is answered.
pub const MAX_IN_FLIGHT: usize = 32;

/// An answer slot, kept in request order while any earlier answer is deferred.
#[derive(Debug)]
struct Slot {
    seq: u32,
    state: SlotState,
}

/// The answer slots in request order. None exist on the inline fast path, so the deque is boxed
/// and freed whenever it empties: an idle connection carries one null pointer for it.
#[derive(Debug, Default)]
// The box is the point: `Option<Box<_>>` is 8 bytes where an empty `VecDeque` is 32.
#[allow(clippy::box_collection)]
struct Slots(Option<Box<VecDeque<Slot>>>);

impl Slots {
    const fn new() -> Self {
        Slots(None)
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    #[inline]
    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |q| q.len())
    }

    fn front(&self) -> Option<&Slot> {
        self.0.as_ref()?.front()
    }

    fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.0.iter().flat_map(|q| q.iter())
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Slot> {
        self.0.iter_mut().flat_map(|q| q.iter_mut())
    }

    fn get_mut(&mut self, pos: usize) -> Option<&mut Slot> {
        self.0.as_mut()?.get_mut(pos)
    }

    fn push_back(&mut self, slot: Slot) {
        self.0.get_or_insert_with(|| Box::new(VecDeque::with_capacity(4))).push_back(slot);
    }

    fn pop_front(&mut self) -> Option<Slot> {
        let q = self.0.as_mut()?;
        let slot = q.pop_front();
        if q.is_empty() {
            self.0 = None;
        }
        slot
    }

    fn clear(&mut self) {
        self.0 = None;
    }
}

#[derive(Debug)]
enum SlotState {
    /// Waiting for [`Conn::complete`]; what the answer's framing must say.
    Waiting { head_only: bool, close: bool, keep_alive_10: bool, http10: bool },
    /// Encoded, waiting for the answers before it. `close`: the connection ends after it;
    /// `tail`: a body (file or stream) the caller sends after `bytes`.
    Ready { bytes: Vec<u8>, close: bool, tail: Option<Tail> },
}

/// What the reader is waiting for.
#[derive(Debug)]
enum Reading {
    /// The next request head (and, for an inline answer, its whole body).
    Head,
    /// The body of a deferred request, streamed to the service as it arrives. (The states with a
    /// body decoder are boxed: they are rare, and an idle connection should be small.)
    Body(Box<BodyRead>),
    /// The rest of a body whose request was already answered, dropped as it arrives.
    Drain(Box<DrainRead>),
    /// No more requests on this connection; input is ignored.
    Closed,
}

/// Reading the body of deferred request `seq`.
#[derive(Debug)]
struct BodyRead {
    decoder: BodyDecoder,
    seq: u32,
    /// Body bytes received so far, against `max_size`.
    received: u64,
    /// The request's body-size limit (see [`BodyPlan::max_size`]).
    max_size: Option<u64>,
    /// The service has no room: nothing is read until [`Conn::resume_body`].
    paused: bool,
    /// The client waits for `100 Continue`, which is sent when the application first reads.
    awaiting_continue: bool,
    /// The connection ends after this request.
    close_after: bool,
}

/// Dropping an unread body; `budget` is how many more body bytes may be drained before the
/// connection is closed instead.
#[derive(Debug)]
struct DrainRead {
    decoder: BodyDecoder,
    budget: u64,
}

/// What a connection is waiting for, so the caller can run the matching timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Between requests, nothing owed (`IdleConnection`).
    Idle,
    /// Part of a request head has arrived (`HeaderWait`).
    Head,
    /// Part of a request body the application reads has arrived (`EntityBody`).
    Body,
    /// An unread body is being dropped after its answer (`DrainEntityBody`).
    Drain,
    /// Waiting for the application's deferred answers; no client timer runs.
    App,
    /// No more requests; waiting for nothing from the client.
    Closed,
}

/// The result of one [`Conn::handle_input`] call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes used; the caller keeps the rest for the next call.
    pub consumed: usize,
    /// Complete request heads seen.
    pub requests: u32,
    /// Responses appended to the output.
    pub responses: u32,
    /// Requests refused with `413` (body over the size limit).
    pub too_large: u32,
}

/// A chunked body being collected for an inline answer: the decoder, how far into the body it
/// has read, and how many data bytes it found.
#[derive(Debug)]
struct BodyScan {
    decoder: BodyDecoder,
    offset: usize,
    data: u64,
}

/// Whether a body to be answered inline is all in the input yet.
enum Collected {
    /// Not yet; the caller must bring more input.
    More,
    /// Refused with this status.
    Fail(u16),
    /// A `Content-Length` body, ending at this input offset.
    Length(usize),
    /// A chunked body, ending at this input offset.
    Chunked(usize),
}

/// One HTTP/1 connection's protocol state.
#[derive(Debug)]
pub struct Conn {
    reading: Reading,
    /// Bytes of the current partial head already searched for its end (0: none).
    scanned: u32,
    /// Requests answered so far.
    served: u32,
    /// The connection was closed with input possibly still coming (an error, or an unread body):
    /// the caller should linger (shut down writing, drain reads briefly) so the client sees the
    /// answer instead of a reset.
    linger: bool,
    /// Answers not yet released to the output, oldest first; empty on the inline fast path.
    in_flight: Slots,
    /// Sequence number of the next request.
    next_seq: u32,
    /// An inline answer waits for its `Content-Length` body: input needed before the head is
    /// looked at again (0: none).
    body_wait: u32,
    /// An inline answer waits for its chunked body.
    body_scan: Option<Box<BodyScan>>,
    /// `100 Continue` was sent for the request being collected.
    continue_sent: bool,
    /// A file or stream body released to the output, for the caller to take and send after it; nothing
    /// more is answered or released until the caller says [`Conn::tail_sent`].
    tail_out: Option<Tail>,
    /// The caller is sending a file or stream body.
    sending_tail: bool,
}

impl Default for Conn {
    fn default() -> Self {
        Conn::new()
    }
}

impl Conn {
    /// A new connection, waiting for its first request.
    pub const fn new() -> Self {
        Conn {
            reading: Reading::Head,
            scanned: 0,
            served: 0,
            linger: false,
            in_flight: Slots::new(),
            next_seq: 0,
            body_wait: 0,
            body_scan: None,
            continue_sent: false,
            tail_out: None,
            sending_tail: false,
        }
    }

    /// Whether the connection takes no more requests.
    #[inline]
    pub fn is_closed(&self) -> bool {
        matches!(self.reading, Reading::Closed)
    }

    /// Whether the connection is done: no more requests and no answer still owed. Close it once
    /// the output is written.
    #[inline]
    pub fn is_finished(&self) -> bool {
        self.is_closed() && self.in_flight.is_empty() && !self.tail_pending()
    }

    /// Whether a file or stream body is released and not yet sent.
    #[inline]
    pub fn tail_pending(&self) -> bool {
        self.tail_out.is_some() || self.sending_tail
    }

    /// The file or stream body to send now, right after the output appended so far. Until
    /// [`tail_sent`](Conn::tail_sent), nothing more is answered or released.
    pub fn take_tail(&mut self) -> Option<Tail> {
        let tail = self.tail_out.take();
        self.sending_tail |= tail.is_some();
        tail
    }

    /// The body taken with [`take_tail`](Conn::take_tail) is sent: releases the answers that
    /// were waiting behind it into `out`; the number released.
    pub fn tail_sent(&mut self, out: &mut Vec<u8>) -> u32 {
        self.sending_tail = false;
        self.release(out)
    }

    /// Whether more input can be used now (not closed, not at [`MAX_IN_FLIGHT`]).
    #[inline]
    pub fn wants_input(&self) -> bool {
        if self.tail_pending() {
            return false;
        }
        match &self.reading {
            Reading::Closed => false,
            Reading::Body(b) => !b.paused,
            _ => self.in_flight.len() < MAX_IN_FLIGHT,
        }
    }

    /// The service has room for more body again (see [`Service::body_room`]).
    pub fn resume_body(&mut self) {
        if let Reading::Body(b) = &mut self.reading {
            b.paused = false;
        }
    }

    /// The application started reading the body of deferred request `seq`: when the client waits
    /// for it, `100 Continue` is appended to `out` — if no earlier answer is still owed (else the
    /// client, which must not wait for ever, sends its body unasked). Returns whether it was sent.
    pub fn send_continue(&mut self, seq: u32, out: &mut Vec<u8>) -> bool {
        let front = self.in_flight.front().map(|s| s.seq);
        match &mut self.reading {
            Reading::Body(b) if b.seq == seq && b.awaiting_continue => {
                b.awaiting_continue = false;
                if front == Some(seq) {
                    out.extend_from_slice(CONTINUE);
                    return true;
                }
                false
            }
            _ => false,
        }
    }

    /// Whether any deferred answer is still owed.
    #[inline]
    pub fn has_in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// Delivers the deferred answer for request `seq`, encoding it with the framing decided when
    /// the request arrived, and appends to `out` every answer that is now next in order.
    /// Returns the number of answers appended. Unknown or repeated `seq`s are ignored.
    #[cfg(feature = "internals")] // the fuzz target's way in; the server uses `complete_counted`
    pub fn complete<A: Answer + ?Sized>(&mut self, seq: u32, reply: &A, env: &Env<'_>, out: &mut Vec<u8>) -> u32 {
        self.complete_counted(seq, reply, env, out).0
    }

    /// [`complete`](Conn::complete), also returning the bytes this answer was encoded into (its
    /// own, not those of earlier answers released with it), for `BytesSent`.
    pub fn complete_counted<A: Answer + ?Sized>(
        &mut self,
        seq: u32,
        reply: &A,
        env: &Env<'_>,
        out: &mut Vec<u8>,
    ) -> (u32, usize) {
        let Some(pos) = self.in_flight.iter().position(|s| s.seq == seq) else { return (0, 0) };
        let mut encoded = 0;
        let released = self.complete_at(pos, seq, reply, env, out, &mut encoded);
        (released, encoded)
    }

    fn complete_at<A: Answer + ?Sized>(
        &mut self,
        pos: usize,
        seq: u32,
        reply: &A,
        env: &Env<'_>,
        out: &mut Vec<u8>,
        encoded: &mut usize,
    ) -> u32 {
        let Some(slot) = self.in_flight.get_mut(pos) else { return 0 };
        let SlotState::Waiting { head_only, mut close, keep_alive_10, http10 } = slot.state else { return 0 };
        if let Reading::Body(b) = &self.reading
            && b.seq == seq
        {
            // Answered before its body was read: the rest is drained, unless the client still
            // waits for `100 Continue` (it may never send the body at all).
            let awaiting = b.awaiting_continue;
            let reading = std::mem::replace(&mut self.reading, Reading::Closed);
            if awaiting {
                close = true;
                self.linger = true;
            } else if let Reading::Body(b) = reading {
                let close_after = b.close_after;
                self.reading = if close_after {
                    Reading::Closed
                } else {
                    Reading::Drain(Box::new(DrainRead { decoder: b.decoder, budget: env.limits.max_drain_bytes }))
                };
                close |= close_after;
                self.linger |= close_after;
            }
        }
        // Next in order: encoded straight into `out` (its slot, released first below, is empty).
        // Otherwise into the slot, sized once for the answer.
        let next_out = pos == 0 && !self.tail_pending();
        let Some(slot) = self.in_flight.get_mut(pos) else { return 0 };
        let mut bytes = if next_out { Vec::new() } else { Vec::with_capacity(reply.size_hint()) };
        let target = if next_out { &mut *out } else { &mut bytes };
        let mut enc = H1Encoder::new(target, env.common, keep_alive_10, http10);
        let mut res = Response::new(&mut enc, head_only, close || env.draining);
        reply.write_to(&mut res);
        *encoded = res.written();
        let close = res.closes();
        let tail = res.take_tail();
        slot.state = SlotState::Ready { bytes, close, tail };
        self.release(out)
    }

    /// Appends every encoded answer that is next in order to `out`; the number appended.
    fn release(&mut self, out: &mut Vec<u8>) -> u32 {
        let mut released = 0;
        while let Some(Slot { state: SlotState::Ready { .. }, .. }) = self.in_flight.front() {
            if self.tail_pending() {
                break;
            }
            let Some(Slot { state: SlotState::Ready { bytes, close, tail }, .. }) = self.in_flight.pop_front() else {
                break;
            };
            out.extend_from_slice(&bytes);
            released += 1;
            self.tail_out = tail;
            if close {
                self.reading = Reading::Closed;
                self.linger = true;
                self.in_flight.clear();
                break;
            }
        }
        released
    }

    /// Whether the connection should linger before closing (see [`Conn`]'s `linger` field).
    #[inline]
    pub fn wants_linger(&self) -> bool {
        self.linger
    }

    /// Whether the connection is between requests (no partial head or body in progress),
    /// given that the caller holds no unconsumed input.
    #[inline]
    pub fn is_between_requests(&self) -> bool {
        matches!(self.reading, Reading::Head)
            && !self.tail_pending()
            && self.scanned == 0
            && self.body_wait == 0
            && self.body_scan.is_none()
            && self.in_flight.is_empty()
    }

    /// Whether all the connection still needs is to send answers it owes (deferred answers, or a
    /// file or stream body going out): no request, head or body is partly read. A client that
    /// half-closes now (sends its FIN after its requests) still gets those answers.
    #[inline]
    pub fn owes_only_answers(&self) -> bool {
        matches!(self.reading, Reading::Head | Reading::Closed)
            && self.scanned == 0
            && self.body_wait == 0
            && self.body_scan.is_none()
            && (!self.in_flight.is_empty() || self.tail_pending())
    }

    /// What the connection waits for now, given the caller holds no unconsumed input beyond a
    /// partial request.
    #[inline]
    pub fn phase(&self) -> Phase {
        if self.tail_pending() {
            // An answer's body is still going out (a file, or a stream the application writes).
            return Phase::App;
        }
        match &self.reading {
            Reading::Closed => Phase::Closed,
            Reading::Drain { .. } => Phase::Drain,
            Reading::Body(b) if b.paused || b.awaiting_continue => Phase::App,
            Reading::Body(_) => Phase::Body,
            Reading::Head if self.body_wait > 0 || self.body_scan.is_some() => Phase::Body,
            Reading::Head if self.scanned > 0 => Phase::Head,
            Reading::Head if self.in_flight.is_empty() => Phase::Idle,
            Reading::Head => Phase::App,
        }
    }

    /// A timeout fired for the current phase: a partial request is answered `408` (after any
    /// answers still owed) and the connection closes; otherwise it just closes. Returns whether an
    /// answer was appended to `out`.
    pub fn time_out(&mut self, env: &Env<'_>, out: &mut Vec<u8>) -> bool {
        match self.phase() {
            Phase::Head | Phase::Body => {
                if let Reading::Body(b) = &self.reading {
                    return self.answer_error(b.seq, 408, env, out) > 0;
                }
                let mut progress = Progress::default();
                self.fail(408, env, out, &mut progress);
                progress.responses > 0
            }
            _ => {
                self.reading = Reading::Closed;
                false
            }
        }
    }

    /// Requests answered on this connection.
    #[inline]
    pub fn served(&self) -> u32 {
        self.served
    }

    /// Stops taking requests (server shutdown, timeout).
    pub fn close(&mut self) {
        self.reading = Reading::Closed;
    }

    /// Answers every complete request at the start of `input`, appending to `out`.
    /// Stops early once `out` holds [`OUT_HIGH_WATER`] bytes; call again after writing it out.
    pub fn handle_input<S: Service + ?Sized>(
        &mut self,
        input: &[u8],
        env: &Env<'_>,
        service: &mut S,
        out: &mut Vec<u8>,
    ) -> Progress {
        let mut progress = Progress::default();
        while out.len() < OUT_HIGH_WATER {
            let rest = input.get(progress.consumed..).unwrap_or_default();
            if self.tail_pending() || (matches!(self.reading, Reading::Head) && self.in_flight.len() >= MAX_IN_FLIGHT) {
                break;
            }
            match &mut self.reading {
                Reading::Closed => {
                    progress.consumed = input.len();
                    break;
                }
                Reading::Drain(d) => match d.decoder.decode(rest) {
                    Ok((used, decoded)) => {
                        progress.consumed += used;
                        let drained = used as u64;
                        match decoded {
                            Decoded::Done => self.reading = Reading::Head,
                            _ if drained > d.budget => {
                                self.linger = true;
                                self.reading = Reading::Closed;
                            }
                            Decoded::NeedMore => {
                                d.budget -= drained;
                                break;
                            }
                            Decoded::Data(_) => {
                                d.budget -= drained;
                                if used == 0 {
                                    break;
                                }
                            }
                        }
                    }
                    Err(_) => {
                        // The answer was already sent; a broken body can only end the connection.
                        self.linger = true;
                        self.reading = Reading::Closed;
                    }
                },
                // A body whose last byte was handed on ends now, not when more input comes.
                Reading::Body(b) if rest.is_empty() && !b.decoder.is_done() => break,
                Reading::Body(_) => {
                    if !self.on_body(rest, env, service, out, &mut progress) {
                        break;
                    }
                }
                Reading::Head if rest.is_empty() || rest.len() < self.body_wait as usize => break,
                Reading::Head => {
                    if self.scanned > 0 && !parse::may_be_complete(rest, self.scanned as usize) {
                        // No line can be over its limit while the whole head is shorter than
                        // the smallest one: the common trickle costs nothing more.
                        let l = env.limits;
                        let smallest = l.max_request_bytes.min(l.max_url_length).min(l.max_field_length);
                        let checked = if rest.len() > smallest { parse::check_partial(rest, l) } else { Ok(()) };
                        if let Err(e) = checked {
                            self.fail(e.status(), env, out, &mut progress);
                            continue;
                        }
                        self.scanned = len32(rest.len());
                        break;
                    }
                    if !self.on_head(rest, env, service, out, &mut progress) {
                        break;
                    }
                }
            }
        }
        progress
    }

    /// Streams the next piece of a deferred request's body to the service. Returns `false` when
    /// it needs more input or the service has no room.
    fn on_body<S: Service + ?Sized>(
        &mut self,
        rest: &[u8],
        env: &Env<'_>,
        service: &mut S,
        out: &mut Vec<u8>,
        progress: &mut Progress,
    ) -> bool {
        let Reading::Body(b) = &mut self.reading else {
            return false;
        };
        let BodyRead { decoder, seq, received, max_size, paused, awaiting_continue, close_after } = &mut **b;
        let seq = *seq;
        // Ending needs no room; anything else waits for it.
        if !decoder.is_done() && !service.body_room(seq) {
            *paused = true;
            return false;
        }
        // Bytes arriving unasked mean the client stopped waiting for `100 Continue`.
        *awaiting_continue = false;
        let over = |received: u64, decoder: &BodyDecoder| {
            max_size.is_some_and(|max| received.saturating_add(decoder.announced()) > max)
        };
        let error = match decoder.decode(rest) {
            Ok((used, Decoded::Data(range))) => {
                progress.consumed += used;
                *received += range.len() as u64;
                if over(*received, decoder) {
                    progress.too_large += 1;
                    413
                } else {
                    service.body_data(seq, rest.get(range).unwrap_or_default());
                    return used > 0;
                }
            }
            Ok((used, Decoded::NeedMore)) if over(*received, decoder) => {
                progress.consumed += used;
                progress.too_large += 1;
                413
            }
            Ok((used, Decoded::NeedMore)) => {
                progress.consumed += used;
                return false;
            }
            Ok((used, Decoded::Done)) => {
                progress.consumed += used;
                let close = *close_after;
                service.body_end(seq, None);
                self.reading = if close { Reading::Closed } else { Reading::Head };
                return true;
            }
            Err(_) => 400,
        };
        service.body_end(seq, Some(error));
        progress.responses += self.answer_error(seq, error, env, out);
        true
    }

    /// Answers deferred request `seq` at once with error `status` (the application's answer, if
    /// it comes, is dropped), closes, and releases what is next in order. The answers appended.
    fn answer_error(&mut self, seq: u32, status: u16, env: &Env<'_>, out: &mut Vec<u8>) -> u32 {
        self.reading = Reading::Closed;
        self.linger = true;
        let Some(slot) = self.in_flight.iter_mut().find(|s| s.seq == seq) else { return 0 };
        let mut bytes = Vec::new();
        encode::write_error(&mut bytes, env.common, status, false);
        slot.state = SlotState::Ready { bytes, close: true, tail: None };
        self.release(out)
    }

    /// Whether the body of a request answered inline is all in `rest` (which starts with its
    /// head of `head_len` bytes), within the size limit.
    fn collect_body(
        &mut self,
        rest: &[u8],
        head_len: usize,
        kind: BodyKind,
        max_size: Option<u64>,
        env: &Env<'_>,
    ) -> Collected {
        let cap = max_size.unwrap_or(INLINE_BODY_CAP);
        match kind {
            BodyKind::Empty => Collected::Length(head_len),
            BodyKind::Length(n) if n > cap => Collected::Fail(413),
            BodyKind::Length(n) => {
                let end = head_len.saturating_add(usize::try_from(n).unwrap_or(usize::MAX));
                if rest.len() >= end {
                    self.body_wait = 0;
                    Collected::Length(end)
                } else {
                    self.body_wait = len32(end);
                    Collected::More
                }
            }
            BodyKind::Chunked => {
                let mut scan = self.body_scan.take().unwrap_or_else(|| {
                    Box::new(BodyScan { decoder: BodyDecoder::for_request(kind, env.limits), offset: 0, data: 0 })
                });
                // Framing may at most double a body the size of the cap (plus its last lines).
                let raw_cap = cap.saturating_mul(2).saturating_add(64 * 1024);
                loop {
                    let input = rest.get(head_len + scan.offset..).unwrap_or_default();
                    match scan.decoder.decode(input) {
                        Ok((used, Decoded::Data(range))) => {
                            scan.offset += used;
                            scan.data += range.len() as u64;
                            if scan.data.saturating_add(scan.decoder.announced()) > cap {
                                return Collected::Fail(413);
                            }
                        }
                        Ok((used, Decoded::NeedMore)) => {
                            scan.offset += used;
                            if scan.offset as u64 > raw_cap || scan.data.saturating_add(scan.decoder.announced()) > cap
                            {
                                return Collected::Fail(413);
                            }
                            self.body_scan = Some(scan);
                            return Collected::More;
                        }
                        Ok((used, Decoded::Done)) => return Collected::Chunked(head_len + scan.offset + used),
                        Err(_) => return Collected::Fail(400),
                    }
                }
            }
        }
    }

    /// Parses and answers one head at the start of `rest`. Returns `false` when the head, or the
    /// body an inline answer needs, is incomplete.
    fn on_head<S: Service + ?Sized>(
        &mut self,
        rest: &[u8],
        env: &Env<'_>,
        service: &mut S,
        out: &mut Vec<u8>,
        progress: &mut Progress,
    ) -> bool {
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
        let head = match parse::parse_head(rest, &mut slots, env.limits) {
            Ok(Some(head)) => head,
            Ok(None) => {
                self.scanned = len32(rest.len().max(1));
                return false;
            }
            Err(e) => {
                progress.requests += 1;
                self.fail(e.status(), env, out, progress);
                return true;
            }
        };
        self.scanned = 0;
        let minor = head.req.version.unwrap_or(1);
        let raw_head = rest.get(..head.len).unwrap_or_default();
        let framing = match framing::check_line_endings(raw_head, env.limits.strictness)
            .and_then(|()| framing::request_framing(minor, head.req.headers))
        {
            Ok(f) => f,
            Err(e) => {
                progress.requests += 1;
                self.fail(e.status(), env, out, progress);
                return true;
            }
        };
        let version = if minor == 0 { Version::Http10 } else { Version::Http11 };
        let mut request = Request {
            method: head.req.method.unwrap_or_default(),
            target: head.req.path.unwrap_or_default(),
            version,
            headers: head.req.headers,
            body: framing.body,
            body_bytes: &[],
            host: framing.host,
            head_len: head.len,
            route_path: None,
        };
        let plan = if framing.body == BodyKind::Empty {
            BodyPlan { mode: BodyMode::Buffered, max_size: None }
        } else {
            service.body_plan(&request, env.limits.max_body_size)
        };
        if let BodyKind::Length(n) = framing.body
            && plan.max_size.is_some_and(|max| n > max)
        {
            // Refused before any handler runs; the body is not read.
            progress.requests += 1;
            progress.too_large += 1;
            self.fail(413, env, out, progress);
            return true;
        }
        let streamed = framing.body != BodyKind::Empty && plan.mode != BodyMode::Buffered;
        // Where this request's bytes end: after its head, or after the body an inline answer reads.
        let mut end = head.len;
        let dechunked;
        if !streamed && framing.body != BodyKind::Empty {
            match self.collect_body(rest, head.len, framing.body, plan.max_size, env) {
                Collected::More => {
                    if framing.expect_continue && !self.continue_sent && self.in_flight.is_empty() {
                        out.extend_from_slice(CONTINUE);
                        self.continue_sent = true;
                    }
                    return false;
                }
                Collected::Fail(status) => {
                    progress.requests += 1;
                    progress.too_large += u32::from(status == 413);
                    self.body_wait = 0;
                    self.fail(status, env, out, progress);
                    return true;
                }
                Collected::Length(e) => {
                    end = e;
                    request.body_bytes = rest.get(head.len..e).unwrap_or_default();
                }
                Collected::Chunked(e) => {
                    end = e;
                    dechunked = dechunk(rest.get(head.len..e).unwrap_or_default(), env);
                    request.body_bytes = &dechunked;
                }
            }
        }
        self.continue_sent = false;
        progress.requests += 1;
        let close = !framing.persistent(minor) || env.draining;
        // A streamed body an inline answer leaves unread is drained, but only so much of it, and
        // not when the client waits for `100 Continue` (it may never send the body at all).
        let unread_closes = streamed
            && (framing.expect_continue
                || matches!(framing.body, BodyKind::Length(n) if n > env.limits.max_drain_bytes));
        let answer_close = close || unread_closes;
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        // While an earlier answer is deferred, later ones wait in order in their own buffer.
        let mut side = Vec::new();
        let queued_behind = !self.in_flight.is_empty();
        let target = if queued_behind { &mut side } else { &mut *out };
        let keep_alive_10 = version == Version::Http10 && !answer_close;
        let mut enc = H1Encoder::new(target, env.common, keep_alive_10, version == Version::Http10);
        let mut res = Response::new(&mut enc, request.is_head(), answer_close);
        let outcome = match catch_unwind(AssertUnwindSafe(|| service.call(&request, &mut res, seq))) {
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
            Outcome::Deferred => close,
        };
        let tail = res.take_tail();
        match outcome {
            Outcome::Answered if queued_behind => {
                self.in_flight.push_back(Slot { seq, state: SlotState::Ready { bytes: side, close: closing, tail } });
            }
            Outcome::Answered => {
                progress.responses += 1;
                // Its body follows the head on the wire: nothing more until the caller sent it.
                self.tail_out = tail;
            }
            Outcome::Deferred => {
                let head_only = request.is_head();
                let keep_alive_10 = version == Version::Http10 && !close;
                let http10 = version == Version::Http10;
                self.in_flight
                    .push_back(Slot { seq, state: SlotState::Waiting { head_only, close, keep_alive_10, http10 } });
            }
        }
        let more_input = end < rest.len();
        progress.consumed += end;
        self.served += 1;
        self.reading = match outcome {
            Outcome::Deferred if streamed => Reading::Body(Box::new(BodyRead {
                decoder: BodyDecoder::for_request(framing.body, env.limits),
                seq,
                received: 0,
                max_size: plan.max_size,
                paused: false,
                awaiting_continue: framing.expect_continue,
                close_after: close,
            })),
            // Closing: no more reads. With answers still owed, the caller keeps the connection
            // until they are out (`is_finished`).
            _ if closing => {
                self.linger = streamed || more_input;
                Reading::Closed
            }
            Outcome::Answered if streamed => Reading::Drain(Box::new(DrainRead {
                decoder: BodyDecoder::for_request(framing.body, env.limits),
                budget: env.limits.max_drain_bytes,
            })),
            _ => Reading::Head,
        };
        true
    }

    /// Answers a bad request with `status` and closes.
    #[cold]
    fn fail(&mut self, status: u16, env: &Env<'_>, out: &mut Vec<u8>, progress: &mut Progress) {
        if self.in_flight.is_empty() {
            encode::write_error(out, env.common, status, false);
            progress.responses += 1;
        } else {
            let mut bytes = Vec::new();
            encode::write_error(&mut bytes, env.common, status, false);
            let seq = self.next_seq;
            self.next_seq = self.next_seq.wrapping_add(1);
            self.in_flight.push_back(Slot { seq, state: SlotState::Ready { bytes, close: true, tail: None } });
        }
        self.linger = true;
        self.reading = Reading::Closed;
    }
}

/// A length kept in a connection's state (bounded by the limits far below 4 GiB; saturates).
fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The data of a complete, already validated chunked body.
fn dechunk(raw: &[u8], env: &Env<'_>) -> Vec<u8> {
    let mut decoder = BodyDecoder::for_request(BodyKind::Chunked, env.limits);
    let mut body = Vec::new();
    let mut pos = 0;
    while let Some(input) = raw.get(pos..) {
        match decoder.decode(input) {
            Ok((used, Decoded::Data(range))) => {
                body.extend_from_slice(input.get(range).unwrap_or_default());
                pos += used;
            }
            _ => break,
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every idle keep-alive connection carries this struct: rare states stay boxed.
    #[test]
    fn connection_state_stays_small() {
        let size = std::mem::size_of::<Conn>();
        eprintln!("h1::Conn: {size} bytes");
        assert!(size <= 72, "h1::Conn grew to {size} bytes");
        assert!(std::mem::size_of::<Option<Tail>>() <= 16);
    }
}
