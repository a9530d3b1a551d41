//! The HTTP/2 connection state machine: bytes in, service calls and frames out.
//!
//! [`Conn::handle_input`] takes the bytes the caller has buffered, handles every whole frame in
//! them, appends the frames it answers with to the caller's output, and says how many bytes it
//! consumed (a partial frame stays with the caller). Each request is handed to the same
//! application `Service` as HTTP/1's, with its stream id as the sequence number; deferred
//! answers come back through [`Conn::complete`]. Bodies going out wait for flow-control window
//! in their stream ([`Conn::pump`] sends what the windows allow). Nothing here does socket I/O
//! or reads a clock: time comes in as `now`. (A file body is read with `pread` as its DATA
//! frames are made: the loop cannot `sendfile` into frames.)
//!
//! The call order: `handle_input` for input, `complete`/`send_continue`/`resume_body` for what
//! application threads send back, `pump` when a streamed answer has more bytes or the output
//! drained; each appends to `out`.

mod recv;
mod send;
mod spare;
mod stream;
#[cfg(test)]
mod tests;

pub(super) mod headers;

use std::time::{Duration, Instant};

use self::headers::OwnedHead;
use self::stream::{BodyIn, Stream};
use super::frame::{self, Error, Reason};
use crate::app::service::Service;
use crate::h1::{Env, Phase, Progress};
use crate::hpack::{DEFAULT_TABLE_SIZE, Decoder, Encoder};

/// Streams a client may have open at once (`SETTINGS_MAX_CONCURRENT_STREAMS`); one more is
/// refused (`REFUSED_STREAM`).
pub const MAX_CONCURRENT_STREAMS: usize = 100;

/// The connection-level window hsys keeps open for the client: every stream's window bounds
/// what each holds, so the connection's is granted back as soon as DATA is handled.
pub const CONNECTION_WINDOW: i64 = 1 << 20;

/// Output past which no more frames are made until the caller has written it out.
pub const OUT_HIGH_WATER: usize = 256 * 1024;

/// Per second, the most streams a client may reset (`RST_STREAM`) before hsys ends the
/// connection with `ENHANCE_YOUR_CALM` (rapid reset, CVE-2023-44487), and the most of each kind
/// of frame that costs hsys work but makes no progress: `PING`s and `SETTINGS` (each answered),
/// empty DATA frames, `PRIORITY` and unknown frames.
pub const MAX_RESETS_PER_SECOND: u32 = 100;
pub const MAX_PINGS_PER_SECOND: u32 = 100;
pub const MAX_SETTINGS_PER_SECOND: u32 = 100;
pub const MAX_EMPTY_FRAMES_PER_SECOND: u32 = 1000;
/// Parameters one SETTINGS frame may carry (there are six kinds).
pub const MAX_SETTINGS_PARAMS: usize = 32;

/// Where the connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for the client's preface.
    Preface,
    /// Frames flow.
    Open,
    /// No more input is read (a GOAWAY for an error, a timeout); `linger`: input may still be
    /// coming, so the caller lingers before closing.
    Closed { linger: bool },
}

/// Counts of frames that cost work without progress, over the current second.
#[derive(Debug)]
struct Flood {
    since: Option<Instant>,
    resets: u32,
    pings: u32,
    settings: u32,
    empty: u32,
}

impl Flood {
    /// Counts one more of `kind` at `now`; `Err` once over `max` in this second.
    fn count(&mut self, now: Instant, pick: impl FnOnce(&mut Self) -> &mut u32, max: u32) -> Result<(), Error> {
        if self.since.is_none_or(|s| now.saturating_duration_since(s) >= Duration::from_secs(1)) {
            *self = Flood { since: Some(now), resets: 0, pings: 0, settings: 0, empty: 0 };
        }
        let n = pick(self);
        *n += 1;
        if *n > max { Err(Error::Connection(Reason::EnhanceYourCalm)) } else { Ok(()) }
    }
}

