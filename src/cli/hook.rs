//! `codexport hook install | uninstall | status`, and `codexport reconcile --hook` (the
//! command the installed hook runs).

use std::io::Read;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::exit::Exit;
use crate::follower::enrollment::Enrollment;
use crate::follower::hook::{DEFAULT_BUDGET_MS, HookSettings};
use crate::paths::Roots;
use crate::reconcile::hook_run::HookRecord;
use crate::reconcile::render_hook::{hooks_json_path, observe_trust};

use super::output::{OutputFormat, short, structured};
use super::{CmdResult, Failure};

/// Largest SessionStart payload read from stdin, in bytes.
const MAX_STDIN_BYTES: u64 = 64 * 1024;
/// How long the hook waits for Codex to close stdin.
const STDIN_WAIT: Duration = Duration::from_millis(200);

#[derive(Debug, Subcommand)]
pub(super) enum HookCommand {
    /// Install codexport's SessionStart hook (startup|resume) in ~/.codex/hooks.json, with the
    /// trust entry Codex needs to run it. Only hooks.json, config.toml and the launcher are
    /// written: a staged revision stays unapplied. Idempotent; other hooks are untouched.
    ///
    /// Example: codexport hook install --timeout-ms 3000
    Install(InstallArgs),
    /// Remove the hook and its trust entry (nothing else is applied).
    ///
    /// Example: codexport hook uninstall
    Uninstall,
    /// Whether the hook is installed, whether Codex will run it (trust recomputed), and what
    /// its last run did.
    ///
    /// Example: codexport hook status --output json
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub(super) struct InstallArgs {
    /// Total budget of each hook run (connect + fetch + apply), in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_BUDGET_MS, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    timeout_ms: u64,
}

#[derive(Debug, Args)]
pub(super) struct StatusArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

pub(super) fn run(cmd: HookCommand, roots: &Roots) -> CmdResult {
    match cmd {
        HookCommand::Install(args) => install(args, roots),
        HookCommand::Uninstall => uninstall(roots),
        HookCommand::Status(args) => status(args, roots),
    }
}

fn install(args: InstallArgs, roots: &Roots) -> CmdResult {
    Enrollment::load(&roots.codexport_home)?;
    let settings = HookSettings {
        budget_ms: args.timeout_ms,
    };
    crate::fs::create_private_dir(&roots.codexport_home)?;
    let bytes = serde_json::to_vec_pretty(&settings).map_err(std::io::Error::other)?;
    crate::fs::write_atomic(
        &HookSettings::path(&roots.codexport_home),
        &bytes,
        crate::fs::SECRET_MODE,
    )?;
    let applied = apply_hook_only(roots)?;
    match applied {
        Some(kept) if kept.contains(&"hooks.json".to_string()) => println!(
            "SessionStart hook installed, but hooks.json was edited locally and onDrift = keep leaves it as it is: the hook is not in it yet (see `codexport plan`)."
        ),
        Some(_) => println!(
            "SessionStart hook installed in {} (budget {} ms, trusted in config.toml).",
            hooks_json_path(roots).display(),
            args.timeout_ms
        ),
        None => println!("SessionStart hook installed; the first `codexport apply` writes it into hooks.json."),
    }
    Ok(Exit::Ok)
}

/// Apply the hook change alone ([`crate::reconcile::hook_scope`]): nothing staged is applied
/// and no other file is touched. Returns the paths kept by `onDrift = keep`, or `None` when
/// no revision was ever applied (the first apply writes the hook).
fn apply_hook_only(roots: &Roots) -> Result<Option<Vec<String>>, Failure> {
    let applied = crate::reconcile::hook_scope::apply_hook_only(roots, &crate::reconcile::host::RealHost)?;
    Ok(applied.map(|a| {
        if let Some(g) = a.report.generation {
            let backups = if a.report.backed_up.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} backed up in {})",
                    a.report.backed_up.join(", "),
                    roots.codexport_home.join("backups").join(g.to_string()).display()
                )
            };
            println!("Generation {g}: hooks.json and config.toml only{backups}; the staged revision is not applied.");
        }
        a.report.kept
    }))
}

