//! Signing key files on the publisher's machine. The key format and
//! signatures are `sltd_feed::keys`; this only writes a new secret key file
//! so that nobody but its owner can read it.

use std::fs;
use std::io::Write;
use std::path::Path;

use sltd_feed::keys::SecretKey;

use crate::PublishError;

/// Writes `key` as a secret key file at `path` with mode 0600, failing if
/// the file exists (a key is never overwritten).
pub fn write_secret_key(path: &Path, key: &SecretKey) -> Result<(), PublishError> {
    let mut o = fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path).map_err(PublishError::io(path))?;
    f.write_all(&key.to_file_bytes())
        .map_err(PublishError::io(path))?;
    f.sync_all().map_err(PublishError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_key_files_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed.key");
        let k = SecretKey::from_seed(&[4; 32]);
        write_secret_key(&path, &k).unwrap();
        let back = SecretKey::read(&path).unwrap();
        assert_eq!(back.keyid(), k.keyid());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            write_secret_key(&path, &SecretKey::from_seed(&[5; 32])),
            Err(PublishError::Io { .. })
        ));
        assert_eq!(SecretKey::read(&path).unwrap().keyid(), k.keyid());
    }
}
