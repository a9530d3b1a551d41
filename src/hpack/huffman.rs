//! The HPACK Huffman code (RFC 7541 §5.2, Appendix B): an encoder over the code table, and a
//! decoder that walks a nibble-at-a-time state table built from the same table at compile time.
//!
//! The decoder's states are the 256 inner nodes of the code tree (the root is state 0). From any
//! state, four bits complete at most one symbol (the shortest code is 5 bits long), so each of the
//! 256 × 16 steps says the next state, and whether a symbol was completed or the EOS symbol reached
//! (an error: RFC 7541 §5.2). A string may end only in an *accepting* state: the root, or a node
//! reached from it by one to seven 1-bits (the padding is a prefix of EOS, at most 7 bits).

use super::DecodeError;

/// The code of each symbol (0–255, and EOS as 256): `(code, length in bits)`, the code in the low
/// bits. RFC 7541 Appendix B, transcribed as data; proven by the tests (a canonical, complete
/// prefix code) and by the Appendix C vectors.
#[rustfmt::skip]
pub(super) const CODES: [(u32, u8); 257] = [
    // 0–31: control characters
    (0x1ff8, 13), (0x7fffd8, 23), (0xfffffe2, 28), (0xfffffe3, 28),
    (0xfffffe4, 28), (0xfffffe5, 28), (0xfffffe6, 28), (0xfffffe7, 28),
    (0xfffffe8, 28), (0xffffea, 24), (0x3ffffffc, 30), (0xfffffe9, 28),
    (0xfffffea, 28), (0x3ffffffd, 30), (0xfffffeb, 28), (0xfffffec, 28),
    (0xfffffed, 28), (0xfffffee, 28), (0xfffffef, 28), (0xffffff0, 28),
    (0xffffff1, 28), (0xffffff2, 28), (0x3ffffffe, 30), (0xffffff3, 28),
    (0xffffff4, 28), (0xffffff5, 28), (0xffffff6, 28), (0xffffff7, 28),
    (0xffffff8, 28), (0xffffff9, 28), (0xffffffa, 28), (0xffffffb, 28),
    // 32–63: ' ' ! " # $ % & ' ( ) * + , - . / 0–9 : ; < = > ?
    (0x14, 6), (0x3f8, 10), (0x3f9, 10), (0xffa, 12),
    (0x1ff9, 13), (0x15, 6), (0xf8, 8), (0x7fa, 11),
    (0x3fa, 10), (0x3fb, 10), (0xf9, 8), (0x7fb, 11),
    (0xfa, 8), (0x16, 6), (0x17, 6), (0x18, 6),
    (0x0, 5), (0x1, 5), (0x2, 5), (0x19, 6),
    (0x1a, 6), (0x1b, 6), (0x1c, 6), (0x1d, 6),
    (0x1e, 6), (0x1f, 6), (0x5c, 7), (0xfb, 8),
    (0x7ffc, 15), (0x20, 6), (0xffb, 12), (0x3fc, 10),
    // 64–95: @ A–Z [ \ ] ^ _
    (0x1ffa, 13), (0x21, 6), (0x5d, 7), (0x5e, 7),
    (0x5f, 7), (0x60, 7), (0x61, 7), (0x62, 7),
    (0x63, 7), (0x64, 7), (0x65, 7), (0x66, 7),
    (0x67, 7), (0x68, 7), (0x69, 7), (0x6a, 7),
    (0x6b, 7), (0x6c, 7), (0x6d, 7), (0x6e, 7),
    (0x6f, 7), (0x70, 7), (0x71, 7), (0x72, 7),
    (0xfc, 8), (0x73, 7), (0xfd, 8), (0x1ffb, 13),
    (0x7fff0, 19), (0x1ffc, 13), (0x3ffc, 14), (0x22, 6),
    // 96–127: ` a–z { | } ~ DEL
    (0x7ffd, 15), (0x3, 5), (0x23, 6), (0x4, 5),
    (0x24, 6), (0x5, 5), (0x25, 6), (0x26, 6),
    (0x27, 6), (0x6, 5), (0x74, 7), (0x75, 7),
    (0x28, 6), (0x29, 6), (0x2a, 6), (0x7, 5),
    (0x2b, 6), (0x76, 7), (0x2c, 6), (0x8, 5),
    (0x9, 5), (0x2d, 6), (0x77, 7), (0x78, 7),
    (0x79, 7), (0x7a, 7), (0x7b, 7), (0x7ffe, 15),
    (0x7fc, 11), (0x3ffd, 14), (0x1ffd, 13), (0xffffffc, 28),
    // 128–159
    (0xfffe6, 20), (0x3fffd2, 22), (0xfffe7, 20), (0xfffe8, 20),
    (0x3fffd3, 22), (0x3fffd4, 22), (0x3fffd5, 22), (0x7fffd9, 23),
    (0x3fffd6, 22), (0x7fffda, 23), (0x7fffdb, 23), (0x7fffdc, 23),
    (0x7fffdd, 23), (0x7fffde, 23), (0xffffeb, 24), (0x7fffdf, 23),
    (0xffffec, 24), (0xffffed, 24), (0x3fffd7, 22), (0x7fffe0, 23),
    (0xffffee, 24), (0x7fffe1, 23), (0x7fffe2, 23), (0x7fffe3, 23),
    (0x7fffe4, 23), (0x1fffdc, 21), (0x3fffd8, 22), (0x7fffe5, 23),
    (0x3fffd9, 22), (0x7fffe6, 23), (0x7fffe7, 23), (0xffffef, 24),
    // 160–191
    (0x3fffda, 22), (0x1fffdd, 21), (0xfffe9, 20), (0x3fffdb, 22),
    (0x3fffdc, 22), (0x7fffe8, 23), (0x7fffe9, 23), (0x1fffde, 21),
    (0x7fffea, 23), (0x3fffdd, 22), (0x3fffde, 22), (0xfffff0, 24),
    (0x1fffdf, 21), (0x3fffdf, 22), (0x7fffeb, 23), (0x7fffec, 23),
    (0x1fffe0, 21), (0x1fffe1, 21), (0x3fffe0, 22), (0x1fffe2, 21),
    (0x7fffed, 23), (0x3fffe1, 22), (0x7fffee, 23), (0x7fffef, 23),
    (0xfffea, 20), (0x3fffe2, 22), (0x3fffe3, 22), (0x3fffe4, 22),
    (0x7ffff0, 23), (0x3fffe5, 22), (0x3fffe6, 22), (0x7ffff1, 23),
    // 192–223
    (0x3ffffe0, 26), (0x3ffffe1, 26), (0xfffeb, 20), (0x7fff1, 19),
    (0x3fffe7, 22), (0x7ffff2, 23), (0x3fffe8, 22), (0x1ffffec, 25),
    (0x3ffffe2, 26), (0x3ffffe3, 26), (0x3ffffe4, 26), (0x7ffffde, 27),
    (0x7ffffdf, 27), (0x3ffffe5, 26), (0xfffff1, 24), (0x1ffffed, 25),
    (0x7fff2, 19), (0x1fffe3, 21), (0x3ffffe6, 26), (0x7ffffe0, 27),
    (0x7ffffe1, 27), (0x3ffffe7, 26), (0x7ffffe2, 27), (0xfffff2, 24),
    (0x1fffe4, 21), (0x1fffe5, 21), (0x3ffffe8, 26), (0x3ffffe9, 26),
    (0xffffffd, 28), (0x7ffffe3, 27), (0x7ffffe4, 27), (0x7ffffe5, 27),
    // 224–255
    (0xfffec, 20), (0xfffff3, 24), (0xfffed, 20), (0x1fffe6, 21),
    (0x3fffe9, 22), (0x1fffe7, 21), (0x1fffe8, 21), (0x7ffff3, 23),
    (0x3fffea, 22), (0x3fffeb, 22), (0x1ffffee, 25), (0x1ffffef, 25),
    (0xfffff4, 24), (0xfffff5, 24), (0x3ffffea, 26), (0x7ffff4, 23),
    (0x3ffffeb, 26), (0x7ffffe6, 27), (0x3ffffec, 26), (0x3ffffed, 26),
    (0x7ffffe7, 27), (0x7ffffe8, 27), (0x7ffffe9, 27), (0x7ffffea, 27),
    (0x7ffffeb, 27), (0xffffffe, 28), (0x7ffffec, 27), (0x7ffffed, 27),
    (0x7ffffee, 27), (0x7ffffef, 27), (0x7fffff0, 27), (0x3ffffee, 26),
    // 256: EOS
    (0x3fffffff, 30),
];

