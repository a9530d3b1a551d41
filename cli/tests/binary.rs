//! The `hsys` binary over real sockets: the sample's behaviour, done right.

// The helpers the library's tests use too (this package owns the tests that start the binary).
#[path = "../../tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{Client, Running, STEP, bin, digits, exit_within, get, read_for};

/// The binary's two ways of serving: inline on the I/O threads, and from a request queue.
const MODES: [&[&str]; 2] = [&[], &["--queued", "2"]];

#[test]
fn get_answers_512_digits_with_headers() {
    let srv = Running::start(&[]);
    let agent = ureq::Agent::new_with_defaults();
    let mut resp = agent.get(&format!("http://{}/any/path", srv.addr)).call().expect("GET");
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h.get("content-type").unwrap(), "text/plain");
    assert_eq!(h.get("content-length").unwrap(), "512");
    assert!(h.get("server").unwrap().to_str().unwrap().starts_with("hsys/"));
    assert!(h.get("date").unwrap().to_str().unwrap().ends_with(" GMT"));
    let body = resp.body_mut().read_to_vec().unwrap();
    assert_eq!(body, digits(512));
}

#[test]
fn body_size_option() {
    let srv = Running::start(&["--body-size", "37"]);
    let mut c = Client::connect(srv.addr);
    let r = c.exchange(&get("/"));
    assert_eq!(r.body, digits(37));
}

#[test]
fn sixteen_pipelined_requests_in_one_write() {
    for args in MODES {
        let srv = Running::start(args);
        let mut c = Client::connect(srv.addr);
        let all: Vec<u8> = (0..16).flat_map(|i| get(&format!("/{i}"))).collect();
        c.send(&all);
        for _ in 0..16 {
            let r = c.read(false);
            assert_eq!(r.status, 200);
            assert_eq!(r.body, digits(512));
        }
        // Still open and in sync.
        assert_eq!(c.exchange(&get("/")).status, 200);
    }
}

#[test]
fn request_split_byte_by_byte() {
    let srv = Running::start(&[]);
    let mut c = Client::connect(srv.addr);
    for b in get("/slow") {
        c.send(&[b]);
        std::thread::sleep(Duration::from_millis(1));
    }
    let r = c.read(false);
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 512);
}

#[test]
fn head_has_length_but_no_body() {
    for args in MODES {
        let srv = Running::start(args);
        let mut c = Client::connect(srv.addr);
        c.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.read(true);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-length"), Some("512"));
        // The next answer starts right after the head: no body bytes were sent.
        let r = c.exchange(&get("/"));
        assert_eq!(r.status, 200);
        assert_eq!(r.body, digits(512));
    }
}

