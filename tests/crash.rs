//! Crash tests (run with `cargo test --features failpoints --test crash`): a real child
//! process applying a 500-file change dies at many points (aborted at fail points by step
//! count and mid-write, or SIGKILLed while paused); the next `reconcile` recovers from the
//! journal and converges exactly, with every backup intact, no temp file left and nothing
//! outside CODEX_HOME/CODEXPORT_HOME changed.
#![cfg(feature = "failpoints")]

mod common;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Machine, Pair, tree};

/// Files of the bulk skill: revision 1 has 400 of them.
fn bulk(root: &Path, revision: u32) {
    let dir = root.join("skills/bulk");
    if revision == 1 {
        for i in 0..400 {
            let sub = dir.join(format!("part-{}", i % 8));
            fs_err::create_dir_all(&sub).unwrap();
            fs_err::write(
                sub.join(format!("ref-{i:03}.md")),
                format!("# reference {i}\nrevision one\n"),
            )
            .unwrap();
        }
        return;
    }
    // Revision 2: 250 updated, 100 removed, 150 new (in new directories): 500 changes.
    for i in 0..250 {
        let p = dir.join(format!("part-{}", i % 8)).join(format!("ref-{i:03}.md"));
        fs_err::write(
            p,
            format!("# reference {i}\nrevision two, longer text {}\n", "x".repeat(i)),
        )
        .unwrap();
    }
    for i in 300..400 {
        fs_err::remove_file(dir.join(format!("part-{}", i % 8)).join(format!("ref-{i:03}.md"))).unwrap();
    }
    for i in 0..150 {
        let sub = dir.join(format!("new-{}", i % 5));
        fs_err::create_dir_all(&sub).unwrap();
        fs_err::write(sub.join(format!("added-{i:03}.md")), format!("new {i}\n")).unwrap();
    }
}

fn temp_files(root: &Path) -> Vec<String> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".codexport-tmp-") || n.starts_with(".incoming-"))
        .collect()
}

struct Fixture {
    pair: Pair,
    /// The follower's whole home after applying revision 1 (restored before every scenario).
    rev1_home: BTreeMap<String, (Vec<u8>, u32)>,
    /// The follower's ~/.codex after a clean apply of revision 2.
    rev2_codex: BTreeMap<String, (Vec<u8>, u32)>,
    sentinel: std::path::PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let master = Machine::with_example();
        bulk(&master.codex_home, 1);
        master.ok(&["master", "init"]);
        let server = master.serve();
        let link = master.link(&server, "crash");
        let follower = Machine::new();
        follower.ok(&["follower", "join", &link, "--apply"]);
        fs_err::write(follower.home.join(".bashrc"), "# outside the managed roots\n").unwrap();
        let sentinel = follower.home.parent().unwrap().join("sentinel.txt");
        fs_err::write(&sentinel, "sentinel beside HOME\n").unwrap();
        let rev1_home = tree(&follower.home);
        bulk(&master.codex_home, 2);
        master.ok(&["master", "rebuild"]);
        follower.ok(&["reconcile"]);
        let rev2_codex = follower.codex_files();
        let pair = Pair {
            master,
            server,
            follower,
            link,
        };
        let fixture = Fixture {
            pair,
            rev1_home,
            rev2_codex,
            sentinel,
        };
        fixture.restore();
        fixture
    }

    /// Put the follower's home back to the state after revision 1, with revision 2 staged.
    fn restore(&self) {
        let home = &self.pair.follower.home;
        fs_err::remove_dir_all(home).unwrap();
        for (rel, (bytes, mode)) in &self.rev1_home {
            let p = home.join(rel);
            fs_err::create_dir_all(p.parent().unwrap()).unwrap();
            fs_err::write(&p, bytes).unwrap();
            codexport::fs::set_mode(&p, *mode).unwrap();
        }
        self.pair.follower.ok(&["sync"]);
    }

    fn check_converged(&self, what: &str) {
        let f = &self.pair.follower;
        let out = f.ok(&["reconcile"]);
        assert!(
            f.codex_files() == self.rev2_codex,
            "{what}: ~/.codex differs from revision 2 after recovery\n{}",
            out.stdout
        );
        assert!(
            temp_files(&f.home).is_empty(),
            "{what}: temp files left: {:?}",
            temp_files(&f.home)
        );
        assert!(
            fs_err::read_dir(f.codexport_home.join("journal"))
                .map(|d| d.count())
                .unwrap_or(0)
                == 0,
            "{what}: journal left"
        );
        assert_eq!(
            fs_err::read_to_string(f.home.join(".bashrc")).unwrap(),
            "# outside the managed roots\n",
            "{what}"
        );
        assert_eq!(
            fs_err::read_to_string(&self.sentinel).unwrap(),
            "sentinel beside HOME\n",
            "{what}"
        );
        // Every backup of the converging generation holds the revision-1 bytes of its file.
        let gens: Vec<serde_json::Value> =
            serde_json::from_str(&f.ok(&["generations", "--output", "json"]).stdout).unwrap();
        let last = gens.last().unwrap()["number"].as_u64().unwrap();
        let backups = tree(&f.codexport_home.join("backups").join(last.to_string()));
        assert!(backups.len() >= 350, "{what}: {} backups", backups.len());
        for (rel, (bytes, _)) in backups {
            let original = &self.rev1_home[&format!(".codex/{rel}")].0;
            assert!(
                &bytes == original,
                "{what}: backup of {rel} is not the revision-1 version"
            );
        }
        f.run(&["plan", "--offline", "--detailed-exitcode"]).expect_code(0);
    }
}

