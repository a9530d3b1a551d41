//! The server: binds listeners, starts one event loop per I/O thread, stops gracefully.

mod dispatch;
mod inherited;
mod listener;
mod outbox;
#[cfg(feature = "io-uring")]
mod ring;
#[cfg(not(feature = "io-uring"))]
#[path = "ring_off.rs"]
mod ring;
mod route_memo;
mod running;
mod timer;
mod worker;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::access_log::thread::ThreadLog;
use crate::access_log::writer::Writer;
use crate::app::Handler;
use crate::error::Error;
use crate::group::{GroupId, GroupStats, Routes, Target, UrlGroups};
use crate::limits::{DEFAULT_BACKLOG, DEFAULT_SHUTDOWN_TIMEOUT, Limits, Timeouts};
use crate::stats::{Snapshot, WorkerCounters};
use crate::tls::bindings::{BindingKey, Bindings};
use crate::tls::config::CertBinding;

/// Builds a [`Server`]: addresses, threads, limits.
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    threads: usize,
    limits: Limits,
    timeouts: Timeouts,
    addrs: Vec<Listen>,
    /// Listening sockets handed over (socket activation): see [`ServerBuilder::inherit_listeners`].
    inherited: Vec<Arc<std::net::TcpListener>>,
    /// The certificate bindings to start with.
    cert_bindings: Vec<(BindingKey, CertBinding)>,
    shutdown_timeout: Duration,
    backlog: i32,
    http2: bool,
    half_close: bool,
    /// The I/O threads run under `SCHED_BATCH` (see [`ServerBuilder::batch_scheduling`]).
    batch_scheduling: bool,
    backend: Backend,
    /// An address given to `bind` that did not resolve (its kind and message: the builder is
    /// `Clone`, an `io::Error` is not): starting fails with [`ErrorKind::Resolve`](crate::ErrorKind::Resolve).
    resolve_error: Option<(io::ErrorKind, String)>,
    /// `HSYS_BACKEND` names no backend (and none was chosen with [`ServerBuilder::backend`]):
    /// starting fails, rather than quietly running on another backend than the one asked for.
    backend_env_error: Option<String>,
    /// The server's access log.
    access_log: Option<crate::AccessLog>,
    /// The response cache's bounds.
    cache: crate::cache::CacheLimits,
}

/// How the I/O threads wait for and move bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// `io_uring` where this build has it (the `io-uring` feature, on by default) and the kernel
    /// allows it (6.0 or later, for multishot receives; not disabled by `io_uring_disabled` or a
    /// seccomp filter), else `epoll`. Each thread falls back on its own, at start.
    #[default]
    Auto,
    /// `epoll` (edge-triggered, through `mio`): reads and writes on readiness.
    Epoll,
    /// `io_uring`: receives into provided buffers, completions in batches; refused at start
    /// where the build or the kernel lacks it.
    IoUring,
}

impl Backend {
    /// The backend named by the `HSYS_BACKEND` environment variable (`auto`, `epoll`,
    /// `io-uring`), `None` when it is not set (or empty): the default of every [`ServerBuilder`], so a
    /// whole program (the test suite, say) can be run on either without a rebuild.
    ///
    /// # Errors
    /// The variable is set but names no backend (a [`ServerBuilder`] then refuses to start,
    /// unless a backend is chosen with [`ServerBuilder::backend`]).
    pub fn from_env() -> Result<Option<Backend>, String> {
        match std::env::var("HSYS_BACKEND") {
            Ok(name) if name.is_empty() => Ok(None),
            Ok(name) => name.parse().map(Some).map_err(|e| format!("HSYS_BACKEND: {e}")),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err("HSYS_BACKEND: not UTF-8".to_owned()),
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Backend, String> {
        match s {
            "auto" => Ok(Backend::Auto),
            "epoll" => Ok(Backend::Epoll),
            "io-uring" | "io_uring" | "uring" => Ok(Backend::IoUring),
            _ => Err(format!("unknown backend `{s}` (auto, epoll, io-uring)")),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Auto => "auto",
            Backend::Epoll => "epoll",
            Backend::IoUring => "io-uring",
        })
    }
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder::new()
    }
}

