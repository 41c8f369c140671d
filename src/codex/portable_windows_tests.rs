//! Windows paths: master-side forms and boundaries, follower-side styled expansion.

use super::*;

pub(super) fn alice_win() -> MasterPaths {
    MasterPaths {
        home: r"C:\Users\alice".into(),
        codex_home: r"C:\Users\alice\.codex".into(),
        variables: Default::default(),
    }
}

pub(super) fn vars(home: &str, codex_home: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("home".into(), home.into()), ("codexHome".into(), codex_home.into())])
}

fn check(master: &MasterPaths, cases: &[(&str, Option<&str>)]) {
    for (input, want) in cases {
        assert_eq!(portable_str(input, master).as_deref(), *want, "input {input:?}");
    }
}

#[test]
fn windows_spellings_match() {
    check(
        &alice_win(),
        &[
            (r"C:\Users\alice\src\app", Some("${home}/src/app")),
            ("C:/Users/alice/src", Some("${home}/src")),
            (r"C:\Users/alice\src", Some("${home}/src")),
            (r"C:/Users\alice/src\x", Some("${home}/src/x")),
            (r"c:\users\Alice", Some("${home}")),
            (r"C:\USERS\ALICE\.Codex\hooks\x.ps1", Some("${codexHome}/hooks/x.ps1")),
            (r"\\?\C:\Users\alice\repo", Some(r"\\?\${home}/repo")),
            (r"\\?\c:/users/alice", Some(r"\\?\${home}")),
            (r"\\?\C:\Users\alice\.codex", Some(r"\\?\${codexHome}")),
            (r"C:\Users\alice\", Some("${home}/")),
            (r"C:\Users\alice\.codex", Some("${codexHome}")),
            (r"C:\Users\alice\.codex2\x", Some("${home}/.codex2/x")),
            (r"C:\Users\alice\..\bob", Some("${home}/../bob")),
        ],
    );
}

#[test]
fn windows_boundaries_and_no_false_positives() {
    check(
        &alice_win(),
        &[
            (r"C:\Users\alicex", None),
            (r"C:\Users\alice.old", None),
            (r"C:\Users\alice2\x", None),
            (r"C:\Users\alic", None),
            (r"D:\Users\alice", None),
            (r"xC:\Users\alice", None),
            (r"1C:\Users\alice", None),
            (r"\C:\Users\alice", None),
            ("/C:/Users/alice", None),
            ("file:///C:/Users/alice", None),
            (r"$C:\Users\alice", None),
            (r"x\\?\C:\Users\alice", None),
            (r"$\\?\C:\Users\alice", None),
            (r"\\?\C:\Users\alicex", None),
            (r"\\?\D:\Users\alice", None),
            (r"C:\Users\\alice", None),
            (r"C:Users\alice", None),
            (r"C:\Program Files\alice", None),
            ("/home/alice", None),
            ("", None),
        ],
    );
}

#[test]
fn separators_convert_only_within_the_path() {
    check(
        &alice_win(),
        &[
            (r"C:\Users\alice\My Documents\x", Some(r"${home}/My Documents\x")),
            (r#""C:\Users\alice\a b" c\d"#, Some(r#""${home}/a b" c\d"#)),
            (r"'C:\Users\alice\x'\y", Some(r"'${home}/x'\y")),
            (
                r"C:\Users\alice\.codex\hooks.json:session_start:0:0",
                Some("${codexHome}/hooks.json:session_start:0:0"),
            ),
            (
                r"PATH=C:\Users\alice\bin;C:\Users\alice\.cargo\bin;C:\Windows",
                Some(r"PATH=${home}/bin;${home}/.cargo/bin;C:\Windows"),
            ),
            (r"--root=C:\Users\alice\src,D:\x", Some(r"--root=${home}/src,D:\x")),
            (
                r"node C:\Users\alice\AppData\npm\node_modules\@scope\pkg\c++\i.js --x=a\b",
                Some(r"node ${home}/AppData/npm/node_modules/@scope/pkg/c++/i.js --x=a\b"),
            ),
            (r"C:\Users\alice\${X}\y", Some(r"${home}/$${X}\y")),
            (r"C:\Users\alice\x(1)\y", Some(r"${home}/x(1)\y")),
            (r"C:\Users\alice\x:C:\Users\alice\y", Some("${home}/x:${home}/y")),
            (r"ünï C:\Users\alice\ü\ö ä\ö", Some(r"ünï ${home}/ü/ö ä\ö")),
            (
                r"\\?\C:\Users\alice\x \\?\C:\Users\alice\.codex\y",
                Some(r"\\?\${home}/x \\?\${codexHome}/y"),
            ),
            (r"${X};C:\Users\alice\${Y}", Some(r"$${X};${home}/$${Y}")),
        ],
    );
}

#[test]
fn master_path_spellings_and_unicode_case() {
    for home in [
        r"C:\Users\alice",
        r"c:/users/alice/",
        r"\\?\C:\Users\alice\",
        r"C:\Users\\alice\\",
    ] {
        let m = MasterPaths {
            home: home.into(),
            codex_home: format!(r"{home}\.codex"),
            variables: Default::default(),
        };
        check(
            &m,
            &[
                (r"C:\Users\Alice\x", Some("${home}/x")),
                (r"C:\Users\alice\.codex\y", Some("${codexHome}/y")),
                (r"C:\Users\alicex", None),
            ],
        );
    }
    let m = MasterPaths {
        home: r"C:\Users\Ålice".into(),
        codex_home: r"D:\codex".into(),
        variables: Default::default(),
    };
    check(
        &m,
        &[
            (r"c:\users\ålice\x", Some("${home}/x")),
            (r"d:/CODEX/y", Some("${codexHome}/y")),
            (r"C:\Users\Alice", None),
        ],
    );
    // A drive root is never rewritten; a POSIX home next to a Windows codex_home keeps its rules.
    let m = MasterPaths {
        home: "/home/alice".into(),
        codex_home: r"C:\".into(),
        variables: Default::default(),
    };
    check(&m, &[(r"C:\x", None), (r"/home/alice\x", Some(r"${home}\x"))]);
    let m = MasterPaths {
        home: "/home/alice/\\".into(),
        codex_home: "c:".into(),
        variables: Default::default(),
    };
    check(&m, &[("/home/alice/x", Some("${home}/x")), ("c:x", None)]);
}

#[test]
fn posix_master_backslash_and_verbatim() {
    let m = MasterPaths {
        home: "/home/alice".into(),
        codex_home: "/home/alice/.codex".into(),
        variables: Default::default(),
    };
    check(
        &m,
        &[
            (r"/home/alice\sub", Some(r"${home}\sub")),
            (r"x\/home/alice", Some(r"x\${home}")),
            // `\\?\${..}` is reserved for Windows verbatim paths.
            (r"\\?\/home/alice", None),
            (r"a\\?\/home/alice/x", None),
            (r"\\?\ /home/alice", Some(r"\\?\ ${home}")),
        ],
    );
}

#[test]
fn path_style() {
    assert_eq!(
        PathStyle::native(),
        if cfg!(windows) {
            PathStyle::Windows
        } else {
            PathStyle::Posix
        }
    );
    for (p, want) in [
        (r"C:\x", Some(PathStyle::Windows)),
        ("c:/x", Some(PathStyle::Windows)),
        (r"\\?\C:\x", Some(PathStyle::Windows)),
        (r"\\srv\share", Some(PathStyle::Windows)),
        ("/home/bob", Some(PathStyle::Posix)),
        ("//srv/share", Some(PathStyle::Posix)),
        ("C:x", None),
        ("x/y", None),
        ("", None),
    ] {
        assert_eq!(PathStyle::of(p), want, "{p:?}");
    }
}

fn exp(s: &str, v: &BTreeMap<String, String>, style: PathStyle) -> String {
    expand_str_styled(s, v, style).unwrap()
}

#[test]
fn expand_on_windows_follower() {
    let mut v = vars(r"C:\Users\bob", r"C:\Users\bob\.codex");
    v.insert("data".into(), r"D:\data".into());
    v.insert("word".into(), "abc".into());
    v.insert("posix".into(), "/opt/x".into());
    let w = PathStyle::Windows;
    for (s, want) in [
        ("${home}/src/app", r"C:\Users\bob\src\app"),
        ("${home}", r"C:\Users\bob"),
        ("${home}/", r"C:\Users\bob\"),
        ("${home}/a b/c", r"C:\Users\bob\a b/c"),
        (
            "${codexHome}/hooks.json:session_start:0:0",
            r"C:\Users\bob\.codex\hooks.json:session_start:0:0",
        ),
        (r"\\?\${home}/repo", r"\\?\C:\Users\bob\repo"),
        ("${home}/x;${codexHome}/y", r"C:\Users\bob\x;C:\Users\bob\.codex\y"),
        ("${home}/$${X}/y", r"C:\Users\bob\${X}/y"),
        ("${home}/@s/c++/i.js", r"C:\Users\bob\@s\c++\i.js"),
        (r"${home}\sub", r"C:\Users\bob\sub"),
        ("x/${home}/y", r"x/C:\Users\bob\y"),
        ("${data}/x", r"D:\data\x"),
        ("${word}/x", "abc/x"),
        ("${posix}/x", "/opt/x/x"),
        ("${home}${word}/x", r"C:\Users\bobabc/x"),
        ("a/b", "a/b"),
        (r"a\\?\b", r"a\\?\b"),
        (r"\\?\$${home}", r"\\?\${home}"),
    ] {
        assert_eq!(exp(s, &v, w), want, "{s:?}");
    }
    // The verbatim prefix and the value's own form.
    for (home, want) in [
        ("C:/Users/bob", r"\\?\C:\Users\bob\x"),
        (r"\\?\C:\Users\bob", r"\\?\C:\Users\bob\x"),
        (r"\\srv\share\bob", r"\\?\UNC\srv\share\bob\x"),
        (r"\\.\C:\bob", r"\\.\C:\bob\x"),
        ("bob", r"\\?\bob\x"),
    ] {
        assert_eq!(exp(r"\\?\${home}/x", &vars(home, "c"), w), want, "{home:?}");
    }
}

#[test]
fn expand_on_posix_follower() {
    let v = vars("/home/bob", "/home/bob/.codex");
    let p = PathStyle::Posix;
    for (s, want) in [
        (r"\\?\${home}/repo", "/home/bob/repo"),
        (r"\\?\${codexHome}", "/home/bob/.codex"),
        (r"${home}\sub", r"/home/bob\sub"),
        (r"a\\?\b", r"a\\?\b"),
        (r"\\?\x${home}", r"\\?\x/home/bob"),
        (r"\\?\$${home}", r"\\?\${home}"),
        (r"x \\?\${home}/a\b", r"x /home/bob/a\b"),
    ] {
        assert_eq!(exp(s, &v, p), want, "{s:?}");
        assert_eq!(expand_str(s, &v).unwrap(), exp(s, &v, PathStyle::native()), "{s:?}");
    }
    assert_eq!(
        expand_str_styled("${nope}/x", &v, PathStyle::Windows).unwrap_err(),
        ExpandError::UnknownVariable {
            key: String::new(),
            variable: "nope".into()
        }
    );
    assert_eq!(
        expand_str_styled(r"\\?\${home", &v, PathStyle::Windows).unwrap_err(),
        ExpandError::Unterminated { key: String::new() }
    );
}

#[path = "portable_windows_roundtrip_tests.rs"]
mod roundtrip;
