//! What a certificate binding serves, and the rustls `ServerConfig` built from it once, at `set`.
//!
//! The loaded types ([`TlsCertificate`], [`ClientCa`]) check everything they can when loaded, so
//! a binding's config is built without a failure path: a bad file is an [`Error`] of kind
//! [`Certificate`](crate::ErrorKind::Certificate) from the loader, never a handshake that fails later.
//!
//! Every binding's config has the same protocol settings ([`server_config`]): the aws-lc-rs
//! provider, cipher suites and key-exchange groups in the order measured cheapest here, TLS 1.2
//! and 1.3 only, no 0-RTT, ALPN `http/1.1`, and session resumption (stateless tickets plus a
//! bounded session-ID cache; see [`Resumption`] for who shares it).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::crypto::aws_lc_rs::{self, cipher_suite as suite, kx_group};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ProducesTickets, ServerSessionMemoryCache, StoresServerSessions, WebPkiClientVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};

use crate::error::Error;

/// The ALPN protocols offered, in preference order: `h2` first when the server speaks HTTP/2.
const ALPN: &[&[u8]] = &[b"http/1.1"];
const ALPN_H2: &[&[u8]] = &[b"h2", b"http/1.1"];

/// The protocol versions: TLS 1.3 and 1.2; nothing older.
const VERSIONS: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Entries in a session-ID cache. The cache only serves TLS 1.2 clients that do not take session
/// tickets (TLS 1.3 and ticket-capable TLS 1.2 clients resume from the stateless ticketer, which
/// stores nothing), so it need not hold a session per live client: 1024 entries of a few hundred
/// bytes (a 32-byte ID, the master secret, SNI, ALPN; more with a client-certificate chain) bound
/// it to well under a megabyte, and rustls evicts the oldest when full.
const SESSION_CACHE_ENTRIES: usize = 1024;

/// TLS 1.3 tickets sent after each handshake. One, not rustls's default two: each costs the
/// server a ticket encryption and about 200 bytes on the wire per handshake, and one suffices —
/// every connection, resumed ones included, brings its own fresh ticket home, so a client that
/// reconnects always holds an unused one, and a client opening parallel connections gets one per
/// connection. (A client may ask for more with the `ticket_request` extension, up to rustls's
/// `max_tls13_tickets`.)
const TLS13_TICKETS: usize = 1;

/// The crypto provider all configs share: aws-lc-rs with the suites and groups reordered.
///
/// Cipher suites: AES-128-GCM first (cheaper than AES-256-GCM here, and as safe for this use),
/// then AES-256-GCM, then ChaCha20-Poly1305 (for clients without AES instructions, which put it
/// first: the server's order wins only among suites the client offers), TLS 1.3 before the
/// TLS 1.2 ECDHE AEAD suites; nothing else. Groups: X25519, P-256, P-384 and the X25519MLKEM768
/// hybrid. Their order is our preference but decides nothing: rustls (0.23.48) takes the first
/// group in the *client's* list that we support, `ignore_client_order` notwithstanding, so a
/// client that lists the hybrid first (rustls's, current browsers') gets it; dropping it from
/// this list is the only way to steer those clients to X25519 (they send an X25519 share too,
/// so without a retry).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            Arc::new(CryptoProvider {
                cipher_suites: vec![
                    suite::TLS13_AES_128_GCM_SHA256,
                    suite::TLS13_AES_256_GCM_SHA384,
                    suite::TLS13_CHACHA20_POLY1305_SHA256,
                    suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                    suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                    suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                    suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                    suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                    suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
                ],
                kx_groups: vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1, kx_group::X25519MLKEM768],
                ..aws_lc_rs::default_provider()
            })
        })
        .clone()
}

/// A certificate chain and its private key (PEM), ready to serve.
///
/// Cheap to clone (the chain and key are shared).
///
/// ```
/// use hsys::{CertBinding, ClientCa, ClientCertificates, TlsCertificate};
///
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/");
/// let cert = TlsCertificate::from_pem_files(format!("{dir}localhost.pem"), format!("{dir}localhost.key"))?;
/// let plain = CertBinding::new(cert.clone());
///
/// // The same certificate, asking clients for a certificate signed by the client CA.
/// let ca = ClientCa::from_pem_file(format!("{dir}client-ca.pem"))?;
/// let mutual = CertBinding::new(cert).client_certificates(ClientCertificates::Required(ca));
///
/// // A missing file is an error that names it.
/// let err = TlsCertificate::from_pem_files(format!("{dir}nope.pem"), format!("{dir}localhost.key")).unwrap_err();
/// assert_eq!(err.kind(), hsys::ErrorKind::Certificate);
/// assert!(err.to_string().contains("nope.pem"));
/// # Ok::<(), hsys::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct TlsCertificate {
    /// The chain (leaf first) and the signing key, checked to match.
    key: Arc<CertifiedKey>,
}

