//! Shared helpers for the daemon's end-to-end tests: small index files, a
//! server on 127.0.0.1:0, a gRPC client and a bare HTTP/1.1 client for the
//! admin listener.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sltd_index::{BuildOptions, IndexBuilder};
use sltd_model::Record;
use sltd_proto::v1 as pb;
use sltd_proto::v1::lookup_client::LookupClient;
use sltd_server::{AuditLog, Config, Daemon, DatasetSource, IndexFileSource};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tonic::transport::Channel;

/// The specimens plus `generated` generated records (seed 7).
pub fn records(generated: u64) -> Vec<Record> {
    let specimens = sltd_export::generate::specimen_records().len() as u64;
    sltd_export::generate::generate(specimens + generated, 7).collect()
}

/// Writes an index of `records` to `path` by rename, as a publisher would.
pub fn write_index(path: &Path, records: &[Record], created_at: i64) {
    let mut b = IndexBuilder::new(BuildOptions {
        created_at,
        ..BuildOptions::default()
    });
    for r in records {
        b.push(*r);
    }
    let built = b.finish().expect("build index");
    sltd_index::write_atomically(path, &built.bytes).expect("write index");
}

/// Now, Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A daemon running on 127.0.0.1:0 until dropped or stopped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub daemon: Arc<Daemon>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), sltd_server::ServerError>>>,
}

impl TestServer {
    /// Starts serving `source`; returns before the data set is loaded.
    pub async fn start_with(
        config: Config,
        source: Arc<dyn DatasetSource>,
        audit: AuditLog,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let admin_addr = admin.local_addr().unwrap();
        let daemon = Daemon::new(config, source, audit);
        let (tx, rx) = oneshot::channel::<()>();
        let d = Arc::clone(&daemon);
        let task = tokio::spawn(sltd_server::run(d, listener, Some(admin), async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            admin: admin_addr,
            daemon,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Serves the index file at `path` and waits until it is SERVING.
    pub async fn start(config: Config, path: &Path, audit: AuditLog) -> Self {
        let server = Self::start_with(config, Arc::new(IndexFileSource::new(path)), audit).await;
        server.wait_serving().await;
        server
    }

    pub async fn wait_serving(&self) {
        tokio::time::timeout(Duration::from_secs(30), self.daemon.wait_serving())
            .await
            .expect("daemon did not start serving within 30 s");
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn client(&self) -> LookupClient<Channel> {
        LookupClient::connect(self.url()).await.expect("connect")
    }

    /// Triggers shutdown and waits for `run` to return.
    pub async fn stop(mut self) {
        self.stop_inner().await;
    }

    async fn stop_inner(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("server did not stop within 30 s")
                .expect("server task panicked")
                .expect("server failed");
        }
    }

    pub fn stop_sender(&mut self) -> oneshot::Sender<()> {
        self.stop.take().unwrap()
    }
}

/// A plain HTTP/1.1 request to the admin listener: (status, body).
pub async fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect admin");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

pub fn doc(request_id: &str, number: &str, country: &str, ty: &str) -> pb::CheckRequest {
    pb::CheckRequest {
        request_id: request_id.to_string(),
        query: Some(pb::check_request::Query::Document(pb::Document {
            number: number.to_string(),
            issuing_country: country.to_string(),
            document_type: ty.to_string(),
        })),
        include_possible_matches: None,
    }
}

pub fn mrz(request_id: &str, text: &str) -> pb::CheckRequest {
    pb::CheckRequest {
        request_id: request_id.to_string(),
        query: Some(pb::check_request::Query::Mrz(text.to_string())),
        include_possible_matches: None,
    }
}

/// Polls `cond` every 20 ms for up to `secs` seconds.
pub async fn eventually<F, Fut>(secs: u64, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// A fresh temporary directory with an index of the specimens plus
/// `generated` records at `index.sltd`.
pub fn temp_index(generated: u64) -> (tempfile::TempDir, PathBuf, Vec<Record>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.sltd");
    let recs = records(generated);
    write_index(&path, &recs, now());
    (dir, path, recs)
}

/// Numbers that no generated record has: the generator never produces
/// the `QQ` prefix followed by this many digits.
pub fn miss_number(i: usize) -> String {
    format!("QQZ{i:09}")
}
