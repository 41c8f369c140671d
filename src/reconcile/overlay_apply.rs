//! Apply the follower's overlay (`mcps.local.toml`, `skills/`, `overrides/`) to what the master
//! wants (DESIGN.md "Rendering on the follower"): canonical names win unless `local.toml`
//! allows an override, `${variables}` in the overlay expand like the master's, and
//! `overrides/config.toml` is merged key by key.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use toml_edit::{DocumentMut, Item, Table};

use crate::codex::keys::clear_positions;
use crate::codex::layout::classify;
use crate::codex::portable::expand_toml;
use crate::follower::local::LocalSettings;
use crate::follower::overlay::{MCPS_LOCAL, OVERRIDES_DIR, Overlay};

use super::host::{Host, Observed};
use super::render::{Content, DesiredFile, RenderError, Root};

/// Add the local MCP servers and merge the config patch into `config` (already expanded).
/// Returns the names of master servers that a local server replaced.
///
/// Errors: [`RenderError::NameTaken`] for a local server with a master server's name that
/// `allowMcpOverrides` does not list; [`RenderError::Expand`] naming the overlay file.
pub fn apply_to_config(
    config: &mut DocumentMut,
    overlay: &Overlay,
    settings: &LocalSettings,
    vars: &BTreeMap<String, String>,
) -> Result<BTreeSet<String>, RenderError> {
    let mut replaced = BTreeSet::new();
    if !overlay.mcp_servers.is_empty() {
        let mut local = DocumentMut::new();
        local.insert("mcp_servers", Item::Table(overlay.mcp_servers.clone()));
        expand_toml(&mut local, vars).map_err(|source| RenderError::Expand {
            file: MCPS_LOCAL.into(),
            source,
        })?;
        let servers = config
            .entry("mcp_servers")
            .or_insert_with(|| {
                let mut t = Table::new();
                t.set_implicit(true);
                Item::Table(t)
            })
            .as_table_like_mut()
            .ok_or_else(|| {
                RenderError::Overlay(overlay_err(
                    Path::new("config.toml"),
                    "`mcp_servers` is not a table, so local MCP servers cannot be added",
                ))
            })?;
        let Some(local_servers) = local.get("mcp_servers").and_then(Item::as_table_like) else {
            return Ok(replaced);
        };
        for (name, server) in local_servers.iter() {
            if servers.contains_key(name) {
                if !settings.allow_mcp_overrides.iter().any(|a| a == name) {
                    return Err(RenderError::NameTaken {
                        file: MCPS_LOCAL.into(),
                        what: "MCP server",
                        name: name.to_owned(),
                        allow: "allowMcpOverrides",
                    });
                }
                replaced.insert(name.to_owned());
            }
            let mut server = server.clone();
            clear_positions(&mut server);
            servers.insert(name, server);
        }
    }
    if let Some(patch) = &overlay.config_patch {
        let mut patch = patch.clone();
        expand_toml(&mut patch, vars).map_err(|source| RenderError::Expand {
            file: format!("{OVERRIDES_DIR}/config.toml"),
            source,
        })?;
        merge_patch(config.as_item_mut(), patch.as_item());
    }
    Ok(replaced)
}

/// Merge `patch` into `target` key by key: tables recurse, every other value replaces.
pub fn merge_patch(target: &mut Item, patch: &Item) {
    let (Some(target_table), Some(patch_table)) = (target.as_table_like_mut(), patch.as_table_like()) else {
        *target = patch.clone();
        return;
    };
    for (key, value) in patch_table.iter() {
        match target_table.get_mut(key) {
            Some(existing) if existing.is_table_like() && value.is_table_like() => merge_patch(existing, value),
            Some(existing) => {
                let decor = existing.as_value().map(|v| v.decor().clone());
                *existing = value.clone();
                if let (Some(decor), Some(v)) = (decor, existing.as_value_mut()) {
                    *v.decor_mut() = decor;
                }
            }
            None => {
                let mut value = value.clone();
                clear_positions(&mut value);
                target_table.insert(key, value);
            }
        }
    }
}

/// Add the local skills and override files to `files`. A local skill with a master skill's
/// name replaces all of that skill's files, and only when `allowSkillOverrides` lists it.
pub fn apply_to_files(
    files: &mut Vec<DesiredFile>,
    overlay: &Overlay,
    settings: &LocalSettings,
    host: &dyn Host,
) -> Result<(), RenderError> {
    for (name, skill_files) in &overlay.skills {
        let prefix = format!("skills/{name}/");
        if files.iter().any(|f| f.path.starts_with(&prefix)) {
            if !settings.allow_skill_overrides.iter().any(|a| a == name) {
                return Err(RenderError::NameTaken {
                    file: format!("skills/{name}/"),
                    what: "skill",
                    name: name.clone(),
                    allow: "allowSkillOverrides",
                });
            }
            files.retain(|f| !f.path.starts_with(&prefix));
        }
        for f in skill_files {
            files.push(local_file(&f.path, &f.source, f.mode, host)?);
        }
    }
    for f in &overlay.files {
        files.retain(|d| d.path != f.path);
        files.push(local_file(&f.path, &f.source, f.mode, host)?);
    }
    Ok(())
}

fn local_file(path: &str, source: &Path, mode: u32, host: &dyn Host) -> Result<DesiredFile, RenderError> {
    let Observed::File { sha256, size, .. } = host.observe(source)? else {
        return Err(RenderError::Overlay(overlay_err(
            source,
            "is no longer a regular file (changed while codexport read it)",
        )));
    };
    let class = classify(path);
    Ok(DesiredFile {
        path: path.to_owned(),
        root: Root::CodexHome,
        content: Content::Blob(source.to_path_buf()),
        sha256,
        size,
        mode: if class == crate::model::FileClass::Secret {
            crate::fs::SECRET_MODE
        } else {
            mode
        },
        class,
    })
}

fn overlay_err(path: &Path, reason: &str) -> crate::follower::overlay::OverlayError {
    crate::follower::overlay::OverlayError {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}
