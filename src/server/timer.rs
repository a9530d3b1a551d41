//! A per-thread hashed timer wheel for connection deadlines: O(1) to arm, O(1) per expiry, no
//! allocation per request, cheap at 100,000 connections.
//!
//! Time is counted in [`TICK`]s since the wheel was made; tick 0 means "no deadline". The wheel
//! only holds *candidates*: `(key, serial, at)` entries. A connection stores its own current
//! deadline and the tick of its one live entry (`armed_at`); moving a deadline later costs nothing
//! (the live entry fires, sees the later deadline and re-arms), moving it earlier adds an entry and
//! leaves the old one stale. Expired entries are checked against the connection before anything
//! happens, so stale ones are simply dropped.

use std::time::{Duration, Instant};

/// The wheel's resolution: deadlines fire at most this late.
pub(super) const TICK: Duration = Duration::from_millis(100);
/// Slots in the wheel; a deadline further out than this many ticks is parked at the far end and
/// re-armed when it comes round.
const SLOTS: u32 = 1024;

/// A timer entry: a connection's slab key and serial, and the tick it was armed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    pub key: u32,
    pub serial: u32,
    pub at: u32,
}

/// One thread's timer wheel.
#[derive(Debug)]
pub(super) struct Wheel {
    start: Instant,
    slots: Vec<Vec<Entry>>,
    /// The last tick whose slot was processed.
    current: u32,
    len: usize,
}

impl Wheel {
    pub(super) fn new(start: Instant) -> Self {
        Wheel { start, slots: (0..SLOTS).map(|_| Vec::new()).collect(), current: 0, len: 0 }
    }

    /// The tick `t` falls in (at least 1).
    pub(super) fn tick_of(&self, t: Instant) -> u32 {
        let ticks = t.saturating_duration_since(self.start).as_millis() / TICK.as_millis();
        u32::try_from(ticks).unwrap_or(u32::MAX - SLOTS).saturating_add(1)
    }

    /// The tick `timeout` after tick `since` (rounded up); 0 (no deadline) when `timeout` is zero.
    pub(super) fn after(since: u32, timeout: Duration) -> u32 {
        if timeout.is_zero() {
            return 0;
        }
        let ticks = u32::try_from(timeout.as_millis().div_ceil(TICK.as_millis())).unwrap_or(u32::MAX);
        since.saturating_add(ticks).min(u32::MAX - SLOTS)
    }

    /// Adds an entry for tick `at`, returning the tick it was really filed under (never in the
    /// past, at most one turn of the wheel ahead).
    pub(super) fn insert(&mut self, key: usize, serial: u64, at: u32) -> u32 {
        let at = at.clamp(self.current + 1, self.current + SLOTS);
        if let Some(slot) = self.slots.get_mut((at % SLOTS) as usize) {
            slot.push(Entry { key: key as u32, serial: serial as u32, at });
            self.len += 1;
        }
        at
    }

    /// Moves every entry due at or before `now_tick` into `due`.
    pub(super) fn expire(&mut self, now_tick: u32, due: &mut Vec<Entry>) {
        if now_tick <= self.current {
            return;
        }
        let first = self.current + 1;
        // After a long sleep, one pass over every slot sees everything.
        let last = now_tick.min(self.current + SLOTS);
        for t in first..=last {
            if let Some(slot) = self.slots.get_mut((t % SLOTS) as usize) {
                let before = due.len();
                due.append(slot);
                self.len -= due.len() - before;
            }
        }
        self.current = now_tick;
    }

    /// When the loop should wake next for the wheel, if it holds anything.
    pub(super) fn next_wake(&self) -> Option<Instant> {
        if self.len == 0 {
            return None;
        }
        let next = self.start + TICK * self.current;
        Some(next)
    }

    /// How many entries (live or stale) the wheel holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_to_ticks_and_zero_means_none() {
        let start = Instant::now();
        let w = Wheel::new(start);
        assert_eq!(w.tick_of(start), 1);
        assert_eq!(w.tick_of(start + Duration::from_millis(250)), 3);
        assert_eq!(Wheel::after(1, Duration::ZERO), 0);
        assert_eq!(Wheel::after(1, Duration::from_millis(1)), 2);
        assert_eq!(Wheel::after(1, Duration::from_secs(2)), 21);
        assert!(Wheel::after(1, Duration::MAX) > 1_000_000);
    }

    #[test]
    fn entries_expire_at_their_tick_and_not_before() {
        let start = Instant::now();
        let mut w = Wheel::new(start);
        assert_eq!(w.insert(7, 1, 5), 5);
        assert_eq!(w.insert(8, 2, 9), 9);
        let mut due = Vec::new();
        w.expire(4, &mut due);
        assert!(due.is_empty());
        w.expire(5, &mut due);
        assert_eq!(due, vec![Entry { key: 7, serial: 1, at: 5 }]);
        due.clear();
        w.expire(100, &mut due);
        assert_eq!(due, vec![Entry { key: 8, serial: 2, at: 9 }]);
        assert_eq!(w.len(), 0);
        assert_eq!(w.next_wake(), None);
    }

    #[test]
    fn far_and_past_deadlines_are_clamped_into_the_wheel() {
        let mut w = Wheel::new(Instant::now());
        let mut due = Vec::new();
        w.expire(10, &mut due);
        assert_eq!(w.insert(1, 1, 3), 11, "a past tick fires on the next one");
        assert_eq!(w.insert(2, 1, 10 + 5000), 10 + SLOTS, "parked one turn ahead");
        w.expire(10 + SLOTS - 1, &mut due);
        assert_eq!(due.len(), 1);
        w.expire(10 + SLOTS, &mut due);
        assert_eq!(due.len(), 2);
    }

    #[test]
    fn a_long_sleep_sees_every_slot_once() {
        let mut w = Wheel::new(Instant::now());
        for i in 0..SLOTS {
            w.insert(i as usize, 0, i + 1);
        }
        let mut due = Vec::new();
        w.expire(50 * SLOTS, &mut due);
        assert_eq!(due.len(), SLOTS as usize);
        assert!(w.next_wake().is_none());
    }
}
