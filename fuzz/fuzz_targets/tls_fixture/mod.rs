//! What the TLS targets (`tls_glue`, `tls_h1`) share: the crypto provider and the server's config
//! over the test fixtures. Each includes this module (`mod tls_fixture;`) and uses all of it.

use std::sync::{Arc, OnceLock};

use rustls::ServerConfig;
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The provider hsys uses (aws-lc-rs).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

/// The server's config over the test fixtures: `localhost.pem`, ALPN `http/1.1`, tickets; made
/// once per process.
pub fn server_config() -> Arc<ServerConfig> {
    static CONFIG: OnceLock<Arc<ServerConfig>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let certs = CertificateDer::pem_slice_iter(include_bytes!("../../../tests/fixtures/tls/localhost.pem"))
            .collect::<Result<Vec<_>, _>>()
            .expect("fixture");
        let key = PrivateKeyDer::from_pem_slice(include_bytes!("../../../tests/fixtures/tls/localhost.key"))
            .expect("fixture");
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("certificate");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.ticketer = aws_lc_rs::Ticketer::new().expect("ticketer");
        Arc::new(config)
    });
    Arc::clone(config)
}
