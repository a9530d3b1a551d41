//! Request framing rules: which body a request has, from its version and headers (RFC 9112 §6, strict against smuggling).

use crate::limits::Strictness;
use crate::url::target_authority;
use std::fmt;
use std::net::Ipv6Addr;

pub use crate::app::BodyKind;

/// What the headers of one request say about its body and its connection, found in one pass over them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framing<'h> {
    /// How the body is delimited, so the right body decoder reads it.
    pub body: BodyKind,
    /// The `Host` value, checked against RFC 9112 §3.2 / RFC 3986 syntax (empty only in HTTP/1.0 or beside an
    /// absolute-form target, whose authority routing then uses instead): routing picks the URL prefix by it.
    /// `None` only for HTTP/1.0 requests without `Host`.
    pub host: Option<&'h [u8]>,
    /// `Connection: close` was sent: the connection ends after this request's response.
    pub connection_close: bool,
    /// `Connection: keep-alive` was sent: an HTTP/1.0 connection stays open only with it.
    pub keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request: the client waits for `100 Continue` before the body.
    /// Always `false` for HTTP/1.0, which must ignore it (RFC 9110 §10.1.1).
    pub expect_continue: bool,
}

impl Framing<'_> {
    /// Whether the connection may carry another request after this one (RFC 9112 §9.3):
    /// HTTP/1.1 unless `close`, HTTP/1.0 only with `keep-alive` and without `close`.
    pub fn persistent(&self, version_minor: u8) -> bool {
        !self.connection_close && (version_minor >= 1 || self.keep_alive)
    }
}

/// Why a request's framing is refused. The body's end cannot be trusted after any of them,
/// so the connection answers with [`FramingError::status`] and then closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramingError {
    /// A `Content-Length` value that is not 1*DIGIT fitting a `u64` (sign, `0x`, spaces inside, empty, overflow).
    InvalidContentLength,
    /// Several `Content-Length` values (header lines or a comma list) that differ.
    ConflictingContentLength,
    /// `Transfer-Encoding` in an HTTP/1.0 request, which cannot carry it (RFC 9112 §6.1).
    TransferEncodingInHttp10,
    /// Both `Transfer-Encoding` and `Content-Length`: the classic request smuggling vector (RFC 9112 §6.3).
    ContentLengthWithTransferEncoding,
    /// `Transfer-Encoding` header(s) with no coding in them.
    EmptyTransferEncoding,
    /// A transfer coding that is not a token, or `chunked` with parameters.
    InvalidTransferEncoding,
    /// A coding after `chunked`: the body length cannot be determined (RFC 9112 §6.3).
    ChunkedNotLast,
    /// `chunked` applied twice (RFC 9112 §6.1 forbids it).
    DuplicateChunked,
    /// A transfer coding other than `chunked` (gzip, deflate, compress, identity, unknown): not decoded by this server.
    UnsupportedTransferCoding,
    /// An HTTP/1.1 request without `Host` (RFC 9112 §3.2).
    MissingHost,
    /// More than one `Host` header (RFC 9112 §3.2).
    DuplicateHost,
    /// A `Host` value that is not `reg-name / IPv4 / [IPv6]` with an optional `:port`.
    InvalidHost,
    /// An empty `Host` on an HTTP/1.1 request whose target has no authority to stand for it
    /// (RFC 9112 §3.2 allows one only for a target URI without an authority; hsys serves none).
    EmptyHost,
    /// An absolute-form target whose authority is not a non-empty `Host` value (the same grammar:
    /// a bad port, two ports, no name before the port, a malformed or unbracketed IPv6 literal,
    /// userinfo): it would route by what a later hop may read differently.
    InvalidTargetAuthority,
    /// An `Expect` value other than `100-continue` (RFC 9110 §10.1.1).
    UnsupportedExpectation,
    /// A `\n` in the head without a `\r` before it (strict line endings).
    BareLf,
    /// A `\r` in the head without a `\n` after it.
    BareCr,
}

impl FramingError {
    /// The response status for this error: 501 for unsupported codings, 417 for expectations, 400 otherwise.
    pub fn status(self) -> u16 {
        match self {
            Self::UnsupportedTransferCoding => 501,
            Self::UnsupportedExpectation => 417,
            Self::InvalidContentLength
            | Self::ConflictingContentLength
            | Self::TransferEncodingInHttp10
            | Self::ContentLengthWithTransferEncoding
            | Self::EmptyTransferEncoding
            | Self::InvalidTransferEncoding
            | Self::ChunkedNotLast
            | Self::DuplicateChunked
            | Self::MissingHost
            | Self::DuplicateHost
            | Self::InvalidHost
            | Self::EmptyHost
            | Self::InvalidTargetAuthority
            | Self::BareLf
            | Self::BareCr => 400,
        }
    }
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidContentLength => "invalid Content-Length",
            Self::ConflictingContentLength => "conflicting Content-Length values",
            Self::TransferEncodingInHttp10 => "Transfer-Encoding in an HTTP/1.0 request",
            Self::ContentLengthWithTransferEncoding => "both Content-Length and Transfer-Encoding",
            Self::EmptyTransferEncoding => "empty Transfer-Encoding",
            Self::InvalidTransferEncoding => "invalid transfer coding",
            Self::ChunkedNotLast => "chunked is not the final transfer coding",
            Self::DuplicateChunked => "chunked applied more than once",
            Self::UnsupportedTransferCoding => "unsupported transfer coding",
            Self::MissingHost => "missing Host",
            Self::DuplicateHost => "more than one Host",
            Self::InvalidHost => "invalid Host",
            Self::EmptyHost => "empty Host without an absolute-form target",
            Self::InvalidTargetAuthority => "invalid authority in the request target",
            Self::UnsupportedExpectation => "unsupported expectation",
            Self::BareLf => "LF without CR in the request head",
            Self::BareCr => "CR without LF in the request head",
        })
    }
}

