//! Access-log lines from hostile bytes: `request_line` reads what a refused request's first line
//! says, and a line written from it (with header values cut from the same bytes) is one line in
//! either format — exactly one `\n`, at its end, and no `\r` — and a W3C line has one value per
//! field. The option parsers (`LogField::parse_list`, `Roll::parse`) take any text.
#![no_main]

use hsys::access_log::line::{self, Facts, Stamp};
use hsys::access_log::{LogConfig, LogField, LogFormat, Roll};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (method, target, version) = line::request_line(data);
    assert!(target.len() <= line::REFUSED_TARGET_MAX);
    let third = data.len() / 3;
    let facts = Facts {
        method,
        target,
        version,
        user_agent: Some(&data[..third]),
        referer: Some(&data[third..2 * third]),
        host: Some(&data[2 * third..]),
        status: 400,
        sent: data.len() as u64,
        ..Facts::default()
    };
    let mut stamp = Stamp::default();
    stamp.update(u64::from(data.first().copied().unwrap_or(0)) << 24);
    for format in [LogFormat::W3c, LogFormat::Ncsa] {
        let config = LogConfig { path: "x.log".into(), format, fields: LogField::ALL.to_vec(), roll: Roll::Never };
        let mut out = Vec::new();
        line::write_line(&mut out, &config, &stamp, &facts);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1, "{out:?}");
        assert_eq!(out.last(), Some(&b'\n'));
        assert!(!out.contains(&b'\r'), "{out:?}");
        if format == LogFormat::W3c {
            let fields = out[..out.len() - 1].split(|&b| b == b' ').count();
            assert_eq!(fields, LogField::ALL.len(), "{out:?}");
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = LogField::parse_list(text);
        let _ = Roll::parse(text);
    }
});
