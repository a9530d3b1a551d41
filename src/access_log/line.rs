//! One access-log line from a request's facts (sans-I/O: no clock, no file): the fields in W3C or
//! NCSA form, their escaping, and the time's text, formatted once a second.

use std::io::Write;
use std::net::IpAddr;

use super::{LogConfig, LogField, LogFormat};

/// The longest target written for a request hsys refused before parsing it (a `414`'s target
/// can be as long as the head): longer ones are cut there.
pub const REFUSED_TARGET_MAX: usize = 4096;

/// What a line says about one request and its answer. Empty slices and `None` are unknown
/// (written `-`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Facts<'r> {
    pub method: &'r [u8],
    pub target: &'r [u8],
    /// `HTTP/1.1`, `HTTP/1.0`.
    pub version: &'r [u8],
    pub user_agent: Option<&'r [u8]>,
    pub referer: Option<&'r [u8]>,
    pub host: Option<&'r [u8]>,
    pub status: u16,
    /// The answer's bytes.
    pub sent: u64,
    /// The request's bytes.
    pub received: u64,
    pub taken_ms: u64,
    pub client: Option<IpAddr>,
    pub server: Option<IpAddr>,
    pub port: u16,
}

/// The time's text for a line, formatted again only when the second changes.
#[derive(Clone, Debug)]
pub struct Stamp {
    /// Unix second of the text; `u64::MAX` before the first.
    secs: u64,
    /// `2026-12-05`.
    date: [u8; 10],
    /// `09:03:29`.
    time: [u8; 8],
    /// `05/Dec/2026:09:03:29 +0000`.
    ncsa: [u8; 26],
}

impl Default for Stamp {
    fn default() -> Self {
        let mut s = Stamp { secs: u64::MAX, date: [b'0'; 10], time: [b'0'; 8], ncsa: [b'0'; 26] };
        s.update(0);
        s
    }
}

const MONTHS: [&[u8; 3]; 12] =
    [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];

impl Stamp {
    /// Brings the text up to Unix second `secs`; cheap when the second has not changed.
    #[inline]
    pub fn update(&mut self, secs: u64) {
        if secs != self.secs {
            self.format(secs);
        }
    }

    #[cold]
    fn format(&mut self, secs: u64) {
        self.secs = secs;
        let (y, m, d) = civil(secs / 86_400);
        let rest = secs % 86_400;
        let (hh, mm, ss) = (rest / 3600, rest / 60 % 60, rest % 60);
        let mut date = [0u8; 10];
        let _ = write!(&mut date[..], "{y:04}-{m:02}-{d:02}");
        let mut time = [0u8; 8];
        let _ = write!(&mut time[..], "{hh:02}:{mm:02}:{ss:02}");
        let mut ncsa = [0u8; 26];
        let month = MONTHS.get(m as usize - 1).map_or("???", |m| std::str::from_utf8(&m[..]).unwrap_or("???"));
        let _ = write!(&mut ncsa[..], "{d:02}/{month}/{y:04}:{hh:02}:{mm:02}:{ss:02} +0000");
        (self.date, self.time, self.ncsa) = (date, time, ncsa);
    }

    /// `2026-12-05 09:03:29`, for a `#Date:` directive.
    pub fn date_time(&self) -> [u8; 19] {
        let mut out = [b' '; 19];
        out[..10].copy_from_slice(&self.date);
        out[11..].copy_from_slice(&self.time);
        out
    }
}

/// The civil date (year, month 1–12, day 1–31) of a day counted from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
pub fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// The texts of a line that stay the same over many lines: the addresses and the port, formatted
/// again only when they change (a connection's lines share them). One per I/O thread.
#[derive(Clone, Debug, Default)]
pub struct Texts {
    client: IpText,
    server: IpText,
    /// The port, and its text.
    port: Option<(u16, [u8; 5], u8)>,
}

