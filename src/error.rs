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
    /// An address given to [`ServerBuilder::bind`](crate::ServerBuilder::bind) did not resolve
    /// to a socket address (the resolver's `io::Error` is the source).
    Resolve,
    /// The server could not set itself up (threads, event queues).
    Setup,
    /// An I/O thread ended without being asked to: its event queue failed, or it unwound (a
    /// defect in hsys: application code it calls is contained); see [`Server::run`](crate::Server::run)
    /// and [`Server::wait`](crate::Server::wait).
    IoThread,
    /// A URL prefix is not valid.
    InvalidUrl,
    /// The URL prefix is already registered (in the same host class).
    AlreadyRegistered,
    /// The URL prefix's port has prefixes of the other scheme: a port speaks either `http`
    /// (cleartext) or `https` (TLS), so `https://+:8080/` is refused while `http://…:8080/`
    /// prefixes are registered, and the reverse. Removing the port's last prefix frees it.
    SchemeConflict,
    /// No such URL group.
    UnknownGroup,
    /// The prefix's port is not one the running server listens on, and the server was bound
    /// explicitly ([`ServerBuilder::bind`](crate::ServerBuilder::bind)), so it does not follow
    /// its prefixes to new ports.
    PortNotListening,
    /// A TLS certificate, private key or client-certificate authority could not be loaded: a
    /// file unreadable, bad PEM, no certificate, or a key that does not match the certificate.
    /// The message names the file when it came from one.
    Certificate,
}

/// An error from building or running a server: a kind to react to, the address or URL concerned,
/// and the underlying error as [`source`](std::error::Error::source).
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    addr: Option<SocketAddr>,
    /// The URL prefix concerned, as the caller gave it.
    url: Option<Box<str>>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    fn new(kind: ErrorKind) -> Self {
        Error { kind, addr: None, url: None, source: None }
    }

    pub(crate) fn listen(addr: SocketAddr, source: io::Error) -> Self {
        let kind = if source.kind() == io::ErrorKind::AddrInUse { ErrorKind::AddrInUse } else { ErrorKind::Listen };
        Error { addr: Some(addr), source: Some(source.into()), ..Error::new(kind) }
    }

    pub(crate) fn resolve(source: io::Error) -> Self {
        Error { source: Some(source.into()), ..Error::new(ErrorKind::Resolve) }
    }

    pub(crate) fn io_thread(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error { source: Some(source.into()), ..Error::new(ErrorKind::IoThread) }
    }

    pub(crate) fn setup(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error { source: Some(source.into()), ..Error::new(ErrorKind::Setup) }
    }

    /// `url` is not a valid prefix; `source` says why.
    pub(crate) fn invalid_url(url: &str, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error { url: Some(url.into()), source: Some(Box::new(source)), ..Error::new(ErrorKind::InvalidUrl) }
    }

    pub(crate) fn already(url: &str) -> Self {
        Error { url: Some(url.into()), ..Error::new(ErrorKind::AlreadyRegistered) }
    }

    /// `url`'s port has prefixes of the other scheme.
    pub(crate) fn scheme_conflict(url: &str) -> Self {
        Error { url: Some(url.into()), ..Error::new(ErrorKind::SchemeConflict) }
    }

    pub(crate) fn unknown_group() -> Self {
        Error::new(ErrorKind::UnknownGroup)
    }

    /// A certificate or key failed to load; `source` says which file and why.
    pub(crate) fn certificate(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error { source: Some(source.into()), ..Error::new(ErrorKind::Certificate) }
    }

    pub(crate) fn not_listening(url: &str) -> Self {
        Error { url: Some(url.into()), ..Error::new(ErrorKind::PortNotListening) }
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The address concerned, if any.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// The URL prefix concerned, if any.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.url.as_deref().unwrap_or_default();
        match (self.kind, self.addr, &self.source) {
            (ErrorKind::AddrInUse, Some(a), _) => write!(f, "cannot listen on {a}: address already in use"),
            (_, Some(a), Some(e)) => write!(f, "cannot listen on {a}: {e}"),
            (ErrorKind::Setup, _, Some(e)) => write!(f, "cannot start the server: {e}"),
            (ErrorKind::IoThread, _, Some(e)) => write!(f, "the server stopped: {e}"),
            (ErrorKind::Resolve, _, Some(e)) => write!(f, "cannot resolve the address to listen on: {e}"),
            (ErrorKind::InvalidUrl, _, Some(e)) => write!(f, "invalid URL {url:?}: {e}"),
            (ErrorKind::AlreadyRegistered, ..) => write!(f, "{url} is already registered"),
            (ErrorKind::SchemeConflict, ..) => {
                write!(f, "{url}: its port has prefixes of the other scheme (http and https cannot share a port)")
            }
            (ErrorKind::UnknownGroup, ..) => f.write_str("no such URL group"),
            (ErrorKind::PortNotListening, ..) => write!(f, "{url}: the server does not listen on that port"),
            (ErrorKind::Certificate, _, Some(e)) => write!(f, "TLS certificate: {e}"),
            (kind, _, Some(e)) => write!(f, "{kind:?}: {e}"),
            (kind, ..) => write!(f, "{kind:?}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}
