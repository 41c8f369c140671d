//! Installing MCP artifacts on a follower under `$CODEXPORT_HOME/mcp-artifacts/` (issue 5 item 3).
//!
//! Layout (one directory per exact artifact, so versions never clash):
//! - npm: `npm/<package>@<version>/` via `npm install --prefix <dir> <package>@<version>`
//! - uv: `uv/<package>@<version>/{tools,bin}/` via `uv tool install <package>==<version>` with
//!   `UV_TOOL_DIR`/`UV_TOOL_BIN_DIR` pointing there (the user's own uv tools are untouched)
//! - cargo: `cargo/<crate>@<version>/` via `cargo install --locked <crate>@<version> --root <dir>`
//! - source: `src/<name>-<hash>/` restored from blobs, then `npm ci --omit=dev` (or
//!   `npm install --omit=dev` without a lockfile) / `uv sync --no-dev`
//!
//! A directory counts as installed only when its marker `.codexport-installed` holds the
//! artifact's [`install_key`], written last; so an interrupted install is redone from scratch. Child output is
//! captured (never inherited): stdout is the MCP channel when called from `mcp run`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::blobstore::BlobStore;

use super::artifact::Artifact;
use super::names::{check_npm_name, check_version, check_word};
use super::source::SourceError;

/// Directory under `$CODEXPORT_HOME` holding every artifact.
pub const ARTIFACTS_DIR: &str = "mcp-artifacts";
/// Marker written last into a complete install directory.
pub const MARKER: &str = ".codexport-installed";
/// uv version installed into `mcp-artifacts/tools/uv` when no `uv` is found.
pub const UV_VERSION: &str = "0.13.8";

/// Where installs happen and which tools they may use.
#[derive(Debug, Clone)]
pub struct InstallEnv {
    /// `$CODEXPORT_HOME`.
    pub codexport_home: PathBuf,
    /// The follower's home (for `~/.local/bin` and `~/.cargo/bin` when looking for tools).
    pub home: PathBuf,
    /// Directories searched for `npm`, `uv`, `cargo`, `python3` (the process `PATH`).
    pub path: Vec<PathBuf>,
    /// The follower's blob store (source artifacts).
    pub blobs: BlobStore,
}

impl InstallEnv {
    /// From the process `PATH`, with the follower store of `codexport_home`.
    pub fn from_process(codexport_home: &Path, home: &Path) -> Self {
        let path = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        InstallEnv {
            codexport_home: codexport_home.to_path_buf(),
            home: home.to_path_buf(),
            path,
            blobs: crate::follower::store::FollowerStore::new(codexport_home).blobs(),
        }
    }

    /// Find `tool`: `PATH`, then `mcp-artifacts/tools/<tool>/bin`, `~/.local/bin`, `~/.cargo/bin`.
    pub fn find_tool(&self, tool: &str) -> Option<PathBuf> {
        let extra = [
            self.codexport_home
                .join(ARTIFACTS_DIR)
                .join("tools")
                .join(tool)
                .join("bin"),
            self.home.join(".local/bin"),
            self.home.join(".cargo/bin"),
        ];
        self.path
            .iter()
            .cloned()
            .chain(extra)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    }
}

/// What [`install`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallOutcome {
    /// The exact artifact was already installed; nothing ran.
    AlreadyInstalled,
    /// Installed now.
    Installed,
    /// Nothing to install (`portable`, `local-binary`).
    NotNeeded,
}

/// Why an install failed. Every variant names the server.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// A tool the install needs is not on this machine.
    #[error("MCP server `{server}`: `{tool}` is needed to install {what} but was not found")]
    MissingTool {
        /// The server.
        server: String,
        /// `npm`, `uv`, `cargo`, `python3`.
        tool: String,
        /// The artifact, described.
        what: String,
    },
    /// The install command failed.
    #[error("MCP server `{server}`: `{command}` failed ({status}): {stderr_tail}")]
    Failed {
        /// The server.
        server: String,
        /// The command line run.
        command: String,
        /// Its exit status.
        status: String,
        /// The last lines of its stderr (and stdout).
        stderr_tail: String,
    },
    /// A name or version from the document is not safe to use in a path or argv.
    #[error("MCP server `{server}`: refusing artifact: {reason}")]
    BadArtifact {
        /// The server.
        server: String,
        /// Why.
        reason: String,
    },
    /// Restoring source files.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// I/O on a named path.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl crate::exit::ExitStatus for InstallError {
    fn exit(&self) -> crate::exit::Exit {
        match self {
            InstallError::BadArtifact { .. } => crate::exit::Exit::Trust,
            _ => crate::exit::Exit::Error,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            InstallError::MissingTool { tool, .. } => Some(repair_for_tool(tool)),
            InstallError::Failed { .. } => Some("fix the cause above, then run `codexport mcp install`".into()),
            InstallError::Source(e) => crate::exit::ExitStatus::hint(e),
            _ => None,
        }
    }
}

