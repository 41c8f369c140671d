use serde_json::json;

use super::*;
use crate::codex::hooks::trust_entries;
use crate::codex::portable::{MasterPaths, expand_toml, portable_json, portable_toml};

fn vars(home: &str, codex_home: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("home".to_string(), home.to_string()),
        ("codexHome".to_string(), codex_home.to_string()),
    ])
}

fn master_paths(home: &str) -> MasterPaths {
    MasterPaths {
        home: home.into(),
        codex_home: format!("{home}/.codex"),
        variables: Default::default(),
    }
}

/// `config` and `hooks` written on a master at `home`, made portable as `master init` does.
fn portable(home: &str, config: &str, hooks: Option<Json>) -> (DocumentMut, Option<Json>) {
    let mut doc: DocumentMut = config.parse().unwrap();
    portable_toml(&mut doc, &master_paths(home));
    let hooks = hooks.map(|mut h| {
        portable_json(&mut h, &master_paths(home));
        h
    });
    (doc, hooks)
}

fn state_hash(doc: &DocumentMut, key: &str) -> Option<String> {
    doc.get("hooks")
        .and_then(|h| h.get("state"))
        .and_then(|s| s.get(key))
        .and_then(|e| e.get("trusted_hash"))
        .and_then(Item::as_str)
        .map(str::to_owned)
}

fn untrusted(key: &str, reason: UntrustedReason) -> Untrusted {
    Untrusted {
        key: key.into(),
        reason,
    }
}

fn obj(v: Json) -> Map<String, Json> {
    v.as_object().unwrap().clone()
}

fn th(event: &str, matcher: Option<&str>, handler: Json) -> String {
    trust_hash(event, matcher, &obj(handler))
}

// ---- the 8 corpus vectors ----

fn pascal(snake: &str) -> String {
    snake.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect()
}

/// The master trees behind the vectors of one master home: hooks.json (for `hooks.json` keys),
/// inline `[[hooks.<Event>]]` (for `config.toml` keys) and the `[hooks.state]` entries.
fn tree_of(vectors: &[Json], home: &str) -> (String, Json) {
    let mut config = String::from("model = \"o3\" # kept\n");
    let mut hooks = Map::new();
    for v in vectors {
        let key = v["state_key"].as_str().unwrap();
        let identity: Json = serde_json::from_str(v["identity_json"].as_str().unwrap()).unwrap();
        let event = pascal(identity["event_name"].as_str().unwrap());
        let handler = identity["hooks"][0].clone();
        let (source, rest) = key.split_once(".codex/").unwrap();
        assert_eq!(source, format!("{home}/"));
        let idx: Vec<usize> = rest.rsplit(':').take(2).map(|i| i.parse().unwrap()).collect();
        let (g, h) = (idx[1], idx[0]);
        if rest.starts_with("config.toml:") {
            assert_eq!((g, h), (0, 0));
            config += &format!("[[hooks.{event}]]\n");
            if let Some(m) = identity.get("matcher") {
                config += &format!("matcher = {m}\n");
            }
            config += &format!("[[hooks.{event}.hooks]]\n{}", toml::to_string(&handler).unwrap());
        } else {
            let groups = hooks.entry(event).or_insert_with(|| json!([])).as_array_mut().unwrap();
            while groups.len() <= g {
                groups.push(json!({"hooks": []}));
            }
            if let Some(m) = identity.get("matcher") {
                groups[g]["matcher"] = m.clone();
            }
            let handlers = groups[g]["hooks"].as_array_mut().unwrap();
            while handlers.len() <= h {
                handlers.push(json!({"type": "command", "command": "true"}));
            }
            handlers[h] = handler;
        }
    }
    for v in vectors {
        config += &format!(
            "[hooks.state.\"{}\"]\ntrusted_hash = {}\n",
            v["state_key"].as_str().unwrap(),
            v["trusted_hash"]
        );
    }
    (config, json!({"hooks": hooks}))
}

