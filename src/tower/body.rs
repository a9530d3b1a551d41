//! [`Body`]: a request body as an [`http_body::Body`], streamed from the connection.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};

use crate::app::queued::{Handle, Message};
use crate::pipe::BodyPipe;

/// Bytes a [`Body`] asks of the connection at most per frame.
const FRAME: usize = 16 * 1024;

/// The body of a request served by a tower service ([`Target::service`](crate::Target::service)):
/// an [`http_body::Body`] of [`Bytes`] frames whose errors are [`io::Error`]s.
///
/// A body that comes over the connection is streamed as it arrives, with back-pressure: the
/// connection is not read further while 64 KiB wait unread in hsys. The first poll sends
/// `100 Continue` to a client that waits for it. Errors: the body was malformed (`InvalidData`,
/// the connection answered `400`), over the group's size limit (`InvalidData`, answered `413`),
/// stopped arriving (`TimedOut`, answered `408`), or the client went away (`ConnectionAborted`).
///
/// A body can also be made from bytes in hand ([`Body::from`]) or empty ([`Body::empty`]), for
/// tests and for services that call each other.
#[derive(Debug)]
pub struct Body {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// No (more) body.
    Empty,
    /// The whole body, in hand.
    Full(Bytes),
    /// Streamed from the connection.
    Pipe(Box<Piped>),
}

/// A body being streamed from its connection.
#[derive(Debug)]
struct Piped {
    pipe: Arc<BodyPipe>,
    /// The way to the connection's I/O thread (`100 Continue`, resume reading).
    handle: Handle,
    /// The client sent `Expect: 100-continue`.
    expects_continue: bool,
    /// Bytes still to come when the length is declared.
    remaining: Option<u64>,
    /// What frames are cut from (its spare capacity is reused).
    buf: BytesMut,
    /// The end (or an error) was reached.
    done: bool,
}

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Body { kind: Kind::Empty }
    }

    /// A body streamed from `pipe`, `length` bytes long when declared; `handle` reaches the
    /// connection's I/O thread.
    pub(crate) fn piped(pipe: Arc<BodyPipe>, handle: Handle, expects_continue: bool, length: Option<u64>) -> Self {
        let piped = Piped { pipe, handle, expects_continue, remaining: length, buf: BytesMut::new(), done: false };
        Body { kind: Kind::Pipe(Box::new(piped)) }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        if bytes.is_empty() { Body::empty() } else { Body { kind: Kind::Full(bytes) } }
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Body::from(Bytes::from(bytes))
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Self {
        Body::from(Bytes::from_static(bytes))
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Body::from(Bytes::from(text))
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Body::from(Bytes::from_static(text.as_bytes()))
    }
}

impl Piped {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.pipe.start() && self.expects_continue {
            self.handle.notify(Message::Continue);
        }
        let want = self.remaining.map_or(FRAME, |r| usize::try_from(r).unwrap_or(FRAME).clamp(1, FRAME));
        if self.buf.len() < want {
            // Only the bytes cut off by earlier frames are zeroed again.
            self.buf.resize(want, 0);
        }
        let Poll::Ready((result, resume)) = self.pipe.poll_read(cx, &mut self.buf[..want]) else {
            return Poll::Pending;
        };
        if resume {
            self.handle.notify(Message::Resume);
        }
        match result {
            Ok(0) => {
                self.done = true;
                Poll::Ready(None)
            }
            Ok(n) => {
                if let Some(r) = &mut self.remaining {
                    *r = r.saturating_sub(n as u64);
                    self.done = *r == 0;
                }
                Poll::Ready(Some(Ok(Frame::data(self.buf.split_to(n).freeze()))))
            }
            Err(e) => {
                self.done = true;
                Poll::Ready(Some(Err(e)))
            }
        }
    }
}

impl Drop for Piped {
    /// A body dropped before its end: the connection is told to read on (it discards what
    /// nobody will read, see `Dispatch::body_data`), or it would wait for a reader for ever.
    fn drop(&mut self) {
        if !self.done {
            self.handle.notify(Message::Resume);
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        match &mut self.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(_) => match std::mem::replace(&mut self.kind, Kind::Empty) {
                Kind::Full(bytes) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
                _ => Poll::Ready(None),
            },
            Kind::Pipe(p) => p.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(_) => false,
            Kind::Pipe(p) => p.done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(b) => SizeHint::with_exact(b.len() as u64),
            Kind::Pipe(p) if p.done => SizeHint::with_exact(0),
            Kind::Pipe(p) => p.remaining.map_or_else(SizeHint::new, SizeHint::with_exact),
        }
    }
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
