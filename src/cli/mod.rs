//! Command-line interface: clap types, one module per command group, output rendering.
//!
//! Clap types stay here; each command resolves them into plain values before calling the
//! library. Errors print as one `error:` line plus a `hint:` line, never as Rust debug output.

mod apply;
mod completions;
mod demo;
mod doctor;
mod follower;
mod follower_leave;
mod hook;
mod logging;
mod master;
mod master_followers;
mod master_service;
mod mcp;
mod output;
mod plan;
mod progress;
mod status;
mod sync;

use clap::{Parser, Subcommand};

use crate::exit::{Exit, ExitStatus};

pub use output::OutputFormat;

const AFTER_HELP: &str = "\
Quick start:
  on the master:    codexport master init && codexport master link --host <tailscale-ip>
                    codexport master serve
  on a follower:    codexport follower join 'codexport://join?...' --apply
  any time:         codexport plan; codexport reconcile; codexport status
  try it locally:   codexport demo

Exit codes: 0 ok, 1 error, 2 plan has changes (--detailed-exitcode), 3 drift or conflict,
4 usage or bad configuration, 5 trust failure, 6 master unreachable, 7 apply rolled back.";

/// Keep many machines on one carefully tuned Codex CLI setup.
#[derive(Debug, Parser)]
#[command(name = "codexport", version, about, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    verbosity: logging::Verbosity,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Master side: publish this machine's ~/.codex and serve it to followers.
    ///
    /// Example: codexport master init && codexport master link --host 100.101.102.103 --name laptop
    #[command(subcommand)]
    Master(master::MasterCommand),
    /// Follower side: join a master.
    ///
    /// Example: codexport follower join 'codexport://join?host=...&port=17342&fingerprint=...&token=...' --apply
    #[command(subcommand)]
    Follower(follower::FollowerCommand),
    /// Fetch, verify and stage the master's latest revision (nothing under ~/.codex changes).
    ///
    /// Example: codexport sync --apply
    Sync(sync::SyncArgs),
    /// Show what a reconcile would change under ~/.codex.
    ///
    /// Example: codexport plan --offline --output json > plan.json
    Plan(plan::PlanArgs),
    /// Apply the staged revision to ~/.codex (backups first, rollback on failure).
    ///
    /// Example: codexport apply --plan plan.json   (only if nothing changed since the plan)
    Apply(apply::ApplyArgs),
    /// Sync, then apply: converge ~/.codex to the master's latest revision.
    ///
    /// Example: codexport reconcile   (the installed hook runs: codexport reconcile --hook)
    Reconcile(apply::ReconcileArgs),
    /// List generations: every apply or rollback that changed something.
    ///
    /// Example: codexport generations --output json
    Generations(apply::GenerationsArgs),
    /// Restore an earlier generation byte for byte (recorded as a new generation).
    ///
    /// Example: codexport rollback --to 3
    Rollback(apply::RollbackArgs),
    /// Role, master, pinned fingerprint, applied/staged/remote revisions, reachability.
    ///
    /// Example: codexport status --output json
    Status(status::StatusArgs),
    /// Check this machine's setup: one line per check (ok, warn, fail, skip), a fix for each
    /// problem; exit 1 when a check failed.
    ///
    /// Example: codexport doctor --output json
    Doctor(doctor::DoctorArgs),
    /// Run master and follower on loopback with the bundled example (temp dirs only).
    ///
    /// Example: codexport demo --keep
    Demo(demo::DemoArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// Print the man page (roff). Example: codexport man > codexport.1
    Man,
    /// MCP servers on this follower: the `run` launcher, `list`, `install`.
    ///
    /// Example: codexport mcp list
    #[command(subcommand)]
    Mcp(mcp::McpCommand),
    /// codexport's SessionStart hook: every Codex session start reconciles (best effort).
    ///
    /// Example: codexport hook install && codexport hook status
    #[command(subcommand)]
    Hook(hook::HookCommand),
}

