//! TLS: the layer between a connection's socket bytes and `h1`, for `https://` prefixes.
//!
//! Sans-I/O like the codec: ciphertext in, plaintext and records out. The I/O threads own the
//! sockets and call into it.

#[allow(dead_code)] // `peek` is called by the accept path once the layer is wired into the loop
pub mod hello;
pub mod bindings;
pub mod config;
pub mod session;

/// Why a TLS handshake (or a TLS connection) failed: the counters' reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)] // used as the layer is wired into the loop
pub enum TlsFailure {
    /// The first bytes are not a TLS handshake record (plaintext HTTP sent to a TLS port, or
    /// noise): closed at once, unanswered.
    NotTls,
    /// No certificate binding matches the connection's address and server name.
    NoCertificate,
    /// The ClientHello (or the handshake's input) is larger than the bound.
    TooLarge,
    /// The peer broke the protocol (a bad record, a failed verification, an alert).
    Protocol,
    /// The handshake did not finish within `header_wait`.
    Timeout,
}

impl TlsFailure {
    /// Every reason, in counter order.
    #[allow(dead_code)]
    pub const ALL: [TlsFailure; 5] = [
        TlsFailure::NotTls,
        TlsFailure::NoCertificate,
        TlsFailure::TooLarge,
        TlsFailure::Protocol,
        TlsFailure::Timeout,
    ];
}
