//! TLS over real sockets: a rustls client against the server, on the default backend (and on
//! epoll when the suite runs with `HSYS_BACKEND=epoll`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use hsys::{BindingKey, CertBinding, Request, Response, Server, TlsCertificate};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");

fn client_config() -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(format!("{FIXTURES}/ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

#[test]
fn a_request_over_tls_is_answered_with_its_tls_details() {
    let server = Server::builder()
        .threads(1)
        .bind_tls("127.0.0.1:0")
        .serve(|req: &Request<'_>, res: &mut Response<'_>| {
            let tls = req.tls().map(|t| format!("{:?} {} {}", t.version, t.cipher_suite, t.resumed));
            let _ = res.body(tls.unwrap_or_default().as_bytes());
        })
        .unwrap();
    let addr = server.local_addrs()[0];
    let cert = TlsCertificate::from_pem_files(format!("{FIXTURES}/localhost.pem"), format!("{FIXTURES}/localhost.key"))
        .unwrap();
    server.set_cert_binding(BindingKey::Port(addr.port()), CertBinding::new(cert));
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(client_config(), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    for _ in 0..3 {
        tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.ends_with(b"false") {
            let n = tls.read(&mut buf).unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.ends_with("Tls13 TLS13_AES_128_GCM_SHA256 false"), "{text}");
    }
    let stats = server.stats();
    assert_eq!(stats.tls_handshakes, 1);
    assert_eq!(stats.tls_failed.total(), 0);
}
