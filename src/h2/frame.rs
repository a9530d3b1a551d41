//! HTTP/2 frames (RFC 9113 §4, §6): the 9-byte header, each type's payload rules (sizes, flags,
//! stream ids) mapped to the connection or stream error the RFC names, and the writers of the
//! frames a server sends. No state: [`super::conn`] keeps it.

/// The client connection preface (RFC 9113 §3.4), which opens an HTTP/2 connection.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Size of a frame header.
pub const HEADER_LEN: usize = 9;

/// The smallest `SETTINGS_MAX_FRAME_SIZE`, and the one hsys advertises: a frame's payload is at
/// most this long unless the peer allows more.
pub const DEFAULT_MAX_FRAME: usize = 16_384;

/// The largest flow-control window (RFC 9113 §6.9.1).
pub const MAX_WINDOW: i64 = (1 << 31) - 1;

/// The initial flow-control window of a connection and of every stream until SETTINGS change it.
pub const DEFAULT_WINDOW: i64 = 65_535;

/// Frame types (RFC 9113 §6).
pub mod kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const PRIORITY: u8 = 0x2;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PUSH_PROMISE: u8 = 0x5;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const WINDOW_UPDATE: u8 = 0x8;
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flags.
pub mod flag {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const PADDED: u8 = 0x8;
    pub const PRIORITY: u8 = 0x20;
}

/// SETTINGS parameters (RFC 9113 §6.5.2).
pub mod setting {
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    pub const ENABLE_PUSH: u16 = 0x2;
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
}

/// Error codes (RFC 9113 §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
#[allow(dead_code)] // every code the RFC defines, though hsys sends only some
pub enum Reason {
    NoError = 0x0,
    Protocol = 0x1,
    Internal = 0x2,
    FlowControl = 0x3,
    SettingsTimeout = 0x4,
    StreamClosed = 0x5,
    FrameSize = 0x6,
    RefusedStream = 0x7,
    Cancel = 0x8,
    Compression = 0x9,
    Connect = 0xa,
    EnhanceYourCalm = 0xb,
    InadequateSecurity = 0xc,
    Http11Required = 0xd,
}

/// What a frame that breaks the rules is: an error of the whole connection (GOAWAY, then close)
/// or of one stream (RST_STREAM; the connection goes on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// GOAWAY with this code; the connection ends.
    Connection(Reason),
    /// RST_STREAM on this stream with this code.
    Stream(u32, Reason),
}

/// A frame's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub len: usize,
    pub kind: u8,
    pub flags: u8,
    /// The stream id, its reserved bit cleared (RFC 9113 §4.1: ignored on receipt).
    pub stream: u32,
}

impl Head {
    /// The header at the start of `bytes`, if all 9 bytes are there.
    #[inline]
    pub fn parse(bytes: &[u8]) -> Option<Head> {
        let b: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
        Some(Head {
            len: usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        })
    }

    /// Whether a flag is set.
    #[inline]
    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

/// A 31-bit value at the start of a 4-byte field (the reserved bit cleared).
#[inline]
pub fn u31(b: &[u8]) -> u32 {
    match b.get(..4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]) & 0x7fff_ffff,
        _ => 0,
    }
}

/// A payload's padding removed (the PADDED flag: a pad-length byte first, that many bytes of
/// padding last). A pad length as long as the rest or longer is a connection `PROTOCOL_ERROR`
/// (RFC 9113 §6.1, §6.2).
pub fn unpad(head: &Head, payload: &[u8]) -> Result<(usize, usize), Error> {
    if !head.has(flag::PADDED) {
        return Ok((0, payload.len()));
    }
    let Some((&pad, rest)) = payload.split_first() else { return Err(Error::Connection(Reason::FrameSize)) };
    let pad = usize::from(pad);
    if pad >= payload.len() {
        return Err(Error::Connection(Reason::Protocol));
    }
    Ok((1, 1 + rest.len() - pad))
}

/// A HEADERS frame's priority fields, when it has them: `(depends on, field block start)`.
pub fn headers_priority(head: &Head, payload: &[u8], start: usize) -> Result<(Option<u32>, usize), Error> {
    if !head.has(flag::PRIORITY) {
        return Ok((None, start));
    }
    let dep = payload.get(start..start + 5).ok_or(Error::Connection(Reason::FrameSize))?;
    Ok((Some(u31(dep)), start + 5))
}