/// A header block arriving over HEADERS and CONTINUATION frames.
#[derive(Clone, Copy, Debug)]
struct BlockStart {
    stream: u32,
    end_stream: bool,
}

/// One HTTP/2 connection's protocol state (boxed by the loop: it is large).
#[derive(Debug)]
pub struct Conn {
    state: State,
    /// hsys's SETTINGS went out.
    started: bool,
    /// The client's first SETTINGS arrived (it must be its first frame).
    settings_seen: bool,
    decoder: Decoder,
    hpack: Encoder,
    /// The head being decoded (reused for every block).
    head: OwnedHead,
    /// An answer's fields, staged until its head ends (reused).
    stage: Vec<u8>,
    /// A header block split over CONTINUATION frames, and whose.
    block: Vec<u8>,
    block_of: Option<BlockStart>,
    /// The client's SETTINGS_INITIAL_WINDOW_SIZE and SETTINGS_MAX_FRAME_SIZE.
    peer_window: i64,
    peer_max_frame: usize,
    /// What hsys may send on the connection, and what the client may.
    send_window: i64,
    recv_window: i64,
    streams: Vec<Stream>,
    /// The highest stream id the client opened (or tried to).
    last_id: u32,
    /// Streams hsys reset lately: frames still in flight on them are ignored (RFC 9113 §5.1).
    reset: [u32; 16],
    reset_at: usize,
    /// GOAWAY sent (graceful: no stream after `last_id` is taken).
    goaway_sent: bool,
    /// The client sent GOAWAY: it opens no more streams.
    peer_goaway: bool,
    served: u32,
    /// Where the next round of sending starts (fairness).
    turn: usize,
    flood: Flood,
    /// Counts for the loop's statistics, taken with [`Conn::take_counts`].
    counts: Counts,
}

/// What a connection did since the counts were last taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub streams: u32,
    pub resets_sent: u32,
    pub resets_received: u32,
    pub goaways_sent: u32,
}

impl Default for Conn {
    fn default() -> Self {
        Conn::new()
    }
}

impl Conn {
    /// A new connection, waiting for the client's preface.
    pub fn new() -> Self {
        Conn {
            state: State::Preface,
            started: false,
            settings_seen: false,
            decoder: Decoder::new(DEFAULT_TABLE_SIZE),
            hpack: Encoder::new(),
            head: OwnedHead::default(),
            stage: Vec::new(),
            block: Vec::new(),
            block_of: None,
            peer_window: frame::DEFAULT_WINDOW,
            peer_max_frame: frame::DEFAULT_MAX_FRAME,
            send_window: frame::DEFAULT_WINDOW,
            recv_window: CONNECTION_WINDOW,
            streams: Vec::new(),
            last_id: 0,
            reset: [0; 16],
            reset_at: 0,
            goaway_sent: false,
            peer_goaway: false,
            served: 0,
            turn: 0,
            flood: Flood { since: None, resets: 0, pings: 0, settings: 0, empty: 0 },
            counts: Counts::default(),
        }
    }

    /// The decoded header list hsys accepts (`SETTINGS_MAX_HEADER_LIST_SIZE`): the head limit
    /// plus the 32 bytes per field the RFC's measure adds.
    pub fn max_list(env: &Env<'_>) -> usize {
        env.limits.max_request_bytes + 32 * env.limits.max_headers
    }

    /// Writes hsys's SETTINGS and opens the connection window, once.
    fn start(&mut self, env: &Env<'_>, out: &mut Vec<u8>) {
        if std::mem::replace(&mut self.started, true) {
            return;
        }
        let list = u32::try_from(Self::max_list(env)).unwrap_or(u32::MAX);
        frame::write_settings(
            out,
            &[
                (frame::setting::MAX_CONCURRENT_STREAMS, MAX_CONCURRENT_STREAMS as u32),
                (frame::setting::MAX_HEADER_LIST_SIZE, list),
                (frame::setting::ENABLE_PUSH, 0),
            ],
        );
        let grant = CONNECTION_WINDOW - frame::DEFAULT_WINDOW;
        frame::write_window_update(out, 0, u32::try_from(grant).unwrap_or(0));
    }

