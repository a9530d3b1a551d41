//! The HPACK decoder (RFC 7541 §3, §6): one header block at a time, fields handed to a callback
//! as slices (of the tables or of a reused scratch buffer), the decoded list bounded.
//!
//! Robust to any input: no panic, and memory bounded by twice the table's maximum (the dynamic
//! table's arena) plus the largest field decoded (the scratch: reused across calls, and dropped
//! after a block that grew it past 16 KiB).

use super::table::{DynamicTable, ENTRY_OVERHEAD};
use super::{DEFAULT_TABLE_SIZE, DecodeError, Decoded, MAX_INTEGER, MAX_STRING_LEN, huffman};

/// The scratch capacity kept from one block to the next: a block with a larger field grows it for
/// its own decoding only, so an idle connection holds no more than this after a large block.
const SCRATCH_KEPT: usize = 16 * 1024;

/// Decodes the header blocks one peer sends on one connection, in order.
#[derive(Debug)]
pub struct Decoder {
    table: DynamicTable,
    /// Our `SETTINGS_HEADER_TABLE_SIZE`: the largest size update the peer may send.
    max_table_size: usize,
    /// The bound was lowered below the table's maximum: the next block must start with a size
    /// update that obeys it.
    update_required: bool,
    /// A literal field's name and value, decoded (Huffman) or copied (a name from a table entry
    /// the insertion may evict) back to back; reused for every field.
    scratch: Vec<u8>,
}

/// How a literal field is to be kept (RFC 7541 §6.2).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Indexing {
    /// Added to the dynamic table (§6.2.1).
    Incremental,
    /// Not added (§6.2.2).
    Without,
    /// Not added, and never to be by an intermediary (§6.2.3).
    Never,
}

impl Decoder {
    /// A decoder for a connection whose `SETTINGS_HEADER_TABLE_SIZE` is `max_table_size` (the
    /// bound for the size updates the peer may send).
    ///
    /// The table starts at the protocol's initial size, [`DEFAULT_TABLE_SIZE`], the size the peer
    /// assumes until it has our SETTINGS. With `max_table_size` below it, call
    /// [`set_max_table_size`](Self::set_max_table_size) once the peer has acknowledged them: its
    /// next block must then shrink the table.
    pub fn new(max_table_size: usize) -> Self {
        Decoder {
            table: DynamicTable::new(DEFAULT_TABLE_SIZE),
            max_table_size,
            update_required: false,
            scratch: Vec::new(),
        }
    }

    /// Our `SETTINGS_HEADER_TABLE_SIZE` changed to `n` and the peer acknowledged it: size updates
    /// above `n` are refused from now on, and if the table's maximum is above `n` the next block
    /// must start with a size update to `n` or less ([`DecodeError::SizeUpdateMissing`]).
    pub fn set_max_table_size(&mut self, n: usize) {
        self.max_table_size = n;
        self.update_required = self.table.max_size() > n;
    }

