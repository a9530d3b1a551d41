//! An I/O thread that unwinds (a fault injected outside every containment, standing in for a
//! defect in hsys) lets go of everything it holds, over real sockets: its queued requests see the
//! disconnect, a body being read ends instead of hanging, its group and connection places are
//! given back, its listener is closed, and the server reports the death.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::{ErrorKind, Limits, RequestQueue, Server, Target, UrlGroups};

const STEP: Duration = Duration::from_secs(10);

fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + STEP;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {STEP:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn an_unwinding_io_thread_lets_go_of_everything_it_holds() {
    let queue = RequestQueue::new(8);
    let mut groups = UrlGroups::new();
    let group = groups.create_group(Target::Queue(queue.clone()));
    groups.set_max_connections(group, Some(10)).unwrap();
    let mut server = Server::builder()
        .threads(1)
        .bind("127.0.0.1:0")
        .limits(Limits::default().max_connections(Some(4)))
        .serve_groups(groups)
        .expect("start");
    let addr = server.local_addrs()[0];
    server.add_url(group, &format!("http://127.0.0.1:{}/", addr.port())).unwrap();

    // A request whose body is being read (3 of its 10 bytes sent), by another thread.
    let mut a = TcpStream::connect(addr).unwrap();
    a.write_all(b"POST /body HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc").unwrap();
    let mut with_body = queue.receive().expect("the body request");
    let reader = std::thread::spawn(move || with_body.read_body_to_end(1024));
    // A request waiting for its answer.
    let mut b = TcpStream::connect(addr).unwrap();
    b.write_all(b"GET /wait HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let waiting = queue.receive().expect("the waiting request");
    eventually("both connections counted", || {
        server.group_stats(group).unwrap().current_connections == 2 && server.shared.open.load(Ordering::Acquire) == 2
    });
    assert!(!waiting.is_disconnected());

    server.shared.fault.store(true, Ordering::Release);
    server.shared.wake_all();

    let err = server.wait(STEP).expect_err("the thread's death is reported");
    assert_eq!(err.kind(), ErrorKind::IoThread);
    assert_eq!(server.stats().io_threads_died, 1);
    assert_eq!(server.stats().current_connections, 0);
    // Everything it held is let go of: the queued request sees the disconnect, the body reader
    // an error (not a hang), the group and the connection places are given back.
    assert!(waiting.is_disconnected());
    let read = reader.join().unwrap();
    assert!(read.is_err(), "the body read ended with {read:?}");
    assert_eq!(server.group_stats(group).unwrap().current_connections, 0);
    assert_eq!(server.shared.open.load(Ordering::Acquire), 0);
    // Its connections are closed and its listener with them: nothing is accepted any more.
    let mut buf = [0u8; 64];
    assert!(matches!(b.read(&mut buf), Ok(0) | Err(_)), "the connection stays open");
    let refused = TcpStream::connect_timeout(&addr, Duration::from_secs(2));
    assert!(refused.is_err(), "the dead thread's listener still accepts");
}

/// The policies of this process's threads named `hsys-io-*`.
fn io_thread_policies() -> Vec<i32> {
    let mut policies = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let Ok(tid) = task.file_name().to_string_lossy().parse::<i32>() else { continue };
        if comm.starts_with("hsys-io-") {
            // SAFETY: sched_getscheduler only reads the policy of thread `tid`.
            policies.push(unsafe { libc::sched_getscheduler(tid) });
        }
    }
    policies
}

#[test]
fn io_threads_run_under_sched_batch_unless_told_not_to() {
    for (batch, policy) in [(true, libc::SCHED_BATCH), (false, libc::SCHED_OTHER)] {
        let server = Server::builder()
            .threads(2)
            .bind("127.0.0.1:0")
            .batch_scheduling(batch)
            .serve(|_: &crate::Request<'_>, res: &mut crate::Response<'_>| {
                let _ = res.body(b"ok");
            })
            .expect("start");
        // Other tests' servers may run beside this one: this server's threads are among them,
        // and each of its two has the policy asked for (one of them is enough to tell apart).
        let policies = io_thread_policies();
        assert!(policies.contains(&policy), "batch {batch}: policies {policies:?}");
        drop(server);
    }
}
