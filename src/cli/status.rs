//! `codexport status`: role, master, pin, applied / staged / remote revision, reachability.

use clap::Args;
use serde::Serialize;

use crate::exit::Exit;
use crate::follower::client::MasterClient;
use crate::follower::enrollment::Enrollment;
use crate::follower::store::FollowerStore;
use crate::paths::Roots;
use crate::reconcile::inventory::Inventory;

use super::CmdResult;
use super::output::{OutputFormat, short, structured};

#[derive(Debug, Args)]
pub(super) struct StatusArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    roles: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    master: Option<MasterPart>,
    #[serde(skip_serializing_if = "Option::is_none")]
    follower: Option<FollowerPart>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MasterPart {
    fingerprint: String,
    published_revision: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct FollowerPart {
    master_url: String,
    name: String,
    fingerprint: String,
    applied_revision: Option<String>,
    staged_revision: Option<String>,
    remote_revision: Option<String>,
    reachable: bool,
    up_to_date: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// MCP servers of the manifest that cannot start here (name, why); absent before the
    /// first apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    mcp_broken: Option<Vec<BrokenServer>>,
    /// Hook handlers in hooks.json, and how many Codex will run (trusted with a matching hash).
    #[serde(skip_serializing_if = "Option::is_none")]
    hooks: Option<HookTrust>,
    /// codexport's own SessionStart hook is installed (`codexport hook install`).
    session_hook_installed: bool,
    /// What the last `reconcile --hook` run did.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_hook_run: Option<crate::reconcile::hook_run::HookRecord>,
}

#[derive(Debug, Serialize)]
struct HookTrust {
    configured: usize,
    trusted: usize,
}

#[derive(Debug, Serialize)]
struct BrokenServer {
    name: String,
    reason: String,
}

pub(super) fn run(args: StatusArgs, roots: &Roots) -> CmdResult {
    let mut status = Status {
        roles: Vec::new(),
        master: None,
        follower: None,
    };
    let master_dir = roots.master_dir();
    if let Ok(identity) = crate::master::identity::Identity::load(&master_dir) {
        status.roles.push("master");
        status.master = Some(MasterPart {
            fingerprint: identity.fingerprint(),
            published_revision: crate::master::publish::current_revision(&master_dir),
        });
    }
    match Enrollment::load(&roots.codexport_home) {
        Ok(enrollment) => {
            status.roles.push("follower");
            status.follower = Some(follower_part(roots, enrollment)?);
        }
        Err(crate::follower::FollowerError::NotEnrolled(_)) => {}
        Err(e) => return Err(e.into()),
    }
    match args.output {
        OutputFormat::Text => print_text(&status),
        format => print!("{}", structured(&status, format)),
    }
    Ok(Exit::Ok)
}

fn follower_part(roots: &Roots, enrollment: Enrollment) -> Result<FollowerPart, super::Failure> {
    let applied = Inventory::load(&roots.codexport_home)?.revision;
    let staged = FollowerStore::new(&roots.codexport_home)
        .load_staged(&enrollment)
        .ok()
        .flatten()
        .map(|s| s.doc.metadata.revision);
    let client = MasterClient::new(&enrollment.master, None)?;
    let (remote, reachable, error) = match client.meta(None) {
        Ok(Some(meta)) if meta.fingerprint != enrollment.fingerprint => (
            Some(meta.revision),
            true,
            Some(format!(
                "master identity changed: re-join with a new link (pinned {}, presented {})",
                enrollment.fingerprint, meta.fingerprint
            )),
        ),
        Ok(meta) => (meta.map(|m| m.revision), true, None),
        Err(e) => (None, false, Some(e.to_string())),
    };
    let up_to_date = remote.is_some() && remote == applied;
    let env = crate::mcp::install::InstallEnv::from_process(&roots.codexport_home, &roots.home);
    let mcp_broken = crate::mcp::ready::readiness(&env).ok().map(|rows| {
        rows.into_iter()
            .filter(|r| !r.ready)
            .map(|r| BrokenServer {
                name: r.name,
                reason: r.reason,
            })
            .collect()
    });
    Ok(FollowerPart {
        master_url: enrollment.master,
        name: enrollment.name,
        fingerprint: enrollment.fingerprint,
        applied_revision: applied,
        staged_revision: staged,
        remote_revision: remote,
        reachable,
        up_to_date,
        error,
        mcp_broken,
        hooks: crate::codex::hooks::trusted_count(&roots.codex_home)
            .map(|(configured, trusted)| HookTrust { configured, trusted }),
        session_hook_installed: matches!(
            crate::follower::hook::HookSettings::load(&roots.codexport_home),
            Ok(Some(_))
        ),
        last_hook_run: crate::reconcile::hook_run::HookRecord::load(&roots.codexport_home),
    })
}

fn print_text(status: &Status) {
    if status.roles.is_empty() {
        println!(
            "role: none (run `codexport master init` on the master, `codexport follower join <link>` on followers)"
        );
        return;
    }
    println!("role:        {}", status.roles.join(" + "));
    if let Some(m) = &status.master {
        println!("master:      this machine, fingerprint {}", m.fingerprint);
        println!(
            "published:   {}",
            m.published_revision
                .as_deref()
                .map(short)
                .unwrap_or_else(|| "nothing yet".into())
        );
    }
    if let Some(f) = &status.follower {
        let rev = |r: &Option<String>| r.as_deref().map(short).unwrap_or_else(|| "none".into());
        println!(
            "master url:  {} ({})",
            f.master_url,
            if f.reachable { "reachable" } else { "unreachable" }
        );
        println!("pinned:      {}", f.fingerprint);
        println!("follower:    {}", f.name);
        println!("applied:     {}", rev(&f.applied_revision));
        println!("staged:      {}", rev(&f.staged_revision));
        println!(
            "remote:      {}{}",
            rev(&f.remote_revision),
            if f.up_to_date {
                " (up to date)"
            } else if f.reachable {
                " (behind: run `codexport reconcile`)"
            } else {
                ""
            }
        );
        if let Some(e) = &f.error {
            println!("last error:  {e}");
        }
        if let Some(h) = &f.hooks
            && h.trusted < h.configured
        {
            println!(
                "hooks:       {} of {} trusted here; Codex skips the others silently (only what the master trusted is trusted)",
                h.trusted, h.configured
            );
        }
        println!(
            "sync hook:   {}",
            if f.session_hook_installed {
                "installed (codexport hook status)"
            } else {
                "not installed (codexport hook install)"
            }
        );
        if let Some(r) = &f.last_hook_run {
            print!(
                "{}",
                super::hook::last_run_text(r).replacen("last hook run: ", "last hook:   ", 1)
            );
        }
        for b in f.mcp_broken.iter().flatten() {
            println!("mcp broken:  {} ({})", b.name, b.reason);
        }
    }
}

impl StatusArgs {
    /// Text output (for the demo).
    pub(super) fn text() -> Self {
        StatusArgs {
            output: OutputFormat::Text,
        }
    }
}
