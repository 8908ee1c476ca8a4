//! Where feed files come from: an HTTP(S) server, CDN or untrusted mirror,
//! or a plain directory (removable media at an air-gapped post). A source
//! only moves bytes; nothing it returns is trusted before verification.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sltd_feed::FeedError;

use crate::SyncError;

/// Validators from the last checkpoint fetch, for a conditional GET.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// The answer to a conditional fetch.
#[derive(Debug)]
pub enum Conditional {
    NotModified,
    Body {
        bytes: Vec<u8>,
        validators: Validators,
    },
}

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

    /// Fetches a small file unless it is unchanged since `validators`.
    fn get_conditional(
        &self,
        path: &str,
        cap: u64,
        validators: &Validators,
    ) -> Result<Conditional, SyncError> {
        let _ = validators;
        Ok(Conditional::Body {
            bytes: self.get(path, cap)?,
            validators: Validators::default(),
        })
    }

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

/// Copies from `r` to `out` until EOF, failing once more than `cap` bytes
/// in total (counting `already`) would be written.
#[allow(clippy::too_many_arguments)] // one private helper shared by both sources
fn copy_capped(
    mut r: impl Read,
    out: &mut fs::File,
    already: u64,
    cap: u64,
    total: Option<u64>,
    path: &str,
    dest: &Path,
    progress: &dyn Progress,
) -> Result<u64, SyncError> {
    let mut done = already;
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Keep what arrived: the next attempt resumes from it.
                let _ = out.sync_data();
                return Err(SyncError::Fetch {
                    what: path.to_string(),
                    reason: sltd_log::chain(&e),
                });
            }
        };
        if done + n as u64 > cap {
            drop(fs::remove_file(dest));
            return Err(too_large(path, cap));
        }
        out.write_all(&buf[..n]).map_err(|e| SyncError::Io {
            path: dest.to_path_buf(),
            source: e,
        })?;
        done += n as u64;
        progress.update(done, total);
    }
    out.sync_data().map_err(|e| SyncError::Io {
        path: dest.to_path_buf(),
        source: e,
    })?;
    Ok(done - already)
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

    fn open(&self, rel: &str) -> Result<fs::File, SyncError> {
        let p = self.path(rel)?;
        fs::File::open(&p).map_err(|e| {
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
        })
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
        copy_capped(src, &mut out, have, cap, total, path, dest, progress)
    }
}

/// Timeouts of an [`HttpSource`].
#[derive(Clone, Copy, Debug)]
pub struct HttpTimeouts {
    pub connect: Duration,
    /// Whole-request bound for metadata (checkpoint, root).
    pub metadata: Duration,
    /// Whole-request bound for one download (a delta or a chunk); an
    /// interrupted download resumes on the next attempt.
    pub download: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            metadata: Duration::from_secs(30),
            download: Duration::from_secs(600),
        }
    }
}

/// A feed served over HTTP or HTTPS (rustls with the Mozilla and the
/// system's roots).
#[derive(Debug, Clone)]
pub struct HttpSource {
    base: String,
    client: reqwest::blocking::Client,
    timeouts: HttpTimeouts,
}

