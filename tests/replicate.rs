//! End to end: the real master server on 127.0.0.1, the real client, temp homes.

mod common;

use common::{Machine, Pair, tree};

/// Files of the example that must travel (everything but config.toml/hooks.json is byte-identical).
const REPLICATED: &[&str] = &[
    "AGENTS.md",
    "agents/reviewer.toml",
    "auth.json",
    "hooks/notify.sh",
    "hooks/pre-bash-audit.sh",
    "hooks/session-start.sh",
    "prompts/commit.md",
    "rules/default.rules",
    "skills/code-review/SKILL.md",
    "skills/code-review/agents/openai.yaml",
    "skills/code-review/references/checklist.md",
    "skills/release-notes/SKILL.md",
    "skills/release-notes/scripts/collect-changes.sh",
];

#[test]
fn join_and_apply_replicates_the_example_byte_for_byte() {
    let master = Machine::with_example();
    std::os::unix::fs::symlink(
        master.codex_home.join("AGENTS.md"),
        master.codex_home.join("skills/linked.md"),
    )
    .unwrap();
    let init = master.ok(&["master", "init"]);
    assert!(
        init.stdout.contains("skipped symlink skills/linked.md"),
        "{}",
        init.stdout
    );
    let server = master.serve();
    let link = master.link(&server, "laptop");
    let follower = Machine::new();
    let join = follower.ok(&["follower", "join", &link, "--apply"]);
    assert!(
        join.stdout.contains("Plan: 27 to create, 0 to update, 0 to delete."),
        "{}",
        join.stdout
    );

    let m = master.codex_files();
    let f = follower.codex_files();
    for path in REPLICATED {
        let (mb, mmode) = &m[*path];
        let (fb, fmode) = f.get(*path).unwrap_or_else(|| panic!("{path} did not arrive"));
        assert_eq!(mb, fb, "{path} differs");
        if *path == "auth.json" {
            assert_eq!(*fmode, 0o600, "secrets are 0600");
        } else {
            assert_eq!(mmode, fmode, "{path} mode");
        }
    }
    assert_eq!(f["hooks/session-start.sh"].1, 0o755);
    assert_eq!(f["skills/release-notes/scripts/collect-changes.sh"].1, 0o755);
    for runtime in [
        "history.jsonl",
        "state_5.sqlite",
        "state_5.sqlite-wal",
        "version.json",
        "models_cache.json",
    ] {
        assert!(!f.contains_key(runtime), "{runtime} must not travel");
    }
    assert!(
        f.keys()
            .all(|p| !p.starts_with("sessions/") && !p.starts_with("log/") && !p.starts_with("shell_snapshots/"))
    );
    assert!(!f.contains_key("skills/linked.md"), "symlinks are not followed");

    let master_home = master.home.display().to_string();
    let follower_home = follower.home.display().to_string();
    for rendered in ["config.toml", "hooks.json"] {
        let text = String::from_utf8(f[rendered].0.clone()).unwrap();
        assert!(!text.contains(&master_home), "{rendered} still names the master home");
        assert!(text.contains(&follower_home), "{rendered} has no follower path");
        let original = String::from_utf8(m[rendered].0.clone())
            .unwrap()
            .replace(&master_home, &follower_home);
        if rendered == "hooks.json" {
            assert_eq!(text, original, "{rendered}");
        } else {
            let mut written: toml::Table = toml::from_str(&text).unwrap();
            let mut expected = common::with_launcher(&original, &follower);
            // The trust hash covers the hook command, which names the home: re-keyed.
            let key = format!("{}:session_start:0:0", follower.codex_home.join("hooks.json").display());
            let hash = |t: &mut toml::Table| t["hooks"]["state"][&key].as_table_mut().unwrap().remove("trusted_hash");
            assert_ne!(
                hash(&mut written),
                hash(&mut expected),
                "re-hashed for the follower's command"
            );
            assert_eq!(
                written, expected,
                "only command servers (launcher) and the trust hash differ"
            );
            assert_eq!(
                codexport::codex::hooks::trusted_count(&follower.codex_home),
                Some((2, 1)),
                "(hooks, trusted): the follower trusts what the master trusted"
            );
        }
    }
    assert_eq!(f["config.toml"].1, 0o600);
    let config: toml::Table = toml::from_str(std::str::from_utf8(&f["config.toml"].0).unwrap()).unwrap();
    let projects = config["projects"].as_table().unwrap();
    assert!(
        projects.contains_key(&format!("{follower_home}/src/app")),
        "{projects:?}"
    );

    let plan = follower.run(&["plan", "--detailed-exitcode"]).expect_code(0);
    assert!(plan.stdout.starts_with("No changes."), "{}", plan.stdout);
}

