//! File answers sent with `sendfile(2)`, inline and queued, in pipeline order with other answers.

mod support;

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use hsys::{Reply, Request, RequestQueue, Response, Server, Target, UrlGroups};
use support::{Client, free_port, get};

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
        .bind("127.0.0.1:0".parse().unwrap())
        .serve(move |req: &Request<'_>, res: &mut Response<'_>| {
            if req.path() == "/file" {
                res.header("Content-Type", "application/octet-stream");
                res.file(File::open(&path).unwrap()).unwrap();
            } else {
                res.body(req.path().as_bytes());
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
    let port = free_port();
    let queue = RequestQueue::new(10);
    let mut groups = UrlGroups::new();
    let g = groups.create_group(Target::Queue(queue.clone()));
    groups.add_url(g, &format!("http://+:{port}/")).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let _server = Server::builder().threads(1).bind(addr).start(groups).expect("start");
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
