//! TLS over real sockets: rustls clients against the server, on the default backend (and on
//! epoll when the suite runs with `HSYS_BACKEND=epoll`): keep-alive and pipelining, versions,
//! ALPN and SNI, resumption, certificate bindings, URL groups, client certificates, bodies,
//! close_notify, a graceful stop, and the counters.

mod tls_common;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use hsys::{
    BindingKey, ClientCa, ClientCertificates, Limits, Prepared, Reply, Request, RequestQueue, Response, Server, Target,
    UrlGroups,
};
use tls_common::{
    Opts, TLS12, TLS13, TlsClient, binding, config, default_config, describe, describing_server, failures, free_port,
    get, leaf, rustls_error, start, wait_until,
};

#[test]
fn keep_alive_requests_share_one_connection_and_one_handshake() {
    let (server, addr) = describing_server();
    let mut c = TlsClient::localhost(addr);
    for _ in 0..5 {
        let r = c.exchange(&get("/"));
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "Tls13 http/1.1 localhost false 0");
    }
    assert_eq!(server.stats().tls_handshakes, 1);
    assert_eq!(server.stats().tls_failed.total(), 0);
}

#[test]
fn sixteen_pipelined_requests_in_one_write_are_answered_in_order() {
    let (_server, addr) = start(Server::builder().threads(1), |req: &Request<'_>, res: &mut Response<'_>| {
        let _ = res.body(req.path().as_bytes());
    });
    let mut c = TlsClient::localhost(addr);
    let all: Vec<u8> = (0..16).flat_map(|i| get(&format!("/{i}"))).collect();
    c.send(&all).unwrap();
    for i in 0..16 {
        assert_eq!(c.read().text(), format!("/{i}"));
    }
}

#[test]
fn a_request_in_one_byte_records_is_answered() {
    let (_server, addr) = describing_server();
    let mut c = TlsClient::localhost(addr);
    c.handshake().unwrap();
    // Each `write` on the stream is a record of its own, sent at once.
    for b in get("/slow") {
        c.send(&[b]).unwrap();
    }
    assert_eq!(c.read().status, 200);
    assert_eq!(c.exchange(&get("/next")).status, 200, "the connection goes on");
}

#[test]
fn pipelined_requests_cut_into_seven_byte_records_are_answered_in_order() {
    let (_server, addr) = start(Server::builder().threads(1), |req: &Request<'_>, res: &mut Response<'_>| {
        let _ = res.body(req.path().as_bytes());
    });
    let mut c = TlsClient::localhost(addr);
    let all: Vec<u8> = (0..16).flat_map(|i| get(&format!("/{i}"))).collect();
    for piece in all.chunks(7) {
        c.send(piece).unwrap();
    }
    for i in 0..16 {
        assert_eq!(c.read().text(), format!("/{i}"));
    }
}

#[test]
fn a_request_sent_with_the_clients_finished_is_answered() {
    let (server, addr) = describing_server();
    let mut c = TlsClient::localhost(addr);
    // Written before the handshake, it leaves with the client's last flight.
    c.reader.get_mut().conn.writer().write_all(&get("/")).unwrap();
    c.handshake().unwrap();
    assert_eq!(c.read().text(), "Tls13 http/1.1 localhost false 0");
    assert_eq!(server.stats().tls_handshakes, 1);
}

#[test]
fn a_key_update_from_the_client_is_answered_and_the_connection_goes_on() {
    let (server, addr) = describing_server();
    let mut c = TlsClient::localhost(addr);
    for i in 0..3 {
        assert_eq!(c.exchange(&get("/")).status, 200, "after {i} key update(s)");
        // A KeyUpdate asking the server to update its keys too.
        c.reader.get_mut().conn.refresh_traffic_keys().unwrap();
    }
    assert_eq!(c.exchange(&get("/")).status, 200);
    assert_eq!(server.stats().tls_failed.total(), 0);
}

