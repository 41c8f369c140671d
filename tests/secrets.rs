//! Secrets: file modes of everything that holds a token, a key or a Codex credential, and a
//! canary secret that must never reach any command's output.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{Machine, Pair, Run};

const CANARY: &str = "sk-canary-6f1d2e3c4b5a";

fn mode(p: &Path) -> u32 {
    fs_err::metadata(p).unwrap().permissions().mode() & 0o777
}

/// A master whose auth.json, .credentials.json, an MCP `env` value and an MCP header hold the
/// canary; initialised and serving, with a follower joined.
fn canary_pair() -> Pair {
    let master = Machine::with_example();
    let auth = format!("{{\"OPENAI_API_KEY\": \"{CANARY}\", \"tokens\": null}}");
    fs_err::write(master.codex_home.join("auth.json"), auth).unwrap();
    fs_err::write(
        master.codex_home.join(".credentials.json"),
        format!("{{\"mcp\": {{\"refresh\": \"{CANARY}\"}}}}"),
    )
    .unwrap();
    let mut config = fs_err::read_to_string(master.codex_home.join("config.toml")).unwrap();
    config.push_str(&format!(
        "\n[mcp_servers.canary]\ncommand = \"npx\"\nargs = [\"-y\", \"@example/canary-mcp@1.0.0\"]\nenv = {{ CANARY_KEY = \"{CANARY}\" }}\n\n\
         [mcp_servers.canary_web]\nurl = \"https://mcp.example.invalid/v1\"\nhttp_headers = {{ \"X-Api-Key\" = \"{CANARY}\" }}\n"
    ));
    fs_err::write(master.codex_home.join("config.toml"), config).unwrap();
    master.ok(&["master", "init"]);
    let server = master.serve();
    let link = master.link(&server, "canary");
    let follower = Machine::new();
    Pair {
        master,
        server,
        follower,
        link,
    }
}

fn assert_clean(what: &str, run: &Run, token: &str) {
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(!text.contains(CANARY), "{what} leaked the canary on {stream}:\n{text}");
        assert!(!text.contains(token), "{what} leaked the token on {stream}:\n{text}");
    }
}

#[test]
fn no_command_output_shows_a_secret_value_or_the_token() {
    let pair = canary_pair();
    let token = pair.link.split("token=").nth(1).unwrap().to_string();
    let f = &pair.follower;
    let join = f.ok(&["follower", "join", &pair.link]);
    assert_clean("join", &join, &token);
    for format in ["text", "json", "yaml"] {
        let plan = f.ok(&["plan", "--output", format]);
        assert!(!plan.stdout.is_empty());
        assert_clean(&format!("plan --output {format}"), &plan, &token);
    }
    assert_clean("apply --dry-run", &f.ok(&["apply", "--dry-run"]), &token);
    assert_clean("apply", &f.ok(&["apply"]), &token);
    assert_eq!(
        fs_err::read_to_string(f.codex_home.join("auth.json")).unwrap(),
        fs_err::read_to_string(pair.master.codex_home.join("auth.json")).unwrap(),
        "the secret did travel, only the output hides it"
    );
    for args in [
        &["status"][..],
        &["status", "--output", "json"],
        &["status", "--output", "yaml"],
        &["sync"],
        &["reconcile"],
        &["plan", "--detailed-exitcode"],
    ] {
        assert_clean(&format!("{args:?}"), &f.run(args), &token);
    }
    // A failing command: the master refuses a wrong token; the error names no secret.
    let forged = pair.link.replace(&token, "cxp_0000");
    let refused = Machine::new().run(&["follower", "join", &forged]).expect_code(5);
    assert_clean("refused join", &refused, &token);
    assert!(!refused.stderr.contains("cxp_0000"), "{}", refused.stderr);

    let m = &pair.master;
    for args in [
        &["master", "status"][..],
        &["master", "status", "--output", "json"],
        &["master", "followers"],
        &["master", "followers", "--output", "yaml"],
        &["master", "rebuild"],
    ] {
        assert_clean(&format!("{args:?}"), &m.run(args), &token);
    }
    for root in [&f.codexport_home, &m.codexport_home] {
        for e in walkdir::WalkDir::new(root).into_iter().map(Result::unwrap) {
            let rel = e.path().strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if e.file_type().is_file() && (rel.starts_with("logs") || rel.ends_with(".json") && !rel.contains("blobs"))
            {
                let text = String::from_utf8_lossy(&fs_err::read(e.path()).unwrap()).into_owned();
                assert!(!text.contains(&token), "{rel} holds the token in clear");
            }
        }
    }
}

