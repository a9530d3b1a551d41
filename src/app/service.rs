//! What a protocol connection hands each request to ([`Service`]): the seam between a codec
//! (HTTP/1 today) and the server's dispatch, which answers inline or defers to a queue.

use super::handler::Handler;
use super::request::Request;
use super::response::Response;
#[allow(unused_imports)] // for the docs
use crate::limits::Limits;

/// What became of a request handed to a [`Service`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The answer was written into the `Response`.
    Answered,
    /// The answer comes later through the codec's `complete` with this request's sequence number;
    /// the `Response` must be left untouched.
    Deferred,
}

/// How a request body reaches the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyMode {
    /// Collected whole (de-chunked, bounded by the body-size limit) before [`Service::call`],
    /// which sees it in [`Request::body`]: for answers given inline.
    Buffered,
    /// [`Service::call`] runs when the head arrives and defers; the body follows in pieces
    /// through [`Service::body_data`] as it arrives, ended by [`Service::body_end`].
    Streamed,
    /// [`Service::call`] runs when the head arrives and answers without the body, which is
    /// drained after the answer (or the connection closed; see [`Handler::reads_body`]).
    Unread,
}

impl BodyMode {
    /// How an inline handler takes the body of `req`: collected, or left unread.
    pub fn inline<H: Handler + ?Sized>(handler: &H, req: &Request<'_>) -> Self {
        if handler.reads_body(req) { BodyMode::Buffered } else { BodyMode::Unread }
    }
}

/// How the body of one request is taken: how it reaches the service, and how large it may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyPlan {
    /// How the body reaches the service.
    pub mode: BodyMode,
    /// The most body bytes taken (`None`: no limit); a declared `Content-Length` over it is a
    /// `413` before the service is called, a body that grows past it a `413` when it does.
    pub max_size: Option<u64>,
}

/// An answer given inline, as an access log needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    /// Its status.
    pub status: u16,
    /// Its bytes, head included (a file or shared body counted whole; a stream's body, not
    /// known yet, not at all).
    pub bytes: u64,
}

/// What a connection hands each request to: a [`Handler`] (always answers inline) or the
/// server's dispatcher (routes, and may queue the request for application threads).
pub trait Service {
    /// Answers `req` into `res`, or defers it; `seq` identifies it for the codec's `complete`.
    fn call(&mut self, req: &Request<'_>, res: &mut Response<'_>, seq: u32) -> Outcome;

    /// How the body of `req` (which has one) is to be taken; `max_size` is the server's
    /// [`Limits::max_body_size`] (a URL group may set its own).
    fn body_plan(&mut self, _req: &Request<'_>, max_size: Option<u64>) -> BodyPlan {
        BodyPlan { mode: BodyMode::Buffered, max_size }
    }

    /// Whether deferred request `seq` can take more body now; `false` pauses reading until the
    /// codec is told to resume. The service must arrange that wake-up when it says no.
    fn body_room(&mut self, _seq: u32) -> bool {
        true
    }

    /// The next piece of the (de-chunked) body of streamed request `seq`.
    fn body_data(&mut self, _seq: u32, _data: &[u8]) {}

    /// The codec is done calling for request `seq`: `sent` is the answer when it was given
    /// inline (also a `500` after a panic), `None` when it is deferred. For an access log (the
    /// server's dispatch writes the request's line here, or keeps what it needs until a
    /// deferred answer comes).
    fn called(&mut self, _req: &Request<'_>, _seq: u32, _sent: Option<Sent>) {}

    /// Deferred request `seq` was answered by the codec itself (HTTP/2: its streamed body grew
    /// past its limit, `413`): `sent` completes the line `called` began. For an access log.
    fn answered(&mut self, _seq: u32, _sent: Sent) {}

    /// The body of streamed request `seq` ended: `None` when whole, `Some(status)` when it failed
    /// (`400` malformed, `413` too large, `408` too slow); the connection has answered that status.
    fn body_end(&mut self, _seq: u32, _error: Option<u16>) {}
}

/// Cap on a body collected for an inline answer when [`Limits::max_body_size`] is `None`.
pub const INLINE_BODY_CAP: u64 = 64 * 1024 * 1024;

/// Adapts a [`Handler`] to a [`Service`] that always answers inline (for the fuzz targets and
/// benches: the server dispatches through its own `Service`).
#[cfg(any(test, feature = "internals"))]
#[derive(Debug)]
pub struct Inline<'a, H: ?Sized>(pub &'a H);

#[cfg(any(test, feature = "internals"))]
impl<H: Handler + ?Sized> Service for Inline<'_, H> {
    #[inline]
    fn call(&mut self, req: &Request<'_>, res: &mut Response<'_>, _seq: u32) -> Outcome {
        self.0.handle(req, res);
        Outcome::Answered
    }

    fn body_plan(&mut self, req: &Request<'_>, max_size: Option<u64>) -> BodyPlan {
        BodyPlan { mode: BodyMode::inline(self.0, req), max_size }
    }
}
