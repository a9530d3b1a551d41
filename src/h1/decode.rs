//! Request body decoders: `Content-Length` and chunked (RFC 9112 §6.2, §7.1), zero-copy, incremental and strict.
//!
//! A decoder is fed whatever bytes follow the head, in pieces of any size, and answers with a [`Decoded`]:
//! body bytes as a range of the input (never copied), a request for more input, or where the body ends.
//! Feeding the same bytes split at any points gives the same body bytes and the same end (or error).

use std::fmt;
use std::ops::Range;

use super::framing::{BodyKind, is_tchar};
use crate::limits::{Limits, Strictness};

/// Default bound on the bytes after the chunk size on one chunk line (extensions and the whitespace around them),
/// so a client cannot stream an endless line that carries no body.
pub const MAX_CHUNK_EXT_BYTES: usize = 16 * 1024;

/// Default bound on the whole trailer section (every field line with its CRLF, and the final CRLF):
/// trailers are parsed and dropped, so they must not be an unbounded side channel.
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// Bound on the hex digits of one chunk size, leading zeros included: 16 significant digits fill a `u64`,
/// and a longer run of zeros only wastes reads.
pub const MAX_CHUNK_SIZE_DIGITS: usize = 32;

/// What a decoder made of one piece of input. Every `decode` returns it with the count of input bytes it consumed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Body bytes are `input[range]`; consumed is `range.end`. Call again with the rest of the input
    /// (even if empty: the end of a body is reported without waiting for more bytes whenever it is known).
    Data(Range<usize>),
    /// All of the input was consumed (it held framing only, or nothing): read more and call again.
    NeedMore,
    /// The body ended after the consumed bytes; the bytes after them belong to the next request.
    Done,
}

/// Why a chunked body was refused. Every variant is a 400, after which the connection closes:
/// its framing can no longer be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// A chunk size that is not 1*HEXDIG followed by optional whitespace and `;`, or CRLF (`0x`, sign, spaces, empty).
    InvalidSize,
    /// A chunk size larger than `u64::MAX`.
    SizeOverflow,
    /// A chunk size with more than [`MAX_CHUNK_SIZE_DIGITS`] digits.
    SizeTooLong,
    /// A chunk extension that is not `;name[=token|quoted-string]` with optional whitespace around `;` and `=`.
    InvalidExtension,
    /// Chunk extensions longer than the decoder's limit on one chunk line.
    ExtensionTooLong,
    /// A CR without a LF after it, or (strict) a LF without a CR before it.
    InvalidLineEnding,
    /// Chunk data not followed by CRLF: the chunk size was wrong.
    MissingDataCrlf,
    /// A trailer field that is not `token ":" value` with a value of visible characters, spaces and tabs.
    InvalidTrailer,
    /// A trailer section longer than the decoder's limit.
    TrailerTooLong,
}

impl ChunkError {
    /// The response status for this error: always 400 (Bad Request).
    #[cfg(test)]
    pub fn status(self) -> u16 {
        400
    }
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidSize => "invalid chunk size",
            Self::SizeOverflow => "chunk size overflows",
            Self::SizeTooLong => "chunk size has too many digits",
            Self::InvalidExtension => "invalid chunk extension",
            Self::ExtensionTooLong => "chunk extensions too long",
            Self::InvalidLineEnding => "bare CR or LF in chunked body",
            Self::MissingDataCrlf => "chunk data not followed by CRLF",
            Self::InvalidTrailer => "invalid trailer field",
            Self::TrailerTooLong => "trailer section too long",
        })
    }
}

impl std::error::Error for ChunkError {}

/// Decodes a body of known length (`Content-Length`): the next `remaining` bytes, as they come.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LengthDecoder {
    /// Body bytes not yet handed out; 0 means the body is complete.
    remaining: u64,
}

impl LengthDecoder {
    /// A decoder for a body of `length` bytes.
    pub fn new(length: u64) -> Self {
        Self { remaining: length }
    }

    /// Hands out the body bytes at the start of `input`, returning how many it consumed:
    /// [`Decoded::Data`] while bytes remain, then `(0, Decoded::Done)` on the next call. Cannot fail.
    pub fn decode(&mut self, input: &[u8]) -> (usize, Decoded) {
        if self.remaining == 0 {
            return (0, Decoded::Done);
        }
        if input.is_empty() {
            return (0, Decoded::NeedMore);
        }
        let take = usize::try_from(self.remaining).map_or(input.len(), |r| r.min(input.len()));
        self.remaining = self.remaining.saturating_sub(take as u64);
        (take, Decoded::Data(0..take))
    }

    /// Body bytes still to come, so the connection can tell how much to read or drain.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Whether the whole body was handed out.
    pub fn is_done(&self) -> bool {
        self.remaining == 0
    }
}

