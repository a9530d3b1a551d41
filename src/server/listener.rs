//! Listening sockets: one per I/O thread and address, joined by `SO_REUSEPORT` so the kernel
//! spreads new connections across threads.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Opens a non-blocking listener on `addr` with `SO_REUSEADDR`, `SO_REUSEPORT` and the backlog.
/// IPv6 listeners are `IPV6_V6ONLY`, so `[::]` and `0.0.0.0` on one port coexist. `TCP_NODELAY`
/// is set here once: Linux copies it to every accepted socket, which saves a `setsockopt` per
/// connection (Nagle would hold back the small answers of a keep-alive exchange).
pub fn bind(addr: SocketAddr, backlog: i32) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// Fails with `AddrInUse` if a listener already holds `addr` (a nonzero port), even one that
/// set `SO_REUSEPORT` and so would let [`bind`] share the port with it (another hsys, say).
///
/// The probe is a socket with `SO_REUSEADDR` but not `SO_REUSEPORT` (and `IPV6_V6ONLY` as in
/// [`bind`]), bound and dropped: the kernel refuses it next to any listening socket on the
/// address, while connections left in `TIME_WAIT` by an earlier server (whose sockets had
/// `SO_REUSEADDR` too) do not block it. Other failures are those `bind` would meet
/// (`EADDRNOTAVAIL` for an address this host does not have).
pub fn check_free(addr: SocketAddr) -> io::Result<()> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM.cloexec(), Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())
}

/// Whether an accept error concerns only the one connection (try the next).
pub fn is_transient(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset)
        || matches!(e.raw_os_error(), Some(libc::EPROTO | libc::EPERM))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_free_sees_a_reuseport_listener_but_not_time_wait() {
        let held = bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let addr = held.local_addr().unwrap();
        // `bind` itself would share the port...
        drop(bind(addr, 16).unwrap());
        // ...the probe does not.
        assert_eq!(check_free(addr).unwrap_err().kind(), io::ErrorKind::AddrInUse);
        // A connection the server side closes first leaves that side in TIME_WAIT.
        let client = std::net::TcpStream::connect(addr).unwrap();
        held.set_nonblocking(false).unwrap();
        let (accepted, _) = held.accept().unwrap();
        drop(accepted);
        let mut b = [0u8; 1];
        assert_eq!(std::io::Read::read(&mut &client, &mut b).unwrap(), 0);
        drop(client);
        drop(held);
        check_free(addr).unwrap();
        drop(bind(addr, 16).unwrap());
    }

    #[test]
    fn accepted_sockets_inherit_nodelay() {
        let l = bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let _client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        l.set_nonblocking(false).unwrap();
        let (accepted, _) = l.accept().unwrap();
        assert!(accepted.nodelay().unwrap());
    }
}
