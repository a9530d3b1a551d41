//! The bridge without sockets: a request head as an `http::Request`, and which answers are
//! written inline (the fast path) and which are deferred to a task.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::Full;

use super::*;
use crate::app::queued::{Completion, Handle, Message, ReturnPath, Wake};
use crate::app::response::{BodyLength, Encode};
use crate::app::service::Outcome;
use crate::app::{BodyKind, Request, Response, Version};
use crate::group::GroupId;

/// A request head over `headers`.
fn head<'a>(method: &'a str, target: &'a str, headers: &'a [httparse::Header<'a>]) -> Request<'a> {
    Request {
        method,
        target,
        version: Version::Http11,
        headers,
        body: BodyKind::Empty,
        body_bytes: b"",
        host: None,
        head_len: 0,
        route_path: None,
        tls: None,
    }
}

fn info() -> RequestInfo {
    RequestInfo {
        peer_addr: None,
        local_addr: ([127, 0, 0, 1], 80).into(),
        group: GroupId(0),
        prefix_path: "/".into(),
        tls: None,
    }
}

#[test]
fn a_head_becomes_an_http_request_as_sent() {
    let headers = [
        httparse::Header { name: "Host", value: b"example.com" },
        httparse::Header { name: "Accept", value: b"text/html" },
        httparse::Header { name: "X-Custom", value: b"\xe9t\xe9" },
        httparse::Header { name: "accept", value: b"*/*" },
    ];
    let req = to_http(&head("PATCH", "http://example.com:8080/a/%7E?q=1", &headers), Body::empty(), info()).unwrap();
    assert_eq!(req.method(), http::Method::PATCH);
    assert_eq!(req.uri().scheme_str(), Some("http"));
    assert_eq!(req.uri().authority().map(|a| a.as_str()), Some("example.com:8080"));
    assert_eq!(req.uri().path(), "/a/%7E", "not decoded: the service routes what was sent");
    assert_eq!(req.uri().query(), Some("q=1"));
    assert_eq!(req.version(), http::Version::HTTP_11);
    // Repeated names kept in order, names case-insensitive, obs-text kept as bytes.
    let accept: Vec<_> = req.headers().get_all("accept").iter().map(|v| v.as_bytes()).collect();
    assert_eq!(accept, [&b"text/html"[..], b"*/*"]);
    assert_eq!(req.headers().get("x-custom").map(|v| v.as_bytes()), Some(&b"\xe9t\xe9"[..]));
    assert_eq!(req.headers().len(), 4);
    assert!(req.extensions().get::<RequestInfo>().is_some());
    // Origin form, the asterisk form, an extension method.
    let req = to_http(&head("GET", "/x?y", &[]), Body::empty(), info()).unwrap();
    assert_eq!((req.uri().path(), req.uri().query()), ("/x", Some("y")));
    let req = to_http(&head("OPTIONS", "*", &[]), Body::empty(), info()).unwrap();
    assert_eq!(req.uri(), "*");
    assert_eq!(to_http(&head("PURGE", "/", &[]), Body::empty(), info()).unwrap().method(), "PURGE");
}

/// Records what a `Response` encodes.
#[derive(Debug, Default)]
struct Recorder {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    length: Option<BodyLength>,
    body: Vec<u8>,
}

impl Encode for Recorder {
    fn start(&mut self, status: u16) {
        self.status = status;
    }
    fn header(&mut self, name: &str, value: &[u8]) {
        self.headers.push((name.to_string(), value.to_vec()));
    }
    fn header_lines(&mut self, _: &[u8]) {}
    fn end_head(&mut self, _: u16, length: BodyLength, close: bool) -> bool {
        self.length = Some(length);
        close
    }
    fn body(&mut self, bytes: &[u8]) {
        self.body.extend_from_slice(bytes);
    }
    fn written(&self) -> usize {
        self.body.len()
    }
    fn discard(&mut self) {
        *self = Recorder::default();
    }
}

#[derive(Debug)]
struct NoWake;

impl Wake for NoWake {
    fn wake(&self) {}
}

/// What serving one request with `service` came to: the outcome, what was encoded inline, the
/// tasks spawned, and the messages sent back (after running the tasks once more).
fn serve<S, B>(service: S) -> (Outcome, Recorder, usize, Vec<Message>)
where
    S: tower_service::Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (tx, rx) = mpsc::channel::<Completion>();
    let path = Arc::new(ReturnPath { tx, waker: Arc::new(NoWake), wake_pending: Arc::default(), cache: None });
    let target = ServiceTarget::new(service);
    let mut rec = Recorder::default();
    let mut tasks = Vec::new();
    let outcome = {
        let mut res = Response::new(&mut rec, false, false);
        let mut handle = || Handle {
            path: Arc::clone(&path),
            key: 0,
            serial: 0,
            seq: 0,
            disconnected: Arc::new(AtomicBool::new(false)),
        };
        let req = to_http(&head("GET", "/", &[]), Body::empty(), info()).unwrap();
        let call = Call {
            res: &mut res,
            handle: &mut handle,
            spawn: &mut |t| tasks.push(t),
            http11: true,
            http2: false,
            head_only: false,
        };
        target.serve(req, call)
    };
    let spawned = tasks.len();
    for mut t in tasks {
        // (What the executor does: one poll; these tasks need no more.)
        let _ = t.as_mut().poll(&mut Context::from_waker(std::task::Waker::noop()));
    }
    (outcome, rec, spawned, rx.try_iter().map(|c| c.what).collect())
}

