//! The URL namespace: registered prefixes and http.sys routing precedence.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::net::IpAddr;

use super::prefix::{Host, UrlPrefix};

/// Why a prefix could not be registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterError {
    /// The same host, port and path (compared case-insensitively) is already registered.
    AlreadyRegistered,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::AlreadyRegistered => f.write_str("URL prefix is already registered"),
        }
    }
}

impl std::error::Error for RegisterError {}

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Route<'a, T> {
    /// The prefix that claims the request, and the value bound to it.
    Matched {
        /// The winning prefix: the longest matching path in the first class that matched.
        prefix: &'a UrlPrefix,
        /// The value registered with it.
        value: &'a T,
    },
    /// No prefix on this port claims the request's host: `400 Invalid Hostname`.
    NoHost,
    /// Some prefix claims the host but none claims the path: `404 Not Found`.
    NoPath,
}

impl<T> Clone for Route<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Route<'_, T> {}

/// The registered URL prefixes, each bound to a value `T` (e.g. a URL group id).
///
/// Prefixes are grouped by port, then by host class; names and IPs are kept sorted for
/// binary search, and each host's prefixes are sorted by path length, longest first,
/// so routing never allocates and stops at the first path match.
#[derive(Clone, Debug)]
pub struct Namespace<T> {
    /// One table per port, sorted by port.
    ports: Vec<PortTable<T>>,
    /// The number of registered prefixes.
    len: usize,
}

/// The prefixes on one port, by host class.
#[derive(Clone, Debug)]
struct PortTable<T> {
    /// The port every prefix here is on.
    port: u16,
    /// `+` prefixes, longest path first.
    strong: Vec<Entry<T>>,
    /// Named hosts, sorted by (lower-case) name; never empty groups.
    names: Vec<Group<Box<str>, T>>,
    /// IP hosts, sorted by canonical address (IPv4-mapped IPv6 as IPv4); never empty groups.
    ips: Vec<Group<IpAddr, T>>,
    /// `*` prefixes, longest path first.
    weak: Vec<Entry<T>>,
}

/// The prefixes of one name or IP, longest path first.
#[derive(Clone, Debug)]
struct Group<K, T> {
    /// The name or IP shared by every entry.
    key: K,
    /// Longest path first, so the first match is the longest.
    entries: Vec<Entry<T>>,
}

/// One registration.
#[derive(Clone, Debug)]
struct Entry<T> {
    /// The registered prefix.
    prefix: UrlPrefix,
    /// The value bound to it.
    value: T,
}

impl<T> Default for Namespace<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Namespace<T> {
    /// An empty namespace.
    pub fn new() -> Self {
        Namespace { ports: Vec::new(), len: 0 }
    }

    /// The number of registered prefixes.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no prefix is registered.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Binds `prefix` to `value`.
    ///
    /// Fails with [`RegisterError::AlreadyRegistered`] when the same host, port and path
    /// are already registered (paths compared ASCII case-insensitively, as they are
    /// matched; IPv4-mapped IPv6 hosts equal to their IPv4 form). Different hosts with the
    /// same port and path coexist (`http://example.com:80/v/` and `http://+:80/v/`).
    ///
    /// # Errors
    /// [`RegisterError::AlreadyRegistered`]; the namespace is then unchanged.
    pub fn register(&mut self, prefix: UrlPrefix, value: T) -> Result<(), RegisterError> {
        let table = self.table_or_insert(prefix.port());
        let entries = match prefix.host() {
            Host::Strong => &mut table.strong,
            Host::Weak => &mut table.weak,
            Host::Name(name) => group_or_insert(&mut table.names, name),
            Host::Ip(ip) => group_or_insert(&mut table.ips, &canonical_ip(*ip)),
        };
        let path = prefix.path();
        if entries.iter().any(|e| same_path(e.prefix.path(), path)) {
            return Err(RegisterError::AlreadyRegistered);
        }
        let at = entries.iter().position(|e| e.prefix.path().len() < path.len()).unwrap_or(entries.len());
        entries.insert(at, Entry { prefix, value });
        self.len += 1;
        Ok(())
    }

