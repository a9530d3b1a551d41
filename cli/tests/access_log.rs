//! `hsys --access-log`: the binary's access log over real sockets — the fields asked for, every
//! answer's line (refusals included), the count under a 2-second load across a SIGHUP rotation,
//! size rollover, the NCSA format, and the options refused.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use support::{Client, Running, STEP, bin, get, read_for};

/// A directory of its own under the system's temporary one.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hsys-cli-access-log-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The lines of a file that are not directives.
fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// One request on a connection of its own; the whole answer, read to the close.
fn one(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request).unwrap();
    read_for(&mut s, STEP)
}

fn stop(hsys: Running) -> (String, String) {
    hsys.signal(libc::SIGTERM);
    let (status, out, err) = hsys.wait();
    assert!(status.success(), "{status:?}\n{out}\n{err}");
    (out, err)
}

#[test]
fn every_answer_has_its_line_with_the_fields_asked() {
    let dir = temp_dir("fields");
    let log = dir.join("access.log");
    let fields = "date,time,c-ip,cs-method,cs-uri-stem,sc-status,sc-bytes,cs(User-Agent)";
    let log_arg = log.to_str().unwrap();
    let hsys = Running::start(&["--stats", "0", "--access-log", log_arg, "--access-log-fields", fields]);
    let cases: [(&[u8], &str, &str, &str); 5] = [
        (b"GET /a HTTP/1.1\r\nHost: t\r\nUser-Agent: probe 1\r\nConnection: close\r\n\r\n", "GET", "/a", "200"),
        (b"HEAD /b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", "HEAD", "/b", "200"),
        (b"DELETE /c HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", "DELETE", "/c", "405"),
        (b"BREW /d HTTP/1.1\r\nHost: t\r\n\r\n", "BREW", "/d", "501"),
        (b"GET /e HTTP/1.1\r\nHost: t\r\nno colon\r\n\r\n", "GET", "/e", "400"),
    ];
    let mut expected = Vec::new();
    for (request, method, stem, status) in cases {
        let answer = one(hsys.addr, request);
        assert_eq!(&answer[9..12], status.as_bytes(), "{}", String::from_utf8_lossy(&answer));
        expected.push((method, stem, status, answer.len()));
    }
    let (out, _) = stop(hsys);
    assert!(out.contains("Stopped."), "{out}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.starts_with("#Software: hsys "), "{text}");
    assert!(text.contains("\n#Version: 1.0\n#Date: "), "{text}");
    assert!(text.contains(&format!("\n#Fields: {}\n", fields.replace(',', " "))), "{text}");
    let got = lines(&log);
    assert_eq!(got.len(), expected.len(), "{text}");
    for (method, stem, status, bytes) in expected {
        let line = got.iter().find(|l| l.contains(&format!(" {method} {stem} "))).unwrap_or_else(|| panic!("{text}"));
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 8, "{line}");
        assert_eq!((f[2], f[5]), ("127.0.0.1", status), "{line}");
        assert_eq!(f[6], bytes.to_string(), "{line}");
        let agent = if stem == "/a" { "probe+1" } else { "-" };
        assert_eq!(f[7], agent, "{line}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn line_count_equals_answers_under_load_across_a_sighup_rotation() {
    let dir = temp_dir("load");
    let log = dir.join("access.log");
    let hsys = Running::start(&["--stats", "0", "--access-log", log.to_str().unwrap()]);
    let (halt, served) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (halt, served, addr) = (Arc::clone(&halt), Arc::clone(&served), hsys.addr);
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                while !halt.load(Ordering::Relaxed) {
                    assert_eq!(c.exchange(&get("/")).status, 200);
                    served.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let rotated = dir.join("access.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    hsys.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_secs(1));
    halt.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let (out, err) = stop(hsys);
    assert!(out.contains("SIGHUP: access log"), "{out}");
    assert!(!err.contains("dropped"), "{err}");
    let total = served.load(Ordering::Relaxed);
    let (old, new) = (lines(&rotated).len() as u64, lines(&log).len() as u64);
    assert!(old > 0 && new > 0, "old {old}, new {new}");
    assert_eq!(old + new, total, "{old} + {new} lines for {total} answers");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_directory_rolls_by_size_into_iis_names_in_ncsa() {
    let dir = temp_dir("size");
    let logs = format!("{}/", dir.join("logs").display());
    let hsys = Running::start(&[
        "--stats",
        "0",
        "--access-log",
        &logs,
        "--access-log-roll",
        "size:1000",
        "--access-log-format",
        "ncsa",
    ]);
    let mut c = Client::connect(hsys.addr);
    for i in 0..40 {
        assert_eq!(c.exchange(&get(&format!("/r{i}"))).status, 200);
    }
    drop(c);
    stop(hsys);
    let mut all = Vec::new();
    let mut files = 0;
    for n in 1.. {
        let path = dir.join("logs").join(format!("u_extend{n}.log"));
        if !path.exists() {
            break;
        }
        files += 1;
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size <= 1000, "{}: {size} bytes", path.display());
        all.extend(lines(&path));
    }
    assert!(files > 1, "one file only");
    assert_eq!(all.len(), 40);
    for (i, line) in all.iter().enumerate() {
        assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
        assert!(line.contains(&format!("] \"GET /r{i} HTTP/1.1\" 200 ")), "{line}");
        assert!(line.ends_with(" \"-\" \"-\""), "{line}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_options_are_refused() {
    let dir = temp_dir("options");
    let log = dir.join("x.log");
    let log = log.to_str().unwrap();
    let cases: [&[&str]; 5] = [
        &["--access-log", log, "--access-log-format", "ncsa", "--access-log-fields", "date"],
        &["--access-log", log, "--access-log-fields", "date,nope"],
        &["--access-log", log, "--access-log-roll", "weekly"],
        &["--access-log", log, "--access-log-format", "json"],
        &["--access-log-roll", "daily"],
    ];
    for args in cases {
        let out = bin().arg("http://127.0.0.1:1/").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // A log that cannot be opened fails the start.
    let out = bin().args(["http://127.0.0.1:1/", "--access-log", "/nonexistent-dir/x/y.log"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("access log"), "{out:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
