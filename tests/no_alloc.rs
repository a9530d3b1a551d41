//! The fast path allocates nothing per request: a counting global allocator watches the I/O thread.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use hsys::{Request, Response, Server};
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

#[test]
fn no_allocation_per_request_on_the_inline_path() {
    let body = vec![b'7'; 512];
    let server = Server::builder()
        .threads(1)
        .bind("127.0.0.1:0".parse().unwrap())
        .serve(move |req: &Request<'_>, res: &mut Response<'_>| {
            IS_WORKER.set(true);
            if req.path() == "/alloc" {
                std::hint::black_box(vec![0u8; 10]);
            }
            res.header("Content-Type", "text/plain").body(&body);
        })
        .unwrap();
    let mut c = Client::connect(server.local_addrs()[0]);
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
