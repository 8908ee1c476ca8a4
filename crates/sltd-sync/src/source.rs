//! Where feed files come from: an HTTP(S) server, CDN or untrusted mirror,
//! or a plain directory (removable media at an air-gapped post). A source
//! only moves bytes; nothing it returns is trusted before verification.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sltd_feed::FeedError;

use crate::{SyncError, TransferFault};

/// Reports download progress.
pub trait Progress {
    /// `done` bytes of `total` (when known).
    fn update(&self, done: u64, total: Option<u64>);
}

/// No progress display.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&self, _: u64, _: Option<u64>) {}
}

/// A place feed files are read from, by their path relative to the feed.
pub trait Source {
    /// For messages: the URL or directory.
    fn describe(&self) -> String;

    /// Fetches a small file whole, refusing more than `cap` bytes.
    fn get(&self, path: &str, cap: u64) -> Result<Vec<u8>, SyncError>;

    /// Downloads a file to `dest`, resuming from what `dest` already holds
    /// where possible, and refusing more than `cap` bytes in total. Returns
    /// the bytes transferred by this call.
    fn download(
        &self,
        path: &str,
        dest: &Path,
        cap: u64,
        progress: &dyn Progress,
    ) -> Result<u64, SyncError>;
}

fn too_large(path: &str, cap: u64) -> SyncError {
    SyncError::Feed(FeedError::TooLarge {
        what: path.to_string(),
        limit: cap,
    })
}

fn transfer(path: &str, fault: TransferFault) -> SyncError {
    SyncError::Transfer {
        what: path.to_string(),
        fault,
    }
}

/// The pace rules of one transfer: a total deadline, and a minimum rate
/// measured over each window (a mirror dripping a byte a second passes any
/// per-read timeout, not these).
#[derive(Debug)]
struct Pace {
    started: Instant,
    deadline: Duration,
    min_rate: u64,
    window: Duration,
    window_started: Instant,
    window_bytes: u64,
}

impl Pace {
    fn new(deadline: Duration, min_rate: u64, window: Duration) -> Self {
        let now = Instant::now();
        Self {
            started: now,
            deadline,
            min_rate,
            window,
            window_started: now,
            window_bytes: 0,
        }
    }

    /// Counts `n` more bytes received, failing once the deadline has passed
    /// or a whole window brought less than the minimum rate.
    fn advance(&mut self, n: u64, path: &str) -> Result<(), SyncError> {
        let now = Instant::now();
        if now.duration_since(self.started) > self.deadline {
            return Err(transfer(
                path,
                TransferFault::Deadline {
                    limit: self.deadline,
                },
            ));
        }
        self.window_bytes = self.window_bytes.saturating_add(n);
        let in_window = now.duration_since(self.window_started);
        if self.min_rate > 0 && in_window >= self.window {
            let needed = u128::from(self.min_rate) * in_window.as_millis() / 1000;
            if u128::from(self.window_bytes) < needed {
                return Err(transfer(
                    path,
                    TransferFault::TooSlow {
                        bytes: self.window_bytes,
                        window: in_window,
                        min_rate: self.min_rate,
                    },
                ));
            }
            self.window_started = now;
            self.window_bytes = 0;
        }
        Ok(())
    }

    /// The error for a transfer the transport's own timer stopped (set to
    /// the same deadline, it also ends a read that never returns).
    fn timed_out(&self, path: &str) -> SyncError {
        transfer(
            path,
            TransferFault::Deadline {
                limit: self.deadline,
            },
        )
    }
}

/// Whether an I/O error is the transport's timer running out.
fn is_timeout(e: &std::io::Error) -> bool {
    if e.kind() == std::io::ErrorKind::TimedOut {
        return true;
    }
    let mut cause = e.get_ref().map(|c| c as &(dyn std::error::Error + 'static));
    while let Some(c) = cause {
        if c.downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout)
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Where [`copy_capped`] writes: a partial download file or memory.
trait Sink {
    fn put(&mut self, bytes: &[u8]) -> Result<(), SyncError>;
    /// Keeps what arrived (a resumable file) or drops it.
    fn keep(&mut self) -> Result<(), SyncError>;
    fn discard(&mut self);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), SyncError> {
        self.extend_from_slice(bytes);
        Ok(())
    }
    fn keep(&mut self) -> Result<(), SyncError> {
        Ok(())
    }
    fn discard(&mut self) {
        self.clear();
    }
}

struct PartialFile<'a> {
    file: &'a mut fs::File,
    path: &'a Path,
}

impl Sink for PartialFile<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), SyncError> {
        self.file.write_all(bytes).map_err(SyncError::io(self.path))
    }
    fn keep(&mut self) -> Result<(), SyncError> {
        self.file.sync_data().map_err(SyncError::io(self.path))
    }
    fn discard(&mut self) {
        drop(fs::remove_file(self.path));
    }
}

