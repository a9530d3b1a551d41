//! The `Date` header value, formatted once a second per thread, never per request, from the
//! time the caller hands in.

use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub const DATE_LEN: usize = 29;

/// A cached `Date` value. The owner calls [`DateCache::update`] with the time of each wakeup;
/// formatting happens only when the second changes.
#[derive(Debug, Clone)]
pub struct DateCache {
    /// Unix second of the cached text; `u64::MAX` before the first update.
    secs: u64,
    /// The formatted date.
    text: [u8; DATE_LEN],
}

impl DateCache {
    /// The cache for `now` (the caller's clock: this module never reads one).
    pub fn new(now: SystemTime) -> Self {
        let mut cache = DateCache { secs: u64::MAX, text: *b"Thu, 01 Jan 1970 00:00:00 GMT" };
        cache.update(now);
        cache
    }

    /// Brings the cached text up to `now`; cheap when the second has not changed.
    #[inline]
    pub fn update(&mut self, now: SystemTime) {
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if secs != self.secs {
            self.secs = secs;
            self.format(now);
        }
    }

    #[cold]
    fn format(&mut self, now: SystemTime) {
        use std::io::Write;
        let mut buf = [0u8; DATE_LEN];
        let mut cursor = &mut buf[..];
        if write!(cursor, "{}", httpdate::HttpDate::from(now)).is_ok() && cursor.is_empty() {
            self.text = buf;
        }
    }

    /// The current value, 29 bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8; DATE_LEN] {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_imf_fixdate() {
        let mut d = DateCache::new(UNIX_EPOCH);
        d.update(UNIX_EPOCH + Duration::from_secs(784_111_777));
        assert_eq!(d.as_bytes(), b"Sun, 06 Nov 1994 08:49:37 GMT");
        d.update(UNIX_EPOCH + Duration::from_secs(784_111_778));
        assert_eq!(d.as_bytes(), b"Sun, 06 Nov 1994 08:49:38 GMT");
    }
}
