//! `codexport master ...`: init, serve, link, rebuild, status (followers, revoke and service
//! have their own modules).

use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::exit::Exit;
use crate::follower::enrollment::JoinLink;
use crate::master::identity::Identity;
use crate::master::init::{InitOptions, init};
use crate::master::publish::{PublishReport, publish};
use crate::master::settings::MasterSettings;
use crate::master::tokens::TokenFile;
use crate::master::watch::{WatchEvent, WatchLog, WatchOptions};
use crate::paths::Roots;

use super::output::{OutputFormat, human_size, short, structured};
use super::{CmdResult, Failure};

#[derive(Debug, Subcommand)]
pub(super) enum MasterCommand {
    /// Create the master identity and master.toml, then publish the first revision.
    ///
    /// Re-running keeps the key and the settings (flags given override them).
    /// Example: codexport master init --bind 100.101.102.103
    Init(InitArgs),
    /// Serve the published state to followers until Ctrl-C or SIGTERM.
    ///
    /// Publishes once at start, then again whenever an included file under CODEX_HOME or
    /// master.toml changes (300 ms after the last change; --no-watch turns this off).
    /// Example: codexport master serve --bind 100.101.102.103
    Serve(ServeArgs),
    /// Mint a follower token and print the join link (the token is shown only once).
    ///
    /// Example: codexport master link --host 100.101.102.103 --name laptop
    Link(LinkArgs),
    /// Republish ~/.codex after changes (same tree, same revision).
    ///
    /// Example: codexport master rebuild   (`master serve` also republishes on its own)
    Rebuild,
    /// Show the identity, the published revision and what it contains.
    ///
    /// Example: codexport master status --output json
    Status(OutputArgs),
    /// List followers: created, last seen, applied revision, current or behind.
    ///
    /// Example: codexport master followers
    Followers(OutputArgs),
    /// Revoke a follower's token; the running server refuses it at the next request.
    ///
    /// Example: codexport master revoke laptop
    Revoke(RevokeArgs),
    /// Run `master serve` as a service: a systemd user unit (Linux), a launchd agent (macOS)
    /// or a logon task (Windows).
    ///
    /// Example: codexport master service install
    Service(super::master_service::ServiceArgs),
}

#[derive(Debug, Args)]
pub(super) struct RevokeArgs {
    /// Follower name, as `master followers` lists it.
    name: String,
}

#[derive(Debug, Args)]
pub(super) struct InitArgs {
    /// TCP port to record in master.toml (default 17342).
    #[arg(long)]
    port: Option<u16>,
    /// Address to bind: `auto` (the default: the Tailscale address when `tailscale ip -4`
    /// answers, else 127.0.0.1) or an address.
    #[arg(long)]
    bind: Option<String>,
    /// Make a new identity key (the old one is kept as identity.key.old-<time>) and republish.
    /// Every follower then refuses this master until it re-joins with a new link.
    #[arg(long)]
    rotate_key: bool,
}

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// Port to listen on (default: master.toml; 0 picks a free port).
    #[arg(long)]
    port: Option<u16>,
    /// Address to bind (default: master.toml; `auto` = the Tailscale address, else 127.0.0.1).
    #[arg(long)]
    bind: Option<String>,
    /// Do not watch CODEX_HOME and master.toml: serve what is published until the next
    /// `codexport master rebuild`.
    #[arg(long)]
    no_watch: bool,
    /// Quiet period before an automatic republish, in milliseconds (the longest wait is ten
    /// times this). For tests.
    #[arg(long, hide = true, env = "CODEXPORT_WATCH_DEBOUNCE_MS")]
    watch_debounce_ms: Option<u64>,
}

