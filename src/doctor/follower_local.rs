//! Follower checks of this machine alone: the SessionStart hook (installed, trusted, Codex's
//! `hooks` feature on, last run), the launcher binary, every MCP server, the tools MCP
//! artifacts need, and a leftover journal.

use std::collections::{BTreeMap, BTreeSet};

use crate::codex::hooks::hooks_feature_disabled;
use crate::codex::layout::CONFIG_TOML;
use crate::follower::enrollment::Enrollment;
use crate::follower::hook::HookSettings;
use crate::follower::store::FollowerStore;
use crate::mcp::artifact::Artifact;
use crate::mcp::install::{InstallEnv, install_dir, is_installed, repair_for_tool};
use crate::mcp::manifest::{Manifest, ManifestError, launcher_path};
use crate::model::document::McpTransport;
use crate::paths::Roots;
use crate::reconcile::hook_run::{HookRecord, Outcome};
use crate::reconcile::render_hook::observe_trust;

use super::{Check, LOCAL_TIMEOUT, Status, bounded, one_line};

/// The local follower checks, in order.
pub(super) fn checks(roots: &Roots) -> Vec<Check> {
    let hook = HookSettings::load(&roots.codexport_home);
    let installed = matches!(hook, Ok(Some(_)));
    let env = InstallEnv::from_process(&roots.codexport_home, &roots.home);
    let manifest = Manifest::load(&roots.codexport_home);
    let mut out = vec![
        hook_check(roots, hook),
        hooks_feature_check(roots, installed),
        last_hook_run_check(roots),
        launcher_check(roots, installed, manifest.as_ref().ok()),
    ];
    out.extend(mcp_checks(&env));
    out.extend(tool_checks(roots, &env, manifest.ok()));
    out.push(journal_check(roots));
    out
}

fn hook_check(roots: &Roots, settings: Result<Option<HookSettings>, String>) -> Check {
    let settings = match settings {
        Ok(s) => s,
        Err(reason) => {
            return Check::fail("hook", one_line(&reason), "run `codexport hook install` again");
        }
    };
    let observed = observe_trust(roots);
    match (settings, observed.trust_key.is_some(), observed.trusted) {
        (None, false, _) => Check::warn(
            "hook",
            "not installed: Codex sessions do not sync on their own",
            "run `codexport hook install`",
        ),
        (None, true, _) => Check::warn(
            "hook",
            "not installed, but still in hooks.json",
            "run `codexport reconcile`",
        ),
        (Some(_), false, _) => Check::fail(
            "hook",
            "installed, but not in ~/.codex/hooks.json",
            "run `codexport reconcile`",
        ),
        (Some(_), true, false) => Check::fail(
            "hook",
            "installed, but NOT trusted in config.toml: Codex skips it silently",
            "run `codexport reconcile` (it writes the trust entry again)",
        ),
        (Some(s), true, true) => Check::ok(
            "hook",
            format!(
                "installed and trusted: Codex runs it at every session start (budget {} ms)",
                s.budget_ms
            ),
        ),
    }
}

/// `[features] hooks = false` in config.toml turns off every hook, trusted or not.
fn hooks_feature_check(roots: &Roots, hook_installed: bool) -> Check {
    let path = roots.codex_home.join(CONFIG_TOML);
    let text = match fs_err::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Check::ok(
                "hooks-feature",
                "no config.toml: Codex's `hooks` feature is on by default",
            );
        }
        Err(e) => return Check::fail("hooks-feature", one_line(&e.to_string()), "make config.toml readable"),
    };
    let config: toml::Table = match text.parse() {
        Ok(c) => c,
        Err(e) => {
            return Check::fail(
                "hooks-feature",
                format!("config.toml does not parse: {}", one_line(&e.to_string())),
                "fix the TOML at that position (Codex does not start with it either)",
            );
        }
    };
    match hooks_feature_disabled(&config) {
        None => Check::ok("hooks-feature", "Codex's `hooks` feature is on"),
        Some(key) => {
            let detail = format!("config.toml has `[features] {key} = false`: Codex runs no hook at all");
            let fix = format!(
                "remove `{key} = false` from [features] (on the master, if it comes from there), then `codexport reconcile`"
            );
            if hook_installed {
                Check::fail("hooks-feature", detail, fix)
            } else {
                Check::warn("hooks-feature", detail, fix)
            }
        }
    }
}

