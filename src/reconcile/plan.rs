//! Plans as data: what a reconcile would do, step by step, and why. Rendered by `cli/` as
//! text, JSON or YAML; `schemas/plan.v1.schema.json` is generated from these types.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::codex::layout::{CONFIG_TOML, HOOKS_JSON, classify, is_runtime_state, is_secret};
use crate::follower::local::{McpInstall, OnDrift};
use crate::model::FileClass;
use crate::paths::Roots;

use super::ReconcileError;
use super::compare::{Decision, decide_remove, decide_write, keep_refreshed_secret};
use super::graph::order;
use super::host::{Host, Observed};
use super::inventory::Inventory;
use super::render::{Content, Desired, DesiredFile, Root};

fn is_codex_home(root: &Root) -> bool {
    *root == Root::CodexHome
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Create something absent.
    Create,
    /// Replace something present (backed up first).
    Update,
    /// Remove a file codexport wrote earlier (backed up first).
    Delete,
    /// Nothing to do (up to date, or drift kept by policy).
    Noop,
}

/// The kind of step (graph node type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub enum StepKind {
    /// Create a directory under CODEX_HOME.
    EnsureDir,
    /// Write a replicated file.
    WriteFile,
    /// Write the rendered config.toml.
    WriteConfig,
    /// Write the rendered hooks.json.
    WriteHooks,
    /// Remove a file the new revision dropped.
    RemoveFile,
    /// Remove a directory that the removals leave empty.
    RemoveDir,
    /// Copy the running codexport to `$CODEXPORT_HOME/bin/codexport` (the MCP launcher).
    InstallSelf,
    /// Write `$CODEXPORT_HOME/mcp-manifest.json`.
    WriteMcpManifest,
    /// Install an MCP server's artifact under `$CODEXPORT_HOME/mcp-artifacts/`.
    InstallMcpArtifact,
    /// Stop managing a file that `exclude` in local.toml now covers: it is left as it is and
    /// leaves the inventory (always a no-op on disk).
    Release,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanStep {
    /// Stable id, e.g. `file:skills/a/SKILL.md`, `dir:skills/a`, `remove:prompts/old.md`.
    pub id: String,
    /// Node type.
    pub kind: StepKind,
    /// What happens.
    pub action: Action,
    /// Path relative to its root.
    pub path: String,
    /// The root `path` is relative to (CODEX_HOME unless said otherwise).
    #[serde(default, skip_serializing_if = "is_codex_home")]
    pub root: Root,
    /// File class, when the step is about a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<FileClass>,
    /// Why, in words.
    pub reason: String,
    /// True when the disk differs from both the desired state and what codexport last wrote.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drift: bool,
    /// What stands in the way when it is not a file (`directory`, `symlink`, `special file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obstruction: Option<String>,
    /// Steps that must run first (ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    /// Size on disk now (bytes); absent for secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_before: Option<u64>,
    /// Size after the step (bytes); absent for secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_after: Option<u64>,
    /// Mode after the step (`0o644`), when there will be a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// True for secret files: no size, diff or value is ever shown, only `(sensitive)`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
    /// Unified diff for updated text files (secret values redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// Counts by action.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Steps that create.
    pub create: usize,
    /// Steps that update.
    pub update: usize,
    /// Steps that delete.
    pub delete: usize,
    /// Steps with nothing to do.
    pub noop: usize,
    /// Steps that found drift (whatever the policy made of it).
    pub drift: usize,
}

/// A whole plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "codexport plan (v1)")]
pub struct Plan {
    /// The revision the plan converges to.
    pub revision: String,
    /// The revision applied before, if any.
    pub applied_revision: Option<String>,
    /// The drift policy in force (`onDrift` in local.toml).
    pub on_drift: OnDrift,
    /// Steps in execution order.
    pub steps: Vec<PlanStep>,
    /// Counts by action.
    pub summary: Summary,
    /// Why `apply` will refuse this plan without an override (mass delete, emptied config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// sha256 over the desired files (path, hash, mode) and the policy.
    pub desired_fingerprint: String,
    /// sha256 over what was observed on disk for every step.
    pub observed_fingerprint: String,
}

