//! Streamed answers to queued requests: the application writes the body in pieces from any
//! thread ([`ResponseWriter`]); the connection's I/O thread sends them as the client takes them.

use std::io;
use std::sync::Arc;

use super::queued::{Handle, Message};
use crate::pipe::StreamPipe;

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

    /// Tells the I/O thread the pipe has bytes (or its end) for it.
    fn wake_io(&self) {
        self.handle.notify(Message::Stream);
    }

    fn append(&self, data: &[u8], last: bool) -> io::Result<()> {
        self.pipe.write(data, last, &self.handle.disconnected, || self.wake_io())
    }

    /// Writes `data` without blocking a thread (async; usable from tokio or any executor): the
    /// task waits while the client is slow to take what was written before.
    ///
    /// # Errors
    /// `ConnectionAborted` if the client went away.
    pub async fn write_async(&mut self, data: &[u8]) -> io::Result<()> {
        std::future::poll_fn(|cx| self.pipe.poll_write(cx, data, false, &self.handle.disconnected, || self.wake_io()))
            .await
    }

    /// Ends the body without blocking a thread; see [`finish`](ResponseWriter::finish).
    ///
    /// # Errors
    /// `ConnectionAborted` if the client went away.
    pub async fn finish_async(mut self) -> io::Result<()> {
        self.finished = true;
        std::future::poll_fn(|cx| self.pipe.poll_write(cx, &[], true, &self.handle.disconnected, || self.wake_io()))
            .await
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
        self.pipe.is_gone(&self.handle.disconnected)
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
            self.pipe.abort(|| self.wake_io());
        }
    }
}
