//! The decoder on RFC 7541 Appendix C (integers, single fields, three requests and three
//! responses sharing a table) and on hand-made faulty blocks, one per [`DecodeError`]; the
//! header list limit.

use super::super::encode::write_int;
use super::super::testutil::{fields, hex};
use super::super::{DecodeError, Decoded, MAX_INTEGER, MAX_STRING_LEN};
use super::{Decoder, SCRATCH_KEPT, read_int};

type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// Decodes `block` with no list limit: the fields, and each one's never-indexed flag.
fn decode(d: &mut Decoder, block: &[u8]) -> Result<(Fields, Vec<bool>), DecodeError> {
    let mut got = Vec::new();
    let mut never = Vec::new();
    let out = d.decode(block, usize::MAX, |n, v, ni| {
        got.push((n.to_vec(), v.to_vec()));
        never.push(ni);
    })?;
    assert!(!out.over_limit);
    assert_eq!(out.list_size, got.iter().map(|(n, v)| n.len() + v.len() + 32).sum::<usize>());
    Ok((got, never))
}

/// One step of an Appendix C sequence: the block, the list it decodes to, and the dynamic table
/// after it (newest first) with its size.
struct Step {
    block: &'static str,
    list: &'static [(&'static str, &'static str)],
    table: &'static [(&'static str, &'static str)],
    size: usize,
}

fn run(d: &mut Decoder, steps: &[Step]) {
    for (i, s) in steps.iter().enumerate() {
        let (got, never) = decode(d, &hex(s.block)).unwrap_or_else(|e| panic!("block {}: {e:?}", i + 1));
        assert_eq!(got, fields(s.list), "block {}", i + 1);
        assert!(never.iter().all(|&n| !n));
        assert_eq!(d.entries(), fields(s.table), "block {} table", i + 1);
        assert_eq!(d.table_size(), s.size, "block {} size", i + 1);
    }
}

const AUTHORITY: (&str, &str) = (":authority", "www.example.com");
const REQUEST_1: &[(&str, &str)] = &[(":method", "GET"), (":scheme", "http"), (":path", "/"), AUTHORITY];
const REQUEST_2: &[(&str, &str)] =
    &[(":method", "GET"), (":scheme", "http"), (":path", "/"), AUTHORITY, ("cache-control", "no-cache")];
const REQUEST_3: &[(&str, &str)] =
    &[(":method", "GET"), (":scheme", "https"), (":path", "/index.html"), AUTHORITY, ("custom-key", "custom-value")];
const TABLE_1: &[(&str, &str)] = &[AUTHORITY];
const TABLE_2: &[(&str, &str)] = &[("cache-control", "no-cache"), AUTHORITY];
const TABLE_3: &[(&str, &str)] = &[("custom-key", "custom-value"), ("cache-control", "no-cache"), AUTHORITY];

const DATE_1: &str = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE_2: &str = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOCATION: (&str, &str) = ("location", "https://www.example.com");
const COOKIE: &str = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
const RESPONSE_1: &[(&str, &str)] = &[(":status", "302"), ("cache-control", "private"), ("date", DATE_1), LOCATION];
const RESPONSE_2: &[(&str, &str)] = &[(":status", "307"), ("cache-control", "private"), ("date", DATE_1), LOCATION];
const RESPONSE_3: &[(&str, &str)] = &[
    (":status", "200"),
    ("cache-control", "private"),
    ("date", DATE_2),
    LOCATION,
    ("content-encoding", "gzip"),
    ("set-cookie", COOKIE),
];
const R_TABLE_1: &[(&str, &str)] = &[LOCATION, ("date", DATE_1), ("cache-control", "private"), (":status", "302")];
const R_TABLE_2: &[(&str, &str)] = &[(":status", "307"), LOCATION, ("date", DATE_1), ("cache-control", "private")];
const R_TABLE_3: &[(&str, &str)] = &[("set-cookie", COOKIE), ("content-encoding", "gzip"), ("date", DATE_2)];

/// A decoder whose table's maximum is 256, as C.5 and C.6 assume.
fn decoder_256() -> Decoder {
    let mut d = Decoder::new(4096);
    d.set_table_max(256);
    d
}

