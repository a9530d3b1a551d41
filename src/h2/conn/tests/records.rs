//! Cases: what the service hears of each answer (for the access log) and what the response
//! cache would store of one.

use super::*;
use crate::app::Reply;
use crate::h2::frame::setting;

/// The bytes of stream `id`'s answer in `out`: its HEADERS and DATA frames, headers included
/// (not an `RST_STREAM` that may follow it).
fn stream_bytes(out: &[u8], id: u32) -> u64 {
    let answer = |f: &&Out| f.head.stream == id && matches!(f.head.kind, kind::HEADERS | kind::DATA);
    frames(out).iter().filter(answer).map(|f| 9 + f.payload.len() as u64).sum()
}

fn post(c: &mut Client, id: u32, path: &str, length: Option<&str>) -> Vec<u8> {
    let mut fields = vec![(":method", "POST"), (":scheme", "http"), (":path", path)];
    if let Some(n) = length {
        fields.push(("content-length", n));
    }
    c.headers(id, &fields, false)
}

#[test]
fn every_answer_is_told_to_the_service_once_with_its_status_and_bytes() {
    let mut h = Harness::new();
    h.limits = Limits::default().max_field_length(50).max_body_size(Some(10));
    let mut c = Client::new();
    let mut input = Client::preface();
    input.extend(c.get(1, "/"));
    input.extend(c.get(3, "/defer"));
    let big = "x".repeat(100);
    input.extend(c.headers(5, &[(":method", "GET"), (":scheme", "http"), (":path", "/big"), ("x-big", &big)], true));
    input.extend(post(&mut c, 7, "/declared", Some("100")));
    input.extend(post(&mut c, 9, "/stream", None));
    input.extend(data(9, &[b's'; 20], false));
    input.extend(post(&mut c, 11, "/collected", None));
    input.extend(data(11, &[b'c'; 20], false));
    let mut out = Vec::new();
    h.feed_into(&input, &mut out);
    let sent = |id, status| Some(Sent { status, bytes: stream_bytes(&out, id) });
    let called: Vec<_> = h.svc.called.iter().map(|(id, path, s)| (*id, path.as_str(), *s)).collect();
    assert_eq!(
        called,
        [
            (1, "/", sent(1, 200)),
            (3, "/defer", None),
            (5, "/big", sent(5, 431)),
            (7, "/declared", sent(7, 413)),
            (9, "/stream", None),
            (11, "/collected", sent(11, 413)),
        ]
    );
    // The streamed request's line was begun deferred: its `413` completes it.
    assert_eq!(h.svc.answered, [(9, Sent { status: 413, bytes: stream_bytes(&out, 9) })]);
    assert!(stream_bytes(&out, 1) > 9 + 9 + 5);
    // The deferred answer's, when it comes; none for a stream already answered.
    let mut later = Vec::new();
    let (made, _, s) = h.complete_sent(3, &Reply::new(201).body(&b"later"[..]), &mut later);
    assert_eq!((made, s), (1, Some(Sent { status: 201, bytes: stream_bytes(&later, 3) })));
    assert_eq!(h.complete_sent(9, &Reply::new(200), &mut later).2, None);
    assert_eq!(h.svc.called.len(), 6);
}

#[test]
fn an_answer_asked_to_be_recorded_is_recorded_as_given_whatever_the_window() {
    let mut h = Harness::new();
    let mut c = Client::new();
    let mut input = frame::PREFACE.to_vec();
    // A window smaller than the body: most of it waits in the stream, all of it is recorded.
    frame::write_settings(&mut input, &[(setting::INITIAL_WINDOW_SIZE, 10)]);
    input.extend(c.get(1, "/cache"));
    let got = answer_frames(h.feed(&input));
    let fields = c.decode(&got[0].payload);
    assert!(fields.contains(&("x-a".into(), "1".into())), "{fields:?}");
    assert_eq!(got[1].payload, [b'c'; 10]);
    let (lines, body) = h.svc.given.take().expect("recorded");
    assert_eq!((lines.as_slice(), body.as_slice()), (&b"X-A: 1\r\n"[..], &[b'c'; 100][..]));
}

#[test]
fn the_record_buffer_goes_back_when_the_connection_is_idle() {
    let mut h = Harness::new();
    let mut c = Client::new();
    let mut input = Client::preface();
    input.extend(c.get(1, "/cache"));
    assert_eq!(answer_frames(h.feed(&input)).len(), 2);
    assert!(h.svc.given.is_some());
    assert!(h.conn.holds_no_spare(), "the copy kept for the cache is not held by an idle connection");
}
