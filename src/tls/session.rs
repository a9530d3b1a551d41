//! One TLS connection over rustls's unbuffered API: ciphertext in, plaintext and records out.
//!
//! [`TlsConn`] holds only rustls's state, the tail of a record not yet complete (`held`) and the
//! records not yet taken (`pending`); both buffers are released whenever they empty, so an idle
//! connection holds no buffer. Decryption happens in place in a scratch buffer the caller lends
//! (one per thread, reused across connections).
//!
//! The call order rustls's unbuffered API requires, which this module keeps:
//! - every `process_tls_records` call gets the bytes the previous calls left (the held bytes
//!   first), minus exactly what they said to discard: rustls keeps offsets into that buffer, and
//!   a call with fewer bytes can panic inside rustls;
//! - after an error, exactly one more call, to fetch the alert to send; then none;
//! - bytes after the client's `close_notify` are dropped, never processed;
//! - records rustls queues (handshake flights, tickets, key updates, alerts) go out before any
//!   application data or `close_notify` encrypted after them;
//! - an output buffer too small for a record is grown to the size rustls asks for, and the call
//!   retried.

use std::sync::Arc;

use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};
use rustls::{Error, HandshakeKind, InvalidMessage, ProtocolVersion, ServerConfig};

use super::TlsFailure;
use crate::app::{TlsInfo, TlsVersion};

/// The most input held while the handshake runs (a partial record, and the handshake messages
/// rustls has not finished reassembling): a client sending more gets [`TlsFailure::TooLarge`].
#[allow(dead_code)] // read by the I/O loop's tests and the fuzz target
pub const MAX_HANDSHAKE_HELD: usize = 32 * 1024;

/// The most input held after the handshake: one record (2^14 bytes of plaintext, 256 of
/// expansion, the 5-byte header), less its last byte.
#[allow(dead_code)] // read by the I/O loop's tests and the fuzz target
pub const MAX_RECORD: usize = (1 << 14) + 256 + 5;

/// Per-record overhead assumed when sizing a sealed output: header, explicit nonce (TLS 1.2),
/// content type (TLS 1.3) and tag, rounded up. A larger need is asked for and retried.
const RECORD_OVERHEAD: usize = 32;

/// The plaintext of one record, for sizing a sealed output.
const MAX_FRAGMENT: usize = 1 << 14;

/// One TLS connection's state: see the module's documentation.
pub struct TlsConn {
    /// rustls's connection state (keys, handshake state, sequence numbers).
    conn: UnbufferedServerConnection,
    /// Input rustls has not discarded: a partial record, or handshake fragments being
    /// reassembled (rustls keeps offsets into them). Empty (capacity 0) between records.
    held: Vec<u8>,
    /// Records to send, in order; taken by `take_pending`, `seal` or `close_notify`.
    pending: Vec<u8>,
    /// Where the handshake is.
    phase: Phase,
    /// The client sent `close_notify`: later input is dropped.
    peer_closed: bool,
    /// `close_notify` was queued: nothing more may be sealed, and input is dropped.
    sent_close: bool,
}

/// Where a connection's handshake is.
enum Phase {
    /// Running; the server name the client sent, for [`TlsInfo`].
    Handshaking(Option<Box<str>>),
    /// Done: what it negotiated.
    Established(Arc<TlsInfo>),
    /// Failed for good (the alert, if any, went to the pending output); rustls is not called
    /// again.
    Failed(TlsFailure),
}

/// What a `drive` call is for.
enum Drive<'a> {
    /// Input: decrypted application data goes to the vector.
    Read(&'a mut Vec<u8>),
    /// Encrypt the data to the end of the vector, after the pending records.
    Seal(&'a [u8], &'a mut Vec<u8>),
    /// Queue `close_notify` to the end of the vector, after the pending records.
    CloseNotify(&'a mut Vec<u8>),
}

/// What one state of rustls's asks next.
enum Step {
    /// Call rustls again.
    Continue,
    /// Done for now (more input is needed, or the write was made).
    Stop,
    /// The rest of the input is dropped (it follows the client's `close_notify`).
    StopDropRest,
    /// Failed, without an alert to fetch.
    Fail(TlsFailure),
    /// rustls reported an error: fetch its alert, then fail.
    Error(Error),
}

impl std::fmt::Debug for TlsConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConn")
            .field("held", &self.held.len())
            .field("pending", &self.pending.len())
            .field("handshaking", &self.is_handshaking())
            .field("peer_closed", &self.peer_closed)
            .field("sent_close", &self.sent_close)
            .finish_non_exhaustive()
    }
}

