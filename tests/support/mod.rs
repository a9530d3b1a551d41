//! Shared test helpers: start a server on 127.0.0.1:0 (in-process or the real binary), talk raw HTTP.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Time any single test step may take before the test fails instead of hanging.
pub const STEP: Duration = Duration::from_secs(10);

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A raw client connection.
pub struct Client {
    pub reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(STEP)).unwrap();
        s.set_nodelay(true).unwrap();
        Client { reader: BufReader::new(s) }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).expect("write");
    }

    /// Reads one response; `head_only` for answers to HEAD.
    pub fn read(&mut self, head_only: bool) -> Resp {
        self.try_read(head_only).expect("a response")
    }

    /// Reads one response, `None` at end-of-file before a status line.
    pub fn try_read(&mut self, head_only: bool) -> Option<Resp> {
        let mut line = String::new();
        if self.reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let status: u16 = line.split(' ').nth(1)?.parse().ok()?;
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h).ok()?;
            let h = h.trim_end_matches(['\r', '\n']);
            if h.is_empty() {
                break;
            }
            let (n, v) = h.split_once(':')?;
            headers.push((n.to_string(), v.trim().to_string()));
        }
        let mut resp = Resp { status, headers, body: Vec::new() };
        let len: usize = resp.header("content-length").map_or(0, |v| v.parse().unwrap());
        if !head_only && status >= 200 && status != 204 && status != 304 {
            resp.body = vec![0; len];
            self.reader.read_exact(&mut resp.body).ok()?;
        }
        Some(resp)
    }

    /// Whether the server closed the connection: end-of-file or a reset within the step time.
    /// A connection still open when the step time runs out (the read times out) is not closed,
    /// nor is one that sends more bytes.
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        match self.reader.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
            ),
        }
    }

    /// A raw exchange: send `bytes`, read one response.
    pub fn exchange(&mut self, bytes: &[u8]) -> Resp {
        self.send(bytes);
        self.read(false)
    }
}

/// A free port on 127.0.0.1 (released before return; a tiny race with other processes).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The real binary. Only the tests of the package that builds it (cli/, `hsys-cli`) have it:
/// cargo builds a package's binaries before its integration tests and names them in
/// `CARGO_BIN_EXE_<name>`, which the library's own tests do not get.
pub fn bin() -> Command {
    let Some(path) = option_env!("CARGO_BIN_EXE_hsys") else {
        panic!("a test that starts the hsys binary belongs in cli/tests/ (the package that builds it)");
    };
    Command::new(path)
}

/// The binary, started and answering on `127.0.0.1:<port>`; killed on drop.
pub struct Running {
    pub child: Child,
    pub addr: SocketAddr,
    /// Collects the child's stdout (read from the start, to see it say it listens).
    stdout: Option<std::thread::JoinHandle<String>>,
}

impl Running {
    pub fn start(extra: &[&str]) -> Running {
        // A port found free may be taken by another test's server before ours binds it: ours
        // then exits (port in use) and another free port is tried.
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = bin();
            cmd.arg(format!("http://127.0.0.1:{port}/")).args(["--threads", "2"]).args(extra);
            if let Some(running) = Running::spawn(cmd, format!("127.0.0.1:{port}").parse().unwrap()) {
                return running;
            }
        }
        panic!("hsys did not start on any of 5 free ports");
    }

    /// Spawns `cmd` (the binary, listening on `addr`) and waits until it says it listens, so a
    /// connection to `addr` reaches this process and not another that held the port; `None` if
    /// it exits first (its port was taken, say).
    pub fn spawn(mut cmd: Command, addr: SocketAddr) -> Option<Running> {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn hsys");
        let stdout = child.stdout.take().expect("piped stdout");
        let (listening, told) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let (mut out, mut line) = (String::new(), String::new());
            let mut r = BufReader::new(stdout);
            while r.read_line(&mut line).unwrap_or(0) > 0 {
                if line.starts_with("Listening for requests on the following url: ") {
                    let _ = listening.send(());
                }
                out.push_str(&line);
                line.clear();
            }
            out
        });
        match told.recv_timeout(STEP) {
            Ok(()) => Some(Running { child, addr, stdout: Some(reader) }),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let _ = child.wait();
                None
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("hsys did not start");
            }
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0);
    }

    /// Waits for the process to exit, returning its status and stdout.
    pub fn wait(mut self) -> (std::process::ExitStatus, String, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // (An `Option` only so it can be taken out of a value that implements `Drop`.)
                let out = self.stdout.take().map(|reader| reader.join().unwrap()).unwrap_or_default();
                let mut err = String::new();
                self.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
                return (status, out, err);
            }
            assert!(Instant::now() < deadline, "hsys did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sample's body: `0123456789` repeated to `n` bytes.
pub fn digits(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'0' + (i % 10) as u8).collect()
}

/// `GET <path>` with a Host header.
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

