//! Response encoding: a status line, headers and a body appended to the connection's output buffer.
//!
//! The common head is assembled from pre-encoded pieces: a static status line for common codes,
//! one cached `Server` + `Date` block per thread, and `Content-Length` written with a small
//! integer formatter. Nothing here allocates beyond growing the caller's buffer.

use super::date::DATE_LEN;

/// The `Server` header value.
pub const SERVER: &str = concat!("hsys/", env!("CARGO_PKG_VERSION"));

/// `Server` and `Date` lines, refreshed with the date cache; copied into every response.
#[derive(Clone, Debug)]
pub struct CommonHeaders {
    block: [u8; COMMON_LEN],
}

const SERVER_LINE: &[u8] = concat!("Server: hsys/", env!("CARGO_PKG_VERSION"), "\r\nDate: ").as_bytes();
const COMMON_LEN: usize = SERVER_LINE.len() + DATE_LEN + 2;

impl CommonHeaders {
    /// The block for a date.
    pub fn new(date: &[u8; DATE_LEN]) -> Self {
        let mut block = [0u8; COMMON_LEN];
        block[..SERVER_LINE.len()].copy_from_slice(SERVER_LINE);
        block[SERVER_LINE.len()..COMMON_LEN - 2].copy_from_slice(date);
        block[COMMON_LEN - 2..].copy_from_slice(b"\r\n");
        CommonHeaders { block }
    }

    /// Replaces the date.
    pub fn set_date(&mut self, date: &[u8; DATE_LEN]) {
        self.block[SERVER_LINE.len()..COMMON_LEN - 2].copy_from_slice(date);
    }

    /// The bytes to copy: `Server: …\r\nDate: …\r\n`.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.block
    }
}

/// The reason phrase of a status code (empty for codes hsys does not know; the status line stays valid).
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Appends `HTTP/1.1 <code> <reason>\r\n`.
#[inline]
pub fn write_status_line(out: &mut Vec<u8>, status: u16) {
    if status == 200 {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        return;
    }
    let status = status.clamp(100, 999);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(&[
        b'0' + (status / 100) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
        b' ',
    ]);
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends the decimal form of `n`.
#[inline]
pub fn write_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Whether a response with this status (to a request with this method) may carry a body
/// (RFC 9110 §6.4.1: never for 1xx, 204, 304).
#[inline]
pub fn status_has_body(status: u16) -> bool {
    !(status < 200 || status == 204 || status == 304)
}

/// Whether `name` is a valid header field name (an RFC 9110 token).
pub fn is_token(name: &[u8]) -> bool {
    // One table load per byte, folded without branches (this runs for every header a handler sets).
    !name.is_empty() && name.iter().fold(true, |ok, &b| ok & TCHAR[usize::from(b)])
}

/// `tchar` (RFC 9110 §5.6.2) by byte value.
static TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = super::framing::is_tchar(b as u8);
        b += 1;
    }
    t
};

/// Whether `value` may be sent as a header value: no CR, LF or NUL (response splitting).
///
/// Eight bytes at a time (this runs for every header a handler sets): a word holds one of the
/// three bytes when the word XORed with that byte repeated has a zero byte.
pub fn is_safe_value(value: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const CR: u64 = u64::from_ne_bytes([b'\r'; 8]);
    const LF: u64 = u64::from_ne_bytes([b'\n'; 8]);
    let has_zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGHS != 0;
    let mut words = value.chunks_exact(8);
    let words_bad = words.by_ref().fold(false, |bad, chunk| {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        let w = u64::from_ne_bytes(b);
        bad | has_zero(w) | has_zero(w ^ CR) | has_zero(w ^ LF)
    });
    let tail_bad = words.remainder().iter().fold(false, |bad, &b| bad | (b == b'\r') | (b == b'\n') | (b == 0));
    !(words_bad | tail_bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let cases: &[(u16, &str)] = &[
            (200, "HTTP/1.1 200 OK\r\n"),
            (404, "HTTP/1.1 404 Not Found\r\n"),
            (431, "HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            (299, "HTTP/1.1 299 \r\n"),
            (7, "HTTP/1.1 100 Continue\r\n"),
        ];
        for (code, line) in cases {
            let mut out = Vec::new();
            write_status_line(&mut out, *code);
            assert_eq!(std::str::from_utf8(&out).unwrap(), *line, "{code}");
        }
    }

    #[test]
    fn decimals() {
        for n in [0u64, 7, 10, 512, 99_999, u64::MAX] {
            let mut out = Vec::new();
            write_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn common_block() {
        let mut c = CommonHeaders::new(b"Sun, 06 Nov 1994 08:49:37 GMT");
        let want = format!("Server: {SERVER}\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n");
        assert_eq!(c.as_bytes(), want.as_bytes());
        c.set_date(b"Mon, 07 Nov 1994 08:49:37 GMT");
        assert!(c.as_bytes().ends_with(b"Mon, 07 Nov 1994 08:49:37 GMT\r\n"));
    }

    #[test]
    fn header_checks() {
        assert!(is_token(b"Content-Type"));
        assert!(!is_token(b"Bad Name"));
        assert!(!is_token(b""));
        assert!(is_safe_value(b"text/plain"));
        assert!(!is_safe_value(b"a\r\nSet-Cookie: x"));
        // Every position, in and past the 8-byte words, and bytes next to the forbidden ones.
        for len in 0..40 {
            let clean: Vec<u8> = (0..len).map(|i| [b'a', 0x0b, 0x0c, 0x0e, 0x09, 0xff, 0x01][i % 7]).collect();
            assert!(is_safe_value(&clean), "{clean:?}");
            for at in 0..len {
                for bad in [b'\r', b'\n', 0] {
                    let mut v = clean.clone();
                    v[at] = bad;
                    assert!(!is_safe_value(&v), "{v:?}");
                }
            }
        }
    }
}
