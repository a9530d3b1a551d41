//! The answer a handler writes: status, headers and body, encoded straight into the connection's output.

use std::borrow::Cow;
use std::fs::File;
use std::sync::Arc;

use super::encode::{self, CommonHeaders};

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

/// What follows an answer's head on the wire besides bytes in the output buffer: a file, or a
/// stream written by an application thread. The I/O thread sends it before anything else.
#[derive(Clone, Debug)]
pub enum Tail {
    /// Sent with `sendfile(2)` (boxed: a connection's state holds room for a tail, and most never
    /// send a file).
    File(Box<FileBody>),
    /// Sent as the writer fills it.
    Stream(crate::stream::StreamSource),
}

/// A response being written by a handler.
///
/// Call [`status`](Response::status) first (default `200`), then [`header`](Response::header) any
/// number of times, then [`body`](Response::body) once. hsys owns the framing: it writes `Server`,
/// `Date`, `Content-Length` and `Connection` itself and drops those names if a handler sets them
/// (a handler's `Connection: close` is honoured as [`close`](Response::close)). For `HEAD` requests
/// and 1xx/204/304 answers the body is not sent.
#[derive(Debug)]
pub struct Response<'a> {
    out: &'a mut Vec<u8>,
    common: &'a CommonHeaders,
    /// Offset in `out` where this response starts, so a failed handler's partial output can be undone.
    start: usize,
    status: u16,
    stage: Stage,
    /// The request was `HEAD`: headers (with the real `Content-Length`) but no body bytes.
    head_only: bool,
    /// The connection closes after this response; `Connection: close` is written.
    close: bool,
    /// HTTP/1.0 keep-alive: `Connection: keep-alive` is written.
    keep_alive_10: bool,
    /// A body to send after the head.
    tail: Option<Tail>,
    /// The request was HTTP/1.0: a streamed body is sent raw until the close, not chunked.
    http10: bool,
}

impl<'a> Response<'a> {
    pub(crate) fn new(
        out: &'a mut Vec<u8>,
        common: &'a CommonHeaders,
        head_only: bool,
        close: bool,
        keep_alive_10: bool,
    ) -> Self {
        let start = out.len();
        Response {
            out,
            common,
            start,
            status: 200,
            stage: Stage::Fresh,
            head_only,
            close,
            keep_alive_10,
            tail: None,
            http10: false,
        }
    }

    /// Sets the status code (100–999; others are sent as 500). Has no effect once a header or the
    /// body was written.
    pub fn status(&mut self, code: u16) -> &mut Self {
        if self.stage == Stage::Fresh {
            self.status = if (100..=999).contains(&code) { code } else { 500 };
        }
        self
    }

    /// Asks hsys to close the connection after this response (`Connection: close` is sent).
    /// Has no effect once the body was written.
    pub fn close(&mut self) -> &mut Self {
        if self.stage != Stage::Done {
            self.close = true;
        }
        self
    }

    /// Adds a header. A name that is not a token, a value holding CR, LF or NUL (response splitting),
    /// and the framing headers hsys writes itself are dropped.
    pub fn header(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Self {
        let value = value.as_ref();
        if self.stage == Stage::Done || !encode::is_token(name.as_bytes()) || !encode::is_safe_value(value) {
            return self;
        }
        if is_framing_header(name) {
            self.close |= is_close_request(name, value);
            return self;
        }
        self.begin();
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b": ");
        self.out.extend_from_slice(value);
        self.out.extend_from_slice(b"\r\n");
        self
    }

    /// Answers with a [`Prepared`] answer and completes the response. Does nothing once a header
    /// or body was written (the status and headers are the prepared ones).
    pub fn prepared(&mut self, answer: &Prepared) {
        if self.stage != Stage::Fresh {
            return;
        }
        self.status = answer.status;
        self.close |= answer.close;
        self.begin();
        self.out.extend_from_slice(&answer.headers);
        self.write_connection();
        self.out.extend_from_slice(&answer.framing);
        if !self.head_only {
            self.out.extend_from_slice(&answer.body);
        }
        self.stage = Stage::Done;
    }

    /// Writes the body and completes the response. Later calls do nothing.
    pub fn body(&mut self, body: &[u8]) {
        if self.stage == Stage::Done {
            return;
        }
        self.begin();
        self.end_head(body.len());
        if !self.head_only && encode::status_has_body(self.status) {
            self.out.extend_from_slice(body);
        }
        self.stage = Stage::Done;
    }

