//! Request bodies: collected whole in the input for an inline answer, streamed to the service
//! for a deferred one, or drained after an answer that left them unread.

use super::{Conn, Env, HeadRead, Progress, Reading, len32};
use crate::app::service::{INLINE_BODY_CAP, Service};
use crate::h1::decode::{BodyDecoder, Decoded};
use crate::h1::framing::BodyKind;

/// Reading the body of deferred request `seq`.
#[derive(Debug)]
pub(super) struct BodyRead {
    pub(super) decoder: BodyDecoder,
    pub(super) seq: u32,
    /// Body bytes received so far, against `max_size`.
    pub(super) received: u64,
    /// The request's body-size limit (see [`BodyPlan::max_size`](crate::app::service::BodyPlan)).
    pub(super) max_size: Option<u64>,
    /// The service has no room: nothing is read until [`Conn::resume_body`].
    pub(super) paused: bool,
    /// The client waits for `100 Continue`, which is sent when the application first reads.
    pub(super) awaiting_continue: bool,
    /// The connection ends after this request.
    pub(super) close_after: bool,
    /// Full duplex: the answer to this request was given while its body was still arriving, and
    /// streams (its body is a [`Tail::Stream`](crate::app::response::Tail) the caller sends as
    /// the application writes it, which may be this very body echoed). The body is read on
    /// beside that answer — as body bytes of this request only: no further request is read, and
    /// no output is made, until the answer is out ([`Conn::reads_beside_answer`]).
    pub(super) beside_answer: bool,
}

/// Dropping an unread body; `budget` is how many more body bytes may be drained before the
/// connection is closed instead.
#[derive(Debug)]
pub(super) struct DrainRead {
    pub(super) decoder: BodyDecoder,
    pub(super) budget: u64,
}

/// The body an inline answer waits for, as far as the input has shown it.
#[derive(Debug)]
pub(super) enum BodyWait {
    /// A `Content-Length` body: the input must reach `end` (head included) before the head is
    /// looked at again.
    Length { end: u32 },
    /// A chunked body, decoded as it arrives (boxed: the decoder is large, and rarely needed).
    Chunked(Box<BodyScan>),
}

/// A chunked body being collected for an inline answer: the decoder, how far into the body it
/// has read, and how many data bytes it found.
#[derive(Debug)]
pub(super) struct BodyScan {
    decoder: BodyDecoder,
    offset: usize,
    data: u64,
}

/// Whether a body to be answered inline is all in the input yet.
pub(super) enum Collected {
    /// Not yet; the caller must bring more input.
    More,
    /// Refused with this status.
    Fail(u16),
    /// A `Content-Length` body, ending at this input offset.
    Length(usize),
    /// A chunked body, ending at this input offset.
    Chunked(usize),
}

/// Whether the body of a request answered inline is all in `rest` (which starts with its head of
/// `head_len` bytes), within the size limit. `wait` holds what an earlier look found, and keeps
/// what this one found when the answer is [`Collected::More`].
pub(super) fn collect(
    rest: &[u8],
    head_len: usize,
    kind: BodyKind,
    max_size: Option<u64>,
    env: &Env<'_>,
    wait: &mut Option<BodyWait>,
) -> Collected {
    let cap = max_size.unwrap_or(INLINE_BODY_CAP);
    match kind {
        BodyKind::Empty => Collected::Length(head_len),
        BodyKind::Length(n) if n > cap => Collected::Fail(413),
        BodyKind::Length(n) => {
            let end = head_len.saturating_add(usize::try_from(n).unwrap_or(usize::MAX));
            if rest.len() >= end {
                return Collected::Length(end);
            }
            *wait = Some(BodyWait::Length { end: len32(end) });
            Collected::More
        }
        BodyKind::Chunked => {
            let mut scan = match wait.take() {
                Some(BodyWait::Chunked(scan)) => scan,
                _ => Box::new(BodyScan { decoder: BodyDecoder::for_request(kind, env.limits), offset: 0, data: 0 }),
            };
            // Framing may at most double a body the size of the cap (plus its last lines).
            let raw_cap = cap.saturating_mul(2).saturating_add(64 * 1024);
            loop {
                let input = rest.get(head_len + scan.offset..).unwrap_or_default();
                match scan.decoder.decode(input) {
                    Ok((used, Decoded::Data(range))) => {
                        scan.offset += used;
                        scan.data += range.len() as u64;
                        if scan.data.saturating_add(scan.decoder.announced()) > cap {
                            return Collected::Fail(413);
                        }
                    }
                    Ok((used, Decoded::NeedMore)) => {
                        scan.offset += used;
                        if scan.offset as u64 > raw_cap || scan.data.saturating_add(scan.decoder.announced()) > cap {
                            return Collected::Fail(413);
                        }
                        *wait = Some(BodyWait::Chunked(scan));
                        return Collected::More;
                    }
                    Ok((used, Decoded::Done)) => return Collected::Chunked(head_len + scan.offset + used),
                    Err(_) => return Collected::Fail(400),
                }
            }
        }
    }
}

