//! `hook install` / `hook uninstall`: change only codexport's own SessionStart hook, through
//! the usual journal, backups and generation, and nothing else. The staged revision stays
//! unapplied and every other managed file stays as it is on disk, local edits included.
//!
//! What is written:
//! - `hooks.json`: the file on disk with codexport's handler added (appended after every other
//!   SessionStart group, [`crate::follower::hook::with_codexport_hook`]) or removed;
//! - `config.toml`: the file on disk with the handler's `[hooks.state."<key>"] trusted_hash`
//!   set (a key codexport owns from then on) or removed;
//! - the launcher `$CODEXPORT_HOME/bin/codexport` the handler runs (install only).
//!
//! How: the desired state is the applied one (every file of the inventory as codexport last
//! wrote it) plus the hook ([`super::render_hook::apply`]), and the plan is cut down to the
//! steps above. The inventory keeps the applied revision, so `status` still shows the staged
//! one as pending. Under `onDrift = keep`, a locally edited hooks.json is kept (the hook then
//! waits, as in any apply); under `fail`, the edit stops the change.

use std::collections::{BTreeMap, HashSet};

use toml_edit::DocumentMut;

use crate::codex::config::parse_config;
use crate::codex::keys::leaves;
use crate::codex::layout::{CONFIG_TOML, HOOKS_JSON, classify};
use crate::follower::local::{LocalSettings, McpInstall};
use crate::follower::store::FollowerStore;
use crate::paths::Roots;

use super::config_merge::ConfigMerge;
use super::config_step::ConfigOutcome;
use super::execute::{ApplyReport, ExecuteOptions};
use super::generations::GenerationKind;
use super::host::{Host, Observed};
use super::inventory::Inventory;
use super::plan::{Action, Plan, PlanStep, Summary};
use super::render::{CONFIG_MODE, Content, Desired, DesiredFile, LAUNCHER, RenderError, Root};
use super::render_hook::{observe_trust, set_trust};
use super::{LOCK_WAIT, ReconcileError, journal};

/// What [`apply_hook_only`] did.
#[derive(Debug)]
pub struct HookApplied {
    /// The steps that ran (hooks.json, config.toml, the launcher).
    pub plan: Plan,
    /// The execution (`generation` is `None` when nothing changed).
    pub report: ApplyReport,
}

/// Under the lock: recover interrupted runs, then bring hooks.json, config.toml and the
/// launcher in line with `$CODEXPORT_HOME/hook.json` (installed or not), and nothing else.
/// `Ok(None)` when no revision was ever applied: the first apply writes the hook.
///
/// Errors: as [`super::apply_staged`] (lock, journal recovery, an unparsable config.toml or
/// hooks.json, drift under `onDrift = fail`, a failed step rolled back).
pub fn apply_hook_only(roots: &Roots, host: &dyn Host) -> Result<Option<HookApplied>, ReconcileError> {
    let _lock = host.lock(&roots.codexport_home.join("lock"), LOCK_WAIT)?;
    journal::recover(host, &roots.codexport_home, &roots.codex_home)?;
    let settings = LocalSettings::load(&roots.codexport_home)?;
    let inventory = super::inventory::load(host, &roots.codexport_home)?;
    let Some(revision) = inventory.revision.clone() else {
        return Ok(None);
    };
    let old_key = observe_trust(roots).trust_key;
    let mut desired = applied_state(&inventory, revision, &settings, roots, host)?;
    let trust = super::render_hook::apply(&mut desired, &inventory, roots, host)?;
    desired
        .files
        .retain(|f| !(f.root == Root::CodexHome && f.path == CONFIG_TOML));
    let config = config_with_trust(&inventory, old_key.as_deref(), trust.as_ref(), roots, host)?;
    if let Some((file, outcome)) = config {
        desired.files.push(file);
        desired.files.sort_by(|a, b| (a.root, &a.path).cmp(&(b.root, &b.path)));
        desired.config = Some(outcome);
    }
    let full = super::plan::build(&desired, &inventory, roots, settings.on_drift, McpInstall::Manual, host)?;
    let plan = only_the_hook(full);
    if plan.has_changes() && host.observe(&roots.codex_home)? == Observed::Absent {
        host.create_private_dir_all(&roots.codex_home)?;
    }
    let options = ExecuteOptions {
        kind: GenerationKind::Apply,
        allow_mass_delete: false,
        keep_generations: settings.keep_generations,
        unattended: false,
    };
    let report = super::execute::execute(
        &plan,
        &desired,
        &inventory,
        roots,
        host,
        options,
        &crate::progress::NoProgress,
    )?;
    Ok(Some(HookApplied { plan, report }))
}

