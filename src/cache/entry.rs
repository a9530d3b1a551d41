//! One stored answer ([`Entry`]) and the read-only table the I/O threads look entries up in
//! ([`Table`]).

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::conditional;
use super::rules::header_lines;
use crate::app::Prepared;
use crate::app::cache::{Body, CachePolicy, Given, Routing};

/// What an entry costs beside its bytes (its state, the table's slot, the index's key).
pub const ENTRY_OVERHEAD: usize = 256;

/// The header fields a `304` repeats from the answer it stands for (RFC 9110 §15.4.5).
const NOT_MODIFIED_FIELDS: [&[u8]; 5] = [b"etag", b"cache-control", b"content-location", b"expires", b"last-modified"];

/// A stored answer and what it answers: the URL (local port, host as routed, normalised path)
/// and the group it was routed to.
#[derive(Debug)]
pub struct Entry {
    /// The key's hash (the store's keyed hasher).
    pub hash: u64,
    pub port: u16,
    /// The host as routed (the target's authority or the `Host` header), then the path.
    pub key: Arc<[u8]>,
    pub host_len: usize,
    /// Where it was routed: the local address (for revalidation) and the group.
    pub local_ip: IpAddr,
    pub group: usize,
    /// The answer, served as a prepared one (status, header lines, body shared).
    pub answer: Prepared,
    /// Its `304 Not Modified`, served to a conditional request it satisfies.
    pub not_modified: Prepared,
    /// Its `ETag` value, and its `Last-Modified` in seconds since the epoch.
    pub etag: Option<Box<[u8]>>,
    pub last_modified: Option<u64>,
    /// When it expires (`None`: when flushed).
    pub expires: Option<Instant>,
    /// Served since the clock hand last passed (CLOCK eviction).
    pub referenced: AtomicBool,
    /// What it counts for against the size limit.
    pub bytes: usize,
}

impl Entry {
    /// An entry for `answer` (which the rules allow) given to a request for `host` and `path`
    /// routed by `routing`, at `now`.
    pub fn new(hash: u64, routing: &Routing, host: &[u8], path: &str, answer: &Given<'_>, now: Instant) -> Self {
        let mut key = Vec::with_capacity(host.len() + path.len());
        key.extend_from_slice(host);
        key.extend_from_slice(path.as_bytes());
        let (mut etag, mut last_modified, mut nm_lines) = (None, None, Vec::new());
        for (name, value) in header_lines(answer.lines) {
            if name.eq_ignore_ascii_case(b"etag") {
                etag = Some(value.into());
            } else if name.eq_ignore_ascii_case(b"last-modified") {
                last_modified = conditional::http_date(value);
            }
            if NOT_MODIFIED_FIELDS.iter().any(|f| name.eq_ignore_ascii_case(f)) {
                nm_lines.extend_from_slice(name);
                nm_lines.extend_from_slice(b": ");
                nm_lines.extend_from_slice(value);
                nm_lines.extend_from_slice(b"\r\n");
            }
        }
        let body: Arc<[u8]> = match answer.body {
            Body::Bytes(b) => b.into(),
            Body::Shared(b) => Arc::clone(b),
        };
        let length = body.len() as u64;
        let bytes = ENTRY_OVERHEAD + 2 * key.len() + answer.lines.len() + nm_lines.len() + body.len();
        let expires = match answer.policy {
            CachePolicy::TimeToLive(secs) => Some(now + std::time::Duration::from_secs(u64::from(secs))),
            _ => None,
        };
        let prepared = |status, lines: &[u8], body, length| {
            Prepared::assemble(status, lines, body, length, false, CachePolicy::NoCache)
        };
        Entry {
            hash,
            port: routing.port,
            key: key.into(),
            host_len: host.len(),
            local_ip: routing.local_ip,
            group: routing.group,
            answer: prepared(answer.status, answer.lines, body, length),
            not_modified: prepared(304, &nm_lines, Arc::default(), 0),
            etag,
            last_modified,
            expires,
            referenced: AtomicBool::new(false),
            bytes,
        }
    }

    /// The host as routed.
    pub fn host(&self) -> &[u8] {
        self.key.get(..self.host_len).unwrap_or_default()
    }

    /// The normalised path.
    pub fn path(&self) -> &str {
        std::str::from_utf8(self.key.get(self.host_len..).unwrap_or_default()).unwrap_or_default()
    }

