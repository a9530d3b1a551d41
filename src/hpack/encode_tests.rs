//! The encoder: what it sends for each kind of field (indexed, literal indexed or not, never
//! indexed, Huffman only when shorter), RFC 7541 C.6 reproduced byte for byte, size updates when
//! the peer's table size changes, and every block decoding back to the same list with the
//! decoder's table in step.

use super::super::Decoder;
use super::super::testutil::hex;
use super::{ENCODER_TABLE_MAX, Encoder, MAX_INDEXED_FIELD};

/// A field to encode: name, value, sensitive.
type Field<'a> = (&'a str, &'a str, bool);

/// Encodes one block: `begin_block`, the status if any, the fields.
fn encode(e: &mut Encoder, status: Option<u16>, list: &[Field<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    e.begin_block(&mut out);
    if let Some(s) = status {
        e.status(s, &mut out);
    }
    for &(n, v, sensitive) in list {
        e.field(n.as_bytes(), v.as_bytes(), sensitive, &mut out);
    }
    out
}

/// Encodes a block and decodes it; checks the decoded list is the encoded one and the tables agree.
fn round_trip(e: &mut Encoder, d: &mut Decoder, status: Option<u16>, list: &[Field<'_>]) -> Vec<u8> {
    let block = encode(e, status, list);
    let mut want: Vec<(String, String, bool)> = Vec::new();
    if let Some(s) = status {
        want.push((":status".into(), s.to_string(), false));
    }
    want.extend(list.iter().map(|&(n, v, s)| (n.to_string(), v.to_string(), s)));
    let mut got = Vec::new();
    d.decode(&block, usize::MAX, |n, v, s| {
        got.push((String::from_utf8(n.to_vec()).unwrap(), String::from_utf8(v.to_vec()).unwrap(), s))
    })
    .unwrap();
    assert_eq!(got, want, "block {block:02x?}");
    assert_eq!(d.table_size(), e.table_size());
    assert_eq!(d.entries(), e.table_entries());
    block
}

impl Encoder {
    fn table_entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        (1..=self.table.len()).filter_map(|i| self.table.get(i)).map(|(n, v)| (n.to_vec(), v.to_vec())).collect()
    }
}

#[test]
fn statuses() {
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    for (status, index) in [(200, 8), (204, 9), (206, 10), (304, 11), (400, 12), (404, 13), (500, 14)] {
        assert_eq!(round_trip(&mut e, &mut d, Some(status), &[]), [0x80 | index]);
    }
    // 302: a literal with indexed name 8, Huffman-coded (C.6.1's first field), then indexed.
    assert_eq!(round_trip(&mut e, &mut d, Some(302), &[]), hex("4882 6402"));
    assert_eq!(round_trip(&mut e, &mut d, Some(302), &[]), [0xbe]);
    for status in [100, 101, 201, 301, 307, 418, 503, 999] {
        round_trip(&mut e, &mut d, Some(status), &[]);
    }
}

#[test]
fn a_repeated_answer_is_a_few_bytes() {
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    let answer = [
        ("server", "hsys", false),
        ("date", "Tue, 01 Jul 2025 12:00:00 GMT", false),
        ("content-type", "text/plain", false),
        ("content-length", "5", false),
    ];
    let first = round_trip(&mut e, &mut d, Some(200), &answer);
    assert_eq!(first[0], 0x88);
    assert_eq!(first[1], 0x40 | 54, "server: literal with indexing, static name");
    // Indexed from the dynamic table (newest first: content-type 62, date 63, server 64), and
    // content-length a literal without indexing (name 28).
    let again = round_trip(&mut e, &mut d, Some(200), &answer);
    assert_eq!(again, [0x88, 0xc0, 0xbf, 0xbe, 0x0f, 0x0d, 0x01, b'5']);
    // A new second: only the date is a literal again.
    let answer2 = [answer[0], ("date", "Tue, 01 Jul 2025 12:00:01 GMT", false), answer[2], answer[3]];
    let next = round_trip(&mut e, &mut d, Some(200), &answer2);
    assert_eq!(next[..2], [0x88, 0xc0]);
    assert_eq!(next[2], 0x40 | 33, "date: literal with indexing, static name");
    assert_eq!(round_trip(&mut e, &mut d, Some(200), &answer2).len(), 8);
}

#[test]
fn the_encoder_reproduces_c6() {
    // RFC 7541 C.6 with a 256-byte table: the encoder makes the same choices (static names
    // first, Huffman when shorter, incremental indexing), but for a Huffman string no shorter
    // than the raw one and set-cookie, which it does not index.
    let mut e = Encoder::new();
    e.table.set_max_size(256);
    let mut d = Decoder::new(4096);
    d.set_table_max(256);
    let date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
    let date2 = "Mon, 21 Oct 2013 20:13:22 GMT";
    let location = ("location", "https://www.example.com", false);
    let response = |date| [("cache-control", "private", false), ("date", date, false), location];
    let block = round_trip(&mut e, &mut d, Some(302), &response(date1));
    let c61 = "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
               2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3";
    assert_eq!(block, hex(c61));
    // "307" codes to 3 bytes as it is: C.6.2 Huffman-codes it anyway, we send it raw (C.5.2's bytes).
    assert_eq!(round_trip(&mut e, &mut d, Some(307), &response(date1)), hex("4803 3330 37c1 c0bf"));
    let cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
    let list = [response(date2)[0], response(date2)[1], location, ("content-encoding", "gzip", false)];
    let mut block = round_trip(&mut e, &mut d, Some(200), &list);
    let c63 = "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab";
    assert_eq!(block, hex(c63));
    // set-cookie: a literal without indexing (name 55 = 15 + 40).
    block.clear();
    e.field(b"set-cookie", cookie.as_bytes(), false, &mut block);
    assert_eq!(block[..3], [0x0f, 0x28, 0xad]);
}

#[test]
fn literal_kinds() {
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    // Sensitive: never indexed, the name from the static table; not added, so sent again as is.
    let secret = [("authorization", "Basic dXNlcjpwYXNz", false)];
    let sensitive = [("authorization", "Basic dXNlcjpwYXNz", true)];
    let block = round_trip(&mut e, &mut d, None, &sensitive);
    assert_eq!(block[..2], [0x1f, 0x08], "never indexed, name 23");
    assert_eq!(e.table_size(), 0);
    assert_eq!(round_trip(&mut e, &mut d, None, &sensitive), block);
    // The same field not sensitive is indexed; sensitive again, it is still a literal.
    round_trip(&mut e, &mut d, None, &secret);
    assert_eq!(round_trip(&mut e, &mut d, None, &secret), [0xbe]);
    assert_eq!(round_trip(&mut e, &mut d, None, &sensitive), block);
    // A sensitive field whose name only the dynamic table has: never indexed, name 62+.
    round_trip(&mut e, &mut d, None, &[("x-token", "a", false)]);
    let block = round_trip(&mut e, &mut d, None, &[("x-token", "b", true)]);
    assert_eq!(block[..2], [0x1f, 62 - 15]);

    // A new name: literal with indexing, name as a string; then indexed.
    let custom = [("x-custom", "some value", false)];
    assert_eq!(round_trip(&mut e, &mut d, None, &custom)[0], 0x40);
    assert_eq!(round_trip(&mut e, &mut d, None, &custom), [0xbe]);
    // Another value: the name from the dynamic table.
    let block = round_trip(&mut e, &mut d, None, &[("x-custom", "other", false)]);
    assert_eq!(block[0], 0x40 | 62);

    // Volatile names and large fields are literals without indexing.
    let size = e.table_size();
    for name in ["content-length", "content-range", "etag", "last-modified", "age", "set-cookie"] {
        let block = round_trip(&mut e, &mut d, None, &[(name, "12345", false)]);
        assert_eq!(block[0] & 0xf0, 0x00, "{name}");
        assert_eq!(round_trip(&mut e, &mut d, None, &[(name, "12345", false)]), block, "{name}");
    }
    let big = "v".repeat(MAX_INDEXED_FIELD + 1 - "x-big".len());
    let block = round_trip(&mut e, &mut d, None, &[("x-big", &big, false)]);
    assert_eq!(block[0], 0x00);
    assert_eq!(e.table_size(), size);
    // One byte less is indexed.
    let block = round_trip(&mut e, &mut d, None, &[("x-big", &big[1..], false)]);
    assert_eq!(block[0], 0x40);
}

#[test]
fn huffman_only_when_shorter() {
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    // Text codes shorter: the H bit (C.4.1's value).
    let block = round_trip(&mut e, &mut d, None, &[("via", "www.example.com", false)]);
    assert_eq!(block, hex("7c 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"));
    // Bytes with long codes stay raw.
    let raw = "\u{1}\u{2}\u{3}{}";
    let block = round_trip(&mut e, &mut d, None, &[("via", raw, false)]);
    assert_eq!(block, [&[0x7c, 0x05][..], raw.as_bytes()].concat());
    // Empty strings.
    round_trip(&mut e, &mut d, None, &[("x-c", "", false), ("", "", false)]);
}

#[test]
fn peer_table_size_changes() {
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    let list = [("server", "hsys", false), ("x-a", "1", false)];
    round_trip(&mut e, &mut d, Some(200), &list);
    assert!(e.table_size() > 0);
    // No change, or a larger table than we use: nothing to say.
    e.set_peer_max_table_size(ENCODER_TABLE_MAX);
    e.set_peer_max_table_size(1 << 20);
    assert_eq!(round_trip(&mut e, &mut d, Some(200), &list), [0x88, 0xbf, 0xbe]);
    // 0: the table empties at once, one update opens the next block, nothing is indexed.
    e.set_peer_max_table_size(0);
    assert_eq!(e.table_size(), 0);
    let block = round_trip(&mut e, &mut d, Some(200), &list);
    assert_eq!(block[..2], [0x20, 0x88]);
    let block = round_trip(&mut e, &mut d, Some(200), &list);
    assert_eq!(block[0], 0x88, "said once");
    assert_eq!(e.table_size(), 0);
    // Back to 4096: one update.
    e.set_peer_max_table_size(4096);
    let block = round_trip(&mut e, &mut d, Some(200), &list);
    assert_eq!(block[..5], [0x3f, 0xe1, 0x1f, 0x88, 0x40 | 54], "4096");
    // 0 then 4096 between two blocks: both updates, the smallest first; the table was emptied.
    e.set_peer_max_table_size(0);
    e.set_peer_max_table_size(4096);
    let block = round_trip(&mut e, &mut d, Some(200), &list);
    assert_eq!(block[..6], [0x20, 0x3f, 0xe1, 0x1f, 0x88, 0x40 | 54], "0, then 4096");
    e.set_peer_max_table_size(100);
    e.set_peer_max_table_size(50);
    e.set_peer_max_table_size(3000);
    let block = round_trip(&mut e, &mut d, Some(200), &list);
    assert_eq!(block[..6], [0x3f, 0x13, 0x3f, 0x99, 0x17, 0x88], "50, then 3000");
    // 50 evicted `server` (the oldest) but kept `x-a`.
    assert_eq!((block[6], block[block.len() - 1]), (0x40 | 54, 0xbf));
    assert_eq!(round_trip(&mut e, &mut d, Some(200), &list), [0x88, 0xbe, 0xbf]);
}

#[test]
fn no_growth_once_warm() {
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    let mut out = Vec::with_capacity(1024);
    let mut caps = None;
    for second in 0..2000 {
        let date = format!("Tue, 01 Jul 2025 12:{:02}:{:02} GMT", second / 60 % 60, second % 60);
        let list = [
            ("server", "hsys", false),
            ("date", &date[..], false),
            ("content-type", "text/plain", false),
            ("x-request", &format!("{}", second % 37)[..], false),
        ];
        if second < 500 {
            round_trip(&mut e, &mut d, Some(200), &list);
            continue;
        }
        out.clear();
        e.begin_block(&mut out);
        e.status(200, &mut out);
        for (n, v, s) in list {
            e.field(n.as_bytes(), v.as_bytes(), s, &mut out);
        }
        assert_eq!(out.capacity(), 1024);
        let now = e.table.capacities();
        assert_eq!(*caps.get_or_insert(now), now, "block {second}");
    }
}
