//! The connection state machine: the same bytes, however they are split across reads, get the same
//! answers.
//!
//! The first byte picks the mode (see [`Mode`]), the next [`READS`] bytes give the sizes of the
//! reads (zero allowed); the rest is what a client sends. A caller is played as the server's loop
//! plays it: it keeps the unconsumed tail, appends the next read, calls `handle_input` until nothing
//! more happens, delivers the deferred answers that are ready, writes the output out, and stops
//! once the connection is finished. The stream is fed whole, in those reads, and byte by byte (when
//! short); the bytes written must be identical.
//!
//! Two differences are timing only, so they are taken out before comparing:
//! - `100 Continue` goes out when a body the client was asked to wait with has not all arrived
//!   yet, so it depends on the reads; it is removed from the output.
//! - The stream is followed by a blank line, as a client that has sent everything and waits would
//!   eventually be timed out: without it, an incomplete head that is already malformed is answered
//!   `400` when it arrives in one read but waits for its blank line when it trickles in (`Conn`
//!   re-parses a partial head only once a blank line may have arrived).
//!
//! And two differences are in what the connection knew when it answered; see [`same`]:
//! - which fault is named: a head refused for several reasons at once (malformed and over a
//!   length limit, say) may get `400` whole and `431` in pieces. That it is refused, after the
//!   same answers, and closed, does not depend on the reads.
//! - an unread body's broken framing: found in the bytes in hand when its request is answered,
//!   it is a `400` in place of the answer; arriving after the answer, it only closes.
//! - `Expect: 100-continue` on a request whose body is left unread: with bytes of the body in
//!   hand the client did not wait, and the body is drained; with none, the answer closes.
#![no_main]

use hsys::Reply;
use hsys::Strictness;
use hsys::app::service::{BodyMode, BodyPlan, Inline, Outcome, Service};
use hsys::h1::conn::CONTINUE;
use hsys::h1::encode::CommonHeaders;
use hsys::h1::framing::BodyKind;
use hsys::h1::{Conn, Env};
use hsys::limits::Limits;
use hsys::{IgnoreBody, Request, Response};
use libfuzzer_sys::fuzz_target;

/// Read sizes after the mode byte.
const READS: usize = 8;

/// Sent after the stream (see the module doc).
const END: &[u8] = b"\r\n\r\n";

/// The mode byte's bits.
struct Mode;

impl Mode {
    /// Lenient line ends.
    const LENIENT: u8 = 1;
    /// Bodies are streamed to the service, which defers those requests and answers once the body
    /// has ended (targets ending in `~` are answered at once, and their body drained).
    const STREAMED: u8 = 2;
    /// Every request is deferred and answered after `handle_input` returns, as a queue would.
    const DEFER: u8 = 4;
    /// Deferred answers are delivered newest first (the connection must still send them in order).
    const REVERSE: u8 = 8;
    /// The service has room for body only every other time it is asked.
    const STINGY: u8 = 16;
    /// The server is stopping: every answer closes.
    const DRAINING: u8 = 32;
    /// Small limits (head, line, target, header count, body, chunk extras, drain), so inputs of
    /// a few KiB reach every limit's answer.
    const TIGHT: u8 = 64;
    /// Inline answers to targets ending in `~` do not read their body (`BodyMode::Unread`).
    const UNREAD: u8 = 128;
}

/// What the handler says: the method, target, header count and body.
fn describe(req: &Request<'_>) -> Vec<u8> {
    let mut text = format!("{} {} {} ", req.method(), req.target(), req.headers().count()).into_bytes();
    text.extend_from_slice(req.body());
    text
}

/// The inline handler. A target ending in `!` also asks to close, one ending in `?` is left
/// unanswered (hsys answers `500`), so those paths are reached too.
fn echo(req: &Request<'_>, res: &mut Response<'_>) {
    let target = req.target();
    if target.ends_with('?') {
        return;
    }
    if target.ends_with('!') {
        res.close();
    }
    let _ = res.body(&describe(req));
}

/// A deferred request: its answer so far, and its streamed body.
struct Pending {
    seq: u32,
    text: Vec<u8>,
    close: bool,
    /// `None` while the body streams, then whether it ended whole.
    ended: Option<bool>,
}

