//! The answer a handler writes ([`Response`]), and the seam ([`Encode`]) through which a protocol
//! codec puts it on the wire.
//!
//! `Response` knows HTTP's semantics (a status, header fields, a body whose length is known or
//! not, `HEAD` answers without a body, which statuses carry none); it knows nothing of a wire
//! format. Each call goes straight to the connection's encoder, which writes into the
//! connection's output buffer: nothing is stored or allocated per request.

use std::fs::File;
use std::sync::Arc;

use super::cache::{Body, CachePolicy, Given};
use crate::pipe::StreamSource;
use crate::semantics;

/// How the body that follows a head is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyLength {
    /// Exactly this many bytes (sent as `Content-Length` where the status allows one).
    Known(u64),
    /// Streamed by the application, its length unknown until it ends.
    Unknown,
}

/// The seam between the application layer and a protocol codec: how an answer's head is put on
/// the wire. HTTP/1 implements it (`h1::encode::H1Encoder`); an HTTP/2 codec would implement it
/// by collecting the fields into a HEADERS frame. Calls come in order: `start`, any number of
/// `header`/`header_lines`, `end_head`, then any number of `body`. Header names and values are
/// validated before they reach the encoder, and framing headers never do.
pub trait Encode {
    /// Begins an answer with `status` (100–999).
    fn start(&mut self, status: u16);
    /// One header field.
    fn header(&mut self, name: &str, value: &[u8]);
    /// Header fields already validated and laid out as `name: value\r\n` lines (a
    /// [`Prepared`](crate::Prepared) answer's).
    fn header_lines(&mut self, lines: &[u8]);
    /// Ends the head. `close`: the connection ends after this answer. Returns whether it does in
    /// the end (a codec may have to close to delimit a body of unknown length).
    fn end_head(&mut self, status: u16, length: BodyLength, close: bool) -> bool;
    /// Begins and ends a [`Prepared`](crate::Prepared) answer's head at once, from `head` (its
    /// header lines — the first `lines_len` bytes — then its `Content-Length` line and the blank
    /// line, in HTTP/1's form), when the codec can take it as it is: `true` if it did (the
    /// connection stays open), `false` (the default) to be given it the long way, `start`,
    /// `header_lines`, `end_head`.
    fn prepared_head(&mut self, _status: u16, _head: &[u8], _lines_len: usize) -> bool {
        false
    }
    /// Body bytes, after the head.
    fn body(&mut self, bytes: &[u8]);
    /// Bytes this answer has put in the output so far.
    fn written(&self) -> usize;
    /// The header lines (as `name: value\r\n`, given through `header`/`header_lines`) and the
    /// body bytes this answer has put in the output, when the codec can tell: what the response
    /// cache stores of an answer given inline. `None` (the default) stores nothing.
    fn recorded(&self) -> Option<(&[u8], &[u8])> {
        None
    }
    /// Asks the codec to keep what [`recorded`](Encode::recorded) returns, before the answer
    /// is begun (a codec that frames its output, HTTP/2, keeps a copy only when asked: the
    /// cache may store the answer). The default does nothing.
    fn record(&mut self) {}
    /// Throws away everything this answer has put in the output.
    fn discard(&mut self);
}

/// Where a [`Response`] is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Nothing written yet; the status may still change.
    Fresh,
    /// Status line and some headers written.
    Headers,
    /// The whole response is written.
    Done,
}

/// A file answer's body, sent with `sendfile(2)` by the I/O thread after the head.
#[derive(Clone, Debug)]
pub struct FileBody {
    /// The open file.
    pub file: Arc<File>,
    /// Where the next byte comes from.
    pub offset: u64,
    /// Bytes still to send.
    pub len: u64,
}

/// A [`Prepared`](crate::Prepared) answer's body, shared by every connection sending it: what a
/// connection holds of it is a reference and how far it got, not a copy.
#[derive(Clone, Debug)]
pub struct SharedBody {
    /// The bytes, shared with the `Prepared` answer (and every other connection sending it).
    pub body: Arc<[u8]>,
    /// Where the next byte comes from: the bytes before it are sent.
    pub offset: usize,
}