/// Every file of the inventory as codexport last wrote it (content from the store), plus
/// hooks.json as it is on disk (the base the hook is added to or removed from).
fn applied_state(
    inventory: &Inventory,
    revision: String,
    settings: &LocalSettings,
    roots: &Roots,
    host: &dyn Host,
) -> Result<Desired, ReconcileError> {
    let blobs = FollowerStore::new(&roots.codexport_home).blobs();
    let mut files = Vec::new();
    // hooks.json is taken from disk below; config.toml is made by `config_with_trust`.
    let others = inventory
        .files
        .iter()
        .filter(|(p, _)| *p != HOOKS_JSON && *p != CONFIG_TOML);
    for (path, entry) in others {
        let blob = blobs.path_of(&entry.sha256);
        files.push(DesiredFile {
            path: path.clone(),
            root: Root::CodexHome,
            size: host.file_size(&blob)?.unwrap_or(0),
            content: Content::Blob(blob),
            sha256: entry.sha256.clone(),
            mode: entry.mode,
            class: classify(path),
        });
    }
    if let Observed::File { sha256, size, mode } = host.observe(&roots.codex_home.join(HOOKS_JSON))? {
        let bytes = host.read(&roots.codex_home.join(HOOKS_JSON))?.unwrap_or_default();
        files.push(DesiredFile {
            path: HOOKS_JSON.into(),
            root: Root::CodexHome,
            content: Content::Rendered(bytes),
            sha256,
            size,
            mode,
            class: classify(HOOKS_JSON),
        });
    }
    files.sort_by(|a, b| (a.root, &a.path).cmp(&(b.root, &b.path)));
    Ok(Desired {
        revision,
        files,
        installs: Vec::new(),
        config: None,
        exclude: settings.exclude.clone(),
        restore: false,
        restore_owned: None,
    })
}

/// config.toml as on disk with the old trust entry of codexport's handler removed and the new
/// one (when installed) set, and the keys codexport owns after that: the inventory's, minus the
/// old entry, plus the new. Always returned when codexport manages config.toml or the file
/// changes (the inventory's key ownership is carried by it); `None` otherwise.
fn config_with_trust(
    inventory: &Inventory,
    old_key: Option<&str>,
    trust: Option<&super::render_hook::TrustEntry>,
    roots: &Roots,
    host: &dyn Host,
) -> Result<Option<(DesiredFile, ConfigOutcome)>, ReconcileError> {
    let abs = roots.codex_home.join(CONFIG_TOML);
    let (before, mode) = match host.observe(&abs)? {
        Observed::File { mode, .. } => (host.read(&abs)?.unwrap_or_default(), mode),
        _ => (Vec::new(), CONFIG_MODE),
    };
    let text = String::from_utf8_lossy(&before).into_owned();
    let mut doc = parse_config(&abs, &text).map_err(RenderError::from)?;
    let mut owned = inventory.owned_keys().clone();
    let mut removed = Vec::new();
    if let Some(old) = old_key.filter(|k| trust.is_none_or(|(new, _)| new != k)) {
        let gone = trust_leaves(old, "");
        remove_trust(&mut doc, old);
        for key in gone.keys() {
            owned.remove(key);
            removed.push(key.clone());
        }
    }
    let mut set = Vec::new();
    if let Some((key, hash)) = trust {
        set_trust(&mut doc, key, hash);
        for (leaf, fingerprint) in trust_leaves(key, hash) {
            set.push(leaf.clone());
            owned.insert(leaf, fingerprint);
        }
    }
    let bytes = doc.to_string().into_bytes();
    if bytes == before && !inventory.files.contains_key(CONFIG_TOML) {
        return Ok(None);
    }
    let file = DesiredFile {
        path: CONFIG_TOML.into(),
        root: Root::CodexHome,
        sha256: crate::fs::sha256_hex(&bytes),
        size: bytes.len() as u64,
        content: Content::Rendered(bytes),
        mode,
        class: classify(CONFIG_TOML),
    };
    let outcome = ConfigOutcome {
        merge: ConfigMerge {
            doc,
            owned,
            set,
            removed,
            kept: Vec::new(),
            overridden: Vec::new(),
            drift: Vec::new(),
        },
        // Only codexport's own entry changes: the "empties config.toml" valve is not about it.
        owned_empty: false,
        unreadable: None,
    };
    Ok(Some((file, outcome)))
}

/// The encoded leaves (with fingerprints) of one trust entry.
fn trust_leaves(key: &str, hash: &str) -> BTreeMap<String, String> {
    let mut doc = DocumentMut::new();
    set_trust(&mut doc, key, hash);
    leaves(doc.as_table())
}

/// Remove `[hooks.state."<key>"] trusted_hash`, then every table that leaves empty.
fn remove_trust(doc: &mut DocumentMut, key: &str) {
    let Some(hooks) = doc.get_mut("hooks").and_then(|h| h.as_table_like_mut()) else {
        return;
    };
    if let Some(state) = hooks.get_mut("state").and_then(|s| s.as_table_like_mut()) {
        if let Some(entry) = state.get_mut(key).and_then(|e| e.as_table_like_mut()) {
            entry.remove("trusted_hash");
            if entry.is_empty() {
                state.remove(key);
            }
        }
        if state.is_empty() {
            hooks.remove("state");
        }
    }
    if hooks.is_empty() {
        doc.remove("hooks");
    }
}

/// `plan` with only the steps of the hook: hooks.json, config.toml and the launcher.
fn only_the_hook(plan: Plan) -> Plan {
    let is_hook = |s: &PlanStep| match s.root {
        Root::CodexHome => s.path == HOOKS_JSON || s.path == CONFIG_TOML,
        Root::CodexportHome => s.path == LAUNCHER,
    };
    let mut steps: Vec<PlanStep> = plan.steps.into_iter().filter(is_hook).collect();
    let ids: HashSet<String> = steps.iter().map(|s| s.id.clone()).collect();
    for s in &mut steps {
        s.requires.retain(|r| ids.contains(r));
    }
    let mut summary = Summary::default();
    for s in &steps {
        match s.action {
            Action::Create => summary.create += 1,
            Action::Update => summary.update += 1,
            Action::Delete => summary.delete += 1,
            Action::Noop => summary.noop += 1,
        }
        summary.drift += usize::from(s.drift);
    }
    Plan {
        steps,
        summary,
        refusal: None,
        ..plan
    }
}