#[derive(Debug, Args)]
pub(super) struct LinkArgs {
    /// Host name or address followers use to reach this master (e.g. its Tailscale IP).
    #[arg(long)]
    host: String,
    /// Port followers connect to (default: master.toml).
    #[arg(long)]
    port: Option<u16>,
    /// Follower name (default: follower-N). Linking a name again replaces its token.
    #[arg(long)]
    name: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

#[derive(Debug, Args)]
pub(super) struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

pub(super) fn run(cmd: MasterCommand, roots: &Roots) -> CmdResult {
    match cmd {
        MasterCommand::Init(args) => {
            let report = init(
                roots,
                &InitOptions {
                    port: args.port,
                    bind: args.bind,
                    rotate_key: args.rotate_key,
                },
            )?;
            println!(
                "{} master identity {}",
                if report.created_key { "created" } else { "kept" },
                report.fingerprint
            );
            if let Some(old) = &report.old_key {
                println!("old key kept as {}", old.display());
                println!(
                    "followers now refuse this master: give each a new link (codexport master link --host <address> --name NAME)"
                );
            }
            println!(
                "settings: {} (bind {}:{})",
                roots.master_dir().join("master.toml").display(),
                report.settings.bind,
                report.settings.port
            );
            print_publish(&report.publish);
            println!("next: codexport master link --host <address followers use>; then codexport master serve");
            Ok(Exit::Ok)
        }
        MasterCommand::Rebuild => {
            let report = publish(roots)?;
            print_publish(&report);
            Ok(Exit::Ok)
        }
        MasterCommand::Serve(args) => serve(args, roots),
        MasterCommand::Link(args) => link(args, roots),
        MasterCommand::Status(args) => status(args, roots),
        MasterCommand::Followers(args) => super::master_followers::followers(args.output, roots),
        MasterCommand::Revoke(args) => super::master_followers::revoke(&args.name, roots),
        MasterCommand::Service(args) => super::master_service::run(args, roots),
    }
}

fn print_publish(report: &PublishReport) {
    let verb = if report.changed { "published" } else { "unchanged" };
    println!(
        "{verb} revision {} ({} files, {}, {} MCP servers)",
        short(&report.revision),
        report.files,
        human_size(report.bytes),
        report.mcp_servers
    );
    for s in &report.scan.symlinks {
        println!("  skipped symlink {s} (symlinks are not followed; replace it with the file to publish it)");
    }
    for s in &report.scan.special_skipped {
        println!("  skipped {s} (not a regular file)");
    }
    if !report.scan.runtime_skipped.is_empty() {
        println!("  left out runtime state: {}", report.scan.runtime_skipped.join(", "));
    }
    if !report.scan.not_included.is_empty() {
        println!(
            "  not included (add to `include` in master.toml to publish): {}",
            report.scan.not_included.join(", ")
        );
    }
}

fn serve(args: ServeArgs, roots: &Roots) -> CmdResult {
    let dir = roots.master_dir();
    let settings = MasterSettings::load(&dir)?;
    let (bind, source) = crate::master::bind::resolve(args.bind.as_deref(), &settings);
    let port = args.port.unwrap_or(settings.port);
    let addr = crate::master::bind::socket_addr(&bind, port);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = crate::master::serve::bind(&addr).await?;
        let local = listener.local_addr()?;
        let shutdown = shutdown_signal();
        if crate::master::bind::is_wildcard(&bind) {
            eprintln!("warning: listening on every interface; bind to the Tailscale address instead");
        }
        println!(
            "serving http://{local} (Ctrl-C to stop; address from {})",
            source.describe()
        );
        if args.no_watch {
            crate::master::serve::serve(dir, listener, shutdown).await?;
        } else {
            let options = args.watch_debounce_ms.map_or_else(WatchOptions::default, |ms| {
                WatchOptions::with_debounce(Duration::from_millis(ms))
            });
            let log: WatchLog = Arc::new(log_watch);
            if !super::logging::quiet() {
                eprintln!(
                    "watching {} and master.toml: republishing {} ms after a change (--no-watch turns this off)",
                    roots.codex_home.display(),
                    options.debounce.as_millis()
                );
            }
            let limits = crate::master::listen::Limits::default();
            crate::master::serve::serve_watching(roots.clone(), listener, shutdown, limits, options, log).await?;
        }
        if !super::logging::quiet() {
            eprintln!("stopped");
        }
        Ok::<_, Failure>(Exit::Ok)
    })
}

/// One stderr line per watcher event (stdout stays for the `serving` line); with `-q` only
/// failures and problems.
fn log_watch(event: WatchEvent<'_>) {
    let quiet = super::logging::quiet();
    match event {
        WatchEvent::Started { .. } | WatchEvent::Published { .. } if quiet => {}
        WatchEvent::Started { directories } => eprintln!("watch: {directories} directories watched"),
        WatchEvent::Published { report, took } => eprintln!(
            "watch: {} revision {} ({} files, {}) in {} ms",
            if report.changed { "published" } else { "unchanged" },
            short(&report.revision),
            report.files,
            human_size(report.bytes),
            took.as_millis()
        ),
        WatchEvent::Failed { error, serving, took } => eprintln!(
            "watch: publish failed after {} ms, still serving {}: {error}",
            took.as_millis(),
            serving.map_or_else(|| "nothing".to_string(), short)
        ),
        WatchEvent::Problem(problem) => eprintln!("watch: {problem}"),
    }
}

