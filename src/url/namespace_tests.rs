//! Tests of `namespace.rs`.

use super::*;
use std::net::Ipv4Addr;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

fn prefix(s: &str) -> UrlPrefix {
    match UrlPrefix::parse(s) {
        Ok(p) => p,
        Err(e) => panic!("{s}: {e}"),
    }
}

fn ip(s: &str) -> IpAddr {
    match s.parse() {
        Ok(ip) => ip,
        Err(e) => panic!("{s}: {e}"),
    }
}

/// A namespace binding each prefix to its own text.
fn namespace(prefixes: &[&'static str]) -> Namespace<&'static str> {
    let mut ns = Namespace::new();
    for &p in prefixes {
        assert_eq!(ns.register(prefix(p), p), Ok(()), "{p}");
    }
    ns
}

/// The route as the winning prefix's text, or `NoHost` / `NoPath`.
fn route(ns: &Namespace<&'static str>, port: u16, host: Option<&str>, local: IpAddr, path: &str) -> &'static str {
    match ns.route(port, host.map(str::as_bytes), &local, path) {
        Route::Matched { prefix: p, value } => {
            assert_eq!(&prefix(value), p);
            value
        }
        Route::NoHost => "NoHost",
        Route::NoPath => "NoPath",
    }
}

#[test]
fn documented_example() {
    let ns = namespace(&["http://+:80/vroot/", "http://adatum.com:80/", "http://*:80/"]);
    let cases = [
        ("adatum.com", "/vroot/subdir/file.htm", "http://+:80/vroot/"),
        ("adatum.com", "/default.htm", "http://adatum.com:80/"),
        ("otheradatum.com", "/file.htm", "http://*:80/"),
        ("otheradatum.com", "/vroot/x", "http://+:80/vroot/"),
        ("adatum.com", "/vroot", "http://+:80/vroot/"),
        ("adatum.com", "/vrootx", "http://adatum.com:80/"),
    ];
    for (host, path, expected) in cases {
        assert_eq!(route(&ns, 80, Some(host), LOCAL, path), expected, "{host}{path}");
    }
}

#[test]
fn precedence_and_fall_through() {
    type Case = (&'static [&'static str], u16, Option<&'static str>, &'static str, &'static str, &'static str);
    let cases: &[Case] = &[
        // Strong beats every other class, even with a shorter path.
        (
            &["http://+:80/", "http://a.com:80/x/", "http://10.0.0.1:80/x/", "http://*:80/x/"],
            80,
            Some("a.com"),
            "10.0.0.1",
            "/x/y",
            "http://+:80/",
        ),
        // Name beats IP and Weak, even with a shorter path.
        (
            &["http://a.com:80/", "http://10.0.0.1:80/x/", "http://*:80/x/"],
            80,
            Some("a.com"),
            "10.0.0.1",
            "/x/y",
            "http://a.com:80/",
        ),
        // IP beats Weak.
        (&["http://10.0.0.1:80/", "http://*:80/x/"], 80, Some("a.com"), "10.0.0.1", "/x/y", "http://10.0.0.1:80/"),
        // Weak last.
        (&["http://*:80/"], 80, Some("a.com"), "10.0.0.1", "/x/y", "http://*:80/"),
        // Strong with no path match falls through to Name.
        (&["http://+:80/s/", "http://a.com:80/"], 80, Some("a.com"), "10.0.0.1", "/x", "http://a.com:80/"),
        // Name with no path match falls through to IP.
        (&["http://a.com:80/n/", "http://10.0.0.1:80/"], 80, Some("a.com"), "10.0.0.1", "/x", "http://10.0.0.1:80/"),
        // IP with no path match falls through to Weak.
        (&["http://10.0.0.1:80/i/", "http://*:80/"], 80, Some("a.com"), "10.0.0.1", "/x", "http://*:80/"),
        // All classes fall through to Weak.
        (
            &["http://+:80/s/", "http://a.com:80/n/", "http://10.0.0.1:80/i/", "http://*:80/"],
            80,
            Some("a.com"),
            "10.0.0.1",
            "/x",
            "http://*:80/",
        ),
        // Longest path within the winning class.
        (&["http://+:80/", "http://+:80/a/", "http://+:80/a/b/"], 80, None, "10.0.0.1", "/a/b/c", "http://+:80/a/b/"),
        (&["http://+:80/a/b/", "http://+:80/", "http://+:80/a/"], 80, None, "10.0.0.1", "/a/c", "http://+:80/a/"),
        (&["http://a.com:80/", "http://a.com:80/a/"], 80, Some("a.com"), "10.0.0.1", "/a/", "http://a.com:80/a/"),
        (&["http://*:80/", "http://*:80/a/"], 80, None, "10.0.0.1", "/b", "http://*:80/"),
        // ...but a longer path in a later class does not beat an earlier class.
        (&["http://+:80/a/", "http://*:80/a/b/"], 80, None, "10.0.0.1", "/a/b/c", "http://+:80/a/"),
        // Other names do not match.
        (&["http://b.com:80/", "http://*:80/"], 80, Some("a.com"), "10.0.0.1", "/", "http://*:80/"),
        // Other IPs do not match.
        (&["http://10.0.0.2:80/", "http://*:80/"], 80, Some("a.com"), "10.0.0.1", "/", "http://*:80/"),
        // The Host header is not compared with IP prefixes: the local address is.
        (&["http://10.0.0.2:80/", "http://*:80/"], 80, Some("10.0.0.2"), "10.0.0.1", "/", "http://*:80/"),
        (&["http://10.0.0.1:80/"], 80, Some("10.0.0.2"), "10.0.0.1", "/", "http://10.0.0.1:80/"),
        (&["http://10.0.0.1:80/"], 80, None, "10.0.0.1", "/", "http://10.0.0.1:80/"),
        // Other ports do not match.
        (&["http://+:81/", "http://*:80/"], 80, None, "10.0.0.1", "/", "http://*:80/"),
        (&["http://+:80/", "http://+:81/a/"], 81, None, "10.0.0.1", "/a", "http://+:81/a/"),
        // Same path under several hosts coexists and routes by host.
        (&["http://example.com:80/v/", "http://+:80/v/"], 80, Some("example.com"), "10.0.0.1", "/v/", "http://+:80/v/"),
        (
            &["http://example.com:80/v/", "http://*:80/v/"],
            80,
            Some("example.com"),
            "10.0.0.1",
            "/v/",
            "http://example.com:80/v/",
        ),
        (&["http://example.com:80/v/", "http://*:80/v/"], 80, Some("other.com"), "10.0.0.1", "/v/", "http://*:80/v/"),
        // Several names and IPs on one port.
        (
            &["http://a.com:80/", "http://b.com:80/", "http://c.com:80/"],
            80,
            Some("b.com"),
            "10.0.0.1",
            "/",
            "http://b.com:80/",
        ),
        (
            &["http://a.com:80/", "http://b.com:80/", "http://c.com:80/"],
            80,
            Some("C.COM"),
            "10.0.0.1",
            "/",
            "http://c.com:80/",
        ),
        (&["http://10.0.0.1:80/", "http://10.0.0.2:80/", "http://[::1]:80/"], 80, None, "::1", "/", "http://[::1]:80/"),
        (
            &["http://10.0.0.1:80/", "http://10.0.0.2:80/", "http://[::1]:80/"],
            80,
            None,
            "10.0.0.2",
            "/",
            "http://10.0.0.2:80/",
        ),
    ];
    for (prefixes, port, host, local, path, expected) in cases {
        let ns = namespace(prefixes);
        assert_eq!(route(&ns, *port, *host, ip(local), path), *expected, "{prefixes:?} {port} {host:?} {local} {path}");
    }
}

#[test]
fn no_host_and_no_path() {
    type Case = (&'static [&'static str], u16, Option<&'static str>, &'static str, &'static str);
    let cases: &[Case] = &[
        (&[], 80, Some("a.com"), "/", "NoHost"),
        (&["http://+:81/"], 80, Some("a.com"), "/", "NoHost"),
        (&["http://b.com:80/"], 80, Some("a.com"), "/", "NoHost"),
        (&["http://b.com:80/"], 80, None, "/", "NoHost"),
        (&["http://10.0.0.2:80/"], 80, Some("a.com"), "/", "NoHost"),
        (&["http://b.com:80/", "http://10.0.0.2:80/"], 80, Some("a.com"), "/", "NoHost"),
        (&["http://+:80/x/"], 80, Some("a.com"), "/", "NoPath"),
        (&["http://+:80/x/"], 80, None, "/y", "NoPath"),
        (&["http://*:80/x/"], 80, Some("a.com"), "/xy", "NoPath"),
        (&["http://a.com:80/x/"], 80, Some("a.com"), "/y", "NoPath"),
        (&["http://10.0.0.1:80/x/"], 80, None, "/y", "NoPath"),
        (&["http://a.com:80/x/", "http://b.com:80/"], 80, Some("a.com"), "/y", "NoPath"),
        (&["http://+:80/x/", "http://b.com:80/"], 80, Some("a.com"), "/y", "NoPath"),
        (&["http://+:80/"], 80, None, "*", "NoPath"),
    ];
    for (prefixes, port, host, path, expected) in cases {
        let ns = namespace(prefixes);
        assert_eq!(route(&ns, *port, *host, LOCAL, path), *expected, "{prefixes:?} {port} {host:?} {path}");
    }
}

#[test]
fn path_matching() {
    let cases = [
        ("/", "/", true),
        ("/", "/anything/at/all", true),
        ("/dir/", "/dir/", true),
        ("/dir/", "/dir", true),
        ("/dir/", "/dir/file", true),
        ("/dir/", "/DIR/File", true),
        ("/Dir/", "/dIR", true),
        ("/dir/", "/dirx", false),
        ("/dir/", "/dirx/", false),
        ("/dir/", "/di", false),
        ("/dir/", "/", false),
        ("/dir/", "/other/dir/", false),
        ("/a/b/", "/a/b", true),
        ("/a/b/", "/a/", false),
        ("/a/b/", "/a/bc", false),
        ("/%C3%A9/", "/%c3%a9/x", true),
        ("/caf%C3%A9/", "/caf%C3%A9", true),
        ("/", "*", false),
    ];
    for (prefix, path, expected) in cases {
        assert_eq!(path_matches(prefix, path), expected, "{prefix} {path}");
    }
}

#[test]
fn host_header_forms() {
    let ns = namespace(&["http://a.com:80/", "http://*:80/"]);
    let cases = [
        (Some("a.com"), "http://a.com:80/"),
        (Some("A.COM"), "http://a.com:80/"),
        (Some("A.Com"), "http://a.com:80/"),
        (Some("a.com:80"), "http://a.com:80/"),
        (Some("a.com:8080"), "http://a.com:80/"),
        (Some("a.com:"), "http://a.com:80/"),
        (Some("a.com."), "http://a.com:80/"),
        (Some("a.com.:80"), "http://a.com:80/"),
        (Some(" a.com "), "http://a.com:80/"),
        (Some("a.co"), "http://*:80/"),
        (Some("a.comx"), "http://*:80/"),
        (Some("xa.com"), "http://*:80/"),
        (Some("b.a.com"), "http://*:80/"),
        (Some("a.com.."), "http://*:80/"),
        (Some(""), "http://*:80/"),
        (Some(":80"), "http://*:80/"),
        (Some("."), "http://*:80/"),
        (Some("[::1]"), "http://*:80/"),
        (Some("[::1]:80"), "http://*:80/"),
        (Some("[a.com]:80"), "http://*:80/"),
        (Some("10.0.0.1"), "http://*:80/"),
        (Some("\u{e9}.com"), "http://*:80/"),
        (None, "http://*:80/"),
    ];
    for (host, expected) in cases {
        assert_eq!(route(&ns, 80, host, LOCAL, "/"), expected, "{host:?}");
    }
    // Raw non-UTF-8 bytes in the header do not match and do not panic.
    let raw: &[u8] = b"a.com\xff";
    assert!(matches!(ns.route(80, Some(raw), &LOCAL, "/"), Route::Matched { value: &"http://*:80/", .. }));
}

#[test]
fn ipv6_and_mapped_local_addresses() {
    let ns = namespace(&["http://10.0.0.1:80/", "http://[::1]:80/", "http://[2001:db8::1]:80/"]);
    let cases = [
        ("10.0.0.1", "http://10.0.0.1:80/"),
        ("::ffff:10.0.0.1", "http://10.0.0.1:80/"),
        ("::1", "http://[::1]:80/"),
        ("2001:db8::1", "http://[2001:db8::1]:80/"),
        ("2001:DB8:0::1", "http://[2001:db8::1]:80/"),
        ("10.0.0.2", "NoHost"),
        ("::ffff:10.0.0.2", "NoHost"),
        ("127.0.0.1", "NoHost"),
        // IPv4-compatible (not mapped) is a different address.
        ("::10.0.0.1", "NoHost"),
    ];
    for (local, expected) in cases {
        assert_eq!(route(&ns, 80, Some("x"), ip(local), "/"), expected, "{local}");
    }
    // A prefix written as IPv4-mapped IPv6 matches the IPv4 address too.
    let ns = namespace(&["http://[::ffff:10.0.0.1]:80/"]);
    for local in ["10.0.0.1", "::ffff:10.0.0.1"] {
        assert_eq!(route(&ns, 80, None, ip(local), "/"), "http://[::ffff:10.0.0.1]:80/", "{local}");
    }
}

#[test]
fn register_conflicts_and_coexistence() {
    let cases: &[(&[&str], &str, bool)] = &[
        (&["http://+:80/"], "http://+:80/", false),
        (&["http://+:80/a/"], "http://+:80/a", false),
        (&["http://+:80/a/"], "http://+:80/A/", false),
        (&["http://+:80/a/"], "http://+:80/%61/", false),
        (&["http://+:80/a/"], "http://+:80/b/../a/", false),
        (&["http://a.com:80/"], "http://A.COM:80/", false),
        (&["http://10.0.0.1:80/"], "http://10.0.0.1:80/", false),
        (&["http://10.0.0.1:80/"], "http://[::ffff:10.0.0.1]:80/", false),
        (&["http://[::1]:80/"], "http://[0::1]:80/", false),
        (&["http://*:80/"], "http://*:80/", false),
        (&["http://+:80/"], "http://*:80/", true),
        (&["http://+:80/"], "http://+:81/", true),
        (&["http://+:80/"], "http://+:80/a/", true),
        (&["http://+:80/v/"], "http://example.com:80/v/", true),
        (&["http://example.com:80/v/"], "http://+:80/v/", true),
        (&["http://a.com:80/"], "http://b.com:80/", true),
        (&["http://a.com:80/"], "http://10.0.0.1:80/", true),
        (&["http://10.0.0.1:80/"], "http://10.0.0.2:80/", true),
        (&["http://10.0.0.1:80/"], "http://[::1]:80/", true),
        (&["http://10.0.0.1:80/"], "http://[::10.0.0.1]:80/", true),
        (&["http://+:80/a/"], "http://+:80/ab/", true),
        (&["http://+:80/a/"], "http://+:80/a%2F/", true),
    ];
    for (existing, new, ok) in cases {
        let mut ns = namespace(existing);
        let expected = if *ok { Ok(()) } else { Err(RegisterError::AlreadyRegistered) };
        assert_eq!(ns.register(prefix(new), "new"), expected, "{existing:?} + {new}");
        assert_eq!(ns.len(), existing.len() + usize::from(*ok), "{existing:?} + {new}");
        // A refused registration leaves the old value in place.
        for &e in *existing {
            assert_eq!(ns.get(&prefix(e)), Some(&e), "{existing:?} + {new}");
        }
    }
}

#[test]
fn unregister() {
    // In iteration order, so the survivors can be compared with `iter()`.
    let all = [
        "http://+:80/a/",
        "http://+:80/",
        "http://a.com:80/",
        "http://b.com:80/",
        "http://10.0.0.1:80/",
        "http://[::1]:80/",
        "http://*:80/",
        "http://*:81/",
    ];
    // Each prefix can be removed, by an equal or equivalent spelling, exactly once.
    let cases = [
        ("http://+:80/", "http://+:80/"),
        ("http://+:80/A", "http://+:80/a/"),
        ("http://A.com:80/", "http://a.com:80/"),
        ("http://b.com:80", "http://b.com:80/"),
        ("http://[::ffff:10.0.0.1]:80/", "http://10.0.0.1:80/"),
        ("http://[0::1]:80/", "http://[::1]:80/"),
        ("http://*:80/", "http://*:80/"),
        ("http://*:81/", "http://*:81/"),
    ];
    for (spelling, registered) in cases {
        let mut ns = namespace(&all);
        assert_eq!(ns.unregister(&prefix(spelling)), Some(registered), "{spelling}");
        assert_eq!(ns.unregister(&prefix(spelling)), None, "{spelling}");
        assert_eq!(ns.get(&prefix(registered)), None, "{spelling}");
        assert_eq!(ns.len(), all.len() - 1, "{spelling}");
        let left: Vec<_> = ns.iter().map(|(_, v)| *v).collect();
        let expected: Vec<_> = all.iter().copied().filter(|p| *p != registered).collect();
        assert_eq!(left, expected, "{spelling}");
    }
    // Unknown prefixes.
    let mut ns = namespace(&all);
    for missing in ["http://+:82/", "http://+:80/b/", "http://c.com:80/", "http://10.0.0.2:80/", "http://*:80/a/"] {
        assert_eq!(ns.unregister(&prefix(missing)), None, "{missing}");
    }
    assert_eq!(ns.len(), all.len());
    // Removing everything empties the namespace and routing says NoHost.
    for p in all {
        assert_eq!(ns.unregister(&prefix(p)), Some(p));
    }
    assert!(ns.is_empty());
    assert_eq!(ns.ports().count(), 0);
    assert_eq!(route(&ns, 80, Some("a.com"), LOCAL, "/"), "NoHost");
}

#[test]
fn unregister_changes_routing() {
    let mut ns = namespace(&["http://+:80/vroot/", "http://a.com:80/", "http://*:80/"]);
    let steps = [
        ("http://+:80/vroot/", "http://a.com:80/", "http://*:80/"),
        ("http://a.com:80/", "http://*:80/", "http://*:80/"),
        ("http://*:80/", "NoHost", "NoHost"),
    ];
    for (removed, for_a, for_other) in steps {
        assert_eq!(ns.unregister(&prefix(removed)), Some(removed));
        assert_eq!(route(&ns, 80, Some("a.com"), LOCAL, "/vroot/x"), for_a, "{removed}");
        assert_eq!(route(&ns, 80, Some("b.com"), LOCAL, "/vroot/x"), for_other, "{removed}");
    }
}

#[test]
fn iteration_and_ports() {
    let ns = namespace(&[
        "http://*:81/",
        "http://b.com:80/",
        "http://*:80/",
        "http://10.0.0.1:80/",
        "http://+:80/",
        "http://a.com:80/x/",
        "http://+:80/long/path/",
        "http://a.com:80/",
        "http://+:8080/",
    ]);
    let order: Vec<_> = ns.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(
        order,
        [
            "http://+:80/long/path/",
            "http://+:80/",
            "http://a.com:80/x/",
            "http://a.com:80/",
            "http://b.com:80/",
            "http://10.0.0.1:80/",
            "http://*:80/",
            "http://*:81/",
            "http://+:8080/",
        ]
    );
    for (p, v) in ns.iter() {
        assert_eq!(&prefix(v), p);
    }
    assert_eq!(ns.ports().collect::<Vec<_>>(), [80, 81, 8080]);
    assert_eq!(ns.len(), 9);
    assert!(!ns.is_empty());
    let empty: Namespace<u32> = Namespace::default();
    assert!(empty.is_empty());
    assert_eq!(empty.iter().count(), 0);
}

#[test]
fn route_is_copy_and_error_displays() {
    let ns = namespace(&["http://+:80/"]);
    let r = ns.route(80, None, &LOCAL, "/");
    let copy = r;
    assert_eq!(r, copy);
    assert_eq!(RegisterError::AlreadyRegistered.to_string(), "URL prefix is already registered");
}

#[test]
fn a_port_takes_one_scheme() {
    // (registered, new, expected): either order, every host class, the same host and path too.
    let conflict = Err(RegisterError::SchemeConflict);
    let cases: &[(&[&str], &str, Result<(), RegisterError>)] = &[
        (&["http://+:80/"], "https://+:80/", conflict),
        (&["https://+:80/"], "http://+:80/", conflict),
        (&["http://+:80/a/"], "https://*:80/b/", conflict),
        (&["https://a.com:443/"], "http://b.com:443/x/", conflict),
        (&["http://10.0.0.1:8080/"], "https://10.0.0.2:8080/", conflict),
        (&["https://[::1]:8443/"], "http://[::1]:8443/", conflict),
        (&["http://a.com:80/", "http://*:80/"], "https://+:80/", conflict),
        // The conflict is reported before a duplicate: the scheme is the port's, not the key's.
        (&["https://+:443/v/"], "http://+:443/V/", conflict),
        // Other ports are independent.
        (&["http://+:80/"], "https://+:443/", Ok(())),
        (&["https://+:443/"], "http://+:80/", Ok(())),
        (&["http://+:80/", "https://+:443/"], "https://a.com:443/", Ok(())),
        (&["http://+:80/", "https://+:443/"], "http://a.com:80/", Ok(())),
        // Same scheme: the usual rules.
        (&["https://+:443/"], "https://+:443/", Err(RegisterError::AlreadyRegistered)),
        (&["https://+:443/"], "https://*:443/", Ok(())),
    ];
    for (existing, new, expected) in cases {
        let mut ns = namespace(existing);
        assert_eq!(ns.register(prefix(new), "new"), *expected, "{existing:?} + {new}");
        assert_eq!(ns.len(), existing.len() + usize::from(expected.is_ok()), "{existing:?} + {new}");
        // A refused registration leaves the port's scheme and registrations as they were.
        for &e in *existing {
            assert_eq!(ns.get(&prefix(e)), Some(&e), "{existing:?} + {new}");
            assert_eq!(ns.port_scheme(prefix(e).port()), Some(prefix(e).scheme()), "{existing:?} + {new}");
        }
        if *expected == conflict {
            assert_eq!(ns.get(&prefix(new)), None, "{existing:?} + {new}");
        }
    }
}

#[test]
fn the_other_scheme_is_another_key() {
    let mut ns = namespace(&["https://+:443/a/", "https://a.com:443/"]);
    // Neither looked up nor removed by its `http` twin.
    assert_eq!(ns.get(&prefix("http://+:443/a/")), None);
    assert_eq!(ns.unregister(&prefix("http://+:443/a/")), None);
    assert_eq!(ns.unregister(&prefix("http://a.com:443/")), None);
    assert_eq!(ns.len(), 2);
    assert_eq!(ns.get(&prefix("https://+:443/A")), Some(&"https://+:443/a/"));
}

#[test]
fn unregistering_the_last_prefix_frees_the_port() {
    let mut ns = namespace(&["http://+:8080/", "http://a.com:8080/x/"]);
    assert_eq!(ns.register(prefix("https://+:8080/"), "https://+:8080/"), Err(RegisterError::SchemeConflict));
    assert_eq!(ns.unregister(&prefix("http://+:8080/")), Some("http://+:8080/"));
    // One prefix left: still http.
    assert_eq!(ns.register(prefix("https://+:8080/"), "https://+:8080/"), Err(RegisterError::SchemeConflict));
    assert_eq!(ns.unregister(&prefix("http://a.com:8080/x/")), Some("http://a.com:8080/x/"));
    assert_eq!(ns.port_scheme(8080), None);
    assert!(!ns.is_tls_port(8080));
    // Free: https takes it, and now http is refused.
    assert_eq!(ns.register(prefix("https://+:8080/"), "https://+:8080/"), Ok(()));
    assert_eq!(ns.port_scheme(8080), Some(Scheme::Https));
    assert!(ns.is_tls_port(8080));
    assert_eq!(ns.register(prefix("http://+:8080/"), "http://+:8080/"), Err(RegisterError::SchemeConflict));
    // And back again.
    assert_eq!(ns.unregister(&prefix("https://+:8080/")), Some("https://+:8080/"));
    assert_eq!(ns.register(prefix("http://+:8080/"), "http://+:8080/"), Ok(()));
    assert_eq!(ns.port_scheme(8080), Some(Scheme::Http));
}

#[test]
fn tls_ports() {
    let ns = namespace(&["http://+:80/", "https://+:443/", "https://a.com:8443/", "http://[::1]:8080/"]);
    let cases = [
        (80, Some(Scheme::Http)),
        (443, Some(Scheme::Https)),
        (8443, Some(Scheme::Https)),
        (8080, Some(Scheme::Http)),
        (81, None),
        (1, None),
        (65535, None),
    ];
    for (port, scheme) in cases {
        assert_eq!(ns.port_scheme(port), scheme, "{port}");
        assert_eq!(ns.is_tls_port(port), scheme == Some(Scheme::Https), "{port}");
    }
    // Every registration's scheme is its port's.
    for (p, _) in ns.iter() {
        assert_eq!(ns.port_scheme(p.port()), Some(p.scheme()), "{p}");
    }
    let empty: Namespace<u32> = Namespace::new();
    assert!(!empty.is_tls_port(443));
}

#[test]
fn https_prefixes_route_like_http_ones() {
    let ns =
        namespace(&["https://+:443/vroot/", "https://adatum.com:443/", "https://10.0.0.1:443/x/", "https://*:443/"]);
    let cases = [
        ("adatum.com", "10.0.0.1", "/vroot/a", "https://+:443/vroot/"),
        ("adatum.com", "10.0.0.1", "/x/", "https://adatum.com:443/"),
        ("other.com", "10.0.0.1", "/x/y", "https://10.0.0.1:443/x/"),
        ("other.com", "10.0.0.2", "/x/y", "https://*:443/"),
    ];
    for (host, local, path, expected) in cases {
        assert_eq!(route(&ns, 443, Some(host), ip(local), path), expected, "{host} {local} {path}");
    }
    assert_eq!(route(&ns, 80, Some("adatum.com"), LOCAL, "/"), "NoHost");
}

#[test]
fn scheme_conflict_displays() {
    let shown = RegisterError::SchemeConflict.to_string();
    assert!(shown.contains("http and https cannot share a port"), "{shown}");
}