/// Where a chunked decoder is in the body; each state reads one byte, except [`ChunkedState::Data`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkedState {
    /// Before the first hex digit of a chunk size.
    SizeStart,
    /// In the chunk size: more digits, BWS, `;` or CR.
    Size,
    /// Whitespace after the chunk size: only more whitespace or `;` may follow.
    SizeBws,
    /// After `;`: whitespace or the first byte of an extension name.
    ExtNameStart,
    /// In an extension name: more name, whitespace, `=`, `;` or CR.
    ExtName,
    /// Whitespace after an extension name: `=` or `;` must follow.
    ExtNameBws,
    /// After `=`: whitespace, a token or a quoted string.
    ExtValueStart,
    /// In a token extension value: more token, whitespace, `;` or CR.
    ExtToken,
    /// In a quoted extension value.
    ExtQuoted,
    /// After a backslash in a quoted value: one escaped byte.
    ExtQuotedPair,
    /// After the closing quote: whitespace, `;` or CR.
    ExtQuotedEnd,
    /// Whitespace after an extension value: only more whitespace or `;` may follow.
    ExtBws,
    /// After the CR of a chunk line: LF.
    SizeLf,
    /// In chunk data; `ChunkedDecoder::size` bytes are left. Handed out in bulk, not stepped.
    Data,
    /// After chunk data: CR.
    DataCr,
    /// After chunk data and CR: LF.
    DataLf,
    /// At the start of a trailer line: a field name or the CR of the final CRLF.
    TrailerStart,
    /// In a trailer field name: more name or `:`.
    TrailerName,
    /// In a trailer field value: value bytes or CR.
    TrailerValue,
    /// After the CR of a trailer line: LF.
    TrailerLf,
    /// After the CR of the final CRLF: LF.
    EndLf,
    /// The body is complete.
    Done,
    /// The body was refused; every later call reports the same error.
    Failed(ChunkError),
}

impl ChunkedState {
    /// Whether bytes read into this state count against the extension limit of the chunk line.
    fn in_extension(self) -> bool {
        matches!(
            self,
            Self::SizeBws
                | Self::ExtNameStart
                | Self::ExtName
                | Self::ExtNameBws
                | Self::ExtValueStart
                | Self::ExtToken
                | Self::ExtQuoted
                | Self::ExtQuotedPair
                | Self::ExtQuotedEnd
                | Self::ExtBws
        )
    }

    /// Whether bytes read in this state count against the trailer limit.
    fn in_trailers(self) -> bool {
        matches!(self, Self::TrailerStart | Self::TrailerName | Self::TrailerValue | Self::TrailerLf | Self::EndLf)
    }
}

/// Decodes a chunked body (RFC 9112 §7.1) strictly: hex sizes without prefix or sign, CRLF everywhere
/// (or, with [`Strictness::Lenient`], CRLF or a bare LF), extensions and trailers checked against the
/// grammar and bounded, then dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkedDecoder {
    /// Where the decoder is in the body.
    state: ChunkedState,
    /// The chunk size while its line is read, then the chunk-data bytes still to come.
    size: u64,
    /// Hex digits read for the current chunk size, bounded by [`MAX_CHUNK_SIZE_DIGITS`].
    digits: usize,
    /// Bytes after the size on the current chunk line, bounded by `max_ext`.
    ext_bytes: usize,
    /// Bytes of the trailer section so far, bounded by `max_trailer`.
    trailer_bytes: usize,
    /// Trailer fields read (and dropped), for statistics.
    trailers: usize,
    /// Limit on the bytes after the size on one chunk line.
    max_ext: usize,
    /// Limit on the whole trailer section.
    max_trailer: usize,
    /// Whether a bare LF ends a chunk line, chunk data or a trailer line (a bare CR never does).
    strictness: Strictness,
}

impl Default for ChunkedDecoder {
    /// A decoder with the default limits [`MAX_CHUNK_EXT_BYTES`] and [`MAX_TRAILER_BYTES`].
    fn default() -> Self {
        Self::new(MAX_CHUNK_EXT_BYTES, MAX_TRAILER_BYTES)
    }
}

impl ChunkedDecoder {
    /// A strict decoder allowing `max_ext` bytes of extensions per chunk line and `max_trailer` bytes of
    /// trailer section.
    pub fn new(max_ext: usize, max_trailer: usize) -> Self {
        Self {
            state: ChunkedState::SizeStart,
            size: 0,
            digits: 0,
            ext_bytes: 0,
            trailer_bytes: 0,
            trailers: 0,
            max_ext,
            max_trailer,
            strictness: Strictness::Strict,
        }
    }

    /// The same decoder with `strictness` for its line ends: [`Strictness::Lenient`] also takes a
    /// bare LF as the end of a chunk line, of chunk data, of a trailer line and of the trailer section.
    #[must_use]
    pub fn with_strictness(mut self, strictness: Strictness) -> Self {
        self.strictness = strictness;
        self
    }

