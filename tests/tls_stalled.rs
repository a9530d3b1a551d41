//! 1,000 stalled TLS handshakes (half sent nothing, half stopped inside the ClientHello) are closed
//! at `header_wait`, counted as timeouts, while a normal client is served in time meanwhile.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hsys::{BindingKey, CertBinding, Request, Response, Server, Timeouts, TlsCertificate};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");
const STALLED: usize = 1000;
const HEADER_WAIT: Duration = Duration::from_secs(2);

fn client_config() -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(format!("{FIXTURES}/ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// One request over a new TLS connection; its answer's status line.
fn request(addr: SocketAddr) -> String {
    let conn = rustls::ClientConnection::new(client_config(), ServerName::try_from("localhost").unwrap()).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let _ = tls.read_to_end(&mut got);
    String::from_utf8_lossy(&got).lines().next().unwrap_or_default().to_owned()
}

#[test]
fn a_thousand_stalled_handshakes_are_closed_at_header_wait_while_a_client_is_served() {
    let server = Server::builder()
        .threads(1)
        .bind_tls("127.0.0.1:0")
        .timeouts(Timeouts::default().header_wait(HEADER_WAIT))
        .serve(|_: &Request<'_>, res: &mut Response<'_>| {
            let _ = res.body(b"ok");
        })
        .unwrap();
    let addr = server.local_addrs()[0];
    let cert = TlsCertificate::from_pem_files(format!("{FIXTURES}/localhost.pem"), format!("{FIXTURES}/localhost.key"))
        .unwrap();
    server.set_cert_binding(BindingKey::Port(addr.port()), CertBinding::new(cert));

    let started = Instant::now();
    let mut stalled = Vec::with_capacity(STALLED);
    for i in 0..STALLED {
        let mut s = TcpStream::connect(addr).unwrap();
        if i % 2 == 1 {
            // A handshake record header and the start of a ClientHello, then nothing.
            s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]).unwrap();
        }
        stalled.push(s);
    }
    // Served in time, with the stalled ones all open.
    let t = Instant::now();
    assert_eq!(request(addr), "HTTP/1.1 200 OK");
    assert!(t.elapsed() < Duration::from_secs(1), "a normal client waited {:?}", t.elapsed());

    // Each stalled connection is closed by the server (end-of-file or reset), within header_wait
    // and the timer's slack of when it was opened.
    let deadline = started + HEADER_WAIT + Duration::from_secs(3);
    for mut s in stalled {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        s.set_read_timeout(Some(left)).unwrap();
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("a stalled handshake was not closed in time: {other:?} after {:?}", started.elapsed()),
        }
    }
    assert!(started.elapsed() >= HEADER_WAIT - Duration::from_millis(200), "closed before header_wait");
    let s = server.stats();
    assert_eq!(s.tls_failed.timeout, STALLED as u64, "{s:?}");
    assert_eq!(s.tls_handshakes, 1);
    // And the server still serves.
    assert_eq!(request(addr), "HTTP/1.1 200 OK");
}
