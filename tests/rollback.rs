//! A step that fails mid-apply rolls back everything done before it, in reverse order.

mod common;

use std::path::Path;

use codexport::exit::{Exit, ExitStatus};
use codexport::paths::Roots;
use codexport::reconcile::ReconcileError;
use codexport::reconcile::host::{Host, LockError, LockGuard, Observed, RealHost};
use common::Pair;
use std::time::Duration;

use codexport::mcp::artifact::Artifact;
use codexport::mcp::install::{InstallEnv, InstallError};

/// The real host, except that writing one path fails.
struct FailOn(&'static str);

impl FailOn {
    fn check(&self, path: &Path) -> std::io::Result<()> {
        if path.ends_with(self.0) {
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

/// The follower's roots, for calling the reconcile API directly.
fn roots_of(f: &common::Machine) -> Roots {
    Roots {
        home: f.home.clone(),
        codex_home: f.codex_home.clone(),
        codexport_home: f.codexport_home.clone(),
    }
}

#[test]
fn a_failed_step_restores_the_disk_and_keeps_the_inventory() {
    let pair = Pair::joined();
    let f = &pair.follower;
    fs_err::write(f.codex_home.join("AGENTS.md"), "the user's own").unwrap();
    fs_err::create_dir_all(f.codex_home.join("prompts")).unwrap();
    fs_err::write(f.codex_home.join("prompts/mine.md"), "mine").unwrap();
    let before = f.codex_files();
    let roots = roots_of(f);

    let prepared = codexport::reconcile::prepare(&roots, &RealHost).unwrap();
    let order: Vec<&str> = prepared.plan.steps.iter().map(|s| s.id.as_str()).collect();
    let failing = order
        .iter()
        .position(|id| *id == "file:skills/code-review/SKILL.md")
        .unwrap();
    assert!(
        order[..failing].contains(&"file:AGENTS.md"),
        "an update happens before the failure: {order:?}"
    );

    let err = codexport::reconcile::apply_staged(&roots, &FailOn("skills/code-review/SKILL.md"), &Default::default())
        .unwrap_err();
    assert!(
        matches!(&err, ReconcileError::RolledBack { step, .. } if step == "file:skills/code-review/SKILL.md"),
        "{err}"
    );
    assert_eq!(err.exit(), Exit::RolledBack);
    assert_eq!(f.codex_files(), before, "every file as it was, modes included");
    let dirs: Vec<String> = walkdir::WalkDir::new(&f.codex_home)
        .min_depth(1)
        .into_iter()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    assert!(
        dirs.iter().all(|d| !d.contains("/skills")),
        "created directories were removed: {dirs:?}"
    );
    assert!(
        !f.codexport_home.join("inventory.json").exists(),
        "the inventory is written last, only on success"
    );

    let out = f.run(&["apply"]).expect_code(0);
    assert!(out.stdout.contains("Applied revision"), "{}", out.stdout);
}

/// A failure inside a run of file writes that phase 2 spreads over several threads
/// (`reconcile::execute_parallel`) rolls back the whole batch, the other threads' files too.
#[test]
fn a_failure_among_files_written_in_parallel_rolls_back_every_file() {
    let pair = Pair::joined();
    let (master, f) = (&pair.master, &pair.follower);
    let many = master.codex_home.join("skills/many/references");
    fs_err::create_dir_all(&many).unwrap();
    for i in 0..40 {
        fs_err::write(many.join(format!("ref-{i:02}.md")), format!("reference {i}\n")).unwrap();
    }
    master.ok(&["master", "rebuild"]);
    f.ok(&["sync"]);
    fs_err::write(f.codex_home.join("AGENTS.md"), "the user's own").unwrap();
    let before = f.codex_files();
    let roots = roots_of(f);
    let prepared = codexport::reconcile::prepare(&roots, &RealHost).unwrap();
    let ids: Vec<&str> = prepared.plan.steps.iter().map(|s| s.id.as_str()).collect();
    let first = ids
        .iter()
        .position(|id| *id == "file:skills/many/references/ref-00.md")
        .unwrap();
    assert!(
        ids[first..first + 40]
            .iter()
            .all(|id| id.starts_with("file:skills/many/references/")),
        "the 40 references are one run of the plan: {ids:?}"
    );

    let failing = "skills/many/references/ref-27.md";
    let err = codexport::reconcile::apply_staged(&roots, &FailOn(failing), &Default::default()).unwrap_err();
    assert!(
        matches!(&err, ReconcileError::RolledBack { step, .. } if step == &format!("file:{failing}")),
        "{err}"
    );
    assert_eq!(
        f.codex_files(),
        before,
        "no reference left, AGENTS.md as the user had it"
    );
    assert!(
        !f.codex_home.join("skills").exists(),
        "created directories were removed"
    );

    f.run(&["apply"]).expect_code(0);
    assert_eq!(
        fs_err::read_to_string(f.codex_home.join("skills/many/references/ref-39.md")).unwrap(),
        "reference 39\n"
    );
}
