//! Conditional requests a stored answer satisfies (RFC 9110 §13.1): `If-None-Match` against its
//! `ETag` (weak comparison), else `If-Modified-Since` against its `Last-Modified`. Parses what a
//! client sends: anything it cannot read means "not satisfied", so the full answer goes out.

/// Whether a request with these conditional header values (`if_none_match`, `if_modified_since`)
/// is answered `304 Not Modified` by an answer with `etag` and `last_modified` (seconds since
/// the epoch). `If-Modified-Since` counts only without `If-None-Match` (RFC 9110 §13.1.3).
pub fn not_modified(
    if_none_match: Option<&[u8]>,
    if_modified_since: Option<&[u8]>,
    etag: Option<&[u8]>,
    last_modified: Option<u64>,
) -> bool {
    if let Some(list) = if_none_match {
        return etag.is_some_and(|e| none_match_fails(list, e));
    }
    match (if_modified_since.and_then(http_date), last_modified) {
        (Some(since), Some(modified)) => modified <= since,
        _ => false,
    }
}

/// Whether an `If-None-Match` value (`*`, or a list of entity tags) names `etag` by the weak
/// comparison (the `W/` prefixes aside, the opaque tags are equal): then the condition fails and
/// the answer is `304`. A list that is not well formed names nothing from its first fault on.
pub fn none_match_fails(list: &[u8], etag: &[u8]) -> bool {
    let Some(etag) = opaque_tag(etag.trim_ascii()) else { return false };
    if list.trim_ascii() == b"*" {
        return true;
    }
    let mut rest = list;
    loop {
        rest = rest.trim_ascii_start();
        while let Some(r) = rest.strip_prefix(b",") {
            rest = r.trim_ascii_start();
        }
        if rest.is_empty() {
            return false;
        }
        let Some((tag, after)) = entity_tag(rest) else { return false };
        if tag == etag {
            return true;
        }
        rest = after.trim_ascii_start();
        if !rest.is_empty() && !rest.starts_with(b",") {
            return false;
        }
    }
}

/// The first entity tag of `s` (`[W/]"…"`): its opaque tag (quotes included) and what follows.
fn entity_tag(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let s = s.strip_prefix(b"W/").unwrap_or(s);
    let body = s.strip_prefix(b"\"")?;
    let end = body.iter().position(|&b| b == b'"')?;
    let inner = body.get(..end)?;
    // etagc = %x21 / %x23-7E / obs-text
    if inner.iter().any(|&b| b < 0x21 || b == 0x7f) {
        return None;
    }
    Some((s.get(..end + 2)?, body.get(end + 1..)?))
}

/// A whole value that is one entity tag: its opaque tag.
fn opaque_tag(s: &[u8]) -> Option<&[u8]> {
    entity_tag(s).and_then(|(tag, rest)| rest.is_empty().then_some(tag))
}

const MONTHS: [&[u8; 3]; 12] =
    [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];

/// An HTTP-date (RFC 9110 §5.6.7) as seconds since the Unix epoch: the IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`) and the two obsolete forms a recipient must also accept
/// (`Sunday, 06-Nov-94 08:49:37 GMT`, `Sun Nov  6 08:49:37 1994`). The weekday is not checked.
pub fn http_date(value: &[u8]) -> Option<u64> {
    let v = value.trim_ascii();
    if let Some(comma) = v.iter().position(|&b| b == b',') {
        let rest = v.get(comma + 1..)?.strip_prefix(b" ")?;
        if comma == 3 {
            // IMF-fixdate: "06 Nov 1994 08:49:37 GMT"
            if rest.len() != 24 || rest[2] != b' ' || rest[6] != b' ' || rest[11] != b' ' || &rest[20..] != b" GMT" {
                return None;
            }
            let day = digits(&rest[..2])?;
            let month = month(&rest[3..6])?;
            let year = digits(&rest[7..11])?;
            return at(year, month, day, &rest[12..20]);
        }
        // RFC 850: "06-Nov-94 08:49:37 GMT"; a two-digit year within 50 years of now is the
        // nearest such (RFC 9110: past 50 years ahead it is the past century); taken as 19xx
        // from 70 on, else 20xx.
        if rest.len() != 22 || rest[2] != b'-' || rest[6] != b'-' || rest[9] != b' ' || &rest[18..] != b" GMT" {
            return None;
        }
        let day = digits(&rest[..2])?;
        let month = month(&rest[3..6])?;
        let yy = digits(&rest[7..9])?;
        let year = if yy >= 70 { 1900 + yy } else { 2000 + yy };
        return at(year, month, day, &rest[10..18]);
    }
    // asctime: "Sun Nov  6 08:49:37 1994"
    if v.len() != 24 || v[3] != b' ' || v[7] != b' ' || v[10] != b' ' || v[19] != b' ' {
        return None;
    }
    let month = month(&v[4..7])?;
    let day = if v[8] == b' ' { digits(&v[9..10])? } else { digits(&v[8..10])? };
    let year = digits(&v[20..24])?;
    at(year, month, day, &v[11..19])
}

fn month(s: &[u8]) -> Option<u64> {
    MONTHS.iter().position(|m| m.as_slice() == s).map(|i| i as u64 + 1)
}

/// ASCII digits as a number (at most 4 of them here).
fn digits(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0, |n, &d| n * 10 + u64::from(d - b'0')))
}

/// Seconds since the epoch of a date and an `hh:mm:ss` time, or `None` when out of range.
fn at(year: u64, month: u64, day: u64, time: &[u8]) -> Option<u64> {
    if time.len() != 8 || time[2] != b':' || time[5] != b':' {
        return None;
    }
    let (h, m, s) = (digits(&time[..2])?, digits(&time[3..5])?, digits(&time[6..8])?);
    if year < 1970 || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), March-based years.
    let (y, mp) = if month > 2 { (year, month - 3) } else { (year - 1, month + 9) };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}