/// A client that has had one answer sends `close_notify`, and a FIN if `fin`.
fn client_closing(addr: SocketAddr, fin: bool) -> TlsClient {
    let mut c = TlsClient::localhost(addr);
    assert_eq!(c.exchange(&get("/")).status, 200);
    let s = c.reader.get_mut();
    s.conn.send_close_notify();
    s.flush().unwrap();
    if fin {
        c.tcp().shutdown(std::net::Shutdown::Write).unwrap();
    }
    c
}

#[test]
fn a_client_close_notify_and_fin_end_the_connection_without_a_failure() {
    let (server, addr) = describing_server();
    let mut c = client_closing(addr, true);
    let (_, closed) = tls_common::read_raw(c.tcp());
    assert!(closed, "the server closes too");
    wait_until("the connection closed", || server.stats().current_connections == 0);
    assert_eq!(server.stats().tls_failed.total(), 0, "a clean end is no failure");
}

#[test]
fn a_client_close_notify_is_answered_with_close_notify_and_a_close() {
    let (server, addr) = describing_server();
    for fin in [false, true] {
        let mut c = client_closing(addr, fin);
        assert_eq!(c.read_end().expect("the server's close_notify"), 0, "fin: {fin}");
        let (_, closed) = tls_common::read_raw(c.tcp());
        assert!(closed, "fin: {fin}: the server closes too");
    }
    wait_until("the connections closed", || server.stats().current_connections == 0);
    assert_eq!(server.stats().tls_failed.total(), 0, "a clean end is no failure");
}

#[test]
fn tls13_and_tls12_clients_negotiate_their_version_alpn_and_sni() {
    let (_server, addr) = describing_server();
    for (versions, expected) in [(TLS13, "Tls13"), (TLS12, "Tls12")] {
        let mut c = TlsClient::connect(addr, "localhost", config(Opts { versions, ..Opts::default() }));
        let r = c.exchange(&get("/"));
        assert_eq!(r.text(), format!("{expected} http/1.1 localhost false 0"));
        assert_eq!(c.conn().alpn_protocol(), Some(&b"http/1.1"[..]));
        let version = c.conn().protocol_version().unwrap();
        assert_eq!(format!("{version:?}"), format!("TLSv1_{}", &expected[4..]));
    }
    // An IP address is not sent as SNI.
    let mut c = TlsClient::connect(addr, "127.0.0.1", default_config());
    assert_eq!(c.exchange(&get("/")).text(), "Tls13 http/1.1 - false 0");
}

#[test]
fn a_second_connection_resumes_the_first_session_on_both_versions() {
    let (server, addr) = describing_server();
    for (i, versions) in [TLS13, TLS12].into_iter().enumerate() {
        let config = config(Opts { versions, ..Opts::default() });
        let mut first = TlsClient::connect(addr, "localhost", config.clone());
        assert!(first.exchange(&get("/")).text().ends_with(" false 0"));
        drop(first);
        let mut second = TlsClient::connect(addr, "localhost", config);
        assert!(second.exchange(&get("/")).text().ends_with(" true 0"), "{versions:?}");
        let resumed = i as u64 + 1;
        wait_until("the resumption counted", || server.stats().tls_resumed == resumed);
    }
    assert_eq!(server.stats().tls_handshakes, 4);
}

#[test]
fn a_host_binding_is_chosen_by_sni_and_other_names_fall_back_to_the_port_binding() {
    let (server, addr) = describing_server();
    server.set_cert_binding(BindingKey::Host("ALT.test.".into(), addr.port()), binding("alt"));
    let mut alt = TlsClient::connect(addr, "alt.test", default_config());
    assert_eq!(alt.exchange(&get("/")).text(), "Tls13 http/1.1 alt.test false 0");
    assert_eq!(alt.server_leaf(), leaf("alt"));
    let mut other = TlsClient::localhost(addr);
    assert_eq!(other.exchange(&get("/")).status, 200);
    assert_eq!(other.server_leaf(), leaf("localhost"));
    // A host binding on another port does not apply here.
    server.set_cert_binding(BindingKey::Host("localhost".into(), addr.port().wrapping_add(1)), binding("alt"));
    let mut c = TlsClient::localhost(addr);
    c.handshake().unwrap();
    assert_eq!(c.server_leaf(), leaf("localhost"));
}

