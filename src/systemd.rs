//! systemd integration, with no systemd library: socket activation (`LISTEN_FDS`) and the
//! `sd_notify` protocol (`READY=1`, `STOPPING=1`, `STATUS=`, `WATCHDOG=1`).
//!
//! The library sends nothing by itself: when a program is ready, stopping or alive is the
//! program's to say (it may do more than serve one [`Server`](crate::Server)). The `hsys` binary
//! says it as a service of `Type=notify` expects: `READY=1` once every I/O thread has started,
//! `STOPPING=1` when a stop begins, `WATCHDOG=1` every half `WATCHDOG_USEC`.
//!
//! ```no_run
//! use hsys::{Request, Response, Server, systemd};
//!
//! // The sockets of the socket unit (none when not socket-activated), taken once.
//! let inherited = systemd::listen_fds()?;
//! let server = Server::builder()
//!     .bind("0.0.0.0:8080") // bound only if the socket unit gave nothing on port 8080
//!     .inherit_listeners(inherited.into_iter().map(|fd| fd.listener))
//!     .serve(|_: &Request<'_>, res: &mut Response<'_>| {
//!         let _ = res.body(b"hello");
//!     })?;
//! if let Some(notifier) = systemd::Notifier::from_env()? {
//!     notifier.notify("READY=1\nSTATUS=serving")?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io;
use std::net::TcpListener;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{SocketAddr as UnixAddr, UnixDatagram};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use socket2::{Protocol, Socket, Type};

use crate::error::Error;

/// The first descriptor of socket activation (`SD_LISTEN_FDS_START`).
pub const LISTEN_FDS_START: RawFd = 3;

/// The most descriptors [`parse_listen_env`] accepts: a `LISTEN_FDS` past it is refused rather
/// than taking ownership of descriptors the process may use for something else.
pub const MAX_LISTEN_FDS: usize = 4096;

/// A listening socket handed over by the service manager.
#[derive(Debug)]
pub struct ListenFd {
    /// The socket: a listening TCP socket, non-blocking and close-on-exec.
    pub listener: TcpListener,
    /// Its name from `LISTEN_FDNAMES` (a socket unit's `FileDescriptorName=`, or the unit's
    /// name), `None` when the variable is absent or gives this one no name.
    pub name: Option<String>,
}

/// The descriptors and names the socket-activation variables describe, for the process `our_pid`
/// (a pure function of the variables' values: [`listen_fds`] reads them from the environment).
/// `Ok(vec![])` when `LISTEN_PID` or `LISTEN_FDS` is absent, or `LISTEN_PID` names another
/// process (the variables were inherited from a parent that was activated, not meant for us).
///
/// # Errors
/// `LISTEN_PID` or `LISTEN_FDS` is not a number, or `LISTEN_FDS` is over [`MAX_LISTEN_FDS`].
/// Names beyond the count are ignored; fewer names than descriptors leave the rest unnamed.
pub fn parse_listen_env(
    pid: Option<&str>,
    fds: Option<&str>,
    names: Option<&str>,
    our_pid: u32,
) -> Result<Vec<(RawFd, Option<String>)>, String> {
    let (Some(pid), Some(fds)) = (pid, fds) else { return Ok(Vec::new()) };
    let pid: u32 = pid.trim().parse().map_err(|_| format!("LISTEN_PID: not a process id: `{pid}`"))?;
    if pid != our_pid {
        return Ok(Vec::new());
    }
    let count: usize = fds.trim().parse().map_err(|_| format!("LISTEN_FDS: not a count: `{fds}`"))?;
    if count > MAX_LISTEN_FDS {
        return Err(format!("LISTEN_FDS: {count} descriptors, more than {MAX_LISTEN_FDS}"));
    }
    let mut names = names.map(|n| n.split(':')).into_iter().flatten();
    Ok((0..count)
        .map(|i| {
            let name = names.next().filter(|n| !n.is_empty()).map(str::to_owned);
            (LISTEN_FDS_START + i as RawFd, name)
        })
        .collect())
}

