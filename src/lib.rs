//! hsys: a high-performance HTTP/1.1 server for Linux, after the Windows HTTP Server API (http.sys).
//!
//! # Layout
//! - [`url`]: URL prefixes (`http://host:port/path/`), their namespace and http.sys precedence (sans-I/O).
//! - [`h1`]: the HTTP/1 codec (sans-I/O): head parsing, body framing, answer encoding, the
//!   connection state machine.
//! - [`server`]: thread-per-core event loops that own the sockets; building, running and stopping.
//! - [`group`]: URL groups (prefixes bound to an inline handler or a request queue) and the live routing table.
//! - [`app`]: the application layer, the same for every protocol: `Request`, `Response`, `Reply`,
//!   `Prepared`, `Handler`, request queues, streamed bodies both ways.
//! - `pipe`: the byte pipes between I/O and application threads (a leaf).
//! - `semantics`: HTTP semantics every protocol shares (status classes, tokens; a leaf).
//! - [`stats`]: per-thread counters, summed on read.
//! - [`limits`]: every limit and timeout, with its documented default.
//! - [`error`]: the public error type.
#![deny(missing_debug_implementations)]

pub mod app;
pub mod error;
pub mod group;
pub mod h1;
pub mod limits;
mod pipe;
mod semantics;
pub mod server;
pub mod stats;
pub mod url;

pub use app::{
    BodyKind, Handler, IgnoreBody, Prepared, QueueStats, QueuedRequest, Reply, Request, RequestQueue, Response,
    ResponseWriter, Version, is_standard_method,
};
pub use error::{Error, ErrorKind};
pub use group::{GroupId, GroupStats, Target, UrlGroups};
pub use limits::{Limits, Strictness, Timeouts};
pub use server::{Backend, Server, ServerBuilder, ShutdownHandle};
pub use stats::Snapshot;
