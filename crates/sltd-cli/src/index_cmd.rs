//! `sltd index ...`: build, query, inspect and verify index files.

use sltd_log::outln;
use std::fs::File;
use std::io::{self, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use sltd_feed::now_unix;
use sltd_index::{BuildOptions, Header, IndexBuilder, MapOptions, MappedIndex, open_file};
use sltd_model::mrz::Mrz;
use sltd_model::possible::{PossibleMatch, PossibleMatchReason, possible_matches};
use sltd_model::state_codes::{self, StateNote, StateNoteKind};
use sltd_model::{DocumentNumber, DocumentType, Query, Record};

use crate::{EXIT_ERROR, EXIT_HIT, EXIT_NO_HIT, EXIT_POSSIBLE_MATCH};

#[derive(Subcommand, Debug)]
pub(crate) enum IndexCommand {
    /// Build an index file from a CSV export.
    #[command(after_help = "Examples:\n  \
        sltd gen --records 1000000 --output export.csv\n  \
        sltd index build --input export.csv --output sltd.idx\n  \
        sltd index build --input export.csv --output sltd.idx --skip-invalid")]
    Build(BuildArgs),
    /// Look a document up in an index file. Exit status: 0 hit, 1 no hit, 2 error, 3 no hit but possible matches.
    #[command(after_help = "Examples:\n  \
        sltd index query --index sltd.idx --number L898902C3\n  \
        sltd index query --index sltd.idx --number L898902C3 --country UTO --type P --json\n  \
        sltd index query --index sltd.idx --mrz 'P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\n\
        L898902C36UTO7408122F1204159ZE184226B<<<<<10'\n\n\
        Without an exact match, records one misread character away (0/O, 1/I, 8/B, 5/S, 2/Z, 6/G)\n\
        or with the same number under another issuing country are listed as POSSIBLE MATCHES,\n\
        apart from hits, and the exit status is 3.")]
    Query(QueryArgs),
    /// Show an index file's header, sizes and identity.
    #[command(after_help = "Example:\n  sltd index inspect sltd.idx --json")]
    Inspect(InspectArgs),
    /// Check every byte of an index file. Exit status: 0 intact, 2 corrupt.
    #[command(after_help = "Example:\n  sltd index verify sltd.idx")]
    Verify(VerifyArgs),
}

#[derive(Args, Debug)]
pub(crate) struct BuildArgs {
    /// CSV export to read (`-` for standard input).
    #[arg(long, short)]
    input: PathBuf,
    /// Index file to write. Written to a temporary file first and renamed
    /// into place, so readers never see a partial file.
    #[arg(long, short)]
    output: PathBuf,
    /// Skip rows that are not valid (each is reported) instead of failing.
    #[arg(long)]
    skip_invalid: bool,
    /// Fail, writing nothing, when a row's issuing country is not an ICAO
    /// 9303 code (by default such rows are loaded as they are, counted and
    /// reported: real exports carry withdrawn codes such as YUG).
    #[arg(long)]
    refuse_unknown_countries: bool,
    /// Creation time to record, Unix seconds (default: now, or
    /// SOURCE_DATE_EPOCH when set, for reproducible builds).
    #[arg(long, env = "SOURCE_DATE_EPOCH")]
    created_at: Option<i64>,
    /// Print no progress or summary.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["number", "mrz"])))]
pub(crate) struct QueryArgs {
    /// Index file.
    #[arg(long)]
    index: PathBuf,
    /// Document number (spaces, hyphens and `<` are ignored).
    #[arg(long, conflicts_with = "mrz")]
    number: Option<String>,
    /// Issuing state, ICAO code (`D`, `D<<`, `FRA`). Omit to search every
    /// state. An ISO 3166-1 code whose ICAO code differs (`DE`, `DEU`) is
    /// checked as the ICAO code; an unknown code is an error.
    #[arg(long, requires = "number")]
    country: Option<String>,
    /// Document type; matched on its first letter (`P` matches `PD`).
    #[arg(long = "type", requires = "number")]
    doc_type: Option<String>,
    /// The machine readable zone as read: lines separated by newlines, or
    /// concatenated.
    #[arg(long)]
    mrz: Option<String>,
    /// Print the answer as one JSON object.
    #[arg(long)]
    json: bool,
    /// Do not look for possible matches when nothing matches exactly.
    #[arg(long)]
    no_possible_matches: bool,
}

#[derive(Args, Debug)]
pub(crate) struct InspectArgs {
    /// Index file.
    file: PathBuf,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    /// Index file.
    file: PathBuf,
}

pub(crate) fn run(cmd: IndexCommand) -> anyhow::Result<u8> {
    match cmd {
        IndexCommand::Build(a) => build(a),
        IndexCommand::Query(a) => query(a),
        IndexCommand::Inspect(a) => inspect(a),
        IndexCommand::Verify(a) => verify(a),
    }
}

/// How many bad rows are printed before the rest are only counted.
const MAX_REPORTED_ROWS: u64 = 50;
/// Rows parsed per batch handed to the building thread.
const PARSE_BATCH: usize = 8192;
/// Batches parsed ahead of the building thread.
const PARSED_BATCHES_IN_FLIGHT: usize = 16;

fn build(args: BuildArgs) -> anyhow::Result<u8> {
    let started = Instant::now();
    let (input, len): (Box<dyn io::Read + Send>, Option<u64>) = if args.input.as_os_str() == "-" {
        (Box::new(io::stdin()), None)
    } else {
        let f = File::open(&args.input)
            .with_context(|| format!("cannot open {}", args.input.display()))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    let bar = if !args.quiet && io::stderr().is_terminal() {
        let bar = match len {
            Some(len) => ProgressBar::new(len).with_style(
                ProgressStyle::with_template(
                    "{spinner} reading {bytes}/{total_bytes} [{wide_bar}] {bytes_per_sec} eta {eta}",
                )
                .expect("static template"),
            ),
            None => ProgressBar::new_spinner(),
        };
        Some(bar)
    } else {
        None
    };
    let input: Box<dyn io::Read + Send> = match &bar {
        Some(bar) => Box::new(bar.wrap_read(input)),
        None => input,
    };

    let mut builder = IndexBuilder::new(BuildOptions {
        created_at: args.created_at.unwrap_or_else(now_unix),
        ..BuildOptions::default()
    });
    if let Some(len) = len {
        // A typical row is 40 to 50 bytes.
        builder.reserve((len / 40) as usize);
    }
    let mut bad = 0u64;
    let reader = sltd_export::ExportReader::new(BufReader::with_capacity(1 << 20, input))
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    // Parsing on its own thread, in batches, while this one hashes and
    // encodes: two cores on the two halves of the work. Rows keep their
    // order, so errors are reported as one thread would.
    let (rows, parsed) = std::sync::mpsc::sync_channel(PARSED_BATCHES_IN_FLIGHT);
    let parser = std::thread::spawn(move || {
        let mut reader = reader;
        let mut batch = Vec::with_capacity(PARSE_BATCH);
        for row in reader.by_ref() {
            let fatal = matches!(&row, Err(e) if e.is_fatal());
            batch.push(row);
            if (batch.len() == PARSE_BATCH || fatal)
                && rows
                    .send(std::mem::replace(
                        &mut batch,
                        Vec::with_capacity(PARSE_BATCH),
                    ))
                    .is_err()
            {
                break;
            }
            if fatal {
                break;
            }
        }
        let _ = rows.send(batch);
        reader
    });
    for row in parsed.iter().flatten() {
        match row {
            Ok(record) => builder.push(record),
            Err(err) if !err.is_fatal() => {
                bad += 1;
                if bad <= MAX_REPORTED_ROWS {
                    let msg = format!("{}: {err}", args.input.display());
                    match &bar {
                        Some(b) => b.println(msg),
                        None => eprintln!("{msg}"),
                    }
                }
            }
            Err(err) => {
                return Err(err).with_context(|| format!("cannot read {}", args.input.display()));
            }
        }
    }
    let reader = parser
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p));
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if bad > MAX_REPORTED_ROWS {
        eprintln!("... and {} more bad rows", bad - MAX_REPORTED_ROWS);
    }
    if bad > 0 && !args.skip_invalid {
        bail!(
            "{bad} bad row(s) in {}; nothing was written (fix them, or pass --skip-invalid to leave them out)",
            args.input.display()
        );
    }
    let unknown = report_unknown_countries(
        reader.stats(),
        &args.input,
        args.refuse_unknown_countries,
        "written",
    )?;
    let read_done = started.elapsed();
    let building = (!args.quiet && io::stderr().is_terminal()).then(|| {
        let s = ProgressBar::new_spinner().with_message("laying out the index");
        s.enable_steady_tick(std::time::Duration::from_millis(120));
        s
    });
    let built = builder.finish()?;
    built.write_to(&args.output)?;
    if let Some(s) = building {
        s.finish_and_clear();
    }
    if !args.quiet {
        let h = &built.header;
        let n = h.record_count.max(1);
        eprintln!(
            "wrote {}: {} records ({} duplicate keys dropped, {} bad rows skipped, {} row(s) with an issuing country outside ICAO 9303), {} bytes, {:.1} bytes/record, content {} (read {:.1?}, total {:.1?})",
            args.output.display(),
            h.record_count,
            h.duplicates_dropped,
            bad,
            unknown,
            built.stats.file_len,
            built.stats.file_len as f64 / n as f64,
            h.content_id_hex(),
            read_done,
            started.elapsed()
        );
    }
    Ok(0)
}

/// How many unknown codes are listed before the rest are only counted.
const MAX_REPORTED_CODES: usize = 20;

/// Reports the rows of an export whose issuing country is not an ICAO 9303
/// code, as counted by the export reader; with `refuse`, fails instead
/// (nothing `written`). Shared by `sltd index build` and `sltd feed
/// publish`. Returns the number of such rows.
pub(crate) fn report_unknown_countries(
    stats: &sltd_export::ExportStats,
    input: &Path,
    refuse: bool,
    written: &str,
) -> anyhow::Result<u64> {
    let rows = stats.unknown_state_rows();
    if rows == 0 {
        return Ok(0);
    }
    let lines = stats.unknown_state_lines();
    eprintln!(
        "{}: {rows} row(s) have an issuing country that is not an ICAO 9303 code:",
        input.display()
    );
    for line in lines.iter().take(MAX_REPORTED_CODES) {
        eprintln!("  {line}");
    }
    if lines.len() > MAX_REPORTED_CODES {
        eprintln!("  ... and {} more codes", lines.len() - MAX_REPORTED_CODES);
    }
    if refuse {
        bail!(
            "{rows} row(s) in {} have an issuing country outside ICAO 9303; nothing was {written} (fix them, or leave out --refuse-unknown-countries to load them as they are)",
            input.display()
        );
    }
    eprintln!(
        "  loaded as they are: a query for such a code finds them, and one for the right ICAO code lists them as possible matches"
    );
    Ok(rows)
}

fn open(path: &Path) -> anyhow::Result<MappedIndex> {
    open_file(path, MapOptions::default())
        .with_context(|| format!("cannot open index {}", path.display()))
}

fn query(args: QueryArgs) -> anyhow::Result<u8> {
    // Parse the query before touching the index, so bad input is reported as
    // such.
    let (mut query, mrz) = match (&args.number, &args.mrz) {
        (Some(number), None) => {
            let q = Query {
                number: DocumentNumber::normalise(number).context("--number")?,
                state: args
                    .country
                    .as_deref()
                    .map(state_codes::normalise_query_state)
                    .transpose()
                    .context("--country")?,
                doc_type: args
                    .doc_type
                    .as_deref()
                    .map(DocumentType::normalise)
                    .transpose()
                    .context("--type")?,
            };
            (q, None)
        }
        (None, Some(text)) => {
            let mrz = Mrz::parse(text).context("--mrz")?;
            (mrz.query(), Some(mrz))
        }
        _ => bail!("give --number or --mrz"),
    };
    let index = open(&args.index)?;
    let mut note = None;
    let mut resolution = None;
    if let Some(given) = query.state {
        // The states of the data are read only for a code that is not an
        // ICAO code: a pass over the whole file.
        let in_data = if state_codes::is_known(&given) {
            None
        } else {
            Some(index.issuing_states().with_context(|| {
                format!("cannot read the issuing states of {}", args.index.display())
            })?)
        };
        let resolved = state_codes::resolve(given, |s| {
            in_data.as_ref().is_some_and(|set| set.contains(s))
        })
        .context(if mrz.is_some() { "--mrz" } else { "--country" })?;
        query.state = Some(resolved.state);
        note = resolved.note;
        resolution = Some(resolved);
    }
    let mut matches = Vec::new();
    match resolution {
        Some(r) => {
            index.lookup(&r.probe(&query), &mut matches)?;
            matches.retain(|m| r.answers(&query, m));
        }
        None => index.lookup(&query, &mut matches)?,
    }
    matches.sort_by_key(|r| r.key);
    let possible = if matches.is_empty() && !args.no_possible_matches {
        possible_matches(&query, mrz.as_ref(), |probes, on_match| {
            index.lookup_batch(probes, on_match)
        })?
    } else {
        Vec::new()
    };
    let code = if !matches.is_empty() {
        EXIT_HIT
    } else if !possible.is_empty() {
        EXIT_POSSIBLE_MATCH
    } else {
        EXIT_NO_HIT
    };
    let mut out = io::stdout().lock();
    if args.json {
        let v = json!({
            "verdict": if matches.is_empty() { "NO_HIT" } else { "HIT" },
            "query": query_json(&query),
            "matches": matches.iter().map(record_json).collect::<Vec<_>>(),
            "possible_matches": possible.iter().map(possible_json).collect::<Vec<_>>(),
            "issuing_country_note": note.as_ref().map(note_json),
            "mrz": mrz.as_ref().map(mrz_json),
            "dataset": dataset_json(index.header()),
        });
        writeln!(out, "{v}")?;
    } else {
        if let Some(m) = &mrz {
            write_mrz(&mut out, m)?;
        }
        if let Some(n) = &note {
            writeln!(out, "note: {n}")?;
        }
        write_answer(&mut out, &query, &matches)?;
        write_possible(&mut out, &possible)?;
        let h = index.header();
        writeln!(
            out,
            "data set {} ({} records, built {})",
            short_id(h),
            h.record_count,
            sltd_feed::format_unix(h.created_at)
        )?;
    }
    Ok(code)
}

/// The possible matches block: set apart from hits, and saying so.
fn write_possible(out: &mut impl Write, possible: &[PossibleMatch]) -> io::Result<()> {
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
        let r = &p.record;
        writeln!(
            out,
            "  ? {:<3} {:<30} type {:<2} {:<12} reported {}  ({p})",
            r.key.state.as_str(),
            r.key.number.as_str(),
            r.doc_type.as_str(),
            r.status.as_str().to_uppercase(),
            r.reported_on
        )?;
    }
    Ok(())
}

