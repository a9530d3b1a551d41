//! `TlsConn` against a real rustls client, in memory: handshakes, data both ways however it is
//! split, closing, failures and the buffers an idle connection keeps.

use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;

use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::version::{TLS12, TLS13};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, SupportedProtocolVersion};

use super::{MAX_HANDSHAKE_HELD, TlsConn};
use crate::app::TlsVersion;
use crate::tls::TlsFailure;

const BOTH: &[&SupportedProtocolVersion] = &[&TLS13, &TLS12];

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/tls/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn certs(name: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(fixture(name)).unwrap().collect::<Result<_, _>>().unwrap()
}

fn key(name: &str) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_file(fixture(name)).unwrap()
}

fn roots(name: &str) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for cert in certs(name) {
        roots.add(cert).unwrap();
    }
    roots
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

/// The server's config: `localhost.pem`, ALPN `http/1.1`, tickets; with `client_auth`, a client
/// certificate signed by `client-ca.pem` is required.
fn server_config(versions: &[&'static SupportedProtocolVersion], client_auth: bool) -> Arc<ServerConfig> {
    let builder = ServerConfig::builder_with_provider(provider()).with_protocol_versions(versions).unwrap();
    let builder = if client_auth {
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots("client-ca.pem")), provider()).build().unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_single_cert(certs("localhost.pem"), key("localhost.key")).unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.ticketer = aws_lc_rs::Ticketer::new().unwrap();
    Arc::new(config)
}

