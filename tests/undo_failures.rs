//! A rollback that cannot put everything back says so: the error names every path not
//! restored and why ("rolled back, except: <path>: <reason>"), the journal is kept, and
//! `status` and `doctor` show it with the fix. Backups of runs that were rolled back are
//! pruned with the generations, not piled up.
//!
//! The failure is real: the injected step failure (as in tests/rollback.rs) also replaces a
//! backup file by a directory on disk, so the undo that restores from it fails on its own.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use codexport::exit::ExitStatus;
use codexport::mcp::artifact::Artifact;
use codexport::mcp::install::{InstallEnv, InstallError};
use codexport::paths::Roots;
use codexport::reconcile::host::{Host, LockError, LockGuard, Observed, RealHost};
use common::{Machine, Pair};

/// The real host, except that writing `fail_on` fails, after doing `sabotage` (once) to the
/// real disk.
struct FailOn {
    fail_on: &'static str,
    sabotage: Option<Box<dyn Fn() + Send + Sync>>,
}

impl FailOn {
    fn plain(fail_on: &'static str) -> Self {
        FailOn {
            fail_on,
            sabotage: None,
        }
    }
    fn check(&self, path: &Path) -> std::io::Result<()> {
        if path.ends_with(self.fail_on) {
            if let Some(sabotage) = &self.sabotage {
                sabotage();
            }
            return Err(std::io::Error::other(format!(
                "injected failure writing {}",
                path.display()
            )));
        }
        Ok(())
    }
}

impl Host for FailOn {
    fn observe(&self, path: &Path) -> std::io::Result<Observed> {
        RealHost.observe(path)
    }
    fn read(&self, path: &Path) -> std::io::Result<Option<Vec<u8>>> {
        RealHost.read(path)
    }
    fn list_dir(&self, path: &Path) -> std::io::Result<Vec<String>> {
        RealHost.list_dir(path)
    }
    fn create_dir(&self, path: &Path) -> std::io::Result<()> {
        RealHost.create_dir(path)
    }
    fn create_private_dir_all(&self, path: &Path) -> std::io::Result<()> {
        RealHost.create_private_dir_all(path)
    }
    fn remove_dir(&self, path: &Path) -> std::io::Result<()> {
        RealHost.remove_dir(path)
    }
    fn remove_dir_all(&self, path: &Path) -> std::io::Result<()> {
        RealHost.remove_dir_all(path)
    }
    fn write_file(&self, path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
        self.check(path)?;
        RealHost.write_file(path, bytes, mode)
    }
    fn copy_file(&self, from: &Path, to: &Path, mode: u32) -> std::io::Result<()> {
        self.check(to)?;
        RealHost.copy_file(from, to, mode)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        RealHost.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        RealHost.remove_file(path)
    }
    fn append(&self, path: &Path, line: &[u8]) -> std::io::Result<()> {
        RealHost.append(path, line)
    }
    fn lock(&self, path: &Path, wait: Duration) -> Result<LockGuard, LockError> {
        RealHost.lock(path, wait)
    }
    fn install_mcp(&self, server: &str, artifact: &Artifact, env: &InstallEnv) -> Result<(), InstallError> {
        RealHost.install_mcp(server, artifact, env)
    }
}

fn roots_of(f: &Machine) -> Roots {
    Roots {
        home: f.home.clone(),
        codex_home: f.codex_home.clone(),
        codexport_home: f.codexport_home.clone(),
    }
}

const FAILING: &str = "skills/code-review/SKILL.md";

