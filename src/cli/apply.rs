//! `codexport apply` and `codexport reconcile`.

use clap::Args;

use crate::exit::Exit;
use crate::paths::Roots;
use crate::reconcile::host::RealHost;

use super::CmdResult;
use super::output::{plan_text, short};

#[derive(Debug, Args)]
pub(super) struct ApplyArgs {
    /// Show the plan and stop; change nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
pub(super) struct ReconcileArgs {}

pub(super) fn run_apply(args: ApplyArgs, roots: &Roots) -> CmdResult {
    if args.dry_run {
        let prepared = crate::reconcile::prepare(roots, &RealHost)?;
        print!("{}", plan_text(&prepared.plan));
        return Ok(Exit::Ok);
    }
    plan_and_apply(roots)
}

pub(super) fn run_reconcile(_args: ReconcileArgs, roots: &Roots) -> CmdResult {
    super::sync::sync_and_report(roots)?;
    plan_and_apply(roots)
}

/// Plan the staged revision, print the plan, apply it, print the outcome.
pub(super) fn plan_and_apply(roots: &Roots) -> CmdResult {
    let prepared = crate::reconcile::prepare(roots, &RealHost)?;
    print!("{}", plan_text(&prepared.plan));
    if !prepared.plan.has_changes() && prepared.inventory.revision.as_deref() == Some(prepared.plan.revision.as_str()) {
        return Ok(Exit::Ok);
    }
    let report = crate::reconcile::apply(roots, &prepared, &RealHost)?;
    match report.generation {
        Some(g) => {
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
        None => println!("Applied revision {}: nothing to change.", short(&report.revision)),
    }
    Ok(Exit::Ok)
}
