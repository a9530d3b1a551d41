//! Counters, written by one thread each and summed on read: no shared read-modify-write on the hot path.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One I/O thread's counters. Only the owning thread writes (a relaxed load and store, a plain
/// `mov` on x86); any thread may read. Padded to a cache line so threads never share one.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct WorkerCounters {
    /// Requests received (http.sys: requests received): heads parsed, and requests refused
    /// (a malformed or over-long head, a `408`), so every response has its request.
    pub requests_received: Counter,
    /// Responses whose last byte was handed to the kernel.
    pub responses_sent: Counter,
    /// Connections accepted.
    pub connections_accepted: Counter,
    /// Connections open now (accepted minus closed).
    pub current_connections: Counter,
    /// The highest `current_connections` this thread has had (its own high-water mark, raised
    /// on accept: no per-request cost).
    pub peak_connections: Counter,
    /// Connections ended by a timeout (http.sys `ConnectionTimedOut`-style): header wait, idle,
    /// entity body, drain, or a client reading slower than the minimum send rate.
    pub timed_out: Counter,
    /// Requests refused because their declared or actual body was over the size limit (`413`).
    pub too_large: Counter,
    /// TLS handshakes completed (resumed ones included).
    pub tls_handshakes: Counter,
    /// TLS handshakes completed by resuming an earlier session.
    pub tls_resumed: Counter,
    /// TLS connections that failed, by reason (indexed by `TlsFailure as usize`).
    pub tls_failures: [Counter; 5],
    /// How long answers took (see [`Owed`]), bucketed.
    pub request_duration: DurationCells,
    /// Access-log lines dropped because the log's writer fell behind.
    pub access_log_dropped: Counter,
    /// HTTP/2: connections, streams, resets sent and received, GOAWAYs sent (as [`Http2Stats`]).
    pub h2: [Counter; 5],
}

impl WorkerCounters {
    /// Counts a connection accepted and now open, raising this thread's peak if it is one.
    #[inline]
    pub fn connection_opened(&self) {
        self.connections_accepted.add(1);
        self.current_connections.add(1);
        let now = self.current_connections.get();
        if now > self.peak_connections.get() {
            self.peak_connections.set(now);
        }
    }

    /// Counts a TLS connection that failed for `reason`.
    pub fn tls_failed(&self, reason: TlsFailure) {
        if let Some(c) = self.tls_failures.get(reason as usize) {
            c.add(1);
        }
    }
}

/// Why a TLS handshake (or a TLS connection) failed: the counters' reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsFailure {
    /// The first bytes are not a TLS handshake record (plaintext HTTP sent to a TLS port, or
    /// noise): closed at once, unanswered.
    NotTls,
    /// No certificate binding matches the connection's address and server name.
    NoCertificate,
    /// The ClientHello (or the handshake's input) is larger than the bound.
    TooLarge,
    /// The peer broke the protocol (a bad record, a failed verification, an alert).
    Protocol,
    /// The handshake did not finish within `header_wait`.
    Timeout,
}

/// A single-writer counter.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Must only be called by the owning thread (single writer), else updates may be lost.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// Subtracts `n`, under the same single-writer rule as [`Counter::add`].
    #[inline]
    pub fn sub(&self, n: u64) {
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_sub(n), Ordering::Relaxed);
    }

    /// The current value.
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Sets the value, under the same single-writer rule as [`Counter::add`].
    #[inline]
    pub fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }
}

/// The request duration histogram's bucket bounds (Prometheus `le`), smallest first; a last
/// bucket (`+Inf`) takes what is above them. Durations are measured with the loop's clock, read
/// once per pass (see [`Owed`]): an answer encoded in the pass its head arrived in counts as 0.
pub const DURATION_BOUNDS: [Duration; 14] = [
    Duration::from_micros(100),
    Duration::from_micros(500),
    Duration::from_millis(1),
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(25),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
];

/// Buckets of the histogram: one per bound, and `+Inf`.
const BUCKETS: usize = DURATION_BOUNDS.len() + 1;

/// One thread's request duration histogram: single-writer cells, as [`Counter`]s are.
#[derive(Debug, Default)]
pub(crate) struct DurationCells {
    /// Answers per bucket (not cumulative).
    buckets: [Counter; BUCKETS],
    /// The durations' sum, in nanoseconds.
    sum_nanos: Counter,
}

