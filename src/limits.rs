//! Every limit and timeout hsys enforces, with its documented default (http.sys names where they exist).

use std::time::Duration;

/// Default cap on a request head (request line + header lines): 16 KiB, as http.sys. Over it: `431`.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 16 * 1024;
/// Default cap on one header line (name, colon, value): 16 KiB (http.sys `MaxFieldLength`). Over it: `431`.
pub const DEFAULT_MAX_FIELD_LENGTH: usize = 16 * 1024;
/// Default cap on a request target: 16 KiB. Over it: `414`.
pub const DEFAULT_MAX_URL_LENGTH: usize = 16 * 1024;
/// Default cap on the number of header lines in one request. Over it: `431`.
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// Default cap on a request body: 1 MiB. Over it: `413`.
pub const DEFAULT_MAX_BODY_SIZE: u64 = 1024 * 1024;
/// Default cap on the chunk extensions of one chunk, and on a chunked body's trailer section. Over it: `400`.
pub const DEFAULT_MAX_CHUNK_EXTRA_BYTES: usize = 16 * 1024;
/// Default bound on a graceful stop: in-flight requests get this long to finish.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);
/// Default listen backlog per listener socket.
pub const DEFAULT_BACKLOG: i32 = 4096;
/// A request body still unread when its answer is sent is drained (read and dropped) so the next
/// pipelined request stays in sync, but only up to this many bytes; past it the connection closes.
pub const DEFAULT_MAX_DRAIN_BYTES: u64 = 1024 * 1024;

/// Default `HeaderWait`: time allowed for a request head to arrive once its first byte has.
pub const DEFAULT_HEADER_WAIT: Duration = Duration::from_secs(120);
/// Default `IdleConnection`: time a connection may sit between requests.
pub const DEFAULT_IDLE_CONNECTION: Duration = Duration::from_secs(120);
/// Default `EntityBody`: time allowed between two arrivals of request-body bytes.
pub const DEFAULT_ENTITY_BODY: Duration = Duration::from_secs(120);
/// Default `DrainEntityBody`: time allowed to drain an unread body after its answer was sent.
pub const DEFAULT_DRAIN_ENTITY_BODY: Duration = Duration::from_secs(120);
/// Default `MinSendRate`: bytes per second a client must read answers at (after a grace period).
pub const DEFAULT_MIN_SEND_RATE: u64 = 150;
/// Default grace of a [`MinRate`] made with [`MinRate::per_second`]: 5 s, as Kestrel's
/// `MinRequestBodyDataRate` (240 B/s after 5 s there; off by default in hsys).
pub const DEFAULT_RECEIVE_RATE_GRACE: Duration = Duration::from_secs(5);

/// How line ends are accepted in request heads and chunked framing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strictness {
    /// CRLF only; a bare LF or bare CR is a `400` (the default).
    #[default]
    Strict,
    /// A bare LF is accepted as a line end, as RFC 9112 §2.2 permits; a bare CR is still a `400`.
    Lenient,
}

/// The limits a server enforces. Each field maps to one answer status, given in its doc.
///
/// Built from its defaults with one setter per field (named as the field), so a field added
/// later breaks no caller:
///
/// ```
/// use hsys::{Limits, Strictness};
///
/// let limits = Limits::default().max_body_size(Some(64 * 1024)).strictness(Strictness::Lenient);
/// assert_eq!(limits.max_body_size, Some(64 * 1024));
/// assert_eq!(limits.max_request_bytes, hsys::limits::DEFAULT_MAX_REQUEST_BYTES);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Limits {
    /// Request line plus headers, in bytes. A head that grows past it is answered `431` and closed,
    /// so a client can never make hsys buffer more than this for a head.
    pub max_request_bytes: usize,
    /// One header line (http.sys `MaxFieldLength`). Over it: `431`.
    pub max_field_length: usize,
    /// Length of the request target. Over it: `414`.
    pub max_url_length: usize,
    /// Number of header lines. Over it: `431`. Bounded by [`MAX_HEADERS_CAP`] (the parser's stack array).
    pub max_headers: usize,
    /// Request body size (`None`: unlimited). A declared `Content-Length` over it is answered
    /// `413` before any handler runs; a chunked body that grows past it, `413` when it does.
    pub max_body_size: Option<u64>,
    /// Chunk extensions of one chunk, and the trailer section of a chunked body. Over it: `400`.
    pub max_chunk_extra_bytes: usize,
    /// Unread body bytes drained after an answer before the connection is closed instead.
    pub max_drain_bytes: u64,
    /// Open connections per server (`None`: unlimited). Past it, new connections wait in the
    /// kernel's backlog until one closes.
    pub max_connections: Option<usize>,
    /// How line ends are accepted.
    pub strictness: Strictness,
}

/// One setter per field: `$name(self, value) -> Self` sets the field of that name.
macro_rules! setters {
    ($ty:ident { $($name:ident: $t:ty),* $(,)? }) => {
        impl $ty {
            $(
                #[doc = concat!("Sets [`", stringify!($name), "`](", stringify!($ty), "::", stringify!($name), ").")]
                #[must_use]
                pub fn $name(mut self, $name: $t) -> Self {
                    self.$name = $name;
                    self
                }
            )*
        }
    };
}

setters!(Limits {
    max_request_bytes: usize,
    max_field_length: usize,
    max_url_length: usize,
    max_headers: usize,
    max_body_size: Option<u64>,
    max_chunk_extra_bytes: usize,
    max_drain_bytes: u64,
    max_connections: Option<usize>,
    strictness: Strictness,
});

