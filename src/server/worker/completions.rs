//! Messages from application threads: queued answers, `100 Continue`, resumed and streamed bodies.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::Worker;
use super::pipeline::{Input, drive, seal_out};
use crate::app::Handler;
use crate::app::queued::Message;

impl<H: Handler + ?Sized> Worker<H> {
    /// Messages from application threads (answers, `Continue`, `Resume`, stream data), taken in
    /// one batch and grouped by connection, so each connection is driven, and written, once.
    pub(super) fn on_completions(&mut self, now: Instant) {
        // Cleared before draining: a message sent from here on wakes the thread again, and any
        // sent before is drained below.
        self.context.return_path.wake_pending.swap(false, Ordering::AcqRel);
        let mut batch = std::mem::take(&mut self.batch);
        batch.extend(self.completions.try_iter());
        // One connection's messages keep their order: sorted by connection, then arrival (an
        // unstable sort on that pair allocates nothing, where a stable sort takes a scratch buffer).
        for (i, d) in batch.iter_mut().enumerate() {
            d.order = u32::try_from(i).unwrap_or(u32::MAX);
        }
        batch.sort_unstable_by_key(|d| (d.key, d.order));
        let mut start = 0;
        while let Some(first) = batch.get(start) {
            let key = first.key;
            let end = batch.iter().skip(start).position(|d| d.key != key).map_or(batch.len(), |n| start + n);
            let run = batch.get(start..end).unwrap_or_default();
            start = end;
            let verdict = match self.conns.get_mut(key) {
                Some(conn) if !conn.is_lingering() && run.iter().any(|d| d.serial == conn.serial) => {
                    let ctx = self.context.drive_ctx(self.draining.is_some(), now);
                    for done in run.iter().filter(|d| d.serial == conn.serial) {
                        match &done.what {
                            Message::Reply(reply) => {
                                let completed =
                                    conn.proto.complete_counted(done.seq, reply, &ctx.env, &mut self.bufs.out);
                                super::access::completed(conn, done.seq, &completed, &ctx);
                                let (n, encoded) = (completed.released, completed.encoded);
                                // (Fields, not `pipeline::released`: `conn.serial` is borrowed.)
                                conn.unsent += n;
                                conn.owed.step(0, n, now, &ctx.counters.request_duration);
                                // `BytesSent` of this queued answer (inline answers released with
                                // it were counted when encoded), to the connection's group.
                                if let Some(group) = &conn.holds.group {
                                    group.sent(ctx.services.worker, encoded);
                                }
                            }
                            Message::Continue => {
                                conn.proto.send_continue(done.seq, &mut self.bufs.out);
                            }
                            Message::Resume => conn.proto.resume_body(done.seq, &mut self.bufs.out),
                            // `drive` below takes what the writer added.
                            Message::Stream => {}
                        }
                    }
                    // Input held back (no room for a body, too many answers owed) may go on now.
                    conn.inbuf_ready = !conn.inbuf.is_empty();
                    if !conn.outbuf.is_empty() || conn.armed.sending() {
                        // Earlier output is still queued: keep the order (TLS: sealed first, as
                        // `outbuf` holds records).
                        if seal_out(conn, &mut self.bufs.out, &mut self.bufs.spare).is_err() {
                            self.bufs.out.clear();
                            self.close(key);
                            continue;
                        }
                        conn.outbuf.extend_from_slice(&self.bufs.out);
                        self.bufs.out.clear();
                    }
                    let input = Input::nothing_new(self.ring.is_some());
                    drive(conn, input, &ctx, &mut self.bufs)
                }
                _ => continue,
            };
            self.apply(key, verdict, now);
        }
        batch.clear();
        self.batch = batch;
    }
}
