//! Request bodies over real sockets: collected whole for inline handlers (Content-Length and
//! chunked, `100 Continue`, `413`), and pipelined requests staying in sync around them.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use hsys::{Limits, Request, Response, Server, Timeouts};
use support::{Client, get};

/// Answers with the body it was given, and its length in `X-Len`.
fn echo_body(limits: Limits) -> (Server, SocketAddr) {
    echo_body_with(limits, Timeouts::default())
}

/// [`echo_body`] with `timeouts`.
fn echo_body_with(limits: Limits, timeouts: Timeouts) -> (Server, SocketAddr) {
    let server = Server::builder()
        .threads(1)
        .bind("127.0.0.1:0")
        .limits(limits)
        .timeouts(timeouts)
        .serve(|req: &Request<'_>, res: &mut Response<'_>| {
            let _ = res.header("X-Len", req.body().len().to_string()).header("X-Path", req.path()).body(req.body());
        })
        .expect("serve");
    let addr = server.local_addrs()[0];
    (server, addr)
}

#[test]
fn a_content_length_body_arriving_in_pieces_reaches_the_handler_whole() {
    let (_server, addr) = echo_body(Limits::default());
    let mut c = Client::connect(addr);
    c.send(b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234");
    std::thread::sleep(Duration::from_millis(50));
    c.send(b"56789GET /b HTTP/1.1\r\nHost: t\r\n\r\n");
    let a = c.read(false);
    assert_eq!((a.status, a.body.as_slice()), (200, &b"0123456789"[..]));
    let b = c.read(false);
    assert_eq!((b.header("x-path"), b.body.len()), (Some("/b"), 0));
}

#[test]
fn a_chunked_body_is_dechunked_and_trailers_dropped() {
    let (_server, addr) = echo_body(Limits::default());
    let mut c = Client::connect(addr);
    c.send(b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n");
    std::thread::sleep(Duration::from_millis(50));
    c.send(b"6\r\n world\r\n0\r\nTrailer: x\r\n\r\nGET /d HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read(false).body, b"hello world");
    assert_eq!(c.read(false).header("x-path"), Some("/d"));
}

#[test]
fn a_large_body_split_byte_by_byte_stays_in_sync() {
    let (_server, addr) = echo_body(Limits::default());
    let mut c = Client::connect(addr);
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut req = format!("PUT /big HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    req.extend_from_slice(&body);
    req.extend_from_slice(&get("/after"));
    for piece in req.chunks(7919) {
        c.send(piece);
    }
    assert_eq!(c.read(false).body, body);
    assert_eq!(c.read(false).header("x-path"), Some("/after"));
}

#[test]
fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let (_server, addr) = echo_body(Limits::default());
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n").unwrap();
    let mut buf = [0u8; 25];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"ping").unwrap();
    let mut c = Client { reader: std::io::BufReader::new(s) };
    let r = c.read(false);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ping"[..]));
}

#[test]
fn a_declared_body_over_the_limit_is_refused_with_413_before_the_handler() {
    let (server, addr) = echo_body(Limits::default().max_body_size(Some(1000)));
    let mut c = Client::connect(addr);
    c.send(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n");
    let r = c.read(false);
    assert_eq!((r.status, r.header("connection")), (413, Some("close")));
    assert!(c.closed());
    assert_eq!(server.stats().too_large, 1);
    // At the limit is fine.
    let mut c = Client::connect(addr);
    let mut req = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n".to_vec();
    req.extend_from_slice(&[b'a'; 1000]);
    assert_eq!(c.exchange(&req).body.len(), 1000);
}

#[test]
fn a_chunked_body_growing_over_the_limit_gets_413() {
    let (_server, addr) = echo_body(Limits::default().max_body_size(Some(100)));
    let mut c = Client::connect(addr);
    c.send(b"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n");
    c.send(&[b'a'; 100]);
    c.send(b"\r\n1\r\nb\r\n0\r\n\r\n");
    let r = c.read(false);
    assert_eq!((r.status, r.header("connection")), (413, Some("close")));
    assert!(c.closed());
}

#[test]
fn a_malformed_chunked_body_gets_400_and_a_close() {
    let (_server, addr) = echo_body(Limits::default());
    let mut c = Client::connect(addr);
    c.send(b"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    let r = c.read(false);
    assert_eq!((r.status, r.header("connection")), (400, Some("close")));
    assert!(c.closed());
    assert_eq!(Client::connect(addr).exchange(&get("/ok")).status, 200);
}

#[test]
fn a_body_that_stops_arriving_gets_408_after_entity_body_timeout() {
    let timeouts = Timeouts::default().entity_body(Duration::from_millis(300));
    let (_server, addr) = echo_body_with(Limits::default(), timeouts);
    let mut c = Client::connect(addr);
    c.send(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123");
    let r = c.read(false);
    assert_eq!((r.status, r.header("connection")), (408, Some("close")));
    assert!(c.closed());
    assert_eq!(Client::connect(addr).exchange(&get("/ok")).status, 200);
}

#[test]
fn each_arrival_of_body_bytes_restarts_entity_body_timeout() {
    let timeouts = Timeouts::default().entity_body(Duration::from_millis(500));
    let (_server, addr) = echo_body_with(Limits::default(), timeouts);
    let mut c = Client::connect(addr);
    // 12 bytes, one every 100 ms: 1.2 s in all, over twice the timeout, never 500 ms apart.
    c.send(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 12\r\n\r\n");
    for b in b"0123456789ab" {
        std::thread::sleep(Duration::from_millis(100));
        c.send(&[*b]);
    }
    let r = c.read(false);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"0123456789ab"[..]));
    assert_eq!(c.exchange(&get("/next")).status, 200, "the connection stays open");
}