/// A prepared body at least this long follows its head as a [`Tail::Shared`] (sent from the
/// shared bytes); a shorter one is copied into the output with the head, as any body is.
/// A copy costs memory per connection until the client takes it (a slow reader of a 256 KiB
/// answer held 220 KiB); a tail costs a second `send` (the head's own) and a small box. Below
/// this size the copy is the cheaper (one `send`, and a small answer never allocates), and a
/// socket's send buffer (16 KiB at least) takes it at once, so it never waits in the output.
/// (Measured with wrk, one thread, 32 connections: at 256 KiB the tail is as fast as the copy or
/// faster; at 16–32 KiB the io_uring backend serves 14–20% fewer answers, its head going through
/// the ring and the body only after the head's completion; epoll is within its noise.)
pub const SHARED_BODY_MIN: usize = 16 * 1024;

/// What follows an answer's head on the wire besides bytes in the output buffer: a file, a
/// shared body, or a stream written by an application thread. The I/O thread sends it before
/// anything else, as it is (the head's framing delimits it: `Content-Length`, or chunks the
/// stream's writer adds).
#[derive(Clone, Debug)]
pub enum Tail {
    /// Sent with `sendfile(2)` (boxed: a connection's state holds room for a tail, and most never
    /// send a file).
    File(Box<FileBody>),
    /// Sent from the shared bytes, what the socket does not take left where it is (boxed, as a
    /// file is: `Option<Tail>` stays two words).
    Shared(Box<SharedBody>),
    /// Sent as the writer fills it.
    Stream(StreamSource),
}

impl Tail {
    /// The bytes still to send, when known (a stream's are not).
    pub(crate) fn known_len(&self) -> u64 {
        match self {
            Tail::File(f) => f.len,
            Tail::Shared(s) => s.body.len().saturating_sub(s.offset) as u64,
            Tail::Stream(_) => 0,
        }
    }
}

/// A misuse of a [`Response`]: returned by the call that completes it ([`body`](Response::body),
/// [`file`](Response::file), [`prepared`](Response::prepared)), and the client is answered `500`
/// instead (on a connection that stays open when the request allowed it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseError {
    /// [`status`](Response::status) was called after a header (or a body): the head had begun.
    StatusAfterHeaders,
    /// A status outside `100..=999`.
    InvalidStatus(u16),
    /// A `1xx` status as the final answer (an interim answer is not the handler's to send).
    InformationalStatus(u16),
    /// A header name that is not a token, or a value holding CR, LF or NUL (response splitting).
    InvalidHeader,
    /// The response was already complete (a second body, or a header after the body). Nothing
    /// more is written: the client gets the first answer.
    AlreadyAnswered,
}

impl std::fmt::Display for ResponseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResponseError::StatusAfterHeaders => f.write_str("the status was set after a header"),
            ResponseError::InvalidStatus(s) => write!(f, "status {s} is outside 100..=999"),
            ResponseError::InformationalStatus(s) => write!(f, "status {s} (1xx) cannot be a final answer"),
            ResponseError::InvalidHeader => {
                f.write_str("a header name is not a token, or its value holds CR, LF or NUL")
            }
            ResponseError::AlreadyAnswered => f.write_str("the response was already complete"),
        }
    }
}

impl std::error::Error for ResponseError {}

