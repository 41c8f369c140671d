//! The follower store: blobs no kept generation or staged revision needs are collected after
//! an apply, and the store is capped.

mod common;

use common::Pair;

fn store_blobs(f: &common::Machine) -> Vec<String> {
    let mut v: Vec<String> = common::tree(&f.codexport_home.join("store/blobs"))
        .keys()
        .map(|p| p.rsplit('/').next().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn blobs_only_pruned_generations_needed_are_collected_and_rollback_still_works() {
    let pair = Pair::applied();
    let (master, f) = (&pair.master, &pair.follower);
    fs_err::write(f.codexport_home.join("local.toml"), "keepGenerations = 2\n").unwrap();
    let sha = |text: &str| codexport::fs::sha256_hex(text.as_bytes());
    for v in ["v2", "v3", "v4"] {
        fs_err::write(master.codex_home.join("AGENTS.md"), format!("# {v}\n")).unwrap();
        master.ok(&["master", "rebuild"]);
        f.ok(&["reconcile"]);
    }
    let blobs = store_blobs(f);
    assert!(
        !blobs.contains(&sha("# v2\n")),
        "generation 2 was pruned: its blob is collected"
    );
    assert!(
        blobs.contains(&sha("# v3\n")),
        "generation 3 is kept: rollback needs its blob"
    );
    assert!(blobs.contains(&sha("# v4\n")), "the staged revision's blob stays");
    f.ok(&["rollback"]);
    assert_eq!(
        fs_err::read_to_string(f.codex_home.join("AGENTS.md")).unwrap(),
        "# v3\n"
    );
    f.ok(&["reconcile"]);
    assert_eq!(
        fs_err::read_to_string(f.codex_home.join("AGENTS.md")).unwrap(),
        "# v4\n"
    );
    assert!(f.ok(&["plan", "--offline"]).stdout.starts_with("No changes."));
}

#[test]
fn a_revision_that_would_overflow_the_store_cap_is_refused_and_nothing_is_staged() {
    let pair = Pair::applied();
    let (master, f) = (&pair.master, &pair.follower);
    let before = fs_err::read(f.codexport_home.join("store/state.yaml")).unwrap();
    fs_err::write(master.codex_home.join("AGENTS.md"), "x".repeat(300_000)).unwrap();
    master.ok(&["master", "rebuild"]);
    let present: u64 = common::tree(&f.codexport_home.join("store/blobs"))
        .values()
        .map(|(b, _)| b.len() as u64)
        .sum();
    let run = f
        .command(&["sync"])
        .env("CODEXPORT_STORE_MAX_BYTES", (present + 100_000).to_string())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("over its cap") && stderr.contains("CODEXPORT_STORE_MAX_BYTES"),
        "{stderr}"
    );
    assert_eq!(
        fs_err::read(f.codexport_home.join("store/state.yaml")).unwrap(),
        before,
        "nothing staged"
    );
    f.ok(&["sync"]);
}
