//! `sltd-sync`: keeps a border post's data directory in step with the signed
//! feed, over HTTP(S) or from a directory (removable media).
//!
//! Exit codes: 0 success; 1 the feed was refused (a verification failure:
//! forged, replayed, expired, ...; the installed data is unchanged); 2 any
//! other error (network, disk, configuration); 3 another sync holds the data
//! directory's lock. `status` exits 0 when FRESH, 4 when STALE, 5 when
//! EXPIRED and 6 when nothing is installed yet.

#![forbid(unsafe_code)]

use sltd_log::outln;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde::Deserialize;
use sltd_datadir::{DataDir, DataDirError, GenerationOpener, OpenOptions};
use sltd_feed::freshness::{Freshness, FreshnessPolicy};
use sltd_feed::{format_unix, now_unix};
use sltd_log::LogFormat;
use sltd_model::{MAX_LOGGED_TEXT, printable};
use sltd_sync::source::{HttpOptions, Progress, RedirectPolicy, open_source};
use sltd_sync::{
    Compaction, ProgressFactory, Schedule, Shutdown, SyncError, SyncOptions, SyncReport, Syncer,
};

const EXIT_REFUSED: u8 = 1;
const EXIT_ERROR: u8 = 2;
const EXIT_LOCKED: u8 = 3;
const EXIT_STALE: u8 = 4;
const EXIT_EXPIRED: u8 = 5;
const EXIT_EMPTY: u8 = 6;

#[derive(Parser, Debug)]
#[command(
    name = "sltd-sync",
    version,
    about = "Keep an sltd data directory in step with the signed feed",
    after_help = "Examples:\n  \
        sltd-sync --feed https://feed.example.org/sltd --data-dir DATA --trust 1.root.json run\n  \
        sltd-sync --feed /media/usb/FEED --data-dir DATA --trust 1.root.json run\n  \
        sltd-sync --config /etc/sltd/sltd-sync.toml watch\n  \
        sltd-sync --data-dir DATA status --json\n\n\
        Exit status: 0 success; 1 the feed was refused (forged, replayed, expired, ...: the\n\
        installed data is unchanged); 2 other errors (network, disk, configuration); 3 another\n\
        sync holds the lock. status: 0 FRESH, 4 STALE, 5 EXPIRED, 6 nothing installed.\n\
        Results go to stdout (--json for one JSON object), logs to stderr. Options go\n\
        before or after the subcommand."
)]
struct Cli {
    /// TOML configuration file; command-line options override it.
    #[arg(long, global = true, env = "SLTD_SYNC_CONFIG")]
    config: Option<PathBuf>,
    /// The feed: an http:// or https:// URL, or a directory.
    #[arg(long, global = true)]
    feed: Option<String>,
    /// The data directory the daemon serves.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// The pinned root metadata (a copy of the feed's 1.root.json).
    #[arg(long, global = true)]
    trust: Option<PathBuf>,
    /// Data older than this is reported STALE, e.g. 48h (the same syntax as
    /// `stale_after` in the config file and `sltdd --stale-after`)
    /// [default: 48h].
    #[arg(long, global = true)]
    stale_after: Option<humantime::Duration>,
    /// Print results as JSON (one object) instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Log format [default: text, or `log_format` in the config].
    #[arg(long, global = true, env = "SLTD_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `debug` [default: info, or `log_filter`
    /// in the config].
    #[arg(long, global = true, env = "SLTD_LOG", value_name = "FILTER")]
    log_filter: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sync once.
    Run(RunArgs),
    /// Sync periodically (with jitter), backing off after failures, until
    /// SIGTERM or SIGINT (which stop it before it installs anything more).
    Watch(WatchArgs),
    /// Show the installed sequence, data age and freshness, last outcomes.
    Status,
    /// Merge the current generation's delta segments into a new base.
    Compact,
    /// Check the configuration and the pinned root, then exit (0 when
    /// usable).
    CheckConfig,
    /// Point CURRENT back at the previous generation.
    Rollback,
}

#[derive(clap::Args, Debug, Clone)]
struct RunArgs {
    /// Start over from the latest snapshot.
    #[arg(long)]
    resync: bool,
    /// Do not compact after installing (compaction can run later with
    /// `sltd-sync compact`).
    #[arg(long)]
    no_compact: bool,
}

#[derive(clap::Args, Debug)]
struct WatchArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Time between syncs (e.g. 5m).
    #[arg(long)]
    interval: Option<humantime::Duration>,
    /// Random extra delay up to this, so posts do not poll in step.
    #[arg(long)]
    jitter: Option<humantime::Duration>,
    /// Longest wait after repeated failures.
    #[arg(long)]
    max_backoff: Option<humantime::Duration>,
}