/// Set once [`listen_fds`] has taken the descriptors: they are this process's only once.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The listening sockets the service manager passed (`LISTEN_PID`, `LISTEN_FDS`,
/// `LISTEN_FDNAMES`, as `sd_listen_fds_with_names`), in descriptor order; empty when the process
/// was not socket-activated. Taken once: a second call returns none, and the three variables are
/// removed from the environment so that children do not see them. Each socket is made
/// non-blocking and close-on-exec (a child does not inherit it).
///
/// Call it early, before starting threads that read the environment through C (`getenv`).
///
/// # Errors
/// ([`ErrorKind::Setup`](crate::ErrorKind::Setup)) A variable is malformed (see
/// [`parse_listen_env`]), a descriptor is not open, or is not a listening TCP socket
/// (`SO_ACCEPTCONN`, an IPv4 or IPv6 local address): every descriptor is then closed.
pub fn listen_fds() -> Result<Vec<ListenFd>, Error> {
    if TAKEN.swap(true, Ordering::AcqRel) {
        return Ok(Vec::new());
    }
    let var = |name| std::env::var(name).ok();
    let parsed = parse_listen_env(
        var("LISTEN_PID").as_deref(),
        var("LISTEN_FDS").as_deref(),
        var("LISTEN_FDNAMES").as_deref(),
        std::process::id(),
    );
    if parsed.as_ref().is_ok_and(|fds| !fds.is_empty()) {
        for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
            // SAFETY: std's environment lock orders this against every `std::env` access. A C
            // `getenv` on another thread is not ordered, but `unsetenv` (glibc, musl) frees no
            // string of the initial environment, where these come from: it only moves pointers
            // in `environ`, so a racing reader misses a variable at worst. (Documented: call
            // this before starting threads; the `hsys` binary does it first thing.)
            unsafe { std::env::remove_var(name) };
        }
    }
    // Every open descriptor is owned (so closed on an error) before any is checked.
    let mut owned = Vec::new();
    let mut closed = None;
    for (fd, name) in parsed.map_err(Error::setup)? {
        // SAFETY: F_GETFD reads the flags of a descriptor number; an unopened one fails (EBADF).
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            closed.get_or_insert(fd);
            continue;
        }
        // SAFETY: the service manager passed descriptor `fd` to this process (LISTEN_PID is our
        // pid) and it is open; nothing else in this process owns it: the variables are taken
        // once (`TAKEN`), and removed.
        owned.push((fd, unsafe { OwnedFd::from_raw_fd(fd) }, name));
    }
    if let Some(fd) = closed {
        return Err(Error::setup(format!("LISTEN_FDS: descriptor {fd} is not open")));
    }
    let mut taken = Vec::new();
    for (fd, socket, name) in owned {
        let listener = adopt(Socket::from(socket)).map_err(|e| {
            Error::setup(format!("LISTEN_FDS: descriptor {fd} ({}): {e}", name.as_deref().unwrap_or("unnamed")))
        })?;
        taken.push(ListenFd { listener, name });
    }
    Ok(taken)
}

/// Checks that `socket` is a listening TCP socket on an IPv4 or IPv6 address and makes it
/// non-blocking and close-on-exec, with `TCP_NODELAY` (which accepted sockets inherit, as on
/// the listeners hsys binds).
pub(crate) fn adopt(socket: Socket) -> io::Result<TcpListener> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
    if socket.r#type()? != Type::STREAM || socket.protocol()?.is_some_and(|p| p != Protocol::TCP) {
        return Err(invalid("not a TCP socket"));
    }
    if socket.local_addr()?.as_socket().is_none() {
        return Err(invalid("not an IPv4 or IPv6 socket"));
    }
    if !socket.is_listener()? {
        return Err(invalid("not listening"));
    }
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    socket.set_tcp_nodelay(true)?;
    Ok(socket.into())
}

/// The service manager's notification socket (`NOTIFY_SOCKET`): `sd_notify` without libsystemd.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    addr: UnixAddr,
}

impl Notifier {
    /// The socket `NOTIFY_SOCKET` names, `None` when it is not set (not run by systemd, or not
    /// as `Type=notify`).
    ///
    /// # Errors
    /// The variable names no usable address, or a socket cannot be created.
    pub fn from_env() -> io::Result<Option<Notifier>> {
        match std::env::var_os("NOTIFY_SOCKET") {
            Some(path) if !path.is_empty() => Notifier::new(&path.to_string_lossy()).map(Some),
            _ => Ok(None),
        }
    }

    /// A notifier to the unix datagram socket at `path`, or the abstract name after a leading `@`.
    ///
    /// # Errors
    /// The path is too long, or a socket cannot be created.
    pub fn new(path: &str) -> io::Result<Notifier> {
        let addr = match path.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                UnixAddr::from_abstract_name(name.as_bytes())?
            }
            None => UnixAddr::from_pathname(path)?,
        };
        let socket = UnixDatagram::unbound()?;
        Ok(Notifier { socket, addr })
    }

    /// Sends `state`, newline-separated assignments (`READY=1\nSTATUS=serving`), in one datagram.
    ///
    /// # Errors
    /// The send failed (the manager is gone, say).
    pub fn notify(&self, state: &str) -> io::Result<()> {
        self.socket.send_to_addr(state.as_bytes(), &self.addr).map(drop)
    }
}

/// How often `WATCHDOG=1` is owed (`WATCHDOG_USEC`), from the variables' values (pure): `None`
/// when `WATCHDOG_USEC` is absent or zero, or `WATCHDOG_PID` is set and names another process.
///
/// # Errors
/// A variable is not a number.
pub fn parse_watchdog(usec: Option<&str>, pid: Option<&str>, our_pid: u32) -> Result<Option<Duration>, String> {
    let Some(usec) = usec else { return Ok(None) };
    let usec: u64 = usec.trim().parse().map_err(|_| format!("WATCHDOG_USEC: not a number: `{usec}`"))?;
    if let Some(pid) = pid.filter(|p| !p.is_empty()) {
        let pid: u32 = pid.trim().parse().map_err(|_| format!("WATCHDOG_PID: not a process id: `{pid}`"))?;
        if pid != our_pid {
            return Ok(None);
        }
    }
    Ok((usec > 0).then(|| Duration::from_micros(usec)))
}

/// The watchdog timeout of this process (`WATCHDOG_USEC`, `WATCHDOG_PID`; see
/// [`parse_watchdog`]): `WATCHDOG=1` is owed more often than that; every half of it is the
/// usual pace. `None` when no watchdog is set (or a variable is malformed).
pub fn watchdog_timeout() -> Option<Duration> {
    let var = |name| std::env::var(name).ok();
    parse_watchdog(var("WATCHDOG_USEC").as_deref(), var("WATCHDOG_PID").as_deref(), std::process::id()).ok().flatten()
}

#[cfg(test)]
#[path = "systemd_tests.rs"]
mod tests;
