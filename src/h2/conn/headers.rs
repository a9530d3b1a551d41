//! A header block decoded and checked as a request head (RFC 9113 §8.2, §8.3): pseudo-headers,
//! lowercase names, connection-specific fields refused, `te` only `trailers`, `content-length`;
//! then the application's [`Request`] view over it.

use std::mem::MaybeUninit;

use crate::app::{BodyKind, Request, Version};
use crate::h1::framing::is_valid_host;
use crate::hpack::Decoder;
use crate::limits::{Limits, MAX_HEADERS_CAP};
use crate::semantics::is_token;

/// A decoded head: every field's bytes back to back in `text`, with where each piece lies. Kept
/// by the connection and reused for every block (no allocation per request once grown), and
/// moved into a stream whose inline answer waits for its body.
#[derive(Debug, Default)]
pub(in crate::h2) struct OwnedHead {
    text: Vec<u8>,
    /// Regular fields: where the name starts, where it ends (the value starts), where the value ends.
    fields: Vec<[u32; 3]>,
    method: Option<[u32; 2]>,
    scheme: Option<[u32; 2]>,
    path: Option<[u32; 2]>,
    authority: Option<[u32; 2]>,
    host: Option<[u32; 2]>,
    pub(super) content_length: Option<u64>,
    pub(super) expects_continue: bool,
    /// A rule of §8 is broken: a stream error (`PROTOCOL_ERROR`).
    malformed: bool,
    /// A regular field was seen: a pseudo-header after it is malformed.
    regular_seen: bool,
    /// A field over `max_field_length`, or more than `max_headers` fields: `431`.
    too_large: bool,
    /// The decoded list's size (RFC 9113 §6.5.2: names, values and 32 per field).
    pub(super) list_size: usize,
}

/// What a decoded block is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Well formed.
    Ok,
    /// Breaks a rule of RFC 9113 §8: a stream error (`PROTOCOL_ERROR`).
    Malformed,
    /// Over the header limits: answered `431`.
    TooLarge,
}

