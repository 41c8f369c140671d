//! Artifact inference on the master, from facts on its disk, never from names (issue 5 item 2).
//!
//! Rules, first match wins:
//! 1. The command's file name is a runner (`npx`, `bunx`, `uvx`, `docker`, `podman`, or `pipx`
//!    with `run`): [`Artifact::Portable`].
//! 2. The command is an interpreter (`node`, `nodejs`, `python`, `python3`, `python3.N`) and its
//!    first argument not starting with `-` names a file: that file is classified by rules 4-7
//!    with `argIndex` set; a path-like argument that does not exist is a local binary.
//! 3. Otherwise the command is resolved: a path as is (relative to `cwd`), a bare name through
//!    `PATH`; not found: [`Artifact::LocalBinary`] with the name as written.
//! 4. The target, after resolving symlinks, lies in `.../node_modules/<pkg>/...`: npm, with the
//!    version from that package.json and the `bin` whose file it is (else `entry`).
//! 5. An ancestor of the target (or of its unresolved path) holds `uv-receipt.toml`: uv, package
//!    from the receipt, version from the tool's `<pkg>-<ver>.dist-info`.
//! 6. The target is `<root>/bin/<bin>` and `<root>/.crates2.json` lists `<bin>`: cargo.
//! 7. An ancestor below the home directory holds `pyproject.toml` (source-python) or
//!    `package.json` outside `node_modules` (source-node).
//! 8. The unresolved path is in a standard system directory (`/usr/bin`, ...): portable.
//! 9. Anything else: [`Artifact::LocalBinary`] with the path found.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::codex::portable::{MasterPaths, expand_str, portable_str};

use super::artifact::Artifact;

/// Directories whose commands count as present on any machine (rule 8).
pub const STANDARD_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
    "/opt/homebrew/bin",
    "/opt/homebrew/sbin",
];

/// Commands that fetch and run their target themselves (rule 1).
pub const RUNNERS: &[&str] = &["npx", "bunx", "uvx", "docker", "podman"];

/// The master's facts inference reads besides the files themselves.
#[derive(Debug, Clone)]
pub struct InferEnv {
    /// The master's home and CODEX_HOME, to expand `${home}`/`${codexHome}` and to write
    /// artifact paths back in portable form.
    pub master: MasterPaths,
    /// Directories searched for bare commands, in order (the master's `PATH`).
    pub path: Vec<PathBuf>,
}

impl InferEnv {
    /// From the process environment: `PATH` split as the platform does.
    pub fn from_process(master: MasterPaths) -> Self {
        let path = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        InferEnv { master, path }
    }

    fn vars(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("home".to_string(), self.master.home.clone()),
            ("codexHome".to_string(), self.master.codex_home.clone()),
        ])
    }

    fn portable(&self, p: &Path) -> String {
        let s = p.display().to_string();
        portable_str(&s, &self.master).unwrap_or(s)
    }
}

/// Result of inference: the artifact, and for source artifacts the absolute project directory
/// whose files must travel (the artifact's `files` are still empty; see `mcp::source`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inferred {
    /// The artifact (source kinds with empty `files`).
    pub artifact: Artifact,
    /// The master's project directory for `source-*` artifacts.
    pub source_dir: Option<PathBuf>,
}

impl From<Artifact> for Inferred {
    fn from(artifact: Artifact) -> Self {
        Inferred {
            artifact,
            source_dir: None,
        }
    }
}

/// Infer the artifact of one `[mcp_servers.<name>]` definition (portable form, as in the
/// document). `None` for a definition without a string `command` (URL servers). Never fails:
/// whatever matches no rule is a local binary.
pub fn infer(definition: &serde_json::Map<String, serde_json::Value>, env: &InferEnv) -> Option<Inferred> {
    let vars = env.vars();
    let expand = |s: &str| expand_str(s, &vars).unwrap_or_else(|_| s.to_string());
    let command = expand(definition.get("command")?.as_str()?);
    let args: Vec<String> = definition
        .get("args")
        .and_then(|a| a.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).map(expand).collect())
        .unwrap_or_default();
    let cwd = definition
        .get("cwd")
        .and_then(|c| c.as_str())
        .map(|c| PathBuf::from(expand(c)));
    let name = file_name(&command);

    if RUNNERS.contains(&name.as_str()) || (name == "pipx" && args.first().is_some_and(|a| a == "run")) {
        return Some(Artifact::Portable.into());
    }
    if is_interpreter(&name)
        && let Some((i, script)) = args.iter().enumerate().find(|(_, a)| !a.starts_with('-'))
        && looks_like_path(script)
    {
        let path = absolute(Path::new(script), cwd.as_deref());
        if !path.is_file() {
            return Some(
                Artifact::LocalBinary {
                    path: env.portable(&path),
                }
                .into(),
            );
        }
        if let Some(found) = classify_file(&path, Some(i), env) {
            return Some(found);
        }
        return Some(
            Artifact::LocalBinary {
                path: env.portable(&path),
            }
            .into(),
        );
    }
    let Some(found) = resolve_command(&command, cwd.as_deref(), &env.path) else {
        return Some(Artifact::LocalBinary { path: command }.into());
    };
    if let Some(inferred) = classify_file(&found, None, env) {
        return Some(inferred);
    }
    if found
        .parent()
        .is_some_and(|d| STANDARD_DIRS.iter().any(|s| Path::new(s) == d))
    {
        return Some(Artifact::Portable.into());
    }
    Some(
        Artifact::LocalBinary {
            path: env.portable(&found),
        }
        .into(),
    )
}