/// A service that defers (queued or streamed requests) as the mode says.
struct Fuzzy {
    mode: u8,
    pending: Vec<Pending>,
    asked: u32,
}

impl Service for Fuzzy {
    fn call(&mut self, req: &Request<'_>, res: &mut Response<'_>, seq: u32) -> Outcome {
        let streamed = self.mode & Mode::STREAMED != 0 && req.body_kind() != BodyKind::Empty;
        let unread = self.mode & Mode::UNREAD != 0 && req.target().ends_with('~');
        if (streamed && req.target().ends_with('~')) || (!streamed && (unread || self.mode & Mode::DEFER == 0)) {
            echo(req, res);
            return Outcome::Answered;
        }
        let ended = if streamed { None } else { Some(true) };
        self.pending.push(Pending { seq, text: describe(req), close: req.target().ends_with('!'), ended });
        Outcome::Deferred
    }

    fn body_plan(&mut self, req: &Request<'_>, max_size: Option<u64>) -> BodyPlan {
        let mode = if self.mode & Mode::STREAMED != 0 {
            BodyMode::Streamed
        } else if self.mode & Mode::UNREAD != 0 && req.target().ends_with('~') {
            BodyMode::Unread
        } else {
            BodyMode::Buffered
        };
        BodyPlan { mode, max_size }
    }

    fn body_room(&mut self, _seq: u32) -> bool {
        self.asked += 1;
        self.mode & Mode::STINGY == 0 || self.asked.is_multiple_of(2)
    }

    fn body_data(&mut self, seq: u32, data: &[u8]) {
        let p = self.pending.iter_mut().find(|p| p.seq == seq).expect("body data for an unknown request");
        assert!(p.ended.is_none(), "body data after the body ended");
        p.text.extend_from_slice(data);
    }

    fn body_end(&mut self, seq: u32, error: Option<u16>) {
        let p = self.pending.iter_mut().find(|p| p.seq == seq).expect("body end for an unknown request");
        assert!(p.ended.is_none(), "body ended twice");
        assert!(error.is_none_or(|s| matches!(s, 400 | 408 | 413)), "body error {error:?}");
        p.ended = Some(error.is_none());
    }
}

impl Fuzzy {
    /// Delivers every answer that is ready, as the application would; the number delivered.
    fn answer(&mut self, conn: &mut Conn, env: &Env<'_>, out: &mut Vec<u8>) -> usize {
        let mut ready: Vec<Pending> = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            if self.pending[i].ended.is_some() { ready.push(self.pending.remove(i)) } else { i += 1 }
        }
        if self.mode & Mode::REVERSE != 0 {
            ready.reverse();
        }
        for p in &ready {
            // A failed body was answered by the connection; its answer would be dropped.
            let mut reply = Reply::new(200).body(p.text.clone());
            if p.close {
                reply = reply.close();
            }
            conn.complete(p.seq, &reply, env, out);
        }
        for p in &self.pending {
            conn.send_continue(p.seq, out);
        }
        ready.len()
    }
}

fuzz_target!(|data: &[u8]| {
    let mode = data.first().copied().unwrap_or(0);
    let data = data.get(1..).unwrap_or_default();
    let (sizes, stream) = data.split_at(data.len().min(READS));
    let mut input = Vec::with_capacity(stream.len() + END.len());
    input.extend_from_slice(stream);
    input.extend_from_slice(END);

    let mut reads = Vec::with_capacity(READS + 1);
    let mut rest = &input[..];
    for &b in sizes {
        let (read, tail) = rest.split_at(usize::from(b).min(rest.len()));
        reads.push(read);
        rest = tail;
    }
    reads.push(rest);

    let common = CommonHeaders::new(b"Thu, 01 Jan 1970 00:00:00 GMT");
    let strictness = if mode & Mode::LENIENT != 0 { Strictness::Lenient } else { Strictness::Strict };
    let limits = if mode & Mode::TIGHT != 0 {
        Limits::default()
            .strictness(strictness)
            .max_request_bytes(200)
            .max_field_length(40)
            .max_url_length(60)
            .max_headers(6)
            .max_body_size(Some(100))
            .max_chunk_extra_bytes(30)
            .max_drain_bytes(150)
    } else {
        Limits::default().strictness(strictness)
    };
    let env = Env { common: &common, limits: &limits, draining: mode & Mode::DRAINING != 0 };

    let whole = serve(&env, mode, &[&input]);
    let split = serve(&env, mode, &reads);
    assert!(same(mode, &split, &whole), "reads {reads:?}:\n{}\n---- whole:\n{}", show(&split.0), show(&whole.0));
    if input.len() <= 1024 {
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        let trickled = serve(&env, mode, &bytes);
        assert!(same(mode, &trickled, &whole), "byte by byte:\n{}\n---- whole:\n{}", show(&trickled.0), show(&whole.0));
    }
});