#[test]
fn an_addr_binding_beats_the_port_binding() {
    let (server, addr) = describing_server();
    // The port's binding would fail verification as localhost; the address's is chosen.
    server.set_cert_binding(BindingKey::Port(addr.port()), binding("alt"));
    server.set_cert_binding(BindingKey::Addr(addr), binding("localhost"));
    let mut c = TlsClient::localhost(addr);
    assert_eq!(c.exchange(&get("/")).status, 200);
    assert_eq!(c.server_leaf(), leaf("localhost"));
}

#[test]
fn the_loopback_ipv6_address_is_served_too() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        return; // no IPv6 here
    }
    let server = Server::builder().threads(1).bind_tls("[::1]:0").serve(tls_common::describe_handler).unwrap();
    let addr = server.local_addrs()[0];
    server.set_cert_binding(BindingKey::Addr(addr), binding("localhost"));
    let mut c = TlsClient::connect(addr, "::1", default_config());
    assert_eq!(c.exchange(&get("/")).text(), "Tls13 http/1.1 - false 0");
}

/// The handshake of a client of `addr` as localhost fails with a `handshake_failure` alert.
fn refused_with_an_alert(addr: SocketAddr) {
    let mut c = TlsClient::localhost(addr);
    let e = c.handshake().expect_err("no certificate: the handshake fails");
    match rustls_error(&e) {
        Some(rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure)) => {}
        other => panic!("expected a handshake_failure alert, got {e} ({other:?})"),
    }
}

#[test]
fn without_a_binding_the_handshake_fails_with_an_alert_and_is_counted() {
    let server = Server::builder().threads(1).bind_tls("127.0.0.1:0").serve(tls_common::describe_handler).unwrap();
    let addr = server.local_addrs()[0];
    refused_with_an_alert(addr);
    assert_eq!(failures(&server, 1).no_certificate, 1);
    // Bound now: served.
    server.set_cert_binding(BindingKey::Port(addr.port()), binding("localhost"));
    assert_eq!(TlsClient::localhost(addr).exchange(&get("/")).status, 200);
}

#[test]
fn a_binding_replaced_while_serving_applies_to_new_handshakes_and_open_connections_go_on() {
    let (server, addr) = describing_server();
    let mut old = TlsClient::localhost(addr);
    assert_eq!(old.exchange(&get("/")).status, 200);
    server.set_cert_binding(BindingKey::Port(addr.port()), binding("alt"));
    let mut new = TlsClient::connect(addr, "alt.test", default_config());
    assert_eq!(new.exchange(&get("/")).status, 200);
    assert_eq!(new.server_leaf(), leaf("alt"));
    assert_eq!(old.exchange(&get("/again")).status, 200, "the open connection keeps its session");
    assert_eq!(old.server_leaf(), leaf("localhost"));
}

#[test]
fn a_removed_binding_fails_new_handshakes_and_open_connections_go_on() {
    let (server, addr) = describing_server();
    let mut old = TlsClient::localhost(addr);
    assert_eq!(old.exchange(&get("/")).status, 200);
    assert!(server.remove_cert_binding(&BindingKey::Port(addr.port())));
    assert!(!server.remove_cert_binding(&BindingKey::Port(addr.port())), "removed already");
    refused_with_an_alert(addr);
    assert_eq!(failures(&server, 1).no_certificate, 1);
    assert_eq!(old.exchange(&get("/again")).status, 200);
}