/// Rules 4-7 for an existing file `path` (unresolved) that the server runs.
fn classify_file(path: &Path, arg_index: Option<usize>, env: &InferEnv) -> Option<Inferred> {
    let real = fs_err::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if let Some(a) = npm_package(&real, arg_index) {
        return Some(a.into());
    }
    for candidate in [path, real.as_path()] {
        if let Some(a) = uv_tool(candidate) {
            return Some(a.into());
        }
    }
    for candidate in [path, real.as_path()] {
        if let Some(a) = cargo_bin(candidate) {
            return Some(a.into());
        }
    }
    source_project(path, &real, arg_index, env)
}

/// Rule 4: the last `node_modules/<pkg>` (or `node_modules/@scope/<pkg>`) of `real`.
fn npm_package(real: &Path, arg_index: Option<usize>) -> Option<Artifact> {
    let parts: Vec<Component> = real.components().collect();
    let nm = parts.iter().rposition(|c| c.as_os_str() == "node_modules")?;
    let first = parts.get(nm + 1)?.as_os_str().to_str()?;
    let take = if first.starts_with('@') { 2 } else { 1 };
    if first == ".bin" || parts.len() <= nm + take + 1 {
        return None;
    }
    let pkg_dir: PathBuf = parts[..=nm + take].iter().collect();
    let manifest: serde_json::Value = serde_json::from_slice(&fs_err::read(pkg_dir.join("package.json")).ok()?).ok()?;
    let package = manifest.get("name")?.as_str()?.to_string();
    let version = manifest.get("version")?.as_str()?.to_string();
    let rel: PathBuf = parts[nm + take + 1..].iter().collect();
    let bin = npm_bins(&manifest, &package)
        .into_iter()
        .find(|(_, target)| fs_err::canonicalize(pkg_dir.join(target)).is_ok_and(|t| t == real))
        .map(|(name, _)| name);
    let entry = bin.is_none().then(|| slash(&rel));
    Some(Artifact::Npm {
        package,
        version,
        bin,
        entry,
        arg_index,
    })
}

/// The `bin` entries of a package.json: (name, relative target). A string `bin` is named after
/// the package without its scope.
pub fn npm_bins(manifest: &serde_json::Value, package: &str) -> Vec<(String, String)> {
    match manifest.get("bin") {
        Some(serde_json::Value::String(target)) => {
            vec![(
                package.rsplit('/').next().unwrap_or(package).to_string(),
                target.clone(),
            )]
        }
        Some(serde_json::Value::Object(map)) => map
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect(),
        _ => Vec::new(),
    }
}

/// Rule 5: an ancestor with `uv-receipt.toml`.
fn uv_tool(path: &Path) -> Option<Artifact> {
    let tool_dir = path.ancestors().skip(1).find(|d| d.join("uv-receipt.toml").is_file())?;
    let receipt: toml::Table = toml::from_str(&fs_err::read_to_string(tool_dir.join("uv-receipt.toml")).ok()?).ok()?;
    let tool = receipt.get("tool")?.as_table()?;
    let bin = file_name(&path.display().to_string());
    let from_entrypoint = tool.get("entrypoints").and_then(|e| e.as_array()).and_then(|eps| {
        eps.iter().find_map(|ep| {
            let ep = ep.as_table()?;
            (ep.get("name")?.as_str()? == bin).then(|| ep.get("from")?.as_str().map(str::to_string))?
        })
    });
    let requirement = tool.get("requirements")?.as_array()?.first()?.as_table()?;
    let package = from_entrypoint.unwrap_or(requirement.get("name")?.as_str()?.to_string());
    let version = dist_info_version(tool_dir, &package).or_else(|| {
        let spec = requirement.get("specifier")?.as_str()?;
        spec.strip_prefix("==").map(|v| v.trim().to_string())
    })?;
    Some(Artifact::Uv { package, version, bin })
}

/// The version in `<tool>/lib/<python>/site-packages/<pkg>-<version>.dist-info` (names compared
/// after PEP 503-style normalisation).
fn dist_info_version(tool_dir: &Path, package: &str) -> Option<String> {
    let norm = |s: &str| s.to_ascii_lowercase().replace(['-', '.'], "_");
    let want = norm(package);
    let lib = ["lib", "Lib"].iter().map(|l| tool_dir.join(l)).find(|l| l.is_dir())?;
    for py in fs_err::read_dir(&lib).ok()?.flatten() {
        let site = py.path().join("site-packages");
        let site = if site.is_dir() { site } else { py.path() };
        for e in fs_err::read_dir(&site).ok()?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".dist-info")
                && let Some((n, v)) = stem.split_once('-')
                && norm(n) == want
            {
                return Some(v.to_string());
            }
        }
    }
    None
}

