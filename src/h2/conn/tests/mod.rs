//! Byte tables for the HTTP/2 connection: frames in, frames out, no socket.

mod cases;
mod spare;

use std::time::Instant;

use super::Conn;
use crate::app::service::{BodyMode, BodyPlan, Outcome, Service};
use crate::app::{Request, Response};
use crate::h1::date::DATE_LEN;
use crate::h1::encode::CommonHeaders;
use crate::h1::{Env, Progress};
use crate::h2::frame::{self, Head, flag, kind};
use crate::hpack::{Decoder, Encoder};
use crate::limits::Limits;

/// A frame the server wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Out {
    pub head: Head,
    pub payload: Vec<u8>,
}

/// The client side of a test: frames made with a real HPACK encoder.
pub(super) struct Client {
    enc: Encoder,
    dec: Decoder,
}

impl Client {
    pub fn new() -> Self {
        Client { enc: Encoder::new(), dec: Decoder::new(crate::hpack::DEFAULT_TABLE_SIZE) }
    }

    /// The preface and an empty SETTINGS.
    pub fn preface() -> Vec<u8> {
        let mut v = frame::PREFACE.to_vec();
        frame::write_settings(&mut v, &[]);
        v
    }

    pub fn block(&mut self, fields: &[(&str, &str)]) -> Vec<u8> {
        let mut b = Vec::new();
        self.enc.begin_block(&mut b);
        for (n, v) in fields {
            self.enc.field(n.as_bytes(), v.as_bytes(), false, &mut b);
        }
        b
    }

    pub fn headers(&mut self, stream: u32, fields: &[(&str, &str)], end: bool) -> Vec<u8> {
        let block = self.block(fields);
        let mut v = Vec::new();
        let chunks: Vec<&[u8]> = block.chunks(frame::DEFAULT_MAX_FRAME).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let last = if i + 1 == chunks.len() { flag::END_HEADERS } else { 0 };
            let (k, f) =
                if i == 0 { (kind::HEADERS, if end { flag::END_STREAM } else { 0 }) } else { (kind::CONTINUATION, 0) };
            frame::write_head(&mut v, chunk.len(), k, f | last, stream);
            v.extend_from_slice(chunk);
        }
        v
    }

    pub fn get(&mut self, stream: u32, path: &str) -> Vec<u8> {
        self.headers(stream, &[(":method", "GET"), (":scheme", "http"), (":path", path), (":authority", "a")], true)
    }

    /// A response's fields (decoded).
    pub fn decode(&mut self, block: &[u8]) -> Vec<(String, String)> {
        let mut v = Vec::new();
        self.dec
            .decode(block, 1 << 20, |n, val, _| {
                v.push((String::from_utf8_lossy(n).into_owned(), String::from_utf8_lossy(val).into_owned()))
            })
            .expect("the server's block decodes");
        v
    }
}

pub(super) fn data(stream: u32, bytes: &[u8], end: bool) -> Vec<u8> {
    let mut v = Vec::new();
    frame::write_data(&mut v, stream, bytes, end);
    v
}

pub(super) fn raw(len: usize, kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    frame::write_head(&mut v, len, kind, flags, stream);
    v.extend_from_slice(payload);
    v
}

/// Every frame in `out`.
pub(super) fn frames(out: &[u8]) -> Vec<Out> {
    let mut v = Vec::new();
    let mut rest = out;
    while let Some(head) = Head::parse(rest) {
        let payload = rest[frame::HEADER_LEN..frame::HEADER_LEN + head.len].to_vec();
        rest = &rest[frame::HEADER_LEN + head.len..];
        v.push(Out { head, payload });
    }
    assert!(rest.is_empty(), "a partial frame in the output");
    v
}

/// A service: `/defer` defers, `POST` (buffered) answers the body's length, anything else
/// answers `hello`; `/stream` streams the body to `body_data`.
#[derive(Default)]
pub(super) struct Svc {
    pub calls: Vec<u32>,
    pub streamed: Vec<u8>,
    pub ended: Vec<(u32, Option<u16>)>,
    pub room: bool,
}

impl Service for Svc {
    fn call(&mut self, req: &Request<'_>, res: &mut Response<'_>, seq: u32) -> Outcome {
        self.calls.push(seq);
        if req.path().starts_with("/defer") || req.path().starts_with("/stream") {
            return Outcome::Deferred;
        }
        if req.method() == "POST" {
            let _ = res.body(req.body().len().to_string().as_bytes());
        } else {
            let _ = res.header("Content-Type", "text/plain").body(b"hello");
        }
        Outcome::Answered
    }

    fn body_plan(&mut self, req: &Request<'_>, max_size: Option<u64>) -> BodyPlan {
        let mode = if req.path().starts_with("/stream") { BodyMode::Streamed } else { BodyMode::Buffered };
        BodyPlan { mode, max_size }
    }

    fn body_room(&mut self, _seq: u32) -> bool {
        self.room
    }

    fn body_data(&mut self, _seq: u32, data: &[u8]) {
        self.streamed.extend_from_slice(data);
    }

    fn body_end(&mut self, seq: u32, error: Option<u16>) {
        self.ended.push((seq, error));
    }
}

/// A connection and what it needs, fed whole or in pieces.
pub(super) struct Harness {
    pub conn: Conn,
    pub svc: Svc,
    pub common: CommonHeaders,
    pub limits: Limits,
    pub pending: Vec<u8>,
    pub now: Instant,
}

impl Harness {
    pub fn new() -> Self {
        Harness {
            conn: Conn::new(),
            svc: Svc { room: true, ..Svc::default() },
            common: CommonHeaders::new(&[b'x'; DATE_LEN]),
            limits: Limits::default(),
            pending: Vec::new(),
            now: Instant::now(),
        }
    }

    /// Feeds `bytes` (after what is held), returns the frames written.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Out> {
        let mut out = Vec::new();
        self.feed_into(bytes, &mut out);
        frames(&out)
    }

    pub fn feed_into(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Progress {
        self.pending.extend_from_slice(bytes);
        let env = Env { common: &self.common, limits: &self.limits, draining: false };
        let p = self.conn.handle_input(&self.pending, &env, &mut self.svc, out, self.now);
        self.pending.drain(..p.consumed);
        p
    }

    pub fn complete(&mut self, seq: u32, reply: &crate::app::Reply, out: &mut Vec<u8>) -> (u32, usize) {
        let env = Env { common: &self.common, limits: &self.limits, draining: false };
        self.conn.complete(seq, reply, &env, out)
    }
}

/// The frames of kinds other than the server's opening SETTINGS, WINDOW_UPDATE on the
/// connection and SETTINGS ACKs.
pub(super) fn answer_frames(frames: Vec<Out>) -> Vec<Out> {
    frames
        .into_iter()
        .filter(|f| !(f.head.kind == kind::SETTINGS || (f.head.kind == kind::WINDOW_UPDATE && f.head.stream == 0)))
        .collect()
}
