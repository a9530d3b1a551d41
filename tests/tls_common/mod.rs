//! Shared helpers of the TLS suites (`tests/tls.rs`, `tests/tls_hostile.rs`): the fixture
//! certificates, rustls client configs, a TLS client over a `std` socket with every read bounded
//! by a timeout, an HTTP/1.1 response reader, and small waits on the server's counters.
#![allow(dead_code)] // each suite uses its own share of the helpers

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hsys::{BindingKey, CertBinding, Handler, Request, Response, Server, ServerBuilder, TlsCertificate};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, StreamOwned, SupportedProtocolVersion};

/// The test certificates: `ca.pem` signs `localhost` and `alt`; `client-ca.pem` signs `client`.
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");

/// Time any single step (a read, a wait on a counter) may take before the test fails instead of
/// hanging.
pub const STEP: Duration = Duration::from_secs(5);

/// TLS 1.3 only.
pub const TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
/// TLS 1.2 only.
pub const TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
/// Both versions (the client prefers 1.3).
pub const ANY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The path of a fixture file.
pub fn fixture(file: &str) -> String {
    format!("{FIXTURES}/{file}")
}

/// The certificate `<name>.pem` with its key `<name>.key`.
pub fn cert(name: &str) -> TlsCertificate {
    TlsCertificate::from_pem_files(fixture(&format!("{name}.pem")), fixture(&format!("{name}.key")))
        .expect("fixture certificate")
}

/// A binding serving `<name>.pem`, asking for no client certificate.
pub fn binding(name: &str) -> CertBinding {
    CertBinding::new(cert(name))
}

/// The certificates of `<name>.pem`, leaf first.
pub fn chain(name: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(fixture(&format!("{name}.pem")))
        .expect("fixture PEM")
        .map(|c| c.expect("a certificate"))
        .collect()
}

/// The DER of `<name>.pem`'s leaf certificate.
pub fn leaf(name: &str) -> Vec<u8> {
    chain(name)[0].to_vec()
}

/// How a test client is set up.
#[derive(Clone, Copy)]
pub struct Opts {
    /// The protocol versions offered.
    pub versions: &'static [&'static SupportedProtocolVersion],
    /// A client certificate to present (`client` for `client.pem`/`client.key`), if any.
    pub client_cert: Option<&'static str>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts { versions: ANY, client_cert: None }
    }
}

/// A client config trusting `ca.pem`, offering ALPN `http/1.1` and keeping sessions for
/// resumption (in the config: connections made from the same `Arc` resume).
pub fn config(opts: Opts) -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in chain("ca") {
        roots.add(cert).expect("a CA certificate");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(opts.versions)
        .expect("versions")
        .with_root_certificates(roots);
    let mut config = match opts.client_cert {
        None => builder.with_no_client_auth(),
        Some(name) => {
            let key = PrivateKeyDer::from_pem_file(fixture(&format!("{name}.key"))).expect("client key");
            builder.with_client_auth_cert(chain(name), key).expect("client certificate")
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// The default client config (both versions, no client certificate).
pub fn default_config() -> Arc<ClientConfig> {
    config(Opts::default())
}

/// A server name for rustls: a DNS name (sent as SNI) or an IP address (no SNI).
pub fn server_name(name: &str) -> ServerName<'static> {
    ServerName::try_from(name.to_string()).expect("a server name")
}

/// The `rustls::Error` inside an I/O error from a TLS stream, if that is what it is.
pub fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
}

/// A response.
#[derive(Debug, Clone)]
pub struct Resp {
    /// The status code.
    pub status: u16,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Resp {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response (`Content-Length`, chunked, or until the end for neither); `Ok(None)` at
/// the end of the stream before a status line.
pub fn read_response<R: BufRead>(r: &mut R) -> io::Result<Option<Resp>> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let status: u16 = line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| bad(&line))?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(':').ok_or_else(|| bad(h))?;
        headers.push((n.to_string(), v.trim().to_string()));
    }
    let mut resp = Resp { status, headers, body: Vec::new() };
    if status < 200 || status == 204 || status == 304 {
        return Ok(Some(resp));
    }
    if resp.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let size = size.trim_end_matches(['\r', '\n']);
            let size = size.split(';').next().unwrap_or_default();
            let n = usize::from_str_radix(size.trim(), 16).map_err(|_| bad(size))?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk)?;
            if n == 0 {
                // (No trailers are sent by the server under test.)
                break;
            }
            resp.body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(len) = resp.header("content-length") {
        let len: usize = len.parse().map_err(|_| bad(len))?;
        resp.body = vec![0; len];
        r.read_exact(&mut resp.body)?;
    } else {
        r.read_to_end(&mut resp.body)?;
    }
    Ok(Some(resp))
}

/// The TLS stream a [`TlsClient`] reads and writes.
pub type Stream = StreamOwned<ClientConnection, TcpStream>;

/// A rustls client over a blocking `TcpStream`, every read bounded by [`STEP`].
pub struct TlsClient {
    /// The stream, buffered for reading responses line by line.
    pub reader: BufReader<Stream>,
}

impl TlsClient {
    /// Connects to `addr` asking for `name` (a DNS name is sent as SNI); the handshake runs with
    /// the first read or write, or [`handshake`](Self::handshake).
    pub fn connect(addr: SocketAddr, name: &str, config: Arc<ClientConfig>) -> TlsClient {
        let conn = ClientConnection::new(config, server_name(name)).expect("client connection");
        TlsClient::over(conn, tcp(addr))
    }