fn crash_at(fixture: &Fixture, failpoints: &str) {
    crash_running(fixture, &["apply"], failpoints);
}

/// `args` (an apply, or the hook's handed-off background run) aborted at `failpoints`.
fn crash_running(fixture: &Fixture, args: &[&str], failpoints: &str) {
    fixture.restore();
    let out = fixture
        .pair
        .follower
        .command(args)
        .env("FAILPOINTS", failpoints)
        .output()
        .unwrap();
    assert_eq!(
        out.status.signal(),
        Some(6),
        "{failpoints}: the run should have aborted; stdout:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    fixture.check_converged(failpoints);
}

fn kill_while_paused(fixture: &Fixture, after_steps: usize) {
    fixture.restore();
    let f = &fixture.pair.follower;
    let mut child = f
        .command(&["apply"])
        .env("FAILPOINTS", format!("execute::step={after_steps}*off->sleep(60000)"))
        .spawn()
        .unwrap();
    let journal = f.codexport_home.join("journal");
    let start = Instant::now();
    loop {
        let lines = fs_err::read_dir(&journal)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| fs_err::read_to_string(e.unwrap().path()).ok())
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines > after_steps || start.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "SIGKILL");
    fixture.check_converged(&format!("SIGKILL after {after_steps} steps"));
}

#[test]
fn a_run_killed_anywhere_is_recovered_by_the_next() {
    let fixture = Fixture::new();
    let mut points: Vec<String> = [0, 1, 2, 10, 50, 150, 300, 450, 500]
        .iter()
        .map(|n| format!("execute::step={n}*off->return"))
        .collect();
    points.extend(
        [0, 3, 100, 260, 480]
            .iter()
            .map(|n| format!("fs::before-rename={n}*off->return")),
    );
    points.extend(
        [0, 60, 300]
            .iter()
            .map(|n| format!("execute::after-backup={n}*off->return")),
    );
    points.extend(
        [
            "execute::before-inventory=return",
            "execute::before-commit=return",
            "journal::after-commit=return",
        ]
        .map(String::from),
    );
    assert_eq!(points.len(), 20);
    for p in &points {
        crash_at(&fixture, p);
    }
    for steps in [25, 400] {
        kill_while_paused(&fixture, steps);
    }
}

/// The SessionStart hook's background run (`reconcile --handed-off`, issue 19 item 3) dies at
/// fail points like any apply; the next run recovers it from its journal and converges.
#[test]
fn the_hooks_background_run_killed_anywhere_is_recovered_by_the_next() {
    let fixture = Fixture::new();
    let points = [
        "execute::step=0*off->return",
        "execute::step=200*off->return",
        "fs::before-rename=100*off->return",
        "execute::after-backup=60*off->return",
        "execute::before-inventory=return",
        "execute::before-commit=return",
        "journal::after-commit=return",
    ];
    for p in points {
        crash_running(&fixture, &["reconcile", "--handed-off"], p);
    }
}

/// A directory swapped for a symlink between the plan and the write (a race the plan cannot
/// see) stops the apply: nothing is written through the link, and the run is rolled back.
#[test]
fn a_directory_swapped_for_a_symlink_during_the_apply_is_not_written_through() {
    let pair = common::Pair::applied();
    let (master, f) = (&pair.master, &pair.follower);
    let skill = "skills/code-review/SKILL.md";
    fs_err::write(master.codex_home.join(skill), "# changed\n").unwrap();
    master.ok(&["master", "rebuild"]);
    f.ok(&["sync"]);
    let outside = f.home.join("outside");
    fs_err::create_dir_all(&outside).unwrap();
    let child = f
        .command(&["apply"])
        .env("FAILPOINTS", "execute::step=sleep(1500)")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let dir = f.codex_home.join("skills/code-review");
    let aside = f.home.join("aside");
    fs_err::rename(&dir, &aside).unwrap();
    std::os::unix::fs::symlink(&outside, &dir).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "rolled back; stderr:\n{stderr}");
    assert!(stderr.contains("is a symlink now"), "{stderr}");
    assert_eq!(
        fs_err::read_dir(&outside).unwrap().count(),
        0,
        "nothing written through the link"
    );
}
