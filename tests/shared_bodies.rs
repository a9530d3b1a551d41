//! Large `Prepared` answers: their bodies follow the head from the bytes every connection shares
//! (`Tail::Shared`), so they must arrive whole, in pipeline order, to slow readers, on each
//! backend (the suite runs on both).

mod support;

use std::io::{BufRead, Read};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hsys::{Prepared, Reply, Request, RequestQueue, Response, Server, Target, UrlGroups};
use support::{Client, free_port, get, queue_server};

/// `n` patterned bytes, different for each `seed` (so an answer in the wrong place shows).
fn pattern(n: usize, seed: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + seed * 13 + i / 251) % 256) as u8).collect()
}

/// The answers served, by path: large ones (shared), one far larger than a loopback socket's
/// buffers take at once, and a small one (copied).
fn answers() -> Vec<(&'static str, Arc<Prepared>)> {
    [("/big", 8 << 20), ("/a", 300 * 1024), ("/b", 200 * 1024), ("/small", 100)]
        .into_iter()
        .enumerate()
        .map(|(seed, (path, len))| {
            let prepared =
                Prepared::new(200, [("Content-Type", &b"application/octet-stream"[..])], &pattern(len, seed));
            (path, Arc::new(prepared.expect("valid")))
        })
        .collect()
}

/// The body `answers` has for `path`.
fn body_of(path: &str) -> Vec<u8> {
    let (seed, len) = match path {
        "/big" => (0, 8 << 20),
        "/a" => (1, 300 * 1024),
        "/b" => (2, 200 * 1024),
        _ => (3, 100),
    };
    pattern(len, seed)
}

/// A one-thread server answering every path of `answers` inline with its `Prepared` answer.
fn inline_server() -> (Server, SocketAddr) {
    let answers = answers();
    let server = Server::builder()
        .threads(1)
        .bind("127.0.0.1:0")
        .serve(move |req: &Request<'_>, res: &mut Response<'_>| {
            let (_, p) = answers.iter().find(|(path, _)| *path == req.path()).unwrap_or(&answers[3]);
            res.prepared(p).expect("a prepared answer");
        })
        .expect("serve");
    let addr = server.local_addrs()[0];
    (server, addr)
}

fn head(path: &str) -> Vec<u8> {
    format!("HEAD {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

/// Reads one answer's head, then its body slowly: small reads, with pauses, so the server finds
/// the client's socket full many times over and must resume where it stopped.
fn read_slowly(c: &mut Client) -> Vec<u8> {
    let mut len = None;
    loop {
        let mut line = String::new();
        assert!(c.reader.read_line(&mut line).expect("a head line") > 0, "closed in the head");
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = Some(v.trim().parse::<usize>().expect("a length"));
        }
    }
    let mut body = vec![0u8; len.expect("a Content-Length")];
    let mut at = 0;
    let mut reads = 0;
    while at < body.len() {
        let end = (at + 4096).min(body.len());
        let n = c.reader.read(&mut body[at..end]).expect("the body");
        assert!(n > 0, "closed after {at} of {} body bytes", body.len());
        at += n;
        reads += 1;
        if reads % 256 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    body
}

#[test]
fn a_large_prepared_answer_read_slowly_arrives_byte_exact_and_the_connection_goes_on() {
    let (_s, addr) = inline_server();
    let mut c = Client::connect(addr);
    c.send(&get("/big"));
    // The server fills the socket and waits for room.
    std::thread::sleep(Duration::from_millis(300));
    assert!(read_slowly(&mut c) == body_of("/big"), "the slowly read body differs");
    // Kept alive: the next answers come, a `HEAD` with the length and no body.
    c.send(&head("/big"));
    let h = c.read(true);
    assert_eq!(h.header("content-length"), Some("8388608"));
    assert!(c.exchange(&get("/a")).body == body_of("/a"));
    assert_eq!(c.exchange(&get("/small")).body, body_of("/small"));
}

#[test]
fn pipelined_large_prepared_answers_arrive_in_order() {
    let (_s, addr) = inline_server();
    let mut c = Client::connect(addr);
    let paths = ["/a", "/small", "/b", "/big", "/small", "/a", "/b", "/small"];
    let mut all: Vec<u8> = paths.iter().flat_map(|p| get(p)).collect();
    all.extend(head("/a"));
    all.extend(get("/b"));
    c.send(&all);
    std::thread::sleep(Duration::from_millis(200));
    for p in paths {
        let r = c.read(false);
        assert_eq!(r.status, 200, "{p}");
        assert!(r.body == body_of(p), "{p}: {} bytes, not the expected body", r.body.len());
    }
    let h = c.read(true);
    assert_eq!(h.header("content-length"), Some("307200"));
    assert!(c.read(false).body == body_of("/b"), "the answer after the HEAD");
}

/// Queued requests answered with `Reply::prepared`, the later ones first: the large bodies still
/// leave in pipeline order, and count to the group's `BytesSent`.
#[test]
fn queued_large_prepared_replies_leave_in_order_and_count_their_bytes() {
    let queue = RequestQueue::new(10);
    let port = free_port();
    let mut g = UrlGroups::new();
    let q = g.create_group(Target::Queue(queue.clone()));
    g.add_url(q, &format!("http://+:{port}/")).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = Server::builder().threads(1).bind(addr).serve_groups(g).expect("serve_groups");
    let answers = answers();
    let paths = ["/a", "/small", "/b", "/a"];
    let mut c = Client::connect(addr);
    c.send(&paths.iter().flat_map(|p| get(p)).collect::<Vec<u8>>());
    let mut taken = Vec::new();
    let deadline = Instant::now() + support::STEP;
    while taken.len() < paths.len() {
        assert!(Instant::now() < deadline, "{} of {} requests queued", taken.len(), paths.len());
        match queue.try_receive() {
            Some(r) => taken.push(r),
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    }
    for req in taken.into_iter().rev() {
        let (_, p) = answers.iter().find(|(path, _)| *path == req.path()).expect("a known path");
        req.respond(Reply::prepared(Arc::clone(p)));
    }
    for p in paths {
        assert!(c.read(false).body == body_of(p), "{p}");
    }
    let body_bytes: usize = paths.iter().map(|p| body_of(p).len()).sum();
    let sent = server.group_stats(q).unwrap().bytes_sent;
    assert!(sent > body_bytes as u64, "BytesSent {sent}, the bodies alone are {body_bytes}");
}

/// The same through the plain queue server (no groups), answered in order as they come.
#[test]
fn a_queued_large_prepared_reply_is_followed_by_the_next_answer() {
    let queue = RequestQueue::new(10);
    let (_server, addr) = queue_server(&queue, Server::builder());
    let answers = answers();
    std::thread::spawn(move || {
        while let Some(req) = queue.receive() {
            let (_, p) = answers.iter().find(|(path, _)| *path == req.path()).unwrap_or(&answers[3]);
            req.respond(Reply::prepared(Arc::clone(p)));
        }
    });
    let mut c = Client::connect(addr);
    c.send(&[get("/big"), get("/small")].concat());
    std::thread::sleep(Duration::from_millis(200));
    assert!(read_slowly(&mut c) == body_of("/big"));
    assert_eq!(c.read(false).body, body_of("/small"));
}
