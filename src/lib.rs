//! hsys: a high-performance HTTP/1.1 server for Linux, after the Windows HTTP Server API (http.sys).
//!
//! An application binds addresses, then serves one inline [`Handler`] for every request
//! ([`ServerBuilder::serve`]) or routes by URL prefix ([`ServerBuilder::serve_groups`]) to
//! inline handlers and [`RequestQueue`]s that application threads drain, as with http.sys.
//! [`Server::run`] blocks until a [`ShutdownHandle`] stops it (dropping the server stops it too).
//!
//! ```
//! use hsys::{Reply, Request, RequestQueue, Response, Server, Target, UrlGroups};
//!
//! // Two URL groups: `/api/` answered from a queue by application threads, the rest inline.
//! let port = 8080;
//! # let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
//! let queue = RequestQueue::new(1000);
//! let mut groups = UrlGroups::new();
//! let api = groups.create_group(Target::Queue(queue.clone()));
//! groups.add_url(api, &format!("http://127.0.0.1:{port}/api/"))?;
//! let site = groups.create_group(Target::inline(|_: &Request<'_>, res: &mut Response<'_>| {
//!     let _ = res.header("Content-Type", "text/plain").body(b"hello");
//! }));
//! groups.add_url(site, &format!("http://127.0.0.1:{port}/"))?;
//!
//! // Listens where the prefixes say (here 127.0.0.1:8080).
//! let server = Server::builder().serve_groups(groups)?;
//! let worker = std::thread::spawn(move || {
//!     // Ends (`None`) when the server has stopped.
//!     while let Some(req) = queue.receive() {
//!         let body = format!("queued {}", req.path());
//!         req.respond(Reply::new(200).header("Content-Type", "text/plain").body(body.into_bytes()));
//!     }
//! });
//!
//! let stop = server.shutdown_handle();
//! # let addr = server.local_addrs()[0];
//! # let get = |path: &str| {
//! #     use std::io::{Read, Write};
//! #     let mut c = std::net::TcpStream::connect(addr).unwrap();
//! #     write!(c, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
//! #     let mut got = String::new();
//! #     c.read_to_string(&mut got).unwrap();
//! #     got
//! # };
//! # assert!(get("/").ends_with("\r\n\r\nhello"));
//! # assert!(get("/api/x").ends_with("\r\n\r\nqueued /api/x"));
//! // A signal handler (or any thread) stops it; `run` returns once it has stopped.
//! std::thread::spawn(move || stop.shutdown());
//! server.run()?;
//! worker.join().unwrap();
//! # Ok::<(), hsys::Error>(())
//! ```
//!
//! # Layout
//! The public API is the items re-exported here and the [`limits`] module; every other module is
//! private (`app` and `h1` are public only with the unstable `internals` feature, for the fuzz
//! targets and benches: not for applications).
//! - `url`: URL prefixes (`http(s)://host:port/path/`), their namespace and http.sys precedence (sans-I/O).
//! - `h1`: the HTTP/1 codec (sans-I/O): head parsing, body framing, answer encoding, the
//!   connection state machine.
//! - `hpack`: HPACK, HTTP/2's header compression (sans-I/O; a leaf): decoder and encoder.
//! - `server`: thread-per-core event loops that own the sockets; building, running and stopping.
//! - `group`: URL groups (prefixes bound to an inline handler or a request queue) and the live routing table.
//! - `cache`: the response cache (http.sys's kernel cache): what is stored, the shared store,
//!   conditional requests; hits are served by the I/O threads (sans-I/O).
//! - `app`: the application layer, the same for every protocol: `Request`, `Response`, `Reply`,
//!   `Prepared`, `Handler`, request queues, streamed bodies both ways.
//! - `pipe`: the byte pipes between I/O and application threads (a leaf).
//! - `semantics`: HTTP semantics every protocol shares (status classes, tokens; a leaf).
//! - `stats`: per-thread counters and the request duration histogram, summed on read.
//! - `access_log`: the access log ([`AccessLog`]: W3C or NCSA lines, formatted on the I/O
//!   threads, written by a thread of its own).
//! - `metrics`: the Prometheus text exposition of the counters ([`Metrics`]).
//! - [`limits`]: every limit and timeout, with its documented default (public: the `DEFAULT_*`
//!   constants are part of the API, e.g. for a command line's defaults).
//! - `error`: the public error type.
//! - [`systemd`]: socket activation (`LISTEN_FDS`) and `sd_notify`, without libsystemd.
//! - `tower` (feature `tower`, on by default): hosting a tower service (an axum `Router`) on a URL
//!   group with the `http` crate's types (`Target::service`, `Body`, `RequestInfo`).
#![deny(missing_debug_implementations)]

