//! insta snapshots (in `snapshots/`) of the desired-state document of examples/master-basic and
//! of the first-join plan. Timestamps, keys, host names and temp paths are redacted; the
//! revision is not: the same tree must always give the same revision.

mod common;

use common::{Machine, Pair};

macro_rules! in_snapshots_dir {
    ($($body:tt)*) => {
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, { $($body)* })
    };
}

#[test]
fn desired_state_of_master_basic() {
    let master = Machine::with_example();
    master.ok(&["master", "init"]);
    let text = fs_err::read_to_string(master.codexport_home.join("master/state.yaml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    in_snapshots_dir! {
        insta::assert_yaml_snapshot!("desired-state-master-basic", doc, {
            ".metadata.generatedAt" => "[generated-at]",
            ".metadata.sequence" => "[sequence]",
            ".metadata.master.fingerprint" => "[fingerprint]",
            ".metadata.master.publicKey" => "[public-key]",
            ".metadata.master.hostname" => "[hostname]",
            ".metadata.master.home" => "[master-home]",
            ".metadata.master.codexHome" => "[master-codex-home]",
        });
    }
}

#[test]
fn first_join_plan_of_master_basic() {
    let pair = Pair::joined();
    let json = pair.follower.ok(&["plan", "--offline", "--output", "json"]);
    let plan = common::normalize_plan_json(serde_json::from_str(&json.stdout).unwrap());
    let text = common::normalize_plan_text(&pair.follower.ok(&["plan", "--offline"]).stdout);
    in_snapshots_dir! {
        insta::assert_json_snapshot!("first-join-plan-master-basic", plan);
        insta::assert_snapshot!("first-join-plan-master-basic-text", text);
    }
}

/// The MCP manifest and the rendered `[mcp_servers]` of the first apply, secrets redacted and
/// the follower's temp paths replaced by placeholders.
#[test]
fn mcp_manifest_and_rendered_servers_of_master_basic() {
    let pair = Pair::applied();
    let f = &pair.follower;
    let placeholders = |text: &str| {
        text.replace(&f.codexport_home.display().to_string(), "[CODEXPORT_HOME]")
            .replace(&f.codex_home.display().to_string(), "[CODEX_HOME]")
            .replace(&f.home.display().to_string(), "[HOME]")
    };
    let mut manifest: serde_json::Value = serde_json::from_str(&placeholders(
        &fs_err::read_to_string(f.codexport_home.join("mcp-manifest.json")).unwrap(),
    ))
    .unwrap();
    for server in manifest["servers"].as_object_mut().unwrap().values_mut() {
        if let Some(env) = server["definition"].get_mut("env").and_then(|e| e.as_object_mut()) {
            for v in env.values_mut() {
                *v = "(sensitive)".into();
            }
        }
    }
    let config = placeholders(&fs_err::read_to_string(f.codex_home.join("config.toml")).unwrap());
    let mcp_section: String = config
        .split("# ── MCP servers ──")
        .nth(1)
        .unwrap()
        .split("\n# Written by Codex")
        .next()
        .unwrap()
        .to_string();
    assert!(
        !mcp_section.contains("--max-old-space-size"),
        "env values are not in config.toml any more (they live in the manifest)"
    );
    in_snapshots_dir! {
        insta::assert_json_snapshot!("mcp-manifest-master-basic", manifest);
        insta::assert_snapshot!("rendered-mcp-servers-master-basic", mcp_section);
    }
}

/// The config.toml a follower with the `examples/follower-basic/` overlay gets from
/// `examples/master-basic`: master keys and comments, the launcher for command servers, the
/// re-keyed hook trust, the local MCP servers and the `overrides/config.toml` patch.
#[test]
fn rendered_config_of_master_basic_with_the_follower_basic_overlay() {
    let pair = Pair::joined();
    let f = &pair.follower;
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/follower-basic");
    for entry in walkdir::WalkDir::new(&example).min_depth(1) {
        let entry = entry.unwrap();
        let target = f.codexport_home.join(entry.path().strip_prefix(&example).unwrap());
        if entry.file_type().is_dir() {
            fs_err::create_dir_all(&target).unwrap();
        } else {
            fs_err::copy(entry.path(), &target).unwrap();
        }
    }
    let plan = f.ok(&["reconcile"]).stdout;
    assert!(
        plan.contains("skills/local-notes/SKILL.md") && !plan.contains("auth.json"),
        "{plan}"
    );
    let config = fs_err::read_to_string(f.codex_home.join("config.toml"))
        .unwrap()
        .replace(&f.codexport_home.display().to_string(), "[CODEXPORT_HOME]")
        .replace(&f.codex_home.display().to_string(), "[CODEX_HOME]")
        .replace(&f.home.display().to_string(), "[HOME]");
    assert!(!f.codex_home.join("auth.json").exists(), "excluded");
    assert_eq!(
        codexport::codex::hooks::trusted_count(&f.codex_home),
        Some((2, 1)),
        "(hooks, trusted): the re-keyed SessionStart hook is trusted for this follower's paths"
    );
    // The hash covers the follower's temp path: checked above, redacted below.
    let config: String = config
        .lines()
        .map(|l| {
            if l.starts_with("trusted_hash = ") {
                "trusted_hash = \"[sha256 of the follower's hook]\""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    in_snapshots_dir! {
        insta::assert_snapshot!("rendered-config-master-basic-follower-basic", config);
    }
}

/// The systemd user unit `master service install` writes, for placeholder paths (a home with
/// a space and a `%`, to show the systemd.syntax(7) quoting).
#[test]
fn master_service_systemd_unit() {
    let unit = codexport::master::service::systemd::render_unit(
        std::path::Path::new("/home/alice/.local/bin/codexport"),
        &[
            ("CODEX_HOME".into(), "/home/alice/my codex".into()),
            ("CODEXPORT_HOME".into(), "/home/alice/.codexport-100%".into()),
        ],
    )
    .unwrap();
    in_snapshots_dir! {
        insta::assert_snapshot!("master-service-systemd-unit", unit);
    }
}

/// The `schtasks` argument vectors of the Windows logon task (pure builders, tested on every
/// platform): create for a path with spaces, create with CODEX_HOME set (through cmd.exe),
/// and run, end, delete, query.
#[test]
fn master_service_schtasks_arguments() {
    use codexport::master::service::schtasks;
    use std::path::Path;
    let args = serde_json::json!({
        "create": schtasks::schtasks_create_args(Path::new(r"C:\Program Files\codexport\codexport.exe"), &[]).unwrap(),
        "createWithCodexHome": schtasks::schtasks_create_args(
            Path::new(r"C:\Users\alice\.cargo\bin\codexport.exe"),
            &[("CODEX_HOME".into(), r"D:\codex home".into())],
        )
        .unwrap(),
        "run": schtasks::schtasks_run_args(),
        "end": schtasks::schtasks_end_args(),
        "delete": schtasks::schtasks_delete_args(),
        "query": schtasks::schtasks_query_args(),
    });
    in_snapshots_dir! {
        insta::assert_json_snapshot!("master-service-schtasks-arguments", args);
    }
}
