//! `master serve` republishes by itself: an edit under CODEX_HOME reaches `/v1/meta` within
//! seconds, bursts end on the revision of the final tree, Codex's runtime writes publish
//! nothing, a half-edited config.toml keeps the old revision, `--no-watch` turns it off. The
//! watcher reads only the paths its events name: every kind of change still ends on the
//! revision a full scan gives, and the document it serves is the one on disk.

mod common;

use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Machine, Server};

const DEBOUNCE_ENV: &str = "CODEXPORT_WATCH_DEBOUNCE_MS";
const DEADLINE: Duration = Duration::from_secs(8);

/// The server's stderr, collected line by line on a thread.
struct Stderr(Arc<Mutex<Vec<String>>>);

impl Stderr {
    fn of(server: &mut Server) -> Stderr {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let pipe = server.child.stderr.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Stderr(lines)
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// Lines that report a publish (changed or not).
    fn publishes(&self) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| l.starts_with("watch: published ") || l.starts_with("watch: unchanged "))
            .collect()
    }

    /// Wait (with a deadline) for a line containing `needle`.
    fn wait_for(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = self.lines().into_iter().find(|l| l.contains(needle)) {
                return line;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "no {needle:?} on stderr: {:#?}",
                self.lines()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn revision(server: &Server) -> String {
    let meta: serde_json::Value = common::http()
        .get(format!("{}/v1/meta", server.url))
        .send()
        .unwrap()
        .json()
        .unwrap();
    meta["revision"].as_str().unwrap().to_string()
}

/// Poll `/v1/meta` until its revision is `want`; returns how long that took.
fn wait_for_revision(server: &Server, want: &str, stderr: &Stderr) -> Duration {
    let start = Instant::now();
    loop {
        if revision(server) == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < DEADLINE,
            "/v1/meta never reported {want}; stderr: {:#?}",
            stderr.lines()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The revision `master init` publishes for the tree as it is now, with the same master.toml,
/// into a separate CODEXPORT_HOME so the running server does not see it.
fn fresh_revision(m: &Machine) -> String {
    let other = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(other.path().join("master")).unwrap();
    fs_err::copy(
        m.codexport_home.join("master/master.toml"),
        other.path().join("master/master.toml"),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = m.command(args).env("CODEXPORT_HOME", other.path()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["master", "init"]);
    let status: serde_json::Value = serde_json::from_str(&run(&["master", "status", "--output", "json"])).unwrap();
    status["revision"].as_str().unwrap().to_string()
}

fn write(m: &Machine, rel: &str, body: impl AsRef<[u8]>) {
    let path = m.codex_home.join(rel);
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(path, body).unwrap();
}

fn master() -> Machine {
    let m = Machine::with_example();
    m.ok(&["master", "init"]);
    m
}

#[test]
fn an_edit_under_codex_home_reaches_meta_within_seconds() {
    let m = master();
    let mut server = m.serve();
    let stderr = Stderr::of(&mut server);
    let before = revision(&server);
    let written = Instant::now();
    write(&m, "AGENTS.md", "# edited while serving\n");
    let start = Instant::now();
    loop {
        if revision(&server) != before {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "no new revision: {:#?}", stderr.lines());
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = written.elapsed();
    eprintln!(
        "write -> new revision on /v1/meta: {} ms (default debounce)",
        took.as_millis()
    );
    assert_eq!(
        revision(&server),
        fresh_revision(&m),
        "the revision `master rebuild` would give"
    );
    let line = stderr.wait_for("watch: published revision");
    assert!(line.contains(" files, ") && line.ends_with(" ms"), "{line}");
}

#[test]
fn a_burst_of_writes_during_publishes_ends_on_the_final_tree() {
    let m = master();
    // A big file makes every publish slow: written less than 2 s ago, it is hashed again each
    // time (the stat cache's racy-clean rule), so writes land while a publish runs.
    let big = |n: u8| vec![n; 24 << 20];
    write(&m, "skills/big/data.bin", big(0));
    let mut server = m.serve_with(&[], &[(DEBOUNCE_ENV, "50")]);
    let stderr = Stderr::of(&mut server);
    let before = revision(&server);
    let files = [
        "AGENTS.md",
        "prompts/burst.md",
        "skills/burst/SKILL.md",
        "rules/burst.rules",
    ];
    for i in 0..50u8 {
        if i % 10 == 5 {
            write(&m, "skills/big/data.bin", big(i));
        }
        let rel = files[i as usize % files.len()];
        write(&m, rel, format!("# write {i}\n"));
        std::thread::sleep(Duration::from_millis(20));
    }
    let want = fresh_revision(&m);
    assert_ne!(want, before);
    wait_for_revision(&server, &want, &stderr);
    // Nothing is left pending: the revision stays put once the writes stop.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(revision(&server), want);
    let publishes = stderr.publishes();
    eprintln!("{publishes:#?}");
    assert!(
        publishes.len() >= 3,
        "start-up, at least one during the burst, the last: {publishes:#?}"
    );
    let slowest = publishes
        .iter()
        .filter_map(|l| l.rsplit(" in ").next()?.strip_suffix(" ms")?.parse::<u64>().ok())
        .max()
        .unwrap();
    assert!(slowest >= 40, "a publish spanned at least two writes: {publishes:#?}");
}

/// `/v1/state` as served: (document bytes, signature header).
fn served_state(server: &Server, token: &str) -> (Vec<u8>, String) {
    let r = common::http()
        .get(format!("{}/v1/state", server.url))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let sig = r.headers()["x-codexport-signature"].to_str().unwrap().to_string();
    (r.bytes().unwrap().to_vec(), sig)
}

#[test]
fn every_kind_of_change_ends_on_the_revision_of_a_full_scan() {
    let m = master();
    write(&m, "skills/keep/SKILL.md", "# keep\n");
    write(&m, "skills/keep-too/SKILL.md", "# beside keep in byte order\n");
    write(&m, "skills/gone/SKILL.md", "# to be removed\n");
    write(&m, "skills/moving/SKILL.md", "# to be renamed\n");
    write(&m, "skills/moving/ref/deep.md", "deep\n");
    m.ok(&["master", "rebuild"]);
    let mut server = m.serve_with(&[], &[(DEBOUNCE_ENV, "50")]);
    let stderr = Stderr::of(&mut server);
    stderr.wait_for("directories watched");
    let token = m.link(&server, "laptop").split("token=").nth(1).unwrap().to_string();
    type Change = (&'static str, Box<dyn Fn(&Machine)>);
    let changes: Vec<Change> = vec![
        (
            "a new directory with nested files",
            Box::new(|m| {
                write(m, "skills/new/SKILL.md", "# new\n");
                write(m, "skills/new/a/b/c.md", "c\n");
                write(m, "skills/new/node_modules/x.js", "excluded\n");
            }),
        ),
        (
            "a directory renamed",
            Box::new(|m| {
                fs_err::rename(m.codex_home.join("skills/moving"), m.codex_home.join("skills/moved")).unwrap();
            }),
        ),
        (
            "a directory removed",
            Box::new(|m| {
                fs_err::remove_dir_all(m.codex_home.join("skills/gone")).unwrap();
            }),
        ),
        (
            "a file edited and another removed",
            Box::new(|m| {
                write(m, "skills/keep/SKILL.md", "# keep, edited\n");
                fs_err::remove_file(m.codex_home.join("skills/keep-too/SKILL.md")).unwrap();
            }),
        ),
        #[cfg(unix)]
        (
            "a mode changed",
            Box::new(|m| {
                use std::os::unix::fs::PermissionsExt;
                let p = m.codex_home.join("skills/keep/SKILL.md");
                fs_err::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
            }),
        ),
        #[cfg(unix)]
        (
            "a directory replaced by a symlink",
            Box::new(|m| {
                fs_err::remove_dir_all(m.codex_home.join("skills/moved")).unwrap();
                std::os::unix::fs::symlink(m.codex_home.join("skills/keep"), m.codex_home.join("skills/moved"))
                    .unwrap();
            }),
        ),
        (
            "an include root removed and made again",
            Box::new(|m| {
                fs_err::remove_dir_all(m.codex_home.join("skills")).unwrap();
                write(m, "skills/again/SKILL.md", "# again\n");
            }),
        ),
    ];
    for (what, change) in changes {
        let before = revision(&server);
        change(&m);
        let want = fresh_revision(&m);
        assert_ne!(want, before, "{what}: the change moves the revision");
        wait_for_revision(&server, &want, &stderr);
        let (bytes, sig) = served_state(&server, &token);
        let dir = m.codexport_home.join("master");
        assert_eq!(
            bytes,
            fs_err::read(dir.join("state.yaml")).unwrap(),
            "{what}: served = on disk"
        );
        assert_eq!(
            sig,
            fs_err::read_to_string(dir.join("state.yaml.sig")).unwrap().trim(),
            "{what}"
        );
    }
    // A whole-process rebuild (a full scan) finds nothing the watcher missed.
    let served = revision(&server);
    m.ok(&["master", "rebuild"]);
    let status: serde_json::Value =
        serde_json::from_str(&m.ok(&["master", "status", "--output", "json"]).stdout).unwrap();
    assert_eq!(status["revision"], served.as_str());
}

#[test]
fn codex_runtime_writes_publish_nothing() {
    let m = master();
    let mut server = m.serve_with(&[], &[(DEBOUNCE_ENV, "50")]);
    let stderr = Stderr::of(&mut server);
    let before = revision(&server);
    stderr.wait_for("directories watched");
    let at_start = stderr.publishes().len();
    write(&m, "sessions/2026/11/21/rollout-x.jsonl", "{}\n");
    write(&m, "history.jsonl", "{\"text\":\"hi\"}\n");
    write(&m, "state_5.sqlite", "SQLite format 3\0");
    write(&m, "state_5.sqlite-wal", "wal");
    write(&m, "log/codex-tui.log", "log line\n");
    write(&m, "skills/code-review/node_modules/x/index.js", "excluded\n");
    write(&m, "skills/code-review/.git/HEAD", "ref: refs/heads/main\n");
    write(&m, "notes.txt", "not included\n");
    // An absence: give the watcher many debounce periods to (wrongly) publish.
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(revision(&server), before);
    assert_eq!(stderr.publishes().len(), at_start, "{:#?}", stderr.lines());
    // The watcher is alive: an included file publishes exactly once more.
    write(&m, "prompts/new.md", "# new prompt\n");
    wait_for_revision(&server, &fresh_revision(&m), &stderr);
    stderr.wait_for("watch: published revision");
    assert_eq!(stderr.publishes().len(), at_start + 1, "{:#?}", stderr.lines());
}

#[test]
fn an_invalid_config_keeps_the_old_revision_until_it_is_fixed() {
    let m = master();
    let mut server = m.serve_with(&[], &[(DEBOUNCE_ENV, "50")]);
    let stderr = Stderr::of(&mut server);
    let before = revision(&server);
    let config = fs_err::read_to_string(m.codex_home.join("config.toml")).unwrap();
    write(&m, "config.toml", format!("{config}\n[broken\nmodel = \"x\"\n"));
    let failed = stderr.wait_for("watch: publish failed");
    let line = config.lines().count() + 2;
    assert!(failed.contains(&format!("config.toml:{line}:")), "file:line: {failed}");
    assert!(failed.contains(&format!("still serving {}", &before[..19])), "{failed}");
    assert_eq!(revision(&server), before, "the previous revision is still served");
    write(
        &m,
        "config.toml",
        format!("{config}\n# fixed\nmodel_reasoning_effort = \"high\"\n"),
    );
    let want = fresh_revision(&m);
    assert_ne!(want, before);
    wait_for_revision(&server, &want, &stderr);
}

#[test]
fn master_toml_changes_are_picked_up_with_new_directories() {
    let m = master();
    let mut server = m.serve_with(&[], &[(DEBOUNCE_ENV, "50")]);
    let stderr = Stderr::of(&mut server);
    let before = revision(&server);
    write(&m, "notes/a.md", "# not included yet\n");
    let settings = m.codexport_home.join("master/master.toml");
    let text = fs_err::read_to_string(&settings).unwrap();
    fs_err::write(
        &settings,
        text.replace("include = [", "include = [\n    \"notes/\",\n    \"extra/deep/\","),
    )
    .unwrap();
    let with_notes = fresh_revision(&m);
    assert_ne!(with_notes, before);
    wait_for_revision(&server, &with_notes, &stderr);
    // A directory created after start (two levels at once) is watched from then on.
    write(&m, "extra/deep/x.md", "# deep\n");
    wait_for_revision(&server, &fresh_revision(&m), &stderr);
    write(&m, "extra/deep/y/z.md", "# deeper\n");
    wait_for_revision(&server, &fresh_revision(&m), &stderr);
}

#[test]
fn no_watch_publishes_only_on_rebuild() {
    let m = master();
    let mut server = m.serve_with(&["--no-watch"], &[(DEBOUNCE_ENV, "50")]);
    let stderr = Stderr::of(&mut server);
    let before = revision(&server);
    write(&m, "AGENTS.md", "# edited, not watched\n");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(revision(&server), before);
    assert!(
        stderr.lines().iter().all(|l| !l.starts_with("watch")),
        "{:#?}",
        stderr.lines()
    );
    m.ok(&["master", "rebuild"]);
    wait_for_revision(&server, &fresh_revision(&m), &stderr);
}
