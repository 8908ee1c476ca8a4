//! The `sltd.v1.Lookup` service: turns requests into [`Query`]s with the
//! model's normalisation, answers them from the current data set, and turns
//! records back into responses.
//!
//! Lookups run inline on the request task: they take well under a
//! microsecond, far less than a hop to a blocking pool would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use sltd_feed::freshness::Freshness;
use sltd_feed::now_unix as unix_now;
use sltd_model::mrz::{self, Mrz, MrzFormat};
use sltd_model::possible::{self, PossibleMatch, PossibleMatchReason};
use sltd_model::state_codes::{self, ResolvedState, StateNote, StateNoteKind};
use sltd_model::{DocumentNumber, DocumentType, ModelError, Query, Record, Status};
use sltd_proto::v1 as pb;
use sltd_proto::wire::{CheckRequestView, DocumentView, QueryView};
use tokio_stream::StreamExt;
use tonic::transport::CertificateDer;
use tonic::{Request, Response};

use crate::audit::{
    AuditDataset, AuditEvent, AuditMatch, AuditPossibleMatch, AuditQuery, now_rfc3339,
};
use crate::dataset::Dataset;
use crate::metrics::{Rpc, VerdictLabel};
use crate::wire::{
    AnswerStream, BatchAnswer, BatchQuery, CheckAnswer, CheckQuery, DatasetBlock, RequestId,
};
use crate::{Daemon, Loaded};

/// Longest `request_id` accepted. It is echoed and audited, so it is
/// bounded like everything else a client sends.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// A request turned into a lookup.
#[derive(Debug)]
pub(crate) struct ParsedQuery {
    pub(crate) query: Query,
    pub(crate) mrz: Option<Mrz>,
    /// The request's `include_possible_matches`; unset means the RPC's
    /// default.
    pub(crate) include_possible_matches: Option<bool>,
    /// How the issuing state was taken, once [`resolve_state`] has run.
    pub(crate) note: Option<StateNote>,
    /// What [`resolve_state`] decided, when the query has a state.
    pub(crate) resolved: Option<ResolvedState>,
}

impl ParsedQuery {
    /// The lookup to run (by number alone when two states answer).
    pub(crate) fn probe(&self) -> Query {
        self.resolved.map_or(self.query, |r| r.probe(&self.query))
    }

    /// Whether a record the probe found answers the query.
    pub(crate) fn answers(&self, record: &Record) -> bool {
        self.resolved.map_or_else(
            || self.query.matches(record),
            |r| r.answers(&self.query, record),
        )
    }
}

/// Decides the state the lookup uses, against the data set that will
/// answer (a code outside ICAO 9303 is accepted when the data carries it).
/// The error names the field.
pub(crate) fn resolve_state(parsed: &mut ParsedQuery, ds: &Dataset) -> Result<(), String> {
    let Some(given) = parsed.query.state else {
        return Ok(());
    };
    let field = if parsed.mrz.is_some() {
        "mrz: issuing state"
    } else {
        "document.issuing_country"
    };
    let resolved = state_codes::resolve(given, |s| ds.has_issuing_state(s))
        .map_err(|e| format!("{field}: {e}"))?;
    parsed.query.state = Some(resolved.state);
    parsed.note = resolved.note;
    parsed.resolved = Some(resolved);
    Ok(())
}

/// Parses a request with the model's rules. The error names the field and
/// says how to fix it; it is sent to the client, never logged (it may
/// contain part of the number).
pub(crate) fn parse_view(req: &CheckRequestView<'_>) -> Result<ParsedQuery, String> {
    if req.request_id.len() > MAX_REQUEST_ID_LEN {
        return Err(format!(
            "request_id is {} bytes long; at most {MAX_REQUEST_ID_LEN} are allowed",
            req.request_id.len()
        ));
    }
    match req.query {
        None => Err(
            "query is not set: set `document` (its `number`, optionally `issuing_country` and `document_type`) or `mrz`"
                .to_string(),
        ),
        Some(QueryView::Document(doc)) => parse_document(&doc).map(|query| ParsedQuery {
            query,
            mrz: None,
            include_possible_matches: req.include_possible_matches,
            note: None,
            resolved: None,
        }),
        Some(QueryView::Mrz(text)) => {
            let parsed = mrz::parse(text).map_err(|e| format!("mrz: {e}"))?;
            Ok(ParsedQuery {
                query: parsed.query(),
                mrz: Some(parsed),
                include_possible_matches: req.include_possible_matches,
                note: None,
                resolved: None,
            })
        }
    }
}

