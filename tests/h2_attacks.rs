//! Attacks that broke other HTTP/2 servers, over raw sockets: each ends in the RFC's error (or a
//! timeout), bounded, and the server goes on serving others.

#[path = "support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use hsys::{Request, RequestQueue, Response, Server, Timeouts};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const ENHANCE_YOUR_CALM: u32 = 0xb;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let n = payload.len();
    let mut v = vec![(n >> 16) as u8, (n >> 8) as u8, n as u8, kind, flags];
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// `GET /` with `:authority: a`, from HPACK's static table (and one literal).
const GET_BLOCK: &[u8] = &[0x82, 0x86, 0x84, 0x41, 0x01, b'a'];

fn get(stream: u32) -> Vec<u8> {
    frame(0x1, 0x5, stream, GET_BLOCK)
}

fn open(addr: SocketAddr, settings: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let mut hello = PREFACE.to_vec();
    hello.extend(frame(0x4, 0, 0, settings));
    s.write_all(&hello).unwrap();
    s
}

/// What the server sent until it closed or `limit` passed: its frames `(kind, flags, stream,
/// payload)`, and whether it closed.
type Frames = Vec<(u8, u8, u32, Vec<u8>)>;

fn read_frames(s: &mut TcpStream, limit: Duration) -> (Frames, bool) {
    let deadline = Instant::now() + limit;
    let mut bytes = Vec::new();
    let mut closed = false;
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    let mut frames = Vec::new();
    let mut rest = &bytes[..];
    while rest.len() >= 9 {
        let len = (usize::from(rest[0]) << 16) | (usize::from(rest[1]) << 8) | usize::from(rest[2]);
        if rest.len() < 9 + len {
            break;
        }
        let stream = u32::from_be_bytes([rest[5], rest[6], rest[7], rest[8]]) & 0x7fff_ffff;
        frames.push((rest[3], rest[4], stream, rest[9..9 + len].to_vec()));
        rest = &rest[9 + len..];
    }
    (frames, closed)
}

fn goaway_code(frames: &[(u8, u8, u32, Vec<u8>)]) -> Option<u32> {
    frames.iter().rev().find(|f| f.0 == 0x7).map(|f| u32::from_be_bytes(f.3[4..8].try_into().unwrap()))
}

fn hello(_: &Request<'_>, res: &mut Response<'_>) {
    let _ = res.body(&[b'x'; 1000]);
}

fn server(timeouts: Timeouts) -> (Server, SocketAddr) {
    let server = Server::builder().threads(1).timeouts(timeouts).bind("127.0.0.1:0").serve(hello).unwrap();
    let addr = server.local_addrs()[0];
    (server, addr)
}

/// The server still answers a fresh connection.
fn still_serves(addr: SocketAddr) {
    let mut s = open(addr, &[]);
    s.write_all(&get(1)).unwrap();
    let (frames, _) = read_frames(&mut s, Duration::from_millis(500));
    assert!(frames.iter().any(|f| f.0 == 0x0 && f.2 == 1 && f.1 & 1 == 1), "{frames:?}");
}

#[test]
fn rapid_reset_gets_goaway() {
    let (_server, addr) = server(Timeouts::default());
    let mut s = open(addr, &[]);
    let mut burst = Vec::new();
    for i in 0..300u32 {
        let id = 1 + 2 * i;
        burst.extend(frame(0x1, 0x4, id, GET_BLOCK)); // no END_STREAM: the answer waits for the body
        burst.extend(frame(0x3, 0, id, &8u32.to_be_bytes()));
    }
    let _ = s.write_all(&burst);
    let (frames, closed) = read_frames(&mut s, Duration::from_secs(2));
    assert_eq!(goaway_code(&frames), Some(ENHANCE_YOUR_CALM));
    assert!(closed);
    still_serves(addr);
}

#[test]
fn a_continuation_flood_is_bounded() {
    let (_server, addr) = server(Timeouts::default());
    let mut s = open(addr, &[]);
    let _ = s.write_all(&frame(0x1, 0, 1, &[0x82]));
    let filler = vec![0x82u8; 16_000];
    let mut sent = 0;
    for _ in 0..200 {
        if s.write_all(&frame(0x9, 0, 1, &filler)).is_err() {
            break;
        }
        sent += 1;
    }
    let (frames, closed) = read_frames(&mut s, Duration::from_secs(2));
    assert_eq!(goaway_code(&frames), Some(ENHANCE_YOUR_CALM), "after {sent} frames");
    assert!(closed);
    still_serves(addr);
}

