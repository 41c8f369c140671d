//! Join and sync: ask meta, check the pin, fetch and verify the signed state, fetch missing
//! blobs, stage. Nothing under CODEX_HOME is touched here (that is `reconcile`).

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::path::Path;
use std::time::Instant;

use crate::master::identity::fingerprint_of;
use crate::model::DesiredState;
use crate::model::document::MAX_DOCUMENT_BYTES;
use crate::model::wire::PROTOCOL;
use crate::paths::Roots;
use crate::progress::{NoProgress, Progress};

use super::FollowerError;
use super::client::{MasterClient, StateAnswer};
use super::enrollment::{Enrollment, JoinLink};
use super::store::{FollowerStore, check_signature};
use super::validate::{DocumentError, check_document, parse_document};

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    /// The revision now staged.
    pub revision: String,
    /// False when the staged revision was already current (one small meta request).
    pub fetched_state: bool,
    /// Blobs downloaded.
    pub blobs_fetched: usize,
    /// Bytes downloaded in blobs.
    pub bytes_fetched: u64,
    /// Body bytes of `/v1/state` (0 when not fetched).
    pub state_bytes: u64,
    /// True when `/v1/state` answered with a delta from the staged document.
    pub state_delta: bool,
}

/// Join a master: check the link's fingerprint against the master, fetch and stage its state,
/// then write `enrollment.toml`. On any failure nothing is written: what this call created in
/// `CODEXPORT_HOME` is removed again, except the logs. The blob download is reported to
/// `progress`.
pub fn join(
    roots: &Roots,
    link: &JoinLink,
    name: &str,
    progress: &dyn Progress,
) -> Result<(Enrollment, SyncOutcome), FollowerError> {
    tracing::info!(master = %link.master_url, name, "joining");
    let client = MasterClient::new(&link.master_url, None)?;
    let meta = client.meta(None)?.ok_or_else(|| FollowerError::Protocol {
        url: link.master_url.clone(),
        reason: "304 without If-None-Match".into(),
    })?;
    let presented = hex::decode(&meta.public_key)
        .map(|k| fingerprint_of(&k))
        .unwrap_or_default();
    if meta.fingerprint != link.fingerprint || presented != link.fingerprint {
        let actual = if presented == meta.fingerprint {
            meta.fingerprint
        } else {
            presented
        };
        return Err(FollowerError::FingerprintMismatch {
            url: link.master_url.clone(),
            expected: link.fingerprint.clone(),
            actual,
        });
    }
    let enrollment = Enrollment {
        master: link.master_url.clone(),
        fingerprint: link.fingerprint.clone(),
        public_key: meta.public_key,
        token: link.token.clone(),
        name: name.to_string(),
        joined_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
    };
    let before = entries(&roots.codexport_home);
    let outcome = match sync_with(roots, &enrollment, None, progress) {
        Ok(o) => o,
        Err(e) => {
            tracing::debug!(master = %link.master_url, "join failed: {e}");
            leave_as_before(&roots.codexport_home, before.as_ref());
            return Err(e);
        }
    };
    enrollment.save(&roots.codexport_home)?;
    tracing::info!(master = %enrollment.master, fingerprint = %enrollment.fingerprint, name, "joined");
    Ok((enrollment, outcome))
}

/// The names in `dir`; `None` when it does not exist.
fn entries(dir: &Path) -> Option<BTreeSet<OsString>> {
    let list = fs_err::read_dir(dir).ok()?;
    Some(list.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
}

/// Remove what a failed join created in `home` (all of it when it did not exist), but the logs.
fn leave_as_before(home: &Path, before: Option<&BTreeSet<OsString>>) {
    let Some(before) = before else {
        let _ = fs_err::remove_dir_all(home);
        return;
    };
    for name in entries(home).unwrap_or_default() {
        if before.contains(&name) || name == crate::logs::LOGS_DIR {
            continue;
        }
        let path = home.join(&name);
        let _ = match fs_err::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => fs_err::remove_dir_all(&path),
            _ => fs_err::remove_file(&path),
        };
    }
}

/// Sync with the enrolled master: stage its current revision (a no-op beyond one meta request
/// when it is already staged and complete). The blob download is reported to `progress`.
pub fn sync(
    roots: &Roots,
    applied_revision: Option<String>,
    progress: &dyn Progress,
) -> Result<SyncOutcome, FollowerError> {
    let enrollment = Enrollment::load(&roots.codexport_home)?;
    // The operator asked: whatever the hook's back-off says, try the master now.
    super::backoff::Backoff::clear(&roots.codexport_home);
    sync_with(roots, &enrollment, applied_revision, progress)
}

