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
use super::framing::{self, BodyKind};
use super::parse::{self, HeadError};
use super::request::{Request, Version};
use super::response::{self, Response};
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

/// The fast-path request handler: runs inline on the I/O thread.
pub trait Handler: Send + Sync + 'static {
    /// Answers `req` by writing into `res`. A handler that returns without answering produces a
    /// `500`; one that panics produces a `500` and a closed connection.
    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>);
}

impl<F> Handler for F
where
    F: Fn(&Request<'_>, &mut Response<'_>) + Send + Sync + 'static,
{
    #[inline]
    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
        self(req, res)
    }
}

/// What became of a request handed to a [`Service`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The answer was written into the `Response`.
    Answered,
    /// The answer comes later through [`Conn::complete`] with this request's sequence number;
    /// the `Response` must be left untouched.
    Deferred,
}

/// What a connection hands each request to: a [`Handler`] (always answers inline) or the
/// server's dispatcher (routes, and may queue the request for application threads).
pub trait Service {
    /// Answers `req` into `res`, or defers it; `seq` identifies it for [`Conn::complete`].
    fn call(&mut self, req: &Request<'_>, res: &mut Response<'_>, seq: u32) -> Outcome;
}

/// Adapts a [`Handler`] to a [`Service`] that always answers inline.
#[derive(Debug)]
pub struct Inline<'a, H: ?Sized>(pub &'a H);

impl<H: Handler + ?Sized> Service for Inline<'_, H> {
    #[inline]
    fn call(&mut self, req: &Request<'_>, res: &mut Response<'_>, _seq: u32) -> Outcome {
        self.0.handle(req, res);
        Outcome::Answered
    }
}

/// Deferred answers a connection may wait for at once; past it, no further pipelined request is
/// read until the oldest is answered.
pub const MAX_IN_FLIGHT: usize = 32;

/// An answer slot, kept in request order while any earlier answer is deferred.
#[derive(Debug)]
struct Slot {
    seq: u32,
    state: SlotState,
}

#[derive(Debug)]
enum SlotState {
    /// Waiting for [`Conn::complete`]; what the answer's framing must say.
    Waiting { head_only: bool, close: bool, keep_alive_10: bool },
    /// Encoded, waiting for the answers before it. `close`: the connection ends after it.
    Ready { bytes: Vec<u8>, close: bool },
}

/// What the reader is waiting for.
#[derive(Debug)]
enum Reading {
    /// The next request head.
    Head,
    /// The rest of a body whose request was already answered, dropped as it arrives.
    /// `budget` is how many more body bytes may be drained before the connection is closed instead.
    Drain { decoder: BodyDecoder, budget: u64 },
    /// No more requests on this connection; input is ignored.
    Closed,
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
}

/// One HTTP/1 connection's protocol state.
#[derive(Debug)]
pub struct Conn {
    reading: Reading,
    /// Bytes of the current partial head already searched for its end (0: none).
    scanned: usize,
    /// Requests answered so far.
    served: u32,
    /// The connection was closed with input possibly still coming (an error, or an unread body):
    /// the caller should linger (shut down writing, drain reads briefly) so the client sees the
    /// answer instead of a reset.
    linger: bool,
    /// Answers not yet released to the output, oldest first; empty on the inline fast path.
    in_flight: VecDeque<Slot>,
    /// Sequence number of the next request.
    next_seq: u32,
}

impl Default for Conn {
    fn default() -> Self {
        Conn::new()
    }
}

impl Conn {
    /// A new connection, waiting for its first request.
    pub const fn new() -> Self {
        Conn { reading: Reading::Head, scanned: 0, served: 0, linger: false, in_flight: VecDeque::new(), next_seq: 0 }
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
        self.is_closed() && self.in_flight.is_empty()
    }

    /// Whether more input can be used now (not closed, not at [`MAX_IN_FLIGHT`]).
    #[inline]
    pub fn wants_input(&self) -> bool {
        !self.is_closed() && self.in_flight.len() < MAX_IN_FLIGHT
    }

