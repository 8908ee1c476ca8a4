//! The admin HTTP listener: Prometheus metrics, liveness and readiness for
//! an orchestrator, a status page and the reload call. It never shares the
//! public port: reload and metrics are for operators only.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::exposition::Exposition;
use crate::status_page;
use crate::{Daemon, ReloadOutcome, ReloadTrigger};
use sltd_feed::{format_unix, now_unix};

pub(crate) fn router(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/metrics", get(metrics))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .route("/reload", post(reload))
        .with_state(daemon)
}

/// The metrics in the format the scraper asks for (see [`Exposition`]).
async fn metrics(State(d): State<Arc<Daemon>>, headers: HeaderMap) -> Response {
    let format = Exposition::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let now = now_unix();
    let loaded = d.current();
    let freshness = loaded
        .as_ref()
        .map(|l| l.dataset.meta().freshness(now, &d.config.freshness));
    d.metrics.set_sync(d.source().sync_status().as_ref());
    let body = d
        .metrics
        .render(loaded.as_ref().map(|l| &l.dataset), now, freshness);
    (
        [(header::CONTENT_TYPE, format.content_type())],
        format.render(body),
    )
        .into_response()
}

/// The process is up and its runtime answers.
async fn livez() -> &'static str {
    "ok\n"
}

/// Ready when a data set is loaded and shutdown has not begun.
async fn readyz(State(d): State<Arc<Daemon>>) -> Response {
    if d.is_serving() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let why = d
            .last_error()
            .unwrap_or_else(|| "no data set loaded yet".to_string());
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response()
    }
}

/// Times as RFC 3339 text, as everywhere else in sltd; spans in seconds.
fn status_json(d: &Daemon) -> serde_json::Value {
    let now = now_unix();
    let time = |t: Option<i64>| t.map(format_unix);
    let dataset = d.current().map(|l| {
        let m = l.dataset.meta();
        json!({
            "source": m.source,
            "content_id": m.content_id,
            "sequence": m.sequence,
            "as_of": format_unix(m.as_of),
            "age_seconds": m.age_seconds(now),
            "expires_at": time(m.expires_at),
            "freshness": m.freshness(now, &d.config.freshness).as_str(),
            "record_count": m.record_count,
            "loaded_at": format_unix(l.loaded_at),
        })
    });
    let sync = d.source().sync_status().map(|s| {
        json!({
            "last_attempt": time(s.last_attempt),
            "last_success": time(s.last_success),
            "last_error": s.last_error,
            "last_error_kind": s.last_error_kind,
            "last_error_at": time(s.last_error_at),
            "consecutive_failures": s.consecutive_failures,
        })
    });
    let w = d.recent_window(now);
    json!({
        "serving": d.is_serving(),
        "version": env!("CARGO_PKG_VERSION"),
        "now": format_unix(now),
        "uptime_seconds": d.uptime().as_secs(),
        "dataset": dataset,
        "last_error": d.last_error(),
        "sync": sync,
        "recent": {
            "since": format_unix(w.since),
            "checks": w.checks,
            "hits": w.hits,
            "latency_seconds": w.latency.iter().map(|l| json!({
                "rpc": l.rpc, "calls": l.calls, "p50": l.p50, "p90": l.p90, "p99": l.p99,
            })).collect::<Vec<_>>(),
        },
    })
}

/// The status page (see [`crate::status_page`]).
async fn page(State(d): State<Arc<Daemon>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        status_page::render(&d, now_unix()),
    )
        .into_response()
}

async fn status(State(d): State<Arc<Daemon>>) -> Response {
    axum::Json(status_json(&d)).into_response()
}

/// The header `POST /reload` must carry (any value). A browser cannot add
/// it to a cross-site request without a CORS preflight, which this listener
/// never grants: a web page open on the operator's machine cannot trigger a
/// reload.
pub const RELOAD_HEADER: &str = "x-sltd-reload";

/// Whether `host` (a `Host` header) names this machine by address or as
/// `localhost`: a DNS name that merely resolves here (DNS rebinding) does
/// not.
fn host_is_local_or_address(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        // [v6]:port
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

/// Loads the source now. 200 with what happened; 500 with the reason when
/// the new data set was refused (the previous one keeps serving); 403 for
/// a request without [`RELOAD_HEADER`] or with a `Host` that is not an
/// address or `localhost`.
async fn reload(State(d): State<Arc<Daemon>>, headers: HeaderMap) -> Response {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if !headers.contains_key(RELOAD_HEADER) || !host.is_some_and(host_is_local_or_address) {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(json!({
                "result": "forbidden",
                "error": format!(
                    "POST /reload needs the header `{RELOAD_HEADER}: 1` and a Host that is an \
                     address or localhost (e.g. `curl -X POST -H '{RELOAD_HEADER}: 1' \
                     http://127.0.0.1:9851/reload`)"
                ),
            })),
        )
            .into_response();
    }
    match d.reload_async(ReloadTrigger::Admin).await {
        Ok(ReloadOutcome::Swapped {
            previous,
            content_id,
            sequence,
        }) => axum::Json(json!({
            "result": "swapped",
            "previous": previous,
            "content_id": content_id,
            "sequence": sequence,
        }))
        .into_response(),
        Ok(ReloadOutcome::Unchanged { content_id }) => axum::Json(json!({
            "result": "unchanged",
            "content_id": content_id,
        }))
        .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({
                "result": "refused",
                "error": crate::bounds::client_message(&e.to_string()),
                "serving": d.current().map(|l| l.dataset.meta().content_id.clone()),
            })),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_and_localhost_are_hosts_for_reload() {
        for ok in [
            "127.0.0.1:9851",
            "127.0.0.1",
            "[::1]:9851",
            "localhost:9851",
            "10.0.0.5",
        ] {
            assert!(host_is_local_or_address(ok), "{ok}");
        }
        for bad in [
            "evil.example:9851",
            "evil.example",
            "127.0.0.1.nip.io:9851",
            "",
        ] {
            assert!(!host_is_local_or_address(bad), "{bad}");
        }
    }
}
