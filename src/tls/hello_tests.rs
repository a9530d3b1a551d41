//! The ClientHello peek on real hellos (captured from a rustls client) and on byte tables.

use std::borrow::Cow;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use super::{MAX_HELLO, Peek, peek};

/// The test CA that signs `localhost.pem` and `alt.pem`.
const CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/ca.pem");

/// A rustls client's first flight to `name`, with the given protocol versions and ALPN.
fn client_flight(name: &str, versions: &[&'static rustls::SupportedProtocolVersion], alpn: &[&[u8]]) -> Vec<u8> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(CA).expect("ca.pem") {
        roots.add(cert.expect("a certificate")).expect("a CA");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = ServerName::try_from(name.to_owned()).expect("a server name");
    let mut conn = ClientConnection::new(Arc::new(config), name).expect("a client");
    let mut flight = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut flight).expect("write_tls");
    }
    flight
}

/// A rustls client's first flight (TLS 1.3 and 1.2 offered) to `name`.
fn real_hello(name: &str) -> Vec<u8> {
    client_flight(name, rustls::DEFAULT_VERSIONS, &[])
}

/// The answer for a hello with this server name.
fn hello(name: Option<&str>) -> Peek<'_> {
    Peek::Hello { server_name: name.map(Cow::Borrowed) }
}

/// The handshake message (header included) inside a single-record hello.
fn message(flight: &[u8]) -> &[u8] {
    let len = usize::from(u16::from_be_bytes([flight[3], flight[4]]));
    &flight[5..5 + len]
}

/// `message` carried in records of the given sizes (the last takes the rest), version 0x0301.
fn records(message: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = message;
    for (i, &size) in sizes.iter().enumerate() {
        let size = if i + 1 == sizes.len() { rest.len() } else { size };
        let (fragment, tail) = rest.split_at(size);
        out.extend_from_slice(&[22, 3, 1]);
        out.extend_from_slice(&u16::try_from(fragment.len()).unwrap().to_be_bytes());
        out.extend_from_slice(fragment);
        rest = tail;
    }
    out
}

/// A handshake message of type `kind` around `body`.
fn handshake(kind: u8, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).unwrap().to_be_bytes();
    let mut out = vec![kind, len[1], len[2], len[3]];
    out.extend_from_slice(body);
    out
}