/// The repair step for a missing tool, in one phrase.
pub fn repair_for_tool(tool: &str) -> String {
    match tool {
        "npm" | "npx" | "node" => {
            "install Node.js (with npm), e.g. from https://nodejs.org or your package manager".into()
        }
        "uv" | "uvx" => "install uv: `python3 -m pip install --user uv` (or https://docs.astral.sh/uv/)".into(),
        "cargo" => "install Rust with https://rustup.rs".into(),
        "python3" => "install Python 3".into(),
        other => format!("install `{other}` on this machine"),
    }
}

/// The install directory of `artifact` for server `name`; `None` when nothing is installed
/// (`portable`, `local-binary`). Fails on names unsafe in a path.
pub fn install_dir(codexport_home: &Path, name: &str, artifact: &Artifact) -> Result<Option<PathBuf>, InstallError> {
    let root = codexport_home.join(ARTIFACTS_DIR);
    let bad = |reason: String| InstallError::BadArtifact {
        server: name.to_string(),
        reason,
    };
    let dir = match artifact {
        Artifact::Npm { package, version, .. } => {
            check_npm_name(package).map_err(bad)?;
            check_version(version).map_err(bad)?;
            root.join("npm").join(format!("{package}@{version}"))
        }
        Artifact::Uv { package, version, bin } => {
            check_word(package, "package").map_err(bad)?;
            check_version(version).map_err(bad)?;
            check_word(bin, "bin").map_err(bad)?;
            root.join("uv").join(format!("{package}@{version}"))
        }
        Artifact::Cargo {
            crate_name,
            version,
            bin,
        } => {
            check_word(crate_name, "crate").map_err(bad)?;
            check_version(version).map_err(bad)?;
            check_word(bin, "bin").map_err(bad)?;
            root.join("cargo").join(format!("{crate_name}@{version}"))
        }
        Artifact::SourcePython { .. } | Artifact::SourceNode { .. } => {
            check_word(name, "server name").map_err(bad)?;
            let hash = artifact.source_hash().unwrap_or_default();
            root.join("src").join(format!("{name}-{hash}"))
        }
        Artifact::Portable | Artifact::LocalBinary { .. } => return Ok(None),
    };
    Ok(Some(dir))
}

/// True when `dir` holds a complete install of exactly `artifact` (same [`install_key`]).
pub fn is_installed(dir: &Path, artifact: &Artifact) -> bool {
    fs_err::read(dir.join(MARKER)).is_ok_and(|have| have == install_key(artifact).as_bytes())
}

/// What identifies an install (the marker's content): kind, name and exact version, or the
/// source hash; two servers running the same package in different ways share one install.
pub fn install_key(artifact: &Artifact) -> String {
    match artifact {
        Artifact::Npm { package, version, .. } => format!("npm {package}@{version}\n"),
        Artifact::Uv { package, version, .. } => format!("uv {package}=={version}\n"),
        Artifact::Cargo {
            crate_name, version, ..
        } => format!("cargo {crate_name}@{version}\n"),
        other => format!("{} {}\n", other.kind(), other.source_hash().unwrap_or_default()),
    }
}

