//! Steps for codexport's own files under CODEXPORT_HOME: `InstallSelf` (the launcher binary),
//! `InstallMcpArtifact` (one per install directory) and `WriteMcpManifest`, with the edges of
//! DESIGN.md: artifacts before the manifest, the binary and the manifest before the config that
//! points at them.
//!
//! codexport owns these paths outright: there is no drift, only "up to date" or "write it".

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::codex::layout::CONFIG_TOML;
use crate::follower::local::McpInstall;
use crate::mcp::artifact::Artifact;
use crate::mcp::install::{InstallEnv, repair_for_tool};
use crate::model::FileClass;
use crate::paths::Roots;

use super::ReconcileError;
use super::host::{Host, Observed};
use super::plan::{Action, PlanStep, StepKind, fmt_mode};
use super::render::{Desired, LAUNCHER, Root};

/// Add the steps and their edges to `steps`; observations go into `observed`.
pub fn add(
    desired: &Desired,
    roots: &Roots,
    mcp_install: McpInstall,
    host: &dyn Host,
    steps: &mut BTreeMap<String, PlanStep>,
    observed: &mut Sha256,
) -> Result<(), ReconcileError> {
    let mut install_ids = Vec::new();
    let env = InstallEnv::from_process(&roots.codexport_home, &roots.home);
    for install in &desired.installs {
        let id = format!("mcp:{}", install.server);
        let (action, reason) = match (install.installed, mcp_install) {
            (true, _) => (Action::Noop, "installed".to_string()),
            (false, McpInstall::Auto) => (
                Action::Create,
                format!(
                    "install {}{}",
                    install.artifact.describe(),
                    tool_note(&install.artifact, &env)
                ),
            ),
            (false, McpInstall::Manual) => (
                Action::Noop,
                format!(
                    "{} is not installed (mcpInstall = manual): run `codexport mcp install`",
                    install.artifact.describe()
                ),
            ),
        };
        observed.update(format!("{id}\0{}\n", install.installed));
        steps.insert(
            id.clone(),
            step(
                id.clone(),
                StepKind::InstallMcpArtifact,
                action,
                &install.dir,
                reason,
                None,
                None,
            ),
        );
        install_ids.push(id);
    }
    let mut config_requires = Vec::new();
    for file in desired.files.iter().filter(|f| f.root == Root::CodexportHome) {
        let abs = roots.codexport_home.join(&file.path);
        let actual = host.observe(&abs)?;
        observed.update(format!("$CODEXPORT_HOME/{}\0{actual:?}\n", file.path));
        let (action, reason, size_before) = match actual {
            Observed::Absent => (Action::Create, "absent".to_string(), None),
            Observed::File { sha256, mode, .. } if sha256 == file.sha256 && mode == file.mode => {
                (Action::Noop, "up to date".into(), None)
            }
            Observed::File { size, .. } => (Action::Update, "out of date".into(), Some(size)),
            other => {
                return Err(ReconcileError::Obstructed {
                    path: abs,
                    kind: other.kind(),
                });
            }
        };
        let (kind, prefix, requires) = if file.path == LAUNCHER {
            (StepKind::InstallSelf, "self", Vec::new())
        } else {
            (StepKind::WriteMcpManifest, "manifest", install_ids.clone())
        };
        let id = format!("{prefix}:{}", file.path);
        let sensitive = file.class == FileClass::Secret;
        let mut s = step(
            id.clone(),
            kind,
            action,
            &file.path,
            reason,
            Some(file.class),
            Some(fmt_mode(file.mode)),
        );
        s.requires = requires;
        s.sensitive = sensitive;
        s.size_before = size_before.filter(|_| !sensitive);
        s.size_after = Some(file.size).filter(|_| !sensitive);
        steps.insert(id.clone(), s);
        config_requires.push(id);
    }
    if let Some(config) = steps.get_mut(&format!("config:{CONFIG_TOML}")) {
        config.requires.extend(config_requires);
    }
    Ok(())
}

/// What the plan should say about the package manager an install needs.
fn tool_note(artifact: &Artifact, env: &InstallEnv) -> String {
    let tool = match artifact {
        Artifact::Npm { .. } | Artifact::SourceNode { .. } => "npm",
        Artifact::Uv { .. } | Artifact::SourcePython { .. } => "uv",
        Artifact::Cargo { .. } => "cargo",
        Artifact::Portable | Artifact::LocalBinary { .. } => return String::new(),
    };
    match (env.find_tool(tool), tool) {
        (Some(_), _) => String::new(),
        (None, "uv") => "; uv is missing: it is installed first into mcp-artifacts/tools/uv".into(),
        (None, t) => format!(
            "; {t} is missing here, so this install will fail: {}",
            repair_for_tool(t)
        ),
    }
}

fn step(
    id: String,
    kind: StepKind,
    action: Action,
    path: &str,
    reason: String,
    class: Option<FileClass>,
    mode: Option<String>,
) -> PlanStep {
    PlanStep {
        id,
        kind,
        action,
        path: path.to_string(),
        root: Root::CodexportHome,
        class,
        reason,
        drift: false,
        obstruction: None,
        requires: Vec::new(),
        size_before: None,
        size_after: None,
        mode,
        sensitive: false,
        diff: None,
    }
}
