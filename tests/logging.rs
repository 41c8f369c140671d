//! Logs and progress: `-v`/`-vv`/`-q`, `RUST_LOG`, the daily log file (mode, retention), secret
//! redaction everywhere, progress bars only on a terminal.

mod common;

use std::io::Read;
use std::path::Path;

use common::{Machine, Pair, Run};

const AUTH_SECRET: &str = "sk-auth-4f1d9c2b7e6a5d3c";
const ENV_SECRET: &str = "env-secret-8b2e6f0a9c1d7e3f";

/// Every file under `<home>/logs`, concatenated (empty when there is none).
fn logs_text(codexport_home: &Path) -> String {
    let dir = codexport_home.join("logs");
    if !dir.exists() {
        return String::new();
    }
    let mut out = String::new();
    for e in walkdir::WalkDir::new(&dir).min_depth(1) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            out.push_str(&String::from_utf8_lossy(&fs_err::read(e.path()).unwrap()));
        }
    }
    out
}

/// The token inside a join link.
fn token_of(link: &str) -> String {
    let start = link.find("token=").unwrap() + "token=".len();
    link[start..].split('&').next().unwrap().to_string()
}

/// A master whose ~/.codex is the example plus `extra` files of 20 KiB under prompts/big/.
fn master_with(extra: usize) -> Machine {
    let master = Machine::with_example();
    let big = master.codex_home.join("prompts/big");
    fs_err::create_dir_all(&big).unwrap();
    for i in 0..extra {
        let line = format!("prompt {i}: {}\n", "x".repeat(70));
        fs_err::write(big.join(format!("p{i:03}.md")), line.repeat(20_000 / line.len())).unwrap();
    }
    master.ok(&["master", "init"]);
    master
}

#[test]
fn secrets_appear_in_no_output_and_no_log() {
    let master = Machine::with_example();
    fs_err::write(
        master.codex_home.join("auth.json"),
        format!("{{\"OPENAI_API_KEY\": \"{AUTH_SECRET}\"}}\n"),
    )
    .unwrap();
    let config = master.codex_home.join("config.toml");
    let text = fs_err::read_to_string(&config).unwrap();
    let text = text.replacen(
        "NO_COLOR = \"1\"\n",
        &format!("NO_COLOR = \"1\"\nSECRET_VALUE = \"{ENV_SECRET}\"\n"),
        1,
    );
    assert!(text.contains(ENV_SECRET));
    fs_err::write(&config, text).unwrap();
    master.ok(&["master", "init", "-vv"]);
    let server = master.serve_with(&["-vv"], &[]);
    let link = master.link(&server, "secretive");
    let token = token_of(&link);
    assert!(token.starts_with("cxp_"), "{token}");

    let follower = Machine::new();
    let mut runs: Vec<Run> = vec![follower.ok(&["-vv", "follower", "join", &link])];
    for args in [
        &["-vv", "plan"][..],
        &["plan", "-vv", "--output", "json"],
        &["apply", "-vv"],
        &["-vv", "status"],
        &["-vv", "reconcile"],
        &["-vvv", "mcp", "list"],
        &["-vv", "reconcile", "--hook"],
    ] {
        runs.push(follower.run(args));
    }
    runs.push(master.ok(&["-vv", "master", "status"]));
    runs.push(master.ok(&["-vv", "master", "rebuild"]));
    runs.push(master.ok(&["-vv", "master", "followers"]));
    // The follower really got the secrets (so the check below is not vacuous).
    let codex = follower.codex_files();
    assert!(String::from_utf8_lossy(&codex["auth.json"].0).contains(AUTH_SECRET));
    let manifest = fs_err::read_to_string(follower.codexport_home.join("mcp-manifest.json")).unwrap();
    assert!(manifest.contains(ENV_SECRET), "the launcher's manifest carries the env");

    let mut server = server;
    let _ = server.child.kill();
    let _ = server.child.wait();
    let mut server_err = String::new();
    server
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut server_err)
        .unwrap();
    assert!(
        server_err.contains("request"),
        "the server logged no request: {server_err}"
    );

    let logs = logs_text(&follower.codexport_home) + &logs_text(&master.codexport_home);
    assert!(logs.contains("DEBUG"), "{logs}");
    for secret in [AUTH_SECRET, ENV_SECRET, token.as_str(), &token[4..]] {
        for (i, r) in runs.iter().enumerate() {
            assert!(!r.stdout.contains(secret), "run {i} stdout has {secret}:\n{}", r.stdout);
            assert!(!r.stderr.contains(secret), "run {i} stderr has {secret}:\n{}", r.stderr);
        }
        assert!(!server_err.contains(secret), "the server's stderr has {secret}");
        assert!(!logs.contains(secret), "a log file has {secret}");
    }
    assert!(!logs.to_lowercase().contains("authorization"), "{logs}");
}

