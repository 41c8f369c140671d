//! A hostile master against the real follower binary. Each case: the documented exit code, a
//! message naming the cause, and no byte written outside the allowed roots (a sentinel tree
//! around HOME, CODEX_HOME included, hashes the same before and after; no enrollment).
//!
//! Compromised master = signs with the key the follower pinned; spoofed = anything else.
//! Exit codes (DESIGN.md): 5 trust failure (bad path, bad hash, bad signature, over a cap),
//! 6 the transfer broke off or stalled, 1 a protocol error without a trust meaning.

mod common;

use codexport::follower::client::TIMEOUT_ENV;
use common::hostile::{Body, Hostile, Reply, Sentinel, document, entry, frames, listing, yaml};
use common::{Machine, Run};

/// Join `h` with a fresh follower; require `code`, every needle in stderr, and nothing written.
fn join_refused(h: &Hostile, code: i32, needles: &[&str]) -> Run {
    let follower = Machine::new();
    let sentinel = Sentinel::around(&follower);
    let before = sentinel.snapshot();
    let out = follower
        .command(&["follower", "join", &h.link()])
        .env(TIMEOUT_ENV, "1500")
        .output()
        .unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
    .expect_code(code);
    for needle in needles {
        assert!(run.stderr.contains(needle), "want {needle:?} in:\n{}", run.stderr);
    }
    assert_eq!(sentinel.snapshot(), before, "bytes changed outside CODEXPORT_HOME");
    let left = common::without_logs(listing(&follower.codexport_home));
    assert!(
        left.is_empty(),
        "CODEXPORT_HOME keeps {left:?} (no enrollment, no store; the log stays)"
    );
    run
}

/// Files of a document: (path, bytes).
type Files<'a> = &'a [(&'a str, &'a [u8])];

/// A compromised master serving a correctly signed document with these files.
fn signed_files(h: &Hostile, files: Files<'_>) {
    let doc = document(&h.pinned, files.iter().map(|(p, b)| entry(p, b)).collect());
    let blobs: Vec<&[u8]> = files.iter().map(|(_, b)| *b).collect();
    h.serve_signed(&yaml(&doc), &h.pinned, &blobs);
}