/// A one-thread server on 127.0.0.1 (from `builder`, for its limits and timeouts) whose only URL
/// group, `http://+:<port>/`, is served by `queue`.
pub fn queue_server(queue: &hsys::RequestQueue, builder: hsys::ServerBuilder) -> (hsys::Server, SocketAddr) {
    let port = free_port();
    let mut groups = hsys::UrlGroups::new();
    let g = groups.create_group(hsys::Target::Queue(queue.clone()));
    groups.add_url(g, &format!("http://+:{port}/")).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let server = builder.threads(1).bind(addr).serve_groups(groups).expect("serve_groups");
    (server, addr)
}

/// Raises this process's descriptor limit as far as allowed; the limit now in force.
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit read and write only the struct we pass.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

/// What clients looping requests over keep-alive connections saw across a server's stop.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Requests written whole.
    pub sent: u64,
    /// Answers read.
    pub answered: u64,
    /// Clients whose loop an answer with `Connection: close` ended (the clean end).
    pub closed_by_answer: u64,
    /// Requests written whole whose connection then ended (end-of-file or reset) without an answer.
    pub lost: u64,
    /// Clients whose connection failed before a request was written whole (it was not sent).
    pub ended_before_send: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, t: Tally) {
        self.sent += t.sent;
        self.answered += t.answered;
        self.closed_by_answer += t.closed_by_answer;
        self.lost += t.lost;
        self.ended_before_send += t.ended_before_send;
    }
}

/// `n` clients on `addr`, each sending `GET /` back to back over one keep-alive connection (the
/// next request as soon as the last answer is read), until an answer says `Connection: close` or
/// the connection ends. Returns once every client has had an answer; `stop` then ends the
/// server, and the clients' joined tally is returned.
pub fn requests_across_a_stop(addr: SocketAddr, n: usize, stop: impl FnOnce()) -> Tally {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};
    let started = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(n + 1));
    let clients: Vec<_> = (0..n)
        .map(|_| {
            let (started, barrier) = (Arc::clone(&started), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let mut t = Tally::default();
                let mut c = Client::connect(addr);
                barrier.wait();
                loop {
                    if c.reader.get_mut().write_all(&get("/")).is_err() {
                        t.ended_before_send += 1;
                        break;
                    }
                    t.sent += 1;
                    match c.try_read(false) {
                        Some(r) => {
                            t.answered += 1;
                            if t.answered == 1 {
                                started.fetch_add(1, Ordering::Relaxed);
                            }
                            if r.header("connection") == Some("close") {
                                t.closed_by_answer += 1;
                                break;
                            }
                        }
                        None => {
                            t.lost += 1;
                            break;
                        }
                    }
                }
                t
            })
        })
        .collect();
    barrier.wait();
    let deadline = Instant::now() + STEP;
    while started.load(Ordering::Relaxed) < n {
        assert!(Instant::now() < deadline, "the clients did not get going");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Some more requests back to back on every connection, then the stop in the middle of them.
    std::thread::sleep(Duration::from_millis(100));
    stop();
    let mut total = Tally::default();
    for c in clients {
        total += c.join().expect("client thread");
    }
    total
}

/// Reads what arrives within `wait`, until end-of-file or the wait runs out.
pub fn read_for(s: &mut TcpStream, wait: Duration) -> Vec<u8> {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// Whether the external client `tool` runs (`tool --version`). Where it does not, a test that
/// needs it is skipped with a note, except under CI (`CI` set), where `.ci/run` installs it and
/// its absence is a failure.
pub fn have_tool(tool: &str, installed_by: &str) -> bool {
    if Command::new(tool).arg("--version").output().is_ok() {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "{tool} is not on PATH under CI ({installed_by} installs it)");
    println!("{tool} is not on PATH: skipped ({installed_by} installs it)");
    false
}

/// Waits up to `bound` for `child` to exit; kills it and fails the test if it does not.
pub fn exit_within(child: &mut Child, bound: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A fresh directory of its own under the system's temporary one (`name` tells the test).
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().ok();
    let stem = exe.as_deref().and_then(|p| p.file_stem()).and_then(|s| s.to_str()).unwrap_or("test");
    let dir = std::env::temp_dir().join(format!("hsys-{stem}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A W3C log file's lines, each as its fields by name (the `#Fields:` directive in force); a
/// non-empty file without a `#Fields:` directive fails the test.
pub fn w3c_lines(path: &std::path::Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut fields: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    let mut directives = 0;
    for line in text.lines() {
        if let Some(list) = line.strip_prefix("#Fields: ") {
            fields = list.split(' ').map(str::to_owned).collect();
            directives += 1;
        } else if !line.starts_with('#') {
            let values: Vec<&str> = line.split(' ').collect();
            assert_eq!(values.len(), fields.len(), "{line:?} against {fields:?}");
            lines.push(fields.iter().cloned().zip(values.into_iter().map(str::to_owned)).collect());
        }
    }
    assert!(directives > 0 || text.is_empty(), "no #Fields directive in {text}");
    lines
}