#[test]
fn secret_bearing_files_are_0600_and_private_dirs_0700() {
    let pair = canary_pair();
    let f = &pair.follower;
    f.ok(&["follower", "join", &pair.link, "--apply"]);
    f.ok(&["sync"]);
    let m = &pair.master;
    m.ok(&["master", "init", "--rotate-key"]);

    let fh = &f.codexport_home;
    assert_eq!(
        mode(&fh.join("enrollment.toml")),
        0o600,
        "enrollment.toml holds the token"
    );
    assert_eq!(mode(fh), 0o700);
    assert_eq!(mode(&fh.join("store")), 0o700);
    assert_eq!(mode(&fh.join("store/state.yaml")), 0o600);
    assert_eq!(mode(&fh.join("store/blobs")), 0o700);
    for e in walkdir::WalkDir::new(fh.join("store/blobs")).min_depth(1) {
        let e = e.unwrap();
        let want = if e.file_type().is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(e.path()), want, "{}", e.path().display());
    }
    assert_eq!(mode(&f.codex_home.join("auth.json")), 0o600);
    assert_eq!(mode(&f.codex_home.join(".credentials.json")), 0o600);

    let md = m.codexport_home.join("master");
    assert_eq!(mode(&md), 0o700);
    for name in ["identity.key", "tokens.json", "state.yaml", "followers-seen.json"] {
        let p = md.join(name);
        if name == "followers-seen.json" {
            // Flushed by the server within 2 s of the follower's requests.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while !p.exists() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        assert_eq!(mode(&p), 0o600, "{name}");
    }
    let old_keys: Vec<_> = fs_err::read_dir(&md)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("identity.key.old-")
        })
        .collect();
    assert_eq!(old_keys.len(), 1);
    assert_eq!(mode(&old_keys[0]), 0o600, "a rotated key stays private");
    for e in walkdir::WalkDir::new(md.join("blobs"))
        .into_iter()
        .chain(walkdir::WalkDir::new(md.join("history")))
    {
        let e = e.unwrap();
        let want = if e.file_type().is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(e.path()), want, "{}", e.path().display());
    }
}

#[test]
fn a_failing_apply_shows_no_secret_and_backups_of_secrets_are_0600() {
    let pair = canary_pair();
    let token = pair.link.split("token=").nth(1).unwrap().to_string();
    let (m, f) = (&pair.master, &pair.follower);
    f.ok(&["follower", "join", &pair.link, "--apply"]);
    let auth = format!("{{\"OPENAI_API_KEY\": \"{CANARY}-rotated\", \"tokens\": null}}");
    fs_err::write(m.codex_home.join("auth.json"), auth).unwrap();
    m.ok(&["master", "rebuild"]);
    f.ok(&["sync"]);

    // A file where the backups directory must be: the apply fails (before any write; a
    // failure mid-apply is in tests/crash.rs, which needs the failpoints build).
    let backups = f.codexport_home.join("backups");
    if backups.exists() {
        fs_err::remove_dir_all(&backups).unwrap();
    }
    fs_err::write(&backups, "in the way").unwrap();
    let failed = f.run(&["apply"]).expect_code(1);
    assert_clean("failing apply", &failed, &token);
    assert!(failed.stderr.contains("backups"), "{}", failed.stderr);
    assert!(
        !fs_err::read_to_string(f.codex_home.join("auth.json"))
            .unwrap()
            .contains("rotated"),
        "nothing applied"
    );

    fs_err::remove_file(&backups).unwrap();
    assert_clean("apply", &f.ok(&["apply"]), &token);
    let copies: Vec<_> = walkdir::WalkDir::new(&backups)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_name() == "auth.json")
        .collect();
    assert_eq!(copies.len(), 1, "the replaced auth.json was backed up");
    assert_eq!(mode(copies[0].path()), 0o600, "a backup of a secret is 0600");
    for dir in walkdir::WalkDir::new(&backups).into_iter().map(Result::unwrap) {
        if dir.file_type().is_dir() {
            assert_eq!(mode(dir.path()), 0o700, "{}", dir.path().display());
        }
    }
}

