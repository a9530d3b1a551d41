//! The fast path allocates nothing per request: a counting global allocator watches the I/O thread.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use hsys::{Request, Response, Server, Target, UrlGroups};
use support::{Client, get};

struct Counting;

static WORKER_ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set by the handler: this thread is an hsys I/O thread.
    static IS_WORKER: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if IS_WORKER.try_with(Cell::get).unwrap_or(false) {
            WORKER_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if IS_WORKER.try_with(Cell::get).unwrap_or(false) {
            WORKER_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The sample's handler: marks the thread, allocates on `/alloc` only (to prove it is counted).
fn handler(body: Vec<u8>) -> impl Fn(&Request<'_>, &mut Response<'_>) + Send + Sync + 'static {
    move |req: &Request<'_>, res: &mut Response<'_>| {
        IS_WORKER.set(true);
        if req.path() == "/alloc" {
            std::hint::black_box(vec![0u8; 10]);
        }
        let _ = res.header("Content-Type", "text/plain").body(&body);
    }
}

/// 1,300 requests (500 one at a time, 50 batches of 16 pipelined) on `addr` must not allocate on
/// the I/O thread; an allocating handler must be seen by the counter.
fn assert_no_allocation(addr: std::net::SocketAddr) {
    let mut c = Client::connect(addr);
    // Warm up: the thread's buffers reach their working size.
    for _ in 0..10 {
        assert_eq!(c.exchange(&get("/")).status, 200);
    }
    let pipelined: Vec<u8> = (0..16).flat_map(|_| get("/p")).collect();
    c.send(&pipelined);
    for _ in 0..16 {
        c.read(false);
    }
    let before = WORKER_ALLOCS.load(Ordering::Relaxed);
    for _ in 0..500 {
        assert_eq!(c.exchange(&get("/")).status, 200);
    }
    for _ in 0..50 {
        c.send(&pipelined);
        for _ in 0..16 {
            assert_eq!(c.read(false).status, 200);
        }
    }
    let after = WORKER_ALLOCS.load(Ordering::Relaxed);
    assert_eq!(after - before, 0, "allocations on the I/O thread during 1,300 requests");
    // The counter does see the I/O thread: an allocating handler is counted.
    assert_eq!(c.exchange(&get("/alloc")).status, 200);
    assert!(WORKER_ALLOCS.load(Ordering::Relaxed) > after);
}

/// Every case in one test: the counter is global, so two servers counting at once would see each
/// other's allocations.
#[test]
fn allocations_per_request_on_the_inline_paths() {
    // (HTTP/2 first: a server dropped before it would still be stopping, on threads counted.)
    no_allocation_per_request_over_h2c();
    no_allocation_per_request_in_cleartext();
    tls_allocations_per_request_are_bounded();
}

/// HTTP/2 (h2c): a GET on one connection, one at a time and 16 streams at once, allocates
/// nothing on the I/O thread once the connection's buffers have grown (its HPACK tables included).
fn no_allocation_per_request_over_h2c() {
    use std::io::{Read, Write};
    let server = Server::builder().threads(1).bind("127.0.0.1:0").serve(handler(vec![b'7'; 512])).unwrap();
    let mut s = std::net::TcpStream::connect(server.local_addrs()[0]).unwrap();
    let frame = |kind: u8, flags: u8, stream: u32, payload: &[u8]| {
        let n = payload.len();
        let mut v = vec![(n >> 16) as u8, (n >> 8) as u8, n as u8, kind, flags];
        v.extend_from_slice(&stream.to_be_bytes());
        v.extend_from_slice(payload);
        v
    };
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend(frame(0x4, 0, 0, &[]));
    // The client's connection window, opened wide: 1,300 answers of 512 bytes need 650 KB.
    hello.extend(frame(0x8, 0, 0, &0x7fff_0000u32.to_be_bytes()));
    s.write_all(&hello).unwrap();
    // GET / (HPACK static table entries; `:authority: a` added to the dynamic table by the first
    // request and referenced by the others, as real clients do).
    let get = |id: u32| {
        let block: &[u8] = if id == 1 { &[0x82, 0x86, 0x84, 0x41, 0x01, b'a'] } else { &[0x82, 0x86, 0x84, 0xbe] };
        frame(0x1, 0x5, id, block)
    };
    let mut next = 1u32;
    let mut buf = vec![0u8; 1 << 16];
    let mut pending = Vec::new();
    // Sends `n` GETs at once and reads until each stream has ended.
    let mut round = |s: &mut std::net::TcpStream, n: usize| {
        let mut burst = Vec::new();
        for _ in 0..n {
            burst.extend(get(next));
            next += 2;
        }
        s.write_all(&burst).unwrap();
        let mut ended = 0;
        while ended < n {
            let got = s.read(&mut buf).unwrap();
            assert!(got > 0, "the server closed");
            pending.extend_from_slice(&buf[..got]);
            while pending.len() >= 9 {
                let len = (usize::from(pending[0]) << 16) | (usize::from(pending[1]) << 8) | usize::from(pending[2]);
                if pending.len() < 9 + len {
                    break;
                }
                if pending[3] == 0x0 && pending[4] & 1 == 1 {
                    ended += 1;
                }
                assert_ne!(pending[3], 0x7, "GOAWAY");
                pending.drain(..9 + len);
            }
        }
    };
    // Warm up: the buffers grow.
    for _ in 0..20 {
        round(&mut s, 1);
    }
    round(&mut s, 16);
    let before = WORKER_ALLOCS.load(Ordering::Relaxed);
    for _ in 0..500 {
        round(&mut s, 1);
    }
    for _ in 0..50 {
        round(&mut s, 16);
    }
    let after = WORKER_ALLOCS.load(Ordering::Relaxed);
    assert_eq!(after - before, 0, "allocations on the I/O thread during 1,300 HTTP/2 requests");
    let mut server = server;
    server.shutdown();
    server.wait(std::time::Duration::from_secs(5)).unwrap();
}

/// Cleartext: none.
fn no_allocation_per_request_in_cleartext() {
    // `serve`: one handler for everything.
    let server = Server::builder().threads(1).bind("127.0.0.1:0").serve(handler(vec![b'7'; 512])).unwrap();
    assert_no_allocation(server.local_addrs()[0]);
    drop(server);
    // The binary's path: URL groups, http.sys routing (path normalisation, the namespace lookup)
    // and the group's counters, per request.
    let port = support::free_port();
    let mut groups = UrlGroups::new();
    let group = groups.create_group(Target::inline(handler(vec![b'7'; 512])));
    groups.add_url(group, &format!("http://+:{port}/")).unwrap();
    groups.add_url(group, &format!("http://t:{port}/api/")).unwrap();
    let server = Server::builder().threads(1).bind(format!("127.0.0.1:{port}")).serve_groups(groups).unwrap();
    assert_no_allocation(server.local_addrs()[0]);
    drop(server);
    // With an access log: each line formatted into the thread's buffer, buffers handed to the
    // writer and spare ones taken from its pool.
    let log = std::env::temp_dir().join(format!("hsys-no-alloc-{}.log", std::process::id()));
    let server = Server::builder()
        .threads(1)
        .bind("127.0.0.1:0")
        .access_log(hsys::AccessLog::new(&log))
        .serve(handler(vec![b'7'; 512]))
        .unwrap();
    assert_no_allocation(server.local_addrs()[0]);
    drop(server);
    let lines = std::fs::read_to_string(&log).unwrap().lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(lines, 1 + 10 + 16 + 1300, "every request has its line");
    let _ = std::fs::remove_file(&log);
}

/// Over TLS: only what rustls allocates itself, about one buffer per record it seals or opens
/// (see ARCHITECTURE.md, "No allocation per request"): at most 2 per keep-alive request, and
/// far fewer per request when 16 are pipelined (their answers share records).
fn tls_allocations_per_request_are_bounded() {
    use std::io::{Read, Write};
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");
    let server = Server::builder().threads(1).bind_tls("127.0.0.1:0").serve(handler(vec![b'7'; 512])).unwrap();
    let addr = server.local_addrs()[0];
    let cert =
        hsys::TlsCertificate::from_pem_files(format!("{fixtures}/localhost.pem"), format!("{fixtures}/localhost.key"))
            .unwrap();
    server.set_cert_binding(hsys::BindingKey::Port(addr.port()), hsys::CertBinding::new(cert));
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for c in rustls::pki_types::CertificateDer::pem_file_iter(format!("{fixtures}/ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut exchange = |n: usize| {
        let reqs: Vec<u8> = (0..n).flat_map(|_| get("/")).collect();
        tls.write_all(&reqs).unwrap();
        let mut got = 0;
        let mut buf = vec![0u8; 64 * 1024];
        let want = n * 512;
        let mut bodies = 0;
        while bodies < want {
            let k = tls.read(&mut buf).unwrap();
            assert!(k > 0);
            got += k;
            bodies += buf[..k].iter().filter(|&&b| b == b'7').count();
        }
        got
    };
    for _ in 0..10 {
        exchange(1);
    }
    let before = WORKER_ALLOCS.load(Ordering::Relaxed);
    for _ in 0..500 {
        exchange(1);
    }
    let keepalive = WORKER_ALLOCS.load(Ordering::Relaxed) - before;
    let before = WORKER_ALLOCS.load(Ordering::Relaxed);
    for _ in 0..50 {
        exchange(16);
    }
    let pipelined = WORKER_ALLOCS.load(Ordering::Relaxed) - before;
    assert!(keepalive <= 2 * 500, "TLS allocations on the I/O thread: {keepalive} in 500 keep-alive requests");
    assert!(pipelined <= 800 / 4, "TLS allocations on the I/O thread: {pipelined} in 800 pipelined requests");
}