    /// Reads `input` as far as it goes and returns how many bytes it consumed, with the next run of chunk data
    /// as a range of `input`, [`Decoded::NeedMore`] once all of it is consumed, or [`Decoded::Done`] right after
    /// the final CRLF. After an error, every call returns the same error.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Decoded), ChunkError> {
        let mut pos = 0;
        loop {
            match self.state {
                ChunkedState::Done => return Ok((pos, Decoded::Done)),
                ChunkedState::Failed(error) => return Err(error),
                ChunkedState::Data => {
                    let rest = input.get(pos..).unwrap_or_default();
                    if rest.is_empty() {
                        return Ok((pos, Decoded::NeedMore));
                    }
                    let take = usize::try_from(self.size).map_or(rest.len(), |s| s.min(rest.len()));
                    self.size = self.size.saturating_sub(take as u64);
                    if self.size == 0 {
                        self.state = ChunkedState::DataCr;
                    }
                    return Ok((pos + take, Decoded::Data(pos..pos + take)));
                }
                state => {
                    let Some(&byte) = input.get(pos) else {
                        return Ok((pos, Decoded::NeedMore));
                    };
                    pos += 1;
                    match self.step(state, byte) {
                        Ok(next) => self.state = next,
                        Err(error) => {
                            self.state = ChunkedState::Failed(error);
                            return Err(error);
                        }
                    }
                }
            }
        }
    }

    /// Whether the whole body, trailers included, was read.
    pub fn is_done(&self) -> bool {
        self.state == ChunkedState::Done
    }

    /// Chunk data announced by the current chunk's size and not yet handed out (0 outside chunk
    /// data), so a size that alone breaks a body limit is refused when its line ends.
    pub fn announced(&self) -> u64 {
        if self.state == ChunkedState::Data { self.size } else { 0 }
    }

    /// How many trailer fields were read (and dropped).
    #[cfg(test)]
    pub fn trailer_count(&self) -> usize {
        self.trailers
    }

    /// Reads one byte in `state` and its limits; returns the next state.
    fn step(&mut self, state: ChunkedState, b: u8) -> Result<ChunkedState, ChunkError> {
        if state.in_trailers() {
            self.trailer_bytes = self.trailer_bytes.saturating_add(1);
            if self.trailer_bytes > self.max_trailer {
                return Err(ChunkError::TrailerTooLong);
            }
        }
        let next = self.transition(state, b)?;
        if next.in_extension() {
            self.ext_bytes = self.ext_bytes.saturating_add(1);
            if self.ext_bytes > self.max_ext {
                return Err(ChunkError::ExtensionTooLong);
            }
        }
        Ok(next)
    }

    /// The grammar: the state after reading byte `b` in `state`.
    fn transition(&mut self, state: ChunkedState, b: u8) -> Result<ChunkedState, ChunkError> {
        use ChunkError as E;
        use ChunkedState as S;
        if b == b'\n' && self.strictness == Strictness::Lenient {
            match state {
                S::Size | S::ExtName | S::ExtToken | S::ExtQuotedEnd => return Ok(self.end_size_line()),
                S::DataCr => return Ok(S::SizeStart),
                S::TrailerValue => return Ok(self.end_trailer_line()),
                S::TrailerStart => return Ok(S::Done),
                _ => {}
            }
        }
        match (state, b) {
            (S::SizeStart | S::Size, _) if b.is_ascii_hexdigit() => self.push_digit(b),
            (S::SizeStart, _) => Err(refuse(b, E::InvalidSize)),
            (S::Size | S::SizeBws, b' ' | b'\t') => Ok(S::SizeBws),
            (S::Size | S::SizeBws, b';') => Ok(S::ExtNameStart),
            (S::Size, b'\r') => Ok(S::SizeLf),
            (S::Size | S::SizeBws, _) => Err(refuse(b, E::InvalidSize)),

            (S::ExtNameStart, b' ' | b'\t') => Ok(S::ExtNameStart),
            (S::ExtNameStart | S::ExtName, _) if is_tchar(b) => Ok(S::ExtName),
            (S::ExtName | S::ExtNameBws, b' ' | b'\t') => Ok(S::ExtNameBws),
            (S::ExtName | S::ExtNameBws, b'=') => Ok(S::ExtValueStart),
            (S::ExtValueStart, b' ' | b'\t') => Ok(S::ExtValueStart),
            (S::ExtValueStart, b'"') => Ok(S::ExtQuoted),
            (S::ExtValueStart | S::ExtToken, _) if is_tchar(b) => Ok(S::ExtToken),
            (S::ExtQuoted, b'"') => Ok(S::ExtQuotedEnd),
            (S::ExtQuoted, b'\\') => Ok(S::ExtQuotedPair),
            (S::ExtQuoted, _) if is_qdtext(b) => Ok(S::ExtQuoted),
            (S::ExtQuotedPair, _) if is_field_vchar(b) => Ok(S::ExtQuoted),
            (S::ExtToken | S::ExtQuotedEnd | S::ExtBws, b' ' | b'\t') => Ok(S::ExtBws),
            (S::ExtName | S::ExtNameBws | S::ExtToken | S::ExtQuotedEnd | S::ExtBws, b';') => Ok(S::ExtNameStart),
            (S::ExtName | S::ExtToken | S::ExtQuotedEnd, b'\r') => Ok(S::SizeLf),
            (
                S::ExtNameStart
                | S::ExtName
                | S::ExtNameBws
                | S::ExtValueStart
                | S::ExtToken
                | S::ExtQuoted
                | S::ExtQuotedPair
                | S::ExtQuotedEnd
                | S::ExtBws,
                _,
            ) => Err(refuse(b, E::InvalidExtension)),

            (S::SizeLf, b'\n') => Ok(self.end_size_line()),
            (S::SizeLf, _) => Err(E::InvalidLineEnding),
            (S::DataCr, b'\r') => Ok(S::DataLf),
            (S::DataCr, _) => Err(refuse(b, E::MissingDataCrlf)),
            (S::DataLf, b'\n') => Ok(S::SizeStart),
            (S::DataLf, _) => Err(E::InvalidLineEnding),

            (S::TrailerStart, b'\r') => Ok(S::EndLf),
            (S::TrailerStart | S::TrailerName, _) if is_tchar(b) => Ok(S::TrailerName),
            (S::TrailerName, b':') => Ok(S::TrailerValue),
            (S::TrailerValue, b'\r') => Ok(S::TrailerLf),
            (S::TrailerValue, _) if is_field_vchar(b) => Ok(S::TrailerValue),
            (S::TrailerStart | S::TrailerName | S::TrailerValue, _) => Err(refuse(b, E::InvalidTrailer)),
            (S::TrailerLf, b'\n') => Ok(self.end_trailer_line()),
            (S::TrailerLf, _) => Err(E::InvalidLineEnding),
            (S::EndLf, b'\n') => Ok(S::Done),
            (S::EndLf, _) => Err(E::InvalidLineEnding),

            // Never stepped: `decode` handles them before reading a byte.
            (S::Data | S::Done | S::Failed(_), _) => Ok(state),
        }
    }

    /// Adds one hex digit to the chunk size.
    fn push_digit(&mut self, b: u8) -> Result<ChunkedState, ChunkError> {
        self.digits = self.digits.saturating_add(1);
        if self.digits > MAX_CHUNK_SIZE_DIGITS {
            return Err(ChunkError::SizeTooLong);
        }
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return Err(ChunkError::InvalidSize),
        };
        self.size =
            self.size.checked_mul(16).and_then(|s| s.checked_add(u64::from(digit))).ok_or(ChunkError::SizeOverflow)?;
        Ok(ChunkedState::Size)
    }

    /// Ends a trailer line: counts it, and on to the next one or the end of the section.
    fn end_trailer_line(&mut self) -> ChunkedState {
        self.trailers = self.trailers.saturating_add(1);
        ChunkedState::TrailerStart
    }

    /// Ends a chunk line: on to its data, or to the trailers after the last chunk.
    fn end_size_line(&mut self) -> ChunkedState {
        self.digits = 0;
        self.ext_bytes = 0;
        if self.size == 0 { ChunkedState::TrailerStart } else { ChunkedState::Data }
    }
}

