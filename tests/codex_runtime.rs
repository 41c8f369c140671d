//! Everything a real Codex writes into its CODEX_HOME for itself is runtime state to codexport
//! (`codexport::codex::layout::is_runtime_state`): never published, never managed, never
//! offered by the publish hint. Runs the real `codex exec` (CODEX_BIN: `.ci/run` runs this
//! with the oldest supported and the newest Codex) against a model provider on 127.0.0.1 that
//! answers every request with HTTP 400, so the run ends in under a second having created what
//! a session creates (SQLite databases, `sessions/`, `shell_snapshots/`, `skills/.system/`,
//! `thread-writer-locks/`, `.tmp/`, ...).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

use codexport::codex::layout::is_runtime_state;
use common::{Machine, codex_bin};

/// A model provider that refuses every request (HTTP 400, JSON error); serves until the test
/// process ends (a thread, no child process).
fn refusing_provider() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length.min(1 << 24)];
            let _ = reader.read_exact(&mut body);
            let answer = br#"{"error":{"message":"refused by the test provider","type":"invalid_request_error"}}"#;
            let mut stream = reader.into_inner();
            let head = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                answer.len()
            );
            let _ = stream
                .write_all(head.as_bytes())
                .and_then(|()| stream.write_all(answer));
        }
    });
    port
}

/// The config.toml lines that send `codex exec` to `port`, with no retries.
fn provider_config(port: u16) -> String {
    format!(
        "model_provider = \"refusing\"\n\n[model_providers.refusing]\nname = \"refusing\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\nwire_api = \"responses\"\nrequest_max_retries = 0\nstream_max_retries = 0\n"
    )
}

/// Run one `codex exec` session on `m` (its HOME and CODEX_HOME, no API key), bounded by
/// `timeout`; returns its stderr.
fn codex_session(codex: &Path, m: &Machine) -> String {
    let out = Command::new("timeout")
        .args(["-k", "2", "60"])
        .arg(codex)
        .args(["exec", "--skip-git-repo-check", "hi"])
        .current_dir(&m.home)
        .env("HOME", &m.home)
        .env("CODEX_HOME", &m.codex_home)
        .env_remove("OPENAI_API_KEY")
        .env_remove("CODEX_API_KEY")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_ne!(
        out.status.code(),
        Some(124),
        "codex exec did not end within 60 s:\n{stderr}"
    );
    stderr
}

/// Every path (files and directories) below `root`, relative, `/`-separated.
fn paths(root: &Path) -> Vec<String> {
    walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .map(|e| e.unwrap().path().strip_prefix(root).unwrap().display().to_string())
        .collect()
}

#[test]
fn everything_a_codex_session_creates_is_classified_as_runtime_state() {
    let Some(codex) = codex_bin() else { return };
    let m = Machine::new();
    fs_err::write(m.codex_home.join("config.toml"), provider_config(refusing_provider())).unwrap();
    let stderr = codex_session(&codex, &m);
    let created = paths(&m.codex_home);
    assert!(
        created.iter().any(|p| p == "sessions") && created.iter().any(|p| p.starts_with("skills/.system/")),
        "the session ran (sessions/ and Codex's own skills were written): {created:?}\n{stderr}"
    );
    let unknown: Vec<&String> = created
        .iter()
        .filter(|p| p.as_str() != "config.toml" && p.as_str() != "skills" && !is_runtime_state(p))
        .collect();
    assert!(
        unknown.is_empty(),
        "Codex created entries codexport does not classify (add them to src/codex/layout.rs): {unknown:?}"
    );
}

