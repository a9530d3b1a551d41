//! A request queue drained by tokio: each request becomes a task that awaits (here a 1 ms sleep,
//! standing in for a database or an upstream call) and then answers from whichever worker it
//! ends on. The answers still leave each connection in pipeline order.
//!
//!     cargo run --example tokio_queue -- 8080
//!     curl http://127.0.0.1:8080/hello

use std::time::Duration;

use hsys::{QueuedRequest, Reply, RequestQueue, Server, Target, UrlGroups};

async fn answer(req: QueuedRequest) {
    tokio::time::sleep(Duration::from_millis(1)).await;
    let body = format!("{} {} answered by a tokio task\n", req.method(), req.path());
    // `false`: the client left meanwhile; there is no one to tell.
    let _ = req.respond(Reply::new(200).header("Content-Type", "text/plain").body(body.into_bytes()));
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 8080,
    };
    let queue = RequestQueue::default();
    let mut groups = UrlGroups::new();
    let group = groups.create_group(Target::Queue(queue.clone()));
    groups.add_url(group, &format!("http://127.0.0.1:{port}/"))?;
    // The I/O threads are hsys's own; tokio only runs the application's tasks.
    let server = Server::builder().serve_groups(groups)?;
    println!("serving on {:?}; Ctrl-C to stop", server.local_addrs());
    while let Some(req) = queue.receive_async().await {
        tokio::spawn(answer(req));
    }
    Ok(())
}
