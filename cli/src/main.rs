//! `hsys`: the http.sys "High-performance HTTP Server" sample, done right. The only place that prints.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use clap::Parser;
use hsys::limits as lim;
mod access_log;
mod log;
mod metrics;
mod restart;
mod systemd;
mod tls;

use hsys::{
    IgnoreBody, Limits, MinRate, Prepared, Reply, Request, RequestQueue, Response, Server, Snapshot, Target, Timeouts,
    UrlGroups,
};

/// A high-performance HTTP/1.1 and HTTP/2 server: answers GET on every URL prefix given with a
/// `0123456789…` text/plain body, prints its counters, and stops on any key, SIGINT or SIGTERM
/// (SIGHUP reloads the TLS certificates and reopens the access log; SIGUSR2 restarts it without
/// failing a request).
#[derive(Parser, Debug)]
#[command(name = "hsys", version, about)] // the name, not the package's (hsys-cli)
struct Args {
    /// URL prefixes to serve, `http://host:port/path/` or `https://…` (host: a name, an IP
    /// literal, `+` or `*`); an https port needs --cert and --key.
    #[arg(value_name = "URL", default_value = "http://localhost:8080/")]
    urls: Vec<String>,
    /// I/O threads (default: the number of cores).
    #[arg(short, long, value_name = "N", value_parser = at_least_one)]
    threads: Option<usize>,
    /// Size of the answer body in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 512)]
    body_size: usize,
    /// Seconds between stats lines; 0 turns them off.
    #[arg(long, value_name = "SECS", default_value_t = 3)]
    stats: u64,
    /// Bound on a graceful stop, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 15)]
    shutdown_timeout: u64,
    /// Serve from a request queue taken by N application threads (the sample's
    /// receive/respond model) instead of inline on the I/O threads.
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    queued: Option<usize>,
    /// Let the server keep the sample's answer (to GET/HEAD) for SECS seconds and serve it from
    /// its response cache, on the I/O threads (with --queued, repeated requests never reach the
    /// queue).
    #[arg(long, value_name = "SECS")]
    cache_ttl: Option<u32>,
    /// I/O backend: auto (io-uring where the kernel allows it, else epoll), epoll or io-uring
    /// (default: what HSYS_BACKEND names, else auto).
    #[arg(long, value_name = "NAME")]
    backend: Option<hsys::Backend>,
    /// HTTP/2: h2c by prior knowledge on cleartext ports (beside HTTP/1.1), `h2` by ALPN over TLS
    #[arg(long, value_name = "on|off", default_value = "on", value_parser = on_off, action = clap::ArgAction::Set)]
    http2: bool,
    /// Request line plus headers, in bytes (over it: 431).
    #[arg(long, value_name = "BYTES", default_value_t = lim::DEFAULT_MAX_REQUEST_BYTES, help_heading = "Limits")]
    max_request_bytes: usize,
    /// One header line, in bytes (over it: 431).
    #[arg(long, value_name = "BYTES", default_value_t = lim::DEFAULT_MAX_FIELD_LENGTH, help_heading = "Limits")]
    max_field_length: usize,
    /// Request body, in bytes; 0 = unlimited (over it: 413).
    #[arg(long, value_name = "BYTES", default_value_t = lim::DEFAULT_MAX_BODY_SIZE, help_heading = "Limits")]
    max_body_size: u64,
    /// Open connections; 0 = unlimited (past it, new connections wait in the backlog).
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = "Limits")]
    max_connections: usize,
    /// Requests waiting in the queue with --queued (past it: 503).
    #[arg(long, value_name = "N", default_value_t = hsys::limits::DEFAULT_QUEUE_LENGTH, help_heading = "Limits")]
    queue_length: usize,
    /// Seconds for a request head to arrive once begun (late: 408).
    #[arg(long, value_name = "SECS", default_value_t = lim::DEFAULT_HEADER_WAIT.as_secs(), help_heading = "Timeouts")]
    header_wait: u64,
    /// Seconds a keep-alive connection may sit idle.
    #[arg(long, value_name = "SECS", default_value_t = lim::DEFAULT_IDLE_CONNECTION.as_secs(), help_heading = "Timeouts")]
    idle_timeout: u64,
    /// Seconds between arrivals of request-body bytes (late: 408); also the drain bound.
    #[arg(long, value_name = "SECS", default_value_t = lim::DEFAULT_ENTITY_BODY.as_secs(), help_heading = "Timeouts")]
    entity_body_timeout: u64,
    /// Bytes per second a client must read answers at; 0 = no minimum.
    #[arg(long, value_name = "BYTES_PER_SEC", default_value_t = lim::DEFAULT_MIN_SEND_RATE, help_heading = "Timeouts")]
    min_send_rate: u64,
    /// Bytes per second a request body being read must arrive at, averaged from its start and
    /// judged once the grace has passed (slower: 408); 0 = no minimum. (The sample's answers
    /// never read a body: one is drained, bounded by --entity-body-timeout in all.)
    #[arg(long, value_name = "BYTES_PER_SEC", default_value_t = 0, help_heading = "Timeouts")]
    min_receive_rate: u64,
    /// Seconds a request body is given before --min-receive-rate is judged.
    #[arg(long, value_name = "SECS", default_value_t = lim::DEFAULT_RECEIVE_RATE_GRACE.as_secs(), help_heading = "Timeouts")]
    min_receive_rate_grace: u64,
    #[command(flatten)]
    tls: tls::TlsArgs,
    #[command(flatten)]
    metrics: metrics::MetricsArgs,
    #[command(flatten)]
    access_log: access_log::AccessLogArgs,
    #[command(flatten)]
    log: log::LogArgs,
    #[command(flatten)]
    restart: restart::RestartArgs,
}