    /// Removes the registration of `prefix` (same host, port and path as in
    /// [`register`](Self::register)) and returns its value.
    pub fn unregister(&mut self, prefix: &UrlPrefix) -> Option<T> {
        let index = self.port_index(prefix.port())?;
        let table = self.ports.get_mut(index)?;
        let value = table.remove(prefix)?;
        if table.is_empty() {
            self.ports.remove(index);
        }
        self.len -= 1;
        Some(value)
    }

    /// The value bound to `prefix` (same host, port and path as in [`register`](Self::register)).
    #[cfg(test)]
    pub fn get(&self, prefix: &UrlPrefix) -> Option<&T> {
        let table = self.ports.get(self.port_index(prefix.port())?)?;
        let entries = match prefix.host() {
            Host::Strong => &table.strong,
            Host::Weak => &table.weak,
            Host::Name(name) => find_group(&table.names, &**name)?,
            Host::Ip(ip) => find_group(&table.ips, &canonical_ip(*ip))?,
        };
        entries.iter().find(|e| same_path(e.prefix.path(), prefix.path())).map(|e| &e.value)
    }

    /// Every registration: by port, then host class in precedence order (names and IPs
    /// sorted), then longest path first.
    ///
    /// The listeners to open are the distinct `(host, port)` pairs of this.
    pub fn iter(&self) -> impl Iterator<Item = (&UrlPrefix, &T)> {
        self.ports
            .iter()
            .flat_map(|t| {
                t.strong
                    .iter()
                    .chain(t.names.iter().flat_map(|g| g.entries.iter()))
                    .chain(t.ips.iter().flat_map(|g| g.entries.iter()))
                    .chain(t.weak.iter())
            })
            .map(|e| (&e.prefix, &e.value))
    }

    /// The distinct ports with at least one registration, ascending.
    #[cfg(test)]
    pub fn ports(&self) -> impl Iterator<Item = u16> {
        self.ports.iter().map(|t| t.port)
    }

    /// Routes a request with http.sys precedence.
    ///
    /// - `port`: the local port the connection arrived on;
    /// - `host_header`: the `Host` header value (`name`, `name:port`, `[v6]:port`), if any;
    ///   only its host part is used, case-insensitively, and one trailing `.` is ignored;
    /// - `local_ip`: the local address the connection arrived on (IPv4-mapped IPv6
    ///   addresses are treated as IPv4);
    /// - `path`: the normalised request path.
    ///
    /// Among the prefixes on `port`, the classes are tried in order: `+`, the name equal to
    /// the `Host` header's host, the IP equal to `local_ip`, `*`. The first class with a
    /// prefix whose path matches wins, with its longest matching path; a class whose host
    /// matches but whose paths do not falls through to the next. Paths match on whole
    /// segments, ASCII case-insensitively, and `/dir` matches the prefix `/dir/`.
    ///
    /// [`Route::NoHost`] when no class has a prefix for the host (`+` and `*` match any
    /// host), [`Route::NoPath`] when one did but no path matched.
    pub fn route<'a>(&'a self, port: u16, host_header: Option<&[u8]>, local_ip: &IpAddr, path: &str) -> Route<'a, T> {
        let Some(table) = self.port_index(port).and_then(|i| self.ports.get(i)) else {
            return Route::NoHost;
        };
        let mut host_matched = false;
        let mut try_class = |entries: &'a [Entry<T>]| {
            host_matched |= !entries.is_empty();
            entries
                .iter()
                .find(|e| path_matches(e.prefix.path(), path))
                .map(|e| Route::Matched { prefix: &e.prefix, value: &e.value })
        };
        if let Some(route) = try_class(&table.strong) {
            return route;
        }
        // No names on this port (the common case of `+`, `*` or IP prefixes): no header scan.
        let named = if table.names.is_empty() {
            None
        } else {
            host_header.and_then(header_host).and_then(|host| table.find_name(host))
        };
        if let Some(route) = named.and_then(&mut try_class) {
            return route;
        }
        // (By reference: an `IpAddr` is byte-aligned, and copying one took a move per byte.)
        let ip = match ipv4_mapped(local_ip) {
            Some(v4) => find_group(&table.ips, &v4),
            None => find_group(&table.ips, local_ip),
        };
        if let Some(route) = ip.and_then(&mut try_class) {
            return route;
        }
        if let Some(route) = try_class(&table.weak) {
            return route;
        }
        if host_matched { Route::NoPath } else { Route::NoHost }
    }

    /// The table for `port`, inserting an empty one if there is none.
    ///
    /// An empty table inserted for a registration that then fails cannot happen: a new
    /// port has no registration to conflict with.
    fn table_or_insert(&mut self, port: u16) -> &mut PortTable<T> {
        let index = match self.ports.binary_search_by_key(&port, |t| t.port) {
            Ok(index) => index,
            Err(index) => {
                self.ports.insert(index, PortTable::new(port));
                index
            }
        };
        // `index` is in bounds: found, or just inserted there.
        &mut self.ports[index]
    }

    /// The index of the table for `port`.
    fn port_index(&self, port: u16) -> Option<usize> {
        self.ports.binary_search_by_key(&port, |t| t.port).ok()
    }
}