impl std::error::Error for FramingError {}

/// Checks the line ends of a raw request head. [`Strictness::Strict`]: every line ends in CRLF,
/// no `\n` without `\r` before it, no `\r` without `\n` after it (httparse accepts bare LF; a proxy
/// in front may split lines differently). [`Strictness::Lenient`]: a bare LF also ends a line
/// (RFC 9112 §2.2), but a bare CR is still refused.
///
/// One branch-free pass, which the compiler vectorizes; only a failing head is scanned again to name the error.
///
/// # Errors
/// [`FramingError::BareLf`] or [`FramingError::BareCr`] for the first bad line end.
pub fn check_line_endings(head: &[u8], strictness: Strictness) -> Result<(), FramingError> {
    let next = head.get(1..).unwrap_or_default();
    let ends_cr = head.last() == Some(&b'\r');
    let bad = match strictness {
        // `byte[i] == '\r'` must equal `byte[i + 1] == '\n'`.
        Strictness::Strict => {
            let mismatch = head.iter().zip(next).fold(false, |acc, (&a, &b)| acc | ((a == b'\r') != (b == b'\n')));
            mismatch | (head.first() == Some(&b'\n')) | ends_cr
        }
        // `byte[i] == '\r'` implies `byte[i + 1] == '\n'`.
        Strictness::Lenient => {
            head.iter().zip(next).fold(false, |acc, (&a, &b)| acc | ((a == b'\r') & (b != b'\n'))) | ends_cr
        }
    };
    if !bad {
        return Ok(());
    }
    let mut prev_cr = false;
    for &b in head {
        if prev_cr && b != b'\n' {
            return Err(FramingError::BareCr);
        }
        if b == b'\n' && !prev_cr && strictness == Strictness::Strict {
            return Err(FramingError::BareLf);
        }
        prev_cr = b == b'\r';
    }
    Err(FramingError::BareCr)
}

/// Finds the body framing and connection options of a request in one pass over its headers, validating them strictly,
/// and checks the request's `target` against its `Host`: an absolute-form target's authority must be a valid
/// non-empty `Host` value, and an HTTP/1.1 request without one must not send an empty `Host`.
///
/// `version_minor` is httparse's: 0 for HTTP/1.0, 1 (or more) for HTTP/1.1.
/// Header names compare ASCII case-insensitively. When several rules fail, a 400 wins over 501, and 501 over 417,
/// so a request that cannot be framed is never answered as if only its coding or expectation were the problem.
pub fn request_framing<'h>(
    version_minor: u8,
    target: &str,
    headers: &[httparse::Header<'h>],
) -> Result<Framing<'h>, FramingError> {
    let http11 = version_minor >= 1;
    let mut content_length: Option<u64> = None;
    let mut codings = Codings::Absent;
    let mut host: Option<&'h [u8]> = None;
    let mut connection_close = false;
    let mut keep_alive = false;
    let mut expectation = Expectation::Absent;

    for header in headers {
        // No value holds NUL, CR or LF: httparse refuses them (a value is HTAB, SP to `~` and
        // obs-text), and the values read here are checked against their own grammar again.
        let value = header.value;
        let name = header.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            content_length = Some(parse_content_length(value, content_length)?);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            if !http11 {
                return Err(FramingError::TransferEncodingInHttp10);
            }
            codings = codings.header(value)?;
        } else if name.eq_ignore_ascii_case(b"host") {
            if host.is_some() {
                return Err(FramingError::DuplicateHost);
            }
            if !is_valid_host(value) {
                return Err(FramingError::InvalidHost);
            }
            host = Some(value);
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in list_elements(value) {
                connection_close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            expectation = expectation.header(value);
        }
    }

    if http11 && host.is_none() {
        return Err(FramingError::MissingHost);
    }
    // Origin-form (nearly every request) is decided on its first byte.
    match target_authority(target) {
        Some(authority) if !is_valid_authority(authority.as_bytes()) => {
            return Err(FramingError::InvalidTargetAuthority);
        }
        None if http11 && host.is_some_and(<[u8]>::is_empty) => return Err(FramingError::EmptyHost),
        _ => {}
    }
    let body = match (codings, content_length) {
        (Codings::Absent, None | Some(0)) => BodyKind::Empty,
        (Codings::Absent, Some(n)) => BodyKind::Length(n),
        (_, Some(_)) => return Err(FramingError::ContentLengthWithTransferEncoding),
        (Codings::Empty, None) => return Err(FramingError::EmptyTransferEncoding),
        (Codings::Unsupported | Codings::UnsupportedThenChunked, None) => {
            return Err(FramingError::UnsupportedTransferCoding);
        }
        (Codings::Chunked, None) => BodyKind::Chunked,
    };
    if expectation == Expectation::Unsupported {
        return Err(FramingError::UnsupportedExpectation);
    }
    Ok(Framing {
        body,
        host,
        connection_close,
        keep_alive,
        expect_continue: http11 && expectation == Expectation::Continue,
    })
}

pub(crate) use crate::semantics::{is_tchar, is_token};

