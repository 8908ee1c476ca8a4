//! The state root: a hash that commits to the whole record set at a
//! sequence, and that can be brought up to date after a delta in time
//! proportional to the delta.
//!
//! Every record has a leaf hash, `SHA-256("sltd-feed/v1 leaf\0" || record)`
//! over its canonical encoding. The first two bytes of the leaf hash pick one
//! of 65,536 buckets; a bucket holds the sum modulo 2^256 of the leaf hashes
//! in it (little-endian integers), so adding or removing a record changes one
//! bucket in constant time whatever the order of changes. The root is
//! `SHA-256("sltd-feed/v1 state\0" || count u64le || bucket 0 .. bucket 65535)`:
//! a fixed 2 MiB hash, a few milliseconds, after any delta.
//!
//! Authenticity does not rest on this sum: every delta and checkpoint that
//! names a root is signed. The root tells a client that its local copy is
//! exactly the publisher's, so a client that drifted (a bug, a disk error, an
//! operator's hand) finds out at the first delta.

use sha2::{Digest, Sha256};
use sltd_model::Record;

use crate::FeedError;
use crate::encoding::{Hash32, encode_record};

/// Number of buckets of the state hash.
pub const STATE_BUCKETS: usize = 65_536;

const LEAF_DOMAIN: &[u8] = b"sltd-feed/v1 leaf\0";
const ROOT_DOMAIN: &[u8] = b"sltd-feed/v1 state\0";
/// Magic of a serialised bucket array (`buckets.bin`).
const BUCKETS_MAGIC: &[u8; 8] = b"SLTDBKT1";

/// The leaf hash of a record.
pub fn leaf_hash(record: &Record) -> Hash32 {
    let mut buf = Vec::with_capacity(96);
    encode_record(record, &mut buf);
    let mut h = Sha256::new();
    h.update(LEAF_DOMAIN);
    h.update(&buf);
    h.finalize().into()
}

fn add256(acc: &mut [u8; 32], x: &[u8; 32]) {
    let mut carry = 0u16;
    for i in 0..32 {
        let s = u16::from(acc[i]) + u16::from(x[i]) + carry;
        acc[i] = s as u8;
        carry = s >> 8;
    }
}

fn sub256(acc: &mut [u8; 32], x: &[u8; 32]) {
    let mut borrow = 0i16;
    for i in 0..32 {
        let d = i16::from(acc[i]) - i16::from(x[i]) - borrow;
        if d < 0 {
            acc[i] = (d + 256) as u8;
            borrow = 1;
        } else {
            acc[i] = d as u8;
            borrow = 0;
        }
    }
}

/// The bucketed set hash of a record set.
#[derive(Clone)]
pub struct StateHash {
    count: u64,
    buckets: Vec<[u8; 32]>,
}

impl std::fmt::Debug for StateHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StateHash(count={})", self.count)
    }
}

impl Default for StateHash {
    fn default() -> Self {
        Self::empty()
    }
}

impl StateHash {
    /// The state of the empty set.
    pub fn empty() -> Self {
        Self {
            count: 0,
            buckets: vec![[0u8; 32]; STATE_BUCKETS],
        }
    }

