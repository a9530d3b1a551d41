//! The Prometheus text exposition (format 0.0.4) of a server's counters: [`Metrics`].
//!
//! Rendering reads the counters (relaxed loads of the per-thread cells, summed) and writes text:
//! it costs the I/O threads nothing, whichever thread scrapes.

use std::fmt::Write;
use std::sync::{Arc, Weak};

use crate::app::QueueStats;
use crate::group::{GroupId, GroupStats, Routes, Target};
use crate::server::Shared;
use crate::stats::{DURATION_BOUNDS, Snapshot, WorkerCounters};

/// The `Content-Type` of the exposition.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Renders a running server's counters in the Prometheus text exposition format (0.0.4), from
/// any thread: made by [`Server::metrics`](crate::Server::metrics), cheap to clone, `Send` and
/// `Sync`, so an inline handler can hold one and answer scrapes.
///
/// It holds the server's counters but not the server: a handle kept in one of the server's own
/// groups does not keep the server alive. Once the server is dropped, the groups are no longer
/// rendered (the server-wide counters still are).
///
/// The families (every counter the server keeps, as [`Server::stats`](crate::Server::stats),
/// [`Server::group_stats`](crate::Server::group_stats) and
/// [`RequestQueue::stats`](crate::RequestQueue::stats) give them):
/// - server-wide: `hsys_requests_received_total`, `hsys_responses_sent_total`,
///   `hsys_connections_accepted_total`, `hsys_connections` (open now),
///   `hsys_connections_peak` (the sum of each I/O thread's peak: an upper bound, see
///   [`Snapshot::peak_connections`]), `hsys_connections_timed_out_total`,
///   `hsys_requests_too_large_total`, `hsys_tls_handshakes_total`,
///   `hsys_tls_handshakes_resumed_total`, `hsys_tls_failures_total{reason}`,
///   `hsys_io_threads_died_total`, `hsys_access_log_dropped_lines_total`, and the histogram `hsys_request_duration_seconds` (see
///   [`Snapshot::request_duration`]);
/// - the response cache (see [`CacheStats`](crate::CacheStats)): `hsys_cache_hits_total`,
///   `hsys_cache_misses_total`, `hsys_cache_entries`, `hsys_cache_bytes`,
///   `hsys_cache_flushes_total`, `hsys_cache_flushed_total`, `hsys_cache_evictions_total`;
/// - HTTP/2 (see [`Http2Stats`](crate::Http2Stats); its requests are in the server-wide counts
///   too): `hsys_http2_connections_total`, `hsys_http2_streams_total`,
///   `hsys_http2_resets_sent_total`, `hsys_http2_resets_received_total`,
///   `hsys_http2_goaways_sent_total`;
/// - per URL group, labelled `group="<index>"` (groups are numbered from 0 in the order they
///   were created): `hsys_group_requests_total{method="GET"|"HEAD"|"other"}`,
///   `hsys_group_received_bytes_total`, `hsys_group_sent_bytes_total`, `hsys_group_connections`,
///   `hsys_group_connections_peak`;
/// - per request queue, labelled with the group it serves (a queue bound to two groups comes
///   under each): `hsys_queue_arrivals_total`, `hsys_queue_requests` (waiting now),
///   `hsys_queue_oldest_age_seconds`, `hsys_queue_rejected_total`.
///
/// The scrapes themselves are requests like any other, counted as http.sys counts everything.
#[derive(Clone, Debug)]
pub struct Metrics {
    counters: Arc<[WorkerCounters]>,
    shared: Weak<Shared>,
    routes: Option<Weak<Routes>>,
    /// The server's response cache.
    cache: Option<Arc<crate::cache::Store>>,
}

impl Metrics {
    /// A handle on a server's counters and routing table.
    pub(crate) fn new(counters: Arc<[WorkerCounters]>, shared: Weak<Shared>, routes: Option<Weak<Routes>>) -> Self {
        Metrics { counters, shared, routes, cache: None }
    }

