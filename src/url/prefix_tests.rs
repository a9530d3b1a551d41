//! Tests of `prefix.rs`.

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
        assert_eq!(prefix.scheme(), Scheme::Http, "{input}");
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
        ("HTTPS://+:443/", PrefixError::UnsupportedScheme),
        ("httpss://+:443/", PrefixError::UnsupportedScheme),
        ("https://garbage", PrefixError::MissingPort),
        ("https://", PrefixError::MissingHost),
        ("https://+:0/", PrefixError::Port),
        ("https://[::1/", PrefixError::Host),
        ("https://+:443/../", PrefixError::Path(PathError::AboveRoot)),
        ("https://+:443/?q", PrefixError::QueryOrFragment),
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

/// `https` parses in every host class with the same host, port and path as `http`, and
/// differs from the `http` prefix only by its scheme.
#[test]
fn https_in_every_host_class() {
    let cases = [
        ("+:443/", Host::Strong, 443, "/"),
        ("*:8443/api", Host::Weak, 8443, "/api/"),
        ("Example.COM:443/", name("example.com"), 443, "/"),
        ("localhost:1/a/../b/", name("localhost"), 1, "/b/"),
        ("127.0.0.1:443/", v4(127, 0, 0, 1), 443, "/"),
        ("[::1]:443", v6("::1"), 443, "/"),
        ("[::ffff:1.2.3.4]:65535/x/", v6("::ffff:1.2.3.4"), 65535, "/x/"),
    ];
    for (rest, host, port, path) in cases {
        let https = format!("https://{rest}");
        let parsed = UrlPrefix::parse(&https);
        let Ok(prefix) = parsed else {
            panic!("{https}: {parsed:?}");
        };
        assert_eq!(prefix.scheme(), Scheme::Https, "{https}");
        assert_eq!(prefix.host(), &host, "{https}");
        assert_eq!(prefix.port(), port, "{https}");
        assert_eq!(prefix.path(), path, "{https}");
        assert!(prefix.to_string().starts_with("https://"), "{https}");
        let Ok(http) = UrlPrefix::parse(&format!("http://{rest}")) else {
            panic!("http://{rest}");
        };
        assert_eq!(http.scheme(), Scheme::Http, "{rest}");
        assert_eq!((http.host(), http.port(), http.path()), (prefix.host(), prefix.port(), prefix.path()));
        assert_ne!(http, prefix, "{rest}: the scheme is part of the prefix");
    }
}

#[test]
fn scheme_names() {
    assert_eq!(Scheme::Http.as_str(), "http");
    assert_eq!(Scheme::Https.as_str(), "https");
    assert_eq!(Scheme::Https.to_string(), "https");
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
        ("https://+:443", "https://+:443/"),
        ("https://*:0443/a/./b", "https://*:443/a/b/"),
        ("https://LocalHost:8443/API", "https://localhost:8443/API/"),
        ("https://127.0.0.1:443/", "https://127.0.0.1:443/"),
        ("https://[0::1]:443/x", "https://[::1]:443/x/"),
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
    const SCHEMES: [&str; 5] = ["http://", "http://", "https://", "HTTP://", "ftp://"];
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
    assert_eq!(PrefixError::UnsupportedScheme.to_string(), "URL prefix scheme is not 'http' or 'https'");
}
