//! Listeners inherited rather than bound (socket activation): matched to the addresses a server
//! would bind, by port, and shared by every I/O thread.
//!
//! A bound address gets one listener per I/O thread, joined by `SO_REUSEPORT`; an inherited
//! listener is one socket, so each thread gets a duplicate of it (`dup`): the threads accept
//! from its one queue. epoll wakes each of them (a connection goes to whichever accepts first;
//! the others meet `WouldBlock`), io_uring arms a multishot accept on each duplicate.

use std::collections::BTreeSet;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use super::{Bound, Listen, bind_listeners};
use crate::error::Error;

/// Listens on `addrs` and the `inherited` listeners, `threads` times: on each port an inherited
/// listener is on, the inherited listeners are its listeners (nothing is bound there); every
/// other address is bound as [`bind_listeners`] does. The inherited listeners come after the
/// bound ones, in the order given, on every thread. An inherited listener speaks TLS if an
/// address on its port was to ([`ServerBuilder::bind_tls`](super::ServerBuilder::bind_tls)).
/// Several inherited listeners may be on one address (the `SO_REUSEPORT` listeners of a process
/// handing over, one per thread of its): every thread accepts from every one of them, whatever
/// the thread counts, and the address is listed once. Also returns one duplicate of each
/// inherited listener (for [`Server::listeners`](super::Server::listeners)).
pub(super) fn listen(
    addrs: &[Listen],
    inherited: &[Arc<TcpListener>],
    threads: usize,
    backlog: i32,
) -> Result<(Bound, Vec<TcpListener>), Error> {
    if inherited.is_empty() {
        return bind_listeners(addrs, threads, backlog).map(|b| (b, Vec::new()));
    }
    let mut adopted = Vec::with_capacity(inherited.len());
    for l in inherited {
        let socket = l.try_clone().map(socket2::Socket::from).map_err(Error::setup)?;
        let l = crate::systemd::adopt(socket).map_err(|e| Error::setup(format!("an inherited listener: {e}")))?;
        let addr = l.local_addr().map_err(Error::setup)?;
        adopted.push((addr, l));
    }
    let ports = covered_ports(addrs.iter().map(|l| l.addr), adopted.iter().map(|(a, _)| *a))?;
    let rest: Vec<Listen> = addrs.iter().filter(|l| !ports.contains(&l.addr.port())).copied().collect();
    let (mut local_addrs, mut per_thread, mut tls) = bind_listeners(&rest, threads, backlog)?;
    let mut kept = Vec::with_capacity(adopted.len());
    for (addr, l) in adopted {
        let speaks_tls = addrs.iter().any(|w| w.tls && w.addr.port() == addr.port());
        for slot in &mut per_thread {
            slot.push(l.try_clone().map_err(|e| Error::listen(addr, e))?);
        }
        if !local_addrs.contains(&addr) {
            local_addrs.push(addr);
        }
        tls.push(speaks_tls);
        kept.push(l);
    }
    Ok(((local_addrs, per_thread, tls), kept))
}

