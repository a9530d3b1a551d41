//! The HTTP/1 connection state machine: bytes in, handler calls and response bytes out.
//!
//! [`Conn::handle_input`] takes the bytes the caller has buffered for this connection, answers
//! every complete request in them (pipelining) by calling the handler inline, appends the
//! answers to the caller's output buffer, and says how many input bytes it consumed. The caller
//! keeps the rest (a partial request) and calls again when more bytes arrive. Nothing here does
//! I/O or reads a clock (the `Date` text comes in through [`Env`]). The inline path allocates
//! nothing: header slots live on the stack, the request is a view into the input, and answers
//! are written into the caller's buffer; only what that path never meets allocates (a chunked
//! body collected for an inline answer, deferred answers' slots, the boxed body and drain states).

use std::mem::MaybeUninit;

mod body;
mod slots;

use body::{BodyRead, BodyWait, Collected, DrainRead, InHand};
pub use slots::Completed;
use slots::{Slot, SlotState, Slots};

use super::decode::BodyDecoder;
use super::encode;
use super::encode::CommonHeaders;
use super::framing::{self, BodyKind, Framing};
use super::parse;
use crate::app::response::Tail;
use crate::app::service::{BodyMode, BodyPlan, Outcome, Service};
use crate::app::{Request, Version};
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

/// What the reader is waiting for.
#[derive(Debug)]
enum Reading {
    /// The next request: its head, and for an inline answer its whole body.
    Head(HeadRead),
    /// The body of a deferred request, streamed to the service as it arrives. (The states with a
    /// body decoder are boxed: they are rare, and an idle connection should be small.)
    Body(Box<BodyRead>),
    /// The rest of a body whose request was already answered, dropped as it arrives.
    Drain(Box<DrainRead>),
    /// No more requests on this connection; input is ignored. `linger`: it was closed with input
    /// possibly still coming (an error, or an unread body), so the caller should linger (shut
    /// down writing, drain reads briefly) for the client to see the answer instead of a reset.
    Closed { linger: bool },
}

/// How far the next request has been read.
#[derive(Debug)]
enum HeadRead {
    /// Nothing of it looked at yet.
    Start,
    /// Part of a head has arrived; its first `scanned` bytes (at least one) hold no blank line,
    /// so only what arrives after them is searched.
    /// `head_only`: it is a `HEAD` (a `408` for it has no body).
    Partial { scanned: u32, head_only: bool },
    /// The head is complete and its inline answer waits for the body.
    Collect {
        wait: BodyWait,
        /// `100 Continue` was sent for it.
        continue_sent: bool,
        /// It is a `HEAD` (a `408` for it has no body).
        head_only: bool,
    },
}

impl HeadRead {
    /// Input needed before the head is looked at again.
    #[inline]
    fn needs(&self) -> usize {
        match self {
            HeadRead::Collect { wait: BodyWait::Length { end }, .. } => *end as usize,
            _ => 0,
        }
    }

    /// The request being read is a `HEAD`: an error answer to it has no body.
    fn head_only(&self) -> bool {
        matches!(self, HeadRead::Partial { head_only: true, .. } | HeadRead::Collect { head_only: true, .. })
    }
}

/// A file or stream body released to the output, which the caller sends after it; nothing more
/// is answered or released until the caller says [`Conn::tail_sent`].
#[derive(Debug)]
enum TailState {
    /// None owed.
    None,
    /// Released, for the caller to take ([`Conn::take_tail`]).
    Ready(Tail),
    /// The caller is sending it.
    Sending,
}

impl TailState {
    fn of(tail: Option<Tail>) -> Self {
        tail.map_or(TailState::None, TailState::Ready)
    }
}

/// Whether the connection ends after a request's answer, and why: decided from the request's
/// head before the answer is written (the answer may still close a `Keep`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Close {
    /// The connection stays open.
    Keep,
    /// The client asked (`Connection: close`, or HTTP/1.0 without keep-alive), or the server is
    /// stopping.
    Requested,
    /// A body the answer leaves unread is not drained: it is larger than the drain budget, or
    /// the client waits for `100 Continue` (no byte of the body has arrived: it may never send
    /// it at all; one that sent bytes of it did not wait, and its body is drained). It closes an
    /// answer given at the head; a deferred request streams its body, and what its answer leaves
    /// unread is judged when that answer comes ([`Conn::complete`]).
    Unread,
}

