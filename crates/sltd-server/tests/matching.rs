//! Matching an officer can trust, over real gRPC on 127.0.0.1:0: a wrong
//! issuing-country code is mapped or refused, never a silent NO_HIT; a
//! number with one misread character, or listed under another country,
//! comes back as a possible match beside NO_HIT, never as a hit, and is
//! counted and audited as such; MRZ text in lower case is read.

mod common;

use common::*;
use sltd_model::{DocumentKey, Record};
use sltd_proto::v1 as pb;
use sltd_server::{AuditLog, Config};
use tokio_stream::StreamExt;
use tonic::Code;

const TD3: &str =
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10";

fn verdict(r: &pb::CheckResponse) -> pb::Verdict {
    pb::Verdict::try_from(r.verdict).unwrap()
}

fn with_pm(mut req: pb::CheckRequest, on: Option<bool>) -> pb::CheckRequest {
    req.include_possible_matches = on;
    req
}

/// The specimens, some generated records, and the records these tests are
/// about: a German passport listed under `D`, a record under a withdrawn
/// code, and a French record with a specimen's number.
fn listed() -> Vec<Record> {
    let mut recs = records(300);
    let base = recs[0];
    for (state, number) in [
        ("D", "C01X00T47"),
        ("YUG", "AB123456"),
        ("FRA", "L898902C3"),
        ("DEU", "ZZ999999"),
        ("FRA", "C01X00T47"),
    ] {
        recs.push(Record {
            key: DocumentKey::normalise(state, number).unwrap(),
            ..base
        });
    }
    recs
}

fn start_index(recs: &[Record]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.sltd");
    write_index(&path, recs, now());
    (dir, path)
}

