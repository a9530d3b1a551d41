//! An I/O thread's side of the access log: a buffer per log it writes to, lines formatted into
//! it (no allocation once warm, no system call), whole buffers handed to the writer — when one
//! fills, or at the end of the pass once [`FLUSH_EVERY`] has passed since its first line — and
//! the facts of requests whose answer is deferred, kept until it comes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::TrySendError;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::AccessLog;
use super::line::{self, Facts, Stamp, Texts};
use super::writer::{BUF_CAP, Batch, Sink};
use crate::stats::WorkerCounters;

/// A buffer is handed to the writer once it holds this many bytes (each hand-off may wake the
/// writer: at a million lines a second, 64 KiB buffers wake it about 3,000 times a second).
pub const FLUSH_AT: usize = 64 * 1024;
/// Lines wait at most about this long in an I/O thread before they are handed on (checked at
/// the end of each pass; the loop wakes for it).
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// How long a thread that ends waits for room in the writer's queue before it drops its last
/// lines.
const LAST_WAIT: Duration = Duration::from_secs(2);

/// One log's lines on this thread, not yet handed to the writer.
#[derive(Debug)]
struct Buf {
    log: AccessLog,
    bytes: Vec<u8>,
    lines: u32,
}

/// Which addresses a line needs (each costs a system call once per connection).
#[derive(Clone, Copy, Debug, Default)]
pub struct Needs {
    pub client: bool,
    pub server: bool,
}

/// A request whose answer is deferred: what its line will say about it.
#[derive(Debug)]
struct Pending {
    serial: u64,
    log: AccessLog,
    /// Method, target, user agent, referer and host, one after the other.
    text: Vec<u8>,
    /// Where each of them ends in `text`; `u32::MAX` after the end: absent.
    ends: [u32; 5],
    version: &'static [u8],
    received: u64,
    arrived: Instant,
    client: Option<IpAddr>,
    server: Option<IpAddr>,
    port: u16,
}

/// One I/O thread's access-log state.
#[derive(Debug)]
pub struct ThreadLog {
    /// The server's log: requests of groups without their own, and refusals before routing.
    server: Option<AccessLog>,
    /// `None`: no log is written (no writer).
    sink: Option<Sink>,
    bufs: Vec<Buf>,
    stamp: Stamp,
    /// The addresses' and port's texts of the last line.
    texts: Texts,
    /// The last pass a line was written in, and its Unix second.
    last: Option<(Instant, u64)>,
    /// The wall clock at a pass: that pass's instant, and the Unix time then in nanoseconds
    /// (set once a second by the loop, which reads the wall clock then).
    wall: (Instant, u64),
    /// When the lines waiting must be handed on (the first line's pass + [`FLUSH_EVERY`]).
    due: Option<Instant>,
    /// Deferred requests by connection key and sequence number.
    pending: HashMap<(usize, u32), Pending>,
    counters: Arc<[WorkerCounters]>,
    index: usize,
}

impl ThreadLog {
    /// The state of I/O thread `index`: lines go to `sink` (`None`: no log is written).
    pub fn new(server: Option<AccessLog>, sink: Option<Sink>, counters: Arc<[WorkerCounters]>, index: usize) -> Self {
        let now = Instant::now();
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        ThreadLog {
            server,
            sink,
            bufs: Vec::new(),
            stamp: Stamp::default(),
            texts: Texts::default(),
            last: None,
            wall: (now, wall),
            due: None,
            pending: HashMap::new(),
            counters,
            index,
        }
    }

    /// Whether lines are written at all.
    pub fn is_on(&self) -> bool {
        self.sink.is_some()
    }

