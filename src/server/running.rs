//! What a running server offers its owner: stats, live URL and certificate changes, the
//! response cache's flush, shutdown, wait and run (`Server`'s methods; the type and its
//! setup are in `mod.rs`).

use super::*;

impl Server {
    /// A builder: addresses, threads, limits, then [`serve`](ServerBuilder::serve) or
    /// [`serve_groups`](ServerBuilder::serve_groups).
    ///
    /// ```
    /// use std::time::Duration;
    /// use hsys::{Limits, Request, Response, Server};
    ///
    /// let mut server = Server::builder()
    ///     .threads(2)
    ///     .bind("127.0.0.1:0") // port 0: any free port
    ///     .limits(Limits::default().max_body_size(Some(64 * 1024)))
    ///     .serve(|req: &Request<'_>, res: &mut Response<'_>| {
    ///         let _ = res.header("Content-Type", "text/plain").body(req.path().as_bytes());
    ///     })?;
    /// let addr = server.local_addrs()[0];
    /// # use std::io::{Read, Write};
    /// # let mut c = std::net::TcpStream::connect(addr).unwrap();
    /// # c.write_all(b"GET /hi HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap();
    /// # let mut got = String::new();
    /// # c.read_to_string(&mut got).unwrap();
    /// # assert!(got.ends_with("\r\n\r\n/hi"), "{got}");
    /// server.shutdown();
    /// assert!(server.wait(Duration::from_secs(5))?);
    /// # Ok::<(), hsys::Error>(())
    /// ```
    pub fn builder() -> ServerBuilder {
        ServerBuilder::new()
    }