impl TlsConn {
    /// A connection about to handshake under `config`. `server_name` is the SNI the client
    /// sent, as the caller's ClientHello parse found it (rustls's unbuffered server connection
    /// does not expose it); it is only reported in [`TlsInfo::server_name`].
    pub fn new(config: Arc<ServerConfig>, server_name: Option<&str>) -> Result<TlsConn, TlsFailure> {
        let conn = UnbufferedServerConnection::new(config).map_err(|_| TlsFailure::Protocol)?;
        Ok(TlsConn {
            conn,
            held: Vec::new(),
            pending: Vec::new(),
            phase: Phase::Handshaking(server_name.map(Box::from)),
            peer_closed: false,
            sent_close: false,
        })
    }

    /// Takes `cipher`, the bytes just read from the socket (the caller does not keep them).
    ///
    /// Decrypted application data is appended to `plain`; records the connection must send
    /// (handshake flights, tickets, alerts) go to its pending output. A partial record is kept
    /// in the connection's own buffer, released whenever it empties. `work` is a scratch buffer
    /// the caller lends (reused across connections) for in-place decryption; it is left with
    /// garbage in it. Bytes after the client's `close_notify` are dropped, and so is all input
    /// once [`TlsConn::close_notify`] was called (the connection is closing; rustls would answer
    /// a bad record with a second alert, which it asserts never happens).
    ///
    /// `Err` is fatal: the alert to send (if any) is then in the pending output; the caller
    /// sends it and closes. Later calls return the same error.
    pub fn open(&mut self, cipher: &[u8], plain: &mut Vec<u8>, work: &mut Vec<u8>) -> Result<(), TlsFailure> {
        if let Phase::Failed(failure) = self.phase {
            return Err(failure);
        }
        if self.peer_closed || self.sent_close {
            return Ok(());
        }
        work.clear();
        work.extend_from_slice(&self.held);
        work.extend_from_slice(cipher);
        let (used, result) = self.drive(work, Drive::Read(plain));
        self.established();
        result?;
        let rest = work.get(used..).unwrap_or_default();
        let limit = if self.is_handshaking() { MAX_HANDSHAKE_HELD } else { MAX_RECORD };
        if rest.len() > limit {
            self.held = Vec::new();
            return Err(self.fail(TlsFailure::TooLarge));
        }
        self.hold(rest);
        Ok(())
    }

    /// The connection has records to send.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Moves the pending records to the end of `out`, and releases the pending buffer.
    pub fn take_pending(&mut self, out: &mut Vec<u8>) {
        if self.pending.is_empty() {
            return;
        }
        if out.is_empty() && out.capacity() < self.pending.len() {
            *out = std::mem::take(&mut self.pending);
        } else {
            out.extend_from_slice(&self.pending);
            self.pending = Vec::new();
        }
    }

    /// Encrypts `plain` (application data, after the handshake) to the end of `out`, the pending
    /// records first.
    ///
    /// `Err(Protocol)` when the connection cannot carry data: still handshaking, failed, or
    /// after [`TlsConn::close_notify`]; the pending records are moved to `out` regardless.
    pub fn seal(&mut self, plain: &[u8], out: &mut Vec<u8>) -> Result<(), TlsFailure> {
        if let Phase::Failed(failure) = self.phase {
            self.take_pending(out);
            return Err(failure);
        }
        if self.is_handshaking() || self.sent_close {
            self.take_pending(out);
            return Err(TlsFailure::Protocol);
        }
        let mut held = std::mem::take(&mut self.held);
        let (used, result) = self.drive(&mut held, Drive::Seal(plain, out));
        self.rehold(held, used);
        self.take_pending(out);
        result
    }

    /// Queues `close_notify` (the pending records first) to the end of `out`. During the
    /// handshake, after a failure or a second time, only the pending records are moved.
    pub fn close_notify(&mut self, out: &mut Vec<u8>) {
        if self.sent_close || self.is_handshaking() || matches!(self.phase, Phase::Failed(_)) {
            self.take_pending(out);
            return;
        }
        let mut held = std::mem::take(&mut self.held);
        let (used, _) = self.drive(&mut held, Drive::CloseNotify(out));
        self.rehold(held, used);
        self.sent_close = true;
        self.take_pending(out);
    }