/// An address and its text (as [`ip`] writes it).
#[derive(Clone, Debug)]
struct IpText {
    /// `None` before the first: `Some(None)` is a `-`.
    ip: Option<Option<IpAddr>>,
    text: [u8; IP_MAX],
    len: u8,
}

/// The longest text of an address (an IPv6 address with an IPv4 tail).
const IP_MAX: usize = 48;

impl Default for IpText {
    fn default() -> Self {
        IpText { ip: None, text: [0; IP_MAX], len: 0 }
    }
}

impl IpText {
    /// The text of `ip`, formatted only when it is not the last one's.
    #[inline(always)]
    fn of(&mut self, ip: Option<IpAddr>) -> &[u8] {
        if self.ip != Some(ip) {
            self.set(ip);
        }
        self.text.get(..usize::from(self.len)).unwrap_or_default()
    }

    #[cold]
    fn set(&mut self, ip: Option<IpAddr>) {
        (self.text, self.len) = ip_text(ip);
        self.ip = Some(ip);
    }
}

impl Texts {
    /// The port's text, formatted only when it is not the last one's.
    #[inline]
    fn port(&mut self, port: u16) -> &[u8] {
        texts_port(&mut self.port, port)
    }
}

/// The text of `port`, kept in `cache` (formatted only when it is not the last one's).
#[inline(always)]
fn texts_port(cache: &mut Option<(u16, [u8; 5], u8)>, port: u16) -> &[u8] {
    if cache.is_none_or(|(p, _, _)| p != port) {
        let mut digits = [0u8; 20];
        let len = decimal_into(&mut digits, u64::from(port));
        let mut text = [0u8; 5];
        text[..len].copy_from_slice(&digits[20 - len..]);
        *cache = Some((port, text, len as u8));
    }
    match cache {
        Some((_, text, len)) => text.get(..usize::from(*len)).unwrap_or_default(),
        None => &[],
    }
}

/// Appends the line (with its `\n`) for `f` at `stamp` in `config`'s format and fields.
#[cfg_attr(not(any(test, feature = "internals")), allow(dead_code))] // the tests and the fuzz target
pub fn write_line(out: &mut Vec<u8>, config: &LogConfig, stamp: &Stamp, f: &Facts<'_>) {
    write_line_with(out, config, stamp, &mut Texts::default(), f);
}

/// [`write_line`], with the texts that repeat from line to line kept in `texts`.
pub fn write_line_with(out: &mut Vec<u8>, config: &LogConfig, stamp: &Stamp, texts: &mut Texts, f: &Facts<'_>) {
    if config.format == LogFormat::W3c && w3c_plain(out, config, stamp, texts, f) {
        return;
    }
    let values = f.method.len()
        + f.target.len()
        + f.version.len()
        + f.user_agent.map_or(0, <[u8]>::len)
        + f.referer.map_or(0, <[u8]>::len)
        + f.host.map_or(0, <[u8]>::len);
    // Room for the whole line at once (a value escaped whole is four times its length at most):
    // the pieces below then never grow the buffer.
    out.reserve(4 * values + 32 * config.fields.len() + 2 * IP_MAX + 128);
    match config.format {
        LogFormat::W3c => {
            for field in &config.fields {
                w3c_field(out, *field, stamp, texts, f);
                out.push(b' ');
            }
            match out.last_mut() {
                Some(last) if !config.fields.is_empty() => *last = b'\n',
                _ => out.push(b'\n'),
            }
            return;
        }
        LogFormat::Ncsa => ncsa_line(out, stamp, texts, f),
    }
    out.push(b'\n');
}

/// The most a W3C line written by [`w3c_plain`] may need: past it (long values), the line is
/// written piece by piece. (A buffer is handed on at 64 KiB with 8 KiB more room: this never
/// grows it.)
const PLAIN_MAX: usize = 8 * 1024;

