//! A request queue drained from a tokio runtime with `receive_async`: one task per request,
//! answers given out of order still leave each connection in pipeline order.

mod support;

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hsys::{QueuedRequest, Reply, RequestQueue, Server, Target, UrlGroups};
use support::{Client, STEP, get};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// A server on 127.0.0.1 (one I/O thread) whose only URL group is a queue served by tokio tasks.
struct Fixture {
    server: Server,
    addr: SocketAddr,
    queue: RequestQueue,
    rt: Runtime,
    dispatcher: JoinHandle<()>,
    /// Paths in the order their tasks answered.
    finished: Arc<Mutex<Vec<String>>>,
}

impl Fixture {
    fn start() -> Fixture {
        let queue = RequestQueue::new(100);
        let mut groups = UrlGroups::new();
        let group = groups.create_group(Target::Queue(queue.clone()));
        let server = Server::builder().threads(1).bind("127.0.0.1:0").serve_groups(groups).expect("serve_groups");
        let addr = server.local_addrs()[0];
        // The port is known only now; the prefix is registered on the running server.
        server.add_url(group, &format!("http://127.0.0.1:{}/", addr.port())).expect("register the prefix");
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap();
        let finished = Arc::new(Mutex::new(Vec::new()));
        let dispatcher = rt.spawn(dispatch(queue.clone(), Arc::clone(&finished)));
        Fixture { server, addr, queue, rt, dispatcher, finished }
    }

    fn finished(&self) -> Vec<String> {
        self.finished.lock().unwrap().clone()
    }

    /// Stops the queue (the dispatcher sees `None`), then the server, each within bounded time.
    fn stop(mut self) {
        self.queue.shutdown();
        let ended = self.rt.block_on(async { tokio::time::timeout(STEP, self.dispatcher).await });
        assert!(matches!(ended, Ok(Ok(()))), "the dispatcher did not end: {ended:?}");
        self.server.shutdown();
        assert!(self.server.wait(STEP).expect("no I/O thread died"), "the server did not stop");
        self.rt.shutdown_timeout(STEP);
    }
}

/// Takes requests as they come and spawns a task for each. `/echo` reads the body (async) and
/// answers its length and a checksum; `/stream/N` streams N pattern bytes with async writes;
/// any other path ending in a number sleeps that many milliseconds before answering, so tasks
/// finish in an order the test chooses.
async fn dispatch(queue: RequestQueue, finished: Arc<Mutex<Vec<String>>>) {
    while let Some(req) = queue.receive_async().await {
        let finished = Arc::clone(&finished);
        tokio::spawn(async move {
            if req.path() == "/echo" {
                echo(req, finished).await;
            } else if let Some(n) = req.path().strip_prefix("/stream/") {
                let n = n.parse().unwrap_or(0);
                stream(req, n, finished).await;
            } else {
                sleep_then_answer(req, finished).await;
            }
        });
    }
}

async fn sleep_then_answer(req: QueuedRequest, finished: Arc<Mutex<Vec<String>>>) {
    let ms: u64 = req.path().rsplit('/').next().and_then(|s| s.parse().ok()).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    let path = req.path().to_string();
    let body = format!("{path} after {ms} ms");
    // Recorded before answering, so the client never sees an answer that is not yet listed.
    finished.lock().unwrap().push(path);
    req.respond(Reply::new(200).header("Content-Type", "text/plain").body(body.into_bytes()));
}

async fn echo(mut req: QueuedRequest, finished: Arc<Mutex<Vec<String>>>) {
    let answer = match req.read_body_to_end_async(1 << 20).await {
        Ok(body) => format!("{} {}", body.len(), checksum(&body)),
        Err(e) => format!("error {e}"),
    };
    finished.lock().unwrap().push(answer.clone());
    req.respond(Reply::new(200).body(answer.into_bytes()));
}

async fn stream(req: QueuedRequest, n: usize, finished: Arc<Mutex<Vec<String>>>) {
    let Some(mut w) = req.respond_streaming(Reply::new(200).header("Content-Type", "application/octet-stream")) else {
        return;
    };
    // The pattern repeats every 256 bytes, so one block written again and again is the stream.
    let block = pattern(16 * 1024);
    let mut outcome = "streamed".to_string();
    for at in (0..n).step_by(block.len()) {
        let piece = block.get(..block.len().min(n - at)).unwrap_or_default();
        if let Err(e) = w.write_async(piece).await {
            outcome = format!("aborted: {:?}", e.kind());
            break;
        }
    }
    if outcome == "streamed"
        && let Err(e) = w.finish_async().await
    {
        outcome = format!("aborted: {:?}", e.kind());
    }
    finished.lock().unwrap().push(outcome);
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 256) as u8).collect()
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().enumerate().fold(0u64, |acc, (i, &b)| acc.wrapping_mul(31).wrapping_add(u64::from(b) ^ i as u64))
}

/// Waits (bounded) until the tasks have recorded `n` outcomes.
fn wait_for(fx: &Fixture, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + STEP;
    while fx.finished().len() < n && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    fx.finished()
}

