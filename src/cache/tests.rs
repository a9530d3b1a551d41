//! The cache's rules, conditional requests and store, on tables (no sockets).

use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::conditional::{http_date, none_match_fails, not_modified};
use super::rules::{Ask, Refusal, ask, refusal};
use super::store::{FlushHost, Store, under};
use super::{CacheLimits, Reader};
use crate::app::cache::{Body, CachePolicy, Given, Routing};
use crate::app::{BodyKind, Request, Version};

/// Parses `head` into a request and hands it to `f`.
fn with_request<R>(head: &str, f: impl FnOnce(&Request<'_>) -> R) -> R {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; 16];
    let mut req = httparse::Request::new(&mut []);
    let status = req.parse_with_uninit_headers(head.as_bytes(), &mut slots);
    assert!(matches!(status, Ok(httparse::Status::Complete(_))), "{head:?}");
    let body = match req.headers.iter().find(|h| h.name.eq_ignore_ascii_case("content-length")) {
        Some(h) => BodyKind::Length(std::str::from_utf8(h.value).unwrap().parse().unwrap()),
        None if req.headers.iter().any(|h| h.name.eq_ignore_ascii_case("transfer-encoding")) => BodyKind::Chunked,
        None => BodyKind::Empty,
    };
    let r = Request {
        method: req.method.unwrap(),
        target: req.path.unwrap(),
        version: if req.version == Some(0) { Version::Http10 } else { Version::Http11 },
        headers: req.headers,
        body,
        body_bytes: &[],
        host: None,
        head_len: head.len(),
        route_path: None,
        tls: None,
    };
    f(&r)
}

#[test]
fn what_requests_the_cache_may_serve_and_store() {
    let cases: &[(&str, Ask)] = &[
        ("GET /a HTTP/1.1\r\nHost: h\r\n\r\n", Ask::Store),
        ("GET /a HTTP/1.0\r\n\r\n", Ask::Store),
        ("HEAD /a HTTP/1.1\r\nHost: h\r\n\r\n", Ask::Serve),
        ("GET /a HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", Ask::Store),
        ("GET /a HTTP/1.1\r\nTranslate: t\r\n\r\n", Ask::Store),
        ("GET /a HTTP/1.1\r\nIf-None-Match: \"x\"\r\n\r\n", Ask::Store),
        // Each of http.sys's refusals.
        ("POST /a HTTP/1.1\r\nContent-Length: 0\r\n\r\n", Ask::Pass),
        ("PUT /a HTTP/1.1\r\n\r\n", Ask::Pass),
        ("OPTIONS * HTTP/1.1\r\n\r\n", Ask::Pass),
        ("GET /a HTTP/1.1\r\nContent-Length: 3\r\n\r\n", Ask::Pass),
        ("GET /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", Ask::Pass),
        ("GET /a?x=1 HTTP/1.1\r\n\r\n", Ask::Pass),
        ("GET /a? HTTP/1.1\r\n\r\n", Ask::Pass),
        ("GET /a HTTP/1.1\r\nAuthorization: Basic eDp5\r\n\r\n", Ask::Pass),
        ("HEAD /a HTTP/1.1\r\nauthorization: x\r\n\r\n", Ask::Pass),
        ("GET /a HTTP/1.1\r\nRange: bytes=0-1\r\n\r\n", Ask::Pass),
        ("GET /a HTTP/1.1\r\nIf-Range: \"x\"\r\n\r\n", Ask::Pass),
        ("GET /a HTTP/1.1\r\nTranslate: f\r\n\r\n", Ask::Pass),
        ("GET /a HTTP/1.1\r\nTRANSLATE:  F \r\n\r\n", Ask::Pass),
        ("GET /a HTTP/1.1\r\nExpect: 100-continue, x\r\n\r\n", Ask::Pass),
        ("GET /a HTTP/1.1\r\nExpect: bananas\r\n\r\n", Ask::Pass),
    ];
    for (head, want) in cases {
        assert_eq!(with_request(head, ask), *want, "{head:?}");
    }
}

#[test]
fn a_conditional_request_is_told_apart_in_the_same_pass() {
    let cases: &[(&str, bool)] = &[
        ("GET /a HTTP/1.1\r\nHost: h\r\n\r\n", false),
        ("GET /a HTTP/1.1\r\nIf-None-Match: \"x\"\r\n\r\n", true),
        ("HEAD /a HTTP/1.1\r\nif-modified-since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n", true),
        ("GET /a HTTP/1.1\r\nIf-Unmodified-S: x\r\nX-None-Match-Xyz: y\r\n\r\n", false),
        // Refused: nothing to serve, conditional or not.
        ("GET /a HTTP/1.1\r\nIf-None-Match: \"x\"\r\nRange: bytes=0-1\r\n\r\n", false),
    ];
    for (head, want) in cases {
        assert_eq!(with_request(head, |r| super::rules::examine(r).1), *want, "{head:?}");
    }
}

fn given<'a>(status: u16, lines: &'a [u8], body: &'a [u8], policy: CachePolicy) -> Given<'a> {
    Given { status, lines, body: Body::Bytes(body), policy }
}

#[test]
fn what_answers_the_cache_may_store() {
    let big_lines = format!("X-Pad: {}\r\n", "p".repeat(1024));
    let body_max = vec![b'b'; super::rules::MAX_ANSWER_BYTES - 6];
    let body_over = vec![b'b'; super::rules::MAX_ANSWER_BYTES - 5];
    let ttl = CachePolicy::TimeToLive(5);
    let cases: &[(Given<'_>, Option<Refusal>)] = &[
        (given(200, b"X: y\r\n", b"hi", CachePolicy::UserInvalidates), None),
        (given(404, b"", b"gone", ttl), None),
        (given(200, b"X: y\r\n", &body_max, ttl), None),
        (given(200, b"", b"hi", CachePolicy::NoCache), Some(Refusal::Policy)),
        (given(200, b"", b"hi", CachePolicy::TimeToLive(0)), Some(Refusal::Policy)),
        (given(200, b"", b"", ttl), Some(Refusal::Empty)),
        (given(204, b"", b"", ttl), Some(Refusal::Empty)),
        (given(304, b"ETag: \"x\"\r\n", b"", ttl), Some(Refusal::Empty)),
        (given(200, big_lines.as_bytes(), b"hi", ttl), Some(Refusal::LargeHeaders)),
        (given(200, b"X: y\r\n", &body_over, ttl), Some(Refusal::TooLarge)),
        (given(200, b"Vary: Accept-Encoding\r\n", b"hi", ttl), Some(Refusal::Varies)),
    ];
    for (i, (g, want)) in cases.iter().enumerate() {
        assert_eq!(refusal(g), *want, "case {i}");
    }
}

#[test]
fn if_none_match_lists() {
    let cases: &[(&str, &str, bool)] = &[
        ("\"a\"", "\"a\"", true),
        ("\"a\"", "W/\"a\"", true),
        ("W/\"a\"", "\"a\"", true),
        ("\"b\", \"a\"", "\"a\"", true),
        (" ,, \"b\" ,W/\"a\"", "\"a\"", true),
        ("*", "\"a\"", true),
        ("\"b\"", "\"a\"", false),
        ("\"a", "\"a\"", false),
        ("a", "\"a\"", false),
        ("\"b\" \"a\"", "\"a\"", false),
        ("\"b\", junk, \"a\"", "\"a\"", false),
        ("", "\"a\"", false),
        ("\"a\"", "a", false),
        ("\"a b\"", "\"a b\"", false),
    ];
    for (list, etag, want) in cases {
        assert_eq!(none_match_fails(list.as_bytes(), etag.as_bytes()), *want, "{list:?} vs {etag:?}");
    }
}

#[test]
fn http_dates_in_all_three_forms() {
    let t = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
    let cases: &[(&str, Option<u64>)] = &[
        ("Sun, 06 Nov 1994 08:49:37 GMT", Some(t)),
        ("Sunday, 06-Nov-94 08:49:37 GMT", Some(t)),
        ("Sun Nov  6 08:49:37 1994", Some(t)),
        ("Thu, 01 Jan 1970 00:00:00 GMT", Some(0)),
        ("Tue, 29 Feb 2000 23:59:59 GMT", Some(951_868_799)),
        ("Sun, 06 Nov 1994 08:49:37 UTC", None),
        ("Sun, 06 Xyz 1994 08:49:37 GMT", None),
        ("Sun, 6 Nov 1994 08:49:37 GMT", None),
        ("Sun, 06 Nov 1994 24:49:37 GMT", None),
        ("Wed, 31 Dec 1969 23:59:59 GMT", None),
        ("", None),
        ("garbage", None),
    ];
    for (text, want) in cases {
        assert_eq!(http_date(text.as_bytes()), *want, "{text:?}");
    }
}

#[test]
fn conditional_requests_against_an_answer() {
    let lm = http_date(b"Sun, 06 Nov 1994 08:49:37 GMT");
    let etag = Some(&b"\"v1\""[..]);
    let (later, earlier) = (Some(&b"Mon, 07 Nov 1994 00:00:00 GMT"[..]), Some(&b"Sat, 05 Nov 1994 00:00:00 GMT"[..]));
    let same = Some(&b"Sun, 06 Nov 1994 08:49:37 GMT"[..]);
    assert!(not_modified(Some(b"\"v1\""), None, etag, lm));
    assert!(!not_modified(Some(b"\"v2\""), None, etag, lm));
    // If-Modified-Since counts only without If-None-Match.
    assert!(!not_modified(Some(b"\"v2\""), later, etag, lm));
    assert!(!not_modified(Some(b"\"v1\""), None, None, lm));
    assert!(not_modified(None, later, etag, lm));
    assert!(not_modified(None, same, etag, lm));
    assert!(!not_modified(None, earlier, etag, lm));
    assert!(!not_modified(None, Some(b"yesterday"), etag, lm));
    assert!(!not_modified(None, later, etag, None));
    assert!(!not_modified(None, None, etag, lm));
}

fn routing(group: usize) -> Routing {
    Routing { port: 80, local_ip: IpAddr::V4(Ipv4Addr::LOCALHOST), group, generation: 0 }
}

#[test]
fn stored_answers_are_found_by_port_host_and_path_once_published() {
    let store = Arc::new(Store::new(CacheLimits::default(), 1));
    let mut reader = Reader::new(Arc::clone(&store), 0);
    let now = Instant::now();
    let answer = given(200, b"ETag: \"1\"\r\n", b"one", CachePolicy::UserInvalidates);
    assert!(store.insert(&routing(0), b"h", "/a", &answer, now));
    assert!(reader.lookup(80, b"h", "/a", now).is_none(), "not taken yet");
    reader.refresh();
    let e = reader.lookup(80, b"h", "/a", now).expect("found");
    assert_eq!(&*e.answer.body, b"one");
    assert_eq!(e.etag.as_deref(), Some(&b"\"1\""[..]));
    assert_eq!(e.not_modified.headers(), b"ETag: \"1\"\r\n");
    for (port, host, path) in
        [(81, &b"h"[..], "/a"), (80, b"H", "/a"), (80, b"h", "/A"), (80, b"h", "/a/"), (80, b"", "h/a")]
    {
        assert!(reader.lookup(port, host, path, now).is_none(), "{port} {host:?} {path}");
    }
    // A newer answer replaces it; an answer routed by an older table is not stored.
    assert!(store.insert(&routing(0), b"h", "/a", &given(200, b"", b"two", CachePolicy::UserInvalidates), now));
    let old = Routing { generation: 7, ..routing(0) };
    assert!(!store.insert(&old, b"h", "/b", &answer, now));
    reader.refresh();
    assert_eq!(reader.lookup(80, b"h", "/a", now).map(|e| &*e.answer.body), Some(&b"two"[..]));
    assert_eq!(store.stats().entries, 1);
}

#[test]
fn time_to_live_ends_an_entry() {
    let store = Arc::new(Store::new(CacheLimits::default(), 1));
    let mut reader = Reader::new(Arc::clone(&store), 0);
    let now = Instant::now();
    store.insert(&routing(0), b"h", "/t", &given(200, b"", b"x", CachePolicy::TimeToLive(2)), now);
    reader.refresh();
    assert!(reader.lookup(80, b"h", "/t", now + Duration::from_millis(1999)).is_some());
    assert!(reader.lookup(80, b"h", "/t", now + Duration::from_secs(2)).is_none());
    store.maintain(now + Duration::from_secs(3));
    assert_eq!(store.stats().entries, 0);
    assert_eq!(store.stats().evictions, 1);
}

#[test]
fn eviction_keeps_the_cache_within_its_limits_and_spares_what_is_served() {
    let body = vec![b'x'; 1000];
    let one = super::entry::ENTRY_OVERHEAD + 2 * 3 + body.len();
    let store = Arc::new(Store::new(CacheLimits::default().max_bytes(4 * one), 1));
    let mut reader = Reader::new(Arc::clone(&store), 0);
    let now = Instant::now();
    let answer = given(200, b"", &body, CachePolicy::UserInvalidates);
    for i in 0..4 {
        assert!(store.insert(&routing(0), b"h", &format!("/{i}"), &answer, now));
    }
    reader.refresh();
    // `/0` is served: the clock hand spares it once.
    reader.lookup(80, b"h", "/0", now).map(super::Entry::touch);
    store.insert(&routing(0), b"h", "/4", &answer, now);
    let s = store.stats();
    assert_eq!((s.entries, s.evictions), (4, 1));
    assert!(s.bytes as usize <= 4 * one);
    reader.refresh();
    assert!(reader.lookup(80, b"h", "/0", now).is_some(), "the served one stays");
    assert!(reader.lookup(80, b"h", "/1", now).is_none(), "the next one went");
    // An answer larger than the whole cache is not stored.
    let huge = vec![b'x'; 5 * one];
    assert!(!store.insert(&routing(0), b"h", "/huge", &given(200, b"", &huge, CachePolicy::UserInvalidates), now));
    // The entry limit.
    let store = Store::new(CacheLimits::default().max_entries(2), 1);
    for i in 0..5 {
        store.insert(&routing(0), b"h", &format!("/{i}"), &answer, now);
    }
    assert_eq!(store.stats().entries, 2);
    // Off.
    let off = Store::new(CacheLimits::default().max_bytes(0), 1);
    assert!(!off.insert(&routing(0), b"h", "/", &answer, now));
}

#[test]
fn flushes_name_one_answer_or_a_subtree() {
    let store = Store::new(CacheLimits::default(), 1);
    let now = Instant::now();
    let answer = given(200, b"", b"x", CachePolicy::UserInvalidates);
    for (host, path) in
        [("a.test:80", "/d/1"), ("a.test", "/d/2"), ("b.test", "/d/1"), ("a.test", "/dx"), ("a.test", "/")]
    {
        store.insert(&routing(0), host.as_bytes(), path, &answer, now);
    }
    let count = |host: FlushHost<'_>, path: &str, recursive: bool| {
        let mut n = 0;
        store.remove(|e| {
            n += usize::from(under(e, host, 80, path, recursive));
            false
        });
        n
    };
    assert_eq!(count(FlushHost::Any, "/d/1", false), 2);
    assert_eq!(count(FlushHost::Name("A.TEST"), "/d/1", false), 1);
    assert_eq!(count(FlushHost::Name("a.test"), "/d/", true), 2);
    assert_eq!(count(FlushHost::Name("a.test"), "/d", true), 2);
    assert_eq!(count(FlushHost::Any, "/", true), 5);
    assert_eq!(count(FlushHost::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)), "/", true), 5);
    assert_eq!(count(FlushHost::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))), "/", true), 0);
    assert_eq!(store.stats().flushes, 0, "nothing removed yet");
    assert_eq!(store.remove(|e| under(e, FlushHost::Any, 80, "/d/", true)), 3);
    let s = store.stats();
    assert_eq!((s.entries, s.flushes, s.flushed), (2, 1, 3));
}
