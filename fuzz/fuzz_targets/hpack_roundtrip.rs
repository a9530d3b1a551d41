//! HPACK encoder against decoder: arbitrary field lists encoded into header blocks, the peer's
//! table size changing between them, decode to the same lists, with the same never-indexed
//! flags, and both dynamic tables the same size after every block.
//!
//! The input is a program: each op byte either changes the peer's `SETTINGS_HEADER_TABLE_SIZE`
//! (the next two bytes, 0–65535; the decoder, standing for the peer, takes it as acknowledged) or
//! encodes a block of up to 7 fields, with a `:status` (100–999) first when asked. A field is a
//! flag byte (sensitive), then a name and a value, each a length byte (0–127, capped by what
//! remains) and its bytes.
#![no_main]

use hsys::hpack::{Decoder, Encoder};
use libfuzzer_sys::fuzz_target;

/// Reads bytes off the front of the input; past its end, zeros.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }

    fn bytes(&mut self) -> &'a [u8] {
        let n = usize::from(self.byte() & 0x7f).min(self.0.len());
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        b
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let mut e = Encoder::new();
    let mut d = Decoder::new(4096);
    let mut block = Vec::new();
    let mut want: Vec<(Vec<u8>, Vec<u8>, bool)> = Vec::new();
    while !input.0.is_empty() {
        let op = input.byte();
        if op & 0x80 != 0 {
            let n = usize::from(u16::from_le_bytes([input.byte(), input.byte()]));
            e.set_peer_max_table_size(n);
            d.set_max_table_size(n);
            continue;
        }
        block.clear();
        want.clear();
        e.begin_block(&mut block);
        if op & 0x40 != 0 {
            let status = 100 + u16::from_le_bytes([input.byte(), input.byte()]) % 900;
            e.status(status, &mut block);
            want.push((b":status".to_vec(), status.to_string().into_bytes(), false));
        }
        for _ in 0..op % 8 {
            let sensitive = input.byte() & 1 != 0;
            let (name, value) = (input.bytes(), input.bytes());
            e.field(name, value, sensitive, &mut block);
            want.push((name.to_vec(), value.to_vec(), sensitive));
        }
        let mut got = Vec::with_capacity(want.len());
        let out = d
            .decode(&block, usize::MAX, |n, v, s| got.push((n.to_vec(), v.to_vec(), s)))
            .unwrap_or_else(|err| panic!("{err:?} decoding {block:02x?}"));
        assert_eq!(got, want);
        assert!(!out.over_limit);
        assert_eq!(out.list_size, want.iter().map(|(n, v, _)| n.len() + v.len() + 32).sum::<usize>());
        assert_eq!(d.table_size(), e.table_size());
    }
});
