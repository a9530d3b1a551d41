//! Request heads: `parse_head`, then the line-end check and the framing rules on what it accepts.
//!
//! Nothing a peer sends may panic, and the parser's answers must agree with each other:
//! - a complete head lies within the input and within the limits it was parsed under;
//! - the blank-line scan (`may_be_complete`) that `Conn` uses before re-parsing a partial head
//!   finds the end of every head `parse_head` accepts, so a trickling head is never stuck;
//! - lenient line ends accept every head strict ones do;
//! - tighter limits never turn a refused head into an accepted one, nor change a head's length.
#![no_main]

use std::mem::MaybeUninit;

use hsys::Strictness;
use hsys::h1::{framing, parse};
use hsys::limits::{Limits, MAX_HEADERS_CAP};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
    let len = match parse::parse_head(data, &mut slots, &limits) {
        Ok(Some(head)) => {
            assert!(head.len <= data.len() && head.len <= limits.max_request_bytes);
            assert!(head.req.headers.len() <= limits.max_headers);
            let raw = &data[..head.len];
            assert!(
                parse::may_be_complete(raw, head.len.saturating_sub(1)),
                "blank-line scan misses the end of {raw:?}"
            );
            let minor = head.req.version.unwrap_or(1);
            let lines = framing::check_line_endings(raw, Strictness::Strict);
            if lines.is_ok() {
                assert_eq!(
                    framing::check_line_endings(raw, Strictness::Lenient),
                    Ok(()),
                    "lenient refuses a strict head"
                );
            }
            let framed = framing::request_framing(minor, head.req.path.unwrap_or_default(), head.req.headers);
            if let Err(e) = lines.and(framed.map(|_| ())) {
                assert!((400..=505).contains(&e.status()));
                let _ = e.to_string();
            }
            if let Ok(f) = framed {
                let _ = f.persistent(minor);
            }
            Some(head.len)
        }
        Ok(None) => {
            assert!(data.len() <= limits.max_request_bytes);
            None
        }
        Err(e) => {
            assert!(matches!(e.status(), 400 | 414 | 431 | 505));
            return;
        }
    };

    // The same bytes under tight limits: either refused, or the same head.
    let tight = Limits::default().max_request_bytes(64).max_url_length(16).max_headers(4);
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; 8];
    match parse::parse_head(data, &mut slots, &tight) {
        Ok(Some(head)) => assert_eq!(Some(head.len), len, "tight limits changed the head's length"),
        Ok(None) => assert!(len.is_none(), "tight limits turned a complete head into a partial one"),
        Err(_) => {}
    }
});