impl ServerBuilder {
    /// A builder with one thread per core, default limits and no addresses.
    pub fn new() -> Self {
        let env = Backend::from_env();
        ServerBuilder {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            addrs: Vec::new(),
            inherited: Vec::new(),
            cert_bindings: Vec::new(),
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            backlog: DEFAULT_BACKLOG,
            half_close: false,
            http2: true,
            batch_scheduling: true,
            backend: env.clone().ok().flatten().unwrap_or_default(),
            backend_env_error: env.err(),
            resolve_error: None,
            access_log: None,
            cache: crate::cache::CacheLimits::default(),
        }
    }

    /// Writes an access log of every request answered (see [`AccessLog`](crate::AccessLog)): of
    /// those of URL groups without a log of their own, and of those hsys refuses before routing
    /// them. Its file is opened when the server starts (a path that cannot be written fails the
    /// start); a thread of its own writes it.
    pub fn access_log(mut self, log: crate::AccessLog) -> Self {
        self.access_log = Some(log);
        self
    }

    /// The I/O backend (default [`Backend::Auto`], or what `HSYS_BACKEND` names). See
    /// [`Server::backend`] for the one a started server uses.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self.backend_env_error = None;
        self
    }

    /// Whether a client that shuts down its sending side after its requests (a half-close, as
    /// `printf … | nc -N` does) still gets the answers owed to it. `false` (the default, as
    /// hyper's and nginx's): end-of-file from a client closes its connection, dropping answers not
    /// yet sent — queued requests see `is_disconnected` (at once, also while requests pipelined
    /// before the end-of-file still wait to be read), a stream writer `ConnectionAborted`. A
    /// FIN cannot tell a half-close from a client gone: `true` keeps such a connection until its
    /// answers are out (or a write fails), and its queued requests learn of nothing until then.
    /// Inline answers are unaffected: they are written before the end-of-file is read.
    pub fn half_close(mut self, enabled: bool) -> Self {
        self.half_close = enabled;
        self
    }

    /// Whether HTTP/2 is spoken (default `true`): on a cleartext port a connection that opens
    /// with the HTTP/2 preface (prior knowledge, `curl --http2-prior-knowledge`) speaks h2c,
    /// beside HTTP/1.1 on the same port; over TLS, ALPN offers `h2` before `http/1.1`.
    pub fn http2(mut self, enabled: bool) -> Self {
        self.http2 = enabled;
        self
    }

    /// Whether the I/O threads run under Linux's `SCHED_BATCH` policy (default `true`; no
    /// privilege needed, the nice value is kept). A batch thread woken by a client's bytes does
    /// not preempt the thread running on its CPU: on a machine where the scheduler stacks two I/O
    /// threads on one CPU (beside a busy load generator, say), each wakeup otherwise forces a
    /// reschedule interrupt and a switch. Measured on 2 cores, pipeline16 with two I/O threads:
    /// 0.53 → 0.46 µs of CPU per request, 25,000 → 1,200 involuntary switches in 5 s, throughput
    /// up. `false` leaves the threads under the policy they were started with.
    pub fn batch_scheduling(mut self, enabled: bool) -> Self {
        self.batch_scheduling = enabled;
        self
    }

    /// The number of I/O threads (at least 1).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }

    /// The limits to enforce.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The timeouts to enforce.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Listens on every address `addrs` resolves to (a `SocketAddr`, `"127.0.0.1:8080"`,
    /// `("localhost", 0)`…; port 0: an ephemeral port, shared by every thread). A name is
    /// resolved here, once. Failing to resolve it, or to bind one of its addresses, fails
    /// [`serve`](ServerBuilder::serve).
    pub fn bind(self, addrs: impl ToSocketAddrs) -> Self {
        self.add_addrs(addrs, true, false)
    }

    /// Listens on every address `addrs` resolves to, as [`bind`](ServerBuilder::bind) does, with
    /// TLS: each connection's certificate comes from the binding for its address, or for the
    /// server name its client asks for (see [`cert_binding`](ServerBuilder::cert_binding)). (A
    /// server built from URL groups speaks TLS on the ports of its `https://` prefixes without
    /// this.)
    pub fn bind_tls(self, addrs: impl ToSocketAddrs) -> Self {
        self.add_addrs(addrs, true, true)
    }

    /// Binds a certificate (and optionally a client-certificate requirement) to an `IP:port`,
    /// every address of a port, or a `hostname:port` chosen by the client's server name (SNI), as
    /// http.sys's SSL bindings do. A TLS connection takes the binding of its server name on its
    /// port, else of its local address, else of its port; with none, its handshake fails (an
    /// alert, counted in [`TlsFailures::no_certificate`](crate::TlsFailures::no_certificate)).
    /// A later binding for the same key replaces the earlier one. See
    /// [`Server::set_cert_binding`] to change bindings while serving.
    pub fn cert_binding(mut self, key: BindingKey, binding: CertBinding) -> Self {
        self.cert_bindings.push((key, binding));
        self
    }

    /// Listens on every address `addrs` resolves to that this host has (an IPv6 address on a host
    /// without IPv6 is skipped); failing to resolve, or any other failure to bind, still fails
    /// [`serve`](ServerBuilder::serve).
    pub fn bind_if_available(self, addrs: impl ToSocketAddrs) -> Self {
        self.add_addrs(addrs, false, false)
    }

    fn add_addrs(mut self, addrs: impl ToSocketAddrs, required: bool, tls: bool) -> Self {
        let resolved = addrs.to_socket_addrs().and_then(|a| {
            let a: Vec<_> = a.collect();
            if a.is_empty() {
                Err(io::Error::new(io::ErrorKind::InvalidInput, "resolves to no address"))
            } else {
                Ok(a)
            }
        });
        match resolved {
            Ok(addrs) => self.addrs.extend(addrs.into_iter().map(|addr| Listen { addr, required, tls })),
            Err(e) => {
                // The first failure is reported; the builder stays usable for chaining.
                self.resolve_error.get_or_insert((e.kind(), e.to_string()));
            }
        }
        self
    }

    /// Serves on listening sockets handed over rather than bound: those of a socket unit
    /// ([`systemd::listen_fds`](crate::systemd::listen_fds)), or of a process handing over. Each
    /// is one socket, shared by every I/O thread (each accepts from a duplicate of it: one
    /// accept queue). Per port, the inherited listeners replace the addresses the server would
    /// bind there (from [`bind`](ServerBuilder::bind) or the URL prefixes), whatever interfaces
    /// they are on: the socket unit chose them (`ListenStream=127.0.0.1:8080` serves a
    /// `http://+:8080/` prefix on loopback only). Addresses on other ports are bound as usual.
    ///
    /// # Errors (at [`serve`](ServerBuilder::serve))
    /// A socket that is not a listening TCP socket ([`ErrorKind::Setup`](crate::ErrorKind::Setup)),
    /// or one on a port where the server has no address
    /// ([`ErrorKind::Listen`](crate::ErrorKind::Listen)), unless it was given no address at all:
    /// then it listens on exactly the inherited sockets.
    pub fn inherit_listeners(mut self, listeners: impl IntoIterator<Item = std::net::TcpListener>) -> Self {
        self.inherited.extend(listeners.into_iter().map(Arc::new));
        self
    }

    /// How long a graceful stop waits for requests in flight.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The listen backlog of each listener.
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// The response cache's bounds (default: 64 MiB, 16,384 entries; a size of `0` turns it
    /// off). See [`CachePolicy`](crate::CachePolicy).
    pub fn response_cache(mut self, limits: crate::cache::CacheLimits) -> Self {
        self.cache = limits;
        self
    }

    /// Binds every address and starts the I/O threads, each answering every request with
    /// `handler` (inline, on the I/O thread). [`serve_groups`](ServerBuilder::serve_groups) is the
    /// same verb for routing by URL prefix.
    ///
    /// # Errors
    /// When an address given to [`bind`](ServerBuilder::bind) did not resolve
    /// ([`ErrorKind::Resolve`](crate::ErrorKind::Resolve), the resolver's error as its source),
    /// an address cannot be bound ([`ErrorKind::AddrInUse`](crate::ErrorKind::AddrInUse) if
    /// another socket holds it) or a thread or event queue cannot be created.
    pub fn serve<H: Handler>(self, handler: H) -> Result<Server, Error> {
        self.spawn(Some(Arc::new(handler)), None, None)
    }

    /// Binds every address and starts the I/O threads, each handing every request to the tower
    /// `service` (an axum `Router`, say) as an `http::Request<`[`Body`](crate::Body)`>`: the
    /// tower counterpart of [`serve`](ServerBuilder::serve), without URL groups (any `Host`, any
    /// path). It is served as on a group bound to [`Target::service`](crate::Target::service)
    /// (see there, and the `tower` feature's notes on `Body`): its
    /// [`RequestInfo`](crate::RequestInfo) names group 0 and the prefix path `/`.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::future::{Ready, ready};
    /// use std::task::{Context, Poll};
    ///
    /// use hsys::{Body, Server};
    ///
    /// #[derive(Clone)]
    /// struct Hello;
    ///
    /// impl tower_service::Service<http::Request<Body>> for Hello {
    ///     type Response = http::Response<String>;
    ///     type Error = Infallible;
    ///     type Future = Ready<Result<Self::Response, Infallible>>;
    ///
    ///     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
    ///         Poll::Ready(Ok(()))
    ///     }
    ///
    ///     fn call(&mut self, req: http::Request<Body>) -> Self::Future {
    ///         ready(Ok(http::Response::new(format!("hello from {}", req.uri().path()))))
    ///     }
    /// }
    ///
    /// let server = Server::builder().bind("127.0.0.1:0").serve_service(Hello)?; // or an axum `Router`
    /// # use std::io::{Read, Write};
    /// # let mut c = std::net::TcpStream::connect(server.local_addrs()[0]).unwrap();
    /// # c.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap();
    /// # let mut got = String::new();
    /// # c.read_to_string(&mut got).unwrap();
    /// # assert!(got.starts_with("HTTP/1.1 200 OK\r\n") && got.ends_with("\r\n\r\nhello from /x"), "{got}");
    /// # Ok::<(), hsys::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`serve`](ServerBuilder::serve).
    #[cfg(feature = "tower")]
    pub fn serve_service<S, B>(self, service: S) -> Result<Server, Error>
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
        let service = crate::tower::ServiceTarget::new(service);
        self.spawn(None::<Arc<dyn Handler>>, Some(service), None)
    }

    /// Binds and starts a server, as [`serve`](ServerBuilder::serve), that routes by URL groups
    /// (http.sys precedence): each group's prefixes go to its target, an inline handler or a
    /// request queue. It listens on the
    /// addresses given to [`bind`](ServerBuilder::bind) if any (say, loopback only), else on what
    /// the groups' prefixes need (`localhost`: loopback; an IP literal: that address; `+`, `*` and
    /// other names: every interface). Groups and prefixes can be
    /// changed while it runs; when the addresses follow the prefixes, a prefix added on a new
    /// port makes the server listen there too (see [`Server::add_url`]).
    ///
    /// # Errors
    /// As [`serve`](ServerBuilder::serve).
    pub fn serve_groups(mut self, mut groups: UrlGroups) -> Result<Server, Error> {
        let follow_prefixes = self.addrs.is_empty();
        if follow_prefixes {
            self.addrs = Listen::plain(groups.listen_addrs());
        }
        // This server's counters are its own: a table cloned into two servers must not share
        // per-thread slots (each has its own thread 0, and the slots are single-writer).
        groups.detach_counters();
        let mut server = self.spawn(None::<Arc<dyn Handler>>, None, Some(Arc::new(Routes::new(groups))))?;
        server.follow_prefixes = follow_prefixes;
        Ok(server)
    }

    /// Binds and starts the threads: every request goes to `handler`, or `service`, or is routed
    /// by `routes` (exactly one of them is given).
    fn spawn<H: Handler + ?Sized>(
        self,
        handler: Option<Arc<H>>,
        service: Option<dispatch::Tower>,
        routes: Option<Arc<Routes>>,
    ) -> Result<Server, Error> {
        if let Some(e) = &self.backend_env_error {
            return Err(Error::setup(e.clone()));
        }
        if let Some((kind, message)) = &self.resolve_error {
            return Err(Error::resolve(io::Error::new(*kind, message.clone())));
        }
        let ((local_addrs, per_thread, tls_listeners), inherited) =
            inherited::listen(&self.addrs, &self.inherited, self.threads, self.backlog)?;
        // One duplicate of every listening socket, kept for `Server::listeners`: each thread's
        // own (bound) listeners come before the inherited ones it shares.
        let own = tls_listeners.len() - inherited.len();
        let mut handover = Handover { per_thread: Vec::with_capacity(self.threads), inherited };
        for listeners in &per_thread {
            let dups = listeners[..own].iter().map(std::net::TcpListener::try_clone).collect::<io::Result<_>>();
            handover.per_thread.push(dups.map_err(Error::setup)?);
        }
        let bindings = Arc::new(Bindings::new().with_http2(self.http2));
        for (key, binding) in self.cert_bindings {
            bindings.set(key, binding);
        }
        let counters: Arc<[WorkerCounters]> = (0..self.threads).map(|_| WorkerCounters::default()).collect();
        // The access logs: the server's and its groups'; their files opened now, one writer thread.
        let mut logs: Vec<crate::AccessLog> = self.access_log.iter().cloned().collect();
        for log in routes.iter().flat_map(|r| r.load().access_logs()) {
            if !logs.iter().any(|l| l.same(&log)) {
                logs.push(log);
            }
        }
        let (access, sink) = if logs.is_empty() {
            (None, None)
        } else {
            let (writer, sink) =
                Writer::start(&logs, self.threads, if self.batch_scheduling { set_batch_scheduling } else { || {} })
                    .map_err(Error::setup)?;
            (Some(writer), Some(sink))
        };
        let cache = Arc::new(crate::cache::Store::new(self.cache, self.threads));
        if let Some(routes) = &routes {
            routes.attach_cache(Arc::clone(&cache));
        }
        let mut polls = Vec::new();
        let mut wakers = Vec::new();
        for _ in 0..self.threads {
            let poll = mio::Poll::new().map_err(Error::setup)?;
            let waker = Arc::new(mio::Waker::new(poll.registry(), worker::WAKER).map_err(Error::setup)?);
            polls.push(poll);
            wakers.push(waker);
        }
        let adopt = (0..self.threads).map(|_| Mutex::new(Some(Vec::new()))).collect();
        let shared = Arc::new(Shared {
            stopping: AtomicBool::new(false),
            wakers,
            open: AtomicUsize::new(0),
            adopt,
            handover: Mutex::new(handover),
            running: AtomicUsize::new(0),
            started: AtomicBool::new(false),
            routes: routes.clone(),
            died: AtomicUsize::new(0),
            #[cfg(test)]
            fault: AtomicBool::new(false),
        });
        quiet_io_thread_panics();
        let mut threads = Vec::new();
        let mut started = Vec::new();
        for (index, (poll, listeners)) in polls.into_iter().zip(per_thread).enumerate() {
            let worker = worker::Worker::new(worker::Setup {
                index,
                poll,
                listeners,
                handler: handler.clone(),
                service: service.clone(),
                routes: routes.clone(),
                waker: Arc::clone(&shared.wakers[index]),
                shared: Arc::clone(&shared),
                counters: Arc::clone(&counters),
                limits: self.limits.clone(),
                timeouts: self.timeouts.clone(),
                shutdown_timeout: self.shutdown_timeout,
                half_close: self.half_close,
                http2: self.http2,
                tls_listeners: tls_listeners.clone(),
                bindings: Arc::clone(&bindings),
                log: ThreadLog::new(self.access_log.clone(), sink.clone(), Arc::clone(&counters), index),
                cache: Arc::clone(&cache),
            })
            .map_err(Error::setup)?;
            let (ready, started_rx) = mpsc::channel();
            let backend = self.backend;
            shared.running.fetch_add(1, Ordering::AcqRel);
            let running = Running(Arc::clone(&shared));
            let batch = self.batch_scheduling;
            let spawned = std::thread::Builder::new().name(format!("{IO_THREAD_PREFIX}{index}")).spawn(move || {
                let _running = running; // dropped when the thread ends, by return or panic
                if batch {
                    set_batch_scheduling();
                }
                // A panic that gets here is hsys's own; the worker's `Drop` has let go of what it
                // held while unwinding. The server learns of it (`wait`, `stats`).
                if catch_unwind(AssertUnwindSafe(|| worker.run(backend, ready))).is_err() {
                    tracing::error!(thread = index, "an I/O thread panicked (a defect in hsys); the others go on");
                    _running.0.died.fetch_add(1, Ordering::AcqRel);
                    _running.0.wake_all();
                }
            });
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    shared.stop();
                    return Err(Error::setup(e));
                }
            }
            started.push(started_rx);
        }
        // Each thread sets up its backend on itself (an `io_uring` is bound to the thread that
        // submits to it) and says which it got, or why it could not.
        let mut backend = Backend::Epoll;
        for (i, rx) in started.iter().enumerate() {
            match rx.recv() {
                Ok(Ok(b)) => {
                    if i == 0 {
                        backend = b;
                    }
                }
                Ok(Err(e)) => return Err(stop_started(&shared, threads, e)),
                Err(_) => return Err(stop_started(&shared, threads, io::Error::other("an I/O thread ended at start"))),
            }
        }
        shared.started.store(true, Ordering::Release);
        for addr in &local_addrs {
            tracing::info!(%addr, "listening");
        }
        tracing::info!(threads = self.threads, %backend, inherited = self.inherited.len(), "serving");
        Ok(Server {
            shared,
            counters,
            threads,
            local_addrs: Mutex::new(local_addrs),
            routes,
            bindings,
            backend,
            follow_prefixes: false,
            backlog: self.backlog,
            access,
            cache,
        })
    }
}

