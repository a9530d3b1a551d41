//! Request queues: requests taken by application threads (`receive`, blocking or async) and
//! answered later from any thread, as with http.sys's `HttpReceiveHttpRequest`.
//!
//! A queue is a `Mutex<VecDeque>` of requests in arrival order, a `Condvar` for threads blocked
//! in [`RequestQueue::receive`], a FIFO of task `Waker`s for [`RequestQueue::receive_async`],
//! and one reaper thread that answers `503` to requests that waited past the queue's timeout.
//! Whoever pops a request under the lock — a receiver, the reaper or `shutdown` — is its only
//! owner, so a request is answered exactly once.
//!
//! Why not a channel: a channel hides its entries, so nothing but a receiver can see how long the
//! oldest one has waited or take it out when its time is up, and its length is approximate. Here
//! the deque's front is the oldest request, which gives the reaper its next deadline and
//! [`QueueStats::max_queue_item_age`] its value, and the deque's length is exact.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use super::queued::QueuedRequest;
use super::reply::Reply;
use crate::limits::{DEFAULT_QUEUE_LENGTH, DEFAULT_REQUEST_QUEUE_TIMEOUT};

/// Entries a new queue reserves; the deque grows (by doubling, never shrinking) only when the
/// queue holds more than ever before, so a queue that has reached its usual depth allocates
/// nothing more, without reserving a full-length queue that is never used.
const INITIAL_CAPACITY: usize = 64;

/// How long the reaper sleeps while the queue is empty: the timeout, but at least this. A request
/// arriving while it sleeps has a deadline no earlier than a timeout from when it fell asleep, so
/// a timeout at least this long is enforced on time, and a shorter one at most this late. `offer`
/// therefore never has to wake the reaper (which would be a `futex` call per request whenever the
/// application keeps up and the queue is empty).
const REAPER_IDLE: Duration = Duration::from_secs(1);

/// How long past a request's deadline the reaper wakes, so that it finds it late (`>`), not due.
const REAPER_SLACK: Duration = Duration::from_millis(1);

/// A bounded queue of requests. Clones share the queue.
#[derive(Clone, Debug)]
pub struct RequestQueue {
    inner: Arc<QueueInner>,
}

#[derive(Debug)]
struct QueueInner {
    /// The requests and who waits for them; every critical section is a few instructions.
    state: Mutex<State>,
    /// Threads blocked in `receive` wait here.
    ready: Condvar,
    /// The most requests that may wait (at least 1).
    capacity: usize,
    /// How long a request may wait before it is answered `503`.
    timeout: Duration,
    /// The reaper, unparked by `shutdown` and by the drop of the last handle so that it exits
    /// (unset if its thread could not be spawned: the timeout is then enforced by receivers only).
    reaper: OnceLock<Thread>,
    /// `ArrivalRate`'s count: requests queued.
    arrivals: AtomicU64,
    /// `RejectedRequests`: refused by `offer`, or answered `503` for their age.
    rejected: AtomicU64,
}

#[derive(Debug)]
struct State {
    /// Waiting requests, oldest first.
    items: VecDeque<QueuedRequest>,
    /// Shut down: nothing more is queued, receivers get `None`.
    closed: bool,
    /// Threads in `ready.wait`: `offer` signals the `Condvar` only if there is one (signalling is
    /// a system call even with nobody waiting).
    sleepers: usize,
    /// Sleepers already signalled and not yet awake: a burst of requests wakes one thread once,
    /// not once per request (each `notify_one` is a `futex` call).
    signalled: usize,
    /// Tasks waiting in `receive_async`, first come first woken, each under its own id. A woken
    /// task's entry is removed as it is woken; a task that is then dropped without taking a
    /// request passes the wake on (see `Next`'s `Drop`), so no wake is lost.
    waiters: VecDeque<(u64, Waker)>,
    /// The id for the next waiting task.
    next_waiter: u64,
}

