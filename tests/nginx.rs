//! The feed on nginx for real: Debian's nginx runs unprivileged on a
//! loopback port with a configuration made from the shipped
//! `deploy/nginx-feed.conf` (its feed server block, with the port, the
//! feed directory and no TLS substituted), serves what `sltd feed publish`
//! wrote, and `sltd-sync` syncs through it: the first snapshot, a delta,
//! and a checkpoint republished within the same second as the one before
//! (nginx's ETag and Last-Modified are then those of the previous
//! checkpoint whenever the two have the same size).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::UNIX_EPOCH;

use sltd_testkit::feed::Feed;
use sltd_testkit::fixtures::{Record, miss_number, new_record, records, write_export};
use sltd_testkit::http::exchange;
use sltd_testkit::ports::free_ports;
use sltd_testkit::process::Spawned;
use sltd_testkit::tools;
use sltd_testkit::{READY_TIMEOUT, wait};

use crate::common::{programs, status, sync};

/// The shipped feed server block, made to run here: plain HTTP on
/// `listen`, serving `feed`; nothing else changed.
fn site_config(shipped: &str, listen: SocketAddr, feed: &Path) -> String {
    let feed = feed.to_str().unwrap();
    // The first server block only: the second redirects port 80 to TLS.
    let first = &shipped[shipped.find("server {").expect("a server block")..];
    let end = first.find("\n}\n").expect("the end of the server block") + 3;
    let block = &first[..end];
    let mut out = String::new();
    for line in block.lines() {
        let t = line.trim();
        if t.starts_with("ssl_certificate") || t.starts_with("server_name") {
            continue;
        }
        if t.starts_with("listen ") {
            out.push_str(&format!("    listen {listen};\n"));
            continue;
        }
        out.push_str(&line.replace("/srv/sltd-feed", feed));
        out.push('\n');
    }
    let directives = || out.lines().map(str::trim).filter(|l| !l.starts_with('#'));
    assert!(
        directives().any(|l| l.contains(feed)) && !directives().any(|l| l.contains("ssl")),
        "{out}"
    );
    out
}