#[test]
fn other_methods_get_405_and_keep_the_connection() {
    for args in MODES {
        let srv = Running::start(args);
        let mut c = Client::connect(srv.addr);
        let r = c.exchange(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
        assert_eq!(r.header("connection"), None);
        let r = c.exchange(b"DELETE /x HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(r.status, 405);
        assert_eq!(c.exchange(&get("/")).status, 200);
    }
}

#[test]
fn a_method_http_does_not_define_gets_501_and_a_close_inline_and_queued() {
    for args in MODES {
        let srv = Running::start(args);
        let mut c = Client::connect(srv.addr);
        // Inline, the request after it is never read: the connection closes after the 501.
        // Queued, both were queued (one read) before the 501 came back: the GET is answered
        // too, and the close goes with it.
        c.send(b"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.read(false);
        if args.is_empty() {
            assert_eq!((r.status, r.header("connection")), (501, Some("close")), "{args:?}");
        } else {
            assert_eq!((r.status, r.header("connection")), (501, None), "{args:?}");
            let r = c.read(false);
            assert_eq!((r.status, r.header("connection")), (200, Some("close")), "{args:?}");
            assert_eq!(r.body, digits(512));
        }
        assert!(c.closed(), "{args:?}");
        // Methods are case-sensitive: `get` is not `GET`.
        let mut c = Client::connect(srv.addr);
        assert_eq!(c.exchange(b"get / HTTP/1.1\r\nHost: t\r\n\r\n").status, 501, "{args:?}");
        let mut c = Client::connect(srv.addr);
        assert_eq!(c.exchange(&get("/")).status, 200, "{args:?}");
    }
}

#[test]
fn queued_answers_pipelined_behind_a_501_are_sent_before_the_close() {
    // Every request queued before the 501's answer came back is answered, in order; the last
    // answer says `Connection: close`; nothing read after it is queued. Repeated, so the
    // application threads answer in every order.
    let srv = Running::start(&["--queued", "2"]);
    for _ in 0..20 {
        let mut c = Client::connect(srv.addr);
        let mut all = get("/0");
        all.extend_from_slice(b"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n");
        for i in 1..=8 {
            all.extend_from_slice(&get(&format!("/{i}")));
        }
        c.send(&all);
        assert_eq!((c.read(false).status, c.read(false).status), (200, 501));
        let mut answers = Vec::new();
        let reading = Instant::now();
        while let Some(r) = c.try_read(false) {
            answers.push((r.status, r.header("connection").map(str::to_owned)));
        }
        // The reads ended at the server's close, not at the client's read timeout.
        assert!(reading.elapsed() < Duration::from_secs(5), "no close after the answers: {answers:?}");
        // All eight GETs arrived with the BREW in one write: all were queued before its answer,
        // and all are answered, in order, the last with `Connection: close` (put into its head
        // if its application answered it before the 501 came back).
        let mut want = vec![(200, None); 8];
        want[7].1 = Some("close".to_owned());
        assert_eq!(answers, want);
    }
    srv.signal(libc::SIGTERM);
    let (status, out, _) = srv.wait();
    assert!(status.success(), "{status:?}");
    // The server's own count: every request received was answered.
    let last = out.lines().last().unwrap_or_default();
    assert_eq!(last, format!("{:>17},{:>17}", 200, 200));
}

#[test]
fn http10_closes_unless_keep_alive() {
    let srv = Running::start(&[]);
    let mut c = Client::connect(srv.addr);
    let r = c.exchange(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 512);
    assert!(c.closed());

    let mut c = Client::connect(srv.addr);
    let r = c.exchange(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(r.header("connection"), Some("keep-alive"));
    let r = c.exchange(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(r.status, 200);
}

#[test]
fn connection_close_is_honoured() {
    let srv = Running::start(&[]);
    let mut c = Client::connect(srv.addr);
    let r = c.exchange(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(r.body.len(), 512);
    assert!(c.closed());
}

#[test]
fn oversized_and_malformed_heads_are_refused_and_closed() {
    let srv = Running::start(&[]);
    let mut c = Client::connect(srv.addr);
    let mut big = b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: ".to_vec();
    big.resize(17 * 1024, b'a');
    c.send(&big);
    let r = c.read(false);
    assert_eq!(r.status, 431);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed());

    let mut c = Client::connect(srv.addr);
    let r = c.exchange(b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n");
    assert_eq!(r.status, 400);
    assert!(c.closed());

    // Others are still served.
    assert_eq!(Client::connect(srv.addr).exchange(&get("/")).status, 200);
}

#[test]
fn sigterm_stops_gracefully_answering_requests_in_flight() {
    let srv = Running::start(&[]);
    // Requests in flight: heads partly sent when the stop begins.
    let mut partial: Vec<Client> = (0..8).map(|_| Client::connect(srv.addr)).collect();
    for c in &mut partial {
        c.send(b"GET /inflight HTTP/1.1\r\nHost: t\r\n");
    }
    let mut idle = Client::connect(srv.addr);
    assert_eq!(idle.exchange(&get("/")).status, 200);
    std::thread::sleep(Duration::from_millis(100));
    srv.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(200));
    // The idle keep-alive connection is closed; new connections are refused.
    assert!(idle.closed());
    assert!(std::net::TcpStream::connect(srv.addr).is_err());
    for c in &mut partial {
        c.send(b"\r\n");
        let r = c.read(false);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection"), Some("close"));
        assert_eq!(r.body.len(), 512);
        assert!(c.closed());
    }
    let (status, out, _) = srv.wait();
    assert!(status.success(), "{status:?}");
    assert!(out.contains("Listening for requests on the following url: http://127.0.0.1:"));
    // Final totals: 9 received, 9 sent.
    let last = out.lines().last().unwrap();
    assert_eq!(last, format!("{:>17},{:>17}", 9, 9));
}

#[test]
fn sigterm_under_load_answers_every_request_sent_inline_and_queued() {
    // 32 keep-alive connections send requests back to back; SIGTERM comes in the middle. Each
    // request written whole is answered, the last with `Connection: close`; none meets an
    // end-of-file or a reset. Three times in a row, each way of serving.
    for args in MODES {
        for run in 0..3 {
            let srv = Running::start(args);
            let t = support::requests_across_a_stop(srv.addr, 32, || srv.signal(libc::SIGTERM));
            let (status, out, _) = srv.wait();
            assert!(status.success(), "{args:?} run {run}: {status:?}");
            assert_eq!((t.lost, t.closed_by_answer), (0, 32), "{args:?} run {run}: {t:?}");
            assert_eq!(t.sent, t.answered, "{args:?} run {run}: {t:?}");
            // The server's own count agrees: every request it received was answered.
            let last = out.lines().last().unwrap_or_default();
            assert_eq!(last, format!("{:>17},{:>17}", t.sent, t.sent), "{args:?} run {run}: {t:?}");
        }
    }
}

#[test]
fn stats_lines_are_printed() {
    let srv = Running::start(&["--stats", "1"]);
    let mut c = Client::connect(srv.addr);
    for _ in 0..3 {
        c.exchange(&get("/"));
    }
    std::thread::sleep(Duration::from_millis(1300));
    srv.signal(libc::SIGINT);
    let (status, out, _) = srv.wait();
    assert!(status.success());
    assert!(out.contains("Requests Received,   Responses Sent\n"));
    assert!(out.contains(&format!("{:>17},{:>17}\n", 3, 3)), "{out}");
}

/// Every answer has its request: refusals (a malformed head, one refused before its end, a
/// body over the limit, a head that timed out) count as requests received, so the stop line
/// does not show more responses sent than requests received.
#[test]
fn refused_requests_count_as_received() {
    let srv = Running::start(&["--header-wait", "1", "--max-field-length", "64", "--max-body-size", "10"]);
    let mut c = Client::connect(srv.addr);
    for _ in 0..3 {
        assert_eq!(c.exchange(&get("/")).status, 200);
    }
    let mut c = Client::connect(srv.addr);
    assert_eq!(c.exchange(b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n").status, 400);
    // A header line found too long before the head ends (in a partial head's new bytes).
    let mut c = Client::connect(srv.addr);
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n");
    std::thread::sleep(Duration::from_millis(50));
    c.send(format!("X: {}", "v".repeat(100)).as_bytes());
    assert_eq!(c.read(false).status, 431);
    let mut c = Client::connect(srv.addr);
    assert_eq!(c.exchange(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n").status, 413);
    let mut c = Client::connect(srv.addr);
    c.send(b"GET / HTTP/1.1\r\n");
    assert_eq!(c.read(false).status, 408);
    srv.signal(libc::SIGTERM);
    let (status, out, _) = srv.wait();
    assert!(status.success(), "{status:?}");
    let mut lines = out.lines().rev();
    let totals = lines.next().unwrap();
    assert_eq!(lines.next(), Some("Stopped. Requests Received,   Responses Sent"), "{out}");
    assert_eq!(totals, format!("{:>17},{:>17}", 7, 7), "{out}");
}

#[test]
fn help_names_every_option_with_its_default() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let want = [
        ("[URL]...", "[default: http://localhost:8080/]"),
        ("--threads <N>", ""),
        ("--body-size <BYTES>", "[default: 512]"),
        ("--stats <SECS>", "[default: 3]"),
        ("--shutdown-timeout <SECS>", "[default: 15]"),
        ("--queued <N>", ""),
        ("--cache-ttl <SECS>", ""),
        ("--backend <NAME>", ""),
        ("--max-request-bytes <BYTES>", "[default: 16384]"),
        ("--max-field-length <BYTES>", "[default: 16384]"),
        ("--max-body-size <BYTES>", "[default: 1048576]"),
        ("--max-connections <N>", "[default: 0]"),
        ("--queue-length <N>", "[default: 1000]"),
        ("--header-wait <SECS>", "[default: 120]"),
        ("--idle-timeout <SECS>", "[default: 120]"),
        ("--entity-body-timeout <SECS>", "[default: 120]"),
        ("--min-send-rate <BYTES_PER_SEC>", "[default: 150]"),
        ("--min-receive-rate <BYTES_PER_SEC>", "[default: 0]"),
        ("--min-receive-rate-grace <SECS>", "[default: 5]"),
        ("--cert <PEM>", ""),
        ("--key <PEM>", ""),
        ("--host-cert <HOST=CERT_PEM,KEY_PEM>", ""),
        ("--client-ca <PEM>", ""),
        ("--client-cert <MODE>", "[default: required]"),
        ("--log-level <LEVEL>", "[default: warn]"),
        ("--pid-file <PATH>", ""),
        ("--restart-timeout <SECS>", "[default: 30]"),
    ];
    for (option, default) in want {
        // clap puts an option's default at the end of its (possibly wrapped) description.
        let at = help.find(option).unwrap_or_else(|| panic!("{option} missing from:\n{help}"));
        let entry = &help[at..];
        let end = entry[option.len()..].find("\n  -").map_or(entry.len(), |e| e + option.len());
        assert!(entry[..end].contains(default), "{option}: {default} missing from:\n{}", &entry[..end]);
    }
}

#[test]
fn bad_url_exits_2_naming_it() {
    for url in ["ftp://x:1/", "http://host/", "http://h:99999/", "http://h:80/a?q"] {
        let out = bin().arg(url).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{url}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(url), "{url}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn an_unknown_backend_in_the_environment_is_refused_not_ignored() {
    let url = format!("http://127.0.0.1:{}/", support::free_port());
    let out = bin().env("HSYS_BACKEND", "uringg").arg(&url).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("HSYS_BACKEND") && err.contains("uringg"), "{err}");
    // `--backend` chooses explicitly: the variable does not matter then.
    let port = support::free_port();
    let mut child = bin()
        .env("HSYS_BACKEND", "uringg")
        .args(["--backend", "epoll", "--stats", "0", &format!("http://127.0.0.1:{port}/")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + STEP;
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "hsys --backend epoll did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(Client::connect(addr).exchange(&get("/")).status, 200);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn port_in_use_exits_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = bin().arg(format!("http://127.0.0.1:{port}/")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("address already in use"), "{err}");
    drop(taken);
}

#[test]
fn curl_gets_the_body() {
    let Ok(out) = std::process::Command::new("curl").arg("--version").output() else {
        panic!("curl is required for this test (.ci/run installs it)");
    };
    assert!(out.status.success());
    let srv = Running::start(&[]);
    let out = std::process::Command::new("curl")
        .args(["-s", "-i", "--max-time", "10"])
        .arg(format!("http://{}/", srv.addr))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with(std::str::from_utf8(&digits(512)).unwrap()));
    std::io::stdout().flush().unwrap();
}

/// The CPU time (user + system) a process has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = rest.split(' ').skip(11).take(2).map(|x| x.parse().unwrap()).collect();
    // SAFETY: sysconf reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis((f[0] + f[1]) * 1000 / hz)
}

#[test]
fn out_of_descriptors_it_neither_spins_nor_stops_and_recovers() {
    use std::os::unix::process::CommandExt;
    let port = support::free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut cmd = bin();
    cmd.arg(format!("http://127.0.0.1:{port}/")).args(["--threads", "2", "--stats", "0"]);
    // SAFETY: setrlimit is async-signal-safe; the closure touches nothing else.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit { rlim_cur: 64, rlim_max: 64 };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
        });
    }
    let srv = Running::spawn(cmd, addr).expect("hsys did not start");
    // A connection the server holds for certain: answered before the flood. (Connecting first
    // is not enough: each I/O thread has its own SO_REUSEPORT listener and the kernel spreads
    // connections over them by hash, so with the threads slow to run, one thread can take every
    // free descriptor from its own backlog while the first client waits in the other's, and it
    // waits there until descriptors come back, which this test does only after that exchange.)
    let mut clients = vec![Client::connect(addr)];
    assert_eq!(clients[0].exchange(&get("/")).status, 200);
    // Twice what its 64 descriptors allow: the rest wait in the backlog, accepts fail EMFILE.
    clients.extend((1..128).map(|_| Client::connect(addr)));
    std::thread::sleep(Duration::from_millis(300));
    let open = std::fs::read_dir(format!("/proc/{}/fd", srv.child.id())).unwrap().count();
    assert!(open >= 60, "only {open} descriptors open: the limit was not reached");
    let before = cpu_time(srv.child.id());
    std::thread::sleep(Duration::from_millis(1500));
    let used = cpu_time(srv.child.id()) - before;
    assert!(used < Duration::from_millis(500), "{used:?} of CPU in 1.5 s out of descriptors: it spins");
    // Still serving the connections it holds.
    assert_eq!(clients[0].exchange(&get("/")).status, 200);
    // Descriptors given back: the waiting connections and new ones are served.
    let waiting = clients.split_off(100);
    drop(clients);
    for mut c in waiting {
        assert_eq!(c.exchange(&get("/")).status, 200);
    }
    assert_eq!(Client::connect(addr).exchange(&get("/")).status, 200);
}

#[test]
fn limit_and_timeout_options_take_effect() {
    let srv = Running::start(&[
        "--max-body-size",
        "10",
        "--header-wait",
        "1",
        "--max-field-length",
        "64",
        "--min-receive-rate",
        "240",
        "--min-receive-rate-grace",
        "2",
    ]);
    let mut c = Client::connect(srv.addr);
    c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n");
    assert_eq!(c.read(false).status, 413);
    let mut c = Client::connect(srv.addr);
    let long = format!("GET / HTTP/1.1\r\nHost: t\r\nX: {}\r\n\r\n", "v".repeat(70));
    assert_eq!(c.exchange(long.as_bytes()).status, 431);
    let mut c = Client::connect(srv.addr);
    c.send(b"GET / HTTP/1.1\r\n");
    let started = std::time::Instant::now();
    assert_eq!(c.read(false).status, 408);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// Starts the binary with `args` (URLs and options), stdin closed, and waits until `addr` accepts.
fn start_at(addr: SocketAddr, args: &[String]) -> Running {
    let mut cmd = bin();
    cmd.args(args).args(["--threads", "2"]);
    Running::spawn(cmd, addr).expect("hsys did not start")
}

#[test]
fn second_hsys_on_the_same_address_exits_1() {
    let first = Running::start(&[]);
    let url = format!("http://{}/", first.addr);
    let mut second = bin()
        .arg(&url)
        .args(["--threads", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = exit_within(&mut second, STEP, "a second hsys on a port in use");
    assert_eq!(status.code(), Some(1), "{status:?}");
    let mut err = String::new();
    second.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(err, format!("hsys: cannot listen on {}: address already in use\n", first.addr));
    // The first one still has the port to itself.
    for _ in 0..8 {
        assert_eq!(Client::connect(first.addr).exchange(&get("/")).status, 200);
    }
}

/// Sockets on `port` in TIME_WAIT, from /proc/net/tcp.
fn time_wait_on(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let local = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[1].ends_with(&local) && f[3] == "06"
        })
        .count()
}

#[test]
fn restarts_on_a_port_with_connections_in_time_wait() {
    let port = support::free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let args = [format!("http://{addr}/")];
    let srv = start_at(addr, &args);
    for _ in 0..4 {
        let mut c = Client::connect(addr);
        assert_eq!(c.exchange(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").status, 200);
        assert!(c.closed());
    }
    srv.signal(libc::SIGTERM);
    let (status, _, _) = srv.wait();
    assert!(status.success());
    // The server closed first, so its side of each connection waits out TIME_WAIT on the port.
    assert!(time_wait_on(port) > 0, "no TIME_WAIT on {port}: the test proves nothing");
    let srv = start_at(addr, &args);
    assert_eq!(Client::connect(addr).exchange(&get("/")).status, 200);
    drop(srv);
}

/// Killed (`kill -9`, a crash) while serving on the default backend, io_uring where the kernel
/// has it: the kernel tears the dead process's rings down after it is gone, and until then their
/// multishot accepts keep its listeners open. A new hsys started at once on the same port must
/// wait for them rather than take them for a live server (it used to exit 1, "address already
/// in use", every time).
#[test]
fn restarts_at_once_after_being_killed() {
    let port = support::free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let args = [format!("http://{addr}/")];
    let mut srv = start_at(addr, &args);
    for round in 0..5 {
        // A connection kept open, with receives armed for it, as a busy server has.
        let mut c = Client::connect(addr);
        assert_eq!(c.exchange(&get("/")).status, 200, "round {round}");
        srv.child.kill().unwrap(); // SIGKILL
        srv.child.wait().unwrap();
        let started = Instant::now();
        srv = start_at(addr, &args);
        assert!(started.elapsed() < STEP, "round {round}");
        assert_eq!(Client::connect(addr).exchange(&get("/")).status, 200, "round {round}");
    }
}

#[test]
fn zero_queued_or_threads_is_a_usage_error() {
    for option in ["--queued", "--threads"] {
        let url = format!("http://127.0.0.1:{}/", support::free_port());
        let mut child = bin()
            .args([option, "0", &url])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let status = exit_within(&mut child, STEP, &format!("hsys {option} 0"));
        assert_eq!(status.code(), Some(2), "{option}: {status:?}");
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("invalid value '0' for '{option} <N>': must be at least 1")), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn listening_lines_show_prefixes_as_registered() {
    let port = support::free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let args = [format!("http://127.0.0.1:{port}/a"), format!("http://127.0.0.1:{port}/b/./C/../d/")];
    let srv = start_at(addr, &args);
    assert_eq!(Client::connect(addr).exchange(&get("/a/x")).status, 200);
    srv.signal(libc::SIGTERM);
    let (status, out, err) = srv.wait();
    assert!(status.success(), "{status:?}: {err}");
    let listening: Vec<&str> = out.lines().filter(|l| l.starts_with("Listening")).collect();
    assert_eq!(
        listening,
        [
            format!("Listening for requests on the following url: http://127.0.0.1:{port}/a/"),
            format!("Listening for requests on the following url: http://127.0.0.1:{port}/b/d/"),
        ]
    );
}

#[test]
fn a_second_signal_during_a_graceful_stop_exits_at_once() {
    for (first, second) in [(libc::SIGTERM, libc::SIGTERM), (libc::SIGINT, libc::SIGINT), (libc::SIGINT, libc::SIGTERM)]
    {
        let srv = Running::start(&["--shutdown-timeout", "30", "--header-wait", "30"]);
        // A request in flight: half a head, which the graceful stop waits for.
        let mut c = Client::connect(srv.addr);
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n");
        std::thread::sleep(Duration::from_millis(100));
        srv.signal(first);
        std::thread::sleep(Duration::from_millis(500));
        let mut srv = srv;
        assert!(srv.child.try_wait().unwrap().is_none(), "the graceful stop did not wait for the request in flight");
        let started = Instant::now();
        srv.signal(second);
        let status = exit_within(&mut srv.child, Duration::from_secs(5), "after a second signal");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(status.code(), Some(130), "{status:?}");
        let (_, _, err) = srv.wait();
        assert_eq!(err, "hsys: second signal, exiting now\n");
    }
}

#[test]
fn queued_answers_reach_a_client_that_half_closes_as_nc_does() {
    let running = Running::start(&["--queued", "1"]);
    let mut s = std::net::TcpStream::connect(running.addr).unwrap();
    s.set_read_timeout(Some(support::STEP)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("0123456789"[..].repeat(52).get(..512).unwrap()), "{text}");
}

/// Requests refused `400` + close before any routing, inline and queued: an absolute-form
/// target's authority by the `Host` grammar, raw bytes ≥ 0x80 and `\` in the target, an empty
/// `Host` beside a target without an authority. The valid forms of each are served.
#[test]
fn bad_targets_and_empty_host_are_400_and_close_inline_and_queued() {
    let refused: &[&[u8]] = &[
        b"GET http://127.0.0.1:8x/ HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET http://127.0.0.1:80:80/ HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET http://:80/ HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET http://[::1/x HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET http://::1/x HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET http://[::1]:/x HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET http:///x HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /?q=\xe2\x82\xac HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /a\\b HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
        b"HEAD / HTTP/1.1\r\nHost: \r\n\r\n",
    ];
    let served: &[&[u8]] = &[
        b"GET http://127.0.0.1/x HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET http://[::1]:80/x HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET http://t/x HTTP/1.1\r\nHost:\r\n\r\n",
        b"GET /caf%C3%A9 HTTP/1.1\r\nHost: t\r\n\r\n",
    ];
    for args in MODES {
        let srv = Running::start(args);
        for raw in refused {
            let name = format!("{args:?} {:?}", String::from_utf8_lossy(raw));
            let mut c = Client::connect(srv.addr);
            c.send(&[raw, &get("/after")[..]].concat());
            let head = raw.starts_with(b"HEAD");
            let r = c.try_read(head).unwrap_or_else(|| panic!("{name}: no answer"));
            assert_eq!((r.status, r.header("connection")), (400, Some("close")), "{name}");
            assert!(c.closed(), "{name}: not closed, or bytes after the answer");
        }
        for raw in served {
            let name = format!("{args:?} {:?}", String::from_utf8_lossy(raw));
            let mut c = Client::connect(srv.addr);
            let r = c.exchange(raw);
            assert_eq!((r.status, r.body.len()), (200, 512), "{name}");
            assert_eq!(c.exchange(&get("/")).status, 200, "{name}");
        }
    }
}

/// A `HEAD` answered with an error, inline and queued: routing's `404` and `400 Invalid
/// Hostname` (which keep the connection) and hsys's refusals (which close) carry the `GET`
/// answer's `Content-Length` and no body.
#[test]
fn a_head_answered_with_an_error_has_no_body_inline_and_queued() {
    // (request after the method, status, keeps the connection)
    let rows: &[(&str, u16, bool)] = &[
        (" /b/ HTTP/1.1\r\nHost: localhost\r\n\r\n", 404, true),
        (" /a/ HTTP/1.1\r\nHost: elsewhere\r\n\r\n", 400, true),
        (" /a/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5x\r\n\r\n", 400, false),
        (" /a/ HTTP/1.1\r\nHost: localhost\r\nContent-Length: 9999999\r\n\r\n", 413, false),
        (" /a/ HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\n", 501, false),
        (" /a/ HTTP/2.0\r\nHost: localhost\r\n\r\n", 505, false),
        (" /a/\u{e9} HTTP/1.1\r\nHost: localhost\r\n\r\n", 400, false),
        (" http://localhost:x/a/ HTTP/1.1\r\nHost: localhost\r\n\r\n", 400, false),
    ];
    let big_header = format!(" /a/ HTTP/1.1\r\nHost: localhost\r\nX: {}\r\n\r\n", "x".repeat(17 * 1024));
    let long_target = format!(" /a/{} HTTP/1.1\r\nHost: localhost\r\n\r\n", "x".repeat(17 * 1024));
    let rows = rows
        .iter()
        .map(|&(r, s, k)| (r.to_string(), s, k))
        .chain([(big_header, 431, false), (long_target, 414, false)]);
    let rows: Vec<_> = rows.collect();
    for args in MODES {
        let port = support::free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut all: Vec<String> = vec![format!("http://localhost:{port}/a/"), "--header-wait".into(), "1".into()];
        all.extend(args.iter().map(|a| a.to_string()));
        let srv = start_at(addr, &all);
        for (rest, status, keeps) in &rows {
            let name = format!("{args:?} {status} {:?}", &rest[..rest.len().min(60)]);
            let mut c = Client::connect(srv.addr);
            let get = c.exchange(format!("GET{rest}").as_bytes());
            assert_eq!(get.status, *status, "{name}: GET");
            assert!(!get.body.is_empty(), "{name}: GET");
            let mut c = Client::connect(srv.addr);
            c.send(format!("HEAD{rest}").as_bytes());
            c.send(b"GET /a/ HTTP/1.1\r\nHost: localhost\r\n\r\n");
            let r = c.read(true);
            assert_eq!(r.status, *status, "{name}");
            assert_eq!(r.header("content-length"), get.header("content-length"), "{name}");
            if *keeps {
                // The next answer starts right after the head.
                let next = c.read(false);
                assert_eq!((next.status, next.body.len()), (200, 512), "{name}");
            } else {
                assert_eq!(r.header("connection"), Some("close"), "{name}");
                assert!(c.closed(), "{name}: not closed, or bytes after the answer");
            }
        }
        // A head that stops arriving: 408 without a body.
        let mut c = Client::connect(srv.addr);
        c.send(b"HEAD /a/ HTTP/1.1\r\nHost: localhost\r\n");
        let r = c.read(true);
        assert_eq!((r.status, r.header("content-length")), (408, Some("15")), "{args:?}");
        assert!(c.closed(), "{args:?}: not closed, or bytes after the 408");
    }
}

#[test]
fn options_asterisk_is_routed_by_host_and_answered_405_by_the_binary() {
    let running = Running::start(&[]);
    let mut c = Client::connect(running.addr);
    let a = c.exchange(b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((a.status, a.header("allow"), a.header("connection")), (405, Some("GET, HEAD"), None));
    // The connection stays open; the next request is answered.
    assert_eq!(c.exchange(&get("/")).status, 200);
    // The asterisk form is only for OPTIONS.
    let bad = c.exchange(b"GET * HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(bad.status, 400);
}

#[test]
fn the_binary_answers_a_post_at_once_without_100_continue() {
    let running = Running::start(&[]);
    let mut s = TcpStream::connect(running.addr).unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 500000\r\n\r\n").unwrap();
    let got = String::from_utf8_lossy(&read_for(&mut s, Duration::from_secs(5))).into_owned();
    assert!(got.starts_with("HTTP/1.1 405 "), "{got}");
    assert!(!got.contains("100 Continue"), "{got}");
}

/// A chunked body whose framing is broken, all of it in the read that brings the head: `400`
/// and a close, never the handler's answer (a client could not tell it from success), inline
/// (the binary answers at the head and drains the body) and queued (the body streams); the
/// request behind it is never read. The same bodies well framed are answered and kept.
#[test]
fn a_broken_chunked_body_in_hand_is_400_and_close_inline_and_queued() {
    let broken: &[&[u8]] = &[
        b"0x5\r\nhello\r\n0\r\n\r\n",
        b"5z\r\nhello\r\n0\r\n\r\n",
        b"\r\nhello\r\n0\r\n\r\n",
        b"5\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\n0\r\n\r\n",
        b"5\rXhello\r\n0\r\n\r\n",
        b"5\r\nhello\rX0\r\n\r\n",
        b"5\r\nhello\r\n0\r\n\rX",
        // `3` is a valid prefix of `3g`: the size is not taken as its longest valid prefix.
        b"3g\r\nabc\r\n0\r\n\r\n",
        // A size that says less than the data: the data's end is not where the size says.
        b"3\r\nhello\r\n0\r\n\r\n",
    ];
    let good: &[&[u8]] = &[b"5\r\nhello\r\n0\r\n\r\n", b"5;a=b\r\nhello\r\n0\r\nT: v\r\n\r\n", b"0\r\n\r\n"];
    for args in MODES {
        let srv = Running::start(args);
        for method in ["GET", "POST"] {
            for body in broken {
                let name = format!("{args:?} {method} {:?}", String::from_utf8_lossy(body));
                let mut c = Client::connect(srv.addr);
                let head = format!("{method} / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
                c.send(&[head.as_bytes(), body, &get("/after")[..]].concat());
                let r = c.try_read(false).unwrap_or_else(|| panic!("{name}: no answer"));
                assert_eq!((r.status, r.header("connection")), (400, Some("close")), "{name}");
                assert!(c.closed(), "{name}: not closed, or bytes after the answer");
            }
            for body in good {
                let name = format!("{args:?} {method} {:?}", String::from_utf8_lossy(body));
                let mut c = Client::connect(srv.addr);
                let head = format!("{method} / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
                c.send(&[head.as_bytes(), body, &get("/after")[..]].concat());
                let want = if method == "GET" { 200 } else { 405 };
                let r = c.read(false);
                assert_eq!((r.status, r.header("connection")), (want, None), "{name}");
                assert_eq!(c.read(false).status, 200, "{name}: the request behind it");
            }
        }
    }
}

/// `Expect: 100-continue` from a client that did not wait: its body follows the head in the
/// same write, and a `GET` behind it. The binary refuses the `POST` (`405`) without reading the
/// body; the body is drained and the `GET` answered on the same connection, inline and queued.
/// A client that really waits (no body byte sent) gets the `405` with a close.
#[test]
fn expect_100_continue_with_the_body_sent_keeps_the_connection_inline_and_queued() {
    let bodies: &[&[u8]] =
        &[b"Content-Length: 5\r\n\r\nhello", b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"];
    for args in MODES {
        let srv = Running::start(args);
        for body in bodies {
            let name = format!("{args:?} {:?}", String::from_utf8_lossy(body));
            let mut c = Client::connect(srv.addr);
            let post = [&b"POST /x HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"[..], body].concat();
            c.send(&[&post[..], &get("/after")[..]].concat());
            let r = c.read(false);
            assert_eq!((r.status, r.header("connection")), (405, None), "{name}");
            let r = c.read(false);
            assert_eq!((r.status, r.body.len()), (200, 512), "{name}");
            assert_eq!(c.exchange(&get("/")).status, 200, "{name}");
        }
        // The client waits: the answer closes (the body may never come).
        let mut c = Client::connect(srv.addr);
        c.send(b"POST /x HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
        let r = c.read(false);
        assert_eq!((r.status, r.header("connection")), (405, Some("close")), "{args:?}");
        assert!(c.closed(), "{args:?}");
    }
}
