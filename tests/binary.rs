//! The `hsys` binary over real sockets: the sample's behaviour, done right.

mod support;

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

use support::{Client, Running, bin, digits, get};

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
    let srv = Running::start(&[]);
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
    let srv = Running::start(&[]);
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

#[test]
fn other_methods_get_405_and_keep_the_connection() {
    let srv = Running::start(&[]);
    let mut c = Client::connect(srv.addr);
    let r = c.exchange(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    assert_eq!(r.header("connection"), None);
    let r = c.exchange(b"DELETE /x HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(c.exchange(&get("/")).status, 200);
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

#[test]
fn limit_and_timeout_options_take_effect() {
    let srv = Running::start(&["--max-body-size", "10", "--header-wait", "1", "--max-field-length", "64"]);
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
