//! Answers made away from the connection: [`Prepared`] (encoded once, sent many times) and
//! [`Reply`] (an owned answer built on any thread, encoded later by the connection's I/O thread).

use std::borrow::Cow;
use std::fs::File;
use std::sync::Arc;

use super::cache::{CachePolicy, Given};
use super::response::{FileBody, Response, ResponseError, SHARED_BODY_MIN, is_close_request, is_framing_header};
use crate::pipe::StreamSource;
use crate::semantics;

/// An answer checked once and sent many times: its headers are validated and laid out when it
/// is made. Per request [`Response::prepared`] adds only the status line, `Server` and `Date`
/// (the thread's cached block), `Content-Length` and, when needed, `Connection`, then copies the
/// rest: a static answer costs three copies. A body of
/// `SHARED_BODY_MIN` (16 KiB) bytes or more is not copied but sent
/// from the answer's own bytes, which every connection sending it shares.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub(crate) status: u16,
    /// The handler's header lines, validated, as `name: value\r\n` (the first `lines_len`
    /// bytes), then the `Content-Length: n\r\n` line when the status announces a length, then
    /// the blank line: the rest of an HTTP/1 head after `Server` and `Date` when no `Connection`
    /// is owed, copied whole ([`Encode::prepared_head`](super::response::Encode::prepared_head)).
    pub(crate) head: Box<[u8]>,
    pub(crate) lines_len: usize,
    /// The body (empty for 1xx, 204 and 304, which carry none); shared, not copied, by the
    /// connections that send a large one (see [`Response::prepared`]).
    pub(crate) body: Arc<[u8]>,
    /// The body's length as given, which a `304` announces though it sends no body.
    pub(crate) length: u64,
    /// A `Connection: close` among the headers: the connection ends after the answer.
    pub(crate) close: bool,
    /// Whether the server may store the answer (see [`Prepared::cache`]).
    pub(crate) cache: CachePolicy,
}

