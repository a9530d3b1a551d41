//! A request queue drained from a tokio runtime with `receive_async`: one task per request,
//! answers given out of order still leave each connection in pipeline order.

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hsys::{Reply, RequestQueue, Server, Target, UrlGroups};
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
        let server = Server::builder().threads(1).bind("127.0.0.1:0".parse().unwrap()).start(groups).expect("start");
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
        assert!(self.server.wait(STEP), "the server did not stop");
        self.rt.shutdown_timeout(STEP);
    }
}

/// Takes requests as they come and spawns a task for each. A path ending in a number sleeps that
/// many milliseconds before answering, so tasks finish in an order the test chooses.
async fn dispatch(queue: RequestQueue, finished: Arc<Mutex<Vec<String>>>) {
    while let Some(req) = queue.receive_async().await {
        let finished = Arc::clone(&finished);
        tokio::spawn(async move {
            let ms: u64 = req.path().rsplit('/').next().and_then(|s| s.parse().ok()).unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let path = req.path().to_string();
            let body = format!("{path} after {ms} ms");
            // Recorded before answering, so the client never sees an answer that is not yet listed.
            finished.lock().unwrap().push(path);
            req.respond(Reply::new(200).header("Content-Type", "text/plain").body(body.into_bytes()));
        });
    }
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
