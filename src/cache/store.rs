//! The shared store ([`Store`]): every entry under one lock, published to the I/O threads as an
//! immutable [`Table`] they take once per loop pass when its generation moves ([`Reader`]), so a
//! hit takes no lock. Inserts go into the store at once and are published at the end of a pass
//! (or by the inserting application thread), at most as often as a rebuild's cost allows.

use std::cell::Cell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::entry::{Entry, Table};
use super::hash::KeyHasher;
use super::rules;
use crate::app::cache::{CacheSink, Given, Routing};
use crate::stats::CacheStats;

/// Default size limit: 64 MiB.
pub const DEFAULT_CACHE_BYTES: usize = 64 * 1024 * 1024;
/// Default entry limit.
pub const DEFAULT_CACHE_ENTRIES: usize = 16 * 1024;

/// A rebuild of the published table may take at most this share of the time since the last one
/// (1/50: 2%), so a cache that churns (misses that each store a new URL) cannot make the
/// threads spend their time rebuilding ...
const REBUILD_SHARE: u32 = 50;
/// ... unless it is this quick (a table of a few hundred entries): then it is published at once.
const QUICK_REBUILD: Duration = Duration::from_micros(50);

/// The response cache's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheLimits {
    /// The most bytes stored (answers, keys and a fixed cost per entry): past it the least
    /// recently served entries are evicted (CLOCK). `0` turns the cache off. Default 64 MiB.
    pub max_bytes: usize,
    /// The most entries stored; past it, entries are evicted the same way. Default 16,384.
    pub max_entries: usize,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits { max_bytes: DEFAULT_CACHE_BYTES, max_entries: DEFAULT_CACHE_ENTRIES }
    }
}

impl CacheLimits {
    /// These limits with `max_bytes` (`0`: no cache).
    #[must_use]
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// These limits with `max_entries`.
    #[must_use]
    pub fn max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = max_entries;
        self
    }
}

/// One I/O thread's hit and miss counters, on a cache line of their own.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Slot {
    hits: AtomicU64,
    misses: AtomicU64,
}

/// The entries and their eviction state, under the store's lock.
#[derive(Debug, Default)]
struct Master {
    /// The entries, in the CLOCK's ring order.
    ring: Vec<Arc<Entry>>,
    /// Where each entry is in `ring`, by port and key.
    index: HashMap<(u16, Arc<[u8]>), usize>,
    /// The clock hand: the next entry looked at for eviction.
    hand: usize,
    bytes: usize,
    /// The routing table's generation entries are valid for: an answer routed by another is not
    /// stored (the table changed since it was routed).
    routes_generation: u64,
    /// When the published table was last rebuilt, and how long that took.
    published_at: Option<Instant>,
    rebuild: Duration,
}

impl Master {
    /// Removes the entry at `i` from the ring (the last takes its place) and the index.
    fn remove_at(&mut self, i: usize) -> Option<Arc<Entry>> {
        if i >= self.ring.len() {
            return None;
        }
        let e = self.ring.swap_remove(i);
        self.index.remove(&(e.port, Arc::clone(&e.key)));
        if let Some(moved) = self.ring.get(i) {
            self.index.insert((moved.port, Arc::clone(&moved.key)), i);
        }
        self.bytes -= e.bytes;
        if self.hand >= self.ring.len() {
            self.hand = 0;
        }
        Some(e)
    }

    /// Evicts one entry: the first expired or unreferenced one under the clock hand (clearing
    /// the marks it passes). `false` when empty.
    fn evict_one(&mut self, now: Instant) -> bool {
        for _ in 0..=2 * self.ring.len() {
            let Some(e) = self.ring.get(self.hand) else { return false };
            if !e.is_fresh(now) || !e.referenced.swap(false, Ordering::Relaxed) {
                let hand = self.hand;
                return self.remove_at(hand).is_some();
            }
            self.hand = (self.hand + 1) % self.ring.len();
        }
        false
    }
}

