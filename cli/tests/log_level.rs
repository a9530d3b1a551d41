//! `--log-level` and `RUST_LOG`: the library's `tracing` events on the binary's stderr.

#[path = "../../tests/support/mod.rs"]
mod support;

use support::{Client, Running, get};

/// Starts the binary with `args` (and `RUST_LOG` when given), makes one request, stops it with
/// SIGTERM; its stderr.
fn stderr_of_a_run(args: &[&str], rust_log: Option<&str>) -> String {
    let port = support::free_port();
    let mut cmd = support::bin();
    cmd.arg(format!("http://127.0.0.1:{port}/")).args(["--threads", "2", "--stats", "0"]).args(args);
    match rust_log {
        Some(filter) => cmd.env("RUST_LOG", filter),
        None => cmd.env_remove("RUST_LOG"),
    };
    let srv = Running::spawn(cmd, format!("127.0.0.1:{port}").parse().unwrap()).expect("started");
    assert_eq!(Client::connect(srv.addr).exchange(&get("/")).status, 200);
    srv.signal(libc::SIGTERM);
    let (status, _, err) = srv.wait();
    assert!(status.success(), "{status}: {err}");
    err
}

#[test]
fn log_level_debug_prints_the_startup_and_stop_events() {
    let err = stderr_of_a_run(&["--log-level", "debug"], None);
    for want in [
        "INFO hsys::server: listening addr=127.0.0.1:",
        "INFO hsys::server: serving threads=2 backend=",
        "DEBUG hsys::server::worker: I/O thread started thread=0",
        "DEBUG hsys::server::worker: I/O thread started thread=1",
        "INFO hsys::server: graceful stop begins",
        "DEBUG hsys::server::worker: I/O thread ended thread=",
        "INFO hsys::server: every I/O thread has ended stopping=true",
    ] {
        assert!(err.contains(want), "`{want}` missing from:\n{err}");
    }
}

#[test]
fn warn_by_default_and_rust_log_wins() {
    // The default level (warn): a run without trouble says nothing.
    let err = stderr_of_a_run(&[], None);
    assert!(!err.contains("INFO") && !err.contains("DEBUG"), "{err}");
    // RUST_LOG, when set, replaces --log-level: here only the I/O threads' debug events.
    let err = stderr_of_a_run(&["--log-level", "off"], Some("hsys::server::worker=debug"));
    assert!(err.contains("DEBUG hsys::server::worker: I/O thread started"), "{err}");
    assert!(!err.contains("INFO hsys::server: listening"), "{err}");
}

#[test]
fn a_bad_level_or_filter_is_a_usage_error() {
    let out = support::bin().args(["--log-level", "loud"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = support::bin().env("RUST_LOG", "hsys=[").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("hsys: RUST_LOG: "));
}
