//! A small static file server for a feed directory: what `sltd feed serve`
//! runs for tests and small sites. GET and HEAD, single byte ranges, ETag and
//! Last-Modified with conditional requests, and no dot paths (the
//! publisher's private state is never served). Any static server or CDN
//! does the same job; `deploy/nginx-feed.conf` shows nginx.
//!
//! For tests it can pretend not to support ranges, and cut the first
//! response for each path after some bytes, so that resume and the plain
//! full-download fallback are exercised.

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, UNIX_EPOCH};

/// How the server behaves.
#[derive(Clone, Debug, Default)]
pub struct ServeOptions {
    /// Ignore `Range` headers and always send whole files, like a server
    /// without range support.
    pub no_range: bool,
    /// Cut the first response for each path after this many body bytes
    /// (test hook for interrupted downloads).
    pub cut_after: Option<u64>,
}

/// Most connections served at once; more are refused with 503.
const MAX_CONNECTIONS: usize = 256;

/// A running server; stops when dropped or on [`StaticServer::stop`].
#[derive(Debug)]
pub struct StaticServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    opts: ServeOptions,
    cut_done: Mutex<HashSet<String>>,
    active: AtomicUsize,
    requests: AtomicUsize,
}

impl StaticServer {
    /// Serves `dir` on `listener` from a background thread.
    pub fn start(
        listener: TcpListener,
        dir: &Path,
        opts: ServeOptions,
    ) -> std::io::Result<StaticServer> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            opts,
            cut_done: Mutex::new(HashSet::new()),
            active: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
        });
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || accept_loop(listener, shared, stop2));
        Ok(StaticServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections and waits for the accept loop.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A connection's place under [`MAX_CONNECTIONS`], given back when the
/// connection ends however it ends: a handler that panicked must not keep
/// it, or enough of them would leave the server answering 503 to everyone.
struct ConnectionSlot<'a>(&'a AtomicUsize);

