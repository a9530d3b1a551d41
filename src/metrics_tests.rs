//! The exposition's text, on known counters, and its syntax.

use std::time::Duration;

use super::*;
use crate::stats::{RequestDurations, TlsFailures};

/// Known counters: every field a distinct value.
fn known() -> (Snapshot, Vec<GroupSeries>) {
    let mut buckets = [0; DURATION_BOUNDS.len() + 1];
    buckets[0] = 5;
    buckets[3] = 2;
    buckets[DURATION_BOUNDS.len()] = 1;
    let s = Snapshot {
        requests_received: 11,
        responses_sent: 10,
        connections_accepted: 4,
        current_connections: 2,
        peak_connections: 3,
        timed_out: 1,
        too_large: 1,
        tls_handshakes: 6,
        tls_resumed: 2,
        tls_failed: TlsFailures { not_tls: 1, no_certificate: 2, too_large: 3, protocol: 4, timeout: 5 },
        io_threads_died: 0,
        access_log_dropped: 9,
        request_duration: RequestDurations { buckets, sum: Duration::from_micros(20_004_500) },
        http2: crate::Http2Stats { connections: 3, streams: 8, resets_sent: 1, resets_received: 2, goaways_sent: 1 },
        cache: crate::CacheStats { hits: 9, misses: 2, entries: 1, bytes: 300, flushes: 1, flushed: 2, evictions: 0 },
    };
    let g0 = GroupStats {
        all_requests: 7,
        get_requests: 4,
        head_requests: 1,
        bytes_received: 700,
        bytes_sent: 7000,
        current_connections: 1,
        max_connections: 2,
    };
    let queue = QueueStats {
        arrivals: 3,
        current_queue_size: 1,
        max_queue_item_age: Duration::from_millis(1500),
        rejected_requests: 1,
    };
    let g1 = GroupStats { all_requests: 3, get_requests: 3, ..GroupStats::default() };
    (s, vec![GroupSeries { id: 0, stats: g0, queue: None }, GroupSeries { id: 1, stats: g1, queue: Some(queue) }])
}

