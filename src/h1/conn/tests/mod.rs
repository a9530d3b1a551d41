//! Unit tests of the connection state machine, on bytes alone (no sockets): tables of input
//! chunks and service behaviour against the bytes written, the [`Progress`] counts, the phase
//! and how the connection ends (the tables are in `cases.rs`).

mod cases;
mod duplex;

use super::*;
use crate::app::IgnoreBody;
use crate::app::Response;
use crate::app::reply::Reply;
use crate::app::service::Inline;
use crate::limits::Strictness;
use crate::pipe::{StreamPipe, StreamSource};

/// Every idle keep-alive connection carries this struct: rare states stay boxed.
#[test]
fn connection_state_stays_small() {
    let size = std::mem::size_of::<Conn>();
    assert!(size <= 56, "h1::Conn grew to {size} bytes");
    assert!(std::mem::size_of::<Option<Tail>>() <= 16);
}

/// The fixed `Date` of every test; each answer's `Server` + `Date` block is written `~` in the
/// expected output.
const DATE: &[u8; 29] = b"Thu, 01 Jan 1970 00:00:00 GMT";

/// What the service does with each request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Behave {
    /// [`Inline`] over [`echo`]: answered at once, a body collected first.
    Inline,
    /// [`Inline`] over [`IgnoreBody`]: answered at the head, a body left unread (drained).
    Unread,
    /// Every request deferred; the test answers it as soon as `handle_input` returns.
    Deferred,
    /// Targets starting `/d` deferred (as [`Behave::Deferred`]), the others answered inline.
    Mixed,
    /// Every request deferred and never answered.
    Hold,
    /// Bodies streamed to the service, which answers once a body has ended.
    Streamed,
    /// As [`Behave::Streamed`], with room for body only every other time it is asked (the
    /// connection pauses, and the test resumes it).
    Stingy,
    /// Bodies streamed to the service, which answers every request at once with a streamed
    /// answer (its head as soon as it is in order) while its body is still arriving; the test
    /// sends each answer's stream (its tail) once the request's body has ended (full duplex).
    Duplex,
}

/// The answer's body: the request's target, `:`, its body. A target ending in `!` asks to close.
fn echo(req: &Request<'_>, res: &mut Response<'_>) {
    if req.target().ends_with('!') {
        res.close();
    }
    let _ = res.body(&text(req));
}

fn text(req: &Request<'_>) -> Vec<u8> {
    let mut text = req.target().as_bytes().to_vec();
    text.push(b':');
    text.extend_from_slice(req.body());
    text
}

/// A deferred request: its answer's body so far, and how its streamed body ended.
struct Pending {
    seq: u32,
    text: Vec<u8>,
    close: bool,
    /// `None` while the body streams, then whether it ended whole.
    ended: Option<bool>,
    /// [`Behave::Duplex`]: its streamed answer was given.
    replied: bool,
}

/// The test's service for the deferring behaviours.
struct Test {
    behave: Behave,
    pending: Vec<Pending>,
    asked: u32,
    /// [`Behave::Duplex`]: the stream body going out (taken from the connection).
    tail: Option<Tail>,
}

impl Service for Test {
    fn call(&mut self, req: &Request<'_>, res: &mut Response<'_>, seq: u32) -> Outcome {
        let streamed = matches!(self.behave, Behave::Streamed | Behave::Stingy | Behave::Duplex)
            && req.body_kind() != BodyKind::Empty;
        if self.behave == Behave::Mixed && !req.target().starts_with("/d") {
            echo(req, res);
            return Outcome::Answered;
        }
        let ended = if streamed { None } else { Some(true) };
        self.pending.push(Pending { seq, text: text(req), close: req.target().ends_with('!'), ended, replied: false });
        Outcome::Deferred
    }

    fn body_plan(&mut self, _req: &Request<'_>, max_size: Option<u64>) -> BodyPlan {
        let mode = match self.behave {
            Behave::Streamed | Behave::Stingy | Behave::Duplex => BodyMode::Streamed,
            _ => BodyMode::Buffered,
        };
        BodyPlan { mode, max_size }
    }

