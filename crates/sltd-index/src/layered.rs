//! A base index with delta segments on top: what a data generation serves.
//! For each key, the newest layer that has the key decides: a record there
//! replaces the base's, a deletion hides it.
//!
//! That rule is written here once: the lookups below, [`merge_layers`]
//! (merging segments into one) and [`LayeredIndex::for_each_record`]
//! (everything the view serves: compaction, recomputing a state hash) all
//! follow it.

use std::collections::{BTreeMap, BTreeSet};

use sltd_model::{DocumentKey, IssuingState, Query, Record};

use crate::{ConfusableFilter, Entry, Index, IndexError, IndexKind};

/// For every key any of `layers` (oldest first) holds, the entry of the
/// newest layer holding it: a record, or a deletion that hides the older
/// layers' record. What a single segment replacing them all must hold.
pub fn merge_layers<B: AsRef<[u8]>>(
    layers: &[Index<B>],
) -> Result<BTreeMap<DocumentKey, Entry>, IndexError> {
    let mut merged = BTreeMap::new();
    for layer in layers {
        for e in layer.entries() {
            let e = e?;
            merged.insert(*e.key(), e);
        }
    }
    Ok(merged)
}

/// A base index plus segments, oldest segment first.
#[derive(Debug)]
pub struct LayeredIndex<B> {
    base: Index<B>,
    segments: Vec<Index<B>>,
}

impl<B: AsRef<[u8]>> LayeredIndex<B> {
    /// Stacks `segments` (oldest first) on `base`. The base must be a base
    /// file and each segment a segment file.
    pub fn new(base: Index<B>, segments: Vec<Index<B>>) -> Result<Self, IndexError> {
        if base.header().kind != IndexKind::Base {
            return Err(IndexError::BadHeader {
                what: "a segment file was given where a base was expected",
            });
        }
        if segments
            .iter()
            .any(|s| s.header().kind != IndexKind::Segment)
        {
            return Err(IndexError::BadHeader {
                what: "a base file was given where a segment was expected",
            });
        }
        Ok(Self { base, segments })
    }

    /// The base index.
    pub fn base(&self) -> &Index<B> {
        &self.base
    }

    /// The segments, oldest first.
    pub fn segments(&self) -> &[Index<B>] {
        &self.segments
    }

    /// Appends every record that answers `query` in the layered view.
    pub fn lookup(&self, query: &Query, out: &mut Vec<Record>) -> Result<(), IndexError> {
        if self.segments.is_empty() {
            return self.base.lookup(query, out);
        }
        // Keys decided by a newer layer; tiny (one number, a few states).
        let mut decided: Vec<DocumentKey> = Vec::new();
        let mut entries = Vec::new();
        for seg in self.segments.iter().rev() {
            entries.clear();
            // Deletions match regardless of type; the type filter applies to
            // records only, so look up without it and filter below.
            let keyq = Query {
                doc_type: None,
                ..*query
            };
            seg.lookup_entries(&keyq, &mut entries)?;
            for e in &entries {
                if decided.contains(e.key()) {
                    continue;
                }
                decided.push(*e.key());
                if let Entry::Record(r) = e
                    && query.matches(r)
                {
                    out.push(*r);
                }
            }
        }
        let mut base = Vec::new();
        self.base.lookup(query, &mut base)?;
        out.extend(base.into_iter().filter(|r| !decided.contains(&r.key)));
        Ok(())
    }

    /// Runs many lookups, calling `on_match(i, record)` for each record that
    /// answers `queries[i]` in the layered view. The base is searched with
    /// [`Index::lookup_batch`] (prefetching across the batch); segments,
    /// small and hot in cache, are consulted per query first. Matches of one
    /// query are reported together with the base's, but not necessarily in
    /// query order across queries.
    pub fn lookup_batch(
        &self,
        queries: &[Query],
        mut on_match: impl FnMut(usize, Record),
    ) -> Result<(), IndexError> {
        if self.segments.is_empty() {
            return self.base.lookup_batch(queries, on_match);
        }
        // For each query, the keys a segment decided (start, end) in `decided`.
        let mut decided: Vec<DocumentKey> = Vec::new();
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(queries.len());
        let mut entries = Vec::new();
        for (i, query) in queries.iter().enumerate() {
            let start = decided.len();
            let keyq = Query {
                doc_type: None,
                ..*query
            };
            for seg in self.segments.iter().rev() {
                entries.clear();
                seg.lookup_entries(&keyq, &mut entries)?;
                for e in &entries {
                    if decided[start..].contains(e.key()) {
                        continue;
                    }
                    decided.push(*e.key());
                    if let Entry::Record(r) = e
                        && query.matches(r)
                    {
                        on_match(i, *r);
                    }
                }
            }
            spans.push((start, decided.len()));
        }
        self.base.lookup_batch(queries, |i, r| {
            let (start, end) = spans[i];
            if !decided[start..end].contains(&r.key) {
                on_match(i, r);
            }
        })
    }

    /// Calls `f` with every record the layered view serves, each key once:
    /// the base's records that no segment decides (in table order), then
    /// the segments' records (in key order). Holds the segments' entries in
    /// memory, never the base's.
    pub fn for_each_record(&self, mut f: impl FnMut(Record)) -> Result<(), IndexError> {
        let overlay = merge_layers(&self.segments)?;
        for e in self.base.entries() {
            if let Entry::Record(r) = e?
                && !overlay.contains_key(&r.key)
            {
                f(r);
            }
        }
        for e in overlay.into_values() {
            if let Entry::Record(r) = e {
                f(r);
            }
        }
        Ok(())
    }

    /// Every issuing state a record of any layer carries. A state whose last
    /// record a segment deleted is still included: the set answers "is this
    /// a code the data uses", for which an extra code is harmless.
    pub fn issuing_states(&self) -> Result<BTreeSet<IssuingState>, IndexError> {
        let mut states = self.base.issuing_states()?;
        for seg in &self.segments {
            states.extend(seg.issuing_states()?);
        }
        Ok(states)
    }

    /// The filter of every layer's record numbers (a record a segment
    /// replaced or deleted stays in: extra numbers only cost a needless
    /// probe, a missing one would hide a possible match).
    pub fn confusable_filter(&self) -> Result<ConfusableFilter, IndexError> {
        let records = self
            .segments
            .iter()
            .fold(self.base.header().record_count, |n, s| {
                n.saturating_add(s.header().record_count)
            });
        let mut filter =
            ConfusableFilter::with_capacity(records).map_err(|e| IndexError::Build {
                reason: format!("cannot allocate the confusable filter: {e}"),
            })?;
        self.base.fill_confusable_filter(&mut filter)?;
        for seg in &self.segments {
            seg.fill_confusable_filter(&mut filter)?;
        }
        Ok(filter)
    }

    /// The record for exactly `key` in the layered view.
    pub fn get(&self, key: &DocumentKey) -> Result<Option<Record>, IndexError> {
        for seg in self.segments.iter().rev() {
            match seg.get(key)? {
                Some(Entry::Record(r)) => return Ok(Some(r)),
                Some(Entry::Deleted(_)) => return Ok(None),
                None => {}
            }
        }
        Ok(match self.base.get(key)? {
            Some(Entry::Record(r)) => Some(r),
            _ => None,
        })
    }
}
