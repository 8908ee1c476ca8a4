//! `sltdd`: the lookup daemon's binary. Reads flags, environment and the
//! config file, sets up logging, signals and systemd notification, and
//! hands over to [`sltd_server::run`].

#![forbid(unsafe_code)]

use sltd_log::outln;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use sltd_log::LogFormat;
use sltd_server::config::{self, Config};
use sltd_server::{
    AuditLog, Daemon, DataDirSource, DatasetSource, IndexFileSource, ReloadTrigger, demo,
};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

/// Exit status for a bad command line or configuration (BSD `EX_USAGE`).
const EXIT_CONFIG: u8 = 64;
/// Exit status for a failure while running.
const EXIT_FAILURE: u8 = 1;

#[derive(Parser, Debug)]
#[command(
    name = "sltdd",
    version,
    about = "The sltd lookup daemon: checks travel documents against the stolen and lost travel documents list over gRPC",
    after_help = "\
Examples:
  sltdd --demo                                   build a demo data set and serve it
  sltdd --index /var/lib/sltd/index.sltd         serve an index file
  sltdd --data-dir /var/lib/sltd/data            serve what sltd-sync installs
  sltdd --config /etc/sltd/sltdd.toml            everything from a config file
  sltdd --config /etc/sltd/sltdd.toml --check-config

Flags override environment variables (SLTDD_*), which override the config
file. Signals: SIGHUP reloads the data set and reopens the audit log;
SIGTERM or SIGINT drains and stops. Exit status 64 means a configuration
error."
)]
struct Cli {
    /// TOML config file (see deploy/sltdd.toml).
    #[arg(long, short = 'c', env = "SLTDD_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Index file to serve (built with `sltd index build`).
    #[arg(
        long,
        env = "SLTDD_INDEX",
        value_name = "FILE",
        conflicts_with = "demo"
    )]
    index: Option<PathBuf>,

    /// Data directory kept up to date by `sltd-sync`: serve its current
    /// generation (base plus delta segments) and switch when a sync installs
    /// a new one.
    #[arg(
        long,
        env = "SLTDD_DATA_DIR",
        value_name = "DIR",
        conflicts_with_all = ["demo", "index"]
    )]
    data_dir: Option<PathBuf>,

    /// Build a demo data set (the ICAO specimens plus 1M generated records)
    /// in a temporary directory and serve it.
    #[arg(long)]
    demo: bool,

    /// Generated records in the demo data set.
    #[arg(long, value_name = "N", default_value_t = demo::DEMO_GENERATED_RECORDS, requires = "demo")]
    demo_records: u64,

    /// Public gRPC address [default: 127.0.0.1:50051].
    #[arg(long, env = "SLTDD_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,

    /// Admin HTTP address for /metrics, /readyz, /livez, /status and
    /// POST /reload [default: 127.0.0.1:9851].
    #[arg(long, env = "SLTDD_ADMIN_LISTEN", value_name = "ADDR")]
    admin_listen: Option<SocketAddr>,

    /// PEM certificate chain: turns TLS on.
    #[arg(long, env = "SLTDD_TLS_CERT", value_name = "FILE")]
    tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "SLTDD_TLS_KEY", value_name = "FILE")]
    tls_key: Option<PathBuf>,

    /// PEM CA that client certificates must chain to: turns mutual TLS on.
    #[arg(long, env = "SLTDD_TLS_CLIENT_CA", value_name = "FILE")]
    tls_client_ca: Option<PathBuf>,

    /// Audit log of hits: a file to append to, or `-` for standard output
    /// [default: standard output].
    #[arg(long, env = "SLTDD_AUDIT_LOG", value_name = "PATH")]
    audit_log: Option<PathBuf>,

    /// Log format.
    #[arg(long, env = "SLTDD_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,

    /// Log filter, e.g. `info` or `debug` [default: info].
    #[arg(long, env = "SLTDD_LOG", value_name = "FILTER")]
    log_filter: Option<String>,

    /// Threads answering requests [default: one per CPU].
    #[arg(long, env = "SLTDD_WORKER_THREADS", value_name = "N")]
    worker_threads: Option<usize>,

    /// Most queries in one CheckBatch [default: 1000].
    #[arg(long, env = "SLTDD_MAX_BATCH", value_name = "N")]
    max_batch: Option<usize>,

    /// Data older than this is reported STALE, e.g. 48h (the same syntax as
    /// `stale_after` in the config file and `sltd-sync --stale-after`)
    /// [default: 48h].
    #[arg(long, env = "SLTDD_STALE_AFTER", value_name = "DURATION")]
    stale_after: Option<humantime::Duration>,

    /// Do not reload when the index file changes (SIGHUP and POST /reload
    /// still do).
    #[arg(long)]
    no_watch: bool,

    /// Check the configuration, TLS files and index (every byte), then
    /// exit: 0 if the daemon would start, 64 if not.
    #[arg(long)]
    check_config: bool,
}