// Internal modules. With the `internals` feature (unstable, for the fuzz targets and benches
// only) `app`, `h1`, `hpack` and `tls` are public but hidden; their items are `pub` either way, so only the
// module's visibility flips and neither build sees a private type in a public interface.
// (`access_log` too, for the `access_line` fuzz target: only its `line` module is public in it.)
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod access_log;
#[cfg(not(feature = "internals"))]
mod access_log;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod app;
#[cfg(not(feature = "internals"))]
mod app;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod cache;
#[cfg(not(feature = "internals"))]
mod cache;
mod error;
mod group;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod h1;
#[cfg(not(feature = "internals"))]
mod h1;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod h2;
#[cfg(not(feature = "internals"))]
mod h2;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod hpack;
#[cfg(not(feature = "internals"))]
mod hpack;
pub mod limits;
mod metrics;
mod pipe;
mod semantics;
mod server;
mod stats;
pub mod systemd;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod tls;
#[cfg(not(feature = "internals"))]
mod tls;
#[cfg(feature = "tower")]
mod tower;
mod url;

pub use access_log::{AccessLog, LogField, LogFormat, Roll};
pub use app::{
    BodyKind, CachePolicy, Handler, IgnoreBody, Prepared, QueueStats, QueuedRequest, Reply, Request, RequestQueue,
    Response, ResponseError, ResponseWriter, TlsInfo, TlsVersion, Version, is_standard_method,
};
pub use cache::CacheLimits;
pub use error::{Error, ErrorKind};
pub use group::{GroupId, GroupStats, Target, UrlGroups};
pub use limits::{Limits, MinRate, Strictness, Timeouts};
pub use metrics::{METRICS_CONTENT_TYPE, Metrics};
pub use server::{Backend, Server, ServerBuilder, ShutdownHandle};
pub use stats::{CacheStats, DURATION_BOUNDS, Http2Stats, RequestDurations, Snapshot, TlsFailures};
pub use tls::{
    bindings::BindingKey,
    config::{CertBinding, ClientCa, ClientCertificates, TlsCertificate},
};
pub use url::Scheme;

#[cfg(feature = "tower")]
pub use tower::{Body, BoxError, RequestInfo, ServiceTarget, WHOLE_BODY_MAX};

#[cfg(test)]
mod tests {
    /// README's library example is the crate doc's (which runs as a doctest), less the lines the
    /// doctest hides: the README cannot drift from code that is checked.
    #[test]
    fn the_readme_example_is_the_crate_doc_example() {
        let readme = include_str!("../README.md");
        let start = readme.find("```rust\n").map(|i| i + "```rust\n".len()).expect("README has a rust example");
        let end = start + readme[start..].find("```").expect("the example ends");
        let doc: String = include_str!("lib.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("//!"))
            .map(|l| l.strip_prefix(' ').unwrap_or(l))
            .skip_while(|l| *l != "```")
            .skip(1)
            .take_while(|l| *l != "```")
            .filter(|l| !l.starts_with("# ") && *l != "#")
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(&readme[start..end], doc);
    }
}
