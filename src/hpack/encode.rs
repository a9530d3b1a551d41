//! The HPACK encoder (RFC 7541 §6), for a server's answers: what repeats from answer to answer
//! on a connection (`server`, `date` within its second, `content-type`, the status) is sent once
//! as a literal and indexed, then as one or two bytes.
//!
//! Per field: an exact match in the static or dynamic table is sent indexed; otherwise a literal,
//! its name indexed when a table has it, its strings Huffman-coded when that is shorter. The
//! literal is added to the dynamic table (incremental indexing) when it is small and likely to
//! repeat (see [`indexable`]); sensitive fields are never-indexed literals. The table is at most
//! [`ENCODER_TABLE_MAX`] (or the peer's smaller `SETTINGS_HEADER_TABLE_SIZE`); once it and the
//! caller's output buffer have grown, encoding allocates nothing.

use super::table::{DynamicTable, ENTRY_OVERHEAD, STATIC_LEN, static_find};
use super::{DEFAULT_TABLE_SIZE, huffman};

/// The most the encoder's dynamic table holds, whatever the peer allows: the protocol's default,
/// so a peer advertising a larger table does not grow our memory per connection.
pub const ENCODER_TABLE_MAX: usize = DEFAULT_TABLE_SIZE;

/// The largest field (name + value bytes) the encoder adds to its dynamic table: larger values
/// rarely repeat, and one would evict many small entries that do.
pub const MAX_INDEXED_FIELD: usize = 256;

/// Encodes the header blocks we send on one connection, in order.
#[derive(Debug)]
pub struct Encoder {
    table: DynamicTable,
    /// The peer's table size changed since the last block: the smallest maximum reached since,
    /// which the next block's size updates must go through (RFC 7541 §4.2).
    pending: Option<usize>,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    /// An encoder whose table is the protocol's initial size until the peer's SETTINGS say otherwise.
    pub fn new() -> Self {
        Encoder { table: DynamicTable::new(DEFAULT_TABLE_SIZE), pending: None }
    }

    /// The peer's `SETTINGS_HEADER_TABLE_SIZE` changed to `n`: the table's maximum becomes
    /// `n` (at most [`ENCODER_TABLE_MAX`]), evicting at once if it shrinks, and the next block
    /// starts with the size update(s) that tell the peer.
    pub fn set_peer_max_table_size(&mut self, n: usize) {
        let max = n.min(ENCODER_TABLE_MAX);
        if max == self.table.max_size() && self.pending.is_none() {
            return;
        }
        self.pending = Some(self.pending.map_or(max, |low| low.min(max)));
        self.table.set_max_size(max);
    }

    /// The dynamic table's size (RFC 7541 §4.1's accounting).
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// Starts a header block: writes the pending size updates, if any (the smallest maximum
    /// since the last block, then the current one if larger). Call it before a block's first
    /// field.
    pub fn begin_block(&mut self, out: &mut Vec<u8>) {
        if let Some(low) = self.pending.take() {
            write_int(low, 5, 0x20, out);
            if low != self.table.max_size() {
                write_int(self.table.max_size(), 5, 0x20, out);
            }
        }
    }

    /// `:status`: one byte for the static table's 200 204 206 304 400 404 500, else a literal
    /// with indexed name 8, indexed as any field (a 201 or 302 that repeats is one byte too).
    /// `status` has 3 digits (100–999; others are sent modulo 1000, zero-padded).
    pub fn status(&mut self, status: u16, out: &mut Vec<u8>) {
        let index = match status {
            200 => 8,
            204 => 9,
            206 => 10,
            304 => 11,
            400 => 12,
            404 => 13,
            500 => 14,
            _ => {
                let digit = |d: u16| b'0' + (d % 10) as u8;
                let digits = [digit(status / 100), digit(status / 10), digit(status)];
                self.field(b":status", &digits, false, out);
                return;
            }
        };
        out.push(0x80 | index);
    }

    /// One field. `name` is lowercase (the caller guarantees it); a `sensitive` field (a
    /// credential, a cookie) is a never-indexed literal (RFC 7541 §7.1.3).
    pub fn field(&mut self, name: &[u8], value: &[u8], sensitive: bool, out: &mut Vec<u8>) {
        let (static_exact, static_name) = static_find(name, value);
        if sensitive {
            let name_index = static_name.or_else(|| self.table.find(name, value).1.map(|i| STATIC_LEN + i));
            write_literal(0x10, 4, name_index, name, value, out);
            return;
        }
        if let Some(i) = static_exact {
            write_int(i, 7, 0x80, out);
            return;
        }
        let (dynamic_exact, dynamic_name) = self.table.find(name, value);
        if let Some(i) = dynamic_exact {
            write_int(STATIC_LEN + i, 7, 0x80, out);
            return;
        }
        // The name's index in the table as it is before this field is added.
        let name_index = static_name.or(dynamic_name.map(|i| STATIC_LEN + i));
        let len = name.len() + value.len();
        if indexable(name) && len <= MAX_INDEXED_FIELD && len + ENTRY_OVERHEAD <= self.table.max_size() {
            write_literal(0x40, 6, name_index, name, value, out);
            self.table.insert(name, value);
        } else {
            write_literal(0x00, 4, name_index, name, value, out);
        }
    }
}

/// Whether a field of this name is worth adding to the dynamic table: not when its value
/// changes from answer to answer on a connection (the size, range and validators of each
/// resource; `set-cookie`, unique and personal). Adding those would evict, in FIFO order, the
/// entries that do repeat (`server`, `content-type`, `date`, `cache-control`, ...), and
/// then cost their literals again.
fn indexable(name: &[u8]) -> bool {
    !matches!(name, b"content-length" | b"content-range" | b"etag" | b"last-modified" | b"age" | b"set-cookie")
}

/// A literal field: the representation's first byte has `flags` above an `prefix`-bit name
/// index (0: the name follows as a string).
fn write_literal(flags: u8, prefix: u32, name_index: Option<usize>, name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    match name_index {
        Some(i) => write_int(i, prefix, flags, out),
        None => {
            out.push(flags);
            write_string(name, out);
        }
    }
    write_string(value, out);
}

/// An integer with an `n`-bit prefix under `flags` (RFC 7541 §5.1).
pub(super) fn write_int(value: usize, n: u32, flags: u8, out: &mut Vec<u8>) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = value - max;
    while rest >= 0x80 {
        out.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// A string literal (RFC 7541 §5.2), Huffman-coded when that is shorter.
fn write_string(s: &[u8], out: &mut Vec<u8>) {
    let coded = huffman::encoded_len(s);
    if coded < s.len() {
        write_int(coded, 7, 0x80, out);
        out.reserve(coded);
        huffman::encode(s, out);
    } else {
        write_int(s.len(), 7, 0, out);
        out.extend_from_slice(s);
    }
}

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;
