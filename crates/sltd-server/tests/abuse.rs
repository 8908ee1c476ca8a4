//! Abusive clients: oversized inputs get short INVALID_ARGUMENT messages,
//! `POST /reload` cannot be triggered cross-site, a failed audit write is
//! counted and may withhold the hit, and connections, TLS handshakes,
//! connection ages and open streams are bounded.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use sltd_proto::v1 as pb;
use sltd_server::{AuditLog, Config, RELOAD_HEADER};
use sltd_testkit::http::{exchange, metric_sum};
use sltd_testkit::pki::Pki;

/// Far beyond any wait a loaded machine causes; only a real hang fails.
const PATIENCE: Duration = Duration::from_secs(60);

/// Whether the server closes `s` (EOF or reset) before `PATIENCE` runs
/// out, whatever it sends first.
fn closed_by_server(mut s: TcpStream) -> bool {
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_inputs_get_short_messages() {
    let (_dir, path, _) = temp_index(100);
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;
    // Sixty thousand one-letter lines: their lengths once made a 120 KB
    // grpc-message and an HTTP/2 protocol error.
    let lines = "A ".repeat(60_000);
    for text in [lines.as_str(), &lines[..200]] {
        let err = c.check(mrz("big", text)).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
        assert!(err.message().len() <= 512, "{}", err.message().len());
        assert!(err.message().starts_with("mrz: "), "{}", err.message());
    }
    let batch = c
        .check_batch(pb::CheckBatchRequest {
            queries: vec![mrz("b", &lines), doc("ok", "L898902C3", "UTO", "")],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(batch.results[0].verdict, pb::Verdict::InvalidQuery as i32);
    assert!(batch.results[0].error.len() <= 512);
    assert_eq!(batch.results[1].verdict, pb::Verdict::Hit as i32);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_needs_its_header_and_a_local_host() {
    let (_dir, path, _) = temp_index(100);
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let admin = server.admin;
    let answers = tokio::task::spawn_blocking(move || {
        let host = admin.to_string();
        [
            // What a cross-site form or fetch without preflight can send.
            exchange(admin, "POST", "/reload", &[]).unwrap(),
            // A rebound DNS name, header or not.
            exchange(
                admin,
                "POST",
                "/reload",
                &[("Host", "evil.example"), (RELOAD_HEADER, "1")],
            )
            .unwrap(),
            exchange(
                admin,
                "POST",
                "/reload",
                &[(RELOAD_HEADER, "1"), ("Host", &host)],
            )
            .unwrap(),
        ]
    })
    .await
    .unwrap();
    assert_eq!(answers[0].status, 403, "{:?}", answers[0]);
    assert!(
        answers[0].body.contains(RELOAD_HEADER),
        "{}",
        answers[0].body
    );
    assert_eq!(answers[2].status, 200, "{:?}", answers[2]);
    server.stop().await;
}

/// An audit sink that always fails, as a full disk does.
struct Broken;

impl Write for Broken {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("no space left on device"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_audit_write_is_counted_and_fail_closed_withholds_the_hit() {
    let (_dir, path, _) = temp_index(100);
    for fail_closed in [false, true] {
        let mut config = Config::default();
        config.audit.fail_closed = fail_closed;
        let server = TestServer::start(config, &path, AuditLog::writer(Broken)).await;
        let mut c = server.client().await;
        let hit = c.check(doc("h", "L898902C3", "UTO", "")).await;
        if fail_closed {
            let err = hit.unwrap_err();
            assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
            assert!(err.message().contains("audit"), "{}", err.message());
            let items = c
                .check_batch(pb::CheckBatchRequest {
                    queries: vec![doc("b", "L898902C3", "UTO", "")],
                })
                .await;
            assert_eq!(items.unwrap_err().code(), tonic::Code::Unavailable);
        } else {
            assert_eq!(hit.unwrap().into_inner().verdict, pb::Verdict::Hit as i32);
        }
        // A miss writes no audit line and is answered either way.
        let miss = c.check(doc("m", "QQZ000000001", "UTO", "")).await.unwrap();
        assert_eq!(miss.into_inner().verdict, pb::Verdict::NoHit as i32);
        let (_, metrics) = http(server.admin, "GET", "/metrics").await;
        assert!(
            metric_sum(&metrics, "sltd_audit_write_errors_total") >= 1.0,
            "{metrics}"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_closed() {
    let (_dir, path, _) = temp_index(100);
    let mut config = Config::default();
    config.limits.max_connections = 1;
    let server = TestServer::start(config, &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;
    assert_eq!(
        c.check(doc("a", "L898902C3", "UTO", ""))
            .await
            .unwrap()
            .into_inner()
            .verdict,
        pb::Verdict::Hit as i32
    );
    let addr = server.addr;
    let closed =
        tokio::task::spawn_blocking(move || closed_by_server(TcpStream::connect(addr).unwrap()))
            .await
            .unwrap();
    assert!(closed, "a second connection was kept open");
    // The first connection still works.
    c.check(doc("b", "L898902C3", "UTO", "")).await.unwrap();
    let (_, metrics) = http(server.admin, "GET", "/metrics").await;
    assert!(
        metric_sum(&metrics, "sltd_refused_total") >= 1.0,
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_tls_handshake_and_an_old_connection_are_closed() {
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
    config.limits.tls_handshake_timeout_ms = 300;
    let server = TestServer::start(config, &path, AuditLog::writer(std::io::sink())).await;
    let addr = server.addr;
    // Connects and never says hello.
    let closed =
        tokio::task::spawn_blocking(move || closed_by_server(TcpStream::connect(addr).unwrap()))
            .await
            .unwrap();
    assert!(
        closed,
        "a connection that never completed its TLS handshake was kept"
    );
    server.stop().await;

    // Plaintext, no keepalive pings: only the age limit can end it.
    let mut config = Config::default();
    config.limits.max_connection_age_secs = 1;
    config.limits.drain_timeout_ms = 200;
    config.limits.keepalive_interval_secs = 0;
    let server = TestServer::start(config, &path, AuditLog::writer(std::io::sink())).await;
    let addr = server.addr;
    let closed = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        // The HTTP/2 preface and an empty SETTINGS frame: an idle client.
        s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            .unwrap();
        closed_by_server(s)
    })
    .await
    .unwrap();
    assert!(
        closed,
        "a connection older than max_connection_age was kept"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_streams_are_capped() {
    let (_dir, path, _) = temp_index(100);
    let mut config = Config::default();
    config.limits.max_open_streams = 1;
    let server = TestServer::start(config, &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;
    // A stream that stays open: its requests never end.
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::CheckRequest>(4);
    tx.send(doc("s1", "L898902C3", "UTO", "")).await.unwrap();
    let mut first = c
        .check_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    assert!(first.message().await.unwrap().is_some());
    let second = c
        .check_stream(tokio_stream::iter(vec![doc("s2", "L898902C3", "UTO", "")]))
        .await;
    assert_eq!(second.unwrap_err().code(), tonic::Code::ResourceExhausted);
    // Once the first ends, its place is free again.
    drop(tx);
    while first.message().await.unwrap().is_some() {}
    let ok = eventually(30, || {
        let mut c = c.clone();
        async move {
            c.check_stream(tokio_stream::iter(vec![doc("s3", "L898902C3", "UTO", "")]))
                .await
                .is_ok()
        }
    })
    .await;
    assert!(ok, "the stream's place was not given back");
    server.stop().await;
}