#[test]
fn all_corpus_vectors_are_rekeyed_to_the_hash_of_the_follower_command() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/other/trust_hash_vectors.json");
    let all: Json = serde_json::from_str(&fs_err::read_to_string(path).unwrap()).unwrap();
    let all = all["vectors"].as_array().unwrap();
    assert_eq!(all.len(), 8);
    let (follower_home, follower_codex) = ("/Users/bob", "/Users/bob/.codex");
    let mut checked = 0;
    let mut rehashed = 0;
    for master_home in ["/home/nullsense", "/home/alex"] {
        let vectors: Vec<Json> = all
            .iter()
            .filter(|v| v["state_key"].as_str().unwrap().starts_with(&format!("{master_home}/")))
            .cloned()
            .collect();
        let (config, hooks) = tree_of(&vectors, master_home);
        let (portable_config, portable_hooks) = portable(master_home, &config, Some(hooks));
        let master = vars(master_home, &format!("{master_home}/.codex"));

        // Re-keyed for the master itself: nothing changes (the vectors verify as they are).
        let mut same = portable_config.clone();
        let report = rekey_trust(&mut same, portable_hooks.as_ref(), &master, &master).unwrap();
        assert_eq!(report.rekeyed.len(), vectors.len(), "{report:?}");
        assert_eq!(same.to_string(), portable_config.to_string());

        let mut doc = portable_config.clone();
        let follower = vars(follower_home, follower_codex);
        let report = rekey_trust(&mut doc, portable_hooks.as_ref(), &master, &follower).unwrap();
        assert!(report.untrusted.is_empty() && report.carried.is_empty(), "{report:?}");
        assert_eq!(report.rekeyed.len(), vectors.len());
        expand_toml(&mut doc, &follower).unwrap();
        let mut follower_hooks = portable_hooks.clone().unwrap();
        expand_json(&mut follower_hooks, &follower).unwrap();
        let on_follower = trust_entries(&format!("{follower_codex}/hooks.json"), &follower_hooks);
        for v in &vectors {
            let key = v["state_key"].as_str().unwrap().replace(master_home, follower_home);
            // Independent of trust_hash: the vector's identity JSON with the follower's paths.
            let identity = v["identity_json"].as_str().unwrap().replace(master_home, follower_home);
            let want = format!("sha256:{}", crate::fs::sha256_hex(identity.as_bytes()));
            assert_eq!(state_hash(&doc, &key).as_deref(), Some(want.as_str()), "{key}");
            if key.contains("/hooks.json:") {
                assert!(on_follower.contains(&(key.clone(), want.clone())), "{key}");
            }
            rehashed += usize::from(want != v["trusted_hash"].as_str().unwrap());
            checked += 1;
        }
        assert!(doc.to_string().starts_with("model = \"o3\" # kept\n"));
    }
    assert_eq!(checked, 8);
    assert_eq!(
        rehashed, 3,
        "herdr-agent-state.sh, plannotator and ascii-check.py name master paths"
    );
}

// ---- trusted, stale, missing, unknown, carried ----

const ALICE: &str = "/home/alice";

fn alice_hooks() -> Json {
    json!({"hooks": {
        "SessionStart": [{"matcher": "startup|resume", "hooks": [
            {"type": "command", "command": "/home/alice/.codex/hooks/x.sh", "timeout": 10},
            {"type": "command", "command": "/home/alice/.codex/hooks/y.sh"}
        ]}],
        "Stop": [{"hooks": [{"type": "command", "command": "echo done", "statusMessage": "bye"}]}]
    }})
}

fn alice_hash(hooks: &Json, event: &str, g: usize, h: usize) -> String {
    let group = &hooks["hooks"][event][g];
    trust_hash(event, group["matcher"].as_str(), &obj(group["hooks"][h].clone()))
}

fn alice() -> BTreeMap<String, String> {
    vars(ALICE, "/home/alice/.codex")
}

fn bob() -> BTreeMap<String, String> {
    vars("/home/bob", "/home/bob/.codex")
}

