//! `codexport doctor` through the real CLI: insta snapshots (exit code, stdout, stderr) of a
//! healthy follower, a follower whose master is down and a master, in text and JSON; the
//! failures it must see; and that it never prints a secret.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Machine, Run, Server};

/// A secret in the master's auth.json.
const AUTH_SECRET: &str = "sk-doctor-auth-7f3e9c2a";
/// A secret MCP `env` value in the master's config.toml.
const ENV_SECRET: &str = "env-doctor-secret-51b0d4";

macro_rules! in_snapshots_dir {
    ($($body:tt)*) => {
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, { $($body)* })
    };
}

/// Regex-escape a literal (a temp path) for an insta filter.
fn literal(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special.then_some('\\').into_iter().chain(std::iter::once(c))
        })
        .collect()
}

/// Snapshot `run` with what varies between runs and machines replaced: the machine's temp
/// home, ports, latencies, free space, fingerprints, revisions and the codex version.
fn assert_transcript(name: &str, run: &Run, machine: &Machine) {
    let home = literal(&machine.home.display().to_string());
    let filters: Vec<(&str, &str)> = vec![
        (home.as_str(), "[HOME]"),
        (r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:[PORT]"),
        (r"port \d+", "port [PORT]"),
        (r"answered in \d+ ms", "answered in [N] ms"),
        (r"\(os error \d+\)", "(os error [N])"),
        (r"\d+(\.\d+)? (B|KiB|MiB|GiB|TiB) free", "[SIZE] free"),
        (r"codex-cli \S+ at \S+", "codex-cli [VERSION] at [PATH]"),
        (r"[0-9a-f]{64}", "[FINGERPRINT]"),
        (r"[0-9a-f]{16}\.\.\.", "[FINGERPRINT]..."),
        (r"sha256:[0-9a-f]{12}", "sha256:[REVISION]"),
        (r"publication \d+ signed \S+", "publication [SEQUENCE] signed [TIME]"),
    ];
    in_snapshots_dir! {
        insta::with_settings!({filters => filters}, {
            insta::assert_snapshot!(name, common::transcript(run));
        });
    }
}

/// A small master `~/.codex`: a URL MCP server, a command server run by `sh` (portable, so
/// it is ready on any follower) with a secret `env` value, AGENTS.md and an auth.json.
fn small_master() -> Machine {
    let m = Machine::new();
    let config = format!(
        "model = \"gpt-5\"\n\n[mcp_servers.docs]\nurl = \"https://mcp.example.com/mcp\"\n\n\
         [mcp_servers.shell]\ncommand = \"sh\"\nargs = [\"-c\", \"exec cat\"]\n\n\
         [mcp_servers.shell.env]\nAPI_KEY = \"{ENV_SECRET}\"\n"
    );
    fs_err::write(m.codex_home.join("config.toml"), config).unwrap();
    fs_err::write(m.codex_home.join("AGENTS.md"), "# Agreements\n").unwrap();
    fs_err::write(
        m.codex_home.join("auth.json"),
        format!("{{\"OPENAI_API_KEY\": \"{AUTH_SECRET}\"}}\n"),
    )
    .unwrap();
    m
}

/// A directory to put first on PATH with a `codex` in it: the real Codex CLI when there is
/// one ([`common::codex_bin`]), else a stub printing a version (the snapshot filters it).
fn codex_dir(machine: &Machine) -> PathBuf {
    if let Some(codex) = common::codex_bin() {
        return codex.parent().unwrap().to_path_buf();
    }
    let dir = machine.home.join("codex-stub");
    fs_err::create_dir_all(&dir).unwrap();
    let stub = dir.join("codex");
    fs_err::write(&stub, "#!/bin/sh\necho 'codex-cli 0.0.0-stub'\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs_err::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Run `codexport doctor ARGS` on `machine` with `codex` on PATH and no Tailscale.
fn doctor(machine: &Machine, args: &[&str]) -> Run {
    let mut path = vec![codex_dir(machine)];
    path.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    Run::from_output(
        machine
            .command(&all)
            .env("PATH", std::env::join_paths(path).unwrap())
            .env("CODEXPORT_TAILSCALE", "/nonexistent/codexport-test/tailscale")
            .output()
            .unwrap(),
    )
}

/// `master init` + `master serve` on a free loopback port of its own (master.toml's port,
/// so the master's doctor finds it) + a follower named `laptop` joined and applied.
struct Setup {
    master: Machine,
    server: Server,
    follower: Machine,
    link: String,
}

impl Setup {
    fn new() -> Setup {
        let master = small_master();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
            .to_string();
        master.ok(&["master", "init", "--port", &port]);
        let server = serve(&master);
        let link = master.link(&server, "laptop");
        let follower = Machine::new();
        follower.ok(&["follower", "join", &link, "--name", "laptop"]);
        follower.ok(&["apply"]);
        Setup {
            master,
            server,
            follower,
            link,
        }
    }

    fn token(&self) -> String {
        let url = url::Url::parse(&self.link).unwrap();
        url.query_pairs().find(|(k, _)| k == "token").unwrap().1.into_owned()
    }
}

/// `master serve` with master.toml's port and bind (auto, no Tailscale: 127.0.0.1).
fn serve(master: &Machine) -> Server {
    use std::io::BufRead;
    let mut child = master
        .command(&["master", "serve"])
        .env("CODEXPORT_TAILSCALE", "/nonexistent/codexport-test/tailscale")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("serve printed {line:?}"))
        .to_string();
    let port = url.rsplit(':').next().unwrap().parse().unwrap();
    Server { child, url, port }
}

fn status_of(run: &Run, name: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    v["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["checks"].as_array().unwrap())
        .find(|c| c["name"] == name)
        .map(|c| format!("{} {}", c["status"].as_str().unwrap(), c["detail"].as_str().unwrap()))
        .unwrap_or_else(|| panic!("no check {name}: {}", run.stdout))
}

#[test]
fn doctor_healthy_follower() {
    let setup = Setup::new();
    setup.follower.ok(&["hook", "install"]);
    let text = doctor(&setup.follower, &[]).expect_code(0);
    let json = doctor(&setup.follower, &["--output", "json"]).expect_code(0);
    assert_transcript("doctor-healthy-follower-text", &text, &setup.follower);
    assert_transcript("doctor-healthy-follower-json", &json, &setup.follower);
}

#[test]
fn doctor_follower_whose_master_is_down() {
    let setup = Setup::new();
    let Setup { server, follower, .. } = setup;
    server.terminate();
    let text = doctor(&follower, &[]).expect_code(1);
    let json = doctor(&follower, &["--output", "json"]).expect_code(1);
    assert!(status_of(&json, "master-reachable").starts_with("fail"));
    assert_transcript("doctor-master-down-text", &text, &follower);
    assert_transcript("doctor-master-down-json", &json, &follower);
}

#[test]
fn doctor_master() {
    let setup = Setup::new();
    // The follower reports its applied revision with its next request; the server writes
    // followers-seen.json within 2 s.
    setup.follower.ok(&["sync"]);
    let seen = setup.master.codexport_home.join("master/followers-seen.json");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fs_err::read_to_string(&seen).is_ok_and(|t| t.contains("appliedRevision")) {
        assert!(
            Instant::now() < deadline,
            "followers-seen.json never showed the applied revision"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = doctor(&setup.master, &[]).expect_code(0);
    let json = doctor(&setup.master, &["--output", "json"]).expect_code(0);
    assert!(status_of(&json, "followers").contains("current: laptop"));
    assert_transcript("doctor-master-text", &text, &setup.master);
    assert_transcript("doctor-master-json", &json, &setup.master);
}

/// No secret value and no token in any output, also where doctor reports broken files that
/// hold them (enrollment.toml with the token, config.toml with an MCP `env` value).
#[test]
fn doctor_never_prints_a_secret() {
    let setup = Setup::new();
    setup.follower.ok(&["hook", "install"]);
    let token = setup.token();
    let assert_clean = |run: &Run, what: &str| {
        for secret in [AUTH_SECRET, ENV_SECRET, token.as_str()] {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "{what} prints {secret}:\n{}{}",
                run.stdout,
                run.stderr
            );
        }
    };
    for format in ["text", "json", "yaml"] {
        assert_clean(&doctor(&setup.follower, &["--output", format]), "follower");
        assert_clean(&doctor(&setup.master, &["--output", format]), "master");
    }
    // The secret is on the line of config.toml that does not parse.
    let config = setup.follower.codex_home.join("config.toml");
    let text = fs_err::read_to_string(&config).unwrap();
    fs_err::write(&config, format!("{text}\nLEAKED = \"{ENV_SECRET}\" oops\n")).unwrap();
    // The token is on the line of enrollment.toml that does not parse.
    let enrollment = setup.follower.codexport_home.join("enrollment.toml");
    let text = fs_err::read_to_string(&enrollment).unwrap();
    fs_err::write(
        &enrollment,
        text.replace(&format!("\"{token}\""), &format!("\"{token}\" oops")),
    )
    .unwrap();
    for format in ["text", "json"] {
        let run = doctor(&setup.follower, &["--output", format]).expect_code(1);
        assert_clean(&run, "follower with broken files");
        if format == "json" {
            assert!(status_of(&run, "enrollment").starts_with("fail"), "{}", run.stdout);
            assert!(
                status_of(&run, "hooks-feature").contains("does not parse"),
                "{}",
                run.stdout
            );
        }
    }
}

/// A revoked token fails the `token` check (the master answers it with a 404).
#[test]
fn doctor_reports_a_refused_token() {
    let setup = Setup::new();
    setup.master.ok(&["master", "revoke", "laptop"]);
    let run = doctor(&setup.follower, &["--output", "json"]).expect_code(1);
    assert!(status_of(&run, "master-reachable").starts_with("ok"));
    assert!(
        status_of(&run, "token").starts_with("fail the master refuses"),
        "{}",
        run.stdout
    );
}

/// Local problems: the hook's trust entry gone, `[features] hooks = false`, a leftover
/// journal, a stale launcher.
#[test]
fn doctor_sees_an_untrusted_hook_hooks_turned_off_a_journal_and_a_stale_launcher() {
    let setup = Setup::new();
    let f = &setup.follower;
    f.ok(&["hook", "install"]);
    let config = f.codex_home.join("config.toml");
    let text = fs_err::read_to_string(&config).unwrap();
    let untrusted: String = text
        .lines()
        .filter(|l| !l.starts_with("trusted_hash"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs_err::write(&config, format!("[features]\nhooks = false\n\n{untrusted}")).unwrap();
    fs_err::create_dir_all(f.codexport_home.join("journal")).unwrap();
    fs_err::write(f.codexport_home.join("journal/7.jsonl"), "{}\n").unwrap();
    fs_err::write(f.codexport_home.join("bin/codexport"), "#!/bin/sh\n").unwrap();
    let run = doctor(f, &["--output", "json"]).expect_code(1);
    assert!(
        status_of(&run, "hook").starts_with("fail installed, but NOT trusted"),
        "{}",
        run.stdout
    );
    assert!(status_of(&run, "hooks-feature").starts_with("fail config.toml has `[features] hooks = false`"));
    assert!(status_of(&run, "journal").starts_with("warn journal/7.jsonl"));
    assert!(status_of(&run, "launcher").starts_with("warn"), "{}", run.stdout);
    let text = doctor(f, &[]).expect_code(1);
    assert!(
        text.stdout
            .contains("fix: run `codexport apply`; the next run rolls it back"),
        "{}",
        text.stdout
    );
}

/// A master that accepts connections and never answers: the doctor gives up after 3 s.
#[test]
fn doctor_waits_at_most_3_s_for_a_silent_master() {
    let setup = Setup::new();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let enrollment = setup.follower.codexport_home.join("enrollment.toml");
    let text = fs_err::read_to_string(&enrollment).unwrap();
    let text = text.replace(&format!(":{}\"", setup.server.port), &format!(":{port}\""));
    fs_err::write(&enrollment, text).unwrap();
    let start = Instant::now();
    let run = doctor(&setup.follower, &["--output", "json"]).expect_code(1);
    let took = start.elapsed();
    assert!(
        status_of(&run, "master-reachable").contains("did not answer within 3 s"),
        "{}",
        run.stdout
    );
    assert!(took < Duration::from_secs(8), "took {took:?}");
    drop(silent);
}

#[test]
fn doctor_on_a_machine_with_no_role_says_how_to_start() {
    let m = Machine::new();
    let run = doctor(&m, &[]).expect_code(0);
    assert!(
        run.stdout.contains("codexport master init") && run.stdout.contains("codexport follower join"),
        "{}",
        run.stdout
    );
    assert!(!Path::new(&m.codexport_home).exists(), "doctor creates nothing");
}
