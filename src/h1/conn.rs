//! The HTTP/1 connection state machine: bytes in, handler calls and response bytes out.
//!
//! [`Conn::handle_input`] takes the bytes the caller has buffered for this connection, answers
//! every complete request in them (pipelining) by calling the handler inline, appends the
//! answers to the caller's output buffer, and says how many input bytes it consumed. The caller
//! keeps the rest (a partial request) and calls again when more bytes arrive. Nothing here does
//! I/O, reads a clock or allocates: header slots live on the stack, the request is a view into
//! the input, and responses are written into the caller's buffer.

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
}

impl Default for Conn {
    fn default() -> Self {
        Conn::new()
    }
}

impl Conn {
    /// A new connection, waiting for its first request.
    pub const fn new() -> Self {
        Conn { reading: Reading::Head, scanned: 0, served: 0, linger: false }
    }

    /// Whether the connection takes no more requests: close it once the output is written.
    #[inline]
    pub fn is_closed(&self) -> bool {
        matches!(self.reading, Reading::Closed)
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
        matches!(self.reading, Reading::Head) && self.scanned == 0
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
    pub fn handle_input<H: Handler + ?Sized>(
        &mut self,
        input: &[u8],
        env: &Env<'_>,
        handler: &H,
        out: &mut Vec<u8>,
    ) -> Progress {
        let mut progress = Progress::default();
        while out.len() < OUT_HIGH_WATER {
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
                    if !self.on_head(rest, env, handler, out, &mut progress) {
                        break;
                    }
                }
            }
        }
        progress
    }

    /// Parses and answers one head at the start of `rest`. Returns `false` when it is incomplete.
    fn on_head<H: Handler + ?Sized>(
        &mut self,
        rest: &[u8],
        env: &Env<'_>,
        handler: &H,
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
        let framing = match framing::check_line_endings(raw_head)
            .and_then(|()| framing::request_framing(minor, head.req.headers))
        {
            Ok(f) => f,
            Err(e) => {
                self.fail(e.status(), env, out, progress);
                return true;
            }
        };
        let version = if minor == 0 { Version::Http10 } else { Version::Http11 };
        let keep_alive = match version {
            Version::Http11 => !framing.connection_close,
            Version::Http10 => framing.keep_alive && !framing.connection_close,
        };
        let mut close = !keep_alive || env.draining;
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
        };
        let keep_alive_10 = version == Version::Http10 && !close;
        let mut res = Response::new(out, env.common, request.is_head(), close, keep_alive_10);
        if catch_unwind(AssertUnwindSafe(|| handler.handle(&request, &mut res))).is_err() {
            res.replace_with_error(500);
        } else if !res.is_done() {
            res.finish();
        }
        close = res.closes();
        let more_input = head.len < rest.len();
        progress.consumed += head.len;
        progress.responses += 1;
        self.served += 1;
        self.reading = if close {
            self.linger = framing.body != BodyKind::Empty || more_input;
            Reading::Closed
        } else {
            match framing.body {
                BodyKind::Empty => Reading::Head,
                kind => Reading::Drain { decoder: BodyDecoder::new(kind), budget: env.limits.max_drain_bytes },
            }
        };
        true
    }

    /// Answers a bad request with `status` and closes.
    #[cold]
    fn fail(&mut self, status: u16, env: &Env<'_>, out: &mut Vec<u8>, progress: &mut Progress) {
        response::write_error(out, env.common, status, false);
        progress.responses += 1;
        self.linger = true;
        self.reading = Reading::Closed;
    }
}
