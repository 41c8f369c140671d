//! Publish: scan CODEX_HOME, hash its files, build, sign and write the desired-state document.
//!
//! Published files are hashed, not copied: the server reads them from CODEX_HOME when a
//! follower asks ([`super::blob_origin`]). What the publish generates (the canonical
//! config.toml, hooks.json, MCP source-artifact files) goes to `master/blobs/` first. Then
//! `state.yaml` and `state.yaml.sig` are written (each atomically), and the
//! stat cache ([`super::statcache`]) on a thread of its own meanwhile. Publishing the same tree
//! again gives the same revision and leaves the document untouched; it reads only the files
//! whose size or stamp changed. [`publish_warm`] is the watcher's republish: it keeps the
//! scan, the stat cache and what it published in memory ([`WarmState`]) and reads again only
//! the paths the watcher saw change ([`super::rescan`]).
//! Publishes are serialised by an OS lock on `master/publish.lock`: `master rebuild` and the
//! watcher of `master serve` ([`super::watch`]) may run at once, and two interleaved publishes
//! could otherwise leave one's `state.yaml` beside the other's signature.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::blobstore::BlobStore;
use crate::codex::config::ParseError;
use crate::codex::layout::{CONFIG_TOML, HOOKS_JSON};
use crate::codex::portable::MasterPaths;
use crate::model::document::{API_VERSION, KIND};
use crate::model::{DesiredState, FileEntry, FileMode, MasterInfo, Metadata, Spec};
use crate::paths::Roots;
use crate::reconcile::host::{Host, LockError, RealHost};

use super::identity::{Identity, IdentityError};
use super::published::{PublishedMark, signed_revision};
pub use super::published::{SIGNATURE_FILE, STATE_FILE, Written, current_revision};
use super::scan::{FileStamp, ScanError, ScanReport, ScannedFile, scan};
use super::settings::{MasterSettings, SettingsError};
use super::statcache::{StatCache, hash_files};
/// Lock file inside the master directory, held for the whole of a publish.
pub const LOCK_FILE: &str = "publish.lock";
/// How long a publish waits for another one (a cold publish of a big tree takes seconds).
const LOCK_WAIT: Duration = Duration::from_secs(120);

/// What a publish did.
#[derive(Debug)]
pub struct PublishReport {
    /// The revision now published.
    pub revision: String,
    /// True when the revision differs from the one published before.
    pub changed: bool,
    /// Number of files in the document (config.toml and hooks.json included).
    pub files: usize,
    /// Total bytes of those files.
    pub bytes: u64,
    /// MCP servers found in config.toml.
    pub mcp_servers: usize,
    /// Files whose hash came from the stat cache (not read again).
    pub cached: usize,
    /// The scan, for its lists of what was left out.
    pub scan: Arc<ScanReport>,
    /// The document written, when the revision changed.
    pub written: Option<Arc<Written>>,
}

/// What [`publish_warm`] keeps from one publish to the next in the same process: the scan and
/// the settings it was taken with, the stat cache, and the pair of files last published.
/// Emptied by a failed publish, so the next one starts from a full scan.
#[derive(Debug, Default)]
pub struct WarmState {
    settings: Option<MasterSettings>,
    scan: Option<Arc<ScanReport>>,
    cache: Option<StatCache>,
    published: Option<PublishedMark>,
}

/// What changed since the previous publish of a [`WarmState`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changes {
    /// Unknown: scan the whole tree.
    Everything,
    /// Only these paths (relative to CODEX_HOME, `/`-separated) or what is below them.
    Paths(Vec<String>),
}

