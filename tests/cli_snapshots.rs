//! CLI snapshots like uv's: `--help` of every command, and the main error messages (exit code,
//! stdout, stderr) with temp paths, ports and hashes filtered.

mod common;

use clap::CommandFactory;

use common::{Machine, Pair, Run};

macro_rules! in_snapshots_dir {
    ($($body:tt)*) => {
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, { $($body)* })
    };
}

/// Every command path of the CLI (`["master", "init"]`, ...), depth first, without `help`.
fn command_paths() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let mut path = prefix.to_vec();
            path.push(sub.get_name().to_string());
            out.push(path.clone());
            walk(sub, &path, out);
        }
    }
    let mut out = vec![vec![]];
    walk(&codexport::cli::Cli::command(), &[], &mut out);
    out
}

#[test]
fn help_of_every_command() {
    let m = Machine::new();
    let mut all = String::new();
    for path in command_paths() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let run = m.ok(&args);
        assert!(run.stderr.is_empty(), "{args:?}: {}", run.stderr);
        if !path.is_empty() {
            assert!(
                run.stdout.contains("Example"),
                "`codexport {}` --help has no example",
                path.join(" ")
            );
        }
        all.push_str(&format!("===== codexport {} =====\n{}\n", path.join(" "), run.stdout));
    }
    in_snapshots_dir! {
        insta::assert_snapshot!("cli-help", all);
    }
}

fn filtered(run: &Run, machines: &[&Machine]) -> String {
    let mut text = common::transcript(run);
    for m in machines {
        text = text.replace(&m.home.display().to_string(), "[HOME]");
    }
    let filters = [
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
        (r"[0-9a-f]{64}", "[HEX64]"),
        (r"sha256:[0-9a-f]{12}", "sha256:[REVISION]"),
        (r"\(os error \d+\)", "(os error [N])"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[TIME]"),
        (r"\(\d+ ms\)", "([N] ms)"),
        (r"publication \d+", "publication [SEQUENCE]"),
        (r#""sequence": \d+"#, r#""sequence": [SEQUENCE]"#),
        (r#""durationMs": \d+"#, r#""durationMs": [N]"#),
    ];
    for (re, with) in filters {
        text = regex_replace(&text, re, with);
    }
    text
}

fn regex_replace(text: &str, re: &str, with: &str) -> String {
    regex::Regex::new(re).unwrap().replace_all(text, with).into_owned()
}

#[test]
fn main_error_messages() {
    let pair = Pair::applied();
    let (master, f) = (&pair.master, &pair.follower);
    let mut all = String::new();
    let mut add = |name: &str, run: Run| {
        all.push_str(&format!("===== {name} =====\n{}\n", filtered(&run, &[master, f])));
    };

    // onDrift = fail with a local edit: exit 3, nothing written.
    fs_err::write(f.codex_home.join("AGENTS.md"), "# edited here\n").unwrap();
    fs_err::write(f.codexport_home.join("local.toml"), "onDrift = \"fail\"\n").unwrap();
    add("drift under onDrift = fail", f.run(&["apply"]).expect_code(3));

    // A typo in local.toml: exit 4 naming the key and the file.
    fs_err::write(f.codexport_home.join("local.toml"), "onDrfit = \"keep\"\n").unwrap();
    add("bad local.toml", f.run(&["plan", "--offline"]).expect_code(4));
    fs_err::remove_file(f.codexport_home.join("local.toml")).unwrap();

    // The master's identity changed: exit 5, nothing applied.
    master.ok(&["master", "init", "--rotate-key"]);
    add("changed fingerprint", f.run(&["sync"]).expect_code(5));

    // The master is down: exit 6 naming the URL.
    let Pair { server, follower, .. } = pair;
    drop(server);
    let run = follower.run(&["sync"]).expect_code(6);
    all.push_str(&format!(
        "===== unreachable master =====\n{}\n",
        filtered(&run, &[&follower])
    ));
    in_snapshots_dir! {
        insta::assert_snapshot!("cli-errors", all);
    }
}

#[test]
fn status_of_a_follower() {
    let pair = Pair::applied();
    let (master, f) = (&pair.master, &pair.follower);
    f.ok(&["hook", "install"]);
    f.ok(&["reconcile", "--hook"]);
    fs_err::write(f.codex_home.join("AGENTS.md"), "# edited here\n").unwrap();
    fs_err::write(master.codex_home.join("prompts/commit.md"), "changed\n").unwrap();
    master.ok(&["master", "rebuild"]);
    let mut all = String::new();
    for args in [&["status"][..], &["status", "--output", "json"][..]] {
        let mut run = f.ok(args);
        // Which MCP servers can start depends on this machine's PATH (uvx, npm), and the
        // follower's name is the host name: both vary between machines.
        if args.len() == 1 {
            run.stdout = run
                .stdout
                .lines()
                .filter(|l| !l.starts_with("mcp broken:"))
                .map(|l| {
                    if l.starts_with("follower:") {
                        "follower:    [HOST NAME]"
                    } else {
                        l
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n";
        } else {
            let mut v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
            let follower = v["follower"].as_object_mut().unwrap();
            follower.remove("mcpBroken");
            follower.insert("name".into(), "[HOST NAME]".into());
            run.stdout = serde_json::to_string_pretty(&v).unwrap() + "\n";
        }
        all.push_str(&format!(
            "===== codexport {} =====\n{}\n",
            args.join(" "),
            filtered(&run, &[master, f])
        ));
    }
    in_snapshots_dir! {
        insta::assert_snapshot!("cli-status-follower", all);
    }
}
