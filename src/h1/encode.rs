//! Response encoding: a status line, headers and a body appended to the connection's output buffer.
//!
//! The common head is assembled from pre-encoded pieces: a static status line for common codes,
//! one cached `Server` + `Date` block per thread, and `Content-Length` written with a small
//! integer formatter. Nothing here allocates beyond growing the caller's buffer.

use super::date::DATE_LEN;
use crate::app::response::{BodyLength, Encode, Response};
use crate::semantics::{reason, status_has_body};

/// The `Server` header value.
#[cfg(test)]
pub const SERVER: &str = concat!("hsys/", env!("CARGO_PKG_VERSION"));

/// `Server` and `Date` lines, refreshed with the date cache; copied into every response.
#[derive(Clone, Debug)]
pub struct CommonHeaders {
    block: [u8; COMMON_LEN],
}

const SERVER_LINE: &[u8] = concat!("Server: hsys/", env!("CARGO_PKG_VERSION"), "\r\nDate: ").as_bytes();
const COMMON_LEN: usize = SERVER_LINE.len() + DATE_LEN + 2;

impl CommonHeaders {
    /// The block for a date.
    pub fn new(date: &[u8; DATE_LEN]) -> Self {
        let mut block = [0u8; COMMON_LEN];
        block[..SERVER_LINE.len()].copy_from_slice(SERVER_LINE);
        block[SERVER_LINE.len()..COMMON_LEN - 2].copy_from_slice(date);
        block[COMMON_LEN - 2..].copy_from_slice(b"\r\n");
        CommonHeaders { block }
    }

    /// Replaces the date.
    pub fn set_date(&mut self, date: &[u8; DATE_LEN]) {
        self.block[SERVER_LINE.len()..COMMON_LEN - 2].copy_from_slice(date);
    }

    /// The bytes to copy: `Server: …\r\nDate: …\r\n`.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.block
    }

    /// The `Date` value alone (HTTP/2 sends it as a field).
    #[inline]
    pub fn date(&self) -> &[u8] {
        self.block.get(SERVER_LINE.len()..COMMON_LEN - 2).unwrap_or_default()
    }
}

/// Appends `HTTP/1.1 <code> <reason>\r\n`.
#[inline]
pub fn write_status_line(out: &mut Vec<u8>, status: u16) {
    if status == 200 {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        return;
    }
    let status = status.clamp(100, 999);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(&[
        b'0' + (status / 100) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
        b' ',
    ]);
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends the decimal form of `n`.
#[inline]
pub fn write_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends `Content-Length: <n>\r\n\r\n`, the end of a head whose body has a known length.
#[inline]
fn write_length_end(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=9 => length_end::<1>(out, n),
        10..=99 => length_end::<2>(out, n),
        100..=999 => length_end::<3>(out, n),
        1000..=9999 => length_end::<4>(out, n),
        _ => {
            out.extend_from_slice(b"Content-Length: ");
            write_decimal(out, n);
            out.extend_from_slice(b"\r\n\r\n");
        }
    }
}

/// [`write_length_end`] for an `n` of exactly `D` digits (at most 4): the line is laid out in an
/// array and appended with one copy whose size is a constant (a few moves; the number alone,
/// of varying size, was a `memcpy` call), the digits found by divisions by constants.
#[inline(always)]
fn length_end<const D: usize>(out: &mut Vec<u8>, mut n: u64) {
    const PREFIX: &[u8; 16] = b"Content-Length: ";
    let mut line = *b"Content-Length: 0000\r\n\r\n";
    for b in line[PREFIX.len()..PREFIX.len() + D].iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
    line[PREFIX.len() + D..PREFIX.len() + D + 4].copy_from_slice(b"\r\n\r\n");
    out.extend_from_slice(&line[..PREFIX.len() + D + 4]);
}

