//! A tower service hosted on a URL group over real sockets (a hand-written service, no axum): a
//! ready answer written inline, a future pending until another thread lets it go, pipelined
//! futures finishing out of order answered in order, a panicking future's `500`, a 4 MiB streamed
//! answer and a 1 MiB chunked upload echoed; bodies of 1 and 8 MiB streamed back as they arrive
//! (full duplex), the client writing and reading at once. Run on both backends
//! (`HSYS_BACKEND=epoll`).
#![cfg(feature = "tower")]

mod support;
mod tls_common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io::{BufRead, Read};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use hsys::{Body, RequestInfo, Server, Target, UrlGroups};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use support::{Client, Resp, digits, free_port, get};

/// The answers' body type.
type Out = UnsyncBoxBody<Bytes, std::io::Error>;
type Answer = Pin<Box<dyn Future<Output = Result<http::Response<Out>, Infallible>> + Send>>;

/// Gates a request's future waits on, by name: opened from the test's thread.
#[derive(Clone, Default)]
struct Gates(Arc<Mutex<GateMap>>);

/// Each gate: open, and the waker of the future waiting on it.
type GateMap = HashMap<String, (bool, Option<Waker>)>;

impl Gates {
    fn open(&self, name: &str) {
        let mut gates = self.0.lock().unwrap();
        let gate = gates.entry(name.to_string()).or_default();
        gate.0 = true;
        if let Some(w) = gate.1.take() {
            w.wake();
        }
    }

    /// Pending until gate `name` is open.
    fn wait(&self, name: &str) -> impl Future<Output = ()> + Send + 'static {
        let (gates, name) = (self.clone(), name.to_string());
        std::future::poll_fn(move |cx| {
            let mut gates = gates.0.lock().unwrap();
            let gate = gates.entry(name.clone()).or_default();
            if gate.0 {
                Poll::Ready(())
            } else {
                gate.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    }
}

fn full(bytes: impl Into<Bytes>) -> Out {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed_unsync()
}

fn text(status: u16, body: impl Into<Bytes>) -> http::Response<Out> {
    http::Response::builder().status(status).header("content-type", "text/plain").body(full(body)).unwrap()
}

/// A body of `left` bytes of digits in 64 KiB frames, of unknown length (chunked).
struct Digits {
    sent: usize,
    left: usize,
}

impl http_body::Body for Digits {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = self.left.min(64 * 1024);
        let frame: Vec<u8> = (self.sent..self.sent + n).map(|i| b'0' + (i % 10) as u8).collect();
        self.sent += n;
        self.left -= n;
        Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(frame)))))
    }
}

/// `abc`, then a trailer section with `x-checksum: 123` (and `content-type`, which may not trail
/// unless `allowed_only`: then none are sent).
struct WithTrailers {
    step: u8,
    allowed_only: bool,
}

impl http_body::Body for WithTrailers {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        self.step += 1;
        Poll::Ready(match self.step {
            1 => Some(Ok(http_body::Frame::data(Bytes::from_static(b"abc")))),
            2 => {
                let mut trailers = http::HeaderMap::new();
                trailers.insert("x-checksum", http::HeaderValue::from_static("123"));
                if !self.allowed_only {
                    trailers.insert("content-type", http::HeaderValue::from_static("text/html"));
                }
                Some(Ok(http_body::Frame::trailers(trailers)))
            }
            _ => None,
        })
    }
}

/// The test service: its routes by path.
#[derive(Clone, Default)]
struct App {
    gates: Gates,
    /// Futures of `/gate/…` dropped (done or not).
    dropped: Arc<std::sync::atomic::AtomicUsize>,
}

