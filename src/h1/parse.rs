//! Request heads: find the end of a head cheaply, parse it with `httparse` into caller-owned
//! header slots, and map every way a head can be wrong to one status.

use std::mem::MaybeUninit;

use crate::limits::{Limits, Strictness};

/// Why a head is refused. Every variant closes the connection after its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// Malformed request line or header line, or a target holding a byte no target may (see
    /// [`has_bad_target_byte`]): `400`.
    Malformed,
    /// The head is larger than [`Limits::max_request_bytes`], has a header line longer than
    /// [`Limits::max_field_length`], or has more than [`Limits::max_headers`] headers: `431`.
    TooLarge,
    /// The target is longer than [`Limits::max_url_length`]: `414`.
    UrlTooLong,
    /// A well-formed `HTTP/x.y` other than 1.0 and 1.1: `505`.
    Version,
}

impl HeadError {
    /// The status this error is answered with.
    pub fn status(self) -> u16 {
        match self {
            HeadError::Malformed => 400,
            HeadError::TooLarge => 431,
            HeadError::UrlTooLong => 414,
            HeadError::Version => 505,
        }
    }
}

/// A parsed head: the `httparse` request (with its headers in the caller's slots) and its length.
#[derive(Debug)]
pub struct Head<'h, 'b> {
    /// The parsed request line and headers.
    pub req: httparse::Request<'h, 'b>,
    /// Bytes of the head, including the blank line that ends it.
    pub len: usize,
}

/// Whether a head that was incomplete up to `scanned` bytes may now be complete: looks for a
/// blank line (`\n\n` or `\n\r\n`) only in the new tail, so a head trickling in byte by byte costs
/// linear time, not quadratic.
#[inline]
pub fn may_be_complete(buf: &[u8], scanned: usize) -> bool {
    let from = scanned.saturating_sub(3);
    let tail = buf.get(from..).unwrap_or(&[]);
    tail.iter().enumerate().any(|(i, &b)| {
        b == b'\n' && matches!((tail.get(i + 1), tail.get(i + 2)), (Some(b'\n'), _) | (Some(b'\r'), Some(b'\n')))
    })
}

/// Parses one head at the start of `buf`. `Ok(None)`: not complete yet (and within limits).
///
/// A header line's length, checked against [`Limits::max_field_length`], is its bytes from the
/// start of its name to the end of its value and any whitespace after it: everything but the
/// line end. The request line is bounded by [`Limits::max_url_length`] instead.
///
/// # Errors
/// A [`HeadError`] for bytes that can never become a valid head within the limits.
pub fn parse_head<'h, 'b>(
    buf: &'b [u8],
    slots: &'h mut [MaybeUninit<httparse::Header<'b>>],
    limits: &Limits,
) -> Result<Option<Head<'h, 'b>>, HeadError> {
    let max_headers = limits.max_headers.min(slots.len());
    let slots = slots.get_mut(..max_headers).unwrap_or_default();
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(buf, slots) {
        Ok(httparse::Status::Complete(len)) => {
            // The target first: a URL over its limit is a `414` even when it also makes the head
            // too large (both limits are 16 KiB by default), as when the head arrives in pieces.
            if req.path.is_some_and(|p| p.len() > limits.max_url_length) {
                return Err(HeadError::UrlTooLong);
            }
            if len > limits.max_request_bytes {
                return Err(HeadError::TooLarge);
            }
            if req.headers.iter().any(|h| field_length(buf, h) > limits.max_field_length) {
                return Err(HeadError::TooLarge);
            }
            // After the limits, which a partial head is refused by too (`check_partial`), so a
            // head is answered the same whether it came whole or in pieces.
            if req.path.is_some_and(|p| has_bad_target_byte(p.as_bytes(), limits.strictness)) {
                return Err(HeadError::Malformed);
            }
            Ok(Some(Head { req, len }))
        }
        Ok(httparse::Status::Partial) => check_partial(buf, limits).map(|()| None),
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooLarge),
        Err(httparse::Error::Version) => match version_error(buf) {
            Some(e) => Err(e),
            // An unfinished request line that may still become well-formed: as for any partial head.
            None => check_partial(buf, limits).map(|()| None),
        },
        Err(_) => Err(HeadError::Malformed),
    }
}

