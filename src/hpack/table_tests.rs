//! The tables: static lookups agree with the static table, and the dynamic table keeps RFC 7541's
//! size accounting and FIFO eviction (checked against a plain model) within a bounded arena.

use std::collections::VecDeque;

use super::{DynamicTable, ENTRY_OVERHEAD, STATIC, STATIC_LEN, static_find};

#[test]
fn static_find_agrees_with_the_static_table() {
    for (i, &(name, value)) in STATIC.iter().enumerate() {
        let index = i + 1;
        let first = STATIC.iter().position(|&(n, _)| n == name).unwrap() + 1;
        let exact = STATIC.iter().position(|&(n, v)| n == name && v == value).unwrap() + 1;
        assert_eq!(static_find(name, value), (Some(exact), Some(first)), "{index}");
        assert_eq!(exact, index);
        assert_eq!(static_find(name, b"no such value").1, Some(first));
    }
    assert_eq!(static_find(b"x-custom", b""), (None, None));
    assert_eq!(static_find(b"Server", b""), (None, None), "names are lowercase");
    assert_eq!(static_find(b":status", b"302"), (None, Some(8)));
    assert_eq!(static_find(b":status", b"404"), (Some(13), Some(8)));
    assert_eq!(static_find(b"accept-encoding", b"gzip, deflate"), (Some(16), Some(16)));
    assert_eq!(STATIC.len(), 61);
    assert_eq!(STATIC[60], (&b"www-authenticate"[..], &b""[..]));
}

#[test]
fn indexes_are_static_then_dynamic_newest_first() {
    let mut t = DynamicTable::new(4096);
    assert_eq!(t.field(0), None);
    assert_eq!(t.field(2), Some((&b":method"[..], &b"GET"[..])));
    assert_eq!(t.field(62), None);
    t.insert(b"a", b"1");
    t.insert(b"b", b"2");
    assert_eq!(t.field(62), Some((&b"b"[..], &b"2"[..])));
    assert_eq!(t.field(63), Some((&b"a"[..], &b"1"[..])));
    assert_eq!(t.field(64), None);
    assert_eq!(t.size(), 2 * (2 + ENTRY_OVERHEAD));
    assert_eq!(t.find(b"a", b"1"), (Some(2), Some(2)));
    assert_eq!(t.find(b"a", b"9"), (None, Some(2)));
    t.insert(b"a", b"3");
    assert_eq!(t.find(b"a", b"1"), (Some(3), Some(1)), "the newest with the name");
    assert_eq!(STATIC_LEN, 61);
}

#[test]
fn eviction_is_oldest_first_and_an_oversized_entry_empties_the_table() {
    // Room for two entries of 34 bytes.
    let mut t = DynamicTable::new(2 * 34 + 10);
    t.insert(b"a", b"1");
    t.insert(b"b", b"2");
    t.insert(b"c", b"3");
    assert_eq!((t.len(), t.size()), (2, 68));
    assert_eq!(t.get(2), Some((&b"b"[..], &b"2"[..])));
    // Exactly the maximum fits.
    t.set_max_size(34);
    assert_eq!((t.len(), t.get(1)), (1, Some((&b"c"[..], &b"3"[..]))));
    t.insert(b"d", b"4");
    assert_eq!((t.len(), t.get(1)), (1, Some((&b"d"[..], &b"4"[..]))));
    // One byte too large: the table is emptied, nothing added.
    t.insert(b"ee", b"5");
    assert_eq!((t.len(), t.size()), (0, 0));
    t.set_max_size(0);
    t.insert(b"", b"");
    assert_eq!((t.len(), t.size()), (0, 0));
}

#[test]
fn the_table_matches_a_model_and_its_arena_stays_within_twice_the_maximum() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n) as usize
    };
    let mut t = DynamicTable::new(4096);
    let mut model: VecDeque<(Vec<u8>, Vec<u8>)> = VecDeque::new();
    let mut max = 4096;
    for round in 0..20_000 {
        let mut added = false;
        if next(500) == 0 {
            max = next(5000);
            t.set_max_size(max);
        } else {
            added = true;
            let name = vec![b'a' + (round % 26) as u8; next(40)];
            let bound = if next(10) == 0 { 5000 } else { 300 };
            let value = vec![b'0' + (round % 10) as u8; next(bound)];
            t.insert(&name, &value);
            model.push_front((name, value));
        }
        // The model: newest first, evict from the back until it fits.
        let size = |m: &VecDeque<(Vec<u8>, Vec<u8>)>| m.iter().map(|(n, v)| n.len() + v.len() + 32).sum::<usize>();
        while size(&model) > max {
            model.pop_back();
        }
        assert_eq!(t.size(), size(&model), "round {round}");
        assert_eq!(t.len(), model.len(), "round {round}");
        for (i, (n, v)) in model.iter().enumerate() {
            assert_eq!(t.get(i + 1), Some((&n[..], &v[..])), "round {round} entry {}", i + 1);
        }
        // After an insertion that fits, the arena is within twice the (current) maximum.
        if added && !model.is_empty() {
            assert!(t.arena_len() <= 2 * max, "round {round}: arena {} for max {max}", t.arena_len());
        }
    }
}
