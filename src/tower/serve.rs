//! A tower service, type-erased once ([`ServiceTarget`]), and how one request is served: the
//! service's future polled once inline, the answer written at once when whole (the fast path),
//! else the future handed to the I/O thread's executor.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::response::Parts;
use http_body::Body as HttpBody;

use super::respond::{self, Responder, WHOLE_BODY_MAX, Whole};
use super::{Body, BoxError};
use crate::app::Response;
use crate::app::queued::Handle;
use crate::app::service::Outcome;

/// A future run by an I/O thread's executor.
pub(crate) type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// What serving one request needs from the dispatcher.
pub(crate) struct Call<'c, 'r> {
    /// Where an inline answer goes.
    pub res: &'c mut Response<'r>,
    /// Makes the request's handle (the way back for a deferred answer).
    pub handle: &'c mut dyn FnMut() -> Handle,
    /// Hands a future to the thread's executor (it is polled at once with its own waker).
    pub spawn: &'c mut dyn FnMut(Task),
    /// The request is HTTP/1.1.
    pub http11: bool,
    /// The request is HTTP/2 (a streamed body's trailers go out as a trailing HEADERS frame).
    pub http2: bool,
    /// The request is `HEAD`.
    pub head_only: bool,
}

/// How a service's answer stands once its future is done.
enum Done<B> {
    /// Whole, in hand (or the service failed: hsys's `500`).
    Whole(Whole),
    /// To stream: its head, and its body not polled yet.
    Stream(Parts, B),
    /// Gathered whole, with trailers HTTP/2 can send (as the HEADERS that end the stream): sent
    /// through a writer as a stream is.
    Trailed(Parts, respond::Frames, http::HeaderMap),
}

/// A tower service behind one virtual call.
trait Erased: Send + Sync {
    fn serve(&self, req: http::Request<Body>, call: Call<'_, '_>) -> Outcome;
}

/// A tower service as a URL group's target (see [`Target::service`](crate::Target::service)):
/// cloned for each request, as hyper does.
#[derive(Clone)]
pub struct ServiceTarget(Arc<dyn Erased>);

impl ServiceTarget {
    /// Whether `self` and `other` are the same service (clones of one).
    pub(crate) fn same(&self, other: &ServiceTarget) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.0), Arc::as_ptr(&other.0))
    }
}

impl std::fmt::Debug for ServiceTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceTarget(..)")
    }
}

impl ServiceTarget {
    /// Erases `service`.
    pub(crate) fn new<S, B>(service: S) -> Self
    where
        S: tower_service::Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        ServiceTarget(Arc::new(Hosted(service)))
    }

    /// Serves `req`: `Answered` when the answer was written into `call.res`, `Deferred` when it
    /// comes through the request's handle.
    pub(crate) fn serve(&self, req: http::Request<Body>, call: Call<'_, '_>) -> Outcome {
        self.0.serve(req, call)
    }
}

/// A service with its concrete type.
struct Hosted<S>(S);

/// The service's whole work for one request, in one future (so one block, pooled): wait until it
/// is ready, call it, await its response, and gather a small body of exact size.
async fn answer<S, B>(mut service: S, req: http::Request<Body>, http2: bool) -> Done<B>
where
    S: tower_service::Service<http::Request<Body>, Response = http::Response<B>>,
    B: HttpBody<Data = Bytes>,
{
    if std::future::poll_fn(|cx| service.poll_ready(cx)).await.is_err() {
        return Done::Whole(Whole::error());
    }
    let Ok(response) = service.call(req).await else { return Done::Whole(Whole::error()) };
    let (parts, body) = response.into_parts();
    if body.size_hint().exact().is_none_or(|n| n > WHOLE_BODY_MAX) {
        return Done::Stream(parts, body);
    }
    match respond::gather(body).await {
        Some((frames, Some(trailers))) if http2 => Done::Trailed(parts, frames, trailers),
        Some((frames, _)) => Done::Whole(Whole::new(parts, frames)),
        None => Done::Whole(Whole::error()),
    }
}

/// A deferred answer's task: the rest of the service's work, then the answer sent.
async fn finish<B, F>(first: Option<Done<B>>, mut future: Pin<Box<F>>, responder: Responder)
where
    B: HttpBody<Data = Bytes> + Send,
    F: Future<Output = Done<B>> + Send,
{
    let done = match first {
        Some(done) => done,
        None => future.as_mut().await,
    };
    // (Done: its block serves the thread's next request.)
    super::pool::recycle(future);
    match done {
        Done::Whole(whole) => responder.respond_whole(whole),
        Done::Stream(parts, body) => respond::stream(parts, body, responder).await,
        Done::Trailed(parts, frames, trailers) => respond::stream_gathered(parts, frames, &trailers, responder).await,
    }
}

impl<S, B> Erased for Hosted<S>
where
    S: tower_service::Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn serve(&self, req: http::Request<Body>, call: Call<'_, '_>) -> Outcome {
        // (In the block a previous request's future left on this thread: no `malloc`.)
        let mut future = super::pool::boxed(answer(self.0.clone(), req, call.http2));
        // The first poll, inline: a waker that does nothing (the task's own replaces it, below,
        // if the future is not done).
        let polled = catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut Context::from_waker(Waker::noop()))));
        let first = match polled {
            Ok(Poll::Ready(Done::Whole(whole))) => {
                whole.write_to(call.res);
                drop(whole);
                super::pool::recycle(future);
                return Outcome::Answered;
            }
            Ok(Poll::Ready(done)) => Some(done),
            Ok(Poll::Pending) => None,
            Err(_) => {
                // That request's `500`, and nothing else: the connection goes on.
                let _ = catch_unwind(AssertUnwindSafe(move || drop(future)));
                Whole::error().write_to(call.res);
                return Outcome::Answered;
            }
        };
        let responder = Responder::new((call.handle)(), call.http11, call.http2, call.head_only);
        (call.spawn)(Box::pin(finish(first, future, responder)));
        Outcome::Deferred
    }
}
