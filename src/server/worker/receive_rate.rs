//! The minimum request-body rate (`Timeouts::min_receive_rate`): by when a body being read must
//! bring more.

use crate::limits::MinRate;
use crate::server::timer::Wheel;

/// The tick by which a body first waited for at tick `since`, which has brought `bytes` since,
/// falls below `rate`: the time those bytes take at the rate, but not before the grace ends;
/// `None` for a rate of 0. Each arrival moves it later by the time its bytes are worth, so the
/// judgement is this one division after a drive and the wheel's compare, and a client is held at
/// most the grace plus `max_body_size` ÷ rate (an average from the start, as Kestrel's: bytes
/// sent early are credited to the end).
pub(super) fn deadline(since: u32, bytes: u32, rate: &MinRate) -> Option<u32> {
    if rate.bytes_per_second == 0 {
        return None;
    }
    let earned = std::time::Duration::from_millis(u64::from(bytes) * 1000 / rate.bytes_per_second);
    let allowed = earned.max(rate.grace);
    // (`Wheel::after` reads a zero timeout as none: here it is due at once.)
    Some(if allowed.is_zero() { since } else { Wheel::after(since, allowed) })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::server::timer::TICK;

    /// Ticks in `secs` seconds.
    fn ticks(secs: u32) -> u32 {
        secs * (1000 / TICK.as_millis() as u32)
    }

    #[test]
    fn the_rate_is_judged_from_the_start_once_the_grace_has_passed() {
        let kestrel = MinRate::per_second(240); // 5 s grace
        let start = 1_000;
        // Nothing, or too little for the grace: judged when the grace ends.
        assert_eq!(deadline(start, 0, &kestrel), Some(start + ticks(5)));
        assert_eq!(deadline(start, 240 * 5, &kestrel), Some(start + ticks(5)));
        // Each byte buys 1/240 s from the start: 2,400 bytes last until 10 s.
        assert_eq!(deadline(start, 2_400, &kestrel), Some(start + ticks(10)));
        // A byte at a time, once a second: a quarter of the rate; after 5 s, 5 bytes are owed
        // 1,200 and the deadline is behind the clock at once.
        let now = start + ticks(6);
        assert!(deadline(start, 6, &kestrel).unwrap() <= now);
        // At the rate, always just ahead of the clock; at half of it, behind after the grace.
        for secs in 6..100 {
            let now = start + ticks(secs);
            assert!(deadline(start, 240 * secs, &kestrel).unwrap() >= now, "{secs}");
            assert!(deadline(start, 120 * secs, &kestrel).unwrap() < now, "{secs}");
        }
        // A part of a tick is rounded up (a deadline never comes early).
        assert_eq!(deadline(start, 2_401, &kestrel), Some(start + ticks(10) + 1));
    }

    #[test]
    fn a_big_body_saturates_and_a_rate_of_zero_judges_nothing() {
        let rate = MinRate::per_second(1).grace(Duration::ZERO);
        assert!(deadline(7, u32::MAX, &rate).unwrap() > 7 + ticks(3600 * 24 * 365));
        assert_eq!(deadline(7, 1, &MinRate::per_second(0)), None);
        // No grace: the first byte is owed at once.
        assert_eq!(deadline(7, 0, &MinRate::per_second(1000).grace(Duration::ZERO)), Some(7));
    }
}