    fn body_room(&mut self, _seq: u32) -> bool {
        self.asked += 1;
        self.behave != Behave::Stingy || self.asked.is_multiple_of(2)
    }

    fn body_data(&mut self, seq: u32, data: &[u8]) {
        let p = self.pending.iter_mut().find(|p| p.seq == seq).expect("body data for an unknown request");
        assert!(p.ended.is_none(), "body data after the body ended");
        p.text.extend_from_slice(data);
    }

    fn body_end(&mut self, seq: u32, error: Option<u16>) {
        let p = self.pending.iter_mut().find(|p| p.seq == seq).expect("body end for an unknown request");
        assert!(p.ended.is_none(), "body ended twice");
        p.ended = Some(error.is_none());
    }
}

impl Test {
    /// Answers every deferred request whose body has ended (a failed one's answer is dropped by
    /// the connection), in order, unless holding; reads (for `100 Continue`) those still
    /// streaming. The number of answers released.
    fn answer(&mut self, conn: &mut Conn, env: &Env<'_>, out: &mut Vec<u8>) -> u32 {
        if self.behave == Behave::Hold {
            return 0;
        }
        if self.behave == Behave::Duplex {
            return self.answer_streaming(conn, env, out);
        }
        let mut released = 0;
        let (ready, waiting): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|p| p.ended.is_some());
        self.pending = waiting;
        for p in ready {
            let mut reply = Reply::new(200).body(p.text);
            if p.close {
                reply = reply.close();
            }
            released += conn.complete(p.seq, &reply, env, out);
        }
        for p in &self.pending {
            conn.send_continue(p.seq, out);
        }
        released
    }

    /// [`Behave::Duplex`]: answers every request not answered yet with a streamed answer, takes
    /// the stream released to go out, and says it was sent once its request's body has ended.
    /// The number of answers released.
    fn answer_streaming(&mut self, conn: &mut Conn, env: &Env<'_>, out: &mut Vec<u8>) -> u32 {
        let mut released = 0;
        for p in self.pending.iter_mut().filter(|p| !p.replied) {
            p.replied = true;
            let pipe = std::sync::Arc::new(StreamPipe::new(true, false, None));
            let mut reply = Reply::new(200).streamed(StreamSource::new(pipe), None);
            if p.close {
                reply = reply.close();
            }
            released += conn.complete(p.seq, &reply, env, out);
        }
        loop {
            if self.tail.is_none() {
                self.tail = conn.take_tail();
            }
            // The stream going out is the oldest answer's: sent once its body has ended.
            if self.tail.is_none() || self.pending.first().is_none_or(|p| p.ended.is_none()) {
                return released;
            }
            self.pending.remove(0);
            self.tail = None;
            released += conn.tail_sent(out);
        }
    }
}

/// How the connection stands at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// It takes more requests.
    Open,
    /// It takes no more; close it once the output is written.
    Close,
    /// As `Close`, lingering first (input may still be coming).
    Linger,
}

/// One connection played as the server's loop plays it, and what came of it.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    /// Every byte written, each `Server` + `Date` block as `~`.
    out: String,
    /// `(requests, responses, too_large)` summed over the `handle_input` calls and `time_out`.
    counts: (u32, u32, u32),
    /// Input bytes consumed in all.
    consumed: usize,
    phase: Phase,
    end: End,
}

/// Small limits (as the fuzz target's `TIGHT`, with a smaller drain budget than body limit), so
/// a few bytes reach each one.
fn tight() -> Limits {
    Limits {
        max_request_bytes: 200,
        max_field_length: 40,
        max_url_length: 60,
        max_headers: 6,
        max_body_size: Some(100),
        max_chunk_extra_bytes: 30,
        max_drain_bytes: 50,
        ..Limits::default()
    }
}