#[test]
fn answers_from_tasks_that_finish_out_of_order_leave_in_pipeline_order() {
    let fx = Fixture::start();
    let mut cl = Client::connect(fx.addr);
    let paths = ["/first/300", "/second/150", "/third/0"];
    let pipelined: Vec<u8> = paths.iter().flat_map(|p| get(p)).collect();
    cl.send(&pipelined);
    for (path, ms) in paths.iter().zip([300, 150, 0]) {
        let r = cl.read(false);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert_eq!(String::from_utf8(r.body).unwrap(), format!("{path} after {ms} ms"));
    }
    // The tasks really did finish last-first: the order on the wire is the server's doing.
    assert_eq!(fx.finished(), ["/third/0", "/second/150", "/first/300"]);
    // The connection is still usable afterwards.
    assert_eq!(cl.exchange(&get("/again/1")).body, b"/again/1 after 1 ms");
    fx.stop();
}

#[test]
fn a_ureq_client_is_answered_by_a_task() {
    let fx = Fixture::start();
    let config = ureq::Agent::config_builder().timeout_global(Some(STEP)).build();
    let agent = ureq::Agent::new_with_config(config);
    let mut resp = agent.get(&format!("http://{}/ureq/5", fx.addr)).call().expect("GET");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers().get("content-type").unwrap(), "text/plain");
    assert_eq!(resp.body_mut().read_to_string().unwrap(), "/ureq/5 after 5 ms");
    assert_eq!(fx.queue.stats().arrivals, 1);
    fx.stop();
}

#[test]
fn a_task_reads_a_body_larger_than_the_pipe_without_blocking_a_thread() {
    let fx = Fixture::start();
    let mut cl = Client::connect(fx.addr);
    // Four times the pipe: the connection pauses and the task's reads resume it.
    let body = pattern(256 * 1024);
    cl.send(
        format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n", body.len())
            .as_bytes(),
    );
    let r = cl.read(false);
    assert_eq!(r.status, 100, "100 Continue once the task reads");
    for piece in body.chunks(40_000) {
        cl.send(piece);
        std::thread::sleep(Duration::from_millis(5));
    }
    let r = cl.read(false);
    assert_eq!(r.status, 200);
    assert_eq!(String::from_utf8(r.body).unwrap(), format!("{} {}", body.len(), checksum(&body)));
    // A chunked body on the same connection.
    cl.send(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    );
    let r = cl.read(false);
    assert_eq!(String::from_utf8(r.body).unwrap(), format!("11 {}", checksum(b"hello world")));
    fx.stop();
}

#[test]
fn a_task_streams_a_large_answer_to_a_slow_reader_with_async_writes() {
    let fx = Fixture::start();
    let n = 24 * 1024 * 1024; // far more than loopback socket buffers hold
    let config = ureq::Agent::config_builder().timeout_global(Some(STEP)).build();
    let agent = ureq::Agent::new_with_config(config);
    let mut resp = agent.get(&format!("http://{}/stream/{n}", fx.addr)).call().expect("GET");
    assert_eq!(resp.status(), 200);
    // The client does not read for a while: the writer must wait (far more than the 256 KiB
    // the stream buffers), not finish.
    std::thread::sleep(Duration::from_millis(300));
    assert!(fx.finished().is_empty(), "the writer finished before the client read: no back-pressure");
    let mut got = Vec::new();
    resp.body_mut().with_config().limit(n as u64 + 1).reader().read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), n);
    assert!(got == pattern(n), "the streamed bytes differ");
    assert_eq!(wait_for(&fx, 1), ["streamed"]);
    fx.stop();
}

#[test]
fn a_task_writing_to_a_client_that_left_gets_an_error_instead_of_waiting_forever() {
    let fx = Fixture::start();
    let mut cl = Client::connect(fx.addr);
    cl.send(&get("/stream/50000000"));
    let r = cl.read(true);
    assert_eq!(r.status, 200);
    // By now the socket buffers are full and the task waits for room.
    std::thread::sleep(Duration::from_millis(300));
    assert!(fx.finished().is_empty());
    drop(cl);
    assert_eq!(wait_for(&fx, 1), ["aborted: ConnectionAborted"]);
    fx.stop();
}

#[test]
fn a_task_streaming_behind_an_unanswered_request_is_told_when_the_client_leaves() {
    let fx = Fixture::start();
    let mut cl = Client::connect(fx.addr);
    // The streamed answer waits in its slot behind the first (slow) one, its writer soon full.
    let pipelined: Vec<u8> = [get("/slow/1500"), get("/stream/50000000")].concat();
    cl.send(&pipelined);
    std::thread::sleep(Duration::from_millis(300));
    assert!(fx.finished().is_empty());
    drop(cl);
    let finished = wait_for(&fx, 2);
    assert_eq!(finished.first().map(String::as_str), Some("aborted: ConnectionAborted"), "{finished:?}");
    fx.stop();
}
