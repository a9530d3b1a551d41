//! A request taken from a queue ([`QueuedRequest`]), owned and answered from any thread, and the
//! way its answer travels back to the I/O thread that owns its connection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use super::reply::Reply;
use super::request::{Version, split_query};
use super::tls_info::TlsInfo;
use crate::pipe::BodyPipe;

/// How an application thread wakes the I/O thread that owns a connection (the server hands the
/// queue path its own; this layer knows nothing of event loops).
pub(crate) trait Wake: Send + Sync + std::fmt::Debug {
    /// Wakes the thread; a failed wake only delays its messages to its next wakeup.
    fn wake(&self);
}

/// A message from an application thread to the I/O thread that owns a request's connection.
#[derive(Debug)]
pub(crate) struct Completion {
    /// Where it stands in the batch its I/O thread takes (set there, for the sort).
    pub order: u32,
    pub key: usize,
    pub serial: u64,
    pub seq: u32,
    pub what: Message,
}

/// What an application thread tells the I/O thread about one request.
#[derive(Debug)]
pub(crate) enum Message {
    /// The answer.
    Reply(Reply),
    /// The application started reading the body: send `100 Continue` if the client waits.
    Continue,
    /// The body pipe has room again: read the connection.
    Resume,
    /// A streamed answer has more bytes (or ended): send them.
    Stream,
}

/// The way back to one I/O thread: its completion channel and its waker.
#[derive(Debug, Clone)]
pub(crate) struct ReturnPath {
    pub tx: mpsc::Sender<Completion>,
    pub waker: Arc<dyn Wake>,
    /// A wake is on its way and the thread has not started draining yet: messages sent
    /// meanwhile ride on it (one `eventfd` write per batch, not per answer).
    pub wake_pending: Arc<AtomicBool>,
    /// The server's response cache, which answers to queued requests are offered to.
    pub cache: Option<Arc<dyn super::cache::CacheSink>>,
}

/// A request taken from a [`RequestQueue`](crate::RequestQueue): owned, `Send`, answered with
/// [`respond`](QueuedRequest::respond) from any thread. Dropped unanswered, it is answered `500`.
#[derive(Debug)]
pub struct QueuedRequest {
    /// The request's method, target, normalised path and headers (see [`RequestText`]).
    pub(crate) text: RequestText,
    pub(crate) version: Version,
    pub(crate) arrived: Instant,
    pub(crate) handle: Option<Handle>,
    /// The body, streamed by the I/O thread as it arrives (`None`: the request has none).
    pub(crate) body: Option<Arc<BodyPipe>>,
    /// The client sent `Expect: 100-continue`.
    pub(crate) expects_continue: bool,
    /// What the request's TLS connection negotiated (shared by its requests); `None`: cleartext.
    pub(crate) tls: Option<Arc<TlsInfo>>,
    /// Where the request was routed, when its answer may be stored (offered to the cache its
    /// return path names); `None`: it could not be.
    pub(crate) cache: Option<super::cache::Routing>,
}

/// The text of a queued request in two allocations, not one per string: the method, target,
/// normalised path and each header's name and value back to back in `bytes`, with where each
/// ends.
#[derive(Debug, Default)]
pub(crate) struct RequestText {
    /// (A `Vec`, not a boxed slice: boxing would shrink it, a reallocation per request.)
    bytes: Vec<u8>,
    method_end: u32,
    target_end: u32,
    path_end: u32,
    /// Per header, where its name and its value end in `bytes`.
    headers: Box<[(u32, u32)]>,
}

impl RequestText {
    /// Copies a request's text; `head_len` (the head's size, at least its headers' text) sizes
    /// the buffer once. Heads are bounded by `max_request_bytes`, far below `u32::MAX`.
    pub(crate) fn new<'a>(
        method: &str,
        target: &str,
        path: &str,
        headers: impl Iterator<Item = (&'a str, &'a [u8])>,
        head_len: usize,
    ) -> Self {
        let mut bytes = Vec::with_capacity(head_len + path.len());
        let end = |bytes: &mut Vec<u8>, piece: &[u8]| {
            bytes.extend_from_slice(piece);
            u32::try_from(bytes.len()).unwrap_or(u32::MAX)
        };
        let method_end = end(&mut bytes, method.as_bytes());
        let target_end = end(&mut bytes, target.as_bytes());
        let path_end = end(&mut bytes, path.as_bytes());
        let headers = headers.map(|(n, v)| (end(&mut bytes, n.as_bytes()), end(&mut bytes, v))).collect();
        RequestText { bytes, method_end, target_end, path_end, headers }
    }

    fn piece(&self, from: u32, to: u32) -> &[u8] {
        self.bytes.get(from as usize..to as usize).unwrap_or_default()
    }

    /// Text that was a `&str` when copied in (method, target, path, header names).
    fn text(&self, from: u32, to: u32) -> &str {
        std::str::from_utf8(self.piece(from, to)).unwrap_or_default()
    }

    fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        let mut start = self.path_end;
        self.headers.iter().map(move |&(name_end, value_end)| {
            let header = (self.text(start, name_end), self.piece(name_end, value_end));
            start = value_end;
            header
        })
    }
}