/// A snapshot of a queue's counters (http.sys names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Requests that entered the queue (`ArrivalRate` is its rate).
    pub arrivals: u64,
    /// Requests waiting now (`CurrentQueueSize`), exactly: a request leaves the queue when it is
    /// received, answered `503` for its age, or answered at shutdown.
    pub current_queue_size: u64,
    /// How long the oldest request waiting now has waited (`MaxQueueItemAge`); zero when none
    /// waits.
    pub max_queue_item_age: Duration,
    /// Requests refused because the queue was full or shut down, or answered `503` because they
    /// waited longer than the queue's timeout (`RejectedRequests`).
    pub rejected_requests: u64,
}

impl Default for RequestQueue {
    fn default() -> Self {
        RequestQueue::new(DEFAULT_QUEUE_LENGTH)
    }
}

impl RequestQueue {
    /// Whether `self` and `other` are the same queue (clones of one).
    pub(crate) fn same(&self, other: &RequestQueue) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// A queue holding at most `length` requests (at least 1), with the default timeout.
    pub fn new(length: usize) -> Self {
        RequestQueue::with_timeout(length, DEFAULT_REQUEST_QUEUE_TIMEOUT)
    }

    /// A queue holding at most `length` requests (at least 1); a request that has waited longer
    /// than `timeout` is taken out of the queue and answered `503` (with `Connection: close`),
    /// whether or not any thread is receiving: a reaper thread, one per queue, wakes at the
    /// oldest request's deadline (for a timeout under a second, up to a second late). The reaper
    /// holds no reference that keeps the queue alive, and exits when the queue is shut down or
    /// its last handle is dropped.
    pub fn with_timeout(length: usize, timeout: Duration) -> Self {
        let capacity = length.max(1);
        let inner = Arc::new(QueueInner {
            state: Mutex::new(State {
                items: VecDeque::with_capacity(capacity.min(INITIAL_CAPACITY)),
                closed: false,
                sleepers: 0,
                signalled: 0,
                waiters: VecDeque::new(),
                next_waiter: 0,
            }),
            ready: Condvar::new(),
            capacity,
            timeout,
            reaper: OnceLock::new(),
            arrivals: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        });
        let queue = Arc::downgrade(&inner);
        let spawned = std::thread::Builder::new().name("hsys-queue-reaper".into()).spawn(move || reap(&queue));
        // Without a reaper (no thread to be had) the timeout is still enforced by `admit`.
        if let Ok(reaper) = spawned {
            let _ = inner.reaper.set(reaper.thread().clone());
        }
        RequestQueue { inner }
    }

    /// Takes the next request, blocking. `None` once the queue is shut down and empty (which the
    /// stop of the server it serves does: see [`Server::shutdown`](crate::Server::shutdown)).
    ///
    /// # Examples
    /// ```
    /// use hsys::{Reply, RequestQueue, Server, Target, UrlGroups};
    ///
    /// let port = 8080;
    /// # let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    /// let queue = RequestQueue::new(100);
    /// let mut groups = UrlGroups::new();
    /// let group = groups.create_group(Target::Queue(queue.clone()));
    /// groups.add_url(group, &format!("http://+:{port}/"))?;
    /// let server = Server::builder().bind(("127.0.0.1", port)).serve_groups(groups)?;
    /// let app = std::thread::spawn(move || {
    ///     while let Some(req) = queue.receive() {
    ///         req.respond(Reply::new(200).body(&b"hi"[..]));
    ///     }
    /// });
    /// # use std::io::{Read, Write};
    /// # let mut c = std::net::TcpStream::connect(server.local_addrs()[0]).unwrap();
    /// # c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap();
    /// # let mut got = String::new();
    /// # c.read_to_string(&mut got).unwrap();
    /// # assert!(got.ends_with("\r\n\r\nhi"), "{got}");
    /// drop(server); // stops it, and its queue: `receive` returns `None`
    /// app.join().unwrap();
    /// # Ok::<(), hsys::Error>(())
    /// ```
    pub fn receive(&self) -> Option<QueuedRequest> {
        loop {
            let req = {
                let mut st = self.inner.lock();
                loop {
                    if let Some(req) = st.items.pop_front() {
                        // More waiting and a sleeper not yet signalled: pass the wake on, so a
                        // burst is served by every idle thread, each woken once.
                        if !st.items.is_empty() && st.sleepers > st.signalled {
                            st.signalled += 1;
                            self.inner.ready.notify_one();
                        }
                        break req;
                    }
                    if st.closed {
                        return None;
                    }
                    st.sleepers += 1;
                    st = self.inner.ready.wait(st).unwrap_or_else(PoisonError::into_inner);
                    st.sleepers -= 1;
                    st.signalled = st.signalled.saturating_sub(1);
                }
            };
            if let Some(req) = self.admit(req) {
                return Some(req);
            }
        }
    }