setters!(Timeouts {
    header_wait: Duration,
    idle_connection: Duration,
    entity_body: Duration,
    drain_entity_body: Duration,
    min_send_rate: u64,
    min_receive_rate: Option<MinRate>,
});

/// Hard ceiling for [`Limits::max_headers`]: the parser keeps header slots on the stack.
pub const MAX_HEADERS_CAP: usize = 256;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_field_length: DEFAULT_MAX_FIELD_LENGTH,
            max_url_length: DEFAULT_MAX_URL_LENGTH,
            max_headers: DEFAULT_MAX_HEADERS,
            max_body_size: Some(DEFAULT_MAX_BODY_SIZE),
            max_chunk_extra_bytes: DEFAULT_MAX_CHUNK_EXTRA_BYTES,
            max_drain_bytes: DEFAULT_MAX_DRAIN_BYTES,
            max_connections: None,
            strictness: Strictness::Strict,
        }
    }
}

/// The timeouts a server enforces (http.sys `HTTP_TIMEOUT_LIMIT_INFO`). Timers tick every 100 ms:
/// a timeout fires within a tick after it is due. (The request-queue timeout belongs to each
/// queue: [`RequestQueue::with_timeout`](crate::RequestQueue::with_timeout).)
///
/// Built as [`Limits`] is, from its defaults with one setter per field:
///
/// ```
/// use std::time::Duration;
/// use hsys::Timeouts;
///
/// let timeouts = Timeouts::default().header_wait(Duration::from_secs(10)).min_send_rate(0);
/// assert_eq!(timeouts.idle_connection, hsys::limits::DEFAULT_IDLE_CONNECTION);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Timeouts {
    /// From a request's first byte to the end of its head. Late: `408` and a close.
    pub header_wait: Duration,
    /// Between requests on a keep-alive connection. Late: a silent close.
    pub idle_connection: Duration,
    /// Between arrivals of request-body bytes while the body is being read. Late: `408` (when
    /// no answer was sent yet) and a close.
    pub entity_body: Duration,
    /// To drain a body left unread after its answer. Late: a close.
    pub drain_entity_body: Duration,
    /// Bytes per second a client must take answers at (http.sys `MinSendRate`): a client that
    /// took fewer than this many bytes per second over the last window — 10 s, or the time four
    /// TCP segments take at this rate if longer (a receiver reopens its window a segment or more
    /// at a time) — is closed, first judged one window after its output began to wait. `0`: no
    /// minimum.
    pub min_send_rate: u64,
    /// Beyond http.sys (Kestrel's `MinRequestBodyDataRate`): the least rate a request body being
    /// read must arrive at, averaged from when hsys began to wait for it, and judged once the
    /// rate's grace has passed — for a body collected for an inline answer and one streamed to a
    /// queue alike. Below it: `408` (when no answer was sent yet) and a close, counted in
    /// `timed_out`. A body hsys is not reading (its queue's reader is full, or the client waits
    /// for `100 Continue`) is not judged; when reading resumes, its rate is measured anew.
    /// `None` (the default): only [`entity_body`](Timeouts::entity_body) bounds a body, so a
    /// client sending a byte at a time holds its connection for as long as
    /// [`max_body_size`](Limits::max_body_size) allows.
    pub min_receive_rate: Option<MinRate>,
}

/// A minimum data rate with a grace period (Kestrel's `MinDataRate`), for
/// [`Timeouts::min_receive_rate`]: a transfer that began at `t0` must have brought at least
/// `bytes_per_second` × (`now` − `t0`) bytes at every moment after `t0 + grace`.
///
/// ```
/// use std::time::Duration;
/// use hsys::{MinRate, Timeouts};
///
/// let timeouts = Timeouts::default().min_receive_rate(Some(MinRate::per_second(240)));
/// assert_eq!(timeouts.min_receive_rate.unwrap().grace, Duration::from_secs(5));
/// let quick = MinRate::per_second(1000).grace(Duration::from_secs(1));
/// assert_eq!(quick.bytes_per_second, 1000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MinRate {
    /// Bytes per second, averaged from the start; `0` judges nothing.
    pub bytes_per_second: u64,
    /// From the start, how long the rate is not judged (a slow start, a client's first
    /// round trips).
    pub grace: Duration,
}

impl MinRate {
    /// `bytes_per_second`, with the default grace ([`DEFAULT_RECEIVE_RATE_GRACE`]).
    pub const fn per_second(bytes_per_second: u64) -> MinRate {
        MinRate { bytes_per_second, grace: DEFAULT_RECEIVE_RATE_GRACE }
    }

    /// Sets [`grace`](MinRate::grace).
    #[must_use]
    pub const fn grace(mut self, grace: Duration) -> MinRate {
        self.grace = grace;
        self
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header_wait: DEFAULT_HEADER_WAIT,
            idle_connection: DEFAULT_IDLE_CONNECTION,
            entity_body: DEFAULT_ENTITY_BODY,
            drain_entity_body: DEFAULT_DRAIN_ENTITY_BODY,
            min_send_rate: DEFAULT_MIN_SEND_RATE,
            min_receive_rate: None,
        }
    }
}

/// Default request-queue length (http.sys: 1000).
pub const DEFAULT_QUEUE_LENGTH: usize = 1000;
/// Default time a request may wait in the queue before it is answered `503` (http.sys: 120 s).
pub const DEFAULT_REQUEST_QUEUE_TIMEOUT: Duration = Duration::from_secs(120);