impl TlsCertificate {
    /// Loads a PEM certificate chain (leaf first, then intermediates) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    /// [`ErrorKind::Certificate`](crate::ErrorKind::Certificate) if `chain` holds no certificate, either is not valid PEM, the
    /// key is of an unsupported type, or it does not match the leaf certificate.
    pub fn from_pem(chain: &[u8], key: &[u8]) -> Result<TlsCertificate, Error> {
        let certs = parse_chain(chain).map_err(|p| fail(None, p))?;
        let key = parse_key(key).map_err(|p| fail(None, p))?;
        certified(certs, key).map_err(|p| fail(None, p))
    }

    /// Loads a certificate chain and a private key from PEM files (see
    /// [`from_pem`](Self::from_pem)).
    ///
    /// # Errors
    /// [`ErrorKind::Certificate`](crate::ErrorKind::Certificate), its message naming the file at fault (the key file when the
    /// two do not match): unreadable, or as for [`from_pem`](Self::from_pem).
    pub fn from_pem_files(chain: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<TlsCertificate, Error> {
        let (chain_path, key_path) = (chain.as_ref(), key.as_ref());
        let chain = read(chain_path)?;
        let key = read(key_path)?;
        let certs = parse_chain(&chain).map_err(|p| fail(Some(chain_path), p))?;
        let key = parse_key(&key).map_err(|p| fail(Some(key_path), p))?;
        certified(certs, key).map_err(|p| fail(Some(key_path), p))
    }
}

/// Certificate authorities that sign acceptable client certificates.
///
/// Their names are sent to clients in the certificate request. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ClientCa {
    /// Verifies against the roots; a client without a certificate fails the handshake.
    required: Arc<dyn ClientCertVerifier>,
    /// The same roots, letting a client without a certificate through.
    optional: Arc<dyn ClientCertVerifier>,
}

impl ClientCa {
    /// Loads one or more PEM CA certificates.
    ///
    /// # Errors
    /// [`ErrorKind::Certificate`](crate::ErrorKind::Certificate) if `pem` holds no certificate, is not valid PEM, or one of the
    /// certificates cannot serve as a trust anchor.
    pub fn from_pem(pem: &[u8]) -> Result<ClientCa, Error> {
        ClientCa::load(pem).map_err(|p| fail(None, p))
    }

    /// Loads one or more PEM CA certificates from a file (see [`from_pem`](Self::from_pem)).
    ///
    /// # Errors
    /// [`ErrorKind::Certificate`](crate::ErrorKind::Certificate), its message naming the file: unreadable, or as for
    /// [`from_pem`](Self::from_pem).
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<ClientCa, Error> {
        let path = path.as_ref();
        ClientCa::load(&read(path)?).map_err(|p| fail(Some(path), p))
    }

    /// Parses the roots and builds both verifiers, so nothing can fail later, at `set`.
    fn load(pem: &[u8]) -> Result<ClientCa, Problem> {
        let mut roots = RootCertStore::empty();
        for cert in parse_chain(pem)? {
            roots.add(cert).map_err(Problem::Rejected)?;
        }
        let roots = Arc::new(roots);
        let builder = || WebPkiClientVerifier::builder_with_provider(roots.clone(), provider());
        Ok(ClientCa {
            required: builder().build().map_err(|e| Problem::Verifier(e.to_string()))?,
            optional: builder().allow_unauthenticated().build().map_err(|e| Problem::Verifier(e.to_string()))?,
        })
    }
}

/// Whether a binding asks clients for a certificate: http.sys's `NEGOTIATE_CLIENT_CERT`.
///
/// A verified client chain is the connection's peer certificates. Each binding that asks gets its
/// own session-resumption state, so a session made without a client certificate (or verified by
/// another CA) never resumes into it.
#[derive(Clone, Debug, Default)]
pub enum ClientCertificates {
    /// No certificate requested (the default).
    #[default]
    Off,
    /// Requested; a client may send none, but one it sends must verify against the CA.
    Optional(ClientCa),
    /// Required: a client without a certificate that verifies against the CA fails the handshake.
    Required(ClientCa),
}

/// What a binding serves: a certificate, and optionally a client-certificate requirement.
///
/// See [`TlsCertificate`] for an example.
#[derive(Clone, Debug)]
pub struct CertBinding {
    /// The certificate chain and key presented.
    cert: TlsCertificate,
    /// Whether clients are asked for a certificate.
    client: ClientCertificates,
}

impl CertBinding {
    /// Serves `cert`, asking clients for no certificate.
    pub fn new(cert: TlsCertificate) -> Self {
        CertBinding { cert, client: ClientCertificates::Off }
    }

    /// Sets whether clients are asked for a certificate.
    pub fn client_certificates(self, client: ClientCertificates) -> Self {
        CertBinding { client, ..self }
    }

    /// Whether this binding asks for client certificates (and so has resumption state of its own).
    pub(crate) fn asks_client_certificates(&self) -> bool {
        !matches!(self.client, ClientCertificates::Off)
    }
}

