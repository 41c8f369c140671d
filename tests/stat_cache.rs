//! The follower's stat cache never hides a local edit: a same-size edit with the old mtime put
//! back is still drift (ctime moved), and a file whose stat is unchanged is not reread.

mod common;

use common::Pair;

#[test]
fn a_same_size_edit_with_the_old_mtime_is_still_drift() {
    let pair = Pair::applied();
    let f = &pair.follower;
    let inventory: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(f.codexport_home.join("inventory.json")).unwrap()).unwrap();
    assert!(
        inventory["files"]["AGENTS.md"]["stat"]["ino"].as_u64().is_some(),
        "the apply recorded the stat: {}",
        inventory["files"]["AGENTS.md"]
    );
    let path = f.codex_home.join("AGENTS.md");
    let original = fs_err::read(&path).unwrap();
    let mtime = fs_err::metadata(&path).unwrap().modified().unwrap();
    let mut edited = original.clone();
    edited[0] = if edited[0] == b'X' { b'Y' } else { b'X' };
    std::thread::sleep(std::time::Duration::from_millis(20));
    fs_err::write(&path, &edited).unwrap();
    fs_err::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let plan: serde_json::Value =
        serde_json::from_str(&f.ok(&["plan", "--offline", "--output", "json"]).stdout).unwrap();
    let step = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"] == "AGENTS.md")
        .unwrap();
    assert_eq!(step["drift"], true, "{step}");
    f.ok(&["apply"]);
    assert_eq!(
        fs_err::read(&path).unwrap(),
        original,
        "onDrift = overwrite put the master's back"
    );
    assert!(f.ok(&["plan", "--offline"]).stdout.starts_with("No changes."));
}