/// What one copy is: the file, its bound, the bytes already held.
struct Transfer<'a> {
    path: &'a str,
    already: u64,
    cap: u64,
    total: Option<u64>,
}

/// Copies from `r` into `out` until EOF, failing once more than `cap` bytes
/// in total (counting `already`) would be written, or once `pace` says the
/// source is too slow. Returns the bytes copied.
fn copy_capped(
    mut r: impl Read,
    out: &mut dyn Sink,
    t: &Transfer<'_>,
    mut pace: Option<&mut Pace>,
    progress: &dyn Progress,
) -> Result<u64, SyncError> {
    let mut done = t.already;
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Keep what arrived: the next attempt resumes from it.
                let _ = out.keep();
                if let Some(p) = &pace
                    && is_timeout(&e)
                {
                    return Err(p.timed_out(t.path));
                }
                return Err(SyncError::Fetch {
                    what: t.path.to_string(),
                    reason: sltd_log::chain(&e),
                });
            }
        };
        if done.saturating_add(n as u64) > t.cap {
            out.discard();
            return Err(too_large(t.path, t.cap));
        }
        out.put(&buf[..n])?;
        done += n as u64;
        progress.update(done, t.total);
        if let Some(p) = pace.as_deref_mut()
            && let Err(e) = p.advance(n as u64, t.path)
        {
            let _ = out.keep();
            return Err(e);
        }
    }
    out.keep()?;
    Ok(done - t.already)
}

fn open_partial(dest: &Path) -> Result<(fs::File, u64), SyncError> {
    let mut f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(dest)
        .map_err(|e| SyncError::Io {
            path: dest.to_path_buf(),
            source: e,
        })?;
    let len = f.seek(SeekFrom::End(0)).map_err(|e| SyncError::Io {
        path: dest.to_path_buf(),
        source: e,
    })?;
    Ok((f, len))
}

/// A feed on a local or mounted directory.
#[derive(Debug, Clone)]
pub struct DirSource {
    base: PathBuf,
}

impl DirSource {
    pub fn new(base: impl Into<PathBuf>) -> Self {
        Self { base: base.into() }
    }

    fn path(&self, rel: &str) -> Result<PathBuf, SyncError> {
        if rel.split('/').any(|c| c.is_empty() || c.starts_with('.')) {
            return Err(SyncError::Config {
                reason: format!("bad feed path {rel:?}"),
            });
        }
        Ok(self.base.join(rel))
    }

    /// Opens a regular file. A FIFO, device or directory is refused before
    /// anything is read: opening without blocking, then checking what was
    /// opened, so a FIFO put in place of a feed file cannot hang the sync.
    fn open(&self, rel: &str) -> Result<fs::File, SyncError> {
        use std::os::unix::fs::OpenOptionsExt;
        let p = self.path(rel)?;
        let f = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&p)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    SyncError::NotFound {
                        what: rel.to_string(),
                    }
                } else {
                    SyncError::Fetch {
                        what: p.display().to_string(),
                        reason: e.to_string(),
                    }
                }
            })?;
        let meta = f.metadata().map_err(SyncError::io(&p))?;
        if !meta.is_file() {
            return Err(transfer(rel, TransferFault::NotAFile));
        }
        Ok(f)
    }
}

impl Source for DirSource {
    fn describe(&self) -> String {
        self.base.display().to_string()
    }

    fn get(&self, path: &str, cap: u64) -> Result<Vec<u8>, SyncError> {
        let f = self.open(path)?;
        let mut buf = Vec::new();
        f.take(cap + 1)
            .read_to_end(&mut buf)
            .map_err(|e| SyncError::Fetch {
                what: path.into(),
                reason: e.to_string(),
            })?;
        if buf.len() as u64 > cap {
            return Err(too_large(path, cap));
        }
        Ok(buf)
    }

