//! The server-side TLS + HTTP/1 glue: what a client sends over TLS, however its records are split
//! across reads, gets the same answers as the same bytes sent in the clear.
//!
//! The input is `conn`'s (see `conn.rs` and `common`): a mode byte, [`READS`](common::READS) read
//! sizes, then the plaintext a client sends (with a blank line after it). In memory, a rustls
//! client and the server's `TlsConn` (the test fixtures' `localhost` certificate, ALPN
//! `http/1.1`) complete a handshake: TLS 1.3, or TLS 1.2 when the first read size is odd. The
//! client then writes the plaintext in pieces of the read sizes (one `write_all` each, so each
//! becomes its own record; over TLS 1.3, a piece of odd length is followed by a `KeyUpdate` that
//! asks the server for one too), and its records are fed to `TlsConn::open` as the I/O loop does:
//! the plaintext each read opens goes to an `h1::Conn` (nothing when a read opens none), played
//! as `conn`'s caller plays it; after each read, `h1`'s output is sealed (the session's pending
//! records first), or the pending records go alone, and the client decrypts them. Once the
//! connection is finished the server sends `close_notify` and reads no more. What the client
//! decrypts is the output.
//!
//! Checked:
//! - the records fed whole (one read) give the same answers as the plaintext fed to `h1` whole,
//!   byte for byte: `h1` gets the same single read;
//! - fed in the read sizes (in reverse order, so the cuts fall elsewhere than the records'
//!   ends), and byte by byte (when short), they give the same answers as fed whole, under
//!   `conn`'s comparison rules (timing-only differences);
//! - the server never fails on the client's records, nor to seal; the client accepts every
//!   record the server sends; `close_notify` reaches the client exactly when the connection
//!   finished; and a connection fed to the end holds no buffer.
//!
//! Each run does three handshakes (a `TlsConn` cannot be cloned), so this target runs slowly.
#![no_main]

mod common;
mod tls_fixture;

use std::io::{ErrorKind, Read, Write};
use std::sync::{Arc, OnceLock};

use common::{Case, Play, cut, same, serve, show, strip};
use hsys::TlsVersion;
use hsys::h1::conn::CONTINUE;
use hsys::tls::session::TlsConn;
use libfuzzer_sys::fuzz_target;
use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use tls_fixture::{provider, server_config};

/// Inputs at most this long are also fed byte by byte.
const TRICKLE_MAX: usize = 1024;

/// The most round trips a handshake takes (TLS 1.2 takes two, TLS 1.3 two with the tickets).
const HANDSHAKE_ROUNDS: usize = 4;

/// A client config trusting the fixtures' CA, offering TLS 1.2 only or TLS 1.3 only. It never
/// resumes, so every run does the same full handshake whatever ran before it.
fn client_config(tls12: bool) -> Arc<ClientConfig> {
    static CONFIGS: OnceLock<[Arc<ClientConfig>; 2]> = OnceLock::new();
    let configs = CONFIGS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(include_bytes!("../../tests/fixtures/tls/ca.pem")) {
            roots.add(cert.expect("fixture")).expect("root");
        }
        [&rustls::version::TLS13, &rustls::version::TLS12].map(|version| {
            let mut config = ClientConfig::builder_with_provider(provider())
                .with_protocol_versions(&[version])
                .expect("versions")
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            config.resumption = Resumption::disabled();
            Arc::new(config)
        })
    });
    Arc::clone(&configs[usize::from(tls12)])
}

/// Everything `client` has to send.
fn flight(client: &mut ClientConnection) -> Vec<u8> {
    let mut out = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut out).expect("writing to a vector");
    }
    out
}

/// How the client's records are cut into the server's reads.
#[derive(Clone, Copy)]
enum Feed<'a> {
    /// All in one read.
    Whole,
    /// In these sizes, then the rest.
    Sizes(&'a [usize]),
    /// One byte at a time.
    Bytes,
}

/// A client and the server's session, connected in memory.
struct Link {
    client: ClientConnection,
    server: TlsConn,
    /// The scratch buffer the loop lends `open`.
    work: Vec<u8>,
    /// What the client decrypted.
    received: Vec<u8>,
    /// The client received `close_notify`.
    closed: bool,
}

impl Link {
    /// A connection whose handshake is complete, its last records (tickets) delivered.
    fn handshake(tls12: bool) -> Link {
        let name = ServerName::try_from("localhost").expect("name");
        let mut link = Link {
            client: ClientConnection::new(client_config(tls12), name).expect("client"),
            server: TlsConn::new(server_config(), Some("localhost")).expect("server"),
            work: Vec::new(),
            received: Vec::new(),
            closed: false,
        };
        for _ in 0..HANDSHAKE_ROUNDS {
            if !link.client.is_handshaking() && !link.server.is_handshaking() {
                break;
            }
            let records = flight(&mut link.client);
            let plain = link.open(&records);
            assert!(plain.is_empty(), "plaintext during the handshake");
            let mut answer = Vec::new();
            link.server.take_pending(&mut answer);
            link.deliver(&answer);
        }
        assert!(!link.client.is_handshaking() && !link.server.is_handshaking(), "the handshake did not finish");
        let info = link.server.info().expect("established");
        let version = if tls12 { TlsVersion::Tls12 } else { TlsVersion::Tls13 };
        assert_eq!(info.version, version);
        assert_eq!(info.alpn.as_deref(), Some(&b"http/1.1"[..]));
        assert_eq!(link.client.alpn_protocol(), Some(&b"http/1.1"[..]));
        link
    }

