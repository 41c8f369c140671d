//! The follower's overlay end to end: local MCP servers, local skills, `overrides/`, path
//! variables, exclusions and bad overlay files, with the real master, the real client and the
//! real Codex CLI.

mod common;

use std::process::Command;

use common::{Machine, Server, codex_bin};

const MASTER_CONFIG: &str = "model = \"gpt-5\"\n\n[mcp_servers.docs]\nurl = \"https://example.com/mcp\"\n\n[mcp_servers.fs]\ncommand = \"npx\"\nargs = [\"-y\", \"@modelcontextprotocol/server-filesystem\", \"/tmp\"]\n";

fn write(root: &std::path::Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs_err::create_dir_all(p.parent().unwrap()).unwrap();
    fs_err::write(p, text).unwrap();
}

fn setup() -> (Machine, Server, Machine) {
    let master = Machine::new();
    write(&master.codex_home, "config.toml", MASTER_CONFIG);
    write(&master.codex_home, "AGENTS.md", "# master rules\n");
    write(
        &master.codex_home,
        "skills/review/SKILL.md",
        "---\nname: review\n---\nmaster\n",
    );
    write(&master.codex_home, "skills/review/references/list.md", "- one\n");
    master.ok(&["master", "init"]);
    let server = master.serve();
    let follower = Machine::new();
    follower.ok(&["follower", "join", &master.link(&server, "laptop")]);
    (master, server, follower)
}

fn config(m: &Machine) -> toml::Table {
    toml::from_str(&fs_err::read_to_string(m.codex_home.join("config.toml")).unwrap()).unwrap()
}

fn read(m: &Machine, rel: &str) -> String {
    fs_err::read_to_string(m.codex_home.join(rel)).unwrap()
}

#[test]
fn local_servers_skills_and_overrides_are_added_and_codex_sees_them() {
    let (_master, _server, follower) = setup();
    let o = &follower.codexport_home;
    write(o, "local.toml", "[pathVariables]\nnotesRoot = \"/srv/notes\"\n");
    write(
        o,
        "mcps.local.toml",
        "[mcp_servers.notes]\ncommand = \"${home}/bin/notes-mcp\"\nargs = [\"--root\", \"${notesRoot}\"]\n",
    );
    write(o, "skills/triage/SKILL.md", "---\nname: triage\n---\nlocal\n");
    write(
        o,
        "overrides/config.toml",
        "model = \"o4-mini\"\n\n[tui]\nanimations = false\n",
    );
    write(o, "overrides/AGENTS.md", "# this machine's rules\n");
    follower.ok(&["reconcile"]);

    let c = config(&follower);
    assert_eq!(c["model"].as_str(), Some("o4-mini"), "the patch wins per key");
    assert_eq!(c["tui"]["animations"].as_bool(), Some(false));
    let notes = &c["mcp_servers"]["notes"];
    assert_eq!(
        notes["command"].as_str().unwrap(),
        follower.home.join("bin/notes-mcp").display().to_string(),
        "local servers run as written, not through the launcher"
    );
    assert_eq!(notes["args"][1].as_str(), Some("/srv/notes"));
    assert_eq!(
        c["mcp_servers"]["docs"]["url"].as_str(),
        Some("https://example.com/mcp")
    );
    assert_eq!(read(&follower, "AGENTS.md"), "# this machine's rules\n");
    assert_eq!(
        read(&follower, "skills/triage/SKILL.md"),
        "---\nname: triage\n---\nlocal\n"
    );
    assert_eq!(read(&follower, "skills/review/references/list.md"), "- one\n");

    if let Some(codex) = codex_bin() {
        let out = Command::new(codex)
            .args(["mcp", "list", "--json"])
            .env("HOME", &follower.home)
            .env("CODEX_HOME", &follower.codex_home)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut names: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["docs", "fs", "notes"]);
    }

    // Removing the overlay gives the master's state back, keeping nothing local behind.
    for dir in ["skills", "overrides"] {
        fs_err::remove_dir_all(o.join(dir)).unwrap();
    }
    fs_err::remove_file(o.join("mcps.local.toml")).unwrap();
    follower.ok(&["reconcile"]);
    let c = config(&follower);
    assert_eq!(c["model"].as_str(), Some("gpt-5"));
    assert!(
        c.get("tui").is_none() && c["mcp_servers"].get("notes").is_none(),
        "{c:?}"
    );
    assert_eq!(read(&follower, "AGENTS.md"), "# master rules\n");
    assert!(!follower.codex_home.join("skills/triage").exists());
}

