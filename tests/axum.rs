//! An axum `Router` (the `axum` example's, and more routes) served by hsys over real sockets:
//! routes, JSON and `Path`, uploads echoed, a large streamed answer taken by a slow reader (the
//! server's memory stays flat), a client leaving mid-stream (the stream is dropped), pipelined
//! answers in order when their futures finish out of order, a panicking handler's `500`, hsys's
//! `Host` and prefix routing in front of the Router, and the middleware example's layers.
//! Run on both backends (`HSYS_BACKEND=epoll`).
#![cfg(feature = "tower")]

mod support;

use std::convert::Infallible;
use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use futures_util::stream;
use hsys::{Server, Target, UrlGroups};
use support::{Client, Resp, STEP, digits, free_port, get as get_req};
use tokio::sync::Notify;

// The examples' Routers (their `main`s and `serve` are not used here). `axum_middleware.rs`
// loads `axum.rs` too (as its `plain`, private to it): two copies, each used once.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../examples/axum.rs"]
mod example;
#[allow(dead_code)]
#[path = "../examples/axum_middleware.rs"]
mod middleware;

/// Held for reading by every test, for writing by the one that measures the process's memory
/// (the server runs in this process: other tests' buffers would count as its growth).
static MEMORY: RwLock<()> = RwLock::new(());

/// Shares the process with the other tests (see [`MEMORY`]).
fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    MEMORY.read().unwrap_or_else(|e| e.into_inner())
}

/// Bytes of a streamed answer's frames.
const FRAME: usize = 64 * 1024;

/// `len` bytes of `0123456789…`, of unknown length, made a frame at a time as the body is polled.
fn digits_stream(len: usize) -> Body {
    let frames = (0..len).step_by(FRAME).map(move |at| {
        let frame: Vec<u8> = (at..(at + FRAME).min(len)).map(|i| b'0' + (i % 10) as u8).collect();
        Ok::<_, Infallible>(Bytes::from(frame))
    });
    Body::from_stream(stream::iter(frames))
}

/// Sets its flag when dropped (with the stream that owns it).
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// What the test routes let the test see or steer.
#[derive(Clone, Default)]
struct Hooks {
    /// `/endless`'s stream was dropped.
    dropped: Arc<AtomicBool>,
    /// `/wait` answers once this is notified.
    go: Arc<Notify>,
}

/// The example's Router with the test routes: `/big` (8 MiB streamed, unknown length),
/// `/endless` (a stream without end, that flags its drop), `/wait` (answers when the test says
/// so) and `/panic`.
fn router(hooks: &Hooks) -> Router {
    let (dropped, go) = (Arc::clone(&hooks.dropped), Arc::clone(&hooks.go));
    example::router()
        .route("/big", get(|| async { digits_stream(8 << 20) }))
        .route(
            "/endless",
            get(move || {
                let guard = DropFlag(Arc::clone(&dropped));
                let chunks = stream::unfold(guard, |guard| async move {
                    Some((Ok::<_, Infallible>(Bytes::from_static(&[b'x'; 4096])), guard))
                });
                async move { Body::from_stream(chunks) }
            }),
        )
        .route(
            "/wait",
            get(move || {
                let go = Arc::clone(&go);
                async move {
                    go.notified().await;
                    "waited"
                }
            }),
        )
        .route("/panic", get(panics))
}

/// `/panic`'s handler.
async fn panics() -> &'static str {
    panic!("a handler that panics")
}

/// A one-thread server on 127.0.0.1 serving `service` on `url` (`{port}` replaced).
fn serve_at(target: Target, url: &str) -> (Server, SocketAddr) {
    let port = free_port();
    let mut groups = UrlGroups::new();
    let g = groups.create_group(target);
    groups.add_url(g, &url.replace("{port}", &port.to_string())).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = Server::builder().threads(1).bind(addr).serve_groups(groups).expect("serve_groups");
    (server, addr)
}

/// The test Router on `http://+:<port>/`.
fn serve(hooks: &Hooks) -> (Server, SocketAddr) {
    serve_at(Target::service(router(hooks)), "http://+:{port}/")
}

/// Reads a chunked body after its head.
fn read_chunked(c: &mut Client) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        c.reader.read_line(&mut line).unwrap();
        let size = usize::from_str_radix(line.trim_end(), 16).unwrap();
        let mut chunk = vec![0; size + 2];
        c.reader.read_exact(&mut chunk).unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// Reads one response, chunked bodies included.
fn read(c: &mut Client) -> Resp {
    let mut resp = c.read(false);
    if resp.header("transfer-encoding") == Some("chunked") {
        resp.body = read_chunked(c);
    }
    resp
}