    /// Handles every whole frame at the start of `input`, appending to `out`.
    pub fn handle_input<S: Service + ?Sized>(
        &mut self,
        input: &[u8],
        env: &Env<'_>,
        service: &mut S,
        out: &mut Vec<u8>,
        now: Instant,
    ) -> Progress {
        let mut progress = Progress::default();
        self.start(env, out);
        if env.draining {
            self.go_away(out);
        }
        loop {
            let rest = input.get(progress.consumed..).unwrap_or_default();
            if let State::Closed { .. } = self.state {
                progress.consumed = input.len();
                break;
            }
            if out.len() >= OUT_HIGH_WATER || rest.is_empty() {
                break;
            }
            if self.state == State::Preface {
                let n = rest.len().min(frame::PREFACE.len());
                if rest.get(..n) != frame::PREFACE.get(..n) {
                    self.fail(Reason::Protocol, service, out);
                    continue;
                }
                if n < frame::PREFACE.len() {
                    break;
                }
                progress.consumed += n;
                self.state = State::Open;
                continue;
            }
            let Some(head) = frame::Head::parse(rest) else { break };
            if let Err(Error::Connection(r)) = frame::check(&head, frame::DEFAULT_MAX_FRAME) {
                self.fail(r, service, out);
                continue;
            }
            let Some(payload) = rest.get(frame::HEADER_LEN..frame::HEADER_LEN + head.len) else { break };
            progress.consumed += frame::HEADER_LEN + head.len;
            let result = frame::check(&head, frame::DEFAULT_MAX_FRAME)
                .and_then(|()| self.on_frame(&head, payload, env, service, out, &mut progress, now));
            match result {
                Ok(()) => {}
                Err(Error::Connection(r)) => self.fail(r, service, out),
                Err(Error::Stream(id, r)) => self.reset_stream(id, r, service, out),
            }
            if self.streams.iter().any(Stream::has_output) {
                // After each frame, not once per call: what goes out never depends on how the
                // input was split into reads.
                progress.responses += self.pump(out);
            }
        }
        progress.responses += self.pump(out);
        progress
    }

    /// Ends the connection for a connection error: GOAWAY with `reason`; nothing more is read,
    /// and no answer still owed is sent.
    #[cold]
    fn fail<S: Service + ?Sized>(&mut self, reason: Reason, service: &mut S, out: &mut Vec<u8>) {
        if let State::Closed { .. } = self.state {
            return;
        }
        frame::write_goaway(out, self.last_id, reason);
        self.counts.goaways_sent += 1;
        self.goaway_sent = true;
        for s in self.streams.drain(..) {
            if matches!(s.body, BodyIn::Streamed) && s.recv_open {
                service.body_end(s.id, Some(400));
            }
        }
        self.state = State::Closed { linger: true };
    }

    /// Stops taking new streams (a graceful stop): GOAWAY with the last stream id; the streams
    /// open finish, then the connection does.
    pub fn go_away(&mut self, out: &mut Vec<u8>) {
        if !self.goaway_sent && self.started {
            frame::write_goaway(out, self.last_id, Reason::NoError);
            self.counts.goaways_sent += 1;
            self.goaway_sent = true;
        }
    }

    /// Resets stream `id` for a stream error: RST_STREAM with `reason`; a body being streamed to
    /// the service ends with an error.
    #[cold]
    fn reset_stream<S: Service + ?Sized>(&mut self, id: u32, reason: Reason, service: &mut S, out: &mut Vec<u8>) {
        frame::write_rst(out, id, reason);
        self.counts.resets_sent += 1;
        self.forget(id, service);
        self.remember_reset(id);
    }

    fn remember_reset(&mut self, id: u32) {
        if let Some(slot) = self.reset.get_mut(self.reset_at % 16) {
            *slot = id;
        }
        self.reset_at = self.reset_at.wrapping_add(1);
    }

