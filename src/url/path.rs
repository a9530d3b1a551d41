//! Request path normalisation: canonical percent-escapes and dot-segment removal (RFC 3986 §6.2.2, §5.2.4).

use std::borrow::Cow;
use std::fmt;

/// Why a request path (or the path of a URL prefix) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathError {
    /// The path does not start with `/`: only origin-form paths can be routed.
    NotAbsolute,
    /// A `%` not followed by two hexadecimal digits (`%`, `%4`, `%G1`).
    BadEscape,
    /// A raw control character, space, DEL, `#` or `?`: none can appear in a path
    /// (the caller strips the query before normalising).
    BadChar,
    /// `..` segments climb above the root (`/../x`); refused rather than clamped so
    /// that a traversal attempt is never silently rewritten into a valid path.
    AboveRoot,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "path does not start with '/'",
            PathError::BadEscape => "malformed percent-escape in path",
            PathError::BadChar => "invalid character in path",
            PathError::AboveRoot => "path climbs above the root with '..'",
        })
    }
}

impl std::error::Error for PathError {}

/// Normalises the path of an origin-form request target (without its `?query`).
///
/// The normal form:
/// - percent-escapes of unreserved characters (ALPHA / DIGIT / `-` `.` `_` `~`) are decoded;
/// - every other escape is kept, with its hex digits in upper case (`%2f` → `%2F`), so an
///   escaped `/` stays a literal character inside its segment and never splits a segment;
/// - raw non-ASCII bytes (UTF-8) are percent-encoded in upper case, so `/café` and
///   `/caf%C3%A9` have one normal form (`/caf%C3%A9`) and the result is always ASCII;
/// - `.` and `..` segments (also when written `%2E`) are removed as in RFC 3986 §5.2.4,
///   but a `..` that would climb above `/` is refused with [`PathError::AboveRoot`].
///
/// Empty segments (`//`) are kept. Other characters are kept as they are.
///
/// When the path is already normal (the common case: no `%` that needs rewriting, no
/// dot segment, no non-ASCII byte) this is one scan and returns [`Cow::Borrowed`].
///
/// # Errors
/// [`PathError::NotAbsolute`] without a leading `/`, [`PathError::BadEscape`] for a
/// malformed `%`, [`PathError::BadChar`] for a raw control, space, DEL, `#` or `?`, and
/// [`PathError::AboveRoot`] when `..` climbs above `/`.
pub fn normalize_path(path: &str) -> Result<Cow<'_, str>, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if is_normal(path.as_bytes()) { Ok(Cow::Borrowed(path)) } else { rewrite(path).map(Cow::Owned) }
}

/// Splits a request target into its path and its query (the text after the first `?`,
/// without the `?`; `Some("")` for a bare `?`).
///
/// An absolute-form target (`http://host:port/path?q`, any scheme) has its scheme and
/// authority dropped, and an empty path becomes `/`. Anything else (origin-form `/path`,
/// asterisk-form `*`, authority-form `host:port`) is split at the first `?` as it is;
/// [`normalize_path`] then refuses the non-origin forms with [`PathError::NotAbsolute`].
pub fn split_target(target: &str) -> (&str, Option<&str>) {
    let absolute = after_authority(target);
    let rest = absolute.unwrap_or(target);
    // A byte scan: `split_once('?')` set up a char searcher per request.
    let (path, query) = match rest.bytes().position(|b| b == b'?') {
        Some(q) => (rest.get(..q).unwrap_or(rest), rest.get(q + 1..)),
        None => (rest, None),
    };
    if absolute.is_some() && path.is_empty() { ("/", query) } else { (path, query) }
}

/// The authority (`host:port`) of an absolute-form request target, `None` for any other form.
///
/// RFC 9112 §3.2.2: for an absolute-form target the server uses this authority and
/// ignores the `Host` header, so the caller routes with it in place of the header.
#[inline]
pub fn target_authority(target: &str) -> Option<&str> {
    if target.starts_with('/') {
        return None; // origin-form, nearly every request
    }
    let (_, rest) = split_scheme(target)?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    rest.get(..end)
}

