//! `SIGUSR2`: a restart that fails no request, and `--pid-file`.
//!
//! The serving process starts a new copy of the binary (the file its path named when this one
//! started, so a binary replaced there is the upgrade; the same arguments) and hands it every
//! listening socket as socket activation does: descriptors 3.. with `LISTEN_FDS` and `LISTEN_PID`
//! (the child's own pid, written in the child between `fork` and `exec`). One more descriptor,
//! named by `HSYS_RESTART_READY_FD`, is a stream socket back to the old process: the new one
//! writes its `READY=1` state line there once it serves (the line it would tell systemd) and
//! closes it. Nothing else can write on it, and its end-of-file says the new process is gone.
//!
//! Once ready, the old process tells systemd (if it runs under it) `MAINPID=<new pid>` with the
//! new one's state, stops accepting and drains as a graceful stop does, and exits 0: the
//! sockets, and the connections waiting in their queues, live on in the new process (every one
//! of them: the old process's `SO_REUSEPORT` listeners, one per thread, each with its own queue).
//! A new process that cannot start, ends, or does not say it is ready within
//! `--restart-timeout` is stopped (`SIGTERM`, then `SIGKILL`), the reason goes to stderr, and
//! the old one goes on serving; a later `SIGUSR2` tries again. A `SIGUSR2` while a restart is
//! in progress is ignored.

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The options of restarts and of the pid file.
#[derive(clap::Args, Debug)]
pub struct RestartArgs {
    /// Writes the serving process's id to PATH once it serves; a restart's new process rewrites
    /// it when it serves, and a process removes it at its stop only if it names that process.
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// Seconds a restart's new process (SIGUSR2) has to say it serves; past them it is stopped
    /// and this one goes on serving.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub restart_timeout: u64,
}

/// The environment variable naming the descriptor a new process says it is ready on.
const READY_FD: &str = "HSYS_RESTART_READY_FD";

/// The longest state line a new process may send.
const MAX_STATE: usize = 4096;

/// The pid file, written by this process.
#[derive(Debug)]
pub struct PidFile(PathBuf);

impl PidFile {
    /// Writes this process's id to `path`, whole or not at all (a temporary file renamed).
    ///
    /// # Errors
    /// The file cannot be written or renamed.
    pub fn write(path: &Path) -> io::Result<PidFile> {
        let pid = std::process::id();
        let name = path.file_name().map_or_else(|| "hsys.pid".into(), |n| n.to_string_lossy().into_owned());
        let temporary = path.with_file_name(format!(".{name}.{pid}"));
        std::fs::write(&temporary, format!("{pid}\n"))
            .and_then(|()| std::fs::rename(&temporary, path))
            .inspect_err(|_| drop(std::fs::remove_file(&temporary)))?;
        Ok(PidFile(path.to_owned()))
    }

