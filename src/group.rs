//! URL groups: sets of URL prefixes bound to a target (an inline handler or a request queue),
//! and the routing table the I/O threads read without a lock.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::app::{Handler, RequestQueue};
use crate::error::Error;
#[cfg(test)]
use crate::url::Scheme;
use crate::url::{Host, Namespace, RegisterError, UrlPrefix};

/// Where a URL group's requests go.
#[derive(Clone)]
pub enum Target {
    /// Answered inline on the I/O thread (the fast path).
    Inline(Arc<dyn Handler>),
    /// Queued for application threads.
    Queue(RequestQueue),
    /// Served by a tower service (an axum `Router`, say) on the I/O threads: see
    /// [`Target::service`].
    #[cfg(feature = "tower")]
    Service(crate::tower::ServiceTarget),
}

impl Target {
    /// An inline handler.
    pub fn inline<H: Handler>(handler: H) -> Self {
        Target::Inline(Arc::new(handler))
    }

    /// A tower service (an axum `Router` is one), cloned for each request and called on the I/O
    /// thread that read it with an `http::Request<`[`Body`](crate::Body)`>`. Its future is polled
    /// once inline: done, with a small body in hand, its answer is written at once (the fast
    /// path); otherwise it runs on the thread's executor and its answer follows in pipeline
    /// order, streamed if its body is large or of unknown length. A service not ready at once is
    /// waited for; its errors are `500`s. See the `tower` feature's notes on [`Body`](crate::Body).
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::future::{Ready, ready};
    /// use std::task::{Context, Poll};
    /// use hsys::{Body, Server, Target, UrlGroups};
    ///
    /// /// Says which path was asked for.
    /// #[derive(Clone)]
    /// struct Echo;
    ///
    /// impl tower_service::Service<http::Request<Body>> for Echo {
    ///     type Response = http::Response<String>;
    ///     type Error = Infallible;
    ///     type Future = Ready<Result<Self::Response, Infallible>>;
    ///
    ///     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
    ///         Poll::Ready(Ok(()))
    ///     }
    ///
    ///     fn call(&mut self, req: http::Request<Body>) -> Self::Future {
    ///         let info = req.extensions().get::<hsys::RequestInfo>().map(|i| i.prefix_path.clone());
    ///         let text = format!("{} under {}", req.uri().path(), info.as_deref().unwrap_or("?"));
    ///         ready(Ok(http::Response::builder().header("content-type", "text/plain").body(text).unwrap()))
    ///     }
    /// }
    ///
    /// # let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    /// let mut groups = UrlGroups::new();
    /// let app = groups.create_group(Target::service(Echo)); // an axum `Router` goes here the same way
    /// groups.add_url(app, &format!("http://127.0.0.1:{port}/app/"))?;
    /// let server = Server::builder().serve_groups(groups)?;
    /// # use std::io::{Read, Write};
    /// # let mut c = std::net::TcpStream::connect(server.local_addrs()[0]).unwrap();
    /// # c.write_all(b"GET /app/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap();
    /// # let mut got = String::new();
    /// # c.read_to_string(&mut got).unwrap();
    /// # assert!(got.starts_with("HTTP/1.1 200 OK\r\n") && got.ends_with("\r\n\r\n/app/x under /app/"), "{got}");
    /// # Ok::<(), hsys::Error>(())
    /// ```
    #[cfg(feature = "tower")]
    pub fn service<S, B>(service: S) -> Self
    where
        S: tower_service::Service<http::Request<crate::Body>, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<crate::tower::BoxError>,
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<crate::tower::BoxError>,
    {
        Target::Service(crate::tower::ServiceTarget::new(service))
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Inline(_) => f.write_str("Inline(..)"),
            Target::Queue(q) => f.debug_tuple("Queue").field(q).finish(),
            #[cfg(feature = "tower")]
            Target::Service(_) => f.write_str("Service(..)"),
        }
    }
}

/// Names a URL group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GroupId(pub(crate) usize);

/// Slots per group counter set: I/O thread `i < GROUP_SLOTS` writes slot `i` alone; threads past
/// it share one more slot, updated with atomic read-modify-writes.
const GROUP_SLOTS: usize = 64;

