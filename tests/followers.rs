//! Followers and tokens on the real server: `master followers` (last seen, applied revision,
//! current/behind), `master revoke` (refused at once, like an unknown path), and identity
//! rotation with `master init --rotate-key`.

mod common;

use std::time::{Duration, Instant};

use common::{Machine, Pair};

fn token_of(link: &str) -> String {
    link.split("token=").nth(1).unwrap().to_string()
}

fn followers(master: &Machine) -> serde_json::Value {
    let out = master.ok(&["master", "followers", "--output", "json"]);
    serde_json::from_str(&out.stdout).unwrap()
}

/// Poll `master followers` until `want` holds for the row of `name` (the server flushes what it
/// saw every 2 s); panics with the last listing after 15 s.
fn wait_for_row(master: &Machine, name: &str, want: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let all = followers(master);
        let row = all["followers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_default();
        if want(&row) {
            return row;
        }
        assert!(Instant::now() < deadline, "{name} never matched: {all:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn followers_lists_last_seen_and_applied_revision_then_behind_after_a_rebuild() {
    let pair = Pair::applied();
    let listing = followers(&pair.master);
    let published = listing["publishedRevision"].as_str().unwrap().to_string();
    // The follower reports its applied revision with every request; a sync after the apply
    // tells the master it is current.
    pair.follower.ok(&["sync"]);
    let row = wait_for_row(&pair.master, "test-follower", |r| r["state"] == "current");
    assert_eq!(row["appliedRevision"], published.as_str());
    assert!(row["lastSeen"].as_str().unwrap().ends_with('Z'), "{row}");
    assert!(row["created"].as_str().is_some(), "{row}");
    let seen = pair.master.codexport_home.join("master/followers-seen.json");
    let seen_text = fs_err::read_to_string(&seen).unwrap();
    assert!(!seen_text.contains("cxp_"), "no token is recorded");

    fs_err::write(pair.master.codex_home.join("AGENTS.md"), "# changed\n").unwrap();
    pair.master.ok(&["master", "rebuild"]);
    let row = wait_for_row(&pair.master, "test-follower", |r| r["state"] == "behind");
    assert_eq!(row["appliedRevision"], published.as_str(), "still the old one");
    let text = pair.master.ok(&["master", "followers"]).stdout;
    let line = text.lines().find(|l| l.starts_with("test-follower")).unwrap();
    assert!(line.ends_with("behind"), "{text}");

    pair.follower.ok(&["reconcile"]);
    pair.follower.ok(&["sync"]);
    wait_for_row(&pair.master, "test-follower", |r| {
        r["state"] == "current" && r["appliedRevision"] != published.as_str()
    });

    let never = pair.master.link(&pair.server, "spare");
    assert!(never.contains("token="));
    let row = wait_for_row(&pair.master, "spare", |r| r["state"] == "never-seen");
    assert!(row["lastSeen"].is_null());
}

#[test]
fn revoke_refuses_the_token_at_once_with_the_same_404_as_an_unknown_path() {
    let pair = Pair::applied();
    let token = token_of(&pair.link);
    let http = common::http();
    let get = |path: &str, token: Option<&str>| {
        let mut req = http.get(format!("{}{path}", pair.server.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().unwrap();
        (resp.status().as_u16(), resp.bytes().unwrap().to_vec())
    };
    assert_eq!(get("/v1/state", Some(&token)).0, 200);

    let out = pair.master.ok(&["master", "revoke", "test-follower"]);
    assert!(out.stdout.contains("revoked test-follower"), "{}", out.stdout);
    // No restart, no wait: the server re-reads tokens.json when it changes.
    let unknown = get("/v1/no-such-path", Some(&token));
    assert_eq!(unknown, (404, Vec::new()));
    assert_eq!(get("/v1/state", Some(&token)), unknown);
    assert_eq!(
        get("/v1/meta", Some(&token)),
        unknown,
        "a presented bad token gets 404 on meta too"
    );
    assert_eq!(get("/v1/state", None), unknown, "no token");
    assert_eq!(get("/v1/meta", None).0, 200, "meta stays public without a token");

    let before = pair.follower.codex_files();
    let sync = pair.follower.run(&["sync"]).expect_code(5);
    assert!(sync.stderr.contains("refused this follower's token"), "{}", sync.stderr);
    assert!(
        sync.stderr.contains("hint: the token is wrong or was revoked"),
        "{}",
        sync.stderr
    );
    assert_eq!(pair.follower.codex_files(), before);

    let listing = followers(&pair.master);
    assert_eq!(listing["followers"][0]["state"], "revoked");
    let nobody = pair.master.run(&["master", "revoke", "nobody"]).expect_code(4);
    assert!(
        nobody.stderr.contains("no follower named \"nobody\""),
        "{}",
        nobody.stderr
    );

    // A new link for the same name lets it back in; the old token stays dead.
    let link = pair.master.link(&pair.server, "test-follower");
    pair.follower.ok(&["follower", "join", &link]);
    assert_eq!(get("/v1/state", Some(&token)).0, 404);
    assert_eq!(get("/v1/state", Some(&token_of(&link))).0, 200);
}

#[test]
fn rotate_key_republishes_the_same_tree_and_followers_refuse_it_until_they_rejoin() {
    let pair = Pair::applied();
    let master_dir = pair.master.codexport_home.join("master");
    let old_key = fs_err::read_to_string(master_dir.join("identity.key")).unwrap();
    let before_status: serde_json::Value =
        serde_json::from_str(&pair.master.ok(&["master", "status", "--output", "json"]).stdout).unwrap();
    let before = pair.follower.codex_files();
    let staged = fs_err::read(pair.follower.codexport_home.join("store/state.yaml")).unwrap();

    let out = pair.master.ok(&["master", "init", "--rotate-key"]);
    assert!(out.stdout.contains("created master identity"), "{}", out.stdout);
    assert!(out.stdout.contains("old key kept as"), "{}", out.stdout);
    let kept: Vec<_> = fs_err::read_dir(&master_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("identity.key.old-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(fs_err::read_to_string(master_dir.join(&kept[0])).unwrap(), old_key);
    let after_status: serde_json::Value =
        serde_json::from_str(&pair.master.ok(&["master", "status", "--output", "json"]).stdout).unwrap();
    assert_ne!(after_status["fingerprint"], before_status["fingerprint"]);
    assert_eq!(
        after_status["revision"], before_status["revision"],
        "same tree, same revision"
    );
    let meta: serde_json::Value = reqwest::blocking::get(format!("{}/v1/meta", pair.server.url))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        meta["fingerprint"], after_status["fingerprint"],
        "the running server serves the new key"
    );

    for args in [&["sync"][..], &["reconcile"], &["plan"], &["sync", "--apply"]] {
        let out = pair.follower.run(args).expect_code(5);
        assert!(out.stderr.contains("fingerprint mismatch"), "{args:?}: {}", out.stderr);
    }
    assert_eq!(pair.follower.codex_files(), before, "nothing applied");
    assert_eq!(
        fs_err::read(pair.follower.codexport_home.join("store/state.yaml")).unwrap(),
        staged,
        "nothing staged"
    );
    let status = pair.follower.ok(&["status"]);
    assert!(
        status
            .stdout
            .contains("master identity changed: re-join with a new link"),
        "{}",
        status.stdout
    );

    let link = pair.master.link(&pair.server, "test-follower");
    pair.follower.ok(&["follower", "join", &link, "--apply"]);
    pair.follower.ok(&["sync"]);
    let status = pair.follower.ok(&["status"]).stdout;
    assert!(!status.contains("identity changed"), "{status}");
}