/// Session-resumption state: a ticket key set and a session-ID cache.
///
/// Bindings without client certificates share the server's one: a session resumes under any of
/// them for the same server name (rustls itself refuses a session whose SNI differs), e.g. on
/// another address of the server, and survives a set that replaces its binding; and the server
/// has one cache bound, not one per binding. Each binding with a client-certificate requirement
/// gets a new one at each set: rustls does not check, on resumption, that a session carries a
/// client certificate, nor which CA verified it (a test shows a plain session resuming into a
/// `Required` binding when the state is shared).
#[derive(Clone, Debug)]
pub(crate) struct Resumption {
    /// The stateless ticketer (aws-lc-rs, rotating its key every six hours), or `None` if it could
    /// not be made (the system's random source failed): then only the session-ID cache resumes.
    ticketer: Option<Arc<dyn ProducesTickets>>,
    /// The bounded session-ID cache (TLS 1.2 clients without tickets).
    cache: Arc<dyn StoresServerSessions>,
}

impl Resumption {
    /// Fresh state: new ticket keys, an empty cache.
    pub(crate) fn new() -> Self {
        Resumption {
            ticketer: aws_lc_rs::Ticketer::new().ok(),
            cache: ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES),
        }
    }
}

/// Builds the rustls config for `binding`: the shared settings (see the module doc), its
/// certificate, its client-certificate verifier, and `shared` resumption state unless the
/// binding asks for client certificates (then state of its own).
pub(crate) fn server_config(binding: &CertBinding, shared: &Resumption, http2: bool) -> Arc<ServerConfig> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        // The provider and versions are constants (not input), so this cannot fail unless they
        // are edited inconsistently, which `config_tests::config_builds` catches.
        .expect("the provider supports the protocol versions");
    let builder = match &binding.client {
        ClientCertificates::Off => builder.with_no_client_auth(),
        ClientCertificates::Optional(ca) => builder.with_client_cert_verifier(ca.optional.clone()),
        ClientCertificates::Required(ca) => builder.with_client_cert_verifier(ca.required.clone()),
    };
    let mut config = builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(binding.cert.key.clone())));
    config.ignore_client_order = true;
    config.alpn_protocols = if http2 { ALPN_H2 } else { ALPN }.iter().map(|p| p.to_vec()).collect();
    config.max_early_data_size = 0;
    config.send_tls13_tickets = TLS13_TICKETS;
    let own;
    let resumption = if binding.asks_client_certificates() {
        own = Resumption::new();
        &own
    } else {
        shared
    };
    config.session_storage = resumption.cache.clone();
    if let Some(ticketer) = &resumption.ticketer {
        config.ticketer = ticketer.clone();
    }
    Arc::new(config)
}

/// Reads a whole file; an error names it.
fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| fail(Some(path), Problem::Read(e)))
}

/// The `CERTIFICATE` blocks of a PEM text, in order; at least one.
fn parse_chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Problem> {
    let certs = CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>().map_err(Problem::Pem)?;
    if certs.is_empty() {
        return Err(Problem::NoCertificate);
    }
    Ok(certs)
}

/// The first private key of a PEM text.
fn parse_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, Problem> {
    PrivateKeyDer::from_pem_slice(pem).map_err(Problem::Pem)
}

/// Loads the key with the provider and checks it matches the leaf (rustls parses the leaf to
/// compare the public keys, so a leaf that is not a certificate fails here too).
fn certified(certs: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Result<TlsCertificate, Problem> {
    let key = CertifiedKey::from_der(certs, key, &provider()).map_err(Problem::Rejected)?;
    Ok(TlsCertificate { key: Arc::new(key) })
}

/// A [`Certificate`](crate::ErrorKind::Certificate) error for `problem`, naming `file` if any.
fn fail(file: Option<&Path>, problem: Problem) -> Error {
    Error::certificate(LoadError { file: file.map(Path::to_path_buf), problem })
}

/// Why a certificate, key or CA did not load: the source of an
/// [`ErrorKind::Certificate`](crate::ErrorKind::Certificate) error.
#[derive(Debug)]
struct LoadError {
    /// The file at fault, when loading from files.
    file: Option<PathBuf>,
    /// What is wrong with it.
    problem: Problem,
}

/// What is wrong with a certificate, key or CA.
#[derive(Debug)]
enum Problem {
    /// The file could not be read.
    Read(io::Error),
    /// Not valid PEM, or (for a key) no private key in it.
    Pem(pem::Error),
    /// Valid PEM without a `CERTIFICATE` block.
    NoCertificate,
    /// rustls refused it: a key that does not match the certificate, an unsupported key type,
    /// a certificate that does not parse.
    Rejected(rustls::Error),
    /// The client-certificate verifier could not be built (its message).
    Verifier(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        match &self.problem {
            Problem::Read(e) => write!(f, "cannot read: {e}"),
            Problem::Pem(e) => write!(f, "bad PEM: {e}"),
            Problem::NoCertificate => f.write_str("no CERTIFICATE block"),
            Problem::Rejected(rustls::Error::InconsistentKeys(_)) => {
                f.write_str("the private key does not match the certificate")
            }
            Problem::Rejected(e) => write!(f, "{e}"),
            Problem::Verifier(e) => write!(f, "client CA: {e}"),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.problem {
            Problem::Read(e) => Some(e),
            Problem::Pem(e) => Some(e),
            Problem::Rejected(e) => Some(e),
            Problem::NoCertificate | Problem::Verifier(_) => None,
        }
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
