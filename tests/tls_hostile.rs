//! Hostile input on TLS ports over real sockets: plaintext, noise, trickled and oversized
//! ClientHellos, silent clients, garbage after the handshake, and a crowd of handshakes. Each
//! must be closed (not hang), be counted by reason, not panic an I/O thread, and not stall the
//! other clients.

mod tls_common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use hsys::{Server, Timeouts};
use tls_common::{
    TlsClient, default_config, describe_handler, describing_server, failures, first_flight, get, read_raw,
    rustls_error, start, tcp, wait_until,
};

/// The server still serves a TLS client at once, and no I/O thread died.
fn still_serves(server: &Server, addr: SocketAddr) {
    let mut c = TlsClient::localhost(addr);
    assert_eq!(c.exchange(&get("/")).status, 200);
    assert_eq!(server.stats().io_threads_died, 0);
}

/// A small deterministic generator (xorshift64), for noise without a crate.
struct XorShift(u64);

impl XorShift {
    /// The next byte.
    fn byte(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 24) as u8
    }

    /// `n` bytes.
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
}

/// A one-thread TLS server whose handshakes must end within `header_wait`.
fn server_with_header_wait(header_wait: Duration) -> (Server, SocketAddr) {
    start(Server::builder().threads(1).timeouts(Timeouts::default().header_wait(header_wait)), describe_handler)
}

#[test]
fn plaintext_http_to_a_tls_port_is_closed_at_once_unanswered_and_counted() {
    let (server, addr) = describing_server();
    let mut s = tcp(addr);
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let (got, closed) = read_raw(&mut s);
    assert!(closed, "closed, not left open");
    assert!(got.is_empty(), "no bytes back: {:?}", String::from_utf8_lossy(&got));
    let f = failures(&server, 1);
    assert_eq!((f.not_tls, f.total()), (1, 1));
    assert_eq!(server.stats().tls_handshakes, 0);
    still_serves(&server, addr);
}

#[test]
fn random_bytes_are_closed_and_counted() {
    // (A short header wait: should noise ever look like the start of a hello, it is still ended.)
    let (server, addr) = server_with_header_wait(Duration::from_secs(1));
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let n = 8;
    for i in 0..n {
        let mut s = tcp(addr);
        let noise = rng.bytes(64 << i);
        let _ = s.write_all(&noise);
        let (_, closed) = read_raw(&mut s);
        assert!(closed, "noise #{i} (first byte {:#04x}): closed", noise[0]);
    }
    // A real record header and hello header, then noise: a broken hello.
    let mut s = tcp(addr);
    let mut hello = vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC];
    hello.extend(rng.bytes(0x1FC));
    s.write_all(&hello).unwrap();
    let (_, closed) = read_raw(&mut s);
    assert!(closed, "a hello of noise: closed");
    let f = failures(&server, n + 1);
    assert_eq!(f.total(), n + 1, "{f:?}");
    assert_eq!(f.timeout, 0, "each was judged on its bytes, not timed out: {f:?}");
    still_serves(&server, addr);
}

