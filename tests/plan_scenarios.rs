//! Plans for the situations an operator meets, as insta snapshots (text and JSON), plus what
//! applying them does. Plans are byte-identical across runs.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::Pair;

macro_rules! in_snapshots_dir {
    ($($body:tt)*) => {
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, { $($body)* })
    };
}

/// Plan JSON with the machine-dependent parts (follower home inside config.toml/hooks.json)
/// replaced by placeholders.
fn plan_json(pair: &Pair) -> serde_json::Value {
    let out = pair.follower.ok(&["plan", "--output", "json"]);
    let again = pair.follower.ok(&["plan", "--output", "json", "--offline"]);
    assert_eq!(out.stdout, again.stdout, "plans are byte-identical across runs");
    common::normalize_plan_json(serde_json::from_str(&out.stdout).unwrap())
}

fn plan_text(pair: &Pair) -> String {
    common::normalize_plan_text(&pair.follower.run(&["plan", "--offline"]).stdout)
}

fn snapshot(name: &str, pair: &Pair) {
    let json = plan_json(pair);
    let text = plan_text(pair);
    in_snapshots_dir! {
        insta::assert_json_snapshot!(format!("plan-{name}"), json);
        insta::assert_snapshot!(format!("plan-{name}-text"), text);
    }
}

fn master_change(pair: &Pair, change: impl FnOnce(&std::path::Path)) {
    change(&pair.master.codex_home);
    pair.master.ok(&["master", "rebuild"]);
}

#[test]
fn no_op() {
    let pair = Pair::applied();
    snapshot("no-op", &pair);
    pair.follower.run(&["plan", "--detailed-exitcode"]).expect_code(0);
}

#[test]
fn one_file_changed_on_the_master() {
    let pair = Pair::applied();
    master_change(&pair, |h| {
        let p = h.join("AGENTS.md");
        let text = fs_err::read_to_string(&p)
            .unwrap()
            .replace("## How to work", "## How we work");
        fs_err::write(p, text).unwrap();
    });
    snapshot("one-file-changed", &pair);
}

#[test]
fn one_file_removed_on_the_master() {
    let pair = Pair::applied();
    master_change(&pair, |h| fs_err::remove_file(h.join("prompts/commit.md")).unwrap());
    snapshot("one-file-removed", &pair);
}

