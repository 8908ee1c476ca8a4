//! The admin listener's `/`: one small HTML page that says whether a post
//! can rely on its daemon, for a post that runs no Prometheus: the data's
//! age and freshness, its sequence, the last sync, checks and hits over the
//! last hour and their latency. Rendered on the server from the same
//! values as `/status`, no script, refreshed by the browser every ten
//! seconds; every value from outside (paths, error texts) is escaped.

use std::fmt::Write as _;

use sltd_feed::freshness::Freshness;
use sltd_feed::{format_span, format_unix};

use crate::Daemon;
use crate::recent::{RpcLatency, Window};

/// `text` with the characters that mean something in HTML escaped.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Seconds as milliseconds, with the precision a latency needs.
fn ms(secs: f64) -> String {
    let ms = secs * 1e3;
    if ms < 1.0 {
        format!("{ms:.3} ms")
    } else if ms < 100.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:46rem;color:#1d1d1f;background:#fafafa;padding:0 1rem}
h1{font-size:1.4rem;margin:0 0 .2rem}
h2{font-size:1.05rem;margin:1.6rem 0 .5rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.sub{color:#666;font-size:.9rem}
.badge{display:inline-block;padding:.35rem .8rem;border-radius:.3rem;font-weight:700;font-size:1.1rem;letter-spacing:.04em}
.ok{background:#1e7d32;color:#fff}.warn{background:#f2b705;color:#000}.bad{background:#c62828;color:#fff}.none{background:#616161;color:#fff}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.25rem .6rem .25rem 0;vertical-align:top}
th{font-weight:600;width:14rem;color:#444}
td.num,th.num{text-align:right;width:auto}
.err{color:#b71c1c}
code{font-size:.85rem;word-break:break-all}
footer{margin-top:2rem;color:#777;font-size:.85rem}
";

fn row(out: &mut String, name: &str, value_html: &str) {
    let _ = write!(out, "<tr><th>{}</th><td>{value_html}</td></tr>", esc(name));
}

/// The page for `daemon` at Unix time `now`.
pub(crate) fn render(daemon: &Daemon, now: i64) -> String {
    let policy = &daemon.config().freshness;
    let loaded = daemon.current();
    let freshness = loaded
        .as_ref()
        .map(|l| l.dataset.meta().freshness(now, policy));
    let (badge_class, badge) = match freshness {
        Some(Freshness::Fresh) => ("ok", "FRESH"),
        Some(Freshness::Stale) => ("warn", "STALE"),
        Some(Freshness::Expired) => ("bad", "EXPIRED"),
        None => ("none", "NO DATA LOADED"),
    };
    let mut out = String::with_capacity(8 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"10\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>sltdd: {badge}</title><style>{STYLE}</style></head><body>\
         <h1>sltdd {}</h1><div class=\"sub\">up {} &middot; {} &middot; page generated {}</div>",
        esc(env!("CARGO_PKG_VERSION")),
        format_span(daemon.uptime().as_secs() as i64),
        if daemon.is_serving() {
            "answering checks"
        } else {
            "<span class=\"err\">not serving</span>"
        },
        esc(&format_unix(now)),
    );

    out.push_str("<h2>Data</h2>");
    let _ = write!(
        out,
        "<p><span class=\"badge {badge_class}\" id=\"freshness\">{badge}</span></p><table>"
    );
    match &loaded {
        Some(l) => {
            let m = l.dataset.meta();
            row(
                &mut out,
                "Age",
                &format!(
                    "<span id=\"age\">{}</span> (stale after {})",
                    esc(&format_span(m.age_seconds(now))),
                    esc(&format_span(policy.stale_after.as_secs() as i64))
                ),
            );
            row(&mut out, "As of", &esc(&format_unix(m.as_of)));
            row(
                &mut out,
                "Expires",
                &m.expires_at.map_or_else(
                    || "never (not from the feed)".to_string(),
                    |e| esc(&format_unix(e)),
                ),
            );
            row(
                &mut out,
                "Sequence",
                &format!("<span id=\"sequence\">{}</span>", m.sequence),
            );
            row(&mut out, "Records", &m.record_count.to_string());
            row(
                &mut out,
                "Content id",
                &format!("<code>{}</code>", esc(&m.content_id)),
            );
            row(&mut out, "Source", &esc(&m.source));
            row(&mut out, "Loaded", &esc(&format_unix(l.loaded_at)));
        }
        None => row(
            &mut out,
            "Loaded",
            &format!(
                "nothing yet<br><span class=\"err\">{}</span>",
                esc(&daemon.last_error().unwrap_or_else(|| "loading".to_string()))
            ),
        ),
    }
    if let (Some(_), Some(e)) = (&loaded, daemon.last_error()) {
        row(
            &mut out,
            "Last reload",
            &format!("<span class=\"err\">refused: {}</span>", esc(&e)),
        );
    }
    out.push_str("</table>");

    out.push_str("<h2>Last sync</h2><table>");
    match daemon.source().sync_status() {
        Some(s) => {
            let when = |t: Option<i64>| {
                t.map_or_else(
                    || "never".to_string(),
                    |t| {
                        format!(
                            "{} ({} ago)",
                            esc(&format_unix(t)),
                            esc(&format_span(now - t))
                        )
                    },
                )
            };
            let result = match (&s.last_error, s.consecutive_failures) {
                (Some(e), n) if n > 0 => format!(
                    "<span class=\"err\" id=\"sync-result\">failed {n} time{} in a row: {}{}</span>",
                    if n == 1 { "" } else { "s" },
                    s.last_error_kind
                        .as_deref()
                        .map(|k| format!("[{}] ", esc(k)))
                        .unwrap_or_default(),
                    esc(e)
                ),
                _ if s.last_success.is_some() => "<span id=\"sync-result\">ok</span>".to_string(),
                _ => "<span id=\"sync-result\">no sync yet</span>".to_string(),
            };
            row(&mut out, "Result", &result);
            row(&mut out, "Last success", &when(s.last_success));
            row(&mut out, "Last attempt", &when(s.last_attempt));
        }
        None => row(
            &mut out,
            "Result",
            "<span id=\"sync-result\">not kept by sltd-sync (an index file is served)</span>",
        ),
    }
    out.push_str("</table>");

    let window = daemon.recent_window(now);
    write_window(&mut out, &window, now);

    let _ = write!(
        out,
        "<footer>The same as JSON: <a href=\"/status\">/status</a> &middot; \
         <a href=\"/metrics\">/metrics</a> &middot; <a href=\"/readyz\">/readyz</a>. \
         Latencies are estimated from the histogram buckets of \
         <code>sltd_rpc_duration_seconds</code>.</footer></body></html>"
    );
    out
}

fn write_window(out: &mut String, w: &Window, now: i64) {
    let secs = (now - w.since).max(0);
    let _ = write!(
        out,
        "<h2>{}</h2><table>",
        if secs >= crate::recent::WINDOW_SECS - 60 {
            "Last hour".to_string()
        } else {
            format!("Since start ({})", format_span(secs))
        }
    );
    row(
        out,
        "Documents checked",
        &format!("<span id=\"checks\">{}</span>", w.checks),
    );
    row(out, "Hits", &format!("<span id=\"hits\">{}</span>", w.hits));
    out.push_str("</table>");
    if w.latency.is_empty() {
        out.push_str("<p class=\"sub\">No calls in this period.</p>");
        return;
    }
    out.push_str(
        "<table id=\"latency\"><tr><th>Latency</th><th class=\"num\">calls</th>\
         <th class=\"num\">p50</th><th class=\"num\">p90</th><th class=\"num\">p99</th></tr>",
    );
    for RpcLatency {
        rpc,
        calls,
        p50,
        p90,
        p99,
    } in &w.latency
    {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"num\">{calls}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(rpc),
            ms(*p50),
            ms(*p90),
            ms(*p99)
        );
    }
    out.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_outside_cannot_become_markup() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn spans_and_latencies_read_well() {
        assert_eq!(ms(0.000_123), "0.123 ms");
        assert_eq!(ms(0.0123), "12.3 ms");
        assert_eq!(ms(0.5), "500 ms");
    }
}
