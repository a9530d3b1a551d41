//! Body decoders (chunked and `Content-Length`): the same bytes split anywhere decode the same.
//!
//! The first [`CTL`] bytes steer the run (piece sizes, a `Content-Length`, tight chunked limits and
//! their line-end strictness);
//! the rest is the body as it follows a head. Each decoder is fed the body whole, then in the
//! pieces the control bytes give (empty pieces included), then byte by byte when short; the body
//! bytes and the outcome (error, or where the body ended) must be the same every time, and the
//! `decode` contract must hold on every call. Lenient line ends must decode every strictly valid
//! body exactly as strict ones do.
#![no_main]

use hsys::Strictness;
use hsys::h1::decode::{BodyDecoder, Decoded};
use hsys::h1::framing::BodyKind;
use hsys::limits::Limits;
use libfuzzer_sys::fuzz_target;

/// Control bytes at the start of the input.
const CTL: usize = 8;

/// The body bytes, and where the body ended in the whole input (`None`: the input ended first).
type Outcome = Result<(Vec<u8>, Option<usize>), hsys::h1::decode::ChunkError>;

fuzz_target!(|data: &[u8]| {
    let (ctl, body) = data.split_at(data.len().min(CTL));
    let mut c = [0u8; CTL];
    c[..ctl.len()].copy_from_slice(ctl);
    let pieces = split(body, &c);

    let limits = Limits::default();
    let chunked = || BodyDecoder::for_request(BodyKind::Chunked, &limits);
    let strict = check(&chunked, body, &pieces);

    // Lenient line ends take every strictly valid body as it is.
    let lenient_limits = Limits::default().strictness(Strictness::Lenient);
    let lenient = || BodyDecoder::for_request(BodyKind::Chunked, &lenient_limits);
    let lenient = check(&lenient, body, &pieces);
    if strict.is_ok() {
        assert_eq!(lenient, strict, "lenient decoding differs on a strictly valid body");
    }

    // Tight limits reach the extension and trailer caps with short inputs.
    let strictness = if c[1] & 1 == 0 { Strictness::Strict } else { Strictness::Lenient };
    let tight_limits = Limits::default().max_chunk_extra_bytes(usize::from(c[0] % 32)).strictness(strictness);
    let tight = || BodyDecoder::for_request(BodyKind::Chunked, &tight_limits);
    let _ = check(&tight, body, &pieces);

    let n = u64::from(u16::from_le_bytes([c[2], c[3]]));
    let kind = if n == 0 { BodyKind::Empty } else { BodyKind::Length(n) };
    let length = || BodyDecoder::for_request(kind, &limits);
    let got = check(&length, body, &pieces);
    // A length body is exactly the next `n` bytes, whatever they hold.
    let n = usize::from(u16::from_le_bytes([c[2], c[3]]));
    let want = if n <= body.len() { (body[..n].to_vec(), Some(n)) } else { (body.to_vec(), None) };
    assert_eq!(got, Ok(want));
});

/// Cuts `body` into pieces whose lengths are the control bytes (mod 64, zero allowed), the last
/// piece taking the rest.
fn split<'a>(mut body: &'a [u8], c: &[u8; CTL]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::with_capacity(CTL + 1);
    for &b in c {
        let (piece, rest) = body.split_at(usize::from(b % 64).min(body.len()));
        pieces.push(piece);
        body = rest;
    }
    pieces.push(body);
    pieces
}

/// Feeds `body` whole, in `pieces`, and byte by byte (when short) to fresh decoders from `make`;
/// asserts the outcomes agree and returns the whole one.
fn check(make: &dyn Fn() -> BodyDecoder, body: &[u8], pieces: &[&[u8]]) -> Outcome {
    let whole = feed(&mut make(), &[body]);
    assert_eq!(feed(&mut make(), pieces), whole, "pieces {pieces:?}");
    if body.len() <= 512 {
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(feed(&mut make(), &bytes), whole, "byte by byte");
    }
    whole
}

/// Feeds `pieces` one after another as a connection would (each piece decoded until the decoder
/// asks for more), then an empty read; checks the `decode` contract on every call.
fn feed(dec: &mut BodyDecoder, pieces: &[&[u8]]) -> Outcome {
    let mut out = Vec::new();
    let mut base = 0;
    for piece in pieces.iter().copied().chain([&b""[..]]) {
        let mut pos = 0;
        loop {
            let rest = &piece[pos..];
            let (consumed, decoded) = match dec.decode(rest) {
                Ok(r) => r,
                Err(e) => {
                    // Errors are sticky.
                    assert_eq!(dec.decode(b"0\r\n\r\n"), Err(e));
                    assert!(!dec.is_done());
                    return Err(e);
                }
            };
            assert!(consumed <= rest.len());
            match decoded {
                Decoded::Data(range) => {
                    assert!(!range.is_empty() && range.end == consumed, "{range:?} consumed {consumed}");
                    out.extend_from_slice(&rest[range]);
                }
                Decoded::NeedMore => {
                    assert_eq!(consumed, rest.len());
                    assert!(!dec.is_done());
                    break;
                }
                Decoded::Done => {
                    assert!(dec.is_done());
                    // Done is sticky and consumes nothing more.
                    assert_eq!(dec.decode(b"x"), Ok((0, Decoded::Done)));
                    return Ok((out, Some(base + pos + consumed)));
                }
            }
            pos += consumed;
        }
        base += piece.len();
    }
    Ok((out, None))
}
