//! `sltdd`, the lookup daemon: answers `sltd.v1.Lookup` gRPC calls from a
//! memory-mapped index, swaps in a new data set without failing a query,
//! and exposes health, metrics and an audit trail of hits.
//!
//! The server is [`run`]`(daemon, listener, admin_listener, shutdown)`, so
//! tests start it on `127.0.0.1:0`. A [`Daemon`] holds the state shared by
//! the RPCs, the admin endpoints and the reloader: the current [`Dataset`]
//! behind an `ArcSwap` (a query keeps the data set it started with, however
//! many reloads happen meanwhile), the [`DatasetSource`] it reloads from,
//! the metrics and the audit log.

#![forbid(unsafe_code)]

mod admin;
pub mod audit;
mod bounds;
pub mod config;
mod datadir;
pub mod dataset;
pub mod demo;
pub mod exposition;
pub mod metrics;
pub mod recent;
mod service;
mod status_page;
mod summary;
mod tls;
mod wire;

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic_health::ServingStatus;
use tonic_health::server::{HealthReporter, HealthService};

pub use admin::RELOAD_HEADER;
pub use audit::AuditLog;
pub use config::Config;
pub use datadir::DataDirSource;
pub use dataset::{
    Dataset, DatasetMeta, DatasetSource, FileStamp, IndexFileSource, LoadError, SourceStamp,
};
pub use metrics::Metrics;
use recent::{Recent, Sample};
pub use service::{LookupService, MAX_REQUEST_ID_LEN};
pub use sltd_feed::freshness::{Freshness, FreshnessPolicy};

use sltd_feed::now_unix;

/// The gRPC service name, as the health service reports it.
pub const SERVICE_NAME: &str = "sltd.v1.Lookup";

/// A data set being served and when it was loaded.
#[derive(Debug)]
pub struct Loaded {
    pub dataset: Dataset,
    /// Unix seconds.
    pub loaded_at: i64,
    /// The data set's block of the answers, as of the last second it was
    /// asked for.
    pub(crate) dataset_block: ArcSwapOption<wire::DatasetBlock>,
}

/// What a reload did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// A new data set is being served.
    Swapped {
        previous: Option<String>,
        content_id: String,
        sequence: u64,
    },
    /// The source holds the data set already served (same content and
    /// sequence); nothing changed.
    Unchanged { content_id: String },
}

/// What triggered a reload, for logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadTrigger {
    Startup,
    Signal,
    FileChange,
    Admin,
}

impl ReloadTrigger {
    fn as_str(self) -> &'static str {
        match self {
            ReloadTrigger::Startup => "startup",
            ReloadTrigger::Signal => "signal",
            ReloadTrigger::FileChange => "file change",
            ReloadTrigger::Admin => "admin",
        }
    }
}

/// State shared by the RPCs, the admin endpoints and the reloader.
pub struct Daemon {
    config: Config,
    source: Arc<dyn DatasetSource>,
    current: ArcSwapOption<Loaded>,
    /// One reload at a time: two concurrent loads would race to swap.
    reload_lock: Mutex<Option<SourceStamp>>,
    metrics: Metrics,
    audit: AuditLog,
    health: HealthReporter,
    /// True while a data set is loaded and shutdown has not begun.
    serving: watch::Sender<bool>,
    last_error: Mutex<Option<String>>,
    shutdown_started: AtomicBool,
    started: Instant,
    /// Samples of the counters, for the status page's last hour.
    recent: Recent,
    /// Places for open `CheckStream` calls (`limits.max_open_streams`).
    stream_places: bounds::Places,
}

impl fmt::Debug for Daemon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Daemon")
            .field("source", &self.source)
            .field("serving", &*self.serving.borrow())
            .finish_non_exhaustive()
    }
}

/// Why the server could not run.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// The TLS certificate, key or client CA could not be used.
    Tls { reason: String },
    /// The gRPC transport failed.
    Transport(tonic::transport::Error),
    /// The reflection service could not be built.
    Reflection(String),
    /// An I/O error on a listener.
    Io(std::io::Error),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Tls { reason } => write!(f, "TLS: {reason}"),
            ServerError::Transport(e) => write!(f, "gRPC transport: {e}"),
            ServerError::Reflection(e) => write!(f, "reflection service: {e}"),
            ServerError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ServerError {}

