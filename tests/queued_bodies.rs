//! Bodies of queued requests over real sockets: streamed to the application thread as they
//! arrive (`read_body`), `100 Continue` on the first read, back-pressure, limits, and answers
//! given without reading the body.

mod support;

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use hsys::{Limits, QueuedRequest, Reply, RequestQueue, Server};
use support::{Client, get, queue_server};

/// A server whose one group is a queue served by one application thread running `app`.
fn queued(limits: Limits, app: fn(QueuedRequest)) -> (Server, SocketAddr) {
    let queue = RequestQueue::new(100);
    let (server, addr) = queue_server(&queue, Server::builder().limits(limits));
    std::thread::spawn(move || {
        while let Some(req) = queue.receive() {
            app(req);
        }
    });
    (server, addr)
}

/// Reads the whole body and answers with its length and a checksum.
fn digest(mut req: QueuedRequest) {
    match req.read_body_to_end(64 << 20) {
        Ok(body) => {
            let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
            req.respond(Reply::new(200).body(format!("{} {sum}", body.len()).into_bytes()));
        }
        Err(e) => {
            req.respond(Reply::new(500).body(format!("read error: {:?}", e.kind()).into_bytes()));
        }
    }
}

fn body(n: usize) -> (Vec<u8>, String) {
    let b: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
    let sum: u64 = b.iter().map(|&x| u64::from(x)).sum();
    (b, format!("{n} {sum}"))
}

#[test]
fn a_body_streams_to_the_application_and_the_next_request_follows() {
    let (_s, addr) = queued(Limits::default(), digest);
    let mut c = Client::connect(addr);
    let (b, want) = body(300_000);
    let mut req = format!("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", b.len()).into_bytes();
    req.extend_from_slice(&b);
    req.extend_from_slice(&get("/next"));
    for piece in req.chunks(10_007) {
        c.send(piece);
    }
    assert_eq!(String::from_utf8(c.read(false).body).unwrap(), want);
    assert_eq!(c.read(false).body, b"0 0", "the GET after it has no body");
}

#[test]
fn a_chunked_body_streams_dechunked() {
    let (_s, addr) = queued(Limits::default(), digest);
    let mut c = Client::connect(addr);
    c.send(b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n\x01\x02\x03\r\n");
    std::thread::sleep(Duration::from_millis(30));
    c.send(b"2\r\n\x04\x05\r\n0\r\n\r\n");
    assert_eq!(c.read(false).body, b"5 15");
}

#[test]
fn a_large_body_read_slowly_is_delivered_whole_under_back_pressure() {
    fn slow(mut req: QueuedRequest) {
        let mut total = 0usize;
        let mut sum = 0u64;
        let mut buf = [0u8; 8192];
        loop {
            let n = req.read_body(&mut buf).unwrap_or_else(|e| panic!("body after {total}: {e}"));
            if n == 0 {
                break;
            }
            total += n;
            sum += buf[..n].iter().map(|&b| u64::from(b)).sum::<u64>();
            if total % (512 * 1024) < 8192 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        req.respond(Reply::new(200).body(format!("{total} {sum}").into_bytes()));
    }
    let (_s, addr) = queued(Limits::default().max_body_size(None), slow);
    let (b, want) = body(8 << 20);
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!("PUT /big HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", b.len());
    let writer = {
        let mut s = s.try_clone().unwrap();
        std::thread::spawn(move || {
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(&b).unwrap();
        })
    };
    let mut c = Client { reader: BufReader::new(s) };
    assert_eq!(String::from_utf8(c.read(false).body).unwrap(), want);
    writer.join().unwrap();
}

/// Nothing arrives on `s` for 300 ms (`what` says what would have been wrong).
fn assert_silent(s: &mut TcpStream, what: &str) {
    s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut byte = [0u8; 1];
    let early = s.read(&mut byte);
    assert!(early.is_err(), "{early:?}: {what}");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
}

/// Reads `100 Continue`, sends the 3-byte body `digest` expects, and reads its answer.
fn continue_then_body(mut s: TcpStream) {
    let mut buf = [0u8; 25];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"\x01\x01\x01").unwrap();
    let mut c = Client { reader: BufReader::new(s) };
    assert_eq!(c.read(false).body, b"3 3");
}

#[test]
fn expect_100_continue_is_sent_when_the_application_reads() {
    let (_s, addr) = queued(Limits::default(), digest);
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n").unwrap();
    continue_then_body(s);
}

#[test]
fn no_100_continue_is_sent_before_the_application_reads() {
    fn late(req: QueuedRequest) {
        std::thread::sleep(Duration::from_millis(600));
        digest(req);
    }
    let (_s, addr) = queued(Limits::default(), late);
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n").unwrap();
    // The application has not read yet: nothing comes (the read times out).
    assert_silent(&mut s, "something was sent before the application read");
    continue_then_body(s);
}

#[test]
fn an_http_1_0_client_gets_no_100_continue_even_when_it_asks() {
    let (_s, addr) = queued(Limits::default(), digest);
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"POST /e HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n").unwrap();
    // The application reads at once, but HTTP/1.0 has no 1xx answers: nothing comes before the body.
    assert_silent(&mut s, "an HTTP/1.0 client was sent something before its body");
    s.write_all(b"\x01\x01\x01").unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 200 "), "{got}");
    assert!(got.ends_with("\r\n\r\n3 3"), "{got}");
}