#[test]
fn a_failed_undo_is_named_the_journal_kept_and_shown_by_status_and_doctor() {
    let pair = Pair::joined();
    let f = &pair.follower;
    let agents = f.codex_home.join("AGENTS.md");
    fs_err::write(&agents, "the user's own").unwrap();
    let roots = roots_of(f);
    // AGENTS.md is overwritten before the failing step (tests/rollback.rs checks the order);
    // when the step fails, its backup is no longer a file.
    let backup: PathBuf = f.codexport_home.join("backups/1/AGENTS.md");
    let sabotaged = backup.clone();
    let host = FailOn {
        fail_on: FAILING,
        sabotage: Some(Box::new(move || {
            fs_err::remove_file(&sabotaged).unwrap();
            fs_err::create_dir(&sabotaged).unwrap();
        })),
    };

    let err = codexport::reconcile::apply_staged(&roots, &host, &Default::default()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&format!("rolled back, except: {}: ", agents.display()))
            && message.contains("backups/1/AGENTS.md is a directory"),
        "{message}"
    );
    assert!(
        err.hint().is_some_and(|h| h.contains("retry the rollback")),
        "{:?}",
        err.hint()
    );
    let journal = f.codexport_home.join("journal/1.jsonl");
    assert!(journal.is_file(), "the journal is kept");

    let status = f.ok(&["status"]).stdout;
    assert!(
        status.contains("journal:") && status.contains("rolled back, except:") && status.contains("AGENTS.md"),
        "{status}"
    );
    let json: serde_json::Value = serde_json::from_str(&f.ok(&["status", "--output", "json"]).stdout).unwrap();
    let kept = &json["follower"]["keptJournals"][0];
    assert_eq!(kept["generation"], 1, "{json}");
    assert_eq!(kept["failures"][0]["path"], agents.display().to_string(), "{json}");

    let doctor = common::Run::from_output(f.command(&["doctor", "--output", "json"]).output().unwrap());
    let report: serde_json::Value = serde_json::from_str(&doctor.stdout).unwrap();
    let check = report["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["checks"].as_array().unwrap())
        .find(|c| c["name"] == "journal")
        .unwrap_or_else(|| panic!("{report}"))
        .clone();
    assert_eq!(check["status"], "fail", "{check}");
    assert!(check["detail"].as_str().unwrap().contains("AGENTS.md"), "{check}");
    assert!(check["fix"].as_str().unwrap().contains("delete the journal"), "{check}");
    assert_eq!(doctor.code, 1, "a failed check fails doctor");

    // The next run retries the rollback, fails the same way, and stops before applying.
    let again = f.run(&["apply"]);
    assert_ne!(again.code, 0, "{}", again.stdout);
    assert!(
        again.stderr.contains("could not be rolled back, except:") && again.stderr.contains("AGENTS.md"),
        "{}",
        again.stderr
    );
    assert!(journal.is_file());
    assert!(backup.is_dir(), "a kept journal's backups are never pruned");

    // The fix the message gives: put the file back by hand, delete the journal.
    fs_err::remove_dir(&backup).unwrap();
    fs_err::write(&agents, "the user's own").unwrap();
    fs_err::remove_file(&journal).unwrap();
    f.ok(&["apply"]);
    assert!(!f.ok(&["status"]).stdout.contains("journal:"));
}

#[test]
fn a_complete_rollback_still_deletes_its_journal() {
    let pair = Pair::joined();
    let f = &pair.follower;
    fs_err::write(f.codex_home.join("AGENTS.md"), "the user's own").unwrap();
    let err =
        codexport::reconcile::apply_staged(&roots_of(f), &FailOn::plain(FAILING), &Default::default()).unwrap_err();
    assert!(!err.to_string().contains("except"), "{err}");
    assert_eq!(
        fs_err::read_to_string(f.codex_home.join("AGENTS.md")).unwrap(),
        "the user's own"
    );
    assert!(!f.codexport_home.join("journal/1.jsonl").exists());
}

#[test]
fn backups_of_rolled_back_runs_are_pruned_like_generations() {
    let pair = Pair::joined();
    let f = &pair.follower;
    fs_err::write(f.codexport_home.join("local.toml"), "keepGenerations = 3\n").unwrap();
    fs_err::write(f.codex_home.join("AGENTS.md"), "the user's own".repeat(1000)).unwrap();
    let roots = roots_of(f);
    let host = FailOn::plain(FAILING);
    let backups = f.codexport_home.join("backups");
    let runs = |dir: &Path| -> Vec<u64> {
        let mut n: Vec<u64> = fs_err::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
            .unwrap_or_default();
        n.sort();
        n
    };
    for _ in 0..8 {
        codexport::reconcile::apply_staged(&roots, &host, &Default::default()).unwrap_err();
    }
    assert_eq!(
        runs(&backups),
        vec![6, 7, 8],
        "the backups of the 3 newest failed runs stay, as keepGenerations = 3 keeps 3 generations"
    );
    // Successful applies push the failed runs' backups out too.
    f.ok(&["apply"]);
    for n in 0..3 {
        fs_err::write(f.codex_home.join("AGENTS.md"), format!("local edit {n}")).unwrap();
        f.ok(&["apply"]);
    }
    let left = runs(&backups);
    assert!(left.iter().all(|n| *n > 8), "{left:?}");
    assert!(left.len() <= 3, "{left:?}");
}