/// Strips optional whitespace (SP / HTAB only, RFC 9110 §5.6.3) from both ends.
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The non-empty elements of a comma-separated list (RFC 9110 §5.6.1: empty elements are ignored), trimmed of OWS.
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim_ows).filter(|e| !e.is_empty())
}

/// Parses one `Content-Length` header value, which may be a comma list, against the value seen so far (if any).
/// Identical repeats are one value (RFC 9110 §8.6); empty elements are refused, as `Content-Length` is 1*DIGIT.
fn parse_content_length(value: &[u8], seen: Option<u64>) -> Result<u64, FramingError> {
    let mut seen = seen;
    for element in value.split(|&b| b == b',') {
        let n = parse_decimal(trim_ows(element)).ok_or(FramingError::InvalidContentLength)?;
        match seen {
            Some(prior) if prior != n => return Err(FramingError::ConflictingContentLength),
            _ => seen = Some(n),
        }
    }
    seen.ok_or(FramingError::InvalidContentLength)
}

/// Parses 1*DIGIT into a `u64`; `None` if empty, not all digits, or too large.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// Where the transfer codings seen so far leave the request, across all `Transfer-Encoding` lines in order.
/// Errors that make the body length unknowable (400) are returned as soon as they appear; an unsupported coding (501) is
/// only reported at the end, after every 400 had its chance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Codings {
    /// No `Transfer-Encoding` header.
    Absent,
    /// `Transfer-Encoding` header(s) without any coding so far.
    Empty,
    /// Only codings other than `chunked` so far.
    Unsupported,
    /// `chunked`, the only coding so far and the last one.
    Chunked,
    /// Other codings, then `chunked` last.
    UnsupportedThenChunked,
}

impl Codings {
    /// Adds the codings of one `Transfer-Encoding` header line.
    fn header(self, value: &[u8]) -> Result<Self, FramingError> {
        let start = match self {
            Self::Absent => Self::Empty,
            other => other,
        };
        list_elements(value).try_fold(start, Self::coding)
    }

    /// Adds one coding (`name *( OWS ";" OWS param )`).
    fn coding(self, element: &[u8]) -> Result<Self, FramingError> {
        let mut parts = element.splitn(2, |&b| b == b';');
        let name = trim_ows(parts.next().unwrap_or_default());
        let has_params = parts.next().is_some();
        if !is_token(name) {
            return Err(FramingError::InvalidTransferEncoding);
        }
        let chunked = name.eq_ignore_ascii_case(b"chunked");
        if chunked && has_params {
            return Err(FramingError::InvalidTransferEncoding);
        }
        match (self, chunked) {
            (Self::Chunked | Self::UnsupportedThenChunked, true) => Err(FramingError::DuplicateChunked),
            (Self::Chunked | Self::UnsupportedThenChunked, false) => Err(FramingError::ChunkedNotLast),
            (Self::Absent | Self::Empty, true) => Ok(Self::Chunked),
            (Self::Unsupported, true) => Ok(Self::UnsupportedThenChunked),
            (Self::Absent | Self::Empty | Self::Unsupported, false) => Ok(Self::Unsupported),
        }
    }
}

/// What the `Expect` headers ask for; an unsupported expectation is sticky.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expectation {
    /// No expectation (no `Expect`, or only empty elements).
    Absent,
    /// `100-continue` and nothing else.
    Continue,
    /// Something other than `100-continue`: answered with 417.
    Unsupported,
}

impl Expectation {
    /// Adds the expectations of one `Expect` header line.
    fn header(self, value: &[u8]) -> Self {
        list_elements(value).fold(self, |state, e| match (state, e.eq_ignore_ascii_case(b"100-continue")) {
            (Self::Unsupported, _) | (_, false) => Self::Unsupported,
            (_, true) => Self::Continue,
        })
    }
}

/// Whether a `Host` value is `uri-host [ ":" port ]` (RFC 9112 §3.2, RFC 3986 §3.2.2), or empty.
///
/// Stricter than RFC 3986 where nothing real is lost: an IP-literal must be an IPv6 address (no IPvFuture, no zone),
/// a port must be 1 to 5 digits up to 65535, a port needs a host, and `,` is refused in a reg-name
/// (it only appears when an intermediary joined two `Host` lines).
pub(crate) fn is_valid_host(value: &[u8]) -> bool {
    if value.is_empty() {
        return true;
    }
    let (host_ok, rest) = if let [b'[', inner @ ..] = value {
        let Some(close) = inner.iter().position(|&b| b == b']') else {
            return false;
        };
        match (inner.get(..close), inner.get(close + 1..)) {
            (Some(addr), Some(rest)) => (is_ipv6(addr), rest),
            _ => return false,
        }
    } else {
        // The port first, in one walk back from the end over at most five digits to its `:`
        // (digits, check and value at once); found no `:` there, the whole value is the name
        // (a `:` further back is then in the name, which no reg-name holds).
        let (name, port_ok) = split_port(value);
        return port_ok && is_reg_name(name);
    };
    host_ok
        && match rest {
            [] => true,
            [b':', port @ ..] => is_port(port),
            _ => false,
        }
}

/// `value` as `name ":" port` when it ends with a `:` and at most five digits, with whether the
/// port is 1 to 5 digits up to 65535; else `value` whole as the name (and `true`).
#[inline]
fn split_port(value: &[u8]) -> (&[u8], bool) {
    let (mut port, mut scale) = (0u32, 1u32);
    let mut rest = value;
    while let Some((&b, before)) = rest.split_last() {
        if b == b':' {
            return (before, scale > 1 && port <= u32::from(u16::MAX));
        }
        if !b.is_ascii_digit() || scale > 10_000 {
            break; // not a port: a sixth digit, or a byte of the name
        }
        port += u32::from(b - b'0') * scale;
        scale *= 10;
        rest = before;
    }
    (value, true)
}