/// The command line and config file merged: what the daemon runs with.
struct Settings {
    config: Config,
    listen: SocketAddr,
    admin_listen: SocketAddr,
}

fn settings(cli: &Cli) -> Result<Settings, config::ConfigError> {
    let mut config = match &cli.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    let invalid = |key, reason: String| config::ConfigError::Invalid { key, reason };
    macro_rules! set {
        ($flag:expr, $field:expr) => {
            if let Some(v) = $flag.clone() {
                $field = Some(v);
            }
        };
    }
    set!(cli.index, config.index);
    set!(cli.data_dir, config.data_dir);
    set!(cli.listen, config.listen);
    set!(cli.admin_listen, config.admin_listen);
    set!(cli.tls_cert, config.tls.cert);
    set!(cli.tls_key, config.tls.key);
    set!(cli.tls_client_ca, config.tls.client_ca);
    set!(cli.audit_log, config.audit.path);
    set!(cli.log_filter, config.log.filter);
    set!(cli.worker_threads, config.worker_threads);
    if let Some(f) = cli.log_format {
        config.log.format = f;
    }
    if let Some(n) = cli.max_batch {
        config.limits.max_batch = n;
    }
    if let Some(d) = cli.stale_after {
        config.freshness.stale_after = d.into();
    }
    if cli.no_watch {
        config.reload.watch = false;
    }
    if cli.demo {
        if config.index.is_some() || config.data_dir.is_some() {
            return Err(invalid(
                "index",
                "--demo builds its own data set; remove `index` / `data_dir` (or --index, --data-dir, SLTDD_INDEX, SLTDD_DATA_DIR)".into(),
            ));
        }
    } else {
        match (&config.index, &config.data_dir) {
            (None, None) => {
                return Err(invalid(
                    "index",
                    "no data set to serve: give --index FILE or --data-dir DIR (or `index` / `data_dir` in the config file), or try --demo".into(),
                ));
            }
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "data_dir",
                    "give either an index file or a data directory, not both".into(),
                ));
            }
            (Some(path), None) if !path.is_file() => {
                return Err(invalid(
                    "index",
                    format!(
                        "{} is not a file: build one with `sltd index build`",
                        path.display()
                    ),
                ));
            }
            (None, Some(dir)) if !dir.is_dir() => {
                return Err(invalid(
                    "data_dir",
                    format!(
                        "{} is not a directory: create it with `sltd-sync --data-dir {} run`",
                        dir.display(),
                        dir.display()
                    ),
                ));
            }
            _ => {}
        }
    }
    config.validate()?;
    let listen = config
        .listen
        .unwrap_or_else(|| config::DEFAULT_LISTEN.parse().expect("valid default"));
    let admin_listen = config
        .admin_listen
        .unwrap_or_else(|| config::DEFAULT_ADMIN_LISTEN.parse().expect("valid default"));
    if listen == admin_listen && listen.port() != 0 {
        return Err(invalid(
            "admin_listen",
            "must differ from `listen`: metrics and reload must never be on the public port".into(),
        ));
    }
    Ok(Settings {
        config,
        listen,
        admin_listen,
    })
}

/// Logs go to stderr: stdout may carry the audit trail.
fn init_logging(config: &Config) -> Result<(), sltd_log::LogError> {
    sltd_log::init(
        "sltdd",
        config.log.format,
        config.log.filter.as_deref().unwrap_or("info"),
    )
}