/// Splits `scheme://rest` when `target` starts with a syntactically valid scheme (RFC 3986 §3.1).
fn split_scheme(target: &str) -> Option<(&str, &str)> {
    // Origin-form (`/path`), nearly every request, has no scheme: decided on the first byte.
    // Otherwise the scheme ends at the first `:` (a scheme has none), which must start `://`.
    // (This runs per request: `split_once("://")` built a substring searcher each time.)
    if !target.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    let colon = target.find(':')?;
    let scheme = target.get(..colon)?;
    let rest = target.get(colon..)?.strip_prefix("://")?;
    let mut bytes = scheme.bytes();
    let first_is_alpha = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    (first_is_alpha && rest_ok).then_some((scheme, rest))
}

/// What follows the authority of an absolute-form target (path, query and all).
#[inline]
fn after_authority(target: &str) -> Option<&str> {
    if target.starts_with('/') {
        return None;
    }
    let (_, rest) = split_scheme(target)?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    rest.get(end..)
}

/// The fast check: `true` when `path` (starting with `/`) is certainly already normal.
///
/// One scan; `false` for anything that needs rewriting *or* refusing, leaving the
/// errors to [`rewrite`] so the fast path stays small.
fn is_normal(bytes: &[u8]) -> bool {
    let mut seg_start = 1;
    let mut i = 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'/' => {
                if is_dot_segment(bytes.get(seg_start..i)) {
                    return false;
                }
                seg_start = i + 1;
                i += 1;
            }
            b'%' => {
                let (Some(&hi), Some(&lo)) = (bytes.get(i + 1), bytes.get(i + 2)) else {
                    return false;
                };
                let (Some(h), Some(l)) = (hex_value(hi), hex_value(lo)) else {
                    return false;
                };
                if is_unreserved((h << 4) | l) || hi.is_ascii_lowercase() || lo.is_ascii_lowercase() {
                    return false;
                }
                i += 3;
            }
            b if is_bad_char(b) || !b.is_ascii() => return false,
            _ => i += 1,
        }
    }
    !is_dot_segment(bytes.get(seg_start..))
}

/// Whether a raw segment is `.` or `..`.
fn is_dot_segment(segment: Option<&[u8]>) -> bool {
    matches!(segment, Some(b".") | Some(b".."))
}

/// Bytes that can never appear raw in a path.
fn is_bad_char(b: u8) -> bool {
    b <= b' ' || b == 0x7F || b == b'#' || b == b'?'
}

/// RFC 3986 §2.3 unreserved characters: the only ones whose escapes are decoded.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// The value of one hexadecimal digit, either case.
fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Appends `%XX` with upper-case hex digits.
fn push_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0x0F)]));
}

/// The slow path: builds the normal form of `path` (which starts with `/`).
fn rewrite(path: &str) -> Result<String, PathError> {
    let mut out = String::with_capacity(path.len() + 8);
    out.push('/');
    let rest = path.get(1..).unwrap_or("");
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        let start = out.len();
        push_segment(&mut out, segment)?;
        match out.get(start..) {
            Some(".") => out.truncate(start),
            Some("..") => {
                // `out[..start]` ends with the '/' before this segment; drop that
                // '/' and the segment before it, keeping the '/' that precedes it.
                out.truncate(start);
                if start <= 1 {
                    return Err(PathError::AboveRoot);
                }
                out.pop();
                let cut = out.rfind('/').map_or(1, |p| p + 1);
                out.truncate(cut);
            }
            _ if !last => out.push('/'),
            _ => {}
        }
    }
    Ok(out)
}