    /// Removes stream `id` (reset by either side).
    fn forget<S: Service + ?Sized>(&mut self, id: u32, service: &mut S) {
        if let Some(i) = self.streams.iter().position(|s| s.id == id) {
            let s = self.streams.swap_remove(i);
            if matches!(s.body, BodyIn::Streamed) && s.recv_open {
                service.body_end(id, Some(400));
            }
        }
    }

    fn stream_mut(&mut self, id: u32) -> Option<&mut Stream> {
        self.streams.iter_mut().find(|s| s.id == id)
    }

    /// Whether the connection takes more input now.
    pub fn wants_input(&self) -> bool {
        !matches!(self.state, State::Closed { .. })
    }

    /// Whether the connection is done: nothing more is read, and nothing is owed. Close it once
    /// the output is written.
    pub fn is_finished(&self) -> bool {
        match self.state {
            State::Closed { .. } => true,
            _ => (self.goaway_sent || self.peer_goaway) && self.streams.is_empty() && self.block_of.is_none(),
        }
    }

    /// Whether the caller should linger before closing (input may still be coming).
    pub fn wants_linger(&self) -> bool {
        matches!(self.state, State::Closed { linger: true }) || self.goaway_sent
    }

    /// No stream open and no frame half read (given the caller holds no input).
    pub fn is_between_requests(&self) -> bool {
        self.streams.is_empty() && self.block_of.is_none() && self.state == State::Open
    }

    /// Whether any stream is open.
    pub fn has_in_flight(&self) -> bool {
        !self.streams.is_empty()
    }

    /// Whether all that is left is sending answers owed (every request whole).
    pub fn owes_only_answers(&self) -> bool {
        !self.streams.is_empty() && self.block_of.is_none() && self.streams.iter().all(|s| !s.recv_open)
    }

    /// Streams answered so far.
    pub fn served(&self) -> u32 {
        self.served
    }

    /// Whether stream `id` still takes body bytes from the client.
    pub fn receives(&self, id: u32) -> bool {
        self.streams.iter().any(|s| s.id == id && s.recv_open)
    }

    /// What the connection waits for (for the loop's timers).
    pub fn phase(&self) -> Phase {
        if let State::Closed { .. } = self.state {
            return Phase::Closed;
        }
        if self.state == State::Preface || self.block_of.is_some() {
            return Phase::Head;
        }
        if self.streams.is_empty() {
            return Phase::Idle;
        }
        let reading = self.streams.iter().any(|s| {
            s.recv_open && !s.paused && matches!(s.body, BodyIn::Collect(_) | BodyIn::Streamed | BodyIn::Discard)
        });
        // An answer that waits for the client's window is waited on as a drain is: a client that
        // holds a zero window for ever times out (`drain_entity_body`, restarted whenever the
        // window opens or a stream ends; no receive rate is judged on window updates).
        let blocked = self.streams.iter().any(|s| {
            s.has_output()
                && (s.send_window <= 0 || self.send_window <= 0)
                && !(s.pending.is_empty() && s.tail.is_none())
        });
        match (reading, blocked) {
            (true, _) => Phase::Body,
            (false, true) => Phase::Drain,
            _ => Phase::App,
        }
    }

    /// A timeout fired: the connection ends (GOAWAY, `NO_ERROR`: the client may retry what was
    /// not processed).
    pub fn time_out<S: Service + ?Sized>(&mut self, service: &mut S, out: &mut Vec<u8>) {
        if self.started {
            self.fail(Reason::NoError, service, out);
        }
        self.state = State::Closed { linger: false };
    }

    /// Stops taking streams (server shutdown).
    pub fn close(&mut self, out: &mut Vec<u8>) {
        self.go_away(out);
    }

    /// What was counted since the last call.
    pub fn take_counts(&mut self) -> Counts {
        std::mem::take(&mut self.counts)
    }
}
