//! The writer thread: takes the I/O threads' buffers of lines and writes them into the logs'
//! files — names them, writes the W3C directives at the top of each, rolls them over by size or
//! time, reopens them when asked (`SIGHUP`, for logrotate) and says in the log how many lines
//! were dropped.

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::line::{self, Stamp};
use super::{AccessLog, LogConfig, LogFormat, Roll};

/// Buffers of lines that may wait for the writer, all logs together: past them, a buffer's lines
/// are dropped (and counted). With buffers handed at [`FLUSH_AT`](super::thread::FLUSH_AT),
/// about 3 MiB of lines.
pub const QUEUE: usize = 48;
/// Buffers the writer takes from the queue at once (those already waiting), and writes with one
/// `writev` per log.
const GATHER: usize = 16;
/// How often the writer looks for a reopen request and unreported drops when no lines come.
const TICK: Duration = Duration::from_millis(100);
/// Empty buffers kept for the I/O threads to reuse (no allocation once warm).
const POOL_MAX: usize = QUEUE + 16;
/// Spare buffers made at the start, per I/O thread.
const PREFILL_PER_THREAD: usize = 4;
/// A buffer's capacity (room for the line that takes it past
/// [`FLUSH_AT`](super::thread::FLUSH_AT)).
pub const BUF_CAP: usize = 72 * 1024;
/// A buffer larger than this (a few very long lines grew it) is freed rather than kept.
const POOL_BUF_MAX: usize = 256 * 1024;

/// One I/O thread's lines for one log.
#[derive(Debug)]
pub struct Batch {
    pub log: AccessLog,
    pub bytes: Vec<u8>,
    pub lines: u32,
}

/// What the writer and the I/O threads share.
#[derive(Debug, Default)]
pub struct WriterShared {
    /// Moved by [`Writer::reopen`]: the writer reopens every file when it sees it change.
    reopen: AtomicU64,
    /// Lines lost because a write failed (a full disk, a file removed under it).
    pub failed: AtomicU64,
    /// Empty buffers for the I/O threads.
    pub pool: Mutex<Vec<Vec<u8>>>,
}

impl WriterShared {
    /// An empty buffer from the pool, if one is there.
    pub fn take_buffer(&self) -> Option<Vec<u8>> {
        lock(&self.pool).pop()
    }

    /// Gives `buf` back to the pool (emptied), or frees it.
    pub fn give_buffer(&self, mut buf: Vec<u8>) {
        if buf.capacity() > POOL_BUF_MAX {
            return;
        }
        buf.clear();
        let mut pool = lock(&self.pool);
        if pool.len() < POOL_MAX {
            pool.push(buf);
        }
    }
}

/// The I/O threads' way to the writer: a bounded channel of buffers.
#[derive(Debug, Clone)]
pub struct Sink {
    pub tx: SyncSender<Batch>,
    pub shared: Arc<WriterShared>,
}

/// The writer thread, owned by the server.
#[derive(Debug)]
pub struct Writer {
    thread: Mutex<Option<JoinHandle<()>>>,
    shared: Arc<WriterShared>,
}

