//! The ClientHello peek: from a new connection's first bytes, tell TLS from not-TLS and find the
//! server name (SNI) that chooses the certificate binding, before rustls sees anything.
//!
//! Sans-I/O and read-only: [`peek`] looks at the bytes received so far and never consumes them
//! (rustls is handed all of them afterwards). It is called again after each read, from scratch,
//! until it answers something other than [`Peek::NeedMore`]; the caller bounds that wait by time.
//! Until the message is complete a call reads only record headers and the message header (a
//! few bytes for the usual single-record hello), so a hello trickling in costs little; the
//! ClientHello body is parsed once, by the call that finds it complete.
//!
//! Every verdict is final: once `peek` answers anything but `NeedMore` for some bytes, it gives the
//! same answer for those bytes followed by any others (the checks read the input in order and
//! each depends only on the bytes before it). So a trickling peer cannot change a verdict, and
//! plaintext HTTP is refused from its first byte.
//!
//! What is checked, in the order of the bytes (RFC 8446 §5.1, §4.1.2; RFC 6066 §3):
//! - each record header: content type 22 (handshake), version 0x0300–0x0304 (clients send
//!   0x0301), length 1..=2^14. In the first record a wrong type or version means
//!   [`Peek::NotTls`]; anything wrong later is [`Peek::Malformed`]. A length over 2^14 is
//!   `Malformed`, not `TooLarge`: a ClientHello travels in plaintext records, which may not
//!   exceed 2^14 (the receiver owes a `record_overflow` alert), so such a header is broken
//!   framing rather than a big hello;
//! - the handshake message: type 1 (client_hello) and a length whose records fit in
//!   [`MAX_HELLO`] (else [`Peek::TooLarge`], decided as soon as the length is known);
//! - the message may be fragmented over several consecutive handshake records;
//! - the ClientHello body, just enough to reach extension 0 (server_name), with every length
//!   checked against its enclosing one; the host_name, if it is a DNS name, is the answer.
//!
//! Nothing here panics or indexes unchecked: the bytes are a peer's.

use std::borrow::Cow;

use rustls::pki_types::DnsName;

/// The bound on the bytes, record headers included, from a connection's first byte to the end of
/// its ClientHello: one full plaintext record (5-byte header and 2^14 bytes).
///
/// Real ClientHellos are far smaller: about 250–600 bytes from rustls, curl and browsers without
/// a post-quantum key share, about 1,800 with X25519MLKEM768, a few KiB with ECH and
/// large pre-shared-key identities. One record covers all of them, and it is the bound on what a
/// connection may make the server buffer before the handshake starts. (rustls itself would take
/// handshake messages up to 64 KiB; nothing legitimate sends a ClientHello near that.)
pub const MAX_HELLO: usize = 16 * 1024 + 5;

/// A TLS record header's length: type (1), version (2), length (2).
const RECORD_HEADER: usize = 5;

/// The largest plaintext record fragment (RFC 8446 §5.1: 2^14).
const MAX_FRAGMENT: usize = 16 * 1024;

/// A handshake message header's length: type (1), length (3).
const MESSAGE_HEADER: usize = 4;

/// The record content type `handshake`.
const HANDSHAKE: u8 = 22;

/// The handshake message type `client_hello`.
const CLIENT_HELLO: u8 = 1;

/// The extension type `server_name` (RFC 6066).
const SERVER_NAME: u16 = 0;

/// The `NameType` `host_name` in a server_name extension.
const HOST_NAME: u8 = 0;

/// The longest legacy session id (RFC 8446 §4.1.2).
const MAX_SESSION_ID: usize = 32;

/// What a connection's first bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peek<'a> {
    /// Not enough bytes yet to decide; read more (the caller bounds the wait by time).
    NeedMore,
    /// The first bytes are not a TLS handshake record: plaintext HTTP (`GET / HTTP/1.1`), an
    /// SSLv2-style hello, noise. Decided from the first byte that differs (for an HTTP method,
    /// the first byte).
    NotTls,
    /// The ClientHello is larger than [`MAX_HELLO`], records included.
    TooLarge,
    /// A complete ClientHello.
    Hello {
        /// The host_name from its server_name extension, if there is one and it is a DNS name
        /// of letters, digits, hyphens and dots, without a trailing dot (an IP address, a
        /// trailing dot or any other character count as no name: rustls judges the rest). As
        /// sent, not lowercased: compare it case-insensitively. Borrowed from the input, except
        /// when the hello was fragmented over several records (rare), which copies it.
        server_name: Option<Cow<'a, str>>,
    },
    /// Broken structure in the handshake records: lengths that disagree, an empty or oversized
    /// record, a non-handshake record amid the hello, a handshake message other than
    /// client_hello.
    Malformed,
}

