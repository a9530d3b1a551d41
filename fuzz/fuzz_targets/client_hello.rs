//! The ClientHello peek (`hsys::tls::hello::peek`): nothing a peer sends may panic, and its
//! answers must agree with each other:
//! - verdicts are final: every prefix of an input gives `NeedMore` or the whole input's answer
//!   (so a hello that trickles in is never refused, nor a refused one accepted later);
//! - `NotTls` only when the first record header's type or version is not a TLS handshake's;
//! - a `Hello`'s name is a DNS name as rustls takes it (letters, digits, `-`, `.`, `_`);
//! - a hello in one record, re-fragmented over two and three records, gives the same `Hello`.
#![no_main]

use hsys::tls::hello::{MAX_HELLO, Peek, peek};
use libfuzzer_sys::fuzz_target;

/// Every prefix up to this length is checked; beyond it, a sample.
const ALL_PREFIXES: usize = 256;

fuzz_target!(|data: &[u8]| {
    let whole = peek(data);

    // Verdicts are final. The shortest prefix with a verdict, by bisection (answers only go
    // from NeedMore to one verdict), then the prefixes around it and a spread of others.
    let final_at = |n: usize| {
        let part = peek(&data[..n]);
        assert!(part == Peek::NeedMore || part == whole, "{n} bytes: {part:?}, all {}: {whole:?}", data.len());
        part != Peek::NeedMore
    };
    let (mut lo, mut hi) = (0, data.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if final_at(mid) { hi = mid } else { lo = mid + 1 }
    }
    if whole != Peek::NeedMore {
        assert!(final_at(lo), "no verdict at {lo} bytes");
        assert!(lo == 0 || !final_at(lo - 1));
    }
    let step = (data.len() / 64).max(1);
    for n in (0..data.len().min(ALL_PREFIXES)).chain((ALL_PREFIXES..data.len()).step_by(step)) {
        final_at(n);
    }

    match &whole {
        Peek::NotTls => {
            let header = data.get(..3).unwrap_or(data);
            assert!(header.first() != Some(&22) || header.get(1) != Some(&3) || header.get(2).is_some_and(|&v| v > 4));
        }
        Peek::Hello { server_name } => {
            assert_eq!(data.first(), Some(&22));
            if let Some(name) = server_name {
                assert!(!name.is_empty() && name.len() <= 254);
                assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)), "{name:?}");
            }
            refragmented(data, &whole);
        }
        Peek::NeedMore | Peek::TooLarge | Peek::Malformed => {}
    }
});

/// If the hello's message lies in its first record, the same message cut into two and three
/// records (at points taken from the input) gives the same answer.
fn refragmented(data: &[u8], whole: &Peek<'_>) {
    let Some(&[_, _, _, hi, lo]) = data.get(..5) else { return };
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    let Some(record) = data.get(5..5 + len) else { return };
    let Some(&[_, a, b, c]) = record.get(..4) else { return };
    let total = 4 + (usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c));
    let Some(message) = record.get(..total) else { return };
    if message.len() < 3 {
        return;
    }
    let seed = usize::from(data.last().copied().unwrap_or(0)) + data.len();
    let first = 1 + seed % (message.len() - 1);
    let second = first + 1 + (seed / 7) % (message.len() - first).max(1);
    for cuts in [vec![first], vec![first, second.min(message.len() - 1).max(first + 1)]] {
        let mut bytes = Vec::with_capacity(message.len() + 15);
        let mut from = 0;
        for to in cuts.into_iter().chain([message.len()]) {
            let Some(fragment) = message.get(from..to).filter(|f| !f.is_empty()) else { continue };
            bytes.extend_from_slice(&[22, 3, 1]);
            bytes.extend_from_slice(&u16::try_from(fragment.len()).unwrap_or(0).to_be_bytes());
            bytes.extend_from_slice(fragment);
            from = to;
        }
        let again = peek(&bytes);
        // Each extra record header costs 5 bytes of the bound.
        if bytes.len() <= MAX_HELLO {
            assert_eq!(&again, whole, "re-fragmented at {from}");
        } else {
            assert_eq!(again, Peek::TooLarge);
        }
    }
}
