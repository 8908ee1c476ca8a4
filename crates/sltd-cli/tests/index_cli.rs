//! The `sltd gen` and `sltd index` commands as a user runs them: exit
//! statuses, messages, and files on disk.

use std::path::{Path, PathBuf};

use sltd_testkit::fixtures::TD3;
use sltd_testkit::process::{Program, Run};

fn sltd(args: &[&str]) -> Run {
    Program::at(env!("CARGO_BIN_EXE_sltd")).run(args)
}

fn stdout(o: &Run) -> String {
    o.stdout.clone()
}

fn stderr(o: &Run) -> String {
    o.stderr.clone()
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

struct Fixture {
    _dir: tempfile::TempDir,
    csv: PathBuf,
    index: PathBuf,
}

fn built(records: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("export.csv");
    let index = dir.path().join("sltd.idx");
    let o = sltd(&[
        "gen",
        "--records",
        records,
        "--seed",
        "3",
        "--output",
        p(&csv),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = sltd(&[
        "index",
        "build",
        "--input",
        p(&csv),
        "--output",
        p(&index),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    Fixture {
        _dir: dir,
        csv,
        index,
    }
}

#[test]
fn query_exit_statuses_follow_grep() {
    let f = built("2000");
    let idx = p(&f.index);
    let hit = sltd(&["index", "query", "--index", idx, "--number", "L898902C3"]);
    assert_eq!(hit.status.code(), Some(0), "{}", stderr(&hit));
    assert!(stdout(&hit).contains("HIT"));
    assert!(stdout(&hit).contains("STOLEN"));

    let typed = sltd(&[
        "index",
        "query",
        "--index",
        idx,
        "--number",
        "l898 902-c3",
        "--country",
        "uto",
        "--type",
        "PD",
    ]);
    assert_eq!(typed.status.code(), Some(0));

    let wrong_type = sltd(&[
        "index",
        "query",
        "--index",
        idx,
        "--number",
        "L898902C3",
        "--type",
        "V",
    ]);
    assert_eq!(wrong_type.status.code(), Some(1));

    let miss = sltd(&["index", "query", "--index", idx, "--number", "L898902C4"]);
    assert_eq!(miss.status.code(), Some(1));
    assert!(stdout(&miss).contains("NO HIT"));

    let bad = sltd(&["index", "query", "--index", idx, "--number", "L89.8"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--number"), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("'.'"), "{}", stderr(&bad));

    let missing = sltd(&[
        "index",
        "query",
        "--index",
        "/nonexistent/x.idx",
        "--number",
        "A1",
    ]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn json_answers_carry_the_record_and_the_data_set() {
    let f = built("500");
    let o = sltd(&[
        "index",
        "query",
        "--index",
        p(&f.index),
        "--number",
        "D23145890",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["verdict"], "HIT");
    assert_eq!(v["matches"][0]["issuing_country"], "UTO");
    assert_eq!(v["matches"][0]["document_number"], "D23145890");
    assert_eq!(v["matches"][0]["status"], "lost");
    assert!(v["dataset"]["record_count"].as_u64().unwrap() > 400);
    assert_eq!(v["dataset"]["content_id"].as_str().unwrap().len(), 32);
}

#[test]
fn mrz_queries_show_fields_and_check_digits() {
    let f = built("500");
    let td3 = TD3;
    let o = sltd(&["index", "query", "--index", p(&f.index), "--mrz", td3]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("TD3"), "{out}");
    assert!(out.contains("document_number"), "{out}");
    assert!(!out.contains("FAILED"), "{out}");

    // A wrong number check digit is reported and the lookup still runs.
    let bad_digit = td3.replace("L898902C36", "L898902C35");
    let o = sltd(&[
        "index",
        "query",
        "--index",
        p(&f.index),
        "--mrz",
        &bad_digit,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["mrz"]["all_check_digits_valid"], false);
    assert_eq!(v["verdict"], "HIT");

    // The TD1 specimen is the ID card D23145890 (type I).
    let td1 = "I<UTOD231458907<<<<<<<<<<<<<<<7408122F1204159UTO<<<<<<<<<<<6ERIKSSON<<ANNA<MARIA<<<<<<<<<<";
    let o = sltd(&["index", "query", "--index", p(&f.index), "--mrz", td1]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let not_mrz = sltd(&[
        "index",
        "query",
        "--index",
        p(&f.index),
        "--mrz",
        "hello world",
    ]);
    assert_eq!(not_mrz.status.code(), Some(2));
    assert!(stderr(&not_mrz).contains("--mrz"));
}

#[test]
fn bad_rows_name_their_line_and_fail_the_build_unless_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bad.csv");
    let index = dir.path().join("out.idx");
    std::fs::write(
        &csv,
        "issuing_country,document_type,document_number,status,reported_on,reference\n\
         UTO,P,L898902C3,stolen,2024-01-02,R1\n\
         UTO,P,AB.12,stolen,2024-01-02,R2\n\
         D,P,C01X00T47,misplaced,2024-01-02,R3\n\
         FRA,P,12AB34567,lost,2024-02-30,R4\n\
         GBR,P,123456789,lost,2024-02-03,\n",
    )
    .unwrap();
    let o = sltd(&["index", "build", "--input", p(&csv), "--output", p(&index)]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("line 4"), "{err}");
    assert!(err.contains("line 5"), "{err}");
    assert!(err.contains("document_number"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert!(!index.exists(), "a failed build must not leave a file");

    let o = sltd(&[
        "index",
        "build",
        "--input",
        p(&csv),
        "--output",
        p(&index),
        "--skip-invalid",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("3 bad rows skipped"), "{}", stderr(&o));
    let v = sltd(&["index", "verify", p(&index)]);
    assert_eq!(v.status.code(), Some(0));
    let o = sltd(&["index", "inspect", p(&index), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["record_count"], 2);
}

#[test]
fn a_bad_header_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, "country,number\nUTO,L898902C3\n").unwrap();
    let o = sltd(&[
        "index",
        "build",
        "--input",
        p(&csv),
        "--output",
        p(&dir.path().join("x.idx")),
        "--skip-invalid",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("header"), "{}", stderr(&o));
}

#[test]
fn verify_reports_corruption_and_inspect_reports_sizes() {
    let f = built("3000");
    let o = sltd(&["index", "inspect", p(&f.index), "--json"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let bpr = v["bytes_per_record"].as_f64().unwrap();
    assert!(bpr > 10.0 && bpr < 40.0, "bytes per record {bpr}");
    assert_eq!(
        sltd(&["index", "verify", p(&f.index)]).status.code(),
        Some(0)
    );

    let mut bytes = std::fs::read(&f.index).unwrap();
    let last = bytes.len() - 100;
    bytes[last] ^= 0x40;
    std::fs::write(&f.index, &bytes).unwrap();
    let o = sltd(&["index", "verify", p(&f.index)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("corrupt"), "{}", stderr(&o));

    bytes.truncate(bytes.len() - 1);
    std::fs::write(&f.index, &bytes).unwrap();
    let o = sltd(&["index", "query", "--index", p(&f.index), "--number", "A1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("truncated"), "{}", stderr(&o));
}

#[test]
fn gen_is_deterministic_and_builds_are_reproducible() {
    let a = built("1500");
    let b = built("1500");
    assert_eq!(
        std::fs::read(&a.csv).unwrap(),
        std::fs::read(&b.csv).unwrap()
    );
    let csv = std::fs::read_to_string(&a.csv).unwrap();
    assert!(csv.starts_with(
        "issuing_country,document_type,document_number,status,reported_on,reference\n"
    ));
    for specimen in ["L898902C3", "D23145890", "L8988901C", "L898902C,"] {
        assert!(csv.contains(specimen), "{specimen}");
    }
    // Same records and creation time: same bytes.
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.idx");
    let y = dir.path().join("y.idx");
    for out in [&x, &y] {
        let o = sltd(&[
            "index",
            "build",
            "--input",
            p(&a.csv),
            "--output",
            p(out),
            "--quiet",
            "--created-at",
            "1700000000",
        ]);
        assert!(o.status.success());
    }
    assert_eq!(std::fs::read(&x).unwrap(), std::fs::read(&y).unwrap());
}
