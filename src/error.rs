//! The public error type.

use std::fmt;
use std::io;
use std::net::SocketAddr;

/// What went wrong, for callers that react differently (a port in use vs. a bad setting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Another socket holds the address.
    AddrInUse,
    /// Binding or listening failed for another reason.
    Listen,
    /// The server could not set itself up (threads, event queues).
    Setup,
    /// A URL prefix is not valid.
    InvalidUrl,
    /// The URL prefix is already registered (in the same host class).
    AlreadyRegistered,
    /// No such URL group.
    UnknownGroup,
    /// The prefix's port is not one the running server listens on, and the server was bound
    /// explicitly ([`ServerBuilder::bind`](crate::ServerBuilder::bind)), so it does not follow
    /// its prefixes to new ports.
    PortNotListening,
}

/// An error from building or running a server.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    addr: Option<SocketAddr>,
    source: io::Error,
}

fn other(msg: String) -> io::Error {
    io::Error::other(msg)
}

impl Error {
    pub(crate) fn listen(addr: SocketAddr, source: io::Error) -> Self {
        let kind = if source.kind() == io::ErrorKind::AddrInUse { ErrorKind::AddrInUse } else { ErrorKind::Listen };
        Error { kind, addr: Some(addr), source }
    }

    pub(crate) fn setup(source: io::Error) -> Self {
        Error { kind: ErrorKind::Setup, addr: None, source }
    }

    pub(crate) fn url(url: &str, e: crate::url::PrefixError) -> Self {
        Error { kind: ErrorKind::InvalidUrl, addr: None, source: other(format!("invalid URL {url:?}: {e}")) }
    }

    pub(crate) fn already(url: &str) -> Self {
        Error { kind: ErrorKind::AlreadyRegistered, addr: None, source: other(format!("{url} is already registered")) }
    }

    pub(crate) fn unknown_group() -> Self {
        Error { kind: ErrorKind::UnknownGroup, addr: None, source: other("no such URL group".into()) }
    }

    pub(crate) fn not_listening(url: &str) -> Self {
        Error {
            kind: ErrorKind::PortNotListening,
            addr: None,
            source: other(format!("{url}: the server does not listen on that port")),
        }
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The address concerned, if any.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, self.addr) {
            (ErrorKind::AddrInUse, Some(a)) => write!(f, "cannot listen on {a}: address already in use"),
            (_, Some(a)) => write!(f, "cannot listen on {a}: {}", self.source),
            (ErrorKind::Setup, None) => write!(f, "cannot start the server: {}", self.source),
            (_, None) => write!(f, "{}", self.source),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
