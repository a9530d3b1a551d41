//! HPACK decoder: any bytes, cut into a sequence of header blocks decoded on one decoder, never
//! panic, and the fields emitted stay within the list limit.
//!
//! The first [`CTL`] bytes steer the run: the list limit (0–1023 bytes, or none), our
//! `SETTINGS_HEADER_TABLE_SIZE` (0–8191; with a flag, lowered after the start, so the first block
//! owes a size update) and the block lengths (mod 64; the last block takes the rest). Per block,
//! the decode contract must hold: the emitted fields' sizes sum to at most the limit, and to the
//! reported list size when the limit was not reached; the dynamic table never outgrows the larger
//! of the initial 4096 and our setting. A block that errs ends the connection, so the next block
//! starts on a new decoder.
#![no_main]

use hsys::hpack::Decoder;
use libfuzzer_sys::fuzz_target;

/// Control bytes at the start of the input.
const CTL: usize = 8;

fuzz_target!(|data: &[u8]| {
    let (ctl, mut rest) = data.split_at(data.len().min(CTL));
    let mut c = [0u8; CTL];
    c[..ctl.len()].copy_from_slice(ctl);
    let limit = match u16::from_le_bytes([c[0], c[1]]) {
        n if n & 0x8000 != 0 => usize::MAX,
        n => usize::from(n % 1024),
    };
    let setting = usize::from(u16::from_le_bytes([c[2], c[3] & 0x7f]) % 8192);
    let owed = c[3] & 0x80 != 0;
    let new = || {
        if owed {
            let mut d = Decoder::new(4096.max(setting));
            d.set_max_table_size(setting);
            d
        } else {
            Decoder::new(setting)
        }
    };
    let mut d = new();
    let mut blocks = Vec::new();
    for &b in &c[4..] {
        let (block, tail) = rest.split_at(usize::from(b % 64).min(rest.len()));
        blocks.push(block);
        rest = tail;
    }
    blocks.push(rest);

    for block in blocks {
        let mut emitted = 0usize;
        let result = d.decode(block, limit, |name, value, _| {
            emitted += name.len() + value.len() + 32;
            assert!(emitted <= limit, "emitted {emitted} over the limit {limit}");
        });
        match result {
            Ok(out) => {
                assert!(out.list_size >= emitted);
                assert_eq!(out.over_limit, out.list_size > limit);
                if !out.over_limit {
                    assert_eq!(out.list_size, emitted);
                }
                assert!(d.table_size() <= 4096.max(setting));
            }
            Err(_) => d = new(),
        }
    }
});
