//! What a request's TLS connection negotiated: [`TlsInfo`], the counterpart of http.sys's
//! `HTTP_SSL_INFO`, built once per connection when its handshake ends and shared by its requests.

/// What a request's TLS connection negotiated (http.sys's `HTTP_SSL_INFO`).
///
/// Built once per connection, when the handshake completes, and shared (behind an `Arc`) by
/// every request the connection carries.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The protocol version.
    pub version: TlsVersion,
    /// The cipher suite, by rustls's name (e.g. `"TLS13_AES_128_GCM_SHA256"`).
    pub cipher_suite: &'static str,
    /// The application protocol agreed by ALPN (e.g. `b"http/1.1"`), if any.
    pub alpn: Option<Box<[u8]>>,
    /// The server name (SNI) as the client sent it, if it sent one.
    pub server_name: Option<Box<str>>,
    /// The client's certificate chain (DER, leaf first), verified against the binding's client
    /// CA; empty when the client sent none.
    pub peer_certificates: Box<[Box<[u8]>]>,
    /// The session was resumed (a ticket or a session ID), not a full handshake.
    pub resumed: bool,
}

/// A TLS protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsVersion {
    /// TLS 1.2 (RFC 5246).
    Tls12,
    /// TLS 1.3 (RFC 8446).
    Tls13,
}
