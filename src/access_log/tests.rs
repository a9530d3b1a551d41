//! The access log's lines, names and files, without a server.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use super::line::{self, Facts, Stamp};
use super::writer::{FileState, file_name};
use super::*;

/// 2026-12-05 09:03:29 UTC.
const T: u64 = 1_796_461_409;

fn config(format: LogFormat, fields: &[LogField]) -> LogConfig {
    LogConfig { path: PathBuf::from("/x/a.log"), format, fields: fields.to_vec(), roll: Roll::Never }
}

fn facts() -> Facts<'static> {
    Facts {
        method: b"GET",
        target: b"/a b/c?x=1&y=2",
        version: b"HTTP/1.1",
        user_agent: Some(b"curl/8.0 (x86 64)"),
        referer: None,
        host: Some(b"example.com"),
        status: 200,
        sent: 612,
        received: 78,
        taken_ms: 3,
        client: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))),
        server: Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        port: 8080,
    }
}

fn line_of(config: &LogConfig, f: &Facts<'_>) -> String {
    let mut stamp = Stamp::default();
    stamp.update(T);
    let mut out = Vec::new();
    line::write_line(&mut out, config, &stamp, f);
    String::from_utf8(out).unwrap()
}

#[test]
fn w3c_lines_have_every_field_in_order() {
    let c = config(LogFormat::W3c, &LogField::ALL);
    assert_eq!(
        line_of(&c, &facts()),
        "2026-12-05 09:03:29 ::1 GET /a+b/c x=1&y=2 8080 10.0.0.7 HTTP/1.1 curl/8.0+(x86+64) - example.com 200 612 78 3\n"
    );
}

#[test]
fn w3c_fields_are_chosen_and_ordered() {
    let c = config(LogFormat::W3c, &[LogField::Status, LogField::Method, LogField::UriQuery, LogField::TimeTaken]);
    assert_eq!(line_of(&c, &facts()), "200 GET x=1&y=2 3\n");
    let f = Facts { target: b"/plain", ..facts() };
    assert_eq!(line_of(&c, &f), "200 GET - 3\n", "no query: -");
}

#[test]
fn w3c_values_cannot_break_the_line() {
    let c = config(LogFormat::W3c, &[LogField::UserAgent, LogField::Referer]);
    let f = Facts { user_agent: Some(b"a\r\nb\tc\x7fd"), referer: Some(b""), ..facts() };
    assert_eq!(line_of(&c, &f), "a%0D%0Ab%09c%7Fd -\n");
}

#[test]
fn unknown_facts_are_dashes() {
    let c = config(LogFormat::W3c, &LogField::ALL);
    let f = Facts { status: 400, sent: 100, ..Facts::default() };
    assert_eq!(line_of(&c, &f), "2026-12-05 09:03:29 - - - - 0 - - - - - 400 100 0 0\n");
}

#[test]
fn ncsa_combined() {
    let c = config(LogFormat::Ncsa, &[]);
    let f = Facts { referer: Some(b"http://r/\"q\""), ..facts() };
    assert_eq!(
        line_of(&c, &f),
        "10.0.0.7 - - [05/Dec/2026:09:03:29 +0000] \"GET /a b/c?x=1&y=2 HTTP/1.1\" 200 612 \"http://r/\\\"q\\\"\" \"curl/8.0 (x86 64)\"\n"
    );
    let refused = Facts { status: 408, ..Facts::default() };
    assert_eq!(line_of(&c, &refused), "- - - [05/Dec/2026:09:03:29 +0000] \"-\" 408 - \"-\" \"-\"\n");
}

#[test]
fn decimals() {
    for n in [0u64, 7, 9, 10, 42, 99, 100, 101, 255, 999, 1000, 8080, 65_535, 1_234_567, u64::MAX] {
        let mut out = Vec::new();
        line::decimal(&mut out, n);
        assert_eq!(String::from_utf8(out).unwrap(), n.to_string());
    }
}

#[test]
fn stamps_follow_the_calendar() {
    let cases = [
        (0, "1970-01-01", "00:00:00"),
        (951_782_400, "2000-02-29", "00:00:00"),
        (T, "2026-12-05", "09:03:29"),
        (4_107_542_399, "2100-02-28", "23:59:59"),
    ];
    for (secs, date, time) in cases {
        let mut s = Stamp::default();
        s.update(secs);
        assert_eq!(String::from_utf8(s.date_time().to_vec()).unwrap(), format!("{date} {time}"), "{secs}");
    }
}

