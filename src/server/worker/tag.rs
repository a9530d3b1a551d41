//! Ring operation tags: what each operation in the io_uring backend's ring is for.

/// Ring operation tags: the kind in the top two bits, then a connection's serial (low 32 bits)
/// and its slab key (below [`TAG_KEYS`]), so a completion for a connection gone (its key reused)
/// is told apart.
pub(super) const TAG_RECV: u64 = 1 << 62;
pub(super) const TAG_WRITABLE: u64 = 2 << 62;
/// The thread's `epoll` descriptor became readable (the waker, listeners not in the ring).
pub(super) const TAG_EPOLL: u64 = 3 << 62;
/// Listener `i` accepted a connection: `TAG_ACCEPT | i`.
pub(super) const TAG_ACCEPT: u64 = (3 << 62) | (1 << 32);
/// The send in outbox slot `s` completed: `TAG_SEND | s`.
pub(super) const TAG_SEND: u64 = (3 << 62) | (2 << 32);
/// A cancel's own completion.
pub(super) const TAG_CANCEL: u64 = 0;
pub(super) const TAG_KEYS: usize = 1 << 30;

/// The key-and-serial part of a connection's ring tags.
pub(super) fn conn_tag(key: usize, serial: u64) -> u64 {
    (u64::from(serial as u32) << 30) | (key & (TAG_KEYS - 1)) as u64
}

/// The connection a ring tag names: its key and the low 32 bits of its serial.
pub(super) fn tag_conn(tag: u64) -> (usize, u32) {
    ((tag as usize) & (TAG_KEYS - 1), (tag >> 30) as u32)
}
