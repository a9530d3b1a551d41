//! Send-rate windows: how fast a client takes output that waits for it.

use std::time::Duration;

use crate::server::timer;

/// How often a connection whose output waits for its client is checked: it hands the socket what
/// room has opened (writability is signalled only once a third of the send buffer is free, which
/// even a steady reader may take longer than a window to free), then its send rate is judged.
pub(super) const SEND_RATE_CHECK: Duration = Duration::from_secs(1);
/// The shortest span a waiting client's send rate is judged over: a client that took fewer than
/// `min_send_rate` × window bytes over the last window is closed. The window slides in tenths
/// ([`WINDOW_SLOTS`]), and the first judgement comes one whole window after the output began to
/// wait, so the window is also the grace period, and what the kernels' buffers absorbed at first
/// counts for one window only (an average since the stall began credited a slow reader with
/// megabytes, that is hours).
///
/// A steady reader takes bytes in bursts: its kernel reopens the receive window only once a
/// segment or more is free, so the server cannot see finer progress. A connection's window is
/// therefore the longer of this floor and the time [`WINDOW_SEGMENTS`] of its segments take at
/// the minimum rate ([`window_period`]). The floor keeps a check (1 s) a tenth of the window and
/// bounds how long the kernels' early absorption is credited; a longer one would let a client
/// that reads nothing hold its connection and its unsent output that much longer.
pub(super) const SEND_RATE_WINDOW: Duration = Duration::from_secs(10);
/// The window spans at least this many segments (`TCP_MAXSEG`, which Linux bounds by half the
/// peer's largest window) at the minimum rate. A reader's kernel reopens its window up to two
/// segments at a time (measured over loopback with a default client: bursts of 95,232 B, its
/// whole window, for a `TCP_MAXSEG` of 47,616 B), so a client reading at twice the minimum takes
/// at least three bursts, 1.5 times what it owes, in every window (below twice, it may not be:
/// measured over loopback at a minimum of 1,500 B/s, a 130 s window, a client reading 3,000 B/s
/// was kept for 420 s, one reading 2,250 B/s dropped after 169 s, 1,000 B/s after 130 s). With a
/// window of one burst (two segments), a client reading at twice the default 150 B/s over
/// loopback was dropped after 640 s (a window held one burst, just short of what it owed).
/// So, at the default 150 B/s: 40 s over Ethernet (1,448 B), 1,270 s over loopback; at
/// 10,000 B/s: 20 s over loopback, 10 s (the floor) for a client with a 4 KiB receive buffer
/// (2,048 B segments) or over Ethernet. A reader whose kernel reopens larger steps (Linux waits
/// for a sixteenth of a large receive buffer) must read proportionally faster to be safe.
pub(super) const WINDOW_SEGMENTS: u64 = 4;
/// Slots of a [`SendWindow`]: the window slides by this fraction of itself (by one check at the
/// shortest window).
pub(super) const WINDOW_SLOTS: usize = (SEND_RATE_WINDOW.as_millis() / SEND_RATE_CHECK.as_millis()) as usize;
/// Wheel ticks between two checks.
pub(super) const CHECK_TICKS: u32 = (SEND_RATE_CHECK.as_millis() / timer::TICK.as_millis()) as u32;

/// What a client took from a connection whose output waits for it: bytes per slot, over its
/// last window (a ring of [`WINDOW_SLOTS`] slots).
#[derive(Debug)]
pub(super) struct SendWindow {
    /// The wheel tick the wait began; checks are due every [`CHECK_TICKS`] from it.
    pub(super) since: u32,
    /// The tick of the next check (set by the last one, so an event on a check's tick does not
    /// skip it).
    pub(super) next: u32,
    /// Ticks per slot (a whole number of checks): the window over [`WINDOW_SLOTS`].
    pub(super) period: u32,
    /// Slots ended (recorded in `slots`) so far.
    pub(super) ended: u32,
    /// Bytes taken in the slot in progress.
    pub(super) current: u32,
    /// Bytes taken in each of the last ended slots, slot `p` at `p % WINDOW_SLOTS` (saturating:
    /// 4 GiB per slot is more than any minimum rate asks of one).
    pub(super) slots: [u32; WINDOW_SLOTS],
}

/// Ticks per slot of the send-rate window of a connection whose segments are `mss` bytes, at
/// `rate` bytes per second: the window is [`SEND_RATE_WINDOW`], or the time [`WINDOW_SEGMENTS`]
/// take at `rate` when that is longer, rounded up to whole checks per slot.
pub(super) fn window_period(mss: u32, rate: u64) -> u32 {
    let tick_ms = timer::TICK.as_millis() as u64;
    let segments_ms = (u64::from(mss) * WINDOW_SEGMENTS * 1000).div_ceil(rate.max(1));
    let window_ms = segments_ms.max(SEND_RATE_WINDOW.as_millis() as u64);
    let checks = window_ms.div_ceil(WINDOW_SLOTS as u64 * u64::from(CHECK_TICKS) * tick_ms);
    u32::try_from(checks).unwrap_or(u32::MAX).saturating_mul(CHECK_TICKS)
}

impl SendWindow {
    pub(super) fn new(since: u32, period: u32) -> Self {
        let next = since.saturating_add(CHECK_TICKS);
        SendWindow { since, next, period: period.max(1), ended: 0, current: 0, slots: [0; WINDOW_SLOTS] }
    }

    /// The client took `n` more bytes.
    pub(super) fn took(&mut self, n: usize) {
        self.current = self.current.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
    }

    /// The window's length.
    pub(super) fn length(&self) -> Duration {
        timer::TICK.saturating_mul(self.period.saturating_mul(WINDOW_SLOTS as u32))
    }

