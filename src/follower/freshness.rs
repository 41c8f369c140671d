//! Replay and freeze protection on the follower (SECURITY.md, TUF "rollback" and
//! "indefinite freeze").
//!
//! A signature proves who signed a document, not when: a network attacker who recorded an
//! older signed `/v1/state` could answer in the master's place and take the follower back to
//! it (an old leaked credential, a fixed-then-vulnerable script). So every document carries the
//! master's publication number (`metadata.sequence`, [`crate::master::sequence`]), and the
//! follower keeps the newest one it accepted from the pinned key in
//! `$CODEXPORT_HOME/freshness.json` (0600):
//! `{"fingerprint": "<64 hex>", "sequence": N, "revision": "sha256:...", "generatedAt": "<RFC 3339>"}`.
//! A document numbered lower, or equal but with other content, is refused before anything is
//! staged. A record for another fingerprint (a re-join after a key rotation) sets no floor.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::FollowerError;
use super::enrollment::Enrollment;
use crate::model::document::DesiredState;

/// File name under `CODEXPORT_HOME`.
pub const FRESHNESS_FILE: &str = "freshness.json";
/// Past this age, `status` and `doctor` warn that the newest signed document seen is old: the
/// master publishes only when something changed, so an old one is not proof of a freeze, but
/// a follower held on an old document by the network looks exactly like this.
pub const FREEZE_WARN_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);

/// The newest document accepted from the pinned master.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Freshness {
    /// Fingerprint of the key that signed it.
    pub fingerprint: String,
    /// Its `metadata.sequence`.
    pub sequence: u64,
    /// Its revision.
    pub revision: String,
    /// Its `metadata.generatedAt` (RFC 3339, the master's clock).
    pub generated_at: String,
}

impl Freshness {
    /// The record of `doc`.
    pub fn of(doc: &DesiredState) -> Self {
        Freshness {
            fingerprint: doc.metadata.master.fingerprint.clone(),
            sequence: doc.metadata.sequence,
            revision: doc.metadata.revision.clone(),
            generated_at: doc.metadata.generated_at.clone(),
        }
    }

    /// Path of the record under `codexport_home`.
    pub fn path(codexport_home: &Path) -> PathBuf {
        codexport_home.join(FRESHNESS_FILE)
    }

    /// The record; `None` when there is none yet.
    ///
    /// Errors: [`FollowerError::BadState`] when it exists but does not parse (it is never
    /// guessed around: a lost floor is what an attacker wants).
    pub fn load(codexport_home: &Path) -> Result<Option<Self>, FollowerError> {
        let path = Self::path(codexport_home);
        let bytes = match fs_err::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| FollowerError::BadState {
                path,
                reason: e.to_string(),
            })
    }

    /// Record `doc` as the newest accepted, unless the record already holds a newer one.
    ///
    /// Errors: reading or writing the record.
    pub fn record(codexport_home: &Path, doc: &DesiredState) -> Result<(), FollowerError> {
        let new = Freshness::of(doc);
        if let Some(old) = Self::load(codexport_home)?
            && old.fingerprint == new.fingerprint
            && old.sequence >= new.sequence
        {
            return Ok(());
        }
        let json = serde_json::to_vec_pretty(&new).map_err(std::io::Error::other)?;
        crate::fs::write_atomic(&Self::path(codexport_home), &json, crate::fs::SECRET_MODE)?;
        Ok(())
    }

    /// How long ago the master signed it, by this machine's clock; `None` when the time does
    /// not parse or lies in the future.
    pub fn age(&self) -> Option<Duration> {
        let at = humantime::parse_rfc3339(&self.generated_at).ok()?;
        SystemTime::now().duration_since(at).ok()
    }
}

/// Refuse `doc` when it is older than the newest accepted from the same key, or has its
/// number with other content.
///
/// Errors: [`FollowerError::Replayed`]; those of [`Freshness::load`].
pub fn check(codexport_home: &Path, enrollment: &Enrollment, doc: &DesiredState) -> Result<(), FollowerError> {
    let Some(newest) = Freshness::load(codexport_home)? else {
        return Ok(());
    };
    if newest.fingerprint != doc.metadata.master.fingerprint {
        return Ok(());
    }
    let offered = doc.metadata.sequence;
    let older = offered < newest.sequence;
    let equivocal = offered == newest.sequence && doc.metadata.revision != newest.revision;
    if older || equivocal {
        return Err(FollowerError::Replayed {
            url: enrollment.master.clone(),
            offered,
            offered_at: doc.metadata.generated_at.clone(),
            accepted: newest.sequence,
            accepted_at: newest.generated_at,
        });
    }
    Ok(())
}
