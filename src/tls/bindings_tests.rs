//! Binding resolution, generations, snapshots, and in-memory handshakes on resolved configs.

use super::*;
use crate::tls::config::{ClientCa, ClientCertificates, TlsCertificate};
use rustls::client::{Resumption as ClientResumption, Tls12Resumption};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{
    CipherSuite, ClientConfig, ClientConnection, Connection, HandshakeKind, ProtocolVersion, RootCertStore,
    ServerConnection, SupportedProtocolVersion,
};

/// The test certificates' directory.
const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/");

/// A fixture file's bytes.
fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}{name}")).expect("fixture")
}

/// `name.pem` and `name.key`, loaded.
fn cert(name: &str) -> TlsCertificate {
    TlsCertificate::from_pem_files(format!("{DIR}{name}.pem"), format!("{DIR}{name}.key")).expect("cert")
}

/// A binding serving `name`'s certificate.
fn binding(name: &str) -> CertBinding {
    CertBinding::new(cert(name))
}

/// A binding serving localhost's certificate, asking for client certificates.
fn mutual(client: fn(ClientCa) -> ClientCertificates) -> CertBinding {
    let ca = ClientCa::from_pem(&bytes("client-ca.pem")).expect("client CA");
    binding("localhost").client_certificates(client(ca))
}

/// A socket address.
fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// The config `table` resolves for `local` and `sni`, as a pointer to compare.
fn resolved(table: &BindingTable, local: &str, sni: Option<&str>) -> Option<*const ServerConfig> {
    table.resolve(addr(local), sni).map(Arc::as_ptr)
}

/// The config just bound at `local`/`sni` (read back right after a `set`, so its identity can be
/// compared with later resolutions).
fn current(bindings: &Bindings, local: &str, sni: Option<&str>) -> *const ServerConfig {
    resolved(&bindings.snapshot().1, local, sni).expect("bound")
}

#[test]
fn resolve_order_host_then_addr_then_port_then_none() {
    let b = Bindings::new();
    b.set(BindingKey::Port(443), binding("localhost"));
    let port = current(&b, "10.0.0.9:443", None);
    b.set(BindingKey::Addr(addr("127.0.0.1:443")), binding("localhost"));
    let ip = current(&b, "127.0.0.1:443", None);
    b.set(BindingKey::Host("alt.test".into(), 443), binding("alt"));
    let host = current(&b, "10.0.0.9:443", Some("alt.test"));
    assert!(port != ip && ip != host && host != port);

    let (_, t) = b.snapshot();
    // The host wins on any address of its port.
    assert_eq!(resolved(&t, "127.0.0.1:443", Some("alt.test")), Some(host));
    assert_eq!(resolved(&t, "[::1]:443", Some("alt.test")), Some(host));
    // An unknown or absent name falls back to the address, then the port.
    assert_eq!(resolved(&t, "127.0.0.1:443", Some("other.test")), Some(ip));
    assert_eq!(resolved(&t, "127.0.0.1:443", None), Some(ip));
    assert_eq!(resolved(&t, "127.0.0.2:443", Some("other.test")), Some(port));
    assert_eq!(resolved(&t, "[::1]:443", None), Some(port));
    // Another port has nothing: not even the host binding.
    assert_eq!(resolved(&t, "127.0.0.1:8443", Some("alt.test")), None);
    assert!(t.covers_port(443));
    assert!(!t.covers_port(8443));

    // Without the port binding, an unmatched address has none.
    assert!(b.remove(&BindingKey::Port(443)));
    let (_, t) = b.snapshot();
    assert_eq!(resolved(&t, "127.0.0.2:443", None), None);
    assert_eq!(resolved(&t, "127.0.0.2:443", Some("alt.test")), Some(host));
    assert!(t.covers_port(443));
    assert!(b.remove(&BindingKey::Host("alt.test".into(), 443)));
    assert!(b.remove(&BindingKey::Addr(addr("127.0.0.1:443"))));
    assert!(!b.snapshot().1.covers_port(443), "an emptied port is no longer covered");
}

