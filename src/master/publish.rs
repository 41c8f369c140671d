//! Publish: scan CODEX_HOME, store blobs, build, sign and write the desired-state document.
//!
//! Writes `master/blobs/`, then `state.yaml` and `state.yaml.sig` (each atomically), then the
//! stat cache ([`super::statcache`]). Publishing the same tree again gives the same revision and
//! leaves the document untouched; it reads only the files whose size or stamp changed.
//! Publishes are serialised by an OS lock on `master/publish.lock`: `master rebuild` and the
//! watcher of `master serve` ([`super::watch`]) may run at once, and two interleaved publishes
//! could otherwise leave one's `state.yaml` beside the other's signature.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::blobstore::BlobStore;
use crate::codex::config::{ParseError, parse_config, parse_hooks};
use crate::codex::layout::{CONFIG_TOML, HOOKS_JSON};
use crate::codex::portable::{MasterPaths, portable_json, portable_toml, variables_in_json, variables_in_toml};
use crate::codex::trust::portable_trust;
use crate::model::document::{API_VERSION, KIND, McpTransport};
use crate::model::{BlobRef, DesiredState, FileEntry, FileMode, MasterInfo, McpServerSpec, Metadata, Spec};
use crate::paths::Roots;
use crate::reconcile::host::{Host, LockError, RealHost};

use super::identity::{Identity, IdentityError};
use super::scan::{ScanError, ScanReport, ScannedFile, scan};
use super::settings::{MasterSettings, SettingsError};
use super::statcache::{StatCache, hash_and_store};

/// Document file name inside the master directory.
pub const STATE_FILE: &str = "state.yaml";
/// Signature file name (hex Ed25519 over the exact bytes of state.yaml).
pub const SIGNATURE_FILE: &str = "state.yaml.sig";
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
    pub scan: ScanReport,
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
    let started = std::time::Instant::now();
    let result = publish_now(roots);
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
        Err(e) => tracing::debug!(ms, "publish failed: {e}"),
    }
    result
}