#[test]
fn a_piped_join_of_a_big_tree_has_no_escape_codes() {
    let master = master_with(300);
    let server = master.serve();
    let link = master.link(&server, "piped");
    let follower = Machine::new();
    let out = follower.ok(&["follower", "join", &link]);
    assert!(out.stdout.contains("(315 blobs"), "{}", out.stdout);
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains('\x1b') && !text.contains('\r'), "{text:?}");
    }
    assert_eq!(out.stderr, "", "warnings only by default, and there are none");
}

/// Run `args` on `m` inside a pseudo-terminal (`script`); returns what the terminal showed.
fn on_a_terminal(m: &Machine, args: &str) -> Option<String> {
    if std::process::Command::new("script").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "`script` (util-linux) is needed");
        eprintln!("skipped: no `script` command (util-linux)");
        return None;
    }
    // stdout goes to /dev/null inside: what is captured is the terminal's stderr.
    let inner = format!("'{}' {args} >/dev/null", common::bin());
    let mut c = std::process::Command::new("script");
    c.args(["-qec", &inner, "/dev/null"])
        .env("HOME", &m.home)
        .env("CODEX_HOME", &m.codex_home)
        .env("CODEXPORT_HOME", &m.codexport_home)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("COLUMNS", "100")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null());
    let out = c.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_terminal_shows_the_download_bar_and_quiet_hides_it() {
    let master = master_with(300);
    let server = master.serve();
    let follower = Machine::new();
    let link = master.link(&server, "tty");
    let Some(screen) = on_a_terminal(&follower, &format!("follower join '{link}'")) else {
        return;
    };
    assert!(screen.contains('\r') || screen.contains('\x1b'), "{screen:?}");
    assert!(screen.contains("downloading"), "{screen:?}");
    assert!(
        screen.contains(" MiB/") || screen.contains(" KiB/"),
        "no byte count: {screen:?}"
    );

    let quiet = Machine::new();
    let link = master.link(&server, "tty-quiet");
    let screen = on_a_terminal(&quiet, &format!("-q follower join '{link}'")).unwrap();
    assert_eq!(screen, "", "-q draws nothing");
}

#[test]
fn quiet_prints_nothing_on_stderr_on_success() {
    let pair = Pair::joined();
    let f = &pair.follower;
    for args in [
        &["-q", "plan"][..],
        &["apply", "-q"],
        &["-q", "reconcile"],
        &["-q", "status"],
    ] {
        let out = f.ok(args);
        assert_eq!(out.stderr, "", "{args:?}");
    }
    fs_err::write(pair.master.codex_home.join("AGENTS.md"), "# quiet\n").unwrap();
    pair.master.ok(&["master", "rebuild"]);
    let out = f.ok(&["-q", "plan"]);
    assert_eq!(out.stderr, "", "not even `fetched revision`");
    let out = f.run(&["-q", "-v", "plan"]).expect_code(4);
    assert!(out.stderr.contains("cannot be used with"), "{}", out.stderr);
}

