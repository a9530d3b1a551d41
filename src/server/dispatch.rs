//! Per-request dispatch on the I/O thread: route by the URL namespace, then answer inline or
//! queue the request for application threads.

use std::borrow::Cow;
use std::cell::RefCell;
use std::net::IpAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use super::worker::Tasks;
use crate::access_log::line::Facts;
use crate::access_log::thread::ThreadLog;
use crate::app::cache::Routing;
use crate::app::queue::OwedWakes;
use crate::app::queued::{Handle, RequestText, ReturnPath};
use crate::app::service::{BodyMode, BodyPlan, Outcome, Sent, Service};
use crate::app::{BodyKind, Handler, QueuedRequest, Request, Response, TlsInfo};
use crate::cache::Reader;
use crate::cache::rules::{self, Ask};
use crate::group::{Group, GroupCounters, Target, UrlGroups};
use crate::pipe::BodyPipe;
use crate::url::{Route, normalize_path, split_target, target_authority};

use super::route_memo::RouteMemo;

/// A tower service that serves every request of a server without URL groups
/// (`ServerBuilder::serve_service`).
#[cfg(feature = "tower")]
pub(crate) type Tower = crate::tower::ServiceTarget;

/// Without the `tower` feature there is no tower service (the type has no value).
#[cfg(not(feature = "tower"))]
#[derive(Clone, Debug)]
pub(crate) enum Tower {}

/// What every request on one I/O thread is dispatched with.
pub(super) struct Services<'a, H: ?Sized> {
    /// The handler of a server built without URL groups: every request goes to it.
    pub handler: Option<&'a H>,
    /// The tower service of a server built without URL groups: every request goes to it.
    pub service: Option<&'a Tower>,
    /// The routing table of a server built with URL groups.
    pub table: Option<&'a UrlGroups>,
    /// The way back to this thread for queued answers.
    pub path: &'a Arc<ReturnPath>,
    /// This thread's index (for per-thread counter slots).
    pub worker: usize,
    /// When the loop's current pass began: a queued request's arrival time (one clock read per
    /// wakeup, not per request).
    pub now: Instant,
    /// The receivers to wake at the end of the pass for the requests it queued.
    pub wakes: &'a OwedWakes,
    /// This thread's executor (tower services' futures).
    #[cfg_attr(not(feature = "tower"), allow(dead_code))] // only tower targets spawn
    pub tasks: &'a Tasks,
    /// This thread's access log, when one is written.
    pub log: Option<&'a RefCell<ThreadLog>>,
    /// This thread's view of the response cache.
    pub cache: &'a Reader,
    /// This thread's last routing decision.
    pub memo: &'a RouteMemo,
}

/// The [`Service`] for one connection.
pub(super) struct Dispatch<'a, 's, H: ?Sized> {
    pub services: &'s Services<'a, H>,
    pub port: u16,
    pub local_ip: IpAddr,
    pub key: usize,
    pub serial: u64,
    /// Shared with the connection's queued requests; set when the connection goes away.
    pub disconnected: &'s mut Option<Arc<AtomicBool>>,
    /// The body of the connection's queued request that is streaming now, if any.
    pub body_pipe: &'s mut Option<Arc<BodyPipe>>,
    /// The group whose connection count includes this connection.
    pub group: &'s mut Option<Arc<GroupCounters>>,
    /// The application's [`Handler::reads_body`] panicked for the request being planned: its
    /// answer is a `500` and a close, without calling the handler again.
    pub plan_panicked: bool,
    /// What the connection's TLS handshake negotiated (`None`: cleartext).
    pub tls: Option<&'s Arc<TlsInfo>>,
    /// The connection's socket (its peer's address, asked for a tower service's request or the
    /// access log).
    pub socket: &'s mio::net::TcpStream,
    /// The peer's address once asked for: one `getpeername` per connection, not per request.
    pub peer: &'s mut Option<Box<std::net::SocketAddr>>,
    /// The group the request being answered was routed to (for its access log).
    pub routed: Option<usize>,
}

/// Where a request was routed: its group, the normalised path it was routed by, and the path of
/// the prefix that claimed it (`None` when the thread's memo routed it: only a tower service
/// needs it, and asks the namespace then).
struct Routed<'t, 'r> {
    index: usize,
    group: &'t Group,
    path: Cow<'r, str>,
    #[cfg_attr(not(feature = "tower"), allow(dead_code))] // only tower requests carry it
    prefix_path: Option<&'t std::sync::Arc<str>>,
}

