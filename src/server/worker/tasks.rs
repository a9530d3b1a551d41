//! The I/O thread's executor: futures of tower services whose answers were not ready at once
//! (`Target::service`), polled by the loop that owns their connections.
//!
//! A task is woken through its own [`Waker`]: the wake queues it in [`Ready`] and, when it comes
//! from another thread while the loop may be asleep, wakes the loop through its `mio` waker (one
//! `eventfd` write per sleep, not per wake). A wake from the loop's own thread (the body arriving,
//! the client taking a streamed answer) only queues. Each loop pass polls the queued tasks, at
//! most [`PASS_BUDGET`] of them, so tasks cannot starve the sockets. Every poll, and every drop
//! of a task's future, runs under `catch_unwind`: a panic costs that task only (its request is
//! answered `500`, by its `Responder` as the future drops). A task belongs to a connection
//! (its slab key and serial): closing the connection drops its tasks.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use slab::Slab;

use crate::app::queued::Wake;

/// A task's future.
pub(crate) type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Tasks polled per loop pass at most; the rest wait for the next pass (which does not sleep).
pub(super) const PASS_BUDGET: usize = 256;

/// The tasks woken and not polled yet, shared with their wakers.
#[derive(Debug)]
struct Ready {
    /// (slot, id) of each task woken.
    queue: Mutex<Vec<(usize, u64)>>,
    /// The loop is running a pass (it looks at the queue before it sleeps): a wake need not
    /// wake it.
    awake: AtomicBool,
    /// Wakes the loop.
    io: Arc<dyn Wake>,
    /// `queue` is not empty (set and cleared under its lock): a pass with nothing woken takes
    /// no lock.
    queued: AtomicBool,
}

impl Ready {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(usize, u64)>> {
        // The queue is plain data: a panic while it was held left it consistent.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, slot: usize, id: u64) {
        let mut queue = self.lock();
        queue.push((slot, id));
        // (SeqCst, as `awake` below and in `Tasks::sleep`: one of the two sides sees the other.)
        self.queued.store(true, Ordering::SeqCst);
        drop(queue);
        if !self.awake.swap(true, Ordering::SeqCst) {
            self.io.wake();
        }
    }
}

/// One task's waker.
#[derive(Debug)]
struct TaskWaker {
    ready: Arc<Ready>,
    slot: usize,
    id: u64,
}

impl std::task::Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.push(self.slot, self.id);
    }
}

/// A task in the slab.
struct Entry {
    /// Tells a wake for this task from one for an earlier task in the same slot.
    id: u64,
    /// The connection it belongs to.
    key: usize,
    serial: u64,
    /// `None` while it is being polled.
    future: Option<Task>,
    waker: Waker,
}

/// One I/O thread's tasks. Used from its thread only, through shared references (the
/// dispatcher spawns while the loop's context is lent out): hence the cells.
pub(crate) struct Tasks {
    slab: RefCell<Slab<Entry>>,
    ready: Arc<Ready>,
    next_id: Cell<u64>,
    /// Woken entries taken in one pass (kept to reuse its capacity).
    batch: RefCell<Vec<(usize, u64)>>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks").field("len", &self.slab.borrow().len()).finish_non_exhaustive()
    }
}

/// Drops `future` (the application's code may run in its `Drop`), containing a panic.
fn drop_contained(future: Task) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(future)));
}

impl Tasks {
    /// No tasks; `io` wakes the loop.
    pub(super) fn new(io: Arc<dyn Wake>) -> Self {
        Tasks {
            slab: RefCell::new(Slab::new()),
            ready: Arc::new(Ready {
                queue: Mutex::new(Vec::new()),
                awake: AtomicBool::new(true),
                io,
                queued: AtomicBool::new(false),
            }),
            next_id: Cell::new(0),
            batch: RefCell::new(Vec::new()),
        }
    }

    /// No task is alive.
    pub(super) fn is_empty(&self) -> bool {
        self.slab.borrow().is_empty()
    }

