//! A throw-away public key infrastructure for TLS tests: one certificate
//! authority signing a server certificate for `localhost` and a client
//! certificate, and a client certificate from another authority that the
//! server must refuse.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// The client certificate's common name.
pub const CLIENT_CN: &str = "border-post-7";
/// The client certificate's organisation.
pub const CLIENT_ORG: &str = "Border Police";

/// PEM texts of the certificates and keys.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca: String,
    pub server_cert: String,
    pub server_key: String,
    pub client_cert: String,
    pub client_key: String,
    /// Signed by another authority.
    pub rogue_client_cert: String,
    pub rogue_client_key: String,
}

/// The files [`Pki::write`] wrote.
#[derive(Debug, Clone)]
pub struct PkiFiles {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub rogue_client_cert: PathBuf,
    pub rogue_client_key: PathBuf,
}

fn authority(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("self-signed CA");
    (cert.pem(), Issuer::new(params, key))
}

fn leaf(names: Vec<String>, cn: &str, issuer: &Issuer<'_, KeyPair>) -> (String, String) {
    let mut params = CertificateParams::new(names).expect("leaf parameters");
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, CLIENT_ORG);
    let key = KeyPair::generate().expect("leaf key");
    let cert = params.signed_by(&key, issuer).expect("signed leaf");
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    /// New keys and certificates.
    pub fn new() -> Self {
        let (ca, issuer) = authority("sltd test CA");
        let (server_cert, server_key) = leaf(vec!["localhost".into()], "sltdd", &issuer);
        let (client_cert, client_key) = leaf(vec![], CLIENT_CN, &issuer);
        let (_, rogue) = authority("rogue CA");
        let (rogue_client_cert, rogue_client_key) = leaf(vec![], "intruder", &rogue);
        Self {
            ca,
            server_cert,
            server_key,
            client_cert,
            client_key,
            rogue_client_cert,
            rogue_client_key,
        }
    }

    /// Writes every PEM to its own file in `dir`.
    pub fn write(&self, dir: &Path) -> PkiFiles {
        let w = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).expect("write a PEM file");
            p
        };
        PkiFiles {
            ca: w("ca.pem", &self.ca),
            server_cert: w("server.pem", &self.server_cert),
            server_key: w("server.key", &self.server_key),
            client_cert: w("client.pem", &self.client_cert),
            client_key: w("client.key", &self.client_key),
            rogue_client_cert: w("rogue-client.pem", &self.rogue_client_cert),
            rogue_client_key: w("rogue-client.key", &self.rogue_client_key),
        }
    }
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}