/// A count of 1 or more (clap's own range check would print the range up to `u64::MAX`).
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

impl Args {
    fn limits(&self) -> Limits {
        Limits::default()
            .max_request_bytes(self.max_request_bytes)
            .max_field_length(self.max_field_length)
            .max_body_size((self.max_body_size > 0).then_some(self.max_body_size))
            .max_connections((self.max_connections > 0).then_some(self.max_connections))
    }

    fn timeouts(&self) -> Timeouts {
        Timeouts::default()
            .header_wait(Duration::from_secs(self.header_wait))
            .idle_connection(Duration::from_secs(self.idle_timeout))
            .entity_body(Duration::from_secs(self.entity_body_timeout))
            .drain_entity_body(Duration::from_secs(self.entity_body_timeout))
            .min_send_rate(self.min_send_rate)
            .min_receive_rate((self.min_receive_rate > 0).then(|| {
                MinRate::per_second(self.min_receive_rate).grace(Duration::from_secs(self.min_receive_rate_grace))
            }))
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = log::install(&args.log) {
        eprintln!("hsys: {e}");
        return ExitCode::from(2);
    }
    // Started by a restart (SIGUSR2): where to say this process serves. Taken, as the
    // listeners below, before any thread starts.
    let handover = restart::Handover::take();
    let mut restarter = restart::Restarter::new(&args.restart);
    // Socket activation: the socket unit's listeners (or a restart's), taken before any thread
    // starts (the variables are removed from the environment).
    let inherited = match hsys::systemd::listen_fds() {
        Ok(fds) => fds,
        Err(e) => {
            eprintln!("hsys: {e}");
            return ExitCode::from(2);
        }
    };
    // What each inherited socket is, for the listening lines.
    let inherited_lines: Vec<String> = inherited
        .iter()
        .map(|fd| {
            let addr = fd.listener.local_addr().map_or_else(|e| e.to_string(), |a| a.to_string());
            format!("{addr}{}", fd.name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default())
        })
        .collect();
    let body: &'static [u8] = Box::leak((0..args.body_size).map(|i| b'0' + (i % 10) as u8).collect());
    let queue = args.queued.map(|_| RequestQueue::new(args.queue_length));
    let answers = Arc::new(Answers::new(body, args.cache_ttl));
    let target = match &queue {
        Some(q) => Target::Queue(q.clone()),
        // The answer never depends on a request body: none is collected, no `100 Continue` is
        // sent, and a body that comes anyway is drained (or the connection closed past a bound).
        None => {
            let answers = Arc::clone(&answers);
            Target::inline(IgnoreBody(move |req: &Request<'_>, res: &mut Response<'_>| {
                let _ = res.prepared(answers.to(req.method()));
            }))
        }
    };
    let mut groups = UrlGroups::new();
    let group = groups.create_group(target);
    // Each prefix as registered (`http://+:8080/a` is `http://+:8080/a/`), for the listening lines.
    let mut registered = Vec::new();
    for raw in &args.urls {
        if let Err(e) = groups.add_url(group, raw) {
            eprintln!("hsys: {e}");
            return ExitCode::from(2);
        }
        registered.push(UrlGroups::canonical_url(raw).unwrap_or_else(|_| raw.clone()));
    }
    // `--metrics URL`: a group of its own (an https prefix is served with the certificates).
    let metrics = match args.metrics.url.as_deref().map(|url| metrics::Endpoint::register(&mut groups, url)) {
        None => None,
        Some(Ok((endpoint, prefix))) => {
            registered.push(prefix);
            Some(endpoint)
        }
        Some(Err(e)) => {
            eprintln!("hsys: --metrics: {e}");
            return ExitCode::from(2);
        }
    };
    // The certificates of the https prefixes' ports, every file read (and checked) before the start.
    let (tls, bindings) = match tls::Tls::plan(&args.tls, &registered) {
        Ok(None) => (None, Vec::new()),
        Ok(Some(tls)) => match tls.load() {
            Ok(bindings) => (Some(tls), bindings),
            Err(e) => {
                eprintln!("hsys: {e}");
                return ExitCode::from(2);
            }
        },
        Err(e) => {
            eprintln!("hsys: {e}");
            return ExitCode::from(2);
        }
    };
    // Half-closing clients (`printf … | nc -N`) get their answers with `--queued` too: the
    // sample's answers come at once, so nothing waits long on a client that may be gone.
    let mut builder = Server::builder()
        .shutdown_timeout(Duration::from_secs(args.shutdown_timeout))
        .limits(args.limits())
        .timeouts(args.timeouts())
        .half_close(true)
        .http2(args.http2)
        .inherit_listeners(inherited.into_iter().map(|fd| fd.listener));
    for (key, binding) in bindings {
        builder = builder.cert_binding(key, binding);
    }
    if let Some(n) = args.threads {
        builder = builder.threads(n);
    }
    if let Some(b) = args.backend {
        builder = builder.backend(b);
    }
    match args.access_log.log() {
        Ok(None) => {}
        Ok(Some(log)) => builder = builder.access_log(log),
        Err(e) => {
            eprintln!("hsys: {e}");
            return ExitCode::from(2);
        }
    }
    // Signals are watched before the server starts: a SIGTERM that comes as soon as it serves
    // stops it gracefully, rather than killing it by the default action.
    let (stop_tx, stop_rx) = mpsc::channel::<Event>();
    // Keys only from a terminal we are in the foreground of: started with `&`, hsys must not
    // touch the terminal (tcsetattr from the background suspends the process with SIGTTOU).
    let terminal = if std::io::stdin().is_terminal() { terminal::RawMode::enter() } else { None };
    watch_signals(stop_tx.clone(), terminal.as_ref().map(|t| t.saved()));
    let mut server = match builder.serve_groups(groups) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hsys: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(m) = &metrics {
        m.attach(&server);
    }
    let app_threads: Vec<_> = match (&queue, args.queued) {
        (Some(q), Some(n)) => (0..n)
            .map(|_| {
                let (q, answers) = (q.clone(), Arc::clone(&answers));
                std::thread::spawn(move || {
                    while let Some(req) = q.receive() {
                        let answer = Arc::clone(answers.to(req.method()));
                        req.respond(Reply::prepared(answer));
                    }
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    for prefix in &registered {
        println!("Listening for requests on the following url: {prefix}");
    }
    let from = if handover.is_some() { "the process restarted" } else { "the service manager" };
    for socket in &inherited_lines {
        println!("Listening on a socket from {from}: {socket}");
    }
    let mut service = systemd::Service::from_env();
    let pid_file = match args.restart.pid_file.as_deref().map(restart::PidFile::write) {
        None => None,
        Some(Ok(f)) => Some(f),
        Some(Err(e)) => {
            eprintln!("hsys: --pid-file: {e}");
            return ExitCode::from(1);
        }
    };
    let state = service.ready_state(registered.len(), &server, inherited_lines.len());
    match handover {
        // The old process tells systemd, with the new main pid.
        Some(h) => {
            service.handed_over();
            if let Err(e) = h.ready(&state) {
                eprintln!("hsys: restart: the old process is gone: {e}");
            }
        }
        None => service.notify(&state),
    }
    let mut restarted = false;

    if let Some(t) = &terminal {
        t.watch_keys(stop_tx.clone());
        println!("Press any key to exit ...");
    } else {
        println!("Send SIGINT or SIGTERM to exit ...");
    }
    let interval = (args.stats > 0).then(|| Duration::from_secs(args.stats));
    let tls_columns = tls.is_some();
    if interval.is_some() {
        println!("Requests Received,   Responses Sent{}", if tls_columns { tls::STATS_HEADER } else { "" });
        print_stats(server.stats(), tls_columns, false);
    }
    let _ = std::io::stdout().flush();
    let mut next_stats = interval.map(|i| Instant::now() + i);
    loop {
        let got = match next_stats.into_iter().chain(service.watchdog_due()).min() {
            Some(at) => stop_rx.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => stop_rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        match got {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                if let (Some(at), Some(i)) = (next_stats, interval)
                    && now >= at
                {
                    print_stats(server.stats(), tls_columns, false);
                    next_stats = Some(now + i);
                }
                service.watchdog(now, &server);
            }
            Ok(Event::Reload) => {
                let reopened = args.access_log.reopen(&server);
                match &tls {
                    Some(tls) => tls.reload(&server),
                    None if reopened => {}
                    None => eprintln!("hsys: SIGHUP: no https:// prefix, no certificates to reload"),
                }
            }
            Ok(Event::Restart) => {
                let listeners = server.listeners().unwrap_or_else(|e| {
                    eprintln!("hsys: SIGUSR2: {e}");
                    Vec::new()
                });
                let events = stop_tx.clone();
                restarter.start(listeners, move |outcome| drop(events.send(Event::Restarted(outcome))));
            }
            Ok(Event::Restarted(outcome)) => {
                restarter.finished();
                match outcome {
                    restart::Outcome::Ready { pid, state } => {
                        eprintln!("hsys: restart: process {pid} serves; this one stops accepting and drains");
                        service.main_pid(pid, &state);
                        restarted = true;
                        break;
                    }
                    restart::Outcome::Failed(why) => {
                        eprintln!("hsys: restart failed: {why}; this process goes on serving");
                    }
                }
            }
            Ok(Event::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    restarter.abandon();
    if !restarted {
        service.stopping();
    }
    server.shutdown();
    let stopped = server.wait(Duration::from_secs(args.shutdown_timeout) + Duration::from_secs(1));
    if let Some(q) = &queue {
        q.shutdown();
    }
    for t in app_threads {
        let _ = t.join();
    }
    drop(terminal);
    if let Some(f) = &pid_file {
        f.remove_if_ours();
    }
    println!("Stopped. Requests Received,   Responses Sent{}", if tls_columns { tls::STATS_HEADER } else { "" });
    print_stats(server.stats(), tls_columns, true);
    access_log::report(&server.stats());
    match stopped {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("hsys: the graceful stop timed out");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("hsys: {e}");
            ExitCode::from(1)
        }
    }
}

/// The sample's answers, encoded once (`Prepared`): per request only the status line, the
/// cached `Server`/`Date` block and `Connection` (when needed) are added, inline or queued.
struct Answers {
    ok: Arc<Prepared>,
    /// Any other method HTTP defines: `405` with `Allow`, the connection kept.
    not_allowed: Arc<Prepared>,
    /// A method HTTP does not define (`BREW`): `501`, and the connection closed, as for any
    /// request hsys cannot make sense of.
    not_implemented: Arc<Prepared>,
}

impl Answers {
    /// `cache_ttl`: the `200`'s time to live in the response cache (`None`: not stored).
    fn new(body: &[u8], cache_ttl: Option<u32>) -> Self {
        // Constant statuses and headers, all valid: `Prepared::new` cannot refuse them.
        let prepared = |status, headers: &[(&str, &[u8])], body: &[u8]| {
            Arc::new(Prepared::new(status, headers.iter().copied(), body).expect("valid"))
        };
        let ok = prepared(200, [("Content-Type", &b"text/plain"[..])].as_slice(), body);
        let ok = match cache_ttl {
            Some(secs) => Arc::new(Prepared::clone(&ok).cache(hsys::CachePolicy::TimeToLive(secs))),
            None => ok,
        };
        Answers {
            ok,
            not_allowed: prepared(
                405,
                &[("Allow", &b"GET, HEAD"[..]), ("Content-Type", b"text/plain")],
                b"Method Not Allowed\n",
            ),
            not_implemented: prepared(
                501,
                &[("Content-Type", &b"text/plain"[..]), ("Connection", b"close")],
                b"Not Implemented\n",
            ),
        }
    }

    /// The answer to a request with `method`.
    fn to(&self, method: &str) -> &Arc<Prepared> {
        match method {
            "GET" | "HEAD" => &self.ok,
            m if hsys::is_standard_method(m) => &self.not_allowed,
            _ => &self.not_implemented,
        }
    }
}

/// Prints a stats line: the counts, the TLS columns with `tls`, and (`last`) why TLS failed.
fn print_stats(s: Snapshot, tls: bool, last: bool) {
    let (columns, reasons) = match (tls, last) {
        (false, _) => (String::new(), String::new()),
        (true, false) => (tls::stats_columns(&s), String::new()),
        (true, true) => (tls::stats_columns(&s), tls::failure_reasons(&s.tls_failed)),
    };
    println!("{:>17},{:>17}{columns}{reasons}", s.requests_received, s.responses_sent);
    let _ = std::io::stdout().flush();
}

/// What the main loop is told, by a signal or a key.
enum Event {
    /// Stop gracefully.
    Stop,
    /// SIGHUP: read the certificate files again, reopen the access log.
    Reload,
    /// SIGUSR2: start a new process and hand it the listeners.
    Restart,
    /// The restart's new process serves, or could not.
    Restarted(restart::Outcome),
}

/// SIGINT/SIGTERM: the first starts a graceful stop, a second exits at once. SIGHUP: reload.
/// SIGUSR2: restart.
fn watch_signals(events: mpsc::Sender<Event>, saved: Option<libc::termios>) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR2};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR2]) else {
        eprintln!("hsys: cannot watch signals; stop with a key or kill -9");
        return;
    };
    std::thread::spawn(move || {
        let mut seen = 0;
        for signal in signals.forever() {
            if signal == SIGHUP {
                let _ = events.send(Event::Reload);
                continue;
            }
            if signal == SIGUSR2 {
                let _ = events.send(Event::Restart);
                continue;
            }
            seen += 1;
            if seen == 1 {
                let _ = events.send(Event::Stop);
            } else {
                if let Some(t) = saved {
                    terminal::restore(&t);
                }
                eprintln!("hsys: second signal, exiting now");
                std::process::exit(130);
            }
        }
    });
}

mod terminal {
    //! Raw-ish terminal mode (no line buffering, no echo) so any key stops the server, entered
    //! only from the terminal's foreground, and never a reason for the process to be suspended.

    use std::io::Read;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::Event;

    /// The terminal's own mode (restored when dropped) and the raw one hsys put it in.
    pub struct RawMode {
        saved: libc::termios,
        raw: libc::termios,
    }

    /// Whether this process is in the foreground process group of the terminal on stdin.
    fn in_foreground() -> bool {
        // SAFETY: tcgetpgrp and getpgrp only read process state; tcgetpgrp fails (-1) when stdin
        // is not our controlling terminal, which is never equal to our process group.
        unsafe { libc::tcgetpgrp(libc::STDIN_FILENO) == libc::getpgrp() }
    }

    impl RawMode {
        /// Switches stdin to non-canonical, no-echo mode; `None` when stdin is not a terminal or
        /// this process is not in its foreground process group (started with `&`: a `tcsetattr`
        /// from the background would suspend the process with SIGTTOU).
        ///
        /// Once in raw mode, SIGTTOU and SIGTTIN are ignored for the rest of the run: put in the
        /// background later (Ctrl-Z, `bg`), hsys keeps serving; restoring the mode then goes
        /// through instead of suspending the process, and reading a key fails with `EIO`
        /// (see [`watch_keys`]) instead of suspending it.
        pub fn enter() -> Option<RawMode> {
            if !in_foreground() {
                return None;
            }
            // SAFETY: setting a signal's disposition to SIG_IGN installs no handler; nothing else
            // in hsys handles SIGTTOU or SIGTTIN.
            unsafe {
                libc::signal(libc::SIGTTOU, libc::SIG_IGN);
                libc::signal(libc::SIGTTIN, libc::SIG_IGN);
            }
            let mut saved = std::mem::MaybeUninit::<libc::termios>::uninit();
            // SAFETY: tcgetattr writes a termios into the pointer on success; we read it only then.
            let saved = unsafe {
                if libc::tcgetattr(libc::STDIN_FILENO, saved.as_mut_ptr()) != 0 {
                    return None;
                }
                saved.assume_init()
            };
            let mut raw = saved;
            raw.c_lflag &= !(libc::ICANON | libc::ECHO);
            raw.c_cc[libc::VMIN] = 1;
            raw.c_cc[libc::VTIME] = 0;
            if !set(&raw) {
                return None;
            }
            Some(RawMode { saved, raw })
        }

        /// The mode to restore.
        pub fn saved(&self) -> libc::termios {
            self.saved
        }

        /// Reads stdin on a thread of its own and sends `stop` at the first key (or at the end of
        /// input). In the background the read fails (`EIO`): the thread waits to be back in the
        /// foreground, puts the terminal back in raw mode (a shell's `fg` may not) and reads again.
        pub fn watch_keys(&self, stop: mpsc::Sender<Event>) {
            let raw = self.raw;
            std::thread::spawn(move || {
                let mut byte = [0u8; 1];
                loop {
                    match std::io::stdin().read(&mut byte) {
                        Ok(_) => {
                            let _ = stop.send(Event::Stop);
                            return;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) if !in_foreground() => {
                            while !in_foreground() {
                                std::thread::sleep(Duration::from_millis(200));
                            }
                            set(&raw);
                        }
                        // Keys cannot be read: signals still stop the server.
                        Err(_) => return,
                    }
                }
            });
        }
    }

    /// Puts the terminal in `mode`; `false` if it refused.
    fn set(mode: &libc::termios) -> bool {
        // SAFETY: `mode` is a termios that tcgetattr gave for this descriptor, or a copy of one
        // with some flags changed.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, mode) == 0 }
    }

    /// Puts the terminal back in `saved` mode (SIGTTOU is ignored: this cannot suspend us).
    pub fn restore(saved: &libc::termios) {
        set(saved);
    }

    impl Drop for RawMode {
        fn drop(&mut self) {
            restore(&self.saved);
        }
    }
}

/// `on` or `off`.
fn on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("`{s}`: expected on or off")),
    }
}
