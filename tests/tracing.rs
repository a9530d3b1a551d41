//! The library's diagnostics are `tracing` events (it never prints): a subscriber of the test's
//! own (global, so the I/O threads' events reach it) sees the bind and the stop.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hsys::{Request, Response, Server};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Every event as one line: `LEVEL target: message field=value…`.
#[derive(Default)]
struct Capture {
    lines: Mutex<Vec<String>>,
    next_span: AtomicU64,
}

struct Line<'a>(&'a mut String);

impl Visit for Line<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = format!("{} {}:", event.metadata().level(), event.metadata().target());
        event.record(&mut Line(&mut line));
        self.lines.lock().unwrap().push(line);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

struct Shared(Arc<Capture>);

impl Subscriber for Shared {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        self.0.enabled(m)
    }
    fn new_span(&self, a: &Attributes<'_>) -> Id {
        self.0.new_span(a)
    }
    fn record(&self, i: &Id, r: &Record<'_>) {
        self.0.record(i, r)
    }
    fn record_follows_from(&self, a: &Id, b: &Id) {
        self.0.record_follows_from(a, b)
    }
    fn event(&self, e: &Event<'_>) {
        self.0.event(e)
    }
    fn enter(&self, i: &Id) {
        self.0.enter(i)
    }
    fn exit(&self, i: &Id) {
        self.0.exit(i)
    }
}

#[test]
fn the_server_tells_its_bind_threads_and_stop_as_tracing_events() {
    let capture = Arc::new(Capture::default());
    tracing::subscriber::set_global_default(Shared(Arc::clone(&capture))).unwrap();
    let mut server = Server::builder()
        .threads(2)
        .bind("127.0.0.1:0")
        .serve(|_: &Request<'_>, res: &mut Response<'_>| {
            let _ = res.body(b"hi");
        })
        .unwrap();
    let addr = server.local_addrs()[0];
    server.shutdown();
    assert!(server.wait(Duration::from_secs(5)).unwrap());
    let lines = capture.lines.lock().unwrap().clone();
    let has = |level: &str, text: &str| lines.iter().any(|l| l.starts_with(level) && l.contains(text));
    assert!(has("INFO", &format!("listening addr={addr}")), "{lines:#?}");
    assert!(has("INFO", "serving threads=2"), "{lines:#?}");
    assert_eq!(lines.iter().filter(|l| l.contains("I/O thread started thread=")).count(), 2, "{lines:#?}");
    assert!(has("INFO", "graceful stop begins"), "{lines:#?}");
    assert_eq!(lines.iter().filter(|l| l.contains("I/O thread ended")).count(), 2, "{lines:#?}");
    assert!(has("INFO", "every I/O thread has ended stopping=true"), "{lines:#?}");
    assert!(lines.iter().all(|l| l.contains(" hsys::")), "events come from the library's modules: {lines:#?}");
}
