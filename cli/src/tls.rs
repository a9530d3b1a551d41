//! TLS for the binary: the certificate options, the bindings they make on the `https` prefixes'
//! ports, their reload on SIGHUP, and the TLS columns of the stats lines.

use std::path::PathBuf;

use hsys::{BindingKey, CertBinding, ClientCa, ClientCertificates, Server, Snapshot, TlsCertificate, TlsFailures};

/// The TLS options (flattened into the binary's arguments).
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "TLS")]
pub struct TlsArgs {
    /// Certificate chain (PEM, leaf first) served on every https port (the port's binding).
    #[arg(long, value_name = "PEM", requires = "key")]
    cert: Option<PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, value_name = "PEM", requires = "cert")]
    key: Option<PathBuf>,
    /// A certificate for clients that ask for HOST by name (SNI), on every https port; repeatable.
    #[arg(long = "host-cert", value_name = "HOST=CERT_PEM,KEY_PEM", value_parser = parse_host_cert)]
    host_certs: Vec<HostCert>,
    /// CA certificates (PEM) that sign acceptable client certificates: clients are asked for one.
    #[arg(long, value_name = "PEM")]
    client_ca: Option<PathBuf>,
    /// Whether a client must send a certificate signed by --client-ca [default: required].
    #[arg(long, value_name = "MODE", requires = "client_ca")]
    client_cert: Option<ClientCertMode>,
}

/// `--client-cert`: http.sys's NEGOTIATE_CLIENT_CERT, strict or lenient.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientCertMode {
    /// A client without a certificate that verifies fails the handshake.
    Required,
    /// A client may send none; one it sends must verify.
    Optional,
}

/// One `--host-cert HOST=CERT_PEM,KEY_PEM`.
#[derive(Clone, Debug)]
pub struct HostCert {
    /// The server name clients ask for.
    host: String,
    /// Its certificate chain.
    cert: PathBuf,
    /// Its private key.
    key: PathBuf,
}

/// Parses `HOST=CERT_PEM,KEY_PEM`.
fn parse_host_cert(s: &str) -> Result<HostCert, String> {
    let usage = || format!("`{s}`: expected HOST=CERT_PEM,KEY_PEM");
    let (host, files) = s.split_once('=').ok_or_else(usage)?;
    let (cert, key) = files.split_once(',').ok_or_else(usage)?;
    if host.is_empty() || cert.is_empty() || key.is_empty() {
        return Err(usage());
    }
    Ok(HostCert { host: host.to_owned(), cert: cert.into(), key: key.into() })
}

/// What the TLS options bind, and where: made once at start, its files read again at each reload.
#[derive(Debug)]
pub struct Tls {
    /// The ports of the `https` prefixes, each once.
    ports: Vec<u16>,
    /// `--cert` and `--key`: every port's binding.
    cert: (PathBuf, PathBuf),
    /// `--host-cert`: a binding by server name on every port.
    hosts: Vec<HostCert>,
    /// `--client-ca` and how strictly it is asked for.
    client: Option<(PathBuf, ClientCertMode)>,
}

impl Tls {
    /// The plan for the registered prefixes (canonical URLs): `None` without an `https` one (a
    /// `--cert` given then is ignored, with a warning); an error (a usage error: exit 2) for an
    /// `https` prefix without `--cert`.
    pub fn plan(args: &TlsArgs, registered: &[String]) -> Result<Option<Tls>, String> {
        let mut ports = Vec::new();
        let mut first = None;
        for url in registered {
            if let Some(port) = https_port(url) {
                first.get_or_insert(url);
                if !ports.contains(&port) {
                    ports.push(port);
                }
            }
        }
        let Some(first) = first else {
            if args.cert.is_some() || !args.host_certs.is_empty() || args.client_ca.is_some() {
                eprintln!("hsys: no https:// prefix: the TLS options are ignored");
            }
            return Ok(None);
        };
        let (Some(cert), Some(key)) = (&args.cert, &args.key) else {
            return Err(format!("{first} needs a certificate: give --cert PEM --key PEM"));
        };
        let client = args.client_ca.clone().map(|ca| (ca, args.client_cert.unwrap_or(ClientCertMode::Required)));
        Ok(Some(Tls { ports, cert: (cert.clone(), key.clone()), hosts: args.host_certs.clone(), client }))
    }