    /// A client from a connection already begun (its first flight written by the caller).
    pub fn over(conn: ClientConnection, tcp: TcpStream) -> TlsClient {
        TlsClient { reader: BufReader::new(StreamOwned::new(conn, tcp)) }
    }

    /// Connects to `addr` as `localhost` with the default config.
    pub fn localhost(addr: SocketAddr) -> TlsClient {
        TlsClient::connect(addr, "localhost", default_config())
    }

    /// Runs the handshake to its end (from the client's side).
    pub fn handshake(&mut self) -> io::Result<()> {
        let s = self.reader.get_mut();
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock)?;
        }
        Ok(())
    }

    /// The TLS connection (negotiated version, ALPN, the server's certificates).
    pub fn conn(&self) -> &ClientConnection {
        &self.reader.get_ref().conn
    }

    /// The socket under the TLS stream.
    pub fn tcp(&mut self) -> &mut TcpStream {
        &mut self.reader.get_mut().sock
    }

    /// The server's leaf certificate (DER), once the handshake is done.
    pub fn server_leaf(&self) -> Vec<u8> {
        self.conn().peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec()).expect("a server certificate")
    }

    /// Writes `bytes` (as one or more records) and flushes them to the socket.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let s = self.reader.get_mut();
        s.write_all(bytes)?;
        s.flush()
    }

    /// Reads one response; `Ok(None)` at a clean end (close_notify) before a status line.
    pub fn try_read(&mut self) -> io::Result<Option<Resp>> {
        read_response(&mut self.reader)
    }

    /// Reads one response, which must come.
    pub fn read(&mut self) -> Resp {
        self.try_read().expect("a response").expect("a response, not the end")
    }

    /// Sends `bytes` and reads one response.
    pub fn exchange(&mut self, bytes: &[u8]) -> Resp {
        self.send(bytes).expect("write");
        self.read()
    }

    /// What the next read brings: `Ok(0)` at a clean end (the server's close_notify), `Ok(n)`
    /// for more bytes, or the error (an alert, a reset, end-of-file without close_notify, a
    /// timeout).
    pub fn read_end(&mut self) -> io::Result<usize> {
        let mut b = [0u8; 1];
        self.reader.read(&mut b)
    }
}

/// A connected socket, reads bounded by [`STEP`], Nagle off.
pub fn tcp(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(STEP)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// `GET <path>` with a Host header.
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").into_bytes()
}

/// A TLS server on `127.0.0.1:0` from `builder` (threads, limits…), `localhost.pem` bound to its
/// port, answering with `handler`.
pub fn start<H: Handler>(builder: ServerBuilder, handler: H) -> (Server, SocketAddr) {
    let server = builder.bind_tls("127.0.0.1:0").serve(handler).expect("serve");
    let addr = server.local_addrs()[0];
    server.set_cert_binding(BindingKey::Port(addr.port()), binding("localhost"));
    (server, addr)
}

/// A one-thread TLS server (see [`start`]) answering every request with [`describe`].
pub fn describing_server() -> (Server, SocketAddr) {
    start(Server::builder().threads(1), describe_handler)
}

/// The handler that answers with [`describe`] of its request's TLS details.
pub fn describe_handler(req: &Request<'_>, res: &mut Response<'_>) {
    let _ = res.body(describe(req.tls()).as_bytes());
}

/// A request's TLS details as text: `version alpn sni resumed peers` (`-` for none), e.g.
/// `Tls13 http/1.1 localhost false 0`; `cleartext` without TLS.
pub fn describe(tls: Option<&hsys::TlsInfo>) -> String {
    let Some(t) = tls else { return "cleartext".to_string() };
    let alpn = t.alpn.as_deref().map_or("-".to_string(), |a| String::from_utf8_lossy(a).into_owned());
    let sni = t.server_name.as_deref().unwrap_or("-");
    format!("{:?} {alpn} {sni} {} {}", t.version, t.resumed, t.peer_certificates.len())
}

/// Waits (up to [`STEP`]) until `done` holds; the counters an I/O thread writes may trail what
/// the client saw by a moment.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + STEP;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits until the server's TLS failures add up to `total`, then returns them.
pub fn failures(server: &Server, total: u64) -> hsys::TlsFailures {
    wait_until(&format!("{total} TLS failure(s)"), || server.stats().tls_failed.total() >= total);
    server.stats().tls_failed
}

/// A free port on 127.0.0.1 (released before return: a tiny race with other processes).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Reads raw bytes until end-of-file, a reset, or [`STEP`]; what came and whether the socket
/// was closed (end-of-file or reset, not a timeout).
pub fn read_raw(s: &mut TcpStream) -> (Vec<u8>, bool) {
    s.set_read_timeout(Some(STEP)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted) => {
                return (got, true);
            }
            Err(_) => return (got, false),
        }
    }
}

/// A client's first flight (its ClientHello records) for `name`, and the connection that wrote
/// it, to be continued over a socket with [`TlsClient::over`].
pub fn first_flight(config: Arc<ClientConfig>, name: &str) -> (ClientConnection, Vec<u8>) {
    let mut conn = ClientConnection::new(config, server_name(name)).expect("client connection");
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello).expect("write to a Vec");
    }
    (conn, hello)
}
