//! `codexport apply`, `codexport reconcile`, `codexport generations`, `codexport rollback`.

use std::path::PathBuf;

use clap::Args;

use crate::exit::Exit;
use crate::paths::Roots;
use crate::reconcile::host::{RealHost, RecordingHost};
use crate::reconcile::{Applied, ApplyOptions};

use super::output::{OutputFormat, plan_text, short, structured};
use super::{CmdResult, Failure};

#[derive(Debug, Args)]
pub(super) struct ApplyArgs {
    /// Run the apply against a recording host: show the plan and count the file-system
    /// operations it would make; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Apply this saved plan (`codexport plan --output json > plan.json`) only if neither the
    /// desired state nor the disk changed since it was made; exit 3 otherwise.
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    /// Apply even if the revision deletes more than half of the managed files or empties
    /// config.toml.
    #[arg(long)]
    allow_mass_delete: bool,
}

#[derive(Debug, Args)]
pub(super) struct ReconcileArgs {
    /// Apply even if the revision deletes more than half of the managed files or empties
    /// config.toml.
    #[arg(long, conflicts_with = "hook")]
    allow_mass_delete: bool,
    /// Run as Codex's SessionStart hook: bounded by --timeout-ms, skips when another run holds
    /// the lock, never installs MCP packages, prints nothing on stdout, always exits 0; the
    /// outcome goes to `codexport status` and $CODEXPORT_HOME/logs/hook.log.
    #[arg(long)]
    pub(super) hook: bool,
    /// Total budget of a --hook run (connect + fetch + apply), in milliseconds.
    #[arg(long, value_name = "MS", requires = "hook", default_value_t = crate::follower::hook::DEFAULT_BUDGET_MS)]
    pub(super) timeout_ms: u64,
    /// The background apply a --hook run hands off when the apply does not fit in its budget
    /// (started by the hook, not by hand): applies the staged revision, records the outcome
    /// like a hook run, always exits 0.
    #[arg(long, hide = true, conflicts_with_all = ["hook", "allow_mass_delete"])]
    pub(super) handed_off: bool,
}

#[derive(Debug, Args)]
pub(super) struct GenerationsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

#[derive(Debug, Args)]
pub(super) struct RollbackArgs {
    /// Generation to restore (default: the one before the newest). See `codexport generations`.
    #[arg(long, value_name = "N")]
    to: Option<u64>,
}

pub(super) fn run_apply(args: ApplyArgs, roots: &Roots) -> CmdResult {
    let expected = match &args.plan {
        Some(path) => {
            let text = fs_err::read_to_string(path)?;
            let plan = serde_json::from_str(&text).map_err(|e| {
                Failure::new(
                    Exit::Usage,
                    format!("{} is not a saved plan: {e}", path.display()),
                    Some("save one with `codexport plan --output json > plan.json`".into()),
                )
            })?;
            Some(plan)
        }
        None => None,
    };
    let options = ApplyOptions {
        allow_mass_delete: args.allow_mass_delete,
        expected,
        ..Default::default()
    };
    if args.dry_run {
        // The recording host installs nothing: no spinner.
        let host = RecordingHost::new();
        let applied = crate::reconcile::apply_staged(roots, &host, &options)?;
        print!("{}", plan_text(&applied.prepared.plan));
        println!(
            "Dry run: {} file-system operations recorded, nothing changed.",
            host.effects().len()
        );
        return Ok(Exit::Ok);
    }
    apply_with(roots, &options)
}

pub(super) fn run_reconcile(args: ReconcileArgs, roots: &Roots) -> CmdResult {
    super::sync::sync_and_report(roots)?;
    apply_with(
        roots,
        &ApplyOptions {
            allow_mass_delete: args.allow_mass_delete,
            ..Default::default()
        },
    )
}

/// Apply the staged revision, printing the plan and the outcome.
pub(super) fn plan_and_apply(roots: &Roots) -> CmdResult {
    apply_with(roots, &ApplyOptions::default())
}

fn apply_with(roots: &Roots, options: &ApplyOptions) -> CmdResult {
    let options = ApplyOptions {
        progress: super::progress::terminal(),
        ..options.clone()
    };
    let applied = crate::reconcile::apply_staged(roots, &RealHost, &options)?;
    print_applied(roots, &applied);
    Ok(Exit::Ok)
}

fn print_applied(roots: &Roots, applied: &Applied) {
    for r in &applied.recovered {
        if r.undone > 0 {
            println!(
                "Recovered an interrupted run (generation {}): {} steps rolled back.",
                r.generation, r.undone
            );
        }
    }
    print!("{}", plan_text(&applied.prepared.plan));
    let report = &applied.report;
    if let Some(g) = report.generation {
        let backups = if report.backed_up.is_empty() {
            String::new()
        } else {
            format!(
                "; {} backed up in {}",
                report.backed_up.len(),
                roots.codexport_home.join("backups").join(g.to_string()).display()
            )
        };
        println!(
            "Applied revision {} (generation {g}): {} changes{backups}.",
            short(&report.revision),
            report.changed
        );
    }
    for (server, error) in &report.broken {
        eprintln!("warning: MCP server `{server}` is broken: {error}");
    }
    if !report.broken.is_empty() {
        eprintln!("hint: fix the cause, then run `codexport mcp install` (or the next reconcile retries)");
    }
    if !report.kept.is_empty() {
        println!("Kept local versions (onDrift = keep): {}", report.kept.join(", "));
    }
}

pub(super) fn run_generations(args: GenerationsArgs, roots: &Roots) -> CmdResult {
    let all = crate::reconcile::generations::list(&RealHost, &roots.codexport_home)?;
    let current = crate::reconcile::inventory::Inventory::load(&roots.codexport_home)?.generation;
    match args.output {
        OutputFormat::Text => {
            if all.is_empty() {
                println!("No generations yet: nothing has been applied.");
            }
            for g in &all {
                let mark = if g.number == current { "*" } else { " " };
                let kind = match g.kind {
                    crate::reconcile::generations::GenerationKind::Apply => "apply",
                    crate::reconcile::generations::GenerationKind::Rollback => "rollback",
                    crate::reconcile::generations::GenerationKind::Original => "original (before codexport)",
                };
                println!(
                    "{mark} {:>4}  {}  {:<8}  {}  {} changed, {} files",
                    g.number,
                    g.created_at,
                    kind,
                    short(&g.revision),
                    g.changed.len(),
                    g.files.len()
                );
            }
        }
        format => print!("{}", structured(&all, format)),
    }
    Ok(Exit::Ok)
}

pub(super) fn run_rollback(args: RollbackArgs, roots: &Roots) -> CmdResult {
    let applied = crate::reconcile::rollback(roots, args.to, &RealHost)?;
    print_applied(roots, &applied);
    if applied.report.generation.is_none() {
        println!("Nothing to restore: ~/.codex already matches that generation.");
    }
    println!("note: the next `codexport reconcile` converges to the master's revision again.");
    Ok(Exit::Ok)
}
