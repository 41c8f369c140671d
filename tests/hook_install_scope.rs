//! `hook install` and `hook uninstall` touch only the hook: the codexport handler in
//! hooks.json and its trust key in config.toml. A revision staged but not applied stays
//! unapplied, and a local edit of another managed file (AGENTS.md) stays as the user left it.

mod common;

use std::collections::BTreeMap;

use common::{Machine, Server};

fn hooks_json(m: &Machine) -> serde_json::Value {
    serde_json::from_str(&fs_err::read_to_string(m.codex_home.join("hooks.json")).unwrap()).unwrap()
}

fn config(m: &Machine) -> toml::Table {
    fs_err::read_to_string(m.codex_home.join("config.toml"))
        .unwrap()
        .parse()
        .unwrap()
}

/// config.toml without codexport's own trust entry (`hooks.state."<...>:session_start:N:0"`
/// whose hooks.json handler runs `reconcile --hook`).
fn config_without_hook_trust(m: &Machine, key: Option<&str>) -> toml::Table {
    let mut c = config(m);
    if let Some(key) = key
        && let Some(state) = c
            .get_mut("hooks")
            .and_then(|h| h.as_table_mut())
            .and_then(|h| h.get_mut("state"))
            .and_then(|s| s.as_table_mut())
    {
        state.remove(key);
    }
    c
}

fn status_json(m: &Machine) -> serde_json::Value {
    serde_json::from_str(&m.ok(&["status", "--output", "json"]).stdout).unwrap()
}

fn hook_status(m: &Machine) -> serde_json::Value {
    serde_json::from_str(&m.ok(&["hook", "status", "--output", "json"]).stdout).unwrap()
}

/// Every file under CODEX_HOME but hooks.json and config.toml.
fn others(m: &Machine) -> BTreeMap<String, (Vec<u8>, u32)> {
    let mut files = m.codex_files();
    files.remove("hooks.json");
    files.remove("config.toml");
    files
}

/// Master with the example, follower joined and applied; then the master changes AGENTS.md
/// (staged on the follower, not applied) and the follower edits its own AGENTS.md.
fn staged_and_edited() -> (Machine, Server, Machine) {
    let master = Machine::with_example();
    master.ok(&["master", "init"]);
    let server = master.serve();
    let follower = Machine::new();
    follower.ok(&["follower", "join", &master.link(&server, "laptop"), "--apply"]);
    fs_err::write(master.codex_home.join("AGENTS.md"), "# changed on the master\n").unwrap();
    master.ok(&["master", "rebuild"]);
    follower.ok(&["sync"]);
    fs_err::write(follower.codex_home.join("AGENTS.md"), "# my local notes\n").unwrap();
    (master, server, follower)
}

#[test]
fn hook_install_and_uninstall_touch_only_the_hook() {
    let (_master, _server, follower) = staged_and_edited();
    let before = status_json(&follower)["follower"].clone();
    assert_ne!(before["appliedRevision"], before["stagedRevision"], "{before}");
    let others_before = others(&follower);
    let hooks_before = hooks_json(&follower);
    let config_before = config(&follower);

    let out = follower.ok(&["hook", "install"]);
    assert!(out.stdout.contains("SessionStart hook installed"), "{}", out.stdout);
    assert_eq!(
        fs_err::read_to_string(follower.codex_home.join("AGENTS.md")).unwrap(),
        "# my local notes\n",
        "the local edit is kept"
    );
    assert_eq!(
        others(&follower),
        others_before,
        "no other file under CODEX_HOME changed"
    );
    let after = status_json(&follower)["follower"].clone();
    assert_eq!(
        after["appliedRevision"], before["appliedRevision"],
        "the staged revision stays unapplied"
    );
    assert_eq!(after["stagedRevision"], before["stagedRevision"]);

    let status = hook_status(&follower);
    assert_eq!(status["trusted"], true, "{status}");
    let key = status["trustKey"].as_str().unwrap().to_string();
    let hooks = hooks_json(&follower);
    let groups = hooks["hooks"]["SessionStart"].as_array().unwrap();
    let before_groups = hooks_before["hooks"]["SessionStart"].as_array().unwrap();
    assert_eq!(groups.len(), before_groups.len() + 1, "one group added");
    assert_eq!(
        &groups[..before_groups.len()],
        &before_groups[..],
        "the others unchanged"
    );
    assert!(
        groups.last().unwrap()["hooks"][0]["command"]
            .as_str()
            .unwrap()
            .contains("reconcile --hook")
    );
    let mut without = hooks.clone();
    without["hooks"]["SessionStart"] = serde_json::Value::Array(before_groups.clone());
    assert_eq!(without, hooks_before, "nothing else in hooks.json changed");
    assert_eq!(
        config_without_hook_trust(&follower, Some(&key)),
        config_before,
        "config.toml only gained the trust entry"
    );
    assert!(config(&follower)["hooks"]["state"][&key]["trusted_hash"].is_str());

    // The plan still has the staged change and the local edit ahead.
    let plan = follower.run(&["plan"]).stdout;
    assert!(plan.contains("AGENTS.md"), "{plan}");

    follower.ok(&["hook", "uninstall"]);
    assert_eq!(
        fs_err::read_to_string(follower.codex_home.join("AGENTS.md")).unwrap(),
        "# my local notes\n"
    );
    assert_eq!(others(&follower), others_before);
    assert_eq!(hooks_json(&follower), hooks_before, "uninstall gives hooks.json back");
    assert_eq!(config(&follower), config_before, "and config.toml");
    let last = status_json(&follower)["follower"].clone();
    assert_eq!(last["appliedRevision"], before["appliedRevision"]);
    assert_eq!(hook_status(&follower)["installed"], false);

    // A later apply brings the staged revision, with the hook state as left.
    follower.ok(&["apply"]);
    assert_eq!(
        fs_err::read_to_string(follower.codex_home.join("AGENTS.md")).unwrap(),
        "# changed on the master\n"
    );
    assert_eq!(
        status_json(&follower)["follower"]["appliedRevision"],
        before["stagedRevision"]
    );
}

#[test]
fn a_hook_installed_alone_survives_the_next_apply() {
    let (_master, _server, follower) = staged_and_edited();
    follower.ok(&["hook", "install"]);
    let plan = follower.run(&["plan"]).stdout;
    assert!(
        !plan.contains("hooks.json"),
        "the hook is already what an apply would write:\n{plan}"
    );
    follower.ok(&["apply"]);
    let status = hook_status(&follower);
    assert_eq!(status["trusted"], true, "{status}");
    let plan = follower.ok(&["plan"]).stdout;
    assert!(plan.starts_with("No changes."), "{plan}");
}