    /// Removes the file if it still names this process (a restart's new process rewrote it
    /// otherwise, and it is that one's).
    pub fn remove_if_ours(&self) {
        let ours = std::fs::read_to_string(&self.0).is_ok_and(|s| s.trim() == std::process::id().to_string());
        if ours {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// A process started by a restart: where it says it is ready.
#[derive(Debug)]
pub struct Handover(UnixStream);

impl Handover {
    /// The descriptor `HSYS_RESTART_READY_FD` names, taken once (the variable is removed, the
    /// descriptor made close-on-exec); `None` when this process was not started by a restart.
    /// Call it first thing, before any thread starts (as `hsys::systemd::listen_fds`).
    pub fn take() -> Option<Handover> {
        let fd: RawFd = std::env::var(READY_FD).ok()?.parse().ok()?;
        // SAFETY: as `hsys::systemd::listen_fds` does, at start, before any thread is spawned.
        unsafe { std::env::remove_var(READY_FD) };
        // SAFETY: F_GETFD reads the flags of a descriptor number; an unopened one fails (EBADF).
        if fd < 3 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return None;
        }
        // SAFETY: the process that started this one passed descriptor `fd` for this use alone
        // and named it in the variable, now removed: nothing else here owns it.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: sets a flag of the descriptor just owned.
        unsafe { libc::fcntl(socket.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
        Some(Handover(UnixStream::from(socket)))
    }

    /// Tells the old process this one serves: `state`, the `READY=1` line, then the close.
    ///
    /// # Errors
    /// The old process is gone.
    pub fn ready(mut self, state: &str) -> io::Result<()> {
        self.0.write_all(state.as_bytes())
    }
}

/// How a restart ended.
#[derive(Debug)]
pub enum Outcome {
    /// The new process serves: its pid and the state line it sent.
    Ready { pid: u32, state: String },
    /// It could not start, ended, or never said it was ready; why.
    Failed(String),
}

/// The old process's side: starts new processes, one at a time.
#[derive(Debug)]
pub struct Restarter {
    /// The binary as this process was started from (`/proc/self/exe` read at start).
    exe: PathBuf,
    timeout: Duration,
    /// The new process of the restart in progress, until its outcome is known.
    pending: Option<u32>,
    /// The same, for [`abandon`](Restarter::abandon): cleared by the waiting thread before it
    /// reaps the process, so a signal sent under this lock never reaches a reused pid.
    unreaped: Arc<Mutex<Option<u32>>>,
}

impl Restarter {
    /// Reads where this process's binary is (call at start, before the file can be replaced).
    pub fn new(args: &RestartArgs) -> Restarter {
        let exe = std::fs::read_link("/proc/self/exe")
            .ok()
            .filter(|p| !p.as_os_str().as_bytes().ends_with(b" (deleted)"))
            .unwrap_or_else(|| PathBuf::from("/proc/self/exe"));
        let unreaped = Arc::new(Mutex::new(None));
        Restarter { exe, timeout: Duration::from_secs(args.restart_timeout), pending: None, unreaped }
    }

    /// `SIGUSR2`: starts a new process with `listeners` and a thread that waits for it to be
    /// ready; `done` gets the outcome, on that thread. Ignored (said on stderr) while a restart
    /// is in progress; a process that cannot be started is reported at once.
    pub fn start(&mut self, listeners: Vec<TcpListener>, done: impl FnOnce(Outcome) + Send + 'static) {
        if let Some(pid) = self.pending {
            eprintln!("hsys: SIGUSR2: a restart is in progress (process {pid}); ignored");
            return;
        }
        if listeners.is_empty() {
            eprintln!("hsys: SIGUSR2: no listening socket to hand over; not restarted");
            return;
        }
        let n = listeners.len();
        let started = UnixStream::pair().and_then(|(ours, theirs)| {
            let child = spawn(&self.exe, listeners, theirs)?;
            Ok((child, ours))
        });
        let (child, ours) = match started {
            Ok(c) => c,
            Err(e) => {
                eprintln!(
                    "hsys: restart failed: cannot start {}: {e}; this process goes on serving",
                    self.exe.display()
                );
                return;
            }
        };
        let pid = child.id();
        eprintln!("hsys: SIGUSR2: started process {pid} with {n} listening sockets; waiting for it to serve");
        self.pending = Some(pid);
        *lock(&self.unreaped) = Some(pid);
        let (exe, timeout, unreaped) = (self.exe.clone(), self.timeout, Arc::clone(&self.unreaped));
        std::thread::spawn(move || done(wait_ready(child, ours, timeout, &exe, &unreaped)));
    }

    /// The outcome came: another restart may begin.
    pub fn finished(&mut self) {
        self.pending = None;
    }

    /// This process stops during a restart: the new process is stopped too (`SIGTERM`, a
    /// graceful stop), so that no server goes on that nobody asked for.
    pub fn abandon(&mut self) {
        if self.pending.take().is_some()
            && let Some(pid) = *lock(&self.unreaped)
        {
            // SAFETY: kill(2) on our child, not reaped: its waiting thread clears `unreaped`
            // under this lock before it reaps it.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits for the new process's state line, its end, or the timeout.
fn wait_ready(
    mut child: Child,
    mut ours: UnixStream,
    timeout: Duration,
    exe: &Path,
    unreaped: &Mutex<Option<u32>>,
) -> Outcome {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    let ended = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || ours.set_read_timeout(Some(left)).is_err() {
            break false;
        }
        match ours.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) if got.len() + n <= MAX_STATE => got.extend_from_slice(&buf[..n]),
            Ok(_) => break true, // not what a new process sends: judged below
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break true,
        }
    };
    let state = String::from_utf8_lossy(&got).into_owned();
    // From here on the process is this thread's to signal and reap (or leave serving).
    lock(unreaped).take();
    if ended && state.starts_with("READY=1") {
        return Outcome::Ready { pid: child.id(), state };
    }
    if let Some(errno) = state.strip_prefix("ERRNO=").and_then(|e| e.trim().parse().ok()) {
        let _ = child.wait();
        let e = io::Error::from_raw_os_error(errno);
        return Outcome::Failed(format!("cannot start {}: {e}", exe.display()));
    }
    if ended {
        let status = wait_for(&mut child, Duration::from_secs(2));
        let how = status.map_or_else(|| "closed its channel".to_owned(), describe);
        return Outcome::Failed(format!("the new process {} {how} before it served", child.id()));
    }
    // SAFETY: kill(2) on our child, not yet reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    if wait_for(&mut child, Duration::from_secs(5)).is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    Outcome::Failed(format!(
        "the new process {} did not say it served within {} s; it was stopped",
        child.id(),
        timeout.as_secs()
    ))
}

/// The child's exit status, if it ends within `bound`.
fn wait_for(child: &mut Child, bound: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + bound;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => return None,
        }
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (_, Some(signal)) => format!("was killed by signal {signal}"),
        _ => format!("ended ({status})"),
    }
}