#[test]
fn url_groups_serve_https_and_http_ports_in_one_server_and_a_queue_sees_tls() {
    let (tls_port, plain_port) = (free_port(), free_port());
    let queue = RequestQueue::new(10);
    let mut groups = UrlGroups::new();
    let inline = groups.create_group(Target::inline(tls_common::describe_handler));
    let queued = groups.create_group(Target::Queue(queue.clone()));
    groups.add_url(inline, &format!("https://127.0.0.1:{tls_port}/")).unwrap();
    groups.add_url(queued, &format!("https://127.0.0.1:{tls_port}/q/")).unwrap();
    groups.add_url(inline, &format!("http://127.0.0.1:{plain_port}/")).unwrap();
    let server = Server::builder()
        .threads(1)
        .cert_binding(BindingKey::Port(tls_port), binding("localhost"))
        .serve_groups(groups)
        .expect("serve_groups");
    let app = std::thread::spawn(move || {
        let r = queue.receive().expect("a queued request");
        let text = describe(r.tls());
        r.respond(Reply::new(200).body(text.into_bytes()));
    });
    let tls_addr: SocketAddr = format!("127.0.0.1:{tls_port}").parse().unwrap();
    let mut c = TlsClient::localhost(tls_addr);
    assert_eq!(c.exchange(&get("/")).text(), "Tls13 http/1.1 localhost false 0");
    assert_eq!(c.exchange(&get("/q/x")).text(), "Tls13 http/1.1 localhost false 0", "queued");
    app.join().unwrap();
    // The http port speaks cleartext.
    let mut plain = tls_common::tcp(format!("127.0.0.1:{plain_port}").parse().unwrap());
    plain.write_all(&get("/")).unwrap();
    let mut r = std::io::BufReader::new(plain);
    assert_eq!(tls_common::read_response(&mut r).unwrap().unwrap().text(), "cleartext");
    assert_eq!(server.stats().tls_handshakes, 1);
}

/// A server whose binding asks for client certificates signed by `client-ca.pem`.
fn client_cert_server(required: bool) -> (Server, SocketAddr) {
    let (server, addr) = describing_server();
    let ca = ClientCa::from_pem_file(tls_common::fixture("client-ca.pem")).unwrap();
    let ask = if required { ClientCertificates::Required(ca) } else { ClientCertificates::Optional(ca) };
    server.set_cert_binding(BindingKey::Port(addr.port()), binding("localhost").client_certificates(ask));
    (server, addr)
}

#[test]
fn a_required_client_certificate_refuses_a_client_without_one_and_shows_the_chain() {
    let (server, _) = client_cert_server(true);
    let addr = server.local_addrs()[0];
    // One certificate in the chain the handler sees (its DER: the test below).
    let with = config(Opts { client_cert: Some("client"), ..Opts::default() });
    let mut c = TlsClient::connect(addr, "localhost", with);
    assert_eq!(c.exchange(&get("/")).text(), "Tls13 http/1.1 localhost false 1");
    // Without a certificate: in TLS 1.3 the client's side of the handshake ends first, and the
    // server's alert arrives in answer to its request.
    let mut c = TlsClient::localhost(addr);
    let _ = c.send(&get("/"));
    let e = c.try_read().expect_err("refused");
    assert!(rustls_error(&e).is_some_and(|r| matches!(r, rustls::Error::AlertReceived(_))), "{e}");
    assert_eq!(failures(&server, 1).protocol, 1);
}

#[test]
fn a_required_client_certificate_refuses_a_tls12_client_without_one() {
    let (server, addr) = client_cert_server(true);
    let mut c = TlsClient::connect(addr, "localhost", config(Opts { versions: TLS12, ..Opts::default() }));
    let e = c.handshake().expect_err("refused");
    assert!(rustls_error(&e).is_some_and(|r| matches!(r, rustls::Error::AlertReceived(_))), "{e}");
    assert_eq!(failures(&server, 1).protocol, 1);
}

