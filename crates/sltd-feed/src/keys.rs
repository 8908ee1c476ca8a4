//! Ed25519 signing keys, their files and key ids, and the signed envelope
//! that wraps every metadata file of the feed.
//!
//! An envelope carries the exact payload bytes (base64) and signs a
//! pre-authentication encoding of its type and bytes, as DSSE does, so a
//! signature over one kind of file can never be passed off as another, and
//! no JSON canonicalisation is needed: what was signed is what is parsed.

use std::collections::BTreeSet;
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::FeedError;
use crate::encoding::{b64, hex, sha256, unb64};

/// Most signatures an envelope may carry; more is refused unread.
pub const MAX_SIGNATURES: usize = 64;

/// A key id: lowercase hex SHA-256 of the 32-byte Ed25519 public key.
pub fn key_id(public: &VerifyingKey) -> String {
    hex(&sha256(public.as_bytes()))
}

/// A public key with its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    pub keyid: String,
    pub key: VerifyingKey,
}

impl PublicKey {
    pub fn new(key: VerifyingKey) -> Self {
        Self {
            keyid: key_id(&key),
            key,
        }
    }

    /// Parses a public key file (`KEYFILE.pub`).
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Self, FeedError> {
        let f: PublicKeyFile = serde_json::from_slice(bytes).map_err(|e| FeedError::Key {
            reason: format!("public key file: {e}"),
        })?;
        if f.kind != PUBLIC_KIND {
            return Err(FeedError::Key {
                reason: format!("not a public key file ({})", f.kind),
            });
        }
        let key = decode_public(&f.public_key)?;
        let pk = Self::new(key);
        if pk.keyid != f.keyid {
            return Err(FeedError::Key {
                reason: "key id does not match the public key".into(),
            });
        }
        Ok(pk)
    }

    /// The contents of a public key file.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        let f = PublicKeyFile {
            kind: PUBLIC_KIND.into(),
            keyid: self.keyid.clone(),
            public_key: b64(self.key.as_bytes()),
        };
        let mut v = serde_json::to_vec_pretty(&f).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// Reads a public key file.
    pub fn read(path: &Path) -> Result<Self, FeedError> {
        let bytes = std::fs::read(path).map_err(FeedError::io(path))?;
        Self::from_file_bytes(&bytes)
    }
}

pub(crate) fn decode_public(text: &str) -> Result<VerifyingKey, FeedError> {
    let raw = unb64(text).ok_or_else(|| FeedError::Key {
        reason: "public key is not base64".into(),
    })?;
    let arr: [u8; 32] = raw.try_into().map_err(|_| FeedError::Key {
        reason: "public key is not 32 bytes".into(),
    })?;
    VerifyingKey::from_bytes(&arr).map_err(|_| FeedError::Key {
        reason: "not a valid Ed25519 public key".into(),
    })
}

const SECRET_KIND: &str = "sltd-feed-ed25519-secret-v1";
const PUBLIC_KIND: &str = "sltd-feed-ed25519-public-v1";

#[derive(Serialize, Deserialize)]
struct SecretKeyFile {
    #[serde(rename = "type")]
    kind: String,
    keyid: String,
    secret_key: String,
}

#[derive(Serialize, Deserialize)]
struct PublicKeyFile {
    #[serde(rename = "type")]
    kind: String,
    keyid: String,
    public_key: String,
}

/// A signing key held by the publisher.
#[derive(Clone)]
pub struct SecretKey {
    key: SigningKey,
    public: PublicKey,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.public.keyid)
    }
}

