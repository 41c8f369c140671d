//! `codexport follower leave`: back to what the machine had before it joined.

use crate::exit::Exit;
use crate::follower::enrollment::Enrollment;
use crate::follower::hook::HookSettings;
use crate::paths::Roots;
use crate::reconcile::generation_zero::ORIGINAL;
use crate::reconcile::host::RealHost;

use super::{CmdResult, Failure};

/// Files of a follower's enrollment that leaving removes (under CODEXPORT_HOME).
const REMOVED: [&str; 3] = ["enrollment.toml", "inventory.json", "store/state.yaml"];

pub(super) fn leave(roots: &Roots) -> CmdResult {
    let enrollment = Enrollment::load(&roots.codexport_home)?;
    let home = &roots.codexport_home;
    // The hook settings go first, so the restore renders no codexport hook into hooks.json;
    // put back when the restore fails, so a failed leave changes nothing.
    let hook_path = HookSettings::path(home);
    let hook = fs_err::read(&hook_path).ok();
    if hook.is_some() {
        fs_err::remove_file(&hook_path)?;
    }
    let generations = crate::reconcile::generations::list(&RealHost, home)?;
    let restored = if generations.iter().any(|g| g.number == ORIGINAL) {
        match crate::reconcile::rollback(roots, Some(ORIGINAL), &RealHost) {
            Ok(applied) => Some(applied.report.changed),
            Err(e) => {
                if let Some(bytes) = &hook {
                    let _ = crate::fs::write_atomic(&hook_path, bytes, crate::fs::SECRET_MODE);
                }
                let failure = Failure::from(e);
                return Err(Failure::new(
                    failure.exit,
                    format!(
                        "could not restore generation 0, so this machine still follows its master: {}",
                        failure.message
                    ),
                    failure.hint,
                ));
            }
        }
    } else {
        None
    };
    for rel in REMOVED {
        match fs_err::remove_file(home.join(rel)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    match restored {
        Some(changed) => println!(
            "Restored generation 0, what {} had before it joined ({changed} changes).",
            roots.codex_home.display()
        ),
        None if generations.is_empty() => println!("Nothing was ever applied here: ~/.codex is as it was."),
        None => println!(
            "No generation 0 was recorded (joined with an older codexport): ~/.codex is left as it is; the first apply's backups, if not pruned, are in {}.",
            home.join("backups").display()
        ),
    }
    if hook.is_some() {
        println!("Removed the SessionStart hook.");
    }
    println!("Left {} (removed {}).", enrollment.master, REMOVED.join(", "));
    println!(
        "kept: {}/backups, generations, store and logs (remove {} to delete them); join again with `codexport follower join <link>`.",
        home.display(),
        home.display()
    );
    Ok(Exit::Ok)
}
