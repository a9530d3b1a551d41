//! TLS: the layer between a connection's socket bytes and `h1`, for `https://` prefixes.
//!
//! Sans-I/O like the codec: ciphertext in, plaintext and records out. The I/O threads own the
//! sockets and call into it (`server::worker::tls`).
//!
//! - `hello.rs`: the ClientHello peek (is it TLS; the server name that picks the binding).
//! - `config.rs`: certificates, client-certificate CAs, and a binding's rustls `ServerConfig`.
//! - `bindings.rs`: http.sys's SSL bindings (`IP:port`, port, `hostname:port`), changed live.
//! - `session.rs`: one connection's session over rustls's unbuffered API.

pub mod bindings;
pub mod config;
pub mod hello;
pub mod session;

pub use crate::stats::TlsFailure;