impl PlanStep {
    /// A step about a directory under CODEX_HOME (no class, size, mode or diff).
    pub fn directory(
        id: String,
        kind: StepKind,
        action: Action,
        path: String,
        reason: &str,
        requires: Vec<String>,
    ) -> Self {
        PlanStep {
            id,
            kind,
            action,
            path,
            root: Root::CodexHome,
            class: None,
            reason: reason.into(),
            drift: false,
            obstruction: None,
            requires,
            size_before: None,
            size_after: None,
            mode: None,
            sensitive: false,
            diff: None,
        }
    }
}

impl Plan {
    /// True when any step would change the disk.
    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|s| s.action != Action::Noop)
    }

    /// Paths with drift that `onDrift = fail` refuses to touch.
    pub fn blocking_drift(&self) -> Vec<&str> {
        if self.on_drift != OnDrift::Fail {
            return Vec::new();
        }
        self.steps.iter().filter(|s| s.drift).map(|s| s.path.as_str()).collect()
    }
}

/// Compare desired, last written (inventory) and actual; return the ordered plan.
pub fn build(
    desired: &Desired,
    inventory: &Inventory,
    roots: &Roots,
    policy: OnDrift,
    mcp_install: McpInstall,
    host: &dyn Host,
) -> Result<Plan, ReconcileError> {
    let codex_home = roots.codex_home.as_path();
    let mut steps: BTreeMap<String, PlanStep> = BTreeMap::new();
    let mut observed_hash = Sha256::new();
    let mut dirs: HashSet<String> = HashSet::new();
    for file in desired.files.iter().filter(|f| f.root == Root::CodexHome) {
        let parent = super::dirs::ensure_dirs(&file.path, codex_home, host, &mut steps, &mut dirs)?;
        let abs = codex_home.join(&file.path);
        let actual = if parent
            .as_ref()
            .is_some_and(|p| steps.contains_key(&super::dirs::dir_id(p)))
        {
            Observed::Absent
        } else {
            match inventory.files.get(&file.path) {
                Some(known) => host.observe_known(&abs, known)?,
                None => host.observe(&abs)?,
            }
        };
        observed_hash.update(format!("{}\0{actual:?}\n", file.path));
        let merged = match (&desired.config, file.path.as_str()) {
            (Some(outcome), CONFIG_TOML) => super::config_step::decide(outcome, file, &actual, policy),
            _ => None,
        };
        let refreshed = || {
            is_secret(&file.path)
                .then(|| keep_refreshed_secret(&file.sha256, inventory.files.get(&file.path), &actual))
                .flatten()
        };
        let decision = merged.or_else(refreshed).unwrap_or_else(|| {
            decide_write(
                &file.sha256,
                file.mode,
                inventory.files.get(&file.path),
                &actual,
                policy,
            )
        });
        let (kind, prefix) = match file.path.as_str() {
            CONFIG_TOML => (StepKind::WriteConfig, "config"),
            HOOKS_JSON => (StepKind::WriteHooks, "hooks"),
            _ => (StepKind::WriteFile, "file"),
        };
        let size_before = if let Observed::File { size, .. } = actual {
            Some(size)
        } else {
            None
        };
        let diff = match (&actual, decision.action, file.class) {
            (Observed::File { .. }, Action::Update, c) if c != FileClass::Secret => text_diff(file, &abs, host)?,
            _ => None,
        };
        let requires = parent
            .iter()
            .map(|p| super::dirs::dir_id(p))
            .filter(|id| steps.contains_key(id))
            .collect();
        let step = file_step(
            format!("{prefix}:{}", file.path),
            kind,
            file,
            decision,
            requires,
            size_before,
            diff,
        );
        steps.insert(step.id.clone(), step);
    }
    let wanted: HashSet<&str> = desired
        .files
        .iter()
        .filter(|f| f.root == Root::CodexHome)
        .map(|f| f.path.as_str())
        .collect();
    for (path, last) in inventory.files.iter().filter(|(p, _)| !wanted.contains(p.as_str())) {
        let actual = host.observe_known(&codex_home.join(path), last)?;
        observed_hash.update(format!("{path}\0{actual:?}\n"));
        // Released: left as it is and no longer managed. Runtime state is what an older
        // codexport published (Codex's own `skills/.system/`): Codex rewrites it, so it is
        // never removed.
        let released = match (desired.excludes(path), is_runtime_state(path)) {
            (true, _) => Some("excluded in local.toml: left as it is, no longer managed"),
            (_, true) => Some("Codex runtime state (Codex writes it for itself): left as it is, no longer managed"),
            _ => None,
        };
        let decision = match released {
            Some(reason) => Some(Decision {
                action: Action::Noop,
                reason: reason.into(),
                drift: false,
                obstruction: None,
            }),
            None => decide_remove(last, &actual, policy),
        };
        let Some(decision) = decision else {
            continue;
        };
        let released = released.is_some();
        let class = classify(path);
        let sensitive = class == FileClass::Secret;
        let size_before = match actual {
            Observed::File { size, .. } if !sensitive => Some(size),
            _ => None,
        };
        let id = format!("{}:{path}", if released { "release" } else { "remove" });
        let step = PlanStep {
            id: id.clone(),
            kind: if released {
                StepKind::Release
            } else {
                StepKind::RemoveFile
            },
            action: decision.action,
            path: path.clone(),
            root: Root::CodexHome,
            class: Some(class),
            reason: decision.reason,
            drift: decision.drift,
            obstruction: None,
            requires: Vec::new(),
            size_before,
            size_after: None,
            mode: None,
            sensitive,
            diff: None,
        };
        steps.insert(id, step);
    }
    super::dirs::add_empty_dir_removals(codex_home, host, &mut steps)?;
    super::own_steps::add(desired, roots, mcp_install, host, &mut steps, &mut observed_hash)?;
    let edges: Vec<(String, String)> = steps
        .values()
        .flat_map(|s| s.requires.iter().map(|r| (r.clone(), s.id.clone())))
        .collect();
    let ids: Vec<String> = steps.keys().cloned().collect();
    let ordered = order(&ids, &edges)?;
    let steps: Vec<PlanStep> = ordered.into_iter().filter_map(|id| steps.remove(&id)).collect();
    let summary = summarize(&steps);
    let homes = (codex_home, roots.codexport_home.as_path());
    let refusal = super::valve::refusal(&steps, desired, inventory, homes, host)?;
    Ok(Plan {
        revision: desired.revision.clone(),
        applied_revision: inventory.revision.clone(),
        on_drift: policy,
        steps,
        summary,
        refusal,
        desired_fingerprint: desired_fingerprint(desired, policy),
        observed_fingerprint: format!("sha256:{}", hex::encode(observed_hash.finalize())),
    })
}