impl SecretKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Result<Self, FeedError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| FeedError::Key {
            reason: format!("no randomness: {e}"),
        })?;
        Ok(Self::from_seed(&seed))
    }

    /// The key for a 32-byte seed (tests use fixed seeds).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let public = PublicKey::new(key.verifying_key());
        Self { key, public }
    }

    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    pub fn keyid(&self) -> &str {
        &self.public.keyid
    }

    /// Signs raw bytes.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }

    /// The contents of a secret key file.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        let f = SecretKeyFile {
            kind: SECRET_KIND.into(),
            keyid: self.public.keyid.clone(),
            secret_key: b64(self.key.as_bytes()),
        };
        let mut v = serde_json::to_vec_pretty(&f).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// Parses a secret key file.
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Self, FeedError> {
        let f: SecretKeyFile = serde_json::from_slice(bytes).map_err(|e| FeedError::Key {
            reason: format!("secret key file: {e}"),
        })?;
        if f.kind != SECRET_KIND {
            return Err(FeedError::Key {
                reason: format!("not a secret key file ({})", f.kind),
            });
        }
        let raw = unb64(&f.secret_key).ok_or_else(|| FeedError::Key {
            reason: "secret key is not base64".into(),
        })?;
        let seed: [u8; 32] = raw.try_into().map_err(|_| FeedError::Key {
            reason: "secret key is not 32 bytes".into(),
        })?;
        let k = Self::from_seed(&seed);
        if k.public.keyid != f.keyid {
            return Err(FeedError::Key {
                reason: "key id does not match the secret key".into(),
            });
        }
        Ok(k)
    }

    /// Reads a secret key file.
    pub fn read(path: &Path) -> Result<Self, FeedError> {
        let bytes = std::fs::read(path).map_err(FeedError::io(path))?;
        Self::from_file_bytes(&bytes)
    }
}

/// Keys trusted for one role, and how many of them must sign.
#[derive(Clone, Debug)]
pub struct KeySet {
    pub keys: Vec<PublicKey>,
    pub threshold: usize,
}

impl KeySet {
    fn find(&self, keyid: &str) -> Option<&PublicKey> {
        self.keys.iter().find(|k| k.keyid == keyid)
    }
}

#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignatureJson {
    pub(crate) keyid: String,
    pub(crate) sig: String,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnvelopeJson {
    pub(crate) payload_type: String,
    pub(crate) payload: String,
    pub(crate) signatures: Vec<SignatureJson>,
}

/// The bytes a signature covers:
/// `"sltd-feed/v1" SP len(type) SP type SP len(payload) SP payload`, lengths
/// in ASCII decimal.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(payload.len() + payload_type.len() + 40);
    m.extend_from_slice(b"sltd-feed/v1 ");
    m.extend_from_slice(payload_type.len().to_string().as_bytes());
    m.push(b' ');
    m.extend_from_slice(payload_type.as_bytes());
    m.push(b' ');
    m.extend_from_slice(payload.len().to_string().as_bytes());
    m.push(b' ');
    m.extend_from_slice(payload);
    m
}

/// Wraps `payload` in an envelope signed by every key in `signers`.
pub fn seal(payload_type: &str, payload: &[u8], signers: &[&SecretKey]) -> Vec<u8> {
    let msg = pae(payload_type, payload);
    let env = EnvelopeJson {
        payload_type: payload_type.into(),
        payload: b64(payload),
        signatures: signers
            .iter()
            .map(|k| SignatureJson {
                keyid: k.keyid().into(),
                sig: b64(&k.sign(&msg)),
            })
            .collect(),
    };
    let mut v = serde_json::to_vec_pretty(&env).unwrap_or_default();
    v.push(b'\n');
    v
}

/// An envelope whose structure has been read but whose signatures have not
/// yet been checked.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub payload_type: String,
    pub payload: Vec<u8>,
    signatures: Vec<(String, Vec<u8>)>,
}

impl Envelope {
    /// Parses an envelope of the expected type.
    pub fn parse(bytes: &[u8], what: &'static str, payload_type: &str) -> Result<Self, FeedError> {
        let env: EnvelopeJson =
            serde_json::from_slice(bytes).map_err(|e| FeedError::malformed(what, e))?;
        if env.payload_type != payload_type {
            return Err(FeedError::malformed(
                what,
                format!(
                    "payload type {:?}, expected {payload_type:?}",
                    env.payload_type
                ),
            ));
        }
        if env.signatures.len() > MAX_SIGNATURES {
            return Err(FeedError::malformed(what, "too many signatures"));
        }
        let payload = unb64(&env.payload)
            .ok_or_else(|| FeedError::malformed(what, "payload is not base64"))?;
        let mut signatures = Vec::with_capacity(env.signatures.len());
        for s in env.signatures {
            let sig = unb64(&s.sig)
                .ok_or_else(|| FeedError::malformed(what, "signature is not base64"))?;
            signatures.push((s.keyid, sig));
        }
        Ok(Self {
            payload_type: env.payload_type,
            payload,
            signatures,
        })
    }

