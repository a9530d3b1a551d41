//! Certificate bindings: which certificate (and rustls config) serves a connection, by the local
//! address it arrived on and the server name (SNI) it asks for.
//!
//! The server changes bindings while serving ([`Bindings::set`], [`Bindings::remove`]); each
//! change publishes a new immutable [`BindingTable`] and moves a generation counter. An I/O
//! thread compares the counter at each accept (one atomic load), takes a new snapshot only when
//! it moved, and resolves each handshake against its snapshot: a change affects new handshakes
//! only, and the hot path takes no lock.
//!
//! Resolution, as http.sys: `Host(name, port)` (exact, case-insensitive, trailing dot ignored) →
//! `Addr(ip:port)` → `Port(port)` → none (the handshake fails; the caller counts it).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rustls::ServerConfig;

use super::config::{CertBinding, Resumption, server_config};

/// Where a binding applies.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BindingKey {
    /// Every address of the port (http.sys's `0.0.0.0:port`).
    Port(u16),
    /// One local IP address and port. An unspecified IP (`0.0.0.0`, `::`) means
    /// [`Port`](BindingKey::Port); an IPv4-mapped IPv6 address means its IPv4 address.
    Addr(SocketAddr),
    /// A server name (SNI) on a port, whatever the address: case-insensitive, a trailing dot
    /// ignored. No wildcards: `*.example.com` matches only that literal name.
    Host(String, u16),
}

/// A [`BindingKey`] in canonical form: what the table is keyed by.
enum Canonical {
    /// Every address of a port.
    Port(u16),
    /// One address (canonical: IPv4-mapped IPv6 as IPv4) on a port.
    Addr(IpAddr, u16),
    /// A lowercase name without a trailing dot, on a port.
    Host(Box<str>, u16),
}

impl BindingKey {
    /// The canonical form.
    fn canonical(&self) -> Canonical {
        match self {
            BindingKey::Port(port) => Canonical::Port(*port),
            BindingKey::Addr(addr) if addr.ip().is_unspecified() => Canonical::Port(addr.port()),
            BindingKey::Addr(addr) => Canonical::Addr(addr.ip().to_canonical(), addr.port()),
            BindingKey::Host(name, port) => {
                Canonical::Host(trim_dot(name).to_ascii_lowercase().into_boxed_str(), *port)
            }
        }
    }
}

/// `name` without one trailing dot (`example.com.` is `example.com`).
fn trim_dot(name: &str) -> &str {
    name.strip_suffix('.').unwrap_or(name)
}

/// The live bindings: shared by the server (writers) and its I/O threads (readers).
#[derive(Debug)]
pub(crate) struct Bindings {
    /// Moves (after the new table is published) on every change.
    generation: AtomicU64,
    /// The current table. Writers replace it whole; readers clone the `Arc` (only when the
    /// generation moved), so the lock is held for a pointer copy.
    table: Mutex<Arc<BindingTable>>,
    /// Resumption state shared by every binding without client certificates: made with the first
    /// binding (its ticket key seeds aws-lc's random source, 20 to 30 ms of CPU that a server
    /// without TLS never spends).
    shared: OnceLock<Resumption>,
    /// ALPN offers `h2` first (the server speaks HTTP/2).
    http2: bool,
}

impl Bindings {
    /// No bindings.
    pub(crate) fn new() -> Self {
        Bindings {
            generation: AtomicU64::new(0),
            table: Mutex::new(Arc::new(BindingTable::default())),
            shared: OnceLock::new(),
            http2: false,
        }
    }

    /// Whether ALPN offers `h2` (before `http/1.1`).
    pub(crate) fn with_http2(mut self, http2: bool) -> Self {
        self.http2 = http2;
        self
    }

    /// Binds `key` to `binding`, replacing any binding of the same key. The rustls config is
    /// built here, not per connection. A binding without client certificates keeps the server's
    /// shared resumption state (sessions survive a replacement); one with client certificates
    /// gets fresh state at each set (sessions verified under the old CA do not resume).
    pub(crate) fn set(&self, key: BindingKey, binding: CertBinding) {
        let config = server_config(&binding, self.shared.get_or_init(Resumption::new), self.http2);
        self.change(|table| {
            table.insert(key.canonical(), config);
            true
        });
    }

    /// Removes the binding of `key`; `false` if there was none.
    pub(crate) fn remove(&self, key: &BindingKey) -> bool {
        self.change(|table| table.remove(&key.canonical()))
    }

