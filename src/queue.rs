//! Request queues: requests taken by application threads (`receive`, blocking or async) and
//! answered later from any thread, as with http.sys's `HttpReceiveHttpRequest`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use crate::body::BodyPipe;
use crate::h1::Version;
use crate::h1::response::Reply;

/// Default request-queue length (http.sys: 1000).
pub const DEFAULT_QUEUE_LENGTH: usize = 1000;
/// Default time a request may wait in the queue before it is answered `503` (http.sys: 120 s).
pub const DEFAULT_REQUEST_QUEUE_TIMEOUT: Duration = Duration::from_secs(120);

/// A bounded queue of requests. Clones share the queue.
#[derive(Clone, Debug)]
pub struct RequestQueue {
    inner: Arc<QueueInner>,
}

#[derive(Debug)]
struct QueueInner {
    tx: async_channel::Sender<QueuedRequest>,
    rx: async_channel::Receiver<QueuedRequest>,
    timeout: Duration,
    arrivals: AtomicU64,
    rejected: AtomicU64,
    max_age_us: AtomicU64,
}

/// A snapshot of a queue's counters (http.sys names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Requests that entered the queue (`ArrivalRate` is its rate).
    pub arrivals: u64,
    /// Requests waiting now (`CurrentQueueSize`).
    pub current_queue_size: u64,
    /// The longest wait seen by a received request (`MaxQueueItemAge`).
    pub max_queue_item_age: Duration,
    /// Requests refused because the queue was full or had timed out (`RejectedRequests`).
    pub rejected_requests: u64,
}

impl Default for RequestQueue {
    fn default() -> Self {
        RequestQueue::new(DEFAULT_QUEUE_LENGTH)
    }
}

impl RequestQueue {
    /// A queue holding at most `length` requests (at least 1), with the default timeout.
    pub fn new(length: usize) -> Self {
        RequestQueue::with_timeout(length, DEFAULT_REQUEST_QUEUE_TIMEOUT)
    }

    /// A queue holding at most `length` requests; a request that waited longer than `timeout`
    /// is answered `503` instead of being handed to an application thread.
    pub fn with_timeout(length: usize, timeout: Duration) -> Self {
        let (tx, rx) = async_channel::bounded(length.max(1));
        RequestQueue {
            inner: Arc::new(QueueInner {
                tx,
                rx,
                timeout,
                arrivals: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                max_age_us: AtomicU64::new(0),
            }),
        }
    }

    /// Takes the next request, blocking. `None` once the queue is shut down and empty.
    pub fn receive(&self) -> Option<QueuedRequest> {
        loop {
            let req = self.inner.rx.recv_blocking().ok()?;
            if let Some(req) = self.admit(req) {
                return Some(req);
            }
        }
    }

    /// Takes the next request without blocking, if one is waiting.
    pub fn try_receive(&self) -> Option<QueuedRequest> {
        loop {
            let req = self.inner.rx.try_recv().ok()?;
            if let Some(req) = self.admit(req) {
                return Some(req);
            }
        }
    }

    /// Takes the next request (async; usable from tokio or any executor). `None` once the queue
    /// is shut down and empty.
    pub async fn receive_async(&self) -> Option<QueuedRequest> {
        loop {
            let req = self.inner.rx.recv().await.ok()?;
            if let Some(req) = self.admit(req) {
                return Some(req);
            }
        }
    }

    /// Stops the queue: requests still waiting are answered `503`, `receive` returns `None`,
    /// and new requests for it are answered `503`.
    pub fn shutdown(&self) {
        self.inner.tx.close();
        while let Ok(req) = self.inner.rx.try_recv() {
            req.respond(Reply::new(503).close());
        }
    }

    /// The queue's counters.
    pub fn stats(&self) -> QueueStats {
        QueueStats {
            arrivals: self.inner.arrivals.load(Ordering::Relaxed),
            current_queue_size: self.inner.rx.len() as u64,
            max_queue_item_age: Duration::from_micros(self.inner.max_age_us.load(Ordering::Relaxed)),
            rejected_requests: self.inner.rejected.load(Ordering::Relaxed),
        }
    }

