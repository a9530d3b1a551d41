//! URL groups, http.sys routing and request queues over real sockets (loopback only: the server
//! is bound to 127.0.0.1 explicitly, whatever hosts the prefixes name).

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hsys::{ErrorKind, GroupId, Reply, Request, RequestQueue, Response, Server, Target, UrlGroups};
use support::{Client, free_port, get};

fn answer(text: &'static str) -> Target {
    Target::inline(move |req: &Request<'_>, res: &mut Response<'_>| {
        let _ = res.header("X-Path", req.normalized_path()).body(text.as_bytes());
    })
}

fn start(groups: UrlGroups, port: u16) -> (Server, SocketAddr) {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = Server::builder().threads(2).bind(addr).serve_groups(groups).expect("serve_groups");
    (server, addr)
}

/// A server with one group answering "A" on `http://+:PORT/a/`, a client connected to it, the
/// port and the group.
fn serve_a() -> (Server, Client, u16, GroupId) {
    let port = free_port();
    let mut g = UrlGroups::new();
    let a = g.create_group(answer("A"));
    g.add_url(a, &format!("http://+:{port}/a/")).unwrap();
    let (server, addr) = start(g, port);
    (server, Client::connect(addr), port, a)
}

fn req(path: &str, host: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes()
}

#[test]
fn the_documented_precedence_example() {
    let port = free_port();
    let mut g = UrlGroups::new();
    let (a, b, c) = (g.create_group(answer("A")), g.create_group(answer("B")), g.create_group(answer("C")));
    g.add_url(a, &format!("http://+:{port}/vroot/")).unwrap();
    g.add_url(b, &format!("http://adatum.com:{port}/")).unwrap();
    g.add_url(c, &format!("http://*:{port}/")).unwrap();
    let (_s, addr) = start(g, port);
    let mut cl = Client::connect(addr);
    assert_eq!(cl.exchange(&req("/vroot/subdir/file.htm", "adatum.com")).body, b"A");
    assert_eq!(cl.exchange(&req("/default.htm", "adatum.com")).body, b"B");
    assert_eq!(cl.exchange(&req("/file.htm", "otheradatum.com")).body, b"C");
    assert_eq!(cl.exchange(&req("/VROOT", &format!("ADATUM.com:{port}"))).body, b"A");
    let r = cl.exchange(&req("/x/../vroot/%7Ey", "z"));
    assert_eq!(r.body, b"A");
    assert_eq!(r.header("x-path"), Some("/vroot/~y"));
}

#[test]
fn ip_literal_class_uses_the_local_address() {
    let port = free_port();
    let mut g = UrlGroups::new();
    let (ip, weak) = (g.create_group(answer("ip")), g.create_group(answer("weak")));
    g.add_url(ip, &format!("http://127.0.0.1:{port}/")).unwrap();
    g.add_url(weak, &format!("http://*:{port}/")).unwrap();
    let (_s, addr) = start(g, port);
    assert_eq!(Client::connect(addr).exchange(&req("/", "some.name")).body, b"ip");
}

#[test]
fn unknown_host_is_400_unknown_path_is_404_both_keep_the_connection() {
    let port = free_port();
    let mut g = UrlGroups::new();
    let a = g.create_group(answer("A"));
    g.add_url(a, &format!("http://adatum.com:{port}/app/")).unwrap();
    let (_s, addr) = start(g, port);
    let mut cl = Client::connect(addr);
    let r = cl.exchange(&req("/app/", "other.com"));
    assert_eq!(r.status, 400);
    assert_eq!(r.body, b"Bad Request - Invalid Hostname");
    let r = cl.exchange(&req("/elsewhere", "adatum.com"));
    assert_eq!(r.status, 404);
    assert_eq!(cl.exchange(&req("/app", "adatum.com")).body, b"A");
    // Climbing above the root is refused and closes.
    let r = cl.exchange(&req("/../etc/passwd", "adatum.com"));
    assert_eq!(r.status, 400);
    assert!(cl.closed());
}