/// How an inline handler takes a body, asked of the application under containment: `None` when
/// its `reads_body` panicked.
fn inline_mode<H: Handler + ?Sized>(handler: &H, req: &Request<'_>) -> Option<BodyMode> {
    catch_unwind(AssertUnwindSafe(|| BodyMode::inline(handler, req))).ok()
}

/// Why a request routes to no group; each is answered with its own status.
#[derive(Clone, Copy, Debug)]
enum Refusal {
    /// The path climbs above `/` or is not valid: `400` and a close.
    BadUrl,
    /// No prefix class matches the host: `400`.
    NoHost,
    /// The host matches but no path does: `404`.
    NoPath,
    /// The group has no target: `503`.
    NoTarget,
}

impl Refusal {
    fn answer(self, res: &mut Response<'_>) {
        let (status, text): (u16, &[u8]) = match self {
            Refusal::BadUrl => (400, b"Bad Request - Invalid URL"),
            Refusal::NoHost => (400, b"Bad Request - Invalid Hostname"),
            Refusal::NoPath => (404, b"Not Found"),
            Refusal::NoTarget => return res.unavailable(),
        };
        if matches!(self, Refusal::BadUrl) {
            res.close();
        }
        let _ = res.status(status).header("Content-Type", "text/plain").body(text);
    }
}

impl<H: Handler + ?Sized> Dispatch<'_, '_, H> {
    /// The client's address, asked of the socket the first time only (`None`: it is gone).
    fn peer_addr(&mut self) -> Option<std::net::SocketAddr> {
        if let Some(peer) = self.peer.as_deref() {
            return Some(*peer);
        }
        let peer = self.socket.peer_addr().ok()?;
        *self.peer = Some(Box::new(peer));
        Some(peer)
    }

    /// The group `req` routes to (http.sys precedence) and the normalised path it was routed by:
    /// the thread's memo's when it routed the same request last.
    #[inline]
    fn route<'t, 'r>(&self, table: &'t UrlGroups, req: &Request<'r>) -> Result<Routed<'t, 'r>, Refusal> {
        let target = req.target();
        let host = target_authority(target).map(str::as_bytes).or(req.host());
        let memo = self.services.memo;
        if let Some((index, path)) = memo.get(self.port, &self.local_ip, host.unwrap_or_default(), target)
            && let Some(group) = table.groups.get(index)
        {
            return Ok(Routed { index, group, path: Cow::Borrowed(path), prefix_path: None });
        }
        let routed = self.route_afresh(table, req)?;
        if let Cow::Borrowed(path) = routed.path
            && target != "*"
        {
            memo.set(self.port, &self.local_ip, host.unwrap_or_default(), target, routed.index, path);
        }
        Ok(routed)
    }

    /// [`route`](Self::route) without the memo.
    fn route_afresh<'t, 'r>(&self, table: &'t UrlGroups, req: &Request<'r>) -> Result<Routed<'t, 'r>, Refusal> {
        let path = if req.target() == "*" && req.method() == "OPTIONS" {
            // The asterisk form asks about the server, not a resource: routed by host as `/`.
            Cow::Borrowed("/")
        } else {
            let (raw_path, _) = split_target(req.target());
            normalize_path(raw_path).map_err(|_| Refusal::BadUrl)?
        };
        let host = target_authority(req.target()).map(str::as_bytes).or(req.host());
        let (index, prefix_path) = match table.namespace.route(self.port, host, &self.local_ip, &path) {
            Route::Matched { value, prefix } => (*value, prefix.shared_path()),
            Route::NoHost => return Err(Refusal::NoHost),
            Route::NoPath => return Err(Refusal::NoPath),
        };
        let group = table.groups.get(index).ok_or(Refusal::NoTarget)?;
        Ok(Routed { index, group, path, prefix_path: Some(prefix_path) })
    }
}

impl<H: Handler + ?Sized> Dispatch<'_, '_, H> {
    /// The plan for a body taken in `mode`; `None` (the application panicked deciding) leaves the
    /// body unread and makes the answer a `500`.
    fn plan(&mut self, mode: Option<BodyMode>, max_size: Option<u64>) -> BodyPlan {
        self.plan_panicked = mode.is_none();
        BodyPlan { mode: mode.unwrap_or(BodyMode::Unread), max_size }
    }
}

