//! The Huffman code: the transcribed table is a canonical, complete prefix code, and RFC 7541
//! Appendix C's strings code as printed; bad padding and EOS are refused.

use super::super::DecodeError;
use super::super::testutil::hex;
use super::{CODES, EOS, decode, encode, encoded_len};

/// The strings Huffman-coded in RFC 7541 C.4 and C.6, as printed there.
const APPENDIX_C: &[(&str, &str)] = &[
    ("www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"),
    ("no-cache", "a8eb 1064 9cbf"),
    ("custom-key", "25a8 49e9 5ba9 7d7f"),
    ("custom-value", "25a8 49e9 5bb8 e8b4 bf"),
    ("302", "6402"),
    ("307", "640e ff"),
    ("private", "aec3 771a 4b"),
    ("Mon, 21 Oct 2013 20:13:21 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"),
    ("Mon, 21 Oct 2013 20:13:22 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff"),
    ("https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"),
    ("gzip", "9bd9 ab"),
    (
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
        "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    ),
];

fn decoded(src: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    decode(src, &mut out).map(|()| out)
}

#[test]
fn the_table_is_a_canonical_complete_prefix_code() {
    // Canonical (RFC 7541's code is): ordered by (length, symbol), each code is the previous
    // one plus 1, shifted to its length. A transcription slip in a code or a length breaks it.
    let mut order: Vec<usize> = (0..=EOS).collect();
    order.sort_by_key(|&s| (CODES[s].1, s));
    let (mut prev_code, mut prev_len) = (CODES[order[0]].0, CODES[order[0]].1);
    assert_eq!((prev_code, prev_len), (0, 5));
    for &s in &order[1..] {
        let (code, len) = CODES[s];
        assert_eq!(code, (prev_code + 1) << (len - prev_len), "symbol {s}");
        (prev_code, prev_len) = (code, len);
    }
    // Complete: the last code is all 1s (EOS, 30 bits), and Kraft's sum is exactly 1.
    assert_eq!(order[EOS], EOS);
    assert_eq!(CODES[EOS], ((1 << 30) - 1, 30));
    let kraft: u64 = CODES.iter().map(|&(_, len)| 1u64 << (30 - len)).sum();
    assert_eq!(kraft, 1 << 30);
    // Every code fits its length.
    assert!(CODES.iter().all(|&(code, len)| (5..=30).contains(&len) && u64::from(code) < 1 << len));
}

#[test]
fn appendix_c_strings_code_as_printed() {
    for &(text, wire) in APPENDIX_C {
        let mut out = Vec::new();
        encode(text.as_bytes(), &mut out);
        assert_eq!(out, hex(wire), "{text}");
        assert_eq!(encoded_len(text.as_bytes()), out.len(), "{text}");
        assert_eq!(decoded(&out).unwrap(), text.as_bytes(), "{text}");
    }
}

#[test]
fn every_byte_round_trips() {
    let all: Vec<u8> = (0..=255).collect();
    let mut out = Vec::new();
    encode(&all, &mut out);
    assert_eq!(decoded(&out).unwrap(), all);
    for b in 0..=255u8 {
        for n in 1..=3 {
            let src = vec![b; n];
            let mut out = Vec::new();
            encode(&src, &mut out);
            assert_eq!(out.len(), encoded_len(&src));
            assert_eq!(decoded(&out).unwrap(), src, "{b} × {n}");
        }
    }
    assert_eq!(decoded(b"").unwrap(), b"");
}

#[test]
fn padding_must_be_at_most_7_one_bits() {
    // '0' is 00000: with 111 it is one byte, correctly padded.
    assert_eq!(decoded(&[0x07]).unwrap(), b"0");
    // Padding of 0s (a prefix of no valid code's end).
    assert_eq!(decoded(&[0x00]), Err(DecodeError::BadHuffman));
    assert_eq!(decoded(&[0x06]), Err(DecodeError::BadHuffman));
    // A whole byte of padding after the symbol's own: 11 one bits.
    assert_eq!(decoded(&[0x07, 0xff]), Err(DecodeError::BadHuffman));
    // Nothing but padding: 8 bits is too long, and 0xff alone no symbol.
    assert_eq!(decoded(&[0xff]), Err(DecodeError::BadHuffman));
    // '\0' (13 bits) with 3 bits of padding; then a string that ends 16 bits into '\\' (19 bits).
    assert_eq!(decoded(&[0xff, 0xc7]).unwrap(), b"\0");
    assert_eq!(decoded(&[0xff, 0xfe]), Err(DecodeError::BadHuffman));
}

#[test]
fn eos_is_refused() {
    // 30 one bits are EOS, even followed by valid padding.
    assert_eq!(decoded(&[0xff, 0xff, 0xff, 0xfc]), Err(DecodeError::BadHuffman));
    assert_eq!(decoded(&[0xff, 0xff, 0xff, 0xff]), Err(DecodeError::BadHuffman));
    // 'a' (00011) then EOS.
    let mut src = Vec::new();
    let bits: u64 = (0b00011 << 30) | ((1 << 30) - 1);
    let total = 35;
    let padded = (bits << 5) | 0x1f;
    for i in (0..(total + 5) / 8).rev() {
        src.push((padded >> (i * 8)) as u8);
    }
    assert_eq!(decoded(&src), Err(DecodeError::BadHuffman));
}