/// Appends a frame header.
#[inline]
pub fn write_head(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    let l = len.to_be_bytes();
    let s = stream.to_be_bytes();
    let n = l.len();
    out.extend_from_slice(&[l[n - 3], l[n - 2], l[n - 1], kind, flags, s[0], s[1], s[2], s[3]]);
}

/// Rewrites the 24-bit length of the frame header at `at` in `out`.
#[inline]
pub fn patch_len(out: &mut [u8], at: usize, len: usize) {
    let l = len.to_be_bytes();
    let n = l.len();
    if let Some(h) = out.get_mut(at..at + 3) {
        h.copy_from_slice(&l[n - 3..]);
    }
}

/// Appends a SETTINGS frame with `params`.
pub fn write_settings(out: &mut Vec<u8>, params: &[(u16, u32)]) {
    write_head(out, params.len() * 6, kind::SETTINGS, 0, 0);
    for (id, v) in params {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// Appends an acknowledgement of the peer's SETTINGS.
pub fn write_settings_ack(out: &mut Vec<u8>) {
    write_head(out, 0, kind::SETTINGS, flag::ACK, 0);
}

/// Appends a WINDOW_UPDATE of `increment` (1..=2^31-1) for `stream` (0: the connection).
pub fn write_window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    write_head(out, 4, kind::WINDOW_UPDATE, 0, stream);
    out.extend_from_slice(&increment.to_be_bytes());
}

/// Appends a PING acknowledgement echoing `data`.
pub fn write_ping_ack(out: &mut Vec<u8>, data: &[u8; 8]) {
    write_head(out, 8, kind::PING, flag::ACK, 0);
    out.extend_from_slice(data);
}

/// Appends RST_STREAM for `stream`.
pub fn write_rst(out: &mut Vec<u8>, stream: u32, reason: Reason) {
    write_head(out, 4, kind::RST_STREAM, 0, stream);
    out.extend_from_slice(&(reason as u32).to_be_bytes());
}

/// Appends GOAWAY: streams above `last` were not processed.
pub fn write_goaway(out: &mut Vec<u8>, last: u32, reason: Reason) {
    write_head(out, 8, kind::GOAWAY, 0, 0);
    out.extend_from_slice(&last.to_be_bytes());
    out.extend_from_slice(&(reason as u32).to_be_bytes());
}

/// Appends a DATA frame header and `data`.
#[inline]
pub fn write_data(out: &mut Vec<u8>, stream: u32, data: &[u8], end: bool) {
    write_head(out, data.len(), kind::DATA, if end { flag::END_STREAM } else { 0 }, stream);
    out.extend_from_slice(data);
}

/// The size and stream-id rules of each fixed-size or connection-level frame type, checked
/// before its payload is looked at (RFC 9113 §6). `max_frame`: the largest payload hsys
/// accepts (its `SETTINGS_MAX_FRAME_SIZE`).
pub fn check(head: &Head, max_frame: usize) -> Result<(), Error> {
    use Reason::{FrameSize, Protocol};
    let conn = |r| Err(Error::Connection(r));
    if head.len > max_frame {
        // (A frame that may alter connection state — a header block — must be a connection
        // error; treating every oversized frame so is allowed and simpler.)
        return conn(FrameSize);
    }
    match head.kind {
        kind::DATA | kind::HEADERS | kind::CONTINUATION if head.stream == 0 => conn(Protocol),
        kind::PRIORITY if head.stream == 0 => conn(Protocol),
        kind::PRIORITY if head.len != 5 => Err(Error::Stream(head.stream, FrameSize)),
        kind::RST_STREAM if head.stream == 0 => conn(Protocol),
        kind::RST_STREAM if head.len != 4 => conn(FrameSize),
        kind::SETTINGS if head.stream != 0 => conn(Protocol),
        kind::SETTINGS if head.has(flag::ACK) && head.len != 0 => conn(FrameSize),
        kind::SETTINGS if !head.len.is_multiple_of(6) => conn(FrameSize),
        kind::PUSH_PROMISE => conn(Protocol),
        kind::PING if head.stream != 0 => conn(Protocol),
        kind::PING if head.len != 8 => conn(FrameSize),
        kind::GOAWAY if head.stream != 0 => conn(Protocol),
        kind::GOAWAY if head.len < 8 => conn(FrameSize),
        kind::WINDOW_UPDATE if head.len != 4 => conn(FrameSize),
        _ => Ok(()),
    }
}

/// One SETTINGS parameter checked (RFC 9113 §6.5.2): an out-of-range value is the error the
/// RFC names.
pub fn check_setting(id: u16, value: u32) -> Result<(), Error> {
    match id {
        setting::ENABLE_PUSH if value > 1 => Err(Error::Connection(Reason::Protocol)),
        setting::INITIAL_WINDOW_SIZE if i64::from(value) > MAX_WINDOW => Err(Error::Connection(Reason::FlowControl)),
        setting::MAX_FRAME_SIZE if !(16_384..=16_777_215).contains(&value) => Err(Error::Connection(Reason::Protocol)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(len: usize, kind: u8, flags: u8, stream: u32) -> Head {
        Head { len, kind, flags, stream }
    }

    #[test]
    fn a_header_round_trips_and_the_reserved_bit_is_ignored() {
        let mut out = Vec::new();
        write_head(&mut out, 0x01_0203, kind::HEADERS, flag::END_HEADERS, 7);
        assert_eq!(out, [1, 2, 3, 1, 4, 0, 0, 0, 7]);
        out[5] |= 0x80;
        assert_eq!(Head::parse(&out), Some(head(0x01_0203, kind::HEADERS, flag::END_HEADERS, 7)));
        assert_eq!(Head::parse(&out[..8]), None);
    }

    #[test]
    fn each_rule_gives_the_rfcs_error() {
        use Error::{Connection as C, Stream as S};
        use Reason::*;
        let cases: &[(Head, Result<(), Error>)] = &[
            (head(16_385, kind::DATA, 0, 1), Err(C(FrameSize))),
            (head(0, kind::DATA, 0, 0), Err(C(Protocol))),
            (head(0, kind::HEADERS, 0, 0), Err(C(Protocol))),
            (head(0, kind::CONTINUATION, 0, 0), Err(C(Protocol))),
            (head(5, kind::PRIORITY, 0, 0), Err(C(Protocol))),
            (head(4, kind::PRIORITY, 0, 3), Err(S(3, FrameSize))),
            (head(4, kind::RST_STREAM, 0, 0), Err(C(Protocol))),
            (head(3, kind::RST_STREAM, 0, 1), Err(C(FrameSize))),
            (head(0, kind::SETTINGS, 0, 1), Err(C(Protocol))),
            (head(6, kind::SETTINGS, flag::ACK, 0), Err(C(FrameSize))),
            (head(7, kind::SETTINGS, 0, 0), Err(C(FrameSize))),
            (head(0, kind::PUSH_PROMISE, 0, 1), Err(C(Protocol))),
            (head(8, kind::PING, 0, 1), Err(C(Protocol))),
            (head(6, kind::PING, 0, 0), Err(C(FrameSize))),
            (head(8, kind::GOAWAY, 0, 1), Err(C(Protocol))),
            (head(3, kind::WINDOW_UPDATE, 0, 0), Err(C(FrameSize))),
            (head(8, kind::PING, 0, 0), Ok(())),
            (head(12, kind::SETTINGS, 0, 0), Ok(())),
            (head(100, 0xfa, 0, 0), Ok(())),
        ];
        for (h, want) in cases {
            assert_eq!(check(h, DEFAULT_MAX_FRAME), *want, "{h:?}");
        }
        assert_eq!(check_setting(setting::ENABLE_PUSH, 2), Err(C(Protocol)));
        assert_eq!(check_setting(setting::INITIAL_WINDOW_SIZE, 1 << 31), Err(C(FlowControl)));
        assert_eq!(check_setting(setting::MAX_FRAME_SIZE, 16_383), Err(C(Protocol)));
        assert_eq!(check_setting(setting::MAX_FRAME_SIZE, 1 << 24), Err(C(Protocol)));
        assert_eq!(check_setting(0xff, 7), Ok(()));
    }

    #[test]
    fn padding_is_removed_and_a_long_pad_is_refused() {
        let padded = head(0, kind::DATA, flag::PADDED, 1);
        assert_eq!(unpad(&padded, &[2, b'a', b'b', 0, 0]), Ok((1, 3)));
        assert_eq!(unpad(&padded, &[4, b'a', 0, 0, 0]), Ok((1, 1)));
        assert_eq!(unpad(&padded, &[5, b'a', 0, 0, 0]), Err(Error::Connection(Reason::Protocol)));
        assert_eq!(unpad(&padded, &[]), Err(Error::Connection(Reason::FrameSize)));
        assert_eq!(unpad(&head(0, kind::DATA, 0, 1), b"abc"), Ok((0, 3)));
    }
}