/// The configuration file; every key is optional.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    feed: Option<String>,
    data_dir: Option<PathBuf>,
    trust: Option<PathBuf>,
    #[serde(default, with = "humantime_serde_opt")]
    interval: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    jitter: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    max_backoff: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    stale_after: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    connect_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    download_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    metadata_timeout: Option<Duration>,
    download_min_rate: Option<u64>,
    #[serde(default, with = "humantime_serde_opt")]
    download_min_rate_window: Option<Duration>,
    redirects: Option<RedirectPolicy>,
    compaction: Option<Compaction>,
    compact_permille: Option<u64>,
    max_segments: Option<usize>,
    max_delta_backlog: Option<u64>,
    log_format: Option<LogFormat>,
    log_filter: Option<String>,
}

mod humantime_serde_opt {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| humantime::parse_duration(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

struct Settings {
    cli: Cli,
    cfg: Config,
}

impl Settings {
    fn load(cli: Cli) -> anyhow::Result<Self> {
        let cfg = match &cli.config {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", p.display()))?
            }
            None => Config::default(),
        };
        Ok(Self { cli, cfg })
    }

    fn data_dir(&self) -> anyhow::Result<PathBuf> {
        self.cli
            .data_dir
            .clone()
            .or_else(|| self.cfg.data_dir.clone())
            .context("no data directory: give --data-dir or data_dir in the config")
    }

    fn feed(&self) -> anyhow::Result<String> {
        self.cli
            .feed
            .clone()
            .or_else(|| self.cfg.feed.clone())
            .context("no feed: give --feed URL|DIR or feed in the config")
    }

    fn trust(&self) -> anyhow::Result<Vec<u8>> {
        let p = self
            .cli
            .trust
            .clone()
            .or_else(|| self.cfg.trust.clone())
            .context("no pinned root: give --trust FILE (a copy of the feed's 1.root.json) or trust in the config")?;
        std::fs::read(&p).with_context(|| format!("reading the pinned root {}", p.display()))
    }

    fn freshness(&self) -> FreshnessPolicy {
        FreshnessPolicy::with_stale_after(
            self.cli
                .stale_after
                .map(Duration::from)
                .or(self.cfg.stale_after),
        )
    }

    fn timeouts(&self) -> HttpOptions {
        let mut t = HttpOptions::default();
        let c = &self.cfg;
        if let Some(v) = c.connect_timeout {
            t.connect = v;
        }
        if let Some(v) = c.download_timeout {
            t.download = v;
        }
        if let Some(v) = c.metadata_timeout {
            t.metadata = v;
        }
        if let Some(v) = c.download_min_rate {
            t.min_rate = v;
        }
        if let Some(v) = c.download_min_rate_window {
            t.min_rate_window = v;
        }
        if let Some(v) = c.redirects {
            t.redirects = v;
        }
        t
    }

    fn sync_options(&self, run: &RunArgs) -> SyncOptions {
        let mut o = SyncOptions::default();
        let c = &mut o.compaction;
        if let Some(mode) = self.cfg.compaction {
            c.mode = mode;
        }
        if run.no_compact {
            c.mode = Compaction::Never;
        }
        if let Some(p) = self.cfg.compact_permille {
            c.compact_permille = p;
        }
        if let Some(m) = self.cfg.max_segments {
            c.max_segments = m;
        }
        if let Some(b) = self.cfg.max_delta_backlog {
            o.max_delta_backlog = b;
        }
        o.resync = run.resync;
        if std::io::stderr().is_terminal() {
            o.progress = Some(Arc::new(Bars));
        }
        o
    }

    fn schedule(&self, w: &WatchArgs) -> Schedule {
        let mut s = Schedule::default();
        if let Some(i) = w.interval.map(Duration::from).or(self.cfg.interval) {
            s.interval = i;
            s.jitter = i / 10;
        }
        if let Some(j) = w.jitter.map(Duration::from).or(self.cfg.jitter) {
            s.jitter = j;
        }
        if let Some(m) = w.max_backoff.map(Duration::from).or(self.cfg.max_backoff) {
            s.max_backoff = m;
        }
        s
    }

    fn syncer<'a>(
        &self,
        source: &'a dyn sltd_sync::source::Source,
        opts: SyncOptions,
    ) -> anyhow::Result<Syncer<'a>> {
        Ok(Syncer::new(source, &self.data_dir()?, self.trust()?, opts)?)
    }
}

/// indicatif bars on a terminal.
struct Bars;

struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn update(&self, done: u64, total: Option<u64>) {
        if let Some(t) = total {
            self.0.set_length(t);
        }
        self.0.set_position(done);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

impl ProgressFactory for Bars {
    fn start(&self, what: &str) -> Box<dyn Progress> {
        let pb = indicatif::ProgressBar::new(0);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb.set_message(what.to_string());
        Box::new(Bar(pb))
    }
}

fn exit_for(e: &SyncError) -> u8 {
    match e {
        e if e.is_locked() => EXIT_LOCKED,
        e if e.is_refusal() => EXIT_REFUSED,
        _ => EXIT_ERROR,
    }
}

fn exit_for_data_dir(e: &DataDirError) -> u8 {
    match e {
        DataDirError::Locked { .. } => EXIT_LOCKED,
        _ => EXIT_ERROR,
    }
}

/// A duration for people: milliseconds below ten seconds, else seconds.
fn took(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{:.0} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// What a sync did, for people.
fn report_text(r: &SyncReport) -> String {
    let mut out = match (&r.installed, r.from_sequence) {
        (Some(generation), from) => {
            let mut line = format!(
                "installed sequence {} (generation {generation})",
                r.sequence
            );
            if let Some(from) = from {
                line += &format!(", from sequence {from}");
            }
            let mut how = Vec::new();
            if let Some(snapshot) = r.snapshot {
                how.push(format!("snapshot {snapshot}"));
            }
            if r.deltas_applied > 0 {
                how.push(format!(
                    "{} delta{} ({} keys changed)",
                    r.deltas_applied,
                    if r.deltas_applied == 1 { "" } else { "s" },
                    r.changed_keys
                ));
            }
            if !how.is_empty() {
                line += &format!(": {}", how.join(", "));
            }
            line
        }
        (None, _) if r.not_modified => format!(
            "up to date at sequence {} (the checkpoint is unchanged)",
            r.sequence
        ),
        (None, _) => format!("up to date at sequence {}", r.sequence),
    };
    if r.compacted {
        out += "; delta segments compacted into a new base";
    }
    if r.pin_changed {
        out += "\nthe pinned root changed: the stored root chain and what was learned under the old pin were set aside";
    } else if r.forgot_retired {
        out +=
            "\nthe feed's keys were rotated: what was learned under the retired keys was forgotten";
    }
    let t = &r.timings;
    out += &format!(
        "\n{} downloaded; took {} (fetch {}, verify and apply {}, build {}, install {}, compact {})",
        indicatif::HumanBytes(r.bytes_downloaded),
        took(t.fetch + t.verify_apply + t.build + t.install + t.compact),
        took(t.fetch),
        took(t.verify_apply),
        took(t.build),
        took(t.install),
        took(t.compact),
    );
    out
}

/// How a failed sync is named: a refusal of what the feed served, or an
/// operational error; and what to check for the latter.
fn failure(e: &SyncError) -> (&'static str, String) {
    let text = printable(&sltd_log::chain(e), MAX_LOGGED_TEXT).into_owned();
    match e {
        e if e.is_refusal() => (
            "refused",
            format!("{text}; the installed data is unchanged"),
        ),
        SyncError::Fetch { .. } | SyncError::NotFound { .. } => (
            "error",
            format!(
                "{text}; check --feed (or `feed` in the config) and that the feed's server answers; the installed data is unchanged"
            ),
        ),
        _ => ("error", format!("{text}; the installed data is unchanged")),
    }
}

/// Logs a sync's outcome (`watch`: every sync is a log line).
fn log_outcome(result: &Result<SyncReport, SyncError>) {
    match result {
        Ok(r) => tracing::info!(
            sequence = r.sequence,
            from = ?r.from_sequence,
            deltas = r.deltas_applied,
            snapshot = ?r.snapshot,
            bytes = r.bytes_downloaded,
            installed = ?r.installed,
            compacted = r.compacted,
            "sync done"
        ),
        Err(e) => {
            let (what, text) = failure(e);
            tracing::error!(kind = e.kind(), error = %text, "sync {what}");
        }
    }
}

/// Prints a single sync's outcome (`run`): the report on standard output,
/// or the failure once on standard error.
fn print_outcome(result: &Result<SyncReport, SyncError>, json: bool) -> anyhow::Result<()> {
    match result {
        Ok(r) if json => outln!("{}", serde_json::to_string(r)?),
        Ok(r) => outln!("{}", report_text(r)),
        Err(e) => {
            let (what, text) = failure(e);
            sltd_log::report_line("sltd-sync", what, &text);
        }
    }
    Ok(())
}

fn run_once(s: &Settings, run: &RunArgs) -> anyhow::Result<u8> {
    let source = open_source(&s.feed()?, s.timeouts())?;
    let result = s.syncer(source.as_ref(), s.sync_options(run))?.run();
    print_outcome(&result, s.cli.json)?;
    Ok(result.as_ref().err().map_or(0, exit_for))
}

/// Triggers `shutdown` on the first SIGTERM or SIGINT; a second one ends
/// the process at once (safe at any point: installation is crash-safe).
fn trigger_on_termination_signals(shutdown: Shutdown) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("starting the signal handler")?;
    // Installed before the first sync, so no signal is missed.
    let (mut term, mut int) = rt
        .block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::terminate())?,
                signal(SignalKind::interrupt())?,
            ))
        })
        .context("installing the SIGTERM and SIGINT handlers")?;
    std::thread::spawn(move || {
        rt.block_on(async move {
            for first in [true, false] {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                if first {
                    tracing::info!(
                        "shutdown asked for: stopping before the next download or installation"
                    );
                    shutdown.trigger();
                } else {
                    tracing::warn!("second signal: exiting now");
                    std::process::exit(i32::from(EXIT_ERROR));
                }
            }
        });
    });
    Ok(())
}

