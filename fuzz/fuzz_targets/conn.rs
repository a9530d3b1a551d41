//! The connection state machine: the same bytes, however they are split across reads, get the same
//! answers.
//!
//! The first byte picks the mode (see [`Mode`](common::Mode)), the next [`READS`](common::READS)
//! bytes give the sizes of the reads (zero allowed); the rest is what a client sends. A caller is
//! played as the server's loop plays it ([`Play`](common::Play)): it keeps the unconsumed tail,
//! appends the next read, calls `handle_input` until nothing more happens, delivers the deferred
//! answers that are ready, writes the output out, and stops once the connection is finished. The
//! stream is fed whole, in those reads, and byte by byte (when short); the bytes written must be
//! identical.
//!
//! Two differences are timing only, so they are taken out before comparing:
//! - `100 Continue` goes out when a body the client was asked to wait with has not all arrived
//!   yet, so it depends on the reads; it is removed from the output.
//! - The stream is followed by a blank line, as a client that has sent everything and waits would
//!   eventually be timed out: without it, an incomplete head that is already malformed is answered
//!   `400` when it arrives in one read but waits for its blank line when it trickles in (`Conn`
//!   re-parses a partial head only once a blank line may have arrived).
//!
//! And two differences are in what the connection knew when it answered; see [`same`](common::same):
//! - which fault is named: a head refused for several reasons at once (malformed and over a
//!   length limit, say) may get `400` whole and `431` in pieces. That it is refused, after the
//!   same answers, and closed, does not depend on the reads.
//! - an unread body's broken framing: found in the bytes in hand when its request is answered,
//!   it is a `400` in place of the answer; arriving after the answer, it only closes.
//! - `Expect: 100-continue` on a request whose body is left unread: with bytes of the body in
//!   hand the client did not wait, and the body is drained; with none, the answer closes.
#![no_main]

mod common;

use common::{Case, cut, same, serve, show};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let case = Case::new(data);
    let env = case.env();
    let reads = cut(&case.input, case.sizes.iter().copied());
    let whole = serve(&env, case.mode, &[&case.input]);
    let split = serve(&env, case.mode, &reads);
    assert!(same(case.mode, &split, &whole), "reads {reads:?}:\n{}\n---- whole:\n{}", show(&split.0), show(&whole.0));
    if case.input.len() <= 1024 {
        let bytes: Vec<&[u8]> = case.input.chunks(1).collect();
        let trickled = serve(&env, case.mode, &bytes);
        assert!(
            same(case.mode, &trickled, &whole),
            "byte by byte:\n{}\n---- whole:\n{}",
            show(&trickled.0),
            show(&whole.0)
        );
    }
});