    /// Reads every file and makes the bindings: `Port(p)` for `--cert` and `Host(name, p)` for each
    /// `--host-cert`, on every https port, each asking for client certificates as `--client-ca` says.
    ///
    /// # Errors
    /// The first file that cannot be read or is not a valid certificate, key or CA (the error
    /// names it).
    pub fn load(&self) -> Result<Vec<(BindingKey, CertBinding)>, hsys::Error> {
        let client = match &self.client {
            None => ClientCertificates::Off,
            Some((ca, ClientCertMode::Required)) => ClientCertificates::Required(ClientCa::from_pem_file(ca)?),
            Some((ca, ClientCertMode::Optional)) => ClientCertificates::Optional(ClientCa::from_pem_file(ca)?),
        };
        let binding = |cert, key| -> Result<CertBinding, hsys::Error> {
            Ok(CertBinding::new(TlsCertificate::from_pem_files(cert, key)?).client_certificates(client.clone()))
        };
        let default = binding(&self.cert.0, &self.cert.1)?;
        let hosts = self
            .hosts
            .iter()
            .map(|h| Ok((h.host.as_str(), binding(&h.cert, &h.key)?)))
            .collect::<Result<Vec<_>, hsys::Error>>()?;
        let mut bindings = Vec::new();
        for &port in &self.ports {
            bindings.push((BindingKey::Port(port), default.clone()));
            for (host, b) in &hosts {
                bindings.push((BindingKey::Host((*host).to_owned(), port), b.clone()));
            }
        }
        Ok(bindings)
    }

    /// Reads every file again and, if all load, replaces the server's bindings with them (new
    /// handshakes get the new certificates; open connections keep their session); if one does
    /// not, the old bindings stay. Says which on one line (stdout, or stderr for a failure).
    pub fn reload(&self, server: &Server) {
        match self.load() {
            Ok(bindings) => {
                let n = bindings.len();
                for (key, binding) in bindings {
                    server.set_cert_binding(key, binding);
                }
                println!("SIGHUP: certificates reloaded ({n} binding{})", if n == 1 { "" } else { "s" });
            }
            Err(e) => eprintln!("hsys: SIGHUP: {e}; the certificates in use are kept"),
        }
    }
}

/// The port of a registered (canonical) prefix if it is `https`.
fn https_port(url: &str) -> Option<u16> {
    let rest = url.strip_prefix("https://")?;
    let authority = rest.split('/').next()?;
    authority.rsplit_once(':')?.1.parse().ok()
}

/// The stats header's TLS columns (after `Responses Sent`), each as wide as the others.
pub const STATS_HEADER: &str = ",   TLS Handshakes,      TLS Resumed,       TLS Failed";

/// The stats line's TLS columns (after the responses).
pub fn stats_columns(s: &Snapshot) -> String {
    format!(",{:>17},{:>17},{:>17}", s.tls_handshakes, s.tls_resumed, s.tls_failed.total())
}

/// The reasons of the failures counted, for the final line: ` (protocol 2, not TLS 1)`, or
/// nothing when none failed.
pub fn failure_reasons(f: &TlsFailures) -> String {
    let reasons: Vec<String> = [
        ("not TLS", f.not_tls),
        ("no certificate", f.no_certificate),
        ("too large", f.too_large),
        ("protocol", f.protocol),
        ("timeout", f.timeout),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(what, n)| format!("{what} {n}"))
    .collect();
    if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join(", ")) }
}
