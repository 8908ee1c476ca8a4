//! Country codes and possible matches as a user of the command line meets
//! them: `sltd index build`, `sltd feed publish`, `sltd index query` and
//! `sltd check` (against a daemon started here on 127.0.0.1:0). Every
//! wrong code is mapped or refused with exit status 2, never a silent NO HIT;
//! possible matches print apart from hits and exit 3.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use sltd_server::{AuditLog, Config, Daemon, IndexFileSource};

const SLTD: &str = env!("CARGO_BIN_EXE_sltd");

fn sltd(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(SLTD).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

const TD3: &str =
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10";

/// An export with a German passport under `D`, a withdrawn code, an ISO
/// code in place of an ICAO one, and a specimen.
const EXPORT: &str = "issuing_country,document_type,document_number,status,reported_on,reference
D,P,C01X00T47,stolen,2024-01-02,BKA-1
YUG,P,AB123456,lost,1990-05-06,old
DEU,P,ZZ999999,stolen,2024-01-02,
FRA,P,L898902C3,lost,2023-03-04,
UTO,P,L898902C3,stolen,2024-03-14,UTO-TD3-0001
";

struct Built {
    dir: tempfile::TempDir,
    csv: std::path::PathBuf,
    index: std::path::PathBuf,
}

fn built() -> Built {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("export.csv");
    std::fs::write(&csv, EXPORT).unwrap();
    let index = dir.path().join("sltd.idx");
    let (code, _, err) = sltd(&["index", "build", "-i", p(&csv), "-o", p(&index)]);
    assert_eq!(code, 0, "{err}");
    // Counted and reported, loaded as they are.
    assert!(
        err.contains("2 row(s) have an issuing country that is not an ICAO 9303 code"),
        "{err}"
    );
    assert!(err.contains("YUG: 1 row, first on line 3"), "{err}");
    assert!(
        err.contains("DEU: 1 row, first on line 4 (ISO 3166-1 code of Germany; ICAO code D)"),
        "{err}"
    );
    Built { dir, csv, index }
}

#[test]
fn build_and_publish_count_unknown_countries_and_can_refuse_them() {
    let b = built();
    let strict = b.dir.path().join("strict.idx");
    let (code, _, err) = sltd(&[
        "index",
        "build",
        "-i",
        p(&b.csv),
        "-o",
        p(&strict),
        "--refuse-unknown-countries",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert!(!strict.exists());

    // The feed publisher reads the export through the same statistics.
    let feed = b.dir.path().join("feed");
    let key = b.dir.path().join("feed.key");
    let (r1, r2) = (
        b.dir.path().join("root-1.key"),
        b.dir.path().join("root-2.key"),
    );
    for k in [&key, &r1, &r2] {
        let (code, _, err) = sltd(&["feed", "keygen", "--output", p(k)]);
        assert_eq!(code, 0, "{err}");
    }
    let (code, _, err) = sltd(&[
        "feed",
        "init",
        "--dir",
        p(&feed),
        "--key",
        p(&key),
        "--root-key",
        p(&r1),
        "--root-key",
        p(&r2),
        "--name",
        "test",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = sltd(&[
        "feed",
        "publish",
        "--dir",
        p(&feed),
        "--key",
        p(&key),
        "--input",
        p(&b.csv),
        "--refuse-unknown-countries",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nothing was published"), "{err}");
    assert!(err.contains("YUG: 1 row"), "{err}");
    let (code, out, err) = sltd(&[
        "feed",
        "publish",
        "--dir",
        p(&feed),
        "--key",
        p(&key),
        "--input",
        p(&b.csv),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("5 records"), "{out}");
    assert!(err.contains("DEU: 1 row"), "{err}");
}

#[test]
fn index_query_country_codes() {
    let b = built();
    let idx = p(&b.index);
    let q = |country: &str| {
        sltd(&[
            "index",
            "query",
            "--index",
            idx,
            "--number",
            "C01X00T47",
            "--country",
            country,
        ])
    };
    for given in ["DE", "DEU", "deu"] {
        let (code, out, err) = q(given);
        assert_eq!(code, 0, "{given}: {out}{err}");
        assert!(
            out.contains("is the ISO 3166-1 code of Germany; checked as its ICAO 9303 code D"),
            "{out}"
        );
        assert!(out.contains("HIT  number C01X00T47, state D"), "{out}");
    }
    let (code, out, err) = q("GERMANY");
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("did you mean D (Germany)?"), "{err}");
    let (code, _, err) = q("XYZ");
    assert_eq!(code, 2);
    assert!(err.contains("\"XYZ\" is not an ICAO 9303"), "{err}");
    // A code only the data has: used, and said so.
    let (code, out, _) = sltd(&[
        "index",
        "query",
        "--index",
        idx,
        "--number",
        "AB123456",
        "--country",
        "YUG",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("YUG is not an ICAO 9303 code, but records in the data set carry it"));
    // This export carries DEU too: a query for DEU answers from both D and
    // DEU, and says so.
    let (code, out, _) = q("DEU");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("and as DEU too, which records in the data set carry"),
        "{out}"
    );
    let (code, out, _) = sltd(&[
        "index",
        "query",
        "--index",
        idx,
        "--number",
        "ZZ999999",
        "--country",
        "DEU",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("DEU ZZ999999"), "{out}");
    // A query for D finds the DEU record among the possible matches.
    let (code, out, _) = sltd(&[
        "index",
        "query",
        "--index",
        idx,
        "--number",
        "ZZ999999",
        "--country",
        "D",
    ]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("listed under DEU, not D"), "{out}");
}

#[test]
fn index_query_possible_matches_exit_3_and_print_apart() {
    let b = built();
    let idx = p(&b.index);
    let (code, out, _) = sltd(&[
        "index",
        "query",
        "--index",
        idx,
        "--number",
        "C01XO0T47",
        "--country",
        "D",
    ]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("NO HIT  number C01XO0T47, state D: not listed"),
        "{out}"
    );
    assert!(
        out.contains("POSSIBLE MATCHES  1 listed record is close to this document (NOT a hit)")
    );
    assert!(
        out.contains("C01X00T47") && out.contains("position 5: O in the query, 0 in the record")
    );
    assert!(!out.contains("\nHIT"), "{out}");
    let (code, out, _) = sltd(&[
        "index",
        "query",
        "--index",
        idx,
        "--number",
        "C01XO0T47",
        "--country",
        "D",
        "--no-possible-matches",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(!out.contains("POSSIBLE"));
    // JSON: the verdict stays NO_HIT; possible matches in their own field.
    let (code, out, _) = sltd(&[
        "index",
        "query",
        "--index",
        idx,
        "--number",
        "C01XO0T47",
        "--json",
    ]);
    assert_eq!(code, 3);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"], "NO_HIT");
    assert_eq!(v["matches"].as_array().unwrap().len(), 0);
    assert_eq!(v["possible_matches"][0]["reason"], "confusable_character");
    assert_eq!(v["possible_matches"][0]["position"], 5);
    // A misread MRZ: the fix for the failed check digit first.
    let misread = TD3.replacen("L898902C36", "L89B902C36", 1);
    let (code, out, _) = sltd(&[
        "index", "query", "--index", idx, "--mrz", &misread, "--json",
    ]);
    assert_eq!(code, 3, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["possible_matches"][0]["fixes_check_digit"], true);
    assert_eq!(v["possible_matches"][0]["record"]["issuing_country"], "UTO");
    // Lower-case MRZ text: read, and said so.
    let (code, out, _) = sltd(&[
        "index",
        "query",
        "--index",
        idx,
        "--mrz",
        &TD3.to_lowercase(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("read as upper case"), "{out}");
}

#[test]
fn check_without_a_query_names_all_three_ways() {
    let (code, _, err) = sltd(&["check"]);
    assert_eq!(code, 2);
    for way in ["--number", "--mrz", "--batch-file"] {
        assert!(err.contains(way), "{way} not in {err}");
    }
}

#[test]
fn check_against_a_daemon() {
    let b = built();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let daemon = Daemon::new(
            Config::default(),
            Arc::new(IndexFileSource::new(&b.index)),
            AuditLog::writer(std::io::sink()),
        );
        let d = Arc::clone(&daemon);
        tokio::spawn(sltd_server::run(d, listener, None, std::future::pending()));
        tokio::time::timeout(Duration::from_secs(30), daemon.wait_serving())
            .await
            .unwrap();
        addr
    });
    let server = format!("http://{addr}");
    let s = server.as_str();
    let check = |number: &str, country: &str| {
        sltd(&[
            "check",
            "--server",
            s,
            "--number",
            number,
            "--country",
            country,
        ])
    };
    for given in ["DE", "DEU"] {
        let (code, out, err) = check("C01X00T47", given);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("checked as its ICAO 9303 code D"), "{out}");
        assert!(out.contains("HIT  1 record"), "{out}");
    }
    let (code, _, err) = check("C01X00T47", "GERMANY");
    assert_eq!(code, 2);
    assert!(err.contains("did you mean D (Germany)?"), "{err}");
    let (code, _, err) = check("C01X00T47", "XYZ");
    assert_eq!(code, 2);
    assert!(err.contains("XYZ"), "{err}");
    let (code, out, _) = check("AB123456", "YUG");
    assert_eq!(code, 0, "{out}");
    // A typo: NO HIT with possible matches, exit 3.
    let (code, out, _) = check("C01XO0T47", "D");
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("NO HIT  not listed"), "{out}");
    assert!(out.contains("POSSIBLE MATCHES  1 listed record"), "{out}");
    let (code, _, _) = sltd(&[
        "check",
        "--server",
        s,
        "--number",
        "C01XO0T47",
        "--country",
        "D",
        "--no-possible-matches",
    ]);
    assert_eq!(code, 1);
    // A batch file: off by default, on when asked.
    let batch = b.dir.path().join("batch.csv");
    std::fs::write(
        &batch,
        "document_number,issuing_country\nC01XO0T47,D\nQQQ111,FRA\n",
    )
    .unwrap();
    let (code, out, _) = sltd(&["check", "--server", s, "--batch-file", p(&batch)]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("0 no hit with possible matches"), "{out}");
    let (code, out, _) = sltd(&[
        "check",
        "--server",
        s,
        "--batch-file",
        p(&batch),
        "--possible-matches",
    ]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("line 2: NO HIT"), "{out}");
    assert!(out.contains("1 no hit with possible matches"), "{out}");
    let (code, out, _) = sltd(&[
        "check",
        "--server",
        s,
        "--json",
        "--mrz",
        &TD3.to_lowercase(),
    ]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["mrz"]["upper_cased"], true);
}