fn file_step(
    id: String,
    kind: StepKind,
    file: &DesiredFile,
    d: Decision,
    requires: Vec<String>,
    size_before: Option<u64>,
    diff: Option<String>,
) -> PlanStep {
    let sensitive = file.class == FileClass::Secret;
    PlanStep {
        id,
        kind,
        action: d.action,
        path: file.path.clone(),
        root: Root::CodexHome,
        class: Some(file.class),
        reason: d.reason,
        drift: d.drift,
        obstruction: d.obstruction.map(str::to_string),
        requires,
        size_before: size_before.filter(|_| !sensitive),
        size_after: Some(file.size).filter(|_| !sensitive),
        mode: Some(fmt_mode(file.mode)),
        sensitive,
        diff,
    }
}

fn text_diff(file: &DesiredFile, abs: &Path, host: &dyn Host) -> Result<Option<String>, ReconcileError> {
    let Some(old) = host.read(abs)? else { return Ok(None) };
    let new = match &file.content {
        Content::Rendered(b) => b.clone(),
        Content::Blob(p) => match host.read(p)? {
            Some(b) => b,
            None => return Ok(None),
        },
    };
    Ok(super::diff::unified(&file.path, &old, &new))
}

fn summarize(steps: &[PlanStep]) -> Summary {
    let mut s = Summary::default();
    for step in steps {
        match step.action {
            Action::Create => s.create += 1,
            Action::Update => s.update += 1,
            Action::Delete => s.delete += 1,
            Action::Noop => s.noop += 1,
        }
        s.drift += usize::from(step.drift);
    }
    s
}

fn desired_fingerprint(desired: &Desired, policy: OnDrift) -> String {
    let mut h = Sha256::new();
    h.update(format!("{}\0{}\n", desired.revision, policy.as_str()));
    for f in &desired.files {
        h.update(format!("{}\0{}\0{:o}\n", f.path, f.sha256, f.mode));
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// `0o644`-style mode string.
pub fn fmt_mode(mode: u32) -> String {
    format!("0o{:03o}", mode & 0o7777)
}