    /// A check at `now_tick`: schedules the next one, and ends every slot over by now (the bytes
    /// taken so far count to the latest one); once a whole window has ended, the bytes taken
    /// during the last one.
    pub(super) fn roll(&mut self, now_tick: u32) -> Option<u64> {
        let checks = now_tick.saturating_sub(self.since) / CHECK_TICKS;
        self.next = self.since.saturating_add(checks.saturating_add(1).saturating_mul(CHECK_TICKS));
        let over = now_tick.saturating_sub(self.since) / self.period;
        if over > self.ended {
            // A late check (a busy loop) ends several slots at once: the earlier ones took
            // nothing (only the last window's are kept), the latest all that came.
            let current = std::mem::take(&mut self.current);
            for p in self.ended.max(over.saturating_sub(WINDOW_SLOTS as u32))..over {
                if let Some(slot) = self.slots.get_mut(p as usize % WINDOW_SLOTS) {
                    *slot = if p + 1 == over { current } else { 0 };
                }
            }
            self.ended = over;
        }
        (self.ended as usize >= WINDOW_SLOTS).then(|| self.slots.iter().copied().map(u64::from).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOTS: u32 = WINDOW_SLOTS as u32;

    /// Ends the slots up to slot `k` (ticks since the wait began: `k × period`).
    fn roll_at(w: &mut SendWindow, k: u32) -> Option<u64> {
        w.roll(w.since + k * w.period)
    }

    #[test]
    fn the_send_rate_window_spans_four_segments_at_the_minimum_rate() {
        let secs = |period: u32| f64::from(period * SLOTS) * timer::TICK.as_secs_f64();
        // Ethernet: at the default 150 B/s four segments take 38.6 s (40 s in whole checks per
        // slot); at 10,000 B/s the floor.
        assert_eq!(secs(window_period(1448, 150)), 40.0);
        assert_eq!(secs(window_period(1448, 10_000)), 10.0);
        // Loopback, a default client: 1,270 s at 150 B/s, 19 s at 10,000 B/s (20 s); a client
        // with a 4 KiB receive buffer has 2 KiB segments.
        assert_eq!(secs(window_period(47_616, 150)), 1270.0);
        assert_eq!(secs(window_period(47_616, 10_000)), 20.0);
        assert_eq!(secs(window_period(2048, 10_000)), 10.0);
        assert_eq!(secs(window_period(65483, 1 << 30)), 10.0);
        assert_eq!(secs(window_period(0, 150)), 10.0);
        assert!(window_period(u32::MAX, 1) > 0);
        assert_eq!(SendWindow::new(1, window_period(1448, 150)).length(), Duration::from_secs(40));
    }

    #[test]
    fn the_send_rate_is_judged_only_over_a_whole_window_and_it_slides() {
        let mut w = SendWindow::new(7, CHECK_TICKS);
        assert_eq!(w.next, 7 + CHECK_TICKS);
        // What the kernels' buffers absorb at first counts for one window only.
        w.took(5_000_000);
        for k in 1..SLOTS {
            assert_eq!(roll_at(&mut w, k), None, "judged before a whole window, at slot {k}");
            w.took(100);
        }
        assert_eq!(roll_at(&mut w, SLOTS), Some(5_000_000 + 900));
        // Checks keep to their schedule, even when one runs late.
        assert_eq!(w.next, 7 + (SLOTS + 1) * CHECK_TICKS);
        assert_eq!(w.roll(7 + SLOTS * CHECK_TICKS + 3), Some(5_000_000 + 900));
        assert_eq!(w.next, 7 + (SLOTS + 1) * CHECK_TICKS);
        w.took(100);
        assert_eq!(roll_at(&mut w, SLOTS + 1), Some(1_000), "the first slot slid out");
        // Between two slot ends, nothing ends.
        w.took(1);
        assert_eq!(w.roll(w.since + (SLOTS + 1) * CHECK_TICKS + 3), Some(1_000));
    }

    #[test]
    fn a_long_window_is_checked_every_second_and_judged_every_slot() {
        let period = window_period(47_616, 150);
        let mut w = SendWindow::new(1, period);
        assert_eq!(w.next, 1 + CHECK_TICKS);
        for check in 1..period / CHECK_TICKS {
            w.took(10);
            assert_eq!(w.roll(1 + check * CHECK_TICKS), None);
            assert_eq!(w.next, 1 + (check + 1) * CHECK_TICKS);
        }
        w.took(10);
        assert_eq!(w.roll(1 + period), None, "one slot of ten");
        assert_eq!(w.slots[0], 10 * (period / CHECK_TICKS));
    }

    #[test]
    fn a_late_check_ends_the_slots_it_missed_as_empty() {
        let mut w = SendWindow::new(1, CHECK_TICKS);
        for k in 1..=SLOTS {
            w.took(10);
            roll_at(&mut w, k);
        }
        w.took(10);
        // Three slots late: the bytes count to the latest, the two missed took nothing.
        assert_eq!(roll_at(&mut w, SLOTS + 3), Some(10 * u64::from(SLOTS - 3) + 10));
        // Later than a whole window: only what came since.
        w.took(4);
        assert_eq!(roll_at(&mut w, 5 * SLOTS), Some(4));
    }

    #[test]
    fn counts_saturate_instead_of_wrapping() {
        let mut w = SendWindow::new(1, CHECK_TICKS);
        w.took(usize::MAX);
        w.took(1 << 31);
        assert_eq!(roll_at(&mut w, SLOTS), Some(u64::from(u32::MAX)));
    }
}
