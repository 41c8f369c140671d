//! What a command MCP server runs, as inferred on the master (DESIGN.md "MCP servers").
//!
//! An [`Artifact`] travels in the desired state under `spec.mcpServers.<name>.artifact`, tagged by
//! `kind` (`npm`, `uv`, `source-python`, `source-node`, `cargo`, `portable`, `local-binary`).
//! Paths inside it are portable (`${home}`/`${codexHome}`), like the definition itself.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::FileMode;

/// Where in the server's argv the artifact appeared on the master.
///
/// Absent (`None`) means the `command` itself; `Some(i)` means `args[i]` (for example
/// `node <prefix>/node_modules/<pkg>/dist/index.js`, where `args[0]` is the entry).
pub type ArgIndex = Option<usize>;

/// The inferred, portable artifact of a command MCP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Artifact {
    /// An npm package, installed on the follower with `npm install --prefix` at this exact version.
    #[serde(rename_all = "camelCase")]
    Npm {
        /// Package name as in its package.json, e.g. `@modelcontextprotocol/server-everything`.
        package: String,
        /// Exact version from the package's package.json, e.g. `2026.8.31`.
        version: String,
        /// Name of the package.json `bin` entry the master ran, when the target is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bin: Option<String>,
        /// Path of the file run, relative to the package directory (`/`-separated), when it is
        /// not a `bin` entry.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        entry: Option<String>,
        /// Which argv element pointed into the package (absent: the command).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        arg_index: ArgIndex,
    },
    /// A Python package installed as a uv tool; the follower installs `<package>==<version>` into
    /// its own uv tool directory and runs `bin`.
    #[serde(rename_all = "camelCase")]
    Uv {
        /// Distribution name from the uv tool receipt, e.g. `mcp-server-time`.
        package: String,
        /// Exact installed version (from the tool's `*.dist-info`), e.g. `2026.10.19`.
        version: String,
        /// The entry point the master ran, e.g. `mcp-server-time`.
        bin: String,
    },
    /// A local Python project (a directory with `pyproject.toml`); its files travel as blobs and
    /// the follower runs it in a uv-managed environment (`uv sync`).
    #[serde(rename_all = "camelCase")]
    SourcePython {
        /// The project directory on the master (portable form), for display only.
        dir: String,
        /// Console script the master ran (from the project's virtualenv `bin/`), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bin: Option<String>,
        /// Script the master ran, relative to the project directory, if not a console script.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        entry: Option<String>,
        /// Which argv element pointed into the project (absent: the command).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        arg_index: ArgIndex,
        /// The project's files (without `.git`, `.venv`, `__pycache__`, build output).
        files: Vec<SourceFile>,
    },
    /// A local Node package (a directory with `package.json` outside `node_modules`); its files
    /// travel as blobs and the follower runs `npm ci --omit=dev` (or `npm install --omit=dev`).
    #[serde(rename_all = "camelCase")]
    SourceNode {
        /// The package directory on the master (portable form), for display only.
        dir: String,
        /// Script the master ran, relative to the package directory.
        entry: String,
        /// Which argv element pointed into the package (absent: the command).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        arg_index: ArgIndex,
        /// The package's files (without `.git`, `node_modules`, build output).
        files: Vec<SourceFile>,
    },
    /// A binary installed by `cargo install` (listed in `~/.cargo/.crates2.json`); the follower
    /// runs `cargo install --locked <crate>@<version> --root ...`.
    #[serde(rename_all = "camelCase")]
    Cargo {
        /// Crate name, e.g. `ripgrep`.
        #[serde(rename = "crate")]
        crate_name: String,
        /// Exact version, e.g. `14.1.1`.
        version: String,
        /// Binary name, e.g. `rg`.
        bin: String,
    },
    /// Already portable: `npx`, `bunx`, `uvx`, `pipx run`, `docker`, `podman`, or a command found
    /// in a standard system directory. Run as it is.
    Portable,
    /// A local file that matches no rule; kept, and reported as missing where it is absent.
    #[serde(rename_all = "camelCase")]
    LocalBinary {
        /// The file the master ran (portable form), e.g. `${home}/bin/my-mcp`.
        path: String,
    },
}

