//! The library server over real sockets: handler API, pipelining order, back-pressure, failures.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use hsys::{Request, Response, Server};
use support::{Client, get};

fn echo_server(threads: usize) -> (Server, SocketAddr) {
    let server = Server::builder()
        .threads(threads)
        .bind("127.0.0.1:0")
        .serve(|req: &Request<'_>, res: &mut Response<'_>| match req.path() {
            "/panic" => panic!("handler panics"),
            "/silent" => {}
            "/big" => {
                let body = vec![b'x'; 100_000];
                let _ = res.body(&body);
            }
            p => {
                let _ = res.header("X-Method", req.method()).body(p.as_bytes());
            }
        })
        .expect("serve");
    let addr = server.local_addrs()[0];
    (server, addr)
}

#[test]
fn pipelined_answers_come_back_in_order() {
    let (_server, addr) = echo_server(2);
    let mut c = Client::connect(addr);
    let all: Vec<u8> = (0..100).flat_map(|i| get(&format!("/r{i}"))).collect();
    c.send(&all);
    for i in 0..100 {
        let r = c.read(false);
        assert_eq!(r.body, format!("/r{i}").as_bytes());
    }
}

#[test]
fn handler_panic_is_a_500_and_a_close_and_the_server_lives() {
    let (_server, addr) = echo_server(1);
    let mut c = Client::connect(addr);
    let r = c.exchange(&get("/panic"));
    assert_eq!(r.status, 500);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed());
    assert_eq!(Client::connect(addr).exchange(&get("/ok")).status, 200);
}

#[test]
fn handler_that_does_not_answer_gives_500() {
    let (_server, addr) = echo_server(1);
    let mut c = Client::connect(addr);
    assert_eq!(c.exchange(&get("/silent")).status, 500);
}

#[test]
fn large_pipelined_answers_respect_back_pressure_and_arrive_whole() {
    let (server, addr) = echo_server(1);
    let mut c = Client::connect(addr);
    // 64 answers of 100 kB = 6.4 MB: far past the output high-water mark and the socket buffers.
    let all: Vec<u8> = (0..64).flat_map(|_| get("/big")).collect();
    c.send(&all);
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..64 {
        let r = c.read(false);
        assert_eq!(r.body.len(), 100_000);
    }
    assert_eq!(c.exchange(&get("/after")).body, b"/after");
    // The counter moves just after the kernel took the bytes, which may be after the client read them.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut s = server.stats();
    while s.responses_sent < 65 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        s = server.stats();
    }
    assert_eq!(s.requests_received, 65);
    assert_eq!(s.responses_sent, 65);
}

