//! What each frame the client sends does: header blocks become requests, DATA becomes bodies
//! under flow control, control frames change settings, windows and stream states.

use std::time::Instant;

use super::headers::Verdict;
use super::stream::{BodyIn, Collecting, Stream};
use super::{BlockStart, Conn, MAX_CONCURRENT_STREAMS, MAX_EMPTY_FRAMES_PER_SECOND};
use super::{MAX_PINGS_PER_SECOND, MAX_RESETS_PER_SECOND, MAX_SETTINGS_PARAMS, MAX_SETTINGS_PER_SECOND};
use crate::app::BodyKind;
use crate::app::service::{BodyMode, Service};
use crate::h1::{Env, Progress};
use crate::h2::frame::{self, Error, Head, Reason, flag, kind, setting};

/// The initial window of every stream (hsys leaves SETTINGS_INITIAL_WINDOW_SIZE at its default).
const STREAM_WINDOW: i64 = frame::DEFAULT_WINDOW;

/// Window given back to a stream once this much of it was used (fewer, larger updates).
const STREAM_GRANT_MIN: u32 = 16 * 1024;

type Frame<'p> = (&'p Head, &'p [u8]);

impl Conn {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_frame<S: Service + ?Sized>(
        &mut self,
        head: &Head,
        payload: &[u8],
        env: &Env<'_>,
        service: &mut S,
        out: &mut Vec<u8>,
        progress: &mut Progress,
        now: Instant,
    ) -> Result<(), Error> {
        if let Some(block) = self.block_of
            && (head.kind != kind::CONTINUATION || head.stream != block.stream)
        {
            // A header block is one run of frames (RFC 9113 §6.10).
            return Err(Error::Connection(Reason::Protocol));
        }
        if !self.settings_seen && (head.kind != kind::SETTINGS || head.has(flag::ACK)) {
            // The client's preface ends with a SETTINGS frame (RFC 9113 §3.4).
            return Err(Error::Connection(Reason::Protocol));
        }
        match head.kind {
            kind::DATA => self.on_data((head, payload), env, service, out, progress, now),
            kind::HEADERS => self.on_headers((head, payload), env, service, out, progress),
            kind::CONTINUATION => self.on_continuation((head, payload), env, service, out, progress),
            kind::PRIORITY => {
                self.flood.count(now, |f| &mut f.empty, MAX_EMPTY_FRAMES_PER_SECOND)?;
                if frame::u31(payload) == head.stream {
                    return Err(Error::Stream(head.stream, Reason::Protocol));
                }
                Ok(())
            }
            kind::RST_STREAM => self.on_rst(head, service, now),
            kind::SETTINGS => self.on_settings((head, payload), out, now),
            kind::PING => {
                if !head.has(flag::ACK) {
                    self.flood.count(now, |f| &mut f.pings, MAX_PINGS_PER_SECOND)?;
                    let data: &[u8; 8] = payload.try_into().map_err(|_| Error::Connection(Reason::FrameSize))?;
                    frame::write_ping_ack(out, data);
                }
                Ok(())
            }
            kind::GOAWAY => {
                self.peer_goaway = true;
                Ok(())
            }
            kind::WINDOW_UPDATE => self.on_window_update(head, payload),
            _ => self.flood.count(now, |f| &mut f.empty, MAX_EMPTY_FRAMES_PER_SECOND),
        }
    }

    /// Whether `id` is a stream the client never opened (RFC 9113 §5.1: idle).
    fn is_idle(&self, id: u32) -> bool {
        id > self.last_id
    }

    /// Whether hsys reset `id` lately (frames the client sent before it knew are ignored).
    fn was_reset(&self, id: u32) -> bool {
        self.reset.contains(&id)
    }