#[test]
fn c1_integers() {
    for (value, n, wire) in [(10, 5, "0a"), (1337, 5, "1f9a0a"), (42, 8, "2a")] {
        let bytes = hex(wire);
        let mut pos = 0;
        assert_eq!(read_int(&bytes, &mut pos, n), Ok(value));
        assert_eq!(pos, bytes.len());
        let mut out = Vec::new();
        write_int(value, n, 0, &mut out);
        assert_eq!(out, bytes);
    }
    // The flag bits above the prefix are not part of the value.
    let mut pos = 0;
    assert_eq!(read_int(&[0xea], &mut pos, 5), Ok(10));
}

#[test]
fn c2_single_fields() {
    // C.2.1: literal with indexing.
    let mut d = Decoder::new(4096);
    let block = "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572";
    let (got, never) = decode(&mut d, &hex(block)).unwrap();
    assert_eq!((got, never), (fields(&[("custom-key", "custom-header")]), vec![false]));
    assert_eq!((d.entries(), d.table_size()), (fields(&[("custom-key", "custom-header")]), 55));
    // C.2.2: literal without indexing.
    let mut d = Decoder::new(4096);
    let (got, never) = decode(&mut d, &hex("040c 2f73 616d 706c 652f 7061 7468")).unwrap();
    assert_eq!((got, never), (fields(&[(":path", "/sample/path")]), vec![false]));
    assert_eq!(d.table_size(), 0);
    // C.2.3: literal never indexed.
    let mut d = Decoder::new(4096);
    let (got, never) = decode(&mut d, &hex("1008 7061 7373 776f 7264 0673 6563 7265 74")).unwrap();
    assert_eq!((got, never), (fields(&[("password", "secret")]), vec![true]));
    assert_eq!(d.table_size(), 0);
    // C.2.4: indexed.
    let mut d = Decoder::new(4096);
    assert_eq!(decode(&mut d, &hex("82")).unwrap(), (fields(&[(":method", "GET")]), vec![false]));
    assert_eq!(d.table_size(), 0);
}

#[test]
fn c3_requests_without_huffman() {
    run(
        &mut Decoder::new(4096),
        &[
            Step {
                block: "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                list: REQUEST_1,
                table: TABLE_1,
                size: 57,
            },
            Step { block: "8286 84be 5808 6e6f 2d63 6163 6865", list: REQUEST_2, table: TABLE_2, size: 110 },
            Step {
                block: "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
                list: REQUEST_3,
                table: TABLE_3,
                size: 164,
            },
        ],
    );
}

#[test]
fn c4_requests_with_huffman() {
    run(
        &mut Decoder::new(4096),
        &[
            Step { block: "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", list: REQUEST_1, table: TABLE_1, size: 57 },
            Step { block: "8286 84be 5886 a8eb 1064 9cbf", list: REQUEST_2, table: TABLE_2, size: 110 },
            Step {
                block: "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
                list: REQUEST_3,
                table: TABLE_3,
                size: 164,
            },
        ],
    );
}

#[test]
fn c5_responses_without_huffman_evict_at_256() {
    run(
        &mut decoder_256(),
        &[
            Step {
                block: "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
                        2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
                        6c65 2e63 6f6d",
                list: RESPONSE_1,
                table: R_TABLE_1,
                size: 222,
            },
            Step { block: "4803 3330 37c1 c0bf", list: RESPONSE_2, table: R_TABLE_2, size: 222 },
            Step {
                block: "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
                        54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
                        5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
                        3d31",
                list: RESPONSE_3,
                table: R_TABLE_3,
                size: 215,
            },
        ],
    );
}

#[test]
fn c6_responses_with_huffman_evict_at_256() {
    run(
        &mut decoder_256(),
        &[
            Step {
                block: "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                        2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                list: RESPONSE_1,
                table: R_TABLE_1,
                size: 222,
            },
            Step { block: "4883 640e ffc1 c0bf", list: RESPONSE_2, table: R_TABLE_2, size: 222 },
            Step {
                block: "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
                        77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                        9587 3160 65c0 03ed 4ee5 b106 3d50 07",
                list: RESPONSE_3,
                table: R_TABLE_3,
                size: 215,
            },
        ],
    );
}

/// An integer with an `n`-bit prefix under `flags`, as bytes.
fn int(value: usize, n: u32, flags: u8) -> Vec<u8> {
    let mut out = Vec::new();
    write_int(value, n, flags, &mut out);
    out
}

