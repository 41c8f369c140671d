//! `-v` / `-vv` / `-q` and `RUST_LOG`: the tracing subscriber of one command.
//!
//! - stderr: warnings by default, `-v` info, `-vv` debug, `-vvv` trace, `-q` errors only, all
//!   for codexport's own events (other crates: warnings). `RUST_LOG`, when set and valid, wins.
//!   Lines go around a progress bar (the bar is cleared, the line written, the bar redrawn).
//! - the daily file `$CODEXPORT_HOME/logs/codexport-YYYY-MM-DD.log` ([`crate::logs`]): debug,
//!   whatever the flags say, for every command that works in `CODEXPORT_HOME`: not for
//!   `completions`, `man` and `demo` (temp homes only), nor for `--help` and usage errors.
//!   Only `follower join` and `master init` create `CODEXPORT_HOME` for it; any other command
//!   on a machine without one (`doctor`, `status` before a join) writes no file.
//! - `mcp run` logs to the file only: its stdout is the MCP channel and its stderr is Codex's.
//! - `reconcile --hook` logs to the file; stderr only with `-v` (Codex sessions often run with a
//!   `RUST_LOG` meant for Codex itself, so it is ignored there).
//!
//! Every line passes through [`crate::logs::redact`].

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{ArgAction, Args};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use super::{Cli, Command};

/// Verbosity flags, global to every subcommand.
#[derive(Debug, Args)]
pub(super) struct Verbosity {
    /// More detail on stderr: -v info, -vv debug, -vvv trace (RUST_LOG, when set, wins).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,
    /// Errors only on stderr; no progress bars.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
}

static QUIET: AtomicBool = AtomicBool::new(false);
static NO_BARS: AtomicBool = AtomicBool::new(false);

/// `-q` was given: informational stderr lines are left out.
pub(super) fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Progress bars are off (`-q`, the hook, `mcp run`); indicatif also hides them off a terminal.
pub(super) fn no_bars() -> bool {
    NO_BARS.load(Ordering::Relaxed)
}

/// Where a command's logs go.
enum Mode {
    /// stderr by the flags (or RUST_LOG), plus the daily file when there is a home.
    Terminal,
    /// The hook: the file; stderr only with -v.
    Hook,
    /// `mcp run`: the file only.
    FileOnly,
}

/// Install the subscriber for `cli` (once per process; a failure to open the log file only
/// drops the file).
pub(super) fn init(cli: &Cli) {
    let (mode, home) = match &cli.command {
        Command::Completions(_) | Command::Man | Command::Demo(_) => (Mode::Terminal, None),
        Command::Mcp(super::mcp::McpCommand::Run(_)) => (Mode::FileOnly, super::mcp::launcher_home()),
        Command::Reconcile(args) if args.hook || args.handed_off => (Mode::Hook, codexport_home()),
        _ => (Mode::Terminal, codexport_home()),
    };
    let creates_home = matches!(
        &cli.command,
        Command::Follower(_) | Command::Master(super::master::MasterCommand::Init(_))
    );
    let home = home.filter(|h| creates_home || h.is_dir());
    let v = &cli.verbosity;
    QUIET.store(v.quiet, Ordering::Relaxed);
    NO_BARS.store(v.quiet || !matches!(mode, Mode::Terminal), Ordering::Relaxed);
    let stderr_filter = match mode {
        Mode::Terminal => Some(rust_log().unwrap_or_else(|| flags_filter(v))),
        Mode::Hook if v.verbose > 0 => Some(flags_filter(v)),
        Mode::Hook | Mode::FileOnly => None,
    };
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let stderr_layer = stderr_filter.map(|filter| {
        tracing_subscriber::fmt::layer()
            .with_writer(|| Stderr)
            .with_ansi(ansi)
            .without_time()
            .with_filter(filter)
    });
    let file = home.and_then(|h| crate::logs::DailyFile::open(&h).ok());
    let file_layer = file.map(|file| {
        tracing_subscriber::fmt::layer()
            .with_writer(file)
            .with_ansi(false)
            .with_filter(EnvFilter::new("codexport=debug"))
    });
    let _ = tracing_subscriber::registry()
        .with(stderr_layer)
        .with(file_layer)
        .try_init();
    tracing::debug!(
        version = env!("CARGO_PKG_VERSION"),
        pid = std::process::id(),
        command = %command_words(),
        "codexport started"
    );
}

/// `RUST_LOG` when set to a valid filter.
fn rust_log() -> Option<EnvFilter> {
    let value = std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty())?;
    EnvFilter::try_new(value).ok()
}

fn flags_filter(v: &Verbosity) -> EnvFilter {
    let own = match (v.quiet, v.verbose) {
        (true, _) => return EnvFilter::new("error"),
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    EnvFilter::new(format!("warn,codexport={own}"))
}

/// `$CODEXPORT_HOME` as [`crate::paths::Roots`] resolves it, without checking `CODEX_HOME`.
fn codexport_home() -> Option<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let home =
        var("CODEXPORT_HOME").or_else(|| Some(var("HOME").or_else(|| var("USERPROFILE"))?.join(".codexport")))?;
    std::path::absolute(&home).ok()
}

/// The subcommand words (`follower join`, `plan`): never arguments, which may carry a token.
fn command_words() -> String {
    let words: Vec<String> = std::env::args()
        .skip(1)
        .skip_while(|a| a.starts_with('-'))
        .take_while(|a| !a.is_empty() && a.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .take(2)
        .collect();
    words.join(" ")
}

/// stderr, redacted, around any progress bar.
struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let line = crate::logs::redact(&text);
        super::progress::suspend(|| {
            let _ = std::io::stderr().write_all(line.as_bytes());
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
