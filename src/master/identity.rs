//! The master's Ed25519 identity: `identity.key` (hex of the 32-byte secret seed, mode 0600).
//!
//! Fingerprint = hex sha256 of the raw 32-byte public key (DESIGN.md). The master signs the
//! exact bytes of every desired-state document; followers verify against the pinned key.

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// File name of the secret key inside the master directory.
pub const KEY_FILE: &str = "identity.key";

/// Errors loading, creating or using an identity.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// No key yet.
    #[error("no master identity at {}", .0.display())]
    Missing(PathBuf),
    /// The key file is not 64 hex digits.
    #[error("{} is not a codexport identity key (expected 64 hex digits)", .0.display())]
    Malformed(PathBuf),
    /// The OS random source failed.
    #[error("could not get random bytes from the OS: {0}")]
    Random(String),
    /// I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl crate::exit::ExitStatus for IdentityError {
    fn exit(&self) -> crate::exit::Exit {
        match self {
            IdentityError::Missing(_) | IdentityError::Malformed(_) => crate::exit::Exit::Usage,
            _ => crate::exit::Exit::Error,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            IdentityError::Missing(_) => Some("run `codexport master init` on this machine first".into()),
            _ => None,
        }
    }
}

/// A loaded master identity.
pub struct Identity {
    key: SigningKey,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({})", self.fingerprint())
    }
}

impl Identity {
    /// Load `dir/identity.key`, or create it (mode 0600) when absent. Returns whether it was created.
    pub fn load_or_create(dir: &Path) -> Result<(Self, bool), IdentityError> {
        match Self::load(dir) {
            Ok(id) => Ok((id, false)),
            Err(IdentityError::Missing(_)) => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|e| IdentityError::Random(e.to_string()))?;
                crate::fs::create_private_dir(dir)?;
                let text = format!("{}\n", hex::encode(seed));
                crate::fs::write_atomic(&dir.join(KEY_FILE), text.as_bytes(), crate::fs::SECRET_MODE)?;
                Ok((
                    Identity {
                        key: SigningKey::from_bytes(&seed),
                    },
                    true,
                ))
            }
            Err(e) => Err(e),
        }
    }

    /// Replace the identity with a new key: the current `identity.key` is renamed to
    /// `identity.key.old-<UTC time>` (kept, mode unchanged, never read again by codexport), then
    /// a new key is created. Returns the new identity and where the old key went (`None` when
    /// there was no key).
    pub fn rotate(dir: &Path) -> Result<(Self, Option<PathBuf>), IdentityError> {
        let current = dir.join(KEY_FILE);
        let kept = if current.exists() {
            let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string()
                .replace([':', '-'], "");
            let mut old = dir.join(format!("{KEY_FILE}.old-{stamp}"));
            let mut n = 1;
            while old.exists() {
                n += 1;
                old = dir.join(format!("{KEY_FILE}.old-{stamp}-{n}"));
            }
            fs_err::rename(&current, &old)?;
            crate::fs::sync_dir(dir);
            Some(old)
        } else {
            None
        };
        let (identity, _) = Self::load_or_create(dir)?;
        Ok((identity, kept))
    }

    /// Load `dir/identity.key`.
    pub fn load(dir: &Path) -> Result<Self, IdentityError> {
        let path = dir.join(KEY_FILE);
        let text = match fs_err::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(IdentityError::Missing(path)),
            Err(e) => return Err(e.into()),
        };
        let mut seed = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| IdentityError::Malformed(path))?;
        Ok(Identity {
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Hex of the raw public key.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    /// Hex sha256 of the raw public key.
    pub fn fingerprint(&self) -> String {
        fingerprint_of(&self.key.verifying_key().to_bytes())
    }

    /// Hex of the 64-byte Ed25519 signature over `bytes`.
    pub fn sign(&self, bytes: &[u8]) -> String {
        hex::encode(self.key.sign(bytes).to_bytes())
    }
}

/// Hex sha256 of a raw public key: the fingerprint followers pin.
pub fn fingerprint_of(public_key: &[u8]) -> String {
    hex::encode(Sha256::digest(public_key))
}

/// Why a signature check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The public key is not 32 bytes of hex or not a valid curve point.
    #[error("the pinned public key is malformed")]
    BadKey,
    /// The signature is not 64 bytes of hex.
    #[error("the signature is malformed")]
    BadSignature,
    /// The signature does not match the bytes and key.
    #[error("the signature does not match the pinned master key")]
    Mismatch,
}

/// Verify a hex signature over `bytes` with a hex public key (strict Ed25519 verification).
pub fn verify(public_key_hex: &str, bytes: &[u8], signature_hex: &str) -> Result<(), VerifyError> {
    let mut pk = [0u8; 32];
    hex::decode_to_slice(public_key_hex.trim(), &mut pk).map_err(|_| VerifyError::BadKey)?;
    let key = VerifyingKey::from_bytes(&pk).map_err(|_| VerifyError::BadKey)?;
    let mut sig = [0u8; 64];
    hex::decode_to_slice(signature_hex.trim(), &mut sig).map_err(|_| VerifyError::BadSignature)?;
    key.verify_strict(bytes, &Signature::from_bytes(&sig))
        .map_err(|_| VerifyError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_keeps_key_and_signs_verifiably() {
        let dir = tempfile::tempdir().unwrap();
        let (a, created) = Identity::load_or_create(dir.path()).unwrap();
        assert!(created);
        let (b, created) = Identity::load_or_create(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(a.fingerprint(), b.fingerprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs_err::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let sig = a.sign(b"doc");
        assert_eq!(verify(&a.public_key_hex(), b"doc", &sig), Ok(()));
        assert_eq!(verify(&a.public_key_hex(), b"dog", &sig), Err(VerifyError::Mismatch));
        assert_eq!(
            a.fingerprint(),
            fingerprint_of(&hex::decode(a.public_key_hex()).unwrap())
        );
    }

    #[test]
    fn rotate_keeps_the_old_key_beside_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let (old, _) = Identity::load_or_create(dir.path()).unwrap();
        let old_text = fs_err::read_to_string(dir.path().join(KEY_FILE)).unwrap();
        let (new, kept) = Identity::rotate(dir.path()).unwrap();
        assert_ne!(old.fingerprint(), new.fingerprint());
        let kept = kept.unwrap();
        assert!(
            kept.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("identity.key.old-"),
            "{kept:?}"
        );
        assert_eq!(fs_err::read_to_string(&kept).unwrap(), old_text);
        assert_eq!(Identity::load(dir.path()).unwrap().fingerprint(), new.fingerprint());
        let (third, again) = Identity::rotate(dir.path()).unwrap();
        assert_ne!(
            again.unwrap(),
            kept,
            "a second rotation in the same second keeps both old keys"
        );
        assert_ne!(third.fingerprint(), new.fingerprint());
    }
}