    /// Answers with the contents of `file` (its length now, as `Content-Length`), sent with
    /// `sendfile(2)` straight from the page cache once the head is out. Later body calls do
    /// nothing. The file must not shrink while it is sent (the connection is closed if it does).
    ///
    /// # Errors
    /// When the file's length cannot be read; nothing is written then.
    pub fn file(&mut self, file: File) -> std::io::Result<()> {
        let len = file.metadata()?.len();
        self.file_body(FileBody { file: Arc::new(file), offset: 0, len });
        Ok(())
    }

    pub(crate) fn file_body(&mut self, body: FileBody) {
        if self.stage == Stage::Done {
            return;
        }
        self.begin();
        self.end_head(usize::try_from(body.len).unwrap_or(usize::MAX));
        if !self.head_only && encode::status_has_body(self.status) && body.len > 0 {
            self.tail = Some(Tail::File(Box::new(body)));
        }
        self.stage = Stage::Done;
    }

    /// Marks the request as HTTP/1.0 (for streamed bodies).
    pub(crate) fn set_http10(&mut self, http10: bool) {
        self.http10 = http10;
    }

    /// Writes a head whose body an application thread streams: with `Content-Length` when its
    /// length is known; else chunked for HTTP/1.1 and, for HTTP/1.0, raw until the connection closes.
    pub(crate) fn stream_body(&mut self, pipe: crate::stream::StreamSource, length: Option<u64>) {
        if self.stage == Stage::Done {
            return;
        }
        let has_body = encode::status_has_body(self.status);
        if let Some(n) = length {
            self.begin();
            self.end_head(usize::try_from(n).unwrap_or(usize::MAX));
            if !self.head_only && has_body && n > 0 {
                self.tail = Some(Tail::Stream(pipe));
            }
            self.stage = Stage::Done;
            return;
        }
        if self.http10 && has_body {
            self.close = true;
        }
        self.begin();
        if self.close {
            self.out.extend_from_slice(b"Connection: close\r\n");
        }
        let chunked = has_body && !self.http10;
        if chunked {
            self.out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
        }
        self.out.extend_from_slice(b"\r\n");
        if !self.head_only && has_body {
            self.tail = Some(Tail::Stream(pipe));
        }
        self.stage = Stage::Done;
    }

    /// The body to send after what was written, if any.
    pub(crate) fn take_tail(&mut self) -> Option<Tail> {
        self.tail.take()
    }

