//! The one data set every peer gets: the records of an `sltd gen` CSV, with
//! duplicate keys resolved by the index's own rule (the record of greatest
//! [`Record::precedence`] wins), so that every peer stores exactly the same
//! set and the ground truth is the same for all of them.
//!
//! Also the byte encoding the key-value peers (Redis, LMDB, cdb, fst's value
//! store) hold: the key is `STATE:NUMBER`, the value the other fields.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use anyhow::{Context, bail};
use sltd_model::{Date, DocumentKey, DocumentType, IssuingState, Record, Reference, Status};

/// Reads every row of an export; any bad row is an error (the generator
/// writes none).
pub fn read_csv(path: &Path) -> anyhow::Result<Vec<Record>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = sltd_export::ExportReader::new(BufReader::with_capacity(1 << 20, file))
        .with_context(|| path.display().to_string())?;
    let mut out = Vec::new();
    for row in reader {
        out.push(row.with_context(|| path.display().to_string())?);
    }
    Ok(out)
}

/// The ground truth: one record per key, the one the index keeps.
pub fn dedup(records: &[Record]) -> HashMap<DocumentKey, Record> {
    let mut truth: HashMap<DocumentKey, Record> = HashMap::with_capacity(records.len());
    for r in records {
        truth
            .entry(r.key)
            .and_modify(|kept| {
                if r.precedence(kept).is_gt() {
                    *kept = *r;
                }
            })
            .or_insert(*r);
    }
    truth
}

/// `STATE:NUMBER`, the key every key-value peer stores.
pub fn key_bytes(key: &DocumentKey, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(key.state.as_bytes());
    out.push(b':');
    out.extend_from_slice(key.number.as_bytes());
}

/// The inverse of [`key_bytes`].
pub fn parse_key(raw: &[u8]) -> anyhow::Result<DocumentKey> {
    let text = std::str::from_utf8(raw)?;
    let Some((state, number)) = text.split_once(':') else {
        bail!("key without ':'");
    };
    Ok(DocumentKey::normalise(state, number)?)
}

/// The fields besides the key, in 6 bytes plus the reference (and the
/// reporting state when there is one): type (2), status (1), date (2, LE),
/// reporting state length (1) and letters, reference.
pub fn encode_value(r: &Record, out: &mut Vec<u8>) {
    out.clear();
    let t = r.doc_type.as_bytes();
    out.push(t[0]);
    out.push(t.get(1).copied().unwrap_or(0));
    out.push(r.status.code());
    out.extend_from_slice(&r.reported_on.days().to_le_bytes());
    match &r.reporting_state {
        Some(s) => {
            out.push(s.as_bytes().len() as u8);
            out.extend_from_slice(s.as_bytes());
        }
        None => out.push(0),
    }
    out.extend_from_slice(r.reference.as_bytes());
}

/// The inverse of [`encode_value`]; `None` for bytes it did not write.
#[inline]
pub fn decode_value(key: DocumentKey, v: &[u8]) -> Option<Record> {
    if v.len() < 6 {
        return None;
    }
    let tlen = if v[1] == 0 { 1 } else { 2 };
    let doc_type = DocumentType::from_letters(&v[..tlen])?;
    let status = Status::from_code(v[2])?;
    let reported_on = Date::from_days(u16::from_le_bytes([v[3], v[4]]));
    let rs_len = v[5] as usize;
    let rest = v.get(6..)?;
    let (reporting_state, reference) = if rs_len == 0 {
        (None, rest)
    } else {
        (
            Some(IssuingState::from_letters(rest.get(..rs_len)?)?),
            rest.get(rs_len..)?,
        )
    };
    Some(Record {
        key,
        doc_type,
        status,
        reported_on,
        reporting_state,
        reference: Reference::from_bytes(reference).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_round_trip() {
        for r in sltd_export::generate::Generator::new(3)
            .with_reporting_states()
            .take(10_000)
        {
            let mut k = Vec::new();
            key_bytes(&r.key, &mut k);
            assert_eq!(parse_key(&k).unwrap(), r.key);
            let mut v = Vec::new();
            encode_value(&r, &mut v);
            assert_eq!(decode_value(r.key, &v), Some(r));
        }
    }
}
