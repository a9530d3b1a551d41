//! URL prefixes (`http://host:port/path/`): parsing, validation and canonical display.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::path::{PathError, normalize_path};

/// The host part of a URL prefix, which decides its routing class.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// `+`: every host name, taking precedence over all other classes.
    Strong,
    /// `*`: every host name, used only when no other class has a matching prefix.
    Weak,
    /// A DNS-style name, stored lower-case so that matching is case-insensitive.
    Name(Box<str>),
    /// An IP literal: matches requests that arrived on that local address.
    Ip(IpAddr),
}

/// The routing classes of [`Host`], in http.sys precedence order (first wins).
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostClass {
    /// `+`.
    Strong,
    /// An explicit host name, matched against the `Host` header.
    Name,
    /// An IP literal, matched against the local address of the connection.
    Ip,
    /// `*`.
    Weak,
}

#[cfg(test)]
impl Host {
    /// The routing class of this host.
    pub fn class(&self) -> HostClass {
        match self {
            Host::Strong => HostClass::Strong,
            Host::Name(_) => HostClass::Name,
            Host::Ip(_) => HostClass::Ip,
            Host::Weak => HostClass::Weak,
        }
    }
}

impl fmt::Display for Host {
    /// `+`, `*`, the name, an IPv4 literal, or a bracketed IPv6 literal (`[::1]`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Strong => f.write_str("+"),
            Host::Weak => f.write_str("*"),
            Host::Name(name) => f.write_str(name),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
        }
    }
}

/// A registered URL prefix: `http://host:port/path/`.
///
/// Parsing rules:
/// - the scheme is `http`, lower case only (`https` is recognised and refused with
///   [`PrefixError::HttpsUnsupported`] until TLS exists);
/// - the host is `+`, `*`, an IPv4 literal, a bracketed IPv6 literal, or a DNS-style name
///   (labels of letters, digits and `-`, separated by `.`) stored lower-case;
/// - the port is required, decimal, 1–65535 (leading zeros are accepted);
/// - the path is optional (`http://+:80` means `/`) and is normalised like a request path
///   (see [`normalize_path`]); a path that does not end in `/` is *normalised* by appending
///   one (`http://+:80/api` registers `/api/`) rather than refused, since a prefix always
///   names a whole-segment subtree;
/// - a query or fragment is refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UrlPrefix {
    /// Which requests the prefix claims by host, and with what precedence.
    host: Host,
    /// The local TCP port; routing only considers prefixes on the connection's port.
    port: u16,
    /// Starts and ends with `/`, normalised, so that matching is a plain prefix comparison.
    path: Box<str>,
}

/// Why a URL prefix was refused: one variant per kind of mistake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrefixError {
    /// No `scheme://` at the start.
    MissingScheme,
    /// A scheme other than `http` (the scheme is lower case only).
    UnsupportedScheme,
    /// `https`: not supported until TLS exists.
    HttpsUnsupported,
    /// Nothing between `://` and the port.
    MissingHost,
    /// The host is not `+`, `*`, an IP literal or a valid DNS-style name.
    Host,
    /// No `:port` after the host.
    MissingPort,
    /// The port is not a decimal number in 1–65535.
    Port,
    /// The path is malformed or climbs above `/`.
    Path(PathError),
    /// A query (`?`) or fragment (`#`), which a prefix cannot have.
    QueryOrFragment,
}

impl fmt::Display for PrefixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrefixError::MissingScheme => f.write_str("URL prefix has no 'scheme://'"),
            PrefixError::UnsupportedScheme => f.write_str("URL prefix scheme is not 'http'"),
            PrefixError::HttpsUnsupported => f.write_str("https is not supported until TLS exists"),
            PrefixError::MissingHost => f.write_str("URL prefix has no host"),
            PrefixError::Host => f.write_str("URL prefix host is not '+', '*', an IP or a name"),
            PrefixError::MissingPort => f.write_str("URL prefix has no port"),
            PrefixError::Port => f.write_str("URL prefix port is not a number in 1-65535"),
            PrefixError::Path(e) => write!(f, "URL prefix path: {e}"),
            PrefixError::QueryOrFragment => f.write_str("URL prefix cannot have a query or fragment"),
        }
    }
}

impl std::error::Error for PrefixError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PrefixError::Path(e) => Some(e),
            _ => None,
        }
    }
}