/// Counts its drop.
struct DropCount(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl tower_service::Service<http::Request<Body>> for App {
    type Response = http::Response<Out>;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Answer {
        let path = req.uri().path().to_string();
        let gates = self.gates.clone();
        let dropped = DropCount(Arc::clone(&self.dropped));
        Box::pin(async move {
            let _dropped = dropped;
            let answer = match path.as_str() {
                "/hello" => text(200, "hello"),
                "/info" => {
                    let info = req.extensions().get::<RequestInfo>().unwrap();
                    let s = format!("{} {} {:?} {}", info.prefix_path, req.uri(), req.version(), info.local_addr);
                    text(200, s)
                }
                "/panic" => panic!("a service that panics at once"),
                "/panic-later" => {
                    gates.wait("panic").await;
                    panic!("a service that panics once woken")
                }
                "/big" => http::Response::new(Digits { sent: 0, left: 4 << 20 }.boxed_unsync()),
                "/trailers" => http::Response::new(WithTrailers { step: 0, allowed_only: true }.boxed_unsync()),
                "/bad-trailers" => http::Response::new(WithTrailers { step: 0, allowed_only: false }.boxed_unsync()),
                // Read whole, then answered (streamed back: 1 MiB is over the whole-answer size).
                "/echo" => match req.into_body().collect().await {
                    Ok(body) => http::Response::new(full(body.to_bytes())),
                    Err(e) => text(400, e.to_string()),
                },
                // The request body as the answer's body, frame by frame.
                "/stream-echo" => http::Response::new(req.into_body().boxed_unsync()),
                _ if path.starts_with("/gate/") => {
                    let name = &path["/gate/".len()..];
                    gates.wait(name).await;
                    text(200, name.to_string())
                }
                _ => text(404, "no such route"),
            };
            Ok(answer)
        })
    }
}

/// A one-thread server whose group `http://+:<port>/` is served by `app`.
fn serve(app: App) -> (Server, SocketAddr) {
    serve_limited(app, None)
}

/// As [`serve`], the group's body limit `max_body_size` when given.
fn serve_limited(app: App, max_body_size: Option<Option<u64>>) -> (Server, SocketAddr) {
    let port = free_port();
    let mut groups = UrlGroups::new();
    let g = groups.create_group(Target::service(app));
    groups.set_max_body_size(g, max_body_size).unwrap();
    groups.add_url(g, &format!("http://+:{port}/")).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = Server::builder().threads(1).bind(addr).serve_groups(groups).expect("serve_groups");
    (server, addr)
}

/// Reads a chunked body after `resp`'s head.
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

#[test]
fn a_ready_service_is_answered_inline() {
    let (_server, addr) = serve(App::default());
    let mut c = Client::connect(addr);
    for _ in 0..3 {
        c.send(&get("/hello"));
        let r = read(&mut c);
        assert_eq!((r.status, &r.body[..]), (200, &b"hello"[..]));
        assert_eq!(r.header("content-length"), Some("5"));
        assert_eq!(r.header("content-type"), Some("text/plain"));
    }
    c.send(&get("/nowhere"));
    assert_eq!(read(&mut c).status, 404);
    // The request's extensions and head: prefix, target as sent, version, local address.
    c.send(b"GET http://t/info?x=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = read(&mut c);
    assert_eq!(String::from_utf8(r.body).unwrap(), format!("/ http://t/info?x=1 HTTP/1.1 {addr}"));
}

#[test]
fn a_pending_future_is_answered_when_another_thread_lets_it_go() {
    let app = App::default();
    let gates = app.gates.clone();
    let (_server, addr) = serve(app);
    let mut c = Client::connect(addr);
    c.send(&get("/gate/later"));
    let opener = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        gates.open("later");
    });
    let r = read(&mut c);
    assert_eq!((r.status, &r.body[..]), (200, &b"later"[..]));
    opener.join().unwrap();
    c.send(&get("/hello"));
    assert_eq!(read(&mut c).body, b"hello");
}

#[test]
fn pipelined_futures_finishing_out_of_order_are_answered_in_order() {
    let app = App::default();
    let gates = app.gates.clone();
    let (_server, addr) = serve(app);
    let mut c = Client::connect(addr);
    c.send(&[get("/gate/a"), get("/gate/b"), get("/hello"), get("/gate/c")].concat());
    std::thread::sleep(Duration::from_millis(50));
    for name in ["c", "b", "a"] {
        gates.open(name);
        std::thread::sleep(Duration::from_millis(20));
    }
    let bodies: Vec<Vec<u8>> = (0..4).map(|_| read(&mut c).body).collect();
    assert_eq!(bodies, [&b"a"[..], b"b", b"hello", b"c"]);
}

#[test]
fn a_panicking_future_gives_500_and_the_connection_goes_on() {
    let app = App::default();
    let gates = app.gates.clone();
    let (_server, addr) = serve(app);
    let mut c = Client::connect(addr);
    // At the first poll (inline), then once woken (a task).
    c.send(&get("/panic"));
    assert_eq!(read(&mut c).status, 500);
    c.send(&get("/hello"));
    assert_eq!(read(&mut c).body, b"hello");
    c.send(&[get("/panic-later"), get("/hello")].concat());
    std::thread::sleep(Duration::from_millis(50));
    gates.open("panic");
    assert_eq!(read(&mut c).status, 500);
    assert_eq!(read(&mut c).body, b"hello");
}

