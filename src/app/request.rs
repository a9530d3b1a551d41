//! A request head as the application sees it: zero-copy views into the connection's read buffer,
//! whichever protocol parsed it.

use super::tls_info::TlsInfo;

/// How a request's body is delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// No body (HTTP/1: no `Content-Length` nor `Transfer-Encoding`, or `Content-Length: 0`).
    Empty,
    /// Exactly this many body bytes (never 0, that is [`BodyKind::Empty`]).
    Length(u64),
    /// A body whose length is known only at its end (HTTP/1: the chunked transfer coding, RFC
    /// 9112 §7.1, the only coding applied).
    Chunked,
}

/// The HTTP version of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: the connection closes after the answer unless the client asked for keep-alive.
    Http10,
    /// HTTP/1.1: the connection stays open unless either side says `Connection: close`.
    Http11,
    /// HTTP/2 (RFC 9113): one stream of a multiplexed connection.
    Http2,
}

/// A request head. Every `&str`/`&[u8]` borrows the connection's read buffer: nothing is copied.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub(crate) method: &'a str,
    pub(crate) target: &'a str,
    pub(crate) version: Version,
    pub(crate) headers: &'a [httparse::Header<'a>],
    pub(crate) body: BodyKind,
    /// The whole body, for a request answered inline (empty for a streamed one).
    pub(crate) body_bytes: &'a [u8],
    /// The `Host` header's value (validated), if any.
    pub(crate) host: Option<&'a [u8]>,
    /// Bytes of the head (request line and headers).
    pub(crate) head_len: usize,
    /// The normalised path the request was routed by (set by the server's router).
    pub(crate) route_path: Option<&'a str>,
    /// What the request's TLS connection negotiated (set by the server; `None`: cleartext).
    pub(crate) tls: Option<&'a TlsInfo>,
}

impl<'a> Request<'a> {
    /// The method token, e.g. `GET`.
    #[inline]
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The raw request target as sent (origin-form `/path?query`, or absolute-form).
    #[inline]
    pub fn target(&self) -> &'a str {
        self.target
    }

    /// The path part of the target, before any `?`, not decoded.
    pub fn path(&self) -> &'a str {
        split_query(self.target).0
    }

    /// The query part of the target, after the first `?`.
    pub fn query(&self) -> Option<&'a str> {
        split_query(self.target).1
    }

    /// The path after normalisation (unreserved escapes decoded, dot segments removed), as the
    /// URL namespace routed it; the raw path when the server does no routing.
    pub fn normalized_path(&self) -> &'a str {
        self.route_path.unwrap_or_else(|| self.path())
    }

    /// The `Host` header's value, if the request has one.
    pub fn host(&self) -> Option<&'a [u8]> {
        self.host
    }

    /// The HTTP version.
    #[inline]
    pub fn version(&self) -> Version {
        self.version
    }

    /// Every header line in order, as `(name, value)`.
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + '_ {
        self.headers.iter().map(|h| (h.name, h.value))
    }

    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value)
    }

    /// The first `User-Agent` and `Referer` values (what an access-log line names), found in one
    /// pass over the headers, a name's length looked at first.
    pub(crate) fn user_agent_and_referer(&self) -> (Option<&'a [u8]>, Option<&'a [u8]>) {
        let (mut user_agent, mut referer) = (None, None);
        for h in self.headers {
            let name = h.name.as_bytes();
            match name.len() {
                10 if user_agent.is_none() && is_name(name, b"user-agent") => user_agent = Some(h.value),
                7 if referer.is_none() && is_name(name, b"referer") => referer = Some(h.value),
                _ => {}
            }
        }
        (user_agent, referer)
    }

    /// How the request's body is framed.
    #[inline]
    pub fn body_kind(&self) -> BodyKind {
        self.body
    }

    /// The whole request body (de-chunked), for a handler answering inline: the connection
    /// collects it, up to [`Limits::max_body_size`](crate::Limits::max_body_size), before the
    /// handler runs. Empty when the request has no body, and for a request taken from a queue
    /// (which reads its body as a stream instead, see [`QueuedRequest`](crate::QueuedRequest)).
    #[inline]
    pub fn body(&self) -> &'a [u8] {
        self.body_bytes
    }

    /// What the connection's TLS handshake negotiated (protocol version, cipher suite, ALPN,
    /// server name, the client's verified certificate chain); `None` on a cleartext connection.
    #[inline]
    pub fn tls(&self) -> Option<&'a TlsInfo> {
        self.tls
    }

    /// Whether the method is `HEAD` (the answer is sent without its body).
    #[inline]
    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }
}

/// A request target's path and query: split at the first `?`, neither decoded.
pub(crate) fn split_query(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}

/// Whether `method` is one HTTP defines (RFC 9110's eight, and `PATCH` from RFC 5789), matched
/// case-sensitively as methods are. An application that does not serve a method answers `405`
/// for one of these (with `Allow`) and `501 Not Implemented` for any other (RFC 9110 §15.6.2).
pub fn is_standard_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "CONNECT" | "OPTIONS" | "TRACE" | "PATCH")
}

/// Whether header name `name` is `lower` (lowercase letters and `-`, 4 to 16 bytes) in any
/// case, a word at a time: setting bit 5 of every byte maps `A`–`Z` onto `a`–`z` and leaves `-`
/// as it is (0x0d would become `-` too, but a header name is a token, and no token has it).
#[inline(always)]
fn is_name(name: &[u8], lower: &[u8]) -> bool {
    let n = lower.len();
    if name.len() != n {
        return false;
    }
    let word = |s: &[u8], i: usize| s.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()).map(u64::from_ne_bytes);
    let half = |s: &[u8], i: usize| s.get(i..i + 4).and_then(|w| <[u8; 4]>::try_from(w).ok()).map(u32::from_ne_bytes);
    const BIT5: u64 = u64::from_ne_bytes([0x20; 8]);
    match n {
        8..=16 => {
            let fold = |i| word(name, i).map(|w| w | BIT5) == word(lower, i);
            fold(0) && fold(n - 8)
        }
        4..=7 => {
            let fold = |i| half(name, i).map(|w| w | BIT5 as u32) == half(lower, i);
            fold(0) && fold(n - 4)
        }
        _ => name.eq_ignore_ascii_case(lower),
    }
}

#[cfg(test)]
mod tests {
    use super::is_name;

    #[test]
    fn a_header_name_matches_in_any_case_and_nothing_else_does() {
        let table: &[(&[u8], &[u8], bool)] = &[
            (b"user-agent", b"user-agent", true),
            (b"User-Agent", b"user-agent", true),
            (b"USER-AGENT", b"user-agent", true),
            (b"user-agenT", b"user-agent", true),
            (b"user_agent", b"user-agent", false),
            (b"user-agenu", b"user-agent", false),
            (b"uesr-agent", b"user-agent", false),
            (b"user-agents", b"user-agent", false),
            (b"\xf5ser-agent", b"user-agent", false),
            (b"Referer", b"referer", true),
            (b"REFERER", b"referer", true),
            (b"referex", b"referer", false),
            (b"xeferer", b"referer", false),
            (b"refe^er", b"referer", false),
            (b"referrer", b"referer", false),
            (b"ref", b"ref", true),
            (b"REF", b"ref", true),
            (b"rex", b"ref", false),
        ];
        for &(name, lower, is) in table {
            assert_eq!(is_name(name, lower), is, "{:?} as {:?}", String::from_utf8_lossy(name), lower);
        }
    }
}
