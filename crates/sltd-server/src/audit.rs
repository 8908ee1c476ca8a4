//! The audit trail of hits: one JSON object per line for every HIT, naming
//! who asked (certificate subject, peer address, request id), what was
//! asked, which record answered and from which data set.
//!
//! A NO_HIT that offered possible matches is written too, as its own event
//! (`"event": "possible_match"`, with `possible_matches` and no `matches`):
//! an officer was shown a listed record and may act on it, so who was shown
//! which record belongs on record; and a separate event name means no reader
//! of the log counts it as a hit. Such an event holds the queried number,
//! which is one character or the issuing state away from a listed one.
//!
//! Nothing else is written. A plain miss is a traveller with a clean
//! document: its number is never written anywhere, here or in the logs.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;
use sltd_model::possible::{PossibleMatch, PossibleMatchReason};
use sltd_model::state_codes::StateNote;
use sltd_model::{Query, Record};

use crate::dataset::DatasetMeta;

/// Where audit lines go.
enum Sink {
    Stdout,
    File { path: PathBuf, file: File },
    Writer(Box<dyn Write + Send>),
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sink::Stdout => f.write_str("Stdout"),
            Sink::File { path, .. } => write!(f, "File({})", path.display()),
            Sink::Writer(_) => f.write_str("Writer"),
        }
    }
}

/// An append-only JSON-lines audit log.
#[derive(Debug)]
pub struct AuditLog {
    sink: Mutex<Sink>,
}

/// One hit, or one NO_HIT with possible matches, as written.
#[derive(Serialize, Debug)]
pub struct AuditEvent<'a> {
    /// RFC 3339, UTC.
    pub time: String,
    /// `hit` or `possible_match`.
    pub event: &'static str,
    pub rpc: &'static str,
    /// The client's certificate subject under mutual TLS; null otherwise.
    pub client: Option<String>,
    pub peer: Option<SocketAddr>,
    pub request_id: &'a str,
    pub query: AuditQuery,
    /// The exact matches of a hit; empty for a possible match.
    pub matches: Vec<AuditMatch>,
    /// The records offered with a NO_HIT; absent from a hit.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub possible_matches: Vec<AuditPossibleMatch>,
    pub dataset: AuditDataset<'a>,
}

/// The query as the daemon understood it (normalised). For an MRZ query,
/// the fields read from it; the MRZ text itself (with names) is not kept.
#[derive(Serialize, Debug)]
pub struct AuditQuery {
    pub document_number: String,
    pub issuing_country: Option<String>,
    pub document_type: Option<String>,
    pub from_mrz: bool,
    /// The issuing country as given, when the lookup used another code (an
    /// ISO 3166-1 code mapped to its ICAO code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuing_country_given: Option<String>,
}

#[derive(Serialize, Debug)]
pub struct AuditMatch {
    pub issuing_country: String,
    pub document_number: String,
    pub document_type: String,
    pub status: &'static str,
    pub reported_on: String,
    pub reference: String,
}

/// A record offered as a possible match, and why.
#[derive(Serialize, Debug)]
pub struct AuditPossibleMatch {
    #[serde(flatten)]
    pub record: AuditMatch,
    /// `confusable_character` or `other_issuing_country`.
    pub reason: &'static str,
    pub explanation: String,
}

#[derive(Serialize, Debug)]
pub struct AuditDataset<'a> {
    pub sequence: u64,
    pub content_id: &'a str,
}

impl AuditQuery {
    pub fn new(query: &Query, from_mrz: bool, note: Option<&StateNote>) -> Self {
        Self {
            document_number: query.number.to_string(),
            issuing_country: query.state.map(|s| s.to_string()),
            document_type: query.doc_type.map(|t| t.to_string()),
            from_mrz,
            issuing_country_given: note
                .filter(|n| n.given != n.used)
                .map(|n| n.given.to_string()),
        }
    }
}

impl AuditPossibleMatch {
    pub fn new(p: &PossibleMatch) -> Self {
        Self {
            record: AuditMatch::new(&p.record),
            reason: match p.reason {
                PossibleMatchReason::ConfusableCharacter { .. } => "confusable_character",
                PossibleMatchReason::OtherIssuingState { .. } => "other_issuing_country",
            },
            explanation: p.to_string(),
        }
    }
}

impl AuditMatch {
    pub fn new(r: &Record) -> Self {
        Self {
            issuing_country: r.key.state.to_string(),
            document_number: r.key.number.to_string(),
            document_type: r.doc_type.to_string(),
            status: r.status.as_str(),
            reported_on: r.reported_on.to_string(),
            reference: r.reference.to_string(),
        }
    }
}

impl<'a> AuditDataset<'a> {
    pub fn new(meta: &'a DatasetMeta) -> Self {
        Self {
            sequence: meta.sequence,
            content_id: &meta.content_id,
        }
    }
}

/// Current time as RFC 3339 with microseconds, UTC.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_micros(SystemTime::now()).to_string()
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl AuditLog {
    /// Audit lines to standard output.
    pub fn stdout() -> Self {
        Self {
            sink: Mutex::new(Sink::Stdout),
        }
    }

    /// Audit lines to any writer (tests use `std::io::sink()`).
    pub fn writer(w: impl Write + Send + 'static) -> Self {
        Self {
            sink: Mutex::new(Sink::Writer(Box::new(w))),
        }
    }

    /// Audit lines appended to `path` (created if missing).
    pub fn file(path: &Path) -> io::Result<Self> {
        let file = open_append(path)?;
        Ok(Self {
            sink: Mutex::new(Sink::File {
                path: path.to_path_buf(),
                file,
            }),
        })
    }

    /// Reopens the file by name, so a rotated log is continued in a new
    /// file (logrotate moves the old one, then sends SIGHUP).
    pub fn reopen(&self) -> io::Result<()> {
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        if let Sink::File { path, file } = &mut *sink {
            *file = open_append(path)?;
        }
        Ok(())
    }

    /// Writes one event as one line. A single `write` of the whole line to
    /// an `O_APPEND` file, so concurrent writers and a reader never see half
    /// a line.
    pub fn write(&self, event: &AuditEvent<'_>) -> io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *sink {
            Sink::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(&line)?;
                out.flush()
            }
            Sink::File { file, .. } => file.write_all(&line),
            Sink::Writer(w) => {
                w.write_all(&line)?;
                w.flush()
            }
        }
    }
}
