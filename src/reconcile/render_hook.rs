//! codexport's own SessionStart hook in the desired state: while it is installed
//! (`$CODEXPORT_HOME/hook.json`), every render appends its group to hooks.json and puts its
//! trust entry into config.toml (a key codexport owns), so no revision of the master ever drops
//! it and Codex runs it (an untrusted hook is skipped silently). A codexport hook found in the
//! master's hooks.json is never replicated: it names the master's paths.
//!
//! When the master has no hooks.json, the follower's own file is the base (its hooks are kept,
//! their indices and trust keys unchanged).
//!
//! Trust keys name hooks.json and config.toml by CODEX_HOME as Codex resolves it, which is not
//! always the path as given (a symlinked `~/.codex`, see [`hooks_json_path`]): the master's
//! entries are renamed here, and codexport's own key uses the same name.

use std::path::Path;

use serde_json::Value;

use crate::codex::config::{parse_config, parse_hooks};
use crate::codex::hooks::{
    CodexHomeFrom, codex_home_in_keys, config_trusts, hooks_json_in_keys, trust_entries, trust_hash,
};
use crate::codex::layout::{CONFIG_TOML, HOOKS_JSON};
use crate::codex::trust::rename_sources;
use crate::follower::hook::{
    HookSettings, MATCHER, Shell, command, is_codexport_handler, with_codexport_hook, without_codexport_hook,
};
use crate::model::FileClass;
use crate::paths::Roots;

use super::ReconcileError;
use super::host::{Host, Observed};
use super::inventory::Inventory;
use super::render::{CONFIG_MODE, Content, Desired, DesiredFile, LAUNCHER, RenderError, Root, hooks_mode};

/// The trust entry written for the hook: (key, `sha256:...`).
pub type TrustEntry = (String, String);

/// Add (or strip) codexport's hook in `desired`. Returns the trust entry when installed.
pub fn apply(
    desired: &mut Desired,
    inventory: &Inventory,
    roots: &Roots,
    host: &dyn Host,
) -> Result<Option<TrustEntry>, ReconcileError> {
    let hook = HookSettings::load(&roots.codexport_home).map_err(|reason| {
        RenderError::Overlay(crate::follower::overlay::OverlayError {
            path: HookSettings::path(&roots.codexport_home),
            reason: format!("{reason} (run `codexport hook install` again)"),
        })
    })?;
    name_sources_as_codex_does(desired, roots, host)?;
    let index = position(desired, HOOKS_JSON);
    let base = match index {
        Some(i) => Some(parse_value(&content(&desired.files[i], host)?)?),
        None if !desired.restore && (hook.is_some() || inventory.files.contains_key(HOOKS_JSON)) => {
            match host.read(&roots.codex_home.join(HOOKS_JSON))? {
                Some(bytes) => Some(parse_value(&bytes)?),
                None => None,
            }
        }
        None => None,
    };
    let Some(hook) = hook else {
        if let Some(base) = base {
            let stripped = without_codexport_hook(base.clone());
            if index.is_some() || stripped != base || inventory.files.contains_key(HOOKS_JSON) {
                set_hooks(desired, pretty(&stripped)?);
            }
        }
        return Ok(None);
    };
    if desired.excludes(HOOKS_JSON) {
        return Err(ReconcileError::Refused(
            "hooks.json is excluded in local.toml, but codexport's SessionStart hook lives there: remove the exclusion or run `codexport hook uninstall`".into(),
        ));
    }
    ensure_launcher(desired, host)?;
    let launcher = roots.codexport_home.join(LAUNCHER);
    let cmd = command(&launcher, &roots.codexport_home, hook.budget_ms, Shell::native());
    let (doc, group) = with_codexport_hook(base.unwrap_or_else(|| serde_json::json!({})), &cmd, hook.timeout_secs());
    set_hooks(desired, pretty(&doc)?);
    let handler = doc["hooks"]["SessionStart"][group]["hooks"][0]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let key = format!("{}:session_start:{group}:0", hooks_json_path(roots).display());
    let hash = trust_hash("SessionStart", Some(MATCHER), &handler);
    let mut config = match position(desired, CONFIG_TOML) {
        Some(i) => {
            let text = String::from_utf8_lossy(&content(&desired.files[i], host)?).into_owned();
            parse_config(Path::new(CONFIG_TOML), &text).map_err(RenderError::from)?
        }
        None => toml_edit::DocumentMut::new(),
    };
    set_trust(&mut config, &key, &hash);
    set_file(desired, CONFIG_TOML, config.to_string().into_bytes(), CONFIG_MODE);
    Ok(Some((key, hash)))
}

/// The path Codex names hooks.json by in trust keys, for a Codex started with this process's
/// environment: [`hooks_json_in_keys`] (canonical when `CODEX_HOME` is set, `$HOME/.codex` as
/// written when it is not).
pub fn hooks_json_path(roots: &Roots) -> std::path::PathBuf {
    hooks_json_in_keys(&roots.codex_home, CodexHomeFrom::from_env())
}

/// The master's trust entries, rendered under `${codexHome}` as given, renamed to the name
/// Codex gives this CODEX_HOME ([`rename_sources`]); nothing changes when the two agree.
fn name_sources_as_codex_does(desired: &mut Desired, roots: &Roots, host: &dyn Host) -> Result<(), ReconcileError> {
    let named = codex_home_in_keys(&roots.codex_home, CodexHomeFrom::from_env());
    let Some(i) = position(desired, CONFIG_TOML).filter(|_| named != roots.codex_home) else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(&content(&desired.files[i], host)?).into_owned();
    let mut config = parse_config(Path::new(CONFIG_TOML), &text).map_err(RenderError::from)?;
    if rename_sources(&mut config, &roots.codex_home, &named) > 0 {
        let mode = desired.files[i].mode;
        set_file(desired, CONFIG_TOML, config.to_string().into_bytes(), mode);
    }
    Ok(())
}