    /// Takes the next request without blocking, if one is waiting.
    pub fn try_receive(&self) -> Option<QueuedRequest> {
        loop {
            let req = self.inner.lock().items.pop_front()?;
            if let Some(req) = self.admit(req) {
                return Some(req);
            }
        }
    }

    /// Takes the next request (async; usable from tokio or any executor). `None` once the queue
    /// is shut down and empty. Cancellation-safe: a future dropped before it completes has taken
    /// no request, and a wake it was given goes to another receiver.
    pub async fn receive_async(&self) -> Option<QueuedRequest> {
        loop {
            let req = Next { queue: &self.inner, waiter: None }.await?;
            if let Some(req) = self.admit(req) {
                return Some(req);
            }
        }
    }

    /// Stops the queue: requests still waiting are answered `503`, `receive` returns `None`,
    /// and new requests for it are answered `503`.
    pub fn shutdown(&self) {
        let (waiting, tasks) = {
            let mut st = self.inner.lock();
            st.closed = true;
            (std::mem::take(&mut st.items), std::mem::take(&mut st.waiters))
        };
        self.inner.ready.notify_all();
        for (_, task) in tasks {
            crate::pipe::wake(task);
        }
        self.inner.wake_reaper();
        for req in waiting {
            req.respond(Reply::unavailable());
        }
    }

    /// The queue's counters.
    pub fn stats(&self) -> QueueStats {
        let (waiting, oldest) = {
            let st = self.inner.lock();
            (st.items.len(), st.items.front().map(|r| r.arrived))
        };
        QueueStats {
            arrivals: self.inner.arrivals.load(Ordering::Relaxed),
            current_queue_size: waiting as u64,
            max_queue_item_age: oldest.map_or(Duration::ZERO, |t| t.elapsed()),
            rejected_requests: self.inner.rejected.load(Ordering::Relaxed),
        }
    }

    /// A request taken after its deadline, before the reaper got to it, is answered `503` here.
    fn admit(&self, req: QueuedRequest) -> Option<QueuedRequest> {
        if self.inner.is_late(req.arrived, Instant::now()) {
            self.inner.refuse_late(req);
            return None;
        }
        Some(req)
    }

    /// Offers a request from an I/O thread; gives it back when the queue is full or shut down
    /// (rare and cold, so the large error is fine). One short lock; it owes a wake to one blocked
    /// thread and one waiting task, if any (with both kinds of receiver, one of them finds
    /// nothing and waits again), and never the reaper (see `REAPER_IDLE`).
    ///
    /// The wake is given when `owed` is fired, at the end of the I/O thread's pass: the
    /// pipelined requests of one read are all queued before a thread is woken, so a burst costs
    /// one wake (and the woken thread passes it on to a second), not one per request.
    #[allow(clippy::result_large_err)]
    pub(crate) fn offer(&self, req: QueuedRequest, owed: &OwedWakes) -> Result<(), QueuedRequest> {
        let mut st = self.inner.lock();
        if st.closed || st.items.len() >= self.inner.capacity {
            drop(st);
            self.inner.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(req);
        }
        st.items.push_back(req);
        // Counted under the lock, so no receiver can take a request not yet counted.
        self.inner.arrivals.fetch_add(1, Ordering::Relaxed);
        let wake = st.wake_one();
        drop(st);
        owed.add(&self.inner, wake);
        Ok(())
    }
}

