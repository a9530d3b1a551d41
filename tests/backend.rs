//! Both I/O backends, chosen explicitly (whatever `HSYS_BACKEND` says), over real sockets: the
//! paths where they differ — bytes spread over many receive buffers, output that waits for a
//! slow reader, an error answer's linger, a close with a receive in the ring.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use hsys::{Backend, ErrorKind, Request, Response, Server};
use support::{Client, STEP, get};

fn start(backend: Backend) -> Result<(Server, SocketAddr), hsys::Error> {
    let server = Server::builder().threads(2).backend(backend).bind("127.0.0.1:0").serve(
        |req: &Request<'_>, res: &mut Response<'_>| match req.path() {
            "/big" => {
                let _ = res.body(&vec![b'z'; 4 << 20]);
            }
            "/sum" => {
                let sum: u64 = req.body().iter().map(|&b| u64::from(b)).sum();
                let _ = res.body(format!("{} {sum}", req.body().len()).as_bytes());
            }
            p => {
                let _ = res.body(p.as_bytes());
            }
        },
    )?;
    let addr = server.local_addrs()[0];
    Ok((server, addr))
}

/// The kernel lets this process make a ring (no `io_uring_disabled`, no seccomp filter).
fn ring_refused(e: &hsys::Error) -> bool {
    e.kind() == ErrorKind::Setup
        && std::error::Error::source(e)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .and_then(std::io::Error::raw_os_error)
            .is_some_and(|code| matches!(code, libc::ENOSYS | libc::EPERM | libc::EACCES | libc::EINVAL))
}

fn exercise(addr: SocketAddr) {
    // 64 pipelined requests in one write, answered in order.
    let mut c = Client::connect(addr);
    let all: Vec<u8> = (0..64).flat_map(|i| get(&format!("/p{i}"))).collect();
    c.send(&all);
    for i in 0..64 {
        assert_eq!(c.read(false).body, format!("/p{i}").as_bytes());
    }
    // A 300 KB body in one write: far more than one receive buffer.
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
    let mut req = format!("POST /sum HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    req.extend_from_slice(&body);
    req.extend_from_slice(&get("/after"));
    c.send(&req);
    assert_eq!(c.read(false).body, format!("300000 {sum}").as_bytes());
    assert_eq!(c.read(false).body, b"/after");

    // A 4 MiB answer to a client that reads nothing for a while: the output waits for room,
    // then all of it arrives, and the connection serves the next request.
    let mut slow = Client::connect(addr);
    slow.send(&get("/big"));
    std::thread::sleep(Duration::from_millis(300));
    let r = slow.read(false);
    assert_eq!(r.body.len(), 4 << 20);
    assert!(r.body.iter().all(|&b| b == b'z'));
    assert_eq!(slow.exchange(&get("/next")).body, b"/next");

    // A malformed request: 400, then the close (after the linger), not a reset.
    let mut bad = Client::connect(addr);
    bad.send(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n");
    assert_eq!(bad.read(false).status, 400);
    assert!(bad.closed());

    // `Connection: close` on a connection with a receive in the ring: the socket really closes.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(STEP)).unwrap();
    s.write_all(b"GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    assert!(all.ends_with(b"/bye"), "{}", String::from_utf8_lossy(&all));
}

fn wait_for_no_connections(server: &Server) {
    let deadline = Instant::now() + STEP;
    while server.stats().current_connections > 0 {
        assert!(Instant::now() < deadline, "connections still open: {:?}", server.stats());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn epoll_serves_every_path() {
    let (server, addr) = start(Backend::Epoll).expect("serve");
    assert_eq!(server.backend(), Backend::Epoll);
    exercise(addr);
    wait_for_no_connections(&server);
}

#[test]
fn io_uring_serves_every_path_where_the_kernel_allows_it() {
    match start(Backend::IoUring) {
        Ok((server, addr)) => {
            assert_eq!(server.backend(), Backend::IoUring);
            exercise(addr);
            wait_for_no_connections(&server);
        }
        Err(e) => {
            // Only a kernel that refuses rings (or a build without the feature) may say no, and
            // then `Auto` serves with epoll.
            assert!(ring_refused(&e) || !cfg!(feature = "io-uring"), "io_uring refused: {e}");
            let (server, addr) = start(Backend::Auto).expect("auto falls back");
            assert_eq!(server.backend(), Backend::Epoll);
            exercise(addr);
        }
    }
}

#[test]
fn auto_picks_io_uring_where_it_can() {
    let (server, _) = start(Backend::Auto).expect("serve");
    let uring = start(Backend::IoUring).is_ok();
    assert_eq!(server.backend(), if uring { Backend::IoUring } else { Backend::Epoll });
}

/// A queued request with 64 KiB and more of requests pipelined behind it (past the answers one
/// connection may owe, so its input is held back: with io_uring its receive is cancelled) learns
/// promptly that its client closed (a FIN, or with `reset` a RST).
fn a_paused_connection_sees_its_client_leave(backend: Backend, reset: bool) {
    let queue = hsys::RequestQueue::new(100);
    let mut groups = hsys::UrlGroups::new();
    let g = groups.create_group(hsys::Target::Queue(queue.clone()));
    let port = support::free_port();
    groups.add_url(g, &format!("http://+:{port}/")).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = match Server::builder().threads(1).backend(backend).bind(addr).serve_groups(groups) {
        Ok(server) => server,
        Err(e) => {
            assert!(backend == Backend::IoUring && (ring_refused(&e) || !cfg!(feature = "io-uring")), "{e}");
            return;
        }
    };
    assert_eq!(server.backend(), backend);
    let mut s = TcpStream::connect(addr).unwrap();
    let mut all = get("/first");
    while all.len() < 160 * 1024 {
        all.extend_from_slice(&get("/behind"));
    }
    s.write_all(&all).unwrap();
    let deadline = Instant::now() + STEP;
    let first = loop {
        if let Some(r) = queue.try_receive() {
            break r;
        }
        assert!(Instant::now() < deadline, "nothing queued");
        std::thread::sleep(Duration::from_millis(2));
    };
    assert_eq!(first.path(), "/first");
    // Give the server time to take in what it will and hold back the rest.
    std::thread::sleep(Duration::from_millis(200));
    assert!(!first.is_disconnected());
    if reset {
        // SO_LINGER with a zero timeout: the close sends a RST.
        let linger = libc::linger { l_onoff: 1, l_linger: 0 };
        // SAFETY: a valid socket and a pointer to a `linger` of the size given.
        let set = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&s),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&raw const linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(set, 0);
    }
    drop(s);
    let closed = Instant::now();
    while !first.is_disconnected() {
        assert!(closed.elapsed() < Duration::from_secs(2), "the client's close not seen ({backend:?}, reset: {reset})");
        std::thread::sleep(Duration::from_millis(5));
    }
    wait_for_no_connections(&server);
}

#[test]
fn epoll_a_paused_connection_sees_its_client_leave() {
    a_paused_connection_sees_its_client_leave(Backend::Epoll, false);
    a_paused_connection_sees_its_client_leave(Backend::Epoll, true);
}

#[test]
fn io_uring_a_paused_connection_sees_its_client_leave() {
    a_paused_connection_sees_its_client_leave(Backend::IoUring, false);
    a_paused_connection_sees_its_client_leave(Backend::IoUring, true);
}