/// Sync, starting over (up to twice) when the master publishes a new revision mid-sync.
fn sync_with(
    roots: &Roots,
    enrollment: &Enrollment,
    applied_revision: Option<String>,
    progress: &dyn Progress,
) -> Result<SyncOutcome, FollowerError> {
    // One writer of the store at a time: staging writes two files (state + signature).
    let _lock = lock(roots)?;
    crate::fs::refuse_linked_state_dirs(&roots.codexport_home).map_err(FollowerError::Io)?;
    let started = Instant::now();
    let mut retries = 0;
    loop {
        match sync_once(roots, enrollment, applied_revision.clone(), progress) {
            Err(FollowerError::RevisionChanged { .. }) if retries < 2 => {
                tracing::info!(master = %enrollment.master, "the master published during the sync; starting over");
                retries += 1
            }
            Ok(outcome) => {
                tracing::info!(
                    revision = %outcome.revision,
                    fetched_state = outcome.fetched_state,
                    blobs = outcome.blobs_fetched,
                    bytes = outcome.bytes_fetched,
                    ms = started.elapsed().as_millis() as u64,
                    "sync done"
                );
                return Ok(outcome);
            }
            Err(e) => return Err(e),
        }
    }
}

fn sync_once(
    roots: &Roots,
    enrollment: &Enrollment,
    applied_revision: Option<String>,
    progress: &dyn Progress,
) -> Result<SyncOutcome, FollowerError> {
    let client = MasterClient::new(&enrollment.master, Some(enrollment.token.clone()))?
        .identify(&enrollment.name, applied_revision);
    let meta = client.meta(None)?.ok_or_else(|| FollowerError::Protocol {
        url: enrollment.master.clone(),
        reason: "304 without If-None-Match".into(),
    })?;
    stage_from(roots, enrollment, &client, meta, progress)
}

/// The hook's sync: the caller holds the lock; every request gets `timeout` (what is left of
/// the budget). Asks `/v1/meta` with `If-None-Match: <applied revision>` first, so an unchanged
/// master costs one small request: `Ok(None)` then. `answered` is set once the master has
/// announced a new revision (the hook then knows a slow download is not a silent master).
pub fn sync_for_hook(
    roots: &Roots,
    enrollment: &Enrollment,
    applied_revision: Option<String>,
    timeout: std::time::Duration,
    answered: &std::sync::atomic::AtomicBool,
) -> Result<Option<SyncOutcome>, FollowerError> {
    let client = MasterClient::with_timeout(&enrollment.master, Some(enrollment.token.clone()), timeout)?
        .identify(&enrollment.name, applied_revision.clone());
    let Some(meta) = client.meta(applied_revision.as_deref())? else {
        return Ok(None);
    };
    answered.store(true, std::sync::atomic::Ordering::SeqCst);
    stage_from(roots, enrollment, &client, meta, &NoProgress).map(Some)
}

/// Check `meta` against the pins, then stage its revision (unless it is staged and complete).
fn stage_from(
    roots: &Roots,
    enrollment: &Enrollment,
    client: &MasterClient,
    meta: crate::model::wire::Meta,
    progress: &dyn Progress,
) -> Result<SyncOutcome, FollowerError> {
    tracing::debug!(revision = %meta.revision, generated_at = %meta.generated_at, "meta");
    let store = FollowerStore::new(&roots.codexport_home);
    let staged = store.load_staged(enrollment).ok().flatten();
    if meta.fingerprint != enrollment.fingerprint || meta.public_key != enrollment.public_key {
        return Err(FollowerError::FingerprintMismatch {
            url: enrollment.master.clone(),
            expected: enrollment.fingerprint.clone(),
            actual: meta.fingerprint,
        });
    }
    if meta.protocol != PROTOCOL {
        return Err(FollowerError::Protocol {
            url: enrollment.master.clone(),
            reason: format!(
                "master speaks protocol {}, this codexport speaks {PROTOCOL}",
                meta.protocol
            ),
        });
    }
    let blobs = store.blobs();
    let exclude = excluded_here(roots);
    if let Some(staged) = &staged
        && staged.doc.metadata.revision == meta.revision
        && missing_blobs(&staged.doc, &blobs, &exclude).is_empty()
    {
        tracing::debug!(revision = %meta.revision, "already staged and complete");
        return Ok(SyncOutcome {
            revision: meta.revision,
            fetched_state: false,
            blobs_fetched: 0,
            bytes_fetched: 0,
            state_bytes: 0,
            state_delta: false,
        });
    }
    let base = staged.as_ref().map(|s| s.bytes.as_slice());
    let (answer, doc) = fetch_state(client, base, enrollment)?;
    super::validate::refuse_for_roots(&doc, roots, &enrollment.master)?;
    super::freshness::check(&roots.codexport_home, enrollment, &doc)?;
    let (bytes, signature) = (answer.bytes, answer.signature);
    let missing = missing_blobs(&doc, &blobs, &exclude);
    let total: u64 = missing.values().sum();
    tracing::info!(
        revision = %doc.metadata.revision,
        state_bytes = bytes.len(),
        received = answer.received,
        delta = answer.delta,
        files = doc.spec.files.len(),
        missing_blobs = missing.len(),
        missing_bytes = total,
        "state verified"
    );
    store.check_room(total)?;
    if !missing.is_empty() {
        // What the stream carries: every blob behind its frame header.
        progress.start(total + (missing.len() * crate::model::wire::FRAME_HEADER_LEN) as u64);
    }
    let fetched = client.fetch_blobs(&missing, &blobs, progress);
    if !missing.is_empty() {
        progress.finish();
    }
    let bytes_fetched = fetched?;
    store.stage(&bytes, &signature)?;
    super::freshness::Freshness::record(&roots.codexport_home, &doc)?;
    Ok(SyncOutcome {
        revision: doc.metadata.revision,
        fetched_state: true,
        blobs_fetched: missing.len(),
        bytes_fetched,
        state_bytes: answer.received,
        state_delta: answer.delta,
    })
}

