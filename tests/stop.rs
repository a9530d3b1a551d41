//! A graceful stop under load loses nothing: every request a client wrote whole is answered, or
//! its connection was closed (cleanly, after an answer with `Connection: close`) before it was sent.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use hsys::{Reply, Request, RequestQueue, Response, Server, Target, UrlGroups};
use support::{Tally, requests_across_a_stop};

/// Keep-alive connections looping requests while the server stops.
const CLIENTS: usize = 32;

fn inline() -> (Server, SocketAddr) {
    let server = Server::builder()
        .threads(2)
        .bind("127.0.0.1:0")
        .serve(|_: &Request<'_>, res: &mut Response<'_>| {
            let _ = res.body(b"ok");
        })
        .expect("serve");
    let addr = server.local_addrs()[0];
    (server, addr)
}

fn queued() -> (Server, SocketAddr, Vec<std::thread::JoinHandle<()>>) {
    let queue = RequestQueue::new(1000);
    let port = support::free_port();
    let mut groups = UrlGroups::new();
    let g = groups.create_group(Target::Queue(queue.clone()));
    groups.add_url(g, &format!("http://+:{port}/")).expect("add_url");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let server = Server::builder().threads(2).bind(addr).serve_groups(groups).expect("serve_groups");
    let app = (0..2)
        .map(|_| {
            let queue = queue.clone();
            std::thread::spawn(move || {
                while let Some(req) = queue.receive() {
                    req.respond(Reply::new(200).body(b"ok".to_vec()));
                }
            })
        })
        .collect();
    (server, addr, app)
}

/// Every connection's loop ended on an answer with `Connection: close`, nothing lost.
fn check(t: Tally, what: &str) {
    assert_eq!(t.lost, 0, "{what}: {t:?}");
    assert_eq!(t.sent, t.answered, "{what}: {t:?}");
    assert_eq!(t.closed_by_answer, CLIENTS as u64, "{what}: {t:?}");
    eprintln!("{what}: {t:?}");
}

#[test]
fn a_stop_under_load_answers_every_request_sent_inline() {
    for run in 0..3 {
        let (mut server, addr) = inline();
        let t = requests_across_a_stop(addr, CLIENTS, || server.shutdown());
        assert!(server.wait(Duration::from_secs(5)).expect("wait"), "run {run}: the stop did not end");
        check(t, &format!("inline, run {run}"));
    }
}

#[test]
fn a_stop_under_load_answers_every_request_sent_queued() {
    for run in 0..3 {
        let (mut server, addr, app) = queued();
        let t = requests_across_a_stop(addr, CLIENTS, || server.shutdown());
        assert!(server.wait(Duration::from_secs(5)).expect("wait"), "run {run}: the stop did not end");
        for a in app {
            a.join().expect("application thread");
        }
        check(t, &format!("queued, run {run}"));
    }
}
