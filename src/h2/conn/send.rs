//! Answers going out: the application layer's [`Encode`] seam as HEADERS (HPACK) and DATA frames
//! under flow control, deferred answers ([`Conn::complete`]), and what waits for window or comes
//! from a file, shared or streamed body ([`Conn::pump`]).

use std::os::unix::fs::FileExt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::headers::OwnedHead;
use super::stream::{BodyIn, Send};
use super::{Conn, OUT_HIGH_WATER};
use crate::app::reply::Answer;
use crate::app::response::{BodyLength, Encode, Tail};
use crate::app::service::{Outcome, Service};
use crate::app::{BodyKind, Response};
use crate::h1::Env;
use crate::h1::encode::CommonHeaders;
use crate::h2::frame::{self, Reason, flag, kind};
use crate::hpack::Encoder;
use crate::semantics::status_has_body;

/// The `server` field's value.
const SERVER: &[u8] = concat!("hsys/", env!("CARGO_PKG_VERSION")).as_bytes();

/// What an answer's encoding left for its stream.
#[derive(Debug, Default)]
struct Encoded {
    /// DATA payload bytes written to the output (taken from the windows).
    sent: i64,
    /// Body bytes the windows had no room for.
    overflow: Vec<u8>,
    /// The HEADERS went out.
    headed: bool,
    /// END_STREAM went out.
    ended: bool,
    /// What was written cannot be taken back (the HPACK state moved on): the stream is reset.
    broken: bool,
}

/// HTTP/2's side of the [`Encode`] seam: fields are staged until the head ends, then encoded
/// into one HEADERS frame straight into the output; body bytes go out as DATA frames as far as
/// the windows allow, the rest waits in the stream.
struct H2Encoder<'a> {
    out: &'a mut Vec<u8>,
    stage: &'a mut Vec<u8>,
    hpack: &'a mut Encoder,
    common: &'a CommonHeaders,
    stream: u32,
    head_only: bool,
    /// Where this answer began in `out`, and where its body begins.
    start: usize,
    body_at: usize,
    status: u16,
    /// Body bytes still announced (`None`: a stream of unknown length).
    remaining: Option<u64>,
    /// Window room: the lesser of the connection's and the stream's.
    room: i64,
    max_frame: usize,
    done: Encoded,
}

impl<'a> H2Encoder<'a> {
    fn stage_field(&mut self, name: &[u8], value: &[u8]) {
        let (Ok(n), Ok(v)) = (u16::try_from(name.len()), u32::try_from(value.len())) else { return };
        self.stage.extend_from_slice(&n.to_le_bytes());
        self.stage.extend_from_slice(&v.to_le_bytes());
        self.stage.extend(name.iter().map(u8::to_ascii_lowercase));
        self.stage.extend_from_slice(value);
    }

    /// Writes DATA frames for `bytes` as far as the windows go; the rest waits. `end`: they end
    /// the stream.
    fn data(&mut self, mut bytes: &[u8], end: bool) {
        while !bytes.is_empty() || end {
            let n = bytes.len().min(self.max_frame).min(usize::try_from(self.room.max(0)).unwrap_or(0));
            if n == 0 && !bytes.is_empty() {
                self.done.overflow.extend_from_slice(bytes);
                return;
            }
            let (now, rest) = bytes.split_at(n);
            let last = end && rest.is_empty();
            frame::write_data(self.out, self.stream, now, last);
            self.room -= n as i64;
            self.done.sent += n as i64;
            bytes = rest;
            if last {
                self.done.ended = true;
                return;
            }
            if bytes.is_empty() {
                return;
            }
        }
    }
}

/// Headers HTTP/2 does not carry (RFC 9113 §8.2.2), dropped from an answer.
fn is_connection_specific(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"upgrade")
        || name.eq_ignore_ascii_case(b"proxy-connection")
        || name.eq_ignore_ascii_case(b"te")
}

