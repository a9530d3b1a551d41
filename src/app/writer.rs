//! Streamed answers to queued requests: the application writes the body in pieces from any
//! thread ([`ResponseWriter`]); the connection's I/O thread sends them as the client takes them.

use std::io;
use std::sync::Arc;

use super::queued::{Handle, Message};
use crate::pipe::StreamPipe;
use crate::semantics::is_token;

/// Whether a field may be sent as a trailer: not one that frames, routes, controls or describes
/// the message (RFC 9110 §6.5.1), which a recipient must not take from a trailer section.
fn may_trail(name: &str) -> bool {
    const FORBIDDEN: [&str; 13] = [
        "content-length",
        "transfer-encoding",
        "host",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "content-type",
        "content-encoding",
        "content-range",
        "cache-control",
        "authorization",
    ];
    !FORBIDDEN.iter().any(|f| f.eq_ignore_ascii_case(name))
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

    /// Trailer fields to send after the body (RFC 9112 §7.1.2), with the last chunk when
    /// [`finish`](ResponseWriter::finish) is called. Only a chunked answer (HTTP/1.1, length not
    /// announced) or an HTTP/2 one (a HEADERS frame after the data) can carry them; otherwise they are dropped and `Ok(false)` says so. A later
    /// call replaces the earlier fields.
    ///
    /// # Errors
    /// `InvalidInput` for a name that is not a token, a value with CR, LF or NUL, or a field
    /// that frames, routes or describes the message and so may not be a trailer (RFC 9110
    /// §6.5.1: `Content-Length`, `Transfer-Encoding`, `Host`, `Content-Type`, …); nothing is set.
    pub fn set_trailers<'f>(&mut self, fields: impl IntoIterator<Item = (&'f str, &'f [u8])>) -> io::Result<bool> {
        let mut lines = Vec::new();
        for (name, value) in fields {
            if !is_token(name.as_bytes()) || value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) || !may_trail(name) {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("`{name}` cannot be a trailer field")));
            }
            lines.extend_from_slice(name.as_bytes());
            lines.extend_from_slice(b": ");
            lines.extend_from_slice(value);
            lines.extend_from_slice(b"\r\n");
        }
        Ok(self.pipe.set_trailers(lines))
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