fn field_error(field: &str, err: ModelError, example: &str) -> String {
    match err {
        ModelError::EmptyNumber => format!(
            "{field} is empty: give the document number as printed on the document, e.g. {example}"
        ),
        ModelError::EmptyState => format!(
            "{field} has only '<' fillers: give the ICAO code, e.g. {example}, or leave it empty to match every country"
        ),
        ModelError::EmptyType => format!(
            "{field} has only '<' fillers: give the type, e.g. {example}, or leave it empty to match every type"
        ),
        other => format!("{field}: {other}"),
    }
}

fn parse_document(doc: &DocumentView<'_>) -> Result<Query, String> {
    let number = DocumentNumber::normalise(doc.number)
        .map_err(|e| field_error("document.number", e, "L898902C3"))?;
    // Empty (or blank) means "not given": match every country / type.
    let state = if doc.issuing_country.trim().is_empty() {
        None
    } else {
        Some(
            state_codes::normalise_query_state(doc.issuing_country)
                .map_err(|e| field_error("document.issuing_country", e, "UTO, D or FRA"))?,
        )
    };
    let doc_type = if doc.document_type.trim().is_empty() {
        None
    } else {
        Some(
            DocumentType::normalise(doc.document_type)
                .map_err(|e| field_error("document.document_type", e, "P, PP, I or V"))?,
        )
    };
    Ok(Query {
        number,
        state,
        doc_type,
    })
}

pub(crate) fn status_to_proto(s: Status) -> pb::Status {
    match s {
        Status::Stolen => pb::Status::Stolen,
        Status::Lost => pb::Status::Lost,
        Status::Revoked => pb::Status::Revoked,
        Status::Invalidated => pb::Status::Invalidated,
        Status::StolenBlank => pb::Status::StolenBlank,
    }
}

pub(crate) fn record_to_proto(r: &Record) -> pb::Record {
    pb::Record {
        issuing_country: r.key.state.to_string(),
        document_number: r.key.number.to_string(),
        document_type: r.doc_type.to_string(),
        status: status_to_proto(r.status) as i32,
        reported_on: r.reported_on.to_string(),
        reporting_country: r.reporting_state.map(|s| s.to_string()).unwrap_or_default(),
        reference: r.reference.to_string(),
    }
}

fn mrz_to_proto(m: &Mrz) -> pb::MrzResult {
    let format = match m.format {
        MrzFormat::Td1 => pb::MrzFormat::Td1,
        MrzFormat::Td2 => pb::MrzFormat::Td2,
        MrzFormat::Td3 => pb::MrzFormat::Td3,
        MrzFormat::MrvA => pb::MrzFormat::MrvA,
        MrzFormat::MrvB => pb::MrzFormat::MrvB,
    };
    pb::MrzResult {
        format: format as i32,
        document_code: m.document_code.clone(),
        issuing_country: m.issuing_state.to_string(),
        document_number: m.document_number.to_string(),
        nationality: m.nationality.trim_end_matches('<').to_string(),
        birth_date: m.birth_date.clone(),
        sex: m.sex.to_string(),
        expiry_date: m.expiry_date.clone(),
        check_digits: m
            .check_digits
            .iter()
            .map(|c| pb::MrzCheckDigit {
                field: c.field.as_str().to_string(),
                found: c.found.to_string(),
                expected: c.expected.to_string(),
                valid: c.valid,
            })
            .collect(),
        check_digits_valid: m.all_check_digits_valid(),
        upper_cased: m.upper_cased,
    }
}