/// The EOS symbol's index in [`CODES`].
const EOS: usize = 256;

/// The length in bytes of `src` Huffman-coded (padding included).
pub(super) fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src.iter().map(|&b| usize::from(CODES[usize::from(b)].1)).sum();
    bits.div_ceil(8)
}

/// Appends `src` Huffman-coded to `dst`, padded with the high bits of EOS (1s).
pub(super) fn encode(src: &[u8], dst: &mut Vec<u8>) {
    // `bits` holds the `n` (< 8 between symbols) bits not yet written, in its low bits.
    let mut bits: u64 = 0;
    let mut n: u32 = 0;
    for &b in src {
        let (code, len) = CODES[usize::from(b)];
        bits = (bits << len) | u64::from(code);
        n += u32::from(len);
        while n >= 8 {
            n -= 8;
            dst.push((bits >> n) as u8);
        }
        bits &= (1 << n) - 1;
    }
    if n > 0 {
        dst.push(((bits << (8 - n)) as u8) | (0xff >> n));
    }
}

/// Decodes the Huffman-coded `src`, appending the bytes to `dst`.
///
/// # Errors
/// [`DecodeError::BadHuffman`]: the EOS symbol is coded, or the padding is longer than 7 bits or
/// not a prefix of EOS (all 1s). `dst` then holds what was decoded before the fault.
pub(super) fn decode(src: &[u8], dst: &mut Vec<u8>) -> Result<(), DecodeError> {
    // At most 8/5 bytes out per byte in.
    dst.reserve(src.len() + src.len() / 2 + src.len() / 8 + 1);
    let mut state = 0usize;
    for &b in src {
        for nibble in [b >> 4, b & 0x0f] {
            let step = DECODE.steps[state][usize::from(nibble)];
            if step.flags & FAIL != 0 {
                return Err(DecodeError::BadHuffman);
            }
            if step.flags & EMIT != 0 {
                dst.push(step.sym);
            }
            state = usize::from(step.next);
        }
    }
    if DECODE.accepting[state] { Ok(()) } else { Err(DecodeError::BadHuffman) }
}