    fn on_settings(&mut self, (head, payload): Frame<'_>, out: &mut Vec<u8>, now: Instant) -> Result<(), Error> {
        self.settings_seen = true;
        if head.has(flag::ACK) {
            return Ok(());
        }
        self.flood.count(now, |f| &mut f.settings, MAX_SETTINGS_PER_SECOND)?;
        if payload.len() / 6 > MAX_SETTINGS_PARAMS {
            return Err(Error::Connection(Reason::EnhanceYourCalm));
        }
        for p in payload.chunks_exact(6) {
            let id = u16::from_be_bytes([p[0], p[1]]);
            let value = u32::from_be_bytes([p[2], p[3], p[4], p[5]]);
            frame::check_setting(id, value)?;
            match id {
                setting::HEADER_TABLE_SIZE => {
                    self.hpack.set_peer_max_table_size(value.min(crate::hpack::DEFAULT_TABLE_SIZE as u32) as usize);
                }
                setting::INITIAL_WINDOW_SIZE => {
                    let delta = i64::from(value) - self.peer_window;
                    self.peer_window = i64::from(value);
                    for s in &mut self.streams {
                        s.send_window += delta;
                        if s.send_window > frame::MAX_WINDOW {
                            return Err(Error::Connection(Reason::FlowControl));
                        }
                    }
                }
                setting::MAX_FRAME_SIZE => self.peer_max_frame = value as usize,
                _ => {}
            }
        }
        frame::write_settings_ack(out);
        Ok(())
    }

    fn on_window_update(&mut self, head: &Head, payload: &[u8]) -> Result<(), Error> {
        let inc = i64::from(frame::u31(payload));
        if head.stream == 0 {
            if inc == 0 {
                return Err(Error::Connection(Reason::Protocol));
            }
            self.send_window += inc;
            if self.send_window > frame::MAX_WINDOW {
                return Err(Error::Connection(Reason::FlowControl));
            }
            return Ok(());
        }
        if self.is_idle(head.stream) {
            return Err(Error::Connection(Reason::Protocol));
        }
        if inc == 0 {
            return Err(Error::Stream(head.stream, Reason::Protocol));
        }
        if let Some(s) = self.stream_mut(head.stream) {
            s.send_window += inc;
            if s.send_window > frame::MAX_WINDOW {
                return Err(Error::Stream(head.stream, Reason::FlowControl));
            }
        }
        Ok(())
    }

    fn on_rst<S: Service + ?Sized>(&mut self, head: &Head, service: &mut S, now: Instant) -> Result<(), Error> {
        if self.is_idle(head.stream) {
            return Err(Error::Connection(Reason::Protocol));
        }
        self.counts.resets_received += 1;
        if self.streams.iter().any(|s| s.id == head.stream) {
            // Rapid reset: streams opened and cancelled cost work; bounded per second.
            self.flood.count(now, |f| &mut f.resets, MAX_RESETS_PER_SECOND)?;
            self.forget(head.stream, service);
        }
        Ok(())
    }

    fn on_headers<S: Service + ?Sized>(
        &mut self,
        (head, payload): Frame<'_>,
        env: &Env<'_>,
        service: &mut S,
        out: &mut Vec<u8>,
        progress: &mut Progress,
    ) -> Result<(), Error> {
        let (start, end) = frame::unpad(head, payload)?;
        let (depends, start) = frame::headers_priority(head, payload, start)?;
        if start > end {
            return Err(Error::Connection(Reason::FrameSize));
        }
        let fragment = payload.get(start..end).unwrap_or_default();
        if head.stream % 2 == 0 {
            return Err(Error::Connection(Reason::Protocol));
        }
        let at = BlockStart { stream: head.stream, end_stream: head.has(flag::END_STREAM) };
        if !head.has(flag::END_HEADERS) {
            self.block.clear();
            self.block.extend_from_slice(fragment);
            self.block_of = Some(at);
            return self.check_block(env);
        }
        self.on_block(at, fragment, depends, env, service, out, progress)
    }

