//! HTTP/2 over real sockets with a real client (the `h2` crate): h2c by prior knowledge beside
//! HTTP/1.1 on the same port, and `h2` by ALPN over TLS; inline handlers, queued requests with
//! bodies both ways, streamed, prepared, file and tower answers, many concurrent streams.

#[path = "h2_common/mod.rs"]
mod h2_common;
#[path = "support/mod.rs"]
mod support;
#[path = "tls_common/mod.rs"]
mod tls_common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use h2_common::{Got, connect, read_answer, rt};
use hsys::{Prepared, Reply, Request, RequestQueue, Response, Server, Version};
use support::{digits, free_port};

/// Sends one request (`body`, and `trailers` after it if any) and reads the whole answer.
async fn fetch(
    client: &SendRequest<Bytes>,
    method: &str,
    uri: &str,
    body: Option<Vec<u8>>,
    trailers: Option<http::HeaderMap>,
) -> Result<Got, h2::Error> {
    let mut client = client.clone().ready().await?;
    let req = http::Request::builder().method(method).uri(uri).body(()).expect("request");
    let end = body.is_none() && trailers.is_none();
    let (resp, mut send) = client.send_request(req, end)?;
    if let Some(body) = body {
        // Within the stream's window, in pieces the client's flow control lets through.
        let mut rest = Bytes::from(body);
        while !rest.is_empty() {
            send.reserve_capacity(rest.len());
            let n = std::future::poll_fn(|cx| send.poll_capacity(cx)).await.expect("capacity")?;
            let piece = rest.split_to(n.min(rest.len()));
            send.send_data(piece, rest.is_empty() && trailers.is_none())?;
        }
    }
    if let Some(t) = trailers {
        send.send_trailers(t)?;
    }
    read_answer(resp).await
}

fn inline(req: &Request<'_>, res: &mut Response<'_>) {
    let version = if req.version() == Version::Http2 { "2" } else { "1" };
    let _ = match req.path() {
        "/echo" => res.header("Content-Type", "application/octet-stream").body(req.body()),
        "/host" => res.body(req.host().unwrap_or_default()),
        "/big" => res.body(&digits(300_000)),
        _ => res.header("X-Path", req.path()).header("X-Version", version).body(b"hello"),
    };
}

#[test]
fn inline_answers_over_h2c_beside_http1_on_one_port() {
    let server = Server::builder().threads(1).bind("127.0.0.1:0").serve(inline).unwrap();
    let addr = server.local_addrs()[0];
    rt().block_on(async {
        let c = connect(addr).await;
        let (status, headers, body, _) = fetch(&c, "GET", &format!("http://{addr}/a?b"), None, None).await.unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"hello"[..]));
        assert_eq!(headers["x-path"], "/a");
        assert_eq!(headers["x-version"], "2");
        assert_eq!(headers["content-length"], "5");
        assert!(headers.get("connection").is_none() && headers.get("transfer-encoding").is_none());
        let got = fetch(&c, "GET", "http://h2.test:1/host", None, None).await.unwrap();
        assert_eq!(got.2, b"h2.test:1");
        // Bodies both ways, larger than the windows.
        let body = digits(200_000);
        let got = fetch(&c, "POST", &format!("http://{addr}/echo"), Some(body.clone()), None).await.unwrap();
        assert_eq!((got.0, got.2.len()), (200, body.len()));
        assert!(got.2 == body);
        let got = fetch(&c, "GET", &format!("http://{addr}/big"), None, None).await.unwrap();
        assert!(got.2 == digits(300_000));
        // Request trailers are taken.
        let mut t = http::HeaderMap::new();
        t.insert("x-sum", "1".parse().unwrap());
        let got = fetch(&c, "POST", &format!("http://{addr}/echo"), Some(b"ab".to_vec()), Some(t)).await.unwrap();
        assert_eq!(got.2, b"ab");
    });
    // HTTP/1.1 on the same port.
    let mut h1 = support::Client::connect(addr);
    assert_eq!(h1.exchange(&support::get("/x")).status, 200);
    let s = server.stats();
    assert_eq!(s.http2.connections, 1);
    assert!(s.http2.streams >= 5, "{:?}", s.http2);
}

