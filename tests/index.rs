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

#[test]
fn a_reader_that_stops_early_ends_sltd_quietly_with_status_141() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    // `sltd gen ... | head -1`: the reader closes the pipe after one line.
    let mut child = programs()
        .sltd
        .command(["gen", "--records", "500000", "--output", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("issuing_country,"), "{first}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert!(stderr.is_empty(), "nothing to report: {stderr}");
}

#[test]
fn output_through_a_symbolic_link_or_into_a_fifo_keeps_the_path_what_it_was() {
    use std::os::unix::fs::FileTypeExt;
    let sltd = &programs().sltd;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("export.csv");
    sltd.run(["gen", "--records", "100", "--output", arg(&csv)])
        .success();

    // A link: its target is replaced, the link stays a link.
    let target = dir.path().join("target.idx");
    let link = dir.path().join("current.idx");
    std::fs::write(&target, b"old").unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    sltd.run([
        "index",
        "build",
        "--input",
        arg(&csv),
        "--output",
        arg(&link),
        "--quiet",
    ])
    .success();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    sltd.run(["index", "verify", arg(&target)]).success();

    // A FIFO (as /dev/stdout or a process substitution would be): written
    // into, not replaced by a regular file.
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(&fifo).unwrap())
    };
    sltd.run(["gen", "--records", "100", "--output", arg(&fifo)])
        .success();
    let bytes = reader.join().unwrap();
    assert_eq!(bytes, std::fs::read(&csv).unwrap());
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
}
