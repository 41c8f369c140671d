use super::*;

#[test]
fn plain_http_and_https_masters_both_get_a_client() {
    // http:// skips the platform's root certificates (`tls_certs_only` with none); https://
    // keeps the platform verifier. Either way the builder must accept its configuration.
    for base in [
        "http://127.0.0.1:1",
        "http://[::1]:17342/",
        "https://master.example:443",
    ] {
        let client = MasterClient::with_timeout(base, Some("t".into()), Duration::from_millis(200));
        assert!(client.is_ok(), "{base}: {:?}", client.err());
    }
}

#[test]
fn a_large_revision_is_asked_for_in_requests_the_master_accepts() {
    use crate::model::wire::{MAX_BLOB_REQUEST_BYTES, MAX_BLOBS_PER_REQUEST};
    let wanted: HashMap<String, u64> = (0..120_001u64).map(|i| (format!("{i:064x}"), i)).collect();
    let parts = batches(&wanted, BLOBS_PER_REQUEST);
    assert_eq!(parts.len(), 3);
    assert_eq!(parts.iter().map(HashMap::len).sum::<usize>(), wanted.len());
    for p in &parts {
        assert!(p.len() <= MAX_BLOBS_PER_REQUEST);
        let body = serde_json::to_vec(&p.keys().collect::<Vec<_>>()).unwrap();
        assert!((body.len() as u64) <= MAX_BLOB_REQUEST_BYTES, "{} bytes", body.len());
    }
    assert!(batches(&HashMap::new(), BLOBS_PER_REQUEST).is_empty());
}