/// An address to listen on.
#[derive(Debug, Clone, Copy)]
struct Listen {
    addr: SocketAddr,
    /// Failing to bind it fails the start; else it is skipped where this host lacks it.
    required: bool,
    /// Its connections speak TLS ([`ServerBuilder::bind_tls`]).
    tls: bool,
}

impl Listen {
    /// The addresses URL prefixes need (`true`: required), listened on as their ports' schemes say.
    fn plain(addrs: Vec<(SocketAddr, bool)>) -> Vec<Listen> {
        addrs.into_iter().map(|(addr, required)| Listen { addr, required, tls: false }).collect()
    }
}

/// The listeners bound: their real addresses, each thread's listeners, and per listener (in each
/// thread's order) whether it was bound for TLS.
type Bound = (Vec<SocketAddr>, Vec<Vec<std::net::TcpListener>>, Vec<bool>);

/// Binds every address of `addrs` once per I/O thread; the listeners of thread `t` are
/// `per_thread[t]`, with the real addresses.
fn bind_listeners(addrs: &[Listen], threads: usize, backlog: i32) -> Result<Bound, Error> {
    // SO_REUSEPORT would let our listeners join a port that another process (another hsys)
    // listens on, so every fixed address is first checked free. All checks come before any
    // of our listeners is bound: ours on `127.0.0.1:P` would fail the check of `0.0.0.0:P`.
    // (A listener that appears between the check and the bind still shares the port.)
    for &Listen { addr, required, .. } in addrs {
        if addr.port() != 0
            && let Err(e) = listener::check_free(addr)
            && (required || !is_unavailable(&e))
        {
            return Err(Error::listen(addr, e));
        }
    }
    // Bind the first thread's listeners first: port 0 becomes a real port that the other
    // threads then share through SO_REUSEPORT.
    let mut local_addrs = Vec::new();
    let mut per_thread: Vec<Vec<std::net::TcpListener>> = (0..threads).map(|_| Vec::new()).collect();
    let mut tls = Vec::new();
    for &Listen { addr, required, tls: speaks_tls } in addrs {
        let first = match listener::bind(addr, backlog) {
            Ok(l) => l,
            Err(e) if !required && is_unavailable(&e) => {
                tracing::debug!(%addr, error = %e, "not on this host: skipped");
                continue;
            }
            Err(e) => return Err(Error::listen(addr, e)),
        };
        let real = first.local_addr().map_err(|e| Error::listen(addr, e))?;
        local_addrs.push(real);
        tls.push(speaks_tls);
        let mut listeners = vec![first];
        for _ in 1..threads {
            listeners.push(listener::bind(real, backlog).map_err(|e| Error::listen(real, e))?);
        }
        for (slot, l) in per_thread.iter_mut().zip(listeners) {
            slot.push(l);
        }
    }
    Ok((local_addrs, per_thread, tls))
}