/// Plays the server's loop over `reads` for one new connection; returns every byte written,
/// without `100 Continue`, and whether the connection ended closed.
fn serve(env: &Env<'_>, mode: u8, reads: &[&[u8]]) -> (Vec<u8>, bool) {
    let mut conn = Conn::new();
    let mut fuzzy = Fuzzy { mode, pending: Vec::new(), asked: 0 };
    let inline = mode & (Mode::STREAMED | Mode::DEFER) == 0;
    let mut inbuf = Vec::new();
    let mut out = Vec::new();
    let mut written = Vec::new();
    'reads: for read in reads {
        inbuf.extend_from_slice(read);
        // Two turns in a row without progress: the connection waits for the next read.
        let mut idle = 0;
        while idle < 2 {
            conn.resume_body();
            let progress = if inline {
                if mode & Mode::UNREAD != 0 {
                    conn.handle_input(&inbuf, env, &mut Inline(&IgnoreBody(echo)), &mut out)
                } else {
                    conn.handle_input(&inbuf, env, &mut Inline(&echo), &mut out)
                }
            } else {
                conn.handle_input(&inbuf, env, &mut fuzzy, &mut out)
            };
            assert!(progress.consumed <= inbuf.len());
            inbuf.drain(..progress.consumed);
            let answered = fuzzy.answer(&mut conn, env, &mut out);
            assert!(conn.take_tail().is_none());
            written.append(&mut out);
            if conn.is_finished() {
                break 'reads;
            }
            idle = if progress.consumed == 0 && answered == 0 { idle + 1 } else { 0 };
        }
    }
    (strip(&written, CONTINUE), conn.is_closed())
}

/// `bytes` without any occurrence of `needle`.
fn strip(bytes: &[u8], needle: &[u8]) -> Vec<u8> {
    let mut kept = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(needle) {
            i += needle.len();
        } else {
            kept.push(bytes[i]);
            i += 1;
        }
    }
    kept
}

/// Whether two runs (bytes written, ended closed) of a connection in `mode` wrote the same: byte
/// for byte, or the same answers up to a last one that differs only by what the reads let the
/// connection know when it answered:
/// - a head refused in both (`400`, `414`, `431`, `505`, each closing the connection). A head
///   with several faults at once is refused for the first one found, and that depends on the
///   reads: a line's length is checked as it grows, its syntax once the head is complete
///   (re-parsing a partial head on every read would make a trickled head cost quadratic time).
/// - `400` in one, and in the other, which ended closed, the answer to a request whose body is
///   left unread: its broken framing was in hand when the request was answered in the first,
///   and came after the answer in the second (it can then only close).
///
/// Or the same up to an answer to a request whose body is left unread that closes in one (its
/// last) and not in the other, which goes on: the request had `Expect: 100-continue`, and no
/// byte of its body was in hand in the first (the client waits) while some was in the second.
fn same(mode: u8, (a, a_closed): &(Vec<u8>, bool), (b, b_closed): &(Vec<u8>, bool)) -> bool {
    if a == b {
        return true;
    }
    if waited(mode, a, b) || waited(mode, b, a) || same_but_held_close(a, b) {
        return true;
    }
    let last = |x: &[u8]| x.windows(9).rposition(|w| w == b"HTTP/1.1 ");
    let (Some(i), Some(j)) = (last(a), last(b)) else { return false };
    let refusal = |x: &[u8], statuses: &[&[u8]]| {
        x.get(9..12).is_some_and(|s| statuses.contains(&s)) && x.windows(19).any(|w| w == b"Connection: close\r\n")
    };
    let head = |x: &[u8]| refusal(x, &[b"400", b"414", b"431", b"505"]);
    let framing = |x: &[u8], y: &[u8], y_closed: bool| refusal(x, &[b"400"]) && y_closed && unread(mode, y);
    let (x, y) = (&a[i..], &b[j..]);
    a[..i] == b[..j] && ((head(x) && head(y)) || framing(x, y, *b_closed) || framing(y, x, *a_closed))
}