fn watch(s: &Settings, w: &WatchArgs) -> anyhow::Result<u8> {
    let shutdown = Shutdown::new();
    trigger_on_termination_signals(shutdown.clone())?;
    let source = open_source(&s.feed()?, s.timeouts())?;
    let mut opts = s.sync_options(&w.run);
    opts.shutdown = Some(shutdown.clone());
    let syncer = s.syncer(source.as_ref(), opts)?;
    sltd_sync::watch::watch(&s.schedule(w), &shutdown, || {
        let result = syncer.run();
        log_outcome(&result);
        result
    });
    Ok(0)
}

fn status(s: &Settings) -> anyhow::Result<u8> {
    let json = s.cli.json;
    let dir = s.data_dir()?;
    let policy = s.freshness();
    let now = now_unix();
    let data = DataDir::open(&dir)?;
    let g = data.current()?;
    let st = data.status()?;
    let fresh = g.as_ref().map(|g| g.freshness(now, &policy));
    let t = |v: Option<i64>| v.map(format_unix);
    if json {
        let v = serde_json::json!({
            "feed": g.as_ref().map(|g| g.feed.clone()),
            "sequence": g.as_ref().map(|g| g.sequence),
            "state_root": g.as_ref().map(|g| g.state_root_hex()),
            "record_count": g.as_ref().map(|g| g.record_count),
            "as_of": t(g.as_ref().map(|g| g.as_of)),
            "as_of_unix": g.as_ref().map(|g| g.as_of),
            "age_seconds": g.as_ref().map(|g| g.age(now)),
            "expires_at": t(g.as_ref().map(|g| g.expires_at)),
            "freshness": fresh.map(|f| f.as_str()),
            "stale_after_seconds": policy.stale_after.as_secs(),
            "generation": g.as_ref().map(|g| g.id.to_string()),
            "segments": g.as_ref().map(|g| g.segments.len()),
            "last_attempt": t(st.last_attempt),
            "last_success": t(st.last_success),
            "last_error": st.last_error,
            "last_error_kind": st.last_error_kind,
            "last_error_at": t(st.last_error_at),
            "consecutive_failures": st.consecutive_failures,
        });
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        match &g {
            Some(g) => {
                outln!("feed:          {}", printable(&g.feed, MAX_LOGGED_TEXT));
                outln!("sequence:      {}", g.sequence);
                outln!("state root:    {}", g.state_root_hex());
                outln!("records:       {}", g.record_count);
                outln!(
                    "as of:         {} ({} ago)",
                    format_unix(g.as_of),
                    sltd_model::format_span(g.age(now))
                );
                outln!("expires:       {}", format_unix(g.expires_at));
                outln!(
                    "freshness:     {} (stale after {})",
                    g.freshness(now, &policy),
                    sltd_model::format_span(
                        i64::try_from(policy.stale_after.as_secs()).unwrap_or(i64::MAX)
                    )
                );
                outln!("generation:    {} ({} segment(s))", g.id, g.segments.len());
            }
            None => outln!("nothing installed yet"),
        }
        outln!(
            "last success:  {}",
            t(st.last_success).unwrap_or_else(|| "never".into())
        );
        // The status file is only as trustworthy as the disk: print it safe.
        let last_error = st
            .last_error
            .as_deref()
            .map(|e| printable(e, MAX_LOGGED_TEXT));
        match (last_error, st.consecutive_failures) {
            (Some(e), n) if n > 0 => outln!(
                "last error:    {} ({} failure(s) in a row): {e}",
                t(st.last_error_at).unwrap_or_default(),
                n
            ),
            (Some(e), _) => outln!(
                "last error:    {} (since recovered): {e}",
                t(st.last_error_at).unwrap_or_default()
            ),
            (None, _) => outln!("last error:    none"),
        }
    }
    Ok(match fresh {
        None => EXIT_EMPTY,
        Some(Freshness::Fresh) => 0,
        Some(Freshness::Stale) => EXIT_STALE,
        Some(Freshness::Expired) => EXIT_EXPIRED,
    })
}