#[test]
fn only_what_the_master_trusted_is_trusted_on_the_follower() {
    let hooks = alice_hooks();
    let x = alice_hash(&hooks, "SessionStart", 0, 0);
    let stop = alice_hash(&hooks, "Stop", 0, 0);
    let config = format!(
        r#"# trust, as Codex wrote it
[hooks.state."/home/alice/.codex/hooks.json:session_start:0:0"]
trusted_hash = "{x}" # alice trusted x.sh
enabled = false

[hooks.state."/home/alice/.codex/hooks.json:session_start:0:1"]
trusted_hash = "{x}"

[hooks.state."/home/alice/.codex/hooks.json:session_start:0:7"]
trusted_hash = "{x}"

[hooks.state."/home/alice/.codex/hooks.json:no_such_event:0:0"]
trusted_hash = "{x}"

[hooks.state."/home/alice/.codex/hooks.json:stop:0:0"]
trusted_hash = "{stop}"

[hooks.state."/home/alice/.codex/hooks.json:stop:00:0"]
trusted_hash = "{stop}"

[hooks.state."/home/alice/.codex/config.toml:stop:0:0"]
enabled = false

[hooks.state."/home/alice/src/app/.codex/hooks.json:stop:0:0"]
trusted_hash = "sha256:project"
"#
    );
    let (before, portable_hooks) = portable(ALICE, &config, Some(hooks));
    let mut doc = before.clone();
    let report = rekey_trust(&mut doc, portable_hooks.as_ref(), &alice(), &bob()).unwrap();
    let k = |rest: &str| format!("${{codexHome}}/{rest}");
    assert_eq!(
        report,
        TrustRekey {
            rekeyed: vec![k("hooks.json:session_start:0:0"), k("hooks.json:stop:0:0")],
            untrusted: vec![
                untrusted(&k("hooks.json:session_start:0:1"), UntrustedReason::Stale),
                untrusted(&k("hooks.json:session_start:0:7"), UntrustedReason::NoHandler),
                untrusted(&k("hooks.json:no_such_event:0:0"), UntrustedReason::NoHandler),
                untrusted(&k("hooks.json:stop:00:0"), UntrustedReason::NoHandler),
                untrusted(&k("config.toml:stop:0:0"), UntrustedReason::NoHash),
            ],
            carried: vec!["${home}/src/app/.codex/hooks.json:stop:0:0".into()],
        }
    );
    // One line changed: x.sh's hash, with its comment; `enabled = false` stays.
    let (b, a) = (before.to_string(), doc.to_string());
    let changed: Vec<(&str, &str)> = b.lines().zip(a.lines()).filter(|(b, a)| b != a).collect();
    assert_eq!(b.lines().count(), a.lines().count());
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(changed[0].1.ends_with("\" # alice trusted x.sh"), "{changed:?}");

    let mut follower_hooks = portable_hooks.unwrap();
    expand_json(&mut follower_hooks, &bob()).unwrap();
    expand_toml(&mut doc, &bob()).unwrap();
    let valid = trust_entries("/home/bob/.codex/hooks.json", &follower_hooks);
    let key = |rest: &str| format!("/home/bob/.codex/hooks.json:{rest}");
    let hash_of = |rest: &str| valid.iter().find(|(k, _)| *k == key(rest)).unwrap().1.clone();
    assert_eq!(
        state_hash(&doc, &key("session_start:0:0")),
        Some(hash_of("session_start:0:0"))
    );
    assert_ne!(hash_of("session_start:0:0"), x, "the command changed, so did the hash");
    assert_eq!(
        doc["hooks"]["state"][key("session_start:0:0")]["enabled"].as_bool(),
        Some(false)
    );
    assert_eq!(
        state_hash(&doc, &key("stop:0:0")),
        Some(stop),
        "no master path: same hash"
    );
    assert_ne!(
        state_hash(&doc, &key("session_start:0:1")),
        Some(hash_of("session_start:0:1"))
    );
    assert_eq!(state_hash(&doc, "/home/alice/src/app/.codex/hooks.json:stop:0:0"), None);
    assert_eq!(
        state_hash(&doc, "/home/bob/src/app/.codex/hooks.json:stop:0:0").as_deref(),
        Some("sha256:project"),
        "other sources only get their key expanded"
    );
}

#[test]
fn a_stale_hash_that_would_trust_the_follower_hook_is_removed() {
    let hooks = alice_hooks();
    let mut bobs = alice_hooks();
    portable_json(&mut bobs, &master_paths(ALICE));
    expand_json(&mut bobs, &bob()).unwrap();
    // e.g. a config.toml copied from bob's machine: it trusts bob's command, not alice's.
    let bobs_hash = alice_hash(&bobs, "SessionStart", 0, 0);
    let config = format!(
        "[hooks.state.\"/home/alice/.codex/hooks.json:session_start:0:0\"]\ntrusted_hash = \"{bobs_hash}\"\nenabled = true\n"
    );
    let (mut doc, portable_hooks) = portable(ALICE, &config, Some(hooks));
    let report = rekey_trust(&mut doc, portable_hooks.as_ref(), &alice(), &bob()).unwrap();
    let key = "${codexHome}/hooks.json:session_start:0:0";
    assert_eq!(report.untrusted, [untrusted(key, UntrustedReason::Stale)]);
    assert_eq!(state_hash(&doc, key), None);
    assert_eq!(doc["hooks"]["state"][key]["enabled"].as_bool(), Some(true));
}

