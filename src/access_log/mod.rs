//! The access log, as http.sys writes it: W3C extended format with IIS's field names (or NCSA
//! combined), set on a server or on a URL group.
//!
//! Lines are formatted on the I/O threads, each into buffers of its own (one per log it writes
//! to), and whole buffers are handed to one writer thread through a bounded channel: no I/O
//! thread ever waits for the disk or makes a system call for a line. When the writer falls
//! behind and the channel is full, the buffer's lines are dropped and counted
//! ([`Snapshot::access_log_dropped`](crate::Snapshot::access_log_dropped), and a `#Remark:` line
//! in the log says how many); memory stays bounded.
//!
//! # Layout
//! - `mod.rs`: what a log is ([`AccessLog`], [`LogFormat`], [`LogField`], [`Roll`]).
//! - `line.rs`: one line from a request's facts (sans-I/O): fields, escaping, the time's text.
//! - `thread.rs`: an I/O thread's side: buffers per log, their hand-off, requests whose answer
//!   is deferred.
//! - `writer.rs`: the writer thread: files and their names, directives, rollover, reopening.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

pub mod line;
pub(crate) mod thread;
pub(crate) mod writer;

#[cfg(test)]
mod tests;

/// How lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// W3C extended log file format, as IIS and http.sys write it: `#Software`, `#Version`,
    /// `#Date` and `#Fields` directives at the top of each file, then one line per request with
    /// the fields in that order, separated by spaces; a space in a value is written `+`, an empty
    /// value `-`, and a control byte `%XX`. Dates and times are UTC.
    #[default]
    W3c,
    /// NCSA combined (Apache's `combined`): `c-ip - - [05/Dec/2026:09:03:29 +0000] "GET /a?b
    /// HTTP/1.1" 200 1234 "referer" "user agent"`; the bytes are the answer's whole size, head
    /// included. No directives; the fields are fixed.
    Ncsa,
}

/// A W3C field, named as IIS names it (see [`LogField::name`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogField {
    /// `date`: the date the answer was made (UTC, `2026-12-05`).
    Date,
    /// `time`: the time the answer was made (UTC, `09:03:29`).
    Time,
    /// `s-ip`: the server's address the request came to.
    ServerIp,
    /// `cs-method`.
    Method,
    /// `cs-uri-stem`: the target's path, as sent (not decoded).
    UriStem,
    /// `cs-uri-query`: the target's query, after the `?` (`-` when none).
    UriQuery,
    /// `s-port`.
    ServerPort,
    /// `c-ip`: the client's address.
    ClientIp,
    /// `cs-version`: `HTTP/1.1` or `HTTP/1.0`.
    Version,
    /// `cs(User-Agent)`.
    UserAgent,
    /// `cs(Referer)`.
    Referer,
    /// `cs-host`: the `Host` header.
    Host,
    /// `sc-status`.
    Status,
    /// `sc-bytes`: the answer's bytes, head included (a streamed body's are not known when the
    /// answer is made, and not counted).
    BytesSent,
    /// `cs-bytes`: the request's bytes: its head, and its body's declared length (or the bytes
    /// of a chunked body collected before the answer).
    BytesReceived,
    /// `time-taken`, in milliseconds: from the loop's pass in which the request was handed to its
    /// handler (its head; with a body an inline handler reads, once that body is in) to the pass
    /// that made its answer (the loop reads its clock once per pass): 0 for an answer made inline
    /// at once.
    TimeTaken,
}

impl LogField {
    /// Every field, in IIS's default order: the default set.
    pub const ALL: [LogField; 16] = [
        LogField::Date,
        LogField::Time,
        LogField::ServerIp,
        LogField::Method,
        LogField::UriStem,
        LogField::UriQuery,
        LogField::ServerPort,
        LogField::ClientIp,
        LogField::Version,
        LogField::UserAgent,
        LogField::Referer,
        LogField::Host,
        LogField::Status,
        LogField::BytesSent,
        LogField::BytesReceived,
        LogField::TimeTaken,
    ];

