//! `codexport demo`: the main job end to end on loopback with the bundled example, in temp
//! directories only (never the real ~/.codex or ~/.codexport).

use std::path::Path;

use clap::Args;

use crate::exit::Exit;
use crate::follower::enrollment::JoinLink;
use crate::master::init::{InitOptions, init};
use crate::master::tokens::TokenFile;
use crate::paths::Roots;
use crate::reconcile::host::RealHost;

use super::output::{human_size, plan_text, short};
use super::{CmdResult, Failure};

#[derive(Debug, Args)]
pub(super) struct DemoArgs {
    /// Keep the temporary master and follower directories and print where they are.
    #[arg(long)]
    keep: bool,
}

fn roots_under(dir: &Path) -> std::io::Result<Roots> {
    let home = dir.join("home");
    let roots = Roots {
        codex_home: home.join(".codex"),
        codexport_home: home.join(".codexport"),
        home,
    };
    fs_err::create_dir_all(&roots.codex_home)?;
    Ok(roots)
}

pub(super) fn run(args: DemoArgs) -> CmdResult {
    let tmp = tempfile::Builder::new().prefix("codexport-demo-").tempdir()?;
    let master = roots_under(&tmp.path().join("master"))?;
    let follower = roots_under(&tmp.path().join("follower"))?;

    println!(
        "== 1. master: the bundled example ~/.codex at {}",
        master.codex_home.display()
    );
    crate::example::write_master_basic(&master.codex_home, &master.home)?;
    let report = init(
        &master,
        &InitOptions {
            port: Some(0),
            bind: Some("127.0.0.1".into()),
            rotate_key: false,
        },
    )?;
    println!("master init: identity {}", report.fingerprint);
    println!(
        "published revision {} ({} files, {}); left out runtime state: {}",
        short(&report.publish.revision),
        report.publish.files,
        human_size(report.publish.bytes),
        report.publish.scan.runtime_skipped.join(", ")
    );
    let mut tokens = TokenFile::load(&master.master_dir())?;
    let token = tokens.mint("demo-follower")?;
    tokens.save(&master.master_dir())?;

    let server = DemoServer::start(&master)?;
    println!("\n== 2. master serve: http://{}", server.addr);
    let link = JoinLink::new(&format!("http://{}", server.addr), &report.fingerprint, &token)?;
    println!(
        "join link: {}",
        JoinLink::to_link("127.0.0.1", server.addr.port(), &report.fingerprint, "<token>")
    );

    println!(
        "\n== 3. follower join (follower ~/.codex at {})",
        follower.codex_home.display()
    );
    let (_, outcome) = crate::follower::sync::join(&follower, &link, "demo-follower", &crate::progress::NoProgress)?;
    println!(
        "pinned {}; staged {} ({} blobs, {})",
        report.fingerprint,
        short(&outcome.revision),
        outcome.blobs_fetched,
        human_size(outcome.bytes_fetched)
    );

    // The demo stays offline and quick: MCP packages are listed in the plan, not installed.
    fs_err::write(follower.codexport_home.join("local.toml"), "mcpInstall = \"manual\"\n")?;
    println!("(follower local.toml: mcpInstall = \"manual\", so the demo installs no npm/uv packages)");

    println!("\n== 4. codexport plan");
    let prepared = crate::reconcile::prepare(&follower, &RealHost)?;
    print!("{}", plan_text(&prepared.plan));

    println!("\n== 5. codexport apply");
    let applied = crate::reconcile::apply_staged(&follower, &RealHost, &Default::default())?.report;
    println!(
        "applied revision {}: {} changes (generation {})",
        short(&applied.revision),
        applied.changed,
        applied.generation.unwrap_or(0)
    );
    let again = crate::reconcile::prepare(&follower, &RealHost)?;
    println!(
        "plan after apply: {}",
        if again.plan.has_changes() {
            "CHANGES LEFT (unexpected)"
        } else {
            "no changes"
        }
    );

    println!("\n== 6. codexport status (follower)");
    let status = super::status::run(super::status::StatusArgs::text(), &follower);

    println!("\n== 7. the follower's ~/.codex");
    list_tree(&follower.codex_home, &follower.codex_home)?;
    server.stop();
    status?;
    if again.plan.has_changes() {
        return Err(Failure::new(Exit::Error, "the second plan was not empty", None));
    }
    if args.keep {
        let kept = tmp.keep();
        println!(
            "\nkept: master home {}, follower home {}",
            kept.join("master/home").display(),
            kept.join("follower/home").display()
        );
    }
    Ok(Exit::Ok)
}

fn list_tree(root: &Path, dir: &Path) -> std::io::Result<()> {
    let mut entries: Vec<_> = fs_err::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let meta = fs_err::symlink_metadata(&path)?;
        if meta.is_dir() {
            list_tree(root, &path)?;
        } else {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            println!(
                "  {} {:>9}  {}",
                crate::reconcile::plan::fmt_mode(crate::fs::mode_of(&meta)),
                human_size(meta.len()),
                rel.display()
            );
        }
    }
    Ok(())
}

/// The master server on a background thread with its own runtime.
struct DemoServer {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DemoServer {
    fn start(master: &Roots) -> Result<Self, Failure> {
        let dir = master.master_dir();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let listener = match crate::master::serve::bind("127.0.0.1:0").await {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = addr_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = addr_tx.send(listener.local_addr().map_err(|e| e.to_string()));
                let _ = crate::master::serve::serve(dir, listener, async move {
                    let _ = stop_rx.await;
                })
                .await;
            });
        });
        let addr = addr_rx
            .recv()
            .map_err(|e| Failure::new(Exit::Error, format!("demo server did not start: {e}"), None))?
            .map_err(|e| Failure::new(Exit::Error, format!("demo server: {e}"), None))?;
        Ok(DemoServer {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