/// A W3C line whose values have nothing to escape, written with plain stores into room reserved
/// once (no growth check, no call, per piece); `false`, writing nothing, for any other line.
fn w3c_plain(out: &mut Vec<u8>, config: &LogConfig, stamp: &Stamp, texts: &mut Texts, f: &Facts<'_>) -> bool {
    let ua = f.user_agent.unwrap_or_default();
    let referer = f.referer.unwrap_or_default();
    let host = f.host.unwrap_or_default();
    let longest =
        f.method.len().max(f.target.len()).max(f.version.len()).max(ua.len()).max(referer.len()).max(host.len());
    // Each field writes at most its value (the target's part), an address (`IP_MAX` at most,
    // written as 16 bytes when shorter), a number or a stamp, then one byte: whatever the list
    // (even one naming a field twice).
    let room = config.fields.len() * (longest.max(IP_MAX) + 1) + 1;
    if room > PLAIN_MAX
        || any_w3c_special(f.method)
        || any_w3c_special(f.target)
        || any_w3c_special(f.version)
        || any_w3c_special(ua)
        || any_w3c_special(referer)
        || any_w3c_special(host)
    {
        return false;
    }
    out.reserve(room);
    let start = out.len();
    let (stem, query) = split(f.target);
    let Texts { client, server, port } = texts;
    let base = out.spare_capacity_mut().as_mut_ptr().cast::<u8>();
    let mut p = base;
    // SAFETY: `room` bytes from `base` are reserved (`reserve` above), and the writes below
    // stay within it: each field writes at most `longest.max(IP_MAX)` bytes and a space, as
    // `room` counts them (an address's 16-byte store only when its text is shorter than 16, a
    // number at most 20 bytes, a stamp 10); every source read is within its own slice or array.
    // `set_len` covers only bytes written.
    unsafe {
        if config.fields == LogField::ALL {
            // The default list, in straight line: no call and no jump per field.
            p = spaced(put_array(p, &stamp.date));
            p = spaced(put_array(p, &stamp.time));
            p = spaced(put_ip(p, server, f.server));
            p = spaced(put_value(p, f.method));
            p = spaced(put_value(p, stem));
            p = spaced(put_value(p, query.unwrap_or_default()));
            p = spaced(put(p, texts_port(port, f.port)));
            p = spaced(put_ip(p, client, f.client));
            p = spaced(put_value(p, f.version));
            p = spaced(put_value(p, ua));
            p = spaced(put_value(p, referer));
            p = spaced(put_value(p, host));
            p = spaced(put_decimal(p, u64::from(f.status)));
            p = spaced(put_decimal(p, f.sent));
            p = spaced(put_decimal(p, f.received));
            p = spaced(put_decimal(p, f.taken_ms));
        } else {
            let mut one = |p: *mut u8, field: LogField| -> *mut u8 {
                let p = match field {
                    LogField::Date => put_array(p, &stamp.date),
                    LogField::Time => put_array(p, &stamp.time),
                    LogField::ServerIp => put_ip(p, server, f.server),
                    LogField::Method => put_value(p, f.method),
                    LogField::UriStem => put_value(p, stem),
                    LogField::UriQuery => put_value(p, query.unwrap_or_default()),
                    LogField::ServerPort => put(p, texts_port(port, f.port)),
                    LogField::ClientIp => put_ip(p, client, f.client),
                    LogField::Version => put_value(p, f.version),
                    LogField::UserAgent => put_value(p, ua),
                    LogField::Referer => put_value(p, referer),
                    LogField::Host => put_value(p, host),
                    LogField::Status => put_decimal(p, u64::from(f.status)),
                    LogField::BytesSent => put_decimal(p, f.sent),
                    LogField::BytesReceived => put_decimal(p, f.received),
                    LogField::TimeTaken => put_decimal(p, f.taken_ms),
                };
                p.write(b' ');
                p.add(1)
            };
            for field in &config.fields {
                p = one(p, *field);
            }
        }
        if config.fields.is_empty() {
            p.write(b'\n');
            p = p.add(1);
        } else {
            p.sub(1).write(b'\n');
        }
        out.set_len(start + p.offset_from_unsigned(base));
    }
    true
}