impl DurationCells {
    /// Counts `n` answers that took `nanos` each. The common case (an answer encoded in the pass
    /// its request arrived in: 0) is one increment of the first bucket.
    #[inline]
    pub fn observe(&self, n: u32, nanos: u64) {
        let n = u64::from(n);
        if nanos == 0 {
            self.buckets[0].add(n);
            return;
        }
        self.observe_slow(n, nanos);
    }

    /// [`observe`](DurationCells::observe) of a duration above zero.
    #[cold]
    fn observe_slow(&self, n: u64, nanos: u64) {
        let i = DURATION_BOUNDS.iter().position(|b| nanos <= b.as_nanos() as u64).unwrap_or(BUCKETS - 1);
        if let Some(bucket) = self.buckets.get(i) {
            bucket.add(n);
        }
        self.sum_nanos.add(nanos.saturating_mul(n));
    }
}

/// A connection's requests still owed an answer, and since when: what the request duration
/// histogram is measured from, with the loop's clock (read once per pass, not per request).
///
/// A request's duration runs from the pass that completed its head to the pass that encoded its
/// answer: 0 for an answer encoded in the same pass (an inline handler on a whole request, the
/// common case: the handler's own time inside the pass is not seen), the wait for a body, a
/// queue's application thread or a service's future otherwise. When several requests are owed
/// at once (pipelined behind a deferred answer), each answer is timed from the oldest one's
/// arrival: an upper bound for the later ones.
///
/// Eight bytes per connection: the arrival is kept as microseconds since a process-wide epoch,
/// truncated to 32 bits (durations up to 71 minutes come out right, by wrapping subtraction),
/// and read only on the slow path: an answer encoded in its request's pass touches no clock.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Owed {
    /// Requests received and not yet answered.
    count: u32,
    /// While `count > 0`: the pass (in [`micros`]) in which the oldest request owed arrived.
    since: u32,
}

impl Owed {
    /// In the pass that began at `now`, `received` requests came and `answered` answers were
    /// encoded: the answers are timed into `cells`.
    #[inline]
    pub fn step(&mut self, received: u32, answered: u32, now: Instant, cells: &DurationCells) {
        if self.count == 0 {
            // The fast path: whatever is answered now arrived in this pass.
            if answered > 0 {
                cells.observe(answered, 0);
            }
            if received > answered {
                self.count = received - answered;
                self.since = micros(now);
            }
            return;
        }
        self.step_owed(received, answered, now, cells);
    }

    /// [`step`](Owed::step) with requests owed from an earlier pass.
    #[cold]
    fn step_owed(&mut self, received: u32, answered: u32, now: Instant, cells: &DurationCells) {
        let now = micros(now);
        if answered > 0 {
            cells.observe(answered, u64::from(now.wrapping_sub(self.since)) * 1000);
        }
        let before = self.count;
        self.count = before.saturating_add(received).saturating_sub(answered);
        if self.count > 0 && answered >= before {
            // Everything older was answered: the oldest owed arrived now.
            self.since = now;
        }
    }
}

/// `t` in microseconds since the first call (the process-wide epoch), truncated to 32 bits.
fn micros(t: Instant) -> u32 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    // Truncated to 32 bits on purpose (differences are taken by wrapping); a `t` from before
    // the epoch (a pass that began before the first call) is negative, wrapped.
    match t.checked_duration_since(epoch) {
        Some(d) => d.as_micros() as u32,
        None => (epoch.duration_since(t).as_micros() as u32).wrapping_neg(),
    }
}

/// The request duration histogram, summed over the I/O threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestDurations {
    /// Answers per bucket, not cumulative: `buckets[i]` counts durations above
    /// `DURATION_BOUNDS[i - 1]` and at most `DURATION_BOUNDS[i]`; the last one, those above
    /// every bound.
    pub buckets: [u64; BUCKETS],
    /// The durations' sum.
    pub sum: Duration,
}

