//! What the system tests share beyond `sltd-testkit`: the three programs
//! and the few command lines every flow uses.

use std::path::Path;
use std::sync::OnceLock;

use serde_json::Value;
use sltd_testkit::process::{Program, Run};

/// The workspace's programs, found (or built) once per test process.
pub(crate) struct Programs {
    pub(crate) sltd: Program,
    pub(crate) sltdd: Program,
    pub(crate) sync: Program,
}

pub(crate) fn programs() -> &'static Programs {
    static PROGRAMS: OnceLock<Programs> = OnceLock::new();
    PROGRAMS.get_or_init(|| Programs {
        sltd: Program::find("sltd"),
        sltdd: Program::find("sltdd"),
        sync: Program::find("sltd-sync"),
    })
}

/// A temporary path as a command-line argument.
pub(crate) fn arg(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

/// How long a client waits for an answer: far beyond any stall a loaded
/// machine causes, so that only a real failure fails a test.
pub(crate) const CLIENT_TIMEOUT: &str = "60";

/// `sltd check --json` of a UTO document: the run (exit 0 hit, 1 no hit, 2
/// error) and its JSON answer.
#[track_caller]
pub(crate) fn check(server: &str, number: &str) -> (Run, Value) {
    let run = programs().sltd.run([
        "check",
        "--server",
        server,
        "--number",
        number,
        "--country",
        "UTO",
        "--timeout",
        CLIENT_TIMEOUT,
        "--json",
    ]);
    let v = run.json();
    (run, v)
}

/// `sltd-sync --feed FEED --data-dir DATA --trust TRUST run --json`: its
/// report is one JSON object.
pub(crate) fn sync(feed: &str, data: &Path, trust: &Path) -> Run {
    programs().sync.run([
        "--feed",
        feed,
        "--data-dir",
        arg(data),
        "--trust",
        arg(trust),
        "run",
        "--json",
    ])
}

/// `sltd-sync --data-dir DATA status --json`: the run (exit 0 FRESH, 4
/// STALE, 5 EXPIRED, 6 nothing installed) and its JSON.
#[track_caller]
pub(crate) fn status(data: &Path) -> (Run, Value) {
    let run = programs()
        .sync
        .run(["--data-dir", arg(data), "status", "--json"]);
    let v = run.json();
    (run, v)
}