/// A thread could not start: stops and joins the others (so their listeners are closed when
/// `serve` returns the error).
fn stop_started(shared: &Shared, threads: Vec<JoinHandle<()>>, e: io::Error) -> Error {
    shared.stop();
    for t in threads {
        let _ = t.join();
    }
    Error::setup(e)
}

/// Locks `m`, also after a panic elsewhere (what it guards stays consistent: each holder only
/// pushes or takes whole values).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn is_unavailable(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EADDRNOTAVAIL | libc::EAFNOSUPPORT))
}

/// What the I/O threads share: the stop flag, a way to wake each of them, and the count of open
/// connections (kept only when [`Limits::max_connections`] is set).
#[derive(Debug)]
pub(crate) struct Shared {
    stopping: AtomicBool,
    wakers: Vec<Arc<mio::Waker>>,
    open: AtomicUsize,
    /// Per I/O thread: listeners bound while serving (a prefix on a new port), for it to adopt
    /// when it sees the routing table change; `None` once the thread has left its loop (a
    /// listener handed to it then is closed at once, so the kernel routes nothing to it).
    adopt: Vec<Mutex<Option<Vec<std::net::TcpListener>>>>,
    /// Duplicates of the listening sockets, for [`Server::listeners`]; emptied when the stop
    /// begins (a socket must not outlive its threads' listeners: connections would wait in its
    /// queue for nobody).
    handover: Mutex<Handover>,
    /// I/O threads that ended by unwinding (a defect in hsys: every call into the application is
    /// contained). Such a thread has let go of what it held (see `worker::Holds`, `Drop for
    /// Worker`); its connections and listeners are closed.
    died: AtomicUsize,
    /// I/O threads not yet ended (each holds a [`Running`]).
    running: AtomicUsize,
    /// Every thread started: set once `spawn` returns the server (a failed start closes no queue).
    started: AtomicBool,
    /// The routing table, whose queues the last thread to end shuts down.
    routes: Option<Arc<Routes>>,
    /// Tests only: the next I/O thread to look unwinds, outside every containment (a stand-in
    /// for a defect in hsys), so that what an unwinding thread lets go of can be checked.
    #[cfg(test)]
    fault: AtomicBool,
}