/// The HTTP/1 side of the [`Encode`] seam: writes an answer's head and body into the
/// connection's output buffer.
#[derive(Debug)]
pub struct H1Encoder<'a> {
    out: &'a mut Vec<u8>,
    common: &'a CommonHeaders,
    /// Offset in `out` where this answer starts, so a failed handler's partial output can be undone.
    start: usize,
    /// HTTP/1.0 keep-alive: `Connection: keep-alive` is written.
    keep_alive_10: bool,
    /// The request was HTTP/1.0: a body of unknown length is sent raw until the close, not chunked.
    http10: bool,
    /// Answers to later requests are owed after this one: a close it asks for is not written
    /// (the last of them says it), unless its body needs the close to end.
    hold_close: bool,
    /// A close was asked for and held back.
    close_held: bool,
    /// Where in `out` the handler's header lines begin and end, and the body begins (what the
    /// response cache stores of an inline answer: [`Encode::recorded`]); zero until known.
    lines_at: usize,
    lines_end: usize,
    body_at: usize,
}

impl<'a> H1Encoder<'a> {
    /// An encoder appending to `out`; `keep_alive_10` and `http10` from the request.
    pub fn new(out: &'a mut Vec<u8>, common: &'a CommonHeaders, keep_alive_10: bool, http10: bool) -> Self {
        let start = out.len();
        H1Encoder {
            out,
            common,
            start,
            keep_alive_10,
            http10,
            hold_close: false,
            close_held: false,
            lines_at: 0,
            lines_end: 0,
            body_at: 0,
        }
    }

    /// This answer has answers to later requests behind it (see `hold_close`).
    pub fn holding_close(mut self, hold: bool) -> Self {
        self.hold_close = hold;
        self
    }

    /// Whether the answer asked to close and the close was held back (not written).
    pub fn close_held(&self) -> bool {
        self.close_held
    }
}

