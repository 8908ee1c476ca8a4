//! `sltd-sync` against a hostile mirror: a small scripted HTTP server
//! that serves a real feed but misbehaves as told (416 for ever, a drip,
//! a lying `Content-Length`, redirects to another origin, 500s, an endless
//! checkpoint, validators that do not change within a second). For each,
//! the sync ends within its deadlines with its own error kind, and the
//! daemon keeps serving what was installed before.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use serde_json::Value;
use sltd_testkit::feed::Feed;
use sltd_testkit::fixtures::{miss_number, new_record, records, write_export};
use sltd_testkit::process::Run;
use sltd_testkit::sltdd::Sltdd;

use crate::common::{arg, check, programs, status};

/// A request as the script sees it.
#[derive(Debug)]
struct Request {
    path: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The start of a `Range: bytes=N-` request.
    fn range_start(&self) -> Option<u64> {
        self.header("range")?
            .strip_prefix("bytes=")?
            .strip_suffix('-')?
            .parse()
            .ok()
    }
}

/// What the mirror answers.
#[derive(Debug, Clone)]
enum Reply {
    /// The feed file, honouring `Range` (206).
    File,
    /// An empty answer with this status.
    Status(u16),
    /// The file, one byte every `every`.
    Drip { every: Duration },
    /// The file's bytes (from the Range start on, as 206 when a Range was
    /// asked for) under a `Content-Length` of this.
    LyingLength(u64),
    /// The file's true length, but only its first this many bytes, then
    /// the connection closes.
    CutAfter(usize),
    /// 302 to this URL.
    Redirect(String),
    /// 200 with no length and zeros for ever.
    Endless,
    /// The file with a `Last-Modified` and `ETag` that never change, and
    /// 304 to any conditional request: what a server whose validators have
    /// one-second resolution answers for a file republished within the
    /// second.
    FrozenValidators,
}

