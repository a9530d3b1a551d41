//! Output handed to the io_uring backend's ring: the buffers the kernel reads from until their
//! send completes.
//!
//! With the ring, a connection's answers leave as an `IORING_OP_SEND` submitted with the thread's
//! next `io_uring_enter` (which also waits for completions), not as a `send` call of their own. The
//! kernel reads a send's bytes when it runs, possibly long after it was queued (a slow client's
//! socket has no room), so those bytes must neither move nor change until the send's completion
//! is seen: they live here, in a slot, owned by no connection. A connection has at most one send
//! in flight; output it makes meanwhile waits in its own `outbuf`, in order.
//!
//! A slot outlives its connection when the connection closes with its send in the ring: the send
//! is cancelled and the slot freed at its completion. Finished buffers are kept (a few, of bounded
//! size) for the next sends, so a keep-alive answer allocates nothing.

use slab::Slab;

/// Spare buffers kept for reuse, at most.
const SPARES: usize = 32;
/// Sends in flight per thread past which output is no longer copied into a send
/// ([`Outbox::has_room`]) but sent with a direct call, so the buffers a burst of answers copies
/// into stay bounded whatever the number of connections. (Held-back output becomes a send from
/// its connection's own buffer whatever the count; the count includes those.)
const COPIED_IN_FLIGHT: usize = 64;
/// A buffer larger than this is freed after its send, not kept (small output is what is copied
/// into spares; a connection's held-back output is sent from its own buffer).
const SPARE_MAX_CAPACITY: usize = 8 * 1024;
/// The least capacity of a new buffer (a keep-alive answer fits).
const MIN_CAPACITY: usize = 1024;

/// One send's bytes and whose they are.
#[derive(Debug)]
struct InFlight {
    buf: Vec<u8>,
    /// Bytes of `buf` the kernel has taken.
    pos: usize,
    /// The connection (slab key and serial) the bytes are for.
    key: usize,
    serial: u64,
    /// The send is in the ring (else it still has to be queued).
    queued: bool,
}

/// A thread's sends in flight, by slot.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    slots: Slab<InFlight>,
    spare: Vec<Vec<u8>>,
}

impl Outbox {
    /// An empty buffer with room for `len` bytes: a kept one that has the room (the most recent
    /// first), else a new one of the next power of two (so kept buffers come in few sizes).
    pub fn spare(&mut self, len: usize) -> Vec<u8> {
        match self.spare.iter().rposition(|b| b.capacity() >= len) {
            Some(i) => self.spare.swap_remove(i),
            None => Vec::with_capacity(len.next_power_of_two().max(MIN_CAPACITY)),
        }
    }

    /// Whether copied output may become another send (see [`COPIED_IN_FLIGHT`]).
    pub fn has_room(&self) -> bool {
        self.slots.len() < COPIED_IN_FLIGHT
    }

    /// Takes `buf` (not empty) to send for connection `key`/`serial`; returns its slot.
    pub fn put(&mut self, buf: Vec<u8>, key: usize, serial: u64) -> u32 {
        let slot = self.slots.insert(InFlight { buf, pos: 0, key, serial, queued: false });
        u32::try_from(slot).unwrap_or(u32::MAX)
    }

    /// The connection slot `slot` sends for.
    pub fn owner(&self, slot: u32) -> Option<(usize, u64)> {
        self.slots.get(slot as usize).map(|f| (f.key, f.serial))
    }

    /// The bytes of `slot` still to send, if it is not in the ring yet; marks it queued. The
    /// pointer stays valid until [`release`](Outbox::release): the buffer is not touched meanwhile.
    pub fn next_send(&mut self, slot: u32) -> Option<(*const u8, usize)> {
        let f = self.slots.get_mut(slot as usize)?;
        if f.queued {
            return None;
        }
        f.queued = true;
        let rest = f.buf.get(f.pos..).unwrap_or_default();
        Some((rest.as_ptr(), rest.len()))
    }

    /// Whether `slot`'s send is in the ring.
    pub fn is_queued(&self, slot: u32) -> bool {
        self.slots.get(slot as usize).is_some_and(|f| f.queued)
    }

    /// The kernel took `n` more bytes of `slot`; `true` when some are left (the send is then to
    /// be queued again for them).
    pub fn took(&mut self, slot: u32, n: usize) -> bool {
        let Some(f) = self.slots.get_mut(slot as usize) else { return false };
        f.pos = f.pos.saturating_add(n).min(f.buf.len());
        f.queued = false;
        f.pos < f.buf.len()
    }

    /// `slot`'s send must be queued again (it ended without taking everything: a signal, or no
    /// room at once).
    pub fn requeue(&mut self, slot: u32) {
        if let Some(f) = self.slots.get_mut(slot as usize) {
            f.queued = false;
        }
    }

    /// Frees `slot` (its send is over, or was never queued); its buffer is kept as a spare.
    pub fn release(&mut self, slot: u32) {
        if let Some(mut f) = self.slots.try_remove(slot as usize)
            && self.spare.len() < SPARES
            && f.buf.capacity() <= SPARE_MAX_CAPACITY
        {
            f.buf.clear();
            self.spare.push(f.buf);
        }
    }

    /// Gives up every buffer without freeing it: the kernel may still read from them (the ring
    /// could not see every operation back).
    pub fn leak(&mut self) {
        std::mem::forget(std::mem::take(&mut self.slots));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_holds_its_bytes_until_released_and_partial_sends_resume_where_they_stopped() {
        let mut o = Outbox::default();
        let mut buf = o.spare(11);
        buf.extend_from_slice(b"hello world");
        let slot = o.put(buf, 7, 42);
        assert_eq!(o.owner(slot), Some((7, 42)));
        let (ptr, len) = o.next_send(slot).expect("not queued yet");
        assert_eq!(len, 11);
        // SAFETY: the slot is alive and its buffer untouched.
        assert_eq!(unsafe { std::slice::from_raw_parts(ptr, len) }, b"hello world");
        assert!(o.is_queued(slot));
        assert!(o.next_send(slot).is_none(), "queued once");
        assert!(o.took(slot, 6), "five bytes left");
        let (ptr, len) = o.next_send(slot).expect("queued again for the rest");
        // SAFETY: as above.
        assert_eq!(unsafe { std::slice::from_raw_parts(ptr, len) }, b"world");
        assert!(!o.took(slot, 5));
        o.release(slot);
        assert!(o.slots.is_empty());
        assert_eq!(o.owner(slot), None);
        let reused = o.spare(11);
        assert!(reused.is_empty() && reused.capacity() >= MIN_CAPACITY, "the buffer is kept for the next send");
        o.spare.push(reused);
        let bigger = o.spare(MIN_CAPACITY + 1);
        assert_eq!(bigger.capacity(), 2 * MIN_CAPACITY, "a kept buffer too small is not used");
        assert_eq!(o.spare.len(), 1, "and stays kept");
        o.spare.push(bigger);
        assert_eq!(o.spare(MIN_CAPACITY + 1).capacity(), 2 * MIN_CAPACITY, "the one with room is found");
    }

    #[test]
    fn spares_are_bounded_in_number_and_size() {
        let mut o = Outbox::default();
        let slots: Vec<u32> = (0..SPARES + 5).map(|k| o.put(vec![1], k, 0)).collect();
        let big = o.put(Vec::with_capacity(SPARE_MAX_CAPACITY + 1), 99, 0);
        o.release(big);
        for s in slots {
            o.release(s);
        }
        assert_eq!(o.spare.len(), SPARES);
        assert!(o.spare.iter().all(|b| b.capacity() <= SPARE_MAX_CAPACITY));
    }
}