    fn download(
        &self,
        path: &str,
        dest: &Path,
        cap: u64,
        progress: &dyn Progress,
    ) -> Result<u64, SyncError> {
        let mut src = self.open(path)?;
        let total = src.metadata().ok().map(|m| m.len());
        if total.is_some_and(|t| t > cap) {
            return Err(too_large(path, cap));
        }
        let (mut out, mut have) = open_partial(dest)?;
        if total.is_some_and(|t| have > t) {
            out.set_len(0).map_err(|e| SyncError::Io {
                path: dest.into(),
                source: e,
            })?;
            out.seek(SeekFrom::Start(0)).map_err(|e| SyncError::Io {
                path: dest.into(),
                source: e,
            })?;
            have = 0;
        }
        src.seek(SeekFrom::Start(have))
            .map_err(|e| SyncError::Fetch {
                what: path.into(),
                reason: e.to_string(),
            })?;
        let t = Transfer {
            path,
            already: have,
            cap,
            total,
        };
        let mut sink = PartialFile {
            file: &mut out,
            path: dest,
        };
        copy_capped(src, &mut sink, &t, None, progress)
    }
}

/// Which redirects an [`HttpSource`] follows. Whatever the policy, a
/// redirect from HTTPS to plain HTTP is refused, and at most
/// [`MAX_REDIRECTS`] are followed for one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RedirectPolicy {
    /// Only to the feed URL's own origin (scheme, host and port).
    #[default]
    SameOrigin,
    /// To any origin (a CDN that redirects to its edge hosts).
    AnyOrigin,
    /// None: a redirect is an error.
    Never,
}

/// The most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;

impl RedirectPolicy {
    /// Whether to follow a redirect from `from` to `to`, for a feed at
    /// `origin`; the reason if not.
    pub fn check(
        self,
        origin: &reqwest::Url,
        from: &reqwest::Url,
        to: &reqwest::Url,
        hops: usize,
    ) -> Result<(), &'static str> {
        if from.scheme() == "https" && to.scheme() != "https" {
            return Err("a redirect from HTTPS to HTTP is never followed");
        }
        if hops > MAX_REDIRECTS {
            return Err("too many redirects");
        }
        match self {
            RedirectPolicy::Never => Err("redirects are not followed (redirects = \"never\")"),
            RedirectPolicy::SameOrigin if to.origin() != origin.origin() => Err(
                "a redirect to another origin is not followed (redirects = \"same-origin\"; \
                 \"any-origin\" allows it)",
            ),
            _ => Ok(()),
        }
    }
}

/// A redirect the policy refused (inside reqwest's error).
#[derive(Debug)]
struct RedirectRefused {
    to: String,
    why: &'static str,
}

impl std::fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.why, self.to)
    }
}

impl std::error::Error for RedirectRefused {}

/// Timeouts, pace and redirect rules of an [`HttpSource`].
#[derive(Clone, Copy, Debug)]
pub struct HttpOptions {
    pub connect: Duration,
    /// Total deadline of a metadata fetch (checkpoint, root).
    pub metadata: Duration,
    /// Total deadline of one download (a delta or a chunk); an interrupted
    /// download resumes on the next attempt.
    pub download: Duration,
    /// Least average bytes per second over each `min_rate_window` of a
    /// transfer (0: no minimum), checked as bytes arrive; a server that
    /// sends nothing at all is stopped by the deadline.
    pub min_rate: u64,
    pub min_rate_window: Duration,
    pub redirects: RedirectPolicy,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            metadata: Duration::from_secs(30),
            download: Duration::from_secs(600),
            min_rate: 1024,
            min_rate_window: Duration::from_secs(30),
            redirects: RedirectPolicy::SameOrigin,
        }
    }
}

impl HttpOptions {
    /// The pace of a transfer with total deadline `deadline`.
    fn pace(&self, deadline: Duration) -> Pace {
        Pace::new(deadline, self.min_rate, self.min_rate_window)
    }
}

/// A feed served over HTTP or HTTPS (rustls with the Mozilla and the
/// system's roots).
#[derive(Debug, Clone)]
pub struct HttpSource {
    base: String,
    client: reqwest::blocking::Client,
    opts: HttpOptions,
}

