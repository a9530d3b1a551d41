//! Streamed answers to queued requests: the application writes the body in pieces from any
//! thread ([`ResponseWriter`]); the connection's I/O thread sends them as the client takes them.
//!
//! The writer chunk-encodes into a shared buffer and blocks while more than
//! [`STREAM_HIGH_WATER`] bytes wait there, so a slow client slows the writer instead of making
//! hsys buffer without bound. The I/O thread takes the whole buffer when its socket has room and
//! says so when it finds it empty (`io_waiting`), so the writer wakes it once per refill, not once
//! per write.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::queue::{Handle, Message};

/// Bytes a streamed answer may hold in hsys before its writer blocks.
pub const STREAM_HIGH_WATER: usize = 256 * 1024;

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
    /// Chunk-encode (HTTP/1.1) or send raw until the close (HTTP/1.0).
    chunked: bool,
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
}

impl StreamPipe {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A pipe for a body framed as the head will say: chunked (HTTP/1.1) or raw until the close
    /// (HTTP/1.0); `discard` when no body is sent at all (`HEAD`, 1xx/204/304).
    pub(crate) fn new(chunked: bool, discard: bool) -> Self {
        StreamPipe { state: Mutex::new(State { chunked, discard, ..State::default() }), drained: Condvar::new() }
    }

    /// I/O side: takes what is waiting (reusing `spare`'s allocation for the next fill).
    pub(crate) fn take(&self, spare: Vec<u8>) -> Taken {
        let mut s = self.lock();
        let mut spare = spare;
        spare.clear();
        let bytes = std::mem::replace(&mut s.buf, spare);
        let done = s.finished || s.aborted;
        s.io_waiting = bytes.is_empty() && !done;
        let taken = Taken { bytes, finished: done, aborted: s.aborted };
        drop(s);
        self.drained.notify_all();
        taken
    }
}

/// Writes the body of a streamed answer from any thread: `write` (blocking under
/// back-pressure), then [`finish`](ResponseWriter::finish). Dropped unfinished, the answer is cut
/// short and the connection closed (the client sees an incomplete response, as with a reset).
#[derive(Debug)]
pub struct ResponseWriter {
    pipe: Arc<StreamPipe>,
    handle: Handle,
    finished: bool,
}

impl ResponseWriter {
    pub(crate) fn new(pipe: Arc<StreamPipe>, handle: Handle) -> Self {
        ResponseWriter { pipe, handle, finished: false }
    }

    fn gone(&self) -> bool {
        self.handle.disconnected.load(Ordering::Acquire)
    }

    /// Appends under the lock, blocking while the buffer is over the high-water mark.
    fn append(&self, data: &[u8], last: bool) -> io::Result<()> {
        let mut s = self.pipe.lock();
        while s.buf.len() >= STREAM_HIGH_WATER && !s.discard {
            if self.gone() {
                return Err(io::ErrorKind::ConnectionAborted.into());
            }
            s = self
                .pipe
                .drained
                .wait_timeout(s, Duration::from_millis(100))
                .map_or_else(|e| e.into_inner().0, |r| r.0);
        }
        if self.gone() {
            return Err(io::ErrorKind::ConnectionAborted.into());
        }
        if !s.discard {
            if s.chunked {
                if !data.is_empty() {
                    s.buf.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
                    s.buf.extend_from_slice(data);
                    s.buf.extend_from_slice(b"\r\n");
                }
                if last {
                    s.buf.extend_from_slice(b"0\r\n\r\n");
                }
            } else {
                s.buf.extend_from_slice(data);
            }
        }
        s.finished |= last;
        let wake = std::mem::take(&mut s.io_waiting);
        drop(s);
        if wake {
            self.handle.notify(Message::Stream);
        }
        Ok(())
    }

    /// Ends the body (the last chunk); the answer is complete.
    ///
    /// # Errors
    /// `ConnectionAborted` if the client went away.
    pub fn finish(mut self) -> io::Result<()> {
        self.finished = true;
        self.append(&[], true)
    }

    /// Whether the client has gone away (further writes fail).
    pub fn is_disconnected(&self) -> bool {
        self.gone()
    }
}

impl io::Write for ResponseWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.append(buf, false)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for ResponseWriter {
    fn drop(&mut self) {
        if !self.finished {
            let mut s = self.pipe.lock();
            s.aborted = true;
            let wake = std::mem::take(&mut s.io_waiting);
            drop(s);
            if wake {
                self.handle.notify(Message::Stream);
            }
        }
    }
}