/// The wakes an I/O thread owes receivers for the requests it queued in its current pass,
/// fired once at the pass's end ([`fire`](OwedWakes::fire)) and when dropped.
#[derive(Debug, Default)]
pub(crate) struct OwedWakes {
    /// Per queue, what is owed (the list keeps its capacity between passes; an entry is made
    /// per pass and queue, only when a receiver is owed a wake).
    owed: std::cell::RefCell<Vec<Owed>>,
}

/// The wakes owed one queue's receivers.
#[derive(Debug)]
struct Owed {
    queue: Arc<QueueInner>,
    /// Blocked threads to signal.
    threads: usize,
    /// Waiting tasks to wake.
    tasks: Vec<Waker>,
}

impl OwedWakes {
    fn add(&self, queue: &Arc<QueueInner>, (thread, task): Wake) {
        if !thread && task.is_none() {
            return; // every receiver is busy or already signalled: nothing owed
        }
        let mut owed = self.owed.borrow_mut();
        let i = match owed.iter().position(|o| Arc::ptr_eq(&o.queue, queue)) {
            Some(i) => i,
            None => {
                owed.push(Owed { queue: Arc::clone(queue), threads: 0, tasks: Vec::new() });
                owed.len() - 1
            }
        };
        owed[i].threads += usize::from(thread);
        owed[i].tasks.extend(task);
    }

    /// Wakes every receiver owed a wake.
    pub(crate) fn fire(&self) {
        let mut owed = self.owed.borrow_mut();
        for Owed { queue, threads, tasks } in owed.drain(..) {
            for _ in 0..threads {
                queue.ready.notify_one();
            }
            for task in tasks {
                crate::pipe::wake(task);
            }
        }
    }
}

impl Drop for OwedWakes {
    fn drop(&mut self) {
        self.fire();
    }
}

/// Who to tell about a request just queued (told after the lock is released).
type Wake = (bool, Option<Waker>);

impl State {
    /// Picks the receivers to wake for one new request: a blocked thread if one sleeps, and the
    /// longest-waiting task (whose entry leaves `waiters`: it is now woken, not waiting).
    fn wake_one(&mut self) -> Wake {
        let thread = self.sleepers > self.signalled;
        self.signalled += usize::from(thread);
        (thread, self.waiters.pop_front().map(|(_, w)| w))
    }

    /// Removes waiter `id`'s entry; `false` if it has none (it was woken since it registered).
    fn forget(&mut self, id: u64) -> bool {
        match self.waiters.iter().position(|(w, _)| *w == id) {
            Some(i) => {
                self.waiters.remove(i);
                true
            }
            None => false,
        }
    }
}

impl QueueInner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No critical section can leave the state half-changed, so a poisoned lock is usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fire(&self, (sleeper, task): Wake) {
        if sleeper {
            self.ready.notify_one();
        }
        if let Some(task) = task {
            crate::pipe::wake(task);
        }
    }

    fn wake_reaper(&self) {
        if let Some(reaper) = self.reaper.get() {
            reaper.unpark();
        }
    }

    /// Whether a request that arrived at `arrived` has waited longer than the timeout at `now`.
    fn is_late(&self, arrived: Instant, now: Instant) -> bool {
        now.saturating_duration_since(arrived) > self.timeout
    }

    /// Answers a request that waited too long (it is already out of the queue). Counted first, so
    /// a client that has its `503` sees it in the stats.
    fn refuse_late(&self, req: QueuedRequest) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        req.respond(Reply::unavailable());
    }

    /// Moves the requests past their deadline into `late` (oldest first) and says how long the
    /// reaper may sleep; `None` once the queue is shut down.
    ///
    /// Requests are queued in the order they were offered, and their arrival times were read by
    /// I/O threads just before: the front is the oldest, give or take the microseconds between
    /// two threads' clock reads, so only the front is examined.
    fn take_late(&self, late: &mut Vec<QueuedRequest>) -> Option<Duration> {
        let now = Instant::now();
        let mut st = self.lock();
        if st.closed {
            return None;
        }
        while let Some(front) = st.items.front() {
            if !self.is_late(front.arrived, now) {
                let waited = now.saturating_duration_since(front.arrived);
                return Some(self.timeout.saturating_sub(waited).saturating_add(REAPER_SLACK));
            }
            late.extend(st.items.pop_front());
        }
        Some(self.timeout.max(REAPER_IDLE))
    }
}

