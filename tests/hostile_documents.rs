//! Issue 20: a hostile master (or a man in the middle) against the real follower binary, for
//! what the signature cannot stop: redirects, a document that calls a secret path something
//! else, modes that let other users edit what Codex runs, secrets in shapes the redaction
//! missed, and names that only differ by case from config.toml/hooks.json.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use codexport::model::{FileClass, FileMode};
use common::hostile::{Hostile, Reply, Sentinel, document, entry, listing, yaml};
use common::{Machine, Run};

fn mode(p: &Path) -> u32 {
    fs_err::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// A second listener on 127.0.0.1: records the head of every request it gets and answers 200.
/// Its thread lives until the test process ends (no child process).
struct Recorder {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut head = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    head.push_str(&line);
                    line.clear();
                }
                record.lock().unwrap().push(head);
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}");
            }
        });
        Recorder { port, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

#[test]
fn redirects_are_not_followed_and_name_status_and_location_without_the_token() {
    let h = Hostile::start();
    let doc = document(&h.pinned, vec![entry("AGENTS.md", b"one\n")]);
    h.serve_signed(&yaml(&doc), &h.pinned, &[b"one\n"]);
    let follower = Machine::new();
    follower.ok(&["follower", "join", &h.link()]);
    let recorder = Recorder::start();
    // The Location echoes the token, as a man in the middle who read it could.
    let location = format!(
        "http://127.0.0.1:{}/elsewhere/v1/state?token=cxp_hostile",
        recorder.port
    );
    for route in ["meta", "state"] {
        let redirect = Reply::status(302).header("location", &location);
        match route {
            "meta" => h.script(|s| s.meta = redirect),
            // Meta names another revision than the staged one, so `sync` asks for the state.
            _ => h.script(|s| {
                s.meta = Hostile::meta_for(&h.pinned);
                s.state = redirect;
            }),
        }
        let run = follower.run(&["sync"]);
        assert_eq!(
            recorder.seen(),
            Vec::<String>::new(),
            "{route}: the redirect was followed"
        );
        let run = run.expect_code(1);
        assert!(
            run.stderr.contains("302") && run.stderr.contains("redirect"),
            "{route}: {}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains(&format!("http://127.0.0.1:{}/elsewhere/v1/state", recorder.port)),
            "{route}: the Location is named: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("cxp_hostile") && !run.stdout.contains("cxp_hostile"),
            "{route}: {}",
            run.stderr
        );
    }
    assert_eq!(
        fs_err::read(follower.codexport_home.join("store/state.yaml")).unwrap(),
        yaml(&doc),
        "the staged document stays"
    );
}

/// A document declaring the follower's secret files as plain instructions, 0644.
fn disguised_secrets(h: &Hostile, auth: &[u8], creds: &[u8]) {
    let mut files = vec![entry("auth.json", auth), entry(".credentials.json", creds)];
    for f in &mut files {
        f.class = FileClass::Instructions;
        f.mode = FileMode(0o644);
    }
    h.serve_signed(&yaml(&document(&h.pinned, files)), &h.pinned, &[auth, creds]);
}

#[test]
fn secret_paths_are_secret_whatever_the_document_says() {
    const OWN: &str = "follower-own-credential-5b1e";
    const NEW: &str = "master-credential-c94d";
    let h = Hostile::start();
    let follower = Machine::new();
    for name in ["auth.json", ".credentials.json"] {
        let p = follower.codex_home.join(name);
        fs_err::write(&p, format!("{{\"token\": \"{OWN}\"}}\n")).unwrap();
        fs_err::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let auth = format!("{{\"token\": \"{NEW}\"}}\n");
    let creds = format!("{{\"refresh\": \"{NEW}\"}}\n");
    disguised_secrets(&h, auth.as_bytes(), creds.as_bytes());
    follower.ok(&["follower", "join", &h.link()]);
    let clean = |what: &str, run: &Run| {
        for text in [&run.stdout, &run.stderr] {
            assert!(
                !text.contains(OWN) && !text.contains(NEW),
                "{what} shows a credential:\n{text}"
            );
        }
    };
    for format in ["text", "json", "yaml"] {
        let plan = follower.ok(&["plan", "--output", format]);
        clean(&format!("plan --output {format}"), &plan);
        let marked = match format {
            "text" => "(sensitive)",
            "json" => "\"sensitive\": true",
            _ => "sensitive: true",
        };
        assert_eq!(plan.stdout.matches(marked).count(), 2, "{format}: {}", plan.stdout);
    }
    let plan: serde_json::Value = serde_json::from_str(&follower.ok(&["plan", "--output", "json"]).stdout).unwrap();
    for step in plan["steps"].as_array().unwrap() {
        if ["auth.json", ".credentials.json"].contains(&step["path"].as_str().unwrap()) {
            assert_eq!(step["class"], "secret", "{step}");
            assert_eq!(step["sensitive"], true, "{step}");
            assert_eq!(step["mode"], "0o600", "{step}");
            assert!(step.get("diff").is_none() && step.get("sizeAfter").is_none(), "{step}");
        }
    }
    clean("apply --dry-run", &follower.ok(&["apply", "--dry-run"]));
    clean("apply", &follower.ok(&["apply", "-vv"]));
    for (name, body) in [("auth.json", &auth), (".credentials.json", &creds)] {
        let p = follower.codex_home.join(name);
        assert_eq!(&fs_err::read_to_string(&p).unwrap(), body, "{name} was applied");
        assert_eq!(mode(&p), 0o600, "{name}");
    }
}

#[test]
fn modes_from_the_document_are_clamped() {
    let h = Hostile::start();
    let script: &[u8] = b"#!/bin/sh\necho hi\n";
    let mut files = vec![
        entry("hooks/run.sh", script),
        entry("prompts/p.md", b"prompt\n"),
        entry("skills/s/setuid.sh", b"#!/bin/sh\n"),
        entry("rules/private.rules", b"rule\n"),
    ];
    files[0].mode = FileMode(0o777);
    files[1].mode = FileMode(0o666);
    files[2].mode = FileMode(0o6775);
    files[3].mode = FileMode(0o600);
    let blobs: Vec<Vec<u8>> = vec![
        script.to_vec(),
        b"prompt\n".to_vec(),
        b"#!/bin/sh\n".to_vec(),
        b"rule\n".to_vec(),
    ];
    let refs: Vec<&[u8]> = blobs.iter().map(Vec::as_slice).collect();
    h.serve_signed(&yaml(&document(&h.pinned, files)), &h.pinned, &refs);
    let follower = Machine::new();
    follower.ok(&["follower", "join", &h.link()]);
    let plan: serde_json::Value = serde_json::from_str(&follower.ok(&["plan", "--output", "json"]).stdout).unwrap();
    let planned = |path: &str| {
        plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["path"] == path)
            .map(|s| s["mode"].clone())
    };
    assert_eq!(planned("hooks/run.sh"), Some("0o755".into()));
    assert_eq!(planned("prompts/p.md"), Some("0o644".into()));
    follower.ok(&["apply"]);
    let c = &follower.codex_home;
    assert_eq!(mode(&c.join("hooks/run.sh")), 0o755, "no group/world write on a script");
    assert_eq!(mode(&c.join("prompts/p.md")), 0o644, "no group/world write");
    assert_eq!(mode(&c.join("skills/s/setuid.sh")), 0o755, "setuid/setgid stripped");
    assert_eq!(mode(&c.join("rules/private.rules")), 0o600, "stricter modes are kept");
    // Applying again is a no-op: the clamped mode is what the plan wants.
    let again = follower.ok(&["plan", "--output", "json"]);
    let again: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(again["summary"]["update"], 0, "{again}");
}

/// Refused as a trust failure (exit 5) with `needle` in stderr, and nothing written.
fn join_refused(h: &Hostile, needle: &str) {
    let follower = Machine::new();
    let sentinel = Sentinel::around(&follower);
    let before = sentinel.snapshot();
    let run = follower.run(&["follower", "join", &h.link(), "--apply"]).expect_code(5);
    assert!(run.stderr.contains(needle), "want {needle:?} in:\n{}", run.stderr);
    assert_eq!(sentinel.snapshot(), before, "bytes changed outside CODEXPORT_HOME");
    let left = common::without_logs(listing(&follower.codexport_home));
    assert!(left.is_empty(), "CODEXPORT_HOME keeps {left:?}");
}

#[test]
fn names_that_fold_to_config_toml_or_hooks_json_are_refused() {
    let h = Hostile::start();
    for path in ["Config.toml", "HOOKS.JSON", "CONFIG.TOML/x", "Hooks.Json"] {
        let doc = document(&h.pinned, vec![entry(path, b"model = 'pwned'\n")]);
        h.serve_signed(&yaml(&doc), &h.pinned, &[b"model = 'pwned'\n"]);
        join_refused(&h, "must travel as spec.config/spec.hooks");
    }
}