const EXPECTED: &str = r#"# HELP hsys_requests_received_total Requests received: heads parsed, and requests refused with an error status.
# TYPE hsys_requests_received_total counter
hsys_requests_received_total 11
# HELP hsys_responses_sent_total Responses fully handed to the kernel.
# TYPE hsys_responses_sent_total counter
hsys_responses_sent_total 10
# HELP hsys_connections_accepted_total Connections accepted.
# TYPE hsys_connections_accepted_total counter
hsys_connections_accepted_total 4
# HELP hsys_connections Connections open now.
# TYPE hsys_connections gauge
hsys_connections 2
# HELP hsys_connections_peak Peak of open connections: the sum of each I/O thread's peak (an upper bound).
# TYPE hsys_connections_peak gauge
hsys_connections_peak 3
# HELP hsys_connections_timed_out_total Connections ended by a timeout.
# TYPE hsys_connections_timed_out_total counter
hsys_connections_timed_out_total 1
# HELP hsys_requests_too_large_total Requests answered 413.
# TYPE hsys_requests_too_large_total counter
hsys_requests_too_large_total 1
# HELP hsys_tls_handshakes_total TLS handshakes completed (resumed ones included).
# TYPE hsys_tls_handshakes_total counter
hsys_tls_handshakes_total 6
# HELP hsys_tls_handshakes_resumed_total TLS handshakes that resumed an earlier session.
# TYPE hsys_tls_handshakes_resumed_total counter
hsys_tls_handshakes_resumed_total 2
# HELP hsys_tls_failures_total TLS connections that failed, by reason.
# TYPE hsys_tls_failures_total counter
hsys_tls_failures_total{reason="not_tls"} 1
hsys_tls_failures_total{reason="no_certificate"} 2
hsys_tls_failures_total{reason="too_large"} 3
hsys_tls_failures_total{reason="protocol"} 4
hsys_tls_failures_total{reason="timeout"} 5
# HELP hsys_io_threads_died_total I/O threads that ended by unwinding (a defect in hsys).
# TYPE hsys_io_threads_died_total counter
hsys_io_threads_died_total 0
# HELP hsys_access_log_dropped_lines_total Access-log lines dropped: the log writer fell behind.
# TYPE hsys_access_log_dropped_lines_total counter
hsys_access_log_dropped_lines_total 9
# HELP hsys_cache_hits_total Requests answered from the response cache.
# TYPE hsys_cache_hits_total counter
hsys_cache_hits_total 9
# HELP hsys_cache_misses_total Requests the cache may answer that it did not.
# TYPE hsys_cache_misses_total counter
hsys_cache_misses_total 2
# HELP hsys_cache_entries Answers in the response cache.
# TYPE hsys_cache_entries gauge
hsys_cache_entries 1
# HELP hsys_cache_bytes Bytes the response cache holds.
# TYPE hsys_cache_bytes gauge
hsys_cache_bytes 300
# HELP hsys_cache_flushes_total Flushes that removed cached answers.
# TYPE hsys_cache_flushes_total counter
hsys_cache_flushes_total 1
# HELP hsys_cache_flushed_total Cached answers removed by flushes.
# TYPE hsys_cache_flushed_total counter
hsys_cache_flushed_total 2
# HELP hsys_cache_evictions_total Cached answers evicted for room or expired.
# TYPE hsys_cache_evictions_total counter
hsys_cache_evictions_total 0
# HELP hsys_http2_connections_total Connections that spoke HTTP/2 (h2c or ALPN h2).
# TYPE hsys_http2_connections_total counter
hsys_http2_connections_total 3
# HELP hsys_http2_streams_total HTTP/2 streams opened by clients.
# TYPE hsys_http2_streams_total counter
hsys_http2_streams_total 8
# HELP hsys_http2_resets_sent_total HTTP/2 RST_STREAM frames sent.
# TYPE hsys_http2_resets_sent_total counter
hsys_http2_resets_sent_total 1
# HELP hsys_http2_resets_received_total HTTP/2 RST_STREAM frames received.
# TYPE hsys_http2_resets_received_total counter
hsys_http2_resets_received_total 2
# HELP hsys_http2_goaways_sent_total HTTP/2 GOAWAY frames sent.
# TYPE hsys_http2_goaways_sent_total counter
hsys_http2_goaways_sent_total 1
# HELP hsys_request_duration_seconds Time from the loop pass that completed a request's head to the pass that encoded its answer.
# TYPE hsys_request_duration_seconds histogram
hsys_request_duration_seconds_bucket{le="0.0001"} 5
hsys_request_duration_seconds_bucket{le="0.0005"} 5
hsys_request_duration_seconds_bucket{le="0.001"} 5
hsys_request_duration_seconds_bucket{le="0.005"} 7
hsys_request_duration_seconds_bucket{le="0.01"} 7
hsys_request_duration_seconds_bucket{le="0.025"} 7
hsys_request_duration_seconds_bucket{le="0.05"} 7
hsys_request_duration_seconds_bucket{le="0.1"} 7
hsys_request_duration_seconds_bucket{le="0.25"} 7
hsys_request_duration_seconds_bucket{le="0.5"} 7
hsys_request_duration_seconds_bucket{le="1"} 7
hsys_request_duration_seconds_bucket{le="2"} 7
hsys_request_duration_seconds_bucket{le="5"} 7
hsys_request_duration_seconds_bucket{le="10"} 7
hsys_request_duration_seconds_bucket{le="+Inf"} 8
hsys_request_duration_seconds_sum 20.0045
hsys_request_duration_seconds_count 8
# HELP hsys_group_requests_total Requests routed to a URL group, by method (GET, HEAD, other).
# TYPE hsys_group_requests_total counter
hsys_group_requests_total{group="0",method="GET"} 4
hsys_group_requests_total{group="0",method="HEAD"} 1
hsys_group_requests_total{group="0",method="other"} 2
hsys_group_requests_total{group="1",method="GET"} 3
hsys_group_requests_total{group="1",method="HEAD"} 0
hsys_group_requests_total{group="1",method="other"} 0
# HELP hsys_group_received_bytes_total Request bytes a URL group received, heads and bodies.
# TYPE hsys_group_received_bytes_total counter
hsys_group_received_bytes_total{group="0"} 700
hsys_group_received_bytes_total{group="1"} 0
# HELP hsys_group_sent_bytes_total Answer bytes a URL group sent, heads and bodies.
# TYPE hsys_group_sent_bytes_total counter
hsys_group_sent_bytes_total{group="0"} 7000
hsys_group_sent_bytes_total{group="1"} 0
# HELP hsys_group_connections Open connections whose latest request was for a URL group.
# TYPE hsys_group_connections gauge
hsys_group_connections{group="0"} 1
hsys_group_connections{group="1"} 0
# HELP hsys_group_connections_peak Peak of a URL group's open connections.
# TYPE hsys_group_connections_peak gauge
hsys_group_connections_peak{group="0"} 2
hsys_group_connections_peak{group="1"} 0
# HELP hsys_queue_arrivals_total Requests that entered a URL group's request queue.
# TYPE hsys_queue_arrivals_total counter
hsys_queue_arrivals_total{group="1"} 3
# HELP hsys_queue_requests Requests waiting in a URL group's request queue now.
# TYPE hsys_queue_requests gauge
hsys_queue_requests{group="1"} 1
# HELP hsys_queue_oldest_age_seconds How long the oldest request waiting in a queue has waited.
# TYPE hsys_queue_oldest_age_seconds gauge
hsys_queue_oldest_age_seconds{group="1"} 1.5
# HELP hsys_queue_rejected_total Requests a queue refused (full, shut down) or answered 503 for their age.
# TYPE hsys_queue_rejected_total counter
hsys_queue_rejected_total{group="1"} 1
"#;