    /// A header block kept while its CONTINUATION frames come is bounded (CONTINUATION flood,
    /// CVE-2024-27316): past the bound the connection ends.
    fn check_block(&self, env: &Env<'_>) -> Result<(), Error> {
        if self.block.len() > 2 * Self::max_list(env) + 1024 {
            return Err(Error::Connection(Reason::EnhanceYourCalm));
        }
        Ok(())
    }

    fn on_continuation<S: Service + ?Sized>(
        &mut self,
        (head, payload): Frame<'_>,
        env: &Env<'_>,
        service: &mut S,
        out: &mut Vec<u8>,
        progress: &mut Progress,
    ) -> Result<(), Error> {
        let Some(at) = self.block_of else { return Err(Error::Connection(Reason::Protocol)) };
        self.block.extend_from_slice(payload);
        self.check_block(env)?;
        if !head.has(flag::END_HEADERS) {
            return Ok(());
        }
        self.block_of = None;
        let block = std::mem::take(&mut self.block);
        let result = self.on_block(at, &block, None, env, service, out, progress);
        self.block = block;
        self.block.clear();
        result
    }

    /// A whole header block on stream `at.stream`: a request's head, or its trailers.
    #[allow(clippy::too_many_arguments)]
    fn on_block<S: Service + ?Sized>(
        &mut self,
        at: BlockStart,
        block: &[u8],
        depends: Option<u32>,
        env: &Env<'_>,
        service: &mut S,
        out: &mut Vec<u8>,
        progress: &mut Progress,
    ) -> Result<(), Error> {
        let id = at.stream;
        let existing = self.streams.iter().position(|s| s.id == id);
        let trailers = existing.is_some() || !self.is_idle(id);
        // Decoded first, whatever becomes of it: the decoder's table must follow the client's.
        let max_list = Self::max_list(env);
        self.head_room();
        let verdict = self
            .head
            .decode(&mut self.decoder, block, trailers, env.limits, max_list)
            .map_err(|()| Error::Connection(Reason::Compression))?;
        if let Some(i) = existing {
            return self.on_trailers(i, at, verdict, env, service, out);
        }
        if !self.is_idle(id) {
            // A closed stream (RFC 9113 §5.1).
            if self.was_reset(id) {
                return Ok(());
            }
            return Err(Error::Connection(Reason::StreamClosed));
        }
        self.last_id = id;
        if depends == Some(id) {
            return Err(Error::Stream(id, Reason::Protocol));
        }
        if self.goaway_sent || self.peer_goaway {
            // After GOAWAY no new stream is processed; the client may retry it elsewhere.
            return Err(Error::Stream(id, Reason::RefusedStream));
        }
        if self.streams.len() >= MAX_CONCURRENT_STREAMS {
            return Err(Error::Stream(id, Reason::RefusedStream));
        }
        self.counts.streams += 1;
        match verdict {
            Verdict::Malformed => return Err(Error::Stream(id, Reason::Protocol)),
            Verdict::TooLarge => {
                progress.requests += 1;
                let mut s = Stream::new(id, self.peer_window, STREAM_WINDOW);
                s.recv_open = !at.end_stream;
                s.body = BodyIn::Discard;
                s.head_only = self.head.is_head();
                self.stream_room();
                self.streams.push(s);
                progress.responses += self.answer_error(id, 431, env, out);
                return Ok(());
            }
            Verdict::Ok => {}
        }
        let length = self.head.content_length;
        if at.end_stream && length.is_some_and(|n| n > 0) {
            return Err(Error::Stream(id, Reason::Protocol));
        }
        progress.requests += 1;
        let mut s = Stream::new(id, self.peer_window, STREAM_WINDOW);
        s.recv_open = !at.end_stream;
        s.length = length;
        s.head_only = self.head.is_head();
        s.expects_continue = self.head.expects_continue;
        let body = match (at.end_stream, length) {
            (true, _) | (false, Some(0)) => BodyKind::Empty,
            (false, Some(n)) => BodyKind::Length(n),
            (false, None) => BodyKind::Chunked,
        };
        let head = std::mem::take(&mut self.head);
        let plan = if body == BodyKind::Empty {
            None
        } else {
            Some(head.with_request(body, b"", |req| service.body_plan(req, env.limits.max_body_size)))
        };
        s.max_size = plan.and_then(|p| p.max_size);
        let mode = plan.map(|p| p.mode);
        self.stream_room();
        self.streams.push(s);
        if let BodyKind::Length(n) = body
            && plan.and_then(|p| p.max_size).is_some_and(|max| n > max)
        {
            progress.too_large += 1;
            if let Some(s) = self.stream_mut(id) {
                s.body = BodyIn::Discard;
            }
            self.head = head;
            progress.responses += self.answer_error(id, 413, env, out);
            return Ok(());
        }
        match mode {
            Some(BodyMode::Buffered) => {
                if let Some(s) = self.stream_mut(id) {
                    s.body = BodyIn::Collect(Box::new(Collecting { head, body: Vec::new(), keep: true }));
                }
                return Ok(());
            }
            Some(BodyMode::Unread) if length.is_none_or(|n| n <= env.limits.max_drain_bytes) => {
                if let Some(s) = self.stream_mut(id) {
                    s.body = BodyIn::Collect(Box::new(Collecting { head, body: Vec::new(), keep: false }));
                }
                return Ok(());
            }
            Some(BodyMode::Streamed) => {
                if let Some(s) = self.stream_mut(id) {
                    s.body = BodyIn::Streamed;
                }
            }
            Some(BodyMode::Unread) => {
                if let Some(s) = self.stream_mut(id) {
                    s.body = BodyIn::Discard;
                }
            }
            None => {}
        }
        progress.responses += self.call(id, &head, body, b"", env, service, out);
        self.head = head;
        Ok(())
    }

