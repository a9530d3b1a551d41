//! The URL namespace: registered prefixes, one scheme per port, and http.sys routing precedence.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::net::IpAddr;

use super::prefix::{Host, Scheme, UrlPrefix};

/// Why a prefix could not be registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterError {
    /// The same host, port and path (compared case-insensitively) is already registered.
    AlreadyRegistered,
    /// The port has prefixes of the other scheme: a port speaks either cleartext HTTP or TLS.
    SchemeConflict,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::AlreadyRegistered => f.write_str("URL prefix is already registered"),
            RegisterError::SchemeConflict => {
                f.write_str("URL prefix's port has prefixes of the other scheme (http and https cannot share a port)")
            }
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
/// Each port has one scheme, that of its prefixes: `https` ports speak TLS, `http` ports
/// cleartext. A port is free for either scheme again once its last prefix is removed.
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
    /// The scheme every prefix here has: whether the port speaks TLS.
    scheme: Scheme,
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
    /// Fails with [`RegisterError::SchemeConflict`] when the port has prefixes of the other
    /// scheme (`https://+:80/` where `http://a.com:80/` is registered; the same host and path
    /// with the other scheme included), and with [`RegisterError::AlreadyRegistered`] when
    /// the same host, port and path are already registered (paths compared ASCII
    /// case-insensitively, as they are matched; IPv4-mapped IPv6 hosts equal to their IPv4
    /// form). Different hosts with the same port and path coexist (`http://example.com:80/v/`
    /// and `http://+:80/v/`).
    ///
    /// # Errors
    /// [`RegisterError::SchemeConflict`] or [`RegisterError::AlreadyRegistered`]; the
    /// namespace is then unchanged.
    pub fn register(&mut self, prefix: UrlPrefix, value: T) -> Result<(), RegisterError> {
        if self.port_scheme(prefix.port()).is_some_and(|scheme| scheme != prefix.scheme()) {
            return Err(RegisterError::SchemeConflict);
        }
        let table = self.table_or_insert(prefix.port(), prefix.scheme());
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

    /// Removes the registration of `prefix` (same scheme, host, port and path as in
    /// [`register`](Self::register)) and returns its value. Removing a port's last prefix
    /// frees the port for the other scheme.
    pub fn unregister(&mut self, prefix: &UrlPrefix) -> Option<T> {
        let index = self.port_index(prefix.port())?;
        let table = self.ports.get_mut(index).filter(|t| t.scheme == prefix.scheme())?;
        let value = table.remove(prefix)?;
        if table.is_empty() {
            self.ports.remove(index);
        }
        self.len -= 1;
        Some(value)
    }

    /// The value bound to `prefix` (same scheme, host, port and path as in
    /// [`register`](Self::register)).
    #[cfg(test)]
    pub fn get(&self, prefix: &UrlPrefix) -> Option<&T> {
        let table = self.ports.get(self.port_index(prefix.port())?).filter(|t| t.scheme == prefix.scheme())?;
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
    /// The listeners to open are the distinct `(host, port)` pairs of this, each speaking its
    /// prefix's [`scheme`](UrlPrefix::scheme) (the same for every prefix on a port; see
    /// [`port_scheme`](Self::port_scheme)).
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

    /// The scheme of the prefixes on `port`; `None` when it has none (either may be registered).
    pub fn port_scheme(&self, port: u16) -> Option<Scheme> {
        self.port_index(port).and_then(|i| self.ports.get(i)).map(|t| t.scheme)
    }

    /// Whether a connection on local port `port` speaks TLS: the port has `https` prefixes.
    /// A port with no prefix is not (its requests are refused as `NoHost` either way).
    pub(crate) fn is_tls_port(&self, port: u16) -> bool {
        self.port_scheme(port) == Some(Scheme::Https)
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

    /// The table for `port`, inserting an empty one for `scheme` if there is none (the
    /// caller has checked that an existing one has `scheme`).
    ///
    /// An empty table inserted for a registration that then fails cannot happen: a new
    /// port has no registration to conflict with.
    fn table_or_insert(&mut self, port: u16, scheme: Scheme) -> &mut PortTable<T> {
        let index = match self.ports.binary_search_by_key(&port, |t| t.port) {
            Ok(index) => index,
            Err(index) => {
                self.ports.insert(index, PortTable::new(port, scheme));
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
    /// An empty table for `port`, speaking `scheme`.
    fn new(port: u16, scheme: Scheme) -> Self {
        PortTable { port, scheme, strong: Vec::new(), names: Vec::new(), ips: Vec::new(), weak: Vec::new() }
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
#[path = "namespace_tests.rs"]
mod tests;