    /// The handshake has not finished (nor failed).
    pub fn is_handshaking(&self) -> bool {
        matches!(self.phase, Phase::Handshaking(_))
    }

    /// The client sent `close_notify`: all its data has arrived.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// After the handshake: what the application may see (built once per connection, shared).
    pub fn info(&self) -> Option<Arc<TlsInfo>> {
        match &self.phase {
            Phase::Established(info) => Some(Arc::clone(info)),
            _ => None,
        }
    }

    #[allow(dead_code)] // for the tests and the fuzz target (the loop sees the client end by its FIN)
    /// The bytes of buffer the connection holds beyond rustls's state (its held input and its
    /// pending output): 0 when idle.
    pub fn buffered_capacity(&self) -> usize {
        self.held.capacity() + self.pending.capacity()
    }

    /// Calls rustls over `buf` until it needs more input or `mode`'s write is made. Returns how
    /// many bytes of `buf`'s front rustls is done with, and whether it failed.
    fn drive(&mut self, buf: &mut [u8], mut mode: Drive<'_>) -> (usize, Result<(), TlsFailure>) {
        let mut start = 0;
        loop {
            let UnbufferedStatus { discard, state } =
                self.conn.process_tls_records(buf.get_mut(start..).unwrap_or_default());
            let mut extra = 0;
            let step = match state {
                Err(e) => Step::Error(e),
                Ok(ConnectionState::ReadTraffic(mut traffic)) => match &mut mode {
                    Drive::Read(plain) => {
                        let mut step = Step::Continue;
                        while let Some(record) = traffic.next_record() {
                            match record {
                                Ok(record) => {
                                    extra += record.discard;
                                    plain.extend_from_slice(record.payload);
                                }
                                Err(e) => {
                                    step = Step::Error(e);
                                    break;
                                }
                            }
                        }
                        step
                    }
                    // Held input never holds a whole record (`open` runs rustls until it needs
                    // more), so writing never meets application data; if it did, it would be lost.
                    _ => Step::Fail(TlsFailure::Protocol),
                },
                Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                    match append_with(&mut self.pending, 0, |out| {
                        encode.encode(out).map_err(|e| match e {
                            EncodeError::InsufficientSize(size) => Some(size.required_size),
                            _ => None,
                        })
                    }) {
                        Ok(()) => Step::Continue,
                        Err(failure) => Step::Fail(failure),
                    }
                }
                // The records stay in `pending` for the caller to send.
                Ok(ConnectionState::TransmitTlsData(transmit)) => {
                    transmit.done();
                    Step::Continue
                }
                Ok(ConnectionState::BlockedHandshake) => Step::Stop,
                Ok(ConnectionState::WriteTraffic(mut traffic)) => match &mut mode {
                    Drive::Read(_) => Step::Stop,
                    Drive::Seal(plain, out) => {
                        take_into(&mut self.pending, out);
                        let records = plain.len() / MAX_FRAGMENT + 1;
                        let size = plain.len() + records * RECORD_OVERHEAD;
                        match append_with(out, size, |buf| traffic.encrypt(plain, buf).map_err(encrypt_need)) {
                            Ok(()) => Step::Stop,
                            Err(failure) => Step::Fail(failure),
                        }
                    }
                    Drive::CloseNotify(out) => {
                        take_into(&mut self.pending, out);
                        match append_with(out, 2 * RECORD_OVERHEAD, |buf| {
                            traffic.queue_close_notify(buf).map_err(encrypt_need)
                        }) {
                            Ok(()) => Step::Stop,
                            Err(failure) => Step::Fail(failure),
                        }
                    }
                },
                Ok(ConnectionState::PeerClosed | ConnectionState::Closed) => {
                    self.peer_closed = true;
                    Step::StopDropRest
                }
                // hsys never enables 0-RTT; early data is a configuration error, refused.
                Ok(_) => Step::Fail(TlsFailure::Protocol),
            };
            start += discard + extra;
            match step {
                Step::Continue => {}
                Step::Stop => return (start, Ok(())),
                Step::StopDropRest => return (buf.len(), Ok(())),
                Step::Fail(failure) => return (buf.len(), Err(self.fail(failure))),
                Step::Error(e) => {
                    self.fetch_alert(buf.get_mut(start..).unwrap_or_default());
                    return (buf.len(), Err(self.fail(failure_of(&e))));
                }
            }
        }
    }

    /// After rustls reported an error: one more call, with the bytes it left, to encode the
    /// alert it queued (if any) into the pending output. Then rustls is not called again.
    fn fetch_alert(&mut self, rest: &mut [u8]) {
        let UnbufferedStatus { state, .. } = self.conn.process_tls_records(rest);
        if let Ok(ConnectionState::EncodeTlsData(mut encode)) = state {
            let _ = append_with(&mut self.pending, 0, |out| {
                encode.encode(out).map_err(|e| match e {
                    EncodeError::InsufficientSize(size) => Some(size.required_size),
                    _ => None,
                })
            });
        }
    }

    /// Marks the connection failed for good, releasing the held input.
    fn fail(&mut self, failure: TlsFailure) -> TlsFailure {
        self.phase = Phase::Failed(failure);
        self.held = Vec::new();
        failure
    }

    /// Once rustls says the handshake is done: builds what it negotiated.
    fn established(&mut self) {
        let Phase::Handshaking(server_name) = &mut self.phase else {
            return;
        };
        if self.conn.is_handshaking() {
            return;
        }
        let server_name = server_name.take();
        let version = match self.conn.protocol_version() {
            Some(ProtocolVersion::TLSv1_2) => TlsVersion::Tls12,
            _ => TlsVersion::Tls13,
        };
        let cipher_suite =
            self.conn.negotiated_cipher_suite().and_then(|suite| suite.suite().as_str()).unwrap_or("unknown");
        let peer_certificates =
            self.conn.peer_certificates().unwrap_or_default().iter().map(|cert| Box::from(cert.as_ref())).collect();
        self.phase = Phase::Established(Arc::new(TlsInfo {
            version,
            cipher_suite,
            alpn: self.conn.alpn_protocol().map(Box::from),
            server_name,
            peer_certificates,
            resumed: self.conn.handshake_kind() == Some(HandshakeKind::Resumed),
        }));
    }

    /// Keeps `rest` as the held input, in a buffer no larger than it needs (none when empty).
    fn hold(&mut self, rest: &[u8]) {
        if rest.is_empty() {
            self.held = Vec::new();
        } else if self.held.capacity() >= rest.len() && self.held.capacity() <= 4 * rest.len() + 1024 {
            self.held.clear();
            self.held.extend_from_slice(rest);
        } else {
            self.held = rest.to_vec();
        }
    }

    /// Puts back the held input `drive` ran over, less the `used` bytes it is done with.
    fn rehold(&mut self, mut held: Vec<u8>, used: usize) {
        if matches!(self.phase, Phase::Failed(_)) || self.peer_closed || used >= held.len() {
            self.held = Vec::new();
        } else {
            held.drain(..used);
            self.held = held;
        }
    }
}

