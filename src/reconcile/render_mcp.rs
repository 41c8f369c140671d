//! The MCP part of rendering: command servers pointed at the launcher, codexport's own files
//! (the launcher binary, the manifest) and the artifacts to install.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::mcp::install::{install_dir, is_installed};
use crate::mcp::manifest::{launcher_table, render_manifest};
use crate::model::document::McpTransport;
use crate::model::{DesiredState, FileClass};

use super::host::{Host, Observed};
use super::render::{Content, DesiredFile, DesiredInstall, LAUNCHER, MANIFEST, RenderError, Root};

/// The document without the MCP servers a local server replaced (they are neither launched
/// nor installed here).
pub fn without_servers(doc: &DesiredState, replaced: &BTreeSet<String>) -> DesiredState {
    let mut doc = doc.clone();
    doc.spec.mcp_servers.retain(|name, _| !replaced.contains(name));
    doc
}

/// Every command server in the rendered config runs through `codexport mcp run <name>`
/// (DESIGN.md "Rendering on the follower"); URL servers stay as they are.
pub fn point_command_servers_at_the_launcher(config: &mut toml_edit::DocumentMut, codexport_home: &Path) {
    let Some(servers) = config.get_mut("mcp_servers").and_then(|i| i.as_table_like_mut()) else {
        return;
    };
    let names: Vec<String> = servers.iter().map(|(k, _)| k.to_string()).collect();
    for name in names {
        if let Some(table) = servers.get_mut(&name).and_then(|i| i.as_table_like_mut()) {
            launcher_table(table, &name, codexport_home);
        }
    }
}

/// codexport's own files: the launcher binary (when a command server needs it) and the MCP
/// manifest (when there are servers).
pub fn own_files(
    doc: &DesiredState,
    vars: &BTreeMap<String, String>,
    host: &dyn Host,
) -> Result<Vec<DesiredFile>, RenderError> {
    let mut out = Vec::new();
    if doc
        .spec
        .mcp_servers
        .values()
        .any(|s| s.transport == McpTransport::Stdio)
    {
        let exe = std::env::current_exe()?;
        if let Observed::File { sha256, size, .. } = host.observe(&exe)? {
            out.push(DesiredFile {
                path: LAUNCHER.into(),
                root: Root::CodexportHome,
                content: Content::Blob(exe),
                sha256,
                size,
                mode: 0o755,
                class: FileClass::Tooling,
            });
        }
    }
    if !doc.spec.mcp_servers.is_empty() {
        let bytes = render_manifest(doc, vars);
        out.push(DesiredFile {
            path: MANIFEST.into(),
            root: Root::CodexportHome,
            sha256: crate::fs::sha256_hex(&bytes),
            size: bytes.len() as u64,
            content: Content::Rendered(bytes),
            mode: crate::fs::SECRET_MODE,
            class: FileClass::Secret,
        });
    }
    Ok(out)
}

/// MCP artifacts to install, one per install directory.
pub fn installs(doc: &DesiredState, codexport_home: &Path) -> Result<Vec<DesiredInstall>, RenderError> {
    let mut out: Vec<DesiredInstall> = Vec::new();
    for (name, server) in &doc.spec.mcp_servers {
        let Some(artifact) = &server.artifact else { continue };
        let Some(dir) = install_dir(codexport_home, name, artifact)? else {
            continue;
        };
        let rel = dir
            .strip_prefix(codexport_home)
            .unwrap_or(&dir)
            .to_string_lossy()
            .replace('\\', "/");
        if out.iter().any(|i| i.dir == rel) {
            continue;
        }
        out.push(DesiredInstall {
            server: name.clone(),
            installed: is_installed(&dir, artifact),
            artifact: artifact.clone(),
            dir: rel,
        });
    }
    Ok(out)
}
