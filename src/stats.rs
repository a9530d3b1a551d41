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
    /// TLS handshakes completed (resumed ones included).
    pub tls_handshakes: Counter,
    /// TLS handshakes completed by resuming an earlier session.
    pub tls_resumed: Counter,
    /// TLS connections that failed, by reason (indexed by `TlsFailure as usize`).
    pub tls_failures: [Counter; 5],
}

impl WorkerCounters {
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
    /// TLS handshakes completed (resumed ones included).
    pub tls_handshakes: u64,
    /// TLS handshakes that resumed an earlier session (tickets or session IDs).
    pub tls_resumed: u64,
    /// TLS connections that failed, by reason.
    pub tls_failed: TlsFailures,
    /// I/O threads that ended by unwinding (a defect in hsys; see
    /// [`Server::wait`](crate::Server::wait)); their connections and listeners were closed.
    pub io_threads_died: u64,
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
            s.timed_out += w.timed_out.get();
            s.too_large += w.too_large.get();
            s.tls_handshakes += w.tls_handshakes.get();
            s.tls_resumed += w.tls_resumed.get();
            let f = &w.tls_failures;
            let t = &mut s.tls_failed;
            for (sum, c) in [&mut t.not_tls, &mut t.no_certificate, &mut t.too_large, &mut t.protocol, &mut t.timeout]
                .into_iter()
                .zip(f)
            {
                *sum += c.get();
            }
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
}