impl UrlPrefix {
    /// Parses and normalises a URL prefix; see [`UrlPrefix`] for the rules.
    ///
    /// # Errors
    /// The first rule broken, as a [`PrefixError`].
    pub fn parse(s: &str) -> Result<UrlPrefix, PrefixError> {
        let (scheme, rest) = s.split_once("://").ok_or(PrefixError::MissingScheme)?;
        match scheme {
            "http" => {}
            "https" => return Err(PrefixError::HttpsUnsupported),
            _ => return Err(PrefixError::UnsupportedScheme),
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at_checked(end).unwrap_or((rest, ""));
        let (host, port) = parse_authority(authority)?;
        if path.contains(['?', '#']) {
            return Err(PrefixError::QueryOrFragment);
        }
        let path = if path.is_empty() {
            Box::from("/")
        } else {
            let mut path = normalize_path(path).map_err(PrefixError::Path)?.into_owned();
            if !path.ends_with('/') {
                path.push('/');
            }
            path.into_boxed_str()
        };
        Ok(UrlPrefix { host, port, path })
    }

    /// The host, which decides the routing class.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The local port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The normalised path, starting and ending with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl FromStr for UrlPrefix {
    type Err = PrefixError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UrlPrefix::parse(s)
    }
}

impl fmt::Display for UrlPrefix {
    /// The canonical form, e.g. `http://+:8080/api/` or `http://[::1]:80/`; it parses
    /// back to an equal prefix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}:{}{}", self.host, self.port, self.path)
    }
}

/// Parses `host:port` (the authority, without userinfo).
fn parse_authority(authority: &str) -> Result<(Host, u16), PrefixError> {
    if authority.is_empty() {
        return Err(PrefixError::MissingHost);
    }
    if let Some(bracketed) = authority.strip_prefix('[') {
        let (literal, after) = bracketed.split_once(']').ok_or(PrefixError::Host)?;
        let ip = Ipv6Addr::from_str(literal).map_err(|_| PrefixError::Host)?;
        let port = match after.strip_prefix(':') {
            Some(port) => parse_port(port)?,
            None if after.is_empty() => return Err(PrefixError::MissingPort),
            None => return Err(PrefixError::Host),
        };
        return Ok((Host::Ip(IpAddr::V6(ip)), port));
    }
    let Some((host, port)) = authority.split_once(':') else {
        return Err(PrefixError::MissingPort);
    };
    if port.contains(':') {
        // An unbracketed IPv6 literal.
        return Err(PrefixError::Host);
    }
    let host = parse_host(host)?;
    Ok((host, parse_port(port)?))
}

/// Parses an unbracketed host: `+`, `*`, an IPv4 literal or a DNS-style name.
fn parse_host(host: &str) -> Result<Host, PrefixError> {
    match host {
        "" => Err(PrefixError::MissingHost),
        "+" => Ok(Host::Strong),
        "*" => Ok(Host::Weak),
        _ => match Ipv4Addr::from_str(host) {
            Ok(ip) => Ok(Host::Ip(IpAddr::V4(ip))),
            Err(_) if is_dns_name(host) => Ok(Host::Name(host.to_ascii_lowercase().into())),
            Err(_) => Err(PrefixError::Host),
        },
    }
}

/// A DNS-style name: at most 253 bytes of labels (1–63 letters, digits or `-`, not at
/// either end) separated by `.`, whose last label is not all digits (that would be a
/// malformed IPv4 literal such as `1.2.3` or `256.0.0.1`). No trailing `.`.
fn is_dns_name(name: &str) -> bool {
    if name.len() > 253 {
        return false;
    }
    let labels_ok = name.split('.').all(|label| {
        let bytes = label.as_bytes();
        (1..=63).contains(&bytes.len())
            && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && bytes.first() != Some(&b'-')
            && bytes.last() != Some(&b'-')
    });
    let last_numeric = name.rsplit('.').next().is_some_and(|label| label.bytes().all(|b| b.is_ascii_digit()));
    labels_ok && !last_numeric
}