/// Appends one segment in normal form (escapes canonicalised, non-ASCII encoded).
fn push_segment(out: &mut String, segment: &str) -> Result<(), PathError> {
    let bytes = segment.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_value);
                let lo = bytes.get(i + 2).copied().and_then(hex_value);
                let (Some(h), Some(l)) = (hi, lo) else {
                    return Err(PathError::BadEscape);
                };
                let value = (h << 4) | l;
                if is_unreserved(value) {
                    out.push(char::from(value));
                } else {
                    push_escape(out, value);
                }
                i += 3;
            }
            b if is_bad_char(b) => return Err(PathError::BadChar),
            b if !b.is_ascii() => {
                push_escape(out, b);
                i += 1;
            }
            b => {
                out.push(char::from(b));
                i += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn already_normal_paths_are_borrowed() {
        let cases = [
            "/",
            "/a",
            "/a/",
            "/a/b/c.html",
            "//",
            "/a//b",
            "/.well-known/x",
            "/a/.hidden",
            "/a/..b",
            "/a/b..",
            "/a/...",
            "/a/.../b",
            "/%2F",
            "/a%2Fb/",
            "/a/..%2F",
            "/a/%2F..",
            "/%20x",
            "/%00",
            "/%C3%A9",
            "/a+b,c;d=e:f@g!$&'()*",
            "/~user/_x-y.z",
            "/\\x",
        ];
        for path in cases {
            match normalize_path(path) {
                Ok(Cow::Borrowed(p)) => assert_eq!(p, path, "{path}"),
                other => panic!("{path}: expected Borrowed, got {other:?}"),
            }
        }
    }

    #[test]
    fn rewritten_paths() {
        let cases = [
            // Unreserved escapes are decoded, either case.
            ("/%41%42%43", "/ABC"),
            ("/%61bc", "/abc"),
            ("/%7e%7Euser", "/~~user"),
            ("/%2D%2e%5F%30%39", "/-._09"),
            // Other escapes keep their byte, with upper-case hex.
            ("/%2f", "/%2F"),
            ("/a%2fb/%3f", "/a%2Fb/%3F"),
            ("/%c3%a9", "/%C3%A9"),
            ("/%e2%82%ac/%41", "/%E2%82%AC/A"),
            // Raw non-ASCII is encoded.
            ("/café", "/caf%C3%A9"),
            ("/€/", "/%E2%82%AC/"),
            // Dot segments.
            ("/.", "/"),
            ("/./", "/"),
            ("/a/.", "/a/"),
            ("/a/./", "/a/"),
            ("/a/./b", "/a/b"),
            ("/a/..", "/"),
            ("/a/../", "/"),
            ("/a/../b", "/b"),
            ("/a/b/..", "/a/"),
            ("/a/b/../", "/a/"),
            ("/a/b/../c", "/a/c"),
            ("/a/b/../../c", "/c"),
            ("/a/b/c/../../d/./e", "/a/d/e"),
            ("/a/./././b", "/a/b"),
            ("/a//../b", "/a/b"),
            ("/a/b//..", "/a/b/"),
            ("/./a", "/a"),
            // Escaped dots are dots.
            ("/a/%2e", "/a/"),
            ("/a/%2E%2e", "/"),
            ("/a/b/%2e%2E/c", "/a/c"),
            ("/a/.%2e/c", "/c"),
            ("/a/%2E./c", "/c"),
            // Escaped slash does not make a segment boundary.
            ("/a/%2e%2e%2fb", "/a/..%2Fb"),
            // Dots that are not whole segments stay.
            ("/a/%2e%2e%2e", "/a/..."),
            ("/a/.%41", "/a/.A"),
        ];
        for (input, expected) in cases {
            let got = normalize_path(input);
            assert_eq!(got.as_deref(), Ok(expected), "{input}");
            assert!(matches!(got, Ok(Cow::Owned(_))), "{input} should be Owned");
        }
    }

    #[test]
    fn normal_form_is_a_fixed_point() {
        let cases = ["/%41/%2f/%c3%a9", "/a/./b/../c/", "/café/%7e", "/a/%2e%2e%2fb"];
        for input in cases {
            let once = normalize_path(input).map(Cow::into_owned);
            let Ok(once) = once else { panic!("{input}") };
            assert_eq!(normalize_path(&once), Ok(Cow::Borrowed(once.as_str())), "{input}");
        }
    }

    #[test]
    fn errors() {
        let cases = [
            ("", PathError::NotAbsolute),
            ("a", PathError::NotAbsolute),
            ("*", PathError::NotAbsolute),
            ("%2F", PathError::NotAbsolute),
            ("http://h/", PathError::NotAbsolute),
            ("/%", PathError::BadEscape),
            ("/a%", PathError::BadEscape),
            ("/%4", PathError::BadEscape),
            ("/%G1", PathError::BadEscape),
            ("/%1G", PathError::BadEscape),
            ("/%%41", PathError::BadEscape),
            ("/a/%zz/b", PathError::BadEscape),
            ("/..", PathError::AboveRoot),
            ("/../", PathError::AboveRoot),
            ("/../x", PathError::AboveRoot),
            ("/a/../..", PathError::AboveRoot),
            ("/a/../../b", PathError::AboveRoot),
            ("/%2e%2e/x", PathError::AboveRoot),
            ("/./../x", PathError::AboveRoot),
            ("/a b", PathError::BadChar),
            ("/a\tb", PathError::BadChar),
            ("/\0", PathError::BadChar),
            ("/\x7f", PathError::BadChar),
            ("/a#f", PathError::BadChar),
            ("/a?q", PathError::BadChar),
            ("/a\r\n", PathError::BadChar),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_path(input), Err(expected), "{input:?}");
        }
    }

    /// Pseudo-random paths over a hostile alphabet: no panic, and every success is ASCII,
    /// absolute, free of dot segments and a fixed point.
    #[test]
    fn random_paths_hold_invariants() {
        const ALPHABET: [&str; 16] =
            ["/", ".", "..", "%", "%2e", "%2E", "%2f", "%41", "%c3", "a", "B", "é", "?", " ", "%G", "~"];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            let mut path = String::from("/");
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            for _ in 0..(state % 12) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let pick = usize::try_from(state % 16).unwrap_or(0);
                path.push_str(ALPHABET.get(pick).copied().unwrap_or("/"));
            }
            let Ok(normal) = normalize_path(&path) else {
                continue;
            };
            assert!(normal.starts_with('/'), "{path}");
            assert!(normal.is_ascii(), "{path}");
            assert!(!normal.split('/').any(|s| s == "." || s == ".."), "{path} -> {normal}");
            assert_eq!(normalize_path(&normal), Ok(Cow::Borrowed(&*normal)), "{path} -> {normal}");
        }
    }

    #[test]
    fn split_targets() {
        let cases = [
            ("/", ("/", None)),
            ("/a/b", ("/a/b", None)),
            ("/a?", ("/a", Some(""))),
            ("/a?x=1&y=2", ("/a", Some("x=1&y=2"))),
            ("/a?x=?", ("/a", Some("x=?"))),
            ("/r?to=http://x/y", ("/r", Some("to=http://x/y"))),
            ("//x://y", ("//x://y", None)),
            ("http://h:80/p?q", ("/p", Some("q"))),
            ("http://h:80", ("/", None)),
            ("http://h:80?q", ("/", Some("q"))),
            ("HTTP://H/a/b", ("/a/b", None)),
            ("https://[::1]:443/x", ("/x", None)),
            ("*", ("*", None)),
            ("example.com:443", ("example.com:443", None)),
            ("1http://h/p", ("1http://h/p", None)),
            ("", ("", None)),
        ];
        for (input, expected) in cases {
            assert_eq!(split_target(input), expected, "{input}");
        }
    }

    #[test]
    fn target_authorities() {
        let cases = [
            ("/a", None),
            ("*", None),
            ("http://h:80/p", Some("h:80")),
            ("http://h", Some("h")),
            ("http://[::1]:8080?q", Some("[::1]:8080")),
            ("http://", Some("")),
            ("/x?http://h/", None),
        ];
        for (input, expected) in cases {
            assert_eq!(target_authority(input), expected, "{input}");
        }
    }

    #[test]
    fn errors_display() {
        let cases = [PathError::NotAbsolute, PathError::BadEscape, PathError::BadChar, PathError::AboveRoot];
        for e in cases {
            assert!(!e.to_string().is_empty());
        }
    }
}
