//! The daemon's configuration: the TOML file's schema, its defaults, and
//! the checks that turn a bad value into a message naming the key.
//!
//! `deploy/sltdd.toml` is the annotated example; every key is optional.
//! Command-line flags and `SLTDD_*` environment variables override the file
//! (the binary does the merging).

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use sltd_feed::freshness::FreshnessPolicy;
pub use sltd_log::LogFormat;

/// The default public gRPC address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
/// The default admin (metrics, health, reload) address.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9851";

/// Everything `sltdd` can be told in its config file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The index file to serve.
    pub index: Option<PathBuf>,
    /// A data directory kept up to date by `sltd-sync` (instead of `index`).
    pub data_dir: Option<PathBuf>,
    /// Public gRPC address.
    pub listen: Option<SocketAddr>,
    /// Admin HTTP address (metrics, health, reload). Keep it private.
    pub admin_listen: Option<SocketAddr>,
    /// Threads answering requests (default: one per CPU). On a small host
    /// shared with other work, one thread gives lower tail latency for
    /// unary checks (fewer cross-thread wake-ups); more threads give more
    /// throughput.
    pub worker_threads: Option<usize>,
    pub log: LogConfig,
    pub audit: AuditConfig,
    pub tls: TlsConfig,
    pub limits: Limits,
    /// When answers report the data STALE (`[freshness] stale_after =
    /// "48h"`, the same key and syntax as `sltd-sync`'s).
    pub freshness: FreshnessPolicy,
    pub reload: ReloadConfig,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`, as for every sltd program.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `info,sltd_server=debug`.
    pub filter: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Where HIT audit lines go: a file path (appended to, reopened on
    /// SIGHUP for log rotation) or `-` for standard output. Unset: stdout.
    pub path: Option<PathBuf>,
    /// A hit whose audit line cannot be written is refused (UNAVAILABLE)
    /// instead of answered. Either way the failure is logged and counted
    /// (`sltd_audit_write_errors_total`).
    pub fail_closed: bool,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain of the server. Setting it turns TLS on.
    pub cert: Option<PathBuf>,
    /// PEM private key of the server.
    pub key: Option<PathBuf>,
    /// PEM CA certificates that client certificates must chain to. Setting
    /// it requires every client to present a valid certificate (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        self.cert.is_some() || self.key.is_some() || self.client_ca.is_some()
    }
}

/// Bounds on what one client can ask of the daemon.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Most queries in one CheckBatch.
    pub max_batch: usize,
    /// Largest request message, bytes.
    pub max_message_bytes: usize,
    /// Requests served at once across all connections; more wait.
    pub max_concurrent_requests: usize,
    /// HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// Deadline for a unary call (a client's shorter grpc-timeout wins).
    pub request_timeout_ms: u64,
    /// HTTP/2 keepalive ping interval; 0 disables it.
    pub keepalive_interval_secs: u64,
    /// How long to wait for a keepalive ping's answer before closing.
    pub keepalive_timeout_secs: u64,
    /// On SIGTERM, how long to go on answering while the health service
    /// reports NOT_SERVING, before the drain begins: long enough for load
    /// balancers' health checks to take this replica out, so that no call
    /// is sent to a closing daemon. 0 drains at once.
    pub shutdown_delay_ms: u64,
    /// On SIGTERM, how long in-flight calls and open streams may take to
    /// finish before connections are closed.
    pub drain_timeout_ms: u64,
    /// Connections open at once; a connection beyond it is closed as soon
    /// as it is accepted.
    pub max_connections: usize,
    /// `CheckStream` calls open at once across all connections; more are
    /// refused with RESOURCE_EXHAUSTED.
    pub max_open_streams: usize,
    /// How long a client may take to complete the TLS handshake.
    pub tls_handshake_timeout_ms: u64,
    /// A connection older than this is asked to go away (HTTP/2 GOAWAY;
    /// gRPC clients reconnect), then closed after `drain_timeout_ms`; 0
    /// keeps connections for ever.
    pub max_connection_age_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_batch: 1000,
            max_message_bytes: 4 * 1024 * 1024,
            max_concurrent_requests: 4096,
            max_concurrent_streams: 1024,
            request_timeout_ms: 5_000,
            keepalive_interval_secs: 30,
            keepalive_timeout_secs: 10,
            shutdown_delay_ms: 0,
            drain_timeout_ms: 10_000,
            max_connections: 10_000,
            max_open_streams: 4096,
            tls_handshake_timeout_ms: 10_000,
            max_connection_age_secs: 3600,
        }
    }
}

impl Limits {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn shutdown_delay(&self) -> Duration {
        Duration::from_millis(self.shutdown_delay_ms)
    }

    pub fn drain_timeout(&self) -> Duration {
        Duration::from_millis(self.drain_timeout_ms)
    }

    pub fn tls_handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.tls_handshake_timeout_ms)
    }

    /// `None` when connections are kept for ever.
    pub fn max_connection_age(&self) -> Option<Duration> {
        (self.max_connection_age_secs > 0)
            .then(|| Duration::from_secs(self.max_connection_age_secs))
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReloadConfig {
    /// Reload when the data set's files change (polled).
    pub watch: bool,
    /// How often to look for a change. Polling file metadata is cheap and,
    /// unlike inotify, sees a rename over the path whatever the directory
    /// layout or file system.
    pub poll_interval_ms: u64,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        Self {
            watch: true,
            poll_interval_ms: 250,
        }
    }
}

impl ReloadConfig {
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(10))
    }
}

/// A configuration that cannot be used; the message names the key.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown key or a wrong type.
    Parse { path: PathBuf, message: String },
    /// A value is out of range or inconsistent with another.
    Invalid { key: &'static str, reason: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, source } => {
                write!(f, "cannot read config file {}: {source}", path.display())
            }
            ConfigError::Parse { path, message } => {
                write!(f, "config file {}: {}", path.display(), message.trim_end())
            }
            ConfigError::Invalid { key, reason } => write!(f, "config `{key}`: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads and parses a TOML config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses TOML text; the error is the parser's message.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Checks values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        let invalid = |key, reason: &str| {
            Err(ConfigError::Invalid {
                key,
                reason: reason.to_string(),
            })
        };
        if self.worker_threads == Some(0) {
            return invalid("worker_threads", "must be at least 1");
        }
        if l.max_batch == 0 {
            return invalid("limits.max_batch", "must be at least 1");
        }
        if l.max_message_bytes < 1024 {
            return invalid("limits.max_message_bytes", "must be at least 1024");
        }
        if l.max_concurrent_requests == 0 {
            return invalid("limits.max_concurrent_requests", "must be at least 1");
        }
        if l.max_concurrent_streams == 0 {
            return invalid("limits.max_concurrent_streams", "must be at least 1");
        }
        if l.request_timeout_ms == 0 {
            return invalid("limits.request_timeout_ms", "must be at least 1");
        }
        if l.max_connections == 0 {
            return invalid("limits.max_connections", "must be at least 1");
        }
        if l.max_open_streams == 0 {
            return invalid("limits.max_open_streams", "must be at least 1");
        }
        if l.tls_handshake_timeout_ms == 0 {
            return invalid("limits.tls_handshake_timeout_ms", "must be at least 1");
        }
        let t = &self.tls;
        if t.enabled() && (t.cert.is_none() || t.key.is_none()) {
            return invalid(
                "tls",
                "TLS needs both `tls.cert` and `tls.key` (and optionally `tls.client_ca` for mutual TLS)",
            );
        }
        if let (Some(a), Some(b)) = (self.listen, self.admin_listen)
            && a == b
            && a.port() != 0
        {
            return invalid(
                "admin_listen",
                "must differ from `listen`: metrics and reload must never be on the public port",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses() {
        let text = include_str!("../../../deploy/sltdd.toml");
        let cfg = Config::from_toml(text).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.limits.max_batch, 1000);
        assert_eq!(cfg.freshness, FreshnessPolicy::default());
    }

    #[test]
    fn stale_after_is_humantime_text() {
        let cfg = Config::from_toml("[freshness]\nstale_after = \"36h\"\n").unwrap();
        assert_eq!(cfg.freshness.stale_after, Duration::from_secs(36 * 3600));
        let err = Config::from_toml("[freshness]\nstale_after = \"tomorrow\"\n").unwrap_err();
        assert!(err.contains("tomorrow"), "{err}");
        // The old key in seconds is gone; naming it is an error that says so.
        let err = Config::from_toml("[freshness]\nstale_after_secs = 172800\n").unwrap_err();
        assert!(err.contains("stale_after_secs"), "{err}");
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let err = Config::from_toml("[limits]\nmax_bacth = 3\n").unwrap_err();
        assert!(err.contains("max_bacth"), "{err}");
    }

    #[test]
    fn inconsistent_values_name_the_key() {
        let cfg = Config::from_toml("[limits]\nmax_batch = 0\n").unwrap();
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("limits.max_batch"), "{err}");
        let cfg = Config::from_toml("[tls]\ncert = \"/x.pem\"\n").unwrap();
        assert!(cfg.validate().unwrap_err().to_string().contains("tls.key"));
    }
}