/// Where the answer goes, and whether the client is still there.
#[derive(Debug)]
pub(crate) struct Handle {
    pub path: Arc<ReturnPath>,
    pub key: usize,
    pub serial: u64,
    pub seq: u32,
    pub disconnected: Arc<AtomicBool>,
}

impl QueuedRequest {
    /// The method.
    pub fn method(&self) -> &str {
        self.text.text(0, self.text.method_end)
    }

    /// The raw request target.
    pub fn target(&self) -> &str {
        self.text.text(self.text.method_end, self.text.target_end)
    }

    /// The path part of the target, before any `?`, not decoded (as [`Request::path`]).
    ///
    /// [`Request::path`]: crate::Request::path
    pub fn path(&self) -> &str {
        split_query(self.target()).0
    }

    /// The query part of the target, after the first `?`.
    pub fn query(&self) -> Option<&str> {
        split_query(self.target()).1
    }

    /// What the connection's TLS handshake negotiated; `None` on a cleartext connection (as
    /// [`Request::tls`]).
    ///
    /// [`Request::tls`]: crate::Request::tls
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.tls.as_deref()
    }

    /// The normalised path the request was routed by (unreserved escapes decoded, dot segments
    /// removed; as [`Request::normalized_path`]).
    ///
    /// [`Request::normalized_path`]: crate::Request::normalized_path
    pub fn normalized_path(&self) -> &str {
        self.text.text(self.text.target_end, self.text.path_end)
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Every header, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.text.headers()
    }

    /// The first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.text.headers().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// How long the request has waited since its head arrived.
    pub fn age(&self) -> Duration {
        self.arrived.elapsed()
    }

    /// Whether the client has gone away since the request arrived (like `HttpWaitForDisconnect`):
    /// an answer would be dropped.
    pub fn is_disconnected(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.disconnected.load(Ordering::Acquire))
    }

    /// Whether the request has a body to read.
    pub fn has_body(&self) -> bool {
        self.body.is_some()
    }

    /// Reads the next piece of the body into `buf`, blocking until some arrives; `Ok(0)` at its
    /// end (or for a request without one). The first call sends `100 Continue` to a client that
    /// waits for it. Errors: the body was malformed (`400`), over the size limit (`413`) or
    /// stopped arriving (`408`), the connection having answered it; or the client went away.
    ///
    /// # Errors
    /// As above; the request should then be dropped (any answer is discarded).
    pub fn read_body(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(pipe) = &self.body else { return Ok(0) };
        if pipe.start() && self.expects_continue {
            self.notify(Message::Continue);
        }
        let (result, resume) = pipe.read(buf);
        if resume {
            self.notify(Message::Resume);
        }
        result
    }

    /// Reads the whole body, refusing one longer than `limit` bytes (`InvalidData`).
    ///
    /// # Errors
    /// As [`read_body`](QueuedRequest::read_body), or a body over `limit`.
    pub fn read_body_to_end(&mut self, limit: usize) -> std::io::Result<Vec<u8>> {
        let mut body = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = self.read_body(&mut buf)?;
            if !append_within(&mut body, buf.get(..n).unwrap_or_default(), limit)? {
                return Ok(body);
            }
        }
    }

    /// Reads the next piece of the body without blocking a thread (async; usable from tokio or
    /// any executor): the task is woken when bytes or the end arrive. Otherwise as
    /// [`read_body`](QueuedRequest::read_body).
    ///
    /// # Errors
    /// As [`read_body`](QueuedRequest::read_body).
    pub async fn read_body_async(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(pipe) = self.body.clone() else { return Ok(0) };
        if pipe.start() && self.expects_continue {
            self.notify(Message::Continue);
        }
        let (result, resume) = std::future::poll_fn(|cx| pipe.poll_read(cx, buf)).await;
        if resume {
            self.notify(Message::Resume);
        }
        result
    }

    /// Reads the whole body without blocking a thread, refusing one longer than `limit` bytes.
    ///
    /// # Errors
    /// As [`read_body_to_end`](QueuedRequest::read_body_to_end).
    pub async fn read_body_to_end_async(&mut self, limit: usize) -> std::io::Result<Vec<u8>> {
        let mut body = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = self.read_body_async(&mut buf).await?;
            if !append_within(&mut body, buf.get(..n).unwrap_or_default(), limit)? {
                return Ok(body);
            }
        }
    }

    fn notify(&self, what: Message) {
        if let Some(h) = &self.handle {
            h.notify(what);
        }
    }

    /// Sends the head of `reply` now (its body, if any, is ignored) and returns a writer for the
    /// body, which goes out chunked (HTTP/1.1) or until the close (HTTP/1.0) as the client takes
    /// it; see [`ResponseWriter`](crate::ResponseWriter). `None` if the client has disconnected.
    pub fn respond_streaming(self, reply: Reply) -> Option<crate::ResponseWriter> {
        self.stream_reply(reply, None)
    }

    /// As [`respond_streaming`](QueuedRequest::respond_streaming), for a body of a known
    /// `length`: the head says `Content-Length` (the connection stays open after it, HTTP/1.0
    /// included) and the body goes out unchunked. Writing more than `length` bytes fails with
    /// `InvalidInput` (nothing is taken); finishing short of it fails with `UnexpectedEof` and
    /// cuts the answer (the connection closes).
    pub fn respond_streaming_sized(self, reply: Reply, length: u64) -> Option<crate::ResponseWriter> {
        self.stream_reply(reply, Some(length))
    }

    fn stream_reply(mut self, reply: Reply, length: Option<u64>) -> Option<crate::ResponseWriter> {
        let handle = self.handle.take()?;
        // The framing is fixed here, before the writer's first byte: the same facts decide the
        // head the I/O thread writes (`Response::stream_body`).
        let chunked = self.version == Version::Http11;
        let discard = self.method() == "HEAD" || !crate::semantics::status_has_body(reply.status());
        // A zero length sends no body: nothing to write, as for `HEAD`.
        let discard = discard || length == Some(0);
        let pipe = std::sync::Arc::new(
            crate::pipe::StreamPipe::new(chunked, discard, length).with_raw_trailers(self.version == Version::Http2),
        );
        let source = crate::pipe::StreamSource::new(std::sync::Arc::clone(&pipe));
        if !handle.notify(Message::Reply(reply.streamed(source, length))) {
            return None;
        }
        Some(crate::ResponseWriter::new(pipe, handle))
    }

    /// Sends the answer. It leaves in pipeline order with the connection's other answers.
    /// Returns `false` if the client has disconnected (the answer is dropped).
    pub fn respond(mut self, reply: Reply) -> bool {
        if let (Some(routing), Some(sink)) = (self.cache, self.handle.as_ref().and_then(|h| h.path.cache.as_ref())) {
            // Stored before it is sent: the client's next request finds it.
            let host = self.header("host");
            reply.given(|given| sink.offer(&routing, self.target(), host, self.normalized_path(), given));
        }
        match self.handle.take() {
            Some(h) => h.send(reply),
            None => false,
        }
    }
}