/// A scripted HTTP/1.1 server over a feed directory, one request per
/// connection; stops accepting when dropped.
struct Mirror {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Mirror {
    fn start(dir: &Path, script: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Mirror {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (dir, script, stopped) = (dir.to_path_buf(), Arc::new(script), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (dir, script) = (dir.clone(), script.clone());
                thread::spawn(move || {
                    // A client that hangs up ends the answer: nothing to do.
                    let _ = serve(conn, &dir, script.as_ref());
                });
            }
        });
        Mirror { addr, stop }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(
    conn: TcpStream,
    dir: &Path,
    script: &(dyn Fn(&Request) -> Reply + Send + Sync),
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    let req = Request { path, headers };
    let file = || std::fs::read(dir.join(req.path.trim_start_matches('/')));
    let mut out = conn;
    let head = |out: &mut TcpStream, status: &str, extra: &str| {
        write!(out, "HTTP/1.1 {status}\r\nConnection: close\r\n{extra}\r\n")
    };
    match script(&req) {
        Reply::File => match file() {
            Ok(bytes) => match req.range_start() {
                Some(start) if (start as usize) < bytes.len() => {
                    let rest = &bytes[start as usize..];
                    head(
                        &mut out,
                        "206 Partial Content",
                        &format!(
                            "Content-Length: {}\r\nContent-Range: bytes {start}-{}/{}\r\n",
                            rest.len(),
                            bytes.len() - 1,
                            bytes.len()
                        ),
                    )?;
                    out.write_all(rest)?;
                }
                _ => {
                    head(
                        &mut out,
                        "200 OK",
                        &format!("Content-Length: {}\r\n", bytes.len()),
                    )?;
                    out.write_all(&bytes)?;
                }
            },
            Err(_) => head(&mut out, "404 Not Found", "Content-Length: 0\r\n")?,
        },
        Reply::Status(code) => head(
            &mut out,
            &format!("{code} Scripted"),
            "Content-Length: 0\r\n",
        )?,
        Reply::Drip { every } => {
            let bytes = file()?;
            head(
                &mut out,
                "200 OK",
                &format!("Content-Length: {}\r\n", bytes.len()),
            )?;
            for b in bytes {
                out.write_all(&[b])?;
                out.flush()?;
                thread::sleep(every);
            }
        }
        Reply::LyingLength(claimed) => {
            let bytes = file()?;
            match req.range_start() {
                Some(start) => {
                    head(
                        &mut out,
                        "206 Partial Content",
                        &format!(
                            "Content-Length: {claimed}\r\nContent-Range: bytes {start}-{}/*\r\n",
                            bytes.len().saturating_sub(1)
                        ),
                    )?;
                    out.write_all(bytes.get(start as usize..).unwrap_or_default())?;
                }
                None => {
                    head(
                        &mut out,
                        "200 OK",
                        &format!("Content-Length: {claimed}\r\n"),
                    )?;
                    out.write_all(&bytes)?;
                }
            }
        }
        Reply::CutAfter(n) => {
            let bytes = file()?;
            head(
                &mut out,
                "200 OK",
                &format!("Content-Length: {}\r\n", bytes.len()),
            )?;
            out.write_all(&bytes[..n.min(bytes.len())])?;
        }
        Reply::Redirect(to) => head(
            &mut out,
            "302 Found",
            &format!("Location: {to}\r\nContent-Length: 0\r\n"),
        )?,
        Reply::Endless => {
            head(&mut out, "200 OK", "")?;
            let zeros = vec![b' '; 64 << 10];
            loop {
                out.write_all(&zeros)?;
            }
        }
        Reply::FrozenValidators => {
            let validators =
                "Last-Modified: Mon, 30 Nov 2026 12:00:00 GMT\r\nETag: \"5f1e-3a\"\r\n";
            if req.header("if-none-match").is_some() || req.header("if-modified-since").is_some() {
                head(&mut out, "304 Not Modified", validators)?;
            } else {
                let bytes = file()?;
                head(
                    &mut out,
                    "200 OK",
                    &format!("{validators}Content-Length: {}\r\n", bytes.len()),
                )?;
                out.write_all(&bytes)?;
            }
        }
    }
    out.flush()?;
    // Let the client read to the end before the connection closes.
    let _ = out.shutdown(std::net::Shutdown::Write);
    let _ = std::io::copy(&mut reader.take(1 << 20), &mut std::io::sink());
    Ok(())
}

const DELTA_2: &str = "/deltas/00000000000000000002.delta";

/// A post synced to sequence 1 and served by sltdd, and a feed that has
/// published sequence 2 (one new record, as a delta) since.
struct Post {
    work: tempfile::TempDir,
    feed: Feed,
    data: PathBuf,
    daemon: Sltdd,
    added: String,
}

impl Post {
    fn new() -> Post {
        let p = programs();
        let work = tempfile::tempdir().unwrap();
        let mut recs = records(2_000);
        let first = work.path().join("first.csv");
        write_export(&first, &recs);
        let feed = Feed::create(&p.sltd, work.path(), &[]);
        feed.publish(&p.sltd, &first, true);
        let data = work.path().join("DATA");
        let post = Post::sync_run(&data, &feed.trust, arg(&feed.dir), None);
        assert_eq!(post.code(), Some(0), "{post}");
        let daemon = Sltdd::start_ready(&p.sltdd, &["--data-dir", arg(&data)]);
        let added = miss_number(42);
        recs.push(new_record(&added));
        let second = work.path().join("second.csv");
        write_export(&second, &recs);
        feed.publish(&p.sltd, &second, false);
        Post {
            work,
            feed,
            data,
            daemon,
            added,
        }
    }

    /// `sltd-sync run --json` from `feed` with the config `config`; a
    /// watchdog far beyond any deadline the config sets ends a hung run.
    fn sync_run(data: &Path, trust: &Path, feed: &str, config: Option<&Path>) -> Run {
        let mut args = vec![
            "--feed",
            feed,
            "--data-dir",
            arg(data),
            "--trust",
            arg(trust),
        ];
        if let Some(c) = config {
            args.extend(["--config", arg(c)]);
        }
        args.extend(["run", "--json"]);
        programs()
            .sync
            .spawn(&args)
            .finish(Duration::from_secs(300))
    }

    /// A sync through `mirror` with sltd-sync.toml settings `config`.
    fn sync_through(&self, mirror: &Mirror, config: &str) -> Run {
        let path = self.work.path().join("sltd-sync.toml");
        std::fs::write(&path, config).unwrap();
        Post::sync_run(&self.data, &self.feed.trust, &mirror.url(), Some(&path))
    }