#[test]
fn codex_own_files_never_travel_and_a_followers_codex_run_changes_nothing() {
    let Some(codex) = codex_bin() else { return };
    let port = refusing_provider();
    let master = Machine::with_example();
    let config = fs_err::read_to_string(master.codex_home.join("config.toml")).unwrap();
    fs_err::write(
        master.codex_home.join("config.toml"),
        format!("{}{config}", provider_config(port)),
    )
    .unwrap();
    fs_err::create_dir_all(master.codex_home.join("skills/mine")).unwrap();
    fs_err::write(
        master.codex_home.join("skills/mine/SKILL.md"),
        "---\nname: mine\ndescription: the master's own skill\n---\nDo it.\n",
    )
    .unwrap();
    codex_session(&codex, &master);
    assert!(master.codex_home.join("skills/.system").is_dir());

    let published = master.ok(&["master", "init"]).stdout;
    let hint = published
        .lines()
        .find(|l| l.contains("not included"))
        .unwrap_or_default();
    for entry in [
        "sessions",
        "packages",
        "skills/.system",
        ".tmp",
        "thread-writer-locks",
        "installation_id",
    ] {
        assert!(
            !hint.contains(entry),
            "the hint offers runtime state {entry}: {published}"
        );
    }
    let server = master.serve();
    let follower = Machine::new();
    follower.ok(&["follower", "join", &master.link(&server, "f"), "--apply"]);
    let travelled: Vec<String> = paths(&follower.codex_home)
        .into_iter()
        .filter(|p| is_runtime_state(p))
        .collect();
    assert!(travelled.is_empty(), "runtime state travelled: {travelled:?}");
    assert!(
        !follower.codex_home.join("skills/.system").exists(),
        "Codex's own skills stay on the master"
    );
    assert!(
        follower.codex_home.join("skills/mine/SKILL.md").is_file(),
        "the master's own skill did"
    );

    // The follower's Codex writes its own skills/.system and databases (another Codex version
    // writes another marker): nothing to reconcile.
    codex_session(&codex, &follower);
    let marker = follower.codex_home.join("skills/.system/.codex-system-skills.marker");
    assert!(marker.is_file());
    fs_err::write(&marker, "another Codex version").unwrap();
    let plan = follower.ok(&["plan", "--output", "json"]).stdout;
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(plan["summary"]["create"], 0, "{plan:#}");
    assert_eq!(plan["summary"]["update"], 0, "{plan:#}");
    assert_eq!(plan["summary"]["delete"], 0, "{plan:#}");
    let generations = || paths(&follower.codexport_home.join("generations")).len();
    let before = generations();
    follower.ok(&["reconcile"]);
    assert_eq!(generations(), before, "no new generation");
    drop(server);
}

#[test]
fn runtime_state_an_older_codexport_managed_is_released_never_removed() {
    // An older codexport published Codex's own skills/.system: the follower's inventory names
    // them. Now the master no longer publishes them; the follower must not delete what its
    // Codex wrote, only stop managing it.
    let pair = common::Pair::applied();
    let f = &pair.follower;
    let own = f.codex_home.join("skills/.system/imagegen/SKILL.md");
    fs_err::create_dir_all(own.parent().unwrap()).unwrap();
    fs_err::write(&own, "Codex's bundled skill").unwrap();
    let path = f.codexport_home.join("inventory.json");
    let mut inventory: serde_json::Value = serde_json::from_slice(&fs_err::read(&path).unwrap()).unwrap();
    inventory["files"]["skills/.system/imagegen/SKILL.md"] = serde_json::json!({
        "sha256": codexport::fs::sha256_hex(b"Codex's bundled skill"),
        "mode": 0o644,
    });
    fs_err::write(&path, serde_json::to_vec(&inventory).unwrap()).unwrap();

    let plan = f.ok(&["plan"]).stdout;
    assert!(plan.contains("Codex runtime state"), "{plan}");
    let plan: serde_json::Value = serde_json::from_str(&f.ok(&["plan", "--output", "json"]).stdout).unwrap();
    assert_eq!(plan["summary"]["delete"], 0, "{plan:#}");
    f.ok(&["reconcile"]);
    assert_eq!(fs_err::read_to_string(&own).unwrap(), "Codex's bundled skill");
}