/// Adds a piece read from a body to `body`; `Ok(false)` at the end (an empty piece), an error
/// past `limit`.
fn append_within(body: &mut Vec<u8>, piece: &[u8], limit: usize) -> std::io::Result<bool> {
    if piece.is_empty() {
        return Ok(false);
    }
    if body.len() + piece.len() > limit {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "request body over the caller's limit"));
    }
    body.extend_from_slice(piece);
    Ok(true)
}

impl Handle {
    fn send(self, reply: Reply) -> bool {
        self.notify(Message::Reply(reply))
    }

    pub(crate) fn notify(&self, what: Message) -> bool {
        if self.disconnected.load(Ordering::Acquire) {
            return false;
        }
        let done = Completion { order: 0, key: self.key, serial: self.serial, seq: self.seq, what };
        if self.path.tx.send(done).is_err() {
            return false;
        }
        if !self.path.wake_pending.swap(true, Ordering::AcqRel) {
            // A failed wake only delays the message to the thread's next wakeup.
            self.path.waker.wake();
        }
        true
    }
}

impl std::io::Read for QueuedRequest {
    /// Reads the body; see [`QueuedRequest::read_body`].
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.read_body(buf)
    }
}

impl Drop for QueuedRequest {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.send(
                Reply::new(500)
                    .header("Content-Type", "text/plain")
                    .body(&b"Internal Server Error: the request was dropped unanswered"[..]),
            );
        }
    }
}