impl HttpSource {
    pub fn new(base: &str, opts: HttpOptions) -> Result<Self, SyncError> {
        let origin = reqwest::Url::parse(base).map_err(|e| SyncError::Config {
            reason: format!("feed URL {base:?}: {e}"),
        })?;
        let policy = opts.redirects;
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            let from = attempt.previous().last().cloned();
            let hops = attempt.previous().len();
            let verdict = match &from {
                Some(from) => policy.check(&origin, from, attempt.url(), hops),
                None => Ok(()),
            };
            match verdict {
                Ok(()) => attempt.follow(),
                Err(why) => {
                    let to = attempt.url().to_string();
                    attempt.error(RedirectRefused { to, why })
                }
            }
        });
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(opts.connect)
            .timeout(opts.download)
            .redirect(redirects)
            .tcp_keepalive(Duration::from_secs(30))
            .user_agent(concat!("sltd-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SyncError::Config {
                reason: format!("HTTP client: {e}"),
            })?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            client,
            opts,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path)
    }

    /// A GET of `path` with total deadline `deadline`: reqwest's timer
    /// for a request covers the connection, the headers and the whole body
    /// (its client-wide timeout bounds each read only).
    fn request(&self, path: &str, deadline: Duration) -> reqwest::blocking::RequestBuilder {
        self.client.get(self.url(path)).timeout(deadline)
    }

    fn send(
        &self,
        req: reqwest::blocking::RequestBuilder,
        path: &str,
        pace: &Pace,
    ) -> Result<reqwest::blocking::Response, SyncError> {
        let resp = req.send().map_err(|e| {
            if let Some(r) =
                std::error::Error::source(&e).and_then(|s| s.downcast_ref::<RedirectRefused>())
            {
                return transfer(
                    path,
                    TransferFault::Redirect {
                        to: r.to.clone(),
                        why: r.why,
                    },
                );
            }
            if e.is_timeout() {
                return pace.timed_out(path);
            }
            SyncError::Fetch {
                what: self.url(path),
                // The whole cause: "connection refused", a DNS or TLS failure.
                reason: sltd_log::chain(&e),
            }
        })?;
        let st = resp.status();
        if st == reqwest::StatusCode::NOT_FOUND || st == reqwest::StatusCode::GONE {
            return Err(SyncError::NotFound {
                what: path.to_string(),
            });
        }
        if st == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
            return Err(transfer(path, TransferFault::RangeNotSatisfiable));
        }
        if !st.is_success() {
            return Err(SyncError::Fetch {
                what: self.url(path),
                reason: format!("HTTP status {st}"),
            });
        }
        Ok(resp)
    }

    /// One attempt at a download: resumes from what `dest` holds.
    fn download_once(
        &self,
        path: &str,
        dest: &Path,
        cap: u64,
        progress: &dyn Progress,
    ) -> Result<u64, SyncError> {
        use reqwest::header::{CONTENT_RANGE, RANGE};
        let (mut out, have) = open_partial(dest)?;
        let mut pace = self.opts.pace(self.opts.download);
        let mut req = self.request(path, self.opts.download);
        if have > 0 {
            req = req.header(RANGE, format!("bytes={have}-"));
        }
        let resp = self.send(req, path, &pace)?;
        let status = resp.status();
        let io = SyncError::io(dest);
        let resumed = status == reqwest::StatusCode::PARTIAL_CONTENT
            && header(&resp, CONTENT_RANGE)
                .is_some_and(|cr| cr.starts_with(&format!("bytes {have}-")));
        let start = if resumed {
            have
        } else {
            // A server without Range support sends the whole file.
            out.set_len(0).map_err(SyncError::io(dest))?;
            out.seek(SeekFrom::Start(0)).map_err(io)?;
            0
        };
        if have > 0 {
            tracing::debug!(path, have, resumed, "resuming download");
        }
        // A lying Content-Length (up to 2^64 - 1) must not wrap around.
        let total = match resp.content_length().map(|l| l.checked_add(start)) {
            Some(None) => Some(u64::MAX),
            Some(Some(t)) => Some(t),
            None => None,
        };
        if total.is_some_and(|t| t > cap) {
            drop(out);
            let _ = fs::remove_file(dest);
            return Err(too_large(path, cap));
        }
        let t = Transfer {
            path,
            already: start,
            cap,
            total,
        };
        let mut sink = PartialFile {
            file: &mut out,
            path: dest,
        };
        copy_capped(resp, &mut sink, &t, Some(&mut pace), progress)
    }
}

