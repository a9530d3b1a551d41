use std::sync::atomic::AtomicBool;
use std::sync::mpsc;

use http_body::Body as _;

use super::*;
use crate::app::queued::{Completion, ReturnPath, Wake};

#[derive(Debug)]
struct NoWake;

impl Wake for NoWake {
    fn wake(&self) {}
}

/// A handle whose messages land in the returned receiver.
fn handle() -> (Handle, mpsc::Receiver<Completion>) {
    let (tx, rx) = mpsc::channel();
    let path = Arc::new(ReturnPath { tx, waker: Arc::new(NoWake), wake_pending: Arc::default(), cache: None });
    (Handle { path, key: 1, serial: 2, seq: 3, disconnected: Arc::new(AtomicBool::new(false)) }, rx)
}

fn poll(body: &mut Body) -> Poll<Option<io::Result<Frame<Bytes>>>> {
    Pin::new(body).poll_frame(&mut Context::from_waker(std::task::Waker::noop()))
}

fn data(p: Poll<Option<io::Result<Frame<Bytes>>>>) -> Bytes {
    match p {
        Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
        other => panic!("a data frame expected, got {other:?}"),
    }
}

#[test]
fn a_sized_body_streams_from_its_pipe_and_ends_with_its_length() {
    let pipe = Arc::new(BodyPipe::default());
    let (h, rx) = handle();
    let mut body = Body::piped(Arc::clone(&pipe), h, true, Some(8));
    assert_eq!(body.size_hint().exact(), Some(8));
    assert!(!body.is_end_stream());
    assert!(poll(&mut body).is_pending());
    // The first poll asked for `100 Continue`.
    assert!(matches!(rx.try_recv().map(|c| c.what), Ok(Message::Continue)));
    pipe.push(b"abc");
    assert_eq!(data(poll(&mut body)), &b"abc"[..]);
    assert_eq!(body.size_hint().exact(), Some(5));
    pipe.push(b"defgh");
    pipe.finish(None);
    assert_eq!(data(poll(&mut body)), &b"defgh"[..]);
    assert!(body.is_end_stream(), "its length is reached");
    assert!(matches!(poll(&mut body), Poll::Ready(None)));
    assert!(rx.try_recv().is_err(), "one Continue, nothing else");
}

#[test]
fn a_chunked_body_ends_at_the_pipes_end_and_reports_failures() {
    let pipe = Arc::new(BodyPipe::default());
    let (h, rx) = handle();
    let mut body = Body::piped(Arc::clone(&pipe), h, false, None);
    assert_eq!(body.size_hint().exact(), None);
    pipe.push(&[7; 40_000]);
    let sizes: Vec<usize> = (0..3).map(|_| data(poll(&mut body)).len()).collect();
    assert_eq!(sizes, [FRAME, FRAME, 40_000 - 2 * FRAME], "frames are at most FRAME bytes");
    assert!(poll(&mut body).is_pending());
    pipe.finish(Some(413));
    match poll(&mut body) {
        Poll::Ready(Some(Err(e))) => assert_eq!(e.kind(), io::ErrorKind::InvalidData),
        other => panic!("an error expected, got {other:?}"),
    }
    assert!(body.is_end_stream());
    assert!(matches!(poll(&mut body), Poll::Ready(None)));
    assert!(rx.try_recv().is_err(), "no Continue without Expect");
}

#[test]
fn a_body_dropped_unread_tells_the_connection_to_read_on() {
    let (h, rx) = handle();
    drop(Body::piped(Arc::new(BodyPipe::default()), h, false, Some(10)));
    assert!(matches!(rx.try_recv().map(|c| c.what), Ok(Message::Resume)));
    // Read to its end: nothing to say.
    let pipe = Arc::new(BodyPipe::default());
    let (h, rx) = handle();
    let mut body = Body::piped(Arc::clone(&pipe), h, false, None);
    pipe.finish(None);
    assert!(matches!(poll(&mut body), Poll::Ready(None)));
    drop(body);
    assert!(rx.try_recv().is_err());
}

#[test]
fn bodies_in_hand_and_empty_ones() {
    let mut empty = Body::empty();
    assert!(empty.is_end_stream());
    assert_eq!(empty.size_hint().exact(), Some(0));
    assert!(matches!(poll(&mut empty), Poll::Ready(None)));
    let mut full = Body::from("hello");
    assert_eq!(full.size_hint().exact(), Some(5));
    assert_eq!(data(poll(&mut full)), &b"hello"[..]);
    assert!(full.is_end_stream());
    assert!(Body::from(Vec::new()).is_end_stream());
}
