//! The binary over HTTP/2: `curl --http2-prior-knowledge` (h2c) and `curl --http2` (TLS, ALPN),
//! `--http2 off`, and h2spec (all its cases, on h2c, over TLS and `--strict`) when it is on
//! `PATH` (`.ci/run` installs it; skipped with a note otherwise).

#[path = "../../tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::process::Command;

use support::{Running, bin, digits, free_port};

fn fixture(name: &str) -> String {
    format!("{}/../tests/fixtures/tls/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// `curl` with `args` on `url`: (HTTP version, status, body).
fn curl(args: &[&str], url: &str) -> (String, String, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-s", "-k", "--max-time", "10", "-w", "\n%{http_version} %{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("curl runs");
    let text = out.stdout;
    let split = text.iter().rposition(|&b| b == b'\n').unwrap_or(0);
    let tail = String::from_utf8_lossy(&text[split + 1..]).into_owned();
    let (version, status) = tail.split_once(' ').unwrap_or(("", ""));
    (version.to_string(), status.to_string(), text[..split].to_vec())
}

/// The binary serving `https://localhost:<port>/` and `http://127.0.0.1:<port+…>/`.
fn start_both(extra: &[&str]) -> (Running, SocketAddr, u16) {
    for _ in 0..5 {
        let (tls, plain) = (free_port(), free_port());
        let mut cmd = bin();
        cmd.arg(format!("https://localhost:{tls}/"))
            .arg(format!("http://127.0.0.1:{plain}/"))
            .args([
                "--threads",
                "2",
                "--stats",
                "0",
                "--cert",
                &fixture("localhost.pem"),
                "--key",
                &fixture("localhost.key"),
            ])
            .args(extra);
        let addr: SocketAddr = format!("127.0.0.1:{plain}").parse().unwrap();
        if let Some(r) = Running::spawn(cmd, addr) {
            return (r, addr, tls);
        }
    }
    panic!("hsys did not start");
}

#[test]
fn curl_speaks_http2_by_prior_knowledge_and_by_alpn() {
    let (_server, addr, tls) = start_both(&[]);
    let (v, status, body) = curl(&["--http2-prior-knowledge"], &format!("http://{addr}/"));
    assert_eq!((v.as_str(), status.as_str()), ("2", "200"));
    assert_eq!(body, digits(512));
    let (v, status, _) = curl(&[], &format!("http://{addr}/"));
    assert_eq!((v.as_str(), status.as_str()), ("1.1", "200"));
    let (v, status, body) = curl(&["--http2"], &format!("https://localhost:{tls}/"));
    assert_eq!((v.as_str(), status.as_str()), ("2", "200"));
    assert_eq!(body, digits(512));
    // A method the sample does not serve: its 405, over HTTP/2 too.
    let (_, status, _) = curl(&["--http2-prior-knowledge", "-X", "POST", "-d", "abc"], &format!("http://{addr}/"));
    assert_eq!(status, "405");
}

#[test]
fn with_http2_off_tls_offers_only_http1() {
    let (_server, _addr, tls) = start_both(&["--http2", "off"]);
    let (v, status, _) = curl(&["--http2"], &format!("https://localhost:{tls}/"));
    assert_eq!((v.as_str(), status.as_str()), ("1.1", "200"));
}

#[test]
fn h2spec_passes_on_h2c_and_over_tls() {
    if Command::new("h2spec").arg("--version").output().is_err() {
        println!("h2spec is not on PATH: skipped (scripts/install-h2spec.sh installs it)");
        return;
    }
    let (_server, addr, tls) = start_both(&[]);
    let port = addr.port().to_string();
    let tls = tls.to_string();
    let runs: [&[&str]; 3] = [&["-p", &port], &["-p", &tls, "-t", "-k"], &["-p", &tls, "-t", "-k", "--strict"]];
    for args in runs {
        let out = Command::new("h2spec").args(["-h", "127.0.0.1"]).args(args).output().expect("h2spec runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let last = text.lines().rev().find(|l| l.contains("tests,")).unwrap_or_default();
        assert!(out.status.success(), "h2spec {args:?}: {last}\n{text}");
        assert!(last.contains(" 0 failed"), "{last}");
    }
}
