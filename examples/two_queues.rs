//! Two request queues on one port, each served by its own thread pool:
//! `http://+:8080/api/` (strong wildcard) and `http://*:8080/` (weak wildcard, everything else).
//!
//!     cargo run --example two_queues
//!     curl http://localhost:8080/api/x; curl http://localhost:8080/other

use hsys::{Reply, RequestQueue, Server, Target, UrlGroups};

fn pool(name: &'static str, queue: &RequestQueue, threads: usize) {
    for _ in 0..threads {
        let q = queue.clone();
        std::thread::spawn(move || {
            while let Some(req) = q.receive() {
                let body = format!("{name} served {} {}\n", req.method(), req.path());
                req.respond(Reply::new(200).header("Content-Type", "text/plain").body(body.into_bytes()));
            }
        });
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (api, site) = (RequestQueue::default(), RequestQueue::default());
    let mut groups = UrlGroups::new();
    let g_api = groups.create_group(Target::Queue(api.clone()));
    groups.add_url(g_api, "http://+:8080/api/")?;
    let g_site = groups.create_group(Target::Queue(site.clone()));
    groups.add_url(g_site, "http://*:8080/")?;
    let server = Server::builder().serve_groups(groups)?;
    pool("api", &api, 4);
    pool("site", &site, 2);
    println!("serving on {:?}; Ctrl-C to stop", server.local_addrs());
    loop {
        std::thread::park();
    }
}