/// One thread's slot of a group's counters, on its own cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct GroupSlot {
    all: AtomicU64,
    get: AtomicU64,
    head: AtomicU64,
    bytes_received: AtomicU64,
    bytes_sent: AtomicU64,
}

/// Adds `n` to a slot's counter: a relaxed load and store (a plain `mov`, no locked instruction)
/// when the slot has a single writer, an atomic add on the shared overflow slot.
#[inline]
fn bump(counter: &AtomicU64, n: u64, single_writer: bool) {
    if single_writer {
        counter.store(counter.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    } else {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// A group's counters: one cache line per I/O thread, so threads never contend; summed on read.
///
/// Connections are counted on a shared atomic instead: a connection joins a group when its
/// first request for it arrives and leaves when it closes or moves to another group, so the
/// count changes per connection, not per request.
#[derive(Debug)]
pub(crate) struct GroupCounters {
    /// `GROUP_SLOTS` single-writer slots, then the shared overflow slot.
    slots: Box<[GroupSlot]>,
    /// `CurrentConnections`, its peak (`MaxConnections`), and the group's connection limit
    /// (`u64::MAX`: none), shared by every copy of the routing table.
    connections: AtomicU64,
    peak_connections: AtomicU64,
    connection_limit: AtomicU64,
}

impl Default for GroupCounters {
    fn default() -> Self {
        GroupCounters {
            slots: (0..=GROUP_SLOTS).map(|_| GroupSlot::default()).collect(),
            connections: AtomicU64::new(0),
            peak_connections: AtomicU64::new(0),
            connection_limit: AtomicU64::new(u64::MAX),
        }
    }
}

impl GroupCounters {
    /// I/O thread `worker`'s slot, and whether it is that thread's alone.
    #[inline]
    fn slot(&self, worker: usize) -> Option<(&GroupSlot, bool)> {
        let single = worker < GROUP_SLOTS;
        self.slots.get(worker.min(GROUP_SLOTS)).map(|s| (s, single))
    }

    /// Counts a request routed to the group, with the bytes of its head.
    #[inline]
    pub(crate) fn request(&self, worker: usize, method: &str, head_bytes: usize) {
        if let Some((s, single)) = self.slot(worker) {
            bump(&s.all, 1, single);
            match method {
                "GET" => bump(&s.get, 1, single),
                "HEAD" => bump(&s.head, 1, single),
                _ => {}
            }
            bump(&s.bytes_received, head_bytes as u64, single);
        }
    }

    /// Counts request body bytes (`BytesReceived`).
    #[inline]
    pub(crate) fn received(&self, worker: usize, bytes: usize) {
        if let Some((s, single)) = self.slot(worker) {
            bump(&s.bytes_received, bytes as u64, single);
        }
    }

    /// A connection's first request for this group: `false` (not counted) when the group is at
    /// its connection limit.
    pub(crate) fn join(&self) -> bool {
        let limit = self.connection_limit.load(Ordering::Relaxed);
        match self.connections.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1)) {
            Ok(before) => {
                self.peak_connections.fetch_max(before + 1, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    /// A connection counted by [`join`](GroupCounters::join) closed or moved on.
    pub(crate) fn leave(&self) {
        self.connections.fetch_sub(1, Ordering::AcqRel);
    }

    /// Counts answer bytes (`BytesSent`).
    #[inline]
    pub(crate) fn sent(&self, worker: usize, bytes: usize) {
        if let Some((s, single)) = self.slot(worker) {
            bump(&s.bytes_sent, bytes as u64, single);
        }
    }

    fn snapshot(&self) -> GroupStats {
        let mut g = GroupStats::default();
        for s in self.slots.iter() {
            g.all_requests += s.all.load(Ordering::Relaxed);
            g.get_requests += s.get.load(Ordering::Relaxed);
            g.head_requests += s.head.load(Ordering::Relaxed);
            g.bytes_received += s.bytes_received.load(Ordering::Relaxed);
            g.bytes_sent += s.bytes_sent.load(Ordering::Relaxed);
        }
        g.current_connections = self.connections.load(Ordering::Relaxed);
        g.max_connections = self.peak_connections.load(Ordering::Relaxed);
        g
    }
}

/// A snapshot of a URL group's counters (http.sys names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// `AllRequests`.
    pub all_requests: u64,
    /// `GetRequests`.
    pub get_requests: u64,
    /// `HeadRequests`.
    pub head_requests: u64,
    /// `BytesReceived`: request heads and bodies (de-chunked body bytes for a chunked body).
    pub bytes_received: u64,
    /// `BytesSent`: answers, heads and bodies, files and streamed bodies included, counted as
    /// they are handed to the kernel (file and stream bodies) or encoded (the rest).
    pub bytes_sent: u64,
    /// `CurrentConnections`: open connections whose latest request was for this group.
    pub current_connections: u64,
    /// `MaxConnections`: the peak of `current_connections`.
    pub max_connections: u64,
}

/// A group: its target (none until bound), its own limits and its counters.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub target: Option<Target>,
    /// The group's request-body limit (`None`: the server's [`Limits::max_body_size`](crate::Limits)).
    pub max_body_size: Option<Option<u64>>,
    pub counters: Arc<GroupCounters>,
    /// The group's access log (`None`: the server's, if it has one).
    pub access_log: Option<crate::AccessLog>,
}

/// URL groups and their prefixes: what a server routes by. Build one, hand it to
/// [`ServerBuilder::serve_groups`](crate::ServerBuilder::serve_groups), and change it live through the
/// [`Server`](crate::Server).
#[derive(Clone, Debug, Default)]
pub struct UrlGroups {
    pub(crate) namespace: Namespace<usize>,
    pub(crate) groups: Vec<Group>,
}

impl UrlGroups {
    /// No groups.
    pub fn new() -> Self {
        UrlGroups::default()
    }

    /// Creates a group bound to `target`.
    pub fn create_group(&mut self, target: Target) -> GroupId {
        self.groups.push(Group {
            target: Some(target),
            max_body_size: None,
            counters: Arc::default(),
            access_log: None,
        });
        GroupId(self.groups.len() - 1)
    }

    /// Binds (or rebinds) a group to a target.
    pub fn set_target(&mut self, group: GroupId, target: Target) -> Result<(), Error> {
        let g = self.groups.get_mut(group.0).ok_or_else(Error::unknown_group)?;
        g.target = Some(target);
        Ok(())
    }

    /// Limits the connections a group serves at once (`None`: no limit). A connection whose
    /// request would go past it is answered `503` with `Connection: close`. Takes effect at once,
    /// also on a running server.
    pub fn set_max_connections(&mut self, group: GroupId, max: Option<usize>) -> Result<(), Error> {
        self.limit_connections(group, max)
    }

    /// Sets the request-body limit of a group's requests (http.sys sets it per URL group):
    /// `Some(None)` for no limit, `None` for the server's [`Limits::max_body_size`](crate::Limits).
    /// A declared `Content-Length` over it is a `413` before the handler runs; a body that grows
    /// past it, a `413` when it does.
    ///
    /// # Errors
    /// An unknown group.
    pub fn set_max_body_size(&mut self, group: GroupId, max: Option<Option<u64>>) -> Result<(), Error> {
        let g = self.groups.get_mut(group.0).ok_or_else(Error::unknown_group)?;
        g.max_body_size = max;
        Ok(())
    }

    /// Sets the access log of a group's requests (`None`: the server's log, if it has one;
    /// see [`AccessLog`](crate::AccessLog)). The logs a server writes are those it starts with:
    /// set them before [`serve_groups`](crate::ServerBuilder::serve_groups).
    ///
    /// # Errors
    /// An unknown group.
    pub fn set_access_log(&mut self, group: GroupId, log: Option<crate::AccessLog>) -> Result<(), Error> {
        let g = self.groups.get_mut(group.0).ok_or_else(Error::unknown_group)?;
        g.access_log = log;
        Ok(())
    }

    /// The access logs of the groups (a log set on several groups, once each).
    pub(crate) fn access_logs(&self) -> Vec<crate::AccessLog> {
        let mut logs: Vec<crate::AccessLog> = Vec::new();
        for log in self.groups.iter().filter_map(|g| g.access_log.as_ref()) {
            if !logs.iter().any(|l| l.same(log)) {
                logs.push(log.clone());
            }
        }
        logs
    }

    /// [`set_max_connections`](UrlGroups::set_max_connections) on a shared table (the limit is
    /// an atomic shared by every copy).
    pub(crate) fn limit_connections(&self, group: GroupId, max: Option<usize>) -> Result<(), Error> {
        let g = self.groups.get(group.0).ok_or_else(Error::unknown_group)?;
        g.counters.connection_limit.store(max.map_or(u64::MAX, |m| m as u64), Ordering::Relaxed);
        Ok(())
    }

    /// Gives every group counters of its own (zeroed), keeping their connection limits.
    pub(crate) fn detach_counters(&mut self) {
        for g in &mut self.groups {
            let fresh = GroupCounters::default();
            fresh.connection_limit.store(g.counters.connection_limit.load(Ordering::Relaxed), Ordering::Relaxed);
            g.counters = Arc::new(fresh);
        }
    }

    /// Adds a URL prefix (`http://host:port/path/` or `https://…`) to a group.
    ///
    /// A port is either cleartext or TLS: every prefix on a port has the same scheme. An
    /// `https` prefix's port speaks TLS with the certificate bound to it.
    ///
    /// # Errors
    /// An invalid prefix ([`InvalidUrl`](crate::ErrorKind::InvalidUrl)), an unknown group,
    /// [`AlreadyRegistered`](crate::ErrorKind::AlreadyRegistered), or
    /// [`SchemeConflict`](crate::ErrorKind::SchemeConflict) when the port has prefixes of the
    /// other scheme.
    pub fn add_url(&mut self, group: GroupId, url: &str) -> Result<(), Error> {
        if group.0 >= self.groups.len() {
            return Err(Error::unknown_group());
        }
        let prefix = UrlPrefix::parse(url).map_err(|e| Error::invalid_url(url, e))?;
        self.namespace.register(prefix, group.0).map_err(|e| match e {
            RegisterError::AlreadyRegistered => Error::already(url),
            RegisterError::SchemeConflict => Error::scheme_conflict(url),
        })
    }

    /// `url` as it is registered: its path ends in `/` and is normalised like a request path
    /// (`http://+:8080/a/./b` is `http://+:8080/a/b/`), its scheme and host lower-case, the
    /// scheme kept (`https://+:443` is `https://+:443/`).
    ///
    /// # Errors
    /// An invalid prefix ([`ErrorKind::InvalidUrl`](crate::ErrorKind::InvalidUrl)).
    pub fn canonical_url(url: &str) -> Result<String, Error> {
        UrlPrefix::parse(url).map(|p| p.to_string()).map_err(|e| Error::invalid_url(url, e))
    }

    /// The request queues groups are bound to (a queue bound to two groups comes twice).
    pub(crate) fn queues(&self) -> impl Iterator<Item = &RequestQueue> {
        self.groups.iter().filter_map(|g| match &g.target {
            Some(Target::Queue(q)) => Some(q),
            _ => None,
        })
    }

    /// Removes a URL prefix; `false` if it was not registered (with this scheme). Removing a
    /// port's last prefix frees the port for the other scheme.
    pub fn remove_url(&mut self, url: &str) -> Result<bool, Error> {
        let prefix = UrlPrefix::parse(url).map_err(|e| Error::invalid_url(url, e))?;
        Ok(self.namespace.unregister(&prefix).is_some())
    }

    /// A group's counters.
    pub fn stats(&self, group: GroupId) -> Option<GroupStats> {
        self.groups.get(group.0).map(|g| g.counters.snapshot())
    }

    /// The scheme the listeners on `port` speak: that of its prefixes, `None` when it has none.
    /// Every address [`listen_addrs`](UrlGroups::listen_addrs) gives on `port` speaks it.
    #[cfg(test)]
    pub(crate) fn port_scheme(&self, port: u16) -> Option<Scheme> {
        self.namespace.port_scheme(port)
    }

    /// Whether a connection accepted on local port `port` speaks TLS (the port has `https`
    /// prefixes in this table). Asked at accept, of the current table: a port kept open after
    /// its last prefix went may come back with the other scheme.
    pub(crate) fn is_tls_port(&self, port: u16) -> bool {
        self.namespace.is_tls_port(port)
    }

    /// The sockets these prefixes need. `localhost`: loopback (127.0.0.1, and ::1 where the host
    /// has IPv6); an IP literal: that address; `+`, `*` and other names: every interface. A
    /// wildcard on a port covers that family's specific addresses there. `true`: required.
    pub(crate) fn listen_addrs(&self) -> Vec<(SocketAddr, bool)> {
        let mut wanted: Vec<(SocketAddr, bool)> = Vec::new();
        for (p, _) in self.namespace.iter() {
            let port = p.port();
            let addrs: [(IpAddr, bool); 2] = match p.host() {
                Host::Ip(ip) => [(*ip, true), (*ip, true)],
                Host::Name(n) if &**n == "localhost" => {
                    [(IpAddr::V4(Ipv4Addr::LOCALHOST), true), (IpAddr::V6(Ipv6Addr::LOCALHOST), false)]
                }
                _ => [(IpAddr::V4(Ipv4Addr::UNSPECIFIED), true), (IpAddr::V6(Ipv6Addr::UNSPECIFIED), false)],
            };
            for (ip, required) in addrs {
                let addr = SocketAddr::new(ip, port);
                match wanted.iter_mut().find(|(a, _)| *a == addr) {
                    Some(existing) => existing.1 |= required,
                    None => wanted.push((addr, required)),
                }
            }
        }
        let covered = |a: &SocketAddr| {
            !a.ip().is_unspecified()
                && wanted
                    .iter()
                    .any(|(w, _)| w.ip().is_unspecified() && w.port() == a.port() && w.is_ipv4() == a.is_ipv4())
        };
        wanted.iter().filter(|(a, _)| !covered(a)).copied().collect()
    }
}

/// The live routing table: replaced whole on every change; I/O threads keep an `Arc` of the
/// current one and check `generation` (one acquire load) once per wakeup, so the request path
/// takes no lock.
///
/// A change also flushes the response cache's entries that no longer route as they did (a
/// prefix removed, a more specific one added, a group's target changed), before the new table
/// is published, and from then on the cache stores no answer routed by an older table.
#[derive(Debug, Default)]
pub(crate) struct Routes {
    current: Mutex<Arc<UrlGroups>>,
    generation: AtomicU64,
    /// The server's response cache.
    cache: std::sync::OnceLock<Arc<crate::cache::Store>>,
}

impl Routes {
    pub(crate) fn new(groups: UrlGroups) -> Self {
        Routes {
            current: Mutex::new(Arc::new(groups)),
            generation: AtomicU64::new(0),
            cache: std::sync::OnceLock::new(),
        }
    }

    /// Gives the table the server's response cache, which its changes flush.
    pub(crate) fn attach_cache(&self, cache: Arc<crate::cache::Store>) {
        let _ = self.cache.set(cache);
    }

    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn load(&self) -> Arc<UrlGroups> {
        match self.current.lock() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Applies `change` to a copy of the table and publishes it if it succeeds (a failed change
    /// leaves the table as it was).
    pub(crate) fn try_update<R, E>(&self, change: impl FnOnce(&mut UrlGroups) -> Result<R, E>) -> Result<R, E> {
        let mut guard = match self.current.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut next = UrlGroups::clone(&guard);
        let r = change(&mut next)?;
        if let Some(cache) = self.cache.get() {
            // The generation `next` is published with: the lock is held, nothing else moves it.
            let generation = self.generation.load(Ordering::Acquire) + 1;
            cache.reroute(generation, |e| !routes_alike(&guard, &next, crate::cache::store::routed(e)));
        }
        *guard = Arc::new(next);
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        tracing::debug!(generation, "routing table replaced");
        Ok(r)
    }

    /// Applies `change` to a copy of the table and publishes it.
    pub(crate) fn update<R>(&self, change: impl FnOnce(&mut UrlGroups) -> R) -> R {
        match self.try_update(|g| Ok::<R, std::convert::Infallible>(change(g))) {
            Ok(r) => r,
            Err(never) => match never {},
        }
    }
}

/// Whether a request for `host` and `path` that came in on `port` and `ip` and was routed to
/// `group` routes to it by the same prefix in `new` as in `old`, and the group's target is the
/// same (both tables are alive: their targets' addresses cannot have been reused).
fn routes_alike(
    old: &UrlGroups,
    new: &UrlGroups,
    (port, host, ip, path, group): (u16, &[u8], IpAddr, &str, usize),
) -> bool {
    let route = |t: &UrlGroups| match t.namespace.route(port, Some(host), &ip, path) {
        crate::url::Route::Matched { prefix, value } => Some((prefix.clone(), *value)),
        _ => None,
    };
    let target = |t: &UrlGroups| t.groups.get(group).and_then(|g| g.target.clone());
    let same_target = match (target(old), target(new)) {
        (Some(Target::Inline(a)), Some(Target::Inline(b))) => std::ptr::addr_eq(Arc::as_ptr(&a), Arc::as_ptr(&b)),
        (Some(Target::Queue(a)), Some(Target::Queue(b))) => a.same(&b),
        #[cfg(feature = "tower")]
        (Some(Target::Service(a)), Some(Target::Service(b))) => a.same(&b),
        _ => false,
    };
    same_target && route(old).is_some_and(|(p, g)| g == group && route(new) == Some((p, g)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{Request, Response};
    use crate::error::ErrorKind;

    /// Groups with one inline group (answering nothing): its id and the table.
    fn one_group() -> (UrlGroups, GroupId) {
        let mut g = UrlGroups::new();
        let id = g.create_group(Target::inline(|_: &Request<'_>, _: &mut Response<'_>| {}));
        (g, id)
    }

    #[test]
    fn https_prefixes_are_added_and_a_port_keeps_one_scheme() {
        let (mut g, a) = one_group();
        for url in ["https://+:443/", "https://*:443/x/", "https://localhost:443/", "https://[::1]:8443/"] {
            assert!(g.add_url(a, url).is_ok(), "{url}");
        }
        g.add_url(a, "http://+:80/").unwrap_or_else(|e| panic!("{e}"));
        // Both orders, and the same host and path with the other scheme.
        for (url, port) in [("http://+:443/other/", 443), ("http://[::1]:8443/", 8443), ("https://+:80/", 80)] {
            let e = g.add_url(a, url).err().unwrap_or_else(|| panic!("{url} was added"));
            assert_eq!(e.kind(), ErrorKind::SchemeConflict, "{url}");
            assert_eq!(e.url(), Some(url));
            assert!(e.to_string().starts_with(url), "{e}");
            assert!(g.port_scheme(port).is_some(), "{url}: the port keeps its scheme");
        }
        assert_eq!(g.add_url(a, "https://+:443/").map_err(|e| e.kind()), Err(ErrorKind::AlreadyRegistered));
        assert_eq!(g.port_scheme(443), Some(Scheme::Https));
        assert_eq!(g.port_scheme(80), Some(Scheme::Http));
        assert_eq!(g.port_scheme(81), None);
        assert!(g.is_tls_port(443) && g.is_tls_port(8443));
        assert!(!g.is_tls_port(80) && !g.is_tls_port(81));
        // The https port's listeners: what its hosts need, as for http.
        let addrs = g.listen_addrs();
        assert!(addrs.iter().any(|(a, _)| *a == SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 443)));
        assert!(addrs.iter().any(|(a, _)| *a == SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 8443)));
        for (addr, _) in addrs {
            assert!(g.port_scheme(addr.port()).is_some(), "{addr}");
        }
    }

    #[test]
    fn removing_a_ports_last_prefix_frees_it_for_the_other_scheme() {
        let (mut g, a) = one_group();
        g.add_url(a, "http://+:8080/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g.remove_url("https://+:8080/").map_err(|e| e.kind()), Ok(false), "another key");
        assert_eq!(g.add_url(a, "https://+:8080/").map_err(|e| e.kind()), Err(ErrorKind::SchemeConflict));
        assert_eq!(g.remove_url("http://+:8080").map_err(|e| e.kind()), Ok(true));
        assert!(g.add_url(a, "https://+:8080/").is_ok());
        assert!(g.is_tls_port(8080));
    }

    #[test]
    fn canonical_urls_keep_the_scheme() {
        let cases = [
            ("https://+:443", "https://+:443/"),
            ("https://Example.COM:8443/a/./b", "https://example.com:8443/a/b/"),
            ("https://[0::1]:443/x", "https://[::1]:443/x/"),
            ("http://+:80", "http://+:80/"),
        ];
        for (url, canonical) in cases {
            assert_eq!(UrlGroups::canonical_url(url).ok().as_deref(), Some(canonical), "{url}");
        }
        let e = UrlGroups::canonical_url("ftp://+:21/").err().map(|e| e.kind());
        assert_eq!(e, Some(ErrorKind::InvalidUrl));
    }
}