#[test]
fn compromised_master_paths_that_escape_or_clash_are_refused_before_anything_is_fetched() {
    let h = Hostile::start();
    let deep = format!("{}a", "a/".repeat(9_999));
    let cases: [(Files<'_>, &str); 8] = [
        (&[("../x", b"pwned")], "\"../x\" is not normalised"),
        (&[("skills/../../x", b"pwned")], "is not normalised"),
        (&[("/tmp/codexport-hostile", b"pwned")], "is absolute"),
        (&[("C:/Windows/evil", b"pwned")], "is absolute"),
        (&[("..\\..\\x", b"pwned")], "contains a backslash"),
        (
            &[("prompts/A.md", b"a"), ("prompts/a.md", b"b")],
            "differ only by letter case",
        ),
        (&[(deep.as_str(), b"deep")], "is too long or too deep"),
        (&[("a\0b", b"nul")], "contains a control character"),
    ];
    for (files, needle) in cases {
        signed_files(&h, files);
        join_refused(&h, 5, &["desired state from http://127.0.0.1:", "refused", needle]);
    }
    signed_files(&h, &[("config.toml", b"model = 'x'")]);
    join_refused(&h, 5, &["must travel as spec.config"]);
}

#[test]
fn compromised_master_blob_streams_that_lie_are_refused() {
    let h = Hostile::start();
    signed_files(&h, &[("AGENTS.md", b"good")]);
    let good_hash = codexport::fs::sha256_hex(b"good");
    let header = |len: u64| codexport::model::wire::frame_header(&good_hash, len).unwrap().to_vec();

    let swapped = [header(4), b"evil".to_vec()].concat();
    h.script(|s| s.blobs = Reply::ok(Body::Bytes(swapped)));
    join_refused(&h, 5, &["arrived with bytes that hash to"]);

    let longer = [header(5), b"good!".to_vec()].concat();
    h.script(|s| s.blobs = Reply::ok(Body::Bytes(longer)));
    join_refused(&h, 5, &["is 5 bytes, the document says 4"]);

    h.script(|s| s.blobs = Reply::ok(Body::Bytes(frames(&[b"unasked"]))));
    join_refused(&h, 5, &["which was not asked for"]);

    let full = frames(&[b"good"]);
    h.script(|s| s.blobs = Reply::ok(Body::Bytes(full[..full.len() - 2].to_vec())));
    join_refused(&h, 6, &["broke off", "blob stream ended early"]);

    h.script(|s| s.blobs = Reply::ok(Body::Bytes(Vec::new())));
    join_refused(&h, 6, &["broke off", "the blob stream ended without"]);

    h.script(|s| s.blobs = Reply::ok(Body::ThenAbort(full[..20].to_vec())));
    join_refused(&h, 6, &["broke off"]);

    h.script(|s| s.blobs = Reply::ok(Body::ThenStall(full[..44].to_vec())));
    join_refused(&h, 6, &["broke off"]);

    h.script(|s| s.blobs = Reply::status(409));
    let out = join_refused(&h, 1, &["moved on during the sync", "a blob is no longer published"]);
    assert!(
        !out.stderr.contains("token"),
        "a 409 is not a token failure: {}",
        out.stderr
    );
}

#[test]
fn documents_over_the_cap_are_refused_before_parsing() {
    let h = Hostile::start();
    let total = 100 * 1024 * 1024;
    for declared in [false, true] {
        h.streamed.store(0, std::sync::atomic::Ordering::SeqCst);
        let chunk = b"# padding that is not even a document\n".repeat(1700);
        let sig = h.pinned.sign(b"whatever");
        h.script(|s| {
            s.meta = Hostile::meta_for(&h.pinned);
            s.state = Reply::ok(Body::Endless { chunk, total, declared }).header("x-codexport-signature", &sig);
        });
        let start = std::time::Instant::now();
        let out = join_refused(&h, 5, &["the document is over the 33554432-byte cap"]);
        assert!(!out.stderr.contains("valid desired-state"), "refused before parsing");
        assert!(start.elapsed() < std::time::Duration::from_secs(30));
        let sent = h.streamed.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            sent < total / 2,
            "declared={declared}: the follower read on to {sent} bytes"
        );
    }
}

#[test]
fn compromised_master_documents_that_do_not_add_up_are_refused() {
    let h = Hostile::start();
    let other_master = document(&h.other, vec![entry("AGENTS.md", b"x")]);
    h.serve_signed(&yaml(&other_master), &h.pinned, &[b"x"]);
    join_refused(&h, 5, &["the document names a different master key"]);

    let mut forged = document(&h.pinned, vec![entry("AGENTS.md", b"x")]);
    forged.metadata.revision = format!("sha256:{}", "0".repeat(64));
    h.serve_signed(&yaml(&forged), &h.pinned, &[b"x"]);
    join_refused(&h, 5, &["does not match its spec"]);

    let doc = document(&h.pinned, vec![entry("prompts/MARKER.md", b"x")]);
    let bytes = yaml(&doc);
    let at = bytes.windows(6).position(|w| w == b"MARKER").unwrap();
    let mut invalid = bytes.clone();
    invalid[at..at + 2].copy_from_slice(b"\xff\xfe");
    h.serve_signed(&invalid, &h.pinned, &[b"x"]);
    join_refused(&h, 5, &["not a valid desired-state document"]);

    let mut huge = document(&h.pinned, vec![entry("AGENTS.md", b"x")]);
    huge.spec.files[0].size = 65 * 1024 * 1024;
    huge.metadata.revision = huge.spec.revision();
    h.serve_signed(&yaml(&huge), &h.pinned, &[b"x"]);
    join_refused(&h, 5, &["bad hash or size over the cap"]);
}