#[test]
fn a_4_mib_streamed_answer_arrives_intact() {
    let (_server, addr) = serve(App::default());
    let mut c = Client::connect(addr);
    c.send(&get("/big"));
    let r = read(&mut c);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert!(r.body == digits(4 << 20), "{} bytes", r.body.len());
    c.send(&get("/hello"));
    assert_eq!(read(&mut c).body, b"hello");
}

#[test]
fn a_1_mib_chunked_upload_is_echoed() {
    let (_server, addr) = serve(App::default());
    let mut c = Client::connect(addr);
    let body = digits(1 << 20);
    let mut req = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in body.chunks(10_000) {
        req.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        req.extend_from_slice(piece);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    // Written from another thread: the echo comes back while the upload goes on.
    let mut w = c.reader.get_ref().try_clone().unwrap();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut w, &req).unwrap());
    let r = read(&mut c);
    writer.join().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("1048576"));
    assert!(r.body == body, "{} bytes", r.body.len());
    // A body streamed back as it is read, with its length.
    c.send(b"POST /stream-echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde");
    let r = read(&mut c);
    assert_eq!((r.header("content-length"), &r.body[..]), (Some("5"), &b"abcde"[..]));
}

#[test]
fn a_client_that_goes_away_drops_its_future() {
    let app = App::default();
    let dropped = Arc::clone(&app.dropped);
    let (_server, addr) = serve(app);
    let mut c = Client::connect(addr);
    c.send(&get("/hello"));
    assert_eq!(read(&mut c).body, b"hello");
    let before = dropped.load(std::sync::atomic::Ordering::SeqCst);
    c.send(&[get("/gate/never"), get("/gate/never2")].concat());
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(dropped.load(std::sync::atomic::Ordering::SeqCst), before, "still pending");
    drop(c);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while dropped.load(std::sync::atomic::Ordering::SeqCst) < before + 2 {
        assert!(std::time::Instant::now() < deadline, "the futures were not dropped");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_graceful_stop_waits_for_a_future_in_flight() {
    let app = App::default();
    let gates = app.gates.clone();
    let (server, addr) = serve(app);
    let mut c = Client::connect(addr);
    c.send(&get("/gate/stop"));
    std::thread::sleep(Duration::from_millis(50));
    let stop = server.shutdown_handle();
    stop.shutdown();
    std::thread::sleep(Duration::from_millis(100));
    gates.open("stop");
    let r = read(&mut c);
    assert_eq!((r.status, &r.body[..]), (200, &b"stop"[..]));
    assert_eq!(r.header("connection"), Some("close"));
    server.run().unwrap();
}

/// The request for `/stream-echo` with `body`, chunked (in 10,000-byte chunks) or with its length.
fn echo_request(body: &[u8], chunked: bool) -> Vec<u8> {
    let mut req = b"POST /stream-echo HTTP/1.1\r\nHost: t\r\n".to_vec();
    if chunked {
        req.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        for piece in body.chunks(10_000) {
            req.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            req.extend_from_slice(piece);
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"0\r\n\r\n");
    } else {
        req.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        req.extend_from_slice(body);
    }
    req
}

/// Sends `/stream-echo` with a body of `n` bytes from one thread while this one reads the echo
/// (which begins before the upload ends: the body is read beside its own streamed answer), then
/// a request on the same connection.
fn echoed_while_sent(addr: SocketAddr, n: usize, chunked: bool) {
    let mut c = Client::connect(addr);
    let body = digits(n);
    let req = echo_request(&body, chunked);
    let mut w = c.reader.get_ref().try_clone().unwrap();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut w, &req).unwrap());
    let r = read(&mut c);
    writer.join().unwrap();
    assert_eq!(r.status, 200);
    if chunked {
        assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    } else {
        assert_eq!(r.header("content-length"), Some(n.to_string().as_str()));
    }
    assert!(r.body == body, "{n} bytes, chunked {chunked}: {} came back", r.body.len());
    c.send(&get("/hello"));
    assert_eq!(read(&mut c).body, b"hello");
}

#[test]
fn bodies_streamed_back_as_they_arrive_are_echoed_whole() {
    let (_server, addr) = serve_limited(App::default(), Some(Some(16 << 20)));
    for n in [1 << 20, 8 << 20] {
        for chunked in [false, true] {
            echoed_while_sent(addr, n, chunked);
        }
    }
}