impl Writer {
    /// Opens every log's file (so a path that cannot be written fails the start) and starts the
    /// writer thread. It ends once every [`Sink`] is dropped (the I/O threads have ended and
    /// handed their last lines), after writing what it was given.
    ///
    /// `setup` runs first on the writer thread (the server puts it under `SCHED_BATCH`, as its
    /// I/O threads: woken by a hand-off, it then waits for its turn instead of preempting one).
    ///
    /// # Errors
    /// A file that cannot be opened or written (the message names it), or no thread.
    pub fn start(logs: &[AccessLog], threads: usize, setup: fn()) -> Result<(Writer, Sink), String> {
        let secs = now_secs();
        let mut stamp = Stamp::default();
        stamp.update(secs);
        for log in logs {
            lock(&log.0.file)
                .open(log.config(), secs, &stamp)
                .map_err(|e| format!("access log {}: {e}", log.path().display()))?;
        }
        let shared = Arc::new(WriterShared::default());
        // Spare buffers from the start: an I/O thread that hands one on takes another from the
        // pool, so none allocates once serving (while the writer keeps up).
        let spares = (PREFILL_PER_THREAD * threads.max(1)).min(POOL_MAX);
        lock(&shared.pool).extend((0..spares).map(|_| Vec::with_capacity(BUF_CAP)));
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let logs = logs.to_vec();
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("hsys-access-log".into())
            .spawn(move || {
                setup();
                run(&rx, &for_thread, logs);
            })
            .map_err(|e| format!("access log: cannot start its writer thread: {e}"))?;
        let sink = Sink { tx, shared: Arc::clone(&shared) };
        Ok((Writer { thread: Mutex::new(Some(thread)), shared }, sink))
    }

    /// Asks the writer to reopen every file at its path (after logrotate renamed it); done
    /// within [`TICK`], before the next lines are written.
    pub fn reopen(&self) {
        self.shared.reopen.fetch_add(1, Ordering::AcqRel);
    }

    /// Lines lost to failed writes.
    pub fn failed(&self) -> u64 {
        self.shared.failed.load(Ordering::Relaxed)
    }

    /// Waits for the writer thread to end (call once the I/O threads have ended: it ends when
    /// their last lines are written).
    pub fn join(&self) {
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
    }
}

