//! HTTP semantics every protocol shares (RFC 9110): status classes, reason phrases, field-name
//! tokens and safe field values. A leaf: it imports nothing of the crate.

/// The reason phrase of a status code (empty for codes hsys does not know; the status line stays valid).
pub(crate) fn reason(status: u16) -> &'static str {
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

/// Whether `b` is a `tchar` (RFC 9110 §5.6.2), the bytes of header names, codings and chunk
/// extension names.
pub(crate) const fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.'
        | b'^' | b'_' | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// Whether a response with this status (to a request with this method) may carry a body
/// (RFC 9110 §6.4.1: never for 1xx, 204, 304).
#[inline]
pub(crate) fn status_has_body(status: u16) -> bool {
    !(status < 200 || status == 204 || status == 304)
}

/// Whether `name` is a valid header field name (an RFC 9110 token).
pub(crate) fn is_token(name: &[u8]) -> bool {
    // One table load per byte, folded without branches (this runs for every header a handler sets).
    !name.is_empty() && name.iter().fold(true, |ok, &b| ok & TCHAR[usize::from(b)])
}

/// `tchar` (RFC 9110 §5.6.2) by byte value.
static TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = is_tchar(b as u8);
        b += 1;
    }
    t
};

/// Whether `value` may be sent as a header value: no CR, LF or NUL (response splitting).
///
/// Eight bytes at a time (this runs for every header a handler sets): a word holds one of the
/// three bytes when the word XORed with that byte repeated has a zero byte.
pub(crate) fn is_safe_value(value: &[u8]) -> bool {
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