/// Whether the authority of an absolute-form target is `uri-host [ ":" port ]` as a `Host` value
/// must be ([`is_valid_host`], one grammar for both), and not empty.
fn is_valid_authority(authority: &[u8]) -> bool {
    !authority.is_empty() && is_valid_host(authority)
}

/// Whether `addr` (between the brackets) is an IPv6 address.
fn is_ipv6(addr: &[u8]) -> bool {
    std::str::from_utf8(addr).is_ok_and(|s| s.parse::<Ipv6Addr>().is_ok())
}

/// Whether `name` is a non-empty reg-name (unreserved / pct-encoded / sub-delims but `,`); IPv4 addresses are reg-names too.
fn is_reg_name(name: &[u8]) -> bool {
    // One table load per byte, folded without branches; only a name with `%` is walked again.
    let plain = name.iter().fold(true, |ok, &b| ok & REG_NAME[usize::from(b)]);
    if plain {
        return !name.is_empty();
    }
    let mut rest = name;
    while let [b, tail @ ..] = rest {
        rest = match (b, tail) {
            (b'%', [hi, lo, after @ ..]) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => after,
            (b, _) if REG_NAME[usize::from(*b)] => tail,
            _ => return false,
        };
    }
    !name.is_empty()
}

/// The bytes a reg-name holds as themselves: unreserved and sub-delims but `,` (RFC 3986 §3.2.2).
static REG_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b';' | b'='
            );
        b += 1;
    }
    t
};

/// Whether `port` is 1 to 5 digits with a value up to 65535.
fn is_port(port: &[u8]) -> bool {
    // At most five digits: the value fits a `u32` without overflow checks.
    (1..=5).contains(&port.len())
        && port.iter().all(u8::is_ascii_digit)
        && port.iter().fold(0u32, |n, &b| n * 10 + u32::from(b - b'0')) <= u32::from(u16::MAX)
}

#[cfg(test)]
#[allow(clippy::type_complexity, reason = "case tables spell out their columns")]
mod tests {
    use super::*;
    use httparse::Header;

    fn headers<'a>(list: &[(&'a str, &'a [u8])]) -> Vec<Header<'a>> {
        list.iter().map(|&(name, value)| Header { name, value }).collect()
    }

