//! The audit trail and the metrics: every hit is one JSON line naming the
//! query, the record and the data set; misses are counted and never logged.

mod common;

use std::collections::HashSet;

use common::*;
use sltd_proto::v1 as pb;
use sltd_server::{AuditLog, Config};
use tokio_stream::StreamExt;

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
        metrics.contains("sltd_checks_total{rpc=\"Check\",verdict=\"NO_HIT\"} 10"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sltd_checks_total{rpc=\"Check\",verdict=\"HIT\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("sltd_checks_total{rpc=\"CheckBatch\",verdict=\"NO_HIT\"} 10"));
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
    // Times in RFC 3339, as everywhere else; an index file has no sync.
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    for field in [
        &v["now"],
        &v["dataset"]["as_of"],
        &v["dataset"]["loaded_at"],
    ] {
        let t = field.as_str().unwrap_or_else(|| panic!("{field} in {v}"));
        assert!(humantime::parse_rfc3339(t).is_ok(), "{t}");
    }
    assert_eq!(v["dataset"]["freshness"], "FRESH");
    assert!(v["sync"].is_null(), "{v}");
    assert!(v["recent"]["checks"].as_u64().unwrap() >= 12, "{v}");
    server.stop().await;
}
