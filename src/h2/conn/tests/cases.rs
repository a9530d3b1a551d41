//! Cases: requests answered, each rule's error, flow control, floods, splits.

use super::*;
use crate::app::Reply;
use crate::h2::frame::{Reason, setting};

fn goaway(f: &Out) -> Option<u32> {
    (f.head.kind == kind::GOAWAY).then(|| u32::from_be_bytes(f.payload[4..8].try_into().unwrap()))
}

fn rst(f: &Out) -> Option<(u32, u32)> {
    (f.head.kind == kind::RST_STREAM).then(|| (f.head.stream, u32::from_be_bytes(f.payload[..4].try_into().unwrap())))
}

fn last_goaway(frames: &[Out]) -> Option<u32> {
    frames.iter().rev().find_map(goaway)
}

#[test]
fn a_get_is_one_headers_and_one_data_frame() {
    let mut h = Harness::new();
    let mut c = Client::new();
    let mut input = Client::preface();
    input.extend(c.get(1, "/"));
    let all = h.feed(&input);
    assert_eq!(all[0].head.kind, kind::SETTINGS);
    let ans = answer_frames(all);
    assert_eq!(ans.len(), 2, "{ans:?}");
    assert_eq!((ans[0].head.kind, ans[0].head.stream, ans[0].head.flags), (kind::HEADERS, 1, flag::END_HEADERS));
    let fields = c.decode(&ans[0].payload);
    assert_eq!(fields[0], (":status".into(), "200".into()));
    assert!(fields.contains(&("content-type".into(), "text/plain".into())), "{fields:?}");
    assert!(fields.contains(&("content-length".into(), "5".into())), "{fields:?}");
    assert!(fields.iter().all(|(n, _)| n != "connection" && n != "transfer-encoding"));
    assert_eq!(
        (ans[1].head.kind, ans[1].head.flags, &ans[1].payload[..]),
        (kind::DATA, flag::END_STREAM, &b"hello"[..])
    );
    assert!(h.conn.streams.is_empty());
    assert_eq!(h.conn.served(), 1);
}

#[test]
fn frames_in_any_split_give_the_same_output() {
    let mut c = Client::new();
    let mut input = Client::preface();
    input.extend(c.get(1, "/"));
    input.extend(c.headers(3, &[(":method", "POST"), (":scheme", "http"), (":path", "/p")], false));
    input.extend(data(3, b"abc", false));
    input.extend(data(3, b"de", true));
    input.extend(raw(8, kind::PING, 0, 0, b"12345678"));
    input.extend(c.get(5, "/"));
    let whole = {
        let mut h = Harness::new();
        let mut out = Vec::new();
        h.feed_into(&input, &mut out);
        out
    };
    for step in [1, 2, 7, 13] {
        let mut h = Harness::new();
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            h.feed_into(piece, &mut out);
        }
        assert_eq!(frames(&out), frames(&whole), "split by {step}");
    }
    let posted = answer_frames(frames(&whole));
    assert!(posted.iter().any(|f| f.head.kind == kind::DATA && f.head.stream == 3 && f.payload == b"5"));
}

#[test]
fn connection_errors_get_goaway() {
    use Reason::*;
    let mut c = Client::new();
    let cases: Vec<(Vec<u8>, Reason)> = vec![
        (raw(0, kind::DATA, 0, 1, b""), Protocol), // idle stream
        (c.get(2, "/"), Protocol),                 // even id
        (raw(4, kind::WINDOW_UPDATE, 0, 0, &[0, 0, 0, 0]), Protocol),
        (raw(4, kind::RST_STREAM, 0, 9, &[0, 0, 0, 0]), Protocol), // idle
        (raw(0, kind::CONTINUATION, flag::END_HEADERS, 1, b""), Protocol),
        (raw(6, kind::SETTINGS, 0, 0, &[0, 2, 0, 0, 0, 2]), Protocol),
        (raw(6, kind::SETTINGS, 0, 0, &[0, 4, 0x80, 0, 0, 0]), FlowControl),
        (raw(4, kind::PUSH_PROMISE, 0, 1, &[0, 0, 0, 3]), Protocol),
        (raw(16_385, kind::DATA, 0, 1, &[]), FrameSize),
        (raw(3, kind::HEADERS, flag::END_HEADERS, 1, &[0xff, 0xff, 0xff]), Compression),
    ];
    for (i, (frame, want)) in cases.into_iter().enumerate() {
        let mut h = Harness::new();
        let mut input = Client::preface();
        input.extend(frame);
        let got = h.feed(&input);
        assert_eq!(last_goaway(&got), Some(want as u32), "case {i}: {got:?}");
        assert!(h.conn.is_finished() && !h.conn.wants_input(), "case {i}");
    }
}

