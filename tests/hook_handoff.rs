//! The SessionStart hook never leaves a big change half-written: an apply that does not fit in
//! its budget is handed off to a background `codexport reconcile --handed-off` (its own process
//! group, outcome `handed-off`), the hook returns within its budget + 0.5 s, and the change
//! converges with no manual command. A hook run while the background one works records
//! `skipped` naming it and disturbs nothing. Real master, real CLI; the background process is
//! waited for, and ended by its PID if it outlives the test.

mod common;

use std::time::{Duration, Instant};

use common::Machine;

const FILES: usize = 3000;

fn write_skill(master: &Machine, version: u32) {
    let dir = master.codex_home.join("skills/big");
    fs_err::create_dir_all(dir.join("refs")).unwrap();
    fs_err::write(
        dir.join("SKILL.md"),
        format!("---\nname: big\ndescription: v{version}\n---\n"),
    )
    .unwrap();
    for i in 0..FILES {
        fs_err::write(
            dir.join(format!("refs/{i}.md")),
            format!("reference {i}, version {version}\n"),
        )
        .unwrap();
    }
}

fn last(f: &Machine) -> serde_json::Value {
    serde_json::from_slice(&fs_err::read(f.codexport_home.join("hook-last.json")).unwrap()).unwrap()
}

/// Ends the background run by its PID when the test is over (a failing test included).
struct Reaper(Option<u32>);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = std::process::Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

#[test]
fn a_change_too_big_for_the_budget_is_handed_off_and_converges_without_a_manual_command() {
    let master = Machine::new();
    write_skill(&master, 1);
    master.ok(&["master", "init"]);
    let server = master.serve();
    let f = Machine::new();
    f.ok(&["follower", "join", &master.link(&server, "f"), "--apply"]);

    write_skill(&master, 2);
    master.ok(&["master", "rebuild"]);
    let budget = 1000;
    let started = Instant::now();
    f.ok(&["reconcile", "--hook", "--timeout-ms", &budget.to_string()]);
    let took = started.elapsed();
    let record = last(&f);
    assert_eq!(record["outcome"], "handed-off", "{record}");
    let ms = record["durationMs"].as_u64().unwrap();
    assert!(ms <= budget + 500, "the hook took {ms} ms of a {budget} ms budget");
    let marker: serde_json::Value =
        serde_json::from_slice(&fs_err::read(f.codexport_home.join("hook-handoff.json")).unwrap()).unwrap();
    let pid = marker["pid"].as_u64().unwrap() as u32;
    let _reaper = Reaper(Some(pid));
    assert!(
        record["message"].as_str().unwrap().contains(&format!("pid {pid}")),
        "{record}"
    );

    // A Codex start meanwhile: the hook sees the background run and leaves it alone.
    f.ok(&["reconcile", "--hook", "--timeout-ms", &budget.to_string()]);
    let second = last(&f);
    if second["outcome"] == "skipped" {
        assert!(
            second["message"].as_str().unwrap().contains("background apply"),
            "{second}"
        );
    }

    let deadline = Instant::now() + Duration::from_secs(120);
    while f.codexport_home.join("hook-handoff.json").exists() {
        assert!(
            Instant::now() < deadline,
            "the background apply did not finish in 120 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let done = last(&f);
    assert!(
        done["outcome"] == "applied" || done["outcome"] == "up-to-date",
        "the background run recorded its outcome: {done}"
    );
    for i in [0, FILES / 2, FILES - 1] {
        let text = fs_err::read_to_string(f.codex_home.join(format!("skills/big/refs/{i}.md"))).unwrap();
        assert_eq!(text, format!("reference {i}, version 2\n"));
    }
    let journal = f.codexport_home.join("journal");
    assert!(
        !journal.exists() || fs_err::read_dir(&journal).unwrap().next().is_none(),
        "no journal left"
    );
    let plan: serde_json::Value =
        serde_json::from_str(&f.ok(&["plan", "--offline", "--output", "json"]).stdout).unwrap();
    assert_eq!(plan["summary"]["update"], 0, "converged: {}", plan["summary"]);
    let generations: serde_json::Value =
        serde_json::from_str(&f.ok(&["generations", "--output", "json"]).stdout).unwrap();
    let newest = generations
        .as_array()
        .or_else(|| generations["generations"].as_array())
        .and_then(|g| g.last().cloned())
        .unwrap();
    assert_eq!(newest["unattended"], true, "recorded as an unattended run: {newest}");
    eprintln!("figures: hook {ms} ms recorded, {took:?} wall, budget {budget} ms");
    drop(server);
}

#[test]
fn a_small_change_is_applied_by_the_hook_itself() {
    let master = Machine::new();
    fs_err::create_dir_all(master.codex_home.join("prompts")).unwrap();
    fs_err::write(master.codex_home.join("prompts/a.md"), "a").unwrap();
    master.ok(&["master", "init"]);
    let server = master.serve();
    let f = Machine::new();
    f.ok(&["follower", "join", &master.link(&server, "f"), "--apply"]);
    fs_err::write(master.codex_home.join("prompts/a.md"), "a2").unwrap();
    master.ok(&["master", "rebuild"]);
    f.ok(&["reconcile", "--hook", "--timeout-ms", "3000"]);
    assert_eq!(last(&f)["outcome"], "applied");
    assert!(!f.codexport_home.join("hook-handoff.json").exists());
    assert_eq!(fs_err::read_to_string(f.codex_home.join("prompts/a.md")).unwrap(), "a2");
    drop(server);
}

#[test]
fn a_background_apply_killed_mid_way_is_recovered_and_handed_off_again_by_the_next_hook() {
    let master = Machine::new();
    write_skill(&master, 1);
    master.ok(&["master", "init"]);
    let server = master.serve();
    let f = Machine::new();
    f.ok(&["follower", "join", &master.link(&server, "f"), "--apply"]);
    write_skill(&master, 2);
    master.ok(&["master", "rebuild"]);

    f.ok(&["reconcile", "--hook", "--timeout-ms", "1000"]);
    assert_eq!(last(&f)["outcome"], "handed-off");
    let marker: serde_json::Value =
        serde_json::from_slice(&fs_err::read(f.codexport_home.join("hook-handoff.json")).unwrap()).unwrap();
    let pid = marker["pid"].as_u64().unwrap() as u32;
    std::thread::sleep(Duration::from_millis(150));
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();

    // The next Codex start: the journal of the killed run is rolled back, the change handed off
    // again (or, had the killed run finished, nothing left to do).
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut reaper = Reaper(None);
    loop {
        f.ok(&["reconcile", "--hook", "--timeout-ms", "1000"]);
        if let Ok(bytes) = fs_err::read(f.codexport_home.join("hook-handoff.json")) {
            let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            reaper.0 = m["pid"].as_u64().map(|p| p as u32);
        }
        let text = fs_err::read_to_string(f.codex_home.join(format!("skills/big/refs/{}.md", FILES - 1))).unwrap();
        if last(&f)["outcome"] == "up-to-date" && text.ends_with("version 2\n") {
            break;
        }
        assert!(Instant::now() < deadline, "no convergence in 120 s: {}", last(&f));
        std::thread::sleep(Duration::from_millis(200));
    }
    for i in [0, FILES / 2, FILES - 1] {
        let text = fs_err::read_to_string(f.codex_home.join(format!("skills/big/refs/{i}.md"))).unwrap();
        assert_eq!(text, format!("reference {i}, version 2\n"));
    }
    drop(server);
}