/// One file of a source artifact, restored on the follower from the blob store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceFile {
    /// Relative to the project directory, `/`-separated, normalised (see `model::relpath`).
    pub path: String,
    /// Lowercase hex sha256 of the content.
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits as on the master.
    pub mode: FileMode,
}

impl Artifact {
    /// The `kind` tag as written in documents (`npm`, `source-python`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Artifact::Npm { .. } => "npm",
            Artifact::Uv { .. } => "uv",
            Artifact::SourcePython { .. } => "source-python",
            Artifact::SourceNode { .. } => "source-node",
            Artifact::Cargo { .. } => "cargo",
            Artifact::Portable => "portable",
            Artifact::LocalBinary { .. } => "local-binary",
        }
    }

    /// The files that travel as blobs (empty unless a source artifact).
    pub fn files(&self) -> &[SourceFile] {
        match self {
            Artifact::SourcePython { files, .. } | Artifact::SourceNode { files, .. } => files,
            _ => &[],
        }
    }

    /// One line for humans, e.g. `npm @x/y@1.2.3 (bin y)` or `local-binary ${home}/bin/z`.
    pub fn describe(&self) -> String {
        match self {
            Artifact::Npm {
                package,
                version,
                bin,
                entry,
                ..
            } => match (bin, entry) {
                (Some(b), _) => format!("npm {package}@{version} (bin {b})"),
                (None, Some(e)) => format!("npm {package}@{version} (entry {e})"),
                _ => format!("npm {package}@{version}"),
            },
            Artifact::Uv { package, version, bin } => format!("uv {package}=={version} (bin {bin})"),
            Artifact::SourcePython { dir, files, .. } => format!("source-python {dir} ({} files)", files.len()),
            Artifact::SourceNode { dir, files, .. } => format!("source-node {dir} ({} files)", files.len()),
            Artifact::Cargo {
                crate_name,
                version,
                bin,
            } => format!("cargo {crate_name}@{version} (bin {bin})"),
            Artifact::Portable => "portable".into(),
            Artifact::LocalBinary { path } => format!("local-binary {path}"),
        }
    }

    /// Content hash of a source artifact's file list (hex, 12 digits), used to name its install
    /// directory `mcp-artifacts/src/<name>-<hash>/`; `None` for other kinds.
    pub fn source_hash(&self) -> Option<String> {
        match self {
            Artifact::SourcePython { .. } | Artifact::SourceNode { .. } => {
                let list: String = self
                    .files()
                    .iter()
                    .map(|f| format!("{} {} {}\n", f.path, f.sha256, f.mode))
                    .collect();
                Some(crate::fs::sha256_hex(list.as_bytes())[..12].to_string())
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_are_tagged_by_kind_in_kebab_case() {
        let a = Artifact::Npm {
            package: "@x/y".into(),
            version: "1.2.3".into(),
            bin: Some("y".into()),
            entry: None,
            arg_index: None,
        };
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"kind": "npm", "package": "@x/y", "version": "1.2.3", "bin": "y"})
        );
        let c: Artifact =
            serde_json::from_value(serde_json::json!({"kind": "cargo", "crate": "rg", "version": "1", "bin": "rg"}))
                .unwrap();
        assert_eq!(c.kind(), "cargo");
        let p: Artifact = serde_json::from_value(serde_json::json!({"kind": "portable"})).unwrap();
        assert_eq!(p, Artifact::Portable);
        let l = serde_json::to_value(Artifact::LocalBinary {
            path: "${home}/b".into(),
        })
        .unwrap();
        assert_eq!(l, serde_json::json!({"kind": "local-binary", "path": "${home}/b"}));
    }
}
