//! The pipe of a streamed answer: an application thread writes the body in pieces (through
//! [`ResponseWriter`](crate::ResponseWriter)); the connection's I/O thread takes them as the
//! client can take them.
//!
//! The writer chunk-encodes into a shared buffer and blocks while more than
//! [`STREAM_HIGH_WATER`] bytes wait there, so a slow client slows the writer instead of making
//! hsys buffer without bound. The I/O thread takes the whole buffer when its socket has room and
//! says so when it finds it empty (`io_waiting`), so the writer wakes it once per refill, not once
//! per write.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Bytes a streamed answer may hold in hsys before its writer blocks.
pub(crate) const STREAM_HIGH_WATER: usize = 256 * 1024;

#[derive(Debug, Default)]
struct State {
    buf: Vec<u8>,
    /// The writer finished (the last chunk is in `buf`).
    finished: bool,
    /// The writer was dropped unfinished: the answer cannot be completed, the connection closes.
    aborted: bool,
    /// Bytes are thrown away (an answer to `HEAD`, or a status without a body).
    discard: bool,
    /// The I/O thread found the buffer empty and waits for a wake.
    io_waiting: bool,
    /// Chunk-encode (HTTP/1.1) or send raw (HTTP/1.0, or a length announced in the head).
    chunked: bool,
    /// Bytes still owed when the head announced the body's length.
    remaining: Option<u64>,
    /// Holders of the I/O side ([`StreamSource`]); at zero the answer can no longer be sent.
    sources: usize,
    /// An async writer waiting for room.
    writer: Option<Waker>,
    /// Trailer field lines (`name: value\r\n` each) to send after the last chunk.
    trailers: Vec<u8>,
    /// The body is raw but trailers are kept for the I/O thread, which sends them its own way
    /// (HTTP/2: a HEADERS frame that ends the stream).
    raw_trailers: bool,
}

/// The buffer between a [`ResponseWriter`] and the I/O thread.
#[derive(Debug, Default)]
pub struct StreamPipe {
    state: Mutex<State>,
    drained: Condvar,
}

/// What the I/O thread took from a pipe.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    pub bytes: Vec<u8>,
    /// Nothing more will come: the answer is complete (`aborted`: cut short).
    pub finished: bool,
    pub aborted: bool,
    /// With the last bytes of a pipe that keeps them raw: the trailer lines (`name: value\r\n`).
    pub trailers: Vec<u8>,
}

impl StreamPipe {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A pipe for a body framed as the head will say: `length` bytes when announced, else
    /// chunked (HTTP/1.1) or raw until the close (HTTP/1.0); `discard` when no body is sent at
    /// all (`HEAD`, 1xx/204/304).
    pub(crate) fn new(chunked: bool, discard: bool, length: Option<u64>) -> Self {
        let chunked = chunked && length.is_none();
        StreamPipe {
            // Nothing is sent when discarding (`HEAD`…): no length to hold the writer to.
            state: Mutex::new(State { chunked, discard, remaining: length.filter(|_| !discard), ..State::default() }),
            drained: Condvar::new(),
        }
    }

    /// Keeps trailers for the I/O thread instead of chunk-encoding them (HTTP/2).
    pub(crate) fn with_raw_trailers(self, raw: bool) -> Self {
        self.lock().raw_trailers = raw;
        self
    }

    /// Tells a waiting writer (blocked or async) to look again.
    fn wake_writer(&self, mut s: MutexGuard<'_, State>) {
        let waker = s.writer.take();
        drop(s);
        self.drained.notify_all();
        if let Some(w) = waker {
            super::wake(w);
        }
    }

    /// I/O side: takes what is waiting (reusing `spare`'s allocation for the next fill).
    pub(crate) fn take(&self, spare: Vec<u8>) -> Taken {
        let mut s = self.lock();
        let mut spare = spare;
        spare.clear();
        let bytes = std::mem::replace(&mut s.buf, spare);
        let done = s.finished || s.aborted;
        s.io_waiting = bytes.is_empty() && !done;
        let trailers = if s.finished && s.raw_trailers { std::mem::take(&mut s.trailers) } else { Vec::new() };
        let taken = Taken { bytes, finished: done, aborted: s.aborted, trailers };
        self.wake_writer(s);
        taken
    }
}

/// The I/O side's hold on a [`StreamPipe`]: in the answer's in-flight slot, then as the
/// connection's tail. When the last one is dropped (the answer was sent, or the connection is
/// gone) a writer waiting for room is woken, so an async writer never waits for a connection
/// that no longer exists.
#[derive(Debug)]
pub struct StreamSource(Arc<StreamPipe>);

impl StreamSource {
    /// The first hold on `pipe`.
    pub(crate) fn new(pipe: Arc<StreamPipe>) -> Self {
        pipe.lock().sources += 1;
        StreamSource(pipe)
    }

    pub(crate) fn pipe(&self) -> &Arc<StreamPipe> {
        &self.0
    }
}

impl Clone for StreamSource {
    fn clone(&self) -> Self {
        StreamSource::new(Arc::clone(&self.0))
    }
}

impl Drop for StreamSource {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.sources = s.sources.saturating_sub(1);
        if s.sources == 0 {
            self.0.wake_writer(s);
        }
    }
}

