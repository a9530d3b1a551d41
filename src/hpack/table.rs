//! The HPACK tables (RFC 7541 §2.3): the static table of 61 entries, looked up by a `match` on the
//! name, and the dynamic table, a FIFO of entries whose bytes live in one arena.
//!
//! Index space: 1–61 are the static table, 62 on the dynamic table, newest first. An entry's size
//! is its name's and value's lengths plus 32 (§4.1); the table's size is the sum over its entries,
//! kept at most its maximum by evicting the oldest entries (§4.3, §4.4).

use std::collections::VecDeque;

/// Entries in the static table (RFC 7541 Appendix A).
pub(super) const STATIC_LEN: usize = 61;

/// The accounting overhead of one entry (RFC 7541 §4.1).
pub(super) const ENTRY_OVERHEAD: usize = 32;

/// The static table, `STATIC[i - 1]` for index `i` (RFC 7541 Appendix A).
#[rustfmt::skip]
pub(super) static STATIC: [(&[u8], &[u8]); STATIC_LEN] = [
    (b":authority", b""), (b":method", b"GET"), (b":method", b"POST"), (b":path", b"/"),
    (b":path", b"/index.html"), (b":scheme", b"http"), (b":scheme", b"https"), (b":status", b"200"),
    (b":status", b"204"), (b":status", b"206"), (b":status", b"304"), (b":status", b"400"),
    (b":status", b"404"), (b":status", b"500"), (b"accept-charset", b""), (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""), (b"accept-ranges", b""), (b"accept", b""), (b"access-control-allow-origin", b""),
    (b"age", b""), (b"allow", b""), (b"authorization", b""), (b"cache-control", b""),
    (b"content-disposition", b""), (b"content-encoding", b""), (b"content-language", b""), (b"content-length", b""),
    (b"content-location", b""), (b"content-range", b""), (b"content-type", b""), (b"cookie", b""),
    (b"date", b""), (b"etag", b""), (b"expect", b""), (b"expires", b""),
    (b"from", b""), (b"host", b""), (b"if-match", b""), (b"if-modified-since", b""),
    (b"if-none-match", b""), (b"if-range", b""), (b"if-unmodified-since", b""), (b"last-modified", b""),
    (b"link", b""), (b"location", b""), (b"max-forwards", b""), (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""), (b"range", b""), (b"referer", b""), (b"refresh", b""),
    (b"retry-after", b""), (b"server", b""), (b"set-cookie", b""), (b"strict-transport-security", b""),
    (b"transfer-encoding", b""), (b"user-agent", b""), (b"vary", b""), (b"via", b""),
    (b"www-authenticate", b""),
];

/// Where `(name, value)` is in the static table: `(index of the exact entry, index of the first
/// entry with the name)`. Names are lowercase, as HTTP/2 requires.
pub(super) fn static_find(name: &[u8], value: &[u8]) -> (Option<usize>, Option<usize>) {
    // The entries sharing a name are consecutive: the first one's index and how many.
    let (first, count) = match name {
        b":authority" => (1, 1),
        b":method" => (2, 2),
        b":path" => (4, 2),
        b":scheme" => (6, 2),
        b":status" => (8, 7),
        b"accept-charset" => (15, 1),
        b"accept-encoding" => (16, 1),
        b"accept-language" => (17, 1),
        b"accept-ranges" => (18, 1),
        b"accept" => (19, 1),
        b"access-control-allow-origin" => (20, 1),
        b"age" => (21, 1),
        b"allow" => (22, 1),
        b"authorization" => (23, 1),
        b"cache-control" => (24, 1),
        b"content-disposition" => (25, 1),
        b"content-encoding" => (26, 1),
        b"content-language" => (27, 1),
        b"content-length" => (28, 1),
        b"content-location" => (29, 1),
        b"content-range" => (30, 1),
        b"content-type" => (31, 1),
        b"cookie" => (32, 1),
        b"date" => (33, 1),
        b"etag" => (34, 1),
        b"expect" => (35, 1),
        b"expires" => (36, 1),
        b"from" => (37, 1),
        b"host" => (38, 1),
        b"if-match" => (39, 1),
        b"if-modified-since" => (40, 1),
        b"if-none-match" => (41, 1),
        b"if-range" => (42, 1),
        b"if-unmodified-since" => (43, 1),
        b"last-modified" => (44, 1),
        b"link" => (45, 1),
        b"location" => (46, 1),
        b"max-forwards" => (47, 1),
        b"proxy-authenticate" => (48, 1),
        b"proxy-authorization" => (49, 1),
        b"range" => (50, 1),
        b"referer" => (51, 1),
        b"refresh" => (52, 1),
        b"retry-after" => (53, 1),
        b"server" => (54, 1),
        b"set-cookie" => (55, 1),
        b"strict-transport-security" => (56, 1),
        b"transfer-encoding" => (57, 1),
        b"user-agent" => (58, 1),
        b"vary" => (59, 1),
        b"via" => (60, 1),
        b"www-authenticate" => (61, 1),
        _ => return (None, None),
    };
    let exact = (first..first + count).find(|&i| STATIC[i - 1].1 == value);
    (exact, Some(first))
}