/// Writes the space after a field at `p`; the place after it.
///
/// # Safety
/// `p` has room for one byte.
#[inline(always)]
unsafe fn spaced(p: *mut u8) -> *mut u8 {
    // SAFETY: the caller's room.
    unsafe {
        p.write(b' ');
        p.add(1)
    }
}

/// Writes `src` at `p`; the place after it.
///
/// # Safety
/// `p` has room for `N` bytes.
#[inline(always)]
unsafe fn put_array<const N: usize>(p: *mut u8, src: &[u8; N]) -> *mut u8 {
    // SAFETY: the caller's room; `src` is `N` bytes.
    unsafe {
        p.cast::<[u8; N]>().write_unaligned(*src);
        p.add(N)
    }
}

/// Writes `src` at `p` (up to 16 bytes with two overlapping loads and stores, not a call); the
/// place after it.
///
/// # Safety
/// `p` has room for `src.len()` bytes, and does not overlap `src`.
#[inline(always)]
unsafe fn put(p: *mut u8, src: &[u8]) -> *mut u8 {
    let n = src.len();
    let s = src.as_ptr();
    // SAFETY: every load is within `src` (`n` bytes) and every store within the `n` bytes of
    // room at `p`: the two words of a case overlap rather than pass its end.
    unsafe {
        if (8..=16).contains(&n) {
            let (a, b) = (s.cast::<u64>().read_unaligned(), s.add(n - 8).cast::<u64>().read_unaligned());
            p.cast::<u64>().write_unaligned(a);
            p.add(n - 8).cast::<u64>().write_unaligned(b);
        } else if (4..8).contains(&n) {
            let (a, b) = (s.cast::<u32>().read_unaligned(), s.add(n - 4).cast::<u32>().read_unaligned());
            p.cast::<u32>().write_unaligned(a);
            p.add(n - 4).cast::<u32>().write_unaligned(b);
        } else if n > 0 && n < 4 {
            p.write(*s);
            p.add(n / 2).write(*s.add(n / 2));
            p.add(n - 1).write(*s.add(n - 1));
        } else if n > 16 {
            std::ptr::copy_nonoverlapping(s, p, n);
        }
        p.add(n)
    }
}

/// A W3C value with nothing to escape (`-` when empty).
///
/// # Safety
/// As [`put`], with room for one byte when `v` is empty.
#[inline(always)]
unsafe fn put_value(p: *mut u8, v: &[u8]) -> *mut u8 {
    // SAFETY: the caller's.
    unsafe { if v.is_empty() { put_array(p, b"-") } else { put(p, v) } }
}

/// An address's text, kept in `text` from the last line: 16 bytes at once when it is shorter.
///
/// # Safety
/// `p` has room for [`IP_MAX`] bytes.
#[inline(always)]
unsafe fn put_ip(p: *mut u8, text: &mut IpText, ip: Option<IpAddr>) -> *mut u8 {
    let t = text.of(ip);
    let n = t.len();
    // SAFETY: `text.text` is `IP_MAX` (> 16) bytes, so its first 16 can be read whatever the
    // text's length; the room is `IP_MAX`.
    unsafe {
        if n < 16 {
            p.cast::<[u8; 16]>().write_unaligned(text.text.as_ptr().cast::<[u8; 16]>().read_unaligned());
            p.add(n)
        } else {
            put(p, text.text.get(..n).unwrap_or_default())
        }
    }
}

/// `n` in decimal.
///
/// # Safety
/// `p` has room for 20 bytes.
#[inline(always)]
unsafe fn put_decimal(p: *mut u8, n: u64) -> *mut u8 {
    // SAFETY: the caller's room; at most 20 digits.
    unsafe {
        if n < 10 {
            put_array(p, &[b'0' + n as u8])
        } else if n < 100 {
            let pair = n as usize * 2;
            put_array(p, &[PAIRS[pair], PAIRS[pair + 1]])
        } else if n < 1000 {
            let pair = (n % 100) as usize * 2;
            put_array(p, &[b'0' + (n / 100) as u8, PAIRS[pair], PAIRS[pair + 1]])
        } else {
            let mut text = [0u8; 20];
            let len = decimal_into(&mut text, n);
            put(p, text.get(20 - len..).unwrap_or_default())
        }
    }
}