/// Connection-specific fields, which HTTP/2 refuses (RFC 9113 §8.2.2).
fn is_connection_specific(name: &[u8]) -> bool {
    matches!(name, b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding" | b"upgrade")
}

/// A field name as HTTP/2 requires it: a token without uppercase letters.
fn is_lower_token(name: &[u8]) -> bool {
    is_token(name) && !name.iter().any(u8::is_ascii_uppercase)
}

/// A field value as RFC 9113 §8.2.1 allows it: no NUL, CR or LF, no leading or trailing space or tab.
fn is_valid_value(value: &[u8]) -> bool {
    !value.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n'))
        && !matches!(value.first(), Some(b' ' | b'\t'))
        && !matches!(value.last(), Some(b' ' | b'\t'))
}

fn pos(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl OwnedHead {
    /// Whether the head has no vector (given back to the thread's pool: see `spare`).
    pub(super) fn is_bare(&self) -> bool {
        self.text.capacity() == 0 && self.fields.capacity() == 0
    }

    /// Takes the head's two vectors out, leaving it empty and bare.
    pub(super) fn take_vecs(&mut self) -> (Vec<u8>, Vec<[u32; 3]>) {
        self.clear();
        (std::mem::take(&mut self.text), std::mem::take(&mut self.fields))
    }

    /// Puts (empty) vectors back into a bare head.
    pub(super) fn put_vecs(&mut self, mut text: Vec<u8>, mut fields: Vec<[u32; 3]>) {
        text.clear();
        fields.clear();
        self.text = text;
        self.fields = fields;
    }

    fn clear(&mut self) {
        self.text.clear();
        self.fields.clear();
        self.method = None;
        self.scheme = None;
        self.path = None;
        self.authority = None;
        self.host = None;
        self.content_length = None;
        self.expects_continue = false;
        self.malformed = false;
        self.regular_seen = false;
        self.too_large = false;
        self.list_size = 0;
    }

    fn piece(&self, r: [u32; 2]) -> &[u8] {
        self.text.get(r[0] as usize..r[1] as usize).unwrap_or_default()
    }

    fn push(&mut self, bytes: &[u8]) -> [u32; 2] {
        let start = pos(self.text.len());
        self.text.extend_from_slice(bytes);
        [start, pos(self.text.len())]
    }

    /// One decoded field, checked; `trailers`: it is in a trailer section (no pseudo-header).
    fn field(&mut self, name: &[u8], value: &[u8], trailers: bool, limits: &Limits) {
        if self.malformed {
            return;
        }
        if !is_valid_value(value) {
            self.malformed = true;
            return;
        }
        if let Some(pseudo) = name.strip_prefix(b":") {
            let slot = match pseudo {
                _ if trailers || self.regular_seen => None,
                b"method" => Some(&mut self.method),
                b"scheme" => Some(&mut self.scheme),
                b"path" => Some(&mut self.path),
                b"authority" => Some(&mut self.authority),
                _ => None,
            };
            match slot {
                Some(slot) if slot.is_none() => {
                    // (Borrowed from `text` after the push.)
                    let start = pos(self.text.len());
                    self.text.extend_from_slice(value);
                    let end = pos(self.text.len());
                    let slot = match pseudo {
                        b"method" => &mut self.method,
                        b"scheme" => &mut self.scheme,
                        b"path" => &mut self.path,
                        _ => &mut self.authority,
                    };
                    *slot = Some([start, end]);
                }
                // Unknown, repeated, after a regular field, or in trailers.
                _ => self.malformed = true,
            }
            return;
        }
        self.regular_seen = true;
        if !is_lower_token(name) || is_connection_specific(name) || (name == b"te" && value != b"trailers") {
            self.malformed = true;
            return;
        }
        if name.len() + value.len() > limits.max_field_length || self.fields.len() >= limits.max_headers {
            self.too_large = true;
            return;
        }
        if trailers {
            return; // checked, not kept: the application layer has no trailers for a request
        }
        match name {
            b"content-length" => {
                let n = parse_length(value);
                if n.is_none() || (self.content_length.is_some() && self.content_length != n) {
                    self.malformed = true;
                    return;
                }
                self.content_length = n;
            }
            b"expect" => self.expects_continue = value.eq_ignore_ascii_case(b"100-continue"),
            _ => {}
        }
        let name_at = self.push(name);
        let value_at = self.push(value);
        if name == b"host" && self.host.is_none() {
            self.host = Some(value_at);
        }
        self.fields.push([name_at[0], name_at[1], value_at[1]]);
    }

    /// Checks what the whole block must have (a request's pseudo-headers).
    fn finish(&mut self, trailers: bool) -> Verdict {
        if self.malformed {
            return Verdict::Malformed;
        }
        if !trailers {
            let method = self.method.map(|m| self.piece(m));
            let path = self.path.map(|p| self.piece(p));
            let valid_path = path.is_some_and(|p| !p.is_empty() && p.iter().all(|&b| (0x21..0x7f).contains(&b)));
            let authority_ok = self.authority.is_none_or(|a| is_valid_host(self.piece(a)));
            if !method.is_some_and(is_token) || self.scheme.is_none() || !valid_path || !authority_ok {
                return Verdict::Malformed;
            }
        }
        if self.too_large { Verdict::TooLarge } else { Verdict::Ok }
    }

    /// Decodes `block` into this head (cleared first) and checks it. `Err`: the block could not
    /// be decoded (a connection `COMPRESSION_ERROR`: the decoder's table is no longer the peer's).
    pub(super) fn decode(
        &mut self,
        decoder: &mut Decoder,
        block: &[u8],
        trailers: bool,
        limits: &Limits,
        max_list: usize,
    ) -> Result<Verdict, ()> {
        self.clear();
        let decoded = decoder.decode(block, max_list, |n, v, _| self.field(n, v, trailers, limits)).map_err(|_| ())?;
        self.list_size = decoded.list_size;
        if decoded.over_limit {
            self.too_large = true;
        }
        Ok(self.finish(trailers))
    }

    /// Whether the request is a `HEAD`.
    pub(super) fn is_head(&self) -> bool {
        self.method.is_some_and(|m| self.piece(m) == b"HEAD")
    }

    /// The request view over this head (a `Verdict::Ok` one), handed to `with`.
    pub(super) fn with_request<R>(&self, body: BodyKind, body_bytes: &[u8], with: impl FnOnce(&Request<'_>) -> R) -> R {
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
        let mut n = 0;
        for (slot, f) in slots.iter_mut().zip(&self.fields) {
            let name = self.text.get(f[0] as usize..f[1] as usize).unwrap_or_default();
            let value = self.text.get(f[1] as usize..f[2] as usize).unwrap_or_default();
            slot.write(httparse::Header { name: std::str::from_utf8(name).unwrap_or_default(), value });
            n += 1;
        }
        // SAFETY: the first `n` slots were written just above.
        let headers: &[httparse::Header<'_>] = unsafe { std::slice::from_raw_parts(slots.as_ptr().cast(), n) };
        let text =
            |r: Option<[u32; 2]>| std::str::from_utf8(r.map(|r| self.piece(r)).unwrap_or_default()).unwrap_or_default();
        let request = Request {
            method: text(self.method),
            target: text(self.path),
            version: Version::Http2,
            headers,
            body,
            body_bytes,
            host: self.authority.or(self.host).map(|r| self.piece(r)),
            head_len: self.list_size,
            route_path: None,
            tls: None,
        };
        with(&request)
    }
}

/// A `content-length` value: digits only, at most 19 of them.
fn parse_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(fields: &[(&[u8], &[u8])], trailers: bool) -> Verdict {
        let mut h = OwnedHead::default();
        let limits = Limits::default();
        for (n, v) in fields {
            h.field(n, v, trailers, &limits);
        }
        h.finish(trailers)
    }

    const BASE: [(&[u8], &[u8]); 3] = [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/")];

    #[test]
    fn request_rules() {
        use Verdict::*;
        let with = |extra: &[(&'static [u8], &'static [u8])]| {
            let mut v: Vec<(&[u8], &[u8])> = BASE.to_vec();
            v.extend_from_slice(extra);
            check(&v, false)
        };
        assert_eq!(with(&[]), Ok);
        assert_eq!(with(&[(b"accept", b"*/*"), (b"te", b"trailers")]), Ok);
        assert_eq!(with(&[(b":authority", b"a.example:80")]), Ok);
        let bad: &[&[(&[u8], &[u8])]] = &[
            &[(b"Accept", b"x")],
            &[(b"connection", b"close")],
            &[(b"upgrade", b"h2c")],
            &[(b"transfer-encoding", b"chunked")],
            &[(b"keep-alive", b"5")],
            &[(b"te", b"gzip")],
            &[(b":status", b"200")],
            &[(b":foo", b"x")],
            &[(b":method", b"POST")],
            &[(b"x", b"a"), (b":authority", b"b")],
            &[(b"x", b" lead")],
            &[(b"x", b"bad\0")],
            &[(b"content-length", b"1x")],
            &[(b"content-length", b"1"), (b"content-length", b"2")],
            &[(b":authority", b"a b")],
        ];
        for extra in bad {
            assert_eq!(with(extra), Malformed, "{extra:?}");
        }
        assert_eq!(check(&[(b":method", b"GET"), (b":scheme", b"http")], false), Malformed);
        assert_eq!(check(&[(b":method", b"GET"), (b":path", b"/")], false), Malformed);
        assert_eq!(check(&[(b":scheme", b"http"), (b":path", b"/")], false), Malformed);
        assert_eq!(check(&[(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"")], false), Malformed);
        assert_eq!(check(&[(b"x-t", b"1")], true), Ok);
        assert_eq!(check(&[(b":path", b"/")], true), Malformed);
    }

    #[test]
    fn the_view_has_the_authority_as_host_and_http2() {
        let mut h = OwnedHead::default();
        let limits = Limits::default();
        for (n, v) in BASE.iter().chain(&[(&b":authority"[..], &b"x.test"[..]), (b"accept", b"a")]) {
            h.field(n, v, false, &limits);
        }
        assert_eq!(h.finish(false), Verdict::Ok);
        h.with_request(BodyKind::Empty, b"", |r| {
            assert_eq!(
                (r.method(), r.target(), r.host(), r.version()),
                ("GET", "/", Some(&b"x.test"[..]), Version::Http2)
            );
            assert_eq!(r.headers().collect::<Vec<_>>(), [("accept", &b"a"[..])]);
        });
    }
}