#[test]
fn a_local_server_with_a_master_name_is_refused_until_allowed() {
    let (_master, _server, follower) = setup();
    write(
        &follower.codexport_home,
        "mcps.local.toml",
        "[mcp_servers.docs]\ncommand = \"my-docs-mcp\"\n",
    );
    let run = follower.run(&["reconcile"]).expect_code(4);
    assert!(
        run.stderr.contains("mcps.local.toml") && run.stderr.contains("`docs`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("allowMcpOverrides = [\"docs\"]"), "{}", run.stderr);
    assert!(!follower.codex_home.join("config.toml").exists(), "nothing written");

    write(
        &follower.codexport_home,
        "local.toml",
        "allowMcpOverrides = [\"docs\"]\n",
    );
    follower.ok(&["reconcile"]);
    let docs = &config(&follower)["mcp_servers"]["docs"];
    assert_eq!(docs["command"].as_str(), Some("my-docs-mcp"));
    assert!(
        docs.get("url").is_none(),
        "the local definition replaces the master's whole"
    );
    let manifest = fs_err::read_to_string(follower.codexport_home.join("mcp-manifest.json")).unwrap();
    assert!(
        !manifest.contains("\"docs\""),
        "a replaced server is not launched from the manifest"
    );
}

#[test]
fn a_local_skill_with_a_master_name_is_refused_until_allowed() {
    let (_master, _server, follower) = setup();
    write(
        &follower.codexport_home,
        "skills/review/SKILL.md",
        "---\nname: review\n---\nmine\n",
    );
    let run = follower.run(&["reconcile"]).expect_code(4);
    assert!(
        run.stderr.contains("skill `review`") && run.stderr.contains("allowSkillOverrides"),
        "{}",
        run.stderr
    );
    write(
        &follower.codexport_home,
        "local.toml",
        "allowSkillOverrides = [\"review\"]\n",
    );
    follower.ok(&["reconcile"]);
    assert_eq!(
        read(&follower, "skills/review/SKILL.md"),
        "---\nname: review\n---\nmine\n"
    );
    assert!(
        !follower.codex_home.join("skills/review/references/list.md").exists(),
        "the local skill replaces the master's whole skill"
    );
}

#[test]
fn bad_overlay_files_stop_the_plan_naming_file_and_line_and_write_nothing() {
    let (_master, _server, follower) = setup();
    let o = &follower.codexport_home;
    write(o, "mcps.local.toml", "[mcp_servers.notes]\ncommand = \"x\"\nargs = [\n");
    let run = follower.run(&["plan"]).expect_code(4);
    assert!(run.stderr.contains("mcps.local.toml:3:"), "{}", run.stderr);

    write(
        o,
        "mcps.local.toml",
        "[mcp_servers.notes]\ncommand = \"${nope}/notes\"\n",
    );
    let run = follower.run(&["reconcile"]).expect_code(4);
    assert!(
        run.stderr.contains("mcp_servers.notes.command") && run.stderr.contains("${nope}"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("[pathVariables]"), "{}", run.stderr);

    fs_err::remove_file(o.join("mcps.local.toml")).unwrap();
    write(o, "local.toml", "allowMcpOverride = [\"docs\"]\n");
    let run = follower.run(&["plan"]).expect_code(4);
    assert!(
        run.stderr.contains("local.toml") && run.stderr.contains("allowMcpOverride"),
        "{}",
        run.stderr
    );
    write(o, "local.toml", "[pathVariables]\nhome = \"/elsewhere\"\n");
    let run = follower.run(&["plan"]).expect_code(4);
    assert!(run.stderr.contains("built in"), "{}", run.stderr);
    assert!(!follower.codex_home.join("config.toml").exists(), "nothing written");
}

#[test]
fn an_excluded_path_is_left_alone_and_no_longer_managed() {
    let (master, _server, follower) = setup();
    follower.ok(&["reconcile"]);
    write(
        &follower.codexport_home,
        "local.toml",
        "exclude = [\"AGENTS.md\", \"skills/review/\"]\n",
    );
    write(&master.codex_home, "AGENTS.md", "# master rules, v2\n");
    write(
        &master.codex_home,
        "skills/review/SKILL.md",
        "---\nname: review\n---\nv2\n",
    );
    master.ok(&["master", "rebuild"]);
    follower.ok(&["sync"]);
    let plan = follower.ok(&["plan"]).stdout;
    assert!(plan.contains("excluded in local.toml"), "{plan}");
    follower.ok(&["reconcile"]);
    assert_eq!(read(&follower, "AGENTS.md"), "# master rules\n");
    assert_eq!(
        read(&follower, "skills/review/SKILL.md"),
        "---\nname: review\n---\nmaster\n"
    );
    let inventory = fs_err::read_to_string(follower.codexport_home.join("inventory.json")).unwrap();
    assert!(
        !inventory.contains("AGENTS.md") && !inventory.contains("skills/review"),
        "{inventory}"
    );

    write(
        &follower.codexport_home,
        "local.toml",
        "exclude = [\"class:nonsense\"]\n",
    );
    let run = follower.run(&["plan"]).expect_code(4);
    assert!(
        run.stderr.contains("unknown class") && run.stderr.contains("hook-script"),
        "{}",
        run.stderr
    );
}

#[test]
fn master_path_variables_expand_from_the_followers_local_toml() {
    let master = Machine::new();
    let work = master.home.join("work");
    write(
        &master.codex_home,
        "config.toml",
        &format!(
            "[projects.\"{}\"]\ntrust_level = \"trusted\"\n\n[mcp_servers.fs]\nurl = \"http://localhost:1/mcp\"\n\n[shell_environment_policy.set]\nPATH = \"{}:/usr/bin\"\n",
            work.join("app").display(),
            work.join("bin").display()
        ),
    );
    master.ok(&["master", "init"]);
    let settings = master.codexport_home.join("master/master.toml");
    let mut text = fs_err::read_to_string(&settings).unwrap();
    text.push_str(&format!("\n[pathVariables]\nworkspaceRoot = \"{}\"\n", work.display()));
    fs_err::write(&settings, text).unwrap();
    master.ok(&["master", "rebuild"]);
    let state = fs_err::read_to_string(master.codexport_home.join("master/state.yaml")).unwrap();
    assert!(state.contains("pathVariables:\n  - workspaceRoot"), "{state}");
    let server = master.serve();
    let follower = Machine::new();
    follower.ok(&["follower", "join", &master.link(&server, "laptop")]);

    let run = follower.run(&["plan"]).expect_code(4);
    assert!(
        run.stderr.contains("${workspaceRoot}") && run.stderr.contains("projects."),
        "names the variable and the key: {}",
        run.stderr
    );
    write(
        &follower.codexport_home,
        "local.toml",
        "[pathVariables]\nworkspaceRoot = \"/srv/bob-work\"\n",
    );
    follower.ok(&["reconcile"]);
    let c = config(&follower);
    assert_eq!(
        c["projects"]["/srv/bob-work/app"]["trust_level"].as_str(),
        Some("trusted")
    );
    assert_eq!(
        c["shell_environment_policy"]["set"]["PATH"].as_str(),
        Some("/srv/bob-work/bin:/usr/bin")
    );

    fs_err::write(&settings, "[pathVariables]\nhome = \"/x\"\n").unwrap();
    let run = master.run(&["master", "rebuild"]).expect_code(4);
    assert!(run.stderr.contains("built in"), "{}", run.stderr);
}
