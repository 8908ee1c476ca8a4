//! The status page a post without Prometheus looks at: `sltdd`'s admin
//! listener at `/`, as headless Chromium renders it. Its content (data
//! freshness and age, sequence, the last sync, checks and hits, latency)
//! is read from the rendered DOM, before and after a failed sync, and a
//! screenshot is taken; with `SLTD_DOC_IMAGES=1` it replaces
//! `docs/images/status-page.png`.

use std::path::{Path, PathBuf};
use std::process::Command;

use sltd_testkit::feed::{Feed, FeedServer};
use sltd_testkit::fixtures::{miss_number, records, write_export};
use sltd_testkit::sltdd::Sltdd;
use sltd_testkit::tools;

use crate::common::{arg, check, programs, sync};

/// Headless Chromium with a profile of its own, as root can run it.
struct Browser {
    profile: tempfile::TempDir,
}

impl Browser {
    fn new() -> Self {
        Self {
            profile: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, extra: &[&str], url: &str) -> std::process::Output {
        let out = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
                "--window-size=900,1000",
            ])
            .arg(format!("--user-data-dir={}", self.profile.path().display()))
            .args(extra)
            .arg(url)
            .output()
            .expect("chromium runs (Debian package `chromium`)");
        assert!(
            out.status.success(),
            "chromium {extra:?} {url}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The page's DOM after Chromium has rendered it.
    fn dom(&self, url: &str) -> String {
        String::from_utf8(self.run(&["--dump-dom"], url).stdout).expect("a UTF-8 DOM")
    }

    /// A PNG screenshot of the page at `to`; its width and height.
    fn screenshot(&self, url: &str, to: &Path) -> (u32, u32) {
        self.run(&[&format!("--screenshot={}", to.display())], url);
        let png = std::fs::read(to).expect("the screenshot");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
        let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
        (be(16), be(20))
    }
}

/// The text of the element with `id` in `dom` (no nested elements).
fn by_id(dom: &str, id: &str) -> String {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element #{id} in\n{dom}"));
    let rest = &dom[start..];
    let open = rest.find('>').unwrap() + 1;
    let close = rest[open..].find('<').unwrap();
    rest[open..open + close].to_string()
}

#[test]
fn the_status_page_shows_data_sync_and_last_hour_in_a_browser() {
    if !tools::present(&["chromium"], "chromium") {
        return;
    }
    let p = programs();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("export.csv");
    write_export(&csv, &records(5_000));
    let feed = Feed::create(&p.sltd, dir.path(), &[]);
    feed.publish(&p.sltd, &csv, true);
    let data = dir.path().join("DATA");
    sync(arg(&feed.dir), &data, &feed.trust).success();
    let daemon = Sltdd::start_ready(&p.sltdd, &["--data-dir", arg(&data)]);

    let (hits, misses) = (3, 9);
    for _ in 0..hits {
        assert_eq!(check(&daemon.url(), "L898902C3").0.code(), Some(0));
    }
    for i in 0..misses {
        assert_eq!(check(&daemon.url(), &miss_number(i)).0.code(), Some(1));
    }

    let url = format!("http://{}/", daemon.admin());
    let browser = Browser::new();
    let dom = browser.dom(&url);
    assert_eq!(by_id(&dom, "freshness"), "FRESH", "{dom}");
    assert_eq!(by_id(&dom, "sequence"), "1");
    assert_eq!(by_id(&dom, "sync-result"), "ok");
    assert_eq!(by_id(&dom, "checks"), (hits + misses).to_string());
    assert_eq!(by_id(&dom, "hits"), hits.to_string());
    assert!(by_id(&dom, "age").ends_with(" s"), "{dom}");
    let latency = &dom[dom.find("id=\"latency\"").expect("a latency table")..];
    assert!(latency.contains("<td>Check</td>"), "{latency}");
    assert!(latency.contains(" ms</td>"), "{latency}");

    let shot = dir.path().join("status-page.png");
    assert_eq!(browser.screenshot(&url, &shot), (900, 1000));
    if std::env::var_os("SLTD_DOC_IMAGES").is_some() {
        let doc: PathBuf =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/images/status-page.png");
        std::fs::copy(&shot, &doc).expect("update the doc image");
    }

    // The feed's server goes away: the next sync fails, and the page says
    // so while the data keeps serving.
    let server = FeedServer::start(&p.sltd, &feed.dir);
    let gone = server.url().to_string();
    drop(server);
    sync(&gone, &data, &feed.trust).expect_code(2);
    let dom = browser.dom(&url);
    let result = by_id(&dom, "sync-result");
    assert!(
        result.starts_with("failed 1 time in a row: [fetch]") && result.contains("refused"),
        "{result}"
    );
    assert_eq!(by_id(&dom, "freshness"), "FRESH");
}
