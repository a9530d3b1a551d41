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

/// Both paths in one test: the counter is global, so two servers counting at once would see each
/// other's allocations.
#[test]
fn no_allocation_per_request_on_the_inline_paths() {
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
}
