//! The access log over real sockets: every field of a line says what happened on the wire, every
//! refusal has its line (inline and queued), the line count equals the answers under load and
//! across a reopen (logrotate), drops are counted when the writer is blocked, and a graceful stop
//! writes every line.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hsys::{
    AccessLog, Limits, LogField, LogFormat, Reply, Request, RequestQueue, Response, Server, Target, Timeouts, UrlGroups,
};
use support::{Client, STEP, free_port, read_for, temp_dir, w3c_lines};

/// Lines of a file that are not directives or remarks.
fn count_lines(path: &Path) -> u64 {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().filter(|l| !l.starts_with('#')).count() as u64)
}

/// One request on a connection of its own, the whole answer read to the close (its exact bytes).
fn one(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request).unwrap();
    read_for(&mut s, STEP)
}

fn status_of(answer: &[u8]) -> u16 {
    std::str::from_utf8(answer.get(9..12).unwrap_or_default()).unwrap_or("0").parse().unwrap_or(0)
}

/// How long the queue's application thread takes per request.
const QUEUE_DELAY: Duration = Duration::from_millis(50);

/// A queue answered `200` with its body's length after [`QUEUE_DELAY`], by a thread of its own.
fn answered_queue() -> (RequestQueue, std::thread::JoinHandle<()>) {
    let queue = RequestQueue::new(100);
    let q = queue.clone();
    let app = std::thread::spawn(move || {
        while let Some(mut req) = q.receive() {
            std::thread::sleep(QUEUE_DELAY);
            let Ok(body) = req.read_body_to_end(1 << 20) else { continue };
            req.respond(Reply::new(200).body(format!("{}", body.len()).into_bytes()));
        }
    });
    (queue, app)
}

