//! A compromised master (signing with the pinned key) cannot make a follower touch what
//! codexport never writes: Codex's runtime state (`sessions/`, `history.jsonl`, `log/`, SQLite
//! files, ...) and codexport's own state when `CODEXPORT_HOME` lies inside `CODEX_HOME`. The
//! follower refuses such a document itself (exit 5, nothing written), in join, sync, plan,
//! apply and the SessionStart hook. Moving aside a tree codexport never wrote trips the
//! mass-delete valve (exit 3).

mod common;

use std::collections::BTreeMap;

use codexport::follower::client::TIMEOUT_ENV;
use common::hostile::{Hostile, Sentinel, document, entry, listing, yaml};
use common::{Machine, Run};

/// Files of a document: (path, bytes).
type Files<'a> = &'a [(&'a str, &'a [u8])];

fn signed_files(h: &Hostile, files: Files<'_>) -> Vec<u8> {
    signed_for(h, files, None)
}

/// Serve `files` signed with the pinned key; the blob stream carries only what `follower`
/// does not have yet (a follower asks for the missing blobs only).
fn signed_for(h: &Hostile, files: Files<'_>, follower: Option<&Machine>) -> Vec<u8> {
    let doc = document(&h.pinned, files.iter().map(|(p, b)| entry(p, b)).collect());
    let store = follower.map(|f| codexport::blobstore::BlobStore::new(f.codexport_home.join("store/blobs")));
    let mut blobs: Vec<&[u8]> = files
        .iter()
        .map(|(_, b)| *b)
        .filter(|b| {
            !store
                .as_ref()
                .is_some_and(|s| s.contains(&codexport::fs::sha256_hex(b)))
        })
        .collect();
    blobs.dedup();
    let bytes = yaml(&doc);
    h.serve_signed(&bytes, &h.pinned, &blobs);
    bytes
}

/// A follower with Codex's runtime state in its CODEX_HOME (a session, the history, a log, a
/// SQLite database).
fn with_runtime_state(m: &Machine) {
    for (rel, body) in [
        ("sessions/2026/01/01/rollout-1.jsonl", "{\"the user's\":\"session\"}\n"),
        ("history.jsonl", "{\"text\":\"the user's history\"}\n"),
        ("log/codex-tui.log", "a log line\n"),
        ("state_5.sqlite", "SQLite format 3\0"),
    ] {
        let p = m.codex_home.join(rel);
        fs_err::create_dir_all(p.parent().unwrap()).unwrap();
        fs_err::write(p, body).unwrap();
    }
}

fn run_with_timeout(m: &Machine, args: &[&str]) -> Run {
    Run::from_output(m.command(args).env(TIMEOUT_ENV, "3000").output().unwrap())
}

/// Every file under CODEX_HOME but CODEXPORT_HOME (which may lie inside it).
fn codex_tree(m: &Machine) -> BTreeMap<String, (Vec<u8>, u32)> {
    let mut tree = common::tree(&m.codex_home);
    if let Ok(own) = m.codexport_home.strip_prefix(&m.codex_home) {
        let own = own.display().to_string();
        tree.retain(|k, _| *k != own && !k.starts_with(&format!("{own}/")));
    }
    tree
}

#[test]
fn a_document_naming_codex_runtime_state_is_refused_by_join() {
    let h = Hostile::start();
    let cases: Files<'_> = &[
        ("sessions", b"replaces the whole sessions tree"),
        ("history.jsonl", b"{\"text\":\"forged\"}\n"),
        ("sessions/2026/01/01/rollout-1.jsonl", b"forged"),
        ("log/codex-tui.log", b"forged"),
        ("state_5.sqlite", b"forged"),
        ("skills/x/cache.sqlite-wal", b"forged"),
        ("archived_sessions/a.jsonl", b"forged"),
    ];
    for (path, body) in cases {
        signed_files(&h, &[("AGENTS.md", b"hostile"), (path, body)]);
        let follower = Machine::new();
        with_runtime_state(&follower);
        let sentinel = Sentinel::around(&follower);
        let before = sentinel.snapshot();
        let codex_before = codex_tree(&follower);
        let out = run_with_timeout(&follower, &["follower", "join", &h.link(), "--apply"]).expect_code(5);
        assert!(
            out.stderr.contains(path) && out.stderr.contains("runtime state"),
            "{path}: the refusal names the path and why:\n{}",
            out.stderr
        );
        assert_eq!(codex_tree(&follower), codex_before, "{path}: CODEX_HOME untouched");
        assert_eq!(sentinel.snapshot(), before, "{path}: nothing written");
        let left = common::without_logs(listing(&follower.codexport_home));
        assert!(left.is_empty(), "{path}: CODEXPORT_HOME keeps {left:?}");
    }
}