/// The error for an unexpected byte: a stray LF is always reported as a line-ending error.
fn refuse(b: u8, error: ChunkError) -> ChunkError {
    if b == b'\n' { ChunkError::InvalidLineEnding } else { error }
}

/// Whether `b` may appear in a field value: HTAB, SP, VCHAR or obs-text (RFC 9110 §5.5).
fn is_field_vchar(b: u8) -> bool {
    matches!(b, b'\t' | b' '..=b'~' | 0x80..=0xff)
}

/// Whether `b` is `qdtext` (RFC 9110 §5.6.4): a field byte other than `"` and `\`.
fn is_qdtext(b: u8) -> bool {
    is_field_vchar(b) && b != b'"' && b != b'\\'
}

/// Either body decoder behind one `decode`, so the connection drives a body without caring how it is framed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyDecoder {
    /// A `Content-Length` body (or an empty one, as length 0).
    Length(LengthDecoder),
    /// A chunked body.
    Chunked(ChunkedDecoder),
}

impl BodyDecoder {
    /// The decoder for a body framed as `kind`, with the default chunked limits.
    pub fn new(kind: BodyKind) -> Self {
        match kind {
            BodyKind::Empty => Self::Length(LengthDecoder::new(0)),
            BodyKind::Length(n) => Self::Length(LengthDecoder::new(n)),
            BodyKind::Chunked => Self::Chunked(ChunkedDecoder::default()),
        }
    }

    /// The decoder for a request body framed as `kind`, with the chunked limits and line-end
    /// strictness of `limits`: [`Limits::max_chunk_extra_bytes`] bounds both the extensions of
    /// each chunk line and the trailer section.
    pub fn for_request(kind: BodyKind, limits: &Limits) -> Self {
        match kind {
            BodyKind::Chunked => Self::Chunked(
                ChunkedDecoder::new(limits.max_chunk_extra_bytes, limits.max_chunk_extra_bytes)
                    .with_strictness(limits.strictness),
            ),
            kind => Self::new(kind),
        }
    }

    /// Decodes the next piece of `input`; see [`ChunkedDecoder::decode`] and [`LengthDecoder::decode`].
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Decoded), ChunkError> {
        match self {
            Self::Length(dec) => Ok(dec.decode(input)),
            Self::Chunked(dec) => dec.decode(input),
        }
    }

    /// Whether the whole body was read.
    pub fn is_done(&self) -> bool {
        match self {
            Self::Length(dec) => dec.is_done(),
            Self::Chunked(dec) => dec.is_done(),
        }
    }

    /// Body bytes already announced (the rest of a `Content-Length`, or of the current chunk) and
    /// not yet handed out.
    pub fn announced(&self) -> u64 {
        match self {
            Self::Length(dec) => dec.remaining(),
            Self::Chunked(dec) => dec.announced(),
        }
    }
}

/// Decodes all of `input` at once, for tests: the body bytes, and where the body ended (`None` if `input` ended first).
/// (A fuzz target could use it under `cfg(fuzzing)`, once `Cargo.toml` declares that cfg to `check-cfg`.)
#[cfg(test)]
pub fn decode_all(dec: &mut BodyDecoder, input: &[u8]) -> Result<(Vec<u8>, Option<usize>), ChunkError> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let rest = input.get(pos..).unwrap_or_default();
        let (consumed, decoded) = dec.decode(rest)?;
        match decoded {
            Decoded::Data(range) => body.extend_from_slice(rest.get(range).unwrap_or_default()),
            Decoded::NeedMore => return Ok((body, None)),
            Decoded::Done => return Ok((body, Some(pos + consumed))),
        }
        pos += consumed;
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity, reason = "case tables spell out their columns")]
mod tests {
    use super::*;

