//! A request head as an [`http::Request`], and what hsys adds to its extensions ([`RequestInfo`]).

use std::net::SocketAddr;
use std::sync::Arc;

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

/// `req` as an [`http::Request`] with `body`, `info` in its extensions: the method, the target as
/// sent (origin, absolute, authority or asterisk form), the version and every header in order
/// (repeated names kept).
pub(crate) fn to_http(req: &Request<'_>, body: Body, info: RequestInfo) -> Result<http::Request<Body>, Unfit> {
    let method = Method::from_bytes(req.method().as_bytes()).map_err(|_| Unfit::Head)?;
    let uri = Uri::try_from(req.target()).map_err(|_| Unfit::Head)?;
    let mut headers = HeaderMap::with_capacity(req.headers.len());
    for (name, value) in req.headers() {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| Unfit::Head)?;
        let value = HeaderValue::from_bytes(value).map_err(|_| Unfit::Head)?;
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
