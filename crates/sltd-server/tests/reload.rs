//! Hot reload: a file renamed over the index is picked up, a corrupt or
//! truncated one is refused while the old data keeps serving, and swaps
//! under load fail no query.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use sltd_proto::v1 as pb;
use sltd_server::{AuditLog, Config};

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