impl<H: Handler + ?Sized> Service for Dispatch<'_, '_, H> {
    /// Routes once more for a request with a body (so only those pay twice): a queue streams
    /// the body, an inline handler has it collected unless it says it does not read it; the
    /// group's own body limit, if set, replaces the server's.
    fn body_plan(&mut self, req: &Request<'_>, max_size: Option<u64>) -> BodyPlan {
        let Some(table) = self.services.table else {
            let mode = match (self.services.handler, self.services.service) {
                // A tower service streams its body, as on a group.
                (_, Some(_)) => Some(BodyMode::Streamed),
                (Some(h), None) => inline_mode(h, req),
                (None, None) => Some(BodyMode::Buffered),
            };
            return self.plan(mode, max_size);
        };
        match self.route(table, req) {
            Ok(Routed { group, .. }) => {
                let mode = match &group.target {
                    Some(Target::Queue(_)) => Some(BodyMode::Streamed),
                    #[cfg(feature = "tower")]
                    Some(Target::Service(_)) => Some(BodyMode::Streamed),
                    Some(Target::Inline(h)) => inline_mode(&**h, req),
                    None => Some(BodyMode::Buffered),
                };
                self.plan(mode, group.max_body_size.unwrap_or(max_size))
            }
            // Refused at the head: the body is never read.
            Err(_) => BodyPlan { mode: BodyMode::Unread, max_size },
        }
    }

    /// A body nobody reads any more (its reader dropped it: only the connection holds its
    /// pipe) always has room: what arrives is dropped, so the connection reads on to the next
    /// request instead of waiting for a reader for ever.
    fn body_room(&mut self, _seq: u32) -> bool {
        self.body_pipe.as_ref().is_none_or(|p| Arc::strong_count(p) == 1 || p.has_room())
    }

    fn body_data(&mut self, _seq: u32, data: &[u8]) {
        if let Some(g) = self.group {
            g.received(self.services.worker, data.len());
        }
        if let Some(p) = self.body_pipe
            && Arc::strong_count(p) > 1
        {
            p.push(data);
        }
    }

    fn body_end(&mut self, _seq: u32, error: Option<u16>) {
        if let Some(p) = self.body_pipe.take() {
            p.finish(error);
        }
    }

    /// Writes the request's access-log line (its answer was given inline), or keeps what it
    /// will say until the deferred answer comes.
    fn called(&mut self, req: &Request<'_>, seq: u32, sent: Option<Sent>) {
        let Some(cell) = self.services.log else { return };
        let table = self.services.table;
        let group = self.routed.take().and_then(|i| table?.groups.get(i)).and_then(|g| g.access_log.as_ref());
        let Some(needs) = cell.borrow().needs(group) else { return };
        let client = if needs.client { self.peer_addr().map(|a| a.ip()) } else { None };
        let server = (needs.server && !self.local_ip.is_unspecified()).then_some(self.local_ip);
        let body = match req.body_kind() {
            BodyKind::Length(n) => n,
            _ => req.body().len() as u64,
        };
        let (user_agent, referer) = req.user_agent_and_referer();
        let facts = Facts {
            method: req.method().as_bytes(),
            target: req.target().as_bytes(),
            version: match req.version() {
                crate::app::Version::Http10 => b"HTTP/1.0",
                crate::app::Version::Http2 => b"HTTP/2",
                _ => b"HTTP/1.1",
            },
            user_agent,
            referer,
            host: req.host(),
            status: sent.map_or(0, |s| s.status),
            sent: sent.map_or(0, |s| s.bytes),
            received: req.head_len as u64 + body,
            taken_ms: 0,
            client,
            server,
            port: self.port,
        };
        let now = self.services.now;
        match sent {
            Some(_) => cell.borrow_mut().line(group, &facts, now),
            None => cell.borrow_mut().defer(self.key, self.serial, seq, group, &facts, now),
        }
    }

    /// Completes the line of deferred request `seq`, which the codec answered itself.
    fn answered(&mut self, seq: u32, sent: Sent) {
        if let Some(cell) = self.services.log {
            cell.borrow_mut().answered(self.key, self.serial, seq, sent.status, sent.bytes, self.services.now);
        }
    }