/// nginx in the foreground with everything it writes under `dir`.
struct Nginx {
    _process: Spawned,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Nginx {
    fn start(feed: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_ports(1)[0];
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let shipped = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nginx-feed.conf"),
        )
        .unwrap();
        let d = dir.path().display();
        let site = dir.path().join("site.conf");
        std::fs::write(&site, site_config(&shipped, addr, feed)).unwrap();
        let main = dir.path().join("nginx.conf");
        std::fs::write(
            &main,
            format!(
                "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
                 events {{ worker_connections 64; }}\n\
                 http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n\
                 proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
                 uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
                 include {};\n}}\n",
                site.display()
            ),
        )
        .unwrap();
        let mut cmd = Command::new("nginx");
        cmd.arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&main)
            .stdin(Stdio::null());
        let process = Spawned::of(cmd);
        let nginx = Self {
            _process: process,
            addr,
            dir,
        };
        wait::until(READY_TIMEOUT, "nginx to serve the checkpoint", || {
            exchange(addr, "GET", "/sltd/checkpoint.json", &[])
                .is_ok_and(|a| a.status == 200)
                .then_some(())
        });
        nginx
    }

    fn url(&self) -> String {
        format!("http://{}/sltd", self.addr)
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

/// Whole seconds of the modification time of `path`.
fn mtime_secs(path: &Path) -> u64 {
    std::fs::metadata(path)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Publishes `recs` as sequence `sequence` of `feed` (the first with a
/// snapshot).
fn publish(work: &Path, feed: &Feed, recs: &[Record], sequence: u64) {
    let csv = work.join(format!("export-{sequence}.csv"));
    write_export(&csv, recs);
    feed.publish(&programs().sltd, &csv, sequence == 1);
}

/// A feed published with `sltd feed`, served by nginx, and a post's data
/// directory synced from it.
struct Served {
    work: tempfile::TempDir,
    feed: Feed,
    nginx: Nginx,
    data: std::path::PathBuf,
    recs: Vec<Record>,
    sequence: u64,
}

impl Served {
    /// The first publication (a snapshot) served and synced.
    fn start() -> Self {
        let p = programs();
        let work = tempfile::tempdir().unwrap();
        // nginx's workers run as an unprivileged user when started as
        // root: they must be able to read the feed.
        let _ = Command::new("chmod")
            .args(["0755", work.path().to_str().unwrap()])
            .status();
        let feed = Feed::create(&p.sltd, work.path(), &[]);
        let recs = records(2_000);
        publish(work.path(), &feed, &recs, 1);
        let nginx = Nginx::start(&feed.dir);
        let served = Self {
            data: work.path().join("DATA"),
            recs,
            sequence: 1,
            feed,
            nginx,
            work,
        };
        let first = served.sync();
        assert_eq!(first["sequence"], 1, "{first}");
        served
    }

    /// Publishes the next export (one more record) as the next sequence.
    fn publish(&mut self) {
        self.sequence += 1;
        self.recs
            .push(new_record(&miss_number(self.sequence as usize)));
        publish(self.work.path(), &self.feed, &self.recs, self.sequence);
    }

    /// `sltd-sync run --json` through nginx: its report.
    fn sync(&self) -> serde_json::Value {
        sync(&self.nginx.url(), &self.data, &self.feed.trust)
            .success()
            .json()
    }

    fn checkpoint_mtime(&self) -> u64 {
        mtime_secs(&self.feed.dir.join("checkpoint.json"))
    }

    /// Waits until the clock has left the second the checkpoint was
    /// written in: the next one then has another Last-Modified and ETag.
    fn next_second(&self) {
        wait::until(READY_TIMEOUT, "the next second", || {
            let now = std::time::SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs();
            (now > self.checkpoint_mtime()).then_some(())
        })
    }
}

#[test]
fn a_feed_served_by_nginx_with_the_shipped_config_is_synced() {
    if !tools::present(&["nginx"], "nginx") {
        return;
    }
    let mut s = Served::start();
    let addr = s.nginx.addr;
    // What the shipped config promises: the checkpoint revalidated,
    // everything else immutable, private state not served.
    let cp = exchange(addr, "GET", "/sltd/checkpoint.json", &[]).unwrap();
    assert_eq!(cp.header("cache-control"), Some("no-cache"), "{cp:?}");
    let etag = cp.header("etag").expect("an ETag").to_string();
    let revalidated = exchange(
        addr,
        "GET",
        "/sltd/checkpoint.json",
        &[("If-None-Match", &etag)],
    )
    .unwrap();
    assert_eq!(revalidated.status, 304);
    for immutable in [
        "/sltd/deltas/00000000000000000001.delta",
        "/sltd/1.root.json",
    ] {
        let a = exchange(addr, "GET", immutable, &[]).unwrap();
        assert_eq!(a.status, 200, "{immutable}: {}", s.nginx.log("error.log"));
        assert_eq!(
            a.header("cache-control"),
            Some("public, max-age=31536000, immutable"),
            "{immutable}"
        );
    }
    // The next root version, which posts probe for, is missing: its 404
    // must not be cacheable as immutable.
    let probe = exchange(addr, "GET", "/sltd/2.root.json", &[]).unwrap();
    assert_eq!(probe.status, 404);
    assert_eq!(probe.header("cache-control"), None, "{probe:?}");
    assert_eq!(
        exchange(addr, "GET", "/sltd/.publisher/", &[])
            .unwrap()
            .status,
        404
    );
    let resumed = exchange(
        addr,
        "GET",
        "/sltd/deltas/00000000000000000001.delta",
        &[("Range", "bytes=10-")],
    )
    .unwrap();
    assert_eq!(resumed.status, 206, "downloads resume with Range");

    // A delta, published in a later second than the snapshot.
    s.next_second();
    s.publish();
    let second = s.sync();
    assert_eq!(second["sequence"], 2, "{second}");
    assert_eq!(second["deltas_applied"], 1, "{second}");
    // Nothing new: the same checkpoint, and nothing is installed.
    let again = s.sync();
    assert_eq!(again["sequence"], 2, "{again}");
    assert_eq!(again["not_modified"], true, "{again}");
    assert!(again["installed"].is_null(), "{again}");
    let (run, st) = status(&s.data);
    assert_eq!(run.code(), Some(0), "{run}");
    assert_eq!(st["sequence"], 2);
}

/// A checkpoint republished within the same second as the one the post
/// last fetched has, on nginx, the same Last-Modified and (at the same
/// size) the same ETag: a sync that trusts the 304 misses it.
#[test]
fn a_checkpoint_republished_within_the_same_second_is_fetched_through_nginx() {
    if !tools::present(&["nginx"], "nginx") {
        return;
    }
    let mut s = Served::start();
    // Publishing is quick, but a pair may straddle a second: try again
    // until one does not.
    for _ in 0..10 {
        s.next_second();
        s.publish();
        let synced = s.sync();
        assert_eq!(synced["sequence"], s.sequence, "{synced}");
        let fetched_at = s.checkpoint_mtime();
        s.publish();
        if s.checkpoint_mtime() != fetched_at {
            // The pair straddled a second; catch up and try again.
            let next = s.sync();
            assert_eq!(next["sequence"], s.sequence, "{next}");
            continue;
        }
        let synced = s.sync();
        assert_eq!(
            synced["sequence"],
            s.sequence,
            "a checkpoint republished within the same second was not fetched \
             (nginx's ETag and Last-Modified did not change, and the sync trusted a 304 \
             for it): the sync client's conditional-GET rule must not rely on a validator \
             of one-second resolution. Report: {synced}\nnginx access log:\n{}",
            s.nginx.log("access.log")
        );
        return;
    }
    panic!("no two publications fell within one second in ten tries");
}