    /// Checks that at least `keys.threshold` distinct listed keys signed the
    /// payload with a valid signature (`verify_strict`). A key id counts once.
    /// When the threshold is not met the error names the most telling reason:
    /// a bad signature by a listed key, a key counted twice, signatures only
    /// by unknown keys, or simply too few.
    pub fn verify(&self, keys: &KeySet, role: &'static str) -> Result<(), FeedError> {
        let msg = pae(&self.payload_type, &self.payload);
        let mut counted: BTreeSet<&str> = BTreeSet::new();
        let mut bad: Option<String> = None;
        let mut unknown: Option<String> = None;
        let mut duplicate: Option<String> = None;
        for (keyid, sig) in &self.signatures {
            let Some(pk) = keys.find(keyid) else {
                unknown.get_or_insert_with(|| keyid.clone());
                continue;
            };
            let ok = <[u8; 64]>::try_from(sig.as_slice())
                .ok()
                .map(|b| Signature::from_bytes(&b))
                .is_some_and(|s| pk.key.verify_strict(&msg, &s).is_ok());
            if !ok {
                bad.get_or_insert_with(|| keyid.clone());
                continue;
            }
            if !counted.insert(pk.keyid.as_str()) {
                duplicate.get_or_insert_with(|| keyid.clone());
            }
        }
        if bad.is_none() && counted.len() >= keys.threshold.max(1) {
            return Ok(());
        }
        // A bad signature by a listed key is refused even when enough others
        // are valid: nobody but an attacker produces one.
        if let Some(keyid) = bad {
            return Err(FeedError::BadSignature { role, keyid });
        }
        if let Some(keyid) = duplicate {
            return Err(FeedError::DuplicateKey { role, keyid });
        }
        if counted.is_empty()
            && let Some(keyid) = unknown
        {
            return Err(FeedError::UnknownKey { role, keyid });
        }
        Err(FeedError::BelowThreshold {
            role,
            valid: counted.len(),
            threshold: keys.threshold,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip() {
        let k = SecretKey::from_seed(&[7; 32]);
        let back = SecretKey::from_file_bytes(&k.to_file_bytes()).unwrap();
        assert_eq!(back.keyid(), k.keyid());
        let p = PublicKey::from_file_bytes(&k.public().to_file_bytes()).unwrap();
        assert_eq!(&p, k.public());
        assert!(PublicKey::from_file_bytes(&k.to_file_bytes()).is_err());
    }

    #[test]
    fn threshold_rules() {
        let a = SecretKey::from_seed(&[1; 32]);
        let b = SecretKey::from_seed(&[2; 32]);
        let c = SecretKey::from_seed(&[3; 32]);
        let set = KeySet {
            keys: vec![a.public().clone(), b.public().clone()],
            threshold: 2,
        };
        let check = |signers: &[&SecretKey]| {
            let env = seal("t", b"hello", signers);
            Envelope::parse(&env, "test", "t")
                .unwrap()
                .verify(&set, "test")
        };
        assert!(check(&[&a, &b]).is_ok());
        assert!(check(&[&b, &a, &c]).is_ok());
        assert!(matches!(
            check(&[&a]),
            Err(FeedError::BelowThreshold { valid: 1, .. })
        ));
        assert!(matches!(
            check(&[&a, &a]),
            Err(FeedError::DuplicateKey { .. })
        ));
        assert!(matches!(check(&[&c]), Err(FeedError::UnknownKey { .. })));
        assert!(matches!(
            check(&[]),
            Err(FeedError::BelowThreshold { valid: 0, .. })
        ));
        // Tampered payload.
        let env = seal("t", b"hello", &[&a, &b]);
        let text = String::from_utf8(env)
            .unwrap()
            .replace(&b64(b"hello"), &b64(b"hellp"));
        let e = Envelope::parse(text.as_bytes(), "test", "t").unwrap();
        assert!(matches!(
            e.verify(&set, "test"),
            Err(FeedError::BadSignature { .. })
        ));
        // Other payload type.
        let env = seal("u", b"hello", &[&a, &b]);
        assert!(Envelope::parse(&env, "test", "t").is_err());
    }
}
