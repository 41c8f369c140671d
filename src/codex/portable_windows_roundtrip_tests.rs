//! Round trips between POSIX and Windows masters and followers, generated and on documents.

use super::super::*;
use super::{alice_win, vars};

const W: PathStyle = PathStyle::Windows;
const P: PathStyle = PathStyle::Posix;

fn alice_posix() -> MasterPaths {
    MasterPaths {
        home: "/home/alice".into(),
        codex_home: "/home/alice/.codex".into(),
        variables: Default::default(),
    }
}

/// Follower paths: bob on POSIX, bob on Windows, alice on Windows (the master's own paths).
fn followers() -> [(BTreeMap<String, String>, PathStyle); 3] {
    [
        (vars("/home/bob", "/home/bob/.codex"), P),
        (vars(r"C:\Users\bob", r"C:\Users\bob\.codex"), W),
        (vars(r"C:\Users\alice", r"C:\Users\alice\.codex"), W),
    ]
}

/// Separators between generated items: none of them is a path or run character.
const SEPS: [&str; 5] = [" ", ";", "'", "\"", ":"];

/// Every `a s b t c` over `items` (input, then the expected output for each follower) and
/// [`SEPS`]: portable on `master`, then expanded for each follower. Returns the case count.
fn generated(master: &MasterPaths, items: &[[&str; 4]]) -> usize {
    let followers = followers();
    let mut n = 0;
    for a in items {
        for b in items {
            for c in items {
                for s in SEPS {
                    for t in SEPS {
                        let join = |i: usize| [a[i], s, b[i], t, c[i]].concat();
                        let input = join(0);
                        let p = portable_str(&input, master).unwrap_or_else(|| input.clone());
                        for (f, (v, style)) in followers.iter().enumerate() {
                            let got = expand_str_styled(&p, v, *style).unwrap();
                            assert_eq!(got, join(f + 1), "input {input:?}, portable {p:?}, follower {f}");
                        }
                        n += 1;
                    }
                }
            }
        }
    }
    n
}

/// Items that are the same everywhere.
const PLAIN: [&str; 8] = [
    "",
    "${X}",
    "$${",
    r"$HOME\a",
    "ü",
    "a/b",
    r"D:\Users\alice\x",
    r"xC:\Users\alice",
];

