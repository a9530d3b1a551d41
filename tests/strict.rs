//! Strict request parsing over real sockets: every malformed or ambiguous request is answered with
//! its status and `Connection: close`, and nothing a client pipelines after it is ever answered.

mod support;

use std::io::{ErrorKind, Read};
use std::net::SocketAddr;
use std::time::Duration;

use hsys::{Limits, Request, Response, Server, Strictness, Timeouts};
use support::{Client, Resp, get};

/// Bound on every read: a server that neither answers nor closes fails the test instead of hanging it.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// A valid request pipelined behind every row: it must never be answered after a refused request.
const AFTER: &[u8] = b"GET /after HTTP/1.1\r\nHost: t\r\n\r\n";

/// Small limits, so each one is easy to break with a short request.
fn limits(strictness: Strictness) -> Limits {
    Limits::default()
        .max_request_bytes(1024)
        .max_field_length(256)
        .max_url_length(128)
        .max_headers(8)
        .max_chunk_extra_bytes(64)
        .strictness(strictness)
}

/// A one-thread server on 127.0.0.1 answering every request with its target.
fn start(strictness: Strictness) -> (Server, SocketAddr) {
    let server = Server::builder()
        .threads(1)
        .bind("127.0.0.1:0")
        .limits(limits(strictness))
        .serve(|req: &Request<'_>, res: &mut Response<'_>| {
            let _ = res.body(req.target().as_bytes());
        })
        .expect("serve");
    let addr = server.local_addrs()[0];
    (server, addr)
}

fn connect(addr: SocketAddr) -> Client {
    let c = Client::connect(addr);
    c.reader.get_ref().set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    c
}

/// Asserts the server closed the connection without sending anything more: end-of-file (or a reset)
/// with no bytes, not a read timeout.
fn assert_eof(c: &mut Client, name: &str) {
    let mut rest = Vec::new();
    let read = c.reader.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{name}: bytes after the answer: {:?}", String::from_utf8_lossy(&rest));
    match read {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("{name}: the connection was not closed: {e}"),
    }
}

/// Asserts the server still serves a fresh connection.
fn assert_serves(addr: SocketAddr, name: &str) {
    let mut c = connect(addr);
    let r = c.exchange(&get("/fresh"));
    assert_eq!((r.status, r.body.as_slice()), (200, &b"/fresh"[..]), "{name}: a fresh connection");
}

/// Sends `raw` and then [`AFTER`] on a fresh connection; asserts one answer with `status` and
/// `Connection: close`, then end-of-file; then that a fresh connection is served.
fn assert_refused(addr: SocketAddr, name: &str, raw: &[u8], status: u16) {
    let mut c = connect(addr);
    c.send(&[raw, AFTER].concat());
    let r = c.try_read(false).unwrap_or_else(|| panic!("{name}: no answer"));
    assert_eq!(r.status, status, "{name}: {r:?}");
    assert_eq!(r.header("connection"), Some("close"), "{name}: {r:?}");
    assert_eof(&mut c, name);
    assert_serves(addr, name);
}

/// Sends `raw` and then [`AFTER`] on a fresh connection; asserts a `200` whose body is `target`,
/// then the answer to `AFTER`, and that the connection still serves a third request.
fn assert_accepted(addr: SocketAddr, name: &str, raw: &[u8], target: &str) {
    let mut c = connect(addr);
    c.send(&[raw, AFTER].concat());
    let expect = |r: Option<Resp>, target: &str| {
        let r = r.unwrap_or_else(|| panic!("{name}: no answer for {target}"));
        assert_eq!((r.status, r.body.as_slice()), (200, target.as_bytes()), "{name}: {r:?}");
        assert_ne!(r.header("connection"), Some("close"), "{name}: {r:?}");
    };
    expect(c.try_read(false), target);
    expect(c.try_read(false), "/after");
    c.send(&get("/again"));
    expect(c.try_read(false), "/again");
}

/// `Name: ` followed by `n` bytes of value.
fn field(name: &str, n: usize) -> String {
    format!("{name}: {}\r\n", "v".repeat(n))
}