#[test]
fn a_client_hello_in_one_byte_writes_completes_the_handshake() {
    let (server, addr) = describing_server();
    let (conn, hello) = first_flight(default_config(), "localhost");
    let mut s = tcp(addr);
    for (i, b) in hello.iter().enumerate() {
        s.write_all(&[*b]).unwrap();
        // The headers (record, handshake, the hello's fixed part) each in a read of their own.
        if i < 64 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let mut c = TlsClient::over(conn, s);
    assert_eq!(c.exchange(&get("/")).text(), "Tls13 http/1.1 localhost false 0");
    assert_eq!(server.stats().tls_handshakes, 1);
    assert_eq!(server.stats().tls_failed.total(), 0);
}

#[test]
fn an_oversized_client_hello_is_closed_and_counted_too_large() {
    let (server, addr) = describing_server();
    // A full record claiming a 64 KiB hello: over the bound as soon as its length is read.
    let mut s = tcp(addr);
    let mut hello = vec![0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x01, 0x00, 0x00];
    hello.resize(5 + 0x4000, 0x41);
    s.write_all(&hello).unwrap();
    let (got, closed) = read_raw(&mut s);
    assert!(closed && got.is_empty(), "closed unanswered ({} bytes back)", got.len());
    assert_eq!(failures(&server, 1).too_large, 1);
    // A record header claiming more than a record may hold: broken framing, a protocol failure
    // (see `tls::hello`), closed without waiting for the bytes it announces.
    let mut s = tcp(addr);
    s.write_all(&[0x16, 0x03, 0x01, 0xFF, 0xFF, 0x01, 0x00, 0xFF, 0xFB]).unwrap();
    let (_, closed) = read_raw(&mut s);
    assert!(closed);
    let f = failures(&server, 2);
    assert_eq!((f.too_large, f.protocol), (1, 1), "{f:?}");
    still_serves(&server, addr);
}

#[test]
fn a_silent_client_and_half_a_hello_are_closed_after_header_wait_while_others_are_served() {
    let wait = Duration::from_secs(1);
    let (server, addr) = server_with_header_wait(wait);
    let start = Instant::now();
    let mut silent = tcp(addr);
    let mut half = tcp(addr);
    let (_, hello) = first_flight(default_config(), "localhost");
    half.write_all(&hello[..hello.len() / 2]).unwrap();
    // Meanwhile another client is served, well within the wait.
    still_serves(&server, addr);
    assert!(start.elapsed() < wait, "served at once, not after the others' timeouts");
    for (what, s) in [("silent", &mut silent), ("half a hello", &mut half)] {
        let (got, closed) = read_raw(s);
        assert!(closed && got.is_empty(), "{what}: closed unanswered");
        assert!(start.elapsed() >= wait - Duration::from_millis(100), "{what}: not before header_wait");
    }
    let f = failures(&server, 2);
    assert_eq!((f.timeout, f.total()), (2, 2), "{f:?}");
    still_serves(&server, addr);
}

#[test]
fn garbage_after_the_handshake_gets_an_alert_and_is_counted_as_protocol() {
    let (server, addr) = describing_server();
    let garbage: [&[u8]; 2] = [
        // An application-data record that does not decrypt.
        &[
            0x17, 0x03, 0x03, 0x00, 0x20, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
            7, 7, 7, 7, 7, 7,
        ],
        // Not a record at all: an unknown content type.
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    ];
    for (i, bytes) in garbage.into_iter().enumerate() {
        let mut c = TlsClient::localhost(addr);
        assert_eq!(c.exchange(&get("/")).status, 200);
        c.tcp().write_all(bytes).unwrap();
        let e = c.read_end().expect_err("an alert, then the close");
        assert!(
            rustls_error(&e).is_some_and(|r| matches!(r, rustls::Error::AlertReceived(_))),
            "garbage #{i}: expected an alert, got {e}"
        );
        let (_, closed) = read_raw(c.tcp());
        assert!(closed, "garbage #{i}: closed");
        assert_eq!(failures(&server, i as u64 + 1).protocol, i as u64 + 1);
    }
    still_serves(&server, addr);
}

#[test]
fn two_hundred_concurrent_handshakes_on_one_thread_all_succeed() {
    let (server, addr) = describing_server();
    let n = 200;
    let config = default_config();
    let barrier = Arc::new(Barrier::new(n));
    let clients: Vec<_> = (0..n)
        .map(|_| {
            let (config, barrier) = (config.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let tcp: TcpStream = tls_common::tcp(addr);
                let (conn, hello) = first_flight(config, "localhost");
                barrier.wait();
                let mut c = TlsClient::over(conn, tcp);
                c.tcp().write_all(&hello).expect("the hello");
                c.exchange(&get("/")).status
            })
        })
        .collect();
    for c in clients {
        assert_eq!(c.join().expect("a client"), 200);
    }
    let s = server.stats();
    assert_eq!((s.tls_handshakes, s.tls_failed.total()), (n as u64, 0));
}