    /// This handle, rendering `cache`'s counters too.
    pub(crate) fn with_cache(mut self, cache: Arc<crate::cache::Store>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Appends the exposition to `out`.
    pub fn render(&self, out: &mut String) {
        let mut s = Snapshot::sum(self.counters.iter());
        s.io_threads_died = self.shared.upgrade().map_or(0, |sh| sh.io_threads_died());
        s.cache = self.cache.as_ref().map(|c| c.stats()).unwrap_or_default();
        let mut groups = Vec::new();
        if let Some(routes) = self.routes.as_ref().and_then(Weak::upgrade) {
            let table = routes.load();
            for (id, g) in table.groups.iter().enumerate() {
                let queue = match &g.target {
                    Some(Target::Queue(q)) => Some(q.stats()),
                    _ => None,
                };
                let stats = table.stats(GroupId(id)).unwrap_or_default();
                groups.push(GroupSeries { id, stats, queue });
            }
        }
        render(&s, &groups, out);
    }

    /// The exposition as a new string.
    pub fn text(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.render(&mut out);
        out
    }
}

/// One URL group's counters, and its queue's if it is bound to one.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct GroupSeries {
    pub id: usize,
    pub stats: GroupStats,
    pub queue: Option<QueueStats>,
}

/// Writes a family's `# HELP` and `# TYPE` lines.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Writes a family of one unlabelled sample.
fn single(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// Writes a family with one sample per group (`value` of `None`: the group has none), or
/// nothing when no group has one.
fn per_group<T: std::fmt::Display>(
    out: &mut String,
    groups: &[GroupSeries],
    (name, kind, help): (&str, &str, &str),
    value: impl Fn(&GroupSeries) -> Option<T>,
) {
    if !groups.iter().any(|g| value(g).is_some()) {
        return;
    }
    family(out, name, kind, help);
    for g in groups {
        if let Some(v) = value(g) {
            let _ = writeln!(out, "{name}{{group=\"{}\"}} {v}", g.id);
        }
    }
}

/// Seconds, as Prometheus reads them (Rust prints no exponent: `0.000123`).
fn seconds(d: std::time::Duration) -> f64 {
    d.as_secs_f64()
}

/// The exposition of a server's counters and its groups'.
pub(crate) fn render(s: &Snapshot, groups: &[GroupSeries], out: &mut String) {
    const COUNTER: &str = "counter";
    const GAUGE: &str = "gauge";
    single(
        out,
        "hsys_requests_received_total",
        COUNTER,
        "Requests received: heads parsed, and requests refused with an error status.",
        s.requests_received,
    );
    single(out, "hsys_responses_sent_total", COUNTER, "Responses fully handed to the kernel.", s.responses_sent);
    single(out, "hsys_connections_accepted_total", COUNTER, "Connections accepted.", s.connections_accepted);
    single(out, "hsys_connections", GAUGE, "Connections open now.", s.current_connections);
    single(
        out,
        "hsys_connections_peak",
        GAUGE,
        "Peak of open connections: the sum of each I/O thread's peak (an upper bound).",
        s.peak_connections,
    );
    single(out, "hsys_connections_timed_out_total", COUNTER, "Connections ended by a timeout.", s.timed_out);
    single(out, "hsys_requests_too_large_total", COUNTER, "Requests answered 413.", s.too_large);
    single(
        out,
        "hsys_tls_handshakes_total",
        COUNTER,
        "TLS handshakes completed (resumed ones included).",
        s.tls_handshakes,
    );
    single(
        out,
        "hsys_tls_handshakes_resumed_total",
        COUNTER,
        "TLS handshakes that resumed an earlier session.",
        s.tls_resumed,
    );
    family(out, "hsys_tls_failures_total", COUNTER, "TLS connections that failed, by reason.");
    let f = &s.tls_failed;
    for (reason, n) in [
        ("not_tls", f.not_tls),
        ("no_certificate", f.no_certificate),
        ("too_large", f.too_large),
        ("protocol", f.protocol),
        ("timeout", f.timeout),
    ] {
        let _ = writeln!(out, "hsys_tls_failures_total{{reason=\"{reason}\"}} {n}");
    }
    single(
        out,
        "hsys_io_threads_died_total",
        COUNTER,
        "I/O threads that ended by unwinding (a defect in hsys).",
        s.io_threads_died,
    );
    single(
        out,
        "hsys_access_log_dropped_lines_total",
        COUNTER,
        "Access-log lines dropped: the log writer fell behind.",
        s.access_log_dropped,
    );
    let c = &s.cache;
    for (name, kind, help, value) in [
        ("hsys_cache_hits_total", COUNTER, "Requests answered from the response cache.", c.hits),
        ("hsys_cache_misses_total", COUNTER, "Requests the cache may answer that it did not.", c.misses),
        ("hsys_cache_entries", GAUGE, "Answers in the response cache.", c.entries),
        ("hsys_cache_bytes", GAUGE, "Bytes the response cache holds.", c.bytes),
        ("hsys_cache_flushes_total", COUNTER, "Flushes that removed cached answers.", c.flushes),
        ("hsys_cache_flushed_total", COUNTER, "Cached answers removed by flushes.", c.flushed),
        ("hsys_cache_evictions_total", COUNTER, "Cached answers evicted for room or expired.", c.evictions),
    ] {
        single(out, name, kind, help, value);
    }
    let h = &s.http2;
    for (name, help, value) in [
        ("hsys_http2_connections_total", "Connections that spoke HTTP/2 (h2c or ALPN h2).", h.connections),
        ("hsys_http2_streams_total", "HTTP/2 streams opened by clients.", h.streams),
        ("hsys_http2_resets_sent_total", "HTTP/2 RST_STREAM frames sent.", h.resets_sent),
        ("hsys_http2_resets_received_total", "HTTP/2 RST_STREAM frames received.", h.resets_received),
        ("hsys_http2_goaways_sent_total", "HTTP/2 GOAWAY frames sent.", h.goaways_sent),
    ] {
        single(out, name, COUNTER, help, value);
    }
    let name = "hsys_request_duration_seconds";
    family(
        out,
        name,
        "histogram",
        "Time from the loop pass that completed a request's head to the pass that encoded its answer.",
    );
    let d = &s.request_duration;
    let mut cumulative = 0;
    for (bound, n) in DURATION_BOUNDS.iter().zip(&d.buckets) {
        cumulative += n;
        let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {cumulative}", seconds(*bound));
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", d.count());
    let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", seconds(d.sum), d.count());

    if !groups.is_empty() {
        let name = "hsys_group_requests_total";
        family(out, name, COUNTER, "Requests routed to a URL group, by method (GET, HEAD, other).");
        for g in groups {
            let r = &g.stats;
            let other = r.all_requests.saturating_sub(r.get_requests + r.head_requests);
            for (method, n) in [("GET", r.get_requests), ("HEAD", r.head_requests), ("other", other)] {
                let _ = writeln!(out, "{name}{{group=\"{}\",method=\"{method}\"}} {n}", g.id);
            }
        }
    }
    per_group(
        out,
        groups,
        ("hsys_group_received_bytes_total", COUNTER, "Request bytes a URL group received, heads and bodies."),
        |g| Some(g.stats.bytes_received),
    );
    per_group(
        out,
        groups,
        ("hsys_group_sent_bytes_total", COUNTER, "Answer bytes a URL group sent, heads and bodies."),
        |g| Some(g.stats.bytes_sent),
    );
    per_group(
        out,
        groups,
        ("hsys_group_connections", GAUGE, "Open connections whose latest request was for a URL group."),
        |g| Some(g.stats.current_connections),
    );
    per_group(out, groups, ("hsys_group_connections_peak", GAUGE, "Peak of a URL group's open connections."), |g| {
        Some(g.stats.max_connections)
    });
    per_group(
        out,
        groups,
        ("hsys_queue_arrivals_total", COUNTER, "Requests that entered a URL group's request queue."),
        |g| g.queue.map(|q| q.arrivals),
    );
    per_group(
        out,
        groups,
        ("hsys_queue_requests", GAUGE, "Requests waiting in a URL group's request queue now."),
        |g| g.queue.map(|q| q.current_queue_size),
    );
    per_group(
        out,
        groups,
        ("hsys_queue_oldest_age_seconds", GAUGE, "How long the oldest request waiting in a queue has waited."),
        |g| g.queue.map(|q| seconds(q.max_queue_item_age)),
    );
    per_group(
        out,
        groups,
        (
            "hsys_queue_rejected_total",
            COUNTER,
            "Requests a queue refused (full, shut down) or answered 503 for their age.",
        ),
        |g| g.queue.map(|q| q.rejected_requests),
    );
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
