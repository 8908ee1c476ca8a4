//! What the matching rules need to know about a data set beyond its lookups:
//! the issuing states its records carry, and the confusable filter that
//! spares most misses the probes for possible matches.
//!
//! Both are stored in each index file (its states and filter sections,
//! written by the builder and checked by the full verification), so loading
//! them reads the sections, never the records. They are kept per index file
//! and shared by content: a data directory's successive generations keep
//! their base file, and a switch to a new generation then loads only its new
//! segment's. An entry lives as long as a data set uses it.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use sltd_index::{ConfusableFilter, Index, LayeredIndex, SharedMmap};
use sltd_model::{DocumentNumber, IssuingState};

/// The summary of one index file.
#[derive(Debug)]
struct LayerSummary {
    issuing_states: BTreeSet<IssuingState>,
    /// `None` only if it could not be built: then every miss probes.
    confusable: Option<ConfusableFilter>,
}

/// The summaries of every layer of a data set.
#[derive(Debug)]
pub(crate) struct DatasetSummary {
    layers: Vec<Arc<LayerSummary>>,
}

impl DatasetSummary {
    /// Summarises every layer of `index`, reusing the summary of a file
    /// another data set already has (same content identity).
    pub(crate) fn of(index: &LayeredIndex<SharedMmap>) -> Self {
        let layers = std::iter::once(index.base())
            .chain(index.segments())
            .map(shared_summary)
            .collect();
        Self { layers }
    }

    /// Whether a record of the data set carries `state`. A state whose last
    /// record a newer layer deleted still counts: the question is whether
    /// the data uses the code.
    pub(crate) fn has_issuing_state(&self, state: &IssuingState) -> bool {
        self.layers.iter().any(|l| l.issuing_states.contains(state))
    }

    /// Whether a query for `number` may have possible matches; false means
    /// certainly none.
    pub(crate) fn may_have_possible_matches(&self, number: &DocumentNumber) -> bool {
        self.layers
            .iter()
            .any(|l| l.confusable.as_ref().is_none_or(|f| f.may_contain(number)))
    }
}

/// Summaries by content identity, for as long as a data set holds them.
fn cache() -> &'static Mutex<HashMap<[u8; 16], Weak<LayerSummary>>> {
    static CACHE: OnceLock<Mutex<HashMap<[u8; 16], Weak<LayerSummary>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn shared_summary(index: &Index<SharedMmap>) -> Arc<LayerSummary> {
    // The content identity covers every byte of the table and records, and
    // the file was verified against it before it got here.
    let id = index.header().content_id;
    if let Some(found) = lock().get(&id).and_then(Weak::upgrade) {
        return found;
    }
    // Loaded outside the lock: the filter is a copy of a section.
    let summary = Arc::new(summarise(index));
    let mut cache = lock();
    cache.retain(|_, w| w.strong_count() > 0);
    cache.insert(id, Arc::downgrade(&summary));
    summary
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<[u8; 16], Weak<LayerSummary>>> {
    cache().lock().unwrap_or_else(|p| p.into_inner())
}

fn summarise(index: &Index<SharedMmap>) -> LayerSummary {
    // Neither can fail on a verified file; if one did, codes outside ICAO
    // 9303 would be refused and misses would probe: errors or extra work,
    // never a silent miss.
    let issuing_states = index.issuing_states().unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot read the issuing states of an index");
        BTreeSet::new()
    });
    let confusable = index
        .confusable_filter()
        .map_err(|e| tracing::error!(error = %e, "cannot load the confusable filter"))
        .ok();
    LayerSummary {
        issuing_states,
        confusable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sltd_index::{BuildOptions, IndexBuilder, MapOptions, open_file};
    use sltd_model::{Date, DocumentKey, DocumentType, Record, Reference, Status};

    fn layered(dir: &std::path::Path, name: &str, states: &[&str]) -> LayeredIndex<SharedMmap> {
        let mut b = IndexBuilder::new(BuildOptions::default());
        for (i, s) in states.iter().enumerate() {
            b.push(Record {
                key: DocumentKey::normalise(s, &format!("C0{i}X")).unwrap(),
                doc_type: DocumentType::normalise("P").unwrap(),
                status: Status::Lost,
                reported_on: Date::MIN,
                reporting_state: None,
                reference: Reference::EMPTY,
            });
        }
        let path = dir.join(name);
        b.finish().unwrap().write_to(&path).unwrap();
        let base = open_file(&path, MapOptions::default()).unwrap();
        LayeredIndex::new(base.into_shared(), Vec::new()).unwrap()
    }

    #[test]
    fn summaries_are_shared_by_content_while_used() {
        let dir = tempfile::tempdir().unwrap();
        let a = layered(dir.path(), "a", &["D", "YUG"]);
        let a_again = layered(dir.path(), "a-copy", &["D", "YUG"]);
        let b = layered(dir.path(), "b", &["FRA"]);
        let (sa, sa2, sb) = (
            DatasetSummary::of(&a),
            DatasetSummary::of(&a_again),
            DatasetSummary::of(&b),
        );
        assert!(Arc::ptr_eq(&sa.layers[0], &sa2.layers[0]));
        assert!(!Arc::ptr_eq(&sa.layers[0], &sb.layers[0]));
        let yug = IssuingState::normalise("YUG").unwrap();
        assert!(sa.has_issuing_state(&yug) && !sb.has_issuing_state(&yug));
        let typo = DocumentNumber::normalise("CO0X").unwrap();
        assert!(sa.may_have_possible_matches(&typo));
        let id = a.base().header().content_id;
        drop((sa, sa2));
        assert!(lock().get(&id).is_none_or(|w| w.upgrade().is_none()));
    }
}
