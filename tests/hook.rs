//! codexport's SessionStart hook: `hook install | uninstall | status` and the bounded,
//! silent `reconcile --hook`, against the real master on loopback.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::counting::CountingProxy;
use common::{Machine, Server};

fn hooks_json(m: &Machine) -> serde_json::Value {
    serde_json::from_str(&fs_err::read_to_string(m.codex_home.join("hooks.json")).unwrap()).unwrap()
}

fn hook_status(m: &Machine) -> serde_json::Value {
    serde_json::from_str(&m.ok(&["hook", "status", "--output", "json"]).stdout).unwrap()
}

fn codexport_groups(hooks: &serde_json::Value) -> usize {
    hooks["hooks"]["SessionStart"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["hooks"][0]["command"].as_str().unwrap().contains("reconcile --hook"))
        .count()
}

/// A master with the example's hooks (one trusted SessionStart hook, one untrusted PreToolUse).
fn setup() -> (Machine, Server, Machine) {
    let master = Machine::with_example();
    master.ok(&["master", "init"]);
    let server = master.serve();
    let follower = Machine::new();
    follower.ok(&["follower", "join", &master.link(&server, "laptop"), "--apply"]);
    (master, server, follower)
}

/// Run `reconcile --hook` the way Codex does (SessionStart JSON on stdin); returns the exit
/// code, stdout and the wall time.
fn run_hook(m: &Machine, extra: &[&str]) -> (i32, String, Duration) {
    use std::io::Write;
    let mut args = vec!["reconcile", "--hook"];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let mut child = m
        .command(&args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"session_id":"s","hook_event_name":"SessionStart","source":"startup","extra":{"unknown":1}}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        started.elapsed(),
    )
}

fn last_run(m: &Machine) -> serde_json::Value {
    hook_status(m)["lastRun"].clone()
}

#[test]
fn install_is_idempotent_keeps_other_hooks_and_survives_new_revisions() {
    let (master, _server, follower) = setup();
    let before = hooks_json(&follower);
    follower.ok(&["hook", "install"]);
    follower.ok(&["hook", "install", "--timeout-ms", "2500"]);
    let after = hooks_json(&follower);
    assert_eq!(codexport_groups(&after), 1, "twice = one entry");
    assert_eq!(
        after["hooks"]["SessionStart"][0], before["hooks"]["SessionStart"][0],
        "the master's hook keeps its index (and so its trust key)"
    );
    assert_eq!(after["hooks"]["PreToolUse"], before["hooks"]["PreToolUse"]);
    assert_eq!(after["hooks"]["SessionStart"][1]["hooks"][0]["timeout"], 5);
    let status = hook_status(&follower);
    assert_eq!(status["installed"], true);
    assert_eq!(status["trusted"], true, "{status}");
    assert_eq!(
        codexport::codex::hooks::trusted_count(&follower.codex_home),
        Some((3, 2)),
        "(handlers, trusted): the master's SessionStart hook and codexport's"
    );

    // A new revision of the master's hooks.json does not drop the hook or its trust.
    let path = master.codex_home.join("hooks.json");
    let text = fs_err::read_to_string(&path)
        .unwrap()
        .replace("\"timeout\": 5", "\"timeout\": 7");
    fs_err::write(&path, text).unwrap();
    master.ok(&["master", "rebuild"]);
    follower.ok(&["reconcile"]);
    assert_eq!(
        hooks_json(&follower)["hooks"]["PreToolUse"][0]["hooks"][0]["timeout"],
        7
    );
    assert_eq!(codexport_groups(&hooks_json(&follower)), 1);
    assert_eq!(hook_status(&follower)["trusted"], true);
    let plan = follower.ok(&["plan"]).stdout;
    assert!(plan.starts_with("No changes."), "{plan}");

    follower.ok(&["hook", "uninstall"]);
    assert_eq!(
        hooks_json(&follower),
        hooks_json(&master)
            .to_string()
            .replace(&master.home.display().to_string(), &follower.home.display().to_string())
            .parse::<serde_json::Value>()
            .unwrap()
    );
    let config = fs_err::read_to_string(follower.codex_home.join("config.toml")).unwrap();
    assert!(
        !config.contains("session_start:1:0"),
        "the trust entry goes too:\n{config}"
    );
    assert_eq!(hook_status(&follower)["installed"], false);
    let again = follower.ok(&["hook", "uninstall"]).stdout;
    assert!(again.contains("not installed"), "{again}");
}

