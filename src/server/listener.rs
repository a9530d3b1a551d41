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
/// io_uring, until it is torn down). From `/proc/net/tcp{,6}` (the listeners' inodes) and every
/// `/proc/<pid>/fd` this process can read; `false` whenever that cannot be known (no `/proc`,
/// another user's listener, a socket without an inode), so a doubt never delays a start. A cold
/// path: it runs only when the port is taken.
fn only_orphans_listen(port: u16) -> bool {
    // SAFETY: geteuid only reads this process's credentials; it cannot fail.
    let uid = unsafe { libc::geteuid() };
    let mut sockets = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { return false };
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let on_port = f.get(1).and_then(|a| a.rsplit_once(':')).and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            if f.len() < 10 || f[3] != "0A" || on_port != Some(port) {
                continue; // not a listener on the port
            }
            match (f[7].parse::<u32>(), f[9].parse::<u64>()) {
                (Ok(owner), Ok(inode)) if (owner == uid || uid == 0) && inode != 0 => {
                    sockets.push(format!("socket:[{inode}]"));
                }
                _ => return false,
            }
        }
    }
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