#[test]
fn sync_plan_apply_and_the_hook_refuse_runtime_state_after_a_good_join() {
    let h = Hostile::start();
    signed_files(&h, &[("AGENTS.md", b"good")]);
    let follower = Machine::new();
    with_runtime_state(&follower);
    run_with_timeout(&follower, &["follower", "join", &h.link(), "--apply"]).expect_code(0);
    run_with_timeout(&follower, &["hook", "install"]).expect_code(0);
    let inventory = fs_err::read(follower.codexport_home.join("inventory.json")).unwrap();
    let codex_before = codex_tree(&follower);

    // The compromised master now publishes a file over the sessions tree.
    let hostile = signed_for(&h, &[("AGENTS.md", b"good"), ("sessions", b"gone")], Some(&follower));
    for args in [&["sync"][..], &["reconcile"][..]] {
        let out = run_with_timeout(&follower, args).expect_code(5);
        assert!(out.stderr.contains("sessions"), "{args:?}: {}", out.stderr);
        assert_eq!(codex_tree(&follower), codex_before, "{args:?}");
    }
    // The hook records a trust failure and writes nothing.
    let out = follower
        .command(&["reconcile", "--hook", "--timeout-ms", "3000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "the hook always exits 0");
    let status: serde_json::Value =
        serde_json::from_str(&follower.ok(&["hook", "status", "--output", "json"]).stdout).unwrap();
    assert_eq!(status["lastRun"]["outcome"], "trust-failure", "{status}");
    assert!(
        status["lastRun"]["message"].as_str().unwrap().contains("sessions"),
        "{status}"
    );
    assert_eq!(codex_tree(&follower), codex_before);

    // A hostile document already in the store (staged by an older codexport, or edited on
    // disk with the key) is refused by plan and apply too.
    let store = follower.codexport_home.join("store");
    fs_err::write(store.join("state.yaml"), &hostile).unwrap();
    fs_err::write(store.join("state.yaml.sig"), format!("{}\n", h.pinned.sign(&hostile))).unwrap();
    for args in [&["plan"][..], &["apply"][..]] {
        let out = follower.run(args).expect_code(5);
        assert!(out.stderr.contains("runtime state"), "{args:?}: {}", out.stderr);
    }
    assert_eq!(codex_tree(&follower), codex_before, "nothing under CODEX_HOME changed");
    assert_eq!(
        fs_err::read(follower.codexport_home.join("inventory.json")).unwrap(),
        inventory,
        "the inventory is untouched"
    );
    assert!(
        !follower.codexport_home.join("backups").join("2").exists(),
        "no backup of the sessions tree: {:?}",
        listing(&follower.codexport_home.join("backups"))
    );
}

#[test]
fn codexport_home_inside_codex_home_is_never_a_target() {
    let h = Hostile::start();
    let mut follower = Machine::new();
    follower.codexport_home = follower.codex_home.join(".codexport");
    signed_files(&h, &[("AGENTS.md", b"good")]);
    run_with_timeout(&follower, &["follower", "join", &h.link(), "--apply"]).expect_code(0);
    let enrollment = fs_err::read(follower.codexport_home.join("enrollment.toml")).unwrap();
    let codex_before = codex_tree(&follower);

    for path in [".codexport/enrollment.toml", ".codexport/store/blobs/x", ".codexport"] {
        signed_for(
            &h,
            &[("AGENTS.md", b"good"), (path, b"token = 'mallory'")],
            Some(&follower),
        );
        let out = run_with_timeout(&follower, &["reconcile"]).expect_code(5);
        assert!(
            out.stderr.contains(path) && out.stderr.contains("CODEXPORT_HOME"),
            "{path}: {}",
            out.stderr
        );
        assert_eq!(
            fs_err::read(follower.codexport_home.join("enrollment.toml")).unwrap(),
            enrollment,
            "{path}"
        );
        assert_eq!(codex_tree(&follower), codex_before, "{path}");
    }
}

#[test]
fn moving_aside_a_tree_codexport_never_wrote_trips_the_mass_delete_valve() {
    let h = Hostile::start();
    signed_files(&h, &[("AGENTS.md", b"good"), ("rules/default.rules", b"rule")]);
    let follower = Machine::new();
    run_with_timeout(&follower, &["follower", "join", &h.link(), "--apply"]).expect_code(0);
    // The user's own skills, which codexport never wrote.
    for n in 0..5 {
        let p = follower.codex_home.join(format!("skills/mine-{n}/SKILL.md"));
        fs_err::create_dir_all(p.parent().unwrap()).unwrap();
        fs_err::write(p, format!("skill {n}")).unwrap();
    }
    let codex_before = codex_tree(&follower);

    signed_for(
        &h,
        &[
            ("AGENTS.md", b"good"),
            ("rules/default.rules", b"rule"),
            ("skills", b"a file"),
        ],
        Some(&follower),
    );
    let out = run_with_timeout(&follower, &["reconcile"]).expect_code(3);
    assert!(
        out.stderr.contains("refused") && out.stderr.contains("codexport never wrote"),
        "{}",
        out.stderr
    );
    assert_eq!(
        codex_tree(&follower),
        codex_before,
        "the user's skills stay where they are"
    );

    // The operator's explicit override moves them aside, into a backup.
    run_with_timeout(&follower, &["reconcile", "--allow-mass-delete"]).expect_code(0);
    let backups = listing(&follower.codexport_home.join("backups"));
    assert!(
        backups.iter().any(|p| p.ends_with("skills/mine-0/SKILL.md")),
        "{backups:?}"
    );
}

#[test]
fn a_first_join_replaces_the_followers_own_files_a_later_revision_may_not() {
    // Generation 0 keeps for good what the first apply replaces, so the valve lets the join
    // replace the follower's own files; once joined, replacing files the user made since is
    // refused (their backups would be pruned).
    let h = Hostile::start();
    let follower = Machine::new();
    fs_err::create_dir_all(follower.codex_home.join("prompts")).unwrap();
    fs_err::write(follower.codex_home.join("AGENTS.md"), "mine").unwrap();
    fs_err::write(follower.codex_home.join("prompts/own.md"), "mine too").unwrap();
    signed_files(&h, &[("AGENTS.md", b"good"), ("prompts/own.md", b"master's")]);
    run_with_timeout(&follower, &["follower", "join", &h.link(), "--apply"]).expect_code(0);
    assert_eq!(
        fs_err::read(follower.codex_home.join("prompts/own.md")).unwrap(),
        b"master's"
    );
    let zero = fs_err::read_to_string(follower.codexport_home.join("generations/0.json")).unwrap();
    assert!(zero.contains("prompts/own.md") && zero.contains("AGENTS.md"), "{zero}");

    for n in 0..3 {
        fs_err::write(
            follower.codex_home.join(format!("prompts/later-{n}.md")),
            "made after join",
        )
        .unwrap();
    }
    let codex_before = codex_tree(&follower);
    signed_for(
        &h,
        &[
            ("AGENTS.md", b"good"),
            ("prompts/own.md", b"master's"),
            ("prompts/later-0.md", b"x"),
            ("prompts/later-1.md", b"y"),
            ("prompts/later-2.md", b"z"),
        ],
        Some(&follower),
    );
    let out = run_with_timeout(&follower, &["reconcile"]).expect_code(3);
    assert!(
        out.stderr
            .contains("moves aside 3 file(s) codexport never wrote (it manages 5)"),
        "{}",
        out.stderr
    );
    assert_eq!(codex_tree(&follower), codex_before, "nothing replaced");
}