impl Encode for H2Encoder<'_> {
    fn start(&mut self, status: u16) {
        self.stage.clear();
        self.status = status;
    }

    fn header(&mut self, name: &str, value: &[u8]) {
        if !is_connection_specific(name.as_bytes()) && !self.done.headed {
            self.stage_field(name.as_bytes(), value);
        }
    }

    fn header_lines(&mut self, lines: &[u8]) {
        for line in lines.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(colon) = line.iter().position(|&b| b == b':') {
                let (name, value) = line.split_at(colon);
                let value = value.get(1..).unwrap_or_default().trim_ascii();
                if !is_connection_specific(name) {
                    self.stage_field(name, value);
                }
            }
        }
    }

    fn end_head(&mut self, status: u16, length: BodyLength, _close: bool) -> bool {
        if self.done.headed {
            return false;
        }
        let has_body = status_has_body(status) && !self.head_only;
        let end = !has_body || length == BodyLength::Known(0);
        let at = self.out.len();
        frame::write_head(self.out, 0, kind::HEADERS, 0, self.stream);
        self.hpack.begin_block(self.out);
        self.hpack.status(status, self.out);
        self.hpack.field(b"server", SERVER, false, self.out);
        self.hpack.field(b"date", self.common.date(), false, self.out);
        let mut staged: &[u8] = self.stage;
        while let [a, b, c, d, e, f, rest @ ..] = staged {
            let n = usize::from(u16::from_le_bytes([*a, *b]));
            let v = u32::from_le_bytes([*c, *d, *e, *f]) as usize;
            let (Some(name), Some(value)) = (rest.get(..n), rest.get(n..n + v)) else { break };
            self.hpack.field(name, value, false, self.out);
            staged = rest.get(n + v..).unwrap_or_default();
        }
        if let BodyLength::Known(n) = length
            && status_has_body(status)
            && !(status == 304 && n == 0)
        {
            // The digits on the stack: nothing allocated per answer.
            let mut digits = [0u8; 20];
            let mut at = digits.len();
            let mut left = n;
            loop {
                at -= 1;
                digits[at] = b'0' + (left % 10) as u8;
                left /= 10;
                if left == 0 || at == 0 {
                    break;
                }
            }
            self.hpack.field(b"content-length", digits.get(at..).unwrap_or_default(), false, self.out);
        }
        self.stage.clear();
        finish_headers(self.out, at, self.max_frame, if end { flag::END_STREAM } else { 0 }, self.stream);
        self.body_at = self.out.len();
        self.done.headed = true;
        self.done.ended = end;
        self.remaining = match length {
            BodyLength::Known(n) => Some(n),
            BodyLength::Unknown => None,
        };
        false
    }

    fn body(&mut self, bytes: &[u8]) {
        if self.done.ended || self.done.broken {
            return;
        }
        let end = match &mut self.remaining {
            Some(left) => {
                *left = left.saturating_sub(bytes.len() as u64);
                *left == 0
            }
            None => false,
        };
        self.data(bytes, end);
    }

    fn written(&self) -> usize {
        self.out.len() - self.start + self.done.overflow.len()
    }

    fn discard(&mut self) {
        if !self.done.headed {
            self.out.truncate(self.start);
            self.stage.clear();
            return;
        }
        // The HEADERS moved the HPACK state on: they stay, the body goes, the stream is reset.
        self.out.truncate(self.body_at);
        self.room += self.done.sent;
        self.done = Encoded { headed: true, broken: true, ..Encoded::default() };
    }
}

/// Sets the length and flags of the HEADERS frame at `at` (for `stream`), whose block runs to
/// the end of `out`; a block longer than a frame goes on in CONTINUATION frames.
fn finish_headers(out: &mut Vec<u8>, at: usize, max_frame: usize, flags: u8, stream: u32) {
    let block_len = out.len() - at - frame::HEADER_LEN;
    if block_len <= max_frame {
        frame::patch_len(out, at, block_len);
        if let Some(f) = out.get_mut(at + 4) {
            *f = flags | flag::END_HEADERS;
        }
        return;
    }
    split_headers(out, at, max_frame, flags, stream);
}

