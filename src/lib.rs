//! hsys: a high-performance HTTP/1.1 server for Linux, after the Windows HTTP Server API (http.sys).
//!
//! # Layout
//! - [`url`]: URL prefixes (`http://host:port/path/`), their namespace and http.sys precedence (sans-I/O).
//! - [`h1`]: the HTTP/1 protocol (sans-I/O): head parsing, body framing, response encoding, the
//!   connection state machine.
//! - [`server`]: thread-per-core event loops that own the sockets; building, running and stopping.
//! - [`group`]: URL groups (prefixes bound to an inline handler or a request queue) and the live routing table.
//! - [`queue`]: request queues served by application threads (`receive`, blocking or async).
//! - [`body`]: a queued request's body on its way to the application (bounded, streamed).
//! - [`stream`]: streamed answers to queued requests, written from any thread with back-pressure.
//! - [`stats`]: per-thread counters, summed on read.
//! - [`limits`]: every limit and timeout, with its documented default.
//! - [`error`]: the public error type.
#![deny(missing_debug_implementations)]

pub mod body;
pub mod error;
pub mod group;
pub mod h1;
pub mod limits;
pub mod queue;
pub mod server;
pub mod stats;
pub mod stream;
pub mod url;

pub use error::{Error, ErrorKind};
pub use group::{GroupId, GroupStats, Target, UrlGroups};
pub use h1::response::{Prepared, Reply};
pub use h1::{Handler, IgnoreBody, Request, Response, Version, is_standard_method};
pub use limits::{Limits, Strictness, Timeouts};
pub use queue::{QueueStats, QueuedRequest, RequestQueue};
pub use server::{Backend, Server, ServerBuilder, ShutdownHandle};
pub use stats::Snapshot;
pub use stream::ResponseWriter;