/// Where one dynamic entry's bytes are in the arena: the name, then the value.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Offset of the name in [`DynamicTable::bytes`].
    at: usize,
    name_len: usize,
    value_len: usize,
}

/// The dynamic table. Its entries' bytes are appended to one arena in insertion order; eviction
/// drops entries from the front of `entries` only, so the live bytes are always the arena's tail
/// from the oldest entry's offset. When an insertion would grow the arena past twice the table's
/// maximum, the live bytes (at most the maximum) are first moved to the arena's start: each byte
/// is moved at most once per maximum's worth of insertions, and the arena never grows past twice
/// the largest maximum the table has had. Nothing is allocated once the arena and the entry ring
/// have grown to that.
#[derive(Debug)]
pub(super) struct DynamicTable {
    bytes: Vec<u8>,
    /// Oldest at the front, newest at the back (dynamic index 1).
    entries: VecDeque<Entry>,
    /// Σ name + value + 32 over the entries.
    size: usize,
    /// The current maximum size (set by dynamic table size updates).
    max_size: usize,
}

impl DynamicTable {
    pub(super) fn new(max_size: usize) -> Self {
        DynamicTable { bytes: Vec::new(), entries: VecDeque::new(), size: 0, max_size }
    }

    /// The size in RFC 7541 §4.1's accounting (entries' bytes plus 32 each).
    pub(super) fn size(&self) -> usize {
        self.size
    }

    pub(super) fn max_size(&self) -> usize {
        self.max_size
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry at dynamic index `i` (1 is the newest).
    pub(super) fn get(&self, i: usize) -> Option<(&[u8], &[u8])> {
        let e = self.entries.get(self.entries.len().checked_sub(i)?)?;
        let name_end = e.at + e.name_len;
        Some((&self.bytes[e.at..name_end], &self.bytes[name_end..name_end + e.value_len]))
    }

    /// The field at HPACK index `index` (static or dynamic); `None` for 0 or past the end.
    pub(super) fn field(&self, index: usize) -> Option<(&[u8], &[u8])> {
        match index {
            0 => None,
            1..=STATIC_LEN => Some(STATIC[index - 1]),
            _ => self.get(index - STATIC_LEN),
        }
    }

    /// Where `(name, value)` is among the dynamic entries: `(dynamic index of an exact entry,
    /// dynamic index of an entry with the name)`, the newest of each.
    pub(super) fn find(&self, name: &[u8], value: &[u8]) -> (Option<usize>, Option<usize>) {
        let mut by_name = None;
        for i in 1..=self.entries.len() {
            let Some((n, v)) = self.get(i) else { break };
            if n == name {
                if v == value {
                    return (Some(i), Some(by_name.unwrap_or(i)));
                }
                by_name.get_or_insert(i);
            }
        }
        (None, by_name)
    }

    /// Sets the maximum size, evicting the oldest entries until the table fits (§4.3).
    pub(super) fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    /// Adds an entry as the newest, evicting the oldest to make room; an entry larger than the
    /// maximum empties the table and is not added (§4.4; not an error).
    pub(super) fn insert(&mut self, name: &[u8], value: &[u8]) {
        let len = name.len() + value.len();
        let Some(room) = self.max_size.checked_sub(len + ENTRY_OVERHEAD) else {
            self.evict_to(0);
            return;
        };
        self.evict_to(room);
        let start = self.entries.front().map_or(self.bytes.len(), |e| e.at);
        if self.bytes.len() + len > self.max_size.saturating_mul(2) {
            self.bytes.copy_within(start.., 0);
            self.bytes.truncate(self.bytes.len() - start);
            for e in &mut self.entries {
                e.at -= start;
            }
        } else if self.entries.is_empty() {
            self.bytes.clear();
        }
        let at = self.bytes.len();
        self.bytes.extend_from_slice(name);
        self.bytes.extend_from_slice(value);
        self.entries.push_back(Entry { at, name_len: name.len(), value_len: value.len() });
        self.size += len + ENTRY_OVERHEAD;
    }

    /// Evicts the oldest entries until the size is at most `target`.
    fn evict_to(&mut self, target: usize) {
        while self.size > target {
            let Some(e) = self.entries.pop_front() else { break };
            self.size -= e.name_len + e.value_len + ENTRY_OVERHEAD;
        }
    }

    /// The arena's and the entry ring's capacities (for the tests: they stop growing).
    #[cfg(test)]
    pub(super) fn capacities(&self) -> (usize, usize) {
        (self.bytes.capacity(), self.entries.capacity())
    }

    /// The arena's length (for the tests: it stays within twice the maximum).
    #[cfg(test)]
    pub(super) fn arena_len(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