    /// The field's name in a `#Fields:` directive.
    pub fn name(self) -> &'static str {
        match self {
            LogField::Date => "date",
            LogField::Time => "time",
            LogField::ServerIp => "s-ip",
            LogField::Method => "cs-method",
            LogField::UriStem => "cs-uri-stem",
            LogField::UriQuery => "cs-uri-query",
            LogField::ServerPort => "s-port",
            LogField::ClientIp => "c-ip",
            LogField::Version => "cs-version",
            LogField::UserAgent => "cs(User-Agent)",
            LogField::Referer => "cs(Referer)",
            LogField::Host => "cs-host",
            LogField::Status => "sc-status",
            LogField::BytesSent => "sc-bytes",
            LogField::BytesReceived => "cs-bytes",
            LogField::TimeTaken => "time-taken",
        }
    }

    /// Parses a list of field names (IIS's, case-insensitive), separated by commas or spaces:
    /// `date,time,c-ip,cs-method,cs-uri-stem,sc-status`.
    ///
    /// # Errors
    /// An unknown name, a name given twice, or no name at all.
    pub fn parse_list(list: &str) -> Result<Vec<LogField>, String> {
        let mut fields = Vec::new();
        for name in list.split([',', ' ', '\t']).filter(|n| !n.is_empty()) {
            let field = LogField::ALL
                .into_iter()
                .find(|f| f.name().eq_ignore_ascii_case(name))
                .ok_or_else(|| format!("unknown access-log field {name:?} (known: {})", LogField::names()))?;
            if fields.contains(&field) {
                return Err(format!("access-log field {name:?} given twice"));
            }
            fields.push(field);
        }
        if fields.is_empty() {
            return Err("no access-log field given".into());
        }
        Ok(fields)
    }

    /// Every field's name, separated by spaces.
    fn names() -> String {
        LogField::ALL.map(LogField::name).join(" ")
    }
}

/// When a log moves on to a new file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Roll {
    /// Never: one file (a directory's file is then named by day, as with [`Roll::Daily`]).
    #[default]
    Never,
    /// When a file would grow past this many bytes (a line is never split: a single larger one
    /// goes alone into a new file).
    Size(u64),
    /// At each hour (UTC).
    Hourly,
    /// At each day (UTC).
    Daily,
}

impl Roll {
    /// Parses `size:BYTES`, `hourly`, `daily` or `never`.
    ///
    /// # Errors
    /// Anything else, or a size of 0.
    pub fn parse(s: &str) -> Result<Roll, String> {
        match s.to_ascii_lowercase().as_str() {
            "never" => Ok(Roll::Never),
            "hourly" => Ok(Roll::Hourly),
            "daily" => Ok(Roll::Daily),
            other => match other.strip_prefix("size:").map(str::parse::<u64>) {
                Some(Ok(n)) if n > 0 => Ok(Roll::Size(n)),
                _ => Err(format!("access-log roll {s:?}: expected size:BYTES (above 0), hourly, daily or never")),
            },
        }
    }
}

/// What a log is: where it goes, its format and fields, and when it rolls over.
#[derive(Clone, Debug)]
pub struct LogConfig {
    pub path: PathBuf,
    pub format: LogFormat,
    pub fields: Vec<LogField>,
    pub roll: Roll,
}

impl LogConfig {
    /// Whether a line needs the client's address.
    pub fn needs_client(&self) -> bool {
        self.format == LogFormat::Ncsa || self.fields.contains(&LogField::ClientIp)
    }

    /// Whether a line needs the server's address.
    pub fn needs_server(&self) -> bool {
        self.format == LogFormat::W3c && self.fields.contains(&LogField::ServerIp)
    }
}