pub(crate) fn possible_to_proto(p: &PossibleMatch) -> pb::PossibleMatch {
    let explanation = p.to_string();
    let record = Some(record_to_proto(&p.record));
    match p.reason {
        PossibleMatchReason::ConfusableCharacter {
            position,
            query_char,
            record_char,
            fixes_check_digit,
        } => pb::PossibleMatch {
            record,
            reason: pb::PossibleMatchReason::ConfusableCharacter as i32,
            position: u32::try_from(position).unwrap_or(u32::MAX),
            query_character: query_char.to_string(),
            record_character: record_char.to_string(),
            fixes_check_digit,
            explanation,
        },
        PossibleMatchReason::OtherIssuingState { .. } => pb::PossibleMatch {
            record,
            reason: pb::PossibleMatchReason::OtherIssuingCountry as i32,
            position: 0,
            query_character: String::new(),
            record_character: String::new(),
            fixes_check_digit: false,
            explanation,
        },
    }
}

fn note_to_proto(n: &StateNote) -> pb::IssuingCountryNote {
    let kind = match n.kind {
        StateNoteKind::IsoCodeMapped => pb::IssuingCountryNoteKind::IsoCodeMapped,
        StateNoteKind::FoundOnlyInData => pb::IssuingCountryNoteKind::FoundOnlyInData,
    };
    pb::IssuingCountryNote {
        kind: kind as i32,
        given: n.given.to_string(),
        used: n.used.to_string(),
        name: n.code.map(|c| c.name().to_string()).unwrap_or_default(),
        explanation: n.to_string(),
        given_also_used: n.given_also_used,
    }
}

fn timestamp(unix: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: unix,
        nanos: 0,
    }
}

fn freshness_to_proto(f: Freshness) -> pb::Freshness {
    match f {
        Freshness::Fresh => pb::Freshness::Fresh,
        Freshness::Stale => pb::Freshness::Stale,
        Freshness::Expired => pb::Freshness::Expired,
    }
}

impl Daemon {
    /// What answers report about `ds` right now.
    pub(crate) fn dataset_info(&self, ds: &Dataset) -> pb::DatasetInfo {
        self.dataset_info_at(ds, unix_now())
    }

    fn dataset_info_at(&self, ds: &Dataset, now: i64) -> pb::DatasetInfo {
        let m = ds.meta();
        pb::DatasetInfo {
            content_id: m.content_id.clone(),
            sequence: m.sequence,
            as_of: Some(timestamp(m.as_of)),
            freshness: freshness_to_proto(m.freshness(now, &self.config.freshness)) as i32,
            age_seconds: m.age_seconds(now),
            expires_at: m.expires_at.map(timestamp),
            record_count: m.record_count,
        }
    }

    /// [`dataset_info`](Self::dataset_info) of `loaded`, encoded: computed
    /// once a second and shared by every answer meanwhile.
    pub(crate) fn dataset_block(&self, loaded: &Loaded) -> Arc<DatasetBlock> {
        let now = unix_now();
        if let Some(block) = &*loaded.dataset_block.load()
            && block.second == now
        {
            return Arc::clone(block);
        }
        let block = Arc::new(DatasetBlock {
            second: now,
            bytes: sltd_proto::wire::encode_dataset(&self.dataset_info_at(&loaded.dataset, now)),
        });
        loaded.dataset_block.store(Some(Arc::clone(&block)));
        block
    }
}

/// Who is asking: recorded in the audit log on a hit.
#[derive(Clone, Debug, Default)]
pub(crate) struct Caller {
    peer: Option<SocketAddr>,
    certs: Option<Arc<Vec<CertificateDer<'static>>>>,
}

impl Caller {
    fn of<T>(req: &Request<T>) -> Self {
        Self {
            peer: req.remote_addr(),
            certs: req.peer_certs(),
        }
    }

    /// The subject of the client's certificate, when it presented one.
    /// Parsed only when a hit is audited.
    fn identity(&self) -> Option<String> {
        let der = self.certs.as_ref()?.first()?;
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
        Some(cert.subject().to_string())
    }
}

/// Verdicts of one call, added to the metrics once per call rather than
/// once per document.
#[derive(Default, Debug)]
struct VerdictCounts {
    hit: u64,
    no_hit: u64,
    invalid: u64,
    /// NO_HIT answers that offered possible matches (also in `no_hit`).
    with_possible_matches: u64,
}

impl VerdictCounts {
    fn record(&self, daemon: &Daemon, rpc: Rpc) {
        let m = &daemon.metrics;
        m.check_n(rpc, VerdictLabel::Hit, self.hit);
        m.check_n(rpc, VerdictLabel::NoHit, self.no_hit);
        m.check_n(rpc, VerdictLabel::InvalidQuery, self.invalid);
        m.possible_match_checks(rpc, self.with_possible_matches);
    }
}