#[test]
fn spoofed_masters_are_refused() {
    let h = Hostile::start();
    let doc = yaml(&document(&h.pinned, vec![entry("AGENTS.md", b"x")]));
    h.serve_signed(&doc, &h.other, &[b"x"]);
    join_refused(&h, 5, &["the signature does not match the pinned master key"]);

    h.script(|s| s.state = Reply::ok(Body::Bytes(doc.clone())));
    join_refused(&h, 5, &["the state has no signature header"]);

    h.script(|s| s.state = Reply::ok(Body::Bytes(doc.clone())).header("x-codexport-signature", "zz"));
    join_refused(&h, 5, &["the signature is malformed"]);

    h.script(|s| s.meta = Hostile::meta_for(&h.other));
    join_refused(&h, 5, &["fingerprint mismatch"]);

    // Meta claims the pinned fingerprint but presents another public key.
    let lying = serde_json::json!({
        "protocol": 1, "fingerprint": h.pinned.fingerprint(), "publicKey": h.other.public_key_hex(),
        "revision": "sha256:x", "generatedAt": "now"
    });
    h.script(|s| s.meta = Reply::ok(Body::Bytes(serde_json::to_vec(&lying).unwrap())));
    join_refused(&h, 5, &["fingerprint mismatch"]);

    h.script(|s| s.meta = Reply::ok(Body::Bytes(b"{\"protocol\": \"\xff\xfe\"}".to_vec())));
    join_refused(&h, 1, &["unexpected answer from http://127.0.0.1:"]);

    let chunk = vec![b' '; 64 * 1024];
    h.script(|s| {
        s.meta = Reply::ok(Body::Endless {
            chunk,
            total: 10 * 1024 * 1024,
            declared: false,
        })
    });
    join_refused(&h, 1, &["meta is over the 65536-byte cap"]);

    h.script(|s| s.meta = Reply::ok(Body::ThenStall(b"{".to_vec())));
    join_refused(&h, 6, &["broke off"]);

    h.script(|s| s.meta = Reply::status(500));
    join_refused(&h, 1, &["HTTP 500"]);
}

#[test]
fn a_compromised_master_can_publish_a_revision_that_deletes_everything() {
    // The safety valve refuses it (exit 3, nothing written); only an operator's explicit
    // --allow-mass-delete applies it, with backups, and nothing outside the managed files.
    let h = Hostile::start();
    signed_files(&h, &[("prompts/p.md", b"prompt"), ("rules/r.rules", b"rule")]);
    let follower = Machine::new();
    let sentinel = Sentinel::around(&follower);
    follower.ok(&["follower", "join", &h.link(), "--apply"]);
    assert!(follower.codex_home.join("prompts/p.md").is_file());
    let outside = |snap: std::collections::BTreeMap<String, (char, String, u32)>| {
        snap.into_iter()
            .filter(|(k, _)| !k.starts_with("home/.codex/") && k != "home/.codex")
            .collect::<Vec<_>>()
    };
    let before = outside(sentinel.snapshot());

    signed_files(&h, &[]);
    let refused = follower.run(&["reconcile"]).expect_code(3);
    assert!(
        refused
            .stderr
            .contains("refused: this revision deletes 2 of the 2 files"),
        "{}",
        refused.stderr
    );
    assert!(
        follower.codex_home.join("prompts/p.md").is_file(),
        "nothing removed without the override"
    );
    let out = follower.run(&["reconcile", "--allow-mass-delete"]).expect_code(0);
    assert_eq!(
        outside(sentinel.snapshot()),
        before,
        "nothing outside CODEX_HOME changed"
    );
    assert_eq!(
        fs_err::read_to_string(follower.codex_home.join("AGENTS.md")).unwrap(),
        "the follower's own instructions",
        "a file codexport never wrote is kept"
    );
    assert!(out.stdout.contains("to delete"), "{}", out.stdout);
    assert!(
        !follower.codex_home.join("prompts/p.md").exists(),
        "managed files are removed"
    );
    let backups = listing(&follower.codexport_home.join("backups"));
    assert!(backups.iter().any(|p| p.ends_with("prompts/p.md")), "{backups:?}");
}

