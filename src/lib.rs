//! hsys: a high-performance HTTP/1.1 server for Linux, after the Windows HTTP Server API (http.sys).
//!
//! # Layout
//! The public API is the items re-exported here and the [`limits`] module; every other module is
//! private (`app` and `h1` are public only with the unstable `internals` feature, for the fuzz
//! targets and benches: not for applications).
//! - `url`: URL prefixes (`http://host:port/path/`), their namespace and http.sys precedence (sans-I/O).
//! - `h1`: the HTTP/1 codec (sans-I/O): head parsing, body framing, answer encoding, the
//!   connection state machine.
//! - `server`: thread-per-core event loops that own the sockets; building, running and stopping.
//! - `group`: URL groups (prefixes bound to an inline handler or a request queue) and the live routing table.
//! - `app`: the application layer, the same for every protocol: `Request`, `Response`, `Reply`,
//!   `Prepared`, `Handler`, request queues, streamed bodies both ways.
//! - `pipe`: the byte pipes between I/O and application threads (a leaf).
//! - `semantics`: HTTP semantics every protocol shares (status classes, tokens; a leaf).
//! - `stats`: per-thread counters, summed on read.
//! - [`limits`]: every limit and timeout, with its documented default (public: the `DEFAULT_*`
//!   constants are part of the API, e.g. for a command line's defaults).
//! - `error`: the public error type.
#![deny(missing_debug_implementations)]

// Internal modules. With the `internals` feature (unstable, for the fuzz targets and benches
// only) `app` and `h1` are public but hidden; their items are `pub` either way, so only the
// module's visibility flips and neither build sees a private type in a public interface.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod app;
#[cfg(not(feature = "internals"))]
mod app;
mod error;
mod group;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod h1;
#[cfg(not(feature = "internals"))]
mod h1;
pub mod limits;
mod pipe;
mod semantics;
mod server;
mod stats;
mod url;

pub use app::{
    BodyKind, Handler, IgnoreBody, Prepared, QueueStats, QueuedRequest, Reply, Request, RequestQueue, Response,
    ResponseError, ResponseWriter, Version, is_standard_method,
};
pub use error::{Error, ErrorKind};
pub use group::{GroupId, GroupStats, Target, UrlGroups};
pub use limits::{Limits, Strictness, Timeouts};
pub use server::{Backend, Server, ServerBuilder, ShutdownHandle};
pub use stats::Snapshot;