/// One item's outcome before it becomes a response.
enum Outcome {
    /// The exact matches, or else the possible matches (empty when none were
    /// asked for or found).
    Answered {
        matches: Vec<Record>,
        possible: Vec<PossibleMatch>,
    },
    Invalid(String),
}

/// Whether an RPC offers possible matches when the request does not say:
/// a unary Check does (an officer at a desk), batch and stream items do not
/// (manifests of hundreds of documents, read by software).
fn wants_possible_matches(rpc: Rpc, parsed: &ParsedQuery) -> bool {
    parsed
        .include_possible_matches
        .unwrap_or(matches!(rpc, Rpc::Check))
}

/// The possible matches of a query that had no exact match, in one batched
/// lookup, unless the data set's filter rules them out.
fn find_possible(
    ds: &Dataset,
    parsed: &ParsedQuery,
) -> Result<Vec<PossibleMatch>, sltd_index::IndexError> {
    if !ds.may_have_possible_matches(&parsed.query.number) {
        return Ok(Vec::new());
    }
    possible::possible_matches(&parsed.query, parsed.mrz.as_ref(), |probes, on_match| {
        ds.lookup_batch(probes, on_match)
    })
}

/// The gRPC service; cheap to clone.
#[derive(Clone, Debug)]
pub struct LookupService {
    daemon: Arc<Daemon>,
}

impl LookupService {
    pub fn new(daemon: Arc<Daemon>) -> Self {
        Self { daemon }
    }

    /// Writes a hit (`matches`) or, as its own event, the possible matches
    /// offered with a NO_HIT (`possible`): an officer may act on either, so
    /// both are on record, and a reader of the log never takes one for the
    /// other.
    #[allow(clippy::too_many_arguments)]
    fn audit(
        &self,
        rpc: Rpc,
        caller: &Caller,
        request_id: &str,
        parsed: &ParsedQuery,
        matches: &[Record],
        possible: &[PossibleMatch],
        ds: &Dataset,
    ) {
        let rpc_name = match rpc {
            Rpc::Check => "Check",
            Rpc::CheckBatch => "CheckBatch",
            Rpc::CheckStream => "CheckStream",
            Rpc::GetStatus => "GetStatus",
        };
        let event = AuditEvent {
            time: now_rfc3339(),
            event: if matches.is_empty() {
                "possible_match"
            } else {
                "hit"
            },
            rpc: rpc_name,
            client: caller.identity(),
            peer: caller.peer,
            request_id,
            query: AuditQuery::new(&parsed.query, parsed.mrz.is_some(), parsed.note.as_ref()),
            matches: matches.iter().map(AuditMatch::new).collect(),
            possible_matches: possible.iter().map(AuditPossibleMatch::new).collect(),
            dataset: AuditDataset::new(ds.meta()),
        };
        if let Err(e) = self.daemon.audit.write(&event) {
            self.daemon.metrics.audit_error();
            // The error is about the sink; the event itself stays out of the
            // ordinary logs.
            tracing::error!(error = %e, "cannot write audit line");
        }
    }

    /// Builds the response for one answered or refused item, counting it in
    /// `counts` and auditing a hit or the possible matches offered.
    #[allow(clippy::too_many_arguments)]
    fn respond(
        &self,
        rpc: Rpc,
        caller: &Caller,
        request_id: RequestId,
        parsed: Option<&ParsedQuery>,
        outcome: Outcome,
        ds: &Dataset,
        dataset: Option<Arc<DatasetBlock>>,
        counts: &mut VerdictCounts,
    ) -> CheckAnswer {
        let mrz = parsed.and_then(|p| p.mrz.as_ref()).map(mrz_to_proto);
        let issuing_country_note = parsed.and_then(|p| p.note.as_ref()).map(note_to_proto);
        match outcome {
            Outcome::Invalid(error) => {
                counts.invalid += 1;
                CheckAnswer {
                    request_id,
                    verdict: pb::Verdict::InvalidQuery,
                    matches: Vec::new(),
                    mrz,
                    dataset,
                    error,
                    possible_matches: Vec::new(),
                    issuing_country_note: None,
                }
            }
            Outcome::Answered { matches, possible } if matches.is_empty() => {
                counts.no_hit += 1;
                if !possible.is_empty() {
                    counts.with_possible_matches += 1;
                    if let Some(p) = parsed {
                        self.audit(rpc, caller, request_id.as_str(), p, &[], &possible, ds);
                    }
                }
                CheckAnswer {
                    request_id,
                    verdict: pb::Verdict::NoHit,
                    matches: Vec::new(),
                    mrz,
                    dataset,
                    error: String::new(),
                    possible_matches: possible.iter().map(possible_to_proto).collect(),
                    issuing_country_note,
                }
            }
            Outcome::Answered { matches, .. } => {
                counts.hit += 1;
                if let Some(p) = parsed {
                    self.audit(rpc, caller, request_id.as_str(), p, &matches, &[], ds);
                }
                CheckAnswer {
                    request_id,
                    verdict: pb::Verdict::Hit,
                    matches: matches.iter().map(record_to_proto).collect(),
                    mrz,
                    dataset,
                    error: String::new(),
                    possible_matches: Vec::new(),
                    issuing_country_note,
                }
            }
        }
    }

