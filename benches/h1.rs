//! Benchmarks of the sans-I/O HTTP/1 core: head parsing, framing, response encoding, and the
//! connection state machine answering a pipelined batch.
//!
//!     cargo bench --bench h1
//!     cargo bench --bench h1 -- --warm-up-time 1 --measurement-time 2   # a quick run
//!
//! Every case works on byte slices in memory: no socket, no clock (the `Date` is fixed).

use std::hint::black_box;
use std::mem::MaybeUninit;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hsys::Limits;
use hsys::app::service::Inline;
use hsys::h1::encode::{self, CommonHeaders};
use hsys::h1::{Conn, Env, framing, parse};
use hsys::{Request, Response};

/// A head as a desktop browser sends it (about 400 bytes).
const BROWSER_HEAD: &[u8] = b"GET /static/css/site.min.css?v=3 HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/css,*/*;q=0.1\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://www.example.com/index.html\r\n\
Connection: keep-alive\r\n\
Sec-Fetch-Dest: style\r\n\
Sec-Fetch-Mode: no-cors\r\n\
Sec-Fetch-Site: same-origin\r\n\
\r\n";

/// The head `wrk` sends by default.
const WRK_HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

/// A fixed `Date`, so every run encodes the same bytes.
const DATE: &[u8; 29] = b"Sun, 06 Nov 1994 08:49:37 GMT";

/// Requests in the pipelined batch.
const PIPELINE: usize = 16;

/// The sample's answer body: `0123456789` repeated to 512 bytes.
static BODY: [u8; 512] = {
    let mut body = [0u8; 512];
    let mut i = 0;
    while i < body.len() {
        body[i] = b'0' + (i % 10) as u8;
        i += 1;
    }
    body
};

/// The sample's handler (a `Handler` is `'static`, hence the static body).
fn sample(_req: &Request<'_>, res: &mut Response<'_>) {
    let _ = res.header("Content-Type", "text/plain").body(&BODY);
}

fn parse_heads(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("parse_head");
    for (name, head) in [("browser", BROWSER_HEAD), ("wrk", WRK_HEAD)] {
        group.throughput(Throughput::Bytes(head.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; 64];
                let parsed = parse::parse_head(black_box(head), &mut slots, &limits);
                black_box(parsed.map(|h| h.map(|h| h.len)))
            })
        });
    }
    group.finish();
}

fn request_framing(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("request_framing");
    for (name, head) in [("browser", BROWSER_HEAD), ("wrk", WRK_HEAD)] {
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; 64];
        let parsed = parse::parse_head(head, &mut slots, &limits).expect("valid head").expect("complete head");
        let minor = parsed.req.version.unwrap_or(1);
        let target = parsed.req.path.unwrap_or_default();
        let headers = parsed.req.headers;
        group.throughput(Throughput::Elements(headers.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| black_box(framing::request_framing(black_box(minor), black_box(target), black_box(&*headers))))
        });
    }
    group.finish();
}

/// `Response::new` is crate-private, so a `Response` is reached through a `Conn`: one wrk-style
/// request answered with the sample (parse + framing + encode), and, beside it, the same bytes
/// assembled from the public `encode` pieces a `Response` is made of.
fn encode_response(c: &mut Criterion) {
    let common = CommonHeaders::new(DATE);
    let limits = Limits::default();
    let env = Env { common: &common, limits: &limits, draining: false };
    let handler = sample;

    let mut probe = Vec::new();
    Conn::new().handle_input(WRK_HEAD, &env, &mut Inline(&handler), &mut probe);
    let answer_len = probe.len() as u64;

    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Bytes(answer_len));
    let mut out = Vec::with_capacity(4096);
    group.bench_function("pieces_512", |b| {
        b.iter(|| {
            out.clear();
            encode::write_status_line(&mut out, black_box(200));
            out.extend_from_slice(common.as_bytes());
            out.extend_from_slice(b"Content-Type: text/plain\r\nContent-Length: ");
            encode::write_decimal(&mut out, BODY.len() as u64);
            out.extend_from_slice(b"\r\n\r\n");
            out.extend_from_slice(black_box(&BODY));
            black_box(out.len())
        })
    });
    assert_eq!(out, probe, "the pieces must encode what a Response encodes");
    group.bench_function("response_512_via_conn", |b| {
        b.iter(|| {
            out.clear();
            let mut conn = Conn::new();
            let progress = conn.handle_input(black_box(WRK_HEAD), &env, &mut Inline(&handler), &mut out);
            black_box(progress)
        })
    });
    group.finish();
}

fn conn_pipelined(c: &mut Criterion) {
    let common = CommonHeaders::new(DATE);
    let limits = Limits::default();
    let env = Env { common: &common, limits: &limits, draining: false };
    let handler = sample;
    let input: Vec<u8> = WRK_HEAD.repeat(PIPELINE);
    let mut out = Vec::with_capacity(PIPELINE * 1024);

    let mut group = c.benchmark_group("conn");
    group.throughput(Throughput::Elements(PIPELINE as u64));
    group.bench_function("pipelined_16", |b| {
        b.iter(|| {
            out.clear();
            let mut conn = Conn::new();
            let progress = conn.handle_input(black_box(&input), &env, &mut Inline(&handler), &mut out);
            debug_assert_eq!(progress.responses as usize, PIPELINE);
            black_box(progress)
        })
    });
    group.finish();
    let mut conn = Conn::new();
    out.clear();
    let progress = conn.handle_input(&input, &env, &mut Inline(&handler), &mut out);
    assert_eq!((progress.consumed, progress.responses as usize), (input.len(), PIPELINE));
}

criterion_group!(benches, parse_heads, request_framing, encode_response, conn_pipelined);
criterion_main!(benches);
