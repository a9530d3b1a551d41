//! The `hsys` binary on a terminal: a key stops it, and started or suspended in the background of
//! a shell it neither stops nor misbehaves (run under `script`, which gives it a pseudo-terminal).

#[path = "../../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{Client, STEP, exit_within, get};

/// A shell command line run by `script`, which gives it a new session whose controlling terminal
/// (and stdin, stdout, stderr) is a pseudo-terminal; script copies our stdin to it and its output
/// to our stdout. `None` (after saying why) when this machine cannot open a pseudo-terminal.
fn under_pty(test: &str, command: &str) -> Option<(Child, mpsc::Receiver<String>)> {
    let Ok(probe) = Command::new("script").args(["-qec", "true", "/dev/null"]).stdin(Stdio::null()).output() else {
        panic!("script (util-linux) is required for this test");
    };
    if !probe.status.success() {
        eprintln!(
            "SKIPPED {test}: `script` cannot open a pseudo-terminal here: {}",
            String::from_utf8_lossy(&probe.stderr)
        );
        return None;
    }
    let mut child = Command::new("script")
        .args(["-qefc", command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in out.lines() {
            let Ok(line) = line else { break };
            if tx.send(line.trim_end_matches('\r').to_string()).is_err() {
                break;
            }
        }
    });
    Some((child, rx))
}

/// Reads lines until one starts with `prefix`; fails after `STEP`.
fn expect_line(rx: &mpsc::Receiver<String>, prefix: &str, seen: &mut Vec<String>) -> String {
    let deadline = Instant::now() + STEP;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push(line.clone());
                if line.starts_with(prefix) {
                    return line;
                }
            }
            Err(e) => panic!("no line starting {prefix:?} ({e:?}); got {seen:?}"),
        }
    }
}

/// Kills a process we started (by pid) when dropped, so a failed test leaves nothing stopped behind.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: kill(2) on a pid this test started.
        unsafe {
            libc::kill(self.0, libc::SIGKILL);
        }
    }
}

#[test]
fn a_key_on_the_terminal_stops_the_server() {
    let port = support::free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let command = format!("exec {} http://{addr}/ --threads 2 --stats 0", env!("CARGO_BIN_EXE_hsys"));
    let Some((mut script, rx)) = under_pty("a_key_on_the_terminal_stops_the_server", &command) else {
        return;
    };
    let _guard = KillOnDrop(script.id() as i32);
    let mut seen = Vec::new();
    expect_line(&rx, "Press any key to exit", &mut seen);
    assert_eq!(Client::connect(addr).exchange(&get("/")).status, 200);
    script.stdin.as_mut().unwrap().write_all(b"q").unwrap();
    let status = exit_within(&mut script, STEP, "hsys after a key press");
    assert!(status.success(), "{status:?}");
    expect_line(&rx, "Stopped.", &mut seen);
}

#[test]
fn started_in_the_background_of_a_terminal_it_is_not_suspended() {
    let port = support::free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // `set -m`: job control, so `&` starts hsys in its own process group, not the terminal's
    // foreground one (as an interactive shell does).
    let command =
        format!("set -m; {} http://{addr}/ --threads 2 --stats 0 & echo \"pid $!\"; wait", env!("CARGO_BIN_EXE_hsys"));
    let Some((mut script, rx)) = under_pty("started_in_the_background_of_a_terminal_it_is_not_suspended", &command)
    else {
        return;
    };
    let _script = KillOnDrop(script.id() as i32);
    let mut seen = Vec::new();
    let pid: i32 = expect_line(&rx, "pid ", &mut seen)[4..].parse().unwrap();
    let _hsys = KillOnDrop(pid);
    expect_line(&rx, "Send SIGINT or SIGTERM to exit", &mut seen);
    let state = process_state(pid);
    assert!(state == "S" || state == "R", "hsys is not running (state {state})");
    assert_eq!(Client::connect(addr).exchange(&get("/")).status, 200);
    // SAFETY: kill(2) on the pid of the hsys this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = exit_within(&mut script, STEP, "the shell waiting for hsys");
    assert!(status.success(), "{status:?}");
    expect_line(&rx, "Stopped.", &mut seen);
}

/// The state letter of a process (`R`, `S`, `T` for stopped…), from /proc.
fn process_state(pid: i32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()).unwrap_or("?").to_string()
}

#[test]
fn suspended_and_resumed_in_the_background_it_keeps_serving_and_stops_cleanly() {
    let port = support::free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // A job-control shell runs hsys in the foreground (the inner `sh` execs it, keeping the pid
    // it printed); once it is suspended (as by Ctrl-Z) the shell puts it in the background.
    let command = format!(
        "set -m; sh -c 'echo pid $$; exec {} http://{addr}/ --threads 2 --stats 0'; echo suspended; bg; wait",
        env!("CARGO_BIN_EXE_hsys")
    );
    let test = "suspended_and_resumed_in_the_background_it_keeps_serving_and_stops_cleanly";
    let Some((mut script, rx)) = under_pty(test, &command) else {
        return;
    };
    let _script = KillOnDrop(script.id() as i32);
    let mut seen = Vec::new();
    let pid: i32 = expect_line(&rx, "pid ", &mut seen)[4..].parse().unwrap();
    let _hsys = KillOnDrop(pid);
    expect_line(&rx, "Press any key to exit", &mut seen);
    // SAFETY: kill(2) on the pid of the hsys this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTSTP) }, 0);
    expect_line(&rx, "suspended", &mut seen);
    // `bg` continues it; its key reader then reads from the background, which must not stop it.
    let deadline = Instant::now() + STEP;
    while process_state(pid) == "T" {
        assert!(Instant::now() < deadline, "hsys was not continued");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let state = process_state(pid);
    assert!(state == "S" || state == "R", "hsys is not running in the background (state {state}): {seen:?}");
    assert_eq!(Client::connect(addr).exchange(&get("/")).status, 200);
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = exit_within(&mut script, STEP, "the shell waiting for hsys");
    assert!(status.success(), "{status:?}");
    expect_line(&rx, "Stopped.", &mut seen);
}
