//! Every limit and timeout hsys enforces, with its documented default (http.sys names where they exist).

use std::time::Duration;

/// Default cap on a request head (request line + header lines): 16 KiB, as http.sys. Over it: `431`.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 16 * 1024;
/// Default cap on a request target: 16 KiB. Over it: `414`.
pub const DEFAULT_MAX_URL_LENGTH: usize = 16 * 1024;
/// Default cap on the number of header lines in one request. Over it: `431`.
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// Default bound on a graceful stop: in-flight requests get this long to finish.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);
/// Default listen backlog per listener socket.
pub const DEFAULT_BACKLOG: i32 = 4096;
/// A request body still unread when its answer is sent is drained (read and dropped) so the next
/// pipelined request stays in sync, but only up to this many bytes; past it the connection closes.
pub const DEFAULT_MAX_DRAIN_BYTES: u64 = 1024 * 1024;

/// The limits a server enforces. Each field maps to one answer status, given in its doc.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Request line plus headers, in bytes. A head that grows past it is answered `431` and closed,
    /// so a client can never make hsys buffer more than this for a head.
    pub max_request_bytes: usize,
    /// Length of the request target. Over it: `414`.
    pub max_url_length: usize,
    /// Number of header lines. Over it: `431`. Bounded by [`MAX_HEADERS_CAP`] (the parser's stack array).
    pub max_headers: usize,
    /// Unread body bytes drained after an answer before the connection is closed instead.
    pub max_drain_bytes: u64,
}

/// Hard ceiling for [`Limits::max_headers`]: the parser keeps header slots on the stack.
pub const MAX_HEADERS_CAP: usize = 256;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_url_length: DEFAULT_MAX_URL_LENGTH,
            max_headers: DEFAULT_MAX_HEADERS,
            max_drain_bytes: DEFAULT_MAX_DRAIN_BYTES,
        }
    }
}