#[test]
fn an_answer_without_reading_drains_the_body_and_keeps_the_connection() {
    fn ignore(req: QueuedRequest) {
        req.respond(Reply::new(201).body(&b"ignored"[..]));
    }
    let (_s, addr) = queued(Limits::default(), ignore);
    let mut c = Client::connect(addr);
    c.send(b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234");
    let r = c.read(false);
    assert_eq!((r.status, r.header("connection")), (201, None));
    c.send(b"56789");
    assert_eq!(c.exchange(&get("/b")).status, 201);
}

#[test]
fn an_answer_without_reading_to_a_client_awaiting_continue_closes_without_100() {
    fn ignore(req: QueuedRequest) {
        req.respond(Reply::new(403).body(&b"no"[..]));
    }
    let (_s, addr) = queued(Limits::default(), ignore);
    let mut c = Client::connect(addr);
    c.send(b"POST /a HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n");
    let r = c.read(false);
    assert_eq!((r.status, r.header("connection")), (403, Some("close")));
    assert!(c.closed());
}

#[test]
fn a_chunked_body_over_the_limit_is_413_and_the_application_sees_an_error() {
    static SAW: std::sync::Mutex<Option<std::io::ErrorKind>> = std::sync::Mutex::new(None);
    fn record(mut req: QueuedRequest) {
        let got = req.read_body_to_end(1 << 20);
        *SAW.lock().unwrap() = got.err().map(|e| e.kind());
    }
    let (_s, addr) = queued(Limits::default().max_body_size(Some(10)), record);
    let mut c = Client::connect(addr);
    c.send(
        b"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n",
    );
    let r = c.read(false);
    assert_eq!((r.status, r.header("connection")), (413, Some("close")));
    assert!(c.closed());
    for _ in 0..500 {
        if SAW.lock().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(*SAW.lock().unwrap(), Some(std::io::ErrorKind::InvalidData));
}

/// Answers after a pause, long enough for the client's FIN to arrive first.
fn slow_ok(req: QueuedRequest) {
    std::thread::sleep(Duration::from_millis(200));
    let gone = req.is_disconnected();
    req.respond(Reply::new(200).header("X-Disconnected", gone.to_string()).body(&b"late"[..]));
}

/// Two pipelined requests, then the write side shut, as `printf … | nc -N` does; everything the
/// server sends until it closes.
fn send_and_half_close(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&[get("/a"), get("/b")].concat()).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    String::from_utf8_lossy(&all).into_owned()
}

#[test]
fn with_half_close_a_client_that_shuts_its_sending_side_still_gets_the_answers() {
    let queue = RequestQueue::new(100);
    let (_server, addr) = queue_server(&queue, Server::builder().half_close(true));
    std::thread::spawn(move || {
        while let Some(req) = queue.receive() {
            slow_ok(req);
        }
    });
    let text = send_and_half_close(addr);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    assert_eq!(text.matches("X-Disconnected: false").count(), 2, "{text}");
    assert!(text.ends_with("late"), "{text}");
}

#[test]
fn without_half_close_end_of_file_closes_and_drops_the_answers_owed() {
    let (_server, addr) = queued(Limits::default(), slow_ok);
    assert_eq!(send_and_half_close(addr), "");
}

/// Streams a body of announced length: `/ok` writes it all, `/over` tries one byte too many,
/// `/short` finishes two bytes short. The outcome of each write goes in the app's log.
fn sized(req: QueuedRequest) {
    let path = req.path().to_owned();
    if path == "/zero" {
        let w = req.respond_streaming_sized(Reply::new(200), 0).expect("a writer");
        // Let the I/O thread send the head first: finishing must still succeed.
        std::thread::sleep(Duration::from_millis(100));
        return assert!(w.finish().is_ok(), "a zero-length stream failed to finish");
    }
    let Some(mut w) = req.respond_streaming_sized(Reply::new(200).header("X-Sized", "1"), 10) else { return };
    let first = w.write_all(b"01234");
    let result = match path.as_str() {
        "/over" => w.write_all(b"567890").map(|()| "wrote past").unwrap_or("refused"),
        "/short" => {
            let _ = w.write_all(b"567");
            return assert_eq!(w.finish().map_err(|e| e.kind()), Err(std::io::ErrorKind::UnexpectedEof));
        }
        _ => "ok",
    };
    assert!(first.is_ok() && result != "wrote past", "{path}: {result}");
    let _ = w.write_all(b"56789");
    let _ = w.finish();
}

#[test]
fn a_streamed_answer_of_known_length_has_content_length_and_keeps_the_connection() {
    let (_server, addr) = queued(Limits::default(), sized);
    let mut c = Client::connect(addr);
    let a = c.exchange(&get("/ok"));
    assert_eq!((a.status, a.header("content-length"), a.header("transfer-encoding")), (200, Some("10"), None));
    assert_eq!(a.body, b"0123456789");
    // A write past the length is refused; the answer still completes with the right bytes.
    assert_eq!(c.exchange(&get("/over")).body, b"0123456789");
    // HTTP/1.0 keep-alive: the announced length keeps the connection open.
    let h10 = c.exchange(b"GET /ok HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!((h10.header("connection"), h10.body.len()), (Some("keep-alive"), 10));
    let zero = c.exchange(&get("/zero"));
    assert_eq!((zero.status, zero.header("content-length"), zero.body.len()), (200, Some("0"), 0));
    // Finishing short cuts the answer: the client sees a short body and the close.
    c.send(&get("/short"));
    let mut raw = Vec::new();
    c.reader.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("Content-Length: 10") && text.ends_with("01234567"), "{text}");
}

#[test]
fn answers_204_and_304_carry_no_body_and_the_next_request_stays_in_sync() {
    let server = Server::builder()
        .threads(1)
        .bind("127.0.0.1:0")
        .serve(|req: &hsys::Request<'_>, res: &mut hsys::Response<'_>| {
            let status = if req.path() == "/nc" {
                204
            } else if req.path() == "/nm" {
                304
            } else {
                200
            };
            let _ = res.status(status).body(b"never for 204 or 304");
        })
        .unwrap();
    let mut s = TcpStream::connect(server.local_addrs()[0]).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&[get("/nc"), get("/nm"), get("/ok")].concat()).unwrap();
    let mut c = Client { reader: BufReader::new(s) };
    let nc = c.read(false);
    assert_eq!((nc.status, nc.header("content-length")), (204, None));
    let nm = c.read(false);
    assert_eq!(nm.status, 304);
    let ok = c.read(false);
    assert_eq!((ok.status, ok.body.as_slice()), (200, &b"never for 204 or 304"[..]));
}
