//! `codexport master service install | uninstall | status`.

use clap::{Args, Subcommand};

use crate::exit::Exit;
use crate::master::service::{
    self, Activation, Change, InstallReport, Manager, ServiceSettings, StatusReport, UninstallReport, launchd,
    systemd::UNIT_NAME,
};
use crate::master::settings::MasterSettings;
use crate::paths::Roots;

use super::CmdResult;
use super::output::{OutputFormat, structured};

const AFTER_HELP: &str = "\
The service runs a copy of this binary, $CODEXPORT_HOME/bin/codexport (install copies it,
so a binary that npx may delete is never the one the service needs), as `master serve`,
restarted on failure and started at login; CODEX_HOME/CODEXPORT_HOME, when set, go into the
service definition.
Linux: a systemd user unit ~/.config/systemd/user/codexport-master.service ($XDG_CONFIG_HOME
when set). Without a reachable user systemd the unit is still written and the commands to
enable it are printed.
macOS: a launchd agent ~/Library/LaunchAgents/dev.codexport.master.plist, loaded into
gui/$UID; output in $CODEXPORT_HOME/logs/master-service.log.
Windows: a Task Scheduler task `codexport-master` run at logon.

Examples:
  codexport master service install
  codexport master service status --output json
  codexport master service uninstall";

/// `master service` arguments.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub(super) struct ServiceArgs {
    #[command(subcommand)]
    command: ServiceCommand,
}

#[derive(Debug, Subcommand)]
enum ServiceCommand {
    /// Write (or rewrite) the service and start it; running it again is safe.
    ///
    /// Needs `codexport master init` first. Example: codexport master service install
    Install(OutputArgs),
    /// Stop and remove the service (nothing installed: says so, exit 0).
    ///
    /// Example: codexport master service uninstall
    Uninstall(OutputArgs),
    /// Installed or not, what it runs, enabled and running.
    ///
    /// Example: codexport master service status --output json
    Status(OutputArgs),
}

#[derive(Debug, Args)]
struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

pub(super) fn run(args: ServiceArgs, roots: &Roots) -> CmdResult {
    let settings = ServiceSettings::from_env(roots)?;
    match args.command {
        ServiceCommand::Install(a) => {
            MasterSettings::load(&roots.master_dir())?;
            let report = service::install(&settings)?;
            match a.output {
                OutputFormat::Text => print_install(&report),
                format => print!("{}", structured(&report, format)),
            }
        }
        ServiceCommand::Uninstall(a) => {
            let report = service::uninstall(&settings)?;
            match a.output {
                OutputFormat::Text => print_uninstall(&report),
                format => print!("{}", structured(&report, format)),
            }
        }
        ServiceCommand::Status(a) => {
            let report = service::status(&settings)?;
            match a.output {
                OutputFormat::Text => print_status(&report),
                format => print!("{}", structured(&report, format)),
            }
        }
    }
    Ok(Exit::Ok)
}

fn what(manager: Manager) -> &'static str {
    match manager {
        Manager::SystemdUser => "unit",
        Manager::TaskScheduler => "task",
        Manager::Launchd => "agent",
    }
}

/// The manager's name in "X is not reachable" lines.
fn manager_name(manager: Manager) -> &'static str {
    match manager {
        Manager::SystemdUser => "user systemd",
        Manager::TaskScheduler => "Task Scheduler",
        Manager::Launchd => "launchctl",
    }
}

fn print_install(r: &InstallReport) {
    let what = what(r.manager);
    match r.change {
        Change::Created => println!("wrote {what} {}", r.location),
        Change::Updated => println!("rewrote {what} {} (it differed)", r.location),
        Change::Unchanged => println!("{what} {} is unchanged", r.location),
    }
    println!("  runs: {}", r.command);
    match r.binary.change {
        Change::Unchanged => println!("  binary: {} (up to date)", r.binary.path),
        _ => println!("  binary: {} (copied from {})", r.binary.path, r.binary.from),
    }
    match &r.activation {
        Activation::Done { ran } => {
            for command in ran {
                println!("ran: {command}");
            }
            match r.manager {
                Manager::SystemdUser => {
                    println!("the master runs as a service: systemctl --user status {UNIT_NAME}");
                    println!("logs: journalctl --user -u {UNIT_NAME}");
                }
                Manager::Launchd => {
                    println!(
                        "the master runs as a launchd agent: launchctl print gui/$(id -u)/{}",
                        launchd::LABEL
                    );
                }
                Manager::TaskScheduler => {}
            }
        }
        Activation::Manual { reason, commands } => {
            println!(
                "{} is not reachable, so the {what} is written but NOT enabled or started",
                manager_name(r.manager)
            );
            println!("  ({reason})");
            println!("run these in a login session of this user:");
            for command in commands {
                println!("  {command}");
            }
        }
    }
    if let Some(log) = &r.log {
        println!("logs: {log}");
    }
    if r.manager == Manager::SystemdUser {
        println!("to keep it running after logout and start it at boot: loginctl enable-linger $USER");
    }
}

fn print_uninstall(r: &UninstallReport) {
    let what = what(r.manager);
    if !r.removed {
        println!("not installed: no {what} {}; nothing to do", r.location);
        return;
    }
    println!("removed {what} {}", r.location);
    match &r.activation {
        Some(Activation::Done { ran }) => {
            for command in ran {
                println!("ran: {command}");
            }
        }
        Some(Activation::Manual { reason, commands }) => {
            println!("{} is not reachable ({reason});", manager_name(r.manager));
            println!("if the service still runs in a login session, stop it there:");
            for command in commands {
                println!("  {command}");
            }
        }
        None => {}
    }
}

fn print_status(r: &StatusReport) {
    let what = what(r.manager);
    let manager = match r.manager {
        Manager::SystemdUser => "systemd user unit",
        Manager::TaskScheduler => "Task Scheduler task",
        Manager::Launchd => "launchd agent",
    };
    println!("service:  {manager}");
    println!(
        "{what}:     {} ({})",
        r.location,
        if r.installed { "installed" } else { "not installed" }
    );
    if let Some(command) = &r.command {
        println!("runs:     {command}");
    }
    println!("enabled:  {}", r.enabled);
    println!("active:   {}", r.active);
    if let Some(pid) = r.pid {
        println!("pid:      {pid}");
    }
    if let Some(reason) = &r.unreachable {
        let label = match r.manager {
            Manager::Launchd => "launchd:",
            _ => "systemd:",
        };
        println!("{label}  not reachable: {reason}");
    }
    if !r.installed {
        println!("install it with: codexport master service install");
    }
}