/// A client config trusting `ca.pem`, offering `http/1.1`; with `client_cert`, it presents
/// `client.pem`.
fn client_config(versions: &[&'static SupportedProtocolVersion], client_cert: bool) -> Arc<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots("ca.pem"));
    let mut config = if client_cert {
        builder.with_client_auth_cert(certs("client.pem"), key("client.key")).unwrap()
    } else {
        builder.with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A client and a server connection, and what crossed between them.
struct Pair {
    client: ClientConnection,
    server: TlsConn,
    work: Vec<u8>,
    /// What the server decrypted.
    plain: Vec<u8>,
}

impl Pair {
    fn new(server: Arc<ServerConfig>, client: Arc<ClientConfig>) -> Pair {
        let name = ServerName::try_from("localhost").unwrap();
        Pair {
            client: ClientConnection::new(client, name).unwrap(),
            server: TlsConn::new(server, Some("localhost")).unwrap(),
            work: Vec::new(),
            plain: Vec::new(),
        }
    }

    /// TLS 1.3 and 1.2 offered, no client certificate.
    fn default() -> Pair {
        Pair::new(server_config(BOTH, false), client_config(BOTH, false))
    }

    /// Everything the client has to send.
    fn client_bytes(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.client.wants_write() {
            self.client.write_tls(&mut out).unwrap();
        }
        out
    }

    /// Feeds `bytes` to the server in pieces of `piece` bytes.
    fn feed(&mut self, bytes: &[u8], piece: usize) -> Result<(), TlsFailure> {
        for chunk in bytes.chunks(piece.max(1)) {
            self.server.open(chunk, &mut self.plain, &mut self.work)?;
        }
        Ok(())
    }

    /// The client's pending bytes to the server, in pieces of `piece` bytes.
    fn client_to_server(&mut self, piece: usize) -> Result<(), TlsFailure> {
        let bytes = self.client_bytes();
        self.feed(&bytes, piece)
    }

    /// Hands `bytes` to the client; returns the plaintext it decrypted.
    fn deliver(&mut self, bytes: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        let mut plain = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            self.client.read_tls(&mut rest).unwrap();
            self.client.process_new_packets()?;
            read_available(&mut self.client, &mut plain);
        }
        Ok(plain)
    }

    /// The server's pending records to the client; returns the plaintext it decrypted.
    fn server_to_client(&mut self) -> Result<Vec<u8>, rustls::Error> {
        let mut out = Vec::new();
        self.server.take_pending(&mut out);
        self.deliver(&out)
    }

    /// Runs the handshake to its end, input in pieces of `piece` bytes, and delivers the
    /// server's last records (tickets) to the client.
    fn handshake(&mut self, piece: usize) {
        for _ in 0..10 {
            self.client_to_server(piece).unwrap();
            self.server_to_client().unwrap();
            if !self.client.is_handshaking() && !self.server.is_handshaking() {
                return;
            }
        }
        panic!("the handshake did not finish");
    }

    /// Seals `plain` and delivers it; returns what the client read.
    fn send(&mut self, plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.server.seal(plain, &mut out).unwrap();
        assert!(!self.server.has_pending());
        self.deliver(&out).unwrap()
    }
}

/// Reads the plaintext the client has decrypted so far.
fn read_available(client: &mut ClientConnection, plain: &mut Vec<u8>) {
    let mut buf = [0u8; 4096];
    loop {
        match client.reader().read(&mut buf) {
            Ok(0) => return,
            Ok(n) => plain.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) => panic!("client read: {e}"),
        }
    }
}

#[test]
fn tls13_handshake_and_info() {
    let mut pair = Pair::default();
    assert!(pair.server.is_handshaking());
    assert!(pair.server.info().is_none());
    pair.handshake(usize::MAX);
    let info = pair.server.info().unwrap();
    assert_eq!(info.version, TlsVersion::Tls13);
    assert!(info.cipher_suite.starts_with("TLS13_"), "{}", info.cipher_suite);
    assert_eq!(info.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(info.server_name.as_deref(), Some("localhost"));
    assert!(info.peer_certificates.is_empty());
    assert!(!info.resumed);
    assert!(Arc::ptr_eq(&info, &pair.server.info().unwrap()), "built once, shared");
}

#[test]
fn tls12_handshake_and_info() {
    let mut pair = Pair::new(server_config(&[&TLS12], false), client_config(&[&TLS12], false));
    pair.handshake(usize::MAX);
    let info = pair.server.info().unwrap();
    assert_eq!(info.version, TlsVersion::Tls12);
    assert!(info.cipher_suite.starts_with("TLS_ECDHE_"), "{}", info.cipher_suite);
    assert_eq!(info.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(pair.send(b"hello 1.2"), b"hello 1.2");
}

#[test]
fn no_alpn_when_the_client_offers_none() {
    let mut client = (*client_config(BOTH, false)).clone();
    client.alpn_protocols.clear();
    let mut pair = Pair::new(server_config(BOTH, false), Arc::new(client));
    pair.handshake(usize::MAX);
    assert_eq!(pair.server.info().unwrap().alpn, None);
}

#[test]
fn request_and_response_both_ways() {
    for versions in [&[&TLS13][..], &[&TLS12][..]] {
        let mut pair = Pair::new(server_config(versions, false), client_config(versions, false));
        pair.handshake(usize::MAX);
        pair.client.writer().write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        pair.client_to_server(usize::MAX).unwrap();
        assert_eq!(pair.plain, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!(
            pair.send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        );
    }
}

#[test]
fn one_byte_pieces() {
    for versions in [&[&TLS13][..], &[&TLS12][..]] {
        let mut pair = Pair::new(server_config(versions, false), client_config(versions, false));
        pair.handshake(1);
        pair.client.writer().write_all(b"trickled request").unwrap();
        pair.client_to_server(1).unwrap();
        assert_eq!(pair.plain, b"trickled request");
        assert_eq!(pair.server.buffered_capacity(), 0);
    }
}

#[test]
fn several_records_in_one_read() {
    let mut pair = Pair::default();
    pair.handshake(usize::MAX);
    let mut bytes = Vec::new();
    for part in [&b"one "[..], b"two ", b"three"] {
        pair.client.writer().write_all(part).unwrap();
        bytes.extend(pair.client_bytes());
    }
    pair.feed(&bytes, usize::MAX).unwrap();
    assert_eq!(pair.plain, b"one two three");
}

#[test]
fn a_record_split_across_reads() {
    let mut pair = Pair::default();
    pair.handshake(usize::MAX);
    let mut expected = Vec::new();
    for split in [1, 3, 5, 6, 20, 30] {
        let data = format!("split at {split}");
        pair.client.writer().write_all(data.as_bytes()).unwrap();
        expected.extend_from_slice(data.as_bytes());
        let bytes = pair.client_bytes();
        pair.feed(&bytes[..split], usize::MAX).unwrap();
        assert!(pair.server.buffered_capacity() > 0, "a partial record is held");
        pair.feed(&bytes[split..], usize::MAX).unwrap();
        assert_eq!(pair.plain, expected);
        assert_eq!(pair.server.buffered_capacity(), 0, "released once the record is whole");
    }
}

#[test]
fn a_big_request_in_odd_pieces() {
    let mut pair = Pair::default();
    pair.handshake(usize::MAX);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    pair.client.set_buffer_limit(None);
    pair.client.writer().write_all(&data).unwrap();
    pair.client_to_server(7_777).unwrap();
    assert_eq!(pair.plain, data);
    assert_eq!(pair.server.buffered_capacity(), 0);
}

#[test]
fn a_big_seal() {
    for versions in [&[&TLS13][..], &[&TLS12][..]] {
        let mut pair = Pair::new(server_config(versions, false), client_config(versions, false));
        pair.handshake(usize::MAX);
        let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 253) as u8).collect();
        assert_eq!(pair.send(&data), data);
        assert_eq!(pair.send(b""), b"");
        assert_eq!(pair.server.buffered_capacity(), 0);
    }
}

#[test]
fn tickets_go_before_data_and_close_notify() {
    let mut pair = Pair::default();
    for _ in 0..10 {
        pair.client_to_server(usize::MAX).unwrap();
        if !pair.server.is_handshaking() {
            break;
        }
        pair.server_to_client().unwrap();
    }
    // The server's tickets (encrypted under the traffic keys) wait in pending: data sealed now
    // must follow them, or the client's record sequence breaks.
    assert!(pair.server.has_pending());
    assert_eq!(pair.send(b"after the tickets"), b"after the tickets");
    pair.client.writer().write_all(b"more").unwrap();
    pair.client_to_server(usize::MAX).unwrap();
    assert_eq!(pair.plain, b"more");

    // The same for close_notify: tickets first.
    let mut pair = Pair::default();
    for _ in 0..10 {
        pair.client_to_server(usize::MAX).unwrap();
        if !pair.server.is_handshaking() {
            break;
        }
        pair.server_to_client().unwrap();
    }
    assert!(pair.server.has_pending());
    let mut out = Vec::new();
    pair.server.close_notify(&mut out);
    assert!(!pair.server.has_pending());
    assert_eq!(pair.deliver(&out).unwrap(), b"");
    assert!(pair.client.process_new_packets().unwrap().peer_has_closed());
}

#[test]
fn client_close_notify() {
    let mut pair = Pair::default();
    pair.handshake(usize::MAX);
    pair.client.writer().write_all(b"last words").unwrap();
    pair.client.send_close_notify();
    pair.client_to_server(usize::MAX).unwrap();
    assert_eq!(pair.plain, b"last words");
    assert!(pair.server.peer_closed());
    // The server may still answer, then close.
    assert_eq!(pair.send(b"the answer"), b"the answer");
    let mut out = Vec::new();
    pair.server.close_notify(&mut out);
    pair.deliver(&out).unwrap();
    assert!(pair.client.process_new_packets().unwrap().peer_has_closed());
    assert_eq!(pair.server.buffered_capacity(), 0);
}

#[test]
fn server_close_notify() {
    let mut pair = Pair::default();
    pair.handshake(usize::MAX);
    let mut out = Vec::new();
    pair.server.close_notify(&mut out);
    assert!(!out.is_empty());
    pair.deliver(&out).unwrap();
    assert!(pair.client.process_new_packets().unwrap().peer_has_closed());
    // Nothing may be sealed after close_notify, and a second one adds nothing.
    let mut more = Vec::new();
    assert_eq!(pair.server.seal(b"late", &mut more), Err(TlsFailure::Protocol));
    pair.server.close_notify(&mut more);
    assert!(more.is_empty());
    // The connection is closing: input is dropped, even a broken record (rustls would
    // answer it with a second alert, which it asserts never happens).
    pair.client.writer().write_all(b"dropped").unwrap();
    pair.client_to_server(usize::MAX).unwrap();
    pair.feed(b"\x17\x03\x03\x00\x05junk!", usize::MAX).unwrap();
    assert_eq!(pair.plain, b"");
    assert_eq!(pair.server.buffered_capacity(), 0);
}

#[test]
fn bytes_after_close_notify_are_dropped() {
    let mut pair = Pair::default();
    pair.handshake(usize::MAX);
    pair.client.writer().write_all(b"before").unwrap();
    let mut bytes = pair.client_bytes();
    pair.client.send_close_notify();
    bytes.extend(pair.client_bytes());
    let mut after = Pair::default();
    after.handshake(usize::MAX);
    after.client.writer().write_all(b"not from this connection").unwrap();
    let foreign = after.client_bytes();
    bytes.extend_from_slice(&foreign);
    bytes.extend_from_slice(b"\x17\x03\x03\x00\x05junk");
    pair.feed(&bytes, usize::MAX).unwrap();
    assert_eq!(pair.plain, b"before");
    assert!(pair.server.peer_closed());
    assert_eq!(pair.server.buffered_capacity(), 0);
    // Later reads are dropped too, whatever they hold.
    pair.feed(&foreign, 3).unwrap();
    pair.feed(b"garbage", usize::MAX).unwrap();
    assert_eq!(pair.plain, b"before");
    assert_eq!(pair.server.buffered_capacity(), 0);
}

#[test]
fn garbage_after_the_handshake_is_a_protocol_failure_with_an_alert() {
    for versions in [&[&TLS13][..], &[&TLS12][..]] {
        let mut pair = Pair::new(server_config(versions, false), client_config(versions, false));
        pair.handshake(usize::MAX);
        let mut garbage = b"\x17\x03\x03\x00\x20".to_vec();
        garbage.extend_from_slice(&[0x5a; 0x20]);
        assert_eq!(pair.feed(&garbage, usize::MAX), Err(TlsFailure::Protocol));
        assert!(pair.server.has_pending(), "the alert is pending");
        let err = pair.server_to_client().unwrap_err();
        assert!(matches!(err, rustls::Error::AlertReceived(_)), "{err:?}");
        // Sticky, and rustls is not called again.
        assert_eq!(pair.feed(b"\x17\x03\x03\x00\x01x", usize::MAX), Err(TlsFailure::Protocol));
        assert_eq!(pair.server.seal(b"x", &mut Vec::new()), Err(TlsFailure::Protocol));
        assert!(!pair.server.has_pending());
        assert_eq!(pair.server.buffered_capacity(), 0);
        assert!(pair.server.info().is_none());
    }
}

#[test]
fn garbage_mid_handshake_then_more_input() {
    let mut pair = Pair::default();
    pair.client_to_server(usize::MAX).unwrap();
    pair.server_to_client().unwrap();
    // The client's Finished replaced by a broken record, followed by more bytes in the same
    // read: one call fetches the alert, the rest is never processed.
    let mut bytes = b"\x17\x03\x03\x00\x10".to_vec();
    bytes.extend_from_slice(&[1; 16]);
    bytes.extend_from_slice(b"\x16\x03\x03\x00\x04\x14\x00\x00");
    assert_eq!(pair.feed(&bytes, usize::MAX), Err(TlsFailure::Protocol));
    assert!(pair.server.has_pending());
    assert_eq!(pair.feed(&bytes, 1), Err(TlsFailure::Protocol));
}

#[test]
fn garbage_first_is_a_protocol_failure() {
    for garbage in [
        &b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"[..],
        b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00",
        b"\x15\x03\x01\x00\x02\x02\x28",
    ] {
        let mut pair = Pair::default();
        assert_eq!(pair.feed(garbage, usize::MAX), Err(TlsFailure::Protocol), "{garbage:?}");
        assert_eq!(pair.feed(garbage, 1), Err(TlsFailure::Protocol));
        assert_eq!(pair.server.buffered_capacity(), pair.server.pending.capacity());
    }
}

/// A ClientHello claiming `length` bytes, sent as full records of fragments, `records` of them.
fn oversized_hello(length: usize, records: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..records {
        out.extend_from_slice(&[0x16, 0x03, 0x01, 0x40, 0x00]);
        let mut fragment = vec![0u8; 0x4000];
        if i == 0 {
            fragment[0] = 1;
            fragment[1..4].copy_from_slice(&(length as u32).to_be_bytes()[1..]);
        }
        out.extend_from_slice(&fragment);
    }
    out
}

#[test]
fn an_oversized_handshake_is_too_large() {
    // Within rustls's own bound (64 KiB) but over the held bound.
    let mut pair = Pair::default();
    let hello = oversized_hello(60_000, 3);
    assert!(hello.len() > MAX_HANDSHAKE_HELD);
    assert_eq!(pair.feed(&hello, usize::MAX), Err(TlsFailure::TooLarge));
    assert_eq!(pair.server.buffered_capacity(), 0);
    let mut pair = Pair::default();
    assert_eq!(pair.feed(&hello, 1000), Err(TlsFailure::TooLarge));
    // Over rustls's bound: refused on its header.
    let mut pair = Pair::default();
    assert_eq!(pair.feed(&oversized_hello(0x20000, 1), usize::MAX), Err(TlsFailure::TooLarge));
}

#[test]
fn resumed_on_a_second_connection() {
    for versions in [&[&TLS13][..], &[&TLS12][..]] {
        let server = server_config(versions, false);
        let client = client_config(versions, false);
        let mut first = Pair::new(Arc::clone(&server), Arc::clone(&client));
        first.handshake(usize::MAX);
        assert!(!first.server.info().unwrap().resumed);
        let mut second = Pair::new(server, client);
        second.handshake(usize::MAX);
        let info = second.server.info().unwrap();
        assert!(info.resumed, "{versions:?}");
        assert_eq!(second.send(b"resumed"), b"resumed");
    }
}

#[test]
fn a_required_client_certificate_missing_is_a_protocol_failure() {
    for versions in [&[&TLS13][..], &[&TLS12][..]] {
        let mut pair = Pair::new(server_config(versions, true), client_config(versions, false));
        let mut result = Ok(());
        for _ in 0..10 {
            result = pair.client_to_server(usize::MAX);
            if result.is_err() {
                break;
            }
            pair.server_to_client().unwrap();
        }
        assert_eq!(result, Err(TlsFailure::Protocol));
        assert!(pair.server.has_pending(), "the alert is pending");
        assert!(pair.server.info().is_none());
    }
}

#[test]
fn a_client_certificate_is_reported() {
    for versions in [&[&TLS13][..], &[&TLS12][..]] {
        let mut pair = Pair::new(server_config(versions, true), client_config(versions, true));
        pair.handshake(usize::MAX);
        let info = pair.server.info().unwrap();
        assert!(!info.peer_certificates.is_empty());
        assert_eq!(&*info.peer_certificates[0], certs("client.pem")[0].as_ref());
    }
}

#[test]
fn idle_connections_hold_no_buffer() {
    for versions in [&[&TLS13][..], &[&TLS12][..]] {
        let mut pair = Pair::new(server_config(versions, false), client_config(versions, false));
        pair.handshake(usize::MAX);
        assert_eq!(pair.server.buffered_capacity(), 0);
        pair.client.writer().write_all(b"x").unwrap();
        pair.client_to_server(usize::MAX).unwrap();
        assert_eq!(pair.server.buffered_capacity(), 0);
        pair.send(b"y");
        assert_eq!(pair.server.buffered_capacity(), 0);
    }
}

#[test]
fn seal_during_the_handshake_is_refused() {
    let mut pair = Pair::default();
    pair.client_to_server(usize::MAX).unwrap();
    let mut out = Vec::new();
    assert_eq!(pair.server.seal(b"early", &mut out), Err(TlsFailure::Protocol));
    // The pending flight is handed over regardless, and the handshake goes on.
    assert!(!out.is_empty());
    pair.deliver(&out).unwrap();
    pair.handshake(usize::MAX);
    assert_eq!(pair.send(b"now"), b"now");
}

#[test]
fn the_connection_is_small() {
    // rustls's state, two buffers, the phase and two flags.
    let size = std::mem::size_of::<TlsConn>();
    let rustls = std::mem::size_of::<rustls::server::UnbufferedServerConnection>();
    assert!(size <= rustls + 80, "TlsConn is {size} bytes, rustls's state {rustls}");
}

#[test]
fn seal_between_the_halves_of_a_record_and_a_key_update() {
    let mut pair = Pair::new(server_config(&[&TLS13], false), client_config(&[&TLS13], false));
    pair.handshake(usize::MAX);
    // The client's KeyUpdate (asking for ours) and a request, split inside the first record;
    // the server seals in between (rustls must get the held half on that call too).
    pair.client.refresh_traffic_keys().unwrap();
    pair.client.writer().write_all(b"under new keys").unwrap();
    let bytes = pair.client_bytes();
    pair.feed(&bytes[..7], usize::MAX).unwrap();
    assert_eq!(pair.send(b"between"), b"between");
    pair.feed(&bytes[7..], usize::MAX).unwrap();
    assert_eq!(pair.plain, b"under new keys");
    // Our KeyUpdate (rustls keeps it until the next write) goes out before the data sealed
    // under the new keys.
    assert_eq!(pair.send(b"after the key update"), b"after the key update");
    assert_eq!(pair.server.buffered_capacity(), 0);
}
