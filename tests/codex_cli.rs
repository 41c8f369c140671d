//! Generated Codex files checked by the real Codex CLI (`@openai/codex@0.169.0`):
//! `codex mcp list --json` on the follower must see what Codex sees on the master.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Machine, Pair, codex_bin};

fn mcp_list(codex: &Path, machine: &Machine) -> serde_json::Value {
    let out = Command::new(codex)
        .args(["mcp", "list", "--json"])
        .env("HOME", &machine.home)
        .env("CODEX_HOME", &machine.codex_home)
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "codex mcp list failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn names(list: &serde_json::Value) -> Vec<String> {
    let mut n: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

#[test]
fn codex_sees_the_same_mcp_servers_on_the_follower_with_follower_paths() {
    let Some(codex) = codex_bin() else { return };
    let pair = Pair::applied();
    let on_master = mcp_list(&codex, &pair.master);
    let on_follower = mcp_list(&codex, &pair.follower);
    assert_eq!(names(&on_follower), ["context7", "fetch", "filesystem", "github"]);
    let launcher = pair.follower.codexport_home.join("bin/codexport").display().to_string();
    let master_home = pair.master.home.display().to_string();
    let follower_home = pair.follower.home.display().to_string();
    for (m, f) in on_master
        .as_array()
        .unwrap()
        .iter()
        .zip(on_follower.as_array().unwrap())
    {
        let name = f["name"].as_str().unwrap();
        if m["transport"]["type"] == "stdio" {
            assert_eq!(
                f["transport"]["command"],
                launcher.as_str(),
                "{name} runs through the launcher"
            );
            assert_eq!(f["transport"]["args"], serde_json::json!(["mcp", "run", name]));
            assert_eq!(
                f["transport"]["env"]["CODEXPORT_HOME"],
                pair.follower.codexport_home.display().to_string()
            );
            for key in ["enabled", "startup_timeout_sec", "tool_timeout_sec", "disabled_reason"] {
                assert_eq!(f[key], m[key], "{name}: {key} is kept");
            }
        } else {
            let expected: serde_json::Value =
                serde_json::from_str(&m.to_string().replace(&master_home, &follower_home)).unwrap();
            assert_eq!(f, &expected, "URL servers stay as they are");
        }
    }
    assert!(
        std::path::Path::new(&launcher).is_file(),
        "InstallSelf put the launcher in place"
    );
    let manifest = pair.follower.codexport_home.join("mcp-manifest.json");
    assert_eq!(codexport::fs::mode_of(&fs_err::metadata(&manifest).unwrap()), 0o600);
}

/// Expected MCP server names per corpus config, as the real Codex CLI 0.169.0 reports them.
fn corpus_expectations() -> Vec<(String, Vec<String>)> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let tsv = fs_err::read_to_string(corpus.join("codex-0.169.0-mcp-names.tsv")).unwrap();
    tsv.lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            (cols.get(1) == Some(&"yes")).then(|| {
                let names = cols
                    .get(2)
                    .map(|c| c.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect())
                    .unwrap_or_default();
                (cols[0].to_string(), names)
            })
        })
        .collect()
}

#[test]
fn every_real_world_corpus_config_replicates_and_codex_agrees_on_its_mcp_servers() {
    let codex = codex_bin();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/configs");
    let master = Machine::new();
    fs_err::write(master.codex_home.join("config.toml"), "").unwrap();
    master.ok(&["master", "init"]);
    let server = master.serve();
    let follower = Machine::new();
    follower.ok(&["follower", "join", &master.link(&server, "corpus")]);
    let expectations = corpus_expectations();
    assert_eq!(expectations.len(), 20);
    for (file, expected) in expectations {
        fs_err::copy(corpus.join(&file), master.codex_home.join("config.toml")).unwrap();
        master.ok(&["master", "rebuild"]);
        let status: serde_json::Value =
            serde_json::from_str(&master.ok(&["master", "status", "--output", "json"]).stdout).unwrap();
        let published: Vec<String> = status["mcpServers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect();
        let mut sorted_expected = expected.clone();
        sorted_expected.sort();
        assert_eq!(
            published, sorted_expected,
            "{file}: codexport's MCP manifest disagrees with Codex"
        );
        follower.ok(&["reconcile"]);
        let written = fs_err::read_to_string(follower.codex_home.join("config.toml")).unwrap();
        let original = fs_err::read_to_string(corpus.join(&file)).unwrap();
        let written_table: toml::Table = toml::from_str(&written).unwrap();
        let expected = common::with_launcher(&original, &follower);
        for comment in original.lines().map(str::trim).filter(|l| l.starts_with('#')) {
            assert!(written.contains(comment), "{file}: the comment {comment:?} was lost");
        }
        let has_command_servers = written_table
            .get("mcp_servers")
            .and_then(|s| s.as_table())
            .is_some_and(|s| s.values().any(|v| v.get("command").is_some() && v.get("url").is_none()));
        if !has_command_servers {
            assert_eq!(
                written, original,
                "{file}: a config without command servers or master paths arrives byte-identical"
            );
        }
        assert_eq!(
            written_table, expected,
            "{file}: only command servers change (to the launcher)"
        );
        if let Some(codex) = &codex {
            assert_eq!(names(&mcp_list(codex, &follower)), sorted_expected, "{file}");
        }
    }
}