    #[inline]
    fn call(&mut self, req: &Request<'_>, res: &mut Response<'_>, seq: u32) -> Outcome {
        self.routed = None;
        if std::mem::take(&mut self.plan_panicked) {
            res.replace_with_error(500);
            return Outcome::Answered;
        }
        let Some(table) = self.services.table else {
            return self.call_alone(req, res, seq);
        };
        let routing = match self.route(table, req) {
            Ok(routed) => routed,
            Err(refusal) => {
                refusal.answer(res);
                return Outcome::Answered;
            }
        };
        let (group, path) = (routing.group, &routing.path);
        self.routed = Some(routing.index);
        if !self.group.as_ref().is_some_and(|g| Arc::ptr_eq(g, &group.counters)) {
            // The connection's first request for this group (rare: not per request).
            if !group.counters.join() {
                res.unavailable();
                return Outcome::Answered;
            }
            if let Some(previous) = self.group.replace(Arc::clone(&group.counters)) {
                previous.leave();
            }
        }
        group.counters.request(self.services.worker, req.method(), req.head_len);
        if !req.body().is_empty() {
            group.counters.received(self.services.worker, req.body().len());
        }
        let cached = self.cached(req, routing.index, path);
        if let Cached::Miss(Ask::Store, _) = cached {
            res.record();
        }
        if let Cached::Hit(entry, conditional) = cached {
            serve_hit(entry, conditional, req, res);
            group.counters.sent(self.services.worker, res.written());
            return Outcome::Answered;
        }
        // The handler's view: `req` itself when it says all (cleartext, and the path it was
        // routed by is its whole target, which `normalized_path` then gives), else a copy that
        // carries the path and the TLS facts.
        let copy;
        let target = req.target();
        let routed = if self.tls.is_none()
            && req.route_path.is_none()
            && path.len() == target.len()
            && std::ptr::eq(path.as_ptr(), target.as_ptr())
        {
            req
        } else {
            copy = Request { route_path: Some(path), tls: self.tls.map(|t| &**t), ..*req };
            &copy
        };
        match &group.target {
            Some(Target::Inline(h)) => {
                h.handle(routed, res);
                if !res.is_done() {
                    res.finish();
                }
                self.store(cached, req, path, res);
                group.counters.sent(self.services.worker, res.written());
                Outcome::Answered
            }
            Some(Target::Queue(q)) => {
                let disconnected = Arc::clone(self.disconnected.get_or_insert_with(Arc::default));
                let body = (req.body_kind() != BodyKind::Empty).then(|| Arc::new(BodyPipe::default()));
                let queued = QueuedRequest {
                    text: RequestText::new(routed.method(), routed.target(), path, routed.headers(), req.head_len),
                    version: routed.version(),
                    arrived: self.services.now,
                    handle: Some(Handle {
                        path: Arc::clone(self.services.path),
                        key: self.key,
                        serial: self.serial,
                        seq,
                        disconnected,
                    }),
                    body: body.clone(),
                    expects_continue: expects_continue(req),
                    tls: self.tls.cloned(),
                    cache: match cached {
                        Cached::Miss(Ask::Store, routing) => Some(routing),
                        _ => None,
                    },
                };
                match q.offer(queued, self.services.wakes) {
                    Ok(()) => {
                        if let Some(old) = std::mem::replace(self.body_pipe, body) {
                            old.disconnect();
                        }
                        Outcome::Deferred
                    }
                    Err(mut back) => {
                        // Not queued: answered here, so the dropped request must not answer again.
                        back.handle = None;
                        res.unavailable();
                        Outcome::Answered
                    }
                }
            }
            #[cfg(feature = "tower")]
            Some(Target::Service(service)) => {
                // Routed by the memo: the prefix is asked of the namespace (a tower request's cost
                // dwarfs it).
                let prefix = match routing.prefix_path {
                    Some(p) => Some(p),
                    None => self.route_afresh(table, req).ok().and_then(|r| r.prefix_path),
                };
                let Some(prefix) = prefix else {
                    Refusal::NoTarget.answer(res);
                    return Outcome::Answered;
                };
                let outcome = self.call_service(service, routing.index, prefix, req, res, seq);
                if outcome == Outcome::Answered {
                    self.store(cached, req, path, res);
                    group.counters.sent(self.services.worker, res.written());
                }
                outcome
            }
            None => {
                Refusal::NoTarget.answer(res);
                Outcome::Answered
            }
        }
    }
}