#[test]
fn many_concurrent_streams_on_one_connection() {
    let server = Server::builder().threads(1).bind("127.0.0.1:0").serve(inline).unwrap();
    let addr = server.local_addrs()[0];
    rt().block_on(async {
        let c = connect(addr).await;
        let mut tasks = Vec::new();
        for i in 0..200 {
            let c = c.clone();
            let uri = format!("http://{addr}/n{i}");
            tasks.push(tokio::spawn(async move { fetch(&c, "GET", &uri, None, None).await }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            let (status, headers, body, _) = t.await.unwrap().unwrap();
            assert_eq!((status, body.as_slice()), (200, &b"hello"[..]));
            assert_eq!(headers["x-path"], format!("/n{i}").as_str());
        }
    });
}

#[test]
fn queued_requests_bodies_streams_prepared_and_files() {
    let queue = RequestQueue::new(1000);
    let (mut server, addr) = support::queue_server(&queue, Server::builder());
    let prepared = Arc::new(Prepared::new(200, [("Content-Type", &b"text/plain"[..])], &digits(100_000)).unwrap());
    let file_path = std::env::temp_dir().join(format!("hsys-h2-{}", free_port()));
    std::fs::write(&file_path, digits(150_000)).unwrap();
    let worker = {
        let (queue, prepared, file_path) = (queue.clone(), Arc::clone(&prepared), file_path.clone());
        std::thread::spawn(move || {
            while let Some(mut req) = queue.receive() {
                assert_eq!(req.version(), Version::Http2);
                match req.path() {
                    "/echo" => {
                        let body = req.read_body_to_end(1 << 20).unwrap();
                        req.respond(Reply::new(200).body(body));
                    }
                    "/stream" => {
                        use std::io::Write;
                        let mut w = req.respond_streaming(Reply::new(200)).unwrap();
                        for _ in 0..30 {
                            w.write_all(&digits(10_000)).unwrap();
                        }
                        w.finish().unwrap();
                    }
                    "/trailers" => {
                        use std::io::Write;
                        let mut w = req.respond_streaming(Reply::new(200)).unwrap();
                        w.write_all(b"body").unwrap();
                        assert!(w.set_trailers([("X-Checksum", &b"42"[..])]).unwrap());
                        w.finish().unwrap();
                    }
                    "/prepared" => {
                        req.respond(Reply::prepared(Arc::clone(&prepared)));
                    }
                    "/file" => {
                        let f = std::fs::File::open(&file_path).unwrap();
                        req.respond(Reply::new(200).file(f).unwrap());
                    }
                    p => {
                        let p = p.to_string();
                        req.respond(Reply::new(200).body(p.into_bytes()));
                    }
                }
            }
        })
    };
    rt().block_on(async {
        let c = connect(addr).await;
        let base = format!("http://{addr}");
        let body = digits(300_000);
        let got = fetch(&c, "POST", &format!("{base}/echo"), Some(body.clone()), None).await.unwrap();
        assert!(got.0 == 200 && got.2 == body, "{} {}", got.0, got.2.len());
        let got = fetch(&c, "GET", &format!("{base}/stream"), None, None).await.unwrap();
        assert!(got.2 == digits(10_000).repeat(30));
        let got = fetch(&c, "GET", &format!("{base}/trailers"), None, None).await.unwrap();
        assert_eq!(got.2, b"body");
        assert_eq!(got.3.expect("trailers")["x-checksum"], "42");
        let got = fetch(&c, "GET", &format!("{base}/prepared"), None, None).await.unwrap();
        assert!(got.2 == digits(100_000));
        assert_eq!(got.1["content-type"], "text/plain");
        let got = fetch(&c, "GET", &format!("{base}/file"), None, None).await.unwrap();
        assert!(got.2 == digits(150_000));
        // Many queued at once, answered out of order as they come.
        let mut tasks = Vec::new();
        for i in 0..60 {
            let c = c.clone();
            let uri = format!("{base}/q{i}");
            tasks.push(tokio::spawn(async move { fetch(&c, "GET", &uri, None, None).await }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap().unwrap().2, format!("/q{i}").into_bytes());
        }
    });
    let _ = std::fs::remove_file(&file_path);
    server.shutdown();
    let _ = server.wait(Duration::from_secs(5));
    worker.join().unwrap();
}

#[cfg(feature = "tower")]
#[test]
fn a_tower_service_over_h2() {
    use axum::routing::{get, post};
    use hsys::{Target, UrlGroups};
    use std::net::SocketAddr;
    let app = axum::Router::new()
        .route("/hi", get(|| async { "hi from axum" }))
        .route("/echo", post(|body: Bytes| async move { body }));
    let port = free_port();
    let mut groups = UrlGroups::new();
    let g = groups.create_group(Target::service(app));
    groups.add_url(g, &format!("http://+:{port}/")).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = Server::builder().threads(1).bind(addr).serve_groups(groups).unwrap();
    rt().block_on(async {
        let c = connect(addr).await;
        let got = fetch(&c, "GET", &format!("http://{addr}/hi"), None, None).await.unwrap();
        assert_eq!((got.0, got.2.as_slice()), (200, &b"hi from axum"[..]));
        let body = digits(150_000);
        let got = fetch(&c, "POST", &format!("http://{addr}/echo"), Some(body.clone()), None).await.unwrap();
        assert!(got.0 == 200 && got.2 == body);
    });
    drop(server);
}

#[test]
fn h2_by_alpn_over_tls() {
    let server = Server::builder().threads(1).bind_tls("127.0.0.1:0").serve(inline).unwrap();
    let addr = server.local_addrs()[0];
    server.set_cert_binding(hsys::BindingKey::Port(addr.port()), tls_common::binding("localhost"));
    let mut config = (*tls_common::default_config()).clone();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    rt().block_on(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = tls_common::server_name("localhost");
        let tls = connector.connect(name, tcp).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (client, conn) = h2::client::handshake(tls).await.unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let got = fetch(&client, "GET", "https://localhost/tls", None, None).await.unwrap();
        assert_eq!((got.0, got.2.as_slice()), (200, &b"hello"[..]));
        let body = digits(100_000);
        let got = fetch(&client, "POST", "https://localhost/echo", Some(body.clone()), None).await.unwrap();
        assert!(got.2 == body);
    });
}

#[test]
fn with_http2_off_the_preface_is_not_http2() {
    let server = Server::builder().threads(1).http2(false).bind("127.0.0.1:0").serve(inline).unwrap();
    let addr = server.local_addrs()[0];
    rt().block_on(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let failed = match h2::client::handshake(tcp).await {
            Err(_) => true,
            Ok((c, conn)) => {
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                fetch(&c, "GET", &format!("http://{addr}/"), None, None).await.is_err()
            }
        };
        assert!(failed);
    });
    assert_eq!(server.stats().http2.connections, 0);
}

#[test]
fn a_graceful_stop_sends_goaway_and_finishes_open_streams() {
    let queue = RequestQueue::new(100);
    let (mut server, addr) = support::queue_server(&queue, Server::builder());
    let stop = server.shutdown_handle();
    let worker = {
        let queue = queue.clone();
        std::thread::spawn(move || {
            while let Some(req) = queue.receive() {
                // Answered only once the stop has begun.
                std::thread::sleep(Duration::from_millis(300));
                req.respond(Reply::new(200).body(&b"late"[..]));
            }
        })
    };
    rt().block_on(async {
        let c = connect(addr).await;
        let inflight = {
            let c = c.clone();
            let uri = format!("http://{addr}/slow");
            tokio::spawn(async move { fetch(&c, "GET", &uri, None, None).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        std::thread::spawn(move || stop.shutdown());
        let got = inflight.await.unwrap().unwrap();
        assert_eq!((got.0, got.2.as_slice()), (200, &b"late"[..]));
        // After the GOAWAY no new stream is taken.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(fetch(&c, "GET", &format!("http://{addr}/new"), None, None).await.is_err());
    });
    server.wait(Duration::from_secs(5)).unwrap();
    worker.join().unwrap();
    assert!(server.stats().http2.goaways_sent >= 1);
}
