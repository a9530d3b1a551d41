//! The memory bounds, measured on the real binary: connections each holding a maximal unfinished
//! request head cost the server what its limits say, and it goes on serving; slow readers of a
//! large prepared answer share its body instead of each holding a copy.
//! (On the debug build `cargo test` makes; the bounds hold for the release build too.)

// The helpers the library's tests use too (this package owns the tests that start the binary).
#[path = "../../tests/support/mod.rs"]
mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{Client, Running, digits, get};

/// Connections held at once.
const WANTED: usize = 10_000;
/// `max_request_bytes` by default (`hsys::limits::DEFAULT_MAX_REQUEST_BYTES`): the most a head
/// may grow to; one byte less is the largest head the server must keep waiting for.
const MAX_HEAD: usize = hsys::limits::DEFAULT_MAX_REQUEST_BYTES;
/// What one such connection may cost the server: the 16 KiB head its `inbuf` keeps (16,383
/// bytes, one 16 KiB allocator chunk), plus 4 KiB for the rest: its state in the slab (264
/// bytes, and the slab's spare capacity when it last doubled), its timer entry (12 bytes), the
/// allocator's headers and rounding, and the granularity of pages in RSS.
const BOUND_PER_CONNECTION: usize = MAX_HEAD + 4 * 1024;

/// The server's resident set, in bytes (`VmRSS` of `/proc/<pid>/status`).
fn rss(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server's /proc status");
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a VmRSS line");
    kib * 1024
}

/// The server's resident set once it has stopped growing (it is still reading what was sent).
fn settled_rss(pid: u32) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = rss(pid);
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = rss(pid);
        if now.abs_diff(last) < 64 * 1024 || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

/// A request line and header bytes, `len` in all, with no blank line: a head that never ends.
fn unfinished_head(len: usize) -> Vec<u8> {
    let mut head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Pad: ".to_vec();
    head.resize(len, b'a');
    head
}

#[test]
fn connections_holding_maximal_unfinished_heads_cost_what_the_limits_say() {
    // The server is another process: each side holds one descriptor per connection.
    let fds = support::raise_fd_limit() as usize;
    // The figure, not a smaller one: a machine that cannot open them fails the test.
    assert!(fds >= WANTED + 200, "descriptor limit {fds}: {WANTED} connections need {}", WANTED + 200);
    let n = WANTED;
    let srv = Running::start(&["--stats", "0"]);
    let pid = srv.child.id();
    // Warm: each I/O thread has served a request, so its one-time buffers are in the baseline.
    for _ in 0..4 {
        assert_eq!(Client::connect(srv.addr).exchange(&get("/")).status, 200);
    }
    let before = settled_rss(pid);

    let started = Instant::now();
    let head = unfinished_head(MAX_HEAD - 1);
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(srv.addr).expect("connect");
        s.write_all(&head).expect("send the head");
        held.push(s);
    }
    let opened = started.elapsed();
    let after = settled_rss(pid);
    let per_connection = after.saturating_sub(before) / n;
    eprintln!(
        "memory: {n} connections x {} bytes of unfinished head (opened in {opened:.1?}): server RSS {:.1} MiB -> \
         {:.1} MiB, {per_connection} bytes per connection (bound {BOUND_PER_CONNECTION})",
        head.len(),
        before as f64 / (1 << 20) as f64,
        after as f64 / (1 << 20) as f64,
    );

    // While they are held, a fresh client is answered.
    let mut fresh = Client::connect(srv.addr);
    assert_eq!(fresh.exchange(&get("/")).status, 200);
    // And they are held: no answer, no close (header_wait is 120 s by default).
    for s in &mut held {
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 64];
        match s.read(&mut b) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            other => panic!("a held connection was answered or closed: {other:?}"),
        }
    }
    assert!(
        per_connection < BOUND_PER_CONNECTION,
        "{per_connection} bytes per connection, over {BOUND_PER_CONNECTION}"
    );
    eprintln!("memory: whole test {:.1?}", started.elapsed());
}

/// The answer body the slow readers ask for: 256 KiB, as in the measurement.
const BODY: usize = 256 * 1024;
/// A slow reader's receive buffer, set before it connects: its window stays below a segment,
/// as slowhttptest's slow-read mode (`-X -w 512 -y 1024`) sets it, so the server's socket does not
/// grow a send buffer of megabytes that would take the answers the server must keep.
const READER_BUFFER: usize = 1024;

/// A connection to `addr` with a [`READER_BUFFER`] receive buffer.
fn slow_reader(addr: std::net::SocketAddr) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
    s.set_recv_buffer_size(READER_BUFFER).expect("SO_RCVBUF");
    s.connect(&addr.into()).expect("connect");
    s.into()
}

/// Slow readers held at once.
const SLOW_READERS: usize = 200;
/// Requests each slow reader pipelines: 2 MiB of answers, more than the server's socket takes
/// (its send buffer grows to about 1.7 MiB on loopback), so the server always has an answer
/// left for each one to send.
const PIPELINED: usize = 8;
/// What one slow reader may cost the server: a small fraction of the body. It holds its pipelined
/// requests (`inbuf`), its state, a reference into the shared body and its send-rate window;
/// a private copy of the answer (the 220 KiB each one held before) is far over it.
const BOUND_PER_SLOW_READER: usize = BODY / 8;

#[test]
fn slow_readers_of_a_large_prepared_answer_share_it_instead_of_each_holding_a_copy() {
    let fds = support::raise_fd_limit() as usize;
    assert!(fds >= SLOW_READERS + 200, "descriptor limit {fds}");
    let srv = Running::start(&["--stats", "0", "--body-size", &BODY.to_string()]);
    let pid = srv.child.id();
    // Warm: each I/O thread has served the answer, so its one-time buffers are in the baseline.
    for _ in 0..4 {
        assert_eq!(Client::connect(srv.addr).exchange(&get("/")).body.len(), BODY);
    }
    let before = settled_rss(pid);

    let started = Instant::now();
    let requests: Vec<u8> = (0..PIPELINED).flat_map(|_| get("/")).collect();
    let mut held = Vec::with_capacity(SLOW_READERS);
    for _ in 0..SLOW_READERS {
        let mut s = slow_reader(srv.addr);
        s.write_all(&requests).expect("send the requests");
        held.push(s);
    }
    let after = settled_rss(pid);
    let per_reader = after.saturating_sub(before) / SLOW_READERS;
    eprintln!(
        "memory: {SLOW_READERS} slow readers x {PIPELINED} pipelined {BODY}-byte prepared answers: server RSS \
         {:.1} MiB -> {:.1} MiB, {per_reader} bytes per reader (bound {BOUND_PER_SLOW_READER})",
        before as f64 / (1 << 20) as f64,
        after as f64 / (1 << 20) as f64,
    );
    assert!(per_reader < BOUND_PER_SLOW_READER, "{per_reader} bytes per slow reader, over {BOUND_PER_SLOW_READER}");

    // While they are held, a fresh client is answered.
    assert_eq!(Client::connect(srv.addr).exchange(&get("/")).body, digits(BODY));
    drop(held);
    eprintln!("memory: whole test {:.1?}", started.elapsed());
}
