//! Listening sockets: one per I/O thread and address, joined by `SO_REUSEPORT` so the kernel
//! spreads new connections across threads.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

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
/// A listener that is only dying does not count, for up to [`ORPHAN_WAIT`]: when every socket
/// listening on the port is an orphan — open in no process (see [`only_orphans_listen`]) — the
/// probe is repeated until they are gone. That is what a process killed while it accepted
/// through io_uring leaves (`kill -9`, a crash): the ring's multishot accept holds a reference
/// to the listener, and the kernel drops it only when it tears the ring down, asynchronously,
/// some milliseconds (under load, a few hundred) after the process is gone. Meanwhile the
/// listener still takes connections that nobody will accept, so binding next to it (our
/// `SO_REUSEPORT` would let us) would lose some; waiting until it is gone loses none. A live
/// server's listener is reported at once; one the wait cannot classify, after it.
///
/// The probe is a socket with `SO_REUSEADDR` but not `SO_REUSEPORT` (and `IPV6_V6ONLY` as in
/// [`bind`]), bound and dropped: the kernel refuses it next to any listening socket on the
/// address, while connections left in `TIME_WAIT` by an earlier server (whose sockets had
/// `SO_REUSEADDR` too) do not block it. Other failures are those `bind` would meet
/// (`EADDRNOTAVAIL` for an address this host does not have).
pub fn check_free(addr: SocketAddr) -> io::Result<()> {
    let first = probe(addr);
    match &first {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse && only_orphans_listen(addr.port()) => {}
        _ => return first,
    }
    // An orphan never becomes live again (no process can get its descriptor back), so once
    // classified the probe alone is repeated.
    tracing::debug!(%addr, "waiting for an orphaned listener (a dead process's ring) to go");
    let deadline = Instant::now() + ORPHAN_WAIT;
    loop {
        std::thread::sleep(Duration::from_millis(5));
        let again = probe(addr);
        match &again {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < deadline => {}
            _ => return again,
        }
    }
}

/// How long [`check_free`] waits for orphaned listeners to go (the kernel usually tears a dead
/// process's ring down within tens of milliseconds; 100 to 200 were seen under load).
pub const ORPHAN_WAIT: Duration = Duration::from_secs(1);

/// Binds the probe socket of [`check_free`] once, and drops it.
fn probe(addr: SocketAddr) -> io::Result<()> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM.cloexec(), Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())
}

/// Whether every socket listening on `port` (on any address, IPv4 or IPv6) is an orphan: owned
/// by this user and open in no process, so kept alive only by the kernel (a dead process's
/// io_uring, until it is torn down). The listeners' inodes come from the kernel
/// ([`listeners_on`]), the descriptors from every `/proc/<pid>/fd` this process can read;
/// `false` whenever that cannot be known (no `sock_diag`, no `/proc`, another user's listener),
/// so a doubt never delays a start. A cold path: it runs only when the port is taken.
fn only_orphans_listen(port: u16) -> bool {
    // SAFETY: geteuid only reads this process's credentials; it cannot fail.
    let uid = unsafe { libc::geteuid() };
    let Some(listeners) = listeners_on(port) else { return false };
    if listeners.iter().any(|&(owner, inode)| (owner != uid && uid != 0) || inode == 0) {
        return false;
    }
    let sockets: Vec<String> = listeners.iter().map(|(_, inode)| format!("socket:[{inode}]")).collect();
    let Ok(processes) = std::fs::read_dir("/proc") else { return false };
    for process in processes.flatten() {
        if !process.file_name().as_encoded_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        // Gone meanwhile, or another user's (whose listeners were refused above).
        let Ok(fds) = std::fs::read_dir(process.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && sockets.iter().any(|s| target.as_os_str() == s.as_str())
            {
                return false;
            }
        }
    }
    true
}