#[test]
fn a_bad_preface_or_a_first_frame_other_than_settings_ends_the_connection() {
    let mut h = Harness::new();
    let got = h.feed(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(last_goaway(&got), Some(Reason::Protocol as u32));
    let mut h = Harness::new();
    let mut input = frame::PREFACE.to_vec();
    input.extend(raw(8, kind::PING, 0, 0, b"12345678"));
    assert_eq!(last_goaway(&h.feed(&input)), Some(Reason::Protocol as u32));
}

#[test]
fn malformed_requests_reset_only_their_stream() {
    let mut h = Harness::new();
    let mut c = Client::new();
    h.feed(&Client::preface());
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![(":method", "GET"), (":scheme", "http"), (":path", "/"), ("Upper", "x")],
        vec![(":method", "GET"), (":scheme", "http"), (":path", "/"), ("connection", "close")],
        vec![(":method", "GET"), (":scheme", "http"), (":path", "/"), ("te", "gzip")],
        vec![(":method", "GET"), (":scheme", "http")],
        vec![(":method", "GET"), (":scheme", "http"), (":path", "/"), (":status", "200")],
        vec![(":method", "GET"), ("x", "1"), (":scheme", "http"), (":path", "/")],
    ];
    let mut id = 1;
    for fields in cases {
        let got = h.feed(&c.headers(id, &fields, true));
        assert_eq!(got.iter().find_map(rst), Some((id, Reason::Protocol as u32)), "{fields:?}");
        id += 2;
    }
    let got = answer_frames(h.feed(&c.get(id, "/")));
    assert_eq!(got.last().map(|f| (f.head.stream, f.head.flags)), Some((id, flag::END_STREAM)));
}

#[test]
fn content_length_must_match_the_data() {
    let mut h = Harness::new();
    let mut c = Client::new();
    let mut input = Client::preface();
    input.extend(c.headers(
        1,
        &[(":method", "POST"), (":scheme", "http"), (":path", "/"), ("content-length", "4")],
        false,
    ));
    input.extend(data(1, b"abc", true));
    let got = h.feed(&input);
    assert_eq!(got.iter().find_map(rst), Some((1, Reason::Protocol as u32)));
    assert!(h.svc.calls.is_empty());
}

#[test]
fn a_deferred_answer_comes_back_by_stream_id() {
    let mut h = Harness::new();
    let mut c = Client::new();
    let mut input = Client::preface();
    input.extend(c.get(1, "/defer"));
    input.extend(c.get(3, "/"));
    let got = answer_frames(h.feed(&input));
    assert!(got.iter().all(|f| f.head.stream == 3));
    c.decode(&got[0].payload);
    assert!(h.conn.has_in_flight());
    let mut out = Vec::new();
    let (made, _) = h.complete(1, &Reply::new(201).body(&b"later"[..]), &mut out);
    assert_eq!(made, 1);
    let got = frames(&out);
    assert_eq!(c.decode(&got[0].payload)[0], (":status".into(), "201".into()));
    assert_eq!((got[1].payload.as_slice(), got[1].head.flags), (&b"later"[..], flag::END_STREAM));
    assert!(!h.conn.has_in_flight());
    // Unknown or repeated ids are ignored.
    assert_eq!(h.complete(1, &Reply::new(200), &mut out).0, 0);
}

#[test]
fn data_waits_for_the_peers_window() {
    let mut h = Harness::new();
    let mut c = Client::new();
    let mut input = frame::PREFACE.to_vec();
    frame::write_settings(&mut input, &[(setting::INITIAL_WINDOW_SIZE, 1)]);
    input.extend(c.get(1, "/"));
    let got = answer_frames(h.feed(&input));
    let datas: Vec<_> = got.iter().filter(|f| f.head.kind == kind::DATA).collect();
    assert_eq!((datas.len(), datas[0].payload.as_slice(), datas[0].head.flags), (1, &b"h"[..], 0));
    let mut more = Vec::new();
    frame::write_window_update(&mut more, 1, 10);
    let got = h.feed(&more);
    assert_eq!((got[0].payload.as_slice(), got[0].head.flags), (&b"ello"[..], flag::END_STREAM));
    // A window made negative by SETTINGS waits until updates make it positive.
    let mut h = Harness::new();
    let mut c = Client::new();
    let mut input = Client::preface();
    input.extend(c.get(1, "/defer"));
    frame::write_settings(&mut input, &[(setting::INITIAL_WINDOW_SIZE, 0)]);
    h.feed(&input);
    let mut out = Vec::new();
    h.complete(1, &Reply::new(200).body(&b"abc"[..]), &mut out);
    assert!(frames(&out).iter().all(|f| f.head.kind != kind::DATA));
    let mut more = Vec::new();
    frame::write_window_update(&mut more, 1, 3);
    let got = h.feed(&more);
    assert_eq!(got[0].payload, b"abc");
}