    /// Frames an HTTP/1.1 request with `Host: h` and the given extra headers.
    fn frame11(extra: &[(&'static str, &'static [u8])]) -> Result<Framing<'static>, FramingError> {
        let mut list = vec![("Host", b"h".as_slice())];
        list.extend_from_slice(extra);
        request_framing(1, "/", &headers(&list))
    }

    #[test]
    fn content_length() {
        use FramingError::*;
        let cases: &[(&[&[u8]], Result<BodyKind, FramingError>)] = &[
            (&[b"5"], Ok(BodyKind::Length(5))),
            (&[b"0"], Ok(BodyKind::Empty)),
            (&[b"005"], Ok(BodyKind::Length(5))),
            (&[b" 5 "], Ok(BodyKind::Length(5))),
            (&[b"18446744073709551615"], Ok(BodyKind::Length(u64::MAX))),
            (&[b"5,5"], Ok(BodyKind::Length(5))),
            (&[b"5, 5"], Ok(BodyKind::Length(5))),
            (&[b"5", b"5"], Ok(BodyKind::Length(5))),
            (&[b"5", b"5, 5"], Ok(BodyKind::Length(5))),
            (&[b"+5"], Err(InvalidContentLength)),
            (&[b"-5"], Err(InvalidContentLength)),
            (&[b"0x5"], Err(InvalidContentLength)),
            (&[b"5 5"], Err(InvalidContentLength)),
            (&[b""], Err(InvalidContentLength)),
            (&[b" "], Err(InvalidContentLength)),
            (&[b"5a"], Err(InvalidContentLength)),
            (&[b"5.0"], Err(InvalidContentLength)),
            (&[b"5,"], Err(InvalidContentLength)),
            (&[b",5"], Err(InvalidContentLength)),
            (&[b"5,,5"], Err(InvalidContentLength)),
            (&[b"18446744073709551616"], Err(InvalidContentLength)),
            (&[b"99999999999999999999999"], Err(InvalidContentLength)),
            (&[b"\xd9\xa5"], Err(InvalidContentLength)),
            (&[b"5,6"], Err(ConflictingContentLength)),
            (&[b"5", b"6"], Err(ConflictingContentLength)),
            (&[b"5", b"5, 6"], Err(ConflictingContentLength)),
            (&[b"0", b"00"], Ok(BodyKind::Empty)),
        ];
        for (values, want) in cases {
            let extra: Vec<_> = values.iter().map(|v| ("Content-Length", *v)).collect();
            let got = frame11(&extra).map(|f| f.body);
            assert_eq!(got, *want, "Content-Length {values:?}");
        }
    }

    #[test]
    fn transfer_encoding() {
        use FramingError::*;
        let cases: &[(&[&[u8]], Result<BodyKind, FramingError>)] = &[
            (&[b"chunked"], Ok(BodyKind::Chunked)),
            (&[b"Chunked"], Ok(BodyKind::Chunked)),
            (&[b"CHUNKED"], Ok(BodyKind::Chunked)),
            (&[b" chunked\t"], Ok(BodyKind::Chunked)),
            (&[b"chunked,"], Ok(BodyKind::Chunked)),
            (&[b", chunked"], Ok(BodyKind::Chunked)),
            (&[b"", b"chunked"], Ok(BodyKind::Chunked)),
            (&[b"gzip, chunked"], Err(UnsupportedTransferCoding)),
            (&[b"gzip ,chunked"], Err(UnsupportedTransferCoding)),
            (&[b"gzip", b"chunked"], Err(UnsupportedTransferCoding)),
            (&[b"identity"], Err(UnsupportedTransferCoding)),
            (&[b"gzip"], Err(UnsupportedTransferCoding)),
            (&[b"deflate"], Err(UnsupportedTransferCoding)),
            (&[b"compress"], Err(UnsupportedTransferCoding)),
            (&[b"x-custom"], Err(UnsupportedTransferCoding)),
            (&[b"gzip;level=1, chunked"], Err(UnsupportedTransferCoding)),
            (&[b"chunked, gzip"], Err(ChunkedNotLast)),
            (&[b"chunked", b"gzip"], Err(ChunkedNotLast)),
            (&[b"chunked, identity"], Err(ChunkedNotLast)),
            (&[b"chunked, chunked"], Err(DuplicateChunked)),
            (&[b"chunked", b"chunked"], Err(DuplicateChunked)),
            (&[b"gzip, chunked", b"chunked"], Err(DuplicateChunked)),
            (&[b""], Err(EmptyTransferEncoding)),
            (&[b" , ,"], Err(EmptyTransferEncoding)),
            (&[b"", b""], Err(EmptyTransferEncoding)),
            (&[b"chunked;x=1"], Err(InvalidTransferEncoding)),
            (&[b"\"chunked\""], Err(InvalidTransferEncoding)),
            (&[b"chun ked"], Err(InvalidTransferEncoding)),
            (&[b"chunked\x0b"], Err(InvalidTransferEncoding)),
            (&[b"chunked\xff"], Err(InvalidTransferEncoding)),
            (&[b"gzip; chunked"], Err(UnsupportedTransferCoding)),
        ];
        for (values, want) in cases {
            let extra: Vec<_> = values.iter().map(|v| ("Transfer-Encoding", *v)).collect();
            let got = frame11(&extra).map(|f| f.body);
            assert_eq!(got, *want, "Transfer-Encoding {values:?}");
        }
    }

    #[test]
    fn body_selection() {
        use FramingError::*;
        let cases: &[(u8, &[(&str, &[u8])], Result<BodyKind, FramingError>)] = &[
            (1, &[("Host", b"h")], Ok(BodyKind::Empty)),
            (0, &[], Ok(BodyKind::Empty)),
            (0, &[("Content-Length", b"3")], Ok(BodyKind::Length(3))),
            (0, &[("Transfer-Encoding", b"chunked")], Err(TransferEncodingInHttp10)),
            (0, &[("Transfer-Encoding", b"gzip")], Err(TransferEncodingInHttp10)),
            (
                1,
                &[("Host", b"h"), ("Content-Length", b"5"), ("Transfer-Encoding", b"chunked")],
                Err(ContentLengthWithTransferEncoding),
            ),
            (
                1,
                &[("Host", b"h"), ("Transfer-Encoding", b"chunked"), ("Content-Length", b"5")],
                Err(ContentLengthWithTransferEncoding),
            ),
            (
                1,
                &[("Host", b"h"), ("Transfer-Encoding", b"gzip"), ("Content-Length", b"0")],
                Err(ContentLengthWithTransferEncoding),
            ),
            (
                1,
                &[("Host", b"h"), ("Transfer-Encoding", b""), ("Content-Length", b"0")],
                Err(ContentLengthWithTransferEncoding),
            ),
            // 400 wins over 501 wins over 417, whatever the header order.
            (1, &[("Transfer-Encoding", b"gzip")], Err(MissingHost)),
            (1, &[("Host", b"h"), ("Expect", b"x"), ("Transfer-Encoding", b"gzip")], Err(UnsupportedTransferCoding)),
            (1, &[("Expect", b"x"), ("Host", b"h"), ("Content-Length", b"1,2")], Err(ConflictingContentLength)),
            // Names are case-insensitive.
            (1, &[("hOST", b"h"), ("transfer-ENCODING", b"chunked")], Ok(BodyKind::Chunked)),
            (1, &[("HOST", b"h"), ("CONTENT-LENGTH", b"7")], Ok(BodyKind::Length(7))),
            // Lookalike names are other headers.
            (1, &[("Host", b"h"), ("Content-Length2", b"x")], Ok(BodyKind::Empty)),
            (1, &[("Host", b"h"), ("Transfer-Encodings", b"gzip")], Ok(BodyKind::Empty)),
        ];
        for (minor, list, want) in cases {
            let got = request_framing(*minor, "/", &headers(list)).map(|f| f.body);
            assert_eq!(got, *want, "HTTP/1.{minor} {list:?}");
        }
    }

    #[test]
    fn host() {
        use FramingError::*;
        let valid: &[&[u8]] = &[
            b"example.com",
            b"EXAMPLE.com.",
            b"example.com:80",
            b"example.com:0",
            b"example.com:65535",
            b"localhost",
            b"127.0.0.1",
            b"127.0.0.1:8080",
            b"[::1]",
            b"[::1]:443",
            b"[2001:db8::1]",
            b"[::ffff:1.2.3.4]:1",
            b"my_host-1~x",
            b"a%20b",
            b"sub!$&'()*+;=delims",
            b"80",
            b"1234567",
            b"h:00080",
        ];
        for value in valid {
            let f = request_framing(1, "/", &headers(&[("Host", value)]));
            assert_eq!(f.map(|f| f.host), Ok(Some(*value)), "Host {value:?}");
            // The same grammar for the authority of an absolute-form target.
            let target = format!("http://{}/x", std::str::from_utf8(value).unwrap());
            let f = request_framing(1, &target, &headers(&[("Host", b"h")]));
            assert_eq!(f.map(|f| f.host), Ok(Some(&b"h"[..])), "target {target:?}");
        }
        let invalid: &[&[u8]] = &[
            b"exa mple.com",
            b" example.com",
            b"example.com/",
            b"example.com/path",
            b"user@example.com",
            b"example.com:",
            b"example.com:65536",
            b"example.com:123456",
            b"example.com:99999",
            b"example.com:000000",
            b"h:1234567",
            b"example.com:80:80",
            b"a:b:80",
            b"a%3a:80:80",
            b"a:80:",
            b"example.com:8a",
            b":80",
            b"a,b",
            b"a%2",
            b"a%zz",
            b"[::1",
            b"::1",
            b"[::1]x",
            b"[::1]:",
            b"[::g]",
            b"[]",
            b"[v1.fe]",
            b"[fe80::1%25eth0]",
            b"exa\x01mple",
            b"exa\x7fmple",
            b"h\xc3\xa9",
            b"a\tb",
            b"a\"b",
            b"a<b",
            b"a#b",
            b"a?b",
        ];
        for value in invalid {
            let f = request_framing(1, "/", &headers(&[("Host", value)]));
            assert_eq!(f, Err(InvalidHost), "Host {value:?}");
            // As an authority (up to its first `/`, `?` or `#`, where the target's path begins).
            let text = std::str::from_utf8(value).unwrap();
            if !text.contains(['/', '?', '#']) {
                let target = format!("http://{text}/x");
                let f = request_framing(1, &target, &headers(&[("Host", b"h")]));
                assert_eq!(f, Err(InvalidTargetAuthority), "target {target:?}");
            }
        }
        let presence: &[(u8, &[(&str, &[u8])], Result<Option<&[u8]>, FramingError>)] = &[
            (1, &[], Err(MissingHost)),
            (1, &[("Hostname", b"h")], Err(MissingHost)),
            (0, &[], Ok(None)),
            (0, &[("host", b"a")], Ok(Some(b"a"))),
            (1, &[("Host", b"a"), ("Host", b"a")], Err(DuplicateHost)),
            (1, &[("Host", b"a"), ("host", b"b")], Err(DuplicateHost)),
            (0, &[("Host", b"a"), ("Host", b"a")], Err(DuplicateHost)),
            (0, &[("Host", b"")], Ok(Some(b""))),
            (1, &[("Host", b"")], Err(EmptyHost)),
        ];
        for (minor, list, want) in presence {
            let got = request_framing(*minor, "/", &headers(list)).map(|f| f.host);
            assert_eq!(got, *want, "HTTP/1.{minor} {list:?}");
        }
    }

    /// The target against the `Host`: an absolute-form authority is a valid, non-empty `Host`
    /// value; an HTTP/1.1 request whose target has no authority must not send an empty `Host`.
    #[test]
    fn target() {
        use FramingError::*;
        let cases: &[(u8, &str, &[(&str, &[u8])], Result<Option<&[u8]>, FramingError>)] = &[
            (1, "/", &[("Host", b"h")], Ok(Some(b"h"))),
            (1, "*", &[("Host", b"h")], Ok(Some(b"h"))),
            (1, "h:443", &[("Host", b"h:443")], Ok(Some(b"h:443"))),
            (1, "http://a/x", &[("Host", b"h")], Ok(Some(b"h"))),
            (1, "http://a:80", &[("Host", b"h")], Ok(Some(b"h"))),
            (1, "http://a:80?q", &[("Host", b"h")], Ok(Some(b"h"))),
            (1, "https://[::1]:443/x", &[("Host", b"h")], Ok(Some(b"h"))),
            (1, "HTTP://127.0.0.1:8080/", &[("Host", b"h")], Ok(Some(b"h"))),
            (0, "http://a/x", &[], Ok(None)),
            // Bad authorities, whatever the Host and version.
            (1, "http://a:8x/", &[("Host", b"h")], Err(InvalidTargetAuthority)),
            (1, "http://a:80:80/", &[("Host", b"h")], Err(InvalidTargetAuthority)),
            (1, "http://:80/", &[("Host", b"h")], Err(InvalidTargetAuthority)),
            (1, "http://a:/", &[("Host", b"h")], Err(InvalidTargetAuthority)),
            (1, "http://a:65536/", &[("Host", b"h")], Err(InvalidTargetAuthority)),
            (1, "http://[::1/x", &[("Host", b"h")], Err(InvalidTargetAuthority)),
            (1, "http://[::1", &[("Host", b"h")], Err(InvalidTargetAuthority)),
            (1, "http://::1/x", &[("Host", b"h")], Err(InvalidTargetAuthority)),
            (1, "http://[::1]x/", &[("Host", b"h")], Err(InvalidTargetAuthority)),
            (1, "http://[::g]/", &[("Host", b"h")], Err(InvalidTargetAuthority)),
            (1, "http://[fe80::1%25eth0]/", &[("Host", b"h")], Err(InvalidTargetAuthority)),
            (1, "http://u@a/", &[("Host", b"h")], Err(InvalidTargetAuthority)),
            (1, "http:///x", &[("Host", b"h")], Err(InvalidTargetAuthority)),
            (1, "http://", &[("Host", b"h")], Err(InvalidTargetAuthority)),
            (1, "http://a%zz/", &[("Host", b"h")], Err(InvalidTargetAuthority)),
            (1, "http://a,b/", &[("Host", b"h")], Err(InvalidTargetAuthority)),
            (0, "http://a:8x/", &[], Err(InvalidTargetAuthority)),
            (1, "http://a:8x/", &[("Host", b"")], Err(InvalidTargetAuthority)),
            // An empty Host stands only beside an authority in the target (or in HTTP/1.0).
            (1, "/", &[("Host", b"")], Err(EmptyHost)),
            (1, "*", &[("Host", b"")], Err(EmptyHost)),
            (1, "/x?http://a/", &[("Host", b"")], Err(EmptyHost)),
            (1, "http://a/x", &[("Host", b"")], Ok(Some(b""))),
            (0, "/", &[("Host", b"")], Ok(Some(b""))),
            // Host's own rules come first.
            (1, "http://a/", &[], Err(MissingHost)),
            (1, "/", &[("Host", b""), ("Host", b"")], Err(DuplicateHost)),
            // A 400 here still wins over a 501.
            (1, "http://a:8x/", &[("Host", b"h"), ("Transfer-Encoding", b"gzip")], Err(InvalidTargetAuthority)),
            (1, "/", &[("Host", b""), ("Transfer-Encoding", b"gzip")], Err(EmptyHost)),
        ];
        for (minor, target, list, want) in cases {
            let got = request_framing(*minor, target, &headers(list)).map(|f| f.host);
            assert_eq!(got, *want, "HTTP/1.{minor} {target} {list:?}");
        }
    }

    #[test]
    fn connection() {
        // (version minor, Connection values, close, keep-alive, persistent)
        let cases: &[(u8, &[&[u8]], bool, bool, bool)] = &[
            (1, &[], false, false, true),
            (0, &[], false, false, false),
            (1, &[b"close"], true, false, false),
            (1, &[b"Close"], true, false, false),
            (1, &[b"keep-alive"], false, true, true),
            (0, &[b"Keep-Alive"], false, true, true),
            (0, &[b"keep-alive, close"], true, true, false),
            (1, &[b"upgrade, CLOSE"], true, false, false),
            (1, &[b"te,\tclose ,x"], true, false, false),
            (0, &[b"foo", b"keep-alive"], false, true, true),
            (1, &[b"closed"], false, false, true),
            (1, &[b"close-ish, keep-alive2"], false, false, true),
            (0, &[b"keep alive"], false, false, false),
            (1, &[b""], false, false, true),
        ];
        for (minor, values, close, keep_alive, persistent) in cases {
            let mut list = vec![("Host", b"h".as_slice())];
            list.extend(values.iter().map(|v| ("Connection", *v)));
            let f = request_framing(*minor, "/", &headers(&list));
            let Ok(f) = f else {
                panic!("{values:?}: {f:?}");
            };
            assert_eq!(
                (f.connection_close, f.keep_alive, f.persistent(*minor)),
                (*close, *keep_alive, *persistent),
                "HTTP/1.{minor} Connection {values:?}"
            );
        }
    }

    #[test]
    fn expect() {
        use FramingError::*;
        let cases: &[(u8, &[&[u8]], Result<bool, FramingError>)] = &[
            (1, &[], Ok(false)),
            (1, &[b"100-continue"], Ok(true)),
            (1, &[b"100-Continue"], Ok(true)),
            (1, &[b" 100-CONTINUE "], Ok(true)),
            (1, &[b"100-continue", b"100-continue"], Ok(true)),
            (1, &[b""], Ok(false)),
            (0, &[b"100-continue"], Ok(false)),
            (1, &[b"100-continue, foo"], Err(UnsupportedExpectation)),
            (1, &[b"100-continue", b"foo"], Err(UnsupportedExpectation)),
            (1, &[b"foo", b"100-continue"], Err(UnsupportedExpectation)),
            (1, &[b"200-ok"], Err(UnsupportedExpectation)),
            (1, &[b"100-continue;x=1"], Err(UnsupportedExpectation)),
            (1, &[b"100-continuex"], Err(UnsupportedExpectation)),
            (0, &[b"foo"], Err(UnsupportedExpectation)),
        ];
        for (minor, values, want) in cases {
            let mut list = vec![("Host", b"h".as_slice())];
            list.extend(values.iter().map(|v| ("Expect", *v)));
            let got = request_framing(*minor, "/", &headers(&list)).map(|f| f.expect_continue);
            assert_eq!(got, *want, "HTTP/1.{minor} Expect {values:?}");
        }
    }

    #[test]
    fn header_values() {
        // NUL, CR or LF in a value never reaches framing: httparse refuses the head (and obs-text
        // passes), so nothing downstream sees a value that could split or truncate.
        let cases: &[(&[u8], bool)] = &[
            (b"GET / HTTP/1.1\r\nHost: a\r\nX-Any: ok \x80\xff obs-text\r\n\r\n", true),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX-Any: a\0b\r\n\r\n", false),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX-Any: a\rb\r\n\r\n", false),
            (b"GET / HTTP/1.1\r\nHost: h\0\r\n\r\n", false),
        ];
        for (raw, ok) in cases {
            let mut storage = [httparse::EMPTY_HEADER; 8];
            let mut req = httparse::Request::new(&mut storage);
            let parsed = req.parse(raw);
            assert_eq!(matches!(parsed, Ok(httparse::Status::Complete(_))), *ok, "{:?}", String::from_utf8_lossy(raw));
        }
        // A bare LF inside a value ends the line instead: the line-end check refuses the head.
        assert_eq!(
            check_line_endings(b"GET / HTTP/1.1\r\nX: a\nb\r\n\r\n", Strictness::Strict),
            Err(FramingError::BareLf)
        );
    }

    #[test]
    fn line_endings() {
        use FramingError::*;
        let cases: &[(&[u8], Result<(), FramingError>)] = &[
            (b"", Ok(())),
            (b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", Ok(())),
            (b"\r\n", Ok(())),
            (b"\r\n\r\n", Ok(())),
            (b"GET / HTTP/1.1\nHost: h\r\n\r\n", Err(BareLf)),
            (b"GET / HTTP/1.1\r\nHost: h\n\r\n", Err(BareLf)),
            (b"GET / HTTP/1.1\r\nHost: h\r\n\n", Err(BareLf)),
            (b"\n", Err(BareLf)),
            (b"\n\r\n", Err(BareLf)),
            (b"a\n", Err(BareLf)),
            (b"a\r\n\n\r\n", Err(BareLf)),
            (b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", Err(BareCr)),
            (b"GET / HTTP/1.1\r\r\n\r\n", Err(BareCr)),
            (b"\r", Err(BareCr)),
            (b"a\r", Err(BareCr)),
            (b"a\r\n\r", Err(BareCr)),
            (b"\r\r", Err(BareCr)),
            (b"\ra\n", Err(BareCr)),
        ];
        for (head, want) in cases {
            assert_eq!(check_line_endings(head, Strictness::Strict), *want, "{head:?}");
            // Lenient accepts every bare LF, and refuses the same bare CRs.
            let lenient = if *want == Err(BareLf) { Ok(()) } else { *want };
            assert_eq!(check_line_endings(head, Strictness::Lenient), lenient, "lenient {head:?}");
        }
        let lenient: &[(&[u8], Result<(), FramingError>)] = &[
            (b"GET / HTTP/1.1\nHost: h\n\n", Ok(())),
            (b"GET / HTTP/1.1\r\nHost: h\n\r\n", Ok(())),
            (b"\n\n", Ok(())),
            (b"GET / HTTP/1.1\nHost: h\rX: y\n\n", Err(BareCr)),
            (b"GET / HTTP/1.1\nHost: h\n\r", Err(BareCr)),
            (b"GET / HTTP/1.1\r\r\n\n", Err(BareCr)),
            (b"\n\r", Err(BareCr)),
        ];
        for (head, want) in lenient {
            assert_eq!(check_line_endings(head, Strictness::Lenient), *want, "lenient {head:?}");
        }
    }

    /// The same rules through httparse, on whole request heads.
    #[test]
    fn raw_requests() {
        use FramingError::*;
        let cases: &[(&[u8], Result<BodyKind, FramingError>)] = &[
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", Ok(BodyKind::Length(5))),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", Ok(BodyKind::Chunked)),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                Err(ContentLengthWithTransferEncoding),
            ),
            (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Err(TransferEncodingInHttp10)),
            (b"POST / HTTP/1.1\nHost: a\nContent-Length: 5\n\n", Err(BareLf)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", Err(ChunkedNotLast)),
            (b"GET / HTTP/1.1\r\n\r\n", Err(MissingHost)),
            (b"GET / HTTP/1.1\r\nHost:\r\n\r\n", Err(EmptyHost)),
            (b"GET http://a/ HTTP/1.1\r\nHost:\r\n\r\n", Ok(BodyKind::Empty)),
            (b"GET http://[::1/x HTTP/1.1\r\nHost: a\r\n\r\n", Err(InvalidTargetAuthority)),
            (b"GET http://a:1:2/ HTTP/1.1\r\nHost: a\r\n\r\n", Err(InvalidTargetAuthority)),
        ];
        for (raw, want) in cases {
            let got = check_line_endings(raw, Strictness::Strict).and_then(|()| {
                let mut storage = [httparse::EMPTY_HEADER; 16];
                let mut req = httparse::Request::new(&mut storage);
                let status = req.parse(raw);
                assert!(matches!(status, Ok(httparse::Status::Complete(_))), "{raw:?}");
                request_framing(req.version.unwrap_or(1), req.path.unwrap_or_default(), req.headers).map(|f| f.body)
            });
            assert_eq!(got, *want, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn error_status() {
        use FramingError::*;
        let cases = [
            (InvalidContentLength, 400),
            (ConflictingContentLength, 400),
            (TransferEncodingInHttp10, 400),
            (ContentLengthWithTransferEncoding, 400),
            (EmptyTransferEncoding, 400),
            (InvalidTransferEncoding, 400),
            (ChunkedNotLast, 400),
            (DuplicateChunked, 400),
            (UnsupportedTransferCoding, 501),
            (MissingHost, 400),
            (DuplicateHost, 400),
            (InvalidHost, 400),
            (EmptyHost, 400),
            (InvalidTargetAuthority, 400),
            (UnsupportedExpectation, 417),
            (BareLf, 400),
            (BareCr, 400),
        ];
        for (error, status) in cases {
            assert_eq!(error.status(), status, "{error:?}");
            assert!(!error.to_string().is_empty());
        }
    }
}
