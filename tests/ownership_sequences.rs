//! config.toml ownership is only ever gained by keys codexport itself wrote: no sequence of
//! applies, rollbacks (to any kept generation, 0 included), master changes and keys the
//! follower's Codex writes removes a key codexport did not write. A few fixed-seed random
//! sequences run against the real master and CLI (a property test with the seeds in the
//! failure message), plus the reproduction from issue 19: join, a rollback that restores
//! nothing, a master change.

mod common;

use common::{Machine, Server};

const FOLLOWER_OWN: &str = "[mcp_servers.localthing]\ncommand = \"/usr/local/bin/localthing\"\n\n[projects.\"/home/me/src/app\"]\ntrust_level = \"trusted\"\n";

fn master_config(version: u32, servers: &[u32]) -> String {
    let mut text = format!("model = \"model-{version}\"\napproval_policy = \"on-request\"\n");
    for s in servers {
        text.push_str(&format!("\n[mcp_servers.master{s}]\ncommand = \"/opt/master{s}\"\n"));
    }
    text
}

fn setup() -> (Machine, Server, Machine) {
    let master = Machine::new();
    fs_err::write(master.codex_home.join("config.toml"), master_config(0, &[1])).unwrap();
    master.ok(&["master", "init"]);
    let server = master.serve();
    let follower = Machine::new();
    fs_err::write(follower.codex_home.join("config.toml"), FOLLOWER_OWN).unwrap();
    follower.ok(&["follower", "join", &master.link(&server, "f"), "--apply"]);
    (master, server, follower)
}

fn follower_table(f: &Machine) -> toml::Table {
    toml::from_str(&fs_err::read_to_string(f.codex_home.join("config.toml")).unwrap()).unwrap()
}

/// Every `(table, key)` the follower wrote is still there, with its value.
fn assert_kept(f: &Machine, own: &[(String, String)], context: &str) {
    let table = follower_table(f);
    for (section, name) in own {
        let found = table.get(section.as_str()).and_then(|t| t.get(name.as_str())).is_some();
        assert!(found, "{context}: the follower's {section}.{name} is gone:\n{table:#?}");
    }
}

#[test]
fn a_rollback_that_restores_nothing_then_a_master_change_keeps_the_followers_keys() {
    let (master, _server, f) = setup();
    let own = vec![
        ("mcp_servers".to_string(), "localthing".to_string()),
        ("projects".to_string(), "/home/me/src/app".to_string()),
    ];
    assert_kept(&f, &own, "after join");
    let _ = f.run(&["rollback"]);
    fs_err::write(master.codex_home.join("config.toml"), master_config(1, &[2])).unwrap();
    master.ok(&["master", "rebuild"]);
    f.ok(&["reconcile"]);
    assert_kept(&f, &own, "after rollback and a master change");
    let table = follower_table(&f);
    assert_eq!(table["model"].as_str(), Some("model-1"), "the master's change arrived");
    assert!(
        table["mcp_servers"].get("master1").is_none(),
        "a key the master dropped is gone"
    );
}

/// xorshift64*: a small deterministic generator, so a failing seed replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % below
    }
}

#[test]
fn no_sequence_of_applies_rollbacks_and_master_changes_removes_a_key_codexport_did_not_write() {
    for seed in [
        0x9e37_79b9_7f4a_7c15_u64,
        0xdead_beef_cafe_f00d,
        42,
        7,
        0x1234_5678,
        99_991,
    ] {
        let (master, _server, f) = setup();
        let mut rng = Rng(seed);
        let mut own = vec![
            ("mcp_servers".to_string(), "localthing".to_string()),
            ("projects".to_string(), "/home/me/src/app".to_string()),
        ];
        let mut log = Vec::new();
        for step in 0..14u32 {
            let op = rng.next(5);
            match op {
                0 => {
                    let servers: Vec<u32> = (1..4).filter(|_| rng.next(2) == 0).collect();
                    fs_err::write(master.codex_home.join("config.toml"), master_config(step, &servers)).unwrap();
                    master.ok(&["master", "rebuild"]);
                    log.push(format!("master {servers:?}"));
                }
                1 => {
                    f.ok(&["reconcile"]);
                    log.push("reconcile".into());
                }
                2 => {
                    let out = f.run(&["rollback"]);
                    log.push(format!("rollback ({})", out.code));
                }
                3 => {
                    let generations: serde_json::Value =
                        serde_json::from_str(&f.ok(&["generations", "--output", "json"]).stdout).unwrap();
                    let numbers: Vec<u64> = generations
                        .as_array()
                        .or_else(|| generations["generations"].as_array())
                        .unwrap()
                        .iter()
                        .filter_map(|g| g["number"].as_u64())
                        .collect();
                    let to = numbers[rng.next(numbers.len() as u64) as usize];
                    f.ok(&["rollback", "--to", &to.to_string()]);
                    log.push(format!("rollback --to {to}"));
                }
                _ => {
                    // The follower's Codex trusts another project.
                    let path = format!("/home/me/src/p{step}");
                    let mut text = fs_err::read_to_string(f.codex_home.join("config.toml")).unwrap();
                    text.push_str(&format!("\n[projects.\"{path}\"]\ntrust_level = \"trusted\"\n"));
                    fs_err::write(f.codex_home.join("config.toml"), text).unwrap();
                    own.push(("projects".into(), path));
                    log.push("codex writes a project".into());
                }
            }
            assert_kept(&f, &own, &format!("seed {seed:#x}, steps {log:?}"));
        }
    }
}
