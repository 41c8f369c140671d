//! Replay (TUF "rollback attack"): an attacker on the network who recorded an older signed
//! `/v1/meta` + `/v1/state` answers in the master's place. The signature still verifies; the
//! publication number (`metadata.sequence`) does not go back, so the follower refuses it with
//! exit 5 and writes nothing (issue 20, item 1).

mod common;

use common::hostile::{self, Body, Hostile, Reply};
use common::{Machine, tree};

/// What a network attacker records of one revision: the meta and the signed state.
struct Recorded {
    meta: Vec<u8>,
    state: Vec<u8>,
    signature: String,
}

fn record(server_url: &str, token: &str) -> Recorded {
    let http = common::http();
    let meta = http.get(format!("{server_url}/v1/meta")).send().unwrap();
    assert!(meta.status().is_success());
    let meta = meta.bytes().unwrap().to_vec();
    let state = http
        .get(format!("{server_url}/v1/state"))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert!(state.status().is_success(), "{}", state.status());
    let signature = state.headers()[codexport::model::wire::SIGNATURE_HEADER]
        .to_str()
        .unwrap()
        .to_string();
    Recorded {
        meta,
        state: state.bytes().unwrap().to_vec(),
        signature,
    }
}

fn enrollment(m: &Machine) -> toml::Table {
    fs_err::read_to_string(m.codexport_home.join("enrollment.toml"))
        .unwrap()
        .parse()
        .unwrap()
}

/// Point the follower's enrollment at `port`: the attacker answering at the master's address.
fn redirect(m: &Machine, port: u16) {
    let mut e = enrollment(m);
    e.insert("master".into(), format!("http://127.0.0.1:{port}").into());
    fs_err::write(m.codexport_home.join("enrollment.toml"), toml::to_string(&e).unwrap()).unwrap();
}

#[test]
fn a_recorded_older_document_replayed_by_the_network_is_refused_by_sync_and_by_the_hook() {
    let master = Machine::with_example();
    master.ok(&["master", "init"]);
    let server = master.serve();
    let follower = Machine::new();
    follower.ok(&["follower", "join", &master.link(&server, "laptop"), "--apply"]);
    let token = enrollment(&follower)["token"].as_str().unwrap().to_string();
    let old = record(&server.url, &token);

    // The master moves on (a leaked credential rotated, say); the follower follows.
    fs_err::write(master.codex_home.join("AGENTS.md"), "# fixed\n").unwrap();
    master.ok(&["master", "rebuild"]);
    follower.ok(&["sync", "--apply"]);
    assert_eq!(
        fs_err::read(follower.codex_home.join("AGENTS.md")).unwrap(),
        b"# fixed\n"
    );
    let before_codex = tree(&follower.codex_home);
    let staged = fs_err::read(follower.codexport_home.join("store/state.yaml")).unwrap();

    // The attacker answers with the recorded older revision, correctly signed.
    let attacker = Hostile::start();
    attacker.script(|s| {
        s.meta = Reply::ok(Body::Bytes(old.meta.clone()));
        s.state = Reply::ok(Body::Bytes(old.state.clone())).header("x-codexport-signature", &old.signature);
    });
    redirect(&follower, attacker.port);
    let run = follower.run(&["sync", "--apply"]);
    assert_eq!(run.code, 5, "a trust failure: {}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("old signed document is being replayed"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: nothing was written"), "{}", run.stderr);
    assert_eq!(tree(&follower.codex_home), before_codex, "nothing applied");
    assert_eq!(
        fs_err::read(follower.codexport_home.join("store/state.yaml")).unwrap(),
        staged,
        "nothing staged"
    );

    // The SessionStart hook refuses it too, and says so in its record.
    let hook = follower
        .command(&["reconcile", "--hook", "--timeout-ms", "10000"])
        .output()
        .unwrap();
    assert_eq!(hook.status.code(), Some(0), "the hook never fails Codex");
    let last: serde_json::Value =
        serde_json::from_slice(&fs_err::read(follower.codexport_home.join("hook-last.json")).unwrap()).unwrap();
    assert_eq!(last["outcome"], "refused", "{last}");
    assert_eq!(tree(&follower.codex_home), before_codex, "nothing applied by the hook");
}

