//! One named test per fuzzing finding: the input (or the family it stands for) and the
//! behaviour now required. The raw crash inputs are in `tests/fuzz_regressions/<target>/` and
//! run through the fuzz properties by `tests/fuzz_seeds.rs`.

use codexport::exit::{Exit, ExitStatus};
use codexport::follower::enrollment::JoinLink;

/// Finding (join_link seeds, before the fuzzer ran): `host=` was pasted into
/// `http://{host}:{port}`, so `host=evil.example/x?` gave the master URL
/// `http://evil.example/x?:80` (port 80, a path and a query) and `host=a@b` gave user info.
/// Now `host=` must be a host name or address, and `--master` only scheme, host and port.
#[test]
fn join_link_host_cannot_become_a_path_query_or_user_info() {
    let fp = "ab".repeat(32);
    for host in ["evil.example%2Fx%3F", "a%40b", "h%23frag", "a%3A1", "a%20b", ""] {
        let link = format!("codexport://join?host={host}&port=80&fingerprint={fp}&token=t");
        let err = JoinLink::parse(&link).unwrap_err();
        assert_eq!(err.exit(), Exit::Usage, "{host}: {err}");
    }
    for url in [
        "http://u@h:1",
        "http://u:p@h:1",
        "http://h:1/x",
        "http://h:1?q",
        "http://h:1#f",
    ] {
        assert_eq!(JoinLink::new(url, &fp, "t").unwrap_err().exit(), Exit::Usage, "{url}");
    }
    let ok = JoinLink::parse(&format!(
        "codexport://join?host=%3A%3A1&port=7&fingerprint={fp}&token=t"
    ))
    .unwrap();
    assert_eq!(ok.master_url, "http://[::1]:7");
    let ok = JoinLink::parse(&format!(
        "codexport://join?host=Master.Local&port=7&fingerprint={fp}&token=t"
    ))
    .unwrap();
    assert_eq!(ok.master_url, "http://master.local:7");
    assert_eq!(JoinLink::new("http://h:1/", &fp, "t").unwrap().master_url, "http://h:1");
}

/// Finding (config_portable, after a few seconds; not a codexport bug): toml_edit does not
/// print every text it parses back byte for byte: a CR before the LF that ends a comment is
/// dropped and a missing final newline is added. So the master publishes config.toml with those
/// normalised; every key, value and comment is kept. The fuzz property was too strict and now
/// says: when `portable_toml` rewrites nothing, the document prints exactly as toml_edit printed
/// the original.
#[test]
fn config_rewrite_with_nothing_to_rewrite_prints_like_toml_edit() {
    use codexport::codex::portable::{MasterPaths, portable_toml};
    let text = "# a comment\r\n\n# more\nurl = \"http://localhost:9121/mcp\"";
    let original: toml_edit::DocumentMut = text.parse().unwrap();
    assert_eq!(
        original.to_string(),
        "# a comment\n\n# more\nurl = \"http://localhost:9121/mcp\"\n"
    );
    let mut doc = original.clone();
    let master = MasterPaths {
        home: "/home/alice".into(),
        codex_home: "/home/alice/.codex".into(),
        variables: Default::default(),
    };
    assert_eq!(portable_toml(&mut doc, &master), 0);
    assert_eq!(doc.to_string(), original.to_string());
}

/// Finding (config_portable, JSON side, after about a minute): serde_json's default float
/// parser is not correctly rounded, so a hooks.json number such as 84 fives changed value by
/// one unit in the last place each time it was parsed and printed (master publish, follower
/// render). serde_json's `float_roundtrip` feature is now on.
#[test]
fn hooks_json_numbers_survive_parse_and_print() {
    let text = "5".repeat(84);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let again: serde_json::Value = serde_json::from_str(&serde_json::to_string_pretty(&v).unwrap()).unwrap();
    assert_eq!(again, v);
}

/// Finding (config_portable, after about a minute): expansion inserts `${codexHome}` as given,
/// and the roots kept a trailing slash from the environment (`std::path::absolute` keeps it),
/// so `CODEX_HOME=/h/.codex/` rendered `${codexHome}/hooks.json` as `/h/.codex//hooks.json`,
/// which no longer matches Codex's trust keys. Roots now never end in `/`: here the master
/// records its home and CODEX_HOME without one.
#[test]
fn roots_from_the_environment_have_no_trailing_slash() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let codex_home = home.join(".codex");
    codexport::example::write_master_basic(&codex_home, &home).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_codexport"))
        .args(["master", "init"])
        .env("HOME", format!("{}/", home.display()))
        .env("CODEX_HOME", format!("{}//", codex_home.display()))
        .env("CODEXPORT_HOME", format!("{}/.codexport/", home.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let state = fs_err::read(home.join(".codexport/master/state.yaml")).unwrap();
    let doc = codexport::follower::validate::validate_document(&state).unwrap();
    assert_eq!(doc.metadata.master.home, home.display().to_string());
    assert_eq!(doc.metadata.master.codex_home, codex_home.display().to_string());
}