#[test]
fn a_symlinked_directory_in_codex_home_is_not_written_through() {
    // Someone placed CODEX_HOME/prompts -> a directory outside; a compromised master then
    // publishes prompts/p.md. The follower refuses (exit 3 today, from the plan's check of
    // the path; write-time no-follow is the reconcile rewrite's) and writes nothing outside.
    let h = Hostile::start();
    signed_files(&h, &[("prompts/p.md", b"through the link")]);
    let follower = Machine::new();
    let sentinel = Sentinel::around(&follower);
    let outside = follower.home.parent().unwrap().join("elsewhere");
    std::os::unix::fs::symlink(&outside, follower.codex_home.join("prompts")).unwrap();
    let before = sentinel.snapshot();
    let out = follower.run(&["follower", "join", &h.link(), "--apply"]).expect_code(3);
    assert!(out.stderr.contains("prompts is a symlink"), "{}", out.stderr);
    assert_eq!(sentinel.snapshot(), before, "nothing written through the link");
    assert!(!outside.join("p.md").exists());
}

#[test]
fn state_deltas_that_lie_cost_one_whole_download_or_are_refused() {
    use codexport::model::delta::{self, DELTA_BASE_HEADER, DELTA_CONTENT_TYPE, DeltaOp};
    let h = Hostile::start();
    let first = yaml(&document(&h.pinned, vec![entry("AGENTS.md", b"one\n")]));
    h.serve_signed(&first, &h.pinned, &[b"one\n"]);
    let follower = Machine::new();
    follower.ok(&["follower", "join", &h.link()]);
    let staged = || fs_err::read(follower.codexport_home.join("store/state.yaml")).unwrap();
    assert_eq!(staged(), first);

    let delta_reply = |d: &delta::StateDelta, signature: String| {
        Reply::ok(Body::Bytes(serde_json::to_vec(d).unwrap()))
            .header("content-type", DELTA_CONTENT_TYPE)
            .header(DELTA_BASE_HEADER, &d.base)
            .header("x-codexport-signature", &signature)
    };

    // A delta whose result is not its declared target: the follower fetches the whole
    // (correct) document once and stages it.
    let second = yaml(&document(&h.pinned, vec![entry("AGENTS.md", b"two\n")]));
    h.serve_signed(&second, &h.pinned, &[b"two\n"]);
    let mut lie = delta::encode(&first, &second).unwrap();
    lie.ops.insert(0, DeltaOp::Insert("extra: 1\n".into()));
    let reply = delta_reply(&lie, h.pinned.sign(&second));
    h.script(|s| s.state_with_base = Some(reply));
    let run = follower.ok(&["sync"]);
    assert!(!run.stdout.contains("document delta"), "{}", run.stdout);
    assert_eq!(staged(), second);

    // The same harness with an honest delta: it is used.
    let honest = yaml(&document(&h.pinned, vec![entry("AGENTS.md", b"honest\n")]));
    h.serve_signed(&honest, &h.pinned, &[b"honest\n"]);
    let reply = delta_reply(&delta::encode(&second, &honest).unwrap(), h.pinned.sign(&honest));
    h.script(|s| s.state_with_base = Some(reply));
    let run = follower.ok(&["sync"]);
    assert!(run.stdout.contains("document delta"), "{}", run.stdout);
    assert_eq!(staged(), honest);

    // A delta that rebuilds a document signed by another key, and the same whole: refused
    // (exit 5), the staged document stays.
    let third = yaml(&document(&h.other, vec![entry("AGENTS.md", b"three\n")]));
    let spoofed = delta_reply(&delta::encode(&honest, &third).unwrap(), h.other.sign(&third));
    h.serve_signed(&third, &h.other, &[b"three\n"]);
    h.script(|s| s.state_with_base = Some(spoofed));
    let run = follower.run(&["sync"]).expect_code(5);
    assert!(run.stderr.contains("signature"), "{}", run.stderr);
    assert_eq!(staged(), honest);
}