#[test]
fn window_overflow_is_a_flow_control_error() {
    let mut h = Harness::new();
    let mut c = Client::new();
    let mut input = Client::preface();
    input.extend(c.get(1, "/defer"));
    frame::write_window_update(&mut input, 1, 0x7fff_ffff);
    let got = h.feed(&input);
    assert_eq!(got.iter().find_map(rst), Some((1, Reason::FlowControl as u32)));
    let mut input = Vec::new();
    frame::write_window_update(&mut input, 0, 0x7fff_ffff);
    assert_eq!(last_goaway(&h.feed(&input)), Some(Reason::FlowControl as u32));
}

#[test]
fn the_101st_concurrent_stream_is_refused() {
    let mut h = Harness::new();
    let mut c = Client::new();
    let mut input = Client::preface();
    for i in 0..101 {
        input.extend(c.get(1 + 2 * i, "/defer"));
    }
    let got = h.feed(&input);
    assert_eq!(got.iter().filter_map(rst).collect::<Vec<_>>(), [(201, Reason::RefusedStream as u32)]);
    assert_eq!(h.svc.calls.len(), 100);
}

#[test]
fn rapid_reset_ends_the_connection() {
    let mut h = Harness::new();
    let mut c = Client::new();
    let mut input = Client::preface();
    for i in 0..(super::super::MAX_RESETS_PER_SECOND + 1) {
        let id = 1 + 2 * i;
        input.extend(c.get(id, "/defer"));
        input.extend(raw(4, kind::RST_STREAM, 0, id, &[0, 0, 0, 8]));
    }
    let got = h.feed(&input);
    assert_eq!(last_goaway(&got), Some(Reason::EnhanceYourCalm as u32));
}

#[test]
fn ping_is_answered_and_a_flood_ends_the_connection() {
    let mut h = Harness::new();
    let mut input = Client::preface();
    input.extend(raw(8, kind::PING, 0, 0, b"abcdefgh"));
    input.extend(raw(8, kind::PING, flag::ACK, 0, b"abcdefgh"));
    let got = answer_frames(h.feed(&input));
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].head.flags, got[0].payload.as_slice()), (flag::ACK, &b"abcdefgh"[..]));
    let mut flood = Vec::new();
    for _ in 0..super::super::MAX_PINGS_PER_SECOND {
        flood.extend(raw(8, kind::PING, 0, 0, b"abcdefgh"));
    }
    assert_eq!(last_goaway(&h.feed(&flood)), Some(Reason::EnhanceYourCalm as u32));
}

#[test]
fn settings_floods_and_empty_data_floods_end_the_connection() {
    let mut h = Harness::new();
    let mut input = Client::preface();
    for _ in 0..super::super::MAX_SETTINGS_PER_SECOND {
        frame::write_settings(&mut input, &[]);
    }
    assert_eq!(last_goaway(&h.feed(&input)), Some(Reason::EnhanceYourCalm as u32));
    let mut h = Harness::new();
    let mut c = Client::new();
    let mut input = Client::preface();
    input.extend(c.headers(1, &[(":method", "POST"), (":scheme", "http"), (":path", "/")], false));
    for _ in 0..=super::super::MAX_EMPTY_FRAMES_PER_SECOND {
        input.extend(data(1, b"", false));
    }
    assert_eq!(last_goaway(&h.feed(&input)), Some(Reason::EnhanceYourCalm as u32));
}

