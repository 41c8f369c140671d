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