/// Requests every server refuses, whatever its strictness: (name, raw request, status).
fn refused_always() -> Vec<(&'static str, Vec<u8>, u16)> {
    let rows: Vec<(&'static str, String, u16)> = vec![
        // Host (RFC 9112 §3.2).
        ("HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n".into(), 400),
        ("two Host", "GET / HTTP/1.1\r\nHost: t\r\nHost: t\r\n\r\n".into(), 400),
        ("two Host, different case", "GET / HTTP/1.1\r\nHost: t\r\nhost: u\r\n\r\n".into(), 400),
        ("Host with a space", "GET / HTTP/1.1\r\nHost: exa mple\r\n\r\n".into(), 400),
        ("Host with a path", "GET / HTTP/1.1\r\nHost: t/x\r\n\r\n".into(), 400),
        ("Host with a bad port", "GET / HTTP/1.1\r\nHost: t:65536\r\n\r\n".into(), 400),
        ("Host with userinfo", "GET / HTTP/1.1\r\nHost: u@t\r\n\r\n".into(), 400),
        ("empty Host, origin-form", "GET / HTTP/1.1\r\nHost:\r\n\r\n".into(), 400),
        ("empty Host, asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: \r\n\r\n".into(), 400),
        // The authority of an absolute-form target, by the same grammar as Host (RFC 9112 §3.2.2).
        ("authority with a non-digit port", "GET http://t:8x/ HTTP/1.1\r\nHost: t\r\n\r\n".into(), 400),
        ("authority with two ports", "GET http://t:80:80/ HTTP/1.1\r\nHost: t\r\n\r\n".into(), 400),
        ("authority with an empty name", "GET http://:80/ HTTP/1.1\r\nHost: t\r\n\r\n".into(), 400),
        ("authority with an empty port", "GET http://t:/ HTTP/1.1\r\nHost: t\r\n\r\n".into(), 400),
        ("empty authority", "GET http:///x HTTP/1.1\r\nHost: t\r\n\r\n".into(), 400),
        ("unclosed IPv6 literal", "GET http://[::1/x HTTP/1.1\r\nHost: t\r\n\r\n".into(), 400),
        ("unbracketed IPv6 literal", "GET http://::1/x HTTP/1.1\r\nHost: t\r\n\r\n".into(), 400),
        ("malformed IPv6 literal", "GET http://[::g]/x HTTP/1.1\r\nHost: t\r\n\r\n".into(), 400),
        ("authority with userinfo", "GET http://u@t/x HTTP/1.1\r\nHost: t\r\n\r\n".into(), 400),
        ("bad authority in HTTP/1.0", "GET http://t:8x/ HTTP/1.0\r\n\r\n".into(), 400),
        // Body framing (RFC 9112 §6), the smuggling vectors.
        (
            "Content-Length and Transfer-Encoding",
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(),
            400,
        ),
        (
            "Transfer-Encoding and Content-Length",
            "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n".into(),
            400,
        ),
        ("Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".into(), 400),
        (
            "chunked not last",
            "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n".into(),
            400,
        ),
        (
            "chunked not last, two lines",
            "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n"
                .into(),
            400,
        ),
        (
            "chunked twice",
            "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n".into(),
            400,
        ),
        ("Content-Length +5", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nhello".into(), 400),
        ("Content-Length -5", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -5\r\n\r\nhello".into(), 400),
        ("Content-Length 0x5", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0x5\r\n\r\nhello".into(), 400),
        ("Content-Length 5 5", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5 5\r\n\r\nhello".into(), 400),
        ("Content-Length empty", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: \r\n\r\n".into(), 400),
        (
            "Content-Length overflow",
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 18446744073709551616\r\n\r\n".into(),
            400,
        ),
        ("Content-Length 5, 6", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 6\r\n\r\nhello".into(), 400),
        (
            "Content-Length 5 then 6",
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello".into(),
            400,
        ),
        ("Content-Length 5,", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5,\r\n\r\nhello".into(), 400),
        ("unknown transfer coding", "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: x-custom\r\n\r\n".into(), 501),
        (
            "gzip then chunked",
            "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n".into(),
            501,
        ),
        // Header syntax (RFC 9112 §5).
        ("space before the colon", "GET / HTTP/1.1\r\nHost : t\r\n\r\n".into(), 400),
        ("tab before the colon", "GET / HTTP/1.1\r\nHost: t\r\nX\t: y\r\n\r\n".into(), 400),
        ("obs-fold", "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n".into(), 400),
        ("obs-fold first line", "GET / HTTP/1.1\r\n Host: t\r\n\r\n".into(), 400),
        ("bare CR ending a header line", "GET / HTTP/1.1\r\nHost: t\rX: y\r\n\r\n".into(), 400),
        ("bare CR ending the request line", "GET / HTTP/1.1\rHost: t\r\n\r\n".into(), 400),
        ("bare CR ending the head", "GET / HTTP/1.1\r\nHost: t\r\n\r".into(), 400),
        ("NUL in a value", "GET / HTTP/1.1\r\nHost: t\r\nX: a\0b\r\n\r\n".into(), 400),
        ("CR in a value", "GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n".into(), 400),
        ("control byte in a value", "GET / HTTP/1.1\r\nHost: t\r\nX: a\x01b\r\n\r\n".into(), 400),
        ("invalid name token", "GET / HTTP/1.1\r\nHost: t\r\nX(y): 1\r\n\r\n".into(), 400),
        ("empty name", "GET / HTTP/1.1\r\nHost: t\r\n: 1\r\n\r\n".into(), 400),
        ("invalid method token", "G(T / HTTP/1.1\r\nHost: t\r\n\r\n".into(), 400),
        ("method with a NUL", "G\0T / HTTP/1.1\r\nHost: t\r\n\r\n".into(), 400),
        ("two spaces in the request line", "GET  / HTTP/1.1\r\nHost: t\r\n\r\n".into(), 400),
        ("not HTTP", "GET / HTXP/1.1\r\nHost: t\r\n\r\n".into(), 400),
        // Raw bytes of 0x80 or more in the target (unencoded UTF-8), anywhere in it.
        ("raw UTF-8 in the path", "GET /caf\u{e9} HTTP/1.1\r\nHost: t\r\n\r\n".into(), 400),
        ("raw UTF-8 in the query", "GET /q?x=\u{20ac} HTTP/1.1\r\nHost: t\r\n\r\n".into(), 400),
        ("raw UTF-8 in an absolute-form authority", "GET http://\u{e9}t/ HTTP/1.1\r\nHost: t\r\n\r\n".into(), 400),
        // Versions.
        ("HTTP/2.0", "GET / HTTP/2.0\r\nHost: t\r\n\r\n".into(), 505),
        ("HTTP/1.2", "GET / HTTP/1.2\r\nHost: t\r\n\r\n".into(), 505),
        ("HTTP/0.9", "GET / HTTP/0.9\r\nHost: t\r\n\r\n".into(), 505),
        // Limits.
        ("target over max_url_length", format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(128)), 414),
        (
            "header line over max_field_length",
            format!("GET / HTTP/1.1\r\nHost: t\r\n{}\r\n", field("X", 256 - 3 + 1)),
            431,
        ),
        (
            "head over max_request_bytes",
            format!(
                "GET / HTTP/1.1\r\nHost: t\r\n{}\r\n",
                (0..5).map(|i| field(&format!("X{i}"), 240)).collect::<String>()
            ),
            431,
        ),
        (
            "more than max_headers",
            format!(
                "GET / HTTP/1.1\r\nHost: t\r\n{}\r\n",
                (0..8).map(|i| field(&format!("X{i}"), 1)).collect::<String>()
            ),
            431,
        ),
    ];
    let heads = rows.into_iter().map(|(name, raw, status)| (name, raw.into_bytes(), status));
    let bodies = BAD_CHUNKED.iter().map(|(name, body)| (*name, body.to_vec())).chain(oversized_chunk_extras());
    heads.chain(bodies.map(|(name, body)| (name, chunked_post(&body), 400))).collect()
}

/// Requests every server accepts: (name, raw request, the target it answers with).
const ACCEPTED_ALWAYS: &[(&str, &[u8], &str)] = &[
    ("plain GET", b"GET /g HTTP/1.1\r\nHost: t\r\n\r\n", "/g"),
    ("empty lines before the request line", b"\r\n\r\nGET /e HTTP/1.1\r\nHost: t\r\n\r\n", "/e"),
    ("HTTP/1.0 without Host", b"GET /ten HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "/ten"),
    ("Content-Length", b"POST /cl HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello", "/cl"),
    // Identical repeats are one value (RFC 9110 §8.6): accepted.
    ("Content-Length 5, 5", b"POST /cl55 HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 5\r\n\r\nhello", "/cl55"),
    (
        "Content-Length 5 twice",
        b"POST /cl5 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
        "/cl5",
    ),
    (
        "chunked",
        b"POST /ch HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;x=\"y\"\r\nhello\r\n6\r\n world\r\n0\r\nT: v\r\n\r\n",
        "/ch",
    ),
    ("Host with a port", b"GET /hp HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", "/hp"),
    // An empty Host stands beside an absolute-form target (whose authority counts), and in HTTP/1.0.
    ("empty Host, absolute-form", b"GET http://t/eh HTTP/1.1\r\nHost:\r\n\r\n", "http://t/eh"),
    ("empty Host, HTTP/1.0", b"GET /eh HTTP/1.0\r\nHost:\r\nConnection: keep-alive\r\n\r\n", "/eh"),
    ("absolute-form", b"GET http://t:8080/af?q HTTP/1.1\r\nHost: t\r\n\r\n", "http://t:8080/af?q"),
    ("absolute-form, IPv6", b"GET http://[::1]:80/v6 HTTP/1.1\r\nHost: t\r\n\r\n", "http://[::1]:80/v6"),
];

/// Chunked bodies refused whatever the strictness (RFC 9112 §7.1): (name, body after the head).
/// Inline handlers get the body whole, so a broken one is answered `400` before the handler runs.
const BAD_CHUNKED: &[(&str, &[u8])] = &[
    ("chunk size 0x", b"0x5\r\nhello\r\n0\r\n\r\n"),
    ("chunk size x", b"x\r\n"),
    ("chunk size _", b"_5\r\nhello\r\n0\r\n\r\n"),
    ("chunk size +", b"+5\r\nhello\r\n0\r\n\r\n"),
    ("chunk size -", b"-5\r\nhello\r\n0\r\n\r\n"),
    ("chunk size empty", b"\r\nhello\r\n0\r\n\r\n"),
    ("chunk size overflow", b"10000000000000000\r\nhello\r\n0\r\n\r\n"),
    ("chunk size trailing garbage", b"5x\r\nhello\r\n0\r\n\r\n"),
    ("chunk size space", b"5 5\r\nhello\r\n0\r\n\r\n"),
    ("no CRLF after chunk data", b"5\r\nhelloX\r\n0\r\n\r\n"),
    ("chunk data longer than its size", b"3\r\nhello\r\n0\r\n\r\n"),
    ("bare CR after chunk size", b"5\rhello\r\n0\r\n\r\n"),
    ("bare CR after chunk data", b"5\r\nhello\r0\r\n\r\n"),
    ("bare CR in trailers", b"5\r\nhello\r\n0\r\nT: v\rX\r\n\r\n"),
    ("invalid chunk extension", b"5;a b\r\nhello\r\n0\r\n\r\n"),
    ("invalid trailer", b"5\r\nhello\r\n0\r\nT : v\r\n\r\n"),
];

/// Chunked bodies with a bare LF: refused when strict, accepted when lenient.
const BARE_LF_CHUNKED: &[(&str, &[u8])] = &[
    ("bare LF after chunk size", b"5\nhello\r\n0\r\n\r\n"),
    ("bare LF after chunk extension", b"5;a=b\nhello\r\n0\r\n\r\n"),
    ("bare LF after chunk data", b"5\r\nhello\n0\r\n\r\n"),
    ("bare LF after a trailer", b"5\r\nhello\r\n0\r\nT: v\n\r\n"),
    ("bare LF ending the body", b"5\r\nhello\r\n0\r\n\n"),
    ("bare LF everywhere", b"5\nhello\n0\nT: v\n\n"),
];

/// Request heads with a bare LF: refused when strict, accepted when lenient.
const BARE_LF_HEADS: &[(&str, &[u8], &str)] = &[
    ("bare LF everywhere", b"GET /lf HTTP/1.1\nHost: t\nX: y\n\n", "/lf"),
    ("bare LF ending the request line", b"GET /lf1 HTTP/1.1\nHost: t\r\n\r\n", "/lf1"),
    ("bare LF ending a header line", b"GET /lf2 HTTP/1.1\r\nHost: t\n\r\n", "/lf2"),
    ("bare LF ending the head", b"GET /lf3 HTTP/1.1\r\nHost: t\r\n\n", "/lf3"),
];

/// Targets with a `\`: refused when strict, accepted when lenient (the target is answered as sent).
const BACKSLASH_TARGETS: &[(&str, &[u8], &str)] = &[
    ("backslash in the path", b"GET /a\\b HTTP/1.1\r\nHost: t\r\n\r\n", "/a\\b"),
    ("backslash first", b"GET \\x HTTP/1.1\r\nHost: t\r\n\r\n", "\\x"),
    ("backslash in the query", b"GET /q?\\ HTTP/1.1\r\nHost: t\r\n\r\n", "/q?\\"),
];

fn chunked_post(body: &[u8]) -> Vec<u8> {
    [&b"POST /body HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"[..], body].concat()
}

/// Chunk extensions and trailers over `max_chunk_extra_bytes` (64 here).
fn oversized_chunk_extras() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("chunk extension over max_chunk_extra_bytes", format!("5;{}\r\nhello\r\n0\r\n\r\n", "e".repeat(64))),
        ("trailers over max_chunk_extra_bytes", format!("5\r\nhello\r\n0\r\n{}\r\n", field("T", 64))),
    ]
    .into_iter()
    .map(|(name, body)| (name, body.into_bytes()))
    .collect()
}

#[test]
fn strict_refuses_each_rule_and_reads_nothing_after() {
    let (_server, addr) = start(Strictness::Strict);
    for (name, raw, status) in refused_always() {
        assert_refused(addr, name, &raw, status);
    }
    for (name, raw, _) in BARE_LF_HEADS {
        assert_refused(addr, name, raw, 400);
    }
    for (name, body) in BARE_LF_CHUNKED {
        assert_refused(addr, name, &chunked_post(body), 400);
    }
    for (name, raw, _) in BACKSLASH_TARGETS {
        assert_refused(addr, name, raw, 400);
    }
}

#[test]
fn lenient_refuses_the_same_but_bare_lf() {
    let (_server, addr) = start(Strictness::Lenient);
    for (name, raw, status) in refused_always() {
        assert_refused(addr, name, &raw, status);
    }
}

#[test]
fn valid_requests_keep_the_connection() {
    for strictness in [Strictness::Strict, Strictness::Lenient] {
        let (_server, addr) = start(strictness);
        for (name, raw, target) in ACCEPTED_ALWAYS {
            assert_accepted(addr, &format!("{strictness:?} {name}"), raw, target);
        }
        // Each limit, just not broken.
        let at_limits: &[(&str, String, &str)] = &[
            ("header line at max_field_length", format!("GET /f HTTP/1.1\r\nHost: t\r\n{}\r\n", field("X", 253)), "/f"),
            ("max_headers headers", format!("GET /h HTTP/1.1\r\nHost: t\r\n{}\r\n", field("X", 1).repeat(7)), "/h"),
            ("target at max_url_length", format!("GET /{0} HTTP/1.1\r\nHost: t\r\n\r\n", "u".repeat(127)), ""),
        ];
        for (name, raw, target) in at_limits {
            let target = if target.is_empty() { format!("/{}", "u".repeat(127)) } else { target.to_string() };
            assert_accepted(addr, &format!("{strictness:?} {name}"), raw.as_bytes(), &target);
        }
    }
}

#[test]
fn lenient_accepts_bare_lf() {
    let (_server, addr) = start(Strictness::Lenient);
    for (name, raw, target) in BARE_LF_HEADS {
        assert_accepted(addr, name, raw, target);
    }
    for (name, body) in BARE_LF_CHUNKED {
        assert_accepted(addr, name, &chunked_post(body), "/body");
    }
}

#[test]
fn lenient_accepts_a_backslash_in_the_target() {
    let (_server, addr) = start(Strictness::Lenient);
    for (name, raw, target) in BACKSLASH_TARGETS {
        assert_accepted(addr, name, raw, target);
    }
}

/// A head is refused as soon as an unfinished line is over its limit, without waiting for the
/// line's end or for `max_request_bytes` (1024 here).
#[test]
fn unfinished_long_lines_are_refused_early() {
    let (_server, addr) = start(Strictness::Strict);
    let rows = [
        (
            "unfinished header line over max_field_length",
            format!("GET / HTTP/1.1\r\nHost: t\r\nX: {}", "v".repeat(300)),
            431,
        ),
        ("unfinished target over max_url_length", format!("GET /{}", "u".repeat(200)), 414),
    ];
    for ((name, raw, status), trickled) in rows.iter().flat_map(|r| [(r, false), (r, true)]) {
        let mut c = connect(addr);
        if trickled {
            // The head arrives in pieces: the check runs on a head already partly buffered.
            for piece in raw.as_bytes().chunks(20) {
                c.send(piece);
                std::thread::sleep(Duration::from_millis(5));
            }
        } else {
            c.send(raw.as_bytes());
        }
        let r = c.try_read(false).unwrap_or_else(|| panic!("{name} (trickled: {trickled}): no answer"));
        let (name, status) = (*name, *status);
        assert_eq!((r.status, r.header("connection")), (status, Some("close")), "{name}: {r:?}");
        assert_eof(&mut c, name);
        assert_serves(addr, name);
    }
}

/// Every request [`refused_always`] (and the strict-only ones) sent as `HEAD` instead of its own
/// method, when its method token leads it: (name, the `HEAD` request, its `GET` twin, status).
fn as_head() -> Vec<(String, Vec<u8>, Vec<u8>, u16)> {
    let strict_only = BARE_LF_HEADS.iter().chain(BACKSLASH_TARGETS).map(|(name, raw, _)| (*name, raw.to_vec(), 400));
    let mut rows = Vec::new();
    for (name, raw, status) in refused_always().into_iter().chain(strict_only) {
        let Some(at) = raw.iter().position(|&b| b == b' ') else { continue };
        let method = &raw[..at];
        // Only requests whose method is known (a token): a head too malformed for that may keep its body.
        if method.is_empty() || !method.iter().all(u8::is_ascii_uppercase) {
            continue;
        }
        let head = [&b"HEAD"[..], &raw[at..]].concat();
        let get = [&b"GET"[..], &raw[at..]].concat();
        rows.push((format!("HEAD for {name}"), head, get, status));
    }
    rows
}

/// Reads one answer's head (the answer to `HEAD`) and asserts nothing follows it but the close.
fn read_head_only(c: &mut Client, name: &str) -> Resp {
    let r = c.try_read(true).unwrap_or_else(|| panic!("{name}: no answer"));
    assert_eof(c, name);
    r
}

/// A `HEAD` drawing any error hsys generates gets the error's head, with the `Content-Length`
/// its `GET` twin's answer has, and no body: every refusal [`refused_always`] lists (400, 413,
/// 414, 431, 501, 505, and a bad chunked body), and a `408` for a head or a body that stops.
#[test]
fn a_head_that_draws_an_error_gets_no_body() {
    let server = Server::builder()
        .threads(1)
        .bind("127.0.0.1:0")
        .limits(limits(Strictness::Strict))
        .timeouts(Timeouts::default().header_wait(Duration::from_millis(300)).entity_body(Duration::from_millis(300)))
        .serve(|req: &Request<'_>, res: &mut Response<'_>| {
            let _ = res.body(req.target().as_bytes());
        })
        .expect("serve");
    let addr = server.local_addrs()[0];
    let rows = as_head();
    assert!(rows.len() > 50, "{} rows", rows.len());
    for (name, head, get, status) in rows {
        let mut c = connect(addr);
        c.send(&[&get[..], AFTER].concat());
        let want = c.try_read(false).unwrap_or_else(|| panic!("{name}: no answer to GET"));
        assert_eq!(want.status, status, "{name}: GET {want:?}");
        assert!(!want.body.is_empty(), "{name}: GET {want:?}");
        let mut c = connect(addr);
        c.send(&[&head[..], AFTER].concat());
        let r = read_head_only(&mut c, &name);
        assert_eq!(r.status, status, "{name}: {r:?}");
        assert_eq!(r.header("connection"), Some("close"), "{name}: {r:?}");
        assert_eq!(r.header("content-length"), want.header("content-length"), "{name}: {r:?}");
    }
    // Timeouts: a head, and a body the handler reads, that stop arriving.
    let stalls: [&[u8]; 3] = [
        b"HEAD / HTTP/1.1\r\nHost: t\r\n",
        b"HEAD / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nab",
        b"HEAD / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    ];
    for stall in stalls {
        let name = String::from_utf8_lossy(stall).into_owned();
        let mut c = connect(addr);
        c.send(stall);
        let r = read_head_only(&mut c, &name);
        assert_eq!((r.status, r.header("content-length")), (408, Some("15")), "{name}: {r:?}");
    }
    // A head so malformed its method is unknown may keep the body.
    let mut c = connect(addr);
    c.send(b"HEAD\t/ HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.try_read(false).expect("an answer");
    assert_eq!((r.status, r.body.as_slice()), (400, &b"Bad Request"[..]));
}