/// Whether the head at the start of `buf` (complete or not, well-formed or not) is a `HEAD`
/// request: its method token, after the empty lines httparse skips, is `HEAD`. An answer to it
/// has no body, an error too; a head too malformed for its method to be known is not one.
#[inline]
pub fn is_head_request(buf: &[u8]) -> bool {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    buf.get(start..).is_some_and(|rest| rest.starts_with(b"HEAD "))
}

/// Whether a request target holds a byte no target may hold (RFC 9112 §3.2, RFC 3986 §2), which
/// httparse lets through: a raw byte of 0x80 or more (unencoded UTF-8: httparse only checks the
/// target is UTF-8), and, when [`Strictness::Strict`], a `\` (some servers and proxies read it
/// as `/`, so two hops could route one target to two places). Lenient keeps accepting `\`.
///
/// One branch-free pass over the target (short: a few dozen bytes) that the compiler vectorizes.
#[inline]
pub fn has_bad_target_byte(target: &[u8], strictness: Strictness) -> bool {
    let backslash = strictness == Strictness::Strict;
    target.iter().fold(false, |bad, &b| bad | (b >= 0x80) | (backslash & (b == b'\\')))
}

/// Checks an incomplete head against the limits it can already break: its size (`431`, or `414`
/// when the request line alone is over the URL limit), the target of an unfinished request line
/// (`414`) and the length of an unfinished header line (`431`), so a head is refused as soon as
/// it must be, not when it ends or fills `max_request_bytes`. Costs branch-free (vectorized)
/// folds over the head's last line and what precedes it, so it may be called on every read of a
/// head that trickles in.
///
/// It only looks at lengths: bytes that will make the head malformed (`400`) are httparse's to find.
///
/// # Errors
/// The [`HeadError`] the head will be refused with whatever bytes follow.
pub fn check_partial(buf: &[u8], limits: &Limits) -> Result<(), HeadError> {
    if buf.len() > limits.max_request_bytes {
        return Err(partial_overflow(buf, limits));
    }
    if unfinished_target_too_long(buf, limits.max_url_length) {
        return Err(HeadError::UrlTooLong);
    }
    if unfinished_line_too_long(buf, limits.max_field_length) {
        return Err(HeadError::TooLarge);
    }
    Ok(())
}

/// The length of header `h`'s line in `buf` (which it borrows): name, colon, whitespace, value
/// and trailing whitespace (which httparse trims from the value), without the line end.
#[inline]
fn field_length(buf: &[u8], h: &httparse::Header<'_>) -> usize {
    let base = buf.as_ptr().addr();
    let start = h.name.as_ptr().addr().saturating_sub(base);
    let value_end = h.value.as_ptr().addr().saturating_sub(base).saturating_add(h.value.len());
    let trailing = buf.get(value_end..).unwrap_or_default().iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    value_end.saturating_sub(start).saturating_add(trailing)
}

/// Whether the last, unfinished line of a partial head is a header line already longer than
/// `max` (a trailing CR is the start of its line end, not part of it). Only the last `max + 1`
/// bytes and the request line are looked at, with branch-free folds the compiler vectorizes.
fn unfinished_line_too_long(buf: &[u8], max: usize) -> bool {
    let line = buf.strip_suffix(b"\r").unwrap_or(buf);
    let Some(window_start) = line.len().checked_sub(max.saturating_add(1)) else {
        return false;
    };
    let (before, window) = line.split_at(window_start);
    if window.iter().fold(false, |acc, &b| acc | (b == b'\n')) {
        return false;
    }
    // The long line is a header line only if the request line (after any empty lines, which
    // httparse skips) ended before it.
    let first = before.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(before.len());
    before.get(first..).unwrap_or_default().iter().fold(false, |acc, &b| acc | (b == b'\n'))
}