/// `data` behind a big-endian u16 length.
fn u16_len(data: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(data.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(data);
    out
}

/// One extension.
fn extension(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut out = kind.to_be_bytes().to_vec();
    out.extend_from_slice(&u16_len(data));
    out
}

/// A server_name extension's data with one host_name.
fn sni_data(name: &[u8]) -> Vec<u8> {
    let mut entry = vec![0];
    entry.extend_from_slice(&u16_len(name));
    u16_len(&entry)
}

/// A ClientHello body: legacy_version, random, an empty session id, one suite, null
/// compression, then `extensions` as given (a whole block with its length, or nothing).
fn body(extensions: &[u8]) -> Vec<u8> {
    let mut out = vec![3, 3];
    out.extend_from_slice(&[7; 32]);
    out.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    out.extend_from_slice(extensions);
    out
}

/// A single-record ClientHello with these extensions.
fn synthetic(extensions: &[Vec<u8>]) -> Vec<u8> {
    records(&handshake(1, &body(&u16_len(&extensions.concat()))), &[usize::MAX])
}

/// A single-record ClientHello whose SNI host_name is `name`, between two other extensions.
fn with_name(name: &[u8]) -> Vec<u8> {
    synthetic(&[extension(10, &[0, 2, 0, 29]), extension(0, &sni_data(name)), extension(43, &[2, 3, 4])])
}

#[test]
fn real_hellos_give_their_server_name() {
    let tls12 = client_flight("alt.test", &[&rustls::version::TLS12], &[b"http/1.1"]);
    let tls13 = client_flight("localhost", &[&rustls::version::TLS13], &[b"h2", b"http/1.1"]);
    let cases: [(Vec<u8>, Option<&str>); 5] = [
        (real_hello("localhost"), Some("localhost")),
        (real_hello("alt.test"), Some("alt.test")),
        (real_hello("127.0.0.1"), None),
        (tls12, Some("alt.test")),
        (tls13, Some("localhost")),
    ];
    for (flight, name) in &cases {
        assert_eq!(peek(flight), hello(*name), "{name:?}");
    }
}

#[test]
fn every_prefix_of_a_real_hello_needs_more() {
    for flight in [real_hello("localhost"), real_hello("127.0.0.1")] {
        for n in 0..flight.len() {
            assert_eq!(peek(&flight[..n]), Peek::NeedMore, "prefix of {n} bytes");
        }
    }
}

#[test]
fn trailing_bytes_do_not_matter() {
    let flight = real_hello("localhost");
    let tails: [&[u8]; 4] =
        [b"\x14\x03\x03\x00\x01\x01", b"\x17\x03\x03\x00\x05hello", b"GET / HTTP/1.1\r\n", &[0xff; 300]];
    for tail in tails {
        let mut bytes = flight.clone();
        bytes.extend_from_slice(tail);
        assert_eq!(peek(&bytes), hello(Some("localhost")));
    }
    // Bytes after the message inside its own record (say, a second handshake message).
    let mut msg = message(&flight).to_vec();
    msg.extend_from_slice(&handshake(20, &[0; 12]));
    assert_eq!(peek(&records(&msg, &[usize::MAX])), hello(Some("localhost")));
    // The same when the message ends inside a later record.
    let split = records(&msg, &[100, usize::MAX]);
    assert_eq!(peek(&split), hello(Some("localhost")));
}

#[test]
fn plaintext_http_is_not_tls_from_the_first_byte() {
    let requests: [&[u8]; 6] = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /a HTTP/1.1\r\n",
        b"HEAD / HTTP/1.0\r\n",
        b"OPTIONS * HTTP/1.1\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"\r\nGET / HTTP/1.1\r\n",
    ];
    for request in requests {
        for n in 1..=request.len() {
            assert_eq!(peek(&request[..n]), Peek::NotTls, "{:?}", String::from_utf8_lossy(&request[..n]));
        }
    }
}

#[test]
fn other_protocols_and_versions_are_not_tls() {
    let cases: [&[u8]; 9] = [
        // An SSLv2-style (2-byte header) ClientHello offering SSL 3.0/TLS 1.0.
        &[0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10],
        &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28], // an alert record
        &[0x17, 0x03, 0x03, 0x00, 0x01, 0x00],       // application data
        &[0x14, 0x03, 0x03, 0x00, 0x01, 0x01],       // change_cipher_spec
        &[0x16, 0x02, 0x00],                         // SSL 2.0 version
        &[0x16, 0x03, 0x05],                         // an unknown 3.x
        &[0x16, 0xfe, 0xfd],                         // DTLS 1.2
        &[0x00, 0x00, 0x00, 0x00],                   // noise
        b"SSH-2.0-OpenSSH_9.6\r\n",
    ];
    for bytes in cases {
        assert_eq!(peek(bytes), Peek::NotTls, "{bytes:02x?}");
    }
    // Decided from the first byte that differs, whatever follows.
    assert_eq!(peek(&[0x16, 0x03, 0x05]), Peek::NotTls);
    assert_eq!(peek(&[0x16, 0x04]), Peek::NotTls);
    assert_eq!(peek(&[0x16, 0x03]), Peek::NeedMore);
}

#[test]
fn record_versions_3_0_to_3_4_are_taken() {
    let flight = real_hello("localhost");
    for minor in 0..=4 {
        let mut bytes = flight.clone();
        bytes[2] = minor;
        assert_eq!(peek(&bytes), hello(Some("localhost")), "3.{minor}");
    }
}

#[test]
fn fragmented_hellos_give_the_same_answer() {
    let flight = real_hello("alt.test");
    let msg = message(&flight);
    // Where the name lies, to cut through it as well.
    let at = msg.windows(8).position(|w| w == b"alt.test").unwrap();
    let splits: [&[usize]; 8] = [
        &[1, usize::MAX],
        &[3, usize::MAX],
        &[4, usize::MAX],
        &[100, usize::MAX],
        &[at + 3, usize::MAX],
        &[1, 1, usize::MAX],
        &[2, at, usize::MAX],
        &[50, at - 50 + 4, usize::MAX],
    ];
    for sizes in splits {
        let bytes = records(msg, sizes);
        assert_eq!(peek(&bytes), hello(Some("alt.test")), "records {sizes:?}");
        for n in 0..bytes.len() {
            assert_eq!(peek(&bytes[..n]), Peek::NeedMore, "records {sizes:?}, prefix {n}");
        }
    }
    // One record per byte.
    let bytes = records(msg, &vec![1; msg.len()]);
    assert_eq!(peek(&bytes), hello(Some("alt.test")));
}

