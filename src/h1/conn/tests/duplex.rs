//! Full duplex: a request's body read beside its own streamed answer (a service echoing its
//! body), and nothing else read until that answer is out.

use super::*;

/// The head of a streamed answer of unknown length.
const STREAM_HEAD: &str = "HTTP/1.1 200 OK\r\n~Transfer-Encoding: chunked\r\n\r\n";

/// Streamed answers given while their bodies arrive: the bodies are still read (without the
/// rule, input stops at the answer's head and the service waits for ever), and what follows a
/// body waits until its answer is out.
#[test]
fn bodies_read_beside_their_streamed_answers() {
    const CLOSING_HEAD: &str = "HTTP/1.1 200 OK\r\n~Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
    check(&[
        Case {
            name: "a Content-Length body, then a pipelined request",
            behave: Behave::Duplex,
            reads: &[
                b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhe",
                b"l",
                b"lo",
                b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n",
            ],
            out: concat!(
                "HTTP/1.1 200 OK\r\n~Transfer-Encoding: chunked\r\n\r\n",
                "HTTP/1.1 200 OK\r\n~Transfer-Encoding: chunked\r\n\r\n"
            ),
            counts: (2, 0, 0),
            ..ROW
        },
        Case {
            name: "a chunked body, the next request in the same read as its end",
            behave: Behave::Duplex,
            reads: &[
                b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
                b"2\r\nde\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
            ],
            out: concat!(
                "HTTP/1.1 200 OK\r\n~Transfer-Encoding: chunked\r\n\r\n",
                "HTTP/1.1 200 OK\r\n~Transfer-Encoding: chunked\r\n\r\n"
            ),
            counts: (2, 0, 0),
            ..ROW
        },
        Case {
            name: "still arriving: the body's timer runs, not the application's",
            behave: Behave::Duplex,
            reads: &[b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhe"],
            out: STREAM_HEAD,
            counts: (1, 0, 0),
            phase: Phase::Body,
            ..ROW
        },
        Case {
            name: "its timer fires: the answer is out, so no 408; the connection ends",
            behave: Behave::Duplex,
            reads: &[b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhe"],
            time_out: true,
            out: STREAM_HEAD,
            counts: (1, 0, 0),
            phase: Phase::App,
            end: End::Linger,
            ..ROW
        },
        Case {
            name: "a client waiting for 100 Continue gets it before the answer, which closes",
            behave: Behave::Duplex,
            reads: &[b"POST /a HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", b"hello"],
            out: concat!(
                "HTTP/1.1 100 Continue\r\n\r\n",
                "HTTP/1.1 200 OK\r\n~Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
            ),
            counts: (1, 0, 0),
            phase: Phase::Closed,
            end: End::Close,
            ..ROW
        },
        Case {
            name: "Connection: close: the body is read, then the connection ends",
            behave: Behave::Duplex,
            reads: &[b"POST /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhe", b"llo"],
            out: CLOSING_HEAD,
            counts: (1, 0, 0),
            phase: Phase::Closed,
            end: End::Close,
            ..ROW
        },
        Case {
            name: "broken framing beside the answer: no 400 can follow its head; it ends",
            behave: Behave::Duplex,
            reads: &[b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", b"c\r\nzz\r\n"],
            out: STREAM_HEAD,
            counts: (1, 0, 0),
            phase: Phase::Closed,
            end: End::Linger,
            ..ROW
        },
        Case {
            name: "a body growing past its limit beside the answer: counted, and it ends",
            behave: Behave::Duplex,
            tight: true,
            reads: &[
                b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n32\r\n",
                b"01234567890123456789012345678901234567890123456789\r\n40\r\n",
            ],
            out: STREAM_HEAD,
            counts: (1, 0, 1),
            phase: Phase::Closed,
            end: End::Linger,
            ..ROW
        },
    ]);
}

/// Step by step: body bytes are taken while the answer's stream is out, no further request is,
/// the service's full pipe pauses the body (back-pressure), and what follows the body waits
/// until the stream is sent.
#[test]
fn beside_a_streamed_answer_only_its_body_is_read() {
    let common = CommonHeaders::new(DATE);
    let limits = Limits::default();
    let env = Env { common: &common, limits: &limits, draining: false };
    let mut conn = Conn::new();
    let mut test = Test { behave: Behave::Duplex, pending: Vec::new(), asked: 0, tail: None };
    let mut out = Vec::new();
    let head = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\n";
    let p = conn.handle_input(head, &env, &mut test, &mut out);
    assert_eq!((p.consumed, p.requests), (head.len(), 1));
    assert!(!conn.reads_beside_answer(), "not answered yet");
    // The answer streams: its head goes out, and its stream is taken to be sent.
    let pipe = std::sync::Arc::new(StreamPipe::new(true, false, None));
    let reply = Reply::new(200).streamed(StreamSource::new(pipe), None);
    assert_eq!(conn.complete(0, &reply, &env, &mut out), 1);
    assert_eq!(normalise(&out, &common), STREAM_HEAD);
    out.clear();
    let tail = conn.take_tail();
    assert!(tail.is_some());
    assert!(conn.tail_pending() && conn.reads_beside_answer());
    assert_eq!((conn.wants_input(), conn.phase()), (true, Phase::Body));
    // Body bytes are taken (and nothing written), the next request is not.
    let next = b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    let p = conn.handle_input(b"abc", &env, &mut test, &mut out);
    assert_eq!((p.consumed, p.requests, out.len()), (3, 0, 0));
    assert_eq!(test.pending[0].text, b"/a:abc");
    // The service's pipe is full: the body pauses, no input is wanted, no client timer runs.
    test.behave = Behave::Stingy;
    test.asked = 0;
    let p = conn.handle_input(b"def", &env, &mut test, &mut out);
    assert_eq!((p.consumed, conn.wants_input(), conn.phase()), (0, false, Phase::App));
    conn.resume_body();
    test.behave = Behave::Duplex;
    let rest = [&b"def"[..], next].concat();
    let p = conn.handle_input(&rest, &env, &mut test, &mut out);
    assert_eq!((p.consumed, p.requests, out.len()), (3, 0, 0), "the body's end, and no further");
    assert_eq!((test.pending[0].text.as_slice(), test.pending[0].ended), (&b"/a:abcdef"[..], Some(true)));
    // The body ended: input is held back until the stream is sent.
    assert!(!conn.reads_beside_answer());
    assert_eq!((conn.wants_input(), conn.phase()), (false, Phase::App));
    let p = conn.handle_input(next, &env, &mut test, &mut out);
    assert_eq!(p.consumed, 0);
    drop(tail);
    assert_eq!(conn.tail_sent(&mut out), 0);
    assert_eq!((conn.wants_input(), conn.phase()), (true, Phase::Idle));
    let p = conn.handle_input(next, &env, &mut test, &mut out);
    assert_eq!((p.consumed, p.requests), (next.len(), 1));
}

/// A whole answer (no stream) given while the body arrives still drains the rest, as before.
#[test]
fn a_whole_answer_before_the_body_still_drains_it() {
    let common = CommonHeaders::new(DATE);
    let limits = Limits::default();
    let env = Env { common: &common, limits: &limits, draining: false };
    let mut conn = Conn::new();
    let mut test = Test { behave: Behave::Hold, pending: Vec::new(), asked: 0, tail: None };
    let mut out = Vec::new();
    test.behave = Behave::Streamed;
    let head = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\nab";
    let p = conn.handle_input(head, &env, &mut test, &mut out);
    assert_eq!(p.consumed, head.len());
    assert_eq!(conn.complete(0, &Reply::new(200).body(&b"x"[..]), &env, &mut out), 1);
    assert!(!conn.reads_beside_answer());
    assert_eq!((conn.wants_input(), conn.phase()), (true, Phase::Drain));
}
