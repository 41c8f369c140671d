//! Hook trust re-keyed on the follower (issue 4, item 4), checked by the real Codex CLI.
//!
//! The master's hooks.json has two SessionStart handlers that run a script under the master's
//! CODEX_HOME; config.toml trusts the first and holds a stale hash for the second. On the
//! follower the first must be trusted for the follower's command (so Codex runs it) and the
//! second must stay untrusted (so Codex skips it). Codex runs SessionStart hooks before it
//! stalls on the network (CODEX-FACTS.md "Hooks"): about 0.6 s in this sandbox.

mod common;

use std::path::Path;

use codexport::codex::hooks::{trust_entries, trust_hash};
use common::{Machine, codex_bin};
use serde_json::{Map, Value, json};

/// Records that it ran (its stdin, the SessionStart event) as `ran-<name>` in the HOME of the
/// CODEX_HOME it lives in, so the marker also says which machine's copy ran. No stdout: that
/// would go into the model's context.
const MARK: &str = "#!/bin/sh\ncat > \"$(dirname \"$0\")/../../ran-$1\"\n";

const MATCHER: &str = "startup|resume";

fn handler(codex_home: &Path, name: &str) -> Map<String, Value> {
    let command = format!("sh {}/hooks/mark.sh {name}", codex_home.display());
    json!({"type": "command", "command": command, "timeout": 10})
        .as_object()
        .unwrap()
        .clone()
}

fn key(codex_home: &Path, h: usize) -> String {
    format!("{}/hooks.json:session_start:0:{h}", codex_home.display())
}

/// A master whose hooks.json has `trusted` and `untrusted` SessionStart handlers; config.toml
/// trusts the first, and holds the hash of an earlier version of the second.
fn master() -> Machine {
    let m = Machine::new();
    let ch = &m.codex_home;
    fs_err::create_dir_all(ch.join("hooks")).unwrap();
    fs_err::write(ch.join("hooks/mark.sh"), MARK).unwrap();
    let hooks = json!({"hooks": {"SessionStart": [{"matcher": MATCHER, "hooks": [
        handler(ch, "trusted"),
        handler(ch, "untrusted"),
    ]}]}});
    fs_err::write(ch.join("hooks.json"), serde_json::to_string_pretty(&hooks).unwrap()).unwrap();
    let trusted = trust_hash("SessionStart", Some(MATCHER), &handler(ch, "trusted"));
    let stale = trust_hash("SessionStart", Some(MATCHER), &handler(ch, "untrusted-v0"));
    let config = format!(
        "# written by Codex when the user trusted the hooks\n\
         [hooks.state.\"{}\"]\ntrusted_hash = \"{trusted}\"\n\n\
         [hooks.state.\"{}\"]\ntrusted_hash = \"{stale}\"\n",
        key(ch, 0),
        key(ch, 1)
    );
    fs_err::write(ch.join("config.toml"), config).unwrap();
    m
}

fn state_hash(config: &toml::Table, key: &str) -> String {
    config["hooks"]["state"][key]["trusted_hash"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Runs `codex exec` on `m` until its SessionStart hooks completed, then ends it; returns the
/// names of the hooks that ran.
fn session_start_hooks_that_ran(codex: &Path, m: &Machine) -> Vec<String> {
    common::codex_until_session_start(codex, m, 15);
    let mut ran: Vec<String> = fs_err::read_dir(&m.home)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.strip_prefix("ran-").map(str::to_owned))
        .collect();
    ran.sort();
    for name in &ran {
        let event: Value =
            serde_json::from_str(&fs_err::read_to_string(m.home.join(format!("ran-{name}"))).unwrap()).unwrap();
        assert_eq!(event["hook_event_name"], "SessionStart", "{name}");
        fs_err::remove_file(m.home.join(format!("ran-{name}"))).unwrap();
    }
    ran
}

#[test]
fn the_follower_trusts_what_the_master_trusted_with_its_own_paths_and_codex_runs_it() {
    let master = master();
    master.ok(&["master", "init"]);
    let server = master.serve();
    let follower = Machine::new();
    follower.ok(&["follower", "join", &master.link(&server, "trust")]);
    follower.ok(&["apply"]);

    let (mc, fc) = (&master.codex_home, &follower.codex_home);
    let config: toml::Table = toml::from_str(&fs_err::read_to_string(fc.join("config.toml")).unwrap()).unwrap();
    let hooks: Value = serde_json::from_str(&fs_err::read_to_string(fc.join("hooks.json")).unwrap()).unwrap();
    assert_eq!(
        hooks["hooks"]["SessionStart"][0]["hooks"][0]["command"],
        handler(fc, "trusted")["command"],
        "the command names the follower's script"
    );
    // What Codex will compute from the hooks.json actually written.
    let codex_view = trust_entries(&fc.join("hooks.json").display().to_string(), &hooks);
    assert_eq!(
        codex_view.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        [key(fc, 0), key(fc, 1)]
    );

    let rekeyed = state_hash(&config, &key(fc, 0));
    assert_eq!(rekeyed, codex_view[0].1, "re-hashed for the follower's command");
    assert_eq!(
        rekeyed,
        trust_hash("SessionStart", Some(MATCHER), &handler(fc, "trusted"))
    );
    assert_ne!(
        rekeyed,
        trust_hash("SessionStart", Some(MATCHER), &handler(mc, "trusted"))
    );
    let stale = state_hash(&config, &key(fc, 1));
    assert_eq!(
        stale,
        trust_hash("SessionStart", Some(MATCHER), &handler(mc, "untrusted-v0"))
    );
    assert_ne!(stale, codex_view[1].1, "what the master did not trust stays untrusted");
    let text = fs_err::read_to_string(fc.join("config.toml")).unwrap();
    assert!(
        text.starts_with("# written by Codex when the user trusted the hooks\n"),
        "{text}"
    );

    let Some(codex) = codex_bin() else { return };
    assert_eq!(
        session_start_hooks_that_ran(&codex, &master),
        ["trusted"],
        "on the master itself"
    );
    assert_eq!(
        session_start_hooks_that_ran(&codex, &follower),
        ["trusted"],
        "the follower's copy ran, the untrusted hook did not"
    );
}