/// Looks at the bytes a new connection has sent so far: [`Peek::NeedMore`] until they are a
/// whole ClientHello or can never become one. See the module doc for the checks.
///
/// Allocates nothing, except once for a complete ClientHello that arrived fragmented over
/// several records (reassembled into one buffer of at most [`MAX_HELLO`] bytes to be parsed).
/// Bytes after the ClientHello (the rest of its record, further records) are not looked at.
pub fn peek(buf: &[u8]) -> Peek<'_> {
    match locate(buf) {
        Err(verdict) => verdict,
        Ok(Located::Contiguous(body)) => match client_hello(body) {
            Ok(name) => Peek::Hello { server_name: name.map(Cow::Borrowed) },
            Err(Broken) => Peek::Malformed,
        },
        Ok(Located::Fragmented { total }) => {
            let Some(message) = reassemble(buf, total) else {
                return Peek::Malformed;
            };
            let body = message.get(MESSAGE_HEADER..).unwrap_or_default();
            match client_hello(body) {
                Ok(name) => Peek::Hello { server_name: name.map(|n| Cow::Owned(n.to_owned())) },
                Err(Broken) => Peek::Malformed,
            }
        }
    }
}

/// Where a complete ClientHello message lies in the input.
enum Located<'a> {
    /// Wholly inside the first record: its body (after the 4-byte message header).
    Contiguous(&'a [u8]),
    /// Spread over several records; `total` bytes long, message header included.
    Fragmented {
        /// The message's length, its header included.
        total: usize,
    },
}

/// Walks the record headers until the ClientHello message is complete, checking the framing and
/// the message header on the way. `Err` carries the verdict when there is no complete message:
/// `NeedMore`, `NotTls`, `TooLarge` or `Malformed`.
fn locate(buf: &[u8]) -> Result<Located<'_>, Peek<'static>> {
    // The start of the next record header.
    let mut pos = 0;
    // The message bytes in the records before the current one.
    let mut done = 0;
    // The message header, gathered byte by byte (it may straddle records), and the message's
    // whole length once it is known.
    let mut header = [0u8; MESSAGE_HEADER];
    let mut total: Option<usize> = None;
    loop {
        let len = record_header(buf.get(pos..).unwrap_or_default(), pos == 0)?;
        let start = pos + RECORD_HEADER;
        // The message header's bytes in this record.
        for k in 0..len.min(MESSAGE_HEADER.saturating_sub(done)) {
            let &byte = buf.get(start + k).ok_or(Peek::NeedMore)?;
            if let Some(slot) = header.get_mut(done + k) {
                *slot = byte;
            }
            if done + k == 0 && byte != CLIENT_HELLO {
                return Err(Peek::Malformed);
            }
        }
        if total.is_none() && done + len >= MESSAGE_HEADER {
            let [_, a, b, c] = header.map(usize::from);
            total = Some(MESSAGE_HEADER + (a << 16 | b << 8 | c));
        }
        if let Some(total) = total {
            // The message bytes from this record's start on; the message ends at
            // `start + rest` if it ends in this record, later if not.
            let rest = total.saturating_sub(done);
            if start + rest > MAX_HELLO {
                return Err(Peek::TooLarge);
            }
            if rest <= len {
                if buf.len() < start + rest {
                    return Err(Peek::NeedMore);
                }
                if pos != 0 {
                    return Ok(Located::Fragmented { total });
                }
                // The first record: `done` is 0, so `rest` is `total`, at least the header.
                let body = buf.get(start + MESSAGE_HEADER..start + rest).ok_or(Peek::Malformed)?;
                return Ok(Located::Contiguous(body));
            }
        }
        if buf.len() < start + len {
            return Err(Peek::NeedMore);
        }
        done += len;
        pos = start + len;
    }
}

/// Checks the record header at the start of `bytes` (as much of it as has arrived) and returns
/// the record's length. A wrong type or version is `NotTls` in the `first` record, `Malformed`
/// in a later one.
fn record_header(bytes: &[u8], first: bool) -> Result<usize, Peek<'static>> {
    let wrong = if first { Peek::NotTls } else { Peek::Malformed };
    let byte = |i: usize| bytes.get(i).copied().ok_or(Peek::NeedMore);
    if byte(0)? != HANDSHAKE || byte(1)? != 3 || byte(2)? > 4 {
        return Err(wrong);
    }
    let len = usize::from(u16::from_be_bytes([byte(3)?, byte(4)?]));
    if len == 0 || len > MAX_FRAGMENT {
        return Err(Peek::Malformed);
    }
    Ok(len)
}