#[test]
fn a_follower_without_master_hooks_keeps_its_own_hooks_json() {
    let master = Machine::new();
    fs_err::write(master.codex_home.join("config.toml"), "model = \"gpt-5\"\n").unwrap();
    master.ok(&["master", "init"]);
    let server = master.serve();
    let follower = Machine::new();
    let own = serde_json::json!({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]}});
    fs_err::write(follower.codex_home.join("hooks.json"), own.to_string()).unwrap();
    follower.ok(&["follower", "join", &master.link(&server, "laptop"), "--apply"]);
    follower.ok(&["hook", "install"]);
    let hooks = hooks_json(&follower);
    assert_eq!(hooks["hooks"]["Stop"], own["hooks"]["Stop"]);
    assert_eq!(codexport_groups(&hooks), 1);
    assert_eq!(hook_status(&follower)["trusted"], true);
    follower.ok(&["hook", "uninstall"]);
    assert_eq!(hooks_json(&follower), own, "uninstall gives the user's file back");
}

#[test]
fn the_hook_applies_a_new_revision_silently_and_an_unchanged_master_costs_one_request() {
    let master = Machine::with_example();
    master.ok(&["master", "init"]);
    let server = master.serve();
    let proxy = CountingProxy::start(server.port);
    let link = master.link_on_port(proxy.port, "laptop");
    let follower = Machine::new();
    follower.ok(&["follower", "join", &link, "--apply"]);
    follower.ok(&["hook", "install"]);

    fs_err::write(master.codex_home.join("AGENTS.md"), "# changed on the master\n").unwrap();
    master.ok(&["master", "rebuild"]);
    proxy.take();
    let (code, stdout, _) = run_hook(&follower, &[]);
    assert_eq!((code, stdout.as_str()), (0, ""), "exit 0, nothing on stdout");
    assert_eq!(
        fs_err::read_to_string(follower.codex_home.join("AGENTS.md")).unwrap(),
        "# changed on the master\n"
    );
    let run = last_run(&follower);
    assert_eq!(run["outcome"], "applied", "{run}");
    assert_eq!(run["source"], "startup");

    proxy.take();
    let (code, stdout, _) = run_hook(&follower, &[]);
    assert_eq!((code, stdout.as_str()), (0, ""));
    let (requests, _, down) = proxy.take();
    assert_eq!(requests, 1, "an unchanged master: one If-None-Match request");
    assert!(down < 1024, "{down} bytes");
    assert_eq!(last_run(&follower)["outcome"], "up-to-date");
    let status = follower.ok(&["status"]).stdout;
    assert!(
        status.contains("last hook:") && status.contains("up-to-date"),
        "{status}"
    );
    let log = fs_err::read_to_string(follower.codexport_home.join("logs/hook.log")).unwrap();
    assert_eq!(log.lines().count(), 2, "{log}");
}

#[test]
fn the_hook_gives_up_within_its_budget_and_records_why() {
    let (_master, server, follower) = setup();
    follower.ok(&["hook", "install"]);

    // A master that accepts connections but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || silent.incoming().take(4).filter_map(Result::ok).collect::<Vec<_>>());
    let enrollment = follower.codexport_home.join("enrollment.toml");
    let original = fs_err::read_to_string(&enrollment).unwrap();
    fs_err::write(
        &enrollment,
        original.replace(&format!(":{}", server.port), &format!(":{port}")),
    )
    .unwrap();
    let (code, stdout, took) = run_hook(&follower, &["--timeout-ms", "1000"]);
    assert_eq!((code, stdout.as_str()), (0, ""));
    assert!(took < Duration::from_millis(1500), "budget 1000 ms, took {took:?}");
    assert_eq!(last_run(&follower)["outcome"], "timeout", "{}", last_run(&follower));
    drop(held);

    // The timeout started a back-off (tests/silent_master.rs); end it as a manual sync would,
    // so the next run contacts the master again.
    assert!(follower.codexport_home.join("hook-backoff.json").exists());
    fs_err::remove_file(follower.codexport_home.join("hook-backoff.json")).unwrap();

    // A master that is down: refused at once.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    fs_err::write(
        &enrollment,
        original.replace(&format!(":{}", server.port), &format!(":{closed}")),
    )
    .unwrap();
    let (code, _, took) = run_hook(&follower, &[]);
    assert_eq!(code, 0);
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    let run = last_run(&follower);
    assert_eq!(run["outcome"], "unreachable", "{run}");
    let status = follower.ok(&["status"]).stdout;
    assert!(status.contains("unreachable"), "{status}");
}

#[test]
fn the_hook_skips_at_once_when_another_run_holds_the_lock() {
    let (_master, _server, follower) = setup();
    let lock = fs_err::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(follower.codexport_home.join("lock"))
        .unwrap();
    lock.file().lock().unwrap();
    let (code, stdout, took) = run_hook(&follower, &[]);
    assert_eq!((code, stdout.as_str()), (0, ""));
    assert!(took < Duration::from_millis(1000), "took {took:?}");
    assert_eq!(last_run(&follower)["outcome"], "skipped");
}