/// What the response cache makes of a request.
#[derive(Clone, Copy)]
enum Cached<'c> {
    /// Nothing: it may not be served from the cache nor stored.
    Pass,
    /// Served from this entry; whether the request carries a conditional header.
    Hit(&'c crate::cache::Entry, bool),
    /// Not in the cache: whether its answer may be stored, and where it was routed.
    Miss(Ask, Routing),
}

impl<'a, H: Handler + ?Sized> Dispatch<'a, '_, H> {
    /// Serves a request of a server without URL groups: its handler or tower service, through
    /// the cache as a group's would (as group 0).
    fn call_alone(&mut self, req: &Request<'_>, res: &mut Response<'_>, seq: u32) -> Outcome {
        let normalized = match self.services.cache.is_on() {
            true => normalize_path(split_target(req.target()).0).ok(),
            false => None,
        };
        let cached = normalized.as_deref().map_or(Cached::Pass, |path| self.cached(req, 0, path));
        if let Cached::Miss(Ask::Store, _) = cached {
            res.record();
        }
        if let Cached::Hit(entry, conditional) = cached {
            serve_hit(entry, conditional, req, res);
            return Outcome::Answered;
        }
        if let Some(service) = self.services.service {
            let outcome = self.serve_alone(service, req, res, seq);
            if outcome == Outcome::Answered
                && let Some(path) = &normalized
            {
                self.store(cached, req, path, res);
            }
            return outcome;
        }
        if let Some(h) = self.services.handler {
            match self.tls {
                None => h.handle(req, res),
                Some(tls) => h.handle(&Request { tls: Some(tls), ..*req }, res),
            }
            if let Some(path) = &normalized {
                self.store(cached, req, path, res);
            }
        }
        Outcome::Answered
    }

    /// Looks `req` (routed to `group` by `path`) up in the cache when it may be served from it,
    /// counting a hit or a miss.
    #[inline]
    fn cached(&self, req: &Request<'_>, group: usize, path: &str) -> Cached<'a> {
        let cache = self.services.cache;
        let (ask, conditional) = if cache.is_on() { rules::examine(req) } else { (Ask::Pass, false) };
        if ask == Ask::Pass {
            return Cached::Pass;
        }
        let host = target_authority(req.target()).map(str::as_bytes).or(req.host()).unwrap_or_default();
        if let Some(entry) = cache.lookup(self.port, host, path, self.services.now)
            && entry.group == group
        {
            cache.count(true);
            return Cached::Hit(entry, conditional);
        }
        cache.count(false);
        let routing = Routing { port: self.port, local_ip: self.local_ip, group, generation: cache.routes_generation };
        Cached::Miss(ask, routing)
    }

    /// Stores the answer in `res` to a request the cache missed, if it may be: its policy
    /// stores, it was given whole, and it did not close the connection ([`Response::given`]).
    fn store(&self, cached: Cached<'_>, req: &Request<'_>, path: &str, res: &Response<'_>) {
        let Cached::Miss(Ask::Store, routing) = cached else { return };
        if let Some(given) = res.given() {
            let host = target_authority(req.target()).map(str::as_bytes).or(req.host()).unwrap_or_default();
            self.services.cache.store().insert(&routing, host, path, &given, self.services.now);
        }
    }
}

/// Answers `req` from a stored answer: `304` when a conditional header it carries is satisfied
/// by the answer's `ETag` or `Last-Modified` (looked for only when `conditional`: the request
/// carries one), else the answer (without its body for a `HEAD`); `Date` and `Connection` are
/// the connection's own, as for any answer.
#[inline]
fn serve_hit(entry: &crate::cache::Entry, conditional: bool, req: &Request<'_>, res: &mut Response<'_>) {
    entry.touch();
    if !conditional {
        // A stored answer was valid when stored: nothing to report.
        let _ = res.prepared(&entry.answer);
        return;
    }
    let (mut none_match, mut modified_since) = (None, None);
    for (name, value) in req.headers() {
        match name.len() {
            13 if name.eq_ignore_ascii_case("if-none-match") => none_match = Some(value),
            17 if name.eq_ignore_ascii_case("if-modified-since") => modified_since = Some(value),
            _ => {}
        }
    }
    let not_modified = (none_match.is_some() || modified_since.is_some())
        && crate::cache::conditional::not_modified(
            none_match,
            modified_since,
            entry.etag.as_deref(),
            entry.last_modified,
        );
    // A stored answer was valid when stored: nothing to report.
    let _ = res.prepared(if not_modified { &entry.not_modified } else { &entry.answer });
}