/// Parses a decimal port in 1–65535.
fn parse_port(port: &str) -> Result<u16, PrefixError> {
    if port.is_empty() {
        return Err(PrefixError::MissingPort);
    }
    let mut value: u32 = 0;
    for b in port.bytes() {
        if !b.is_ascii_digit() {
            return Err(PrefixError::Port);
        }
        value = value * 10 + u32::from(b - b'0');
        if value > u32::from(u16::MAX) {
            return Err(PrefixError::Port);
        }
    }
    match u16::try_from(value) {
        Ok(0) | Err(_) => Err(PrefixError::Port),
        Ok(port) => Ok(port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn name(s: &str) -> Host {
        Host::Name(s.into())
    }

    fn v4(a: u8, b: u8, c: u8, d: u8) -> Host {
        Host::Ip(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
    }

    fn v6(s: &str) -> Host {
        match Ipv6Addr::from_str(s) {
            Ok(ip) => Host::Ip(IpAddr::V6(ip)),
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn parses() {
        let cases = [
            ("http://+:80/", Host::Strong, 80, "/"),
            ("http://+:80", Host::Strong, 80, "/"),
            ("http://*:8080/", Host::Weak, 8080, "/"),
            ("http://*:8080/api/", Host::Weak, 8080, "/api/"),
            ("http://*:8080/api", Host::Weak, 8080, "/api/"),
            ("http://+:1/", Host::Strong, 1, "/"),
            ("http://+:65535/", Host::Strong, 65535, "/"),
            ("http://+:00080/", Host::Strong, 80, "/"),
            ("http://example.com:80/", name("example.com"), 80, "/"),
            ("http://Example.COM:80/", name("example.com"), 80, "/"),
            ("http://localhost:80/", name("localhost"), 80, "/"),
            ("http://a-b.c-d9.e:80/", name("a-b.c-d9.e"), 80, "/"),
            ("http://1.2.3.x:80/", name("1.2.3.x"), 80, "/"),
            ("http://123abc:80/", name("123abc"), 80, "/"),
            ("http://a.1b:80/", name("a.1b"), 80, "/"),
            ("http://127.0.0.1:80/", v4(127, 0, 0, 1), 80, "/"),
            ("http://0.0.0.0:80/", v4(0, 0, 0, 0), 80, "/"),
            ("http://255.255.255.255:80/", v4(255, 255, 255, 255), 80, "/"),
            ("http://[::1]:80/", v6("::1"), 80, "/"),
            ("http://[::]:80", v6("::"), 80, "/"),
            ("http://[FE80::1]:80/x/", v6("fe80::1"), 80, "/x/"),
            ("http://[2001:db8:0:0:0:0:0:1]:443/", v6("2001:db8::1"), 443, "/"),
            ("http://[::ffff:1.2.3.4]:80/", v6("::ffff:1.2.3.4"), 80, "/"),
            // Path normalisation.
            ("http://+:80/a/b/../c", Host::Strong, 80, "/a/c/"),
            ("http://+:80/a/./", Host::Strong, 80, "/a/"),
            ("http://+:80/a/..", Host::Strong, 80, "/"),
            ("http://+:80/%7Euser/", Host::Strong, 80, "/~user/"),
            ("http://+:80/a%2fb", Host::Strong, 80, "/a%2Fb/"),
            ("http://+:80/café", Host::Strong, 80, "/caf%C3%A9/"),
            ("http://+:80/API/V1/", Host::Strong, 80, "/API/V1/"),
            ("http://+:80//", Host::Strong, 80, "//"),
        ];
        for (input, host, port, path) in cases {
            let parsed = UrlPrefix::parse(input);
            let Ok(prefix) = parsed else {
                panic!("{input}: {parsed:?}");
            };
            assert_eq!(prefix.host(), &host, "{input}");
            assert_eq!(prefix.port(), port, "{input}");
            assert_eq!(prefix.path(), path, "{input}");
            assert_eq!(input.parse::<UrlPrefix>(), Ok(prefix), "{input}");
        }
    }

    #[test]
    fn errors() {
        let long_label = format!("http://{}:80/", "a".repeat(64));
        let long_name = format!("http://{}a:80/", "a.".repeat(127));
        let cases = [
            ("", PrefixError::MissingScheme),
            ("+:80/", PrefixError::MissingScheme),
            ("http:/+:80/", PrefixError::MissingScheme),
            ("//+:80/", PrefixError::MissingScheme),
            ("://+:80/", PrefixError::UnsupportedScheme),
            ("HTTP://+:80/", PrefixError::UnsupportedScheme),
            ("Http://+:80/", PrefixError::UnsupportedScheme),
            ("ftp://+:80/", PrefixError::UnsupportedScheme),
            (" http://+:80/", PrefixError::UnsupportedScheme),
            ("https://+:443/", PrefixError::HttpsUnsupported),
            ("https://garbage", PrefixError::HttpsUnsupported),
            ("http://", PrefixError::MissingHost),
            ("http:///", PrefixError::MissingHost),
            ("http://:80/", PrefixError::MissingHost),
            ("http://+/", PrefixError::MissingPort),
            ("http://+", PrefixError::MissingPort),
            ("http://example.com/", PrefixError::MissingPort),
            ("http://[::1]/", PrefixError::MissingPort),
            ("http://+:/", PrefixError::MissingPort),
            ("http://[::1]:/", PrefixError::MissingPort),
            ("http://+:0/", PrefixError::Port),
            ("http://+:00/", PrefixError::Port),
            ("http://+:65536/", PrefixError::Port),
            ("http://+:99999999999999999999/", PrefixError::Port),
            ("http://+:*/", PrefixError::Port),
            ("http://+:+/", PrefixError::Port),
            ("http://+:+80/", PrefixError::Port),
            ("http://+:-1/", PrefixError::Port),
            ("http://+:0x50/", PrefixError::Port),
            ("http://+:8 0/", PrefixError::Port),
            ("http://+:80a/", PrefixError::Port),
            ("http://[::1]:x/", PrefixError::Port),
            ("http://++:80/", PrefixError::Host),
            ("http://**:80/", PrefixError::Host),
            ("http://+a:80/", PrefixError::Host),
            ("http://a*:80/", PrefixError::Host),
            ("http://a_b:80/", PrefixError::Host),
            ("http://a b:80/", PrefixError::Host),
            ("http://user@host:80/", PrefixError::Host),
            ("http://-a:80/", PrefixError::Host),
            ("http://a-:80/", PrefixError::Host),
            ("http://a..b:80/", PrefixError::Host),
            ("http://.a:80/", PrefixError::Host),
            ("http://a.:80/", PrefixError::Host),
            ("http://.:80/", PrefixError::Host),
            ("http://1.2.3:80/", PrefixError::Host),
            ("http://256.1.1.1:80/", PrefixError::Host),
            ("http://01.2.3.4:80/", PrefixError::Host),
            ("http://1.2.3.4.5:80/", PrefixError::Host),
            ("http://12345:80/", PrefixError::Host),
            ("http://a.123:80/", PrefixError::Host),
            ("http://café:80/", PrefixError::Host),
            (long_label.as_str(), PrefixError::Host),
            (long_name.as_str(), PrefixError::Host),
            ("http://::1:80/", PrefixError::Host),
            ("http://::1/", PrefixError::Host),
            ("http://[::1:80/", PrefixError::Host),
            ("http://[::1]x:80/", PrefixError::Host),
            ("http://[1.2.3.4]:80/", PrefixError::Host),
            ("http://[example.com]:80/", PrefixError::Host),
            ("http://[fe80::1%eth0]:80/", PrefixError::Host),
            ("http://[]:80/", PrefixError::Host),
            ("http://+:80/../", PrefixError::Path(PathError::AboveRoot)),
            ("http://+:80/a/../../", PrefixError::Path(PathError::AboveRoot)),
            ("http://+:80/%2e%2e/", PrefixError::Path(PathError::AboveRoot)),
            ("http://+:80/%/", PrefixError::Path(PathError::BadEscape)),
            ("http://+:80/%G1/", PrefixError::Path(PathError::BadEscape)),
            ("http://+:80/a b/", PrefixError::Path(PathError::BadChar)),
            ("http://+:80/a\0/", PrefixError::Path(PathError::BadChar)),
            ("http://+:80/?", PrefixError::QueryOrFragment),
            ("http://+:80/a?b=c", PrefixError::QueryOrFragment),
            ("http://+:80?x", PrefixError::QueryOrFragment),
            ("http://+:80#f", PrefixError::QueryOrFragment),
            ("http://+:80/a#f", PrefixError::QueryOrFragment),
        ];
        for (input, expected) in cases {
            assert_eq!(UrlPrefix::parse(input), Err(expected), "{input:?}");
        }
        // The longest acceptable name and label parse.
        let max_label = format!("http://{}:80/", "a".repeat(63));
        let max_name = format!("http://{}a:80/", "a.".repeat(126));
        for input in [max_label, max_name] {
            assert!(UrlPrefix::parse(&input).is_ok(), "{input}");
        }
    }

    #[test]
    fn display_is_canonical_and_round_trips() {
        let cases = [
            ("http://+:8080/api", "http://+:8080/api/"),
            ("http://+:80", "http://+:80/"),
            ("http://*:080/", "http://*:80/"),
            ("http://Example.Com:80/A/", "http://example.com:80/A/"),
            ("http://10.0.0.1:81/x/./y", "http://10.0.0.1:81/x/y/"),
            ("http://[::1]:80/", "http://[::1]:80/"),
            ("http://[0:0::1]:80/", "http://[::1]:80/"),
            ("http://[FE80::A]:80/", "http://[fe80::a]:80/"),
            ("http://+:80/%7e%2f", "http://+:80/~%2F/"),
        ];
        for (input, expected) in cases {
            let Ok(prefix) = UrlPrefix::parse(input) else {
                panic!("{input}");
            };
            let shown = prefix.to_string();
            assert_eq!(shown, expected, "{input}");
            assert_eq!(UrlPrefix::parse(&shown), Ok(prefix), "{input}");
        }
    }

    /// Pseudo-random prefixes built from good and bad parts: no panic, and every success
    /// displays as a string that parses back to it.
    #[test]
    fn random_prefixes_round_trip() {
        const SCHEMES: [&str; 4] = ["http://", "http://", "https://", "HTTP://"];
        const HOSTS: [&str; 12] =
            ["+", "*", "a.B-c", "1.2.3.4", "[::1]", "[::FFFF:1.2.3.4]", "", "a..b", "[::1", "::1", "1.2.3", "é"];
        const PORTS: [&str; 8] = [":80", ":1", ":65535", ":0080", ":0", ":65536", "", ":*"];
        const PATH: [&str; 12] = ["/", "a", "A", "..", ".", "%2e", "%2F", "%41", "é", "?", "#", "%"];
        fn pick<'a>(state: &mut u64, from: &[&'a str]) -> &'a str {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            let len = u64::try_from(from.len()).unwrap_or(1);
            let index = usize::try_from(*state % len).unwrap_or(0);
            from.get(index).copied().unwrap_or("")
        }
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut parsed = 0;
        for _ in 0..20_000 {
            let mut input = String::new();
            input.push_str(pick(&mut state, &SCHEMES));
            input.push_str(pick(&mut state, &HOSTS));
            input.push_str(pick(&mut state, &PORTS));
            for _ in 0..(state % 6) {
                input.push_str(pick(&mut state, &PATH));
            }
            if let Ok(prefix) = UrlPrefix::parse(&input) {
                let shown = prefix.to_string();
                assert_eq!(UrlPrefix::parse(&shown), Ok(prefix), "{input} -> {shown}");
                parsed += 1;
            }
        }
        assert!(parsed > 100, "only {parsed} inputs parsed");
    }

    #[test]
    fn host_classes_in_precedence_order() {
        let cases = [
            (Host::Strong, HostClass::Strong, "+"),
            (name("a.b"), HostClass::Name, "a.b"),
            (v4(1, 2, 3, 4), HostClass::Ip, "1.2.3.4"),
            (v6("::1"), HostClass::Ip, "[::1]"),
            (Host::Weak, HostClass::Weak, "*"),
        ];
        for (host, class, shown) in &cases {
            assert_eq!(host.class(), *class, "{host:?}");
            assert_eq!(host.to_string(), *shown, "{host:?}");
        }
        assert!(HostClass::Strong < HostClass::Name);
        assert!(HostClass::Name < HostClass::Ip);
        assert!(HostClass::Ip < HostClass::Weak);
    }

    #[test]
    fn errors_display_and_source() {
        use std::error::Error;
        let cases = [
            PrefixError::MissingScheme,
            PrefixError::UnsupportedScheme,
            PrefixError::HttpsUnsupported,
            PrefixError::MissingHost,
            PrefixError::Host,
            PrefixError::MissingPort,
            PrefixError::Port,
            PrefixError::Path(PathError::AboveRoot),
            PrefixError::QueryOrFragment,
        ];
        for e in cases {
            assert!(!e.to_string().is_empty());
            assert_eq!(e.source().is_some(), matches!(e, PrefixError::Path(_)));
        }
        assert_eq!(PrefixError::HttpsUnsupported.to_string(), "https is not supported until TLS exists");
    }
}