/// Why a publish stopped. Nothing is published when any of these happens.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// master.toml.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// identity.key.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The scan.
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// config.toml or hooks.json do not parse.
    #[error("cannot publish: {0}")]
    Parse(#[from] ParseError),
    /// A published path would be refused by followers (case clash, backslash, too deep...).
    #[error("cannot publish: {0}")]
    Path(#[from] crate::model::relpath::RelPathError),
    /// A file is not UTF-8 where text is needed.
    #[error("cannot publish: {} is not UTF-8 text", .0.display())]
    NotText(PathBuf),
    /// I/O on a named path.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Serializing the document.
    #[error("serializing the desired state: {0}")]
    Serialize(String),
    /// Collecting the files of a local MCP server project.
    #[error(transparent)]
    McpSource(#[from] crate::mcp::source::SourceError),
    /// Another publish held `publish.lock` for longer than the wait.
    #[error("cannot publish: {0}")]
    Lock(#[from] LockError),
}

impl crate::exit::ExitStatus for PublishError {
    fn exit(&self) -> crate::exit::Exit {
        match self {
            PublishError::Settings(e) => e.exit(),
            PublishError::Identity(e) => e.exit(),
            PublishError::Scan(e) => e.exit(),
            PublishError::Parse(_) | PublishError::NotText(_) | PublishError::Path(_) => crate::exit::Exit::Usage,
            PublishError::McpSource(e) => e.exit(),
            _ => crate::exit::Exit::Error,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            PublishError::Parse(e) => Some(format!(
                "fix {} (Codex cannot load it either), then run `codexport master rebuild`",
                e.path.display()
            )),
            PublishError::Path(_) => Some(
                "rename or remove one of them under CODEX_HOME (or add it to `exclude` in master.toml), then run `codexport master rebuild`"
                    .into(),
            ),
            PublishError::Identity(e) => e.hint(),
            PublishError::Scan(e) => e.hint(),
            PublishError::Settings(e) => e.hint(),
            PublishError::McpSource(e) => e.hint(),
            PublishError::Lock(LockError::Held { .. }) => Some(
                "another publish is running (`master rebuild`, `master init` or the watcher of `master serve`); try again when it is done"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// Scan, store and sign. `roots.codex_home` is the tree published.
pub fn publish(roots: &Roots) -> Result<PublishReport, PublishError> {
    publish_warm(roots, &mut WarmState::default(), Changes::Everything)
}

/// [`publish`] for a process that publishes again and again (`master serve`'s watcher): starts
/// from what `warm` kept and, when `changes` names the paths that changed, scans only those.
/// On error `warm` is emptied (the next publish scans everything) and nothing is published.
pub fn publish_warm(roots: &Roots, warm: &mut WarmState, changes: Changes) -> Result<PublishReport, PublishError> {
    let started = std::time::Instant::now();
    let result = publish_now(roots, warm, changes);
    let ms = started.elapsed().as_millis() as u64;
    match &result {
        Ok(r) => tracing::info!(
            revision = %r.revision,
            changed = r.changed,
            files = r.files,
            bytes = r.bytes,
            cached = r.cached,
            mcp_servers = r.mcp_servers,
            ms,
            "publish done"
        ),
        Err(e) => {
            *warm = WarmState::default();
            tracing::debug!(ms, "publish failed: {e}")
        }
    }
    result
}

/// The scan for this publish: a rescan of the warm one when the changed paths are known and
/// the settings are the same, else a full scan. True when the set of paths may have moved.
fn scan_for(
    roots: &Roots,
    settings: &MasterSettings,
    warm: &mut WarmState,
    changes: Changes,
) -> Result<(ScanReport, bool), PublishError> {
    let previous = warm.scan.take().filter(|_| warm.settings.as_ref() == Some(settings));
    match (changes, previous) {
        (Changes::Paths(paths), Some(previous)) => {
            let previous = Arc::unwrap_or_clone(previous);
            let done = super::rescan::rescan(&roots.codex_home, settings, previous, &paths)?;
            Ok((done.report, done.paths_changed))
        }
        _ => Ok((scan(&roots.codex_home, settings)?, true)),
    }
}

fn publish_now(roots: &Roots, warm: &mut WarmState, changes: Changes) -> Result<PublishReport, PublishError> {
    let dir = roots.master_dir();
    let settings = MasterSettings::load(&dir)?;
    // After the settings: a machine that is not a master gets NotInitialized, not a new dir.
    let _lock = RealHost.lock(&dir.join(LOCK_FILE), LOCK_WAIT)?;
    let identity = Identity::load(&dir)?;
    let mut phases = Phases::start();
    let (report, paths_changed) = scan_for(roots, &settings, warm, changes)?;
    phases.mark("scan");
    if paths_changed {
        // Followers refuse a document with a path they cannot hold; refuse it here, naming it.
        crate::model::relpath::validate_set(report.files.iter().map(|f| f.rel.as_str()))?;
    }
    phases.mark("validate");
    let blobs = BlobStore::new(dir.join("blobs"));
    let master_paths = MasterPaths {
        home: roots.home.display().to_string(),
        codex_home: roots.codex_home.display().to_string(),
        variables: settings.path_variables.clone(),
    };

    let mut spec = Spec {
        files: Vec::new(),
        config: None,
        hooks: None,
        mcp_servers: BTreeMap::new(),
        path_variables: Vec::new(),
    };
    let bytes = report.files.iter().map(|f| f.size).sum();
    // Plain files: hashed (or found in the stat cache) in parallel, not copied: the server
    // reads them from CODEX_HOME (see `blob_origin`).
    let plain: Vec<&ScannedFile> = report
        .files
        .iter()
        .filter(|f| f.rel != CONFIG_TOML && f.rel != HOOKS_JSON)
        .collect();
    let cache = warm.cache.take().unwrap_or_else(|| StatCache::load(&dir));
    phases.mark("load");
    let started = std::time::SystemTime::now();
    let hashed = hash_files(&plain, &cache)?;
    let cached = hashed.iter().filter(|s| s.cached).count();
    phases.mark("hash");
    for (file, s) in plain.iter().zip(&hashed) {
        spec.files.push(FileEntry {
            path: file.rel.clone(),
            sha256: s.sha256.clone(),
            size: s.size,
            mode: FileMode(file.mode),
            class: file.class,
        });
    }
    super::publish_config::config_and_hooks(&report, &master_paths, &blobs, &mut spec)?;
    let mcp_servers = spec.mcp_servers.len();
    phases.mark("config");
    let dir = dir.as_path();
    let (written, cache, revision) = std::thread::scope(|threads| -> Result<_, PublishError> {
        // The next stat cache is recorded and written beside the rest. Best effort: a cache
        // that could not be written only means hashing again next time. One equal to the
        // cache loaded is not written again.
        let saver = threads.spawn(|| {
            let next = StatCache::record(&plain, &hashed, started);
            if next == cache {
                return Some(cache);
            }
            next.write(dir).ok().map(|()| next)
        });
        let revision = spec.revision();
        phases.mark("revision");
        // Unchanged only when the published document verifies with this identity: a lost
        // signature or a rotated key (master init --rotate-key) signs again.
        let marked = warm
            .published
            .as_ref()
            .and_then(|m| m.revision_if_current(dir, &identity));
        let previous = match marked {
            Some(r) => Some(r.to_string()),
            None => {
                let r = signed_revision(dir, &identity);
                warm.published = r.as_deref().and_then(|r| PublishedMark::take(dir, &identity, r));
                r
            }
        };
        phases.mark("verify");
        let written = if previous.as_deref() == Some(revision.as_str()) {
            None
        } else {
            let written = write_document(dir, &identity, &master_paths, &revision, spec, &mut phases, threads)?;
            warm.published = PublishedMark::take(dir, &identity, &revision);
            Some(Arc::new(written))
        };
        let cache = saver.join().ok().flatten();
        Ok((written, cache, revision))
    })?;
    phases.mark("join");
    phases.log();
    let report = Arc::new(report);
    *warm = WarmState {
        settings: Some(settings),
        scan: Some(report.clone()),
        cache,
        published: warm.published.take(),
    };
    Ok(PublishReport {
        revision,
        changed: written.is_some(),
        files: report.files.len(),
        bytes,
        mcp_servers,
        cached,
        scan: report,
        written,
    })
}

/// Where a publish spent its time, logged at debug level (`-vv`) as `scan=12.3ms hash=...`:
/// the breakdown `benches/README.md` quotes for the warm republish.
struct Phases {
    last: std::time::Instant,
    marks: Vec<(&'static str, Duration)>,
}

impl Phases {
    fn start() -> Self {
        Phases {
            last: std::time::Instant::now(),
            marks: Vec::new(),
        }
    }

    fn mark(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.marks.push((name, now - self.last));
        self.last = now;
    }

    fn log(&self) {
        let text: Vec<String> = self.marks.iter().map(|(n, d)| format!("{n}={d:.1?}")).collect();
        tracing::debug!("publish phases: {}", text.join(" "));
    }
}

/// Serialize, sign and write the document of `spec` (state.yaml, then state.yaml.sig, each
/// atomically); the history copy ([`super::history`]) is written on a thread of `threads`.
fn write_document<'scope>(
    dir: &'scope Path,
    identity: &Identity,
    master_paths: &MasterPaths,
    revision: &str,
    spec: Spec,
    phases: &mut Phases,
    threads: &'scope std::thread::Scope<'scope, '_>,
) -> Result<Written, PublishError> {
    let document = DesiredState {
        api_version: API_VERSION.into(),
        kind: KIND.into(),
        metadata: Metadata {
            revision: revision.to_string(),
            master: MasterInfo {
                fingerprint: identity.fingerprint(),
                public_key: identity.public_key_hex(),
                hostname: gethostname::gethostname().to_string_lossy().into_owned(),
                home: master_paths.home.clone(),
                codex_home: master_paths.codex_home.clone(),
            },
            generated_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            sequence: super::sequence::next(dir)?,
        },
        spec,
    };
    let yaml = crate::model::yaml::to_yaml(&document).map_err(|e| PublishError::Serialize(e.to_string()))?;
    let bytes = bytes::Bytes::from(yaml.into_bytes());
    phases.mark("yaml");
    // The document goes to disk (and waits for its fsync) while it is signed.
    let state = {
        let bytes = bytes.clone();
        threads.spawn(move || crate::fs::prepare_write(&dir.join(STATE_FILE), &bytes, 0o600))
    };
    let signature = identity.sign(&bytes);
    phases.mark("sign");
    let state = state.join().map_err(|_| {
        std::io::Error::other(format!(
            "writing {}: the thread panicked",
            dir.join(STATE_FILE).display()
        ))
    })??;
    state.commit()?;
    crate::fs::write_atomic(&dir.join(SIGNATURE_FILE), format!("{signature}\n").as_bytes(), 0o600)?;
    let signature_stamp = FileStamp::of_path(&dir.join(SIGNATURE_FILE))?;
    phases.mark("write");
    let copy = bytes.clone();
    threads.spawn(move || super::history::record(dir, &copy));
    Ok(Written {
        document,
        bytes,
        signature,
        signature_stamp,
    })
}

#[cfg(test)]
#[path = "publish_tests.rs"]
mod tests;
