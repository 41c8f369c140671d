//! The master hashes published files and serves them from CODEX_HOME, not from copies: a
//! publish copies nothing, a follower gets the published bytes, and a file that changed after
//! its publish is never sent as the old revision's blob (409 or a broken stream, then the
//! follower gets it with the next revision).

mod common;

use common::Machine;

fn token_of(link: &str) -> String {
    link.split("token=").nth(1).unwrap().to_string()
}

fn blobs_in_store(master: &Machine) -> Vec<String> {
    let store = master.codexport_home.join("master/blobs");
    walkdir::WalkDir::new(store)
        .min_depth(2)
        .into_iter()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect()
}

#[test]
fn a_publish_copies_no_published_file_and_followers_still_get_every_byte() {
    let pair = common::Pair::applied();
    let doc: codexport::model::DesiredState =
        serde_yaml::from_slice(&fs_err::read(pair.master.codexport_home.join("master/state.yaml")).unwrap()).unwrap();
    assert!(doc.spec.files.len() >= 3, "the example publishes files");
    let stored = blobs_in_store(&pair.master);
    for f in &doc.spec.files {
        assert!(!stored.contains(&f.sha256), "{} was copied into master/blobs", f.path);
        let got = fs_err::read(pair.follower.codex_home.join(&f.path)).unwrap();
        assert_eq!(codexport::fs::sha256_hex(&got), f.sha256, "{}", f.path);
    }
    // What the publish generates is in the store: the canonical config.toml.
    let config = doc.spec.config.as_ref().expect("a config blob");
    assert!(stored.contains(&config.sha256), "{stored:?}");
}

/// Master serving without its watcher; a follower joined at revision 1.
fn edited_twice_without_a_republish(same_size: bool) -> (Machine, common::Server, Machine, Vec<u8>) {
    let master = Machine::with_example();
    master.ok(&["master", "init"]);
    let server = master.serve_with(&["--no-watch"], &[]);
    let link = master.link(&server, "f");
    let follower = Machine::new();
    follower.ok(&["follower", "join", &link, "--apply"]);
    // Revision 2 publishes v2 of AGENTS.md; then AGENTS.md changes again, unpublished.
    let agents = master.codex_home.join("AGENTS.md");
    let v2 = b"# AGENTS v2\n".to_vec();
    fs_err::write(&agents, &v2).unwrap();
    master.ok(&["master", "rebuild"]);
    let v3: &[u8] = if same_size {
        b"# AGENTS v3\n"
    } else {
        b"# AGENTS, third version\n"
    };
    fs_err::write(&agents, v3).unwrap();
    (master, server, follower, v2)
}

#[test]
fn a_file_that_changed_since_its_publish_gets_409_then_arrives_with_the_next_revision() {
    let (master, server, follower, v2) = edited_twice_without_a_republish(false);
    // Over HTTP: the published blob of AGENTS.md is refused with a reason naming the file.
    let token = token_of(&master.link(&server, "probe"));
    let hash = codexport::fs::sha256_hex(&v2);
    let http = common::http();
    let one = http
        .get(format!("{}/v1/blobs/{hash}", server.url))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(one.status(), 409);
    assert!(one.text().unwrap().contains("AGENTS.md changed since it was published"));
    let batch = http
        .post(format!("{}/v1/blobs", server.url))
        .bearer_auth(&token)
        .json(&[&hash])
        .send()
        .unwrap();
    assert_eq!(batch.status(), 409);

    // The follower's sync starts over, then gives up with the master's reason; nothing moves.
    let before = follower.codex_files();
    let out = follower.run(&["sync"]).expect_code(1);
    assert!(out.stderr.contains("moved on during the sync"), "{}", out.stderr);
    assert!(
        out.stderr.contains("AGENTS.md changed since it was published"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("master rebuild"), "the hint: {}", out.stderr);
    assert_eq!(follower.codex_files(), before);

    master.ok(&["master", "rebuild"]);
    follower.ok(&["sync", "--apply"]);
    let now = fs_err::read(master.codex_home.join("AGENTS.md")).unwrap();
    assert_eq!(fs_err::read(follower.codex_home.join("AGENTS.md")).unwrap(), now);
}

#[test]
fn a_same_size_edit_since_the_publish_breaks_the_stream_and_never_lands() {
    let (master, _server, follower, v2) = edited_twice_without_a_republish(true);
    let before = follower.codex_files();
    let out = follower.run(&["sync", "--apply"]).expect_code(6);
    assert!(out.stderr.contains("broke off"), "{}", out.stderr);
    assert_eq!(follower.codex_files(), before, "nothing applied");
    let store = follower.codexport_home.join("store/blobs");
    let hash = codexport::fs::sha256_hex(&v2);
    assert!(
        !store.join(&hash[..2]).join(&hash).exists(),
        "no blob stored under the published hash"
    );
    master.ok(&["master", "rebuild"]);
    follower.ok(&["sync", "--apply"]);
    let now = fs_err::read(master.codex_home.join("AGENTS.md")).unwrap();
    assert_eq!(fs_err::read(follower.codex_home.join("AGENTS.md")).unwrap(), now);
}