impl<T> PortTable<T> {
    /// An empty table for `port`.
    fn new(port: u16) -> Self {
        PortTable { port, strong: Vec::new(), names: Vec::new(), ips: Vec::new(), weak: Vec::new() }
    }

    /// Whether the table holds no prefix (and so should be dropped).
    fn is_empty(&self) -> bool {
        self.strong.is_empty() && self.names.is_empty() && self.ips.is_empty() && self.weak.is_empty()
    }

    /// The prefixes of the name `host` (as written in a `Host` header: any case).
    fn find_name(&self, host: &[u8]) -> Option<&[Entry<T>]> {
        let index = self.names.binary_search_by(|g| cmp_lower(g.key.as_bytes(), host)).ok()?;
        self.names.get(index).map(|g| g.entries.as_slice())
    }

    /// Removes `prefix`, dropping its group if it empties; returns its value.
    fn remove(&mut self, prefix: &UrlPrefix) -> Option<T> {
        let path = prefix.path();
        match prefix.host() {
            Host::Strong => remove_path(&mut self.strong, path),
            Host::Weak => remove_path(&mut self.weak, path),
            Host::Name(name) => remove_from_group(&mut self.names, &**name, path),
            Host::Ip(ip) => remove_from_group(&mut self.ips, &canonical_ip(*ip), path),
        }
    }
}

/// The entries of the group keyed `key`, if any.
fn find_group<'a, K, Q, T>(groups: &'a [Group<K, T>], key: &Q) -> Option<&'a [Entry<T>]>
where
    K: Borrow<Q>,
    Q: Ord + ?Sized,
{
    let index = groups.binary_search_by(|g| g.key.borrow().cmp(key)).ok()?;
    groups.get(index).map(|g| g.entries.as_slice())
}

/// The entries of the group keyed `key`, inserting an empty group if there is none.
fn group_or_insert<'a, K, T>(groups: &'a mut Vec<Group<K, T>>, key: &K) -> &'a mut Vec<Entry<T>>
where
    K: Ord + Clone,
{
    let index = match groups.binary_search_by(|g| g.key.cmp(key)) {
        Ok(index) => index,
        Err(index) => {
            groups.insert(index, Group { key: key.clone(), entries: Vec::new() });
            index
        }
    };
    // `index` is in bounds: found, or just inserted there.
    &mut groups[index].entries
}