#[test]
fn known_counters_render_as_the_table() {
    let (s, groups) = known();
    let mut out = String::new();
    render(&s, &groups, &mut out);
    for (i, (got, want)) in out.lines().zip(EXPECTED.lines()).enumerate() {
        assert_eq!(got, want, "line {}", i + 1);
    }
    assert_eq!(out, EXPECTED);
}

#[test]
fn without_groups_no_group_family_is_written() {
    let (s, _) = known();
    let mut out = String::new();
    render(&s, &[], &mut out);
    assert!(!out.contains("group"), "{out}");
    assert!(!out.contains("hsys_queue"), "{out}");
    validate(&out).unwrap();
}

#[test]
fn the_exposition_parses() {
    let (s, groups) = known();
    let mut out = String::new();
    render(&s, &groups, &mut out);
    let families = validate(&out).unwrap();
    assert_eq!(families, 34);
    // Zeroed counters parse too.
    let mut out = String::new();
    render(&Snapshot::default(), &[GroupSeries::default()], &mut out);
    validate(&out).unwrap();
}

#[test]
fn the_validator_refuses_what_prometheus_would() {
    for bad in [
        "x 1\n",                                                                  // no HELP/TYPE before it
        "# HELP x h\n# TYPE x counter\nx{a=\"1\" 1\n",                            // unclosed labels
        "# HELP x h\n# TYPE x counter\nx one\n",                                  // not a number
        "# HELP x h\n# TYPE x counter\ny 1\n",                                    // another family's sample
        "# HELP x h\n# TYPE x counter\nx 1\n# HELP x h\n# TYPE x counter\nx 2\n", // family twice
        "# HELP x h\n# TYPE x counter\nx 1",                                      // no final newline
    ] {
        assert!(validate(bad).is_err(), "{bad:?}");
    }
}

/// Checks the text exposition format 0.0.4 as hsys writes it: each family opens with
/// `# HELP name …` then `# TYPE name kind`, is named once, and its samples follow as
/// `name{label="value",…} number`, named after it (a histogram's with `_bucket`, `_sum`,
/// `_count`); every line ends with `\n`. Returns the number of families.
pub(crate) fn validate(text: &str) -> Result<usize, String> {
    if !text.ends_with('\n') {
        return Err("no final newline".into());
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut current: Option<(&str, &str)> = None;
    let mut lines = text.lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let err = |m: &str| format!("line {}: {m}: {line:?}", i + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default();
            valid_name(name).then_some(()).ok_or_else(|| err("bad name"))?;
            if seen.contains(&name) {
                return Err(err("family named twice"));
            }
            seen.push(name);
            let Some((_, ty)) = lines.next() else { return Err(err("HELP without TYPE")) };
            let kind = ty.strip_prefix(&format!("# TYPE {name} ")).ok_or_else(|| err("TYPE must follow HELP"))?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(err("unknown type"));
            }
            current = Some((name, kind));
            continue;
        }
        let (family, kind) = current.ok_or_else(|| err("sample before HELP/TYPE"))?;
        let (series, value) = line.rsplit_once(' ').ok_or_else(|| err("no value"))?;
        if value != "+Inf" && value.parse::<f64>().is_err() {
            return Err(err("value not a number"));
        }
        let (name, labels) = match series.split_once('{') {
            None => (series, None),
            Some((n, l)) => (n, Some(l.strip_suffix('}').ok_or_else(|| err("labels not closed"))?)),
        };
        let suffixes: &[&str] = if kind == "histogram" { &["_bucket", "_sum", "_count"] } else { &[""] };
        if !suffixes.iter().any(|s| name.strip_suffix(s) == Some(family)) {
            return Err(err("sample of another family"));
        }
        for pair in labels.into_iter().flat_map(|l| l.split(',')) {
            let (k, v) = pair.split_once('=').ok_or_else(|| err("label without ="))?;
            let quoted = v.len() >= 2 && v.starts_with('"') && v.ends_with('"');
            if !valid_name(k) || !quoted || v[1..v.len() - 1].contains(['"', '\\', '\n']) {
                return Err(err("bad label"));
            }
        }
    }
    Ok(seen.len())
}

/// A metric or label name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}
