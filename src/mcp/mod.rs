//! MCP servers (DESIGN.md "MCP servers"): artifact inference on the master, artifact installs
//! and the manifest on the follower, and the `codexport mcp run` launcher.
//!
//! Master: [`attach_artifacts`] runs in `master::publish` for every stdio server. Follower: the
//! reconciler calls [`install::install`] per server and [`manifest::write_manifest`], and the
//! config renderer calls [`manifest::launcher_table`] on each command server's table.

pub mod artifact;
pub mod infer;
pub mod install;
pub mod manifest;
pub mod names;
pub mod ready;
pub mod run;
pub mod source;

use std::collections::BTreeMap;

use crate::blobstore::BlobStore;
use crate::model::{McpServerSpec, Spec};

use self::infer::InferEnv;
use self::source::SourceError;

/// Infer and set `artifact` on every stdio server of `servers`; for source artifacts, put the
/// project's files into `blobs` and list them in the artifact.
///
/// Errors: [`SourceError`] when a project is over the size caps or a file cannot be read.
pub fn attach_artifacts(
    servers: &mut BTreeMap<String, McpServerSpec>,
    env: &InferEnv,
    blobs: &BlobStore,
) -> Result<(), SourceError> {
    for (name, server) in servers.iter_mut() {
        let Some(mut inferred) = infer::infer(&server.definition, env) else {
            continue;
        };
        if let Some(dir) = &inferred.source_dir {
            let collected = source::collect(name, dir, &inferred.artifact, blobs)?;
            if let artifact::Artifact::SourcePython { files, .. } | artifact::Artifact::SourceNode { files, .. } =
                &mut inferred.artifact
            {
                *files = collected;
            }
        }
        server.artifact = Some(inferred.artifact);
    }
    Ok(())
}

/// Every blob that the MCP artifacts of `spec` need: (sha256, size).
pub fn artifact_blobs(spec: &Spec) -> impl Iterator<Item = (&String, u64)> {
    spec.mcp_servers
        .values()
        .filter_map(|s| s.artifact.as_ref())
        .flat_map(|a| a.files())
        .map(|f| (&f.sha256, f.size))
}