    /// The server opens `cipher` (one read); the plaintext it brings.
    fn open(&mut self, cipher: &[u8]) -> Vec<u8> {
        let mut plain = Vec::new();
        if let Err(failure) = self.server.open(cipher, &mut plain, &mut self.work) {
            panic!("the server failed on a valid client's records: {failure:?}");
        }
        plain
    }

    /// Makes `out` (`h1`'s output, taken) ready for the socket as the loop does: sealed after the
    /// session's pending records, or those alone; the client reads them.
    fn seal_out(&mut self, out: &mut Vec<u8>) {
        let mut records = Vec::new();
        if out.is_empty() {
            self.server.take_pending(&mut records);
        } else if let Err(failure) = self.server.seal(out, &mut records) {
            panic!("sealing failed: {failure:?}");
        }
        out.clear();
        assert!(!self.server.has_pending());
        self.deliver(&records);
    }

    /// The server's last word, `close_notify`, to the client.
    fn close(&mut self) {
        let mut records = Vec::new();
        self.server.close_notify(&mut records);
        self.deliver(&records);
    }

    /// The client takes the server's `records` and decrypts them.
    fn deliver(&mut self, mut records: &[u8]) {
        while !records.is_empty() {
            assert!(!self.closed, "records after close_notify");
            self.client.read_tls(&mut records).expect("the client reads the records");
            if let Err(e) = self.client.process_new_packets() {
                panic!("the client refused the server's records: {e}");
            }
            let mut buf = [0; 4096];
            loop {
                match self.client.reader().read(&mut buf) {
                    Ok(0) => {
                        self.closed = true;
                        break;
                    }
                    Ok(n) => self.received.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("the client's read: {e}"),
                }
            }
        }
    }
}

/// Serves `case` over TLS, the client's records fed as `feed` says; returns what the client
/// decrypted, without `100 Continue`, and whether the connection ended closed.
fn serve_tls(case: &Case, tls12: bool, feed: Feed<'_>) -> (Vec<u8>, bool) {
    let env = case.env();
    let mut link = Link::handshake(tls12);
    let mut cipher = Vec::new();
    for piece in cut(&case.input, case.sizes.iter().copied()) {
        link.client.writer().write_all(piece).expect("the client writes");
        if !tls12 && piece.len() % 2 == 1 {
            // The server must answer with its own key update, before what it seals next.
            link.client.refresh_traffic_keys().expect("a key update");
        }
        cipher.extend_from_slice(&flight(&mut link.client));
    }
    let reads = match feed {
        Feed::Whole => vec![&cipher[..]],
        Feed::Sizes(sizes) => cut(&cipher, sizes.iter().rev().copied()),
        Feed::Bytes => cipher.chunks(1).collect(),
    };
    let mut play = Play::new(case.mode);
    let mut out = Vec::new();
    let mut finished = false;
    for read in reads {
        let plain = link.open(read);
        // (Records with no application data in them bring `h1` nothing.)
        if !plain.is_empty() {
            finished = play.read(&plain, &env, &mut out);
        }
        link.seal_out(&mut out);
        if finished {
            link.close();
            break;
        }
    }
    assert_eq!(link.closed, finished, "close_notify sent exactly when the connection finished");
    if !finished {
        assert_eq!(link.server.buffered_capacity(), 0, "an idle connection holds no buffer");
    }
    (strip(&link.received, CONTINUE), play.is_closed())
}

fuzz_target!(|data: &[u8]| {
    let case = Case::new(data);
    let tls12 = case.sizes.first().is_some_and(|s| s % 2 == 1);
    let direct = serve(&case.env(), case.mode, &[&case.input]);
    let whole = serve_tls(&case, tls12, Feed::Whole);
    assert!(whole == direct, "whole over TLS:\n{}\n---- in the clear:\n{}", show(&whole.0), show(&direct.0));
    let split = serve_tls(&case, tls12, Feed::Sizes(&case.sizes));
    assert!(
        same(case.mode, &split, &whole),
        "reads {:?}:\n{}\n---- whole:\n{}",
        case.sizes,
        show(&split.0),
        show(&whole.0)
    );
    if case.input.len() <= TRICKLE_MAX {
        let trickled = serve_tls(&case, tls12, Feed::Bytes);
        assert!(
            same(case.mode, &trickled, &whole),
            "byte by byte:\n{}\n---- whole:\n{}",
            show(&trickled.0),
            show(&whole.0)
        );
    }
});