/// The response cache shared by every I/O thread of a server (and the application threads that
/// answer its queued requests).
#[derive(Debug)]
pub struct Store {
    limits: CacheLimits,
    /// Keys the hash of every entry (random per store: a client cannot aim at one bucket).
    hasher: KeyHasher,
    master: Mutex<Master>,
    /// The table the I/O threads read, and its generation (moved after each publish).
    published: Mutex<Arc<Table>>,
    generation: AtomicU64,
    /// Entries changed since the last publish.
    dirty: AtomicBool,
    /// When the earliest time-to-live ends (nanoseconds since `epoch`; `u64::MAX`: none): the
    /// expired entries are removed then.
    next_expiry: AtomicU64,
    epoch: Instant,
    /// Per I/O thread, then one slot shared (atomic adds) by any thread past them.
    slots: Box<[Slot]>,
    entries: AtomicU64,
    bytes: AtomicU64,
    flushes: AtomicU64,
    flushed: AtomicU64,
    evictions: AtomicU64,
}

impl Store {
    /// An empty cache for `threads` I/O threads.
    pub fn new(limits: CacheLimits, threads: usize) -> Self {
        Store {
            limits,
            hasher: KeyHasher::new(),
            master: Mutex::default(),
            published: Mutex::default(),
            generation: AtomicU64::new(0),
            dirty: AtomicBool::new(false),
            next_expiry: AtomicU64::new(u64::MAX),
            epoch: Instant::now(),
            slots: (0..=threads).map(|_| Slot::default()).collect(),
            entries: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            flushes: AtomicU64::new(0),
            flushed: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// Whether the cache stores anything at all.
    pub fn is_on(&self) -> bool {
        self.limits.max_bytes > 0 && self.limits.max_entries > 0
    }

    /// The hash an entry for `host` and `path` on `port` has.
    #[inline]
    pub fn hash(&self, port: u16, host: &[u8], path: &str) -> u64 {
        self.hasher.hash(port, host, path.as_bytes())
    }

    fn lock(&self) -> MutexGuard<'_, Master> {
        self.master.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The table published last, and its generation.
    fn load(&self) -> (u64, Arc<Table>) {
        let generation = self.generation.load(Ordering::Acquire);
        let table = self.published.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        (generation, Arc::clone(&table))
    }

    /// Stores `answer` (if the rules allow) for the request routed by `routing` to `host` and
    /// `path`, at `now`. The request's side of the rules is the caller's to have checked.
    pub fn insert(&self, routing: &Routing, host: &[u8], path: &str, answer: &Given<'_>, now: Instant) -> bool {
        if !self.is_on() || rules::refusal(answer).is_some() {
            return false;
        }
        let entry = Arc::new(Entry::new(self.hash(routing.port, host, path), routing, host, path, answer, now));
        if entry.bytes > self.limits.max_bytes {
            return false;
        }
        let mut m = self.lock();
        if routing.generation != m.routes_generation {
            return false; // routed by a table that has changed since
        }
        if let Some(&i) = m.index.get(&(entry.port, Arc::clone(&entry.key))) {
            m.remove_at(i);
        }
        let mut evicted = 0;
        while (m.ring.len() >= self.limits.max_entries || m.bytes + entry.bytes > self.limits.max_bytes)
            && m.evict_one(now)
        {
            evicted += 1;
        }
        self.evictions.fetch_add(evicted, Ordering::Relaxed);
        if let Some(expires) = entry.expires {
            let at = u64::try_from(expires.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX);
            self.next_expiry.fetch_min(at, Ordering::Relaxed);
        }
        let at = m.ring.len();
        m.index.insert((entry.port, Arc::clone(&entry.key)), at);
        m.bytes += entry.bytes;
        m.ring.push(entry);
        self.note(&m);
        self.dirty.store(true, Ordering::Release);
        self.publish_if_due(&mut m, now);
        true
    }

    /// Publishes the entries if they changed and a rebuild is due (see [`REBUILD_SHARE`]).
    fn publish_if_due(&self, m: &mut Master, now: Instant) {
        let due = m.rebuild < QUICK_REBUILD
            || m.published_at.is_none_or(|at| now.saturating_duration_since(at) >= m.rebuild * REBUILD_SHARE);
        if due && self.dirty.load(Ordering::Acquire) {
            self.publish(m, now);
        }
    }

    /// Publishes the entries now.
    fn publish(&self, m: &mut Master, now: Instant) {
        self.dirty.store(false, Ordering::Release);
        let started = Instant::now();
        let table = Arc::new(Table::build(m.ring.iter()));
        *self.published.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = table;
        self.generation.fetch_add(1, Ordering::AcqRel);
        m.rebuild = started.elapsed();
        m.published_at = Some(now);
    }

    /// Updates the entry and byte counts from `m`.
    fn note(&self, m: &Master) {
        self.entries.store(m.ring.len() as u64, Ordering::Relaxed);
        self.bytes.store(m.bytes as u64, Ordering::Relaxed);
    }

    /// What an I/O thread does at the end of each loop pass: publishes what changed (when due)
    /// and removes expired entries once the earliest has expired. Costs two relaxed loads when
    /// there is nothing to do; never waits for the lock.
    pub fn maintain(&self, now: Instant) {
        let expiry_due = u64::try_from(now.saturating_duration_since(self.epoch).as_nanos())
            .is_ok_and(|n| n >= self.next_expiry.load(Ordering::Relaxed));
        if !expiry_due && !self.dirty.load(Ordering::Relaxed) {
            return;
        }
        let Ok(mut m) = self.master.try_lock() else { return };
        if expiry_due {
            self.next_expiry.store(u64::MAX, Ordering::Relaxed);
            let mut next = u64::MAX;
            let mut i = 0;
            let mut evicted = 0;
            while let Some(e) = m.ring.get(i) {
                if e.is_fresh(now) {
                    if let Some(expires) = e.expires {
                        let at = expires.saturating_duration_since(self.epoch).as_nanos();
                        next = next.min(u64::try_from(at).unwrap_or(u64::MAX));
                    }
                    i += 1;
                } else {
                    m.remove_at(i);
                    evicted += 1;
                }
            }
            self.next_expiry.fetch_min(next, Ordering::Relaxed);
            if evicted > 0 {
                self.evictions.fetch_add(evicted, Ordering::Relaxed);
                self.note(&m);
                self.dirty.store(true, Ordering::Release);
            }
        }
        self.publish_if_due(&mut m, now);
    }

    /// Removes every entry `flush` says to; counted as one flush when any went. Publishes at
    /// once: a thread's next pass sees none of them. Returns how many went.
    pub fn remove(&self, mut flush: impl FnMut(&Entry) -> bool) -> usize {
        let mut m = self.lock();
        let removed = self.remove_locked(&mut m, &mut flush);
        if removed > 0 {
            self.publish(&mut m, Instant::now());
        }
        removed
    }

    fn remove_locked(&self, m: &mut Master, flush: &mut impl FnMut(&Entry) -> bool) -> usize {
        let mut removed = 0;
        let mut i = 0;
        while let Some(e) = m.ring.get(i) {
            if flush(e) {
                m.remove_at(i);
                removed += 1;
            } else {
                i += 1;
            }
        }
        if removed > 0 {
            self.note(m);
            self.flushes.fetch_add(1, Ordering::Relaxed);
            self.flushed.fetch_add(removed as u64, Ordering::Relaxed);
        }
        removed
    }

    /// The routing table moves to `generation`: removes the entries `flush` says no longer
    /// route as they did, and stores no answer routed by an older table from now on.
    pub fn reroute(&self, generation: u64, mut flush: impl FnMut(&Entry) -> bool) {
        let mut m = self.lock();
        m.routes_generation = generation;
        if self.remove_locked(&mut m, &mut flush) > 0 {
            self.publish(&mut m, Instant::now());
        }
    }

    /// The counters (hits and misses summed over the threads).
    pub fn stats(&self) -> CacheStats {
        let (mut hits, mut misses) = (0, 0);
        for s in self.slots.iter() {
            hits += s.hits.load(Ordering::Relaxed);
            misses += s.misses.load(Ordering::Relaxed);
        }
        CacheStats {
            hits,
            misses,
            entries: self.entries.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            flushes: self.flushes.load(Ordering::Relaxed),
            flushed: self.flushed.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }

    /// Counts a hit or a miss for I/O thread `worker`: a plain load and store on its own slot.
    #[inline]
    fn count(&self, worker: usize, hit: bool) {
        let last = self.slots.len() - 1;
        let Some(slot) = self.slots.get(worker.min(last)) else { return };
        let counter = if hit { &slot.hits } else { &slot.misses };
        if worker < last {
            counter.store(counter.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        } else {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl CacheSink for Store {
    fn offer(&self, routing: &Routing, target: &str, host: Option<&[u8]>, path: &str, answer: &Given<'_>) {
        let host = crate::url::target_authority(target).map(str::as_bytes).or(host).unwrap_or_default();
        self.insert(routing, host, path, answer, Instant::now());
    }
}

/// One I/O thread's view of the cache: the table it took last, taken again when the store's
/// generation moves (one load per pass), and the routing table's generation it routes by.
#[derive(Debug)]
pub struct Reader {
    store: Arc<Store>,
    table: Arc<Table>,
    generation: u64,
    /// The generation of the routing table this thread routes by.
    pub routes_generation: u64,
    worker: usize,
    /// The slot of the entry this thread found last (`usize::MAX`: none), compared first: a
    /// client repeating a URL (pipelined, or polling) is served without hashing its key.
    last: Cell<usize>,
}

impl Reader {
    /// I/O thread `worker`'s view of `store`.
    pub fn new(store: Arc<Store>, worker: usize) -> Self {
        let (generation, table) = store.load();
        Reader { store, table, generation, routes_generation: 0, worker, last: Cell::new(usize::MAX) }
    }

    /// Takes the published table if it changed (once per loop pass).
    #[inline]
    pub fn refresh(&mut self) {
        if self.store.generation.load(Ordering::Acquire) != self.generation {
            (self.generation, self.table) = self.store.load();
            self.last.set(usize::MAX);
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Whether the store is on (answers may be stored).
    #[inline]
    pub fn is_on(&self) -> bool {
        self.store.is_on()
    }

    /// The fresh entry for `host` and `path` on `port` at `now`.
    #[inline]
    pub fn lookup(&self, port: u16, host: &[u8], path: &str, now: Instant) -> Option<&Entry> {
        if self.table.is_empty() {
            return None;
        }
        let entry = match self.table.at(self.last.get()) {
            Some(e) if e.answers(port, host, path) => e,
            _ => {
                let (slot, e) = self.table.get(self.store.hash(port, host, path), port, host, path)?;
                self.last.set(slot);
                e
            }
        };
        Some(entry).filter(|e| e.is_fresh(now))
    }

    /// Counts a request the cache could answer: served from it (`hit`) or not.
    #[inline]
    pub fn count(&self, hit: bool) {
        self.store.count(self.worker, hit);
    }
}

/// The host a flush names.
#[derive(Clone, Copy, Debug)]
pub enum FlushHost<'a> {
    /// `+` or `*`: every host.
    Any,
    /// A name, compared with the `Host` (without its port), case-insensitively.
    Name(&'a str),
    /// An IP literal: answers to requests that came in on that local address, or named it.
    Ip(IpAddr),
}

/// Whether `entry` lies under a flush of `host`, `port` and `path`: the exact path, or
/// (`recursive`) the path and everything under it. Paths compare case-insensitively (flushing
/// more is always safe).
pub fn under(entry: &Entry, host: FlushHost<'_>, port: u16, path: &str, recursive: bool) -> bool {
    if entry.port != port {
        return false;
    }
    let name = host_name(entry.host());
    let host_matches = match host {
        FlushHost::Any => true,
        FlushHost::Name(n) => name.eq_ignore_ascii_case(n.as_bytes()),
        FlushHost::Ip(ip) => {
            entry.local_ip == ip || std::str::from_utf8(name).ok().and_then(|n| n.parse::<IpAddr>().ok()) == Some(ip)
        }
    };
    if !host_matches {
        return false;
    }
    let have = entry.path().as_bytes();
    let want = path.as_bytes();
    let dir = want.strip_suffix(b"/").unwrap_or(want);
    if !recursive {
        return have.eq_ignore_ascii_case(want);
    }
    have.len() >= dir.len()
        && have.get(..dir.len()).is_some_and(|p| p.eq_ignore_ascii_case(dir))
        && (have.len() == dir.len() || have.get(dir.len()) == Some(&b'/') || dir.is_empty())
}

/// The name in a `Host` value (`name[:port]`, `[v6]:port`), without the port or brackets.
pub fn host_name(host: &[u8]) -> &[u8] {
    if let Some(rest) = host.strip_prefix(b"[") {
        return rest.iter().position(|&b| b == b']').and_then(|i| rest.get(..i)).unwrap_or(rest);
    }
    match host.iter().rposition(|&b| b == b':') {
        Some(i) => host.get(..i).unwrap_or(host),
        None => host,
    }
}

/// An entry's routing facts, for the routing table to say whether it still routes the same.
pub fn routed(entry: &Entry) -> (u16, &[u8], IpAddr, &str, usize) {
    (entry.port, entry.host(), entry.local_ip, entry.path(), entry.group)
}
