//! Loading certificates, keys and client CAs; the config's settings. Handshakes are in
//! `bindings_tests.rs`.

use super::*;
use crate::ErrorKind;

/// The test certificates' directory.
const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/");

/// A fixture file's path.
fn path(name: &str) -> PathBuf {
    PathBuf::from(DIR).join(name)
}

/// A fixture file's bytes.
fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(path(name)).expect("fixture")
}

#[test]
fn loads_the_fixtures() {
    for name in ["localhost", "alt", "client"] {
        let from_files = TlsCertificate::from_pem_files(path(&format!("{name}.pem")), path(&format!("{name}.key")));
        let cert = from_files.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(cert.key.cert.len(), 1);
        let from_memory = TlsCertificate::from_pem(&bytes(&format!("{name}.pem")), &bytes(&format!("{name}.key")));
        assert_eq!(from_memory.expect("from memory").key.cert, cert.key.cert);
    }
    ClientCa::from_pem_file(path("client-ca.pem")).expect("client CA");
    ClientCa::from_pem(&bytes("ca.pem")).expect("CA");
    // A bundle of several CAs.
    ClientCa::from_pem(&[bytes("ca.pem"), bytes("client-ca.pem")].concat()).expect("bundle");
}

#[test]
fn a_key_that_does_not_match_is_refused() {
    let err = TlsCertificate::from_pem(&bytes("localhost.pem"), &bytes("alt.key")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Certificate);
    assert!(err.to_string().contains("does not match"), "{err}");

    let err = TlsCertificate::from_pem_files(path("localhost.pem"), path("alt.key")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Certificate);
    assert!(err.to_string().contains("alt.key"), "names the key file: {err}");
}

#[test]
fn a_missing_file_is_named() {
    let missing = path("missing.pem");
    let err = TlsCertificate::from_pem_files(&missing, path("localhost.key")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Certificate);
    assert!(err.to_string().contains(&*missing.to_string_lossy()), "{err}");
    let source = std::error::Error::source(&err).expect("source");
    assert!(std::error::Error::source(source).is_some(), "the io::Error is in the chain");

    let err = TlsCertificate::from_pem_files(path("localhost.pem"), path("missing.key")).unwrap_err();
    assert!(err.to_string().contains("missing.key"), "{err}");

    let err = ClientCa::from_pem_file(path("missing-ca.pem")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Certificate);
    assert!(err.to_string().contains("missing-ca.pem"), "{err}");
}

#[test]
fn garbage_is_refused() {
    let cert = bytes("localhost.pem");
    let key = bytes("localhost.key");
    let bad_base64 = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".to_vec();
    let not_a_cert = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec();
    let cases: &[(&str, &[u8], &[u8])] = &[
        ("not PEM at all", b"hello", &key),
        ("empty chain", b"", &key),
        ("a key where the chain goes", &key, &key),
        ("bad base64", &bad_base64, &key),
        ("DER that is no certificate", &not_a_cert, &key),
        ("no key", &cert, b"hello"),
        ("a certificate where the key goes", &cert, &cert),
    ];
    for (what, chain, key) in cases {
        match TlsCertificate::from_pem(chain, key) {
            Ok(_) => panic!("{what}: loaded"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::Certificate, "{what}: {e}"),
        }
    }
    for (what, pem) in [("not PEM", &b"hello"[..]), ("bad base64", &bad_base64), ("a key", &key)] {
        match ClientCa::from_pem(pem) {
            Ok(_) => panic!("CA {what}: loaded"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::Certificate, "CA {what}: {e}"),
        }
    }
}

#[test]
fn config_builds() {
    let cert = TlsCertificate::from_pem_files(path("localhost.pem"), path("localhost.key")).expect("cert");
    let ca = ClientCa::from_pem_file(path("client-ca.pem")).expect("CA");
    let shared = Resumption::new();
    assert!(shared.ticketer.is_some(), "the ticketer is made");
    for client in [ClientCertificates::Off, ClientCertificates::Optional(ca.clone()), ClientCertificates::Required(ca)]
    {
        let asks = !matches!(client, ClientCertificates::Off);
        let binding = CertBinding::new(cert.clone()).client_certificates(client);
        let config = server_config(&binding, &shared, false);
        assert!(config.ignore_client_order);
        assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
        assert_eq!(config.max_early_data_size, 0);
        assert_eq!(config.send_tls13_tickets, 1);
        assert!(config.ticketer.enabled());
        // Client-certificate bindings resume only their own sessions.
        assert_eq!(Arc::ptr_eq(&config.session_storage, &shared.cache), !asks);
    }
}

#[test]
fn provider_order() {
    use rustls::CipherSuite as S;
    let provider = provider();
    let suites: Vec<S> = provider.cipher_suites.iter().map(|s| s.suite()).collect();
    assert_eq!(
        suites,
        [
            S::TLS13_AES_128_GCM_SHA256,
            S::TLS13_AES_256_GCM_SHA384,
            S::TLS13_CHACHA20_POLY1305_SHA256,
            S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ]
    );
    let groups: Vec<rustls::NamedGroup> = provider.kx_groups.iter().map(|g| g.name()).collect();
    assert_eq!(
        groups,
        [
            rustls::NamedGroup::X25519,
            rustls::NamedGroup::secp256r1,
            rustls::NamedGroup::secp384r1,
            rustls::NamedGroup::X25519MLKEM768
        ]
    );
}

#[test]
fn errors_read_well() {
    let err = TlsCertificate::from_pem(b"", b"").unwrap_err();
    assert_eq!(err.to_string(), "TLS certificate: no CERTIFICATE block");
}