impl RequestDurations {
    /// Answers timed (the histogram's count).
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

/// A snapshot of the server's counters, summed over its I/O threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Requests received: heads parsed, and requests refused with an error status (a
    /// malformed or over-long head, a body over the limit, a head or body too slow: `408`).
    /// Every response in [`responses_sent`](Snapshot::responses_sent) has its request here.
    pub requests_received: u64,
    /// Responses fully handed to the kernel (refusals included).
    pub responses_sent: u64,
    /// Connections accepted since start.
    pub connections_accepted: u64,
    /// Connections open now.
    pub current_connections: u64,
    /// The peak of open connections: the sum of each I/O thread's own peak, an upper bound of
    /// the server's (the threads' peaks need not have come at the same time), exact with one
    /// thread. Kept per thread so that accepting touches no shared cache line.
    pub peak_connections: u64,
    /// Connections ended by a timeout.
    pub timed_out: u64,
    /// Requests answered `413`.
    pub too_large: u64,
    /// TLS handshakes completed (resumed ones included).
    pub tls_handshakes: u64,
    /// TLS handshakes that resumed an earlier session (tickets or session IDs).
    pub tls_resumed: u64,
    /// TLS connections that failed, by reason.
    pub tls_failed: TlsFailures,
    /// I/O threads that ended by unwinding (a defect in hsys; see
    /// [`Server::wait`](crate::Server::wait)); their connections and listeners were closed.
    pub io_threads_died: u64,
    /// How long answers took: from the pass that completed a request's head to the pass that
    /// encoded its answer (the loop's clock is read once per pass; see
    /// [`DURATION_BOUNDS`]). Every answer encoded is timed, refusals included.
    pub request_duration: RequestDurations,
    /// Access-log lines dropped: the log's writer fell behind (its queue of buffers was full), or
    /// a write failed (see [`AccessLog`](crate::AccessLog)).
    pub access_log_dropped: u64,
    /// HTTP/2's own counters (its requests are counted with the others above too).
    pub http2: Http2Stats,
    /// The response cache (see [`CachePolicy`](crate::CachePolicy)).
    pub cache: CacheStats,
}

/// What HTTP/2 connections did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Http2Stats {
    /// Connections that spoke HTTP/2 (h2c or ALPN `h2`).
    pub connections: u64,
    /// Streams opened by clients (requests, refused ones included).
    pub streams: u64,
    /// `RST_STREAM`s sent (stream errors, refused streams, answers that cut a body short).
    pub resets_sent: u64,
    /// `RST_STREAM`s received.
    pub resets_received: u64,
    /// `GOAWAY`s sent (errors, floods, graceful stops, timeouts).
    pub goaways_sent: u64,
}

/// The response cache's counters (http.sys names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// `GET` and `HEAD` requests the cache may answer that it answered.
    pub hits: u64,
    /// `GET` and `HEAD` requests the cache may answer that went to their handler or queue.
    pub misses: u64,
    /// Answers stored now.
    pub entries: u64,
    /// Bytes they take (answers, keys and a fixed cost per entry), against the size limit.
    pub bytes: u64,
    /// Flushes that removed entries (`Server::flush_cache`, a change of the URL prefixes).
    pub flushes: u64,
    /// Entries those flushes removed.
    pub flushed: u64,
    /// Entries evicted for room or expired (time to live).
    pub evictions: u64,
}

/// TLS connections that failed, by reason (each connection counted once).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlsFailures {
    /// The first bytes were not a TLS handshake (plaintext HTTP sent to a TLS port, or noise):
    /// closed at once, unanswered.
    pub not_tls: u64,
    /// No certificate binding matched the connection's address and server name: refused with
    /// an alert.
    pub no_certificate: u64,
    /// The ClientHello was larger than the bound.
    pub too_large: u64,
    /// The client broke the protocol: a bad record or message, a failed verification (a client
    /// certificate missing or not trusted), or the client's own alert.
    pub protocol: u64,
    /// The handshake did not finish within `header_wait`.
    pub timeout: u64,
}

impl TlsFailures {
    /// Every failure.
    pub fn total(&self) -> u64 {
        self.not_tls + self.no_certificate + self.too_large + self.protocol + self.timeout
    }
}