fn publish_now(roots: &Roots) -> Result<PublishReport, PublishError> {
    let dir = roots.master_dir();
    let settings = MasterSettings::load(&dir)?;
    // After the settings: a machine that is not a master gets NotInitialized, not a new dir.
    let _lock = RealHost.lock(&dir.join(LOCK_FILE), LOCK_WAIT)?;
    let identity = Identity::load(&dir)?;
    let mut phases = Phases::start();
    let report = scan(&roots.codex_home, &settings)?;
    phases.mark("scan");
    // Followers refuse a document with a path they cannot hold; refuse it here, naming it.
    crate::model::relpath::validate_set(report.files.iter().map(|f| f.rel.as_str()))?;
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
    let mut variables = BTreeSet::new();
    // Plain files: hashed (or found in the stat cache) and stored in parallel.
    let plain: Vec<&ScannedFile> = report
        .files
        .iter()
        .filter(|f| f.rel != CONFIG_TOML && f.rel != HOOKS_JSON)
        .collect();
    let cache = StatCache::load(&dir);
    let started = std::time::SystemTime::now();
    let stored = hash_and_store(&plain, &blobs, &cache)?;
    let cached = stored.iter().filter(|s| s.cached).count();
    phases.mark("hash");
    for (file, s) in plain.iter().zip(&stored) {
        spec.files.push(FileEntry {
            path: file.rel.clone(),
            sha256: s.sha256.clone(),
            size: s.size,
            mode: FileMode(file.mode),
            class: file.class,
        });
    }
    let mut hooks_value = None;
    if let Some(file) = report.files.iter().find(|f| f.rel == HOOKS_JSON) {
        let text = read_text(&file.abs)?;
        let mut value = parse_hooks(&file.abs, &text)?;
        portable_json(&mut value, &master_paths);
        variables.extend(variables_in_json(&value));
        let pretty = serde_json::to_string_pretty(&value).map_err(|e| PublishError::Serialize(e.to_string()))? + "\n";
        spec.hooks = Some(put(&blobs, pretty.as_bytes())?);
        hooks_value = Some(value);
    }
    if let Some(file) = report.files.iter().find(|f| f.rel == CONFIG_TOML) {
        let text = read_text(&file.abs)?;
        let mut doc = parse_config(&file.abs, &text)?;
        portable_toml(&mut doc, &master_paths);
        variables.extend(variables_in_toml(&doc));
        // Trust is published over the portable hooks (the same on every machine); a hook
        // whose variables the master cannot rebuild stays untrusted.
        let mut master_vars = master_paths.variables.clone();
        master_vars.insert("home".into(), master_paths.home.trim_end_matches(['/', '\\']).into());
        master_vars.insert(
            "codexHome".into(),
            master_paths.codex_home.trim_end_matches(['/', '\\']).into(),
        );
        let names: Vec<String> = variables.iter().cloned().collect();
        let _ = portable_trust(&mut doc, hooks_value.as_ref(), &master_vars, &names);
        let portable = doc.to_string();
        spec.mcp_servers = mcp_servers(&file.abs, &portable)?;
        let env = crate::mcp::infer::InferEnv::from_process(master_paths.clone());
        crate::mcp::attach_artifacts(&mut spec.mcp_servers, &env, &blobs)?;
        spec.config = Some(put(&blobs, portable.as_bytes())?);
    }
    // Best effort: a cache that could not be written only means hashing again next time.
    // Rewritten only when some file was read or a shard stamp is not recorded yet (a fully cached
    // publish would write it unchanged).
    if stored.iter().any(|s| !s.cached) || cache.len() != plain.len() || cache.shards_stale(&blobs) {
        let _ = StatCache::save(&dir, &plain, &stored, &blobs, started);
    }
    phases.mark("config");
    variables.remove("home");
    variables.remove("codexHome");
    spec.path_variables = variables.into_iter().collect();

    let revision = spec.revision();
    // Unchanged only when the published document verifies with this identity: a lost signature
    // or a rotated key (master init --rotate-key) signs again.
    let previous = signed_revision(&dir, &identity);
    let changed = previous.as_deref() != Some(revision.as_str());
    phases.mark("revision");
    if changed {
        let doc = DesiredState {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            metadata: Metadata {
                revision: revision.clone(),
                master: MasterInfo {
                    fingerprint: identity.fingerprint(),
                    public_key: identity.public_key_hex(),
                    hostname: gethostname::gethostname().to_string_lossy().into_owned(),
                    home: master_paths.home.clone(),
                    codex_home: master_paths.codex_home.clone(),
                },
                generated_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            },
            spec,
        };
        let yaml = crate::model::yaml::to_yaml(&doc).map_err(|e| PublishError::Serialize(e.to_string()))?;
        phases.mark("yaml");
        let signature = identity.sign(yaml.as_bytes());
        phases.mark("sign");
        crate::fs::write_atomic(&dir.join(STATE_FILE), yaml.as_bytes(), 0o600)?;
        crate::fs::write_atomic(&dir.join(SIGNATURE_FILE), format!("{signature}\n").as_bytes(), 0o600)?;
        super::history::record(&dir, yaml.as_bytes());
        phases.mark("write");
        phases.log();
        return Ok(PublishReport {
            revision,
            changed,
            files: report.files.len(),
            bytes,
            mcp_servers: doc.spec.mcp_servers.len(),
            cached,
            scan: report,
        });
    }
    phases.log();
    Ok(PublishReport {
        revision,
        changed,
        files: report.files.len(),
        bytes,
        mcp_servers: spec.mcp_servers.len(),
        cached,
        scan: report,
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

/// The revision in `dir/state.yaml`, if one was published and still parses.
pub fn current_revision(dir: &Path) -> Option<String> {
    let bytes = fs_err::read(dir.join(STATE_FILE)).ok()?;
    revision_of(&bytes)
}

/// The revision of published document bytes without parsing `spec` (thousands of entries):
/// only the part before the top-level `spec:` key, which publish writes last. Falls back to a
/// full parse when the bytes are not laid out that way.
fn revision_of(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Head {
        metadata: HeadMetadata,
    }
    #[derive(serde::Deserialize)]
    struct HeadMetadata {
        revision: String,
    }
    let head = bytes
        .windows(7)
        .position(|w| w == b"\nspec:\n" || w == b"\nspec: ")
        .map(|end| &bytes[..end + 1]);
    if let Some(head) = head
        && let Ok(h) = serde_yaml::from_slice::<Head>(head)
    {
        return Some(h.metadata.revision);
    }
    let doc: DesiredState = serde_yaml::from_slice(bytes).ok()?;
    Some(doc.metadata.revision)
}

/// The published revision, only when `state.yaml.sig` verifies with this identity: a lost or
/// broken signature (say, a crash between the two writes) makes the next publish sign again.
fn signed_revision(dir: &Path, identity: &Identity) -> Option<String> {
    let bytes = fs_err::read(dir.join(STATE_FILE)).ok()?;
    let signature = fs_err::read_to_string(dir.join(SIGNATURE_FILE)).ok()?;
    super::identity::verify(&identity.public_key_hex(), &bytes, signature.trim()).ok()?;
    revision_of(&bytes)
}

fn put(blobs: &BlobStore, bytes: &[u8]) -> Result<BlobRef, PublishError> {
    Ok(BlobRef {
        sha256: blobs.put_bytes(bytes)?,
        size: bytes.len() as u64,
    })
}

fn read_text(path: &Path) -> Result<String, PublishError> {
    let bytes = fs_err::read(path)?;
    String::from_utf8(bytes).map_err(|_| PublishError::NotText(path.to_path_buf()))
}

/// Every `[mcp_servers.*]` table of the (portable) config, with its transport.
fn mcp_servers(path: &Path, portable: &str) -> Result<BTreeMap<String, McpServerSpec>, PublishError> {
    let table: toml::Table = toml::from_str(portable).map_err(|e| ParseError {
        path: path.to_path_buf(),
        line: 0,
        column: 0,
        reason: e.to_string(),
    })?;
    let mut out = BTreeMap::new();
    let Some(toml::Value::Table(servers)) = table.get("mcp_servers") else {
        return Ok(out);
    };
    for (name, server) in servers {
        let toml::Value::Table(server) = server else { continue };
        let transport = if server.contains_key("url") {
            McpTransport::Http
        } else {
            McpTransport::Stdio
        };
        let definition = match serde_json::to_value(server) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => continue,
        };
        out.insert(
            name.clone(),
            McpServerSpec {
                transport,
                definition,
                artifact: None,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_of_reads_the_head_and_falls_back_to_a_full_parse() {
        let text = include_str!("../../examples/desired-state/master-basic.yaml");
        let doc: DesiredState = serde_yaml::from_str(text).unwrap();
        assert_eq!(revision_of(text.as_bytes()), Some(doc.metadata.revision.clone()));
        // spec first: no head before it, so the whole document is parsed.
        let mut reordered = serde_yaml::Mapping::new();
        let value: serde_yaml::Mapping = serde_yaml::from_str(text).unwrap();
        for key in ["spec", "apiVersion", "kind", "metadata"] {
            reordered.insert(key.into(), value[key].clone());
        }
        let bytes = serde_yaml::to_string(&reordered).unwrap();
        assert!(bytes.starts_with("spec:"));
        assert_eq!(revision_of(bytes.as_bytes()), Some(doc.metadata.revision));
        assert_eq!(revision_of(b"not: [yaml"), None);
    }
}
