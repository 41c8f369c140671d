//! The follower's overlay, written by the operator under `$CODEXPORT_HOME/` (DESIGN.md
//! "Rendering on the follower"):
//!
//! - `mcps.local.toml`: `[mcp_servers.<name>]` tables added to the generated config.toml;
//! - `skills/<name>/`: skills added to `~/.codex/skills/` (each needs a `SKILL.md`);
//! - `overrides/config.toml`: a TOML patch merged key by key over the canonical config;
//! - `overrides/<path>`: replaces the canonical file at `<path>` (or adds it).
//!
//! Loading validates everything before anything is rendered: a file that is not TOML is named
//! with its line and column, a symlink or a runtime-state path is refused, sizes are capped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Table};

use crate::codex::config::parse_config;
use crate::codex::layout::{CONFIG_TOML, is_runtime_state};
use crate::exit::{Exit, ExitStatus};

/// Local MCP servers, inside CODEXPORT_HOME.
pub const MCPS_LOCAL: &str = "mcps.local.toml";
/// Local skills directory, inside CODEXPORT_HOME.
pub const SKILLS_DIR: &str = "skills";
/// Local overrides directory, inside CODEXPORT_HOME.
pub const OVERRIDES_DIR: &str = "overrides";
/// Largest overlay file accepted, in bytes (the master's per-file cap).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// One local file that lands in CODEX_HOME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlayFile {
    /// Where it lands, relative to CODEX_HOME, `/`-separated.
    pub path: String,
    /// The operator's file.
    pub source: PathBuf,
    /// Its permission bits.
    pub mode: u32,
}

/// Everything the overlay adds or replaces.
#[derive(Debug, Clone, Default)]
pub struct Overlay {
    /// The `[mcp_servers]` table of `mcps.local.toml` (one sub-table per server).
    pub mcp_servers: Table,
    /// Local skills by name.
    pub skills: BTreeMap<String, Vec<OverlayFile>>,
    /// `overrides/config.toml`.
    pub config_patch: Option<DocumentMut>,
    /// Every other file under `overrides/`.
    pub files: Vec<OverlayFile>,
}

/// A file of the overlay that cannot be used. Nothing is written when this is returned.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct OverlayError {
    /// The file (with `:line:column` when the problem has a position).
    pub path: PathBuf,
    /// What is wrong and what to do.
    pub reason: String,
}

impl ExitStatus for OverlayError {
    fn exit(&self) -> Exit {
        Exit::Usage
    }
    fn hint(&self) -> Option<String> {
        Some("fix the file in $CODEXPORT_HOME (see docs/overlay.md), then run `codexport plan`".into())
    }
}

