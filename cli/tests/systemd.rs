//! The `hsys` binary under systemd's protocols: socket activation through
//! `systemd-socket-activate` (Debian's `systemd` package), and `sd_notify` to a unix datagram
//! socket of the test's own as `NOTIFY_SOCKET`. Both follow `HSYS_BACKEND`.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{Client, STEP, digits, free_port, get};

/// `HSYS_BACKEND` as the test runs with it, to hand to a child whose environment is set.
fn backend_env() -> Option<String> {
    std::env::var("HSYS_BACKEND").ok().filter(|b| !b.is_empty())
}

/// Sends `sig` to `child`.
fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

/// Waits for `child` to exit, for at most `STEP`.
fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + STEP;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Lines of `r`, sent on as they come.
fn lines(r: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits for a line that starts with `prefix`, for at most `STEP`.
fn line_starting(rx: &mpsc::Receiver<String>, prefix: &str) -> String {
    let deadline = Instant::now() + STEP;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.starts_with(prefix) => return line,
            Ok(_) => {}
            Err(e) => panic!("no line `{prefix}…`: {e}"),
        }
    }
}

/// systemd-socket-activate binds the port and starts hsys only at the first connection, handing
/// it the socket: that connection waited in the backlog of a socket hsys did not create, and is
/// served; so are the next ones (a `+` prefix, served on the loopback socket the "unit" chose,
/// two I/O threads sharing it); SIGTERM stops hsys gracefully.
#[test]
fn socket_activated_hsys_serves_through_the_inherited_socket() {
    if Command::new("systemd-socket-activate").arg("--version").output().is_err() {
        panic!("systemd-socket-activate is missing (Debian package `systemd`; .ci/run installs it)");
    }
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut cmd = Command::new("systemd-socket-activate");
    cmd.arg("-l").arg(addr.to_string()).arg("--fdname=web");
    if let Some(b) = backend_env() {
        cmd.arg(format!("--setenv=HSYS_BACKEND={b}"));
    }
    cmd.arg(env!("CARGO_BIN_EXE_hsys"))
        .arg(format!("http://+:{port}/"))
        .args(["--threads", "2", "--stats", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn systemd-socket-activate");
    let out = lines(child.stdout.take().unwrap());
    let err = lines(child.stderr.take().unwrap());
    line_starting(&err, "Listening on ");

    // hsys is not running yet: this connection waits in the socket's backlog, and starts it.
    let mut c = Client::connect(addr);
    c.send(&get("/first"));
    let r = c.read(false);
    assert_eq!((r.status, r.body), (200, digits(512)));
    let line = line_starting(&out, "Listening on a socket from the service manager: ");
    assert!(line.ends_with(&format!("{addr} (web)")), "{line}");
    for i in 0..20 {
        let mut c = Client::connect(addr);
        assert_eq!(c.exchange(&get(&format!("/{i}"))).status, 200);
    }
    assert_eq!(c.exchange(&get("/again")).status, 200);

    signal(&child, libc::SIGTERM);
    let status = wait_exit(&mut child);
    assert!(status.success(), "{status}");
    line_starting(&out, "Stopped.");
}

/// A `NOTIFY_SOCKET` of the test's own: `READY=1` (with a `STATUS=` line) comes once the port
/// serves, `WATCHDOG=1` every 100 ms for `WATCHDOG_USEC=200000`, `STOPPING=1` at SIGTERM.
#[test]
fn sd_notify_ready_status_watchdog_and_stopping() {
    let dir = std::env::temp_dir().join(format!("hsys-sd-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("notify.sock");
    let _ = std::fs::remove_file(&path);
    let manager = UnixDatagram::bind(&path).unwrap();
    manager.set_read_timeout(Some(STEP)).unwrap();
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hsys"))
        .arg(format!("http://127.0.0.1:{port}/"))
        .args(["--threads", "2", "--stats", "0"])
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "200000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 512];
    let mut next = || {
        let n = manager.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let ready = next();
    // Ready means serving: the port answers now.
    let mut c = Client::connect(addr);
    assert_eq!(c.exchange(&get("/")).status, 200);
    let states: Vec<&str> = ready.lines().collect();
    assert!(states.contains(&"READY=1"), "{ready}");
    assert!(states.contains(&"STATUS=serving 1 prefixes on 1 addresses"), "{ready}");

    // The first comes at once, the next three 100 ms apart.
    let started = Instant::now();
    for _ in 0..4 {
        assert_eq!(next(), "WATCHDOG=1");
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(200) && took < Duration::from_secs(2), "{took:?}");

    signal(&child, libc::SIGTERM);
    let deadline = Instant::now() + STEP;
    loop {
        let got = next();
        if got != "WATCHDOG=1" {
            assert!(got.lines().any(|l| l == "STOPPING=1"), "{got}");
            break;
        }
        assert!(Instant::now() < deadline);
    }
    assert!(wait_exit(&mut child).success());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A socket that is not a listening TCP socket (here a UDP one) is refused: hsys exits with
/// code 2 and says which descriptor.
#[test]
fn socket_activation_with_a_datagram_socket_is_refused() {
    let port = free_port();
    let mut child = Command::new("systemd-socket-activate")
        .args(["--datagram", "-l", &format!("127.0.0.1:{port}")])
        .arg(env!("CARGO_BIN_EXE_hsys"))
        .arg(format!("http://+:{port}/"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn systemd-socket-activate");
    let err = lines(child.stderr.take().unwrap());
    line_starting(&err, "Listening on ");
    // The first datagram starts hsys.
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().send_to(b"x", ("127.0.0.1", port)).unwrap();
    let status = wait_exit(&mut child);
    assert_eq!(status.code(), Some(2));
    let line = line_starting(&err, "hsys: ");
    assert!(line.contains("descriptor 3") && line.contains("not a TCP socket"), "{line}");
}
