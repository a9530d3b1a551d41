//! What the application layer knows of the response cache: an answer's [`CachePolicy`], and the
//! ticket a queued request carries so that its answer can be stored ([`CacheTicket`]). The store
//! itself (and the rules of what is stored) lives in `crate::cache`, which implements
//! [`CacheSink`]; nothing here knows it.

use std::net::IpAddr;
use std::sync::Arc;

use super::reply::Prepared;

/// Whether and how long the server may keep an answer and serve it again itself (http.sys
/// `HTTP_CACHE_POLICY`). The default, [`NoCache`](CachePolicy::NoCache), stores nothing.
///
/// A stored answer is served by the I/O thread to later `GET` and `HEAD` requests that route to
/// the same URL (same port, `Host`, normalised path), before any handler or queue sees them:
/// with a fresh `Date`, the request's own `Connection`, and `304 Not Modified` to a conditional
/// request its `ETag` or `Last-Modified` satisfies. Only some requests and answers are stored
/// (http.sys's rules: a `GET` without a body, query string, `Authorization`, `Range`, …; an
/// answer whole in one call, not empty, at most 256 KiB with headers of at most 1 KiB): see the
/// README's cache section.
///
/// ```
/// use hsys::{CachePolicy, Prepared};
///
/// let page = Prepared::new(200, [("Content-Type", &b"text/html"[..])], b"<p>hello</p>")?
///     .cache(CachePolicy::TimeToLive(60));
/// assert_eq!(page.cache_policy(), CachePolicy::TimeToLive(60));
/// # Ok::<(), hsys::ResponseError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CachePolicy {
    /// Not stored (the default).
    #[default]
    NoCache,
    /// Stored until flushed ([`Server::flush_cache`](crate::Server::flush_cache), a change of the
    /// URL prefixes it lay under) or evicted for room.
    UserInvalidates,
    /// Stored for this many seconds at most (also flushed and evicted as above). `0` stores
    /// nothing.
    TimeToLive(u32),
}

impl CachePolicy {
    /// Whether an answer with this policy may be stored at all.
    #[inline]
    pub fn stores(self) -> bool {
        !matches!(self, CachePolicy::NoCache | CachePolicy::TimeToLive(0))
    }
}

/// Where a request was routed, as the cache keys and revalidates an entry: the local port and
/// address it came in on and the URL group that answered it, and the routing table's generation
/// then (an answer routed by a table that has changed since is not stored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Routing {
    /// The local port.
    pub port: u16,
    /// The local address.
    pub local_ip: IpAddr,
    /// The URL group's index (0 for a server without URL groups).
    pub group: usize,
    /// The routing table's generation the request was routed by.
    pub generation: u64,
}

/// An answer the application gave whole, as the cache would store it.
#[derive(Clone, Copy, Debug)]
pub struct Given<'a> {
    /// The status.
    pub status: u16,
    /// The header lines as `name: value\r\n` (validated; no framing header).
    pub lines: &'a [u8],
    /// The body.
    pub body: Body<'a>,
    /// The policy the application gave it.
    pub policy: CachePolicy,
}

/// A stored answer's body: bytes to copy, or a prepared answer's shared bytes (kept, not copied).
#[derive(Clone, Copy, Debug)]
pub enum Body<'a> {
    /// Bytes written into the output.
    Bytes(&'a [u8]),
    /// A [`Prepared`] answer's shared body.
    Shared(&'a Arc<[u8]>),
}

impl Body<'_> {
    /// The body's length.
    pub fn len(&self) -> usize {
        match self {
            Body::Bytes(b) => b.len(),
            Body::Shared(b) => b.len(),
        }
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'a> Given<'a> {
    /// A prepared answer with `policy`.
    pub fn prepared(p: &'a Prepared, policy: CachePolicy) -> Self {
        Given { status: p.status, lines: p.headers(), body: Body::Shared(&p.body), policy }
    }
}

/// What stores an answer given to a queued request (the cache, implemented in `crate::cache`):
/// called on the application thread that answers.
pub trait CacheSink: Send + Sync + std::fmt::Debug {
    /// Offers `answer` to the request routed by `routing` with `target` (as sent), `host` (its
    /// `Host` header) and normalised `path`; stored if the rules allow.
    fn offer(&self, routing: &Routing, target: &str, host: Option<&[u8]>, path: &str, answer: &Given<'_>);
}
