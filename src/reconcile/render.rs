//! Render the verified document into the files this follower should have.
//!
//! config.toml and hooks.json get `${home}`/`${codexHome}` and the `[pathVariables]` of
//! local.toml expanded in string values and keys (never by text substitution); other files are
//! the master's bytes. Then the overlay (local MCP servers, skills, overrides) is applied and
//! `exclude` of local.toml leaves files out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::blobstore::BlobStore;
use crate::codex::config::{ParseError, parse_config, parse_hooks};
use crate::codex::layout::{CONFIG_TOML, HOOKS_JSON, classify};
use crate::codex::portable::{ExpandError, expand_json, expand_toml};
use crate::codex::trust::{TrustError, rekey_trust};
use crate::exit::{Exit, ExitStatus};
use crate::follower::local::LocalSettings;
use crate::follower::overlay::Overlay;
use crate::model::{DesiredState, FileClass};
use crate::paths::Roots;

use crate::mcp::artifact::Artifact;
use crate::mcp::install::InstallError;

use super::host::Host;
use super::{overlay_apply, render_mcp};

/// The launcher binary, relative to CODEXPORT_HOME.
pub const LAUNCHER: &str = "bin/codexport";
/// The MCP manifest, relative to CODEXPORT_HOME.
pub const MANIFEST: &str = "mcp-manifest.json";

/// Mode of the generated config.toml: it may hold MCP `env` secrets, so owner-only.
pub const CONFIG_MODE: u32 = 0o600;
/// Mode of the generated hooks.json when nothing in it looks secret (Codex only reads it; the
/// mode is the one Codex itself leaves).
pub const HOOKS_MODE: u32 = 0o644;

/// Mode of hooks.json for these bytes: 0600 when they hold something secret-shaped (a
/// `Bearer` credential or `--token=` in a hook command, a JSON value of a secret key: see
/// [`crate::logs::redaction`]), else [`HOOKS_MODE`].
pub fn hooks_mode(bytes: &[u8]) -> u32 {
    if crate::logs::redaction::looks_secret(&String::from_utf8_lossy(bytes)) {
        crate::fs::SECRET_MODE
    } else {
        HOOKS_MODE
    }
}

/// The mode a follower writes for a file of `class` that asks for `mode`: 0600 for a secret;
/// otherwise never more than 0755 for an executable (any `x` bit) or 0644 for anything else:
/// no group or world write, no setuid, setgid or sticky bit. A stricter mode is kept.
pub fn clamp_mode(mode: u32, class: FileClass) -> u32 {
    if class == FileClass::Secret {
        crate::fs::SECRET_MODE
    } else if mode & 0o111 != 0 {
        mode & 0o755
    } else {
        mode & 0o644
    }
}

/// Where a desired file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A blob in the follower store, used as is.
    Blob(PathBuf),
    /// Bytes rendered for this follower.
    Rendered(Vec<u8>),
}

/// Which root a desired path is relative to.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Root {
    /// CODEX_HOME: the replicated files (tracked in the inventory).
    #[default]
    CodexHome,
    /// CODEXPORT_HOME: codexport's own files (the launcher binary, the MCP manifest).
    CodexportHome,
}

impl Root {
    /// The absolute directory of this root.
    pub fn dir(self, roots: &Roots) -> &Path {
        match self {
            Root::CodexHome => &roots.codex_home,
            Root::CodexportHome => &roots.codexport_home,
        }
    }
}

/// An MCP artifact this follower should have installed.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredInstall {
    /// The server whose artifact it is (the first, when several share one install).
    pub server: String,
    /// What to install.
    pub artifact: Artifact,
    /// Where it goes, relative to CODEXPORT_HOME.
    pub dir: String,
    /// True when that directory holds exactly this artifact already.
    pub installed: bool,
}

/// One file the follower should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredFile {
    /// Relative to its root, `/`-separated.
    pub path: String,
    /// CODEX_HOME or CODEXPORT_HOME.
    pub root: Root,
    /// Its bytes.
    pub content: Content,
    /// Hex sha256 of those bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Mode to write (always within [`clamp_mode`] of its class).
    pub mode: u32,
    /// Class, decided by this follower from the path ([`crate::codex::layout::classify`]), never
    /// taken from the document: secrets are written 0600 and redacted in plans.
    pub class: FileClass,
}