#[test]
fn a_client_certificate_from_another_ca_is_refused_even_when_optional() {
    let (server, addr) = client_cert_server(false);
    // `localhost.pem` is signed by `ca.pem`, not by the client CA.
    let mut c =
        TlsClient::connect(addr, "localhost", config(Opts { client_cert: Some("localhost"), ..Opts::default() }));
    let _ = c.send(&get("/"));
    let e = c.try_read().expect_err("refused");
    assert!(rustls_error(&e).is_some_and(|r| matches!(r, rustls::Error::AlertReceived(_))), "{e}");
    assert_eq!(failures(&server, 1).protocol, 1);
}

#[test]
fn the_peer_certificates_are_the_clients_chain_leaf_first() {
    let (server, addr) = start(Server::builder().threads(1), |req: &Request<'_>, res: &mut Response<'_>| {
        let leaf = req.tls().and_then(|t| t.peer_certificates.first().cloned()).unwrap_or_default();
        let _ = res.body(&leaf);
    });
    let ca = ClientCa::from_pem_file(tls_common::fixture("client-ca.pem")).unwrap();
    let b = binding("localhost").client_certificates(ClientCertificates::Required(ca));
    server.set_cert_binding(BindingKey::Port(addr.port()), b);
    for versions in [TLS13, TLS12] {
        let with = config(Opts { versions, client_cert: Some("client") });
        let mut c = TlsClient::connect(addr, "localhost", with);
        assert_eq!(c.exchange(&get("/")).body, leaf("client"));
    }
}

#[test]
fn an_optional_client_certificate_accepts_clients_with_and_without_one() {
    let (server, addr) = client_cert_server(false);
    let mut without = TlsClient::localhost(addr);
    assert_eq!(without.exchange(&get("/")).text(), "Tls13 http/1.1 localhost false 0");
    let with = config(Opts { client_cert: Some("client"), ..Opts::default() });
    let mut c = TlsClient::connect(addr, "localhost", with);
    assert_eq!(c.exchange(&get("/")).text(), "Tls13 http/1.1 localhost false 1");
    assert_eq!(server.stats().tls_failed.total(), 0);
}

/// `n` patterned bytes (an answer in the wrong place or order shows).
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + i / 251) % 256) as u8).collect()
}

#[test]
fn a_one_mib_post_body_is_collected_for_an_inline_handler() {
    let limits = Limits::default().max_body_size(Some(4 << 20));
    let (_server, addr) =
        start(Server::builder().threads(1).limits(limits), |req: &Request<'_>, res: &mut Response<'_>| {
            let ok = req.body() == pattern(req.body().len()).as_slice();
            let _ = res.body(format!("{} {ok}", req.body().len()).as_bytes());
        });
    let body = pattern(1 << 20);
    let mut c = TlsClient::localhost(addr);
    let head = format!("POST /up HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n", body.len());
    c.send(&[head.as_bytes(), &body].concat()).unwrap();
    assert_eq!(c.read().text(), format!("{} true", 1 << 20));
    assert_eq!(c.exchange(&get("/")).text(), "0 true", "the connection goes on");
}

