//! A machine where Codex never ran: no `~/.codex` at all. `follower join --apply` creates it
//! (mode 0700) and applies, whether `CODEX_HOME` names the missing directory or is unset
//! (issue 18: join used to stop with "is not an existing directory", and apply with exit 7).

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Machine, Run};

/// A master serving the example, and a follower machine whose `~/.codex` does not exist.
fn master_and_bare_follower() -> (Machine, common::Server, String, Machine) {
    let master = Machine::with_example();
    master.ok(&["master", "init"]);
    let server = master.serve();
    let link = master.link(&server, "new-machine");
    let follower = Machine::new();
    fs_err::remove_dir(&follower.codex_home).unwrap();
    (master, server, link, follower)
}

fn assert_created_and_applied(follower: &Machine) {
    let meta = fs_err::metadata(&follower.codex_home).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.permissions().mode() & 0o777, 0o700, "a new ~/.codex is private");
    let files = follower.codex_files();
    assert!(files.contains_key("AGENTS.md"), "applied: {:?}", files.keys());
    assert!(files.contains_key("config.toml"), "applied: {:?}", files.keys());
}

#[test]
fn join_apply_creates_a_missing_codex_home_named_by_codex_home() {
    let (_master, _server, link, follower) = master_and_bare_follower();
    // Read-only commands on the missing directory work and create nothing.
    follower.ok(&["follower", "join", &link]);
    let plan = follower.ok(&["plan"]);
    assert!(plan.stdout.contains("+ AGENTS.md"), "{}", plan.stdout);
    follower.ok(&["apply", "--dry-run"]);
    assert!(!follower.codex_home.exists(), "plan and dry-run create nothing");
    follower.ok(&["apply"]);
    assert_created_and_applied(&follower);
    let again = follower.ok(&["plan"]);
    assert!(
        again.stdout.contains("0 to create, 0 to update, 0 to delete"),
        "{}",
        again.stdout
    );
}

#[test]
fn join_apply_creates_the_default_codex_home_when_codex_home_is_unset() {
    let (_master, _server, link, follower) = master_and_bare_follower();
    let out = follower
        .command(&["follower", "join", &link, "--apply"])
        .env_remove("CODEX_HOME")
        .output()
        .unwrap();
    let run = Run::from_output(out).expect_code(0);
    assert!(run.stdout.contains("Applied revision"), "{}", run.stdout);
    assert_created_and_applied(&follower);
}

#[test]
fn a_codex_home_that_is_a_file_is_refused_with_the_fix() {
    let follower = Machine::new();
    fs_err::remove_dir(&follower.codex_home).unwrap();
    fs_err::write(&follower.codex_home, b"not a directory").unwrap();
    let run = follower.run(&["plan"]);
    assert_eq!(run.code, 4, "usage error: {}", run.stderr);
    assert!(run.stderr.contains("exists and is not a directory"), "{}", run.stderr);
    assert!(run.stderr.contains("hint: move"), "{}", run.stderr);
    assert_eq!(
        fs_err::read(&follower.codex_home).unwrap(),
        b"not a directory",
        "left as it was"
    );
}
