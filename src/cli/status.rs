//! `codexport status`: role, master, pin, applied / staged / remote revision, reachability.

use clap::Args;
use serde::Serialize;

use crate::exit::Exit;
use crate::follower::client::MasterClient;
use crate::follower::enrollment::Enrollment;
use crate::follower::store::FollowerStore;
use crate::paths::Roots;
use crate::reconcile::inventory::Inventory;

use anstyle::{AnsiColor, Color, Style};

use super::CmdResult;
use super::output::{OutputFormat, short, structured};

/// How long `status` waits for the master (connect, and each read): a master asleep on the
/// tailnet accepts connections and never answers.
const STATUS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

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
    /// The master refuses this follower's token (revoked): `status` exits 5.
    refused: bool,
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
    /// When the applied revision was applied, and when the master published its current one.
    #[serde(skip_serializing_if = "Option::is_none")]
    applied_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_published_at: Option<String>,
    /// Managed paths edited locally (drift), from an offline plan of the staged revision.
    drifted: Vec<String>,
    /// Why the offline plan could not be made (then `drifted` is empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    plan_error: Option<String>,
    /// Generations kept (`codexport generations`).
    generations: usize,
    /// The newest signed document accepted from the master (replay and freeze protection).
    #[serde(skip_serializing_if = "Option::is_none")]
    newest_signed: Option<NewestSigned>,
    /// Journals left in `journal/`: runs whose rollback failed (with the paths not put back)
    /// or that were interrupted; the next run retries them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    kept_journals: Vec<crate::reconcile::journal::KeptJournal>,
}

/// `freshness.json`, with its age: a follower held on an old document looks like this.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NewestSigned {
    sequence: u64,
    revision: String,
    generated_at: String,
    /// Whole days since the master signed it (this machine's clock).
    age_days: Option<u64>,
    /// Older than `FREEZE_WARN_AFTER` (30 days).
    old: bool,
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
    // A follower the master refuses is not "all is well": scripts see it in the exit code.
    if status.follower.as_ref().is_some_and(|f| f.refused) {
        return Ok(Exit::Trust);
    }
    Ok(Exit::Ok)
}

fn follower_part(roots: &Roots, enrollment: Enrollment) -> Result<FollowerPart, super::Failure> {
    let inventory = Inventory::load(&roots.codexport_home)?;
    let applied = inventory.revision.clone();
    let staged = FollowerStore::new(&roots.codexport_home)
        .load_staged(&enrollment)
        .ok()
        .flatten()
        .map(|s| s.doc.metadata.revision);
    // Authenticated, so a revoked follower hears it (the master answers 404 to a refused
    // token); bounded, so a master asleep on the tailnet costs seconds, not the 30 s default.
    let client = MasterClient::with_timeout(&enrollment.master, Some(enrollment.token.clone()), STATUS_TIMEOUT)?;
    let (meta, reachable, error) = match client.meta(None) {
        Err(e @ crate::follower::FollowerError::TokenRefused { .. }) => {
            let error = format!(
                "{e}: it was revoked on the master, or the master was set up again; re-join with a new link from `codexport master link --name {}`",
                enrollment.name
            );
            (None, true, Some(error))
        }
        Ok(Some(meta)) if meta.fingerprint != enrollment.fingerprint => {
            let error = format!(
                "master identity changed: re-join with a new link (pinned {}, presented {})",
                enrollment.fingerprint, meta.fingerprint
            );
            (Some(meta), true, Some(error))
        }
        Ok(meta) => (meta, true, None),
        Err(e) => (None, false, Some(e.to_string())),
    };
    let refused = reachable && meta.is_none() && error.is_some();
    let remote_published_at = meta.as_ref().map(|m| m.generated_at.clone());
    let remote = meta.map(|m| m.revision);
    let (drifted, plan_error) = match crate::reconcile::prepare(roots, &crate::reconcile::host::RealHost) {
        Ok(prepared) => (
            prepared
                .plan
                .steps
                .iter()
                .filter(|s| s.drift)
                .map(|s| s.path.clone())
                .collect(),
            None,
        ),
        Err(crate::reconcile::ReconcileError::Follower(crate::follower::FollowerError::NothingStaged)) => {
            (Vec::new(), None)
        }
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let generations = crate::reconcile::generations::list(&crate::reconcile::host::RealHost, &roots.codexport_home)
        .map(|g| g.len())
        .unwrap_or(0);
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
        refused,
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
        applied_at: inventory.applied_at,
        remote_published_at,
        drifted,
        plan_error,
        generations,
        newest_signed: newest_signed(roots),
        kept_journals: crate::reconcile::journal::kept(&roots.codexport_home).unwrap_or_default(),
    })
}

