//! Generation 0: what a follower had before it joined is never lost (issue 19, item 1).
//! The first apply records it; pruning never removes it; `rollback --to 0` restores it byte
//! for byte with modes; `follower leave` restores it and removes the enrollment.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Machine, Pair, tree};

/// The follower's own files before it joins (some of which the master also publishes).
fn own_files(m: &Machine) {
    let write = |rel: &str, bytes: &str, mode: u32| {
        let path = m.codex_home.join(rel);
        fs_err::write(&path, bytes).unwrap();
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write("auth.json", "{\"mine\": \"my own login\"}\n", 0o600);
    write("AGENTS.md", "# my own agents\n", 0o640);
    write(
        "config.toml",
        "model = \"mine\"\n\n[mcp_servers.localthing]\ncommand = \"localthing\"\n\n[projects.\"/work/x\"]\ntrust_level = \"trusted\"\n",
        0o644,
    );
    write("notes.txt", "not codexport's business\n", 0o644);
}

fn joined_with_own_files() -> Pair {
    let master = Machine::with_example();
    master.ok(&["master", "init"]);
    let server = master.serve();
    let link = master.link(&server, "laptop");
    let follower = Machine::new();
    own_files(&follower);
    follower.ok(&["follower", "join", &link, "--apply"]);
    Pair {
        master,
        server,
        follower,
        link,
    }
}

#[test]
fn rollback_to_0_restores_the_files_from_before_the_join_after_many_pruned_generations() {
    let before = {
        let m = Machine::new();
        own_files(&m);
        tree(&m.codex_home)
    };
    let pair = joined_with_own_files();
    let f = &pair.follower;
    assert_ne!(tree(&f.codex_home), before, "the join replaced files");
    fs_err::write(f.codexport_home.join("local.toml"), "keepGenerations = 1\n").unwrap();
    for i in 0..6 {
        fs_err::write(pair.master.codex_home.join("AGENTS.md"), format!("# master v{i}\n")).unwrap();
        pair.master.ok(&["master", "rebuild"]);
        f.ok(&["sync", "--apply"]);
    }
    assert!(
        !f.codexport_home.join("backups/1").exists(),
        "the first apply's backups were pruned"
    );
    let list = f.ok(&["generations"]).stdout;
    assert!(list.contains("original (before codexport)"), "{list}");

    let out = f.ok(&["rollback", "--to", "0"]);
    assert!(out.stdout.contains("generation"), "{}", out.stdout);
    assert_eq!(
        tree(&f.codex_home),
        before,
        "byte for byte with modes: replaced files back, added files gone, notes.txt untouched"
    );
}

#[test]
fn follower_leave_restores_generation_0_and_removes_the_enrollment_and_the_hook() {
    let before = {
        let m = Machine::new();
        own_files(&m);
        tree(&m.codex_home)
    };
    let pair = joined_with_own_files();
    let f = &pair.follower;
    f.ok(&["hook", "install"]);
    let out = f.ok(&["follower", "leave"]);
    assert_eq!(tree(&f.codex_home), before, "{}", out.stdout);
    assert!(!f.codexport_home.join("enrollment.toml").exists());
    assert!(out.stdout.contains("kept"), "says what it keeps: {}", out.stdout);
    assert!(out.stdout.contains("backups"), "{}", out.stdout);
    let status = f.ok(&["status"]).stdout;
    assert!(status.contains("role: none"), "{status}");
    // Leaving twice is a clear no-op.
    let again = f.run(&["follower", "leave"]);
    assert_eq!(again.code, 4, "{}", again.stderr);
    assert!(again.stderr.contains("has not joined"), "{}", again.stderr);
}