pub(crate) fn possible_json(p: &PossibleMatch) -> Value {
    let mut v = json!({
        "record": record_json(&p.record),
        "explanation": p.to_string(),
    });
    match p.reason {
        PossibleMatchReason::ConfusableCharacter {
            position,
            query_char,
            record_char,
            fixes_check_digit,
        } => {
            v["reason"] = json!("confusable_character");
            v["position"] = json!(position);
            v["query_character"] = json!(query_char.to_string());
            v["record_character"] = json!(record_char.to_string());
            v["fixes_check_digit"] = json!(fixes_check_digit);
        }
        PossibleMatchReason::OtherIssuingState { .. } => {
            v["reason"] = json!("other_issuing_country");
        }
    }
    v
}

fn note_json(n: &StateNote) -> Value {
    json!({
        "kind": match n.kind {
            StateNoteKind::IsoCodeMapped => "iso_code_mapped",
            StateNoteKind::FoundOnlyInData => "found_only_in_data",
        },
        "given": n.given.as_str(),
        "used": n.used.as_str(),
        "name": n.code.map(|c| c.name()),
        "given_also_used": n.given_also_used,
        "explanation": n.to_string(),
    })
}

fn short_id(h: &Header) -> String {
    h.content_id_hex()[..16].to_string()
}