/// A response being written by a handler.
///
/// Call [`status`](Response::status) first (default `200`), then [`header`](Response::header) any
/// number of times, then [`body`](Response::body) once. hsys owns the framing: it writes `Server`,
/// `Date`, `Content-Length` and `Connection` itself and drops those names if a handler sets them
/// (a handler's `Connection: close` is honoured as [`close`](Response::close)). For `HEAD` requests
/// and 204/304 answers the body is not sent.
///
/// A misuse (a status after a header, an invalid status or header, a second body) is not
/// dropped silently: `status` and `header` keep chaining but record the first one, and the call
/// that completes the response returns it as a [`ResponseError`] while the client gets `500`.
///
/// ```
/// use hsys::{Request, Response, ResponseError, Server};
///
/// let server = Server::builder()
///     .bind("127.0.0.1:0")
///     .serve(|req: &Request<'_>, res: &mut Response<'_>| {
///         let answered = match req.path() {
///             "/new" => res.status(201).header("Location", "/new/1").body(b"created"),
///             // Headers first, then the status: a misuse, answered 500.
///             _ => res.header("Location", "/x").status(201).body(b""),
///         };
///         if let Err(e) = answered {
///             assert_eq!(e, ResponseError::StatusAfterHeaders);
///         }
///     })?;
/// # let addr = server.local_addrs()[0];
/// # use std::io::{Read, Write};
/// # let mut c = std::net::TcpStream::connect(addr).unwrap();
/// # c.write_all(b"GET /new HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap();
/// # let mut got = String::new();
/// # c.read_to_string(&mut got).unwrap();
/// # assert!(got.starts_with("HTTP/1.1 201 Created\r\n"), "{got}");
/// # let mut c = std::net::TcpStream::connect(addr).unwrap();
/// # c.write_all(b"GET /old HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap();
/// # let mut got = String::new();
/// # c.read_to_string(&mut got).unwrap();
/// # assert!(got.starts_with("HTTP/1.1 500 "), "{got}");
/// # Ok::<(), hsys::Error>(())
/// ```
pub struct Response<'a> {
    enc: &'a mut dyn Encode,
    status: u16,
    stage: Stage,
    /// The request was `HEAD`: headers (with the real `Content-Length`) but no body bytes.
    head_only: bool,
    /// The connection closes after this response.
    close: bool,
    /// A body to send after the head.
    tail: Option<Tail>,
    /// The first misuse, answered `500` when the response is completed.
    misuse: Option<ResponseError>,
    /// Whether the server may store this answer and serve it again itself.
    cache: CachePolicy,
    /// The answer itself asked to close the connection (never stored: see [`Response::given`]).
    answer_closes: bool,
}

impl std::fmt::Debug for Response<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("stage", &self.stage)
            .field("head_only", &self.head_only)
            .field("close", &self.close)
            .field("misuse", &self.misuse)
            .finish_non_exhaustive()
    }
}

impl<'a> Response<'a> {
    /// A response written through `enc`; `head_only` for a `HEAD` request, `close` when the
    /// connection ends after it whatever the handler says.
    pub(crate) fn new(enc: &'a mut dyn Encode, head_only: bool, close: bool) -> Self {
        Response {
            enc,
            status: 200,
            stage: Stage::Fresh,
            head_only,
            close,
            tail: None,
            misuse: None,
            cache: CachePolicy::NoCache,
            answer_closes: false,
        }
    }

    /// Lets the server store this answer and serve it again itself, from the I/O thread, to later
    /// requests for the same URL (see [`CachePolicy`] for which requests and answers are
    /// stored). May be called at any point before the handler returns; it overrides a
    /// [`Prepared`](crate::Prepared) answer's own policy.
    pub fn cache(&mut self, policy: CachePolicy) -> &mut Self {
        self.cache = policy;
        self
    }

    /// The answer's cache policy.
    pub fn cache_policy(&self) -> CachePolicy {
        self.cache
    }

    /// The cache may store this answer: the codec keeps what it would store
    /// ([`Encode::record`]). Called before the answer is begun.
    pub(crate) fn record(&mut self) {
        self.enc.record();
    }

