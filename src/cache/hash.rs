//! The key hash of the response cache's table: keyed by two random words per store, built from
//! folded 64×64→128-bit multiplies over 8-byte words (as foldhash and ahash's fallback do).
//!
//! A hit hashes its key once per request; SipHash-1-3 (`RandomState`), through `Hash` for
//! `(u16, &[u8], &str)`, took ~416 instructions for `127.0.0.1:port` + `/` — more than the
//! rest of the hit. This takes ~40. The seeds are secret and per store, so a client still
//! cannot aim its keys at one bucket without seeing the hashes (it never does: the table is
//! only probed).

use std::hash::{BuildHasher, RandomState};

/// Two odd constants (digits of π) that spread a word before the seeded fold.
const MUL0: u64 = 0x243f_6a88_85a3_08d3;
const MUL1: u64 = 0x1319_8a2e_0370_7345;

/// The cache's keyed hasher.
#[derive(Clone, Copy, Debug)]
pub struct KeyHasher {
    seed: [u64; 2],
}

/// The high and low halves of `a × b`, folded by xor.
#[inline(always)]
fn fold(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

/// `bytes` (at most 8) as a little-endian word: two overlapping reads, no loop.
#[inline(always)]
fn short(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    let at = |i: usize| u64::from(bytes.get(i).copied().unwrap_or(0));
    if n >= 4 {
        let lo = bytes.first_chunk::<4>().map_or(0, |c| u64::from(u32::from_le_bytes(*c)));
        let hi = bytes.last_chunk::<4>().map_or(0, |c| u64::from(u32::from_le_bytes(*c)));
        lo | (hi << 32)
    } else if n > 0 {
        at(0) | (at(n / 2) << 8) | (at(n - 1) << 16)
    } else {
        0
    }
}

impl KeyHasher {
    /// A hasher with fresh random seeds.
    pub fn new() -> Self {
        let random = RandomState::new();
        KeyHasher { seed: [random.hash_one(0u64) | 1, random.hash_one(1u64)] }
    }

    /// Folds `bytes` into `h`: a word at a time, the tail (and the length) last.
    #[inline(always)]
    fn absorb(&self, mut h: u64, bytes: &[u8]) -> u64 {
        let mut rest = bytes;
        while let Some((word, tail)) = rest.split_first_chunk::<8>() {
            h = fold(h ^ u64::from_le_bytes(*word), MUL0 ^ self.seed[1]);
            rest = tail;
        }
        fold(h ^ short(rest) ^ ((bytes.len() as u64) << 56), MUL1 ^ self.seed[0])
    }

    /// The hash of the key (`port`, `host`, `path`).
    #[inline]
    pub fn hash(&self, port: u16, host: &[u8], path: &[u8]) -> u64 {
        let h = fold(self.seed[0] ^ u64::from(port), MUL1);
        let h = self.absorb(h, host);
        self.absorb(h, path)
    }
}

#[cfg(test)]
mod tests {
    use super::KeyHasher;

    #[test]
    fn keys_that_differ_hash_apart_and_equal_ones_alike() {
        let h = KeyHasher::new();
        let keys: &[(u16, &[u8], &[u8])] = &[
            (80, b"a", b"/"),
            (81, b"a", b"/"),
            (80, b"a/", b""),
            (80, b"", b"a/"),
            (80, b"example.com", b"/index.html"),
            (80, b"example.com", b"/index.htm"),
            (80, b"example.com", b"/index.htmm"),
            (80, b"example.co", b"m/index.html"),
            (80, b"127.0.0.1:8080", b"/"),
            (80, b"127.0.0.1:8081", b"/"),
            (80, b"", b""),
        ];
        for (i, a) in keys.iter().enumerate() {
            assert_eq!(h.hash(a.0, a.1, a.2), h.hash(a.0, a.1, a.2));
            for b in keys.get(i + 1..).unwrap_or_default() {
                assert_ne!(h.hash(a.0, a.1, a.2), h.hash(b.0, b.1, b.2), "{a:?} {b:?}");
            }
        }
        // Another store's hasher has other seeds.
        assert_ne!(KeyHasher::new().hash(80, b"a", b"/"), h.hash(80, b"a", b"/"));
    }

    #[test]
    fn every_byte_and_length_counts() {
        let h = KeyHasher::new();
        let base = b"abcdefghijklmnopqrstuvwxyz".to_vec();
        for len in 0..base.len() {
            let key = base.get(..len).unwrap_or_default();
            let whole = h.hash(1, b"", key);
            for i in 0..len {
                let mut flipped = key.to_vec();
                if let Some(b) = flipped.get_mut(i) {
                    *b ^= 0x20;
                }
                assert_ne!(h.hash(1, b"", &flipped), whole, "len {len} byte {i}");
            }
        }
    }
}