impl Snapshot {
    /// Sums the counters of every worker.
    pub(crate) fn sum<'a>(workers: impl IntoIterator<Item = &'a WorkerCounters>) -> Snapshot {
        let mut s = Snapshot::default();
        for w in workers {
            s.requests_received += w.requests_received.get();
            s.responses_sent += w.responses_sent.get();
            s.connections_accepted += w.connections_accepted.get();
            s.current_connections += w.current_connections.get();
            s.peak_connections += w.peak_connections.get();
            s.timed_out += w.timed_out.get();
            s.too_large += w.too_large.get();
            s.tls_handshakes += w.tls_handshakes.get();
            s.tls_resumed += w.tls_resumed.get();
            s.access_log_dropped += w.access_log_dropped.get();
            let f = &w.tls_failures;
            let t = &mut s.tls_failed;
            for (sum, c) in [&mut t.not_tls, &mut t.no_certificate, &mut t.too_large, &mut t.protocol, &mut t.timeout]
                .into_iter()
                .zip(f)
            {
                *sum += c.get();
            }
            let h = &mut s.http2;
            for (sum, c) in
                [&mut h.connections, &mut h.streams, &mut h.resets_sent, &mut h.resets_received, &mut h.goaways_sent]
                    .into_iter()
                    .zip(&w.h2)
            {
                *sum += c.get();
            }
            let d = &mut s.request_duration;
            for (sum, c) in d.buckets.iter_mut().zip(&w.request_duration.buckets) {
                *sum += c.get();
            }
            d.sum += Duration::from_nanos(w.request_duration.sum_nanos.get());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tls_failure_is_summed_into_its_own_field() {
        let cases = [
            (TlsFailure::NotTls, TlsFailures { not_tls: 1, ..TlsFailures::default() }),
            (TlsFailure::NoCertificate, TlsFailures { no_certificate: 1, ..TlsFailures::default() }),
            (TlsFailure::TooLarge, TlsFailures { too_large: 1, ..TlsFailures::default() }),
            (TlsFailure::Protocol, TlsFailures { protocol: 1, ..TlsFailures::default() }),
            (TlsFailure::Timeout, TlsFailures { timeout: 1, ..TlsFailures::default() }),
        ];
        for (reason, expected) in cases {
            let w = WorkerCounters::default();
            w.tls_failed(reason);
            let s = Snapshot::sum([&w]);
            assert_eq!(s.tls_failed, expected, "{reason:?}");
            assert_eq!(s.tls_failed.total(), 1);
        }
    }

    #[test]
    fn durations_are_bucketed_and_summed() {
        let w = WorkerCounters::default();
        let cells = &w.request_duration;
        cells.observe(3, 0);
        cells.observe(1, 100_000); // exactly 100 µs: the first bound is inclusive
        cells.observe(2, 2_000_000); // 2 ms
        cells.observe(1, 60_000_000_000); // a minute: +Inf
        let d = Snapshot::sum([&w]).request_duration;
        assert_eq!(d.buckets[0], 4);
        assert_eq!(d.buckets[3], 2, "2 ms is in the 5 ms bucket");
        assert_eq!(d.buckets[BUCKETS - 1], 1);
        assert_eq!(d.count(), 7);
        assert_eq!(d.sum, Duration::from_nanos(100_000 + 4_000_000 + 60_000_000_000));
    }

    #[test]
    fn owed_requests_are_timed_from_their_pass() {
        let w = WorkerCounters::default();
        let cells = &w.request_duration;
        let t0 = Instant::now();
        let mut owed = Owed::default();
        // Answered in its own pass: 0.
        owed.step(1, 1, t0, cells);
        // Deferred: arrives at t0, answered 3 ms later.
        owed.step(1, 0, t0, cells);
        owed.step(0, 1, t0 + Duration::from_millis(3), cells);
        // Two owed; the first answered at +1 ms, a third arrives at +2 ms, the rest at +20 ms.
        let t1 = t0 + Duration::from_secs(1);
        owed.step(2, 0, t1, cells);
        owed.step(1, 1, t1 + Duration::from_millis(2), cells);
        owed.step(0, 2, t1 + Duration::from_millis(20), cells);
        // Nothing owed: the next inline answer is 0 again.
        owed.step(1, 1, t1 + Duration::from_secs(1), cells);
        let d = Snapshot::sum([&w]).request_duration;
        assert_eq!(d.count(), 6);
        assert_eq!(d.buckets[0], 2);
        assert_eq!(d.buckets[3], 2, "3 ms and 2 ms");
        assert_eq!(d.buckets[5], 2, "20 ms, twice (from the oldest owed)");
        // Kept in microseconds: each duration may be 1 µs short.
        let sum = d.sum.as_micros();
        assert!((45_000 - 4..=45_000).contains(&sum), "{sum}");
    }

    #[test]
    fn peak_connections_is_a_high_water_mark() {
        let w = WorkerCounters::default();
        w.connection_opened();
        w.connection_opened();
        w.current_connections.sub(2);
        w.connection_opened();
        let s = Snapshot::sum([&w]);
        assert_eq!((s.connections_accepted, s.current_connections, s.peak_connections), (3, 1, 2));
    }
}