    /// Asserts the sync failed (1: the feed refused, 2: a transport error)
    /// with error kind `kind` in the status file, and that the daemon
    /// still serves sequence 1 without the new record.
    #[track_caller]
    fn assert_refused_and_serving(&self, run: &Run, kind: &str) -> Value {
        assert!(matches!(run.code(), Some(1 | 2)), "{run}");
        let (_, st) = status(&self.data);
        assert_eq!(st["last_error_kind"], kind, "{st}\n{run}");
        assert_eq!(st["sequence"], 1, "{st}");
        let (hit, v) = check(&self.daemon.url(), "L898902C3");
        assert_eq!(hit.code(), Some(0), "{hit}");
        assert_eq!(v["dataset"]["sequence"], 1, "{v}");
        let (miss, _) = check(&self.daemon.url(), &self.added);
        assert_eq!(miss.code(), Some(1), "{miss}");
        st
    }

    /// The files left in `state/download/`.
    fn downloads(&self) -> Vec<String> {
        std::fs::read_dir(self.data.join("state/download"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}

/// Deadlines short enough for a test, far from what a loaded machine
/// needs for a few kilobytes.
const FAST: &str = "download_timeout = \"3s\"\n";

#[test]
fn a_mirror_answering_416_for_ever_is_a_specific_error() {
    let post = Post::new();
    let mirror = Mirror::start(&post.feed.dir, |r| {
        if r.path == DELTA_2 {
            Reply::Status(416)
        } else {
            Reply::File
        }
    });
    let run = post.sync_through(&mirror, FAST);
    post.assert_refused_and_serving(&run, "range_not_satisfiable");
}

#[test]
fn a_drip_fails_at_the_download_deadline_and_below_the_minimum_rate() {
    let post = Post::new();
    let mirror = Mirror::start(&post.feed.dir, |r| {
        if r.path == DELTA_2 {
            Reply::Drip {
                every: Duration::from_millis(500),
            }
        } else {
            Reply::File
        }
    });
    // Each read brings a byte well within any per-read timeout.
    let run = post.sync_through(&mirror, &format!("{FAST}download_min_rate = 0\n"));
    post.assert_refused_and_serving(&run, "deadline");
    let run = post.sync_through(
        &mirror,
        "download_timeout = \"10m\"\ndownload_min_rate = 100\ndownload_min_rate_window = \"2s\"\n",
    );
    post.assert_refused_and_serving(&run, "too_slow");
}

#[test]
fn lying_content_lengths_are_refused_and_leftover_downloads_are_removed() {
    let post = Post::new();
    let len = std::fs::metadata(post.feed.dir.join(&DELTA_2[1..]))
        .unwrap()
        .len();
    let lie = |claimed: u64| {
        Mirror::start(&post.feed.dir, move |r| {
            if r.path == DELTA_2 {
                Reply::LyingLength(claimed)
            } else {
                Reply::File
            }
        })
    };
    // Shorter than the file: the client reads what was promised, and the
    // signed length and hash refuse it.
    let run = post.sync_through(&lie(len - 10), FAST);
    let st = post.assert_refused_and_serving(&run, "truncated");
    assert!(st["last_error"].as_str().unwrap().contains("delta"), "{st}");
    // Longer than the signed length: refused before reading.
    let run = post.sync_through(&lie(len + 1000), FAST);
    post.assert_refused_and_serving(&run, "too_large");
    // A connection cut half way: the partial file is kept to be resumed.
    let cut = Mirror::start(&post.feed.dir, move |r| {
        if r.path == DELTA_2 {
            Reply::CutAfter(len as usize / 2)
        } else {
            Reply::File
        }
    });
    let run = post.sync_through(&cut, FAST);
    post.assert_refused_and_serving(&run, "fetch");
    assert_eq!(post.downloads().len(), 1, "the partial download is kept");
    // 2^64 - 3 more bytes from where the partial file ends: too large, with
    // no arithmetic overflow.
    let run = post.sync_through(&lie(u64::MAX - 2), FAST);
    post.assert_refused_and_serving(&run, "too_large");

    // A partial download a later sync never needs (here: of a file the
    // feed no longer has) does not stay for good.
    std::fs::write(post.data.join("state/download/stale-partial"), b"x").unwrap();
    // A good mirror completes, and nothing is left in state/download/.
    let good = Mirror::start(&post.feed.dir, |_| Reply::File);
    let run = post.sync_through(&good, FAST);
    assert_eq!(run.code(), Some(0), "{run}");
    assert_eq!(run.json()["sequence"], 2);
    assert_eq!(post.downloads(), Vec::<String>::new());
}

#[test]
fn redirects_to_another_origin_are_refused_by_default() {
    let post = Post::new();
    let elsewhere = Mirror::start(&post.feed.dir, |_| Reply::File);
    let target = elsewhere.url();
    let mirror = Mirror::start(&post.feed.dir, move |r| {
        if r.path == DELTA_2 {
            Reply::Redirect(format!("{target}{}", r.path))
        } else {
            Reply::File
        }
    });
    let run = post.sync_through(&mirror, FAST);
    let st = post.assert_refused_and_serving(&run, "redirect_refused");
    assert!(
        st["last_error"]
            .as_str()
            .unwrap()
            .contains("another origin"),
        "{st}"
    );
    // The operator may allow it (a CDN's edge hosts).
    let run = post.sync_through(&mirror, &format!("{FAST}redirects = \"any-origin\"\n"));
    assert_eq!(run.code(), Some(0), "{run}");
    assert_eq!(run.json()["sequence"], 2);
}

#[test]
fn server_errors_and_an_endless_checkpoint_are_refused() {
    let post = Post::new();
    let failing = Mirror::start(&post.feed.dir, |_| Reply::Status(500));
    let run = post.sync_through(&failing, FAST);
    let st = post.assert_refused_and_serving(&run, "fetch");
    assert!(st["last_error"].as_str().unwrap().contains("500"), "{st}");
    let endless = Mirror::start(&post.feed.dir, |r| {
        if r.path == "/checkpoint.json" {
            Reply::Endless
        } else {
            Reply::File
        }
    });
    let run = post.sync_through(&endless, FAST);
    post.assert_refused_and_serving(&run, "too_large");
}

#[test]
fn a_checkpoint_republished_within_the_second_is_fetched() {
    let post = Post::new();
    let mirror = Mirror::start(&post.feed.dir, |r| {
        if r.path == "/checkpoint.json" {
            Reply::FrozenValidators
        } else {
            Reply::File
        }
    });
    let run = post.sync_through(&mirror, FAST);
    assert_eq!(run.code(), Some(0), "{run}");
    assert_eq!(run.json()["sequence"], 2, "{run}");
    // Sequence 3 with the same validators: a post that trusts them sees 304
    // and stays at 2 for good.
    let mut recs = records(2_000);
    recs.push(new_record(&post.added));
    recs.push(new_record(&miss_number(43)));
    let third = post.work.path().join("third.csv");
    write_export(&third, &recs);
    post.feed.publish(&programs().sltd, &third, false);
    let run = post.sync_through(&mirror, FAST);
    assert_eq!(run.code(), Some(0), "{run}");
    assert_eq!(run.json()["sequence"], 3, "{run}");
}

#[test]
fn a_fifo_in_a_feed_directory_is_refused_without_blocking() {
    let post = Post::new();
    let copy = post.feed.copy_to(&post.work.path().join("MEDIA"));
    let delta = copy.join(&DELTA_2[1..]);
    std::fs::remove_file(&delta).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&delta)
        .status()
        .unwrap();
    assert!(made.success());
    let run = Post::sync_run(&post.data, &post.feed.trust, arg(&copy), None);
    post.assert_refused_and_serving(&run, "not_a_file");
}

#[test]
fn text_from_a_forged_checkpoint_is_escaped_before_it_is_logged_stored_or_printed() {
    let post = Post::new();
    let copy = post.feed.copy_to(&post.work.path().join("FORGED"));
    let cp_path = copy.join("checkpoint.json");
    let mut cp: Value = serde_json::from_slice(&std::fs::read(&cp_path).unwrap()).unwrap();
    let forged_line = "2026-12-02T03:00:00Z  INFO sltd_sync: sync done sequence=99";
    cp["signatures"][0]["keyid"] = Value::from(format!("0\n{forged_line}\x1b[2J\x1b]0;owned\x07"));
    std::fs::write(&cp_path, serde_json::to_vec(&cp).unwrap()).unwrap();

    let run = Post::sync_run(&post.data, &post.feed.trust, arg(&copy), None);
    post.assert_refused_and_serving(&run, "unknown_key");
    let raw_text = |what: &str, text: &str| {
        assert!(
            !text.contains('\x1b') && !text.contains('\x07'),
            "{what}: {text:?}"
        );
        assert!(
            !text.lines().any(|l| l.starts_with(forged_line)),
            "{what} has a forged line: {text:?}"
        );
    };
    raw_text("sltd-sync run", &run.stderr);
    let (_, st) = status(&post.data);
    raw_text("last_error", st["last_error"].as_str().unwrap());
    let shown = programs()
        .sync
        .run(["--data-dir", arg(&post.data), "status"]);
    raw_text("sltd-sync status", &shown.stdout);
}