    /// A second header block on an open stream: its trailers, which end it.
    #[allow(clippy::too_many_arguments)]
    fn on_trailers<S: Service + ?Sized>(
        &mut self,
        i: usize,
        at: BlockStart,
        verdict: Verdict,
        env: &Env<'_>,
        service: &mut S,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let id = at.stream;
        let open = self.streams.get(i).is_some_and(|s| s.recv_open);
        if !open {
            return Err(Error::Stream(id, Reason::StreamClosed));
        }
        if !at.end_stream || verdict == Verdict::Malformed {
            return Err(Error::Stream(id, Reason::Protocol));
        }
        self.end_of_body(id, env, service, out).map(|_| ())
    }

    /// The client ended stream `id`'s body: checked against its `content-length`, then handed on
    /// (an inline answer is called now, with the whole body). Returns the answers made.
    fn end_of_body<S: Service + ?Sized>(
        &mut self,
        id: u32,
        env: &Env<'_>,
        service: &mut S,
        out: &mut Vec<u8>,
    ) -> Result<u32, Error> {
        let Some(s) = self.stream_mut(id) else { return Ok(0) };
        if s.length.is_some_and(|n| n != s.received) {
            return Err(Error::Stream(id, Reason::Protocol));
        }
        s.recv_open = false;
        match std::mem::replace(&mut s.body, BodyIn::None) {
            BodyIn::Streamed => service.body_end(id, None),
            BodyIn::Collect(c) => {
                let kind = match (c.head.content_length, c.body.len()) {
                    (Some(n), _) if !c.keep => {
                        if n == 0 {
                            BodyKind::Empty
                        } else {
                            BodyKind::Length(n)
                        }
                    }
                    (None, _) if !c.keep => BodyKind::Chunked,
                    (_, 0) => BodyKind::Empty,
                    (Some(_), n) => BodyKind::Length(n as u64),
                    (None, _) => BodyKind::Chunked,
                };
                return Ok(self.call(id, &c.head, kind, &c.body, env, service, out));
            }
            other => s.body = other,
        }
        Ok(0)
    }