/// The owner's uid and the inode of every TCP socket listening on `port`, IPv4 and IPv6, asked
/// of the kernel's socket diagnostics (netlink `sock_diag`, `SOCK_DIAG_BY_FAMILY`, which dumps
/// only listeners when asked for that state: fast on a host with many connections, where reading
/// `/proc/net/tcp` took 700 ms at 70,000 sockets). `None` if it cannot be asked.
fn listeners_on(port: u16) -> Option<Vec<(u32, u64)>> {
    use std::io::Read;
    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    const NLMSG_ERROR: u16 = 2;
    const NLMSG_DONE: u16 = 3;
    const NLM_F_REQUEST_DUMP: u16 = 0x1 | 0x300;
    const TCP_LISTEN: u32 = 10;
    /// `nlmsghdr`, then `inet_diag_req_v2` (family, protocol, extensions, pad, states, and a
    /// 48-byte `inet_diag_sockid` left zero: any).
    const REQUEST_LEN: usize = 16 + 56;
    /// `inet_diag_msg`: family, state, timer, retransmits, the socket id (source port first, big
    /// endian), expires, queues, then the uid at 64 and the inode at 68.
    const MSG_LEN: usize = 72;
    let mut found = Vec::new();
    for family in [libc::AF_INET, libc::AF_INET6] {
        let diag = Socket::new(
            Domain::from(libc::AF_NETLINK),
            Type::DGRAM.cloexec(),
            Some(Protocol::from(libc::NETLINK_SOCK_DIAG)),
        )
        .ok()?;
        let mut request = Vec::with_capacity(REQUEST_LEN);
        request.extend_from_slice(&(REQUEST_LEN as u32).to_ne_bytes());
        request.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        request.extend_from_slice(&NLM_F_REQUEST_DUMP.to_ne_bytes());
        request.extend_from_slice(&[0; 8]); // sequence number, port id (the kernel's)
        request.extend_from_slice(&[family as u8, libc::IPPROTO_TCP as u8, 0, 0]);
        request.extend_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
        request.resize(REQUEST_LEN, 0);
        diag.send(&request).ok()?;
        let mut buf = vec![0u8; 32 * 1024];
        'dump: loop {
            let n = (&diag).read(&mut buf).ok()?;
            let mut at = 0;
            while let Some(header) = buf.get(at..(at + 16).min(n)).filter(|h| h.len() == 16) {
                let len = u32::from_ne_bytes(header[0..4].try_into().ok()?) as usize;
                let kind = u16::from_ne_bytes(header[4..6].try_into().ok()?);
                let body = buf.get(at + 16..at.checked_add(len).filter(|&end| end <= n && len >= 16)?)?;
                match kind {
                    NLMSG_DONE => break 'dump,
                    // No IPv6 on this host: no IPv6 listeners.
                    NLMSG_ERROR if family == libc::AF_INET6 => break 'dump,
                    NLMSG_ERROR => return None,
                    SOCK_DIAG_BY_FAMILY if body.len() >= MSG_LEN && u16::from_be_bytes([body[4], body[5]]) == port => {
                        let uid = u32::from_ne_bytes(body[64..68].try_into().ok()?);
                        let inode = u32::from_ne_bytes(body[68..72].try_into().ok()?);
                        found.push((uid, u64::from(inode)));
                    }
                    _ => {}
                }
                at += len.next_multiple_of(4);
            }
            if n == 0 {
                return None;
            }
        }
    }
    Some(found)
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

    /// A listener whose descriptor is closed while a ring's multishot accept holds it: what a
    /// process killed while accepting through io_uring leaves until the kernel tears its ring
    /// down. The probe sees it as an orphan and waits for it; a live listener is refused at once.
    #[cfg(feature = "io-uring")]
    #[test]
    fn check_free_waits_for_a_listener_only_a_ring_holds() {
        use std::os::fd::AsRawFd;
        let Ok(mut ring) = io_uring::IoUring::new(8) else {
            return; // no io_uring on this kernel: nothing can orphan a listener this way
        };
        let held = bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let addr = held.local_addr().unwrap();
        assert_eq!(listeners_on(addr.port()).map(|l| l.len()), Some(1));
        assert!(!only_orphans_listen(addr.port()), "a listener this process has open is live");
        let started = Instant::now();
        assert_eq!(check_free(addr).unwrap_err().kind(), io::ErrorKind::AddrInUse);
        assert!(started.elapsed() < ORPHAN_WAIT / 2, "a live listener is reported at once");

        let accept = io_uring::opcode::AcceptMulti::new(io_uring::types::Fd(held.as_raw_fd())).build().user_data(1);
        // SAFETY: an accept points at no memory of ours.
        unsafe { ring.submission().push(&accept).unwrap() };
        ring.submit().unwrap();
        drop(held); // the ring's accept keeps the listener
        assert_eq!(probe(addr).unwrap_err().kind(), io::ErrorKind::AddrInUse);
        assert!(only_orphans_listen(addr.port()));

        let started = Instant::now();
        let teardown = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(ring);
        });
        check_free(addr).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(100));
        teardown.join().unwrap();
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