#[test]
fn a_four_mib_file_answer_arrives_exactly() {
    let body = pattern(4 << 20);
    let path =
        std::env::temp_dir().join(format!("hsys-tls-file-{}-{:?}", std::process::id(), std::thread::current().id()));
    std::fs::write(&path, &body).unwrap();
    let served = path.clone();
    let (_server, addr) = start(Server::builder().threads(1), move |_: &Request<'_>, res: &mut Response<'_>| {
        let _ = res.file(std::fs::File::open(&served).expect("the temp file"));
    });
    let mut c = TlsClient::localhost(addr);
    for _ in 0..2 {
        let r = c.exchange(&get("/file"));
        assert_eq!(r.header("content-length"), Some("4194304"));
        assert!(r.body == body, "the file's bytes, exactly");
    }
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_large_prepared_answer_arrives_exactly_from_the_shared_bytes() {
    let body = pattern(300 * 1024);
    let prepared = Arc::new(Prepared::new(200, [("Content-Type", &b"application/octet-stream"[..])], &body).unwrap());
    let (_server, addr) = start(Server::builder().threads(1), move |_: &Request<'_>, res: &mut Response<'_>| {
        res.prepared(&prepared).expect("a prepared answer");
    });
    let mut c = TlsClient::localhost(addr);
    // Pipelined: the shared tail of one answer is followed by the next in order.
    c.send(&[get("/a"), get("/b")].concat()).unwrap();
    for _ in 0..2 {
        assert!(c.read().body == body);
    }
}

#[test]
fn a_streamed_answer_to_a_queued_request_arrives_exactly() {
    let port = free_port();
    let queue = RequestQueue::new(10);
    let mut groups = UrlGroups::new();
    let g = groups.create_group(Target::Queue(queue.clone()));
    groups.add_url(g, &format!("https://127.0.0.1:{port}/")).unwrap();
    let _server = Server::builder()
        .threads(1)
        .cert_binding(BindingKey::Port(port), binding("localhost"))
        .serve_groups(groups)
        .expect("serve_groups");
    let body = pattern(1 << 20);
    let expected = body.clone();
    let app = std::thread::spawn(move || {
        for sized in [false, true] {
            let r = queue.receive().expect("a queued request");
            let reply = Reply::new(200);
            let mut w =
                if sized { r.respond_streaming_sized(reply, body.len() as u64) } else { r.respond_streaming(reply) }
                    .expect("connected");
            for piece in body.chunks(10_000) {
                w.write_all(piece).unwrap();
            }
            w.finish().unwrap();
        }
    });
    let mut c = TlsClient::localhost(format!("127.0.0.1:{port}").parse().unwrap());
    let chunked = c.exchange(&get("/chunked"));
    assert_eq!(chunked.header("transfer-encoding"), Some("chunked"));
    assert!(chunked.body == expected);
    let sized = c.exchange(&get("/sized"));
    assert_eq!(sized.header("content-length"), Some("1048576"));
    assert!(sized.body == expected);
    app.join().unwrap();
}

#[test]
fn connection_close_gets_its_answer_then_close_notify() {
    let (_server, addr) = describing_server();
    let mut c = TlsClient::localhost(addr);
    let r = c.exchange(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(c.read_end().expect("a clean close (close_notify), not an error"), 0);
}

/// Waits until the server has begun its graceful stop: its listener refuses connections.
fn wait_for_the_listener_to_close(addr: SocketAddr) {
    wait_until("the listener to close", || std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn a_graceful_stop_answers_the_next_request_with_connection_close() {
    let (server, addr) = describing_server();
    let mut c = TlsClient::localhost(addr);
    assert_eq!(c.exchange(&get("/")).status, 200);
    server.shutdown();
    wait_for_the_listener_to_close(addr);
    let r = c.exchange(&get("/last"));
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    assert_eq!(c.read_end().expect("close_notify"), 0);
}

#[test]
fn a_request_sent_as_soon_as_shutdown_returns_is_answered_with_connection_close() {
    let (server, addr) = describing_server();
    let mut c = TlsClient::localhost(addr);
    assert_eq!(c.exchange(&get("/")).status, 200);
    server.shutdown();
    let r = c.exchange(&get("/last"));
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    assert_eq!(c.read_end().expect("close_notify"), 0);
}

#[test]
fn handshakes_are_counted_once_per_connection() {
    let (server, addr) = describing_server();
    let mut clients: Vec<_> = (0..3).map(|_| TlsClient::localhost(addr)).collect();
    for _ in 0..3 {
        for c in &mut clients {
            assert_eq!(c.exchange(&get("/")).status, 200);
        }
    }
    let s = server.stats();
    assert_eq!((s.tls_handshakes, s.tls_resumed, s.tls_failed.total()), (3, 0, 0));
    assert_eq!(s.connections_accepted, 3);
}