    /// The dynamic table's size (RFC 7541 §4.1's accounting).
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// Decodes one complete header block, calling `emit(name, value, never_indexed)` for each
    /// field in order (slices valid only during the call; names and values as on the wire after
    /// Huffman decoding, unchecked: validating them is the caller's business).
    ///
    /// The decoded list's size (Σ name + value + 32) is accumulated; once it would exceed
    /// `max_list_size`, `emit` is no longer called, but decoding goes on to the block's end so the
    /// dynamic table stays in step with the peer's.
    ///
    /// # Errors
    /// A [`DecodeError`]: the block is malformed, a connection error (`COMPRESSION_ERROR`). Some
    /// fields may have been emitted before it, and the decoder must not be used again.
    pub fn decode(
        &mut self,
        block: &[u8],
        max_list_size: usize,
        mut emit: impl FnMut(&[u8], &[u8], bool),
    ) -> Result<Decoded, DecodeError> {
        let mut out = Decoded { list_size: 0, over_limit: false };
        let mut account = |name: &[u8], value: &[u8]| {
            out.list_size = out.list_size.saturating_add(name.len() + value.len() + ENTRY_OVERHEAD);
            out.over_limit |= out.list_size > max_list_size;
            !out.over_limit
        };
        let mut pos = 0;
        let mut at_start = true;
        while let Some(&first) = block.get(pos) {
            if first & 0xe0 == 0x20 {
                // Dynamic table size update (§6.3).
                if !at_start {
                    return Err(DecodeError::SizeUpdateNotFirst);
                }
                let size = read_int(block, &mut pos, 5)?;
                if size > self.max_table_size {
                    return Err(DecodeError::SizeUpdateTooLarge);
                }
                self.table.set_max_size(size);
                self.update_required = false;
                continue;
            }
            if self.update_required {
                return Err(DecodeError::SizeUpdateMissing);
            }
            at_start = false;
            if first & 0x80 != 0 {
                // Indexed field (§6.1).
                let index = read_int(block, &mut pos, 7)?;
                let (name, value) = self.table.field(index).ok_or(DecodeError::BadIndex)?;
                if account(name, value) {
                    emit(name, value, false);
                }
                continue;
            }
            let (prefix, indexing) = match first {
                0x40.. => (6, Indexing::Incremental),
                0x10.. => (4, Indexing::Never),
                _ => (4, Indexing::Without),
            };
            let index = read_int(block, &mut pos, prefix)?;
            if index != 0 && self.table.field(index).is_none() {
                return Err(DecodeError::BadIndex);
            }
            // A name from a table is copied only when the field is added (the insertion may
            // evict its entry); else it is read in place, so 2 bytes of input referring to a
            // long name cost no copy of it.
            let name_in_table = index != 0 && indexing != Indexing::Incremental;
            self.scratch.clear();
            if index == 0 {
                read_string(block, &mut pos, &mut self.scratch)?;
            } else if !name_in_table {
                let (name, _) = self.table.field(index).ok_or(DecodeError::BadIndex)?;
                self.scratch.extend_from_slice(name);
            }
            let name_len = self.scratch.len();
            read_string(block, &mut pos, &mut self.scratch)?;
            let never = indexing == Indexing::Never;
            let (name, value) = self.scratch.split_at(name_len);
            if name_in_table {
                let (name, _) = self.table.field(index).ok_or(DecodeError::BadIndex)?;
                if account(name, value) {
                    emit(name, value, never);
                }
                continue;
            }
            if account(name, value) {
                emit(name, value, never);
            }
            if indexing == Indexing::Incremental {
                self.table.insert(name, value);
            }
        }
        if self.scratch.capacity() > SCRATCH_KEPT {
            self.scratch = Vec::new();
        }
        Ok(out)
    }

    /// Sets the table's maximum as a size update would (for the tests: RFC 7541 C.5 and C.6).
    #[cfg(test)]
    pub(super) fn set_table_max(&mut self, n: usize) {
        self.table.set_max_size(n);
    }

    /// The dynamic table's entries, newest first (for the tests).
    #[cfg(test)]
    pub(super) fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        (1..=self.table.len()).filter_map(|i| self.table.get(i)).map(|(n, v)| (n.to_vec(), v.to_vec())).collect()
    }
}

/// Reads an integer with an `n`-bit prefix (RFC 7541 §5.1) at `*pos`, advancing it.
fn read_int(block: &[u8], pos: &mut usize, n: u32) -> Result<usize, DecodeError> {
    let mask = ((1u16 << n) - 1) as u8;
    let first = *block.get(*pos).ok_or(DecodeError::Truncated)?;
    *pos += 1;
    let mut value = usize::from(first & mask);
    if value < usize::from(mask) {
        return Ok(value);
    }
    // Up to 5 continuation bytes: 7 × 4 + 3 bits reach 2^31.
    let mut shift = 0;
    loop {
        let b = *block.get(*pos).ok_or(DecodeError::Truncated)?;
        *pos += 1;
        // `shift` ≤ 28: at most 35 bits, within u64.
        let v = value as u64 + (u64::from(b & 0x7f) << shift);
        if v > MAX_INTEGER as u64 {
            return Err(DecodeError::IntegerOverflow);
        }
        value = v as usize;
        if b & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
        if shift > 28 {
            return Err(DecodeError::IntegerOverflow);
        }
    }
}

/// Reads a string literal (RFC 7541 §5.2) at `*pos`, advancing it, and appends its bytes
/// (Huffman-decoded if coded so) to `dst`.
fn read_string(block: &[u8], pos: &mut usize, dst: &mut Vec<u8>) -> Result<(), DecodeError> {
    let huffman = block.get(*pos).is_some_and(|b| b & 0x80 != 0);
    let len = read_int(block, pos, 7)?;
    let raw = block.get(*pos..).and_then(|rest| rest.get(..len)).ok_or(DecodeError::Truncated)?;
    if len > MAX_STRING_LEN {
        return Err(DecodeError::StringTooLong);
    }
    *pos += len;
    if huffman {
        return huffman::decode(raw, dst);
    }
    dst.extend_from_slice(raw);
    Ok(())
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