#[test]
fn a_second_reconcile_is_a_no_op() {
    let pair = Pair::applied();
    let before = pair.follower.codex_files();
    let inventory = fs_err::read(pair.follower.codexport_home.join("inventory.json")).unwrap();
    let out = pair.follower.ok(&["reconcile"]);
    assert!(out.stdout.contains("No changes."), "{}", out.stdout);
    assert_eq!(pair.follower.codex_files(), before);
    assert_eq!(
        fs_err::read(pair.follower.codexport_home.join("inventory.json")).unwrap(),
        inventory
    );
    assert!(
        !pair.follower.codexport_home.join("backups").exists(),
        "nothing was backed up"
    );
    let json = pair.follower.ok(&["plan", "--output", "json"]);
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(plan["summary"]["create"], 0);
    assert_eq!(plan["summary"]["update"], 0);
    assert_eq!(plan["summary"]["delete"], 0);
}

#[test]
fn one_changed_file_on_the_master_changes_exactly_that_file() {
    let pair = Pair::applied();
    let before = pair.follower.codex_files();
    fs_err::write(pair.master.codex_home.join("AGENTS.md"), "# New global instructions\n").unwrap();
    pair.master.ok(&["master", "rebuild"]);
    let plan = pair
        .follower
        .run(&["plan", "--detailed-exitcode", "--output", "json"])
        .expect_code(2);
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let changes: Vec<&serde_json::Value> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "noop")
        .collect();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["path"], "AGENTS.md");
    assert_eq!(changes[0]["action"], "update");

    pair.follower.ok(&["sync", "--apply"]);
    let after = pair.follower.codex_files();
    for (path, content) in &before {
        if path == "AGENTS.md" {
            assert_eq!(after[path].0, b"# New global instructions\n");
        } else {
            assert_eq!(&after[path], content, "{path} changed");
        }
    }
    let backups = tree(&pair.follower.codexport_home.join("backups"));
    assert_eq!(
        backups.keys().collect::<Vec<_>>(),
        ["2/AGENTS.md"],
        "generation 2 backed up exactly one file"
    );
    assert_eq!(
        backups["2/AGENTS.md"].0, before["AGENTS.md"].0,
        "the backup holds the old version"
    );
}

#[test]
fn a_file_removed_on_the_master_is_removed_and_user_files_stay() {
    let pair = Pair::applied();
    fs_err::write(pair.follower.codex_home.join("my-notes.md"), "mine").unwrap();
    fs_err::write(pair.follower.codex_home.join("prompts/local.md"), "mine too").unwrap();
    fs_err::remove_file(pair.master.codex_home.join("prompts/commit.md")).unwrap();
    pair.master.ok(&["master", "rebuild"]);
    let out = pair.follower.ok(&["reconcile"]);
    assert!(
        out.stdout.contains("Plan: 0 to create, 0 to update, 1 to delete."),
        "{}",
        out.stdout
    );
    let f = pair.follower.codex_files();
    assert!(!f.contains_key("prompts/commit.md"));
    assert_eq!(f["my-notes.md"].0, b"mine");
    assert_eq!(f["prompts/local.md"].0, b"mine too");
    assert!(
        pair.follower
            .codexport_home
            .join("backups/2/prompts/commit.md")
            .is_file(),
        "removed files are backed up"
    );
}