fn open_audit(config: &Config) -> anyhow::Result<AuditLog> {
    match &config.audit.path {
        None => Ok(AuditLog::stdout()),
        Some(p) if p.as_os_str() == "-" => Ok(AuditLog::stdout()),
        Some(p) => {
            AuditLog::file(p).with_context(|| format!("cannot open audit log {}", p.display()))
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_CONFIG } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let settings = match settings(&cli) {
        Ok(s) => s,
        Err(e) => {
            // In the format asked for on the command line, if any: the
            // config file that would say otherwise is what failed.
            let _ = sltd_log::init("sltdd", cli.log_format.unwrap_or_default(), "info");
            sltd_log::report_line("sltdd", "configuration error", &sltd_log::chain(&e));
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Err(e) = init_logging(&settings.config) {
        sltd_log::report_line("sltdd", "configuration error", &sltd_log::chain(&e));
        return ExitCode::from(EXIT_CONFIG);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            sltd_log::report_line("sltdd", "cannot start the runtime", &sltd_log::chain(&e));
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let result = if cli.check_config {
        check_config(&settings)
    } else {
        runtime.block_on(serve(&cli, settings))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            sltd_log::report("sltdd", e.as_ref());
            let config_error = e.chain().any(|c| c.is::<config::ConfigError>());
            ExitCode::from(if config_error {
                EXIT_CONFIG
            } else {
                EXIT_FAILURE
            })
        }
    }
}

/// `--check-config`: everything `serve` would check before answering.
fn check_config(settings: &Settings) -> anyhow::Result<()> {
    let config = &settings.config;
    let as_config_error = |key: &'static str, e: &dyn std::fmt::Display| {
        anyhow::Error::new(config::ConfigError::Invalid {
            key,
            reason: e.to_string(),
        })
    };
    open_audit(config).map_err(|e| as_config_error("audit.path", &format!("{e:#}")))?;
    sltd_server::check_tls(&config.tls).map_err(|e| as_config_error("tls", &e))?;
    let source: Option<(&'static str, Box<dyn DatasetSource>)> =
        match (&config.index, &config.data_dir) {
            (Some(index), _) => Some(("index", Box::new(IndexFileSource::new(index)))),
            (None, Some(dir)) => Some(("data_dir", Box::new(DataDirSource::new(dir)))),
            (None, None) => None,
        };
    if let Some((key, source)) = source {
        match source.load() {
            Ok(ds) => {
                let m = ds.meta();
                outln!(
                    "{}: {} records, content id {}, sequence {}",
                    source.describe(),
                    m.record_count,
                    m.content_id,
                    m.sequence
                );
            }
            // What is in a data directory is sltd-sync's to repair, not a
            // configuration error: the daemon starts NOT_SERVING and loads
            // the data once a sync installs it. Failing here (status 64)
            // would keep the unit from ever starting again.
            Err(e) if key == "data_dir" => outln!(
                "warning: {}: {}; sltdd will start NOT_SERVING and load the data once \
                 `sltd-sync run` installs a generation",
                source.describe(),
                sltd_model::printable(&e.to_string(), sltd_model::MAX_LOGGED_TEXT)
            ),
            Err(e) => return Err(as_config_error(key, &e)),
        }
    }
    outln!(
        "configuration ok: gRPC on {}, admin on {}{}",
        settings.listen,
        settings.admin_listen,
        if config.tls.enabled() { ", TLS on" } else { "" }
    );
    Ok(())
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} ({what}); is another sltdd running? choose another address with --listen / --admin-listen"))
}

async fn serve(cli: &Cli, settings: Settings) -> anyhow::Result<()> {
    // Configuration problems found now are configuration errors (exit 64),
    // not failures of a running daemon.
    let as_config_error = |key: &'static str, reason: String| {
        anyhow::Error::new(config::ConfigError::Invalid { key, reason })
    };
    let audit = open_audit(&settings.config)
        .map_err(|e| as_config_error("audit.path", format!("{e:#}")))?;
    sltd_server::check_tls(&settings.config.tls)
        .map_err(|e| as_config_error("tls", e.to_string()))?;
    // Listen before building a demo data set: a port in use fails at once.
    let listener = bind(settings.listen, "gRPC").await?;
    let admin = bind(settings.admin_listen, "admin").await?;
    // Keeps the demo's temporary directory alive while serving.
    let mut _demo_dir = None;
    let source: Arc<dyn DatasetSource> = match (&settings.config.index, &settings.config.data_dir) {
        (Some(path), _) => Arc::new(IndexFileSource::new(path)),
        (None, Some(dir)) => Arc::new(DataDirSource::new(dir)),
        (None, None) => {
            let dir = tempfile::Builder::new().prefix("sltdd-demo-").tempdir()?;
            let path = build_demo(dir.path(), cli.demo_records).await?;
            _demo_dir = Some(dir);
            Arc::new(IndexFileSource::new(path))
        }
    };
    let grpc_addr = listener.local_addr()?;
    let admin_addr = admin.local_addr()?;
    let daemon = Daemon::new(settings.config.clone(), source, audit);
    tracing::info!(grpc = %grpc_addr, admin = %admin_addr, source = %daemon.source().describe(), "listening; loading the data set");

    tokio::spawn(handle_sighup(Arc::clone(&daemon)));
    tokio::spawn(notify_systemd(Arc::clone(&daemon)));
    if cli.demo {
        let demo_rows = cli.demo_records + demo::specimens().len() as u64;
        let d = Arc::clone(&daemon);
        tokio::spawn(async move {
            d.wait_serving().await;
            print_demo_help(&d, demo_rows, grpc_addr, admin_addr);
        });
    }
    let result = sltd_server::run(daemon, listener, Some(admin), shutdown_signal()).await;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    result.map_err(anyhow::Error::from)
}

async fn build_demo(dir: &std::path::Path, records: u64) -> anyhow::Result<PathBuf> {
    let dir = dir.to_path_buf();
    eprintln!(
        "sltdd: building the demo data set: the ICAO specimen documents plus {records} generated records"
    );
    tokio::task::spawn_blocking(move || {
        let bar = indicatif::ProgressBar::new(records);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {msg} [{bar:40}] {human_pos}/{human_len} ({per_sec}, {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message("generating records");
        let path = demo::build_demo_index(&dir, records, |done, _| bar.set_position(done))?;
        bar.finish_with_message("index built");
        Ok::<_, anyhow::Error>(path)
    })
    .await?
}

fn print_demo_help(daemon: &Daemon, rows: u64, grpc: SocketAddr, admin: SocketAddr) {
    let records = daemon
        .current()
        .map(|l| l.dataset.meta().record_count)
        .unwrap_or_default();
    let mut s = format!("\nsltdd demo: serving {records} records on {grpc} (gRPC, plaintext).\n");
    let repeated = rows.saturating_sub(records);
    if repeated > 0 {
        s += &format!(
            "The {rows} records built repeat {repeated} key{} (issuing state and number): as in any\n\
             export, only the most recently reported record of a key is kept (docs/MATCHING.md).\n",
            if repeated == 1 { "" } else { "s" }
        );
    }
    s += "\nKnown hits, the ICAO Doc 9303 specimen documents (issuing state UTO):\n";
    for r in demo::specimens() {
        s += &format!(
            "  {:<10} type {:<2} {}\n",
            r.key.number.as_str(),
            r.doc_type.as_str(),
            r.status
        );
    }
    let server = format!("http://{grpc}");
    s += &format!(
        "\nTry it (exit status 0 = hit, 1 = no hit, 2 = error):\n\
         \x20 cargo run --release --bin sltd -- check --server {server} --number L898902C3 --country UTO\n\
         \x20 cargo run --release --bin sltd -- check --server {server} --number X0000000        # a miss\n\
         \x20 cargo run --release --bin sltd -- check --server {server} --json \\\n\
         \x20     --mrz $'P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\\nL898902C36UTO7408122F1204159ZE184226B<<<<<10'\n\
         \x20 grpcurl -plaintext -d '{{\"document\":{{\"number\":\"L898902C3\",\"issuing_country\":\"UTO\"}}}}' \\\n\
         \x20     {grpc} sltd.v1.Lookup/Check\n\
         \x20 python3 examples/python/check.py --server {grpc} L898902C3 UTO   # see examples/python/README.md\n\
         \nAdmin: curl http://{admin}/status   curl http://{admin}/metrics\n\
         Hits are audited as JSON lines on standard output. Stop with Ctrl-C.\n"
    );
    outln!("{s}");
}

/// Resolves on the first SIGTERM or SIGINT. A second one during the drain
/// stops at once.
async fn shutdown_signal() {
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot install the SIGTERM handler");
            return std::future::pending().await;
        }
    };
    let mut int = match signal(SignalKind::interrupt()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot install the SIGINT handler");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::warn!("second signal: stopping without draining");
        std::process::exit(i32::from(EXIT_FAILURE));
    });
}

/// SIGHUP: reopen the audit log (rotation) and reload the data set.
async fn handle_sighup(daemon: Arc<Daemon>) {
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot install the SIGHUP handler");
            return;
        }
    };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP received: reopening the audit log and reloading");
        if let Err(e) = daemon.reopen_audit() {
            tracing::error!(error = %e, "cannot reopen the audit log");
        }
        // Errors are logged and counted by reload().
        let _ = daemon.reload_async(ReloadTrigger::Signal).await;
    }
}

/// Tells systemd (Type=notify) we are ready once the data set is resident,
/// and pings its watchdog from the runtime, so a wedged runtime is
/// restarted. Does nothing outside systemd.
async fn notify_systemd(daemon: Arc<Daemon>) {
    daemon.wait_serving().await;
    let status = daemon
        .current()
        .map(|l| {
            let m = l.dataset.meta();
            format!(
                "serving {} records, content id {}",
                m.record_count, m.content_id
            )
        })
        .unwrap_or_default();
    if let Err(e) = sd_notify::notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&status),
    ]) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let mut tick = tokio::time::interval((interval / 2).max(Duration::from_millis(100)));
    loop {
        tick.tick().await;
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
    }
}
