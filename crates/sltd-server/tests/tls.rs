//! TLS and mutual TLS: a client trusting the CA is served, plaintext to a
//! TLS port fails, and with a client CA only certificates it signed are
//! let in, their subject becoming the audited identity.

mod common;

use common::*;
use sltd_proto::v1 as pb;
use sltd_server::{AuditLog, Config};
use sltd_testkit::pki::{CLIENT_CN, CLIENT_ORG, Pki};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

async fn connect(
    addr: std::net::SocketAddr,
    ca: &str,
    identity: Option<(&str, &str)>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    Channel::from_shared(format!("https://localhost:{}", addr.port()))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await
}

async fn try_check(
    channel: Result<Channel, tonic::transport::Error>,
) -> Result<pb::CheckResponse, String> {
    let channel = channel.map_err(|e| format!("connect: {e}"))?;
    let mut c = sltd_proto::v1::lookup_client::LookupClient::new(channel);
    c.check(doc("tls", "L898902C3", "UTO", ""))
        .await
        .map(|r| r.into_inner())
        .map_err(|e| format!("call: {e}"))
}

#[tokio::test]
async fn tls_and_mutual_tls() {
    let pki = Pki::new();
    let (dir, path, _) = temp_index(100);
    let w = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let mut config = Config::default();
    config.tls.cert = Some(w("server.crt", &pki.server_cert));
    config.tls.key = Some(w("server.key", &pki.server_key));

    // Server-authenticated TLS: any client trusting the CA.
    let server = TestServer::start(config.clone(), &path, AuditLog::writer(std::io::sink())).await;
    let r = try_check(connect(server.addr, &pki.ca, None).await)
        .await
        .unwrap();
    assert_eq!(r.verdict, pb::Verdict::Hit as i32);
    // Plaintext to a TLS port fails.
    let plain = sltd_proto::v1::lookup_client::LookupClient::connect(server.url()).await;
    if let Ok(mut c) = plain {
        assert!(c.check(doc("", "L898902C3", "", "")).await.is_err());
    }
    server.stop().await;

    // Mutual TLS.
    config.tls.client_ca = Some(w("clients-ca.crt", &pki.ca));
    let audit_path = dir.path().join("audit.jsonl");
    let server = TestServer::start(config, &path, AuditLog::file(&audit_path).unwrap()).await;
    let no_cert = try_check(connect(server.addr, &pki.ca, None).await).await;
    assert!(
        no_cert.is_err(),
        "a client without a certificate must be refused"
    );
    let wrong_ca = try_check(
        connect(
            server.addr,
            &pki.ca,
            Some((&pki.rogue_client_cert, &pki.rogue_client_key)),
        )
        .await,
    )
    .await;
    assert!(
        wrong_ca.is_err(),
        "a certificate from another CA must be refused"
    );
    let r = try_check(
        connect(
            server.addr,
            &pki.ca,
            Some((&pki.client_cert, &pki.client_key)),
        )
        .await,
    )
    .await
    .unwrap();
    assert_eq!(r.verdict, pb::Verdict::Hit as i32);
    let audit = std::fs::read_to_string(&audit_path).unwrap();
    let line: serde_json::Value = serde_json::from_str(audit.lines().next().unwrap()).unwrap();
    let client = line["client"].as_str().unwrap();
    assert!(client.contains(&format!("CN={CLIENT_CN}")), "{client}");
    assert!(client.contains(&format!("O={CLIENT_ORG}")), "{client}");
    server.stop().await;
}