#[test]
fn already_registered_and_scheme_conflict_are_typed_errors_and_classes_coexist() {
    let mut g = UrlGroups::new();
    let a = g.create_group(answer("A"));
    g.add_url(a, "http://example.com:80/v/").unwrap();
    g.add_url(a, "http://+:80/v/").unwrap();
    assert_eq!(g.add_url(a, "http://EXAMPLE.com:80/v/").unwrap_err().kind(), ErrorKind::AlreadyRegistered);
    assert_eq!(g.add_url(a, "ftp://+:21/").unwrap_err().kind(), ErrorKind::InvalidUrl);
    // https is a prefix like the others, but a port speaks one scheme.
    g.add_url(a, "https://+:443/").unwrap();
    let e = g.add_url(a, "https://example.com:80/v/").unwrap_err();
    assert_eq!((e.kind(), e.url()), (ErrorKind::SchemeConflict, Some("https://example.com:80/v/")));
    assert_eq!(g.add_url(a, "http://+:443/x/").unwrap_err().kind(), ErrorKind::SchemeConflict);
}

#[test]
fn paths_are_matched_decoded_and_normalised_but_an_encoded_slash_splits_no_segment() {
    let port = free_port();
    let mut g = UrlGroups::new();
    let ab = g.create_group(answer("ab"));
    g.add_url(ab, &format!("http://+:{port}/a/b/")).unwrap();
    let (_s, addr) = start(g, port);
    let mut cl = Client::connect(addr);
    let r = cl.exchange(&req("/a/%62/x", "h"));
    assert_eq!((r.status, r.header("x-path")), (200, Some("/a/b/x")), "an unreserved escape is decoded");
    assert_eq!(cl.exchange(&req("/A/./c/../B", "h")).status, 200, "dot segments and case");
    assert_eq!(cl.exchange(&req("/a%2Fb/x", "h")).status, 404, "%2F stays inside its segment");
    assert_eq!(cl.exchange(&req("/a/b/../../..", "h")).status, 400, "above the root");
    assert!(cl.closed(), "a path above the root is refused and closed");
}