/// Removes `path` from the group keyed `key`, dropping the group if it empties.
fn remove_from_group<K, Q, T>(groups: &mut Vec<Group<K, T>>, key: &Q, path: &str) -> Option<T>
where
    K: Borrow<Q>,
    Q: Ord + ?Sized,
{
    let index = groups.binary_search_by(|g| g.key.borrow().cmp(key)).ok()?;
    let group = groups.get_mut(index)?;
    let value = remove_path(&mut group.entries, path)?;
    if group.entries.is_empty() {
        groups.remove(index);
    }
    Some(value)
}

/// Removes the entry with `path`, keeping the order of the rest.
fn remove_path<T>(entries: &mut Vec<Entry<T>>, path: &str) -> Option<T> {
    let index = entries.iter().position(|e| same_path(e.prefix.path(), path))?;
    Some(entries.remove(index).value)
}

/// Whether two prefix paths are the same registration.
fn same_path(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Whether the request `path` falls under the prefix path `prefix` (which ends in `/`):
/// whole segments, ASCII case-insensitively; `/dir` matches `/dir/`.
fn path_matches(prefix: &str, path: &str) -> bool {
    let (prefix, path) = (prefix.as_bytes(), path.as_bytes());
    match path.get(..prefix.len()) {
        Some(head) => head.eq_ignore_ascii_case(prefix),
        None => prefix.strip_suffix(b"/").is_some_and(|dir| dir.eq_ignore_ascii_case(path)),
    }
}

/// The host part of a `Host` header value, for matching names: `None` when absent,
/// empty or an IPv6 literal (which no name can equal). One trailing `.` is dropped.
fn header_host(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    if value.first() == Some(&b'[') {
        return None;
    }
    let end = value.iter().position(|&b| b == b':').unwrap_or(value.len());
    let host = value.get(..end)?;
    let host = host.strip_suffix(b".").unwrap_or(host);
    (!host.is_empty()).then_some(host)
}

/// Compares a lower-case `key` with `other` folded to lower case, byte by byte.
fn cmp_lower(key: &[u8], other: &[u8]) -> Ordering {
    key.iter().copied().cmp(other.iter().map(u8::to_ascii_lowercase))
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) as their IPv4 address.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    ipv4_mapped(&ip).unwrap_or(ip)
}

/// The IPv4 address an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) stands for; `None` for any
/// other address (its own canonical form).
fn ipv4_mapped(ip: &IpAddr) -> Option<IpAddr> {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
        IpAddr::V4(_) => None,
    }
}

#[cfg(test)]
mod tests {
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
            (
                &["http://a.com:80/n/", "http://10.0.0.1:80/"],
                80,
                Some("a.com"),
                "10.0.0.1",
                "/x",
                "http://10.0.0.1:80/",
            ),
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
            (
                &["http://+:80/", "http://+:80/a/", "http://+:80/a/b/"],
                80,
                None,
                "10.0.0.1",
                "/a/b/c",
                "http://+:80/a/b/",
            ),
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
            (
                &["http://example.com:80/v/", "http://+:80/v/"],
                80,
                Some("example.com"),
                "10.0.0.1",
                "/v/",
                "http://+:80/v/",
            ),
            (
                &["http://example.com:80/v/", "http://*:80/v/"],
                80,
                Some("example.com"),
                "10.0.0.1",
                "/v/",
                "http://example.com:80/v/",
            ),
            (
                &["http://example.com:80/v/", "http://*:80/v/"],
                80,
                Some("other.com"),
                "10.0.0.1",
                "/v/",
                "http://*:80/v/",
            ),
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
            (
                &["http://10.0.0.1:80/", "http://10.0.0.2:80/", "http://[::1]:80/"],
                80,
                None,
                "::1",
                "/",
                "http://[::1]:80/",
            ),
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
            assert_eq!(
                route(&ns, *port, *host, ip(local), path),
                *expected,
                "{prefixes:?} {port} {host:?} {local} {path}"
            );
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
}