fn err(path: &Path, reason: impl Into<String>) -> OverlayError {
    OverlayError {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl Overlay {
    /// Load and validate the overlay under `codexport_home` (an absent part is empty).
    pub fn load(codexport_home: &Path) -> Result<Self, OverlayError> {
        let mut overlay = Overlay {
            mcp_servers: load_mcps(&codexport_home.join(MCPS_LOCAL))?,
            ..Overlay::default()
        };
        let skills_dir = codexport_home.join(SKILLS_DIR);
        for file in walk(&skills_dir)? {
            let Some((name, _)) = file.path.split_once('/') else {
                return Err(err(
                    &file.source,
                    "a local skill is a directory skills/<name>/ with a SKILL.md; move this file into one",
                ));
            };
            let name = name.to_owned();
            overlay.skills.entry(name).or_default().push(OverlayFile {
                path: format!("{SKILLS_DIR}/{}", file.path),
                ..file
            });
        }
        for (name, files) in &overlay.skills {
            if !files.iter().any(|f| f.path == format!("{SKILLS_DIR}/{name}/SKILL.md")) {
                return Err(err(
                    &skills_dir.join(name),
                    "a skill needs a SKILL.md (Codex ignores the directory without one)",
                ));
            }
        }
        for file in walk(&codexport_home.join(OVERRIDES_DIR))? {
            if file.path == CONFIG_TOML {
                let text = read_text(&file.source)?;
                let patch = parse_config(&file.source, &text).map_err(|e| OverlayError {
                    path: PathBuf::from(format!("{}:{}:{}", e.path.display(), e.line, e.column)),
                    reason: e.reason,
                })?;
                overlay.config_patch = Some(patch);
            } else if is_runtime_state(&file.path) {
                return Err(err(
                    &file.source,
                    "this is Codex runtime state, which codexport never writes; remove it from overrides/",
                ));
            } else {
                overlay.files.push(file);
            }
        }
        Ok(overlay)
    }

    /// True when the overlay adds or replaces nothing.
    pub fn is_empty(&self) -> bool {
        self.mcp_servers.is_empty() && self.skills.is_empty() && self.config_patch.is_none() && self.files.is_empty()
    }
}

fn read_text(path: &Path) -> Result<String, OverlayError> {
    let meta = fs_err::metadata(path).map_err(|e| err(path, e.to_string()))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(err(
            path,
            format!("{} bytes is over the {MAX_FILE_BYTES}-byte cap", meta.len()),
        ));
    }
    let bytes = fs_err::read(path).map_err(|e| err(path, e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| err(path, "not UTF-8"))
}

/// `mcps.local.toml`: only `[mcp_servers.<name>]` tables, each with a `command` or a `url`.
fn load_mcps(path: &Path) -> Result<Table, OverlayError> {
    if !path.exists() {
        return Ok(Table::new());
    }
    let text = read_text(path)?;
    let doc = parse_config(path, &text).map_err(|e| OverlayError {
        path: PathBuf::from(format!("{}:{}:{}", e.path.display(), e.line, e.column)),
        reason: e.reason,
    })?;
    for (key, _) in doc.iter() {
        if key != "mcp_servers" {
            return Err(err(
                path,
                format!(
                    "`{key}` is not an MCP server: only [mcp_servers.<name>] tables belong here (other keys go in overrides/config.toml)"
                ),
            ));
        }
    }
    let Some(servers) = doc.get("mcp_servers") else {
        return Ok(Table::new());
    };
    let Some(servers) = servers.as_table_like() else {
        return Err(err(
            path,
            "`mcp_servers` must be a table of [mcp_servers.<name>] tables",
        ));
    };
    let mut out = Table::new();
    out.set_implicit(true);
    for (name, server) in servers.iter() {
        let Some(table) = server.as_table_like() else {
            return Err(err(path, format!("mcp_servers.{name} must be a table")));
        };
        match (table.contains_key("command"), table.contains_key("url")) {
            (true, false) | (false, true) => {}
            (false, false) => {
                return Err(err(
                    path,
                    format!("mcp_servers.{name} has neither `command` (stdio) nor `url` (HTTP)"),
                ));
            }
            (true, true) => {
                return Err(err(
                    path,
                    format!("mcp_servers.{name} has both `command` and `url`; Codex refuses that, keep one"),
                ));
            }
        }
        out.insert(name, server.clone());
    }
    Ok(out)
}

/// Regular files under `dir`, relative paths sorted; symlinks and special files are refused.
fn walk(dir: &Path) -> Result<Vec<OverlayFile>, OverlayError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).min_depth(1).sort_by_file_name() {
        let entry = entry.map_err(|e| err(e.path().unwrap_or(dir), e.to_string()))?;
        let ft = entry.file_type();
        if ft.is_dir() {
            continue;
        }
        if !ft.is_file() {
            return Err(err(
                entry.path(),
                "symlinks and special files are not taken from the overlay; copy the file in",
            ));
        }
        let rel = entry
            .path()
            .strip_prefix(dir)
            .map_err(|e| err(entry.path(), e.to_string()))?
            .to_string_lossy()
            .replace(std::path::MAIN_SEPARATOR, "/");
        crate::model::relpath::validate(&rel).map_err(|e| err(entry.path(), e.to_string()))?;
        let meta = entry.metadata().map_err(|e| err(entry.path(), e.to_string()))?;
        if meta.len() > MAX_FILE_BYTES {
            return Err(err(
                entry.path(),
                format!("{} bytes is over the {MAX_FILE_BYTES}-byte cap", meta.len()),
            ));
        }
        out.push(OverlayFile {
            path: rel,
            source: entry.path().to_path_buf(),
            mode: crate::fs::mode_of(&meta) & 0o777,
        });
    }
    Ok(out)
}

#[cfg(test)]
#[path = "overlay_tests.rs"]
mod tests;
