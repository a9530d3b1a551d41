//! The tables: each row a connection's reads and service, and what must come of them.

use super::*;

/// hsys's own error answer with `status` and its reason phrase (`$len` bytes), which closes.
macro_rules! refusal {
    ($status:literal, $reason:literal, $len:literal) => {
        concat!(
            "HTTP/1.1 ",
            $status,
            " ",
            $reason,
            "\r\n~Content-Type: text/plain\r\nConnection: close\r\n",
            "Content-Length: ",
            $len,
            "\r\n\r\n",
            $reason
        )
    };
}

const E400: &str = refusal!(400, "Bad Request", 11);
const E408: &str = refusal!(408, "Request Timeout", 15);
const E413: &str = refusal!(413, "Content Too Large", 17);

const OK_A: &str = "HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/a:";

/// Keep-alive and HTTP/1.0, pipelining, `Connection: close`, a stopping server.
#[test]
fn keep_alive_and_close() {
    check(&[
        Case {
            name: "two requests in two reads, kept alive",
            reads: &[b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n", b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n"],
            out: "HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/a:HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/b:",
            counts: (2, 2, 0),
            ..ROW
        },
        Case {
            name: "three pipelined in one read",
            reads: &[b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n"],
            out: "HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/a:HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/b:\
                  HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/c:",
            counts: (3, 3, 0),
            ..ROW
        },
        Case {
            name: "a partial head waits",
            reads: &[b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HT"],
            out: OK_A,
            counts: (1, 1, 0),
            phase: Phase::Head,
            ..ROW
        },
        Case {
            name: "HTTP/1.0 closes",
            reads: &[b"GET /a HTTP/1.0\r\n\r\n"],
            out: "HTTP/1.1 200 OK\r\n~Connection: close\r\nContent-Length: 3\r\n\r\n/a:",
            counts: (1, 1, 0),
            phase: Phase::Closed,
            end: End::Close,
            ..ROW
        },
        Case {
            name: "HTTP/1.0 keep-alive stays",
            reads: &[b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", b"GET /b HTTP/1.0\r\n\r\n"],
            out: "HTTP/1.1 200 OK\r\n~Connection: keep-alive\r\nContent-Length: 3\r\n\r\n/a:\
                  HTTP/1.1 200 OK\r\n~Connection: close\r\nContent-Length: 3\r\n\r\n/b:",
            counts: (2, 2, 0),
            phase: Phase::Closed,
            end: End::Close,
            ..ROW
        },
        Case {
            name: "Connection: close with a request behind it lingers",
            reads: &[b"GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"],
            out: "HTTP/1.1 200 OK\r\n~Connection: close\r\nContent-Length: 3\r\n\r\n/a:",
            counts: (1, 1, 0),
            phase: Phase::Closed,
            end: End::Linger,
            ..ROW
        },
        Case {
            name: "the handler closes",
            reads: &[b"GET /a! HTTP/1.1\r\nHost: h\r\n\r\n"],
            out: "HTTP/1.1 200 OK\r\n~Connection: close\r\nContent-Length: 4\r\n\r\n/a!:",
            counts: (1, 1, 0),
            phase: Phase::Closed,
            end: End::Close,
            ..ROW
        },
        Case {
            name: "a stopping server closes after the answer",
            draining: true,
            reads: &[b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"],
            out: "HTTP/1.1 200 OK\r\n~Connection: close\r\nContent-Length: 3\r\n\r\n/a:",
            counts: (1, 1, 0),
            phase: Phase::Closed,
            end: End::Linger,
            ..ROW
        },
    ]);
}

/// Bodies collected for inline answers, `100 Continue`, and `413`.
#[test]
fn inline_bodies() {
    check(&[
        Case {
            name: "Content-Length body in pieces",
            reads: &[b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhe", b"llo", b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n"],
            out: "HTTP/1.1 200 OK\r\n~Content-Length: 8\r\n\r\n/a:helloHTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/b:",
            counts: (2, 2, 0),
            ..ROW
        },
        Case {
            name: "a Content-Length body still coming",
            reads: &[b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhe"],
            counts: (0, 0, 0),
            phase: Phase::Body,
            ..ROW
        },
        Case {
            name: "chunked body in pieces",
            reads: &[b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", b"c\r\n2\r\nde\r\n0\r\n", b"\r\n"],
            out: "HTTP/1.1 200 OK\r\n~Content-Length: 8\r\n\r\n/a:abcde",
            counts: (1, 1, 0),
            ..ROW
        },
        Case {
            name: "100 Continue sent while the body is awaited",
            reads: &[b"POST /a HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", b"hi"],
            out: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n~Content-Length: 5\r\n\r\n/a:hi",
            counts: (1, 1, 0),
            ..ROW
        },
        Case {
            name: "100 Continue sent once however the body trickles",
            reads: &[b"POST /a HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", b"h", b"i"],
            out: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n~Content-Length: 5\r\n\r\n/a:hi",
            counts: (1, 1, 0),
            ..ROW
        },
        Case {
            name: "no 100 Continue for a body already there",
            reads: &[b"POST /a HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi"],
            out: "HTTP/1.1 200 OK\r\n~Content-Length: 5\r\n\r\n/a:hi",
            counts: (1, 1, 0),
            ..ROW
        },
        Case {
            name: "no 100 Continue while an earlier answer is owed",
            behave: Behave::Mixed,
            reads: &[
                b"GET /d HTTP/1.1\r\nHost: h\r\n\r\nPOST /a HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
                b"hi",
            ],
            out: "HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/d:HTTP/1.1 200 OK\r\n~Content-Length: 5\r\n\r\n/a:hi",
            // `/a` is answered by the second call, `/d` released by then.
            counts: (2, 1, 0),
            ..ROW
        },
        Case {
            name: "413 before the handler, the body unread",
            reads: &[b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\nxx"],
            tight: true,
            out: E413,
            counts: (1, 1, 1),
            phase: Phase::Closed,
            end: End::Linger,
            ..ROW
        },
        Case {
            name: "413 for a chunked body that grows past the limit",
            reads: &[b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n", &[b'x'; 64], b"\r\n40\r\n"],
            tight: true,
            out: E413,
            counts: (1, 1, 1),
            phase: Phase::Closed,
            end: End::Linger,
            ..ROW
        },
    ]);
}

/// Heads refused with each status; nothing after them is read.
#[test]
fn malformed_heads() {
    let refused = |name, tight, reads, out| Case {
        name,
        tight,
        reads,
        out,
        counts: (1, 1, 0),
        phase: Phase::Closed,
        end: End::Linger,
        ..ROW
    };
    const LONG_HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: h\r\nA: 0123456789012345678901234567890\r\n\
        B: 0123456789012345678901234567890\r\nC: 0123456789012345678901234567890\r\n\
        D: 0123456789012345678901234567890\r\nE: 0123456789012345678901234567890\r\n\r\n";
    const LONG_TARGET: &[u8] = b"GET /0123456789012345678901234567890123456789012345678901234567890123456789";
    check(&[
        refused(
            "a header line without a colon",
            false,
            &[b"GET / HTTP/1.1\r\nHost h\r\n\r\nGET / HTTP/1.1\r\n\r\n"],
            E400,
        ),
        refused("HTTP/1.1 without Host", false, &[b"GET / HTTP/1.1\r\n\r\n"], E400),
        refused(
            "Content-Length and chunked together",
            false,
            &[b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"],
            E400,
        ),
        refused("a bare LF, when strict", false, &[b"GET /a HTTP/1.1\nHost: h\n\n"], E400),
        refused(
            "a head over max_request_bytes",
            true,
            &[LONG_HEAD],
            refusal!(431, "Request Header Fields Too Large", 31),
        ),
        refused(
            "a target over max_url_length, before the head ends",
            true,
            &[LONG_TARGET],
            refusal!(414, "URI Too Long", 12),
        ),
        refused(
            "a target over max_url_length, found in a partial head's new bytes (counted too)",
            true,
            &[b"GET /0123", b"456789012345678901234567890123456789012345678901234567890123456789"],
            refusal!(414, "URI Too Long", 12),
        ),
        refused("HTTP/2.0", false, &[b"GET / HTTP/2.0\r\n\r\n"], refusal!(505, "HTTP Version Not Supported", 26)),
        refused(
            "an unknown transfer coding",
            false,
            &[b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"],
            refusal!(501, "Not Implemented", 15),
        ),
    ]);
    // The same bare LF, allowed when lenient.
    let limits = Limits { strictness: Strictness::Lenient, ..Limits::default() };
    let run = play(Behave::Inline, &limits, false, &[b"GET /a HTTP/1.1\nHost: h\n\n"], false);
    assert_eq!((run.out.as_str(), run.end), (OK_A, End::Open));
}

/// Deferred answers keep request order, whoever answers first.
#[test]
fn deferred_answers_keep_order() {
    check(&[
        Case {
            name: "deferred, inline, deferred, inline in one read",
            behave: Behave::Mixed,
            reads: &[b"GET /d1 HTTP/1.1\r\nHost: h\r\n\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /d2 HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"],
            out: "HTTP/1.1 200 OK\r\n~Content-Length: 4\r\n\r\n/d1:HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/a:\
                  HTTP/1.1 200 OK\r\n~Content-Length: 4\r\n\r\n/d2:HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/b:",
            // Inline answers behind a deferred one are released with it, not by `handle_input`.
            counts: (4, 0, 0),
            ..ROW
        },
        Case {
            name: "every request deferred",
            behave: Behave::Deferred,
            reads: &[b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"],
            out: "HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/a:HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/b:",
            counts: (2, 0, 0),
            ..ROW
        },
        Case {
            name: "held answers: the connection waits for the application",
            behave: Behave::Hold,
            reads: &[b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"],
            counts: (2, 0, 0),
            phase: Phase::App,
            ..ROW
        },
        Case {
            // `/b` was handed to the application before `/a!`'s answer came: it is answered too,
            // and the close moves to it (no request is read after an answer that closes).
            name: "a deferred answer that closes ends the connection after the answers owed",
            behave: Behave::Deferred,
            reads: &[b"GET /a! HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"],
            out: "HTTP/1.1 200 OK\r\n~Content-Length: 4\r\n\r\n/a!:HTTP/1.1 200 OK\r\n~Connection: close\r\nContent-Length: 3\r\n\r\n/b:",
            counts: (2, 0, 0),
            phase: Phase::Closed,
            end: End::Linger,
            ..ROW
        },
        Case {
            name: "a malformed head behind a deferred answer waits its turn",
            behave: Behave::Mixed,
            reads: &[b"GET /d HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\nHost h\r\n\r\n"],
            out: concat!("HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/d:", refusal!(400, "Bad Request", 11)),
            counts: (2, 0, 0),
            phase: Phase::Closed,
            end: End::Linger,
            ..ROW
        },
    ]);
}

/// Bodies streamed to the service, unread bodies drained, and the drain budget.
#[test]
fn streamed_and_drained_bodies() {
    const POST_10: &[u8] = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n";
    check(&[
        Case {
            name: "a streamed body in pieces",
            behave: Behave::Streamed,
            reads: &[POST_10, b"0123", b"456789GET /b HTTP/1.1\r\nHost: h\r\n\r\n"],
            out: "HTTP/1.1 200 OK\r\n~Content-Length: 13\r\n\r\n/a:0123456789HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/b:",
            counts: (2, 0, 0),
            ..ROW
        },
        Case {
            name: "a streamed body paused and resumed",
            behave: Behave::Stingy,
            reads: &[POST_10, b"0123", b"456789GET /b HTTP/1.1\r\nHost: h\r\n\r\n"],
            out: "HTTP/1.1 200 OK\r\n~Content-Length: 13\r\n\r\n/a:0123456789HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/b:",
            counts: (2, 0, 0),
            ..ROW
        },
        Case {
            name: "a streamed chunked body",
            behave: Behave::Streamed,
            reads: &[b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", b"c\r\n0\r\n\r\n"],
            out: "HTTP/1.1 200 OK\r\n~Content-Length: 6\r\n\r\n/a:abc",
            counts: (1, 0, 0),
            ..ROW
        },
        Case {
            name: "a streamed body still coming",
            behave: Behave::Streamed,
            reads: &[POST_10, b"0123"],
            counts: (1, 0, 0),
            phase: Phase::Body,
            ..ROW
        },
        Case {
            name: "100 Continue when the application reads",
            behave: Behave::Streamed,
            reads: &[b"POST /a HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", b"hi"],
            out: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n~Content-Length: 5\r\n\r\n/a:hi",
            counts: (1, 0, 0),
            ..ROW
        },
        Case {
            name: "a streamed body over the limit",
            behave: Behave::Streamed,
            tight: true,
            reads: &[
                b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n50\r\n",
                &[b'x'; 80],
                b"\r\n50\r\n",
            ],
            out: E413,
            counts: (1, 1, 1),
            phase: Phase::Closed,
            end: End::Linger,
            ..ROW
        },
        Case {
            name: "an unread body drained, then the next request",
            behave: Behave::Unread,
            reads: &[POST_10, b"0123", b"456789GET /b HTTP/1.1\r\nHost: h\r\n\r\n"],
            out: "HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/a:HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/b:",
            counts: (2, 2, 0),
            ..ROW
        },
        Case {
            name: "an unread body being drained",
            behave: Behave::Unread,
            reads: &[POST_10, b"0123"],
            out: OK_A,
            counts: (1, 1, 0),
            phase: Phase::Drain,
            ..ROW
        },
        Case {
            name: "an unread body over the drain budget: the answer closes",
            behave: Behave::Unread,
            tight: true,
            reads: &[b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 60\r\n\r\n0123"],
            out: "HTTP/1.1 200 OK\r\n~Connection: close\r\nContent-Length: 3\r\n\r\n/a:",
            counts: (1, 1, 0),
            phase: Phase::Closed,
            end: End::Linger,
            ..ROW
        },
        Case {
            name: "an unread body the client waits to send: the answer closes",
            behave: Behave::Unread,
            reads: &[b"POST /a HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"],
            out: "HTTP/1.1 200 OK\r\n~Connection: close\r\nContent-Length: 3\r\n\r\n/a:",
            counts: (1, 1, 0),
            phase: Phase::Closed,
            end: End::Linger,
            ..ROW
        },
        Case {
            name: "an unread chunked body that passes the drain budget: closed",
            behave: Behave::Unread,
            tight: true,
            reads: &[b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", b"a0\r\n", &[b'x'; 160]],
            out: OK_A,
            counts: (1, 1, 0),
            phase: Phase::Closed,
            end: End::Linger,
            ..ROW
        },
    ]);
}

/// A timer firing in each phase.
#[test]
fn time_outs() {
    check(&[
        Case {
            name: "idle: closed without an answer",
            reads: &[b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"],
            time_out: true,
            out: OK_A,
            counts: (1, 1, 0),
            phase: Phase::Closed,
            end: End::Close,
            ..ROW
        },
        Case {
            name: "head: 408, the partial request counted as received",
            reads: &[b"GET /a HTTP/1.1\r\nHost: h\r\nHo"],
            time_out: true,
            out: E408,
            counts: (1, 1, 0),
            phase: Phase::Closed,
            end: End::Linger,
            ..ROW
        },
        Case {
            name: "a body collected inline: 408, its request counted",
            reads: &[b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhe"],
            time_out: true,
            out: E408,
            counts: (1, 1, 0),
            phase: Phase::Closed,
            end: End::Linger,
            ..ROW
        },
        Case {
            name: "a streamed body: 408 for it, the application's answer dropped",
            behave: Behave::Streamed,
            reads: &[b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhe"],
            time_out: true,
            out: E408,
            // The request was counted at its head.
            counts: (1, 1, 0),
            phase: Phase::Closed,
            end: End::Linger,
            ..ROW
        },
        Case {
            name: "a drain: closed without an answer",
            behave: Behave::Unread,
            reads: &[b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhe"],
            time_out: true,
            out: OK_A,
            counts: (1, 1, 0),
            phase: Phase::Closed,
            end: End::Close,
            ..ROW
        },
        Case {
            name: "a head behind a held answer: 408 after it",
            behave: Behave::Hold,
            reads: &[b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HT"],
            time_out: true,
            counts: (2, 0, 0),
            // The 408 waits in its slot behind the held answer.
            phase: Phase::Closed,
            end: End::Linger,
            ..ROW
        },
    ]);
}

/// A chunked `POST /a` with `$body` and a `GET /b` behind it, in one read.
macro_rules! chunked_then_get {
    ($body:literal) => {{
        const READS: &[&[u8]] = &[concat!(
            "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
            $body,
            "GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
        )
        .as_bytes()];
        READS
    }};
}

const OK_A_CLOSE: &str = "HTTP/1.1 200 OK\r\n~Connection: close\r\nContent-Length: 3\r\n\r\n/a:";
const OK_B: &str = "HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/b:";

/// A body the answer leaves unread is read as far as it is in hand before the answer: broken
/// framing there is refused (`400` + close) instead of answered, whatever the class; a body all
/// in hand is consumed with its request. Broken framing that arrives after the answer only
/// closes. A streamed body's broken framing is a `400` whenever it arrives before the answer.
#[test]
fn broken_chunked_framing() {
    let refused = |name, behave, reads| Case {
        name,
        behave,
        reads,
        out: E400,
        counts: (1, 1, 0),
        phase: Phase::Closed,
        end: End::Linger,
        ..ROW
    };
    let mut cases = Vec::new();
    for behave in [Behave::Unread, Behave::Streamed] {
        cases.extend([
            refused("a 0x prefix", behave, chunked_then_get!("0x5\r\nhello\r\n0\r\n\r\n")),
            refused("a sign", behave, chunked_then_get!("+5\r\nhello\r\n0\r\n\r\n")),
            refused("junk after the size", behave, chunked_then_get!("5z\r\nhello\r\n0\r\n\r\n")),
            refused("only a longest valid prefix", behave, chunked_then_get!("3g\r\nabc\r\n0\r\n\r\n")),
            refused("an empty size line", behave, chunked_then_get!("\r\nhello\r\n0\r\n\r\n")),
            refused("a size line ended by a bare LF", behave, chunked_then_get!("5\nhello\r\n0\r\n\r\n")),
            refused("a size line ended by CR and a byte", behave, chunked_then_get!("5\rXhello\r\n0\r\n\r\n")),
            refused("chunk data ended by a bare LF", behave, chunked_then_get!("5\r\nhello\n0\r\n\r\n")),
            refused("chunk data ended by CR and a byte", behave, chunked_then_get!("5\r\nhello\rX0\r\n\r\n")),
            refused("chunk data longer than its size", behave, chunked_then_get!("3\r\nhello\r\n0\r\n\r\n")),
            refused("the last line ended by CR and a byte", behave, chunked_then_get!("0\r\n\rX")),
            refused("a broken trailer", behave, chunked_then_get!("0\r\nA b: v\r\n\r\n")),
            refused("broken before the body is all in hand", behave, &[b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\n"]),
            refused(
                "broken, the client asked to close",
                behave,
                &[b"POST /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"],
            ),
        ]);
    }
    cases.extend([
        Case {
            name: "an unread chunked body all in hand: consumed, the next request answered",
            behave: Behave::Unread,
            reads: chunked_then_get!("5;a=b\r\nhello\r\n0\r\nT: v\r\n\r\n"),
            out: concat!(
                "HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/a:",
                "HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/b:"
            ),
            counts: (2, 2, 0),
            ..ROW
        },
        Case {
            name: "an unread Content-Length body all in hand: consumed, the next request answered",
            behave: Behave::Unread,
            reads: &[
                b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
            ],
            out: concat!(
                "HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/a:",
                "HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/b:"
            ),
            counts: (2, 2, 0),
            ..ROW
        },
        Case {
            name: "an unread body in hand and still coming: the rest drained, then the next request",
            behave: Behave::Unread,
            reads: &[
                b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
                b"lo\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
            ],
            out: concat!(
                "HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/a:",
                "HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/b:"
            ),
            counts: (2, 2, 0),
            ..ROW
        },
        Case {
            // The answer was given on what was in hand; the rest can only end the connection,
            // and nothing after the broken framing is read as a request.
            name: "an unread body broken after the answer: closed, the request behind it not read",
            behave: Behave::Unread,
            reads: &[
                b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
                b"lo\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
            ],
            out: OK_A,
            counts: (1, 1, 0),
            phase: Phase::Closed,
            end: End::Linger,
            ..ROW
        },
        Case {
            name: "an unread chunked body in hand past the drain budget: the answer closes",
            behave: Behave::Unread,
            tight: true,
            reads: &[b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n", &[b'x'; 64]],
            out: OK_A,
            counts: (1, 1, 0),
            phase: Phase::Closed,
            end: End::Linger,
            ..ROW
        },
        Case {
            // Read up to the budget before the answer; the drain after it has none left.
            name: "an unread chunked body in hand past the drain budget, in one read: closed",
            behave: Behave::Unread,
            tight: true,
            reads: chunked_then_get!(
                "40\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n0\r\n\r\n"
            ),
            out: OK_A,
            counts: (1, 1, 0),
            phase: Phase::Closed,
            end: End::Linger,
            ..ROW
        },
        Case {
            name: "a streamed body broken after its first read: 400",
            behave: Behave::Streamed,
            reads: &[
                b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
                b"lo\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
            ],
            out: E400,
            counts: (1, 1, 0),
            phase: Phase::Closed,
            end: End::Linger,
            ..ROW
        },
    ]);
    check(&cases);
    // Lenient, a bare LF ends a chunk line: the same body is answered, and the next request.
    let limits = Limits { strictness: Strictness::Lenient, ..Limits::default() };
    let run = play(Behave::Unread, &limits, false, chunked_then_get!("5\nhello\n0\n\n"), false);
    assert_eq!((run.out, run.end), (format!("{OK_A}{OK_B}"), End::Open));
}

/// `Expect: 100-continue` with the body sent anyway (bytes of it arrived with the head): an
/// answer that leaves it unread drains it and keeps the connection; only a client that really
/// waits (no body byte) gets an answer that closes.
#[test]
fn expect_continue_with_the_body_sent() {
    macro_rules! expect {
        ($($part:literal),+) => {
            concat!("POST /a HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n", $($part),+).as_bytes()
        };
    }
    const GET_B: &str = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    const LENGTH_ALL: &[&[u8]] = &[expect!("Content-Length: 5\r\n\r\nhello", "GET /b HTTP/1.1\r\nHost: h\r\n\r\n")];
    const CHUNKED_ALL: &[&[u8]] =
        &[expect!("Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "GET /b HTTP/1.1\r\nHost: h\r\n\r\n")];
    const LENGTH_PART: &[&[u8]] = &[expect!("Content-Length: 5\r\n\r\nh"), b"ello", GET_B.as_bytes()];
    const CHUNKED_BROKEN: &[&[u8]] =
        &[expect!("Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", "GET /b HTTP/1.1\r\nHost: h\r\n\r\n")];
    const OVER_BUDGET: &[&[u8]] = &[expect!("Content-Length: 60\r\n\r\nhello")];
    let kept = |name, behave, reads| Case {
        name,
        behave,
        reads,
        out: if behave == Behave::Unread {
            "HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/a:HTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/b:"
        } else {
            "HTTP/1.1 200 OK\r\n~Content-Length: 8\r\n\r\n/a:helloHTTP/1.1 200 OK\r\n~Content-Length: 3\r\n\r\n/b:"
        },
        counts: if behave == Behave::Unread { (2, 2, 0) } else { (2, 0, 0) },
        ..ROW
    };
    let mut cases = Vec::new();
    for behave in [Behave::Unread, Behave::Streamed] {
        cases.extend([
            kept("a Content-Length body in hand, no 100 Continue", behave, LENGTH_ALL),
            kept("a chunked body in hand, no 100 Continue", behave, CHUNKED_ALL),
            kept("a body of which one byte is in hand", behave, LENGTH_PART),
            Case {
                name: "a broken chunked body in hand: 400",
                behave,
                reads: CHUNKED_BROKEN,
                out: E400,
                counts: (1, 1, 0),
                phase: Phase::Closed,
                end: End::Linger,
                ..ROW
            },
        ]);
    }
    cases.push(Case {
        // (A `Content-Length` over the drain budget is not drained, whether the client waits.)
        name: "an unread body declared past the drain budget: the answer closes",
        behave: Behave::Unread,
        tight: true,
        reads: OVER_BUDGET,
        out: OK_A_CLOSE,
        counts: (1, 1, 0),
        phase: Phase::Closed,
        end: End::Linger,
        ..ROW
    });
    check(&cases);
}
