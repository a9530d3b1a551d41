//! Request heads: find the end of a head cheaply, parse it with `httparse` into caller-owned
//! header slots, and map every way a head can be wrong to one status.

use std::mem::MaybeUninit;

use crate::limits::Limits;

/// Why a head is refused. Every variant closes the connection after its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// Malformed request line or header line: `400`.
    Malformed,
    /// The head is larger than [`Limits::max_request_bytes`], or has too many headers: `431`.
    TooLarge,
    /// The target is longer than [`Limits::max_url_length`]: `414`.
    UrlTooLong,
    /// A well-formed `HTTP/x.y` other than 1.0 and 1.1: `505`.
    Version,
}

impl HeadError {
    /// The status this error is answered with.
    pub fn status(self) -> u16 {
        match self {
            HeadError::Malformed => 400,
            HeadError::TooLarge => 431,
            HeadError::UrlTooLong => 414,
            HeadError::Version => 505,
        }
    }
}

/// A parsed head: the `httparse` request (with its headers in the caller's slots) and its length.
#[derive(Debug)]
pub struct Head<'h, 'b> {
    /// The parsed request line and headers.
    pub req: httparse::Request<'h, 'b>,
    /// Bytes of the head, including the blank line that ends it.
    pub len: usize,
}

/// Whether a head that was incomplete up to `scanned` bytes may now be complete: looks for a
/// blank line (`\n\n` or `\n\r\n`) only in the new tail, so a head trickling in byte by byte costs
/// linear time, not quadratic.
#[inline]
pub fn may_be_complete(buf: &[u8], scanned: usize) -> bool {
    let from = scanned.saturating_sub(3);
    let tail = buf.get(from..).unwrap_or(&[]);
    tail.iter().enumerate().any(|(i, &b)| {
        b == b'\n' && matches!((tail.get(i + 1), tail.get(i + 2)), (Some(b'\n'), _) | (Some(b'\r'), Some(b'\n')))
    })
}

/// Parses one head at the start of `buf`. `Ok(None)`: not complete yet (and within limits).
///
/// # Errors
/// A [`HeadError`] for bytes that can never become a valid head within the limits.
pub fn parse_head<'h, 'b>(
    buf: &'b [u8],
    slots: &'h mut [MaybeUninit<httparse::Header<'b>>],
    limits: &Limits,
) -> Result<Option<Head<'h, 'b>>, HeadError> {
    let max_headers = limits.max_headers.min(slots.len());
    let slots = slots.get_mut(..max_headers).unwrap_or_default();
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(buf, slots) {
        Ok(httparse::Status::Complete(len)) => {
            if len > limits.max_request_bytes {
                return Err(HeadError::TooLarge);
            }
            if req.path.is_some_and(|p| p.len() > limits.max_url_length) {
                return Err(HeadError::UrlTooLong);
            }
            Ok(Some(Head { req, len }))
        }
        Ok(httparse::Status::Partial) => {
            if buf.len() > limits.max_request_bytes {
                Err(partial_overflow(buf, limits))
            } else {
                Ok(None)
            }
        }
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooLarge),
        Err(httparse::Error::Version) => Err(version_error(buf)),
        Err(_) => Err(HeadError::Malformed),
    }
}

/// A head past the size limit: `414` when the request line alone is already over the URL limit.
#[cold]
fn partial_overflow(buf: &[u8], limits: &Limits) -> HeadError {
    let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    if line_end > limits.max_url_length { HeadError::UrlTooLong } else { HeadError::TooLarge }
}

/// `505` for a well-formed `HTTP/<digit>.<digit>` other than 1.0/1.1, `400` for anything else.
#[cold]
fn version_error(buf: &[u8]) -> HeadError {
    let line = buf.split(|&b| b == b'\n').find(|l| !l.is_empty() && *l != b"\r").unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or(&[]);
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            HeadError::Version
        }
        _ => HeadError::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(buf: &[u8]) -> Result<Option<usize>, HeadError> {
        let mut slots = [const { MaybeUninit::uninit() }; 8];
        let limits = Limits { max_request_bytes: 64, max_url_length: 20, max_headers: 4, ..Limits::default() };
        parse_head(buf, &mut slots, &limits).map(|h| h.map(|h| h.len))
    }

    #[test]
    fn heads() {
        type Case = (&'static [u8], Result<Option<usize>, HeadError>);
        let cases: &[Case] = &[
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Ok(Some(27))),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET", Ok(Some(27))),
            (b"GET / HTTP/1.1\r\nHost: a\r\n", Ok(None)),
            (b"GET / HTTP/1.1\r\nHo", Ok(None)),
            (b"GET / HTTP/2.0\r\n\r\n", Err(HeadError::Version)),
            (b"GET / HTTP/1.2\r\n\r\n", Err(HeadError::Version)),
            (b"GET / HTTX/1.1\r\n\r\n", Err(HeadError::Malformed)),
            (b"GET / HTTP/1.1 \r\n\r\n", Err(HeadError::Malformed)),
            (b"G(T / HTTP/1.1\r\n\r\n", Err(HeadError::Malformed)),
            (b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", Err(HeadError::Malformed)),
            (b"GET / HTTP/1.1\r\nName : x\r\n\r\n", Err(HeadError::Malformed)),
            (b"GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", Err(HeadError::Malformed)),
            (b"GET /aaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n", Err(HeadError::UrlTooLong)),
            (b"GET / HTTP/1.1\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n\r\n", Err(HeadError::TooLarge)),
            (b"GET / HTTP/1.1\r\nA: 11111111111111111111111111111111111111111111111", Err(HeadError::TooLarge)),
            (b"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Err(HeadError::UrlTooLong)),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input), *want, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn head_end_scan() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        for cut in 0..head.len() {
            assert!(!may_be_complete(&head[..cut], 0) || cut == head.len(), "cut {cut}");
        }
        assert!(may_be_complete(head, 0));
        assert!(may_be_complete(head, head.len() - 1));
        assert!(may_be_complete(b"GET / HTTP/1.0\n\n", 15));
    }
}