/// `POST /echo` of `body`, chunked in 10 000-byte pieces.
fn chunked_post(body: &[u8]) -> Vec<u8> {
    let mut req = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in body.chunks(10_000) {
        req.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        req.extend_from_slice(piece);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    req
}

/// Uploads `body` chunked to `/echo` (written from another thread, so the echo may come back
/// while the upload goes on) and checks it comes back byte for byte, then that the connection
/// goes on.
fn echo_chunked(body: &[u8]) {
    let _shared = shared();
    let (_server, addr) = serve(&Hooks::default());
    let mut c = Client::connect(addr);
    let req = chunked_post(body);
    let mut w = c.reader.get_ref().try_clone().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&req).unwrap());
    let r = read(&mut c);
    writer.join().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body == body, "{} bytes back of {}", r.body.len(), body.len());
    c.send(&get_req("/users/1"));
    assert_eq!(read(&mut c).body, br#"{"id":1}"#);
}

/// This process's resident memory, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

#[test]
fn the_examples_routes_answer_with_path_and_json() {
    let _shared = shared();
    let (_server, addr) = serve(&Hooks::default());
    let mut c = Client::connect(addr);
    c.send(&get_req("/"));
    let r = read(&mut c);
    assert_eq!(
        (r.status, r.header("content-type"), r.header("content-length")),
        (200, Some("text/plain"), Some("512"))
    );
    assert_eq!(r.body, digits(512));
    c.send(&get_req("/users/42"));
    let r = read(&mut c);
    assert_eq!((r.status, r.header("content-type")), (200, Some("application/json")));
    assert_eq!(r.body, br#"{"id":42}"#);
    // axum's own answers: a `Path` that is not a number, no such route, a method not routed.
    c.send(&get_req("/users/x"));
    assert_eq!(read(&mut c).status, 400);
    c.send(&get_req("/nowhere"));
    let r = read(&mut c);
    assert_eq!((r.status, r.header("content-length")), (404, Some("0")));
    c.send(b"DELETE / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(read(&mut c).status, 405);
    // `HEAD` on a `GET` route: the head alone.
    c.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read(true);
    assert_eq!((r.status, r.header("content-type")), (200, Some("text/plain")));
    c.send(&get_req("/users/7"));
    assert_eq!(read(&mut c).body, br#"{"id":7}"#);
}

#[test]
fn head_has_the_content_length_get_would_have() {
    let _shared = shared();
    let (_server, addr) = serve(&Hooks::default());
    let mut c = Client::connect(addr);
    // RFC 9110 §8.6: a Content-Length in an answer to HEAD is the length GET's body would have.
    c.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read(true);
    assert_eq!((r.status, r.header("content-length")), (200, Some("512")));
}

#[test]
fn a_body_with_a_length_is_echoed_with_it() {
    let _shared = shared();
    let (_server, addr) = serve(&Hooks::default());
    let mut c = Client::connect(addr);
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde");
    let r = read(&mut c);
    assert_eq!((r.status, r.header("content-length"), &r.body[..]), (200, Some("5"), &b"abcde"[..]));
}

#[test]
fn a_60_kib_chunked_upload_is_echoed() {
    echo_chunked(&digits(60 << 10));
}

#[test]
fn a_1_mib_chunked_upload_is_echoed() {
    echo_chunked(&digits(1 << 20));
}

#[test]
fn a_slow_reader_of_a_large_streamed_answer_does_not_grow_the_servers_memory() {
    // Alone in the process: the growth measured is the server's.
    let _alone = MEMORY.write().unwrap_or_else(|e| e.into_inner());
    let (_server, addr) = serve(&Hooks::default());
    // A small receive window, set before connecting.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    socket.connect(&addr.into()).unwrap();
    let s: TcpStream = socket.into();
    s.set_read_timeout(Some(STEP)).unwrap();
    let mut c = Client { reader: std::io::BufReader::with_capacity(16 * 1024, s) };
    // (Not warmed up by a first run: memory it freed would stay in the allocator's pools and
    // hide a second run's growth.)
    c.send(&get_req("/users/1"));
    assert_eq!(read(&mut c).body, br#"{"id":1}"#);
    let before = rss();
    c.send(&get_req("/big"));
    let r = c.read(false);
    assert_eq!((r.status, r.header("transfer-encoding")), (200, Some("chunked")));
    // The server is left to fill what it may, then read slowly, the body checked as it comes
    // (never held: it would count as the server's memory).
    std::thread::sleep(Duration::from_millis(200));
    let (mut at, mut peak) = (0usize, rss());
    let mut buf = vec![0u8; 8 * 1024];
    let started = Instant::now();
    loop {
        let mut line = String::new();
        c.reader.read_line(&mut line).unwrap();
        let mut size = usize::from_str_radix(line.trim_end(), 16).unwrap();
        if size == 0 {
            c.reader.read_line(&mut line).unwrap();
            break;
        }
        while size > 0 {
            let n = size.min(buf.len());
            c.reader.read_exact(&mut buf[..n]).unwrap();
            assert!(buf[..n].iter().enumerate().all(|(i, &b)| b == b'0' + ((at + i) % 10) as u8), "at {at}");
            at += n;
            size -= n;
            if at % (128 * 1024) == 0 {
                peak = peak.max(rss());
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        c.reader.read_line(&mut line).unwrap();
        assert!(started.elapsed() < 2 * STEP, "too slow");
    }
    assert_eq!(at, 8 << 20);
    let grown = peak.saturating_sub(before);
    assert!(grown < 4 << 20, "the server grew by {grown} bytes while its answer was read slowly");
    c.send(&get_req("/users/3"));
    assert_eq!(read(&mut c).body, br#"{"id":3}"#);
}

#[test]
fn a_client_that_leaves_mid_stream_drops_the_stream() {
    let _shared = shared();
    let hooks = Hooks::default();
    let (_server, addr) = serve(&hooks);
    let mut c = Client::connect(addr);
    c.send(&get_req("/endless"));
    let r = c.read(false);
    assert_eq!((r.status, r.header("transfer-encoding")), (200, Some("chunked")));
    let mut some = [0u8; 64 * 1024];
    c.reader.read_exact(&mut some).unwrap();
    assert!(!hooks.dropped.load(Ordering::SeqCst), "dropped while the client reads");
    drop(c);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !hooks.dropped.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the stream was not dropped");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn pipelined_answers_come_in_order_when_their_futures_finish_out_of_order() {
    let _shared = shared();
    let hooks = Hooks::default();
    let (_server, addr) = serve(&hooks);
    let mut c = Client::connect(addr);
    // `/wait` is pending; `/users/2` and `/` are done at once, but answer after it.
    c.send(&[get_req("/wait"), get_req("/users/2"), get_req("/")].concat());
    let early = support::read_for(c.reader.get_mut(), Duration::from_millis(100));
    assert!(early.is_empty(), "answered before the first: {:?}", String::from_utf8_lossy(&early));
    c.reader.get_ref().set_read_timeout(Some(STEP)).unwrap();
    hooks.go.notify_one();
    let bodies: Vec<Vec<u8>> = (0..3).map(|_| read(&mut c).body).collect();
    assert_eq!(bodies, [b"waited".to_vec(), br#"{"id":2}"#.to_vec(), digits(512)]);
}

#[test]
fn a_panicking_handler_gives_500_and_the_connection_goes_on() {
    let _shared = shared();
    let (_server, addr) = serve(&Hooks::default());
    let mut c = Client::connect(addr);
    c.send(&get_req("/panic"));
    assert_eq!(read(&mut c).status, 500);
    c.send(&[get_req("/panic"), get_req("/users/5")].concat());
    assert_eq!(read(&mut c).status, 500);
    assert_eq!(read(&mut c).body, br#"{"id":5}"#);
}

#[test]
fn hsys_routes_by_host_and_prefix_before_the_router() {
    let _shared = shared();
    // The Router sees the whole path: it nests the app under the group's prefix.
    let app = Router::new().nest("/app", router(&Hooks::default()));
    let (_server, addr) = serve_at(Target::service(app), "http://app.test:{port}/app/");
    let mut c = Client::connect(addr);
    c.send(b"GET /app/users/9 HTTP/1.1\r\nHost: app.test\r\n\r\n");
    assert_eq!(read(&mut c).body, br#"{"id":9}"#);
    // The Router's 404 (empty) inside the prefix; hsys's outside it.
    c.send(b"GET /app/nowhere HTTP/1.1\r\nHost: app.test\r\n\r\n");
    let r = read(&mut c);
    assert_eq!((r.status, &r.body[..]), (404, &b""[..]));
    c.send(b"GET /users/9 HTTP/1.1\r\nHost: app.test\r\n\r\n");
    let r = read(&mut c);
    assert_eq!((r.status, &r.body[..]), (404, &b"Not Found"[..]));
    // A host no prefix claims.
    let mut c = Client::connect(addr);
    c.send(b"GET /app/users/9 HTTP/1.1\r\nHost: other.test\r\n\r\n");
    let r = read(&mut c);
    assert_eq!((r.status, &r.body[..]), (400, &b"Bad Request - Invalid Hostname"[..]));
}

#[test]
fn the_middleware_examples_layers_compose() {
    let _shared = shared();
    let (_server, addr) = serve_at(Target::service(middleware::router()), "http://+:{port}/");
    let mut c = Client::connect(addr);
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n");
    let r = read(&mut c);
    assert_eq!((r.status, r.header("content-encoding"), r.header("x-served-by")), (200, Some("gzip"), Some("hsys")));
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&r.body[..]).read_to_end(&mut plain).unwrap();
    assert_eq!(plain, digits(512));
    assert!(r.body.len() < 512, "{} bytes compressed", r.body.len());
    // Not asked for: not compressed; the header still set.
    c.send(&get_req("/users/4"));
    let r = read(&mut c);
    assert_eq!((r.header("content-encoding"), r.header("x-served-by")), (None, Some("hsys")));
    assert_eq!(r.body, br#"{"id":4}"#);
}
