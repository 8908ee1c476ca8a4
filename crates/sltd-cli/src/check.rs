//! `sltd check`: checks documents against a running `sltdd`, one by number
//! or MRZ, or a whole CSV file as batches. Exit status like `sltd index
//! query`: 0 hit, 1 no hit, 2 error, 3 no hit but possible matches.

use sltd_log::outln;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use sltd_feed::format_unix;
use sltd_feed::freshness::Freshness;
use sltd_proto::v1 as pb;
use sltd_proto::v1::check_request::Query as PbQuery;

use crate::client::{ConnectArgs, status_text};
use crate::{EXIT_ERROR, EXIT_HIT, EXIT_NO_HIT, EXIT_POSSIBLE_MATCH};

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  sltd check --number L898902C3 --country UTO
  sltd check --server http://10.0.0.5:50051 --number 'L898 902 C3' --json
  sltd check --mrz 'P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<
L898902C36UTO7408122F1204159ZE184226B<<<<<10'
  printf '%s\\n%s\\n' \"$LINE1\" \"$LINE2\" | sltd check --mrz -
  sltd check --batch-file manifest.csv --json
  sltd check --server https://sltd.example:50051 --ca-cert ca.pem \\
      --client-cert desk7.pem --client-key desk7.key --number L898902C3

A batch file is CSV with a header naming at least `document_number`, and
optionally `issuing_country`, `document_type` and `request_id` (an sltd
export file works as is).

Without an exact match, the daemon may offer POSSIBLE MATCHES: listed
records one misread character away (0/O, 1/I, 8/B, 5/S, 2/Z, 6/G) or with
the same number under another issuing country. They are not hits: compare
them with the document. On by default for one document, off for a batch
file (--possible-matches turns them on, --no-possible-matches off).

Exit status: 0 if any document is listed (HIT), else 2 on an error or an
invalid query, else 3 if any answer offered possible matches, else 1.")]
#[command(group(clap::ArgGroup::new("what").required(true).args(["number", "mrz", "batch_file"])))]
pub(crate) struct CheckArgs {
    #[command(flatten)]
    conn: ConnectArgs,

    /// Document number to check.
    #[arg(long, conflicts_with_all = ["mrz", "batch_file"])]
    number: Option<String>,

    /// ICAO code of the issuing state (optional: any state when absent). An
    /// ISO 3166-1 code whose ICAO code differs (DE, DEU) is checked as the
    /// ICAO code (D); an unknown code is refused.
    #[arg(long, requires = "number")]
    country: Option<String>,

    /// Document type (optional: compared on its first letter).
    #[arg(long = "type", value_name = "TYPE", requires = "number")]
    doc_type: Option<String>,

    /// MRZ text (lines separated by newlines, or concatenated); `-` reads it
    /// from standard input.
    #[arg(long, conflicts_with = "batch_file")]
    mrz: Option<String>,

    /// CSV file of documents to check in batches.
    #[arg(long, value_name = "CSV")]
    batch_file: Option<PathBuf>,

    /// Documents per CheckBatch call (at most the daemon's max_batch).
    #[arg(long, value_name = "N", default_value_t = 500, requires = "batch_file")]
    batch_size: usize,

    /// Request id to send (echoed back, written to the audit log on a hit or
    /// possible match).
    #[arg(long, value_name = "ID")]
    request_id: Option<String>,

    /// Print JSON (one object; one per line for --batch-file).
    #[arg(long)]
    json: bool,

    /// Ask for possible matches in a batch file too.
    #[arg(long, conflicts_with = "no_possible_matches")]
    possible_matches: bool,

    /// Never ask for possible matches.
    #[arg(long)]
    no_possible_matches: bool,
}

impl CheckArgs {
    /// The request's `include_possible_matches`: unset leaves the daemon's
    /// default (on for one document, off in a batch).
    fn include_possible_matches(&self) -> Option<bool> {
        if self.no_possible_matches {
            Some(false)
        } else if self.possible_matches {
            Some(true)
        } else {
            None
        }
    }
}

