//! Turn the rendered config.toml (the keys codexport wants to own) into the file to write, by
//! merging it key by key with the file on disk ([`super::config_merge`]), and decide the
//! `WriteConfig` step from that merge instead of from whole-file hashes: a key Codex wrote is
//! not drift, an owned key edited locally is.

use std::collections::BTreeMap;

use toml_edit::DocumentMut;

use crate::codex::config::parse_config;
use crate::codex::keys::leaves;
use crate::codex::layout::CONFIG_TOML;
use crate::follower::local::OnDrift;
use crate::model::FileClass;
use crate::paths::Roots;

use super::ReconcileError;
use super::compare::Decision;
use super::config_merge::{ConfigMerge, KeyDriftKind, merge};
use super::host::{Host, Observed};
use super::inventory::Inventory;
use super::plan::Action;
use super::render::{CONFIG_MODE, Content, Desired, DesiredFile, Root};

/// What the merge found, kept with the desired state for the plan and the inventory.
#[derive(Debug, Clone)]
pub struct ConfigOutcome {
    /// The merge report (its `doc` is the file to write).
    pub merge: ConfigMerge,
    /// True when codexport wants to own no key at all (the master's config is empty or gone).
    pub owned_empty: bool,
    /// Why the file on disk could not be merged (it does not parse): it is then replaced as a
    /// whole, under the drift policy, with a backup.
    pub unreadable: Option<String>,
}

/// Replace the rendered config.toml in `desired` by its merge with the file on disk. When the
/// desired state has no config.toml but codexport owns keys in the file, merge an empty
/// document, so that exactly the owned keys go away.
pub fn merge_into(
    desired: &mut Desired,
    inventory: &Inventory,
    roots: &Roots,
    policy: OnDrift,
    host: &dyn Host,
) -> Result<(), ReconcileError> {
    let index = desired
        .files
        .iter()
        .position(|f| f.root == Root::CodexHome && f.path == CONFIG_TOML);
    let owned_doc = match index {
        Some(i) => {
            let bytes = content_bytes(&desired.files[i], host)?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            parse_config(std::path::Path::new(CONFIG_TOML), &text).map_err(super::render::RenderError::from)?
        }
        None if desired.excludes(CONFIG_TOML) => return Ok(()),
        None if !inventory.owned_keys().is_empty() => DocumentMut::new(),
        None => return Ok(()),
    };
    let abs = roots.codex_home.join(CONFIG_TOML);
    // A link, FIFO or device planted at config.toml is not read (the plan moves it aside as
    // an obstruction): unreadable, like a file that does not parse.
    let read = match host.read(&abs) {
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Err(e.to_string()),
        other => Ok(other?),
    };
    let (disk, unreadable) = match read {
        Err(e) => (None, Some(e)),
        Ok(None) => (None, None),
        Ok(Some(bytes)) => match std::str::from_utf8(&bytes)
            .map_err(|_| "it is not UTF-8".to_string())
            .and_then(|t| parse_config(&abs, t).map_err(|e| e.to_string()))
        {
            Ok(doc) => (Some(doc), None),
            Err(e) => (None, Some(e)),
        },
    };
    let owned_before = owned_before(inventory, roots, host)?;
    let mut merged = merge(&owned_doc, disk.as_ref(), &owned_before, policy);
    if let Some(ceiling) = &desired.restore_owned {
        // A rollback restores the whole file, the follower's own keys in it too: it owns only
        // what codexport owned in that generation.
        merged.owned.retain(|key, _| ceiling.contains_key(key));
    }
    let bytes = merged.doc.to_string().into_bytes();
    let file = DesiredFile {
        path: CONFIG_TOML.into(),
        root: Root::CodexHome,
        sha256: crate::fs::sha256_hex(&bytes),
        size: bytes.len() as u64,
        content: Content::Rendered(bytes),
        mode: index.map_or(CONFIG_MODE, |i| desired.files[i].mode),
        class: FileClass::Config,
    };
    match index {
        Some(i) => desired.files[i] = file,
        None => {
            desired.files.push(file);
            desired.files.sort_by(|a, b| (a.root, &a.path).cmp(&(b.root, &b.path)));
        }
    }
    desired.config = Some(ConfigOutcome {
        owned_empty: owned_doc.as_table().is_empty(),
        merge: merged,
        unreadable,
    });
    Ok(())
}