    /// Answers one stream item: invalid input becomes INVALID_QUERY.
    fn answer_item(
        &self,
        rpc: Rpc,
        caller: &Caller,
        req: CheckQuery,
    ) -> Result<CheckAnswer, tonic::Status> {
        let start = Instant::now();
        let loaded = self.daemon.current().ok_or_else(unavailable)?;
        let ds = &loaded.dataset;
        let parsed = req
            .parsed
            .and_then(|mut p| resolve_state(&mut p, ds).map(|()| p));
        let outcome = match &parsed {
            Err(e) => Outcome::Invalid(e.clone()),
            Ok(p) => self.answer(rpc, ds, p)?,
        };
        let mut counts = VerdictCounts::default();
        let resp = self.respond(
            rpc,
            caller,
            req.request_id,
            parsed.as_ref().ok(),
            outcome,
            ds,
            Some(self.daemon.dataset_block(&loaded)),
            &mut counts,
        );
        counts.record(&self.daemon, rpc);
        self.daemon
            .metrics
            .latency(rpc, start.elapsed().as_secs_f64());
        Ok(resp)
    }

    /// Looks one query up: its exact matches, or else its possible matches
    /// when the request (or the RPC's default) asks for them.
    fn answer(
        &self,
        rpc: Rpc,
        ds: &Dataset,
        parsed: &ParsedQuery,
    ) -> Result<Outcome, tonic::Status> {
        let mut matches = Vec::new();
        ds.lookup(&parsed.probe(), &mut matches)
            .map_err(|e| self.internal(rpc, e))?;
        if parsed.resolved.is_some_and(|r| r.also.is_some()) {
            matches.retain(|r| parsed.answers(r));
        }
        let possible = if matches.is_empty() && wants_possible_matches(rpc, parsed) {
            find_possible(ds, parsed).map_err(|e| self.internal(rpc, e))?
        } else {
            Vec::new()
        };
        Ok(Outcome::Answered { matches, possible })
    }

    fn internal(&self, rpc: Rpc, e: sltd_index::IndexError) -> tonic::Status {
        // Only possible if the mapped file changed under us; verify() passed
        // when it was loaded.
        tracing::error!(error = %e, "index lookup failed");
        self.daemon.metrics.error(rpc, tonic::Code::Internal);
        tonic::Status::internal(format!("index lookup failed: {e}"))
    }
}

fn unavailable() -> tonic::Status {
    tonic::Status::unavailable(
        "no data set is loaded yet (the daemon is starting or its index failed to load); retry once the health check reports SERVING",
    )
}

