//! `SIGUSR2` restarts the binary without failing a request: 32 keep-alive clients looping
//! requests across three restarts in a row see every request answered and no error; the pid
//! file follows the serving process, each old one exits 0, and a restart whose new process
//! cannot start, ends early or never says it serves leaves the old one serving. The backend is
//! the environment's (`HSYS_BACKEND`, inherited by every new process).

#[path = "../../tests/support/mod.rs"]
mod support;

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use support::{Client, STEP, digits, free_port, get};

/// Processes orphaned by an old process's exit (the new ones it started) become this test
/// process's children, so their exit status can be read (`waitpid`) and nothing is left behind.
fn become_subreaper() {
    static ONCE: Once = Once::new();
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) sets a flag of this process.
    ONCE.call_once(|| assert_eq!(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }, 0));
}

/// A directory of the test's own.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hsys-restart-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The pid the file names, once it names one other than `not`.
fn pid_in(file: &Path, not: Option<i32>) -> i32 {
    let deadline = Instant::now() + STEP;
    loop {
        let pid = std::fs::read_to_string(file).ok().and_then(|s| s.trim().parse().ok());
        if let Some(pid) = pid
            && Some(pid) != not
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "{} did not name a new process", file.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) on a process this test started (or one its process started).
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill {pid}");
}

/// The exit code of `pid` (a child of ours, or an orphan we reap), within `bound`.
fn exit_code(pid: i32, bound: Duration) -> i32 {
    let deadline = Instant::now() + bound;
    loop {
        let mut status = 0;
        // SAFETY: waitpid on one pid, writing only `status`.
        let got = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(got >= 0, "waitpid {pid}: {}", std::io::Error::last_os_error());
        if got == pid {
            assert!(libc::WIFEXITED(status), "{pid} ended by signal: {status:#x}");
            return libc::WEXITSTATUS(status);
        }
        assert!(Instant::now() < deadline, "{pid} did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `pid` exists (a zombie too: `exit_code` reaps).
fn alive(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// `exe` serving `/a/` and `/b/` on a free port, its output in `dir`; its pid once it serves.
// Reaped with `waitpid` (`exit_code`), as the processes it starts are: `Child` cannot wait for those.
#[allow(clippy::zombie_processes)]
fn start(exe: &Path, dir: &Path, extra: &[&str]) -> (i32, SocketAddr) {
    become_subreaper();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut command = Command::new(exe);
    command
        .arg(format!("http://127.0.0.1:{port}/a/"))
        .arg(format!("http://127.0.0.1:{port}/b/"))
        .args(["--threads", "2", "--stats", "0", "--log-level", "info", "--pid-file"])
        .arg(dir.join("hsys.pid"))
        .args(extra)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("out.txt")).unwrap())
        .stderr(std::fs::File::create(dir.join("err.txt")).unwrap());
    // A copy of the binary just written may still be open for writing in a process another
    // test forked meanwhile (until that one execs): `ETXTBSY` for a moment, so try again.
    let mut tries = 0;
    let child = loop {
        match command.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            spawned => break spawned.unwrap(),
        }
    };
    let pid = pid_in(&dir.join("hsys.pid"), None);
    assert_eq!(pid as u32, child.id());
    (pid, addr)
}

/// On a failing test, kills the process the pid file names (it would go on serving).
struct KillOnPanic(PathBuf);

impl Drop for KillOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(pid) = std::fs::read_to_string(&self.0).ok().and_then(|s| s.trim().parse::<i32>().ok())
        {
            // SAFETY: kill(2) on the process this test's server runs as.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

fn stderr_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("err.txt")).unwrap()
}

/// Waits until the process's stderr has a line containing `text`.
fn said(dir: &Path, text: &str) -> String {
    said_times(dir, text, 1)
}