#[test]
fn verbosity_flags_and_rust_log_select_what_stderr_shows() {
    let pair = Pair::joined();
    let f = &pair.follower;
    let default = f.ok(&["sync"]);
    assert_eq!(default.stderr, "");
    let info = f.ok(&["sync", "-v"]);
    assert!(
        info.stderr.contains("INFO") && info.stderr.contains("sync done"),
        "{}",
        info.stderr
    );
    assert!(!info.stderr.contains("DEBUG"), "{}", info.stderr);
    let debug = f.ok(&["-vv", "sync"]);
    assert!(debug.stderr.contains("DEBUG"), "{}", debug.stderr);
    assert!(
        debug.stderr.contains("path=\"/v1/meta\" status=200"),
        "{}",
        debug.stderr
    );
    let rust_log = Run::from_output(
        f.command(&["sync"])
            .env("RUST_LOG", "codexport=debug")
            .output()
            .unwrap(),
    );
    assert!(rust_log.stderr.contains("DEBUG"), "{}", rust_log.stderr);
    // RUST_LOG wins over the flags.
    let off = Run::from_output(f.command(&["-vv", "sync"]).env("RUST_LOG", "off").output().unwrap());
    assert_eq!(off.stderr, "");
    // The hook ignores RUST_LOG (a Codex session's RUST_LOG is for Codex) and prints nothing.
    let hook = Run::from_output(
        f.command(&["reconcile", "--hook"])
            .env("RUST_LOG", "trace")
            .output()
            .unwrap(),
    );
    assert_eq!((hook.stdout.as_str(), hook.stderr.as_str()), ("", ""));
    assert!(logs_text(&f.codexport_home).contains("hook run"));
}

#[test]
fn mcp_run_logs_only_to_the_file() {
    let pair = Pair::applied();
    let f = &pair.follower;
    let out = Run::from_output(
        f.command(&["-vv", "mcp", "run", "nosuch"])
            .env("RUST_LOG", "trace")
            .output()
            .unwrap(),
    );
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(logs_text(&f.codexport_home).contains("mcp run"));
}

#[test]
fn the_daily_log_is_private_and_old_days_are_deleted() {
    use std::os::unix::fs::PermissionsExt;
    let m = Machine::new();
    let logs = m.codexport_home.join("logs");
    fs_err::create_dir_all(&logs).unwrap();
    let old = logs.join(codexport::logs::file_name(&codexport::logs::days_ago(8)));
    let kept = logs.join(codexport::logs::file_name(&codexport::logs::days_ago(7)));
    let old_rotated = old.with_extension("log.1");
    for p in [&old, &kept, &old_rotated] {
        fs_err::write(p, "old\n").unwrap();
    }
    m.ok(&["status"]);
    assert!(!old.exists() && !old_rotated.exists(), "8 days old: deleted");
    assert!(kept.exists(), "7 days old: kept");
    let today = logs.join(codexport::logs::file_name(&codexport::logs::today()));
    let mode = |p: &Path| fs_err::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&today), 0o600);
    assert_eq!(mode(&logs), 0o700);
    let text = fs_err::read_to_string(&today).unwrap();
    assert!(text.contains("DEBUG") && text.contains("command=status"), "{text}");

    // completions and man never touch CODEXPORT_HOME.
    let fresh = Machine::new();
    fresh.ok(&["completions", "bash"]);
    fresh.ok(&["man"]);
    assert!(!fresh.codexport_home.exists());
}

/// Records what the library reports.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<String>>);

impl codexport::progress::Progress for Recorder {
    fn working(&self, label: &str) {
        self.0.lock().unwrap().push(label.to_string());
    }
    fn finish(&self) {
        self.0.lock().unwrap().push("finish".into());
    }
}

#[test]
fn each_mcp_install_is_reported_with_its_server_name() {
    use codexport::follower::local::McpInstall;
    use codexport::reconcile::{ApplyOptions, apply_staged, host::RecordingHost};
    let pair = Pair::joined();
    let f = &pair.follower;
    let roots = codexport::paths::Roots {
        home: f.home.clone(),
        codex_home: f.codex_home.clone(),
        codexport_home: f.codexport_home.clone(),
    };
    let recorder = std::sync::Arc::new(Recorder::default());
    struct Shared(std::sync::Arc<Recorder>);
    impl codexport::progress::Progress for Shared {
        fn working(&self, label: &str) {
            self.0.working(label)
        }
        fn finish(&self) {
            self.0.finish()
        }
    }
    let options = ApplyOptions {
        mcp_install: Some(McpInstall::Auto),
        progress: codexport::progress::SharedProgress::new(Shared(recorder.clone())),
        ..Default::default()
    };
    // The recording host installs nothing: only the reports are checked.
    apply_staged(&roots, &RecordingHost::new(), &options).unwrap();
    let seen = recorder.0.lock().unwrap().clone();
    assert_eq!(seen, ["installing MCP server filesystem", "finish"]);
}
