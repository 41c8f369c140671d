use super::*;
use std::path::Path;

fn alice() -> MasterPaths {
    MasterPaths {
        home: "/home/alice".into(),
        codex_home: "/home/alice/.codex".into(),
        variables: Default::default(),
    }
}

fn vars(home: &str, codex_home: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("home".into(), home.into()), ("codexHome".into(), codex_home.into())])
}

fn check(master: &MasterPaths, cases: &[(&str, Option<&str>)]) {
    for (input, want) in cases {
        assert_eq!(portable_str(input, master).as_deref(), *want, "input {input:?}");
    }
}

#[test]
fn prefixes_and_boundaries() {
    check(
        &alice(),
        &[
            ("/home/alice/.codex/hooks/x.sh", Some("${codexHome}/hooks/x.sh")),
            ("/home/alice/src", Some("${home}/src")),
            ("/home/alice", Some("${home}")),
            ("/home/alice/", Some("${home}/")),
            ("/home/alice/.codex", Some("${codexHome}")),
            ("/home/alice/.codex2/x", Some("${home}/.codex2/x")),
            ("/home/alice/.codex.bak", Some("${home}/.codex.bak")),
            ("/home/alice2/x", None),
            ("/home/alice.old", None),
            ("/opt/home/alice/x", None),
            ("x/home/alice", None),
            ("~/home/alice", None),
            ("/home/alic", None),
            ("", None),
            ("/home/alice/.local/bin:/usr/bin", Some("${home}/.local/bin:/usr/bin")),
            ("--root=/home/alice/src", Some("--root=${home}/src")),
            (
                "bash '/home/alice/.codex/x.sh' session",
                Some("bash '${codexHome}/x.sh' session"),
            ),
            ("\"/home/alice\"", Some("\"${home}\"")),
            ("/home/alice/home/alice", Some("${home}/home/alice")),
            (
                "/home/alice/.codex/hooks.json:stop:0:0",
                Some("${codexHome}/hooks.json:stop:0:0"),
            ),
            ("ünï /home/alice/ü", Some("ünï ${home}/ü")),
        ],
    );
}

#[test]
fn several_occurrences_are_all_replaced() {
    check(
        &alice(),
        &[
            (
                "/home/alice/a:/home/alice/.codex/b /home/alice,/home/alice2",
                Some("${home}/a:${codexHome}/b ${home},/home/alice2"),
            ),
            (
                "PATH=/home/alice/bin:/home/alice/.cargo/bin",
                Some("PATH=${home}/bin:${home}/.cargo/bin"),
            ),
        ],
    );
}

#[test]
fn escaping_of_dollar_brace() {
    check(
        &alice(),
        &[
            ("${HOME}/x", Some("$${HOME}/x")),
            ("$${x}", Some("$$${x}")),
            ("${home}", Some("$${home}")),
            ("${/home/alice}", Some("$${${home}}")),
            ("$HOME/x", None),
            ("$", None),
            ("$$", None),
            ("a$", None),
            // `$` + `${home}` would read back as the escape `$${`: left alone.
            ("$/home/alice", None),
            ("${X}:/home/alice", Some("$${X}:${home}")),
        ],
    );
}

#[test]
fn trailing_slashes_root_and_empty() {
    let slashed = MasterPaths {
        home: "/home/alice//".into(),
        codex_home: "/home/alice/.codex/".into(),
        variables: Default::default(),
    };
    check(
        &slashed,
        &[
            ("/home/alice/x", Some("${home}/x")),
            ("/home/alice/.codex/y", Some("${codexHome}/y")),
        ],
    );
    let root = MasterPaths {
        home: "/".into(),
        codex_home: "/srv/codex".into(),
        variables: Default::default(),
    };
    check(
        &root,
        &[
            ("/usr/bin", None),
            ("/", None),
            ("/srv/codex/x", Some("${codexHome}/x")),
        ],
    );
    let empty = MasterPaths {
        home: String::new(),
        codex_home: String::new(),
        variables: Default::default(),
    };
    check(&empty, &[("/usr/bin", None), ("${x}", Some("$${x}"))]);
}

#[test]
fn codex_home_outside_home() {
    let m = MasterPaths {
        home: "/home/alice".into(),
        codex_home: "/srv/codex".into(),
        variables: Default::default(),
    };
    check(
        &m,
        &[
            ("/srv/codex/x", Some("${codexHome}/x")),
            ("/home/alice/.codex/x", Some("${home}/.codex/x")),
            ("/srv/codexx", None),
            ("/srv/codex:/home/alice", Some("${codexHome}:${home}")),
        ],
    );
}