pub(crate) fn run(args: CheckArgs) -> anyhow::Result<u8> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(args))
}

async fn run_async(args: CheckArgs) -> anyhow::Result<u8> {
    if let Some(path) = &args.batch_file {
        return check_file(&args, path).await;
    }
    let query = match (&args.number, &args.mrz) {
        (Some(number), _) => PbQuery::Document(pb::Document {
            number: number.clone(),
            issuing_country: args.country.clone().unwrap_or_default(),
            document_type: args.doc_type.clone().unwrap_or_default(),
        }),
        (None, Some(text)) if text == "-" => {
            let mut s = String::new();
            io::stdin()
                .read_to_string(&mut s)
                .context("cannot read the MRZ from standard input")?;
            PbQuery::Mrz(s)
        }
        (None, Some(text)) => PbQuery::Mrz(text.clone()),
        (None, None) => bail!("give --number, --mrz or --batch-file"),
    };
    let method = args.conn.method_config("Check")?;
    let client = args.conn.connect().await?;
    let req = pb::CheckRequest {
        request_id: args.request_id.clone().unwrap_or_default(),
        query: Some(query),
        include_possible_matches: args.include_possible_matches(),
    };
    let answer = method
        .call(
            |timeout| {
                let mut client = client.clone();
                let mut req = tonic::Request::new(req.clone());
                if let Some(t) = timeout {
                    req.set_timeout(t);
                }
                async move { client.check(req).await }
            },
            |_| {},
        )
        .await;
    let resp = match answer {
        Ok(r) => r.into_inner(),
        Err(status) => {
            if args.json {
                outln!("{}", error_json(&status));
            } else {
                eprintln!("sltd: {}", status_text(&status));
            }
            return Ok(EXIT_ERROR);
        }
    };
    let mut out = io::stdout().lock();
    if args.json {
        writeln!(out, "{}", answer_json(&resp))?;
    } else {
        write_response(&mut out, &resp)?;
        if let Some(ds) = &resp.dataset {
            write_dataset(&mut out, ds)?;
        }
    }
    Ok(exit_code(&[&resp]))
}

/// 0 if anything was listed, else 2 if anything could not be checked, else
/// 3 if anything offered possible matches, else 1.
fn exit_code(resps: &[&pb::CheckResponse]) -> u8 {
    let verdicts = || resps.iter().map(|r| pb::Verdict::try_from(r.verdict));
    if verdicts().any(|v| v == Ok(pb::Verdict::Hit)) {
        EXIT_HIT
    } else if verdicts().any(|v| v != Ok(pb::Verdict::NoHit)) {
        EXIT_ERROR
    } else if resps.iter().any(|r| !r.possible_matches.is_empty()) {
        EXIT_POSSIBLE_MATCH
    } else {
        EXIT_NO_HIT
    }
}

/// Rows of a batch file: (line, request).
fn read_batch_file(
    path: &PathBuf,
    include_possible_matches: Option<bool>,
) -> anyhow::Result<Vec<(u64, pb::CheckRequest)>> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let headers = rdr.headers()?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}').eq_ignore_ascii_case(name))
    };
    let Some(number_col) = col("document_number") else {
        bail!(
            "{}: the header must name a `document_number` column (and optionally issuing_country, document_type, request_id)",
            path.display()
        );
    };
    let (country_col, type_col, id_col) = (
        col("issuing_country"),
        col("document_type"),
        col("request_id"),
    );
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.with_context(|| format!("{}: unreadable CSV", path.display()))?;
        let line = rec.position().map_or(0, |p| p.line());
        let field = |c: Option<usize>| c.and_then(|c| rec.get(c)).unwrap_or("").to_string();
        rows.push((
            line,
            pb::CheckRequest {
                request_id: if id_col.is_some() {
                    field(id_col)
                } else {
                    format!("line {line}")
                },
                query: Some(PbQuery::Document(pb::Document {
                    number: field(Some(number_col)),
                    issuing_country: field(country_col),
                    document_type: field(type_col),
                })),
                include_possible_matches,
            },
        ));
    }
    Ok(rows)
}