#[test]
fn live_registration_takes_effect_without_restart() {
    let (server, mut cl, port, a) = serve_a();
    assert_eq!(cl.exchange(&req("/b/", "h")).status, 404);
    let b = server.create_group(answer("B")).unwrap();
    server.add_url(b, &format!("http://+:{port}/b/")).unwrap();
    assert_eq!(cl.exchange(&req("/b/", "h")).body, b"B");
    assert!(server.remove_url(&format!("http://+:{port}/b/")).unwrap());
    assert_eq!(cl.exchange(&req("/b/", "h")).status, 404);
    server.set_target(a, answer("A2")).unwrap();
    assert_eq!(cl.exchange(&req("/a/", "h")).body, b"A2");
    assert_eq!(server.add_url(a, "http://+:1/x/").unwrap_err().kind(), ErrorKind::PortNotListening);
    cl.send(b"HEAD /a/ HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(cl.read(true).status, 200);
    let stats = server.group_stats(a).unwrap();
    assert_eq!((stats.all_requests, stats.get_requests, stats.head_requests), (2, 1, 1));
    assert!(stats.bytes_sent > 0 && stats.bytes_received > 0);
}

#[test]
fn a_repeated_target_follows_a_live_change_of_its_route() {
    // Each I/O thread remembers the request it routed last; a new table must not answer from it.
    let (server, mut cl, port, _) = serve_a();
    for _ in 0..3 {
        assert_eq!(cl.exchange(&req("/a/b/c", "h")).body, b"A");
    }
    let b = server.create_group(answer("B")).unwrap();
    server.add_url(b, &format!("http://+:{port}/a/b/")).unwrap();
    for _ in 0..3 {
        let r = cl.exchange(&req("/a/b/c", "h"));
        assert_eq!((r.body.as_slice(), r.header("X-Path")), (&b"B"[..], Some("/a/b/c")));
    }
    assert!(server.remove_url(&format!("http://+:{port}/a/b/")).unwrap());
    assert_eq!(cl.exchange(&req("/a/b/c", "h")).body, b"A");
    // The same target under another host, and a target that normalises, route as ever.
    assert_eq!(cl.exchange(&req("/a/b/c", "other")).body, b"A");
    assert_eq!(cl.exchange(&req("/x/../a/b/c", "h")).body, b"A");
    assert_eq!(cl.exchange(&req("/x/../a/b/c", "h")).status, 200);
    assert_eq!(cl.exchange(&req("/a/../b/c", "h")).status, 404);
}

#[test]
fn a_prefix_on_a_new_port_makes_the_server_listen_there() {
    let (p1, p2) = (free_port(), free_port());
    let mut g = UrlGroups::new();
    let a = g.create_group(answer("A"));
    g.add_url(a, &format!("http://127.0.0.1:{p1}/")).unwrap();
    // No `bind`: the listeners follow the prefixes.
    let server = Server::builder().threads(2).serve_groups(g).expect("serve_groups");
    let b = server.create_group(answer("B")).unwrap();
    server.add_url(b, &format!("http://127.0.0.1:{p2}/new/")).unwrap();
    let new: SocketAddr = format!("127.0.0.1:{p2}").parse().unwrap();
    assert!(server.local_addrs().contains(&new), "{:?}", server.local_addrs());
    // Several connections, so both I/O threads' listeners are met.
    for _ in 0..8 {
        let mut c = Client::connect(new);
        assert_eq!(c.exchange(&req("/new/x", "h")).body, b"B");
        assert_eq!(c.exchange(&req("/other", "h")).status, 404);
    }
    let old: SocketAddr = format!("127.0.0.1:{p1}").parse().unwrap();
    assert_eq!(Client::connect(old).exchange(&req("/new/x", "h")).body, b"A", "the first port is not /new/'s");
    // A port another socket holds: the error says so and the prefix is not added.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let p3 = taken.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{p3}/");
    assert_eq!(server.add_url(b, &url).unwrap_err().kind(), ErrorKind::AddrInUse);
    assert!(!server.remove_url(&url).unwrap(), "a prefix whose port could not be bound was added");
    // A stopping server listens on no new port.
    server.shutdown();
    let p4 = free_port();
    assert!(server.add_url(b, &format!("http://127.0.0.1:{p4}/")).is_err());
    assert!(std::net::TcpListener::bind(("127.0.0.1", p4)).is_ok(), "the port was bound anyway");
}

fn queued_server(queue: &RequestQueue) -> (Server, SocketAddr) {
    let port = free_port();
    let mut g = UrlGroups::new();
    let q = g.create_group(Target::Queue(queue.clone()));
    g.add_url(q, &format!("http://+:{port}/")).unwrap();
    start(g, port)
}

fn take(queue: &RequestQueue) -> hsys::QueuedRequest {
    let deadline = Instant::now() + support::STEP;
    loop {
        if let Some(r) = queue.try_receive() {
            return r;
        }
        assert!(Instant::now() < deadline, "nothing queued");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_queued_request_has_its_raw_path_query_and_normalised_path() {
    let queue = RequestQueue::new(10);
    let (_s, addr) = queued_server(&queue);
    let mut cl = Client::connect(addr);
    cl.send(&get("/a/%62/../c?x=1"));
    let r = take(&queue);
    assert_eq!(
        (r.target(), r.path(), r.query(), r.normalized_path()),
        ("/a/%62/../c?x=1", "/a/%62/../c", Some("x=1"), "/a/c")
    );
    r.respond(Reply::new(204));
    assert_eq!(cl.read(false).status, 204);
}

#[test]
fn queued_requests_are_answered_from_other_threads() {
    let queue = RequestQueue::new(100);
    let (_s, addr) = queued_server(&queue);
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let q = queue.clone();
            std::thread::spawn(move || {
                while let Some(r) = q.receive() {
                    let body = format!("{} {}", r.method(), r.path()).into_bytes();
                    r.respond(Reply::new(200).header("Content-Type", "text/plain").body(body));
                }
            })
        })
        .collect();
    let mut cl = Client::connect(addr);
    for i in 0..20 {
        assert_eq!(cl.exchange(&get(&format!("/q{i}"))).body, format!("GET /q{i}").as_bytes());
    }
    cl.send(b"HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = cl.read(true);
    assert_eq!(r.header("content-length"), Some("7"));
    assert_eq!(cl.exchange(&get("/after-head")).body, b"GET /after-head");
    assert_eq!(queue.stats().arrivals, 22);
    queue.shutdown();
    for w in workers {
        w.join().unwrap();
    }
}

#[test]
fn answers_given_out_of_order_leave_in_pipeline_order() {
    let queue = RequestQueue::new(100);
    let (_s, addr) = queued_server(&queue);
    let mut cl = Client::connect(addr);
    let all: Vec<u8> = (0..5).flat_map(|i| get(&format!("/{i}"))).collect();
    cl.send(&all);
    let mut taken: Vec<_> = (0..5).map(|_| take(&queue)).collect();
    // Answer the last first, each from its own thread.
    let mut threads = Vec::new();
    while let Some(r) = taken.pop() {
        threads.push(std::thread::spawn(move || {
            let body = r.path().as_bytes().to_vec();
            r.respond(Reply::new(200).body(body));
        }));
        std::thread::sleep(Duration::from_millis(5));
    }
    for i in 0..5 {
        assert_eq!(cl.read(false).body, format!("/{i}").as_bytes());
    }
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn a_full_queue_answers_503_and_closes() {
    let queue = RequestQueue::new(1);
    let (_s, addr) = queued_server(&queue);
    let mut first = Client::connect(addr);
    first.send(&get("/1"));
    let waiting = take(&queue);
    let mut second = Client::connect(addr);
    second.send(&get("/2"));
    let mut third = Client::connect(addr);
    // /2 fills the queue (length 1) ...
    let deadline = Instant::now() + support::STEP;
    while queue.stats().current_queue_size < 1 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    }
    // ... so /3 is refused.
    let r = third.exchange(&get("/3"));
    assert_eq!(r.status, 503);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(third.closed());
    assert_eq!(queue.stats().rejected_requests, 1);
    waiting.respond(Reply::new(200).body(&b"one"[..]));
    assert_eq!(first.read(false).body, b"one");
    take(&queue).respond(Reply::new(200).body(&b"two"[..]));
    assert_eq!(second.read(false).body, b"two");
}

#[test]
fn a_dropped_request_is_answered_500() {
    let queue = RequestQueue::new(10);
    let (_s, addr) = queued_server(&queue);
    let mut cl = Client::connect(addr);
    cl.send(&get("/drop"));
    drop(take(&queue));
    assert_eq!(cl.read(false).status, 500);
    // The connection is still usable.
    cl.send(&get("/next"));
    take(&queue).respond(Reply::new(204));
    assert_eq!(cl.read(false).status, 204);
}

#[test]
fn a_client_that_leaves_is_reported_to_the_handle() {
    let queue = RequestQueue::new(10);
    let (_s, addr) = queued_server(&queue);
    let mut cl = Client::connect(addr);
    cl.send(&get("/gone"));
    let r = take(&queue);
    assert!(!r.is_disconnected());
    drop(cl);
    let deadline = Instant::now() + support::STEP;
    while !r.is_disconnected() {
        assert!(Instant::now() < deadline, "disconnect not seen");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!r.respond(Reply::new(200)));
}

#[test]
fn the_request_queue_timeout_answers_503() {
    let queue = RequestQueue::with_timeout(10, Duration::from_millis(50));
    let (_s, addr) = queued_server(&queue);
    let mut cl = Client::connect(addr);
    cl.send(&get("/late"));
    let deadline = Instant::now() + support::STEP;
    while queue.stats().current_queue_size < 1 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(queue.try_receive().is_none());
    assert_eq!(cl.read(false).status, 503);
    // The late request left the queue: nothing waits, so nothing is old.
    let stats = queue.stats();
    assert_eq!((stats.rejected_requests, stats.current_queue_size, stats.max_queue_item_age), (1, 0, Duration::ZERO));
}

#[test]
fn group_connection_counts_and_limit() {
    let port = free_port();
    let mut g = UrlGroups::new();
    let (api, web) = (g.create_group(answer("api")), g.create_group(answer("web")));
    g.add_url(api, &format!("http://+:{port}/api/")).unwrap();
    g.add_url(web, &format!("http://+:{port}/")).unwrap();
    g.set_max_connections(api, Some(1)).unwrap();
    let (s, addr) = start(g, port);
    let mut a = Client::connect(addr);
    assert_eq!(a.exchange(&req("/api/x", "h")).body, b"api");
    // A second connection for the limited group is refused; the other group still serves it.
    let mut b = Client::connect(addr);
    let r = b.exchange(&req("/api/y", "h"));
    assert_eq!((r.status, r.header("connection")), (503, Some("close")));
    assert!(b.closed());
    let mut c = Client::connect(addr);
    assert_eq!(c.exchange(&req("/web", "h")).body, b"web");
    let stats = s.group_stats(api).unwrap();
    assert_eq!((stats.current_connections, stats.max_connections), (1, 1));
    // Moving to another group frees the place.
    assert_eq!(a.exchange(&req("/other", "h")).body, b"web");
    assert_eq!(s.group_stats(api).unwrap().current_connections, 0);
    assert_eq!(s.group_stats(web).unwrap().current_connections, 2);
    assert_eq!(c.exchange(&req("/api/z", "h")).body, b"api");
    // Closing leaves.
    drop(c);
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.group_stats(api).unwrap().current_connections != 0 {
        assert!(Instant::now() < deadline, "connection not counted out");
        std::thread::sleep(Duration::from_millis(10));
    }
    s.set_group_max_connections(api, None).unwrap();
    assert_eq!(Client::connect(addr).exchange(&req("/api/w", "h")).body, b"api");
}

#[test]
fn queued_answers_count_their_bytes_to_the_group() {
    let queue = RequestQueue::new(10);
    let port = free_port();
    let mut g = UrlGroups::new();
    let q = g.create_group(Target::Queue(queue.clone()));
    g.add_url(q, &format!("http://+:{port}/")).unwrap();
    let (s, addr) = start(g, port);
    let mut c = Client::connect(addr);
    c.send(&get("/q"));
    take(&queue).respond(Reply::new(200).body(vec![b'x'; 1000]));
    assert_eq!(c.read(false).body.len(), 1000);
    let stats = s.group_stats(q).unwrap();
    assert!(stats.bytes_sent > 1000, "{stats:?}");
    assert_eq!(stats.current_connections, 1);
}

/// The queue's own errors for a `HEAD`: the `503` of a full queue and of a request that waited
/// too long, and the `500` of a dropped request, each with its `Content-Length` and no body.
#[test]
fn queue_errors_to_a_head_have_no_body() {
    let head = |path: &str| format!("HEAD {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes();
    let queue = RequestQueue::with_timeout(1, Duration::from_secs(1));
    let (_s, addr) = queued_server(&queue);
    // Full: /1 is queued (length 1), so the HEAD is refused.
    let mut first = Client::connect(addr);
    first.send(&head("/1"));
    let deadline = Instant::now() + support::STEP;
    while queue.stats().current_queue_size < 1 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut full = Client::connect(addr);
    full.send(&head("/full"));
    let r = full.read(true);
    assert_eq!((r.status, r.header("content-length"), r.header("connection")), (503, Some("19"), Some("close")));
    assert!(full.closed(), "bytes after the 503");
    // Late: /1 waits past the queue's timeout.
    let r = first.read(true);
    assert_eq!((r.status, r.header("content-length")), (503, Some("19")));
    assert!(first.closed(), "bytes after the late 503");
    // Dropped: 500, and the connection still serves (the next answer starts right after the head).
    let mut cl = Client::connect(addr);
    cl.send(&head("/drop"));
    drop(take(&queue));
    let r = cl.read(true);
    assert_eq!(r.status, 500);
    assert!(r.header("content-length").is_some_and(|n| n != "0"), "{r:?}");
    cl.send(&get("/next"));
    take(&queue).respond(Reply::new(200).body(&b"next"[..]));
    assert_eq!(cl.read(false).body, b"next");
}

#[test]
fn the_server_s_shutdown_ends_the_receivers_of_its_queues() {
    let queue = RequestQueue::new(10);
    let (server, addr) = support::queue_server(&queue, Server::builder());
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let receiver = {
        let queue = queue.clone();
        std::thread::spawn(move || {
            let mut answered = 0;
            while let Some(req) = queue.receive() {
                req.respond(Reply::new(200).body(&b"queued"[..]));
                answered += 1;
            }
            let _ = done_tx.send(answered);
        })
    };
    let mut c = support::Client::connect(addr);
    c.send(&support::get("/"));
    assert_eq!(c.read(false).body, b"queued");
    // Only the server is stopped: its queue is shut down once its I/O threads have ended.
    server.shutdown();
    let answered =
        done_rx.recv_timeout(Duration::from_secs(10)).expect("receive() returns None after the server stops");
    assert_eq!(answered, 1);
    receiver.join().unwrap();
    drop(server);
}