#[test]
fn host_names_ignore_case_and_a_trailing_dot() {
    let b = Bindings::new();
    b.set(BindingKey::Host("Alt.Test.".into(), 443), binding("alt"));
    let host = current(&b, "127.0.0.1:443", Some("alt.test"));
    let (_, t) = b.snapshot();
    for sni in ["alt.test", "ALT.TEST", "alt.test.", "aLt.TeSt."] {
        assert_eq!(resolved(&t, "127.0.0.1:443", Some(sni)), Some(host), "{sni}");
    }
    for sni in ["alt.test..", "alt", "www.alt.test", "", "."] {
        assert_eq!(resolved(&t, "127.0.0.1:443", Some(sni)), None, "{sni:?}");
    }
    // A name too long to be a DNS name, in capitals, matches nothing and does not panic.
    let long = "A".repeat(300);
    assert_eq!(resolved(&t, "127.0.0.1:443", Some(&long)), None);
    // Removal by any spelling.
    assert!(b.remove(&BindingKey::Host("ALT.test".into(), 443)));
    assert!(!b.snapshot().1.covers_port(443));
}

#[test]
fn addresses_are_canonical() {
    let b = Bindings::new();
    // An IPv4 binding matches a v4-mapped IPv6 local address (a dual-stack socket's).
    b.set(BindingKey::Addr(addr("127.0.0.1:443")), binding("localhost"));
    let v4 = current(&b, "127.0.0.1:443", None);
    assert_eq!(resolved(&b.snapshot().1, "[::ffff:127.0.0.1]:443", None), Some(v4));
    // A v4-mapped binding is its IPv4 address: it replaces the one above.
    b.set(BindingKey::Addr(addr("[::ffff:127.0.0.1]:443")), binding("localhost"));
    let mapped = current(&b, "127.0.0.1:443", None);
    assert_ne!(mapped, v4);
    assert_eq!(resolved(&b.snapshot().1, "[::ffff:127.0.0.1]:443", None), Some(mapped));
    assert_eq!(resolved(&b.snapshot().1, "[::1]:443", None), None);
    // An unspecified address is the port.
    b.set(BindingKey::Addr(addr("0.0.0.0:8443")), binding("localhost"));
    let any = current(&b, "192.0.2.1:8443", None);
    assert_eq!(resolved(&b.snapshot().1, "[2001:db8::1]:8443", None), Some(any));
    assert!(b.remove(&BindingKey::Port(8443)));
    b.set(BindingKey::Addr(addr("[::]:8443")), binding("localhost"));
    assert!(b.remove(&BindingKey::Addr(addr("0.0.0.0:8443"))));
    assert!(!b.snapshot().1.covers_port(8443));
}

#[test]
fn generation_moves_on_set_and_remove() {
    let b = Bindings::new();
    let g0 = b.generation();
    assert_eq!(b.snapshot().0, g0);
    b.set(BindingKey::Port(443), binding("localhost"));
    let g1 = b.generation();
    assert!(g1 > g0);
    b.set(BindingKey::Port(443), binding("localhost"));
    let g2 = b.generation();
    assert!(g2 > g1, "a replacement moves it too");
    assert!(!b.remove(&BindingKey::Port(8443)));
    assert!(!b.remove(&BindingKey::Host("localhost".into(), 443)));
    assert_eq!(b.generation(), g2, "removing nothing changes nothing");
    assert!(b.remove(&BindingKey::Port(443)));
    let g3 = b.generation();
    assert!(g3 > g2);
    assert_eq!(b.snapshot().0, g3);
    assert!(!b.remove(&BindingKey::Port(443)));
}

