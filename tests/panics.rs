//! Panics in application code never take an I/O thread down, over real sockets: a handler that
//! panics deciding whether it reads a body, a task waker that panics when the I/O thread wakes it,
//! and none of it printed by the library.

mod support;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use hsys::{Handler, Reply, Request, RequestQueue, Response, Server};
use support::{Client, STEP, get, queue_server};

/// Answers `ok`, but panics when asked whether it reads the body of `/boom`.
struct ReadsBodyPanics;

impl Handler for ReadsBodyPanics {
    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
        if req.path() == "/panic" {
            panic!("the handler panics");
        }
        let _ = res.body(b"ok");
    }

    fn reads_body(&self, req: &Request<'_>) -> bool {
        assert!(req.path() != "/boom", "reads_body panics");
        true
    }
}

fn one_thread(handler: impl Handler) -> (Server, std::net::SocketAddr) {
    let server = Server::builder().threads(1).bind("127.0.0.1:0").serve(handler).expect("start");
    let addr = server.local_addrs()[0];
    (server, addr)
}

fn post(path: &str, body: &str) -> Vec<u8> {
    format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

#[test]
fn a_panic_in_reads_body_is_a_500_and_the_only_thread_serves_on() {
    let (server, addr) = one_thread(ReadsBodyPanics);
    let mut c = Client::connect(addr);
    let r = c.exchange(&post("/boom", "hello"));
    assert_eq!((r.status, r.header("connection")), (500, Some("close")));
    assert!(c.closed(), "the connection closes after the 500");
    // The one I/O thread is alive: new connections are served, with and without bodies.
    let mut c = Client::connect(addr);
    assert_eq!(c.exchange(&post("/fine", "hello")).body, b"ok");
    assert_eq!(c.exchange(&get("/")).body, b"ok");
    assert_eq!(server.stats().io_threads_died, 0);
}

/// A waker that panics when woken, counting its wakes.
struct PanickingWaker(AtomicUsize);

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("the executor's waker panics");
    }
}

#[test]
fn a_panicking_task_waker_costs_its_wake_only() {
    let queue = RequestQueue::new(16);
    let (server, addr) = queue_server(&queue, Server::builder().threads(1));
    let counting = Arc::new(PanickingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&counting));
    // A task waits in `receive_async`: the I/O thread owes it a wake when a request arrives.
    let mut next = pin!(queue.receive_async());
    assert!(next.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
    let mut c = Client::connect(addr);
    c.send(&get("/queued"));
    let deadline = Instant::now() + STEP;
    while counting.0.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the I/O thread never woke the task");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The task's next poll takes the request; the I/O thread, which ran the panicking waker,
    // still carries the answer back and serves the connection on.
    let Poll::Ready(Some(req)) = next.as_mut().poll(&mut Context::from_waker(Waker::noop())) else {
        panic!("the woken task found no request")
    };
    assert!(req.respond(Reply::new(200).body(&b"answered"[..])));
    assert_eq!(c.read(false).body, b"answered");
    c.send(&get("/again"));
    let again = queue.receive().expect("a second request");
    assert!(again.respond(Reply::new(200).body(&b"again"[..])));
    assert_eq!(c.read(false).body, b"again");
    assert_eq!(server.stats().io_threads_died, 0);
}

/// The child half of `the_library_prints_nothing_when_handlers_panic`: serves a panicking
/// handler and a panicking `reads_body` once each. Does nothing unless run as that child.
#[test]
fn child_serving_panicking_handlers() {
    if std::env::var_os("HSYS_PANICS_CHILD").is_none() {
        return;
    }
    let (_server, addr) = one_thread(ReadsBodyPanics);
    let mut c = Client::connect(addr);
    assert_eq!(c.exchange(&get("/panic")).status, 500);
    let mut c = Client::connect(addr);
    assert_eq!(c.exchange(&post("/boom", "x")).status, 500);
}

#[test]
fn the_library_prints_nothing_when_handlers_panic() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_serving_panicking_handlers", "--nocapture", "--test-threads=1"])
        .env("HSYS_PANICS_CHILD", "1")
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the child failed: {stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "the child test did not run: {stdout}");
    assert!(!stderr.contains("panicked"), "the library printed a panic: {stderr}");
}