#[test]
fn expand_str_rules() {
    let v = vars("/Users/bob", "/Users/bob/.codex");
    assert_eq!(expand_str("${home}/x", &v).unwrap(), "/Users/bob/x");
    assert_eq!(
        expand_str("${codexHome}${home}", &v).unwrap(),
        "/Users/bob/.codex/Users/bob"
    );
    assert_eq!(
        expand_str("$${home} $HOME $ $$ a$", &v).unwrap(),
        "${home} $HOME $ $$ a$"
    );
    assert_eq!(expand_str("$$${home}", &v).unwrap(), "$${home}");
    let odd = BTreeMap::from([("a".to_owned(), "${b}".to_owned())]);
    assert_eq!(
        expand_str("${a}", &odd).unwrap(),
        "${b}",
        "values are not expanded again"
    );
    let err = expand_str("x ${nope} y", &v).unwrap_err();
    assert_eq!(
        err,
        ExpandError::UnknownVariable {
            key: String::new(),
            variable: "nope".into()
        }
    );
    assert_eq!(err.to_string(), "unknown variable `${nope}`");
    assert_eq!(
        expand_str("a ${home", &v).unwrap_err(),
        ExpandError::Unterminated { key: String::new() }
    );
}

#[test]
fn round_trip_property() {
    let m = alice();
    let v = vars(&m.home, &m.codex_home);
    let frags = [
        "${",
        "$${",
        "$",
        "$HOME",
        "{",
        "}",
        "/home/alice",
        "/.codex",
        "/x",
        ":",
        "2",
        "${home}",
        " ",
        "'",
        "ü",
    ];
    let mut n = 0;
    for a in frags {
        for b in frags {
            for c in frags {
                for d in frags {
                    let s = [a, b, c, d].concat();
                    let p = portable_str(&s, &m).unwrap_or_else(|| s.clone());
                    assert_eq!(expand_str(&p, &v).unwrap(), s, "portable form {p:?}");
                    n += 1;
                }
            }
        }
    }
    assert_eq!(n, frags.len().pow(4));
    // With another follower's paths the master prefixes are replaced.
    let other = vars("/Users/bob", "/Users/bob/Library/codex");
    for (s, want) in [
        (
            "/home/alice/.codex/x:/home/alice/y",
            "/Users/bob/Library/codex/x:/Users/bob/y",
        ),
        ("${VAR} $${ $ $HOME /home/alice", "${VAR} $${ $ $HOME /Users/bob"),
        ("/home/alice2 $/home/alice", "/home/alice2 $/home/alice"),
    ] {
        let p = portable_str(s, &m).unwrap_or_else(|| s.to_owned());
        assert_eq!(expand_str(&p, &other).unwrap(), want, "input {s:?}");
    }
}

const DOC: &str = r#"# top comment
model = "o3" # trailing

notify = ["/home/alice/.codex/notify.sh", "done"]   # notifier
hooks.state."/home/alice/.codex/config.toml:stop:0:0".trusted_hash = "sha256:ab"

[projects."/home/alice/src/app"]   # the app
trust_level = "trusted"

# untouched project
[projects."/opt/work"]
trust_level = "untrusted"

[projects.'/home/alice']
trust_level = "trusted"

[mcp_servers.fs]
command = "npx"
args = ["-y", "/home/alice/mcp", { root = "/home/alice/src", "/home/alice/k" = 1, z = 2 }]
env = { PATH = "/home/alice/.local/bin:/usr/bin", TOKEN = "${GITHUB_TOKEN}" }
win = '/home/alice\sub'
text = """
cd /home/alice
"""

[[hooks.SessionStart]]
[[hooks.SessionStart.hooks]]
command = "bash '/home/alice/.codex/x.sh' session"
"#;

const PORTABLE: &str = r#"# top comment
model = "o3" # trailing

notify = ["${codexHome}/notify.sh", "done"]   # notifier
hooks.state."${codexHome}/config.toml:stop:0:0".trusted_hash = "sha256:ab"

[projects."${home}/src/app"]   # the app
trust_level = "trusted"

# untouched project
[projects."/opt/work"]
trust_level = "untrusted"

[projects."${home}"]
trust_level = "trusted"

[mcp_servers.fs]
command = "npx"
args = ["-y", "${home}/mcp", { root = "${home}/src", "${home}/k" = 1, z = 2 }]
env = { PATH = "${home}/.local/bin:/usr/bin", TOKEN = "$${GITHUB_TOKEN}" }
win = '${home}\sub'
text = """
cd ${home}
"""