impl Encode for H1Encoder<'_> {
    #[inline]
    fn start(&mut self, status: u16) {
        write_status_line(self.out, status);
        self.out.extend_from_slice(self.common.as_bytes());
        self.lines_at = self.out.len();
    }

    #[inline]
    fn header(&mut self, name: &str, value: &[u8]) {
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b": ");
        self.out.extend_from_slice(value);
        self.out.extend_from_slice(b"\r\n");
    }

    #[inline]
    fn header_lines(&mut self, lines: &[u8]) {
        self.out.extend_from_slice(lines);
    }

    fn end_head(&mut self, status: u16, length: BodyLength, close: bool) -> bool {
        let has_body = status_has_body(status);
        // A body of unknown length is chunked, except to HTTP/1.0, which knows no chunks: there
        // the close delimits it.
        self.lines_end = self.out.len();
        let framed_by_close = length == BodyLength::Unknown && self.http10 && has_body;
        let close = close || framed_by_close;
        self.close_held = close && self.hold_close && !framed_by_close;
        if close && !self.close_held {
            self.out.extend_from_slice(b"Connection: close\r\n");
        } else if self.keep_alive_10 {
            self.out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        match length {
            BodyLength::Known(n) if status >= 200 && status != 204 && !(status == 304 && n == 0) => {
                write_length_end(self.out, n);
            }
            BodyLength::Unknown if has_body && !self.http10 => {
                self.out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            }
            _ => self.out.extend_from_slice(b"\r\n"),
        }
        self.body_at = self.out.len();
        close
    }

    /// Taken when no `Connection` line is owed (the answer keeps the connection, and the
    /// request is not HTTP/1.0 keep-alive): the status line, the `Server` + `Date` block and
    /// the prepared rest, three copies.
    #[inline]
    fn prepared_head(&mut self, status: u16, head: &[u8], lines_len: usize) -> bool {
        if self.keep_alive_10 {
            return false;
        }
        const OK: &[u8] = b"HTTP/1.1 200 OK\r\n";
        self.out.reserve(OK.len() + COMMON_LEN + head.len());
        if status == 200 {
            self.out.extend_from_slice(OK); // a copy of constant size, without a call
        } else {
            write_status_line(self.out, status);
        }
        self.out.extend_from_slice(self.common.as_bytes());
        self.lines_at = self.out.len();
        self.lines_end = self.lines_at + lines_len;
        self.out.extend_from_slice(head);
        self.body_at = self.out.len();
        self.close_held = false;
        true
    }
    #[inline]
    fn body(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    #[inline]
    fn written(&self) -> usize {
        self.out.len().saturating_sub(self.start)
    }

    fn discard(&mut self) {
        self.out.truncate(self.start);
        (self.lines_at, self.lines_end, self.body_at) = (0, 0, 0);
    }

    fn recorded(&self) -> Option<(&[u8], &[u8])> {
        if self.body_at <= self.start {
            return None; // no head ended yet
        }
        Some((self.out.get(self.lines_at..self.lines_end)?, self.out.get(self.body_at..)?))
    }
}

/// Makes an encoded answer (`bytes`, starting with its head) say `Connection: close`: a
/// `Connection: keep-alive` line becomes one, else the line goes before the head's blank line.
/// Nothing changes when it says so already or holds no complete head.
pub(crate) fn mark_close(bytes: &mut Vec<u8>) {
    const KEEP: &[u8] = b"\r\nConnection: keep-alive\r\n";
    const CLOSE: &[u8] = b"\r\nConnection: close\r\n";
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else { return };
    let head = &bytes[..end + 2];
    if head.windows(CLOSE.len()).any(|w| w == CLOSE) {
        return;
    }
    if let Some(at) = head.windows(KEEP.len()).position(|w| w == KEEP) {
        bytes.splice(at..at + KEEP.len(), CLOSE.iter().copied());
    } else {
        bytes.splice(end + 2..end + 2, CLOSE[2..].iter().copied());
    }
}

/// Writes a complete error answer (`text/plain`, the reason phrase as body, `Connection: close`).
pub(crate) fn write_error(out: &mut Vec<u8>, common: &CommonHeaders, status: u16, head_only: bool) {
    write_error_body(out, common, status, reason(status), head_only);
}

/// Writes a complete error answer with its own body text and `Connection: close`.
pub(crate) fn write_error_body(out: &mut Vec<u8>, common: &CommonHeaders, status: u16, text: &str, head_only: bool) {
    let mut enc = H1Encoder::new(out, common, false, false);
    let mut res = Response::new(&mut enc, head_only, true);
    res.status(status).header("Content-Type", "text/plain");
    let _ = res.body(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::reply::Prepared;

    #[test]
    fn status_lines() {
        let cases: &[(u16, &str)] = &[
            (200, "HTTP/1.1 200 OK\r\n"),
            (404, "HTTP/1.1 404 Not Found\r\n"),
            (431, "HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            (299, "HTTP/1.1 299 \r\n"),
            (7, "HTTP/1.1 100 Continue\r\n"),
        ];
        for (code, line) in cases {
            let mut out = Vec::new();
            write_status_line(&mut out, *code);
            assert_eq!(std::str::from_utf8(&out).unwrap(), *line, "{code}");
        }
    }

    #[test]
    fn decimals() {
        for n in [0u64, 7, 10, 512, 99_999, u64::MAX] {
            let mut out = Vec::new();
            write_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn length_ends() {
        for n in [0u64, 7, 9, 10, 99, 100, 512, 999, 1000, 9999, 10_000, 99_999, 1 << 40, u64::MAX] {
            let mut out = b"x".to_vec();
            write_length_end(&mut out, n);
            assert_eq!(out, format!("xContent-Length: {n}\r\n\r\n").as_bytes());
        }
    }

    #[test]
    fn common_block() {
        let mut c = CommonHeaders::new(b"Sun, 06 Nov 1994 08:49:37 GMT");
        let want = format!("Server: {SERVER}\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n");
        assert_eq!(c.as_bytes(), want.as_bytes());
        c.set_date(b"Mon, 07 Nov 1994 08:49:37 GMT");
        assert!(c.as_bytes().ends_with(b"Mon, 07 Nov 1994 08:49:37 GMT\r\n"));
    }

    /// Writes an answer through the HTTP/1 encoder: `f` gets the `Response`.
    fn h1(
        out: &mut Vec<u8>,
        c: &CommonHeaders,
        head_only: bool,
        close: bool,
        ka10: bool,
        f: impl FnOnce(&mut Response<'_>) -> Result<(), crate::app::ResponseError>,
    ) {
        let mut enc = H1Encoder::new(out, c, ka10, false);
        let mut res = Response::new(&mut enc, head_only, close);
        f(&mut res).expect("a valid answer");
    }

    fn common() -> CommonHeaders {
        CommonHeaders::new(b"Sun, 06 Nov 1994 08:49:37 GMT")
    }

    fn text(out: &[u8]) -> String {
        String::from_utf8(out.to_vec()).unwrap().replace(SERVER, "S")
    }

    const DATE: &str = "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n";

    #[test]
    fn plain_answer() {
        let c = common();
        let mut out = Vec::new();
        h1(&mut out, &c, false, false, false, |r| r.header("Content-Type", "text/plain").body(b"hi"));
        assert_eq!(
            text(&out),
            format!("HTTP/1.1 200 OK\r\nServer: S\r\n{DATE}Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi")
        );
    }

    /// A prepared answer is byte for byte what the same answer written header by header is, for
    /// every status class, `HEAD`, close and HTTP/1.0 keep-alive.
    #[test]
    fn prepared_answers_match_written_ones() {
        let c = common();
        // (Invalid headers are misuses, refused by both: `misuse_is_an_error_and_a_500`.)
        let common_headers: [(&str, &[u8]); 2] = [("Content-Type", b"text/plain"), ("Content-Length", b"9")];
        let closing = [common_headers.as_slice(), &[("Connection", b"keep-alive, close")]].concat();
        for headers in [&common_headers[..], &closing] {
            // 1xx and out-of-range statuses are misuses, refused by both (below).
            for status in [200, 204, 304, 404, 405] {
                for body in [&b""[..], b"hello"] {
                    let prepared = Prepared::new(status, headers.iter().copied(), body).unwrap();
                    for (head_only, close, keep_alive_10) in
                        [(false, false, false), (true, false, false), (false, true, false), (false, false, true)]
                    {
                        let (mut a, mut b) = (Vec::new(), Vec::new());
                        h1(&mut a, &c, head_only, close, keep_alive_10, |r| r.prepared(&prepared));
                        h1(&mut b, &c, head_only, close, keep_alive_10, |res| {
                            res.status(status);
                            for (n, v) in headers {
                                res.header(n, v);
                            }
                            res.body(body)
                        });
                        assert_eq!(text(&a), text(&b), "{status} {body:?} {head_only} {close} {keep_alive_10}");
                    }
                }
            }
        }
    }

    /// A prepared answer's head copied whole (no `Connection` owed) records the same header
    /// lines and body as one given the long way (what the cache stores of it).
    #[test]
    fn a_prepared_head_copied_whole_records_its_lines_and_body() {
        let c = common();
        let prepared = Prepared::new(200, [("Content-Type", &b"text/plain"[..]), ("X-A", b"1")], b"hello").unwrap();
        for keep_alive_10 in [false, true] {
            let mut out = b"earlier answer".to_vec();
            let mut enc = H1Encoder::new(&mut out, &c, keep_alive_10, keep_alive_10);
            let mut res = Response::new(&mut enc, false, false);
            res.prepared(&prepared).unwrap();
            drop(res);
            let (lines, body) = enc.recorded().unwrap();
            assert_eq!((lines, body), (&b"Content-Type: text/plain\r\nX-A: 1\r\n"[..], &b"hello"[..]));
        }
    }

    /// A prepared body of `SHARED_BODY_MIN` bytes or more is not copied: the output holds the
    /// head, and the body follows as a tail sharing the prepared bytes. A shorter one is copied
    /// as before; a `HEAD` answer has neither.
    #[test]
    fn large_prepared_bodies_follow_as_a_shared_tail() {
        use crate::app::response::{SHARED_BODY_MIN, Tail};
        let c = common();
        let headers: [(&str, &[u8]); 1] = [("Content-Type", b"text/plain")];
        let head = |len: usize| {
            format!("HTTP/1.1 200 OK\r\nServer: S\r\n{DATE}Content-Type: text/plain\r\nContent-Length: {len}\r\n\r\n")
        };
        // (head_only, body length): what the output holds, and whether a tail follows.
        for (head_only, len) in [
            (false, SHARED_BODY_MIN - 1),
            (false, SHARED_BODY_MIN),
            (false, 256 * 1024),
            (true, SHARED_BODY_MIN - 1),
            (true, 256 * 1024),
        ] {
            let body: Vec<u8> = (0..len).map(|i| b'0' + (i % 10) as u8).collect();
            let prepared = Prepared::new(200, headers, &body).unwrap();
            let mut out = Vec::new();
            let mut enc = H1Encoder::new(&mut out, &c, false, false);
            let mut res = Response::new(&mut enc, head_only, false);
            res.prepared(&prepared).unwrap();
            let tail = res.take_tail();
            let shared = !head_only && len >= SHARED_BODY_MIN;
            match tail {
                Some(Tail::Shared(s)) if shared => {
                    assert!(std::sync::Arc::ptr_eq(&s.body, &prepared.body), "{len}: the prepared bytes, not a copy");
                    assert_eq!(s.offset, 0);
                }
                None if !shared => {}
                other => panic!("{head_only} {len}: tail {other:?}"),
            }
            let mut want = head(len).into_bytes();
            if !head_only && !shared {
                want.extend_from_slice(&body);
            }
            assert!(text(&out).as_bytes() == want, "{head_only} {len}: {}", text(&out).len());
        }
    }

    #[test]
    fn head_keeps_length_drops_body() {
        let c = common();
        let mut out = Vec::new();
        h1(&mut out, &c, true, false, false, |r| r.body(b"hello"));
        assert_eq!(text(&out), format!("HTTP/1.1 200 OK\r\nServer: S\r\n{DATE}Content-Length: 5\r\n\r\n"));
    }

    #[test]
    fn no_content_has_no_length() {
        let c = common();
        let mut out = Vec::new();
        h1(&mut out, &c, false, false, false, |r| r.status(204).body(b"ignored"));
        assert_eq!(text(&out), format!("HTTP/1.1 204 No Content\r\nServer: S\r\n{DATE}\r\n"));
    }

    #[test]
    fn framing_headers_dropped() {
        // (Unsafe headers are misuses: `misuse_is_an_error_and_a_500`.)
        let c = common();
        let mut out = Vec::new();
        h1(&mut out, &c, false, false, true, |r| {
            r.header("Content-Length", "99").header("Connection", "Close");
            assert!(r.closes());
            r.body(b"")
        });
        assert_eq!(
            text(&out),
            format!("HTTP/1.1 200 OK\r\nServer: S\r\n{DATE}Connection: close\r\nContent-Length: 0\r\n\r\n")
        );
    }

    #[test]
    fn unfinished_becomes_500_and_error_replaces() {
        let c = common();
        let mut out = b"prev".to_vec();
        h1(&mut out, &c, false, false, false, |r| {
            r.finish();
            assert!(r.closes());
            Ok(())
        });
        assert!(text(&out).starts_with("prevHTTP/1.1 500 Internal Server Error\r\n"));
        let mut out = b"prev".to_vec();
        h1(&mut out, &c, false, false, false, |r| {
            r.header("X", "1");
            r.replace_with_error(500);
            Ok(())
        });
        assert!(!text(&out).contains("X: 1"));
        assert!(text(&out).starts_with("prevHTTP/1.1 500"));
        assert!(text(&out).ends_with("Connection: close\r\nContent-Length: 21\r\n\r\nInternal Server Error"));
    }

    #[test]
    fn keep_alive_10() {
        let c = common();
        let mut out = Vec::new();
        h1(&mut out, &c, false, false, true, |r| r.body(b""));
        assert!(text(&out).contains("Connection: keep-alive\r\n"));
    }

    /// A body of unknown length: chunked to HTTP/1.1, raw until the close to HTTP/1.0, and no
    /// framing at all for a status without a body.
    #[test]
    fn unknown_length_framing() {
        let c = common();
        for (http10, status, want_te, want_close) in
            [(false, 200, true, false), (true, 200, false, true), (false, 204, false, false), (true, 304, false, false)]
        {
            let mut out = Vec::new();
            let mut enc = H1Encoder::new(&mut out, &c, false, http10);
            enc.start(status);
            let closes = enc.end_head(status, BodyLength::Unknown, false);
            assert_eq!(closes, want_close, "{http10} {status}");
            let t = text(&out);
            assert_eq!(t.contains("Transfer-Encoding: chunked\r\n"), want_te, "{t}");
            assert_eq!(t.contains("Connection: close\r\n"), want_close, "{t}");
            assert!(t.ends_with("\r\n\r\n"), "{t}");
        }
    }

    #[test]
    fn misuse_is_an_error_and_a_500() {
        use crate::app::ResponseError as E;
        let c = common();
        type Misuse = fn(&mut Response<'_>) -> Result<(), E>;
        let cases: [(&str, Misuse, E); 6] = [
            ("status after header", |r| r.header("Location", "/x").status(201).body(b""), E::StatusAfterHeaders),
            ("invalid header name", |r| r.header("Bad Name", "v").body(b"x"), E::InvalidHeader),
            ("header value with LF", |r| r.header("X", "a\nb").body(b"x"), E::InvalidHeader),
            ("1xx as final answer", |r| r.status(101).body(b""), E::InformationalStatus(101)),
            ("status over 999", |r| r.status(1000).body(b""), E::InvalidStatus(1000)),
            ("status under 100", |r| r.status(7).body(b""), E::InvalidStatus(7)),
        ];
        for (what, f, want) in cases {
            let mut out = Vec::new();
            let mut enc = H1Encoder::new(&mut out, &c, false, false);
            let mut res = Response::new(&mut enc, false, false);
            assert_eq!(f(&mut res), Err(want), "{what}");
            assert!(!res.closes(), "{what}: the connection stays usable");
            drop(res);
            let got = text(&out);
            assert!(got.starts_with("HTTP/1.1 500 Internal Server Error\r\n"), "{what}: {got}");
            assert!(got.ends_with("\r\n\r\nInternal Server Error"), "{what}: {got}");
        }
        // A second body is refused and the first answer stands.
        let mut out = Vec::new();
        let mut enc = H1Encoder::new(&mut out, &c, false, false);
        let mut res = Response::new(&mut enc, false, false);
        assert_eq!(res.body(b"first"), Ok(()));
        assert_eq!(res.body(b"second"), Err(E::AlreadyAnswered));
        drop(res);
        assert!(text(&out).ends_with("\r\n\r\nfirst"));
        // Prepared answers are checked when made.
        assert_eq!(Prepared::new(100, [], b"").unwrap_err(), E::InformationalStatus(100));
        assert_eq!(Prepared::new(200, [("X", &b"a\rb"[..])], b"").unwrap_err(), E::InvalidHeader);
    }

    #[test]
    fn mark_close_puts_the_close_in_the_head() {
        let cases: &[(&str, &str)] = &[
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
            ),
            (
                "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            ),
            ("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"),
            // A body that looks like a head is left alone.
            (
                "HTTP/1.1 204 No Content\r\n\r\nX: 1\r\n\r\n",
                "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\nX: 1\r\n\r\n",
            ),
            ("not a head", "not a head"),
        ];
        for (before, after) in cases {
            let mut bytes = before.as_bytes().to_vec();
            mark_close(&mut bytes);
            assert_eq!(String::from_utf8(bytes).unwrap(), *after, "{before:?}");
        }
    }
}