/// The target's path and query (`None`: no `?`).
fn split(target: &[u8]) -> (&[u8], Option<&[u8]>) {
    match target.iter().position(|&b| b == b'?') {
        Some(i) => (&target[..i], Some(&target[i + 1..])),
        None => (target, None),
    }
}

#[inline]
fn w3c_field(out: &mut Vec<u8>, field: LogField, stamp: &Stamp, texts: &mut Texts, f: &Facts<'_>) {
    match field {
        LogField::Date => out.extend_from_slice(&stamp.date),
        LogField::Time => out.extend_from_slice(&stamp.time),
        LogField::ServerIp => out.extend_from_slice(texts.server.of(f.server)),
        LogField::Method => w3c_value(out, f.method),
        LogField::UriStem => w3c_value(out, split(f.target).0),
        LogField::UriQuery => w3c_value(out, split(f.target).1.unwrap_or_default()),
        LogField::ServerPort => out.extend_from_slice(texts.port(f.port)),
        LogField::ClientIp => out.extend_from_slice(texts.client.of(f.client)),
        LogField::Version => w3c_value(out, f.version),
        LogField::UserAgent => w3c_value(out, f.user_agent.unwrap_or_default()),
        LogField::Referer => w3c_value(out, f.referer.unwrap_or_default()),
        LogField::Host => w3c_value(out, f.host.unwrap_or_default()),
        LogField::Status => status(out, f.status),
        LogField::BytesSent => decimal(out, f.sent),
        LogField::BytesReceived => decimal(out, f.received),
        LogField::TimeTaken => decimal(out, f.taken_ms),
    }
}

/// NCSA combined: `host ident user [time] "request" status bytes "referer" "agent"`.
fn ncsa_line(out: &mut Vec<u8>, stamp: &Stamp, texts: &mut Texts, f: &Facts<'_>) {
    out.extend_from_slice(texts.client.of(f.client));
    out.extend_from_slice(b" - - [");
    out.extend_from_slice(&stamp.ncsa);
    out.extend_from_slice(b"] \"");
    if f.method.is_empty() {
        out.push(b'-');
    } else {
        ncsa_value(out, f.method);
        out.push(b' ');
        ncsa_value(out, f.target);
        if !f.version.is_empty() {
            out.push(b' ');
            // (NCSA's request line is HTTP/1's: HTTP/2 is written as its version `HTTP/2.0`.)
            ncsa_value(out, if f.version == b"HTTP/2" { b"HTTP/2.0" } else { f.version });
        }
    }
    out.extend_from_slice(b"\" ");
    status(out, f.status);
    out.push(b' ');
    if f.sent == 0 {
        out.push(b'-')
    } else {
        decimal(out, f.sent)
    }
    for v in [f.referer, f.user_agent] {
        out.extend_from_slice(b" \"");
        match v {
            Some(v) if !v.is_empty() => ncsa_value(out, v),
            _ => out.push(b'-'),
        }
        out.push(b'"');
    }
}

/// Whether `b` must be escaped in a W3C value.
#[inline]
fn w3c_special(b: u8) -> bool {
    b <= b' ' || b == 0x7f
}