/// Keys codexport owned after the last apply. Inventories written before key ownership have
/// none recorded (`None`, not an empty set): then every key of the config.toml codexport last
/// wrote counts as owned.
fn owned_before(
    inventory: &Inventory,
    roots: &Roots,
    host: &dyn Host,
) -> Result<BTreeMap<String, String>, ReconcileError> {
    if let Some(keys) = &inventory.config_keys {
        return Ok(keys.clone());
    }
    let Some(last) = inventory.files.get(CONFIG_TOML) else {
        return Ok(BTreeMap::new());
    };
    let blob = crate::follower::store::FollowerStore::new(&roots.codexport_home)
        .blobs()
        .path_of(&last.sha256);
    let Some(bytes) = host.read(&blob)? else {
        return Ok(BTreeMap::new());
    };
    let text = String::from_utf8_lossy(&bytes);
    Ok(parse_config(&blob, &text)
        .map(|doc| leaves(doc.as_table()))
        .unwrap_or_default())
}

fn content_bytes(file: &DesiredFile, host: &dyn Host) -> Result<Vec<u8>, ReconcileError> {
    Ok(match &file.content {
        Content::Rendered(b) => b.clone(),
        Content::Blob(p) => host.read(p)?.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{}: the content of config.toml is gone", p.display()),
            )
        })?,
    })
}

/// The `WriteConfig` decision for a config.toml that exists on disk as a regular file.
pub fn decide(outcome: &ConfigOutcome, file: &DesiredFile, actual: &Observed, policy: OnDrift) -> Option<Decision> {
    let Observed::File { sha256, mode, .. } = actual else {
        return None;
    };
    if let Some(why) = &outcome.unreadable {
        let (action, how) = match policy {
            OnDrift::Keep => (Action::Noop, "kept (onDrift = keep)"),
            OnDrift::Overwrite => (Action::Update, "backed up, then replaced as a whole"),
            OnDrift::Fail => (Action::Update, "onDrift = fail stops the apply"),
        };
        return Some(Decision {
            action,
            reason: format!("drift: the file on disk does not parse ({why}); {how}"),
            drift: true,
            obstruction: None,
        });
    }
    let m = &outcome.merge;
    let mut parts = Vec::new();
    let count = |n: usize, what: &str| format!("{n} key{} {what}", if n == 1 { "" } else { "s" });
    if !m.set.is_empty() {
        parts.push(count(m.set.len(), "set by the master"));
    }
    if !m.removed.is_empty() {
        parts.push(count(m.removed.len(), "dropped by the master"));
    }
    if !m.overridden.is_empty() {
        parts.push(format!("master overrides local {}", m.overridden.join(", ")));
    }
    if !m.kept.is_empty() {
        parts.push(count(m.kept.len(), "kept (written by Codex or locally)"));
    }
    let drift = !m.drift.is_empty();
    if drift {
        let keys: Vec<String> = m
            .drift
            .iter()
            .map(|d| match d.kind {
                KeyDriftKind::EditedLocally => format!("{} edited locally", d.key),
                KeyDriftKind::DroppedButEdited => format!("{} dropped by the master but edited locally", d.key),
            })
            .collect();
        let how = match policy {
            OnDrift::Overwrite => "the master's value wins (backed up)",
            OnDrift::Keep => "the local value is kept (onDrift = keep)",
            OnDrift::Fail => "onDrift = fail stops the apply",
        };
        parts.insert(0, format!("drift: {}; {how}", keys.join(", ")));
    }
    let up_to_date = *sha256 == file.sha256 && *mode == file.mode;
    let action = if up_to_date { Action::Noop } else { Action::Update };
    if parts.is_empty() || (up_to_date && !drift) {
        parts = vec![if up_to_date {
            "up to date".into()
        } else {
            "formatting or mode changed".into()
        }];
        if up_to_date && !m.kept.is_empty() {
            parts.push(count(m.kept.len(), "kept (written by Codex or locally)"));
        }
    }
    Some(Decision {
        action,
        reason: parts.join("; "),
        drift,
        obstruction: None,
    })
}
