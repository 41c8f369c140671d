use super::*;

fn home() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs_err::create_dir_all(p.parent().unwrap()).unwrap();
    fs_err::write(p, text).unwrap();
}

fn load_err(root: &Path) -> String {
    Overlay::load(root).unwrap_err().to_string()
}

#[test]
fn an_absent_overlay_is_empty() {
    assert!(Overlay::load(home().path()).unwrap().is_empty());
}

#[test]
fn local_mcp_servers_are_read_and_checked() {
    let h = home();
    write(
        h.path(),
        MCPS_LOCAL,
        "# mine\n[mcp_servers.notes]\ncommand = \"notes-mcp\"\n\n[mcp_servers.web]\nurl = \"http://localhost:9000/mcp\"\n",
    );
    let o = Overlay::load(h.path()).unwrap();
    assert_eq!(
        o.mcp_servers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        ["notes", "web"]
    );

    write(h.path(), MCPS_LOCAL, "[mcp_servers.notes]\ncommand = \n");
    let e = load_err(h.path());
    assert!(e.contains("mcps.local.toml:2:") && e.contains("string"), "{e}");

    write(h.path(), MCPS_LOCAL, "model = \"x\"\n");
    let e = load_err(h.path());
    assert!(
        e.contains("`model` is not an MCP server") && e.contains("overrides/config.toml"),
        "{e}"
    );

    write(h.path(), MCPS_LOCAL, "[mcp_servers.notes]\nargs = []\n");
    assert!(load_err(h.path()).contains("mcp_servers.notes has neither `command`"));
    write(
        h.path(),
        MCPS_LOCAL,
        "[mcp_servers.notes]\ncommand = \"a\"\nurl = \"http://x\"\n",
    );
    assert!(load_err(h.path()).contains("both `command` and `url`"));
}

#[test]
fn local_skills_are_directories_with_a_skill_md() {
    let h = home();
    write(h.path(), "skills/triage/SKILL.md", "---\nname: triage\n---\n");
    write(h.path(), "skills/triage/scripts/run.sh", "#!/bin/sh\n");
    let o = Overlay::load(h.path()).unwrap();
    let paths: Vec<&str> = o.skills["triage"].iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["skills/triage/SKILL.md", "skills/triage/scripts/run.sh"]);

    write(h.path(), "skills/empty/notes.md", "x");
    assert!(load_err(h.path()).contains("needs a SKILL.md"));
    fs_err::remove_dir_all(h.path().join("skills/empty")).unwrap();
    write(h.path(), "skills/loose.md", "x");
    assert!(load_err(h.path()).contains("skills/<name>/"));
}

#[test]
fn overrides_split_into_a_config_patch_and_files() {
    let h = home();
    write(h.path(), "overrides/config.toml", "model = \"local\"\n");
    write(h.path(), "overrides/AGENTS.md", "# mine\n");
    let o = Overlay::load(h.path()).unwrap();
    assert_eq!(o.config_patch.unwrap().to_string(), "model = \"local\"\n");
    assert_eq!(o.files.len(), 1);
    assert_eq!(o.files[0].path, "AGENTS.md");

    write(h.path(), "overrides/config.toml", "[model\n");
    let e = load_err(h.path());
    assert!(e.contains("overrides/config.toml:1:"), "{e}");
    write(h.path(), "overrides/config.toml", "");
    write(h.path(), "overrides/sessions/x.jsonl", "{}");
    assert!(load_err(h.path()).contains("runtime state"));
}

#[cfg(unix)]
#[test]
fn symlinks_are_refused_by_name() {
    let h = home();
    write(h.path(), "target.md", "x");
    fs_err::create_dir_all(h.path().join("overrides")).unwrap();
    std::os::unix::fs::symlink(h.path().join("target.md"), h.path().join("overrides/AGENTS.md")).unwrap();
    let e = load_err(h.path());
    assert!(e.contains("overrides/AGENTS.md") && e.contains("symlinks"), "{e}");
}