    /// Adds a task of connection (`key`, `serial`) and polls it once with its own waker.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))] // only tower targets spawn
    pub(crate) fn spawn(&self, key: usize, serial: u64, future: Task) {
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        let slot = {
            let mut slab = self.slab.borrow_mut();
            let entry = slab.vacant_entry();
            let slot = entry.key();
            let waker = Waker::from(Arc::new(TaskWaker { ready: Arc::clone(&self.ready), slot, id }));
            entry.insert(Entry { id, key, serial, future: Some(future), waker });
            slot
        };
        self.poll(slot, id);
    }

    /// Polls task (`slot`, `id`) if it is still there; a task that ends or panics is removed.
    fn poll(&self, slot: usize, id: u64) {
        let (mut future, waker) = {
            let mut slab = self.slab.borrow_mut();
            let Some(entry) = slab.get_mut(slot).filter(|e| e.id == id) else { return };
            let Some(future) = entry.future.take() else { return };
            (future, entry.waker.clone())
        };
        // The slab is not borrowed while the application's code runs.
        let result = catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut Context::from_waker(&waker))));
        match result {
            Ok(Poll::Pending) => {
                if let Some(entry) = self.slab.borrow_mut().get_mut(slot).filter(|e| e.id == id) {
                    entry.future = Some(future);
                    return;
                }
                // Cancelled while it ran (not done today: kept for safety).
                drop_contained(future);
            }
            Ok(Poll::Ready(())) => {
                self.remove(slot, id);
                drop_contained(future);
            }
            Err(_) => {
                // Its request is answered `500` as the future drops (or its answer is cut).
                self.remove(slot, id);
                drop_contained(future);
            }
        }
    }

    fn remove(&self, slot: usize, id: u64) {
        let mut slab = self.slab.borrow_mut();
        if slab.get(slot).is_some_and(|e| e.id == id) {
            slab.remove(slot);
        }
    }

    /// Polls the tasks woken since the last pass, at most [`PASS_BUDGET`]; returns how many
    /// were polled.
    pub(super) fn run(&self) -> usize {
        let mut batch = std::mem::take(&mut *self.batch.borrow_mut());
        if self.ready.queued.load(Ordering::Acquire) {
            let mut queue = self.ready.lock();
            let n = queue.len().min(PASS_BUDGET);
            batch.extend(queue.drain(..n));
            if queue.is_empty() {
                self.ready.queued.store(false, Ordering::Release);
            }
        }
        // A task woken twice is polled once.
        batch.sort_unstable();
        batch.dedup();
        let polled = batch.len();
        for &(slot, id) in &batch {
            self.poll(slot, id);
        }
        batch.clear();
        *self.batch.borrow_mut() = batch;
        polled
    }

    /// The loop begins a pass: wakes need not wake it until [`sleep`](Tasks::sleep).
    pub(super) fn wake_up(&self) {
        self.ready.awake.store(true, Ordering::SeqCst);
    }

    /// The loop is about to sleep: from now on a wake wakes it. `true` when tasks are already
    /// queued (the loop must not sleep).
    pub(super) fn sleep(&self) -> bool {
        self.ready.awake.store(false, Ordering::SeqCst);
        if !self.ready.queued.load(Ordering::SeqCst) {
            return false;
        }
        let mut queue = self.ready.lock();
        if self.is_empty() {
            // Wakes of tasks that are gone.
            queue.clear();
            self.ready.queued.store(false, Ordering::Release);
        }
        !queue.is_empty()
    }

    /// Drops the tasks of connection (`key`, `serial`), which closed: their requests cannot be
    /// answered any more.
    pub(super) fn cancel(&self, key: usize, serial: u64) {
        let gone: Vec<Task> = {
            let mut slab = self.slab.borrow_mut();
            let keys: Vec<usize> =
                slab.iter().filter(|(_, e)| e.key == key && e.serial == serial).map(|(k, _)| k).collect();
            keys.into_iter().filter_map(|k| slab.try_remove(k).and_then(|e| e.future)).collect()
        };
        // Dropped with the slab released: their code may run.
        gone.into_iter().for_each(drop_contained);
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for entry in self.slab.get_mut().drain() {
            if let Some(future) = entry.future {
                drop_contained(future);
            }
        }
    }
}

#[cfg(test)]
#[path = "tasks_tests.rs"]
mod tests;