#[test]
fn a_lower_or_equivocal_publication_number_is_refused_and_a_higher_one_accepted() {
    let hostile = Hostile::start();
    let follower = Machine::new();
    let publish = |sequence: u64, text: &[u8]| {
        let mut doc = hostile::document(&hostile.pinned, vec![hostile::entry("AGENTS.md", text)]);
        doc.metadata.sequence = sequence;
        hostile.serve_signed(&hostile::yaml(&doc), &hostile.pinned, &[text]);
    };
    publish(10, b"ten\n");
    follower.ok(&["follower", "join", &hostile.link(), "--apply"]);
    let freshness: serde_json::Value =
        serde_json::from_slice(&fs_err::read(follower.codexport_home.join("freshness.json")).unwrap()).unwrap();
    assert_eq!(freshness["sequence"], 10);
    assert_eq!(freshness["fingerprint"], hostile.pinned.fingerprint());

    publish(9, b"nine\n");
    let older = follower.run(&["sync"]);
    assert_eq!(older.code, 5, "{}", older.stderr);
    assert!(older.stderr.contains("publication 9"), "{}", older.stderr);
    assert!(
        older.stderr.contains("already accepted publication 10"),
        "{}",
        older.stderr
    );

    publish(10, b"other content, same number\n");
    assert_eq!(follower.run(&["sync"]).code, 5, "same number, other content");

    publish(11, b"eleven\n");
    follower.ok(&["sync", "--apply"]);
    assert_eq!(
        fs_err::read(follower.codex_home.join("AGENTS.md")).unwrap(),
        b"eleven\n"
    );
}

#[test]
fn every_publish_numbers_its_document_higher_across_a_key_rotation() {
    let master = Machine::with_example();
    master.ok(&["master", "init"]);
    let sequence = |m: &Machine| -> u64 {
        let text = fs_err::read_to_string(m.codexport_home.join("master/state.yaml")).unwrap();
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        doc["metadata"]["sequence"].as_u64().unwrap()
    };
    let first = sequence(&master);
    fs_err::write(master.codex_home.join("AGENTS.md"), "# changed\n").unwrap();
    master.ok(&["master", "rebuild"]);
    let second = sequence(&master);
    assert!(second > first, "{second} > {first}");
    master.ok(&["master", "init", "--rotate-key"]);
    let third = sequence(&master);
    assert!(third > second, "kept across --rotate-key: {third} > {second}");
}

#[test]
fn status_and_doctor_say_how_old_the_newest_signed_document_is_and_warn_when_it_is_old() {
    let pair = common::Pair::applied();
    let f = &pair.follower;
    let status: serde_json::Value = serde_json::from_str(&f.ok(&["status", "--output", "json"]).stdout).unwrap();
    let newest = &status["follower"]["newestSigned"];
    assert_eq!(newest["ageDays"], 0, "{status}");
    assert_eq!(newest["old"], false, "{status}");
    assert!(newest["sequence"].as_u64().unwrap() > 0);

    // The same document, signed 40 days ago by the master's clock.
    let path = f.codexport_home.join("freshness.json");
    let mut record: serde_json::Value = serde_json::from_slice(&fs_err::read(&path).unwrap()).unwrap();
    let then = std::time::SystemTime::now() - std::time::Duration::from_secs(40 * 86_400);
    record["generatedAt"] = humantime::format_rfc3339_seconds(then).to_string().into();
    fs_err::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
    let text = f.ok(&["status"]).stdout;
    assert!(text.contains("40 day(s) ago (old:"), "{text}");
    let doctor = f.run(&["doctor", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&doctor.stdout).unwrap();
    let check = v["sections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["checks"].as_array().unwrap())
        .find(|c| c["name"] == "freshness")
        .unwrap_or_else(|| panic!("no freshness check: {}", doctor.stdout))
        .clone();
    assert_eq!(check["status"], "warn", "{check}");
    assert!(check["detail"].as_str().unwrap().contains("40 day(s) ago"), "{check}");
}
