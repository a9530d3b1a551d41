//! Hosting a tower service (an axum `Router`, say) on a URL group, with the `http` crate's types at
//! the boundary (the `tower` feature, on by default).
//!
//! A group bound to [`Target::service`](crate::Target::service) hands each request, as an
//! `http::Request<`[`Body`]`>`, to the service, on the I/O thread that read it. hsys's guards
//! stay in front: routing by URL prefix (`400 Invalid Hostname`, `404` for no prefix), strict
//! parsing, limits, timeouts and counters apply as to any group.
//!
//! - **The fast path.** The service's future is polled once, at once, inline. If it is done and
//!   its response body has an exact size of at most 64 KiB that is all in hand (a `String`,
//!   `Full<Bytes>`, axum's `Json`…), the answer is written straight into the connection's
//!   output, as an inline handler's is: no thread hop, no task; the future's box is the block the
//!   thread's previous future left (`pool`), not a fresh allocation.
//! - **Otherwise** the future becomes a task of the I/O thread's own executor (woken through the
//!   thread's waker from any thread; no cross-thread hop when woken from the thread itself,
//!   by the request body arriving or the client taking a streamed answer). Its answer returns
//!   as a queued request's does, in pipeline order: whole when its body is small and of exact
//!   size, else streamed (`Content-Length` when the size hint is exact, else chunked) as the
//!   client takes it.
//! - A service not ready at once (`poll_ready` pending) is waited for in the task.
//! - A future that panics answers its request `500` (or, once its answer's head is out, cuts
//!   the answer and closes the connection) and nothing else; a client that goes away drops its
//!   futures; a graceful stop waits for futures in flight up to the shutdown timeout.
//! - An error from the service, or from a body gathered whole, is a `500`; from a body being
//!   streamed, a cut answer (the connection closes).
//! - Trailers a streamed body yields go out as chunked trailers (`ResponseWriter::set_trailers`);
//!   with a `Content-Length` answer they are dropped. Over HTTP/2 they go out as the HEADERS
//!   frame that ends the stream, whatever the framing (a small body gathered whole with trailers
//!   is then sent through a writer instead of inline).
//! - Not supported yet: `1xx` responses and upgrades (a `101` is a misuse: `500`).
//!
//! Request extensions: a [`RequestInfo`] (peer and local address, the URL group, the matched
//! prefix's path, the TLS details).

mod body;
mod pool;
mod request;
mod respond;
mod serve;

pub use body::Body;
pub use request::RequestInfo;
pub(crate) use request::to_http;
pub use respond::WHOLE_BODY_MAX;
pub(crate) use serve::Call;
pub use serve::ServiceTarget;

/// The error type services and bodies convert theirs into (as tower and hyper do).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
