//! The body of a queued request on its way to the application: a bounded pipe written by the
//! connection's I/O thread as bytes arrive and read by whichever thread holds the request (the
//! `HttpReceiveRequestEntityBody` model: the head first, the body in pieces after).
//!
//! Back-pressure: when the pipe holds [`PIPE_CAPACITY`] bytes the I/O thread stops reading the
//! socket and marks the pipe paused; the reader that brings it down to half sends `Resume` to the
//! I/O thread. The pipe may overshoot the capacity by one read's worth (the I/O thread hands on
//! everything it has already read), so it is bounded by twice the capacity plus a read buffer.

use std::collections::VecDeque;
use std::io;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Bytes a pipe holds before the I/O thread stops reading the connection.
pub const PIPE_CAPACITY: usize = 64 * 1024;

/// How a body pipe ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// More may come.
    Open,
    /// The whole body arrived.
    Done,
    /// The connection refused the body with this status (and answered it).
    Failed(u16),
    /// The connection went away.
    Gone,
}

#[derive(Debug)]
struct State {
    buf: VecDeque<u8>,
    end: End,
    /// The I/O thread found no room and stopped reading; it waits for a `Resume`.
    paused: bool,
    /// The reader has asked for the body before.
    started: bool,
    /// An async reader waiting for bytes or the end.
    waker: Option<Waker>,
}

/// One request body in transit.
#[derive(Debug)]
pub(crate) struct BodyPipe {
    state: Mutex<State>,
    readable: Condvar,
}

impl Default for BodyPipe {
    fn default() -> Self {
        BodyPipe {
            state: Mutex::new(State {
                buf: VecDeque::new(),
                end: End::Open,
                paused: false,
                started: false,
                waker: None,
            }),
            readable: Condvar::new(),
        }
    }
}

impl BodyPipe {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A reader that panicked while holding the lock left consistent state (plain bytes).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// I/O side: whether more body may be handed on now; `false` pauses the pipe.
    pub(crate) fn has_room(&self) -> bool {
        let mut s = self.lock();
        if s.buf.len() >= PIPE_CAPACITY && s.end == End::Open {
            s.paused = true;
            return false;
        }
        true
    }

    /// I/O side: the next piece of the body.
    pub(crate) fn push(&self, data: &[u8]) {
        let mut s = self.lock();
        if s.end == End::Open {
            s.buf.extend(data);
            let waker = s.waker.take();
            drop(s);
            self.readable.notify_all();
            if let Some(w) = waker {
                super::wake(w);
            }
        }
    }

    /// I/O side: the body ended (`None`: whole; `Some(status)`: refused with that answer).
    pub(crate) fn finish(&self, error: Option<u16>) {
        self.end(error.map_or(End::Done, End::Failed));
    }

    /// I/O side: the connection is gone; a reader gets an error.
    pub(crate) fn disconnect(&self) {
        self.end(End::Gone);
    }

    fn end(&self, end: End) {
        let mut s = self.lock();
        if s.end == End::Open {
            s.end = end;
        }
        let waker = s.waker.take();
        drop(s);
        self.readable.notify_all();
        if let Some(w) = waker {
            super::wake(w);
        }
    }

    /// Reader side: whether this is the first time the body is asked for (a client waiting for
    /// `100 Continue` should get it now, before the reader blocks).
    pub(crate) fn start(&self) -> bool {
        let mut s = self.lock();
        !std::mem::replace(&mut s.started, true)
    }

    /// Reader side: blocks until body bytes, the end (`Ok(0)`) or an error. The flag says the
    /// pipe was paused and now has room: the I/O thread should be told to read again.
    pub(crate) fn read(&self, out: &mut [u8]) -> (io::Result<usize>, bool) {
        let mut s = self.lock();
        while s.buf.is_empty() && s.end == End::Open && !out.is_empty() {
            s = self.readable.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        take(&mut s, out)
    }

    /// Reader side, async: as [`read`](BodyPipe::read), but registers the task to be woken
    /// instead of blocking.
    pub(crate) fn poll_read(&self, cx: &mut Context<'_>, out: &mut [u8]) -> Poll<(io::Result<usize>, bool)> {
        let mut s = self.lock();
        if s.buf.is_empty() && s.end == End::Open && !out.is_empty() {
            if !s.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                s.waker = Some(cx.waker().clone());
            }
            return Poll::Pending;
        }
        Poll::Ready(take(&mut s, out))
    }
}

