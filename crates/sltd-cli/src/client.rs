//! Connecting to a running `sltdd`: the server URL and TLS options shared by
//! `sltd check` and `sltd loadgen`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use sltd_proto::v1::lookup_client::LookupClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::retry::{MethodConfig, ServiceConfig};

/// Where the daemon is and how to reach it.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct ConnectArgs {
    /// The daemon's address: `http://HOST:PORT`, `https://HOST:PORT` (TLS)
    /// or `HOST:PORT` (plaintext).
    #[arg(
        long,
        env = "SLTD_SERVER",
        value_name = "URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub(crate) server: String,

    /// PEM CA certificate to trust for an `https://` server.
    #[arg(long, env = "SLTD_CA_CERT", value_name = "FILE")]
    pub(crate) ca_cert: Option<PathBuf>,

    /// PEM client certificate, for a daemon that requires mutual TLS.
    #[arg(
        long,
        env = "SLTD_CLIENT_CERT",
        value_name = "FILE",
        requires = "client_key"
    )]
    pub(crate) client_cert: Option<PathBuf>,

    /// PEM private key of --client-cert.
    #[arg(
        long,
        env = "SLTD_CLIENT_KEY",
        value_name = "FILE",
        requires = "client_cert"
    )]
    pub(crate) client_key: Option<PathBuf>,

    /// Name to verify the server certificate against, when it differs from
    /// the host in the URL.
    #[arg(long, value_name = "NAME")]
    pub(crate) tls_domain: Option<String>,

    /// Give up connecting, or waiting for an answer, after this many
    /// seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub(crate) timeout: f64,

    /// gRPC service config (JSON) whose retry policy and timeouts apply to
    /// the calls, as in grpc-go, grpc-java and grpcio, e.g.
    /// deploy/cluster/service-config.json: retry a check refused by a
    /// replica that went away.
    #[arg(long, env = "SLTD_SERVICE_CONFIG", value_name = "FILE")]
    pub(crate) service_config: Option<PathBuf>,
}

/// The service the daemon answers lookups on.
pub(crate) const LOOKUP_SERVICE: &str = "sltd.v1.Lookup";

impl ConnectArgs {
    /// The endpoint, with TLS configured when the URL is `https://`.
    pub(crate) fn endpoint(&self) -> anyhow::Result<Endpoint> {
        let url = if self.server.contains("://") {
            self.server.clone()
        } else {
            format!("http://{}", self.server)
        };
        let timeout = Duration::try_from_secs_f64(self.timeout)
            .ok()
            .filter(|d| !d.is_zero())
            .context("--timeout must be a positive number of seconds")?;
        let mut ep = Endpoint::from_shared(url.clone())
            .with_context(|| format!("invalid --server {url:?}"))?
            .connect_timeout(timeout)
            .timeout(timeout)
            .tcp_nodelay(true);
        if url.starts_with("https://") {
            let Some(ca) = &self.ca_cert else {
                bail!(
                    "an https:// server needs --ca-cert FILE (the CA that signed its certificate)"
                );
            };
            let read = |p: &PathBuf| {
                std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
            };
            let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)?));
            if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
                tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
            }
            if let Some(d) = &self.tls_domain {
                tls = tls.domain_name(d.clone());
            }
            ep = ep.tls_config(tls).context("TLS configuration")?;
        } else if self.ca_cert.is_some() || self.client_cert.is_some() {
            bail!("TLS options need an https:// --server URL");
        }
        Ok(ep)
    }

    /// What `--service-config` says about `sltd.v1.Lookup/<method>`; the
    /// defaults (one attempt, `--timeout`) without it.
    pub(crate) fn method_config(&self, method: &str) -> anyhow::Result<MethodConfig> {
        let Some(path) = &self.service_config else {
            return Ok(MethodConfig::default());
        };
        Ok(ServiceConfig::from_file(path)?
            .method(LOOKUP_SERVICE, method)
            .cloned()
            .unwrap_or_default())
    }

    /// One connection (one HTTP/2 connection per call of this function).
    pub(crate) async fn connect(&self) -> anyhow::Result<LookupClient<Channel>> {
        let ep = self.endpoint()?;
        let channel = ep
            .connect()
            .await
            .map_err(|e| connect_error(&self.server, &e))?;
        Ok(LookupClient::new(channel)
            .max_decoding_message_size(64 * 1024 * 1024)
            .max_encoding_message_size(64 * 1024 * 1024))
    }
}

impl MethodConfig {
    /// Sends a call made by `attempt` (given the per-attempt timeout, if the
    /// service config sets one) once, or as often as the retry policy
    /// says; `on_retry` is told of each failure that is retried.
    pub(crate) async fn call<T, F, Fut>(
        &self,
        mut attempt: F,
        on_retry: impl FnMut(&tonic::Status),
    ) -> Result<T, tonic::Status>
    where
        F: FnMut(Option<Duration>) -> Fut,
        Fut: std::future::Future<Output = Result<T, tonic::Status>>,
    {
        let timeout = self.timeout;
        match &self.retry {
            Some(policy) => policy.run(|| attempt(timeout), on_retry).await,
            None => attempt(timeout).await,
        }
    }
}

/// Why a connection to `server` failed, with its whole cause (refused,
/// name not found, TLS) and what to check.
pub(crate) fn connect_error(server: &str, e: &tonic::transport::Error) -> anyhow::Error {
    let cause = sltd_log::chain(e);
    let lower = cause.to_ascii_lowercase();
    let hint = if lower.contains("connection refused") {
        "nothing listens there: is sltdd running, and is this its gRPC address (sltdd --listen, default 127.0.0.1:50051)?"
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        "the host name does not resolve: check the name in --server"
    } else if lower.contains("invalidcontenttype") || lower.contains("corrupt message") {
        "the server does not speak TLS there: use an http:// URL, or turn TLS on in sltdd (tls.cert, tls.key)"
    } else if lower.contains("certificate") || lower.contains("unknownissuer") {
        "the server's certificate is not trusted: give the CA that signed it with --ca-cert (and --tls-domain if the name differs)"
    } else if lower.contains("timed out") || lower.contains("deadline") {
        "no answer within --timeout: check the address and any firewall between"
    } else {
        "check --server and that sltdd runs there"
    };
    anyhow::anyhow!("cannot connect to {server}: {cause}; {hint}")
}

/// The HTTP status a non-gRPC server answered with, when tonic reports
/// one ("grpc-status header missing, mapped from HTTP status code 404").
fn http_status_of(s: &tonic::Status) -> Option<u16> {
    let rest = s.message().split("mapped from HTTP status code ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// A gRPC error as one line: the status code and the daemon's message,
/// which for invalid input names the field and says how to fix it.
pub(crate) fn status_text(s: &tonic::Status) -> String {
    if let Some(http) = http_status_of(s) {
        return format!(
            "error: the server answered HTTP {http}, not gRPC: is --server sltdd's gRPC address (sltdd --listen, default port 50051) rather than its admin listener (--admin-listen, port 9851) or another web server?"
        );
    }
    let code = match s.code() {
        tonic::Code::InvalidArgument => "invalid query",
        tonic::Code::Unavailable => "daemon unavailable",
        tonic::Code::DeadlineExceeded => "timed out",
        tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => "refused",
        _ => "error",
    };
    if s.message().is_empty() {
        format!("{code} ({:?})", s.code())
    } else {
        format!("{code}: {}", s.message())
    }
}
