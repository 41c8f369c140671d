//! Generations and rollback, dry runs, saved plans, step order and concurrent runs.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use codexport::paths::Roots;
use codexport::reconcile::host::{Effect, RecordingHost};
use common::{Machine, Pair};

fn roots(m: &Machine) -> Roots {
    Roots {
        home: m.home.clone(),
        codex_home: m.codex_home.clone(),
        codexport_home: m.codexport_home.clone(),
    }
}

fn generations(m: &Machine) -> Vec<serde_json::Value> {
    serde_json::from_str(&m.ok(&["generations", "--output", "json"]).stdout).unwrap()
}

#[test]
fn rollback_restores_a_generation_byte_for_byte_and_reconcile_rolls_forward() {
    let pair = Pair::applied();
    let gen1 = pair.follower.codex_files();
    let h = &pair.master.codex_home;
    fs_err::write(h.join("AGENTS.md"), "# v2\n").unwrap();
    fs_err::set_permissions(h.join("rules/default.rules"), std::fs::Permissions::from_mode(0o755)).unwrap();
    fs_err::remove_file(h.join("prompts/commit.md")).unwrap();
    pair.master.ok(&["master", "rebuild"]);
    pair.follower.ok(&["reconcile"]);
    let gen2 = pair.follower.codex_files();
    assert_ne!(gen1, gen2);

    let list = generations(&pair.follower);
    assert_eq!(
        list.iter().map(|g| g["number"].as_u64().unwrap()).collect::<Vec<_>>(),
        [0, 1, 2],
        "generation 0 is what the follower had before the first apply"
    );
    assert_eq!(list[0]["kind"], "original");
    assert_eq!(list[2]["kind"], "apply");
    let mut changed: Vec<&str> = list[2]["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    changed.sort();
    assert_eq!(changed, ["AGENTS.md", "prompts/commit.md", "rules/default.rules"]);

    let out = pair.follower.ok(&["rollback"]);
    assert!(out.stdout.contains("generation 3"), "{}", out.stdout);
    assert_eq!(
        pair.follower.codex_files(),
        gen1,
        "generation 1 restored, modes and the removed file included"
    );
    assert_eq!(generations(&pair.follower)[3]["kind"], "rollback");
    let text = pair.follower.ok(&["generations"]).stdout;
    assert!(
        text.lines().any(|l| l.starts_with("*    3")),
        "the current generation is marked: {text}"
    );

    pair.follower.ok(&["rollback", "--to", "2"]);
    assert_eq!(pair.follower.codex_files(), gen2);
    pair.follower.ok(&["rollback", "--to", "1"]);
    pair.follower.ok(&["reconcile"]);
    assert_eq!(
        pair.follower.codex_files(),
        gen2,
        "reconcile converges to the master's revision again"
    );
    pair.follower.run(&["plan", "--detailed-exitcode"]).expect_code(0);
    let err = pair.follower.run(&["rollback", "--to", "99"]).expect_code(4);
    assert!(err.stderr.contains("generation 99 does not exist"), "{}", err.stderr);
}

#[test]
fn old_generations_and_their_backups_are_pruned() {
    let pair = Pair::applied();
    fs_err::write(pair.follower.codexport_home.join("local.toml"), "keepGenerations = 2\n").unwrap();
    for i in 0..3 {
        fs_err::write(pair.master.codex_home.join("AGENTS.md"), format!("# v{i}\n")).unwrap();
        pair.master.ok(&["master", "rebuild"]);
        pair.follower.ok(&["reconcile"]);
    }
    let numbers: Vec<u64> = generations(&pair.follower)
        .iter()
        .map(|g| g["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [0, 3, 4], "generation 0 (before codexport) is never pruned");
    let backups: Vec<String> = fs_err::read_dir(pair.follower.codexport_home.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(backups.iter().all(|b| b == "3" || b == "4"), "{backups:?}");
}

#[test]
fn dry_run_changes_nothing_and_runs_the_apply_code() {
    let pair = Pair::joined();
    let out = pair.follower.ok(&["apply", "--dry-run"]);
    assert!(out.stdout.contains("Plan: 27 to create"), "{}", out.stdout);
    assert!(
        out.stdout.contains("file-system operations recorded, nothing changed"),
        "{}",
        out.stdout
    );
    assert!(pair.follower.codex_files().is_empty());
    let state: Vec<String> = pair.follower.codexport_paths();
    assert!(
        state
            .iter()
            .all(|p| !p.starts_with("journal/") && !p.starts_with("generations") && p != "inventory.json"),
        "{state:?}"
    );
}

#[test]
fn a_saved_plan_applies_only_while_nothing_changed() {
    let pair = Pair::applied();
    fs_err::write(pair.master.codex_home.join("AGENTS.md"), "# saved plan\n").unwrap();
    pair.master.ok(&["master", "rebuild"]);
    let plan_file = pair.follower.home.join("plan.json");
    fs_err::write(&plan_file, pair.follower.ok(&["plan", "--output", "json"]).stdout).unwrap();
    fs_err::write(
        pair.follower.codex_home.join("rules/default.rules"),
        "# edited after the plan\n",
    )
    .unwrap();
    let out = pair
        .follower
        .run(&["apply", "--plan", plan_file.to_str().unwrap()])
        .expect_code(3);
    assert!(
        out.stderr.contains("the saved plan is stale") && out.stderr.contains("rules/default.rules"),
        "{}",
        out.stderr
    );
    assert_ne!(
        fs_err::read_to_string(pair.follower.codex_home.join("AGENTS.md")).unwrap(),
        "# saved plan\n"
    );

    fs_err::write(&plan_file, pair.follower.ok(&["plan", "--output", "json"]).stdout).unwrap();
    pair.follower.ok(&["apply", "--plan", plan_file.to_str().unwrap()]);
    assert_eq!(
        fs_err::read_to_string(pair.follower.codex_home.join("AGENTS.md")).unwrap(),
        "# saved plan\n"
    );
}

#[test]
fn recorded_effects_put_directories_before_files_and_the_journal_before_both() {
    let pair = Pair::joined();
    let host = RecordingHost::new();
    codexport::reconcile::apply_staged(&roots(&pair.follower), &host, &Default::default()).unwrap();
    let effects = host.effects();
    let codex = &pair.follower.codex_home;
    let first_write = effects
        .iter()
        .position(|e| matches!(e, Effect::Copy(_, to, _) | Effect::Write(to, ..) if to.starts_with(codex)))
        .unwrap();
    let first_journal = effects
        .iter()
        .position(|e| matches!(e, Effect::Append(p) if p.to_string_lossy().contains("/journal/")))
        .unwrap();
    assert!(first_journal < first_write, "write-ahead journal");
    let created: Vec<(usize, PathBuf)> = effects
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            if let Effect::CreateDir(p) = e {
                Some((i, p.clone()))
            } else {
                None
            }
        })
        .collect();
    let mut files = 0;
    for (i, e) in effects.iter().enumerate() {
        let target = match e {
            Effect::Copy(_, to, _) | Effect::Write(to, ..) if to.starts_with(codex) => to,
            _ => continue,
        };
        files += 1;
        let parent = target.parent().unwrap();
        if parent != codex.as_path() {
            let made = created
                .iter()
                .find(|(_, p)| p == parent)
                .unwrap_or_else(|| panic!("no CreateDir for {}", parent.display()));
            assert!(made.0 < i, "{} written before its directory", target.display());
        }
    }
    assert_eq!(files, 15);
    assert!(
        pair.follower.codex_files().is_empty(),
        "the recording host wrote nothing"
    );
}

#[test]
fn two_concurrent_reconciles_converge_once() {
    let pair = Pair::joined();
    let children: Vec<_> = (0..2)
        .map(|_| pair.follower.command(&["reconcile"]).output_async())
        .collect();
    let outputs: Vec<std::process::Output> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    for o in &outputs {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let applied = outputs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stdout).contains("Applied revision"))
        .count();
    assert_eq!(
        applied, 1,
        "exactly one run applied; the other waited and found nothing to do"
    );
    assert_eq!(generations(&pair.follower).len(), 2, "generation 0 and the one apply");
    pair.follower
        .run(&["plan", "--detailed-exitcode", "--offline"])
        .expect_code(0);
}

trait OutputAsync {
    fn output_async(&mut self) -> std::process::Child;
}

impl OutputAsync for std::process::Command {
    fn output_async(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}