/// Install the artifact of server `name` (idempotent: skipped when already installed).
///
/// Errors: [`InstallError::MissingTool`] (npm/cargo/python3 absent; uv is installed into
/// `mcp-artifacts/tools/uv` first when missing), [`InstallError::Failed`] with the command and
/// its stderr tail, [`InstallError::BadArtifact`], source and I/O errors naming the path.
pub fn install(name: &str, artifact: &Artifact, env: &InstallEnv) -> Result<InstallOutcome, InstallError> {
    let Some(dir) = install_dir(&env.codexport_home, name, artifact)? else {
        return Ok(InstallOutcome::NotNeeded);
    };
    if is_installed(&dir, artifact) {
        tracing::debug!(server = name, artifact = %artifact.describe(), "already installed");
        return Ok(InstallOutcome::AlreadyInstalled);
    }
    tracing::info!(server = name, artifact = %artifact.describe(), dir = %dir.display(), "installing MCP artifact");
    if dir.exists() {
        fs_err::remove_dir_all(&dir)?;
    }
    fs_err::create_dir_all(&dir)?;
    let need = |tool: &str| -> Result<PathBuf, InstallError> {
        env.find_tool(tool).ok_or_else(|| InstallError::MissingTool {
            server: name.to_string(),
            tool: tool.to_string(),
            what: artifact.describe(),
        })
    };
    match artifact {
        Artifact::Npm { package, version, .. } => {
            let mut c = Command::new(need("npm")?);
            c.args(["install", "--no-audit", "--no-fund", "--prefix"])
                .arg(&dir)
                .arg(format!("{package}@{version}"));
            run(name, c)?;
        }
        Artifact::Uv { package, version, .. } => {
            let uv = ensure_uv(name, env)?;
            let mut c = Command::new(uv);
            c.args(["tool", "install", &format!("{package}=={version}")])
                .env("UV_TOOL_DIR", dir.join("tools"))
                .env("UV_TOOL_BIN_DIR", dir.join("bin"));
            run(name, c)?;
        }
        Artifact::Cargo {
            crate_name, version, ..
        } => {
            let mut c = Command::new(need("cargo")?);
            c.args(["install", "--locked", &format!("{crate_name}@{version}"), "--root"])
                .arg(&dir);
            run(name, c)?;
        }
        Artifact::SourceNode { files, .. } => {
            super::source::restore(name, files, &env.blobs, &dir)?;
            let verb = if dir.join("package-lock.json").is_file() {
                "ci"
            } else {
                "install"
            };
            let mut c = Command::new(need("npm")?);
            c.args([verb, "--omit=dev", "--no-audit", "--no-fund"])
                .current_dir(&dir);
            run(name, c)?;
        }
        Artifact::SourcePython { files, .. } => {
            super::source::restore(name, files, &env.blobs, &dir)?;
            let uv = ensure_uv(name, env)?;
            let mut c = Command::new(uv);
            c.args(["sync", "--no-dev", "--directory"]).arg(&dir);
            run(name, c)?;
        }
        Artifact::Portable | Artifact::LocalBinary { .. } => return Ok(InstallOutcome::NotNeeded),
    }
    crate::fs::write_atomic(&dir.join(MARKER), install_key(artifact).as_bytes(), 0o644)?;
    Ok(InstallOutcome::Installed)
}

/// The `uv` to use: found on this machine, or installed now into `mcp-artifacts/tools/uv`
/// (`python3 -m venv` + `pip install uv==UV_VERSION`, which also works where `pip --user` is
/// refused by PEP 668).
pub fn ensure_uv(server: &str, env: &InstallEnv) -> Result<PathBuf, InstallError> {
    if let Some(uv) = env.find_tool("uv") {
        return Ok(uv);
    }
    let python = env.find_tool("python3").ok_or_else(|| InstallError::MissingTool {
        server: server.to_string(),
        tool: "python3".into(),
        what: "uv".into(),
    })?;
    let venv = env.codexport_home.join(ARTIFACTS_DIR).join("tools").join("uv");
    let mut c = Command::new(python);
    c.args(["-m", "venv"]).arg(&venv);
    run(server, c)?;
    let mut c = Command::new(venv.join("bin").join("pip"));
    c.args(["install", "--quiet", &format!("uv=={UV_VERSION}")]);
    run(server, c)?;
    Ok(venv.join("bin").join("uv"))
}

/// Run `c` with stdout and stderr captured; a failure carries the command and the output tail.
/// The command line is logged (its environment never is).
fn run(server: &str, mut c: Command) -> Result<(), InstallError> {
    c.stdin(std::process::Stdio::null())
        .env("npm_config_update_notifier", "false");
    let line = std::iter::once(c.get_program())
        .chain(c.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    tracing::info!(server, command = %line, "running");
    let started = std::time::Instant::now();
    let out = c.output().map_err(|e| InstallError::Failed {
        server: server.to_string(),
        command: line.clone(),
        status: "did not start".into(),
        stderr_tail: e.to_string(),
    })?;
    let ms = started.elapsed().as_millis() as u64;
    tracing::debug!(server, status = %out.status, ms, "finished");
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    Err(InstallError::Failed {
        server: server.to_string(),
        command: line,
        status: out.status.to_string(),
        stderr_tail: tail(&text, 15),
    })
}

/// The last `n` non-empty lines of `text`, joined with ` | `.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\n\nb\nc\n", 2), "b | c");
    }
}
