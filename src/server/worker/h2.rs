//! The protocol a connection speaks ([`Proto`]: HTTP/1 or HTTP/2, chosen at its start by the
//! h2c preface or TLS ALPN), and what HTTP/2 needs from the loop: the body pipes of its
//! concurrent streams (the dispatch keeps one, as HTTP/1 streams one body at a time).

use std::sync::Arc;
use std::time::Instant;

use crate::app::Handler;
use crate::app::reply::Answer;
use crate::app::response::Tail;
use crate::app::service::{BodyPlan, Outcome, Sent, Service};
use crate::app::{Request, Response};
use crate::h1::{self, Env, Phase, Progress};
use crate::h2;
use crate::pipe::BodyPipe;
use crate::server::dispatch::Dispatch;

/// A connection's protocol state.
#[derive(Debug)]
pub(crate) enum Proto {
    H1(h1::Conn),
    /// Boxed: an HTTP/2 connection's state is large, and most connections speak HTTP/1.
    H2(Box<H2State>),
}

/// An HTTP/2 connection: the codec, and the body pipes of its streams' queued requests.
#[derive(Debug, Default)]
pub(crate) struct H2State {
    pub(crate) conn: h2::Conn,
    /// Per stream whose body streams to an application thread, its pipe.
    pipes: Vec<(u32, Arc<BodyPipe>)>,
}

impl Drop for H2State {
    fn drop(&mut self) {
        for (_, pipe) in &self.pipes {
            pipe.disconnect();
        }
    }
}

/// What decides a cleartext connection's protocol from its first bytes: `Some(true)` for the
/// h2c preface — or for a first line that cannot begin an HTTP/1 request at all (neither an
/// HTTP version nor a request target in it), which HTTP/2 then refuses as a bad preface
/// (GOAWAY, `PROTOCOL_ERROR`) —, `Some(false)` for HTTP/1, `None` while the bytes are a prefix
/// of the preface.
pub(crate) fn is_h2c_preface(input: &[u8]) -> Option<bool> {
    let n = input.len().min(h2::frame::PREFACE.len());
    if input.get(..n) == h2::frame::PREFACE.get(..n) {
        return (n == h2::frame::PREFACE.len()).then_some(true);
    }
    let Some(line) = input.iter().position(|&b| b == b'\n').and_then(|end| input.get(..end)) else {
        return Some(false);
    };
    let target = line.split(|&b| b == b' ').nth(1).unwrap_or_default();
    let no_target = !matches!(target.first(), Some(b'/' | b'*')) && !target.windows(3).any(|w| w == b"://");
    Some(!line.trim_ascii().is_empty() && no_target && !line.windows(6).any(|w| w == b" HTTP/"))
}

/// The dispatch as HTTP/2 needs it: before each call about stream `seq`, its body pipe is put
/// where the dispatch keeps one, and taken back after.
struct PerStream<'d, 'a, 's, H: ?Sized> {
    dispatch: &'d mut Dispatch<'a, 's, H>,
    pipes: &'d mut Vec<(u32, Arc<BodyPipe>)>,
}

impl<H: Handler + ?Sized> PerStream<'_, '_, '_, H> {
    fn with<R>(&mut self, seq: u32, f: impl FnOnce(&mut Dispatch<'_, '_, H>) -> R) -> R {
        let at = self.pipes.iter().position(|(id, _)| *id == seq);
        *self.dispatch.body_pipe = at.map(|i| self.pipes.swap_remove(i).1);
        let r = f(self.dispatch);
        if let Some(pipe) = self.dispatch.body_pipe.take() {
            self.pipes.push((seq, pipe));
        }
        r
    }
}

impl<H: Handler + ?Sized> Service for PerStream<'_, '_, '_, H> {
    fn call(&mut self, req: &Request<'_>, res: &mut Response<'_>, seq: u32) -> Outcome {
        self.with(seq, |d| d.call(req, res, seq))
    }

    fn body_plan(&mut self, req: &Request<'_>, max_size: Option<u64>) -> BodyPlan {
        self.dispatch.body_plan(req, max_size)
    }

    fn body_room(&mut self, seq: u32) -> bool {
        self.with(seq, |d| d.body_room(seq))
    }

    fn body_data(&mut self, seq: u32, data: &[u8]) {
        self.with(seq, |d| d.body_data(seq, data));
    }

    fn body_end(&mut self, seq: u32, error: Option<u16>) {
        self.with(seq, |d| d.body_end(seq, error));
    }

    fn called(&mut self, req: &Request<'_>, seq: u32, sent: Option<Sent>) {
        self.dispatch.called(req, seq, sent);
    }

    fn answered(&mut self, seq: u32, sent: Sent) {
        self.dispatch.answered(seq, sent);
    }
}

impl H2State {
    /// Adds what the codec counted to this thread's counters.
    pub(crate) fn count(&mut self, counters: &crate::stats::WorkerCounters) {
        let k = self.conn.take_counts();
        if k == h2::Counts::default() {
            return;
        }
        for (c, n) in counters.h2.iter().skip(1).zip([k.streams, k.resets_sent, k.resets_received, k.goaways_sent]) {
            if n > 0 {
                c.add(u64::from(n));
            }
        }
    }

    /// Hands `input` to the codec with the connection's dispatch.
    pub(crate) fn feed<H: Handler + ?Sized>(
        &mut self,
        input: &[u8],
        env: &Env<'_>,
        dispatch: &mut Dispatch<'_, '_, H>,
        out: &mut Vec<u8>,
        now: Instant,
    ) -> Progress {
        let mut service = PerStream { dispatch, pipes: &mut self.pipes };
        let p = self.conn.handle_input(input, env, &mut service, out, now);
        self.prune();
        p
    }

