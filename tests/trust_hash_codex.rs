//! Our hook trust hashes (`codexport::codex::hooks::trust_entries`) against the hashes the real
//! Codex computes for the same hooks.json: the app server's `hooks/list` reports each hook's
//! key and `currentHash` (CODEX_BIN; `.ci/run` runs this with the oldest supported and the
//! newest Codex). Every event Codex knows and the shapes Codex normalises before hashing:
//! timeouts missing, 0 and huge, matchers on events that ignore them, `async`,
//! `statusMessage`, `commandWindows`, groups without a matcher.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::{Machine, codex_bin};
use serde_json::{Value, json};

/// The events of hooks.json (codex-rs/hooks); `Notification` is Claude Code's, which Codex
/// leaves out: our entries for it are harmless extras.
const EVENTS: &[&str] = &[
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PermissionRequest",
    "Stop",
    "SubagentStart",
    "SubagentStop",
    "SessionEnd",
    "Interrupt",
    "PreCompact",
    "PostCompact",
];

fn hooks_json() -> Value {
    let mut events = serde_json::Map::new();
    for e in EVENTS {
        let handler = |tag: &str, extra: Value| {
            let mut h = json!({"type": "command", "command": format!("echo {e} {tag}")});
            for (k, v) in extra.as_object().unwrap() {
                h[k] = v.clone();
            }
            h
        };
        events.insert(
            (*e).to_string(),
            json!([
                {"matcher": "Bash|m.*", "hooks": [
                    handler("plain", json!({})),
                    handler("zero", json!({"timeout": 0})),
                    handler("five", json!({"timeout": 5})),
                    handler("huge", json!({"timeout": 100_000})),
                    handler("async", json!({"async": true, "statusMessage": "working"})),
                    handler("windows", json!({"commandWindows": "echo windows"})),
                    handler("null-status", json!({"statusMessage": null, "timeout": 3})),
                ]},
                {"hooks": [handler("no-matcher", json!({"timeout": 1}))]},
                {"matcher": "", "hooks": [handler("empty-matcher", json!({}))]},
            ]),
        );
    }
    json!({ "hooks": events })
}

/// `hooks/list` of `codex app-server` on `m`: key -> (currentHash, the whole entry).
fn codex_hashes(codex: &std::path::Path, m: &Machine) -> BTreeMap<String, (String, Value)> {
    let mut child = Command::new("timeout")
        .args(["-k", "2", "30"])
        .arg(codex)
        .arg("app-server")
        .current_dir(&m.home)
        .env("HOME", &m.home)
        .env("CODEX_HOME", &m.codex_home)
        .env_remove("OPENAI_API_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for line in [
        json!({"id": 1, "method": "initialize", "params": {"clientInfo": {"name": "codexport-test", "version": "0"}}}),
        json!({"method": "initialized"}),
        json!({"id": 2, "method": "hooks/list", "params": {}}),
    ] {
        writeln!(stdin, "{line}").unwrap();
    }
    let answer = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
        .find(|v| v["id"] == 2);
    drop(stdin);
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    let answer = answer.expect("codex app-server answered hooks/list");
    let data = answer["result"]["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"));
    let mut out = BTreeMap::new();
    for group in data {
        assert_eq!(group["errors"], json!([]), "Codex refused the hooks: {group}");
        for hook in group["hooks"].as_array().unwrap() {
            let key = hook["key"].as_str().unwrap().to_string();
            out.insert(key, (hook["currentHash"].as_str().unwrap().to_string(), hook.clone()));
        }
    }
    out
}

#[test]
fn our_trust_hashes_are_the_ones_codex_computes_for_every_event_and_shape() {
    let Some(codex) = codex_bin() else { return };
    let m = Machine::new();
    let doc = hooks_json();
    let path = m.codex_home.join("hooks.json");
    fs_err::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    // Codex names its home canonically in trust keys.
    let source = fs_err::canonicalize(&path).unwrap().display().to_string();
    let ours: BTreeMap<String, String> = codexport::codex::hooks::trust_entries(&source, &doc)
        .into_iter()
        .collect();
    let theirs = codex_hashes(&codex, &m);
    assert!(theirs.len() >= 100, "Codex listed {} hooks", theirs.len());
    let mismatched: Vec<String> = theirs
        .iter()
        .filter(|(key, (hash, _))| ours.get(*key) != Some(hash))
        .map(|(key, (hash, hook))| format!("{key}: ours {:?}, Codex {hash} for {hook}", ours.get(key)))
        .collect();
    assert!(
        mismatched.is_empty(),
        "{} of {} hashes differ:\n{}",
        mismatched.len(),
        theirs.len(),
        mismatched.join("\n")
    );
}

#[test]
fn every_hook_the_master_trusts_is_trusted_by_the_followers_codex() {
    // Commands name a master path, so the follower re-hashes each hook after rewriting it:
    // every shape must come out as the follower's Codex computes it.
    let Some(codex) = codex_bin() else { return };
    let master = Machine::new();
    let ch = master.codex_home.display().to_string();
    fs_err::create_dir_all(master.codex_home.join("hooks")).unwrap();
    fs_err::write(master.codex_home.join("hooks/x.sh"), "exit 0\n").unwrap();
    let mut doc = hooks_json();
    for groups in doc["hooks"].as_object_mut().unwrap().values_mut() {
        for group in groups.as_array_mut().unwrap() {
            for h in group["hooks"].as_array_mut().unwrap() {
                let tag = h["command"].as_str().unwrap().replace(' ', "-");
                h["command"] = json!(format!("sh {ch}/hooks/x.sh {tag}"));
            }
        }
    }
    fs_err::write(
        master.codex_home.join("hooks.json"),
        serde_json::to_vec_pretty(&doc).unwrap(),
    )
    .unwrap();
    // Trusted on the master the way its Codex does it: the hash Codex reports, under its key.
    let trusted: String = codex_hashes(&codex, &master)
        .iter()
        .map(|(key, (hash, _))| format!("[hooks.state.\"{key}\"]\ntrusted_hash = \"{hash}\"\n\n"))
        .collect();
    fs_err::write(master.codex_home.join("config.toml"), trusted).unwrap();
    let on_master = codex_hashes(&codex, &master);
    assert!(
        on_master.values().all(|(_, h)| h["trustStatus"] == "trusted"),
        "the master's Codex trusts them all"
    );

    master.ok(&["master", "init"]);
    let server = master.serve();
    let follower = Machine::new();
    follower.ok(&["follower", "join", &master.link(&server, "f"), "--apply"]);
    let on_follower = codex_hashes(&codex, &follower);
    let fchome = follower.codex_home.display().to_string();
    let untrusted: Vec<String> = on_follower
        .iter()
        .filter(|(_, (_, h))| h["trustStatus"] != "trusted")
        .map(|(key, (_, h))| format!("{key}: {} ({})", h["trustStatus"], h["command"]))
        .collect();
    assert_eq!(on_follower.len(), on_master.len(), "{on_follower:?}");
    assert!(
        on_follower
            .values()
            .all(|(_, h)| h["command"].as_str().unwrap().contains(&fchome)),
        "commands point at the follower's home"
    );
    assert!(
        untrusted.is_empty(),
        "{} of {} hooks are not trusted on the follower:\n{}",
        untrusted.len(),
        on_follower.len(),
        untrusted.join("\n")
    );
    drop(server);
}
