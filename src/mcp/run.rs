//! `codexport mcp run NAME`: resolve a server of the manifest to this follower's installed target
//! and `exec` it (Unix) with stdin/stdout inherited. Nothing here ever writes to stdout: it is the
//! MCP channel. Master paths (`${home}`, `${codexHome}`, path variables) in `command`, `args`,
//! `env` and `cwd` are expanded with the follower's values from the manifest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::codex::portable::expand_str;
use crate::model::document::McpTransport;

use super::artifact::Artifact;
use super::infer::{npm_bins, resolve_command};
use super::install::{InstallEnv, install, install_dir, is_installed, repair_for_tool};
use super::manifest::{Manifest, ManifestError};

/// A resolved process: what to exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// The program (an absolute path, or a bare name looked up in `PATH` by the OS).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Variables set on top of the inherited environment (the server's `env`, expanded).
    pub env: BTreeMap<String, String>,
    /// Working directory, if the definition has one.
    pub cwd: Option<PathBuf>,
}

/// Why a server cannot run. The message is one line naming the server, what is missing and the
/// repair step.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No manifest, or a bad one.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The name is not in the manifest.
    #[error("MCP server `{server}` is not in the manifest (known: {known}); repair: run `codexport reconcile`")]
    Unknown {
        /// The name asked for.
        server: String,
        /// The names present.
        known: String,
    },
    /// A URL server has no process to run.
    #[error("MCP server `{0}` is a URL server; Codex connects to it directly, there is nothing to run")]
    NotStdio(String),
    /// Something the server needs is not on this machine.
    #[error("MCP server `{server}` cannot start: {missing} is missing on this machine; repair: {repair}")]
    Missing {
        /// The server.
        server: String,
        /// The missing tool or file.
        missing: String,
        /// One repair step.
        repair: String,
    },
    /// The definition is not usable (unknown variable, no command).
    #[error("MCP server `{server}` cannot start: {reason}; repair: {repair}")]
    Definition {
        /// The server.
        server: String,
        /// Why.
        reason: String,
        /// One repair step.
        repair: String,
    },
    /// `exec` itself failed.
    #[error("MCP server `{server}` cannot start: exec {}: {source}", program.display())]
    Exec {
        /// The server.
        server: String,
        /// The program.
        program: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl crate::exit::ExitStatus for RunError {
    fn exit(&self) -> crate::exit::Exit {
        match self {
            RunError::Unknown { .. } | RunError::NotStdio(_) | RunError::Definition { .. } => crate::exit::Exit::Usage,
            _ => crate::exit::Exit::Error,
        }
    }
}

/// Resolve server `name` of `manifest`. With `repair`, a missing install is installed first
/// (child output captured); without, a missing install is a [`RunError::Missing`].
pub fn resolve(name: &str, manifest: &Manifest, env: &InstallEnv, repair: bool) -> Result<Launch, RunError> {
    let server = manifest.servers.get(name).ok_or_else(|| RunError::Unknown {
        server: name.to_string(),
        known: manifest.servers.keys().cloned().collect::<Vec<_>>().join(", "),
    })?;
    if server.transport != McpTransport::Stdio {
        return Err(RunError::NotStdio(name.to_string()));
    }
    let def = &server.definition;
    let expand = |s: &str, key: &str| {
        expand_str(s, &manifest.variables).map_err(|e| RunError::Definition {
            server: name.to_string(),
            reason: format!("{key}: {e}"),
            repair: "remove the variable from the master's MCP definition (follower path variables are not supported yet), then reconcile".into(),
        })
    };
    let command = match def.get("command").and_then(|c| c.as_str()) {
        Some(c) => expand(c, "command")?,
        None => {
            return Err(RunError::Definition {
                server: name.to_string(),
                reason: "no `command`".into(),
                repair: "fix the server on the master".into(),
            });
        }
    };
    let mut args = Vec::new();
    for (i, a) in def
        .get("args")
        .and_then(|a| a.as_array())
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(s) = a.as_str() {
            args.push(expand(s, &format!("args[{i}]"))?);
        }
    }
    let mut vars = BTreeMap::new();
    for (k, v) in def.get("env").and_then(|e| e.as_object()).into_iter().flatten() {
        let value = match v {
            serde_json::Value::String(s) => expand(s, &format!("env.{k}"))?,
            other => other.to_string(),
        };
        vars.insert(k.clone(), value);
    }
    let cwd = match def.get("cwd").and_then(|c| c.as_str()) {
        Some(c) => Some(PathBuf::from(expand(c, "cwd")?)),
        None => None,
    };
    let mut launch = Launch {
        program: PathBuf::from(&command),
        args,
        env: vars,
        cwd,
    };
    let artifact = server.artifact.clone().unwrap_or(Artifact::Portable);
    match install_dir(&env.codexport_home, name, &artifact) {
        Ok(Some(dir)) => {
            if !is_installed(&dir, &artifact) {
                if !repair {
                    return Err(missing_install(name, &artifact));
                }
                install(name, &artifact, env).map_err(|e| RunError::Missing {
                    server: name.to_string(),
                    missing: artifact.describe(),
                    repair: format!("{e}; {}", crate::exit::ExitStatus::hint(&e).unwrap_or_default()),
                })?;
            }
            place(&mut launch, &artifact, &dir);
        }
        Ok(None) => {}
        Err(e) => {
            return Err(RunError::Definition {
                server: name.to_string(),
                reason: e.to_string(),
                repair: "fix the server on the master".into(),
            });
        }
    }
    check_program(name, &launch, &artifact, &env.path)?;
    Ok(launch)
}