/// Starts `exe` with this process's arguments and environment, `listeners` as descriptors
/// 3.. (`LISTEN_FDS`, `LISTEN_PID`) and `ready` after them (`HSYS_RESTART_READY_FD`);
/// standard input from `/dev/null` (keys are the old process's), output as ours.
fn spawn(exe: &Path, listeners: Vec<TcpListener>, ready: UnixStream) -> io::Result<Child> {
    let n = listeners.len();
    let first_free = libc::c_int::try_from(3 + n + 1).map_err(io::Error::other)?;
    // Each passed descriptor is first duplicated above the numbers it will take in the child,
    // so that moving one into place never overwrites another (close-on-exec meanwhile).
    let mut passed = Vec::with_capacity(n + 1);
    for fd in listeners.iter().map(AsRawFd::as_raw_fd).chain([ready.as_raw_fd()]) {
        // SAFETY: F_DUPFD_CLOEXEC makes a new descriptor at or above `first_free`; it is owned
        // below at once.
        let high = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, first_free) };
        if high < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `high` was just created and nothing else owns it.
        passed.push(unsafe { OwnedFd::from_raw_fd(high) });
    }
    drop((listeners, ready));
    let cstring = |s: &[u8]| CString::new(s).map_err(|_| io::Error::other("a NUL byte in an argument or variable"));
    let argv: Vec<CString> = std::env::args_os().map(|a| cstring(a.as_bytes())).collect::<io::Result<_>>()?;
    let dropped = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "WATCHDOG_PID", READY_FD];
    let mut env: Vec<CString> = Vec::new();
    for (name, value) in std::env::vars_os() {
        if dropped.iter().any(|d| name.as_bytes() == d.as_bytes()) {
            continue;
        }
        let mut pair = name;
        pair.push("=");
        pair.push(value);
        env.push(cstring(pair.as_bytes())?);
    }
    env.push(cstring(format!("LISTEN_FDS={n}").as_bytes())?);
    env.push(cstring(format!("{READY_FD}={}", 3 + n).as_bytes())?);
    let exec = Exec::new(cstring(exe.as_os_str().as_bytes())?, argv, env, passed);
    let mut cmd = Command::new(exe);
    cmd.stdin(Stdio::null());
    let mut exec = exec;
    // SAFETY: the closure runs in the child between fork and exec, and only makes
    // async-signal-safe calls (getpid, dup2, close_range, execve, write) on memory prepared
    // before the fork; it allocates nothing and takes no lock.
    unsafe { cmd.pre_exec(move || exec.run()) };
    cmd.spawn()
}