#[test]
fn names_are_given_as_sent_if_they_are_dns_names() {
    let cases: [(&[u8], Option<&str>); 14] = [
        (b"Example.COM", Some("Example.COM")),
        (b"a-b.c-d.test", Some("a-b.c-d.test")),
        (b"localhost", Some("localhost")),
        (b"example.com.", Some("example.com.")), // the bindings ignore the trailing dot
        (b"a_b.test", Some("a_b.test")),         // rustls takes it
        (b"bad name.test", None),                // a space
        (b"-a.test", None),
        (b"a-.test", None),
        (b"a..test", None),
        (b"127.0.0.1", None), // an IP address
        (b"::1", None),
        (b"caf\xc3\xa9.test", None), // not ASCII
        (b"\xff\xfe", None),         // not UTF-8
        (&[b'a'; 64], None),         // a label over 63 bytes
    ];
    for (name, expected) in cases {
        assert_eq!(peek(&with_name(name)), hello(expected), "{:?}", String::from_utf8_lossy(name));
    }
    let long = [[b'a'; 63].as_slice(); 4].join(&b'.');
    assert_eq!(peek(&with_name(&long[..253])), hello(Some(std::str::from_utf8(&long[..253]).unwrap())));
    assert_eq!(peek(&with_name(&[&long[..253], b"b"].concat())), hello(None)); // 254 bytes
}

#[test]
fn hellos_without_a_usable_name() {
    let no_sni = synthetic(&[extension(10, &[0, 2, 0, 29])]);
    let no_extensions_block = records(&handshake(1, &body(&[])), &[usize::MAX]);
    let empty_extensions = synthetic(&[]);
    // An unknown name type first: the list cannot be read past it.
    let mut entries = vec![7, 0, 3, b'x', b'y', b'z', 0];
    entries.extend_from_slice(&u16_len(b"localhost"));
    let other_type_first = synthetic(&[extension(0, &u16_len(&entries))]);
    for bytes in [no_sni, no_extensions_block, empty_extensions, other_type_first] {
        assert_eq!(peek(&bytes), hello(None));
    }
    // Two server_name extensions: the first one speaks (rustls refuses the hello).
    let two = synthetic(&[extension(0, &sni_data(b"one.test")), extension(0, &sni_data(b"two.test"))]);
    assert_eq!(peek(&two), hello(Some("one.test")));
}

