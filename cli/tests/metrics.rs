//! `hsys --metrics URL`: the exposition served by the binary, scraped over a socket before and
//! after N requests; the deltas are exactly N (plus the scrape itself, where it counts).

#[path = "../../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use support::{Client, Running, free_port, get};

/// The samples of an exposition, by series (`name{labels}`), checking each family opens with
/// its `# HELP` and `# TYPE` lines.
fn samples(text: &str) -> BTreeMap<String, f64> {
    let mut family = String::new();
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if let Some(rest) = l.strip_prefix("# HELP ") {
            family = rest.split(' ').next().unwrap().to_string();
            assert!(lines.next().unwrap().starts_with(&format!("# TYPE {family} ")), "{text}");
            continue;
        }
        assert!(l.starts_with(family.as_str()) && !family.is_empty(), "{l} outside its family");
        let (series, value) = l.rsplit_once(' ').expect("a sample");
        out.insert(series.to_string(), value.parse().expect("a number"));
    }
    out
}

/// Scrapes `GET /metrics` on `c`.
fn scrape(c: &mut Client) -> BTreeMap<String, f64> {
    let r = c.exchange(&get("/metrics"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4"));
    samples(std::str::from_utf8(&r.body).unwrap())
}

#[test]
fn deltas_between_two_scrapes_are_the_requests_made() {
    for mode in [&[][..], &["--queued", "2"][..]] {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}/metrics");
        let mut args = vec!["--metrics", url.as_str()];
        args.extend_from_slice(mode);
        let srv = Running::start(&args);
        let metrics: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut m = Client::connect(metrics);
        let before = scrape(&mut m);
        let n = 25;
        let mut c = Client::connect(srv.addr);
        for i in 0..n {
            assert_eq!(c.exchange(&get(&format!("/{i}"))).status, 200);
        }
        let after = scrape(&mut m);
        let delta = |s: &str| after.get(s).copied().unwrap_or(f64::NAN) - before.get(s).copied().unwrap_or(f64::NAN);
        // The site is group 0, the metrics group 1; the server-wide counts include the scrape.
        assert_eq!(delta("hsys_group_requests_total{group=\"0\",method=\"GET\"}"), f64::from(n), "{mode:?}");
        assert_eq!(delta("hsys_group_requests_total{group=\"1\",method=\"GET\"}"), 1.0);
        assert_eq!(delta("hsys_requests_received_total"), f64::from(n + 1));
        assert_eq!(delta("hsys_request_duration_seconds_count"), f64::from(n + 1));
        assert_eq!(after["hsys_connections"], 2.0);
        assert_eq!(after.contains_key("hsys_queue_arrivals_total{group=\"0\"}"), !mode.is_empty());
        if !mode.is_empty() {
            assert_eq!(delta("hsys_queue_arrivals_total{group=\"0\"}"), f64::from(n));
        }
        // Other methods on the metrics prefix are refused.
        assert_eq!(m.exchange(b"POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").status, 405);
    }
}

#[test]
fn with_a_cache_ttl_repeated_requests_never_reach_the_queue() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let srv = Running::start(&["--queued", "2", "--cache-ttl", "60", "--metrics", url.as_str()]);
    let mut m = Client::connect(format!("127.0.0.1:{port}").parse().unwrap());
    let before = scrape(&mut m);
    let n = 40;
    let mut c = Client::connect(srv.addr);
    let first = c.exchange(&get("/"));
    for _ in 1..n {
        let r = c.exchange(&get("/"));
        assert_eq!((r.status, &r.body), (200, &first.body));
    }
    c.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.read(true).header("content-length"), first.header("content-length"));
    let after = scrape(&mut m);
    let delta = |s: &str| after.get(s).copied().unwrap_or(f64::NAN) - before.get(s).copied().unwrap_or(f64::NAN);
    assert_eq!(delta("hsys_queue_arrivals_total{group=\"0\"}"), 1.0, "only the first was queued");
    assert_eq!(delta("hsys_cache_hits_total"), f64::from(n));
    assert_eq!(after["hsys_cache_entries"], 1.0);
    assert_eq!(delta("hsys_group_requests_total{group=\"0\",method=\"GET\"}"), f64::from(n));
}

#[test]
fn a_bad_metrics_url_is_refused_at_start() {
    let out = support::bin().args(["http://127.0.0.1:1/", "--metrics", "ftp://x/"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--metrics"));
}

#[test]
fn http2_requests_move_the_http2_families_by_exactly_the_streams_made() {
    if !support::have_tool("nghttp", "nghttp2-client") {
        return;
    }
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let srv = Running::start(&["--metrics", url.as_str()]);
    let mut m = Client::connect(format!("127.0.0.1:{port}").parse().unwrap());
    let before = scrape(&mut m);
    // One nghttp, one h2c connection (prior knowledge), n streams on it.
    let n = 7;
    let urls: Vec<String> = (0..n).map(|i| format!("http://{}/{i}", srv.addr)).collect();
    let out =
        std::process::Command::new("nghttp").args(["-n", "-s", "-t", "10"]).args(&urls).output().expect("nghttp runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(text.lines().filter(|l| l.contains(" 200  512 /")).count(), n, "{text}");
    let after = scrape(&mut m);
    let delta = |s: &str| after.get(s).copied().unwrap_or(f64::NAN) - before.get(s).copied().unwrap_or(f64::NAN);
    assert_eq!(delta("hsys_http2_connections_total"), 1.0);
    assert_eq!(delta("hsys_http2_streams_total"), n as f64);
    assert_eq!(delta("hsys_http2_resets_received_total"), 0.0);
    assert_eq!(delta("hsys_group_requests_total{group=\"0\",method=\"GET\"}"), n as f64);
    // The server-wide count includes the scrape, made over HTTP/1.1.
    assert_eq!(delta("hsys_requests_received_total"), n as f64 + 1.0);
}