impl Shared {
    /// I/O threads that ended by unwinding.
    pub(crate) fn io_threads_died(&self) -> u64 {
        self.died.load(Ordering::Acquire) as u64
    }
}

/// One duplicate of every listening socket of a server (see [`Server::listeners`]).
#[derive(Debug, Default)]
struct Handover {
    /// Per I/O thread, the listeners bound for it (its `SO_REUSEPORT` share of each address):
    /// let go when the thread leaves its loop, so that a socket no thread accepts from leaves
    /// its port's group, as it would without this copy.
    per_thread: Vec<Vec<std::net::TcpListener>>,
    /// The inherited listeners, each once (every thread accepts from a duplicate).
    inherited: Vec<std::net::TcpListener>,
}

/// Held by each I/O thread: the last one to end (by return or panic) shuts down the request
/// queues of the server's URL groups. No thread offers to them any more, and a graceful stop has
/// by then seen its requests in flight answered (or timed out), so their receivers can be told:
/// `receive` and `receive_async` return `None`.
struct Running(Arc<Shared>);

impl Drop for Running {
    fn drop(&mut self) {
        let shared = &self.0;
        if shared.running.fetch_sub(1, Ordering::AcqRel) == 1 && shared.started.load(Ordering::Acquire) {
            tracing::info!(stopping = shared.is_stopping(), "every I/O thread has ended");
            if let Some(routes) = &shared.routes {
                for queue in routes.load().queues() {
                    queue.shutdown();
                }
            }
        }
    }
}