    /// Whether any deferred answer is still owed.
    #[inline]
    pub fn has_in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// Delivers the deferred answer for request `seq`, encoding it with the framing decided when
    /// the request arrived, and appends to `out` every answer that is now next in order.
    /// Returns the number of answers appended. Unknown or repeated `seq`s are ignored.
    pub fn complete(&mut self, seq: u32, reply: &super::response::Reply, env: &Env<'_>, out: &mut Vec<u8>) -> u32 {
        let Some(pos) = self.in_flight.iter().position(|s| s.seq == seq) else { return 0 };
        let Some(slot) = self.in_flight.get_mut(pos) else { return 0 };
        let SlotState::Waiting { head_only, close, keep_alive_10 } = slot.state else { return 0 };
        let mut bytes = Vec::new();
        let mut res = Response::new(&mut bytes, env.common, head_only, close || env.draining, keep_alive_10);
        reply.write_to(&mut res);
        let close = res.closes();
        slot.state = SlotState::Ready { bytes, close };
        let mut released = 0;
        while let Some(Slot { state: SlotState::Ready { .. }, .. }) = self.in_flight.front() {
            let Some(Slot { state: SlotState::Ready { bytes, close }, .. }) = self.in_flight.pop_front() else { break };
            out.extend_from_slice(&bytes);
            released += 1;
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
        matches!(self.reading, Reading::Head) && self.scanned == 0 && self.in_flight.is_empty()
    }

    /// What the connection waits for now, given the caller holds no unconsumed input beyond a
    /// partial request.
    #[inline]
    pub fn phase(&self) -> Phase {
        match self.reading {
            Reading::Closed => Phase::Closed,
            Reading::Drain { .. } => Phase::Drain,
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
            if self.in_flight.len() >= MAX_IN_FLIGHT {
                break;
            }
            let rest = input.get(progress.consumed..).unwrap_or_default();
            match &mut self.reading {
                Reading::Closed => {
                    progress.consumed = input.len();
                    break;
                }
                Reading::Drain { decoder, budget } => match decoder.decode(rest) {
                    Ok((used, decoded)) => {
                        progress.consumed += used;
                        let drained = used as u64;
                        match decoded {
                            Decoded::Done => self.reading = Reading::Head,
                            _ if drained > *budget => {
                                self.linger = true;
                                self.reading = Reading::Closed;
                            }
                            Decoded::NeedMore => {
                                *budget -= drained;
                                break;
                            }
                            Decoded::Data(_) => {
                                *budget -= drained;
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
                Reading::Head if rest.is_empty() => break,
                Reading::Head => {
                    if self.scanned > 0 && !parse::may_be_complete(rest, self.scanned) {
                        if rest.len() > env.limits.max_request_bytes {
                            self.fail(HeadError::TooLarge.status(), env, out, &mut progress);
                        } else {
                            self.scanned = rest.len();
                            break;
                        }
                        continue;
                    }
                    if !self.on_head(rest, env, service, out, &mut progress) {
                        break;
                    }
                }
            }
        }
        progress
    }

    /// Parses and answers one head at the start of `rest`. Returns `false` when it is incomplete.
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
                self.scanned = rest.len().max(1);
                return false;
            }
            Err(e) => {
                self.fail(e.status(), env, out, progress);
                return true;
            }
        };
        self.scanned = 0;
        progress.requests += 1;
        let minor = head.req.version.unwrap_or(1);
        let raw_head = rest.get(..head.len).unwrap_or_default();
        let framing = match framing::check_line_endings(raw_head, env.limits.strictness)
            .and_then(|()| framing::request_framing(minor, head.req.headers))
        {
            Ok(f) => f,
            Err(e) => {
                self.fail(e.status(), env, out, progress);
                return true;
            }
        };
        let version = if minor == 0 { Version::Http10 } else { Version::Http11 };
        let mut close = !framing.persistent(minor) || env.draining;
        // A body the handler never reads is drained, but only so much of it, and not when the
        // client is waiting for `100 Continue` (it may never send the body at all).
        match framing.body {
            BodyKind::Empty => {}
            BodyKind::Length(n) if n <= env.limits.max_drain_bytes && !framing.expect_continue => {}
            BodyKind::Chunked if !framing.expect_continue => {}
            _ => close = true,
        }
        let method = head.req.method.unwrap_or_default();
        let request = Request {
            method,
            target: head.req.path.unwrap_or_default(),
            version,
            headers: head.req.headers,
            body: framing.body,
            host: framing.host,
            head_len: head.len,
            route_path: None,
        };
        let keep_alive_10 = version == Version::Http10 && !close;
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        // While an earlier answer is deferred, later ones wait in order in their own buffer.
        let mut side = Vec::new();
        let queued_behind = !self.in_flight.is_empty();
        let target = if queued_behind { &mut side } else { &mut *out };
        let mut res = Response::new(target, env.common, request.is_head(), close, keep_alive_10);
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
        close = res.closes();
        match outcome {
            Outcome::Answered if queued_behind => {
                self.in_flight.push_back(Slot { seq, state: SlotState::Ready { bytes: side, close } });
            }
            Outcome::Answered => progress.responses += 1,
            Outcome::Deferred => {
                let head_only = request.is_head();
                self.in_flight.push_back(Slot { seq, state: SlotState::Waiting { head_only, close, keep_alive_10 } });
            }
        }
        let more_input = head.len < rest.len();
        progress.consumed += head.len;
        self.served += 1;
        // Closing: no more reads. With answers still owed, the caller keeps the connection
        // until they are out (`is_finished`).
        self.reading = if close {
            self.linger = framing.body != BodyKind::Empty || more_input;
            Reading::Closed
        } else {
            match framing.body {
                BodyKind::Empty => Reading::Head,
                kind => Reading::Drain {
                    decoder: BodyDecoder::for_request(kind, env.limits),
                    budget: env.limits.max_drain_bytes,
                },
            }
        };
        true
    }

    /// Answers a bad request with `status` and closes.
    #[cold]
    fn fail(&mut self, status: u16, env: &Env<'_>, out: &mut Vec<u8>, progress: &mut Progress) {
        if self.in_flight.is_empty() {
            response::write_error(out, env.common, status, false);
            progress.responses += 1;
        } else {
            let mut bytes = Vec::new();
            response::write_error(&mut bytes, env.common, status, false);
            let seq = self.next_seq;
            self.next_seq = self.next_seq.wrapping_add(1);
            self.in_flight.push_back(Slot { seq, state: SlotState::Ready { bytes, close: true } });
        }
        self.linger = true;
        self.reading = Reading::Closed;
    }
}