#[test]
fn a_snapshot_keeps_resolving_the_old_config() {
    let b = Bindings::new();
    b.set(BindingKey::Port(443), binding("localhost"));
    let (g_old, old) = b.snapshot();
    let old_config = resolved(&old, "127.0.0.1:443", None);

    b.set(BindingKey::Port(443), binding("alt"));
    b.set(BindingKey::Port(8443), binding("alt"));
    let (g_new, new) = b.snapshot();
    assert!(g_new > g_old);
    // The old snapshot is unchanged: a change affects new handshakes only.
    assert_eq!(resolved(&old, "127.0.0.1:443", None), old_config);
    assert!(!old.covers_port(8443));
    assert_ne!(resolved(&new, "127.0.0.1:443", None), old_config);
    assert!(new.covers_port(8443));

    assert!(b.remove(&BindingKey::Port(443)));
    assert_eq!(resolved(&old, "127.0.0.1:443", None), old_config);
    assert!(resolved(&new, "127.0.0.1:443", None).is_some(), "nor is the newer one");
    assert_eq!(resolved(&b.snapshot().1, "127.0.0.1:443", None), None);
}

#[test]
fn bindings_are_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Bindings>();
    send_sync::<Arc<BindingTable>>();
}

// In-memory handshakes.

/// A client config trusting `ca.pem`, offering ALPN `http/1.1`, limited to `versions`, sending
/// `client.pem` if `with_cert`.
fn client(versions: &[&'static SupportedProtocolVersion], with_cert: bool) -> ClientConfig {
    client_on(rustls::crypto::aws_lc_rs::default_provider(), versions, with_cert)
}

/// [`client`] with another crypto provider.
fn client_on(
    provider: rustls::crypto::CryptoProvider,
    versions: &[&'static SupportedProtocolVersion],
    with_cert: bool,
) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(&bytes("ca.pem")) {
        roots.add(der.expect("ca.pem")).expect("root");
    }
    let builder = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots);
    let mut config = if with_cert {
        let chain = CertificateDer::pem_slice_iter(&bytes("client.pem")).collect::<Result<Vec<_>, _>>();
        let key = PrivateKeyDer::from_pem_slice(&bytes("client.key")).expect("client.key");
        builder.with_client_auth_cert(chain.expect("client.pem"), key).expect("client cert")
    } else {
        builder.with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

const TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
const TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];

/// Moves every record `from` has to write into `to`, processing them; whether any moved.
fn transfer(from: &mut Connection, to: &mut Connection) -> Result<bool, String> {
    let mut bytes = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut bytes).map_err(|e| e.to_string())?;
    }
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        to.read_tls(&mut rest).map_err(|e| e.to_string())?;
        to.process_new_packets().map_err(|e| e.to_string())?;
    }
    Ok(!bytes.is_empty())
}

/// A handshake between a client for `name` and a server on the config `table` resolves for
/// `local` and the client's SNI, moving bytes until neither side has any (so TLS 1.3 tickets
/// reach the client). `Err` says which side failed.
fn handshake(
    client: &Arc<ClientConfig>,
    name: &str,
    table: &BindingTable,
    local: &str,
) -> Result<(ClientConnection, ServerConnection), String> {
    let server_name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    let sni = matches!(server_name, ServerName::DnsName(_)).then_some(name);
    let config = table.resolve(addr(local), sni).ok_or("no binding")?;
    let mut c = Connection::Client(ClientConnection::new(client.clone(), server_name).map_err(|e| e.to_string())?);
    let mut s = Connection::Server(ServerConnection::new(config.clone()).map_err(|e| e.to_string())?);
    while transfer(&mut c, &mut s).map_err(|e| format!("server: {e}"))?
        | transfer(&mut s, &mut c).map_err(|e| format!("client: {e}"))?
    {}
    match (c, s) {
        (Connection::Client(c), Connection::Server(s)) if !c.is_handshaking() && !s.is_handshaking() => Ok((c, s)),
        _ => Err("the handshake stalled".into()),
    }
}

/// A table with localhost's certificate on every address of port 443.
fn localhost_on_443() -> Arc<BindingTable> {
    let b = Bindings::new();
    b.set(BindingKey::Port(443), binding("localhost"));
    b.snapshot().1
}