/// Plays `reads` on a new connection: each read is appended to what is unconsumed,
/// `handle_input` runs until nothing more happens (the deferred answers that are ready are
/// delivered, and a paused body resumed, after each call), and the output is written out. Then,
/// with `time_out`, the phase's timer fires.
fn play(behave: Behave, limits: &Limits, draining: bool, reads: &[&[u8]], time_out: bool) -> Run {
    let common = CommonHeaders::new(DATE);
    let env = Env { common: &common, limits, draining };
    let mut conn = Conn::new();
    let mut test = Test { behave, pending: Vec::new(), asked: 0, tail: None };
    let mut inbuf = Vec::new();
    let mut out = Vec::new();
    let mut counts = (0, 0, 0);
    let mut consumed = 0;
    'reads: for read in reads {
        inbuf.extend_from_slice(read);
        // Two turns in a row without progress: the connection waits for the next read.
        let mut idle = 0;
        while idle < 2 {
            conn.resume_body();
            let progress = match behave {
                Behave::Inline => conn.handle_input(&inbuf, &env, &mut Inline(&echo), &mut out),
                Behave::Unread => conn.handle_input(&inbuf, &env, &mut Inline(&IgnoreBody(echo)), &mut out),
                _ => conn.handle_input(&inbuf, &env, &mut test, &mut out),
            };
            inbuf.drain(..progress.consumed);
            consumed += progress.consumed;
            counts.0 += progress.requests;
            counts.1 += progress.responses;
            counts.2 += progress.too_large;
            let answered = test.answer(&mut conn, &env, &mut out);
            assert!(behave == Behave::Duplex || conn.take_tail().is_none());
            if conn.is_finished() {
                break 'reads;
            }
            idle = if progress.consumed == 0 && answered == 0 { idle + 1 } else { 0 };
        }
    }
    if time_out {
        let refused = conn.time_out(&env, &mut out);
        counts.0 += refused.requests;
        counts.1 += refused.responses;
        test.answer(&mut conn, &env, &mut out);
    }
    let end = match (conn.is_closed(), conn.wants_linger()) {
        (false, _) => End::Open,
        (true, false) => End::Close,
        (true, true) => End::Linger,
    };
    Run { out: normalise(&out, &common), counts, consumed, phase: conn.phase(), end }
}

/// `out` as text, each `Server` + `Date` block replaced by `~`.
fn normalise(out: &[u8], common: &CommonHeaders) -> String {
    String::from_utf8_lossy(out).replace(std::str::from_utf8(common.as_bytes()).expect("ASCII"), "~")
}

/// One row: a connection's reads and service, and what must come of them.
struct Case {
    name: &'static str,
    behave: Behave,
    /// [`tight`] limits instead of the defaults.
    tight: bool,
    /// The server is stopping.
    draining: bool,
    reads: &'static [&'static [u8]],
    /// The phase's timer fires after the reads.
    time_out: bool,
    /// The bytes written (each `Server` + `Date` block as `~`).
    out: &'static str,
    /// `(requests, responses, too_large)` from `handle_input` and `time_out`.
    counts: (u32, u32, u32),
    phase: Phase,
    end: End,
}

/// A row's defaults: inline, default limits, not draining, no timeout.
const ROW: Case = Case {
    name: "",
    behave: Behave::Inline,
    tight: false,
    draining: false,
    reads: &[],
    time_out: false,
    out: "",
    counts: (0, 0, 0),
    phase: Phase::Idle,
    end: End::Open,
};