    /// The wall clock is `wall` at the pass that began at `now` (the loop reads it once a second).
    pub fn set_wall(&mut self, now: Instant, wall: SystemTime) {
        self.wall = (now, wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64));
        self.last = None;
    }

    /// Unix seconds at the pass that began at `now`, from the last wall-clock reading.
    fn secs(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.wall.0).as_nanos() as u64;
        (self.wall.1 + since) / 1_000_000_000
    }

    /// The log a request of a group with log `group` goes to, and what its line needs; `None`:
    /// none.
    pub fn needs(&self, group: Option<&AccessLog>) -> Option<Needs> {
        group.or(self.server.as_ref()).map(|log| log.0.needs)
    }

    /// Writes the line for `f` (answered in the pass that began at `now`) into the buffer of
    /// `group`'s log, or the server's.
    pub fn line(&mut self, group: Option<&AccessLog>, f: &Facts<'_>, now: Instant) {
        let Some(log) = group.or(self.server.as_ref()) else { return };
        let i = match self.bufs.iter().position(|b| b.log.same(log)) {
            Some(i) => i,
            None => {
                let bytes = self.fresh_buffer();
                self.bufs.push(Buf { log: log.clone(), bytes, lines: 0 });
                self.bufs.len() - 1
            }
        };
        // (The second is worked out once per pass, not per line.)
        if self.last.is_none_or(|(pass, _)| pass != now) {
            let secs = self.secs(now);
            self.stamp.update(secs);
            self.last = Some((now, secs));
        }
        let Some(buf) = self.bufs.get_mut(i) else { return };
        line::write_line_with(&mut buf.bytes, buf.log.config(), &self.stamp, &mut self.texts, f);
        buf.lines += 1;
        if buf.bytes.len() >= FLUSH_AT {
            self.hand(i);
        } else if self.due.is_none() {
            self.due = Some(now + FLUSH_EVERY);
        }
    }

    /// Keeps what request `seq` of connection `key` (`serial`) said, until its deferred answer
    /// comes ([`answered`](ThreadLog::answered)) or the connection closes
    /// ([`forget`](ThreadLog::forget)).
    pub fn defer(&mut self, key: usize, serial: u64, seq: u32, group: Option<&AccessLog>, f: &Facts<'_>, now: Instant) {
        let Some(log) = group.or(self.server.as_ref()) else { return };
        let mut text = Vec::with_capacity(f.method.len() + f.target.len() + 64);
        let mut ends = [u32::MAX; 5];
        for (end, part) in ends.iter_mut().zip([Some(f.method), Some(f.target), f.user_agent, f.referer, f.host]) {
            if let Some(part) = part {
                text.extend_from_slice(part);
                *end = u32::try_from(text.len()).unwrap_or(u32::MAX - 1);
            }
        }
        let version: &'static [u8] = match f.version {
            b"HTTP/1.0" => b"HTTP/1.0",
            b"HTTP/2" => b"HTTP/2",
            _ => b"HTTP/1.1",
        };
        let pending = Pending {
            serial,
            log: log.clone(),
            text,
            ends,
            version,
            received: f.received,
            arrived: now,
            client: f.client,
            server: f.server,
            port: f.port,
        };
        self.pending.insert((key, seq), pending);
    }

    /// The deferred answer to request `seq` of connection `key` (`serial`) was made, in the pass
    /// that began at `now`: its line.
    pub fn answered(&mut self, key: usize, serial: u64, seq: u32, status: u16, sent: u64, now: Instant) {
        if self.pending.is_empty() {
            return;
        }
        let Some(p) = self.pending.remove(&(key, seq)) else { return };
        if p.serial != serial {
            return;
        }
        let mut parts: [Option<&[u8]>; 5] = [None; 5];
        let mut start = 0usize;
        for (part, &end) in parts.iter_mut().zip(&p.ends) {
            if end != u32::MAX {
                *part = p.text.get(start..end as usize);
                start = end as usize;
            }
        }
        let f = Facts {
            method: parts[0].unwrap_or_default(),
            target: parts[1].unwrap_or_default(),
            version: p.version,
            user_agent: parts[2],
            referer: parts[3],
            host: parts[4],
            status,
            sent,
            received: p.received,
            taken_ms: now.saturating_duration_since(p.arrived).as_millis() as u64,
            client: p.client,
            server: p.server,
            port: p.port,
        };
        self.line(Some(&p.log), &f, now);
    }

    /// The deferred answer to request `seq` of connection `key` came but was not sent (HTTP/2:
    /// its stream was reset meanwhile): what `defer` kept goes, not left until the connection
    /// closes (a client resetting streams on a long connection would grow it for ever).
    pub fn unanswered(&mut self, key: usize, seq: u32) {
        if !self.pending.is_empty() {
            self.pending.remove(&(key, seq));
        }
    }

    /// Connection `key` closed: its deferred requests will not be answered.
    pub fn forget(&mut self, key: usize) {
        if !self.pending.is_empty() {
            self.pending.retain(|&(k, _), _| k != key);
        }
    }

    /// When lines waiting must be handed on (the loop wakes for it).
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    /// The end of a pass that began at `now`: lines that have waited [`FLUSH_EVERY`] are handed on.
    #[inline]
    pub fn pass_end(&mut self, now: Instant) {
        if self.due.is_some_and(|d| now >= d) {
            self.due = None;
            for i in 0..self.bufs.len() {
                self.hand(i);
            }
        }
    }

    /// An empty buffer: from the writer's pool, or new (until the pool is warm).
    fn fresh_buffer(&self) -> Vec<u8> {
        self.sink.as_ref().and_then(|s| s.shared.take_buffer()).unwrap_or_else(|| Vec::with_capacity(BUF_CAP))
    }

    /// Hands buffer `i` to the writer; when its queue is full (or it is gone), the lines are
    /// dropped and counted.
    fn hand(&mut self, i: usize) {
        if self.bufs.get(i).is_none_or(|b| b.lines == 0) {
            return;
        }
        let fresh = self.fresh_buffer();
        let (Some(sink), Some(buf)) = (&self.sink, self.bufs.get_mut(i)) else { return };
        let bytes = std::mem::replace(&mut buf.bytes, fresh);
        let lines = std::mem::take(&mut buf.lines);
        match sink.tx.try_send(Batch { log: buf.log.clone(), bytes, lines }) {
            Ok(()) => {}
            Err(TrySendError::Full(back) | TrySendError::Disconnected(back)) => {
                let fresh = std::mem::replace(&mut buf.bytes, back.bytes);
                buf.bytes.clear();
                sink.shared.give_buffer(fresh);
                self.dropped(&back.log, lines);
            }
        }
    }

    /// Counts `lines` of `log` dropped.
    #[cold]
    fn dropped(&self, log: &AccessLog, lines: u32) {
        if let Some(c) = self.counters.get(self.index) {
            c.access_log_dropped.add(u64::from(lines));
        }
        log.0.unreported.fetch_add(u64::from(lines), Ordering::AcqRel);
    }
}

