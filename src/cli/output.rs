//! Output formats and the plan renderers (text like terraform, JSON, YAML): one plan model,
//! several printers.

use crate::reconcile::plan::{Action, Plan, StepKind};

/// `--output` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// JSON for scripts.
    Json,
    /// YAML.
    Yaml,
}

/// Serialize `value` as pretty JSON or YAML.
pub fn structured<T: serde::Serialize>(value: &T, format: OutputFormat) -> String {
    match format {
        OutputFormat::Yaml => serde_yaml::to_string(value).unwrap_or_default(),
        _ => serde_json::to_string_pretty(value).unwrap_or_default() + "\n",
    }
}

/// Human-readable size: `812 B`, `1.2 KiB`, `3.4 MiB` (the library's, so `doctor` and the CLI
/// print sizes alike).
pub use crate::doctor::human_bytes as human_size;

/// Render a plan as terraform-like text: `+` create, `~` update, `-` delete, `!` drift kept, `=` released (excluded),
/// diffs indented under their step, then a summary line.
pub fn plan_text(plan: &Plan) -> String {
    let mut out = String::new();
    let mut shown: Vec<_> = plan
        .steps
        .iter()
        .filter(|s| s.action != Action::Noop || s.drift || pending_install(s) || s.kind == StepKind::Release)
        .collect();
    if shown.is_empty() {
        out.push_str(&format!(
            "No changes. ~/.codex matches revision {}.\n",
            short(&plan.revision)
        ));
        return out;
    }
    if plan.has_changes() {
        out.push_str(&format!(
            "codexport will converge ~/.codex to revision {}",
            short(&plan.revision)
        ));
        match &plan.applied_revision {
            Some(r) if r != &plan.revision => out.push_str(&format!(" (applied now: {})", short(r))),
            _ => {}
        }
        out.push_str(":\n\n");
    } else {
        out.push_str(&format!(
            "No changes. ~/.codex matches revision {}, except:\n\n",
            short(&plan.revision)
        ));
    }
    shown.sort_by_key(|s| display_path(s));
    let width = shown.iter().map(|s| display_path(s).len()).max().unwrap_or(0);
    for step in shown {
        let sign = match step.action {
            Action::Create => '+',
            Action::Update => '~',
            Action::Delete => '-',
            Action::Noop if step.kind == StepKind::Release => '=',
            Action::Noop => '!',
        };
        let path = display_path(step);
        let line = format!("  {sign} {path:<width$}  {}", detail(step));
        out.push_str(line.trim_end());
        out.push('\n');
        if let Some(diff) = &step.diff {
            for l in diff.lines() {
                out.push_str(&format!("      {l}\n").replace("      \n", "\n"));
            }
        }
    }
    let s = &plan.summary;
    out.push_str(&format!(
        "\nPlan: {} to create, {} to update, {} to delete.\n",
        s.create, s.update, s.delete
    ));
    if s.drift > 0 {
        out.push_str(&format!(
            "Drift: {} path(s) changed locally (onDrift = {}).\n",
            s.drift,
            plan.on_drift.as_str()
        ));
    }
    let blocking = plan.blocking_drift();
    if !blocking.is_empty() {
        out.push_str(&format!(
            "Apply will stop before any write: onDrift = fail and {} path(s) drifted.\n",
            blocking.len()
        ));
    }
    if let Some(reason) = &plan.refusal {
        out.push_str(&format!(
            "Apply will refuse: {reason} (override with --allow-mass-delete).\n"
        ));
    }
    out
}

/// An MCP artifact left uninstalled by `mcpInstall = manual`: worth a line even as a no-op.
fn pending_install(step: &crate::reconcile::plan::PlanStep) -> bool {
    step.kind == StepKind::InstallMcpArtifact && step.action == Action::Noop && step.reason != "installed"
}

/// The path as an operator reads it: directories end in `/`, codexport's own files start with
/// `$CODEXPORT_HOME/`.
fn display_path(step: &crate::reconcile::plan::PlanStep) -> String {
    if step.kind == StepKind::InstallMcpArtifact {
        return step.id.clone();
    }
    let prefix = if step.root == crate::reconcile::render::Root::CodexportHome {
        "$CODEXPORT_HOME/"
    } else {
        ""
    };
    let slash = if matches!(
        step.kind,
        StepKind::EnsureDir | StepKind::RemoveDir | StepKind::InstallMcpArtifact
    ) {
        "/"
    } else {
        ""
    };
    format!("{prefix}{}{slash}", step.path)
}

fn detail(step: &crate::reconcile::plan::PlanStep) -> String {
    let mut parts = Vec::new();
    if let Some(class) = step.class {
        parts.push(class.as_str().to_string());
    }
    if step.sensitive {
        parts.push("(sensitive)".into());
    } else {
        match (step.size_before, step.size_after) {
            (Some(a), Some(b)) if step.action == Action::Update => {
                parts.push(format!("{} -> {}", human_size(a), human_size(b)))
            }
            (_, Some(b)) => parts.push(human_size(b)),
            (Some(a), None) => parts.push(human_size(a)),
            _ => {}
        }
    }
    if step.action != Action::Create || step.drift || step.kind == StepKind::InstallMcpArtifact {
        parts.push(step.reason.clone());
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("({})", parts.join(", "))
    }
}

/// `sha256:abcdef123456` (the first 12 hex digits) for human output.
pub fn short(revision: &str) -> String {
    let hex = revision.strip_prefix("sha256:").unwrap_or(revision);
    format!("sha256:{}", &hex[..hex.len().min(12)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_size(812), "812 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(3 * 1024 * 1024), "3.0 MiB");
    }
}
