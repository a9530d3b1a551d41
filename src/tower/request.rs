//! A request head as an [`http::Request`], and what hsys adds to its extensions ([`RequestInfo`]).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri};

use super::Body;
use crate::app::{Request, TlsInfo, Version};
use crate::group::GroupId;

/// What hsys knows of a request beyond its head, in the extensions of every request a tower
/// service gets (`req.extensions().get::<hsys::RequestInfo>()`; with axum, the
/// `Extension<hsys::RequestInfo>` extractor).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RequestInfo {
    /// The client's address (`None` if the socket could not tell it: the client is gone).
    pub peer_addr: Option<SocketAddr>,
    /// The address the connection was accepted on.
    pub local_addr: SocketAddr,
    /// The URL group the request was routed to.
    pub group: GroupId,
    /// The path of the URL prefix that claimed the request (`/api/` for `http://+:80/api/`).
    pub prefix_path: std::sync::Arc<str>,
    /// What the connection's TLS handshake negotiated; `None` on a cleartext connection.
    pub tls: Option<Arc<TlsInfo>>,
}

/// Why a request head cannot be an [`http::Request`] (answered `400`). The codec validated the
/// head already; these are what the `http` crate is stricter about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unfit {
    /// The method, target or a header is not what `http` accepts.
    Head,
}

/// At most this many bytes of target and header values share one heap block with the count of
/// their references (`Bytes::from_owner`): one allocation for a usual head. More go in a `Vec`.
const INLINE: usize = 512;

/// The target and header values of a small head, copied together (the first `len` bytes of at
/// most `N`: a block sized to the head, little to clear and move).
struct Inline<const N: usize> {
    len: usize,
    bytes: [u8; N],
}

impl<const N: usize> AsRef<[u8]> for Inline<N> {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len.min(N)]
    }
}

/// `parts` (`len` bytes in all, at most `N`) in one `Inline` block.
fn inline<'p, const N: usize>(parts: impl Iterator<Item = &'p [u8]>) -> Bytes {
    let mut inline = Inline { len: 0, bytes: [0; N] };
    for part in parts {
        let end = inline.len + part.len();
        if let Some(to) = inline.bytes.get_mut(inline.len..end) {
            to.copy_from_slice(part);
            inline.len = end;
        }
    }
    Bytes::from_owner(inline)
}

/// `parts` (`len` bytes in all) copied into one buffer that each part's `Bytes` then slices (in
/// order): one allocation for them all, none when they are empty.
fn copy_once<'p>(len: usize, parts: impl Iterator<Item = &'p [u8]>) -> Bytes {
    match len {
        0 => Bytes::new(),
        1..=32 => inline::<32>(parts),
        33..=128 => inline::<128>(parts),
        129..=INLINE => inline::<INLINE>(parts),
        _ => {
            let mut all = Vec::with_capacity(len);
            parts.for_each(|part| all.extend_from_slice(part));
            Bytes::from(all)
        }
    }
}

/// `req` as an [`http::Request`] with `body`, `info` in its extensions: the method, the target as
/// sent (origin, absolute, authority or asterisk form), the version and every header in order
/// (repeated names kept). The target and the header values are copied once, together (the
/// `Uri` and each `HeaderValue` a slice of that copy); the target `/` is not copied at all.
pub(crate) fn to_http(req: &Request<'_>, body: Body, info: RequestInfo) -> Result<http::Request<Body>, Unfit> {
    let method = Method::from_bytes(req.method().as_bytes()).map_err(|_| Unfit::Head)?;
    let target = req.target();
    let root = target == "/";
    let target_bytes: &[u8] = if root { b"" } else { target.as_bytes() };
    let len = target_bytes.len() + req.headers().map(|(_, value)| value.len()).sum::<usize>();
    let shared = copy_once(len, std::iter::once(target_bytes).chain(req.headers().map(|(_, value)| value)));
    let mut at = 0;
    // (Each part in turn; a copy of its own if it were not in `shared`.)
    let mut next = |part: &[u8]| {
        let end = at + part.len();
        match shared.get(at..end) {
            Some(_) => {
                let slice = shared.slice(at..end);
                at = end;
                slice
            }
            None => Bytes::copy_from_slice(part),
        }
    };
    let uri = match root {
        true => Uri::from_static("/"),
        false => Uri::from_maybe_shared(next(target_bytes)).map_err(|_| Unfit::Head)?,
    };
    let mut headers = HeaderMap::with_capacity(req.headers.len());
    for (name, value) in req.headers() {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| Unfit::Head)?;
        let value = HeaderValue::from_maybe_shared(next(value)).map_err(|_| Unfit::Head)?;
        headers.append(name, value);
    }
    let mut out = http::Request::new(body);
    *out.method_mut() = method;
    *out.uri_mut() = uri;
    *out.version_mut() = match req.version() {
        Version::Http10 => http::Version::HTTP_10,
        Version::Http11 => http::Version::HTTP_11,
        Version::Http2 => http::Version::HTTP_2,
    };
    *out.headers_mut() = headers;
    out.extensions_mut().insert(info);
    Ok(out)
}
