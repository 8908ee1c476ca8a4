//! Which text format `/metrics` answers in, chosen from the scraper's
//! `Accept` header the way Prometheus's Go client library chooses it:
//! OpenMetrics 1.0.0 when the scraper lists it (Prometheus itself does), the
//! Prometheus text format 0.0.4 otherwise (`curl`, `promtool check metrics`,
//! older scrapers and most agents).
//!
//! The metrics library writes OpenMetrics only, so the 0.0.4 answer is that
//! text rewritten: the two formats carry the same samples and differ only in
//! how a family is named and typed (a counter's family is `x` in
//! OpenMetrics and `x_total` in 0.0.4), in metadata 0.0.4 lacks (`# UNIT`,
//! exemplars, `_created` samples) and in the closing `# EOF`.

/// A text format of the metrics exposition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exposition {
    /// OpenMetrics 1.0.0 (`application/openmetrics-text`).
    OpenMetrics,
    /// The Prometheus text format 0.0.4 (`text/plain`).
    Text004,
}

/// Versions of OpenMetrics a scraper may ask for that the 1.0.0 text
/// satisfies (0.0.1 is the pre-release name of the same format).
const OPENMETRICS_VERSIONS: [&str; 2] = ["1.0.0", "0.0.1"];

impl Exposition {
    /// The format to answer a request with this `Accept` header in: the
    /// acceptable media range with the highest quality (the first of equal
    /// ones), and the 0.0.4 text when none is acceptable or there is no
    /// header.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return Exposition::Text004;
        };
        let mut offers: Vec<(f32, usize, Exposition)> = Vec::new();
        for (position, range) in accept.split(',').enumerate() {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let mut version = None;
            let mut quality = 1.0f32;
            for param in parts {
                let Some((key, value)) = param.split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"');
                match key.trim().to_ascii_lowercase().as_str() {
                    "version" => version = Some(value.to_string()),
                    "q" => quality = value.parse().unwrap_or(0.0),
                    _ => {}
                }
            }
            let format = match media.as_str() {
                "application/openmetrics-text"
                    if version
                        .as_deref()
                        .is_none_or(|v| OPENMETRICS_VERSIONS.contains(&v)) =>
                {
                    Exposition::OpenMetrics
                }
                "text/plain" if version.as_deref().is_none_or(|v| v == "0.0.4") => {
                    Exposition::Text004
                }
                "*/*" | "text/*" => Exposition::Text004,
                _ => continue,
            };
            if quality > 0.0 {
                offers.push((quality, position, format));
            }
        }
        offers
            .iter()
            .min_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)))
            .map_or(Exposition::Text004, |o| o.2)
    }

    /// The `Content-Type` of an answer in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Exposition::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Exposition::Text004 => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// `openmetrics`, an OpenMetrics exposition, in this format.
    pub fn render(self, openmetrics: String) -> String {
        match self {
            Exposition::OpenMetrics => openmetrics,
            Exposition::Text004 => to_text_004(&openmetrics),
        }
    }
}

/// One metric family's name and type, as the 0.0.4 text writes them.
struct Family<'a> {
    /// The OpenMetrics family name.
    name: &'a str,
    /// The name the 0.0.4 text gives it.
    text_name: String,
    /// Its 0.0.4 type.
    text_type: &'static str,
}

/// The 0.0.4 name and type of an OpenMetrics family.
fn family<'a>(name: &'a str, openmetrics_type: &str) -> Family<'a> {
    let (suffix, text_type) = match openmetrics_type {
        "counter" => ("_total", "counter"),
        "gauge" => ("", "gauge"),
        "histogram" => ("", "histogram"),
        "summary" => ("", "summary"),
        // 0.0.4 has no info or state set: they are gauges of value 1.
        "info" => ("_info", "gauge"),
        "stateset" => ("", "gauge"),
        "gaugehistogram" => ("", "histogram"),
        _ => ("", "untyped"),
    };
    Family {
        name,
        text_name: format!("{name}{suffix}"),
        text_type,
    }
}

/// Rewrites an OpenMetrics text exposition in the Prometheus text format
/// 0.0.4, sample for sample.
pub fn to_text_004(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // OpenMetrics writes HELP before TYPE, but the 0.0.4 name of a family
    // depends on its type: hold the HELP text until the TYPE line.
    let mut help: Option<(&str, &str)> = None;
    let mut current: Option<Family<'_>> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            help = Some((name, text));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let f = family(name, kind.trim());
            if let Some((help_name, text)) = help.take()
                && help_name == name
            {
                out.push_str(&format!("# HELP {} {}\n", f.text_name, help_text_004(text)));
            }
            out.push_str(&format!("# TYPE {} {}\n", f.text_name, f.text_type));
            current = Some(f);
            continue;
        }
        if line.starts_with('#') {
            // `# UNIT`, `# EOF` and anything else 0.0.4 has no place for.
            continue;
        }
        if line.is_empty() {
            continue;
        }
        // Exemplars follow ` # ` after the value; 0.0.4 has none.
        let sample = match line.find(" # ") {
            Some(at) => &line[..at],
            None => line,
        };
        let metric = sample.split(['{', ' ']).next().unwrap_or(sample);
        if let Some(f) = &current
            && metric == format!("{}_created", f.name)
        {
            continue;
        }
        out.push_str(sample);
        out.push('\n');
    }
    out
}

