//! File answers sent with `sendfile(2)`, inline and queued, in pipeline order with other answers.

mod support;

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use hsys::{Reply, Request, RequestQueue, Response, Server};
use support::{Client, get, queue_server};

/// A file of `n` patterned bytes in the temp directory, unique to this test.
fn temp_file(name: &str, n: usize) -> (PathBuf, Vec<u8>) {
    let bytes: Vec<u8> = (0..n).map(|i| (i * 7 % 256) as u8).collect();
    let path = std::env::temp_dir().join(format!("hsys-test-{}-{name}", std::process::id()));
    File::create(&path).unwrap().write_all(&bytes).unwrap();
    (path, bytes)
}

fn inline_server(path: PathBuf) -> (Server, SocketAddr) {
    let server = Server::builder()
        .threads(1)
        .bind("127.0.0.1:0")
        .serve(move |req: &Request<'_>, res: &mut Response<'_>| {
            if req.path() == "/file" {
                res.header("Content-Type", "application/octet-stream");
                res.file(File::open(&path).unwrap()).unwrap();
            } else {
                let _ = res.body(req.path().as_bytes());
            }
        })
        .expect("serve");
    let addr = server.local_addrs()[0];
    (server, addr)
}

#[test]
fn an_inline_file_answer_arrives_whole_between_pipelined_answers() {
    let (path, bytes) = temp_file("inline", 3 << 20);
    let (_s, addr) = inline_server(path.clone());
    let mut c = Client::connect(addr);
    let all = [get("/a"), get("/file"), get("/b"), get("/file"), get("/c")].concat();
    c.send(&all);
    assert_eq!(c.read(false).body, b"/a");
    let f = c.read(false);
    assert_eq!(f.header("content-type"), Some("application/octet-stream"));
    assert!(f.body == bytes, "file body differs");
    assert_eq!(c.read(false).body, b"/b");
    assert!(c.read(false).body == bytes);
    assert_eq!(c.read(false).body, b"/c");
    std::fs::remove_file(path).unwrap();
}

#[test]
fn head_of_a_file_has_its_length_and_no_body() {
    let (path, _) = temp_file("head", 1000);
    let (_s, addr) = inline_server(path.clone());
    let mut c = Client::connect(addr);
    c.send(b"HEAD /file HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.read(true);
    assert_eq!(r.header("content-length"), Some("1000"));
    assert_eq!(c.exchange(&get("/after")).body, b"/after");
    std::fs::remove_file(path).unwrap();
}

#[test]
fn a_queued_file_reply_is_sent_in_order() {
    let (path, bytes) = temp_file("queued", 1 << 20);
    let queue = RequestQueue::new(10);
    let (_server, addr) = queue_server(&queue, Server::builder());
    let p = path.clone();
    std::thread::spawn(move || {
        while let Some(req) = queue.receive() {
            let reply = if req.path() == "/file" {
                Reply::new(200).file(File::open(&p).unwrap()).unwrap()
            } else {
                Reply::new(200).body(req.path().as_bytes().to_vec())
            };
            req.respond(reply);
        }
    });
    let mut c = Client::connect(addr);
    c.send(&[get("/file"), get("/x")].concat());
    assert!(c.read(false).body == bytes);
    assert_eq!(c.read(false).body, b"/x");
    std::fs::remove_file(path).unwrap();
}

/// A queue whose application answers `/stream` with `n` streamed pieces of 10 KiB, slowly.
fn streaming_server() -> SocketAddr {
    let queue = RequestQueue::new(10);
    let (server, addr) = queue_server(&queue, Server::builder());
    std::thread::spawn(move || {
        let _server = server;
        while let Some(req) = queue.receive() {
            std::thread::spawn(move || {
                if req.path() != "/stream" {
                    let path = req.path().as_bytes().to_vec();
                    req.respond(Reply::new(200).body(path));
                    return;
                }
                let mut w = req.respond_streaming(Reply::new(200).header("Content-Type", "text/plain")).unwrap();
                for i in 0..300u32 {
                    w.write_all(&[b'a' + (i % 26) as u8; 10 * 1024]).unwrap();
                    if i % 100 == 0 {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                }
                w.finish().unwrap();
            });
        }
    });
    addr
}

fn streamed_body() -> Vec<u8> {
    (0..300u32).flat_map(|i| [b'a' + (i % 26) as u8; 10 * 1024]).collect()
}

/// Reads a chunked answer's head and de-chunks its body (the support client knows only
/// `Content-Length`).
fn read_chunked(c: &mut Client) -> (String, Vec<u8>) {
    use std::io::{BufRead, Read};
    let mut head = String::new();
    loop {
        let mut line = String::new();
        c.reader.read_line(&mut line).unwrap();
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        c.reader.read_line(&mut size).unwrap();
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        let mut chunk = vec![0; n + 2];
        c.reader.read_exact(&mut chunk).unwrap();
        if n == 0 {
            return (head, body);
        }
        body.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn a_streamed_answer_is_chunked_and_followed_by_the_next_answer() {
    let addr = streaming_server();
    let mut c = Client::connect(addr);
    c.send(&[get("/stream"), get("/after")].concat());
    let (head, body) = read_chunked(&mut c);
    assert!(head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "{head}");
    assert!(body == streamed_body(), "streamed body differs ({} bytes)", body.len());
    assert_eq!(c.read(false).body, b"/after");
}

#[test]
fn a_streamed_answer_to_http10_is_raw_until_the_close() {
    use std::io::Read;
    let addr = streaming_server();
    let mut c = Client::connect(addr);
    c.send(b"GET /stream HTTP/1.0\r\n\r\n");
    let mut all = Vec::new();
    c.reader.read_to_end(&mut all).unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&all[..split]).to_ascii_lowercase();
    assert!(head.contains("connection: close") && !head.contains("transfer-encoding"), "{head}");
    assert!(all[split..] == streamed_body()[..]);
}

#[test]
fn a_client_that_does_not_read_makes_the_writer_wait_not_hsys_buffer() {
    // The writer blocks at the high-water mark; with the client gone, it gets an error.
    let queue = RequestQueue::new(10);
    let (_server, addr) = queue_server(&queue, Server::builder());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let req = queue.receive().unwrap();
        let mut w = req.respond_streaming(Reply::new(200)).unwrap();
        let mut written = 0usize;
        let result = loop {
            match w.write_all(&[0u8; 64 * 1024]) {
                Ok(()) => written += 64 * 1024,
                Err(e) => break e.kind(),
            }
            if written > (256 << 20) {
                break std::io::ErrorKind::Other;
            }
        };
        tx.send((written, result)).unwrap();
    });
    let mut c = Client::connect(addr);
    c.send(&get("/s"));
    std::thread::sleep(std::time::Duration::from_millis(500));
    drop(c);
    let (written, result) = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("writer stopped");
    assert_eq!(result, std::io::ErrorKind::ConnectionAborted);
    // Socket buffers plus the high-water mark, not everything the writer would have written.
    assert!(written < 64 << 20, "{written} bytes taken from a client that read nothing");
}