/// What the input already holds of a body its answer leaves unread ([`BodyMode::Unread`]), read
/// before the answer: broken framing found there is refused (`400`) instead of answered, and a
/// body all in hand is consumed with its request (no drain state).
///
/// [`BodyMode::Unread`]: crate::app::service::BodyMode::Unread
pub(super) enum InHand {
    /// All of it, well framed, in this many bytes after the head.
    Whole(usize),
    /// Well framed as far as it was read, this many bytes after the head; the decoder, which goes
    /// on where this read stopped, drains the rest after the answer.
    Part(usize, BodyDecoder),
    /// Framing that can never become valid.
    Broken,
}

/// Reads what `input` (the bytes after the head) holds of an unread body framed as `kind`, at
/// most the drain budget of it ([`Limits::max_drain_bytes`](crate::limits::Limits)): the bytes a
/// drain would read next anyway, read earlier. (A body in hand past the budget is read up to it;
/// the drain that goes on from there has no budget left, and closes as it would have.)
pub(super) fn read_in_hand(input: &[u8], kind: BodyKind, env: &Env<'_>) -> InHand {
    let budget = usize::try_from(env.limits.max_drain_bytes).unwrap_or(usize::MAX);
    let seen = input.get(..budget).unwrap_or(input);
    let mut decoder = BodyDecoder::for_request(kind, env.limits);
    let mut pos = 0;
    loop {
        match decoder.decode(seen.get(pos..).unwrap_or_default()) {
            Ok((used, Decoded::Data(_))) => pos += used,
            Ok((used, Decoded::Done)) => return InHand::Whole(pos + used),
            Ok((used, Decoded::NeedMore)) => return InHand::Part(pos + used, decoder),
            Err(_) => return InHand::Broken,
        }
    }
}

/// The data of a complete, already validated chunked body.
pub(super) fn dechunk(raw: &[u8], env: &Env<'_>) -> Vec<u8> {
    let mut decoder = BodyDecoder::for_request(BodyKind::Chunked, env.limits);
    let mut body = Vec::new();
    let mut pos = 0;
    while let Some(input) = raw.get(pos..) {
        match decoder.decode(input) {
            Ok((used, Decoded::Data(range))) => {
                body.extend_from_slice(input.get(range).unwrap_or_default());
                pos += used;
            }
            _ => break,
        }
    }
    body
}

impl Conn {
    /// Streams the next piece of a deferred request's body to the service. Returns `false` when
    /// it needs more input or the service has no room.
    pub(super) fn on_body<S: Service + ?Sized>(
        &mut self,
        rest: &[u8],
        env: &Env<'_>,
        service: &mut S,
        out: &mut Vec<u8>,
        progress: &mut Progress,
    ) -> bool {
        let Reading::Body(b) = &mut self.reading else {
            return false;
        };
        let BodyRead { decoder, seq, received, max_size, paused, awaiting_continue, close_after, .. } = &mut **b;
        let seq = *seq;
        // Ending needs no room; anything else waits for it.
        if !decoder.is_done() && !service.body_room(seq) {
            *paused = true;
            return false;
        }
        // Bytes arriving unasked mean the client stopped waiting for `100 Continue`.
        *awaiting_continue = false;
        let over = |received: u64, decoder: &BodyDecoder| {
            max_size.is_some_and(|max| received.saturating_add(decoder.announced()) > max)
        };
        let error = match decoder.decode(rest) {
            Ok((used, Decoded::Data(range))) => {
                progress.consumed += used;
                *received += range.len() as u64;
                if over(*received, decoder) {
                    progress.too_large += 1;
                    413
                } else {
                    service.body_data(seq, rest.get(range).unwrap_or_default());
                    return used > 0;
                }
            }
            Ok((used, Decoded::NeedMore)) if over(*received, decoder) => {
                progress.consumed += used;
                progress.too_large += 1;
                413
            }
            Ok((used, Decoded::NeedMore)) => {
                progress.consumed += used;
                return false;
            }
            Ok((used, Decoded::Done)) => {
                progress.consumed += used;
                let close = *close_after;
                service.body_end(seq, None);
                self.reading = if close { Reading::Closed { linger: false } } else { Reading::Head(HeadRead::Start) };
                return true;
            }
            Err(_) => 400,
        };
        service.body_end(seq, Some(error));
        self.answer_error(seq, error, env, out, progress);
        true
    }

    /// Drops the next piece of an unread body. Returns `false` when it needs more input.
    pub(super) fn on_drain(&mut self, rest: &[u8], progress: &mut Progress) -> bool {
        let Reading::Drain(d) = &mut self.reading else {
            return false;
        };
        match d.decoder.decode(rest) {
            Ok((used, decoded)) => {
                progress.consumed += used;
                let drained = used as u64;
                match decoded {
                    Decoded::Done => self.reading = Reading::Head(HeadRead::Start),
                    // Over the budget: the rest is not worth reading.
                    _ if drained > d.budget => self.reading = Reading::Closed { linger: true },
                    Decoded::NeedMore => {
                        d.budget -= drained;
                        return false;
                    }
                    Decoded::Data(_) => {
                        d.budget -= drained;
                        return used > 0;
                    }
                }
            }
            // The answer was already sent; a broken body can only end the connection.
            Err(_) => self.reading = Reading::Closed { linger: true },
        }
        true
    }
}