    /// Feeds `pieces` one after another as a connection would, then an empty read as when the input ran out;
    /// returns the body and where it ended in the whole input.
    fn feed(dec: &mut BodyDecoder, pieces: &[&[u8]]) -> Result<(Vec<u8>, Option<usize>), ChunkError> {
        let mut body = Vec::new();
        let mut base = 0;
        for piece in pieces.iter().chain([&&b""[..]]) {
            let mut pos = 0;
            loop {
                let rest = &piece[pos..];
                let (consumed, decoded) = dec.decode(rest)?;
                assert!(consumed <= rest.len());
                match decoded {
                    Decoded::Data(range) => {
                        assert!(!range.is_empty() && range.end == consumed);
                        body.extend_from_slice(&rest[range]);
                    }
                    Decoded::NeedMore => {
                        assert_eq!(consumed, rest.len());
                        break;
                    }
                    Decoded::Done => return Ok((body, Some(base + pos + consumed))),
                }
                pos += consumed;
            }
            base += piece.len();
        }
        Ok((body, None))
    }

    /// Feeds `input` whole, split at every single point, and byte by byte; asserts all agree and returns the result.
    fn feed_every_split(make: &dyn Fn() -> BodyDecoder, input: &[u8]) -> Result<(Vec<u8>, Option<usize>), ChunkError> {
        let whole = decode_all(&mut make(), input);
        for split in 0..=input.len() {
            let (a, b) = input.split_at(split);
            assert_eq!(feed(&mut make(), &[a, b]), whole, "split at {split}: {input:?}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(feed(&mut make(), &bytes), whole, "byte by byte: {input:?}");
        whole
    }

    fn chunked() -> BodyDecoder {
        BodyDecoder::new(BodyKind::Chunked)
    }

    fn lenient() -> BodyDecoder {
        let limits = Limits { strictness: Strictness::Lenient, ..Limits::default() };
        BodyDecoder::for_request(BodyKind::Chunked, &limits)
    }

    /// Valid chunked bodies: (input, body, trailer count); each ends with `NEXT`, which is not part of it.
    const VALID: &[(&[u8], &[u8], usize)] = &[
        (b"0\r\n\r\n", b"", 0),
        (b"5\r\nhello\r\n0\r\n\r\n", b"hello", 0),
        (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world", 0),
        (b"a\r\n0123456789\r\n0\r\n\r\n", b"0123456789", 0),
        (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789", 0),
        (b"1\r\n\r\r\n1\r\n\n\r\n0\r\n\r\n", b"\r\n", 0),
        (b"0005\r\nhello\r\n000\r\n\r\n", b"hello", 0),
        (b"10\r\n0123456789abcdef\r\n0\r\n\r\n", b"0123456789abcdef", 0),
        (b"5;foo\r\nhello\r\n0\r\n\r\n", b"hello", 0),
        (b"5;foo=bar\r\nhello\r\n0\r\n\r\n", b"hello", 0),
        (b"5;a=1;b;c=2\r\nhello\r\n0\r\n\r\n", b"hello", 0),
        (b"5 ; foo = bar ;\tbaz\r\nhello\r\n0\r\n\r\n", b"hello", 0),
        (b"5;a=\"b c;d=\\\"e\\\\\"\r\nhello\r\n0\r\n\r\n", b"hello", 0),
        (b"5;a=\"\"\r\nhello\r\n0\r\n\r\n", b"hello", 0),
        (b"5;a=\"x\" ;b\r\nhello\r\n0\r\n\r\n", b"hello", 0),
        (b"5;a=\"\xff\t\"\r\nhello\r\n0\r\n\r\n", b"hello", 0),
        (b"0;last=1\r\n\r\n", b"", 0),
        (b"0\r\nExpires: never\r\n\r\n", b"", 1),
        (b"3\r\nabc\r\n0\r\nA: 1\r\nb-c:\r\nX:  v a l \t\r\n\r\n", b"abc", 3),
        (b"0\r\nX-Obs: \x80\xff\r\n\r\n", b"", 1),
        (b"0\r\nX::\r\n\r\n", b"", 1),
    ];

    #[test]
    fn valid_bodies() {
        for (body, want, trailers) in VALID {
            let input = [*body, b"NEXT"].concat();
            let got = feed_every_split(&chunked, &input);
            assert_eq!(got, Ok((want.to_vec(), Some(body.len()))), "{body:?}");
            // Without the end, every prefix asks for more.
            let truncated = &body[..body.len() - 1];
            let got = feed_every_split(&chunked, truncated);
            assert!(matches!(got, Ok((_, None))), "{truncated:?}: {got:?}");

            let mut dec = ChunkedDecoder::default();
            let mut pos = 0;
            while let Ok((consumed, decoded)) = dec.decode(&input[pos..]) {
                pos += consumed;
                if decoded == Decoded::Done {
                    break;
                }
            }
            assert!(dec.is_done());
            assert_eq!(&input[pos..], b"NEXT");
            assert_eq!(dec.trailer_count(), *trailers, "{body:?}");
        }
    }

    /// Every single-byte substitution of every valid body decodes the same (body, end or error) at every split.
    #[test]
    fn mutations_split_invariant() {
        let replacements = [b'\r', b'\n', b' ', b'\t', b';', b'=', b'"', b'\\', b':', b'0', b'f', b'x', 0, 0xff];
        let mut errors = 0;
        for (body, _, _) in VALID {
            for at in 0..body.len() {
                for &r in &replacements {
                    let mut input = body.to_vec();
                    input[at] = r;
                    errors += usize::from(feed_every_split(&chunked, &input).is_err());
                }
            }
        }
        assert!(errors > 0);
    }

    #[test]
    fn invalid_bodies() {
        use ChunkError::*;
        let cases: &[(&[u8], ChunkError)] = &[
            (b"\r\n", InvalidSize),
            (b"x\r\n", InvalidSize),
            (b"g\r\n", InvalidSize),
            (b"0x5\r\nhello\r\n0\r\n\r\n", InvalidSize),
            (b"+5\r\nhello\r\n", InvalidSize),
            (b"-5\r\nhello\r\n", InvalidSize),
            (b"_5\r\n", InvalidSize),
            (b"5_0\r\n", InvalidSize),
            (b" 5\r\n", InvalidSize),
            (b"\t5\r\n", InvalidSize),
            (b"5 \r\n", InvalidSize),
            (b"5\t\r\n", InvalidSize),
            (b"5 5\r\n", InvalidSize),
            (b";a\r\n", InvalidSize),
            (b"5,\r\n", InvalidSize),
            (b"5\0\r\n", InvalidSize),
            (b"\xef\xbc\x95\r\n", InvalidSize),
            (b"10000000000000000\r\n", SizeOverflow),
            (b"FFFFFFFFFFFFFFFF0\r\n", SizeOverflow),
            (b"99999999999999999999999\r\n", SizeOverflow),
            (b"000000000000000000000000000000005\r\n", SizeTooLong),
            (b"5\nhello\r\n0\r\n\r\n", InvalidLineEnding),
            (b"5\rhello\r\n", InvalidLineEnding),
            (b"5 \nhello\r\n", InvalidLineEnding),
            (b"5\r\r\n", InvalidLineEnding),
            (b"5\r\nhello\n0\r\n\r\n", InvalidLineEnding),
            (b"5\r\nhello\r0\r\n\r\n", InvalidLineEnding),
            (b"5\r\nhello\r\n0\n\r\n", InvalidLineEnding),
            (b"0\r\n\n", InvalidLineEnding),
            (b"0\r\n\r\r", InvalidLineEnding),
            (b"0\r\n\rX", InvalidLineEnding),
            (b"0\r\nA: b\n\r\n", InvalidLineEnding),
            (b"0\r\nA: b\rX\r\n\r\n", InvalidLineEnding),
            (b"0\r\nA\n", InvalidLineEnding),
            (b"5;a\nhello\r\n", InvalidLineEnding),
            (b"5;a=b\nhello\r\n", InvalidLineEnding),
            (b"5;a=\"b\nc\"\r\n", InvalidLineEnding),
            (b"5;\nhello\r\n", InvalidLineEnding),
            (b"5\r\nhelloX\r\n0\r\n\r\n", MissingDataCrlf),
            (b"5\r\nhello world\r\n", MissingDataCrlf),
            (b"5;\r\nhello\r\n", InvalidExtension),
            (b"5;;a\r\nhello\r\n", InvalidExtension),
            (b"5;=x\r\nhello\r\n", InvalidExtension),
            (b"5;a=\r\nhello\r\n", InvalidExtension),
            (b"5;a= \r\nhello\r\n", InvalidExtension),
            (b"5;a b\r\nhello\r\n", InvalidExtension),
            (b"5;a \r\nhello\r\n", InvalidExtension),
            (b"5;a=b \r\nhello\r\n", InvalidExtension),
            (b"5;a=b c\r\nhello\r\n", InvalidExtension),
            (b"5;a=\"b\" \r\nhello\r\n", InvalidExtension),
            (b"5;a=\"x\"y\r\nhello\r\n", InvalidExtension),
            (b"5;a=\"open\r\nhello\r\n", InvalidExtension),
            (b"5;a=\"\x7f\"\r\nhello\r\n", InvalidExtension),
            (b"5;a=\"\\\x00\"\r\nhello\r\n", InvalidExtension),
            (b"5;a\x00\r\nhello\r\n", InvalidExtension),
            (b"5;a=b\x01\r\nhello\r\n", InvalidExtension),
            (b"5;a=b=c\r\nhello\r\n", InvalidExtension),
            (b"5;a@b\r\nhello\r\n", InvalidExtension),
            (b"5;\"a\"\r\nhello\r\n", InvalidExtension),
            (b"0\r\n: v\r\n\r\n", InvalidTrailer),
            (b"0\r\nA b: v\r\n\r\n", InvalidTrailer),
            (b"0\r\nA : v\r\n\r\n", InvalidTrailer),
            (b"0\r\n foo\r\n\r\n", InvalidTrailer),
            (b"0\r\nA: b\r\n\tc\r\n\r\n", InvalidTrailer),
            (b"0\r\nA\r\n\r\n", InvalidTrailer),
            (b"0\r\nA: \x00\r\n\r\n", InvalidTrailer),
            (b"0\r\nA: \x7f\r\n\r\n", InvalidTrailer),
            (b"0\r\n\xffA: b\r\n\r\n", InvalidTrailer),
        ];
        for (input, want) in cases {
            let got = feed_every_split(&chunked, input);
            assert_eq!(got, Err(*want), "{input:?}");
            assert_eq!(want.status(), 400);
            // The error sticks.
            let mut dec = chunked();
            let _ = decode_all(&mut dec, input);
            assert_eq!(dec.decode(b"0\r\n\r\n"), Err(*want), "{input:?}");
            assert!(!dec.is_done());
        }
    }

    /// Lenient line ends: every strictly valid body decodes the same, a bare LF ends each kind of line,
    /// and a bare CR is still refused.
    #[test]
    fn lenient_line_ends() {
        use ChunkError::*;
        for (body, want, _) in VALID {
            let input = [*body, b"NEXT"].concat();
            assert_eq!(feed_every_split(&lenient, &input), Ok((want.to_vec(), Some(body.len()))), "{body:?}");
        }
        let valid: &[(&[u8], &[u8], usize)] = &[
            (b"5\nhello\n0\n\n", b"hello", 0),
            (b"5\r\nhello\n0\r\n\r\n", b"hello", 0),
            (b"5;a\nhello\r\n0\n\r\n", b"hello", 0),
            (b"5;a=b\nhello\r\n3;c=\"d\"\nabc\n0\r\n\r\n", b"helloabc", 0),
            (b"0\nA: 1\nB: 2\r\n\n", b"", 2),
            (b"0\r\nA:\n\r\n", b"", 1),
            (b"1\n\n\n0\n\n", b"\n", 0),
        ];
        for (body, want, trailers) in valid {
            let input = [*body, b"NEXT"].concat();
            assert_eq!(feed_every_split(&lenient, &input), Ok((want.to_vec(), Some(body.len()))), "{body:?}");
            let mut dec = ChunkedDecoder::default().with_strictness(Strictness::Lenient);
            let mut pos = 0;
            while let Ok((consumed, decoded)) = dec.decode(&input[pos..]) {
                pos += consumed;
                if decoded == Decoded::Done {
                    break;
                }
            }
            assert_eq!((pos, dec.trailer_count()), (body.len(), *trailers), "{body:?}");
            assert_eq!(feed_every_split(&chunked, body).err(), Some(InvalidLineEnding), "strict {body:?}");
        }
        let invalid: &[(&[u8], ChunkError)] = &[
            (b"5\rhello\r\n", InvalidLineEnding),
            (b"5\r\nhello\r0\r\n\r\n", InvalidLineEnding),
            (b"5\nhello\r\r\n", InvalidLineEnding),
            (b"0\n\r\r", InvalidLineEnding),
            (b"0\n\rX", InvalidLineEnding),
            (b"0\nA: b\rX\n\n", InvalidLineEnding),
            (b"5 \nhello\n", InvalidLineEnding),
            (b"5;\nhello\n", InvalidLineEnding),
            (b"5;a=\nhello\n", InvalidLineEnding),
            (b"5;a=\"b\nc\"\n", InvalidLineEnding),
            (b"0\nA\n", InvalidLineEnding),
            (b"\n", InvalidLineEnding),
            (b"5\nhelloX\n0\n\n", MissingDataCrlf),
            (b"0x5\nhello\n", InvalidSize),
            (b"0\n: v\n\n", InvalidTrailer),
            (b"0\n foo\n\n", InvalidTrailer),
        ];
        for (input, want) in invalid {
            assert_eq!(feed_every_split(&lenient, input), Err(*want), "{input:?}");
        }
        // Limits hold with bare LFs: the extension bytes of a line and the trailer section, LF included.
        let make = || BodyDecoder::Chunked(ChunkedDecoder::new(2, 4).with_strictness(Strictness::Lenient));
        assert_eq!(feed_every_split(&make, b"1;a\nx\n0\nA:\n\n"), Ok((b"x".to_vec(), Some(12))));
        assert_eq!(feed_every_split(&make, b"1;ab\nx\n0\n\n"), Err(ExtensionTooLong));
        assert_eq!(feed_every_split(&make, b"1\nx\n0\nAB:\n\n"), Err(TrailerTooLong));
        // Every single-byte substitution decodes the same at every split, leniently too.
        let replacements = [b'\r', b'\n', b' ', b';', b'0', b'x'];
        for (body, _, _) in valid.iter().chain(VALID) {
            for at in 0..body.len() {
                for &r in &replacements {
                    let mut input = body.to_vec();
                    input[at] = r;
                    let _ = feed_every_split(&lenient, &input);
                }
            }
        }
    }

    #[test]
    fn size_limits() {
        let max = feed_every_split(&chunked, b"FFFFFFFFFFFFFFFF\r\nabc");
        assert_eq!(max, Ok((b"abc".to_vec(), None)));
        let padded = [&[b'0'; MAX_CHUNK_SIZE_DIGITS - 1][..], b"1\r\nx\r\n0\r\n\r\n"].concat();
        assert_eq!(feed_every_split(&chunked, &padded), Ok((b"x".to_vec(), Some(padded.len()))));
        // The digit count restarts on every chunk line.
        let twice = [&padded[..padded.len() - 5], &padded[..]].concat();
        assert_eq!(feed_every_split(&chunked, &twice), Ok((b"xx".to_vec(), Some(twice.len()))));
    }

    #[test]
    fn extension_limit() {
        // (limit, extension bytes after the size, ok)
        let cases: &[(usize, &[u8], bool)] = &[
            (4, b";abc", true),
            (4, b";abcd", false),
            (4, b" ;ab", true),
            (4, b" ; ab", false),
            (6, b";a=\"b\"", true),
            (6, b";a=\"bc\"", false),
            (0, b"", true),
            (0, b";", false),
            (0, b" ", false),
        ];
        for (limit, ext, ok) in cases {
            let line = |ext: &[u8]| [b"1", ext, b"\r\nx\r\n"].concat();
            // Two chunk lines at the limit: the count restarts per line.
            let input = [line(ext), line(ext), b"0\r\n\r\n".to_vec()].concat();
            let make = || BodyDecoder::Chunked(ChunkedDecoder::new(*limit, MAX_TRAILER_BYTES));
            let got = feed_every_split(&make, &input);
            let want = if *ok { Ok((b"xx".to_vec(), Some(input.len()))) } else { Err(ChunkError::ExtensionTooLong) };
            assert_eq!(got, want, "limit {limit}: {:?}", String::from_utf8_lossy(ext));
        }
        let at_limit = [&b"1;"[..], &[b'x'; MAX_CHUNK_EXT_BYTES - 1], b"\r\nx\r\n0\r\n\r\n"].concat();
        assert_eq!(decode_all(&mut chunked(), &at_limit), Ok((b"x".to_vec(), Some(at_limit.len()))));
        let over = [&b"1;"[..], &[b'x'; MAX_CHUNK_EXT_BYTES], b"\r\nx\r\n0\r\n\r\n"].concat();
        assert_eq!(decode_all(&mut chunked(), &over), Err(ChunkError::ExtensionTooLong));
    }

    #[test]
    fn trailer_limit() {
        // (limit, trailer section after the last-chunk line, ok); the section counts every byte, final CRLF included.
        let cases: &[(usize, &[u8], bool)] = &[
            (2, b"\r\n", true),
            (1, b"\r\n", false),
            (0, b"\r\n", false),
            (8, b"A: b\r\n\r\n", true),
            (7, b"A: b\r\n\r\n", false),
            (16, b"A: b\r\nC: d\r\n\r\n", true),
            (13, b"A: b\r\nC: d\r\n\r\n", false),
        ];
        for (limit, trailers, ok) in cases {
            let input = [b"1\r\nx\r\n0\r\n", *trailers].concat();
            let make = || BodyDecoder::Chunked(ChunkedDecoder::new(MAX_CHUNK_EXT_BYTES, *limit));
            let want = if *ok { Ok((b"x".to_vec(), Some(input.len()))) } else { Err(ChunkError::TrailerTooLong) };
            assert_eq!(feed_every_split(&make, &input), want, "limit {limit}: {trailers:?}");
        }
        let long = [&b"0\r\nA: "[..], &[b'v'; MAX_TRAILER_BYTES], b"\r\n\r\n"].concat();
        assert_eq!(decode_all(&mut chunked(), &long), Err(ChunkError::TrailerTooLong));
    }

    #[test]
    fn length_bodies() {
        // (length, input, body, end)
        let cases: &[(u64, &[u8], &[u8], Option<usize>)] = &[
            (0, b"", b"", Some(0)),
            (0, b"NEXT", b"", Some(0)),
            (5, b"hello", b"hello", Some(5)),
            (5, b"helloNEXT", b"hello", Some(5)),
            (5, b"hel", b"hel", None),
            (5, b"", b"", None),
            (1, b"\r\n", b"\r", Some(1)),
            (u64::MAX, b"abc", b"abc", None),
        ];
        for (length, input, body, end) in cases {
            let make = || BodyDecoder::new(BodyKind::Length(*length));
            let got = feed_every_split(&make, input);
            assert_eq!(got, Ok((body.to_vec(), *end)), "length {length}: {input:?}");
        }
        assert_eq!(BodyDecoder::new(BodyKind::Empty).decode(b"x"), Ok((0, Decoded::Done)));

        let mut dec = LengthDecoder::new(3);
        assert_eq!(dec.decode(b""), (0, Decoded::NeedMore));
        assert_eq!(dec.decode(b"ab"), (2, Decoded::Data(0..2)));
        assert_eq!((dec.remaining(), dec.is_done()), (1, false));
        assert_eq!(dec.decode(b"cd"), (1, Decoded::Data(0..1)));
        assert!(dec.is_done());
        assert_eq!(dec.decode(b""), (0, Decoded::Done));
    }

    #[test]
    fn chunked_steps() {
        // The exact results of one call each, as the connection sees them.
        let mut dec = ChunkedDecoder::default();
        let steps: &[(&[u8], Result<(usize, Decoded), ChunkError>)] = &[
            (b"", Ok((0, Decoded::NeedMore))),
            (b"5\r", Ok((2, Decoded::NeedMore))),
            (b"\nhel", Ok((4, Decoded::Data(1..4)))),
            (b"lo\r\n3;x\r\nabc", Ok((2, Decoded::Data(0..2)))),
            (b"\r\n3;x\r\nabc", Ok((10, Decoded::Data(7..10)))),
            (b"\r\n0\r\nT: v\r\n\r\nGET", Ok((13, Decoded::Done))),
            (b"GET", Ok((0, Decoded::Done))),
        ];
        for (input, want) in steps {
            assert_eq!(dec.decode(input), *want, "{input:?}");
        }
        assert!(dec.is_done());
        assert_eq!(dec.trailer_count(), 1);
    }

    #[test]
    fn error_display() {
        use ChunkError::*;
        for error in [
            InvalidSize,
            SizeOverflow,
            SizeTooLong,
            InvalidExtension,
            ExtensionTooLong,
            InvalidLineEnding,
            MissingDataCrlf,
            InvalidTrailer,
            TrailerTooLong,
        ] {
            assert_eq!(error.status(), 400);
            assert!(!error.to_string().is_empty());
        }
    }
}