#[test]
fn inline_config_hooks_and_inline_state_entries_are_rekeyed() {
    let config = r#"[hooks]
PreToolUse = [{ matcher = "Edit|Write", hooks = [{ type = "command", command = "python3 /home/alice/.codex/check.py", timeout = 10 }] }]

[[hooks.Stop]]
[[hooks.Stop.hooks]]
command = "/home/alice/.codex/stop.sh"
statusMessage = "in /home/alice"

[hooks.state]
"/home/alice/.codex/config.toml:pre_tool_use:0:0" = { trusted_hash = "PRE", enabled = true }
"/home/alice/.codex/config.toml:stop:0:0".trusted_hash = "STOP"
"/home/alice/.codex/hooks.json:stop:0:0".trusted_hash = "STOP"
"#;
    let pre = |home: &str| {
        let command = format!("python3 {home}/.codex/check.py");
        th(
            "PreToolUse",
            Some("Edit|Write"),
            json!({"type": "command", "command": command, "timeout": 10}),
        )
    };
    let stop = |home: &str| {
        let (command, message) = (format!("{home}/.codex/stop.sh"), format!("in {home}"));
        th("Stop", None, json!({"command": command, "statusMessage": message}))
    };
    let config = config.replace("PRE", &pre(ALICE)).replace("STOP", &stop(ALICE));
    let (mut doc, _) = portable(ALICE, &config, None);
    let report = rekey_trust(&mut doc, None, &alice(), &bob()).unwrap();
    assert_eq!(
        report.rekeyed,
        [
            "${codexHome}/config.toml:pre_tool_use:0:0",
            "${codexHome}/config.toml:stop:0:0"
        ]
    );
    assert_eq!(
        report.untrusted,
        [untrusted(
            "${codexHome}/hooks.json:stop:0:0",
            UntrustedReason::NoHandler
        )],
        "no hooks.json"
    );
    expand_toml(&mut doc, &bob()).unwrap();
    let hash = |event: &str| state_hash(&doc, &format!("/home/bob/.codex/config.toml:{event}:0:0"));
    assert_eq!(hash("pre_tool_use"), Some(pre("/home/bob")));
    assert_eq!(hash("stop"), Some(stop("/home/bob")));
    let text = doc.to_string();
    assert!(text.contains(", enabled = true }"), "{text}");
    assert!(
        text.contains("\"/home/bob/.codex/config.toml:stop:0:0\".trusted_hash = "),
        "{text}"
    );
}

#[test]
fn variables_the_master_cannot_rebuild_stay_untrusted_and_the_follower_must_know_them() {
    let hooks = json!({"hooks": {"SessionStart": [{"hooks": [
        {"type": "command", "command": "${workspaceRoot}/x.sh"}
    ]}]}});
    let config = "[hooks.state.\"${codexHome}/hooks.json:session_start:0:0\"]\ntrusted_hash = \"sha256:1\"\n";
    let mut doc: DocumentMut = config.parse().unwrap();
    let mut with_root = bob();
    with_root.insert("workspaceRoot".into(), "/w".into());
    let report = rekey_trust(&mut doc, Some(&hooks), &alice(), &with_root).unwrap();
    assert_eq!(
        report.untrusted,
        [untrusted(
            "${codexHome}/hooks.json:session_start:0:0",
            UntrustedReason::Unverifiable
        )]
    );
    assert_eq!(doc.to_string(), config);

    let err = rekey_trust(&mut doc, Some(&hooks), &alice(), &bob()).unwrap_err();
    let want = "hooks.json: unknown variable `${workspaceRoot}` in `hooks.SessionStart[0].hooks[0].command` \
                (the hook of `hooks.state.\"${codexHome}/hooks.json:session_start:0:0\"`)";
    assert_eq!(err.to_string(), want);
    assert!(matches!(err, TrustError::Expand { file: HOOKS_JSON, .. }));
}

#[test]
fn keys_name_exactly_the_masters_two_sources() {
    let hooks = target("${codexHome}/hooks.json:stop:1:2");
    assert_eq!(hooks, Some((HOOKS_JSON, Some(("stop", 1, 2)))));
    let config = target("${codexHome}/config.toml:pre_tool_use:0:0");
    assert_eq!(config, Some((CONFIG_TOML, Some(("pre_tool_use", 0, 0)))));
    for malformed in ["stop:+1:0", "stop:0", "stop:0:0:0", "stop:0:x", ""] {
        assert_eq!(
            target(&format!("${{codexHome}}/hooks.json:{malformed}")),
            Some((HOOKS_JSON, None))
        );
    }
    for other in [
        "${codexHome}/hooks.json.bak:stop:0:0",
        "${home}/.codex/x/hooks.json:stop:0:0",
        "/etc/codex/hooks.json:stop:0:0",
    ] {
        assert_eq!(target(other), None, "{other}");
    }
    let mut empty = DocumentMut::new();
    assert_eq!(
        rekey_trust(&mut empty, None, &bob(), &bob()).unwrap(),
        TrustRekey::default()
    );
}
