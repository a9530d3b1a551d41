//! The response cache's conditional-request parsing: `If-None-Match` lists and HTTP-dates.
//!
//! The input is split at its first NUL into a request's header value and a stored answer's
//! `ETag`; nothing may panic, and the verdicts must hold their invariants: `*` and an `ETag`'s
//! own value always match it, a list keeps matching when more tags follow it, a date's three
//! forms agree (a parsed IMF-fixdate printed in the other forms parses to the same second).
#![no_main]

use hsys::cache::conditional::{http_date, none_match_fails, not_modified};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (value, etag) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"\"x\""[..]),
    };
    let matched = none_match_fails(value, etag);
    let date = http_date(value);
    let _ = not_modified(Some(value), Some(etag), Some(etag), date);
    let _ = not_modified(None, Some(value), None, http_date(etag));
    if none_match_fails(etag, etag) {
        // A well-formed tag matches itself, `*`, and a list that holds it.
        assert!(none_match_fails(b"*", etag));
        let mut list = etag.to_vec();
        list.extend_from_slice(b", \"other\"");
        assert!(none_match_fails(&list, etag));
    }
    if matched {
        // A list that matched still matches with more tags after it.
        let mut longer = value.to_vec();
        longer.extend_from_slice(b", \"zz\"");
        assert!(none_match_fails(&longer, etag) || value.trim_ascii() == b"*");
    }
    if let Some(t) = date
        && value.trim_ascii().len() == 29
        && value.trim_ascii().get(3) == Some(&b',')
    {
        // IMF-fixdate: the same moment in asctime form parses alike.
        let v = value.trim_ascii();
        // Built from bytes, not strings: the weekday is not checked and may be any bytes.
        let day = &v[5..7];
        let day: &[u8] = if day[0] == b'0' { &[b' ', day[1]] } else { day };
        let asctime = [&v[..3], b" ", &v[8..11], b" ", day, b" ", &v[17..25], b" ", &v[12..16]].concat();
        assert_eq!(http_date(&asctime), Some(t), "{:?}", String::from_utf8_lossy(&asctime));
    }
});
