//! The README's first command: `sltdd --demo` builds its demo data set,
//! prints where it serves, and `sltd check` asks it.

use sltd_testkit::READY_TIMEOUT;
use sltd_testkit::fixtures::{TD3, miss_number};
use sltd_testkit::http;
use sltd_testkit::process::Stream;

use crate::common::{CLIENT_TIMEOUT, programs};

#[test]
fn the_demo_prints_its_address_and_answers_sltd_check() {
    let p = programs();
    let demo = p.sltdd.spawn([
        "--demo",
        "--demo-records",
        "2000",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
    ]);
    // "sltdd demo: serving N records on ADDR (gRPC, plaintext)." once the
    // data is served.
    let (records, grpc) = demo.wait_for_line(
        Stream::Stdout,
        READY_TIMEOUT,
        "the demo's serving line",
        |line| {
            let rest = line.strip_prefix("sltdd demo: serving ")?;
            let (records, rest) = rest.split_once(" records on ")?;
            let (addr, _) = rest.split_once(' ')?;
            Some((records.parse::<u64>().ok()?, addr.to_string()))
        },
    );
    assert_eq!(records, 2_004, "{}", demo.output());
    let admin: std::net::SocketAddr = demo.wait_for_line(
        Stream::Stdout,
        READY_TIMEOUT,
        "the demo's admin line",
        |line| {
            let rest = line.strip_prefix("Admin: curl http://")?;
            rest.split_once('/')?.0.parse().ok()
        },
    );
    let (code, body) = http::get(admin, "/status").unwrap();
    assert_eq!(code, 200, "{body}");

    let server = format!("http://{grpc}");
    let check = |args: &[&str]| {
        let mut all = vec![
            "check",
            "--server",
            server.as_str(),
            "--timeout",
            CLIENT_TIMEOUT,
        ];
        all.extend_from_slice(args);
        p.sltd.run(&all)
    };
    for (number, ty) in [("L898902C3", "P"), ("D23145890", "I"), ("L8988901C", "V")] {
        let hit = check(&["--number", number, "--country", "UTO", "--type", ty]).expect_code(0);
        assert!(hit.stdout.contains("HIT"), "{hit}");
    }
    check(&["--number", &miss_number(5)]).expect_code(1);
    let v = check(&["--json", "--mrz", TD3]).expect_code(0).json();
    assert_eq!(v["verdict"], "HIT");
    assert_eq!(v["mrz"]["format"], "TD3");
    assert_eq!(v["dataset"]["record_count"], 2_004);
}