/// A service answering with `make()` at once.
#[derive(Clone)]
struct Now<F>(F);

impl<F: Fn() -> http::Response<B> + Clone, B> tower_service::Service<http::Request<Body>> for Now<F> {
    type Response = http::Response<B>;
    type Error = Infallible;
    type Future = Ready<Result<http::Response<B>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<Body>) -> Self::Future {
        ready(Ok((self.0)()))
    }
}

#[test]
fn a_ready_answer_with_a_small_whole_body_is_written_inline() {
    let (outcome, rec, spawned, sent) = serve(Now(|| {
        http::Response::builder().status(201).header("x-a", "1").body(Full::new(Bytes::from_static(b"made"))).unwrap()
    }));
    assert_eq!((outcome, spawned, sent.len()), (Outcome::Answered, 0, 0));
    assert_eq!((rec.status, &rec.body[..]), (201, &b"made"[..]));
    assert_eq!(rec.length, Some(BodyLength::Known(4)));
    assert_eq!(rec.headers, [("x-a".to_string(), b"1".to_vec())]);
    // A `String` body, and an empty one.
    let (outcome, rec, ..) = serve(Now(|| http::Response::new(String::from("text"))));
    assert_eq!((outcome, &rec.body[..]), (Outcome::Answered, &b"text"[..]));
    let (outcome, rec, ..) = serve(Now(|| http::Response::new(http_body_util::Empty::<Bytes>::new())));
    assert_eq!((outcome, rec.length), (Outcome::Answered, Some(BodyLength::Known(0))));
}

/// A body of one frame whose length it does not tell.
struct Unsized(Option<Bytes>);

impl http_body::Body for Unsized {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.take().map(|b| Ok(http_body::Frame::data(b))))
    }
}

#[test]
fn a_large_or_unsized_body_is_streamed_from_a_task() {
    // Over the whole-answer size: streamed with its length.
    let (outcome, rec, spawned, sent) =
        serve(Now(|| http::Response::new(Full::new(Bytes::from(vec![1; WHOLE_BODY_MAX as usize + 1])))));
    assert_eq!((outcome, spawned, rec.status), (Outcome::Deferred, 1, 0), "nothing inline");
    assert!(matches!(&sent[..], [Message::Reply(r), ..] if r.status() == 200), "{sent:?}");
    // Of unknown length (a stream of frames): streamed.
    let (outcome, _, spawned, sent) = serve(Now(|| http::Response::new(Unsized(Some(Bytes::from_static(b"a"))))));
    assert_eq!((outcome, spawned), (Outcome::Deferred, 1));
    assert!(matches!(&sent[..], [Message::Reply(_), ..]), "{sent:?}");
}

/// A service whose future is pending once, then answers.
#[derive(Clone)]
struct Later;

impl tower_service::Service<http::Request<Body>> for Later {
    type Response = http::Response<String>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<String>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<Body>) -> Self::Future {
        let mut polled = false;
        Box::pin(std::future::poll_fn(move |_| {
            if std::mem::replace(&mut polled, true) {
                Poll::Ready(Ok(http::Response::new("late".to_string())))
            } else {
                Poll::Pending
            }
        }))
    }
}

#[test]
fn a_pending_future_is_deferred_and_answers_whole_through_the_return_path() {
    let (outcome, rec, spawned, sent) = serve(Later);
    assert_eq!((outcome, spawned, rec.status), (Outcome::Deferred, 1, 0));
    match &sent[..] {
        [Message::Reply(r)] => assert_eq!(r.status(), 200),
        other => panic!("one whole reply expected, got {other:?}"),
    }
}