#[cold]
fn split_headers(out: &mut Vec<u8>, at: usize, max_frame: usize, flags: u8, stream: u32) {
    let block = out.split_off(at + frame::HEADER_LEN);
    out.truncate(at);
    let count = block.len().div_ceil(max_frame.max(1));
    for (k, chunk) in block.chunks(max_frame.max(1)).enumerate() {
        let (kind, mut f) = if k == 0 { (kind::HEADERS, flags) } else { (kind::CONTINUATION, 0) };
        if k + 1 == count {
            f |= flag::END_HEADERS;
        }
        frame::write_head(out, chunk.len(), kind, f, stream);
        out.extend_from_slice(chunk);
    }
}

impl Conn {
    /// Runs `f` with an encoder for stream `id`'s answer; then files what it left in the stream.
    /// Returns 1 when an answer was made.
    fn encode_with(
        &mut self,
        id: u32,
        env: &Env<'_>,
        out: &mut Vec<u8>,
        f: impl FnOnce(&mut Response<'_>) -> bool,
    ) -> u32 {
        let Some(i) = self.streams.iter().position(|s| s.id == id && s.send == Send::Awaiting) else { return 0 };
        self.stage_room();
        let (head_only, stream_room) = self.streams.get(i).map_or((false, 0), |s| (s.head_only, s.send_window));
        let mut enc = H2Encoder {
            start: out.len(),
            body_at: out.len(),
            out,
            stage: &mut self.stage,
            hpack: &mut self.hpack,
            common: env.common,
            stream: id,
            head_only,
            status: 200,
            remaining: None,
            room: self.send_window.min(stream_room),
            max_frame: self.peer_max_frame,
            done: Encoded::default(),
        };
        let mut res = Response::new(&mut enc, head_only, false);
        let answered = f(&mut res);
        let tail = res.take_tail();
        drop(res);
        let done = std::mem::take(&mut enc.done);
        if !answered {
            return 0;
        }
        self.send_window -= done.sent;
        let Some(s) = self.streams.get_mut(i) else { return 1 };
        s.send_window -= done.sent;
        if done.broken {
            frame::write_rst(out, id, Reason::Internal);
            self.counts.resets_sent += 1;
            s.send = Send::Done;
            s.recv_open = false;
        } else if done.ended {
            s.send = Send::Done;
        } else {
            s.send = Send::Body;
            s.pending = done.overflow;
            s.tail = tail;
            s.ends = true;
        }
        1
    }

    /// Calls the service for stream `id` (its head, and its body when collected). Returns 1 when
    /// it answered at once.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn call<S: Service + ?Sized>(
        &mut self,
        id: u32,
        head: &OwnedHead,
        body: BodyKind,
        body_bytes: &[u8],
        env: &Env<'_>,
        service: &mut S,
        out: &mut Vec<u8>,
    ) -> u32 {
        let made = self.encode_with(id, env, out, |res| {
            let outcome = head
                .with_request(body, body_bytes, |req| catch_unwind(AssertUnwindSafe(|| service.call(req, res, id))));
            match outcome {
                Ok(Outcome::Answered) => {
                    if !res.is_done() {
                        res.finish();
                    }
                    true
                }
                Ok(Outcome::Deferred) => false,
                Err(_) => {
                    res.replace_with_error(500);
                    true
                }
            }
        });
        self.reap(out);
        made
    }

    /// hsys's own answer `status` on stream `id` (`413`, `431`), in place of the application's.
    pub(super) fn answer_error(&mut self, id: u32, status: u16, env: &Env<'_>, out: &mut Vec<u8>) -> u32 {
        let made = self.encode_with(id, env, out, |res| {
            res.replace_with_error(status);
            true
        });
        self.reap(out);
        made
    }