/// The future that ends `serve`: SIGTERM or Ctrl-C. The handlers are installed when this is
/// called, not when the future is first polled, so a SIGTERM right after the `serving` line
/// (a service manager, a test) stops the server cleanly instead of killing it: call it before
/// printing that line. Must be called inside the runtime.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let handlers = signal(SignalKind::terminate()).and_then(|t| Ok((t, signal(SignalKind::interrupt())?)));
        async move {
            match handlers {
                Ok((mut term, mut int)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn link(args: LinkArgs, roots: &Roots) -> CmdResult {
    let dir = roots.master_dir();
    let identity = Identity::load(&dir)?;
    let settings = MasterSettings::load(&dir)?;
    let port = args.port.unwrap_or(settings.port);
    let mut tokens = TokenFile::load(&dir)?;
    let name = args.name.unwrap_or_else(|| tokens.next_default_name());
    if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(Failure::new(
            Exit::Usage,
            format!("follower name {name:?} is not valid"),
            Some("use letters, digits, '-', '_' or '.', at most 64".into()),
        ));
    }
    let token = tokens.mint(&name)?;
    tokens.save(&dir)?;
    let fingerprint = identity.fingerprint();
    let join_link = JoinLink::to_link(&args.host, port, &fingerprint, &token);
    let host = if args.host.contains(':') {
        format!("[{}]", args.host)
    } else {
        args.host.clone()
    };
    let command =
        format!("codexport follower join --master http://{host}:{port} --fingerprint {fingerprint} --token {token}");
    match args.output {
        OutputFormat::Text => {
            println!("join link for {name} (shown once; it grants read access to this master's ~/.codex):");
            println!("  {join_link}");
            println!("or run on the follower:");
            println!("  {command}");
        }
        format => print!(
            "{}",
            structured(
                &serde_json::json!({"name": name, "joinLink": join_link, "command": command}),
                format
            )
        ),
    }
    Ok(Exit::Ok)
}

fn status(args: OutputArgs, roots: &Roots) -> CmdResult {
    let dir = roots.master_dir();
    let identity = Identity::load(&dir)?;
    let settings = MasterSettings::load(&dir)?;
    let doc = fs_err::read(dir.join(crate::master::publish::STATE_FILE))
        .ok()
        .and_then(|b| serde_yaml::from_slice::<crate::model::DesiredState>(&b).ok())
        .ok_or_else(|| {
            Failure::new(
                Exit::Usage,
                "nothing published yet",
                Some("run `codexport master rebuild`".into()),
            )
        })?;
    let followers = TokenFile::load(&dir)?
        .followers
        .into_iter()
        .filter(|f| !f.revoked)
        .map(|f| f.name)
        .collect::<Vec<_>>();
    let servers: Vec<serde_json::Value> = doc
        .spec
        .mcp_servers
        .iter()
        .map(|(name, s)| serde_json::json!({"name": name, "transport": s.transport, "command": s.definition.get("command"), "url": s.definition.get("url"), "artifact": s.artifact}))
        .collect();
    let value = serde_json::json!({
        "role": "master",
        "fingerprint": identity.fingerprint(),
        "bind": settings.bind,
        "port": settings.port,
        "revision": doc.metadata.revision,
        "generatedAt": doc.metadata.generated_at,
        "files": doc.spec.files.len() + usize::from(doc.spec.config.is_some()) + usize::from(doc.spec.hooks.is_some()),
        "mcpServers": servers,
        "followers": followers,
    });
    match args.output {
        OutputFormat::Text => {
            println!("role:        master");
            println!("fingerprint: {}", identity.fingerprint());
            println!("listen:      {}:{}", settings.bind, settings.port);
            println!(
                "revision:    {} (published {})",
                short(&doc.metadata.revision),
                doc.metadata.generated_at
            );
            println!("files:       {}", value["files"]);
            println!(
                "followers:   {}",
                if followers.is_empty() {
                    "none yet".to_string()
                } else {
                    followers.join(", ")
                }
            );
            for (name, s) in &doc.spec.mcp_servers {
                let target = s
                    .definition
                    .get("url")
                    .or_else(|| s.definition.get("command"))
                    .and_then(|v| v.as_str())
                    .unwrap_or("?");
                let artifact = s
                    .artifact
                    .as_ref()
                    .map(|a| format!(" -> {}", a.describe()))
                    .unwrap_or_default();
                println!("mcp server:  {name} ({}: {target}){artifact}", s.transport);
            }
        }
        format => print!("{}", structured(&value, format)),
    }
    Ok(Exit::Ok)
}