#[test]
fn ping_and_settings_floods_get_goaway() {
    let (_server, addr) = server(Timeouts::default());
    for (kind, payload) in [(0x6u8, vec![0u8; 8]), (0x4, vec![])] {
        let mut s = open(addr, &[]);
        let mut burst = Vec::new();
        for _ in 0..500 {
            burst.extend(frame(kind, 0, 0, &payload));
        }
        let _ = s.write_all(&burst);
        let (frames, closed) = read_frames(&mut s, Duration::from_secs(2));
        assert_eq!(goaway_code(&frames), Some(ENHANCE_YOUR_CALM), "kind {kind}");
        assert!(closed);
        let acks = frames.iter().filter(|f| f.0 == kind && f.1 & 1 == 1).count();
        assert!(acks <= 101, "{acks} acks");
    }
    still_serves(addr);
}

#[test]
fn an_empty_data_flood_gets_goaway() {
    let (_server, addr) = server(Timeouts::default());
    let mut s = open(addr, &[]);
    let mut burst = frame(0x1, 0x4, 1, GET_BLOCK);
    for _ in 0..2000 {
        burst.extend(frame(0x0, 0, 1, &[]));
    }
    let _ = s.write_all(&burst);
    let (frames, closed) = read_frames(&mut s, Duration::from_secs(2));
    assert_eq!(goaway_code(&frames), Some(ENHANCE_YOUR_CALM));
    assert!(closed);
}

#[test]
fn an_hpack_bomb_is_refused_by_the_decoded_size() {
    let (_server, addr) = server(Timeouts::default());
    let mut s = open(addr, &[]);
    // One 4,000-byte field into the dynamic table, then 4,000 one-byte references to it:
    // a 16 KB block that decodes to 16 MB.
    let mut block = vec![0x82, 0x86, 0x84, 0x40, 0x01, b'x', 0x7f];
    let mut n = 4000 - 127;
    while n >= 128 {
        block.push((n % 128 + 128) as u8);
        n /= 128;
    }
    block.push(n as u8);
    block.extend(std::iter::repeat_n(b'v', 4000));
    block.extend(std::iter::repeat_n(0xbe, 12_000)); // index 62: the newest entry
    let _ = s.write_all(&frame(0x1, 0x5, 1, &block));
    let _ = s.write_all(&frame(0x6, 0, 0, &[1; 8]));
    let (frames, _) = read_frames(&mut s, Duration::from_millis(800));
    // Answered (431) on its stream, and the connection goes on (the PING is acknowledged).
    assert!(frames.iter().any(|f| f.0 == 0x1 && f.2 == 1), "{frames:?}");
    assert!(frames.iter().any(|f| f.0 == 0x6 && f.1 & 1 == 1));
}

#[test]
fn a_zero_window_held_for_ever_times_out() {
    let mut t = Timeouts::default();
    t.drain_entity_body = Duration::from_millis(800);
    let (_server, addr) = server(t);
    // SETTINGS_INITIAL_WINDOW_SIZE = 0: no DATA may ever be sent.
    let mut s = open(addr, &[0, 4, 0, 0, 0, 0]);
    s.write_all(&get(1)).unwrap();
    let (frames, closed) = read_frames(&mut s, Duration::from_secs(4));
    assert!(frames.iter().any(|f| f.0 == 0x1 && f.2 == 1), "the head goes out");
    assert!(!frames.iter().any(|f| f.0 == 0x0), "no DATA without window");
    assert!(closed, "{frames:?}");
}

#[test]
fn streams_past_the_limit_are_refused() {
    let queue = RequestQueue::new(1000);
    let (_server, addr) = support::queue_server(&queue, Server::builder());
    let mut s = open(addr, &[]);
    let mut burst = Vec::new();
    for i in 0..101u32 {
        burst.extend(get(1 + 2 * i));
    }
    s.write_all(&burst).unwrap();
    let (frames, closed) = read_frames(&mut s, Duration::from_millis(800));
    let resets: Vec<_> = frames.iter().filter(|f| f.0 == 0x3).map(|f| (f.2, f.3.clone())).collect();
    assert_eq!(resets, [(201, 7u32.to_be_bytes().to_vec())]);
    assert!(!closed);
    assert_eq!(queue.stats().current_queue_size, 100);
}

/// (Not an attack: a raw look at a graceful stop.) An idle HTTP/2 connection is told with
/// GOAWAY (`NO_ERROR`, the last stream id), then closed.
#[test]
fn an_idle_connection_gets_goaway_at_a_stop() {
    let (mut server, addr) = server(Timeouts::default());
    let mut s = open(addr, &[]);
    s.write_all(&get(1)).unwrap();
    let (frames, _) = read_frames(&mut s, Duration::from_millis(300));
    assert!(frames.iter().any(|f| f.0 == 0x0 && f.2 == 1));
    server.shutdown();
    let (frames, closed) = read_frames(&mut s, Duration::from_secs(3));
    let goaway = frames.iter().find(|f| f.0 == 0x7).expect("a GOAWAY");
    assert_eq!(goaway.3, [0, 0, 0, 1, 0, 0, 0, 0]);
    assert!(closed);
    server.wait(Duration::from_secs(5)).unwrap();
}