impl Prepared {
    /// `status` (`200..=999`), `headers` (the framing headers hsys writes itself are dropped, as
    /// [`Response::header`] drops them) and `body`.
    ///
    /// # Errors
    /// What would be a misuse of a [`Response`]: a status outside `200..=999`
    /// ([`InvalidStatus`](ResponseError::InvalidStatus),
    /// [`InformationalStatus`](ResponseError::InformationalStatus)) or an invalid header
    /// ([`InvalidHeader`](ResponseError::InvalidHeader)).
    ///
    /// # Examples
    /// ```
    /// use std::sync::Arc;
    /// use hsys::{Prepared, Request, Response, Server};
    ///
    /// // Checked and laid out once; each answer copies it.
    /// let hello = Arc::new(Prepared::new(200, [("Content-Type", &b"text/plain"[..])], b"hello")?);
    /// let server = Server::builder()
    ///     .bind("127.0.0.1:0")
    ///     .serve(move |_: &Request<'_>, res: &mut Response<'_>| {
    ///         let _ = res.prepared(&hello); // only a misuse before it could fail
    ///     })?;
    /// # use std::io::{Read, Write};
    /// # let mut c = std::net::TcpStream::connect(server.local_addrs()[0]).unwrap();
    /// # c.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap();
    /// # let mut got = String::new();
    /// # c.read_to_string(&mut got).unwrap();
    /// # assert!(got.starts_with("HTTP/1.1 200 OK\r\n") && got.ends_with("\r\n\r\nhello"), "{got}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new<'a>(
        status: u16,
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        body: &[u8],
    ) -> Result<Self, ResponseError> {
        match status {
            200..=999 => {}
            100..=199 => return Err(ResponseError::InformationalStatus(status)),
            _ => return Err(ResponseError::InvalidStatus(status)),
        }
        let mut head = Vec::new();
        let mut close = false;
        for (name, value) in headers {
            if !semantics::is_token(name.as_bytes()) || !semantics::is_safe_value(value) {
                return Err(ResponseError::InvalidHeader);
            }
            close |= is_close_request(name, value);
            if !is_framing_header(name) {
                head.extend_from_slice(name.as_bytes());
                head.extend_from_slice(b": ");
                head.extend_from_slice(value);
                head.extend_from_slice(b"\r\n");
            }
        }
        let length = body.len() as u64;
        let body: Arc<[u8]> = if semantics::status_has_body(status) { body.into() } else { Arc::default() };
        Ok(Prepared::assemble(status, &head, body, length, close, CachePolicy::NoCache))
    }

    /// A prepared answer of header lines already checked and laid out (`name: value\r\n`).
    pub(crate) fn assemble(
        status: u16,
        lines: &[u8],
        body: Arc<[u8]>,
        length: u64,
        close: bool,
        cache: CachePolicy,
    ) -> Self {
        let mut head = Vec::with_capacity(lines.len() + 40);
        head.extend_from_slice(lines);
        // As HTTP/1's `end_head` frames a known length (a `Prepared` status is 200 or more).
        if status != 204 && !(status == 304 && length == 0) {
            head.extend_from_slice(b"Content-Length: ");
            head.extend_from_slice(length.to_string().as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"\r\n");
        Prepared { status, head: head.into_boxed_slice(), lines_len: lines.len(), body, length, close, cache }
    }

    /// The header lines, as `name: value\r\n`.
    #[inline]
    pub(crate) fn headers(&self) -> &[u8] {
        self.head.get(..self.lines_len).unwrap_or_default()
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// This answer with a cache policy: wherever it is sent ([`Response::prepared`],
    /// [`Reply::prepared`]), the server may store it and serve it again itself (see
    /// [`CachePolicy`]; [`Response::cache`] and [`Reply::cache`] override it).
    #[must_use]
    pub fn cache(mut self, policy: CachePolicy) -> Self {
        self.cache = policy;
        self
    }

    /// The answer's cache policy.
    pub fn cache_policy(&self) -> CachePolicy {
        self.cache
    }
}

/// An answer that reaches its connection later (a queued request's): the seam through which a
/// protocol codec takes it, encoding it when its turn in the pipeline comes.
pub trait Answer {
    /// About how many bytes the encoded answer takes, to size its buffer once.
    fn size_hint(&self) -> usize;
    /// Writes the answer into `res`.
    fn write_to(&self, res: &mut Response<'_>);
}

/// ```
/// use hsys::Reply;
///
/// let reply = Reply::new(404).header("Content-Type", "text/plain").body(&b"no such page"[..]);
/// assert_eq!(reply.status(), 404);
/// // Taken from a queue: `req.respond(reply)` (see `RequestQueue::receive`).
/// ```
///
/// An owned response, built on any thread and encoded later by the connection's I/O thread
/// (the queued path). The same rules as [`Response`] apply: a status outside `200..=999` or an
/// invalid header is a misuse, and the client gets `500` (checked when the reply is encoded).
#[derive(Clone, Debug)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Cow<'static, [u8]>,
    file: Option<FileBody>,
    stream: Option<StreamSource>,
    /// A streamed body's length, when the application announced it.
    stream_length: Option<u64>,
    /// An answer encoded once (status, headers and body in it).
    prepared: Option<Arc<Prepared>>,
    close: bool,
    /// Whether the server may store the answer (`None`: a prepared answer's own policy).
    cache: Option<CachePolicy>,
}

impl Reply {
    /// A reply with `status` and no headers or body.
    pub fn new(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Cow::Borrowed(b""),
            file: None,
            stream: None,
            stream_length: None,
            prepared: None,
            close: false,
            cache: None,
        }
    }

    /// A reply that sends a [`Prepared`] answer (its status, headers and body; headers and a
    /// body added to the reply are ignored): nothing is allocated or checked per reply.
    pub fn prepared(answer: Arc<Prepared>) -> Self {
        let mut reply = Reply::new(answer.status);
        reply.prepared = Some(answer);
        reply
    }

    /// Adds a header (dropped when written if invalid, as [`Response::header`] does).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body; a `&'static [u8]` is not copied.
    pub fn body(mut self, body: impl Into<Cow<'static, [u8]>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the body to the contents of `file`, sent with `sendfile(2)` (see [`Response::file`]).
    ///
    /// # Errors
    /// When the file's length cannot be read.
    pub fn file(mut self, file: File) -> std::io::Result<Self> {
        let len = file.metadata()?.len();
        self.file = Some(FileBody { file: Arc::new(file), offset: 0, len });
        Ok(self)
    }

    /// This reply's body is streamed through `pipe`, `length` bytes of it when known.
    pub(crate) fn streamed(mut self, pipe: StreamSource, length: Option<u64>) -> Self {
        self.stream = Some(pipe);
        self.stream_length = length;
        self
    }

    /// Lets the server store this reply and serve it again itself, from the I/O thread, to later
    /// requests for the same URL (see [`CachePolicy`]); it overrides a [`Prepared`] answer's own
    /// policy. A streamed or file reply, or one that closes the connection, is never stored.
    pub fn cache(mut self, policy: CachePolicy) -> Self {
        self.cache = Some(policy);
        self
    }

    /// The reply's cache policy.
    pub fn cache_policy(&self) -> CachePolicy {
        self.cache.or(self.prepared.as_ref().map(|p| p.cache)).unwrap_or_default()
    }

    /// Calls `store` with the reply as the cache would store it, if it may be stored: whole (not
    /// a file or stream), not closing the connection, with valid headers and a policy that
    /// stores.
    pub(crate) fn given(&self, store: impl FnOnce(&Given<'_>)) {
        let policy = self.cache_policy();
        if !policy.stores() || self.close || self.file.is_some() || self.stream.is_some() {
            return;
        }
        match &self.prepared {
            Some(p) if !p.close => store(&Given::prepared(p, policy)),
            Some(_) => {}
            None => {
                let headers = self.headers.iter().map(|(n, v)| (n.as_str(), v.as_slice()));
                // Checked as the connection would check it (a misuse is a `500`, not stored).
                if let Ok(p) = Prepared::new(self.status, headers, &self.body)
                    && !p.close
                {
                    store(&Given::prepared(&p, policy));
                }
            }
        }
    }

    /// Closes the connection after this reply.
    pub fn close(mut self) -> Self {
        self.close = true;
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// hsys's own `503` (a request a queue refused, timed out or shut down on), the same as
    /// [`Response::unavailable`] writes.
    pub(crate) fn unavailable() -> Self {
        Reply::new(503).header("Content-Type", "text/plain").body(UNAVAILABLE).close()
    }
}

/// The body of hsys's own `503` answers.
pub(crate) const UNAVAILABLE: &[u8] = b"Service Unavailable";

impl Answer for Reply {
    fn size_hint(&self) -> usize {
        let headers: usize = self.headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
        let body = self.prepared.as_ref().map_or(self.body.len(), |p| {
            // A large body is not copied into the answer's buffer (it follows as a tail).
            let copied = if p.body.len() < SHARED_BODY_MIN { p.body.len() } else { 0 };
            p.head.len() + copied
        });
        160 + headers + body
    }

    fn write_to(&self, res: &mut Response<'_>) {
        // A misuse (an invalid status or header) is answered `500` by `res`; the application
        // handed the reply over already, so there is nobody to return the error to.
        if self.close {
            res.close();
        }
        if let Some(p) = &self.prepared {
            // Its status, headers and body are the prepared ones.
            let _ = res.prepared(p);
            return;
        }
        res.status(self.status);
        for (n, v) in &self.headers {
            res.header(n, v);
        }
        let _ = match (&self.file, &self.stream) {
            (_, Some(source)) => res.stream_body(source.clone(), self.stream_length),
            (Some(f), None) => res.file_body(f.clone()),
            (None, None) => res.body(&self.body),
        };
    }
}
