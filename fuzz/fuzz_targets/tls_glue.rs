//! The TLS glue (`hsys::tls::session::TlsConn`): whatever a client sends, however it is split,
//! the connection never panics (in it or inside rustls, whose unbuffered API panics when misused),
//! and its buffers stay bounded.
//!
//! The first byte picks the mode (see [`Mode`]), the next [`READS`] bytes give the sizes of the
//! reads; then, by mode:
//! - `RAW`: the rest is what the client sends;
//! - `HELLO`: a real client's first flight, with edits (a count byte, then `position: u16,
//!   xor: u8` triples) applied, then the rest; if the server answers, the client's next flight
//!   follows, before the rest;
//! - `AFTER`: a real client's handshake, then its request and `close_notify`, edited the same
//!   way, then the rest.
//!
//! Checked after each read, as the I/O loop plays it (pending records taken after every read):
//! - the held input is bounded (`MAX_HANDSHAKE_HELD`, or one record after the handshake), and
//!   nothing is held or pending after a failure is reported;
//! - a failure is sticky: later reads return the same one and add no output;
//! - no plaintext comes out before the handshake ends (hsys never accepts 0-RTT data).
#![no_main]

mod tls_fixture;
use std::io::Write;
use std::sync::{Arc, OnceLock};

use hsys::tls::session::{MAX_HANDSHAKE_HELD, TlsConn};
use libfuzzer_sys::fuzz_target;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use tls_fixture::{provider, server_config};

/// Read sizes after the mode byte.
const READS: usize = 4;

/// The modes (the mode byte modulo 3).
struct Mode;

impl Mode {
    /// Arbitrary bytes.
    const RAW: u8 = 0;
    /// A real client's first flight, edited.
    const HELLO: u8 = 1;
    /// A real client's records after a handshake, edited.
    const AFTER: u8 = 2;
}

/// The most a connection may buffer after a read whose pending records were taken: the held
/// input, in a buffer at most four times its length plus 1 KiB.
const MAX_BUFFERED: usize = 4 * MAX_HANDSHAKE_HELD + 1024;

/// The most records one read may produce (a server flight with its certificate chain, tickets).
const MAX_PENDING: usize = 64 * 1024;

/// A client config trusting the fixtures' CA.
fn client_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(include_bytes!("../../tests/fixtures/tls/ca.pem")) {
            roots.add(cert.expect("fixture")).expect("root");
        }
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    });
    Arc::clone(config)
}

/// The server side as the I/O loop plays it.
struct Server {
    conn: TlsConn,
    work: Vec<u8>,
    plain: Vec<u8>,
    /// The failure reported, if any.
    failed: Option<hsys::tls::TlsFailure>,
    /// The read sizes, used in turn.
    reads: [usize; READS],
    next_read: usize,
}

impl Server {
    /// Feeds `bytes` in the fuzzer's read sizes; returns the records the server sent.
    fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut sent = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let size = self.reads[self.next_read % READS].min(rest.len());
            self.next_read += 1;
            let (read, tail) = rest.split_at(size);
            rest = tail;
            let handshaking = self.conn.is_handshaking();
            let result = self.conn.open(read, &mut self.plain, &mut self.work);
            let mut out = Vec::new();
            self.conn.take_pending(&mut out);
            assert!(out.len() <= MAX_PENDING, "{} bytes pending", out.len());
            assert!(!self.conn.has_pending());
            match (self.failed, result) {
                (Some(before), now) => {
                    assert_eq!(now, Err(before), "a failure is sticky");
                    assert!(out.is_empty(), "output after a failure");
                }
                (None, Err(failure)) => {
                    self.failed = Some(failure);
                    assert_eq!(self.conn.buffered_capacity(), 0, "held input after a failure");
                }
                (None, Ok(())) => {}
            }
            if handshaking && self.conn.is_handshaking() {
                assert!(self.plain.is_empty(), "plaintext during the handshake");
            }
            assert!(self.conn.buffered_capacity() <= MAX_BUFFERED, "{} bytes buffered", self.conn.buffered_capacity());
            sent.extend_from_slice(&out);
        }
        sent
    }
}

/// Applies the edits at the front of `data` (a count byte, then `position: u16, xor: u8`
/// triples) to `bytes`; returns the rest of `data`.
fn edit<'a>(bytes: &mut [u8], data: &'a [u8]) -> &'a [u8] {
    let Some((&count, mut data)) = data.split_first() else {
        return data;
    };
    for _ in 0..count % 8 {
        let [hi, lo, xor, ref rest @ ..] = *data else {
            break;
        };
        data = rest;
        if !bytes.is_empty() {
            let at = usize::from(u16::from_be_bytes([hi, lo])) % bytes.len();
            bytes[at] ^= xor;
        }
    }
    data
}

/// Everything `client` has to send.
fn flight(client: &mut ClientConnection) -> Vec<u8> {
    let mut out = Vec::new();
    while client.wants_write() {
        if client.write_tls(&mut out).is_err() {
            break;
        }
    }
    out
}

/// Hands the server's records to the client; false if it refuses them.
fn deliver(client: &mut ClientConnection, mut records: &[u8]) -> bool {
    while !records.is_empty() {
        if client.read_tls(&mut records).is_err() || client.process_new_packets().is_err() {
            return false;
        }
    }
    true
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    if data.len() < READS {
        return;
    }
    let (sizes, data) = data.split_at(READS);
    let mut reads = [0; READS];
    for (read, &size) in reads.iter_mut().zip(sizes) {
        *read = 1 + usize::from(size) * 64;
    }
    let mut server = Server {
        conn: TlsConn::new(server_config(), Some("localhost")).expect("connection"),
        work: Vec::new(),
        plain: Vec::new(),
        failed: None,
        reads,
        next_read: 0,
    };
    let name = ServerName::try_from("localhost").expect("name");
    let tail = match mode % 3 {
        Mode::RAW => data,
        Mode::HELLO => {
            let mut client = ClientConnection::new(client_config(), name).expect("client");
            let mut hello = flight(&mut client);
            let tail = edit(&mut hello, data);
            let answer = server.feed(&hello);
            if server.failed.is_none() && deliver(&mut client, &answer) {
                let next = flight(&mut client);
                server.feed(&next);
            }
            tail
        }
        Mode::AFTER => {
            let mut client = ClientConnection::new(client_config(), name).expect("client");
            for _ in 0..4 {
                let records = flight(&mut client);
                let answer = server.feed(&records);
                if !deliver(&mut client, &answer) || !server.conn.is_handshaking() {
                    break;
                }
            }
            let _ = client.writer().write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
            client.send_close_notify();
            let mut records = flight(&mut client);
            let tail = edit(&mut records, data);
            server.feed(&records);
            if server.failed.is_none() && !server.conn.is_handshaking() {
                let mut out = Vec::new();
                let _ = server.conn.seal(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &mut out);
                server.conn.close_notify(&mut out);
            }
            tail
        }
        _ => unreachable!(),
    };
    server.feed(tail);
});