/// Logs on stderr, in the format and filter of the command line, else the
/// config file.
fn init_logging(s: &Settings) -> Result<(), sltd_log::LogError> {
    let format = s.cli.log_format.or(s.cfg.log_format).unwrap_or_default();
    let filter = s
        .cli
        .log_filter
        .as_deref()
        .or(s.cfg.log_filter.as_deref())
        .unwrap_or("info");
    sltd_log::init("sltd-sync", format, filter)
}

fn real_main(s: Settings) -> anyhow::Result<u8> {
    match &s.cli.command {
        Command::Run(r) => run_once(&s, r),
        Command::Watch(w) => watch(&s, w),
        Command::Status => status(&s),
        Command::Compact => {
            // Compaction reads only the data directory: no source, no trust.
            let data = DataDir::open(&s.data_dir()?)?;
            let opener = GenerationOpener::new(OpenOptions::SYNC);
            let result = data
                .lock()
                .and_then(|_lock| data.compact_current(&opener, now_unix()));
            match result {
                Ok(g) if s.cli.json => outln!(
                    "{}",
                    serde_json::json!({"compacted": g.is_some(), "generation": g.map(|g| g.id.to_string())})
                ),
                Ok(Some(g)) => outln!("compacted into generation {}", g.id),
                Ok(None) => outln!("nothing to compact"),
                Err(e) => {
                    sltd_log::report("sltd-sync", &e);
                    return Ok(exit_for_data_dir(&e));
                }
            }
            Ok(0)
        }
        Command::CheckConfig => {
            let feed = s.feed()?;
            open_source(&feed, s.timeouts())?;
            let root = sltd_feed::metadata::Root::from_trusted_bytes(&s.trust()?)
                .context("the pinned root")?;
            let dir = s.data_dir()?;
            if s.cli.json {
                outln!(
                    "{}",
                    serde_json::json!({
                        "feed": feed,
                        "root": {
                            "feed": root.feed,
                            "version": root.version,
                            "root_keys": root.root_keys.keys.len(),
                            "root_threshold": root.root_keys.threshold,
                            "online_keys": root.online_keys.keys.len(),
                            "online_threshold": root.online_keys.threshold,
                            "max_checkpoint_validity_s": root.max_checkpoint_validity,
                        },
                        "data_dir": dir,
                    })
                );
            } else {
                outln!(
                    "feed {feed}: pinned root {:?} version {} (root keys {} of {}, online keys {} of {}, checkpoints valid at most {}); data directory {}",
                    root.feed,
                    root.version,
                    root.root_keys.threshold,
                    root.root_keys.keys.len(),
                    root.online_keys.threshold,
                    root.online_keys.keys.len(),
                    sltd_model::format_span(root.max_checkpoint_validity),
                    dir.display()
                );
            }
            Ok(0)
        }
        Command::Rollback => {
            let data = DataDir::open(&s.data_dir()?)?;
            match data.lock().and_then(|_lock| data.rollback()) {
                Ok(g) if s.cli.json => outln!(
                    "{}",
                    serde_json::json!({"generation": g.id.to_string(), "sequence": g.sequence})
                ),
                Ok(g) => outln!(
                    "CURRENT now names generation {} (sequence {})",
                    g.id,
                    g.sequence
                ),
                Err(e) => {
                    sltd_log::report("sltd-sync", &e);
                    return Ok(exit_for_data_dir(&e));
                }
            }
            Ok(0)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli) {
        Ok(s) => s,
        Err(e) => {
            sltd_log::report("sltd-sync", e.as_ref());
            return ExitCode::from(EXIT_ERROR);
        }
    };
    if let Err(e) = init_logging(&settings) {
        sltd_log::report("sltd-sync", &e);
        return ExitCode::from(EXIT_ERROR);
    }
    match real_main(settings) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            sltd_log::report("sltd-sync", e.as_ref());
            ExitCode::from(EXIT_ERROR)
        }
    }
}