fn applied_revision(m: &Machine) -> String {
    let inventory: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(m.codexport_home.join("inventory.json")).unwrap()).unwrap();
    inventory["revision"].as_str().unwrap().to_string()
}

fn published_revision(m: &Machine) -> String {
    let status: serde_json::Value = serde_json::from_str(&m.ok(&["status", "--output", "json"]).stdout).unwrap();
    status["master"]["publishedRevision"].as_str().unwrap().to_string()
}

#[test]
fn codex_runs_the_installed_hook_at_session_start_and_only_while_it_is_trusted() {
    let Some(codex) = common::codex_bin() else { return };
    let (master, _server, follower) = setup();
    follower.ok(&["hook", "install"]);

    fs_err::write(master.codex_home.join("AGENTS.md"), "# v2\n").unwrap();
    master.ok(&["master", "rebuild"]);
    let v2 = published_revision(&master);
    assert_ne!(applied_revision(&follower), v2);
    common::codex_until_session_start(&codex, &follower, 20);
    assert_eq!(applied_revision(&follower), v2, "the hook applied the new revision");
    assert_eq!(
        fs_err::read_to_string(follower.codex_home.join("AGENTS.md")).unwrap(),
        "# v2\n"
    );
    assert_eq!(last_run(&follower)["outcome"], "applied");

    // Without its trust entry Codex skips the hook silently: nothing is applied.
    let config_path = follower.codex_home.join("config.toml");
    let mut config: toml_edit::DocumentMut = fs_err::read_to_string(&config_path).unwrap().parse().unwrap();
    let key = hook_status(&follower)["trustKey"].as_str().unwrap().to_string();
    config["hooks"]["state"]
        .as_table_like_mut()
        .unwrap()
        .remove(&key)
        .unwrap();
    fs_err::write(&config_path, config.to_string()).unwrap();
    assert_eq!(hook_status(&follower)["trusted"], false);
    fs_err::write(master.codex_home.join("AGENTS.md"), "# v3\n").unwrap();
    master.ok(&["master", "rebuild"]);
    let before = last_run(&follower);
    common::codex_until_session_start(&codex, &follower, 20);
    assert_eq!(applied_revision(&follower), v2, "an untrusted hook did not run");
    assert_eq!(last_run(&follower), before);
}

#[test]
fn ten_hooks_at_once_one_applies_the_rest_skip() {
    let (master, _server, follower) = setup();
    follower.ok(&["hook", "install"]);
    fs_err::write(master.codex_home.join("AGENTS.md"), "# v2\n").unwrap();
    master.ok(&["master", "rebuild"]);
    let v2 = published_revision(&master);
    let children: Vec<_> = (0..10)
        .map(|_| {
            follower
                .command(&["reconcile", "--hook", "--timeout-ms", "10000"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert!(out.stdout.is_empty());
    }
    let log = fs_err::read_to_string(follower.codexport_home.join("logs/hook.log")).unwrap();
    let outcomes: Vec<&str> = log.lines().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!(outcomes.len(), 10, "{log}");
    assert_eq!(outcomes.iter().filter(|o| **o == "applied").count(), 1, "{log}");
    assert!(
        outcomes
            .iter()
            .all(|o| *o == "applied" || *o == "skipped" || *o == "up-to-date"),
        "{log}"
    );
    assert_eq!(applied_revision(&follower), v2);
    assert_eq!(
        fs_err::read_to_string(follower.codex_home.join("AGENTS.md")).unwrap(),
        "# v2\n"
    );
    assert!(follower.ok(&["plan", "--offline"]).stdout.starts_with("No changes."));
    let journal = follower.codexport_home.join("journal");
    assert!(
        !journal.exists() || fs_err::read_dir(&journal).unwrap().next().is_none(),
        "no run left a journal behind"
    );
}

#[test]
fn a_changed_master_identity_is_a_trust_failure_and_applies_nothing() {
    let (master, _server, follower) = setup();
    follower.ok(&["hook", "install"]);
    let before = applied_revision(&follower);
    fs_err::write(master.codex_home.join("AGENTS.md"), "# from a master with a new key\n").unwrap();
    master.ok(&["master", "init", "--rotate-key"]);
    let (code, stdout, _) = run_hook(&follower, &[]);
    assert_eq!((code, stdout.as_str()), (0, ""));
    let run = last_run(&follower);
    assert_eq!(run["outcome"], "trust-failure", "{run}");
    assert_eq!(applied_revision(&follower), before);
    assert_ne!(
        fs_err::read_to_string(follower.codex_home.join("AGENTS.md")).unwrap(),
        "# from a master with a new key\n"
    );
}