/// A step's flag: a symbol was completed (`sym`).
const EMIT: u8 = 1;
/// A step's flag: the EOS symbol was completed, an error.
const FAIL: u8 = 2;

/// One step of the decoder: four bits read in some state.
#[derive(Clone, Copy)]
struct Step {
    /// The state after the four bits (the root once a symbol completes on the last bit).
    next: u8,
    /// The symbol completed, if `flags` has [`EMIT`].
    sym: u8,
    /// [`EMIT`], [`FAIL`].
    flags: u8,
}

/// The decoder's tables, built from [`CODES`] at compile time (a malformed code table fails the build).
struct DecodeTable {
    /// `steps[state][nibble]`.
    steps: [[Step; 16]; 256],
    /// Whether a string may end in the state (see the module doc).
    accepting: [bool; 256],
}

static DECODE: DecodeTable = build();

/// A child in the code tree under construction: a leaf (`LEAF | symbol`), an inner node's id, or
/// 0 for none yet (the root, id 0, is nobody's child).
const LEAF: u16 = 0x8000;

const fn build() -> DecodeTable {
    // The code tree: `kids[node][bit]`.
    let mut kids = [[0u16; 2]; 256];
    let mut nodes = 1;
    let mut sym = 0;
    while sym <= EOS {
        let (code, len) = CODES[sym];
        let mut node = 0;
        let mut i = len;
        while i > 1 {
            i -= 1;
            let bit = ((code >> i) & 1) as usize;
            let kid = kids[node][bit];
            if kid & LEAF != 0 {
                panic!("a code is a prefix of another");
            }
            if kid == 0 {
                assert!(nodes < 256, "more than 256 inner nodes: not a complete prefix code");
                kids[node][bit] = nodes as u16;
                node = nodes;
                nodes += 1;
            } else {
                node = kid as usize;
            }
        }
        let bit = (code & 1) as usize;
        assert!(kids[node][bit] == 0, "a code is a prefix of another");
        kids[node][bit] = LEAF | sym as u16;
        sym += 1;
    }
    assert!(nodes == 256, "not a complete prefix code");

    // Accepting states: the root and the first seven nodes down the all-1s path.
    let mut accepting = [false; 256];
    accepting[0] = true;
    let mut node = 0;
    let mut depth = 1;
    while depth <= 7 {
        let kid = kids[node][1];
        assert!(kid & LEAF == 0 && kid != 0, "EOS is not the all-1s code");
        node = kid as usize;
        accepting[node] = true;
        depth += 1;
    }

    let empty = Step { next: 0, sym: 0, flags: 0 };
    let mut steps = [[empty; 16]; 256];
    let mut state = 0;
    while state < 256 {
        let mut nibble = 0;
        while nibble < 16 {
            let mut step = empty;
            let mut node = state;
            let mut i = 4;
            while i > 0 {
                i -= 1;
                let kid = kids[node][(nibble >> i) & 1];
                if kid & LEAF == 0 {
                    node = kid as usize;
                } else if (kid & !LEAF) as usize == EOS {
                    step.flags = FAIL;
                    break;
                } else {
                    assert!(step.flags & EMIT == 0, "two symbols in four bits");
                    step.flags = EMIT;
                    step.sym = (kid & !LEAF) as u8;
                    node = 0;
                }
            }
            step.next = node as u8;
            steps[state][nibble] = step;
            nibble += 1;
        }
        state += 1;
    }
    DecodeTable { steps, accepting }
}

#[cfg(test)]
#[path = "huffman_tests.rs"]
mod tests;
