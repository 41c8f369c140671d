//! A master asleep on the tailnet (accepts connections, never answers) and a master that
//! revoked this follower: `status` says the truth fast, and the hook backs off (issue 21).

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{Machine, Pair};

/// Point the follower at a listener that accepts and never answers; returns the listener
/// (dropping it closes the port) and the connections it holds.
fn silent(f: &Machine, server_port: u16) -> (TcpListener, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepting = listener.try_clone().unwrap();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        // Bounded: at most 16 connections are held, then the thread ends.
        for c in accepting.incoming().take(16).flatten() {
            conns.push(c);
        }
    });
    let path = f.codexport_home.join("enrollment.toml");
    let text = fs_err::read_to_string(&path).unwrap();
    fs_err::write(&path, text.replace(&format!(":{server_port}"), &format!(":{port}"))).unwrap();
    (listener, held)
}

fn hook(f: &Machine, budget_ms: u32) -> (serde_json::Value, Duration) {
    let started = Instant::now();
    let mut child = f
        .command(&["reconcile", "--hook", "--timeout-ms", &budget_ms.to_string()])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"{}").unwrap();
    assert!(child.wait().unwrap().success(), "the hook always exits 0");
    let took = started.elapsed();
    let last = fs_err::read(f.codexport_home.join("hook-last.json")).unwrap();
    (serde_json::from_slice(&last).unwrap(), took)
}

#[test]
fn a_silent_master_costs_status_seconds_and_later_hook_runs_nothing() {
    let pair = Pair::applied();
    let f = &pair.follower;
    let (_listener, _held) = silent(f, pair.server.port);

    let started = Instant::now();
    let status = f.ok(&["status"]);
    let status_took = started.elapsed();
    assert!(status.stdout.contains("(unreachable)"), "{}", status.stdout);
    assert!(
        status_took < Duration::from_secs(5),
        "status answers within 5 s: {status_took:?}"
    );

    let (first, first_took) = hook(f, 1000);
    assert_eq!(first["outcome"], "timeout", "{first}");
    let (second, second_took) = hook(f, 1000);
    assert_eq!(second["outcome"], "backoff", "{second}");
    assert!(
        second["message"].as_str().unwrap().contains("not contacting it until"),
        "{second}"
    );
    assert!(
        second_took < Duration::from_millis(1000),
        "did not wait for the master: {second_took:?}"
    );
    let backoff: serde_json::Value =
        serde_json::from_slice(&fs_err::read(f.codexport_home.join("hook-backoff.json")).unwrap()).unwrap();
    assert_eq!(backoff["intervalSecs"], 60);
    let text = f.ok(&["status"]).stdout;
    assert!(text.contains("backoff"), "status shows the back-off: {text}");
    eprintln!("figures: status {status_took:?}, first hook {first_took:?}, second hook {second_took:?}");

    // A manual sync tries now (and fails fast with a short timeout); the back-off is over.
    let sync = f
        .command(&["sync"])
        .env("CODEXPORT_HTTP_TIMEOUT_MS", "500")
        .output()
        .unwrap();
    assert_eq!(sync.status.code(), Some(6), "{}", String::from_utf8_lossy(&sync.stderr));
    assert!(
        !f.codexport_home.join("hook-backoff.json").exists(),
        "reset by a manual command"
    );
    let (third, _) = hook(f, 500);
    assert_eq!(third["outcome"], "timeout", "contacted again: {third}");
}

#[test]
fn a_revoked_follower_hears_it_from_status_with_the_fix_and_a_nonzero_exit() {
    let pair = Pair::applied();
    pair.master.ok(&["master", "revoke", "test-follower"]);
    let text = pair.follower.run(&["status"]);
    assert_eq!(text.code, 5, "{}\n{}", text.stdout, text.stderr);
    assert!(text.stdout.contains("refuses this follower"), "{}", text.stdout);
    assert!(text.stdout.contains("re-join with a new link"), "{}", text.stdout);
    let json = pair.follower.run(&["status", "--output", "json"]);
    assert_eq!(json.code, 5);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["follower"]["refused"], true, "{v}");
    assert_eq!(v["follower"]["upToDate"], false, "{v}");
}