impl Drop for QueueInner {
    fn drop(&mut self) {
        // The reaper's `Weak` no longer upgrades: let it see so now rather than at its deadline.
        self.wake_reaper();
    }
}

/// The reaper's loop: answer late requests, sleep until the next deadline. It holds the queue
/// only while it works, so dropping the last `RequestQueue` ends it.
fn reap(queue: &Weak<QueueInner>) {
    let mut late = Vec::new();
    loop {
        let Some(inner) = queue.upgrade() else { return };
        let Some(sleep) = inner.take_late(&mut late) else { return };
        // Answered outside the lock: `respond` talks to an I/O thread.
        for req in late.drain(..) {
            inner.refuse_late(req);
        }
        drop(inner);
        // Woken early by `shutdown` or the queue's drop (or spuriously): the loop looks again.
        std::thread::park_timeout(sleep);
    }
}

/// `receive_async`'s wait for the next request.
///
/// Cancellation-safe: a `Next` dropped while registered takes its entry out of `waiters`; one
/// dropped after it was woken for a request it did not take wakes another receiver in its place.
#[derive(Debug)]
struct Next<'q> {
    queue: &'q QueueInner,
    /// This task's id in `waiters`, once it has waited.
    waiter: Option<u64>,
}

impl Future for Next<'_> {
    type Output = Option<QueuedRequest>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut st = this.queue.lock();
        let taken = st.items.pop_front();
        if taken.is_some() || st.closed {
            if let Some(id) = this.waiter.take() {
                st.forget(id);
            }
            return Poll::Ready(taken);
        }
        match this.waiter.and_then(|id| st.waiters.iter_mut().find(|(w, _)| *w == id)) {
            // Still waiting (polled again): keep the latest waker.
            Some((_, waker)) => waker.clone_from(cx.waker()),
            // First wait, or woken for a request someone else took: wait (again) at the back.
            None => {
                let id = st.next_waiter;
                st.next_waiter = id.wrapping_add(1);
                st.waiters.push_back((id, cx.waker().clone()));
                this.waiter = Some(id);
            }
        }
        Poll::Pending
    }
}

