//! Counters, written by one thread each and summed on read: no shared read-modify-write on the hot path.

use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Connections ended by a timeout (http.sys `ConnectionTimedOut`-style): header wait, idle,
    /// entity body, drain, or a client reading slower than the minimum send rate.
    pub timed_out: Counter,
    /// Requests refused because their declared or actual body was over the size limit (`413`).
    pub too_large: Counter,
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
    /// Connections ended by a timeout.
    pub timed_out: u64,
    /// Requests answered `413`.
    pub too_large: u64,
    /// I/O threads that ended by unwinding (a defect in hsys; see
    /// [`Server::wait`](crate::Server::wait)); their connections and listeners were closed.
    pub io_threads_died: u64,
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
            s.timed_out += w.timed_out.get();
            s.too_large += w.too_large.get();
        }
        s
    }
}