/// config.toml whose secrets are in the shapes issue 20 found unredacted: a URL query value
/// (`token=`, `api_key=`), a `query_params` key with a hyphen and a `--token=` argument of
/// `notify`; `tag` changes every value.
fn config_with_secrets_in_odd_places(tag: &str) -> String {
    format!(
        "model = \"gpt-5\"\nnotify = [\"/bin/echo\", \"--token={CANARY}-notify-{tag}\", \"--api-key\", \"turn-ended\"]\n\n\
         [mcp_servers.web]\nurl = \"https://mcp.example.invalid/mcp?token={CANARY}-url-{tag}\"\n\n\
         [mcp_servers.web2]\nurl = \"https://mcp.example.invalid/mcp?x=1&api_key={CANARY}-apikey-{tag}#f\"\n\n\
         [mcp_servers.web3]\nurl = \"https://mcp.example.invalid/mcp\"\nquery_params = {{ \"api-key\" = \"{CANARY}-qp-{tag}\", \"Client-Secret\" = \"{CANARY}-cs-{tag}\" }}\n"
    )
}

/// hooks.json with a hook command carrying a bearer token and a `--token=` argument.
fn hooks_with_a_bearer(tag: &str) -> String {
    let command = format!(
        "curl -s -H 'Authorization: Bearer {CANARY}-bearer-{tag}' https://hooks.example.invalid --token={CANARY}-hook-{tag}"
    );
    serde_json::json!({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [
        {"type": "command", "command": command, "timeout": 5}
    ]}]}})
    .to_string()
}

#[test]
fn secrets_in_urls_query_params_notify_and_hook_commands_are_redacted() {
    let master = Machine::new();
    let plain = "model = \"gpt-5\"\nnotify = [\"/bin/echo\", \"turn-ended\"]\n\n[mcp_servers.web]\nurl = \"https://mcp.example.invalid/mcp\"\n";
    fs_err::write(master.codex_home.join("config.toml"), plain).unwrap();
    fs_err::write(
        master.codex_home.join("hooks.json"),
        "{\"hooks\": {\"PreToolUse\": []}}",
    )
    .unwrap();
    master.ok(&["master", "init"]);
    let server = master.serve();
    let link = master.link(&server, "odd-places");
    let token = link.split("token=").nth(1).unwrap().to_string();
    let f = Machine::new();
    f.ok(&["follower", "join", &link, "--apply"]);
    assert_eq!(
        mode(&f.codex_home.join("hooks.json")),
        0o644,
        "nothing secret in it yet"
    );

    for tag in ["one", "rotated"] {
        fs_err::write(
            master.codex_home.join("config.toml"),
            config_with_secrets_in_odd_places(tag),
        )
        .unwrap();
        fs_err::write(master.codex_home.join("hooks.json"), hooks_with_a_bearer(tag)).unwrap();
        master.ok(&["master", "rebuild"]);
        f.ok(&["sync"]);
        for format in ["text", "json", "yaml"] {
            let plan = f.ok(&["plan", "--output", format]);
            assert_clean(&format!("{tag}: plan --output {format}"), &plan, &token);
            // The first change adds the lines: the diff shows them, redacted. The second only
            // changes secrets: redacted, both sides are the same and the diff shows nothing.
            if tag == "one" {
                for shown in [
                    "mcp?token=(sensitive)",
                    "&api_key=(sensitive)#f",
                    "--token=(sensitive)",
                    "Bearer (sensitive)",
                ] {
                    assert!(
                        plan.stdout.contains(shown),
                        "{format}: want {shown:?}, the rest shown:\n{}",
                        plan.stdout
                    );
                }
            }
        }
        assert_clean(
            &format!("{tag}: apply --dry-run"),
            &f.ok(&["apply", "--dry-run"]),
            &token,
        );
        assert_clean(&format!("{tag}: apply -vv"), &f.ok(&["apply", "-vv"]), &token);
        let config = fs_err::read_to_string(f.codex_home.join("config.toml")).unwrap();
        assert!(config.contains(&format!("{CANARY}-qp-{tag}")), "the secrets did travel");
        assert_eq!(
            mode(&f.codex_home.join("hooks.json")),
            0o600,
            "hooks.json holds a bearer token"
        );
        assert_eq!(mode(&f.codex_home.join("config.toml")), 0o600);
    }
    for e in walkdir::WalkDir::new(f.codexport_home.join("logs")).min_depth(1) {
        let e = e.unwrap();
        let text = fs_err::read_to_string(e.path()).unwrap();
        assert!(!text.contains(CANARY), "{} holds a secret:\n{text}", e.path().display());
    }
}