#[test]
fn every_error_class() {
    use DecodeError::*;
    let cases: &[(&str, Vec<u8>, DecodeError)] = &[
        ("literal without its value", vec![0x82, 0x41], Truncated),
        ("integer without its continuation", vec![0x1f], Truncated),
        ("continuation byte announces more", vec![0xff, 0x80], Truncated),
        ("string longer than the block", vec![0x40, 0x01, b'a', 0x05, b'b'], Truncated),
        ("huffman string longer than the block", vec![0x04, 0x83, 0x07], Truncated),
        ("2^31", int(1 << 31, 7, 0x80), IntegerOverflow),
        ("6 continuation bytes", vec![0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], IntegerOverflow),
        ("5 bytes of 7 bits", vec![0x7f, 0xff, 0xff, 0xff, 0xff, 0x7f], IntegerOverflow),
        ("indexed 0", vec![0x80], BadIndex),
        ("indexed past the static table", vec![0xbe], BadIndex),
        ("name index past the tables", vec![0x7e, 0x00], BadIndex),
        ("never-indexed name index past the tables", vec![0x1f, 0x2f, 0x00], BadIndex),
        ("huffman padded with 0s", vec![0x04, 0x81, 0x00], BadHuffman),
        ("huffman EOS", vec![0x04, 0x84, 0xff, 0xff, 0xff, 0xff], BadHuffman),
        ("huffman padding of 8 bits", vec![0x00, 0x82, 0x07, 0xff, 0x00], BadHuffman),
        ("size update above the setting", int(4097, 5, 0x20), SizeUpdateTooLarge),
        ("size update after a field", vec![0x82, 0x20], SizeUpdateNotFirst),
        ("size update at the end", vec![0x20, 0x82, 0x3f, 0xe1, 0x1f], SizeUpdateNotFirst),
    ];
    for (what, block, want) in cases {
        let mut d = Decoder::new(4096);
        assert_eq!(d.decode(block, usize::MAX, |_, _, _| ()), Err(*want), "{what}: {block:02x?}");
    }

    // The largest integer is accepted (as a length, here more than the block holds).
    let mut block = vec![0x00];
    block.extend(int(MAX_INTEGER, 7, 0));
    assert_eq!(Decoder::new(4096).decode(&block, usize::MAX, |_, _, _| ()), Err(Truncated));
    let mut pos = 1;
    assert_eq!(read_int(&block, &mut pos, 7), Ok(MAX_INTEGER));

    // A string over MAX_STRING_LEN that the block holds.
    let mut block = vec![0x00];
    block.extend(int(MAX_STRING_LEN + 1, 7, 0));
    block.resize(block.len() + MAX_STRING_LEN + 1, b'a');
    assert_eq!(Decoder::new(4096).decode(&block, usize::MAX, |_, _, _| ()), Err(StringTooLong));
    // One byte shorter is a name; the value is missing.
    let mut block = vec![0x00];
    block.extend(int(MAX_STRING_LEN, 7, 0));
    block.resize(block.len() + MAX_STRING_LEN, b'a');
    assert_eq!(Decoder::new(4096).decode(&block, usize::MAX, |_, _, _| ()), Err(Truncated));
}

#[test]
fn size_updates() {
    // Several at the start, each within the setting; the last one is the table's maximum.
    let mut d = Decoder::new(8192);
    let mut block = vec![0x20];
    block.extend(int(8192, 5, 0x20));
    block.extend(int(100, 5, 0x20));
    block.extend([0x41, 0x03, b'a', b'.', b'b']);
    let (got, _) = decode(&mut d, &block).unwrap();
    assert_eq!(got, fields(&[(":authority", "a.b")]));
    assert_eq!(d.table.max_size(), 100);
    // An update to 0 empties the table; a block of updates only decodes to nothing.
    assert_eq!(decode(&mut d, &[0x20]).unwrap().0, Fields::new());
    assert_eq!((d.table_size(), d.entries()), (0, Fields::new()));
    assert_eq!(decode(&mut d, &[0xbe]), Err(DecodeError::BadIndex));

    // The setting lowered below the table's maximum: the next block must shrink it.
    let mut d = Decoder::new(4096);
    d.set_max_table_size(1024);
    assert_eq!(decode(&mut d, &[0x82]), Err(DecodeError::SizeUpdateMissing));
    let mut d = Decoder::new(4096);
    d.set_max_table_size(1024);
    assert_eq!(decode(&mut d, &int(1025, 5, 0x20)), Err(DecodeError::SizeUpdateTooLarge));
    let mut d = Decoder::new(4096);
    d.set_max_table_size(1024);
    assert_eq!(decode(&mut d, &[]).unwrap().0, Fields::new(), "an empty block leaves it owed");
    let mut block = int(1024, 5, 0x20);
    block.push(0x82);
    assert_eq!(decode(&mut d, &block).unwrap().0, fields(&[(":method", "GET")]));
    assert_eq!(decode(&mut d, &[0x82]).unwrap().0, fields(&[(":method", "GET")]), "owed once");
    // Raised again: nothing is owed.
    d.set_max_table_size(4096);
    assert_eq!(decode(&mut d, &[0x82]).unwrap().0, fields(&[(":method", "GET")]));
}