/// An access log: a file (or a directory of rolled files) and how lines are written into it.
/// Set it on a server ([`ServerBuilder::access_log`](crate::ServerBuilder::access_log)) or on a
/// URL group ([`UrlGroups::set_access_log`](crate::UrlGroups::set_access_log)), as http.sys
/// sets logging on a server session or a URL group: a request is logged in its group's log,
/// else in the server's. Requests hsys refuses before routing them (a malformed or over-long
/// head, `408`) are logged in the server's log.
///
/// Clones are the same log (one file, one set of buffers): a log set on two groups writes both
/// into one file.
///
/// **Files.** `path` names a file or a directory (one that exists, or a path ending in `/`).
/// A file is written as named when the log never rolls; when it rolls, the period goes before
/// its extension: `access.log` becomes `access_26120509.log` (hourly: year, month, day, hour),
/// `access_261205.log` (daily) or `access_1.log`, `access_2.log`, … (by size). In a directory the
/// names are IIS's: `u_ex26120509.log`, `u_ex261205.log` (daily, and when it never rolls),
/// `u_extend1.log`, `u_extend2.log`, … (by size). An existing file is appended to (by size: the
/// first one not full). Each file opened gets the W3C directives at its top.
///
/// ```
/// use hsys::{AccessLog, LogField, LogFormat, Roll};
///
/// let log = AccessLog::new("/var/log/hsys/")
///     .format(LogFormat::W3c)
///     .fields(&[LogField::Date, LogField::Time, LogField::ClientIp, LogField::Method, LogField::UriStem, LogField::Status])
///     .roll(Roll::Daily);
/// # let _ = log;
/// ```
#[derive(Clone)]
pub struct AccessLog(pub(crate) Arc<LogInner>);

/// A log's shared state.
pub(crate) struct LogInner {
    pub config: LogConfig,
    /// The addresses its lines need (from `config`, once).
    pub needs: thread::Needs,
    /// Lines dropped (the writer fell behind) and not yet reported in the log by a `#Remark:`.
    pub unreported: AtomicU64,
    /// The file being written; only the writer thread (and the server's start, which opens it)
    /// touch it.
    pub file: Mutex<writer::FileState>,
}

impl fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessLog").field("config", &self.0.config).finish_non_exhaustive()
    }
}

impl AccessLog {
    /// A log at `path` (a file, or a directory: see above), W3C, every field, never rolled.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        AccessLog::of(LogConfig {
            path: path.into(),
            format: LogFormat::W3c,
            fields: LogField::ALL.to_vec(),
            roll: Roll::Never,
        })
    }

    fn of(config: LogConfig) -> Self {
        let needs = thread::Needs { client: config.needs_client(), server: config.needs_server() };
        AccessLog(Arc::new(LogInner {
            needs,
            config,
            unreported: AtomicU64::new(0),
            file: Mutex::new(writer::FileState::default()),
        }))
    }

    /// A new log with its configuration changed by `f` (a builder step: the log is not shared yet).
    fn with(self, f: impl FnOnce(&mut LogConfig)) -> Self {
        let mut config = self.0.config.clone();
        f(&mut config);
        AccessLog::of(config)
    }

    /// The format of its lines.
    pub fn format(self, format: LogFormat) -> Self {
        self.with(|c| c.format = format)
    }

    /// The W3C fields, in this order (an empty list keeps the default, every field).
    pub fn fields(self, fields: &[LogField]) -> Self {
        self.with(|c| {
            if !fields.is_empty() {
                c.fields = fields.to_vec();
            }
        })
    }

    /// When it moves on to a new file.
    pub fn roll(self, roll: Roll) -> Self {
        self.with(|c| c.roll = roll)
    }

    /// Where it is written.
    pub fn path(&self) -> &Path {
        &self.0.config.path
    }

    /// Whether `self` and `other` are the same log.
    pub(crate) fn same(&self, other: &AccessLog) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    pub(crate) fn config(&self) -> &LogConfig {
        &self.0.config
    }
}
