//! A per-thread hashed timer wheel for connection deadlines: O(1) to arm, O(1) per expiry, no
//! allocation per request, cheap at 100,000 connections.
//!
//! Time is counted in [`TICK`]s since the wheel was made; tick 0 means "no deadline". The wheel
//! only holds *candidates*: `(key, serial, at)` entries. A connection stores its own current
//! deadline and the tick of its one live entry (`armed_at`); moving a deadline later costs nothing
//! (the live entry fires, sees the later deadline and re-arms), moving it earlier adds an entry and
//! leaves the old one stale. Expired entries are checked against the connection before anything
//! happens, so stale ones are simply dropped.
//!
//! # Memory
//! An entry left behind (its connection closed, or re-armed earlier) is not searched for: its
//! owner only counts it ([`Wheel::forget`]). Once the entries known stale are more than the live
//! ones (and more than [`COMPACT_MIN`]), the next [`Wheel::expire`] drops them from every slot;
//! at a tick where all of them are stale, it drops them all. So the wheel holds at most about
//! twice the live entries (plus [`COMPACT_MIN`]), not an entry per connection closed in the last
//! turn of the wheel (102.4 s: millions under connection churn). A slot's buffer is given back
//! when the slot empties (past [`SLOT_KEEP`] entries) or falls far below its capacity, so the
//! memory goes when the load does.
//!
//! INVARIANT (kept by the owner): [`Wheel::forget`] is called once for each entry that stops
//! being live while it is in the wheel, and never for any other; `live` (given to
//! [`Wheel::expire`]) says whether an entry is its connection's live one. Then `stale` is exactly
//! the number of entries in the wheel that are not live.

use std::time::{Duration, Instant};

/// The wheel's resolution: deadlines fire at most this late.
pub(super) const TICK: Duration = Duration::from_millis(100);
/// Slots in the wheel; a deadline further out than this many ticks is parked at the far end and
/// re-armed when it comes round.
const SLOTS: u32 = 1024;
/// Stale entries the wheel may hold before it compacts (below this, compacting would cost more
/// than the memory it saves: a pass visits every slot).
const COMPACT_MIN: usize = 1024;
/// Entries an emptied slot keeps room for (the next turn reuses it) while the wheel holds
/// anything; a larger buffer is freed.
const SLOT_KEEP: usize = 16;

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
    /// Slot `t % SLOTS` holds the entries for tick `t` (one tick's only: entries are filed at
    /// most one turn ahead).
    slots: Vec<Vec<Entry>>,
    /// The last tick whose slot was processed.
    current: u32,
    /// Entries in the wheel, live or stale.
    len: usize,
    /// Of those, the ones known stale (see the module's INVARIANT).
    stale: usize,
}

/// Gives back most of a buffer far larger than what it holds: all of an empty one past
/// [`SLOT_KEEP`], and down to twice its length one holding under a quarter of its capacity.
/// So a buffer's capacity stays below `max(SLOT_KEEP, 4 × len)` (pushes double it at most).
pub(super) fn trim(v: &mut Vec<Entry>) {
    if v.capacity() > SLOT_KEEP && v.capacity() > 4 * v.len() {
        if v.is_empty() {
            *v = Vec::new();
        } else {
            v.shrink_to(2 * v.len());
        }
    }
}