impl Drop for Next<'_> {
    fn drop(&mut self) {
        let Some(id) = self.waiter.take() else { return };
        let mut st = self.queue.lock();
        if st.forget(id) || st.items.is_empty() {
            return;
        }
        // Woken for a request it will not take: pass the wake on.
        let wake = st.wake_one();
        drop(st);
        self.queue.fire(wake);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::queued::RequestText;
    use crate::app::request::Version;
    use std::sync::atomic::AtomicUsize;

    /// A request with nowhere to send its answer (`respond` returns `false`; dropping it is silent).
    fn request(path: &str) -> QueuedRequest {
        QueuedRequest {
            tls: None,
            text: RequestText::new("GET", path, path, std::iter::empty(), 0),
            version: Version::Http11,
            arrived: Instant::now(),
            handle: None,
            body: None,
            expects_continue: false,
            cache: None,
        }
    }

    /// A waker that counts its wakes.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Offers `req` and fires its wake at once (as the I/O thread does at the end of its pass).
    #[allow(clippy::result_large_err)]
    fn offer_now(q: &RequestQueue, req: QueuedRequest) -> Result<(), QueuedRequest> {
        q.offer(req, &OwedWakes::default())
    }

    fn waker() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        (Arc::clone(&count), Waker::from(count))
    }

    fn wakes(count: &Count) -> usize {
        count.0.load(Ordering::SeqCst)
    }

    fn poll<F: Future>(f: Pin<&mut F>, w: &Waker) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(w))
    }

    #[test]
    fn capacity_counts_only_requests_waiting_now() {
        let q = RequestQueue::new(1);
        offer_now(&q, request("/1")).unwrap();
        assert!(offer_now(&q, request("/2")).is_err());
        assert_eq!(q.try_receive().map(|r| r.path().to_owned()), Some("/1".to_owned()));
        offer_now(&q, request("/3")).unwrap();
        let stats = q.stats();
        assert_eq!((stats.arrivals, stats.current_queue_size, stats.rejected_requests), (2, 1, 1));
    }

    #[test]
    fn a_late_request_leaves_the_queue_with_nobody_receiving() {
        let q = RequestQueue::with_timeout(4, Duration::from_millis(50));
        offer_now(&q, request("/late")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while q.stats().current_queue_size > 0 {
            assert!(Instant::now() < deadline, "the reaper did not take the request");
            std::thread::sleep(Duration::from_millis(10));
        }
        let stats = q.stats();
        assert_eq!((stats.rejected_requests, stats.max_queue_item_age), (1, Duration::ZERO));
        // Room again.
        offer_now(&q, request("/next")).unwrap();
        assert_eq!(q.try_receive().map(|r| r.path().to_owned()), Some("/next".to_owned()));
    }

    #[test]
    fn max_queue_item_age_is_the_oldest_waiting_now() {
        let q = RequestQueue::new(4);
        assert_eq!(q.stats().max_queue_item_age, Duration::ZERO);
        offer_now(&q, request("/1")).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        offer_now(&q, request("/2")).unwrap();
        assert!(q.stats().max_queue_item_age >= Duration::from_millis(30));
        drop(q.try_receive());
        assert!(q.stats().max_queue_item_age < Duration::from_millis(30));
        drop(q.try_receive());
        assert_eq!(q.stats().max_queue_item_age, Duration::ZERO);
    }

    #[test]
    fn a_dropped_async_receiver_passes_its_wake_on() {
        let q = RequestQueue::new(4);
        let ((a, wa), (b, wb)) = (waker(), waker());
        let mut fa = Box::pin(q.receive_async());
        let mut fb = Box::pin(q.receive_async());
        assert!(poll(fa.as_mut(), &wa).is_pending());
        assert!(poll(fb.as_mut(), &wb).is_pending());
        offer_now(&q, request("/1")).unwrap();
        assert_eq!((wakes(&a), wakes(&b)), (1, 0));
        drop(fa);
        assert_eq!(wakes(&b), 1);
        let Poll::Ready(Some(r)) = poll(fb.as_mut(), &wb) else { panic!("the request was not handed on") };
        assert_eq!(r.path(), "/1");
    }

    #[test]
    fn a_dropped_waiting_receiver_is_not_woken() {
        let q = RequestQueue::new(4);
        let ((a, wa), (b, wb)) = (waker(), waker());
        let mut fa = Box::pin(q.receive_async());
        let mut fb = Box::pin(q.receive_async());
        assert!(poll(fa.as_mut(), &wa).is_pending());
        assert!(poll(fb.as_mut(), &wb).is_pending());
        drop(fa);
        offer_now(&q, request("/1")).unwrap();
        assert_eq!((wakes(&a), wakes(&b)), (0, 1));
        assert!(matches!(poll(fb.as_mut(), &wb), Poll::Ready(Some(_))));
        assert!(q.inner.lock().waiters.is_empty());
    }

    /// A burst offered while two threads sleep is served by both: the producer wakes one, which
    /// passes the wake on while requests remain (each sleeper is signalled once, not per request).
    #[test]
    fn a_burst_wakes_every_idle_thread_once() {
        let q = RequestQueue::new(8);
        let (took, taken) = std::sync::mpsc::channel();
        let (go, _) = std::sync::mpsc::channel::<()>();
        let go = Arc::new(std::sync::Mutex::new(go));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (q, took, _go) = (q.clone(), took.clone(), Arc::clone(&go));
                std::thread::spawn(move || {
                    let r = q.receive();
                    let _ = took.send(r.map(|r| r.path().to_owned()));
                    // Holds its request: the other one must be taken by the other thread.
                    std::thread::sleep(Duration::from_millis(300));
                })
            })
            .collect();
        while q.inner.lock().sleepers < 2 {
            std::thread::yield_now();
        }
        offer_now(&q, request("/1")).unwrap();
        offer_now(&q, request("/2")).unwrap();
        let mut got: Vec<String> =
            (0..2).filter_map(|_| taken.recv_timeout(Duration::from_secs(5)).ok().flatten()).collect();
        got.sort();
        assert_eq!(got, ["/1", "/2"], "both idle threads served the burst");
        for t in threads {
            t.join().unwrap();
        }
    }

    /// The requests of one pass are all queued before anyone is woken, and each receiver owed a
    /// wake gets exactly one when the pass ends.
    #[test]
    fn wakes_owed_for_a_pass_are_fired_once_at_its_end() {
        let q = RequestQueue::new(16);
        let ((a, wa), (b, wb)) = (waker(), waker());
        let mut fa = Box::pin(q.receive_async());
        let mut fb = Box::pin(q.receive_async());
        assert!(poll(fa.as_mut(), &wa).is_pending());
        assert!(poll(fb.as_mut(), &wb).is_pending());
        let owed = OwedWakes::default();
        for i in 0..5 {
            q.offer(request(&format!("/{i}")), &owed).unwrap();
        }
        assert_eq!((wakes(&a), wakes(&b)), (0, 0), "woken before the pass ended");
        owed.fire();
        assert_eq!((wakes(&a), wakes(&b)), (1, 1));
        owed.fire();
        assert_eq!((wakes(&a), wakes(&b)), (1, 1), "a wake fired twice");
        assert!(matches!(poll(fa.as_mut(), &wa), Poll::Ready(Some(_))));
        assert!(matches!(poll(fb.as_mut(), &wb), Poll::Ready(Some(_))));
    }

    #[test]
    fn request_text_keeps_every_piece() {
        let headers: [(&str, &[u8]); 3] = [("Host", b"a.example"), ("X-Bin", b"\x80\xff"), ("Empty", b"")];
        let text = RequestText::new("POST", "/a/../b?q=1", "/b", headers.iter().copied(), 64);
        let mut req = request("/");
        req.text = text;
        assert_eq!((req.method(), req.target(), req.normalized_path()), ("POST", "/a/../b?q=1", "/b"));
        assert_eq!((req.path(), req.query()), ("/a/../b", Some("q=1")));
        assert_eq!(req.headers().collect::<Vec<_>>(), headers);
        assert_eq!(req.header("x-bin"), Some(&b"\x80\xff"[..]));
        assert_eq!(req.header("empty"), Some(&b""[..]));
        assert_eq!(req.header("missing"), None);
    }

    #[test]
    fn shutdown_ends_every_receiver_and_empties_the_queue() {
        let q = RequestQueue::new(4);
        let (a, wa) = waker();
        let mut fa = Box::pin(q.receive_async());
        assert!(poll(fa.as_mut(), &wa).is_pending());
        let blocked = std::thread::spawn({
            let q = q.clone();
            move || q.receive().is_none()
        });
        while q.inner.lock().sleepers == 0 {
            std::thread::yield_now();
        }
        q.shutdown();
        assert!(blocked.join().unwrap(), "a blocked receiver gets None");
        assert_eq!(wakes(&a), 1);
        assert!(matches!(poll(fa.as_mut(), &wa), Poll::Ready(None)));
        assert!(offer_now(&q, request("/1")).is_err());
        assert!(q.try_receive().is_none());

        let q = RequestQueue::new(4);
        offer_now(&q, request("/1")).unwrap();
        q.shutdown();
        assert_eq!(q.stats().current_queue_size, 0);
    }
}