#[test]
fn a_failing_service_or_body_is_a_500() {
    #[derive(Clone)]
    struct Fails;
    impl tower_service::Service<http::Request<Body>> for Fails {
        type Response = http::Response<String>;
        type Error = std::io::Error;
        type Future = Ready<Result<http::Response<String>, std::io::Error>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), std::io::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: http::Request<Body>) -> Self::Future {
            ready(Err(std::io::Error::other("no")))
        }
    }
    let (outcome, rec, ..) = serve(Fails);
    assert_eq!((outcome, rec.status), (Outcome::Answered, 500));
    /// A body of one byte that fails.
    struct Broken;
    impl http_body::Body for Broken {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
            Poll::Ready(Some(Err(std::io::Error::other("broken"))))
        }
        fn size_hint(&self) -> http_body::SizeHint {
            http_body::SizeHint::with_exact(1)
        }
    }
    let (outcome, rec, ..) = serve(Now(|| http::Response::new(Broken)));
    assert_eq!((outcome, rec.status), (Outcome::Answered, 500));
}

#[test]
fn the_target_and_header_values_are_one_copy_sliced() {
    // Heads of every size class: up to 32, 128 and 512 bytes in one block, more in a `Vec`.
    for size in [1, 10, 40, 200, 600, 3000] {
        let values: Vec<Vec<u8>> = (0..4u8).map(|i| vec![b'a' + i; size]).collect();
        let headers: Vec<httparse::Header<'_>> =
            values.iter().map(|v| httparse::Header { name: "X-V", value: v }).collect();
        let req = to_http(&head("GET", "/p?q=1", &headers), Body::empty(), info()).unwrap();
        assert_eq!((req.uri().path(), req.uri().query()), ("/p", Some("q=1")), "{size}");
        let got: Vec<&[u8]> = req.headers().get_all("x-v").iter().map(|v| v.as_bytes()).collect();
        assert_eq!(got, values.iter().map(|v| &v[..]).collect::<Vec<_>>(), "{size}");
        // One buffer: each value starts where the one before ended.
        for pair in got.windows(2) {
            assert_eq!(pair[0].as_ptr().wrapping_add(pair[0].len()), pair[1].as_ptr(), "{size}");
        }
    }
    // What `http` refuses in a value still refuses the head; a root target and no headers.
    let bad = [httparse::Header { name: "X-A", value: b"a\x7fb" }];
    assert!(to_http(&head("GET", "/", &bad), Body::empty(), info()).is_err());
    let req = to_http(&head("GET", "/", &[]), Body::empty(), info()).unwrap();
    assert_eq!((req.uri(), req.headers().len()), (&http::Uri::from_static("/"), 0));
}

/// A body of several frames (one empty) with an exact size.
struct Frames3(std::collections::VecDeque<Bytes>);

impl http_body::Body for Frames3 {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(http_body::Frame::data(b))))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.0.iter().map(|b| b.len() as u64).sum())
    }
}

#[test]
fn a_whole_body_of_many_frames_is_written_in_order() {
    let (outcome, rec, ..) = serve(Now(|| {
        http::Response::new(Frames3([&b"ab"[..], b"", b"cd", b"e"].map(Bytes::from_static).into_iter().collect()))
    }));
    assert_eq!((outcome, &rec.body[..]), (Outcome::Answered, &b"abcde"[..]));
    assert_eq!(rec.length, Some(BodyLength::Known(5)));
}

/// Counts its drops.
struct Counted(Arc<std::sync::atomic::AtomicUsize>, #[allow(dead_code)] [u64; 16]);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn a_recycled_box_is_dropped_and_its_block_reused_for_the_same_layout() {
    let drops = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let first = super::pool::boxed(Counted(Arc::clone(&drops), [1; 16]));
    let at = std::ptr::from_ref::<Counted>(&first).addr();
    super::pool::recycle(first);
    assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 1, "the value dropped");
    // Another layout does not take it; the same layout does.
    let other = super::pool::boxed([7u8; 3]);
    assert_eq!(*other, [7; 3]);
    let again = super::pool::boxed(Counted(Arc::clone(&drops), [2; 16]));
    assert_eq!(std::ptr::from_ref::<Counted>(&again).addr(), at, "the same block");
    assert_eq!(again.1, [2; 16]);
    drop(again);
    assert_eq!(drops.load(std::sync::atomic::Ordering::Relaxed), 2, "a pooled box drops as a box");
}