/// The writer thread's loop.
fn run(rx: &Receiver<Batch>, shared: &WriterShared, mut logs: Vec<AccessLog>) {
    let mut seen = shared.reopen.load(Ordering::Acquire);
    let mut stamp = Stamp::default();
    let mut scratch = Vec::new();
    let mut gathered: Vec<Batch> = Vec::with_capacity(GATHER);
    loop {
        let got = rx.recv_timeout(TICK);
        let secs = now_secs();
        stamp.update(secs);
        let generation = shared.reopen.load(Ordering::Acquire);
        if generation != seen {
            seen = generation;
            for log in &logs {
                let mut file = lock(&log.0.file);
                file.close();
                // (A failure here is met again, and counted, by the next write.)
                let _ = file.open(log.config(), secs, &stamp);
            }
        }
        match got {
            Ok(first) => {
                // Every buffer already waiting is taken too (up to [`GATHER`]): one wake-up and
                // one `writev` per log for them all, not one `write` per buffer.
                gathered.push(first);
                while gathered.len() < GATHER {
                    match rx.try_recv() {
                        Ok(batch) => gathered.push(batch),
                        Err(_) => break,
                    }
                }
                let mut rest = &gathered[..];
                while let Some(head) = rest.first() {
                    let same = rest.iter().take_while(|b| b.log.same(&head.log)).count();
                    let (group, after) = rest.split_at(same);
                    write_group(group, &mut logs, shared, secs, &stamp, &mut scratch);
                    rest = after;
                }
                for batch in gathered.drain(..) {
                    shared.give_buffer(batch.bytes);
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                for log in &logs {
                    report_drops(log, secs, &stamp, &mut scratch);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                for log in &logs {
                    report_drops(log, secs, &stamp, &mut scratch);
                    let _ = lock(&log.0.file).flush();
                }
                return;
            }
        }
    }
}

/// Writes consecutive buffers of one log (`group`, not empty) into its file in one go.
fn write_group(
    group: &[Batch],
    logs: &mut Vec<AccessLog>,
    shared: &WriterShared,
    secs: u64,
    stamp: &Stamp,
    scratch: &mut Vec<u8>,
) {
    let Some(head) = group.first() else { return };
    let log = &head.log;
    if !logs.iter().any(|l| l.same(log)) {
        logs.push(log.clone());
    }
    report_drops(log, secs, stamp, scratch);
    let mut parts = [&[][..]; GATHER];
    for (part, batch) in parts.iter_mut().zip(group) {
        *part = &batch.bytes;
    }
    let parts = parts.get(..group.len()).unwrap_or_default();
    if lock(&log.0.file).write_all_of(log.config(), parts, secs, stamp).is_err() {
        let lines: u64 = group.iter().map(|b| u64::from(b.lines)).sum();
        shared.failed.fetch_add(lines, Ordering::Relaxed);
    }
}

/// Writes the `#Remark:` line for the lines dropped from `log` since the last one, if any.
fn report_drops(log: &AccessLog, secs: u64, stamp: &Stamp, scratch: &mut Vec<u8>) {
    let n = log.0.unreported.swap(0, Ordering::AcqRel);
    if n == 0 {
        return;
    }
    scratch.clear();
    line::dropped_remark(scratch, n, stamp);
    let _ = lock(&log.0.file).write(log.config(), scratch, secs, stamp);
}

/// Unix seconds now.
fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A log's file being written.
#[derive(Debug, Default)]
pub struct FileState {
    file: Option<File>,
    /// The period (hour or day number since 1970) the open file is for; 0 when it does not roll
    /// by time.
    period: u64,
    /// Rolling by size: the number of the file (from 1).
    n: u32,
    /// The open file's size.
    size: u64,
    /// Lines were written into the open file (a new file takes at least one, whatever its size).
    has_lines: bool,
    /// The log's path named a directory when the file was opened.
    dir: bool,
}

/// Whether a log's path names a directory (an existing one, or a path ending in `/`).
fn is_dir(path: &Path) -> bool {
    path.as_os_str().as_bytes().ends_with(b"/") || path.is_dir()
}

/// The period (hour or day since 1970) of Unix second `secs` for `config`'s roll (`dir`: its
/// path names a directory); 0 when its files are not named by time.
pub fn period(config: &LogConfig, dir: bool, secs: u64) -> u64 {
    match config.roll {
        Roll::Hourly => secs / 3600,
        Roll::Daily => secs / 86_400,
        Roll::Never if dir => secs / 86_400,
        Roll::Never | Roll::Size(_) => 0,
    }
}

/// The name of `config`'s file for Unix second `secs` (time rolls) or number `n` (size rolls).
pub fn file_name(config: &LogConfig, secs: u64, n: u32) -> PathBuf {
    let dir = is_dir(&config.path);
    let (y, m, d) = line::civil(secs / 86_400);
    let tag = match config.roll {
        Roll::Hourly => format!("{:02}{m:02}{d:02}{:02}", y % 100, secs % 86_400 / 3600),
        Roll::Daily => format!("{:02}{m:02}{d:02}", y % 100),
        Roll::Never if dir => format!("{:02}{m:02}{d:02}", y % 100),
        Roll::Never => return config.path.clone(),
        Roll::Size(_) => n.to_string(),
    };
    if dir {
        let name = match config.roll {
            Roll::Size(_) => format!("u_extend{tag}.log"),
            _ => format!("u_ex{tag}.log"),
        };
        return config.path.join(name);
    }
    let stem = config.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match config.path.extension() {
        Some(ext) => format!("{stem}_{tag}.{}", ext.to_string_lossy()),
        None => format!("{stem}_{tag}"),
    };
    config.path.with_file_name(name)
}

impl FileState {
    /// Opens the file for Unix second `secs` (appending to one that exists) and writes the W3C
    /// directives at its top. Rolling by size, the first file from the current number that is
    /// not full.
    pub fn open(&mut self, config: &LogConfig, secs: u64, stamp: &Stamp) -> io::Result<()> {
        // (Asked once per file, not per write: it costs a `statx`.)
        self.dir = is_dir(&config.path);
        if self.dir {
            std::fs::create_dir_all(&config.path)?;
        }
        self.period = period(config, self.dir, secs);
        self.n = self.n.max(1);
        let mut path = file_name(config, secs, self.n);
        if let Roll::Size(max) = config.roll {
            // Bounded: a million full files would be a strange directory.
            while self.n < 1_000_000 && std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() >= max) {
                self.n += 1;
                path = file_name(config, secs, self.n);
            }
        }
        let mut file = OpenOptions::new().append(true).create(true).open(&path)?;
        self.size = file.metadata().map_or(0, |m| m.len());
        if config.format == LogFormat::W3c {
            let mut head = Vec::new();
            line::directives(&mut head, config, stamp);
            file.write_all(&head)?;
            self.size += head.len() as u64;
        }
        self.file = Some(file);
        self.has_lines = false;
        Ok(())
    }

    /// Closes the file (the next write, or [`open`](FileState::open), opens it again by name).
    pub fn close(&mut self) {
        self.file = None;
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }

    /// Writes `parts` (each whole lines), in order, at Unix second `secs`: with one `writev`
    /// (and as many more as a short write needs) when the file does not roll by size, else
    /// part by part through [`write`](FileState::write).
    pub fn write_all_of(&mut self, config: &LogConfig, parts: &[&[u8]], secs: u64, stamp: &Stamp) -> io::Result<()> {
        if matches!(config.roll, Roll::Size(_)) || parts.len() < 2 {
            for part in parts {
                self.write(config, part, secs, stamp)?;
            }
            return Ok(());
        }
        if self.file.is_none() || period(config, self.dir, secs) != self.period {
            self.close();
            self.open(config, secs, stamp)?;
        }
        let Some(file) = &mut self.file else { return Err(io::ErrorKind::NotConnected.into()) };
        let mut slices = [IoSlice::new(&[]); GATHER];
        let n = parts.len().min(GATHER);
        for (slice, part) in slices.iter_mut().zip(parts) {
            *slice = IoSlice::new(part);
        }
        let total: usize = parts.iter().take(n).map(|p| p.len()).sum();
        let mut left = slices.get_mut(..n).unwrap_or_default();
        while !left.is_empty() {
            match file.write_vectored(left) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => IoSlice::advance_slices(&mut left, written),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.size += total as u64;
        self.has_lines = true;
        for part in parts.get(n..).unwrap_or_default() {
            self.write(config, part, secs, stamp)?;
        }
        Ok(())
    }

    /// Writes `bytes` (whole lines) at Unix second `secs`, moving on to the next file first when
    /// the period changed, or (by size) at the last whole line that fits.
    pub fn write(&mut self, config: &LogConfig, mut bytes: &[u8], secs: u64, stamp: &Stamp) -> io::Result<()> {
        if self.file.is_none() || period(config, self.dir, secs) != self.period {
            self.close();
            self.open(config, secs, stamp)?;
        }
        while !bytes.is_empty() {
            let take = match config.roll {
                Roll::Size(max) => {
                    let room = usize::try_from(max.saturating_sub(self.size)).unwrap_or(usize::MAX);
                    if bytes.len() <= room {
                        bytes.len()
                    } else {
                        // The last whole line that fits; none: a new file (or, in a new file,
                        // the first line alone, whatever its size).
                        let fits = bytes.get(..room).and_then(|b| b.iter().rposition(|&c| c == b'\n'));
                        match fits {
                            Some(i) => i + 1,
                            None if self.has_lines => {
                                self.n += 1;
                                self.close();
                                self.open(config, secs, stamp)?;
                                continue;
                            }
                            None => bytes.iter().position(|&c| c == b'\n').map_or(bytes.len(), |i| i + 1),
                        }
                    }
                }
                _ => bytes.len(),
            };
            let (now, rest) = bytes.split_at(take);
            match &mut self.file {
                Some(f) => f.write_all(now)?,
                None => return Err(io::ErrorKind::NotConnected.into()),
            }
            self.size += now.len() as u64;
            self.has_lines = true;
            bytes = rest;
        }
        Ok(())
    }
}
