//! The daemon's life: NOT_SERVING until the data is resident and during
//! shutdown, a bad index at start not served until replaced, a drain bounded
//! by its timeout, and the demo data set.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use sltd_proto::v1 as pb;
use sltd_server::{AuditLog, Config, IndexFileSource};
use tokio_stream::StreamExt;
use tonic::Code;

/// A source that blocks in `load` until released: the daemon must report
/// NOT_SERVING meanwhile.
#[derive(Debug)]
struct GatedSource {
    inner: IndexFileSource,
    gate: Arc<std::sync::Mutex<bool>>,
    cv: Arc<std::sync::Condvar>,
}

impl sltd_server::DatasetSource for GatedSource {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn load(&self) -> Result<sltd_server::Dataset, sltd_server::LoadError> {
        let mut open = self.gate.lock().unwrap();
        while !*open {
            open = self.cv.wait(open).unwrap();
        }
        self.inner.load()
    }
    fn stamp(&self) -> Option<sltd_server::SourceStamp> {
        self.inner.stamp()
    }
}

#[tokio::test]
async fn health_is_not_serving_until_loaded_and_during_shutdown() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let (_dir, path, _) = temp_index(100);
    let gate = Arc::new(std::sync::Mutex::new(false));
    let cv = Arc::new(std::sync::Condvar::new());
    let source = Arc::new(GatedSource {
        inner: IndexFileSource::new(&path),
        gate: Arc::clone(&gate),
        cv: Arc::clone(&cv),
    });
    let mut server =
        TestServer::start_with(Config::default(), source, AuditLog::writer(std::io::sink())).await;
    let channel = tonic::transport::Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    let status = |service: &str| HealthCheckRequest {
        service: service.to_string(),
    };
    for service in ["", "sltd.v1.Lookup"] {
        let s = health.check(status(service)).await.unwrap().into_inner();
        assert_eq!(s.status, ServingStatus::NotServing as i32, "{service:?}");
    }
    let mut watch = health
        .watch(status("sltd.v1.Lookup"))
        .await
        .unwrap()
        .into_inner();
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::NotServing as i32);
    // Lookups are unavailable, readiness says why.
    let mut c = sltd_proto::v1::lookup_client::LookupClient::new(channel.clone());
    let err = c.check(doc("", "L898902C3", "", "")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    let (code, _) = http(server.admin, "GET", "/readyz").await;
    assert_eq!(code, 503);
    let (code, _) = http(server.admin, "GET", "/livez").await;
    assert_eq!(code, 200);

    *gate.lock().unwrap() = true;
    cv.notify_all();
    server.wait_serving().await;
    let next = watch.next().await.unwrap().unwrap();
    assert_eq!(next.status, ServingStatus::Serving as i32);
    let s = health.check(status("")).await.unwrap().into_inner();
    assert_eq!(s.status, ServingStatus::Serving as i32);
    assert_eq!(http(server.admin, "GET", "/readyz").await.0, 200);
    assert!(c.check(doc("", "L898902C3", "", "")).await.is_ok());

    // Shutdown: NOT_SERVING is announced before connections are drained.
    let _ = server.stop_sender().send(());
    let last = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(last.status, ServingStatus::NotServing as i32);
    assert!(!server.daemon.is_serving());
}

#[tokio::test]
async fn demo_index_serves_the_specimens() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = 0;
    let path =
        sltd_server::demo::build_demo_index(dir.path(), 2_000, |done, _| seen = done).unwrap();
    assert_eq!(seen, 2_004);
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;
    for s in sltd_server::demo::specimens() {
        let r = c
            .check(doc("", s.key.number.as_str(), "UTO", s.doc_type.as_str()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(verdict(&r), pb::Verdict::Hit);
    }
    assert_eq!(
        c.get_status(pb::GetStatusRequest {})
            .await
            .unwrap()
            .into_inner()
            .dataset
            .unwrap()
            .record_count,
        2_004
    );
    server.stop().await;
}

#[tokio::test]
async fn a_bad_index_at_start_is_not_served_until_replaced() {
    let (dir, path, recs) = temp_index(100);
    let good = std::fs::read(&path).unwrap();
    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    let mut config = Config::default();
    config.reload.poll_interval_ms = 20;
    let server = TestServer::start_with(
        config,
        Arc::new(IndexFileSource::new(&path)),
        AuditLog::writer(std::io::sink()),
    )
    .await;
    assert!(
        eventually(10, || async { server.daemon.last_error().is_some() }).await,
        "the load error was not recorded"
    );
    let (code, body) = http(server.admin, "GET", "/readyz").await;
    assert_eq!(code, 503);
    assert!(body.contains("not ready"), "{body}");
    assert!(!server.daemon.is_serving());
    // A good file renamed into place is picked up.
    write_index(&path, &recs, now());
    server.wait_serving().await;
    let mut c = server.client().await;
    let r = c
        .check(doc("", "L898902C3", "UTO", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::Hit);
    drop(dir);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_drain_is_bounded_by_the_drain_timeout() {
    let (_dir, path, _) = temp_index(100);
    let mut config = Config::default();
    config.limits.drain_timeout_ms = 300;
    let server = TestServer::start(config, &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;
    // A stream the client never closes.
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut out = c
        .check_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    tx.send(doc("1", "L898902C3", "UTO", "")).await.unwrap();
    assert!(out.next().await.unwrap().is_ok());
    let started = std::time::Instant::now();
    server.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "drain took {:?}",
        started.elapsed()
    );
    drop(tx);
}

/// With `shutdown_delay_ms`, a stopping daemon reports NOT_SERVING (gRPC
/// health and /readyz) while it goes on answering, on open connections and
/// new ones: a load balancer takes it out before any call can fail.
#[tokio::test]
async fn during_the_shutdown_delay_health_says_not_serving_and_checks_are_answered() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let (_dir, path, _) = temp_index(100);
    let mut config = Config::default();
    // Far longer than the test: the delay must still be running at its end.
    config.limits.shutdown_delay_ms = 3_600_000;
    let mut server = TestServer::start(config, &path, AuditLog::writer(std::io::sink())).await;
    let mut open = server.client().await;
    assert!(open.check(doc("", "L898902C3", "UTO", "")).await.is_ok());
    let channel = tonic::transport::Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let mut watch = health
        .watch(HealthCheckRequest {
            service: "sltd.v1.Lookup".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.next().await.unwrap().unwrap().status,
        ServingStatus::Serving as i32
    );

    let _ = server.stop_sender().send(());
    assert_eq!(
        watch.next().await.unwrap().unwrap().status,
        ServingStatus::NotServing as i32
    );
    assert_eq!(http(server.admin, "GET", "/readyz").await.0, 503);
    let r = open
        .check(doc("", "L898902C3", "UTO", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::Hit);
    let mut fresh = server.client().await;
    let r = fresh
        .check(doc("", &miss_number(1), "UTO", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::NoHit);
}