fn last_hook_run_check(roots: &Roots) -> Check {
    let Some(r) = HookRecord::load(&roots.codexport_home) else {
        return Check::skip("hook-last-run", "no hook run recorded");
    };
    let detail = format!(
        "{} {} ({} ms){}",
        r.at,
        r.outcome.as_str(),
        r.duration_ms,
        r.message
            .as_deref()
            .map(|m| format!(": {}", one_line(m)))
            .unwrap_or_default()
    );
    match r.outcome {
        Outcome::Applied | Outcome::UpToDate | Outcome::Skipped => Check::ok("hook-last-run", detail),
        _ => Check::warn(
            "hook-last-run",
            detail,
            "see $CODEXPORT_HOME/logs/hook.log; `codexport reconcile` shows the full error",
        ),
    }
}

/// `$CODEXPORT_HOME/bin/codexport`: needed by command MCP servers and by the hook; it should
/// be this very binary.
fn launcher_check(roots: &Roots, hook_installed: bool, manifest: Option<&Manifest>) -> Check {
    let stdio = manifest.is_some_and(|m| m.servers.values().any(|s| s.transport == McpTransport::Stdio));
    if !stdio && !hook_installed {
        return Check::skip("launcher", "not needed (no command MCP server, no hook)");
    }
    let needed_by = match (stdio, hook_installed) {
        (true, true) => "command MCP servers and the hook run it",
        (true, false) => "command MCP servers run it",
        _ => "the hook runs it",
    };
    let path = launcher_path(&roots.codexport_home);
    if !path.is_file() {
        return Check::fail(
            "launcher",
            format!("{} is missing; {needed_by}", path.display()),
            "run `codexport apply` (it copies this binary there)",
        );
    }
    let launcher = path.clone();
    let compared = bounded(LOCAL_TIMEOUT, move || -> std::io::Result<bool> {
        let exe = std::env::current_exe()?;
        Ok(crate::fs::sha256_file(&exe)?.0 == crate::fs::sha256_file(&launcher)?.0)
    });
    match compared {
        Some(Ok(true)) => Check::ok(
            "launcher",
            format!("{} is this codexport (same sha256); {needed_by}", path.display()),
        ),
        Some(Ok(false)) => Check::warn(
            "launcher",
            format!("{} differs from the running codexport; {needed_by}", path.display()),
            "run `codexport apply` with the codexport you want there (it copies itself)",
        ),
        Some(Err(e)) => Check::warn("launcher", one_line(&e.to_string()), "run `codexport apply`"),
        None => Check::timed_out("launcher", Status::Warn, "hashing the launcher", LOCAL_TIMEOUT),
    }
}

/// One check per MCP server of the manifest: can it start here?
fn mcp_checks(env: &InstallEnv) -> Vec<Check> {
    let rows = match crate::mcp::ready::readiness(env) {
        Ok(rows) => rows,
        Err(ManifestError::Missing(_)) => return vec![Check::skip("mcp", "no MCP manifest (no MCP server applied)")],
        Err(e) => {
            return vec![Check::fail(
                "mcp",
                one_line(&e.to_string()),
                "run `codexport reconcile` (or `codexport mcp install`) to write it again",
            )];
        }
    };
    if rows.is_empty() {
        return vec![Check::skip("mcp", "no MCP server")];
    }
    rows.into_iter()
        .map(|r| {
            let name = format!("mcp:{}", r.name);
            if r.ready {
                return Check::ok(name, r.reason);
            }
            match r.reason.split_once("; repair: ") {
                Some((why, repair)) => Check::fail(name, why, repair),
                None => Check::fail(name, r.reason, "run `codexport mcp install`"),
            }
        })
        .collect()
}

/// Tools MCP artifacts need: to run (`node`) or to install (`npm`, `uv`, `cargo`).
struct Need {
    tool: &'static str,
    /// Needed at run time (the server cannot start without it), not only to install.
    runtime: bool,
}

