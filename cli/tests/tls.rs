//! The `hsys` binary over TLS, driven by real clients (`curl`, `openssl s_client`): certificates
//! by port and by server name, resumption, client certificates, usage errors, SIGHUP reloads.

// The helpers the library's tests use too (this package owns the tests that start the binary).
#[path = "../../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use support::{STEP, bin, digits, free_port};

/// The test certificates (see the repository's tests/fixtures/tls/).
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/tls");

/// A fixture's path.
fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

/// The stats header of a server with https prefixes.
const TLS_HEADER: &str = "Requests Received,   Responses Sent,   TLS Handshakes,      TLS Resumed,       TLS Failed";

/// A stats line with TLS columns: requests, responses, handshakes, resumed, failed.
fn tls_line(n: [u64; 5]) -> String {
    format!("{:>17},{:>17},{:>17},{:>17},{:>17}", n[0], n[1], n[2], n[3], n[4])
}

/// A line the binary printed.
#[derive(Debug)]
enum Line {
    Out(String),
    Err(String),
}

/// The binary serving `https://localhost:<port>/` with the given options, its output read line
/// by line as it comes; killed on drop.
struct Hsys {
    child: Child,
    port: u16,
    lines: Receiver<Line>,
    /// Every line seen so far, for messages.
    seen: Vec<String>,
}

impl Hsys {
    /// Starts `https://localhost:<port>/` (a free port) with `--cert`/`--key` localhost and
    /// `extra`, and waits until it says it listens.
    fn start(extra: &[&str]) -> Hsys {
        let cert = [fixture("localhost.pem"), fixture("localhost.key")];
        let args: Vec<&str> =
            ["--cert", &cert[0], "--key", &cert[1]].into_iter().chain(extra.iter().copied()).collect();
        Hsys::start_with("https", &args)
    }

    /// Starts `<scheme>://localhost:<port>/` (a free port) with `args` only.
    fn start_with(scheme: &str, args: &[&str]) -> Hsys {
        // A port found free may be taken by another test's server before ours binds it: ours
        // then exits (port in use) and another free port is tried.
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = bin();
            cmd.arg(format!("{scheme}://localhost:{port}/")).args(["--threads", "2"]).args(args);
            if !args.contains(&"--stats") {
                cmd.args(["--stats", "0"]);
            }
            let mut hsys = Hsys::spawn(cmd, port);
            let url = format!("Listening for requests on the following url: {scheme}://localhost:{port}/");
            if hsys.wait_line(|l| matches!(l, Line::Out(s) if *s == url)).is_some() {
                return hsys;
            }
            // Its output ended: it exited, which only a port taken meanwhile (code 1) excuses.
            let status = wait_for(&mut hsys.child, "hsys");
            assert_eq!(status.code(), Some(1), "hsys did not start; it said:\n{}", hsys.seen.join("\n"));
        }
        panic!("hsys did not start on any of 5 free ports");
    }

    /// Spawns `cmd`, forwarding its stdout and stderr lines.
    fn spawn(mut cmd: Command, port: u16) -> Hsys {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn hsys");
        let (tx, lines) = mpsc::channel();
        let out = BufReader::new(child.stdout.take().expect("piped stdout"));
        let err = BufReader::new(child.stderr.take().expect("piped stderr"));
        let tx2 = tx.clone();
        std::thread::spawn(move || out.lines().map_while(Result::ok).try_for_each(|l| tx.send(Line::Out(l))));
        std::thread::spawn(move || err.lines().map_while(Result::ok).try_for_each(|l| tx2.send(Line::Err(l))));
        Hsys { child, port, lines, seen: Vec::new() }
    }

    /// Waits (at most [`STEP`]) for a line that `want` accepts; `None` if the output ended first.
    fn wait_line(&mut self, want: impl Fn(&Line) -> bool) -> Option<String> {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let ok = want(&line);
                    let (Line::Out(text) | Line::Err(text)) = line;
                    self.seen.push(text.clone());
                    if ok {
                        return Some(text);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return None,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no such line within {STEP:?}; seen:\n{}", self.seen.join("\n"))
                }
            }
        }
    }

    /// Waits for a stdout line starting with `prefix`.
    fn expect_out(&mut self, prefix: &str) -> String {
        let seen = self.wait_line(|l| matches!(l, Line::Out(s) if s.starts_with(prefix)));
        seen.unwrap_or_else(|| panic!("no stdout line `{prefix}…`; seen:\n{}", self.seen.join("\n")))
    }

    /// Waits for a stderr line containing `part`.
    fn expect_err(&mut self, part: &str) -> String {
        let seen = self.wait_line(|l| matches!(l, Line::Err(s) if s.contains(part)));
        seen.unwrap_or_else(|| panic!("no stderr line with `{part}`; seen:\n{}", self.seen.join("\n")))
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    /// Stops it (SIGTERM) and returns its exit status and every stdout line.
    fn stop(mut self) -> (ExitStatus, Vec<String>) {
        self.signal(libc::SIGTERM);
        let mut out = Vec::new();
        let deadline = Instant::now() + STEP;
        loop {
            match self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Line::Out(l)) => out.push(l),
                Ok(Line::Err(l)) => self.seen.push(l),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("hsys did not stop; seen:\n{}", self.seen.join("\n")),
            }
        }
        let status = wait_for(&mut self.child, "hsys");
        (status, out)
    }
}