impl HttpSource {
    pub fn new(base: &str, timeouts: HttpTimeouts) -> Result<Self, SyncError> {
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.download)
            .tcp_keepalive(Duration::from_secs(30))
            .user_agent(concat!("sltd-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SyncError::Config {
                reason: format!("HTTP client: {e}"),
            })?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            client,
            timeouts,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path)
    }

    fn send(
        &self,
        req: reqwest::blocking::RequestBuilder,
        path: &str,
    ) -> Result<reqwest::blocking::Response, SyncError> {
        let resp = req.send().map_err(|e| SyncError::Fetch {
            what: self.url(path),
            // The whole cause: "connection refused", a DNS or TLS failure.
            reason: sltd_log::chain(&e),
        })?;
        let st = resp.status();
        if st == reqwest::StatusCode::NOT_FOUND || st == reqwest::StatusCode::GONE {
            return Err(SyncError::NotFound {
                what: path.to_string(),
            });
        }
        if !(st.is_success()
            || st == reqwest::StatusCode::NOT_MODIFIED
            || st == reqwest::StatusCode::RANGE_NOT_SATISFIABLE)
        {
            return Err(SyncError::Fetch {
                what: self.url(path),
                reason: format!("HTTP status {st}"),
            });
        }
        Ok(resp)
    }

    fn read_small(
        &self,
        resp: reqwest::blocking::Response,
        path: &str,
        cap: u64,
    ) -> Result<Vec<u8>, SyncError> {
        if resp.content_length().is_some_and(|l| l > cap) {
            return Err(too_large(path, cap));
        }
        let mut buf = Vec::new();
        resp.take(cap + 1)
            .read_to_end(&mut buf)
            .map_err(|e| SyncError::Fetch {
                what: self.url(path),
                // The whole cause: a reset, a timeout.
                reason: sltd_log::chain(&e),
            })?;
        if buf.len() as u64 > cap {
            return Err(too_large(path, cap));
        }
        Ok(buf)
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
        let req = self
            .client
            .get(self.url(path))
            .timeout(self.timeouts.metadata);
        let resp = self.send(req, path)?;
        self.read_small(resp, path, cap)
    }

    fn get_conditional(
        &self,
        path: &str,
        cap: u64,
        v: &Validators,
    ) -> Result<Conditional, SyncError> {
        use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
        let mut req = self
            .client
            .get(self.url(path))
            .timeout(self.timeouts.metadata);
        if let Some(e) = &v.etag {
            req = req.header(IF_NONE_MATCH, e);
        }
        if let Some(m) = &v.last_modified {
            req = req.header(IF_MODIFIED_SINCE, m);
        }
        let resp = self.send(req, path)?;
        if resp.status() == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Conditional::NotModified);
        }
        let validators = Validators {
            etag: header(&resp, ETAG),
            last_modified: header(&resp, LAST_MODIFIED),
        };
        let bytes = self.read_small(resp, path, cap)?;
        Ok(Conditional::Body { bytes, validators })
    }

    fn download(
        &self,
        path: &str,
        dest: &Path,
        cap: u64,
        progress: &dyn Progress,
    ) -> Result<u64, SyncError> {
        use reqwest::header::{CONTENT_RANGE, RANGE};
        let (mut out, have) = open_partial(dest)?;
        let mut req = self.client.get(self.url(path));
        if have > 0 {
            req = req.header(RANGE, format!("bytes={have}-"));
        }
        let resp = self.send(req, path)?;
        let status = resp.status();
        let io = |e| SyncError::Io {
            path: dest.to_path_buf(),
            source: e,
        };
        if status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
            // What we hold is not a prefix of the file (or is all of it):
            // start over; verification decides.
            drop(out);
            fs::remove_file(dest).map_err(io)?;
            return self.download(path, dest, cap, progress);
        }
        let resumed = status == reqwest::StatusCode::PARTIAL_CONTENT
            && header(&resp, CONTENT_RANGE)
                .is_some_and(|cr| cr.starts_with(&format!("bytes {have}-")));
        let start = if resumed {
            have
        } else {
            // A server without Range support sends the whole file.
            out.set_len(0).map_err(io)?;
            out.seek(SeekFrom::Start(0)).map_err(io)?;
            0
        };
        if have > 0 {
            tracing::debug!(path, have, resumed, "resuming download");
        }
        let total = resp.content_length().map(|l| l + start);
        if total.is_some_and(|t| t > cap) {
            drop(out);
            let _ = fs::remove_file(dest);
            return Err(too_large(path, cap));
        }
        copy_capped(resp, &mut out, start, cap, total, path, dest, progress)
    }
}

/// A source for `--feed`: a URL (`http://`, `https://`) or a directory.
pub fn open_source(
    feed: &str,
    timeouts: HttpTimeouts,
) -> Result<Box<dyn Source + Send + Sync>, SyncError> {
    if feed.starts_with("http://") || feed.starts_with("https://") {
        Ok(Box::new(HttpSource::new(feed, timeouts)?))
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
