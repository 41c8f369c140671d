//! `codexport sync [--apply]`.

use clap::Args;

use crate::exit::Exit;
use crate::paths::Roots;
use crate::reconcile::inventory::Inventory;

use super::CmdResult;
use super::output::{human_size, short};

#[derive(Debug, Args)]
pub(super) struct SyncArgs {
    /// Apply the staged revision after fetching it.
    #[arg(long)]
    apply: bool,
}

pub(super) fn run(args: SyncArgs, roots: &Roots) -> CmdResult {
    sync_and_report(roots)?;
    if args.apply {
        return super::apply::plan_and_apply(roots);
    }
    Ok(Exit::Ok)
}

/// Sync and print one line about it.
pub(super) fn sync_and_report(roots: &Roots) -> Result<(), super::Failure> {
    let applied = Inventory::load(&roots.codexport_home)?.revision;
    let outcome = crate::follower::sync::sync(roots, applied, &*super::progress::terminal())?;
    if outcome.fetched_state {
        let document = if outcome.state_delta {
            "document delta"
        } else {
            "document"
        };
        println!(
            "staged revision {} ({} blobs, {}; {document} {})",
            short(&outcome.revision),
            outcome.blobs_fetched,
            human_size(outcome.bytes_fetched),
            human_size(outcome.state_bytes)
        );
    } else {
        println!("revision {} is already staged", short(&outcome.revision));
    }
    Ok(())
}