/// Whether `buf` is an unfinished request line whose target so far is longer than `max`: its last
/// `max + 1` bytes hold no space or line end, and the one space before them ended the method.
fn unfinished_target_too_long(buf: &[u8], max: usize) -> bool {
    let Some(window_start) = buf.len().checked_sub(max.saturating_add(1)) else {
        return false;
    };
    let (before, window) = buf.split_at(window_start);
    if window.iter().fold(false, |acc, &b| acc | (b == b' ') | (b == b'\n') | (b == b'\r')) {
        return false;
    }
    let first = before.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(before.len());
    let line = before.get(first..).unwrap_or_default();
    let (spaces, lf) = line.iter().fold((0usize, false), |(n, lf), &b| (n + usize::from(b == b' '), lf | (b == b'\n')));
    spaces == 1 && !lf
}

/// A head past the size limit: `414` when its target is over the URL limit (as a complete head
/// would be answered) or still unfinished (the request line alone filled the head), else `431`.
#[cold]
fn partial_overflow(buf: &[u8], limits: &Limits) -> HeadError {
    // httparse skips empty lines before the request line.
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    let rest = buf.get(start..).unwrap_or_default();
    let line_end = rest.iter().position(|&b| b == b'\n');
    let line = rest.get(..line_end.unwrap_or(rest.len())).unwrap_or_default();
    let mut parts = line.splitn(3, |&b| b == b' ');
    let _method = parts.next();
    let target = parts.next();
    let finished = parts.next().is_some() || line_end.is_some();
    match target {
        Some(t) if !finished || t.len() > limits.max_url_length => HeadError::UrlTooLong,
        _ => HeadError::TooLarge,
    }
}