#[test]
fn a_client_hello_fragmented_over_many_records_completes_the_handshake() {
    let (server, addr) = describing_server();
    let (conn, flight) = first_flight(default_config(), "localhost");
    // The hello's handshake message, re-framed into records of at most 50 bytes each.
    let message = &flight[5..5 + usize::from(u16::from_be_bytes([flight[3], flight[4]]))];
    let mut records = Vec::new();
    for piece in message.chunks(50) {
        records.extend_from_slice(&[0x16, 0x03, 0x01, 0x00, piece.len() as u8]);
        records.extend_from_slice(piece);
    }
    records.extend_from_slice(&flight[5 + message.len()..]);
    let mut s = tcp(addr);
    s.write_all(&records).unwrap();
    let mut c = TlsClient::over(conn, s);
    assert_eq!(c.exchange(&get("/")).text(), "Tls13 http/1.1 localhost false 0");
    assert_eq!(server.stats().tls_failed.total(), 0);
}

#[test]
fn other_first_records_are_not_tls_handshakes_and_are_closed_unanswered() {
    let (server, addr) = describing_server();
    let firsts: [&[u8]; 3] = [
        // A plaintext alert record.
        &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28],
        // An SSLv2-style hello.
        &[0x80, 0x2E, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10],
        // Application data before any handshake.
        &[0x17, 0x03, 0x03, 0x00, 0x01, 0x00],
    ];
    for (i, first) in firsts.iter().enumerate() {
        let mut s = tcp(addr);
        s.write_all(first).unwrap();
        let (got, closed) = read_raw(&mut s);
        assert!(closed && got.is_empty(), "#{i}: closed unanswered");
    }
    let f = failures(&server, 3);
    assert_eq!((f.not_tls, f.total()), (3, 3), "{f:?}");
    still_serves(&server, addr);
}

#[test]
fn a_tls11_client_hello_gets_a_protocol_version_alert() {
    let (server, addr) = describing_server();
    let config = tls_common::config(tls_common::Opts { versions: tls_common::TLS12, ..Default::default() });
    let (_, mut hello) = first_flight(config, "localhost");
    // Its supported_versions extension (type 43: a list of one version, TLS 1.2), made TLS 1.1.
    let ext = [0x00, 0x2B, 0x00, 0x03, 0x02, 0x03, 0x03];
    let at = hello.windows(ext.len()).position(|w| w == ext).expect("supported_versions");
    hello[at + 6] = 0x02;
    let mut s = tcp(addr);
    s.write_all(&hello).unwrap();
    let (got, closed) = read_raw(&mut s);
    assert!(closed, "closed");
    assert_eq!(got.first(), Some(&0x15), "an alert record: {got:?}");
    assert_eq!(got.last(), Some(&70), "protocol_version: {got:?}");
    assert_eq!(failures(&server, 1).protocol, 1);
    still_serves(&server, addr);
}

#[test]
fn clients_that_vanish_mid_handshake_or_mid_answer_leave_the_server_serving() {
    let body = vec![b'x'; 4 << 20];
    let (server, addr) =
        start(Server::builder().threads(1), move |_: &hsys::Request<'_>, res: &mut hsys::Response<'_>| {
            let _ = res.body(&body);
        });
    // A hello, then gone.
    let (_, hello) = first_flight(default_config(), "localhost");
    let mut s = tcp(addr);
    s.write_all(&hello).unwrap();
    drop(s);
    // Gone while a 4 MiB answer is on its way (closed with unread bytes: a reset).
    let mut c = TlsClient::localhost(addr);
    c.send(&get("/big")).unwrap();
    let mut first = [0u8; 100];
    std::io::Read::read_exact(&mut c.reader, &mut first).unwrap();
    drop(c);
    wait_until("both connections closed", || server.stats().current_connections == 0);
    let mut c = TlsClient::localhost(addr);
    assert_eq!(c.exchange(&get("/")).body.len(), 4 << 20);
    assert_eq!(server.stats().io_threads_died, 0);
}