fn missing_install(name: &str, artifact: &Artifact) -> RunError {
    RunError::Missing {
        server: name.to_string(),
        missing: format!("the install of {}", artifact.describe()),
        repair: "run `codexport mcp install` (or `codexport reconcile`)".into(),
    }
}

/// Point the launch at the installed artifact in `dir`.
fn place(launch: &mut Launch, artifact: &Artifact, dir: &Path) {
    let (target, arg_index): (PathBuf, Option<usize>) = match artifact {
        Artifact::Npm {
            package,
            bin,
            entry,
            arg_index,
            ..
        } => {
            let pkg = dir.join("node_modules").join(package);
            let file = match (bin, entry) {
                (Some(b), _) => {
                    installed_bin(&pkg, package, b).unwrap_or_else(|| dir.join("node_modules/.bin").join(b))
                }
                (None, Some(e)) => pkg.join(e),
                (None, None) => pkg,
            };
            (file, *arg_index)
        }
        Artifact::Uv { bin, .. } | Artifact::Cargo { bin, .. } => (dir.join("bin").join(bin), None),
        Artifact::SourceNode { entry, arg_index, .. } => (dir.join(entry), *arg_index),
        Artifact::SourcePython {
            bin, entry, arg_index, ..
        } => {
            let venv_bin = dir.join(".venv").join("bin");
            match (bin, entry, arg_index) {
                (Some(b), _, i) => (venv_bin.join(b), *i),
                (None, Some(e), Some(i)) => {
                    launch.program = venv_bin.join("python");
                    (dir.join(e), Some(*i))
                }
                (None, Some(e), None) => {
                    launch.program = venv_bin.join("python");
                    launch.args.insert(0, dir.join(e).display().to_string());
                    return;
                }
                (None, None, _) => return,
            }
        }
        Artifact::Portable | Artifact::LocalBinary { .. } => return,
    };
    match arg_index {
        Some(i) if i < launch.args.len() => launch.args[i] = target.display().to_string(),
        Some(_) => launch.args.push(target.display().to_string()),
        None => launch.program = target,
    }
}

/// The file a `bin` entry of the installed package.json points at.
fn installed_bin(pkg_dir: &Path, package: &str, bin: &str) -> Option<PathBuf> {
    let manifest: serde_json::Value = serde_json::from_slice(&fs_err::read(pkg_dir.join("package.json")).ok()?).ok()?;
    npm_bins(&manifest, package)
        .into_iter()
        .find(|(name, _)| name == bin)
        .map(|(_, target)| pkg_dir.join(target))
}

/// The program must exist: a path as is, a bare name on `PATH`.
fn check_program(name: &str, launch: &Launch, artifact: &Artifact, path: &[PathBuf]) -> Result<(), RunError> {
    let program = launch.program.display().to_string();
    if resolve_command(&program, launch.cwd.as_deref(), path).is_some() {
        return Ok(());
    }
    let repair = match artifact {
        Artifact::LocalBinary { .. } => format!(
            "install `{program}` on this machine, or override the server `{name}` in $CODEXPORT_HOME/mcps.local.toml"
        ),
        Artifact::Portable => repair_for_tool(program.rsplit('/').next().unwrap_or(&program)),
        _ => "run `codexport mcp install` (or `codexport reconcile`) to repair the install".into(),
    };
    Err(RunError::Missing {
        server: name.to_string(),
        missing: format!("`{program}`"),
        repair,
    })
}

/// Read the manifest of `codexport_home` and resolve `name`, repairing a missing install.
pub fn prepare(name: &str, env: &InstallEnv) -> Result<Launch, RunError> {
    let manifest = Manifest::load(&env.codexport_home)?;
    resolve(name, &manifest, env, true)
}

/// Replace this process with the server (Unix `exec`); returns only on failure. Elsewhere the
/// server is spawned, waited for, and its exit code returned as `Ok`.
pub fn exec(name: &str, launch: &Launch) -> Result<i32, RunError> {
    let mut c = std::process::Command::new(&launch.program);
    c.args(&launch.args).envs(&launch.env).env_remove("CODEXPORT_HOME");
    if let Some(v) = launch.env.get("CODEXPORT_HOME") {
        c.env("CODEXPORT_HOME", v);
    }
    if let Some(cwd) = &launch.cwd {
        c.current_dir(cwd);
    }
    let fail = |source: std::io::Error| RunError::Exec {
        server: name.to_string(),
        program: launch.program.clone(),
        source,
    };
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        Err(fail(c.exec()))
    }
    #[cfg(not(unix))]
    {
        let status = c.status().map_err(fail)?;
        Ok(status.code().unwrap_or(1))
    }
}