/// local.toml's `exclude` rules; none when local.toml does not load (then every blob is
/// fetched, and the apply reports the broken file).
fn excluded_here(roots: &Roots) -> Vec<String> {
    match super::local::LocalSettings::load(&roots.codexport_home) {
        Ok(settings) => settings.exclude,
        Err(e) => {
            tracing::warn!("{e}; fetching every blob");
            Vec::new()
        }
    }
}

/// `/v1/state`, as a delta from `base` when the master offers one, and verified. A delta that
/// does not apply or whose result does not verify is logged and the document is fetched whole
/// once (a master bug must cost bytes, not the sync); a whole document that does not verify is
/// the error.
fn fetch_state(
    client: &MasterClient,
    base: Option<&[u8]>,
    enrollment: &Enrollment,
) -> Result<(StateAnswer, DesiredState), FollowerError> {
    let answer = match client.state(base) {
        Err(FollowerError::Protocol { reason, .. }) if base.is_some() => {
            tracing::warn!(master = %enrollment.master, "{reason}; fetching the whole document");
            return fetch_state(client, None, enrollment);
        }
        other => other?,
    };
    match verify_document(&answer.bytes, &answer.signature, enrollment) {
        Ok(doc) => Ok((answer, doc)),
        Err(e) if answer.delta => {
            tracing::warn!(master = %enrollment.master, "the document rebuilt from a delta does not verify ({e}); fetching it whole");
            fetch_state(client, None, enrollment)
        }
        Err(e) => Err(e),
    }
}

/// Blobs of `doc` not in the store, with their declared sizes, leaving out the files that
/// `exclude` (local.toml's rules, [`super::local::is_excluded`]) keeps off this follower: an
/// excluded `auth.json` is never downloaded.
pub fn missing_blobs(
    doc: &DesiredState,
    blobs: &crate::blobstore::BlobStore,
    exclude: &[String],
) -> HashMap<String, u64> {
    let wanted = |path: &str| !super::local::is_excluded(exclude, path, crate::codex::layout::classify(path));
    let files = doc.spec.files.iter().filter(|f| wanted(&f.path));
    let refs = files.map(|f| (&f.sha256, f.size)).chain(
        doc.spec
            .config
            .iter()
            .chain(doc.spec.hooks.iter())
            .map(|b| (&b.sha256, b.size)),
    );
    let refs = refs.chain(crate::mcp::artifact_blobs(&doc.spec));
    refs.filter(|(h, _)| !blobs.contains(h))
        .map(|(h, s)| (h.clone(), s))
        .collect()
}

/// Verify a document: size cap, signature against the pinned key **before** parsing, then
/// shape, pins, revision, paths, hashes and sizes ([`super::validate`]). Any failure is
/// [`FollowerError::Untrusted`].
pub fn verify_document(bytes: &[u8], signature: &str, enrollment: &Enrollment) -> Result<DesiredState, FollowerError> {
    let refuse = |e: DocumentError| FollowerError::Untrusted {
        url: enrollment.master.clone(),
        reason: e.to_string(),
    };
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(refuse(DocumentError::TooLarge(bytes.len())));
    }
    check_signature(bytes, signature, enrollment)?;
    let doc = parse_document(bytes).map_err(refuse)?;
    if doc.metadata.master.fingerprint != enrollment.fingerprint
        || doc.metadata.master.public_key != enrollment.public_key
    {
        return Err(refuse(DocumentError::OtherMaster));
    }
    check_document(&doc).map_err(refuse)?;
    Ok(doc)
}

fn lock(roots: &Roots) -> Result<crate::reconcile::host::LockGuard, FollowerError> {
    use crate::reconcile::host::{Host, LockError, RealHost};
    RealHost
        .lock(&roots.codexport_home.join("lock"), crate::reconcile::LOCK_WAIT)
        .map_err(|e| match e {
            LockError::Io(io) => FollowerError::Io(io),
            held => FollowerError::Locked(held.to_string()),
        })
}
