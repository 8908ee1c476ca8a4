//! Applying verified deltas to a local state without touching it: the
//! changes collect in an overlay over the installed data, the state hash is
//! updated per operation, and the signed root is checked after each delta.
//! Only when every delta up to the checkpoint has checked out does the caller
//! write anything.

use std::collections::BTreeMap;

use sltd_index::{Entry, LayeredIndex};
use sltd_model::{DocumentKey, Record};

use crate::FeedError;
use crate::delta::{Op, VerifiedDelta};
use crate::encoding::{Hash32, hex};
use crate::state::StateHash;

/// Where the state before the pending deltas is read from.
pub trait StateLookup {
    /// The record stored for exactly `key`.
    fn get_record(&self, key: &DocumentKey) -> Result<Option<Record>, FeedError>;
}

impl<B: AsRef<[u8]>> StateLookup for LayeredIndex<B> {
    fn get_record(&self, key: &DocumentKey) -> Result<Option<Record>, FeedError> {
        Ok(self.get(key)?)
    }
}

impl StateLookup for BTreeMap<DocumentKey, Record> {
    fn get_record(&self, key: &DocumentKey) -> Result<Option<Record>, FeedError> {
        Ok(self.get(key).copied())
    }
}

/// No installed state yet: the empty state.
impl<L: StateLookup> StateLookup for Option<L> {
    fn get_record(&self, key: &DocumentKey) -> Result<Option<Record>, FeedError> {
        match self {
            Some(l) => l.get_record(key),
            None => Ok(None),
        }
    }
}

/// The empty state (a client with nothing installed).
#[derive(Debug, Clone, Copy, Default)]
pub struct EmptyState;

impl StateLookup for EmptyState {
    fn get_record(&self, _: &DocumentKey) -> Result<Option<Record>, FeedError> {
        Ok(None)
    }
}

/// Deltas applied in memory on top of an installed state.
///
/// After an error the pending state is unusable and must be dropped; the
/// installed state was never touched.
#[derive(Debug)]
pub struct PendingState<'a, L> {
    base: &'a L,
    overlay: BTreeMap<DocumentKey, Option<Record>>,
    hash: StateHash,
    sequence: u64,
    root: Hash32,
    as_of: i64,
}

impl<'a, L: StateLookup> PendingState<'a, L> {
    /// Starts from the installed state `base` at `sequence`, whose bucket
    /// hashes are `hash`.
    pub fn new(base: &'a L, hash: StateHash, sequence: u64) -> Self {
        let root = hash.root();
        Self {
            base,
            overlay: BTreeMap::new(),
            hash,
            sequence,
            root,
            as_of: 0,
        }
    }

    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    pub fn root(&self) -> &Hash32 {
        &self.root
    }

    pub fn hash(&self) -> &StateHash {
        &self.hash
    }

    /// Issue time of the last delta applied.
    pub fn as_of(&self) -> i64 {
        self.as_of
    }

    /// Keys changed so far.
    pub fn changed(&self) -> usize {
        self.overlay.len()
    }

    fn current(&self, key: &DocumentKey) -> Result<Option<Record>, FeedError> {
        match self.overlay.get(key) {
            Some(v) => Ok(*v),
            None => self.base.get_record(key),
        }
    }

    /// Applies a delta already verified for sequence `self.sequence() + 1`
    /// and this state's root: checks the signed count before it, applies
    /// the operations (each must change the state), then checks the signed
    /// new root and count.
    pub fn apply(&mut self, delta: &VerifiedDelta) -> Result<(), FeedError> {
        let h = &delta.header;
        let seq = h.sequence;
        if h.prev_record_count != self.hash.count() {
            return Err(FeedError::RecordCountMismatch {
                sequence: seq,
                field: "delta prev_record_count",
                signed: h.prev_record_count,
                computed: self.hash.count(),
            });
        }
        for op in &delta.ops {
            let old = self.current(op.key())?;
            match (op, &old) {
                (Op::Upsert(r), Some(o)) if o == r => {
                    return Err(FeedError::UpsertUnchanged {
                        sequence: seq,
                        key: r.key.to_string(),
                    });
                }
                (Op::Delete(k), None) => {
                    return Err(FeedError::DeleteOfAbsentKey {
                        sequence: seq,
                        key: k.to_string(),
                    });
                }
                _ => {}
            }
            if let Some(old) = &old {
                self.hash.remove(old);
            }
            match op {
                Op::Upsert(r) => {
                    self.hash.insert(r);
                    self.overlay.insert(r.key, Some(*r));
                }
                Op::Delete(k) => {
                    self.overlay.insert(*k, None);
                }
            }
        }
        let computed = self.hash.root();
        if computed != h.state_root {
            return Err(FeedError::StateRootMismatch {
                sequence: seq,
                expected: hex(&h.state_root),
                computed: hex(&computed),
            });
        }
        // The root commits to the count, so this only fails when the header
        // contradicts its own root.
        if self.hash.count() != h.record_count {
            return Err(FeedError::RecordCountMismatch {
                sequence: seq,
                field: "delta record_count",
                signed: h.record_count,
                computed: self.hash.count(),
            });
        }
        self.sequence = seq;
        self.root = computed;
        self.as_of = h.issued_at;
        Ok(())
    }

    /// The changes as index entries, ascending by key: what a delta segment
    /// holds.
    pub fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        self.overlay.iter().map(|(k, v)| match v {
            Some(r) => Entry::Record(*r),
            None => Entry::Deleted(*k),
        })
    }

    /// Ends the application, giving back the overlay and the state hash.
    pub fn into_parts(self) -> (BTreeMap<DocumentKey, Option<Record>>, StateHash) {
        (self.overlay, self.hash)
    }
}
