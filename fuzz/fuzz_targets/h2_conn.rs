//! The HTTP/2 connection: after a valid preface and SETTINGS, any frames, fed whole and then in
//! the pieces the first byte picks, give the same output (and never a panic).
#![no_main]

use std::time::Instant;

use hsys::app::service::{BodyMode, BodyPlan, Outcome, Service};
use hsys::app::{Request, Response};
use hsys::h1::Env;
use hsys::h1::date::DATE_LEN;
use hsys::h1::encode::CommonHeaders;
use hsys::h2::Conn;
use hsys::limits::Limits;
use libfuzzer_sys::fuzz_target;

/// Answers inline (`/big`: a body larger than a window), defers `/defer`, streams `/stream`'s body.
struct Svc;

impl Service for Svc {
    fn call(&mut self, req: &Request<'_>, res: &mut Response<'_>, _seq: u32) -> Outcome {
        match req.path() {
            p if p.starts_with("/defer") || p.starts_with("/stream") => Outcome::Deferred,
            "/big" => {
                let _ = res.body(&[b'x'; 70_000]);
                Outcome::Answered
            }
            _ => {
                let _ = res.header("X-Len", req.body().len().to_string()).body(b"hello");
                Outcome::Answered
            }
        }
    }

    fn body_plan(&mut self, req: &Request<'_>, max_size: Option<u64>) -> BodyPlan {
        let mode = if req.path().starts_with("/stream") { BodyMode::Streamed } else { BodyMode::Buffered };
        BodyPlan { mode, max_size }
    }
}

fn run(input: &[u8], step: usize) -> Vec<u8> {
    let common = CommonHeaders::new(&[b'x'; DATE_LEN]);
    let limits = Limits::default();
    let env = Env { common: &common, limits: &limits, draining: false };
    let now = Instant::now();
    let mut conn = Conn::new();
    let (mut out, mut held) = (Vec::new(), Vec::new());
    for piece in input.chunks(step.max(1)) {
        held.extend_from_slice(piece);
        let p = conn.handle_input(&held, &env, &mut Svc, &mut out, now);
        assert!(p.consumed <= held.len());
        held.drain(..p.consumed);
        assert!(held.len() <= 9 + 16_384 + 24, "a partial frame is at most one frame");
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, frames)) = data.split_first() else { return };
    let mut input = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0".to_vec();
    input.extend_from_slice(frames);
    let whole = run(&input, input.len());
    assert_eq!(run(&input, usize::from(step % 32) + 1), whole, "split by {}", step % 32 + 1);
});
