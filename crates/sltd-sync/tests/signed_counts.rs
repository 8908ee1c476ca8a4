//! Every record count the feed signs is checked against the count the post
//! computes for the same state, end to end: a correctly signed file whose
//! count is wrong is refused and the installed data stays as it was.

mod common;

use std::path::Path;

use common::*;
use sltd_feed::delta::{self, DeltaHeader, Op};
use sltd_feed::metadata::{Checkpoint, FileRef, Limits, Root};
use sltd_feed::state::StateHash;
use sltd_feed::{FeedError, hex, layout, now_unix, sha256};
use sltd_model::{DocumentKey, Record};
use sltd_sync::SyncError;

fn checkpoint_of(feed: &Path) -> Checkpoint {
    let root = Root::from_trusted_bytes(&std::fs::read(feed.join("1.root.json")).unwrap()).unwrap();
    Checkpoint::verify_signed(
        &root,
        &std::fs::read(feed.join(layout::CHECKPOINT)).unwrap(),
    )
    .unwrap()
}

fn refused_count(feed: &Path, data: &Path, field: &str) {
    let before = current(data);
    let served_before = served(data);
    let err = sync_dir(feed, &feed.join("1.root.json"), data).expect_err("must be refused");
    match &err {
        SyncError::Feed(FeedError::RecordCountMismatch { field: f, .. }) => {
            assert_eq!(*f, field, "{err}")
        }
        other => panic!("expected a record count mismatch, got {other:?}"),
    }
    assert_eq!(current(data), before);
    assert_eq!(served(data), served_before);
}

#[test]
fn a_refreshed_checkpoint_with_another_count_at_the_installed_root_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let feed = tmp.path().join("feed");
    let k = key(1);
    let mut p = init(&feed, "counts", &[&k], 1, Limits::default());
    publish(&mut p, records(300, 1), &[&k]);
    let data = tmp.path().join("data");
    sync_dir(&feed, &feed.join("1.root.json"), &data).unwrap();

    // Same sequence, same state root, a newer issue time (so the post would
    // install a metadata-only generation) and one record more.
    let mut cp = checkpoint_of(&feed);
    cp.issued_at += 10;
    cp.record_count += 1;
    std::fs::write(feed.join(layout::CHECKPOINT), cp.seal(&[&k])).unwrap();
    refused_count(&feed, &data, "checkpoint record_count");

    // The honest refresh is taken.
    cp.record_count -= 1;
    std::fs::write(feed.join(layout::CHECKPOINT), cp.seal(&[&k])).unwrap();
    let r = sync_dir(&feed, &feed.join("1.root.json"), &data).unwrap();
    assert!(r.installed.is_some());
}

#[test]
fn a_delta_with_a_wrong_prev_record_count_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let feed = tmp.path().join("feed");
    let k = key(1);
    let mut p = init(&feed, "counts", &[&k], 1, Limits::default());
    let recs = records(300, 2);
    publish(&mut p, recs.clone(), &[&k]);
    let data = tmp.path().join("data");
    sync_dir(&feed, &feed.join("1.root.json"), &data).unwrap();

    // Delta 2 deletes one record; its header is right except for the count
    // of the state it starts from.
    let state = model(&recs);
    let cp1 = checkpoint_of(&feed);
    let gone: DocumentKey = *state.keys().nth(7).unwrap();
    let after: Vec<Record> = state.values().filter(|r| r.key != gone).copied().collect();
    let header = DeltaHeader {
        root_version: 1,
        feed: "counts".into(),
        sequence: 2,
        prev_state_root: cp1.state_root,
        state_root: StateHash::of(&after).root(),
        prev_record_count: cp1.record_count + 1,
        record_count: after.len() as u64,
        issued_at: now_unix(),
        upserts: 0,
        deletes: 1,
    };
    let bytes = delta::encode(&header, &[Op::Delete(gone)], &[&k]).unwrap();
    std::fs::write(feed.join(layout::delta_path(2)), &bytes).unwrap();
    let cp = Checkpoint {
        sequence: 2,
        state_root: header.state_root,
        record_count: header.record_count,
        issued_at: cp1.issued_at + 10,
        delta: Some(FileRef {
            sequence: 2,
            length: bytes.len() as u64,
            sha256: hex(&sha256(&bytes)),
        }),
        ..cp1
    };
    std::fs::write(feed.join(layout::CHECKPOINT), cp.seal(&[&k])).unwrap();
    refused_count(&feed, &data, "delta prev_record_count");
}