/// Plays each row and reports every one that differs.
fn check(cases: &[Case]) {
    let mut failed = Vec::new();
    for c in cases {
        let limits = if c.tight { tight() } else { Limits::default() };
        let run = play(c.behave, &limits, c.draining, c.reads, c.time_out);
        let want = (c.out, c.counts, c.phase, c.end);
        if (run.out.as_str(), run.counts, run.phase, run.end) != want {
            failed.push(format!("{}:\n  got  {run:?}\n  want {want:?}", c.name));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// Split at every byte (two reads), and byte by byte, a pipelined stream gets the same bytes as
/// whole, with each behaviour.
#[test]
fn pipelined_split_anywhere() {
    const STREAM: &[u8] = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n\
        POST /d1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello\
        POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
        GET /d2 HTTP/1.1\r\nHost: h\r\n\r\n\
        GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    let limits = Limits::default();
    for behave in [
        Behave::Inline,
        Behave::Unread,
        Behave::Deferred,
        Behave::Mixed,
        Behave::Streamed,
        Behave::Stingy,
        Behave::Duplex,
    ] {
        let whole = play(behave, &limits, false, &[STREAM], false);
        // (A deferred answer's close lingers: it is released after the reads.)
        assert_ne!(whole.end, End::Open, "{behave:?}: {whole:?}");
        assert_eq!(whole.consumed, STREAM.len(), "{behave:?}");
        assert_eq!(whole.out.matches("HTTP/1.1 200 OK").count(), 5, "{behave:?}: {}", whole.out);
        for i in 0..=STREAM.len() {
            let (a, b) = STREAM.split_at(i);
            let split = play(behave, &limits, false, &[a, b], false);
            assert_eq!(split.out, whole.out, "{behave:?} split at {i}");
            // (`responses` counts only what `handle_input` wrote, which depends on when the
            // deferred answers before it were released.)
            assert_eq!((split.counts.0, split.consumed), (whole.counts.0, whole.consumed), "{behave:?} split at {i}");
        }
        let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
        // (Whether a close lingers depends on the reads: on whether input was left behind it.)
        let trickled = play(behave, &limits, false, &bytes, false);
        assert_eq!(trickled.out, whole.out, "{behave:?} byte by byte");
        assert_eq!((trickled.counts.0, trickled.end == End::Open), (whole.counts.0, false), "{behave:?} byte by byte");
    }
}

/// A paused body: no input wanted and no client timer until the service has room again.
#[test]
fn paused_body_waits_for_resume() {
    struct Full(bool);
    impl Service for Full {
        fn call(&mut self, _req: &Request<'_>, _res: &mut Response<'_>, _seq: u32) -> Outcome {
            Outcome::Deferred
        }
        fn body_plan(&mut self, _req: &Request<'_>, max_size: Option<u64>) -> BodyPlan {
            BodyPlan { mode: BodyMode::Streamed, max_size }
        }
        fn body_room(&mut self, _seq: u32) -> bool {
            self.0
        }
    }
    let common = CommonHeaders::new(DATE);
    let limits = Limits::default();
    let env = Env { common: &common, limits: &limits, draining: false };
    let mut conn = Conn::new();
    let mut out = Vec::new();
    let input = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody";
    let head = input.len() - 4;
    let p = conn.handle_input(input, &env, &mut Full(false), &mut out);
    assert_eq!((p.consumed, p.requests, conn.wants_input(), conn.phase()), (head, 1, false, Phase::App));
    conn.resume_body();
    assert_eq!((conn.wants_input(), conn.phase()), (true, Phase::Body));
    let p = conn.handle_input(&input[head..], &env, &mut Full(true), &mut out);
    assert_eq!((p.consumed, conn.phase()), (4, Phase::App), "the body ended; the answer is owed");
    assert!(out.is_empty());
}

/// A deferred answer that closes, completed after the answer behind it was already encoded (its
/// application answered first): both go out in order, the close is put into the last one's head,
/// and the connection ends after it.
#[test]
fn a_close_held_for_an_answer_already_encoded_ends_after_it() {
    let limits = Limits::default();
    let common = CommonHeaders::new(DATE);
    let env = Env { common: &common, limits: &limits, draining: false };
    let mut conn = Conn::new();
    let mut test = Test { behave: Behave::Hold, pending: Vec::new(), asked: 0, tail: None };
    let mut out = Vec::new();
    let input = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    let progress = conn.handle_input(input, &env, &mut test, &mut out);
    assert_eq!((progress.consumed, progress.requests), (input.len(), 2));
    let (a, b) = (test.pending[0].seq, test.pending[1].seq);
    // `/b` first: encoded into its slot, waiting behind `/a`.
    assert_eq!(conn.complete(b, &Reply::new(200).body(&b"b"[..]), &env, &mut out), 0);
    assert!(out.is_empty());
    // `/a` closes: both are released, and nothing more is taken.
    assert_eq!(conn.complete(a, &Reply::new(200).body(&b"a"[..]).close(), &env, &mut out), 2);
    assert_eq!(
        normalise(&out, &common),
        "HTTP/1.1 200 OK\r\n~Content-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\n~Content-Length: 1\r\nConnection: close\r\n\r\nb"
    );
    assert!(conn.is_finished(), "the connection does not end after the last answer");
}