#[cfg(not(feature = "tower"))]
impl<H: Handler + ?Sized> Dispatch<'_, '_, H> {
    /// (No tower service exists without the feature.)
    fn serve_alone(&mut self, service: &Tower, _: &Request<'_>, _: &mut Response<'_>, _: u32) -> Outcome {
        match *service {}
    }
}

#[cfg(feature = "tower")]
impl<H: Handler + ?Sized> Dispatch<'_, '_, H> {
    /// Serves `req` with the tower service of a server without URL groups: as on a group, its
    /// [`RequestInfo`](crate::RequestInfo) naming group 0 and the prefix path `/`.
    fn serve_alone(&mut self, service: &Tower, req: &Request<'_>, res: &mut Response<'_>, seq: u32) -> Outcome {
        // A server without URL groups: every request's prefix is `/` (one shared string).
        static ROOT: std::sync::LazyLock<std::sync::Arc<str>> = std::sync::LazyLock::new(|| std::sync::Arc::from("/"));
        self.call_service(service, 0, &ROOT, req, res, seq)
    }

    /// Serves `req` with a tower service: as an `http::Request` whose body streams from the
    /// connection (as a queue's does), its future polled once inline; `Answered` when its answer
    /// was whole at once (written into `res`), else `Deferred` (the future runs on this thread's
    /// executor, and its answer comes back through the return path). `group` and `prefix_path`:
    /// where it was routed (its `RequestInfo`).
    fn call_service(
        &mut self,
        service: &crate::tower::ServiceTarget,
        group: usize,
        prefix_path: &std::sync::Arc<str>,
        req: &Request<'_>,
        res: &mut Response<'_>,
        seq: u32,
    ) -> Outcome {
        use crate::tower::{Body, Call, RequestInfo, to_http};
        let disconnected = Arc::clone(self.disconnected.get_or_insert_with(Arc::default));
        let (path, key, serial) = (self.services.path, self.key, self.serial);
        let mut handle =
            || Handle { path: Arc::clone(path), key, serial, seq, disconnected: Arc::clone(&disconnected) };
        let pipe = (req.body_kind() != BodyKind::Empty).then(|| Arc::new(BodyPipe::default()));
        let body = match &pipe {
            None => Body::empty(),
            Some(p) => {
                let length = match req.body_kind() {
                    BodyKind::Length(n) => Some(n),
                    _ => None,
                };
                Body::piped(Arc::clone(p), handle(), expects_continue(req), length)
            }
        };
        let info = RequestInfo {
            peer_addr: self.peer_addr(),
            local_addr: std::net::SocketAddr::new(self.local_ip, self.port),
            group: crate::group::GroupId(group),
            prefix_path: std::sync::Arc::clone(prefix_path),
            tls: self.tls.cloned(),
        };
        let Ok(request) = to_http(req, body, info) else {
            // What the `http` crate refuses though the codec took it.
            let _ = res.status(400).header("Content-Type", "text/plain").body(b"Bad Request");
            return Outcome::Answered;
        };
        let tasks = self.services.tasks;
        let call = Call {
            res,
            handle: &mut handle,
            spawn: &mut |task| tasks.spawn(key, serial, task),
            http11: req.version() == crate::app::Version::Http11,
            http2: req.version() == crate::app::Version::Http2,
            head_only: req.is_head(),
        };
        let outcome = service.serve(request, call);
        match outcome {
            Outcome::Deferred => {
                if let Some(old) = std::mem::replace(self.body_pipe, pipe) {
                    old.disconnect();
                }
            }
            // Answered at once: the body is drained, never read; a body the service kept
            // ends (`ConnectionAborted`) rather than waiting for ever.
            Outcome::Answered => {
                if let Some(p) = pipe {
                    p.disconnect();
                }
            }
        }
        outcome
    }
}

/// The client sent `Expect: 100-continue`.
fn expects_continue(req: &Request<'_>) -> bool {
    req.header("expect").is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"100-continue"))
}