/// Whether any byte of `v` must be escaped in a W3C value: eight bytes at a time (a tail, as
/// the last eight, overlapping), four for a value of 4 to 7, and one to three each at once.
#[inline]
fn any_w3c_special(v: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const DEL: u64 = u64::from_ne_bytes([0x7f; 8]);
    // A byte below 0x21 (`x - 0x21…` borrows into its high bit while `!x` has it), or a 0x7f
    // (a zero byte of `x ^ 0x7f…`): exact as a yes or no for the word.
    let word = |x: u64| ((x.wrapping_sub(ONES * 0x21) & !x) | ((x ^ DEL).wrapping_sub(ONES) & !(x ^ DEL))) & HIGHS != 0;
    let n = v.len();
    let at = |i: usize| v.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()).map_or(0, u64::from_ne_bytes);
    let half = |i: usize| v.get(i..i + 4).and_then(|w| <[u8; 4]>::try_from(w).ok()).map_or(0, u32::from_ne_bytes);
    if n >= 8 {
        let mut i = 0;
        while i + 8 <= n {
            if word(at(i)) {
                return true;
            }
            i += 8;
        }
        i < n && word(at(n - 8))
    } else if n >= 4 {
        // (Both halves in one word: the test is per byte.)
        word(u64::from(half(0)) | u64::from(half(n - 4)) << 32)
    } else if let (Some(&a), Some(&m), Some(&z)) = (v.first(), v.get(n / 2), v.last()) {
        // One to three bytes, each looked at (some twice), with no loop.
        w3c_special(a) | w3c_special(m) | w3c_special(z)
    } else {
        false
    }
}

/// A W3C value: `-` when empty, a space as `+`, a control byte as `%XX` (IIS's rules, and no
/// line break can get into the log).
#[inline]
fn w3c_value(out: &mut Vec<u8>, v: &[u8]) {
    if v.is_empty() {
        out.push(b'-');
    } else if !any_w3c_special(v) {
        out.extend_from_slice(v);
    } else {
        w3c_escaped(out, v);
    }
}

/// [`w3c_value`] of a value with bytes to escape.
#[cold]
fn w3c_escaped(out: &mut Vec<u8>, v: &[u8]) {
    for &b in v {
        match b {
            b' ' => out.push(b'+'),
            b if w3c_special(b) => hex(out, b'%', b),
            b => out.push(b),
        }
    }
}

/// A value inside NCSA quotes: `"` and `\` escaped with `\`, a control byte as `\xHH` (Apache's).
fn ncsa_value(out: &mut Vec<u8>, v: &[u8]) {
    let special = |b: u8| b < b' ' || b == 0x7f || b == b'"' || b == b'\\';
    if !v.iter().any(|&b| special(b)) {
        out.extend_from_slice(v);
        return;
    }
    for &b in v {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            b if special(b) => {
                out.push(b'\\');
                hex(out, b'x', b);
            }
            b => out.push(b),
        }
    }
}

/// `prefix` and `b` in two upper-case hex digits.
fn hex(out: &mut Vec<u8>, prefix: u8, b: u8) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    out.extend_from_slice(&[prefix, DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]]);
}

/// The text of an address (`-` when unknown), and its length.
fn ip_text(ip: Option<IpAddr>) -> ([u8; IP_MAX], u8) {
    let mut text = [0u8; IP_MAX];
    let len = match ip.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => {
            let mut len = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    text[len] = b'.';
                    len += 1;
                }
                let [a, b, c, n] = OCTETS[usize::from(octet)];
                text[len..len + 3].copy_from_slice(&[a, b, c]);
                len += usize::from(n);
            }
            len
        }
        // (`Display` for an address formats on the stack: nothing is allocated.)
        Some(ip) => {
            let mut rest = &mut text[..];
            let _ = write!(rest, "{ip}");
            IP_MAX - rest.len()
        }
        None => {
            text[0] = b'-';
            1
        }
    };
    (text, len as u8)
}

/// Each byte's decimal text (up to 3 digits, then unused bytes), and its length.
const OCTETS: [[u8; 4]; 256] = {
    let mut table = [[0u8; 4]; 256];
    let mut n = 0;
    while n < 256 {
        let (h, t, o) = ((n / 100) as u8, (n / 10 % 10) as u8, (n % 10) as u8);
        table[n] = if n >= 100 {
            [b'0' + h, b'0' + t, b'0' + o, 3]
        } else if n >= 10 {
            [b'0' + t, b'0' + o, 0, 2]
        } else {
            [b'0' + o, 0, 0, 1]
        };
        n += 1;
    }
    table
};