/// Copies the `total`-byte handshake message out of the records that carry it (which `locate`
/// found complete and well framed). `None` if they are not there after all.
fn reassemble(buf: &[u8], total: usize) -> Option<Vec<u8>> {
    let mut message = Vec::with_capacity(total);
    let mut pos = 0;
    while message.len() < total {
        let header = buf.get(pos..pos + RECORD_HEADER)?;
        let len = usize::from(u16::from_be_bytes([*header.get(3)?, *header.get(4)?]));
        let take = len.min(total - message.len());
        message.extend_from_slice(buf.get(pos + RECORD_HEADER..pos + RECORD_HEADER + take)?);
        pos += RECORD_HEADER + len;
    }
    Some(message)
}

/// A ClientHello's structure is broken somewhere.
struct Broken;

/// Parses a ClientHello body (RFC 8446 §4.1.2, the same shape as TLS 1.0–1.2's) just enough to
/// find its server name: `Ok(None)` without one (or without a usable one).
fn client_hello(body: &[u8]) -> Result<Option<&str>, Broken> {
    let mut r = Cursor(body);
    r.take(2 + 32)?; // legacy_version, random
    let session_id = usize::from(r.u8()?);
    if session_id > MAX_SESSION_ID {
        return Err(Broken);
    }
    r.take(session_id)?;
    let suites = usize::from(r.u16()?);
    if suites < 2 || suites % 2 != 0 {
        return Err(Broken);
    }
    r.take(suites)?;
    let compressions = usize::from(r.u8()?);
    if compressions == 0 {
        return Err(Broken);
    }
    r.take(compressions)?;
    if r.0.is_empty() {
        // No extensions at all (legal before TLS 1.3).
        return Ok(None);
    }
    let extensions = r.u16()?;
    let mut e = Cursor(r.take(usize::from(extensions))?);
    if !r.0.is_empty() {
        return Err(Broken);
    }
    let mut name = None;
    let mut seen = false;
    while !e.0.is_empty() {
        let kind = e.u16()?;
        let len = e.u16()?;
        let data = e.take(usize::from(len))?;
        // A second server_name extension is rustls's to refuse; the first one speaks.
        if kind == SERVER_NAME && !seen {
            seen = true;
            name = server_name(data)?;
        }
    }
    Ok(name)
}

/// Parses a server_name extension's data (RFC 6066 §3): its first host_name, if it is usable.
fn server_name(data: &[u8]) -> Result<Option<&str>, Broken> {
    let mut r = Cursor(data);
    let len = r.u16()?;
    let mut list = Cursor(r.take(usize::from(len))?);
    if len == 0 || !r.0.is_empty() {
        return Err(Broken);
    }
    // Only host_name (0) is defined, and another type's encoding is unknown, so the list can be
    // read no further past one (as rustls does): the host_name comes first or is not found.
    if list.u8()? != HOST_NAME {
        return Ok(None);
    }
    let len = list.u16()?;
    if len == 0 {
        return Err(Broken);
    }
    Ok(dns_name(list.take(usize::from(len))?))
}

/// The host_name as a `str` if it is a DNS name rustls accepts (no IP address, no all-numeric
/// last label, labels of 1–63 bytes, at most 253 bytes; `_` and a trailing dot allowed).
fn dns_name(name: &[u8]) -> Option<&str> {
    // As rustls judges it (so the binding chosen and the name rustls reports agree): a trailing
    // dot or an underscore is a name; the bindings ignore a trailing dot.
    let name = std::str::from_utf8(name).ok()?;
    DnsName::try_from(name).is_ok().then_some(name)
}

/// A read position in a ClientHello: each read takes bytes off the front or fails as `Broken`.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    /// The next `n` bytes.
    fn take(&mut self, n: usize) -> Result<&'a [u8], Broken> {
        let (head, rest) = self.0.split_at_checked(n).ok_or(Broken)?;
        self.0 = rest;
        Ok(head)
    }

    /// The next byte.
    fn u8(&mut self) -> Result<u8, Broken> {
        let (&b, rest) = self.0.split_first().ok_or(Broken)?;
        self.0 = rest;
        Ok(b)
    }

    /// The next two bytes, big-endian.
    fn u16(&mut self) -> Result<u16, Broken> {
        Ok(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
}

#[cfg(test)]
#[path = "hello_tests.rs"]
mod tests;