#[test]
fn a_block_over_continuation_frames_is_assembled_and_bounded() {
    let mut h = Harness::new();
    let mut c = Client::new();
    let block = c.block(&[(":method", "GET"), (":scheme", "http"), (":path", "/"), ("x-a", "1")]);
    let (a, b) = block.split_at(block.len() / 2);
    let mut input = Client::preface();
    input.extend(raw(a.len(), kind::HEADERS, flag::END_STREAM, 1, a));
    input.extend(raw(b.len(), kind::CONTINUATION, flag::END_HEADERS, 1, b));
    let got = answer_frames(h.feed(&input));
    assert_eq!(got.last().map(|f| f.head.flags), Some(flag::END_STREAM));
    // A frame between them is a connection error.
    let mut h = Harness::new();
    let mut input = Client::preface();
    input.extend(raw(a.len(), kind::HEADERS, flag::END_STREAM, 1, a));
    input.extend(raw(8, kind::PING, 0, 0, b"abcdefgh"));
    assert_eq!(last_goaway(&h.feed(&input)), Some(Reason::Protocol as u32));
    // CONTINUATION flood: the block kept is bounded.
    let mut h = Harness::new();
    h.feed(&Client::preface());
    let mut out = Vec::new();
    h.feed_into(&raw(1, kind::HEADERS, 0, 1, &[0x40]), &mut out);
    let filler = vec![b'a'; 16_000];
    for _ in 0..100 {
        h.feed_into(&raw(filler.len(), kind::CONTINUATION, 0, 1, &filler), &mut out);
        if !h.conn.wants_input() {
            break;
        }
    }
    assert_eq!(last_goaway(&frames(&out)), Some(Reason::EnhanceYourCalm as u32));
    assert!(h.conn.block.capacity() < 200_000);
}

#[test]
fn an_hpack_bomb_is_bounded_by_the_decoded_list() {
    let mut h = Harness::new();
    let mut c = Client::new();
    let big = "v".repeat(4000);
    let mut fields = vec![(":method", "GET"), (":scheme", "http"), (":path", "/")];
    for _ in 0..10 {
        fields.push(("x-big", big.as_str()));
    }
    let mut input = Client::preface();
    input.extend(c.headers(1, &fields, true));
    let got = answer_frames(h.feed(&input));
    assert_eq!(c.decode(&got[0].payload)[0], (":status".into(), "431".into()));
    assert!(h.svc.calls.is_empty());
}

#[test]
fn a_streamed_body_holds_its_window_until_the_reader_has_room() {
    let mut h = Harness::new();
    h.svc.room = false;
    let mut c = Client::new();
    let mut input = Client::preface();
    input.extend(c.headers(1, &[(":method", "POST"), (":scheme", "http"), (":path", "/stream")], false));
    input.extend(data(1, &[7u8; 10_000], false));
    input.extend(data(1, &[7u8; 10_000], false));
    let got = h.feed(&input);
    assert!(!got.iter().any(|f| f.head.kind == kind::WINDOW_UPDATE && f.head.stream == 1));
    assert_eq!(h.svc.streamed.len(), 20_000);
    let mut out = Vec::new();
    h.conn.resume_body(1, &mut out);
    let got = frames(&out);
    assert_eq!((got[0].head.kind, got[0].payload.as_slice()), (kind::WINDOW_UPDATE, &20_000u32.to_be_bytes()[..]));
    h.feed(&data(1, b"", true));
    assert_eq!(h.svc.ended, [(1, None)]);
    // Reset by the client: the body ends with an error.
    h.feed(&c.headers(3, &[(":method", "POST"), (":scheme", "http"), (":path", "/stream")], false));
    h.feed(&raw(4, kind::RST_STREAM, 0, 3, &[0, 0, 0, 8]));
    assert_eq!(h.svc.ended.last(), Some(&(3, Some(400))));
}

#[test]
fn a_body_over_its_limit_is_413() {
    let mut h = Harness::new();
    h.limits = h.limits.max_body_size(Some(4));
    let mut c = Client::new();
    let mut input = Client::preface();
    input.extend(c.headers(1, &[(":method", "POST"), (":scheme", "http"), (":path", "/")], false));
    input.extend(data(1, b"abcdef", false));
    let mut out = Vec::new();
    let p = h.feed_into(&input, &mut out);
    let got = answer_frames(frames(&out));
    assert_eq!(c.decode(&got[0].payload)[0], (":status".into(), "413".into()));
    assert_eq!(p.too_large, 1);
    assert_eq!(got.iter().find_map(rst), Some((1, Reason::NoError as u32)));
}

#[test]
fn a_graceful_stop_sends_goaway_and_finishes_open_streams() {
    let mut h = Harness::new();
    let mut c = Client::new();
    let mut input = Client::preface();
    input.extend(c.get(1, "/defer"));
    h.feed(&input);
    let mut out = Vec::new();
    h.conn.go_away(&mut out);
    assert_eq!(
        frames(&out).iter().find_map(|f| (f.head.kind == kind::GOAWAY).then(|| f.payload[..4].to_vec())),
        Some(vec![0, 0, 0, 1])
    );
    assert!(!h.conn.is_finished());
    let got = h.feed(&c.get(3, "/"));
    assert_eq!(got.iter().find_map(rst), Some((3, Reason::RefusedStream as u32)));
    h.complete(1, &Reply::new(200), &mut out);
    assert!(h.conn.is_finished());
}