#[test]
fn a_new_skill_directory() {
    let pair = Pair::applied();
    master_change(&pair, |h| {
        fs_err::create_dir_all(h.join("skills/triage/scripts")).unwrap();
        fs_err::write(
            h.join("skills/triage/SKILL.md"),
            "---\nname: triage\ndescription: Sort incoming issues.\n---\n",
        )
        .unwrap();
        fs_err::write(
            h.join("skills/triage/scripts/label.sh"),
            "#!/usr/bin/env bash\nexit 0\n",
        )
        .unwrap();
        fs_err::set_permissions(
            h.join("skills/triage/scripts/label.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
    });
    snapshot("new-skill-directory", &pair);
    pair.follower.ok(&["reconcile"]);
    let mode = fs_err::metadata(pair.follower.codex_home.join("skills/triage/scripts/label.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
}

#[test]
fn a_mode_only_change() {
    let pair = Pair::applied();
    master_change(&pair, |h| {
        fs_err::set_permissions(h.join("rules/default.rules"), std::fs::Permissions::from_mode(0o755)).unwrap()
    });
    snapshot("mode-only-change", &pair);
}

fn local_edit(pair: &Pair, policy: &str) {
    fs_err::write(
        pair.follower.codexport_home.join("local.toml"),
        format!("onDrift = \"{policy}\"\n"),
    )
    .unwrap();
    fs_err::write(pair.follower.codex_home.join("AGENTS.md"), "# my local edit\n").unwrap();
}

#[test]
fn local_drift_overwrite() {
    let pair = Pair::applied();
    local_edit(&pair, "overwrite");
    snapshot("drift-overwrite", &pair);
    pair.follower.ok(&["apply"]);
    let master = fs_err::read(pair.master.codex_home.join("AGENTS.md")).unwrap();
    assert_eq!(
        fs_err::read(pair.follower.codex_home.join("AGENTS.md")).unwrap(),
        master
    );
    assert_eq!(
        fs_err::read_to_string(pair.follower.codexport_home.join("backups/2/AGENTS.md")).unwrap(),
        "# my local edit\n"
    );
    for dir in ["backups", "backups/2"] {
        let mode = fs_err::metadata(pair.follower.codexport_home.join(dir))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o700,
            "{dir} is private (backups hold local edits and secrets)"
        );
    }
}

#[test]
fn local_drift_keep() {
    let pair = Pair::applied();
    local_edit(&pair, "keep");
    snapshot("drift-keep", &pair);
    let out = pair.follower.ok(&["apply"]);
    assert!(
        out.stdout.contains("Kept local versions (onDrift = keep): AGENTS.md"),
        "{}",
        out.stdout
    );
    assert_eq!(
        fs_err::read_to_string(pair.follower.codex_home.join("AGENTS.md")).unwrap(),
        "# my local edit\n"
    );
    let again = pair.follower.ok(&["plan", "--output", "json"]);
    assert!(
        again.stdout.contains("\"drift\": true"),
        "the drift is still reported: {}",
        again.stdout
    );
}

#[test]
fn local_drift_fail() {
    let pair = Pair::applied();
    local_edit(&pair, "fail");
    master_change(&pair, |h| {
        fs_err::write(h.join("prompts/commit.md"), "changed on the master\n").unwrap()
    });
    snapshot("drift-fail", &pair);
    let before = pair.follower.codex_files();
    let out = pair.follower.run(&["apply"]).expect_code(3);
    assert!(
        out.stderr.contains("drift under onDrift = fail: AGENTS.md"),
        "{}",
        out.stderr
    );
    assert_eq!(pair.follower.codex_files(), before, "nothing written");
}

#[test]
fn a_mass_delete_is_refused() {
    let pair = Pair::applied();
    master_change(&pair, |h| {
        for dir in ["skills", "hooks", "prompts", "rules", "agents"] {
            fs_err::remove_dir_all(h.join(dir)).unwrap();
        }
    });
    snapshot("mass-delete-refused", &pair);
    let before = pair.follower.codex_files();
    let out = pair.follower.run(&["reconcile"]).expect_code(3);
    assert!(out.stderr.contains("refused: this revision deletes"), "{}", out.stderr);
    assert!(out.stderr.contains("--allow-mass-delete"), "{}", out.stderr);
    assert_eq!(pair.follower.codex_files(), before);
    pair.follower.ok(&["reconcile", "--allow-mass-delete"]);
    assert!(!pair.follower.codex_home.join("skills/code-review/SKILL.md").exists());
}

#[test]
fn a_symlink_where_a_file_belongs_is_drift_moved_aside_never_followed() {
    let pair = Pair::applied();
    let outside = pair.follower.home.join("outside.md");
    fs_err::write(&outside, "not codexport's").unwrap();
    let target = pair.follower.codex_home.join("prompts/commit.md");
    fs_err::remove_file(&target).unwrap();
    std::os::unix::fs::symlink(&outside, &target).unwrap();
    let plan = pair.follower.ok(&["plan", "--offline"]).stdout;
    assert!(plan.contains("drift: a symlink is in the way"), "{plan}");
    pair.follower.ok(&["apply"]);
    assert_eq!(
        fs_err::read_to_string(&outside).unwrap(),
        "not codexport's",
        "the link target is untouched"
    );
    assert!(
        fs_err::symlink_metadata(&target).unwrap().is_file(),
        "a regular file replaced the link"
    );
    let moved = pair.follower.codexport_home.join("backups/2/prompts/commit.md");
    assert!(
        fs_err::symlink_metadata(&moved).unwrap().file_type().is_symlink(),
        "the link was moved aside as it was"
    );

    fs_err::write(pair.follower.codexport_home.join("local.toml"), "onDrift = \"fail\"\n").unwrap();
    fs_err::remove_file(&target).unwrap();
    fs_err::create_dir(&target).unwrap();
    let out = pair.follower.run(&["apply"]).expect_code(3);
    assert!(out.stderr.contains("prompts/commit.md"), "{}", out.stderr);
    assert!(target.is_dir(), "nothing touched under onDrift = fail");
}

#[test]
fn a_plan_says_when_the_package_manager_an_install_needs_is_missing() {
    let pair = Pair::joined();
    let out = pair
        .follower
        .command(&["plan", "--offline"])
        .env("CODEXPORT_MCP_INSTALL", "auto")
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("+ mcp:filesystem"), "{text}");
    assert!(
        text.contains("npm is missing here, so this install will fail"),
        "{text}"
    );
}