#[test]
fn lines_say_what_went_over_the_wire_per_group() {
    let dir = temp_dir("fields");
    let (server_log, group_log, ncsa_log) = (dir.join("server.log"), dir.join("group.log"), dir.join("ncsa.log"));
    let port = free_port();
    let (queue, app) = answered_queue();
    let mut groups = UrlGroups::new();
    let site = groups.create_group(Target::inline(|req: &Request<'_>, res: &mut Response<'_>| {
        let _ = res.header("Content-Type", "text/plain").body(req.path().as_bytes());
    }));
    groups.add_url(site, &format!("http://127.0.0.1:{port}/")).unwrap();
    let queued = groups.create_group(Target::Queue(queue.clone()));
    groups.add_url(queued, &format!("http://127.0.0.1:{port}/q/")).unwrap();
    let own = groups.create_group(Target::inline(|_: &Request<'_>, res: &mut Response<'_>| {
        let _ = res.status(201).body(b"own");
    }));
    groups.add_url(own, &format!("http://127.0.0.1:{port}/own/")).unwrap();
    let fields = [LogField::Method, LogField::UriStem, LogField::Status, LogField::BytesSent];
    groups.set_access_log(own, Some(AccessLog::new(&group_log).fields(&fields))).unwrap();
    let ncsa = groups.create_group(Target::inline(|_: &Request<'_>, res: &mut Response<'_>| {
        let _ = res.body(b"n");
    }));
    groups.add_url(ncsa, &format!("http://127.0.0.1:{port}/n/")).unwrap();
    groups.set_access_log(ncsa, Some(AccessLog::new(&ncsa_log).format(LogFormat::Ncsa))).unwrap();
    let mut server = Server::builder()
        .threads(2)
        .access_log(AccessLog::new(&server_log))
        .serve_groups(groups)
        .expect("serve_groups");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    let get = b"GET /a%20b/c?x=1&y=2 HTTP/1.1\r\nHost: t.example\r\nUser-Agent: test agent/1.0\r\nReferer: http://r/\r\nConnection: close\r\n\r\n";
    let get_answer = one(addr, get);
    let head = b"HEAD /h HTTP/1.0\r\nHost: t\r\n\r\n";
    let head_answer = one(addr, head);
    let post = b"POST /q/p HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    let post_answer = one(addr, post);
    assert_eq!(&post_answer[post_answer.len() - 1..], b"5");
    let own_answer = one(addr, b"GET /own/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let n_answer = one(addr, b"GET /n/y?z HTTP/1.1\r\nHost: t\r\nUser-Agent: a \"b\"\r\nConnection: close\r\n\r\n");
    // Pipelined on one connection, then the stop at once: no line may wait behind it.
    let mut c = Client::connect(addr);
    c.send(
        b"GET /p1 HTTP/1.1\r\nHost: t\r\n\r\nGET /q/p2 HTTP/1.1\r\nHost: t\r\n\r\nGET /p3 HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    for _ in 0..3 {
        assert_eq!(c.read(false).status, 200);
    }
    server.shutdown();
    assert!(server.wait(STEP).unwrap());
    queue.shutdown();
    app.join().unwrap();

    let lines = w3c_lines(&server_log);
    let by_stem = |stem: &str| {
        lines.iter().find(|l| l["cs-uri-stem"] == stem).unwrap_or_else(|| panic!("no {stem} in {lines:?}")).clone()
    };
    let l = by_stem("/a%20b/c");
    let expected = [
        ("s-ip", "127.0.0.1"),
        ("cs-method", "GET"),
        ("cs-uri-query", "x=1&y=2"),
        ("c-ip", "127.0.0.1"),
        ("cs-version", "HTTP/1.1"),
        ("cs(User-Agent)", "test+agent/1.0"),
        ("cs(Referer)", "http://r/"),
        ("cs-host", "t.example"),
        ("sc-status", "200"),
        ("time-taken", "0"),
    ];
    for (field, value) in expected {
        assert_eq!(l[field], value, "{field} in {l:?}");
    }
    assert_eq!(l["s-port"], port.to_string());
    assert_eq!(l["sc-bytes"], get_answer.len().to_string(), "the answer's bytes on the wire");
    assert_eq!(l["cs-bytes"], get.len().to_string(), "the request's bytes");
    assert_eq!(l["date"].len(), 10);
    assert_eq!(l["time"].len(), 8);
    let h = by_stem("/h");
    assert_eq!((h["cs-method"].as_str(), h["cs-version"].as_str()), ("HEAD", "HTTP/1.0"));
    assert_eq!((h["cs(User-Agent)"].as_str(), h["cs-uri-query"].as_str()), ("-", "-"));
    assert_eq!(h["sc-bytes"], head_answer.len().to_string());
    let p = by_stem("/q/p");
    assert_eq!((p["cs-method"].as_str(), p["sc-status"].as_str()), ("POST", "200"));
    assert_eq!(p["cs-bytes"], post.len().to_string());
    assert_eq!(p["sc-bytes"], post_answer.len().to_string());
    let taken: u64 = p["time-taken"].parse().unwrap();
    assert!((QUEUE_DELAY.as_millis() as u64 - 5..5_000).contains(&taken), "time-taken {taken}");
    for stem in ["/p1", "/q/p2", "/p3"] {
        assert_eq!(by_stem(stem)["sc-status"], "200");
    }
    assert_eq!(lines.len(), 6, "the other groups' requests are in their own logs: {lines:?}");

    let own_lines = std::fs::read_to_string(&group_log).unwrap();
    assert!(own_lines.contains("\n#Fields: cs-method cs-uri-stem sc-status sc-bytes\n"), "{own_lines}");
    assert!(own_lines.ends_with(&format!("\nGET /own/x 201 {}\n", own_answer.len())), "{own_lines}");
    let n = std::fs::read_to_string(&ncsa_log).unwrap();
    let expected = format!("\"GET /n/y?z HTTP/1.1\" 200 {} \"-\" \"a \\\"b\\\"\"\n", n_answer.len());
    assert!(n.starts_with("127.0.0.1 - - ["), "{n}");
    assert!(n.ends_with(&expected), "{n} does not end with {expected}");
    assert_eq!(n.lines().count(), 1, "{n}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_refusal_has_its_line_inline_and_queued() {
    let dir = temp_dir("refusals");
    let log = dir.join("access.log");
    let port = free_port();
    let (queue, app) = answered_queue();
    // A queue nobody takes from, whose requests time out (`503` from its reaper), and one full.
    let late = RequestQueue::with_timeout(10, Duration::from_millis(200));
    let full = RequestQueue::new(1);
    let mut groups = UrlGroups::new();
    let site = groups.create_group(Target::inline(|_: &Request<'_>, res: &mut Response<'_>| {
        let _ = res.body(b"ok");
    }));
    groups.add_url(site, &format!("http://127.0.0.1:{port}/")).unwrap();
    for (q, path) in [(&queue, "q"), (&late, "late"), (&full, "full")] {
        let g = groups.create_group(Target::Queue(q.clone()));
        groups.add_url(g, &format!("http://127.0.0.1:{port}/{path}/")).unwrap();
    }
    let mut server = Server::builder()
        .threads(1)
        .limits(Limits::default().max_body_size(Some(100)).max_request_bytes(2048))
        .timeouts(Timeouts::default().header_wait(Duration::from_secs(1)).entity_body(Duration::from_secs(1)))
        .shutdown_timeout(Duration::from_secs(2))
        .access_log(AccessLog::new(&log))
        .serve_groups(groups)
        .expect("serve_groups");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    let big_header = format!("GET /big HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "x".repeat(3000));
    let chunked_over = format!(
        "POST /q/chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n{}\r\n40\r\n{}\r\n",
        "a".repeat(64),
        "b".repeat(64)
    );
    let cases: Vec<(u16, &str, Vec<u8>)> = vec![
        (400, "/bad", b"GET /bad HTTP/1.1\r\nHost: t\r\nNo colon here\r\n\r\n".to_vec()),
        (431, "/big", big_header.into_bytes()),
        (413, "/inline-large", b"POST /inline-large HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n".to_vec()),
        (413, "/q/chunked", chunked_over.into_bytes()),
        (503, "/late/x", b"GET /late/x HTTP/1.1\r\nHost: t\r\n\r\n".to_vec()),
    ];
    let mut expected = Vec::new();
    for (status, stem, request) in &cases {
        let answer = one(addr, request);
        assert_eq!(status_of(&answer), *status, "{stem}: {}", String::from_utf8_lossy(&answer));
        expected.push((*status, *stem, answer.len()));
    }
    // 408: a head that never ends (inline), and a queued request's body that stops coming.
    let mut slow_head = TcpStream::connect(addr).unwrap();
    slow_head.write_all(b"GET /slow-head HTTP/1.1\r\nHost: t\r\n").unwrap();
    let mut slow_body = TcpStream::connect(addr).unwrap();
    slow_body.write_all(b"POST /q/slow-body HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\n\r\n0123456789").unwrap();
    for (s, stem) in [(&mut slow_head, "/slow-head"), (&mut slow_body, "/q/slow-body")] {
        let answer = read_for(s, STEP);
        assert_eq!(status_of(&answer), 408, "{stem}: {}", String::from_utf8_lossy(&answer));
        expected.push((408, stem, answer.len()));
    }
    // 503: a full queue (the first request waits in it; the second is refused at once).
    let mut waiting = TcpStream::connect(addr).unwrap();
    waiting.write_all(b"GET /full/1 HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let answer = one(addr, b"GET /full/2 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(status_of(&answer), 503);
    expected.push((503, "/full/2", answer.len()));
    let _ = full.try_receive().map(|r| r.respond(Reply::new(200).body(&b"late"[..])));
    let answer = read_for(&mut waiting, Duration::from_secs(1));
    assert_eq!(status_of(&answer), 200);

    server.shutdown();
    assert!(server.wait(STEP).unwrap());
    queue.shutdown();
    app.join().unwrap();
    let lines = w3c_lines(&log);
    for (status, stem, bytes) in expected {
        let l = lines.iter().find(|l| l["cs-uri-stem"] == stem).unwrap_or_else(|| panic!("no {stem} in {lines:?}"));
        assert_eq!(l["sc-status"], status.to_string(), "{l:?}");
        assert_eq!(l["sc-bytes"], bytes.to_string(), "{l:?}");
        assert_eq!(l["c-ip"], "127.0.0.1", "{l:?}");
    }
    let late = lines.iter().find(|l| l["cs-uri-stem"] == "/late/x").unwrap();
    assert!(late["time-taken"].parse::<u64>().unwrap() >= 150, "{late:?}");
    assert_eq!(lines.len(), 9, "one line per answer: {lines:?}");
    assert_eq!(server.stats().responses_sent, 9);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `clients` threads looping keep-alive `GET`s on `addr` until `stop`; the answers they read.
fn load(
    addr: SocketAddr,
    clients: usize,
    stop: &Arc<AtomicBool>,
    served: &Arc<AtomicU64>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..clients)
        .map(|i| {
            let (stop, served) = (Arc::clone(stop), Arc::clone(served));
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let request = format!("GET /load/{i} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes();
                while !stop.load(Ordering::Relaxed) {
                    assert_eq!(c.exchange(&request).status, 200);
                    served.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect()
}

#[test]
fn line_count_equals_answers_under_load_and_across_a_reopen() {
    let dir = temp_dir("load");
    let log = dir.join("access.log");
    let mut server = Server::builder()
        .threads(2)
        .bind("127.0.0.1:0")
        .access_log(AccessLog::new(&log))
        .serve(|_: &Request<'_>, res: &mut Response<'_>| {
            let _ = res.body(b"hello");
        })
        .expect("serve");
    let addr = server.local_addrs()[0];
    let (stop, served) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let clients = load(addr, 4, &stop, &served);
    std::thread::sleep(Duration::from_secs(1));
    // logrotate: the file renamed, then the reopen (the binary's SIGHUP).
    let rotated = dir.join("access.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    server.reopen_access_logs();
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    server.shutdown();
    assert!(server.wait(STEP).unwrap());
    let total = served.load(Ordering::Relaxed);
    let (old, new) = (count_lines(&rotated), count_lines(&log));
    assert!(old > 0 && new > 0, "old {old}, new {new}");
    assert_eq!(old + new, total, "old {old} + new {new} lines, {total} answers");
    assert_eq!(server.stats().responses_sent, total);
    assert_eq!(server.stats().access_log_dropped, 0);
    let fresh = std::fs::read_to_string(&log).unwrap();
    assert!(fresh.starts_with("#Software: hsys "), "the reopened file begins with its directives");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn drops_are_counted_and_reported_when_the_writer_is_blocked() {
    let dir = temp_dir("fifo");
    let fifo = dir.join("access.fifo");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid, NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    // The reader first (non-blocking: it needs no writer), so the server's open for writing goes
    // through; nobody reads it until drops are seen.
    let mut reader = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo).unwrap();
    let mut server = Server::builder()
        .threads(1)
        .bind("127.0.0.1:0")
        .access_log(AccessLog::new(&fifo))
        .serve(|_: &Request<'_>, res: &mut Response<'_>| {
            let _ = res.body(b"hello");
        })
        .expect("serve");
    let addr = server.local_addrs()[0];
    // Long lines (a 4 KiB user agent) fill the pipe and the writer's queue quickly.
    let request = format!("GET / HTTP/1.1\r\nHost: t\r\nUser-Agent: {}\r\n\r\n", "u".repeat(4096)).into_bytes();
    let batch: Vec<u8> = request.iter().copied().cycle().take(request.len() * 50).collect();
    let mut c = Client::connect(addr);
    let mut answered = 0u64;
    let deadline = Instant::now() + STEP * 3;
    while server.stats().access_log_dropped == 0 {
        assert!(Instant::now() < deadline, "no line dropped after {answered} answers");
        c.send(&batch);
        for _ in 0..50 {
            assert_eq!(c.read(false).status, 200);
            answered += 1;
        }
    }
    // More after the drops, then the reader drains the pipe while the server stops.
    for _ in 0..10 {
        assert_eq!(c.exchange(&request).status, 200);
        answered += 1;
    }
    drop(c);
    let drain = std::thread::spawn(move || {
        let mut text = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        let deadline = Instant::now() + STEP * 3;
        while Instant::now() < deadline {
            match reader.read(&mut buf) {
                Ok(0) => break, // the writer closed it
                Ok(n) => text.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => panic!("{e}"),
            }
        }
        String::from_utf8(text).unwrap()
    });
    server.shutdown();
    assert!(server.wait(STEP * 2).unwrap());
    let text = drain.join().unwrap();
    let lines = text.lines().filter(|l| !l.starts_with('#')).count() as u64;
    let reported: u64 = text
        .lines()
        .filter_map(|l| l.strip_prefix("#Remark: "))
        .map(|r| {
            let n = r.split(" dropped ").nth(1).and_then(|r| r.split(' ').next()).expect("a count");
            n.parse::<u64>().unwrap()
        })
        .sum();
    let dropped = server.stats().access_log_dropped;
    assert!(dropped > 0);
    assert_eq!(reported, dropped, "the remarks say how many were dropped");
    assert_eq!(lines + dropped, answered, "{lines} lines written + {dropped} dropped");
    let _ = std::fs::remove_dir_all(&dir);
}

use std::os::unix::fs::OpenOptionsExt;
