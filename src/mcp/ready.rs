//! Whether each MCP server of the follower's manifest can start here, and why not (read-only:
//! nothing is installed or repaired). Used by `mcp list`, `status` and `doctor`.

use serde::Serialize;

use crate::model::document::McpTransport;

use super::artifact::Artifact;
use super::install::InstallEnv;
use super::manifest::{Manifest, ManifestError};
use super::run::resolve;

/// One server of the manifest and whether it can start on this machine.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    /// Server name, as in `[mcp_servers.<name>]`.
    pub name: String,
    /// stdio or HTTP.
    pub transport: McpTransport,
    /// The artifact inferred on the master, if any.
    pub artifact: Option<Artifact>,
    /// True when it can start (or is a URL server).
    pub ready: bool,
    /// What it runs, or why it cannot start (with the repair step).
    pub reason: String,
}

/// Whether each server of the manifest under `env.codexport_home` can start, and why.
///
/// Errors: [`ManifestError::Missing`] before the first apply, [`ManifestError::Invalid`].
pub fn readiness(env: &InstallEnv) -> Result<Vec<Readiness>, ManifestError> {
    let manifest = Manifest::load(&env.codexport_home)?;
    Ok(manifest
        .servers
        .iter()
        .map(|(name, s)| {
            let (ready, reason) = match (s.transport, resolve(name, &manifest, env, false)) {
                (McpTransport::Http, _) => (true, "URL server: Codex connects directly".to_string()),
                (_, Ok(launch)) => (true, format!("runs {}", launch.program.display())),
                (_, Err(e)) => (false, e.to_string()),
            };
            Readiness {
                name: name.clone(),
                transport: s.transport,
                artifact: s.artifact.clone(),
                ready,
                reason,
            }
        })
        .collect())
}
