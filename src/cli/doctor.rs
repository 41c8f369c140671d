//! `codexport doctor`: print the checks of [`crate::doctor`] as text, JSON or YAML; exit 1 when
//! any check failed.

use clap::Args;

use crate::doctor::{Report, Status};
use crate::exit::Exit;
use crate::paths::Roots;

use super::CmdResult;
use super::output::{OutputFormat, structured};

const AFTER_HELP: &str = "\
Checks, by role:
  master:    identity, master.toml, published revision and its signature, service,
             a server answering, bind address, followers behind
  follower:  enrollment, master reachable (latency), pinned key, token, clock skew, staged
             document signature, applied/staged/remote revisions, SessionStart hook
             (installed, trusted, `[features] hooks` on, last run), launcher binary, each
             MCP server, tools MCP artifacts need (node, npm, uv, cargo), leftover journal
  machine:   CODEX_HOME and CODEXPORT_HOME writable, `codex` on PATH and its version,
             free disk space
Network checks wait at most 3 s each. Output never contains tokens or secret values.
Exit codes: 0 when nothing failed (warnings allowed), 1 when a check failed.

Examples:
  codexport doctor
  codexport doctor --output json | jq '.sections[].checks[] | select(.status == \"fail\")'";

/// `doctor` arguments.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub(super) struct DoctorArgs {
    /// Output format. Example: --output json
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

pub(super) fn run(args: DoctorArgs, roots: &Roots) -> CmdResult {
    let report = crate::doctor::run(roots);
    match args.output {
        OutputFormat::Text => print!("{}", text(&report)),
        format => print!("{}", structured(&report, format)),
    }
    Ok(if report.passed() { Exit::Ok } else { Exit::Error })
}

/// One line per check (`status  name  detail`), the fix indented below each problem, a
/// summary line at the end.
fn text(report: &Report) -> String {
    let width = report
        .sections
        .iter()
        .flat_map(|s| &s.checks)
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for section in &report.sections {
        out.push_str(&format!("{}:\n", section.title));
        for check in &section.checks {
            out.push_str(&format!(
                "  {:<4}  {:<width$}  {}\n",
                check.status.as_str(),
                check.name,
                check.detail
            ));
            if let Some(fix) = &check.fix
                && check.status != Status::Ok
            {
                out.push_str(&format!("  {:<4}  {:<width$}  fix: {fix}\n", "", ""));
            }
        }
    }
    let s = &report.summary;
    let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    out.push_str(&format!(
        "\n{}, {}, {}, {}\n",
        plural(s.ok, "ok", "ok"),
        plural(s.warn, "warning", "warnings"),
        plural(s.fail, "failure", "failures"),
        plural(s.skip, "skipped", "skipped"),
    ));
    out
}