#[test]
fn tls13_handshake() {
    let table = localhost_on_443();
    let client = Arc::new(client(TLS13, false));
    let (c, s) = handshake(&client, "localhost", &table, "127.0.0.1:443").expect("handshake");
    assert_eq!(s.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    // The client (aws-lc-rs defaults) prefers AES-256: the server's order wins.
    assert_eq!(s.negotiated_cipher_suite().map(|s| s.suite()), Some(CipherSuite::TLS13_AES_128_GCM_SHA256));
    // The group is the client's first choice among ours (rustls ignores the server's order
    // here): the hybrid for a client that puts it first, as rustls's defaults do.
    let group = |s: &ServerConnection| s.negotiated_key_exchange_group().map(|g| g.name());
    assert_eq!(group(&s), Some(rustls::NamedGroup::X25519MLKEM768));
    assert_eq!(s.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(c.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(s.server_name(), Some("localhost"));
    assert_eq!(s.handshake_kind(), Some(HandshakeKind::Full));
    assert!(s.peer_certificates().is_none());
    // By IP address too (no SNI: the port binding).
    let (_, s) = handshake(&client, "127.0.0.1", &table, "127.0.0.1:443").expect("by IP");
    assert_eq!(s.server_name(), None);
    // X25519 for a client that prefers it.
    use rustls::crypto::aws_lc_rs::kx_group;
    let classic = rustls::crypto::CryptoProvider {
        kx_groups: vec![kx_group::X25519, kx_group::X25519MLKEM768],
        ..rustls::crypto::aws_lc_rs::default_provider()
    };
    let (_, s) =
        handshake(&Arc::new(client_on(classic, TLS13, false)), "localhost", &table, "127.0.0.1:443").expect("X25519");
    assert_eq!(group(&s), Some(rustls::NamedGroup::X25519));
}

#[test]
fn tls12_handshake() {
    let table = localhost_on_443();
    let (c, s) = handshake(&Arc::new(client(TLS12, false)), "localhost", &table, "[::1]:443").expect("handshake");
    assert_eq!(s.protocol_version(), Some(ProtocolVersion::TLSv1_2));
    assert_eq!(
        s.negotiated_cipher_suite().map(|s| s.suite()),
        Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
    );
    assert_eq!(s.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(c.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[test]
fn sni_picks_the_host_certificate() {
    let b = Bindings::new();
    b.set(BindingKey::Port(443), binding("localhost"));
    b.set(BindingKey::Host("alt.test".into(), 443), binding("alt"));
    let (_, table) = b.snapshot();
    let client = Arc::new(client(TLS13, false));
    let leaf = |name: &str| CertificateDer::pem_slice_iter(&bytes(name)).next().expect("a cert").expect("PEM");
    let (c, _) = handshake(&client, "alt.test", &table, "127.0.0.1:443").expect("alt.test");
    assert_eq!(c.peer_certificates().and_then(|p| p.first()), Some(&leaf("alt.pem")));
    let (c, _) = handshake(&client, "localhost", &table, "127.0.0.1:443").expect("localhost");
    assert_eq!(c.peer_certificates().and_then(|p| p.first()), Some(&leaf("localhost.pem")));
    // A name with no binding falls back to the port's, whose certificate the client refuses.
    assert!(handshake(&client, "other.test", &table, "127.0.0.1:443").is_err());
}

/// Two handshakes with one client config; the second's kind.
fn second_handshake(client: ClientConfig, first: &BindingTable, second: &BindingTable) -> Option<HandshakeKind> {
    let client = Arc::new(client);
    handshake(&client, "localhost", first, "127.0.0.1:443").expect("first");
    let (_, s) = handshake(&client, "localhost", second, "127.0.0.1:443").expect("second");
    s.handshake_kind()
}

#[test]
fn sessions_resume() {
    let table = localhost_on_443();
    assert_eq!(second_handshake(client(TLS13, false), &table, &table), Some(HandshakeKind::Resumed), "TLS 1.3");
    assert_eq!(second_handshake(client(TLS12, false), &table, &table), Some(HandshakeKind::Resumed), "TLS 1.2");
    let mut ids_only = client(TLS12, false);
    ids_only.resumption = ClientResumption::default().tls12_resumption(Tls12Resumption::SessionIdOnly);
    assert_eq!(second_handshake(ids_only, &table, &table), Some(HandshakeKind::Resumed), "TLS 1.2 session IDs");
}

#[test]
fn sessions_survive_replacing_a_plain_binding() {
    let b = Bindings::new();
    b.set(BindingKey::Port(443), binding("localhost"));
    let (_, before) = b.snapshot();
    b.set(BindingKey::Port(443), binding("localhost"));
    let (_, after) = b.snapshot();
    for versions in [TLS13, TLS12] {
        assert_eq!(second_handshake(client(versions, false), &before, &after), Some(HandshakeKind::Resumed));
    }
}

#[test]
fn required_client_certificates() {
    let b = Bindings::new();
    b.set(BindingKey::Port(443), mutual(ClientCertificates::Required));
    let (_, table) = b.snapshot();
    for versions in [TLS13, TLS12] {
        let without = handshake(&Arc::new(client(versions, false)), "localhost", &table, "127.0.0.1:443");
        let err = without.map(|_| ()).expect_err("no client certificate");
        assert!(err.starts_with("server:"), "the server refuses: {err}");

        let (_, s) = handshake(&Arc::new(client(versions, true)), "localhost", &table, "127.0.0.1:443").expect("with");
        let chain = CertificateDer::pem_slice_iter(&bytes("client.pem")).collect::<Result<Vec<_>, _>>();
        assert_eq!(s.peer_certificates(), Some(&chain.expect("client.pem")[..]));
    }
    // Resumed sessions carry the chain.
    let client = Arc::new(client(TLS13, true));
    handshake(&client, "localhost", &table, "127.0.0.1:443").expect("first");
    let (_, s) = handshake(&client, "localhost", &table, "127.0.0.1:443").expect("second");
    assert_eq!(s.handshake_kind(), Some(HandshakeKind::Resumed));
    assert!(s.peer_certificates().is_some());
}

#[test]
fn optional_client_certificates() {
    let b = Bindings::new();
    b.set(BindingKey::Port(443), mutual(ClientCertificates::Optional));
    let (_, table) = b.snapshot();
    for versions in [TLS13, TLS12] {
        let (_, s) =
            handshake(&Arc::new(client(versions, false)), "localhost", &table, "127.0.0.1:443").expect("without");
        assert!(s.peer_certificates().is_none());
        let (_, s) = handshake(&Arc::new(client(versions, true)), "localhost", &table, "127.0.0.1:443").expect("with");
        assert!(s.peer_certificates().is_some());
    }
}

#[test]
fn a_plain_session_does_not_resume_into_a_client_certificate_binding() {
    // One server, the same name on two addresses: plain on one, client certificates on the other.
    let b = Bindings::new();
    b.set(BindingKey::Addr(addr("127.0.0.1:443")), binding("localhost"));
    b.set(BindingKey::Addr(addr("127.0.0.2:443")), mutual(ClientCertificates::Required));
    let (_, table) = b.snapshot();
    for versions in [TLS13, TLS12] {
        let client = Arc::new(client(versions, true));
        let (_, s) = handshake(&client, "localhost", &table, "127.0.0.1:443").expect("plain");
        assert!(s.peer_certificates().is_none(), "the plain binding asks for none");
        let (_, s) = handshake(&client, "localhost", &table, "127.0.0.2:443").expect("mutual");
        assert_eq!(s.handshake_kind(), Some(HandshakeKind::Full), "{versions:?}");
        assert!(s.peer_certificates().is_some(), "verified, not resumed without a chain");
    }
    // Nor does a session of one client-certificate binding resume into a replacement of it.
    let client = Arc::new(client(TLS13, true));
    handshake(&client, "localhost", &table, "127.0.0.2:443").expect("first");
    b.set(BindingKey::Addr(addr("127.0.0.2:443")), mutual(ClientCertificates::Required));
    let (_, s) = handshake(&client, "localhost", &b.snapshot().1, "127.0.0.2:443").expect("after the set");
    assert_eq!(s.handshake_kind(), Some(HandshakeKind::Full));
}
