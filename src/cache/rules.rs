//! What the cache may serve and store: http.sys's rules, on the request and on the answer.

use crate::app::cache::Given;
use crate::app::{BodyKind, Request};
use crate::semantics::status_has_body;

/// The most an answer stored may take, header lines and body (http.sys `UriMaxUriBytes`).
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// The most an answer's header lines may take (http.sys's per-response header limit).
pub const MAX_HEADER_BYTES: usize = 1024;

/// What the cache may do with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    /// Nothing: the request goes to its handler or queue, and its answer is not stored.
    Pass,
    /// Serve it from a stored `GET` answer (a `HEAD`), its own answer not stored.
    Serve,
    /// Serve it from a stored answer, or store its answer (a `GET`).
    Store,
}

/// [`examine`]'s verdict alone.
#[cfg(test)]
pub fn ask(req: &Request<'_>) -> Ask {
    examine(req).0
}

/// What the cache may do with `req` (http.sys's rules): a `GET` (or, to be served, a `HEAD`)
/// without a body, of HTTP/1.0 or later, without a query string, `Authorization`, `Range`,
/// `If-Range`, `Translate: f`, or an `Expect` other than `100-continue`; and whether `req`
/// carries `If-None-Match` or `If-Modified-Since` (so a hit looks for them only then): one pass
/// over the headers for both.
#[inline]
pub fn examine(req: &Request<'_>) -> (Ask, bool) {
    let ask = match req.method() {
        "GET" => Ask::Store,
        "HEAD" => Ask::Serve,
        _ => return (Ask::Pass, false),
    };
    // (Every version a codec hands on is 1.0 or later: HTTP/0.9 is refused when parsed.)
    if req.body_kind() != BodyKind::Empty || req.target().contains('?') {
        return (Ask::Pass, false);
    }
    let mut conditional = false;
    for (name, value) in req.headers() {
        // By length first: most names are none of these.
        let refused = match name.len() {
            5 => name.eq_ignore_ascii_case("range"),
            6 => name.eq_ignore_ascii_case("expect") && !value.trim_ascii().eq_ignore_ascii_case(b"100-continue"),
            8 => name.eq_ignore_ascii_case("if-range"),
            9 => name.eq_ignore_ascii_case("translate") && value.trim_ascii().eq_ignore_ascii_case(b"f"),
            13 => {
                conditional |= name.eq_ignore_ascii_case("if-none-match");
                name.eq_ignore_ascii_case("authorization")
            }
            17 => {
                conditional |= name.eq_ignore_ascii_case("if-modified-since");
                false
            }
            _ => false,
        };
        if refused {
            return (Ask::Pass, false);
        }
    }
    (ask, conditional)
}

/// Why an answer given for a request the cache may store is not stored (`None` from
/// [`refusal`]: it is).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Its policy stores nothing.
    Policy,
    /// No body (a status that carries none, or an empty one).
    Empty,
    /// Header lines over [`MAX_HEADER_BYTES`].
    LargeHeaders,
    /// Header lines and body over [`MAX_ANSWER_BYTES`].
    TooLarge,
    /// A `Vary` header: the answer depends on request headers the cache does not key by
    /// (beyond http.sys, which leaves that to the application).
    Varies,
}

/// Whether `answer` may be stored (http.sys's rules: whole in one call — the caller's to know —,
/// not empty, at most 256 KiB with headers of at most 1 KiB); `None` when it may.
pub fn refusal(answer: &Given<'_>) -> Option<Refusal> {
    if !answer.policy.stores() {
        return Some(Refusal::Policy);
    }
    if !status_has_body(answer.status) || answer.body.is_empty() {
        return Some(Refusal::Empty);
    }
    if answer.lines.len() > MAX_HEADER_BYTES {
        return Some(Refusal::LargeHeaders);
    }
    if answer.lines.len() + answer.body.len() > MAX_ANSWER_BYTES {
        return Some(Refusal::TooLarge);
    }
    if header_lines(answer.lines).any(|(name, _)| name.eq_ignore_ascii_case(b"vary")) {
        return Some(Refusal::Varies);
    }
    None
}

/// The `(name, value)` pairs of header lines laid out as `name: value\r\n`.
pub fn header_lines(lines: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    lines.split(|&b| b == b'\n').filter_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&b| b == b':')?;
        Some((&line[..colon], line[colon + 1..].trim_ascii()))
    })
}