    /// The answer as the cache would store it: complete, given whole (its header lines and body
    /// in the output, or a prepared answer's shared body), with a policy that stores. `None`
    /// otherwise (a file or stream body, an error answer, a codec that cannot tell).
    pub(crate) fn given(&self) -> Option<Given<'_>> {
        if self.stage != Stage::Done || !self.cache.stores() || self.head_only || self.answer_closes {
            return None;
        }
        let (lines, bytes) = self.enc.recorded()?;
        let body = match &self.tail {
            None => Body::Bytes(bytes),
            Some(Tail::Shared(shared)) if bytes.is_empty() => Body::Shared(&shared.body),
            Some(_) => return None,
        };
        Some(Given { status: self.status, lines, body, policy: self.cache })
    }

    /// Sets the status code (`200..=999`; `200` unless set). Called after a header or the body,
    /// or with a status outside that range (a `1xx` cannot be a final answer), it records a
    /// misuse: the status is left as it was, and the response becomes a `500` when completed.
    pub fn status(&mut self, code: u16) -> &mut Self {
        if self.stage == Stage::Fresh && (200..=999).contains(&code) {
            self.status = code;
        } else {
            self.misused(match code {
                _ if self.stage == Stage::Done => ResponseError::AlreadyAnswered,
                _ if self.stage != Stage::Fresh => ResponseError::StatusAfterHeaders,
                100..=199 => ResponseError::InformationalStatus(code),
                _ => ResponseError::InvalidStatus(code),
            });
        }
        self
    }

    /// Records `e` unless a misuse was recorded already (the first one is reported).
    #[cold]
    fn misused(&mut self, e: ResponseError) {
        self.misuse.get_or_insert(e);
    }

    /// Asks hsys to close the connection after this response (`Connection: close` is sent).
    /// Has no effect once the body was written.
    pub fn close(&mut self) -> &mut Self {
        if self.stage != Stage::Done {
            self.close = true;
            self.answer_closes = true;
        }
        self
    }

    /// Adds a header. The framing headers hsys writes itself are dropped (`Connection: close` is
    /// honoured). A name that is not a token or a value holding CR, LF or NUL (response
    /// splitting) records a misuse ([`ResponseError::InvalidHeader`]), as does a header after the
    /// body: the response becomes a `500` when completed.
    pub fn header(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Self {
        let value = value.as_ref();
        if self.stage == Stage::Done {
            self.misused(ResponseError::AlreadyAnswered);
            return self;
        }
        if !semantics::is_token(name.as_bytes()) || !semantics::is_safe_value(value) {
            self.misused(ResponseError::InvalidHeader);
            return self;
        }
        if is_framing_header(name) {
            let close = is_close_request(name, value);
            self.close |= close;
            self.answer_closes |= close;
            return self;
        }
        self.begin();
        self.enc.header(name, value);
        self
    }

    /// Answers with a [`Prepared`](crate::Prepared) answer and completes the response (its
    /// status, headers and body are the prepared ones). A body of
    /// `SHARED_BODY_MIN` (16 KiB) bytes or more is not copied: it follows the head as a
    /// shared tail, so a slow reader holds a reference to it, not a copy.
    ///
    /// # Errors
    /// A misuse recorded before (the client gets `500`), or a header or body already written
    /// ([`StatusAfterHeaders`](ResponseError::StatusAfterHeaders) — a `500` too — or
    /// [`AlreadyAnswered`](ResponseError::AlreadyAnswered)).
    pub fn prepared(&mut self, answer: &crate::Prepared) -> Result<(), ResponseError> {
        if self.stage != Stage::Fresh || self.misuse.is_some() {
            if self.stage == Stage::Headers {
                self.misused(ResponseError::StatusAfterHeaders);
            }
            return self.refuse();
        }
        self.status = answer.status;
        self.close |= answer.close;
        self.answer_closes |= answer.close;
        if self.cache == CachePolicy::NoCache {
            self.cache = answer.cache;
        }
        if !self.close && self.enc.prepared_head(self.status, &answer.head, answer.lines_len) {
            self.stage = Stage::Headers;
        } else {
            self.begin();
            self.enc.header_lines(answer.headers());
            self.close = self.enc.end_head(self.status, BodyLength::Known(answer.length), self.close);
        }
        if !self.head_only {
            if answer.body.len() < SHARED_BODY_MIN {
                self.enc.body(&answer.body);
            } else {
                self.share_body(&answer.body);
            }
        }
        self.stage = Stage::Done;
        Ok(())
    }

    /// A large prepared body follows the head as a tail, sent from the shared bytes.
    #[cold]
    fn share_body(&mut self, body: &Arc<[u8]>) {
        self.tail = Some(Tail::Shared(Box::new(SharedBody { body: Arc::clone(body), offset: 0 })));
    }

    /// Writes the body and completes the response.
    ///
    /// # Errors
    /// A misuse recorded by [`status`](Response::status) or [`header`](Response::header): the
    /// client gets `500` instead. [`AlreadyAnswered`](ResponseError::AlreadyAnswered) when the
    /// response was complete already: nothing more is written.
    pub fn body(&mut self, body: &[u8]) -> Result<(), ResponseError> {
        if self.stage == Stage::Done || self.misuse.is_some() {
            return self.refuse();
        }
        self.begin();
        self.close = self.enc.end_head(self.status, BodyLength::Known(body.len() as u64), self.close);
        if !self.head_only && semantics::status_has_body(self.status) {
            self.enc.body(body);
        }
        self.stage = Stage::Done;
        Ok(())
    }

    /// Completes the answer to a `HEAD` request whose `GET` would have `len` bytes of body: the
    /// head carries `Content-Length: len` (RFC 9110 §8.6), and no body follows. On any other
    /// request it is [`body`](Response::body) with an empty body.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))] // a tower service's HEAD answer
    pub(crate) fn head_length(&mut self, len: u64) -> Result<(), ResponseError> {
        if !self.head_only {
            return self.body(b"");
        }
        if self.stage == Stage::Done || self.misuse.is_some() {
            return self.refuse();
        }
        self.begin();
        self.close = self.enc.end_head(self.status, BodyLength::Known(len), self.close);
        self.stage = Stage::Done;
        Ok(())
    }

    /// Whether the request was `HEAD` (no body bytes go out).
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    pub(crate) fn is_head_only(&self) -> bool {
        self.head_only
    }

    /// A completing call that cannot write its answer: a second one is refused, a misuse becomes
    /// a `500` in place of what was written of the head.
    #[cold]
    fn refuse(&mut self) -> Result<(), ResponseError> {
        if self.stage == Stage::Done {
            // The first answer stands; a misuse recorded meanwhile is reported first.
            return Err(self.misuse.take().unwrap_or(ResponseError::AlreadyAnswered));
        }
        let e = self.misuse.take().unwrap_or(ResponseError::AlreadyAnswered);
        // The head's own framing is not yet on the wire: the connection stays usable.
        let close = self.close;
        self.write_error(500, close);
        Err(e)
    }

    /// Answers with the contents of `file` (its length now, as `Content-Length`), sent with
    /// `sendfile(2)` straight from the page cache once the head is out. Later body calls do
    /// nothing. The file must not shrink while it is sent (the connection is closed if it does).
    ///
    /// # Errors
    /// When the file's length cannot be read ([`io::Error`](std::io::Error); nothing is written
    /// then), or a misuse as for [`body`](Response::body) (an error of kind `InvalidInput` whose
    /// inner error is the [`ResponseError`]; the client gets `500`).
    pub fn file(&mut self, file: File) -> std::io::Result<()> {
        let len = file.metadata()?.len();
        self.file_body(FileBody { file: Arc::new(file), offset: 0, len })
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
    }

    pub(crate) fn file_body(&mut self, body: FileBody) -> Result<(), ResponseError> {
        if self.stage == Stage::Done || self.misuse.is_some() {
            return self.refuse();
        }
        self.begin();
        self.close = self.enc.end_head(self.status, BodyLength::Known(body.len), self.close);
        if !self.head_only && semantics::status_has_body(self.status) && body.len > 0 {
            self.tail = Some(Tail::File(Box::new(body)));
        }
        self.stage = Stage::Done;
        Ok(())
    }

    /// Writes a head whose body an application thread streams through `pipe`, `length` bytes of
    /// it when known.
    pub(crate) fn stream_body(&mut self, pipe: StreamSource, length: Option<u64>) -> Result<(), ResponseError> {
        if self.stage == Stage::Done || self.misuse.is_some() {
            return self.refuse();
        }
        let has_body = semantics::status_has_body(self.status);
        self.begin();
        let framing = length.map_or(BodyLength::Unknown, BodyLength::Known);
        self.close = self.enc.end_head(self.status, framing, self.close);
        if !self.head_only && has_body && length != Some(0) {
            self.tail = Some(Tail::Stream(pipe));
        }
        self.stage = Stage::Done;
        Ok(())
    }

    /// The body to send after what was written, if any.
    pub(crate) fn take_tail(&mut self) -> Option<Tail> {
        self.tail.take()
    }

    /// The status answered (after [`finish`](Response::finish) or an error's replacement, the
    /// one sent).
    pub(crate) fn status_code(&self) -> u16 {
        self.status
    }

    /// Bytes this response has written so far.
    pub(crate) fn written(&self) -> usize {
        self.enc.written()
    }

    /// Whether the response is complete.
    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Whether the connection closes after this response.
    pub fn closes(&self) -> bool {
        self.close
    }

    /// Completes a response its handler left unfinished: with no status or header written it
    /// becomes a `500`; otherwise it gets an empty body (a `500` after a misuse).
    pub(crate) fn finish(&mut self) {
        if self.stage == Stage::Fresh && self.status == 200 && self.misuse.is_none() {
            self.status = 500;
            self.close = true;
        }
        let _ = self.body(b""); // a misuse becomes its `500`: nobody is left to tell
    }

    /// Writes hsys's own `503` (no target, a group's connection limit, a full queue) and closes:
    /// the same answer as [`Reply::unavailable`](crate::Reply) sends.
    pub(crate) fn unavailable(&mut self) {
        // (hsys's own answer: no misuse to report.)
        let _ = self.status(503).close().header("Content-Type", "text/plain").body(super::reply::UNAVAILABLE);
    }

    /// Throws away whatever was written and writes an error answer instead (after a handler panic).
    pub(crate) fn replace_with_error(&mut self, status: u16) {
        self.write_error(status, true);
    }

    /// Throws away whatever was written and writes `status` with its reason as the body.
    fn write_error(&mut self, status: u16, close: bool) {
        self.enc.discard();
        self.tail = None;
        self.misuse = None;
        // An error answer is never stored.
        self.cache = CachePolicy::NoCache;
        self.stage = Stage::Fresh;
        self.status = status;
        self.close = close;
        self.begin();
        self.enc.header("Content-Type", b"text/plain");
        let body = semantics::reason(status).as_bytes();
        self.close = self.enc.end_head(status, BodyLength::Known(body.len() as u64), self.close);
        if !self.head_only {
            self.enc.body(body);
        }
        self.stage = Stage::Done;
    }

    fn begin(&mut self) {
        if self.stage == Stage::Fresh {
            self.enc.start(self.status);
            self.stage = Stage::Headers;
        }
    }
}

/// Whether a handler's header asks to close the connection (`Connection: close`).
pub(crate) fn is_close_request(name: &str, value: &[u8]) -> bool {
    name.eq_ignore_ascii_case("connection")
        && value.split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
}

/// Headers whose meaning hsys owns.
pub(crate) fn is_framing_header(name: &str) -> bool {
    // By length first: most names a handler sets have none of these lengths.
    match name.len() {
        4 => name.eq_ignore_ascii_case("date"),
        6 => name.eq_ignore_ascii_case("server"),
        10 => name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive"),
        14 => name.eq_ignore_ascii_case("content-length"),
        17 => name.eq_ignore_ascii_case("transfer-encoding"),
        _ => false,
    }
}