    /// Bytes this response has written so far.
    pub(crate) fn written(&self) -> usize {
        self.out.len().saturating_sub(self.start)
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
    /// becomes a `500`; otherwise it gets an empty body.
    pub(crate) fn finish(&mut self) {
        if self.stage == Stage::Fresh && self.status == 200 {
            self.status = 500;
            self.close = true;
        }
        self.body(b"");
    }

    /// Throws away whatever was written and writes an error answer instead (after a handler panic).
    pub(crate) fn replace_with_error(&mut self, status: u16) {
        self.out.truncate(self.start);
        self.tail = None;
        self.stage = Stage::Fresh;
        self.status = status;
        self.close = true;
        self.header("Content-Type", "text/plain");
        self.body(encode::reason(status).as_bytes());
    }

    fn begin(&mut self) {
        if self.stage == Stage::Fresh {
            encode::write_status_line(self.out, self.status);
            self.out.extend_from_slice(self.common.as_bytes());
            self.stage = Stage::Headers;
        }
    }

    /// The `Connection` line, when the answer needs one: `close`, or HTTP/1.0 `keep-alive`.
    fn write_connection(&mut self) {
        if self.close {
            self.out.extend_from_slice(b"Connection: close\r\n");
        } else if self.keep_alive_10 {
            self.out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
    }

    fn end_head(&mut self, body_len: usize) {
        self.write_connection();
        if self.status >= 200 && self.status != 204 && !(self.status == 304 && body_len == 0) {
            self.out.extend_from_slice(b"Content-Length: ");
            encode::write_decimal(self.out, body_len as u64);
            self.out.extend_from_slice(b"\r\n\r\n");
        } else {
            self.out.extend_from_slice(b"\r\n");
        }
    }
}

/// An answer encoded once and sent many times: its headers are checked and encoded, with its
/// `Content-Length`, when it is made. Per request [`Response::prepared`] adds only the status
/// line, `Server` and `Date` (the thread's cached block) and, when needed, `Connection`, then
/// copies the rest: a static answer costs three copies.
#[derive(Clone, Debug)]
pub struct Prepared {
    status: u16,
    /// The handler's header lines (written after `Server`/`Date`).
    headers: Box<[u8]>,
    /// `Content-Length` (when the status has one) and the blank line (written after `Connection`).
    framing: Box<[u8]>,
    /// The body (empty for 1xx, 204 and 304, which carry none).
    body: Box<[u8]>,
    /// A `Connection: close` among the headers: the connection ends after the answer.
    close: bool,
}

impl Prepared {
    /// `status` (100–999; others become 500), `headers` (dropped as [`Response::header`] drops
    /// them: invalid, or framing headers hsys writes itself) and `body`.
    pub fn new<'a>(status: u16, headers: impl IntoIterator<Item = (&'a str, &'a [u8])>, body: &[u8]) -> Self {
        let status = if (100..=999).contains(&status) { status } else { 500 };
        let mut head = Vec::new();
        let mut close = false;
        for (name, value) in headers {
            if !encode::is_token(name.as_bytes()) || !encode::is_safe_value(value) {
                continue; // dropped, as `Response::header` drops it
            }
            close |= is_close_request(name, value);
            if !is_framing_header(name) {
                head.extend_from_slice(name.as_bytes());
                head.extend_from_slice(b": ");
                head.extend_from_slice(value);
                head.extend_from_slice(b"\r\n");
            }
        }
        let has_body = encode::status_has_body(status);
        let mut framing = Vec::new();
        if status >= 200 && status != 204 && !(status == 304 && body.is_empty()) {
            framing.extend_from_slice(b"Content-Length: ");
            encode::write_decimal(&mut framing, body.len() as u64);
            framing.extend_from_slice(b"\r\n");
        }
        framing.extend_from_slice(b"\r\n");
        let body = if has_body { body.into() } else { Box::default() };
        Prepared { status, headers: head.into_boxed_slice(), framing: framing.into_boxed_slice(), body, close }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }
}

/// An owned response, built on any thread and encoded later by the connection's I/O thread
/// (the queued path). The same framing rules as [`Response`] apply.
#[derive(Clone, Debug)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    body: Cow<'static, [u8]>,
    file: Option<FileBody>,
    stream: Option<crate::stream::StreamSource>,
    /// A streamed body's length, when the application announced it.
    stream_length: Option<u64>,
    /// An answer encoded once (status, headers and body in it).
    prepared: Option<Arc<Prepared>>,
    close: bool,
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
    pub(crate) fn streamed(mut self, pipe: crate::stream::StreamSource, length: Option<u64>) -> Self {
        self.stream = Some(pipe);
        self.stream_length = length;
        self
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

    /// About how many bytes the encoded reply takes (the common head, its headers and body), to
    /// size its buffer once.
    pub(crate) fn encoded_len_hint(&self) -> usize {
        let headers: usize = self.headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
        let body = self.prepared.as_ref().map_or(self.body.len(), |p| p.headers.len() + p.framing.len() + p.body.len());
        160 + headers + body
    }

    /// Encodes the reply into `res`.
    pub(crate) fn write_to(&self, res: &mut Response<'_>) {
        if self.close {
            res.close();
        }
        if let Some(p) = &self.prepared {
            // Its status, headers and body are the prepared ones.
            return res.prepared(p);
        }
        res.status(self.status);
        for (n, v) in &self.headers {
            res.header(n, v);
        }
        match (&self.file, &self.stream) {
            (_, Some(source)) => res.stream_body(source.clone(), self.stream_length),
            (Some(f), None) => res.file_body(f.clone()),
            (None, None) => res.body(&self.body),
        }
    }
}

/// Whether a handler's header asks to close the connection (`Connection: close`).
fn is_close_request(name: &str, value: &[u8]) -> bool {
    name.eq_ignore_ascii_case("connection")
        && value.split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
}

/// Headers whose meaning hsys owns.
fn is_framing_header(name: &str) -> bool {
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

/// Writes a complete error answer (`text/plain`, the reason phrase as body, `Connection: close`).
pub(crate) fn write_error(out: &mut Vec<u8>, common: &CommonHeaders, status: u16, head_only: bool) {
    write_error_body(out, common, status, encode::reason(status), head_only);
}

/// Writes a complete error answer with its own body text and `Connection: close`.
pub(crate) fn write_error_body(out: &mut Vec<u8>, common: &CommonHeaders, status: u16, text: &str, head_only: bool) {
    let mut res = Response::new(out, common, head_only, true, false);
    res.status(status).header("Content-Type", "text/plain");
    res.body(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common() -> CommonHeaders {
        CommonHeaders::new(b"Sun, 06 Nov 1994 08:49:37 GMT")
    }

    fn text(out: &[u8]) -> String {
        String::from_utf8(out.to_vec()).unwrap().replace(encode::SERVER, "S")
    }

    const DATE: &str = "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n";

    #[test]
    fn plain_answer() {
        let c = common();
        let mut out = Vec::new();
        Response::new(&mut out, &c, false, false, false).header("Content-Type", "text/plain").body(b"hi");
        assert_eq!(
            text(&out),
            format!("HTTP/1.1 200 OK\r\nServer: S\r\n{DATE}Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi")
        );
    }

    /// A prepared answer is byte for byte what the same answer written header by header is, for
    /// every status class, `HEAD`, close and HTTP/1.0 keep-alive.
    #[test]
    fn prepared_answers_match_written_ones() {
        let c = common();
        let common_headers: [(&str, &[u8]); 5] = [
            ("Content-Type", b"text/plain"),
            ("Bad Name", b"x"),
            ("Content-Length", b"9"),
            ("X-Split", b"a\r\nb"),
            // Invalid: dropped, and asks nothing.
            ("Connection", b"close\n"),
        ];
        let closing = [common_headers.as_slice(), &[("Connection", b"keep-alive, close")]].concat();
        for headers in [&common_headers[..], &closing] {
            for status in [200, 204, 304, 404, 405, 100, 7] {
                for body in [&b""[..], b"hello"] {
                    let prepared = Prepared::new(status, headers.iter().copied(), body);
                    for (head_only, close, keep_alive_10) in
                        [(false, false, false), (true, false, false), (false, true, false), (false, false, true)]
                    {
                        let (mut a, mut b) = (Vec::new(), Vec::new());
                        Response::new(&mut a, &c, head_only, close, keep_alive_10).prepared(&prepared);
                        let mut res = Response::new(&mut b, &c, head_only, close, keep_alive_10);
                        res.status(status);
                        for (n, v) in headers {
                            res.header(n, v);
                        }
                        res.body(body);
                        assert_eq!(text(&a), text(&b), "{status} {body:?} {head_only} {close} {keep_alive_10}");
                    }
                }
            }
        }
    }

    #[test]
    fn head_keeps_length_drops_body() {
        let c = common();
        let mut out = Vec::new();
        Response::new(&mut out, &c, true, false, false).body(b"hello");
        assert_eq!(text(&out), format!("HTTP/1.1 200 OK\r\nServer: S\r\n{DATE}Content-Length: 5\r\n\r\n"));
    }

    #[test]
    fn no_content_has_no_length() {
        let c = common();
        let mut out = Vec::new();
        Response::new(&mut out, &c, false, false, false).status(204).body(b"ignored");
        assert_eq!(text(&out), format!("HTTP/1.1 204 No Content\r\nServer: S\r\n{DATE}\r\n"));
    }

    #[test]
    fn framing_and_unsafe_headers_dropped() {
        let c = common();
        let mut out = Vec::new();
        let mut r = Response::new(&mut out, &c, false, false, true);
        r.header("Content-Length", "99").header("X-A", "a\r\nb").header("Bad Name", "x").header("Connection", "Close");
        assert!(r.closes());
        r.body(b"");
        assert_eq!(
            text(&out),
            format!("HTTP/1.1 200 OK\r\nServer: S\r\n{DATE}Connection: close\r\nContent-Length: 0\r\n\r\n")
        );
    }

    #[test]
    fn unfinished_becomes_500_and_error_replaces() {
        let c = common();
        let mut out = b"prev".to_vec();
        let mut r = Response::new(&mut out, &c, false, false, false);
        r.finish();
        assert!(r.closes());
        assert!(text(&out).starts_with("prevHTTP/1.1 500 Internal Server Error\r\n"));
        let mut out = b"prev".to_vec();
        let mut r = Response::new(&mut out, &c, false, false, false);
        r.header("X", "1");
        r.replace_with_error(500);
        assert!(!text(&out).contains("X: 1"));
        assert!(text(&out).ends_with("Connection: close\r\nContent-Length: 21\r\n\r\nInternal Server Error"));
    }

    #[test]
    fn keep_alive_10() {
        let c = common();
        let mut out = Vec::new();
        Response::new(&mut out, &c, false, false, true).body(b"");
        assert!(text(&out).contains("Connection: keep-alive\r\n"));
    }
}
