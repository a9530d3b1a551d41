//! Ring operation tags: what each operation in the io_uring backend's ring is for, in 64 bits.
//!
//! The kernel hands an operation's tag (`user_data`) back with each of its completions. A tag is
//! [`Op::encode`]d when the operation is queued and [`Op::decode`]d when it completes. Layout: the
//! kind in the top two bits (0: a cancel, 1: a receive, 2: a poll, 3: the thread's own
//! operations); a connection's operations then carry the low 32 bits of its serial, a poll's
//! sub-kind in bit 29 (0: a wait for room, 1: a wait for the client's hang-up) and its slab key
//! (29 bits), so a completion for a connection gone (its key reused) is told apart; the thread's
//! own carry a sub-kind in bits 32–33 (0: epoll, 1: accept, 2: send) and an index in the low 32
//! bits.

/// Connections whose slab key is below this can have operations in the ring (a tag holds the key
/// in 29 bits); a connection accepted past it is refused.
pub(super) const KEYS: usize = 1 << 29;

const KIND_SHIFT: u32 = 62;
const SERIAL_SHIFT: u32 = 30;
const SUB_SHIFT: u32 = 32;
/// A poll's sub-kind: set for a wait for the hang-up, clear for a wait for room.
const HANGUP_BIT: u64 = 1 << 29;
const KIND_RECV: u64 = 1;
const KIND_POLL: u64 = 2;
const KIND_THREAD: u64 = 3;
const SUB_EPOLL: u64 = 0;
const SUB_ACCEPT: u64 = 1;
const SUB_SEND: u64 = 2;

/// What a ring operation is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    /// A cancel's (or a close's) own completion: nothing to act on.
    Cancel,
    /// Connection `key`'s multishot receive; `serial`: the low 32 bits of its serial.
    Recv { key: usize, serial: u32 },
    /// Connection `key`'s wait for room to write (`POLLOUT`).
    Writable { key: usize, serial: u32 },
    /// Connection `key`'s wait for its client to end or reset (`POLLRDHUP`), while it has no
    /// receive in the ring.
    Hangup { key: usize, serial: u32 },
    /// The thread's `epoll` descriptor became readable (the waker, listeners not in the ring).
    Epoll,
    /// Listener `i` accepted a connection (a multishot accept).
    Accept(usize),
    /// The send in outbox slot `s` completed.
    Send(u32),
}

impl Op {
    /// Connection `key`'s receive (`key` below [`KEYS`]); only the low 32 bits of `serial` are kept.
    pub(super) fn recv(key: usize, serial: u64) -> Op {
        Op::Recv { key, serial: serial as u32 }
    }

    /// Connection `key`'s wait for room (`key` below [`KEYS`]).
    pub(super) fn writable(key: usize, serial: u64) -> Op {
        Op::Writable { key, serial: serial as u32 }
    }

    /// Connection `key`'s wait for its client's hang-up (`key` below [`KEYS`]).
    pub(super) fn hangup(key: usize, serial: u64) -> Op {
        Op::Hangup { key, serial: serial as u32 }
    }

    /// The tag the kernel carries. A key from [`KEYS`] on, or a listener index past 32 bits,
    /// does not fit (debug builds panic; the caller never makes one).
    pub(super) fn encode(self) -> u64 {
        let conn = |kind: u64, key: usize, serial: u32| {
            debug_assert!(key < KEYS, "slab key {key} does not fit a ring tag");
            (kind << KIND_SHIFT) | (u64::from(serial) << SERIAL_SHIFT) | (key & (KEYS - 1)) as u64
        };
        let thread = |sub: u64, index: u32| (KIND_THREAD << KIND_SHIFT) | (sub << SUB_SHIFT) | u64::from(index);
        match self {
            Op::Cancel => 0,
            Op::Recv { key, serial } => conn(KIND_RECV, key, serial),
            Op::Writable { key, serial } => conn(KIND_POLL, key, serial),
            Op::Hangup { key, serial } => conn(KIND_POLL, key, serial) | HANGUP_BIT,
            Op::Epoll => thread(SUB_EPOLL, 0),
            Op::Accept(i) => {
                debug_assert!(u32::try_from(i).is_ok(), "listener index {i} does not fit a ring tag");
                thread(SUB_ACCEPT, i as u32)
            }
            Op::Send(slot) => thread(SUB_SEND, slot),
        }
    }

    /// What `tag` is for; `None` for a tag [`encode`](Op::encode) never makes.
    pub(super) fn decode(tag: u64) -> Option<Op> {
        let key = (tag as usize) & (KEYS - 1);
        let serial = (tag >> SERIAL_SHIFT) as u32;
        let index = tag as u32;
        match tag >> KIND_SHIFT {
            KIND_RECV if tag & HANGUP_BIT == 0 => Some(Op::Recv { key, serial }),
            KIND_POLL if tag & HANGUP_BIT == 0 => Some(Op::Writable { key, serial }),
            KIND_POLL => Some(Op::Hangup { key, serial }),
            KIND_THREAD => match (tag >> SUB_SHIFT) & ((1 << (KIND_SHIFT - SUB_SHIFT)) - 1) {
                SUB_EPOLL if index == 0 => Some(Op::Epoll),
                SUB_ACCEPT => Some(Op::Accept(index as usize)),
                SUB_SEND => Some(Op::Send(index)),
                _ => None,
            },
            _ => (tag == 0).then_some(Op::Cancel),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_survives_the_round_trip_at_its_edges() {
        let mut ops = vec![Op::Cancel, Op::Epoll];
        for key in [0, 1, KEYS / 2, KEYS - 1] {
            for serial in [0, 1, u32::MAX / 2, u32::MAX - 1, u32::MAX] {
                ops.push(Op::Recv { key, serial });
                ops.push(Op::Writable { key, serial });
                ops.push(Op::Hangup { key, serial });
            }
        }
        for i in [0, 1, 1 << 16, u32::MAX as usize] {
            ops.push(Op::Accept(i));
        }
        for slot in [0, 1, 1 << 16, u32::MAX] {
            ops.push(Op::Send(slot));
        }
        for op in ops {
            assert_eq!(Op::decode(op.encode()), Some(op), "{op:?} as {:#x}", op.encode());
        }
    }

    #[test]
    fn kinds_keep_the_layout_they_had_as_constants() {
        // (The tag values of the hand-packed constants this enum replaced.)
        assert_eq!(Op::Cancel.encode(), 0);
        assert_eq!(Op::Epoll.encode(), 3 << 62);
        assert_eq!(Op::Accept(5).encode(), (3 << 62) | (1 << 32) | 5);
        assert_eq!(Op::Send(7).encode(), (3 << 62) | (2 << 32) | 7);
        assert_eq!(Op::recv(3, (1 << 40) | 9).encode(), (1 << 62) | (9 << 30) | 3);
        assert_eq!(Op::writable(3, 9).encode(), (2 << 62) | (9 << 30) | 3);
        assert_eq!(Op::hangup(3, 9).encode(), (2 << 62) | (9 << 30) | (1 << 29) | 3);
    }

    #[test]
    fn tags_never_made_are_refused() {
        assert_eq!(Op::decode(1), None, "kind 0 is only the cancel");
        assert_eq!(Op::decode((3 << 62) | 1), None, "epoll carries no index");
        assert_eq!(Op::decode((3 << 62) | (3 << 32)), None, "no fourth sub-kind");
        assert_eq!(Op::decode((1 << 62) | (1 << 29)), None, "a receive has no sub-kind");
    }
}
