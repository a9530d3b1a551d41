//! The in-flight answer slots: answers kept in request order while an earlier one is deferred.

use std::collections::VecDeque;

use crate::app::response::Tail;

/// An answer slot, kept in request order while any earlier answer is deferred.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) seq: u32,
    pub(super) state: SlotState,
}

/// The answer slots in request order. None exist on the inline fast path, so the deque is boxed
/// and freed whenever it empties: an idle connection carries one null pointer for it.
#[derive(Debug, Default)]
// The box is the point: `Option<Box<_>>` is 8 bytes where an empty `VecDeque` is 32.
#[allow(clippy::box_collection)]
pub(super) struct Slots(Option<Box<VecDeque<Slot>>>);

impl Slots {
    pub(super) const fn new() -> Self {
        Slots(None)
    }

    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    #[inline]
    pub(super) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |q| q.len())
    }

    pub(super) fn front(&self) -> Option<&Slot> {
        self.0.as_ref()?.front()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.0.iter().flat_map(|q| q.iter())
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Slot> {
        self.0.iter_mut().flat_map(|q| q.iter_mut())
    }

    pub(super) fn get_mut(&mut self, pos: usize) -> Option<&mut Slot> {
        self.0.as_mut()?.get_mut(pos)
    }

    pub(super) fn push_back(&mut self, slot: Slot) {
        self.0.get_or_insert_with(|| Box::new(VecDeque::with_capacity(4))).push_back(slot);
    }

    pub(super) fn pop_front(&mut self) -> Option<Slot> {
        let q = self.0.as_mut()?;
        let slot = q.pop_front();
        if q.is_empty() {
            self.0 = None;
        }
        slot
    }

    pub(super) fn clear(&mut self) {
        self.0 = None;
    }
}

#[derive(Debug)]
pub(super) enum SlotState {
    /// Waiting for [`Conn::complete`](super::Conn::complete); what the answer's framing must say.
    Waiting { head_only: bool, close: bool, keep_alive_10: bool, http10: bool },
    /// Encoded, waiting for the answers before it. `close`: the connection ends after it;
    /// `tail`: a body (file or stream) the caller sends after `bytes`.
    Ready { bytes: Vec<u8>, close: bool, tail: Option<Tail> },
}