fn header(resp: &reqwest::blocking::Response, name: reqwest::header::HeaderName) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl Source for HttpSource {
    fn describe(&self) -> String {
        self.base.clone()
    }

    fn get(&self, path: &str, cap: u64) -> Result<Vec<u8>, SyncError> {
        let mut pace = self.opts.pace(self.opts.metadata);
        let resp = self.send(self.request(path, self.opts.metadata), path, &pace)?;
        if resp.content_length().is_some_and(|l| l > cap) {
            return Err(too_large(path, cap));
        }
        let mut buf = Vec::new();
        let t = Transfer {
            path,
            already: 0,
            cap,
            total: None,
        };
        copy_capped(resp, &mut buf, &t, Some(&mut pace), &NoProgress)?;
        Ok(buf)
    }

    fn download(
        &self,
        path: &str,
        dest: &Path,
        cap: u64,
        progress: &dyn Progress,
    ) -> Result<u64, SyncError> {
        match self.download_once(path, dest, cap, progress) {
            Err(SyncError::Transfer {
                fault: TransferFault::RangeNotSatisfiable,
                ..
            }) if dest.metadata().is_ok_and(|m| m.len() > 0) => {
                // What we hold is not a prefix of the file (or is all of
                // it): start over once, without a Range; verification
                // decides. A second 416 is the mirror's fault.
                tracing::info!(path, "HTTP 416 for a resumed download; downloading again");
                fs::remove_file(dest).map_err(SyncError::io(dest))?;
                self.download_once(path, dest, cap, progress)
            }
            r => r,
        }
    }
}

/// A source for `--feed`: a URL (`http://`, `https://`) or a directory.
pub fn open_source(
    feed: &str,
    http: HttpOptions,
) -> Result<Box<dyn Source + Send + Sync>, SyncError> {
    if feed.starts_with("http://") || feed.starts_with("https://") {
        Ok(Box::new(HttpSource::new(feed, http)?))
    } else {
        let p = Path::new(feed.strip_prefix("file://").unwrap_or(feed));
        if !p.is_dir() {
            return Err(SyncError::Config {
                reason: format!("feed {feed} is neither an http(s) URL nor a directory"),
            });
        }
        Ok(Box::new(DirSource::new(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).unwrap()
    }

    #[test]
    fn redirects_follow_the_policy_and_never_downgrade() {
        let feed = url("https://feed.example.org/sltd");
        let same = url("https://feed.example.org/other/checkpoint.json");
        let cdn = url("https://edge.cdn.example.net/sltd/checkpoint.json");
        let plain = url("http://feed.example.org/sltd/checkpoint.json");
        let p = RedirectPolicy::SameOrigin;
        assert_eq!(p.check(&feed, &feed, &same, 1), Ok(()));
        assert!(p.check(&feed, &feed, &cdn, 1).is_err());
        assert!(p.check(&feed, &feed, &plain, 1).is_err());
        let any = RedirectPolicy::AnyOrigin;
        assert_eq!(any.check(&feed, &feed, &cdn, 1), Ok(()));
        assert_eq!(
            any.check(&feed, &cdn, &plain, 2),
            Err("a redirect from HTTPS to HTTP is never followed")
        );
        assert_eq!(
            any.check(&feed, &feed, &cdn, MAX_REDIRECTS + 1),
            Err("too many redirects")
        );
        assert!(RedirectPolicy::Never.check(&feed, &feed, &same, 1).is_err());
        // A plain HTTP feed may redirect within its origin.
        let http_feed = url("http://127.0.0.1:8080/");
        let moved = url("http://127.0.0.1:8080/sltd/checkpoint.json");
        assert_eq!(p.check(&http_feed, &http_feed, &moved, 1), Ok(()));
    }

    #[test]
    fn the_pace_refuses_a_window_below_the_minimum_rate() {
        let mut pace = Pace::new(Duration::from_secs(600), 1000, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(20));
        match pace.advance(1, "d") {
            Err(SyncError::Transfer {
                fault: TransferFault::TooSlow { bytes: 1, .. },
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        let mut pace = Pace::new(Duration::ZERO, 0, Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(2));
        assert!(matches!(
            pace.advance(1, "d"),
            Err(SyncError::Transfer {
                fault: TransferFault::Deadline { .. },
                ..
            })
        ));
    }
}