    /// A request that waited past the timeout is answered `503` here.
    fn admit(&self, req: QueuedRequest) -> Option<QueuedRequest> {
        let age = req.arrived.elapsed();
        self.inner.max_age_us.fetch_max(age.as_micros().min(u64::MAX as u128) as u64, Ordering::Relaxed);
        if age > self.inner.timeout {
            self.inner.rejected.fetch_add(1, Ordering::Relaxed);
            req.respond(Reply::new(503).header("Content-Type", "text/plain").body(&b"Service Unavailable"[..]).close());
            return None;
        }
        Some(req)
    }

    /// Offers a request from an I/O thread; gives it back when the queue is full or shut down
    /// (rare and cold, so the large error is fine).
    #[allow(clippy::result_large_err)]
    pub(crate) fn offer(&self, req: QueuedRequest) -> Result<(), QueuedRequest> {
        match self.inner.tx.try_send(req) {
            Ok(()) => {
                self.inner.arrivals.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.inner.rejected.fetch_add(1, Ordering::Relaxed);
                Err(e.into_inner())
            }
        }
    }
}

/// A message from an application thread to the I/O thread that owns a request's connection.
#[derive(Debug)]
pub(crate) struct Completion {
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
    pub waker: Arc<mio::Waker>,
    /// A wake is on its way and the thread has not started draining yet: messages sent
    /// meanwhile ride on it (one `eventfd` write per batch, not per answer).
    pub wake_pending: Arc<AtomicBool>,
}

/// A request taken from a [`RequestQueue`]: owned, `Send`, answered with
/// [`respond`](QueuedRequest::respond) from any thread. Dropped unanswered, it is answered `500`.
#[derive(Debug)]
pub struct QueuedRequest {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) path: String,
    pub(crate) version: Version,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) arrived: Instant,
    pub(crate) handle: Option<Handle>,
    /// The body, streamed by the I/O thread as it arrives (`None`: the request has none).
    pub(crate) body: Option<Arc<BodyPipe>>,
    /// The client sent `Expect: 100-continue`.
    pub(crate) expects_continue: bool,
}

/// Where the answer goes, and whether the client is still there.
#[derive(Debug)]
pub(crate) struct Handle {
    pub path: ReturnPath,
    pub key: usize,
    pub serial: u64,
    pub seq: u32,
    pub disconnected: Arc<AtomicBool>,
}

impl QueuedRequest {
    /// The method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The raw request target.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The normalised path the request was routed by.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Every header, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// The first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
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
    pub fn respond_streaming(mut self, reply: Reply) -> Option<crate::ResponseWriter> {
        let handle = self.handle.take()?;
        // The framing is fixed here, before the writer's first byte: the same facts decide the
        // head the I/O thread writes (`Response::stream_body`).
        let chunked = self.version == Version::Http11;
        let discard = self.method == "HEAD" || !crate::h1::encode::status_has_body(reply.status());
        let pipe = std::sync::Arc::new(crate::stream::StreamPipe::new(chunked, discard));
        if !handle
            .notify(Message::Reply(reply.streamed(crate::stream::StreamSource::new(std::sync::Arc::clone(&pipe)))))
        {
            return None;
        }
        Some(crate::ResponseWriter::new(pipe, handle))
    }

    /// Sends the answer. It leaves in pipeline order with the connection's other answers.
    /// Returns `false` if the client has disconnected (the answer is dropped).
    pub fn respond(mut self, reply: Reply) -> bool {
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
        let done = Completion { key: self.key, serial: self.serial, seq: self.seq, what };
        if self.path.tx.send(done).is_err() {
            return false;
        }
        if !self.path.wake_pending.swap(true, Ordering::AcqRel) {
            // A failed wake only delays the message to the thread's next wakeup.
            let _ = self.path.waker.wake();
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