impl Daemon {
    /// A daemon with no data set loaded yet; [`run`] loads it.
    pub fn new(config: Config, source: Arc<dyn DatasetSource>, audit: AuditLog) -> Arc<Self> {
        let (serving, _) = watch::channel(false);
        let metrics = Metrics::new();
        let recent = Recent::new(Sample::of(&metrics, now_unix()));
        let stream_places = bounds::Places::new(config.limits.max_open_streams);
        Arc::new(Self {
            stream_places,
            config,
            source,
            current: ArcSwapOption::empty(),
            reload_lock: Mutex::new(None),
            metrics,
            audit,
            health: HealthReporter::new(),
            serving,
            last_error: Mutex::new(None),
            shutdown_started: AtomicBool::new(false),
            started: Instant::now(),
            recent,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn source(&self) -> &Arc<dyn DatasetSource> {
        &self.source
    }

    /// The data set being served, if one is loaded. The returned `Arc`
    /// keeps it (and its mapping) alive however many reloads follow.
    pub fn current(&self) -> Option<Arc<Loaded>> {
        self.current.load_full()
    }

    pub(crate) fn loaded(&self) -> Option<Arc<Loaded>> {
        self.current()
    }

    /// Checks, hits and latency over the last hour (or since start) up to
    /// `now`, Unix seconds.
    pub fn recent_window(&self, now: i64) -> recent::Window {
        self.recent.window(&Sample::of(&self.metrics, now))
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Whether queries are being answered.
    pub fn is_serving(&self) -> bool {
        *self.serving.borrow()
    }

    /// Resolves once a data set is loaded and the daemon is serving.
    pub async fn wait_serving(&self) {
        let mut rx = self.serving.subscribe();
        // An error means the sender is gone, which cannot happen while
        // `self` lives.
        let _ = rx.wait_for(|s| *s).await;
    }

    /// The last load error, cleared by a successful load.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reopens the audit file (log rotation).
    pub fn reopen_audit(&self) -> std::io::Result<()> {
        self.audit.reopen()
    }

    /// Loads the source and swaps the new data set in if it differs from
    /// the one served. Blocking (maps and verifies the whole file): call it
    /// from a blocking thread. On error the current data set stays.
    pub fn reload(&self, trigger: ReloadTrigger) -> Result<ReloadOutcome, LoadError> {
        let mut last_stamp = self.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
        // Stamp before loading: a change during the load is seen by the next
        // poll and loaded again.
        let stamp = self.source.stamp();
        let started = Instant::now();
        let result = self.source.load();
        *last_stamp = stamp;
        let dataset = match result {
            Ok(ds) => ds,
            Err(e) => {
                self.metrics.reload("refused");
                let served = self
                    .current
                    .load()
                    .as_ref()
                    .map(|l| l.dataset.meta().content_id.clone());
                match &served {
                    Some(id) => tracing::error!(
                        trigger = trigger.as_str(),
                        error = %e,
                        serving = %id,
                        "new data set refused; still serving the previous one"
                    ),
                    None => tracing::error!(
                        trigger = trigger.as_str(),
                        error = %e,
                        "cannot load the data set; not serving"
                    ),
                }
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                return Err(e);
            }
        };
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let meta = dataset.meta().clone();
        let previous = self.current.load_full();
        if let Some(prev) = &previous {
            // Unchanged only if everything an answer reports is the same,
            // the generation (in `source`) included: a refreshed checkpoint
            // keeps the records but moves the as-of and the expiry, and a
            // compaction keeps both but serves new files.
            if *prev.dataset.meta() == meta {
                self.metrics.reload("unchanged");
                tracing::info!(trigger = trigger.as_str(), content_id = %meta.content_id, "data set unchanged");
                return Ok(ReloadOutcome::Unchanged {
                    content_id: meta.content_id,
                });
            }
        }
        self.current.store(Some(Arc::new(Loaded {
            dataset,
            loaded_at: now_unix(),
            dataset_block: ArcSwapOption::empty(),
        })));
        self.metrics.reload("swapped");
        let previous_id = previous.map(|p| p.dataset.meta().content_id.clone());
        tracing::info!(
            trigger = trigger.as_str(),
            source = %meta.source,
            content_id = %meta.content_id,
            sequence = meta.sequence,
            records = meta.record_count,
            previous = previous_id.as_deref().unwrap_or("none"),
            load_ms = started.elapsed().as_millis() as u64,
            "serving data set"
        );
        Ok(ReloadOutcome::Swapped {
            previous: previous_id,
            content_id: meta.content_id,
            sequence: meta.sequence,
        })
    }

    /// [`reload`](Self::reload) on a blocking thread, then updates health.
    pub async fn reload_async(
        self: &Arc<Self>,
        trigger: ReloadTrigger,
    ) -> Result<ReloadOutcome, LoadError> {
        let me = Arc::clone(self);
        let result = tokio::task::spawn_blocking(move || me.reload(trigger))
            .await
            .unwrap_or_else(|e| {
                Err(LoadError::Invalid {
                    reason: format!("reload task failed: {e}"),
                })
            });
        if result.is_ok() && !self.is_serving() && !self.shutting_down() {
            self.set_serving(true).await;
        }
        result
    }

    fn shutting_down(&self) -> bool {
        self.shutdown_started.load(Ordering::SeqCst)
    }

    async fn set_serving(&self, serving: bool) {
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.health.set_service_status("", status).await;
        self.health.set_service_status(SERVICE_NAME, status).await;
        self.metrics.set_serving(serving);
        self.serving.send_replace(serving);
    }

    /// Has the source's fingerprint moved since the last load?
    /// Blocking (stats files). False while a reload is running: it will
    /// record the stamp it loaded.
    fn source_changed(&self) -> bool {
        let Some(now) = self.source.stamp() else {
            return false;
        };
        match self.reload_lock.try_lock() {
            Ok(last) => last.as_ref() != Some(&now),
            Err(_) => false,
        }
    }
}

/// Samples the counters every minute for the status page's last hour.
async fn sample_counters(daemon: Arc<Daemon>, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_secs(recent::SAMPLE_EVERY_SECS);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        daemon
            .recent
            .record(Sample::of(&daemon.metrics, now_unix()));
    }
}

/// Polls the source's fingerprint and reloads when it moves. Cheap: a
/// `stat` per file per interval, off the async threads.
async fn watch_source(daemon: Arc<Daemon>, mut stop: watch::Receiver<bool>) {
    let interval = daemon.config.reload.poll_interval();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let d = Arc::clone(&daemon);
        let changed = tokio::task::spawn_blocking(move || d.source_changed())
            .await
            .unwrap_or(false);
        if changed {
            // The error is logged and counted by reload().
            let _ = daemon.reload_async(ReloadTrigger::FileChange).await;
        }
    }
}

/// Serves the daemon until `shutdown` resolves, then drains for at most
/// `limits.drain_timeout_ms`.
///
/// Loads the data set in the background if none is loaded: until it is
/// mapped, resident and verified, the gRPC health service reports
/// NOT_SERVING and lookups answer UNAVAILABLE. `admin` serves `/metrics`,
/// `/livez`, `/readyz`, `/status` and `POST /reload`; keep it off the public
/// network.
pub async fn run(
    daemon: Arc<Daemon>,
    listener: TcpListener,
    admin: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let config = &daemon.config;
    let limits = &config.limits;
    daemon.set_serving(daemon.current.load().is_some()).await;

    let (stop_tx, stop_rx) = watch::channel(false);

    if daemon.current.load().is_none() {
        let d = Arc::clone(&daemon);
        tokio::spawn(async move {
            let _ = d.reload_async(ReloadTrigger::Startup).await;
        });
    }
    if config.reload.watch {
        tokio::spawn(watch_source(Arc::clone(&daemon), stop_rx.clone()));
    }
    tokio::spawn(sample_counters(Arc::clone(&daemon), stop_rx.clone()));
    let admin_task = admin.map(|l| {
        let router = admin::router(Arc::clone(&daemon));
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let result = axum::serve(l, router)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "admin listener failed");
            }
        })
    });

    let lookup = wire::LookupRouter::new(
        LookupService::new(Arc::clone(&daemon)),
        limits.max_message_bytes,
        // Answers can be larger than questions (a batch of hits).
        limits.max_message_bytes.saturating_mul(4),
    );
    // Both reflection versions: grpcurl and current clients speak v1, while
    // Python's grpcio-reflection and many GUI clients speak only v1alpha.
    // Each lists both, so whichever a client asks sees every service.
    let reflection_builder = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(sltd_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection = reflection_builder()
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServerError::Reflection(e.to_string()))?;
    let reflection_v1alpha = reflection_builder()
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|e| ServerError::Reflection(e.to_string()))?;
    let health = tonic_health::pb::health_server::HealthServer::new(
        HealthService::from_health_reporter(daemon.health.clone()),
    );

    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls::server_tls(&config.tls)? {
        let tls = tls.timeout(limits.tls_handshake_timeout());
        builder = builder.tls_config(tls).map_err(|e| ServerError::Tls {
            reason: e.to_string(),
        })?;
    }
    let keepalive = (limits.keepalive_interval_secs > 0)
        .then(|| Duration::from_secs(limits.keepalive_interval_secs));
    if let Some(age) = limits.max_connection_age() {
        builder = builder
            .max_connection_age(age)
            .max_connection_age_grace(limits.drain_timeout());
    }
    let router = builder
        .timeout(limits.request_timeout())
        .max_concurrent_streams(limits.max_concurrent_streams)
        .http2_keepalive_interval(keepalive)
        .http2_keepalive_timeout(Some(Duration::from_secs(
            limits.keepalive_timeout_secs.max(1),
        )))
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            limits.max_concurrent_requests,
        ))
        .add_service(health)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(lookup);

    // tonic applies `tcp_nodelay` only to listeners it binds itself, so set
    // it on each accepted socket: without it small answers wait for the
    // peer's delayed ACK (Nagle), tens of milliseconds.
    // Beyond `limits.max_connections` a connection is closed at once: a
    // flood of idle or half-open connections cannot take the daemon's
    // memory or file descriptors.
    let places = bounds::Places::new(limits.max_connections);
    let m = Arc::clone(&daemon);
    let incoming = TcpListenerStream::new(listener).filter_map(move |conn| {
        let stream = match conn {
            Ok(s) => s,
            Err(e) => return Some(Err(e)),
        };
        let Some(place) = places.take() else {
            m.metrics.connection_refused();
            tracing::debug!("connection refused: limits.max_connections reached");
            return None;
        };
        let placed = (|| {
            stream.set_nodelay(true)?;
            let keepalive = socket2::TcpKeepalive::new().with_time(Duration::from_secs(60));
            socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive)?;
            Ok::<_, std::io::Error>(bounds::PlacedConnection::new(stream, place))
        })();
        Some(placed)
    });

    let mut stop_signal = stop_rx.clone();
    let serve = router.serve_with_incoming_shutdown(incoming, async move {
        let _ = stop_signal.wait_for(|s| *s).await;
    });
    let drain = limits.drain_timeout();
    let delay = limits.shutdown_delay();
    let d = Arc::clone(&daemon);
    let mut stop_wait = stop_rx.clone();
    let shutdown = async move {
        shutdown.await;
        d.shutdown_started.store(true, Ordering::SeqCst);
        // Load balancers see NOT_SERVING first and stop sending; until they
        // have, calls keep being answered.
        d.set_serving(false).await;
        if !delay.is_zero() {
            tracing::info!(
                delay_ms = delay.as_millis() as u64,
                "shutting down: reporting NOT_SERVING, still answering"
            );
            tokio::time::sleep(delay).await;
        }
        tracing::info!(
            drain_ms = drain.as_millis() as u64,
            "shutting down: draining"
        );
        let _ = stop_tx.send(true);
        drop(stop_tx);
    };
    tokio::pin!(serve);
    tokio::pin!(shutdown);
    let mut shutdown_done = false;
    let result = loop {
        tokio::select! {
            r = &mut serve => break r.map_err(ServerError::Transport),
            _ = &mut shutdown, if !shutdown_done => {
                shutdown_done = true;
            }
            _ = async {
                let _ = stop_wait.wait_for(|s| *s).await;
                tokio::time::sleep(drain).await;
            }, if shutdown_done => {
                tracing::warn!("drain timeout reached; closing remaining connections");
                break Ok(());
            }
        }
    };
    if let Some(task) = admin_task {
        let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
    }
    tracing::info!("stopped");
    result
}

/// Checks that the TLS files of `cfg` can be read and make a valid rustls
/// configuration (for `sltdd --check-config`).
pub fn check_tls(cfg: &config::TlsConfig) -> Result<(), ServerError> {
    if let Some(tls) = tls::server_tls(cfg)? {
        tonic::transport::Server::builder()
            .tls_config(tls)
            .map_err(|e| ServerError::Tls {
                reason: e.to_string(),
            })?;
    }
    Ok(())
}