    /// Delivers the deferred answer for stream `seq` and sends what the windows allow. Returns
    /// the answers made (0 for a stream reset or gone meanwhile) and the bytes encoded.
    pub fn complete<A: Answer + ?Sized>(
        &mut self,
        seq: u32,
        reply: &A,
        env: &Env<'_>,
        out: &mut Vec<u8>,
    ) -> (u32, usize) {
        let before = out.len();
        let made = self.encode_with(seq, env, out, |res| {
            reply.write_to(res);
            if !res.is_done() {
                res.finish();
            }
            true
        });
        let encoded = out.len() - before;
        (made + self.pump(out), encoded)
    }

    /// The application started reading stream `seq`'s body: a client waiting for `100 Continue`
    /// gets it (an interim HEADERS).
    pub fn send_continue(&mut self, seq: u32, out: &mut Vec<u8>) {
        let Some(s) = self.streams.iter_mut().find(|s| s.id == seq) else { return };
        if !std::mem::take(&mut s.expects_continue) || s.send != Send::Awaiting {
            return;
        }
        let at = out.len();
        frame::write_head(out, 0, kind::HEADERS, 0, seq);
        self.hpack.begin_block(out);
        self.hpack.status(100, out);
        finish_headers(out, at, self.peer_max_frame, 0, seq);
    }

    /// Stream `seq`'s body reader has room again: the window held back is granted.
    pub fn resume_body(&mut self, seq: u32, out: &mut Vec<u8>) {
        let Some(s) = self.streams.iter_mut().find(|s| s.id == seq) else { return };
        s.paused = false;
        if s.recv_open && s.unacked > 0 {
            let g = std::mem::take(&mut s.unacked);
            frame::write_window_update(out, seq, g);
            s.recv_window += i64::from(g);
        }
    }

    /// Sends what waits for window (and what streamed bodies have added), forgets the streams
    /// done; the answers completed. The service hears of streamed bodies cut short.
    pub fn pump(&mut self, out: &mut Vec<u8>) -> u32 {
        let n = self.streams.len();
        if n > 0 && self.streams.iter().any(|s| s.has_output()) {
            for k in 0..n {
                if out.len() >= OUT_HIGH_WATER || self.send_window <= 0 {
                    break;
                }
                let i = (self.turn + k) % n;
                self.send_stream(i, out);
            }
            self.turn = self.turn.wrapping_add(1);
        }
        let reaped = self.reap(out);
        self.settle();
        reaped
    }