fn newest_signed(roots: &Roots) -> Option<NewestSigned> {
    use crate::follower::freshness::{FREEZE_WARN_AFTER, Freshness};
    let f = Freshness::load(&roots.codexport_home).ok().flatten()?;
    let age = f.age();
    Some(NewestSigned {
        sequence: f.sequence,
        old: age.is_some_and(|a| a > FREEZE_WARN_AFTER),
        age_days: age.map(|a| a.as_secs() / 86_400),
        revision: f.revision,
        generated_at: f.generated_at,
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
        print_follower(f);
    }
}

const GOOD: Style = Style::new().fg_color(Some(Color::Ansi(AnsiColor::Green)));
const WARN: Style = Style::new().fg_color(Some(Color::Ansi(AnsiColor::Yellow)));
const BAD: Style = Style::new().fg_color(Some(Color::Ansi(AnsiColor::Red))).bold();

/// The follower part, short and scannable; colours only on a terminal without `NO_COLOR`
/// (anstream strips them otherwise).
fn print_follower(f: &FollowerPart) {
    let rev = |r: &Option<String>| r.as_deref().map(short).unwrap_or_else(|| "none".into());
    let reach = if f.refused {
        format!("{BAD}refuses this follower{BAD:#}")
    } else if f.reachable {
        format!("{GOOD}reachable{GOOD:#}")
    } else {
        format!("{BAD}unreachable{BAD:#}")
    };
    anstream::println!("master url:  {} ({reach})", f.master_url);
    anstream::println!("pinned:      {}", f.fingerprint);
    anstream::println!("follower:    {}", f.name);
    let when = f.applied_at.as_deref().map(|t| format!(", {t}")).unwrap_or_default();
    anstream::println!(
        "applied:     {}{when}; {} generation(s) kept",
        rev(&f.applied_revision),
        f.generations
    );
    anstream::println!("staged:      {}", rev(&f.staged_revision));
    if let Some(n) = &f.newest_signed {
        let age = n.age_days.map(|d| format!(", {d} day(s) ago")).unwrap_or_default();
        let warn = if n.old {
            format!(
                " {WARN}(old: the master publishes only on change, but a follower held back by the network looks like this too; check `codexport master status` on the master){WARN:#}"
            )
        } else {
            String::new()
        };
        anstream::println!(
            "newest:      publication {}, signed {}{age}{warn}",
            n.sequence,
            n.generated_at
        );
    }
    let remote_note = if f.up_to_date {
        format!(" {GOOD}(up to date){GOOD:#}")
    } else if f.reachable {
        let since = f
            .remote_published_at
            .as_deref()
            .map(|t| format!("published {t}; "))
            .unwrap_or_default();
        format!(" {WARN}(behind: {since}run `codexport reconcile`){WARN:#}")
    } else {
        String::new()
    };
    anstream::println!("remote:      {}{remote_note}", rev(&f.remote_revision));
    if !f.drifted.is_empty() {
        anstream::println!(
            "drift:       {WARN}{} path(s) edited locally: {}{WARN:#} (see `codexport plan`)",
            f.drifted.len(),
            f.drifted.join(", ")
        );
    }
    if let Some(e) = &f.plan_error {
        anstream::println!("plan:        {BAD}cannot plan: {e}{BAD:#}");
    }
    if let Some(e) = &f.error {
        anstream::println!("last error:  {BAD}{e}{BAD:#}");
    }
    for j in &f.kept_journals {
        if j.failures.is_empty() {
            anstream::println!(
                "journal:     {WARN}{} kept: a run did not finish{WARN:#} (the next run rolls it back)",
                j.path.display()
            );
        } else {
            anstream::println!(
                "journal:     {BAD}{} kept: rolled back, except: {}{BAD:#} ({})",
                j.path.display(),
                crate::reconcile::journal::list(&j.failures),
                crate::reconcile::journal::KEPT_FIX
            );
        }
    }
    if let Some(h) = &f.hooks
        && h.trusted < h.configured
    {
        anstream::println!(
            "hooks:       {} of {} trusted here; Codex skips the others silently (only what the master trusted is trusted)",
            h.trusted,
            h.configured
        );
    }
    anstream::println!(
        "sync hook:   {}",
        if f.session_hook_installed {
            "installed (codexport hook status)"
        } else {
            "not installed (codexport hook install)"
        }
    );
    if let Some(r) = &f.last_hook_run {
        anstream::print!(
            "{}",
            super::hook::last_run_text(r).replacen("last hook run: ", "last hook:   ", 1)
        );
    }
    for b in f.mcp_broken.iter().flatten() {
        anstream::println!("mcp broken:  {BAD}{}{BAD:#} ({})", b.name, b.reason);
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
