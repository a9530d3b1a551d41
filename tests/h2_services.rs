//! HTTP/2 answers through the server's services over real sockets with a real client (the `h2`
//! crate): one access-log line per answer (inline, queued, cache hit, and the refusals the codec
//! makes: `404`, `413`, `431`), answers stored by the response cache over HTTP/2 and served from it
//! over both protocols, and a tower service's trailers as a trailing HEADERS frame.

#[path = "h2_common/mod.rs"]
mod h2_common;
mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use h2::client::SendRequest;
use h2_common::{Got, connect, read_answer, rt};
use hsys::{
    AccessLog, CacheLimits, CachePolicy, Limits, LogFormat, Reply, Request, RequestQueue, Response, Server, Target,
    UrlGroups,
};
use support::{STEP, free_port, read_for, temp_dir, w3c_lines};

/// Sends one request (with `headers` and `body`, if any) and reads the whole answer.
async fn fetch(
    client: &SendRequest<Bytes>,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<Got, h2::Error> {
    let mut client = client.clone().ready().await?;
    let mut req = http::Request::builder().method(method).uri(uri);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let req = req.body(()).expect("request");
    let (resp, mut send) = client.send_request(req, body.is_none())?;
    // (An empty body: the stream stays open, nothing sent on it. The answer may come before the
    // body is sent, the stream then reset: what is not sent is let go.)
    if let Some(body) = body.filter(|b| !b.is_empty()) {
        send.reserve_capacity(body.len());
        if let Some(Ok(n)) = std::future::poll_fn(|cx| send.poll_capacity(cx)).await {
            assert!(n >= body.len(), "a small body goes in one frame");
            let _ = send.send_data(Bytes::from(body), true);
        }
    }
    read_answer(resp).await
}

/// A request and the status it is answered: status, method, path, headers, body.
type Case<'a> = (u16, &'a str, &'a str, Vec<(&'a str, &'a str)>, Option<Vec<u8>>);

#[test]
fn every_h2_answer_has_one_access_log_line() {
    let dir = temp_dir("log");
    let (log, ncsa_log) = (dir.join("access.log"), dir.join("ncsa.log"));
    let port = free_port();
    let queue = RequestQueue::new(100);
    let q = queue.clone();
    let app = std::thread::spawn(move || {
        while let Some(mut req) = q.receive() {
            let Ok(body) = req.read_body_to_end(1 << 20) else { continue };
            req.respond(Reply::new(200).body(format!("{}", body.len()).into_bytes()));
        }
    });
    let mut groups = UrlGroups::new();
    let site = groups.create_group(Target::inline(|req: &Request<'_>, res: &mut Response<'_>| {
        let _ = res.cache(CachePolicy::TimeToLive(60)).body(req.path().as_bytes());
    }));
    groups.add_url(site, &format!("http://+:{port}/site/")).unwrap();
    let queued = groups.create_group(Target::Queue(queue.clone()));
    groups.add_url(queued, &format!("http://+:{port}/q/")).unwrap();
    let ncsa = groups.create_group(Target::inline(|_: &Request<'_>, res: &mut Response<'_>| {
        let _ = res.body(b"n");
    }));
    groups.add_url(ncsa, &format!("http://+:{port}/n/")).unwrap();
    groups.set_access_log(ncsa, Some(AccessLog::new(&ncsa_log).format(LogFormat::Ncsa))).unwrap();
    let mut server = Server::builder()
        .threads(1)
        .limits(Limits::default().max_body_size(Some(10)).max_field_length(1000))
        .response_cache(CacheLimits::default())
        .access_log(AccessLog::new(&log))
        .serve_groups(groups)
        .expect("serve_groups");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let url = |path: &str| format!("http://t.example:{port}{path}");
    let big = "x".repeat(2000);
    let cases: Vec<Case<'_>> = vec![
        (200, "GET", "/site/a", vec![("user-agent", "test agent/1.0")], None),
        (200, "GET", "/site/a", vec![], None), // a cache hit
        (200, "POST", "/q/p", vec![("content-length", "5")], Some(b"hello".to_vec())),
        (404, "GET", "/nowhere", vec![], None),
        (431, "GET", "/site/big", vec![("x-big", &big)], None),
        (413, "POST", "/site/declared", vec![("content-length", "100")], None),
        (413, "POST", "/site/grown", vec![], Some(vec![b'g'; 20])),
        (413, "POST", "/q/grown", vec![], Some(vec![b'g'; 20])),
        (200, "GET", "/n/y", vec![], None),
    ];
    rt().block_on(async {
        let c = connect(addr).await;
        for (status, method, path, headers, body) in &cases {
            // A declared length with no body yet (the stream open): the answer comes before it.
            let body = if *path == "/site/declared" { Some(Vec::new()) } else { body.clone() };
            let got = fetch(&c, method, &url(path), headers, body).await.expect(path);
            assert_eq!(got.0, *status, "{path}: {:?}", String::from_utf8_lossy(&got.2));
        }
    });
    server.shutdown();
    assert!(server.wait(STEP).unwrap());
    queue.shutdown();
    app.join().unwrap();

    let lines = w3c_lines(&log);
    let server_cases: Vec<_> = cases.iter().filter(|c| !c.2.starts_with("/n/")).collect();
    assert_eq!(lines.len(), server_cases.len(), "one line per answer: {lines:?}");
    for ((status, method, path, _, body), l) in server_cases.iter().zip(&lines) {
        assert_eq!(l["cs-uri-stem"], *path, "in order: {l:?}");
        assert_eq!((l["cs-method"].as_str(), l["sc-status"].as_str()), (*method, status.to_string().as_str()), "{l:?}");
        assert_eq!(l["cs-version"], "HTTP/2", "{l:?}");
        assert_eq!(l["cs-host"], format!("t.example:{port}"), "{l:?}");
        assert_eq!(l["c-ip"], "127.0.0.1", "{l:?}");
        let sent: u64 = l["sc-bytes"].parse().unwrap();
        // At least a HEADERS frame (9 + a status), and the body's DATA frame.
        assert!(sent > 10, "{l:?}");
        let received: u64 = l["cs-bytes"].parse().unwrap();
        assert!(received >= body.as_ref().map_or(0, |b| b.len().min(10)) as u64 && received > 0, "{l:?}");
    }
    assert_eq!(lines[0]["cs(User-Agent)"], "test+agent/1.0");
    // The hit's answer is the miss's, its head shorter: HPACK indexes what it repeats.
    let bytes = |l: &BTreeMap<String, String>| l["sc-bytes"].parse::<u64>().unwrap();
    assert!(bytes(&lines[1]) <= bytes(&lines[0]) && bytes(&lines[1]) > 9 + 7, "{lines:?}");
    assert_eq!(server.stats().cache.hits, 1);
    assert_eq!(server.stats().responses_sent, cases.len() as u64);
    let n = std::fs::read_to_string(&ncsa_log).unwrap();
    assert!(n.contains("\"GET /n/y HTTP/2.0\" 200 "), "{n}");
    assert_eq!(n.lines().count(), 1, "{n}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A one-group server with the response cache whose inline handler counts its calls.
fn cache_fixture() -> (Server, SocketAddr, Arc<AtomicUsize>) {
    let port = free_port();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let mut groups = UrlGroups::new();
    let g = groups.create_group(Target::inline(move |req: &Request<'_>, res: &mut Response<'_>| {
        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
        let body = format!("call {n} {}", req.path());
        let _ = match req.path() {
            "/big" => res.cache(CachePolicy::TimeToLive(60)).body(&vec![b'b'; 200 * 1024]),
            "/no" => res.body(body.as_bytes()),
            _ => res.cache(CachePolicy::TimeToLive(60)).header("Content-Type", "text/plain").body(body.as_bytes()),
        };
    }));
    groups.add_url(g, &format!("http://+:{port}/")).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server =
        Server::builder().threads(1).bind(addr).response_cache(CacheLimits::default()).serve_groups(groups).unwrap();
    (server, addr, calls)
}

/// One HTTP/1.1 `GET` on a connection of its own: the answer's head and body.
fn h1_get(addr: SocketAddr, path: &str) -> (String, Vec<u8>) {
    // (The host is the h2 client's `:authority`: the cache keys on it.)
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t:{}\r\nConnection: close\r\n\r\n", addr.port()).as_bytes())
        .unwrap();
    let answer = read_for(&mut s, STEP);
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
    (String::from_utf8_lossy(&answer[..end]).into_owned(), answer[end..].to_vec())
}

#[test]
fn answers_made_over_h2_are_stored_and_serve_both_protocols() {
    let (server, addr, calls) = cache_fixture();
    let url = |path: &str| format!("http://t:{}{path}", addr.port());
    rt().block_on(async {
        let c = connect(addr).await;
        // Stored over HTTP/2, then served from the cache over HTTP/2 ...
        for _ in 0..3 {
            let got = fetch(&c, "GET", &url("/a"), &[], None).await.unwrap();
            assert_eq!((got.0, got.2.as_slice()), (200, &b"call 1 /a"[..]));
            assert_eq!(got.1.get("content-type").map(|v| v.as_bytes()), Some(&b"text/plain"[..]));
            assert_eq!(got.1.get("content-length").map(|v| v.as_bytes()), Some(&b"9"[..]));
        }
        // ... a body larger than the window: stored whole, served whole.
        for _ in 0..2 {
            let got = fetch(&c, "GET", &url("/big"), &[], None).await.unwrap();
            assert!(got.0 == 200 && got.2 == vec![b'b'; 200 * 1024], "{} bytes", got.2.len());
        }
        // An answer without a policy is not stored.
        for n in [3, 4] {
            let got = fetch(&c, "GET", &url("/no"), &[], None).await.unwrap();
            assert_eq!(got.2, format!("call {n} /no").into_bytes());
        }
    });
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    // ... and over HTTP/1.1.
    let (head, body) = h1_get(addr, "/a");
    assert!(head.starts_with("HTTP/1.1 200 ") && head.contains("\r\nContent-Type: text/plain\r\n"), "{head}");
    assert_eq!(body, b"call 1 /a");
    // Stored over HTTP/1.1, served over HTTP/2.
    let (_, body) = h1_get(addr, "/b");
    assert_eq!(body, b"call 5 /b");
    rt().block_on(async {
        let c = connect(addr).await;
        let got = fetch(&c, "GET", &url("/b"), &[], None).await.unwrap();
        assert_eq!((got.0, got.2.as_slice()), (200, &b"call 5 /b"[..]));
        assert_eq!(got.1.get("content-type").map(|v| v.as_bytes()), Some(&b"text/plain"[..]));
    });
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    let s = server.stats().cache;
    assert_eq!((s.hits, s.entries), (5, 3), "{s:?}");
}

#[cfg(feature = "tower")]
#[test]
fn a_tower_services_trailers_go_out_as_trailing_headers() {
    use std::convert::Infallible;

    use http_body::Frame;
    use http_body_util::StreamBody;

    let app = axum::Router::new()
        .route(
            "/t",
            axum::routing::get(|| async {
                let mut trailers = http::HeaderMap::new();
                trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                trailers.insert("x-sum", http::HeaderValue::from_static("abc"));
                let frames: Vec<Result<Frame<Bytes>, Infallible>> = vec![
                    Ok(Frame::data(Bytes::from_static(b"one "))),
                    Ok(Frame::data(Bytes::from_static(b"two"))),
                    Ok(Frame::trailers(trailers)),
                ];
                axum::body::Body::new(StreamBody::new(futures_util::stream::iter(frames)))
            }),
        )
        // A body of exact size with trailers: gathered whole, and its trailers still sent.
        .route(
            "/whole",
            axum::routing::get(|| async {
                use http_body_util::BodyExt;
                let mut trailers = http::HeaderMap::new();
                trailers.insert("x-whole", http::HeaderValue::from_static("yes"));
                let body = http_body_util::Full::new(Bytes::from_static(b"whole body"))
                    .with_trailers(async move { Some(Ok::<_, Infallible>(trailers)) });
                axum::body::Body::new(body)
            }),
        );
    let port = free_port();
    let mut groups = UrlGroups::new();
    let g = groups.create_group(Target::service(app));
    groups.add_url(g, &format!("http://+:{port}/")).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = Server::builder().threads(1).bind(addr).serve_groups(groups).unwrap();
    rt().block_on(async {
        let c = connect(addr).await;
        for _ in 0..2 {
            let got = fetch(&c, "GET", &format!("http://t:{port}/t"), &[], None).await.unwrap();
            assert_eq!((got.0, got.2.as_slice()), (200, &b"one two"[..]));
            let trailers = got.3.expect("trailers");
            assert_eq!(trailers.get("grpc-status").map(|v| v.as_bytes()), Some(&b"0"[..]), "{trailers:?}");
            assert_eq!(trailers.get("x-sum").map(|v| v.as_bytes()), Some(&b"abc"[..]), "{trailers:?}");
        }
        let got = fetch(&c, "GET", &format!("http://t:{port}/whole"), &[], None).await.unwrap();
        assert_eq!((got.0, got.2.as_slice()), (200, &b"whole body"[..]));
        assert_eq!(got.1.get("content-length").map(|v| v.as_bytes()), Some(&b"10"[..]));
        let trailers = got.3.expect("the gathered body's trailers");
        assert_eq!(trailers.get("x-whole").map(|v| v.as_bytes()), Some(&b"yes"[..]), "{trailers:?}");
    });
    // Over HTTP/1.1 the same service's trailers end the chunked body.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /t HTTP/1.1\r\nHost: t\r\nTE: trailers\r\nConnection: close\r\n\r\n").unwrap();
    let answer = read_for(&mut s, STEP);
    let text = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(text.contains("\r\ngrpc-status: 0\r\n"), "{text}");
    drop(server);
}

#[test]
fn a_stream_reset_before_its_queued_answer_has_no_line() {
    let dir = temp_dir("reset");
    let log = dir.join("access.log");
    let port = free_port();
    let queue = RequestQueue::new(100);
    let q = queue.clone();
    let (answer_now, answer) = std::sync::mpsc::channel::<()>();
    let app = std::thread::spawn(move || {
        while let Some(req) = q.receive() {
            if req.path() == "/q/slow" {
                let _ = answer.recv_timeout(STEP);
            }
            req.respond(Reply::new(200).body(&b"late"[..]));
        }
    });
    let mut groups = UrlGroups::new();
    let g = groups.create_group(Target::Queue(queue.clone()));
    groups.add_url(g, &format!("http://+:{port}/q/")).unwrap();
    let mut server = Server::builder().threads(1).access_log(AccessLog::new(&log)).serve_groups(groups).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    rt().block_on(async {
        let c = connect(addr).await;
        let mut client = c.clone().ready().await.unwrap();
        let req = http::Request::get(format!("http://t:{port}/q/slow")).body(()).unwrap();
        let (resp, _) = client.send_request(req, true).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        drop(resp); // RST_STREAM (CANCEL)
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        answer_now.send(()).unwrap();
        let got = fetch(&c, "GET", &format!("http://t:{port}/q/fast"), &[], None).await.unwrap();
        assert_eq!((got.0, got.2.as_slice()), (200, &b"late"[..]));
    });
    server.shutdown();
    assert!(server.wait(STEP).unwrap());
    queue.shutdown();
    app.join().unwrap();
    let lines = w3c_lines(&log);
    let stems: Vec<_> = lines.iter().map(|l| l["cs-uri-stem"].as_str()).collect();
    assert_eq!(stems, ["/q/fast"], "{lines:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