/// What the child runs between `fork` and `exec`, all prepared before the fork.
struct Exec {
    exe: CString,
    /// Kept alive: `argv_ptrs` point into them.
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    /// Kept alive: `env_ptrs` point into them.
    _env: Vec<CString>,
    /// `LISTEN_PID=` and room for the child's pid and a NUL, written in the child.
    listen_pid: Box<[u8; 24]>,
    env_ptrs: Vec<*const libc::c_char>,
    /// The descriptors to put at 3, 4, …, in order (the ready socket last).
    passed: Vec<OwnedFd>,
}

// SAFETY: the raw pointers point into buffers this value owns (which move with it, their heap
// addresses unchanged); they are read (and `listen_pid` written) only in the forked child.
unsafe impl Send for Exec {}
// SAFETY: as for `Send`: the parent never touches them.
unsafe impl Sync for Exec {}

impl Exec {
    fn new(exe: CString, argv: Vec<CString>, env: Vec<CString>, passed: Vec<OwnedFd>) -> Exec {
        let mut listen_pid = Box::new([0u8; 24]);
        listen_pid[..11].copy_from_slice(b"LISTEN_PID=");
        let mut argv_ptrs: Vec<_> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut env_ptrs: Vec<_> = env.iter().map(|e| e.as_ptr()).collect();
        env_ptrs.push(listen_pid.as_ptr().cast());
        env_ptrs.push(std::ptr::null());
        Exec { exe, _argv: argv, argv_ptrs, _env: env, listen_pid, env_ptrs, passed }
    }

    /// In the child: `LISTEN_PID` set to its pid, the descriptors put in place, everything else
    /// kept from the exec, then `execve`. Returns only on a failure, which is also written on
    /// the ready socket (`ERRNO=`), in case the number std reports it on was one put in place.
    fn run(&mut self) -> io::Result<()> {
        // SAFETY: getpid cannot fail.
        let mut pid = unsafe { libc::getpid() } as u32;
        let mut digits = [0u8; 10];
        let mut len = 0;
        loop {
            digits[len] = b'0' + (pid % 10) as u8;
            pid /= 10;
            len += 1;
            if pid == 0 {
                break;
            }
        }
        for (slot, d) in self.listen_pid[11..].iter_mut().zip(digits[..len].iter().rev()) {
            *slot = *d;
        }
        self.listen_pid[11 + len] = 0;
        for (i, fd) in self.passed.iter().enumerate() {
            // SAFETY: dup2 onto a number at most 3 + passed.len() (each source is above it);
            // the copy is not close-on-exec, which is the point.
            if unsafe { libc::dup2(fd.as_raw_fd(), 3 + i as libc::c_int) } < 0 {
                return Err(self.failed());
            }
        }
        let from = 3 + self.passed.len() as libc::c_uint;
        // SAFETY: marks every descriptor from `from` up close-on-exec (Linux 5.11; earlier, it
        // fails and those the server made are close-on-exec already).
        unsafe { libc::syscall(libc::SYS_close_range, from, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC) };
        // SAFETY: NUL-terminated strings and NULL-terminated arrays of them, alive (owned by self).
        unsafe { libc::execve(self.exe.as_ptr(), self.argv_ptrs.as_ptr(), self.env_ptrs.as_ptr()) };
        Err(self.failed())
    }

    /// `errno` as an `io::Error`, also written as `ERRNO=<n>` on the ready socket (the last one
    /// put in place, or still above them if the failure came first).
    fn failed(&self) -> io::Error {
        let e = io::Error::last_os_error();
        let errno = e.raw_os_error().unwrap_or(0).unsigned_abs();
        let mut line = *b"ERRNO=0000000000";
        let mut n = errno;
        for slot in line[6..].iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
        if let Some(ready) = self.passed.last() {
            // SAFETY: write(2) of a stack buffer to a descriptor this value owns.
            unsafe { libc::write(ready.as_raw_fd(), line.as_ptr().cast(), line.len()) };
        }
        e
    }
}