impl Shared {
    fn stop(&self) {
        if !self.stopping.swap(true, Ordering::SeqCst) {
            tracing::info!("graceful stop begins");
            *lock(&self.handover) = Handover::default();
            self.wake_all();
        }
    }

    fn wake_all(&self) {
        for w in &self.wakers {
            // A failed wake leaves that thread to notice at its next wakeup.
            let _ = w.wake();
        }
    }

    /// The listeners bound for I/O thread `index` since it last looked.
    pub(crate) fn take_adopted(&self, index: usize) -> Vec<std::net::TcpListener> {
        self.adopt.get(index).and_then(|inbox| lock(inbox).as_mut().map(std::mem::take)).unwrap_or_default()
    }

    /// I/O thread `index` has left its loop: it adopts nothing more (what waits is closed).
    pub(crate) fn close_adoption(&self, index: usize) {
        if let Some(inbox) = self.adopt.get(index) {
            drop(lock(inbox).take());
        }
        if let Some(own) = lock(&self.handover).per_thread.get_mut(index) {
            own.clear();
        }
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Takes one of `max` connection places; `false` when all are taken.
    pub(crate) fn take_place(&self, max: usize) -> bool {
        self.open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1)).is_ok()
    }

    /// Gives back a place taken with [`take_place`](Shared::take_place).
    pub(crate) fn release_place(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Puts the calling thread under `SCHED_BATCH` (see [`ServerBuilder::batch_scheduling`]); a
/// refusal (a seccomp filter, say) leaves it as it was.
fn set_batch_scheduling() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `sched_setscheduler` reads `param`, a valid `sched_param` that outlives the call;
    // pid 0 is the calling thread.
    let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
}