#[test]
fn refused_request_lines_are_read_as_far_as_they_go() {
    assert_eq!(line::request_line(b"GET /x HTTP/1.1\r\nHost: a\r\n"), (&b"GET"[..], &b"/x"[..], &b"HTTP/1.1"[..]));
    assert_eq!(line::request_line(b"GET /partial"), (&b"GET"[..], &b"/partial"[..], &b""[..]));
    assert_eq!(line::request_line(b"\x16\x03\x01 junk"), (&b""[..], &b""[..], &b""[..]));
    assert_eq!(line::request_line(b""), (&b""[..], &b""[..], &b""[..]));
    let long = [b"GET /".as_slice(), &[b'a'; 10_000], b" HTTP/1.1\r\n"].concat();
    assert_eq!(line::request_line(&long).1.len(), line::REFUSED_TARGET_MAX);
}

#[test]
fn field_lists_parse_as_iis_names_them() {
    assert_eq!(
        LogField::parse_list("date, time c-ip,CS-METHOD cs(User-Agent)").unwrap(),
        vec![LogField::Date, LogField::Time, LogField::ClientIp, LogField::Method, LogField::UserAgent]
    );
    for bad in ["", " , ", "date,nope", "date,date"] {
        assert!(LogField::parse_list(bad).is_err(), "{bad:?}");
    }
    let all = LogField::ALL.map(LogField::name).join(" ");
    assert_eq!(LogField::parse_list(&all).unwrap(), LogField::ALL.to_vec());
}

