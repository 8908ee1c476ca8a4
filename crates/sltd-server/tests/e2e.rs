//! End-to-end tests of the daemon over real gRPC on 127.0.0.1:0: every RPC,
//! invalid input in each field, limits, health, reflection, reload (also
//! under load), TLS and mutual TLS, the audit trail and the metrics.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use sltd_proto::v1 as pb;
use sltd_server::{AuditLog, Config, IndexFileSource};
use tokio_stream::StreamExt;
use tonic::Code;

const TD3: &str =
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10";
const TD1: &str = "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<";
const TD2: &str = "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\nD231458907UTO7408122F1204159<<<<<<<6";
const MRVA: &str =
    "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL8988901C4XXX4009078F96121096ZE184226B<<<<<<";
const MRVB: &str = "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\nL8988901C4XXX4009078F9612109<<<<<<<<";

fn verdict(r: &pb::CheckResponse) -> pb::Verdict {
    pb::Verdict::try_from(r.verdict).unwrap()
}

#[tokio::test]
async fn check_answers_hits_and_misses() {
    let (_dir, path, recs) = temp_index(2_000);
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;

    let r = c
        .check(doc("r1", "L898902C3", "UTO", "P"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::Hit);
    assert_eq!(r.request_id, "r1");
    assert_eq!(r.matches.len(), 1);
    let m = &r.matches[0];
    assert_eq!(
        (
            m.issuing_country.as_str(),
            m.document_number.as_str(),
            m.document_type.as_str()
        ),
        ("UTO", "L898902C3", "P")
    );
    assert_eq!(m.status, pb::Status::Stolen as i32);
    assert_eq!(m.reported_on, "2024-03-14");
    assert_eq!(m.reference, "UTO-TD3-0001");
    let ds = r
        .dataset
        .as_ref()
        .expect("dataset info on every unary answer");
    assert_eq!(ds.record_count, recs.len() as u64);
    assert_eq!(ds.freshness, pb::Freshness::Fresh as i32);
    assert_eq!(ds.content_id.len(), 32);
    assert!(r.error.is_empty() && r.mrz.is_none());

    // Normalisation: case, spaces, hyphens, fillers; number only; a type
    // compared on its first letter.
    let r = c
        .check(doc("", " l898-902 c3 ", "uto<", "PD"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::Hit);
    let r = c
        .check(doc("", "L898902C3", "", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::Hit);
    // Wrong type, wrong state, prefix, one character off: no hit.
    for (n, s, t) in [
        ("L898902C3", "UTO", "V"),
        ("L898902C3", "D", ""),
        ("L898902", "UTO", ""),
        ("L898902C4", "UTO", ""),
    ] {
        let r = c.check(doc("", n, s, t)).await.unwrap().into_inner();
        assert_eq!(verdict(&r), pb::Verdict::NoHit, "{n} {s} {t}");
        assert!(r.matches.is_empty());
    }
    // Every generated record is found.
    for rec in recs.iter().step_by(97) {
        let r = c
            .check(doc(
                "",
                rec.key.number.as_str(),
                rec.key.state.as_str(),
                rec.doc_type.as_str(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(verdict(&r), pb::Verdict::Hit, "{:?}", rec.key);
    }
    server.stop().await;
}

#[tokio::test]
async fn mrz_queries_report_fields_and_check_digits() {
    let (_dir, path, _) = temp_index(100);
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;
    for (text, number, format) in [
        (TD3, "L898902C3", pb::MrzFormat::Td3),
        (TD1, "D23145890", pb::MrzFormat::Td1),
        (TD2, "D23145890", pb::MrzFormat::Td2),
        (MRVA, "L8988901C", pb::MrzFormat::MrvA),
        (MRVB, "L8988901C", pb::MrzFormat::MrvB),
    ] {
        let r = c.check(mrz("m", text)).await.unwrap().into_inner();
        assert_eq!(verdict(&r), pb::Verdict::Hit, "{text}");
        let m = r.mrz.expect("mrz fields");
        assert_eq!(m.document_number, number);
        assert_eq!(m.issuing_country, "UTO");
        assert_eq!(m.format, format as i32);
        assert!(m.check_digits_valid, "{m:?}");
        assert!(
            m.check_digits
                .iter()
                .any(|d| d.field == "document_number" && d.valid)
        );
    }
    // A bad check digit is reported, and the lookup still runs.
    let bad = TD3.replace("L898902C36", "L898902C35");
    let r = c.check(mrz("m", &bad)).await.unwrap().into_inner();
    assert_eq!(verdict(&r), pb::Verdict::Hit);
    let m = r.mrz.unwrap();
    assert!(!m.check_digits_valid);
    let d = m
        .check_digits
        .iter()
        .find(|d| d.field == "document_number")
        .unwrap();
    assert_eq!(
        (d.found.as_str(), d.expected.as_str(), d.valid),
        ("5", "6", false)
    );
    server.stop().await;
}

#[tokio::test]
async fn invalid_input_in_each_field_is_refused_with_a_message_naming_it() {
    let (_dir, path, _) = temp_index(100);
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;
    let cases = [
        (doc("", "", "", ""), "document.number"),
        (doc("", "<<< --", "", ""), "document.number"),
        (doc("", "AB.123", "", ""), "document.number"),
        (doc("", "ÄB123", "", ""), "document.number"),
        (doc("", &"9".repeat(31), "", ""), "document.number"),
        (doc("", "AB123", "FRAN", ""), "document.issuing_country"),
        (doc("", "AB123", "U2O", ""), "document.issuing_country"),
        (doc("", "AB123", "<<<", ""), "document.issuing_country"),
        (doc("", "AB123", "", "PPP"), "document.document_type"),
        (doc("", "AB123", "", "P1"), "document.document_type"),
        (mrz("", ""), "mrz"),
        (mrz("", "hello world"), "mrz"),
        (mrz("", &TD3[..60]), "mrz"),
        (
            pb::CheckRequest {
                request_id: String::new(),
                query: None,
                include_possible_matches: None,
            },
            "query",
        ),
        (
            doc(
                &"x".repeat(sltd_server::MAX_REQUEST_ID_LEN + 1),
                "AB1",
                "",
                "",
            ),
            "request_id",
        ),
    ];
    for (req, field) in cases {
        let err = c.check(req.clone()).await.expect_err(field);
        assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
        assert!(
            err.message().starts_with(field),
            "{field}: {}",
            err.message()
        );
        // Actionable: says what is allowed or what to give.
        assert!(err.message().len() > field.len() + 20, "{}", err.message());
    }
    server.stop().await;
}

#[tokio::test]
async fn batch_answers_in_order_and_marks_invalid_items() {
    let (_dir, path, recs) = temp_index(1_000);
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;
    let numbers: HashSet<&str> = recs.iter().map(|r| r.key.number.as_str()).collect();
    let mut queries = Vec::new();
    let mut expected = Vec::new();
    for (i, rec) in recs.iter().enumerate().take(300) {
        if i % 3 == 0 {
            let n = miss_number(i);
            assert!(!numbers.contains(n.as_str()));
            queries.push(doc(&format!("q{i}"), &n, "", ""));
            expected.push(pb::Verdict::NoHit);
        } else if i % 50 == 7 {
            queries.push(doc(&format!("q{i}"), "BAD.NUMBER", "", ""));
            expected.push(pb::Verdict::InvalidQuery);
        } else {
            queries.push(doc(
                &format!("q{i}"),
                rec.key.number.as_str(),
                rec.key.state.as_str(),
                "",
            ));
            expected.push(pb::Verdict::Hit);
        }
    }
    queries.push(mrz("mrz", TD1));
    expected.push(pb::Verdict::Hit);
    let resp = c
        .check_batch(pb::CheckBatchRequest {
            queries: queries.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.results.len(), queries.len());
    assert!(resp.dataset.is_some());
    for ((q, r), want) in queries.iter().zip(&resp.results).zip(&expected) {
        assert_eq!(r.request_id, q.request_id);
        assert_eq!(verdict(r), *want, "{}", q.request_id);
        match want {
            pb::Verdict::InvalidQuery => {
                assert!(r.error.starts_with("document.number"), "{}", r.error)
            }
            pb::Verdict::Hit => assert!(!r.matches.is_empty()),
            _ => assert!(r.matches.is_empty() && r.error.is_empty()),
        }
        // The batch-level dataset applies; items carry none.
        assert!(r.dataset.is_none());
    }
    assert!(resp.results.last().unwrap().mrz.is_some());

    // An empty batch is fine.
    let resp = c
        .check_batch(pb::CheckBatchRequest { queries: vec![] })
        .await
        .unwrap()
        .into_inner();
    assert!(resp.results.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn batch_above_the_limit_is_refused_whole() {
    let (_dir, path, _) = temp_index(100);
    let mut config = Config::default();
    config.limits.max_batch = 10;
    let server = TestServer::start(config, &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;
    let ok: Vec<_> = (0..10).map(|i| doc("", &miss_number(i), "", "")).collect();
    assert_eq!(
        c.check_batch(pb::CheckBatchRequest {
            queries: ok.clone()
        })
        .await
        .unwrap()
        .into_inner()
        .results
        .len(),
        10
    );
    let mut too_many = ok;
    too_many.push(doc("", "L898902C3", "", ""));
    let err = c
        .check_batch(pb::CheckBatchRequest { queries: too_many })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("at most 10"), "{}", err.message());
    let status = c
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.max_batch, 10);
    server.stop().await;
}

#[tokio::test]
async fn stream_answers_each_message_in_order() {
    let (_dir, path, recs) = temp_index(500);
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;
    let mut reqs = Vec::new();
    for (i, rec) in recs.iter().enumerate().take(200) {
        reqs.push(match i % 4 {
            0 => doc(
                &i.to_string(),
                rec.key.number.as_str(),
                rec.key.state.as_str(),
                "",
            ),
            1 => doc(&i.to_string(), &miss_number(i), "UTO", ""),
            2 => doc(&i.to_string(), "", "", ""),
            _ => mrz(&i.to_string(), TD3),
        });
    }
    let out = c
        .check_stream(tokio_stream::iter(reqs.clone()))
        .await
        .unwrap()
        .into_inner();
    let answers: Vec<pb::CheckResponse> = out.map(|r| r.unwrap()).collect().await;
    assert_eq!(answers.len(), reqs.len());
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a.request_id, i.to_string());
        let want = match i % 4 {
            0 | 3 => pb::Verdict::Hit,
            1 => pb::Verdict::NoHit,
            _ => pb::Verdict::InvalidQuery,
        };
        assert_eq!(verdict(a), want, "item {i}");
        assert!(a.dataset.is_some());
    }

    // Interactive use: each answer arrives before the next request is sent.
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut out = c
        .check_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    for i in 0..5 {
        tx.send(doc(&i.to_string(), "L898902C3", "UTO", ""))
            .await
            .unwrap();
        let a = tokio::time::timeout(Duration::from_secs(10), out.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(a.request_id, i.to_string());
    }
    drop(tx);
    assert!(out.next().await.is_none());
    server.stop().await;
}

#[tokio::test]
async fn get_status_reports_the_data_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.sltd");
    let recs = records(50);
    // Built three days ago: older than the 48 h default.
    write_index(&path, &recs, now() - 3 * 86_400);
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;
    let s = c
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    let ds = s.dataset.unwrap();
    assert_eq!(ds.record_count, recs.len() as u64);
    assert_eq!(ds.freshness, pb::Freshness::Stale as i32);
    assert!(ds.age_seconds >= 3 * 86_400);
    assert!((ds.as_of.unwrap().seconds + ds.age_seconds - now()).abs() <= 2);
    assert!(s.source.contains("index.sltd"));
    assert_eq!(s.version, env!("CARGO_PKG_VERSION"));
    assert!(s.loaded_at.is_some());
    // Stale data still answers, and says so.
    let r = c
        .check(doc("", "L898902C3", "UTO", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::Hit);
    assert_eq!(r.dataset.unwrap().freshness, pb::Freshness::Stale as i32);
    let (_, metrics) = http(server.admin, "GET", "/metrics").await;
    assert!(metrics.contains("sltd_dataset_freshness 1"), "{metrics}");
    server.stop().await;
}

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
async fn reflection_lists_the_services() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let (_dir, path, _) = temp_index(10);
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let channel = tonic::transport::Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut r = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut resp = r
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let msg = resp.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = msg.message_response else {
        panic!("unexpected reflection answer");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    for want in [
        "sltd.v1.Lookup",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(names.contains(&want), "{names:?}");
    }
    server.stop().await;
}

async fn content_id(
    c: &mut sltd_proto::v1::lookup_client::LookupClient<tonic::transport::Channel>,
) -> String {
    c.get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .dataset
        .unwrap()
        .content_id
}

#[tokio::test]
async fn reload_on_file_change_and_admin_call_refuses_a_bad_file() {
    let (dir, path, mut recs) = temp_index(500);
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;
    let first = content_id(&mut c).await;

    // A new file renamed over the path is picked up by the poller.
    let extra = sltd_model::Record {
        key: sltd_model::DocumentKey::normalise("UTO", "NEWDOC123").unwrap(),
        ..recs[0]
    };
    recs.push(extra);
    write_index(&path, &recs, now());
    assert!(
        eventually(10, || {
            let mut c = c.clone();
            let first = first.clone();
            async move { content_id(&mut c).await != first }
        })
        .await,
        "new file not picked up"
    );
    let second = content_id(&mut c).await;
    let r = c
        .check(doc("", "NEWDOC123", "UTO", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::Hit);

    // A corrupt replacement is refused; the previous data set keeps serving.
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    let tmp = dir.path().join("corrupt.tmp");
    std::fs::write(&tmp, &bytes).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    assert!(
        eventually(10, || async { server.daemon.last_error().is_some() }).await,
        "corrupt file not noticed"
    );
    assert_eq!(content_id(&mut c).await, second);
    let r = c
        .check(doc("", "NEWDOC123", "UTO", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::Hit);
    let (code, body) = http(server.admin, "POST", "/reload").await;
    assert_eq!(code, 500, "{body}");
    assert!(
        body.contains("refused") && body.contains("checksum"),
        "{body}"
    );
    assert_eq!(http(server.admin, "GET", "/readyz").await.0, 200);

    // A truncated file too.
    std::fs::write(&tmp, &bytes[..mid]).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let (code, body) = http(server.admin, "POST", "/reload").await;
    assert_eq!(code, 500, "{body}");
    assert_eq!(content_id(&mut c).await, second);

    // A good file again, loaded by the admin call (the poller may win the
    // race; either way the admin call then reports no change or a swap).
    write_index(&path, &recs[..recs.len() - 1], now());
    let (code, body) = http(server.admin, "POST", "/reload").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(content_id(&mut c).await, first);
    let r = c
        .check(doc("", "NEWDOC123", "UTO", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::NoHit);
    let (code, body) = http(server.admin, "POST", "/reload").await;
    assert_eq!(code, 200);
    assert!(body.contains("unchanged"), "{body}");

    let (_, metrics) = http(server.admin, "GET", "/metrics").await;
    assert!(
        metrics.contains("sltd_reloads_total{result=\"refused\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sltd_reloads_total{result=\"swapped\"}"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_fails_no_query() {
    let (dir, path, recs) = temp_index(20_000);
    // The second data set has every record of the first plus a few: the
    // queries below have the same answer in both.
    let mut more = recs.clone();
    for i in 0..10 {
        more.push(sltd_model::Record {
            key: sltd_model::DocumentKey::normalise("UTO", &format!("EXTRA{i}")).unwrap(),
            ..recs[0]
        });
    }
    let a = dir.path().join("a.sltd");
    let b = dir.path().join("b.sltd");
    write_index(&a, &recs, now());
    write_index(&b, &more, now());
    let mut config = Config::default();
    config.reload.poll_interval_ms = 20;
    let server = TestServer::start(
        config,
        &path,
        AuditLog::file(&dir.path().join("audit.jsonl")).unwrap(),
    )
    .await;
    let numbers: HashSet<&str> = recs.iter().map(|r| r.key.number.as_str()).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for w in 0..4usize {
        let mut c = server.client().await;
        let stop = Arc::clone(&stop);
        let answered = Arc::clone(&answered);
        let hits: Vec<_> = recs.iter().skip(w).step_by(7).take(500).copied().collect();
        let misses: Vec<String> = (0..500)
            .map(|i| miss_number(w * 1000 + i))
            .filter(|n| !numbers.contains(n.as_str()))
            .collect();
        workers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let (req, want) = if i.is_multiple_of(2) {
                    let r = &hits[i % hits.len()];
                    (
                        doc("", r.key.number.as_str(), r.key.state.as_str(), ""),
                        pb::Verdict::Hit,
                    )
                } else {
                    (
                        doc("", &misses[i % misses.len()], "", ""),
                        pb::Verdict::NoHit,
                    )
                };
                if i.is_multiple_of(10) {
                    // Batches too: one data set per batch, none failing.
                    match c
                        .check_batch(pb::CheckBatchRequest {
                            queries: vec![req.clone(); 50],
                        })
                        .await
                    {
                        Ok(r) => {
                            if r.into_inner().results.iter().any(|x| verdict(x) != want) {
                                failures.push("wrong batch answer".to_string());
                            }
                        }
                        Err(e) => failures.push(format!("batch: {e}")),
                    }
                }
                match c.check(req).await {
                    Ok(r) if verdict(r.get_ref()) == want => {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => failures.push(format!("wrong answer {:?}", r.get_ref().verdict)),
                    Err(e) => failures.push(format!("error: {e}")),
                }
            }
            failures
        }));
    }

    // Swap back and forth: renames picked up by the poller, and admin
    // reloads, while the workers run.
    let mut swaps = 0;
    for round in 0..12 {
        let src = if round % 2 == 0 { &b } else { &a };
        let tmp = dir.path().join("next.tmp");
        std::fs::copy(src, &tmp).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        if round % 3 == 0 {
            let (code, body) = http(server.admin, "POST", "/reload").await;
            assert_eq!(code, 200, "{body}");
        }
        let want_extra = round % 2 == 0;
        let d = Arc::clone(&server.daemon);
        let ok = eventually(10, || {
            let d = Arc::clone(&d);
            async move {
                let extra = sltd_model::Query::number(
                    sltd_model::DocumentNumber::normalise("EXTRA3").unwrap(),
                );
                let mut found = Vec::new();
                if let Some(l) = d.current() {
                    l.dataset.lookup(&extra, &mut found).unwrap();
                }
                found.is_empty() != want_extra
            }
        })
        .await;
        assert!(ok, "round {round}: swap not observed");
        swaps += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for w in workers {
        failures.extend(w.await.unwrap());
    }
    assert_eq!(swaps, 12);
    assert!(
        failures.is_empty(),
        "{} failures, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        answered.load(Ordering::Relaxed) > 100,
        "load too light to mean anything"
    );
    server.stop().await;
}

#[tokio::test]
async fn audit_log_records_hits_only() {
    let (dir, path, recs) = temp_index(1_000);
    let audit_path = dir.path().join("audit.jsonl");
    let server = TestServer::start(
        Config::default(),
        &path,
        AuditLog::file(&audit_path).unwrap(),
    )
    .await;
    let mut c = server.client().await;
    let numbers: HashSet<&str> = recs.iter().map(|r| r.key.number.as_str()).collect();
    let misses: Vec<String> = (0..20)
        .map(|i| format!("MISS{i:06}X"))
        .filter(|n| !numbers.contains(n.as_str()))
        .collect();
    assert_eq!(misses.len(), 20);
    c.check(doc("desk-7/42", "L898902C3", "UTO", "P"))
        .await
        .unwrap();
    for m in &misses[..10] {
        c.check(doc("miss", m, "UTO", "")).await.unwrap();
    }
    c.check(mrz("mrz-1", TD1)).await.unwrap();
    let mut batch: Vec<_> = misses[10..]
        .iter()
        .map(|m| doc("bmiss", m, "", ""))
        .collect();
    batch.push(doc("b-hit", "D23145890", "", ""));
    c.check_batch(pb::CheckBatchRequest { queries: batch })
        .await
        .unwrap();
    let stream = c
        .check_stream(tokio_stream::iter(vec![doc(
            "s-hit",
            "L8988901C",
            "UTO",
            "V",
        )]))
        .await
        .unwrap()
        .into_inner();
    let _: Vec<_> = stream.collect().await;
    let status = c
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    let content = status.dataset.unwrap().content_id;

    let text = std::fs::read_to_string(&audit_path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{text}");
    let first = &lines[0];
    assert_eq!(first["event"], "hit");
    assert_eq!(first["rpc"], "Check");
    assert_eq!(first["request_id"], "desk-7/42");
    assert_eq!(first["query"]["document_number"], "L898902C3");
    assert_eq!(first["query"]["issuing_country"], "UTO");
    assert_eq!(first["query"]["from_mrz"], false);
    assert_eq!(first["matches"][0]["reference"], "UTO-TD3-0001");
    assert_eq!(first["matches"][0]["status"], "stolen");
    assert_eq!(first["dataset"]["content_id"], content.as_str());
    assert_eq!(first["dataset"]["sequence"], 0);
    assert!(first["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(first["client"].is_null());
    assert!(first["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(lines[1]["query"]["from_mrz"], true);
    assert_eq!(lines[1]["query"]["document_number"], "D23145890");
    assert_eq!(lines[2]["rpc"], "CheckBatch");
    assert_eq!(lines[2]["request_id"], "b-hit");
    assert_eq!(lines[3]["rpc"], "CheckStream");
    // No miss, and no name from the MRZ.
    for m in &misses {
        assert!(!text.contains(m.as_str()), "{m} in the audit log");
    }
    assert!(!text.contains("ERIKSSON"));

    let (_, metrics) = http(server.admin, "GET", "/metrics").await;
    assert!(
        metrics.contains("sltd_checks_total{rpc=\"Check\",verdict=\"NoHit\"} 10"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sltd_checks_total{rpc=\"Check\",verdict=\"Hit\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("sltd_checks_total{rpc=\"CheckBatch\",verdict=\"NoHit\"} 10"));
    assert!(metrics.contains("sltd_batch_size_count 1"));
    assert!(metrics.contains("sltd_rpc_duration_seconds_bucket"));
    assert!(metrics.contains("sltd_dataset_records"));
    assert!(metrics.contains("sltd_dataset_age_seconds"));
    assert!(metrics.contains("sltd_serving 1"));
    for m in &misses {
        assert!(!metrics.contains(m.as_str()));
    }
    let (code, body) = http(server.admin, "GET", "/status").await;
    assert_eq!(code, 200);
    assert!(body.contains(&content));
    server.stop().await;
}

mod tls {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

    struct Pki {
        ca_pem: String,
        server_cert: String,
        server_key: String,
        client_cert: String,
        client_key: String,
        other_client_cert: String,
        other_client_key: String,
    }

    fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), Issuer::new(params, key))
    }

    fn leaf(names: Vec<String>, cn: &str, issuer: &Issuer<'_, KeyPair>) -> (String, String) {
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Border Police");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn pki() -> Pki {
        let (ca_pem, issuer) = ca("sltd test CA");
        let (server_cert, server_key) = leaf(vec!["localhost".into()], "sltdd", &issuer);
        let (client_cert, client_key) = leaf(vec![], "border-post-7", &issuer);
        let (_, rogue) = ca("rogue CA");
        let (other_client_cert, other_client_key) = leaf(vec![], "intruder", &rogue);
        Pki {
            ca_pem,
            server_cert,
            server_key,
            client_cert,
            client_key,
            other_client_cert,
            other_client_key,
        }
    }

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
        let pki = pki();
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
        let server =
            TestServer::start(config.clone(), &path, AuditLog::writer(std::io::sink())).await;
        let r = try_check(connect(server.addr, &pki.ca_pem, None).await)
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
        config.tls.client_ca = Some(w("clients-ca.crt", &pki.ca_pem));
        let audit_path = dir.path().join("audit.jsonl");
        let server = TestServer::start(config, &path, AuditLog::file(&audit_path).unwrap()).await;
        let no_cert = try_check(connect(server.addr, &pki.ca_pem, None).await).await;
        assert!(
            no_cert.is_err(),
            "a client without a certificate must be refused"
        );
        let wrong_ca = try_check(
            connect(
                server.addr,
                &pki.ca_pem,
                Some((&pki.other_client_cert, &pki.other_client_key)),
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
                &pki.ca_pem,
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
        assert!(client.contains("CN=border-post-7"), "{client}");
        assert!(client.contains("O=Border Police"), "{client}");
        server.stop().await;
    }
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