/// The ports the `inherited` listeners (their local addresses) take over from the addresses the
/// server would bind, `wanted`.
///
/// # Errors
/// An inherited listener on a port no wanted address is on (unless nothing is wanted: then the
/// server listens on exactly the inherited listeners).
fn covered_ports(
    wanted: impl Iterator<Item = SocketAddr> + Clone,
    inherited: impl Iterator<Item = SocketAddr>,
) -> Result<BTreeSet<u16>, Error> {
    let mut ports = BTreeSet::new();
    let any_wanted = wanted.clone().next().is_some();
    for addr in inherited {
        if any_wanted && !wanted.clone().any(|w| w.port() == addr.port()) {
            let e = io::Error::new(
                io::ErrorKind::InvalidInput,
                "an inherited listener on a port where the server has no address",
            );
            return Err(Error::listen(addr, e));
        }
        ports.insert(addr.port());
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use super::*;
    use crate::{Backend, ErrorKind, Request, Response, Server};

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn inherited_listeners_take_over_their_ports() {
        let wanted = [addr("0.0.0.0:80"), addr("[::]:80"), addr("127.0.0.1:443")];
        // A specific address covers its port too: the socket unit chose the interfaces.
        let ports = covered_ports(wanted.iter().copied(), [addr("127.0.0.1:80")].into_iter()).unwrap();
        assert_eq!(ports.into_iter().collect::<Vec<_>>(), vec![80]);
        let ports = covered_ports(wanted.iter().copied(), [addr("[::]:443"), addr("0.0.0.0:80")].into_iter()).unwrap();
        assert_eq!(ports.into_iter().collect::<Vec<_>>(), vec![80, 443]);
        let e = covered_ports(wanted.iter().copied(), [addr("0.0.0.0:8080")].into_iter()).unwrap_err();
        assert_eq!((e.kind(), e.addr()), (ErrorKind::Listen, Some(addr("0.0.0.0:8080"))));
        // Nothing wanted: every inherited listener is the server's.
        assert_eq!(covered_ports([].into_iter(), [addr("0.0.0.0:8080")].into_iter()).unwrap().len(), 1);
    }

    fn get(addr: SocketAddr) -> String {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        c.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap();
        let mut got = String::new();
        c.read_to_string(&mut got).unwrap();
        got
    }

    /// One inherited socket, shared by two I/O threads on each backend: a connection queued before
    /// the server started is served, then many more, and the port is not bound a second time
    /// (`bind` on it would fail the start: the inherited socket holds it, without `SO_REUSEPORT`).
    #[test]
    fn an_inherited_listener_is_shared_by_every_thread_on_both_backends() {
        for backend in [Backend::Epoll, Backend::IoUring] {
            if backend == Backend::IoUring && !cfg!(feature = "io-uring") {
                continue;
            }
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let at = l.local_addr().unwrap();
            let early = std::thread::spawn(move || get(at));
            let server = Server::builder().threads(2).backend(backend).bind(at).inherit_listeners([l]).serve(
                |_: &Request<'_>, res: &mut Response<'_>| {
                    let _ = res.body(b"inherited");
                },
            );
            let server = match server {
                Err(e) if backend == Backend::IoUring && e.kind() == ErrorKind::Setup => continue, // no io_uring here
                s => s.unwrap(),
            };
            assert_eq!((server.local_addrs(), server.backend()), (vec![at], backend));
            assert!(early.join().unwrap().ends_with("\r\n\r\ninherited"), "{backend}");
            for _ in 0..50 {
                assert!(get(at).ends_with("\r\n\r\ninherited"), "{backend}");
            }
            drop(server);
            // Stopped: every duplicate is closed; ours was the only other copy.
            assert!(TcpStream::connect(at).is_err(), "{backend}");
        }
    }

    /// A restart's handover: server A's listeners (one `SO_REUSEPORT` socket per thread) go to
    /// server B, which has another thread count. Connections that arrive while nobody accepts
    /// (A stopped, B not started) wait in whichever socket's queue the kernel hashed them to,
    /// and B serves every one: it accepts from all the sockets, not one per thread.
    #[test]
    fn a_server_takes_over_every_listener_of_another_with_their_queues() {
        for backend in [Backend::Epoll, Backend::IoUring] {
            if backend == Backend::IoUring && !cfg!(feature = "io-uring") {
                continue;
            }
            let answer = |body: &'static [u8]| {
                move |_: &Request<'_>, res: &mut Response<'_>| {
                    let _ = res.body(body);
                }
            };
            let a = Server::builder().threads(3).backend(backend).bind("127.0.0.1:0").serve(answer(b"a"));
            let mut a = match a {
                Err(e) if backend == Backend::IoUring && e.kind() == ErrorKind::Setup => continue, // no io_uring here
                s => s.unwrap(),
            };
            let at = a.local_addrs()[0];
            assert!(get(at).ends_with("\r\n\r\na"));
            let sockets = a.listeners().unwrap();
            assert_eq!(sockets.len(), 3, "{backend}: one per thread");
            a.shutdown();
            assert!(a.wait(std::time::Duration::from_secs(5)).unwrap());
            assert!(a.listeners().unwrap().is_empty());
            // Nobody accepts now: these wait in the queues the kernel spreads them over.
            let waiting: Vec<_> = (0..24).map(|_| std::thread::spawn(move || get(at))).collect();
            std::thread::sleep(std::time::Duration::from_millis(100));
            let b = Server::builder().threads(2).backend(backend).bind(at).inherit_listeners(sockets);
            let b = b.serve(answer(b"b")).unwrap();
            assert_eq!(b.local_addrs(), vec![at], "{backend}: the address once");
            assert_eq!(b.listeners().unwrap().len(), 3, "{backend}: each inherited socket once");
            for w in waiting {
                assert!(w.join().unwrap().ends_with("\r\n\r\nb"), "{backend}");
            }
            for _ in 0..50 {
                assert!(get(at).ends_with("\r\n\r\nb"), "{backend}");
            }
        }
    }

    #[test]
    fn an_inherited_listener_on_a_port_without_an_address_is_refused() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let e = Server::builder()
            .bind("127.0.0.1:0")
            .inherit_listeners([l])
            .serve(|_: &Request<'_>, _: &mut Response<'_>| {})
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Listen);
        // A socket that does not listen is refused as such.
        let bound = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let not_tcp = TcpListener::from(std::os::fd::OwnedFd::from(bound));
        let e = Server::builder()
            .inherit_listeners([not_tcp])
            .serve(|_: &Request<'_>, _: &mut Response<'_>| {})
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Setup);
    }
}
