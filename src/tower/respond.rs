//! A tower service's [`http::Response`] on its way to the client: written inline when whole
//! ([`Whole::write_to`]), else sent through the connection's return path ([`Responder`]) whole or
//! streamed frame by frame.

use std::pin::Pin;

use bytes::Bytes;
use http::HeaderMap;
use http::response::Parts;
use http_body::Body as HttpBody;

use crate::app::queued::{Handle, Message};
use crate::app::{Reply, Response};
use crate::pipe::{StreamPipe, StreamSource};
use crate::semantics;

/// A response body at most this long (by an exact size hint) is gathered whole and written with
/// its head (`Content-Length`, one write); a longer one, or one of unknown length, is streamed.
pub const WHOLE_BODY_MAX: u64 = 64 * 1024;

/// A response whose body is all in hand.
#[derive(Debug)]
pub(crate) struct Whole {
    pub status: u16,
    pub headers: HeaderMap,
    /// The body's frames, in order (usually one).
    pub body: Frames,
    /// The [`CachePolicy`](crate::CachePolicy) the service put in the response's extensions.
    pub cache: crate::CachePolicy,
}

impl Whole {
    /// hsys's `500`: the service failed, or its body did.
    pub(crate) fn error() -> Self {
        Whole {
            status: 500,
            headers: HeaderMap::new(),
            body: Frames::one(Bytes::from_static(b"Internal Server Error")),
            cache: crate::CachePolicy::NoCache,
        }
    }

    /// A response from its head and gathered body.
    pub(crate) fn new(parts: Parts, body: Frames) -> Self {
        let cache = parts.extensions.get::<crate::CachePolicy>().copied().unwrap_or_default();
        Whole { status: parts.status.as_u16(), headers: parts.headers, body, cache }
    }

    /// Writes the answer into `res` (inline, on the I/O thread). A `1xx` status is a misuse
    /// there: the client gets `500`.
    pub(crate) fn write_to(&self, res: &mut Response<'_>) {
        res.status(self.status).cache(self.cache);
        for (name, value) in &self.headers {
            res.header(name.as_str(), value.as_bytes());
        }
        if res.is_head_only()
            && let Some(len) = self.head_length()
        {
            let _ = res.head_length(len);
            return;
        }
        let _ = match self.body.rest.is_empty() {
            true => res.body(&self.body.first),
            false => res.body(&self.body.concat()),
        };
    }

    /// The `Content-Length` a service gave an answer to `HEAD` with no body in it (axum says
    /// what `GET` would send): the head must keep it (RFC 9110 §8.6).
    pub(crate) fn head_length(&self) -> Option<u64> {
        if !self.body.is_empty() {
            return None;
        }
        let value = self.headers.get(http::header::CONTENT_LENGTH)?;
        std::str::from_utf8(value.as_bytes()).ok()?.trim().parse().ok()
    }

    /// The answer as a [`Reply`] (for the return path).
    pub(crate) fn into_reply(self) -> Reply {
        let body: Vec<u8> = match self.body.rest.is_empty() {
            true => self.body.first.into(),
            false => self.body.concat(),
        };
        head_reply(self.status, &self.headers).body(body).cache(self.cache)
    }
}

/// A whole body's frames: the first one apart, so that a body of one frame (the usual) needs no
/// `Vec`.
#[derive(Debug, Default)]
pub(crate) struct Frames {
    /// The first frame (empty: no frame at all).
    first: Bytes,
    /// The frames after it.
    rest: Vec<Bytes>,
}

impl Frames {
    fn one(frame: Bytes) -> Self {
        Frames { first: frame, rest: Vec::new() }
    }

    fn is_empty(&self) -> bool {
        self.first.is_empty()
    }

    /// Adds a frame (not empty) after the others.
    fn push(&mut self, frame: Bytes) {
        match self.is_empty() {
            true => self.first = frame,
            false => self.rest.push(frame),
        }
    }

    /// The frames in order.
    fn iter(&self) -> impl Iterator<Item = &Bytes> {
        std::iter::once(&self.first).filter(|f| !f.is_empty()).chain(self.rest.iter())
    }

    /// All the frames in one buffer.
    fn concat(&self) -> Vec<u8> {
        let mut all = Vec::with_capacity(self.first.len() + self.rest.iter().map(Bytes::len).sum::<usize>());
        all.extend_from_slice(&self.first);
        self.rest.iter().for_each(|frame| all.extend_from_slice(frame));
        all
    }
}

/// A reply with `status` and `headers` (the body set after).
fn head_reply(status: u16, headers: &HeaderMap) -> Reply {
    let mut reply = Reply::new(status);
    for (name, value) in headers {
        reply = reply.header(name.as_str(), value.as_bytes());
    }
    reply
}

/// The way back for one deferred answer. Dropped before it answered (the service's future
/// panicked, or was dropped), it answers `500`.
#[derive(Debug)]
pub(crate) struct Responder {
    handle: Option<Handle>,
    /// The request was HTTP/1.1 (a body of unknown length goes chunked).
    http11: bool,
    /// The request was HTTP/2 (trailers go out as the HEADERS frame that ends the stream).
    http2: bool,
    /// The request was `HEAD` (the body is not sent).
    head_only: bool,
}

