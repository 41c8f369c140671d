//! Wire protocol v1 against the real server: meta + ETag/304, state signature header,
//! single-blob GET, batch POST, token handling.

mod common;

use common::Machine;

fn token_of(link: &str) -> String {
    link.split("token=").nth(1).unwrap().to_string()
}

#[test]
fn meta_is_public_small_and_answers_304_to_its_etag() {
    let master = Machine::with_example();
    master.ok(&["master", "init"]);
    let server = master.serve();
    let http = common::http();
    let resp = http.get(format!("{}/v1/meta", server.url)).send().unwrap();
    assert_eq!(resp.status(), 200);
    let etag = resp.headers()["etag"].to_str().unwrap().to_string();
    let meta: serde_json::Value = resp.json().unwrap();
    let keys: Vec<&String> = meta.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["protocol", "fingerprint", "publicKey", "revision", "generatedAt"],
        "meta reveals nothing else"
    );
    assert_eq!(etag, format!("\"{}\"", meta["revision"].as_str().unwrap()));
    let again = http
        .get(format!("{}/v1/meta", server.url))
        .header("if-none-match", &etag)
        .send()
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().unwrap().is_empty());
}

#[test]
fn blobs_need_the_token_and_are_immutable() {
    let master = Machine::with_example();
    master.ok(&["master", "init"]);
    let server = master.serve();
    let token = token_of(&master.link(&server, "f"));
    let http = common::http();
    let agents = fs_err::read(master.codex_home.join("AGENTS.md")).unwrap();
    let hash = codexport::fs::sha256_hex(&agents);
    let url = format!("{}/v1/blobs/{hash}", server.url);

    assert_eq!(http.get(&url).send().unwrap().status(), 404, "no token");
    assert_eq!(
        http.get(&url).bearer_auth("cxp_wrong").send().unwrap().status(),
        404,
        "wrong token"
    );
    let resp = http.get(&url).bearer_auth(&token).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    assert_eq!(resp.bytes().unwrap().to_vec(), agents);
    let unknown = format!("{}/v1/blobs/{}", server.url, "0".repeat(64));
    assert_eq!(
        http.get(&unknown).bearer_auth(&token).send().unwrap().status(),
        404,
        "only published blobs are served"
    );

    let state = http
        .get(format!("{}/v1/state", server.url))
        .bearer_auth(&token)
        .send()
        .unwrap();
    let sig = state.headers()["x-codexport-signature"].to_str().unwrap().to_string();
    let body = state.bytes().unwrap();
    let doc: codexport::model::DesiredState = serde_yaml::from_slice(&body).unwrap();
    codexport::master::identity::verify(&doc.metadata.master.public_key, &body, &sig).unwrap();

    let batch = http
        .post(format!("{}/v1/blobs", server.url))
        .bearer_auth(&token)
        .json(&[&hash, &hash])
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_eq!(batch.len(), 2 * (40 + agents.len()), "two frames of header + bytes");
    let mut r = &batch[..];
    let (h, len) = codexport::model::wire::read_frame_header(&mut r).unwrap().unwrap();
    assert_eq!((h.as_str(), len), (hash.as_str(), agents.len() as u64));
    let bad = http
        .post(format!("{}/v1/blobs", server.url))
        .bearer_auth(&token)
        .body("not json")
        .send()
        .unwrap();
    assert_eq!(bad.status(), 400);
}
