//! The config.toml and hooks.json part of a publish: both made portable (master paths turned
//! into `${home}` / `${codexHome}` / path variables), stored as blobs, the hooks the master
//! trusts carried over, and the MCP servers of config.toml with their artifacts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::blobstore::BlobStore;
use crate::codex::config::{ParseError, parse_config, parse_hooks};
use crate::codex::layout::{CONFIG_TOML, HOOKS_JSON};
use crate::codex::portable::{MasterPaths, portable_json, portable_toml, variables_in_json, variables_in_toml};
use crate::codex::trust::portable_trust;
use crate::model::document::McpTransport;
use crate::model::{BlobRef, McpServerSpec, Spec};

use super::publish::PublishError;
use super::scan::ScanReport;

/// Fill `spec.hooks`, `spec.config`, `spec.mcp_servers` and `spec.path_variables` from the
/// hooks.json and config.toml of `report` (each absent when the scan did not find it), storing
/// the portable texts in `blobs`.
///
/// Errors: a file that does not parse ([`PublishError::Parse`], with file, line and column), is
/// not UTF-8, or an MCP server project that cannot be collected.
pub(super) fn config_and_hooks(
    report: &ScanReport,
    master_paths: &MasterPaths,
    blobs: &BlobStore,
    spec: &mut Spec,
) -> Result<(), PublishError> {
    let mut variables = BTreeSet::new();
    let mut hooks_value = None;
    if let Some(file) = report.files.iter().find(|f| f.rel == HOOKS_JSON) {
        let text = read_text(&file.abs)?;
        let mut value = parse_hooks(&file.abs, &text)?;
        portable_json(&mut value, master_paths);
        variables.extend(variables_in_json(&value));
        let pretty = serde_json::to_string_pretty(&value).map_err(|e| PublishError::Serialize(e.to_string()))? + "\n";
        spec.hooks = Some(put(blobs, pretty.as_bytes())?);
        hooks_value = Some(value);
    }
    if let Some(file) = report.files.iter().find(|f| f.rel == CONFIG_TOML) {
        let text = read_text(&file.abs)?;
        let mut doc = parse_config(&file.abs, &text)?;
        portable_toml(&mut doc, master_paths);
        variables.extend(variables_in_toml(&doc));
        // Trust is published over the portable hooks (the same on every machine); a hook
        // whose variables the master cannot rebuild stays untrusted.
        let mut master_vars = master_paths.variables.clone();
        master_vars.insert("home".into(), master_paths.home.trim_end_matches(['/', '\\']).into());
        master_vars.insert(
            "codexHome".into(),
            master_paths.codex_home.trim_end_matches(['/', '\\']).into(),
        );
        let names: Vec<String> = variables.iter().cloned().collect();
        let _ = portable_trust(&mut doc, hooks_value.as_ref(), &master_vars, &names);
        let portable = doc.to_string();
        spec.mcp_servers = mcp_servers(&file.abs, &portable)?;
        let env = crate::mcp::infer::InferEnv::from_process(master_paths.clone());
        crate::mcp::attach_artifacts(&mut spec.mcp_servers, &env, blobs)?;
        spec.config = Some(put(blobs, portable.as_bytes())?);
    }
    variables.remove("home");
    variables.remove("codexHome");
    spec.path_variables = variables.into_iter().collect();
    Ok(())
}

fn put(blobs: &BlobStore, bytes: &[u8]) -> Result<BlobRef, PublishError> {
    Ok(BlobRef {
        sha256: blobs.put_bytes(bytes)?,
        size: bytes.len() as u64,
    })
}

fn read_text(path: &Path) -> Result<String, PublishError> {
    let bytes = fs_err::read(path)?;
    String::from_utf8(bytes).map_err(|_| PublishError::NotText(path.to_path_buf()))
}

/// Every `[mcp_servers.*]` table of the (portable) config, with its transport.
fn mcp_servers(path: &Path, portable: &str) -> Result<BTreeMap<String, McpServerSpec>, PublishError> {
    let table: toml::Table = toml::from_str(portable).map_err(|e| ParseError {
        path: path.to_path_buf(),
        line: 0,
        column: 0,
        reason: e.to_string(),
    })?;
    let mut out = BTreeMap::new();
    let Some(toml::Value::Table(servers)) = table.get("mcp_servers") else {
        return Ok(out);
    };
    for (name, server) in servers {
        let toml::Value::Table(server) = server else { continue };
        let transport = if server.contains_key("url") {
            McpTransport::Http
        } else {
            McpTransport::Stdio
        };
        let definition = match serde_json::to_value(server) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => continue,
        };
        out.insert(
            name.clone(),
            McpServerSpec {
                transport,
                definition,
                artifact: None,
            },
        );
    }
    Ok(out)
}
