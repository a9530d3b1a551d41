//! The request-queue timeout over real sockets: a request nobody receives is answered `503` at
//! its deadline and leaves the queue; `MaxQueueItemAge` is the age of the oldest waiting request;
//! a request received in time is answered once, by the application, however late.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hsys::{Reply, RequestQueue, Server};
use support::{Client, STEP, get, queue_server};

/// Waits (bounded) until `queue` holds `n` requests.
fn wait_for_size(queue: &RequestQueue, n: u64) {
    let deadline = Instant::now() + STEP;
    while queue.stats().current_queue_size != n {
        assert!(Instant::now() < deadline, "the queue never held {n} requests");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn served(queue: &RequestQueue) -> (Server, SocketAddr) {
    queue_server(queue, Server::builder())
}

#[test]
fn a_request_nobody_receives_is_answered_503_at_its_deadline() {
    let queue = RequestQueue::with_timeout(10, Duration::from_secs(1));
    let (_server, addr) = served(&queue);
    let mut cl = Client::connect(addr);
    let sent = Instant::now();
    cl.send(&get("/nobody"));
    wait_for_size(&queue, 1);
    let r = cl.read(false);
    let waited = sent.elapsed();
    assert_eq!((r.status, r.header("connection")), (503, Some("close")));
    assert!(waited >= Duration::from_millis(900), "answered before the deadline: {waited:?}");
    assert!(waited < Duration::from_secs(3), "answered {waited:?} after it was sent");
    assert!(cl.closed());
    let stats = queue.stats();
    assert_eq!(
        (stats.arrivals, stats.rejected_requests, stats.current_queue_size, stats.max_queue_item_age),
        (1, 1, 0, Duration::ZERO)
    );
    assert!(queue.try_receive().is_none());
}

#[test]
fn a_late_request_gives_its_place_back() {
    // Length 1: while the first request waits the queue is full; once it is answered for its age,
    // the next one is queued, not refused.
    let queue = RequestQueue::with_timeout(1, Duration::from_secs(1));
    let (_server, addr) = served(&queue);
    let mut first = Client::connect(addr);
    first.send(&get("/first"));
    wait_for_size(&queue, 1);
    let mut full = Client::connect(addr);
    assert_eq!(full.exchange(&get("/full")).status, 503);
    assert_eq!(first.read(false).status, 503);
    let mut next = Client::connect(addr);
    next.send(&get("/next"));
    wait_for_size(&queue, 1);
    let req = queue.try_receive().expect("the next request was queued");
    assert_eq!(req.path(), "/next");
    assert!(req.respond(Reply::new(200).body(&b"next"[..])));
    assert_eq!(next.read(false).body, b"next");
    assert_eq!(queue.stats().rejected_requests, 2);
}

#[test]
fn max_queue_item_age_is_the_oldest_waiting_now() {
    let queue = RequestQueue::with_timeout(10, Duration::from_secs(30));
    let (_server, addr) = served(&queue);
    assert_eq!(queue.stats().max_queue_item_age, Duration::ZERO);
    let mut cl = Client::connect(addr);
    cl.send(&get("/waits"));
    wait_for_size(&queue, 1);
    std::thread::sleep(Duration::from_millis(500));
    let age = queue.stats().max_queue_item_age;
    assert!(age > Duration::from_millis(300) && age < STEP, "age {age:?}");
    let req = queue.try_receive().expect("the request");
    assert!(req.age() >= age);
    let stats = queue.stats();
    assert_eq!((stats.current_queue_size, stats.max_queue_item_age), (0, Duration::ZERO));
    assert!(req.respond(Reply::new(200).body(&b"ok"[..])));
    assert_eq!(cl.read(false).status, 200);
}

#[test]
fn a_request_received_in_time_is_answered_once_however_late() {
    let queue = RequestQueue::with_timeout(10, Duration::from_millis(300));
    let (_server, addr) = served(&queue);
    let app = std::thread::spawn({
        let queue = queue.clone();
        move || {
            while let Some(req) = queue.receive() {
                // Answered long after the deadline: the request left the queue when received.
                std::thread::sleep(Duration::from_millis(800));
                let body = req.path().as_bytes().to_vec();
                req.respond(Reply::new(200).body(body));
            }
        }
    });
    let mut cl = Client::connect(addr);
    for path in ["/one", "/two"] {
        let r = cl.exchange(&get(path));
        assert_eq!((r.status, r.body.as_slice()), (200, path.as_bytes()));
    }
    // Nothing more arrives (no stray 503 behind the answers): the read times out.
    cl.reader.get_ref().set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    assert!(cl.try_read(false).is_none());
    let stats = queue.stats();
    assert_eq!((stats.arrivals, stats.rejected_requests, stats.current_queue_size), (2, 0, 0));
    queue.shutdown();
    app.join().unwrap();
}