/// OpenMetrics escapes `\`, newline and `"` in HELP text; 0.0.4 escapes
/// only the first two, so a quote goes back to itself.
fn help_text_004(text: &str) -> String {
    text.replace("\\\"", "\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Prometheus 2.x sends.
    const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[test]
    fn openmetrics_only_when_the_scraper_asks_for_it() {
        use Exposition::*;
        let cases: &[(Option<&str>, Exposition)] = &[
            (None, Text004),
            (Some(""), Text004),
            (Some("*/*"), Text004),
            (Some("text/plain"), Text004),
            (Some("text/plain;version=0.0.4"), Text004),
            (Some(PROMETHEUS_ACCEPT), OpenMetrics),
            (Some("application/openmetrics-text"), OpenMetrics),
            (
                Some("application/openmetrics-text; version=0.0.1"),
                OpenMetrics,
            ),
            // A version this server cannot write.
            (Some("application/openmetrics-text; version=2.0.0"), Text004),
            // Preference by quality, whatever the order.
            (
                Some("text/plain;q=0.2, application/openmetrics-text;q=0.9"),
                OpenMetrics,
            ),
            (
                Some("application/openmetrics-text;q=0.3, text/plain;version=0.0.4"),
                Text004,
            ),
            (Some("application/openmetrics-text;q=0"), Text004),
            (
                Some(
                    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
                ),
                Text004,
            ),
            (Some("APPLICATION/OPENMETRICS-TEXT"), OpenMetrics),
        ];
        for (accept, want) in cases {
            assert_eq!(Exposition::negotiate(*accept), *want, "{accept:?}");
        }
    }

    #[test]
    fn the_text_004_form_names_counters_by_their_samples_and_drops_what_it_cannot_say() {
        let om = "\
# HELP sltd_checks Documents checked.
# TYPE sltd_checks counter
sltd_checks_total{rpc=\"Check\",verdict=\"HIT\"} 3 # {trace_id=\"x\"} 1.0
sltd_checks_created{rpc=\"Check\",verdict=\"HIT\"} 1700000000.0
# HELP sltd_dataset_age_seconds Seconds since \\\"as of\\\".
# TYPE sltd_dataset_age_seconds gauge
# UNIT sltd_dataset_age_seconds seconds
sltd_dataset_age_seconds 12
# HELP sltd_build Build.
# TYPE sltd_build info
sltd_build_info{version=\"0.1.0\"} 1
# TYPE sltd_rpc_duration_seconds histogram
sltd_rpc_duration_seconds_sum{rpc=\"Check\"} 0.5
sltd_rpc_duration_seconds_count{rpc=\"Check\"} 2
sltd_rpc_duration_seconds_bucket{le=\"+Inf\",rpc=\"Check\"} 2
# EOF
";
        let want = "\
# HELP sltd_checks_total Documents checked.
# TYPE sltd_checks_total counter
sltd_checks_total{rpc=\"Check\",verdict=\"HIT\"} 3
# HELP sltd_dataset_age_seconds Seconds since \"as of\".
# TYPE sltd_dataset_age_seconds gauge
sltd_dataset_age_seconds 12
# HELP sltd_build_info Build.
# TYPE sltd_build_info gauge
sltd_build_info{version=\"0.1.0\"} 1
# TYPE sltd_rpc_duration_seconds histogram
sltd_rpc_duration_seconds_sum{rpc=\"Check\"} 0.5
sltd_rpc_duration_seconds_count{rpc=\"Check\"} 2
sltd_rpc_duration_seconds_bucket{le=\"+Inf\",rpc=\"Check\"} 2
";
        assert_eq!(to_text_004(om), want);
    }

    #[test]
    fn every_sample_of_the_daemon_survives_the_rewrite() {
        let m = crate::Metrics::new();
        m.check(
            crate::metrics::Rpc::Check,
            crate::metrics::VerdictLabel::Hit,
        );
        let om = m.render(None, 0, None);
        let text = to_text_004(&om);
        let samples = |s: &str| -> Vec<String> {
            s.lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .map(str::to_string)
                .collect()
        };
        assert_eq!(samples(&om), samples(&text));
        assert!(!text.contains("# EOF"));
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let name = line.split(' ').nth(2).unwrap();
            assert!(
                text.lines()
                    .any(|l| l.starts_with(name) && !l.starts_with('#')),
                "family {name} has no sample named after it"
            );
        }
    }
}