/// Moves `pending` to the end of `out`, releasing it.
fn take_into(pending: &mut Vec<u8>, out: &mut Vec<u8>) {
    if !pending.is_empty() {
        out.extend_from_slice(pending);
        *pending = Vec::new();
    }
}

/// The size rustls asks for, from an encryption error.
fn encrypt_need(e: EncryptError) -> Option<usize> {
    match e {
        EncryptError::InsufficientSize(size) => Some(size.required_size),
        _ => None,
    }
}

/// Appends what `write` writes to `out`, starting with `size` bytes of room and growing to
/// the size `write` asks for (its `Err(Some(n))`) until it fits.
fn append_with(
    out: &mut Vec<u8>,
    mut size: usize,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, Option<usize>>,
) -> Result<(), TlsFailure> {
    let len = out.len();
    loop {
        out.resize(len + size, 0);
        match write(out.get_mut(len..).unwrap_or_default()) {
            Ok(written) => {
                out.truncate(len + written.min(size));
                return Ok(());
            }
            Err(Some(needed)) if needed > size => size = needed,
            Err(_) => {
                out.truncate(len);
                return Err(TlsFailure::Protocol);
            }
        }
    }
}

/// The failure a rustls error counts as.
fn failure_of(e: &Error) -> TlsFailure {
    match e {
        Error::InvalidMessage(InvalidMessage::HandshakePayloadTooLarge) => TlsFailure::TooLarge,
        _ => TlsFailure::Protocol,
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