    /// Pipes of streams that no longer take a body (reset, answered and cut) are let go.
    fn prune(&mut self) {
        if self.pipes.is_empty() {
            return;
        }
        let conn = &self.conn;
        self.pipes.retain(|(id, pipe)| {
            let keep = conn.receives(*id);
            if !keep {
                pipe.finish(Some(400));
            }
            keep
        });
    }
}

/// A service that answers nothing (for calls that can reach no request: a timeout).
struct NoService;

impl Service for NoService {
    fn call(&mut self, _: &Request<'_>, _: &mut Response<'_>, _: u32) -> Outcome {
        Outcome::Deferred
    }
}

impl Proto {
    pub(crate) fn h1(&self) -> Option<&h1::Conn> {
        match self {
            Proto::H1(c) => Some(c),
            Proto::H2(_) => None,
        }
    }

    pub(crate) fn is_h2(&self) -> bool {
        matches!(self, Proto::H2(_))
    }

    pub(crate) fn wants_input(&self) -> bool {
        match self {
            Proto::H1(c) => c.wants_input(),
            Proto::H2(s) => s.conn.wants_input(),
        }
    }

    pub(crate) fn reads_beside_answer(&self) -> bool {
        self.h1().is_some_and(h1::Conn::reads_beside_answer)
    }

    pub(crate) fn is_between_requests(&self) -> bool {
        match self {
            Proto::H1(c) => c.is_between_requests(),
            Proto::H2(s) => s.conn.is_between_requests(),
        }
    }

    pub(crate) fn has_in_flight(&self) -> bool {
        match self {
            Proto::H1(c) => c.has_in_flight(),
            Proto::H2(s) => s.conn.has_in_flight(),
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        match self {
            Proto::H1(c) => c.is_finished(),
            Proto::H2(s) => s.conn.is_finished(),
        }
    }

    pub(crate) fn wants_linger(&self) -> bool {
        match self {
            Proto::H1(c) => c.wants_linger(),
            Proto::H2(s) => s.conn.wants_linger(),
        }
    }

    pub(crate) fn owes_only_answers(&self) -> bool {
        match self {
            Proto::H1(c) => c.owes_only_answers(),
            Proto::H2(s) => s.conn.owes_only_answers(),
        }
    }

    pub(crate) fn served(&self) -> u32 {
        match self {
            Proto::H1(c) => c.served(),
            Proto::H2(s) => s.conn.served(),
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        match self {
            Proto::H1(c) => c.phase(),
            Proto::H2(s) => s.conn.phase(),
        }
    }

    /// Stops taking requests (`out`: HTTP/2 says so with GOAWAY).
    pub(crate) fn close(&mut self, out: &mut Vec<u8>) {
        match self {
            Proto::H1(c) => c.close(),
            Proto::H2(s) => s.conn.close(out),
        }
    }

    pub(crate) fn take_tail(&mut self) -> Option<Tail> {
        match self {
            Proto::H1(c) => c.take_tail(),
            Proto::H2(_) => None,
        }
    }

    pub(crate) fn tail_sent(&mut self, out: &mut Vec<u8>) -> u32 {
        match self {
            Proto::H1(c) => c.tail_sent(out),
            Proto::H2(_) => 0,
        }
    }

    pub(crate) fn time_out(&mut self, env: &Env<'_>, out: &mut Vec<u8>) -> Progress {
        match self {
            Proto::H1(c) => c.time_out(env, out),
            Proto::H2(s) => {
                s.conn.time_out(&mut NoService, out);
                s.prune();
                Progress::default()
            }
        }
    }

    pub(crate) fn complete_counted<A: Answer + ?Sized>(
        &mut self,
        seq: u32,
        reply: &A,
        env: &Env<'_>,
        out: &mut Vec<u8>,
    ) -> crate::h1::Completed {
        match self {
            Proto::H1(c) => c.complete_counted(seq, reply, env, out),
            Proto::H2(s) => {
                let (released, encoded, sent) = s.conn.complete(seq, reply, env, out);
                s.prune();
                crate::h1::Completed { released, encoded, sent }
            }
        }
    }

    pub(crate) fn send_continue(&mut self, seq: u32, out: &mut Vec<u8>) {
        match self {
            Proto::H1(c) => {
                c.send_continue(seq, out);
            }
            Proto::H2(s) => s.conn.send_continue(seq, out),
        }
    }

    pub(crate) fn resume_body(&mut self, seq: u32, out: &mut Vec<u8>) {
        match self {
            Proto::H1(c) => c.resume_body(),
            Proto::H2(s) => s.conn.resume_body(seq, out),
        }
    }

    /// HTTP/2: sends what waits for window or was added to streamed answers; the answers
    /// completed. (HTTP/1 sends its tails from the loop.)
    pub(crate) fn pump(&mut self, out: &mut Vec<u8>) -> u32 {
        match self {
            Proto::H1(_) => 0,
            Proto::H2(s) => {
                let n = s.conn.pump(out);
                s.prune();
                n
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_first_line_picks_the_protocol() {
        use super::is_h2c_preface as pick;
        assert_eq!(pick(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Some(true));
        assert_eq!(pick(b"PRI * HTTP/2"), None);
        assert_eq!(pick(b"INVALID CONNECTION PREFACE\r\n\r\n"), Some(true));
        for h1 in
            [&b"GET / HTTP/1.1\r\n"[..], b"GET / HTXP/1.1\r\n", b"\r\n\r\nGET /", b"GET http://a/ X\r\n", b"GET / HT"]
        {
            assert_eq!(pick(h1), Some(false), "{}", String::from_utf8_lossy(h1));
        }
    }
}