impl Wheel {
    pub(super) fn new(start: Instant) -> Self {
        Wheel { start, slots: (0..SLOTS).map(|_| Vec::new()).collect(), current: 0, len: 0, stale: 0 }
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

    /// The tick an entry for tick `at` is filed under: never in the past, at most one turn of
    /// the wheel ahead.
    pub(super) fn filed(&self, at: u32) -> u32 {
        at.clamp(self.current + 1, self.current + SLOTS)
    }

    /// Adds an entry for tick `at`, returning the tick it was really filed under
    /// ([`filed`](Wheel::filed)).
    pub(super) fn insert(&mut self, key: usize, serial: u64, at: u32) -> u32 {
        let at = self.filed(at);
        if let Some(slot) = self.slots.get_mut((at % SLOTS) as usize) {
            slot.push(Entry { key: key as u32, serial: serial as u32, at });
            self.len += 1;
        }
        at
    }

    /// One entry in the wheel stopped being live (its connection closed, or filed an earlier
    /// one): it is counted, and dropped by a later [`expire`](Wheel::expire) or when it is due.
    pub(super) fn forget(&mut self) {
        self.stale += 1;
    }

    /// Moves every live entry due at or before `now_tick` into `due`, dropping stale ones; first
    /// drops every stale entry in the wheel if they outnumber the live ones (see # Memory).
    /// `live` says whether an entry is still its connection's live one.
    pub(super) fn expire(&mut self, now_tick: u32, due: &mut Vec<Entry>, live: impl Fn(&Entry) -> bool) {
        let all_stale = self.stale >= self.len && now_tick > self.current;
        if (self.stale > COMPACT_MIN && self.stale * 2 > self.len) || (all_stale && self.len > 0) {
            // (With nothing live, at most once a tick: a thread serving one connection at a time
            // would otherwise sweep every slot per connection.)
            self.compact(&live);
        }
        if now_tick <= self.current {
            return;
        }
        let first = self.current + 1;
        // After a long sleep, one pass over every slot sees everything.
        let last = now_tick.min(self.current + SLOTS);
        for t in first..=last {
            if let Some(slot) = self.slots.get_mut((t % SLOTS) as usize) {
                self.len -= slot.len();
                for e in slot.drain(..) {
                    if live(&e) {
                        due.push(e);
                    } else {
                        self.stale = self.stale.saturating_sub(1);
                    }
                }
                trim(slot);
            }
        }
        self.current = now_tick;
        if self.len == 0 {
            // Nothing armed (the load is gone): no slot keeps a buffer for the next turn.
            self.slots.iter_mut().for_each(|slot| *slot = Vec::new());
        }
    }

    /// Drops every stale entry and trims every slot.
    fn compact(&mut self, live: &impl Fn(&Entry) -> bool) {
        let mut len = 0;
        for slot in &mut self.slots {
            slot.retain(live);
            trim(slot);
            len += slot.len();
        }
        debug_assert_eq!(len, self.len - self.stale.min(self.len), "the stale count is exact");
        self.len = len;
        self.stale = 0;
    }

    /// When the loop should wake next for the wheel, if it holds anything. (Entries all stale
    /// still wake it once, at the next tick, to be dropped.)
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

    /// The entries the slots have room for.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.slots.iter().map(Vec::capacity).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn all(_: &Entry) -> bool {
        true
    }

    /// A model of the owner: each key's live entry (its `armed_at`).
    #[derive(Default)]
    struct Owner {
        armed: HashMap<u32, u32>,
    }

    impl Owner {
        fn live(&self) -> impl Fn(&Entry) -> bool + '_ {
            |e| self.armed.get(&e.key) == Some(&e.at)
        }

        fn arm(&mut self, w: &mut Wheel, key: u32, at: u32) {
            if self.armed.contains_key(&key) {
                w.forget();
            }
            self.armed.insert(key, w.insert(key as usize, 0, at));
        }