/// Everything the follower should have for one revision.
#[derive(Debug, Clone)]
pub struct Desired {
    /// The revision rendered.
    pub revision: String,
    /// Files sorted by path.
    pub files: Vec<DesiredFile>,
    /// MCP artifacts to install (deduplicated by install directory).
    pub installs: Vec<DesiredInstall>,
    /// How config.toml was merged with the file on disk (set by
    /// [`super::config_step::merge_into`] before planning; `None` when there is no config.toml).
    pub config: Option<super::config_step::ConfigOutcome>,
    /// `exclude` of local.toml: matching paths are left as they are and no longer managed.
    pub exclude: Vec<String>,
    /// A rollback's restore: `files` is a generation's whole truth, so a file absent from it
    /// is not kept from the disk (hooks.json is not re-based on the follower's own file, which
    /// a render of a master without hooks.json does).
    pub restore: bool,
    /// A rollback's ceiling on config.toml ownership: the keys the restored generation owned.
    /// The merge owns no key outside it (the restored file also holds keys the follower wrote).
    pub restore_owned: Option<BTreeMap<String, String>>,
}

impl Desired {
    /// True when local.toml excludes `path` (relative to CODEX_HOME).
    pub fn excludes(&self, path: &str) -> bool {
        crate::follower::local::is_excluded(&self.exclude, path, crate::codex::layout::classify(path))
    }
}

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A blob of the document is missing from the store.
    #[error("blob {sha256} for {path} is not in the store")]
    MissingBlob {
        /// The file it is for.
        path: String,
        /// The hash.
        sha256: String,
    },
    /// A `${variable}` has no value on this follower.
    #[error("{file}: {source}")]
    Expand {
        /// config.toml or hooks.json.
        file: String,
        /// Which key and variable.
        source: ExpandError,
    },
    /// The canonical config.toml or hooks.json does not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The follower's overlay (mcps.local.toml, skills/, overrides/) is invalid.
    #[error(transparent)]
    Overlay(#[from] crate::follower::overlay::OverlayError),
    /// A local MCP server or skill has the name of one of the master's.
    #[error("{file}: the {what} `{name}` is also defined by the master")]
    NameTaken {
        /// The overlay file or directory.
        file: String,
        /// `MCP server` or `skill`.
        what: &'static str,
        /// The name.
        name: String,
        /// The local.toml list that allows the override.
        allow: &'static str,
    },
    /// An MCP artifact of the document cannot be installed safely (bad name or version).
    #[error(transparent)]
    Mcp(#[from] InstallError),
    /// I/O.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ExitStatus for RenderError {
    fn exit(&self) -> Exit {
        match self {
            RenderError::Expand { .. } | RenderError::NameTaken { .. } => Exit::Usage,
            RenderError::Overlay(e) => e.exit(),
            _ => Exit::Error,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            RenderError::Expand { .. } => Some(
                "give the variable a value for this follower in $CODEXPORT_HOME/local.toml, e.g. [pathVariables] workspaceRoot = \"/srv/work\"".into(),
            ),
            RenderError::NameTaken { name, allow, .. } => Some(format!(
                "rename yours, or let it replace the master's with {allow} = [\"{name}\"] in $CODEXPORT_HOME/local.toml"
            )),
            RenderError::Overlay(e) => e.hint(),
            RenderError::MissingBlob { .. } => Some("run `codexport sync` to fetch it".into()),
            _ => None,
        }
    }
}

/// The follower's own inputs to rendering: `local.toml` and the overlay.
#[derive(Debug, Clone, Copy)]
pub struct Local<'a> {
    /// local.toml (path variables, exclusions, allowed overrides).
    pub settings: &'a LocalSettings,
    /// mcps.local.toml, skills/, overrides/.
    pub overlay: &'a Overlay,
}

/// The variables a follower expands: `home`, `codexHome` and `[pathVariables]`.
pub fn variables(roots: &Roots, settings: &LocalSettings) -> BTreeMap<String, String> {
    let mut vars = settings.path_variables.clone();
    vars.insert("home".into(), roots.home.display().to_string());
    vars.insert("codexHome".into(), roots.codex_home.display().to_string());
    vars
}

