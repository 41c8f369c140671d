//! crates.io via cargo, end to end (issue 5): the Rust MCP server `mcp-server-time` (crate,
//! built on rmcp) installed on the master with `cargo install --locked --root ~/.cargo`,
//! inferred from `~/.cargo/.crates2.json`, installed on the follower by codexport with
//! `cargo install --locked <crate>@<version> --root mcp-artifacts/cargo/<crate>@<version>`,
//! launched by `codexport mcp run` and answering `initialize` and `tools/list`.
//!
//! Both installs share one `CARGO_TARGET_DIR` (a temp dir of this test) so the crate is compiled
//! once (about a minute on two cores); the follower's install is still the real `cargo install`
//! run by codexport, which resolves, checks and copies the binary into the artifact root.
//! `CARGO_HOME` and `RUSTUP_HOME` point at this machine's real toolchain (the machines' HOMEs
//! are temp dirs, where the rustup proxy would find no toolchain); `--root` keeps every install
//! out of them.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::Machine;
use common::mcp::{McpClient, McpPair, launcher, path_with, required_tool};

const CRATE: &str = "mcp-server-time";
const VERSION: &str = "0.3.0";

/// The real `CARGO_HOME` / `RUSTUP_HOME` of the test process (rustup's defaults under HOME).
fn toolchain_env() -> [(&'static str, PathBuf); 2] {
    let home = PathBuf::from(std::env::var_os("HOME").expect("HOME is set for the test process"));
    let dir = |var: &str, default: &str| std::env::var_os(var).map_or_else(|| home.join(default), PathBuf::from);
    [
        ("CARGO_HOME", dir("CARGO_HOME", ".cargo")),
        ("RUSTUP_HOME", dir("RUSTUP_HOME", ".rustup")),
    ]
}

#[test]
fn cargo_installed_server_runs_on_the_follower() {
    let Some(cargo) = required_tool("cargo", "install Rust with https://rustup.rs") else {
        return;
    };
    let target = tempfile::tempdir().unwrap();
    let toolchain = toolchain_env();

    let master = Machine::new();
    let status = Command::new(&cargo)
        .args(["install", "--locked", &format!("{CRATE}@{VERSION}"), "--root"])
        .arg(master.home.join(".cargo"))
        .envs(toolchain.iter().map(|(k, v)| (*k, v)))
        .env("CARGO_TARGET_DIR", target.path())
        .status()
        .unwrap();
    assert!(status.success(), "cargo install on the master failed");
    let bin = master.home.join(".cargo/bin").join(CRATE);
    assert!(bin.is_file(), "cargo made no binary at {}", bin.display());

    let config = "[mcp_servers.clock]\ncommand = \"{home}/.cargo/bin/mcp-server-time\"\nstartup_timeout_sec = 20\n";
    let pair = McpPair::new(master, config);
    let artifact = &pair.published_servers()["clock"]["artifact"];
    assert_eq!(
        artifact,
        &serde_json::json!({"kind": "cargo", "crate": CRATE, "version": VERSION, "bin": CRATE})
    );
    let status = pair.master.ok(&["master", "status"]).stdout;
    assert!(status.contains(&format!("cargo {CRATE}@{VERSION}")), "{status}");

    let f = &pair.follower;
    let path = path_with(&[&cargo]);
    // Reconcile with installs left manual (tests/common): the config points at the launcher,
    // and the server is listed as not ready until its artifact is installed.
    f.ok(&["reconcile"]);
    let config = fs_err::read_to_string(f.codex_home.join("config.toml")).unwrap();
    let config: toml::Table = toml::from_str(&config).unwrap();
    let clock = &config["mcp_servers"]["clock"];
    let launcher_path = f.codexport_home.join("bin/codexport");
    assert_eq!(clock["command"].as_str(), launcher_path.to_str(), "{clock}");
    assert_eq!(clock["args"], toml::Value::from(vec!["mcp", "run", "clock"]), "{clock}");
    assert_eq!(clock["startup_timeout_sec"].as_integer(), Some(20), "{clock}");
    let before = f.run(&["mcp", "list"]);
    assert_ne!(before.code, 0, "a server that is not installed is not ready");
    assert!(
        before.stdout.contains("NOT READY"),
        "{}{}",
        before.stdout,
        before.stderr
    );
    let mut install = f.command(&["mcp", "install", "clock"]);
    install
        .env("PATH", &path)
        .envs(toolchain.iter().map(|(k, v)| (*k, v)))
        .env("CARGO_TARGET_DIR", target.path());
    let out = common::Run::from_output(install.output().unwrap()).expect_code(0);
    assert!(out.stdout.contains("clock: installed"), "{}", out.stdout);
    let installed = f
        .codexport_home
        .join(format!("mcp-artifacts/cargo/{CRATE}@{VERSION}/bin/{CRATE}"));
    assert!(installed.is_file(), "{}", installed.display());
    assert!(
        !f.home.join(".cargo").exists(),
        "the follower's own ~/.cargo must stay untouched"
    );
    let listed = f.ok(&["mcp", "list", "--output", "json"]).stdout;
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let clock = listed
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == "clock"))
        .unwrap_or_else(|| panic!("no clock in {listed}"));
    assert_eq!(clock["ready"], true, "{clock}");

    // Codex spawns the launcher with a cleared environment: no cargo, no toolchain needed now.
    let mut client = McpClient::spawn(launcher(f, "clock", &path_with(&[])));
    let init = client.initialize();
    assert!(init["serverInfo"]["name"].is_string(), "{init}");
    let tools = client.request("tools/list", serde_json::json!({}));
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"get_current_time"), "{tools}");
    assert!(names.contains(&"convert_time"), "{tools}");
}