#[tokio::test]
async fn wrong_country_codes_are_mapped_or_refused_never_missed() {
    let (_dir, path) = start_index(&listed());
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;

    // ISO 3166-1 alpha-2 and alpha-3 for Germany: checked as D, and said so.
    for given in ["DE", "DEU", "de", "DEU<"] {
        let r = c
            .check(doc("iso", "C01X00T47", given, ""))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(verdict(&r), pb::Verdict::Hit, "{given}");
        assert_eq!(r.matches[0].issuing_country, "D");
        let note = r.issuing_country_note.expect("note for a mapped code");
        assert_eq!(note.kind, pb::IssuingCountryNoteKind::IsoCodeMapped as i32);
        assert_eq!(note.used, "D");
        assert_eq!(note.name, "Germany");
        assert!(note.explanation.contains("ICAO 9303 code D"), "{note:?}");
    }
    // The ICAO code itself: no note.
    let r = c
        .check(doc("icao", "C01X00T47", "D<<", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::Hit);
    assert!(r.issuing_country_note.is_none());

    // A name: refused, with the code meant.
    let err = c
        .check(doc("name", "C01X00T47", "GERMANY", ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().starts_with("document.issuing_country")
            && err.message().contains("did you mean D (Germany)?"),
        "{}",
        err.message()
    );
    // A code that is nothing: refused, naming it.
    let err = c
        .check(doc("xyz", "C01X00T47", "XYZ", ""))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("\"XYZ\""), "{}", err.message());
    // A code only the data carries: used as given, and said so.
    let r = c
        .check(doc("yug", "AB123456", "YUG", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::Hit);
    let note = r.issuing_country_note.unwrap();
    assert_eq!(
        note.kind,
        pb::IssuingCountryNoteKind::FoundOnlyInData as i32
    );
    assert_eq!((note.given.as_str(), note.used.as_str()), ("YUG", "YUG"));

    // An export that used DEU for some records: DEU answers from both.
    let r = c
        .check(doc("both", "ZZ999999", "DEU", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::Hit);
    assert_eq!(r.matches[0].issuing_country, "DEU");
    let note = r.issuing_country_note.unwrap();
    assert!(note.given_also_used, "{note:?}");
    assert_eq!(note.used, "D");
    // ... and the D record with the same query, not the FRA one.
    let r = c
        .check(doc("both-d", "C01X00T47", "DEU", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::Hit);
    assert_eq!(r.matches.len(), 1);
    assert_eq!(r.matches[0].issuing_country, "D");

    // In a batch, a bad code is one INVALID_QUERY item; the rest answer.
    let resp = c
        .check_batch(pb::CheckBatchRequest {
            queries: vec![
                doc("0", "C01X00T47", "DEU", ""),
                doc("1", "C01X00T47", "XYZ", ""),
                doc("2", "C01X00T47", "GERMANY", ""),
                doc("3", "AB123456", "YUG", ""),
                doc("4", "ZZ999999", "DEU", ""),
                doc("5", "L898902C3", "DEU", ""),
            ],
        })
        .await
        .unwrap()
        .into_inner();
    let verdicts: Vec<_> = resp.results.iter().map(verdict).collect();
    assert_eq!(
        verdicts,
        [
            pb::Verdict::Hit,
            pb::Verdict::InvalidQuery,
            pb::Verdict::InvalidQuery,
            pb::Verdict::Hit,
            pb::Verdict::Hit,
            pb::Verdict::NoHit,
        ]
    );
    assert_eq!(resp.results[4].matches[0].issuing_country, "DEU");
    assert!(resp.results[1].error.contains("XYZ"));
    assert!(resp.results[2].error.contains("did you mean D (Germany)?"));
    assert!(resp.results[0].issuing_country_note.is_some());
    server.stop().await;
}

#[tokio::test]
async fn possible_matches_beside_no_hit_never_as_hits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.sltd");
    write_index(&path, &listed(), now());
    let audit_path = dir.path().join("audit.jsonl");
    let server = TestServer::start(
        Config::default(),
        &path,
        AuditLog::file(&audit_path).unwrap(),
    )
    .await;
    let mut c = server.client().await;

    // One confusable character typed: NO_HIT, and the record offered.
    let r = c
        .check(doc("typo", "C01XO0T47", "D", "P"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::NoHit);
    assert!(r.matches.is_empty());
    assert_eq!(r.possible_matches.len(), 1, "{:?}", r.possible_matches);
    let p = &r.possible_matches[0];
    assert_eq!(
        p.reason,
        pb::PossibleMatchReason::ConfusableCharacter as i32
    );
    assert_eq!(p.position, 5);
    assert_eq!(
        (p.query_character.as_str(), p.record_character.as_str()),
        ("O", "0")
    );
    assert!(!p.fixes_check_digit);
    let rec = p.record.as_ref().unwrap();
    assert_eq!(
        (rec.issuing_country.as_str(), rec.document_number.as_str()),
        ("D", "C01X00T47")
    );
    assert_eq!(p.explanation, "position 5: O in the query, 0 in the record");

    // Asked not to: nothing offered.
    let r = c
        .check(with_pm(doc("off", "C01XO0T47", "D", ""), Some(false)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::NoHit);
    assert!(r.possible_matches.is_empty());

    // The number under another country: offered, with both states named.
    let r = c
        .check(doc("state", "C01X00T47", "GBR", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::NoHit);
    assert_eq!(r.possible_matches.len(), 2);
    let p = &r.possible_matches[0];
    assert_eq!(
        p.reason,
        pb::PossibleMatchReason::OtherIssuingCountry as i32
    );
    assert_eq!(p.explanation, "listed under D, not GBR");
    assert_eq!(
        r.possible_matches[1].explanation,
        "listed under FRA, not GBR"
    );

    // An MRZ whose number has one misread character: the check digit fails,
    // and the specimen that makes it right comes first, marked.
    let misread = TD3.replacen("L898902C36", "L89B902C36", 1);
    let r = c
        .check(mrz("mrz-typo", &misread))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::NoHit);
    let m = r.mrz.as_ref().unwrap();
    assert!(!m.check_digits_valid);
    let first = &r.possible_matches[0];
    assert!(first.fixes_check_digit, "{:?}", r.possible_matches);
    assert_eq!(first.record.as_ref().unwrap().document_number, "L898902C3");
    assert_eq!(first.record.as_ref().unwrap().issuing_country, "UTO");

    // A hit carries no possible matches, even when there would be some.
    let r = c
        .check(doc("hit", "L898902C3", "UTO", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::Hit);
    assert!(r.possible_matches.is_empty());

    // Batch: off unless asked, per item.
    let resp = c
        .check_batch(pb::CheckBatchRequest {
            queries: vec![
                doc("b0", "C01XO0T47", "D", ""),
                with_pm(doc("b1", "C01XO0T47", "D", ""), Some(true)),
            ],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        resp.results
            .iter()
            .all(|r| verdict(r) == pb::Verdict::NoHit)
    );
    assert!(resp.results[0].possible_matches.is_empty());
    assert_eq!(resp.results[1].possible_matches.len(), 1);

    // Stream: the same.
    let out: Vec<_> = c
        .check_stream(tokio_stream::iter(vec![
            doc("s0", "C01XO0T47", "D", ""),
            with_pm(doc("s1", "C01XO0T47", "D", ""), Some(true)),
        ]))
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    let out: Vec<pb::CheckResponse> = out.into_iter().map(Result::unwrap).collect();
    assert!(out.iter().all(|r| verdict(r) == pb::Verdict::NoHit));
    assert!(out[0].possible_matches.is_empty());
    assert_eq!(out[1].possible_matches.len(), 1);

    // Metrics: possible matches counted apart; hits only the real one.
    let (_, metrics) = http(server.admin, "GET", "/metrics").await;
    for line in [
        "sltd_checks_total{rpc=\"Check\",verdict=\"HIT\"} 1",
        "sltd_checks_total{rpc=\"Check\",verdict=\"NO_HIT\"} 4",
        "sltd_possible_match_checks_total{rpc=\"Check\"} 3",
        "sltd_possible_match_checks_total{rpc=\"CheckBatch\"} 1",
        "sltd_possible_match_checks_total{rpc=\"CheckStream\"} 1",
        "sltd_checks_total{rpc=\"CheckBatch\",verdict=\"NO_HIT\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
    assert!(!metrics.contains("verdict=\"HIT\"} 2"), "{metrics}");

    // Audit: one hit event, the possible matches as their own events.
    let text = std::fs::read_to_string(&audit_path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["event"].as_str().unwrap(),
                l["request_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("possible_match", "typo"),
            ("possible_match", "state"),
            ("possible_match", "mrz-typo"),
            ("hit", "hit"),
            ("possible_match", "b1"),
            ("possible_match", "s1"),
        ],
        "{text}"
    );
    let typo = &lines[0];
    assert_eq!(typo["matches"].as_array().unwrap().len(), 0);
    assert_eq!(typo["possible_matches"][0]["document_number"], "C01X00T47");
    assert_eq!(
        typo["possible_matches"][0]["reason"],
        "confusable_character"
    );
    assert!(lines[3].get("possible_matches").is_none(), "{}", lines[3]);
    // A plain miss is still never written.
    assert!(!text.contains("\"off\""));
    server.stop().await;
}

#[tokio::test]
async fn lower_case_mrz_is_read_and_said_so() {
    let (_dir, path) = start_index(&listed());
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;
    let r = c
        .check(mrz("lc", &TD3.to_lowercase()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::Hit);
    assert!(r.mrz.as_ref().unwrap().upper_cased);
    let r = c.check(mrz("uc", TD3)).await.unwrap().into_inner();
    assert!(!r.mrz.as_ref().unwrap().upper_cased);
    server.stop().await;
}

#[tokio::test]
async fn states_present_follow_the_data_set_across_reloads() {
    let recs = records(200);
    let (_dir, path) = start_index(&recs);
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;
    let err = c.check(doc("", "AB123456", "YUG", "")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // The next data set carries YUG: now a usable code.
    let mut more = recs.clone();
    more.push(Record {
        key: DocumentKey::normalise("YUG", "AB123456").unwrap(),
        ..recs[0]
    });
    write_index(&path, &more, now());
    let (code, body) = http(server.admin, "POST", "/reload").await;
    assert_eq!(code, 200, "{body}");
    let r = c
        .check(doc("", "AB123456", "YUG", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::Hit);

    // And back: without it, refused again.
    write_index(&path, &recs, now());
    let (code, body) = http(server.admin, "POST", "/reload").await;
    assert_eq!(code, 200, "{body}");
    let err = c.check(doc("", "AB123456", "YUG", "")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    server.stop().await;
}