#[test]
fn serve_service_hands_every_request_to_the_service() {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = Server::builder().threads(1).bind(addr).serve_service(App::default()).expect("serve_service");
    let addr = server.local_addrs()[0];
    let mut c = Client::connect(addr);
    // Any host, any path: no URL groups in front.
    c.send(b"GET /hello HTTP/1.1\r\nHost: anything.example\r\n\r\n");
    assert_eq!(read(&mut c).body, b"hello");
    c.send(&get("/info?q"));
    let r = read(&mut c);
    assert_eq!(String::from_utf8(r.body).unwrap(), format!("/ /info?q HTTP/1.1 {addr}"));
    assert_eq!(read_after(&mut c, &get("/nowhere")).status, 404, "the service's own 404");
    // Bodies stream to it and back, as on a group.
    echoed_while_sent(addr, 1 << 20, true);
    assert_eq!(server.stats().requests_received, 5);
}

/// Sends `req` and reads its answer.
fn read_after(c: &mut Client, req: &[u8]) -> Resp {
    c.send(req);
    read(c)
}

/// Over TLS: a 1 MiB body streamed back as it arrives (records opened before `h1` reads them,
/// the answer's stream sealed piece by piece), the client a non-blocking loop writing and
/// reading at once.
#[test]
fn over_tls_a_body_streamed_back_as_it_arrives_is_echoed_whole() {
    use std::io::{ErrorKind, Write};
    let server = Server::builder().threads(1).bind_tls("127.0.0.1:0").serve_service(App::default()).unwrap();
    let addr = server.local_addrs()[0];
    server.set_cert_binding(hsys::BindingKey::Port(addr.port()), tls_common::binding("localhost"));
    let body = digits(1 << 20);
    let req = echo_request(&body, false);
    let config = tls_common::default_config();
    let mut conn = rustls::ClientConnection::new(config, tls_common::server_name("localhost")).unwrap();
    let mut sock = tls_common::tcp(addr);
    sock.set_nonblocking(true).unwrap();
    let (mut sent, mut got) = (0, Vec::new());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut buf = vec![0; 64 * 1024];
    loop {
        assert!(std::time::Instant::now() < deadline, "sent {sent}, got {}", got.len());
        let mut moved = false;
        // More of the request once what was sealed is out (so the client buffers little).
        if !conn.is_handshaking() && !conn.wants_write() && sent < req.len() {
            let end = req.len().min(sent + 16 * 1024);
            sent += conn.writer().write(&req[sent..end]).unwrap();
            moved = true;
        }
        while conn.wants_write() {
            match conn.write_tls(&mut sock) {
                Ok(_) => moved = true,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("write: {e}"),
            }
        }
        match conn.read_tls(&mut sock) {
            Ok(0) => panic!("the server closed: got {} bytes", got.len()),
            Ok(_) => {
                conn.process_new_packets().unwrap();
                moved = true;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("read: {e}"),
        }
        loop {
            match conn.reader().read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("plaintext: {e}"),
            }
        }
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n")
            && got.len() >= end + 4 + body.len()
        {
            let head = String::from_utf8_lossy(&got[..end]).to_string();
            assert!(head.starts_with("HTTP/1.1 200 OK") && head.contains("Content-Length: 1048576"), "{head}");
            assert!(got[end + 4..] == body[..], "the echo differs");
            assert_eq!(sent, req.len());
            return;
        }
        if !moved {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Trailers a body yields go out after the last chunk; a section with a field that may not
/// trail (`content-type`) is not sent at all. The connection goes on after either.
#[test]
fn trailers_a_body_yields_go_out_as_chunked_trailers() {
    let (_server, addr) = serve(App::default());
    let mut c = Client::connect(addr);
    for (path, section) in [("/trailers", "x-checksum: 123\r\n"), ("/bad-trailers", "")] {
        c.send(&get(path));
        let resp = c.read(false);
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
        let mut rest = String::new();
        while !rest.ends_with("0\r\n") {
            c.reader.read_line(&mut rest).unwrap();
        }
        assert_eq!(rest, "3\r\nabc\r\n0\r\n", "{path}");
        let mut trailer = String::new();
        loop {
            let mut line = String::new();
            c.reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            trailer.push_str(&line);
        }
        assert_eq!(trailer, section, "{path}");
    }
    assert_eq!(c.exchange(&get("/hello")).body, b"hello");
}