    /// The addresses listened on, with real ports (one per bound address); the list grows when
    /// [`add_url`](Server::add_url) listens on a new port.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        lock(&self.local_addrs).clone()
    }

    /// Duplicates of every socket the server listens on, to hand over to another process (a new
    /// copy of the program that takes over without refusing a connection, as the `hsys`
    /// binary's `SIGUSR2` restart does through [`ServerBuilder::inherit_listeners`] in the new
    /// one): every I/O thread's own listener on each address, and each inherited socket once.
    /// Pass on every one: the kernel spreads a port's new connections over all its
    /// `SO_REUSEPORT` listeners, and those waiting in the queue of a socket whose last copy
    /// closes are reset. Closing the server's own copies (a graceful stop, after the new
    /// process took them) leaves each socket and its queue to the new owner. Each duplicate is
    /// close-on-exec, as every descriptor of the server; empty once a stop has begun.
    ///
    /// # Errors
    /// A descriptor could not be duplicated (out of descriptors).
    pub fn listeners(&self) -> Result<Vec<std::net::TcpListener>, Error> {
        let handover = lock(&self.shared.handover);
        handover
            .per_thread
            .iter()
            .flatten()
            .chain(&handover.inherited)
            .map(|l| l.try_clone().map_err(Error::setup))
            .collect()
    }

    /// The backend the I/O threads use: [`Backend::Epoll`] or [`Backend::IoUring`] (the first
    /// thread's, should [`Backend::Auto`] have given them different ones).
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The counters, summed over every I/O thread.
    pub fn stats(&self) -> Snapshot {
        let mut s = Snapshot::sum(self.counters.iter());
        s.io_threads_died = self.shared.died.load(Ordering::Acquire) as u64;
        s.access_log_dropped += self.access.as_ref().map_or(0, Writer::failed);
        s.cache = self.cache.stats();
        s
    }

    /// Removes stored answers from the response cache, as http.sys's `HttpFlushResponseCache`:
    /// the answer for `url` (`http://host:port/path`), or with `recursive` every answer under it
    /// (`http://+:8080/docs/` flushes `/docs` and everything below). A host of `+` or `*` stands
    /// for every host; others compare with the request's `Host` (without its port),
    /// case-insensitively, as paths do. Returns how many answers went. The I/O threads see the
    /// change from their next loop pass on.
    ///
    /// # Errors
    /// A `url` that is not `http(s)://host:port/path` ([`InvalidUrl`](crate::ErrorKind::InvalidUrl)).
    pub fn flush_cache(&self, url: &str, recursive: bool) -> Result<usize, Error> {
        let prefix = crate::url::UrlPrefix::parse(url).map_err(|e| Error::invalid_url(url, e))?;
        use crate::cache::store::FlushHost;
        let host = match prefix.host() {
            crate::url::Host::Strong | crate::url::Host::Weak => FlushHost::Any,
            crate::url::Host::Name(name) => FlushHost::Name(name),
            crate::url::Host::Ip(ip) => FlushHost::Ip(*ip),
        };
        // The prefix's path ends in `/`; the URL named one answer unless it did too.
        let given_path = url.split_once("://").and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]));
        let dir = given_path.is_some_and(|p| p.ends_with('/'));
        let path = if dir { prefix.path() } else { prefix.path().strip_suffix('/').unwrap_or(prefix.path()) };
        let path = if path.is_empty() { "/" } else { path };
        let port = prefix.port();
        Ok(self.cache.remove(|e| crate::cache::store::under(e, host, port, path, recursive)))
    }

    /// A handle that renders the counters in the Prometheus text exposition format, from any
    /// thread (an inline handler's, say); see [`Metrics`](crate::Metrics).
    pub fn metrics(&self) -> crate::Metrics {
        let routes = self.routes.as_ref().map(Arc::downgrade);
        crate::Metrics::new(Arc::clone(&self.counters), Arc::downgrade(&self.shared), routes)
            .with_cache(Arc::clone(&self.cache))
    }

    /// Adds a URL prefix to a group of a running server; new requests see it at once. On a port
    /// the server does not listen on yet, a server whose addresses follow its prefixes (started
    /// from URL groups without [`bind`](ServerBuilder::bind)) binds what the prefix needs, as
    /// http.sys does; the port stays open until the server stops. A port already listened on
    /// keeps its addresses: a `+` prefix added where only `localhost` listens serves loopback.
    ///
    /// # Errors
    /// An invalid or already registered prefix, an unknown group, a server built without URL
    /// groups, a new port on a server bound explicitly
    /// ([`PortNotListening`](crate::ErrorKind::PortNotListening)), or a new port that cannot be
    /// bound (the prefix is then not added).
    pub fn add_url(&self, group: GroupId, url: &str) -> Result<(), Error> {
        let routes = self.routes.as_ref().ok_or_else(Error::unknown_group)?;
        let prefix = crate::url::UrlPrefix::parse(url).map_err(|e| Error::invalid_url(url, e))?;
        let mut local_addrs = lock(&self.local_addrs);
        let port = prefix.port();
        if local_addrs.iter().any(|a| a.port() == port) {
            return routes.try_update(|g| g.add_url(group, url));
        }
        if !self.follow_prefixes {
            return Err(Error::not_listening(url));
        }
        routes.try_update(|g| {
            if self.shared.is_stopping() {
                return Err(Error::setup("the server is stopping: no new port is listened on"));
            }
            g.add_url(group, url)?;
            let wanted: Vec<_> = g.listen_addrs().into_iter().filter(|(a, _)| a.port() == port).collect();
            let (bound, per_thread, _) =
                bind_listeners(&Listen::plain(wanted), self.shared.wakers.len(), self.backlog)?;
            // Handed over before the new table is published: a thread that sees the new
            // generation takes its listeners first, then the table with the prefix in it.
            let mut handover = lock(&self.shared.handover);
            for (index, (inbox, listeners)) in self.shared.adopt.iter().zip(per_thread).enumerate() {
                // A thread that has left its loop (its event queue failed) closes its share.
                if let Some(waiting) = lock(inbox).as_mut() {
                    if let Some(own) = handover.per_thread.get_mut(index) {
                        own.extend(listeners.iter().filter_map(|l| l.try_clone().ok()));
                    }
                    waiting.extend(listeners);
                }
            }
            drop(handover);
            for addr in &bound {
                tracing::info!(%addr, url, "listening (a prefix on a new port)");
            }
            local_addrs.extend(bound);
            Ok(())
        })?;
        self.shared.wake_all();
        Ok(())
    }

    /// Removes a URL prefix from a running server; `false` if it was not registered.
    pub fn remove_url(&self, url: &str) -> Result<bool, Error> {
        let routes = self.routes.as_ref().ok_or_else(Error::unknown_group)?;
        routes.update(|g| g.remove_url(url))
    }

    /// Creates a URL group on a running server.
    pub fn create_group(&self, target: Target) -> Result<GroupId, Error> {
        let routes = self.routes.as_ref().ok_or_else(Error::unknown_group)?;
        Ok(routes.update(|g| g.create_group(target)))
    }

    /// Rebinds a group of a running server to another target.
    pub fn set_target(&self, group: GroupId, target: Target) -> Result<(), Error> {
        let routes = self.routes.as_ref().ok_or_else(Error::unknown_group)?;
        routes.update(|g| g.set_target(group, target))
    }

    /// Limits the connections a group of a running server serves at once; see
    /// [`UrlGroups::set_max_connections`].
    pub fn set_group_max_connections(&self, group: GroupId, max: Option<usize>) -> Result<(), Error> {
        let routes = self.routes.as_ref().ok_or_else(Error::unknown_group)?;
        routes.load().limit_connections(group, max)
    }

    /// Sets a group's request-body limit on a running server, for requests from now on; see
    /// [`UrlGroups::set_max_body_size`].
    ///
    /// # Errors
    /// An unknown group, or a server without URL groups.
    pub fn set_group_max_body_size(&self, group: GroupId, max: Option<Option<u64>>) -> Result<(), Error> {
        let routes = self.routes.as_ref().ok_or_else(Error::unknown_group)?;
        routes.update(|g| g.set_max_body_size(group, max))
    }

    /// A URL group's counters.
    pub fn group_stats(&self, group: GroupId) -> Option<GroupStats> {
        self.routes.as_ref()?.load().stats(group)
    }

    /// Adds or replaces the certificate binding for `key` while serving (see
    /// [`ServerBuilder::cert_binding`]): new handshakes use it; connections already open keep
    /// their session.
    pub fn set_cert_binding(&self, key: BindingKey, binding: CertBinding) {
        tracing::info!(?key, "certificate binding set");
        self.bindings.set(key, binding);
    }

    /// Removes the certificate binding for `key` while serving; `false` if there was none. New
    /// handshakes that needed it fail; connections already open keep their session.
    pub fn remove_cert_binding(&self, key: &BindingKey) -> bool {
        let removed = self.bindings.remove(key);
        tracing::info!(?key, removed, "certificate binding removed");
        removed
    }

    /// Reopens every access-log file at its path (a `SIGHUP` after logrotate renamed them): the
    /// writer does it within 100 ms, before it writes the next lines. Lines written before go to
    /// the file as it was (renamed), those after to the new one.
    pub fn reopen_access_logs(&self) {
        if let Some(w) = &self.access {
            w.reopen();
        }
    }

    /// A handle that can stop the server from any thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(Arc::clone(&self.shared))
    }

    /// Begins a graceful stop: listeners close; each open connection's next request (the one in
    /// progress, or one its client sends within a short grace: 500 ms, 1 s on a connection that
    /// has sent none yet) is answered with `Connection: close`, and then the connection closes —
    /// lingering, so a request crossing the close meets a clean end, not a reset; and each
    /// thread ends when its connections are gone or the shutdown timeout has passed. Returns at
    /// once; see [`Server::wait`] and [`Server::run`].
    ///
    /// In this order: each connection's last request (above) may still be queued; requests
    /// queued are received and answered (or time out with the shutdown timeout); and when
    /// the last I/O thread has ended the queues of the groups in the routing table are shut down
    /// ([`RequestQueue::shutdown`](crate::RequestQueue::shutdown)): `receive` and `receive_async`
    /// then return `None`, so application threads end without being told separately. A queue
    /// shared with another server is shut down for it too; one no longer in the table (replaced
    /// with [`set_target`](Server::set_target)) is left as it is.
    pub fn shutdown(&self) {
        self.shared.stop();
    }

    /// Waits until every I/O thread has ended or `timeout` passed (`Duration::MAX`: for as long
    /// as it takes); `Ok(true)` if they all ended, `Ok(false)` on timeout.
    ///
    /// # Errors
    /// [`ErrorKind::IoThread`](crate::ErrorKind::IoThread) when an I/O thread ended by
    /// unwinding (a defect in hsys: application code it calls is contained); the others go on
    /// serving, so this is returned as soon as it is known, whether or not they have ended.
    pub fn wait(&mut self, timeout: Duration) -> Result<bool, Error> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let died = self.shared.died.load(Ordering::Acquire);
            if died > 0 {
                return Err(Error::io_thread(format!("{died} I/O thread(s) panicked")));
            }
            if self.threads.iter().all(|t| t.is_finished()) {
                break;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // The I/O threads handed their last lines as they ended: the writer writes them and ends.
        self.join_access_log();
        Ok(true)
    }

    /// Serves until the server stops, then returns: the blocking way to run a server (dropping
    /// it stops it). It stops after [`shutdown`](Server::shutdown), called through a
    /// [`ShutdownHandle`] from another thread (a signal handler's, say), once the graceful stop
    /// has ended; the request queues of its URL groups are shut down then (see
    /// [`shutdown`](Server::shutdown)).
    ///
    /// # Errors
    /// [`ErrorKind::IoThread`](crate::ErrorKind::IoThread) when an I/O thread ended without being
    /// asked to (its event queue failed, or it panicked): the others are stopped gracefully first.
    ///
    /// # Examples
    /// ```
    /// use hsys::{Request, Response, Server};
    ///
    /// let server = Server::builder()
    ///     .bind("127.0.0.1:0")
    ///     .serve(|_: &Request<'_>, res: &mut Response<'_>| {
    ///         let _ = res.body(b"hello");
    ///     })?;
    /// let stop = server.shutdown_handle();
    /// std::thread::spawn(move || stop.shutdown()); // a signal handler would do this
    /// server.run()?; // returns once the server has stopped
    /// # Ok::<(), hsys::Error>(())
    /// ```
    pub fn run(mut self) -> Result<(), Error> {
        let died = loop {
            if self.threads.iter().all(JoinHandle::is_finished) {
                break !self.shared.is_stopping();
            }
            if !self.shared.is_stopping() && self.threads.iter().any(JoinHandle::is_finished) {
                break true;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        self.shared.stop();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.join_access_log();
        // (A panicking thread is caught at its top and counted, so its join is `Ok`.)
        let panicked = self.shared.died.load(Ordering::Acquire);
        match (died, panicked) {
            (false, 0) => Ok(()),
            (_, 0) => Err(Error::io_thread("an I/O thread ended on its own (its event queue failed)")),
            (_, n) => Err(Error::io_thread(format!("{n} I/O thread(s) panicked"))),
        }
    }
}