    /// Sends stream `i`'s waiting body bytes as far as the windows and `OUT_HIGH_WATER` allow.
    fn send_stream(&mut self, i: usize, out: &mut Vec<u8>) {
        let max_frame = self.peer_max_frame;
        let conn_window = &mut self.send_window;
        let hpack = &mut self.hpack;
        let Some(s) = self.streams.get_mut(i) else { return };
        if s.send != Send::Body {
            return;
        }
        loop {
            if out.len() >= OUT_HIGH_WATER {
                return;
            }
            let room = (*conn_window).min(s.send_window).min(max_frame as i64).max(0) as usize;
            if !s.pending.is_empty() {
                if room == 0 {
                    return;
                }
                let n = room.min(s.pending.len());
                let end = s.ends && s.tail.is_none() && n == s.pending.len() && s.trailers.is_empty();
                frame::write_data(out, s.id, s.pending.get(..n).unwrap_or_default(), end);
                s.pending.drain(..n);
                if s.pending.is_empty() && s.pending.capacity() > 0 && s.tail.is_none() {
                    s.pending = Vec::new();
                }
                *conn_window -= n as i64;
                s.send_window -= n as i64;
                if end {
                    s.send = Send::Done;
                    return;
                }
                continue;
            }
            match &mut s.tail {
                None => {
                    // Everything sent: the end of the stream, with the trailers if any.
                    if s.trailers.is_empty() {
                        frame::write_data(out, s.id, &[], true);
                    } else {
                        let at = out.len();
                        frame::write_head(out, 0, kind::HEADERS, 0, s.id);
                        hpack.begin_block(out);
                        for line in s.trailers.split(|&b| b == b'\n') {
                            let line = line.strip_suffix(b"\r").unwrap_or(line);
                            if let Some(colon) = line.iter().position(|&b| b == b':') {
                                let (name, value) = line.split_at(colon);
                                let name = name.to_ascii_lowercase();
                                hpack.field(&name, value.get(1..).unwrap_or_default().trim_ascii(), false, out);
                            }
                        }
                        finish_headers(out, at, max_frame, flag::END_STREAM, s.id);
                        s.trailers = Vec::new();
                    }
                    s.send = Send::Done;
                    return;
                }
                Some(Tail::Stream(source)) => {
                    let taken = source.pipe().take(std::mem::take(&mut s.pending));
                    s.pending = taken.bytes;
                    if taken.aborted {
                        frame::write_rst(out, s.id, Reason::Internal);
                        s.send = Send::Done;
                        s.recv_open = false;
                        s.tail = None;
                        return;
                    }
                    if taken.finished {
                        s.trailers = taken.trailers;
                        s.tail = None;
                    } else if s.pending.is_empty() {
                        return; // the writer wakes the loop when it adds more
                    }
                }
                Some(_) if room == 0 => return,
                Some(Tail::Shared(shared)) => {
                    let rest = shared.body.get(shared.offset..).unwrap_or_default();
                    let n = room.min(rest.len());
                    let end = n == rest.len();
                    frame::write_data(out, s.id, rest.get(..n).unwrap_or_default(), end);
                    shared.offset += n;
                    *conn_window -= n as i64;
                    s.send_window -= n as i64;
                    if end {
                        s.tail = None;
                        s.send = Send::Done;
                        return;
                    }
                }
                Some(Tail::File(f)) => {
                    let n = room.min(usize::try_from(f.len).unwrap_or(usize::MAX));
                    let at = out.len();
                    frame::write_head(out, n, kind::DATA, 0, s.id);
                    out.resize(at + frame::HEADER_LEN + n, 0);
                    let read = out.get_mut(at + frame::HEADER_LEN..).map(|buf| f.file.read_at(buf, f.offset));
                    match read {
                        Some(Ok(got)) if got > 0 => {
                            out.truncate(at + frame::HEADER_LEN + got);
                            frame::patch_len(out, at, got);
                            f.offset += got as u64;
                            f.len -= got as u64;
                            *conn_window -= got as i64;
                            s.send_window -= got as i64;
                            if f.len == 0 {
                                if let Some(flags) = out.get_mut(at + 4) {
                                    *flags = flag::END_STREAM;
                                }
                                s.tail = None;
                                s.send = Send::Done;
                                return;
                            }
                        }
                        _ => {
                            // The file shrank or failed: the answer cannot be completed.
                            out.truncate(at);
                            frame::write_rst(out, s.id, Reason::Internal);
                            s.tail = None;
                            s.send = Send::Done;
                            s.recv_open = false;
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Forgets the streams whose exchange is over; one whose answer is done while the client
    /// still sends its body is told to stop (RST_STREAM `NO_ERROR`, RFC 9113 §8.1). Returns 0
    /// (answers are counted when encoded).
    fn reap(&mut self, out: &mut Vec<u8>) -> u32 {
        let mut i = 0;
        while let Some(s) = self.streams.get(i) {
            if s.send != Send::Done {
                i += 1;
                continue;
            }
            let id = s.id;
            if s.recv_open && !matches!(s.body, BodyIn::Collect(_)) {
                frame::write_rst(out, id, Reason::NoError);
                self.counts.resets_sent += 1;
                self.remember_reset(id);
            } else if s.recv_open {
                i += 1;
                continue;
            }
            self.streams.swap_remove(i);
            self.served += 1;
        }
        0
    }
}