impl Responder {
    pub(crate) fn new(handle: Handle, http11: bool, http2: bool, head_only: bool) -> Self {
        Responder { handle: Some(handle), http11, http2, head_only }
    }

    /// Sends a whole answer: to `HEAD`, with the `Content-Length` the service gave (see
    /// [`Whole::head_length`]), its body being none.
    pub(crate) fn respond_whole(self, whole: Whole) {
        if self.head_only
            && let Some(len) = whole.head_length()
        {
            let reply = head_reply(whole.status, &whole.headers);
            if let Some(writer) = self.stream(reply, Some(len)) {
                // (The pipe discards a HEAD answer's body: nothing waits.)
                let _ = writer.finish();
            }
            return;
        }
        self.respond(whole.into_reply());
    }

    /// Sends the whole answer.
    pub(crate) fn respond(mut self, reply: Reply) {
        if let Some(h) = self.handle.take() {
            h.notify(Message::Reply(reply));
        }
    }

    /// Sends `reply`'s head; the body follows through the writer (`length` bytes when known:
    /// `Content-Length`, else chunked). `None` if the client is gone.
    fn stream(mut self, reply: Reply, length: Option<u64>) -> Option<crate::ResponseWriter> {
        let handle = self.handle.take()?;
        // The same facts as `QueuedRequest::respond_streaming` decide the framing.
        let discard = self.head_only || !semantics::status_has_body(reply.status()) || length == Some(0);
        let pipe = std::sync::Arc::new(StreamPipe::new(self.http11, discard, length).with_raw_trailers(self.http2));
        let source = StreamSource::new(std::sync::Arc::clone(&pipe));
        if !handle.notify(Message::Reply(reply.streamed(source, length))) {
            return None;
        }
        Some(crate::ResponseWriter::new(pipe, handle))
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.notify(Message::Reply(Whole::error().into_reply()));
        }
    }
}

/// The next frame of `body`, awaited.
async fn next_frame<B: HttpBody>(body: &mut Pin<&mut B>) -> Option<Result<http_body::Frame<B::Data>, B::Error>> {
    std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await
}

/// Gathers `body` whole (its exact size is at most [`WHOLE_BODY_MAX`]): its data frames and its
/// trailers if any (HTTP/1 drops them: it sends none with a `Content-Length` body; HTTP/2 sends
/// them). `None`: it failed.
pub(crate) async fn gather<B: HttpBody<Data = Bytes>>(body: B) -> Option<(Frames, Option<http::HeaderMap>)> {
    let mut body = std::pin::pin!(body);
    let mut frames = Frames::default();
    let mut trailers = None;
    while !body.is_end_stream() {
        match next_frame(&mut body).await {
            None => break,
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) if !data.is_empty() => frames.push(data),
                Ok(_) => {}
                Err(frame) => trailers = frame.into_trailers().ok().or(trailers),
            },
            Some(Err(_)) => return None,
        }
    }
    Some((frames, trailers))
}

/// Sends a body gathered whole with its `trailers` (HTTP/2: the HEADERS that end the stream)
/// through a writer, as [`stream`] does (a field that may not trail is refused, and then none are).
pub(crate) async fn stream_gathered(parts: Parts, frames: Frames, trailers: &http::HeaderMap, responder: Responder) {
    let length = frames.iter().map(|f| f.len() as u64).sum();
    let reply = head_reply(parts.status.as_u16(), &parts.headers);
    let Some(mut writer) = responder.stream(reply, Some(length)) else { return };
    for data in frames.iter() {
        if writer.write_async(data).await.is_err() {
            return; // the client is gone
        }
    }
    let _ = writer.set_trailers(trailers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())));
    let _ = writer.finish_async().await;
}

/// Streams `body` after its head (`parts`): `Content-Length` when its size hint is exact, else
/// chunked (HTTP/1.1) or until the close (HTTP/1.0). A body that fails cuts the answer (the
/// connection closes); trailers it yields go out after the last chunk when the answer is chunked
/// (with a `Content-Length` there is nowhere to put them: dropped), and over HTTP/2 always, as
/// the HEADERS frame that ends the stream.
pub(crate) async fn stream<B: HttpBody<Data = Bytes>>(parts: Parts, body: B, responder: Responder) {
    let length = body.size_hint().exact();
    let reply = head_reply(parts.status.as_u16(), &parts.headers);
    let Some(mut writer) = responder.stream(reply, length) else { return };
    let mut body = std::pin::pin!(body);
    while !body.is_end_stream() {
        // (Bound before any await: the body's error type need not be `Send`.)
        let data = match next_frame(&mut body).await {
            None => break,
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(frame) => {
                    // Trailers go out after the last chunk (a chunked answer only) or as HTTP/2's
                    // trailing HEADERS; a field that may not trail is refused, and then none are.
                    if let Ok(trailers) = frame.into_trailers() {
                        let _ = writer.set_trailers(trailers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())));
                    }
                    Bytes::new()
                }
            },
            // Dropping the writer unfinished cuts the answer.
            Some(Err(_)) => return,
        };
        if !data.is_empty() && writer.write_async(&data).await.is_err() {
            return; // the client is gone
        }
    }
    let _ = writer.finish_async().await;
}
