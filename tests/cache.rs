//! The response cache over real sockets: what is stored and what is not (each rule and its
//! negative), hits (HEAD from GET, a fresh Date, Connection as the request says, 304s), time to
//! live, flushes, prefix changes (also under concurrent load), eviction, queued answers.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hsys::{CacheLimits, CachePolicy, Prepared, Reply, Request, RequestQueue, Response, Server, Target, UrlGroups};
use support::{Client, Resp, free_port};

/// How the test handler answers a path (its first segment).
fn answer(req: &Request<'_>, res: &mut Response<'_>, n: usize) {
    let path = req.path();
    let ttl = CachePolicy::TimeToLive(60);
    let body = format!("call {n} {path}");
    let first = path.split('/').nth(1).unwrap_or("");
    let _ = match first {
        "none" => res.body(body.as_bytes()),
        "ttl1" => res.cache(CachePolicy::TimeToLive(1)).body(body.as_bytes()),
        "user" => res.cache(CachePolicy::UserInvalidates).body(body.as_bytes()),
        "empty" => res.cache(ttl).body(b""),
        "nocontent" => res.cache(ttl).status(204).body(b""),
        "bigheaders" => res.cache(ttl).header("X-Pad", "p".repeat(1100)).body(body.as_bytes()),
        "big" => res.cache(ttl).body(&vec![b'b'; 300 * 1024]),
        "blob" => res.cache(CachePolicy::UserInvalidates).body(&vec![b'b'; 10 * 1024]),
        "close" => res.cache(ttl).close().body(body.as_bytes()),
        "vary" => res.cache(ttl).header("Vary", "Accept-Encoding").body(body.as_bytes()),
        "file" => {
            let path = std::env::temp_dir().join(format!("hsys-cache-test-{}", std::process::id()));
            std::fs::write(&path, body.as_bytes()).unwrap();
            res.cache(ttl);
            let _ = res.file(std::fs::File::open(&path).unwrap());
            Ok(())
        }
        "prepared" => {
            // A large prepared answer (a shared tail) with its own policy.
            let p = Prepared::new(200, [("ETag", &b"\"p1\""[..])], &vec![b'p'; 100 * 1024]).unwrap().cache(ttl);
            res.prepared(&p)
        }
        "tagged" => res
            .cache(ttl)
            .header("ETag", "\"v1\"")
            .header("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT")
            .header("Cache-Control", "max-age=60")
            .header("X-Other", "1")
            .body(body.as_bytes()),
        _ => res.cache(ttl).header("Content-Type", "text/plain").body(body.as_bytes()),
    };
}

/// A one-group server on `+:<port>/` whose inline handler counts its calls.
struct Fixture {
    server: Server,
    addr: SocketAddr,
    port: u16,
    calls: Arc<AtomicUsize>,
}

fn fixture(limits: CacheLimits) -> Fixture {
    let port = free_port();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let mut groups = UrlGroups::new();
    let g = groups.create_group(Target::inline(move |req: &Request<'_>, res: &mut Response<'_>| {
        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
        answer(req, res, n);
    }));
    groups.add_url(g, &format!("http://+:{port}/")).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = Server::builder().threads(2).bind(addr).response_cache(limits).serve_groups(groups).unwrap();
    Fixture { server, addr, port, calls }
}

impl Fixture {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// One request on a new connection.
    fn ask(&self, head: &str) -> Resp {
        let mut c = Client::connect(self.addr);
        c.send(head.as_bytes());
        c.read(head.starts_with("HEAD"))
    }