/// The name of every I/O thread starts with this.
const IO_THREAD_PREFIX: &str = "hsys-io-";

/// Keeps the panic hook quiet on hsys's I/O threads: a panic there is either an application's,
/// contained and answered `500`, or one that ends the thread, reported through [`Server::wait`]
/// and [`Snapshot::io_threads_died`]; the library prints nothing. Panics on every other thread go
/// to the hook that was installed before (the default one prints them). Installed once, when the
/// first server starts.
fn quiet_io_thread_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_io_thread = std::thread::current().name().is_some_and(|n| n.starts_with(IO_THREAD_PREFIX));
            if !on_io_thread {
                previous(info);
            }
        }));
    });
}

/// A running server. Dropping it stops it gracefully and waits for its threads.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    counters: Arc<[WorkerCounters]>,
    threads: Vec<JoinHandle<()>>,
    /// Grows when a prefix on a new port is added (`follow_prefixes`).
    local_addrs: Mutex<Vec<SocketAddr>>,
    routes: Option<Arc<Routes>>,
    backend: Backend,
    /// Started from URL groups without [`bind`](ServerBuilder::bind): the listeners follow the
    /// prefixes, so [`add_url`](Server::add_url) on a new port binds it.
    follow_prefixes: bool,
    backlog: i32,
    /// The certificate bindings its I/O threads make TLS sessions from.
    bindings: Arc<Bindings>,
    /// The access logs' writer thread, if any log is written.
    access: Option<Writer>,
    /// The response cache.
    cache: Arc<crate::cache::Store>,
}

/// Stops a server from another thread (a signal handler thread, say).
#[derive(Debug, Clone)]
pub struct ShutdownHandle(Arc<Shared>);

impl ShutdownHandle {
    /// Begins a graceful stop; see [`Server::shutdown`].
    pub fn shutdown(&self) {
        self.0.stop();
    }
}

#[cfg(test)]
mod tests;

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.join_access_log();
    }
}

impl Server {
    /// Waits for the access logs' writer to write the last lines and end (once the I/O threads
    /// have ended: they hold its channel).
    fn join_access_log(&self) {
        if let Some(w) = &self.access
            && self.threads.is_empty()
        {
            w.join();
        }
    }
}