impl Close {
    /// `streamed`: the body is not collected before the answer; `arrived`: bytes of it are in
    /// hand (a client that asked for `100 Continue` did not wait for it).
    fn of(framing: &Framing<'_>, minor: u8, streamed: bool, arrived: bool, env: &Env<'_>) -> Self {
        if !framing.persistent(minor) || env.draining {
            Close::Requested
        } else if streamed
            && ((framing.expect_continue && !arrived)
                || matches!(framing.body, BodyKind::Length(n) if n > env.limits.max_drain_bytes))
        {
            Close::Unread
        } else {
            Close::Keep
        }
    }

    /// Whether an answer given at the head closes.
    fn answered(self) -> bool {
        self != Close::Keep
    }

    /// Whether the connection ends after the request, however it is answered.
    fn requested(self) -> bool {
        self == Close::Requested
    }
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
    /// Requests received: complete heads, and requests refused (a malformed or over-long head,
    /// one refused before its end, a `408`), so that every answer has its request.
    pub requests: u32,
    /// Responses appended to the output (an answer to a request counted earlier, when its turn
    /// comes).
    pub responses: u32,
    /// Requests refused with `413` (body over the size limit).
    pub too_large: u32,
    /// The request refused by the codec in this call, if any (a refusal closes the connection,
    /// so there is at most one): for the access log.
    pub refusal: Option<Refusal>,
}

/// A request the codec refused (its own error answer), for the access log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refusal {
    /// The status answered.
    pub status: u16,
    /// The request's sequence number when it was handed to the service (a streamed body that
    /// failed: its answer replaced); `None` when it never was.
    pub seq: Option<u32>,
    /// Where the refused request begins in the input of the call (0 for a timeout: the
    /// caller's buffered input).
    pub at: usize,
    /// The bytes of the error answer.
    pub bytes: u64,
}