fn with_plain(mut items: Vec<[&'static str; 4]>) -> Vec<[&'static str; 4]> {
    items.extend(PLAIN.map(|s| [s; 4]));
    items
}

#[test]
fn generated_windows_master_round_trips() {
    let items = with_plain(vec![
        [
            r"C:\Users\alice\src\app",
            "/home/bob/src/app",
            r"C:\Users\bob\src\app",
            r"C:\Users\alice\src\app",
        ],
        ["c:/users/ALICE", "/home/bob", r"C:\Users\bob", r"C:\Users\alice"],
        [
            r"\\?\C:\Users\alice\.codex\x",
            "/home/bob/.codex/x",
            r"\\?\C:\Users\bob\.codex\x",
            r"\\?\C:\Users\alice\.codex\x",
        ],
        [
            r"C:\Users/alice\.codex",
            "/home/bob/.codex",
            r"C:\Users\bob\.codex",
            r"C:\Users\alice\.codex",
        ],
        [r"C:\Users\alicex\y"; 4],
    ]);
    assert_eq!(generated(&alice_win(), &items), 13usize.pow(3) * 25);
}

#[test]
fn generated_posix_master_round_trips() {
    let items = with_plain(vec![
        [
            "/home/alice/src/app",
            "/home/bob/src/app",
            r"C:\Users\bob\src\app",
            r"C:\Users\alice\src\app",
        ],
        [
            "/home/alice/.codex/hooks.json",
            "/home/bob/.codex/hooks.json",
            r"C:\Users\bob\.codex\hooks.json",
            r"C:\Users\alice\.codex\hooks.json",
        ],
        [
            r"/home/alice\sub",
            r"/home/bob\sub",
            r"C:\Users\bob\sub",
            r"C:\Users\alice\sub",
        ],
        [r"\\?\/home/alice"; 4],
        ["/home/alice2"; 4],
    ]);
    assert_eq!(generated(&alice_posix(), &items), 13usize.pow(3) * 25);
}

/// Every concatenation of four fragments.
fn each4(frags: &[&str], mut f: impl FnMut(String)) -> usize {
    let mut n = 0;
    for a in frags {
        for b in frags {
            for c in frags {
                for d in frags {
                    f([*a, b, c, d].concat());
                    n += 1;
                }
            }
        }
    }
    n
}

#[test]
fn exact_round_trip_on_the_same_machine() {
    // Windows -> Windows with the master's own paths: exact when the input spells the master
    // path as the master does and uses `\` after it (the verbatim prefix is kept).
    let m = alice_win();
    let v = vars(&m.home, &m.codex_home);
    let frags = [
        "${",
        "$${",
        "$",
        "{",
        "}",
        r"C:\Users\alice",
        r"\.codex",
        r"\x",
        r"\\?\",
        r"\",
        ";",
        ":",
        "2",
        " ",
        "ü",
    ];
    let n = each4(&frags, |s| {
        let p = portable_str(&s, &m).unwrap_or_else(|| s.clone());
        assert_eq!(expand_str_styled(&p, &v, W).unwrap(), s, "portable form {p:?}");
    });
    assert_eq!(n, frags.len().pow(4));
    // POSIX -> POSIX, now with backslashes and verbatim prefixes around.
    let m = alice_posix();
    let v = vars(&m.home, &m.codex_home);
    let frags = ["${", "$", "/home/alice", "/.codex", r"\\?\", r"\", "/x", "2", " "];
    each4(&frags, |s| {
        let p = portable_str(&s, &m).unwrap_or_else(|| s.clone());
        assert_eq!(expand_str_styled(&p, &v, P).unwrap(), s, "portable form {p:?}");
    });
}

#[test]
fn windows_portable_form_is_stable() {
    // Any spelling: expanding on the master's own Windows machine and making portable again
    // gives the same portable form.
    let m = alice_win();
    let v = vars(&m.home, &m.codex_home);
    let frags = [
        "${",
        "$",
        r"C:\Users\alice",
        "c:/USERS/alice",
        r"\\?\c:\users\alice",
        "/.codex",
        r"\.Codex",
        "/",
        r"\",
        "@",
        ";",
        " ",
        "x",
    ];
    each4(&frags, |s| {
        let p = portable_str(&s, &m).unwrap_or_else(|| s.clone());
        let back = expand_str_styled(&p, &v, W).unwrap();
        let again = portable_str(&back, &m).unwrap_or_else(|| back.clone());
        assert_eq!(again, p, "input {s:?}, expanded {back:?}");
    });
}

const WIN_DOC: &str = r#"# top comment
notify = ['C:\Users\alice\.codex\notify.ps1', "done"]   # notifier
hooks.state.'C:\Users\alice\.codex\hooks.json:session_start:0:0'.trusted_hash = "sha256:ab"

[projects.'C:\Users\alice\repo']   # the repo
trust_level = "trusted"

[projects.'\\?\C:\Users\alice\src\app']
trust_level = "trusted"

[projects."c:/users/alice/lower"]
trust_level = "untrusted"

# not alice's
[projects.'D:\Users\alice']
trust_level = "trusted"

[mcp_servers.fs]
command = 'C:\Users\alice\AppData\Roaming\npm\npx.cmd'
args = ["-y", 'C:\Users\alice\src', { root = 'C:\Users/alice\src' }]
env = { PATH = 'C:\Users\alice\bin;C:\Windows', TOKEN = "${GITHUB_TOKEN}" }
"#;

const WIN_PORTABLE: &str = r#"# top comment
notify = ["${codexHome}/notify.ps1", "done"]   # notifier
hooks.state."${codexHome}/hooks.json:session_start:0:0".trusted_hash = "sha256:ab"

[projects."${home}/repo"]   # the repo
trust_level = "trusted"

[projects.'\\?\${home}/src/app']
trust_level = "trusted"

[projects."${home}/lower"]
trust_level = "untrusted"

# not alice's
[projects.'D:\Users\alice']
trust_level = "trusted"

[mcp_servers.fs]
command = "${home}/AppData/Roaming/npm/npx.cmd"
args = ["-y", "${home}/src", { root = "${home}/src" }]
env = { PATH = '${home}/bin;C:\Windows', TOKEN = "$${GITHUB_TOKEN}" }
"#;

#[test]
fn toml_from_windows_master_keeps_layout() {
    let mut doc: DocumentMut = WIN_DOC.parse().unwrap();
    assert_eq!(portable_toml(&mut doc, &alice_win()), 10);
    assert_eq!(doc.to_string(), WIN_PORTABLE);
    let [posix_bob, win_bob, win_alice] = followers().map(|(v, style)| {
        let mut d = doc.clone();
        assert_eq!(expand_toml_styled(&mut d, &v, style).unwrap(), 10);
        d.to_string()
    });
    // Windows -> Windows: as on the master, the other spelling now in the master's own form.
    let native = WIN_DOC
        .replace(r#""c:/users/alice/lower""#, r"'C:\Users\alice\lower'")
        .replace(r"C:\Users/alice\src", r"C:\Users\alice\src");
    assert_eq!(win_alice, native);
    assert_eq!(win_bob, native.replace(r"C:\Users\alice\", r"C:\Users\bob\"));
    let want_posix = WIN_PORTABLE
        .replace(r"'\\?\${home}/src/app'", r#""${home}/src/app""#)
        .replace("${codexHome}", "/home/bob/.codex")
        .replace("${home}", "/home/bob")
        .replace("$${", "${");
    assert_eq!(posix_bob, want_posix);
    let back: DocumentMut = posix_bob.parse().unwrap();
    assert!(back["projects"].as_table().unwrap().contains_key("/home/bob/src/app"));
}

#[test]
fn colliding_spellings_keep_the_later_key() {
    let src = "[projects.'C:\\Users\\alice\\x']\na = 1\n[projects.\"c:/users/alice/x\"]\nb = 'C:\\Users\\alice'\n";
    let mut doc: DocumentMut = src.parse().unwrap();
    assert_eq!(portable_toml(&mut doc, &alice_win()), 2);
    let want = "[projects.\"${home}/x\"]\na = 1\n[projects.\"c:/users/alice/x\"]\nb = \"${home}\"\n";
    assert_eq!(doc.to_string(), want);
    let mut v = serde_json::json!({"C:\\Users\\alice": 1, "c:\\users\\alice": 2, "k": "C:/Users/alice/x"});
    assert_eq!(portable_json(&mut v, &alice_win()), 2);
    assert_eq!(v.to_string(), r#"{"${home}":1,"c:\\users\\alice":2,"k":"${home}/x"}"#);
    // On a follower, two keys that expand alike are still an error.
    let mut v = serde_json::json!({"${home}/x": 1, "C:\\Users\\bob\\x": 2});
    let err = expand_json_styled(&mut v, &followers()[1].0, W).unwrap_err();
    assert!(matches!(err, ExpandError::DuplicateKey { .. }), "{err:?}");
}

#[test]
fn hooks_json_between_styles() {
    let original = serde_json::json!({"hooks": {"SessionStart": [{"matcher": "startup", "hooks": [
        {"type": "command", "command": "powershell -File C:\\Users\\alice\\.codex\\hooks\\start.ps1 -Log C:/Users/alice/log.txt"},
        {"type": "command", "command": "\\\\?\\C:\\Users\\alice\\bin\\x.exe ${VAR}"}
    ]}]}});
    let mut v = original.clone();
    assert_eq!(portable_json(&mut v, &alice_win()), 2);
    let cmd = |v: &serde_json::Value, i: usize| v["hooks"]["SessionStart"][0]["hooks"][i]["command"].clone();
    assert_eq!(
        cmd(&v, 0),
        "powershell -File ${codexHome}/hooks/start.ps1 -Log ${home}/log.txt"
    );
    assert_eq!(cmd(&v, 1), r"\\?\${home}/bin/x.exe $${VAR}");
    let [posix_bob, win_bob, win_alice] = followers().map(|(vars, style)| {
        let mut d = v.clone();
        assert_eq!(expand_json_styled(&mut d, &vars, style).unwrap(), 2);
        d
    });
    assert_eq!(
        cmd(&posix_bob, 0),
        "powershell -File /home/bob/.codex/hooks/start.ps1 -Log /home/bob/log.txt"
    );
    assert_eq!(cmd(&posix_bob, 1), "/home/bob/bin/x.exe ${VAR}");
    assert_eq!(
        cmd(&win_bob, 0),
        r"powershell -File C:\Users\bob\.codex\hooks\start.ps1 -Log C:\Users\bob\log.txt"
    );
    assert_eq!(cmd(&win_bob, 1), r"\\?\C:\Users\bob\bin\x.exe ${VAR}");
    assert_eq!(cmd(&win_alice, 1), cmd(&original, 1));
}