fn uninstall(roots: &Roots) -> CmdResult {
    let path = HookSettings::path(&roots.codexport_home);
    if !path.exists() {
        println!("The SessionStart hook is not installed.");
        return Ok(Exit::Ok);
    }
    fs_err::remove_file(&path)?;
    match apply_hook_only(roots)? {
        Some(kept) if kept.contains(&"hooks.json".to_string()) => println!(
            "SessionStart hook uninstalled, but hooks.json was edited locally and onDrift = keep leaves it as it is: the handler is still in it (see `codexport plan`)."
        ),
        _ => println!("SessionStart hook removed (with its trust entry)."),
    }
    Ok(Exit::Ok)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HookStatus {
    installed: bool,
    budget_ms: Option<u64>,
    /// The codexport handler in hooks.json: its trust key, or absent when not there.
    trust_key: Option<String>,
    /// True when config.toml trusts that handler with a matching hash (Codex will run it).
    trusted: bool,
    last_run: Option<HookRecord>,
}

fn status(args: StatusArgs, roots: &Roots) -> CmdResult {
    let settings = HookSettings::load(&roots.codexport_home).map_err(|e| Failure::new(Exit::Usage, e, None))?;
    let observed = observe_trust(roots);
    let report = HookStatus {
        installed: settings.is_some(),
        budget_ms: settings.map(|s| s.budget_ms),
        trust_key: observed.trust_key,
        trusted: observed.trusted,
        last_run: HookRecord::load(&roots.codexport_home),
    };
    match args.output {
        OutputFormat::Text => print!("{}", status_text(&report)),
        format => print!("{}", structured(&report, format)),
    }
    Ok(Exit::Ok)
}

fn status_text(s: &HookStatus) -> String {
    let mut out = String::new();
    match (s.installed, &s.trust_key, s.trusted) {
        (false, None, _) => out.push_str("SessionStart hook: not installed (codexport hook install)\n"),
        (false, Some(_), _) => {
            out.push_str("SessionStart hook: not installed, but still in hooks.json (run codexport reconcile)\n")
        }
        (true, None, _) => {
            out.push_str("SessionStart hook: installed, not yet in hooks.json (run codexport reconcile)\n")
        }
        (true, Some(_), true) => out.push_str("SessionStart hook: installed; trusted, Codex will run it\n"),
        (true, Some(_), false) => {
            out.push_str("SessionStart hook: installed but NOT trusted: Codex will skip it (run codexport reconcile)\n")
        }
    }
    if let Some(r) = &s.last_run {
        out.push_str(&last_run_text(r));
    }
    out
}

/// One line about the last hook run (also used by `codexport status`).
pub(super) fn last_run_text(r: &HookRecord) -> String {
    let revision = r
        .revision
        .as_deref()
        .map(|v| format!(" {}", short(v)))
        .unwrap_or_default();
    let message = r.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
    format!(
        "last hook run: {} {}{revision} ({} ms){message}\n",
        r.at,
        r.outcome.as_str(),
        r.duration_ms
    )
}

/// `codexport reconcile --hook`: nothing on stdout, always exit 0.
pub(super) fn run_hook(timeout_ms: u64) -> u8 {
    let roots = match Roots::from_env() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("codexport hook: {e}");
            return Exit::Ok.code();
        }
    };
    let session = read_session();
    crate::reconcile::hook_run::run(&roots, Duration::from_millis(timeout_ms), session);
    Exit::Ok.code()
}

/// `codexport reconcile --handed-off`: the hook's background apply; always exit 0.
pub(super) fn run_handed_off() -> u8 {
    if let Ok(roots) = Roots::from_env() {
        crate::reconcile::hook_handoff::finish(&roots);
    }
    Exit::Ok.code()
}

/// The SessionStart JSON Codex writes to stdin, if any: read in a thread while the hook runs,
/// so an open, silent stdin never holds it; the returned closure waits at most [`STDIN_WAIT`]
/// more for it. Capped; anything unparseable is ignored.
fn read_session() -> impl FnOnce() -> Option<serde_json::Value> {
    use std::io::IsTerminal;
    let rx = (!std::io::stdin().is_terminal()).then(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = std::io::stdin().take(MAX_STDIN_BYTES).read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
        rx
    });
    move || {
        let bytes = rx?.recv_timeout(STDIN_WAIT).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}