impl LookupService {
    pub(crate) fn check(
        &self,
        request: Request<CheckQuery>,
    ) -> Result<Response<CheckAnswer>, tonic::Status> {
        let start = Instant::now();
        let caller = Caller::of(&request);
        let req = request.into_inner();
        let invalid = |msg: String| {
            let m = &self.daemon.metrics;
            m.check(Rpc::Check, VerdictLabel::InvalidQuery);
            m.error(Rpc::Check, tonic::Code::InvalidArgument);
            tonic::Status::invalid_argument(msg)
        };
        let mut parsed = req.parsed.map_err(invalid)?;
        let Some(loaded) = self.daemon.current() else {
            self.daemon
                .metrics
                .error(Rpc::Check, tonic::Code::Unavailable);
            return Err(unavailable());
        };
        let ds = &loaded.dataset;
        resolve_state(&mut parsed, ds).map_err(invalid)?;
        let outcome = self.answer(Rpc::Check, ds, &parsed)?;
        let mut counts = VerdictCounts::default();
        let resp = self.respond(
            Rpc::Check,
            &caller,
            req.request_id,
            Some(&parsed),
            outcome,
            ds,
            Some(self.daemon.dataset_block(&loaded)),
            &mut counts,
        );
        counts.record(&self.daemon, Rpc::Check);
        self.daemon
            .metrics
            .latency(Rpc::Check, start.elapsed().as_secs_f64());
        Ok(Response::new(resp))
    }

    pub(crate) fn check_batch(
        &self,
        request: Request<BatchQuery>,
    ) -> Result<Response<BatchAnswer>, tonic::Status> {
        let start = Instant::now();
        let caller = Caller::of(&request);
        let queries = request.into_inner().0;
        let max = self.daemon.config.limits.max_batch;
        let m = &self.daemon.metrics;
        if queries.len() > max {
            m.error(Rpc::CheckBatch, tonic::Code::InvalidArgument);
            return Err(tonic::Status::invalid_argument(format!(
                "queries has {} items; at most {max} are allowed in one CheckBatch: split the batch, or use CheckStream",
                queries.len()
            )));
        }
        m.batch_size(queries.len());
        let Some(loaded) = self.daemon.current() else {
            m.error(Rpc::CheckBatch, tonic::Code::Unavailable);
            return Err(unavailable());
        };
        let ds = &loaded.dataset;
        let (ids, parsed): (Vec<RequestId>, Vec<Result<ParsedQuery, String>>) = queries
            .into_iter()
            .map(|q| {
                let p = q
                    .parsed
                    .and_then(|mut p| resolve_state(&mut p, ds).map(|()| p));
                (q.request_id, p)
            })
            .unzip();
        // Only the valid queries go to the index, in one batched pass that
        // prefetches across them; `owner` maps them back to their items.
        let mut lookups = Vec::with_capacity(parsed.len());
        let mut owner = Vec::with_capacity(parsed.len());
        for (i, p) in parsed.iter().enumerate() {
            if let Ok(p) = p {
                lookups.push(p.probe());
                owner.push(i);
            }
        }
        let mut found: Vec<Vec<Record>> = vec![Vec::new(); parsed.len()];
        ds.lookup_batch(&lookups, |i, r| {
            let item = owner[i];
            if parsed[item].as_ref().is_ok_and(|p| p.answers(&r)) {
                found[item].push(r);
            }
        })
        .map_err(|e| self.internal(Rpc::CheckBatch, e))?;
        let mut counts = VerdictCounts::default();
        // Possible matches only for the misses that asked for them; each
        // takes its own batched lookup.
        let mut outcomes = Vec::with_capacity(parsed.len());
        for (p, matches) in parsed.iter().zip(found) {
            outcomes.push(match p {
                Err(e) => Outcome::Invalid(e.clone()),
                Ok(p) => {
                    let possible =
                        if matches.is_empty() && wants_possible_matches(Rpc::CheckBatch, p) {
                            find_possible(ds, p).map_err(|e| self.internal(Rpc::CheckBatch, e))?
                        } else {
                            Vec::new()
                        };
                    Outcome::Answered { matches, possible }
                }
            });
        }
        let results = ids
            .into_iter()
            .zip(parsed)
            .zip(outcomes)
            .map(|((id, parsed), outcome)| {
                let p = parsed.as_ref().ok();
                self.respond(
                    Rpc::CheckBatch,
                    &caller,
                    id,
                    p,
                    outcome,
                    ds,
                    None,
                    &mut counts,
                )
            })
            .collect();
        counts.record(&self.daemon, Rpc::CheckBatch);
        let resp = BatchAnswer {
            results,
            dataset: self.daemon.dataset_block(&loaded),
        };
        m.latency(Rpc::CheckBatch, start.elapsed().as_secs_f64());
        Ok(Response::new(resp))
    }