#[test]
fn an_existing_user_file_is_backed_up_before_the_first_apply_overwrites_it() {
    let master = Machine::with_example();
    master.ok(&["master", "init"]);
    let server = master.serve();
    let link = master.link(&server, "f");
    let follower = Machine::new();
    fs_err::write(follower.codex_home.join("AGENTS.md"), "my own instructions").unwrap();
    let out = follower.ok(&["follower", "join", &link, "--apply"]);
    assert!(out.stdout.contains("not written by codexport"), "{}", out.stdout);
    assert_eq!(
        fs_err::read_to_string(follower.codexport_home.join("backups/1/AGENTS.md")).unwrap(),
        "my own instructions"
    );
}

#[test]
fn master_serve_stops_cleanly_on_sigterm() {
    let master = Machine::with_example();
    master.ok(&["master", "init"]);
    let server = master.serve();
    let meta: serde_json::Value = serde_json::from_str(
        &common::http()
            .get(format!("{}/v1/meta", server.url))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(meta["protocol"], 1);
    assert_eq!(server.terminate(), 0);
}

#[test]
fn init_keeps_the_key_and_rebuild_keeps_the_revision() {
    let master = Machine::with_example();
    master.ok(&["master", "init"]);
    let key = fs_err::read(master.codexport_home.join("master/identity.key")).unwrap();
    let state = fs_err::read(master.codexport_home.join("master/state.yaml")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = fs_err::metadata(master.codexport_home.join("master/identity.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    master.ok(&["master", "init"]);
    let out = master.ok(&["master", "rebuild"]);
    assert!(out.stdout.starts_with("unchanged revision"), "{}", out.stdout);
    assert_eq!(
        fs_err::read(master.codexport_home.join("master/identity.key")).unwrap(),
        key
    );
    assert_eq!(
        fs_err::read(master.codexport_home.join("master/state.yaml")).unwrap(),
        state,
        "same tree, same document"
    );
}

#[test]
fn an_invalid_config_stops_the_publish_with_file_line_and_reason() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    for (file, reason) in [
        ("configs/jim60105__dotfiles__dot_codex_config.toml.tmpl.toml", "invalid"),
        (
            "configs/air-hand__dotfiles-win__dot_codex_config.toml.tmpl.toml",
            "invalid",
        ),
        ("other/UNATTRIBUTED__windows-serena-duplicate-table.toml", "duplicate"),
    ] {
        let master = Machine::new();
        fs_err::copy(corpus.join(file), master.codex_home.join("config.toml")).unwrap();
        let out = master.run(&["master", "init"]).expect_code(4);
        let config = master.codex_home.join("config.toml").display().to_string();
        let line = out.stderr.lines().next().unwrap_or_default();
        let position = line
            .strip_prefix(&format!("error: cannot publish: {config}:"))
            .unwrap_or_else(|| panic!("{file}: {}", out.stderr));
        let (line_no, rest) = position.split_once(':').unwrap();
        assert!(line_no.parse::<usize>().unwrap() > 0, "{file}: {line}");
        assert!(
            rest.split_once(':')
                .is_some_and(|(col, _)| col.parse::<usize>().is_ok()),
            "{file}: {line}"
        );
        assert!(line.to_lowercase().contains(reason), "{file}: {line}");
        assert!(out.stderr.contains("hint: fix"), "{}", out.stderr);
        assert!(!master.codexport_home.join("master/state.yaml").exists());
    }
}

#[test]
fn a_sigterm_right_after_the_serving_line_still_stops_the_master_cleanly() {
    // The handlers are installed before `serving` is printed: a service manager's SIGTERM
    // at once used to kill the process (exit 143) in about 1 of 4 tries.
    let master = Machine::with_example();
    master.ok(&["master", "init"]);
    for round in 0..10 {
        let server = master.serve_with(&["--no-watch"], &[]);
        assert_eq!(server.terminate(), 0, "round {round}");
    }
}