fn needs(artifact: &Artifact) -> Vec<Need> {
    let install = |tool| Need { tool, runtime: false };
    match artifact {
        Artifact::Npm { .. } | Artifact::SourceNode { .. } => vec![
            Need {
                tool: "node",
                runtime: true,
            },
            install("npm"),
        ],
        Artifact::Uv { .. } | Artifact::SourcePython { .. } => vec![install("uv")],
        Artifact::Cargo { .. } => vec![install("cargo")],
        Artifact::Portable | Artifact::LocalBinary { .. } => vec![],
    }
}

/// One check per tool some artifact needs (from the staged document, else the manifest).
pub(super) fn tool_checks(roots: &Roots, env: &InstallEnv, manifest: Option<Manifest>) -> Vec<Check> {
    let staged = Enrollment::load(&roots.codexport_home)
        .ok()
        .and_then(|e| FollowerStore::new(&roots.codexport_home).load_staged(&e).ok().flatten());
    let servers = match (staged, manifest) {
        (Some(s), _) => s.doc.spec.mcp_servers,
        (None, Some(m)) => m.servers,
        (None, None) => BTreeMap::new(),
    };
    // tool -> (runtime, servers needing it, servers not installed yet)
    let mut by_tool: BTreeMap<&'static str, (bool, BTreeSet<String>, usize)> = BTreeMap::new();
    for (name, server) in &servers {
        let Some(artifact) = &server.artifact else { continue };
        let installed = matches!(
            install_dir(&env.codexport_home, name, artifact),
            Ok(Some(dir)) if is_installed(&dir, artifact)
        );
        for need in needs(artifact) {
            let entry = by_tool.entry(need.tool).or_default();
            entry.0 |= need.runtime;
            entry.1.insert(name.clone());
            entry.2 += usize::from(!installed);
        }
    }
    if by_tool.is_empty() {
        return vec![Check::skip("tools", "no MCP artifact needs node, npm, uv or cargo")];
    }
    by_tool
        .into_iter()
        .map(|(tool, (runtime, servers, missing_installs))| {
            let name = format!("tool:{tool}");
            let users = servers.into_iter().collect::<Vec<_>>().join(", ");
            if let Some(path) = env.find_tool(tool) {
                return Check::ok(name, format!("{} (for {users})", path.display()));
            }
            if tool == "uv"
                && let Some(python) = env.find_tool("python3")
            {
                return Check::ok(
                    name,
                    format!(
                        "not found; the first install sets up uv {} with {} (for {users})",
                        crate::mcp::install::UV_VERSION,
                        python.display()
                    ),
                );
            }
            let detail = if runtime {
                format!("`{tool}` not found; {users} cannot start without it")
            } else if missing_installs > 0 {
                format!("`{tool}` not found; needed to install {users}")
            } else {
                format!("`{tool}` not found; needed only to reinstall {users}")
            };
            if runtime || missing_installs > 0 {
                Check::fail(name, detail, repair_for_tool(tool))
            } else {
                Check::warn(name, detail, repair_for_tool(tool))
            }
        })
        .collect()
}

/// A journal left in `$CODEXPORT_HOME/journal/`: a run that did not finish.
/// A leftover journal: a run interrupted (warn: the next run rolls it back), or one whose
/// rollback failed (fail: the paths named were not put back; the fix says how).
fn journal_check(roots: &Roots) -> Check {
    use crate::reconcile::journal::{KEPT_FIX, kept, list};
    let journals = match kept(&roots.codexport_home) {
        Ok(j) => j,
        Err(e) => {
            return Check::warn(
                "journal",
                one_line(&e.to_string()),
                "make $CODEXPORT_HOME/journal readable",
            );
        }
    };
    if journals.is_empty() {
        return Check::ok("journal", "no leftover journal");
    }
    let failed: Vec<String> = journals
        .iter()
        .filter(|j| !j.failures.is_empty())
        .map(|j| format!("{}: rolled back, except: {}", j.path.display(), list(&j.failures)))
        .collect();
    if !failed.is_empty() {
        return Check::fail("journal", one_line(&failed.join("; ")), KEPT_FIX);
    }
    let names: Vec<String> = journals
        .iter()
        .filter_map(|j| j.path.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    Check::warn(
        "journal",
        format!(
            "journal/{} left by a run that did not finish (or one running right now)",
            names.join(", journal/")
        ),
        "run `codexport apply`; the next run rolls it back",
    )
}