/// Rule 6: `<root>/bin/<bin>` with `<root>/.crates2.json` listing `<bin>`, installed from the
/// crates.io registry. The key's source is `(registry+<index>)` or `(sparse+<index>)` for
/// registry installs; a `--path` or `--git` install (`(path+file://...)`, `(git+...)`) cannot
/// be reinstalled by name, so it falls through to the later rules (source or local binary).
fn cargo_bin(path: &Path) -> Option<Artifact> {
    let bin_dir = path.parent()?;
    if bin_dir.file_name()? != "bin" {
        return None;
    }
    let crates: serde_json::Value =
        serde_json::from_slice(&fs_err::read(bin_dir.parent()?.join(".crates2.json")).ok()?).ok()?;
    let bin = file_name(&path.display().to_string());
    let exe = bin.strip_suffix(".exe").unwrap_or(&bin).to_string();
    for (key, install) in crates.get("installs")?.as_object()? {
        let bins = install.get("bins").and_then(|b| b.as_array());
        if bins.is_some_and(|b| b.iter().any(|n| n.as_str() == Some(bin.as_str()))) {
            let mut words = key.split_whitespace();
            let (crate_name, version) = (words.next()?.to_string(), words.next()?.to_string());
            let source = words.next().unwrap_or_default();
            if !(source.starts_with("(registry+") || source.starts_with("(sparse+")) {
                return None;
            }
            return Some(Artifact::Cargo {
                crate_name,
                version,
                bin: exe,
            });
        }
    }
    None
}

/// Rule 7: the nearest ancestor strictly below the home directory (or anywhere when the file
/// is outside home) holding `pyproject.toml` or `package.json`, never inside `node_modules`.
fn source_project(path: &Path, real: &Path, arg_index: Option<usize>, env: &InferEnv) -> Option<Inferred> {
    let home = Path::new(&env.master.home);
    for candidate in [path, real] {
        if candidate.components().any(|c| c.as_os_str() == "node_modules") {
            continue;
        }
        for dir in candidate.ancestors().skip(1) {
            if dir == home || dir.parent().is_none() || STANDARD_DIRS.iter().any(|s| Path::new(s) == dir) {
                break;
            }
            let Ok(rel) = candidate.strip_prefix(dir) else { break };
            let rel = slash(rel);
            let portable_dir = env.portable(dir);
            if dir.join("pyproject.toml").is_file() {
                let bin = venv_bin(&rel);
                let entry = bin.is_none().then(|| rel.clone());
                let artifact = Artifact::SourcePython {
                    dir: portable_dir,
                    bin,
                    entry,
                    arg_index,
                    files: Vec::new(),
                };
                return Some(Inferred {
                    artifact,
                    source_dir: Some(dir.to_path_buf()),
                });
            }
            if dir.join("package.json").is_file() {
                let artifact = Artifact::SourceNode {
                    dir: portable_dir,
                    entry: rel,
                    arg_index,
                    files: Vec::new(),
                };
                return Some(Inferred {
                    artifact,
                    source_dir: Some(dir.to_path_buf()),
                });
            }
        }
    }
    None
}

/// `.venv/bin/<x>` or `venv/bin/<x>` (or `Scripts\` on Windows) -> `x`.
fn venv_bin(rel: &str) -> Option<String> {
    let mut parts = rel.split('/');
    let (venv, bin, name) = (parts.next()?, parts.next()?, parts.next()?);
    (parts.next().is_none() && matches!(venv, ".venv" | "venv") && matches!(bin, "bin" | "Scripts"))
        .then(|| name.to_string())
}

/// Resolve a command as Codex would spawn it: a path relative to `cwd`, or a bare name searched
/// in `path`. Returns the unresolved (lexical) location of an existing file.
pub fn resolve_command(command: &str, cwd: Option<&Path>, path: &[PathBuf]) -> Option<PathBuf> {
    if looks_like_path(command) {
        let p = absolute(Path::new(command), cwd);
        return p.is_file().then_some(p);
    }
    path.iter().map(|d| d.join(command)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    let Ok(meta) = fs_err::metadata(p) else { return false };
    meta.is_file() && crate::fs::mode_of(&meta) & 0o111 != 0
}

fn is_interpreter(name: &str) -> bool {
    matches!(name, "node" | "nodejs" | "python" | "python3")
        || name
            .strip_prefix("python3.")
            .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()))
}

fn looks_like_path(s: &str) -> bool {
    s.contains('/') || s.contains('\\')
}

fn absolute(p: &Path, cwd: Option<&Path>) -> PathBuf {
    match cwd {
        Some(c) if p.is_relative() => c.join(p),
        _ => p.to_path_buf(),
    }
}

fn file_name(command: &str) -> String {
    command.rsplit(['/', '\\']).next().unwrap_or(command).to_string()
}

fn slash(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
#[path = "infer_tests.rs"]
mod tests;