#[test]
fn rolls_parse() {
    assert_eq!(Roll::parse("size:1000"), Ok(Roll::Size(1000)));
    assert_eq!(Roll::parse("Hourly"), Ok(Roll::Hourly));
    assert_eq!(Roll::parse("daily"), Ok(Roll::Daily));
    assert_eq!(Roll::parse("never"), Ok(Roll::Never));
    for bad in ["size:0", "size:", "size:-1", "weekly", ""] {
        assert!(Roll::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn file_names_carry_their_period() {
    let named = |path: &str, roll: Roll, n: u32| {
        let c = LogConfig { path: PathBuf::from(path), format: LogFormat::W3c, fields: vec![], roll };
        file_name(&c, T, n).to_string_lossy().into_owned()
    };
    assert_eq!(named("/l/access.log", Roll::Never, 1), "/l/access.log");
    assert_eq!(named("/l/access.log", Roll::Daily, 1), "/l/access_261205.log");
    assert_eq!(named("/l/access.log", Roll::Hourly, 1), "/l/access_26120509.log");
    assert_eq!(named("/l/access.log", Roll::Size(10), 3), "/l/access_3.log");
    assert_eq!(named("/l/access", Roll::Daily, 1), "/l/access_261205");
    assert_eq!(named("/l/", Roll::Never, 1), "/l/u_ex261205.log");
    assert_eq!(named("/l/", Roll::Daily, 1), "/l/u_ex261205.log");
    assert_eq!(named("/l/", Roll::Hourly, 1), "/l/u_ex26120509.log");
    assert_eq!(named("/l/", Roll::Size(10), 2), "/l/u_extend2.log");
}

/// A directory of its own under the system's temporary one.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hsys-alog-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn size_rolls_at_whole_lines_and_each_file_has_its_directives() {
    let dir = temp_dir("size");
    let c = LogConfig {
        path: dir.join("a.log"),
        format: LogFormat::W3c,
        fields: vec![LogField::Status],
        roll: Roll::Size(300),
    };
    let mut stamp = Stamp::default();
    stamp.update(T);
    let mut f = FileState::default();
    let lines: String = (0..100).map(|i| format!("{:03}\n", 100 + i)).collect();
    for chunk in lines.as_bytes().chunks(40) {
        f.write(&c, chunk, T, &stamp).unwrap();
    }
    let mut seen = Vec::new();
    for n in 1.. {
        let Ok(text) = std::fs::read_to_string(dir.join(format!("a_{n}.log"))) else { break };
        assert!(text.len() <= 300, "file {n}: {} bytes", text.len());
        assert!(text.starts_with("#Software: hsys "), "{text}");
        assert!(text.contains("\n#Version: 1.0\n#Date: 2026-12-05 09:03:29\n#Fields: sc-status\n"), "{text}");
        seen.extend(text.lines().filter(|l| !l.starts_with('#')).map(str::to_owned));
    }
    let expected: Vec<String> = (0..100).map(|i| format!("{:03}", 100 + i)).collect();
    assert_eq!(seen, expected);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn time_rolls_move_to_the_next_period() {
    let dir = temp_dir("time");
    let c = LogConfig { path: dir.clone(), format: LogFormat::Ncsa, fields: vec![], roll: Roll::Hourly };
    let stamp = Stamp::default();
    let mut f = FileState::default();
    f.write(&c, b"one\n", T, &stamp).unwrap();
    f.write(&c, b"two\n", T + 60, &stamp).unwrap();
    f.write(&c, b"three\n", T + 3600, &stamp).unwrap();
    assert_eq!(std::fs::read_to_string(dir.join("u_ex26120509.log")).unwrap(), "one\ntwo\n");
    assert_eq!(std::fs::read_to_string(dir.join("u_ex26120510.log")).unwrap(), "three\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn w3c_values_are_escaped_wherever_the_byte_is() {
    // (The check for bytes to escape takes eight at a time: each byte, at each place, in values
    // of every length around a word, beside bytes above 0x7f that must not be taken for one.)
    let c = config(LogFormat::W3c, &[LogField::UserAgent]);
    let mut stamp = Stamp::default();
    stamp.update(T);
    for len in 1..=17 {
        for at in 0..len {
            for b in 0..=255u8 {
                let mut v = vec![0xA1u8; len];
                v[at] = b;
                let f = Facts { user_agent: Some(&v), ..facts() };
                let mut out = Vec::new();
                line::write_line(&mut out, &c, &stamp, &f);
                let mut want = vec![0xA1u8; at];
                match b {
                    b' ' => want.push(b'+'),
                    b if b < b' ' || b == 0x7f => want.extend_from_slice(format!("%{b:02X}").as_bytes()),
                    b => want.push(b),
                }
                want.extend_from_slice(&vec![0xA1u8; len - at - 1]);
                want.push(b'\n');
                assert_eq!(out, want, "{len} {at} {b}");
            }
        }
    }
}

#[test]
fn kept_texts_follow_the_addresses_and_port() {
    // (A thread keeps the addresses' and port's texts from line to line: each line still says its own.)
    let c = config(LogFormat::W3c, &[LogField::ClientIp, LogField::ServerIp, LogField::ServerPort]);
    let mut stamp = Stamp::default();
    stamp.update(T);
    let mut texts = line::Texts::default();
    let v6: IpAddr = "2001:db8::ffff:1.2.3.4".parse().unwrap();
    let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
    let cases: [(Option<IpAddr>, Option<IpAddr>, u16, &str); 5] = [
        (Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))), None, 80, "10.0.0.7 - 80\n"),
        (Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))), None, 80, "10.0.0.7 - 80\n"),
        (Some(v6), Some(mapped), 65_535, "2001:db8::ffff:102:304 10.1.2.3 65535\n"),
        (None, Some(IpAddr::V6(Ipv6Addr::LOCALHOST)), 0, "- ::1 0\n"),
        (Some(IpAddr::V4(Ipv4Addr::new(255, 255, 255, 255))), None, 8080, "255.255.255.255 - 8080\n"),
    ];
    for (client, server, port, want) in cases {
        let f = Facts { client, server, port, ..facts() };
        let mut out = Vec::new();
        line::write_line_with(&mut out, &c, &stamp, &mut texts, &f);
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }
}

#[test]
fn long_values_and_repeated_fields_are_written_whole() {
    // (Lines without a value to escape are written into room reserved once: values of every
    // length around the word copies and the reserve's bound, and a list naming fields again.)
    let mut stamp = Stamp::default();
    stamp.update(T);
    for len in [0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 200, 500, 4000] {
        let ua = vec![b'u'; len];
        let fields =
            [LogField::UserAgent, LogField::ClientIp, LogField::UserAgent, LogField::Status, LogField::UserAgent];
        let c = config(LogFormat::W3c, &fields);
        let f = Facts { user_agent: Some(&ua), ..facts() };
        let mut out = Vec::new();
        line::write_line(&mut out, &c, &stamp, &f);
        let v = if len == 0 { "-".to_string() } else { "u".repeat(len) };
        assert_eq!(String::from_utf8(out).unwrap(), format!("{v} 10.0.0.7 {v} 200 {v}\n"), "{len}");
    }
}
