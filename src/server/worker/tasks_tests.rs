use std::sync::atomic::AtomicUsize;

use super::*;

/// Counts the loop's wakes.
#[derive(Debug, Default)]
struct Loop(AtomicUsize);

impl Wake for Loop {
    fn wake(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future pending until `gate` is set (its waker kept in `waker`), counting its polls;
/// `drops` counts its drops.
struct Gated {
    gate: Arc<AtomicBool>,
    waker: Arc<Mutex<Option<Waker>>>,
    polls: Arc<AtomicUsize>,
    drops: Arc<AtomicUsize>,
    panics: bool,
}

impl Future for Gated {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        if self.gate.load(Ordering::SeqCst) {
            assert!(!self.panics, "a task that panics once let go");
            return Poll::Ready(());
        }
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Gated {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct Probe {
    gate: Arc<AtomicBool>,
    waker: Arc<Mutex<Option<Waker>>>,
    polls: Arc<AtomicUsize>,
    drops: Arc<AtomicUsize>,
}

impl Probe {
    fn task(&self, panics: bool) -> Task {
        Box::pin(Gated {
            gate: Arc::clone(&self.gate),
            waker: Arc::clone(&self.waker),
            polls: Arc::clone(&self.polls),
            drops: Arc::clone(&self.drops),
            panics,
        })
    }

    fn open(&self) {
        self.gate.store(true, Ordering::SeqCst);
        if let Some(w) = self.waker.lock().unwrap().take() {
            w.wake();
        }
    }

    fn counts(&self) -> (usize, usize) {
        (self.polls.load(Ordering::SeqCst), self.drops.load(Ordering::SeqCst))
    }
}

#[test]
fn a_task_is_polled_at_spawn_and_again_when_woken() {
    let io = Arc::new(Loop::default());
    let tasks = Tasks::new(Arc::clone(&io) as Arc<dyn Wake>);
    let p = Probe::default();
    tasks.spawn(1, 7, p.task(false));
    assert_eq!(p.counts(), (1, 0));
    assert_eq!(tasks.run(), 0, "nothing woken");
    // Woken during a pass (the loop's own thread): queued, the loop not woken.
    p.open();
    assert_eq!(io.0.load(Ordering::SeqCst), 0);
    assert_eq!(tasks.run(), 1);
    assert_eq!(p.counts(), (2, 1));
    assert!(tasks.is_empty());
}

#[test]
fn a_wake_while_the_loop_sleeps_wakes_it_once() {
    let io = Arc::new(Loop::default());
    let tasks = Tasks::new(Arc::clone(&io) as Arc<dyn Wake>);
    let p = Probe::default();
    tasks.spawn(1, 7, p.task(false));
    assert!(!tasks.sleep(), "nothing queued: the loop may sleep");
    let waker = p.waker.lock().unwrap().clone().unwrap();
    std::thread::spawn(move || {
        waker.wake_by_ref();
        waker.wake();
    })
    .join()
    .unwrap();
    assert_eq!(io.0.load(Ordering::SeqCst), 1, "one wake per sleep");
    tasks.wake_up();
    assert!(tasks.sleep(), "queued: the loop must not sleep");
    tasks.wake_up();
    assert_eq!(tasks.run(), 1, "woken twice, polled once");
    assert_eq!(p.counts(), (2, 0));
}

#[test]
fn a_panicking_task_is_dropped_alone() {
    let tasks = Tasks::new(Arc::new(Loop::default()));
    let (bad, good) = (Probe::default(), Probe::default());
    tasks.spawn(1, 7, bad.task(true));
    tasks.spawn(2, 8, good.task(false));
    bad.open();
    assert_eq!(tasks.run(), 1);
    assert_eq!(bad.counts(), (2, 1), "dropped after its panic");
    assert!(!tasks.is_empty());
    good.open();
    tasks.run();
    assert!(tasks.is_empty());
}

#[test]
fn closing_a_connection_drops_its_tasks_and_stale_wakes_do_nothing() {
    let tasks = Tasks::new(Arc::new(Loop::default()));
    let (a, b, other) = (Probe::default(), Probe::default(), Probe::default());
    tasks.spawn(1, 7, a.task(false));
    tasks.spawn(1, 7, b.task(false));
    tasks.spawn(1, 6, other.task(false)); // an earlier connection in the same slab key
    tasks.cancel(1, 7);
    assert_eq!((a.counts().1, b.counts().1, other.counts().1), (1, 1, 0));
    // A wake for a task gone polls nothing, even once its slot is reused.
    a.open();
    tasks.spawn(3, 9, Probe::default().task(false));
    assert_eq!(tasks.run(), 1);
    assert_eq!(a.counts(), (1, 1));
    drop(tasks);
    assert_eq!(other.counts().1, 1, "dropping the executor drops every task");
}