        fn close(&mut self, w: &mut Wheel, key: u32) {
            if self.armed.remove(&key).is_some() {
                w.forget();
            }
        }
    }

    /// The bound the module's # Memory promises, for `live` live entries.
    fn bounded(w: &Wheel, live: usize) {
        assert!(w.len() <= 2 * live + COMPACT_MIN + 1, "{} entries for {live} live", w.len());
        let cap = w.capacity();
        assert!(cap <= SLOTS as usize * SLOT_KEEP + 4 * w.len(), "room for {cap} entries, {} held", w.len());
    }

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
        w.expire(4, &mut due, all);
        assert!(due.is_empty());
        w.expire(5, &mut due, all);
        assert_eq!(due, vec![Entry { key: 7, serial: 1, at: 5 }]);
        due.clear();
        w.expire(100, &mut due, all);
        assert_eq!(due, vec![Entry { key: 8, serial: 2, at: 9 }]);
        assert_eq!(w.len(), 0);
        assert_eq!(w.next_wake(), None);
    }

    #[test]
    fn far_and_past_deadlines_are_clamped_into_the_wheel() {
        let mut w = Wheel::new(Instant::now());
        let mut due = Vec::new();
        w.expire(10, &mut due, all);
        assert_eq!(w.filed(3), 11);
        assert_eq!(w.insert(1, 1, 3), 11, "a past tick fires on the next one");
        assert_eq!(w.insert(2, 1, 10 + 5000), 10 + SLOTS, "parked one turn ahead");
        w.expire(10 + SLOTS - 1, &mut due, all);
        assert_eq!(due.len(), 1);
        w.expire(10 + SLOTS, &mut due, all);
        assert_eq!(due.len(), 2);
    }

    #[test]
    fn a_long_sleep_sees_every_slot_once() {
        let mut w = Wheel::new(Instant::now());
        for i in 0..SLOTS {
            w.insert(i as usize, 0, i + 1);
        }
        let mut due = Vec::new();
        w.expire(50 * SLOTS, &mut due, all);
        assert_eq!(due.len(), SLOTS as usize);
        assert!(w.next_wake().is_none());
    }

    #[test]
    fn forgotten_entries_are_dropped_when_due_not_handed_out() {
        let mut w = Wheel::new(Instant::now());
        let mut owner = Owner::default();
        let mut due = Vec::new();
        owner.arm(&mut w, 1, 5);
        owner.arm(&mut w, 2, 5);
        owner.arm(&mut w, 1, 3); // re-armed earlier: its entry at 5 is stale
        owner.close(&mut w, 2);
        assert_eq!((w.len(), w.stale), (3, 2));
        w.expire(3, &mut due, owner.live());
        assert_eq!(due, vec![Entry { key: 1, serial: 0, at: 3 }]);
        owner.armed.remove(&1); // it fired: no longer armed
        due.clear();
        w.expire(5, &mut due, owner.live());
        assert!(due.is_empty(), "stale entries are not handed out");
        assert_eq!((w.len(), w.stale), (0, 0));
        assert_eq!(w.next_wake(), None);
    }

    #[test]
    fn stale_entries_outnumbering_live_ones_are_compacted_away() {
        let mut w = Wheel::new(Instant::now());
        let mut owner = Owner::default();
        let mut due = Vec::new();
        // 10,000 connections over the wheel's turn, then 9,000 of them close.
        for key in 0..10_000 {
            owner.arm(&mut w, key, 2 + key % SLOTS);
        }
        for key in 1_000..10_000 {
            owner.close(&mut w, key);
        }
        assert_eq!(w.len(), 10_000, "forgetting alone searches nothing");
        w.expire(1, &mut due, owner.live());
        assert!(due.is_empty());
        assert_eq!((w.len(), w.stale), (1_000, 0));
        bounded(&w, 1_000);
        // The live ones still fire, each at its tick.
        w.expire(2 + SLOTS, &mut due, owner.live());
        assert_eq!(due.len(), 1_000);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn connection_churn_keeps_memory_proportional_to_live_entries_and_gives_it_back() {
        // 64 connections at a time, each closed right after it was armed for a deadline a whole
        // turn away (the idle timeout), 600 per tick: a wheel turn of them would be 614,400.
        let mut w = Wheel::new(Instant::now());
        let mut owner = Owner::default();
        let mut due = Vec::new();
        let mut key = 0u32;
        for tick in 1..3 * SLOTS {
            for _ in 0..600 {
                owner.arm(&mut w, key, tick + SLOTS);
                if key >= 64 {
                    owner.close(&mut w, key - 64);
                }
                key += 1;
                if key.is_multiple_of(100) {
                    // The loop runs the wheel after each batch of completions.
                    w.expire(tick, &mut due, owner.live());
                    assert!(due.is_empty());
                    bounded(&w, owner.armed.len());
                }
            }
        }
        assert!(w.len() <= 64 + COMPACT_MIN + 100, "{} entries held", w.len());
        // The load stops: the last connections close, and at the next tick nothing is left.
        for k in key - 64..key {
            owner.close(&mut w, k);
        }
        w.expire(3 * SLOTS, &mut due, owner.live());
        assert_eq!((w.len(), w.stale, w.capacity()), (0, 0, 0));
        assert_eq!(w.next_wake(), None);
    }

    #[test]
    fn a_slot_gives_its_buffer_back_once_emptied() {
        let mut w = Wheel::new(Instant::now());
        let mut due = Vec::new();
        for key in 0..100_000 {
            w.insert(key, 0, 5);
        }
        assert!(w.capacity() >= 100_000);
        w.expire(5, &mut due, all);
        assert_eq!(due.len(), 100_000);
        assert_eq!(w.capacity(), 0, "an emptied slot keeps no large buffer");
        // A small slot keeps its room for the next turn (while the wheel holds anything).
        w.insert(0, 0, 100);
        for key in 0..SLOT_KEEP {
            w.insert(key, 0, 6);
        }
        let room = w.capacity();
        w.expire(6, &mut due, all);
        assert_eq!(w.capacity(), room);
        w.expire(100, &mut due, all);
        assert_eq!(w.capacity(), 0, "an empty wheel keeps nothing");
        let mut v: Vec<Entry> = Vec::with_capacity(1000);
        v.push(Entry { key: 0, serial: 0, at: 0 });
        trim(&mut v);
        assert!(v.capacity() < 4 * SLOT_KEEP, "a buffer mostly empty shrinks: {}", v.capacity());
    }
}