/// An error ready to print: message, optional hint and exit code.
#[derive(Debug)]
pub struct Failure {
    exit: Exit,
    message: String,
    hint: Option<String>,
}

impl<E: ExitStatus + std::error::Error> From<E> for Failure {
    fn from(e: E) -> Self {
        let mut message = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            let text = s.to_string();
            if !message.contains(&text) {
                message = format!("{message}: {text}");
            }
            source = s.source();
        }
        Failure {
            exit: e.exit(),
            message,
            hint: e.hint(),
        }
    }
}

impl Failure {
    /// A failure with an explicit exit code and hint.
    pub fn new(exit: Exit, message: impl Into<String>, hint: Option<String>) -> Self {
        Failure {
            exit,
            message: message.into(),
            hint,
        }
    }
}

impl ExitStatus for std::io::Error {
    fn exit(&self) -> Exit {
        Exit::Error
    }
}

/// What a command returns: the exit code on success, a [`Failure`] otherwise.
pub type CmdResult = Result<Exit, Failure>;

/// Parse the process arguments, run, print any error; returns the process exit code.
pub fn main() -> u8 {
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    quiet_on_closed_stdout();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => Exit::Ok.code(),
                _ => Exit::Usage.code(),
            };
        }
    };
    logging::init(&cli);
    if let Command::Reconcile(args) = &cli.command
        && args.hook
    {
        return hook::run_hook(args.timeout_ms);
    }
    if let Command::Reconcile(args) = &cli.command
        && args.handed_off
    {
        return hook::run_handed_off();
    }
    match run(cli) {
        Ok(exit) => exit.code(),
        // The reader of our stdout went away (`codexport man | head`): not an error.
        Err(f) if f.message.ends_with("Broken pipe (os error 32)") => Exit::Ok.code(),
        Err(f) => {
            tracing::debug!(exit = f.exit.code(), "failed: {}", f.message);
            eprintln!("error: {}", f.message);
            if let Some(h) = f.hint {
                eprintln!("hint: {h}");
            }
            f.exit.code()
        }
    }
}

/// `codexport plan | head`: when the reader closes the pipe, `println!` panics with "failed
/// printing to stdout: Broken pipe" (clap_complete: "failed to write completion file: ...
/// BrokenPipe"). Like `head`'s other writers, stop quietly (exit 0) instead of printing a Rust
/// panic. Every other panic keeps the default report.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        let writing = message.starts_with("failed printing to stdout") || message.starts_with("failed to write");
        if writing && (message.contains("os error 32") || message.contains("BrokenPipe")) {
            std::process::exit(0);
        }
        default(info)
    }));
}

fn run(cli: Cli) -> CmdResult {
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Completions(args) => completions::completions(args),
        Command::Man => completions::man(),
        Command::Mcp(mcp::McpCommand::Run(args)) => mcp::run_server(args),
        command => {
            let roots = crate::paths::Roots::from_env()?;
            match command {
                Command::Master(cmd) => master::run(cmd, &roots),
                Command::Follower(cmd) => follower::run(cmd, &roots),
                Command::Sync(args) => sync::run(args, &roots),
                Command::Plan(args) => plan::run(args, &roots),
                Command::Apply(args) => apply::run_apply(args, &roots),
                Command::Reconcile(args) => apply::run_reconcile(args, &roots),
                Command::Generations(args) => apply::run_generations(args, &roots),
                Command::Rollback(args) => apply::run_rollback(args, &roots),
                Command::Status(args) => status::run(args, &roots),
                Command::Doctor(args) => doctor::run(args, &roots),
                Command::Mcp(cmd) => mcp::run(cmd, &roots),
                Command::Hook(cmd) => hook::run(cmd, &roots),
                Command::Demo(_) | Command::Completions(_) | Command::Man => unreachable!("handled above"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
