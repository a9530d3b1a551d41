//! The application layer, the same whichever protocol carried a request: the request view
//! ([`Request`]), the answer writer ([`Response`]) and owned answers ([`Reply`], [`Prepared`]),
//! the inline [`Handler`], request queues ([`RequestQueue`], [`QueuedRequest`]) with streamed
//! bodies both ways ([`ResponseWriter`]).
//!
//! A protocol codec (`h1`) parses bytes into a [`Request`] and hands it to a `Service`; it
//! encodes answers through the `Encode` seam and takes deferred ones through `Answer`. Nothing
//! here knows a wire format, a socket or an event loop.

pub(crate) mod cache;
pub(crate) mod handler;
pub(crate) mod queue;
pub(crate) mod queued;
pub(crate) mod reply;
pub(crate) mod request;
pub(crate) mod response;
pub mod service; // reachable only with the `internals` feature (`app` is private otherwise)
mod tls_info;
pub(crate) mod writer;

pub use cache::CachePolicy;
pub use handler::{Handler, IgnoreBody};
pub use queue::{QueueStats, RequestQueue};
pub use queued::QueuedRequest;
pub use reply::{Prepared, Reply};
pub use request::{BodyKind, Request, Version, is_standard_method};
pub use response::{Response, ResponseError};
pub use tls_info::{TlsInfo, TlsVersion};
pub use writer::ResponseWriter;
