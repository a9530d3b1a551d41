//! What the HTTP/1 connection targets share (`conn`, and `tls_h1` over TLS): the input's format,
//! the service, a caller that plays the server's loop, and the rules comparing two runs' output.
//! See `conn.rs` for the format and why each comparison rule holds.
//!
//! Each target includes this module (`mod common;`) and uses all of it.

use hsys::Reply;
use hsys::Strictness;
use hsys::app::service::{BodyMode, BodyPlan, Inline, Outcome, Service};
use hsys::h1::conn::CONTINUE;
use hsys::h1::encode::CommonHeaders;
use hsys::h1::framing::BodyKind;
use hsys::h1::{Conn, Env};
use hsys::limits::Limits;
use hsys::{IgnoreBody, Request, Response};

/// Read sizes after the mode byte.
pub const READS: usize = 8;

/// Sent after the stream (see the module doc).
pub const END: &[u8] = b"\r\n\r\n";

/// The mode byte's bits.
pub struct Mode;

impl Mode {
    /// Lenient line ends.
    pub const LENIENT: u8 = 1;
    /// Bodies are streamed to the service, which defers those requests and answers once the body
    /// has ended (targets ending in `~` are answered at once, and their body drained).
    pub const STREAMED: u8 = 2;
    /// Every request is deferred and answered after `handle_input` returns, as a queue would.
    pub const DEFER: u8 = 4;
    /// Deferred answers are delivered newest first (the connection must still send them in order).
    pub const REVERSE: u8 = 8;
    /// The service has room for body only every other time it is asked.
    pub const STINGY: u8 = 16;
    /// The server is stopping: every answer closes.
    pub const DRAINING: u8 = 32;
    /// Small limits (head, line, target, header count, body, chunk extras, drain), so inputs of
    /// a few KiB reach every limit's answer.
    pub const TIGHT: u8 = 64;
    /// Inline answers to targets ending in `~` do not read their body (`BodyMode::Unread`).
    pub const UNREAD: u8 = 128;
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

/// One input, taken apart: the mode, the reads, and the stream with [`END`] after it.
pub struct Case {
    /// The mode byte (see [`Mode`]).
    pub mode: u8,
    /// The stream and [`END`]: what the client sends.
    pub input: Vec<u8>,
    /// The read sizes (at most [`READS`]); the last read is the rest.
    pub sizes: Vec<usize>,
    common: CommonHeaders,
    limits: Limits,
}

impl Case {
    /// The mode byte, [`READS`] sizes, then the stream.
    pub fn new(data: &[u8]) -> Case {
        let mode = data.first().copied().unwrap_or(0);
        let data = data.get(1..).unwrap_or_default();
        let (sizes, stream) = data.split_at(data.len().min(READS));
        let mut input = Vec::with_capacity(stream.len() + END.len());
        input.extend_from_slice(stream);
        input.extend_from_slice(END);
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
        Case {
            mode,
            input,
            sizes: sizes.iter().map(|&b| usize::from(b)).collect(),
            common: CommonHeaders::new(b"Thu, 01 Jan 1970 00:00:00 GMT"),
            limits,
        }
    }

    /// The connection's environment.
    pub fn env(&self) -> Env<'_> {
        Env { common: &self.common, limits: &self.limits, draining: self.mode & Mode::DRAINING != 0 }
    }
}

/// `bytes` cut into reads of `sizes` (each at most what is left), then the rest.
pub fn cut(bytes: &[u8], sizes: impl IntoIterator<Item = usize>) -> Vec<&[u8]> {
    let mut reads = Vec::with_capacity(READS + 1);
    let mut rest = bytes;
    for size in sizes {
        let (read, tail) = rest.split_at(size.min(rest.len()));
        reads.push(read);
        rest = tail;
    }
    reads.push(rest);
    reads
}

/// One new connection, with a caller as the server's loop plays it: it keeps the unconsumed tail,
/// appends the next read, calls `handle_input` until nothing more happens, and delivers the
/// deferred answers that are ready.
pub struct Play {
    conn: Conn,
    fuzzy: Fuzzy,
    inbuf: Vec<u8>,
    /// What `handle_input` and the answers write into, moved out after every turn.
    out: Vec<u8>,
}

impl Play {
    /// A connection served in `mode`.
    pub fn new(mode: u8) -> Play {
        Play {
            conn: Conn::new(),
            fuzzy: Fuzzy { mode, pending: Vec::new(), asked: 0 },
            inbuf: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Handles `read`: what the connection writes goes to the end of `written`. True once the
    /// connection is finished (later reads are not handed to it).
    pub fn read(&mut self, read: &[u8], env: &Env<'_>, written: &mut Vec<u8>) -> bool {
        let mode = self.fuzzy.mode;
        let inline = mode & (Mode::STREAMED | Mode::DEFER) == 0;
        self.inbuf.extend_from_slice(read);
        // Two turns in a row without progress: the connection waits for the next read.
        let mut idle = 0;
        while idle < 2 {
            let (conn, inbuf, out) = (&mut self.conn, &mut self.inbuf, &mut self.out);
            conn.resume_body();
            let progress = if inline {
                if mode & Mode::UNREAD != 0 {
                    conn.handle_input(inbuf, env, &mut Inline(&IgnoreBody(echo)), out)
                } else {
                    conn.handle_input(inbuf, env, &mut Inline(&echo), out)
                }
            } else {
                conn.handle_input(inbuf, env, &mut self.fuzzy, out)
            };
            assert!(progress.consumed <= inbuf.len());
            inbuf.drain(..progress.consumed);
            let answered = self.fuzzy.answer(conn, env, out);
            assert!(conn.take_tail().is_none());
            written.append(out);
            if conn.is_finished() {
                return true;
            }
            idle = if progress.consumed == 0 && answered == 0 { idle + 1 } else { 0 };
        }
        false
    }

    /// The connection ended closed.
    pub fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }
}

/// Plays the server's loop over `reads` for one new connection; returns every byte written,
/// without `100 Continue`, and whether the connection ended closed.
pub fn serve(env: &Env<'_>, mode: u8, reads: &[&[u8]]) -> (Vec<u8>, bool) {
    let mut play = Play::new(mode);
    let mut written = Vec::new();
    for read in reads {
        if play.read(read, env, &mut written) {
            break;
        }
    }
    (strip(&written, CONTINUE), play.is_closed())
}

/// `bytes` without any occurrence of `needle`.
pub fn strip(bytes: &[u8], needle: &[u8]) -> Vec<u8> {
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
pub fn same(mode: u8, (a, a_closed): &(Vec<u8>, bool), (b, b_closed): &(Vec<u8>, bool)) -> bool {
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

pub fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
