//! The properties each fuzz target checks, shared by the targets (`fuzz/fuzz_targets/`) and
//! the normal test that runs the seeds and every past crash through them (`tests/fuzz_seeds.rs`).
//! Each function panics when a property breaks; an input that is merely refused is fine.

#![allow(dead_code)]

pub mod blob_stream;
pub mod config;

use codexport::follower::enrollment::JoinLink;
use codexport::follower::validate::{check_document, parse_document, validate_document};

/// Desired-state document parsing and validation (what a follower runs on the bytes once their
/// signature checked out).
///
/// Properties: never panics; `validate_document` agrees with `parse_document` + `check_document`;
/// a document that validates has only confined paths (relative, every component normal, no two
/// equal ignoring case) and survives a YAML round trip with the same revision. Nearly every
/// mutated document fails the revision check, so the rest is also run with the revision fixed.
pub fn document(data: &[u8]) {
    let _ = serde_yaml::from_slice::<serde_yaml::Value>(data);
    let validated = validate_document(data);
    let Ok(mut doc) = parse_document(data) else {
        assert!(validated.is_err());
        return;
    };
    match (&validated, check_document(&doc)) {
        (Ok(v), Ok(())) => assert_eq!(v, &doc),
        (Err(a), Err(b)) => assert_eq!(a, &b),
        (a, b) => panic!("validate_document {a:?} disagrees with check_document {b:?}"),
    }
    doc.metadata.revision = doc.spec.revision();
    if check_document(&doc).is_err() {
        return;
    }
    let mut seen = std::collections::HashSet::new();
    let sources = doc.spec.mcp_servers.values().filter_map(|s| s.artifact.as_ref());
    for path in doc.spec.files.iter().map(|f| f.path.as_str()) {
        assert_confined(path);
        assert!(seen.insert(path.to_lowercase()), "{path:?}: case clash accepted");
    }
    for artifact in sources {
        for f in artifact.files() {
            assert_confined(&f.path);
        }
    }
    let yaml = serde_yaml::to_string(&doc).expect("a valid document serializes");
    let again = validate_document(yaml.as_bytes()).expect("a valid document re-validates after a round trip");
    assert_eq!(again.spec.revision(), doc.spec.revision());
    assert_eq!(again.spec.files, doc.spec.files);
}

/// A relative path that stays under the directory it is joined to, on Unix and Windows.
fn assert_confined(path: &str) {
    use std::path::{Component, Path};
    assert!(!path.is_empty() && path.len() <= 1024, "{path:?}: length");
    assert!(
        Path::new(path).components().all(|c| matches!(c, Component::Normal(_))),
        "{path:?}: escapes"
    );
    assert!(
        !path.contains(['\\', '\0']) && !path.chars().any(char::is_control),
        "{path:?}: bad char"
    );
    let b = path.as_bytes();
    assert!(
        !(b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic()),
        "{path:?}: drive"
    );
    let root = Path::new("/codex-home");
    assert!(root.join(path).starts_with(root), "{path:?}: join leaves the root");
}

/// Join-link parsing (`codexport follower join LINK`) and the parts form (`--master URL
/// --fingerprint F --token T`, three lines of the input).
///
/// Properties: never panics; an accepted link gives a master URL that is exactly
/// `http://HOST:PORT` (no user info, path, query or fragment: the host cannot smuggle another
/// destination), a 64-hex lowercase fingerprint and a printable token, and it survives
/// `to_link` + `parse` unchanged.
pub fn join_link(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(link) = JoinLink::parse(text) {
        let url = assert_master_url(&link);
        let host = url.host_str().expect("checked");
        let port = url.port_or_known_default().expect("checked");
        let again = JoinLink::parse(&JoinLink::to_link(host, port, &link.fingerprint, &link.token))
            .expect("a formatted link parses");
        assert_eq!(again.fingerprint, link.fingerprint);
        assert_eq!(again.token, link.token);
        assert_eq!(url::Url::parse(&again.master_url).ok().as_ref(), Some(&url));
    }
    let mut parts = text.splitn(3, '\n');
    if let (Some(m), Some(f), Some(t)) = (parts.next(), parts.next(), parts.next())
        && let Ok(link) = JoinLink::new(m, f, t)
    {
        assert_master_url(&link);
    }
}

fn assert_master_url(link: &JoinLink) -> url::Url {
    let url = url::Url::parse(&link.master_url).expect("an accepted master URL parses");
    assert!(matches!(url.scheme(), "http" | "https"), "{url}");
    assert!(url.host_str().is_some_and(|h| !h.is_empty()), "{url}: host");
    assert!(url.port_or_known_default().is_some(), "{url}: port");
    assert!(
        url.username().is_empty() && url.password().is_none(),
        "{url}: user info"
    );
    assert!(
        url.path() == "/" && url.query().is_none() && url.fragment().is_none(),
        "{url}: path"
    );
    assert!(codexport::blobstore::is_sha256_hex(&link.fingerprint));
    assert!(!link.token.is_empty() && link.token.bytes().all(|b| b.is_ascii_graphic()));
    url
}