    fn on_data<S: Service + ?Sized>(
        &mut self,
        (head, payload): Frame<'_>,
        env: &Env<'_>,
        service: &mut S,
        out: &mut Vec<u8>,
        progress: &mut Progress,
        now: Instant,
    ) -> Result<(), Error> {
        let id = head.stream;
        let (start, end) = frame::unpad(head, payload)?;
        let data = payload.get(start..end).unwrap_or_default();
        // The whole frame counts against the windows, padding included (RFC 9113 §6.9.1).
        let len = payload.len() as i64;
        self.recv_window -= len;
        if self.recv_window < 0 {
            return Err(Error::Connection(Reason::FlowControl));
        }
        if self.recv_window <= super::CONNECTION_WINDOW / 2 {
            let grant = super::CONNECTION_WINDOW - self.recv_window;
            frame::write_window_update(out, 0, u32::try_from(grant).unwrap_or(0));
            self.recv_window = super::CONNECTION_WINDOW;
        }
        if data.is_empty() && !head.has(flag::END_STREAM) {
            self.flood.count(now, |f| &mut f.empty, MAX_EMPTY_FRAMES_PER_SECOND)?;
        }
        if self.is_idle(id) {
            return Err(Error::Connection(Reason::Protocol));
        }
        let Some(i) = self.streams.iter().position(|s| s.id == id) else {
            return if self.was_reset(id) { Ok(()) } else { Err(Error::Connection(Reason::StreamClosed)) };
        };
        let Some(s) = self.streams.get_mut(i) else { return Ok(()) };
        if !s.recv_open {
            return Err(Error::Stream(id, Reason::StreamClosed));
        }
        s.recv_window -= len;
        if s.recv_window < 0 {
            return Err(Error::Stream(id, Reason::FlowControl));
        }
        s.received += data.len() as u64;
        if s.length.is_some_and(|n| s.received > n) {
            return Err(Error::Stream(id, Reason::Protocol));
        }
        let padding = u32::try_from(payload.len() - data.len()).unwrap_or(0);
        let over = s.max_size.is_some_and(|max| s.received > max);
        let mut grant = padding;
        match &mut s.body {
            _ if over => {}
            BodyIn::Collect(c) => {
                if c.keep {
                    c.body.extend_from_slice(data);
                }
                grant += data.len() as u32;
            }
            BodyIn::Streamed => {
                service.body_data(id, data);
                if s.paused || !service.body_room(id) {
                    s.paused = true;
                    s.unacked += data.len() as u32;
                } else {
                    grant += data.len() as u32;
                }
            }
            BodyIn::Discard | BodyIn::None => grant += data.len() as u32,
        }
        if over {
            // Grew past its limit: `413` in place of the answer (or the stream ends).
            progress.too_large += 1;
            if let Some(s) = self.stream_mut(id) {
                if matches!(s.body, BodyIn::Streamed) {
                    service.body_end(id, Some(413));
                }
                s.body = BodyIn::Discard;
            }
            progress.responses += self.answer_error(id, 413, env, out);
            return Ok(());
        }
        let waited_too_long = matches!(&s.body, BodyIn::Collect(c) if !c.keep)
            && s.received > env.limits.max_drain_bytes
            && !head.has(flag::END_STREAM);
        if waited_too_long {
            // An unread body longer than the drain budget: answered now, the rest dropped.
            if let BodyIn::Collect(c) = std::mem::replace(&mut s.body, BodyIn::Discard) {
                let kind = if c.head.content_length.is_some() {
                    BodyKind::Length(s.length.unwrap_or(0))
                } else {
                    BodyKind::Chunked
                };
                progress.responses += self.call(id, &c.head, kind, b"", env, service, out);
            }
        }
        if head.has(flag::END_STREAM) {
            progress.responses += self.end_of_body(id, env, service, out)?;
        } else if let Some(s) = self.stream_mut(id) {
            s.unacked += grant;
            if !s.paused && s.unacked >= STREAM_GRANT_MIN {
                let g = std::mem::take(&mut s.unacked);
                frame::write_window_update(out, id, g);
                s.recv_window += i64::from(g);
            }
        }
        Ok(())
    }
}