async fn check_file(args: &CheckArgs, path: &PathBuf) -> anyhow::Result<u8> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let rows = read_batch_file(path, args.include_possible_matches())?;
    let method = args.conn.method_config("CheckBatch")?;
    let client = args.conn.connect().await?;
    let mut out = io::stdout().lock();
    let mut all = Vec::with_capacity(rows.len());
    let (mut hits, mut misses, mut invalid, mut possible) = (0u64, 0u64, 0u64, 0u64);
    let mut last_dataset = None;
    for chunk in rows.chunks(args.batch_size) {
        let batch = pb::CheckBatchRequest {
            queries: chunk.iter().map(|(_, q)| q.clone()).collect(),
        };
        let answer = method
            .call(
                |timeout| {
                    let mut client = client.clone();
                    let mut req = tonic::Request::new(batch.clone());
                    if let Some(t) = timeout {
                        req.set_timeout(t);
                    }
                    async move { client.check_batch(req).await }
                },
                |_| {},
            )
            .await;
        let resp = match answer {
            Ok(r) => r.into_inner(),
            Err(status) => {
                eprintln!("sltd: {}", status_text(&status));
                return Ok(EXIT_ERROR);
            }
        };
        for ((line, _), r) in chunk.iter().zip(&resp.results) {
            match pb::Verdict::try_from(r.verdict) {
                Ok(pb::Verdict::Hit) => hits += 1,
                Ok(pb::Verdict::NoHit) => misses += 1,
                _ => invalid += 1,
            }
            if !r.possible_matches.is_empty() {
                possible += 1;
            }
            if args.json {
                let mut v = response_json(r);
                v["line"] = json!(line);
                writeln!(out, "{v}")?;
            } else if r.verdict != pb::Verdict::NoHit as i32 || !r.possible_matches.is_empty() {
                // Only what needs attention; the summary counts the rest.
                write!(out, "line {line}: ")?;
                write_response(&mut out, r)?;
            }
        }
        last_dataset = resp.dataset;
        all.extend(resp.results);
    }
    if !args.json {
        writeln!(
            out,
            "{} documents checked: {hits} HIT, {misses} no hit, {invalid} invalid; {possible} no hit with possible matches",
            rows.len()
        )?;
        if let Some(ds) = &last_dataset {
            write_dataset(&mut out, ds)?;
        }
    }
    let refs: Vec<&pb::CheckResponse> = all.iter().collect();
    Ok(exit_code(&refs))
}

fn status_name(code: i32) -> &'static str {
    match pb::Status::try_from(code) {
        Ok(pb::Status::Stolen) => "stolen",
        Ok(pb::Status::Lost) => "lost",
        Ok(pb::Status::Revoked) => "revoked",
        Ok(pb::Status::Invalidated) => "invalidated",
        Ok(pb::Status::StolenBlank) => "stolen_blank",
        _ => "unknown",
    }
}

/// The answer's freshness as the one freshness type every sltd program
/// prints; `None` when the daemon did not say.
fn freshness_of(code: i32) -> Option<Freshness> {
    match pb::Freshness::try_from(code) {
        Ok(pb::Freshness::Fresh) => Some(Freshness::Fresh),
        Ok(pb::Freshness::Stale) => Some(Freshness::Stale),
        Ok(pb::Freshness::Expired) => Some(Freshness::Expired),
        _ => None,
    }
}

fn freshness_name(code: i32) -> &'static str {
    freshness_of(code).map_or("UNKNOWN", Freshness::as_str)
}

fn verdict_name(code: i32) -> &'static str {
    match pb::Verdict::try_from(code) {
        Ok(pb::Verdict::Hit) => "HIT",
        Ok(pb::Verdict::NoHit) => "NO_HIT",
        Ok(pb::Verdict::InvalidQuery) => "INVALID_QUERY",
        _ => "UNSPECIFIED",
    }
}