/// One HTTP/1 connection's protocol state.
#[derive(Debug)]
pub struct Conn {
    reading: Reading,
    /// A file or stream body going out after the output.
    tail: TailState,
    /// Answers not yet released to the output, oldest first; empty on the inline fast path.
    in_flight: Slots,
    /// Requests answered so far.
    served: u32,
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
        Conn {
            reading: Reading::Head(HeadRead::Start),
            tail: TailState::None,
            in_flight: Slots::new(),
            served: 0,
            next_seq: 0,
        }
    }

    /// Whether the connection takes no more requests.
    #[inline]
    pub fn is_closed(&self) -> bool {
        matches!(self.reading, Reading::Closed { .. })
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
        !matches!(self.tail, TailState::None)
    }

    /// The file or stream body to send now, right after the output appended so far. Until
    /// [`tail_sent`](Conn::tail_sent), nothing more is answered or released.
    pub fn take_tail(&mut self) -> Option<Tail> {
        match std::mem::replace(&mut self.tail, TailState::None) {
            TailState::Ready(tail) => {
                self.tail = TailState::Sending;
                Some(tail)
            }
            state => {
                self.tail = state;
                None
            }
        }
    }

    /// The body taken with [`take_tail`](Conn::take_tail) is sent: releases the answers that
    /// were waiting behind it into `out`; the number released.
    pub fn tail_sent(&mut self, out: &mut Vec<u8>) -> u32 {
        self.tail = TailState::None;
        self.release(out)
    }

    /// Whether more input can be used now (not closed, not at [`MAX_IN_FLIGHT`], no file or
    /// stream body going out — save the body of the request whose streamed answer it is: see
    /// [`reads_beside_answer`](Conn::reads_beside_answer)).
    #[inline]
    pub fn wants_input(&self) -> bool {
        match &self.reading {
            Reading::Closed { .. } => false,
            Reading::Body(b) if b.beside_answer => !b.paused,
            _ if self.tail_pending() => false,
            Reading::Body(b) => !b.paused,
            _ => self.in_flight.len() < MAX_IN_FLIGHT,
        }
    }

    /// Full duplex: the request whose body is being read was already answered with a stream
    /// (see [`Conn::complete`]), and its body is read on while that answer goes out. Input then
    /// goes to the service as body bytes of that request only: no further head is parsed and no
    /// output is made while its answer is going out (the caller may read and feed input though
    /// its own output waits); once the body has ended, input is held back until the answer is
    /// sent ([`tail_sent`](Conn::tail_sent)), as behind any other file or stream body.
    #[inline]
    pub fn reads_beside_answer(&self) -> bool {
        matches!(&self.reading, Reading::Body(b) if b.beside_answer)
    }

    /// The service has room for more body again (see [`Service::body_room`]).
    pub fn resume_body(&mut self) {
        if let Reading::Body(b) = &mut self.reading {
            b.paused = false;
        }
    }

    /// Whether any deferred answer is still owed.
    #[inline]
    pub fn has_in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// Whether the connection should linger before closing: it was closed with input possibly
    /// still coming (an error, or an unread body), so the caller should shut down writing and
    /// drain reads briefly, for the client to see the answer instead of a reset.
    #[inline]
    pub fn wants_linger(&self) -> bool {
        matches!(self.reading, Reading::Closed { linger: true })
    }

    /// Whether the connection is between requests (no partial head or body in progress),
    /// given that the caller holds no unconsumed input.
    #[inline]
    pub fn is_between_requests(&self) -> bool {
        matches!(self.reading, Reading::Head(HeadRead::Start)) && !self.tail_pending() && self.in_flight.is_empty()
    }

    /// Whether all the connection still needs is to send answers it owes (deferred answers, or a
    /// file or stream body going out): no request, head or body is partly read. A client that
    /// half-closes now (sends its FIN after its requests) still gets those answers.
    #[inline]
    pub fn owes_only_answers(&self) -> bool {
        matches!(self.reading, Reading::Head(HeadRead::Start) | Reading::Closed { .. })
            && (!self.in_flight.is_empty() || self.tail_pending())
    }

    /// What the connection waits for now, given the caller holds no unconsumed input beyond a
    /// partial request.
    #[inline]
    pub fn phase(&self) -> Phase {
        if self.tail_pending() && !self.reads_beside_answer() {
            // An answer's body is still going out (a file, or a stream the application writes).
            return Phase::App;
        }
        match &self.reading {
            Reading::Closed { .. } => Phase::Closed,
            Reading::Drain(_) => Phase::Drain,
            Reading::Body(b) if b.paused || b.awaiting_continue => Phase::App,
            Reading::Body(_) => Phase::Body,
            Reading::Head(HeadRead::Collect { .. }) => Phase::Body,
            Reading::Head(HeadRead::Partial { .. }) => Phase::Head,
            Reading::Head(HeadRead::Start) if self.in_flight.is_empty() => Phase::Idle,
            Reading::Head(HeadRead::Start) => Phase::App,
        }
    }

    /// A timeout fired for the current phase: a partial request is answered `408` (after any
    /// answers still owed) and the connection closes; otherwise it just closes. The progress
    /// counts the answers appended to `out`, and the request refused as one received (a
    /// partial head, or a head whose body an inline answer waited for; a streamed body's request
    /// was counted at its head). Nothing is consumed.
    pub fn time_out(&mut self, env: &Env<'_>, out: &mut Vec<u8>) -> Progress {
        let mut progress = Progress::default();
        match self.phase() {
            Phase::Head | Phase::Body => {
                if let Reading::Body(b) = &self.reading {
                    self.answer_error(b.seq, 408, env, out, &mut progress);
                    return progress;
                }
                let head_only = matches!(&self.reading, Reading::Head(h) if h.head_only());
                self.refuse(408, head_only, env, out, &mut progress);
            }
            _ => self.close(),
        }
        progress
    }

    /// Requests answered on this connection.
    #[inline]
    pub fn served(&self) -> u32 {
        self.served
    }

    /// Stops taking requests (server shutdown, timeout).
    pub fn close(&mut self) {
        if !self.is_closed() {
            self.reading = Reading::Closed { linger: false };
        }
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
            if (self.tail_pending() && !self.reads_beside_answer())
                || (matches!(self.reading, Reading::Head(_)) && self.in_flight.len() >= MAX_IN_FLIGHT)
            {
                break;
            }
            let more = match &self.reading {
                Reading::Closed { .. } => {
                    progress.consumed = input.len();
                    break;
                }
                Reading::Drain(_) => self.on_drain(rest, &mut progress),
                // A body whose last byte was handed on ends now, not when more input comes.
                Reading::Body(b) if rest.is_empty() && !b.decoder.is_done() => break,
                Reading::Body(_) => self.on_body(rest, env, service, out, &mut progress),
                Reading::Head(h) if rest.is_empty() || rest.len() < h.needs() => break,
                Reading::Head(HeadRead::Partial { scanned, .. })
                    if !parse::may_be_complete(rest, *scanned as usize) =>
                {
                    self.on_partial_head(rest, env, out, &mut progress)
                }
                Reading::Head(_) => self.on_head(rest, env, service, out, &mut progress),
            };
            if !more {
                break;
            }
        }
        progress
    }

    /// More of a head whose end has not arrived: refuses it at once if a line is already over
    /// its limit, else waits. Returns whether it was refused.
    fn on_partial_head(&mut self, rest: &[u8], env: &Env<'_>, out: &mut Vec<u8>, progress: &mut Progress) -> bool {
        // No line can be over its limit while the whole head is shorter than the smallest one:
        // the common trickle costs nothing more.
        let l = env.limits;
        let smallest = l.max_request_bytes.min(l.max_url_length).min(l.max_field_length);
        let checked = if rest.len() > smallest { parse::check_partial(rest, l) } else { Ok(()) };
        let head_only = parse::is_head_request(rest);
        if let Err(e) = checked {
            return self.refuse(e.status(), head_only, env, out, progress);
        }
        self.reading = Reading::Head(HeadRead::Partial { scanned: len32(rest.len()), head_only });
        false
    }

    /// The application started reading the body of deferred request `seq`: when the client waits
    /// for it, `100 Continue` is appended to `out` — if no earlier answer is still owed, nor the
    /// body of one still going out (else the client, which must not wait for ever, sends its body
    /// unasked). Returns whether it was sent.
    pub fn send_continue(&mut self, seq: u32, out: &mut Vec<u8>) -> bool {
        let front = if self.tail_pending() { None } else { self.in_flight.front().map(|s| s.seq) };
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

    /// Parses and answers one head at the start of `rest`. Returns `false` when the head, or the
    /// body an inline answer needs, is incomplete.
    ///
    /// The steps: parse the head and its framing (refused: [`fail`](Conn::fail)); ask the service
    /// how the body is taken (a declared body over its limit: `413`); for an inline answer,
    /// collect the body ([`collect_body`](Conn::collect_body)); decide whether the connection
    /// ends ([`Close`]); call the service ([`call`](Conn::call)); move to what is read next.
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
                let head_only = parse::is_head_request(rest);
                self.reading = Reading::Head(HeadRead::Partial { scanned: len32(rest.len().max(1)), head_only });
                return false;
            }
            Err(e) => return self.refuse(e.status(), parse::is_head_request(rest), env, out, progress),
        };
        let minor = head.req.version.unwrap_or(1);
        let raw_head = rest.get(..head.len).unwrap_or_default();
        let framing = match framing::check_line_endings(raw_head, env.limits.strictness)
            .and_then(|()| framing::request_framing(minor, head.req.path.unwrap_or_default(), head.req.headers))
        {
            Ok(f) => f,
            Err(e) => return self.refuse(e.status(), head.req.method == Some("HEAD"), env, out, progress),
        };
        let mut request = Request {
            method: head.req.method.unwrap_or_default(),
            target: head.req.path.unwrap_or_default(),
            version: if minor == 0 { Version::Http10 } else { Version::Http11 },
            headers: head.req.headers,
            body: framing.body,
            body_bytes: &[],
            host: framing.host,
            head_len: head.len,
            route_path: None,
            tls: None,
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
            progress.too_large += 1;
            return self.refuse(413, request.is_head(), env, out, progress);
        }
        let streamed = framing.body != BodyKind::Empty && plan.mode != BodyMode::Buffered;
        // Where this request's bytes end: after its head, or after the body an inline answer reads.
        let mut end = head.len;
        let dechunked;
        if !streamed && framing.body != BodyKind::Empty {
            match self.collect_body(rest, &request, &framing, plan.max_size, env, out) {
                Collected::More => return false,
                Collected::Fail(status) => {
                    progress.too_large += u32::from(status == 413);
                    return self.refuse(status, request.is_head(), env, out, progress);
                }
                Collected::Length(e) => {
                    end = e;
                    request.body_bytes = rest.get(head.len..e).unwrap_or_default();
                }
                Collected::Chunked(e) => {
                    end = e;
                    dechunked = body::dechunk(rest.get(head.len..e).unwrap_or_default(), env);
                    request.body_bytes = &dechunked;
                }
            }
        }
        // Body bytes after the head: a client that sent `Expect: 100-continue` is not waiting.
        let arrived = streamed && rest.len() > head.len;
        let close = Close::of(&framing, minor, streamed, arrived, env);
        // A body the answer leaves unread: what of it is in hand is read now, before the answer
        // (a drain would read it next anyway), so broken framing there is a `400`, not an answer
        // the client cannot tell from success. (What arrives later is drained after the answer,
        // and broken framing then only closes: see `on_drain`.)
        // `body_left`: body bytes may still come after `end`.
        let (mut body_left, mut in_hand) = (streamed, None);
        if streamed && plan.mode == BodyMode::Unread && close != Close::Unread {
            match body::read_in_hand(rest.get(head.len..).unwrap_or_default(), framing.body, env) {
                InHand::Broken => return self.refuse(400, request.is_head(), env, out, progress),
                InHand::Whole(used) => {
                    end = head.len + used;
                    body_left = false;
                }
                InHand::Part(used, decoder) => {
                    end = head.len + used;
                    in_hand = Some(decoder);
                }
            }
        }
        progress.requests += 1;
        // The request is whole: answer it.
        let seq = self.take_seq();
        let (outcome, closing) = self.call(service, &request, seq, close, env, out, progress);
        progress.consumed += end;
        self.served += 1;
        // What is read next (a body read in hand goes on where that read stopped).
        let drained = end.saturating_sub(head.len) as u64;
        let decoder = || in_hand.unwrap_or_else(|| BodyDecoder::for_request(framing.body, env.limits));
        self.reading = match outcome {
            Outcome::Deferred if body_left => Reading::Body(Box::new(BodyRead {
                decoder: decoder(),
                seq,
                received: 0,
                max_size: plan.max_size,
                paused: false,
                awaiting_continue: framing.expect_continue && !arrived,
                close_after: close.requested(),
                beside_answer: false,
            })),
            // Closing: no more reads. With answers still owed, the caller keeps the connection
            // until they are out (`is_finished`).
            _ if closing => Reading::Closed { linger: body_left || end < rest.len() },
            Outcome::Answered if body_left => Reading::Drain(Box::new(DrainRead {
                decoder: decoder(),
                budget: env.limits.max_drain_bytes.saturating_sub(drained),
            })),
            _ => Reading::Head(HeadRead::Start),
        };
        true
    }

    /// Whether the body an inline answer reads is all in `rest`. While it is not, what was found
    /// is kept, and `100 Continue` sent (once) if the client waits for it and no earlier answer
    /// is owed.
    fn collect_body(
        &mut self,
        rest: &[u8],
        request: &Request<'_>,
        framing: &Framing<'_>,
        max_size: Option<u64>,
        env: &Env<'_>,
        out: &mut Vec<u8>,
    ) -> Collected {
        let (mut wait, mut continue_sent) = match std::mem::replace(&mut self.reading, Reading::Head(HeadRead::Start)) {
            Reading::Head(HeadRead::Collect { wait, continue_sent, .. }) => (Some(wait), continue_sent),
            _ => (None, false),
        };
        let (head_len, head_only) = (request.head_len, request.is_head());
        let collected = body::collect(rest, head_len, framing.body, max_size, env, &mut wait);
        if let (Collected::More, Some(wait)) = (&collected, wait) {
            if framing.expect_continue && !continue_sent && self.in_flight.is_empty() {
                out.extend_from_slice(CONTINUE);
                continue_sent = true;
            }
            self.reading = Reading::Head(HeadRead::Collect { wait, continue_sent, head_only });
        }
        collected
    }

    /// The sequence number of the next request.
    fn take_seq(&mut self) -> u32 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        seq
    }

    /// Refuses a request with `status` ([`fail`](Conn::fail)), counting it. Returns `true`: the
    /// connection moved on (it is closed).
    #[cold]
    fn refuse(
        &mut self,
        status: u16,
        head_only: bool,
        env: &Env<'_>,
        out: &mut Vec<u8>,
        progress: &mut Progress,
    ) -> bool {
        progress.requests += 1;
        self.fail(status, head_only, env, out, progress);
        true
    }

    /// Answers a bad request with `status` and closes; without a body when the request is a `HEAD`
    /// (`head_only`), whatever the status.
    #[cold]
    fn fail(&mut self, status: u16, head_only: bool, env: &Env<'_>, out: &mut Vec<u8>, progress: &mut Progress) {
        let sent = if self.in_flight.is_empty() {
            let start = out.len();
            encode::write_error(out, env.common, status, head_only);
            progress.responses += 1;
            out.len() - start
        } else {
            let mut bytes = Vec::new();
            encode::write_error(&mut bytes, env.common, status, head_only);
            let seq = self.take_seq();
            let sent = bytes.len();
            self.in_flight.push_back(Slot { seq, state: SlotState::Ready { bytes, close: true, tail: None } });
            sent
        };
        progress.refusal = Some(Refusal { status, seq: None, at: progress.consumed, bytes: sent as u64 });
        self.reading = Reading::Closed { linger: true };
    }
}

/// A length kept in a connection's state (bounded by the limits far below 4 GiB; saturates).
fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
