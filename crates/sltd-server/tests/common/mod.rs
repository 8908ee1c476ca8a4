//! Helpers of the daemon's in-process tests: a server on 127.0.0.1:0, gRPC
//! requests, the admin listener over HTTP. Fixtures (records, index files,
//! the specimen MRZ texts) come from `sltd-testkit`, shared with the other
//! crates' tests.

#![allow(dead_code, unreachable_pub, unused_imports)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sltd_proto::v1 as pb;
use sltd_proto::v1::lookup_client::LookupClient;
use sltd_server::{AuditLog, Config, Daemon, DatasetSource, IndexFileSource};
pub use sltd_testkit::fixtures::{
    MRV_A, MRV_B, TD1, TD2, TD3, miss_number, now, records, temp_index, write_index,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Channel;

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
/// A POST carries the header `POST /reload` requires.
pub async fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let (method, path) = (method.to_string(), path.to_string());
    let headers: &[(&str, &str)] = if method == "POST" {
        &[(sltd_server::RELOAD_HEADER, "1")]
    } else {
        &[]
    };
    let a = tokio::task::spawn_blocking(move || {
        sltd_testkit::http::exchange(addr, &method, &path, headers)
    })
    .await
    .expect("the request thread")
    .expect("an answer from the admin listener");
    (a.status, a.body)
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

/// The verdict of an answer.
pub fn verdict(r: &pb::CheckResponse) -> pb::Verdict {
    pb::Verdict::try_from(r.verdict).unwrap()
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