    pub(crate) fn check_stream(
        &self,
        request: Request<tonic::Streaming<CheckQuery>>,
    ) -> Result<Response<AnswerStream>, tonic::Status> {
        let caller = Caller::of(&request);
        if self.daemon.current().is_none() {
            self.daemon
                .metrics
                .error(Rpc::CheckStream, tonic::Code::Unavailable);
            return Err(unavailable());
        }
        let inbound = request.into_inner();
        let svc = self.clone();
        // One response per request, computed as each request arrives: order
        // is kept because nothing runs out of line.
        let out = inbound.map(move |item| match item {
            Ok(req) => svc.answer_item(Rpc::CheckStream, &caller, req),
            Err(status) => Err(status),
        });
        Ok(Response::new(Box::pin(out)))
    }

    pub(crate) fn get_status(
        &self,
        _request: Request<pb::GetStatusRequest>,
    ) -> Result<Response<pb::GetStatusResponse>, tonic::Status> {
        let loaded = self.daemon.loaded();
        let Some(loaded) = loaded else {
            self.daemon
                .metrics
                .error(Rpc::GetStatus, tonic::Code::Unavailable);
            return Err(unavailable());
        };
        Ok(Response::new(pb::GetStatusResponse {
            dataset: Some(self.daemon.dataset_info(&loaded.dataset)),
            source: loaded.dataset.meta().source.clone(),
            loaded_at: Some(timestamp(loaded.loaded_at)),
            uptime_seconds: self.daemon.uptime().as_secs() as i64,
            version: env!("CARGO_PKG_VERSION").to_string(),
            max_batch: u32::try_from(self.daemon.config.limits.max_batch).unwrap_or(u32::MAX),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sltd_proto::v1::check_request::Query as PbQuery;

    fn parse_request(req: &pb::CheckRequest) -> Result<ParsedQuery, String> {
        let bytes = prost::Message::encode_to_vec(req);
        parse_view(&CheckRequestView::decode(&bytes).unwrap())
    }

    fn doc(number: &str, country: &str, ty: &str) -> pb::CheckRequest {
        pb::CheckRequest {
            request_id: "r".into(),
            query: Some(PbQuery::Document(pb::Document {
                number: number.into(),
                issuing_country: country.into(),
                document_type: ty.into(),
            })),
            include_possible_matches: None,
        }
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (doc("", "", ""), "document.number"),
            (doc("AB.1", "", ""), "document.number"),
            (doc(&"1".repeat(31), "", ""), "document.number"),
            (doc("X1", "FRAN", ""), "document.issuing_country"),
            (doc("X1", "U1O", ""), "document.issuing_country"),
            (doc("X1", "<<<", ""), "document.issuing_country"),
            (doc("X1", "", "PPP"), "document.document_type"),
            (doc("X1", "", "1"), "document.document_type"),
        ];
        for (req, field) in cases {
            let err = parse_request(&req).unwrap_err();
            assert!(err.starts_with(field), "{err:?} should name {field}");
        }
        let none = pb::CheckRequest {
            request_id: String::new(),
            query: None,
            include_possible_matches: None,
        };
        assert!(parse_request(&none).unwrap_err().contains("`mrz`"));
        let bad_mrz = pb::CheckRequest {
            request_id: String::new(),
            query: Some(PbQuery::Mrz("hello".into())),
            include_possible_matches: None,
        };
        assert!(parse_request(&bad_mrz).unwrap_err().starts_with("mrz: "));
        let long_id = pb::CheckRequest {
            request_id: "x".repeat(MAX_REQUEST_ID_LEN + 1),
            query: None,
            include_possible_matches: None,
        };
        assert!(
            parse_request(&long_id)
                .unwrap_err()
                .starts_with("request_id")
        );
    }

    #[test]
    fn blank_country_and_type_mean_any() {
        let p = parse_request(&doc(" l898902c3 ", " ", "")).unwrap();
        assert_eq!(p.query.number.as_str(), "L898902C3");
        assert!(p.query.state.is_none() && p.query.doc_type.is_none());
        let p = parse_request(&doc("L898902C3", "d<<", "pd")).unwrap();
        assert_eq!(p.query.state.unwrap().as_str(), "D");
        assert_eq!(p.query.doc_type.unwrap().as_str(), "PD");
    }
}
