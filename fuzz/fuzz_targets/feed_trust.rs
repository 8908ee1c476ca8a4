#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sltd_fuzz_support::verify_feed_metadata(data));

mod sltd_fuzz_support {
    use sltd_feed::keys::{KeySet, SecretKey};
    use sltd_feed::metadata::{Checkpoint, Limits, Root, SnapshotManifest};
    use sltd_feed::trust::{self, PostKnowledge};
    use sltd_feed::{delta, sha256};

    fn key(n: u8) -> SecretKey {
        SecretKey::from_seed(&[n; 32])
    }

    fn root(version: u64, online: u8) -> Root {
        let set = |ns: &[u8], threshold| KeySet {
            keys: ns.iter().map(|n| key(*n).public().clone()).collect(),
            threshold,
        };
        Root {
            feed: "fuzz".into(),
            version,
            expires_at: i64::MAX,
            root_keys: set(&[1, 2], 2),
            online_keys: set(&[online], 1),
            max_checkpoint_validity: 86_400,
            limits: Limits::default(),
        }
    }

    /// Byte 0 picks a file kind; the rest is either the file itself or,
    /// with the high bit of byte 0 set, pairs (position, xor) flipped into
    /// a valid signed file of that kind, so the parsers behind the
    /// signature check are reached. Never a panic; a flipped file is
    /// refused unless the flips cancel out.
    pub fn verify_feed_metadata(data: &[u8]) {
        let Some((&mode, rest)) = data.split_first() else {
            return;
        };
        let (r1, r2) = (key(1), key(2));
        let pinned = root(1, 10).seal(&[&r1, &r2]);
        let next = root(2, 11).seal(&[&r1, &r2]);
        let valid: Vec<u8> = match mode & 0x03 {
            0 => pinned.clone(),
            1 => next.clone(),
            _ => Checkpoint {
                feed: "fuzz".into(),
                root_version: 2,
                sequence: 0,
                state_root: sltd_feed::state::StateHash::empty().root(),
                record_count: 0,
                issued_at: 0,
                expires_at: 1,
                delta: None,
                snapshot: None,
            }
            .seal(&[&key(11)]),
        };
        let bytes = if mode & 0x80 != 0 {
            let mut b = valid.clone();
            for pair in rest.chunks_exact(3) {
                let at = usize::from(u16::from_le_bytes([pair[0], pair[1]])) % b.len().max(1);
                b[at] ^= pair[2];
            }
            b
        } else {
            rest.to_vec()
        };
        let changed = sha256(&bytes) != sha256(&valid);
        let chain = trust::build_root_chain(
            if mode & 0x03 == 0 { &bytes } else { &pinned },
            |_| Ok::<_, sltd_feed::FeedError>(None),
            |v| {
                Ok((v == 2).then(|| {
                    if mode & 0x03 == 1 {
                        bytes.clone()
                    } else {
                        next.clone()
                    }
                }))
            },
            |_, _| Ok(()),
        );
        let Ok(chain) = chain else {
            assert!(changed || mode & 0x80 == 0, "a valid chain is accepted");
            return;
        };
        let _ = trust::accept_checkpoint(&chain, &bytes, 0, &PostKnowledge::default());
        let _ = SnapshotManifest::verify(&chain, &bytes);
        let _ = delta::verify(&chain, &bytes, 1, &[0; 32]);
    }
}
