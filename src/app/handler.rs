//! The application's inline handler: [`Handler`], called on the I/O thread for each request.

use super::request::Request;
use super::response::Response;

/// The fast-path request handler: runs inline on the I/O thread.
pub trait Handler: Send + Sync + 'static {
    /// Answers `req` by writing into `res`. A handler that returns without answering produces a
    /// `500`; one that panics produces a `500` and a closed connection.
    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>);

    /// Whether the answer to `req` (which has a body) needs its body. `true` (the default): hsys
    /// collects the body (sending `100 Continue` first when the client asked for it) up to the
    /// body-size limit, and [`handle`](Handler::handle) sees it in [`Request::body`]. `false`: the
    /// handler runs as soon as the head is in, no `100 Continue` is sent, and the body is dropped
    /// as it arrives (or the connection closed after the answer when the client waits for
    /// `100 Continue` or the body is larger than [`Limits::max_drain_bytes`](crate::Limits::max_drain_bytes)).
    fn reads_body(&self, _req: &Request<'_>) -> bool {
        true
    }
}

/// A [`Handler`] that answers from the head alone: request bodies are never collected (see
/// [`Handler::reads_body`]).
#[derive(Debug, Clone, Copy)]
pub struct IgnoreBody<F>(pub F);

impl<F> Handler for IgnoreBody<F>
where
    F: Fn(&Request<'_>, &mut Response<'_>) + Send + Sync + 'static,
{
    #[inline]
    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
        (self.0)(req, res)
    }

    fn reads_body(&self, _req: &Request<'_>) -> bool {
        false
    }
}

impl<F> Handler for F
where
    F: Fn(&Request<'_>, &mut Response<'_>) + Send + Sync + 'static,
{
    #[inline]
    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
        self(req, res)
    }
}
