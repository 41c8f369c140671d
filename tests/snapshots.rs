//! insta snapshots (in `snapshots/`) of the desired-state document of examples/master-basic and
//! of the first-join plan. Timestamps, keys, host names and temp paths are redacted; the
//! revision is not: the same tree must always give the same revision.

mod common;

use common::{Machine, Pair};

macro_rules! in_snapshots_dir {
    ($($body:tt)*) => {
        insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, { $($body)* })
    };
}

#[test]
fn desired_state_of_master_basic() {
    let master = Machine::with_example();
    master.ok(&["master", "init"]);
    let text = fs_err::read_to_string(master.codexport_home.join("master/state.yaml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    in_snapshots_dir! {
        insta::assert_yaml_snapshot!("desired-state-master-basic", doc, {
            ".metadata.generatedAt" => "[generated-at]",
            ".metadata.master.fingerprint" => "[fingerprint]",
            ".metadata.master.publicKey" => "[public-key]",
            ".metadata.master.hostname" => "[hostname]",
            ".metadata.master.home" => "[master-home]",
            ".metadata.master.codexHome" => "[master-codex-home]",
        });
    }
}

#[test]
fn first_join_plan_of_master_basic() {
    let pair = Pair::joined();
    let json = pair.follower.ok(&["plan", "--offline", "--output", "json"]);
    let plan = common::normalize_plan_json(serde_json::from_str(&json.stdout).unwrap());
    let text = common::normalize_plan_text(&pair.follower.ok(&["plan", "--offline"]).stdout);
    in_snapshots_dir! {
        insta::assert_json_snapshot!("first-join-plan-master-basic", plan);
        insta::assert_snapshot!("first-join-plan-master-basic-text", text);
    }
}