fn format_name(code: i32) -> &'static str {
    match pb::MrzFormat::try_from(code) {
        Ok(pb::MrzFormat::Td1) => "TD1",
        Ok(pb::MrzFormat::Td2) => "TD2",
        Ok(pb::MrzFormat::Td3) => "TD3",
        Ok(pb::MrzFormat::MrvA) => "MRV-A",
        Ok(pb::MrzFormat::MrvB) => "MRV-B",
        _ => "unknown",
    }
}

fn write_response(out: &mut impl Write, r: &pb::CheckResponse) -> io::Result<()> {
    if let Some(m) = &r.mrz {
        writeln!(
            out,
            "MRZ {}: document {}, state {}, number {}, expires {}",
            format_name(m.format),
            m.document_code,
            m.issuing_country,
            m.document_number,
            m.expiry_date
        )?;
        for c in &m.check_digits {
            writeln!(
                out,
                "  check digit {:<16} {} (found {:?}, computed {:?})",
                c.field,
                if c.valid { "ok" } else { "FAILED" },
                c.found,
                c.expected
            )?;
        }
        if !m.check_digits_valid {
            writeln!(
                out,
                "  warning: a check digit failed; the lookup used the number as read"
            )?;
        }
        if m.upper_cased {
            writeln!(
                out,
                "  note: the MRZ text had lower-case letters, read as upper case; a reader never sends them, so compare with the document"
            )?;
        }
    }
    if let Some(n) = &r.issuing_country_note {
        writeln!(out, "note: {}", n.explanation)?;
    }
    match pb::Verdict::try_from(r.verdict) {
        Ok(pb::Verdict::Hit) => {
            writeln!(
                out,
                "HIT  {} record{}",
                r.matches.len(),
                if r.matches.len() == 1 { "" } else { "s" }
            )?;
            for m in &r.matches {
                write!(
                    out,
                    "  {:<3} {:<30} type {:<2} {:<12} reported {}",
                    m.issuing_country,
                    m.document_number,
                    m.document_type,
                    status_name(m.status).to_uppercase(),
                    m.reported_on
                )?;
                if !m.reporting_country.is_empty() {
                    write!(out, " by {}", m.reporting_country)?;
                }
                if !m.reference.is_empty() {
                    write!(out, "  ref {}", m.reference)?;
                }
                writeln!(out)?;
            }
            Ok(())
        }
        Ok(pb::Verdict::NoHit) => {
            writeln!(out, "NO HIT  not listed")?;
            write_possible(out, &r.possible_matches)
        }
        _ => writeln!(out, "INVALID  {}", r.error),
    }
}

/// The possible matches block: set apart from hits, and saying so.
fn write_possible(out: &mut impl Write, possible: &[pb::PossibleMatch]) -> io::Result<()> {
    if possible.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "POSSIBLE MATCHES  {} listed record{} close to this document (NOT a hit): compare with the document",
        possible.len(),
        if possible.len() == 1 { " is" } else { "s are" }
    )?;
    for p in possible {
        let Some(m) = &p.record else { continue };
        writeln!(
            out,
            "  ? {:<3} {:<30} type {:<2} {:<12} reported {}  ({})",
            m.issuing_country,
            m.document_number,
            m.document_type,
            status_name(m.status).to_uppercase(),
            m.reported_on,
            p.explanation
        )?;
    }
    Ok(())
}

fn write_dataset(out: &mut impl Write, ds: &pb::DatasetInfo) -> io::Result<()> {
    let id = ds.content_id.get(..16).unwrap_or(&ds.content_id);
    writeln!(
        out,
        "data set {id} (sequence {}, {} records, as of {}, {}, age {})",
        ds.sequence,
        ds.record_count,
        ds.as_of.map(|t| format_unix(t.seconds)).unwrap_or_default(),
        freshness_name(ds.freshness),
        sltd_model::format_span(ds.age_seconds)
    )
}