/// httparse refused the version. `505` for a request line of exactly three parts whose version is
/// a well-formed `HTTP/<digit>.<digit>` other than 1.0/1.1; `400` for any other line; `None` while
/// the line is unfinished and may still become a well-formed one (httparse stops at the first
/// wrong byte, so `GET / HTTP/2` must wait for its `.0` to be answered as the whole line would be).
#[cold]
fn version_error(buf: &[u8]) -> Option<HeadError> {
    // httparse skips empty lines before the request line.
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    let rest = buf.get(start..).unwrap_or_default();
    let (line, finished) = match rest.iter().position(|&b| b == b'\n') {
        Some(end) => (rest.get(..end).unwrap_or_default(), true),
        None => (rest, false),
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(_method), Some(_target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Some(HeadError::Malformed);
    };
    const PATTERN: &[u8; 8] = b"HTTP/d.d";
    let fits = version.len() <= PATTERN.len()
        && version.iter().zip(PATTERN).all(|(&b, &p)| if p == b'd' { b.is_ascii_digit() } else { b == p });
    match (finished, fits) {
        (true, true) if version.len() == PATTERN.len() => Some(HeadError::Version),
        (false, true) => None,
        _ => Some(HeadError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A head and what parsing it gives: its length when complete, `None` when partial, or the error.
    type Case = (&'static [u8], Result<Option<usize>, HeadError>);

    fn parse(buf: &[u8]) -> Result<Option<usize>, HeadError> {
        let mut slots = [const { MaybeUninit::uninit() }; 8];
        let limits = Limits { max_request_bytes: 64, max_url_length: 20, max_headers: 4, ..Limits::default() };
        parse_head(buf, &mut slots, &limits).map(|h| h.map(|h| h.len))
    }

    #[test]
    fn heads() {
        let cases: &[Case] = &[
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Ok(Some(27))),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET", Ok(Some(27))),
            (b"GET / HTTP/1.1\r\nHost: a\r\n", Ok(None)),
            (b"GET / HTTP/1.1\r\nHo", Ok(None)),
            (b"GET / HTTP/2.0\r\n\r\n", Err(HeadError::Version)),
            (b"GET / HTTP/1.2\r\n\r\n", Err(HeadError::Version)),
            (b"GET / HTTX/1.1\r\n\r\n", Err(HeadError::Malformed)),
            (b"GET / HTTP/1.1 \r\n\r\n", Err(HeadError::Malformed)),
            (b"G(T / HTTP/1.1\r\n\r\n", Err(HeadError::Malformed)),
            (b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", Err(HeadError::Malformed)),
            (b"GET / HTTP/1.1\r\nName : x\r\n\r\n", Err(HeadError::Malformed)),
            (b"GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", Err(HeadError::Malformed)),
            (b"GET /aaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n", Err(HeadError::UrlTooLong)),
            (b"GET / HTTP/1.1\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n\r\n", Err(HeadError::TooLarge)),
            (b"GET / HTTP/1.1\r\nA: 11111111111111111111111111111111111111111111111", Err(HeadError::TooLarge)),
            (b"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Err(HeadError::UrlTooLong)),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input), *want, "{}", String::from_utf8_lossy(input));
        }
    }

    /// Header lines against `max_field_length` (10 here) and targets against `max_url_length` (30):
    /// whole heads, and every prefix of them.
    #[test]
    fn field_length() {
        let limits = Limits { max_field_length: 10, max_url_length: 30, ..Limits::default() };
        let parse = |buf: &[u8]| {
            let mut slots = [const { MaybeUninit::uninit() }; 8];
            parse_head(buf, &mut slots, &limits).map(|h| h.map(|h| h.len))
        };
        // (head, within the limit): `Name: value` counts name, colon, whitespace and value.
        let cases: &[(&[u8], bool)] = &[
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true),
            (b"GET / HTTP/1.1\r\nA: 1234567\r\n\r\n", true),
            (b"GET / HTTP/1.1\r\nA: 12345678\r\n\r\n", false),
            (b"GET / HTTP/1.1\r\nA:12345678\r\n\r\n", true),
            (b"GET / HTTP/1.1\r\nA:123456789\r\n\r\n", false),
            (b"GET / HTTP/1.1\r\nABCDEFGHI:\r\n\r\n", true),
            (b"GET / HTTP/1.1\r\nABCDEFGHIJ:\r\n\r\n", false),
            (b"GET / HTTP/1.1\r\nA:      1\r\n\r\n", true),
            (b"GET / HTTP/1.1\r\nA:        1\r\n\r\n", false),
            (b"GET / HTTP/1.1\r\nA: 1      \r\n\r\n", true),
            (b"GET / HTTP/1.1\r\nA: 1       \r\n\r\n", false),
            (b"GET / HTTP/1.1\r\nA: 1\r\nB: 1234567\r\nC: 1\r\n\r\n", true),
            (b"GET / HTTP/1.1\r\nA: 1\r\nB: 12345678\r\nC: 1\r\n\r\n", false),
            (b"GET / HTTP/1.1\nA: 1234567\n\n", true),
            (b"GET / HTTP/1.1\nA: 12345678\n\n", false),
            // The request line is bounded by the URL limit, not the field limit; leading empty lines are skipped.
            (b"GET /123456789012345678 HTTP/1.1\r\nHost: a\r\n\r\n", true),
            (b"\r\n\r\nGET /123456789012345678 HTTP/1.1\r\nHost: a\r\n\r\n", true),
        ];
        let url: &[Case] = &[
            (b"GET /12345678901234567890123456789 HTTP/1.1\r\n\r\n", Ok(Some(47))),
            (b"GET /123456789012345678901234567890 HTTP/1.1\r\n\r\n", Err(HeadError::UrlTooLong)),
        ];
        let cases =
            cases.iter().map(|(head, ok)| (*head, if *ok { Ok(Some(head.len())) } else { Err(HeadError::TooLarge) }));
        for (head, want) in cases.chain(url.iter().copied()) {
            let whole = parse(head);
            assert_eq!(whole, want, "{}", String::from_utf8_lossy(head));
            // A prefix is refused only when its unfinished line is already too long, and then as the whole is.
            for cut in 0..head.len() {
                let got = parse(&head[..cut]);
                assert!(got == Ok(None) || got == whole, "{:?}: {got:?}", String::from_utf8_lossy(&head[..cut]));
            }
        }
        let partial: &[Case] = &[
            (b"GET / HTTP/1.1\r\nA: 1234567", Ok(None)),
            (b"GET / HTTP/1.1\r\nA: 1234567\r", Ok(None)),
            (b"GET / HTTP/1.1\r\nA: 12345678", Err(HeadError::TooLarge)),
            (b"GET / HTTP/1.1\r\nA: 12345678\r", Err(HeadError::TooLarge)),
            (b"GET / HTTP/1.1\r\nHost: a\r\nA: 12345678", Err(HeadError::TooLarge)),
            (b"GET /123456789012345678", Ok(None)),
            (b"\r\nGET /123456789012345678", Ok(None)),
            // The target of an unfinished request line, against the URL limit (30 here).
            (b"GET /12345678901234567890123456789", Ok(None)),
            (b"GET /123456789012345678901234567890", Err(HeadError::UrlTooLong)),
            (b"\r\nGET /123456789012345678901234567890", Err(HeadError::UrlTooLong)),
            (b"GET /123456789012345678901234567890 HTTP/1.", Ok(None)),
            (b"GET /123456789012345678901234567890 ", Ok(None)),
            (b"GET123456789012345678901234567890123", Ok(None)),
        ];
        for (head, want) in partial {
            assert_eq!(parse(head), *want, "{}", String::from_utf8_lossy(head));
            assert_eq!(check_partial(head, &limits).err(), want.err(), "{}", String::from_utf8_lossy(head));
        }
    }

    /// With the URL and head limits equal (16 KiB each by default), a long target is a `414`
    /// whether the head arrives whole or in pieces.
    #[test]
    fn a_long_target_is_414_at_the_default_limits() {
        let limits = Limits::default();
        let mut head = b"GET /".to_vec();
        head.resize(5 + limits.max_url_length, b'a');
        head.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
        let parse = |buf: &[u8]| {
            let mut slots = [const { MaybeUninit::uninit() }; 8];
            parse_head(buf, &mut slots, &limits).map(|h| h.map(|h| h.len))
        };
        assert_eq!(parse(&head), Err(HeadError::UrlTooLong));
        for cut in [100, limits.max_url_length, limits.max_request_bytes + 1, head.len() - 1] {
            let got = parse(&head[..cut]);
            assert!(got == Ok(None) || got == Err(HeadError::UrlTooLong), "cut {cut}: {got:?}");
        }
        // A short target in a head that is too large stays a `431`.
        let mut big = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        big.resize(limits.max_request_bytes + 10, b'x');
        assert_eq!(parse(&big), Err(HeadError::TooLarge));
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse(&big), Err(HeadError::TooLarge));
    }

    /// Raw bytes of 0x80 or more in the target are refused whatever the strictness; a `\` only
    /// when strict. Whole heads, and every prefix of them (a prefix waits or is refused alike).
    #[test]
    fn target_bytes() {
        // (head, strict, lenient): `None` accepted, else the error.
        let cases: &[(&[u8], Option<HeadError>, Option<HeadError>)] = &[
            (b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n", None, None),
            (b"GET /%C3%A9 HTTP/1.1\r\nHost: a\r\n\r\n", None, None),
            (b"GET /~!$&'()*+,;=:@ HTTP/1.1\r\n\r\n", None, None),
            (b"GET /\x7e HTTP/1.1\r\n\r\n", None, None),
            (b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", Some(HeadError::Malformed), Some(HeadError::Malformed)),
            (b"GET /\xe2\x82\xac HTTP/1.1\r\n\r\n", Some(HeadError::Malformed), Some(HeadError::Malformed)),
            (b"GET /?q=\xc3\xa9 HTTP/1.1\r\n\r\n", Some(HeadError::Malformed), Some(HeadError::Malformed)),
            (b"GET http://\xc3\xa9/ HTTP/1.1\r\n\r\n", Some(HeadError::Malformed), Some(HeadError::Malformed)),
            (b"GET /\xf0\x9f\x98\x80 HTTP/1.1\r\n\r\n", Some(HeadError::Malformed), Some(HeadError::Malformed)),
            // Not UTF-8: httparse refuses it itself.
            (b"GET /\xff HTTP/1.1\r\n\r\n", Some(HeadError::Malformed), Some(HeadError::Malformed)),
            (b"GET /a\\b HTTP/1.1\r\nHost: a\r\n\r\n", Some(HeadError::Malformed), None),
            (b"GET \\ HTTP/1.1\r\n\r\n", Some(HeadError::Malformed), None),
            (b"GET /?x=\\ HTTP/1.1\r\n\r\n", Some(HeadError::Malformed), None),
            (b"GET /%5C HTTP/1.1\r\n\r\n", None, None),
            // The limits come first, as for a head that arrives in pieces.
            (
                b"GET /\xc3\xa9aaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n",
                Some(HeadError::UrlTooLong),
                Some(HeadError::UrlTooLong),
            ),
        ];
        for &(head, strict, lenient) in cases {
            for (strictness, want) in [(Strictness::Strict, strict), (Strictness::Lenient, lenient)] {
                let limits = Limits { max_url_length: 30, strictness, ..Limits::default() };
                let parse = |buf: &[u8]| {
                    let mut slots = [const { MaybeUninit::uninit() }; 8];
                    parse_head(buf, &mut slots, &limits).map(|h| h.map(|h| h.len))
                };
                let want = want.map_or(Ok(Some(head.len())), Err);
                let whole = parse(head);
                assert_eq!(whole, want, "{strictness:?} {:?}", String::from_utf8_lossy(head));
                for cut in 0..head.len() {
                    let got = parse(&head[..cut]);
                    assert!(got == Ok(None) || got == whole, "{strictness:?} cut {cut}: {got:?}");
                }
            }
        }
        assert!(!has_bad_target_byte(b"", Strictness::Strict));
        assert!(has_bad_target_byte(
            &[b'/'; 64].iter().copied().chain([0x80]).collect::<Vec<_>>(),
            Strictness::Lenient
        ));
    }

    #[test]
    fn head_end_scan() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        for cut in 0..head.len() {
            assert!(!may_be_complete(&head[..cut], 0) || cut == head.len(), "cut {cut}");
        }
        assert!(may_be_complete(head, 0));
        assert!(may_be_complete(head, head.len() - 1));
        assert!(may_be_complete(b"GET / HTTP/1.0\n\n", 15));
    }

    #[test]
    fn head_requests() {
        let cases: &[(&[u8], bool)] = &[
            (b"HEAD / HTTP/1.1\r\n\r\n", true),
            (b"HEAD ", true),
            (b"\r\n\r\nHEAD / HTTP/1.1\r\n", true),
            (b"HEAD /\xff HTTP/1.1\r\nX: \0\r\n\r\n", true),
            (b"HEAD", false),
            (b"HEADX / HTTP/1.1\r\n\r\n", false),
            (b"head / HTTP/1.1\r\n\r\n", false),
            (b" HEAD / HTTP/1.1\r\n\r\n", false),
            (b"GET / HTTP/1.1\r\nHEAD ", false),
            (b"", false),
        ];
        for (buf, want) in cases {
            assert_eq!(is_head_request(buf), *want, "{:?}", String::from_utf8_lossy(buf));
        }
    }

    /// The answer to a bad version must not depend on where the bytes were split (found by the
    /// `conn` fuzz target): a partial line waits while it can still become well-formed.
    #[test]
    fn version_errors_are_the_same_whole_or_split() {
        let cases: &[(&[u8], HeadError)] = &[
            (b"GET /  HTTP/1.1\r\n\r\n", HeadError::Malformed),
            (b"GET T / HTTP/1.1\r\n\r\n", HeadError::Malformed),
            (b"GET / HTTP/2.0\r\n\r\n", HeadError::Version),
            (b"\r\nGET / HTTP/0.9\r\n\r\n", HeadError::Version),
            (b"GET / HTTP/1.1x\r\n\r\n", HeadError::Malformed),
            (b"GET / HTTP/22.0\r\n\r\n", HeadError::Malformed),
        ];
        for &(whole, want) in cases {
            assert_eq!(parse(whole), Err(want), "{:?}", String::from_utf8_lossy(whole));
            for cut in 1..whole.len() {
                match parse(&whole[..cut]) {
                    Ok(None) => {}
                    Err(e) => assert_eq!(e, want, "cut {cut} of {:?}", String::from_utf8_lossy(whole)),
                    Ok(Some(_)) => panic!("a prefix parsed whole"),
                }
            }
        }
    }
}
