//! Command output an operator reads: link, status, demo, errors.

mod common;

use common::{Machine, Pair};

#[test]
fn link_prints_the_link_and_the_equivalent_command() {
    let master = Machine::with_example();
    master.ok(&["master", "init"]);
    let out = master.ok(&["master", "link", "--host", "100.64.0.7", "--name", "laptop"]);
    let fp = master.ok(&["master", "status", "--output", "json"]).stdout;
    let fp: serde_json::Value = serde_json::from_str(&fp).unwrap();
    let fp = fp["fingerprint"].as_str().unwrap();
    assert!(
        out.stdout.contains(&format!(
            "codexport://join?host=100.64.0.7&port=17342&fingerprint={fp}&token=cxp_"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!(
            "codexport follower join --master http://100.64.0.7:17342 --fingerprint {fp} --token cxp_"
        )),
        "{}",
        out.stdout
    );
    let tokens = fs_err::read_to_string(master.codexport_home.join("master/tokens.json")).unwrap();
    let token = out.stdout.split("token=").nth(1).unwrap().lines().next().unwrap();
    assert!(!tokens.contains(token), "tokens are stored hashed");
}

#[test]
fn status_reports_revisions_and_reachability() {
    let pair = Pair::applied();
    let out = pair.follower.ok(&["status", "--output", "json"]);
    let s: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(s["roles"], serde_json::json!(["follower"]));
    let f = &s["follower"];
    assert_eq!(f["reachable"], true);
    assert_eq!(f["upToDate"], true);
    assert_eq!(f["appliedRevision"], f["remoteRevision"]);
    assert_eq!(f["stagedRevision"], f["remoteRevision"]);
    assert_eq!(f["masterUrl"], pair.server.url);
    // The example's two hooks arrive; the master trusts its SessionStart hook, so the follower
    // (trust re-keyed for its paths) does too; the unreviewed PreToolUse hook stays untrusted.
    assert_eq!(f["hooks"], serde_json::json!({"configured": 2, "trusted": 1}));

    let Pair { server, follower, .. } = pair;
    drop(server);
    let out = follower.ok(&["status", "--output", "json"]);
    let s: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(s["follower"]["reachable"], false);
    assert!(s["follower"]["error"].as_str().unwrap().contains("master unreachable"));
    let text = follower.ok(&["status"]).stdout;
    assert!(text.contains("(unreachable)"), "{text}");
    let sync = follower.run(&["sync"]).expect_code(6);
    assert!(
        sync.stderr.contains("master unreachable at http://127.0.0.1:"),
        "{}",
        sync.stderr
    );
    follower.ok(&["plan", "--offline"]);
}

#[test]
fn commands_on_a_machine_that_has_not_joined_explain_what_to_do() {
    let m = Machine::new();
    let out = m.run(&["plan"]).expect_code(4);
    assert!(
        out.stderr.starts_with("error: this machine has not joined a master"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("hint: run `codexport follower join"),
        "{}",
        out.stderr
    );
    let out = m.run(&["master", "rebuild"]).expect_code(4);
    assert!(
        out.stderr.contains("hint: run `codexport master init`"),
        "{}",
        out.stderr
    );
    let out = m.run(&["follower", "join", "https://nope"]).expect_code(4);
    assert!(out.stderr.contains("not a codexport://join link"), "{}", out.stderr);
    m.ok(&["status"]);
}

#[test]
fn demo_runs_end_to_end_from_any_directory() {
    let m = Machine::new();
    let out = m.command(&["demo"]).current_dir(&m.home).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Plan: 27 to create, 0 to update, 0 to delete."),
        "{stdout}"
    );
    assert!(stdout.contains("plan after apply: no changes"), "{stdout}");
    assert!(stdout.contains("0o600") && stdout.contains("auth.json"), "{stdout}");
    let listing = stdout.split("== 7.").nth(1).unwrap();
    assert!(
        listing.contains("skills/release-notes/scripts/collect-changes.sh"),
        "{listing}"
    );
    assert!(
        !listing.contains("history.jsonl"),
        "runtime state must not reach the follower"
    );
}

#[test]
fn completions_and_man_page_cover_every_command() {
    let m = Machine::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = m.ok(&["completions", shell]).stdout;
        for cmd in ["reconcile", "rollback", "generations", "follower", "master"] {
            assert!(out.contains(cmd), "{shell} completions lack {cmd}");
        }
    }
    let man = m.ok(&["man"]).stdout;
    assert!(man.contains(".TH codexport 1"), "{man}");
    assert!(
        man.contains("reconcile") && man.contains("Exit codes"),
        "the man page carries the help text"
    );
    m.run(&["completions", "tcsh"]).expect_code(4);
}

#[test]
fn a_closed_stdout_ends_quietly_without_a_panic() {
    use std::io::Read;
    let m = Machine::new();
    for args in [&["completions", "bash"][..], &["man"][..]] {
        let mut child = m
            .command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 16];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        // The reader is gone, like `codexport man | head -c 16`.
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

#[test]
fn status_shows_drift_generations_and_how_far_behind_without_escape_codes_when_piped() {
    let pair = Pair::applied();
    let (master, f) = (&pair.master, &pair.follower);
    fs_err::write(f.codex_home.join("AGENTS.md"), "# edited here\n").unwrap();
    fs_err::write(master.codex_home.join("prompts/commit.md"), "changed\n").unwrap();
    master.ok(&["master", "rebuild"]);
    let s: serde_json::Value = serde_json::from_str(&f.ok(&["status", "--output", "json"]).stdout).unwrap();
    let fj = &s["follower"];
    assert_eq!(fj["drifted"], serde_json::json!(["AGENTS.md"]));
    assert_eq!(fj["generations"], 2, "generation 0 (before codexport) and the apply");
    assert_eq!(fj["upToDate"], false);
    assert!(fj["remotePublishedAt"].as_str().unwrap().ends_with('Z'));
    let text = f.ok(&["status"]).stdout;
    assert!(
        text.contains("drift:       1 path(s) edited locally: AGENTS.md"),
        "{text}"
    );
    assert!(text.contains("(behind: published "), "{text}");
    assert!(text.contains("2 generation(s) kept"), "{text}");
    assert!(!text.contains('\u{1b}'), "no escape codes when piped:\n{text}");
}