    fn get(&self, path: &str) -> Resp {
        self.ask(&format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n"))
    }

    /// Whether `head`'s answer comes from the cache: its handler is not called.
    fn served_from_cache(&self, head: &str) -> bool {
        let before = self.calls();
        let r = self.ask(head);
        assert!(r.status < 500, "{head:?}: {r:?}");
        self.calls() == before
    }
}

fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

#[test]
fn a_get_answer_is_stored_and_serves_get_and_head() {
    let f = fixture(CacheLimits::default());
    let first = f.get("/a");
    assert_eq!((first.status, text(&first)), (200, "call 1 /a".to_string()));
    let mut c = Client::connect(f.addr);
    for _ in 0..3 {
        let again = c.exchange(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(text(&again), "call 1 /a", "served from the cache");
        assert_eq!(again.header("content-type"), Some("text/plain"));
        assert_eq!(again.header("connection"), None, "keep-alive as the request");
    }
    c.send(b"HEAD /a HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = c.read(true);
    assert_eq!((head.status, head.header("content-length")), (200, Some("9")));
    // Pipelined behind the HEAD: had the HEAD carried a body, this would not parse.
    let after = c.exchange(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(text(&after), "call 1 /a");
    assert_eq!(f.calls(), 1);
    // A HEAD first is not stored (only a GET's answer is), but a later GET's is.
    assert!(!f.served_from_cache("HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n"));
    assert!(!f.served_from_cache("HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n"));
    let s = f.server.stats().cache;
    assert_eq!((s.hits, s.misses, s.entries), (5, 3, 1), "{s:?}");
    assert!(s.bytes > 9);
}

#[test]
fn connection_and_date_are_the_requests_own_on_every_hit() {
    let f = fixture(CacheLimits::default());
    let first = f.get("/d");
    // HTTP/1.0 without keep-alive: closed; with it: kept alive.
    let ten = f.ask("GET /d HTTP/1.0\r\nHost: t\r\n\r\n");
    assert_eq!((text(&ten).as_str(), ten.header("connection")), ("call 1 /d", Some("close")));
    let mut c = Client::connect(f.addr);
    let kept = c.exchange(b"GET /d HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(kept.header("connection"), Some("keep-alive"));
    let close = c.exchange(b"GET /d HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(close.header("connection"), Some("close"));
    assert!(c.closed());
    // The Date moves on: the stored one is never sent.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let hit = f.get("/d");
        assert_eq!(text(&hit), "call 1 /d");
        if hit.header("date") != first.header("date") {
            break;
        }
        assert!(Instant::now() < deadline, "the Date never changed");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(f.calls(), 1);
}

#[test]
fn conditional_requests_get_304_from_the_cache() {
    let f = fixture(CacheLimits::default());
    let first = f.get("/tagged");
    assert_eq!(first.header("etag"), Some("\"v1\""));
    let cases: &[(&str, u16)] = &[
        ("If-None-Match: \"v1\"", 304),
        ("If-None-Match: \"v0\", W/\"v1\"", 304),
        ("If-None-Match: *", 304),
        ("If-None-Match: \"v2\"", 200),
        ("If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT", 304),
        ("If-Modified-Since: Mon, 07 Nov 1994 08:49:37 GMT", 304),
        ("If-Modified-Since: Sat, 05 Nov 1994 08:49:37 GMT", 200),
        ("If-Modified-Since: not a date", 200),
        ("If-None-Match: \"v2\"\r\nIf-Modified-Since: Mon, 07 Nov 1994 08:49:37 GMT", 200),
    ];
    let mut c = Client::connect(f.addr);
    for (header, status) in cases {
        let r = c.exchange(format!("GET /tagged HTTP/1.1\r\nHost: t\r\n{header}\r\n\r\n").as_bytes());
        assert_eq!(r.status, *status, "{header}");
        if r.status == 304 {
            assert_eq!(r.header("etag"), Some("\"v1\""));
            assert_eq!(r.header("cache-control"), Some("max-age=60"));
            assert_eq!(r.header("x-other"), None);
            assert_eq!(r.header("content-length"), None);
            assert!(r.body.is_empty());
        } else {
            assert_eq!(text(&r), "call 1 /tagged");
        }
    }
    assert_eq!(f.calls(), 1, "every one from the cache");
}

#[test]
fn requests_the_cache_may_not_store_or_serve_go_to_the_handler() {
    let f = fixture(CacheLimits::default());
    // Each refused request, twice: its answer is not stored.
    let refused = [
        "GET /q?x=1 HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /auth HTTP/1.1\r\nHost: t\r\nAuthorization: Basic eDp5\r\n\r\n",
        "GET /range HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1\r\n\r\n",
        "GET /ifrange HTTP/1.1\r\nHost: t\r\nIf-Range: \"x\"\r\n\r\n",
        "GET /translate HTTP/1.1\r\nHost: t\r\nTranslate: f\r\n\r\n",
        "GET /expect HTTP/1.1\r\nHost: t\r\nExpect: bananas\r\n\r\n",
        "GET /body HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi",
        "POST /post HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    ];
    for head in refused {
        for round in 0..2 {
            let expect_417 = head.contains("bananas");
            let before = f.calls();
            let r = f.ask(head);
            if expect_417 {
                assert_eq!(r.status, 417, "{head:?}");
                continue;
            }
            assert_eq!(f.calls(), before + 1, "{head:?} round {round}: its handler answers");
        }
    }
    // The positive of each: the same URL without what refused it is stored.
    let allowed = [
        "GET /q HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /auth HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /expect HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n",
        "GET /translate HTTP/1.1\r\nHost: t\r\nTranslate: t\r\n\r\n",
        "GET /ten HTTP/1.0\r\nHost: t\r\n\r\n",
    ];
    for head in allowed {
        assert!(!f.served_from_cache(head), "{head:?}: first");
        assert!(f.served_from_cache(head), "{head:?}: stored");
    }
    // A stored answer is not served to a request that may not be served from the cache.
    for head in [
        "GET /auth HTTP/1.1\r\nHost: t\r\nAuthorization: Basic eDp5\r\n\r\n",
        "GET /q?y HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /q HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1\r\n\r\n",
    ] {
        assert!(!f.served_from_cache(head), "{head:?}");
    }
    // Another host, another entry.
    assert!(!f.served_from_cache("GET /q HTTP/1.1\r\nHost: other\r\n\r\n"));
}

#[test]
fn answers_the_cache_may_not_store_are_answered_each_time() {
    let f = fixture(CacheLimits::default());
    for path in ["/none", "/empty", "/nocontent", "/bigheaders", "/big", "/close", "/vary", "/file"] {
        let head = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        assert!(!f.served_from_cache(&head), "{path}: first");
        assert!(!f.served_from_cache(&head), "{path}: not stored");
    }
    // Their positives: a policy, a body, small headers, at most 256 KiB, kept open.
    for path in ["/user/x", "/prepared"] {
        let head = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        assert!(!f.served_from_cache(&head), "{path}: first");
        assert!(f.served_from_cache(&head), "{path}: stored");
    }
    let p = f.get("/prepared");
    assert_eq!((p.body.len(), p.header("etag")), (100 * 1024, Some("\"p1\"")));
    assert_eq!(f.server.stats().cache.entries, 2);
}

#[test]
fn a_time_to_live_ends() {
    let f = fixture(CacheLimits::default());
    assert_eq!(text(&f.get("/ttl1/a")), "call 1 /ttl1/a");
    assert_eq!(text(&f.get("/ttl1/a")), "call 1 /ttl1/a");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(text(&f.get("/ttl1/a")), "call 2 /ttl1/a", "expired: answered again");
    assert_eq!(text(&f.get("/ttl1/a")), "call 2 /ttl1/a", "and stored again");
}

#[test]
fn flushes_remove_one_answer_or_a_subtree() {
    let f = fixture(CacheLimits::default());
    for p in ["/user/d/1", "/user/d/2", "/user/e", "/user/d/1/x"] {
        f.get(p);
        assert_eq!(text(&f.get(p)).split(' ').nth(2), Some(p), "{p} stored");
    }
    assert_eq!(f.calls(), 4);
    let port = f.port;
    assert_eq!(f.server.flush_cache(&format!("http://other:{port}/user/d/1"), false).unwrap(), 0);
    assert_eq!(f.server.flush_cache(&format!("http://+:{}/user/d/1", port + 1), true).unwrap(), 0);
    assert_eq!(f.server.flush_cache(&format!("http://T:{port}/user/d/1"), false).unwrap(), 1);
    assert!(!f.served_from_cache("GET /user/d/1 HTTP/1.1\r\nHost: t\r\n\r\n"), "flushed");
    assert!(f.served_from_cache("GET /user/d/2 HTTP/1.1\r\nHost: t\r\n\r\n"), "kept");
    assert_eq!(f.server.flush_cache(&format!("http://+:{port}/user/d/"), true).unwrap(), 3);
    for (p, kept) in [("/user/d/1", false), ("/user/d/2", false), ("/user/d/1/x", false), ("/user/e", true)] {
        assert_eq!(f.served_from_cache(&format!("GET {p} HTTP/1.1\r\nHost: t\r\n\r\n")), kept, "{p}");
    }
    let s = f.server.stats().cache;
    assert_eq!((s.flushes, s.flushed), (2, 4));
    assert!(f.server.flush_cache("ftp://x/", false).is_err());
}

#[test]
fn eviction_keeps_the_cache_under_its_size() {
    // Room for about four answers of 10 KiB.
    let max = 4 * (10 * 1024 + 512);
    let f = fixture(CacheLimits::default().max_bytes(max));
    for i in 0..12 {
        assert_eq!(f.get(&format!("/blob/{i}")).body.len(), 10 * 1024);
    }
    let s = f.server.stats().cache;
    assert!(s.bytes as usize <= max, "{s:?}");
    assert!(s.entries <= 4 && s.entries >= 2, "{s:?}");
    assert!(s.evictions >= 8, "{s:?}");
}

#[test]
fn prefix_changes_flush_what_lay_under_them() {
    let f = fixture(CacheLimits::default());
    let port = f.port;
    f.get("/user/p/1");
    f.get("/user/q/1");
    assert!(f.served_from_cache("GET /user/p/1 HTTP/1.1\r\nHost: t\r\n\r\n"));
    // A more specific prefix for another group takes /user/p/: its old answer goes.
    let other = f
        .server
        .create_group(Target::inline(|_: &Request<'_>, res: &mut Response<'_>| {
            let _ = res.cache(CachePolicy::UserInvalidates).body(b"other");
        }))
        .unwrap();
    f.server.add_url(other, &format!("http://+:{port}/user/p/")).unwrap();
    assert_eq!(text(&f.get("/user/p/1")), "other");
    assert_eq!(text(&f.get("/user/p/1")), "other");
    assert!(f.served_from_cache("GET /user/q/1 HTTP/1.1\r\nHost: t\r\n\r\n"), "elsewhere: kept");
    // Removed: the group's answer goes with it.
    assert!(f.server.remove_url(&format!("http://+:{port}/user/p/")).unwrap());
    assert!(text(&f.get("/user/p/1")).starts_with("call "));
    // A new target for the group: its answers go.
    f.server
        .set_target(
            other,
            Target::inline(|_: &Request<'_>, res: &mut Response<'_>| {
                let _ = res.body(b"x");
            }),
        )
        .unwrap();
    assert!(f.server.stats().cache.flushes >= 2);
}

#[test]
fn answers_stay_true_to_the_routing_while_it_changes_under_load() {
    let f = Arc::new(fixture(CacheLimits::default()));
    let port = f.port;
    let other = f
        .server
        .create_group(Target::inline(|_: &Request<'_>, res: &mut Response<'_>| {
            let _ = res.cache(CachePolicy::UserInvalidates).body(b"other");
        }))
        .unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Two clients load the URL (so answers are being stored as the table changes).
    let load: Vec<_> = (0..2)
        .map(|_| {
            let (f, stop) = (Arc::clone(&f), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut c = Client::connect(f.addr);
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    assert_eq!(c.exchange(b"GET /user/c/x HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let url = format!("http://+:{port}/user/c/");
    for round in 0..25 {
        f.server.add_url(other, &url).unwrap();
        // The next request (a new connection: its pass begins after the change) gets the new
        // group's answer, never one stored for the old group.
        assert_eq!(text(&f.get("/user/c/x")), "other", "round {round}: added");
        assert!(f.server.remove_url(&url).unwrap());
        assert!(text(&f.get("/user/c/x")).starts_with("call "), "round {round}: removed");
    }
    stop.store(true, Ordering::Relaxed);
    for t in load {
        assert!(t.join().unwrap() > 0);
    }
}

#[test]
fn a_queued_answer_is_stored_and_later_requests_never_reach_the_queue() {
    let queue = RequestQueue::new(100);
    let (server, addr) = support::queue_server(&queue, Server::builder());
    let q = queue.clone();
    let app = std::thread::spawn(move || {
        let mut n = 0;
        while let Some(req) = q.receive() {
            n += 1;
            let body = format!("queued {n} {}", req.path());
            let reply = Reply::new(200).header("Content-Type", "text/plain").body(body.into_bytes());
            let _ = match req.path() {
                "/closes" => req.respond(reply.cache(CachePolicy::UserInvalidates).close()),
                "/streamed" => {
                    let mut w = req.respond_streaming(Reply::new(200).cache(CachePolicy::UserInvalidates)).unwrap();
                    std::io::Write::write_all(&mut w, b"streamed").unwrap();
                    w.finish().is_ok()
                }
                "/plain" => req.respond(reply),
                _ => req.respond(reply.cache(CachePolicy::TimeToLive(60))),
            };
        }
    });
    let ask = |path: &str| {
        let mut c = Client::connect(addr);
        c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        text(&c.read(false))
    };
    assert_eq!(ask("/a"), "queued 1 /a");
    let mut c = Client::connect(addr);
    for _ in 0..20 {
        assert_eq!(text(&c.exchange(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")), "queued 1 /a");
    }
    assert_eq!(queue.stats().arrivals, 1, "the hits never reached the queue");
    // Not stored: a reply without a policy, one that closes, a streamed one.
    for path in ["/plain", "/closes", "/streamed"] {
        ask(path);
        ask(path);
    }
    assert_eq!(queue.stats().arrivals, 7);
    let s = server.stats().cache;
    assert_eq!((s.hits, s.entries), (20, 1), "{s:?}");
    drop(server);
    app.join().unwrap();
}

#[test]
fn a_server_without_groups_caches_too_and_metrics_show_the_counters() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let server = Server::builder()
        .threads(1)
        .bind("127.0.0.1:0")
        .serve(move |req: &Request<'_>, res: &mut Response<'_>| {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            answer(req, res, n);
        })
        .unwrap();
    let addr = server.local_addrs()[0];
    let mut c = Client::connect(addr);
    for path in ["/a", "/./a", "/b/../a"] {
        assert_eq!(text(&c.exchange(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())), "call 1 /a");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "normalised paths find the entry");
    let text = server.metrics().text();
    for line in ["hsys_cache_hits_total 2", "hsys_cache_misses_total 1", "hsys_cache_entries 1"] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
}

/// A tower service's answer with a `CachePolicy` in its extensions is stored like any other.
#[cfg(feature = "tower")]
#[test]
fn a_tower_answer_with_a_policy_in_its_extensions_is_stored() {
    use std::convert::Infallible;
    use std::future::{Ready, ready};
    use std::task::{Context, Poll};

    #[derive(Clone)]
    struct Counted(Arc<AtomicUsize>);

    impl tower_service::Service<http::Request<hsys::Body>> for Counted {
        type Response = http::Response<String>;
        type Error = Infallible;
        type Future = Ready<Result<Self::Response, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: http::Request<hsys::Body>) -> Self::Future {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            let mut res = http::Response::new(format!("tower {n}"));
            if req.uri().path() != "/plain" {
                res.extensions_mut().insert(CachePolicy::UserInvalidates);
            }
            ready(Ok(res))
        }
    }

    let calls = Arc::new(AtomicUsize::new(0));
    let port = free_port();
    let mut groups = UrlGroups::new();
    let g = groups.create_group(Target::service(Counted(Arc::clone(&calls))));
    groups.add_url(g, &format!("http://+:{port}/")).unwrap();
    let server = Server::builder().threads(1).bind(format!("127.0.0.1:{port}")).serve_groups(groups).unwrap();
    let mut c = Client::connect(server.local_addrs()[0]);
    for _ in 0..3 {
        assert_eq!(text(&c.exchange(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")), "tower 1");
    }
    assert_eq!(text(&c.exchange(b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n")), "tower 2");
    assert_eq!(text(&c.exchange(b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n")), "tower 3");
    assert_eq!(server.stats().cache.hits, 2);
}