[[hooks.SessionStart]]
[[hooks.SessionStart.hooks]]
command = "bash '${codexHome}/x.sh' session"
"#;

#[test]
fn toml_rewrite_keeps_layout() {
    let mut doc: DocumentMut = DOC.parse().unwrap();
    assert_eq!(portable_toml(&mut doc, &alice()), 12);
    assert_eq!(doc.to_string(), PORTABLE);
    let reparsed: DocumentMut = doc.to_string().parse().unwrap();
    assert_eq!(reparsed["mcp_servers"]["fs"]["win"].as_str(), Some(r"${home}\sub"));
    let names: BTreeSet<String> = ["codexHome", "home"].map(String::from).into();
    assert_eq!(variables_in_toml(&doc), names);

    assert_eq!(
        expand_toml(&mut doc, &vars("/home/alice", "/home/alice/.codex")).unwrap(),
        12
    );
    let want = DOC.replace("'/home/alice']", "\"/home/alice\"]");
    assert_eq!(doc.to_string(), want);
}

#[test]
fn expand_to_other_paths_and_literal_backslash() {
    let mut doc: DocumentMut = DOC.parse().unwrap();
    portable_toml(&mut doc, &alice());
    expand_toml(&mut doc, &vars("/Users/b o\"b", "/Users/b o\"b/.codex")).unwrap();
    let out = doc.to_string();
    let back: DocumentMut = out.parse().unwrap();
    assert_eq!(back["mcp_servers"]["fs"]["win"].as_str(), Some(r#"/Users/b o"b\sub"#));
    assert_eq!(
        back["mcp_servers"]["fs"]["env"]["TOKEN"].as_str(),
        Some("${GITHUB_TOKEN}")
    );
    assert!(
        back["projects"]
            .as_table()
            .unwrap()
            .contains_key(r#"/Users/b o"b/src/app"#)
    );
    // New reprs are toml_edit's defaults (literal or multi-line where `"` needs it); decor stays.
    assert!(
        out.contains(r#"[projects.'/Users/b o"b/src/app']   # the app"#),
        "{out}"
    );
    assert!(
        out.contains(r#"command = """bash '/Users/b o"b/.codex/x.sh' session""""#),
        "{out}"
    );
}

#[test]
fn expand_errors_name_key_and_variable() {
    let v = vars("/h", "/h/.codex");
    let cases = [
        (
            "[mcp_servers.fs]\nargs = [\"a\", \"${nope}/x\"]\n",
            "mcp_servers.fs.args[1]",
            Some("nope"),
        ),
        (
            "[projects.\"${hme}/x\"]\ntrust_level = \"trusted\"\n",
            "projects.\"${hme}/x\"",
            Some("hme"),
        ),
        (
            "[[hooks.Stop]]\n[[hooks.Stop.hooks]]\ncommand = \"${home\"\n",
            "hooks.Stop[0].hooks[0].command",
            None,
        ),
        ("t = { a = { b = [\"${x}\"] } }\n", "t.a.b[0]", Some("x")),
    ];
    for (src, key, var) in cases {
        let mut doc: DocumentMut = src.parse().unwrap();
        let err = expand_toml(&mut doc, &v).unwrap_err();
        let want = match var {
            Some(var) => ExpandError::UnknownVariable {
                key: key.into(),
                variable: var.into(),
            },
            None => ExpandError::Unterminated { key: key.into() },
        };
        assert_eq!(err, want, "{src}");
        assert!(err.to_string().contains(key));
    }
    let mut dup: DocumentMut = "[projects.\"${home}\"]\n[projects.\"/h\"]\n".parse().unwrap();
    let err = expand_toml(&mut dup, &v).unwrap_err();
    assert_eq!(
        err,
        ExpandError::DuplicateKey {
            key: "projects.\"/h\"".into()
        }
    );
}

#[test]
fn variables_are_collected_from_values_and_keys() {
    let doc: DocumentMut = "a = \"${x} $${y} ${z\"\n[t.\"${k}\"]\nb = [{ c = \"${w}\" }]\n"
        .parse()
        .unwrap();
    let want: BTreeSet<String> = ["k", "w", "x"].map(String::from).into();
    assert_eq!(variables_in_toml(&doc), want);
}

/// All strings and keys of a document, in document order.
fn strings(doc: &DocumentMut) -> Vec<String> {
    let mut out = Vec::new();
    let mut f = |s: &str| -> Result<Option<String>, ExpandError> {
        out.push(s.to_owned());
        Ok(None)
    };
    walk_toml(&mut doc.clone(), &mut f).unwrap();
    out
}

/// The most used `/home/<u>` or `/Users/<u>` that starts a path in the strings.
fn detect_home(all: &[String]) -> Option<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for s in all {
        for root in ["/home/", "/Users/"] {
            for (i, _) in s.match_indices(root) {
                if s[..i].chars().next_back().is_some_and(is_path_char) {
                    continue;
                }
                let rest = &s[i + root.len()..];
                let user: String = rest.chars().take_while(|&c| is_path_char(c) && c != '/').collect();
                if !user.is_empty() {
                    *counts.entry(format!("{root}{user}")).or_default() += 1;
                }
            }
        }
    }
    counts.into_iter().max_by_key(|(_, n)| *n).map(|(h, _)| h)
}

#[test]
fn corpus_round_trip() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/configs");
    let (mut parsed, mut with_home) = (0, 0);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let Ok(original) = text.parse::<DocumentMut>() else {
            continue;
        };
        parsed += 1;
        let name = path.display();
        assert_eq!(original.to_string(), text, "{name}");
        let before = strings(&original);
        let home = detect_home(&before).unwrap_or_else(|| "/home/nobody-here".into());
        let master = MasterPaths {
            codex_home: format!("{home}/.codex"),
            home: home.clone(),
            variables: Default::default(),
        };
        let mut doc = original.clone();
        let n = portable_toml(&mut doc, &master);
        if n == 0 {
            assert_eq!(
                doc.to_string(),
                text,
                "{name}: nothing to rewrite must be byte-identical"
            );
        } else {
            with_home += usize::from(before.iter().any(|s| s.contains(&home)));
        }
        assert!(strings(&doc).iter().all(|s| !s.contains(&home)), "{name}: {home} left");
        let m = expand_toml(&mut doc, &vars(&home, &master.codex_home)).unwrap();
        assert_eq!(m, n, "{name}");
        assert_eq!(strings(&doc), before, "{name}");
        let again: DocumentMut = doc.to_string().parse().unwrap();
        assert_eq!(strings(&again), before, "{name}");
        assert_eq!(doc.to_string(), text, "{name}: round trip changed formatting");
    }
    assert!(parsed >= 20, "only {parsed} corpus configs parsed");
    assert!(with_home >= 10, "only {with_home} corpus configs use a home");
}

#[test]
fn corpus_hooks_json() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/other/NullSense__dotfiles__home_.codex_hooks.json");
    let text = std::fs::read_to_string(path).unwrap();
    let original: serde_json::Value = serde_json::from_str(&text).unwrap();
    let master = MasterPaths {
        home: "/home/nullsense".into(),
        codex_home: "/home/nullsense/.codex".into(),
        variables: Default::default(),
    };
    let mut v = original.clone();
    assert_eq!(portable_json(&mut v, &master), 2);
    let start = &v["hooks"]["SessionStart"][0]["hooks"][0]["command"];
    assert_eq!(start, "bash '${codexHome}/herdr-agent-state.sh' session");
    assert_eq!(
        v["hooks"]["Stop"][1]["hooks"][0]["command"],
        "${home}/.local/bin/plannotator"
    );
    assert_eq!(
        v["hooks"]["Stop"][0]["hooks"][0]["command"],
        "bash $HOME/.claude/hooks/attention.sh clear codex"
    );
    let out = serde_json::to_string_pretty(&v).unwrap();
    assert!(!out.contains("/home/nullsense"));
    assert_eq!(expand_json(&mut v, &vars(&master.home, &master.codex_home)).unwrap(), 2);
    assert_eq!(serde_json::to_string_pretty(&v).unwrap(), text.trim_end());
    assert_eq!(v, original);
}

#[test]
fn json_key_rename_keeps_order_and_reports_path() {
    let mut v = serde_json::json!({"a": 1, "/home/alice/x": {"k": ["${v}"]}, "z": 2});
    assert_eq!(portable_json(&mut v, &alice()), 2);
    assert_eq!(v.to_string(), r#"{"a":1,"${home}/x":{"k":["$${v}"]},"z":2}"#);
    let err = expand_json(&mut v, &BTreeMap::new()).unwrap_err();
    assert_eq!(
        err,
        ExpandError::UnknownVariable {
            key: "\"${home}/x\"".into(),
            variable: "home".into()
        }
    );
    let mut dup = serde_json::json!({"${home}": 1, "/h": 2});
    let err = expand_json(&mut dup, &vars("/h", "/c")).unwrap_err();
    assert_eq!(err, ExpandError::DuplicateKey { key: "\"/h\"".into() });
}
