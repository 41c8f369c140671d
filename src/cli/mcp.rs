//! `codexport mcp run NAME | list | install [NAME...]`.
//!
//! `mcp run` is what Codex spawns for every command server: it must never print to stdout (the
//! MCP channel). Its only output is one `error:` line on stderr when the server cannot start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::exit::Exit;
use crate::follower::enrollment::Enrollment;
use crate::follower::store::FollowerStore;
use crate::mcp::install::{InstallEnv, InstallOutcome, install};
use crate::mcp::manifest::{ManifestError, write_manifest};
use crate::mcp::ready::readiness;
use crate::mcp::run::{exec, prepare};
use crate::paths::Roots;
use clap::{Args, Subcommand};

use super::output::{OutputFormat, structured};
use super::{CmdResult, Failure};

#[derive(Debug, Subcommand)]
pub(super) enum McpCommand {
    /// Run an MCP server of the manifest (Codex calls this; stdout is the MCP channel).
    ///
    /// Example: codexport mcp run everything
    Run(RunArgs),
    /// Show each MCP server: transport, artifact, installed or not and why.
    ///
    /// Example: codexport mcp list --output json
    List(ListArgs),
    /// Install the artifacts of the staged revision and write mcp-manifest.json.
    ///
    /// The repair step for a server whose install is missing. Progress goes to stderr.
    /// Example: codexport mcp install everything
    Install(InstallArgs),
}

#[derive(Debug, Args)]
pub(super) struct RunArgs {
    /// Server name, as in `[mcp_servers.<name>]` of the master's config.toml.
    name: String,
}

#[derive(Debug, Args)]
pub(super) struct ListArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

#[derive(Debug, Args)]
pub(super) struct InstallArgs {
    /// Servers to install (default: all).
    names: Vec<String>,
}

/// `mcp run` resolves its own paths: Codex passes only a few variables to MCP servers, so
/// `CODEXPORT_HOME` comes from the server's `env` (set by the renderer), else from where this
/// binary lives (`<CODEXPORT_HOME>/bin/codexport`), else `~/.codexport`.
pub(super) fn run_server(args: RunArgs) -> CmdResult {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    let codexport_home =
        launcher_home().ok_or_else(|| Failure::new(Exit::Usage, "HOME and CODEXPORT_HOME are not set", None))?;
    tracing::info!(server = %args.name, home = %codexport_home.display(), "mcp run");
    let env = InstallEnv::from_process(&codexport_home, home.as_deref().unwrap_or(Path::new("/")));
    let launch = prepare(&args.name, &env).map_err(|e| one_line(&args.name, e))?;
    let code = exec(&args.name, &launch).map_err(|e| one_line(&args.name, e))?;
    Ok(if code == 0 { Exit::Ok } else { Exit::Error })
}

/// Fold any hint into the message: a server that cannot start gets exactly one stderr line.
fn one_line(name: &str, e: crate::mcp::run::RunError) -> Failure {
    use crate::exit::ExitStatus;
    let message = match &e {
        crate::mcp::run::RunError::Manifest(m) => {
            format!(
                "MCP server `{name}` cannot start: {m}; repair: {}",
                m.hint().unwrap_or_default()
            )
        }
        other => other.to_string(),
    };
    Failure::new(e.exit(), message, None)
}

/// `CODEXPORT_HOME` as `mcp run` finds it (see [`run_server`]).
pub(super) fn launcher_home() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    std::env::var_os("CODEXPORT_HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(from_exe)
        .or_else(|| home.map(|h| h.join(".codexport")))
}

fn from_exe() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let home = exe.parent()?.parent()?;
    home.join(crate::mcp::manifest::MANIFEST_FILE)
        .is_file()
        .then(|| home.to_path_buf())
}

pub(super) fn run(cmd: McpCommand, roots: &Roots) -> CmdResult {
    let env = InstallEnv::from_process(&roots.codexport_home, &roots.home);
    match cmd {
        McpCommand::Run(_) => unreachable!("dispatched before the roots are resolved"),
        McpCommand::List(args) => list(args, &env),
        McpCommand::Install(args) => install_all(args, roots, &env),
    }
}

fn list(args: ListArgs, env: &InstallEnv) -> CmdResult {
    let rows = readiness(env)?;
    match args.output {
        OutputFormat::Text => {
            for r in &rows {
                let artifact = r.artifact.as_ref().map_or("-".into(), |a| a.describe());
                let state = if r.ready { "ready" } else { "NOT READY" };
                println!(
                    "{:<20} {:<6} {artifact}",
                    r.name,
                    format!("{:?}", r.transport).to_lowercase()
                );
                println!("{:<20} {state}: {}", "", r.reason);
            }
        }
        format => print!("{}", structured(&rows, format)),
    }
    Ok(if rows.iter().all(|r| r.ready) {
        Exit::Ok
    } else {
        Exit::Error
    })
}

fn install_all(args: InstallArgs, roots: &Roots, env: &InstallEnv) -> CmdResult {
    let enrollment = Enrollment::load(&roots.codexport_home)?;
    let staged = FollowerStore::new(&roots.codexport_home)
        .load_staged(&enrollment)?
        .ok_or_else(|| Failure::new(Exit::Usage, "nothing staged yet", Some("run `codexport sync`".into())))?;
    let doc = staged.doc;
    for name in &args.names {
        if !doc.spec.mcp_servers.contains_key(name) {
            return Err(Failure::new(
                Exit::Usage,
                format!("MCP server `{name}` is not in the staged revision"),
                Some("see `codexport mcp list`".into()),
            ));
        }
    }
    let mut failed = 0;
    let progress = super::progress::terminal();
    for (name, server) in &doc.spec.mcp_servers {
        let Some(artifact) = &server.artifact else { continue };
        if !args.names.is_empty() && !args.names.contains(name) {
            continue;
        }
        if !super::logging::quiet() {
            eprintln!("installing {name}: {}", artifact.describe());
        }
        progress.working(&format!("installing MCP server {name}"));
        let installed = install(name, artifact, env);
        progress.finish();
        match installed {
            Ok(InstallOutcome::Installed) => println!("{name}: installed"),
            Ok(InstallOutcome::AlreadyInstalled) => println!("{name}: already installed"),
            Ok(InstallOutcome::NotNeeded) => println!("{name}: nothing to install ({})", artifact.kind()),
            Err(e) => {
                failed += 1;
                eprintln!("error: {e}");
            }
        }
    }
    let variables = BTreeMap::from([
        ("home".to_string(), roots.home.display().to_string()),
        ("codexHome".to_string(), roots.codex_home.display().to_string()),
    ]);
    let path = write_manifest(&roots.codexport_home, &doc, &variables).map_err(|e: ManifestError| Failure::from(e))?;
    println!("wrote {}", path.display());
    if failed > 0 {
        return Err(Failure::new(
            Exit::Error,
            format!("{failed} MCP artifact install(s) failed"),
            Some("fix the causes above and run `codexport mcp install` again".into()),
        ));
    }
    Ok(Exit::Ok)
}