    /// The state of `records`, which must have distinct keys.
    pub fn of<'a>(records: impl IntoIterator<Item = &'a Record>) -> Self {
        let mut s = Self::empty();
        for r in records {
            s.insert(r);
        }
        s
    }

    /// Records in the set.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Adds a record (its key must not be in the set).
    pub fn insert(&mut self, record: &Record) {
        self.insert_leaf(&leaf_hash(record));
    }

    /// Removes a record that is in the set.
    pub fn remove(&mut self, record: &Record) {
        self.remove_leaf(&leaf_hash(record));
    }

    /// Adds a precomputed leaf hash.
    pub fn insert_leaf(&mut self, leaf: &Hash32) {
        let b = usize::from(u16::from_be_bytes([leaf[0], leaf[1]]));
        add256(&mut self.buckets[b], leaf);
        self.count += 1;
    }

    /// Removes a precomputed leaf hash.
    pub fn remove_leaf(&mut self, leaf: &Hash32) {
        let b = usize::from(u16::from_be_bytes([leaf[0], leaf[1]]));
        sub256(&mut self.buckets[b], leaf);
        self.count = self.count.wrapping_sub(1);
    }

    /// Adds another partial state (for hashing in parallel).
    pub fn merge(&mut self, other: &StateHash) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            add256(a, b);
        }
        self.count += other.count;
    }

    /// The state root.
    pub fn root(&self) -> Hash32 {
        let mut h = Sha256::new();
        h.update(ROOT_DOMAIN);
        h.update(self.count.to_le_bytes());
        for b in &self.buckets {
            h.update(b);
        }
        h.finalize().into()
    }

    /// Serialises the buckets: `"SLTDBKT1" | count u64le | 65536 x 32 bytes
    /// | root (32 bytes)`; the trailing root lets a reader detect damage.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + STATE_BUCKETS * 32 + 32);
        out.extend_from_slice(BUCKETS_MAGIC);
        out.extend_from_slice(&self.count.to_le_bytes());
        for b in &self.buckets {
            out.extend_from_slice(b);
        }
        out.extend_from_slice(&self.root());
        out
    }

    /// Reads what [`StateHash::to_bytes`] wrote, checking the trailing root.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FeedError> {
        let want = 16 + STATE_BUCKETS * 32 + 32;
        if bytes.len() != want || &bytes[..8] != BUCKETS_MAGIC {
            return Err(FeedError::malformed(
                "state buckets",
                "wrong length or magic",
            ));
        }
        let count = u64::from_le_bytes(bytes[8..16].try_into().unwrap_or_default());
        let buckets = bytes[16..16 + STATE_BUCKETS * 32]
            .chunks_exact(32)
            .map(|c| <[u8; 32]>::try_from(c).unwrap_or_default())
            .collect();
        let s = Self { count, buckets };
        if s.root()[..] != bytes[want - 32..] {
            return Err(FeedError::malformed("state buckets", "root check failed"));
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sltd_model::{DocumentKey, DocumentType, Reference, Status};

    fn rec(n: u32) -> Record {
        Record {
            key: DocumentKey::normalise("UTO", &format!("N{n}")).unwrap(),
            doc_type: DocumentType::normalise("P").unwrap(),
            status: Status::Stolen,
            reported_on: sltd_model::Date::from_days(19_000),
            reporting_state: None,
            reference: Reference::EMPTY,
        }
    }

    #[test]
    fn order_independent_and_removable() {
        let recs: Vec<Record> = (0..1000).map(rec).collect();
        let a = StateHash::of(&recs);
        let b = StateHash::of(recs.iter().rev());
        assert_eq!(a.root(), b.root());
        let mut c = a.clone();
        c.remove(&recs[5]);
        assert_ne!(c.root(), a.root());
        assert_eq!(
            c.root(),
            StateHash::of(recs.iter().filter(|r| r.key != recs[5].key)).root()
        );
        c.insert(&recs[5]);
        assert_eq!(c.root(), a.root());
        assert_ne!(StateHash::empty().root(), a.root());
        let back = StateHash::from_bytes(&a.to_bytes()).unwrap();
        assert_eq!(back.root(), a.root());
        let mut bad = a.to_bytes();
        bad[100] ^= 1;
        assert!(StateHash::from_bytes(&bad).is_err());
    }

    #[test]
    fn carry_and_borrow_wrap() {
        let mut acc = [0xffu8; 32];
        let mut one = [0u8; 32];
        one[0] = 1;
        add256(&mut acc, &one);
        assert_eq!(acc, [0u8; 32]);
        sub256(&mut acc, &one);
        assert_eq!(acc, [0xffu8; 32]);
    }
}