/// `00` to `99`, two digits each.
const PAIRS: &[u8; 200] =
    b"0001020304050607080910111213141516171819202122232425262728293031323334353637383940414243444546474849\
5051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";

/// A status: three digits (any other is written as a decimal).
#[inline]
fn status(out: &mut Vec<u8>, n: u16) {
    if (100..1000).contains(&n) {
        let n = usize::from(n);
        let pair = n % 100 * 2;
        out.extend_from_slice(&[b'0' + (n / 100) as u8, PAIRS[pair], PAIRS[pair + 1]]);
    } else {
        decimal(out, u64::from(n));
    }
}

/// `n` in decimal (two digits per step: a line has a dozen numbers).
pub fn decimal(out: &mut Vec<u8>, n: u64) {
    if n < 10 {
        out.push(b'0' + n as u8);
        return;
    }
    let mut buf = [0u8; 20];
    let len = decimal_into(&mut buf, n);
    out.extend_from_slice(&buf[buf.len() - len..]);
}

/// `n` in decimal at the end of `buf`; its length.
fn decimal_into(buf: &mut [u8; 20], mut n: u64) -> usize {
    let mut i = buf.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + n as u8;
    }
    buf.len() - i
}

/// The method, target and version of a request refused before it was parsed, read as far as its
/// first line allows (a method that is not a token: nothing known). The target is cut at
/// [`REFUSED_TARGET_MAX`].
pub fn request_line(input: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let end = input.iter().position(|&b| b == b'\n').unwrap_or(input.len());
    let line = input.get(..end).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    if !crate::semantics::is_token(method) {
        return (&[], &[], &[]);
    }
    let target = parts.next().unwrap_or_default();
    let target = target.get(..REFUSED_TARGET_MAX).unwrap_or(target);
    let version = parts.next().filter(|v| v.len() == 8 && v.starts_with(b"HTTP/")).unwrap_or_default();
    (method, target, version)
}

/// The `#Software`, `#Version`, `#Date` and `#Fields` directives that begin a W3C file.
pub fn directives(out: &mut Vec<u8>, config: &LogConfig, stamp: &Stamp) {
    out.extend_from_slice(b"#Software: hsys ");
    out.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
    out.extend_from_slice(b"\n#Version: 1.0\n#Date: ");
    out.extend_from_slice(&stamp.date_time());
    out.extend_from_slice(b"\n#Fields:");
    for f in &config.fields {
        out.push(b' ');
        out.extend_from_slice(f.name().as_bytes());
    }
    out.push(b'\n');
}

/// The line that says `n` lines were dropped (the writer fell behind).
pub fn dropped_remark(out: &mut Vec<u8>, n: u64, stamp: &Stamp) {
    out.extend_from_slice(b"#Remark: ");
    out.extend_from_slice(&stamp.date_time());
    out.extend_from_slice(b" hsys dropped ");
    decimal(out, n);
    out.extend_from_slice(b" access-log lines: the log writer fell behind\n");
}

#[cfg(test)]
mod tests {
    use super::{any_w3c_special, w3c_special};

    /// The word-wise check says what a byte-by-byte one says: every byte value at every place
    /// of a value up to 20 bytes long, and every pair of bytes in one of two or three.
    #[test]
    fn the_word_check_agrees_with_the_byte_check() {
        for n in 1..=20 {
            for at in 0..n {
                for b in 0..=255u8 {
                    let mut v = vec![b'a'; n];
                    v[at] = b;
                    assert_eq!(any_w3c_special(&v), w3c_special(b), "{b:#x} at {at} of {n}");
                }
            }
        }
        for n in 2..=3 {
            for x in 0..=255u8 {
                for y in 0..=255u8 {
                    let v = [x, y, b'a'][..n].to_vec();
                    assert_eq!(any_w3c_special(&v), v.iter().any(|&b| w3c_special(b)), "{v:?}");
                }
            }
        }
        assert!(!any_w3c_special(b""));
    }
}