#[test]
fn broken_structure_is_malformed() {
    let good = with_name(b"localhost");
    assert_eq!(peek(&good), hello(Some("localhost")));
    let msg = message(&good).to_vec();
    // The ClientHello body with one field replaced, in one record.
    let with_body = |b: Vec<u8>| records(&handshake(1, &b), &[usize::MAX]);
    let exts = u16_len(&extension(0, &sni_data(b"localhost")));
    let tail_from = |at: usize| body(&exts)[at..].to_vec();
    let mut long_session = body(&[])[..34].to_vec();
    long_session.push(33);
    long_session.extend_from_slice(&[0; 33]);
    long_session.extend_from_slice(&tail_from(35));

    let mut second_not_handshake = records(&msg, &[10, usize::MAX]);
    second_not_handshake[15] = 0x17;
    let mut second_bad_version = records(&msg, &[10, usize::MAX]);
    second_bad_version[16] = 2;
    let mut second_empty = records(&msg[..10], &[usize::MAX]);
    second_empty.extend_from_slice(&[22, 3, 1, 0, 0]);

    let cases: [(&str, Vec<u8>); 20] = [
        ("record length 0", vec![22, 3, 1, 0, 0]),
        ("record length 2^14 + 1", vec![22, 3, 1, 0x40, 0x01]),
        ("record length 0xffff", vec![22, 3, 3, 0xff, 0xff]),
        ("a server_hello", records(&handshake(2, &body(&exts)), &[usize::MAX])),
        ("a finished message", vec![22, 3, 3, 0, 1, 20]),
        ("message longer than its content", records(&handshake(1, &body(&exts)[..60]), &[usize::MAX])),
        ("empty message", records(&handshake(1, &[]), &[usize::MAX])),
        ("session id over 32", with_body(long_session)),
        ("odd cipher suites length", with_body([&body(&[])[..35], &[0, 3, 0x13, 1, 0x13], &tail_from(39)].concat())),
        ("no cipher suites", with_body([&body(&[])[..35], &[0, 0], &tail_from(39)].concat())),
        ("no compression methods", with_body([&body(&[])[..39], &[0], &tail_from(41)].concat())),
        ("extensions longer than the message", with_body(body(&[&exts[..], &[0, 0]].concat()))),
        ("bytes after the extensions", {
            let mut b = body(&exts);
            b.extend_from_slice(&[0, 0]);
            with_body(b)
        }),
        ("one byte of extensions length", with_body(body(&[0]))),
        ("an extension past the block", with_body(body(&u16_len(&[0, 10, 0, 9, 0, 1])))),
        ("SNI list length disagrees", synthetic(&[extension(0, &[0, 9, 0, 0, 3, b'a', b'b', b'c'])])),
        ("SNI list empty", synthetic(&[extension(0, &[0, 0])])),
        ("SNI extension empty", synthetic(&[extension(0, &[])])),
        ("host_name empty", synthetic(&[extension(0, &sni_data(b""))])),
        ("host_name past the list", synthetic(&[extension(0, &[0, 4, 0, 0, 9, b'a'])])),
    ];
    for (what, bytes) in &cases {
        assert_eq!(peek(bytes), Peek::Malformed, "{what}");
    }
    for (what, bytes) in [
        ("second record not handshake", second_not_handshake),
        ("second record's version", second_bad_version),
        ("second record empty", second_empty),
    ] {
        assert_eq!(peek(&bytes), Peek::Malformed, "{what}");
    }
}

#[test]
fn oversized_hellos_are_too_large() {
    // A message whose header says 2^14 - 3 bytes cannot fit one record: known from 9 bytes.
    let header = [22, 3, 1, 0x40, 0x00, 1, 0x00, 0x3f, 0xfd];
    assert_eq!(peek(&header), Peek::TooLarge);
    assert_eq!(peek(&[22, 3, 1, 0x40, 0x00, 1, 0xff, 0xff, 0xff]), Peek::TooLarge);
    // 2^14 - 4 bytes fit exactly.
    let padding = 16 * 1024 - 4 - body(&[]).len() - 2 - 4;
    let big = synthetic(&[extension(21, &vec![0; padding])]);
    assert_eq!(big.len(), MAX_HELLO);
    assert_eq!(peek(&big), hello(None));
    assert_eq!(peek(&big[..9]), Peek::NeedMore);
    // The same message fragmented over two records does not: the second header passes the bound.
    let split = records(message(&big), &[1000, usize::MAX]);
    assert_eq!(peek(&split[..1010]), Peek::TooLarge);
    // A fragmented message header that announces too much.
    let msg = [1, 0xff, 0xff, 0xff];
    assert_eq!(peek(&records(&msg, &[1, 1, 1, 1])), Peek::TooLarge);
}

#[test]
fn verdicts_are_final() {
    // Every prefix of every case above is NeedMore or the whole input's verdict.
    let mut inputs = vec![real_hello("localhost"), with_name(b"example.com."), b"GET / HTTP/1.1\r\n".to_vec()];
    inputs.push(records(message(&real_hello("alt.test")), &[2, 40, usize::MAX]));
    inputs.push(vec![22, 3, 1, 0, 9, 2, 0, 0, 5, 0, 0, 0, 0, 0]);
    for bytes in &inputs {
        let whole = peek(bytes);
        for n in 0..bytes.len() {
            let part = peek(&bytes[..n]);
            assert!(part == Peek::NeedMore || part == whole, "{part:?} then {whole:?}");
        }
    }
}