#[test]
fn shutdown_closes_idle_connections_and_ends_threads() {
    let (mut server, addr) = echo_server(2);
    let mut c = Client::connect(addr);
    assert_eq!(c.exchange(&get("/x")).status, 200);
    server.shutdown();
    assert!(server.wait(Duration::from_secs(5)).expect("no I/O thread died"));
    assert!(c.closed());
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn ipv6_loopback_is_served() {
    let Ok(server) = Server::builder().threads(1).bind("[::1]:0").serve(|_: &Request<'_>, res: &mut Response<'_>| {
        let _ = res.body(b"v6");
    }) else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    let mut c = Client::connect(server.local_addrs()[0]);
    assert_eq!(c.exchange(&get("/")).body, b"v6");
}

#[test]
fn the_date_header_follows_the_clock_on_a_connection_that_stays_busy() {
    let (_server, addr) = echo_server(1);
    let mut c = Client::connect(addr);
    let date = |c: &mut Client| {
        let r = c.exchange(&get("/d"));
        httpdate::parse_http_date(r.header("date").expect("a Date header")).expect("an HTTP date")
    };
    let first = date(&mut c);
    let now = std::time::SystemTime::now();
    let skew =
        |a: std::time::SystemTime, b: std::time::SystemTime| a.duration_since(b).unwrap_or_else(|e| e.duration());
    assert!(skew(first, now) <= Duration::from_secs(1), "Date {first:?} is not now ({now:?})");
    std::thread::sleep(Duration::from_millis(1100));
    let second = date(&mut c);
    assert!(second > first, "the Date did not move on: {first:?} then {second:?}");
    assert!(skew(second, std::time::SystemTime::now()) <= Duration::from_secs(1));
}

#[test]
fn bind_takes_any_to_socket_addrs_and_binds_every_address_it_resolves_to() {
    let server = Server::builder()
        .threads(1)
        .bind(("127.0.0.1", 0))
        .bind_if_available([SocketAddr::from(([127, 0, 0, 1], 0)), "[::1]:0".parse().unwrap()].as_slice())
        .serve(|_: &Request<'_>, res: &mut Response<'_>| {
            let _ = res.body(b"ok");
        })
        .expect("serve");
    let addrs = server.local_addrs();
    // Two IPv4 listeners, and one IPv6 where the host has it.
    assert!((2..=3).contains(&addrs.len()), "{addrs:?}");
    for addr in addrs {
        let mut c = Client::connect(addr);
        c.send(&get("/"));
        assert_eq!(c.read(false).body, b"ok");
    }
}

#[test]
fn an_address_that_does_not_resolve_fails_the_start_with_its_source() {
    // No port: the resolver refuses it (no DNS lookup involved).
    let err = Server::builder()
        .bind("localhost")
        .serve(|_: &Request<'_>, res: &mut Response<'_>| {
            let _ = res.body(b"");
        })
        .expect_err("an address without a port cannot be listened on");
    assert_eq!(err.kind(), hsys::ErrorKind::Resolve);
    let source = std::error::Error::source(&err).expect("the resolver's error");
    assert!(source.downcast_ref::<std::io::Error>().is_some(), "{source:?}");
    assert!(err.to_string().contains("resolve"), "{err}");
}

#[test]
fn wait_without_bound_does_not_overflow() {
    let (mut server, _addr) = echo_server(1);
    server.shutdown();
    // `Instant::now() + Duration::MAX` overflowed and panicked.
    assert!(server.wait(Duration::MAX).expect("no I/O thread died"));
}

#[test]
fn run_blocks_until_a_shutdown_handle_stops_the_server() {
    let (server, addr) = echo_server(2);
    let stop = server.shutdown_handle();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let runner = std::thread::spawn(move || {
        let result = server.run();
        let _ = done_tx.send(());
        result
    });
    // Still serving while `run` blocks.
    let mut c = Client::connect(addr);
    c.send(&get("/x"));
    assert_eq!(c.read(false).body, b"/x");
    assert!(done_rx.recv_timeout(Duration::from_millis(200)).is_err(), "run returned before the stop");
    stop.shutdown();
    done_rx.recv_timeout(Duration::from_secs(10)).expect("run returns once the server has stopped");
    runner.join().unwrap().expect("a graceful stop is not an error");
}

#[test]
fn a_misused_response_is_a_500_the_handler_sees_and_the_connection_stays_usable() {
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    let seen_tx = std::sync::Mutex::new(seen_tx);
    let server = Server::builder()
        .threads(1)
        .bind("127.0.0.1:0")
        .serve(move |req: &Request<'_>, res: &mut Response<'_>| {
            let result = match req.path() {
                // The newcomer's mistake: headers first, then the status (was a silent 200).
                "/created" => res.header("Location", "/created/1").status(201).body(b""),
                _ => res.body(b"fine"),
            };
            let _ = seen_tx.lock().unwrap().send(result);
        })
        .expect("serve");
    let mut c = Client::connect(server.local_addrs()[0]);
    c.send(&get("/created"));
    let r = c.read(false);
    assert_eq!(r.status, 500);
    assert_eq!(seen_rx.recv().unwrap(), Err(hsys::ResponseError::StatusAfterHeaders));
    c.send(&get("/next"));
    assert_eq!(c.read(false).body, b"fine");
    assert_eq!(seen_rx.recv().unwrap(), Ok(()));
}
