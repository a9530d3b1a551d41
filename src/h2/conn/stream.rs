//! One stream's state: what is read of its request, what is sent of its answer, its two windows.

use crate::app::response::Tail;

/// How a request's body is taken while it arrives.
#[derive(Debug)]
pub(super) enum BodyIn {
    /// No body (the HEADERS ended the stream), or it has ended.
    None,
    /// Collected for an inline answer, which is given once the body has ended (the head is kept
    /// with it: its fields outlive the header block they were decoded from).
    Collect(Box<Collecting>),
    /// Handed to the service piece by piece (`Service::body_data`).
    Streamed,
    /// Dropped as it arrives (the answer did not read it).
    Discard,
}

/// A request whose inline answer waits for its whole body.
#[derive(Debug, Default)]
pub(super) struct Collecting {
    pub(super) head: super::headers::OwnedHead,
    pub(super) body: Vec<u8>,
    /// The body is kept (an inline answer reads it); otherwise it is only waited for: an answer
    /// that leaves it unread is given once it has ended, so that a body broken on the way is
    /// refused rather than answered (bounded by `max_drain_bytes`).
    pub(super) keep: bool,
}

/// Where a stream's answer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Send {
    /// Not given yet (the body is being collected, or the application answers later).
    Awaiting,
    /// The HEADERS are out; body bytes (`pending`, then `tail`) follow under flow control, then
    /// the end of the stream.
    Body,
    /// The stream's end was sent (or the stream was reset).
    Done,
}

/// One open stream.
#[derive(Debug)]
pub(super) struct Stream {
    pub(super) id: u32,
    /// The client may still send on it (no END_STREAM yet).
    pub(super) recv_open: bool,
    pub(super) send: Send,
    /// What hsys may still send on it (may go negative after a SETTINGS change).
    pub(super) send_window: i64,
    /// What the client may still send on it.
    pub(super) recv_window: i64,
    /// Body bytes taken by the application but not yet granted back to the client: held while
    /// the service has no room (`Service::body_room`), granted with `resume`.
    pub(super) unacked: u32,
    /// The service had no room for more of a streamed body.
    pub(super) paused: bool,
    /// The declared `content-length`, checked against the DATA received.
    pub(super) length: Option<u64>,
    /// Body bytes received.
    pub(super) received: u64,
    /// The most body bytes taken (the body plan's limit).
    pub(super) max_size: Option<u64>,
    pub(super) body: BodyIn,
    /// The request is a `HEAD`.
    pub(super) head_only: bool,
    /// Answer body bytes waiting for window (boxed away when empty: a `Vec` that never grew).
    pub(super) pending: Vec<u8>,
    /// A file, shared or streamed body after `pending`.
    pub(super) tail: Option<Tail>,
    /// `pending` and `tail` are the whole rest of the answer: END_STREAM follows them.
    pub(super) ends: bool,
    /// Trailer lines (`name: value\r\n`) a streamed answer ends with: sent as the HEADERS that
    /// end the stream.
    pub(super) trailers: Vec<u8>,
    /// The client is waiting for `100 Continue` (it sent `expect: 100-continue`).
    pub(super) expects_continue: bool,
}

impl Stream {
    pub(super) fn new(id: u32, send_window: i64, recv_window: i64) -> Self {
        Stream {
            id,
            recv_open: true,
            send: Send::Awaiting,
            send_window,
            recv_window,
            unacked: 0,
            paused: false,
            length: None,
            received: 0,
            max_size: None,
            body: BodyIn::None,
            head_only: false,
            pending: Vec::new(),
            tail: None,
            ends: false,
            trailers: Vec::new(),
            expects_continue: false,
        }
    }

    /// Whether it has answer bytes (or its end) still to send.
    pub(super) fn has_output(&self) -> bool {
        self.send == Send::Body
    }
}
