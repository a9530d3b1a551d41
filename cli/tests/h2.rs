//! The binary over HTTP/2: `curl --http2-prior-knowledge` (h2c) and `curl --http2` (TLS, ALPN),
//! `nghttp` (nghttp2's client: many streams on one connection, uploads, h2c and TLS),
//! `--http2 off`, and h2spec (all its cases, on h2c, over TLS and `--strict`). `.ci/run` installs
//! h2spec and nghttp; elsewhere a test whose tool is missing is skipped with a note.

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
    if !support::have_tool("h2spec", "scripts/install-h2spec.sh") {
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

/// `nghttp -n -s` (statistics, bodies discarded) with `args`: the (status, size, path) rows.
fn nghttp(args: &[&str]) -> Vec<(u16, usize, String)> {
    let out = Command::new("nghttp").args(["-n", "-s", "-t", "10"]).args(args).output().expect("nghttp runs");
    assert!(out.status.success(), "nghttp {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    // Rows after the "id  responseEnd requestStart  process code size request path" header.
    let rows = text.lines().skip_while(|l| !l.starts_with("id ")).skip(1);
    rows.filter_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let [.., code, size, path] = f.as_slice() else { return None };
        Some((code.parse().ok()?, size.parse().ok()?, path.to_string()))
    })
    .collect()
}

#[test]
fn nghttp_multiplexes_streams_on_h2c_and_over_tls() {
    if !support::have_tool("nghttp", "nghttp2-client") {
        return;
    }
    let (server, addr, tls) = start_both(&[]);
    let paths: Vec<String> = (0..20).map(|i| format!("/s{i}")).collect();
    for base in [format!("http://{addr}"), format!("https://localhost:{tls}")] {
        let urls: Vec<String> = paths.iter().map(|p| format!("{base}{p}")).collect();
        let args: Vec<&str> = urls.iter().map(String::as_str).collect();
        let mut rows = nghttp(&args);
        rows.sort_by(|a, b| a.2.cmp(&b.2));
        let mut want: Vec<(u16, usize, String)> = paths.iter().map(|p| (200, 512, p.clone())).collect();
        want.sort_by(|a, b| a.2.cmp(&b.2));
        assert_eq!(rows, want, "{base}");
    }
    // An upload: the sample refuses POST with its 405, after reading the body's frames.
    let dir = std::env::temp_dir().join(format!("hsys-nghttp-{}", std::process::id()));
    std::fs::write(&dir, digits(100_000)).unwrap();
    let rows = nghttp(&["-d", dir.to_str().unwrap(), &format!("http://{addr}/up")]);
    std::fs::remove_file(&dir).unwrap();
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [405]);
    drop(server);
}
