//! What an HTTP/2 connection needs only while it has streams — the stream table, the decoded
//! head, the staged answer fields, a split header block — kept per I/O thread between uses, so
//! an idle connection holds none of it (as an idle HTTP/1 connection holds no buffer) and a busy
//! one allocates nothing: the connection going idle gives its vectors back ([`Conn::settle`]),
//! and the next stream takes them again.
//!
//! A thread-local pool: the codec stays sans-I/O (nothing here depends on time or sockets, and
//! the bytes out never depend on which vector was reused). Each pool is bounded in count and in
//! the capacity of what it keeps, so a burst of connections does not pin memory for ever.

use std::cell::RefCell;

use super::stream::Stream;
use super::{Conn, OwnedHead};

/// Vectors of each kind kept per thread at most.
const KEPT: usize = 64;
/// A stream table kept holds at most this many streams' room (a larger one is freed).
const KEPT_STREAMS: usize = 8;
/// A byte or field vector kept holds at most this many bytes (a larger one is freed).
const KEPT_BYTES: usize = 4096;

#[derive(Default)]
struct Pool {
    streams: Vec<Vec<Stream>>,
    bytes: Vec<Vec<u8>>,
    fields: Vec<Vec<[u32; 3]>>,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

fn keep<T>(kept: &mut Vec<Vec<T>>, mut v: Vec<T>, max_room: usize) {
    if v.capacity() > 0 && v.capacity() <= max_room && kept.len() < KEPT {
        v.clear();
        kept.push(v);
    }
}

impl OwnedHead {
    /// Gives the head's vectors back (it is empty after).
    fn give(&mut self, pool: &mut Pool) {
        let (text, fields) = self.take_vecs();
        keep(&mut pool.bytes, text, KEPT_BYTES);
        keep(&mut pool.fields, fields, KEPT_BYTES / 12);
    }
}

impl Conn {
    /// Makes sure the stream table has room for one more without allocating when a vector
    /// given back earlier on this thread is there.
    pub(super) fn stream_room(&mut self) {
        if self.streams.capacity() == 0 {
            self.streams = POOL.with(|p| p.borrow_mut().streams.pop()).unwrap_or_default();
        }
    }

    /// Takes back, before a header block is decoded, the head's vectors.
    pub(super) fn head_room(&mut self) {
        if self.head.is_bare() {
            POOL.with(|p| {
                let mut p = p.borrow_mut();
                let text = p.bytes.pop().unwrap_or_default();
                let fields = p.fields.pop().unwrap_or_default();
                self.head.put_vecs(text, fields);
            });
        }
    }

    /// Takes back, before an answer is staged, the staging vector.
    pub(super) fn stage_room(&mut self) {
        if self.stage.capacity() == 0 {
            self.stage = POOL.with(|p| p.borrow_mut().bytes.pop()).unwrap_or_default();
        }
    }

    /// With no stream open and no header block under way, gives the vectors back to the
    /// thread's pool. Called where the loop's calls end ([`Conn::pump`]).
    pub(super) fn settle(&mut self) {
        if !self.streams.is_empty() || self.block_of.is_some() {
            return;
        }
        if self.streams.capacity() == 0
            && self.stage.capacity() == 0
            && self.head.is_bare()
            && self.block.capacity() == 0
        {
            return;
        }
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            keep(&mut p.streams, std::mem::take(&mut self.streams), KEPT_STREAMS);
            keep(&mut p.bytes, std::mem::take(&mut self.stage), KEPT_BYTES);
            keep(&mut p.bytes, std::mem::take(&mut self.block), KEPT_BYTES);
            self.head.give(&mut p);
        });
    }

    /// Whether the connection holds none of the vectors above (an idle connection's state).
    #[cfg(test)]
    pub(super) fn holds_no_spare(&self) -> bool {
        self.streams.capacity() == 0 && self.stage.capacity() == 0 && self.block.capacity() == 0 && self.head.is_bare()
    }
}