/// The writer's side of a pipe: what [`ResponseWriter`](crate::ResponseWriter) does, without
/// knowing who owns the connection. `gone` is the connection's disconnect flag; `wake_io` tells
/// the I/O thread that it has bytes to take (it is called only when that thread waits for them).
impl StreamPipe {
    /// The answer can no longer reach the client.
    /// (A body that is not sent — `HEAD`, 204/304, a zero length — has no I/O-side hold once its
    /// head is out: only a disconnect ends it.)
    fn gone_locked(s: &State, disconnected: &AtomicBool) -> bool {
        (s.sources == 0 && !s.discard) || disconnected.load(Ordering::Acquire)
    }

    /// Whether the answer can no longer reach the client.
    pub(crate) fn is_gone(&self, disconnected: &AtomicBool) -> bool {
        Self::gone_locked(&self.lock(), disconnected)
    }

    /// Appends, blocking while the buffer is over the high-water mark.
    pub(crate) fn write(
        &self,
        data: &[u8],
        last: bool,
        disconnected: &AtomicBool,
        wake_io: impl Fn(),
    ) -> io::Result<()> {
        let mut s = self.lock();
        loop {
            if Self::gone_locked(&s, disconnected) {
                return Err(io::ErrorKind::ConnectionAborted.into());
            }
            if !full(&s) {
                return Self::append_now(s, data, last, wake_io);
            }
            // Timed: a disconnect is noticed even if no one wakes the writer.
            s = self.drained.wait_timeout(s, Duration::from_millis(100)).map_or_else(|e| e.into_inner().0, |r| r.0);
        }
    }

    /// Appends if there is room; otherwise registers the task to be woken when there is.
    pub(crate) fn poll_write(
        &self,
        cx: &mut Context<'_>,
        data: &[u8],
        last: bool,
        disconnected: &AtomicBool,
        wake_io: impl Fn(),
    ) -> Poll<io::Result<()>> {
        let mut s = self.lock();
        if Self::gone_locked(&s, disconnected) {
            return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
        }
        if full(&s) {
            if !s.writer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                s.writer = Some(cx.waker().clone());
            }
            return Poll::Pending;
        }
        Poll::Ready(Self::append_now(s, data, last, wake_io))
    }

    /// Sets the trailer section sent after the last chunk (already-checked `name: value\r\n`
    /// lines). `false` when the answer is not chunked: it has nowhere to put them.
    pub(crate) fn set_trailers(&self, lines: Vec<u8>) -> bool {
        let mut s = self.lock();
        if (!s.chunked && !s.raw_trailers) || s.discard {
            return false;
        }
        s.trailers = lines;
        true
    }

    /// The writer gave up: the answer is cut short and the connection will close.
    pub(crate) fn abort(&self, wake_io: impl Fn()) {
        let mut s = self.lock();
        s.aborted = true;
        let wake = std::mem::take(&mut s.io_waiting);
        drop(s);
        if wake {
            wake_io();
        }
    }

    /// Encodes `data` (and the last chunk) into the buffer and wakes the I/O thread if it waits.
    /// With an announced length, writing past it is refused (nothing is taken) and finishing
    /// short of it cuts the answer (the connection closes: its framing cannot be kept).
    fn append_now(mut s: MutexGuard<'_, State>, data: &[u8], last: bool, wake_io: impl Fn()) -> io::Result<()> {
        if let Some(left) = s.remaining {
            let n = data.len() as u64;
            if n > left {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "more body than the announced Content-Length"));
            }
            let left = left - n;
            s.remaining = Some(left);
            if last && left > 0 {
                s.aborted = true;
                let wake = std::mem::take(&mut s.io_waiting);
                drop(s);
                if wake {
                    wake_io();
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "less body than the announced Content-Length",
                ));
            }
        }
        if !s.discard {
            if s.chunked {
                if !data.is_empty() {
                    push_chunk_size(&mut s.buf, data.len());
                    s.buf.extend_from_slice(data);
                    s.buf.extend_from_slice(b"\r\n");
                }
                if last {
                    s.buf.extend_from_slice(b"0\r\n");
                    let trailers = std::mem::take(&mut s.trailers);
                    s.buf.extend_from_slice(&trailers);
                    s.buf.extend_from_slice(b"\r\n");
                }
            } else {
                s.buf.extend_from_slice(data);
            }
        }
        s.finished |= last;
        let wake = std::mem::take(&mut s.io_waiting);
        drop(s);
        if wake {
            wake_io();
        }
        Ok(())
    }
}

/// Whether a writer must wait for the I/O thread to take what is buffered.
fn full(s: &State) -> bool {
    s.buf.len() >= STREAM_HIGH_WATER && !s.discard
}

/// A chunk-size line: `len` in hex, then CRLF.
fn push_chunk_size(buf: &mut Vec<u8>, len: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut at = digits.len();
    let mut n = len;
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            *d = HEX.get(n & 0xf).copied().unwrap_or(b'0');
        }
        n >>= 4;
        if n == 0 || at == 0 {
            break;
        }
    }
    buf.extend_from_slice(digits.get(at..).unwrap_or_default());
    buf.extend_from_slice(b"\r\n");
}