impl Drop for Hsys {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (at most [`STEP`]) for `child` to exit; kills it and fails past that.
fn wait_for(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + STEP;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not exit within {STEP:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `tool` (which must be installed: `.ci/run` installs curl and openssl) with `args`,
/// `input` on its stdin, bounded by [`STEP`].
fn run(tool: &str, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool} is required for this test (.ci/run installs it): {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    // A tool that exits before reading all of it (a failed handshake) is not an error here.
    let _ = stdin.write_all(input);
    drop(stdin);
    // Read both pipes on threads so neither fills while we wait.
    let mut pipes = (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = pipes.0.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = pipes.1.read_to_end(&mut v);
        v
    });
    let status = wait_for(&mut child, tool);
    Output { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

/// `curl` with `args`; `--max-time` bounds it.
fn curl(args: &[&str]) -> Output {
    let mut all = vec!["-s", "--max-time", "5"];
    all.extend_from_slice(args);
    run("curl", &all, b"")
}

/// `openssl s_client` to 127.0.0.1:`port` trusting the test CA, with `extra`, sending `input`;
/// its stdout and stderr together.
fn s_client(port: u16, extra: &[&str], input: &[u8]) -> String {
    let connect = format!("127.0.0.1:{port}");
    let ca = fixture("ca.pem");
    let mut args = vec!["s_client", "-connect", &connect, "-CAfile", &ca];
    args.extend_from_slice(extra);
    let out = run("openssl", &args, input);
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The subject line `s_client` prints for the server's certificate.
fn subject(port: u16, extra: &[&str]) -> String {
    let out = s_client(port, extra, b"");
    let line = out.lines().find(|l| l.starts_with("subject="));
    line.unwrap_or_else(|| panic!("no subject in:\n{out}")).to_owned()
}

/// One GET for `/` with `Host: localhost`, closing the connection after it when `close`.
fn get(close: bool) -> Vec<u8> {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!("GET / HTTP/1.1\r\nHost: localhost\r\n{connection}\r\n").into_bytes()
}

/// The body of every answer: the sample's 512 digits.
fn body() -> String {
    String::from_utf8(digits(512)).unwrap()
}

#[test]
fn curl_gets_the_body_over_tls_with_alpn_http11() {
    let srv = Hsys::start(&[]);
    let url = format!("https://localhost:{}/", srv.port);
    let out = curl(&["--cacert", &fixture("ca.pem"), &url]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), body());
    let out = curl(&["--http1.1", "-v", "-o", "/dev/null", "--cacert", &fixture("ca.pem"), &url]);
    assert!(out.status.success(), "{out:?}");
    let verbose = String::from_utf8_lossy(&out.stderr);
    // curl 7.88: `* ALPN: server accepted http/1.1` (older: `ALPN, server accepted to use http/1.1`).
    assert!(
        verbose.lines().any(|l| l.contains("ALPN") && l.contains("server accepted") && l.contains("http/1.1")),
        "{verbose}"
    );
    assert!(verbose.contains("< HTTP/1.1 200 OK"), "{verbose}");
}

#[test]
fn sni_chooses_the_host_certificate_else_the_port_default() {
    let alt = format!("alt.test={},{}", fixture("alt.pem"), fixture("alt.key"));
    let srv = Hsys::start(&["--host-cert", &alt]);
    assert_eq!(subject(srv.port, &["-servername", "alt.test"]), "subject=CN = alt.test");
    // Case-insensitive, as DNS names are.
    assert_eq!(subject(srv.port, &["-servername", "ALT.test"]), "subject=CN = alt.test");
    assert_eq!(subject(srv.port, &["-servername", "other.test"]), "subject=CN = localhost");
    assert_eq!(subject(srv.port, &["-noservername"]), "subject=CN = localhost");
    // Each verifies against the test CA.
    let out = s_client(srv.port, &["-servername", "alt.test", "-verify_return_error"], b"");
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
}

#[test]
fn sessions_resume_by_ticket_and_by_session_id() {
    let srv = Hsys::start(&[]);
    let dir = TempDir::new("resume");
    let sess = dir.path().join("session.pem");
    let sess = sess.to_str().unwrap();
    // TLS 1.3: the ticket comes after the handshake; the answer (read to the close) brings it.
    let out = s_client(srv.port, &["-sess_out", sess, "-ign_eof"], &get(true));
    assert!(out.contains("\nNew, TLSv1.3") && out.contains("HTTP/1.1 200 OK"), "{out}");
    let out = s_client(srv.port, &["-sess_in", sess], b"");
    assert!(out.contains("\nReused, TLSv1.3"), "{out}");
    // TLS 1.2: five reconnections, each resumed.
    let out = s_client(srv.port, &["-tls1_2", "-reconnect"], b"");
    assert_eq!(out.matches("\nReused, TLSv1.2").count(), 5, "{out}");
    let (status, out) = srv.stop();
    assert!(status.success(), "{status:?}");
    // 1 + 1 + 6 handshakes, 6 of them resumed; one request.
    assert_eq!(out.last().map(String::as_str), Some(tls_line([1, 1, 8, 6, 0]).as_str()), "{out:?}");
}

#[test]
fn a_required_client_certificate_is_checked() {
    let srv = Hsys::start(&["--client-ca", &fixture("client-ca.pem")]);
    let out = s_client(srv.port, &["-ign_eof"], &get(true));
    assert!(!out.contains("HTTP/1.1"), "answered without a client certificate:\n{out}");
    assert!(out.contains("certificate required"), "{out}");
    let (cert, key) = (fixture("client.pem"), fixture("client.key"));
    let out = s_client(srv.port, &["-cert", &cert, "-key", &key, "-ign_eof"], &get(true));
    assert!(out.contains("HTTP/1.1 200 OK") && out.contains(&body()), "{out}");
    // A certificate from another CA (the server's own) is refused too.
    let (cert, key) = (fixture("alt.pem"), fixture("alt.key"));
    let out = s_client(srv.port, &["-cert", &cert, "-key", &key, "-ign_eof"], &get(true));
    assert!(!out.contains("HTTP/1.1"), "answered with an untrusted client certificate:\n{out}");
    let (status, out) = srv.stop();
    assert!(status.success(), "{status:?}");
    let last = out.last().cloned().unwrap_or_default();
    assert!(last.ends_with(" (protocol 2)"), "{out:?}");
}

#[test]
fn an_optional_client_certificate_may_be_left_out() {
    let srv = Hsys::start(&["--client-ca", &fixture("client-ca.pem"), "--client-cert", "optional"]);
    let out = s_client(srv.port, &["-ign_eof"], &get(true));
    assert!(out.contains("HTTP/1.1 200 OK"), "{out}");
    let (cert, key) = (fixture("client.pem"), fixture("client.key"));
    let out = s_client(srv.port, &["-cert", &cert, "-key", &key, "-ign_eof"], &get(true));
    assert!(out.contains("HTTP/1.1 200 OK"), "{out}");
}

#[test]
fn stats_have_tls_columns_and_plaintext_gets_no_answer() {
    let mut srv = Hsys::start(&["--stats", "60"]);
    srv.expect_out(TLS_HEADER);
    let url = format!("https://localhost:{}/", srv.port);
    for _ in 0..2 {
        assert!(curl(&["--cacert", &fixture("ca.pem"), &url]).status.success());
    }
    // Plaintext HTTP to the TLS port: closed unanswered.
    let out = curl(&["-i", &format!("http://127.0.0.1:{}/", srv.port)]);
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    let (status, out) = srv.stop();
    assert!(status.success(), "{status:?}");
    let n = out.len();
    assert!(n >= 2, "{out:?}");
    assert_eq!(out[n - 2], format!("Stopped. {TLS_HEADER}"));
    assert_eq!(out[n - 1], format!("{} (not TLS 1)", tls_line([2, 2, 2, 0, 1])));
}

#[test]
fn plain_servers_keep_two_columns_and_sighup_says_there_is_nothing_to_reload() {
    let mut srv = Hsys::start_with("http", &["--stats", "60"]);
    srv.expect_out("Requests Received,   Responses Sent");
    srv.signal(libc::SIGHUP);
    srv.expect_err("no https:// prefix");
    let out = curl(&[&format!("http://localhost:{}/", srv.port)]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), body());
    let (status, out) = srv.stop();
    assert!(status.success(), "{status:?}");
    assert_eq!(out.last().map(String::as_str), Some(format!("{:>17},{:>17}", 1, 1).as_str()), "{out:?}");
}

#[test]
fn certificate_problems_exit_2_naming_the_file() {
    let url = format!("https://localhost:{}/", free_port());
    let (pem, key) = (fixture("localhost.pem"), fixture("localhost.key"));
    let nope = fixture("nope.pem");
    let alt_key = fixture("alt.key");
    let host_nope = format!("alt.test={nope},{key}");
    let cases: [(&[&str], &str); 6] = [
        (&["--cert", &nope, "--key", &key], "nope.pem"),
        (&["--cert", &pem, "--key", &nope], "nope.pem"),
        (&["--cert", &pem, "--key", &alt_key], "alt.key"),
        (&["--cert", &key, "--key", &key], "localhost.key"),
        (&["--cert", &pem, "--key", &key, "--client-ca", &nope], "nope.pem"),
        (&["--cert", &pem, "--key", &key, "--host-cert", &host_nope], "nope.pem"),
    ];
    for (args, file) in cases {
        let out = bin().arg(&url).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(file), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(out.stdout.is_empty(), "{args:?} started");
    }
    // An https prefix without a certificate.
    let out = bin().arg(&url).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&url) && err.contains("--cert"), "{err}");
    // Half a pair, a mode without a CA, a malformed --host-cert: usage errors.
    let usage: [&[&str]; 4] = [
        &["--cert", &pem],
        &["--key", &key],
        &["--cert", &pem, "--key", &key, "--client-cert", "optional"],
        &["--cert", &pem, "--key", &key, "--host-cert", "alt.test"],
    ];
    for args in usage {
        let out = bin().arg(&url).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

/// A directory of its own under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("hsys-tls-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An `openssl s_client -quiet` connection kept open: requests in, answers out.
struct KeepAlive {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Receiver<Vec<u8>>,
    got: Vec<u8>,
}

impl KeepAlive {
    fn open(port: u16) -> KeepAlive {
        let connect = format!("127.0.0.1:{port}");
        let mut child = Command::new("openssl")
            .args(["s_client", "-quiet", "-connect", &connect, "-CAfile", &fixture("ca.pem")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl is required for this test (.ci/run installs it)");
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("piped stdout");
        let (tx, out) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
        });
        KeepAlive { child, stdin, out, got: Vec::new() }
    }

    /// Sends a keep-alive GET and waits (at most [`STEP`]) for a whole `200` answer.
    fn get(&mut self) {
        let stdin = self.stdin.as_mut().expect("open");
        stdin.write_all(&get(false)).unwrap();
        stdin.flush().unwrap();
        let deadline = Instant::now() + STEP;
        let want = body();
        loop {
            let text = String::from_utf8_lossy(&self.got).into_owned();
            if let Some(end) = text.find(&want) {
                assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
                self.got.drain(..end + want.len());
                return;
            }
            match self.out.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(bytes) => self.got.extend_from_slice(&bytes),
                Err(e) => panic!("no answer on the kept-alive connection ({e:?}); got:\n{text}"),
            }
        }
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sighup_reloads_the_certificate_files_and_keeps_open_connections() {
    let dir = TempDir::new("reload");
    for name in ["localhost.pem", "localhost.key"] {
        std::fs::copy(fixture(name), dir.path().join(name)).unwrap();
    }
    let (pem, key) = (dir.path().join("localhost.pem"), dir.path().join("localhost.key"));
    let mut srv = Hsys::start_with("https", &["--cert", pem.to_str().unwrap(), "--key", key.to_str().unwrap()]);
    assert_eq!(subject(srv.port, &[]), "subject=CN = localhost");
    let mut kept = KeepAlive::open(srv.port);
    kept.get();

    // The files replaced: new handshakes get the new certificate, the open connection goes on.
    std::fs::copy(fixture("alt.pem"), &pem).unwrap();
    std::fs::copy(fixture("alt.key"), &key).unwrap();
    srv.signal(libc::SIGHUP);
    srv.expect_out("SIGHUP: certificates reloaded");
    assert_eq!(subject(srv.port, &[]), "subject=CN = alt.test");
    kept.get();

    // A bad file: the certificates in use are kept, and stderr says why, naming the file.
    std::fs::write(&pem, b"not a certificate\n").unwrap();
    srv.signal(libc::SIGHUP);
    let said = srv.expect_err("SIGHUP");
    assert!(said.contains(pem.to_str().unwrap()) && said.contains("kept"), "{said}");
    assert_eq!(subject(srv.port, &[]), "subject=CN = alt.test");
    kept.get();
    drop(kept);
    let (status, _) = srv.stop();
    assert!(status.success(), "{status:?}");
}
