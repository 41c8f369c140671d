//! `codexport follower join`.

use clap::{Args, Subcommand};

use crate::exit::Exit;
use crate::follower::enrollment::JoinLink;
use crate::follower::sync::join;
use crate::paths::Roots;

use super::output::{human_size, short};
use super::{CmdResult, Failure};

#[derive(Debug, Subcommand)]
pub(super) enum FollowerCommand {
    /// Join a master: pin its fingerprint, fetch and verify its state, stage it.
    ///
    /// Example: codexport follower join 'codexport://join?host=100.101.102.103&port=17342&fingerprint=...&token=...' --apply
    Join(JoinArgs),
    /// Stop following the master: restore what this machine had before it joined, remove
    /// the SessionStart hook and the enrollment.
    ///
    /// Restores generation 0 (the follower's own files from before codexport first wrote,
    /// byte for byte with modes: files codexport added are removed, replaced ones come back),
    /// then removes enrollment.toml, inventory.json, the staged document and the hook
    /// settings. Keeps backups/, generations/, the store and the logs under CODEXPORT_HOME
    /// (remove that directory to delete them). To join again later: `follower join <link>`.
    ///
    /// Example: codexport follower leave
    Leave,
}

#[derive(Debug, Args)]
pub(super) struct JoinArgs {
    /// The link printed by `codexport master link`.
    #[arg(conflicts_with_all = ["master", "fingerprint", "token"])]
    link: Option<String>,
    /// Master URL, e.g. http://100.101.102.103:17342 (instead of a link).
    #[arg(long, requires_all = ["fingerprint", "token"])]
    master: Option<String>,
    /// Master fingerprint to pin (64 hex digits).
    #[arg(long)]
    fingerprint: Option<String>,
    /// Follower token.
    #[arg(long)]
    token: Option<String>,
    /// Name this follower reports to the master (default: the host name).
    #[arg(long)]
    name: Option<String>,
    /// Apply the staged revision right away (like `codexport apply`).
    #[arg(long)]
    apply: bool,
}

pub(super) fn run(cmd: FollowerCommand, roots: &Roots) -> CmdResult {
    match cmd {
        FollowerCommand::Join(args) => join_cmd(args, roots),
        FollowerCommand::Leave => super::follower_leave::leave(roots),
    }
}

fn join_cmd(args: JoinArgs, roots: &Roots) -> CmdResult {
    let link = match (&args.link, &args.master, &args.fingerprint, &args.token) {
        (Some(link), ..) => JoinLink::parse(link)?,
        (None, Some(m), Some(f), Some(t)) => JoinLink::new(m, f, t)?,
        _ => {
            return Err(Failure::new(
                Exit::Usage,
                "give a join link, or --master, --fingerprint and --token",
                Some("get a link with `codexport master link --host <address>` on the master".into()),
            ));
        }
    };
    let name = args
        .name
        .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned());
    let (enrollment, outcome) = join(roots, &link, &name, &*super::progress::terminal())?;
    println!(
        "joined {} as {name}; pinned fingerprint {}",
        enrollment.master, enrollment.fingerprint
    );
    println!(
        "staged revision {} ({} blobs, {})",
        short(&outcome.revision),
        outcome.blobs_fetched,
        human_size(outcome.bytes_fetched)
    );
    if args.apply {
        return super::apply::plan_and_apply(roots);
    }
    println!("next: codexport plan, then codexport apply");
    Ok(Exit::Ok)
}