/// Render `doc` for the follower at `roots`, reading blobs through `host`, with the follower's
/// `local` settings and overlay applied.
pub fn render(
    doc: &DesiredState,
    blobs: &BlobStore,
    roots: &Roots,
    host: &dyn Host,
    local: Local<'_>,
) -> Result<Desired, RenderError> {
    let vars = variables(roots, local.settings);
    let excluded = |path: &str, class: FileClass| local.settings.excludes(path, class);
    let mut files = Vec::with_capacity(doc.spec.files.len() + 2);
    for f in &doc.spec.files {
        // The document's `class` is the master's word: this follower classifies the path itself
        // (a document calling `.credentials.json` "instructions, 0644" gets it 0600, undiffed).
        let class = classify(&f.path);
        if excluded(&f.path, class) {
            continue;
        }
        let blob = blobs.path_of(&f.sha256);
        if host.file_size(&blob)?.is_none() {
            return Err(RenderError::MissingBlob {
                path: f.path.clone(),
                sha256: f.sha256.clone(),
            });
        }
        files.push(DesiredFile {
            path: f.path.clone(),
            root: Root::CodexHome,
            content: Content::Blob(blob),
            sha256: f.sha256.clone(),
            size: f.size,
            mode: clamp_mode(f.mode.0, class),
            class,
        });
    }
    let hooks_excluded = excluded(HOOKS_JSON, FileClass::Config);
    let hooks_value = match doc.spec.hooks.as_ref().filter(|_| !hooks_excluded) {
        Some(hooks) => Some(parse_hooks(
            Path::new(HOOKS_JSON),
            &blob_text(host, blobs, HOOKS_JSON, &hooks.sha256)?,
        )?),
        None => None,
    };
    let mut replaced_servers = BTreeSet::new();
    if !excluded(CONFIG_TOML, FileClass::Config) {
        let canonical = match &doc.spec.config {
            Some(config) => {
                let text = blob_text(host, blobs, CONFIG_TOML, &config.sha256)?;
                let mut parsed = parse_config(Path::new(CONFIG_TOML), &text)?;
                // Trust entries of the master's hooks, re-hashed for this follower's commands
                // (the report is not shown anywhere yet).
                let _trust = rekey_trust(&mut parsed, hooks_value.as_ref(), &master_variables(doc), &vars).map_err(
                    |TrustError::Expand { file, source, .. }| RenderError::Expand {
                        file: file.into(),
                        source,
                    },
                )?;
                expand_toml(&mut parsed, &vars).map_err(|source| RenderError::Expand {
                    file: CONFIG_TOML.into(),
                    source,
                })?;
                render_mcp::point_command_servers_at_the_launcher(&mut parsed, &roots.codexport_home);
                Some(parsed)
            }
            None => None,
        };
        let has_local = !local.overlay.mcp_servers.is_empty() || local.overlay.config_patch.is_some();
        if canonical.is_some() || has_local {
            let mut config = canonical.unwrap_or_default();
            replaced_servers = overlay_apply::apply_to_config(&mut config, local.overlay, local.settings, &vars)?;
            files.push(rendered(CONFIG_TOML, config.to_string().into_bytes(), CONFIG_MODE));
        }
    }
    if let Some(mut value) = hooks_value {
        expand_json(&mut value, &vars).map_err(|source| RenderError::Expand {
            file: HOOKS_JSON.into(),
            source,
        })?;
        let pretty = serde_json::to_string_pretty(&value).map_err(std::io::Error::other)? + "\n";
        let mode = hooks_mode(pretty.as_bytes());
        files.push(rendered(HOOKS_JSON, pretty.into_bytes(), mode));
    }
    overlay_apply::apply_to_files(&mut files, local.overlay, local.settings, host)?;
    let doc = &render_mcp::without_servers(doc, &replaced_servers);
    files.extend(render_mcp::own_files(doc, &vars, host)?);
    // The overlay's own files too: whatever asked for a mode, none is group/world writable.
    for f in &mut files {
        f.mode = clamp_mode(f.mode, f.class);
    }
    files.sort_by(|a, b| (a.root, &a.path).cmp(&(b.root, &b.path)));
    Ok(Desired {
        revision: doc.metadata.revision.clone(),
        files,
        installs: render_mcp::installs(doc, &roots.codexport_home)?,
        config: None,
        exclude: local.settings.exclude.clone(),
        restore: false,
        restore_owned: None,
    })
}

/// The master publishes trust hashes over the portable hooks
/// ([`crate::codex::trust::portable_trust`]): they are checked with every variable mapped to
/// itself.
fn master_variables(doc: &DesiredState) -> BTreeMap<String, String> {
    crate::codex::trust::identity_variables(&doc.spec.path_variables)
}

fn rendered(path: &str, bytes: Vec<u8>, mode: u32) -> DesiredFile {
    DesiredFile {
        path: path.into(),
        root: Root::CodexHome,
        sha256: crate::fs::sha256_hex(&bytes),
        size: bytes.len() as u64,
        content: Content::Rendered(bytes),
        mode,
        class: FileClass::Config,
    }
}

fn blob_text(host: &dyn Host, blobs: &BlobStore, path: &str, sha256: &str) -> Result<String, RenderError> {
    let bytes = host
        .read(&blobs.path_of(sha256))?
        .ok_or_else(|| RenderError::MissingBlob {
            path: path.into(),
            sha256: sha256.into(),
        })?;
    String::from_utf8(bytes).map_err(|_| {
        RenderError::Parse(ParseError {
            path: path.into(),
            line: 1,
            column: 1,
            reason: "not UTF-8".into(),
        })
    })
}