fn write_answer(out: &mut impl Write, q: &Query, matches: &[Record]) -> io::Result<()> {
    let what = describe_query(q);
    if matches.is_empty() {
        return writeln!(out, "NO HIT  {what}: not listed");
    }
    writeln!(
        out,
        "HIT  {what}: {} record{}",
        matches.len(),
        if matches.len() == 1 { "" } else { "s" }
    )?;
    for r in matches {
        write!(
            out,
            "  {:<3} {:<30} type {:<2} {:<12} reported {}",
            r.key.state.as_str(),
            r.key.number.as_str(),
            r.doc_type.as_str(),
            r.status.as_str().to_uppercase(),
            r.reported_on
        )?;
        if let Some(rs) = r.reporting_state {
            write!(out, " by {rs}")?;
        }
        if !r.reference.is_empty() {
            write!(out, "  ref {}", r.reference)?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn describe_query(q: &Query) -> String {
    let mut s = format!("number {}", q.number);
    match q.state {
        Some(st) => s.push_str(&format!(", state {st}")),
        None => s.push_str(", any state"),
    }
    if let Some(t) = q.doc_type {
        s.push_str(&format!(", type {}", t.as_str()));
    }
    s
}

fn write_mrz(out: &mut impl Write, m: &Mrz) -> io::Result<()> {
    writeln!(
        out,
        "MRZ {}: document {} {}, state {} ({:?}), number {} ({:?}{}), expires {}",
        m.format.name(),
        m.document_code,
        m.document_type.as_str(),
        m.issuing_state,
        m.issuing_state_raw,
        m.document_number,
        m.document_number_raw,
        if m.long_number { ", long number" } else { "" },
        m.expiry_date
    )?;
    for c in &m.check_digits {
        writeln!(
            out,
            "  check digit {:<16} {} (found {:?}, computed {:?})",
            c.field.as_str(),
            if c.valid { "ok" } else { "FAILED" },
            c.found,
            c.expected
        )?;
    }
    if !m.all_check_digits_valid() {
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
    Ok(())
}

pub(crate) fn query_json(q: &Query) -> Value {
    json!({
        "number": q.number.as_str(),
        "issuing_country": q.state.map(|s| s.to_string()),
        "document_type": q.doc_type.map(|t| t.to_string()),
    })
}

pub(crate) fn record_json(r: &Record) -> Value {
    json!({
        "issuing_country": r.key.state.as_str(),
        "document_number": r.key.number.as_str(),
        "document_type": r.doc_type.as_str(),
        "status": r.status.as_str(),
        "reported_on": r.reported_on.to_string(),
        "reporting_country": r.reporting_state.map(|s| s.to_string()),
        "reference": r.reference.as_str(),
    })
}

pub(crate) fn mrz_json(m: &Mrz) -> Value {
    json!({
        "format": m.format.name(),
        "document_code": m.document_code,
        "document_type": m.document_type.as_str(),
        "issuing_state": m.issuing_state.as_str(),
        "issuing_state_raw": m.issuing_state_raw,
        "document_number": m.document_number.as_str(),
        "document_number_raw": m.document_number_raw,
        "long_number": m.long_number,
        "nationality": m.nationality,
        "birth_date": m.birth_date,
        "sex": m.sex.to_string(),
        "expiry_date": m.expiry_date,
        "optional_data": m.optional_data,
        "check_digits": m.check_digits.iter().map(|c| json!({
            "field": c.field.as_str(),
            "valid": c.valid,
            "found": c.found.to_string(),
            "expected": c.expected.to_string(),
        })).collect::<Vec<_>>(),
        "all_check_digits_valid": m.all_check_digits_valid(),
        "upper_cased": m.upper_cased,
    })
}

fn dataset_json(h: &Header) -> Value {
    json!({
        "content_id": h.content_id_hex(),
        "record_count": h.record_count,
        "created_at": sltd_feed::format_unix(h.created_at),
        "feed_sequence": h.feed_sequence,
        "state_root": h.state_root_hex(),
    })
}

fn inspect(args: InspectArgs) -> anyhow::Result<u8> {
    let index = open(&args.file)?;
    let h = index.header();
    let spilling = index.spilling_buckets();
    let n = h.record_count.max(1) as f64;
    let file_len = h.file_len();
    if args.json {
        let v = json!({
            "file": args.file.display().to_string(),
            "format_version": format!("{}.{}", h.version_major, h.version_minor),
            "kind": format!("{:?}", h.kind).to_lowercase(),
            "record_count": h.record_count,
            "duplicates_dropped": h.duplicates_dropped,
            "created_at": sltd_feed::format_unix(h.created_at),
            "content_id": h.content_id_hex(),
            "feed_sequence": h.feed_sequence,
            "state_root": h.state_root_hex(),
            "file_bytes": file_len,
            "table_bytes": h.table_len,
            "records_bytes": h.records_len,
            "states": h.state_count,
            "filter_bytes": h.filter_len,
            "bytes_per_record": file_len as f64 / n,
            "bucket_count": h.bucket_count,
            "home_bucket_count": h.home_bucket_count,
            "load_factor": h.load_factor(),
            "spilling_buckets": spilling,
            "max_probe": h.max_probe,
        });
        outln!("{v}");
        return Ok(0);
    }
    outln!("file            {}", args.file.display());
    outln!(
        "format          sltd index {}.{} ({:?})",
        h.version_major,
        h.version_minor,
        h.kind
    );
    outln!("records         {}", h.record_count);
    outln!("duplicates      {} dropped at build", h.duplicates_dropped);
    outln!("created         {}", sltd_feed::format_unix(h.created_at));
    outln!("content id      {}", h.content_id_hex());
    outln!("feed sequence   {}", h.feed_sequence);
    outln!("state root      {}", h.state_root_hex());
    outln!(
        "size            {} bytes: header 256, table {}, records {}, states {}, filter {}, sums {}",
        file_len,
        h.table_len,
        h.records_len,
        2 * u64::from(h.state_count),
        h.filter_len,
        file_len - h.sums_offset()
    );
    outln!(
        "bytes/record    {:.2} all-in (table {:.2}, records {:.2})",
        file_len as f64 / n,
        h.table_len as f64 / n,
        h.records_len as f64 / n
    );
    outln!(
        "buckets         {} ({} home), load factor {:.3}",
        h.bucket_count,
        h.home_bucket_count,
        h.load_factor()
    );
    outln!(
        "spilling        {} buckets ({:.3}%), max probe {}",
        spilling,
        100.0 * spilling as f64 / h.bucket_count.max(1) as f64,
        h.max_probe
    );
    Ok(0)
}

fn verify(args: VerifyArgs) -> anyhow::Result<u8> {
    let started = Instant::now();
    let result = open(&args.file).and_then(|index| {
        index
            .verify()
            .with_context(|| format!("{} is corrupt", args.file.display()))?;
        Ok(index.header().record_count)
    });
    match result {
        Ok(n) => {
            outln!(
                "{}: intact ({n} records, checked in {:.1?})",
                args.file.display(),
                started.elapsed()
            );
            Ok(0)
        }
        Err(err) => {
            eprintln!("sltd: {err:#}");
            Ok(EXIT_ERROR)
        }
    }
}
