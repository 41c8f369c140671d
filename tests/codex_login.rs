//! A Codex that refreshed its own login on a follower keeps it: a credential file changed on
//! the follower while the master's copy did not is kept (three-way), by `reconcile` and by the
//! SessionStart hook; a new copy from the master still wins, with the follower's backed up. A
//! follower that excludes `auth.json` never downloads its blob.

mod common;

use common::Machine;

const MASTER_LOGIN: &str = r#"{"tokens": {"refresh_token": "master-rt-1"}}"#;
const REFRESHED: &str = r#"{"tokens": {"refresh_token": "follower-rt-2"}}"#;

fn master_with_login() -> Machine {
    let master = Machine::with_example();
    fs_err::write(master.codex_home.join("auth.json"), MASTER_LOGIN).unwrap();
    master.ok(&["master", "init"]);
    master
}

fn auth(m: &Machine) -> String {
    fs_err::read_to_string(m.codex_home.join("auth.json")).unwrap()
}

#[test]
fn a_login_codex_refreshed_on_the_follower_is_kept_until_the_master_changes_its_own() {
    let master = master_with_login();
    let server = master.serve();
    let follower = Machine::new();
    follower.ok(&["follower", "join", &master.link(&server, "f"), "--apply"]);
    assert_eq!(auth(&follower), MASTER_LOGIN);

    // The follower's Codex rotates its refresh token.
    fs_err::write(follower.codex_home.join("auth.json"), REFRESHED).unwrap();
    let text = follower.ok(&["plan"]).stdout;
    assert!(text.contains("No changes"), "{text}");
    let plan = follower.ok(&["plan", "--output", "json"]).stdout;
    assert!(!plan.contains("follower-rt-2"), "{plan}");
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let step = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"] == "auth.json")
        .unwrap_or_else(|| panic!("{plan:#}"));
    assert_eq!(step["action"], "noop", "{step}");
    assert!(
        step["reason"].as_str().unwrap().contains("Codex refreshes its login"),
        "{step}"
    );
    follower.ok(&["reconcile"]);
    assert_eq!(auth(&follower), REFRESHED, "reconcile keeps the refreshed login");
    follower.ok(&["reconcile", "--hook", "--timeout-ms", "5000"]);
    let last: serde_json::Value =
        serde_json::from_slice(&fs_err::read(follower.codexport_home.join("hook-last.json")).unwrap()).unwrap();
    assert_eq!(last["outcome"], "up-to-date", "{last}");
    assert_eq!(auth(&follower), REFRESHED, "so does the hook");

    // The master logs in again: its new copy wins, the follower's is backed up.
    let renewed = r#"{"tokens": {"refresh_token": "master-rt-3"}}"#;
    fs_err::write(master.codex_home.join("auth.json"), renewed).unwrap();
    master.ok(&["master", "rebuild"]);
    follower.ok(&["reconcile"]);
    assert_eq!(auth(&follower), renewed);
    let backups = walkdir::WalkDir::new(follower.codexport_home.join("backups"))
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.ends_with("auth.json"))
        .any(|p| fs_err::read_to_string(p).unwrap() == REFRESHED);
    assert!(backups, "the refreshed login is in a backup");
    drop(server);
}

#[test]
fn an_excluded_auth_json_is_never_downloaded() {
    let master = master_with_login();
    let server = master.serve();
    let follower = Machine::new();
    fs_err::create_dir_all(&follower.codexport_home).unwrap();
    fs_err::write(
        follower.codexport_home.join("local.toml"),
        "exclude = [\"auth.json\"]\n",
    )
    .unwrap();
    follower.ok(&["follower", "join", &master.link(&server, "f"), "--apply"]);
    assert!(!follower.codex_home.join("auth.json").exists());
    let blob = codexport::fs::sha256_hex(MASTER_LOGIN.as_bytes());
    let store = codexport::blobstore::BlobStore::new(follower.codexport_home.join("store/blobs"));
    assert!(!store.contains(&blob), "the excluded login's blob was fetched");
    assert!(follower.codex_home.join("config.toml").is_file(), "the rest applied");
    drop(server);
}
