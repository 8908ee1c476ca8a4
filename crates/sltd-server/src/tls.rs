//! TLS for the public listener, with rustls (ring): a server certificate,
//! and optionally a client CA that every client certificate must chain to.

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::ServerError;
use crate::config::TlsConfig;

fn read(what: &str, path: &std::path::Path) -> Result<Vec<u8>, ServerError> {
    std::fs::read(path).map_err(|e| ServerError::Tls {
        reason: format!("cannot read the {what} {}: {e}", path.display()),
    })
}

/// The rustls configuration for `cfg`, or `None` when TLS is off.
pub(crate) fn server_tls(cfg: &TlsConfig) -> Result<Option<ServerTlsConfig>, ServerError> {
    if !cfg.enabled() {
        return Ok(None);
    }
    let (Some(cert), Some(key)) = (&cfg.cert, &cfg.key) else {
        return Err(ServerError::Tls {
            reason: "TLS needs both a certificate (tls.cert) and a key (tls.key)".into(),
        });
    };
    let identity = Identity::from_pem(read("certificate", cert)?, read("private key", key)?);
    let mut tls = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &cfg.client_ca {
        // With a client CA rustls requires a client certificate: a client
        // without one fails the handshake.
        tls = tls.client_ca_root(Certificate::from_pem(read("client CA", ca)?));
    }
    Ok(Some(tls))
}