/// A deferred answer that closes while requests behind it were already handed on (how far the
/// input had been read decides that) lets them be answered too, and the close moves to the last
/// of them: the two outputs then agree but for where `Connection: close` stands and the answers
/// after the first one that closes. The shorter must end with the answer that closes.
fn same_but_held_close(a: &[u8], b: &[u8]) -> bool {
    const CLOSE: &[u8] = b"Connection: close\r\n";
    let strip = |x: &[u8]| {
        let mut kept = Vec::with_capacity(x.len());
        let mut at = 0;
        while at < x.len() {
            if x[at..].starts_with(CLOSE) {
                at += CLOSE.len();
            } else {
                kept.push(x[at]);
                at += 1;
            }
        }
        kept
    };
    let ends_closing = |x: &[u8]| {
        x.windows(9).rposition(|w| w == b"HTTP/1.1 ").is_some_and(|i| x[i..].windows(CLOSE.len()).any(|w| w == CLOSE))
    };
    let (sa, sb) = (strip(a), strip(b));
    let (short, long, short_raw) = if sa.len() <= sb.len() { (&sa, &sb, a) } else { (&sb, &sa, b) };
    long.starts_with(short)
        && (long.len() == short.len() || long[short.len()..].starts_with(b"HTTP/1.1 "))
        && ends_closing(short_raw)
}

/// Whether `a` ends with an answer that closes where `b` has the same answer without the close
/// and goes on, the same before it; the answer to a request whose body is left unread.
fn waited(mode: u8, a: &[u8], b: &[u8]) -> bool {
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let Some(start) = a.get(..common).and_then(|c| c.windows(9).rposition(|w| w == b"HTTP/1.1 ")) else {
        return false;
    };
    let (x, y) = (&a[start..], &b[start..]);
    // `x` is one answer (the last); `y`'s first is as long, less its `Connection` line.
    let first = |z: &[u8]| z.windows(9).skip(1).position(|w| w == b"HTTP/1.1 ").map_or(z.len(), |p| p + 1);
    let closes = |z: &[u8]| z.windows(19).any(|w| w == b"Connection: close\r\n");
    first(x) == x.len()
        && closes(x)
        && !closes(&y[..first(y)])
        && unread(mode, x)
        && without_connection(x) == without_connection(&y[..first(y)])
}

/// An answer without its `Connection` line (`close` or `keep-alive`), if it has one.
fn without_connection(answer: &[u8]) -> Vec<u8> {
    let head_end = answer.windows(4).position(|w| w == b"\r\n\r\n").map_or(answer.len(), |p| p + 2);
    let (head, rest) = answer.split_at(head_end);
    let mut kept = Vec::with_capacity(answer.len());
    for line in head.split_inclusive(|&c| c == b'\n') {
        if !line.starts_with(b"Connection: ") {
            kept.extend_from_slice(line);
        }
    }
    kept.extend_from_slice(rest);
    kept
}

/// Whether `answer` is the handler's answer to a request whose body it left unread: every
/// inline answer in `UNREAD` mode, else one to a target ending in `~` (in `UNREAD` or
/// `STREAMED` mode).
fn unread(mode: u8, answer: &[u8]) -> bool {
    if mode & (Mode::STREAMED | Mode::DEFER) == 0 {
        return mode & Mode::UNREAD != 0;
    }
    // `describe`: the method, the target, the header count.
    let body = answer.windows(4).position(|w| w == b"\r\n\r\n").and_then(|p| answer.get(p + 4..));
    let target = body.and_then(|b| b.split(|&c| c == b' ').nth(1));
    mode & (Mode::STREAMED | Mode::UNREAD) != 0 && target.is_some_and(|t| t.ends_with(b"~"))
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
