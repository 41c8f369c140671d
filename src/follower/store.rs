//! The follower's store: content-addressed blobs and the staged (verified, not yet applied)
//! document under `$CODEXPORT_HOME/store/`.

use std::path::{Path, PathBuf};

use crate::blobstore::BlobStore;
use crate::master::identity::verify;
use crate::model::DesiredState;

use super::FollowerError;
use super::enrollment::Enrollment;

/// Environment variable overriding the store cap, in bytes.
pub const STORE_MAX_ENV: &str = "CODEXPORT_STORE_MAX_BYTES";
/// Default cap of the follower store (all blobs), in bytes: 8 GiB. A master tree is capped at
/// 64 MiB per file by the master; this bounds what a hostile or runaway master can make a
/// follower store.
pub const DEFAULT_STORE_MAX_BYTES: u64 = 8 * 1024 * 1024 * 1024;

/// The store cap in force ([`STORE_MAX_ENV`] or the default).
pub fn store_cap() -> u64 {
    std::env::var(STORE_MAX_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_STORE_MAX_BYTES)
}

/// `$CODEXPORT_HOME/store`.
pub struct FollowerStore {
    root: PathBuf,
}

/// A staged document, verified again when loaded (the store is on disk and could be edited).
#[derive(Debug, Clone)]
pub struct Staged {
    /// The parsed document.
    pub doc: DesiredState,
    /// Its exact bytes (the base a master may send the next document as a delta from).
    pub bytes: Vec<u8>,
}

impl FollowerStore {
    /// The store under `codexport_home`.
    pub fn new(codexport_home: &Path) -> Self {
        FollowerStore {
            root: codexport_home.join("store"),
        }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Refuse a fetch of `incoming` more bytes when the store would go over [`store_cap`].
    pub fn check_room(&self, incoming: u64) -> Result<(), FollowerError> {
        if incoming == 0 {
            return Ok(());
        }
        let cap = store_cap();
        let present: u64 = self.blobs().list()?.iter().map(|(_, size)| size).sum();
        let would_be = present.saturating_add(incoming);
        if would_be > cap {
            return Err(FollowerError::StoreFull {
                store: self.root.clone(),
                would_be,
                cap,
            });
        }
        Ok(())
    }

    /// The blob store.
    pub fn blobs(&self) -> BlobStore {
        BlobStore::new(self.root.join("blobs"))
    }

    /// Stage verified document bytes and their signature.
    pub fn stage(&self, bytes: &[u8], signature: &str) -> Result<(), FollowerError> {
        crate::fs::create_private_dir(&self.root)?;
        crate::fs::write_atomic(&self.root.join("state.yaml"), bytes, 0o600)?;
        crate::fs::write_atomic(
            &self.root.join("state.yaml.sig"),
            format!("{signature}\n").as_bytes(),
            0o600,
        )?;
        Ok(())
    }

    /// The staged document, verified against the pinned key; `None` when nothing is staged.
    pub fn load_staged(&self, enrollment: &Enrollment) -> Result<Option<Staged>, FollowerError> {
        let bytes = match fs_err::read(self.root.join("state.yaml")) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let signature = fs_err::read_to_string(self.root.join("state.yaml.sig"))?;
        let doc = super::sync::verify_document(&bytes, &signature, enrollment)?;
        Ok(Some(Staged { doc, bytes }))
    }
}

/// Check a signature with the pinned key; used before any parsing.
pub(crate) fn check_signature(bytes: &[u8], signature: &str, enrollment: &Enrollment) -> Result<(), FollowerError> {
    verify(&enrollment.public_key, bytes, signature).map_err(|e| FollowerError::Untrusted {
        url: enrollment.master.clone(),
        reason: e.to_string(),
    })
}