impl Drop for ConnectionSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                if shared.active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                    shared.active.fetch_sub(1, Ordering::SeqCst);
                    let mut s = stream;
                    let _ = s.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    continue;
                }
                let sh = shared.clone();
                std::thread::spawn(move || {
                    let _slot = ConnectionSlot(&sh.active);
                    let _ = handle(stream, &sh);
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Formats Unix seconds as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`),
/// clamped to the years HTTP dates can write (a file's mtime can be
/// anything).
pub fn http_date(secs: i64) -> String {
    const LAST_HTTP_DATE: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let t = UNIX_EPOCH + Duration::from_secs(secs.clamp(0, LAST_HTTP_DATE).unsigned_abs());
    httpdate::fmt_http_date(t)
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
) -> std::io::Result<()> {
    let mut h = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    stream.write_all(h.as_bytes())
}

/// Parses `bytes=a-b`, `bytes=a-` or `bytes=-n` against a file of `len`.
fn parse_range(value: &str, len: u64) -> Option<Option<(u64, u64)>> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // multiple ranges: ignore, send the whole file
    }
    let (a, b) = spec.split_once('-')?;
    let r = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 {
            return Some(None);
        }
        (len.saturating_sub(n), len.checked_sub(1)?)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            len.checked_sub(1)?
        } else {
            b.parse::<u64>().ok()?.min(len.checked_sub(1)?)
        };
        (start, end)
    };
    if r.0 > r.1 || r.0 >= len {
        return Some(None); // unsatisfiable
    }
    Some(Some(r))
}

fn handle(mut stream: TcpStream, sh: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(60)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.by_ref().take(8192).read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut range = None;
    let mut if_none_match = None;
    let mut if_modified_since = None;
    for _ in 0..100 {
        let mut h = String::new();
        if reader.by_ref().take(8192).read_line(&mut h)? == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "range" => range = Some(v.trim().to_string()),
                "if-none-match" => if_none_match = Some(v.trim().to_string()),
                "if-modified-since" => if_modified_since = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    sh.requests.fetch_add(1, Ordering::SeqCst);
    if method != "GET" && method != "HEAD" {
        return respond(
            &mut stream,
            "405 Method Not Allowed",
            &[("Content-Length", "0".into())],
        );
    }
    let path = target.split(['?', '#']).next().unwrap_or("");
    let rel = path.trim_start_matches('/');
    let bad = rel.is_empty()
        || rel
            .split('/')
            .any(|c| c.is_empty() || c.starts_with('.') || c.contains('\\'));
    let file = if bad {
        None
    } else {
        fs::File::open(sh.dir.join(rel)).ok()
    };
    let Some(mut file) = file.filter(|f| f.metadata().is_ok_and(|m| m.is_file())) else {
        return respond(
            &mut stream,
            "404 Not Found",
            &[("Content-Length", "0".into())],
        );
    };
    let meta = file.metadata()?;
    let len = meta.len();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let etag = format!("\"{len:x}-{mtime_ns:x}\"");
    let last_modified = http_date(mtime);
    let not_modified = match (&if_none_match, &if_modified_since) {
        (Some(inm), _) => inm.split(',').any(|t| t.trim() == etag || t.trim() == "*"),
        (None, Some(ims)) => *ims == last_modified,
        _ => false,
    };
    let mut headers = vec![
        ("ETag", etag.clone()),
        ("Last-Modified", last_modified),
        ("Content-Type", "application/octet-stream".into()),
    ];
    if !sh.opts.no_range {
        headers.push(("Accept-Ranges", "bytes".into()));
    }
    if not_modified {
        headers.push(("Content-Length", "0".into()));
        return respond(&mut stream, "304 Not Modified", &headers);
    }
    let (status, start, end) = match range
        .as_deref()
        .filter(|_| !sh.opts.no_range)
        .map(|r| parse_range(r, len))
    {
        Some(Some(Some((a, b)))) => {
            headers.push(("Content-Range", format!("bytes {a}-{b}/{len}")));
            ("206 Partial Content", a, b + 1)
        }
        Some(Some(None)) => {
            headers.push(("Content-Range", format!("bytes */{len}")));
            headers.push(("Content-Length", "0".into()));
            return respond(&mut stream, "416 Range Not Satisfiable", &headers);
        }
        _ => ("200 OK", 0, len),
    };
    headers.push(("Content-Length", (end - start).to_string()));
    respond(&mut stream, status, &headers)?;
    if method == "HEAD" {
        return Ok(());
    }
    let mut limit = end - start;
    if let Some(cut) = sh.opts.cut_after {
        let mut done = sh.cut_done.lock().unwrap_or_else(|e| e.into_inner());
        if !done.contains(rel) && limit > cut {
            done.insert(rel.to_string());
            limit = cut;
        }
    }
    file.seek(SeekFrom::Start(start))?;
    std::io::copy(&mut file.take(limit), &mut stream)?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_ranges() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(-5), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(i64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(parse_range("bytes=0-9", 100), Some(Some((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Some((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Some((90, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(None));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        // Past 2106 (u32 seconds), 2149 and 2262 (i64 nanoseconds).
        for secs in [4_354_819_200, 5_680_281_600, 9_246_211_200] {
            assert!(http_date(secs).ends_with(" GMT"), "{secs}");
        }
    }

    #[test]
    fn a_panicking_handler_gives_its_connection_slot_back() {
        let active = AtomicUsize::new(1);
        let r = std::panic::catch_unwind(|| {
            let _slot = ConnectionSlot(&active);
            panic!("handler failed");
        });
        assert!(r.is_err());
        assert_eq!(active.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn files_with_far_future_mtimes_are_served_and_every_slot_is_freed() {
        let dir = tempfile::tempdir().unwrap();
        let far = UNIX_EPOCH + Duration::from_secs(7_258_118_400); // 2200-01-01
        for (name, t) in [("future", far), ("ancient", UNIX_EPOCH)] {
            let f = fs::File::create(dir.path().join(name)).unwrap();
            f.set_modified(t).unwrap();
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = StaticServer::start(listener, dir.path(), ServeOptions::default()).unwrap();
        for _ in 0..MAX_CONNECTIONS + 10 {
            for name in ["future", "ancient"] {
                let mut s = TcpStream::connect(server.local_addr()).unwrap();
                write!(s, "GET /{name} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
                let mut answer = String::new();
                s.read_to_string(&mut answer).unwrap();
                assert!(answer.starts_with("HTTP/1.1 200 OK"), "{name}: {answer}");
            }
        }
    }
}