    /// Whether it answers `host` and `path` on `port` (whose key hashes to `hash`).
    #[inline]
    pub fn is(&self, hash: u64, port: u16, host: &[u8], path: &str) -> bool {
        self.hash == hash && self.answers(port, host, path)
    }

    /// Whether it answers `host` and `path` on `port`.
    #[inline(always)]
    pub fn answers(&self, port: u16, host: &[u8], path: &str) -> bool {
        self.port == port
            && self.host_len == host.len()
            && self.key.len() == host.len() + path.len()
            && self.key.get(..host.len()).is_some_and(|k| same(k, host))
            && self.key.get(host.len()..).is_some_and(|k| same(k, path.as_bytes()))
    }

    /// Whether it is still fresh at `now`.
    #[inline]
    pub fn is_fresh(&self, now: Instant) -> bool {
        self.expires.is_none_or(|e| now < e)
    }

    /// Marks it served (a relaxed load, and a store only when the clock hand cleared it).
    #[inline]
    pub fn touch(&self) {
        if !self.referenced.load(Ordering::Relaxed) {
            self.referenced.store(true, Ordering::Relaxed);
        }
    }
}

/// Whether `a` and `b` are equal: a key's host and path are short, and a call of `memcmp` for
/// each cost more than comparing them in two overlapping words. (Also the routing memo's.)
#[inline(always)]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    let word = |s: &[u8], last: bool| {
        let chunk = if last { s.last_chunk::<8>() } else { s.first_chunk::<8>() };
        chunk.map_or(0, |c| u64::from_ne_bytes(*c))
    };
    let half = |s: &[u8], last: bool| {
        let chunk = if last { s.last_chunk::<4>() } else { s.first_chunk::<4>() };
        chunk.map_or(0, |c| u32::from_ne_bytes(*c))
    };
    match a.len() {
        1 if b.len() == 1 => a.first() == b.first(),
        4..=7 if b.len() == a.len() => half(a, false) == half(b, false) && half(a, true) == half(b, true),
        8..=16 if b.len() == a.len() => word(a, false) == word(b, false) && word(a, true) == word(b, true),
        _ => a == b,
    }
}

/// The entries as the I/O threads see them: an open-addressing table (linear probing) built
/// whole when published and never changed after, so reading it takes no lock.
#[derive(Debug, Default)]
pub struct Table {
    slots: Box<[Option<Arc<Entry>>]>,
    len: usize,
}

impl Table {
    /// A table of `entries` (at most half full).
    pub fn build<'a>(entries: impl ExactSizeIterator<Item = &'a Arc<Entry>>) -> Self {
        let len = entries.len();
        if len == 0 {
            return Table::default();
        }
        let capacity = (len * 2).next_power_of_two();
        let mut slots: Box<[Option<Arc<Entry>>]> = (0..capacity).map(|_| None).collect();
        let mask = capacity - 1;
        for e in entries {
            let mut i = e.hash as usize & mask;
            while slots.get(i).is_some_and(Option::is_some) {
                i = (i + 1) & mask;
            }
            if let Some(slot) = slots.get_mut(i) {
                *slot = Some(Arc::clone(e));
            }
        }
        Table { slots, len }
    }

    /// Whether it holds nothing.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entry for `host` and `path` on `port`, if any, and its slot.
    #[inline]
    pub fn get(&self, hash: u64, port: u16, host: &[u8], path: &str) -> Option<(usize, &Entry)> {
        let mask = self.slots.len().checked_sub(1)?;
        let mut i = hash as usize & mask;
        loop {
            let e = self.slots.get(i)?.as_deref()?;
            if e.is(hash, port, host, path) {
                return Some((i, e));
            }
            i = (i + 1) & mask;
        }
    }

    /// The entry in slot `i`, if any.
    #[inline]
    pub fn at(&self, i: usize) -> Option<&Entry> {
        self.slots.get(i)?.as_deref()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_agrees_with_slice_equality_at_every_length() {
        let a: Vec<u8> = (0..40).collect();
        for n in 0..a.len() {
            let x = a.get(..n).unwrap_or_default();
            assert!(super::same(x, x));
            for i in 0..n {
                let mut y = x.to_vec();
                if let Some(b) = y.get_mut(i) {
                    *b ^= 1;
                }
                assert!(!super::same(x, &y), "len {n} byte {i}");
            }
            assert!(!super::same(x, a.get(..n + 1).unwrap_or_default()));
        }
    }
}