#[test]
fn the_list_limit_stops_emitting_but_not_decoding() {
    let mut d = Decoder::new(4096);
    // :method GET (42), then x: yyyy indexed (37), then :path / (38).
    let block = [&[0x82, 0x40, 0x01, b'x', 0x04][..], b"yyyy", &[0x84]].concat();
    let mut got = Vec::new();
    let out = d.decode(&block, 42 + 36, |n, v, _| got.push((n.to_vec(), v.to_vec()))).unwrap();
    assert_eq!(out, Decoded { list_size: 42 + 37 + 38, over_limit: true });
    assert_eq!(got, fields(&[(":method", "GET")]), "nothing after the field that broke the limit");
    // The field past the limit was still added: the next block's reference to it decodes.
    let (got, _) = decode(&mut d, &[0xbe, 0x84]).unwrap();
    assert_eq!(got, fields(&[("x", "yyyy"), (":path", "/")]));
    // Exactly at the limit is within it.
    let mut n = 0;
    let out = d.decode(&[0x82, 0xbe], 42 + 37, |_, _, _| n += 1).unwrap();
    assert_eq!((out, n), (Decoded { list_size: 79, over_limit: false }, 2));
    // A limit of 0 emits nothing.
    let out = d.decode(&[0x82], 0, |_, _, _| panic!("emitted")).unwrap();
    assert_eq!(out, Decoded { list_size: 42, over_limit: true });
}

#[test]
fn a_name_from_an_entry_the_insertion_evicts() {
    // RFC 7541 §4.4: the name is read before the entry is evicted.
    let mut d = Decoder::new(4096);
    d.set_table_max(40);
    assert_eq!(decode(&mut d, &[0x40, 0x03, b'a', b'b', b'c', 0x01, b'1']).unwrap().0, fields(&[("abc", "1")]));
    // Literal with indexing, name = index 62 (the entry it evicts).
    assert_eq!(decode(&mut d, &[0x7e, 0x01, b'2']).unwrap().0, fields(&[("abc", "2")]));
    assert_eq!(d.entries(), fields(&[("abc", "2")]));
    // Without indexing and never indexed, the name is read from the table in place.
    assert_eq!(decode(&mut d, &[0x0f, 0x2f, 0x01, b'3']).unwrap(), (fields(&[("abc", "3")]), vec![false]));
    assert_eq!(decode(&mut d, &[0x1f, 0x2f, 0x01, b'4']).unwrap(), (fields(&[("abc", "4")]), vec![true]));
    assert_eq!(d.entries(), fields(&[("abc", "2")]));
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut d = Decoder::new(4096);
    for round in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 24) as usize;
        let block: Vec<u8> = (0..len).map(|i| (seed >> (i % 8 * 8)) as u8 ^ (i as u8).wrapping_mul(37)).collect();
        if d.decode(&block, 200, |_, _, _| ()).is_err() || round % 100 == 0 {
            d = Decoder::new(4096);
        }
    }
}

#[test]
fn the_scratch_is_reused_and_not_kept_large() {
    let mut d = Decoder::new(4096);
    let block = [&[0x00, 0x03][..], b"x-a", &[0x05], b"hello"].concat();
    decode(&mut d, &block).unwrap();
    let warm = d.scratch.capacity();
    assert!(warm > 0);
    for _ in 0..10 {
        decode(&mut d, &block).unwrap();
        assert_eq!(d.scratch.capacity(), warm);
    }
    let mut big = vec![0x00, 0x03, b'x', b'-', b'b'];
    big.extend(int(100_000, 7, 0));
    big.resize(big.len() + 100_000, b'v');
    let (got, _) = decode(&mut d, &big).unwrap();
    assert_eq!(got[0].1.len(), 100_000);
    assert!(d.scratch.capacity() <= SCRATCH_KEPT);
}
