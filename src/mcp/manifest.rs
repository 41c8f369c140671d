//! `$CODEXPORT_HOME/mcp-manifest.json` (mode 0600: it holds MCP `env` values) and the rewrite of
//! command servers in the generated config.toml to the launcher.
//!
//! Manifest shape (JSON): `{version: 1, revision, variables: {home, codexHome, ...},
//! servers: {<name>: {transport, definition, artifact}}}`. Definitions stay portable
//! (`${home}`...); `variables` holds this follower's values, which `mcp run` expands.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml_edit::{Array, InlineTable, Item, TableLike, Value};

use crate::model::{DesiredState, McpServerSpec};

/// File name under `$CODEXPORT_HOME`.
pub const MANIFEST_FILE: &str = "mcp-manifest.json";
/// Mode of the manifest (owner only).
pub const MANIFEST_MODE: u32 = 0o600;
/// Format version written in the manifest.
pub const MANIFEST_VERSION: u32 = 1;
/// Keys of a stdio server that only matter to the process, so they move into the manifest;
/// every other key (timeouts, `enabled`, tool lists, approvals, `env_vars`, unknown keys) stays in
/// config.toml.
pub const TRANSPORT_KEYS: &[&str] = &["command", "args", "env", "cwd"];

/// The manifest file. It holds no revision on purpose: it changes only when a server does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always [`MANIFEST_VERSION`].
    pub version: u32,
    /// Values for `${name}` in definitions on this follower (`home`, `codexHome`, path variables).
    pub variables: BTreeMap<String, String>,
    /// Every MCP server of the document, by name.
    pub servers: BTreeMap<String, McpServerSpec>,
}

/// Errors reading or writing the manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file does not exist (nothing applied yet).
    #[error("{} does not exist", .0.display())]
    Missing(PathBuf),
    /// The file is not a manifest this build reads.
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// I/O on a named path.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl crate::exit::ExitStatus for ManifestError {
    fn exit(&self) -> crate::exit::Exit {
        crate::exit::Exit::Error
    }
    fn hint(&self) -> Option<String> {
        Some("run `codexport reconcile` (or `codexport mcp install`) to write it again".into())
    }
}

impl Manifest {
    /// The manifest for `doc` with this follower's variables.
    pub fn new(doc: &DesiredState, variables: &BTreeMap<String, String>) -> Self {
        Manifest {
            version: MANIFEST_VERSION,
            variables: variables.clone(),
            servers: doc.spec.mcp_servers.clone(),
        }
    }

    /// `$CODEXPORT_HOME/mcp-manifest.json`.
    pub fn path(codexport_home: &Path) -> PathBuf {
        codexport_home.join(MANIFEST_FILE)
    }

    /// Read and check the manifest of `codexport_home`.
    pub fn load(codexport_home: &Path) -> Result<Self, ManifestError> {
        let path = Self::path(codexport_home);
        let bytes = match fs_err::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ManifestError::Missing(path)),
            Err(e) => return Err(e.into()),
        };
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| ManifestError::Invalid {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if m.version != MANIFEST_VERSION {
            return Err(ManifestError::Invalid {
                path,
                reason: format!("version {} (this codexport reads {MANIFEST_VERSION})", m.version),
            });
        }
        Ok(m)
    }
}

/// The manifest bytes (pretty JSON + newline) for `doc`; pure, for planning and hashing.
/// `variables` must hold at least `home` and `codexHome` of this follower.
pub fn render_manifest(doc: &DesiredState, variables: &BTreeMap<String, String>) -> Vec<u8> {
    let mut text = serde_json::to_string_pretty(&Manifest::new(doc, variables)).unwrap_or_default();
    text.push('\n');
    text.into_bytes()
}

/// Write `$CODEXPORT_HOME/mcp-manifest.json` atomically with mode 0600; returns its path.
pub fn write_manifest(
    codexport_home: &Path,
    doc: &DesiredState,
    variables: &BTreeMap<String, String>,
) -> Result<PathBuf, ManifestError> {
    crate::fs::create_private_dir(codexport_home)?;
    let path = Manifest::path(codexport_home);
    crate::fs::write_atomic(&path, &render_manifest(doc, variables), MANIFEST_MODE)?;
    Ok(path)
}

/// `$CODEXPORT_HOME/bin/codexport`, the launcher command servers point at.
pub fn launcher_path(codexport_home: &Path) -> PathBuf {
    codexport_home
        .join("bin")
        .join(if cfg!(windows) { "codexport.exe" } else { "codexport" })
}

