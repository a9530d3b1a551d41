//! How a request body is taken, over real sockets: a handler that does not read bodies answers at
//! the head (no `100 Continue`, the body drained or the connection closed), per-group body limits,
//! a chunk size that alone breaks the limit, `414` at the default limits, and the per-group byte
//! counters. (The binary's `OPTIONS *` and `POST` answers are tested in cli/tests/binary.rs.)

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use hsys::{IgnoreBody, Limits, Request, Response, Server, Target, UrlGroups};
use support::{Client, get, read_for};

/// A server whose handler never reads bodies; `X-Len` says what it saw of one (always 0).
fn head_only(limits: Limits) -> (Server, SocketAddr) {
    let server = Server::builder()
        .threads(1)
        .bind("127.0.0.1:0")
        .limits(limits)
        .serve(IgnoreBody(|req: &Request<'_>, res: &mut Response<'_>| {
            let _ = res.status(405).header("X-Len", req.body().len().to_string()).body(b"no");
        }))
        .expect("serve");
    let addr = server.local_addrs()[0];
    (server, addr)
}

#[test]
fn a_handler_that_ignores_bodies_answers_at_the_head_and_the_body_is_drained() {
    let (_server, addr) = head_only(Limits::default());
    let mut c = Client::connect(addr);
    // Only the head and half the body: the answer comes anyway.
    c.send(b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234");
    let a = c.read(false);
    assert_eq!((a.status, a.header("x-len"), a.header("connection")), (405, Some("0"), None));
    // The rest of the body is dropped, and the next request is read in sync.
    c.send(b"56789");
    c.send(&get("/b"));
    assert_eq!(c.read(false).status, 405);
}

#[test]
fn a_handler_that_ignores_bodies_sends_no_100_continue_and_closes() {
    let (_server, addr) = head_only(Limits::default());
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"POST /a HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 1000000\r\n\r\n").unwrap();
    let got = String::from_utf8_lossy(&read_for(&mut s, Duration::from_secs(5))).into_owned();
    assert!(got.starts_with("HTTP/1.1 405 "), "{got}");
    assert!(!got.contains("100 Continue"), "{got}");
    assert!(got.to_ascii_lowercase().contains("connection: close"), "{got}");
}

#[test]
fn a_body_larger_than_the_drain_bound_closes_after_the_answer() {
    let limits = Limits::default().max_drain_bytes(1000);
    let (_server, addr) = head_only(limits);
    let mut c = Client::connect(addr);
    c.send(b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n");
    let a = c.read(false);
    assert_eq!((a.status, a.header("connection")), (405, Some("close")));
    assert!(c.closed());
}

#[test]
fn a_chunk_size_over_the_body_limit_is_refused_when_its_line_ends() {
    let limits = Limits::default().max_body_size(Some(1024));
    let server = Server::builder()
        .threads(1)
        .bind("127.0.0.1:0")
        .limits(limits)
        .serve(|req: &Request<'_>, res: &mut Response<'_>| {
            let _ = res.body(req.body());
        })
        .expect("serve");
    let mut c = Client::connect(server.local_addrs()[0]);
    // Announces 1 TiB: refused at once, without waiting for a KiB of data.
    c.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nffffffffff\r\nabc");
    let a = c.read(false);
    assert_eq!((a.status, a.header("connection")), (413, Some("close")));
}

/// Two groups on one server: `/small/` with a 10-byte body limit, `/` with the server's.
fn two_groups() -> (Server, SocketAddr, hsys::GroupId, hsys::GroupId) {
    let echo = |req: &Request<'_>, res: &mut Response<'_>| {
        let _ = res.body(req.body());
    };
    let port = support::free_port();
    let mut groups = UrlGroups::new();
    let small = groups.create_group(Target::inline(echo));
    let big = groups.create_group(Target::inline(echo));
    groups.add_url(small, &format!("http://127.0.0.1:{port}/small/")).unwrap();
    groups.add_url(big, &format!("http://127.0.0.1:{port}/")).unwrap();
    groups.set_max_body_size(small, Some(Some(10))).unwrap();
    let server = Server::builder().threads(1).serve_groups(groups).expect("serve_groups");
    let addr = server.local_addrs()[0];
    (server, addr, small, big)
}

fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!("POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    req.extend_from_slice(body);
    req
}

#[test]
fn a_url_group_has_its_own_body_limit_and_it_changes_live() {
    let (server, addr, small, _) = two_groups();
    let mut c = Client::connect(addr);
    assert_eq!(c.exchange(&post("/small/x", b"0123456789")).status, 200);
    assert_eq!(c.exchange(&post("/other", b"0123456789abcdef")).status, 200);
    let refused = c.exchange(&post("/small/x", b"0123456789a"));
    assert_eq!((refused.status, refused.header("connection")), (413, Some("close")));
    // Lifted on the running server: the next connection's larger body is taken.
    server.set_group_max_body_size(small, Some(None)).unwrap();
    let mut c = Client::connect(addr);
    assert_eq!(c.exchange(&post("/small/x", &[b'z'; 5000])).body.len(), 5000);
}

#[test]
fn group_byte_counters_include_bodies() {
    let (server, addr, _, big) = two_groups();
    let mut c = Client::connect(addr);
    let req = post("/x", &[b'b'; 300]);
    let resp = c.exchange(&req);
    assert_eq!(resp.body.len(), 300);
    let stats = server.group_stats(big).unwrap();
    // The head plus the 300 body bytes came in; at least the 300 body bytes went out.
    assert_eq!(stats.bytes_received, req.len() as u64);
    assert!(stats.bytes_sent > 300, "{stats:?}");
}

#[test]
fn a_url_over_the_default_limit_is_414_whole_or_in_pieces() {
    let (_server, addr) = head_only(Limits::default());
    let mut req = b"GET /".to_vec();
    req.resize(5 + Limits::default().max_url_length, b'a');
    req.extend_from_slice(b" HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut whole = Client::connect(addr);
    whole.send(&req);
    assert_eq!(whole.read(false).status, 414);
    let mut split = Client::connect(addr);
    split.send(&req[..100]);
    std::thread::sleep(Duration::from_millis(50));
    split.send(&req[100..]);
    assert_eq!(split.read(false).status, 414);
}
