//! URL prefixes (`http://host:port/path/`, `https://…`): parsing, validation and canonical display.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::path::{PathError, normalize_path};

/// The scheme of a URL prefix: whether its port speaks cleartext HTTP or HTTP over TLS.
///
/// A port is one or the other: every prefix on a port has the same scheme (registering the
/// other one there is refused while the port has prefixes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `http`: cleartext.
    Http,
    /// `https`: TLS, with the certificate bound to the port.
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`, as written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

impl fmt::Display for Scheme {
    /// `http` or `https`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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

/// A registered URL prefix: `http://host:port/path/` or `https://host:port/path/`.
///
/// Parsing rules:
/// - the scheme is `http` or `https` ([`Scheme`]), lower case only; every host class works
///   with either, and whether a port may take it is the namespace's rule (one scheme per port);
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
    /// Whether the prefix's port speaks TLS; part of the canonical form.
    scheme: Scheme,
    /// Which requests the prefix claims by host, and with what precedence.
    host: Host,
    /// The local TCP port; routing only considers prefixes on the connection's port.
    port: u16,
    /// Starts and ends with `/`, normalised, so that matching is a plain prefix comparison.
    path: std::sync::Arc<str>,
}

/// Why a URL prefix was refused: one variant per kind of mistake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrefixError {
    /// No `scheme://` at the start.
    MissingScheme,
    /// A scheme other than `http` or `https` (the scheme is lower case only).
    UnsupportedScheme,
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
            PrefixError::UnsupportedScheme => f.write_str("URL prefix scheme is not 'http' or 'https'"),
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
        let scheme = match scheme {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return Err(PrefixError::UnsupportedScheme),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at_checked(end).unwrap_or((rest, ""));
        let (host, port) = parse_authority(authority)?;
        if path.contains(['?', '#']) {
            return Err(PrefixError::QueryOrFragment);
        }
        let path = if path.is_empty() {
            std::sync::Arc::from("/")
        } else {
            let mut path = normalize_path(path).map_err(PrefixError::Path)?.into_owned();
            if !path.ends_with('/') {
                path.push('/');
            }
            std::sync::Arc::from(path)
        };
        Ok(UrlPrefix { scheme, host, port, path })
    }

    /// The scheme: whether the prefix's port speaks TLS.
    pub fn scheme(&self) -> Scheme {
        self.scheme
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

    /// The path, shared: a tower service's `RequestInfo` gets it without a copy per request.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    pub(crate) fn shared_path(&self) -> &std::sync::Arc<str> {
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
    /// The canonical form, e.g. `http://+:8080/api/`, `https://[::1]:443/`; it parses
    /// back to an equal prefix (the scheme kept).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}{}", self.scheme, self.host, self.port, self.path)
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
#[path = "prefix_tests.rs"]
mod tests;
