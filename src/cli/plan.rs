//! `codexport plan`.

use clap::Args;

use crate::exit::Exit;
use crate::paths::Roots;
use crate::reconcile::host::RealHost;

use super::CmdResult;
use super::output::{OutputFormat, plan_text, structured};

#[derive(Debug, Args)]
pub(super) struct PlanArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
    /// Exit 0 when there is nothing to do, 2 when there are changes; errors keep their own
    /// codes (1, 3, 4, 5, 6: see `codexport --help`).
    #[arg(long)]
    detailed_exitcode: bool,
    /// Plan the staged revision without asking the master for a newer one.
    #[arg(long)]
    offline: bool,
}

pub(super) fn run(args: PlanArgs, roots: &Roots) -> CmdResult {
    if !args.offline {
        let applied = crate::reconcile::inventory::Inventory::load(&roots.codexport_home)?.revision;
        let outcome = crate::follower::sync::sync(roots, applied, &*super::progress::terminal())?;
        if args.output == OutputFormat::Text && outcome.fetched_state && !super::logging::quiet() {
            eprintln!("fetched revision {}", super::output::short(&outcome.revision));
        }
    }
    let prepared = crate::reconcile::prepare(roots, &RealHost)?;
    match args.output {
        OutputFormat::Text => print!("{}", plan_text(&prepared.plan)),
        format => print!("{}", structured(&prepared.plan, format)),
    }
    Ok(if args.detailed_exitcode && prepared.plan.has_changes() {
        Exit::Changes
    } else {
        Exit::Ok
    })
}