    /// The generation: an atomic load, moved by every change. I/O threads compare it at each
    /// accept and take a new [`snapshot`](Self::snapshot) only when it moved.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The current table and its generation.
    pub(crate) fn snapshot(&self) -> (u64, Arc<BindingTable>) {
        let table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        (self.generation.load(Ordering::Acquire), table.clone())
    }

    /// Applies `edit` to a copy of the table (or the table itself if no snapshot holds it) and
    /// publishes it, moving the generation, if `edit` changed something.
    fn change(&self, edit: impl FnOnce(&mut BindingTable) -> bool) -> bool {
        // A panic while holding the lock cannot leave the table half-edited (it is replaced
        // whole), so a poisoned lock is safe to take over.
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let changed = edit(Arc::make_mut(&mut table));
        if changed {
            self.generation.fetch_add(1, Ordering::Release);
        }
        changed
    }
}

/// An immutable set of bindings: what one I/O thread resolves handshakes against.
#[derive(Clone, Debug, Default)]
pub(crate) struct BindingTable {
    /// The bindings of each port that has any.
    ports: HashMap<u16, PortBindings>,
}

/// The bindings of one port.
#[derive(Clone, Debug, Default)]
struct PortBindings {
    /// By server name (lowercase, no trailing dot).
    hosts: HashMap<Box<str>, Arc<ServerConfig>>,
    /// By local address (canonical).
    addrs: HashMap<IpAddr, Arc<ServerConfig>>,
    /// Every address.
    any: Option<Arc<ServerConfig>>,
}

impl PortBindings {
    /// Whether nothing is bound.
    fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.addrs.is_empty() && self.any.is_none()
    }
}

/// The longest server name matched without allocating: a DNS name has at most 253 characters.
const MAX_NAME: usize = 253;

impl BindingTable {
    /// The config for a connection that arrived on `local` with SNI `server_name`:
    /// `Host(name, local.port())` exact (case-insensitive, trailing dot ignored) →
    /// `Addr(local)` → `Port(local.port())` → `None`.
    pub(crate) fn resolve(&self, local: SocketAddr, server_name: Option<&str>) -> Option<&Arc<ServerConfig>> {
        let port = self.ports.get(&local.port())?;
        if let Some(name) = server_name
            && !port.hosts.is_empty()
        {
            let name = trim_dot(name);
            // rustls hands the name over lowercased already; lowercase anyway (this is a
            // sans-I/O table), on the stack.
            let mut buf = [0u8; MAX_NAME];
            let lower = match buf.get_mut(..name.len()) {
                Some(buf) if name.bytes().any(|b| b.is_ascii_uppercase()) => {
                    buf.copy_from_slice(name.as_bytes());
                    buf.make_ascii_lowercase();
                    // Lowercasing ASCII letters keeps UTF-8 valid.
                    std::str::from_utf8(buf).ok()
                }
                // Lowercase already (as from rustls), or too long to be a bound DNS name.
                _ => Some(name),
            };
            if let Some(config) = lower.and_then(|name| port.hosts.get(name)) {
                return Some(config);
            }
        }
        port.addrs.get(&local.ip().to_canonical()).or(port.any.as_ref())
    }

    #[cfg(test)]
    /// Whether any binding is on `port`.
    pub(crate) fn covers_port(&self, port: u16) -> bool {
        self.ports.contains_key(&port)
    }

    /// Binds `key`, replacing any config it had.
    fn insert(&mut self, key: Canonical, config: Arc<ServerConfig>) {
        match key {
            Canonical::Port(port) => self.ports.entry(port).or_default().any = Some(config),
            Canonical::Addr(ip, port) => {
                self.ports.entry(port).or_default().addrs.insert(ip, config);
            }
            Canonical::Host(name, port) => {
                self.ports.entry(port).or_default().hosts.insert(name, config);
            }
        }
    }

    /// Unbinds `key`; `false` if it was not bound.
    fn remove(&mut self, key: &Canonical) -> bool {
        let port = match key {
            Canonical::Port(port) | Canonical::Addr(_, port) | Canonical::Host(_, port) => *port,
        };
        let Some(bindings) = self.ports.get_mut(&port) else {
            return false;
        };
        let removed = match key {
            Canonical::Port(_) => bindings.any.take().is_some(),
            Canonical::Addr(ip, _) => bindings.addrs.remove(ip).is_some(),
            Canonical::Host(name, _) => bindings.hosts.remove(name).is_some(),
        };
        if bindings.is_empty() {
            self.ports.remove(&port);
        }
        removed
    }
}

#[cfg(test)]
#[path = "bindings_tests.rs"]
mod tests;