/// Waits until the process's stderr contains `text` `n` times.
fn said_times(dir: &Path, text: &str, n: usize) -> String {
    let deadline = Instant::now() + STEP;
    loop {
        let err = stderr_of(dir);
        if err.matches(text).count() >= n {
            return err;
        }
        assert!(Instant::now() < deadline, "no `{text}` (×{n}) on stderr:\n{err}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What the clients saw.
#[derive(Debug, Default)]
struct Load {
    sent: usize,
    answered: usize,
    /// Connections an answer closed (`Connection: close`): each client then connects again.
    closed_by_answer: usize,
    /// Failed connects, writes, reads, answers other than `200` with the body: none expected.
    errors: usize,
}

/// `n` clients looping `GET /a/x` over keep-alive connections, connecting again when an answer
/// says `Connection: close`, until `stop`; each counts every request sent and answer received.
/// With `churn`, each request asks for `Connection: close`: a stream of new connections that
/// meets the handover wherever it is (in a listener's queue when the old process closes it).
fn load(
    addr: SocketAddr,
    n: usize,
    churn: bool,
    stop: Arc<AtomicBool>,
    going: Arc<AtomicUsize>,
) -> Vec<std::thread::JoinHandle<Load>> {
    let request =
        if churn { b"GET /a/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec() } else { get("/a/x") };
    (0..n)
        .map(|_| {
            let request = request.clone();
            let (stop, going) = (Arc::clone(&stop), Arc::clone(&going));
            std::thread::spawn(move || {
                let mut l = Load::default();
                let body = digits(512);
                let mut first = true;
                'connections: while !stop.load(Ordering::Relaxed) {
                    let Ok(s) = TcpStream::connect(addr) else {
                        l.errors += 1;
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    s.set_read_timeout(Some(STEP)).unwrap();
                    s.set_nodelay(true).unwrap();
                    let mut c = Client { reader: BufReader::new(s) };
                    while !stop.load(Ordering::Relaxed) {
                        if c.reader.get_mut().write_all(&request).is_err() {
                            l.errors += 1;
                            continue 'connections;
                        }
                        l.sent += 1;
                        let Some(r) = c.try_read(false) else {
                            l.errors += 1;
                            continue 'connections;
                        };
                        l.answered += 1;
                        if first {
                            first = false;
                            going.fetch_add(1, Ordering::Relaxed);
                        }
                        if (r.status, &r.body) != (200, &body) {
                            l.errors += 1;
                        }
                        if r.header("connection") == Some("close") {
                            l.closed_by_answer += 1;
                            continue 'connections;
                        }
                    }
                }
                l
            })
        })
        .collect()
}

fn status_of(addr: SocketAddr, path: &str) -> u16 {
    let mut c = Client::connect(addr);
    c.exchange(&get(path)).status
}

#[test]
fn three_restarts_under_load_fail_no_request() {
    let dir = scratch("load");
    let pid_file = dir.join("hsys.pid");
    let (first, addr) = start(Path::new(env!("CARGO_BIN_EXE_hsys")), &dir, &[]);
    let _guard = KillOnPanic(pid_file.clone());
    let (stop, going) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    let clients = load(addr, 32, false, Arc::clone(&stop), Arc::clone(&going));
    let churn = load(addr, 4, true, Arc::clone(&stop), Arc::clone(&going));
    let deadline = Instant::now() + STEP;
    while going.load(Ordering::Relaxed) < 36 {
        assert!(Instant::now() < deadline, "the clients did not get going");
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut serving = first;
    for round in 0..3 {
        std::thread::sleep(Duration::from_millis(300));
        signal(serving, libc::SIGUSR2);
        let new = pid_in(&pid_file, Some(serving));
        assert!(alive(new), "round {round}: the new process {new} runs");
        // The old one drains (its idle connections get their grace) and exits 0.
        assert_eq!(exit_code(serving, STEP), 0, "round {round}:\n{}", stderr_of(&dir));
        assert_eq!(pid_in(&pid_file, None), new, "round {round}: the old one left the pid file to the new one");
        serving = new;
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let mut total = Load::default();
    let mut churned = 0;
    for (i, c) in clients.into_iter().chain(churn).enumerate() {
        let l = c.join().unwrap();
        if i >= 32 {
            churned += l.answered;
        }
        total.sent += l.sent;
        total.answered += l.answered;
        total.closed_by_answer += l.closed_by_answer;
        total.errors += l.errors;
    }
    let err = stderr_of(&dir);
    eprintln!("32 keep-alive clients and 4 closing ones across 3 restarts: {total:?}, {churned} closing");
    assert_eq!(total.errors, 0, "{total:?}\n{err}");
    assert_eq!(total.sent, total.answered, "{total:?}");
    // Each old process closed every keep-alive connection it had after an answer: three times
    // 32; and every answer to a closing client closed its connection.
    assert!(total.closed_by_answer >= 3 * 32 + churned, "{total:?}");
    assert!(churned > 0);
    assert_eq!(err.matches("serves; this one stops accepting and drains").count(), 3, "{err}");
    // The last one serves the same prefixes, and only those; it stops as any other.
    assert_eq!((status_of(addr, "/a/"), status_of(addr, "/b/y"), status_of(addr, "/c")), (200, 200, 404));
    signal(serving, libc::SIGTERM);
    assert_eq!(exit_code(serving, STEP), 0, "{}", stderr_of(&dir));
    assert!(!pid_file.exists(), "the last process removes the pid file that names it");
    // `--log-level info`: the library's events, from each process.
    assert_eq!(err.matches("INFO hsys::server: listening addr=").count(), 4, "{err}");
    assert_eq!(err.matches("inherited=2").count(), 3, "2 threads × 1 address handed over each time:\n{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Replaces the binary at `exe` (unlinked first: the running one keeps its file).
fn replace(exe: &Path, with: impl FnOnce(&Path)) {
    std::fs::remove_file(exe).unwrap();
    with(exe);
}

fn script(body: &str) -> impl FnOnce(&Path) {
    move |exe: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(exe, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// The restart starts the binary at the path this process was started from: a file put there
/// meanwhile is the upgrade. One that cannot be executed, one that exits at once and one that
/// never says it serves each leave the old process serving (and a SIGUSR2 meanwhile is ignored);
/// the real binary put back, the next SIGUSR2 restarts.
#[test]
fn a_restart_that_cannot_start_leaves_the_old_process_serving() {
    let dir = scratch("fail");
    let exe = dir.join("hsys");
    std::fs::copy(env!("CARGO_BIN_EXE_hsys"), &exe).unwrap();
    let (old, addr) = start(&exe, &dir, &["--restart-timeout", "1"]);
    let pid_file = dir.join("hsys.pid");
    let _guard = KillOnPanic(pid_file.clone());
    let mut kept = Client::connect(addr);
    assert_eq!(kept.exchange(&get("/a/")).status, 200);

    // Not executable.
    replace(&exe, |p| {
        std::fs::write(p, b"not a program").unwrap();
    });
    signal(old, libc::SIGUSR2);
    said(&dir, "Permission denied (os error 13); this process goes on serving");
    assert_eq!(kept.exchange(&get("/a/")).status, 200);

    // Exits before it serves.
    replace(&exe, script("exit 3"));
    signal(old, libc::SIGUSR2);
    said(&dir, "exited with status 3 before it served; this process goes on serving");
    assert_eq!(kept.exchange(&get("/a/")).status, 200);

    // Never says it serves: stopped after --restart-timeout; a second SIGUSR2 meanwhile is ignored.
    replace(&exe, script("exec sleep 30"));
    signal(old, libc::SIGUSR2);
    said_times(&dir, "waiting for it to serve", 2);
    signal(old, libc::SIGUSR2);
    said(&dir, "a restart is in progress");
    said(&dir, "did not say it served within 1 s; it was stopped; this process goes on serving");
    assert_eq!(kept.exchange(&get("/a/")).status, 200);
    assert_eq!(pid_in(&pid_file, None), old);
    assert!(alive(old));

    // The real binary again: the restart goes through.
    replace(&exe, |p| {
        std::fs::copy(env!("CARGO_BIN_EXE_hsys"), p).unwrap();
    });
    signal(old, libc::SIGUSR2);
    let new = pid_in(&pid_file, Some(old));
    // The kept connection (a request every 50 ms) is answered by the old one until its drain
    // begins, then once more, with `Connection: close`.
    let deadline = Instant::now() + STEP;
    loop {
        let r = kept.exchange(&get("/a/"));
        assert_eq!(r.status, 200);
        if r.header("connection") == Some("close") {
            break;
        }
        assert!(Instant::now() < deadline, "no `Connection: close` from the old process");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(kept.closed());
    assert_eq!(exit_code(old, STEP), 0, "{}", stderr_of(&dir));
    assert_eq!(status_of(addr, "/b/"), 200);
    signal(new, libc::SIGTERM);
    assert_eq!(exit_code(new, STEP), 0);
    let mut out = String::new();
    std::fs::File::open(dir.join("out.txt")).unwrap().read_to_string(&mut out).unwrap();
    assert!(out.contains(&format!("Listening on a socket from the process restarted: {addr}")), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Under systemd: socket-activated (`systemd-socket-activate`) with a `NOTIFY_SOCKET` of the
/// test's own. The restart hands over the socket the process inherited; the old process tells
/// the manager `MAINPID=<new pid>` with the new one's `READY=1` and status, and no
/// `STOPPING=1` (the service does not stop); the new one serves and, stopped, says
/// `STOPPING=1` itself.
#[test]
fn a_socket_activated_service_restarts_and_tells_systemd_its_new_main_pid() {
    use std::os::unix::net::UnixDatagram;
    become_subreaper();
    let dir = scratch("systemd");
    let notify = dir.join("notify.sock");
    let manager = UnixDatagram::bind(&notify).unwrap();
    manager.set_read_timeout(Some(STEP)).unwrap();
    let pid_file = dir.join("hsys.pid");
    let _guard = KillOnPanic(pid_file.clone());
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut cmd = Command::new("systemd-socket-activate");
    cmd.arg("-l").arg(addr.to_string()).arg(format!("--setenv=NOTIFY_SOCKET={}", notify.display()));
    if let Some(b) = std::env::var("HSYS_BACKEND").ok().filter(|b| !b.is_empty()) {
        cmd.arg(format!("--setenv=HSYS_BACKEND={b}"));
    }
    let mut activate = cmd
        .arg(env!("CARGO_BIN_EXE_hsys"))
        .arg(format!("http://+:{port}/"))
        .args(["--threads", "2", "--stats", "0", "--pid-file"])
        .arg(&pid_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("err.txt")).unwrap())
        .spawn()
        .expect("systemd-socket-activate (Debian package `systemd`; .ci/run installs it)");
    let mut buf = [0u8; 512];
    let mut next = || {
        let n = manager.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    // The first connection starts hsys (it waits in the socket's backlog meanwhile).
    let deadline = Instant::now() + STEP;
    let mut c = loop {
        if let Ok(s) = TcpStream::connect(addr) {
            s.set_read_timeout(Some(STEP)).unwrap();
            break Client { reader: BufReader::new(s) };
        }
        assert!(Instant::now() < deadline, "systemd-socket-activate did not listen");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(c.exchange(&get("/")).status, 200);
    assert!(next().starts_with("READY=1\n"));
    let old = pid_in(&pid_file, None);
    assert_eq!(old as u32, activate.id(), "systemd-socket-activate execs hsys");

    signal(old, libc::SIGUSR2);
    let told = next();
    let new = pid_in(&pid_file, Some(old));
    assert_eq!(
        told,
        format!("MAINPID={new}\nREADY=1\nSTATUS=serving 1 prefixes on 1 addresses (1 from the socket unit)")
    );
    assert!(activate.wait().unwrap().success(), "the old one exits 0");
    assert_eq!(status_of(addr, "/x"), 200);
    signal(new, libc::SIGTERM);
    assert!(next().lines().any(|l| l == "STOPPING=1"), "the new one says it stops, not the old one");
    assert_eq!(exit_code(new, STEP), 0, "{}", stderr_of(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A stop during a restart stops the new process too (here one that never says it serves):
/// no server goes on that nobody asked for.
#[test]
fn a_stop_during_a_restart_stops_the_new_process() {
    let dir = scratch("abandon");
    let exe = dir.join("hsys");
    std::fs::copy(env!("CARGO_BIN_EXE_hsys"), &exe).unwrap();
    let (old, _) = start(&exe, &dir, &[]);
    let _guard = KillOnPanic(dir.join("hsys.pid"));
    replace(&exe, script("exec sleep 30"));
    signal(old, libc::SIGUSR2);
    let err = said(&dir, "waiting for it to serve");
    let new: i32 = err.split("started process ").nth(1).and_then(|r| r.split(' ').next()).unwrap().parse().unwrap();
    signal(old, libc::SIGTERM);
    assert_eq!(exit_code(old, STEP), 0);
    // Gone: reaped by the old one as it stopped, or orphaned and reaped here.
    let deadline = Instant::now() + STEP;
    loop {
        let mut status = 0;
        // SAFETY: waitpid on one pid, writing only `status`.
        unsafe { libc::waitpid(new, &mut status, libc::WNOHANG) };
        if !alive(new) {
            break;
        }
        assert!(Instant::now() < deadline, "the new process {new} goes on");
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
