//! The index from the command line: generate an export, build, query (exit
//! 0 hit, 1 no hit, 2 error), inspect, and verify a corrupted copy.

use sltd_testkit::fixtures::{TD3, miss_number};

use crate::common::{arg, programs};

#[test]
fn an_index_is_built_queried_inspected_and_verified() {
    let sltd = &programs().sltd;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("export.csv");
    let idx = dir.path().join("sltd.idx");
    sltd.run([
        "gen",
        "--records",
        "3000",
        "--seed",
        "5",
        "--output",
        arg(&csv),
    ])
    .success();
    sltd.run([
        "index",
        "build",
        "--input",
        arg(&csv),
        "--output",
        arg(&idx),
        "--quiet",
    ])
    .success();
    let query = |extra: &[&str]| {
        let mut args = vec!["index", "query", "--index", arg(&idx)];
        args.extend_from_slice(extra);
        sltd.run(&args)
    };

    let hit = query(&["--number", "L898902C3", "--country", "UTO"]).expect_code(0);
    assert!(hit.stdout.contains("HIT"), "{hit}");
    let v = query(&["--number", "l898 902-c3", "--type", "PD", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(v["verdict"], "HIT");
    assert_eq!(v["matches"][0]["document_number"], "L898902C3");
    let mrz = query(&["--mrz", TD3]).expect_code(0);
    assert!(mrz.stdout.contains("TD3"), "{mrz}");
    let miss = query(&["--number", &miss_number(1)]).expect_code(1);
    assert!(miss.stdout.contains("NO HIT"), "{miss}");
    let bad = query(&["--number", "L89.8"]).expect_code(2);
    assert!(bad.stderr.contains("--number"), "{bad}");

    let inspect = sltd
        .run(["index", "inspect", arg(&idx), "--json"])
        .success()
        .json();
    let records = inspect["record_count"].as_u64().unwrap();
    assert!(records > 2_900 && records <= 3_000, "{inspect}");
    sltd.run(["index", "verify", arg(&idx)]).success();

    // A corrupted copy fails verification; the original is untouched.
    let mut bytes = std::fs::read(&idx).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 0x40;
    let corrupt = dir.path().join("corrupt.idx");
    std::fs::write(&corrupt, &bytes).unwrap();
    let v = sltd.run(["index", "verify", arg(&corrupt)]).expect_code(2);
    assert!(v.stderr.contains("corrupt"), "{v}");
    sltd.run(["index", "verify", arg(&idx)]).success();
    // A truncated one cannot even be opened for a query.
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&corrupt, &bytes).unwrap();
    sltd.run([
        "index",
        "query",
        "--index",
        arg(&corrupt),
        "--number",
        "L898902C3",
    ])
    .expect_code(2);
}
