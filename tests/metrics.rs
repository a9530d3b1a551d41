//! The Prometheus exposition (`Server::metrics`) over real sockets: the counters move by exactly
//! the requests made, the duration histogram counts every answer, groups have their series.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hsys::{METRICS_CONTENT_TYPE, Metrics, Reply, Request, RequestQueue, Response, Server, Target, UrlGroups};
use support::{Client, STEP, free_port, get};

/// The samples of an exposition, by series (`name{labels}`).
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a sample");
            (series.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

/// A sample's value (0 when absent).
fn at(s: &BTreeMap<String, f64>, series: &str) -> f64 {
    s.get(series).copied().unwrap_or_else(|| panic!("no {series} in {s:?}"))
}

/// How long the queue's application thread takes per request.
const QUEUE_DELAY: Duration = Duration::from_millis(30);

/// A server with three groups: 0 inline on `/`, 1 a queue on `/q/` (answered after
/// `QUEUE_DELAY`), 2 the exposition on `/metrics/`.
fn start() -> (Server, SocketAddr, std::thread::JoinHandle<()>) {
    let port = free_port();
    let queue = RequestQueue::new(100);
    let metrics: Arc<OnceLock<Metrics>> = Arc::default();
    let mut groups = UrlGroups::new();
    let site = groups.create_group(Target::inline(|_: &Request<'_>, res: &mut Response<'_>| {
        let _ = res.body(b"site");
    }));
    let queued = groups.create_group(Target::Queue(queue.clone()));
    let handle = Arc::clone(&metrics);
    let scrape = groups.create_group(Target::inline(move |_: &Request<'_>, res: &mut Response<'_>| {
        let _ = match handle.get() {
            Some(m) => res.header("Content-Type", METRICS_CONTENT_TYPE).body(m.text().as_bytes()),
            None => res.status(503).body(b""),
        };
    }));
    groups.add_url(site, &format!("http://127.0.0.1:{port}/")).unwrap();
    groups.add_url(queued, &format!("http://127.0.0.1:{port}/q/")).unwrap();
    groups.add_url(scrape, &format!("http://127.0.0.1:{port}/metrics/")).unwrap();
    let server = Server::builder().threads(2).serve_groups(groups).expect("serve");
    let _ = metrics.set(server.metrics());
    let app = std::thread::spawn(move || {
        while let Some(req) = queue.receive() {
            std::thread::sleep(QUEUE_DELAY);
            req.respond(Reply::new(200).body(b"queued".to_vec()));
        }
    });
    (server, server_addr(port), app)
}

fn server_addr(port: u16) -> SocketAddr {
    format!("127.0.0.1:{port}").parse().unwrap()
}

/// Waits until `f` holds (a counter moved on another thread), failing after `STEP`.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < STEP, "{what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn counters_move_by_exactly_the_requests_made() {
    let (server, addr, app) = start();
    let before = samples(&server.metrics().text());
    let (gets, heads, posts, queued) = (5, 2, 3, 4);
    let mut c = Client::connect(addr);
    for i in 0..gets {
        assert_eq!(c.exchange(&get(&format!("/{i}"))).status, 200);
    }
    for _ in 0..heads {
        c.send(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(c.read(true).status, 200);
    }
    for _ in 0..posts {
        assert_eq!(c.exchange(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi").status, 200);
    }
    for i in 0..queued {
        assert_eq!(c.exchange(&get(&format!("/q/{i}"))).body, b"queued");
    }
    let n = f64::from(gets + heads + posts + queued);
    // Answers are counted sent once the kernel took them, on the I/O thread, maybe just after
    // the client read them.
    let mut after = BTreeMap::new();
    eventually("every response counted sent", || {
        after = samples(&server.metrics().text());
        at(&after, "hsys_responses_sent_total") - at(&before, "hsys_responses_sent_total") == n
    });
    let delta = |series: &str| at(&after, series) - at(&before, series);
    assert_eq!(delta("hsys_requests_received_total"), n);
    assert_eq!(delta("hsys_connections_accepted_total"), 1.0);
    assert_eq!(at(&after, "hsys_connections"), 1.0);
    assert!(at(&after, "hsys_connections_peak") >= 1.0);
    // The histogram counts every answer: inline ones in their request's pass (0), queued ones
    // after the application thread's delay.
    assert_eq!(delta("hsys_request_duration_seconds_count"), n);
    assert_eq!(delta("hsys_request_duration_seconds_bucket{le=\"+Inf\"}"), n);
    assert_eq!(delta("hsys_request_duration_seconds_bucket{le=\"0.025\"}"), n - f64::from(queued));
    assert!(delta("hsys_request_duration_seconds_sum") >= QUEUE_DELAY.as_secs_f64() * f64::from(queued) * 0.99);
    // The groups' own series.
    assert_eq!(delta("hsys_group_requests_total{group=\"0\",method=\"GET\"}"), f64::from(gets));
    assert_eq!(delta("hsys_group_requests_total{group=\"0\",method=\"HEAD\"}"), f64::from(heads));
    assert_eq!(delta("hsys_group_requests_total{group=\"0\",method=\"other\"}"), f64::from(posts));
    assert_eq!(delta("hsys_group_requests_total{group=\"1\",method=\"GET\"}"), f64::from(queued));
    assert!(delta("hsys_group_received_bytes_total{group=\"0\"}") > 0.0);
    assert!(delta("hsys_group_sent_bytes_total{group=\"1\"}") > 0.0);
    assert_eq!(delta("hsys_queue_arrivals_total{group=\"1\"}"), f64::from(queued));
    assert_eq!(at(&after, "hsys_queue_requests{group=\"1\"}"), 0.0);
    assert_eq!(at(&after, "hsys_queue_rejected_total{group=\"1\"}"), 0.0);
    assert!(!after.keys().any(|k| k.starts_with("hsys_queue") && k.contains("group=\"0\"")));
    drop(c);
    drop(server);
    app.join().unwrap();
}

#[test]
fn scraped_through_a_handler_the_deltas_are_the_requests_plus_the_scrape() {
    let (server, addr, app) = start();
    let mut c = Client::connect(addr);
    let mut scrape = || {
        let r = c.exchange(&get("/metrics/"));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some(METRICS_CONTENT_TYPE));
        samples(std::str::from_utf8(&r.body).unwrap())
    };
    let before = scrape();
    let n = 7;
    let mut other = Client::connect(addr);
    for _ in 0..n {
        assert_eq!(other.exchange(&get("/x")).status, 200);
    }
    let after = scrape();
    let delta = |series: &str| at(&after, series) - at(&before, series);
    // The scrapes are requests like any other: the second one is counted in its own text,
    // the first one's answer was timed after its text was made.
    assert_eq!(delta("hsys_requests_received_total"), f64::from(n + 1));
    assert_eq!(delta("hsys_request_duration_seconds_count"), f64::from(n + 1));
    assert_eq!(delta("hsys_group_requests_total{group=\"0\",method=\"GET\"}"), f64::from(n));
    assert_eq!(delta("hsys_group_requests_total{group=\"2\",method=\"GET\"}"), 1.0);
    assert_eq!(at(&after, "hsys_connections"), 2.0);
    drop((c, other));
    drop(server);
    app.join().unwrap();
}

#[test]
fn a_handle_outlives_its_server_without_keeping_it() {
    let (server, _, app) = start();
    let m = server.metrics();
    assert!(m.text().contains("hsys_group_requests_total{group=\"2\",method=\"GET\"} 0"));
    drop(server);
    app.join().unwrap();
    // The server (and its routing table, which holds a handler holding a handle) is gone.
    let text = m.text();
    assert!(text.contains("hsys_requests_received_total 0"), "{text}");
    assert!(!text.contains("group="), "{text}");
}