/// Moves what is buffered (up to `out`'s length) to `out`; the result a read reports, and
/// whether the I/O thread should resume reading.
fn take(s: &mut State, out: &mut [u8]) -> (io::Result<usize>, bool) {
    let mut resume = false;
    let n = out.len().min(s.buf.len());
    for (dst, src) in out.iter_mut().zip(s.buf.drain(..n)) {
        *dst = src;
    }
    if s.paused && s.buf.len() <= PIPE_CAPACITY / 2 {
        s.paused = false;
        resume = true;
    }
    let result = match s.end {
        _ if n > 0 || out.is_empty() => Ok(n),
        End::Open | End::Done => Ok(0),
        End::Failed(413) => Err(io::Error::new(io::ErrorKind::InvalidData, "request body over the size limit (413)")),
        End::Failed(408) => Err(io::Error::new(io::ErrorKind::TimedOut, "request body stopped arriving (408)")),
        End::Failed(_) => Err(io::Error::new(io::ErrorKind::InvalidData, "malformed request body (400)")),
        End::Gone => Err(io::Error::new(io::ErrorKind::ConnectionAborted, "the client went away")),
    };
    (result, resume)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn read(p: &BodyPipe, n: usize) -> (io::Result<Vec<u8>>, bool) {
        let mut buf = vec![0; n];
        let (r, resume) = p.read(&mut buf);
        (
            r.map(|k| {
                buf.truncate(k);
                buf
            }),
            resume,
        )
    }

    #[test]
    fn bytes_flow_in_order_then_the_end() {
        let p = BodyPipe::default();
        p.push(b"hello ");
        p.push(b"world");
        p.finish(None);
        assert!(p.start());
        assert!(!p.start());
        assert_eq!(read(&p, 8).0.unwrap(), b"hello wo");
        assert_eq!(read(&p, 8).0.unwrap(), b"rld");
        assert_eq!(read(&p, 8).0.unwrap(), b"");
    }

    #[test]
    fn a_reader_blocks_until_bytes_arrive_from_another_thread() {
        let p = Arc::new(BodyPipe::default());
        let writer = Arc::clone(&p);
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            writer.push(b"late");
        });
        assert_eq!(read(&p, 8).0.unwrap(), b"late");
        t.join().unwrap();
    }

    #[test]
    fn an_async_reader_is_woken_by_bytes_and_by_the_end() {
        struct Flag(std::sync::atomic::AtomicUsize);
        impl std::task::Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let flag = Arc::new(Flag(std::sync::atomic::AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&flag));
        let mut cx = Context::from_waker(&waker);
        let p = BodyPipe::default();
        let mut buf = [0u8; 8];
        assert!(p.poll_read(&mut cx, &mut buf).is_pending());
        p.push(b"abc");
        assert_eq!(flag.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        let Poll::Ready((Ok(3), false)) = p.poll_read(&mut cx, &mut buf) else { panic!("bytes expected") };
        assert!(p.poll_read(&mut cx, &mut buf).is_pending());
        p.disconnect();
        assert_eq!(flag.0.load(std::sync::atomic::Ordering::SeqCst), 2);
        let Poll::Ready((Err(e), _)) = p.poll_read(&mut cx, &mut buf) else { panic!("an error expected") };
        assert_eq!(e.kind(), io::ErrorKind::ConnectionAborted);
    }

    #[test]
    fn a_full_pipe_pauses_and_resumes_at_half() {
        let p = BodyPipe::default();
        p.push(&vec![1; PIPE_CAPACITY]);
        assert!(!p.has_room());
        assert!(!read(&p, PIPE_CAPACITY / 4).1);
        assert!(read(&p, PIPE_CAPACITY / 4).1);
        assert!(p.has_room());
    }

    #[test]
    fn failures_and_disconnects_are_errors_after_the_bytes() {
        let p = BodyPipe::default();
        p.push(b"ab");
        p.finish(Some(413));
        assert_eq!(read(&p, 8).0.unwrap(), b"ab");
        assert_eq!(read(&p, 8).0.unwrap_err().kind(), io::ErrorKind::InvalidData);
        let p = BodyPipe::default();
        p.disconnect();
        p.finish(None);
        assert_eq!(read(&p, 8).0.unwrap_err().kind(), io::ErrorKind::ConnectionAborted);
    }
}