fn record_json(m: &pb::Record) -> Value {
    json!({
        "issuing_country": m.issuing_country,
        "document_number": m.document_number,
        "document_type": m.document_type,
        "status": status_name(m.status),
        "reported_on": m.reported_on,
        "reporting_country": (!m.reporting_country.is_empty()).then_some(&m.reporting_country),
        "reference": m.reference,
    })
}

fn possible_json(p: &pb::PossibleMatch) -> Value {
    let mut v = json!({
        "record": p.record.as_ref().map(record_json),
        "explanation": p.explanation,
    });
    match pb::PossibleMatchReason::try_from(p.reason) {
        Ok(pb::PossibleMatchReason::ConfusableCharacter) => {
            v["reason"] = json!("confusable_character");
            v["position"] = json!(p.position);
            v["query_character"] = json!(p.query_character);
            v["record_character"] = json!(p.record_character);
            v["fixes_check_digit"] = json!(p.fixes_check_digit);
        }
        Ok(pb::PossibleMatchReason::OtherIssuingCountry) => {
            v["reason"] = json!("other_issuing_country");
        }
        _ => v["reason"] = json!("unknown"),
    }
    v
}

/// One answer as `sltd check --json` prints it: the response and its data
/// set.
pub(crate) fn answer_json(r: &pb::CheckResponse) -> Value {
    let mut v = response_json(r);
    if let Some(ds) = &r.dataset {
        v["dataset"] = dataset_json(ds);
    }
    v
}

/// A failed call as `sltd check --json` prints it.
pub(crate) fn error_json(status: &tonic::Status) -> Value {
    json!({"verdict": "ERROR", "code": format!("{:?}", status.code()), "error": status.message()})
}

fn response_json(r: &pb::CheckResponse) -> Value {
    let mut v = json!({
        "request_id": r.request_id,
        "verdict": verdict_name(r.verdict),
        "matches": r.matches.iter().map(record_json).collect::<Vec<_>>(),
        "possible_matches": r.possible_matches.iter().map(possible_json).collect::<Vec<_>>(),
    });
    if let Some(n) = &r.issuing_country_note {
        v["issuing_country_note"] = json!({
            "kind": match pb::IssuingCountryNoteKind::try_from(n.kind) {
                Ok(pb::IssuingCountryNoteKind::IsoCodeMapped) => "iso_code_mapped",
                Ok(pb::IssuingCountryNoteKind::FoundOnlyInData) => "found_only_in_data",
                _ => "unknown",
            },
            "given": n.given,
            "used": n.used,
            "name": (!n.name.is_empty()).then_some(&n.name),
            "given_also_used": n.given_also_used,
            "explanation": n.explanation,
        });
    }
    if !r.error.is_empty() {
        v["error"] = json!(r.error);
    }
    if let Some(m) = &r.mrz {
        v["mrz"] = json!({
            "format": format_name(m.format),
            "document_code": m.document_code,
            "issuing_country": m.issuing_country,
            "document_number": m.document_number,
            "nationality": m.nationality,
            "birth_date": m.birth_date,
            "sex": m.sex,
            "expiry_date": m.expiry_date,
            "check_digits": m.check_digits.iter().map(|c| json!({
                "field": c.field, "valid": c.valid, "found": c.found, "expected": c.expected,
            })).collect::<Vec<_>>(),
            "all_check_digits_valid": m.check_digits_valid,
            "upper_cased": m.upper_cased,
        });
    }
    v
}

fn dataset_json(ds: &pb::DatasetInfo) -> Value {
    json!({
        "content_id": ds.content_id,
        "sequence": ds.sequence,
        "as_of": ds.as_of.map(|t| format_unix(t.seconds)),
        "freshness": freshness_name(ds.freshness),
        "age_seconds": ds.age_seconds,
        "expires_at": ds.expires_at.map(|t| format_unix(t.seconds)),
        "record_count": ds.record_count,
    })
}
