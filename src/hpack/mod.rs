//! HPACK (RFC 7541), HTTP/2's header compression, sans-I/O: a [`Decoder`] for the header blocks
//! a peer sends and an [`Encoder`] for ours. A leaf: it imports nothing of the crate.
//!
//! - `huffman`: the Huffman code (Appendix B): encoder, and a nibble-at-a-time decoder whose
//!   state table is built at compile time.
//! - `table`: the static table and the dynamic table (a FIFO of entries over one byte arena).
//! - `decode`: [`Decoder`], robust to any input: every fault is a [`DecodeError`] (a connection
//!   error `COMPRESSION_ERROR`), memory is bounded by the table's maximum and the largest block.
//! - `encode`: [`Encoder`], tuned for a server's answers (indexes the fields that repeat).
//!
//! One header block is decoded or encoded whole: HTTP/2 reassembles HEADERS and CONTINUATION
//! frames first, and the decoder's state must advance over every block of the connection, in
//! order, whatever becomes of the stream that carried it (RFC 9113 §4.3).
// Nothing outside the module and its tests uses it until the `h2` codec does; with `internals`
// (the fuzz targets) it is public.
#![cfg_attr(not(feature = "internals"), allow(dead_code, unused_imports))]

mod decode;
mod encode;
mod huffman;
mod table;

pub use decode::Decoder;
pub use encode::Encoder;

/// The dynamic table's size before any SETTINGS say otherwise (RFC 9113 §6.5.2,
/// `SETTINGS_HEADER_TABLE_SIZE`'s initial value).
pub const DEFAULT_TABLE_SIZE: usize = 4096;

/// The largest integer a decoder accepts (a length, an index, a table size): 2^31 - 1.
pub const MAX_INTEGER: usize = (1 << 31) - 1;

/// The longest string literal a decoder accepts, as coded (Huffman or not): 1 MiB. The caller
/// bounds a header block well below it; this bound keeps the decoder's scratch bounded even if not.
pub const MAX_STRING_LEN: usize = 1 << 20;

/// Why a header block cannot be decoded. Every one is a connection error of type
/// `COMPRESSION_ERROR` (RFC 9113 §4.3): the decoder's state is then unknown, so the connection
/// ends and the decoder is not used again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The block ends inside a representation (an integer, a string's length, or a string
    /// longer than what remains of the block).
    Truncated,
    /// An integer above [`MAX_INTEGER`], or coded with more than 5 continuation bytes.
    IntegerOverflow,
    /// An index of 0, or past the end of the static and dynamic tables.
    BadIndex,
    /// A Huffman string that codes EOS, or ends in padding longer than 7 bits or not all 1s.
    BadHuffman,
    /// A dynamic table size update above our `SETTINGS_HEADER_TABLE_SIZE`.
    SizeUpdateTooLarge,
    /// A dynamic table size update after a field in the block (RFC 7541 §4.2).
    SizeUpdateNotFirst,
    /// The first block after [`Decoder::set_max_table_size`] lowered the bound below the table's
    /// maximum does not start with a size update (RFC 7541 §4.2).
    SizeUpdateMissing,
    /// A string literal longer than [`MAX_STRING_LEN`].
    StringTooLong,
}

/// What [`Decoder::decode`] made of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// The decoded header list's size (RFC 7541 §4.1: Σ name + value + 32), over every field of
    /// the block, emitted or not (saturating).
    pub list_size: usize,
    /// The list outgrew the limit: the fields from the first one that did were not emitted (the
    /// stream is refused, e.g. with 431; the connection lives on).
    pub over_limit: bool,
}

/// What the module's tests share.
#[cfg(test)]
mod testutil {
    /// Bytes from hex digits, spaces and newlines ignored (as RFC 7541's examples print them).
    pub(super) fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        assert!(digits.len().is_multiple_of(2), "odd hex: {text}");
        digits.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
    }

    /// A field list as owned `(name, value)` byte strings, from text.
    pub(super) fn fields(list: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        list.iter().map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
    }
}