/// Rewrite one `[mcp_servers.<name>]` table of the rendered config.toml to the launcher, in
/// place: `command = "<CODEXPORT_HOME>/bin/codexport"`, `args = ["mcp", "run", "<name>"]`,
/// `env = { CODEXPORT_HOME = "<CODEXPORT_HOME>" }` (Codex passes only a few variables to MCP
/// servers, so the launcher is told where its manifest is). `cwd` is removed; every other key
/// keeps its value, position and comments. A URL server (no `command`) is left untouched.
/// Returns true when the table was rewritten.
pub fn launcher_table(table: &mut dyn TableLike, name: &str, codexport_home: &Path) -> bool {
    if table.get("command").is_none() || table.get("url").is_some() {
        return false;
    }
    let home = codexport_home.display().to_string();
    let args: Array = ["mcp", "run", name].into_iter().collect();
    let mut env = InlineTable::new();
    env.insert("CODEXPORT_HOME", Value::from(home));
    set(
        table,
        "command",
        Value::from(launcher_path(codexport_home).display().to_string()),
    );
    set(table, "args", Value::Array(args));
    table.remove("cwd");
    table.remove("env");
    table.insert("env", Item::Value(Value::InlineTable(env)));
    true
}

/// Replace a value keeping its decor (comments) when it was a plain value.
fn set(table: &mut dyn TableLike, key: &str, mut value: Value) {
    if let Some(Item::Value(old)) = table.get(key) {
        *value.decor_mut() = old.decor().clone();
    }
    table.insert(key, Item::Value(value));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_servers_point_at_the_launcher_and_keep_other_keys() {
        let text = r#"# top
[mcp_servers.fs]
command = "node" # the runtime
args = ["/x/index.js"]
startup_timeout_sec = 20.0
disabled_tools = ["move_file"]
env_vars = ["TOKEN"]
cwd = "/tmp"

[mcp_servers.fs.env]
SECRET = "v"

[mcp_servers.fs.tools.read]
approval_mode = "approve"

[mcp_servers.gh]
url = "https://x/mcp"
bearer_token_env_var = "T"
"#;
        let mut doc: toml_edit::DocumentMut = text.parse().unwrap();
        let servers = doc["mcp_servers"].as_table_like_mut().unwrap();
        let fs = servers.get_mut("fs").unwrap().as_table_like_mut().unwrap();
        assert!(launcher_table(fs, "fs", Path::new("/h/.codexport")));
        let gh = servers.get_mut("gh").unwrap().as_table_like_mut().unwrap();
        assert!(!launcher_table(gh, "gh", Path::new("/h/.codexport")));
        let out = doc.to_string();
        assert!(
            out.contains("command = \"/h/.codexport/bin/codexport\" # the runtime"),
            "{out}"
        );
        assert!(out.contains("args = [\"mcp\", \"run\", \"fs\"]"), "{out}");
        assert!(out.contains("env = { CODEXPORT_HOME = \"/h/.codexport\" }"), "{out}");
        assert!(!out.contains("SECRET") && !out.contains("cwd"), "{out}");
        for kept in [
            "startup_timeout_sec = 20.0",
            "disabled_tools = [\"move_file\"]",
            "env_vars = [\"TOKEN\"]",
            "[mcp_servers.fs.tools.read]",
            "url = \"https://x/mcp\"",
            "# top",
        ] {
            assert!(out.contains(kept), "{kept} missing in\n{out}");
        }
        let v: toml::Table = toml::from_str(&out).unwrap();
        assert_eq!(
            v["mcp_servers"]["fs"]["tools"]["read"]["approval_mode"].as_str(),
            Some("approve")
        );
    }

    #[test]
    fn manifest_is_private_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let text = include_str!("../../examples/desired-state/master-basic.yaml");
        let doc: DesiredState = serde_yaml::from_str(text).unwrap();
        let vars = BTreeMap::from([("home".to_string(), "/home/bob".to_string())]);
        let path = write_manifest(dir.path(), &doc, &vars).unwrap();
        let mode = crate::fs::mode_of(&fs_err::metadata(&path).unwrap());
        assert_eq!(mode, MANIFEST_MODE);
        let back = Manifest::load(dir.path()).unwrap();
        assert_eq!(back.servers, doc.spec.mcp_servers);
        assert_eq!(back.variables, vars);
        assert!(matches!(
            Manifest::load(&dir.path().join("x")),
            Err(ManifestError::Missing(_))
        ));
    }
}