impl Drop for ThreadLog {
    /// The thread ends (a graceful stop, or an unwind): its last lines are handed on, waiting a
    /// little for room if the writer is behind.
    fn drop(&mut self) {
        let Some(sink) = self.sink.take() else { return };
        let give_up = Instant::now() + LAST_WAIT;
        for buf in std::mem::take(&mut self.bufs) {
            if buf.lines == 0 {
                continue;
            }
            let mut batch = Batch { log: buf.log, bytes: buf.bytes, lines: buf.lines };
            loop {
                match sink.tx.try_send(batch) {
                    Ok(()) => break,
                    Err(TrySendError::Full(back)) if Instant::now() < give_up => {
                        batch = back;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(TrySendError::Full(back) | TrySendError::Disconnected(back)) => {
                        self.dropped(&back.log, back.lines);
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deferred_request_is_kept_until_answered_unanswered_or_forgotten() {
        let counters: Arc<[WorkerCounters]> = Arc::from(vec![WorkerCounters::default()]);
        let mut log = ThreadLog::new(Some(AccessLog::new("/nonexistent/log")), None, counters, 0);
        let now = Instant::now();
        let f = Facts { method: b"GET", target: b"/", version: b"HTTP/2", ..Facts::default() };
        for seq in [1, 3, 5] {
            log.defer(7, 0, seq, None, &f, now);
        }
        log.defer(8, 0, 1, None, &f, now);
        log.unanswered(7, 3);
        assert_eq!(log.pending.len(), 3);
        assert_eq!(log.pending.get(&(7, 1)).map(|p| p.version), Some(&b"HTTP/2"[..]));
        log.answered(7, 0, 1, 200, 10, now);
        log.forget(7);
        assert_eq!(log.pending.keys().collect::<Vec<_>>(), [&(8, 1)]);
    }
}