/// codexport's own handler in hooks.json, as Codex sees it (what `hook status` and `doctor`
/// report).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedTrust {
    /// Trust key of the codexport handler in hooks.json; `None` when none is there.
    pub trust_key: Option<String>,
    /// True when config.toml trusts that handler with the hash recomputed from hooks.json (and
    /// does not disable it): Codex will run it.
    pub trusted: bool,
}

/// Find codexport's SessionStart handler in `~/.codex/hooks.json` and recompute its trust hash
/// against config.toml. Unreadable or unparsable files count as "not there" / "not trusted".
pub fn observe_trust(roots: &Roots) -> ObservedTrust {
    let path = hooks_json_path(roots);
    let mut observed = ObservedTrust::default();
    let Some(hooks) = fs_err::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    else {
        return observed;
    };
    let config: toml::Table = fs_err::read_to_string(roots.codex_home.join(CONFIG_TOML))
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_default();
    let entries = trust_entries(&path.display().to_string(), &hooks);
    let groups = hooks["hooks"]["SessionStart"].as_array().cloned().unwrap_or_default();
    for (g, group) in groups.iter().enumerate() {
        for (h, handler) in group["hooks"].as_array().into_iter().flatten().enumerate() {
            if !is_codexport_handler(handler) {
                continue;
            }
            let key = format!("{}:session_start:{g}:{h}", path.display());
            let hash = entries.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str());
            observed.trusted = hash.is_some_and(|hash| config_trusts(&config, &key, hash));
            observed.trust_key = Some(key);
        }
    }
    observed
}

/// `[hooks.state."<key>"] trusted_hash = "<hash>"`, other keys of the entry kept.
pub fn set_trust(config: &mut toml_edit::DocumentMut, key: &str, hash: &str) {
    let implicit = || {
        let mut t = toml_edit::Table::new();
        t.set_implicit(true);
        toml_edit::Item::Table(t)
    };
    let hooks = config.entry("hooks").or_insert_with(implicit);
    let Some(hooks) = hooks.as_table_like_mut() else { return };
    let state = hooks.entry("state").or_insert_with(implicit);
    let Some(state) = state.as_table_like_mut() else { return };
    let entry = state
        .entry(key)
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
    if let Some(entry) = entry.as_table_like_mut() {
        entry.insert("trusted_hash", toml_edit::value(hash));
    }
}

fn position(desired: &Desired, path: &str) -> Option<usize> {
    desired
        .files
        .iter()
        .position(|f| f.root == Root::CodexHome && f.path == path)
}

fn content(file: &DesiredFile, host: &dyn Host) -> Result<Vec<u8>, ReconcileError> {
    Ok(match &file.content {
        Content::Rendered(b) => b.clone(),
        Content::Blob(p) => host.read(p)?.unwrap_or_default(),
    })
}

fn parse_value(bytes: &[u8]) -> Result<Value, ReconcileError> {
    let text = String::from_utf8_lossy(bytes);
    Ok(parse_hooks(Path::new(HOOKS_JSON), &text).map_err(RenderError::from)?)
}

fn pretty(v: &Value) -> Result<Vec<u8>, ReconcileError> {
    let text = serde_json::to_string_pretty(v).map_err(std::io::Error::other)?;
    Ok((text + "\n").into_bytes())
}

/// [`set_file`] for hooks.json, with the mode its bytes call for ([`hooks_mode`]).
fn set_hooks(desired: &mut Desired, bytes: Vec<u8>) {
    let mode = hooks_mode(&bytes);
    set_file(desired, HOOKS_JSON, bytes, mode);
}

fn set_file(desired: &mut Desired, path: &str, bytes: Vec<u8>, mode: u32) {
    let file = DesiredFile {
        path: path.into(),
        root: Root::CodexHome,
        sha256: crate::fs::sha256_hex(&bytes),
        size: bytes.len() as u64,
        content: Content::Rendered(bytes),
        mode,
        class: FileClass::Config,
    };
    match position(desired, path) {
        Some(i) => desired.files[i] = file,
        None => {
            desired.files.push(file);
            desired.files.sort_by(|a, b| (a.root, &a.path).cmp(&(b.root, &b.path)));
        }
    }
}

/// The hook runs `$CODEXPORT_HOME/bin/codexport`: make sure the launcher is installed even when
/// no MCP server needs it.
fn ensure_launcher(desired: &mut Desired, host: &dyn Host) -> Result<(), ReconcileError> {
    if desired
        .files
        .iter()
        .any(|f| f.root == Root::CodexportHome && f.path == LAUNCHER)
    {
        return Ok(());
    }
    let exe = std::env::current_exe()?;
    if let Observed::File { sha256, size, .. } = host.observe(&exe)? {
        desired.files.push(DesiredFile {
            path: LAUNCHER.into(),
            root: Root::CodexportHome,
            content: Content::Blob(exe),
            sha256,
            size,
            mode: 0o755,
            class: FileClass::Tooling,
        });
        desired.files.sort_by(|a, b| (a.root, &a.path).cmp(&(b.root, &b.path)));
    }
    Ok(())
}
