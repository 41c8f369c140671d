//! Key-level ownership of config.toml, end to end: keys Codex writes on the follower survive
//! every reconcile and are not drift; keys the master drops disappear; a local edit of a key
//! codexport owns is drift, decided by `onDrift`.

mod common;

use common::{Machine, Server};

const MASTER: &str =
    "# tuned on the master\nmodel = \"gpt-5\"\n\n[tui]\nanimations = false\n\n[features]\nweb_search_request = true\n";

fn setup() -> (Machine, Server, Machine) {
    let master = Machine::new();
    fs_err::write(master.codex_home.join("config.toml"), MASTER).unwrap();
    master.ok(&["master", "init"]);
    let server = master.serve();
    let follower = Machine::new();
    follower.ok(&["follower", "join", &master.link(&server, "laptop"), "--apply"]);
    (master, server, follower)
}

fn config(m: &Machine) -> String {
    fs_err::read_to_string(m.codex_home.join("config.toml")).unwrap()
}

fn plan_json(follower: &Machine) -> serde_json::Value {
    serde_json::from_str(&follower.ok(&["plan", "--output", "json"]).stdout).unwrap()
}

fn config_step(plan: &serde_json::Value) -> serde_json::Value {
    plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"] == "config.toml")
        .cloned()
        .unwrap()
}

#[test]
fn keys_codex_writes_survive_and_keys_the_master_drops_disappear() {
    let (master, _server, follower) = setup();
    let project = follower.home.join("src/app");
    let hooks_key = format!("{}:session_start:0:0", follower.codex_home.join("hooks.json").display());
    let codex_writes = format!(
        "\n[projects.\"{}\"]\ntrust_level = \"trusted\"\n\n[hooks.state.\"{hooks_key}\"]\ntrusted_hash = \"sha256:{}\"\n",
        project.display(),
        "ab".repeat(32)
    );
    let mut file = config(&follower);
    file.push_str(&codex_writes);
    fs_err::write(follower.codex_home.join("config.toml"), &file).unwrap();

    let step = config_step(&plan_json(&follower));
    assert_eq!(step["action"], "noop", "{step}");
    assert!(step.get("drift").is_none(), "Codex's keys are not drift: {step}");
    assert!(step["reason"].as_str().unwrap().contains("2 keys kept"), "{step}");
    follower.ok(&["reconcile"]);
    assert_eq!(config(&follower), file, "nothing to do, nothing written");

    // The master changes one key and drops a table; Codex's keys stay, byte for byte.
    let next = MASTER
        .replace("gpt-5", "gpt-6")
        .replace("\n[features]\nweb_search_request = true\n", "");
    fs_err::write(master.codex_home.join("config.toml"), &next).unwrap();
    master.ok(&["master", "rebuild"]);
    follower.ok(&["sync"]);
    let step = config_step(&plan_json(&follower));
    assert_eq!(step["action"], "update", "{step}");
    assert!(step.get("drift").is_none(), "{step}");
    let reason = step["reason"].as_str().unwrap();
    assert!(
        reason.contains("1 key set by the master") && reason.contains("1 key dropped by the master"),
        "{reason}"
    );
    follower.ok(&["reconcile"]);
    let after = config(&follower);
    assert_eq!(after, format!("{next}{codex_writes}"), "{after}");
    let table: toml::Table = toml::from_str(&after).unwrap();
    assert!(table.get("features").is_none());

    // The next plan is empty: ownership was recorded for exactly the master's keys.
    let plan = plan_json(&follower);
    assert_eq!(plan["summary"]["update"], 0, "{plan}");
    let inventory: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(follower.codexport_home.join("inventory.json")).unwrap()).unwrap();
    let owned: Vec<&String> = inventory["configKeys"].as_object().unwrap().keys().collect();
    assert_eq!(owned, ["model", "tui.animations"]);
}

#[test]
fn a_local_edit_of_an_owned_key_is_drift_per_key() {
    let (master, _server, follower) = setup();
    let edited = config(&follower).replace("gpt-5", "local-model");
    fs_err::write(follower.codex_home.join("config.toml"), &edited).unwrap();
    fs_err::write(master.codex_home.join("config.toml"), MASTER.replace("false", "true")).unwrap();
    master.ok(&["master", "rebuild"]);
    follower.ok(&["sync"]);

    fs_err::write(follower.codexport_home.join("local.toml"), "onDrift = \"keep\"\n").unwrap();
    let step = config_step(&plan_json(&follower));
    assert_eq!(step["drift"], true, "{step}");
    assert!(
        step["reason"].as_str().unwrap().contains("model edited locally"),
        "{step}"
    );
    follower.ok(&["reconcile"]);
    let kept = config(&follower);
    assert!(
        kept.contains("model = \"local-model\"") && kept.contains("animations = true"),
        "keep: the local value stays, the master's other change arrives:\n{kept}"
    );
    assert_eq!(
        config_step(&plan_json(&follower))["drift"],
        true,
        "still drift next time"
    );

    fs_err::write(follower.codexport_home.join("local.toml"), "onDrift = \"fail\"\n").unwrap();
    let run = follower.run(&["reconcile"]).expect_code(3);
    assert!(run.stderr.contains("config.toml"), "{}", run.stderr);
    assert_eq!(config(&follower), kept, "fail writes nothing");

    fs_err::remove_file(follower.codexport_home.join("local.toml")).unwrap();
    follower.ok(&["reconcile"]);
    assert!(
        config(&follower).contains("model = \"gpt-5\""),
        "overwrite: the master wins"
    );
}

#[test]
fn a_config_that_no_longer_parses_is_replaced_as_a_whole_with_a_backup() {
    let (_master, _server, follower) = setup();
    fs_err::write(follower.codex_home.join("config.toml"), "model = \n").unwrap();
    let step = config_step(&plan_json(&follower));
    assert!(step["reason"].as_str().unwrap().contains("does not parse"), "{step}");
    follower.ok(&["reconcile"]);
    assert_eq!(config(&follower), MASTER);
    let backups = common::tree(&follower.codexport_home.join("backups"));
    assert!(
        backups
            .iter()
            .any(|(p, (b, _))| p.ends_with("config.toml") && b == b"model = \n"),
        "{:?}",
        backups.keys()
    );
}
